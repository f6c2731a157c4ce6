//! The controller listener under bad input.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::raft::network::wire::{Hello, HelloReply, read_frame, write_frame};

fn hello(cluster_id: &str) -> Vec<u8> {
    let payload = serde_json::to_vec(&Hello {
        cluster_id: cluster_id.into(),
        node_id: 99,
    })
    .unwrap();
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    frame
}

/// Sends `bytes` to node `id`'s controller port and waits for the node to
/// close the connection.
async fn closed_after(cluster: &Cluster, id: NodeId, bytes: &[u8]) {
    let voter = cluster.voters.iter().find(|v| v.id == id).unwrap();
    let mut stream = TcpStream::connect(voter.address()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 64];
    let read = within("the node to close a bad connection", stream.read(&mut buf)).await;
    // Closed (0 bytes) or reset: either way nothing was answered.
    assert!(matches!(read, Ok(0) | Err(_)), "got a reply: {read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_frame_closes_only_its_connection() {
    let cluster = Cluster::start(3, test_timing()).await;
    let leader = cluster.leader(None).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();

    let mut garbled = 5u32.to_be_bytes().to_vec();
    garbled.extend_from_slice(b"hello");
    closed_after(&cluster, follower, &garbled).await;
    closed_after(&cluster, follower, &u32::MAX.to_be_bytes()).await;
    // Before the introduction, even a frame far below the limit for Raft
    // messages is too large.
    closed_after(&cluster, follower, &4096u32.to_be_bytes()).await;
    closed_after(&cluster, leader, b"GET / HTTP/1.1\r\n\r\n").await;
    // After a proper introduction, a bad request frame closes it too.
    let mut introduced = hello(CLUSTER_ID);
    introduced.extend_from_slice(&garbled);
    let voter = cluster.voters.iter().find(|v| v.id == leader).unwrap();
    let mut stream = TcpStream::connect(voter.address()).await.unwrap();
    stream.write_all(&introduced).await.unwrap();
    let welcome: Option<HelloReply> = read_frame(&mut stream).await.unwrap();
    assert!(matches!(welcome, Some(HelloReply::Welcome)));
    let mut buf = [0u8; 8];
    assert!(matches!(stream.read(&mut buf).await, Ok(0) | Err(_)));

    // The quorum kept working through all of it.
    assert_eq!(cluster.leader(None).await, leader);
    let proposed = cluster.propose(create_topic("t")).await;
    for id in 1..=3 {
        assert!(
            cluster
                .applied(id, proposed.log_index)
                .await
                .topic("t")
                .is_some()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_of_another_cluster_is_refused_naming_ours() {
    let cluster = Cluster::start(3, test_timing()).await;
    let leader = cluster.leader(None).await;
    let voter = cluster.voters.iter().find(|v| v.id == leader).unwrap();
    let mut stream = TcpStream::connect(voter.address()).await.unwrap();
    write_frame(
        &mut stream,
        &Hello {
            cluster_id: "another-cluster".into(),
            node_id: 1,
        },
    )
    .await
    .unwrap();
    let reply: Option<HelloReply> = within("the refusal", read_frame(&mut stream))
        .await
        .unwrap();
    match reply {
        Some(HelloReply::WrongCluster { cluster_id }) => assert_eq!(cluster_id, CLUSTER_ID),
        other => panic!("expected WrongCluster, got {other:?}"),
    }
    let mut buf = [0u8; 8];
    assert!(matches!(stream.read(&mut buf).await, Ok(0) | Err(_)));
    assert_eq!(cluster.leader(None).await, leader);
}
