//! The StatefulSet controller and kubelet, played by the test: Pods from
//! StatefulSets, one real `karst` process per Pod, readiness from `/readyz`.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::Pod};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use tokio::process::{Child, Command};

use super::http_get;

/// Path of the `karst` broker binary (built once per test binary).
pub fn broker_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("KARST_BIN") {
            return PathBuf::from(bin);
        }
        // CARGO_BIN_EXE_* lives in <target>/<profile>/; build the broker into the same target dir.
        let operator = Path::new(env!("CARGO_BIN_EXE_karst-operator"));
        let profile_dir = operator.parent().expect("profile dir");
        let target_dir = profile_dir.parent().expect("target dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "karst-broker", "--bin", "karst"])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build -p karst-broker");
        assert!(status.success(), "building the karst broker failed");
        profile_dir.join("karst")
    })
    .clone()
}

/// One simulated Pod: its broker process (none when its image cannot be
/// "pulled") and address.
struct RunningPod {
    child: Option<Child>,
    ip: Ipv4Addr,
    ready: bool,
    uid: String,
    /// Seconds the broker gets after SIGTERM (the Pod's grace period).
    grace: Duration,
}

/// What the stand-in kubelet did to a Pod, in order: the history a test
/// checks a rolling restart against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodEvent {
    /// A broker process started for the Pod.
    Started(String),
    /// The Pod was reported Ready.
    Ready(String),
    /// The Pod was reported not Ready (after being Ready).
    NotReady(String),
    /// The Pod's broker exited after SIGTERM, within the Pod's grace period.
    Stopped(String),
    /// The Pod's broker outlived its grace period and was killed (SIGKILL).
    Killed(String),
}

/// The image repository the stand-in kubelet can "pull": `karst:<tag>`
/// runs the broker binary under test; any other image fails as
/// `ErrImagePull`, so a test can roll out an image that does not come up.
pub const RUNNABLE_IMAGE_REPOSITORY: &str = "karst";

fn runnable(image: Option<&str>) -> bool {
    image
        .and_then(|i| i.rsplit_once(':'))
        .is_some_and(|(repo, _)| repo == RUNNABLE_IMAGE_REPOSITORY)
}

/// Plays the StatefulSet controller and kubelet for one namespace: creates the
/// Pods each StatefulSet implies, runs a `karst` broker for each on its own
/// loopback address with the Pod's ConfigMap and env, and reports readiness
/// from the broker's `/readyz` in the Pod status.
pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
    state: Arc<Mutex<HashMap<String, Ipv4Addr>>>,
    history: Arc<Mutex<Vec<PodEvent>>>,
}

impl Kubelet {
    /// Starts the loop. Pods get addresses `127.<octet>.0.<n>`.
    pub fn start(client: Client, namespace: &str, octet: u8, work_dir: PathBuf) -> Self {
        // Build (or locate) the broker first, so a broken build fails the test here.
        let _ = broker_binary();
        let state = Arc::new(Mutex::new(HashMap::new()));
        let history = Arc::new(Mutex::new(Vec::new()));
        let ns = namespace.to_owned();
        let shared = state.clone();
        let mut node = Node {
            octet,
            work_dir,
            pods: HashMap::new(),
            addresses: HashMap::new(),
            history: history.clone(),
        };
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = kubelet_pass(&client, &ns, &mut node).await {
                    eprintln!("kubelet pass: {e}");
                }
                *shared.lock().unwrap() =
                    node.pods.iter().map(|(k, v)| (k.clone(), v.ip)).collect();
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Self {
            task,
            state,
            history,
        }
    }

    /// Everything done to Pods so far, in order.
    pub fn history(&self) -> Vec<PodEvent> {
        self.history.lock().unwrap().clone()
    }

    /// Loopback address of a running Pod.
    pub fn pod_ip(&self, pod: &str) -> Option<Ipv4Addr> {
        self.state.lock().unwrap().get(pod).copied()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        // Aborting drops the children, which are killed (kill_on_drop).
        self.task.abort();
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The node's state between passes.
struct Node {
    octet: u8,
    work_dir: PathBuf,
    pods: HashMap<String, RunningPod>,
    /// Each Pod name keeps its loopback address across re-creations: the
    /// brokers' quorum voters were resolved to it when they started, where
    /// in a cluster they would re-resolve the Pod's DNS name.
    addresses: HashMap<String, Ipv4Addr>,
    history: Arc<Mutex<Vec<PodEvent>>>,
}

impl Node {
    fn record(&self, event: PodEvent) {
        self.history.lock().unwrap().push(event);
    }
}

/// Stops a Pod's broker as a kubelet does: SIGTERM, SIGKILL after the
/// grace period; says which it took.
async fn stop(name: &str, mut running: RunningPod) -> PodEvent {
    let Some(mut child) = running.child.take() else {
        return PodEvent::Stopped(name.to_owned());
    };
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    if tokio::time::timeout(running.grace, child.wait())
        .await
        .is_err()
    {
        eprintln!(
            "kubelet: {name} did not stop within {:?}; killing it",
            running.grace
        );
        let _ = child.kill().await;
        return PodEvent::Killed(name.to_owned());
    }
    PodEvent::Stopped(name.to_owned())
}

async fn kubelet_pass(client: &Client, ns: &str, node: &mut Node) -> Result<(), BoxError> {
    let octet = node.octet;
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let cm_api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);

    // StatefulSet controller: create missing Pods.
    let mut wanted = BTreeMap::new();
    // The DNS name the headless Service gives each Pod -> the Pod.
    let mut dns_names: HashMap<String, String> = HashMap::new();
    for sts in sts_api.list(&ListParams::default()).await?.items {
        let spec = sts.spec.clone().unwrap_or_default();
        for i in 0..spec.replicas.unwrap_or(1) {
            let name = format!("{}-{i}", sts.name_any());
            wanted.insert(name.clone(), ());
            dns_names.insert(
                format!(
                    "{name}.{}.{ns}.svc.cluster.local",
                    spec.service_name.clone().unwrap_or_default()
                ),
                name.clone(),
            );
            if pod_api.get_opt(&name).await?.is_some() {
                continue;
            }
            let template = spec.template.clone();
            let mut meta = template.metadata.unwrap_or_default();
            let labels = meta.labels.get_or_insert_with(Default::default);
            labels.insert("apps.kubernetes.io/pod-index".into(), i.to_string());
            labels.insert("statefulset.kubernetes.io/pod-name".into(), name.clone());
            meta.name = Some(name.clone());
            meta.namespace = Some(ns.to_owned());
            let pod = Pod {
                metadata: meta,
                spec: template.spec,
                status: None,
            };
            pod_api.create(&PostParams::default(), &pod).await?;
        }
    }

    // StatefulSet controller, scaled down: delete the Pods above `replicas`
    // (their volumes stay, as a StatefulSet's claims do).
    for pod in pod_api.list(&ListParams::default()).await?.items {
        let owned = pod
            .labels()
            .contains_key("statefulset.kubernetes.io/pod-name");
        if owned
            && !wanted.contains_key(&pod.name_any())
            && pod.metadata.deletion_timestamp.is_none()
        {
            pod_api
                .delete(&pod.name_any(), &DeleteParams::default())
                .await?;
        }
    }

    // Kubelet: run a broker for each Pod; stop those whose Pod is gone.
    let listed = pod_api.list(&ListParams::default()).await?.items;
    let present: HashMap<String, &Pod> = listed.iter().map(|p| (p.name_any(), p)).collect();
    // Pods deleted (or deleted and re-created: another uid) lose their
    // broker, which stops before a new one starts on the same volume.
    let gone: Vec<String> = node
        .pods
        .iter()
        .filter(|(name, running)| {
            present
                .get(*name)
                .is_none_or(|p| p.uid().as_deref() != Some(running.uid.as_str()))
        })
        .map(|(name, _)| name.clone())
        .collect();
    for name in gone {
        let running = node.pods.remove(&name).expect("listed above");
        let event = stop(&name, running).await;
        node.record(event);
    }
    // Address every Pod before starting any: a broker's quorum voters are its peers.
    for pod in listed
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let next = u8::try_from(node.addresses.len() + 1).expect("fewer than 255 Pods");
        node.addresses
            .entry(pod.name_any())
            .or_insert_with(|| Ipv4Addr::new(127, octet, 0, next));
    }
    let addresses = &node.addresses;
    let resolve = |host: &str| {
        dns_names
            .get(host)
            .and_then(|pod| addresses.get(pod))
            .copied()
    };
    for pod in &listed {
        let name = pod.name_any();
        if pod.metadata.deletion_timestamp.is_some() {
            if let Some(running) = node.pods.remove(&name) {
                let event = stop(&name, running).await;
                node.record(event);
            }
            pod_api
                .delete(
                    &name,
                    &DeleteParams {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    },
                )
                .await
                .ok();
            continue;
        }
        let image = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers[0].image.clone());
        if !node.pods.contains_key(&name) {
            let ip = addresses[&name];
            let child = if runnable(image.as_deref()) {
                let dir = node.work_dir.join(&name);
                Some(start_broker(&cm_api, pod, ip, &resolve, &dir).await?)
            } else {
                None
            };
            let grace = pod
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(30);
            node.pods.insert(
                name.clone(),
                RunningPod {
                    child,
                    ip,
                    ready: false,
                    uid: pod.uid().unwrap_or_default(),
                    grace: Duration::from_secs(grace),
                },
            );
            if runnable(image.as_deref()) {
                node.record(PodEvent::Started(name.clone()));
            }
        }
        let running = node.pods.get_mut(&name).expect("inserted");
        let exited = match running.child.as_mut() {
            Some(child) => child.try_wait()?.is_some(),
            None => true,
        };
        let http_port = container_port(pod, "http").unwrap_or(9644);
        let ready = !exited
            && http_get(
                SocketAddr::new(IpAddr::V4(running.ip), http_port),
                "/readyz",
            )
            .await
            .is_some_and(|(s, _)| s == 200);
        let reported = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.type_ == "Ready" && c.status == (if ready { "True" } else { "False" })
                })
            });
        if ready != running.ready || !reported {
            let was_ready = running.ready;
            running.ready = ready;
            let status = if ready { "True" } else { "False" };
            // The container's state, as a kubelet reports an image it cannot pull.
            let state = if running.child.is_none() {
                json!({ "waiting": {
                    "reason": "ErrImagePull",
                    "message": format!("the test kubelet runs only {RUNNABLE_IMAGE_REPOSITORY}:<tag> images, not {:?}", image.unwrap_or_default()),
                } })
            } else {
                json!({ "running": {} })
            };
            let patch = json!({ "status": {
                "phase": if running.child.is_none() { "Pending" } else if exited { "Failed" } else { "Running" },
                "containerStatuses": [{
                    "name": pod.spec.as_ref().map(|s| s.containers[0].name.clone()).unwrap_or_default(),
                    "ready": ready, "restartCount": 0, "image": "", "imageID": "",
                    "state": state,
                }],
                "podIP": running.ip.to_string(),
                "podIPs": [{ "ip": running.ip.to_string() }],
                "conditions": [
                    { "type": "Ready", "status": status, "lastTransitionTime": now() },
                    { "type": "ContainersReady", "status": status, "lastTransitionTime": now() },
                ],
            }});
            pod_api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
            if ready {
                node.record(PodEvent::Ready(name.clone()));
            } else if was_ready {
                node.record(PodEvent::NotReady(name.clone()));
            }
        }
    }
    Ok(())
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap()
        .to_string()
}

fn container_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec.as_ref()?.containers[0]
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

/// Resolves the container env the way the kubelet does (fieldRefs, `$(VAR)`).
pub fn resolve_env(pod: &Pod) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let container = &pod.spec.as_ref().expect("pod spec").containers[0];
    for var in container.env.iter().flatten() {
        let value = if let Some(field) = var.value_from.as_ref().and_then(|v| v.field_ref.as_ref())
        {
            let path = field.field_path.as_str();
            if path == "metadata.name" {
                pod.name_any()
            } else if let Some(label) = path
                .strip_prefix("metadata.labels['")
                .and_then(|l| l.strip_suffix("']"))
            {
                pod.labels().get(label).cloned().unwrap_or_default()
            } else {
                panic!("unsupported fieldRef {path}")
            }
        } else {
            let mut v = var.value.clone().unwrap_or_default();
            for (k, val) in &out {
                v = v.replace(&format!("$({k})"), val);
            }
            v
        };
        out.push((var.name.clone(), value));
    }
    out
}

/// `controller.quorum.voters` with each Pod DNS name replaced by that Pod's
/// loopback address: Pod names do not resolve on the host. Only names
/// spelled exactly as the headless Service publishes them (with the
/// default `cluster.local` domain) are replaced, so a wrongly rendered name
/// stays unresolvable and the quorum never forms.
fn voters_on_loopback(voters: &str, resolve: &(dyn Fn(&str) -> Option<Ipv4Addr> + Sync)) -> String {
    voters
        .split(',')
        .map(|voter| {
            let rewritten = voter.split_once('@').and_then(|(id, endpoint)| {
                let (host, port) = endpoint.rsplit_once(':')?;
                Some(format!("{id}@{}:{port}", resolve(host)?))
            });
            rewritten.unwrap_or_else(|| voter.to_owned())
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn start_broker(
    cm_api: &Api<k8s_openapi::api::core::v1::ConfigMap>,
    pod: &Pod,
    ip: Ipv4Addr,
    resolve: &(dyn Fn(&str) -> Option<Ipv4Addr> + Sync),
    dir: &Path,
) -> Result<Child, BoxError> {
    let spec = pod.spec.as_ref().ok_or("pod without spec")?;
    let container = &spec.containers[0];
    // Mount the ConfigMap volume where the container expects it.
    let cm_name = spec
        .volumes
        .iter()
        .flatten()
        .find_map(|v| v.config_map.as_ref().map(|c| c.name.clone()))
        .ok_or("pod without ConfigMap volume")?;
    let cm = cm_api.get(&cm_name).await?;
    let config_dir = dir.join("config");
    std::fs::create_dir_all(&config_dir)?;
    for (k, v) in cm.data.iter().flatten() {
        std::fs::write(config_dir.join(k), v)?;
    }
    let mut command = container
        .command
        .clone()
        .ok_or("container without command")?;
    // The kubelet expands `$(VAR)` in the command from the container's env;
    // then the container's paths point into its volumes: point them at the test dir.
    let env = resolve_env(pod);
    for arg in command.iter_mut() {
        for (k, v) in &env {
            *arg = arg.replace(&format!("$({k})"), v);
        }
        if let Some(file) = arg.strip_prefix("/etc/karst/") {
            *arg = config_dir.join(file).to_string_lossy().into_owned();
        }
    }
    let kafka_port = container_port(pod, "kafka").ok_or("no kafka port")?;
    let http_port = container_port(pod, "http").ok_or("no http port")?;
    let mut listeners = format!("PLAINTEXT://{ip}:{kafka_port}");
    let mut quorum_overrides = Vec::new();
    if let Some(controller_port) = container_port(pod, "controller") {
        listeners.push_str(&format!(",CONTROLLER://{ip}:{controller_port}"));
        let voters = cm
            .data
            .iter()
            .flatten()
            .flat_map(|(_, file)| file.lines())
            .find_map(|l| l.strip_prefix("controller.quorum.voters="))
            .ok_or("a controller port but no controller.quorum.voters")?;
        quorum_overrides.extend([
            "--override".to_owned(),
            format!(
                "controller.quorum.voters={}",
                voters_on_loopback(voters, resolve)
            ),
        ]);
    }
    let log = std::fs::File::create(dir.join("broker.log"))?;
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let mut cmd = Command::new(broker_binary());
    run_as_pod_user(&mut cmd, spec, dir, &data_dir)?;
    // The broker refuses unknown KARST_* variables; pass only the Pod's env.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("KARST_")) {
        cmd.env_remove(key);
    }
    cmd.args(&command[1..])
        .args(["--override", &format!("listeners={listeners}")])
        .args(&quorum_overrides)
        .args([
            "--override",
            &format!("advertised.listeners=PLAINTEXT://{ip}:{kafka_port}"),
        ])
        .args([
            "--override",
            &format!("karst.http.listener={ip}:{http_port}"),
        ])
        .args(["--override", &format!("log.dirs={}", data_dir.display())])
        .envs(resolve_env(pod))
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    Ok(cmd.spawn()?)
}

/// Applies the Pod's security context as a kubelet does, where this process
/// can (it runs as root, as CI does): the volume is group-owned by `fsGroup`
/// with the setgid bit, and the broker runs as `runAsUser`/`runAsGroup`.
/// (A read-only root filesystem is not emulated: the broker runs on the
/// host's.) Not root: the broker runs as this process's user.
fn run_as_pod_user(
    cmd: &mut Command,
    spec: &k8s_openapi::api::core::v1::PodSpec,
    pod_dir: &Path,
    data_dir: &Path,
) -> std::io::Result<()> {
    use std::os::unix::fs::{PermissionsExt, chown};
    let Some(sc) = spec.security_context.as_ref() else {
        return Ok(());
    };
    if !running_as_root() {
        return Ok(());
    }
    let id = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
    if let Some(group) = id(sc.fs_group) {
        chown(data_dir, Some(0), Some(group))?;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o2770))?;
    }
    // The pod's user must reach its directories (the test's temp dir is 0700).
    for dir in pod_dir
        .ancestors()
        .take_while(|d| d.starts_with(std::env::temp_dir()))
    {
        if dir == std::env::temp_dir() {
            break;
        }
        let mode = std::fs::metadata(dir)?.permissions().mode();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o711))?;
    }
    if let Some(uid) = id(sc.run_as_user) {
        cmd.uid(uid);
    }
    if let Some(gid) = id(sc.run_as_group) {
        cmd.gid(gid);
    }
    Ok(())
}

/// Whether this process runs as root (`/proc/self` belongs to the effective user).
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}
