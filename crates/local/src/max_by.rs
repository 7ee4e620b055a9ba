//! `max_by(value, key)`: the value of the row with the greatest key, as Trino (Athena) has it;
//! `min_by(value, key)`, the same with the least key.
//!
//! DataFusion 55 has neither; ranking rows with `row_number()` makes it sort every row. This
//! aggregate keeps one candidate per group instead, with a [`GroupsAccumulator`], so the planning
//! SQL is the same text on both engines and runs in one pass without a sort. A winning row's
//! values are not copied when it wins: its batch is held until no candidate is in it (see
//! `MaxByGroups`), so time-ordered readings, where nearly every row wins, cost a comparison of
//! integers per row.
//!
//! The key is an `BIGINT`, a string, or a `row(BIGINT, string)` (event time, then event id), which
//! is how the planning SQL orders readings. Rows with a null key are ignored; a null value is a
//! value like any other; a row key with a null field is an error (all as in Trino, so a query
//! that would fail on Athena fails here too).

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray, StructArray, new_null_array,
};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use keys::{KeyColumn, TextColumn};

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

/// The `batch` of a group without a candidate.
const NO_BATCH: u32 = u32::MAX;

/// A group's candidate: the integer part of its key, and where its row is held.
#[derive(Clone, Copy)]
struct Candidate {
    int: i64,
    batch: u32,
    row: u32,
}

impl Candidate {
    const NONE: Self = Self {
        int: 0,
        batch: NO_BATCH,
        row: 0,
    };
    fn is_some(self) -> bool {
        self.batch != NO_BATCH
    }
}

/// A batch holding some candidate's row: its values, the text parts of its keys (which break
/// ties), and how many candidates it holds.
struct Held {
    values: ArrayRef,
    texts: Option<ArrayRef>,
    refs: usize,
}

/// How many rows the held batches may have beyond twice the candidates before the candidates'
/// rows are copied into one batch and the rest let go.
const COMPACT_SLACK_ROWS: usize = 256 * 1024;

/// One candidate per group: the greatest key seen, and the row that has it.
///
/// A winning row is not copied: its batch is held, and let go when no candidate is in it any
/// more. Readings mostly arrive in time order, so nearly every row wins its group and the
/// batches before the latest few soon hold nothing. When the held batches grow well past the
/// candidates (old batches kept by a few groups that stopped reporting, or keys in no order),
/// the candidates' rows are copied into one batch ([`Self::compact`]); the values are copied
/// once at the end ([`Self::values`]).
struct MaxByGroups {
    candidates: Vec<Candidate>,
    held: Vec<Option<Held>>,
    free: Vec<u32>,
    held_rows: usize,
    /// How many groups have a candidate.
    live: usize,
    /// One null of the value type: the value of a group without a candidate.
    null: ArrayRef,
    /// How a winning key compares to the candidate's.
    wins: Ordering,
    /// [`COMPACT_SLACK_ROWS`], less in tests.
    compact_slack: usize,
}

impl MaxByGroups {
    fn new(value_type: &DataType, wins: Ordering) -> Result<Self> {
        Ok(Self {
            candidates: Vec::new(),
            held: Vec::new(),
            free: Vec::new(),
            held_rows: 0,
            live: 0,
            null: new_null_array(value_type, 1),
            wins,
            compact_slack: COMPACT_SLACK_ROWS,
        })
    }

    fn ensure(&mut self, total_num_groups: usize) {
        if self.candidates.len() < total_num_groups {
            self.candidates.resize(total_num_groups, Candidate::NONE);
        }
    }

    fn hold(&mut self, values: ArrayRef, texts: Option<ArrayRef>) -> Result<u32> {
        let rows = values.len();
        if u32::try_from(rows).is_err() {
            return exec_err!("max_by: a batch of {rows} rows is more than it can hold");
        }
        self.held_rows += rows;
        let held = Some(Held {
            values,
            texts,
            refs: 0,
        });
        Ok(match self.free.pop() {
            Some(slot) => {
                self.held[slot as usize] = held;
                slot
            }
            None => {
                self.held.push(held);
                u32::try_from(self.held.len() - 1).expect("fewer batches than rows")
            }
        })
    }

    fn held(&mut self, slot: u32) -> &mut Held {
        self.held[slot as usize]
            .as_mut()
            .expect("a candidate's batch is held")
    }

    fn release(&mut self, slot: u32) {
        if let Some(held) = self.held[slot as usize].take() {
            self.held_rows -= held.values.len();
            self.free.push(slot);
        }
    }

    /// A candidate leaves its batch, which goes when it holds no other.
    fn unref(&mut self, slot: u32) {
        let held = self.held(slot);
        held.refs -= 1;
        if held.refs == 0 {
            self.release(slot);
        }
    }

    /// The text part of a candidate's key.
    fn held_text(&self, candidate: Candidate) -> Result<&str> {
        let held = self.held[candidate.batch as usize].as_ref();
        Ok(match held.and_then(|h| h.texts.as_ref()) {
            Some(texts) => TextColumn::new(texts)?
                .get(candidate.row as usize)
                .unwrap_or(""),
            None => "",
        })
    }

    fn offer(
        &mut self,
        group: usize,
        int: i64,
        keys: &KeyColumn<'_>,
        row: usize,
        slot: u32,
    ) -> Result<()> {
        let current = self.candidates[group];
        let better = !current.is_some()
            || match int.cmp(&current.int) {
                Ordering::Equal => keys.text(row).cmp(self.held_text(current)?) == self.wins,
                order => order == self.wins,
            };
        if better {
            self.held(slot).refs += 1;
            if current.is_some() {
                self.unref(current.batch);
            } else {
                self.live += 1;
            }
            let row = u32::try_from(row).expect("held batches have u32 rows");
            self.candidates[group] = Candidate {
                int,
                batch: slot,
                row,
            };
        }
        Ok(())
    }

    fn accumulate(
        &mut self,
        values: &ArrayRef,
        keys: &KeyColumn<'_>,
        texts: Option<ArrayRef>,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let slot = self.hold(Arc::clone(values), texts)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            if let Some(int) = keys.int(row) {
                self.offer(group, int, keys, row, slot)?;
            }
        }
        if self.held(slot).refs == 0 {
            self.release(slot);
        }
        if self.held_rows > 2 * self.live + self.compact_slack {
            self.compact()?;
        }
        Ok(())
    }

    /// Copies the candidates' rows out of the batches that are less than half candidates into
    /// one new batch, and lets those go: the held rows are then at most twice the candidates.
    fn compact(&mut self) -> Result<()> {
        let sparse: Vec<bool> = self
            .held
            .iter()
            .map(|h| h.as_ref().is_some_and(|h| h.refs * 2 < h.values.len()))
            .collect();
        let moved: Vec<usize> = (self.candidates.iter().enumerate())
            .filter(|(_, c)| c.is_some() && sparse[c.batch as usize])
            .map(|(group, _)| group)
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        let chosen: Vec<Candidate> = moved.iter().map(|&g| self.candidates[g]).collect();
        let values = self.values(&chosen)?;
        let keyed_by_text = self.held.iter().flatten().any(|h| h.texts.is_some());
        let texts = keyed_by_text.then(|| self.key_texts(&chosen)).transpose()?;
        for (slot, _) in sparse.iter().enumerate().filter(|(_, sparse)| **sparse) {
            self.release(u32::try_from(slot).expect("fewer batches than u32"));
        }
        let slot = self.hold(without_spare_buffers(values)?, texts)?;
        self.held(slot).refs = moved.len();
        for (row, group) in moved.into_iter().enumerate() {
            let candidate = &mut self.candidates[group];
            candidate.batch = slot;
            candidate.row = u32::try_from(row).expect("fewer groups than u32 rows");
        }
        Ok(())
    }

    /// The values of `chosen` candidates (null for no candidate).
    fn values(&self, chosen: &[Candidate]) -> Result<ArrayRef> {
        let mut sources: Vec<&dyn Array> = vec![self.null.as_ref()];
        let mut source_of = vec![0; self.held.len()];
        for (slot, held) in self.held.iter().enumerate() {
            if let Some(h) = held {
                source_of[slot] = sources.len();
                sources.push(h.values.as_ref());
            }
        }
        let indices: Vec<(usize, usize)> = chosen
            .iter()
            .map(|c| match c.is_some() {
                true => (source_of[c.batch as usize], c.row as usize),
                false => (0, 0),
            })
            .collect();
        Ok(interleave(&sources, &indices)?)
    }

    /// The text parts of `chosen` candidates' keys (null for no candidate).
    fn key_texts(&self, chosen: &[Candidate]) -> Result<ArrayRef> {
        let columns = (self.held.iter())
            .map(|h| h.as_ref().and_then(|h| h.texts.as_ref()))
            .map(|t| t.map(TextColumn::new).transpose())
            .collect::<Result<Vec<_>>>()?;
        let texts: StringArray = chosen
            .iter()
            .map(|c| {
                let column = columns.get(c.batch as usize).and_then(Option::as_ref);
                c.is_some()
                    .then(|| column.and_then(|t| t.get(c.row as usize)).unwrap_or(""))
            })
            .collect();
        Ok(Arc::new(texts))
    }

    /// The state of `chosen` candidates: values, key integers and key texts.
    fn state_of(&self, chosen: &[Candidate]) -> Result<[ArrayRef; 3]> {
        let ints: Int64Array = chosen
            .iter()
            .map(|c| c.is_some().then_some(c.int))
            .collect();
        Ok([
            self.values(chosen)?,
            Arc::new(ints),
            self.key_texts(chosen)?,
        ])
    }

    /// The groups `emit_to` names leave, with their candidates.
    fn leave(&mut self, emit_to: EmitTo) {
        for gone in emit_to.take_needed(&mut self.candidates) {
            if gone.is_some() {
                self.live -= 1;
                self.unref(gone.batch);
            }
        }
    }

    fn emitted(&self, emit_to: EmitTo) -> usize {
        match emit_to {
            EmitTo::All => self.candidates.len(),
            EmitTo::First(n) => n,
        }
    }
}

/// `array` without the buffers it shares with the rows it was taken from (a view array keeps
/// every buffer its rows came from).
fn without_spare_buffers(array: ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Utf8View => Arc::new(array.as_string_view().gc()),
        DataType::BinaryView => Arc::new(array.as_binary_view().gc()),
        DataType::Struct(_) => {
            let s = array.as_struct();
            let children = s
                .columns()
                .iter()
                .cloned()
                .map(without_spare_buffers)
                .collect::<Result<Vec<_>>>()?;
            Arc::new(StructArray::try_new(
                s.fields().clone(),
                children,
                s.nulls().cloned(),
            )?)
        }
        _ => array,
    })
}

impl GroupsAccumulator for MaxByGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.ensure(total_num_groups);
        let keys = KeyColumn::new(&values[1])?;
        let texts = KeyColumn::texts_of(&values[1]);
        self.accumulate(&values[0], &keys, texts, group_indices, opt_filter)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.ensure(total_num_groups);
        let ints = values[1].as_primitive::<Int64Type>();
        let keys = KeyColumn::Split(ints, TextColumn::new(&values[2])?);
        let texts = Some(Arc::clone(&values[2]));
        self.accumulate(&values[0], &keys, texts, group_indices, None)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let values = self.values(&self.candidates[..self.emitted(emit_to)])?;
        self.leave(emit_to);
        Ok(values)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let state = self.state_of(&self.candidates[..self.emitted(emit_to)])?;
        self.leave(emit_to);
        Ok(state.into())
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
            let int = if kept { keys.int(row) } else { None };
            ints.push(int);
            texts.push(int.map(|_| keys.text(row)));
        }
        Ok(vec![
            Arc::clone(&values[0]),
            Arc::new(Int64Array::from(ints)),
            Arc::new(StringArray::from(texts)),
        ])
    }

    fn size(&self) -> usize {
        let held: usize = self
            .held
            .iter()
            .flatten()
            .map(|h| {
                h.values.get_array_memory_size()
                    + h.texts.as_ref().map_or(0, |t| t.get_array_memory_size())
            })
            .sum();
        self.candidates.capacity() * size_of::<Candidate>()
            + self.held.capacity() * size_of::<Option<Held>>()
            + self.free.capacity() * size_of::<u32>()
            + held
    }
}

/// The same logic for an aggregate without GROUP BY: one group.
struct SingleMaxBy(MaxByGroups);

impl std::fmt::Debug for SingleMaxBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SingleMaxBy")
    }
}

impl SingleMaxBy {
    /// The one group's value, key integer and key text, as scalars.
    fn scalars(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.ensure(1);
        self.0
            .state_of(&self.0.candidates[..1])?
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
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
        Ok(self.scalars()?.swap_remove(0))
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.scalars()
    }
    fn size(&self) -> usize {
        size_of::<Self>() + self.0.size()
    }
}

mod keys;
#[cfg(test)]
pub(crate) mod tests;
