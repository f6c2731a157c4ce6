//! Every reconcile failure is visible: a bad KafkaCluster or KafkaTopic spec
//! ends in a condition (type, status, reason, a message naming the field)
//! at the spec's generation, and a Warning event; nothing that would break
//! the running brokers is applied, and fixing the spec clears the condition.
//! A deleted cluster's metrics go with it.

mod common;

use std::time::Duration;

use common::{
    Operator, apply_json,
    expect::{current_condition, wait_cluster_failure, wait_topic_failure, wait_warning, walk},
    running_as_root, wait_for, with_kubelet,
};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service},
};
use karst_operator::crd::{
    ConditionStatus, KafkaCluster, KafkaTopic, PAUSE_ANNOTATION, conditions::find,
};
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

const API_PORT: u16 = 16473;
const ETCD_PORT: u16 = 12409;
const OPERATOR_HTTP: u16 = 18461;
const LOOPBACK_OCTET: u8 = 34;
const KAFKA_PORT: i32 = 19392;
const HTTP_PORT: i32 = 19393;
const WAIT: Duration = Duration::from_secs(90);

fn cluster(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": { "name": name }, "spec": spec,
    })
}

fn demo_spec(extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({
        "replicas": 1,
        "listeners": { "kafkaPort": KAFKA_PORT, "httpPort": HTTP_PORT },
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_ends_in_a_condition_an_event_and_the_current_generation() {
    let ns = "failures";
    let (api, client, kubelet) = with_kubelet(API_PORT, ETCD_PORT, ns, LOOPBACK_OCTET).await;
    let operator = Operator::spawn(
        &api,
        "op-f",
        OPERATOR_HTTP,
        &["--topic-resync-seconds", "2"],
    );
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let stateful_sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);

    apply_json(&clusters, "demo", cluster("demo", demo_spec(json!({}))))
        .await
        .unwrap();
    wait_for("demo Ready", WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        (find(&kc.status?.conditions, "Ready")?.status == ConditionStatus::True).then_some(())
    })
    .await;
    // The broker runs as the Pod's non-root user and writes its volume: the
    // stand-in kubelet applies runAsUser/runAsGroup/fsGroup when it can (as
    // root, which CI is); otherwise the broker runs as this process's user.
    let expected_uid = if running_as_root() {
        10001
    } else {
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
    };
    let data_dir = api.dir.path().join("pods/demo-broker-0/data");
    let owners: Vec<u32> = walk(&data_dir)
        .iter()
        .map(|p| std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(p).unwrap()))
        .collect();
    assert!(
        !owners.is_empty(),
        "the broker wrote nothing in {data_dir:?}"
    );
    assert!(
        owners.iter().all(|u| *u == expected_uid),
        "files in the data dir owned by {owners:?}, expected uid {expected_uid}"
    );
    let running_config = config_maps.get("demo-config").await.unwrap().data;
    let running_sts = stateful_sets.get("demo-broker").await.unwrap().spec;

    // Broker config the broker would refuse at start, a memory quantity the
    // API server would refuse, two listeners on one port: each is refused
    // before anything is rendered, naming the field.
    for (extra, field, event_text) in [
        (
            json!({ "config": { "no.such.property": "x" } }),
            "spec.config[\"no.such.property\"]",
            "unknown configuration",
        ),
        (
            json!({ "config": { "log.retention.hours": "banana" } }),
            "spec.config[\"log.retention.hours\"]",
            "banana",
        ),
        (
            json!({ "resources": { "limits": { "memory": "lots" } } }),
            "spec.resources.limits.memory",
            "lots",
        ),
        (
            json!({ "listeners": { "kafkaPort": KAFKA_PORT, "httpPort": KAFKA_PORT } }),
            "spec.listeners.httpPort",
            "one port",
        ),
    ] {
        apply_json(&clusters, "demo", cluster("demo", demo_spec(extra.clone())))
            .await
            .unwrap();
        wait_cluster_failure(&clusters, "demo", "InvalidSpec", field).await;
        wait_warning(&client, ns, "demo", "InvalidSpec", event_text).await;
        // The running brokers' objects are untouched.
        assert_eq!(
            config_maps.get("demo-config").await.unwrap().data,
            running_config,
            "{extra}"
        );
        assert_eq!(
            stateful_sets.get("demo-broker").await.unwrap().spec,
            running_sts,
            "{extra}"
        );
        let ports: Vec<i32> = Api::<Service>::namespaced(client.clone(), ns)
            .get("demo-brokers")
            .await
            .unwrap()
            .spec
            .unwrap()
            .ports
            .unwrap()
            .iter()
            .map(|p| p.port)
            .collect();
        assert_eq!(ports, [KAFKA_PORT, HTTP_PORT], "{extra}");
    }

    // Fixing the spec clears the condition.
    apply_json(
        &clusters,
        "demo",
        cluster(
            "demo",
            demo_spec(json!({ "config": { "log.retention.hours": "24" } })),
        ),
    )
    .await
    .unwrap();
    wait_for("demo repaired", WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        let status = kc.status.as_ref()?;
        let degraded = current_condition(
            &kc,
            &status.conditions,
            status.observed_generation,
            "Degraded",
        )?;
        let ready = find(&status.conditions, "Ready")?;
        (degraded.status == ConditionStatus::False && ready.status == ConditionStatus::True)
            .then_some(())
    })
    .await;
    let props = &config_maps.get("demo-config").await.unwrap().data.unwrap()["server.properties"];
    assert!(props.contains("log.retention.hours=24\n"), "{props}");

    // A name too long for the StatefulSet's Pods: refused, nothing created.
    let long = "l".repeat(75);
    apply_json(
        &clusters,
        &long,
        cluster(
            &long,
            json!({ "replicas": 1, "listeners": { "kafkaPort": 19394, "httpPort": 19395 } }),
        ),
    )
    .await
    .unwrap();
    let message = wait_cluster_failure(&clusters, &long, "InvalidSpec", "metadata.name").await;
    assert!(message.contains("at most 45 characters"), "{message}");
    wait_warning(&client, ns, &long, "InvalidSpec", "metadata.name").await;
    assert!(
        config_maps
            .get_opt(&format!("{long}-config"))
            .await
            .unwrap()
            .is_none()
    );

    // A refusal only the API server knows about ends in ApplyFailed with the
    // API server's own words: a semver build suffix is a fine version but
    // not a label value. (The test API server has no type-specific
    // validation of built-in kinds, only of their metadata.)
    apply_json(
        &clusters,
        "semver",
        cluster(
            "semver",
            json!({ "replicas": 1, "listeners": { "kafkaPort": 19396, "httpPort": 19397 },
                    "image": "karst:dev", "version": "1.0.0+build.5" }),
        ),
    )
    .await
    .unwrap();
    let message = wait_cluster_failure(&clusters, "semver", "ApplyFailed", "metadata.labels").await;
    assert!(message.contains("1.0.0+build.5"), "{message}");
    wait_warning(&client, ns, "semver", "ApplyFailed", "metadata.labels").await;

    // A user's own Service where a child would go is never taken over: the
    // cluster reports the conflict and applies nothing.
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let users_service: Service = serde_json::from_value(json!({
        "metadata": { "name": "clash-bootstrap", "labels": { "team": "payments" } },
        "spec": { "ports": [{ "port": 8080 }] },
    }))
    .unwrap();
    services
        .create(&PostParams::default(), &users_service)
        .await
        .unwrap();
    apply_json(
        &clusters,
        "clash",
        cluster(
            "clash",
            json!({ "replicas": 1, "listeners": { "kafkaPort": 19398, "httpPort": 19399 } }),
        ),
    )
    .await
    .unwrap();
    let message = wait_cluster_failure(
        &clusters,
        "clash",
        "ResourceConflict",
        "\"clash-bootstrap\"",
    )
    .await;
    assert!(message.contains("will not take it over"), "{message}");
    wait_warning(&client, ns, "clash", "ResourceConflict", "clash-bootstrap").await;
    let untouched = services.get("clash-bootstrap").await.unwrap();
    assert!(untouched.metadata.owner_references.is_none());
    assert_eq!(
        untouched
            .metadata
            .labels
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("payments")
    );
    assert_eq!(untouched.spec.unwrap().ports.unwrap()[0].port, 8080);
    assert!(config_maps.get_opt("clash-config").await.unwrap().is_none());

    // Topics: a partition count the broker refuses, a config value it
    // would refuse (checked before the broker is asked).
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), ns);
    let topic = |name: &str, spec: serde_json::Value| {
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaTopic",
            "metadata": { "name": name }, "spec": spec,
        })
    };
    apply_json(
        &topics,
        "huge",
        topic(
            "huge",
            json!({ "clusterRef": { "name": "demo" }, "partitions": 1_000_000, "replicas": 1 }),
        ),
    )
    .await
    .unwrap();
    let message = wait_topic_failure(&topics, "huge", "BrokerRefused").await;
    assert!(message.starts_with("spec.partitions: "), "{message}");
    wait_warning(&client, ns, "huge", "BrokerRefused", "spec.partitions").await;

    apply_json(
        &topics,
        "bananas",
        topic(
            "bananas",
            json!({ "clusterRef": { "name": "demo" }, "partitions": 1, "replicas": 1,
                    "config": { "retention.ms": "banana" } }),
        ),
    )
    .await
    .unwrap();
    let message = wait_topic_failure(&topics, "bananas", "InvalidSpec").await;
    assert!(
        message.starts_with("spec.config[\"retention.ms\"]: invalid value \"banana\""),
        "{message}"
    );
    wait_warning(&client, ns, "bananas", "InvalidSpec", "retention.ms").await;
    let ip = kubelet.pod_ip("demo-broker-0").expect("demo-broker-0 runs");
    let admin = karst_client::AdminClient::connect(format!("{ip}:{KAFKA_PORT}"))
        .await
        .unwrap();
    assert!(
        admin.describe_topic("bananas").await.unwrap().is_none(),
        "a topic whose spec is refused is not created"
    );

    // A paused topic keeps its (fixed) spec unapplied until resumed; with
    // partitions and replicas unset, the broker's defaults apply.
    let mut fixed = topic(
        "bananas",
        json!({ "clusterRef": { "name": "demo" }, "config": { "retention.ms": "60000" } }),
    );
    fixed["metadata"]["annotations"] = json!({ PAUSE_ANNOTATION: "true" });
    apply_json(&topics, "bananas", fixed.clone()).await.unwrap();
    wait_for("bananas Paused", WAIT, || async {
        let status = topics.get("bananas").await.ok()?.status?;
        (find(&status.conditions, "Progressing")?.reason == "ReconciliationPaused").then_some(())
    })
    .await;
    assert!(admin.describe_topic("bananas").await.unwrap().is_none());
    fixed["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    apply_json(&topics, "bananas", fixed).await.unwrap();
    let created = wait_for("bananas created after resume", WAIT, || async {
        admin.describe_topic("bananas").await.ok()?
    })
    .await;
    assert_eq!(created.partitions.len(), 1, "the broker's num.partitions");
    assert_eq!(created.replication_factor(), 1);

    // A larger storage size expands the existing claims (the StatefulSet's
    // claim template is immutable and keeps its size). The test plays the
    // StatefulSet controller, which would have made the claim.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    claims
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": "data-demo-broker-0", "labels": {
                    "app.kubernetes.io/name": "karst", "app.kubernetes.io/instance": "demo",
                    "app.kubernetes.io/component": "broker" } },
                "spec": { "accessModes": ["ReadWriteOnce"],
                          "resources": { "requests": { "storage": "10Gi" } } },
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    apply_json(
        &clusters,
        "demo",
        cluster(
            "demo",
            demo_spec(json!({ "config": { "log.retention.hours": "24" },
                              "storage": { "size": "20Gi" } })),
        ),
    )
    .await
    .unwrap();
    wait_for("data-demo-broker-0 expanded", WAIT, || async {
        let claim = claims.get("data-demo-broker-0").await.ok()?;
        let size = claim.spec?.resources?.requests?.remove("storage")?.0;
        (size == "20Gi").then_some(())
    })
    .await;
    let template_size = stateful_sets
        .get("demo-broker")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.volume_claim_templates)
        .and_then(|t| {
            t.into_iter()
                .next()?
                .spec?
                .resources?
                .requests?
                .remove("storage")
        })
        .unwrap();
    assert_eq!(template_size.0, "10Gi", "the claim template is untouched");

    // A Pod without the pod-index label (Kubernetes before 1.28) gets it
    // from the ordinal in its name: the broker's node id comes from it.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.patch(
        "demo-broker-0",
        &PatchParams::default(),
        &Patch::Merge(
            json!({ "metadata": { "labels": { "apps.kubernetes.io/pod-index": null } } }),
        ),
    )
    .await
    .unwrap();
    wait_for("demo-broker-0 labelled with its ordinal", WAIT, || async {
        let pod = pods.get("demo-broker-0").await.ok()?;
        (pod.metadata.labels?.get("apps.kubernetes.io/pod-index")? == "0").then_some(())
    })
    .await;

    // The pause annotation holds spec changes back until it is removed.
    let demo_doc = |paused: bool| {
        let mut doc = cluster(
            "demo",
            demo_spec(
                json!({ "config": { "log.retention.hours": "24", "num.partitions": "4" },
                              "storage": { "size": "20Gi" } }),
            ),
        );
        if paused {
            doc["metadata"]["annotations"] = json!({ PAUSE_ANNOTATION: "true" });
        }
        doc
    };
    apply_json(&clusters, "demo", demo_doc(true)).await.unwrap();
    wait_for("demo Paused", WAIT, || async {
        let status = clusters.get("demo").await.ok()?.status?;
        (find(&status.conditions, "Progressing")?.reason == "ReconciliationPaused"
            && status.operation.as_ref().map(|o| o.name.as_str()) == Some("Paused"))
        .then_some(())
    })
    .await;
    let props = |cm: ConfigMap| cm.data.unwrap().remove("server.properties").unwrap();
    assert!(!props(config_maps.get("demo-config").await.unwrap()).contains("num.partitions=4"));
    apply_json(&clusters, "demo", demo_doc(false))
        .await
        .unwrap();
    wait_for("demo resumed", WAIT, || async {
        let cm = config_maps.get("demo-config").await.ok()?;
        props(cm).contains("num.partitions=4\n").then_some(())
    })
    .await;

    // Deleting a cluster removes its series from /metrics (once the
    // config change above has rolled the broker and it is Ready again).
    let series = "karst_operator_cluster_ready{cluster=\"demo\",namespace=\"failures\"}";
    wait_for("demo Ready again after its roll", WAIT, || async {
        (operator.metric(series).await? == 1.0).then_some(())
    })
    .await;
    clusters
        .delete("demo", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("demo's series removed", WAIT, || async {
        let text = operator.metrics().await?;
        (!text.contains("cluster=\"demo\"")).then_some(())
    })
    .await;

    // The log is not a terminal: plain lines without colour codes.
    let log = std::fs::read_to_string(api.dir.path().join("operator-op-f.log")).unwrap();
    assert!(!log.contains('\u{1b}'), "ANSI escape codes in the log");
    assert!(
        log.lines()
            .any(|l| l.contains("INFO") && l.contains("KafkaCluster deleted")),
        "no INFO line for the deletion"
    );
    // One INFO line per action: the StatefulSet was created once, and the
    // many no-op re-applies since then logged nothing.
    let created = log
        .lines()
        .filter(|l| l.contains("INFO") && l.contains("created") && l.contains("demo-broker"))
        .filter(|l| l.contains("StatefulSet"))
        .count();
    assert_eq!(created, 1, "{log}");
}
