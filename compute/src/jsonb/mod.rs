//! PostgreSQL's `jsonb`: a binary document format with sorted keys, the text
//! parser and printer, and the operators and functions, each behaving as
//! PostgreSQL 15 does.
//!
//! # Why this module exists
//!
//! Clients see PostgreSQL exactly (DESIGN §3), and `jsonb` shows a lot of
//! PostgreSQL's behaviour to applications: the printed form
//! (`{"a": 1, "b": [1, 2]}`), key order (shorter keys first), numeric semantics
//! (`1.50` stays `1.50`, `1e2` prints as `100`), containment rules, btree
//! ordering and error texts. [`Datum::Jsonb`](crate::datum::Datum::Jsonb)
//! carries the bytes defined here, and the SQL layer reads them through
//! [`JsonbRef`].
//!
//! The format is read in place. `->` on an object is a binary search over
//! the key directory. A nested value is a sub-slice that is itself a valid
//! value, so `->` and `#>` return without copying, and `||`, `jsonb_set` and
//! `jsonb_agg` copy the sub-documents they leave alone as plain bytes.
//!
//! # Binary layout, format version 1
//!
//! A document is a version byte followed by one value, which runs to the
//! end of the document. A value's length always comes from its context (the
//! document's end, or its parent's offset table), so scalars carry no length:
//!
//! ```text
//! document := FORMAT_V1:u8  value
//!
//! value    := 0x00                      null
//!           | 0x01 | 0x02               false | true
//!           | 0x03 digits               number: numeric_out text, e.g. "1.50", "-0.001", "100"
//!           | 0x04 utf8                 string: the characters, unescaped, no NUL
//!           | array | object
//!
//! array    := 0x10|w  value{n}                        end[w]{n}                  n[w]
//! object   := 0x20|w  key{n} value{n}                 key_end[w]{n} val_end[w]{n} n[w]
//! ```
//!
//! For example, `{"bb": true, "a": null}` (keys sorted, widths of 1 byte):
//!
//! ```text
//! +------+------+-------+-------+------+------+---------+---------+------+
//! |  01  |  20  |  "a"  | "bb"  |  00  |  02  |  01 03  |  01 02  |  02  |
//! +------+------+-------+-------+------+------+---------+---------+------+
//!   ver    tag    key 0   key 1   null   true   key_end   val_end    n
//! ```
//!
//! `w` is the width of every offset and of the count in the container: 1, 2
//! or 4 bytes, little-endian, tag low bits 0, 1 and 2. It is the smallest width
//! that holds both the data length and `n`. The offset tables sit after the
//! data, so a writer can stream the children and then append the tables, with
//! no second pass. An entry is the end of child `i`, relative to the start of
//! its area: the first element, the first key, or the first value (which
//! follows the last key). Child `i` starts where child `i - 1` ends, and at 0
//! for child 0.
//!
//! Object keys are unique and sorted as PostgreSQL sorts them: shorter keys
//! first, then bytewise. `->` binary-searches the key directory and reads one
//! key per probe. When a document has duplicate keys, the last one wins, as in
//! PostgreSQL.
//!
//! A number is the text `numeric_out` prints for a finite numeric value:
//! `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, never `-0`. This keeps the display scale and
//! prints with a copy. Comparisons parse the text into a
//! [`Numeric`](crate::datum::Numeric), so `1.0 = 1.00`.
//!
//! A top-level scalar is stored as that scalar. PostgreSQL stores it as a
//! one-element "raw scalar" pseudo-array, and that shows in a few places
//! (`'1'::jsonb -> 0` is `1`, and `||` treats a scalar like a one-element
//! array). The operators here copy that behaviour.
//!
//! # Trust and checking
//!
//! [`Jsonb`] owns a document that has been checked all the way through:
//! the parser and builders only produce valid documents, and
//! [`Jsonb::from_bytes`] validates. [`JsonbRef::from_document`] reads stored
//! bytes without a full scan. It checks the version byte and the root header,
//! and then each accessor checks the offsets it follows, so corrupt bytes give
//! [`JsonbError::Corrupt`] and never a panic. A value from such a reference
//! is validated when it is copied into a new document, so a new [`Jsonb`]
//! never contains corrupt parts. Validation also requires the canonical form:
//! minimal widths, sorted unique keys, canonical number text. So every value
//! has exactly one encoding.
//!
//! # Limits and known differences from PostgreSQL
//!
//! * Nesting is limited to [`MAX_DEPTH`] levels, a little below where
//!   PostgreSQL's stack runs out. Past it the error is PostgreSQL's `stack
//!   depth limit exceeded`, SQLSTATE 54001. The parser, the walks over the
//!   binary form and the builders keep their stacks on the heap, so depth
//!   costs no thread stack.
//! * A container's data, and a string, is at most [`MAX_CONTAINER_BYTES`],
//!   PostgreSQL's `JENTRY_OFFLENMASK`. The byte counts are this format's, not
//!   PostgreSQL's, so the largest containers differ slightly.
//! * String ordering is bytewise, the "C" collation, as everywhere in Sextant.
//! * `to_jsonb` of a `timestamptz` prints in UTC, as a session with
//!   `TimeZone = 'UTC'` does. Intervals print in `IntervalStyle = postgres`.
//! * Errors carry PostgreSQL's message, DETAIL and HINT, but not the
//!   `CONTEXT: JSON data, line 1: ...` line.
//!
//! `compute/tests/jsonb_pg.rs` checks all of this against outputs recorded
//! from a real PostgreSQL 15 (`compute/tests/data/jsonb/`).

mod convert;
mod format;
mod ops;
mod order;
mod parse;
mod print;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::datum::Datum;

pub use convert::{build_array, build_object, to_jsonb, to_jsonb_typed, ArrayAgg, ObjectAgg};
pub use format::{
    members_document, members_order, JsonbRef, FORMAT_V1, MAX_CONTAINER_BYTES, MEMBERS_MAX,
};

/// Most levels of nested arrays and objects in a document; a scalar has
/// depth 0 and `[[1]]` depth 2. PostgreSQL has no fixed limit, but its
/// 2 MB stack stops `jsonb_in` at about 14 500 levels (PostgreSQL 15 on
/// x86-64). This limit is below that, so PostgreSQL accepts every
/// document accepted here. Nothing here recurses per level: the walks keep
/// their stacks on the heap (`deepest_documents_fit_in_a_small_stack`).
pub const MAX_DEPTH: usize = 10_000;

/// The error from parsing, reading or operating on jsonb. It carries
/// PostgreSQL's message, DETAIL and HINT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonbError {
    /// The text is not JSON (SQLSTATE 22P02). The detail is PostgreSQL's,
    /// e.g. `Token "x" is invalid.`
    #[error("invalid input syntax for type json")]
    Syntax {
        /// What is wrong and where.
        detail: String,
        /// PostgreSQL's CONTEXT: the input up to the bad token
        /// (`JSON data, line 1: {bad...`).
        context: String,
    },
    /// A string has `\u0000`, which PostgreSQL text cannot hold (SQLSTATE
    /// 22P05).
    #[error("unsupported Unicode escape sequence")]
    UnsupportedUnicodeEscape {
        /// PostgreSQL's explanation.
        detail: String,
    },
    /// A number is outside numeric's range (SQLSTATE 22003).
    #[error("value overflows numeric format")]
    NumericOverflow,
    /// A string from a datum contains a NUL character, which PostgreSQL text
    /// cannot hold (SQLSTATE 22021).
    #[error("invalid byte sequence for encoding \"UTF8\": 0x00")]
    NulCharacter,
    /// A string or key is longer than [`MAX_CONTAINER_BYTES`] (SQLSTATE
    /// 54000).
    #[error("string too long to represent as jsonb string")]
    StringTooLong,
    /// The document nests deeper than [`MAX_DEPTH`] (SQLSTATE 54001).
    #[error("stack depth limit exceeded")]
    TooDeep {
        /// [`MAX_DEPTH`].
        max: usize,
    },
    /// A container's data exceeds [`MAX_CONTAINER_BYTES`] (SQLSTATE 54000).
    #[error("total size of jsonb {what} elements exceeds the maximum of {max} bytes")]
    TooLarge {
        /// `array` or `object`.
        what: &'static str,
        /// [`MAX_CONTAINER_BYTES`].
        max: usize,
    },
    /// The operation does not apply to this value or these arguments
    /// (SQLSTATE 22023), e.g. `cannot get array length of a scalar`.
    #[error("{message}")]
    InvalidParameter {
        /// PostgreSQL's message.
        message: String,
        /// PostgreSQL's hint, if it gives one.
        hint: Option<&'static str>,
    },
    /// A path element addressing an array is not an integer (SQLSTATE 22P02).
    #[error("path element at position {position} is not an integer: \"{element}\"")]
    PathElementNotInteger {
        /// The element's 1-based position in the path.
        position: usize,
        /// The element.
        element: String,
    },
    /// A path element is NULL (SQLSTATE 22004).
    #[error("path element at position {position} is null")]
    NullPathElement {
        /// The element's 1-based position in the path.
        position: usize,
    },
    /// A key passed to `jsonb_build_object` is NULL (SQLSTATE 22023).
    #[error("argument {position}: key must not be null")]
    NullKey {
        /// The key's 1-based position in the argument list.
        position: usize,
    },
    /// A key passed to `jsonb_object_agg` is NULL (SQLSTATE 22023).
    #[error("field name must not be null")]
    NullFieldName,
    /// An object key is json, jsonb or another non-scalar (SQLSTATE 22023).
    #[error("key value must be scalar, not array, composite, or json")]
    NonScalarKey,
    /// The bytes are not a valid jsonb document (SQLSTATE XX001).
    #[error("corrupt jsonb: {what}")]
    Corrupt {
        /// What is wrong.
        what: &'static str,
    },
}

impl JsonbError {
    /// Returns the PostgreSQL SQLSTATE for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            JsonbError::Syntax { .. } => "22P02",
            JsonbError::UnsupportedUnicodeEscape { .. } => "22P05",
            JsonbError::NumericOverflow => "22003",
            JsonbError::NulCharacter => "22021",
            JsonbError::StringTooLong => "54000",
            JsonbError::TooDeep { .. } => "54001",
            JsonbError::TooLarge { .. } => "54000",
            JsonbError::InvalidParameter { .. } => "22023",
            JsonbError::PathElementNotInteger { .. } => "22P02",
            JsonbError::NullPathElement { .. } => "22004",
            JsonbError::NullKey { .. } => "22023",
            JsonbError::NullFieldName => "22023",
            JsonbError::NonScalarKey => "22023",
            JsonbError::Corrupt { .. } => "XX001",
        }
    }

    /// Returns the DETAIL PostgreSQL sends with this error, if any.
    pub fn detail(&self) -> Option<String> {
        match self {
            JsonbError::Syntax { detail, .. } | JsonbError::UnsupportedUnicodeEscape { detail } => {
                Some(detail.clone())
            }
            JsonbError::TooDeep { max } => {
                Some(format!("jsonb nesting is limited to {max} levels."))
            }
            _ => None,
        }
    }

    /// Returns the CONTEXT PostgreSQL sends with this error, if any.
    pub fn context(&self) -> Option<String> {
        match self {
            JsonbError::Syntax { context, .. } => Some(context.clone()),
            _ => None,
        }
    }

    /// Returns the HINT PostgreSQL sends with this error, if any.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            JsonbError::InvalidParameter { hint, .. } => *hint,
            _ => None,
        }
    }

    pub(crate) fn corrupt(what: &'static str) -> JsonbError {
        JsonbError::Corrupt { what }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> JsonbError {
        JsonbError::InvalidParameter {
            message: message.into(),
            hint: None,
        }
    }
}

/// The kind of a jsonb value, as `jsonb_typeof` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// JSON `null`.
    Null,
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl Kind {
    /// Returns the name `jsonb_typeof` gives this kind.
    pub const fn type_name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Bool => "boolean",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }

    /// Returns whether this is a scalar kind.
    pub const fn is_scalar(self) -> bool {
        !matches!(self, Kind::Array | Kind::Object)
    }
}

/// Parses JSON text into a jsonb document, as PostgreSQL's `jsonb_in`:
/// objects keep the last of duplicate keys, numbers become numerics, and
/// invalid input gives PostgreSQL's error and DETAIL.
pub fn parse(text: &str) -> Result<Jsonb, JsonbError> {
    let node = parse::parse(text)?;
    format::encode(&node)
}

/// An owned, fully validated jsonb document: what [`Datum::Jsonb`] holds.
///
/// Equality, ordering and hashing are PostgreSQL's btree semantics (see
/// [`JsonbRef::compare`]): `1.0 = 1`, and `{"a": 1} > [1, 2, 3]`. `Display`
/// prints the canonical text.
#[derive(Clone)]
pub struct Jsonb {
    bytes: Vec<u8>,
}

impl Jsonb {
    /// Parses JSON text; see [`parse`].
    pub fn parse(text: &str) -> Result<Jsonb, JsonbError> {
        parse(text)
    }

    /// Takes a stored document, validating all of it.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Jsonb, JsonbError> {
        JsonbRef::from_document(&bytes)?.validate()?;
        Ok(Jsonb { bytes })
    }

    /// Wraps bytes the encoder has just produced.
    pub(crate) fn from_encoded(bytes: Vec<u8>) -> Jsonb {
        debug_assert!(
            JsonbRef::from_document(&bytes)
                .and_then(|r| r.validate())
                .is_ok(),
            "the encoder produced an invalid document"
        );
        Jsonb { bytes }
    }

    /// Returns the document's bytes, as stored in [`Datum::Jsonb`].
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Returns the document's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Returns a reference to the root value, for the operators.
    pub fn view(&self) -> JsonbRef<'_> {
        JsonbRef::from_document(&self.bytes).expect("a Jsonb holds a validated document")
    }
}

impl From<Jsonb> for Datum {
    fn from(value: Jsonb) -> Datum {
        Datum::Jsonb(value.bytes)
    }
}

impl FromStr for Jsonb {
    type Err = JsonbError;

    fn from_str(text: &str) -> Result<Jsonb, JsonbError> {
        parse(text)
    }
}

impl fmt::Display for Jsonb {
    /// Prints as PostgreSQL's `jsonb_out`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .view()
            .to_text()
            .expect("a Jsonb holds a validated document");
        f.write_str(&text)
    }
}

impl fmt::Debug for Jsonb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jsonb({self})")
    }
}

impl Ord for Jsonb {
    fn cmp(&self, other: &Jsonb) -> Ordering {
        self.view()
            .compare(&other.view())
            .expect("a Jsonb holds a validated document")
    }
}

impl PartialOrd for Jsonb {
    fn partial_cmp(&self, other: &Jsonb) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Jsonb {
    fn eq(&self, other: &Jsonb) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Jsonb {}

impl Hash for Jsonb {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.view()
            .hash_into(state)
            .expect("a Jsonb holds a validated document");
    }
}

#[cfg(test)]
mod tests;
