//! A queue message body, as the truck app reads it: an alert it accepts or a reason, and an
//! accepted alert's id is a canonical UUID (it names ledger objects).
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_model::Alert;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(alert) = serde_json::from_str::<Alert>(text)
        && alert.check_received().is_ok()
    {
        assert_eq!(alert.alert_id.len(), 36);
        assert!(!alert.alert_id.contains('/') && !alert.store_id.chars().any(char::is_control));
    }
});
