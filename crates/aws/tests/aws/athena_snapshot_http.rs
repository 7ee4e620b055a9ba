//! The Athena planner's snapshot flow over HTTP against the local server, which runs no SQL (so
//! `UNLOAD` writes nothing and results are empty) but keeps every execution's text and
//! parameters, and S3's conditional writes: what is compacted, committed, planned over, adopted
//! and collected.

use aws_sdk_s3::primitives::ByteStream;
use store_aws::{AthenaConfig, AthenaInventoryQuery, AwsClients, S3Objects, S3Snapshots};
use store_model::InventoryRequest;
use store_model::lake::dt_partition;
use store_model::ports::InventoryQuery;
use store_model::reading::CLOCK_SKEW_SECONDS;
use store_model::snapshot::{
    Refresh, SNAPSHOT_FORMAT, SNAPSHOT_TABLE, SnapshotCommit, snapshot_commit_key,
    snapshot_run_prefix, snapshot_watermark,
};

use crate::moto;

/// This test's own region: no preset results reach it, so every query returns no rows.
const REGION: &str = "eu-west-3";

/// The planner over `bucket`'s snapshots, in `workgroup`.
fn planner(c: &AwsClients, bucket: &str, workgroup: &str) -> AthenaInventoryQuery {
    AthenaInventoryQuery::new(
        c.athena.clone(),
        AthenaConfig {
            output_location: Some(format!("s3://{bucket}/athena-results/")),
            ..AthenaConfig::new(workgroup, "default", "readings")
        },
    )
    .with_snapshots(S3Snapshots::new(
        S3Objects::new(c.s3.clone(), bucket),
        SNAPSHOT_TABLE,
    ))
}

/// What Athena was asked in `workgroup`, oldest first: (SQL, parameters).
async fn executions(
    c: &AwsClients,
    workgroup: &str,
    seen: &mut Vec<String>,
) -> Vec<(String, Vec<String>)> {
    let ids = c
        .athena
        .list_query_executions()
        .work_group(workgroup)
        .send()
        .await
        .unwrap()
        .query_execution_ids()
        .to_vec();
    let mut out = Vec::new();
    let new: Vec<String> = ids.into_iter().filter(|id| !seen.contains(id)).collect();
    for id in new {
        let e = c
            .athena
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap();
        let e = e.query_execution().unwrap();
        out.push((
            e.query().unwrap().to_owned(),
            e.execution_parameters().to_vec(),
        ));
        seen.push(id);
    }
    out
}

async fn commit(c: &AwsClients, bucket: &str, generation: u64) -> SnapshotCommit {
    let key = snapshot_commit_key(generation);
    let body = moto::objects(c, bucket, &key).await;
    assert_eq!(body.len(), 1, "{key} exists");
    serde_json::from_slice(&body[0].1).unwrap()
}

fn quoted(s: &str) -> String {
    format!("'{s}'")
}

#[tokio::test]
async fn the_athena_planner_compacts_closed_hours_once_and_plans_over_the_committed_run() {
    let c = AwsClients::new(&moto::sdk_in(REGION).await);
    let bucket = moto::bucket_in(&c, REGION, "lake").await;
    let workgroup = moto::workgroup(&c).await;
    let query = planner(&c, &bucket, &workgroup);
    let mut seen = Vec::new();
    let now = 1_764_000_000;
    let request = |now: i64| InventoryRequest::new(now, 6, vec!["STORE_4".into()]);

    // First run: fold the window's closed hours into generation 1, commit it, plan over it.
    query.latest_readings(&request(now)).await.unwrap();
    let asked = executions(&c, &workgroup, &mut seen).await;
    assert_eq!(asked.len(), 3, "{asked:#?}");
    let first = commit(&c, &bucket, 1).await;
    let (unload, unload_params) = &asked[0];
    assert!(unload.starts_with("UNLOAD ("), "{unload}");
    assert!(
        unload.ends_with(&format!(
            "TO 's3://{bucket}/{}' WITH (format = 'PARQUET', compression = 'SNAPPY')",
            snapshot_run_prefix(&first.run)
        )),
        "{unload}"
    );
    assert!(
        !unload.contains("latest_snapshot"),
        "nothing to fold in yet: {unload}"
    );
    let window_dt = dt_partition(now - 6 * 3600);
    assert_eq!(
        unload_params,
        &[
            quoted(&window_dt),
            quoted(&snapshot_watermark(now)),
            (now + CLOCK_SKEW_SECONDS).to_string()
        ],
        "the hours, and no check time past the clock and its skew"
    );
    assert_eq!(
        (
            first.generation,
            first.watermark.as_str(),
            first.covers_from.as_str()
        ),
        (1, snapshot_watermark(now).as_str(), window_dt.as_str())
    );
    // The fold counts the rows it leaves out, over the same hours.
    let (count, count_params) = &asked[1];
    assert!(
        count.starts_with("SELECT count(*) AS rejected FROM \"readings\""),
        "{count}"
    );
    assert!(
        count.contains("NOT coalesce(check_timestamp IS NOT NULL"),
        "{count}"
    );
    assert_eq!(count_params, unload_params);
    assert!(
        unload.contains("WHERE dt >= ? AND dt < ? AND check_timestamp IS NOT NULL"),
        "the compaction leaves rows without a time out: {unload}"
    );
    let (select, params) = &asked[2];
    assert!(
        select.starts_with("SELECT") && select.contains("\"latest_snapshot\" WHERE run = ?"),
        "{select}"
    );
    assert_eq!(
        params[0],
        quoted(&first.run),
        "the query names the committed run"
    );
    assert!(params.contains(&quoted("STORE_4")));

    // Within the same hour: no compaction, the same run.
    query.latest_readings(&request(now + 60)).await.unwrap();
    let asked = executions(&c, &workgroup, &mut seen).await;
    assert_eq!(asked.len(), 1, "{asked:#?}");
    assert_eq!(asked[0].1[0], quoted(&first.run));

    // An hour later: generation 2 folds generation 1 and the newly closed hour only.
    let later = now + 3600;
    query.latest_readings(&request(later)).await.unwrap();
    let asked = executions(&c, &workgroup, &mut seen).await;
    let second = commit(&c, &bucket, 2).await;
    assert!(
        asked[0].0.starts_with("UNLOAD")
            && asked[0].0.contains("\"latest_snapshot\" WHERE run = ?")
    );
    assert_eq!(
        asked[0].1,
        [
            quoted(&first.run),
            quoted(&first.watermark),
            quoted(&snapshot_watermark(later)),
            (later + CLOCK_SKEW_SECONDS).to_string()
        ]
    );
    assert_eq!(asked[2].1[0], quoted(&second.run));

    // Two planners fold generation 3 at once: the other one commits first, so this one's commit
    // is refused, its data deleted, and the winner's generation returned.
    let snapshots = S3Snapshots::new(S3Objects::new(c.s3.clone(), &bucket), SNAPSHOT_TABLE);
    let generation_3 = |run: &str| SnapshotCommit {
        format: SNAPSHOT_FORMAT,
        generation: 3,
        watermark: snapshot_watermark(later + 3600),
        covers_from: second.covers_from.clone(),
        run: run.to_owned(),
        data_key: snapshot_run_prefix(run),
        data_bytes: 4,
        rows: None,
        folded_readings: None,
        created_at: later,
        seen: None,
    };
    let (winner, loser) = (
        generation_3("000000000003-the-other-planner"),
        generation_3("000000000003-this-planner"),
    );
    // Data of both runs, and of generation 1, which the next commit after this one collects.
    let stale = format!("{}part-0.parquet", snapshot_run_prefix(&first.run));
    let losers_data = format!("{}part-0.parquet", loser.data_key);
    for key in [
        &stale,
        &losers_data,
        &format!("{}part-0.parquet", winner.data_key),
    ] {
        c.s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from_static(b"PAR1"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        snapshots.commit(winner.clone()).await.unwrap(),
        (winner.clone(), Refresh::Committed)
    );
    assert_eq!(
        snapshots.commit(loser.clone()).await.unwrap(),
        (winner.clone(), Refresh::Adopted)
    );
    assert!(
        moto::objects(&c, &bucket, &losers_data).await.is_empty(),
        "the loser's data is deleted"
    );
    assert_eq!(snapshots.current().await.unwrap(), Some(winner.clone()));

    // The other planner's generation 3 already reaches this hour's watermark.
    query.latest_readings(&request(later + 3600)).await.unwrap();
    let asked = executions(&c, &workgroup, &mut seen).await;
    assert_eq!(
        asked.len(),
        1,
        "the winner's generation is current: {asked:#?}"
    );
    assert_eq!(asked[0].1[0], quoted(&winner.run));
    assert_eq!(commit(&c, &bucket, 3).await, winner);

    // Generation 4 is committed by this planner, and generation 1's data is collected.
    query.latest_readings(&request(later + 7200)).await.unwrap();
    let fourth = commit(&c, &bucket, 4).await;
    assert_eq!(fourth.covers_from, first.covers_from);
    assert!(
        moto::objects(&c, &bucket, &stale).await.is_empty(),
        "superseded data is deleted"
    );
    assert_eq!(
        moto::objects(&c, &bucket, "snapshots/latest/_commits/")
            .await
            .len(),
        4,
        "commit records stay"
    );
}

#[tokio::test]
async fn a_window_reaching_before_the_snapshot_scans_the_raw_readings() {
    let c = AwsClients::new(&moto::sdk_in(REGION).await);
    let bucket = moto::bucket_in(&c, REGION, "lake").await;
    let workgroup = moto::workgroup(&c).await;
    let query = planner(&c, &bucket, &workgroup);
    let mut seen = Vec::new();
    let now = 1_764_000_000;
    query
        .latest_readings(&InventoryRequest::new(now, 3, vec![]))
        .await
        .unwrap();
    let _ = executions(&c, &workgroup, &mut seen).await;
    // A 24-hour window starts before generation 1 covers: the whole window is read raw.
    let request = InventoryRequest::new(now, 24, vec![]);
    query.latest_readings(&request).await.unwrap();
    let asked = executions(&c, &workgroup, &mut seen).await;
    assert_eq!(asked.len(), 1, "{asked:#?}");
    assert!(!asked[0].0.contains("latest_snapshot"), "{}", asked[0].0);
    assert_eq!(
        asked[0].1,
        request
            .params()
            .iter()
            .map(store_aws::athena::parameter_literal)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_object_landing_in_a_folded_hour_is_folded_by_the_next_run() {
    let c = AwsClients::new(&moto::sdk_in(REGION).await);
    let bucket = moto::bucket_in(&c, REGION, "lake").await;
    let workgroup = moto::workgroup(&c).await;
    let query = planner(&c, &bucket, &workgroup);
    let mut seen = Vec::new();
    let now = 1_764_000_000;
    let request = |now: i64| InventoryRequest::new(now, 6, vec![]);
    let put = |key: String| {
        let c = c.clone();
        let bucket = bucket.clone();
        async move {
            c.s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(ByteStream::from_static(b"{}\n"))
                .send()
                .await
                .unwrap();
        }
    };
    let folded_hour = dt_partition(now - 2 * 3600);
    put(format!("readings/dt={folded_hour}/on-time.json")).await;
    query.latest_readings(&request(now)).await.unwrap();
    let first = commit(&c, &bucket, 1).await;
    let _ = executions(&c, &workgroup, &mut seen).await;

    // Nothing new: the next run in the hour only plans.
    query.latest_readings(&request(now + 30)).await.unwrap();
    assert_eq!(executions(&c, &workgroup, &mut seen).await.len(), 1);

    // Firehose delivers a retried object into the folded hour.
    put(format!("readings/dt={folded_hour}/late-retry.json")).await;
    query.latest_readings(&request(now + 60)).await.unwrap();
    let asked = executions(&c, &workgroup, &mut seen).await;
    let second = commit(&c, &bucket, 2).await;
    assert_eq!(second.watermark, first.watermark, "same watermark");
    let (unload, params) = &asked[0];
    assert!(
        unload.starts_with("UNLOAD") && unload.contains("dt < ? OR dt IN (?)"),
        "{unload}"
    );
    assert_eq!(
        params[1..],
        [
            quoted(&first.watermark),
            quoted(&first.watermark),
            quoted(&folded_hour),
            (now + 60 + CLOCK_SKEW_SECONDS).to_string()
        ],
        "no new hours, the late one again"
    );
    assert_eq!(
        asked.last().unwrap().1[0],
        quoted(&second.run),
        "plans over it"
    );
    query.latest_readings(&request(now + 90)).await.unwrap();
    assert_eq!(
        executions(&c, &workgroup, &mut seen).await.len(),
        1,
        "folded once"
    );
}
