use super::*;
use store_model::contract::alert;
use store_model::planning::Delivered;
use store_model::{Alert, ConfigFile};

const NOW: i64 = 1_764_000_000;
const EXPIRY: i64 = 24 * 3600;

fn shelf(low: bool, at: i64) -> Shelf {
    Shelf {
        check_timestamp: at,
        low,
    }
}

fn status(alert_id_n: usize, planned_at: i64, delivered_at: Option<i64>) -> AlertStatus {
    AlertStatus {
        alert: alert(alert_id_n, planned_at),
        deliveries: delivered_at
            .map(|at| Delivered {
                delivered_at: at,
                quantity: 19,
            })
            .into_iter()
            .collect(),
    }
}

/// A planning run `query_id` at `planned_at` that read 10 readings and sent one alert.
fn run(query_id: &str, planned_at: i64) -> PlanningRun {
    PlanningRun {
        query_id: query_id.into(),
        engine: "datafusion".into(),
        planned_at,
        lookback_hours: 24,
        readings_scanned: 10,
        bytes_scanned: 100,
        malformed_skipped: 0,
        alerts_sent: 1,
        alerts_suppressed: 0,
        silent_stores: 0,
        unsendable: 0,
    }
}

fn places<'a>(fleet: &'a Fleet, stores: &'a Stores) -> Places<'a> {
    Places {
        fleet,
        stores,
        projection: Projection::of_places(fleet, stores),
        alert_expiry_seconds: EXPIRY,
    }
}

#[test]
fn a_shelf_goes_from_low_to_alerted_to_on_the_way_to_restocked() {
    let read = NOW - 600;
    let none = HashSet::new();
    assert_eq!(
        shelf_status(&shelf(false, read), &[], &none, NOW, EXPIRY),
        ShelfStatus::Ok
    );
    assert_eq!(
        shelf_status(&shelf(true, read), &[], &none, NOW, EXPIRY),
        ShelfStatus::Low
    );
    let sent = status(1, NOW - 300, None);
    assert_eq!(
        shelf_status(&shelf(true, read), &[&sent], &none, NOW, EXPIRY),
        ShelfStatus::Alerted
    );
    let dispatched: HashSet<&str> = [sent.alert.alert_id.as_str()].into();
    assert_eq!(
        shelf_status(&shelf(true, read), &[&sent], &dispatched, NOW, EXPIRY),
        ShelfStatus::OnTheWay
    );
    let delivered = status(1, NOW - 300, Some(NOW - 60));
    assert_eq!(
        shelf_status(&shelf(true, read), &[&delivered], &dispatched, NOW, EXPIRY),
        ShelfStatus::Restocked,
        "the delivery came after the reading, which does not show it yet"
    );
    assert_eq!(
        shelf_status(&shelf(false, NOW), &[&delivered], &dispatched, NOW, EXPIRY),
        ShelfStatus::Ok,
        "a reading after the delivery shows the shelf as it is"
    );
}

#[test]
fn a_low_reading_after_a_delivery_that_fell_short_is_low_again() {
    let delivered = status(1, NOW - 7200, Some(NOW - 3600));
    let dispatched: HashSet<&str> = [delivered.alert.alert_id.as_str()].into();
    assert_eq!(
        shelf_status(
            &shelf(true, NOW - 600),
            &[&delivered],
            &dispatched,
            NOW,
            EXPIRY
        ),
        ShelfStatus::Low
    );
    let expired = status(2, NOW - 2 * EXPIRY, None);
    assert_eq!(
        shelf_status(
            &shelf(true, NOW - 600),
            &[&expired],
            &HashSet::new(),
            NOW,
            EXPIRY
        ),
        ShelfStatus::Low,
        "an alert past its expiry no longer counts as on its way"
    );
}

fn dispatch_of(a: &Alert, truck: &str, stop: u32, eta: i64) -> Dispatch {
    Dispatch {
        dispatch_id: a.alert_id.clone(),
        alert_id: a.alert_id.clone(),
        store_id: a.store_id.clone(),
        product_id: a.product_id.clone(),
        product_name: a.product_name.clone(),
        quantity: a.restock_qty,
        truck_id: truck.into(),
        route_id: format!("{truck}@{}", NOW - 100),
        depot_id: "DEPOT_TAN_THUAN".into(),
        stop,
        leg_km: 2.0,
        route_km: 9.0,
        eta,
        truck_back_at: NOW + 1000,
        planned_at: a.planned_at,
        dispatched_at: NOW - 100,
    }
}

#[test]
fn the_view_colours_every_store_by_its_worst_shelf_and_lists_the_newest_events_first() {
    let (fleet, stores) = (Fleet::shipped(), Stores::shipped());
    let places = places(&fleet, &stores);
    // STORE_2: one shelf ok, one alerted and on a truck. STORE_3: one low shelf. STORE_4:
    // restocked after its reading. The other seven stores sent nothing.
    let on_truck = status(1, NOW - 300, None); // STORE_2, PRD_1
    let restocked = status(3, NOW - 900, Some(NOW - 50)); // STORE_4, PRD_3
    let key = |s: &str, p: &str| (s.to_owned(), p.to_owned());
    let shelves = Shelves {
        read_at: NOW,
        engine: "datafusion".into(),
        lookback_hours: 24,
        readings_scanned: 40,
        by_key: [
            (key("STORE_2", "PRD_0"), shelf(false, NOW - 600)),
            (key("STORE_2", "PRD_1"), shelf(true, NOW - 600)),
            (key("STORE_3", "PRD_2"), shelf(true, NOW - 600)),
            (key("STORE_4", "PRD_3"), shelf(true, NOW - 1000)),
        ]
        .into(),
    };
    let dispatches = vec![
        dispatch_of(&on_truck.alert, "TRUCK_1", 1, NOW + 200),
        dispatch_of(&restocked.alert, "TRUCK_2", 1, NOW - 50),
    ];
    let delivery = dispatches[1].delivered(NOW - 50);
    let seen = Observed {
        now: NOW,
        shelves: Some(shelves),
        alerts: vec![on_truck, restocked],
        deliveries: vec![delivery],
        dispatches,
        runs: Vec::new(),
        closures: Vec::new(),
        queue: Some(QueueDepth {
            visible: 3,
            in_flight: 1,
            dead: 2,
        }),
        problems: Vec::new(),
    };
    let v = view(&places, &seen, false);

    let by_id: HashMap<&str, ShelfStatus> =
        v.stores.iter().map(|s| (s.id.as_str(), s.status)).collect();
    assert_eq!(v.stores.len(), 10, "every store of the stores file");
    assert_eq!(by_id["STORE_2"], ShelfStatus::OnTheWay);
    assert_eq!(by_id["STORE_3"], ShelfStatus::Low);
    assert_eq!(by_id["STORE_4"], ShelfStatus::Restocked);
    assert_eq!(by_id["STORE_1"], ShelfStatus::Silent);
    let store_2 = &v.stores.iter().find(|s| s.id == "STORE_2").unwrap().shelves;
    assert_eq!(
        store_2,
        &BTreeMap::from([(ShelfStatus::Ok, 1), (ShelfStatus::OnTheWay, 1)])
    );
    assert_eq!(
        v.store_counts,
        BTreeMap::from([
            (ShelfStatus::Silent, 7),
            (ShelfStatus::Restocked, 1),
            (ShelfStatus::OnTheWay, 1),
            (ShelfStatus::Low, 1),
        ])
    );
    assert_eq!(
        v.queue,
        Some(QueueView {
            waiting: 3,
            in_flight: 1,
            dead_letters: 2
        })
    );

    // TRUCK_1 leaves its depot, stops at STORE_2 and comes back; its stop is not delivered.
    let truck_1 = v.trucks.iter().find(|t| t.id == "TRUCK_1").unwrap();
    let trip = truck_1.trip.as_ref().unwrap();
    let times: Vec<i64> = trip.waypoints.iter().map(|w| w.at).collect();
    assert_eq!(times, vec![NOW - 100, NOW + 200, NOW + 1000]);
    assert_eq!(trip.waypoints[1].store.as_deref(), Some("STORE_2"));
    assert!(!trip.waypoints[1].delivered);
    assert_eq!(trip.waypoints[0].store, None, "from its depot");
    assert_eq!(truck_1.depot, "Kho Tân Thuận (Quận 7)");
    let truck_2 = v.trucks.iter().find(|t| t.id == "TRUCK_2").unwrap();
    assert!(truck_2.trip.as_ref().unwrap().waypoints[1].delivered);

    let kinds: Vec<(&str, i64)> = v.feed.iter().map(|e| (e.kind, e.at)).collect();
    assert_eq!(
        kinds,
        vec![
            ("delivery", NOW - 50),
            ("dispatch", NOW - 100),
            ("dispatch", NOW - 100),
            ("alert", NOW - 300),
            ("alert", NOW - 900),
        ]
    );
}

#[test]
fn the_feed_keeps_the_newest_events_and_the_last_run_is_the_latest() {
    let (fleet, stores) = (Fleet::shipped(), Stores::shipped());
    let places = places(&fleet, &stores);
    let runs: Vec<PlanningRun> = (0..60)
        .map(|n| run(&format!("q{n}"), NOW - 60 + n))
        .collect();
    let seen = Observed {
        now: NOW,
        runs,
        ..Observed::default()
    };
    let v = view(&places, &seen, true);
    assert_eq!(v.feed.len(), FEED_LENGTH);
    assert_eq!(v.feed[0].at, NOW - 1);
    assert_eq!(
        v.last_run.as_ref().map(|r| r.query_id.as_str()),
        Some("q59")
    );
    assert!(v.allow_invoke);
    assert!(v.readings.is_none() && v.queue.is_none());
    assert!(v.stores.iter().all(|s| s.status == ShelfStatus::Silent));
}

#[test]
fn a_closed_order_is_in_the_feed_with_its_reason() {
    let (fleet, stores) = (Fleet::shipped(), Stores::shipped());
    let places = places(&fleet, &stores);
    let seen = Observed {
        now: NOW,
        closures: vec![store_model::ports::OrderClosure {
            alert_id: "a".into(),
            store_id: "STORE_GONE".into(),
            product_id: "PRD_1".into(),
            planned_at: NOW - 90_000,
            quantity: 12,
            undelivered: 12,
            closed_at: NOW - 5,
            reason: store_model::ports::CloseReason::StoreUnknown,
            detail: "store `STORE_GONE` is not in the store list".into(),
        }],
        ..Observed::default()
    };
    let v = view(&places, &seen, false);
    assert_eq!(v.feed.len(), 1);
    assert_eq!((v.feed[0].kind, v.feed[0].at), ("closed", NOW - 5));
    assert!(
        v.feed[0].text.contains("closed (store unknown)"),
        "{}",
        v.feed[0].text
    );
}

#[test]
fn an_alert_in_the_feed_says_why_it_was_sent() {
    let (fleet, stores) = (Fleet::shipped(), Stores::shipped());
    let places = places(&fleet, &stores);
    let mut a = alert(1, NOW - 60);
    a.current_stock = 4;
    a.projected_stock = 6;
    a.restock_qty = 30;
    a.explanation = Some(store_model::policy::OrderExplanation {
        rules: vec!["forecast".into()],
        order_up_to: 36,
        level_source: store_model::policy::LevelSource::Forecast,
        need: 30,
        min_order_qty: 1,
        case_pack: 1,
        quantity: 30,
        capped_at: None,
        forecast: Some(store_model::forecast::ForecastLevels {
            per_day: 8.0,
            error_per_day: 3.0,
            lead_time_hours: 2.5,
            lead_time_sd_hours: 1.0,
            review_hours: 1.0,
            service_level: 0.97,
            joined_share: 0.0,
            z: 1.88,
            protection_demand: 3.0,
            safety_stock: 2.6,
            reorder_point: 12,
            order_up_to: 36,
            cover_days: 3.0,
            can_order_point: 20,
        }),
        fallback: None,
    });
    let seen = Observed {
        now: NOW,
        alerts: vec![AlertStatus {
            alert: a,
            deliveries: Vec::new(),
        }],
        ..Observed::default()
    };
    let v = view(&places, &seen, false);
    assert_eq!(
        v.feed[0].text,
        "STORE_2 low on Sữa tươi (PRD_1): stock 4 + 2 on its way, below the reorder point 12; \
         forecast 8.00/day ± 3.00, lead time 2.5 h ± 1.0 + review 1.0 h, z 1.88 for 97%, \
         safety stock 2.6; 30 ordered, up to 36 (forecast)"
    );
}

#[test]
fn at_the_same_second_the_feed_shows_the_later_step_first() {
    let (fleet, stores) = (Fleet::shipped(), Stores::shipped());
    let places = places(&fleet, &stores);
    let at = NOW - 100;
    let sent = status(1, at, None);
    let dispatch = dispatch_of(&sent.alert, "TRUCK_1", 1, at);
    assert_eq!(dispatch.dispatched_at, at);
    let delivery = dispatch.delivered(at);
    let seen = Observed {
        now: NOW,
        runs: vec![run("q", at)],
        alerts: vec![sent],
        dispatches: vec![dispatch],
        deliveries: vec![delivery],
        ..Observed::default()
    };
    let kinds: Vec<&str> = view(&places, &seen, false)
        .feed
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["delivery", "dispatch", "alert", "plan"]);
}
