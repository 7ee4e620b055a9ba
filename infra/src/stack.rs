//! What the stack is made of, declared once: names, limits and the readings table. The
//! CloudFormation template and the SDK provisioning both read from here, so the two cannot drift.

use store_model::lake::{PARTITION_COLUMN, READINGS_PREFIX};
use store_model::schema::{READING_COLUMNS, SNAPSHOT_COLUMNS};
use store_model::snapshot::{SNAPSHOT_PARTITION_COLUMN, SNAPSHOTS_PREFIX};

/// The planner Lambda's timeout: room for a fold (the `UNLOAD` of the closed hours and its count)
/// and a plan, each an Athena query of seconds to a few minutes on a large lake. The handler works
/// to the invocation's deadline: what still runs then is stopped and reported, never left half
/// written.
pub const PLANNER_TIMEOUT_SECONDS: u32 = 300;
/// The alert queue's visibility timeout: six times the planner's timeout, as AWS advises for
/// queues that a function feeds or drains.
pub const ALERT_VISIBILITY_SECONDS: u32 = 6 * PLANNER_TIMEOUT_SECONDS;
// Checked when compiling: a change of the planner's timeout cannot leave the queue behind.
const _: () = assert!(ALERT_VISIBILITY_SECONDS >= 6 * PLANNER_TIMEOUT_SECONDS);
/// Receives after which an alert moves to the dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// How long the dead-letter queue keeps messages (the SQS maximum, 14 days).
pub const DEAD_LETTER_RETENTION_SECONDS: u32 = 14 * 24 * 3600;
/// Firehose buffering: size (MiB; 64 is the minimum with Parquet conversion) and interval.
pub const BUFFER_MIB: i32 = 64;
/// Firehose buffering interval, seconds.
pub const BUFFER_SECONDS: i32 = 60;
/// Athena refuses a query that would scan more than this.
pub const BYTES_SCANNED_CUTOFF: i64 = 1024 * 1024 * 1024;
/// Days Athena results are kept.
pub const QUERY_RESULTS_EXPIRY_DAYS: i32 = 7;
/// Days Firehose error objects are kept.
pub const ERROR_OBJECTS_EXPIRY_DAYS: i32 = 30;
/// Days replaced object versions are kept.
pub const NONCURRENT_VERSIONS_EXPIRY_DAYS: i32 = 30;
/// Days log events are kept.
pub const LOG_RETENTION_DAYS: i32 = 30;
/// Where Athena writes results: outside `readings/`, so results never become readings.
pub const QUERY_RESULTS_PREFIX: &str = "athena-results/";
/// Where Firehose writes records it could not deliver.
pub const ERRORS_PREFIX: &str = "errors/";
/// The readings prefix Firehose writes, partitioned by the arrival hour.
pub const READINGS_PREFIX_EXPRESSION: &str = "readings/dt=!{timestamp:yyyy-MM-dd-HH}/";
/// The error prefix, by error type and hour.
pub const ERRORS_PREFIX_EXPRESSION: &str =
    "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd-HH}/";
/// The readings table.
pub const READINGS_TABLE: &str = "readings";

/// The longest region name the bucket names are sized for (`ap-southeast-1` and its kind).
pub const LONGEST_REGION: usize = 14;
/// An account id's length.
const ACCOUNT_ID_LEN: usize = 12;

/// The names of one stack's resources, derived from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNames {
    /// The stack name, e.g. `store-inventory`.
    pub stack: String,
}

/// A derived name, its service's limit on length, and what it is.
pub struct NameLimit {
    /// The resource.
    pub what: &'static str,
    /// The name.
    pub name: String,
    /// The most characters the service accepts.
    pub limit: usize,
}

impl StackNames {
    /// Names for the stack `stack` (lowercase letters, digits and hyphens), refused when any
    /// name derived from it would pass its service's limit in an account of any region up to
    /// [`LONGEST_REGION`] characters.
    pub fn new(stack: &str) -> Result<Self, String> {
        let ok = !stack.is_empty()
            && stack.starts_with(|c: char| c.is_ascii_lowercase())
            && stack
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(format!(
                "stack name {stack:?} must start with a letter and hold only lowercase letters, digits and hyphens"
            ));
        }
        let names = Self {
            stack: stack.to_owned(),
        };
        names.check_limits(&"0".repeat(ACCOUNT_ID_LEN), &"r".repeat(LONGEST_REGION))?;
        Ok(names)
    }

    /// Every name the stack derives, for an account and region, with its service's limit.
    pub fn limits(&self, account: &str, region: &str) -> Vec<NameLimit> {
        let limit = |what, name, limit| NameLimit { what, name, limit };
        vec![
            limit("lake bucket", self.bucket(account, region), 63),
            limit("code bucket", self.code_bucket(account, region), 63),
            limit("alert queue", self.alert_queue(), 80),
            limit("dead-letter queue", self.dead_letter_queue(), 80),
            limit("delivery stream", self.delivery_stream(), 64),
            limit("planner function", self.planner_function(), 64),
            limit("Athena workgroup", self.workgroup(), 128),
            limit("Glue database", self.database(), 255),
            // CloudFormation names each role `<stack>-<logical id>-<12 characters>` and cuts
            // it to the limit itself; the stack name still has to leave room for the id.
            limit(
                "planner role",
                format!("{}-PlannerRole-XXXXXXXXXXXX", self.stack),
                64,
            ),
            limit(
                "delivery stream role",
                format!("{}-DeliveryStreamRole-XXXXXXXXXXXX", self.stack),
                64,
            ),
        ]
    }

    /// Refuses the stack name when a name derived from it passes its service's limit, naming
    /// the first such name, its length and the limit.
    pub fn check_limits(&self, account: &str, region: &str) -> Result<(), String> {
        match self
            .limits(account, region)
            .into_iter()
            .find(|n| n.name.chars().count() > n.limit)
        {
            None => Ok(()),
            Some(n) => Err(format!(
                "stack name {:?} is too long: its {} name {:?} would have {} characters, over the limit of {}",
                self.stack,
                n.what,
                n.name,
                n.name.chars().count(),
                n.limit
            )),
        }
    }

    /// The lake bucket, made unique by account and region.
    pub fn bucket(&self, account: &str, region: &str) -> String {
        format!("{}-lake-{account}-{region}", self.stack)
    }

    /// The bucket `scripts/deploy.sh` uploads the planner's zip to.
    pub fn code_bucket(&self, account: &str, region: &str) -> String {
        format!("{}-code-{account}-{region}", self.stack)
    }

    /// The delivery stream.
    pub fn delivery_stream(&self) -> String {
        format!("{}-readings", self.stack)
    }

    /// The alert queue.
    pub fn alert_queue(&self) -> String {
        format!("{}-alerts", self.stack)
    }

    /// The dead-letter queue.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}-alerts-dlq", self.stack)
    }

    /// The Glue database (Glue names take underscores, not hyphens).
    pub fn database(&self) -> String {
        self.stack.replace('-', "_")
    }

    /// The Athena workgroup.
    pub fn workgroup(&self) -> String {
        format!("{}-planning", self.stack)
    }

    /// The planner function.
    pub fn planner_function(&self) -> String {
        format!("{}-planner", self.stack)
    }
}

/// The readings table's columns as Glue declares them.
pub fn glue_columns() -> Vec<(&'static str, &'static str)> {
    READING_COLUMNS
        .iter()
        .map(|(name, ty)| (*name, ty.glue_name()))
        .collect()
}

/// The table parameters: JSON records, and partition projection on the hour, so no partition
/// is ever registered and Athena prunes by `dt` from the query alone.
pub fn table_parameters(bucket: &str) -> Vec<(String, String)> {
    let dt = PARTITION_COLUMN;
    [
        ("classification", "json".to_owned()),
        ("projection.enabled", "true".to_owned()),
        (&format!("projection.{dt}.type"), "date".to_owned()),
        (
            &format!("projection.{dt}.format"),
            "yyyy-MM-dd-HH".to_owned(),
        ),
        (
            &format!("projection.{dt}.range"),
            "2024-01-01-00,NOW".to_owned(),
        ),
        (&format!("projection.{dt}.interval"), "1".to_owned()),
        (
            &format!("projection.{dt}.interval.unit"),
            "HOURS".to_owned(),
        ),
        (
            "storage.location.template",
            format!("s3://{bucket}/{READINGS_PREFIX}{dt}=${{{dt}}}/"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The snapshot table's columns as Glue declares them.
pub fn snapshot_glue_columns() -> Vec<(&'static str, &'static str)> {
    SNAPSHOT_COLUMNS
        .iter()
        .map(|(name, ty)| (*name, ty.glue_name()))
        .collect()
}

/// The snapshot table's parameters: Parquet, and the `run` partition injected from each query's
/// `run = ?`, so a query reads exactly the committed run it names and no partition is registered.
pub fn snapshot_table_parameters(bucket: &str) -> Vec<(String, String)> {
    let run = SNAPSHOT_PARTITION_COLUMN;
    vec![
        ("classification".to_owned(), "parquet".to_owned()),
        ("projection.enabled".to_owned(), "true".to_owned()),
        (format!("projection.{run}.type"), "injected".to_owned()),
        (
            "storage.location.template".to_owned(),
            format!("s3://{bucket}/{SNAPSHOTS_PREFIX}{run}=${{{run}}}/"),
        ),
    ]
}

/// The JSON SerDe; a malformed line reads as nulls, which the planning SQL leaves out, instead of
/// failing the whole query (the object itself stays in the lake).
pub const JSON_SERDE: &str = "org.openx.data.jsonserde.JsonSerDe";
/// The input format of Parquet objects.
pub const PARQUET_INPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// The output format of Parquet objects.
pub const PARQUET_OUTPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
/// The Parquet SerDe.
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// The input format of text objects.
pub const TEXT_INPUT_FORMAT: &str = "org.apache.hadoop.mapred.TextInputFormat";
/// The output format of text objects.
pub const TEXT_OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_stack_name() {
        let n = StackNames::new("store-inventory").unwrap();
        assert_eq!(n.database(), "store_inventory");
        assert_eq!(
            n.bucket("123456789012", "ap-southeast-1"),
            "store-inventory-lake-123456789012-ap-southeast-1"
        );
        assert!(StackNames::new("Store").is_err());
        assert!(StackNames::new("a b").is_err());
    }

    #[test]
    fn a_stack_name_whose_bucket_would_pass_63_characters_is_refused() {
        let longest = "s".repeat(30);
        let names = StackNames::new(&longest).unwrap();
        for n in names.limits("123456789012", "ap-southeast-1") {
            assert!(
                n.name.len() <= n.limit,
                "{}: {} > {}",
                n.what,
                n.name,
                n.limit
            );
        }
        let e = StackNames::new(&"s".repeat(31)).unwrap_err();
        assert!(
            e.contains("lake bucket") && e.contains("limit of 63"),
            "{e}"
        );
        let e = StackNames::new(&"s".repeat(40)).unwrap_err();
        assert!(e.contains("73 characters, over the limit of 63"), "{e}");
        // A region longer than the sizing assumed is caught with the real names.
        assert!(
            names
                .check_limits("123456789012", "xx-southeast-100")
                .is_err()
        );
    }

    #[test]
    fn every_derived_name_is_checked_against_its_service_limit() {
        let names = StackNames::new("store-inventory").unwrap();
        let limits: Vec<(&str, usize)> = names
            .limits("123456789012", "ap-southeast-1")
            .iter()
            .map(|n| (n.what, n.limit))
            .collect();
        for (what, limit) in [
            ("lake bucket", 63),
            ("alert queue", 80),
            ("delivery stream", 64),
            ("planner function", 64),
            ("planner role", 64),
            ("Athena workgroup", 128),
        ] {
            assert!(limits.contains(&(what, limit)), "{what}");
        }
    }

    #[test]
    fn results_and_errors_live_outside_the_readings() {
        for prefix in [QUERY_RESULTS_PREFIX, ERRORS_PREFIX] {
            assert!(!prefix.starts_with(READINGS_PREFIX));
        }
        assert!(READINGS_PREFIX_EXPRESSION.starts_with(READINGS_PREFIX));
    }

    #[test]
    fn the_projection_template_points_at_the_readings_partitions() {
        let params = table_parameters("b");
        let template = params
            .iter()
            .find(|(k, _)| k == "storage.location.template")
            .unwrap();
        assert_eq!(template.1, "s3://b/readings/dt=${dt}/");
    }

    #[test]
    fn the_snapshot_template_is_where_a_run_writes() {
        let params = snapshot_table_parameters("b");
        let template = &params
            .iter()
            .find(|(k, _)| k == "storage.location.template")
            .unwrap()
            .1;
        let run = store_model::snapshot::snapshot_run(7, uuid::Uuid::nil());
        assert_eq!(
            template.replace("${run}", &run),
            format!(
                "s3://b/{}",
                store_model::snapshot::snapshot_run_prefix(&run)
            )
        );
    }
}
