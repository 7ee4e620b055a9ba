//! Reading the ordering keys of a batch, and of a state.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, LargeStringArray, StringArray, StringViewArray,
    StructArray,
};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, exec_err};

/// Reads the keys of a batch of any supported key type: the integer part of every row, and the
/// text part only where integer parts tie.
pub(super) enum KeyColumn<'a> {
    Int(&'a Int64Array),
    Text(TextColumn<'a>),
    /// A `row(BIGINT, string)`: the struct, its integers and its texts.
    Pair(&'a Int64Array, TextColumn<'a>, &'a StructArray),
    /// A state's keys: integers (null where the group had no candidate) and texts.
    Split(&'a Int64Array, TextColumn<'a>),
}

pub(super) enum TextColumn<'a> {
    Utf8(&'a StringArray),
    View(&'a StringViewArray),
    Large(&'a LargeStringArray),
}

impl<'a> TextColumn<'a> {
    pub(super) fn new(array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Self::Large(array.as_string::<i64>()),
            DataType::Utf8View => Self::View(array.as_string_view()),
            other => return exec_err!("max_by: unsupported text key {other}"),
        })
    }
    pub(super) fn is_valid(&self, i: usize) -> bool {
        match self {
            Self::Utf8(a) => a.is_valid(i),
            Self::Large(a) => a.is_valid(i),
            Self::View(a) => a.is_valid(i),
        }
    }
    pub(super) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Self::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

impl<'a> KeyColumn<'a> {
    pub(super) fn new(array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Int64 => Self::Int(array.as_primitive::<Int64Type>()),
            DataType::Struct(_) => {
                let s = array.as_struct();
                let (ints, texts) = (s.column(0), s.column(1));
                // Trino refuses to compare rows with a null field, so a query that lets one
                // reach the aggregate fails on Athena: fail here too, or local tests miss it.
                if ints.null_count() + texts.null_count() > 0
                    && (0..s.len()).any(|i| s.is_valid(i) && (ints.is_null(i) || texts.is_null(i)))
                {
                    return exec_err!(
                        "ROW comparison not supported for fields with null elements (a key of max_by or min_by has a null field: leave such rows out before aggregating)"
                    );
                }
                Self::Pair(ints.as_primitive::<Int64Type>(), TextColumn::new(texts)?, s)
            }
            _ => Self::Text(TextColumn::new(array)?),
        })
    }

    /// The column of text parts of `array`'s keys, which a held batch keeps for ties.
    pub(super) fn texts_of(array: &ArrayRef) -> Option<ArrayRef> {
        match array.data_type() {
            DataType::Int64 => None,
            DataType::Struct(_) => Some(Arc::clone(array.as_struct().column(1))),
            _ => Some(Arc::clone(array)),
        }
    }

    /// The integer part of row `i`'s key (`i64::MIN` for a text key), or `None` when the row has
    /// no key and is ignored.
    pub(super) fn int(&self, i: usize) -> Option<i64> {
        match self {
            Self::Int(a) | Self::Split(a, _) => a.is_valid(i).then(|| a.value(i)),
            Self::Text(t) => t.is_valid(i).then_some(i64::MIN),
            Self::Pair(ints, _, s) => s.is_valid(i).then(|| ints.value(i)),
        }
    }

    /// The text part of row `i`'s key ("" for an integer key).
    pub(super) fn text(&self, i: usize) -> &'a str {
        match self {
            Self::Int(_) => "",
            Self::Text(t) | Self::Pair(_, t, _) | Self::Split(_, t) => t.get(i).unwrap_or(""),
        }
    }
}
