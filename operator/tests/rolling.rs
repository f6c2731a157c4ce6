//! Rolling restarts against a real API server, with the operator binary and
//! real `karst` brokers behind the Pods: the stand-in kubelet stops a
//! deleted Pod's broker (SIGTERM) and records what it does, so the order of
//! restarts and the brokers down at any moment can be checked.

mod common;

use std::{collections::BTreeSet, process::Stdio, time::Duration};

use common::{
    Kubelet, Operator, PodEvent, apply_json, expect::wait_warning, load::Load, wait_for,
    with_kubelet,
};
use k8s_openapi::api::core::v1::Pod;
use karst_client::{
    AdminClient, NewTopic,
    kafka_protocol::{
        messages::{
            DescribeQuorumRequest, TopicName,
            describe_quorum_request::{PartitionData, TopicData},
        },
        protocol::StrBytes,
    },
};
use karst_operator::crd::{ConditionStatus, KafkaCluster, conditions::find};
use kube::{Api, api::ListParams};
use serde_json::json;

const API_PORT: u16 = 16493;
const ETCD_PORT: u16 = 12429;
const OPERATOR_HTTP: u16 = 18471;
const LOOPBACK_OCTET: u8 = 35;
const KAFKA_PORT: u16 = 19495;
/// A three-broker roll restarts each broker once and waits for it to
/// register again; well within this on two cores.
const ROLL_WAIT: Duration = Duration::from_secs(240);
const WAIT: Duration = Duration::from_secs(90);
const TOPIC: &str = "kept";
/// The topic a client load writes during the first roll: replicated, so
/// every restart is ridden out by the other two brokers.
const LOADED_TOPIC: &str = "loaded";
const RECORDS: usize = 30;

fn cluster(image: &str, rolling_update: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": { "name": "demo" },
        "spec": {
            "replicas": 3,
            "image": image,
            "listeners": { "kafkaPort": KAFKA_PORT, "httpPort": 19496, "controllerPort": 19497 },
            "rollingUpdate": rolling_update,
        },
    })
}

/// `ip:port` of a broker Pod.
fn address(kubelet: &Kubelet, ordinal: i32) -> String {
    let ip = kubelet
        .pod_ip(&format!("demo-broker-{ordinal}"))
        .expect("pod runs");
    format!("{ip}:{KAFKA_PORT}")
}

/// The active controller (DescribeQuorum's leader) as `bootstrap` sees it.
async fn active_controller(bootstrap: &str) -> i32 {
    let admin = AdminClient::connect(bootstrap.to_owned()).await.unwrap();
    let (_, response) = admin
        .send(|_| {
            DescribeQuorumRequest::default().with_topics(vec![
                TopicData::default()
                    .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                    .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
            ])
        })
        .await
        .unwrap();
    response.topics[0].partitions[0].leader_id.0
}

/// Produces `lines` with kcat (acks=all), failing the test on any error.
fn kcat_produce(bootstrap: &str, lines: &[String]) {
    use std::io::Write;
    let mut child = std::process::Command::new("kcat")
        .args(["-P", "-b", bootstrap, "-t", TOPIC, "-X", "acks=all"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat (apt-get install -y kcat)");
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kcat -P: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every record of the topic, read with kcat from the beginning, sorted.
fn kcat_consume(bootstrap: &str) -> Vec<String> {
    let out = std::process::Command::new("kcat")
        .args([
            "-C",
            "-b",
            bootstrap,
            "-t",
            TOPIC,
            "-o",
            "beginning",
            "-e",
            "-q",
        ])
        .output()
        .expect("kcat");
    assert!(
        out.status.success(),
        "kcat -C: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Brokers down at once, at most, over `events`, and down at the end: a
/// Pod is down from the stop of its broker (or from losing readiness) until
/// it is Ready again.
fn down(events: &[PodEvent]) -> (usize, usize) {
    let mut down = BTreeSet::new();
    let mut most = 0;
    for e in events {
        match e {
            PodEvent::Stopped(p) | PodEvent::Killed(p) | PodEvent::NotReady(p) => {
                down.insert(p.clone());
            }
            PodEvent::Ready(p) => {
                down.remove(p);
            }
            PodEvent::Started(_) => {}
        }
        most = most.max(down.len());
    }
    (most, down.len())
}

fn most_down_at_once(events: &[PodEvent]) -> usize {
    down(events).0
}

/// The Pods whose broker was stopped, in order; each must have exited on
/// SIGTERM (the broker's controlled shutdown), not been killed.
fn stopped(events: &[PodEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            PodEvent::Stopped(p) => Some(p.clone()),
            PodEvent::Killed(p) => panic!("{p} did not stop within its grace period: {events:?}"),
            _ => None,
        })
        .collect()
}

/// Waits until every broker Pod runs `image` and is Ready, and the cluster
/// is Ready with no operation in progress.
async fn wait_rolled(clusters: &Api<KafkaCluster>, pods: &Api<Pod>, image: &str) {
    wait_for(
        &format!("every broker on {image}, cluster Idle"),
        ROLL_WAIT,
        || async {
            let pods = pods.list(&ListParams::default()).await.ok()?.items;
            let all_rolled = pods.len() == 3
                && pods.iter().all(|p| {
                    let ready = p
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    ready
                        && p.spec
                            .as_ref()
                            .and_then(|s| s.containers[0].image.as_deref())
                            == Some(image)
                });
            let kc = clusters.get("demo").await.ok()?;
            let status = kc.status.as_ref()?;
            let ready = find(&status.conditions, "Ready")?.status == ConditionStatus::True;
            let idle = status.operation.as_ref()?.name == "Idle";
            (all_rolled && ready && idle).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_change_rolls_one_broker_at_a_time_controller_last_and_a_stuck_roll_resumes_when_fixed()
 {
    let ns = "rolling";
    let (api, client, kubelet) = with_kubelet(API_PORT, ETCD_PORT, ns, LOOPBACK_OCTET).await;
    let operator = Operator::spawn(&api, "op-r", OPERATOR_HTTP, &[]);
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);

    apply_json(&clusters, "demo", cluster("karst:first", json!({})))
        .await
        .unwrap();
    wait_rolled(&clusters, &pods, "karst:first").await;

    // Data that must survive the restarts: RF=1, one partition per broker.
    let bootstrap = address(&kubelet, 0);
    let admin = AdminClient::connect(bootstrap.clone()).await.unwrap();
    admin
        .create_topics(
            &[NewTopic {
                name: TOPIC.into(),
                partitions: 3,
                replication_factor: 1,
                configs: Vec::new(),
            }],
            false,
        )
        .await
        .unwrap();
    admin
        .create_topics(
            &[NewTopic {
                name: LOADED_TOPIC.into(),
                partitions: 3,
                replication_factor: 3,
                configs: vec![("min.insync.replicas".into(), "2".into())],
            }],
            false,
        )
        .await
        .unwrap();
    let records: Vec<String> = (0..RECORDS).map(|i| format!("record-{i:03}")).collect();
    kcat_produce(&bootstrap, &records);
    assert_eq!(kcat_consume(&bootstrap), records);

    // An image change rolls every broker, one at a time, the controller
    // last, while an idempotent acks=all producer and a consumer group run.
    let every_broker = (0..3)
        .map(|i| address(&kubelet, i))
        .collect::<Vec<_>>()
        .join(",");
    let load = Load::start(&every_broker, LOADED_TOPIC, 200, api.dir.path()).await;
    let controller = active_controller(&bootstrap).await;
    let before = kubelet.history().len();
    let started = std::time::Instant::now();
    apply_json(&clusters, "demo", cluster("karst:second", json!({})))
        .await
        .unwrap();
    wait_rolled(&clusters, &pods, "karst:second").await;
    let roll_time = started.elapsed();
    eprintln!("FIGURE full roll of 3 brokers under an acks=all load: {roll_time:?}");
    let verdict = load.stop().await;
    eprintln!("load through the roll: {verdict:?}");
    verdict.assert_nothing_lost();
    let history = kubelet.history()[before..].to_vec();
    let order = stopped(&history);
    eprintln!("restart order {order:?} (active controller {controller}): {history:?}");
    assert_eq!(order.len(), 3, "each broker restarted once: {history:?}");
    assert_eq!(
        order.iter().collect::<BTreeSet<_>>().len(),
        3,
        "three different brokers: {order:?}"
    );
    assert_eq!(
        order[2],
        format!("demo-broker-{controller}"),
        "the active controller last: {order:?}"
    );
    assert_eq!(
        most_down_at_once(&history),
        1,
        "never two brokers down: {history:?}"
    );
    let bootstrap = address(&kubelet, 0);
    assert_eq!(kcat_consume(&bootstrap), records, "the data survived");
    let restarts = operator
        .metric(
            "karst_operator_broker_restarts_total{cluster=\"demo\",namespace=\"rolling\",reason=\"image_changed\"}",
        )
        .await;
    assert_eq!(restarts, Some(3.0));
    let finished = operator
        .metric(
            "karst_operator_rolling_updates_finished_total{cluster=\"demo\",namespace=\"rolling\"}",
        )
        .await;
    assert_eq!(finished, Some(1.0));
    let events = api.kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        ns,
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    let reasons: Vec<&str> = events.split_whitespace().collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "RollingUpdate").count(),
        3,
        "one event per restarted broker: {events}"
    );
    assert!(reasons.contains(&"RollingUpdateFinished"), "{events}");

    // An image the kubelet cannot run: the first broker restarted does not
    // come back, so the roll stops there (two brokers keep serving) and
    // says so once the bound has passed. The first roll restarted the
    // active controller last, so another voter leads now: ask again.
    let controller = active_controller(&bootstrap).await;
    let before = kubelet.history().len();
    apply_json(
        &clusters,
        "demo",
        cluster(
            "registry.invalid/karst:broken",
            json!({ "readyTimeoutSeconds": 5 }),
        ),
    )
    .await
    .unwrap();
    let (message, broker) = wait_for("roll stuck", WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        let status = kc.status.as_ref()?;
        let degraded = find(&status.conditions, "Degraded")?;
        (degraded.status == ConditionStatus::True && degraded.reason == "RollingUpdateStuck").then(
            || {
                (
                    degraded.message.clone(),
                    status.operation.as_ref().and_then(|o| o.broker),
                )
            },
        )
    })
    .await;
    let broker = broker.expect("status.operation names the broker");
    let stuck_pod = format!("demo-broker-{broker}");
    assert!(message.contains(&stuck_pod), "{message}");
    assert!(message.contains("ErrImagePull"), "{message}");
    assert_ne!(broker, controller, "the controller is not the first to go");
    let history = kubelet.history()[before..].to_vec();
    assert_eq!(
        stopped(&history),
        std::slice::from_ref(&stuck_pod),
        "the roll stopped after one broker"
    );
    wait_warning(&client, ns, "demo", "RollingUpdateStuck", &stuck_pod).await;

    // Fixing the image lets the roll finish.
    apply_json(&clusters, "demo", cluster("karst:second", json!({})))
        .await
        .unwrap();
    wait_rolled(&clusters, &pods, "karst:second").await;
    let kc = clusters.get("demo").await.unwrap();
    let degraded = find(&kc.status.as_ref().unwrap().conditions, "Degraded").unwrap();
    assert_eq!(degraded.status, ConditionStatus::False, "{degraded:?}");
    let history = kubelet.history()[before..].to_vec();
    assert_eq!(
        stopped(&history),
        [stuck_pod.clone(), stuck_pod],
        "only the broken broker restarted again"
    );
    assert_eq!(most_down_at_once(&history), 1, "{history:?}");

    // A manual rolling update restarts every broker once; the annotation goes.
    let before = kubelet.history().len();
    api.kubectl(&[
        "annotate",
        "-n",
        ns,
        "kafkacluster/demo",
        "kafka.karst.dev/manual-rolling-update=true",
    ]);
    wait_for("manual roll done", ROLL_WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        let annotated = kc
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kafka.karst.dev/manual-rolling-update"));
        let history = kubelet.history()[before..].to_vec();
        let ready = find(&kc.status.as_ref()?.conditions, "Ready")?.status == ConditionStatus::True;
        (!annotated && stopped(&history).len() == 3 && ready && down(&history).1 == 0).then_some(())
    })
    .await;
    let history = kubelet.history()[before..].to_vec();
    assert_eq!(most_down_at_once(&history), 1, "{history:?}");
    assert_eq!(kcat_consume(&address(&kubelet, 0)), records);
}
