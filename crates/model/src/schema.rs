//! The tables' columns as the Glue catalog, the Arrow schemas and the Parquet files name them:
//! the readings table and the snapshot table. Depends on nothing in the crate.

/// The type of a readings table column, as the Glue catalog names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `string`
    String,
    /// `int` (32 bits)
    Int,
    /// `bigint` (64 bits)
    BigInt,
    /// `boolean`
    Boolean,
    /// `double` (64-bit floating point)
    Double,
}

impl ColumnType {
    /// The Glue (Hive) type name.
    pub fn glue_name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::BigInt => "bigint",
            Self::Boolean => "boolean",
            Self::Double => "double",
        }
    }
}

/// The readings table's columns, in order, without the `dt` partition: the seed's keys, then
/// `event_id` and `max_stock`. The Glue table, the Arrow schema and the Parquet files follow this.
pub const READING_COLUMNS: [(&str, ColumnType); 11] = [
    ("store_id", ColumnType::String),
    ("product_id", ColumnType::String),
    ("product_name", ColumnType::String),
    ("current_stock", ColumnType::Int),
    ("threshold_level", ColumnType::Int),
    ("is_stock_low", ColumnType::Boolean),
    ("check_timestamp", ColumnType::BigInt),
    ("notification_sent", ColumnType::Boolean),
    ("restock_status", ColumnType::String),
    ("event_id", ColumnType::String),
    ("max_stock", ColumnType::Int),
];

/// The snapshot's columns, in order: what the compaction SQL writes (the latest reading, the
/// readings folded, and the shelf's demand state: see [`crate::forecast::DemandState`]).
pub const SNAPSHOT_COLUMNS: [(&str, ColumnType); 13] = [
    ("store_id", ColumnType::String),
    ("product_id", ColumnType::String),
    ("product_name", ColumnType::String),
    ("current_stock", ColumnType::Int),
    ("threshold_level", ColumnType::Int),
    ("max_stock", ColumnType::Int),
    ("check_timestamp", ColumnType::BigInt),
    ("event_id", ColumnType::String),
    ("folded", ColumnType::BigInt),
    ("fc_at", ColumnType::BigInt),
    ("fc_units", ColumnType::Double),
    ("fc_squares", ColumnType::Double),
    ("fc_hours", ColumnType::Double),
];
