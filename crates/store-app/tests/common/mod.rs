//! Helpers of the end-to-end tests: the real binaries, run against a temporary data folder.
#![allow(dead_code)] // each test binary uses its own share of them

pub mod devtools;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A workspace binary next to this test's executable (`target/<profile>/`).
pub fn bin(name: &str) -> PathBuf {
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

pub fn run(name: &str, data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    run_with(name, data, args, stdin, &[])
}

pub fn run_with(
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

pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn invoke(data: &Path, event: &str) -> Value {
    let out = ok(run(
        "store-planning-app",
        data,
        &["invoke", "--data", event],
        None,
    ));
    serde_json::from_slice(&out.stdout).expect("invoke prints the result JSON on stdout")
}

pub fn dispatch_all(data: &Path, expected: usize) -> Vec<String> {
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
pub fn count_files(dir: &Path) -> usize {
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
/// One dispatcher step that waits a second at most and runs trips 100,000 times faster.
pub const FAST_ONCE: [&str; 7] = [
    "once",
    "--wait-seconds",
    "1",
    "--batch-window",
    "1",
    "--time-scale",
    "100000",
];

pub fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A child process that is killed when the test ends, failing or not.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Opens a page in headless Chromium (`STORE_TEST_CHROMIUM`, set by `scripts/test.sh`) and
/// returns what the page's own check wrote into `data-map-rendered` once laid out.
pub fn render_in_chromium(page: &Path) -> String {
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
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
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
