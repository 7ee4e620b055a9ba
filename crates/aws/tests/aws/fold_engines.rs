//! The snapshot fold gives the same demand state on both engines: DataFusion runs the fold over
//! the lake folder as a local planning run does, and the text Athena is sent for the same fold
//! (bound as Athena binds it) runs in DuckDB, read as Trino SQL, over the same Parquet
//! partitions (`scripts/check_fold_engines.py`). No Athena runs locally; DuckDB stands in for
//! its engine, told to divide integers as Trino does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use store_aws::athena::{bind, compaction_unload};
use store_local::{DataFusionInventoryQuery, FirehoseConfig, LakeFolder, LocalFirehoseSink};
use store_model::lake::{READINGS_PREFIX, dt_partition};
use store_model::ports::ReadingSink;
use store_model::random::SplitMix64;
use store_model::snapshot::Fold;
use store_model::{ObjectFormat, Reading};
use tempfile::TempDir;

/// The variable `scripts/test.sh` sets to the tools venv's Python (DuckDB and sqlglot).
const PYTHON_VAR: &str = "STORE_TEST_PYTHON";

/// An hour boundary.
const START: i64 = 1_764_000_000 / 3600 * 3600 - 30 * 3600;

fn python() -> String {
    std::env::var(PYTHON_VAR).unwrap_or_else(|_| {
        panic!(
            "{PYTHON_VAR} is not set: run `scripts/test.sh`, which sets it to the tools venv's \
             Python, or set it to a Python with duckdb and sqlglot (scripts/tools-requirements.txt)"
        )
    })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check_fold_engines.py")
}

struct Shelf {
    store: u64,
    product: u64,
    stock: i32,
}

/// A lake written by the local Firehose, its clock set per put.
struct Lake {
    dir: TempDir,
    clock: Arc<AtomicI64>,
    sink: LocalFirehoseSink,
}

impl Lake {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let clock = Arc::new(AtomicI64::new(START));
        let c = clock.clone();
        let sink = LocalFirehoseSink::new(
            LakeFolder::open(dir.path(), "lake").unwrap(),
            FirehoseConfig {
                format: ObjectFormat::Parquet,
                buffer_bytes: 8 * 1024,
                ..FirehoseConfig::default()
            },
            Arc::new(move || c.load(Ordering::SeqCst)),
        );
        Lake { dir, clock, sink }
    }

    fn folder(&self) -> LakeFolder {
        LakeFolder::open(self.dir.path(), "lake").unwrap()
    }

    /// Puts `r` as arriving at `arrival` (its partition is that hour's).
    async fn put(&self, arrival: i64, r: Reading) {
        self.clock.store(arrival, Ordering::SeqCst);
        self.sink.put(&[r]).await.unwrap();
        self.sink.flush().await.unwrap();
    }
}

fn reading(shelf: &Shelf, taken: i64, rng: &mut SplitMix64) -> Reading {
    let mut r = Reading {
        store_id: format!("STORE_{}", shelf.store),
        product_id: format!("PRD_{}", shelf.product),
        product_name: format!("Phở {}", shelf.product),
        current_stock: shelf.stock,
        threshold_level: 8,
        is_stock_low: false,
        check_timestamp: taken,
        notification_sent: false,
        restock_status: "OK".into(),
        event_id: None,
        max_stock: Some(60),
    };
    if rng.unit() >= 0.2 {
        r.ensure_event_id();
    }
    r
}

/// Readings of every shelf from `from` for `hours` hours: sales of 0 to 3 units, restocks, a
/// reading taken twice in the same second with two stocks, readings arriving an hour or two
/// after they were taken, and one from the far future (which no fold may keep).
async fn stream(lake: &Lake, shelves: &mut [Shelf], rng: &mut SplitMix64, from: i64, hours: i64) {
    for h in 0..hours {
        let hour = from + h * 3600;
        for shelf in shelves.iter_mut() {
            let readings = 1 + rng.next_u64() % 3;
            for i in 0..readings {
                if rng.unit() < 0.08 {
                    shelf.stock = 60;
                } else {
                    shelf.stock = (shelf.stock - (rng.next_u64() % 4) as i32).max(0);
                }
                let taken = hour + 60 + (i as i64) * 1000 + (rng.next_u64() % 600) as i64;
                let late = if rng.unit() < 0.1 { 3600 + 1800 } else { 30 };
                let r = reading(shelf, taken, rng);
                if rng.unit() < 0.05 {
                    let mut twin = reading(shelf, taken, rng);
                    twin.current_stock = (shelf.stock + 2).min(60);
                    lake.put(taken + late, twin).await;
                }
                lake.put(taken + late, r).await;
            }
        }
    }
    let mut future = reading(&shelves[0], from + hours * 3600 + 3 * 86_400, rng);
    future.current_stock = 1;
    lake.put(from + hours * 3600 - 600, future).await;
}

/// The bound UNLOAD the Athena planner sends for `fold` over the generation `previous` (its
/// run id).
fn athena_text(fold: &Fold, previous: Option<&str>, now: i64) -> String {
    let (sql, params) = compaction_unload(
        "\"readings\"",
        "(SELECT * FROM \"latest_snapshot\" WHERE run = ?) snapshot",
        previous,
        fold,
        "lake-bucket",
        &format!("run-{}", fold.generation),
        now,
    );
    bind(&sql, &params)
}

#[tokio::test]
async fn the_athena_fold_text_gives_the_demand_state_datafusion_gives() {
    let python = python();
    let lake = Lake::new();
    let work = TempDir::new().unwrap();
    let database = work.path().join("athena.duckdb");
    let query =
        DataFusionInventoryQuery::new(lake.folder(), &lake.dir.path().join("state")).unwrap();
    let readings_root = lake.folder().prefix_folder(READINGS_PREFIX).unwrap();
    let mut rng = SplitMix64::new(2026);
    let mut shelves: Vec<Shelf> = (0..4)
        .flat_map(|store| (0..6).map(move |product| (store, product)))
        .map(|(store, product)| Shelf {
            store,
            product,
            stock: 40,
        })
        .collect();
    let dt = |h: i64| dt_partition(START + h * 3600);
    // Three folds as planning runs make them: the first, a later one with a partition the
    // first folded named again (an object landed in it since), and one more.
    let mut previous: Option<(String, String)> = None;
    let mut total_rows = 0;
    let mut total_folded = 0;
    for (generation, from, to, late) in [(1, 0, 12, None), (2, 12, 20, Some(3)), (3, 20, 30, None)]
    {
        if generation == 1 {
            stream(&lake, &mut shelves, &mut rng, START, 12).await;
        } else {
            stream(
                &lake,
                &mut shelves,
                &mut rng,
                START + from * 3600,
                to - from,
            )
            .await;
        }
        if let Some(h) = late {
            // An object landing in an hour the last fold read, with readings taken in it.
            for shelf in shelves.iter().take(5) {
                let taken = START + h * 3600 + 1200;
                let mut r = reading(shelf, taken, &mut rng);
                r.current_stock = 17;
                lake.put(START + h * 3600 + 3000, r).await;
            }
        }
        let fold = Fold {
            generation,
            from: dt(from),
            watermark: dt(to),
            covers_from: dt(0),
            late: late.map(dt).into_iter().collect(),
        };
        let now = START + to * 3600 + 1200;
        let run = format!("run-{generation}");
        let datafusion_key = format!("compare/{run}.parquet");
        let rows = query
            .fold_into(
                &fold,
                previous.as_ref().map(|(_, key)| key.as_str()),
                now,
                &datafusion_key,
            )
            .await
            .unwrap();
        assert!(rows > 0, "generation {generation} has rows");
        let sql = work.path().join(format!("{run}.sql"));
        std::fs::write(
            &sql,
            athena_text(&fold, previous.as_ref().map(|(run, _)| run.as_str()), now),
        )
        .unwrap();
        let step = work.path().join(format!("{run}.json"));
        std::fs::write(
            &step,
            serde_json::json!({
                "database": database,
                "readings": readings_root,
                "sql": sql,
                "run": run,
                "datafusion": lake.folder().path(&datafusion_key),
            })
            .to_string(),
        )
        .unwrap();
        let out = std::process::Command::new(&python)
            .arg(script())
            .arg(&step)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "generation {generation}: the engines differ:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(summary["rows"].as_u64(), Some(rows), "{summary}");
        total_rows += rows;
        total_folded += summary["folded"].as_u64().unwrap();
        previous = Some((run, datafusion_key));
    }
    // Every shelf in every generation, and readings folded in each.
    assert_eq!(total_rows, 3 * 24);
    assert!(total_folded > 500, "{total_folded} readings folded");
}
