//! Athena's request flow over HTTP against the local server, which runs no SQL but returns preset
//! results (a first-in-first-out list per region) and writes them as CSV to the result location.

use store_aws::{AthenaConfig, AthenaInventoryQuery, AwsClients};
use store_model::InventoryRequest;
use store_model::ports::InventoryQuery;

use crate::moto;

/// This test's own region, so no other test takes its preset results.
const REGION: &str = "ap-southeast-1";

fn cells(values: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "Data": values
            .iter()
            .map(|v| if v.is_empty() { serde_json::json!({}) } else { serde_json::json!({"VarCharValue": v}) })
            .collect::<Vec<_>>()
    })
}

#[tokio::test]
async fn athena_runs_the_planning_query_with_parameters_and_types_the_results() {
    let c = AwsClients::new(&moto::sdk_in(REGION).await);
    let bucket = moto::bucket_in(&c, REGION, "athena-results").await;
    let workgroup = moto::workgroup(&c).await;
    let columns = [
        ("store_id", "varchar"),
        ("product_id", "varchar"),
        ("product_name", "varchar"),
        ("current_stock", "integer"),
        ("threshold_level", "integer"),
        ("max_stock", "integer"),
        ("check_timestamp", "bigint"),
        ("event_id", "varchar"),
        ("readings", "bigint"),
        ("first_stock", "integer"),
        ("first_timestamp", "bigint"),
    ];
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    moto::post_moto_api(
        "/moto-api/static/athena/query-results",
        &serde_json::json!({
            "region": REGION,
            "results": [{
                "rows": [
                    cells(&names),
                    cells(&["STORE_4", "PRD_7", "Bánh mì", "2", "10", "", "1763999000", "e-4", "12", "20", "1763990000"]),
                    cells(&["STORE_9", "PRD_1", "Cà phê sữa đá", "0", "5", "30", "1763999500", "", "3", "4", "1763999100"]),
                ],
                "column_info": columns
                    .iter()
                    .map(|(n, t)| serde_json::json!({"Name": n, "Label": n, "Type": t, "Nullable": "UNKNOWN"}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );

    // The server writes results only where the request says (it ignores workgroup settings).
    let query = AthenaInventoryQuery::new(
        c.athena.clone(),
        AthenaConfig {
            output_location: Some(format!("s3://{bucket}/athena-results/")),
            ..AthenaConfig::new(&workgroup, "default", "readings")
        },
    );
    let request = InventoryRequest::new(1_764_000_000, 6, vec!["STORE_4".into(), "O'Hara".into()]);
    let snapshot = query.latest_readings(&request).await.unwrap();

    let got: Vec<_> = snapshot
        .latest
        .iter()
        .map(|l| {
            (
                l.store_id.as_str(),
                l.product_name.as_str(),
                l.current_stock,
                l.max_stock,
                l.event_id.as_deref(),
                l.readings,
                (l.first_stock, l.first_timestamp),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "STORE_4",
                "Bánh mì",
                2,
                None,
                Some("e-4"),
                12,
                (20, 1_763_990_000)
            ),
            (
                "STORE_9",
                "Cà phê sữa đá",
                0,
                Some(30),
                None,
                3,
                (4, 1_763_999_100)
            ),
        ]
    );
    assert_eq!(snapshot.engine, "athena");
    assert_eq!(snapshot.readings_scanned, 15);

    // What Athena was asked: the SQL has placeholders only; the values travel as parameters.
    let execution = c
        .athena
        .get_query_execution()
        .query_execution_id(&snapshot.query_id)
        .send()
        .await
        .unwrap();
    let execution = execution.query_execution().unwrap();
    let sql = execution.query().unwrap();
    assert!(
        !sql.contains("STORE_4") && !sql.contains("O'Hara") && sql.contains('?'),
        "{sql}"
    );
    assert_eq!(
        execution.execution_parameters(),
        [
            "'2025-11-24-10'",
            "1763978400",
            "1764000000",
            "'STORE_4'",
            "'O''Hara'"
        ]
    );
    assert_eq!(execution.work_group(), Some(workgroup.as_str()));

    let results = moto::objects(&c, &bucket, "athena-results/").await;
    assert!(
        results
            .iter()
            .any(|(_, csv)| String::from_utf8_lossy(csv).contains("\"Cà phê sữa đá\"")),
        "the results land in the result location"
    );
}
