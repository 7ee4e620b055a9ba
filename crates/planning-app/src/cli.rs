//! The command line: `invoke` (one planning run, result JSON on standard output),
//! `resend-outstanding`, and with no command the Lambda runtime's event loop. Each subcommand is a
//! struct with its own `run`; the planner's adapters are built once, before the first event.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use store_model::planning::ReorderPolicy;
use store_model::ports::system_clock;
use store_model::{ConfigFile, PlanningEvent, Stores};
use store_runtime::connect::QueueOptions;
use store_runtime::{BackendSettings, Docs};

use crate::{Planner, lambda_handler};

/// StorePlanningApp: find low stock in the lake and send restock alerts.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
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
    #[arg(long, env = "STORE_ALERT_EXPIRY_HOURS", global = true,
          value_parser = clap::value_parser!(u32).range(1..=8760))]
    alert_expiry_hours: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one planning pass with a Lambda event and print the result JSON on stdout.
    Invoke(Invoke),
    /// Send again the alerts still outstanding (planned within the alert expiry, not delivered,
    /// not accepted by a dispatcher): for a queue that lost its messages.
    ResendOutstanding(ResendOutstanding),
    #[command(flatten)]
    Docs(Docs),
}

/// `invoke`'s flags.
#[derive(Args, Debug)]
struct Invoke {
    /// The event as JSON, e.g. '{"lookback_hours": 6}'. `{}` when neither this nor a file is given.
    #[arg(long, conflicts_with = "data_file")]
    data: Option<String>,
    /// A file holding the event JSON.
    #[arg(long)]
    data_file: Option<PathBuf>,
}

/// `resend-outstanding`.
#[derive(Args, Debug)]
struct ResendOutstanding;

impl Cli {
    /// Runs the subcommand, or with none serves events under the Lambda runtime.
    pub async fn run(self) -> Result<()> {
        match self.command {
            Some(Command::Invoke(invoke)) => {
                store_runtime::init_tracing();
                invoke.run(&self.settings).await
            }
            Some(Command::ResendOutstanding(resend)) => {
                store_runtime::init_tracing();
                resend.run(&self.settings).await
            }
            Some(Command::Docs(docs)) => docs.run::<Self>(),
            None => serve(&self.settings).await,
        }
    }
}

impl Settings {
    /// The planner over the backend's ports, with the policy and the stores loaded.
    async fn planner(&self) -> Result<Planner> {
        let mut policy = ReorderPolicy::load(self.policy.as_deref())?;
        if let Some(h) = self.alert_expiry_hours {
            policy.default.alert_expiry_hours = i64::from(h);
        }
        let stores = Stores::load(self.stores.as_deref())?;
        let connection = self.backend.clone().connect().await?;
        Ok(Planner {
            query: connection.inventory_query()?,
            queue: connection.alert_queue(QueueOptions::default())?,
            ledger: connection.ledger()?,
            policy,
            known_stores: stores.ids(),
            clock: system_clock(),
        })
    }
}

/// Serves planning events under the Lambda runtime (or `cargo lambda watch`).
async fn serve(settings: &Settings) -> Result<()> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        bail!(
            "no command: use `store-planning-app invoke`, or start it under the Lambda runtime (e.g. `cargo lambda watch`)"
        );
    }
    // JSON logs when the function's log format is JSON; the runtime's own subscriber.
    lambda_runtime::tracing::init_default_subscriber();
    let planner = settings.planner().await?;
    let planner = &planner;
    let namespace = settings.backend.metrics_namespace.as_deref();
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        lambda_handler(planner, namespace, event)
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}

impl Invoke {
    async fn run(self, settings: &Settings) -> Result<()> {
        let json = match (self.data, self.data_file) {
            (Some(d), _) => d,
            (None, Some(f)) => std::fs::read_to_string(&f)
                .with_context(|| format!("reading event file {}", f.display()))?,
            (None, None) => "{}".to_owned(),
        };
        let event = PlanningEvent::from_json(&json)?;
        let planner = settings.planner().await?;
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
        if result.unlisted.alerts > 0 {
            eprintln!(
                "{} less urgent alert(s) not listed; every alert of this run is in the ledger at {}",
                result.unlisted.alerts,
                result
                    .alerts_object
                    .as_deref()
                    .unwrap_or("(none: a dry run records nothing)")
            );
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, &result)?;
        writeln!(out)?;
        out.flush()?;
        Ok(())
    }
}

impl ResendOutstanding {
    async fn run(self, settings: &Settings) -> Result<()> {
        let planner = settings.planner().await?;
        let sent = planner
            .resend_outstanding()
            .await
            .context("sending the outstanding alerts again")?;
        for a in &sent {
            eprintln!("{}", a.human_line());
        }
        eprintln!("{} outstanding alert(s) sent again", sent.len());
        Ok(())
    }
}
