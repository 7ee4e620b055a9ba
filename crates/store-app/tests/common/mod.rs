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

/// Starts `store-truck-app serve` on a free loopback port with `args` and `envs`; returns the
/// server (stopped when dropped) and the page's address, which it prints first.
pub fn serve_page(data: &Path, args: &[&str], envs: &[(&str, String)]) -> (KillOnDrop, String) {
    let mut command = Command::new(bin("store-truck-app"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--refresh-seconds", "1"])
        .args(args);
    serve_with(command, data, envs)
}

/// Starts `command` (a `serve` of the operations page, however launched) and returns the server
/// and the address it prints first.
pub fn serve_with(
    mut command: Command,
    data: &Path,
    envs: &[(&str, String)],
) -> (KillOnDrop, String) {
    use std::io::BufRead;
    let mut child = command
        .env("STORE_DATA_DIR", data)
        .env_remove("STORE_BACKEND")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = KillOnDrop(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("operations page: ")
        .unwrap_or_else(|| panic!("serve prints its address first: {line:?}"))
        .to_owned();
    (server, address)
}

/// A GET of `path` from the server at `address` (`http://host:port/`), naming it `host` (its
/// own address when `None`): the status and the body.
pub fn http_get(address: &str, path: &str, host: Option<&str>) -> (u16, String) {
    http_request(address, "GET", path, host, None)
}

/// A JSON POST of `body` to `path` of the server at `address`: the status and the body.
pub fn http_post_json(address: &str, path: &str, body: &str) -> (u16, String) {
    http_request(address, "POST", path, None, Some(body))
}

fn http_request(
    address: &str,
    method: &str,
    path: &str,
    host: Option<&str>,
    json: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let authority = address.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let body = json.unwrap_or_default();
    let content = json.map_or(String::new(), |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
    });
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{content}Connection: close\r\n\r\n{body}",
        host.unwrap_or(authority)
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    (status, body.to_owned())
}
