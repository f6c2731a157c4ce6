//! The ServiceAccount broker Pods run as (no API token: brokers never call the API).

use k8s_openapi::api::core::v1::ServiceAccount;

use super::labels::{object_meta, service_account_name};
use crate::cluster::validate::ValidatedCluster;

/// Builds the ServiceAccount named after the cluster.
pub fn build(cluster: &ValidatedCluster) -> ServiceAccount {
    ServiceAccount {
        metadata: object_meta(cluster, service_account_name(&cluster.name)),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}
