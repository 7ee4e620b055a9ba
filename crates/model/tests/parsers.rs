//! Property tests of every parser at the door: whatever the input, no panic, and a decision
//! that names the field; the reading parser's typed fast path decides as the general path does.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use store_model::config::ConfigFile;
use store_model::planning::ReorderPolicy;
use store_model::schema::READING_COLUMNS;
use store_model::{Alert, Fleet, PlanningEvent, Reading, Stores, ValidationError};

/// A value for one field of a reading: of the right type, the wrong one, out of range, hostile.
fn field_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<i64>().prop_map(|n| Some(json!(n))),
        (-5_i64..50).prop_map(|n| Some(json!(n))),
        (946_684_800_i64..2_000_000_000).prop_map(|n| Some(json!(n))),
        any::<f64>().prop_map(|f| Some(json!(f))),
        any::<bool>().prop_map(|b| Some(json!(b))),
        "[A-Z_0-9]{0,12}".prop_map(|s| Some(json!(s))),
        any::<String>().prop_map(|s| Some(json!(s))),
        "[\\x00-\\x1f\\x7f-\\x9f]{1,3}".prop_map(|s| Some(json!(s))),
        (120_usize..300).prop_map(|n| Some(json!("x".repeat(n)))),
        Just(Some(json!([1, 2]))),
        Just(Some(json!({"a": 1}))),
        Just(Some(json!("A1E70001-5E0D-4B7A-8C11-4D2B9E6F7A01"))),
    ]
}

/// The contract's fields (a record names one of them twice now and then), and one that is not.
fn fields() -> impl Iterator<Item = &'static str> {
    READING_COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .chain(["extra"])
}

fn record() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec(field_value(), READING_COLUMNS.len() + 1).prop_map(|values| {
        fields()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_typed_path_decides_as_the_general_path(map in record()) {
        let line = Value::Object(map.clone()).to_string();
        let fast = Reading::from_json_str(&line);
        let general = Reading::from_json_value(&Value::Object(map));
        match (&fast, &general) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.field, b.field, "{} / {}", a, b),
            _ => prop_assert!(false, "{line}: fast {fast:?}, general {general:?}"),
        }
    }

    #[test]
    fn any_text_is_a_reading_or_a_named_rejection(text in any::<String>()) {
        match Reading::from_json_str(&text) {
            Ok(r) => prop_assert!(!r.store_id.is_empty() && !r.product_id.is_empty()),
            Err(ValidationError { field, reason }) => {
                prop_assert!(!field.is_empty() && !reason.is_empty());
            }
        }
    }

    #[test]
    fn an_accepted_reading_keeps_every_limit(map in record()) {
        if let Ok(r) = Reading::from_json_str(&Value::Object(map).to_string()) {
            for text in [&r.store_id, &r.product_id, &r.product_name, &r.restock_status] {
                prop_assert!(!text.chars().any(char::is_control));
            }
            prop_assert!(r.store_id.chars().count() <= 128 && r.product_name.chars().count() <= 256);
            prop_assert!(r.current_stock >= 0 && r.threshold_level >= 0);
        }
    }

    #[test]
    fn any_text_is_a_planning_event_or_an_error(text in any::<String>()) {
        let _ = PlanningEvent::from_json(&text);
    }

    #[test]
    fn events_within_the_rules_are_accepted(
        lookback in proptest::option::of(1_u32..=168),
        dry in proptest::option::of(any::<bool>()),
        limit in proptest::option::of(1_usize..10_000),
    ) {
        let mut event = Map::new();
        if let Some(l) = lookback { event.insert("lookback_hours".into(), json!(l)); }
        if let Some(d) = dry { event.insert("dry_run".into(), json!(d)); }
        if let Some(l) = limit { event.insert("limit".into(), json!(l)); }
        let parsed = PlanningEvent::from_json(&Value::Object(event).to_string());
        prop_assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn any_alert_body_is_an_alert_or_refused(text in any::<String>(), id in any::<String>()) {
        if let Ok(a) = serde_json::from_str::<Alert>(&text) {
            let _ = a.check_received();
        }
        let mut a: Alert = serde_json::from_value(json!({
            "alert_id": id, "store_id": "S", "product_id": "P", "product_name": "x",
            "alert": "Stock low", "current_stock": 1, "threshold_level": 5,
            "projected_stock": 1, "restock_qty": 4, "reading_time": 1, "planned_at": 2,
            "query_id": "q"
        })).unwrap();
        // An alert id names ledger objects: only a UUID in its usual form passes.
        if a.check_received().is_ok() {
            prop_assert!(uuid_form(&a.alert_id), "{}", a.alert_id);
        }
        a.alert_id = "00000000-0000-4000-8000-000000000001".into();
        prop_assert!(a.check_received().is_ok());
    }

    #[test]
    fn any_text_is_a_config_file_or_a_named_error(text in any::<String>()) {
        let _ = Fleet::from_toml(&text, "fleet.toml");
        let _ = Stores::from_toml(&text, "stores.toml");
        let _ = ReorderPolicy::from_toml(&text, "policy.toml");
    }
}

fn uuid_form(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
            }
        })
}
