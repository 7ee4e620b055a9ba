//! `store-bench`: the Rust side of `scripts/bench.sh`.
//!
//! - `generate` writes a realistic lake through the local Firehose: hundreds of stores, thousands
//!   of products with skewed sales, Vietnamese names, readings spread over a day of arrival hours
//!   with some arriving hours late, deterministic for a seed.
//! - `ndjson` writes the same kind of readings to one NDJSON file (the ingest input).
//! - `plan` times the embedded planning query over a lake, as the planner runs it, or (`--mode
//!   invoke`) a whole dry planning run, rules and result included.
//! - `queue` times alerts through the embedded queue: send, receive, delete.
//! - `forecast` scores the planner's demand forecaster on daily series ([`forecast`]).
//!
//! Every command prints one JSON object on stdout.
//!
//! Depends on `store-model`, `store-local` (the engine it times) and `store-planning-app` (the
//! planner it runs).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use store_local::{
    DataDir, DataFusionInventoryQuery, FirehoseConfig, FolderLedger, LocalFirehoseSink,
    QueueConfig, SqliteAlertQueue,
};
use store_model::PlanningEvent;
use store_model::planning::ReorderPolicy;
use store_model::ports::{AlertQueue, InventoryQuery, ReadingSink};
use store_model::random::SplitMix64;
use store_model::{InventoryRequest, ObjectFormat, Reading};
use store_planning_app::Planner;

mod forecast;

#[derive(Parser, Debug)]
#[command(version, about = "Benchmark helpers for scripts/bench.sh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write `--readings` generated readings into the lake of `--data-dir` through the local
    /// Firehose, arriving over the `--span-seconds` before `--now`.
    Generate {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        readings: u64,
        #[arg(long, default_value = "parquet")]
        format: ObjectFormat,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// End of the arrival period, epoch seconds.
        #[arg(long)]
        now: i64,
        /// Length of the arrival period.
        #[arg(long, default_value_t = 24 * 3600)]
        span_seconds: i64,
        /// The chain simulated.
        #[arg(long, value_enum, default_value_t = Shape::Chain)]
        shape: Shape,
    },
    /// Write generated readings to one NDJSON file.
    Ndjson {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        readings: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        now: i64,
    },
    /// Time the planning query over the lake of `--data-dir` (24 h window ending at `--now`).
    Plan {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        now: i64,
        /// `full` scans the window; `incremental` folds closed hours into the snapshot and reads
        /// it with the open hours; `invoke` is a whole dry planning run (incremental).
        #[arg(long, default_value = "full")]
        mode: String,
        /// Timed runs after a first, untimed one (which also checks new objects).
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// Send, receive and delete `--alerts` alerts through the embedded queue.
    Queue {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        alerts: usize,
    },
    /// Run the planner's demand forecaster over the daily series of `--input` (CSV
    /// `unique_id,ds,y`), the last `--horizon` days of each held out; write the forecasts to
    /// `--forecasts` (`unique_id,ds,ours`) and print the MASE, over all and per class.
    Forecast {
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value_t = 7)]
        horizon: usize,
        #[arg(long)]
        forecasts: PathBuf,
    },
}

/// Syllables of the generated product names.
const HEADS: [&str; 12] = [
    "Bánh",
    "Phở",
    "Cà phê",
    "Sữa",
    "Rau",
    "Thịt",
    "Cơm",
    "Bún",
    "Chả",
    "Gạo",
    "Nước mắm",
    "Trà",
];
const TAILS: [&str; 10] = [
    "bò",
    "gà",
    "tươi",
    "đá",
    "sen",
    "muối",
    "chua ngọt",
    "nếp",
    "đậu xanh",
    "xoài",
];

/// The chain a generator simulates.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Shape {
    /// 300 stores stocking 400 of 3,000 products each, best sellers reporting far more often:
    /// about 120,000 store/product keys with many readings each.
    Chain,
    /// 500 stores stocking 2,000 of 20,000 products each, every product reporting alike, a
    /// fifth of the shelves low: about 860,000 keys at 2M readings, two readings per key.
    Wide,
}

/// A shape's numbers.
struct Chain {
    stores: usize,
    products: usize,
    per_store: usize,
    /// Exponent of the skew towards popular products (1: none).
    skew: f64,
    /// Share of shelves that start below their reorder point.
    low: f64,
}

impl Shape {
    fn chain(self) -> Chain {
        match self {
            Self::Chain => Chain {
                stores: 300,
                products: 3_000,
                per_store: 400,
                skew: 2.5,
                low: 0.0,
            },
            Self::Wide => Chain {
                stores: 500,
                products: 20_000,
                per_store: 2_000,
                skew: 1.0,
                low: 0.2,
            },
        }
    }
}

/// The generated chain's state: each store's assortment and each shelf's stock.
struct Generator {
    rng: SplitMix64,
    chain: Chain,
    assortment: Vec<Vec<usize>>,
    stock: Vec<i32>,
    threshold: Vec<i32>,
    store_weights: Vec<f64>,
}

/// Share of readings that arrive one to three hours after they were taken.
const LATE_SHARE: f64 = 0.03;

impl Generator {
    fn new(seed: u64, shape: Shape) -> Self {
        let mut rng = SplitMix64::new(seed);
        let chain = shape.chain();
        let assortment: Vec<Vec<usize>> = (0..chain.stores)
            .map(|_| {
                // Popular products are stocked almost everywhere: pick by a skewed index.
                let mut stocked = vec![false; chain.products];
                let mut picked: Vec<usize> = Vec::with_capacity(chain.per_store);
                while picked.len() < chain.per_store {
                    let p = (chain.products as f64 * rng.unit().powf(1.6)) as usize;
                    if !std::mem::replace(&mut stocked[p], true) {
                        picked.push(p);
                    }
                }
                picked.sort_unstable();
                picked
            })
            .collect();
        let keys = chain.stores * chain.per_store;
        let threshold: Vec<i32> = (0..keys).map(|_| 10 + (rng.unit() * 30.0) as i32).collect();
        let stock = threshold
            .iter()
            .map(|t| {
                // No draw when no shelf starts low: the chain's lake stays as it was generated.
                if chain.low > 0.0 && rng.unit() < chain.low {
                    t / 2
                } else {
                    t * 2
                }
            })
            .collect();
        // Some stores are much busier than others.
        let store_weights = (0..chain.stores)
            .map(|_| 0.2 + rng.unit().powi(3) * 4.0)
            .collect();
        Self {
            rng,
            chain,
            assortment,
            stock,
            threshold,
            store_weights,
        }
    }

    fn pick_store(&mut self) -> usize {
        // Rejection sampling on the store weights (max 4.2).
        loop {
            let s = (self.rng.next_u64() % self.chain.stores as u64) as usize;
            if self.rng.unit() * 4.2 < self.store_weights[s] {
                return s;
            }
        }
    }

    /// The next reading, taken at `taken`.
    fn reading(&mut self, taken: i64) -> Reading {
        let store = self.pick_store();
        // Best sellers report (and sell) far more often: a skewed index into the assortment.
        let per_store = self.chain.per_store;
        let slot = ((per_store as f64 * self.rng.unit().powf(self.chain.skew)) as usize)
            .min(per_store - 1);
        let product = self.assortment[store][slot];
        let key = store * per_store + slot;
        let sold = (self.rng.unit().powi(2) * 6.0) as i32;
        let mut stock = self.stock[key] - sold;
        if stock < 0 || (stock < self.threshold[key] && self.rng.unit() < 0.1) {
            // A delivery came in.
            stock = self.threshold[key] * 3;
        }
        self.stock[key] = stock;
        let threshold = self.threshold[key];
        let mut id = [0_u8; 16];
        id[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        Reading {
            store_id: format!("STORE_{}", store + 1),
            product_id: format!("PRD_{}", product + 1),
            product_name: format!(
                "{} {} {}",
                HEADS[product % HEADS.len()],
                TAILS[(product / HEADS.len()) % TAILS.len()],
                product + 1
            ),
            current_stock: stock,
            threshold_level: threshold,
            is_stock_low: stock < threshold,
            check_timestamp: taken,
            notification_sent: false,
            restock_status: if stock < threshold { "LOW" } else { "OK" }.to_owned(),
            event_id: Some(uuid::Builder::from_random_bytes(id).into_uuid().to_string()),
            max_stock: Some(threshold * 3),
        }
    }

    /// Readings in arrival order over the `span` seconds before `now`: (arrival time, reading).
    fn stream(mut self, n: u64, now: i64, span: i64) -> impl Iterator<Item = (i64, Reading)> {
        let start = now - span;
        let step = span as f64 / n.max(1) as f64;
        (0..n).map(move |i| {
            let arrival = start + (i as f64 * step) as i64;
            let taken = if self.rng.unit() < LATE_SHARE {
                arrival - 3600 - (self.rng.unit() * 7200.0) as i64
            } else {
                arrival - (self.rng.unit() * 30.0) as i64
            };
            (arrival, self.reading(taken))
        })
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate {
            data_dir,
            readings,
            format,
            seed,
            now,
            span_seconds,
            shape,
        } => {
            let readings = Generator::new(seed, shape).stream(readings, now, span_seconds);
            generate(&data_dir, readings, format, now - span_seconds).await
        }
        Command::Ndjson {
            out,
            readings,
            seed,
            now,
        } => ndjson(&out, readings, seed, now),
        Command::Plan {
            data_dir,
            now,
            mode,
            runs,
        } => plan(&data_dir, now, &mode, runs).await,
        Command::Queue { data_dir, alerts } => queue(&data_dir, alerts).await,
        Command::Forecast {
            input,
            horizon,
            forecasts,
        } => {
            let file = std::fs::File::open(&input)
                .with_context(|| format!("opening {}", input.display()))?;
            let series = forecast::read_series(std::io::BufReader::new(file))
                .with_context(|| format!("reading {}", input.display()))?;
            let out = std::fs::File::create(&forecasts)
                .with_context(|| format!("creating {}", forecasts.display()))?;
            let summary = forecast::run(&series, horizon, &mut std::io::BufWriter::new(out))
                .with_context(|| format!("writing {}", forecasts.display()))?;
            println!("{summary}");
            Ok(())
        }
    }
}

/// `generate`: a lake of `readings` (arrival time, reading), arriving from `start` on, through
/// the local delivery stream with Firehose's largest buffers.
async fn generate(
    data_dir: &Path,
    readings: impl Iterator<Item = (i64, Reading)>,
    format: ObjectFormat,
    start: i64,
) -> Result<()> {
    let lake = DataDir::new(data_dir).lake()?;
    let clock = Arc::new(AtomicI64::new(start));
    let sink = LocalFirehoseSink::new(
        lake,
        FirehoseConfig {
            stream_name: "store-readings".into(),
            format,
            // Firehose's largest buffering hints: 128 MiB or 900 s.
            buffer_bytes: 128 * 1024 * 1024,
            buffer_interval: Duration::from_secs(900),
        },
        {
            let clock = clock.clone();
            Arc::new(move || clock.load(Ordering::Relaxed))
        },
    );
    let started = Instant::now();
    let mut chunk = Vec::with_capacity(10_000);
    for (arrival, reading) in readings {
        chunk.push(reading);
        if chunk.len() == chunk.capacity() {
            clock.store(arrival, Ordering::Relaxed);
            sink.flush_if_due().await?;
            sink.put(&chunk).await?;
            chunk.clear();
        }
    }
    sink.put(&chunk).await?;
    let stats = sink.flush().await?;
    println!(
        "{}",
        json!({
            "readings": stats.delivered,
            "objects": stats.objects,
            "bytes": stats.bytes,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );

    Ok(())
}

/// `ndjson`: the same readings as one NDJSON file (for DuckDB and `cat`).
fn ndjson(out: &Path, readings: u64, seed: u64, now: i64) -> Result<()> {
    let file = std::fs::File::create(out).with_context(|| format!("{}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut bytes = 0_u64;
    for (_, r) in Generator::new(seed, Shape::Chain).stream(readings, now, 24 * 3600) {
        let line = serde_json::to_vec(&r)?;
        bytes += line.len() as u64 + 1;
        w.write_all(&line)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    println!("{}", json!({"readings": readings, "bytes": bytes}));

    Ok(())
}

/// `plan`: the planning query over a lake, first run and best of `runs`.
async fn plan(data_dir: &Path, now: i64, mode: &str, runs: u32) -> Result<()> {
    let incremental = match mode {
        "full" => false,
        "incremental" => true,
        "invoke" => return invoke(data_dir, now, runs).await,
        other => bail!("--mode must be `full`, `incremental` or `invoke`, got `{other}`"),
    };
    let dir = DataDir::new(data_dir);
    let query =
        DataFusionInventoryQuery::new(dir.lake()?, &dir.state_dir())?.with_incremental(incremental);
    let request = InventoryRequest::new(now, 24, Vec::new());
    let started = Instant::now();
    let first = query.latest_readings(&request).await?;
    let first_seconds = started.elapsed().as_secs_f64();
    let first_bytes = first.bytes_scanned;
    let mut times = Vec::new();
    let mut last = first;
    for _ in 0..runs {
        let started = Instant::now();
        last = query.latest_readings(&request).await?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let low = last
        .latest
        .iter()
        .filter(|l| l.current_stock < l.threshold_level)
        .count();
    println!(
        "{}",
        json!({
            "first_seconds": first_seconds,
            "first_bytes_scanned": first_bytes,
            "best_seconds": times.first().copied().unwrap_or(first_seconds),
            "rows": last.latest.len(),
            "low": low,
            "readings_scanned": last.readings_scanned,
            "bytes_scanned": last.bytes_scanned,
            "peak_rss_kib": peak_rss_kib(),
        })
    );

    Ok(())
}

/// `plan --mode invoke`: a whole planning run as `invoke` makes it (the query over the snapshot
/// and the open hours, the rules for every shelf, the result as JSON), dry so that every run
/// plans the same alerts; first run and best of `runs`.
async fn invoke(data_dir: &Path, now: i64, runs: u32) -> Result<()> {
    let dir = DataDir::new(data_dir);
    let lake = dir.lake()?;
    let planner = Planner {
        query: Arc::new(DataFusionInventoryQuery::new(
            lake.clone(),
            &dir.state_dir(),
        )?),
        queue: Arc::new(SqliteAlertQueue::open(
            &dir.queue_path(),
            QueueConfig::default(),
        )?),
        ledger: Arc::new(FolderLedger::new(lake)),
        policy: ReorderPolicy::default(),
        known_stores: Vec::new(),
        clock: Arc::new(move || now),
    };
    let event = PlanningEvent {
        dry_run: Some(true),
        ..PlanningEvent::default()
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..=runs {
        let started = Instant::now();
        let result = planner.handle(event.clone()).await?;
        let mut out = std::io::BufWriter::new(std::io::sink());
        serde_json::to_writer_pretty(&mut out, &result)?;
        out.flush()?;
        times.push(started.elapsed().as_secs_f64());
        last = Some(result);
    }
    let first_seconds = times.remove(0);
    times.sort_by(f64::total_cmp);
    let result = last.context("no run")?;
    println!(
        "{}",
        json!({
            "first_seconds": first_seconds,
            "best_seconds": times.first().copied().unwrap_or(first_seconds),
            "alerts": result.alerts.len() + result.unlisted.alerts,
            "listed": result.alerts.len(),
            "suppressed": result.alerts_suppressed,
            "readings_scanned": result.readings_scanned,
            "result_bytes": serde_json::to_vec(&result)?.len(),
            "peak_rss_kib": peak_rss_kib(),
        })
    );
    Ok(())
}

/// `queue`: `alerts` alerts through the embedded queue, sent and received in batches.
async fn queue(data_dir: &Path, alerts: usize) -> Result<()> {
    if alerts == 0 {
        bail!("--alerts must be at least 1");
    }
    let dir = DataDir::new(data_dir);
    std::fs::create_dir_all(dir.root())?;
    let queue = SqliteAlertQueue::open(&dir.queue_path(), QueueConfig::default())?;
    let batch: Vec<_> = (0..alerts)
        .map(|n| store_model::contract::alert(n, 1_764_000_000))
        .collect();
    // The planner sends a run's alerts in one call; the truck app takes ten at a time.
    let started = Instant::now();
    for chunk in batch.chunks(1_000) {
        queue.send(chunk).await?;
    }
    let sent = started.elapsed().as_secs_f64();
    let mut received = 0;
    while received < alerts {
        let messages = queue.receive(10, Duration::from_millis(100)).await?;
        if messages.is_empty() {
            bail!("the queue ran dry after {received} of {alerts}");
        }
        received += messages.len();
        let handles: Vec<String> = messages.into_iter().map(|m| m.receipt_handle).collect();
        queue.delete(&handles).await?;
    }
    let total = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "alerts": alerts,
            "send_seconds": sent,
            "total_seconds": total,
            "alerts_per_second": alerts as f64 / total,
            "peak_rss_kib": peak_rss_kib(),
        })
    );

    Ok(())
}
