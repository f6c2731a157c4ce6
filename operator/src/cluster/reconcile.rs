//! The KafkaCluster reconcile loop: dereference -> validate -> build ->
//! server-side apply (ConfigMap before StatefulSet) -> status.

use std::{fmt::Debug, future::Future, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    NamespaceResourceScope,
    api::{
        apps::v1::StatefulSet,
        core::v1::{ConfigMap, Pod, Service, ServiceAccount},
        policy::v1::PodDisruptionBudget,
    },
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller,
        controller::Action,
        events::{Event, EventType, Recorder},
        reflector::ObjectRef,
        watcher,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

use super::{
    build::{
        self,
        labels::{COMPONENT_LABEL, FIELD_MANAGER, INSTANCE_LABEL, NAME_LABEL},
    },
    dereference::{self, DereferenceError},
    status,
    validate::{self, ValidationError},
};
use crate::{
    context::{Context, backoff_key},
    crd::{
        KafkaCluster, KafkaClusterStatus,
        conditions::{READY, find, now_rfc3339},
    },
    metrics::CLUSTER_CONTROLLER,
};

/// Server-side apply of one child object failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server refused the apply.
    #[error("applying {kind} {name}: {source}")]
    Apply {
        /// Kind of the object.
        kind: String,
        /// Name of the object.
        name: String,
        /// API error.
        source: kube::Error,
    },
}

impl ApplyError {
    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ApplyError::Apply { .. } => "apply",
        }
    }
}

/// Writing the status failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The status patch was refused.
    #[error("patching status of KafkaCluster {name}: {source}")]
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
            ReconcileError::Apply(e) => e.metric_label(),
            ReconcileError::Status(e) => e.metric_label(),
            ReconcileError::NoNamespace(_) => "no_namespace",
        }
    }
}

/// Server-side applies `obj` with the operator's field manager.
pub async fn apply<K>(client: &kube::Client, namespace: &str, obj: &K) -> Result<K, ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope> + Serialize + DeserializeOwned + Clone + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .map_err(|source| ApplyError::Apply {
        kind: K::kind(&K::DynamicType::default()).into_owned(),
        name,
        source,
    })
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

async fn publish(
    ctx: &Context,
    kc: &KafkaCluster,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &kc.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing event failed");
    }
}

/// Reconciles one KafkaCluster.
pub async fn reconcile(kc: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let _timer = ctx.metrics.reconcile_started(CLUSTER_CONTROLLER);
    let name = kc.name_any();
    let namespace = kc
        .namespace()
        .ok_or_else(|| ReconcileError::NoNamespace(name.clone()))?;
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let previous = kc.status.as_ref();

    // 1. dereference
    let mut observed = dereference::observe(&ctx.client, &namespace, &name).await?;

    // 2. validate (pure)
    let validated = match validate::validate(&kc, &ctx.settings.default_version) {
        Ok(v) => v,
        Err(error) => return refuse_invalid(&kc, &ctx, &api, error).await,
    };

    // 3. build (pure)
    let desired = build::desired(&validated);

    // 4. apply, ConfigMap before the StatefulSet that mounts it
    let client = &ctx.client;
    apply(client, &namespace, &desired.service_account).await?;
    apply(client, &namespace, &desired.config_map).await?;
    apply(client, &namespace, &desired.headless_service).await?;
    apply(client, &namespace, &desired.bootstrap_service).await?;
    apply(client, &namespace, &desired.stateful_set).await?;
    apply(client, &namespace, &desired.pod_disruption_budget).await?;

    // 5. status from what is observed: Pods, then the brokers themselves
    observed.brokers = dereference::observe_brokers(
        &observed.ready_addresses(validated.kafka_port),
        Duration::from_secs(5),
    )
    .await;
    let status = status::compute(&validated, &observed, previous, &now_rfc3339());
    let was_ready = previous
        .and_then(|p| find(&p.conditions, READY))
        .map(|c| c.status);
    let ready = find(&status.conditions, READY).map(|c| c.status);
    if previous != Some(&status) {
        patch_status(&api, &name, &status).await?;
    }
    let is_ready = ready == Some(crate::crd::ConditionStatus::True);
    ctx.metrics
        .set_cluster_state(&namespace, &name, is_ready, status.ready_brokers);
    if is_ready && was_ready != ready {
        publish(
            &ctx,
            &kc,
            EventType::Normal,
            "ClusterReady",
            "Reconcile",
            format!("{} brokers ready", status.ready_brokers),
        )
        .await;
    }
    ctx.reset_backoff(&backoff_key(&*kc));
    Ok(Action::requeue(if is_ready {
        ctx.settings.cluster_resync
    } else {
        Duration::from_secs(10)
    }))
}

async fn refuse_invalid(
    kc: &KafkaCluster,
    ctx: &Context,
    api: &Api<KafkaCluster>,
    error: ValidationError,
) -> Result<Action, ReconcileError> {
    let name = kc.name_any();
    ctx.metrics
        .reconcile_failed(CLUSTER_CONTROLLER, error.metric_label());
    let message = error.to_string();
    let previous = kc.status.as_ref();
    let status = status::invalid(
        &message,
        "InvalidSpec",
        kc.metadata.generation,
        previous,
        &now_rfc3339(),
    );
    if previous != Some(&status) {
        patch_status(api, &name, &status).await?;
        publish(
            ctx,
            kc,
            EventType::Warning,
            "InvalidSpec",
            "Validate",
            message,
        )
        .await;
    }
    // Nothing changes until the spec does; a spec change triggers a reconcile anyway.
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(kc: Arc<KafkaCluster>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.requeue_after_failure(
        CLUSTER_CONTROLLER,
        error.metric_label(),
        &backoff_key(&*kc),
        error,
    )
}

/// Runs the KafkaCluster controller until `shutdown` resolves.
pub fn controller(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let ns = namespace.as_deref();
    let client = &ctx.client;
    let owned = watcher::Config::default().labels(&format!("{}={}", NAME_LABEL.0, NAME_LABEL.1));
    let pods = watcher::Config::default().labels(&format!(
        "{}={},{}={}",
        NAME_LABEL.0, NAME_LABEL.1, COMPONENT_LABEL.0, COMPONENT_LABEL.1
    ));
    Controller::new(api::<KafkaCluster>(client, ns), watcher::Config::default())
        .owns(api::<StatefulSet>(client, ns), owned.clone())
        .owns(api::<ConfigMap>(client, ns), owned.clone())
        .owns(api::<Service>(client, ns), owned.clone())
        .owns(api::<ServiceAccount>(client, ns), owned.clone())
        .owns(api::<PodDisruptionBudget>(client, ns), owned)
        .watches(api::<Pod>(client, ns), pods, |pod: Pod| {
            let cluster = pod.labels().get(INSTANCE_LABEL)?.clone();
            Some(ObjectRef::<KafkaCluster>::new(&cluster).within(&pod.namespace()?))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "cluster controller event");
            }
        })
}
