//! End to end: the three real binaries against a temporary data folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

/// A workspace binary next to this test's executable (`target/<profile>/`).
fn bin(name: &str) -> PathBuf {
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

fn run(name: &str, data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    run_with(name, data, args, stdin, &[])
}

fn run_with(
    name: &str,
    data: &Path,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, String)],
) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(bin(name));
    cmd.args(args)
        .env("STORE_DATA_DIR", data)
        .env_remove("STORE_BACKEND")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn invoke(data: &Path, event: &str) -> Value {
    let out = ok(run(
        "store-planning-app",
        data,
        &["invoke", "--data", event],
        None,
    ));
    serde_json::from_slice(&out.stdout).expect("invoke prints the result JSON on stdout")
}

fn dispatch_all(data: &Path, expected: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..expected.div_ceil(10) + 1 {
        let out = ok(run("store-truck-app", data, &FAST_ONCE, None));
        lines.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains("dispatched to"))
                .map(str::to_owned),
        );
    }
    lines
}

/// Ledger objects under `dir`; a killed writer's leftover temporary file (`.name.….tmp`) is
/// not an object, as every reader skips it.
fn count_files(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                count_files(&p)
            } else {
                usize::from(name.ends_with(".json") && !name.starts_with('.'))
            }
        })
        .sum()
}

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

/// One dispatcher step that waits a second at most and runs trips 100,000 times faster.
const FAST_ONCE: [&str; 7] = [
    "once",
    "--wait-seconds",
    "1",
    "--batch-window",
    "1",
    "--time-scale",
    "100000",
];

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
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

/// The alerts of a planning result as (store, product, quantity), sorted.
fn alert_set(result: &Value) -> Vec<(String, String, i64)> {
    let mut set: Vec<(String, String, i64)> = result["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["store_id"].as_str().unwrap().to_owned(),
                a["product_id"].as_str().unwrap().to_owned(),
                a["restock_qty"].as_i64().unwrap(),
            )
        })
        .collect();
    set.sort();
    set
}

/// The AWS path against the local AWS API server that `scripts/test.sh` starts: provision the
/// resources through the APIs, then StoreApp -> Firehose -> S3 -> planner (DataFusion over S3) ->
/// SQS -> truck app -> S3 ledger, with the same binaries and only settings changed. The alerts
/// equal those of the embedded backend for the same simulated stores.
#[test]
fn the_aws_path_runs_the_same_pipeline_against_a_local_aws_server() {
    let endpoint = std::env::var("STORE_TEST_AWS_ENDPOINT").expect(
        "STORE_TEST_AWS_ENDPOINT is not set: run `scripts/test.sh`, which starts moto_server",
    );
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let env_file = data.join("stack.env");
    let stack = format!("e2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let credentials = [
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint),
    ];
    // The server does not evaluate Firehose's `!{timestamp:…}` prefix: give it this hour's.
    let hour = chrono::Utc::now().format("%Y-%m-%d-%H").to_string();
    ok(run_with(
        "store-infra",
        data,
        &[
            "provision",
            "--stack-name",
            &stack,
            "--readings-prefix",
            &format!("readings/dt={hour}/"),
            "--output",
            env_file.to_str().unwrap(),
        ],
        None,
        &credentials,
    ));
    let mut aws = credentials.to_vec();
    aws.extend([
        ("STORE_BACKEND", "aws".to_owned()),
        ("STORE_ENV_FILE", env_file.display().to_string()),
        ("STORE_QUERY_ENGINE", "datafusion".to_owned()),
    ]);
    let aws_run = |name: &str, args: &[&str]| ok(run_with(name, data, args, None, &aws));

    let out = aws_run(
        "store-app",
        &["simulate", "--count", "600", "--rate", "0", "--seed", "7"],
    );
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(summary.contains("600 readings delivered"), "{summary}");
    assert!(
        summary.contains("2 object(s) or call(s)"),
        "600 readings take two PutRecordBatch calls: {summary}"
    );

    let plan = |event: &str| -> Value {
        let out = aws_run("store-planning-app", &["invoke", "--data", event]);
        serde_json::from_slice(&out.stdout).expect("invoke prints the result JSON")
    };
    let first = plan("{}");
    assert_eq!(first["engine"], "datafusion");
    assert_eq!(first["readings_scanned"], 600);
    let sent = first["alerts_sent"].as_u64().unwrap() as usize;
    assert!(sent > 0, "{first}");

    let mut dispatched = 0;
    for _ in 0..sent.div_ceil(10) + 1 {
        let out = aws_run("store-truck-app", &FAST_ONCE);
        dispatched += String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("dispatched to"))
            .count();
    }
    assert_eq!(dispatched, sent, "every alert gets one truck");
    let status =
        String::from_utf8_lossy(&aws_run("store-truck-app", &["status"]).stdout).into_owned();
    assert!(
        status.contains("0 waiting, 0 in flight, 0 dead")
            && status.contains(&format!("{sent} dispatch(es)")),
        "the queue is drained and each dispatch is in the S3 ledger: {status}"
    );

    let second = plan("{}");
    assert_eq!(
        second["alerts_sent"], 0,
        "dispatched alerts are not sent again"
    );
    assert_eq!(second["alerts_suppressed"].as_u64().unwrap() as usize, sent);

    // The embedded backend, fed the same simulated stores, plans the same restocks.
    let local = TempDir::new().unwrap();
    ok(run(
        "store-app",
        local.path(),
        &["simulate", "--count", "600", "--rate", "0", "--seed", "7"],
        None,
    ));
    assert_eq!(alert_set(&invoke(local.path(), "{}")), alert_set(&first));
}

/// The planner under the Lambda runtime, as a developer runs it: `cargo lambda watch` serves the
/// function locally (against the embedded backend here) and `cargo lambda invoke` calls it.
#[test]
fn the_planner_answers_cargo_lambda_invoke_under_cargo_lambda_watch() {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    ok(run(
        "store-app",
        data,
        &["simulate", "--count", "300", "--rate", "0", "--seed", "3"],
        None,
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let log = std::fs::File::create(data.join("watch.log")).unwrap();
    // `cargo lambda watch` builds the function with `cargo run`. The variables cargo and the test
    // runner set for this test (CARGO_MANIFEST_DIR, …) are seen by build scripts and would force
    // a rebuild of the whole tree, so the child gets the environment of the shell instead.
    let cargo = |args: &[&str]| {
        let mut cmd = Command::new("cargo");
        cmd.args(args).current_dir(&workspace);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            let runner_set = (name.starts_with("CARGO") && name != "CARGO_HOME")
                || name.starts_with("NEXTEST")
                || name.starts_with("__NEXTEST")
                || name.starts_with("RUST_TEST")
                || name == "LD_LIBRARY_PATH";
            if runner_set {
                cmd.env_remove(&name);
            }
        }
        cmd
    };
    let mut watch = cargo(&[
        "lambda",
        "watch",
        "--ignore-changes",
        "--invoke-address",
        "127.0.0.1",
        "--invoke-port",
        &port,
    ])
    .env("STORE_DATA_DIR", data)
    .env("STORE_BACKEND", "local")
    .stdout(log.try_clone().unwrap())
    .stderr(log)
    .process_group(0)
    .spawn()
    .expect("cargo lambda is installed (`pip install cargo-lambda`; scripts/test.sh does it)");
    let group = format!("-{}", watch.id());
    let stop = || {
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    };

    // The first invoke may wait for the function to build; give it time, then check the answer.
    let started = std::time::Instant::now();
    let answer = loop {
        let out = cargo(&[
            "lambda",
            "invoke",
            "store-planning-app",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port,
            "--data-ascii",
            "{}",
        ])
        .output()
        .unwrap();
        if out.status.success() {
            break out.stdout;
        }
        if started.elapsed() > std::time::Duration::from_secs(600) {
            stop();
            panic!(
                "cargo lambda invoke kept failing: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(data.join("watch.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    stop();
    let _ = watch.wait();
    let result: Value =
        serde_json::from_slice(&answer).expect("the function answers with the result JSON");
    assert_eq!(result["engine"], "datafusion");
    assert_eq!(result["readings_scanned"], 300);
    let sent = result["alerts_sent"].as_u64().unwrap();
    assert!(sent > 0, "{result}");
    assert_eq!(result["alerts"].as_array().unwrap().len() as u64, sent);
    assert!(result["query_id"].as_str().is_some_and(|q| !q.is_empty()));
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

/// A child process that is killed when the test ends, failing or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Opens a page in headless Chromium (`STORE_TEST_CHROMIUM`, set by `scripts/test.sh`) and
/// returns what the page's own check wrote into `data-map-rendered` once laid out.
fn render_in_chromium(page: &Path) -> String {
    let chromium = std::env::var("STORE_TEST_CHROMIUM")
        .expect("STORE_TEST_CHROMIUM is not set: run `scripts/test.sh`, which installs Chromium");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=2000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    dom.split_once("data-map-rendered=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| value.to_owned())
        .unwrap_or_else(|| {
            panic!(
                "no render mark in the page: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// Every file under `dir` whose name says it is a temporary.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.to_string_lossy().ends_with(".tmp") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_write_failing_for_want_of_space_says_what_was_delivered_and_leaves_no_temporary() {
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let now = chrono_now();
    let mut text = String::new();
    for i in 0..6000 {
        text.push_str(&format!(
            r#"{{"store_id":"STORE_{}","product_id":"PRD_{}","product_name":"Sữa tươi có đường {i}","current_stock":5,"threshold_level":10,"check_timestamp":{}}}"#,
            i % 10 + 1,
            i % 50,
            now - 600
        ));
        text.push('\n');
    }
    let file = data.join("big.ndjson");
    std::fs::write(&file, &text).unwrap();
    // A file-size limit below one object, with SIGXFSZ ignored, makes the object's write fail
    // with an I/O error, as a full disk does.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 256; exec '{}' --format json --buffer-mib 1 send '{}'",
            bin("store-app").display(),
            file.display()
        ))
        .env("STORE_DATA_DIR", data)
        .env_remove("STORE_BACKEND")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("0 of ") && stderr.contains("readings were delivered before the failure"),
        "{stderr}"
    );
    let lake = data.join("s3");
    assert_eq!(
        temporaries(&lake),
        Vec::<PathBuf>::new(),
        "its own temporary file is removed"
    );

    // A temporary left by a writer killed long ago is swept at the next start; a send works.
    let part = lake.join("store-inventory-lake/readings/dt=2025-01-01-00");
    std::fs::create_dir_all(&part).unwrap();
    let stale = part.join(".store-readings-1-x.json.0a1b.tmp");
    std::fs::write(&stale, "x".repeat(1000)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let one = text.lines().next().unwrap().to_owned() + "\n";
    ok(run("store-app", data, &["send", "-"], Some(&one)));
    assert_eq!(temporaries(&lake), Vec::<PathBuf>::new());
}

#[test]
fn readings_from_the_future_or_before_2000_are_rejected_at_the_door_with_the_reason() {
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    let now = chrono_now();
    let line = |t: i64| {
        format!(
            r#"{{"store_id":"STORE_1","product_id":"PRD_1","product_name":"Phở","current_stock":1,"threshold_level":10,"check_timestamp":{t}}}"#
        )
    };
    let input = [
        line(now - 60),
        line(now + 10 * 365 * 86_400),
        line(915_148_800),
        line(now + 600),
    ]
    .join("\n");
    let rejects = data.join("rejects.ndjson");
    let out = run(
        "store-app",
        data,
        &["send", "-", "--reject-file", rejects.to_str().unwrap()],
        Some(&input),
    );
    assert!(!out.status.success());
    let rejected: Vec<Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let places: Vec<(u64, &str)> = rejected
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(places, [(2, "check_timestamp"), (3, "check_timestamp")]);
    assert!(rejected[0]["reason"].as_str().unwrap().contains("ahead"));
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .contains("before 2000")
    );
    assert_eq!(
        rejected[0]["record"].as_str().unwrap(),
        line(now + 10 * 365 * 86_400)
    );
    // With a smaller allowed skew the reading ten minutes ahead is refused too.
    let out = run(
        "store-app",
        data,
        &[
            "send",
            "-",
            "--max-clock-skew",
            "60",
            "--reject-file",
            rejects.to_str().unwrap(),
        ],
        Some(&line(now + 600)),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 60 s"));
}

#[test]
fn an_empty_snapshot_table_turns_the_snapshot_off_on_the_embedded_engine_too() {
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    ok(run(
        "store-app",
        data,
        &["simulate", "--count", "300", "--rate", "0", "--seed", "5"],
        None,
    ));
    let snapshots = data.join("s3/store-inventory-lake/snapshots");
    let out = ok(run(
        "store-planning-app",
        data,
        &["invoke", "--snapshot-table", ""],
        None,
    ));
    assert!(
        !snapshots.exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(run("store-planning-app", data, &["invoke"], None));
    assert!(snapshots.exists(), "on by default");
}

#[test]
fn an_emptied_queue_file_is_reported_and_its_alerts_can_be_sent_again() {
    let dir = TempDir::new().unwrap();
    let data = dir.path();
    ok(run(
        "store-app",
        data,
        &["simulate", "--count", "1000", "--rate", "0", "--seed", "3"],
        None,
    ));
    let alerts = invoke(data, "{}")["alerts_sent"].as_u64().unwrap();
    assert!(alerts > 3);
    // `truncate -s 0` of the queue file: its messages are gone.
    let queue = data.join("queue/alerts.db");
    std::fs::write(&queue, b"").unwrap();
    let _ = std::fs::remove_file(data.join("queue/alerts.db-wal"));
    for args in [&["status"][..], &["once"][..]] {
        let out = run("store-truck-app", data, args, None);
        assert!(
            !out.status.success(),
            "{args:?} must not take it for an empty queue"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("holds no queue"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run("store-planning-app", data, &["invoke"], None);
    assert!(!out.status.success(), "the planner refuses it too");
    // Moved away, a new queue is created; the planner sends what was outstanding.
    std::fs::rename(&queue, data.join("queue/alerts.db.emptied")).unwrap();
    let out = ok(run(
        "store-planning-app",
        data,
        &["resend-outstanding"],
        None,
    ));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("{alerts} outstanding alert(s) sent again")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..3 {
        ok(run("store-truck-app", data, &FAST_ONCE, None));
    }
    let dispatched = count_files(&data.join("s3/store-inventory-lake/ledger/dispatches"));
    assert!(
        dispatched as u64 >= alerts,
        "{dispatched} dispatches for {alerts} alerts"
    );
    // Accepted now: nothing is outstanding, so nothing is sent twice.
    let out = ok(run(
        "store-planning-app",
        data,
        &["resend-outstanding"],
        None,
    ));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 outstanding alert(s) sent again"));
}
