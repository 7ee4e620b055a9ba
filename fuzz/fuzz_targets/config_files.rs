//! The fleet, stores and policy files from any text: a file or an error naming it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_model::config::ConfigFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = store_model::Fleet::from_toml(text, "fleet.toml");
        let _ = store_model::Stores::from_toml(text, "stores.toml");
        let _ = store_model::planning::ReorderPolicy::from_toml(text, "policy.toml");
    }
});
