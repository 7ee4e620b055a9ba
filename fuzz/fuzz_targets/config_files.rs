//! The fleet, stores and policy files from any text: a file or an error naming it. A fleet that
//! passes gives routes whose every time lies between departure and return, however extreme its
//! numbers (no saturated float, no wrapped clock).
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use store_model::config::ConfigFile;
use store_model::routing::{Demand, RoutingOptions, plan_routes};
use store_model::{Alert, Trip};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = store_model::Stores::from_toml(text, "stores.toml");
    let _ = store_model::planning::ReorderPolicy::from_toml(text, "policy.toml");
    let Ok(fleet) = store_model::Fleet::from_toml(text, "fleet.toml") else {
        return;
    };
    let stores = store_model::Stores::shipped();
    let alert = Alert {
        alert_id: "00000000-0000-4000-8000-000000000001".into(),
        store_id: "STORE_4".into(),
        product_id: "PRD_1".into(),
        product_name: "Rau".into(),
        alert: store_model::planning::ALERT_TEXT.into(),
        current_stock: 1,
        threshold_level: 10,
        projected_stock: 1,
        restock_qty: 50,
        reading_time: 1_763_999_000,
        planned_at: 1_764_000_000,
        query_id: "fuzz".into(),
        sales_per_hour: None,
        hours_to_stockout: None,
        explanation: None,
    };
    let demands = [Demand {
        demand_id: alert.alert_id.clone(),
        store_id: "STORE_4".into(),
        quantity: 50,
        dispatched_pieces: Vec::new(),
    }];
    let options = RoutingOptions {
        rounds: 2,
        ..RoutingOptions::default()
    };
    let plan = plan_routes(&fleet, &fleet.trucks, &stores, &demands, &options);
    let alerts: HashMap<&str, &Alert> = [(alert.alert_id.as_str(), &alert)].into();
    let departed = 1_764_000_000;
    for route in &plan.routes {
        let trip = Trip::for_route(route, 1, &alerts, departed, 1.0);
        assert!(trip.back_at >= departed);
        for d in &trip.dispatches {
            assert!(departed <= d.eta && d.eta <= trip.back_at);
        }
    }
});
