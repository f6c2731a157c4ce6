//! Growing broker volumes. A StatefulSet's claim templates cannot change,
//! so a larger `spec.storage.size` is applied to the existing
//! PersistentVolumeClaims themselves (the StorageClass must allow volume
//! expansion; the API server refuses otherwise, and the refusal becomes the
//! cluster's condition). Shrinking is refused earlier, by a CEL rule.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::{dereference::ObservedStorage, quantity, reconcile::ApplyError};

/// The claims smaller than `size`, by name.
pub fn claims_to_expand<'a>(storage: &'a ObservedStorage, size: &str) -> Vec<&'a str> {
    let Some(wanted) = quantity::value(size) else {
        return Vec::new();
    };
    storage
        .claims
        .iter()
        .filter(|(_, current)| quantity::value(current).is_some_and(|c| c < wanted))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Asks for `size` on every claim smaller than it.
pub async fn expand_claims(
    client: &Client,
    namespace: &str,
    storage: &ObservedStorage,
    size: &str,
) -> Result<(), ApplyError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    for claim in claims_to_expand(storage, size) {
        let patch = json!({ "spec": { "resources": { "requests": { "storage": size } } } });
        api.patch(claim, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| ApplyError::ExpandClaim {
                claim: claim.to_owned(),
                size: size.to_owned(),
                source,
            })?;
        tracing::info!(%namespace, %claim, %size, "expanded a broker volume claim");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_smaller_claims_are_expanded() {
        let storage = ObservedStorage {
            claim_template_size: Some("10Gi".into()),
            claims: vec![
                ("data-demo-0".into(), "10Gi".into()),
                ("data-demo-1".into(), "20Gi".into()),
                ("data-demo-2".into(), "21474836480".into()),
                ("data-demo-3".into(), "15G".into()),
            ],
        };
        assert_eq!(
            claims_to_expand(&storage, "20Gi"),
            ["data-demo-0", "data-demo-3"]
        );
        assert!(claims_to_expand(&storage, "5Gi").is_empty());
    }
}
