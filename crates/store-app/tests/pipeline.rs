//! End to end: the three real binaries against a temporary data folder.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};
use tempfile::TempDir;

#[test]
fn simulate_invoke_and_dispatch_end_to_end() {
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let out = ok(run(
        "store-app",
        data,
        &["simulate", "--count", "600", "--rate", "0", "--seed", "7"],
        None,
    ));
    assert!(String::from_utf8_lossy(&out.stderr).contains("600 readings delivered"));

    let first = invoke(data, "{}");
    let sent = first["alerts_sent"].as_u64().unwrap() as usize;
    assert_eq!(first["readings_scanned"], 600);
    assert!(
        sent > 0,
        "a 600-reading run leaves some shelves low: {first}"
    );
    assert_eq!(first["alerts"].as_array().unwrap().len(), sent);

    let second = invoke(data, "{}");
    assert_eq!(second["alerts_sent"], 0, "no new data, no new alerts");
    assert_eq!(second["alerts_suppressed"].as_u64().unwrap() as usize, sent);

    let dispatched = dispatch_all(data, sent);
    assert_eq!(dispatched.len(), sent, "every alert gets one truck");
    let ledger = data.join("s3/store-inventory-lake/ledger/dispatches");
    assert_eq!(count_files(&ledger), sent, "one dispatch record per alert");
}

#[test]
fn seed_records_yield_exactly_the_alerts_of_their_latest_readings() {
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let now = chrono_now();
    // The seed StoreApp's records: its field names, epoch seconds, no event id, Vietnamese names.
    let seed = |store: &str, product: &str, name: &str, stock: i64, threshold: i64, age: i64| {
        json!({
            "store_id": store, "product_id": product, "product_name": name,
            "current_stock": stock, "threshold_level": threshold,
            "is_stock_low": stock < threshold, "check_timestamp": now - age,
            "notification_sent": false, "restock_status": "PENDING"
        })
        .to_string()
    };
    let lines = [
        seed("STORE_1", "PRD_5", "Bánh mì", 3, 10, 900), // low, but a later reading is fine
        seed("STORE_1", "PRD_5", "Bánh mì", 25, 10, 300), // latest: not low
        seed("STORE_2", "PRD_1", "Rau cải", 40, 15, 900), // fine, then
        seed("STORE_2", "PRD_1", "Rau cải", 4, 15, 200), // latest: low
        seed("STORE_3", "PRD_2", "Thịt gà", 10, 10, 100), // at the reorder point: not low
        seed("STORE_4", "PRD_3", "Sữa tươi", 0, 8, 50),  // low
        seed("STORE_4", "PRD_3", "Sữa tươi", 9, 8, 4000), // older: irrelevant
        r#"{"store_id": "STORE_5", "product_id": "PRD_4", "current_stock": -2}"#.to_owned(),
    ];
    let input = lines.join("\n") + "\n";
    let rejects = data.join("rejects.ndjson");
    let out = run(
        "store-app",
        data,
        &[
            "--format",
            "json",
            "send",
            "-",
            "--reject-file",
            rejects.to_str().unwrap(),
        ],
        Some(&input),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejected line makes the exit status 1"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("-:8: field `product_name`: is required"),
        "{stderr}"
    );
    assert!(stderr.contains("7 readings delivered"), "{stderr}");
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        rejected.contains("\"line\":8") && rejected.contains("STORE_5"),
        "{rejected}"
    );

    let result = invoke(data, "{}");
    let mut alerts: Vec<(String, String, i64, String)> = result["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["store_id"].as_str().unwrap().to_owned(),
                a["product_name"].as_str().unwrap().to_owned(),
                a["current_stock"].as_i64().unwrap(),
                a["alert"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    alerts.sort();
    assert_eq!(
        alerts,
        vec![
            ("STORE_2".into(), "Rau cải".into(), 4, "Stock low".into()),
            ("STORE_4".into(), "Sữa tươi".into(), 0, "Stock low".into()),
        ]
    );
    let messages: Vec<&str> = result["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(messages.contains(&"⚠️ Store STORE_4 is low on 'Sữa tươi'. Alerting delivery team."));
}

#[test]
fn csv_input_is_sent_like_ndjson() {
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let now = chrono_now();
    let csv = format!(
        "store_id,product_id,product_name,current_stock,threshold_level,check_timestamp\n\
         STORE_1,PRD_3,Cơm hộp,1,10,{}\n",
        now - 60
    );
    let file = data.join("readings.csv");
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(&file, csv).unwrap();
    ok(run(
        "store-app",
        data,
        &["send", file.to_str().unwrap()],
        None,
    ));
    let result = invoke(data, r#"{"dry_run": true}"#);
    assert_eq!(result["alerts"][0]["product_name"], "Cơm hộp");
    assert_eq!(result["alerts_sent"], 0);
}

#[test]
fn bad_settings_name_themselves() {
    let dir = TempDir::new().unwrap();
    let out = run(
        "store-planning-app",
        dir.path(),
        &["invoke", "--data", r#"{"limit": 0}"#],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`limit` must be at least 1"));
    let out = run(
        "store-app",
        dir.path(),
        &["--backend", "cloud", "simulate"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown backend `cloud`"));
}

#[test]
fn a_killed_truck_app_dispatches_nothing_twice_after_restart() {
    use std::io::{BufRead, BufReader};
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    ok(run(
        "store-app",
        data,
        &["simulate", "--count", "1000", "--rate", "0", "--seed", "3"],
        None,
    ));
    let alerts = invoke(data, "{}")["alerts_sent"].as_u64().unwrap() as usize;
    assert!(alerts > 10);

    // Kill -9 the moment the first dispatch is recorded: the rest of its trip is not.
    let mut child = Command::new(bin("store-truck-app"))
        .args([
            "watch",
            "--wait-seconds",
            "1",
            "--visibility-timeout",
            "1",
            "--batch-window",
            "0",
            "--time-scale",
            "100000",
        ])
        .env("STORE_DATA_DIR", data)
        .env("STORE_LOG", "store_truck_app=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    for line in stderr.lines() {
        if line.unwrap().contains("dispatched") {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    let ledger = data.join("s3/store-inventory-lake/ledger/dispatches");
    let before = count_files(&ledger);
    assert!(
        before >= 1 && before < alerts,
        "killed mid-way: {before} of {alerts} recorded"
    );

    // Restart after the visibility timeout: every alert ends up dispatched exactly once.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let mut again = 0;
    let mut duplicates = 0;
    for _ in 0..alerts.div_ceil(10) + 2 {
        let out = ok(run(
            "store-truck-app",
            data,
            &[
                "once",
                "--wait-seconds",
                "1",
                "--visibility-timeout",
                "1",
                "--batch-window",
                "0",
                "--time-scale",
                "100000",
            ],
            None,
        ));
        again += String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("dispatched to"))
            .count();
        let summary = String::from_utf8_lossy(&out.stderr).to_string();
        duplicates += summary
            .split([';', ','])
            .find_map(|p| p.trim().strip_suffix(" accepted before"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
    }
    assert_eq!(
        before + again,
        alerts,
        "each alert was dispatched once: {before} before the kill, {again} after"
    );
    assert_eq!(count_files(&ledger), alerts);
    // A message is deleted as soon as its order is recorded, before any truck is planned, so
    // the kill left none in flight to come back.
    assert_eq!(duplicates, 0, "no message came back");
    let status = ok(run("store-truck-app", data, &["status"], None));
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        status.starts_with("queue: 0 waiting, 0 in flight, 0 dead; 0 open order(s)"),
        "{status}"
    );
}

/// The loop closes: a store runs low, is alerted, a truck is dispatched and delivers, the
/// simulator's stock rises, and the next planning run sends no alert for it.
#[test]
fn a_low_store_is_restocked_by_a_truck_and_stops_alerting() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let spawn = |name: &str, args: &[&str], log: &str| {
        KillOnDrop(
            Command::new(bin(name))
                .args(args)
                .env("STORE_DATA_DIR", data)
                .env_remove("STORE_BACKEND")
                .stdout(std::fs::File::create(data.join(format!("{log}.out"))).unwrap())
                .stderr(std::fs::File::create(data.join(format!("{log}.err"))).unwrap())
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    std::fs::create_dir_all(data).unwrap();
    // Live stores (a round of 50 readings every two seconds, an object every second) and a
    // dispatcher whose trips run 3,600 times faster than real time.
    let stores = spawn(
        "store-app",
        &[
            "--buffer-seconds",
            "1",
            "simulate",
            "--rate",
            "25",
            "--seed",
            "11",
            "--duration",
            "240",
        ],
        "store-app",
    );
    let trucks = spawn(
        "store-truck-app",
        &[
            "watch",
            "--wait-seconds",
            "1",
            "--batch-window",
            "1",
            "--time-scale",
            "3600",
        ],
        "trucks",
    );
    let deadline = Instant::now() + Duration::from_secs(150);
    let wait = |what: &str| {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    };

    // Plan until a store runs low.
    let alert = loop {
        let result = invoke(data, r#"{"lookback_hours": 1}"#);
        if let Some(first) = result["alerts"].as_array().and_then(|a| a.first()) {
            break first.clone();
        }
        wait("a store to run low");
    };
    let (store, product) = (
        alert["store_id"].as_str().unwrap().to_owned(),
        alert["product_id"].as_str().unwrap().to_owned(),
    );
    assert!(alert["current_stock"].as_i64().unwrap() < alert["threshold_level"].as_i64().unwrap());

    // The truck delivers and the simulated store applies it: its stock rises.
    let applied = format!("delivery applied: {store} {product} +");
    let line = loop {
        let log = std::fs::read_to_string(data.join("store-app.err")).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains(&applied)) {
            break line.to_owned();
        }
        wait("the delivery to reach the store");
    };
    let (before, after) = line
        .rsplit_once("stock ")
        .and_then(|(_, s)| s.split_once(" -> "))
        .map(|(a, b)| (a.parse::<i64>().unwrap(), b.trim().parse::<i64>().unwrap()))
        .expect("the line says the stock before and after");
    assert!(after > before, "{line}");
    let delivered = format!("delivered {} x {product} to {store}", alert["restock_qty"]);
    while !std::fs::read_to_string(data.join("trucks.out"))
        .unwrap_or_default()
        .contains(&delivered)
    {
        wait("the truck app to show the delivery");
    }

    // Once readings taken after the delivery are in the lake, planning leaves the store alone.
    std::thread::sleep(Duration::from_secs(6));
    let next = invoke(
        data,
        &json!({"lookback_hours": 1, "store_ids": [store]}).to_string(),
    );
    let again: Vec<&Value> = next["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["product_id"] == product.as_str())
        .collect();
    assert!(again.is_empty(), "restocked, so no alert: {again:?}");
    drop((stores, trucks));

    // The report of these trips opens in a browser with the map drawn.
    let page = data.join("report.html");
    let out = ok(run(
        "store-truck-app",
        data,
        &["report", "--html", page.to_str().unwrap()],
        None,
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dispatch(es)"));
    let rendered = render_in_chromium(&page);
    let trips = rendered
        .strip_prefix("routes=")
        .and_then(|r| r.split_once('/'))
        .map(|(drawn, _)| drawn.parse::<usize>().unwrap())
        .unwrap_or(0);
    assert!(trips >= 1, "the map draws the trips: {rendered}");
    assert!(rendered.contains("stores=10 width=900"), "{rendered}");
}

/// A store name that would run script if the page took it as markup.
const HOSTILE_NAME: &str = "<img src=x onerror=document.title='owned'>";

#[test]
fn the_operations_page_shows_every_store_and_a_delivery_without_a_reload() {
    use std::time::Duration;

    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/stores.toml");
    let stores = data.join("stores.toml");
    let text = std::fs::read_to_string(shipped).unwrap();
    std::fs::write(&stores, text.replace("Bến Thành (Quận 1)", HOSTILE_NAME)).unwrap();
    ok(run(
        "store-app",
        data,
        &["simulate", "--count", "600", "--rate", "0", "--seed", "7"],
        None,
    ));
    assert!(invoke(data, "{}")["alerts_sent"].as_u64().unwrap() > 0);
    // Trucks leave; their deliveries are recorded by the next step.
    ok(run("store-truck-app", data, &FAST_ONCE, None));

    let (_server, address) = serve_page(
        data,
        &["--allow-invoke", "--stores", stores.to_str().unwrap()],
        &[],
    );
    let (status, _) = http_get(&address, "/api/view", Some("evil.example:80"));
    assert_eq!(status, 421, "a request to another name is refused");

    let mut page = devtools::Browser::open(&address, &data.join("chromium"));
    assert!(
        page.wait_for(
            "document.body.dataset.views >= 1 && document.getElementById('live').textContent === 'live'",
            Duration::from_secs(20),
        ),
        "the page loads and its event stream opens"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#map g.store').length"),
        10
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#map g.store[data-status]').length"),
        10,
        "every store on the map is coloured"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#map g.store.restocked').length"),
        0
    );
    assert!(
        page.eval("document.querySelectorAll('#map g.store.on_the_way').length")
            .as_u64()
            .unwrap()
            > 0,
        "the alerted stores wait for their trucks"
    );
    assert_eq!(page.eval("document.querySelectorAll('img').length"), 0);
    assert_ne!(page.eval("document.title"), "owned");
    assert_eq!(
        page.eval("document.querySelector('#map g.store[data-store=\"STORE_1\"] title').textContent.split(':')[0]"),
        format!("STORE_1 — {HOSTILE_NAME}"),
        "a hostile name is shown as text"
    );
    page.eval("window.samePage = true");

    // The page runs the planner (a dry run by default) and shows what it found.
    page.eval("document.querySelector('#plan button').click()");
    assert!(
        page.wait_for(
            "document.getElementById('plan-result').textContent.startsWith('Dry run')",
            Duration::from_secs(20),
        ),
        "{}",
        page.eval("document.getElementById('plan-result').textContent")
    );
    assert!(
        page.eval("document.getElementById('plan-result').textContent")
            .as_str()
            .unwrap()
            .contains("over 600 readings")
    );
    // A form post (what another site could make a browser send) is refused.
    assert_eq!(
        page.eval("fetch('api/plan', {method: 'POST', body: '{}'}).then((r) => r.status)"),
        415
    );

    // A delivery recorded now reaches the open page, without a reload.
    ok(run("store-truck-app", data, &FAST_ONCE, None));
    assert!(
        page.wait_for(
            "document.querySelectorAll('#map g.store.restocked').length > 0 && document.querySelectorAll('#feed li[data-kind=delivery]').length > 0",
            Duration::from_secs(10),
        ),
        "the delivery shows on the map and in the feed"
    );
    assert_eq!(page.eval("window.samePage === true"), true, "no reload");
}
