//! End to end at the door and on the disk: full disks, readings from the wrong time, a snapshot
//! turned off, an emptied queue file.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::Value;
use tempfile::TempDir;

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

/// Each app's help names its completions and man page, and both come from its command line.
#[test]
fn completions_and_the_man_page_come_from_each_apps_command_line() {
    for (app, subcommand) in [
        ("store-app", "send"),
        ("store-planning-app", "invoke"),
        ("store-truck-app", "watch"),
    ] {
        let run = |args: &[&str]| {
            let out = Command::new(bin(app)).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{app} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let help = run(&["--help"]);
        assert!(
            help.contains("completions") && help.contains("man"),
            "{help}"
        );
        let bash = run(&["completions", "bash"]);
        assert!(
            bash.contains("complete -F") && bash.contains(subcommand),
            "{bash}"
        );
        assert!(run(&["completions", "zsh"]).contains(&format!("#compdef {app}")));
        let man = run(&["man"]);
        assert!(
            man.contains(&format!(".TH {app}")) && man.contains(subcommand),
            "{man}"
        );
    }
}
