//! `max_by(value, key)`: the value of the row with the greatest key, as Trino (Athena) has it;
//! `min_by(value, key)`, the same with the least key.
//!
//! DataFusion 55 has neither; ranking rows with `row_number()` makes it sort every row. This
//! aggregate keeps one candidate per group instead, with a [`GroupsAccumulator`], so the planning
//! SQL is the same text on both engines and runs in one pass without a sort.
//!
//! The key is an `BIGINT`, a string, or a `row(BIGINT, string)` (event time, then event id), which
//! is how the planning SQL orders readings. Rows with a null key are ignored; a null value is a
//! value like any other; a row key with a null field is an error (all as in Trino, so a query
//! that would fail on Athena fails here too).

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, StringArray, StringViewArray,
    StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int32Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The `max_by` aggregate, ready to register.
pub fn max_by_udaf() -> AggregateUDF {
    AggregateUDF::from(MaxBy::new(Ordering::Greater))
}

/// The `min_by` aggregate (the value of the row with the least key), ready to register.
pub fn min_by_udaf() -> AggregateUDF {
    AggregateUDF::from(MaxBy::new(Ordering::Less))
}

/// `max_by`, or `min_by` when `wins` is `Less`: a row's key replaces the candidate's when it
/// compares to it as `wins`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MaxBy {
    signature: Signature,
    wins: Ordering,
}

impl MaxBy {
    fn new(wins: Ordering) -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
            wins,
        }
    }
}

fn check_key_type(key: &DataType) -> Result<()> {
    let stringy =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
    match key {
        DataType::Int64 => Ok(()),
        t if stringy(t) => Ok(()),
        DataType::Struct(fields)
            if fields.len() == 2
                && fields[0].data_type() == &DataType::Int64
                && stringy(fields[1].data_type()) =>
        {
            Ok(())
        }
        other => plan_err!(
            "max_by: the key must be BIGINT, a string, or row(BIGINT, string); got {other}"
        ),
    }
}

fn state_fields_for(name: &str, value: &DataType) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(format!("{name}[value]"), value.clone(), true)),
        Arc::new(Field::new(
            format!("{name}[key_int]"),
            DataType::Int64,
            true,
        )),
        Arc::new(Field::new(
            format!("{name}[key_text]"),
            DataType::Utf8,
            true,
        )),
    ]
}

impl AggregateUDFImpl for MaxBy {
    fn name(&self) -> &str {
        if self.wins == Ordering::Less {
            "min_by"
        } else {
            "max_by"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_key_type(&arg_types[1])?;
        Ok(arg_types[0].clone())
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleMaxBy(MaxByGroups::new(
            args.return_type(),
            self.wins,
        )?)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields_for(args.name, args.return_field.data_type()))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(MaxByGroups::new(args.return_type(), self.wins)?))
    }
}

/// The ordering key of one row, normalised to (integer part, text part).
type Key<'a> = (i64, &'a str);

/// Reads keys out of an array of any supported key type.
enum KeyColumn<'a> {
    Int(&'a Int64Array),
    Text(TextColumn<'a>),
    Pair(&'a Int64Array, TextColumn<'a>, &'a StructArray),
}

enum TextColumn<'a> {
    Utf8(&'a StringArray),
    View(&'a StringViewArray),
    Large(&'a datafusion::arrow::array::LargeStringArray),
}

impl<'a> TextColumn<'a> {
    fn new(array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Self::Large(array.as_string::<i64>()),
            DataType::Utf8View => Self::View(array.as_string_view()),
            other => return exec_err!("max_by: unsupported text key {other}"),
        })
    }
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Self::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

impl<'a> KeyColumn<'a> {
    fn new(array: &'a ArrayRef) -> Result<Self> {
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
    fn get(&self, i: usize) -> Option<Key<'a>> {
        match self {
            Self::Int(a) => a.is_valid(i).then(|| (a.value(i), "")),
            Self::Text(t) => t.get(i).map(|s| (i64::MIN, s)),
            Self::Pair(ints, texts, s) => {
                if s.is_null(i) {
                    return None;
                }
                Some((ints.value(i), texts.get(i).unwrap_or("")))
            }
        }
    }
}

/// A batch's value column, typed like [`Values`].
enum ValueColumn<'a> {
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    Text(TextColumn<'a>),
    Struct(Vec<ValueColumn<'a>>),
    Any(&'a ArrayRef),
}

/// The winning values, one per group, typed for the common column types.
enum Values {
    Int32(Vec<Option<i32>>),
    Int64(Vec<Option<i64>>),
    Text {
        view: bool,
        values: Vec<Option<String>>,
    },
    /// The values of several aggregates fused into one ([`crate::fuse`]): a struct whose
    /// fields are kept like any other value; a group without a candidate is a null struct.
    Struct {
        fields: Fields,
        children: Vec<Values>,
        valid: Vec<bool>,
    },
    Scalar {
        data_type: DataType,
        values: Vec<ScalarValue>,
    },
}

impl Values {
    fn new(data_type: &DataType) -> Result<Self> {
        Ok(match data_type {
            DataType::Int32 => Self::Int32(Vec::new()),
            DataType::Int64 => Self::Int64(Vec::new()),
            DataType::Utf8 => Self::Text {
                view: false,
                values: Vec::new(),
            },
            DataType::Utf8View => Self::Text {
                view: true,
                values: Vec::new(),
            },
            DataType::Struct(fields) => Self::Struct {
                fields: fields.clone(),
                children: fields
                    .iter()
                    .map(|f| Self::new(f.data_type()))
                    .collect::<Result<_>>()?,
                valid: Vec::new(),
            },
            other => Self::Scalar {
                data_type: other.clone(),
                values: Vec::new(),
            },
        })
    }

    fn resize(&mut self, n: usize) -> Result<()> {
        match self {
            Self::Int32(v) => v.resize(n, None),
            Self::Int64(v) => v.resize(n, None),
            Self::Text { values, .. } => values.resize(n, None),
            Self::Struct {
                children, valid, ..
            } => {
                for c in children {
                    c.resize(n)?;
                }
                valid.resize(n, false);
            }
            Self::Scalar { data_type, values } => {
                values.resize(n, ScalarValue::try_from(&*data_type)?)
            }
        }
        Ok(())
    }

    /// Typed access to a batch's value column, made once per batch.
    fn column<'a>(&self, array: &'a ArrayRef) -> Result<ValueColumn<'a>> {
        Ok(match self {
            Self::Int32(_) => ValueColumn::Int32(array.as_primitive::<Int32Type>()),
            Self::Int64(_) => ValueColumn::Int64(array.as_primitive::<Int64Type>()),
            Self::Text { .. } => ValueColumn::Text(TextColumn::new(array)?),
            Self::Struct { children, .. } => {
                let array = array.as_struct();
                ValueColumn::Struct(
                    children
                        .iter()
                        .zip(array.columns())
                        .map(|(c, a)| c.column(a))
                        .collect::<Result<_>>()?,
                )
            }
            Self::Scalar { .. } => ValueColumn::Any(array),
        })
    }

    fn set(&mut self, group: usize, column: &ValueColumn<'_>, row: usize) -> Result<()> {
        match (self, column) {
            (Self::Int32(v), ValueColumn::Int32(a)) => {
                v[group] = a.is_valid(row).then(|| a.value(row));
            }
            (Self::Int64(v), ValueColumn::Int64(a)) => {
                v[group] = a.is_valid(row).then(|| a.value(row));
            }
            (Self::Text { values, .. }, ValueColumn::Text(t)) => {
                match (&mut values[group], t.get(row)) {
                    (Some(slot), Some(t)) => {
                        slot.clear();
                        slot.push_str(t);
                    }
                    (slot, t) => *slot = t.map(str::to_owned),
                }
            }
            (
                Self::Struct {
                    children, valid, ..
                },
                ValueColumn::Struct(columns),
            ) => {
                for (c, column) in children.iter_mut().zip(columns) {
                    c.set(group, column, row)?;
                }
                valid[group] = true;
            }
            (Self::Scalar { values, .. }, ValueColumn::Any(array)) => {
                values[group] = ScalarValue::try_from_array(array, row)?
            }
            _ => return exec_err!("max_by: the value column changed type"),
        }
        Ok(())
    }

    fn emit(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(match self {
            Self::Int32(v) => Arc::new(Int32Array::from(emit_to.take_needed(v))),
            Self::Int64(v) => Arc::new(Int64Array::from(emit_to.take_needed(v))),
            Self::Text {
                view: false,
                values,
            } => Arc::new(StringArray::from_iter(emit_to.take_needed(values))),
            Self::Text { view: true, values } => {
                Arc::new(StringViewArray::from_iter(emit_to.take_needed(values)))
            }
            Self::Struct {
                fields,
                children,
                valid,
            } => {
                let arrays = children
                    .iter_mut()
                    .map(|c| c.emit(emit_to))
                    .collect::<Result<Vec<_>>>()?;
                let nulls = NullBuffer::from(emit_to.take_needed(valid));
                Arc::new(StructArray::try_new(fields.clone(), arrays, Some(nulls))?)
            }
            Self::Scalar { data_type, values } => {
                let taken = emit_to.take_needed(values);
                if taken.is_empty() {
                    datafusion::arrow::array::new_empty_array(data_type)
                } else {
                    ScalarValue::iter_to_array(taken)?
                }
            }
        })
    }

    fn size(&self) -> usize {
        match self {
            Self::Int32(v) => v.capacity() * size_of::<Option<i32>>(),
            Self::Int64(v) => v.capacity() * size_of::<Option<i64>>(),
            Self::Text { values, .. } => {
                values.capacity() * size_of::<Option<String>>()
                    + values.iter().flatten().map(String::capacity).sum::<usize>()
            }
            Self::Struct {
                children, valid, ..
            } => valid.capacity() + children.iter().map(Values::size).sum::<usize>(),
            Self::Scalar { values, .. } => values.iter().map(ScalarValue::size).sum(),
        }
    }
}

/// One candidate per group: the greatest key seen and the value of its row.
struct MaxByGroups {
    keys: Vec<Option<(i64, String)>>,
    values: Values,
    /// How a winning key compares to the candidate's.
    wins: Ordering,
}

impl MaxByGroups {
    fn new(value_type: &DataType, wins: Ordering) -> Result<Self> {
        Ok(Self {
            keys: Vec::new(),
            values: Values::new(value_type)?,
            wins,
        })
    }

    fn ensure(&mut self, total_num_groups: usize) -> Result<()> {
        if self.keys.len() < total_num_groups {
            self.keys.resize(total_num_groups, None);
            self.values.resize(total_num_groups)?;
        }
        Ok(())
    }

    fn offer(
        &mut self,
        group: usize,
        key: Key<'_>,
        values: &ValueColumn<'_>,
        row: usize,
    ) -> Result<()> {
        let better = match &self.keys[group] {
            None => true,
            Some((int, text)) => (key.0, key.1).cmp(&(*int, text.as_str())) == self.wins,
        };
        if better {
            match &mut self.keys[group] {
                Some((int, text)) => {
                    *int = key.0;
                    text.clear();
                    text.push_str(key.1);
                }
                slot => *slot = Some((key.0, key.1.to_owned())),
            }
            self.values.set(group, values, row)?;
        }
        Ok(())
    }

    fn accumulate(
        &mut self,
        values: &ArrayRef,
        keys: KeyColumn<'_>,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let values = self.values.column(values)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            if let Some(key) = keys.get(row) {
                self.offer(group, key, &values, row)?;
            }
        }
        Ok(())
    }
}

impl GroupsAccumulator for MaxByGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.ensure(total_num_groups)?;
        let keys = KeyColumn::new(&values[1])?;
        self.accumulate(&values[0], keys, group_indices, opt_filter)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.ensure(total_num_groups)?;
        let ints = values[1].as_primitive::<Int64Type>();
        let texts = TextColumn::new(&values[2])?;
        let column = self.values.column(&values[0])?;
        for (row, &group) in group_indices.iter().enumerate() {
            if ints.is_null(row) {
                continue;
            }
            let key = (ints.value(row), texts.get(row).unwrap_or(""));
            self.offer(group, key, &column, row)?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        emit_to.take_needed(&mut self.keys);
        self.values.emit(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let keys = emit_to.take_needed(&mut self.keys);
        let ints: Int64Array = keys.iter().map(|k| k.as_ref().map(|(i, _)| *i)).collect();
        let texts: StringArray = keys
            .iter()
            .map(|k| k.as_ref().map(|(_, t)| t.as_str()))
            .collect();
        Ok(vec![
            self.values.emit(emit_to)?,
            Arc::new(ints),
            Arc::new(texts),
        ])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let keys = KeyColumn::new(&values[1])?;
        let mut ints = Vec::with_capacity(values[0].len());
        let mut texts = Vec::with_capacity(values[0].len());
        for row in 0..values[0].len() {
            let kept = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            let key = if kept { keys.get(row) } else { None };
            ints.push(key.map(|k| k.0));
            texts.push(key.map(|k| k.1));
        }
        Ok(vec![
            Arc::clone(&values[0]),
            Arc::new(Int64Array::from(ints)),
            Arc::new(StringArray::from(texts)),
        ])
    }

    fn size(&self) -> usize {
        self.keys.capacity() * size_of::<Option<(i64, String)>>()
            + self
                .keys
                .iter()
                .flatten()
                .map(|(_, t)| t.capacity())
                .sum::<usize>()
            + self.values.size()
    }
}

/// The same logic for an aggregate without GROUP BY: one group.
struct SingleMaxBy(MaxByGroups);

impl std::fmt::Debug for SingleMaxBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SingleMaxBy")
    }
}

impl Accumulator for SingleMaxBy {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0
            .update_batch(values, &vec![0; values[0].len()], None, 1)
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.0.merge_batch(states, &vec![0; states[0].len()], 1)
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.ensure(1)?;
        let array = self.0.values.emit(EmitTo::All)?;
        self.0.values.resize(1)?;
        ScalarValue::try_from_array(&array, 0)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.ensure(1)?;
        let keys = self.0.keys.clone();
        let arrays = self.0.state(EmitTo::All)?;
        self.0.keys = keys;
        self.0.values.resize(1)?;
        arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }
    fn size(&self) -> usize {
        size_of::<Self>() + self.0.size()
    }
}

#[cfg(test)]
pub(crate) mod tests;
