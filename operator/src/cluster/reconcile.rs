//! The KafkaCluster reconcile loop: validate -> dereference -> build ->
//! server-side apply (ConfigMap before StatefulSet) -> status; and the
//! report of any failure in the status and as a Warning event.

use std::{collections::BTreeMap, fmt::Debug, sync::Arc, time::Duration};

use k8s_openapi::NamespaceResourceScope;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

use super::{
    build::{
        self,
        labels::{FIELD_MANAGER, stateful_set_name},
    },
    dereference::{self, DereferenceError},
    dynamic_config, node_id,
    ownership::{self, ExistingVersions, OwnershipError},
    rollout::{self, plan::Step},
    scale::{
        self,
        drain::{self, Drain},
        step::ScaleStep,
    },
    status, storage,
    validate::{self, ValidationError},
};
use crate::{
    context::{Context, backoff_key},
    crd::{
        ConditionStatus, KafkaCluster, KafkaClusterStatus,
        conditions::{DEGRADED, READY, find, now_rfc3339},
    },
    events::{self, api_error_message},
    metrics::CLUSTER_CONTROLLER,
};

/// Server-side apply of one child object failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server refused the apply.
    #[error("the API server refused {kind} {name:?}: {}", api_error_message(.source))]
    Apply {
        /// Kind of the object.
        kind: String,
        /// Name of the object.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// A broker volume claim could not be expanded.
    #[error(
        "spec.storage.size: the API server refused to expand PersistentVolumeClaim {claim:?} to {size} (its StorageClass must allow volume expansion): {}",
        api_error_message(.source)
    )]
    ExpandClaim {
        /// Claim name.
        claim: String,
        /// Size asked for.
        size: String,
        /// API error.
        source: kube::Error,
    },
    /// Deleting a broker Pod for its rolling restart was refused.
    #[error("deleting Pod {pod:?} for its rolling restart: {}", api_error_message(.source))]
    RestartPod {
        /// Pod name.
        pod: String,
        /// API error.
        source: kube::Error,
    },
}

impl ApplyError {
    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ApplyError::Apply { .. } => "apply",
            ApplyError::ExpandClaim { .. } => "expand_claim",
            ApplyError::RestartPod { .. } => "restart_pod",
        }
    }
}

/// Writing the status failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The status patch was refused.
    #[error("patching status of KafkaCluster {name}: {}", api_error_message(.source))]
    Patch {
        /// Cluster name.
        name: String,
        /// API error.
        source: kube::Error,
    },
}

impl StatusError {
    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            StatusError::Patch { .. } => "status",
        }
    }
}

/// Why a cluster reconciliation failed (and will be retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading Pods failed.
    #[error(transparent)]
    Dereference(#[from] DereferenceError),
    /// The spec cannot be run; nothing was applied.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A child's name is taken by an object this cluster does not own; nothing was applied.
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    /// Applying a child failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Writing the status failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The object has no namespace (the CRD is namespaced, so this is a bug upstream).
    #[error("KafkaCluster {0} has no namespace")]
    NoNamespace(String),
}

impl ReconcileError {
    /// Metric label of the failure.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReconcileError::Dereference(e) => e.metric_label(),
            ReconcileError::Invalid(e) => e.metric_label(),
            ReconcileError::Ownership(e) => e.metric_label(),
            ReconcileError::Apply(e) => e.metric_label(),
            ReconcileError::Status(e) => e.metric_label(),
            ReconcileError::NoNamespace(_) => "no_namespace",
        }
    }

    /// The condition reason a user (or an alert) sees; `None` when the
    /// failure cannot be written to the status at all.
    pub fn condition_reason(&self) -> Option<&'static str> {
        match self {
            ReconcileError::Invalid(ValidationError::ScalingRefused { .. }) => {
                Some("ScalingRefused")
            }
            ReconcileError::Invalid(_) => Some("InvalidSpec"),
            ReconcileError::Apply(_) => Some("ApplyFailed"),
            ReconcileError::Ownership(OwnershipError::NotOwned { .. }) => Some("ResourceConflict"),
            ReconcileError::Ownership(OwnershipError::Read { .. }) => Some("ObservationFailed"),
            ReconcileError::Dereference(_) => Some("ObservationFailed"),
            ReconcileError::Status(_) | ReconcileError::NoNamespace(_) => None,
        }
    }

    /// Only a change of the spec can cure the failure: retrying sooner is useless.
    pub fn needs_spec_change(&self) -> bool {
        matches!(self, ReconcileError::Invalid(_))
    }
}

/// Server-side applies `obj` with the operator's field manager, and logs
/// one INFO line when that created or changed it (`existing` holds the
/// versions read before).
pub async fn apply<K>(
    client: &kube::Client,
    namespace: &str,
    obj: &K,
    existing: &ExistingVersions,
) -> Result<K, ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope> + Serialize + DeserializeOwned + Clone + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = obj.meta().name.clone().unwrap_or_default();
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let applied = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await
        .map_err(|source| ApplyError::Apply {
            kind: kind.clone(),
            name: name.clone(),
            source,
        })?;
    let before = existing.get(&(kind.clone(), name.clone()));
    match before {
        None => tracing::info!(%namespace, %kind, %name, "created"),
        Some(v) if applied.meta().resource_version.as_ref() != Some(v) => {
            tracing::info!(%namespace, %kind, %name, "updated");
        }
        Some(_) => {}
    }
    Ok(applied)
}

async fn patch_status(
    api: &Api<KafkaCluster>,
    name: &str,
    status: &KafkaClusterStatus,
) -> Result<(), StatusError> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map(|_| ())
    .map_err(|source| StatusError::Patch {
        name: name.to_owned(),
        source,
    })
}

/// Reconciles one KafkaCluster. Every failure is written to the status
/// (Ready=False, Degraded=True with a reason and a message naming the
/// field) and published as a Warning event before it is retried.
pub async fn reconcile(kc: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let _timer = ctx.metrics.reconcile_started(CLUSTER_CONTROLLER);
    match run(&kc, &ctx).await {
        Ok(action) => {
            ctx.reset_backoff(&backoff_key(&*kc));
            Ok(action)
        }
        Err(error) => {
            report_failure(&kc, &ctx, &error).await;
            if error.needs_spec_change() {
                ctx.metrics
                    .reconcile_failed(CLUSTER_CONTROLLER, error.metric_label());
                tracing::warn!(
                    namespace = %kc.namespace().unwrap_or_default(),
                    cluster = %kc.name_any(),
                    %error,
                    "cluster cannot be applied until its spec changes"
                );
                // A spec change triggers a reconcile anyway; re-check rarely.
                Ok(Action::requeue(Duration::from_secs(300)))
            } else {
                Err(error)
            }
        }
    }
}

async fn run(kc: &KafkaCluster, ctx: &Context) -> Result<Action, ReconcileError> {
    let name = kc.name_any();
    let namespace = kc
        .namespace()
        .ok_or_else(|| ReconcileError::NoNamespace(name.clone()))?;
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let previous = kc.status.as_ref();

    if crate::crd::is_paused(kc) {
        let status = status::paused(kc.metadata.generation, previous, &now_rfc3339());
        if previous != Some(&status) {
            patch_status(&api, &name, &status).await?;
            tracing::info!(%namespace, cluster = %name, "reconciliation paused by annotation");
            events::publish(
                ctx,
                kc,
                EventType::Normal,
                crate::crd::PAUSED_REASON,
                "Reconcile",
                "Reconciliation is paused; remove the annotation to resume".to_owned(),
            )
            .await;
        }
        // Removing the annotation is a change to the object: it triggers a reconcile.
        return Ok(Action::await_change());
    }

    // 1. validate (pure): nothing is read or written for a spec that cannot run
    let mut validated = validate::validate(kc, &ctx.settings)?;

    // 2. dereference; a running cluster keeps its voters
    let mut observed = dereference::observe(&ctx.client, &namespace, &name).await?;
    validated.keep_voters(observed.rendered_voters);
    scale::voters::check_scale(
        &validated,
        observed.running_replicas,
        observed.rendered_voters,
    )?;

    // 3. build (pure)
    // A scale down drains the leaving brokers first: until they hold
    // nothing, the StatefulSet (and the status) keeps them.
    let mut drain_step = None;
    let shrinking = observed
        .running_replicas
        .filter(|r| *r > validated.replicas);
    if let Some(running) = shrinking
        && let Drain::Draining(step) = drain::drain(ctx, kc, &validated, &observed, running).await?
    {
        validated.replicas = running;
        drain_step = Some(step);
    }
    let desired = build::desired(&validated, observed.storage.claim_template_size.as_deref());

    // 4. apply, ConfigMap before the StatefulSet that mounts it; never over
    //    an object of the same name that this cluster does not own
    let client = &ctx.client;
    let existing = ownership::check(client, &namespace, &desired, &validated.uid).await?;
    apply(client, &namespace, &desired.service_account, &existing).await?;
    apply(client, &namespace, &desired.config_map, &existing).await?;
    apply(client, &namespace, &desired.headless_service, &existing).await?;
    apply(client, &namespace, &desired.bootstrap_service, &existing).await?;
    apply(client, &namespace, &desired.stateful_set, &existing).await?;
    apply(
        client,
        &namespace,
        &desired.pod_disruption_budget,
        &existing,
    )
    .await?;
    node_id::label_pods(
        client,
        &namespace,
        &observed.pods,
        &stateful_set_name(&name),
    )
    .await?;
    storage::expand_claims(
        client,
        &namespace,
        &observed.storage,
        &validated.storage_size,
    )
    .await?;

    // 5. status from what is observed: Pods, then the brokers themselves
    observed.brokers = dereference::observe_brokers(
        &observed.ready_pod_addresses(validated.kafka_port),
        Duration::from_secs(5),
    )
    .await;
    // dynamic broker settings, applied live once the brokers answer
    let dynamic_applied = apply_dynamic_config(ctx, kc, &validated, &observed).await;
    // 6. rolling restart of the Pods that run an outdated template
    let roll = rollout::roll(ctx, kc, &validated, &desired.stateful_set, &mut observed).await?;
    let now = now_rfc3339();
    let mut status = status::compute(&validated, &observed, &roll, previous, &now);
    if let Some(applied) = &dynamic_applied {
        status.dynamic_config = applied.clone();
    }
    // 7. partition moves of a scale, once no broker rolls
    let scaling = if drain_step.is_some() {
        drain_step
    } else if matches!(roll, Step::Idle { .. }) {
        let running = observed.running_replicas;
        scale::scale(ctx, kc, &validated, &observed, running).await
    } else {
        None
    };
    if let Some(step) = &scaling {
        status::show_scale(&mut status, step, previous, validated.generation, &now);
    }
    let moving = scaling.as_ref().is_some_and(|s| {
        matches!(
            s,
            ScaleStep::Submit(..) | ScaleStep::ElectLeaders(..) | ScaleStep::Wait(_)
        )
    });
    let was_ready = previous
        .and_then(|p| find(&p.conditions, READY))
        .map(|c| c.status);
    let ready = find(&status.conditions, READY).map(|c| c.status);
    if previous != Some(&status) {
        patch_status(&api, &name, &status).await?;
    }
    let is_ready = ready == Some(ConditionStatus::True);
    ctx.metrics
        .set_cluster_state(&namespace, &name, is_ready, status.ready_brokers);
    if is_ready && was_ready != ready {
        tracing::info!(%namespace, cluster = %name, brokers = status.ready_brokers, "cluster ready");
        events::publish(
            ctx,
            kc,
            EventType::Normal,
            "ClusterReady",
            "Reconcile",
            format!("{} brokers ready", status.ready_brokers),
        )
        .await;
    }
    if let Step::Stuck(waiting) = &roll {
        let degraded = find(&status.conditions, DEGRADED).map(|c| c.message.as_str());
        let before = previous
            .and_then(|p| find(&p.conditions, DEGRADED))
            .map(|c| c.message.as_str());
        if degraded != before {
            tracing::warn!(%namespace, cluster = %name, broker = ?waiting.broker, message = %waiting.message, "rolling update stopped");
            events::publish(
                ctx,
                kc,
                EventType::Warning,
                status::ROLLING_UPDATE_STUCK,
                "RestartBroker",
                waiting.message.clone(),
            )
            .await;
        }
    }
    if moving {
        // A move finishing triggers nothing: poll it.
        return Ok(Action::requeue(Duration::from_secs(3)));
    }
    Ok(Action::requeue(match roll {
        // Pod changes trigger a reconcile too; this re-checks the bound and the ISRs.
        Step::Restart { .. } | Step::Wait(_) => Duration::from_secs(5),
        Step::Stuck(_) => Duration::from_secs(30),
        Step::Idle { .. } if is_ready && dynamic_applied.is_some() => ctx.settings.cluster_resync,
        Step::Idle { .. } => Duration::from_secs(10),
    }))
}

/// Sets the dynamic settings of `spec.config` as the cluster-wide broker
/// defaults through a ready broker, with an event saying what changed;
/// the settings now in force, or `None` while that is still to be done (no
/// broker answered, or it failed).
async fn apply_dynamic_config(
    ctx: &Context,
    kc: &KafkaCluster,
    validated: &validate::ValidatedCluster,
    observed: &dereference::ObservedCluster,
) -> Option<BTreeMap<String, String>> {
    let addresses = observed.ready_pod_addresses(validated.kafka_port);
    let (_, address) = addresses.first()?;
    let applied = dynamic_config::dynamic_only(&validated.broker_config);
    match dynamic_config::apply(address, &validated.broker_config).await {
        Ok(ops) if ops.is_empty() => Some(applied),
        Ok(ops) => {
            let summary = dynamic_config::describe(&ops);
            tracing::info!(namespace = %validated.namespace, cluster = %validated.name, %summary, "dynamic broker configs applied");
            events::publish(
                ctx,
                kc,
                EventType::Normal,
                "DynamicConfigApplied",
                "AlterBrokerConfigs",
                format!("Cluster-wide broker defaults (no restart): {summary}"),
            )
            .await;
            Some(applied)
        }
        Err(error) => {
            tracing::warn!(namespace = %validated.namespace, cluster = %validated.name, %error, "dynamic broker configs not applied yet");
            None
        }
    }
}

/// Writes `error` into the status (unless writing the status is what
/// failed) and publishes a Warning event when the message is new.
async fn report_failure(kc: &KafkaCluster, ctx: &Context, error: &ReconcileError) {
    let (Some(reason), Some(namespace)) = (error.condition_reason(), kc.namespace()) else {
        return;
    };
    let name = kc.name_any();
    let message = error.to_string();
    let previous = kc.status.as_ref();
    let status = status::failed(
        reason,
        &message,
        kc.metadata.generation,
        previous,
        &now_rfc3339(),
    );
    ctx.metrics
        .set_cluster_state(&namespace, &name, false, status.ready_brokers);
    if previous == Some(&status) {
        return;
    }
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Err(e) = patch_status(&api, &name, &status).await {
        tracing::warn!(cluster = %name, %namespace, error = %e, "writing the failure to the status failed");
    }
    let already_reported = previous
        .and_then(|p| find(&p.conditions, DEGRADED))
        .is_some_and(|c| c.status == ConditionStatus::True && c.message == message);
    if !already_reported {
        events::publish(ctx, kc, EventType::Warning, reason, "Reconcile", message).await;
    }
}
