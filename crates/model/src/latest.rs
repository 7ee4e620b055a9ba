//! The latest reading of each store and product in a planning window: the one row type the
//! planning SQL returns on both engines and the rules read. Depends on `forecast` only.

use serde::{Deserialize, Serialize};

/// The latest reading of one store and product in the window, as the planning SQL returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestReading {
    /// Store id.
    pub store_id: String,
    /// Product id.
    pub product_id: String,
    /// Product name of the latest reading.
    pub product_name: String,
    /// Stock of the latest reading.
    pub current_stock: i64,
    /// Reorder point of the latest reading.
    pub threshold_level: i64,
    /// Order-up-to level of the latest reading, if it carried one.
    pub max_stock: Option<i64>,
    /// Event time of the latest reading.
    pub check_timestamp: i64,
    /// Event id of the latest reading, if it carried one.
    pub event_id: Option<String>,
    /// How many readings of this store and product the window held.
    pub readings: u64,
    /// Stock of the earliest reading in the window (for the sales velocity).
    pub first_stock: i64,
    /// Event time of the earliest reading in the window.
    pub first_timestamp: i64,
    /// The shelf's demand state from the snapshot, when the run planned over one that holds
    /// the shelf (a full scan of the window has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand: Option<crate::forecast::DemandState>,
}
