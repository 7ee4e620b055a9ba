//! The text Athena runs: parameters as typed literals, the `UNLOAD` of a compaction, and every
//! statement with sample parameters bound, for review as Trino SQL.

use store_model::InventoryRequest;
use store_model::planning::{
    SqlParam, compaction_sql, folded_partition_params, incremental_planning_sql, rejected_rows_sql,
    replace_placeholders,
};
use store_model::snapshot::{Fold, snapshot_run, snapshot_run_prefix};
use uuid::Uuid;

/// An execution parameter: Athena substitutes it as a typed literal, so text is quoted (with
/// quotes doubled) and numbers are written plainly.
pub fn parameter_literal(p: &SqlParam) -> String {
    match p {
        SqlParam::Text(s) => format!("'{}'", s.replace('\'', "''")),
        SqlParam::Int(i) => i.to_string(),
    }
}

/// The `UNLOAD` of a compaction into a run's prefix. The target is built from the bucket name and
/// a generated run id, never from user input: UNLOAD takes no parameter for it, and refuses a
/// location holding data.
pub(super) fn unload_sql(select: &str, bucket: &str, run: &str) -> String {
    format!(
        "UNLOAD (\n{select}\n) TO 's3://{bucket}/{}' WITH (format = 'PARQUET', compression = 'SNAPPY')",
        snapshot_run_prefix(run)
    )
}

/// The `UNLOAD` of `fold` into `run`'s prefix of `bucket`, with its parameters: the compaction
/// SQL over the `readings` table and, when there is a `previous` run, the snapshot table as the
/// query source `snapshots` (its run the first parameter), then the fold's partitions and the
/// latest acceptable check time from `now`. What the Athena planner sends for a fold.
pub fn compaction_unload(
    readings: &str,
    snapshots: &str,
    previous: Option<&str>,
    fold: &Fold,
    bucket: &str,
    run: &str,
    now: i64,
) -> (String, Vec<SqlParam>) {
    let select = compaction_sql(
        readings,
        previous.map(|_| snapshots),
        fold.late.len(),
        fold.at(),
    );
    let params = previous
        .map(|p| SqlParam::Text(p.to_owned()))
        .into_iter()
        .chain(folded_partition_params(
            &fold.from,
            &fold.watermark,
            &fold.late,
            now,
        ))
        .collect();
    (unload_sql(&select, bucket, run), params)
}

/// `sql` with every `?` outside quotes replaced by its parameter, as Athena substitutes
/// execution parameters.
pub fn bind(sql: &str, params: &[SqlParam]) -> String {
    replace_placeholders(sql, |n| params.get(n).map(parameter_literal))
}

/// Every statement text this adapter sends to Athena, each with sample parameters bound as
/// Athena binds them: what `scripts/test.sh` parses as Trino SQL (`store-infra athena-sql`),
/// since the local AWS server runs none of it.
pub fn statements_for_review() -> Vec<(&'static str, String)> {
    let table = "\"readings\"";
    let snapshots = "(SELECT * FROM \"latest_snapshot\" WHERE run = ?) snapshot";
    let now = 1_764_000_000;
    let run = SqlParam::Text(snapshot_run(4, Uuid::nil()));
    let request = InventoryRequest::new(now, 24, Vec::new());
    let stores = InventoryRequest::new(now, 24, vec!["STORE_1".into(), "O'Brien's".into()]);
    let hours =
        |late: &[String]| folded_partition_params("2025-11-23-16", "2025-11-24-15", late, now);
    let late = ["2025-11-24-03".to_owned(), "2025-11-24-07".to_owned()];
    let previous_run = snapshot_run(4, Uuid::nil());
    let compaction = |previous: bool, late: &[String]| {
        let fold = Fold {
            generation: 5,
            from: "2025-11-23-16".to_owned(),
            watermark: "2025-11-24-15".to_owned(),
            covers_from: "2025-11-23-16".to_owned(),
            late: late.to_vec(),
        };
        compaction_unload(
            table,
            snapshots,
            previous.then_some(previous_run.as_str()),
            &fold,
            "lake-bucket",
            &snapshot_run(5, Uuid::nil()),
            now,
        )
    };
    let mut out = vec![
        ("planning", bind(&request.sql(table), &request.params())),
        (
            "planning-stores",
            bind(&stores.sql(table), &stores.params()),
        ),
    ];
    for (name, r) in [("incremental", &request), ("incremental-stores", &stores)] {
        let mut params = vec![run.clone()];
        params.extend(r.incremental_params("2025-11-24-15"));
        let sql = incremental_planning_sql(table, snapshots, r.store_ids.len());
        out.push((name, bind(&sql, &params)));
    }
    for (name, previous, late) in [
        ("compaction-first", false, &[][..]),
        ("compaction", true, &[][..]),
        ("compaction-late", true, &late[..]),
    ] {
        let (sql, params) = compaction(previous, late);
        out.push((name, bind(&sql, &params)));
    }
    out.push(("rejected", bind(&rejected_rows_sql(table, 0), &hours(&[]))));
    out.push((
        "rejected-late",
        bind(&rejected_rows_sql(table, late.len()), &hours(&late)),
    ));
    out
}
