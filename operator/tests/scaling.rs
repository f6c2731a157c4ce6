//! Scaling against a real API server, with the operator binary and real
//! `karst` brokers behind the Pods (the stand-in kubelet creates the Pods a
//! grown StatefulSet asks for), under a `common::load` producer and
//! consumer group: a scale that would change the voters is refused and
//! moves nothing; 3 -> 5 spreads replicas and leaders onto the new brokers;
//! 5 -> 3 drains the leaving brokers before their Pods are deleted.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::{Operator, PodEvent, apply_json, load::Load, wait_for, with_kubelet};
use karst_client::{AdminClient, NewTopic};
use karst_operator::crd::{ConditionStatus, KafkaCluster, conditions::find};
use kube::Api;
use serde_json::json;

const API_PORT: u16 = 16573;
const ETCD_PORT: u16 = 12489;
const OPERATOR_HTTP: u16 = 18491;
const LOOPBACK_OCTET: u8 = 43;
const KAFKA_PORT: u16 = 19595;
/// Brokers starting and 60 + 50 partitions moving, on two shared cores.
const SCALE_WAIT: Duration = Duration::from_secs(300);
const WAIT: Duration = Duration::from_secs(120);
/// 3 topics x 20 partitions x RF 3: the 60 partitions of the figure.
const TOPICS: [&str; 3] = ["orders", "payments", "audit"];
const MOVES_METRIC: &str =
    "karst_operator_partition_moves_total{cluster=\"demo\",namespace=\"scaling\"}";

fn cluster(replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": { "name": "demo" },
        "spec": {
            "replicas": replicas,
            "listeners": { "kafkaPort": KAFKA_PORT, "httpPort": 19596, "controllerPort": 19597 },
        },
    })
}

/// Waits until the cluster is Ready with no operation in progress and
/// `replicas` brokers registered.
async fn wait_idle(clusters: &Api<KafkaCluster>, replicas: usize) {
    wait_for(
        &format!("{replicas} brokers registered, cluster Idle"),
        SCALE_WAIT,
        || async {
            let kc = clusters.get("demo").await.ok()?;
            let status = kc.status.as_ref()?;
            let ready = find(&status.conditions, "Ready")?.status == ConditionStatus::True;
            let idle = status.operation.as_ref()?.name == "Idle";
            (ready && idle && status.brokers.len() == replicas).then_some(())
        },
    )
    .await;
}

/// Replicas and leaders per broker over every partition (internal topics included).
async fn spread(admin: &AdminClient, brokers: i32) -> (BTreeMap<i32, usize>, BTreeMap<i32, usize>) {
    let mut replicas: BTreeMap<i32, usize> = (0..brokers).map(|b| (b, 0)).collect();
    let mut leaders = replicas.clone();
    for topic in admin.metadata(None).await.unwrap().topics {
        for p in topic.partitions {
            for r in &p.replicas {
                *replicas.entry(*r).or_default() += 1;
            }
            *leaders.entry(p.leader).or_default() += 1;
        }
    }
    (replicas, leaders)
}

fn within_one(counts: &BTreeMap<i32, usize>) -> bool {
    let (min, max) = (counts.values().min(), counts.values().max());
    matches!((min, max), (Some(a), Some(b)) if b - a <= 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_up_spreads_partitions_down_drains_first_and_below_the_voters_moves_nothing() {
    let ns = "scaling";
    let (api, client, kubelet) = with_kubelet(API_PORT, ETCD_PORT, ns, LOOPBACK_OCTET).await;
    let work = api.dir.path().join("pods");
    let operator = Operator::spawn(&api, "op-s", OPERATOR_HTTP, &[]);
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);

    apply_json(&clusters, "demo", cluster(3)).await.unwrap();
    wait_idle(&clusters, 3).await;
    let ip = kubelet.pod_ip("demo-broker-0").expect("pod runs");
    let bootstrap = format!("{ip}:{KAFKA_PORT}");
    let admin = AdminClient::connect(bootstrap.clone()).await.unwrap();
    let topics: Vec<NewTopic> = TOPICS
        .iter()
        .map(|t| NewTopic {
            name: (*t).into(),
            partitions: 20,
            replication_factor: 3,
            configs: Vec::new(),
        })
        .collect();
    admin.create_topics(&topics, false).await.unwrap();
    let load = Load::start(&bootstrap, TOPICS[0], 50, &work).await;

    // 3 -> 1 with RF=3 topics: refused, nothing moves.
    apply_json(&clusters, "demo", cluster(1)).await.unwrap();
    let message = wait_for("scale to 1 refused", WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        let degraded = find(&kc.status.as_ref()?.conditions, "Degraded")?.clone();
        (degraded.status == ConditionStatus::True && degraded.reason == "ScalingRefused")
            .then_some(degraded.message)
    })
    .await;
    assert!(
        message.starts_with("spec.replicas: the cluster runs 3 brokers and 1 were asked for"),
        "{message}"
    );
    assert_eq!(
        operator.metric(MOVES_METRIC).await,
        None,
        "no reassignment submitted"
    );
    assert!(
        admin
            .list_partition_reassignments(None)
            .await
            .unwrap()
            .is_empty()
    );

    // 3 -> 5: the new brokers join broker-only and take their share.
    let started = std::time::Instant::now();
    apply_json(&clusters, "demo", cluster(5)).await.unwrap();
    wait_for("the scale up starts", WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        (kc.status?.operation?.name == "ScaleUp").then_some(())
    })
    .await;
    wait_idle(&clusters, 5).await;
    let elapsed = started.elapsed();
    let (replicas, leaders) = spread(&admin, 5).await;
    let partitions: usize = leaders.values().sum();
    eprintln!(
        "FIGURE 3 -> 5 rebalance of {partitions} partitions (3 topics x 20 x RF 3 + __consumer_offsets), maxConcurrentMoves 10: {elapsed:?}"
    );
    let moved = operator.metric(MOVES_METRIC).await.unwrap_or_default();
    eprintln!(
        "replicas per broker {replicas:?}, leaders {leaders:?}, reassignments submitted {moved}"
    );
    assert!(within_one(&replicas), "replicas per broker: {replicas:?}");
    assert!(within_one(&leaders), "leaders per broker: {leaders:?}");
    assert!(moved > 0.0, "partitions were moved ({moved})");

    // 5 -> 3: brokers 3 and 4 are drained before their Pods go.
    let before = kubelet.history().len();
    let started = std::time::Instant::now();
    apply_json(&clusters, "demo", cluster(3)).await.unwrap();
    wait_for(
        "brokers 3 and 4 drained and stopped",
        SCALE_WAIT,
        || async {
            // The history first: a Pod stopped before this metadata was read
            // must already hold nothing.
            let history = kubelet.history()[before..].to_vec();
            let (replicas, _) = spread(&admin, 5).await;
            let held = replicas[&3] + replicas[&4];
            let leaving = |p: &String| p == "demo-broker-3" || p == "demo-broker-4";
            let stopped = history
                .iter()
                .any(|e| matches!(e, PodEvent::Stopped(p) | PodEvent::Killed(p) if leaving(p)));
            assert!(
                !(stopped && held > 0),
                "a leaving broker stopped holding {held} replicas: {history:?}"
            );
            let both = ["demo-broker-3", "demo-broker-4"].iter().all(|p| {
                history
                    .iter()
                    .any(|e| matches!(e, PodEvent::Stopped(s) if s == p))
            });
            both.then_some(())
        },
    )
    .await;
    eprintln!("FIGURE 5 -> 3 drain: {:?}", started.elapsed());
    let (replicas, leaders) = spread(&admin, 3).await;
    eprintln!("after 5 -> 3: replicas per broker {replicas:?}, leaders {leaders:?}");
    assert_eq!(
        replicas.len(),
        3,
        "only brokers 0..3 hold replicas: {replicas:?}"
    );
    assert!(within_one(&replicas), "replicas per broker: {replicas:?}");
    load.stop().await.assert_nothing_lost();
    drop(kubelet);
}
