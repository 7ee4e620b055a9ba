//! A planning event from any text: an event or an error, never a panic; an accepted event
//! names no key twice (a repeated `dry_run` must never turn a dry run real).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && store_model::PlanningEvent::from_json(text).is_ok()
    {
        assert!(store_model::text::repeated_keys(text).is_empty());
    }
});
