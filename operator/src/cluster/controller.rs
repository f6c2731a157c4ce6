//! Wiring of the KafkaCluster controller: what triggers a reconcile, the
//! error policy, and the clean-up of a deleted cluster's metrics.

use std::{collections::BTreeSet, future::Future, sync::Arc};

use futures::{FutureExt, StreamExt};
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
    runtime::{Controller, WatchStreamExt, controller::Action, reflector::ObjectRef, watcher},
};

use super::{
    build::labels::{COMPONENT_LABEL, INSTANCE_LABEL, NAME_LABEL},
    reconcile::{ReconcileError, reconcile},
};
use crate::{
    context::{Context, backoff_key},
    crd::KafkaCluster,
    metrics::{CLUSTER_CONTROLLER, Metrics},
};

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
    let forget = forget_deleted(api::<KafkaCluster>(client, ns), ctx.metrics.clone());
    let controller = Controller::new(api::<KafkaCluster>(client, ns), watcher::Config::default())
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
        .for_each(move |result| {
            let ctx = ctx.clone();
            async move {
                match result {
                    // A requeue that outlived its cluster: the clean-up
                    // for a deletion missed while the watch was down.
                    Err(kube::runtime::controller::Error::ObjectNotFound(gone)) => {
                        if let Some(namespace) = &gone.namespace {
                            forget_cluster(&ctx.metrics, namespace, &gone.name);
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "cluster controller event"),
                    Ok(_) => {}
                }
            }
        });
    // The watch below never ends by itself: it stops with the controller.
    futures::future::select(controller.boxed(), forget.boxed()).map(|_| ())
}

/// Removes a deleted cluster's series from `/metrics` as soon as the
/// deletion is seen: a `karst_operator_cluster_ready{...} 0` left behind
/// would fire alerts forever. After a re-list (the watch was down and may
/// have missed deletions) every cluster not listed is forgotten.
async fn forget_deleted(api: Api<KafkaCluster>, metrics: Metrics) {
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut listed = BTreeSet::new();
    let key = |kc: &KafkaCluster| (kc.namespace().unwrap_or_default(), kc.name_any());
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Delete(kc)) => {
                let (namespace, name) = key(&kc);
                forget_cluster(&metrics, &namespace, &name);
            }
            Ok(watcher::Event::Init) => listed.clear(),
            Ok(watcher::Event::InitApply(kc)) => {
                let (namespace, name) = key(&kc);
                metrics.cluster_exists(&namespace, &name);
                listed.insert((namespace, name));
            }
            Ok(watcher::Event::InitDone) => metrics.retain_clusters(&listed),
            Ok(watcher::Event::Apply(kc)) => {
                let (namespace, name) = key(&kc);
                metrics.cluster_exists(&namespace, &name);
            }
            Err(_) => {}
        }
    }
}

fn forget_cluster(metrics: &Metrics, namespace: &str, cluster: &str) {
    if metrics.remove_cluster(namespace, cluster) {
        tracing::info!(%namespace, %cluster, "KafkaCluster deleted; its metrics are removed");
    }
}
