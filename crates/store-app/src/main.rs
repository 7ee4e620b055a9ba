//! `store-app`: stream simulated or recorded store readings into the lake.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use store_app::input::{self, InputFormat, Rejected};
use store_app::simulate::{Chain, ChainConfig};
use store_aws::BackendSettings;
use store_local::{DataDir, FirehoseConfig, FolderLedger, LocalFirehoseSink};
use store_model::lake::READINGS_PREFIX;
use store_model::planning::printable;
use store_model::ports::system_clock;
use store_model::ports::{Ledger, ReadingSink, SinkStats};
use store_model::reading::MAX_RECORD_BYTES;
use store_model::{Backend, ObjectFormat, Reading};
use tracing_subscriber::EnvFilter;

/// StoreApp: stream store stock readings into the lake through the delivery stream.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    backend: BackendSettings,
    /// Object format of the local lake: `parquet` or `json` (NDJSON). On AWS the delivery
    /// stream's configuration decides.
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
    #[arg(long, env = "STORE_BUFFER_MIB", default_value_t = 5, global = true)]
    buffer_mib: usize,
    /// Buffer interval hint in seconds: an object is written when the oldest reading is this old.
    #[arg(
        long,
        env = "STORE_BUFFER_SECONDS",
        default_value_t = 60,
        global = true
    )]
    buffer_seconds: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate stores selling products and stream their readings.
    Simulate {
        /// Number of stores.
        #[arg(long, default_value_t = 10)]
        stores: usize,
        /// Number of products per store.
        #[arg(long, default_value_t = 5)]
        products: usize,
        /// Readings per second; 0 sends as fast as possible.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        /// Stop after this many readings (a history ending now, one reading per shelf per step).
        #[arg(long, conflicts_with = "duration")]
        count: Option<u64>,
        /// Stream live readings for this many seconds (default: until Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
        /// Simulated seconds between two readings of a shelf, with --count.
        #[arg(long, default_value_t = 60)]
        step_seconds: i64,
        /// Seed for a reproducible run.
        #[arg(long)]
        seed: Option<u64>,
        /// Do not apply the deliveries recorded in the ledger to the simulated stores (live
        /// runs apply them, so stock rises when a truck arrives).
        #[arg(long)]
        no_deliveries: bool,
    },
    /// Send readings from an NDJSON or CSV file, or `-` for standard input.
    Send {
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
    },
}

fn init_tracing() {
    let filter = EnvFilter::try_from_env("STORE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn summary(stats: &SinkStats, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut line = format!(
        "{} readings delivered in {:.2} s ({:.0}/s), {} object(s) or call(s), {:.1} KiB",
        stats.delivered,
        secs,
        stats.delivered as f64 / secs,
        stats.objects,
        stats.bytes as f64 / 1024.0
    );
    if stats.retried + stats.spooled > 0 {
        line.push_str(&format!(
            ", {} retried, {} spooled",
            stats.retried, stats.spooled
        ));
    }
    line
}

/// The adapters of the chosen backend.
struct Adapters {
    sink: Arc<dyn ReadingSink>,
    /// Where the sink spools what it cannot deliver.
    spool: Option<PathBuf>,
    /// Where the deliveries are read.
    ledger: Arc<dyn Ledger>,
}

async fn adapters(cli: &Cli, dir: &DataDir) -> Result<Adapters> {
    match cli.backend.backend {
        Backend::Local => {
            let lake = dir.lake().with_context(|| {
                format!("opening the lake in {}", cli.backend.data_dir.display())
            })?;
            // What a killed writer left behind would keep a full disk full.
            match lake.sweep_temporaries(READINGS_PREFIX, STALE_TEMPORARY) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    removed = n,
                    "removed temporary files left by a stopped writer"
                ),
                Err(e) => tracing::warn!(error = %e, "could not sweep temporary files"),
            }
            let config = FirehoseConfig {
                stream_name: cli.stream_name.clone(),
                format: cli.format,
                buffer_bytes: cli.buffer_mib * 1024 * 1024,
                buffer_interval: Duration::from_secs(cli.buffer_seconds),
            };
            Ok(Adapters {
                sink: Arc::new(LocalFirehoseSink::new(lake.clone(), config, system_clock())),
                spool: None,
                ledger: Arc::new(FolderLedger::new(lake)),
            })
        }
        Backend::Aws => {
            let aws = cli.backend.connect_aws().await?;
            let sink = aws.settings.reading_sink(&aws.clients, &dir.spool_dir())?;
            let spool = sink.spool_path().to_path_buf();
            Ok(Adapters {
                sink: Arc::new(sink),
                spool: Some(spool),
                ledger: Arc::new(aws.settings.ledger(&aws.clients)?),
            })
        }
    }
}

/// Says where undelivered readings went and how to replay them; the run then fails.
fn report_spooled(stats: &SinkStats, spool: Option<&Path>) {
    if stats.spooled > 0 {
        let path = spool.map(|p| p.display().to_string()).unwrap_or_default();
        eprintln!(
            "store-app: {} reading(s) could not be delivered and were spooled to {path}; replay them with `store-app --backend aws send {path}`",
            stats.spooled
        );
        std::process::exit(1);
    }
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    init_tracing();
    let cli = Cli::parse();
    if cli.buffer_mib == 0 || cli.buffer_seconds == 0 {
        bail!("--buffer-mib and --buffer-seconds must be at least 1");
    }
    let dir = DataDir::new(&cli.backend.data_dir);
    let Adapters {
        sink,
        spool,
        ledger,
    } = adapters(&cli, &dir).await?;
    match cli.command {
        Command::Simulate {
            stores,
            products,
            rate,
            count,
            duration,
            step_seconds,
            seed,
            no_deliveries,
        } => {
            if stores == 0 || products == 0 {
                bail!("--stores and --products must be at least 1");
            }
            if !(rate >= 0.0 && rate.is_finite()) {
                bail!("--rate must be a number >= 0");
            }
            if step_seconds < 1 {
                bail!("--step-seconds must be at least 1");
            }
            let chain = Chain::new(&ChainConfig {
                stores,
                products,
                seed,
            });
            let plan = match (count, duration) {
                (Some(n), _) => Run::History {
                    count: n,
                    step: step_seconds,
                },
                (None, Some(s)) => Run::Live {
                    until: Some(Instant::now() + Duration::from_secs(s)),
                },
                (None, None) => Run::Live { until: None },
            };
            let deliveries = (!no_deliveries).then_some(ledger);
            let stats = simulate(sink, chain, rate, plan, deliveries).await?;
            report_spooled(&stats, spool.as_deref());
            Ok(())
        }
        Command::Send {
            file,
            csv,
            reject_file,
            max_clock_skew,
        } => {
            let format = if csv
                || file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            {
                InputFormat::Csv
            } else {
                InputFormat::Ndjson
            };
            let rejects = reject_file.unwrap_or_else(|| {
                dir.rejects_dir().join(format!(
                    "send-{}.ndjson",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S")
                ))
            });
            let door = input::Door {
                now: chrono::Utc::now().timestamp(),
                skew_seconds: i64::from(max_clock_skew),
            };
            let (stats, rejected) = send(sink, &file, format, door, &rejects).await?;
            report_spooled(&stats, spool.as_deref());
            if rejected > 0 {
                eprintln!("{rejected} line(s) rejected; see {}", rejects.display());
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

enum Run {
    /// A history of `count` readings ending now, `step` seconds between a shelf's readings.
    History { count: u64, step: i64 },
    /// Live readings stamped with the current time, until a deadline or Ctrl-C.
    Live { until: Option<Instant> },
}

/// A temporary file older than Firehose's longest buffering interval (900 s) belongs to no live
/// writer: objects are written in moments, after buffering in memory.
const STALE_TEMPORARY: Duration = Duration::from_secs(900);

/// Readings per Firehose `PutRecordBatch` call (the service's limit), and per `put` here.
const FIREHOSE_BATCH: usize = 500;

/// Lines validated per block handed from the reader thread to the writer.
const PARSE_BLOCK: usize = 4096;

/// How often a live run looks for new deliveries.
const DELIVERY_POLL: Duration = Duration::from_secs(1);

/// Applies the deliveries recorded since the run started that it has not applied yet.
async fn apply_deliveries(
    ledger: &dyn Ledger,
    chain: &mut Chain,
    since: i64,
    applied: &mut HashSet<String>,
) -> Result<()> {
    // Deliveries are filed under their alert's planning hour; look back over the expiry.
    for d in ledger
        .deliveries_since(since - 2 * 24 * 3600)
        .await
        .context("reading deliveries")?
    {
        if d.delivered_at < since || !applied.insert(d.dispatch_id.clone()) {
            continue;
        }
        match chain.deliver(&d.store_id, &d.product_id, d.quantity) {
            Some((before, after)) => eprintln!(
                "\rstore-app: delivery applied: {} {} +{} by {}, stock {before} -> {after}",
                d.store_id, d.product_id, d.quantity, d.truck_id
            ),
            None => eprintln!(
                "\rstore-app: delivery for {} {} is not for a simulated shelf; ignored",
                d.store_id, d.product_id
            ),
        }
    }
    Ok(())
}

async fn simulate(
    sink: Arc<dyn ReadingSink>,
    mut chain: Chain,
    rate: f64,
    run: Run,
    deliveries: Option<Arc<dyn Ledger>>,
) -> Result<SinkStats> {
    let started = Instant::now();
    let shelves = chain.shelves() as u64;
    let now = chrono::Utc::now().timestamp();
    let (total, first_time, until) = match run {
        Run::History { count, step } => {
            let rounds = count.div_ceil(shelves) as i64;
            (Some(count), Some((now - (rounds - 1) * step, step)), None)
        }
        Run::Live { until } => (None, None, until),
    };
    // Only a live run lives long enough for trucks to arrive.
    let deliveries = deliveries.filter(|_| first_time.is_none());
    let mut applied = HashSet::new();
    let mut last_poll = Instant::now();
    // Ctrl-C flips this once; the loop checks it every round and waits on it while throttled.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let mut sent: u64 = 0;
    let mut round: i64 = 0;
    let mut last_report = Instant::now();
    loop {
        if total.is_some_and(|t| sent >= t)
            || until.is_some_and(|u| Instant::now() >= u)
            || *stop.borrow()
        {
            break;
        }
        if let Some(ledger) = &deliveries
            && last_poll.elapsed() >= DELIVERY_POLL
        {
            last_poll = Instant::now();
            // A ledger outage must not stop the stores: report it and try again later.
            if let Err(e) = apply_deliveries(&**ledger, &mut chain, now, &mut applied).await {
                eprintln!("\rstore-app: {e:#}");
            }
        }
        let time = first_time.map_or_else(
            || chrono::Utc::now().timestamp(),
            |(start, step)| start + round * step,
        );
        let mut readings = chain.round(time);
        if let Some(t) = total {
            readings.truncate((t - sent).min(readings.len() as u64) as usize);
        }
        for chunk in readings.chunks(500) {
            sink.put(chunk).await.context("sending readings")?;
            sent += chunk.len() as u64;
            if rate > 0.0 {
                let due = started + Duration::from_secs_f64(sent as f64 / rate);
                tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => {}
                    _ = stop.changed() => return finish(&*sink, started).await,
                }
            }
        }
        sink.flush_if_due().await.context("delivering readings")?;
        round += 1;
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprint!("\r{sent} readings sent ({:.0}/s)   ", sent as f64 / secs);
            let _ = std::io::stderr().flush();
        }
    }
    finish(&*sink, started).await
}

async fn finish(sink: &dyn ReadingSink, started: Instant) -> Result<SinkStats> {
    let stats = sink.flush().await.context("delivering the last readings")?;
    eprintln!("\rstore-app: {}", summary(&stats, started));
    Ok(stats)
}

async fn send(
    sink: Arc<dyn ReadingSink>,
    file: &Path,
    format: InputFormat,
    door: input::Door,
    rejects: &Path,
) -> Result<(SinkStats, usize)> {
    let started = Instant::now();
    let source = file.display().to_string();
    let reader: Box<dyn BufRead + Send> = if source == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(file).with_context(|| format!("opening {source}"))?,
        ))
    };
    let mut rejected = RejectFile::new(rejects);
    let mut batch: Vec<Reading> = Vec::with_capacity(FIREHOSE_BATCH);
    // Lines are read (with a bounded buffer) and validated on their own thread, in blocks,
    // while this one encodes and writes the previous block: the two halves of the work overlap.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Result<Reading, Rejected>>>(4);
    let parse_source = source.clone();
    let parser = std::thread::spawn(move || -> std::io::Result<()> {
        let mut lines = input::LineReader::new(reader, MAX_RECORD_BYTES);
        let mut parser = input::LineParser::new(&parse_source, format, door);
        let mut block = Vec::with_capacity(PARSE_BLOCK);
        while let Some(raw) = lines.next_line()? {
            block.extend(parser.parse(&raw));
            if block.len() == PARSE_BLOCK {
                let full = std::mem::replace(&mut block, Vec::with_capacity(PARSE_BLOCK));
                if tx.blocking_send(full).is_err() {
                    return Ok(());
                }
            }
        }
        let _ = tx.blocking_send(block);
        Ok(())
    });
    let delivered = async {
        while let Some(block) = rx.recv().await {
            for result in block {
                match result {
                    Ok(mut r) => {
                        r.ensure_event_id();
                        batch.push(r);
                        if batch.len() >= FIREHOSE_BATCH {
                            sink.put(&batch).await.context("sending readings")?;
                            batch.clear();
                        }
                    }
                    Err(rej) => rejected.write(&rej)?,
                }
            }
        }
        sink.put(&batch).await.context("sending readings")?;
        sink.flush().await.context("delivering readings")
    }
    .await;
    rejected.finish()?;
    let stats = match delivered {
        Ok(stats) => stats,
        Err(e) => {
            // Say how far it got: the readings delivered are in the lake in input order, and
            // anything the sink could not write is not half in it.
            let so_far = sink.stats();
            drop(rx);
            let _ = parser.join();
            return Err(e.context(format!(
                "{} of {} readings were delivered before the failure; {} line(s) rejected so far",
                so_far.delivered, so_far.accepted, rejected.count
            )));
        }
    };
    parser
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?
        .with_context(|| format!("reading {source}"))?;
    eprintln!(
        "store-app: {}; {} rejected",
        summary(&stats, started),
        rejected.count
    );
    Ok((stats, rejected.count))
}

/// Rejected lines, written as they come (one JSON per line), so a run with many bad lines holds
/// none of them in memory and a stopped run keeps the ones found so far. The file is created
/// with the first reject.
struct RejectFile<'a> {
    path: &'a Path,
    out: Option<std::io::BufWriter<std::fs::File>>,
    count: usize,
}

impl<'a> RejectFile<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            out: None,
            count: 0,
        }
    }

    fn write(&mut self, rej: &Rejected) -> Result<()> {
        eprintln!(
            "{}:{}: field `{}`: {}",
            printable(&rej.source),
            rej.line,
            rej.field,
            printable(&rej.reason)
        );
        if self.out.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let file = std::fs::File::create(self.path)
                .with_context(|| format!("creating {}", self.path.display()))?;
            self.out = Some(std::io::BufWriter::new(file));
        }
        let out = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, rej)?;
        out.write_all(b"\n")
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.count += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(out) = self.out.take() {
            let file = out
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {}", self.path.display()))?;
            file.sync_all()
                .with_context(|| format!("writing {}", self.path.display()))?;
        }
        Ok(())
    }
}
