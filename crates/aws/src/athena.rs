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

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_athena::Client;
use aws_sdk_athena::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{
    EncryptionConfiguration, EncryptionOption, QueryExecution, QueryExecutionContext,
    QueryExecutionState, ResultConfiguration,
};
use store_model::lake::dt_partition;
use store_model::planning::{
    InventoryRequest, LatestReading, SqlParam, incremental_planning_sql, rejected_rows_sql,
};
use store_model::ports::{ErrorKind, InventoryQuery, InventorySnapshot, PortError};
use store_model::snapshot::{
    Fold, SnapshotCommit, SnapshotWriter, Written, snapshot_covers, snapshot_run_prefix,
};
use tracing::{info, instrument, warn};

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
            if let Some(done) = finished(id, execution) {
                return done;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(self.stop(id, caller_deadline.is_some()).await);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(self.config.max_poll);
        }
    }

    /// Stops a query that outlasted the caller's deadline (`by_caller`) or the timeout.
    async fn stop(&self, id: &str, by_caller: bool) -> PortError {
        if let Err(e) = self
            .client
            .stop_query_execution()
            .query_execution_id(id)
            .send()
            .await
        {
            warn!(query_id = id, error = %DisplayErrorContext(&e), "could not stop the query");
        }
        if by_caller {
            PortError::new(
                ErrorKind::OutOfTime,
                OPERATION,
                format!("query {id} was still running at the caller's deadline; it was stopped"),
            )
        } else {
            PortError::new(
                ErrorKind::Transient,
                OPERATION,
                format!(
                    "query {id} did not finish within {:?}; it was stopped",
                    self.config.timeout
                ),
            )
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

/// The end of an execution: success, or an error with Athena's reason and whether a retry can
/// help; `None` while it is QUEUED or RUNNING (or in a state this client does not know).
fn finished(id: &str, execution: QueryExecution) -> Option<Result<QueryExecution, PortError>> {
    let state = execution.status().and_then(|s| s.state()).cloned();
    match state {
        Some(QueryExecutionState::Succeeded) => Some(Ok(execution)),
        Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
            Some(Err(failure(id, &execution, &state)))
        }
        _ => None,
    }
}

/// A failed or cancelled execution as an error: Athena's reason, its error type, and whether
/// Athena says a retry can help.
fn failure(id: &str, execution: &QueryExecution, state: &QueryExecutionState) -> PortError {
    let status = execution.status();
    let reason = status
        .and_then(|s| s.state_change_reason())
        .unwrap_or("no reason given");
    let error = status.and_then(|s| s.athena_error());
    let message = format!(
        "query {id} {}: {reason}{}",
        state.as_str(),
        error
            .and_then(|e| e.error_type())
            .map(|t| format!(" (error type {t})"))
            .unwrap_or_default()
    );
    let kind = if error.is_some_and(|e| e.retryable()) {
        ErrorKind::Transient
    } else {
        ErrorKind::Permanent
    };
    PortError::new(kind, OPERATION, message)
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
        let (sql, params) = compaction_unload(
            &query.readings_table(),
            &self.snapshots.source(),
            previous.map(|c| c.run.as_str()),
            fold,
            self.snapshots.bucket(),
            run,
            self.request.window_end,
        );
        let (id, execution) = query.execute(sql, &params, self.request.deadline).await?;
        // The fold's partitions and check time: the parameters after the previous run's.
        let hours = &params[usize::from(previous.is_some())..];
        let mut folded = query
            .count_rejected(fold.late.len(), hours, self.request)
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
            // A viewer plans over the snapshot already committed: no UNLOAD, no collection.
            Some(snapshots) if request.read_only => (
                snapshots
                    .current()
                    .await?
                    .filter(|c| snapshot_covers(c, &window_dt)),
                Folded::default(),
            ),
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

mod results;
mod statements;
#[cfg(test)]
mod tests;

pub use results::ResultTyping;

pub use statements::{bind, compaction_unload, parameter_literal, statements_for_review};
