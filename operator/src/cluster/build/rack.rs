//! Rack awareness in the Pod: with `spec.rackAwareness.topologyKey`, an
//! init container (`karst-operator rack`, the operator's image) reads the
//! Pod's Node and writes `server.properties` with `broker.rack` set to the
//! Node's label into a scratch volume, which the broker then reads instead
//! of the ConfigMap's file. Only that init container gets an API token (a
//! projected volume at the standard path): the broker never calls the API.

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, Container, DownwardAPIProjection, DownwardAPIVolumeFile,
    EmptyDirVolumeSource, EnvVar, EnvVarSource, KeyToPath, ObjectFieldSelector,
    ProjectedVolumeSource, ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
};

use super::{
    config_map::{CONFIG_DIR, SERVER_PROPERTIES, pod_properties_file},
    security::container_security_context,
};
use crate::cluster::validate::ValidatedCluster;

/// Where the init container writes the properties with the rack.
pub const RACK_DIR: &str = "/etc/karst-rack";
/// The scratch volume at [`RACK_DIR`].
const RACK_VOLUME: &str = "rack";
/// The API token of the init container.
const TOKEN_VOLUME: &str = "rack-api-access";
/// Where in-cluster clients look for the token, CA and namespace.
const TOKEN_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Name of the init container.
pub const INIT_CONTAINER_NAME: &str = "rack";

/// The properties file the broker reads: the rack-aware copy with rack
/// awareness, the ConfigMap's otherwise.
pub fn broker_config_path(cluster: &ValidatedCluster) -> String {
    if cluster.rack_topology_key.is_some() {
        format!("{RACK_DIR}/{SERVER_PROPERTIES}")
    } else {
        pod_properties_file(CONFIG_DIR)
    }
}

/// The init container, with rack awareness.
pub fn init_container(cluster: &ValidatedCluster) -> Option<Container> {
    let key = cluster.rack_topology_key.as_ref()?;
    Some(Container {
        name: INIT_CONTAINER_NAME.to_owned(),
        image: Some(cluster.operator_image.clone()),
        command: Some(
            [
                "karst-operator",
                "rack",
                "--node",
                "$(NODE_NAME)",
                "--topology-key",
                key,
                "--config",
                &pod_properties_file(CONFIG_DIR),
                "--out",
                &format!("{RACK_DIR}/{SERVER_PROPERTIES}"),
            ]
            .map(str::to_owned)
            .to_vec(),
        ),
        env: Some(
            [
                ("NODE_NAME", "spec.nodeName"),
                ("POD_NAME", "metadata.name"),
            ]
            .map(|(name, path)| EnvVar {
                name: name.to_owned(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: path.to_owned(),
                        ..ObjectFieldSelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            })
            .to_vec(),
        ),
        security_context: Some(container_security_context()),
        volume_mounts: Some(vec![
            mount("config", CONFIG_DIR, true),
            mount(RACK_VOLUME, RACK_DIR, false),
            mount(TOKEN_VOLUME, TOKEN_DIR, true),
        ]),
        ..Container::default()
    })
}

/// The broker container's mount of the rack-aware properties.
pub fn broker_mounts(cluster: &ValidatedCluster) -> Vec<VolumeMount> {
    match cluster.rack_topology_key {
        Some(_) => vec![mount(RACK_VOLUME, RACK_DIR, true)],
        None => Vec::new(),
    }
}

/// The scratch volume and the init container's API token, with rack awareness.
pub fn volumes(cluster: &ValidatedCluster) -> Vec<Volume> {
    if cluster.rack_topology_key.is_none() {
        return Vec::new();
    }
    let token = VolumeProjection {
        service_account_token: Some(ServiceAccountTokenProjection {
            path: "token".to_owned(),
            expiration_seconds: Some(3607),
            ..ServiceAccountTokenProjection::default()
        }),
        ..VolumeProjection::default()
    };
    let ca = VolumeProjection {
        config_map: Some(ConfigMapProjection {
            name: "kube-root-ca.crt".to_owned(),
            items: Some(vec![KeyToPath {
                key: "ca.crt".to_owned(),
                path: "ca.crt".to_owned(),
                ..KeyToPath::default()
            }]),
            ..ConfigMapProjection::default()
        }),
        ..VolumeProjection::default()
    };
    let namespace = VolumeProjection {
        downward_api: Some(DownwardAPIProjection {
            items: Some(vec![DownwardAPIVolumeFile {
                path: "namespace".to_owned(),
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.namespace".to_owned(),
                    ..ObjectFieldSelector::default()
                }),
                ..DownwardAPIVolumeFile::default()
            }]),
        }),
        ..VolumeProjection::default()
    };
    vec![
        Volume {
            name: RACK_VOLUME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        Volume {
            name: TOKEN_VOLUME.to_owned(),
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![token, ca, namespace]),
                ..ProjectedVolumeSource::default()
            }),
            ..Volume::default()
        },
    ]
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::cluster::{build::statefulset, validate::tests::ClusterFixture};

    #[test]
    fn rack_awareness_sets_broker_rack_from_the_node_in_an_init_container() {
        let v = ClusterFixture::new("demo", 3)
            .rack("topology.kubernetes.io/zone")
            .validated();
        let sts = statefulset::build(&v, "h", "10Gi");
        let pod = sts.spec.as_ref().unwrap().template.spec.clone().unwrap();
        let init = &pod.init_containers.as_ref().unwrap()[0];
        assert_eq!(init.image.as_deref(), Some(v.operator_image.as_str()));
        assert_eq!(
            init.command.as_deref().unwrap(),
            [
                "karst-operator",
                "rack",
                "--node",
                "$(NODE_NAME)",
                "--topology-key",
                "topology.kubernetes.io/zone",
                "--config",
                "/etc/karst/$(POD_NAME).properties",
                "--out",
                "/etc/karst-rack/server.properties",
            ]
        );
        let node_name = &init.env.as_ref().unwrap()[0];
        assert_eq!(node_name.name, "NODE_NAME");
        assert_eq!(
            node_name
                .value_from
                .as_ref()
                .and_then(|v| v.field_ref.as_ref())
                .map(|f| f.field_path.as_str()),
            Some("spec.nodeName")
        );
        let broker = &pod.containers[0];
        assert_eq!(
            broker.command.as_deref().unwrap()[2],
            "/etc/karst-rack/server.properties",
            "the broker reads the copy with broker.rack"
        );
        let mounts = |c: &k8s_openapi::api::core::v1::Container| -> Vec<String> {
            c.volume_mounts
                .iter()
                .flatten()
                .map(|m| m.mount_path.clone())
                .collect()
        };
        let token_dir = "/var/run/secrets/kubernetes.io/serviceaccount".to_owned();
        assert!(
            mounts(init).contains(&token_dir),
            "the init step reads the Node"
        );
        assert!(
            !mounts(broker).contains(&token_dir),
            "the broker gets no API token"
        );
        assert!(mounts(broker).contains(&"/etc/karst-rack".to_owned()));

        let plain = statefulset::build(&ClusterFixture::new("demo", 3).validated(), "h", "10Gi");
        let pod = plain.spec.as_ref().unwrap().template.spec.clone().unwrap();
        assert!(pod.init_containers.is_none());
        assert_eq!(
            pod.containers[0].command.as_deref().unwrap()[2],
            "/etc/karst/$(POD_NAME).properties"
        );
    }
}
