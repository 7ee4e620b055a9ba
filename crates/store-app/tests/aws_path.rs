//! End to end on the AWS path: the real binaries against the local AWS API server, and the
//! planner under `cargo lambda watch`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;
use tempfile::TempDir;

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

    // The operations page reads the same S3 ledger, SQS queue and query.
    let (_page, address) = serve_page(data, &[], &aws);
    let (status, body) = http_get(&address, "/api/view", None);
    assert_eq!(status, 200, "{body}");
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["last_run"]["readings_scanned"], 600, "{view}");
    assert_eq!(view["last_run"]["alerts_sent"].as_u64(), Some(sent as u64));
    assert_eq!(view["queue"]["dead_letters"], 0);
    assert_eq!(view["readings"]["shelves"], 50, "10 stores x 5 products");
    assert_eq!(view["stores"].as_array().unwrap().len(), 10);
    let kinds: std::collections::BTreeSet<&str> = view["feed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["delivery", "dispatch"].into(), "the newest events");
    assert!(
        view["store_counts"]["restocked"].as_u64().unwrap() > 0,
        "deliveries in the S3 ledger reach the page: {view}"
    );
    let (status, body) = http_post_json(&address, "/api/plan", "{}");
    assert_eq!(status, 403, "no planner without --allow-invoke: {body}");
    assert!(body.contains("--allow-invoke"), "{body}");

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
