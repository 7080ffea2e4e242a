//! The catalog: tables and indexes, stored in a B+tree like any data.
//!
//! Because the catalog lives in pages, DDL is logged, versioned and seen at a
//! snapshot's LSN exactly as rows are: a reader at LSN `L` sees the tables
//! that existed at `L`. The engine keeps decoded copies of recent catalog
//! versions keyed by the LSN of the DDL that made them.
//!
//! Entries are keyed by object id (8 bytes, big-endian) and hold a table's
//! definition, its indexes included, as JSON: small, rarely written, and
//! readable in a hex dump when something goes wrong.
//!
//! # Stored rows and ALTER TABLE
//!
//! A stored row is the list of its values in *slots*. While no column was
//! ever dropped, column `i` sits in slot `i`. `ADD COLUMN` never rewrites
//! rows: the new column takes the next slot, and rows written before it
//! existed are shorter; they read the column's *missing value*
//! ([`ColumnDef::missing`], PostgreSQL's `attmissingval`), the constant
//! default it was added with, or NULL. `DROP COLUMN` never rewrites rows
//! either: the column leaves [`TableDef::columns`] (so positions, index keys
//! and the primary key shift down, and nothing above the engine ever sees it)
//! while [`TableDef::stored`] remembers which slot each remaining column
//! reads and how many slots were ever used, so the dropped value is skipped
//! and its slot is never reused. PostgreSQL keeps dropped columns the same
//! way (`attisdropped`); a rewrite would cost a full copy of the table in
//! one transaction, and its rows could not be decoded at commit without the
//! old layout anyway. Both new fields default when absent, so catalogs
//! written before they existed read unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sextant_storage::types::PageId;

use crate::datum::{decode_row, encode_row, Datum, MAX_COLUMNS};

/// The most key columns (or expressions) an index or primary key has:
/// PostgreSQL's `INDEX_MAX_KEYS`, which clients read from `max_index_keys`
/// (pgjdbc sizes its foreign-key queries by it).
pub const INDEX_KEYS_MAX: usize = 32;

/// Identity of a table or index, unique in the volume, never reused.
pub type ObjectId = u64;

/// A column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// PostgreSQL type OID.
    pub type_oid: u32,
    /// Type modifier (`varchar(n)`: n), -1 when none.
    pub type_mod: i32,
    /// NOT NULL.
    pub not_null: bool,
    /// DEFAULT expression as SQL text, evaluated by the SQL layer.
    pub default: Option<String>,
    /// What rows stored before the column was added read for it
    /// (PostgreSQL's `attmissingval`); `None` reads NULL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<StoredValue>,
}

/// One value kept in a catalog entry: the row encoding of a one-value row,
/// as hex in the JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredValue(Vec<u8>);

impl StoredValue {
    /// Encodes `d`.
    pub fn new(d: &Datum) -> Result<StoredValue, crate::datum::EncodeError> {
        let mut out = Vec::new();
        encode_row(std::slice::from_ref(d), &mut out)?;
        Ok(StoredValue(out))
    }

    /// The value.
    pub fn datum(&self) -> Result<Datum, String> {
        let mut row = decode_row(&self.0).map_err(|e| format!("stored value: {e}"))?;
        match (row.pop(), row.is_empty()) {
            (Some(d), true) => Ok(d),
            _ => Err("stored value does not hold exactly one value".into()),
        }
    }
}

impl Serialize for StoredValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut hex = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            hex.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for StoredValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StoredValue, D::Error> {
        let hex = String::deserialize(d)?;
        if hex.len() % 2 != 0 || !hex.is_ascii() {
            return Err(serde::de::Error::custom(
                "stored value: odd or non-ASCII hex",
            ));
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map(StoredValue)
            .map_err(|e| serde::de::Error::custom(format!("stored value: {e}")))
    }
}

/// Where columns sit in stored rows once a column has been dropped (see the
/// module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLayout {
    /// The slot of each column, by column position; strictly increasing.
    pub slots: Vec<u32>,
    /// Slots ever used: stored rows have at most this many values, and the
    /// next column added takes slot `width`.
    pub width: u32,
}

/// One key part of an index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKey {
    /// A column, by position.
    Column(usize),
    /// An expression as SQL text, evaluated by the SQL layer's key function.
    Expr(String),
}

/// A secondary index: a B+tree on `(key values, primary key)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    /// Object id.
    pub id: ObjectId,
    /// Index name.
    pub name: String,
    /// Root page of its B+tree.
    #[serde(with = "page_id")]
    pub root: PageId,
    /// UNIQUE (NULLs never conflict, as in PostgreSQL).
    pub unique: bool,
    /// Key parts.
    pub keys: Vec<IndexKey>,
    /// The index backs a UNIQUE constraint (`UNIQUE` in `CREATE TABLE` or
    /// `ADD COLUMN`), which `pg_constraint` lists; false for `CREATE
    /// [UNIQUE] INDEX`. Absent in catalogs written before it existed, where
    /// it reads false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub constraint: bool,
}

/// A table: a B+tree clustered on its primary key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    /// Object id.
    pub id: ObjectId,
    /// Table name.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<ColumnDef>,
    /// Positions of the primary key columns; empty means a hidden row id.
    pub primary_key: Vec<usize>,
    /// Root page of the table's B+tree.
    #[serde(with = "page_id")]
    pub root: PageId,
    /// Secondary indexes.
    pub indexes: Vec<IndexDef>,
    /// Slots of the columns in stored rows; `None` while column `i` is
    /// stored in slot `i` (no column was ever dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredLayout>,
}

impl TableDef {
    /// Position of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The index called `name`.
    pub fn index(&self, name: &str) -> Option<&IndexDef> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// True when rows are keyed by a hidden row id.
    pub fn has_hidden_rowid(&self) -> bool {
        self.primary_key.is_empty()
    }

    /// Slots used by stored rows: the slot the next column added takes.
    pub fn stored_width(&self) -> u32 {
        match &self.stored {
            Some(l) => l.width,
            None => u32::try_from(self.columns.len()).expect("at most MAX_COLUMNS columns"),
        }
    }

    /// The slot column `i` is stored in.
    pub fn slot(&self, i: usize) -> usize {
        match &self.stored {
            Some(l) => l.slots[i] as usize,
            None => i,
        }
    }

    /// Checks the invariants of the stored layout and of column positions
    /// in keys; `Err` names the first one broken.
    pub fn check(&self) -> Result<(), String> {
        let n = self.columns.len();
        if let Some(l) = &self.stored {
            if l.slots.len() != n {
                return Err(format!("{} slots for {n} columns", l.slots.len()));
            }
            if l.slots.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("slots {:?} are not increasing", l.slots));
            }
            if l.slots.last().is_some_and(|s| *s >= l.width) {
                return Err(format!("slots {:?} reach the width {}", l.slots, l.width));
            }
        }
        if self.stored_width() as usize > MAX_COLUMNS {
            return Err(format!(
                "{} slots, the limit is {MAX_COLUMNS}",
                self.stored_width()
            ));
        }
        if let Some(c) = self.primary_key.iter().find(|c| **c >= n) {
            return Err(format!("primary key column {c} of {n}"));
        }
        for ix in &self.indexes {
            for k in &ix.keys {
                if let IndexKey::Column(c) = k {
                    if *c >= n {
                        return Err(format!("index {} uses column {c} of {n}", ix.name));
                    }
                }
            }
        }
        Ok(())
    }

    /// A stored row (values by slot) as a row of this table's columns:
    /// dropped slots are skipped, and columns added after the row was
    /// written read their missing value.
    pub fn row_from_stored(&self, mut stored: Vec<Datum>) -> Result<Vec<Datum>, String> {
        let width = self.stored_width() as usize;
        if stored.len() > width {
            return Err(format!(
                "row has {} values, the table stores {width}",
                stored.len()
            ));
        }
        match &self.stored {
            None => {
                for c in &self.columns[stored.len()..] {
                    stored.push(missing_value(c)?);
                }
                Ok(stored)
            }
            Some(l) => {
                let mut row = Vec::with_capacity(self.columns.len());
                for (c, slot) in self.columns.iter().zip(&l.slots) {
                    row.push(match stored.get_mut(*slot as usize) {
                        Some(d) => std::mem::replace(d, Datum::Null),
                        None => missing_value(c)?,
                    });
                }
                Ok(row)
            }
        }
    }

    /// A row of this table's columns as it is stored: by slot, with NULL in
    /// the slots of dropped columns.
    pub fn row_to_stored<'a>(&self, row: &'a [Datum]) -> std::borrow::Cow<'a, [Datum]> {
        assert_eq!(row.len(), self.columns.len(), "row of {}", self.name);
        match &self.stored {
            None => std::borrow::Cow::Borrowed(row),
            Some(l) => {
                let used = l.slots.last().map_or(0, |s| *s as usize + 1);
                let mut out = vec![Datum::Null; used];
                for (d, slot) in row.iter().zip(&l.slots) {
                    out[*slot as usize] = d.clone();
                }
                std::borrow::Cow::Owned(out)
            }
        }
    }
}

fn missing_value(c: &ColumnDef) -> Result<Datum, String> {
    match &c.missing {
        Some(v) => v.datum(),
        None => Ok(Datum::Null),
    }
}

/// Page ids in catalog entries are plain numbers.
mod page_id {
    use serde::{Deserialize, Deserializer, Serializer};
    use sextant_storage::types::PageId;

    pub fn serialize<S: Serializer>(id: &PageId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(id.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PageId, D::Error> {
        u64::deserialize(d).map(PageId)
    }
}

/// The catalog entry key of object `id`.
pub fn entry_key(id: ObjectId) -> [u8; 8] {
    id.to_be_bytes()
}

/// Encodes a table definition for its catalog entry.
pub fn encode_table(def: &TableDef) -> Vec<u8> {
    serde_json::to_vec(def).expect("table definitions serialize")
}

/// Decodes a catalog entry.
pub fn decode_table(bytes: &[u8]) -> Result<TableDef, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("bad catalog entry: {e}"))
}

/// The catalog as of one LSN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    tables: BTreeMap<ObjectId, Arc<TableDef>>,
}

impl Catalog {
    /// A catalog holding `tables`.
    pub fn from_tables(tables: impl IntoIterator<Item = TableDef>) -> Catalog {
        Catalog {
            tables: tables.into_iter().map(|t| (t.id, Arc::new(t))).collect(),
        }
    }

    /// The table with id `id`.
    pub fn table(&self, id: ObjectId) -> Option<&Arc<TableDef>> {
        self.tables.get(&id)
    }

    /// The table called `name`.
    pub fn table_by_name(&self, name: &str) -> Option<&Arc<TableDef>> {
        self.tables.values().find(|t| t.name == name)
    }

    /// Every table, by id.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableDef>> {
        self.tables.values()
    }

    /// The table owning index `name`, and the index.
    pub fn index_by_name(&self, name: &str) -> Option<(&Arc<TableDef>, &IndexDef)> {
        self.tables
            .values()
            .find_map(|t| t.index(name).map(|i| (t, i)))
    }

    /// True when `name` names a relation: a table, an index, or a table's
    /// primary key index (`t_pkey`, which PostgreSQL lists as a relation).
    pub fn relation_name_taken(&self, name: &str) -> bool {
        self.tables.values().any(|t| {
            t.name == name
                || t.index(name).is_some()
                || (!t.primary_key.is_empty()
                    && name.strip_suffix("_pkey") == Some(t.name.as_str()))
        })
    }

    /// Adds or replaces a table.
    pub fn put(&mut self, def: TableDef) {
        self.tables.insert(def.id, Arc::new(def));
    }

    /// Removes a table.
    pub fn remove(&mut self, id: ObjectId) -> Option<Arc<TableDef>> {
        self.tables.remove(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            type_oid: 23,
            type_mod: -1,
            not_null: false,
            default: None,
            missing: None,
        }
    }

    fn table(columns: Vec<ColumnDef>, stored: Option<StoredLayout>) -> TableDef {
        TableDef {
            id: 7,
            name: "t".into(),
            columns,
            primary_key: vec![0],
            root: PageId(3),
            indexes: Vec::new(),
            stored,
        }
    }

    #[test]
    fn entries_written_before_alter_table_existed_still_read() {
        let old = br#"{"id":7,"name":"t","columns":[{"name":"a","type_oid":23,"type_mod":-1,"not_null":true,"default":null}],"primary_key":[0],"root":3,"indexes":[]}"#;
        let def = decode_table(old).unwrap();
        assert_eq!(def.columns[0].missing, None);
        assert_eq!(def.stored, None);
        // And new fields stay out of entries that do not need them.
        let text = String::from_utf8(encode_table(&def)).unwrap();
        assert!(
            !text.contains("missing") && !text.contains("stored"),
            "{text}"
        );
    }

    #[test]
    fn stored_values_and_layouts_round_trip() {
        let mut c = col("b");
        c.missing = Some(StoredValue::new(&Datum::Text("x y".into())).unwrap());
        let def = table(
            vec![col("a"), c],
            Some(StoredLayout {
                slots: vec![0, 2],
                width: 4,
            }),
        );
        assert_eq!(def.check(), Ok(()));
        let back = decode_table(&encode_table(&def)).unwrap();
        assert_eq!(back, def);
        assert_eq!(
            back.columns[1].missing.as_ref().unwrap().datum(),
            Ok(Datum::Text("x y".into()))
        );
    }

    #[test]
    fn rows_map_between_slots_and_columns() {
        let mut b = col("b");
        b.missing = Some(StoredValue::new(&Datum::Int4(5)).unwrap());
        // Identity layout: short rows read missing values.
        let plain = table(vec![col("a"), b.clone()], None);
        assert_eq!(
            plain.row_from_stored(vec![Datum::Int4(1)]),
            Ok(vec![Datum::Int4(1), Datum::Int4(5)])
        );
        assert!(plain
            .row_from_stored(vec![Datum::Null, Datum::Null, Datum::Null])
            .is_err());
        // Slot 1 dropped, b added in slot 2.
        let dropped = table(
            vec![col("a"), b],
            Some(StoredLayout {
                slots: vec![0, 2],
                width: 3,
            }),
        );
        assert_eq!(
            dropped.row_from_stored(vec![Datum::Int4(1), Datum::Int4(99)]),
            Ok(vec![Datum::Int4(1), Datum::Int4(5)])
        );
        let row = vec![Datum::Int4(1), Datum::Int4(2)];
        let stored = dropped.row_to_stored(&row).into_owned();
        assert_eq!(stored, vec![Datum::Int4(1), Datum::Null, Datum::Int4(2)]);
        assert_eq!(dropped.row_from_stored(stored), Ok(row));
        assert!(table(
            vec![col("a")],
            Some(StoredLayout {
                slots: vec![3],
                width: 3
            })
        )
        .check()
        .is_err());
    }
}
