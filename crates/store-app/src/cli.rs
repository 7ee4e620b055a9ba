//! The command line: the shared settings, and each subcommand as a struct with its own `run`,
//! which returns the process's exit status. Ranges are checked by clap as the flags parse.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use store_local::FirehoseConfig;
use store_model::ObjectFormat;
use store_model::lake::READINGS_PREFIX;
use store_model::ports::SinkStats;
use store_runtime::connect::Sink;
use store_runtime::{BackendSettings, Connection, Docs};

use crate::input::{Door, InputFormat};
use crate::simulate::{Chain, ChainConfig};
use crate::stream::{Run, simulate};

/// StoreApp: stream store stock readings into the lake through the delivery stream.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    #[command(flatten)]
    backend: BackendSettings,
    #[command(flatten)]
    stream: StreamSettings,
    #[command(subcommand)]
    command: Command,
}

/// The local delivery stream's settings (on AWS the delivery stream's configuration decides).
#[derive(Args, Debug)]
struct StreamSettings {
    /// Object format of the local lake: `parquet` or `json` (NDJSON).
    #[arg(long, env = "STORE_FORMAT", default_value = "parquet", global = true)]
    format: ObjectFormat,
    /// Delivery stream name (the first part of every object name).
    #[arg(
        long,
        env = "STORE_STREAM_NAME",
        default_value = "store-readings",
        global = true
    )]
    stream_name: String,
    /// Buffer size hint in MiB: an object is written when this much is buffered.
    #[arg(long, env = "STORE_BUFFER_MIB", default_value_t = 5, global = true,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    buffer_mib: u64,
    /// Buffer interval hint in seconds: an object is written when the oldest reading is this old.
    #[arg(long, env = "STORE_BUFFER_SECONDS", default_value_t = 60, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    buffer_seconds: u64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate stores selling products and stream their readings.
    Simulate(SimulateArgs),
    /// Send readings from an NDJSON or CSV file, or `-` for standard input, with a progress bar
    /// on a terminal (none when standard error is piped).
    Send(SendArgs),
    #[command(flatten)]
    Docs(Docs),
}

/// `simulate`'s flags.
#[derive(Args, Debug)]
struct SimulateArgs {
    /// Number of stores.
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    stores: usize,
    /// Number of products per store.
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    products: usize,
    /// Readings per second; 0 sends as fast as possible.
    #[arg(long, default_value_t = 50.0, value_parser = rate)]
    rate: f64,
    /// Stop after this many readings (a history ending now, one reading per shelf per step). A
    /// progress bar shows on a terminal (none when standard error is piped).
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Stream live readings for this many seconds (default: until Ctrl-C or SIGTERM).
    #[arg(long)]
    duration: Option<u64>,
    /// Simulated seconds between two readings of a shelf, with --count.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..))]
    step_seconds: i64,
    /// Seed for a reproducible run.
    #[arg(long)]
    seed: Option<u64>,
    /// Do not apply the deliveries recorded in the ledger to the simulated stores (live
    /// runs apply them, so stock rises when a truck arrives).
    #[arg(long)]
    no_deliveries: bool,
}

/// `send`'s flags.
#[derive(Args, Debug)]
struct SendArgs {
    /// The file; `-` reads standard input.
    #[arg(default_value = "-")]
    file: PathBuf,
    /// Read CSV with a header row (default: by the file's extension, else NDJSON).
    #[arg(long)]
    csv: bool,
    /// Where rejected lines go (default: <data-dir>/rejects/send-<time>.ndjson).
    #[arg(long)]
    reject_file: Option<PathBuf>,
    /// Seconds a reading's check time may be ahead of this machine's clock; later ones (and
    /// any before 2000) are rejected. The planner leaves out readings more than 900 s ahead
    /// of its own clock whatever this says.
    #[arg(long, env = "STORE_MAX_CLOCK_SKEW", default_value_t = 900,
          value_parser = clap::value_parser!(u32).range(0..=86_400))]
    max_clock_skew: u32,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r >= 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!("`{s}` is not a number of at least 0")),
    }
}

/// A temporary file older than Firehose's longest buffering interval (900 s) belongs to no live
/// writer: objects are written in moments, after buffering in memory.
const STALE_TEMPORARY: Duration = Duration::from_secs(900);

impl Cli {
    /// Connects to the backend and runs the subcommand.
    pub async fn run(self) -> Result<ExitCode> {
        if let Command::Docs(docs) = &self.command {
            docs.run::<Self>()?;
            return Ok(ExitCode::SUCCESS);
        }
        let connection = self.backend.connect().await?;
        if let Some(lake) = connection.lake()? {
            // What a killed writer left behind would keep a full disk full.
            match lake.sweep_temporaries(READINGS_PREFIX, STALE_TEMPORARY) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    removed = n,
                    "removed temporary files left by a stopped writer"
                ),
                Err(e) => tracing::warn!(error = %e, "could not sweep temporary files"),
            }
        }
        let sink = connection.reading_sink(FirehoseConfig {
            stream_name: self.stream.stream_name,
            format: self.stream.format,
            buffer_bytes: self.stream.buffer_mib as usize * 1024 * 1024,
            buffer_interval: Duration::from_secs(self.stream.buffer_seconds),
        })?;
        match self.command {
            Command::Simulate(args) => args.run(&connection, sink).await,
            Command::Send(args) => args.run(&connection, sink).await,
            Command::Docs(_) => unreachable!("handled before connecting"),
        }
    }
}

impl SimulateArgs {
    async fn run(self, connection: &Connection, sink: Sink) -> Result<ExitCode> {
        let chain = Chain::new(&ChainConfig {
            stores: self.stores,
            products: self.products,
            seed: self.seed,
        });
        let plan = match (self.count, self.duration) {
            (Some(count), _) => Run::History {
                count,
                step: self.step_seconds,
            },
            (None, Some(s)) => Run::Live {
                until: Some(Instant::now() + Duration::from_secs(s)),
            },
            (None, None) => Run::Live { until: None },
        };
        let deliveries = if self.no_deliveries {
            None
        } else {
            Some(connection.ledger()?)
        };
        let stats = simulate(sink.sink, chain, self.rate, plan, deliveries).await?;
        Ok(spooled(&stats, sink.spool.as_deref()))
    }
}

impl SendArgs {
    async fn run(self, connection: &Connection, sink: Sink) -> Result<ExitCode> {
        let by_extension = self
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let format = if self.csv || by_extension {
            InputFormat::Csv
        } else {
            InputFormat::Ndjson
        };
        let rejects = self.reject_file.unwrap_or_else(|| {
            let dir = store_local::DataDir::new(connection.data_dir());
            dir.rejects_dir().join(format!(
                "send-{}.ndjson",
                chrono::Utc::now().format("%Y%m%dT%H%M%S")
            ))
        });
        let door = Door {
            now: chrono::Utc::now().timestamp(),
            skew_seconds: i64::from(self.max_clock_skew),
        };
        let (stats, rejected) =
            crate::send::send(sink.sink, &self.file, format, door, &rejects).await?;
        let status = spooled(&stats, sink.spool.as_deref());
        if rejected > 0 {
            eprintln!("{rejected} line(s) rejected; see {}", rejects.display());
            return Ok(ExitCode::FAILURE);
        }
        Ok(status)
    }
}

/// Says where undelivered readings went and how to replay them: a failure when there are any.
fn spooled(stats: &SinkStats, spool: Option<&Path>) -> ExitCode {
    if stats.spooled == 0 {
        return ExitCode::SUCCESS;
    }
    let path = spool.map(|p| p.display().to_string()).unwrap_or_default();
    eprintln!(
        "store-app: {} reading(s) could not be delivered and were spooled to {path}; replay them with `store-app --backend aws send {path}`",
        stats.spooled
    );
    ExitCode::FAILURE
}
