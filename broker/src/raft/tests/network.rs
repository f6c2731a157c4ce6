//! The controller listener under bad input.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

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
    closed_after(&cluster, leader, b"GET / HTTP/1.1\r\n\r\n").await;

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
