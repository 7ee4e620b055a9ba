//! `store-truck-app`: consume restock alerts and dispatch trucks.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use store_aws::BackendSettings;
use store_local::{DataDir, FolderLedger, QueueConfig, SqliteAlertQueue};
use store_model::Backend;
use store_model::dispatch::default_fleet;
use store_model::ports::{AlertQueue, Ledger};
use store_truck_app::{BatchReport, Dispatcher, ExecutionOutcome};
use tracing_subscriber::EnvFilter;

/// StoreTruckApp: take restock alerts off the queue and dispatch delivery trucks.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    backend: BackendSettings,
    /// Seconds a received alert stays hidden from other consumers (local queue; an SQS queue
    /// has its own).
    #[arg(
        long,
        env = "STORE_VISIBILITY_TIMEOUT",
        default_value_t = 30,
        global = true
    )]
    visibility_timeout: u64,
    /// Receives after which an unprocessed alert goes to the dead-letter queue (local queue; an
    /// SQS queue's redrive policy sets its own).
    #[arg(
        long,
        env = "STORE_MAX_RECEIVE_COUNT",
        default_value_t = 5,
        global = true
    )]
    max_receive_count: u32,
    /// Seconds a receive waits for the first alert (long poll, at most 20).
    #[arg(long, env = "STORE_WAIT_SECONDS", default_value_t = 2, global = true)]
    wait_seconds: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Handle one batch of alerts (up to ten) and exit.
    Once,
    /// Handle alerts as they come, showing each dispatch, until Ctrl-C.
    Watch,
    /// Show the queue depth and recent dispatches without consuming anything.
    Status,
}

fn init_tracing() {
    let filter = EnvFilter::try_from_env("STORE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn show(report: &BatchReport) {
    for d in &report.dispatched {
        println!("{}", d.human_line());
    }
    if report.duplicates + report.dead_lettered + report.retried > 0 {
        println!(
            "   ({} already dispatched, {} to dead letters, {} to retry)",
            report.duplicates, report.dead_lettered, report.retried
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    init_tracing();
    let cli = Cli::parse();
    if !(1..=20).contains(&cli.wait_seconds) {
        bail!(
            "--wait-seconds must be between 1 and 20, got {}",
            cli.wait_seconds
        );
    }
    if cli.max_receive_count == 0 || cli.visibility_timeout == 0 {
        bail!("--max-receive-count and --visibility-timeout must be at least 1");
    }
    let (queue, ledger): (Arc<dyn AlertQueue>, Arc<dyn Ledger>) = match cli.backend.backend {
        Backend::Local => {
            let dir = DataDir::new(&cli.backend.data_dir);
            let queue = SqliteAlertQueue::open(
                &dir.queue_path(),
                QueueConfig {
                    visibility_timeout: Duration::from_secs(cli.visibility_timeout),
                    max_receive_count: cli.max_receive_count,
                    ..QueueConfig::default()
                },
            )
            .context("opening the alert queue")?;
            let lake = dir.lake().context("opening the lake")?;
            (Arc::new(queue), Arc::new(FolderLedger::new(lake)))
        }
        Backend::Aws => {
            let aws = cli.backend.connect_aws().await?;
            (
                Arc::new(aws.settings.alert_queue(&aws.clients)?),
                Arc::new(aws.settings.ledger(&aws.clients)?),
            )
        }
    };
    let dispatcher = Dispatcher {
        queue,
        ledger,
        fleet: default_fleet(),
        wait: Duration::from_secs(cli.wait_seconds),
        clock: Arc::new(|| chrono::Utc::now().timestamp()),
    };
    let mut total = BatchReport::default();
    let mut add = |r: &BatchReport| {
        show(r);
        total.dispatched.extend(r.dispatched.iter().cloned());
        total.duplicates += r.duplicates;
        total.dead_lettered += r.dead_lettered;
        total.retried += r.retried;
    };
    match cli.command {
        Command::Once => {
            if let ExecutionOutcome::TaskCompleted(r) = dispatcher
                .try_execute_task()
                .await
                .context("handling a batch")?
            {
                add(&r);
            }
        }
        Command::Status => {
            let since = chrono::Utc::now().timestamp() - 24 * 3600;
            let dispatches = dispatcher
                .ledger
                .dispatches_since(since)
                .await
                .context("reading dispatches")?;
            let depth = dispatcher
                .queue
                .depth()
                .await
                .context("reading the queue depth")?;
            println!(
                "queue: {} waiting, {} in flight, {} dead; {} dispatch(es) recorded in the last 24 h",
                depth.visible,
                depth.in_flight,
                depth.dead,
                dispatches.len()
            );
            return Ok(());
        }
        Command::Watch => {
            eprintln!("watching for alerts (Ctrl-C to stop)…");
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            dispatcher.run_until(shutdown, &mut add).await;
        }
    }
    let depth = dispatcher
        .queue
        .depth()
        .await
        .context("reading the queue depth")?;
    eprintln!(
        "dispatched {} alert(s); {} already dispatched, {} dead-lettered, {} left to retry; queue: {} waiting, {} in flight, {} dead",
        total.dispatched.len(),
        total.duplicates,
        total.dead_lettered,
        total.retried,
        depth.visible,
        depth.in_flight,
        depth.dead
    );
    Ok(())
}
