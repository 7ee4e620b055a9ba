//! The command line: the shared settings, and each subcommand as a struct with its own `run`.
//! Ranges are checked by clap as the flags parse.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use store_model::places::{HO_CHI_MINH_CITY, MAX_BATCH_WINDOW_SECONDS};
use store_model::planning::ReorderPolicy;
use store_model::ports::{CloseReason, MetricsPublisher, system_clock};
use store_model::routing::RoutingOptions;
use store_model::{ConfigFile, Fleet, Stores};
use store_planning_app::Planner;
use store_runtime::connect::{Connection, QueueOptions};
use store_runtime::{BackendSettings, Docs};

use crate::console::{print_board, show};
use crate::ops::{self, Ops};
use crate::{BatchReport, Dispatcher, ExecutionOutcome, report};

/// StoreTruckApp: take restock alerts off the queue and dispatch delivery trucks.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    #[command(flatten)]
    backend: BackendSettings,
    #[command(flatten)]
    dispatch: DispatchSettings,
    #[command(subcommand)]
    command: Command,
}

/// How the dispatcher consumes and routes.
#[derive(Args, Debug)]
struct DispatchSettings {
    /// Seconds a received alert stays hidden from other consumers (local queue; an SQS queue
    /// has its own).
    #[arg(long, env = "STORE_VISIBILITY_TIMEOUT", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u64).range(1..=43_200))]
    visibility_timeout: u64,
    /// Receives after which an unprocessed alert goes to the dead-letter queue (local queue; an
    /// SQS queue's redrive policy sets its own).
    #[arg(long, env = "STORE_MAX_RECEIVE_COUNT", default_value_t = 5, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_receive_count: u32,
    /// Seconds a receive waits for the first alert (long poll, at most 20).
    #[arg(long, env = "STORE_WAIT_SECONDS", default_value_t = 2, global = true,
          value_parser = clap::value_parser!(u64).range(1..=20))]
    wait_seconds: u64,
    /// The fleet file: depots and trucks (default: the shipped `config/fleet.toml`).
    #[arg(long, env = "STORE_FLEET_FILE", global = true)]
    fleet: Option<PathBuf>,
    /// The store locations file (default: the shipped `config/stores.toml`).
    #[arg(long, env = "STORE_STORES_FILE", global = true)]
    stores: Option<PathBuf>,
    /// Seconds to gather alerts before routing them together (default: the fleet file's
    /// `batch_window_seconds`).
    #[arg(long, env = "STORE_BATCH_WINDOW_SECONDS", global = true,
          value_parser = clap::value_parser!(u64).range(0..=MAX_BATCH_WINDOW_SECONDS))]
    batch_window: Option<u64>,
    /// Runs travel and service times this many times faster than real time (1 = real time;
    /// a demo uses e.g. 600, so an hour's trip takes six seconds).
    #[arg(long, env = "STORE_TIME_SCALE", default_value_t = 1.0, global = true,
          value_parser = time_scale)]
    time_scale: f64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Record the deliveries that are due, route one batch of alerts, and exit.
    Once(Once),
    /// Route alerts as they come and record deliveries as trucks arrive, showing the fleet
    /// board live, until Ctrl-C or SIGTERM.
    Watch(Watch),
    /// Show the queue depth and the fleet board without consuming anything.
    Status(Status),
    /// Serve the live operations page (map of stores by their worst shelf, trucks on their
    /// routes, the queue, the last planning run, the events) until Ctrl-C; it only reads,
    /// unless `--allow-invoke` lets it run the planner.
    Serve(Serve),
    /// Write a self-contained HTML page with a map of depots, stores and routes, and the
    /// dispatch tables.
    Report(Report),
    /// Store locations.
    #[command(subcommand)]
    Stores(StoresCommand),
    #[command(flatten)]
    Docs(Docs),
}

#[derive(Subcommand, Debug)]
enum StoresCommand {
    /// Print a stores file with `--count` stores around Ho Chi Minh City (STORE_1..STORE_<count>,
    /// the ids `store-app simulate --stores <count>` uses).
    Generate(Generate),
}

/// `once`.
#[derive(Args, Debug)]
struct Once;

/// `watch`.
#[derive(Args, Debug)]
struct Watch;

/// `status`.
#[derive(Args, Debug)]
struct Status;

/// `serve`'s flags.
#[derive(Args, Debug)]
struct Serve {
    /// Address to serve the page on; the default keeps it on this machine. Port 0 picks a free
    /// port; the address is printed either way.
    #[arg(long, env = "STORE_OPS_LISTEN", default_value = "127.0.0.1:8070")]
    listen: SocketAddr,
    /// Let the page run the planner (the same run as `store-planning-app invoke`), with a
    /// lookback and a dry-run choice.
    #[arg(long)]
    allow_invoke: bool,
    /// The reorder policy file: the planner's, and how long an alert counts as on its way
    /// (default: the shipped `config/policy.toml`).
    #[arg(long, env = "STORE_POLICY_FILE")]
    policy: Option<PathBuf>,
    /// Hours of readings the shelves' state comes from.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=2160))]
    lookback_hours: u32,
    /// Seconds between looks at the ledger and the queue.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=300))]
    refresh_seconds: u64,
    /// Seconds between queries of the latest readings (each is a planning query: on Athena, a
    /// billed scan of the window).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=86_400))]
    readings_seconds: u64,
    /// A finished `store-sim` run's report (`report.html` or `compare.html`) to show at
    /// `/simulation`.
    #[arg(long)]
    simulation: Option<PathBuf>,
}

/// `report`'s flags.
#[derive(Args, Debug)]
struct Report {
    /// The page to write.
    #[arg(long)]
    html: PathBuf,
    /// Hours of dispatches to include.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=2160))]
    hours: u32,
}

/// `stores generate`'s flags.
#[derive(Args, Debug)]
struct Generate {
    /// Number of stores.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    count: u64,
    /// Seed: the same seed gives the same places.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Radius around the city centre, km.
    #[arg(long, default_value_t = 12.0, value_parser = positive_km)]
    radius_km: f64,
}

fn time_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x >= 1.0 && x.is_finite() => Ok(x),
        _ => Err(format!("`{s}` is not a number of at least 1")),
    }
}

fn positive_km(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("`{s}` is not a distance above 0")),
    }
}

impl Cli {
    /// Runs the subcommand: store generation needs nothing else; the rest connect to the
    /// backend and build the dispatcher first.
    pub async fn run(self) -> Result<()> {
        match &self.command {
            Command::Stores(StoresCommand::Generate(generate)) => {
                generate.run();
                return Ok(());
            }
            Command::Docs(docs) => return docs.run::<Self>(),
            _ => {}
        }
        let (dispatcher, connection) = self.dispatch.dispatcher(self.backend).await?;
        let total = match self.command {
            Command::Stores(_) | Command::Docs(_) => unreachable!("handled before connecting"),
            Command::Serve(serve) => return serve.run(dispatcher, &connection).await,
            Command::Status(status) => return status.run(&dispatcher).await,
            Command::Report(report) => return report.run(&dispatcher).await,
            Command::Once(once) => once.run(&dispatcher, connection.metrics()).await?,
            Command::Watch(watch) => watch.run(&dispatcher, connection.metrics()).await,
        };
        summary(&dispatcher, &total).await
    }
}

impl DispatchSettings {
    /// The dispatcher over the backend's queue and ledger, with the fleet and stores loaded, and
    /// the connection it came from.
    async fn dispatcher(self, backend: BackendSettings) -> Result<(Dispatcher, Connection)> {
        let fleet = Fleet::load(self.fleet.as_deref())?;
        let stores = Stores::load(self.stores.as_deref())?;
        let connection = backend.connect().await?;
        let queue = connection.alert_queue(QueueOptions {
            visibility_timeout: Duration::from_secs(self.visibility_timeout),
            max_receive_count: self.max_receive_count,
        })?;
        let batch_window = self.batch_window.unwrap_or(fleet.batch_window_seconds);
        let dispatcher = Dispatcher {
            queue,
            ledger: connection.ledger()?,
            fleet,
            stores,
            routing: RoutingOptions::default(),
            wait: Duration::from_secs(self.wait_seconds),
            batch_window: Duration::from_secs(batch_window),
            time_scale: self.time_scale,
            clock: system_clock(),
        };
        Ok((dispatcher, connection))
    }
}

impl Generate {
    fn run(&self) {
        let stores = Stores::generate(
            self.count as usize,
            self.seed,
            HO_CHI_MINH_CITY,
            self.radius_km,
        );
        print!("{}", stores.to_toml());
    }
}

/// Publishes a step's figures where the backend keeps metrics (CloudWatch on AWS); a failure
/// is reported and never stops dispatching.
async fn publish(
    dispatcher: &Dispatcher,
    metrics: Option<&dyn MetricsPublisher>,
    report: &BatchReport,
) {
    let Some(metrics) = metrics else { return };
    let open = match dispatcher.waiting((dispatcher.clock)()).await {
        Ok((open, _)) => open.len(),
        Err(e) => {
            tracing::warn!(error = %e, "open orders not counted for the metrics");
            return;
        }
    };
    if let Err(e) = metrics.publish(&report.metric_values(open)).await {
        tracing::warn!(error = %e, "the step's metrics were not published");
    }
}

impl Once {
    async fn run(
        self,
        dispatcher: &Dispatcher,
        metrics: Option<Arc<dyn MetricsPublisher>>,
    ) -> Result<BatchReport> {
        let outcome = dispatcher
            .try_execute_task()
            .await
            .context("handling a batch")?;
        let (report, until) = match outcome {
            ExecutionOutcome::EmptyQueue => {
                publish(dispatcher, metrics.as_deref(), &BatchReport::default()).await;
                return Ok(BatchReport::default());
            }
            ExecutionOutcome::TaskCompleted(r) => (r, None),
            ExecutionOutcome::NoFreeTruck { report, until } => (report, Some(until)),
        };
        publish(dispatcher, metrics.as_deref(), &report).await;
        show(&report, &dispatcher.fleet, dispatcher.time_scale);
        if let Some(until) = until {
            println!(
                "every truck is on the road; the first is back at {} UTC",
                store_model::dispatch::clock(until)
            );
        }
        Ok(report)
    }
}

impl Watch {
    async fn run(
        self,
        dispatcher: &Dispatcher,
        metrics: Option<Arc<dyn MetricsPublisher>>,
    ) -> BatchReport {
        let live = std::io::stdout().is_terminal();
        let stop = store_runtime::shutdown_signal();
        eprintln!("watching for alerts (Ctrl-C or SIGTERM to stop)…");
        let shutdown = async {
            let name = stop.await;
            eprintln!("stopping ({name})…");
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BatchReport>();
        // The closure owns the sender, so the printer ends when the loop does.
        let steps = dispatcher.run_until(shutdown, move |r| {
            let _ = tx.send(r.clone());
        });
        let mut total = BatchReport::default();
        let printer = async {
            while let Some(r) = rx.recv().await {
                if live {
                    // Redraw the board in place, then the step's events below it.
                    let _ = print_board(dispatcher, true, false).await;
                    show(&r, &dispatcher.fleet, dispatcher.time_scale);
                } else {
                    show(&r, &dispatcher.fleet, dispatcher.time_scale);
                    let _ = print_board(dispatcher, false, false).await;
                }
                publish(dispatcher, metrics.as_deref(), &r).await;
                total.absorb(&r);
            }
        };
        tokio::join!(steps, printer);
        total
    }
}

impl Status {
    async fn run(self, dispatcher: &Dispatcher) -> Result<()> {
        print_board(dispatcher, false, true)
            .await
            .context("reading the queue and the ledger")
    }
}

impl Serve {
    async fn run(self, dispatcher: Dispatcher, connection: &Connection) -> Result<()> {
        let policy = ReorderPolicy::load(self.policy.as_deref())?;
        let simulation = self
            .simulation
            .as_deref()
            .map(read_simulation_report)
            .transpose()?;
        let query = connection.inventory_query()?;
        let planner = self.allow_invoke.then(|| Planner {
            query: query.clone(),
            queue: dispatcher.queue.clone(),
            ledger: dispatcher.ledger.clone(),
            policy: policy.clone(),
            known_stores: dispatcher.stores.ids(),
            clock: dispatcher.clock.clone(),
        });
        let ops = Arc::new(Ops {
            alert_expiry_seconds: policy.alert_expiry_seconds(),
            fleet: dispatcher.fleet,
            stores: dispatcher.stores,
            ledger: dispatcher.ledger,
            queue: dispatcher.queue,
            query,
            planner,
            lookback_hours: self.lookback_hours,
            refresh: Duration::from_secs(self.refresh_seconds),
            readings_every: Duration::from_secs(self.readings_seconds),
            clock: dispatcher.clock,
            simulation,
        });
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let stop = store_runtime::shutdown_signal();
        println!("operations page: http://{address}/");
        if ops.simulation.is_some() {
            eprintln!("simulation report: http://{address}/simulation");
        }
        eprintln!(
            "serving the operations page{} (Ctrl-C or SIGTERM to stop)",
            if self.allow_invoke {
                ", with the planner"
            } else {
                ""
            }
        );
        let shutdown = async {
            let name = stop.await;
            eprintln!("stopping ({name})…");
        };
        ops::serve(listener, ops, shutdown)
            .await
            .context("serving the operations page")
    }
}

/// Reads a `store-sim` report for the page: HTML text of a bounded size.
fn read_simulation_report(path: &std::path::Path) -> Result<Arc<str>> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading the simulation report {shown}"))?
        .len();
    if size > ops::MAX_SIMULATION_REPORT_BYTES {
        anyhow::bail!(
            "the simulation report {shown} is {size} bytes; at most {} are shown",
            ops::MAX_SIMULATION_REPORT_BYTES
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("reading the simulation report {shown} (UTF-8 HTML from store-sim)")
    })?;
    Ok(Arc::from(text))
}

impl Report {
    async fn run(self, dispatcher: &Dispatcher) -> Result<()> {
        let now = (dispatcher.clock)();
        let since = now - i64::from(self.hours) * 3600;
        let dispatches = dispatcher.ledger.dispatches_since(since).await?;
        let deliveries = dispatcher.ledger.deliveries_since(since).await?;
        let page = report::html(
            &dispatcher.fleet,
            &dispatcher.stores,
            &dispatches,
            &deliveries,
            now,
        );
        std::fs::write(&self.html, page)
            .with_context(|| format!("writing {}", self.html.display()))?;
        println!(
            "wrote {} ({} dispatch(es), {} deliveries)",
            self.html.display(),
            dispatches.len(),
            deliveries.len()
        );
        Ok(())
    }
}

/// The closing line of `once` and `watch`: what was done, and what the queue holds.
async fn summary(dispatcher: &Dispatcher, total: &BatchReport) -> Result<()> {
    let depth = dispatcher
        .queue
        .depth()
        .await
        .context("reading the queue depth")?;
    let closed = |reason| total.closed.iter().filter(|c| c.reason == reason).count();
    eprintln!(
        "{} alert(s) accepted, {} trip(s), {} dispatch(es), {} deliveries; {} accepted before, {} dead-lettered, {} left to retry; {} order(s) closed ({} expired, {} store unknown, {} too large); {} damaged ledger record(s) set aside; queue: {} waiting, {} in flight, {} dead",
        total.accepted,
        total.routes.len(),
        total.dispatched.len(),
        total.delivered.len(),
        total.duplicates,
        total.dead_lettered,
        total.retried,
        total.closed.len(),
        closed(CloseReason::Expired),
        closed(CloseReason::StoreUnknown),
        closed(CloseReason::TooLarge),
        dispatcher.ledger.damaged().len(),
        depth.visible,
        depth.in_flight,
        depth.dead
    );
    Ok(())
}
