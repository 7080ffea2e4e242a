//! Anonymous record types: PostgreSQL's `record` (OID 2249), the type of
//! `ROW(a, b)`, of a whole-row reference to a table (`SELECT t FROM t`) and
//! of a set-returning function with several output columns used in a
//! select list (`information_schema._pg_expandarray`, which pgjdbc's
//! `DatabaseMetaData` reads with `(… ).n`).
//!
//! # Why types are interned
//!
//! A record's field names and types are known while binding, and field
//! selection (`(r).n`) resolves to a position then. [`DataType`] is `Copy`
//! and flows everywhere a type does (derived tables, CTEs, subqueries), so
//! the record's shape rides along as a `&'static` [`RecordType`], interned
//! once per distinct shape: PostgreSQL keeps such "blessed" anonymous row
//! types for the life of a backend the same way
//! (`assign_record_type_typmod`). Shapes come from query text, so there are
//! at most [`RECORD_TYPES_MAX`] of them per process.
//!
//! Values ([`crate::datum::Datum::Record`]) hold only their fields; the
//! type that names them is the expression's.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use super::DataType;

/// Most distinct record shapes a process interns. Each costs a few hundred
/// bytes and lives as long as the process; real workloads use a handful (the
/// shapes in their queries), so hitting this means something generates
/// shapes without end.
pub const RECORD_TYPES_MAX: usize = 100_000;

/// One field of a record type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordField {
    /// The field's name (`f1`, `f2`, ... for `ROW(...)`).
    pub name: String,
    /// The field's type.
    pub ty: DataType,
}

/// The shape of an anonymous record: its fields in order. A record whose
/// shape is not known (`NULL::record`) has no fields listed.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RecordType {
    /// Fields in order.
    pub fields: Vec<RecordField>,
}

/// The record type of unknown shape.
pub static RECORD_UNKNOWN: RecordType = RecordType { fields: Vec::new() };

/// Interning failed: the process has [`RECORD_TYPES_MAX`] shapes already.
#[derive(Debug, thiserror::Error)]
#[error("too many distinct record types (at most {RECORD_TYPES_MAX})")]
pub struct TooManyRecordTypes;

fn interned() -> &'static Mutex<HashSet<&'static RecordType>> {
    static TYPES: OnceLock<Mutex<HashSet<&'static RecordType>>> = OnceLock::new();
    TYPES.get_or_init(|| Mutex::new(HashSet::new()))
}

impl RecordType {
    /// Returns the record type with these fields, as a [`DataType`].
    pub fn intern(fields: Vec<RecordField>) -> Result<DataType, TooManyRecordTypes> {
        if fields.is_empty() {
            return Ok(DataType::Record(&RECORD_UNKNOWN));
        }
        let wanted = RecordType { fields };
        let mut types = interned().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = types.get(&wanted) {
            return Ok(DataType::Record(t));
        }
        if types.len() >= RECORD_TYPES_MAX {
            return Err(TooManyRecordTypes);
        }
        let leaked: &'static RecordType = Box::leak(Box::new(wanted));
        types.insert(leaked);
        Ok(DataType::Record(leaked))
    }

    /// Returns the record type whose fields are `f1`, `f2`, ... of these
    /// types, as `ROW(a, b)` makes.
    pub fn anonymous(types: &[DataType]) -> Result<DataType, TooManyRecordTypes> {
        RecordType::intern(
            types
                .iter()
                .enumerate()
                .map(|(i, ty)| RecordField {
                    name: format!("f{}", i + 1),
                    ty: *ty,
                })
                .collect(),
        )
    }

    /// The position and type of the field named `name`.
    pub fn field(&self, name: &str) -> Option<(usize, DataType)> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| (i, self.fields[i].ty))
    }
}

/// Prints a record as PostgreSQL's `record_out`: `(a,b)`, a NULL field as
/// nothing, and a field quoted when it is empty or holds a quote, a
/// backslash, a parenthesis, a comma or white space (quotes and
/// backslashes doubled inside).
pub fn format_record<'a>(fields: impl IntoIterator<Item = Option<&'a str>>) -> String {
    let mut out = String::from("(");
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(text) = field else { continue };
        let quote = text.is_empty()
            || text
                .bytes()
                .any(|b| matches!(b, b'"' | b'\\' | b'(' | b')' | b',') || is_c_space(b));
        if quote {
            out.push('"');
        }
        for ch in text.chars() {
            if matches!(ch, '"' | '\\') {
                out.push(ch);
            }
            out.push(ch);
        }
        if quote {
            out.push('"');
        }
    }
    out.push(')');
    out
}

/// C's `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_out_quotes_as_postgres() {
        // Checked against PostgreSQL 15: SELECT ROW(1, NULL, '', 'a b',
        // 'x,y', '(p)', 'q"r', 's\t');
        let fields = [
            Some("1"),
            None,
            Some(""),
            Some("a b"),
            Some("x,y"),
            Some("(p)"),
            Some("q\"r"),
            Some("s\\t"),
            Some("plain"),
        ];
        assert_eq!(
            format_record(fields),
            r#"(1,,"","a b","x,y","(p)","q""r","s\\t",plain)"#
        );
        assert_eq!(format_record([]), "()");
        assert_eq!(format_record([None]), "()");
        assert_eq!(format_record([None, None]), "(,)");
    }

    #[test]
    fn shapes_are_interned_once() {
        let a = RecordType::anonymous(&[DataType::Int4, DataType::Text]).unwrap();
        let b = RecordType::anonymous(&[DataType::Int4, DataType::Text]).unwrap();
        let (DataType::Record(ra), DataType::Record(rb)) = (a, b) else {
            panic!("records expected: {a:?} {b:?}");
        };
        assert!(std::ptr::eq(ra, rb), "one shape, one interned type");
        assert_eq!(ra.field("f2"), Some((1, DataType::Text)));
        assert_eq!(ra.field("f3"), None);
        let c = RecordType::anonymous(&[DataType::Int4, DataType::Int4]).unwrap();
        assert_ne!(a, c);
        assert_eq!(
            RecordType::anonymous(&[]).unwrap(),
            DataType::Record(&RECORD_UNKNOWN)
        );
    }
}
