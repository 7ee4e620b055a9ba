//! The truck app's metrics publisher. The local AWS server's CloudWatch does not speak the Smithy
//! RPC v2 CBOR protocol the SDK now uses (its botocore, which checkov pins, predates it), so the
//! SDK client is given the service's answers here: what it sends is checked request by request.

use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataOutput;
use aws_sdk_cloudwatch::types::StandardUnit;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use store_aws::CloudWatchMetrics;
use store_model::metrics::{DELIVERIES, DISPATCHES, OPEN_ORDERS, TRUCK_METRICS, namespace};
use store_model::ports::{ErrorKind, MetricsPublisher};

type Sent = Arc<Mutex<Vec<(String, Vec<(String, StandardUnit, f64)>)>>>;

#[tokio::test]
async fn each_step_is_one_put_in_the_stack_namespace_with_names_units_and_values() {
    let sent: Sent = Arc::default();
    let log = sent.clone();
    let rule = mock!(aws_sdk_cloudwatch::Client::put_metric_data).then_compute_output(move |req| {
        let data = req
            .metric_data()
            .iter()
            .map(|d| {
                assert!(d.timestamp().is_some(), "each value is stamped");
                (
                    d.metric_name().unwrap_or_default().to_owned(),
                    d.unit().cloned().unwrap(),
                    d.value().unwrap(),
                )
            })
            .collect();
        log.lock()
            .unwrap()
            .push((req.namespace().unwrap_or_default().to_owned(), data));
        PutMetricDataOutput::builder().build()
    });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule]);
    let publisher = CloudWatchMetrics::new(client, namespace("store-inventory"));
    publisher
        .publish(&[(DISPATCHES, 7.0), (DELIVERIES, 3.0), (OPEN_ORDERS, 12.0)])
        .await
        .unwrap();
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "one call");
    assert_eq!(sent[0].0, "StoreInventory/store-inventory");
    assert_eq!(
        sent[0].1,
        vec![
            ("Dispatches".into(), StandardUnit::Count, 7.0),
            ("Deliveries".into(), StandardUnit::Count, 3.0),
            ("OpenOrders".into(), StandardUnit::Count, 12.0),
        ]
    );
    // Every unit the truck app uses is one CloudWatch knows.
    for m in TRUCK_METRICS {
        assert!(StandardUnit::values().contains(&m.unit), "{}", m.unit);
    }
}

#[tokio::test]
async fn a_refusal_of_the_namespace_is_a_permanent_error() {
    let rule = mock!(aws_sdk_cloudwatch::Client::put_metric_data).then_error(|| {
        aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataError::generic(
            aws_sdk_cloudwatch::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform cloudwatch:PutMetricData")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule]);
    let err = CloudWatchMetrics::new(client, "Elsewhere")
        .publish(&[(DISPATCHES, 1.0)])
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
}
