//! The operator never takes over an object it does not own. Server-side
//! apply with `force` would silently rewrite a user's Service or
//! StatefulSet that happens to carry a child's name; so before anything is
//! applied, every child that already exists must be controlled by this
//! KafkaCluster (its owner reference, matched by uid), or the reconcile
//! stops with a conflict condition naming the object.

use std::{collections::BTreeMap, fmt::Debug};

use k8s_openapi::NamespaceResourceScope;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::build::DesiredCluster;
use crate::events::api_error_message;

/// A child's name is taken, or could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    /// An object with the child's name exists and is not this cluster's.
    #[error(
        "{kind} {name:?} already exists and is not owned by this KafkaCluster{}; the operator will not take it over: delete or rename it, or rename the KafkaCluster",
        owner.as_deref().map(|o| format!(" (it is controlled by {o})")).unwrap_or_default()
    )]
    NotOwned {
        /// Kind of the object.
        kind: String,
        /// Its name.
        name: String,
        /// `Kind/name` of its controller, if it has one.
        owner: Option<String>,
    },
    /// Reading the object failed.
    #[error("reading {kind} {name:?}: {}", api_error_message(.source))]
    Read {
        /// Kind of the object.
        kind: String,
        /// Its name.
        name: String,
        /// API error.
        source: kube::Error,
    },
}

impl OwnershipError {
    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            OwnershipError::NotOwned { .. } => "resource_conflict",
            OwnershipError::Read { .. } => "read_child",
        }
    }
}

/// `resourceVersion` of each child that exists, by `(kind, name)`: after
/// an apply, a new version means the apply changed something (worth one
/// INFO line), the same one means it was a no-op.
pub type ExistingVersions = BTreeMap<(String, String), String>;

/// Checks that every object of `desired` is absent or controlled by the
/// KafkaCluster whose uid is `owner_uid`.
pub async fn check(
    client: &Client,
    namespace: &str,
    desired: &DesiredCluster,
    owner_uid: &str,
) -> Result<ExistingVersions, OwnershipError> {
    let mut existing = ExistingVersions::new();
    check_one(
        client,
        namespace,
        &desired.service_account,
        owner_uid,
        &mut existing,
    )
    .await?;
    check_one(
        client,
        namespace,
        &desired.config_map,
        owner_uid,
        &mut existing,
    )
    .await?;
    check_one(
        client,
        namespace,
        &desired.headless_service,
        owner_uid,
        &mut existing,
    )
    .await?;
    check_one(
        client,
        namespace,
        &desired.bootstrap_service,
        owner_uid,
        &mut existing,
    )
    .await?;
    check_one(
        client,
        namespace,
        &desired.stateful_set,
        owner_uid,
        &mut existing,
    )
    .await?;
    check_one(
        client,
        namespace,
        &desired.pod_disruption_budget,
        owner_uid,
        &mut existing,
    )
    .await?;
    Ok(existing)
}

async fn check_one<K>(
    client: &Client,
    namespace: &str,
    child: &K,
    owner_uid: &str,
    existing_versions: &mut ExistingVersions,
) -> Result<(), OwnershipError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let kind = K::kind(&()).into_owned();
    let name = child.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let existing = api
        .get_metadata_opt(&name)
        .await
        .map_err(|source| OwnershipError::Read {
            kind: kind.clone(),
            name: name.clone(),
            source,
        })?;
    let Some(existing) = existing else {
        return Ok(());
    };
    let controller = existing
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    match controller {
        Some(r) if r.uid == owner_uid => {
            if let Some(version) = existing.metadata.resource_version {
                existing_versions.insert((kind, name), version);
            }
            Ok(())
        }
        other => Err(OwnershipError::NotOwned {
            kind,
            name,
            owner: other.map(|r| format!("{}/{}", r.kind, r.name)),
        }),
    }
}
