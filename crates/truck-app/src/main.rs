//! `store-truck-app`: consume restock alerts and dispatch trucks.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use store_model::places::HO_CHI_MINH_CITY;
use store_model::planning::printable;
use store_model::routing::RoutingOptions;
use store_model::{ConfigFile, Fleet, Stores};
use store_runtime::connect::QueueOptions;
use store_runtime::{BackendSettings, init_tracing};
use store_truck_app::{BatchReport, Dispatcher, ExecutionOutcome, LOOKBACK_SECONDS, board, report};

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
    /// The fleet file: depots and trucks (default: the shipped `config/fleet.toml`).
    #[arg(long, env = "STORE_FLEET_FILE", global = true)]
    fleet: Option<PathBuf>,
    /// The store locations file (default: the shipped `config/stores.toml`).
    #[arg(long, env = "STORE_STORES_FILE", global = true)]
    stores: Option<PathBuf>,
    /// Seconds to gather alerts before routing them together (default: the fleet file's
    /// `batch_window_seconds`).
    #[arg(long, env = "STORE_BATCH_WINDOW_SECONDS", global = true)]
    batch_window: Option<u64>,
    /// Runs travel and service times this many times faster than real time (1 = real time;
    /// a demo uses e.g. 600, so an hour's trip takes six seconds).
    #[arg(long, env = "STORE_TIME_SCALE", default_value_t = 1.0, global = true)]
    time_scale: f64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Record the deliveries that are due, route one batch of alerts, and exit.
    Once,
    /// Route alerts as they come and record deliveries as trucks arrive, showing the fleet
    /// board live, until Ctrl-C.
    Watch,
    /// Show the queue depth and the fleet board without consuming anything.
    Status,
    /// Write a self-contained HTML page with a map of depots, stores and routes, and the
    /// dispatch tables.
    Report {
        /// The page to write.
        #[arg(long)]
        html: PathBuf,
        /// Hours of dispatches to include.
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
    /// Store locations.
    #[command(subcommand)]
    Stores(StoresCommand),
}

#[derive(Subcommand, Debug)]
enum StoresCommand {
    /// Print a stores file with `--count` stores around Ho Chi Minh City (STORE_1..STORE_<count>,
    /// the ids `store-app simulate --stores <count>` uses).
    Generate {
        /// Number of stores.
        #[arg(long)]
        count: usize,
        /// Seed: the same seed gives the same places.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Radius around the city centre, km.
        #[arg(long, default_value_t = 12.0)]
        radius_km: f64,
    },
}

/// Prints what a step did: departures, dispatches, deliveries, what waits for a truck.
fn show(report: &BatchReport, fleet: &Fleet, time_scale: f64) {
    for route in &report.routes {
        let departed = report
            .dispatched
            .iter()
            .find(|d| d.truck_id == route.truck_id)
            .map_or(0, |d| d.dispatched_at);
        println!(
            "{}",
            board::departure_line(route, fleet, time_scale, departed)
        );
        for d in report
            .dispatched
            .iter()
            .filter(|d| d.truck_id == route.truck_id)
        {
            println!("   {}", d.human_line());
        }
    }
    // Dispatches of trips claimed before this step, recorded now.
    for d in report
        .dispatched
        .iter()
        .filter(|d| !report.routes.iter().any(|r| r.truck_id == d.truck_id))
    {
        println!("{} (trip {})", d.human_line(), d.route_id);
    }
    for d in &report.delivered {
        println!("{}", d.human_line());
    }
    for u in &report.unassigned {
        println!(
            "⏳ {} for {} ({} units) waits for a truck: {}",
            u.demand_id,
            printable(&u.store_id),
            u.quantity,
            u.reason
        );
    }
    if report.accepted + report.duplicates + report.dead_lettered + report.retried > 0 {
        println!(
            "   ({} alert(s) accepted, {} accepted before, {} to dead letters, {} to retry)",
            report.accepted, report.duplicates, report.dead_lettered, report.retried
        );
    }
}

/// Prints the fleet board, optionally under a line with the queue depth and ledger counts.
async fn print_board(dispatcher: &Dispatcher, clear: bool, queue_line: bool) -> Result<()> {
    let now = chrono::Utc::now().timestamp();
    let since = now - LOOKBACK_SECONDS;
    let dispatches = dispatcher.ledger.dispatches_since(since).await?;
    let deliveries = dispatcher.ledger.deliveries_since(since).await?;
    let text = board::render(
        &dispatcher.fleet,
        &dispatcher.stores,
        &dispatches,
        &deliveries,
        now,
    );
    if clear {
        print!("\x1b[H\x1b[2J");
    }
    if queue_line {
        let depth = dispatcher.queue.depth().await?;
        let (open, free) = dispatcher.waiting(now).await?;
        println!(
            "queue: {} waiting, {} in flight, {} dead; {} open order(s), {} of {} truck(s) free; {} dispatch(es) and {} deliveries in the last 48 h",
            depth.visible,
            depth.in_flight,
            depth.dead,
            open.len(),
            free.len(),
            dispatcher.fleet.trucks.len(),
            dispatches.len(),
            deliveries.len()
        );
    }
    println!("{text}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    init_tracing();
    let cli = Cli::parse();
    if let Command::Stores(StoresCommand::Generate {
        count,
        seed,
        radius_km,
    }) = cli.command
    {
        if count == 0 || !(radius_km > 0.0 && radius_km.is_finite()) {
            bail!("--count must be at least 1 and --radius-km above 0");
        }
        print!(
            "{}",
            Stores::generate(count, seed, HO_CHI_MINH_CITY, radius_km).to_toml()
        );
        return Ok(());
    }
    if !(cli.time_scale >= 1.0 && cli.time_scale.is_finite()) {
        bail!("--time-scale must be at least 1, got {}", cli.time_scale);
    }
    let fleet = Fleet::load(cli.fleet.as_deref())?;
    let stores = Stores::load(cli.stores.as_deref())?;
    if !(1..=20).contains(&cli.wait_seconds) {
        bail!(
            "--wait-seconds must be between 1 and 20, got {}",
            cli.wait_seconds
        );
    }
    if cli.max_receive_count == 0 || cli.visibility_timeout == 0 {
        bail!("--max-receive-count and --visibility-timeout must be at least 1");
    }
    let connection = cli.backend.clone().connect().await?;
    let queue = connection.alert_queue(QueueOptions {
        visibility_timeout: Duration::from_secs(cli.visibility_timeout),
        max_receive_count: cli.max_receive_count,
    })?;
    let ledger = connection.ledger()?;
    let batch_window = cli.batch_window.unwrap_or(fleet.batch_window_seconds);
    let time_scale = cli.time_scale;
    let dispatcher = Dispatcher {
        queue,
        ledger,
        fleet,
        stores,
        routing: RoutingOptions::default(),
        wait: Duration::from_secs(cli.wait_seconds),
        batch_window: Duration::from_secs(batch_window),
        time_scale,
        clock: store_model::ports::system_clock(),
    };
    let mut total = BatchReport::default();
    match cli.command {
        Command::Stores(_) => unreachable!("handled before connecting"),
        Command::Once => match dispatcher
            .try_execute_task()
            .await
            .context("handling a batch")?
        {
            ExecutionOutcome::TaskCompleted(r) => {
                show(&r, &dispatcher.fleet, time_scale);
                total.absorb(&r);
            }
            ExecutionOutcome::EmptyQueue => {}
            ExecutionOutcome::NoFreeTruck { report: r, until } => {
                show(&r, &dispatcher.fleet, time_scale);
                total.absorb(&r);
                println!(
                    "every truck is on the road; the first is back at {} UTC",
                    store_model::dispatch::clock(until)
                );
            }
        },
        Command::Status => {
            print_board(&dispatcher, false, true)
                .await
                .context("reading the queue and the ledger")?;
            return Ok(());
        }
        Command::Report { html, hours } => {
            let now = chrono::Utc::now().timestamp();
            let since = now - i64::from(hours) * 3600;
            let dispatches = dispatcher.ledger.dispatches_since(since).await?;
            let deliveries = dispatcher.ledger.deliveries_since(since).await?;
            let page = report::html(
                &dispatcher.fleet,
                &dispatcher.stores,
                &dispatches,
                &deliveries,
                now,
            );
            std::fs::write(&html, page).with_context(|| format!("writing {}", html.display()))?;
            println!(
                "wrote {} ({} dispatch(es), {} deliveries)",
                html.display(),
                dispatches.len(),
                deliveries.len()
            );
            return Ok(());
        }
        Command::Watch => {
            let live = std::io::stdout().is_terminal();
            eprintln!("watching for alerts (Ctrl-C to stop)…");
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BatchReport>();
            // The closure owns the sender, so the printer ends when the loop does.
            let steps = dispatcher.run_until(shutdown, move |r| {
                let _ = tx.send(r.clone());
            });
            let printer = async {
                while let Some(r) = rx.recv().await {
                    if live {
                        // Redraw the board in place, then the step's events below it.
                        let _ = print_board(&dispatcher, true, false).await;
                        show(&r, &dispatcher.fleet, time_scale);
                    } else {
                        show(&r, &dispatcher.fleet, time_scale);
                        let _ = print_board(&dispatcher, false, false).await;
                    }
                    total.absorb(&r);
                }
            };
            tokio::join!(steps, printer);
        }
    }
    let depth = dispatcher
        .queue
        .depth()
        .await
        .context("reading the queue depth")?;
    eprintln!(
        "{} alert(s) accepted, {} trip(s), {} dispatch(es), {} deliveries; {} accepted before, {} dead-lettered, {} left to retry; queue: {} waiting, {} in flight, {} dead",
        total.accepted,
        total.routes.len(),
        total.dispatched.len(),
        total.delivered.len(),
        total.duplicates,
        total.dead_lettered,
        total.retried,
        depth.visible,
        depth.in_flight,
        depth.dead
    );
    Ok(())
}
