//! Tests of `reading`.

use super::*;
use serde_json::json;

fn seed_record() -> Value {
    json!({
        "store_id": "STORE_4",
        "product_id": "PRD_5",
        "product_name": "Bánh mì",
        "current_stock": 3,
        "threshold_level": 10,
        "is_stock_low": false,
        "check_timestamp": 1_764_000_000,
        "notification_sent": false,
        "restock_status": "PENDING"
    })
}

fn rejected(mut record: Value, field: &str, value: Value) -> ValidationError {
    record[field] = value;
    Reading::from_json_value(&record).expect_err("record should be rejected")
}

fn missing(field: &str) -> ValidationError {
    let mut record = seed_record();
    record.as_object_mut().unwrap().remove(field);
    Reading::from_json_value(&record).expect_err("record should be rejected")
}

#[test]
fn the_typed_fast_path_decides_exactly_as_the_general_path() {
    let lines = [
        r#"{"store_id":"S","product_id":"P","product_name":"Bánh mì","current_stock":3,"threshold_level":10,"check_timestamp":1764000000}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"Phở","current_stock":3,"threshold_level":10,"check_timestamp":1764000000,"event_id":"A1E70001-5E0D-4B7A-8C11-4D2B9E6F7A01","max_stock":30,"is_stock_low":true,"notification_sent":null,"restock_status":"LOW","extra":[1]}"#,
        r#"{"store_id":" ","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":-1,"threshold_level":10,"check_timestamp":1}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3000000000,"threshold_level":10,"check_timestamp":1}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1764000000000}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1,"event_id":"nope"}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1,"max_stock":-5}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3.5,"threshold_level":10,"check_timestamp":1}"#,
        r#"{"store_id":"S","product_id":"P","product_name":null,"current_stock":3,"threshold_level":10,"check_timestamp":1}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":"3","threshold_level":10,"check_timestamp":1}"#,
    ];
    // (A field named twice is refused before either path: see the test of that.)
    for line in lines {
        let general = serde_json::from_str::<Value>(line)
            .map_err(|e| ValidationError::new("record", e.to_string()))
            .and_then(|v| Reading::from_json_value(&v));
        assert_eq!(Reading::from_json_str(line), general, "{line}");
    }
}

#[test]
fn text_fields_have_limits_and_no_control_characters() {
    let err = rejected(seed_record(), "product_name", json!("x".repeat(300_000)));
    assert_eq!(err.field, "product_name");
    assert!(err.reason.contains("at most 256"), "{err}");
    let err = rejected(seed_record(), "store_id", json!("S".repeat(129)));
    assert_eq!(err.field, "store_id");
    for hostile in [
        "\u{1b}[2J",
        "a\u{1b}]0;title\u{7}",
        "line\nbreak",
        "\u{9b}31m",
    ] {
        for field in ["store_id", "product_id", "product_name"] {
            let err = rejected(seed_record(), field, json!(hostile));
            assert_eq!(err.field, field, "{hostile:?}");
            assert!(err.reason.contains("control characters"), "{err}");
            // The typed fast path refuses it the same way.
            let mut record = seed_record();
            record[field] = json!(hostile);
            let fast = Reading::from_json_str(&record.to_string()).unwrap_err();
            assert_eq!(fast, err);
        }
    }
    // Vietnamese names up to the limit pass.
    let mut record = seed_record();
    record["product_name"] = json!("Bánh mì ".repeat(32).trim_end());
    assert!(Reading::from_json_str(&record.to_string()).is_ok());
}

#[test]
fn ids_refuse_bidi_controls_and_every_field_refuses_what_the_queue_cannot_carry() {
    // U+202E prints `STORE_1` reversed: an operator would act on another store.
    for hostile in ["STORE_\u{202e}1", "S\u{2066}x", "S\u{200b}", "\u{feff}S"] {
        for field in ["store_id", "product_id"] {
            let err = rejected(seed_record(), field, json!(hostile));
            assert_eq!(err.field, field, "{hostile:?}");
            assert!(err.reason.contains("bidirectional"), "{err}");
            let mut record = seed_record();
            record[field] = json!(hostile);
            assert_eq!(
                Reading::from_json_str(&record.to_string()).unwrap_err(),
                err
            );
        }
    }
    // A name may carry a right-to-left mark (it is text for people, escaped when printed) ...
    let mut record = seed_record();
    record["product_name"] = json!("\u{5d7}\u{5dc}\u{5d1} \u{200f}3%");
    assert!(Reading::from_json_str(&record.to_string()).is_ok());
    // ... but no character SQS refuses, which would fail its alert on every run.
    for field in ["store_id", "product_id", "product_name", "restock_status"] {
        let err = rejected(seed_record(), field, json!("milk\u{ffff}"));
        assert!(err.reason.contains("alert queue refuses"), "{err}");
    }
}

#[test]
fn a_record_over_firehose_s_limit_is_refused_before_it_is_parsed() {
    let mut record = seed_record();
    record["restock_status"] = json!("x".repeat(MAX_RECORD_BYTES));
    let err = Reading::from_json_str(&record.to_string()).unwrap_err();
    assert_eq!(err.field, "record");
    assert!(err.reason.contains("at most 1024000"), "{err}");
}

#[test]
fn a_field_named_twice_is_refused_on_both_paths() {
    // Typed (every value of its type) and general (a string stock) paths.
    for line in [
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"current_stock":30,"threshold_level":10,"check_timestamp":1764000000}"#,
        r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":"3","threshold_level":10,"check_timestamp":1764000000,"store_id":"T"}"#,
    ] {
        let err = Reading::from_json_str(line).unwrap_err();
        assert!(
            err.to_string().contains("twice") || err.to_string().contains("duplicate"),
            "{err}"
        );
    }
    // A repeated key the contract does not know is ignored, as any unknown key is.
    let ok = r#"{"store_id":"S","product_id":"P","product_name":"x","current_stock":3,"threshold_level":10,"check_timestamp":1764000000,"x":1,"x":2}"#;
    assert!(Reading::from_json_str(ok).is_ok());
}

#[test]
fn check_times_before_2000_or_past_the_clock_and_its_skew_are_refused() {
    let mut r = Reading::from_json_value(&seed_record()).unwrap();
    let now = 1_764_000_000;
    r.check_timestamp = now + 900;
    assert!(r.check_time(now, 900).is_ok());
    r.check_timestamp = now + 901;
    let err = r.check_time(now, 900).unwrap_err();
    assert_eq!(err.field, "check_timestamp");
    assert!(err.reason.contains("901 s ahead"), "{err}");
    r.check_timestamp = now + 10 * 365 * 86_400;
    assert!(r.check_time(now, 900).is_err());
    r.check_timestamp = 946_684_799;
    assert!(
        r.check_time(now, 900)
            .unwrap_err()
            .reason
            .contains("before 2000")
    );
    // Milliseconds where seconds belong are far in the future.
    r.check_timestamp = now * 1000;
    assert!(r.check_time(now, 900).is_err());
}

#[test]
fn a_byte_order_mark_before_a_record_is_not_part_of_it() {
    let line = format!("\u{feff}{}", seed_record());
    assert_eq!(
        Reading::from_json_str(&line).unwrap(),
        Reading::from_json_value(&seed_record()).unwrap()
    );
}

#[test]
fn seed_record_is_accepted_and_low_flag_recomputed() {
    let r = Reading::from_json_value(&seed_record()).unwrap();
    assert_eq!(r.product_name, "Bánh mì");
    assert!(
        r.is_stock_low,
        "is_stock_low must be recomputed, not trusted"
    );
    assert_eq!(r.event_id, None);
    assert_eq!(r.max_stock, None);
    assert_eq!(r.restock_status, "PENDING");
}

#[test]
fn vietnamese_names_round_trip_exactly() {
    let r = Reading::from_json_value(&seed_record()).unwrap();
    let line = serde_json::to_string(&r).unwrap();
    assert!(line.contains("Bánh mì"));
    assert_eq!(Reading::from_json_str(&line).unwrap(), r);
}

#[test]
fn each_required_field_is_named_when_missing() {
    for field in [
        "store_id",
        "product_id",
        "product_name",
        "current_stock",
        "threshold_level",
        "check_timestamp",
    ] {
        let err = missing(field);
        assert_eq!(err.field, field);
        assert_eq!(err.reason, "is required");
    }
}

#[test]
fn ids_must_not_be_empty() {
    assert_eq!(
        rejected(seed_record(), "store_id", json!("  ")).field,
        "store_id"
    );
    assert_eq!(
        rejected(seed_record(), "product_id", json!("")).field,
        "product_id"
    );
}

#[test]
fn empty_product_name_is_allowed_but_must_be_a_string() {
    let mut record = seed_record();
    record["product_name"] = json!("");
    assert!(Reading::from_json_value(&record).is_ok());
    let err = rejected(seed_record(), "product_name", json!(5));
    assert_eq!(err.field, "product_name");
    assert!(err.reason.contains("expected a string"));
}

#[test]
fn stock_figures_must_be_non_negative_integers() {
    for field in ["current_stock", "threshold_level", "max_stock"] {
        let err = rejected(seed_record(), field, json!(-1));
        assert_eq!(err.field, field);
        assert!(err.reason.contains(">= 0"), "{err}");
        assert!(
            rejected(seed_record(), field, json!(2.5))
                .reason
                .contains("whole number")
        );
        assert!(
            rejected(seed_record(), field, json!("7"))
                .reason
                .contains("integer")
        );
        assert!(
            rejected(seed_record(), field, json!(3_000_000_000_i64))
                .reason
                .contains("larger")
        );
    }
}

#[test]
fn check_timestamp_must_be_epoch_seconds() {
    assert_eq!(
        rejected(seed_record(), "check_timestamp", json!(-5)).field,
        "check_timestamp"
    );
    let err = rejected(
        seed_record(),
        "check_timestamp",
        json!(1_764_000_000_000_i64),
    );
    assert!(err.reason.contains("milliseconds"), "{err}");
    let err = rejected(seed_record(), "check_timestamp", json!("2026-01-01"));
    assert!(err.reason.contains("integer"), "{err}");
}

#[test]
fn compatibility_flags_must_be_booleans() {
    assert_eq!(
        rejected(seed_record(), "is_stock_low", json!("yes")).field,
        "is_stock_low"
    );
    assert_eq!(
        rejected(seed_record(), "notification_sent", json!(1)).field,
        "notification_sent"
    );
    assert_eq!(
        rejected(seed_record(), "restock_status", json!(1)).field,
        "restock_status"
    );
}

#[test]
fn event_id_must_be_a_uuid_when_present() {
    let err = rejected(seed_record(), "event_id", json!("abc"));
    assert_eq!(err.field, "event_id");
    let mut record = seed_record();
    record["event_id"] = json!("6F9619FF-8B86-D011-B42D-00C04FC964FF");
    let r = Reading::from_json_value(&record).unwrap();
    assert_eq!(
        r.event_id.as_deref(),
        Some("6f9619ff-8b86-d011-b42d-00c04fc964ff")
    );
}

#[test]
fn non_objects_and_bad_json_are_rejected_as_records() {
    assert_eq!(Reading::from_json_str("[1,2]").unwrap_err().field, "record");
    let err = Reading::from_json_str("{\"store_id\": ").unwrap_err();
    assert_eq!(err.field, "record");
    assert!(err.reason.contains("not valid JSON"));
}

#[test]
fn low_is_strictly_below_the_reorder_point() {
    let mut record = seed_record();
    record["current_stock"] = json!(10);
    assert!(!Reading::from_json_value(&record).unwrap().is_low());
    record["current_stock"] = json!(9);
    assert!(Reading::from_json_value(&record).unwrap().is_low());
}

#[test]
fn derived_event_id_is_deterministic_and_kept_when_given() {
    let mut a = Reading::from_json_value(&seed_record()).unwrap();
    let mut b = a.clone();
    a.ensure_event_id();
    b.ensure_event_id();
    assert_eq!(a.event_id, b.event_id);
    let mut c = a.clone();
    c.current_stock += 1;
    c.event_id = None;
    c.ensure_event_id();
    assert_ne!(a.event_id, c.event_id);
    let kept = a.event_id.clone();
    a.ensure_event_id();
    assert_eq!(a.event_id, kept);
}
