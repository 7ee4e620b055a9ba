//! The simulator end to end: a hand-computed run, determinism, conservation over a run with
//! noise and promotions, and the binary's files and errors.

use std::path::Path;
use std::process::Command;

use store_sim::scenario::{Scenario, policy_by_name};
use store_sim::{Kpis, run};
use tempfile::TempDir;

/// Two shelves at one store 10 km north of the depot, one truck: everything is known.
///
/// Each shelf holds 24 and starts full; its reorder point is 12; one shopper an hour, at half
/// past, day and night. The planner runs every 24 h; the truck drives at 10 km/h (1 h each
/// way, 10 min at the stop) and carries 100.
fn hand_scenario(dir: &Path) -> Scenario {
    std::fs::write(
        dir.join("stores.toml"),
        "[[store]]\nstore_id = \"STORE_1\"\nname = \"One\"\nlat = 10.08993203637245381\nlon = 106.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("fleet.toml"),
        "service_minutes = 10\nbatch_window_seconds = 0\n\n[[depot]]\ndepot_id = \"D\"\nname = \"Depot\"\nlat = 10.0\nlon = 106.0\n\n[[truck]]\ntruck_id = \"TRUCK_1\"\ncapacity = 100\nspeed_kmh = 10\ndepot_id = \"D\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("policy.toml"),
        "[default]\norder_up_to_factor = 2\ncase_pack = 1\nmin_order_qty = 1\nalert_expiry_hours = 24\n",
    )
    .unwrap();
    let text = r#"
[chain]
products = 2
days = 2
seed = 1
stores_file = "stores.toml"

[demand]
median_per_day = 24.0
spread = 0.0
dispersion = 0.0
noise = false
hour_profile = "flat"
open_hour = 0
close_hour = 24
promo_chance = 0.0
weekday_profile = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]

[shelves]
threshold_days_min = 0.5
threshold_days_max = 0.5
capacity_days = 1.0
min_threshold = 1
min_capacity = 1
initial = "full"

[planner]
every_hours = 24
policy = "policy.toml"

[fleet]
file = "fleet.toml"
"#;
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    Scenario::load(&path).unwrap()
}

async fn simulate(scenario: &Scenario, policy: &str) -> Kpis {
    let work = TempDir::new().unwrap();
    let p = policy_by_name(policy).unwrap();
    run(scenario, policy, p, work.path(), &|_, _| {})
        .await
        .unwrap()
        .kpis
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_computed_run_gives_exactly_its_numbers() {
    let dir = TempDir::new().unwrap();
    let scenario = hand_scenario(dir.path());
    let work = TempDir::new().unwrap();
    let policy = scenario.policy().unwrap();
    let k = run(&scenario, "hand", policy, work.path(), &|_, _| {})
        .await
        .unwrap()
        .kpis;
    let t = &k.totals;
    // Stock 24 at midnight falls by one an hour: the shopper at 23:30 takes the last unit. The
    // planner at 24:00 orders 24 (up to max_stock) for each shelf; the truck arrives at 25:00,
    // so the shopper at 24:30 finds nothing: 1.5 h empty and one sale lost per shelf.
    assert_eq!((t.demand_units, t.sold_units, t.lost_units), (96, 94, 2));
    assert_eq!(t.stockout_shelf_hours, 3.0);
    assert_eq!(t.stockout_share, 0.0313, "3 of 96 open shelf-hours");
    assert_eq!((t.lost_share, t.fill_rate), (0.0208, 0.9792));
    assert_eq!(
        (t.cycles, t.cycle_service_level, t.own_cycle_service_level),
        (2, 0.0, Some(0.0)),
        "both cycles, each ended by its shelf's own order, ran out"
    );
    // Hour-end stock per shelf: 23..0, then 24 after the delivery, then 23..1: 576 over 48 h.
    assert_eq!((t.avg_on_hand_units, t.avg_on_hand_per_shelf), (24.0, 12.0));
    assert_eq!(
        t.days_of_cover, 0.5106,
        "24 units on hand over 47 sold a day"
    );
    // The second planning run, at 48:00, finds 1 left and orders 23 each: its trip leaves as
    // the run ends, so its alerts are pending.
    assert_eq!((t.units_delivered, t.units_overflow), (48, 0));
    assert_eq!((t.trips, t.truck_km, t.km_per_unit), (2, 40.0, 0.8333));
    assert_eq!(t.truck_utilisation, 0.47, "(48 + 46) / (2 x 100)");
    assert_eq!(
        (t.planning_runs, t.alerts_sent, t.alerts_suppressed),
        (2, 4, 0)
    );
    assert_eq!(
        (
            t.alerts_delivered,
            t.alerts_pending,
            t.alerts_closed,
            t.alerts_dead_lettered
        ),
        (2, 2, 0, 0)
    );
    assert_eq!((t.lead_time_hours_p50, t.lead_time_hours_p95), (1.0, 1.0));
    assert_eq!(k.lead_time_hours_histogram[1], 2);
    assert_eq!(k.lead_time_hours_histogram.iter().sum::<u64>(), 2);
    let [d0, d1] = k.days.as_slice() else {
        panic!("two days: {:?}", k.days)
    };
    assert_eq!(d0.date, "2026-01-05");
    assert_eq!(
        (
            d0.demand_units,
            d0.lost_units,
            d0.stockout_shelf_hours,
            d0.avg_on_hand_units
        ),
        (48, 0, 1.0, 23.0)
    );
    assert_eq!((d0.units_delivered, d0.trips, d0.alerts_sent), (0, 0, 0));
    assert_eq!(
        (
            d1.demand_units,
            d1.lost_units,
            d1.stockout_shelf_hours,
            d1.avg_on_hand_units
        ),
        (48, 2, 2.0, 25.0)
    );
    assert_eq!(
        (d1.units_delivered, d1.trips, d1.truck_km, d1.alerts_sent),
        (48, 2, 40.0, 4)
    );
    assert_eq!(k.stores.len(), 1);
    assert_eq!(k.stores[0].stockout_hours_by_day, vec![1.0, 2.0]);
    assert_eq!(k.products.len(), 2);
    assert!(
        k.products
            .iter()
            .all(|p| p.lost_units == 1 && p.units_delivered == 24)
    );
}

fn small() -> Scenario {
    let mut s = Scenario::default();
    s.chain.stores = 4;
    s.chain.products = 6;
    s.chain.days = 3;
    s.chain.seed = 11;
    s.demand.promo_chance = 0.5;
    s.fleet.routing_rounds = 20;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_scenario_gives_the_same_kpis_byte_for_byte() {
    let s = small();
    let a = serde_json::to_string(&simulate(&s, "threshold").await).unwrap();
    let b = serde_json::to_string(&simulate(&s, "threshold").await).unwrap();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unit_and_alert_is_accounted_for_under_both_baselines() {
    let s = small();
    let seed = simulate(&s, "seed").await;
    let threshold = simulate(&s, "threshold").await;
    for k in [&seed, &threshold] {
        let t = &k.totals;
        assert_eq!(t.demand_units, t.sold_units + t.lost_units, "{}", k.policy);
        assert_eq!(
            t.alerts_sent,
            t.alerts_delivered + t.alerts_pending + t.alerts_closed,
            "{}",
            k.policy
        );
        assert!(t.alerts_sent > 0 && t.units_delivered > 0, "{t:?}");
        assert_eq!(
            t.alerts_joined,
            Some(0),
            "only the forecast rule joins deliveries"
        );
        assert_eq!(
            t.own_cycle_service_level,
            Some(t.cycle_service_level),
            "without joins, every cycle is ended by its shelf's own order"
        );
        let by_day: u64 = k.days.iter().map(|d| d.demand_units).sum();
        assert_eq!(by_day, t.demand_units);
        let by_store: u64 = k.stores.iter().map(|g| g.lost_units).sum();
        assert_eq!(by_store, t.lost_units);
        let trips: u64 = k.days.iter().map(|d| d.trips).sum();
        assert_eq!(trips, t.trips);
    }
    // The same shoppers under both.
    assert_eq!(seed.totals.demand_units, threshold.totals.demand_units);
    // The seed rule suppresses nothing: a low shelf is alerted on every run until it is filled.
    assert_eq!(seed.totals.alerts_suppressed, 0);
    assert!(seed.totals.alerts_sent >= threshold.totals.alerts_sent);
}

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_store-sim"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn compare_writes_one_kpi_object_per_policy_in_order_and_a_report() {
    let out = TempDir::new().unwrap();
    let dir = out.path().to_str().unwrap();
    let o = sim(&[
        "compare",
        "--policies",
        "threshold,seed",
        "--stores",
        "3",
        "--products",
        "4",
        "--days",
        "2",
        "--out",
        dir,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let runs: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(out.path().join("compare.json")).unwrap()).unwrap();
    let names: Vec<&str> = runs.iter().map(|k| k["policy"].as_str().unwrap()).collect();
    assert_eq!(names, ["threshold", "seed"]);
    let html = std::fs::read_to_string(out.path().join("compare.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script"));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("stock-out shelf-hours") && table.contains("km per unit"),
        "{table}"
    );
    // The data folders are removed with the run.
    let left: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    let svg = std::fs::read_to_string(out.path().join("stockouts.svg")).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert_eq!(svg.matches("<polyline").count(), 2, "one line per policy");
    // `report` draws them again from the JSON alone.
    let again = TempDir::new().unwrap();
    let o = sim(&[
        "report",
        "--from",
        out.path().join("compare.json").to_str().unwrap(),
        "--out",
        again.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(again.path().join("compare.html")).unwrap(),
        html
    );
}

#[test]
fn a_bad_scenario_file_is_named_with_its_key_and_reason() {
    let out = TempDir::new().unwrap();
    let file = out.path().join("bad.toml");
    std::fs::write(&file, "[planner]\nevery_hours = 0\n").unwrap();
    let o = sim(&[
        "run",
        "--scenario",
        file.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("every_hours"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
