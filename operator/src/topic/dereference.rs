//! Reads what a topic reconciliation needs: its cluster, its sibling
//! KafkaTopics, the brokers' addresses, and the topic as the broker has it.

use std::time::Duration;

use karst_client::{AdminClient, ResponseError};
use kube::{Api, Client, api::ListParams};

use super::plan::ObservedTopic;
use crate::{
    cluster::dereference as cluster_dereference,
    crd::{KafkaCluster, KafkaTopic},
    events::api_error_message,
};

/// Kubernetes-side inputs of a topic reconciliation.
#[derive(Debug, Clone)]
pub struct TopicInputs {
    /// The referenced cluster, if it exists.
    pub cluster: Option<KafkaCluster>,
    /// All KafkaTopics of the namespace (for conflict detection).
    pub siblings: Vec<KafkaTopic>,
    /// `ip:port` of the cluster's ready brokers.
    pub broker_addresses: Vec<String>,
}

/// Reading from the API server failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicDereferenceError {
    /// Reading the KafkaCluster failed.
    #[error("reading KafkaCluster {name}: {}", api_error_message(.source))]
    Cluster {
        /// Cluster name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Listing KafkaTopics failed.
    #[error("listing KafkaTopics: {}", api_error_message(.0))]
    Siblings(#[source] kube::Error),
    /// Listing broker Pods failed.
    #[error(transparent)]
    Pods(#[from] cluster_dereference::DereferenceError),
}

impl TopicDereferenceError {
    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            TopicDereferenceError::Cluster { .. } => "get_cluster",
            TopicDereferenceError::Siblings(_) => "list_topics",
            TopicDereferenceError::Pods(_) => "list_pods",
        }
    }
}

/// Reads the cluster named by `topic` and what is needed to reach it.
pub async fn dereference(
    client: &Client,
    namespace: &str,
    topic: &KafkaTopic,
) -> Result<TopicInputs, TopicDereferenceError> {
    let cluster_name = &topic.spec.cluster_ref.name;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), namespace);
    let cluster =
        clusters
            .get_opt(cluster_name)
            .await
            .map_err(|source| TopicDereferenceError::Cluster {
                name: cluster_name.clone(),
                source,
            })?;
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), namespace);
    let siblings = topics
        .list(&ListParams::default())
        .await
        .map_err(TopicDereferenceError::Siblings)?
        .items;
    let broker_addresses = match &cluster {
        Some(c) => cluster_dereference::observe(client, namespace, cluster_name)
            .await?
            .ready_addresses(c.spec.listeners.kafka_port),
        None => Vec::new(),
    };
    Ok(TopicInputs {
        cluster,
        siblings,
        broker_addresses,
    })
}

/// Connects an admin client to the first reachable broker.
pub async fn connect(
    addresses: &[String],
    timeout: Duration,
) -> Result<AdminClient, karst_client::Error> {
    let mut last = None;
    for addr in addresses {
        match tokio::time::timeout(timeout, AdminClient::connect(addr.clone())).await {
            Ok(Ok(admin)) => return Ok(admin.with_timeout(timeout)),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                last = Some(karst_client::Error::Timeout {
                    api: karst_client::kafka_protocol::messages::ApiKey::ApiVersions,
                    millis: timeout.as_millis() as u64,
                })
            }
        }
    }
    Err(last.unwrap_or(karst_client::Error::Closed))
}

/// The topic as the broker has it, `None` when it does not exist.
pub async fn observe_topic(
    admin: &AdminClient,
    name: &str,
) -> Result<Option<ObservedTopic>, karst_client::Error> {
    let Some(metadata) = admin.describe_topic(name).await? else {
        return Ok(None);
    };
    let configs = match admin.describe_topic_configs(name).await {
        Ok(configs) => configs,
        Err(e) if e.kafka_kind() == Some(ResponseError::UnknownTopicOrPartition) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(Some(ObservedTopic { metadata, configs }))
}
