"""Runs one fold of the planning snapshot as Athena receives it, in another engine, and compares
its rows with the embedded engine's (DataFusion's) fold of the same lake.

No Athena runs here, so the text Athena is sent (an `UNLOAD` of the compaction SQL, parameters
bound as Athena binds them) is read as Trino SQL by sqlglot, written for DuckDB, and run by
DuckDB over the same raw Parquet partitions, with DuckDB's own previous generation as the
`latest_snapshot` table. DuckDB is told to divide integers as Trino does
(`integer_division`), and to keep a null at the greatest key as Trino's `max_by` does
(`arg_max_null`). The generations chain: call once per fold, in order, with the same
database file. Every column must match (the demand state's to a relative 1e-9). Prints a JSON
summary; exits 1 on any difference.

    python3 scripts/check_fold_engines.py STEP.json

STEP.json: {"database": path, "readings": the lake folder's readings prefix, "sql": path of
the bound UNLOAD text, "run": this generation's run id, "datafusion": path of the embedded
engine's Parquet rows for the same fold}.
"""

import json
import math
import pathlib
import re
import sys

import duckdb
import sqlglot
from sqlglot import exp

UNLOAD = re.compile(r"\AUNLOAD \(\n(?P<select>.*)\n\) TO '[^']+' WITH \([^)]*\)\Z", re.S)
KEY = ("store_id", "product_id")
EXACT = (
    "product_name", "current_stock", "threshold_level", "max_stock", "check_timestamp",
    "event_id", "folded", "fc_at",
)
APPROX = ("fc_units", "fc_squares", "fc_hours")


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def duckdb_text(trino: str) -> str:
    """The Trino text for DuckDB. Trino's `max_by(x, y)` is x at the row with the greatest y,
    null or not; DuckDB's `arg_max` skips rows whose x is null, its `arg_max_null` does not."""

    def max_by(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.ArgMax):
            return exp.Anonymous(this="ARG_MAX_NULL", expressions=[node.this, node.expression])
        return node

    tree = sqlglot.parse_one(trino, read="trino").transform(max_by)
    return tree.sql(dialect="duckdb")


def rows(con, sql: str) -> dict:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    out = {}
    for row in cur.fetchall():
        r = dict(zip(names, row))
        out[tuple(r[k] for k in KEY)] = r
    return out


def main(step_path: str) -> int:
    step = json.loads(pathlib.Path(step_path).read_text())
    text = pathlib.Path(step["sql"]).read_text()
    m = UNLOAD.match(text)
    if not m:
        print(f"{step['sql']}: not an UNLOAD", file=sys.stderr)
        return 1
    select = duckdb_text(m.group("select"))
    con = duckdb.connect(step["database"])
    con.execute("SET integer_division = true")
    readings = str(pathlib.Path(step["readings"]) / "**" / "*.parquet").replace("'", "''")
    con.execute(
        "CREATE OR REPLACE VIEW readings AS SELECT * FROM read_parquet("
        f"'{readings}', hive_partitioning = true, hive_types = {{'dt': VARCHAR}})"
    )
    run = step["run"].replace("'", "''")
    con.execute(f"CREATE OR REPLACE TEMP TABLE fold AS {select}")
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'latest_snapshot'"
    ).fetchone()[0]
    if exists:
        con.execute(f"INSERT INTO latest_snapshot SELECT *, '{run}' AS run FROM fold")
    else:
        con.execute(f"CREATE TABLE latest_snapshot AS SELECT *, '{run}' AS run FROM fold")
    ours = rows(con, "SELECT * FROM fold")
    embedded_path = step["datafusion"].replace("'", "''")
    embedded = rows(con, f"SELECT * FROM read_parquet('{embedded_path}')")
    problems = []
    for key in sorted(set(ours) | set(embedded)):
        a, b = ours.get(key), embedded.get(key)
        if a is None or b is None:
            problems.append(f"{key}: only in {'DataFusion' if a is None else 'the Athena text'}")
            continue
        for col in EXACT:
            if a[col] != b[col]:
                problems.append(f"{key} {col}: Athena text {a[col]!r}, DataFusion {b[col]!r}")
        for col in APPROX:
            if not close(a[col], b[col]):
                problems.append(f"{key} {col}: Athena text {a[col]!r}, DataFusion {b[col]!r}")
    print(json.dumps({
        "run": step["run"],
        "rows": len(ours),
        "folded": sum(r["folded"] for r in ours.values()),
        "differences": problems[:50],
    }))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
