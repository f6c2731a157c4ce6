//! Rolling restarts: Pods whose config hash or image differ from the
//! StatefulSet's template (or that carry the manual rolling-update
//! annotation) are deleted one at a time, in the order [`plan`] decides; the
//! StatefulSet (`OnDelete`) re-creates each from the new template. This
//! module runs the decision: it moves the manual trigger onto the Pods,
//! reads the brokers, deletes the Pod and records each step (log line,
//! event, metric).

pub mod availability;
pub mod observe;
pub mod plan;

use std::time::Duration;

use k8s_openapi::{
    api::{apps::v1::StatefulSet, core::v1::Pod},
    jiff::Timestamp,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
    runtime::events::EventType,
};
use serde_json::json;

use self::plan::{Desired, RollInput, Step};
use super::{
    build::{labels::stateful_set_name, statefulset::CONFIG_HASH_ANNOTATION},
    dereference::ObservedCluster,
    reconcile::ApplyError,
    validate::ValidatedCluster,
};
use crate::{
    context::Context,
    crd::{KafkaCluster, MANUAL_ROLLING_UPDATE_ANNOTATION, kafka_cluster::Operation},
    events,
};

/// How long the brokers get to answer the roll's questions.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// The config hash and image of the StatefulSet's Pod template.
fn desired_of(stateful_set: &StatefulSet) -> Desired<'_> {
    let template = stateful_set.spec.as_ref().map(|s| &s.template);
    let config_hash = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(CONFIG_HASH_ANNOTATION))
        .map_or("", String::as_str);
    let image = template
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        .unwrap_or("");
    Desired { config_hash, image }
}

/// Takes the next step of the roll of `kc` (whose `stateful_set` was just
/// applied) and returns it, for the status.
pub async fn roll(
    ctx: &Context,
    kc: &KafkaCluster,
    cluster: &ValidatedCluster,
    stateful_set: &StatefulSet,
    observed: &mut ObservedCluster,
) -> Result<Step, ApplyError> {
    let namespace = &cluster.namespace;
    if crate::crd::has_true_annotation(kc, MANUAL_ROLLING_UPDATE_ANNOTATION) {
        move_manual_trigger_to_pods(ctx, kc, observed).await?;
    }
    let sts_name = stateful_set_name(&cluster.name);
    let previous: Option<&Operation> = kc.status.as_ref().and_then(|s| s.operation.as_ref());
    let input = RollInput {
        pods: &observed.pods,
        stateful_set: &sts_name,
        replicas: cluster.replicas,
        desired: desired_of(stateful_set),
        previous,
        now: Timestamp::now(),
        ready_timeout: cluster.ready_timeout,
    };
    let facts = if plan::facts_needed(&input) {
        observe::broker_facts(
            &observed.ready_addresses(cluster.kafka_port),
            BROKER_TIMEOUT,
        )
        .await
    } else {
        Err("not needed".to_owned())
    };
    let step = plan::next_step(&input, facts.as_ref().map_err(String::as_str));
    let cluster_name = &cluster.name;
    match &step {
        Step::Restart {
            pod,
            broker,
            reason,
            message,
        } => {
            Api::<Pod>::namespaced(ctx.client.clone(), namespace)
                .delete(pod, &DeleteParams::default())
                .await
                .map_err(|source| ApplyError::RestartPod {
                    pod: pod.clone(),
                    source,
                })?;
            ctx.metrics
                .broker_restarted(namespace, cluster_name, reason.label());
            tracing::info!(%namespace, cluster = %cluster_name, %pod, broker, reason = reason.label(), "rolling update: broker restarted");
            events::publish(
                ctx,
                kc,
                EventType::Normal,
                "RollingUpdate",
                "RestartBroker",
                message.clone(),
            )
            .await;
        }
        Step::Idle { finished: true } => {
            ctx.metrics.roll_finished(namespace, cluster_name);
            tracing::info!(%namespace, cluster = %cluster_name, "rolling update finished");
            events::publish(
                ctx,
                kc,
                EventType::Normal,
                "RollingUpdateFinished",
                "RestartBroker",
                "Every broker runs the current configuration and image".to_owned(),
            )
            .await;
        }
        Step::Wait(w) => {
            tracing::debug!(%namespace, cluster = %cluster_name, broker = ?w.broker, message = %w.message, "rolling update waits");
        }
        Step::Idle { finished: false } | Step::Stuck(_) => {}
    }
    ctx.metrics
        .set_rolling_update(namespace, cluster_name, !matches!(step, Step::Idle { .. }));
    Ok(step)
}

/// A manual trigger on the cluster becomes one on every broker Pod (each
/// comes back without it, so the roll's progress lives on the Pods), then
/// is removed from the cluster.
async fn move_manual_trigger_to_pods(
    ctx: &Context,
    kc: &KafkaCluster,
    observed: &mut ObservedCluster,
) -> Result<(), ApplyError> {
    let namespace = kc.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let mark =
        json!({ "metadata": { "annotations": { MANUAL_ROLLING_UPDATE_ANNOTATION: "true" } } });
    for pod in observed.pods.iter_mut().filter(|p| !p.manual_restart) {
        pods.patch(&pod.name, &PatchParams::default(), &Patch::Merge(&mark))
            .await
            .map_err(|source| ApplyError::Apply {
                kind: "Pod".to_owned(),
                name: pod.name.clone(),
                source,
            })?;
        pod.manual_restart = true;
    }
    let clear =
        json!({ "metadata": { "annotations": { MANUAL_ROLLING_UPDATE_ANNOTATION: null } } });
    Api::<KafkaCluster>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &kc.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&clear),
        )
        .await
        .map_err(|source| ApplyError::Apply {
            kind: "KafkaCluster".to_owned(),
            name: kc.name_any(),
            source,
        })?;
    tracing::info!(%namespace, cluster = %kc.name_any(), pods = observed.pods.len(), "manual rolling update requested");
    events::publish(
        ctx,
        kc,
        EventType::Normal,
        "ManualRollingUpdate",
        "RestartBroker",
        format!(
            "A manual rolling update of {} brokers was requested",
            observed.pods.len()
        ),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{build, validate::tests::ClusterFixture};

    #[test]
    fn the_desired_pod_is_the_statefulset_templates_hash_and_image() {
        let v = ClusterFixture::new("demo", 3).validated();
        let desired = build::desired(&v, None);
        // The hash covers what needs a restart: not the dynamic settings.
        let mut restart_relevant = v.clone();
        restart_relevant.broker_config =
            crate::cluster::dynamic_config::restart_only(&v.broker_config);
        let expected_hash =
            build::config_map::config_hash(&build::config_map::build(&restart_relevant));
        assert_ne!(
            expected_hash,
            build::config_map::config_hash(&desired.config_map)
        );
        let d = desired_of(&desired.stateful_set);
        assert_eq!(d.config_hash, expected_hash);
        assert_eq!(d.image, "karst:0.1.0");
    }
}
