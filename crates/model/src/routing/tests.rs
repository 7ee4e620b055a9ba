//! Routing tests: validity of every plan, splitting, and quality against savings alone.

use std::collections::HashMap;

use super::*;
use crate::config::ConfigFile;
use crate::places::{Depot, HO_CHI_MINH_CITY};
use crate::random::SplitMix64;

fn one_depot_fleet(trucks: usize, capacity: i64) -> Fleet {
    Fleet {
        service_minutes: 10.0,
        batch_window_seconds: 1,
        depots: vec![Depot {
            depot_id: "D".into(),
            name: "Depot".into(),
            lat: HO_CHI_MINH_CITY.lat,
            lon: HO_CHI_MINH_CITY.lon,
        }],
        trucks: (1..=trucks)
            .map(|i| Truck {
                truck_id: format!("T{i}"),
                capacity,
                speed_kmh: 30.0,
                depot_id: "D".into(),
            })
            .collect(),
    }
}

fn demands(stores: &Stores, seed: u64, max: i64) -> Vec<Demand> {
    let mut rng = SplitMix64::new(seed);
    stores
        .stores
        .iter()
        .enumerate()
        .map(|(i, s)| Demand {
            demand_id: format!("a{i}"),
            store_id: s.store_id.clone(),
            quantity: 1 + (rng.next_u64() % max as u64) as i64,
            dispatched_pieces: vec![],
        })
        .collect()
}

/// Every demand's units are served exactly once (or reported), no truck is over capacity,
/// and every route leaves from and returns to its truck's depot.
fn assert_valid(plan: &RoutePlan, fleet: &Fleet, stores: &Stores, demands: &[Demand]) {
    let mut served: HashMap<&str, i64> = HashMap::new();
    let mut piece_ids = std::collections::HashSet::new();
    for r in &plan.routes {
        let truck = fleet
            .trucks
            .iter()
            .find(|t| t.truck_id == r.truck_id)
            .unwrap();
        assert_eq!(truck.depot_id, r.depot_id);
        assert!(r.load <= truck.capacity, "{} over capacity", r.truck_id);
        assert_eq!(r.load, r.stops.iter().map(|s| s.load).sum::<i64>());
        let depot = fleet.depot(&r.depot_id).unwrap().point();
        let mut at = depot;
        let mut km = 0.0;
        for s in &r.stops {
            let p = stores.get(&s.store_id).unwrap().point();
            km += at.km_to(p);
            at = p;
            assert_eq!(s.load, s.pieces.iter().map(|x| x.quantity).sum::<i64>());
            for piece in &s.pieces {
                assert!(piece_ids.insert(piece.dispatch_id()), "piece served twice");
                *served.entry(piece.demand_id.as_str()).or_default() += piece.quantity;
            }
        }
        km += at.km_to(depot);
        assert!(
            (km - r.distance_km).abs() < 0.01,
            "the route ends at its depot"
        );
        assert!(
            r.stops
                .windows(2)
                .all(|w| w[0].arrive_after_s < w[1].arrive_after_s)
        );
    }
    for u in &plan.unassigned {
        *served.entry(u.demand_id.as_str()).or_default() += u.quantity;
    }
    for d in demands {
        assert_eq!(
            served.get(d.demand_id.as_str()),
            Some(&d.quantity),
            "{}",
            d.demand_id
        );
    }
}

#[test]
fn a_demand_larger_than_a_truck_is_split_into_near_equal_pieces() {
    let d = Demand {
        demand_id: "a".into(),
        store_id: "S".into(),
        quantity: 1001,
        dispatched_pieces: vec![],
    };
    let pieces = split_demand(&d, 400).unwrap();
    assert_eq!(
        pieces.iter().map(|p| p.quantity).collect::<Vec<_>>(),
        [334, 334, 333]
    );
    assert_eq!(pieces[1].dispatch_id(), "a~2of3");
    let whole = split_demand(&Demand { quantity: 400, ..d }, 400).unwrap();
    assert_eq!((whole.len(), whole[0].dispatch_id().as_str()), (1, "a"));
}

#[test]
fn a_dispatch_id_parses_back_to_its_piece_and_a_foreign_one_is_an_error() {
    for (k, n) in [(1, 1), (2, 3), (100, 100)] {
        let p = Piece {
            demand_id: "6f1c-a".into(),
            piece: k,
            pieces: n,
            quantity: 1,
        };
        assert_eq!(
            Piece::parse_dispatch_id(&p.dispatch_id()),
            Ok(("6f1c-a", k, n))
        );
    }
    for bad in [
        "a~", "a~xofy", "a~0of3", "a~4of3", "a~1of1", "~1of2", "a~01of2", "a~1of2x",
    ] {
        assert!(Piece::parse_dispatch_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_demand_past_the_piece_bound_is_refused_with_its_reason_not_cut() {
    let d = Demand {
        demand_id: "huge".into(),
        store_id: "STORE_4".into(),
        quantity: i64::from(i32::MAX),
        dispatched_pieces: vec![],
    };
    let err = split_demand(&d, 10).unwrap_err();
    assert!(err.contains("214748365 truckloads"), "{err}");
    assert_eq!(
        split_demand(
            &Demand {
                quantity: 100 * 10,
                ..d.clone()
            },
            10
        )
        .unwrap()
        .len(),
        100
    );
    // Routed with ordinary demands, it is left out with the reason; the others are routed.
    let fleet = one_depot_fleet(2, 10);
    let ordinary = Demand {
        demand_id: "ok".into(),
        store_id: "STORE_5".into(),
        quantity: 7,
        dispatched_pieces: vec![],
    };
    let plan = plan_routes(
        &fleet,
        &fleet.trucks,
        &Stores::shipped(),
        &[d, ordinary],
        &RoutingOptions::default(),
    );
    assert_eq!(plan.routes.len(), 1);
    assert_eq!(plan.routes[0].stops[0].pieces[0].demand_id, "ok");
    assert_eq!(plan.unassigned.len(), 1);
    assert!(
        plan.unassigned[0].reason.contains("at most 100"),
        "{:?}",
        plan.unassigned
    );
}

#[test]
fn pieces_dispatched_earlier_are_not_sent_again() {
    let fleet = one_depot_fleet(3, 100);
    let stores = Stores::shipped();
    let demands = vec![Demand {
        demand_id: "big".into(),
        store_id: "STORE_4".into(),
        quantity: 250,
        dispatched_pieces: vec![1, 3],
    }];
    let plan = plan_routes(
        &fleet,
        &fleet.trucks,
        &stores,
        &demands,
        &RoutingOptions::default(),
    );
    let pieces: Vec<String> = plan
        .routes
        .iter()
        .flat_map(|r| &r.stops)
        .flat_map(|s| &s.pieces)
        .map(Piece::dispatch_id)
        .collect();
    assert_eq!(pieces, ["big~2of3"]);
    // Cut to the fleet's biggest truck even when only smaller ones are free.
    let mut mixed = one_depot_fleet(2, 100);
    mixed.trucks[1].capacity = 50;
    let small_only = &mixed.trucks[1..];
    let plan = plan_routes(
        &mixed,
        small_only,
        &stores,
        &demands[..1],
        &RoutingOptions::default(),
    );
    assert!(plan.routes.is_empty());
    assert!(plan.unassigned.iter().all(|u| u.quantity == 83));
}

#[test]
fn shipped_fleet_routes_the_default_stores_validly() {
    let fleet = Fleet::shipped();
    let stores = Stores::shipped();
    let demands = demands(&stores, 1, 150);
    let plan = plan_routes(
        &fleet,
        &fleet.trucks,
        &stores,
        &demands,
        &RoutingOptions::default(),
    );
    assert_valid(&plan, &fleet, &stores, &demands);
    assert!(plan.unassigned.is_empty(), "{:?}", plan.unassigned);
}

#[test]
fn capacity_splitting_serves_a_store_with_several_truckloads() {
    let fleet = one_depot_fleet(4, 100);
    let stores = Stores::shipped();
    let demands = vec![
        Demand {
            demand_id: "big".into(),
            store_id: "STORE_4".into(),
            quantity: 250,
            dispatched_pieces: vec![],
        },
        Demand {
            demand_id: "small".into(),
            store_id: "STORE_4".into(),
            quantity: 30,
            dispatched_pieces: vec![],
        },
        Demand {
            demand_id: "other".into(),
            store_id: "STORE_9".into(),
            quantity: 40,
            dispatched_pieces: vec![],
        },
    ];
    let plan = plan_routes(
        &fleet,
        &fleet.trucks,
        &stores,
        &demands,
        &RoutingOptions::default(),
    );
    assert_valid(&plan, &fleet, &stores, &demands);
    assert!(plan.unassigned.is_empty());
    let visits_to_4 = plan
        .routes
        .iter()
        .flat_map(|r| &r.stops)
        .filter(|s| s.store_id == "STORE_4")
        .count();
    assert_eq!(
        visits_to_4, 4,
        "280 units at 100 a truck: pieces of 84, 83, 83 and 30"
    );
}

#[test]
fn work_beyond_the_fleet_or_without_a_location_is_reported_with_its_reason() {
    let fleet = one_depot_fleet(1, 100);
    let stores = Stores::shipped();
    let demands = vec![
        Demand {
            demand_id: "a".into(),
            store_id: "STORE_1".into(),
            quantity: 80,
            dispatched_pieces: vec![],
        },
        Demand {
            demand_id: "b".into(),
            store_id: "STORE_9".into(),
            quantity: 70,
            dispatched_pieces: vec![],
        },
        Demand {
            demand_id: "c".into(),
            store_id: "STORE_404".into(),
            quantity: 5,
            dispatched_pieces: vec![],
        },
    ];
    let plan = plan_routes(
        &fleet,
        &fleet.trucks,
        &stores,
        &demands,
        &RoutingOptions::default(),
    );
    assert_valid(&plan, &fleet, &stores, &demands);
    assert_eq!(plan.routes.len(), 1);
    let reasons: Vec<&str> = plan.unassigned.iter().map(|u| u.reason.as_str()).collect();
    assert_eq!(plan.unassigned.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("STORE_404")));
    assert!(reasons.iter().any(|r| r.contains("no free truck has room")));
    let none = plan_routes(
        &fleet,
        &[],
        &stores,
        &demands[..1],
        &RoutingOptions::default(),
    );
    assert_eq!(none.unassigned[0].reason, "no truck is free");
}

#[test]
fn generated_instances_are_routed_validly_and_better_than_savings_alone() {
    for (n, seed) in [(10, 1), (50, 2), (200, 3)] {
        let stores = Stores::generate(n, seed, HO_CHI_MINH_CITY, 12.0);
        let fleet = one_depot_fleet(n, 100);
        let demands = demands(&stores, seed, 40);
        let plan = plan_routes(
            &fleet,
            &fleet.trucks,
            &stores,
            &demands,
            &RoutingOptions::default(),
        );
        assert_valid(&plan, &fleet, &stores, &demands);
        assert!(plan.unassigned.is_empty());
        let savings_only = plan_routes(
            &fleet,
            &fleet.trucks,
            &stores,
            &demands,
            &RoutingOptions {
                rounds: 0,
                neighbours: 0,
                seed: 0,
            },
        );
        assert_valid(&savings_only, &fleet, &stores, &demands);
        assert!(plan.total_km() <= savings_only.total_km() + 1e-9);
        // Deterministic.
        let again = plan_routes(
            &fleet,
            &fleet.trucks,
            &stores,
            &demands,
            &RoutingOptions::default(),
        );
        assert_eq!(again, plan);
    }
}

#[test]
fn routes_leave_from_the_trucks_own_depots() {
    let fleet = Fleet::shipped();
    let stores = Stores::generate(40, 9, HO_CHI_MINH_CITY, 10.0);
    let demands = demands(&stores, 9, 30);
    let plan = plan_routes(
        &fleet,
        &fleet.trucks,
        &stores,
        &demands,
        &RoutingOptions::default(),
    );
    assert_valid(&plan, &fleet, &stores, &demands);
    let total: i64 = demands.iter().map(|d| d.quantity).sum();
    let routed: i64 = plan.routes.iter().map(|r| r.load).sum();
    assert_eq!(
        routed + plan.unassigned.iter().map(|u| u.quantity).sum::<i64>(),
        total
    );
    assert!(routed <= fleet.trucks.iter().map(|t| t.capacity).sum::<i64>());
}
