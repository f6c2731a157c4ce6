//! `karst-operator rack`, the init step of rack-aware broker Pods, run as
//! the Pod runs it. The test API server serves no Nodes, so a stand-in
//! answers the one request the step makes (`GET /api/v1/nodes/NAME`) over
//! plain HTTP; everything else (kubeconfig, file in, file out, exit status
//! and message) is the real binary's.

use std::{collections::BTreeMap, path::Path, process::Output};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

const ZONE: &str = "topology.kubernetes.io/zone";

/// Serves `nodes` (name -> labels) until the test ends; 403 for the node
/// `forbidden` (no RBAC), 404 for any other.
async fn serve_nodes(nodes: BTreeMap<&'static str, serde_json::Value>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&head);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let name = path.strip_prefix("/api/v1/nodes/").unwrap_or("");
            let (status, body) = match nodes.get(name) {
                _ if name == "forbidden" => (
                    "403 Forbidden",
                    json!({ "apiVersion": "v1", "kind": "Status", "status": "Failure",
                            "reason": "Forbidden", "code": 403,
                            "message": format!("nodes \"{name}\" is forbidden: User \"system:serviceaccount:ns:demo-broker\" cannot get resource \"nodes\"") }),
                ),
                Some(labels) => (
                    "200 OK",
                    json!({ "apiVersion": "v1", "kind": "Node",
                            "metadata": { "name": name, "labels": labels } }),
                ),
                None => (
                    "404 Not Found",
                    json!({ "apiVersion": "v1", "kind": "Status", "status": "Failure",
                            "reason": "NotFound", "code": 404,
                            "message": format!("nodes \"{name}\" not found") }),
                ),
            };
            let body = body.to_string();
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

fn run_rack(dir: &Path, server: &str, node: &str) -> Output {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\"}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_karst-operator"))
        .args(["rack", "--topology-key", ZONE])
        .arg("--config")
        .arg(dir.join("server.properties"))
        .arg("--out")
        .arg(dir.join("out.properties"))
        .env("NODE_NAME", node)
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .expect("running karst-operator rack")
}

#[tokio::test]
async fn the_init_step_writes_the_nodes_zone_as_broker_rack_or_fails_naming_why() {
    let server = serve_nodes(BTreeMap::from([
        (
            "node-a",
            json!({ ZONE: "zone-b", "kubernetes.io/hostname": "node-a" }),
        ),
        ("node-c", json!({ "kubernetes.io/hostname": "node-c" })),
    ]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("server.properties"),
        "listeners=PLAINTEXT://0.0.0.0:9092\n",
    )
    .unwrap();

    let dir_path = dir.path().to_owned();
    let ok = {
        let server = server.clone();
        tokio::task::spawn_blocking(move || run_rack(&dir_path, &server, "node-a"))
            .await
            .unwrap()
    };
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let written = std::fs::read_to_string(dir.path().join("out.properties")).unwrap();
    let lines: Vec<&str> = written.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        ["listeners=PLAINTEXT://0.0.0.0:9092", "broker.rack=zone-b"]
    );

    for (node, expected) in [
        (
            "node-c",
            "node \"node-c\" has no label \"topology.kubernetes.io/zone\"",
        ),
        (
            "node-x",
            "reading node \"node-x\": nodes \"node-x\" not found",
        ),
    ] {
        let dir_path = dir.path().to_owned();
        let server = server.clone();
        let failed = tokio::task::spawn_blocking(move || run_rack(&dir_path, &server, node))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(!failed.status.success(), "{node} succeeded");
        assert!(stderr.contains(expected), "{node}: {stderr}");
    }
}
