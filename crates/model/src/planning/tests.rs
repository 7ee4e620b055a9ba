//! Tests of the rules, the event checks and the SQL's parameters.

use super::*;

fn reading(store: &str, stock: i64, threshold: i64, ts: i64) -> LatestReading {
    LatestReading {
        store_id: store.into(),
        product_id: "PRD_5".into(),
        product_name: "Bánh mì".into(),
        current_stock: stock,
        threshold_level: threshold,
        max_stock: None,
        check_timestamp: ts,
        event_id: None,
        readings: 1,
        first_stock: stock,
        first_timestamp: ts,
        demand: None,
    }
}

fn ctx<'a>(policy: &'a ReorderPolicy, ledger: &'a [AlertStatus], now: i64) -> PlanContext<'a> {
    PlanContext {
        policy,
        ledger,
        now,
        query_id: "q-1",
        known_stores: &[],
    }
}

fn sent(alert: Alert, delivered_at: Option<i64>) -> AlertStatus {
    let deliveries = delivered_at
        .map(|at| Delivered {
            delivered_at: at,
            quantity: alert.restock_qty,
        })
        .into_iter()
        .collect();
    AlertStatus { alert, deliveries }
}

#[test]
fn low_reading_alerts_up_to_the_order_level() {
    let policy = ReorderPolicy::plain(2, 24);
    let d = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
    assert_eq!(d.alerts.len(), 1);
    let a = &d.alerts[0];
    assert_eq!(a.projected_stock, 3);
    assert_eq!(a.restock_qty, 17, "order up to 2 x threshold = 20");
    assert_eq!(a.alert, "Stock low");
    assert_eq!(
        a.human_line(),
        "⚠️ Store STORE_4 is low on 'Bánh mì'. Alerting delivery team."
    );
}

#[test]
fn at_the_reorder_point_is_not_low() {
    let policy = ReorderPolicy::plain(2, 24);
    let d = plan(&[reading("STORE_1", 10, 10, 100)], &ctx(&policy, &[], 200));
    assert!(d.alerts.is_empty());
    assert!(d.suppressed.is_empty());
}

#[test]
fn max_stock_sets_the_order_up_to_level_but_never_below_the_reorder_point() {
    let policy = ReorderPolicy::plain(2, 24);
    let mut r = reading("STORE_1", 2, 10, 100);
    r.max_stock = Some(50);
    assert_eq!(
        plan(&[r.clone()], &ctx(&policy, &[], 200)).alerts[0].restock_qty,
        48
    );
    r.max_stock = Some(4);
    assert_eq!(plan(&[r], &ctx(&policy, &[], 200)).alerts[0].restock_qty, 8);
}

#[test]
fn alert_ids_are_deterministic_per_reading() {
    let a = alert_id("S", "P", None, 100);
    assert_eq!(a, alert_id("S", "P", None, 100));
    assert_ne!(a, alert_id("S", "P", None, 101));
    assert_ne!(a, alert_id("S", "P2", None, 100));
    assert_ne!(
        alert_id("S", "P", Some("x"), 100),
        alert_id("S", "P", Some("y"), 100)
    );
}

#[test]
fn replanning_the_same_reading_is_suppressed_as_already_alerted() {
    let policy = ReorderPolicy::plain(2, 24);
    let latest = [reading("STORE_4", 3, 10, 100)];
    let first = plan(&latest, &ctx(&policy, &[], 200));
    let ledger = vec![sent(first.alerts[0].clone(), None)];
    let second = plan(&latest, &ctx(&policy, &ledger, 300));
    assert!(second.alerts.is_empty());
    assert_eq!(second.suppressed.len(), 1);
    assert_eq!(second.suppressed[0].reason, SuppressReason::AlreadyAlerted);
    assert_eq!(second.suppressed[0].projected_stock, 20);
}

#[test]
fn undelivered_alert_covers_a_newer_lower_reading() {
    let policy = ReorderPolicy::plain(2, 24);
    let first = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
    let ledger = vec![sent(first.alerts[0].clone(), None)];
    let d = plan(
        &[reading("STORE_4", 1, 10, 300)],
        &ctx(&policy, &ledger, 400),
    );
    assert!(d.alerts.is_empty());
    assert_eq!(d.suppressed[0].reason, SuppressReason::CoveredByOutstanding);
    assert_eq!(d.suppressed[0].projected_stock, 18);
}

#[test]
fn outstanding_that_does_not_cover_the_need_orders_the_rest() {
    let policy = ReorderPolicy::plain(2, 24);
    let mut first = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
    first.alerts[0].restock_qty = 2;
    let ledger = vec![sent(first.alerts[0].clone(), None)];
    let d = plan(
        &[reading("STORE_4", 1, 10, 300)],
        &ctx(&policy, &ledger, 400),
    );
    assert_eq!(d.alerts.len(), 1);
    assert_eq!(d.alerts[0].projected_stock, 3);
    assert_eq!(d.alerts[0].restock_qty, 17);
}

#[test]
fn delivered_alert_stops_counting_once_a_later_reading_reflects_it() {
    let policy = ReorderPolicy::plain(2, 24);
    let first = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
    let ledger = vec![sent(first.alerts[0].clone(), Some(250))];
    // A reading taken before the delivery cannot reflect it: still covered.
    let before = plan(
        &[reading("STORE_4", 2, 10, 240)],
        &ctx(&policy, &ledger, 260),
    );
    assert!(before.alerts.is_empty());
    // A reading taken after the delivery already includes it: a new need is alerted.
    let after = plan(
        &[reading("STORE_4", 2, 10, 300)],
        &ctx(&policy, &ledger, 400),
    );
    assert_eq!(after.alerts.len(), 1);
    assert_eq!(after.alerts[0].projected_stock, 2);
}

#[test]
fn undelivered_alert_expires_so_a_need_is_never_suppressed_forever() {
    let policy = ReorderPolicy::plain(2, 24);
    let first = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200));
    let ledger = vec![sent(first.alerts[0].clone(), None)];
    let later = 200 + policy.alert_expiry_seconds();
    let d = plan(
        &[reading("STORE_4", 3, 10, later - 10)],
        &ctx(&policy, &ledger, later),
    );
    assert_eq!(d.alerts.len(), 1);
}

#[test]
fn outstanding_of_other_stores_and_products_does_not_count() {
    let policy = ReorderPolicy::plain(2, 24);
    let first = plan(&[reading("STORE_1", 3, 10, 100)], &ctx(&policy, &[], 200));
    let ledger = vec![sent(first.alerts[0].clone(), None)];
    let mut other_product = reading("STORE_2", 3, 10, 150);
    other_product.product_id = "PRD_1".into();
    let d = plan(
        &[reading("STORE_2", 3, 10, 150), other_product],
        &ctx(&policy, &ledger, 200),
    );
    assert_eq!(d.alerts.len(), 2);
}

#[test]
fn alerts_come_most_urgent_first() {
    let policy = ReorderPolicy::plain(2, 24);
    let d = plan(
        &[
            reading("A", 9, 10, 1),
            reading("B", 0, 10, 1),
            reading("C", 5, 10, 1),
        ],
        &ctx(&policy, &[], 2),
    );
    let order: Vec<&str> = d.alerts.iter().map(|a| a.store_id.as_str()).collect();
    assert_eq!(order, ["B", "C", "A"]);
}

#[test]
fn empty_event_is_valid_and_unknown_fields_are_errors() {
    assert_eq!(
        PlanningEvent::from_json("{}").unwrap(),
        PlanningEvent::default()
    );
    let err = PlanningEvent::from_json(r#"{"lookback_hour": 3}"#).unwrap_err();
    assert!(err.reason.contains("unknown field"), "{err}");
}

#[test]
fn human_lines_never_carry_terminal_escapes() {
    let policy = ReorderPolicy::plain(2, 24);
    let mut a = plan(&[reading("STORE_4", 3, 10, 100)], &ctx(&policy, &[], 200)).alerts[0].clone();
    a.store_id = "S\u{1b}[2J".into();
    a.product_name = "B\u{e1}nh\u{1b}]0;pwned\u{7}".into();
    let line = a.human_line();
    assert!(!line.chars().any(char::is_control), "{line:?}");
    a.store_id = "S\u{202e}1".into();
    assert!(a.human_line().contains("S\\u{202e}1"));
    a.store_id = "S\u{1b}[2J".into();
    assert_eq!(
        line,
        "⚠️ Store S\\u{1b}[2J is low on 'Bánh\\u{1b}]0;pwned\\u{7}'. Alerting delivery team."
    );
}

#[test]
fn a_key_named_twice_is_refused_so_a_dry_run_never_turns_real() {
    for event in [
        r#"{"dry_run":true,"dry_run":false}"#,
        r#"{"lookback_hours":6,"limit":1,"lookback_hours":6}"#,
    ] {
        let err = PlanningEvent::from_json(event).unwrap_err();
        assert!(err.reason.contains("twice"), "{event}: {err}");
    }
    // Store ids follow the door's rule for ids.
    let err = PlanningEvent::from_json(r#"{"store_ids":["STORE_\u202e1"]}"#).unwrap_err();
    assert_eq!(err.field, "store_ids");
    assert!(err.reason.contains("bidirectional"), "{err}");
}

#[test]
fn an_event_must_be_an_object() {
    for not_an_object in ["[]", "[24, true]", "null", "3", "\"{}\""] {
        let err = PlanningEvent::from_json(not_an_object).unwrap_err();
        assert!(
            err.reason.contains("must be a JSON object"),
            "{not_an_object}: {err}"
        );
    }
}

#[test]
fn event_ranges_are_checked() {
    assert_eq!(
        PlanningEvent::from_json(r#"{"lookback_hours": 0}"#)
            .unwrap_err()
            .field,
        "lookback_hours"
    );
    assert_eq!(
        PlanningEvent::from_json(r#"{"limit": 0}"#)
            .unwrap_err()
            .field,
        "limit"
    );
    assert_eq!(
        PlanningEvent::from_json(r#"{"store_ids": []}"#)
            .unwrap_err()
            .field,
        "store_ids"
    );
    assert_eq!(
        PlanningEvent::from_json(r#"{"store_ids": [""]}"#)
            .unwrap_err()
            .field,
        "store_ids"
    );
    let e = PlanningEvent::from_json(
        r#"{"lookback_hours": 6, "dry_run": true, "store_ids": ["S1"], "limit": 3}"#,
    )
    .unwrap();
    assert_eq!(e.lookback(), 6);
}

#[test]
fn sql_binds_every_value_as_a_parameter() {
    let req = InventoryRequest::new(
        1_764_000_000,
        24,
        vec!["STORE_1'; DROP".into(), "S2".into()],
    );
    let sql = req.sql("readings");
    assert!(
        !sql.contains("STORE_1"),
        "values must not be spliced into SQL"
    );
    assert_eq!(sql.matches('?').count(), req.params().len());
    assert!(sql.contains("store_id IN (?, ?)"));
    assert_eq!(req.params()[0], SqlParam::Text("2025-11-23-16".into()));
    assert!(
        !InventoryRequest::new(0, 1, vec![])
            .sql("t")
            .contains("IN (")
    );
}

fn with_history(stock: i64, first_stock: i64, first_ts: i64, ts: i64) -> LatestReading {
    LatestReading {
        first_stock,
        first_timestamp: first_ts,
        demand: None,
        readings: 5,
        ..reading("STORE_4", stock, 10, ts)
    }
}

#[test]
fn velocity_counts_the_stock_drop_and_the_deliveries_in_between() {
    // 40 -> 4 over two hours: 18 an hour.
    let r = with_history(4, 40, 0, 7200);
    assert_eq!(sales_per_hour(&r, []), Some(18.0));
    // A delivery of 20 at 1 h also sold: (40 + 20 - 4) / 2 h = 28 an hour. One after the
    // latest reading is not in it.
    let mut a = plan(
        &[reading("STORE_4", 1, 10, 0)],
        &ctx(&ReorderPolicy::plain(2, 24), &[], 0),
    )
    .alerts
    .remove(0);
    a.restock_qty = 30;
    let s = AlertStatus {
        alert: a,
        deliveries: vec![
            Delivered {
                delivered_at: 3600,
                quantity: 20,
            },
            Delivered {
                delivered_at: 7200,
                quantity: 10,
            },
        ],
    };
    assert_eq!(sales_per_hour(&r, [&s]), Some(28.0));
    // Unknown with one reading, no time between readings, or an unexplained rise.
    assert_eq!(
        sales_per_hour(
            &LatestReading {
                readings: 1,
                ..r.clone()
            },
            []
        ),
        None
    );
    assert_eq!(sales_per_hour(&with_history(4, 40, 7200, 7200), []), None);
    assert_eq!(sales_per_hour(&with_history(50, 40, 0, 7200), []), None);
}

#[test]
fn hours_to_stockout_follow_the_pace_and_an_empty_shelf_is_most_urgent() {
    assert_eq!(hours_to_stockout(9, Some(18.0)), Some(0.5));
    assert_eq!(hours_to_stockout(0, None), Some(0.0));
    assert_eq!(hours_to_stockout(9, Some(0.0)), None, "nothing sells");
    assert_eq!(hours_to_stockout(9, None), None);
    let policy = ReorderPolicy::plain(2, 24);
    let readings = [
        // Slow: 8 units at 2 an hour = 4 h.
        LatestReading {
            store_id: "SLOW".into(),
            ..with_history(8, 12, 0, 7200)
        },
        // Fast: 6 units at 18 an hour = 0.33 h.
        LatestReading {
            store_id: "FAST".into(),
            ..with_history(6, 42, 0, 7200)
        },
        // Pace unknown, deepest below the reorder point.
        LatestReading {
            store_id: "UNKNOWN".into(),
            readings: 1,
            ..with_history(1, 1, 7200, 7200)
        },
        // Empty.
        LatestReading {
            store_id: "EMPTY".into(),
            ..with_history(0, 20, 0, 7200)
        },
    ];
    let d = plan(&readings, &ctx(&policy, &[], 8000));
    let order: Vec<&str> = d.alerts.iter().map(|a| a.store_id.as_str()).collect();
    assert_eq!(order, ["EMPTY", "FAST", "SLOW", "UNKNOWN"]);
    assert_eq!(d.alerts[1].sales_per_hour, Some(18.0));
    assert_eq!(d.alerts[1].hours_to_stockout, Some(0.33));
}

#[test]
fn stores_without_a_reading_in_the_window_are_silent() {
    let policy = ReorderPolicy::plain(2, 24);
    let known: Vec<String> = ["STORE_1", "STORE_4", "STORE_9"].map(String::from).to_vec();
    let c = PlanContext {
        known_stores: &known,
        ..ctx(&policy, &[], 200)
    };
    let d = plan(&[reading("STORE_4", 30, 10, 100)], &c);
    assert_eq!(d.silent_stores, ["STORE_1", "STORE_9"]);
    assert!(d.alerts.is_empty(), "a silent store is not an alert");
}

#[test]
fn a_partial_delivery_leaves_the_rest_on_its_way() {
    let policy = ReorderPolicy::plain(2, 24);
    let alert = plan(&[reading("STORE_4", 2, 10, 100)], &ctx(&policy, &[], 100))
        .alerts
        .remove(0);
    assert_eq!(alert.restock_qty, 18);
    let status = AlertStatus {
        alert,
        deliveries: vec![Delivered {
            delivered_at: 150,
            quantity: 10,
        }],
    };
    // A reading after the first piece arrived reflects it; 8 units are still on their way.
    assert_eq!(status.on_the_way(200, 300, 3600), 8);
    // A reading taken before it: all 18.
    assert_eq!(status.on_the_way(120, 300, 3600), 18);
    // In the same second as the delivery: not yet reflected.
    assert_eq!(status.on_the_way(150, 300, 3600), 18);
    // Expired with nothing arriving after the reading: no longer counted.
    assert_eq!(status.on_the_way(200, 100 + 3600, 3600), 0);
}

/// A result of `lows` low readings whose ids and names are as long as the door allows.
fn result_of(lows: usize) -> PlanningResult {
    let policy = ReorderPolicy::plain(2, 24);
    let long = |prefix: &str, i: usize| {
        let s = format!("{prefix}{i}-");
        s.repeat(crate::reading::MAX_ID_CHARS / s.len())
    };
    let readings: Vec<LatestReading> = (0..lows)
        .map(|i| LatestReading {
            product_id: long("P", i),
            product_name: "Cà phê sữa đá ".repeat(crate::reading::MAX_NAME_CHARS / 14),
            ..reading(&long("S", i), (i % 9) as i64, 10, 100)
        })
        .collect();
    let d = plan(&readings, &ctx(&policy, &[], 200));
    PlanningResult {
        query_id: "q-1".into(),
        engine: "test".into(),
        readings_scanned: lows as u64,
        bytes_scanned: 0,
        malformed_skipped: 0,
        alerts_sent: d.alerts.len(),
        alerts_suppressed: d.suppressed.len(),
        dry_run: false,
        messages: Vec::new(),
        alerts: d.alerts,
        suppressed: d.suppressed,
        silent_stores: (0..lows).map(|i| long("silent", i)).collect(),
        unsendable: Vec::new(),
        unlisted: Unlisted::default(),
        alerts_object: Some("ledger/alerts/dt=2026-11-29-06/run-q-1.json".into()),
    }
}

#[test]
fn a_result_fits_a_lambda_response_whatever_the_number_of_alerts() {
    let mut result = result_of(20_000);
    let all = result.alerts.clone();
    result.bound_lists();
    let bytes = serde_json::to_vec(&result).unwrap().len();
    assert!(bytes < 6_000_000, "{bytes} bytes");
    assert!(!result.alerts.is_empty() && result.alerts.len() <= MAX_LISTED);
    assert_eq!(
        result.alerts[..],
        all[..result.alerts.len()],
        "the most urgent, in order"
    );
    assert_eq!(result.messages.len(), result.alerts.len());
    assert_eq!(result.messages[0], all[0].human_line());
    assert_eq!(result.unlisted.alerts, 20_000 - result.alerts.len());
    assert_eq!(
        result.alerts_sent, 20_000,
        "the counts are of the whole run"
    );
    assert_eq!(
        result.unlisted.silent_stores + result.silent_stores.len(),
        20_000
    );
}

#[test]
fn a_small_result_lists_everything() {
    let mut result = result_of(30);
    let all = result.alerts.clone();
    result.bound_lists();
    assert_eq!(result.alerts, all);
    assert!(result.unlisted.is_empty());
    let json = serde_json::to_value(&result).unwrap();
    assert!(json.get("unlisted").is_none(), "{json}");
}

#[test]
fn the_seed_rule_alerts_every_run_with_its_fixed_quantity() {
    let mut policy = ReorderPolicy::plain(2, 24);
    policy.default.method = crate::policy::OrderMethod::Seed;
    policy.default.fixed_order_qty = 7;
    policy.default.case_pack = 5;
    let latest = [
        reading("STORE_4", 3, 10, 100),
        reading("STORE_5", 10, 10, 100),
    ];
    let first = plan(&latest, &ctx(&policy, &[], 200));
    assert_eq!(
        first.alerts.len(),
        1,
        "only the reading below its threshold"
    );
    assert_eq!(
        first.alerts[0].restock_qty, 10,
        "7 rounded up to packs of 5"
    );
    let ledger = vec![sent(first.alerts[0].clone(), None)];
    // The same reading, the next run: alerted again, under a new id, nothing counted on its way.
    let second = plan(&latest, &ctx(&policy, &ledger, 300));
    assert_eq!(second.alerts.len(), 1);
    assert!(second.suppressed.is_empty());
    assert_ne!(second.alerts[0].alert_id, first.alerts[0].alert_id);
    assert_eq!(second.alerts[0].projected_stock, 3);
    // Within one run the id is the reading's, so a resend is recognised downstream.
    let again = plan(&latest, &ctx(&policy, &[], 300));
    assert_eq!(again.alerts[0].alert_id, second.alerts[0].alert_id);
}

#[test]
fn a_policy_file_names_its_method() {
    use crate::config::ConfigFile;
    let text = "[default]\norder_up_to_factor = 2\ncase_pack = 1\nmin_order_qty = 1\nalert_expiry_hours = 24\nmethod = \"seed\"\nfixed_order_qty = 12\n";
    let p = ReorderPolicy::from_toml(text, "p.toml").unwrap();
    assert_eq!(p.default.method, crate::policy::OrderMethod::Seed);
    assert_eq!(p.default.fixed_order_qty, 12);
    let bad = text.replace("\"seed\"", "\"psychic\"");
    let e = ReorderPolicy::from_toml(&bad, "p.toml").unwrap_err();
    assert!(
        e.to_string().starts_with("p.toml:") && e.to_string().contains("method"),
        "{e}"
    );
    assert_eq!(
        ReorderPolicy::shipped().default.method,
        crate::policy::OrderMethod::Threshold
    );
}

/// A shelf that has sold `per_hour` every hour for two weeks, as the snapshot keeps it at `at`.
fn learnt(per_hour: f64, at: i64) -> crate::forecast::DemandState {
    let start = at - 14 * 24 * 3600;
    let sales: Vec<(i64, f64)> = (0..14 * 24).map(|h| (start + h * 3600, per_hour)).collect();
    crate::forecast::DemandState::new(start).fold(at, &sales)
}

fn forecast_policy() -> ReorderPolicy {
    let mut p = ReorderPolicy::plain(2, 24);
    p.default.method = crate::policy::OrderMethod::Forecast;
    p
}

#[test]
fn the_forecast_rule_reorders_a_fast_seller_above_its_threshold_and_explains_itself() {
    let now = 1_764_000_000 / 3600 * 3600;
    let policy = forecast_policy();
    // Two an hour, a threshold of 3: the producer's number would empty the shelf long before
    // a truck arrives (4 h lead time by default, 1 h review).
    let mut fast = reading("S1", 12, 3, now - 600);
    fast.max_stock = Some(200);
    fast.demand = Some(learnt(2.0, now - 3600));
    let d = plan(&[fast], &ctx(&policy, &[], now));
    assert_eq!(d.alerts.len(), 1, "{d:?}");
    let order = d.alerts[0].explanation.clone().unwrap();
    let f = order.forecast.clone().expect("the forecast rule decided");
    assert!((f.per_day - 48.0).abs() < 1e-6, "{f:?}");
    assert!(f.reorder_point > 12 && f.protection_demand > 8.0, "{f:?}");
    assert_eq!(order.level_source, crate::policy::LevelSource::Forecast);
    assert_eq!(order.order_up_to, f.reorder_point + 3 * 48);
    assert_eq!(d.alerts[0].restock_qty, order.order_up_to - 12);
    let text = order.text();
    assert!(
        text.contains("reorder point") && text.contains("48.00/day"),
        "{text}"
    );

    // A slow seller well above its forecast reorder point is left alone, low threshold or not.
    let mut slow = reading("S2", 5, 10, now - 600);
    slow.demand = Some(learnt(0.02, now - 3600));
    assert!(plan(&[slow], &ctx(&policy, &[], now)).alerts.is_empty());
}

#[test]
fn without_enough_history_the_forecast_rule_falls_back_to_the_threshold_and_says_so() {
    let now = 1_764_000_000 / 3600 * 3600;
    let policy = forecast_policy();
    let mut new_shelf = reading("S1", 2, 10, now - 600);
    let start = now - 10 * 3600;
    new_shelf.demand =
        Some(crate::forecast::DemandState::new(start).fold(now - 3600, &[(start, 3.0)]));
    let unknown = reading("S2", 2, 10, now - 600);
    let d = plan(&[new_shelf, unknown], &ctx(&policy, &[], now));
    assert_eq!(d.alerts.len(), 2);
    for a in &d.alerts {
        let order = a.explanation.as_ref().unwrap();
        assert!(order.forecast.is_none());
        let why = order.fallback.as_deref().unwrap();
        assert!(why.contains("history"), "{why}");
        assert!(order.text().contains("threshold rule"), "{}", order.text());
        assert_eq!(a.restock_qty, 20 - 2, "the threshold rule's quantity");
    }
}

#[test]
fn the_forecast_rule_counts_what_is_on_its_way_and_measures_the_lead_time() {
    let now = 1_764_000_000 / 3600 * 3600;
    let policy = forecast_policy();
    let mut shelf = reading("S1", 12, 3, now - 600);
    shelf.demand = Some(learnt(2.0, now - 3600));
    let first = plan(std::slice::from_ref(&shelf), &ctx(&policy, &[], now));
    let alert = first.alerts[0].clone();
    // Undelivered, it covers the next lower reading.
    let mut lower = shelf.clone();
    lower.current_stock = 11;
    lower.check_timestamp = now;
    let ledger = [sent(alert, None)];
    let d = plan(&[lower], &ctx(&policy, &ledger, now + 60));
    assert!(d.alerts.is_empty());
    assert_eq!(d.suppressed[0].reason, SuppressReason::CoveredByOutstanding);
    // Five deliveries two hours after their alerts: the lead time is measured, not assumed.
    let measured: Vec<AlertStatus> = (0..5)
        .map(|i| {
            let mut a = first.alerts[0].clone();
            a.alert_id = format!("a{i}");
            a.planned_at = now - 10 * 3600;
            sent(a, Some(now - 8 * 3600))
        })
        .collect();
    assert_eq!(lead_times(&measured), vec![2.0; 5]);
    let lead = policy.lead_time(&lead_times(&measured));
    assert_eq!((lead.mean_hours, lead.observed), (2.0, 5));
}

/// A reading taken ten minutes before `now` of a shelf that has sold one an hour, threshold 3,
/// capacity 200.
fn one_an_hour(store: &str, product: &str, stock: i64, now: i64) -> LatestReading {
    let mut r = reading(store, stock, 3, now - 600);
    r.product_id = product.into();
    r.max_stock = Some(200);
    r.demand = Some(learnt(1.0, now - 3600));
    r
}

#[test]
fn a_shelf_near_its_reorder_point_joins_its_stores_delivery() {
    let now = 1_764_000_000 / 3600 * 3600;
    let policy = forecast_policy();
    let shelf = |store: &str, product: &str, stock: i64| one_an_hour(store, product, stock, now);
    // One an hour: reorder point 12 (see the levels test) and can-order point 12 + 24.
    let low = shelf("S1", "PRD_1", 5);
    let near = shelf("S1", "PRD_2", 30);
    let near_elsewhere = shelf("S2", "PRD_2", 30);
    let d = plan(&[low, near, near_elsewhere], &ctx(&policy, &[], now));
    let ordered: Vec<(&str, &str)> = d
        .alerts
        .iter()
        .map(|a| (a.store_id.as_str(), a.product_id.as_str()))
        .collect();
    assert_eq!(ordered.len(), 2, "{ordered:?}");
    assert!(
        ordered.contains(&("S1", "PRD_2")),
        "joins the delivery to S1"
    );
    let joined = d.alerts.iter().find(|a| a.product_id == "PRD_2").unwrap();
    let order = joined.explanation.as_ref().unwrap();
    assert!(
        order.rules.iter().any(|r| r.starts_with("can-order")),
        "{order:?}"
    );
    assert_eq!(joined.restock_qty, order.order_up_to - 30);
}

#[test]
fn every_alert_says_why_in_words_with_the_numbers_that_decided() {
    let now = 1_764_000_000 / 3600 * 3600;
    let policy = forecast_policy();
    let shelf = |store: &str, product: &str, stock: i64| one_an_hour(store, product, stock, now);
    // The forecast rule, with units on their way from an earlier alert.
    let first = plan(&[shelf("S1", "PRD_1", 9)], &ctx(&policy, &[], now));
    let mut earlier = first.alerts[0].clone();
    earlier.alert_id = "earlier".into();
    earlier.restock_qty = 2;
    let ledger = [sent(earlier, None)];
    let mut lower = shelf("S1", "PRD_1", 5);
    lower.check_timestamp = now;
    let d = plan(
        &[lower, shelf("S1", "PRD_2", 30)],
        &ctx(&policy, &ledger, now + 60),
    );
    let low = d.alerts.iter().find(|a| a.product_id == "PRD_1").unwrap();
    let why = low.why();
    let f = low.explanation.as_ref().unwrap().forecast.clone().unwrap();
    for part in [
        "stock 5 + 2 on its way".to_owned(),
        format!("below the reorder point {}", f.reorder_point),
        "forecast 24.00/day".to_owned(),
        "lead time 4.0 h".to_owned(),
        "review 1.0 h".to_owned(),
        format!("z {:.2} for 97%", f.z),
        format!("{} ordered, up to {}", low.restock_qty, f.order_up_to),
    ] {
        assert!(why.contains(&part), "{part:?} missing from {why}");
    }
    // A shelf above its reorder point that rides along to the same store.
    let joined = d.alerts.iter().find(|a| a.product_id == "PRD_2").unwrap();
    let why = joined.why();
    assert!(
        why.starts_with("stock 30, within a day of the reorder point")
            && why.contains("joins its store's delivery")
            && why.contains("can-order"),
        "{why}"
    );
    // The threshold rule, chosen by the policy or for want of history.
    let d = plan(
        &[reading("S1", 2, 10, now - 600)],
        &ctx(&ReorderPolicy::plain(2, 24), &[], now),
    );
    let why = d.alerts[0].why();
    assert!(
        why.starts_with("stock 2, below the threshold 10; ")
            && why.contains(&format!("{} ordered", d.alerts[0].restock_qty)),
        "{why}"
    );
    let d = plan(&[reading("S1", 2, 10, now - 600)], &ctx(&policy, &[], now));
    let why = d.alerts[0].why();
    assert!(
        why.starts_with("stock 2, below the threshold 10 (threshold rule: ")
            && why.contains("history"),
        "{why}"
    );
}

#[test]
fn a_store_whose_orders_mostly_join_deliveries_aims_its_own_orders_lower() {
    let now = 1_764_000_000 / 3600 * 3600;
    let policy = forecast_policy();
    let shelf = |store: &str, product: &str, stock: i64| one_an_hour(store, product, stock, now);
    let d = plan(
        &[shelf("S1", "PRD_1", 5), shelf("S1", "PRD_2", 30)],
        &ctx(&policy, &[], now - 7200),
    );
    let own = d.alerts.iter().find(|a| a.product_id == "PRD_1").unwrap();
    let joined = d.alerts.iter().find(|a| a.product_id == "PRD_2").unwrap();
    let copy = |a: &Alert, store: &str, k: usize| {
        let mut a = a.clone();
        a.alert_id = format!("{store}-{}-{k}", a.product_id);
        a.store_id = store.into();
        sent(a, Some(now - 3600))
    };
    // S1: six of eight orders joined a delivery; S2: four orders of its own. The chain: half.
    let mut ledger: Vec<AlertStatus> = (0..6).map(|k| copy(joined, "S1", k)).collect();
    ledger.extend((0..2).map(|k| copy(own, "S1", k)));
    ledger.extend((0..4).map(|k| copy(own, "S2", k)));
    let shares = JoinedShares::of(&ledger);
    assert!((shares.chain - 0.5).abs() < 1e-12, "{shares:?}");
    assert!(
        (shares.store("S1") - 8.0 / 12.0).abs() < 1e-12,
        "{shares:?}"
    );
    assert!((shares.store("S2") - 2.0 / 8.0).abs() < 1e-12, "{shares:?}");
    assert!((shares.store("S3") - 0.5).abs() < 1e-12, "{shares:?}");

    let levels = |store: &str| {
        let r = shelf(store, "PRD_3", 100);
        let lead = policy.lead_time(&lead_times(&ledger));
        policy
            .forecast_levels(&r, lead, shares.store(store))
            .unwrap()
    };
    let (s1, s2) = (levels("S1"), levels("S2"));
    assert!(s1.reorder_point < s2.reorder_point, "{s1:?} {s2:?}");
    assert!(s1.z < s2.z && s1.service_level == s2.service_level);
    assert!(
        s1.numbers()
            .contains("of own orders (97% overall, 67% join a delivery)"),
        "{}",
        s1.numbers()
    );
    // The planner uses them: the same shelf in S1 is not yet low where in S2 it is.
    let point = s2.reorder_point - 1;
    let d = plan(
        &[shelf("S1", "PRD_3", point), shelf("S2", "PRD_3", point)],
        &ctx(&policy, &ledger, now),
    );
    let stores: Vec<&str> = d.alerts.iter().map(|a| a.store_id.as_str()).collect();
    assert_eq!(stores, ["S2"], "{d:?}");
}
