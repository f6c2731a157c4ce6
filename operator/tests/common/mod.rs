//! Test harness: a real API server (../shared/k8s), the operator binary, and
//! a stand-in for the StatefulSet controller and kubelet that runs a real
//! `karst` broker process per Pod.
//!
//! The broker binary is `KARST_BIN` when set; otherwise it is built with
//! `cargo build -p karst-broker --bin karst` into the target directory this
//! test binary lives in.
#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod expect;
mod kubelet;
pub mod load;

pub use kubelet::{Kubelet, PodEvent, RUNNABLE_IMAGE_REPOSITORY, running_as_root};

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{ObjectMeta, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    process::{Child, Command},
};

/// A test's Kubernetes: a real API server with the CRDs installed, the
/// namespace `ns`, and the test kubelet running its Pods as real brokers on
/// loopback addresses `127.<octet>.0.x`.
pub async fn with_kubelet(
    api_port: u16,
    etcd_port: u16,
    ns: &str,
    octet: u8,
) -> (ApiServer, Client, Kubelet) {
    let api = ApiServer::start(api_port, etcd_port);
    let client = api.client().await;
    install_crds(&client).await;
    create_namespace(&client, ns).await;
    let kubelet = Kubelet::start(client.clone(), ns, octet, api.dir.path().join("pods"));
    (api, client, kubelet)
}

/// Polls `f` every 200 ms until it returns `Some`, panicking after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        if let Some(v) = f().await {
            // Shown with --nocapture or on failure: which wait was slow.
            if start.elapsed() > Duration::from_secs(5) {
                eprintln!("SLOW {what}: {:?}", start.elapsed());
            }
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Directory of the shared test tooling (`../shared/k8s` from the repository).
pub fn shared_k8s_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s");
    assert!(
        dir.join("start-apiserver.sh").is_file(),
        "missing {}: the operator's integration tests need ../shared/k8s beside the repository (see TOOLING.md)",
        dir.display()
    );
    dir
}

/// A running API server + etcd, stopped on drop.
pub struct ApiServer {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl ApiServer {
    /// Starts the API server on `api_port` (etcd on `etcd_port` and `etcd_port + 1`).
    pub fn start(api_port: u16, etcd_port: u16) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = shared_k8s_dir().join("start-apiserver.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .arg(api_port.to_string())
            .arg(etcd_port.to_string())
            .output()
            .expect("running start-apiserver.sh");
        assert!(
            out.status.success(),
            "start-apiserver.sh failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let kubeconfig = dir.path().join("kubeconfig");
        Self { dir, kubeconfig }
    }

    /// A client for this API server.
    pub async fn client(&self) -> Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("config");
        Client::try_from(config).expect("client")
    }

    /// Runs kubectl against this API server; returns stdout (panics on failure).
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl, returning the raw output.
    pub fn kubectl_output(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("running kubectl")
    }

    /// Runs kubectl with `stdin` as input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        for pid in ["apiserver.pid", "etcd.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join(pid)) {
                let _ = std::process::Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

/// Installs the CRDs from `crds/` and waits until they are Established.
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    for entry in std::fs::read_dir(&dir).expect("crds/") {
        let path = entry.unwrap().path();
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("karst-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {}: {e}", path.display()));
        let name = crd.name_any();
        wait_for(
            &format!("CRD {name} Established"),
            Duration::from_secs(30),
            || {
                let crds = crds.clone();
                let name = name.clone();
                async move {
                    let crd = crds.get(&name).await.ok()?;
                    crd.status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(())
                }
            },
        )
        .await;
    }
}

/// Creates a namespace.
pub async fn create_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
}

/// Applies a YAML/JSON object through kubectl-compatible server-side apply.
pub async fn apply_json<K>(
    api: &Api<K>,
    name: &str,
    obj: serde_json::Value,
) -> Result<K, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply("karst-tests").force(),
        &Patch::Apply(obj),
    )
    .await
}

/// The operator binary running as a child process, killed on drop.
pub struct Operator {
    pub child: Child,
    pub http: SocketAddr,
    pub identity: String,
}

impl Operator {
    /// Starts `karst-operator run` against `api`.
    pub fn spawn(api: &ApiServer, identity: &str, http_port: u16, extra: &[&str]) -> Self {
        let http = SocketAddr::from(([127, 0, 0, 1], http_port));
        let log =
            std::fs::File::create(api.dir.path().join(format!("operator-{identity}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_karst-operator"))
            .arg("run")
            .args(["--http-addr", &http.to_string(), "--identity", identity])
            .args([
                "--lease-duration-seconds",
                "4",
                "--lease-grace-seconds",
                "2",
            ])
            .args(extra)
            .env("KUBECONFIG", &api.kubeconfig)
            .env("KARST_OPERATOR_LOG", "info,karst_operator=debug,kube=warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawning karst-operator");
        Self {
            child,
            http,
            identity: identity.to_owned(),
        }
    }

    /// `/metrics` text, if the server answers.
    pub async fn metrics(&self) -> Option<String> {
        http_get(self.http, "/metrics")
            .await
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body)
    }

    /// Value of a metric line (exact name with labels), if present.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await?;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub async fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().expect("operator running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .expect("operator did not exit after SIGTERM")
            .expect("wait")
    }

    /// Sends SIGKILL.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill operator");
    }
}

/// A minimal HTTP/1.0 GET; returns status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}
