//! Security contexts that satisfy the `restricted` Pod Security Standard:
//! a fixed non-root user, a read-only root filesystem, no privilege
//! escalation, no capabilities, the runtime's default seccomp profile.
//! `fsGroup` makes the data volume writable by that user.

use k8s_openapi::api::core::v1::{
    Capabilities, PodSecurityContext, SeccompProfile, SecurityContext,
};

/// The broker's user and group id (any non-root id works; a fixed one keeps
/// volume ownership stable across restarts and image changes).
pub const BROKER_UID: i64 = 10001;

fn runtime_default_seccomp() -> Option<SeccompProfile> {
    Some(SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        ..SeccompProfile::default()
    })
}

/// The Pod's security context: the volume is group-owned by [`BROKER_UID`].
pub fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(BROKER_UID),
        run_as_group: Some(BROKER_UID),
        fs_group: Some(BROKER_UID),
        // Only re-own the volume when its root is not already ours: a large
        // data volume is not walked on every restart.
        fs_group_change_policy: Some("OnRootMismatch".to_owned()),
        seccomp_profile: runtime_default_seccomp(),
        ..PodSecurityContext::default()
    }
}

/// The broker container's security context.
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        seccomp_profile: runtime_default_seccomp(),
        ..SecurityContext::default()
    }
}

/// The `restricted` Pod Security Standard's rules, checked here because the
/// test API server has no Pod Security admission (a cluster with
/// `pod-security.kubernetes.io/enforce=restricted` applies the same rules).
#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    use super::*;
    use crate::cluster::{build::statefulset, validate::tests::ClusterFixture};

    /// Every rule of the `restricted` profile (which includes `baseline`)
    /// that `pod` breaks, as `field: rule` lines.
    fn restricted_violations(pod: &PodSpec) -> Vec<String> {
        let mut v = Vec::new();
        let pod_sc = pod.security_context.clone().unwrap_or_default();
        for (flag, name) in [
            (pod.host_network, "hostNetwork"),
            (pod.host_pid, "hostPID"),
            (pod.host_ipc, "hostIPC"),
        ] {
            if flag == Some(true) {
                v.push(format!("spec.{name}: host namespaces are forbidden"));
            }
        }
        const ALLOWED_VOLUMES: &[&str] = &[
            "configMap",
            "csi",
            "downwardAPI",
            "emptyDir",
            "ephemeral",
            "persistentVolumeClaim",
            "projected",
            "secret",
        ];
        for volume in pod.volumes.iter().flatten() {
            let json = serde_json::to_value(volume).unwrap();
            for key in json.as_object().unwrap().keys().filter(|k| *k != "name") {
                if !ALLOWED_VOLUMES.contains(&key.as_str()) {
                    v.push(format!(
                        "spec.volumes[{}]: {key} is not allowed",
                        volume.name
                    ));
                }
            }
        }
        if pod_sc.run_as_user == Some(0) {
            v.push("spec.securityContext.runAsUser: must not be 0".into());
        }
        if pod_sc
            .seccomp_profile
            .as_ref()
            .is_some_and(|p| p.type_ == "Unconfined")
        {
            v.push("spec.securityContext.seccompProfile: Unconfined is forbidden".into());
        }
        if pod_sc.sysctls.iter().flatten().next().is_some() {
            v.push("spec.securityContext.sysctls: only the safe set is allowed".into());
        }
        let containers: Vec<&Container> = pod
            .containers
            .iter()
            .chain(pod.init_containers.iter().flatten())
            .collect();
        for c in containers {
            let at = format!("containers[{}].securityContext", c.name);
            let sc = c.security_context.clone().unwrap_or_default();
            if sc.privileged == Some(true) {
                v.push(format!("{at}.privileged: forbidden"));
            }
            if sc.allow_privilege_escalation != Some(false) {
                v.push(format!("{at}.allowPrivilegeEscalation: must be false"));
            }
            let non_root = sc.run_as_non_root.or(pod_sc.run_as_non_root);
            if non_root != Some(true) {
                v.push(format!(
                    "{at}.runAsNonRoot: must be true (here or on the Pod)"
                ));
            }
            if sc.run_as_user == Some(0) {
                v.push(format!("{at}.runAsUser: must not be 0"));
            }
            let seccomp = sc
                .seccomp_profile
                .as_ref()
                .or(pod_sc.seccomp_profile.as_ref())
                .map(|p| p.type_.as_str());
            if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
                v.push(format!(
                    "{at}.seccompProfile: RuntimeDefault or Localhost required"
                ));
            }
            let caps = sc.capabilities.clone().unwrap_or_default();
            if !caps.drop.iter().flatten().any(|d| d == "ALL") {
                v.push(format!("{at}.capabilities.drop: must include ALL"));
            }
            if caps.add.iter().flatten().any(|a| a != "NET_BIND_SERVICE") {
                v.push(format!("{at}.capabilities.add: only NET_BIND_SERVICE"));
            }
            if sc.proc_mount.as_deref().is_some_and(|m| m != "Default") {
                v.push(format!("{at}.procMount: must be Default"));
            }
            if sc
                .se_linux_options
                .as_ref()
                .is_some_and(|o| o.user.is_some() || o.role.is_some())
            {
                v.push(format!("{at}.seLinuxOptions: user and role must be unset"));
            }
            if c.ports
                .iter()
                .flatten()
                .any(|p| p.host_port.is_some_and(|h| h != 0))
            {
                v.push(format!(
                    "containers[{}].ports: hostPort is forbidden",
                    c.name
                ));
            }
        }
        v
    }

    #[test]
    fn the_broker_pod_passes_the_restricted_profile() {
        let rack_aware = ClusterFixture::new("demo", 3).rack("zone").validated();
        let sts = statefulset::build(&rack_aware, "h", "10Gi");
        let pod = sts.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.init_containers.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            restricted_violations(&pod),
            Vec::<String>::new(),
            "with the rack init container and its projected token"
        );
        let v = ClusterFixture::new("demo", 3).validated();
        let sts = statefulset::build(&v, "h", "10Gi");
        let pod = sts.spec.unwrap().template.spec.unwrap();
        assert_eq!(restricted_violations(&pod), Vec::<String>::new());
        let sc = pod.security_context.unwrap();
        assert_eq!(
            (sc.run_as_user, sc.run_as_group, sc.fs_group),
            (Some(BROKER_UID), Some(BROKER_UID), Some(BROKER_UID)),
            "a fixed non-root user whose group owns the data volume"
        );
        let container = pod.containers[0].security_context.clone().unwrap();
        assert_eq!(container.read_only_root_filesystem, Some(true));
    }

    #[test]
    fn the_checker_catches_what_the_profile_forbids() {
        let mut pod = PodSpec {
            host_network: Some(true),
            containers: vec![Container {
                name: "c".into(),
                ..Container::default()
            }],
            ..PodSpec::default()
        };
        pod.security_context = Some(PodSecurityContext {
            run_as_user: Some(0),
            ..PodSecurityContext::default()
        });
        let violations = restricted_violations(&pod).join("\n");
        for rule in [
            "hostNetwork",
            "runAsUser",
            "allowPrivilegeEscalation",
            "runAsNonRoot",
            "seccompProfile",
            "capabilities.drop",
        ] {
            assert!(
                violations.contains(rule),
                "{rule} not caught:\n{violations}"
            );
        }
    }
}
