//! FindCoordinator: this broker coordinates every group (and would every
//! transaction) on a single node; `__consumer_offsets` is created on first use.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::group::store::ensure_offsets_topic;
use crate::handler::RequestContext;
use crate::handler::util::str_bytes;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let broker = &ctx.broker;
    let image = broker.image();
    let (host, port) = image
        .brokers
        .get(&broker.node_id)
        .map_or((String::new(), -1), |b| (b.host.clone(), b.port));
    let error = match request.key_type {
        KEY_TYPE_GROUP => ensure_offsets_topic(&broker.groups).await.err(),
        KEY_TYPE_TRANSACTION => None,
        _ => Some(ResponseError::InvalidRequest),
    };
    let code = error.map_or(0, |e| e.code());
    let (node, host) = if error.is_some() {
        (-1, String::new())
    } else {
        (broker.node_id, host)
    };
    let port = if error.is_some() { -1 } else { port };
    if ctx.version >= 4 {
        let keys: Vec<StrBytes> = request.coordinator_keys;
        let coordinators = keys
            .into_iter()
            .map(|key| {
                let invalid = request.key_type == KEY_TYPE_GROUP && key.is_empty();
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(if invalid { -1 } else { node }))
                    .with_host(str_bytes(if invalid {
                        String::new()
                    } else {
                        host.clone()
                    }))
                    .with_port(if invalid { -1 } else { port })
                    .with_error_code(if invalid {
                        ResponseError::InvalidGroupId.code()
                    } else {
                        code
                    })
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_node_id(BrokerId(node))
        .with_host(str_bytes(host))
        .with_port(port)
}
