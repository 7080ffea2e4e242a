//! The relations of `pg_catalog`: PostgreSQL 15's columns, rows from the
//! catalog view.
//!
//! Column lists follow PostgreSQL 15 exactly, in order; the types that the
//! engine does not have are replaced as the module documentation of
//! [`super`] says (`aclitem[]` and `anyarray` as `text[]`, `pg_node_tree`
//! as `text`, `xid` as `oid`).

use crate::catalog::{IndexDef, IndexKey, TableDef};
use crate::datum::{Array, DataType, Datum};
use crate::sql::error::SqlError;

use super::builtin::{self, TypeRow};
use super::{
    deparse, functions, index_columns, object_oid, pkey_name, pkey_oid, relations, role_name,
    unique_constraint_oid, CatalogView, RelKind, Relation, Spec,
};

use DataType as T;

const NAME: T = T::Name;
const OID: T = T::Oid;
const CHAR: T = T::Char;
const BOOL: T = T::Bool;
const I2: T = T::Int2;
const I4: T = T::Int4;
const I8: T = T::Int8;
const F4: T = T::Float4;
const TEXT: T = T::Text;
const REGPROC: T = T::RegProc;
const REGTYPE: T = T::RegType;
const TSTZ: T = T::TimestampTz;
const TEXTS: T = T::Array(&T::Text);
const OIDS: T = T::Array(&T::Oid);
const I2S: T = T::Array(&T::Int2);
const CHARS: T = T::Array(&T::Char);
const NAMES: T = T::Array(&T::Name);
const INT2VECTOR: T = T::Int2Vector;
const OIDVECTOR: T = T::OidVector;
/// `aclitem[]`: always NULL (default privileges).
const ACL: T = TEXTS;
/// `pg_node_tree`: SQL text here.
const NODE: T = TEXT;
/// `xid`: there are no transaction ids to show.
const XID: T = OID;
/// `anyarray`.
const ANYARRAY: T = TEXTS;

type Rows = Result<Vec<Vec<Datum>>, SqlError>;

fn oid(v: u32) -> Datum {
    Datum::Oid(v)
}

fn text(s: &str) -> Datum {
    Datum::Text(s.to_owned())
}

/// A `"char"` value.
fn ch(c: char) -> Datum {
    debug_assert!(c.is_ascii(), "\"char\" values here are ASCII");
    if c == '\0' {
        Datum::Text(String::new())
    } else {
        Datum::Text(c.to_string())
    }
}

fn b(v: bool) -> Datum {
    Datum::Bool(v)
}

fn i2(v: i16) -> Datum {
    Datum::Int2(v)
}

fn i4(v: i32) -> Datum {
    Datum::Int4(v)
}

fn opt_text(s: Option<&str>) -> Datum {
    s.map_or(Datum::Null, text)
}

/// An `int2vector` of attribute numbers.
fn int2vector(values: impl IntoIterator<Item = i16>) -> Datum {
    Datum::array(T::Int2Vector, values.into_iter().map(Datum::Int2).collect())
}

fn oidvector(values: impl IntoIterator<Item = u32>) -> Datum {
    Datum::array(T::OidVector, values.into_iter().map(Datum::Oid).collect())
}

fn int2_array(values: impl IntoIterator<Item = i16>) -> Datum {
    Datum::Array(Box::new(Array::new(
        I2S,
        values.into_iter().map(Datum::Int2).collect(),
    )))
}

const NULL: Datum = Datum::Null;

fn empty(_: &CatalogView<'_>) -> Rows {
    Ok(Vec::new())
}

/// An attribute number (1-based column position) as `int2`.
pub(crate) fn attnum(pos: usize) -> i16 {
    // Tables have at most `MAX_COLUMNS` (1600) columns.
    i16::try_from(pos + 1).expect("a column position fits an int2")
}

/// The type row of a type OID, for `typlen`, `typalign` and friends.
fn type_row(type_oid: u32) -> &'static TypeRow {
    builtin::type_row(type_oid)
        .unwrap_or_else(|| builtin::type_row(T::Text.oid().0).expect("text has a type row"))
}

/// The collation a value of a type gets by default.
fn collation_of(type_oid: u32) -> u32 {
    let row = type_row(type_oid);
    if row.typcollation != 0 {
        return row.typcollation;
    }
    // Arrays collate as their elements.
    match builtin::type_row(row.typelem) {
        Some(elem) if row.typcategory == b'A' => elem.typcollation,
        _ => 0,
    }
}

/// Whether a relation is one of the shared catalogs.
fn is_shared(name: &str) -> bool {
    matches!(
        name,
        "pg_authid" | "pg_auth_members" | "pg_database" | "pg_shdescription" | "pg_tablespace"
    )
}

fn pg_namespace(_: &CatalogView<'_>) -> Rows {
    Ok(builtin::NAMESPACES
        .iter()
        .map(|&(id, name, owner)| vec![oid(id), text(name), oid(owner), NULL])
        .collect())
}

fn pg_class(view: &CatalogView<'_>) -> Rows {
    Ok(relations(view.catalog)
        .iter()
        .map(|rel| {
            let kind = rel.relkind();
            let (am, natts, has_index) = match rel.kind {
                RelKind::Table(t) => (
                    builtin::HEAP_AM,
                    t.columns.len(),
                    !t.primary_key.is_empty() || !t.indexes.is_empty(),
                ),
                RelKind::PrimaryKey(t) => (builtin::BTREE_AM, t.primary_key.len(), false),
                RelKind::Index(_, ix) => (builtin::BTREE_AM, ix.keys.len(), false),
                RelKind::Virtual(spec) => (
                    if spec.kind == 'r' {
                        builtin::HEAP_AM
                    } else {
                        0
                    },
                    spec.columns.len(),
                    false,
                ),
            };
            let user = !matches!(rel.kind, RelKind::Virtual(_));
            // What PostgreSQL shows for relations never vacuumed or
            // analyzed: tables 0 pages and -1 tuples (unknown), a new
            // btree its metapage and 0 tuples.
            let (pages, tuples) = if kind == 'i' { (1, 0.0) } else { (0, -1.0) };
            vec![
                oid(rel.oid),
                text(&rel.name),
                oid(rel.namespace),
                oid(0),
                oid(0),
                oid(builtin::BOOTSTRAP_SUPERUSER),
                oid(am),
                oid(if user { rel.oid } else { 0 }),
                oid(0),
                i4(pages),
                Datum::Float4(tuples),
                i4(0),
                oid(0),
                b(has_index),
                b(is_shared(&rel.name)),
                ch('p'),
                ch(kind),
                i2(i16::try_from(natts).expect("at most 1600 columns")),
                i2(0),
                b(kind == 'v'),
                b(false),
                b(false),
                b(false),
                b(false),
                b(true),
                ch(if kind == 'r' { 'd' } else { 'n' }),
                b(false),
                oid(0),
                oid(0),
                oid(0),
                NULL,
                NULL,
                NULL,
            ]
        })
        .collect())
}

/// One `pg_attribute` row for a user or catalog column.
#[allow(clippy::too_many_arguments)]
fn attribute_row(
    relid: u32,
    name: &str,
    num: i16,
    type_oid: u32,
    typmod: i32,
    not_null: bool,
    has_default: bool,
    collation: Option<u32>,
) -> Vec<Datum> {
    let row = type_row(type_oid);
    let is_array = row.typcategory == b'A' && row.typstorage != b'p';
    vec![
        oid(relid),
        text(name),
        oid(type_oid),
        i4(-1),
        i2(row.typlen),
        i2(num),
        i4(i32::from(is_array)),
        i4(-1),
        i4(typmod),
        b(row.typbyval),
        ch(char::from(row.typalign)),
        ch(char::from(row.typstorage)),
        ch('\0'),
        b(not_null),
        b(has_default),
        b(false),
        ch('\0'),
        ch('\0'),
        b(false),
        b(true),
        i4(0),
        oid(collation.unwrap_or_else(|| collation_of(type_oid))),
        NULL,
        NULL,
        NULL,
        NULL,
    ]
}

/// The key columns of an index on `table`: name, type OID, typmod.
fn index_attributes(table: &TableDef, keys: &[IndexKey]) -> Vec<(String, u32, i32)> {
    let names = deparse::index_column_names(table, keys);
    let columns = index_columns(table, keys);
    keys.iter()
        .zip(columns)
        .zip(names)
        .map(|((key, column), name)| match (key, column) {
            (_, Some(pos)) => {
                let c = &table.columns[pos];
                (name, c.type_oid, c.type_mod)
            }
            (IndexKey::Expr(sql), None) => {
                let e = deparse::index_expr(table, sql, false);
                (name, e.type_oid, e.typmod)
            }
            (IndexKey::Column(_), None) => unreachable!("column keys have positions"),
        })
        .collect()
}

/// A table's primary key as index keys.
pub(super) fn pkey_keys(table: &TableDef) -> Vec<IndexKey> {
    table
        .primary_key
        .iter()
        .map(|&pos| IndexKey::Column(pos))
        .collect()
}

fn pg_attribute(view: &CatalogView<'_>) -> Rows {
    let mut rows = Vec::new();
    for rel in relations(view.catalog) {
        match rel.kind {
            RelKind::Table(t) => {
                for (i, c) in t.columns.iter().enumerate() {
                    let has_default = c
                        .default
                        .as_deref()
                        .is_some_and(|d| !deparse::is_null_default(d));
                    rows.push(attribute_row(
                        rel.oid,
                        &c.name,
                        attnum(i),
                        c.type_oid,
                        c.type_mod,
                        c.not_null,
                        has_default,
                        None,
                    ));
                }
            }
            RelKind::PrimaryKey(t) | RelKind::Index(t, _) => {
                let keys = match rel.kind {
                    RelKind::Index(_, ix) => ix.keys.clone(),
                    _ => pkey_keys(t),
                };
                for (i, (name, type_oid, typmod)) in
                    index_attributes(t, &keys).into_iter().enumerate()
                {
                    rows.push(attribute_row(
                        rel.oid,
                        &name,
                        attnum(i),
                        type_oid,
                        typmod,
                        false,
                        false,
                        None,
                    ));
                }
            }
            RelKind::Virtual(spec) => {
                for (i, (name, ty)) in spec.columns.iter().enumerate() {
                    rows.push(attribute_row(
                        rel.oid,
                        name,
                        attnum(i),
                        ty.oid().0,
                        ty.typmod(),
                        false,
                        false,
                        None,
                    ));
                }
            }
        }
    }
    Ok(rows)
}

fn pg_type(_: &CatalogView<'_>) -> Rows {
    Ok(builtin::TYPES
        .iter()
        .map(|t| {
            vec![
                oid(t.oid),
                text(t.typname),
                oid(builtin::PG_CATALOG),
                oid(builtin::BOOTSTRAP_SUPERUSER),
                i2(t.typlen),
                b(t.typbyval),
                ch(char::from(t.typtype)),
                ch(char::from(t.typcategory)),
                b(t.typispreferred),
                b(true),
                ch(char::from(t.typdelim)),
                oid(0),
                oid(t.typsubscript),
                oid(t.typelem),
                oid(t.typarray),
                oid(t.typinput),
                oid(t.typoutput),
                oid(t.typreceive),
                oid(t.typsend),
                oid(t.typmodin),
                oid(t.typmodout),
                oid(t.typanalyze),
                ch(char::from(t.typalign)),
                ch(char::from(t.typstorage)),
                b(false),
                oid(0),
                i4(-1),
                i4(0),
                oid(t.typcollation),
                NULL,
                NULL,
                NULL,
            ]
        })
        .collect())
}

fn pg_am(_: &CatalogView<'_>) -> Rows {
    Ok(builtin::ACCESS_METHODS
        .iter()
        .map(|&(id, name, handler, kind)| vec![oid(id), text(name), oid(handler), ch(kind)])
        .collect())
}

fn pg_database(view: &CatalogView<'_>) -> Rows {
    Ok(vec![vec![
        oid(builtin::DATABASE_OID),
        text(view.database),
        oid(builtin::BOOTSTRAP_SUPERUSER),
        i4(builtin::UTF8_ENCODING),
        ch('c'),
        b(false),
        b(true),
        i4(-1),
        oid(0),
        oid(0),
        oid(builtin::PG_DEFAULT_TABLESPACE),
        text(builtin::DATABASE_LOCALE),
        text(builtin::DATABASE_LOCALE),
        NULL,
        NULL,
        NULL,
    ]])
}

/// Every role: the session user (a superuser that can log in, OID 10),
/// then PostgreSQL's predefined roles.
fn roles<'a>(view: &CatalogView<'a>) -> Vec<(u32, &'a str, bool)> {
    let mut out = vec![(builtin::BOOTSTRAP_SUPERUSER, view.user, true)];
    out.extend(
        builtin::PREDEFINED_ROLES
            .iter()
            .map(|&(id, name)| (id, name, false)),
    );
    out
}

fn pg_authid(view: &CatalogView<'_>) -> Rows {
    Ok(roles(view)
        .into_iter()
        .map(|(id, name, superuser)| {
            vec![
                oid(id),
                text(name),
                b(superuser),
                b(true),
                b(superuser),
                b(superuser),
                b(superuser),
                b(superuser),
                b(superuser),
                i4(-1),
                NULL,
                NULL,
            ]
        })
        .collect())
}

fn pg_roles(view: &CatalogView<'_>) -> Rows {
    Ok(roles(view)
        .into_iter()
        .map(|(id, name, superuser)| {
            vec![
                text(name),
                b(superuser),
                b(true),
                b(superuser),
                b(superuser),
                b(superuser),
                b(superuser),
                i4(-1),
                text("********"),
                NULL,
                b(superuser),
                NULL,
                oid(id),
            ]
        })
        .collect())
}

fn pg_user(view: &CatalogView<'_>) -> Rows {
    Ok(roles(view)
        .into_iter()
        .filter(|r| r.2)
        .map(|(id, name, _)| {
            vec![
                text(name),
                oid(id),
                b(true),
                b(true),
                b(true),
                b(true),
                text("********"),
                NULL,
                NULL,
            ]
        })
        .collect())
}

fn pg_auth_members(_: &CatalogView<'_>) -> Rows {
    Ok(builtin::ROLE_MEMBERSHIPS
        .iter()
        .map(|&(role, member)| {
            vec![
                oid(role),
                oid(member),
                oid(builtin::BOOTSTRAP_SUPERUSER),
                b(false),
            ]
        })
        .collect())
}

fn pg_settings(view: &CatalogView<'_>) -> Rows {
    Ok(functions::settings(view)
        .into_iter()
        .map(|s| {
            vec![
                text(&s.name),
                text(&s.value),
                opt_text(s.unit),
                text(s.category),
                text(s.description),
                NULL,
                text(s.context),
                text(s.vartype),
                text(if s.from_session { "session" } else { "default" }),
                NULL,
                NULL,
                NULL,
                text(&s.boot),
                text(&s.boot),
                NULL,
                NULL,
                b(false),
            ]
        })
        .collect())
}

fn pg_collation(_: &CatalogView<'_>) -> Rows {
    Ok(builtin::COLLATIONS
        .iter()
        .map(|&(id, name, provider, locale)| {
            vec![
                oid(id),
                text(name),
                oid(builtin::PG_CATALOG),
                oid(builtin::BOOTSTRAP_SUPERUSER),
                ch(provider),
                b(true),
                i4(-1),
                opt_text(locale),
                opt_text(locale),
                NULL,
                NULL,
            ]
        })
        .collect())
}

fn pg_tablespace(_: &CatalogView<'_>) -> Rows {
    Ok([
        (builtin::PG_DEFAULT_TABLESPACE, "pg_default"),
        (builtin::PG_GLOBAL_TABLESPACE, "pg_global"),
    ]
    .into_iter()
    .map(|(id, name)| {
        vec![
            oid(id),
            text(name),
            oid(builtin::BOOTSTRAP_SUPERUSER),
            NULL,
            NULL,
        ]
    })
    .collect())
}

/// `pg_attrdef.adbin` for a column default: a small node-tree-like
/// envelope that names the column, so that `pg_get_expr` can coerce the
/// expression to the column's type as PostgreSQL's stored tree is.
pub(super) fn attrdef_bin(attnum: i16, sql: &str) -> String {
    format!("{{DEFAULT :attnum {attnum} :expr {sql}}}")
}

/// Reads [`attrdef_bin`] back: the attribute number and the SQL.
pub(super) fn parse_attrdef_bin(bin: &str) -> Option<(i16, &str)> {
    let rest = bin.strip_prefix("{DEFAULT :attnum ")?.strip_suffix('}')?;
    let (num, sql) = rest.split_once(" :expr ")?;
    Some((num.parse().ok()?, sql))
}

/// `pg_attrdef.oid`: OIDs are per catalog, so a default's is its table's
/// OID's position times the column limit plus its attribute number.
fn attrdef_oid(table: &TableDef, num: i16) -> u32 {
    let table_oid = u64::from(object_oid(table.id));
    let oid = table_oid * crate::datum::MAX_COLUMNS as u64 + u64::from(num.unsigned_abs());
    // Beyond 32 bits (object ids in the millions) the OID is left invalid
    // rather than allowed to collide.
    u32::try_from(oid).unwrap_or(0)
}

fn pg_attrdef(view: &CatalogView<'_>) -> Rows {
    let mut rows = Vec::new();
    for t in view.catalog.tables() {
        for (i, c) in t.columns.iter().enumerate() {
            let Some(sql) = c
                .default
                .as_deref()
                .filter(|d| !deparse::is_null_default(d))
            else {
                continue;
            };
            let num = attnum(i);
            rows.push(vec![
                oid(attrdef_oid(t, num)),
                oid(object_oid(t.id)),
                i2(num),
                text(&attrdef_bin(num, sql)),
            ]);
        }
    }
    Ok(rows)
}

fn pg_constraint(view: &CatalogView<'_>) -> Rows {
    let mut rows = Vec::new();
    for t in view.catalog.tables() {
        if t.primary_key.is_empty() {
            continue;
        }
        rows.push(vec![
            oid(pkey_oid(t.id)),
            text(&pkey_name(&t.name)),
            oid(builtin::PUBLIC),
            ch('p'),
            b(false),
            b(false),
            b(true),
            oid(object_oid(t.id)),
            oid(0),
            oid(pkey_oid(t.id)),
            oid(0),
            oid(0),
            ch(' '),
            ch(' '),
            ch(' '),
            b(true),
            i4(0),
            b(true),
            int2_array(t.primary_key.iter().map(|&p| attnum(p))),
            NULL,
            NULL,
            NULL,
            NULL,
            NULL,
            NULL,
            NULL,
        ]);
    }
    // UNIQUE constraints, each backed by its unique index.
    for t in view.catalog.tables() {
        for ix in t.indexes.iter().filter(|ix| ix.constraint) {
            let columns = ix.keys.iter().map(|k| match k {
                IndexKey::Column(p) => attnum(*p),
                IndexKey::Expr(_) => unreachable!("UNIQUE constraints are on columns"),
            });
            rows.push(vec![
                oid(unique_constraint_oid(ix.id)),
                text(&ix.name),
                oid(builtin::PUBLIC),
                ch('u'),
                b(false),
                b(false),
                b(true),
                oid(object_oid(t.id)),
                oid(0),
                oid(object_oid(ix.id)),
                oid(0),
                oid(0),
                ch(' '),
                ch(' '),
                ch(' '),
                b(true),
                i4(0),
                b(true),
                int2_array(columns),
                NULL,
                NULL,
                NULL,
                NULL,
                NULL,
                NULL,
                NULL,
            ]);
        }
    }
    Ok(rows)
}

/// PostgreSQL 15's default btree operator classes for the key types this
/// engine has: OID, name, family, input type and key type (`pg_opclass`).
const BTREE_OPCLASSES: [(u32, &str, u32, u32, u32); 19] = [
    (1978, "int4_ops", 1976, 23, 0),
    (1979, "int2_ops", 1976, 21, 0),
    (1981, "oid_ops", 1989, 26, 0),
    (3122, "date_ops", 434, 1082, 0),
    (3123, "float8_ops", 1970, 701, 0),
    (3124, "int8_ops", 1976, 20, 0),
    (3125, "numeric_ops", 1988, 1700, 0),
    (3126, "text_ops", 1994, 25, 0),
    (3127, "timestamptz_ops", 434, 1184, 0),
    (3128, "timestamp_ops", 434, 1114, 0),
    (10003, "bool_ops", 424, 16, 0),
    (10004, "bpchar_ops", 426, 1042, 0),
    (10006, "bytea_ops", 428, 17, 0),
    (10007, "char_ops", 429, 18, 0),
    (10012, "float4_ops", 1970, 700, 0),
    (10022, "interval_ops", 1982, 1186, 0),
    (10028, "name_ops", 1994, 19, 2275),
    (10065, "uuid_ops", 2968, 2950, 0),
    (10088, "jsonb_ops", 4033, 3802, 0),
];

/// The default btree operator class of a key type (`indclass`); 0 for
/// types without one here. `varchar` uses `text_ops` and the `reg*` types
/// `oid_ops`, as in PostgreSQL.
fn btree_opclass(type_oid: u32) -> u32 {
    let input = match type_oid {
        1043 => 25,
        24 | 2202 | 2205 | 2206 | 4089 | 4096 => 26,
        t => t,
    };
    BTREE_OPCLASSES
        .iter()
        .find(|c| c.3 == input)
        .map_or(0, |c| c.0)
}

fn pg_opclass(_: &CatalogView<'_>) -> Rows {
    Ok(BTREE_OPCLASSES
        .iter()
        .map(|&(id, name, family, input, key)| {
            vec![
                oid(id),
                oid(builtin::BTREE_AM),
                text(name),
                oid(builtin::PG_CATALOG),
                oid(builtin::BOOTSTRAP_SUPERUSER),
                oid(family),
                oid(input),
                b(true),
                oid(key),
            ]
        })
        .collect())
}

/// The `pg_index` row of an index on `table`.
fn index_row(rel: &Relation<'_>, table: &TableDef, index: Option<&IndexDef>) -> Vec<Datum> {
    let keys = match index {
        Some(ix) => ix.keys.clone(),
        None => pkey_keys(table),
    };
    let columns = index_columns(table, &keys);
    let attributes = index_attributes(table, &keys);
    let exprs: Vec<&str> = keys
        .iter()
        .zip(&columns)
        .filter_map(|(k, c)| match (k, c) {
            (IndexKey::Expr(sql), None) => Some(sql.as_str()),
            _ => None,
        })
        .collect();
    let natts = i16::try_from(keys.len()).expect("index keys fit an int2");
    vec![
        oid(rel.oid),
        oid(object_oid(table.id)),
        i2(natts),
        i2(natts),
        b(index.is_none_or(|ix| ix.unique)),
        b(false),
        b(index.is_none()),
        b(false),
        b(true),
        b(false),
        b(true),
        b(false),
        b(true),
        b(true),
        b(false),
        int2vector(columns.iter().map(|c| c.map_or(0, attnum))),
        oidvector(attributes.iter().map(|a| collation_of(a.1))),
        oidvector(attributes.iter().map(|a| btree_opclass(a.1))),
        int2vector(keys.iter().map(|_| 0)),
        if exprs.is_empty() {
            NULL
        } else {
            text(&exprs.join(", "))
        },
        NULL,
    ]
}

fn pg_index(view: &CatalogView<'_>) -> Rows {
    Ok(relations(view.catalog)
        .iter()
        .filter_map(|rel| match rel.kind {
            RelKind::PrimaryKey(t) => Some(index_row(rel, t, None)),
            RelKind::Index(t, ix) => Some(index_row(rel, t, Some(ix))),
            _ => None,
        })
        .collect())
}

fn pg_tables(view: &CatalogView<'_>) -> Rows {
    Ok(relations(view.catalog)
        .iter()
        .filter(|rel| rel.relkind() == 'r')
        .map(|rel| {
            let has_index = rel
                .table()
                .is_some_and(|t| !t.primary_key.is_empty() || !t.indexes.is_empty());
            vec![
                text(super::namespace_name(rel.namespace).expect("relations are in known schemas")),
                text(&rel.name),
                text(
                    role_name(view, builtin::BOOTSTRAP_SUPERUSER)
                        .expect("the bootstrap superuser exists"),
                ),
                NULL,
                b(has_index),
                b(false),
                b(false),
                b(false),
            ]
        })
        .collect())
}

fn pg_indexes(view: &CatalogView<'_>) -> Rows {
    Ok(relations(view.catalog)
        .iter()
        .filter_map(|rel| {
            let table = match rel.kind {
                RelKind::PrimaryKey(t) | RelKind::Index(t, _) => t,
                _ => return None,
            };
            Some(vec![
                text("public"),
                text(&table.name),
                text(&rel.name),
                NULL,
                text(&functions::index_def(view, rel, 0, false)),
            ])
        })
        .collect())
}

fn pg_views(view: &CatalogView<'_>) -> Rows {
    // The catalog's own views have no SQL definition here.
    Ok(relations(view.catalog)
        .iter()
        .filter(|rel| rel.relkind() == 'v')
        .map(|rel| {
            vec![
                text(super::namespace_name(rel.namespace).expect("relations are in known schemas")),
                text(&rel.name),
                text(
                    role_name(view, builtin::BOOTSTRAP_SUPERUSER)
                        .expect("the bootstrap superuser exists"),
                ),
                NULL,
            ]
        })
        .collect())
}

fn pg_language(_: &CatalogView<'_>) -> Rows {
    Ok(builtin::LANGUAGES
        .iter()
        .map(|&(id, name, trusted, validator)| {
            vec![
                oid(id),
                text(name),
                oid(builtin::BOOTSTRAP_SUPERUSER),
                b(false),
                b(trusted),
                oid(0),
                oid(0),
                oid(validator),
                NULL,
            ]
        })
        .collect())
}

/// `pg_catalog`'s relations.
pub(super) const SPECS: &[Spec] = &[
    Spec {
        schema: "pg_catalog",
        name: "pg_namespace",
        oid: 2615,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("nspname", NAME),
            ("nspowner", OID),
            ("nspacl", ACL),
        ],
        rows: pg_namespace,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_class",
        oid: 1259,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("relname", NAME),
            ("relnamespace", OID),
            ("reltype", OID),
            ("reloftype", OID),
            ("relowner", OID),
            ("relam", OID),
            ("relfilenode", OID),
            ("reltablespace", OID),
            ("relpages", I4),
            ("reltuples", F4),
            ("relallvisible", I4),
            ("reltoastrelid", OID),
            ("relhasindex", BOOL),
            ("relisshared", BOOL),
            ("relpersistence", CHAR),
            ("relkind", CHAR),
            ("relnatts", I2),
            ("relchecks", I2),
            ("relhasrules", BOOL),
            ("relhastriggers", BOOL),
            ("relhassubclass", BOOL),
            ("relrowsecurity", BOOL),
            ("relforcerowsecurity", BOOL),
            ("relispopulated", BOOL),
            ("relreplident", CHAR),
            ("relispartition", BOOL),
            ("relrewrite", OID),
            ("relfrozenxid", XID),
            ("relminmxid", XID),
            ("relacl", ACL),
            ("reloptions", TEXTS),
            ("relpartbound", NODE),
        ],
        rows: pg_class,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_attribute",
        oid: 1249,
        kind: 'r',
        columns: &[
            ("attrelid", OID),
            ("attname", NAME),
            ("atttypid", OID),
            ("attstattarget", I4),
            ("attlen", I2),
            ("attnum", I2),
            ("attndims", I4),
            ("attcacheoff", I4),
            ("atttypmod", I4),
            ("attbyval", BOOL),
            ("attalign", CHAR),
            ("attstorage", CHAR),
            ("attcompression", CHAR),
            ("attnotnull", BOOL),
            ("atthasdef", BOOL),
            ("atthasmissing", BOOL),
            ("attidentity", CHAR),
            ("attgenerated", CHAR),
            ("attisdropped", BOOL),
            ("attislocal", BOOL),
            ("attinhcount", I4),
            ("attcollation", OID),
            ("attacl", ACL),
            ("attoptions", TEXTS),
            ("attfdwoptions", TEXTS),
            ("attmissingval", ANYARRAY),
        ],
        rows: pg_attribute,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_type",
        oid: 1247,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("typname", NAME),
            ("typnamespace", OID),
            ("typowner", OID),
            ("typlen", I2),
            ("typbyval", BOOL),
            ("typtype", CHAR),
            ("typcategory", CHAR),
            ("typispreferred", BOOL),
            ("typisdefined", BOOL),
            ("typdelim", CHAR),
            ("typrelid", OID),
            ("typsubscript", REGPROC),
            ("typelem", OID),
            ("typarray", OID),
            ("typinput", REGPROC),
            ("typoutput", REGPROC),
            ("typreceive", REGPROC),
            ("typsend", REGPROC),
            ("typmodin", REGPROC),
            ("typmodout", REGPROC),
            ("typanalyze", REGPROC),
            ("typalign", CHAR),
            ("typstorage", CHAR),
            ("typnotnull", BOOL),
            ("typbasetype", OID),
            ("typtypmod", I4),
            ("typndims", I4),
            ("typcollation", OID),
            ("typdefaultbin", NODE),
            ("typdefault", TEXT),
            ("typacl", ACL),
        ],
        rows: pg_type,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_am",
        oid: 2601,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("amname", NAME),
            ("amhandler", REGPROC),
            ("amtype", CHAR),
        ],
        rows: pg_am,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_opclass",
        oid: 2616,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("opcmethod", OID),
            ("opcname", NAME),
            ("opcnamespace", OID),
            ("opcowner", OID),
            ("opcfamily", OID),
            ("opcintype", OID),
            ("opcdefault", BOOL),
            ("opckeytype", OID),
        ],
        rows: pg_opclass,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_database",
        oid: 1262,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("datname", NAME),
            ("datdba", OID),
            ("encoding", I4),
            ("datlocprovider", CHAR),
            ("datistemplate", BOOL),
            ("datallowconn", BOOL),
            ("datconnlimit", I4),
            ("datfrozenxid", XID),
            ("datminmxid", XID),
            ("dattablespace", OID),
            ("datcollate", TEXT),
            ("datctype", TEXT),
            ("daticulocale", TEXT),
            ("datcollversion", TEXT),
            ("datacl", ACL),
        ],
        rows: pg_database,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_authid",
        oid: 1260,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("rolname", NAME),
            ("rolsuper", BOOL),
            ("rolinherit", BOOL),
            ("rolcreaterole", BOOL),
            ("rolcreatedb", BOOL),
            ("rolcanlogin", BOOL),
            ("rolreplication", BOOL),
            ("rolbypassrls", BOOL),
            ("rolconnlimit", I4),
            ("rolpassword", TEXT),
            ("rolvaliduntil", TSTZ),
        ],
        rows: pg_authid,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_roles",
        oid: 12000,
        kind: 'v',
        columns: &[
            ("rolname", NAME),
            ("rolsuper", BOOL),
            ("rolinherit", BOOL),
            ("rolcreaterole", BOOL),
            ("rolcreatedb", BOOL),
            ("rolcanlogin", BOOL),
            ("rolreplication", BOOL),
            ("rolconnlimit", I4),
            ("rolpassword", TEXT),
            ("rolvaliduntil", TSTZ),
            ("rolbypassrls", BOOL),
            ("rolconfig", TEXTS),
            ("oid", OID),
        ],
        rows: pg_roles,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_user",
        oid: 12014,
        kind: 'v',
        columns: &[
            ("usename", NAME),
            ("usesysid", OID),
            ("usecreatedb", BOOL),
            ("usesuper", BOOL),
            ("userepl", BOOL),
            ("usebypassrls", BOOL),
            ("passwd", TEXT),
            ("valuntil", TSTZ),
            ("useconfig", TEXTS),
        ],
        rows: pg_user,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_auth_members",
        oid: 1261,
        kind: 'r',
        columns: &[
            ("roleid", OID),
            ("member", OID),
            ("grantor", OID),
            ("admin_option", BOOL),
        ],
        rows: pg_auth_members,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_settings",
        oid: 12104,
        kind: 'v',
        columns: &[
            ("name", TEXT),
            ("setting", TEXT),
            ("unit", TEXT),
            ("category", TEXT),
            ("short_desc", TEXT),
            ("extra_desc", TEXT),
            ("context", TEXT),
            ("vartype", TEXT),
            ("source", TEXT),
            ("min_val", TEXT),
            ("max_val", TEXT),
            ("enumvals", TEXTS),
            ("boot_val", TEXT),
            ("reset_val", TEXT),
            ("sourcefile", TEXT),
            ("sourceline", I4),
            ("pending_restart", BOOL),
        ],
        rows: pg_settings,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_proc",
        oid: 1255,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("proname", NAME),
            ("pronamespace", OID),
            ("proowner", OID),
            ("prolang", OID),
            ("procost", F4),
            ("prorows", F4),
            ("provariadic", OID),
            ("prosupport", REGPROC),
            ("prokind", CHAR),
            ("prosecdef", BOOL),
            ("proleakproof", BOOL),
            ("proisstrict", BOOL),
            ("proretset", BOOL),
            ("provolatile", CHAR),
            ("proparallel", CHAR),
            ("pronargs", I2),
            ("pronargdefaults", I2),
            ("prorettype", OID),
            ("proargtypes", OIDVECTOR),
            ("proallargtypes", OIDS),
            ("proargmodes", CHARS),
            ("proargnames", TEXTS),
            ("proargdefaults", NODE),
            ("protrftypes", OIDS),
            ("prosrc", TEXT),
            ("probin", TEXT),
            ("prosqlbody", NODE),
            ("proconfig", TEXTS),
            ("proacl", ACL),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_description",
        oid: 2609,
        kind: 'r',
        columns: &[
            ("objoid", OID),
            ("classoid", OID),
            ("objsubid", I4),
            ("description", TEXT),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_shdescription",
        oid: 2396,
        kind: 'r',
        columns: &[("objoid", OID), ("classoid", OID), ("description", TEXT)],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_collation",
        oid: 3456,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("collname", NAME),
            ("collnamespace", OID),
            ("collowner", OID),
            ("collprovider", CHAR),
            ("collisdeterministic", BOOL),
            ("collencoding", I4),
            ("collcollate", TEXT),
            ("collctype", TEXT),
            ("colliculocale", TEXT),
            ("collversion", TEXT),
        ],
        rows: pg_collation,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_inherits",
        oid: 2611,
        kind: 'r',
        columns: &[
            ("inhrelid", OID),
            ("inhparent", OID),
            ("inhseqno", I4),
            ("inhdetachpending", BOOL),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_trigger",
        oid: 2620,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("tgrelid", OID),
            ("tgparentid", OID),
            ("tgname", NAME),
            ("tgfoid", OID),
            ("tgtype", I2),
            ("tgenabled", CHAR),
            ("tgisinternal", BOOL),
            ("tgconstrrelid", OID),
            ("tgconstrindid", OID),
            ("tgconstraint", OID),
            ("tgdeferrable", BOOL),
            ("tginitdeferred", BOOL),
            ("tgnargs", I2),
            ("tgattr", INT2VECTOR),
            ("tgargs", T::Bytea),
            ("tgqual", NODE),
            ("tgoldtable", NAME),
            ("tgnewtable", NAME),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_policy",
        oid: 3256,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("polname", NAME),
            ("polrelid", OID),
            ("polcmd", CHAR),
            ("polpermissive", BOOL),
            ("polroles", OIDS),
            ("polqual", NODE),
            ("polwithcheck", NODE),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_policies",
        oid: 12018,
        kind: 'v',
        columns: &[
            ("schemaname", NAME),
            ("tablename", NAME),
            ("policyname", NAME),
            ("permissive", TEXT),
            ("roles", NAMES),
            ("cmd", TEXT),
            ("qual", TEXT),
            ("with_check", TEXT),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_rewrite",
        oid: 2618,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("rulename", NAME),
            ("ev_class", OID),
            ("ev_type", CHAR),
            ("ev_enabled", CHAR),
            ("is_instead", BOOL),
            ("ev_qual", NODE),
            ("ev_action", NODE),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_statistic_ext",
        oid: 3381,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("stxrelid", OID),
            ("stxname", NAME),
            ("stxnamespace", OID),
            ("stxowner", OID),
            ("stxstattarget", I4),
            ("stxkeys", INT2VECTOR),
            ("stxkind", CHARS),
            ("stxexprs", NODE),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_publication",
        oid: 6104,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("pubname", NAME),
            ("pubowner", OID),
            ("puballtables", BOOL),
            ("pubinsert", BOOL),
            ("pubupdate", BOOL),
            ("pubdelete", BOOL),
            ("pubtruncate", BOOL),
            ("pubviaroot", BOOL),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_publication_namespace",
        oid: 6237,
        kind: 'r',
        columns: &[("oid", OID), ("pnpubid", OID), ("pnnspid", OID)],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_publication_rel",
        oid: 6106,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("prpubid", OID),
            ("prrelid", OID),
            ("prqual", NODE),
            ("prattrs", INT2VECTOR),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_tablespace",
        oid: 1213,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("spcname", NAME),
            ("spcowner", OID),
            ("spcacl", ACL),
            ("spcoptions", TEXTS),
        ],
        rows: pg_tablespace,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_attrdef",
        oid: 2604,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("adrelid", OID),
            ("adnum", I2),
            ("adbin", NODE),
        ],
        rows: pg_attrdef,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_constraint",
        oid: 2606,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("conname", NAME),
            ("connamespace", OID),
            ("contype", CHAR),
            ("condeferrable", BOOL),
            ("condeferred", BOOL),
            ("convalidated", BOOL),
            ("conrelid", OID),
            ("contypid", OID),
            ("conindid", OID),
            ("conparentid", OID),
            ("confrelid", OID),
            ("confupdtype", CHAR),
            ("confdeltype", CHAR),
            ("confmatchtype", CHAR),
            ("conislocal", BOOL),
            ("coninhcount", I4),
            ("connoinherit", BOOL),
            ("conkey", I2S),
            ("confkey", I2S),
            ("conpfeqop", OIDS),
            ("conppeqop", OIDS),
            ("conffeqop", OIDS),
            ("confdelsetcols", I2S),
            ("conexclop", OIDS),
            ("conbin", NODE),
        ],
        rows: pg_constraint,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_index",
        oid: 2610,
        kind: 'r',
        columns: &[
            ("indexrelid", OID),
            ("indrelid", OID),
            ("indnatts", I2),
            ("indnkeyatts", I2),
            ("indisunique", BOOL),
            ("indnullsnotdistinct", BOOL),
            ("indisprimary", BOOL),
            ("indisexclusion", BOOL),
            ("indimmediate", BOOL),
            ("indisclustered", BOOL),
            ("indisvalid", BOOL),
            ("indcheckxmin", BOOL),
            ("indisready", BOOL),
            ("indislive", BOOL),
            ("indisreplident", BOOL),
            ("indkey", INT2VECTOR),
            ("indcollation", OIDVECTOR),
            ("indclass", OIDVECTOR),
            ("indoption", INT2VECTOR),
            ("indexprs", NODE),
            ("indpred", NODE),
        ],
        rows: pg_index,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_tables",
        oid: 12033,
        kind: 'v',
        columns: &[
            ("schemaname", NAME),
            ("tablename", NAME),
            ("tableowner", NAME),
            ("tablespace", NAME),
            ("hasindexes", BOOL),
            ("hasrules", BOOL),
            ("hastriggers", BOOL),
            ("rowsecurity", BOOL),
        ],
        rows: pg_tables,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_indexes",
        oid: 12043,
        kind: 'v',
        columns: &[
            ("schemaname", NAME),
            ("tablename", NAME),
            ("indexname", NAME),
            ("tablespace", NAME),
            ("indexdef", TEXT),
        ],
        rows: pg_indexes,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_views",
        oid: 12028,
        kind: 'v',
        columns: &[
            ("schemaname", NAME),
            ("viewname", NAME),
            ("viewowner", NAME),
            ("definition", TEXT),
        ],
        rows: pg_views,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_matviews",
        oid: 12038,
        kind: 'v',
        columns: &[
            ("schemaname", NAME),
            ("matviewname", NAME),
            ("matviewowner", NAME),
            ("tablespace", NAME),
            ("hasindexes", BOOL),
            ("ispopulated", BOOL),
            ("definition", TEXT),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_extension",
        oid: 3079,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("extname", NAME),
            ("extowner", OID),
            ("extnamespace", OID),
            ("extrelocatable", BOOL),
            ("extversion", TEXT),
            ("extconfig", OIDS),
            ("extcondition", TEXTS),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_enum",
        oid: 3501,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("enumtypid", OID),
            ("enumsortorder", F4),
            ("enumlabel", NAME),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_range",
        oid: 3541,
        kind: 'r',
        columns: &[
            ("rngtypid", OID),
            ("rngsubtype", OID),
            ("rngmultitypid", OID),
            ("rngcollation", OID),
            ("rngsubopc", OID),
            ("rngcanonical", REGPROC),
            ("rngsubdiff", REGPROC),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_sequence",
        oid: 2224,
        kind: 'r',
        columns: &[
            ("seqrelid", OID),
            ("seqtypid", OID),
            ("seqstart", I8),
            ("seqincrement", I8),
            ("seqmax", I8),
            ("seqmin", I8),
            ("seqcache", I8),
            ("seqcycle", BOOL),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_sequences",
        oid: 12048,
        kind: 'v',
        columns: &[
            ("schemaname", NAME),
            ("sequencename", NAME),
            ("sequenceowner", NAME),
            ("data_type", REGTYPE),
            ("start_value", I8),
            ("min_value", I8),
            ("max_value", I8),
            ("increment_by", I8),
            ("cycle", BOOL),
            ("cache_size", I8),
            ("last_value", I8),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_depend",
        oid: 2608,
        kind: 'r',
        columns: &[
            ("classid", OID),
            ("objid", OID),
            ("objsubid", I4),
            ("refclassid", OID),
            ("refobjid", OID),
            ("refobjsubid", I4),
            ("deptype", CHAR),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_language",
        oid: 2612,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("lanname", NAME),
            ("lanowner", OID),
            ("lanispl", BOOL),
            ("lanpltrusted", BOOL),
            ("lanplcallfoid", OID),
            ("laninline", OID),
            ("lanvalidator", OID),
            ("lanacl", ACL),
        ],
        rows: pg_language,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_event_trigger",
        oid: 3466,
        kind: 'r',
        columns: &[
            ("oid", OID),
            ("evtname", NAME),
            ("evtevent", NAME),
            ("evtowner", OID),
            ("evtfoid", OID),
            ("evtenabled", CHAR),
            ("evttags", TEXTS),
        ],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_foreign_table",
        oid: 3118,
        kind: 'r',
        columns: &[("ftrelid", OID), ("ftserver", OID), ("ftoptions", TEXTS)],
        rows: empty,
    },
    Spec {
        schema: "pg_catalog",
        name: "pg_partitioned_table",
        oid: 3350,
        kind: 'r',
        columns: &[
            ("partrelid", OID),
            ("partstrat", CHAR),
            ("partnatts", I2),
            ("partdefid", OID),
            ("partattrs", INT2VECTOR),
            ("partclass", OIDVECTOR),
            ("partcollation", OIDVECTOR),
            ("partexprs", NODE),
        ],
        rows: empty,
    },
];
