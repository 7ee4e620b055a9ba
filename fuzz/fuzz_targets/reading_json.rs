//! One record as the door reads it: a decision, never a panic; an accepted reading keeps every
//! limit, and the typed fast path agrees with the general path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_model::Reading;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decided = Reading::from_json_str(text);
    if let Ok(r) = &decided {
        for t in [&r.store_id, &r.product_id, &r.product_name, &r.restock_status] {
            assert!(!t.chars().any(char::is_control));
        }
        assert!(r.current_stock >= 0 && r.threshold_level >= 0);
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text.trim_start_matches('\u{feff}'))
    {
        let general = Reading::from_json_value(&value);
        if let (Ok(a), Ok(b)) = (&decided, &general) {
            assert_eq!(a, b);
        }
    }
});
