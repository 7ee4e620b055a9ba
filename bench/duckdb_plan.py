"""The planning query in DuckDB over the same lake, for the benchmark's comparison.

    python3 bench/duckdb_plan.py <lake readings dir> <parquet|json> <now epoch s> [runs]

Runs two forms of the same question ("per store and product, the latest reading of the last
24 hours") with the same filters as our planning SQL, and prints one JSON line: the best time
of each form over `runs` runs (after one untimed run), the rows, and the peak memory.

- `arg_max`: one aggregate pass, the same columns and the same order as ours (latest by event
  time, then event id; the reading count; the first stock and time of the window);
- `arg_max_time`: the same by event time alone (ties broken arbitrarily), the lightest form;
- `window`: `row_number()` over each store and product, the classic form.

DuckDB is used only here, by the benchmark: `pip install duckdb`.
"""

import json
import resource
import sys
import time
from datetime import datetime, timezone

import duckdb

COLUMNS = (
    "{'store_id': 'VARCHAR', 'product_id': 'VARCHAR', 'product_name': 'VARCHAR', "
    "'current_stock': 'INTEGER', 'threshold_level': 'INTEGER', 'is_stock_low': 'BOOLEAN', "
    "'check_timestamp': 'BIGINT', 'notification_sent': 'BOOLEAN', 'restock_status': 'VARCHAR', "
    "'event_id': 'VARCHAR', 'max_stock': 'INTEGER'}"
)


def source(root, fmt):
    if fmt == "parquet":
        return f"read_parquet('{root}/*/*.parquet', hive_partitioning = true)"
    return (
        f"read_json('{root}/*/*.json', format = 'newline_delimited', "
        f"hive_partitioning = true, columns = {COLUMNS})"
    )


FILTER = """
  WHERE dt >= $dt AND check_timestamp >= $start AND check_timestamp <= $end
    AND store_id <> '' AND product_id <> '' AND current_stock >= 0 AND threshold_level >= 0
"""


def arg_max_sql(src):
    return f"""
SELECT store_id, product_id,
       arg_max(product_name, ord) AS product_name,
       arg_max(current_stock, ord) AS current_stock,
       arg_max(threshold_level, ord) AS threshold_level,
       arg_max(max_stock, ord) AS max_stock,
       max(check_timestamp) AS check_timestamp,
       arg_max(event_id, ord) AS event_id,
       count(*) AS readings,
       arg_min(current_stock, ord) AS first_stock,
       min(check_timestamp) AS first_timestamp
FROM (SELECT *, {{'t': check_timestamp, 'e': coalesce(event_id, '')}} AS ord FROM {src} {FILTER})
GROUP BY store_id, product_id
"""


def arg_max_time_sql(src):
    """The lightest form: the latest by event time alone (ties broken arbitrarily)."""
    return f"""
SELECT store_id, product_id,
       arg_max(product_name, check_timestamp) AS product_name,
       arg_max(current_stock, check_timestamp) AS current_stock,
       arg_max(threshold_level, check_timestamp) AS threshold_level,
       arg_max(max_stock, check_timestamp) AS max_stock,
       max(check_timestamp) AS check_timestamp,
       arg_max(event_id, check_timestamp) AS event_id,
       count(*) AS readings,
       arg_min(current_stock, check_timestamp) AS first_stock,
       min(check_timestamp) AS first_timestamp
FROM {src} {FILTER}
GROUP BY store_id, product_id
"""


def window_sql(src):
    return f"""
SELECT store_id, product_id, product_name, current_stock, threshold_level, max_stock,
       check_timestamp, event_id, readings
FROM (
  SELECT *, row_number() OVER (PARTITION BY store_id, product_id
                               ORDER BY check_timestamp DESC, coalesce(event_id, '') DESC) AS rn,
            count(*) OVER (PARTITION BY store_id, product_id) AS readings
  FROM {src} {FILTER}
) WHERE rn = 1
"""


def main():
    root, fmt, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    start = now - 24 * 3600
    params = {
        "dt": datetime.fromtimestamp(start, timezone.utc).strftime("%Y-%m-%d-%H"),
        "start": start,
        "end": now,
    }
    con = duckdb.connect()
    src = source(root, fmt)
    out = {"duckdb": duckdb.__version__, "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0]}
    forms = (
        ("arg_max", arg_max_sql(src)),
        ("arg_max_time", arg_max_time_sql(src)),
        ("window", window_sql(src)),
    )
    for name, sql in forms:
        rows = len(con.execute(sql, params).fetchall())
        best = None
        for _ in range(runs):
            t = time.perf_counter()
            con.execute(sql, params).fetchall()
            elapsed = time.perf_counter() - t
            best = elapsed if best is None else min(best, elapsed)
        out[name] = {"best_seconds": best, "rows": rows}
    out["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))


if __name__ == "__main__":
    main()
