//! Routing benchmark instance and our solution, as JSON for `bench/ortools_vrp.py`.
//!
//! `cargo run --release -p store-model --example route_bench -- <stops> <seed> <capacity>`
//!
//! Generates `<stops>` stores around Ho Chi Minh City with skewed demands (1..=40 units, most
//! small), one depot at the centre and as many trucks of `<capacity>` as stops (so the fleet
//! never limits the answer), plans routes with [`plan_routes`], and prints the instance (the
//! great-circle distance matrix included) with our total distance and the median time of 15
//! runs.

use std::time::Instant;

use store_model::places::{Depot, Fleet, HO_CHI_MINH_CITY, Stores, Truck};
use store_model::random::SplitMix64;
use store_model::routing::{Demand, RoutingOptions, plan_routes};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (stops, seed, capacity) = (arg(0, 50) as usize, arg(1, 1), arg(2, 100) as i64);
    let stores = Stores::generate(stops, seed, HO_CHI_MINH_CITY, 12.0);
    let mut rng = SplitMix64::new(seed ^ 0xdead_beef);
    let demands: Vec<Demand> = stores
        .stores
        .iter()
        .enumerate()
        .map(|(i, s)| Demand {
            demand_id: format!("d{i}"),
            store_id: s.store_id.clone(),
            // Skewed: most stores need a little, a few need a lot.
            quantity: 1 + (39.0 * rng.unit().powi(2)).round() as i64,
            dispatched_pieces: Vec::new(),
        })
        .collect();
    let fleet = Fleet {
        service_minutes: 10.0,
        batch_window_seconds: 1,
        depots: vec![Depot {
            depot_id: "D".into(),
            name: "Depot".into(),
            lat: HO_CHI_MINH_CITY.lat,
            lon: HO_CHI_MINH_CITY.lon,
        }],
        trucks: (1..=stops)
            .map(|i| Truck {
                truck_id: format!("T{i}"),
                capacity,
                speed_kmh: 30.0,
                depot_id: "D".into(),
            })
            .collect(),
    };
    let options = RoutingOptions::default();
    let mut times = Vec::new();
    let mut plan = None;
    for _ in 0..15 {
        let started = Instant::now();
        let p = plan_routes(&fleet, &fleet.trucks, &stores, &demands, &options);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        plan = Some(p);
    }
    times.sort_by(f64::total_cmp);
    let plan = plan.expect("ran");
    assert!(plan.unassigned.is_empty(), "the fleet is large enough");
    let points: Vec<_> = std::iter::once(HO_CHI_MINH_CITY)
        .chain(stores.stores.iter().map(|s| s.point()))
        .collect();
    let matrix: Vec<Vec<f64>> = points
        .iter()
        .map(|a| points.iter().map(|b| a.km_to(*b)).collect())
        .collect();
    let out = serde_json::json!({
        "stops": stops,
        "seed": seed,
        "capacity": capacity,
        "demands": demands.iter().map(|d| d.quantity).collect::<Vec<_>>(),
        "matrix_km": matrix,
        "ours": {
            "km": plan.total_km(),
            "routes": plan.routes.len(),
            "median_ms": times[times.len() / 2],
            "max_ms": times[times.len() - 1],
        },
    });
    println!("{out}");
}
