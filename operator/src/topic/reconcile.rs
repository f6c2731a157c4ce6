//! The KafkaTopic reconcile loop, behind a finalizer that deletes the Kafka
//! topic with the resource (unless the retain annotation says otherwise).

use std::{future::Future, sync::Arc, time::Duration};

use futures::StreamExt;
use karst_client::{AdminClient, ResponseError};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller,
        controller::Action,
        events::{Event, EventType, Recorder},
        finalizer::{Event as FinalizerEvent, finalizer},
        reflector::ObjectRef,
        watcher,
    },
};
use serde_json::json;

use super::{
    dereference::{self, TopicDereferenceError},
    plan::{self, Step},
    validate::{self, ValidatedTopic},
};
use crate::{
    context::{Context, backoff_key},
    crd::{
        Condition, ConditionStatus, KafkaCluster, KafkaTopic, KafkaTopicStatus,
        conditions::{DEGRADED, PROGRESSING, READY, merge_conditions, now_rfc3339},
    },
    metrics::TOPIC_CONTROLLER,
};

/// Finalizer that deletes the Kafka topic before the resource goes.
pub const FINALIZER: &str = "kafka.karst.dev/topic";
/// How long one admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a topic reconciliation failed (and is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// Reading from the API server failed.
    #[error(transparent)]
    Dereference(#[from] TopicDereferenceError),
    /// No broker of the cluster answered.
    #[error("KafkaCluster {cluster} is unreachable (brokers {addresses:?}): {source}")]
    Unreachable {
        /// Cluster name.
        cluster: String,
        /// Addresses tried.
        addresses: Vec<String>,
        /// Last error.
        source: karst_client::Error,
    },
    /// The cluster has no ready broker.
    #[error("KafkaCluster {0} has no ready broker")]
    NoReadyBroker(String),
    /// The broker refused an admin request.
    #[error("{action} of topic {topic}: {source}")]
    Admin {
        /// What was attempted.
        action: &'static str,
        /// Topic.
        topic: String,
        /// Client error (carries the Kafka error code).
        source: karst_client::Error,
    },
    /// Writing the status failed.
    #[error("patching status of KafkaTopic {name}: {source}")]
    Status {
        /// Resource name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<TopicError>>),
    /// The object has no namespace.
    #[error("KafkaTopic {0} has no namespace")]
    NoNamespace(String),
}

impl TopicError {
    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            TopicError::Dereference(e) => e.metric_label(),
            TopicError::Unreachable { .. } => "cluster_unreachable",
            TopicError::NoReadyBroker(_) => "no_ready_broker",
            TopicError::Admin { .. } => "admin",
            TopicError::Status { .. } => "status",
            TopicError::Finalizer(e) => match &**e {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.metric_label(),
                _ => "finalizer",
            },
            TopicError::NoNamespace(_) => "no_namespace",
        }
    }
}

fn admin_err(
    action: &'static str,
    topic: &str,
) -> impl FnOnce(karst_client::Error) -> TopicError + use<> {
    let topic = topic.to_owned();
    move |source| TopicError::Admin {
        action,
        topic,
        source,
    }
}

async fn publish(ctx: &Context, kt: &KafkaTopic, type_: EventType, reason: &str, note: String) {
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &kt.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing event failed");
    }
}

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
    if status == previous {
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

async fn apply_topic(
    kt: Arc<KafkaTopic>,
    ctx: &Context,
    namespace: &str,
) -> Result<Action, TopicError> {
    let api: Api<KafkaTopic> = Api::namespaced(ctx.client.clone(), namespace);
    let previous = kt.status.clone().unwrap_or_default();
    let cluster_name = kt.spec.cluster_ref.name.clone();

    // 1. dereference
    let inputs = dereference::dereference(&ctx.client, namespace, &kt).await?;
    let Some(cluster) = inputs.cluster else {
        let msg = format!(
            "spec.clusterRef.name: KafkaCluster {cluster_name:?} not found in namespace {namespace}"
        );
        write_status(
            &api,
            &kt,
            previous,
            not_ready("ClusterNotFound", &msg, true),
        )
        .await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };

    // 2. validate (pure)
    let validated = match validate::validate(&kt, cluster.spec.replicas, &inputs.siblings) {
        Ok(v) => v,
        Err(e) => {
            ctx.metrics
                .reconcile_failed(TOPIC_CONTROLLER, e.metric_label());
            let msg = e.to_string();
            let was_same = kt
                .status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.message == msg));
            write_status(&api, &kt, previous, not_ready(e.reason(), &msg, true)).await?;
            if !was_same {
                publish(ctx, &kt, EventType::Warning, e.reason(), msg).await;
            }
            return Ok(Action::requeue(ctx.settings.topic_resync));
        }
    };

    // 3. observe the broker
    if inputs.broker_addresses.is_empty() {
        let msg = format!("KafkaCluster {cluster_name:?} has no ready broker yet");
        write_status(
            &api,
            &kt,
            previous,
            not_ready("ClusterNotReady", &msg, false),
        )
        .await?;
        return Err(TopicError::NoReadyBroker(cluster_name));
    }
    let admin = match dereference::connect(&inputs.broker_addresses, ADMIN_TIMEOUT).await {
        Ok(admin) => admin,
        Err(source) => {
            let err = TopicError::Unreachable {
                cluster: cluster_name,
                addresses: inputs.broker_addresses,
                source,
            };
            write_status(
                &api,
                &kt,
                previous,
                not_ready("ClusterUnreachable", &err.to_string(), false),
            )
            .await?;
            return Err(err);
        }
    };
    let observed = dereference::observe_topic(&admin, &validated.name)
        .await
        .map_err(admin_err("describe", &validated.name))?;

    // 4. plan (pure) and apply through the admin API
    let plan = plan::plan(&validated, observed.as_ref());
    let changed = !plan.steps.is_empty();
    for step in &plan.steps {
        execute(ctx, &kt, &admin, &validated, step).await?;
    }
    let observed = if changed {
        dereference::observe_topic(&admin, &validated.name)
            .await
            .map_err(admin_err("describe", &validated.name))?
    } else {
        observed
    };

    // 5. status
    let mut status = KafkaTopicStatus {
        topic_name: Some(validated.name.clone()),
        ..previous
    };
    if let Some(o) = &observed {
        status.topic_id = Some(o.metadata.topic_id.to_string());
        status.partitions = Some(i32::try_from(o.metadata.partitions.len()).unwrap_or(i32::MAX));
        status.replicas = Some(i32::try_from(o.metadata.replication_factor()).unwrap_or(i32::MAX));
    }
    let conditions = if plan.refusals.is_empty() {
        let msg = format!(
            "topic {:?} has {} partition(s), replication factor {}",
            validated.name,
            status.partitions.unwrap_or_default(),
            status.replicas.unwrap_or_default()
        );
        vec![
            Condition::new(READY, ConditionStatus::True, "Synced", msg),
            Condition::new(PROGRESSING, ConditionStatus::False, "Synced", ""),
            Condition::new(DEGRADED, ConditionStatus::False, "AsExpected", ""),
        ]
    } else {
        let msg = plan
            .refusals
            .iter()
            .map(|r| r.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let already = kt
            .status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().any(|c| c.message == msg));
        if !already {
            publish(ctx, &kt, EventType::Warning, "NotSupported", msg.clone()).await;
        }
        not_ready("NotSupported", &msg, true)
    };
    write_status(&api, &kt, status, conditions).await?;
    Ok(Action::requeue(ctx.settings.topic_resync))
}

async fn execute(
    ctx: &Context,
    kt: &KafkaTopic,
    admin: &AdminClient,
    topic: &ValidatedTopic,
    step: &Step,
) -> Result<(), TopicError> {
    let name = &topic.name;
    match step {
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
            publish(
                ctx,
                kt,
                EventType::Normal,
                "TopicCreated",
                format!(
                    "created topic {name:?} with {} partition(s)",
                    new_topic.partitions
                ),
            )
            .await;
        }
        Step::GrowPartitions(total) => {
            admin
                .create_partitions(name, *total, false)
                .await
                .map_err(admin_err("create partitions", name))?;
            publish(
                ctx,
                kt,
                EventType::Normal,
                "PartitionsIncreased",
                format!("topic {name:?} now has {total} partitions"),
            )
            .await;
        }
        Step::AlterConfigs(ops) => {
            admin
                .incremental_alter_topic_configs(name, ops, false)
                .await
                .map_err(admin_err("alter configs", name))?;
            publish(
                ctx,
                kt,
                EventType::Normal,
                "ConfigUpdated",
                format!("topic {name:?}: {ops:?}"),
            )
            .await;
        }
    }
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
        publish(
            ctx,
            &kt,
            EventType::Normal,
            "TopicRetained",
            format!("topic {managed:?} kept (retain annotation)"),
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
    publish(
        ctx,
        &kt,
        EventType::Normal,
        "TopicDeleted",
        format!("deleted topic {managed:?}"),
    )
    .await;
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
