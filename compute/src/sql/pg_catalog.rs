//! `pg_catalog` and `information_schema`, generated from the engine's
//! catalog, and the catalog-aware functions and `reg*` conversions that go
//! with them.
//!
//! # Why this module exists
//!
//! Clients learn about a database by querying PostgreSQL's catalogs: psql's
//! `\d`, `\dt`, `\l` and tab completion, drivers' type lookups, ORMs'
//! introspection, GUI browsers. DESIGN §3 says clients see PostgreSQL, so
//! these relations have PostgreSQL 15's names, columns and column types, and
//! their rows describe Sextant's real catalog ([`crate::catalog::Catalog`])
//! the way PostgreSQL would describe the same schema: a table's primary key
//! is an index `<table>_pkey` plus a `p` constraint, an expression index has
//! `0` in `indkey` and its expressions in `indexprs`, defaults deparse to
//! PostgreSQL's canonical text. Built-in objects clients expect (schemas,
//! types, access methods, roles, collations) are PostgreSQL 15's own rows
//! for what this engine has (`pg_catalog/builtin.rs`).
//!
//! # How the planner uses it
//!
//! * [`lookup`] returns a [`VirtualTable`]: columns and a function that
//!   computes every row from a [`CatalogView`] (the transaction's catalog as
//!   of its snapshot). The planner scans those rows like any table.
//! * [`resolve_function`] / [`call_function`] are the catalog functions
//!   (`format_type`, `pg_get_indexdef`, `pg_table_is_visible`, …), shaped
//!   like the function library.
//! * `reg*` values are [`Datum::Oid`]s; reading and printing them needs the
//!   catalog: [`reg_in`], [`reg_out`], and [`cast()`] / [`format_value`],
//!   which route `reg*` casts and output through them and everything else
//!   to [`crate::cast`] and [`crate::pgtext`].
//!
//! # OIDs
//!
//! User objects get OIDs from their [`ObjectId`]s: `16384 + 2·id` for tables
//! and indexes, one more for a table's primary-key index (which is the
//! table's clustered B+tree, not an [`crate::catalog::IndexDef`]), so OIDs
//! are stable across restarts and distinct. A primary-key constraint shares
//! its index's OID (OIDs are unique per catalog in PostgreSQL). Built-in
//! objects keep PostgreSQL's OIDs.
//!
//! # What differs from PostgreSQL
//!
//! * Every user object is in `public` and owned by the bootstrap superuser
//!   (OID 10), who is the session's user: Sextant has no per-object owners.
//!   `pg_roles` lists that user and PostgreSQL's predefined roles.
//! * There are no sequences, views, triggers, rules, policies, publications,
//!   inheritance, comments or extensions, so those catalogs are empty.
//! * `aclitem[]` columns are `text[]` and NULL (default privileges);
//!   `pg_node_tree` columns are `text` holding SQL (which `pg_get_expr`
//!   deparses); `xid` columns are `oid` and 0; `anyarray`
//!   columns are `text[]` and NULL.
//! * Sizes (`pg_relation_size`, `pg_table_size`, …) are 0 and `reltuples`
//!   is -1: the catalog view carries no page counts.
//! * `pg_attribute` has no system columns (`ctid`, `xmin`, …), and the
//!   catalog relations' own columns are all nullable.

mod builtin;

pub(crate) use builtin::QUOTED_KEYWORDS;
mod deparse;
mod functions;
mod info_schema;
mod tables;

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::cast;
use crate::catalog::{Catalog, IndexDef, IndexKey, ObjectId, TableDef};
use crate::datum::{DataType, Datum, Oid, NAME_MAX_BYTES};
use crate::pgtext::{self, TextContext, TypeError};
use crate::sql::error::{code, SqlError};

pub use functions::{
    call_function, is_catalog_function, resolve_function, CatalogFn, PrivilegeObject, Resolved,
};
pub(crate) use tables::attnum;

/// What the catalog relations and functions describe: one transaction's
/// view of the database.
pub struct CatalogView<'a> {
    /// The transaction's catalog as of its snapshot, its own DDL included.
    pub catalog: &'a Catalog,
    /// The database's name.
    pub database: &'a str,
    /// The session's user.
    pub user: &'a str,
    /// Session settings (GUCs): lower-case names to text values.
    pub settings: &'a BTreeMap<String, String>,
    /// Where `set_config()` records its changes for the session; `None`
    /// where settings cannot change (it is then an error).
    pub pending_settings: Option<&'a crate::sql::settings::PendingSettings>,
    /// The session's process id as BackendKeyData gave it (0 when the
    /// session has no connection).
    pub backend_pid: i32,
    /// True on a read replica: `pg_is_in_recovery()`, as on a hot standby.
    pub in_recovery: bool,
}

/// A relation of `pg_catalog` or `information_schema`: its columns and a
/// function computing its rows.
#[derive(Clone)]
pub struct VirtualTable {
    /// `pg_catalog` or `information_schema`.
    pub schema: &'static str,
    /// The relation's name.
    pub name: &'static str,
    /// Column names and types, in order.
    pub columns: Vec<(&'static str, DataType)>,
    /// Every row, one datum per column, of the column's type
    /// ([`DataType::value_type`]).
    pub rows: fn(&CatalogView<'_>) -> Result<Vec<Vec<Datum>>, SqlError>,
}

/// A catalog relation's definition, kept in static tables by
/// [`tables`] and [`info_schema`].
pub(crate) struct Spec {
    pub schema: &'static str,
    pub name: &'static str,
    /// PostgreSQL 15's OID for the relation.
    pub oid: u32,
    /// `r` for a catalog table, `v` for a view.
    pub kind: char,
    pub columns: &'static [(&'static str, DataType)],
    pub rows: fn(&CatalogView<'_>) -> Result<Vec<Vec<Datum>>, SqlError>,
}

impl Spec {
    fn namespace(&self) -> u32 {
        if self.schema == "pg_catalog" {
            builtin::PG_CATALOG
        } else {
            builtin::INFORMATION_SCHEMA
        }
    }

    fn to_table(&self) -> VirtualTable {
        VirtualTable {
            schema: self.schema,
            name: self.name,
            columns: self.columns.to_vec(),
            rows: self.rows,
        }
    }
}

impl std::fmt::Debug for VirtualTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// Every catalog relation, `pg_catalog`'s first.
fn specs() -> impl Iterator<Item = &'static Spec> {
    tables::SPECS.iter().chain(info_schema::SPECS.iter())
}

/// Returns the catalog relation `schema.name`. Unqualified (`schema`
/// `None`), only `pg_catalog` is searched, which PostgreSQL searches before
/// any schema on the path; `information_schema`'s relations must be
/// qualified. Names are as the binder folded them (lower case).
pub fn lookup(schema: Option<&str>, name: &str) -> Option<VirtualTable> {
    let schema = schema.unwrap_or("pg_catalog");
    specs()
        .find(|s| s.schema == schema && s.name == name)
        .map(Spec::to_table)
}

/// First OID PostgreSQL gives user objects (`FirstNormalObjectId`).
const FIRST_NORMAL_OID: u32 = 16384;

/// Largest object id whose OIDs fit in 32 bits.
const OBJECT_ID_MAX: ObjectId = (u32::MAX - FIRST_NORMAL_OID - 1) as ObjectId / 2;

/// Returns the OID of a table or index: `16384 + 2·id`.
///
/// Panics if `id` is above 2³¹ - 8193: object ids are allocated one per
/// DDL and never get there.
pub fn object_oid(id: ObjectId) -> u32 {
    assert!(id <= OBJECT_ID_MAX, "object id {id} has no 32-bit OID");
    FIRST_NORMAL_OID + 2 * u32::try_from(id).expect("checked against OBJECT_ID_MAX")
}

/// Returns the OID of table `table`'s primary-key index (and of its
/// primary-key constraint): one above the table's.
pub fn pkey_oid(table: ObjectId) -> u32 {
    object_oid(table) + 1
}

/// Returns the OID of the UNIQUE constraint index `index` backs
/// ([`IndexDef::constraint`]): one above the index's, as a primary key's
/// index is one above its table's.
pub fn unique_constraint_oid(index: ObjectId) -> u32 {
    object_oid(index) + 1
}

/// The UNIQUE constraint with OID `oid`: its table and index.
pub(crate) fn unique_constraint(catalog: &Catalog, oid: u32) -> Option<(&TableDef, &IndexDef)> {
    let (id, true) = object_of(oid)? else {
        return None;
    };
    catalog.tables().find_map(|t| {
        t.indexes
            .iter()
            .find(|ix| ix.id == id && ix.constraint)
            .map(|ix| (t.as_ref(), ix))
    })
}

/// Returns the object id an OID from [`object_oid`] or [`pkey_oid`] was
/// made from, and whether it is a primary key's.
fn object_of(oid: u32) -> Option<(ObjectId, bool)> {
    let offset = oid.checked_sub(FIRST_NORMAL_OID)?;
    Some((ObjectId::from(offset / 2), offset % 2 == 1))
}

/// Returns the name PostgreSQL gives a table's primary key:
/// `<table>_pkey`, the table's name cut so the whole fits in a `name`
/// (`makeObjectName`).
pub fn pkey_name(table: &str) -> String {
    const SUFFIX: &str = "_pkey";
    let mut end = table.len().min(NAME_MAX_BYTES - SUFFIX.len());
    while !table.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{SUFFIX}", &table[..end])
}

/// A relation as `pg_class` lists it.
pub(crate) struct Relation<'a> {
    pub oid: u32,
    pub name: Cow<'a, str>,
    pub namespace: u32,
    pub kind: RelKind<'a>,
}

/// What a [`Relation`] is.
pub(crate) enum RelKind<'a> {
    /// A user table.
    Table(&'a TableDef),
    /// A user table's primary key, as an index.
    PrimaryKey(&'a TableDef),
    /// A secondary index on a user table.
    Index(&'a TableDef, &'a IndexDef),
    /// A catalog relation.
    Virtual(&'static Spec),
}

impl Relation<'_> {
    /// `pg_class.relkind`.
    pub fn relkind(&self) -> char {
        match self.kind {
            RelKind::Table(_) => 'r',
            RelKind::PrimaryKey(_) | RelKind::Index(..) => 'i',
            RelKind::Virtual(spec) => spec.kind,
        }
    }

    /// The table an index is on.
    pub fn table(&self) -> Option<&TableDef> {
        match self.kind {
            RelKind::Table(t) | RelKind::PrimaryKey(t) | RelKind::Index(t, _) => Some(t),
            RelKind::Virtual(_) => None,
        }
    }
}

/// Every relation: catalog relations, then user tables each followed by
/// its primary key and indexes.
pub(crate) fn relations(catalog: &Catalog) -> Vec<Relation<'_>> {
    let mut out: Vec<Relation<'_>> = specs()
        .map(|spec| Relation {
            oid: spec.oid,
            name: Cow::Borrowed(spec.name),
            namespace: spec.namespace(),
            kind: RelKind::Virtual(spec),
        })
        .collect();
    for t in catalog.tables() {
        out.push(Relation {
            oid: object_oid(t.id),
            name: Cow::Borrowed(&t.name),
            namespace: builtin::PUBLIC,
            kind: RelKind::Table(t),
        });
        if !t.primary_key.is_empty() {
            out.push(Relation {
                oid: pkey_oid(t.id),
                name: Cow::Owned(pkey_name(&t.name)),
                namespace: builtin::PUBLIC,
                kind: RelKind::PrimaryKey(t),
            });
        }
        for ix in &t.indexes {
            out.push(Relation {
                oid: object_oid(ix.id),
                name: Cow::Borrowed(&ix.name),
                namespace: builtin::PUBLIC,
                kind: RelKind::Index(t, ix),
            });
        }
    }
    out
}

/// The relation with OID `oid`.
pub(crate) fn relation(catalog: &Catalog, oid: u32) -> Option<Relation<'_>> {
    if let Some(spec) = specs().find(|s| s.oid == oid) {
        return Some(Relation {
            oid,
            name: Cow::Borrowed(spec.name),
            namespace: spec.namespace(),
            kind: RelKind::Virtual(spec),
        });
    }
    let (id, is_pkey) = object_of(oid)?;
    if let Some(t) = catalog.table(id) {
        if is_pkey {
            return (!t.primary_key.is_empty()).then(|| Relation {
                oid,
                name: Cow::Owned(pkey_name(&t.name)),
                namespace: builtin::PUBLIC,
                kind: RelKind::PrimaryKey(t),
            });
        }
        return Some(Relation {
            oid,
            name: Cow::Borrowed(&t.name),
            namespace: builtin::PUBLIC,
            kind: RelKind::Table(t),
        });
    }
    if is_pkey {
        return None;
    }
    catalog.tables().find_map(|t| {
        t.indexes.iter().find(|ix| ix.id == id).map(|ix| Relation {
            oid,
            name: Cow::Borrowed(&ix.name),
            namespace: builtin::PUBLIC,
            kind: RelKind::Index(t, ix),
        })
    })
}

/// The schemas the session searches, in order: `pg_catalog` first unless
/// the path names it, then each schema of `search_path` that exists
/// (`$user` is the session user's schema, which never exists here).
pub(crate) fn search_path(view: &CatalogView<'_>) -> Vec<u32> {
    let setting = view
        .settings
        .get("search_path")
        .map_or("\"$user\", public", String::as_str);
    let mut path = Vec::new();
    for item in setting.split(',') {
        let item = item.trim();
        let name = match item.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => item.to_ascii_lowercase(),
        };
        let name = if name == "$user" {
            view.user.to_owned()
        } else {
            name
        };
        if let Some(&(oid, _, _)) = builtin::NAMESPACES.iter().find(|n| n.1 == name) {
            if !path.contains(&oid) {
                path.push(oid);
            }
        }
    }
    if !path.contains(&builtin::PG_CATALOG) {
        path.insert(0, builtin::PG_CATALOG);
    }
    path
}

/// A schema's name.
pub(crate) fn namespace_name(oid: u32) -> Option<&'static str> {
    builtin::NAMESPACES.iter().find(|n| n.0 == oid).map(|n| n.1)
}

/// The relation called `name` in schema `namespace`.
fn relation_in<'a>(catalog: &'a Catalog, namespace: u32, name: &str) -> Option<Relation<'a>> {
    if namespace != builtin::PUBLIC {
        return specs()
            .find(|s| s.namespace() == namespace && s.name == name)
            .map(|spec| Relation {
                oid: spec.oid,
                name: Cow::Borrowed(spec.name),
                namespace,
                kind: RelKind::Virtual(spec),
            });
    }
    if let Some(t) = catalog.table_by_name(name) {
        return Some(Relation {
            oid: object_oid(t.id),
            name: Cow::Borrowed(&t.name),
            namespace,
            kind: RelKind::Table(t),
        });
    }
    if let Some((t, ix)) = catalog.index_by_name(name) {
        return Some(Relation {
            oid: object_oid(ix.id),
            name: Cow::Borrowed(&ix.name),
            namespace,
            kind: RelKind::Index(t, ix),
        });
    }
    catalog
        .tables()
        .find(|t| !t.primary_key.is_empty() && pkey_name(&t.name) == name)
        .map(|t| Relation {
            oid: pkey_oid(t.id),
            name: Cow::Owned(name.to_owned()),
            namespace,
            kind: RelKind::PrimaryKey(t),
        })
}

/// Whether a relation is found by its bare name: its schema is on the path
/// and no schema before it has a relation of that name
/// (`RelationIsVisible`).
pub(crate) fn relation_is_visible(view: &CatalogView<'_>, rel: &Relation<'_>) -> bool {
    for namespace in search_path(view) {
        if let Some(found) = relation_in(view.catalog, namespace, &rel.name) {
            return found.oid == rel.oid;
        }
    }
    false
}

/// Returns `ident` as PostgreSQL's `quote_ident` prints it: bare if it is
/// lower-case letters, digits, `_` and `$`, not starting with a digit or
/// `$`, and not a keyword that needs quoting; else in double quotes with
/// quotes doubled.
pub fn quote_ident(ident: &str) -> Cow<'_, str> {
    let bytes = ident.as_bytes();
    let safe = bytes
        .first()
        .is_some_and(|&b| b.is_ascii_lowercase() || b == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$')
        && builtin::QUOTED_KEYWORDS.binary_search(&ident).is_err();
    if safe {
        return Cow::Borrowed(ident);
    }
    Cow::Owned(format!("\"{}\"", ident.replace('"', "\"\"")))
}

/// The role with OID `oid`'s name: the session user for the bootstrap
/// superuser, or a predefined role.
pub(crate) fn role_name<'a>(view: &CatalogView<'a>, oid: u32) -> Option<&'a str> {
    if oid == builtin::BOOTSTRAP_SUPERUSER {
        return Some(view.user);
    }
    builtin::PREDEFINED_ROLES
        .iter()
        .find(|r| r.0 == oid)
        .map(|r| r.1)
}

/// Returns the type `oid` as `format_type(oid, typmod)` prints it, `None`
/// for a type there is no row for. `typmod` `None` (SQL NULL) and -1 print
/// no modifier; `character` is then `bpchar` for -1, which does not mean
/// `character(1)` as the SQL name would.
pub fn format_type(oid: u32, typmod: Option<i32>) -> Option<String> {
    let row = builtin::type_row(oid)?;
    let typmod_given = typmod.is_some();
    let typmod = typmod.filter(|&m| m >= 0);
    // `array_subscript_handler`, which true arrays subscript with.
    const ARRAY_SUBSCRIPT_HANDLER: u32 = 6179;
    if row.typelem != 0 && row.typsubscript == ARRAY_SUBSCRIPT_HANDLER && row.typstorage != b'p' {
        // A true array (not int2vector or oidvector): its element, with
        // the typmod, then brackets.
        let elem_typmod = if typmod_given {
            Some(typmod.unwrap_or(-1))
        } else {
            None
        };
        return Some(format!("{}[]", format_type(row.typelem, elem_typmod)?));
    }
    let Some(ty) = DataType::from_oid(Oid(oid)) else {
        // A catalog-only type.
        return Some(quote_ident(row.typname).into_owned());
    };
    Some(match (ty, typmod) {
        (DataType::Varchar { .. }, Some(m)) if m >= 4 => format!("character varying({})", m - 4),
        (DataType::Bpchar { .. }, Some(m)) if m > 4 => format!("character({})", m - 4),
        (DataType::Bpchar { .. }, None) if typmod_given => "bpchar".to_owned(),
        (DataType::Numeric, Some(m)) if m >= 4 => {
            let precision = ((m - 4) >> 16) & 0xFFFF;
            // PostgreSQL 15 keeps a signed 11-bit scale.
            let scale = (((m - 4) & 0x7FF) ^ 1024) - 1024;
            format!("numeric({precision},{scale})")
        }
        (DataType::Timestamp, Some(m)) => format!("timestamp({m}) without time zone"),
        (DataType::TimestampTz, Some(m)) => format!("timestamp({m}) with time zone"),
        (DataType::Interval, Some(m)) => format_interval_typmod(m),
        _ => ty.format_type(),
    })
}

/// `interval` with a typmod: the fields (`interval day to second`) and the
/// seconds precision, as `intervaltypmodout` prints them.
fn format_interval_typmod(typmod: i32) -> String {
    const FULL_RANGE: i32 = 0x7FFF;
    const FULL_PRECISION: i32 = 0xFFFF;
    let range = (typmod >> 16) & 0x7FFF;
    let precision = typmod & 0xFFFF;
    // Bits of each field in `range` (`src/include/utils/datetime.h`).
    let (year, month, day, hour, minute, second) = (4, 2, 8, 1024, 2048, 4096);
    let fields = match range {
        FULL_RANGE => "",
        r if r == year => " year",
        r if r == month => " month",
        r if r == day => " day",
        r if r == hour => " hour",
        r if r == minute => " minute",
        r if r == second => " second",
        r if r == year | month => " year to month",
        r if r == day | hour => " day to hour",
        r if r == day | hour | minute => " day to minute",
        r if r == day | hour | minute | second => " day to second",
        r if r == hour | minute => " hour to minute",
        r if r == hour | minute | second => " hour to second",
        r if r == minute | second => " minute to second",
        _ => "",
    };
    if precision == FULL_PRECISION {
        format!("interval{fields}")
    } else {
        format!("interval{fields}({precision})")
    }
}

/// Splits a possibly qualified, possibly quoted name (`public.events`,
/// `"My Table"`) as `stringToQualifiedNameList` does: unquoted parts fold
/// to lower case, every part is cut to a `name`'s length.
fn qualified_name(text: &str) -> Result<Vec<String>, SqlError> {
    let invalid = || SqlError::new(code::INVALID_NAME, "invalid name syntax");
    let mut parts = Vec::new();
    let mut rest = text.trim_start_matches(pgtext::is_c_space);
    loop {
        let part = if let Some(quoted) = rest.strip_prefix('"') {
            let mut part = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(invalid()),
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            part.push('"');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => part.push(c),
                }
            };
            if part.is_empty() {
                return Err(invalid());
            }
            rest = &quoted[end..];
            part
        } else {
            let end = rest
                .find(|c: char| c == '.' || pgtext::is_c_space(c))
                .unwrap_or(rest.len());
            if end == 0 {
                return Err(invalid());
            }
            let part = rest[..end].to_ascii_lowercase();
            rest = &rest[end..];
            part
        };
        parts.push(pgtext::truncate_name(&part).to_owned());
        rest = rest.trim_start_matches(pgtext::is_c_space);
        match rest.strip_prefix('.') {
            Some(after) => rest = after.trim_start_matches(pgtext::is_c_space),
            None if rest.is_empty() => return Ok(parts),
            None => return Err(invalid()),
        }
    }
}

/// Resolves a qualified name's schema part: `[schema.]name` or
/// `database.schema.name` for this database.
fn split_schema<'n>(
    view: &CatalogView<'_>,
    parts: &'n [String],
    text: &str,
    what: &str,
) -> Result<(Option<&'n str>, &'n str), SqlError> {
    match parts {
        [name] => Ok((None, name)),
        [schema, name] => Ok((Some(schema), name)),
        [database, schema, name] => {
            if database != view.database {
                return Err(SqlError::new(
                    code::FEATURE_NOT_SUPPORTED,
                    format!("cross-database references are not implemented: {text}"),
                ));
            }
            Ok((Some(schema), name))
        }
        _ => Err(SqlError::new(
            code::SYNTAX_ERROR,
            format!("improper {what} name (too many dotted names): {text}"),
        )),
    }
}

/// A schema's OID by name.
fn namespace_oid(name: &str) -> Option<u32> {
    builtin::NAMESPACES
        .iter()
        .find(|n| n.1 == name)
        .map(|n| n.0)
}

/// Reads `text` as a value of the `reg*` type `ty`, as its input function
/// does: `-` is 0, digits are an OID taken as is, anything else a name
/// looked up in the catalog (relations and types on the search path unless
/// qualified). Unknown names are PostgreSQL's errors: 42P01 for relations,
/// 42704 for types and roles, 42883 for functions, 3F000 for schemas.
pub fn reg_in(ty: DataType, text: &str, view: &CatalogView<'_>) -> Result<Datum, SqlError> {
    assert!(ty.is_reg(), "reg_in reads reg* types, not {ty:?}");
    if let Some(oid) = pgtext::parse_reg_oid(ty, text).map_err(type_error)? {
        return Ok(Datum::Oid(oid));
    }
    reg_lookup(ty, text, view)?
        .map(Datum::Oid)
        .ok_or_else(|| not_found(ty, text))
}

/// The error for a `reg*` name that names nothing.
fn not_found(ty: DataType, text: &str) -> SqlError {
    match ty {
        DataType::RegClass => SqlError::new(
            code::UNDEFINED_TABLE,
            format!("relation \"{text}\" does not exist"),
        ),
        DataType::RegType => SqlError::new(
            code::UNDEFINED_OBJECT,
            format!("type \"{text}\" does not exist"),
        ),
        DataType::RegNamespace => SqlError::new(
            code::INVALID_SCHEMA_NAME,
            format!("schema \"{text}\" does not exist"),
        ),
        DataType::RegRole => SqlError::new(
            code::UNDEFINED_OBJECT,
            format!("role \"{text}\" does not exist"),
        ),
        _ => SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!("function \"{text}\" does not exist"),
        ),
    }
}

/// Looks a `reg*` name up: `Ok(None)` when nothing has that name (the
/// `to_reg*` functions return NULL then), `Err` for malformed names.
pub(crate) fn reg_lookup(
    ty: DataType,
    text: &str,
    view: &CatalogView<'_>,
) -> Result<Option<u32>, SqlError> {
    match ty {
        DataType::RegClass => {
            let parts = qualified_name(text)?;
            let (schema, name) = split_schema(view, &parts, text, "relation")?;
            let namespaces = match schema {
                Some(s) => match namespace_oid(s) {
                    Some(oid) => vec![oid],
                    None => {
                        return Err(SqlError::new(
                            code::INVALID_SCHEMA_NAME,
                            format!("schema \"{s}\" does not exist"),
                        ))
                    }
                },
                None => search_path(view),
            };
            Ok(namespaces
                .into_iter()
                .find_map(|ns| relation_in(view.catalog, ns, name).map(|r| r.oid)))
        }
        DataType::RegType => {
            let lowered = text.trim_matches(pgtext::is_c_space);
            if let Some(t) = DataType::from_type_name(lowered) {
                return Ok(Some(t.oid().0));
            }
            // Catalog-only array types (`regclass[]`) and type names.
            let base = lowered.strip_suffix("[]").map(str::trim_end);
            let name = base.unwrap_or(lowered);
            let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
            let Some(row) = builtin::TYPES.iter().find(|t| t.typname == name) else {
                if qualified_name(lowered).is_err() {
                    return Err(SqlError::new(
                        code::SYNTAX_ERROR,
                        format!("syntax error at or near \"{lowered}\""),
                    ));
                }
                return Ok(None);
            };
            Ok(match base {
                Some(_) => Some(row.typarray).filter(|&a| a != 0),
                None => Some(row.oid),
            })
        }
        DataType::RegProc | DataType::RegProcedure => {
            // A signature's argument list is not matched: the built-in
            // functions here are only named, never called by signature.
            let name_part = text.split('(').next().unwrap_or(text);
            let parts = qualified_name(name_part)?;
            let (schema, name) = split_schema(view, &parts, text, "function")?;
            if schema.is_some_and(|s| s != "pg_catalog") {
                return Ok(None);
            }
            let mut found = builtin::PROCS.iter().filter(|p| p.1 == name);
            match (found.next(), found.next()) {
                (Some(p), None) => Ok(Some(p.0)),
                (Some(_), Some(_)) => Err(SqlError::new(
                    code::AMBIGUOUS_FUNCTION,
                    format!("more than one function named \"{text}\""),
                )),
                (None, _) => Ok(None),
            }
        }
        DataType::RegNamespace => {
            let parts = qualified_name(text)?;
            match &parts[..] {
                [name] => Ok(namespace_oid(name)),
                _ => Err(SqlError::new(code::INVALID_NAME, "invalid name syntax")),
            }
        }
        DataType::RegRole => {
            let parts = qualified_name(text)?;
            match &parts[..] {
                [name] if name == view.user => Ok(Some(builtin::BOOTSTRAP_SUPERUSER)),
                [name] => Ok(builtin::PREDEFINED_ROLES
                    .iter()
                    .find(|r| r.1 == name)
                    .map(|r| r.0)),
                _ => Err(SqlError::new(code::INVALID_NAME, "invalid name syntax")),
            }
        }
        other => unreachable!("reg_lookup of {other:?}"),
    }
}

/// Prints the `reg*` value `oid` of type `ty` as its output function does:
/// `-` for 0, the object's name (schema-qualified when not visible on the
/// search path), or the number when no object has that OID.
pub fn reg_out(ty: DataType, oid: u32, view: &CatalogView<'_>) -> String {
    assert!(ty.is_reg(), "reg_out prints reg* types, not {ty:?}");
    if oid == 0 {
        return "-".to_owned();
    }
    let name = match ty {
        DataType::RegClass => relation(view.catalog, oid).map(|rel| {
            let name = quote_ident(&rel.name).into_owned();
            if relation_is_visible(view, &rel) {
                name
            } else {
                let schema = namespace_name(rel.namespace).expect("relations are in known schemas");
                format!("{}.{name}", quote_ident(schema))
            }
        }),
        DataType::RegType => format_type(oid, None),
        DataType::RegProc => builtin::proc_name(oid).map(|n| quote_ident(n).into_owned()),
        DataType::RegNamespace => namespace_name(oid).map(|n| quote_ident(n).into_owned()),
        DataType::RegRole => role_name(view, oid).map(|n| quote_ident(n).into_owned()),
        // Signatures need argument types, which the built-in function
        // table does not keep.
        _ => None,
    };
    name.unwrap_or_else(|| oid.to_string())
}

/// Prints a value of type `ty` for the client: `reg*` values through
/// [`reg_out`], everything else through [`pgtext::format`].
pub fn format_value(d: &Datum, ty: &DataType, ctx: &TextContext, view: &CatalogView<'_>) -> String {
    match (d, ty) {
        (Datum::Oid(oid), ty) if ty.is_reg() => reg_out(*ty, *oid, view),
        _ => pgtext::format(d, ctx),
    }
}

/// Casts `d` of declared type `from` to `to` as an explicit cast does
/// (`assignment` for the rules of storing into a column): casts between a
/// `reg*` type and a string type read or print names through the catalog,
/// the rest is [`crate::cast::cast_from`].
pub fn cast(
    d: Datum,
    from: &DataType,
    to: &DataType,
    assignment: bool,
    ctx: &TextContext,
    view: &CatalogView<'_>,
) -> Result<Datum, SqlError> {
    let is_string = |t: &DataType| {
        matches!(
            t,
            DataType::Text | DataType::Varchar { .. } | DataType::Name
        )
    };
    match (&d, *from, *to) {
        (Datum::Null, _, _) => Ok(Datum::Null),
        (Datum::Oid(oid), source, target) if source.is_reg() && is_string(&target) => {
            let text = Datum::Text(reg_out(source, *oid, view));
            convert_plain(text, &DataType::Text, &target, assignment, ctx)
        }
        (Datum::Text(text), source, target) if is_string(&source) && target.is_reg() => {
            if target == DataType::RegClass && source != DataType::Name {
                // `text_regclass`: always a name, digits included.
                return reg_lookup(target, text, view)?
                    .map(Datum::Oid)
                    .ok_or_else(|| not_found(target, text));
            }
            reg_in(target, text, view)
        }
        _ => convert_plain(d, from, to, assignment, ctx),
    }
}

fn convert_plain(
    d: Datum,
    from: &DataType,
    to: &DataType,
    assignment: bool,
    ctx: &TextContext,
) -> Result<Datum, SqlError> {
    let result = if assignment {
        cast::assign_from(d, from, to, ctx)
    } else {
        cast::cast_from(d, from, to, ctx)
    };
    result.map_err(type_error)
}

/// A text I/O or cast error as the SQL error PostgreSQL reports.
pub(crate) fn type_error(e: TypeError) -> SqlError {
    let mut err = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(detail) = e.detail() {
        err = err.with_detail(detail);
    }
    if let Some(hint) = e.hint() {
        err = err.with_hint(hint);
    }
    err
}

/// The type of a user column, from its catalog entry.
pub(crate) fn column_type(type_oid: u32, type_mod: i32) -> DataType {
    DataType::from_oid_typmod(Oid(type_oid), type_mod).unwrap_or(DataType::Text)
}

/// The key columns of index `ix` of `table` (its primary key when `None`)
/// as the DETAIL of a unique violation names them: PostgreSQL's
/// `pg_get_indexdef_columns(index, true)`, quoted column names and
/// deparsed expressions, `(payload ->> 'ext_id'::text)`.
pub(crate) fn index_key_columns(table: &TableDef, ix: Option<&IndexDef>) -> Vec<String> {
    let keys = match ix {
        Some(ix) => ix.keys.clone(),
        None => tables::pkey_keys(table),
    };
    keys.iter()
        .zip(index_columns(table, &keys))
        .map(|(key, col)| match (key, col) {
            (_, Some(pos)) => quote_ident(&table.columns[pos].name).into_owned(),
            (IndexKey::Expr(sql), None) => deparse::index_expr(table, sql, true).text,
            (IndexKey::Column(pos), None) => quote_ident(&table.columns[*pos].name).into_owned(),
        })
        .collect()
}

/// Positions (0-based) of the columns an index's keys are, with `None` for
/// expression keys. An expression that is only a column name is that
/// column, as PostgreSQL stores `CREATE INDEX ON t ((c))`.
pub(crate) fn index_columns(table: &TableDef, keys: &[IndexKey]) -> Vec<Option<usize>> {
    keys.iter()
        .map(|k| match k {
            IndexKey::Column(pos) => Some(*pos),
            IndexKey::Expr(sql) => deparse::bare_column(sql, table),
        })
        .collect()
}

#[cfg(test)]
mod tests;
