//! The SQL text both engines run (Athena and the embedded engine), with every user value bound
//! to a `?` parameter.

use crate::lake::dt_partition;
use crate::reading::CLOCK_SKEW_SECONDS;

/// A value bound to a `?` parameter of the planning SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlParam {
    /// A string.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
}

/// What a planning query asks the engine for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRequest {
    /// Start of the window, epoch seconds (inclusive).
    pub window_start: i64,
    /// End of the window, epoch seconds (inclusive).
    pub window_end: i64,
    /// Only these stores, when non-empty.
    pub store_ids: Vec<String>,
    /// When the caller needs an answer (a Lambda invocation's deadline, less time to reply):
    /// work still running then is stopped, and the query fails as out of time.
    pub deadline: Option<std::time::Instant>,
    /// A viewer's question: the lake is read as it is and never changed (no object checked
    /// into quarantine, no snapshot folded or collected, no `UNLOAD`); the committed snapshot
    /// is used when it covers the window, with the hours after it read as they are.
    pub read_only: bool,
}

impl InventoryRequest {
    /// The window ending at `now` and reaching back `lookback_hours`.
    pub fn new(now: i64, lookback_hours: u32, store_ids: Vec<String>) -> Self {
        Self {
            window_start: now - i64::from(lookback_hours) * 3600,
            window_end: now,
            store_ids,
            deadline: None,
            read_only: false,
        }
    }

    /// The same request, answered without changing the lake (see [`Self::read_only`]).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The same request, to be answered by `deadline`.
    pub fn with_deadline(mut self, deadline: Option<std::time::Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The bound values of [`planning_sql`], in placeholder order.
    pub fn params(&self) -> Vec<SqlParam> {
        let mut params = vec![
            SqlParam::Text(dt_partition(self.window_start)),
            SqlParam::Int(self.window_start),
            SqlParam::Int(self.window_end),
        ];
        params.extend(self.store_ids.iter().cloned().map(SqlParam::Text));
        params
    }

    /// The planning SQL for this request.
    pub fn sql(&self, table: &str) -> String {
        planning_sql(table, self.store_ids.len())
    }
}

/// `sql` with each `?` placeholder outside quotes replaced by `replace(n)` (`n` counting from 0);
/// a `None` keeps the `?`. Each engine's binding is one closure over this.
pub fn replace_placeholders(sql: &str, mut replace: impl FnMut(usize) -> Option<String>) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let (mut n, mut quoted) = (0, false);
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                match replace(n) {
                    Some(value) => out.push_str(&value),
                    None => out.push(c),
                }
                n += 1;
            }
            _ => out.push(c),
        }
    }
    out
}

/// The one planning SQL, in the common subset of Athena (Trino) and DataFusion.
///
/// `?` placeholders carry every user-supplied value (window and store ids); nothing is spliced
/// into the text. The `dt >= ?` predicate prunes partitions (Athena partition projection, DataFusion
/// listing-table pruning); `check_timestamp` then bounds the event time. `max_by` picks, per store
/// and product, the columns of the reading with the greatest `row(event time, event id)`, which Trino has built in and DataFusion gets as a user-defined aggregate, so neither
/// engine has to sort the rows. Rows that break the contract's rules are left out here too, in
/// case a foreign writer put them in the lake.
pub fn planning_sql(table: &str, store_filter_len: usize) -> String {
    let stores = store_filter(store_filter_len);
    format!(
        "SELECT store_id, product_id,
{LATEST_AGGREGATES},
{WINDOW_AGGREGATES}
FROM (
{raw}
) latest_candidates
GROUP BY store_id, product_id
ORDER BY store_id, product_id",
        raw = raw_candidates(table, &stores, false)
    )
}

/// The raw readings of the window (from the `dt >= ?` partition on) that may be the latest.
/// With `forecast`, each row also carries the (empty) demand state columns.
fn raw_candidates(table: &str, stores: &str, forecast: bool) -> String {
    let extra = if forecast {
        format!(", {NO_FORECAST}")
    } else {
        String::new()
    };
    format!(
        "  SELECT {CANDIDATE_COLUMNS}{extra}
  FROM {table}
  WHERE dt >= ?
    AND check_timestamp >= ? AND check_timestamp <= ?
    AND {VALID_ROWS}{stores}"
    )
}

/// The latest reading's columns, by `ord` (event time, then the lower stock, then the event
/// id): one text for every planning and compaction query.
const LATEST_AGGREGATES: &str = "       max_by(product_name, ord) AS product_name,
       max_by(current_stock, ord) AS current_stock,
       max_by(threshold_level, ord) AS threshold_level,
       max_by(max_stock, ord) AS max_stock,
       max(check_timestamp) AS check_timestamp,
       max_by(event_id, ord) AS event_id";

/// The window's reading count and its first reading (for the sales velocity).
const WINDOW_AGGREGATES: &str = "       count(*) AS readings,
       min_by(current_stock, ord) AS first_stock,
       min(check_timestamp) AS first_timestamp";

/// The columns a planning query aggregates, with the orders of the latest and first reading.
const CANDIDATE_COLUMNS: &str = concat!(
    "store_id, product_id, product_name, current_stock, threshold_level, max_stock, \
     check_timestamp, event_id, ",
    ord!()
);

/// The order of readings, one text for every query: by event time, then the lower stock, then
/// the greater event id. Two readings of one second that disagree (two sensors, or one reading
/// sent twice with different stock under the same id) are decided by their content, never by
/// which arrived first: the lower stock wins, the cautious reading. Time and stock share the
/// key's integer part (`time * 2^31 + (2^31 - 1 - stock)`), exact while times are before 2106
/// (2^32 s), which every row reaching it is (the window and the fold bound them by the clock).
macro_rules! ord {
    () => {
        "row(check_timestamp * 2147483648 + (2147483647 - current_stock), coalesce(event_id, '')) AS ord"
    };
}
use ord;

/// The validity filters every planning SQL applies to raw readings (a foreign writer may have put
/// rows that break the contract in the lake, and Athena's JSON SerDe reads a malformed line as
/// nulls). `check_timestamp IS NOT NULL` is explicit even where a window bound on it would leave
/// such rows out: Trino refuses to compare the `row(check_timestamp, …)` key of a row whose time
/// is null, so one such row reaching `max_by` fails the whole query.
/// The earliest check time, [`crate::reading::EARLIEST_CHECK_TIMESTAMP`], is written out.
const VALID_ROWS: &str = "check_timestamp IS NOT NULL AND check_timestamp >= 946684800 \
AND store_id <> '' AND product_id <> '' AND current_stock >= 0 AND threshold_level >= 0";

/// What a fold keeps: valid rows no later than the fold's clock plus the allowed skew (the last
/// `?`), so a reading from the far future can never become a shelf's latest in the snapshot.
fn fold_valid_rows() -> String {
    format!("{VALID_ROWS} AND check_timestamp <= ?")
}

fn store_filter(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("\n    AND store_id IN ({})", vec!["?"; n].join(", "))
    }
}

/// The compaction SQL: folds the raw partitions `[?, ?)` and `late` more named ones (and the
/// previous snapshot, when there is one) into one row per store and product holding its latest
/// reading, the same `max_by` order as the planning SQL, and its demand state moved on to
/// `fold_at` (the watermark's hour start; see [`crate::forecast`] for the arithmetic, which
/// [`crate::forecast::DemandState::fold`] repeats in Rust).
///
/// Units sold at a reading are the drop from the reading before it (the previous snapshot's
/// latest counts as one): `lag` over the same order as `ord`. Only readings after the previous
/// snapshot's latest count, so a partition folded again (late objects) counts no sale twice,
/// and a late reading between two folded ones changes nothing (their drop already holds it).
/// An hour's units are the sum over its readings; its square is taken once, at its first row.
///
/// The windows run over one order, by shelf, then hour, then [`READING_ORDER`], with no
/// `PARTITION BY`: a shelf's rows are contiguous in it, `lag` is taken from the same shelf only,
/// and the snapshot's row precedes a reading when the running count of snapshot rows there
/// equals the shelf's (its peers' `RANGE` count). DataFusion keeps state per partition, which
/// for tens of thousands of shelves of two or three rows each cost several times the arithmetic.
/// The hour comes before the reading order, which it follows anyway (it is the check time's
/// hour), so one sort serves every window, the hour's sum over its peers included.
/// `fold_at` and the decay are numbers this code writes (the clock's hour and a constant),
/// never a user's value.
pub fn compaction_sql(table: &str, previous: Option<&str>, late: usize, fold_at: i64) -> String {
    let cols = CANDIDATE_COLUMNS;
    let previous = previous.map_or_else(String::new, |p| {
        format!(
            "  SELECT {cols}, CAST(0 AS BIGINT) AS folded, {FORECAST_COLUMNS} FROM {p}\n  WHERE check_timestamp IS NOT NULL\n  UNION ALL\n"
        )
    });
    let hours = folded_partitions(late);
    let decay = format!("{:?}", crate::forecast::HOURLY_DECAY);
    let t = fold_at;
    // The weight of an hour starting at `hour_start`: the decay to the power of the whole hours
    // between its end and `fold_at` (0 for an hour not yet closed).
    let weight = format!("power({decay}, greatest({t} - hour_start - 3600, 0) / 3600.0)");
    let carried = format!("power({decay}, greatest({t} - prev_at, 0) / 3600.0)");
    let by_shelf = format!("ORDER BY store_id, product_id, hour_start, {READING_ORDER}");
    // The row before is the same shelf's (the first row of a shelf has none).
    let same_shelf = format!(
        "lag(store_id) OVER ({by_shelf}) = store_id\n                   AND lag(product_id) OVER ({by_shelf}) = product_id"
    );
    format!(
        "SELECT store_id, product_id, product_name, current_stock, threshold_level, max_stock,
       check_timestamp, event_id, folded,
       CAST({t} AS BIGINT) AS fc_at,
       coalesce(prev_units * {carried}, 0) + new_units AS fc_units,
       coalesce(prev_squares * {carried}, 0) + new_squares AS fc_squares,
       coalesce(prev_hours * {carried}, 0)
         + (1 - power({decay}, floor(greatest({t} - coalesce(prev_at, first_hour), 0) / 3600.0))) / (1 - {decay}) AS fc_hours
FROM (
  SELECT store_id, product_id,
{LATEST_AGGREGATES},
         sum(folded) AS folded,
         max(fc_at) AS prev_at,
         max(fc_units) AS prev_units,
         max(fc_squares) AS prev_squares,
         max(fc_hours) AS prev_hours,
         min(hour_start) AS first_hour,
         sum(sold * {weight}) AS new_units,
         sum(CASE WHEN hour_first = 1 THEN hour_units * hour_units * {weight} ELSE 0 END) AS new_squares
  FROM (
    SELECT sales.*,
           sum(sold) OVER (ORDER BY store_id, product_id, hour_start
                           RANGE BETWEEN CURRENT ROW AND CURRENT ROW) AS hour_units
    FROM (
      SELECT keyed.*,
             CASE WHEN folded = 1
                   AND sum(1 - folded) OVER ({by_shelf} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                     = sum(1 - folded) OVER (ORDER BY store_id, product_id)
                   AND {same_shelf}
                  THEN coalesce(greatest(lag(current_stock) OVER ({by_shelf}) - current_stock, 0), 0)
                  ELSE 0 END AS sold,
             CASE WHEN {same_shelf}
                   AND lag(hour_start) OVER ({by_shelf}) = hour_start
                  THEN 0 ELSE 1 END AS hour_first
      FROM (
        SELECT folded_rows.*, check_timestamp / 3600 * 3600 AS hour_start
        FROM (
{previous}  SELECT {cols}, CAST(1 AS BIGINT) AS folded, {NO_FORECAST} FROM {table}
  WHERE {hours} AND {valid}
        ) folded_rows
      ) keyed
    ) sales
  ) hourly
  GROUP BY store_id, product_id
) folded",
        valid = fold_valid_rows(),
    )
}

/// The demand state's columns in the snapshot ([`crate::schema::SNAPSHOT_COLUMNS`]).
const FORECAST_COLUMNS: &str = "fc_at, fc_units, fc_squares, fc_hours";

/// The demand state's columns for a raw reading, which has none.
const NO_FORECAST: &str = "CAST(NULL AS BIGINT) AS fc_at, CAST(NULL AS DOUBLE) AS fc_units, \
CAST(NULL AS DOUBLE) AS fc_squares, CAST(NULL AS DOUBLE) AS fc_hours";

/// The order of `ord` as `ORDER BY` keys (a window's order cannot be a row on every engine).
const READING_ORDER: &str = "check_timestamp, current_stock DESC, coalesce(event_id, '')";

/// The raw partitions a fold reads: `[?, ?)`, and `late` partitions below it named one by one.
fn folded_partitions(late: usize) -> String {
    if late == 0 {
        "dt >= ? AND dt < ?".to_owned()
    } else {
        format!(
            "(dt >= ? AND dt < ? OR dt IN ({}))",
            vec!["?"; late].join(", ")
        )
    }
}

/// The bound values of [`compaction_sql`]'s raw partitions (after the previous run's, if any)
/// and of its latest acceptable check time, the fold's `now` plus [`CLOCK_SKEW_SECONDS`].
pub fn folded_partition_params(
    from: &str,
    watermark: &str,
    late: &[String],
    now: i64,
) -> Vec<SqlParam> {
    [from, watermark]
        .into_iter()
        .map(str::to_owned)
        .chain(late.iter().cloned())
        .map(SqlParam::Text)
        .chain([SqlParam::Int(now + CLOCK_SKEW_SECONDS)])
        .collect()
}

/// Counts the raw rows of the partitions [`compaction_sql`] folds that it leaves out as breaking
/// the contract (a null, implausibly old or future check time, an empty key, a negative
/// stock), so a fold reports what it
/// skipped. A comparison with a null is unknown, not false: `coalesce` makes such a row count as
/// rejected.
pub fn rejected_rows_sql(table: &str, late: usize) -> String {
    format!(
        "SELECT count(*) AS rejected FROM {table}
WHERE {} AND NOT coalesce({}, false)",
        folded_partitions(late),
        fold_valid_rows()
    )
}

/// The planning SQL over a snapshot and the raw partitions from its watermark on: the same
/// latest reading per store and product as [`planning_sql`] over the whole lake, reading only the
/// snapshot (one row per pair) and the new data.
///
/// Two figures differ from a full scan: `readings` counts the snapshot's row as one reading,
/// and the first reading of the window (for the sales velocity) is the earliest of the
/// snapshot's latest reading and the new readings, so the velocity covers the time since the
/// watermark.
pub fn incremental_planning_sql(table: &str, snapshot: &str, store_filter_len: usize) -> String {
    let stores = store_filter(store_filter_len);
    format!(
        "SELECT store_id, product_id,
{LATEST_AGGREGATES},
{WINDOW_AGGREGATES},
{FORECAST_AGGREGATES}
FROM (
  SELECT {CANDIDATE_COLUMNS}, {FORECAST_COLUMNS} FROM {snapshot}
  WHERE check_timestamp >= ? AND check_timestamp <= ?{stores}
  UNION ALL
{raw}
) latest_candidates
GROUP BY store_id, product_id
ORDER BY store_id, product_id",
        raw = raw_candidates(table, &stores, true)
    )
}

/// The snapshot row's demand state (the raw rows have none).
const FORECAST_AGGREGATES: &str = "       max(fc_at) AS fc_at,
       max(fc_units) AS fc_units,
       max(fc_squares) AS fc_squares,
       max(fc_hours) AS fc_hours";

impl InventoryRequest {
    /// The bound values of [`incremental_planning_sql`] for a snapshot up to `watermark`.
    pub fn incremental_params(&self, watermark: &str) -> Vec<SqlParam> {
        let stores = self.store_ids.iter().cloned().map(SqlParam::Text);
        let mut params = vec![
            SqlParam::Int(self.window_start),
            SqlParam::Int(self.window_end),
        ];
        params.extend(stores.clone());
        // The raw side never reaches back before the window either.
        let from = dt_partition(self.window_start).max(watermark.to_owned());
        params.extend([
            SqlParam::Text(from),
            SqlParam::Int(self.window_start),
            SqlParam::Int(self.window_end),
        ]);
        params.extend(stores);
        params
    }
}
