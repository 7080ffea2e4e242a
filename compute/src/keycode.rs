//! Order-preserving key encoding: tuples of datums become byte strings whose
//! `memcmp` order is the tuples' SQL order, in the manner of FoundationDB's
//! tuple layer and CockroachDB's key encoding.
//!
//! # Why this module exists
//!
//! Tables are B+trees clustered on the primary key, and each index is a
//! B+tree on `(encoded expression values, primary key)` (DESIGN §3). With
//! keys as order-preserving bytes, the tree, its separators, range scans and
//! prefix scans compare plain byte strings and never need to know column
//! types. Encoding is per column and self-delimiting, so a composite key is the
//! concatenation of its columns' encodings ([`encode_key_datum`] appends one),
//! and a key prefix encodes a prefix of the columns: every key that starts
//! with columns `(a, b)` lies in `[encode(a, b), prefix_successor(encode(a,
//! b)))`.
//!
//! # Order
//!
//! Within a column position every value has one type (or is NULL), and:
//!
//! * **NULL sorts last in ascending columns and first in descending ones**,
//!   PostgreSQL's default for `ASC` and `DESC`, so an index scan returns rows
//!   in the order `ORDER BY` expects. [`SortOrder`] can ask for the other
//!   placement (`NULLS FIRST` / `NULLS LAST`).
//! * **Integers of all widths share one encoding**: `int2 5`, `int4 5` and
//!   `int8 5` are the same bytes, so an `int4` key can be probed with an
//!   `int8` literal, as PostgreSQL's `integer_ops` family allows. Likewise
//!   `real` values encode as the `double precision` they widen to.
//! * **Floats**: NaN is largest and all NaNs are equal; `-0 = 0`.
//! * **Numeric** orders by value, so `1.5` and `1.50` are the same key; NaN
//!   sorts after `Infinity`.
//! * **Text** orders by its UTF-8 bytes, which is code point order: the
//!   PostgreSQL "C" collation. Other collations need sort keys that this
//!   encoding does not produce.
//! * **Interval** orders by span with 30-day months, as PostgreSQL does:
//!   `'1 month'` and `'30 days'` are the same key.
//! * **oid** and the `reg*` types encode as the integer they hold (an
//!   unsigned 32-bit value); `name` and `"char"` encode as text.
//! * **json and jsonb** have no order here and are rejected. Arrays,
//!   `int2vector` and `oidvector` have one in PostgreSQL but no encoding
//!   here yet, and are rejected too.
//!
//! # What decoding returns
//!
//! Equal values encode equally, so a decoded key is the canonical member of
//! its class: integers as `int8`, floats as `float8` (no `-0`, one NaN),
//! numerics with trailing fractional zeros trimmed, intervals as
//! `(months, days 0..30, micros 0..1 day)` where they fit. Use
//! [`decode_key_typed`] to get the columns' declared types back. A query that
//! must print `1.50` reads it from the row, not the key.
//!
//! # Format
//!
//! Each column starts with a tag byte. Ascending tags lie in `0x01..=0x7F`; a
//! descending column's bytes, tag included, are inverted, which puts its tag
//! in `0x80..=0xFE` and makes every key self-describing. `0x00` and `0xFF`
//! never start a column.
//!
//! | tag | value | payload |
//! |----:|-------|---------|
//! | `0x01` | NULL placed first | none |
//! | `0x10`, `0x11` | false, true | none |
//! | `0x28..=0x38` | integer | `0x30` is zero; `0x30 ± n` has an n-byte big-endian magnitude, ones' complemented for negatives |
//! | `0x40` | float | the f64's 8 bytes, big-endian, sign bit flipped (negatives: all bits flipped) |
//! | `0x50..=0x55` | numeric | -Infinity, negative, zero, positive, Infinity, NaN; finite nonzero values carry their decimal exponent as an integer, then base-100 digit pairs `2d+1`, the last one `2d` (all inverted for negatives) |
//! | `0x60`, `0x61` | text, bytea | bytes with `00` escaped as `00 FF`, then `00 01` |
//! | `0x68` | date | i32 big-endian, sign bit flipped |
//! | `0x69`, `0x6A` | timestamp, timestamptz | i64 big-endian, sign bit flipped |
//! | `0x6B` | interval | the i128 span in microseconds, big-endian, sign bit flipped |
//! | `0x6C` | uuid | 16 bytes |
//! | `0x7F` | NULL placed last | none |
//!
//! Decoding never panics, rejects non-canonical forms (non-minimal integers,
//! `-0`, a NaN other than the canonical one), and returns [`DecodeError`] for
//! corrupt or truncated bytes. A key cut at a column boundary is a valid
//! shorter key; only the caller knows how many columns to expect
//! ([`decode_key_typed`] checks).

use crate::datum::{
    interval_span, DataType, Datum, DecodeError, EncodeError, Numeric, NumericView,
};
use crate::datum::{INTERVAL_DAYS_PER_MONTH, USECS_PER_DAY};

/// How one key column sorts: direction and NULL placement, as in an index
/// column's `ASC | DESC` and `NULLS FIRST | NULLS LAST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortOrder {
    /// Larger values first. The column's bytes are inverted.
    pub descending: bool,
    /// NULL before every value rather than after.
    pub nulls_first: bool,
}

impl SortOrder {
    /// `ASC`, which is `ASC NULLS LAST` in PostgreSQL.
    pub const ASC: SortOrder = SortOrder {
        descending: false,
        nulls_first: false,
    };

    /// `DESC`, which is `DESC NULLS FIRST` in PostgreSQL.
    pub const DESC: SortOrder = SortOrder {
        descending: true,
        nulls_first: true,
    };
}

impl Default for SortOrder {
    fn default() -> SortOrder {
        SortOrder::ASC
    }
}

/// Key tags in ascending form; see the module documentation.
mod tag {
    pub const NULL_LOW: u8 = 0x01;
    pub const FALSE: u8 = 0x10;
    pub const TRUE: u8 = 0x11;
    pub const INT_MIN: u8 = 0x28;
    pub const INT_ZERO: u8 = 0x30;
    pub const INT_MAX: u8 = 0x38;
    pub const FLOAT: u8 = 0x40;
    pub const NUMERIC_NEG_INF: u8 = 0x50;
    pub const NUMERIC_NEG: u8 = 0x51;
    pub const NUMERIC_ZERO: u8 = 0x52;
    pub const NUMERIC_POS: u8 = 0x53;
    pub const NUMERIC_POS_INF: u8 = 0x54;
    pub const NUMERIC_NAN: u8 = 0x55;
    pub const TEXT: u8 = 0x60;
    pub const BYTEA: u8 = 0x61;
    pub const DATE: u8 = 0x68;
    pub const TIMESTAMP: u8 = 0x69;
    pub const TIMESTAMPTZ: u8 = 0x6A;
    pub const INTERVAL: u8 = 0x6B;
    pub const UUID: u8 = 0x6C;
    pub const NULL_HIGH: u8 = 0x7F;
}

// Ascending tags stay below 0x80 so that inverted (descending) tags, at 0x80
// and above, never collide with them.
const _: () = assert!(tag::NULL_HIGH < 0x80);
const _: () = assert!(tag::NULL_LOW > 0x00);
// Eight magnitude bytes cover every i64 on either side of zero.
const _: () = assert!(tag::INT_MAX - tag::INT_ZERO == 8 && tag::INT_ZERO - tag::INT_MIN == 8);

/// The one NaN bit pattern keys use, so that all NaNs are one key.
const CANONICAL_NAN_BITS: u64 = 0x7FF8_0000_0000_0000;

/// Most decimal digits a numeric key can carry; see
/// [`crate::datum::NUMERIC_MAX_INT_DIGITS`].
const NUMERIC_MAX_DIGITS: usize =
    crate::datum::NUMERIC_MAX_INT_DIGITS as usize + crate::datum::NUMERIC_MAX_SCALE as usize;

/// Appends the key encoding of `datums`, all ascending with NULLs last. On
/// error `out` is left as it was.
pub fn encode_key(datums: &[Datum], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    for datum in datums {
        if let Err(e) = encode_key_datum(datum, SortOrder::ASC, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// Appends the key encoding of `columns`, each in its own sort order. On
/// error `out` is left as it was.
pub fn encode_key_with(
    columns: &[(Datum, SortOrder)],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    for (datum, order) in columns {
        if let Err(e) = encode_key_datum(datum, *order, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// Appends one key column. A key is the concatenation of its columns, so
/// callers holding borrowed datums can build one without cloning. On error
/// nothing is appended.
pub fn encode_key_datum(
    datum: &Datum,
    order: SortOrder,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    match datum {
        Datum::Null => {
            // Inversion flips the placement, so a descending column that wants
            // NULLs first writes the high tag.
            let high = order.nulls_first == order.descending;
            out.push(if high { tag::NULL_HIGH } else { tag::NULL_LOW });
        }
        Datum::Bool(b) => out.push(if *b { tag::TRUE } else { tag::FALSE }),
        Datum::Int2(v) => encode_int(i64::from(*v), out),
        Datum::Int4(v) => encode_int(i64::from(*v), out),
        Datum::Int8(v) => encode_int(*v, out),
        Datum::Float4(v) => encode_float(f64::from(*v), out),
        Datum::Float8(v) => encode_float(*v, out),
        Datum::Numeric(n) => encode_numeric(n, out),
        Datum::Text(s) => encode_escaped(tag::TEXT, s.as_bytes(), out),
        Datum::Bytea(b) => encode_escaped(tag::BYTEA, b, out),
        Datum::Date(v) => {
            out.push(tag::DATE);
            out.extend_from_slice(&((*v as u32) ^ (1 << 31)).to_be_bytes());
        }
        Datum::Timestamp(v) => {
            out.push(tag::TIMESTAMP);
            out.extend_from_slice(&((*v as u64) ^ (1 << 63)).to_be_bytes());
        }
        Datum::TimestampTz(v) => {
            out.push(tag::TIMESTAMPTZ);
            out.extend_from_slice(&((*v as u64) ^ (1 << 63)).to_be_bytes());
        }
        Datum::Interval {
            months,
            days,
            micros,
        } => {
            out.push(tag::INTERVAL);
            let span = interval_span(*months, *days, *micros);
            out.extend_from_slice(&((span as u128) ^ (1 << 127)).to_be_bytes());
        }
        Datum::Uuid(u) => {
            out.push(tag::UUID);
            out.extend_from_slice(u);
        }
        // Object identifiers order as unsigned 32-bit integers, which the
        // integer encoding preserves.
        Datum::Oid(v) => encode_int(i64::from(*v), out),
        Datum::Json(_) | Datum::Jsonb(_) => {
            let type_name = datum.data_type().expect("json is not NULL").name();
            return Err(EncodeError::NotKeyEncodable { type_name });
        }
        Datum::Array(a) => {
            return Err(EncodeError::KeyTypeUnsupported {
                type_name: a.data_type().format_type(),
            });
        }
        Datum::Record(_) => {
            return Err(EncodeError::KeyTypeUnsupported {
                type_name: "record".to_owned(),
            });
        }
    }
    if order.descending {
        invert(&mut out[start..]);
    }
    Ok(())
}

/// Decodes every column of a key into canonical datums (see the module
/// documentation): integers as `Int8`, floats as `Float8`.
pub fn decode_key(bytes: &[u8]) -> Result<Vec<Datum>, DecodeError> {
    let mut reader = KeyReader::new(bytes);
    let mut datums = Vec::new();
    while !reader.at_end() {
        datums.push(reader.column()?);
    }
    Ok(datums)
}

/// Decodes a key of exactly `types.len()` columns, converting each to its
/// column's type: `Int8` back to `Int2` or `Int4`, `Float8` back to `Float4`.
pub fn decode_key_typed(bytes: &[u8], types: &[DataType]) -> Result<Vec<Datum>, DecodeError> {
    let mut datums = Vec::with_capacity(types.len());
    decode_key_each(bytes, types, |_, d| datums.push(d))?;
    Ok(datums)
}

/// [`decode_key_typed`], handing each value to `put` with its position
/// instead of collecting them (an index-only scan puts them straight into
/// its row).
pub fn decode_key_each(
    bytes: &[u8],
    types: &[DataType],
    mut put: impl FnMut(usize, Datum),
) -> Result<(), DecodeError> {
    let mut reader = KeyReader::new(bytes);
    for (column, &ty) in types.iter().enumerate() {
        if reader.at_end() {
            return Err(DecodeError::ColumnCount {
                expected: types.len(),
                found: column,
            });
        }
        let offset = reader.pos;
        let datum = reader.column()?;
        put(column, convert(datum, ty, column, offset)?);
    }
    if !reader.at_end() {
        return Err(DecodeError::TrailingBytes {
            offset: reader.pos,
            len: bytes.len() - reader.pos,
        });
    }
    Ok(())
}

/// True for a column type whose values [`decode_key_typed`] returns exactly
/// as they were encoded, so a row can be read from an index key instead of
/// the table (an index-only scan). Floats are not (`-0` decodes as `0`),
/// nor numerics (`1.50` as `1.5`), nor intervals (`'30 days'` may decode as
/// `'1 mon'`); json, jsonb and arrays have no key encoding at all.
pub fn decodes_exactly(ty: DataType) -> bool {
    matches!(
        ty,
        DataType::Bool
            | DataType::Int2
            | DataType::Int4
            | DataType::Int8
            | DataType::Text
            | DataType::Varchar { .. }
            | DataType::Bpchar { .. }
            | DataType::Name
            | DataType::Char
            | DataType::Bytea
            | DataType::Date
            | DataType::Timestamp
            | DataType::TimestampTz
            | DataType::Uuid
            | DataType::Oid
    )
}

/// Splits a key after its first `columns` columns, checking that they decode:
/// for an index entry `(expression values, primary key)` this yields the
/// primary key's bytes without re-encoding them.
pub fn split_key(bytes: &[u8], columns: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    let mut reader = KeyReader::new(bytes);
    for column in 0..columns {
        if reader.at_end() {
            return Err(DecodeError::ColumnCount {
                expected: columns,
                found: column,
            });
        }
        reader.column()?;
    }
    Ok(bytes.split_at(reader.pos))
}

/// Returns the smallest byte string greater than every string that starts with
/// `prefix`, the exclusive end of a prefix scan; `None` when there is none
/// (an empty prefix, or all `0xFF`), meaning the scan runs to the end.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut successor = prefix[..=last].to_vec();
    successor[last] += 1;
    Some(successor)
}

fn invert(bytes: &mut [u8]) {
    for b in bytes {
        *b = !*b;
    }
}

/// Writes an integer as a tag giving sign and length, then the magnitude's
/// minimal big-endian bytes, ones' complemented when negative so that larger
/// magnitudes sort lower.
fn encode_int(value: i64, out: &mut Vec<u8>) {
    let magnitude = value.unsigned_abs();
    let len = (u64::BITS - magnitude.leading_zeros()).div_ceil(8) as usize;
    let len_u8 = len as u8;
    let be = if value < 0 {
        (!magnitude).to_be_bytes()
    } else {
        magnitude.to_be_bytes()
    };
    out.push(if value < 0 {
        tag::INT_ZERO - len_u8
    } else {
        tag::INT_ZERO + len_u8
    });
    out.extend_from_slice(&be[8 - len..]);
}

fn encode_float(value: f64, out: &mut Vec<u8>) {
    let bits = if value.is_nan() {
        CANONICAL_NAN_BITS
    } else if value == 0.0 {
        0
    } else {
        value.to_bits()
    };
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    out.push(tag::FLOAT);
    out.extend_from_slice(&ordered.to_be_bytes());
}

fn encode_numeric(value: &Numeric, out: &mut Vec<u8>) {
    let (negative, significant, weight) = match value.view() {
        NumericView::NaN => return out.push(tag::NUMERIC_NAN),
        NumericView::PosInf => return out.push(tag::NUMERIC_POS_INF),
        NumericView::NegInf => return out.push(tag::NUMERIC_NEG_INF),
        NumericView::Zero => return out.push(tag::NUMERIC_ZERO),
        NumericView::Finite {
            negative,
            significant,
            weight,
        } => (negative, significant, weight),
    };
    out.push(if negative {
        tag::NUMERIC_NEG
    } else {
        tag::NUMERIC_POS
    });
    let body = out.len();
    // A larger exponent is a larger magnitude; with equal exponents the
    // digits, aligned at the first significant one, decide. Each pair is
    // odd except the last, which is even and nonzero (the last digit is not
    // zero), so no mantissa is a prefix of another and a shorter one sorts
    // first exactly when its value is smaller.
    encode_int(weight, out);
    let pairs = significant.chunks(2);
    let last = pairs.len() - 1;
    for (i, pair) in pairs.enumerate() {
        let value = pair[0] * 10 + pair.get(1).copied().unwrap_or(0);
        out.push(if i == last { 2 * value } else { 2 * value + 1 });
    }
    if negative {
        invert(&mut out[body..]);
    }
}

/// Writes bytes with each `00` escaped as `00 FF` and a `00 01` terminator, so
/// that a string sorts before its extensions and the encoding is
/// self-delimiting.
fn encode_escaped(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    for (i, chunk) in bytes.split(|&b| b == 0).enumerate() {
        if i > 0 {
            out.extend_from_slice(&[0x00, 0xFF]);
        }
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Converts a canonical decoded datum to a column's declared type.
fn convert(datum: Datum, ty: DataType, column: usize, offset: usize) -> Result<Datum, DecodeError> {
    let out_of_range = |what| DecodeError::Corrupt { offset, what };
    Ok(match (ty, datum) {
        (_, Datum::Null) => Datum::Null,
        (DataType::Int2, Datum::Int8(v)) => {
            Datum::Int2(i16::try_from(v).map_err(|_| out_of_range("int2 key out of range"))?)
        }
        (DataType::Int4, Datum::Int8(v)) => {
            Datum::Int4(i32::try_from(v).map_err(|_| out_of_range("int4 key out of range"))?)
        }
        (DataType::Float4, Datum::Float8(v)) => {
            if v.is_nan() {
                Datum::Float4(f32::NAN)
            } else {
                let narrow = v as f32;
                if f64::from(narrow) != v {
                    return Err(out_of_range("float4 key not exact"));
                }
                Datum::Float4(narrow)
            }
        }
        (
            DataType::Oid
            | DataType::RegClass
            | DataType::RegType
            | DataType::RegProc
            | DataType::RegProcedure
            | DataType::RegNamespace
            | DataType::RegRole,
            Datum::Int8(v),
        ) => Datum::Oid(u32::try_from(v).map_err(|_| out_of_range("oid key out of range"))?),
        (
            DataType::Text
            | DataType::Varchar { .. }
            | DataType::Bpchar { .. }
            | DataType::Name
            | DataType::Char,
            d @ Datum::Text(_),
        )
        | (DataType::Bool, d @ Datum::Bool(_))
        | (DataType::Int8, d @ Datum::Int8(_))
        | (DataType::Float8, d @ Datum::Float8(_))
        | (DataType::Numeric, d @ Datum::Numeric(_))
        | (DataType::Bytea, d @ Datum::Bytea(_))
        | (DataType::Date, d @ Datum::Date(_))
        | (DataType::Timestamp, d @ Datum::Timestamp(_))
        | (DataType::TimestampTz, d @ Datum::TimestampTz(_))
        | (DataType::Interval, d @ Datum::Interval { .. })
        | (DataType::Uuid, d @ Datum::Uuid(_)) => d,
        (ty, d) => {
            return Err(DecodeError::TypeMismatch {
                column,
                expected: ty.name(),
                found: d.data_type().map_or("null", DataType::name),
            })
        }
    })
}

/// Splits an interval span back into fields: months, days `0..30` and micros
/// `0..1 day`, filling days and then micros past the months field's range.
/// Every span that some interval has comes back as a valid interval.
fn interval_from_span(span: i128) -> Option<(i32, i32, i64)> {
    let day = i128::from(USECS_PER_DAY);
    let per_month = i128::from(INTERVAL_DAYS_PER_MONTH);
    let mut micros = span.rem_euclid(day);
    let total_days = span.div_euclid(day);
    let mut months = total_days.div_euclid(per_month);
    let mut days = total_days.rem_euclid(per_month);
    let clamped = months.clamp(i32::MIN.into(), i32::MAX.into());
    days += (months - clamped) * per_month;
    months = clamped;
    let clamped = days.clamp(i32::MIN.into(), i32::MAX.into());
    micros += (days - clamped) * day;
    days = clamped;
    Some((
        i32::try_from(months).ok()?,
        i32::try_from(days).ok()?,
        i64::try_from(micros).ok()?,
    ))
}

/// Reads key columns, undoing a descending column's inversion through `mask`.
struct KeyReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// XORed into every byte read: `0xFF` inside an inverted region.
    mask: u8,
}

impl<'a> KeyReader<'a> {
    fn new(bytes: &'a [u8]) -> KeyReader<'a> {
        KeyReader {
            bytes,
            pos: 0,
            mask: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or(DecodeError::Truncated {
            offset: self.pos,
            needed: 1,
        })?;
        self.pos += 1;
        Ok(b ^ self.mask)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let left = self.bytes.len() - self.pos;
        if left < N {
            return Err(DecodeError::Truncated {
                offset: self.bytes.len(),
                needed: N - left,
            });
        }
        let mut array: [u8; N] = self.bytes[self.pos..self.pos + N]
            .try_into()
            .expect("slice has N bytes");
        self.pos += N;
        for b in &mut array {
            *b ^= self.mask;
        }
        Ok(array)
    }

    fn column(&mut self) -> Result<Datum, DecodeError> {
        let offset = self.pos;
        self.mask = 0;
        let raw = self.byte()?;
        let tag = if raw >= 0x80 {
            self.mask = 0xFF;
            !raw
        } else {
            raw
        };
        let corrupt = |what| DecodeError::Corrupt { offset, what };
        Ok(match tag {
            tag::NULL_LOW | tag::NULL_HIGH => Datum::Null,
            tag::FALSE => Datum::Bool(false),
            tag::TRUE => Datum::Bool(true),
            tag::INT_MIN..=tag::INT_MAX => Datum::Int8(self.int_body(tag, offset)?),
            tag::FLOAT => {
                let ordered = u64::from_be_bytes(self.array()?);
                let bits = if ordered >> 63 == 1 {
                    ordered & !(1 << 63)
                } else {
                    !ordered
                };
                let value = f64::from_bits(bits);
                if value.is_nan() && bits != CANONICAL_NAN_BITS {
                    return Err(corrupt("non-canonical NaN"));
                }
                if bits == 1 << 63 {
                    return Err(corrupt("negative zero"));
                }
                Datum::Float8(value)
            }
            tag::NUMERIC_NEG_INF => Datum::Numeric(Numeric::neg_infinity()),
            tag::NUMERIC_ZERO => Datum::Numeric(Numeric::zero()),
            tag::NUMERIC_POS_INF => Datum::Numeric(Numeric::infinity()),
            tag::NUMERIC_NAN => Datum::Numeric(Numeric::nan()),
            tag::NUMERIC_NEG | tag::NUMERIC_POS => {
                Datum::Numeric(self.numeric_body(tag == tag::NUMERIC_NEG, offset)?)
            }
            tag::TEXT => {
                let bytes = self.escaped()?;
                Datum::Text(String::from_utf8(bytes).map_err(|_| corrupt("UTF-8 text"))?)
            }
            tag::BYTEA => Datum::Bytea(self.escaped()?),
            tag::DATE => Datum::Date((u32::from_be_bytes(self.array()?) ^ (1 << 31)) as i32),
            tag::TIMESTAMP => {
                Datum::Timestamp((u64::from_be_bytes(self.array()?) ^ (1 << 63)) as i64)
            }
            tag::TIMESTAMPTZ => {
                Datum::TimestampTz((u64::from_be_bytes(self.array()?) ^ (1 << 63)) as i64)
            }
            tag::INTERVAL => {
                let span = (u128::from_be_bytes(self.array()?) ^ (1 << 127)) as i128;
                let (months, days, micros) =
                    interval_from_span(span).ok_or(corrupt("interval span"))?;
                Datum::Interval {
                    months,
                    days,
                    micros,
                }
            }
            tag::UUID => Datum::Uuid(self.array()?),
            _ => return Err(DecodeError::UnknownTag { offset, tag: raw }),
        })
    }

    /// Reads an integer's magnitude bytes after its tag.
    fn int_body(&mut self, tag: u8, offset: usize) -> Result<i64, DecodeError> {
        let corrupt = |what| DecodeError::Corrupt { offset, what };
        if tag == tag::INT_ZERO {
            return Ok(0);
        }
        let negative = tag < tag::INT_ZERO;
        let len = u32::from(tag.abs_diff(tag::INT_ZERO));
        let mut raw = 0u64;
        for _ in 0..len {
            raw = raw << 8 | u64::from(self.byte()?);
        }
        let mask = u64::MAX >> (64 - 8 * len);
        let magnitude = if negative { !raw & mask } else { raw };
        if magnitude >> (8 * (len - 1)) == 0 {
            return Err(corrupt("non-minimal integer"));
        }
        if negative {
            0i64.checked_sub_unsigned(magnitude)
                .ok_or(corrupt("integer out of range"))
        } else {
            i64::try_from(magnitude).map_err(|_| corrupt("integer out of range"))
        }
    }

    fn numeric_body(&mut self, negative: bool, offset: usize) -> Result<Numeric, DecodeError> {
        let corrupt = |what| DecodeError::Corrupt { offset, what };
        if negative {
            self.mask ^= 0xFF;
        }
        let exponent_offset = self.pos;
        let exponent_tag = self.byte()?;
        if !(tag::INT_MIN..=tag::INT_MAX).contains(&exponent_tag) {
            return Err(DecodeError::UnknownTag {
                offset: exponent_offset,
                tag: exponent_tag,
            });
        }
        let weight = self.int_body(exponent_tag, exponent_offset)?;
        let mut digits = Vec::new();
        loop {
            let b = self.byte()?;
            let pair = b / 2;
            if pair > 99 {
                return Err(corrupt("numeric digit pair"));
            }
            digits.push(pair / 10);
            digits.push(pair % 10);
            if digits.len() > NUMERIC_MAX_DIGITS + 1 {
                return Err(corrupt("numeric digit count"));
            }
            if b % 2 == 0 {
                break;
            }
        }
        if digits.last() == Some(&0) {
            digits.pop();
        }
        if negative {
            self.mask ^= 0xFF;
        }
        Numeric::from_significant(negative, digits, weight).ok_or(corrupt("numeric value"))
    }

    /// Reads an escaped byte string up to and including its terminator.
    fn escaped(&mut self) -> Result<Vec<u8>, DecodeError> {
        let mut bytes = Vec::new();
        loop {
            let b = self.byte()?;
            if b != 0 {
                bytes.push(b);
                continue;
            }
            let offset = self.pos;
            match self.byte()? {
                0xFF => bytes.push(0),
                0x01 => return Ok(bytes),
                _ => {
                    return Err(DecodeError::Corrupt {
                        offset,
                        what: "string escape",
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::strategies::{arb_nullable, arb_value, key_types};
    use proptest::prelude::*;
    use std::cmp::Ordering;

    fn key(datums: &[Datum]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(datums, &mut out).expect("key encodes");
        out
    }

    fn key1(datum: &Datum) -> Vec<u8> {
        key(std::slice::from_ref(datum))
    }

    fn edge_byte() -> impl Strategy<Value = u8> {
        prop::sample::select(vec![0x00u8, 0x01, 0xFE, 0xFF])
    }

    fn key_with(columns: &[(Datum, SortOrder)]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key_with(columns, &mut out).expect("key encodes");
        out
    }

    fn num(text: &str) -> Datum {
        Datum::Numeric(text.parse().expect("numeric literal"))
    }

    /// SQL order of two tuples under per-column sort orders: what key bytes
    /// must reproduce.
    fn reference_cmp(a: &[Datum], b: &[Datum], orders: &[SortOrder]) -> Ordering {
        for ((x, y), order) in a.iter().zip(b).zip(orders) {
            let c = match (x.is_null(), y.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) if order.nulls_first => Ordering::Less,
                (true, false) => Ordering::Greater,
                (false, true) if order.nulls_first => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    let c = x.cmp_same_type(y).expect("same-typed values compare");
                    if order.descending {
                        c.reverse()
                    } else {
                        c
                    }
                }
            };
            if c != Ordering::Equal {
                return c;
            }
        }
        a.len().cmp(&b.len())
    }

    fn arb_order() -> impl Strategy<Value = SortOrder> {
        (any::<bool>(), any::<bool>()).prop_map(|(descending, nulls_first)| SortOrder {
            descending,
            nulls_first,
        })
    }

    fn arb_typed_value() -> impl Strategy<Value = (DataType, Datum)> {
        prop::sample::select(key_types()).prop_flat_map(|ty| (Just(ty), arb_nullable(ty)))
    }

    fn arb_typed_pair() -> impl Strategy<Value = (Datum, Datum)> {
        prop::sample::select(key_types()).prop_flat_map(|ty| (arb_value(ty), arb_value(ty)))
    }

    /// Two rows of the same column types, and an order per column.
    #[allow(clippy::type_complexity)]
    fn arb_tuple_pair() -> impl Strategy<Value = (Vec<SortOrder>, Vec<Datum>, Vec<Datum>)> {
        prop::collection::vec((prop::sample::select(key_types()), arb_order()), 1..5).prop_flat_map(
            |columns| {
                let orders = columns.iter().map(|(_, o)| *o).collect::<Vec<_>>();
                let row = columns
                    .iter()
                    .map(|(t, _)| arb_nullable(*t))
                    .collect::<Vec<_>>();
                (Just(orders), row.clone(), row)
            },
        )
    }

    #[test]
    fn nulls_sort_as_postgres_defaults() {
        let one = Datum::Int4(1);
        assert!(
            key(std::slice::from_ref(&one)) < key(&[Datum::Null]),
            "ASC puts NULL last"
        );
        let desc = |d: &Datum| key_with(&[(d.clone(), SortOrder::DESC)]);
        assert!(desc(&Datum::Null) < desc(&one), "DESC puts NULL first");
        let asc_nulls_first = SortOrder {
            descending: false,
            nulls_first: true,
        };
        let first = |d: &Datum| key_with(&[(d.clone(), asc_nulls_first)]);
        assert!(first(&Datum::Null) < first(&one));
        for order in [SortOrder::ASC, SortOrder::DESC, asc_nulls_first] {
            let bytes = key_with(&[(Datum::Null, order)]);
            assert_eq!(decode_key(&bytes).expect("decodes"), [Datum::Null]);
        }
    }

    #[test]
    fn integer_widths_encode_alike() {
        for v in [-70000i64, -300, -1, 0, 1, 255, 256, 32767] {
            let int8 = key(&[Datum::Int8(v)]);
            if let Ok(v) = i32::try_from(v) {
                assert_eq!(key(&[Datum::Int4(v)]), int8);
            }
            if let Ok(v) = i16::try_from(v) {
                assert_eq!(key(&[Datum::Int2(v)]), int8);
            }
        }
        assert_eq!(key(&[Datum::Int8(0)]), [tag::INT_ZERO]);
        assert_eq!(key(&[Datum::Int8(1)]), [tag::INT_ZERO + 1, 1]);
        assert_eq!(key(&[Datum::Int8(-1)]), [tag::INT_ZERO - 1, 0xFE]);
        assert_eq!(key(&[Datum::Float4(1.5)]), key(&[Datum::Float8(1.5)]));
    }

    #[test]
    fn equal_values_encode_equal() {
        assert_eq!(key(&[num("1.5")]), key(&[num("1.50")]));
        assert_eq!(key(&[num("0")]), key(&[num("-0.000")]));
        assert_eq!(key(&[num("1e3")]), key(&[num("1000.00")]));
        assert_ne!(key(&[num("1.5")]), key(&[num("1.05")]));
        assert_eq!(key(&[Datum::Float8(-0.0)]), key(&[Datum::Float8(0.0)]));
        assert_eq!(
            key(&[Datum::Float8(f64::NAN)]),
            key(&[Datum::Float8(f64::from_bits(0xFFF0_0000_0000_0001))])
        );
        let month = Datum::Interval {
            months: 1,
            days: 0,
            micros: 0,
        };
        let thirty_days = Datum::Interval {
            months: 0,
            days: 30,
            micros: 0,
        };
        assert_eq!(key(&[month]), key(&[thirty_days]));
    }

    #[test]
    fn decoded_keys_are_canonical() {
        let decoded =
            decode_key(&key(&[num("1.50"), Datum::Int2(7), Datum::Float4(-0.0)])).expect("decodes");
        assert_eq!(decoded[0].clone(), num("1.5"));
        assert!(decoded[0].is_identical(&num("1.5")));
        assert_eq!(decoded[1], Datum::Int8(7));
        assert!(decoded[2].is_identical(&Datum::Float8(0.0)));
        let typed = decode_key_typed(
            &key(&[Datum::Int2(7), Datum::Float4(2.5)]),
            &[DataType::Int2, DataType::Float4],
        )
        .expect("decodes");
        assert_eq!(typed, [Datum::Int2(7), Datum::Float4(2.5)]);
        let interval = decode_key(&key(&[Datum::Interval {
            months: 0,
            days: 45,
            micros: -1,
        }]))
        .expect("decodes");
        assert_eq!(
            interval,
            [Datum::Interval {
                months: 1,
                days: 14,
                micros: USECS_PER_DAY - 1
            }]
        );
    }

    #[test]
    fn extreme_values_roundtrip() {
        let max_numeric = format!(
            "9{}",
            "9".repeat(crate::datum::NUMERIC_MAX_INT_DIGITS as usize - 1)
        );
        let min_numeric = format!(
            "-0.{}1",
            "0".repeat(crate::datum::NUMERIC_MAX_SCALE as usize - 1)
        );
        let cases = [
            Datum::Int8(i64::MIN),
            Datum::Int8(i64::MAX),
            num(&max_numeric),
            num(&min_numeric),
            Datum::Interval {
                months: i32::MAX,
                days: i32::MAX,
                micros: i64::MAX,
            },
            Datum::Interval {
                months: i32::MIN,
                days: i32::MIN,
                micros: i64::MIN,
            },
        ];
        for datum in cases {
            let decoded = decode_key(&key(std::slice::from_ref(&datum))).expect("decodes");
            assert_eq!(decoded.len(), 1);
            assert!(
                decoded[0].is_identical(&datum),
                "{:?} did not roundtrip",
                datum.data_type()
            );
        }
    }

    #[test]
    fn strings_escape_zero_bytes() {
        assert_eq!(key(&[Datum::Bytea(vec![])]), [tag::BYTEA, 0x00, 0x01]);
        assert_eq!(
            key(&[Datum::Bytea(vec![0x00, 0x61])]),
            [tag::BYTEA, 0x00, 0xFF, 0x61, 0x00, 0x01]
        );
        // A string sorts before its extensions, including one by a zero byte.
        let ordered = [
            vec![],
            vec![0x00],
            vec![0x00, 0x00],
            vec![0x00, 0x01],
            vec![0x01],
            vec![0xFF],
        ];
        for pair in ordered.windows(2) {
            assert!(key(&[Datum::Bytea(pair[0].clone())]) < key(&[Datum::Bytea(pair[1].clone())]));
        }
        // "C" collation: uppercase before lowercase, by code point.
        assert!(key(&[Datum::Text("B".into())]) < key(&[Datum::Text("a".into())]));
        assert!(key(&[Datum::Text("a".into())]) < key(&[Datum::Text("a".into()), Datum::Int4(0)]));
        assert!(
            key(&[Datum::Text("a".into()), Datum::Int4(0)]) < key(&[Datum::Text("a\0".into())])
        );
    }

    #[test]
    fn json_is_not_a_key() {
        let mut out = vec![0xAB];
        let err = encode_key(&[Datum::Int4(1), Datum::Json("{}".into())], &mut out);
        assert_eq!(err, Err(EncodeError::NotKeyEncodable { type_name: "json" }));
        assert_eq!(out, [0xAB], "a failed encode appends nothing");
        let err = encode_key_with(&[(Datum::Jsonb(vec![1]), SortOrder::DESC)], &mut out);
        assert_eq!(
            err,
            Err(EncodeError::NotKeyEncodable { type_name: "jsonb" })
        );
    }

    #[test]
    fn typed_decode_checks_types_and_count() {
        let bytes = key(&[Datum::Int8(70000), Datum::Text("x".into())]);
        assert!(matches!(
            decode_key_typed(&bytes, &[DataType::Int2, DataType::Text]),
            Err(DecodeError::Corrupt { .. })
        ));
        assert!(matches!(
            decode_key_typed(&bytes, &[DataType::Int8, DataType::Bytea]),
            Err(DecodeError::TypeMismatch { column: 1, .. })
        ));
        assert!(matches!(
            decode_key_typed(&bytes, &[DataType::Int8]),
            Err(DecodeError::TrailingBytes { .. })
        ));
        assert!(matches!(
            decode_key_typed(&bytes, &[DataType::Int8, DataType::Text, DataType::Int4]),
            Err(DecodeError::ColumnCount {
                expected: 3,
                found: 2
            })
        ));
        assert!(matches!(
            decode_key_typed(&key(&[Datum::Float8(0.1)]), &[DataType::Float4]),
            Err(DecodeError::Corrupt { .. })
        ));
        assert_eq!(
            decode_key_typed(
                &bytes,
                &[DataType::Int8, DataType::Varchar { max_chars: Some(1) }]
            ),
            Ok(vec![Datum::Int8(70000), Datum::Text("x".into())])
        );
    }

    #[test]
    fn split_key_separates_primary_key() {
        let index_part = key(&[Datum::Text("k".into())]);
        let primary = key_with(&[(Datum::Int8(9), SortOrder::DESC)]);
        let entry = [index_part.clone(), primary.clone()].concat();
        assert_eq!(split_key(&entry, 1), Ok((&index_part[..], &primary[..])));
        assert_eq!(split_key(&entry, 2), Ok((&entry[..], &[][..])));
        assert!(matches!(
            split_key(&entry, 3),
            Err(DecodeError::ColumnCount { .. })
        ));
    }

    #[test]
    fn prefix_successor_cases() {
        assert_eq!(prefix_successor(&[]), None);
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(&[0x01, 0x02]), Some(vec![0x01, 0x03]));
        assert_eq!(prefix_successor(&[0x01, 0xFF]), Some(vec![0x02]));
    }

    #[test]
    fn corrupt_keys_are_errors() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x00], "tag 00"),
            (&[0xFF], "tag FF"),
            (&[0x02], "unused tag"),
            (&[tag::INT_ZERO + 2, 0x00, 0x01], "non-minimal positive"),
            (&[tag::INT_ZERO - 1, 0xFF], "non-minimal negative"),
            (
                &[tag::INT_ZERO + 8, 0x80, 0, 0, 0, 0, 0, 0, 0],
                "positive overflow",
            ),
            (
                &[
                    tag::INT_ZERO - 8,
                    0x7F,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFE,
                ],
                "negative overflow",
            ),
            (&[tag::INT_ZERO + 2, 0x01], "short integer"),
            (
                &[tag::FLOAT, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                "negative zero",
            ),
            (&[tag::FLOAT, 0xFF, 0xF0, 0, 0, 0, 0, 0, 1], "other NaN"),
            (&[tag::FLOAT, 0x80], "short float"),
            (&[tag::TEXT, b'a'], "unterminated text"),
            (&[tag::TEXT, 0x00, 0x02], "bad escape"),
            (&[tag::TEXT, 0xC3, 0x28, 0x00, 0x01], "bad UTF-8"),
            (
                &[tag::NUMERIC_POS, tag::INT_ZERO + 1, 1, 0x15],
                "mantissa has no end",
            ),
            (&[tag::NUMERIC_POS, tag::INT_ZERO, 0x00], "zero mantissa"),
            (
                &[tag::NUMERIC_POS, tag::INT_ZERO, 0x02],
                "leading zero digit",
            ),
            (&[tag::NUMERIC_POS, tag::INT_ZERO, 0xF0], "pair above 99"),
            (&[tag::NUMERIC_POS, tag::FLOAT, 0x02], "exponent tag"),
            (
                &[tag::NUMERIC_POS, tag::INT_ZERO + 3, 0x0F, 0, 0, 0x14],
                "exponent too large",
            ),
            (&[tag::DATE, 0x80, 0x00], "short date"),
        ];
        for (bytes, why) in cases {
            assert!(
                decode_key(bytes).is_err(),
                "{why}: {bytes:02X?} decoded as {:?}",
                decode_key(bytes)
            );
        }
        // The interval span just above the largest interval's.
        let max = interval_span(i32::MAX, i32::MAX, i64::MAX) + 1;
        let mut bytes = vec![tag::INTERVAL];
        bytes.extend_from_slice(&((max as u128) ^ (1 << 127)).to_be_bytes());
        assert!(decode_key(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn keys_roundtrip_to_canonical_values(
            (ty, datum) in arb_typed_value(),
            order in arb_order(),
        ) {
            let bytes = key_with(&[(datum.clone(), order)]);
            let decoded = decode_key_typed(&bytes, &[ty]).expect("key decodes");
            prop_assert_eq!(decoded.len(), 1);
            let back = &decoded[0];
            prop_assert_eq!(back.data_type(), datum.data_type());
            let equal = back.cmp_same_type(&datum);
            prop_assert_eq!(equal, Some(Ordering::Equal), "{:?} -> {:?}", datum, back);
            prop_assert_eq!(&key_with(&[(back.clone(), order)]), &bytes);
            if let Datum::Numeric(n) = &datum {
                prop_assert!(back.is_identical(&Datum::Numeric(n.trim_scale())));
            }
            // The untyped decode agrees, up to width; oids come back as the
            // integer they encode as.
            let untyped = decode_key(&bytes).expect("key decodes");
            match (&untyped[0], &datum) {
                (Datum::Int8(v), Datum::Oid(oid)) => prop_assert_eq!(*v, i64::from(*oid)),
                (u, d) => prop_assert_eq!(u.cmp_same_type(d), Some(Ordering::Equal)),
            }
        }

        #[test]
        fn key_order_matches_sql_order_for_pairs((a, b) in arb_typed_pair()) {
            let expected = a.cmp_same_type(&b).expect("same-typed values compare");
            prop_assert_eq!(key1(&a).cmp(&key1(&b)), expected, "{:?} vs {:?}", a, b);
        }

        #[test]
        fn key_order_matches_sql_order_across_widths(
            a in any::<i16>(),
            b in any::<i64>(),
            c in any::<i32>(),
        ) {
            let (a, b, c) = (Datum::Int2(a), Datum::Int8(b), Datum::Int4(c));
            for (x, y) in [(&a, &b), (&b, &c), (&a, &c)] {
                let expected = x.cmp_same_type(y).expect("ints compare");
                prop_assert_eq!(key1(x).cmp(&key1(y)), expected);
            }
        }

        #[test]
        fn key_order_matches_sql_order_for_floats_across_widths(
            a in any::<f32>(),
            b in any::<f64>(),
        ) {
            let (a, b) = (Datum::Float4(a), Datum::Float8(b));
            let expected = a.cmp_same_type(&b).expect("floats compare");
            prop_assert_eq!(key1(&a).cmp(&key1(&b)), expected);
        }

        #[test]
        fn key_order_matches_sql_order_for_tuples((orders, a, b) in arb_tuple_pair()) {
            let columns = |row: &[Datum]| {
                row.iter().cloned().zip(orders.iter().copied()).collect::<Vec<_>>()
            };
            let (ka, kb) = (key_with(&columns(&a)), key_with(&columns(&b)));
            prop_assert_eq!(ka.cmp(&kb), reference_cmp(&a, &b, &orders), "{:?} vs {:?}", a, b);
            // Every prefix of a tuple is a byte prefix of its key.
            for n in 0..a.len() {
                let prefix = key_with(&columns(&a[..n]));
                prop_assert!(ka.starts_with(&prefix));
                prop_assert_eq!(split_key(&ka, n).expect("splits").0, &prefix[..]);
            }
            let decoded = decode_key(&ka).expect("key decodes");
            prop_assert_eq!(decoded.len(), a.len());
        }

        #[test]
        fn prefix_successor_bounds_prefix_scans(
            prefix in prop::collection::vec(edge_byte(), 0..4),
            probe in prop::collection::vec(edge_byte(), 0..6),
        ) {
            let in_range = match prefix_successor(&prefix) {
                Some(end) => probe >= prefix && probe < end,
                None => probe >= prefix,
            };
            prop_assert_eq!(in_range, probe.starts_with(&prefix), "{:02X?} {:02X?}", prefix, probe);
        }

        #[test]
        fn truncated_keys_never_decode_whole(
            columns in prop::collection::vec((arb_typed_value(), arb_order()), 1..4),
        ) {
            let (types, row): (Vec<DataType>, Vec<(Datum, SortOrder)>) =
                columns.into_iter().map(|((ty, d), o)| (ty, (d, o))).unzip();
            let bytes = key_with(&row);
            for len in 0..bytes.len() {
                prop_assert!(decode_key_typed(&bytes[..len], &types).is_err());
                if let Ok(decoded) = decode_key(&bytes[..len]) {
                    prop_assert!(decoded.len() < row.len());
                }
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    0x00u8, 0x01, 0x10, 0x28, 0x2F, 0x30, 0x31, 0x38, 0x40, 0x50, 0x51, 0x52, 0x53,
                    0x55, 0x60, 0x61, 0x68, 0x6B, 0x6C, 0x7F, 0x80, 0xAE, 0xAC,
                    0xCF, 0xD0, 0xFE, 0xFF,
                ]),
                any::<u8>(),
            ],
            0..48,
        )) {
            let _ = decode_key(&bytes);
            let _ = decode_key_typed(&bytes, &[DataType::Int2, DataType::Float4]);
            let _ = split_key(&bytes, 2);
        }

        #[test]
        fn mutated_keys_never_panic(
            columns in prop::collection::vec((arb_typed_value(), arb_order()), 1..4),
            at in any::<prop::sample::Index>(),
            xor in 1u8..=255,
        ) {
            let row: Vec<(Datum, SortOrder)> =
                columns.into_iter().map(|((_, d), o)| (d, o)).collect();
            let mut bytes = key_with(&row);
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            let _ = decode_key(&bytes);
            let _ = split_key(&bytes, row.len());
        }
    }
}
