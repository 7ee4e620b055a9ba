//! The apps as an operator runs them: stopped by a service manager, logging into a file, and
//! the operations page under idle sockets and clients that never read. Every load here goes to
//! 127.0.0.1 and is bounded in count and time.

mod common;

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tempfile::TempDir;

/// Sends `signal` (`TERM`, `HUP`) to a child this test started.
fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child to exit, at most `limit`; kills it past that and fails.
fn exit_within(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_and_sighup_stop_watch_gracefully_with_its_summary() {
    for sig in ["TERM", "HUP"] {
        let dir = TempDir::new().unwrap();
        let mut child = Command::new(bin("store-truck-app"))
            .args(["watch", "--wait-seconds", "1"])
            .env("STORE_DATA_DIR", dir.path())
            .env_remove("STORE_BACKEND")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        assert!(line.contains("watching for alerts"), "{line}");
        signal(&child, sig);
        let status = exit_within(&mut child, Duration::from_secs(20));
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        assert!(status.success(), "SIG{sig}: {status}\n{rest}");
        assert!(
            rest.contains("alert(s) accepted"),
            "SIG{sig}: no summary:\n{rest}"
        );
    }
}

#[test]
fn sigterm_stops_serve_gracefully() {
    let dir = TempDir::new().unwrap();
    let (mut server, address) = serve_page(dir.path(), &[], &[]);
    let (status, _) = http_get(&address, "/api/view", None);
    assert_eq!(status, 200);
    signal(&server.0, "TERM");
    let status = exit_within(&mut server.0, Duration::from_secs(20));
    assert!(status.success(), "{status}");
}

#[test]
fn logs_into_a_pipe_carry_no_colour_codes_and_a_damaged_trip_stops_nothing() {
    let dir = TempDir::new().unwrap();
    // A damaged trip makes the ledger warn; the warning goes to a pipe here.
    let trip = dir
        .path()
        .join("s3/store-inventory-lake/ledger/trips/TRUCK_1/000000000001.json");
    std::fs::create_dir_all(trip.parent().unwrap()).unwrap();
    std::fs::write(&trip, "{garbage").unwrap();
    let out = run_with(
        "store-truck-app",
        dir.path(),
        &FAST_ONCE,
        None,
        &[("STORE_LOG", "warn".into())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("unreadable"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe: {stderr:?}"
    );
    let status = ok(run("store-truck-app", dir.path(), &["status"], None));
    let board = String::from_utf8_lossy(&status.stdout);
    assert!(
        board.contains("TRUCK_1: the trip") && board.contains("off the road"),
        "{board}"
    );
}

#[test]
fn a_planning_event_naming_a_key_twice_is_refused() {
    let dir = TempDir::new().unwrap();
    let out = run(
        "store-planning-app",
        dir.path(),
        &["invoke", "--data", r#"{"dry_run":true,"dry_run":false}"#],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`dry_run` twice"), "{stderr}");
}

/// A raw request on its own connection, its status (0 when the server closed first).
fn status_of(address: &str, request: &str) -> u16 {
    let authority = address.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = [0_u8; 12];
    match stream.read_exact(&mut head) {
        Ok(()) => String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0),
        Err(_) => 0,
    }
}

#[test]
fn the_page_stays_reachable_under_idle_sockets_and_streams_that_never_read() {
    let dir = TempDir::new().unwrap();
    // Few file descriptors, as a small container gives: idle sockets must not take them all.
    let script = format!(
        "ulimit -n 512 && exec {} serve --listen 127.0.0.1:0 --refresh-seconds 1",
        bin("store-truck-app").display()
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script]);
    let (_server, address) = serve_with(sh, dir.path(), &[]);
    let authority = address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    // 70 event streams whose clients never read a byte: more than the 64 slots.
    let stream_request = format!(
        "GET /api/events HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n"
    );
    let mut streams = Vec::new();
    for _ in 0..70 {
        let mut s = TcpStream::connect(&authority).unwrap();
        s.write_all(stream_request.as_bytes()).unwrap();
        streams.push(s);
    }
    // A new viewer still gets its stream: the oldest is ended for it.
    assert_eq!(status_of(&address, &stream_request), 200);

    // 400 sockets that connect and send nothing: more than the server serves at once.
    let idle: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(&authority).unwrap())
        .collect();
    let started = Instant::now();
    let view = format!("GET /api/view HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    assert_eq!(
        status_of(&address, &view),
        200,
        "the page answers once idle sockets time out"
    );
    let waited = started.elapsed();
    drop(idle);
    drop(streams);
    // And its own queries still open their files: no `Too many open files` among the problems.
    let (status, body) = http_get(&address, "/api/view", None);
    assert_eq!(status, 200);
    assert!(!body.contains("Too many open files"), "{body}");
    eprintln!("answered after {waited:?} behind 400 idle sockets");
}

#[test]
fn deleting_the_data_folder_under_serve_is_a_problem_on_the_page_not_an_empty_world() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let (_server, address) = serve_page(&data, &["--readings-seconds", "5"], &[]);
    let (status, body) = http_get(&address, "/api/view", None);
    assert_eq!(status, 200);
    assert!(!body.contains("is gone"), "{body}");
    std::fs::remove_dir_all(&data).unwrap();
    let started = Instant::now();
    let body = loop {
        let (_, body) = http_get(&address, "/api/view", None);
        if body.contains("is gone") || started.elapsed() > Duration::from_secs(30) {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.contains("is gone"), "no problem shown: {body}");
    assert!(!data.join("s3").exists(), "a reader re-created the lake");
}

#[test]
fn the_page_shows_a_finished_simulation_report_only_when_given_one() {
    let dir = TempDir::new().unwrap();
    let report = dir.path().join("report.html");
    let html = "<!doctype html><html><body><h1>store-sim run</h1><svg></svg></body></html>";
    std::fs::write(&report, html).unwrap();
    let (_server, address) =
        serve_page(dir.path(), &["--simulation", report.to_str().unwrap()], &[]);
    assert_eq!(
        http_get(&address, "/simulation", None),
        (200, html.to_owned())
    );
    let (_plain, address) = serve_page(dir.path(), &[], &[]);
    let (status, body) = http_get(&address, "/simulation", None);
    assert_eq!(status, 404);
    assert!(body.contains("--simulation"), "{body}");
    // A report that is not text is refused at the start, naming the file.
    std::fs::write(&report, [0xff_u8, 0xfe, 0x00]).unwrap();
    let out = Command::new(bin("store-truck-app"))
        .args(["serve", "--listen", "127.0.0.1:0", "--simulation"])
        .arg(&report)
        .env("STORE_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("report.html"));
}
