//! Incremental planning over the compacted snapshot gives the latest readings a full scan gives,
//! and two planners compacting at once commit each generation once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use store_local::{DataFusionInventoryQuery, FirehoseConfig, LakeFolder, LocalFirehoseSink};
use store_model::ports::{InventoryQuery, ReadingSink};
use store_model::random::SplitMix64;
use store_model::snapshot::Snapshots;
use store_model::{InventoryRequest, LatestReading, ObjectFormat, Reading};
use tempfile::TempDir;

/// An hour boundary.
const T: i64 = 1_764_000_000 / 3600 * 3600;

struct Lake {
    dir: TempDir,
    clock: Arc<AtomicI64>,
    sink: LocalFirehoseSink,
}

fn lake(format: ObjectFormat) -> Lake {
    let dir = TempDir::new().unwrap();
    let clock = Arc::new(AtomicI64::new(T));
    let c = clock.clone();
    let sink = LocalFirehoseSink::new(
        LakeFolder::open(dir.path(), "lake").unwrap(),
        FirehoseConfig {
            format,
            buffer_bytes: 16 * 1024,
            ..FirehoseConfig::default()
        },
        Arc::new(move || c.load(Ordering::SeqCst)),
    );
    Lake { dir, clock, sink }
}

impl Lake {
    fn folder(&self) -> LakeFolder {
        LakeFolder::open(self.dir.path(), "lake").unwrap()
    }

    fn query(&self, incremental: bool) -> DataFusionInventoryQuery {
        DataFusionInventoryQuery::new(
            self.folder(),
            &self.dir.path().join(format!("state-{incremental}")),
        )
        .unwrap()
        .with_incremental(incremental)
    }

    /// `n` readings arriving from `from` for `hours` hours, some of them taken hours before
    /// they arrive.
    async fn arrive(&self, rng: &mut SplitMix64, n: usize, from: i64, hours: i64) {
        for i in 0..n {
            let arrival = from + (i as i64 * hours * 3600) / n as i64;
            self.clock.store(arrival, Ordering::SeqCst);
            let late = rng.unit() < 0.1;
            let store = rng.next_u64() % 7;
            let product = rng.next_u64() % 9;
            let mut r = Reading {
                store_id: format!("STORE_{store}"),
                product_id: format!("PRD_{product}"),
                product_name: format!("Bánh {product}"),
                current_stock: (rng.next_u64() % 40) as i32,
                threshold_level: 10,
                is_stock_low: false,
                check_timestamp: arrival - if late { 7200 } else { 5 },
                notification_sent: false,
                restock_status: "OK".into(),
                event_id: None,
                max_stock: Some(30),
            };
            if !rng.unit().lt(&0.2) {
                r.ensure_event_id();
            }
            self.sink.flush_if_due().await.unwrap();
            self.sink.put(&[r]).await.unwrap();
        }
        self.sink.flush().await.unwrap();
    }
}

fn key(l: &LatestReading) -> (String, String, i64, i64, Option<String>, String) {
    (
        l.store_id.clone(),
        l.product_id.clone(),
        l.current_stock,
        l.check_timestamp,
        l.event_id.clone(),
        l.product_name.clone(),
    )
}

async fn latest(
    q: &DataFusionInventoryQuery,
    now: i64,
    lookback: u32,
) -> Vec<(String, String, i64, i64, Option<String>, String)> {
    let r = q
        .latest_readings(&InventoryRequest::new(now, lookback, Vec::new()))
        .await
        .unwrap();
    r.latest.iter().map(key).collect()
}

#[tokio::test]
async fn incremental_runs_return_the_latest_readings_of_a_full_scan() {
    for format in [ObjectFormat::Parquet, ObjectFormat::Json] {
        let lake = lake(format);
        let mut rng = SplitMix64::new(5);
        // Ten hours of history, then a first run folds every closed hour into generation 1.
        lake.arrive(&mut rng, 400, T - 10 * 3600, 10).await;
        let (full, inc) = (lake.query(false), lake.query(true));
        let now = T + 1800;
        assert_eq!(
            latest(&inc, now, 24).await,
            latest(&full, now, 24).await,
            "{format:?}"
        );
        let snapshots = Snapshots::new(lake.folder());
        let first = snapshots
            .current()
            .await
            .unwrap()
            .expect("the first run compacts");
        assert_eq!(
            (first.generation, first.watermark.as_str()),
            (1, "2025-11-24-16")
        );
        assert!(first.folded_readings.unwrap_or(0) > 300, "{first:?}");

        // New data in the open hour: the snapshot is reused, the answer still matches.
        lake.arrive(&mut rng, 40, T, 1).await;
        assert_eq!(
            latest(&inc, now + 600, 24).await,
            latest(&full, now + 600, 24).await
        );
        assert_eq!(snapshots.current().await.unwrap().unwrap().generation, 1);

        // Two hours on, the hour is closed: generation 2 folds it (and only it).
        let later = T + 2 * 3600;
        lake.arrive(&mut rng, 40, T + 3600, 1).await;
        assert_eq!(
            latest(&inc, later, 24).await,
            latest(&full, later, 24).await
        );
        let second = snapshots.current().await.unwrap().unwrap();
        assert_eq!(second.generation, 2);
        assert_eq!(
            second.folded_readings,
            Some(40),
            "only the newly closed hour is read"
        );
        // A shorter window, and one reaching before the snapshot (a full scan then).
        assert_eq!(latest(&inc, later, 3).await, latest(&full, later, 3).await);
        assert_eq!(
            latest(&inc, later, 72).await,
            latest(&full, later, 72).await
        );
    }
}

#[tokio::test]
async fn concurrent_compactions_commit_each_generation_once() {
    let lake = lake(ObjectFormat::Parquet);
    let mut rng = SplitMix64::new(9);
    lake.arrive(&mut rng, 300, T - 6 * 3600, 6).await;
    let (a, b, full) = (lake.query(true), lake.query(true), lake.query(false));
    let now = T + 1800;
    let (x, y) = tokio::join!(latest(&a, now, 24), latest(&b, now, 24));
    let expected = latest(&full, now, 24).await;
    assert_eq!(x, expected);
    assert_eq!(y, expected);
    let commits = lake.folder().list("snapshots/latest/_commits/").unwrap();
    assert_eq!(commits.len(), 1, "one generation, committed once");
    let data: Vec<_> = lake
        .folder()
        .list("snapshots/latest/")
        .unwrap()
        .into_iter()
        .filter(|o| o.key.ends_with(".parquet"))
        .collect();
    assert_eq!(data.len(), 1, "the loser's data is removed: {data:?}");
}

/// A Parquet object from another writer, in `partition`: one good reading of STORE_1/PRD_1 and
/// one of the same shelf without a check time.
fn put_foreign_object(lake: &Lake, partition: &str, good_time: i64) {
    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use datafusion::parquet::arrow::ArrowWriter;
    let reading = |stock| Reading {
        store_id: "STORE_1".into(),
        product_id: "PRD_1".into(),
        product_name: "Bánh mì".into(),
        current_stock: stock,
        threshold_level: 10,
        is_stock_low: false,
        check_timestamp: good_time,
        notification_sent: false,
        restock_status: "OK".into(),
        event_id: Some("ffffffff-0000-4000-8000-000000000001".into()),
        max_stock: Some(30),
    };
    let batch = store_local::schema::readings_to_batch(&[reading(2), reading(1)]).unwrap();
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| match f.name().as_str() {
            "check_timestamp" => {
                Arc::new(Int64Array::from(vec![Some(good_time), None])) as ArrayRef
            }
            _ => c.clone(),
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let path = lake
        .folder()
        .path(&format!("readings/dt={partition}/foreign-1.parquet"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[tokio::test]
async fn a_foreign_row_without_a_check_time_is_left_out_and_counted() {
    let lake = lake(ObjectFormat::Parquet);
    let mut rng = SplitMix64::new(11);
    lake.arrive(&mut rng, 100, T - 4 * 3600, 4).await;
    // In an hour the first run folds: Trino (and the embedded max_by) refuse to compare the
    // row key of a reading whose time is null, so the compaction must leave it out.
    put_foreign_object(&lake, "2025-11-24-15", T - 3600 + 60);
    let now = T + 1800;
    for incremental in [true, false] {
        let q = lake.query(incremental);
        let run = q
            .latest_readings(&InventoryRequest::new(now, 24, Vec::new()))
            .await
            .unwrap_or_else(|e| panic!("incremental {incremental}: {e}"));
        let shelf = run
            .latest
            .iter()
            .find(|l| (l.store_id.as_str(), l.product_id.as_str()) == ("STORE_1", "PRD_1"))
            .unwrap();
        assert_eq!(
            (shelf.check_timestamp, shelf.current_stock),
            (T - 3600 + 60, 2),
            "the good reading of the foreign object is the latest"
        );
        assert_eq!(
            run.malformed_skipped, 1,
            "the row without a time is counted once"
        );
    }
}

#[tokio::test]
async fn a_reading_from_the_far_future_never_hides_the_shelf() {
    for format in [ObjectFormat::Parquet, ObjectFormat::Json] {
        let lake = lake(format);
        let mut rng = SplitMix64::new(17);
        lake.arrive(&mut rng, 100, T - 4 * 3600, 4).await;
        // A reading ten years ahead, written straight into a closed hour (past the door's
        // check), and one from 1999: neither may win the shelf, now or after a fold.
        let mut ahead = Reading {
            store_id: "STORE_1".into(),
            product_id: "PRD_1".into(),
            product_name: "Bánh 1".into(),
            current_stock: 999,
            threshold_level: 10,
            is_stock_low: false,
            check_timestamp: T + 10 * 365 * 86_400,
            notification_sent: false,
            restock_status: "OK".into(),
            event_id: Some("ffffffff-0000-4000-8000-00000000000b".into()),
            max_stock: Some(30),
        };
        let mut old = ahead.clone();
        old.check_timestamp = 915_148_800;
        old.event_id = Some("ffffffff-0000-4000-8000-00000000000c".into());
        let mut text = String::new();
        for r in [&ahead, &old] {
            text.push_str(&serde_json::to_string(r).unwrap());
            text.push('\n');
        }
        lake.folder()
            .put(
                "readings/dt=2025-11-24-14/foreign-clock.json",
                text.as_bytes(),
            )
            .unwrap();
        ahead.check_timestamp = T - 30;
        let (full, inc) = (lake.query(false), lake.query(true));
        for now in [T + 1800, T + 2 * 3600 + 60] {
            let want = latest(&full, now, 24).await;
            assert_eq!(latest(&inc, now, 24).await, want, "{format:?} at {now}");
            let shelf = want
                .iter()
                .find(|l| (l.0.as_str(), l.1.as_str()) == ("STORE_1", "PRD_1"))
                .unwrap();
            assert!(shelf.3 <= now && shelf.2 != 999, "{format:?}: {shelf:?}");
        }
    }
}

#[tokio::test]
async fn an_object_landing_in_a_folded_hour_reaches_the_next_plan() {
    for format in [ObjectFormat::Parquet, ObjectFormat::Json] {
        let lake = lake(format);
        let mut rng = SplitMix64::new(13);
        lake.arrive(&mut rng, 200, T - 6 * 3600, 6).await;
        let (full, inc) = (lake.query(false), lake.query(true));
        let now = T + 1800;
        latest(&inc, now, 24).await;
        let snapshots = Snapshots::new(lake.folder());
        let first = snapshots.current().await.unwrap().unwrap();
        // A delivery retried by Firehose lands in hour 15, already folded: the newest reading of
        // a shelf, and low.
        let late = Reading {
            store_id: "STORE_2".into(),
            product_id: "PRD_3".into(),
            product_name: "Bánh 3".into(),
            current_stock: 1,
            threshold_level: 10,
            is_stock_low: true,
            check_timestamp: T - 60,
            notification_sent: false,
            restock_status: "LOW".into(),
            event_id: Some("ffffffff-0000-4000-8000-00000000000a".into()),
            max_stock: Some(30),
        };
        let line = format!("{}\n", serde_json::to_string(&late).unwrap());
        lake.folder()
            .put(
                "readings/dt=2025-11-24-15/late-retry-1.json",
                line.as_bytes(),
            )
            .unwrap();
        let after = latest(&inc, now + 60, 24).await;
        assert_eq!(after, latest(&full, now + 60, 24).await, "{format:?}");
        assert!(
            after
                .iter()
                .any(|l| (l.0.as_str(), l.1.as_str(), l.2, l.3) == ("STORE_2", "PRD_3", 1, T - 60)),
            "the late reading is the shelf's latest"
        );
        let second = snapshots.current().await.unwrap().unwrap();
        assert_eq!(
            (second.generation, &second.watermark),
            (first.generation + 1, &first.watermark),
            "a generation of its own, same watermark"
        );
        // Folded now: the next run in the same hour plans over it without folding again.
        latest(&inc, now + 120, 24).await;
        assert_eq!(snapshots.current().await.unwrap().unwrap(), second);
    }
}

#[tokio::test]
async fn objects_the_lake_check_does_not_accept_are_never_read_by_the_query() {
    let lake = lake(ObjectFormat::Json);
    let mut rng = SplitMix64::new(19);
    lake.arrive(&mut rng, 60, T - 2 * 3600, 2).await;
    let now = T + 1800;
    let full = lake.query(false);
    let want = latest(&full, now, 24).await;
    let folder = lake.folder();
    let good = r#"{"store_id":"STORE_1","product_id":"PRD_1","product_name":"x","current_stock":0,"threshold_level":10,"check_timestamp":1764000000}"#;
    let bad = "not json\n";
    let part = folder.path("readings/dt=2025-11-24-15");
    // A hidden object, odd names, a symlink to a good object outside the lake, and a
    // symlinked partition folder.
    std::fs::write(part.join(".hidden.json"), bad).unwrap();
    std::fs::write(part.join("line\nbreak.json"), bad).unwrap();
    std::fs::write(part.join(format!("{}.json", "n".repeat(245))), bad).unwrap();
    let outside = lake.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("dt=2025-11-24-15")).unwrap();
    std::fs::write(outside.join("good.json"), format!("{good}\n")).unwrap();
    std::fs::write(
        outside.join("dt=2025-11-24-15/good.json"),
        format!("{good}\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.join("good.json"), part.join("linked.json")).unwrap();
    std::os::unix::fs::symlink(
        outside.join("dt=2025-11-24-15"),
        folder.path("readings/dt=2025-11-24-16"),
    )
    .unwrap();
    for incremental in [false, true] {
        let q = lake.query(incremental);
        let run = q
            .latest_readings(&InventoryRequest::new(now, 24, Vec::new()))
            .await
            .unwrap_or_else(|e| panic!("incremental {incremental}: {e}"));
        assert_eq!(
            run.latest.iter().map(key).collect::<Vec<_>>(),
            want,
            "incremental {incremental}: nothing outside the accepted objects is read"
        );
    }
    let quarantined = folder.list("quarantine/").unwrap();
    assert!(
        quarantined
            .iter()
            .any(|o| o.key.contains("stray-") && o.key.contains("linked_json")),
        "{quarantined:?}"
    );
}

/// Every file under `dir`, with its size: what a reader must leave as it found it.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, u64> {
    let mut out = std::collections::BTreeMap::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.insert(p.clone(), std::fs::metadata(&p).unwrap().len());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_read_only_request_changes_nothing_in_the_lake_and_answers_as_a_planner_would() {
    let lake = lake(ObjectFormat::Json);
    let mut rng = SplitMix64::new(9);
    lake.arrive(&mut rng, 200, T - 6 * 3600, 6).await;
    let inc = lake.query(true);
    let now = T + 1800;
    // A planner folds a first generation; then more hours close, unfolded, and a foreign
    // object (which a planner's check would quarantine) lands in the open hour.
    latest(&inc, now, 24).await;
    lake.arrive(&mut rng, 50, T, 2).await;
    let later = T + 2 * 3600 + 600;
    let bad = lake.folder().path(&format!(
        "readings/dt={}/foreign.json",
        store_model::lake::dt_partition(later)
    ));
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, "not json at all\n").unwrap();
    let before = files(lake.dir.path());
    let viewer = lake.query(true);
    let seen = viewer
        .latest_readings(&InventoryRequest::new(later, 24, Vec::new()).read_only())
        .await;
    assert_eq!(files(lake.dir.path()), before, "a viewer changed the lake");
    // Without the foreign object it answers as a planner does.
    std::fs::remove_file(&bad).unwrap();
    let before = files(lake.dir.path());
    let seen_ok = viewer
        .latest_readings(&InventoryRequest::new(later, 24, Vec::new()).read_only())
        .await
        .unwrap();
    assert_eq!(files(lake.dir.path()), before);
    let planner = latest(&lake.query(false), later, 24).await;
    assert_eq!(seen_ok.latest.iter().map(key).collect::<Vec<_>>(), planner);
    drop(seen);
}

/// One reading of `product` at `STORE_1`, taken at `taken` and arriving at `arrival`.
async fn shelf_reading(lake: &Lake, product: &str, taken: i64, arrival: i64, stock: i32) {
    lake.clock.store(arrival, Ordering::SeqCst);
    let mut r = Reading {
        store_id: "STORE_1".into(),
        product_id: product.into(),
        product_name: "Bánh mì".into(),
        current_stock: stock,
        threshold_level: 5,
        is_stock_low: false,
        check_timestamp: taken,
        notification_sent: false,
        restock_status: "OK".into(),
        event_id: None,
        max_stock: Some(80),
    };
    r.ensure_event_id();
    lake.sink.put(&[r]).await.unwrap();
    lake.sink.flush().await.unwrap();
}

#[tokio::test]
async fn the_fold_keeps_each_shelfs_demand_as_the_reference_arithmetic_does() {
    use store_model::forecast::DemandState;
    let lake = lake(ObjectFormat::Parquet);
    let q = lake.query(true);
    // PRD_1 sells two an hour and is restocked at hour 10 (a rise is no sale); PRD_2 sells one
    // unit every third hour and four at hour 7.
    let stock_1 = |h: i64| {
        if h < 10 {
            60 - 2 * h
        } else {
            70 - 2 * (h - 10)
        }
    };
    let stock_2 = |h: i64| {
        60 - (1..=h)
            .map(|i| i64::from(i % 3 == 0) + 4 * i64::from(i == 7))
            .sum::<i64>()
    };
    let start = T - 30 * 3600;
    let mut plans = 0;
    for h in 0..30 {
        let hour = start + h * 3600;
        shelf_reading(&lake, "PRD_1", hour + 300, hour + 600, stock_1(h) as i32).await;
        shelf_reading(&lake, "PRD_2", hour + 300, hour + 600, stock_2(h) as i32).await;
        // A planner every few hours, so folds cover one hour or several.
        if h % 4 == 1 || h == 29 {
            let now = hour + 1800;
            q.latest_readings(&InventoryRequest::new(now, 48, Vec::new()))
                .await
                .unwrap();
            plans += 1;
        }
    }
    // A late object in a folded hour (a reading taken at hour 3, with a stock between the two
    // around it): that hour is folded again, and no sale counts twice.
    let hour_3 = start + 3 * 3600;
    shelf_reading(&lake, "PRD_1", hour_3 + 400, hour_3 + 900, 53).await;
    let now = start + 30 * 3600 + 1800;
    let answer = q
        .latest_readings(&InventoryRequest::new(now, 48, Vec::new()))
        .await
        .unwrap();
    assert!(plans >= 8);
    let fold_at = start + 30 * 3600;
    for (product, stock) in [
        ("PRD_1", &stock_1 as &dyn Fn(i64) -> i64),
        ("PRD_2", &stock_2),
    ] {
        let sales: Vec<(i64, f64)> = (1..30)
            .map(|h| (start + h * 3600, (stock(h - 1) - stock(h)).max(0) as f64))
            .collect();
        let want = DemandState::new(start).fold(fold_at, &sales);
        let got = answer
            .latest
            .iter()
            .find(|l| l.product_id == product)
            .and_then(|l| l.demand)
            .unwrap_or_else(|| panic!("{product} has a demand state"));
        assert_eq!(got.at, want.at, "{product}");
        for (name, g, w) in [
            ("units", got.units, want.units),
            ("squares", got.squares, want.squares),
            ("hours", got.hours, want.hours),
        ] {
            assert!(
                (g - w).abs() < 1e-9 * w.max(1.0),
                "{product} {name}: {g} vs {w}"
            );
        }
    }
    let prd_1 = answer
        .latest
        .iter()
        .find(|l| l.product_id == "PRD_1")
        .unwrap();
    let rate = prd_1.demand.unwrap().per_hour();
    assert!(
        (1.7..2.0).contains(&rate),
        "two an hour, less the restock hour: {rate}"
    );
}
