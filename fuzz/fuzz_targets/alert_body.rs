//! A queue message body, as the truck app reads it: an alert it accepts or a reason, and an
//! accepted alert's id is a canonical UUID (it names ledger objects), its ids print as what
//! they are, and its quantity is within the bound (so cutting it into truckloads is bounded).
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_model::Alert;
use store_model::routing::{Demand, MAX_PIECES_PER_DEMAND, split_demand};
use store_model::text::{Field, refused_char};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(alert) = serde_json::from_str::<Alert>(text)
        && alert.check_received().is_ok()
    {
        assert_eq!(alert.alert_id.len(), 36);
        assert!(!alert.alert_id.contains('/'));
        assert_eq!(refused_char(&alert.store_id, Field::Id), None);
        assert_eq!(refused_char(&alert.product_name, Field::Text), None);
        assert!((1..=store_model::policy::MAX_ORDER_QTY_LIMIT).contains(&alert.restock_qty));
        let demand = Demand {
            demand_id: alert.alert_id.clone(),
            store_id: alert.store_id.clone(),
            quantity: alert.restock_qty,
            dispatched_pieces: Vec::new(),
        };
        if let Ok(pieces) = split_demand(&demand, 7) {
            assert!(pieces.len() as i64 <= MAX_PIECES_PER_DEMAND);
            assert_eq!(pieces.iter().map(|p| p.quantity).sum::<i64>(), alert.restock_qty);
        }
    }
});
