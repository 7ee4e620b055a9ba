//! The planning SQL's result rows, typed by column name.

use std::collections::HashMap;

use aws_sdk_athena::types::Row;
use store_model::forecast::DemandState;
use store_model::planning::LatestReading;
use store_model::ports::{ErrorKind, PortError};

use super::OPERATION;

/// Columns of the planning SQL's result, in any order.
pub(super) const COLUMNS: [&str; 11] = [
    "store_id",
    "product_id",
    "product_name",
    "current_stock",
    "threshold_level",
    "max_stock",
    "check_timestamp",
    "event_id",
    "readings",
    "first_stock",
    "first_timestamp",
];

/// Types rows of the planning SQL's result by column name.
pub struct ResultTyping {
    index: HashMap<String, usize>,
}

impl ResultTyping {
    /// Checks that the result has every planning column.
    pub fn new(column_names: &[String]) -> Result<Self, PortError> {
        let index: HashMap<String, usize> = column_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_ascii_lowercase(), i))
            .collect();
        if let Some(missing) = COLUMNS.iter().find(|c| !index.contains_key(**c)) {
            return Err(PortError::new(
                ErrorKind::Permanent,
                OPERATION,
                format!("the result lacks column `{missing}`"),
            ));
        }
        Ok(Self { index })
    }

    /// Whether a row is the header row Athena puts first in a SELECT's first page.
    pub fn is_header(&self, row: &Row) -> bool {
        COLUMNS.iter().all(|c| {
            row.data()
                .get(self.index[*c])
                .and_then(|d| d.var_char_value())
                .is_some_and(|v| v.eq_ignore_ascii_case(c))
        })
    }

    fn text<'r>(&self, row: &'r Row, column: &str) -> Option<&'r str> {
        row.data()
            .get(self.index[column])
            .and_then(|d| d.var_char_value())
    }

    fn int(&self, row: &Row, column: &str, n: usize) -> Result<Option<i64>, PortError> {
        self.text(row, column)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    PortError::new(
                        ErrorKind::Permanent,
                        OPERATION,
                        format!("row {n}: column `{column}` is {v:?}, not an integer"),
                    )
                })
            })
            .transpose()
    }

    fn required_int(&self, row: &Row, column: &str, n: usize) -> Result<i64, PortError> {
        self.int(row, column, n)?.ok_or_else(|| {
            PortError::new(
                ErrorKind::Permanent,
                OPERATION,
                format!("row {n}: column `{column}` is null"),
            )
        })
    }

    /// Types one data row.
    pub fn latest(&self, row: &Row, n: usize) -> Result<LatestReading, PortError> {
        let required_text = |column: &str| {
            self.text(row, column).map(str::to_owned).ok_or_else(|| {
                PortError::new(
                    ErrorKind::Permanent,
                    OPERATION,
                    format!("row {n}: column `{column}` is null"),
                )
            })
        };
        Ok(LatestReading {
            store_id: required_text("store_id")?,
            product_id: required_text("product_id")?,
            product_name: self
                .text(row, "product_name")
                .unwrap_or_default()
                .to_owned(),
            current_stock: self.required_int(row, "current_stock", n)?,
            threshold_level: self.required_int(row, "threshold_level", n)?,
            max_stock: self.int(row, "max_stock", n)?,
            check_timestamp: self.required_int(row, "check_timestamp", n)?,
            event_id: self
                .text(row, "event_id")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            readings: self.required_int(row, "readings", n)?.max(0) as u64,
            first_stock: self.required_int(row, "first_stock", n)?,
            first_timestamp: self.required_int(row, "first_timestamp", n)?,
            demand: self.demand(row, n)?,
        })
    }

    /// The shelf's demand state, when the result has its columns (an incremental run's) and
    /// the row holds one.
    fn demand(&self, row: &Row, n: usize) -> Result<Option<DemandState>, PortError> {
        let value = |column: &str| {
            self.index
                .get(column)
                .and_then(|i| row.data().get(*i))
                .and_then(|d| d.var_char_value())
                .filter(|v| !v.is_empty())
        };
        let bad = |column: &str, v: &str| {
            PortError::new(
                ErrorKind::Permanent,
                OPERATION,
                format!("row {n}: column `{column}` is {v:?}, not a demand figure"),
            )
        };
        let Some(at) = value("fc_at") else {
            return Ok(None);
        };
        let at = at.parse::<i64>().map_err(|_| bad("fc_at", at))?;
        let mut figures = [0.0; 3];
        for (slot, column) in figures
            .iter_mut()
            .zip(["fc_units", "fc_squares", "fc_hours"])
        {
            let v = value(column).unwrap_or("");
            *slot = v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| bad(column, v))?;
        }
        let [units, squares, hours] = figures;
        Ok(Some(DemandState {
            at,
            units,
            squares,
            hours,
        }))
    }
}
