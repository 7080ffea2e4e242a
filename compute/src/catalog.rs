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

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sextant_storage::types::PageId;

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

    /// Adds or replaces a table.
    pub fn put(&mut self, def: TableDef) {
        self.tables.insert(def.id, Arc::new(def));
    }

    /// Removes a table.
    pub fn remove(&mut self, id: ObjectId) -> Option<Arc<TableDef>> {
        self.tables.remove(&id)
    }
}
