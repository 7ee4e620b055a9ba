//! The pipeline's own CloudWatch metrics: one home for their names, read by the planner (which
//! writes them as embedded metric format lines in its log), the truck app (which publishes its
//! own on the AWS backend) and the stack's dashboard.
//!
//! Each stack has its own namespace, [`namespace`]`(stack)`, so two stacks in one account do not
//! mix, and no dimension is needed.

/// The prefix of every stack's namespace.
pub const NAMESPACE_PREFIX: &str = "StoreInventory/";

/// The namespace of a stack's metrics: `StoreInventory/<stack>`.
pub fn namespace(stack: &str) -> String {
    format!("{NAMESPACE_PREFIX}{stack}")
}

/// A metric: its name and CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The metric's name.
    pub name: &'static str,
    /// Its CloudWatch unit (`Count`, `Bytes`, `Milliseconds`).
    pub unit: &'static str,
}

/// Readings a planning run scanned.
pub const READINGS_SCANNED: Metric = Metric {
    name: "ReadingsScanned",
    unit: "Count",
};
/// Bytes the planning query's engine read.
pub const BYTES_SCANNED: Metric = Metric {
    name: "BytesScanned",
    unit: "Bytes",
};
/// Alerts a run sent.
pub const ALERTS_SENT: Metric = Metric {
    name: "AlertsSent",
    unit: "Count",
};
/// Low readings a run found already answered.
pub const ALERTS_SUPPRESSED: Metric = Metric {
    name: "AlertsSuppressed",
    unit: "Count",
};
/// The planning query's time (fold and plan).
pub const QUERY_MILLISECONDS: Metric = Metric {
    name: "QueryMilliseconds",
    unit: "Milliseconds",
};
/// Reading the ledger and deciding.
pub const DECIDE_MILLISECONDS: Metric = Metric {
    name: "DecideMilliseconds",
    unit: "Milliseconds",
};
/// Sending the alerts and recording them.
pub const SEND_MILLISECONDS: Metric = Metric {
    name: "SendMilliseconds",
    unit: "Milliseconds",
};

/// Every metric of a planning run, in the order its line lists them.
pub const PLANNER_METRICS: [Metric; 7] = [
    READINGS_SCANNED,
    BYTES_SCANNED,
    ALERTS_SENT,
    ALERTS_SUPPRESSED,
    QUERY_MILLISECONDS,
    DECIDE_MILLISECONDS,
    SEND_MILLISECONDS,
];

/// Pieces the truck app dispatched.
pub const DISPATCHES: Metric = Metric {
    name: "Dispatches",
    unit: "Count",
};
/// Deliveries it recorded.
pub const DELIVERIES: Metric = Metric {
    name: "Deliveries",
    unit: "Count",
};
/// Orders open after its step.
pub const OPEN_ORDERS: Metric = Metric {
    name: "OpenOrders",
    unit: "Count",
};
/// Messages it moved to the dead-letter queue.
pub const DEAD_LETTERED: Metric = Metric {
    name: "DeadLettered",
    unit: "Count",
};
/// Orders it closed with a reason.
pub const ORDERS_CLOSED: Metric = Metric {
    name: "OrdersClosed",
    unit: "Count",
};

/// Every metric the truck app publishes.
pub const TRUCK_METRICS: [Metric; 5] = [
    DISPATCHES,
    DELIVERIES,
    OPEN_ORDERS,
    DEAD_LETTERED,
    ORDERS_CLOSED,
];

/// One CloudWatch embedded metric format line (a JSON object, no newline) of `values` in
/// `namespace` at `timestamp_ms`: what Lambda's log capture turns into metrics, with no API
/// call and no permission beyond writing the function's own log.
pub fn emf_line(namespace: &str, timestamp_ms: i64, values: &[(Metric, f64)]) -> String {
    let mut root = serde_json::Map::new();
    let metrics: Vec<serde_json::Value> = values
        .iter()
        .map(|(m, _)| serde_json::json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    root.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": metrics,
            }],
        }),
    );
    for (m, v) in values {
        root.insert(m.name.into(), serde_json::json!(v));
    }
    serde_json::Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_every_value_it_carries() {
        let line = emf_line(
            &namespace("store-inventory"),
            1_764_000_000_000,
            &[(READINGS_SCANNED, 600.0), (SEND_MILLISECONDS, 12.5)],
        );
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let spec = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "StoreInventory/store-inventory");
        assert_eq!(v["_aws"]["Timestamp"], 1_764_000_000_000_i64);
        for m in spec["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name} has no value");
        }
        assert_eq!(v["ReadingsScanned"], 600.0);
        // The specification allows at most 100 metrics per directive and 30 dimensions.
        assert!(PLANNER_METRICS.len() <= 100);
    }
}
