//! Automatic preferred-leader balancing (`auto.leader.rebalance.enable`):
//! every `leader.imbalance.check.interval.seconds` the active controller
//! elects preferred leaders for the brokers whose imbalance exceeds
//! `leader.imbalance.per.broker.percentage`, as Kafka's controller does.
//! After a broker restarts, the partitions it led stay with their
//! failover leaders until this (or an ElectLeaders) moves them back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::channel::ControllerChannel;
use super::election::{ElectionType, imbalanced_partitions};
use crate::config::BrokerConfig;
use crate::metadata::MetadataStore;

/// Runs until shutdown on a controller node; acts only while it is the
/// active controller. Does nothing with `auto.leader.rebalance.enable=false`.
pub async fn run_leader_balancing(
    controller: ControllerChannel,
    metadata: Arc<MetadataStore>,
    config: Arc<BrokerConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    if !config.auto_leader_rebalance_enable {
        return;
    }
    let interval = Duration::from_millis(config.leader_imbalance_check_interval_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if controller.active_controller() != config.node_id {
            continue;
        }
        let image = metadata.image();
        let partitions =
            imbalanced_partitions(&image, config.leader_imbalance_per_broker_percentage);
        if partitions.is_empty() {
            continue;
        }
        tracing::info!(
            count = partitions.len(),
            "moving leadership back to preferred replicas (auto.leader.rebalance.enable)"
        );
        match controller
            .elect_leaders(ElectionType::Preferred, Some(partitions))
            .await
        {
            Ok(outcomes) => {
                for ((topic, partition), outcome) in outcomes {
                    if let Err(error) = outcome {
                        tracing::debug!(%topic, partition, %error, "preferred election not made");
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "preferred leader balancing failed"),
        }
    }
}
