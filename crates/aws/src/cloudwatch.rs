//! The truck app's metrics on AWS: one `PutMetricData` call per step, in the stack's own
//! namespace (the only one its permission allows).

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{MetricDatum, StandardUnit};
use store_model::metrics::Metric;
use store_model::ports::{MetricsPublisher, PortError};

use crate::errors::{Permanent, sdk_error};

/// What CloudWatch answers when retrying cannot help.
const PERMANENT: Permanent = Permanent {
    codes: &[
        "AccessDenied",
        "AccessDeniedException",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "MissingParameter",
    ],
    statuses: &[400, 403],
};

pub use aws_sdk_cloudwatch::Client;

/// The most values one `PutMetricData` call takes.
const VALUES_PER_CALL: usize = 1000;

/// Publishes metrics to CloudWatch under one namespace.
#[derive(Debug, Clone)]
pub struct CloudWatchMetrics {
    client: aws_sdk_cloudwatch::Client,
    namespace: String,
}

impl CloudWatchMetrics {
    /// A publisher into `namespace` (`StoreInventory/<stack>`).
    pub fn new(client: aws_sdk_cloudwatch::Client, namespace: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
        }
    }
}

#[async_trait]
impl MetricsPublisher for CloudWatchMetrics {
    async fn publish(&self, values: &[(Metric, f64)]) -> Result<(), PortError> {
        let now = aws_sdk_cloudwatch::primitives::DateTime::from(std::time::SystemTime::now());
        for chunk in values.chunks(VALUES_PER_CALL) {
            let data: Vec<MetricDatum> = chunk
                .iter()
                .map(|(m, v)| {
                    MetricDatum::builder()
                        .metric_name(m.name)
                        .unit(StandardUnit::from(m.unit))
                        .value(*v)
                        .timestamp(now)
                        .build()
                })
                .collect();
            self.client
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(data))
                .send()
                .await
                .map_err(|e| sdk_error("publish metrics", e, &PERMANENT))?;
        }
        Ok(())
    }
}
