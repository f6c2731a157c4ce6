//! Typed admin helpers over [`Connection`]: the requests the operator issues
//! to create, grow, reconfigure and delete topics, to observe the cluster,
//! and to move partitions and their leadership.

mod cluster;
mod configs;
mod reassignments;
mod topics;

use std::time::Duration;

use kafka_protocol::{
    messages::{ApiKey, TopicName},
    protocol::{Request, StrBytes},
};
use tokio::sync::Mutex;

pub use self::cluster::{
    BrokerMetadata, ClusterDescription, ClusterMetadata, PartitionMetadata, TopicMetadata,
};
pub use self::configs::{AlterConfigOp, ConfigEntry, ConfigSource};
pub use self::reassignments::{
    ElectionType, OngoingReassignment, PartitionOutcome, TopicPartition,
};
pub use self::topics::{CreatedTopic, NewTopic};
use crate::{
    connection::Connection,
    error::{Error, Result},
};

/// Admin client over one bootstrap connection, reconnecting after transport errors.
///
/// Methods take `&self`; requests are serialised on the one connection.
#[derive(Debug)]
pub struct AdminClient {
    bootstrap: String,
    timeout: Duration,
    connection: Mutex<Option<Connection>>,
}

impl AdminClient {
    /// Connects to `bootstrap` (`host:port`) now, so an unreachable broker fails early.
    pub async fn connect(bootstrap: impl Into<String>) -> Result<Self> {
        let client = Self::lazy(bootstrap);
        *client.connection.lock().await =
            Some(Connection::connect(client.bootstrap.as_str()).await?);
        Ok(client)
    }

    /// Creates a client that connects on first use.
    pub fn lazy(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            timeout: Duration::from_secs(30),
            connection: Mutex::new(None),
        }
    }

    /// Sets the per-request deadline (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bootstrap address.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Sends any request at the negotiated version. `build` receives that version
    /// because some fields differ between versions (e.g. DeleteTopics v6 names
    /// topics differently). Transport errors drop the connection; the next call reconnects.
    pub async fn send<R: Request>(
        &self,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(i16, R::Response)> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| Error::UnknownApiKey(R::KEY))?;
        let mut guard = self.connection.lock().await;
        let deadline = self.timeout;
        let result = tokio::time::timeout(deadline, async {
            if guard.is_none() {
                *guard = Some(Connection::connect(self.bootstrap.as_str()).await?);
            }
            let conn = guard.as_mut().expect("connected above");
            let version = conn.negotiated_version::<R>()?;
            let response = conn.send(build(version), Some(version)).await?;
            Ok((version, response))
        })
        .await
        .unwrap_or(Err(Error::Timeout {
            api,
            millis: deadline.as_millis() as u64,
        }));
        if result.as_ref().is_err_and(Error::is_transport) {
            *guard = None;
        }
        result
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}
