//! The headless Service (stable per-broker DNS names, the advertised
//! listeners) and the bootstrap Service clients connect to first.

use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::labels::{bootstrap_service_name, headless_service_name, object_meta, selector_labels};
use crate::cluster::validate::ValidatedCluster;

fn ports(cluster: &ValidatedCluster, with_http: bool) -> Vec<ServicePort> {
    let mut ports = vec![ServicePort {
        name: Some("kafka".to_owned()),
        port: cluster.kafka_port,
        target_port: Some(IntOrString::String("kafka".to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }];
    if with_http {
        ports.push(ServicePort {
            name: Some("http".to_owned()),
            port: cluster.http_port,
            target_port: Some(IntOrString::String("http".to_owned())),
            protocol: Some("TCP".to_owned()),
            ..ServicePort::default()
        });
    }
    ports
}

/// The controller port, which only the brokers themselves connect to (the
/// quorum's voters are the Pods' names under the headless Service).
fn controller_port(cluster: &ValidatedCluster) -> Option<ServicePort> {
    cluster.quorum.as_ref().map(|q| ServicePort {
        name: Some(CONTROLLER_PORT_NAME.to_owned()),
        port: q.controller_port,
        target_port: Some(IntOrString::String(CONTROLLER_PORT_NAME.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    })
}

/// Name of the controller port of the container and the headless Service.
pub const CONTROLLER_PORT_NAME: &str = "controller";

/// `<cluster>-brokers`: publishes not-ready addresses so brokers find each
/// other while starting (a quorum forms before any broker is ready).
pub fn headless(cluster: &ValidatedCluster) -> Service {
    Service {
        metadata: object_meta(cluster, headless_service_name(&cluster.name)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(&cluster.name)),
            ports: Some(
                ports(cluster, true)
                    .into_iter()
                    .chain(controller_port(cluster))
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// `<cluster>`: a ClusterIP Service over ready brokers, the bootstrap address.
pub fn bootstrap(cluster: &ValidatedCluster) -> Service {
    Service {
        metadata: object_meta(cluster, bootstrap_service_name(&cluster.name)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(&cluster.name)),
            ports: Some(ports(cluster, cluster.metrics_enabled)),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The bootstrap address written to the cluster status.
pub fn bootstrap_servers(cluster: &ValidatedCluster) -> String {
    format!(
        "{}.{}.svc:{}",
        bootstrap_service_name(&cluster.name),
        cluster.namespace,
        cluster.kafka_port
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::validate::tests::ClusterFixture;

    #[test]
    fn headless_service_publishes_not_ready_brokers() {
        let s = headless(&ClusterFixture::new("demo", 3).validated());
        let spec = s.spec.unwrap();
        assert_eq!(s.metadata.name.as_deref(), Some("demo-brokers"));
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        assert_eq!(spec.selector.unwrap()["app.kubernetes.io/instance"], "demo");
        let controller = spec.ports.unwrap().into_iter().find(|p| p.port == 9093);
        assert_eq!(
            controller.and_then(|p| p.name).as_deref(),
            Some(CONTROLLER_PORT_NAME),
            "voters reach each other through the headless Service"
        );
        let single = headless(&ClusterFixture::new("demo", 1).validated());
        assert_eq!(
            single.spec.unwrap().ports.unwrap().len(),
            2,
            "no quorum, no controller port"
        );
    }

    #[test]
    fn bootstrap_service_exposes_kafka_port() {
        let v = ClusterFixture::new("demo", 3).validated();
        let s = bootstrap(&v);
        assert_eq!(s.spec.unwrap().ports.unwrap()[0].port, 9092);
        assert_eq!(bootstrap_servers(&v), "demo-bootstrap.ns1.svc:9092");
    }
}
