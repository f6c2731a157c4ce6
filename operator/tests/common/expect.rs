//! Expectations about failures: a condition at the current generation,
//! a Warning event whose note is a sentence, files a process wrote.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use karst_operator::crd::{ConditionStatus, KafkaCluster, KafkaTopic, conditions::find};
use kube::{Api, Client, Resource, api::ListParams};

use super::wait_for;

/// How long a failure may take to show.
const WAIT: Duration = Duration::from_secs(90);

/// The condition of `type_` on a resource's status, if the status describes
/// the resource's current generation.
pub fn current_condition<K>(
    obj: &K,
    conditions: &[karst_operator::crd::Condition],
    observed_generation: Option<i64>,
    type_: &str,
) -> Option<karst_operator::crd::Condition>
where
    K: Resource,
{
    let generation = obj.meta().generation;
    let c = find(conditions, type_)?;
    (observed_generation == generation && c.observed_generation == generation).then(|| c.clone())
}

/// Waits until `name` is Degraded with `reason` at its current generation,
/// Ready=False with the same message, and that message names `field`.
pub async fn wait_cluster_failure(
    clusters: &Api<KafkaCluster>,
    name: &str,
    reason: &str,
    field: &str,
) -> String {
    let message = wait_for(
        &format!("{name} Degraded ({reason})"),
        WAIT,
        || async move {
            let kc = clusters.get(name).await.ok()?;
            let status = kc.status.as_ref()?;
            let degraded = current_condition(
                &kc,
                &status.conditions,
                status.observed_generation,
                "Degraded",
            )?;
            let ready = find(&status.conditions, "Ready")?;
            (degraded.status == ConditionStatus::True
                && degraded.reason == reason
                && ready.status == ConditionStatus::False
                && ready.message == degraded.message)
                .then_some(degraded.message)
        },
    )
    .await;
    assert!(
        message.contains(field),
        "{name}: {message:?} does not name {field}"
    );
    message
}

pub async fn wait_topic_failure(topics: &Api<KafkaTopic>, name: &str, reason: &str) -> String {
    wait_for(
        &format!("{name} Degraded ({reason})"),
        WAIT,
        || async move {
            let kt = topics.get(name).await.ok()?;
            let status = kt.status.as_ref()?;
            let degraded = current_condition(
                &kt,
                &status.conditions,
                status.observed_generation,
                "Degraded",
            )?;
            let ready = find(&status.conditions, "Ready")?;
            (degraded.status == ConditionStatus::True
                && degraded.reason == reason
                && ready.status == ConditionStatus::False)
                .then_some(degraded.message)
        },
    )
    .await
}

/// Waits for a Warning event about `object` with `reason` whose note contains `text`.
pub async fn wait_warning(client: &Client, ns: &str, object: &str, reason: &str, text: &str) {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let note = wait_for(
        &format!("Warning {reason} about {object}"),
        WAIT,
        || async {
            events
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .filter(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(object)
                })
                .filter_map(|e| e.note)
                .find(|n| n.contains(text))
        },
    )
    .await;
    assert!(note.ends_with('.'), "event notes are sentences: {note:?}");
    assert!(
        !note.contains("Some(") && !note.contains("ErrorResponse"),
        "no debug text in event notes: {note:?}"
    );
}

/// Every file and directory below `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}
