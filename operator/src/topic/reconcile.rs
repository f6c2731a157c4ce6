//! The KafkaTopic reconcile loop, behind a finalizer that deletes the Kafka
//! topic with the resource (unless the retain annotation says otherwise).

use std::{future::Future, sync::Arc, time::Duration};

use futures::StreamExt;
use karst_client::{AdminClient, AlterConfigOp, ResponseError};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller,
        controller::Action,
        events::EventType,
        finalizer::{Event as FinalizerEvent, finalizer},
        reflector::ObjectRef,
        watcher,
    },
};
use serde_json::json;

use super::{
    dereference::{self, TopicDereferenceError},
    error::{TopicError, admin_err},
    plan::{self, Step},
    replication,
    validate::{self, ValidatedTopic},
};
use crate::{
    context::{Context, backoff_key},
    crd::{
        Condition, ConditionStatus, KafkaCluster, KafkaTopic, KafkaTopicStatus,
        conditions::{DEGRADED, PROGRESSING, READY, find, merge_conditions, now_rfc3339},
    },
    events,
    metrics::TOPIC_CONTROLLER,
};

/// Finalizer that deletes the Kafka topic before the resource goes.
pub const FINALIZER: &str = "kafka.karst.dev/topic";
/// How long one admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes `status` (conditions merged with the previous ones) if it changed.
async fn write_status(
    api: &Api<KafkaTopic>,
    kt: &KafkaTopic,
    mut status: KafkaTopicStatus,
    fresh: Vec<Condition>,
) -> Result<(), TopicError> {
    let previous = kt.status.clone().unwrap_or_default();
    let generation = kt.metadata.generation;
    let fresh = fresh
        .into_iter()
        .map(|c| c.at_generation(generation))
        .collect();
    status.conditions = merge_conditions(&previous.conditions, fresh, &now_rfc3339());
    status.observed_generation = generation;
    patch_status_if_changed(api, kt, &status).await
}

async fn patch_status_if_changed(
    api: &Api<KafkaTopic>,
    kt: &KafkaTopic,
    status: &KafkaTopicStatus,
) -> Result<(), TopicError> {
    if kt.status.as_ref() == Some(status) {
        return Ok(());
    }
    api.patch_status(
        &kt.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map(|_| ())
    .map_err(|source| TopicError::Status {
        name: kt.name_any(),
        source,
    })
}

/// Conditions for a topic that is not Ready for `reason`.
fn not_ready(reason: &str, message: &str, degraded: bool) -> Vec<Condition> {
    vec![
        Condition::new(READY, ConditionStatus::False, reason, message),
        Condition::new(
            PROGRESSING,
            if degraded {
                ConditionStatus::False
            } else {
                ConditionStatus::True
            },
            reason,
            message,
        ),
        if degraded {
            Condition::new(DEGRADED, ConditionStatus::True, reason, message)
        } else {
            Condition::new(DEGRADED, ConditionStatus::False, "AsExpected", "")
        },
    ]
}

/// Writes a not-Ready status for `reason` and publishes a Warning event
/// when the message is new (not on every retry of the same failure).
async fn report(
    ctx: &Context,
    api: &Api<KafkaTopic>,
    kt: &KafkaTopic,
    status: KafkaTopicStatus,
    reason: &'static str,
    message: String,
    degraded: bool,
) -> Result<(), TopicError> {
    let already_reported = kt.status.as_ref().is_some_and(|s| {
        find(&s.conditions, READY).is_some_and(|c| c.reason == reason && c.message == message)
    });
    write_status(api, kt, status, not_ready(reason, &message, degraded)).await?;
    if !already_reported {
        events::publish(ctx, kt, EventType::Warning, reason, "Reconcile", message).await;
    }
    Ok(())
}

/// Applies the topic; every failure ends in the status (and a Warning
/// event) before it is retried: with backoff when waiting can cure it, at
/// the resync interval when only a change of the spec can.
async fn apply_topic(
    kt: Arc<KafkaTopic>,
    ctx: &Context,
    namespace: &str,
) -> Result<Action, TopicError> {
    let api: Api<KafkaTopic> = Api::namespaced(ctx.client.clone(), namespace);
    if crate::crd::is_paused(&*kt) {
        // The paused generation is not applied: observedGeneration and the
        // other conditions stay as they were.
        let mut status = kt.status.clone().unwrap_or_default();
        let was_paused = find(&status.conditions, PROGRESSING)
            .is_some_and(|c| c.reason == crate::crd::PAUSED_REASON);
        status.conditions = crate::crd::paused_conditions(
            &status.conditions,
            kt.metadata.generation,
            &now_rfc3339(),
        );
        patch_status_if_changed(&api, &kt, &status).await?;
        if !was_paused {
            tracing::info!(%namespace, resource = %kt.name_any(), "reconciliation paused by annotation");
            events::publish(
                ctx,
                &*kt,
                EventType::Normal,
                crate::crd::PAUSED_REASON,
                "Reconcile",
                "Reconciliation is paused; remove the annotation to resume".to_owned(),
            )
            .await;
        }
        return Ok(Action::await_change());
    }
    let error = match sync_topic(&kt, ctx, &api, namespace).await {
        Ok(action) => return Ok(action),
        Err(error) => error,
    };
    let Some(condition) = error.condition() else {
        return Err(error);
    };
    let previous = kt.status.clone().unwrap_or_default();
    let message = error.to_string();
    report(
        ctx,
        &api,
        &kt,
        previous,
        condition.reason,
        message,
        condition.degraded,
    )
    .await?;
    if error.needs_spec_change() {
        ctx.metrics
            .reconcile_failed(TOPIC_CONTROLLER, error.metric_label());
        tracing::warn!(topic = %kt.name_any(), %namespace, %error, "topic cannot be applied until its spec changes");
        Ok(Action::requeue(ctx.settings.topic_resync))
    } else {
        Err(error)
    }
}

async fn sync_topic(
    kt: &KafkaTopic,
    ctx: &Context,
    api: &Api<KafkaTopic>,
    namespace: &str,
) -> Result<Action, TopicError> {
    let previous = kt.status.clone().unwrap_or_default();
    let cluster_name = kt.spec.cluster_ref.name.clone();

    // 1. dereference
    let inputs = dereference::dereference(&ctx.client, namespace, kt).await?;
    let cluster = inputs.cluster.ok_or_else(|| TopicError::ClusterNotFound {
        cluster: cluster_name.clone(),
        namespace: namespace.to_owned(),
    })?;

    // 2. validate (pure)
    let validated = validate::validate(kt, cluster.spec.replicas, &inputs.siblings)?;

    // 3. observe the broker
    if inputs.broker_addresses.is_empty() {
        return Err(TopicError::NoReadyBroker(cluster_name));
    }
    let admin = dereference::connect(&inputs.broker_addresses, ADMIN_TIMEOUT)
        .await
        .map_err(|source| TopicError::Unreachable {
            cluster: cluster_name,
            addresses: inputs.broker_addresses,
            source,
        })?;
    let observed = dereference::observe_topic(&admin, &validated.name)
        .await
        .map_err(admin_err("describe", &validated.name))?;

    // 4. plan (pure) and apply through the admin API
    let plan = plan::plan(&validated, observed.as_ref());
    let changed = !plan.steps.is_empty();
    for step in &plan.steps {
        execute(ctx, kt, &admin, &validated, step).await?;
    }
    let observed = if changed {
        dereference::observe_topic(&admin, &validated.name)
            .await
            .map_err(admin_err("describe", &validated.name))?
    } else {
        observed
    };

    // 5. the replication factor, by reassignment (one batch per reconcile)
    let change = match (&observed, validated.replicas) {
        (Some(_), Some(replicas)) => {
            Some(replication::converge(ctx, kt, &admin, &validated.name, replicas).await?)
        }
        _ => None,
    };

    // 6. status
    let mut status = KafkaTopicStatus {
        topic_name: Some(validated.name.clone()),
        replica_change: None,
        ..previous.clone()
    };
    if let Some(o) = &observed {
        status.topic_id = Some(o.metadata.topic_id.to_string());
        status.partitions = Some(i32::try_from(o.metadata.partitions.len()).unwrap_or(i32::MAX));
        status.replicas = Some(i32::try_from(o.metadata.replication_factor()).unwrap_or(i32::MAX));
    }
    let changing = change.as_ref().filter(|c| !c.is_done());
    if let Some(change) = &change {
        status.replicas = Some(change.replicas);
    }
    if let Some(change) = changing {
        status.replica_change =
            Some(change.status(previous.replica_change.as_ref(), &now_rfc3339()));
    }
    let requeue = if changing.is_some() {
        replication::POLL_INTERVAL
    } else {
        ctx.settings.topic_resync
    };
    if !plan.refusals.is_empty() {
        let message = plan
            .refusals
            .iter()
            .map(|r| r.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        report(ctx, api, kt, status, "NotSupported", message, true).await?;
        return Ok(Action::requeue(requeue));
    }
    if let Some(change) = changing {
        let message = format!("spec.replicas: {}", change.describe(&validated.name));
        write_status(api, kt, status, not_ready("Reassigning", &message, false)).await?;
        return Ok(Action::requeue(requeue));
    }
    // A change shown in progress, or one that completed within this
    // reconcile (a shrink completes as soon as it is submitted).
    if let Some(change) = &change
        && (previous.replica_change.is_some()
            || previous.replicas.is_some_and(|r| r != change.target))
    {
        let note = format!(
            "Topic {:?} now has replication factor {} on all {} partitions.",
            validated.name, change.target, change.partitions
        );
        tracing::info!(%namespace, resource = %kt.name_any(), "{note}");
        events::publish(
            ctx,
            kt,
            EventType::Normal,
            "ReplicasChanged",
            "ChangeReplicas",
            note,
        )
        .await;
    }
    let message = format!(
        "topic {:?} has {} partition(s), replication factor {}",
        validated.name,
        status.partitions.unwrap_or_default(),
        status.replicas.unwrap_or_default()
    );
    let conditions = vec![
        Condition::new(READY, ConditionStatus::True, "Synced", message),
        Condition::new(PROGRESSING, ConditionStatus::False, "Synced", ""),
        Condition::new(DEGRADED, ConditionStatus::False, "AsExpected", ""),
    ];
    write_status(api, kt, status, conditions).await?;
    Ok(Action::requeue(requeue))
}

/// `retention.ms=3600000, cleanup.policy reset to its default`: config
/// changes as a user reads them in an event.
fn describe_config_changes(ops: &[AlterConfigOp]) -> String {
    ops.iter()
        .map(|op| match op {
            AlterConfigOp::Set { name, value } => format!("{name}={value}"),
            AlterConfigOp::Delete { name } => format!("{name} reset to its default"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn execute(
    ctx: &Context,
    kt: &KafkaTopic,
    admin: &AdminClient,
    topic: &ValidatedTopic,
    step: &Step,
) -> Result<(), TopicError> {
    let name = &topic.name;
    let (reason, note) = match step {
        Step::Create(new_topic) => {
            match admin
                .create_topics(std::slice::from_ref(new_topic), false)
                .await
            {
                Ok(_) => {}
                // Created concurrently (or by a previous attempt whose answer was lost).
                Err(e) if e.kafka_kind() == Some(ResponseError::TopicAlreadyExists) => {}
                Err(e) => return Err(admin_err("create", name)(e)),
            }
            (
                "TopicCreated",
                format!(
                    "Created topic {name:?} with {} partition(s)",
                    new_topic.partitions
                ),
            )
        }
        Step::GrowPartitions(total) => {
            admin
                .create_partitions(name, *total, false)
                .await
                .map_err(admin_err("add partitions to", name))?;
            (
                "PartitionsIncreased",
                format!("Topic {name:?} now has {total} partitions"),
            )
        }
        Step::AlterConfigs(ops) => {
            admin
                .incremental_alter_topic_configs(name, ops, false)
                .await
                .map_err(admin_err("alter the config of", name))?;
            (
                "ConfigUpdated",
                format!(
                    "Changed the config of topic {name:?}: {}",
                    describe_config_changes(ops)
                ),
            )
        }
    };
    tracing::info!(namespace = %kt.namespace().unwrap_or_default(), resource = %kt.name_any(), "{note}");
    events::publish(ctx, kt, EventType::Normal, reason, "Reconcile", note).await;
    Ok(())
}

async fn cleanup_topic(
    kt: Arc<KafkaTopic>,
    ctx: &Context,
    namespace: &str,
) -> Result<Action, TopicError> {
    let Some(managed) = kt.status.as_ref().and_then(|s| s.topic_name.clone()) else {
        return Ok(Action::await_change()); // never created or adopted a topic
    };
    if kt.retains_topic() {
        let note = format!("Kept topic {managed:?}: the resource has the retain annotation");
        tracing::info!(%namespace, resource = %kt.name_any(), "{note}");
        events::publish(
            ctx,
            &*kt,
            EventType::Normal,
            "TopicRetained",
            "Delete",
            note,
        )
        .await;
        return Ok(Action::await_change());
    }
    let cluster_name = kt.spec.cluster_ref.name.clone();
    let clusters: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), namespace);
    let cluster =
        clusters
            .get_opt(&cluster_name)
            .await
            .map_err(|source| TopicDereferenceError::Cluster {
                name: cluster_name.clone(),
                source,
            })?;
    // A cluster that is gone or going takes its topics with it: never block deletion on it.
    let Some(cluster) = cluster.filter(|c| c.metadata.deletion_timestamp.is_none()) else {
        return Ok(Action::await_change());
    };
    let addresses = crate::cluster::dereference::observe(&ctx.client, namespace, &cluster_name)
        .await
        .map_err(TopicDereferenceError::from)?
        .ready_addresses(cluster.spec.listeners.kafka_port);
    if addresses.is_empty() {
        return Err(TopicError::NoReadyBroker(cluster_name));
    }
    let admin = dereference::connect(&addresses, ADMIN_TIMEOUT)
        .await
        .map_err(|source| TopicError::Unreachable {
            cluster: cluster_name,
            addresses,
            source,
        })?;
    match admin.delete_topics(&[managed.as_str()]).await {
        Ok(()) => {}
        Err(e) if e.kafka_kind() == Some(ResponseError::UnknownTopicOrPartition) => {}
        Err(e) => return Err(admin_err("delete", &managed)(e)),
    }
    let note = format!("Deleted topic {managed:?}");
    tracing::info!(%namespace, resource = %kt.name_any(), "{note}");
    events::publish(ctx, &*kt, EventType::Normal, "TopicDeleted", "Delete", note).await;
    Ok(Action::await_change())
}

/// Reconciles one KafkaTopic.
pub async fn reconcile(kt: Arc<KafkaTopic>, ctx: Arc<Context>) -> Result<Action, TopicError> {
    let _timer = ctx.metrics.reconcile_started(TOPIC_CONTROLLER);
    let namespace = kt
        .namespace()
        .ok_or_else(|| TopicError::NoNamespace(kt.name_any()))?;
    let api: Api<KafkaTopic> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = backoff_key(&*kt);
    let result = finalizer(&api, FINALIZER, kt, |event| async {
        match event {
            FinalizerEvent::Apply(kt) => apply_topic(kt, &ctx, &namespace).await,
            FinalizerEvent::Cleanup(kt) => cleanup_topic(kt, &ctx, &namespace).await,
        }
    })
    .await
    .map_err(|e| TopicError::Finalizer(Box::new(e)));
    if result.is_ok() {
        ctx.reset_backoff(&key);
    }
    result
}

fn error_policy(kt: Arc<KafkaTopic>, error: &TopicError, ctx: Arc<Context>) -> Action {
    ctx.requeue_after_failure(
        TOPIC_CONTROLLER,
        error.metric_label(),
        &backoff_key(&*kt),
        error,
    )
}

/// Runs the KafkaTopic controller until `shutdown` resolves.
pub fn controller(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    let (topics, clusters): (Api<KafkaTopic>, Api<KafkaCluster>) = match &namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let controller = Controller::new(topics, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(
            clusters,
            watcher::Config::default(),
            move |kc: KafkaCluster| {
                let ns = kc.namespace();
                let name = kc.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|t| t.namespace() == ns && t.spec.cluster_ref.name == name)
                    .map(|t| ObjectRef::from_obj(&*t))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "topic controller event");
            }
        })
}
