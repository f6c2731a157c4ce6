//! `karst`: run a Kafka-compatible broker.
//!
//! With no arguments it runs one node on `localhost:9092` with data in
//! `./data`. See README.md for configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use karst_broker::Node;
use karst_broker::config::BrokerConfig;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(name = "karst", version, about = "A Kafka-compatible broker")]
struct Cli {
    /// A server.properties file with Kafka property names.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Sets one property, over the file and KARST_* variables (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE", value_parser = parse_override)]
    overrides: Vec<(String, String)>,
    /// Log format.
    #[arg(long, env = "KARST_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn parse_override(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KARST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    let config = match BrokerConfig::load(cli.config.as_deref(), std::env::vars(), &cli.overrides) {
        Ok(config) => config,
        Err(error) => {
            // On stderr as a plain line too, so it shows whatever the log filter.
            eprintln!("karst: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    // Sized by the configuration, so it is built after loading it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.network_threads())
        .thread_name("karst-network")
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(error) => Err(anyhow::Error::new(error).context("cannot start the async runtime")),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("karst: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the broker and runs it until SIGTERM or SIGINT, then shuts it
/// down cleanly. A second signal during shutdown exits at once.
async fn run(config: BrokerConfig) -> anyhow::Result<ExitCode> {
    // Installed before start, so a signal during log recovery is not lost.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        node_id = config.node_id,
        network_threads = config.network_threads(),
        io_threads = config.num_io_threads,
        "starting karst"
    );
    for (name, value, origin) in config.explicit() {
        tracing::info!(%name, %value, ?origin, "setting");
    }
    for (ignored, winner) in config.shadowed() {
        tracing::warn!("{ignored} has no effect: {winner} is also set and wins, as in Kafka");
    }
    let running = Node::start(config).await?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
    }
    tokio::select! {
        flushed = running.shutdown_checked() => match flushed {
            Ok(()) => {
                tracing::info!("shut down cleanly");
                Ok(ExitCode::SUCCESS)
            }
            Err(_) => Ok(ExitCode::FAILURE),
        },
        _ = terminate.recv() => Ok(forced("SIGTERM")),
        _ = interrupt.recv() => Ok(forced("SIGINT")),
    }
}

fn forced(signal: &str) -> ExitCode {
    tracing::warn!(
        "{signal} again: exiting without finishing shutdown; logs recover at next start"
    );
    ExitCode::from(130)
}
