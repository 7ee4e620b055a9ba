//! Crash and chaos: the three real binaries on one data folder, with two planners and two
//! dispatchers at once and SIGKILL at random points, then a count of what went in against what
//! came out. Short by default; `STORE_CHAOS_SECONDS` makes it a soak (`scripts/soak.sh`).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::bin;
use serde_json::Value;
use store_model::random::SplitMix64;
use tempfile::TempDir;

fn spawn(name: &str, data: &Path, args: &[&str]) -> Child {
    spawn_limited(name, data, args, None)
}

/// Starts an app; with `disk_kib`, every file it writes is limited to that size, so its writes
/// fail as on a full disk (SIGXFSZ ignored: the write returns an error instead).
fn spawn_limited(name: &str, data: &Path, args: &[&str], disk_kib: Option<u64>) -> Child {
    let mut cmd = match disk_kib {
        None => Command::new(bin(name)),
        Some(kib) => {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
                .arg(bin(name));
            sh
        }
    };
    cmd.args(args)
        .env("STORE_DATA_DIR", data)
        .env_remove("STORE_BACKEND")
        .env("STORE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// What the test overwrote with garbage: each damaged file's original text.
type Damaged = HashMap<PathBuf, String>;

/// Overwrites one ledger record the dispatchers keep (an order, a dispatch or a delivery) with
/// garbage, as a torn or foreign write would, keeping its original text for the count.
fn damage_one(lake: &Path, rng: &mut SplitMix64, damaged: &mut Damaged) {
    let prefixes = ["ledger/orders", "ledger/dispatches", "ledger/deliveries"];
    let dir = lake.join(prefixes[rng.below(3) as usize]);
    let files: Vec<PathBuf> = json_lines(&dir, damaged)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !damaged.contains_key(p))
        .collect();
    if files.is_empty() {
        return;
    }
    let file = files[rng.below(files.len() as u64) as usize].clone();
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, "{damaged by the chaos test").unwrap();
    damaged.insert(file, original);
}

/// Every JSON line of every `.json` file under `dir`, with its file; a file the test damaged
/// is read as it was before.
fn json_lines(dir: &Path, damaged: &Damaged) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                dirs.push(p);
            } else if name.ends_with(".json") && !name.starts_with('.') {
                let text = match damaged.get(&p) {
                    Some(original) => original.clone(),
                    None => std::fs::read_to_string(&p).unwrap(),
                };
                for line in text.lines() {
                    if !line.trim().is_empty() {
                        out.push((p.clone(), serde_json::from_str(line).unwrap()));
                    }
                }
            }
        }
    }
    out
}

const TRUCK_ARGS: [&str; 9] = [
    "--wait-seconds",
    "1",
    "--visibility-timeout",
    "2",
    "--batch-window",
    "1",
    "--time-scale",
    "20000",
    "watch",
];

#[test]
fn kills_and_concurrent_copies_lose_nothing_and_double_nothing() {
    let seconds: u64 = std::env::var("STORE_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let lake = data.join("s3/store-inventory-lake");
    let mut rng = SplitMix64::new(0xc4a05);

    let mut dispatchers: Vec<Child> = (0..2)
        .map(|_| spawn("store-truck-app", data, &TRUCK_ARGS))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut sent_ok, mut sent_all) = (HashSet::new(), HashSet::new());
    let mut damaged = Damaged::new();
    let mut kills: BTreeMap<&str, u32> = BTreeMap::new();
    let mut round = 0_u64;
    while Instant::now() < deadline {
        round += 1;
        // A file of readings: shipped stores, some shelves low.
        let file = data.join(format!("in-{round}.ndjson"));
        let mut ids = Vec::new();
        let mut text = String::new();
        // Taken now: after a delivery, a shelf low again is a new need.
        let taken = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 5;
        for i in 0..200 {
            let id = format!("00000000-0000-4000-8000-{:06}{i:06}", round);
            let stock = rng.below(40);
            text.push_str(&format!(
                r#"{{"store_id":"STORE_{}","product_id":"PRD_{}","product_name":"Hàng {i}","current_stock":{stock},"threshold_level":10,"max_stock":40,"check_timestamp":{},"event_id":"{id}"}}"#,
                rng.below(10) + 1,
                rng.below(20),
                taken
            ));
            text.push('\n');
            ids.push(id);
        }
        std::fs::write(&file, text).unwrap();
        sent_all.extend(ids.iter().cloned());
        // Now and then the disk is full for the sender.
        let full = (rng.below(6) == 0).then_some(16);
        let mut send = spawn_limited(
            "store-app",
            data,
            &["--format", "json", "send", file.to_str().unwrap()],
            full,
        );
        if full.is_some() {
            *kills.entry("full disk (send)").or_default() += 1;
        }
        // Two planners at once; now and then one is killed mid-run.
        let mut planners: Vec<Child> = (0..2)
            .map(|_| spawn("store-planning-app", data, &["invoke"]))
            .collect();
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        if rng.below(4) == 0 {
            let _ = send.kill();
            *kills.entry("store-app").or_default() += 1;
        }
        if send.wait().unwrap().success() {
            sent_ok.extend(ids);
        }
        if rng.below(3) == 0 {
            let _ = planners[0].kill();
            *kills.entry("store-planning-app").or_default() += 1;
        }
        for mut p in planners {
            let _ = p.wait();
        }
        // Now and then a ledger record is damaged under the running apps.
        if rng.below(3) == 0 {
            damage_one(&lake, &mut rng, &mut damaged);
        }
        // A dispatcher is killed at a random point and started again.
        if rng.below(2) == 0 {
            let k = rng.below(2) as usize;
            let _ = dispatchers[k].kill();
            let _ = dispatchers[k].wait();
            *kills.entry("store-truck-app").or_default() += 1;
            // Now and then it comes back to a full disk: its queue and ledger writes fail.
            let full = (rng.below(5) == 0).then_some(64);
            if full.is_some() {
                *kills.entry("full disk (dispatcher)").or_default() += 1;
            }
            dispatchers[k] = spawn_limited("store-truck-app", data, &TRUCK_ARGS, full);
        }
    }
    for mut d in dispatchers {
        let _ = d.kill();
        let _ = d.wait();
    }
    // Quiet now: one more planning run, then the dispatchers work off what is left.
    let _ = Command::new(bin("store-planning-app"))
        .arg("invoke")
        .env("STORE_DATA_DIR", data)
        .env_remove("STORE_BACKEND")
        .output()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3)); // every visibility timeout has passed
    let mut status = String::new();
    for _ in 0..60 {
        let _ = Command::new(bin("store-truck-app"))
            .args([
                "--wait-seconds",
                "1",
                "--batch-window",
                "0",
                "--time-scale",
                "20000",
                "once",
            ])
            .env("STORE_DATA_DIR", data)
            .env_remove("STORE_BACKEND")
            .output()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let out = Command::new(bin("store-truck-app"))
            .arg("status")
            .env("STORE_DATA_DIR", data)
            .env_remove("STORE_BACKEND")
            .output()
            .unwrap();
        status = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        if status.starts_with("queue: 0 waiting, 0 in flight, 0 dead; 0 open order(s)") {
            break;
        }
    }
    assert!(
        status.starts_with("queue: 0 waiting, 0 in flight, 0 dead; 0 open order(s)"),
        "not worked off, or something dead-lettered: {status}"
    );

    // Readings: every reading of a completed send is in the lake; nothing else is.
    let in_lake: HashSet<String> = json_lines(&lake.join("readings"), &damaged)
        .into_iter()
        .filter_map(|(_, v)| v["event_id"].as_str().map(str::to_owned))
        .collect();
    let missing = sent_ok.difference(&in_lake).count();
    assert_eq!(
        missing, 0,
        "readings of completed sends missing from the lake"
    );
    assert!(in_lake.is_subset(&sent_all), "readings nobody sent");

    // Alerts, orders, dispatches: each alert accepted once and carried in full, once.
    let alerts: HashMap<String, i64> = json_lines(&lake.join("ledger/alerts"), &damaged)
        .into_iter()
        .map(|(_, v)| {
            (
                v["alert_id"].as_str().unwrap().to_owned(),
                v["restock_qty"].as_i64().unwrap(),
            )
        })
        .collect();
    let orders: HashMap<String, i64> = json_lines(&lake.join("ledger/orders"), &damaged)
        .into_iter()
        .map(|(_, v)| {
            (
                v["alert_id"].as_str().unwrap().to_owned(),
                v["restock_qty"].as_i64().unwrap(),
            )
        })
        .collect();
    for id in alerts.keys() {
        assert!(orders.contains_key(id), "alert {id} was never accepted");
    }
    let dispatches = json_lines(&lake.join("ledger/dispatches"), &damaged);
    let mut carried: HashMap<String, i64> = HashMap::new();
    for (_, d) in &dispatches {
        *carried
            .entry(d["alert_id"].as_str().unwrap().to_owned())
            .or_default() += d["quantity"].as_i64().unwrap();
    }
    // An order whose own record was damaged before it was carried whole is out of every
    // dispatcher's view (reported among the damaged records): carried at most once, never more.
    let damaged_orders: HashSet<String> = damaged
        .iter()
        .filter(|(p, _)| p.starts_with(lake.join("ledger/orders")))
        .filter_map(|(_, text)| serde_json::from_str::<Value>(text.trim()).ok())
        .filter_map(|v| v["alert_id"].as_str().map(str::to_owned))
        .collect();
    let closed: HashSet<String> = json_lines(&lake.join("ledger/closed"), &damaged)
        .into_iter()
        .filter_map(|(_, v)| v["alert_id"].as_str().map(str::to_owned))
        .collect();
    for (id, qty) in &orders {
        let got = carried.get(id).copied().unwrap_or(0);
        if damaged_orders.contains(id) || closed.contains(id) {
            assert!(got <= *qty, "order {id}: carried {got} of {qty}");
        } else {
            assert_eq!(got, *qty, "order {id}: carried once, in full");
        }
    }
    assert!(
        carried.keys().all(|id| orders.contains_key(id)),
        "dispatches without an order"
    );
    // Carried once: a dispatch record is created once under its dispatch id, and a damaged one
    // still holds its key (two dispatchers may put one piece on two trips at once; the record
    // decides which carries it).
    let ids: Vec<&str> = dispatches
        .iter()
        .map(|(_, d)| d["dispatch_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<HashSet<_>>().len(),
        "a piece recorded twice"
    );
    // Trucks: never on two trips at once.
    let mut trips: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for (_, d) in &dispatches {
        trips.insert(
            (
                d["truck_id"].as_str().unwrap().to_owned(),
                d["dispatched_at"].as_i64().unwrap(),
            ),
            d["truck_back_at"].as_i64().unwrap(),
        );
    }
    let trips: Vec<_> = trips.into_iter().collect();
    for w in trips.windows(2) {
        let (((t1, _), back1), ((t2, left2), _)) = (&w[0], &w[1]);
        assert!(
            t1 != t2 || left2 >= back1,
            "{t1} left at {left2} before it was back at {back1}"
        );
    }
    let deliveries = json_lines(&lake.join("ledger/deliveries"), &damaged).len();
    // Every damaged record was set aside with a note, where a dispatcher came across it.
    let notes = common::count_files(&lake.join("ledger/quarantine"));
    assert_eq!(notes, damaged.len(), "each damaged record is noted once");
    eprintln!(
        "chaos {seconds} s, {round} rounds, kills {kills:?}: readings sent {} (completed sends {}), in the lake {}, lost 0; alerts {}, orders {}, dispatches {}, trips {}, deliveries {}; ledger files damaged {} ({} orders among them, {} noted in quarantine), orders closed with a reason {}; lost 0, carried twice 0, overlapping trips 0, dead letters 0",
        sent_all.len(),
        sent_ok.len(),
        in_lake.len(),
        alerts.len(),
        orders.len(),
        dispatches.len(),
        trips.len(),
        deliveries,
        damaged.len(),
        damaged_orders.len(),
        notes,
        closed.len()
    );
}
