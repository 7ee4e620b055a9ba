"""Checks the SQL texts the Athena planner sends against Trino's dialect.

The local AWS server runs no SQL, so the Athena path's queries are checked here instead: every
file in the folder `store-infra athena-sql` wrote (parameters already bound as Athena binds them)
must parse as Trino SQL with sqlglot, every function it calls must be one Trino documents (the
allow-list below, from the Trino function reference, https://trino.io/docs/current/functions/
list.html), and an UNLOAD must have the form Athena documents. Exits non-zero on any finding.

    python3 scripts/check_athena_sql.py DIR
"""

import pathlib
import re
import sys

import sqlglot
from sqlglot import exp

# Functions and operators-as-functions from Trino's reference that this project may use. A name
# is added here only after checking that Trino (Athena engine version 3) has it with the arity used.
TRINO_FUNCTIONS = {
    # Aggregate
    "COUNT", "COUNT_IF", "SUM", "MIN", "MAX", "AVG", "MAX_BY", "MIN_BY", "ARBITRARY", "ANY_VALUE",
    "APPROX_DISTINCT", "BOOL_AND", "BOOL_OR",
    # Window (https://trino.io/docs/current/functions/window.html)
    "LAG", "ROW_NUMBER",
    # Mathematical: floor(x), power(x, p)
    "FLOOR", "POWER",
    # Conditional and comparison
    "COALESCE", "NULLIF", "IF", "GREATEST", "LEAST",
    # Conversion and row construction
    "CAST", "TRY_CAST", "ROW",
    # String
    "LOWER", "UPPER", "LENGTH", "SUBSTR", "CONCAT", "TRIM",
    # Date and time
    "FROM_UNIXTIME", "TO_UNIXTIME", "DATE_FORMAT", "DATE_TRUNC", "NOW",
}

UNLOAD = re.compile(
    r"\AUNLOAD \(\n(?P<select>.*)\n\) TO 's3://[a-z0-9.-]{3,63}/[^'\s]+/' "
    r"WITH \(format = 'PARQUET', compression = 'SNAPPY'\)\Z",
    re.S,
)


CALL_IN_TEXT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(")
CALL = re.compile(r"\A([A-Za-z_][A-Za-z0-9_]*)\(")


def function_name(node: exp.Expression) -> str | None:
    """The name Trino knows the call by, as sqlglot writes it back in Trino's dialect; None for
    an operator (sqlglot models AND, NOT, IN and the like as functions too)."""
    if isinstance(node, exp.Anonymous):
        return node.name.upper()
    call = CALL.match(node.sql(dialect="trino"))
    return call.group(1).upper() if call else None


def check(path: pathlib.Path) -> list[str]:
    sql = path.read_text()
    problems = []
    match = UNLOAD.match(sql) if sql.startswith("UNLOAD") else None
    if sql.startswith("UNLOAD"):
        if not match:
            return [f"{path.name}: not an UNLOAD of the documented form"]
        sql = match.group("select")
    try:
        statements = sqlglot.parse(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.ParseError as e:
        return [f"{path.name}: does not parse as Trino SQL: {e}"]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return [f"{path.name}: expected exactly one SELECT"]
    # sqlglot reads other dialects' names into its own (DuckDB's arg_max becomes MAX_BY), so
    # the names are taken from the text as written as well as from the parsed calls.
    unquoted = re.sub(r"'(?:[^']|'')*'", "''", sql)
    written = {m.group(1).upper() for m in CALL_IN_TEXT.finditer(unquoted)}
    parsed = {function_name(node) for node in statements[0].find_all(exp.Func)}
    for name in sorted((written | parsed) - {None} - TRINO_FUNCTIONS):
        problems.append(f"{path.name}: calls {name}, which is not in the Trino allow-list")
    if "?" in re.sub(r"'(?:[^']|'')*'", "", sql):
        problems.append(f"{path.name}: a parameter is left unbound")
    return problems


def main() -> int:
    folder = pathlib.Path(sys.argv[1])
    files = sorted(folder.glob("*.sql"))
    if not files:
        print(f"no .sql files in {folder}", file=sys.stderr)
        return 1
    problems = [p for f in files for p in check(f)]
    for p in problems:
        print(p, file=sys.stderr)
    print(f"athena sql: {len(files)} statements checked as Trino, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
