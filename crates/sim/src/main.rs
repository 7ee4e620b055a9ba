//! `store-sim`: run a scenario under a reorder policy, or compare policies on the same demand.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use store_model::planning::printable;
use store_sim::scenario::Scenario;
use store_sim::{Kpis, report};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A closed-loop what-if simulator: the real planner, queue, dispatcher and ledger over the
/// embedded backend, simulated shoppers, a virtual clock, and the KPIs of the outcome.
#[derive(Debug, Parser)]
#[command(name = "store-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a scenario under one policy; writes DIR/kpis.json and DIR/report.html.
    Run {
        #[command(flatten)]
        chain: ChainArgs,
        /// The reorder policy: `seed`, `threshold`, or a policy file (the scenario's, or
        /// `threshold`, when absent).
        #[arg(long)]
        policy: Option<String>,
    },
    /// Runs the same scenario and demand under each policy; writes DIR/compare.json and
    /// DIR/compare.html, and prints the table.
    Compare {
        #[command(flatten)]
        chain: ChainArgs,
        /// Policies, comma-separated: `seed`, `threshold`, or policy files.
        #[arg(long, value_delimiter = ',', required = true)]
        policies: Vec<String>,
    },
    /// Writes every shelf's daily demand (the units its shoppers ask for) to
    /// DIR/daily-demand.csv as `unique_id,ds,y`, without simulating: the series
    /// `store-bench forecast` and the forecast benchmark's references read.
    Demand {
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Draws the reports again from a `kpis.json` or `compare.json`, without simulating:
    /// DIR/report.html or DIR/compare.html, and DIR/stockouts.svg.
    Report {
        /// The KPIs a run or a comparison wrote.
        #[arg(long)]
        from: PathBuf,
        /// Where the reports go (created if absent).
        #[arg(long)]
        out: PathBuf,
    },
}

/// What every run takes: a scenario file and flags that override it.
#[derive(Debug, Args)]
struct ChainArgs {
    /// A scenario file (TOML; see `config/scenarios/`).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Stores.
    #[arg(long)]
    stores: Option<usize>,
    /// Products per store.
    #[arg(long)]
    products: Option<usize>,
    /// Days to simulate.
    #[arg(long)]
    days: Option<u32>,
    /// Seed of everything random.
    #[arg(long)]
    seed: Option<u64>,
    /// A fleet file (as `config/fleet.toml`).
    #[arg(long)]
    fleet: Option<PathBuf>,
    /// Hours between planning runs.
    #[arg(long)]
    every_hours: Option<u32>,
    /// Where the results go (created if absent).
    #[arg(long)]
    out: PathBuf,
    /// Keep each run's data folder (lake, queue, ledger) under DIR/data-<n>.
    #[arg(long)]
    keep_data: bool,
}

impl ChainArgs {
    fn scenario(&self) -> Result<Scenario> {
        let mut s = match &self.scenario {
            Some(path) => Scenario::load(path)?,
            None => Scenario::default(),
        };
        let c = &mut s.chain;
        c.stores = self.stores.unwrap_or(c.stores);
        c.products = self.products.unwrap_or(c.products);
        c.days = self.days.unwrap_or(c.days);
        c.seed = self.seed.unwrap_or(c.seed);
        if let Some(f) = &self.fleet {
            s.fleet.file = Some(f.clone());
        }
        if let Some(h) = self.every_hours {
            s.planner.every_hours = h;
        }
        s.validate()
            .map_err(|e| anyhow::anyhow!("command line: {e}"))?;
        Ok(s)
    }
}

/// Runs `scenario` under the policy `name`, its data in a folder under `out`.
async fn run_one(scenario: &Scenario, name: &str, out: &Path, keep: Option<usize>) -> Result<Kpis> {
    let policy = scenario.policy_named(name)?;
    let work = tempfile::Builder::new()
        .prefix(".sim-data-")
        .tempdir_in(out)
        .with_context(|| format!("creating a data folder in {}", out.display()))?;
    let started = Instant::now();
    let shown = printable(name);
    let days = scenario.chain.days;
    let progress = move |hour: u32, _hours: u32| {
        if hour.is_multiple_of(24) {
            eprintln!("store-sim: {shown}: day {} of {days}", hour / 24);
        }
    };
    let outcome = store_sim::run(scenario, name, policy, work.path(), &progress).await?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "store-sim: {}: {} shelf-hours in {seconds:.1} s ({:.0} shelf-hours/s)",
        printable(name),
        outcome.shelf_hours,
        outcome.shelf_hours as f64 / seconds.max(1e-9)
    );
    eprintln!(
        "store-sim: {}: where the time went: {}",
        printable(name),
        outcome.time.summary()
    );
    if let Some(n) = keep {
        let kept = out.join(format!("data-{n}"));
        if kept.exists() {
            bail!(
                "{} exists; move it away to keep this run's data",
                kept.display()
            );
        }
        std::fs::rename(work.keep(), &kept)
            .with_context(|| format!("keeping the data in {}", kept.display()))?;
        eprintln!("store-sim: data kept in {}", kept.display());
    }
    Ok(outcome.kpis)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("store-sim: wrote {}", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    store_runtime::logging::init_tracing_or("error");
    let cli = Cli::parse();
    match cli.command {
        Command::Run { chain, policy } => {
            let mut scenario = chain.scenario()?;
            if let Some(p) = policy {
                scenario.planner.policy = p;
            }
            std::fs::create_dir_all(&chain.out)
                .with_context(|| format!("creating {}", chain.out.display()))?;
            let name = scenario.planner.policy.clone();
            let kpis = run_one(&scenario, &name, &chain.out, chain.keep_data.then_some(1)).await?;
            write(
                &chain.out.join("kpis.json"),
                &(serde_json::to_string_pretty(&kpis)? + "\n"),
            )?;
            write(&chain.out.join("report.html"), &report::run_page(&kpis))?;
            print!("{}", report::text_table(std::slice::from_ref(&kpis)));
        }
        Command::Compare { chain, policies } => {
            let scenario = chain.scenario()?;
            std::fs::create_dir_all(&chain.out)
                .with_context(|| format!("creating {}", chain.out.display()))?;
            let mut runs = Vec::with_capacity(policies.len());
            for (i, name) in policies.iter().enumerate() {
                let keep = chain.keep_data.then_some(i + 1);
                runs.push(run_one(&scenario, name, &chain.out, keep).await?);
            }
            write(
                &chain.out.join("compare.json"),
                &(serde_json::to_string_pretty(&runs)? + "\n"),
            )?;
            write(
                &chain.out.join("compare.html"),
                &report::compare_page(&runs),
            )?;
            write(
                &chain.out.join("stockouts.svg"),
                &report::stockouts_svg(&runs),
            )?;
            print!("{}", report::text_table(&runs));
        }
        Command::Demand { chain } => {
            let scenario = chain.scenario()?;
            std::fs::create_dir_all(&chain.out)
                .with_context(|| format!("creating {}", chain.out.display()))?;
            let path = chain.out.join("daily-demand.csv");
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let rows = store_sim::series::write_daily_demand(
                &scenario,
                &mut std::io::BufWriter::new(file),
            )
            .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("store-sim: wrote {} ({rows} shelf-days)", path.display());
        }
        Command::Report { from, out } => {
            let text = std::fs::read_to_string(&from)
                .with_context(|| format!("reading {}", from.display()))?;
            let runs: Vec<Kpis> = match serde_json::from_str::<Vec<Kpis>>(&text) {
                Ok(runs) => runs,
                Err(_) => vec![serde_json::from_str::<Kpis>(&text).with_context(|| {
                    format!("{}: not a kpis.json or compare.json", from.display())
                })?],
            };
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            if let [one] = runs.as_slice() {
                write(&out.join("report.html"), &report::run_page(one))?;
            } else {
                write(&out.join("compare.html"), &report::compare_page(&runs))?;
            }
            write(&out.join("stockouts.svg"), &report::stockouts_svg(&runs))?;
            print!("{}", report::text_table(&runs));
        }
    }
    Ok(())
}
