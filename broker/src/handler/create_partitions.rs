//! CreatePartitions: grow a topic (never shrink), validate-only supported.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::RequestContext;
use super::util::str_bytes;
use crate::controller::create_partition_records;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let broker = &ctx.broker;
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let assignments: Vec<Vec<i32>> = topic
                .assignments
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.broker_ids.into_iter().map(|b| b.0).collect())
                .collect();
            let outcome = broker.commit(|image| {
                let records = create_partition_records(
                    image,
                    &broker.config,
                    &name,
                    topic.count,
                    &assignments,
                )?;
                Ok((
                    if request.validate_only {
                        vec![]
                    } else {
                        records
                    },
                    (),
                ))
            });
            let result = CreatePartitionsTopicResult::default().with_name(topic.name);
            match outcome {
                Ok(_) => result,
                Err(e) => result
                    .with_error_code(e.code().code())
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
