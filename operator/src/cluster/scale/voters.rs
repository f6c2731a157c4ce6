//! Which scales the voter set allows. The brokers cannot change their
//! voters, so a running cluster keeps the voter count it was rendered with
//! and a scale that would need other voters is refused before anything is
//! applied.

use crate::cluster::{
    quorum,
    validate::{ValidatedCluster, ValidationError},
};

impl ValidatedCluster {
    /// Keeps the voter count a running cluster was rendered with
    /// (`rendered`, from its ConfigMap), whatever `spec.replicas` now says:
    /// the brokers cannot change their voter set. `None` (nothing rendered,
    /// or one broker in embedded mode) keeps the new-cluster rule.
    pub fn keep_voters(&mut self, rendered: Option<i32>) {
        if let (Some(voters), Some(_)) = (rendered, self.quorum.as_ref()) {
            self.quorum = Some(quorum::with_voters(
                self.pod_naming(),
                &self.uid,
                voters,
                self.controller_port,
            ));
        }
    }
}

/// Refuses a change of `spec.replicas` once the StatefulSet exists
/// (`running` is its replica count) that would change the voter set
/// (`rendered_voters`, what its ConfigMap holds): growing
/// from one broker, which runs without a quorum, or shrinking below the
/// voters. What the brokers hold is checked before a drain
/// ([`super::drain::refusal`]).
pub fn check_scale(
    cluster: &ValidatedCluster,
    running: Option<i32>,
    rendered_voters: Option<i32>,
) -> Result<(), ValidationError> {
    let Some(running) = running.filter(|r| *r != cluster.replicas) else {
        return Ok(());
    };
    let refuse = |why: String| {
        Err(ValidationError::ScalingRefused {
            running,
            wanted: cluster.replicas,
            why,
        })
    };
    let voters = rendered_voters.unwrap_or(1);
    if running == 1 {
        return refuse(
            "a one-broker cluster runs the broker's embedded single-node mode, without a metadata quorum that other brokers could join".to_owned(),
        );
    }
    if cluster.replicas < voters {
        return refuse(format!(
            "brokers 0 to {} are the {voters} voters of the metadata quorum, which cannot change, so at least {voters} brokers are needed",
            voters - 1
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::validate::tests::ClusterFixture;

    #[test]
    fn scaling_that_would_change_the_voters_is_refused_naming_why() {
        let v = ClusterFixture::new("demo", 3).validated();
        let q = v.quorum.as_ref().expect("three brokers: a quorum");
        assert_eq!((q.cluster_id.as_str(), q.controller_port), ("uid-1", 9093));
        assert!(ClusterFixture::new("demo", 1).validated().quorum.is_none());
        assert_eq!(check_scale(&v, None, None), Ok(()));
        assert_eq!(check_scale(&v, Some(3), Some(3)), Ok(()));
        let grown = ClusterFixture::new("demo", 5).validated();
        assert_eq!(
            check_scale(&grown, Some(3), Some(3)),
            Ok(()),
            "new brokers join as brokers only"
        );
        let err = check_scale(&v, Some(1), None).unwrap_err();
        assert_eq!(err.metric_label(), "scaling_refused");
        assert!(
            err.to_string().contains("embedded single-node mode"),
            "{err}"
        );

        let mut legacy = ClusterFixture::new("demo", 4).validated();
        legacy.keep_voters(Some(5));
        let err = check_scale(&legacy, Some(5), Some(5)).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "spec.replicas: the cluster runs 5 brokers and 4 were asked for; brokers 0 to 4 are the 5 voters"
            ),
            "{err}"
        );
        let mut one = ClusterFixture::new("demo", 1).validated();
        one.keep_voters(Some(3));
        assert!(one.quorum.is_none(), "one broker never renders a quorum");
        assert!(
            check_scale(&one, Some(3), Some(3))
                .unwrap_err()
                .to_string()
                .contains("3 voters")
        );
        let down = ClusterFixture::new("demo", 4).validated();
        assert_eq!(
            check_scale(&down, Some(5), Some(3)),
            Ok(()),
            "drained first"
        );
    }
}
