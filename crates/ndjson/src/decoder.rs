//! The line decoder: flat NDJSON objects straight into Arrow builders, only the asked-for keys.
//!
//! A line is parsed into its projected values first and appended only once the whole line is
//! known to be plain: an object of string keys without escapes, whose values are strings (with
//! the simple escapes), integers, `true`, `false` or `null`, each of the column's type. Anything
//! else (a `\u` escape, a number with a fraction, a nested value, a repeated key, a value of
//! another type, invalid UTF-8, a record spanning lines) is decoded by arrow-json, the general
//! reader, one line at a time, so the answer is arrow-json's whatever the line holds.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_json::ReaderBuilder;
use arrow_json::reader::Decoder as JsonDecoder;
use arrow_schema::{ArrowError, DataType, SchemaRef};

/// Rows a builder reserves up front (a batch grows past it as needed).
const RESERVED_ROWS: usize = 8 * 1024;

/// One projected column's builder.
enum Column {
    Text(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Bool(BooleanBuilder),
}

impl Column {
    fn new(ty: &DataType) -> Result<Self, ArrowError> {
        Ok(match ty {
            DataType::Utf8 => Self::Text(StringBuilder::with_capacity(RESERVED_ROWS, 0)),
            DataType::Int32 => Self::Int32(Int32Builder::with_capacity(RESERVED_ROWS)),
            DataType::Int64 => Self::Int64(Int64Builder::with_capacity(RESERVED_ROWS)),
            DataType::Boolean => Self::Bool(BooleanBuilder::with_capacity(RESERVED_ROWS)),
            other => {
                return Err(ArrowError::NotYetImplemented(format!(
                    "the NDJSON reading decoder reads no {other} column"
                )));
            }
        })
    }

    /// What the column expects of a value.
    fn kind(&self) -> Kind {
        match self {
            Self::Text(_) => Kind::Text,
            Self::Int32(_) => Kind::Int32,
            Self::Int64(_) => Kind::Int64,
            Self::Bool(_) => Kind::Bool,
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Text(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Text(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Int64(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
        }
    }

    /// Appends row `row` of `array` (the same type, from arrow-json's decoding of a line).
    fn append_from(&mut self, array: &dyn Array, row: usize) {
        if array.is_null(row) {
            return self.append_null();
        }
        match self {
            Self::Text(b) => b.append_value(array.as_string::<i32>().value(row)),
            Self::Int32(b) => b.append_value(array.as_primitive::<Int32Type>().value(row)),
            Self::Int64(b) => b.append_value(array.as_primitive::<Int64Type>().value(row)),
            Self::Bool(b) => b.append_value(array.as_boolean().value(row)),
        }
    }
}

/// What a column expects of a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int32,
    Int64,
    Bool,
}

/// The most columns a decoder reads (the readings table has 11).
const MAX_COLUMNS: usize = 16;

/// A parsed value of a projected key. Text is the line's own bytes (no escapes) or a range of
/// the line's scratch buffer (unescaped).
#[derive(Clone, Copy)]
enum Value<'l> {
    Absent,
    Null,
    Raw(&'l str),
    Unescaped(usize, usize),
    Int(i64),
    Bool(bool),
}

/// A line the fast path leaves to arrow-json.
struct Unusual;

/// Decodes lines of flat JSON objects into record batches of `schema` (the projected columns).
pub struct LineDecoder {
    schema: SchemaRef,
    names: Vec<Box<[u8]>>,
    columns: Vec<Column>,
    rows: usize,
    /// Per line: unescaped text.
    scratch: Vec<u8>,
    /// The column the k-th key of the previous line matched: keys usually come in one order.
    order: Vec<usize>,
    general: JsonDecoder,
    /// Lines left to arrow-json so far.
    general_lines: usize,
}

impl LineDecoder {
    /// A decoder of `schema`'s columns (text, 32- and 64-bit integers, booleans).
    pub fn new(schema: SchemaRef) -> Result<Self, ArrowError> {
        let fields = schema.fields();
        if fields.len() > MAX_COLUMNS {
            return Err(ArrowError::NotYetImplemented(format!(
                "the NDJSON reading decoder reads at most {MAX_COLUMNS} columns"
            )));
        }
        let columns = fields
            .iter()
            .map(|f| Column::new(f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        let general = ReaderBuilder::new(schema.clone())
            .with_batch_size(RESERVED_ROWS)
            .build_decoder()?;
        Ok(Self {
            names: fields.iter().map(|f| f.name().as_bytes().into()).collect(),
            columns,
            rows: 0,
            scratch: Vec::new(),
            order: Vec::new(),
            general,
            general_lines: 0,
            schema,
        })
    }

    /// Rows decoded and not yet taken.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Decodes every line of `lines` (a last line may lack its newline).
    pub fn decode(&mut self, lines: &[u8]) -> Result<(), ArrowError> {
        let mut rest = lines;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            self.decode_line(&rest[..i])?;
            rest = &rest[i + 1..];
        }
        self.decode_line(rest)
    }

    /// Decodes one line (without its newline).
    pub fn decode_line(&mut self, line: &[u8]) -> Result<(), ArrowError> {
        if line.iter().all(|b| is_space(*b)) {
            return Ok(());
        }
        self.scratch.clear();
        let mut values = [Value::Absent; MAX_COLUMNS];
        let values = &mut values[..self.columns.len()];
        match self.parse(line, values) {
            Ok(()) => {
                self.append_values(values);
                Ok(())
            }
            Err(Unusual) => {
                self.general_lines += 1;
                self.decode_general(line)
            }
        }
    }

    /// Lines the fast path left to arrow-json so far.
    pub fn general_lines(&self) -> usize {
        self.general_lines
    }

    /// The rows decoded so far as one batch (none when there are none).
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.rows == 0 {
            return Ok(None);
        }
        let columns: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options).map(Some)
    }

    fn append_values(&mut self, values: &[Value<'_>]) {
        for (column, value) in self.columns.iter_mut().zip(values) {
            match (column, *value) {
                (Column::Text(b), Value::Raw(s)) => b.append_value(s),
                (Column::Text(b), Value::Unescaped(from, to)) => {
                    // Checked as UTF-8 when it was unescaped.
                    b.append_value(std::str::from_utf8(&self.scratch[from..to]).unwrap_or(""));
                }
                (Column::Int32(b), Value::Int(v)) => b.append_value(v as i32),
                (Column::Int64(b), Value::Int(v)) => b.append_value(v),
                (Column::Bool(b), Value::Bool(v)) => b.append_value(v),
                (column, _) => column.append_null(),
            }
        }
        self.rows += 1;
    }

    /// Decodes `line` with arrow-json and appends its rows. A record left open at the end of
    /// the line is arrow-json's error (the lake check has quarantined objects holding one).
    fn decode_general(&mut self, line: &[u8]) -> Result<(), ArrowError> {
        let mut rest = line;
        loop {
            let read = self.general.decode(rest)?;
            rest = &rest[read..];
            if let Some(batch) = self.general.flush()? {
                for row in 0..batch.num_rows() {
                    for (column, array) in self.columns.iter_mut().zip(batch.columns()) {
                        column.append_from(array.as_ref(), row);
                    }
                    self.rows += 1;
                }
            }
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Parses a plain line's projected values into `values`.
    fn parse<'l>(&mut self, line: &'l [u8], values: &mut [Value<'l>]) -> Result<(), Unusual> {
        let mut at = Cursor { line, at: 0 };
        at.skip_space();
        at.expect(b'{')?;
        at.skip_space();
        if at.peek() == Some(b'}') {
            at.at += 1;
            return at.only_space_left();
        }
        let mut k = 0;
        loop {
            at.expect(b'"')?;
            let (from, to, escaped) = at.string_end()?;
            if escaped {
                return Err(Unusual);
            }
            let column = self.column_of(&line[from..to], k);
            at.skip_space();
            at.expect(b':')?;
            at.skip_space();
            match column {
                Some(c) => {
                    if !matches!(values[c], Value::Absent) {
                        return Err(Unusual);
                    }
                    values[c] = at.value(self.columns[c].kind(), &mut self.scratch)?;
                }
                None => {
                    std::str::from_utf8(&line[from..to]).map_err(|_| Unusual)?;
                    at.skip_value(&mut self.scratch)?;
                }
            }
            at.skip_space();
            match at.next() {
                Some(b',') => at.skip_space(),
                Some(b'}') => return at.only_space_left(),
                _ => return Err(Unusual),
            }
            k += 1;
        }
    }

    /// The projected column named `key`, the `k`-th key of its line; checks the column the
    /// previous line's `k`-th key matched first.
    fn column_of(&mut self, key: &[u8], k: usize) -> Option<usize> {
        const NONE: usize = usize::MAX;
        if let Some(&guess) = self.order.get(k)
            && guess != NONE
            && *self.names[guess] == *key
        {
            return Some(guess);
        }
        let found = self.names.iter().position(|n| **n == *key);
        if self.order.len() <= k {
            self.order.resize(k + 1, NONE);
        }
        self.order[k] = found.unwrap_or(NONE);
        found
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A position in a line.
struct Cursor<'l> {
    line: &'l [u8],
    at: usize,
}

impl<'l> Cursor<'l> {
    fn peek(&self) -> Option<u8> {
        self.line.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek();
        self.at += 1;
        b
    }

    fn expect(&mut self, b: u8) -> Result<(), Unusual> {
        if self.next() == Some(b) {
            Ok(())
        } else {
            Err(Unusual)
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.at += 1;
        }
    }

    fn only_space_left(&mut self) -> Result<(), Unusual> {
        self.skip_space();
        if self.at >= self.line.len() {
            Ok(())
        } else {
            Err(Unusual)
        }
    }

    /// After an opening quote: the string's range, and whether it holds escapes. Moves past the
    /// closing quote.
    fn string_end(&mut self) -> Result<(usize, usize, bool), Unusual> {
        let from = self.at;
        let mut escaped = false;
        loop {
            let rest = &self.line[self.at.min(self.line.len())..];
            let i = memchr::memchr2(b'"', b'\\', rest).ok_or(Unusual)?;
            self.at += i;
            if rest[i] == b'"' {
                let to = self.at;
                self.at += 1;
                return Ok((from, to, escaped));
            }
            escaped = true;
            self.at += 2;
        }
    }

    /// After an opening quote: the string, its escapes resolved into `scratch` when it has any.
    fn text(&mut self, scratch: &mut Vec<u8>) -> Result<Value<'l>, Unusual> {
        let (from, to, escaped) = self.string_end()?;
        if !escaped {
            let line: &'l [u8] = self.line;
            return std::str::from_utf8(&line[from..to])
                .map(Value::Raw)
                .map_err(|_| Unusual);
        }
        let start = scratch.len();
        let mut bytes = self.line[from..to].iter();
        while let Some(&b) = bytes.next() {
            if b != b'\\' {
                scratch.push(b);
                continue;
            }
            scratch.push(match bytes.next() {
                Some(b'"') => b'"',
                Some(b'\\') => b'\\',
                Some(b'/') => b'/',
                Some(b'b') => 8,
                Some(b'f') => 12,
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b't') => b'\t',
                _ => return Err(Unusual),
            });
        }
        std::str::from_utf8(&scratch[start..]).map_err(|_| Unusual)?;
        Ok(Value::Unescaped(start, scratch.len()))
    }

    /// A value for a column of `kind`.
    fn value(&mut self, kind: Kind, scratch: &mut Vec<u8>) -> Result<Value<'l>, Unusual> {
        match (self.next().ok_or(Unusual)?, kind) {
            (b'n', _) => self.literal(b"ull", Value::Null),
            (b'"', Kind::Text) => self.text(scratch),
            (b't', Kind::Bool) => self.literal(b"rue", Value::Bool(true)),
            (b'f', Kind::Bool) => self.literal(b"alse", Value::Bool(false)),
            (b @ (b'-' | b'0'..=b'9'), Kind::Int32 | Kind::Int64) => {
                let v = self.integer(b)?;
                if kind == Kind::Int32 && i32::try_from(v).is_err() {
                    return Err(Unusual);
                }
                Ok(Value::Int(v))
            }
            _ => Err(Unusual),
        }
    }

    fn literal(&mut self, rest: &[u8], value: Value<'l>) -> Result<Value<'l>, Unusual> {
        if self.line[self.at..].starts_with(rest) {
            self.at += rest.len();
            Ok(value)
        } else {
            Err(Unusual)
        }
    }

    /// An integer in JSON's grammar (no fraction or exponent) that fits 64 bits, `first` its
    /// first byte.
    fn integer(&mut self, first: u8) -> Result<i64, Unusual> {
        let negative = first == b'-';
        let from = if negative { self.at } else { self.at - 1 };
        let digits = self.line[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let number = &self.line[from..from + digits];
        let leading_zero = digits > 1 && number[0] == b'0';
        if digits == 0 || digits > 19 || leading_zero {
            return Err(Unusual);
        }
        self.at = from + digits;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(Unusual);
        }
        // 19 digits fit 64 bits unsigned; the sign and the range are checked on 128.
        let magnitude = number
            .iter()
            .fold(0_u64, |n, d| n * 10 + u64::from(d - b'0'));
        let value = if negative {
            -i128::from(magnitude)
        } else {
            i128::from(magnitude)
        };
        i64::try_from(value).map_err(|_| Unusual)
    }

    /// Moves past a value of a key no column asks for: a string, number or literal.
    fn skip_value(&mut self, scratch: &mut Vec<u8>) -> Result<(), Unusual> {
        match self.next().ok_or(Unusual)? {
            b'"' => self.text(scratch).map(drop),
            b'n' => self.literal(b"ull", Value::Null).map(drop),
            b't' => self.literal(b"rue", Value::Null).map(drop),
            b'f' => self.literal(b"alse", Value::Null).map(drop),
            b @ (b'-' | b'0'..=b'9') => self.integer(b).map(drop),
            _ => Err(Unusual),
        }
    }
}
