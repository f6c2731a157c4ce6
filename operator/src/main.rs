//! `karst-operator run` runs the controllers; `karst-operator crd` prints or
//! writes the CustomResourceDefinitions.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{Router, routing::get};
use clap::{Parser, Subcommand};
use karst_operator::{
    cluster,
    context::{Context, Settings},
    crd,
    leader::{self, LeaseSettings},
    metrics::Metrics,
    topic,
};
use kube::{Client, runtime::events::Reporter};
use tokio::sync::watch;

#[derive(Parser, Debug)]
#[command(
    name = "karst-operator",
    version,
    about = "Runs KafkaCluster and KafkaTopic resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controllers.
    Run(RunArgs),
    /// Init step of a rack-aware broker Pod: write `server.properties` with
    /// `broker.rack` set to the node's topology label.
    Rack(RackArgs),
    /// Print the CRDs as YAML, or write one file per CRD into --out.
    Crd {
        /// Directory to write into (e.g. `crds/`); stdout when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct RackArgs {
    /// The Pod's node (downward API `spec.nodeName`).
    #[arg(long, env = "NODE_NAME")]
    node: String,
    /// Node label whose value is the rack.
    #[arg(long)]
    topology_key: String,
    /// The rendered `server.properties` (from the ConfigMap).
    #[arg(long)]
    config: PathBuf,
    /// Where to write it with `broker.rack`.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Watch only this namespace (all namespaces by default).
    #[arg(long, env = "KARST_OPERATOR_NAMESPACE")]
    namespace: Option<String>,
    /// Address of the /metrics and /healthz server.
    #[arg(long, env = "KARST_OPERATOR_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "karst-operator")]
    lease_name: String,
    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Identity in the Lease (the Pod name in a cluster).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease stays valid without renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds before expiry at which the holder renews.
    #[arg(long, default_value_t = 5)]
    lease_grace_seconds: u64,
    /// Seconds between comparisons of each topic with the broker (drift revert).
    #[arg(long, default_value_t = 60)]
    topic_resync_seconds: u64,
    /// Seconds between re-checks of a ready cluster.
    #[arg(long, default_value_t = 60)]
    cluster_resync_seconds: u64,
    /// The Kubernetes cluster's DNS domain, used in the brokers' advertised names.
    #[arg(long, env = "KARST_CLUSTER_DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
    /// The operator's own image, run by rack-aware broker Pods as their
    /// init container (`karst-operator rack`).
    #[arg(long, env = "KARST_OPERATOR_IMAGE", default_value_t = karst_operator::context::default_operator_image())]
    operator_image: String,
    /// Log format: `text` (no colour unless stdout is a terminal) or `json`.
    #[arg(long, env = "KARST_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// One plain line per event; ANSI colours only on a terminal, so that
    /// `kubectl logs` shows no escape codes.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { out } => write_crds(out),
        Command::Run(args) => run(args).await,
        Command::Rack(args) => {
            let rack =
                karst_operator::rack::run(&args.node, &args.topology_key, &args.config, &args.out)
                    .await?;
            println!(
                "broker.rack={rack} (node {}, label {}) written to {}",
                args.node,
                args.topology_key,
                args.out.display()
            );
            Ok(())
        }
    }
}

fn write_crds(out: Option<PathBuf>) -> anyhow::Result<()> {
    let crds = crd::crds_yaml().context("rendering CRDs")?;
    match out {
        None => {
            for (_, yaml) in &crds {
                print!("---\n{yaml}");
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (file, yaml) in &crds {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KARST_OPERATOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
    }

    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "karst-operator".to_owned());
        format!("{host}-{}", std::process::id())
    });
    let metrics = Metrics::new();
    let settings = Settings {
        topic_resync: Duration::from_secs(args.topic_resync_seconds),
        cluster_resync: Duration::from_secs(args.cluster_resync_seconds),
        cluster_domain: args.cluster_domain.clone(),
        operator_image: args.operator_image.clone(),
        ..Settings::default()
    };
    let reporter = Reporter {
        controller: "karst-operator".to_owned(),
        instance: Some(identity.clone()),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics.clone(),
        reporter,
        settings,
    ));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        let _ = shutdown_tx.send(true);
    });

    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("binding {}", args.http_addr))?;
    tracing::info!(addr = %listener.local_addr()?, identity = %identity, "serving /metrics and /healthz");
    let http_metrics = metrics.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = http_metrics.clone();
                async move { m.render() }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    let mut http_shutdown = shutdown_rx.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_shutdown.wait_for(|s| *s).await;
            })
            .await
    });

    let lease = LeaseSettings {
        name: args.lease_name,
        namespace: args.lease_namespace,
        identity,
        duration: args.lease_duration_seconds,
        grace: args.lease_grace_seconds,
    };
    let namespace = args.namespace;
    leader::run_as_leader(client, lease, metrics, shutdown_rx, |stop| {
        let ctx = ctx.clone();
        let namespace = namespace.clone();
        async move {
            let stop = futures::future::FutureExt::shared(stop);
            tokio::join!(
                cluster::controller(ctx.clone(), namespace.clone(), stop.clone()),
                topic::controller(ctx, namespace, stop),
            );
        }
    })
    .await?;
    http.await
        .context("http server task")?
        .context("http server")?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
