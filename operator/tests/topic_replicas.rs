//! A KafkaTopic's replication factor changed by partition reassignment, on
//! a cluster of three real `karst` brokers (the stand-in kubelet runs them)
//! while `e2e/clients/load.py` produces and consumes: 1 -> 3 and 3 -> 2
//! complete with nothing lost, and 4 (more than the brokers) is refused
//! before anything moves.

mod common;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    Operator, apply_json,
    expect::{wait_topic_failure, wait_warning},
    load::Load,
    wait_for, with_kubelet,
};
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use karst_client::{AdminClient, TopicMetadata};
use karst_operator::crd::{ConditionStatus, KafkaCluster, KafkaTopic, conditions::find};
use kube::{
    Api,
    api::ListParams,
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;

const API_PORT: u16 = 16553;
const ETCD_PORT: u16 = 12449;
const OPERATOR_HTTP: u16 = 18531;
const LOOPBACK_OCTET: u8 = 41;
const KAFKA_PORT: u16 = 19695;
/// Three brokers start, form their quorum and register well within this.
const CLUSTER_WAIT: Duration = Duration::from_secs(120);
/// A reassignment of three small partitions completes well within this.
const WAIT: Duration = Duration::from_secs(90);
const TOPIC: &str = "moving";
/// A topic wider than one reassignment batch (50 partitions).
const WIDE: &str = "wide";
const WIDE_PARTITIONS: usize = 60;

fn topic(name: &str, partitions: usize, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaTopic",
        "metadata": { "name": name },
        "spec": { "clusterRef": { "name": "demo" }, "partitions": partitions, "replicas": replicas },
    })
}

/// Waits until the topic is Ready (Synced) at its generation with
/// `status.replicas` = `replicas` and no change in progress.
async fn wait_synced(topics: &Api<KafkaTopic>, name: &str, replicas: i32) -> KafkaTopic {
    wait_for(
        &format!("{name} Ready at {replicas} replicas"),
        WAIT,
        || async move {
            let kt = topics.get(name).await.ok()?;
            let status = kt.status.as_ref()?;
            let ready = find(&status.conditions, "Ready")?;
            (ready.status == ConditionStatus::True
                && ready.reason == "Synced"
                && ready.observed_generation == kt.metadata.generation
                && status.replicas == Some(replicas)
                && status.replica_change.is_none())
            .then(|| kt.clone())
        },
    )
    .await
}

/// Waits until each of the `partitions` partitions of `name` has
/// `replicas` replicas, all in the ISR, its leader among them, and no
/// reassignment of the topic is in flight.
async fn wait_replicated(
    admin: &AdminClient,
    name: &str,
    partitions: usize,
    replicas: usize,
) -> TopicMetadata {
    wait_for(
        &format!("every partition of {name} on {replicas} in-sync replicas"),
        WAIT,
        || async {
            let in_flight = admin.list_partition_reassignments(None).await.ok()?;
            let metadata = admin.describe_topic(name).await.ok()??;
            let settled = in_flight.iter().all(|r| r.topic != name)
                && metadata.partitions.len() == partitions
                && metadata.partitions.iter().all(|p| {
                    let mut isr = p.isr.clone();
                    let mut set = p.replicas.clone();
                    isr.sort_unstable();
                    set.sort_unstable();
                    set.len() == replicas && isr == set && set.contains(&p.leader)
                });
            settled.then_some(metadata)
        },
    )
    .await
}

/// Replicas per broker over `topics`.
fn per_broker<'a>(topics: impl IntoIterator<Item = &'a TopicMetadata>) -> BTreeMap<i32, usize> {
    let mut counts = BTreeMap::new();
    for replica in topics
        .into_iter()
        .flat_map(|t| &t.partitions)
        .flat_map(|p| &p.replicas)
    {
        *counts.entry(*replica).or_default() += 1;
    }
    counts
}

/// Reason and note of each event about `name`, oldest first.
async fn topic_events(client: &kube::Client, ns: &str, name: &str) -> Vec<(String, String)> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut items: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    items.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
    items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// How many events about `name` have `reason`.
async fn count_events(client: &kube::Client, ns: &str, name: &str, reason: &str) -> usize {
    let events = topic_events(client, ns, name).await;
    events.iter().filter(|(r, _)| r == reason).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_factor_changes_by_reassignment_under_load_and_too_many_is_refused() {
    let ns = "kt-replicas";
    let (api, client, kubelet) = with_kubelet(API_PORT, ETCD_PORT, ns, LOOPBACK_OCTET).await;
    let _operator = Operator::spawn(
        &api,
        "op-trf",
        OPERATOR_HTTP,
        &["--topic-resync-seconds", "2"],
    );

    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    apply_json(
        &clusters,
        "demo",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "demo" },
            "spec": {
                "replicas": 3,
                "listeners": { "kafkaPort": KAFKA_PORT, "httpPort": KAFKA_PORT + 1, "controllerPort": KAFKA_PORT + 2 },
            },
        }),
    )
    .await
    .unwrap();
    wait_for("demo Ready", CLUSTER_WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        (find(&kc.status?.conditions, "Ready")?.status == ConditionStatus::True).then_some(())
    })
    .await;
    let bootstrap = (0..3)
        .map(|i| {
            let ip = kubelet
                .pod_ip(&format!("demo-broker-{i}"))
                .expect("pod runs");
            format!("{ip}:{KAFKA_PORT}")
        })
        .collect::<Vec<_>>()
        .join(",");
    let admin = AdminClient::connect(bootstrap.split(',').next().unwrap().to_owned())
        .await
        .expect("broker reachable");

    // Every status the operator writes, to see the progress it reports.
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), ns);
    let progress_seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorder = tokio::spawn({
        let topics = topics.clone();
        let seen = progress_seen.clone();
        async move {
            let mut stream = watcher(topics, watcher::Config::default())
                .applied_objects()
                .boxed();
            while let Some(Ok(kt)) = stream.next().await {
                let Some(status) = kt.status else { continue };
                if let Some(p) = find(&status.conditions, "Progressing")
                    && p.status == ConditionStatus::True
                    && p.reason == "Reassigning"
                {
                    seen.lock().unwrap().push(p.message.clone());
                }
            }
        }
    });

    apply_json(&topics, TOPIC, topic(TOPIC, 3, 1))
        .await
        .unwrap();
    wait_synced(&topics, TOPIC, 1).await;
    wait_replicated(&admin, TOPIC, 3, 1).await;
    let load = Load::start(&bootstrap, TOPIC, 200, api.dir.path()).await;

    // 1 -> 3: each partition gains the two brokers it lacks, its leader first.
    let before = admin.describe_topic(TOPIC).await.unwrap().unwrap();
    let started = std::time::Instant::now();
    apply_json(&topics, TOPIC, topic(TOPIC, 3, 3))
        .await
        .unwrap();
    wait_synced(&topics, TOPIC, 3).await;
    let after = wait_replicated(&admin, TOPIC, 3, 3).await;
    eprintln!(
        "FIGURE {TOPIC} 1 -> 3 replicas under load: {:?}",
        started.elapsed()
    );
    for (old, new) in before.partitions.iter().zip(&after.partitions) {
        assert_eq!(
            new.replicas[0], old.replicas[0],
            "partition {}: the preferred leader stays first",
            new.partition
        );
    }
    let seen = progress_seen.lock().unwrap().clone();
    eprintln!("progress reported: {seen:?}");
    assert!(
        seen.iter().any(|m| m.starts_with("spec.replicas: ")
            && m.contains(" of 3 partitions of topic \"moving\" at 3 replicas")),
        "the status showed the reassignment in progress: {seen:?}"
    );

    // 3 -> 2: one replica per partition goes, never the leader, spread
    // evenly (three partitions drop one each: six replicas on three brokers).
    let leaders: Vec<i32> = after.partitions.iter().map(|p| p.leader).collect();
    let started = std::time::Instant::now();
    apply_json(&topics, TOPIC, topic(TOPIC, 3, 2))
        .await
        .unwrap();
    wait_synced(&topics, TOPIC, 2).await;
    let shrunk = wait_replicated(&admin, TOPIC, 3, 2).await;
    eprintln!(
        "FIGURE {TOPIC} 3 -> 2 replicas under load: {:?}",
        started.elapsed()
    );
    eprintln!(
        "replicas after 1 -> 3 -> 2: {:?}",
        shrunk
            .partitions
            .iter()
            .map(|p| &p.replicas)
            .collect::<Vec<_>>()
    );
    for (p, leader) in shrunk.partitions.iter().zip(&leaders) {
        assert!(
            p.replicas.contains(leader),
            "partition {} kept its leader {leader}: {:?}",
            p.partition,
            p.replicas
        );
    }
    let counts = per_broker([&shrunk]);
    assert!(
        counts.len() == 3 && counts.values().all(|n| (1..=3).contains(n)),
        "replicas within one of even (2 per broker): {counts:?}"
    );

    let verdict = load.stop().await;
    eprintln!("load verdict: {verdict:?}");
    verdict.assert_nothing_lost();

    let events = topic_events(&client, ns, TOPIC).await;
    eprintln!("events: {events:?}");
    assert_eq!(
        count_events(&client, ns, TOPIC, "ReassignmentStarted").await,
        2
    );
    assert_eq!(count_events(&client, ns, TOPIC, "ReplicasChanged").await, 2);

    // 4 on three brokers: refused with a condition naming the field, and
    // nothing is submitted.
    apply_json(&topics, TOPIC, topic(TOPIC, 3, 4))
        .await
        .unwrap();
    let message = wait_topic_failure(&topics, TOPIC, "InvalidSpec").await;
    assert_eq!(
        message,
        "spec.replicas: 4 exceeds the 3 broker(s) of KafkaCluster \"demo\""
    );
    wait_warning(
        &client,
        ns,
        TOPIC,
        "InvalidSpec",
        "spec.replicas: 4 exceeds",
    )
    .await;
    let kt = topics.get(TOPIC).await.unwrap();
    let status = kt.status.unwrap();
    assert_eq!(status.replicas, Some(2), "the observed factor is kept");
    assert!(status.replica_change.is_none(), "{status:?}");
    let in_flight = admin.list_partition_reassignments(None).await.unwrap();
    assert!(in_flight.is_empty(), "nothing moves: {in_flight:?}");
    let metadata = admin.describe_topic(TOPIC).await.unwrap().unwrap();
    let replicas = |m: &TopicMetadata| -> Vec<Vec<i32>> {
        m.partitions.iter().map(|p| p.replicas.clone()).collect()
    };
    assert_eq!(replicas(&metadata), replicas(&shrunk), "replicas untouched");
    assert_eq!(
        count_events(&client, ns, TOPIC, "ReassignmentStarted").await,
        2,
        "no reassignment submitted"
    );

    // Wider than a batch: 60 partitions go 1 -> 2 in two reassignment
    // requests, and the new replicas even out the brokers.
    apply_json(&topics, WIDE, topic(WIDE, WIDE_PARTITIONS, 1))
        .await
        .unwrap();
    wait_synced(&topics, WIDE, 1).await;
    let started = std::time::Instant::now();
    apply_json(&topics, WIDE, topic(WIDE, WIDE_PARTITIONS, 2))
        .await
        .unwrap();
    wait_synced(&topics, WIDE, 2).await;
    wait_replicated(&admin, WIDE, WIDE_PARTITIONS, 2).await;
    eprintln!(
        "FIGURE {WIDE} ({WIDE_PARTITIONS} partitions) 1 -> 2 replicas: {:?}",
        started.elapsed()
    );
    let started: Vec<String> = topic_events(&client, ns, WIDE)
        .await
        .into_iter()
        .filter(|(reason, _)| reason == "ReassignmentStarted")
        .map(|(_, note)| note)
        .collect();
    assert_eq!(started.len(), 2, "two batches: {started:?}");
    assert!(
        started[0].starts_with("Reassigning 50 of the 60 partition(s)")
            && started[1].starts_with("Reassigning 10 of the 10 partition(s)"),
        "{started:?}"
    );
    let cluster = admin.metadata(None).await.unwrap();
    let counts = per_broker(&cluster.topics);
    let (least, most) = (
        counts.values().min().unwrap(),
        counts.values().max().unwrap(),
    );
    eprintln!("replicas per broker, every topic: {counts:?}");
    assert!(
        counts.len() == 3 && most - least <= 1,
        "replicas per broker within one of even: {counts:?}"
    );
    recorder.abort();
}
