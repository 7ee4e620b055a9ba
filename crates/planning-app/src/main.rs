//! `store-planning-app`: one planning run, from the command line or under the Lambda runtime.
//!
//! Started by the Lambda runtime (or `cargo lambda watch`), which sets `AWS_LAMBDA_RUNTIME_API`,
//! it serves planning events with JSON logs; otherwise `invoke` runs one event and prints the
//! result. Either way the adapters are built once, before the first event.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use store_model::planning::ReorderPolicy;
use store_model::{ConfigFile, PlanningEvent, Stores};
use store_planning_app::{Planner, lambda_handler};
use store_runtime::connect::QueueOptions;
use store_runtime::{BackendSettings, init_tracing};

/// StorePlanningApp: find low stock in the lake and send restock alerts.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    /// What to do; with none, serve events under the Lambda runtime.
    #[command(subcommand)]
    command: Option<Command>,
}

/// Everything a planning run needs to know, from flags or `STORE_*` variables.
#[derive(Args, Debug)]
struct Settings {
    #[command(flatten)]
    backend: BackendSettings,
    /// The reorder policy file (default: the shipped `config/policy.toml`).
    #[arg(long, env = "STORE_POLICY_FILE", global = true)]
    policy: Option<PathBuf>,
    /// The store locations file, whose stores are expected to report (default: the shipped
    /// `config/stores.toml`).
    #[arg(long, env = "STORE_STORES_FILE", global = true)]
    stores: Option<PathBuf>,
    /// Hours after which an undelivered alert stops counting as on its way (default: the
    /// policy's `alert_expiry_hours`).
    #[arg(long, env = "STORE_ALERT_EXPIRY_HOURS", global = true)]
    alert_expiry_hours: Option<u32>,
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
    /// Send again the alerts still outstanding (planned within the alert expiry, not delivered,
    /// not accepted by a dispatcher): for a queue that lost its messages.
    ResendOutstanding,
}

async fn planner(settings: &Settings) -> Result<Planner> {
    let mut policy = ReorderPolicy::load(settings.policy.as_deref())?;
    match settings.alert_expiry_hours {
        Some(0) => bail!("--alert-expiry-hours must be at least 1"),
        Some(h) => policy.default.alert_expiry_hours = i64::from(h),
        None => {}
    }
    let stores = Stores::load(settings.stores.as_deref())?;
    let connection = settings.backend.clone().connect().await?;
    let query = connection.inventory_query()?;
    let queue = connection.alert_queue(QueueOptions::default())?;
    let ledger = connection.ledger()?;
    Ok(Planner {
        query,
        queue,
        ledger,
        policy,
        known_stores: stores.ids(),
        clock: store_model::ports::system_clock(),
    })
}

#[cfg(feature = "embedded")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::ResendOutstanding) = cli.command {
        let planner = planner(&cli.settings).await?;
        let sent = planner
            .resend_outstanding()
            .await
            .context("sending the outstanding alerts again")?;
        for a in &sent {
            eprintln!("{}", a.human_line());
        }
        eprintln!("{} outstanding alert(s) sent again", sent.len());
        return Ok(());
    }
    let Some(Command::Invoke { data, data_file }) = cli.command else {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
            bail!(
                "no command: use `store-planning-app invoke`, or start it under the Lambda runtime (e.g. `cargo lambda watch`)"
            );
        }
        // JSON logs when the function's log format is JSON; the runtime's own subscriber.
        lambda_runtime::tracing::init_default_subscriber();
        let planner = planner(&cli.settings).await?;
        let planner = &planner;
        return lambda_runtime::run(lambda_runtime::service_fn(move |event| {
            lambda_handler(planner, event)
        }))
        .await
        .map_err(|e| anyhow::anyhow!(e));
    };
    init_tracing();
    let json = match (data, data_file) {
        (Some(d), _) => d,
        (None, Some(f)) => std::fs::read_to_string(&f)
            .with_context(|| format!("reading event file {}", f.display()))?,
        (None, None) => "{}".to_owned(),
    };
    let event = PlanningEvent::from_json(&json)?;
    let planner = planner(&cli.settings).await?;
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
    for u in &result.unsendable {
        eprintln!(
            "not sent: alert {} for {} / {}: {}",
            u.alert_id, u.store_id, u.product_id, u.reason
        );
    }
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
