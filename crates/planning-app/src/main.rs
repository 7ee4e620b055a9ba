//! `store-planning-app`: one planning run, from the command line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use store_local::{DataDir, DataFusionInventoryQuery, FolderLedger, QueueConfig, SqliteAlertQueue};
use store_model::planning::ReorderPolicy;
use store_model::{Backend, PlanningEvent};
use store_planning_app::Planner;
use tracing_subscriber::EnvFilter;

/// StorePlanningApp: find low stock in the lake and send restock alerts.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Where the embedded backend keeps the lake, queue and state.
    #[arg(
        long,
        env = "STORE_DATA_DIR",
        default_value = "./store-data",
        global = true
    )]
    data_dir: PathBuf,
    /// `local` (embedded engines) or `aws`.
    #[arg(long, env = "STORE_BACKEND", default_value = "local", global = true)]
    backend: Backend,
    /// Hours after which an undelivered alert stops counting as on its way.
    #[arg(
        long,
        env = "STORE_ALERT_EXPIRY_HOURS",
        default_value_t = 24,
        global = true
    )]
    alert_expiry_hours: u32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one planning pass with a Lambda event and print the result JSON on stdout.
    Invoke {
        /// The event as JSON, e.g. '{"lookback_hours": 6}'. `{}` when neither this nor a file is given.
        #[arg(long, conflicts_with = "data_file")]
        data: Option<String>,
        /// A file holding the event JSON.
        #[arg(long)]
        data_file: Option<PathBuf>,
    },
}

fn init_tracing() {
    let filter = EnvFilter::try_from_env("STORE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> Result<()> {
    init_tracing();
    let cli = Cli::parse();
    if cli.alert_expiry_hours == 0 {
        bail!("--alert-expiry-hours must be at least 1");
    }
    let Command::Invoke { data, data_file } = cli.command;
    let json = match (data, data_file) {
        (Some(d), _) => d,
        (None, Some(f)) => std::fs::read_to_string(&f)
            .with_context(|| format!("reading event file {}", f.display()))?,
        (None, None) => "{}".to_owned(),
    };
    let event = PlanningEvent::from_json(&json)?;
    if cli.backend == Backend::Aws {
        bail!("the aws backend is not built into this binary yet; use --backend local");
    }
    let dir = DataDir::new(&cli.data_dir);
    let lake = dir
        .lake()
        .with_context(|| format!("opening the lake in {}", cli.data_dir.display()))?;
    let planner = Planner {
        query: Arc::new(
            DataFusionInventoryQuery::new(lake.clone(), &dir.state_dir())
                .context("opening the query engine")?,
        ),
        queue: Arc::new(
            SqliteAlertQueue::open(&dir.queue_path(), QueueConfig::default())
                .context("opening the alert queue")?,
        ),
        ledger: Arc::new(FolderLedger::new(lake)),
        policy: ReorderPolicy {
            alert_expiry_seconds: i64::from(cli.alert_expiry_hours) * 3600,
            ..ReorderPolicy::default()
        },
        clock: Arc::new(|| chrono::Utc::now().timestamp()),
    };
    let result = planner.handle(event).await.context("planning run failed")?;
    for line in &result.messages {
        eprintln!("{line}");
    }
    eprintln!(
        "planned over {} readings ({} bytes): {} alert(s) sent, {} suppressed{}",
        result.readings_scanned,
        result.bytes_scanned,
        result.alerts_sent,
        result.alerts_suppressed,
        if result.dry_run { " (dry run)" } else { "" }
    );
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
