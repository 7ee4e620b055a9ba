//! The planning query on Amazon Athena, over the Glue readings table.
//!
//! The one planning SQL ([`store_model::planning::planning_sql`]) is started in the configured
//! workgroup with every user value as an execution parameter, never spliced into the text. The
//! execution is polled with backoff (QUEUED counts as RUNNING); FAILED and CANCELLED are errors
//! carrying Athena's reason, and whether Athena says a retry can help. An overall timeout stops the
//! query. Every page of the results is read and each value typed; the query id and the bytes Athena
//! scanned (what it bills) come back with the readings.
//!
//! With the snapshot table configured ([`AthenaInventoryQuery::with_snapshots`]), a run first
//! folds the arrival hours closed since the last generation into a new one with `UNLOAD` (reading
//! only those hours and the previous generation), commits it, and then plans over the snapshot
//! and the open hours: what Athena scans, and bills, follows the new data, not the history.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_athena::Client;
use aws_sdk_athena::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{
    EncryptionConfiguration, EncryptionOption, QueryExecution, QueryExecutionContext,
    QueryExecutionState, ResultConfiguration, Row,
};
use store_model::lake::dt_partition;
use store_model::planning::{
    InventoryRequest, LatestReading, SqlParam, compaction_sql, folded_partition_params,
    incremental_planning_sql, rejected_rows_sql, replace_placeholders,
};
use store_model::ports::{ErrorKind, InventoryQuery, InventorySnapshot, PortError};
use store_model::snapshot::{
    Fold, SnapshotCommit, SnapshotWriter, Written, snapshot_covers, snapshot_run,
    snapshot_run_prefix,
};
use tracing::{info, instrument, warn};
use uuid::Uuid;

use crate::errors::{Permanent, sdk_error};
use crate::snapshot::S3Snapshots;

/// Where and how the planning query runs.
#[derive(Debug, Clone)]
pub struct AthenaConfig {
    /// The workgroup (its enforced settings win over the client's).
    pub workgroup: String,
    /// The Glue database.
    pub database: String,
    /// The readings table, a plain identifier.
    pub table: String,
    /// Result location, when the workgroup does not enforce one; outside every table's location.
    pub output_location: Option<String>,
    /// Longest the query may take, queueing included, before it is stopped.
    pub timeout: Duration,
    /// First wait between polls; doubles up to `max_poll`.
    pub first_poll: Duration,
    /// Longest wait between polls.
    pub max_poll: Duration,
}

impl AthenaConfig {
    /// Defaults for a workgroup, database and table.
    pub fn new(
        workgroup: impl Into<String>,
        database: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        Self {
            workgroup: workgroup.into(),
            database: database.into(),
            table: table.into(),
            output_location: None,
            timeout: Duration::from_secs(300),
            first_poll: Duration::from_millis(200),
            max_poll: Duration::from_secs(2),
        }
    }
}

/// The AWS [`InventoryQuery`].
#[derive(Debug, Clone)]
pub struct AthenaInventoryQuery {
    client: Client,
    config: AthenaConfig,
    snapshots: Option<S3Snapshots>,
}

const OPERATION: &str = "planning query";

/// Athena's errors that retrying cannot help.
const PERMANENT: Permanent = Permanent {
    codes: &[
        "InvalidRequestException",
        "ResourceNotFoundException",
        "AccessDeniedException",
    ],
    statuses: &[],
};

fn call_error<E>(e: SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    sdk_error(OPERATION, e, &PERMANENT)
}

/// An execution parameter: Athena substitutes it as a typed literal, so text is quoted (with
/// quotes doubled) and numbers are written plainly.
pub fn parameter_literal(p: &SqlParam) -> String {
    match p {
        SqlParam::Text(s) => format!("'{}'", s.replace('\'', "''")),
        SqlParam::Int(i) => i.to_string(),
    }
}

/// Columns of the planning SQL's result, in any order.
const COLUMNS: [&str; 11] = [
    "store_id",
    "product_id",
    "product_name",
    "current_stock",
    "threshold_level",
    "max_stock",
    "check_timestamp",
    "event_id",
    "readings",
    "first_stock",
    "first_timestamp",
];

/// Types rows of the planning SQL's result by column name.
pub struct ResultTyping {
    index: HashMap<String, usize>,
}

impl ResultTyping {
    /// Checks that the result has every planning column.
    pub fn new(column_names: &[String]) -> Result<Self, PortError> {
        let index: HashMap<String, usize> = column_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_ascii_lowercase(), i))
            .collect();
        if let Some(missing) = COLUMNS.iter().find(|c| !index.contains_key(**c)) {
            return Err(PortError::new(
                ErrorKind::Permanent,
                OPERATION,
                format!("the result lacks column `{missing}`"),
            ));
        }
        Ok(Self { index })
    }

    /// Whether a row is the header row Athena puts first in a SELECT's first page.
    pub fn is_header(&self, row: &Row) -> bool {
        COLUMNS.iter().all(|c| {
            row.data()
                .get(self.index[*c])
                .and_then(|d| d.var_char_value())
                .is_some_and(|v| v.eq_ignore_ascii_case(c))
        })
    }

    fn text<'r>(&self, row: &'r Row, column: &str) -> Option<&'r str> {
        row.data()
            .get(self.index[column])
            .and_then(|d| d.var_char_value())
    }

    fn int(&self, row: &Row, column: &str, n: usize) -> Result<Option<i64>, PortError> {
        self.text(row, column)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    PortError::new(
                        ErrorKind::Permanent,
                        OPERATION,
                        format!("row {n}: column `{column}` is {v:?}, not an integer"),
                    )
                })
            })
            .transpose()
    }

    fn required_int(&self, row: &Row, column: &str, n: usize) -> Result<i64, PortError> {
        self.int(row, column, n)?.ok_or_else(|| {
            PortError::new(
                ErrorKind::Permanent,
                OPERATION,
                format!("row {n}: column `{column}` is null"),
            )
        })
    }

    /// Types one data row.
    pub fn latest(&self, row: &Row, n: usize) -> Result<LatestReading, PortError> {
        let required_text = |column: &str| {
            self.text(row, column).map(str::to_owned).ok_or_else(|| {
                PortError::new(
                    ErrorKind::Permanent,
                    OPERATION,
                    format!("row {n}: column `{column}` is null"),
                )
            })
        };
        Ok(LatestReading {
            store_id: required_text("store_id")?,
            product_id: required_text("product_id")?,
            product_name: self
                .text(row, "product_name")
                .unwrap_or_default()
                .to_owned(),
            current_stock: self.required_int(row, "current_stock", n)?,
            threshold_level: self.required_int(row, "threshold_level", n)?,
            max_stock: self.int(row, "max_stock", n)?,
            check_timestamp: self.required_int(row, "check_timestamp", n)?,
            event_id: self
                .text(row, "event_id")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            readings: self.required_int(row, "readings", n)?.max(0) as u64,
            first_stock: self.required_int(row, "first_stock", n)?,
            first_timestamp: self.required_int(row, "first_timestamp", n)?,
        })
    }
}

impl AthenaInventoryQuery {
    /// A query in `config`'s workgroup through `client`.
    pub fn new(client: Client, config: AthenaConfig) -> Self {
        Self {
            client,
            config,
            snapshots: None,
        }
    }

    /// Plans incrementally over the compacted snapshot in `snapshots`.
    pub fn with_snapshots(mut self, snapshots: S3Snapshots) -> Self {
        self.snapshots = Some(snapshots);
        self
    }

    fn readings_table(&self) -> String {
        format!("\"{}\"", self.config.table)
    }

    /// Runs `sql` with `params` to its end: the execution id and what Athena reports of it.
    async fn execute(
        &self,
        sql: String,
        params: &[SqlParam],
        deadline: Option<std::time::Instant>,
    ) -> Result<(String, QueryExecution), PortError> {
        let id = self.start(sql, params).await?;
        let execution = self.wait(&id, deadline).await?;
        Ok((id, execution))
    }

    /// Brings the bucket's snapshot up to date (see [`store_model::snapshot::Snapshots::refresh`]): the generation to
    /// plan over, if any, and what this run's compaction scanned and left out.
    async fn refresh(
        &self,
        snapshots: &S3Snapshots,
        request: &InventoryRequest,
        window_dt: &str,
    ) -> Result<(Option<SnapshotCommit>, Folded), PortError> {
        let writer = UnloadWriter {
            query: self,
            snapshots,
            request,
        };
        let refreshed = snapshots
            .refresh(request.window_end, window_dt, &writer)
            .await?;
        Ok((refreshed.commit, refreshed.report))
    }

    /// Counts the rows of the folded hours that break the reading contract. What the fold left
    /// out is reported, not needed: a failed count is a warning, and counts as none.
    async fn count_rejected(
        &self,
        late: usize,
        hours: &[SqlParam],
        request: &InventoryRequest,
    ) -> Folded {
        let sql = rejected_rows_sql(&self.readings_table(), late);
        let (count_id, count) = match self.execute(sql, hours, request.deadline).await {
            Ok(done) => done,
            Err(e) => {
                warn!(error = %e, "could not count the rows the fold left out");
                return Folded::default();
            }
        };
        let rejected = self.count(&count_id).await.unwrap_or_else(|e| {
            warn!(query_id = %count_id, error = %e, "could not read the count of rejected rows");
            0
        });
        if rejected > 0 {
            warn!(query_id = %count_id, rejected, "rows breaking the reading contract (a null check time or key, a negative stock) were left out of the snapshot");
        }
        Folded {
            bytes_scanned: bytes_scanned(&count),
            rejected,
        }
    }

    /// The one number a `SELECT count(*)` returned (no row, as from a server that runs no SQL,
    /// counts as zero).
    async fn count(&self, id: &str) -> Result<u64, PortError> {
        let out = self
            .client
            .get_query_results()
            .query_execution_id(id)
            .send()
            .await
            .map_err(call_error)?;
        let rows = out.result_set().map(|s| s.rows()).unwrap_or_default();
        // The first row of a SELECT's first page is its header.
        let value = rows
            .iter()
            .filter_map(|r| r.data().first().and_then(|d| d.var_char_value()))
            .find(|v| v.chars().all(|c| c.is_ascii_digit()) && !v.is_empty());
        value.map_or(Ok(0), |v| {
            v.parse().map_err(|_| {
                PortError::new(
                    ErrorKind::Permanent,
                    OPERATION,
                    format!("query {id} counted {v:?}"),
                )
            })
        })
    }

    async fn start(&self, sql: String, params: &[SqlParam]) -> Result<String, PortError> {
        let params: Vec<String> = params.iter().map(parameter_literal).collect();
        let mut call = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.config.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .database(&self.config.database)
                    .build(),
            )
            .set_execution_parameters(Some(params));
        if let Some(output) = &self.config.output_location {
            call = call.result_configuration(
                ResultConfiguration::builder()
                    .output_location(output)
                    .encryption_configuration(
                        EncryptionConfiguration::builder()
                            .encryption_option(EncryptionOption::SseS3)
                            .build()
                            .map_err(|e| {
                                PortError::permanent(OPERATION, "bad encryption setting", e)
                            })?,
                    )
                    .build(),
            );
        }
        let out = call.send().await.map_err(call_error)?;
        out.query_execution_id().map(str::to_owned).ok_or_else(|| {
            PortError::new(
                ErrorKind::Permanent,
                OPERATION,
                "Athena returned no query execution id",
            )
        })
    }

    /// Polls until the execution ends, or stops it when the timeout, or the caller's deadline,
    /// passes first.
    async fn wait(
        &self,
        id: &str,
        caller_deadline: Option<std::time::Instant>,
    ) -> Result<QueryExecution, PortError> {
        let timeout = tokio::time::Instant::now() + self.config.timeout;
        let caller_deadline = caller_deadline
            .map(tokio::time::Instant::from_std)
            .filter(|d| *d < timeout);
        let deadline = caller_deadline.unwrap_or(timeout);
        let mut pause = self.config.first_poll;
        loop {
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(call_error)?;
            let execution = out.query_execution().cloned().ok_or_else(|| {
                PortError::new(
                    ErrorKind::Permanent,
                    OPERATION,
                    format!("query {id} has no execution"),
                )
            })?;
            let status = execution.status();
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => return Ok(execution),
                Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .unwrap_or("no reason given");
                    let error = status.and_then(|s| s.athena_error());
                    let retryable = error.is_some_and(|e| e.retryable());
                    let message = format!(
                        "query {id} {}: {reason}{}",
                        state.as_str(),
                        error
                            .and_then(|e| e.error_type())
                            .map(|t| format!(" (error type {t})"))
                            .unwrap_or_default()
                    );
                    return Err(if retryable {
                        PortError::new(ErrorKind::Transient, OPERATION, message)
                    } else {
                        PortError::new(ErrorKind::Permanent, OPERATION, message)
                    });
                }
                // QUEUED and RUNNING (and states this client does not know) mean: not yet.
                _ => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                if let Err(e) = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await
                {
                    warn!(query_id = id, error = %DisplayErrorContext(&e), "could not stop the query");
                }
                return Err(match caller_deadline {
                    Some(_) => PortError::new(
                        ErrorKind::OutOfTime,
                        OPERATION,
                        format!(
                            "query {id} was still running at the caller's deadline; it was stopped"
                        ),
                    ),
                    None => PortError::new(
                        ErrorKind::Transient,
                        OPERATION,
                        format!(
                            "query {id} did not finish within {:?}; it was stopped",
                            self.config.timeout
                        ),
                    ),
                });
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(self.config.max_poll);
        }
    }

    /// Reads every page of the results.
    async fn results(&self, id: &str) -> Result<Vec<LatestReading>, PortError> {
        let mut pages = self
            .client
            .get_query_results()
            .query_execution_id(id)
            .into_paginator()
            .send();
        let mut typing: Option<ResultTyping> = None;
        let mut out = Vec::new();
        let mut first_page = true;
        let mut n = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(call_error)?;
            let Some(set) = page.result_set() else {
                continue;
            };
            if typing.is_none() {
                let names: Vec<String> = set
                    .result_set_metadata()
                    .map(|m| m.column_info())
                    .unwrap_or_default()
                    .iter()
                    .map(|c| c.name().to_owned())
                    .collect();
                if names.is_empty() && set.rows().is_empty() {
                    continue;
                }
                typing = Some(ResultTyping::new(&names)?);
            }
            let typing = typing.as_ref().expect("set above");
            for (i, row) in set.rows().iter().enumerate() {
                if first_page && i == 0 && typing.is_header(row) {
                    continue;
                }
                n += 1;
                out.push(typing.latest(row, n)?);
            }
            first_page = false;
        }
        Ok(out)
    }
}

/// The `UNLOAD` of a compaction into a run's prefix. The target is built from the bucket name and
/// a generated run id, never from user input: UNLOAD takes no parameter for it, and refuses a
/// location holding data.
fn unload_sql(select: &str, bucket: &str, run: &str) -> String {
    format!(
        "UNLOAD (\n{select}\n) TO 's3://{bucket}/{}' WITH (format = 'PARQUET', compression = 'SNAPPY')",
        snapshot_run_prefix(run)
    )
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
    let compaction = |previous: bool, late: &[String]| {
        let select = compaction_sql(table, previous.then_some(snapshots), late.len());
        let mut params: Vec<SqlParam> = previous.then(|| run.clone()).into_iter().collect();
        params.extend(hours(late));
        (select, params)
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
        let (select, params) = compaction(previous, late);
        out.push((
            name,
            bind(
                &unload_sql(&select, "lake-bucket", &snapshot_run(5, Uuid::nil())),
                &params,
            ),
        ));
    }
    out.push(("rejected", bind(&rejected_rows_sql(table, 0), &hours(&[]))));
    out.push((
        "rejected-late",
        bind(&rejected_rows_sql(table, late.len()), &hours(&late)),
    ));
    out
}

/// Athena's side of a fold: an `UNLOAD` of the compaction SQL into the run's prefix, then a count
/// of the rows the fold left out.
struct UnloadWriter<'a> {
    query: &'a AthenaInventoryQuery,
    snapshots: &'a S3Snapshots,
    request: &'a InventoryRequest,
}

#[async_trait]
impl SnapshotWriter for UnloadWriter<'_> {
    type Report = Folded;

    async fn write(
        &self,
        fold: &Fold,
        run: &str,
        previous: Option<&SnapshotCommit>,
    ) -> Result<Written<Folded>, PortError> {
        let query = self.query;
        let source = previous.map(|_| self.snapshots.source());
        let select = compaction_sql(&query.readings_table(), source.as_deref(), fold.late.len());
        let sql = unload_sql(&select, self.snapshots.bucket(), run);
        let hours = folded_partition_params(
            &fold.from,
            &fold.watermark,
            &fold.late,
            self.request.window_end,
        );
        let mut params: Vec<SqlParam> = previous
            .iter()
            .map(|c| SqlParam::Text(c.run.clone()))
            .collect();
        params.extend(hours.iter().cloned());
        let (id, execution) = query.execute(sql, &params, self.request.deadline).await?;
        let mut folded = query
            .count_rejected(fold.late.len(), &hours, self.request)
            .await;
        folded.bytes_scanned += bytes_scanned(&execution);
        info!(query_id = %id, generation = fold.generation, bytes_scanned = folded.bytes_scanned, "snapshot compacted");
        Ok(Written {
            data_key: snapshot_run_prefix(run),
            rows: None,
            folded_readings: None,
            report: folded,
        })
    }
}

/// What a fold scanned and left out.
#[derive(Debug, Default, Clone, Copy)]
struct Folded {
    /// Bytes Athena scanned for the compaction and its count.
    bytes_scanned: u64,
    /// Rows of the folded hours that break the reading contract.
    rejected: u64,
}

/// The bytes Athena scanned for an execution (what it bills).
fn bytes_scanned(execution: &QueryExecution) -> u64 {
    execution
        .statistics()
        .and_then(|s| s.data_scanned_in_bytes())
        .unwrap_or(0)
        .max(0) as u64
}

#[async_trait]
impl InventoryQuery for AthenaInventoryQuery {
    #[instrument(skip_all, fields(window_start = request.window_start, stores = request.store_ids.len()), err)]
    async fn latest_readings(
        &self,
        request: &InventoryRequest,
    ) -> Result<InventorySnapshot, PortError> {
        let window_dt = dt_partition(request.window_start);
        let (commit, folded) = match &self.snapshots {
            Some(snapshots) => {
                let (commit, folded) = self.refresh(snapshots, request, &window_dt).await?;
                (commit.filter(|c| snapshot_covers(c, &window_dt)), folded)
            }
            None => (None, Folded::default()),
        };
        let (sql, params) = match (&commit, &self.snapshots) {
            (Some(c), Some(snapshots)) => {
                let mut params = vec![SqlParam::Text(c.run.clone())];
                params.extend(request.incremental_params(&c.watermark));
                let sql = incremental_planning_sql(
                    &self.readings_table(),
                    &snapshots.source(),
                    request.store_ids.len(),
                );
                (sql, params)
            }
            _ => (request.sql(&self.readings_table()), request.params()),
        };
        let (id, execution) = self.execute(sql, &params, request.deadline).await?;
        let latest = self.results(&id).await?;
        let bytes_scanned = bytes_scanned(&execution) + folded.bytes_scanned;
        let snapshot = InventorySnapshot {
            query_id: id,
            engine: "athena".into(),
            readings_scanned: latest.iter().map(|l| l.readings).sum(),
            bytes_scanned,
            malformed_skipped: folded.rejected,
            latest,
        };
        info!(
            query_id = %snapshot.query_id,
            snapshot = commit.as_ref().map(|c| c.generation),
            bytes_scanned,
            groups = snapshot.latest.len(),
            "planning query done"
        );
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_typed_literals_with_quotes_doubled() {
        assert_eq!(parameter_literal(&SqlParam::Int(-5)), "-5");
        assert_eq!(
            parameter_literal(&SqlParam::Text("O'Brien's store".into())),
            "'O''Brien''s store'"
        );
    }

    #[test]
    fn binding_fills_placeholders_outside_quotes_in_order() {
        let sql = "SELECT '?' FROM t WHERE a = ? AND b IN (?, ?)";
        let params = [
            SqlParam::Int(3),
            SqlParam::Text("x'y".into()),
            SqlParam::Text("z".into()),
        ];
        assert_eq!(
            bind(sql, &params),
            "SELECT '?' FROM t WHERE a = 3 AND b IN ('x''y', 'z')"
        );
    }

    #[test]
    fn every_reviewed_statement_has_all_its_parameters_bound() {
        for (name, sql) in statements_for_review() {
            let unquoted: String = sql.split('\'').step_by(2).collect();
            assert!(!unquoted.contains('?'), "{name}: {sql}");
        }
    }

    #[test]
    fn a_result_without_a_planning_column_is_refused() {
        let names: Vec<String> = COLUMNS[1..].iter().map(|c| c.to_string()).collect();
        let e = ResultTyping::new(&names).err().unwrap();
        assert!(e.to_string().contains("store_id"));
    }
}
