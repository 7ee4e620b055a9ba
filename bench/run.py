"""The benchmark suite: runs every measurement side by side and writes one markdown table.

Called by `scripts/bench.sh` (which installs DuckDB and moto and builds the binaries):

    python3 bench/run.py --bin target/release [--quick] [--work DIR] [--out FILE]

Measurements (each process's peak memory is taken from the kernel's accounting of the child):
1. planning, full scan: our embedded engine vs DuckDB on the same generated lake, NDJSON and
   Parquet, at each size (1M and 10M readings; 20k with --quick), and `cat` of the same objects;
   then the same on a wide chain (2M readings over about 860,000 keys; 20k with --quick), with a
   whole dry planning run as `invoke` makes it;
2. ingest: `store-app send` of an NDJSON file into the local Firehose vs `cat` of the same bytes;
3. the Firehose client against a local AWS API server (moto): calls per 10,000 readings and
   readings/s, vs the seed's one PutRecord call per reading;
4. the embedded queue: alerts/s sent, received and deleted.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def isolated(cmd, env=None):
    """Runs a command under a fresh Python wrapper so its peak memory is its own."""
    wrapper = (
        "import json,resource,subprocess,sys,time\n"
        "t=time.perf_counter()\n"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True)\n"
        "s=time.perf_counter()-t\n"
        "sys.stderr.write(p.stderr)\n"
        "print(json.dumps({'status':p.returncode,'seconds':s,"
        "'peak_rss_kib':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,'stdout':p.stdout}))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *map(str, cmd)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    r = json.loads(out.stdout)
    if r["status"] != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"failed ({r['status']}): {' '.join(map(str, cmd))}")
    r["stderr"] = out.stderr
    return r


def mib(kib):
    return f"{kib / 1024:.0f} MiB" if kib else "?"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.0f} GiB, {platform.system()} {platform.release()}, {rustc}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cat_seconds(lake, runs=3):
    """Best of `runs` warm reads of every object under `lake` with `cat`: the I/O floor."""
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(lake) for f in fs)
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)
        s = time.perf_counter() - t
        best = s if best is None else min(best, s)
    return best


def duckdb_against(lake, fmt, plan_now, runs, ours_rows):
    """DuckDB's planning forms over the same objects (checked to find our row count), and the
    best of them."""
    duck = isolated([sys.executable, os.path.join(HERE, "duckdb_plan.py"), lake, fmt, plan_now, runs])
    d = json.loads(duck["stdout"])
    if d["arg_max"]["rows"] != ours_rows:
        raise SystemExit(f"row counts differ: ours {ours_rows}, DuckDB {d['arg_max']['rows']}")
    return d, duck["peak_rss_kib"], min(d[f]["best_seconds"] for f in ("arg_max", "arg_max_time", "window"))


def many_keys(bin_dir, work, size, now, runs):
    """The wide chain (hundreds of thousands of keys, two readings each): the full scan against
    DuckDB's, and a whole dry planning run as `invoke` makes it."""
    t = int(now) // 3600 * 3600
    plan_now = str(t + 25 * 60)
    bench = f"{bin_dir}/store-bench"
    rows = []
    for fmt in ("parquet", "json"):
        data = os.path.join(work, f"wide-{size}-{fmt}")
        shutil.rmtree(data, ignore_errors=True)
        gen = json.loads(isolated([bench, "generate", "--data-dir", data, "--readings", size, "--format", fmt,
                                   "--seed", "3", "--now", t, "--shape", "wide"])["stdout"])
        full = isolated([bench, "plan", "--data-dir", data, "--now", plan_now, "--mode", "full", "--runs", runs])
        o = json.loads(full["stdout"])
        lake = os.path.join(data, "s3", "store-inventory-lake", "readings")
        _, duck_rss, best_duck = duckdb_against(lake, fmt, plan_now, runs, o["rows"])
        inv = isolated([bench, "plan", "--data-dir", data, "--now", plan_now, "--mode", "invoke", "--runs", runs])
        i = json.loads(inv["stdout"])
        print(f"  many keys {size} {fmt}: ours {o['best_seconds']:.3f} s, DuckDB best {best_duck:.3f} s, "
              f"invoke {i['best_seconds']:.3f} s ({i['alerts']} alerts, {i['result_bytes']} bytes)", file=sys.stderr)
        rows.append({
            "readings": size, "format": "Parquet" if fmt == "parquet" else "NDJSON",
            "objects": gen["objects"], "bytes": gen["bytes"], "keys": o["rows"], "low": o["low"],
            "ours": o["best_seconds"], "ours_rss": full["peak_rss_kib"], "duck": best_duck,
            "duck_rss": duck_rss, "ratio": o["best_seconds"] / best_duck,
            "invoke": i["best_seconds"], "invoke_first": i["first_seconds"], "invoke_rss": inv["peak_rss_kib"],
            "alerts": i["alerts"], "listed": i["listed"], "result_bytes": i["result_bytes"],
        })
        shutil.rmtree(data, ignore_errors=True)
    return rows


def planning(bin_dir, work, sizes, now, runs):
    """Full scans (ours and DuckDB's), then the incremental scenario on the same lake.

    The history arrives over the 24 hours before the hour `t`; planning runs at t + 25 min.
    The first incremental run folds every closed hour into the snapshot; then 1% new readings
    arrive in the open hour, and a full scan and an incremental run are timed over the same lake.
    """
    t = int(now) // 3600 * 3600
    plan_now = str(t + 25 * 60)
    bench = f"{bin_dir}/store-bench"
    rows = []
    for size in sizes:
        for fmt in ("parquet", "json"):
            data = os.path.join(work, f"lake-{size}-{fmt}")
            shutil.rmtree(data, ignore_errors=True)
            gen = json.loads(
                isolated([bench, "generate", "--data-dir", data, "--readings", size,
                          "--format", fmt, "--seed", "1", "--now", t])["stdout"]
            )
            plan = lambda mode, n: (lambda r: (json.loads(r["stdout"]), r["peak_rss_kib"]))(
                isolated([bench, "plan", "--data-dir", data, "--now", plan_now, "--mode", mode, "--runs", n]))
            o, o_rss = plan("full", runs)
            lake = os.path.join(data, "s3", "store-inventory-lake", "readings")
            d, duck_rss, best_duck = duckdb_against(lake, fmt, plan_now, runs, o["rows"])
            cat = cat_seconds(lake)
            print(f"  planning {size} {fmt}: ours {o['best_seconds']:.3f} s, DuckDB arg_max "
                  f"{d['arg_max']['best_seconds']:.3f} s, window {d['window']['best_seconds']:.3f} s", file=sys.stderr)

            fold, _ = plan("incremental", "0")
            new = str(max(1, int(size) // 100))
            isolated([bench, "generate", "--data-dir", data, "--readings", new, "--format", fmt,
                      "--seed", "7", "--now", plan_now, "--span-seconds", str(25 * 60)])
            after, _ = plan("full", runs)
            inc, inc_rss = plan("incremental", runs)
            if inc["rows"] != after["rows"]:
                raise SystemExit(f"incremental rows {inc['rows']} differ from the full scan's {after['rows']}")
            print(f"  +1%: full {after['best_seconds']:.3f} s, incremental {inc['best_seconds']:.3f} s", file=sys.stderr)
            rows.append({
                "readings": size, "format": "Parquet" if fmt == "parquet" else "NDJSON",
                "objects": gen["objects"], "bytes": gen["bytes"], "keys": o["rows"],
                "ours": o["best_seconds"], "ours_first": o["first_seconds"], "ours_rss": o_rss,
                "arg_max": d["arg_max"]["best_seconds"], "window": d["window"]["best_seconds"],
                "arg_max_time": d["arg_max_time"]["best_seconds"],
                "duck_rss": duck_rss, "ratio": o["best_seconds"] / best_duck,
                "duckdb": d["duckdb"], "cat": cat,
                "new": int(new), "fold_seconds": fold["first_seconds"], "fold_bytes": fold["first_bytes_scanned"],
                "full_after": after["best_seconds"], "full_after_bytes": after["bytes_scanned"],
                "inc": inc["best_seconds"], "inc_bytes": inc["bytes_scanned"], "inc_rss": inc_rss,
            })
            shutil.rmtree(data, ignore_errors=True)
    return rows


# Ingest runs (each a fresh lake folder); the best is reported, all are listed.
INGEST_RUNS = 3


def ingest(bin_dir, work, readings, now):
    src = os.path.join(work, "ingest.ndjson")
    json.loads(isolated([f"{bin_dir}/store-bench", "ndjson", "--out", src, "--readings", readings, "--seed", "2", "--now", now])["stdout"])
    size = os.path.getsize(src)
    # The source's own writeback must not compete with the runs' writes.
    subprocess.run(["sync", src], check=True)
    data = os.path.join(work, "ingest")
    env = dict(os.environ, STORE_DATA_DIR=data)
    env.pop("STORE_BACKEND", None)
    copy = os.path.join(work, "cat-copy.ndjson")
    ours, cat = [], []
    for _ in range(INGEST_RUNS):
        shutil.rmtree(data, ignore_errors=True)
        ours.append(isolated([f"{bin_dir}/store-app", "--format", "json", "--buffer-mib", "64", "send", src], env=env))
        shutil.rmtree(data, ignore_errors=True)
        cat.append(isolated(["sh", "-c", f"cat '{src}' > '{copy}' && sync '{copy}'"]))
        os.remove(copy)
    best = min(ours, key=lambda r: r["seconds"])
    cat = min(cat, key=lambda r: r["seconds"])
    shutil.rmtree(data, ignore_errors=True)
    os.remove(src)
    return {
        "readings": int(readings), "mb": size / 1e6,
        "ours_seconds": best["seconds"], "ours_rss": max(r["peak_rss_kib"] for r in ours),
        "ours_all": [r["seconds"] for r in ours],
        "cat_seconds": cat["seconds"],
    }


def firehose(bin_dir, work, readings, now):
    src = os.path.join(work, "firehose.ndjson")
    isolated([f"{bin_dir}/store-bench", "ndjson", "--out", src, "--readings", readings, "--seed", "3", "--now", now])
    port = free_port()
    log = open(os.path.join(work, "moto.log"), "w")
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_EC2_METADATA_DISABLED="true", AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint,
                   STORE_DATA_DIR=os.path.join(work, "firehose"))
        env_file = os.path.join(work, "firehose.env")
        hour = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d-%H")
        isolated([f"{bin_dir}/store-infra", "provision", "--stack-name", "bench",
                  "--readings-prefix", f"readings/dt={hour}/", "--output", env_file], env=env)
        env.update(STORE_BACKEND="aws", STORE_ENV_FILE=env_file)
        r = isolated([f"{bin_dir}/store-app", "send", src], env=env)
        summary = r["stderr"]
        calls = int(summary.split(" object(s) or call(s)")[0].rsplit(", ", 1)[1])
        return {"readings": int(readings), "calls": calls, "seconds": r["seconds"], "rss": r["peak_rss_kib"]}
    finally:
        moto.terminate()
        moto.wait()
        log.close()
        os.remove(src)


def queue(bin_dir, work, alerts):
    data = os.path.join(work, "queue")
    shutil.rmtree(data, ignore_errors=True)
    r = isolated([f"{bin_dir}/store-bench", "queue", "--data-dir", data, "--alerts", alerts])
    shutil.rmtree(data, ignore_errors=True)
    out = json.loads(r["stdout"])
    out["rss"] = r["peak_rss_kib"]
    return out


def human(n):
    n = int(n)
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--work")
    ap.add_argument("--out")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="store-bench-")
    os.makedirs(work, exist_ok=True)
    now = str(int(time.time()))
    if args.quick:
        sizes, runs, ingest_n, firehose_n, alerts, wide = ["20000"], "1", "100000", "10000", "2000", "20000"
    else:
        sizes, runs, ingest_n, firehose_n, alerts, wide = ["1000000", "10000000"], "3", "2000000", "100000", "20000", "2000000"

    plan_rows = planning(args.bin, work, sizes, now, runs)
    wide_rows = many_keys(args.bin, work, wide, now, runs)
    ing = ingest(args.bin, work, ingest_n, now)
    print(f"  ingest: {ing['readings'] / ing['ours_seconds']:.0f} readings/s", file=sys.stderr)
    fh = firehose(args.bin, work, firehose_n, now)
    print(f"  firehose: {fh['calls']} calls", file=sys.stderr)
    q = queue(args.bin, work, alerts)
    print(f"  queue: {q['alerts_per_second']:.0f} alerts/s", file=sys.stderr)

    lines = [
        f"# Benchmarks{' (quick)' if args.quick else ''}",
        "",
        f"Machine: {machine()}. Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"binaries from `{args.bin}`; DuckDB {plan_rows[0]['duckdb']}.",
        "",
        "## Planning, full scan (24 h window; best of the timed runs, warm cache)",
        "",
        "| readings | format | objects | size | store×product keys | ours | DuckDB arg_max (same order) | DuckDB arg_max (time only) | DuckDB row_number | ratio to DuckDB's best | `cat` of the objects | ours / `cat` | ours peak memory | DuckDB peak memory |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in plan_rows:
        lines.append(
            f"| {human(r['readings'])} | {r['format']} | {r['objects']} | {r['bytes'] / 1e6:.0f} MB | {r['keys']:,} "
            f"| {r['ours']:.3f} s | {r['arg_max']:.3f} s | {r['arg_max_time']:.3f} s | {r['window']:.3f} s | **{r['ratio']:.2f}** "
            f"| {r['cat']:.3f} s | {r['ours'] / r['cat']:.1f}x | {mib(r['ours_rss'])} | {mib(r['duck_rss'])} |"
        )
    lines += [
        "",
        "## Planning with many keys (the wide chain: two readings per store×product key)",
        "",
        "Full scan as above, against DuckDB's best form; `invoke` is a whole dry planning run as the command makes it "
        "(the query over the snapshot and the open hours, the rules for every shelf, the result JSON), best of the timed runs.",
        "",
        "| readings | format | size | keys | low | ours | DuckDB's best | ratio | ours peak memory | DuckDB peak memory | `invoke` (first run, folds the lake) | `invoke` | result JSON | `invoke` peak memory |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in wide_rows:
        lines.append(
            f"| {human(r['readings'])} | {r['format']} | {r['bytes'] / 1e6:.0f} MB | {r['keys']:,} | {r['low']:,} "
            f"| {r['ours']:.3f} s | {r['duck']:.3f} s | **{r['ratio']:.2f}** | {mib(r['ours_rss'])} | {mib(r['duck_rss'])} "
            f"| {r['invoke_first']:.3f} s | {r['invoke']:.3f} s | {r['result_bytes'] / 1e6:.2f} MB ({r['alerts']:,} alerts, {r['listed']:,} listed) | {mib(r['invoke_rss'])} |"
        )
    lines += [
        "",
        "Ours is the planner's own query path (`DataFusionInventoryQuery`, the one planning SQL with the "
        "`max_by` aggregate); its first run, which also checks every new object, took "
        + ", ".join(f"{r['ours_first']:.2f} s ({human(r['readings'])} {r['format']})" for r in plan_rows) + ".",
        "",
        "## Planning as history grows: 1% new readings on top of the history",
        "",
        "The first incremental run folds every closed arrival hour into the snapshot (once); after 1% new readings "
        "arrive in the open hour, a full scan and an incremental run plan over the same lake. Bytes are the objects "
        "each run reads: what Athena would scan for the same design, before Parquet's column pruning.",
        "",
        "| history | format | new readings | first run (folds the history) | full scan | incremental | incremental / full | bytes read: full | bytes read: incremental | incremental peak memory |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in plan_rows:
        lines.append(
            f"| {human(r['readings'])} | {r['format']} | {r['new']:,} | {r['fold_seconds']:.3f} s | {r['full_after']:.3f} s "
            f"| {r['inc']:.3f} s | **{100 * r['inc'] / r['full_after']:.1f}%** | {r['full_after_bytes'] / 1e6:.1f} MB "
            f"| {r['inc_bytes'] / 1e6:.1f} MB ({100 * r['inc_bytes'] / max(1, r['full_after_bytes']):.1f}%) | {mib(r['inc_rss'])} |"
        )
    lines += [
        "",
        "## Ingest, Firehose client, queue",
        "",
        "| measurement | result | peer | ratio | peak memory |",
        "|---|---:|---:|---:|---:|",
        f"| ingest: `store-app send` NDJSON into the local Firehose ({human(ing['readings'])} readings, {ing['mb']:.0f} MB; best of "
        f"{len(ing['ours_all'])}: " + ", ".join(f"{ing['readings'] / s / 1e6:.2f}M" for s in ing['ours_all']) + " readings/s) "
        f"| {ing['readings'] / ing['ours_seconds']:,.0f} readings/s, {ing['mb'] / ing['ours_seconds']:.0f} MB/s "
        f"| `cat` of the same bytes (and `sync`), best of {len(ing['ours_all'])}: {ing['mb'] / ing['cat_seconds']:.0f} MB/s | {ing['cat_seconds'] / ing['ours_seconds']:.2f} of `cat`'s speed | {mib(ing['ours_rss'])} |",
        f"| Firehose client against moto ({human(fh['readings'])} readings) | {fh['calls'] * 10000 / fh['readings']:.0f} calls per 10,000 readings, "
        f"{fh['readings'] / fh['seconds']:,.0f} readings/s | the seed: 10,000 `PutRecord` calls per 10,000 | {10000 / (fh['calls'] * 10000 / fh['readings']):.0f}x fewer calls | {mib(fh['rss'])} |",
        f"| embedded queue: send, receive, delete ({human(q['alerts'])} alerts) | {q['alerts_per_second']:,.0f} alerts/s | target 10,000/s "
        f"| {q['alerts_per_second'] / 10000:.2f} of target | {mib(q['rss'])} |",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            f.write(table)
        print(f"saved to {args.out}", file=sys.stderr)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
