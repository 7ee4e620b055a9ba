//! The readings table schema in Arrow terms: the Glue table's columns, declared once.
//!
//! `int` columns are Arrow `Int32` and `bigint` is `Int64`, as Firehose's Parquet conversion writes
//! them from the Glue table; every column is nullable so objects from other writers still load and
//! the planning SQL (not the reader) decides what a usable row is.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use store_model::Reading;
use store_model::schema::{ColumnType, READING_COLUMNS};

/// The columns of the readings table ([`READING_COLUMNS`]), without the `dt` partition.
pub fn reading_schema() -> SchemaRef {
    let fields: Vec<Field> = READING_COLUMNS
        .iter()
        .map(|(name, ty)| {
            let ty = match ty {
                ColumnType::String => DataType::Utf8,
                ColumnType::Int => DataType::Int32,
                ColumnType::BigInt => DataType::Int64,
                ColumnType::Boolean => DataType::Boolean,
                ColumnType::Double => DataType::Float64,
            };
            Field::new(*name, ty, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Readings as one Arrow record batch.
pub fn readings_to_batch(readings: &[Reading]) -> Result<RecordBatch, ArrowError> {
    fn text<'a>(f: impl Fn(&'a Reading) -> Option<&'a str>, rs: &'a [Reading]) -> ArrayRef {
        Arc::new(rs.iter().map(f).collect::<StringArray>())
    }
    let columns: Vec<ArrayRef> = vec![
        text(|r| Some(r.store_id.as_str()), readings),
        text(|r| Some(r.product_id.as_str()), readings),
        text(|r| Some(r.product_name.as_str()), readings),
        Arc::new(
            readings
                .iter()
                .map(|r| Some(r.current_stock))
                .collect::<Int32Array>(),
        ),
        Arc::new(
            readings
                .iter()
                .map(|r| Some(r.threshold_level))
                .collect::<Int32Array>(),
        ),
        Arc::new(
            readings
                .iter()
                .map(|r| Some(r.is_stock_low))
                .collect::<BooleanArray>(),
        ),
        Arc::new(
            readings
                .iter()
                .map(|r| Some(r.check_timestamp))
                .collect::<Int64Array>(),
        ),
        Arc::new(
            readings
                .iter()
                .map(|r| Some(r.notification_sent))
                .collect::<BooleanArray>(),
        ),
        text(|r| Some(r.restock_status.as_str()), readings),
        text(|r| r.event_id.as_deref(), readings),
        Arc::new(readings.iter().map(|r| r.max_stock).collect::<Int32Array>()),
    ];
    RecordBatch::try_new(reading_schema(), columns)
}
