//! StoreApp: streams store stock readings into the lake.
//!
//! - [`simulate`]: stores selling products, their stock falling with every sale, as readings.
//! - [`input`]: readings from NDJSON or CSV files (a POS or ERP export, or the seed's records),
//!   each line validated; a bad line is reported with its line number and reason and kept in a
//!   reject file, and the good lines are still sent.

pub mod input;
pub mod simulate;
