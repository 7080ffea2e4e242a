//! The catalog-aware functions: the ones psql and drivers call in their
//! catalog queries (`format_type`, `pg_get_expr`, `pg_get_indexdef`,
//! `pg_table_is_visible`, `has_table_privilege`, …), resolved and called
//! with a [`CatalogView`].

use std::borrow::Cow;

use crate::cast::{can_cast, CastKind};
use crate::catalog::IndexKey;
use crate::datum::{DataType, Datum, Numeric};
use crate::sql::error::{code, SqlError};

use super::builtin;
use super::tables::{parse_attrdef_bin, pkey_keys};
use super::{
    deparse, format_type, index_columns, namespace_name, quote_ident, reg_lookup, relation,
    relation_is_visible, role_name, search_path, CatalogView, RelKind, Relation,
};

/// A catalog function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CatalogFn {
    /// `format_type(oid, int4)`.
    FormatType,
    /// `pg_get_expr(pg_node_tree, oid [, bool])`.
    GetExpr,
    /// `pg_get_indexdef(oid [, int4, bool])`.
    GetIndexdef,
    /// `pg_get_constraintdef(oid [, bool])`.
    GetConstraintdef,
    /// `pg_get_userbyid(oid)`.
    GetUserbyid,
    /// `pg_table_is_visible(oid)`.
    TableIsVisible,
    /// `pg_type_is_visible(oid)`.
    TypeIsVisible,
    /// `pg_function_is_visible(oid)`.
    FunctionIsVisible,
    /// `pg_collation_is_visible(oid)`.
    CollationIsVisible,
    /// `pg_encoding_to_char(int4)`.
    EncodingToChar,
    /// `pg_encoding_max_length(int4)`.
    EncodingMaxLength,
    /// `pg_get_serial_sequence(text, text)`: always NULL, there are no
    /// serial columns.
    GetSerialSequence,
    /// `obj_description`, `col_description`, `shobj_description`: NULL,
    /// there are no comments.
    Description,
    /// `has_table_privilege`, `has_schema_privilege`,
    /// `has_database_privilege`, `has_any_column_privilege`,
    /// `pg_has_role`: the object kind and whether the first argument is a
    /// role.
    HasPrivilege {
        /// What the object is.
        object: PrivilegeObject,
        /// Whether a role argument comes first.
        with_role: bool,
    },
    /// `pg_relation_size`, `pg_total_relation_size`, `pg_table_size`,
    /// `pg_indexes_size`: 0, the catalog view has no page counts.
    RelationSize,
    /// `pg_size_pretty(int8)` and `pg_size_pretty(numeric)`.
    SizePretty,
    /// `to_regclass`, `to_regtype`, … (`text`): the `reg*` type to read.
    ToReg(DataType),
    /// `current_setting(text [, bool])`.
    CurrentSetting,
    /// `set_config(text, text, bool)`.
    SetConfig,
    /// `inet_server_addr()`, `inet_server_port()`: NULL, as PostgreSQL
    /// returns for a Unix-socket connection (the catalog view does not
    /// know the socket).
    ServerAddress,
    /// `pg_is_in_recovery()`: true on a read replica, false on the writer.
    IsInRecovery,
    /// `pg_backend_pid()`.
    BackendPid,
    /// `pg_relation_is_publishable(regclass)`.
    RelationIsPublishable,
    /// Functions about objects that do not exist here (statistics
    /// objects, functions, views, triggers, rules, partitions): NULL.
    NoObject,
    /// `current_database()`.
    CurrentDatabase,
    /// `current_schema()`.
    CurrentSchema,
    /// `current_schemas(bool)`.
    CurrentSchemas,
    /// `current_user`, `session_user`, `user`, `current_role`.
    CurrentUser,
    /// `quote_ident(text)`.
    QuoteIdent,
    /// `pg_is_other_temp_schema(oid)`: false, there are no temporary
    /// schemas.
    IsOtherTempSchema,
    /// `pg_my_temp_schema()`: 0.
    MyTempSchema,
}

/// The kind of object a privilege function asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivilegeObject {
    /// A table (`has_table_privilege`, `has_any_column_privilege`).
    Table,
    /// A schema.
    Schema,
    /// The database.
    Database,
    /// A role (`pg_has_role`).
    Role,
}

/// A resolved catalog function call: the function, the type each argument
/// must be cast to first, and the result type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// What to call.
    pub func: CatalogFn,
    /// The type each argument must be cast to (implicitly) first.
    pub arg_types: Vec<DataType>,
    /// The result type.
    pub ret: DataType,
}

use DataType as T;

/// One signature: name, argument types, result type, function.
struct Signature {
    name: &'static str,
    args: &'static [DataType],
    ret: DataType,
    func: CatalogFn,
}

const fn sig(
    name: &'static str,
    args: &'static [DataType],
    ret: DataType,
    func: CatalogFn,
) -> Signature {
    Signature {
        name,
        args,
        ret,
        func,
    }
}

const fn has(object: PrivilegeObject, with_role: bool) -> CatalogFn {
    CatalogFn::HasPrivilege { object, with_role }
}

use PrivilegeObject::{Database, Role, Schema, Table};

/// Every signature, in the order resolution prefers them: `text`
/// variants before `oid` ones, so that an untyped literal reads as a name.
const SIGNATURES: &[Signature] = &[
    sig(
        "format_type",
        &[T::Oid, T::Int4],
        T::Text,
        CatalogFn::FormatType,
    ),
    sig(
        "pg_get_expr",
        &[T::Text, T::Oid],
        T::Text,
        CatalogFn::GetExpr,
    ),
    sig(
        "pg_get_expr",
        &[T::Text, T::Oid, T::Bool],
        T::Text,
        CatalogFn::GetExpr,
    ),
    sig(
        "pg_get_indexdef",
        &[T::Oid],
        T::Text,
        CatalogFn::GetIndexdef,
    ),
    sig(
        "pg_get_indexdef",
        &[T::Oid, T::Int4, T::Bool],
        T::Text,
        CatalogFn::GetIndexdef,
    ),
    sig(
        "pg_get_constraintdef",
        &[T::Oid],
        T::Text,
        CatalogFn::GetConstraintdef,
    ),
    sig(
        "pg_get_constraintdef",
        &[T::Oid, T::Bool],
        T::Text,
        CatalogFn::GetConstraintdef,
    ),
    sig(
        "pg_get_userbyid",
        &[T::Oid],
        T::Name,
        CatalogFn::GetUserbyid,
    ),
    sig(
        "pg_table_is_visible",
        &[T::Oid],
        T::Bool,
        CatalogFn::TableIsVisible,
    ),
    sig(
        "pg_type_is_visible",
        &[T::Oid],
        T::Bool,
        CatalogFn::TypeIsVisible,
    ),
    sig(
        "pg_function_is_visible",
        &[T::Oid],
        T::Bool,
        CatalogFn::FunctionIsVisible,
    ),
    sig(
        "pg_collation_is_visible",
        &[T::Oid],
        T::Bool,
        CatalogFn::CollationIsVisible,
    ),
    sig(
        "pg_encoding_to_char",
        &[T::Int4],
        T::Name,
        CatalogFn::EncodingToChar,
    ),
    sig(
        "pg_encoding_max_length",
        &[T::Int4],
        T::Int4,
        CatalogFn::EncodingMaxLength,
    ),
    sig(
        "pg_get_serial_sequence",
        &[T::Text, T::Text],
        T::Text,
        CatalogFn::GetSerialSequence,
    ),
    sig(
        "obj_description",
        &[T::Oid, T::Name],
        T::Text,
        CatalogFn::Description,
    ),
    sig(
        "obj_description",
        &[T::Oid],
        T::Text,
        CatalogFn::Description,
    ),
    sig(
        "col_description",
        &[T::Oid, T::Int4],
        T::Text,
        CatalogFn::Description,
    ),
    sig(
        "shobj_description",
        &[T::Oid, T::Name],
        T::Text,
        CatalogFn::Description,
    ),
    sig(
        "has_table_privilege",
        &[T::Text, T::Text],
        T::Bool,
        has(Table, false),
    ),
    sig(
        "has_table_privilege",
        &[T::Oid, T::Text],
        T::Bool,
        has(Table, false),
    ),
    sig(
        "has_table_privilege",
        &[T::Name, T::Text, T::Text],
        T::Bool,
        has(Table, true),
    ),
    sig(
        "has_table_privilege",
        &[T::Name, T::Oid, T::Text],
        T::Bool,
        has(Table, true),
    ),
    sig(
        "has_table_privilege",
        &[T::Oid, T::Text, T::Text],
        T::Bool,
        has(Table, true),
    ),
    sig(
        "has_table_privilege",
        &[T::Oid, T::Oid, T::Text],
        T::Bool,
        has(Table, true),
    ),
    sig(
        "has_any_column_privilege",
        &[T::Text, T::Text],
        T::Bool,
        has(Table, false),
    ),
    sig(
        "has_any_column_privilege",
        &[T::Oid, T::Text],
        T::Bool,
        has(Table, false),
    ),
    sig(
        "has_schema_privilege",
        &[T::Text, T::Text],
        T::Bool,
        has(Schema, false),
    ),
    sig(
        "has_schema_privilege",
        &[T::Oid, T::Text],
        T::Bool,
        has(Schema, false),
    ),
    sig(
        "has_schema_privilege",
        &[T::Name, T::Text, T::Text],
        T::Bool,
        has(Schema, true),
    ),
    sig(
        "has_schema_privilege",
        &[T::Name, T::Oid, T::Text],
        T::Bool,
        has(Schema, true),
    ),
    sig(
        "has_database_privilege",
        &[T::Text, T::Text],
        T::Bool,
        has(Database, false),
    ),
    sig(
        "has_database_privilege",
        &[T::Oid, T::Text],
        T::Bool,
        has(Database, false),
    ),
    sig(
        "has_database_privilege",
        &[T::Name, T::Text, T::Text],
        T::Bool,
        has(Database, true),
    ),
    sig(
        "has_database_privilege",
        &[T::Name, T::Oid, T::Text],
        T::Bool,
        has(Database, true),
    ),
    sig(
        "pg_has_role",
        &[T::Name, T::Text],
        T::Bool,
        has(Role, false),
    ),
    sig("pg_has_role", &[T::Oid, T::Text], T::Bool, has(Role, false)),
    sig(
        "pg_has_role",
        &[T::Name, T::Name, T::Text],
        T::Bool,
        has(Role, true),
    ),
    sig(
        "pg_has_role",
        &[T::Name, T::Oid, T::Text],
        T::Bool,
        has(Role, true),
    ),
    sig(
        "pg_relation_size",
        &[T::RegClass],
        T::Int8,
        CatalogFn::RelationSize,
    ),
    sig(
        "pg_relation_size",
        &[T::RegClass, T::Text],
        T::Int8,
        CatalogFn::RelationSize,
    ),
    sig(
        "pg_total_relation_size",
        &[T::RegClass],
        T::Int8,
        CatalogFn::RelationSize,
    ),
    sig(
        "pg_table_size",
        &[T::RegClass],
        T::Int8,
        CatalogFn::RelationSize,
    ),
    sig(
        "pg_indexes_size",
        &[T::RegClass],
        T::Int8,
        CatalogFn::RelationSize,
    ),
    sig("pg_size_pretty", &[T::Int8], T::Text, CatalogFn::SizePretty),
    sig(
        "pg_size_pretty",
        &[T::Numeric],
        T::Text,
        CatalogFn::SizePretty,
    ),
    sig(
        "to_regclass",
        &[T::Text],
        T::RegClass,
        CatalogFn::ToReg(T::RegClass),
    ),
    sig(
        "to_regtype",
        &[T::Text],
        T::RegType,
        CatalogFn::ToReg(T::RegType),
    ),
    sig(
        "to_regproc",
        &[T::Text],
        T::RegProc,
        CatalogFn::ToReg(T::RegProc),
    ),
    sig(
        "to_regprocedure",
        &[T::Text],
        T::RegProcedure,
        CatalogFn::ToReg(T::RegProcedure),
    ),
    sig(
        "to_regnamespace",
        &[T::Text],
        T::RegNamespace,
        CatalogFn::ToReg(T::RegNamespace),
    ),
    sig(
        "to_regrole",
        &[T::Text],
        T::RegRole,
        CatalogFn::ToReg(T::RegRole),
    ),
    sig(
        "current_setting",
        &[T::Text],
        T::Text,
        CatalogFn::CurrentSetting,
    ),
    sig(
        "current_setting",
        &[T::Text, T::Bool],
        T::Text,
        CatalogFn::CurrentSetting,
    ),
    sig(
        "set_config",
        &[T::Text, T::Text, T::Bool],
        T::Text,
        CatalogFn::SetConfig,
    ),
    // `inet` is not a type here; the result is always NULL.
    sig("inet_server_addr", &[], T::Text, CatalogFn::ServerAddress),
    sig("inet_server_port", &[], T::Int4, CatalogFn::ServerAddress),
    sig("pg_is_in_recovery", &[], T::Bool, CatalogFn::IsInRecovery),
    sig("pg_backend_pid", &[], T::Int4, CatalogFn::BackendPid),
    sig(
        "pg_relation_is_publishable",
        &[T::RegClass],
        T::Bool,
        CatalogFn::RelationIsPublishable,
    ),
    sig(
        "pg_get_statisticsobjdef_columns",
        &[T::Oid],
        T::Text,
        CatalogFn::NoObject,
    ),
    sig(
        "pg_get_function_result",
        &[T::Oid],
        T::Text,
        CatalogFn::NoObject,
    ),
    sig(
        "pg_get_function_arguments",
        &[T::Oid],
        T::Text,
        CatalogFn::NoObject,
    ),
    sig(
        "pg_get_function_identity_arguments",
        &[T::Oid],
        T::Text,
        CatalogFn::NoObject,
    ),
    sig(
        "pg_get_functiondef",
        &[T::Oid],
        T::Text,
        CatalogFn::NoObject,
    ),
    sig("pg_get_viewdef", &[T::Oid], T::Text, CatalogFn::NoObject),
    sig(
        "pg_get_viewdef",
        &[T::Oid, T::Bool],
        T::Text,
        CatalogFn::NoObject,
    ),
    sig("pg_get_triggerdef", &[T::Oid], T::Text, CatalogFn::NoObject),
    sig(
        "pg_get_triggerdef",
        &[T::Oid, T::Bool],
        T::Text,
        CatalogFn::NoObject,
    ),
    sig("pg_get_ruledef", &[T::Oid], T::Text, CatalogFn::NoObject),
    sig(
        "pg_get_ruledef",
        &[T::Oid, T::Bool],
        T::Text,
        CatalogFn::NoObject,
    ),
    sig("pg_get_partkeydef", &[T::Oid], T::Text, CatalogFn::NoObject),
    sig("current_database", &[], T::Name, CatalogFn::CurrentDatabase),
    sig("current_catalog", &[], T::Name, CatalogFn::CurrentDatabase),
    sig("current_schema", &[], T::Name, CatalogFn::CurrentSchema),
    sig(
        "current_schemas",
        &[T::Bool],
        T::Array(&T::Name),
        CatalogFn::CurrentSchemas,
    ),
    sig("current_user", &[], T::Name, CatalogFn::CurrentUser),
    sig("session_user", &[], T::Name, CatalogFn::CurrentUser),
    sig("current_role", &[], T::Name, CatalogFn::CurrentUser),
    sig("user", &[], T::Name, CatalogFn::CurrentUser),
    sig("quote_ident", &[T::Text], T::Text, CatalogFn::QuoteIdent),
    sig(
        "pg_is_other_temp_schema",
        &[T::Oid],
        T::Bool,
        CatalogFn::IsOtherTempSchema,
    ),
    sig("pg_my_temp_schema", &[], T::Oid, CatalogFn::MyTempSchema),
];

/// Returns whether `name` (lower case) is a catalog function here, of any
/// arity: the binder can ask this before trying other function libraries.
pub fn is_catalog_function(name: &str) -> bool {
    SIGNATURES.iter().any(|s| s.name == name)
}

/// Resolves a call of the catalog function `name` (lower case, optionally
/// `pg_catalog.`-qualified by the caller stripping it) with arguments of
/// types `args`, of which `unknown[i]` are untyped literals. An exact match
/// wins, then one reachable by implicit casts. `None` if no signature
/// fits.
pub fn resolve_function(name: &str, args: &[DataType], unknown: &[bool]) -> Option<Resolved> {
    assert_eq!(args.len(), unknown.len(), "one unknown flag per argument");
    let candidates = || {
        SIGNATURES
            .iter()
            .filter(move |s| s.name == name && s.args.len() == args.len())
    };
    let exact = candidates().find(|s| {
        s.args
            .iter()
            .zip(args.iter().zip(unknown))
            .all(|(want, (have, u))| *u || want.oid() == have.oid())
    });
    let chosen = exact.or_else(|| {
        candidates().find(|s| {
            s.args
                .iter()
                .zip(args.iter().zip(unknown))
                .all(|(want, (have, u))| *u || can_cast(have, want).allowed_in(CastKind::Implicit))
        })
    })?;
    Some(Resolved {
        func: chosen.func,
        arg_types: chosen.args.to_vec(),
        ret: chosen.ret,
    })
}

fn oid_arg(d: &Datum) -> Option<u32> {
    match d {
        Datum::Oid(v) => Some(*v),
        _ => None,
    }
}

fn text_arg(d: &Datum) -> Option<&str> {
    match d {
        Datum::Text(s) => Some(s),
        _ => None,
    }
}

fn int_arg(d: &Datum) -> Option<i32> {
    match d {
        Datum::Int4(v) => Some(*v),
        _ => None,
    }
}

fn bool_arg(d: &Datum) -> Option<bool> {
    match d {
        Datum::Bool(v) => Some(*v),
        _ => None,
    }
}

fn text(s: impl Into<String>) -> Datum {
    Datum::Text(s.into())
}

/// Runs `f` on arguments already cast to [`Resolved::arg_types`].
pub fn call_function(
    f: CatalogFn,
    args: &[Datum],
    view: &CatalogView<'_>,
) -> Result<Datum, SqlError> {
    let arg = |i: usize| args.get(i).unwrap_or(&Datum::Null);
    Ok(match f {
        CatalogFn::FormatType => {
            let Some(oid) = oid_arg(arg(0)) else {
                return Ok(Datum::Null);
            };
            text(format_type(oid, int_arg(arg(1))).unwrap_or_else(|| "???".to_owned()))
        }
        CatalogFn::GetExpr => {
            let (Some(expr), Some(relid)) = (text_arg(arg(0)), oid_arg(arg(1))) else {
                return Ok(Datum::Null);
            };
            let pretty = bool_arg(arg(2)).unwrap_or(false);
            match get_expr(view, expr, relid, pretty) {
                Ok(s) => text(s),
                Err(e) if e.code == code::UNDEFINED_TABLE => Datum::Null,
                Err(e) => return Err(e),
            }
        }
        CatalogFn::GetIndexdef => {
            let Some(oid) = oid_arg(arg(0)) else {
                return Ok(Datum::Null);
            };
            let column = if args.len() > 1 {
                match int_arg(arg(1)) {
                    Some(c) => c,
                    None => return Ok(Datum::Null),
                }
            } else {
                0
            };
            let pretty = bool_arg(arg(2)).unwrap_or(false);
            match relation(view.catalog, oid) {
                Some(rel) if matches!(rel.kind, RelKind::PrimaryKey(_) | RelKind::Index(..)) => {
                    text(index_def(view, &rel, column, pretty))
                }
                _ => Datum::Null,
            }
        }
        CatalogFn::GetConstraintdef => {
            let Some(oid) = oid_arg(arg(0)) else {
                return Ok(Datum::Null);
            };
            match relation(view.catalog, oid) {
                Some(Relation {
                    kind: RelKind::PrimaryKey(t),
                    ..
                }) => {
                    let columns: Vec<Cow<'_, str>> = t
                        .primary_key
                        .iter()
                        .map(|&p| quote_ident(&t.columns[p].name))
                        .collect();
                    text(format!("PRIMARY KEY ({})", columns.join(", ")))
                }
                _ => match super::unique_constraint(view.catalog, oid) {
                    Some((t, ix)) => {
                        let columns: Vec<Cow<'_, str>> = ix
                            .keys
                            .iter()
                            .filter_map(|k| match k {
                                IndexKey::Column(p) => Some(quote_ident(&t.columns[*p].name)),
                                IndexKey::Expr(_) => None,
                            })
                            .collect();
                        text(format!("UNIQUE ({})", columns.join(", ")))
                    }
                    None => Datum::Null,
                },
            }
        }
        CatalogFn::GetUserbyid => {
            let Some(oid) = oid_arg(arg(0)) else {
                return Ok(Datum::Null);
            };
            text(match role_name(view, oid) {
                Some(name) => name.to_owned(),
                None => format!("unknown (OID={oid})"),
            })
        }
        CatalogFn::TableIsVisible => {
            match oid_arg(arg(0)).and_then(|o| relation(view.catalog, o)) {
                Some(rel) => Datum::Bool(relation_is_visible(view, &rel)),
                None => Datum::Null,
            }
        }
        CatalogFn::TypeIsVisible => match oid_arg(arg(0)).and_then(builtin::type_row) {
            Some(_) => Datum::Bool(true),
            None => Datum::Null,
        },
        CatalogFn::FunctionIsVisible => match oid_arg(arg(0)).and_then(builtin::proc_name) {
            Some(_) => Datum::Bool(true),
            None => Datum::Null,
        },
        // Every collation is in pg_catalog, which is always on the path.
        CatalogFn::CollationIsVisible => match oid_arg(arg(0)) {
            Some(oid) if builtin::COLLATIONS.iter().any(|c| c.0 == oid) => Datum::Bool(true),
            _ => Datum::Null,
        },
        CatalogFn::EncodingToChar => match int_arg(arg(0)) {
            Some(n) => text(encoding_name(n)),
            None => Datum::Null,
        },
        CatalogFn::EncodingMaxLength => match int_arg(arg(0)) {
            Some(builtin::UTF8_ENCODING) => Datum::Int4(4),
            Some(0) => Datum::Int4(1),
            Some(n) => {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!("invalid encoding number: {n}"),
                ))
            }
            None => Datum::Null,
        },
        CatalogFn::GetSerialSequence => {
            if let Some(table) = text_arg(arg(0)) {
                // PostgreSQL checks the table exists before finding no sequence.
                if reg_lookup(T::RegClass, table, view)?.is_none() {
                    return Err(SqlError::new(
                        code::UNDEFINED_TABLE,
                        format!("relation \"{table}\" does not exist"),
                    ));
                }
            }
            Datum::Null
        }
        CatalogFn::Description | CatalogFn::NoObject | CatalogFn::ServerAddress => Datum::Null,
        CatalogFn::HasPrivilege { object, with_role } => {
            has_privilege(object, with_role, args, view)?
        }
        CatalogFn::RelationSize => match oid_arg(arg(0)) {
            // PostgreSQL returns NULL for an OID that is no relation.
            Some(oid) if relation(view.catalog, oid).is_some() => Datum::Int8(0),
            _ => Datum::Null,
        },
        CatalogFn::SizePretty => match arg(0) {
            Datum::Int8(v) => text(size_pretty(i128::from(*v))),
            Datum::Numeric(n) => text(size_pretty_numeric(n)),
            _ => Datum::Null,
        },
        CatalogFn::ToReg(ty) => match text_arg(arg(0)) {
            // NULL for a name that names nothing (a missing schema
            // included); PostgreSQL 15 still raises for names that do not
            // parse.
            Some(name) => match reg_lookup(ty, name, view) {
                Ok(Some(oid)) => Datum::Oid(oid),
                Ok(None) => Datum::Null,
                Err(e) if e.code == code::INVALID_SCHEMA_NAME => Datum::Null,
                Err(e) => return Err(e),
            },
            None => Datum::Null,
        },
        CatalogFn::CurrentSetting => {
            let Some(name) = text_arg(arg(0)) else {
                return Ok(Datum::Null);
            };
            let missing_ok = bool_arg(arg(1)).unwrap_or(false);
            let lower = name.to_ascii_lowercase();
            // What set_config() changed earlier in this statement.
            if let Some(value) = view.pending_settings.and_then(|p| p.get(name)) {
                return Ok(text(value));
            }
            match settings(view)
                .into_iter()
                .find(|s| s.name.to_ascii_lowercase() == lower)
            {
                Some(s) => text(s.value),
                None if missing_ok => Datum::Null,
                None => {
                    return Err(SqlError::new(
                        code::UNDEFINED_OBJECT,
                        format!("unrecognized configuration parameter \"{name}\""),
                    ))
                }
            }
        }
        CatalogFn::SetConfig => {
            let Some(name) = text_arg(arg(0)) else {
                return Err(SqlError::new(
                    code::NULL_VALUE_NOT_ALLOWED,
                    "SET requires parameter name",
                ));
            };
            let value = text_arg(arg(1));
            let local = bool_arg(arg(2)).unwrap_or(false);
            let pending = view
                .pending_settings
                .ok_or_else(|| SqlError::unsupported("set_config() here"))?;
            let lower = name.to_ascii_lowercase();
            let current = pending
                .get(name)
                .or_else(|| view.settings.get(&lower).cloned())
                .unwrap_or_default();
            let shown = crate::sql::settings::Settings::check(name, value, &current)?;
            pending.push(crate::sql::settings::PendingSetting {
                name: name.to_owned(),
                value: value.map(str::to_owned),
                shown: shown.clone(),
                local,
            });
            text(shown)
        }
        CatalogFn::IsInRecovery => Datum::Bool(view.in_recovery),
        CatalogFn::IsOtherTempSchema => Datum::Bool(false),
        CatalogFn::BackendPid => Datum::Int4(view.backend_pid),
        CatalogFn::RelationIsPublishable => {
            match oid_arg(arg(0)).and_then(|o| relation(view.catalog, o)) {
                Some(rel) => Datum::Bool(matches!(rel.kind, RelKind::Table(_))),
                None => Datum::Null,
            }
        }
        CatalogFn::CurrentDatabase => text(view.database),
        CatalogFn::CurrentSchema => {
            match search_path(view)
                .into_iter()
                .find(|&ns| ns != builtin::PG_CATALOG || explicit_pg_catalog(view))
            {
                Some(ns) => text(namespace_name(ns).expect("search path schemas exist")),
                None => Datum::Null,
            }
        }
        CatalogFn::CurrentSchemas => {
            let Some(implicit) = bool_arg(arg(0)) else {
                return Ok(Datum::Null);
            };
            let names = search_path(view)
                .into_iter()
                .filter(|&ns| implicit || ns != builtin::PG_CATALOG || explicit_pg_catalog(view))
                .map(|ns| text(namespace_name(ns).expect("search path schemas exist")))
                .collect();
            Datum::array(T::Array(&T::Name), names)
        }
        CatalogFn::CurrentUser => text(view.user),
        CatalogFn::QuoteIdent => match text_arg(arg(0)) {
            Some(s) => text(quote_ident(s).into_owned()),
            None => Datum::Null,
        },
        CatalogFn::MyTempSchema => Datum::Oid(0),
    })
}

/// Whether `search_path` names `pg_catalog` itself.
fn explicit_pg_catalog(view: &CatalogView<'_>) -> bool {
    view.settings.get("search_path").is_some_and(|p| {
        p.split(',')
            .any(|s| s.trim().trim_matches('"') == "pg_catalog")
    })
}

/// `pg_encoding_to_char`: PostgreSQL's encoding names by number, empty for
/// numbers that name none.
fn encoding_name(n: i32) -> &'static str {
    const NAMES: [&str; 42] = [
        "SQL_ASCII",
        "EUC_JP",
        "EUC_CN",
        "EUC_KR",
        "EUC_TW",
        "EUC_JIS_2004",
        "UTF8",
        "MULE_INTERNAL",
        "LATIN1",
        "LATIN2",
        "LATIN3",
        "LATIN4",
        "LATIN5",
        "LATIN6",
        "LATIN7",
        "LATIN8",
        "LATIN9",
        "LATIN10",
        "WIN1256",
        "WIN1258",
        "WIN866",
        "WIN874",
        "KOI8R",
        "WIN1251",
        "WIN1252",
        "ISO_8859_5",
        "ISO_8859_6",
        "ISO_8859_7",
        "ISO_8859_8",
        "WIN1250",
        "WIN1253",
        "WIN1254",
        "WIN1255",
        "WIN1257",
        "KOI8U",
        "SJIS",
        "BIG5",
        "GBK",
        "UHC",
        "GB18030",
        "JOHAB",
        "SHIFT_JIS_2004",
    ];
    usize::try_from(n)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("")
}

/// `pg_size_pretty`: bytes below 10 kB, then kB, MB, GB, TB and PB, each
/// rounded half away from zero, switching unit at 20 × 1024 - 1
/// (PostgreSQL 15's `size_pretty_units`).
fn size_pretty(mut size: i128) -> String {
    // (name, limit, rounds, bits)
    const UNITS: [(&str, i128, bool, u32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let half_rounded = |x: i128| (x + if x < 0 { -1 } else { 1 }) / 2;
    for (i, &(name, limit, round, bits)) in UNITS.iter().enumerate() {
        let last = i + 1 == UNITS.len();
        if last || size.abs() < limit {
            if round {
                size = half_rounded(size);
            }
            return format!("{size} {name}");
        }
        let (_, _, next_round, next_bits) = UNITS[i + 1];
        let shift = next_bits - bits - u32::from(next_round) + u32::from(round);
        // Division, not shifting, so negative sizes round like positive.
        size /= 1i128 << shift;
    }
    unreachable!("the last unit always returns")
}

/// `pg_size_pretty(numeric)`: the same units on the integer part.
fn size_pretty_numeric(n: &Numeric) -> String {
    let text = n.to_string();
    let int_part = text.split('.').next().unwrap_or("0");
    if let Ok(v) = int_part.parse::<i128>() {
        return size_pretty(v);
    }
    if !n.is_finite() {
        // NaN (and the infinities) compare above every limit.
        return format!("{text} PB");
    }
    // Beyond i128 every unit is passed: the PB count is the value
    // divided by 2^49 (the shifts before PB together), half-rounded.
    let (negative, digits) = match int_part.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, int_part),
    };
    let quotient = decimal_div(digits, 1u64 << 49);
    let rounded = decimal_div(&decimal_add_one(&quotient), 2);
    format!("{}{rounded} PB", if negative { "-" } else { "" })
}

/// Long division of a decimal digit string by `divisor`, truncating.
fn decimal_div(digits: &str, divisor: u64) -> String {
    let mut out = String::with_capacity(digits.len());
    let mut rem: u128 = 0;
    for d in digits.bytes() {
        rem = rem * 10 + u128::from(d - b'0');
        let q = rem / u128::from(divisor);
        rem %= u128::from(divisor);
        if !(out.is_empty() && q == 0) {
            out.push(char::from(b'0' + q as u8));
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// A decimal digit string plus one.
fn decimal_add_one(digits: &str) -> String {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return String::from_utf8(bytes).expect("digits");
        }
    }
    format!("1{}", String::from_utf8(bytes).expect("digits"))
}

/// Checks a privilege string such as `SELECT, INSERT WITH GRANT OPTION`
/// against the privileges an object kind has.
fn check_privileges(object: PrivilegeObject, text: &str) -> Result<(), SqlError> {
    let allowed: &[&str] = match object {
        Table => &[
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "TRUNCATE",
            "REFERENCES",
            "TRIGGER",
        ],
        Schema => &["CREATE", "USAGE"],
        Database => &["CREATE", "CONNECT", "TEMPORARY", "TEMP"],
        Role => &["MEMBER", "USAGE"],
    };
    for item in text.split(',') {
        let item = item.trim();
        let upper = item.to_ascii_uppercase();
        let base = upper
            .strip_suffix("WITH GRANT OPTION")
            .or_else(|| upper.strip_suffix("WITH ADMIN OPTION"))
            .map_or(upper.as_str(), str::trim_end);
        if !allowed.contains(&base) {
            return Err(SqlError::new(
                code::INVALID_PARAMETER_VALUE,
                format!("unrecognized privilege type: \"{item}\""),
            ));
        }
    }
    Ok(())
}

/// The privilege functions: every privilege for the session user (a
/// superuser), none for the predefined roles.
fn has_privilege(
    object: PrivilegeObject,
    with_role: bool,
    args: &[Datum],
    view: &CatalogView<'_>,
) -> Result<Datum, SqlError> {
    if args.iter().any(Datum::is_null) {
        return Ok(Datum::Null);
    }
    let (role, target, privilege) = if with_role {
        (Some(&args[0]), &args[1], &args[2])
    } else {
        (None, &args[0], &args[1])
    };
    let is_user = match role {
        None => true,
        Some(Datum::Text(name)) => {
            if name == view.user {
                true
            } else if builtin::PREDEFINED_ROLES.iter().any(|r| r.1 == name) {
                false
            } else {
                return Err(SqlError::new(
                    code::UNDEFINED_OBJECT,
                    format!("role \"{name}\" does not exist"),
                ));
            }
        }
        Some(Datum::Oid(oid)) => match role_name(view, *oid) {
            Some(_) => *oid == builtin::BOOTSTRAP_SUPERUSER,
            None => return Ok(Datum::Null),
        },
        Some(other) => {
            return Err(SqlError::new(
                code::INTERNAL_ERROR,
                format!("privilege function called with role {other:?}"),
            ))
        }
    };
    let exists = match (object, target) {
        (Table, Datum::Text(name)) => {
            if reg_lookup(T::RegClass, name, view)?.is_none() {
                return Err(SqlError::new(
                    code::UNDEFINED_TABLE,
                    format!("relation \"{name}\" does not exist"),
                ));
            }
            true
        }
        (Table, Datum::Oid(oid)) => relation(view.catalog, *oid).is_some(),
        (Schema, Datum::Text(name)) => {
            if !builtin::NAMESPACES.iter().any(|n| n.1 == name) {
                return Err(SqlError::new(
                    code::INVALID_SCHEMA_NAME,
                    format!("schema \"{name}\" does not exist"),
                ));
            }
            true
        }
        (Schema, Datum::Oid(oid)) => namespace_name(*oid).is_some(),
        (Database, Datum::Text(name)) => {
            if name != view.database {
                return Err(SqlError::new(
                    code::UNDEFINED_OBJECT,
                    format!("database \"{name}\" does not exist"),
                ));
            }
            true
        }
        (Database, Datum::Oid(oid)) => *oid == builtin::DATABASE_OID,
        (Role, Datum::Text(name)) => {
            if name != view.user && !builtin::PREDEFINED_ROLES.iter().any(|r| r.1 == name) {
                return Err(SqlError::new(
                    code::UNDEFINED_OBJECT,
                    format!("role \"{name}\" does not exist"),
                ));
            }
            true
        }
        (Role, Datum::Oid(oid)) => role_name(view, *oid).is_some(),
        (_, other) => {
            return Err(SqlError::new(
                code::INTERNAL_ERROR,
                format!("privilege function called with object {other:?}"),
            ))
        }
    };
    if !exists {
        return Ok(Datum::Null);
    }
    let Datum::Text(privilege) = privilege else {
        return Err(SqlError::new(
            code::INTERNAL_ERROR,
            "privilege function called without a privilege string",
        ));
    };
    check_privileges(object, privilege)?;
    Ok(Datum::Bool(is_user))
}

/// `pg_get_expr(expr, relid, pretty)`: a column default (the envelope
/// `pg_attrdef.adbin` holds) or expressions over the relation's columns
/// (`pg_index.indexprs`), printed as PostgreSQL prints them. An error with
/// 42P01 when `relid` is no table.
pub(crate) fn get_expr(
    view: &CatalogView<'_>,
    expr: &str,
    relid: u32,
    pretty: bool,
) -> Result<String, SqlError> {
    let no_table = || {
        SqlError::new(
            code::UNDEFINED_TABLE,
            format!("relation with OID {relid} does not exist"),
        )
    };
    let table = match relation(view.catalog, relid) {
        Some(Relation {
            kind: RelKind::Table(t),
            ..
        }) => t,
        _ => return Err(no_table()),
    };
    if let Some((num, sql)) = parse_attrdef_bin(expr) {
        let column = usize::try_from(num)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| table.columns.get(i))
            .ok_or_else(no_table)?;
        return Ok(deparse::default_expr(table, column, sql, pretty));
    }
    deparse::expr_list(table, expr, pretty).ok_or_else(|| {
        SqlError::new(
            code::INVALID_PARAMETER_VALUE,
            format!("could not read expression \"{expr}\""),
        )
    })
}

/// `pg_get_indexdef(oid, column, pretty)`: the whole `CREATE INDEX` for
/// column 0, else only that key column.
pub(crate) fn index_def(
    view: &CatalogView<'_>,
    rel: &Relation<'_>,
    column: i32,
    pretty: bool,
) -> String {
    let (table, keys, unique) = match rel.kind {
        RelKind::PrimaryKey(t) => (t, pkey_keys(t), true),
        RelKind::Index(t, ix) => (t, ix.keys.clone(), ix.unique),
        _ => unreachable!("index_def is called for indexes"),
    };
    let columns = index_columns(table, &keys);
    let parts: Vec<String> = keys
        .iter()
        .zip(&columns)
        .map(|(key, col)| match (key, col) {
            (_, Some(pos)) => quote_ident(&table.columns[*pos].name).into_owned(),
            (IndexKey::Expr(sql), None) => deparse::index_expr(table, sql, pretty).text,
            (IndexKey::Column(_), None) => unreachable!("column keys have positions"),
        })
        .collect();
    if column > 0 {
        return usize::try_from(column - 1)
            .ok()
            .and_then(|i| parts.get(i))
            .cloned()
            .unwrap_or_default();
    }
    // Pretty output names the table without its schema when visible.
    let table_rel =
        relation(view.catalog, super::object_oid(table.id)).expect("an index's table exists");
    let table_name = if pretty && relation_is_visible(view, &table_rel) {
        quote_ident(&table.name).into_owned()
    } else {
        format!("public.{}", quote_ident(&table.name))
    };
    format!(
        "CREATE {}INDEX {} ON {} USING btree ({})",
        if unique { "UNIQUE " } else { "" },
        quote_ident(&rel.name),
        table_name,
        parts.join(", ")
    )
}

/// One configuration parameter as `pg_settings` and `current_setting`
/// show it.
pub(crate) struct Setting {
    pub name: String,
    pub value: String,
    pub unit: Option<&'static str>,
    pub category: &'static str,
    pub description: &'static str,
    pub context: &'static str,
    pub vartype: &'static str,
    pub boot: String,
    /// Whether the session holds the value (else it is the fixed one).
    pub from_session: bool,
}

/// What PostgreSQL 15 says about a parameter Sextant has.
struct KnownSetting {
    name: &'static str,
    category: &'static str,
    description: &'static str,
    context: &'static str,
    vartype: &'static str,
    unit: Option<&'static str>,
}

/// The parameters Sextant has, as PostgreSQL 15's `pg_settings` describes
/// them.
const KNOWN_SETTINGS: &[KnownSetting] = &[
    KnownSetting {
        name: "application_name",
        category: "Reporting and Logging / What to Log",
        description: "Sets the application name to be reported in statistics and logs.",
        context: "user",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "block_size",
        category: "Preset Options",
        description: "Shows the size of a disk block.",
        context: "internal",
        vartype: "integer",
        unit: None,
    },
    KnownSetting {
        name: "client_encoding",
        category: "Client Connection Defaults / Locale and Formatting",
        description: "Sets the client's character set encoding.",
        context: "user",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "DateStyle",
        category: "Client Connection Defaults / Locale and Formatting",
        description: "Sets the display format for date and time values.",
        context: "user",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "default_table_access_method",
        category: "Client Connection Defaults / Statement Behavior",
        description: "Sets the default table access method for new tables.",
        context: "user",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "integer_datetimes",
        category: "Preset Options",
        description: "Shows whether datetimes are integer based.",
        context: "internal",
        vartype: "bool",
        unit: None,
    },
    KnownSetting {
        name: "IntervalStyle",
        category: "Client Connection Defaults / Locale and Formatting",
        description: "Sets the display format for interval values.",
        context: "user",
        vartype: "enum",
        unit: None,
    },
    KnownSetting {
        name: "is_superuser",
        category: "Preset Options",
        description: "Shows whether the current user is a superuser.",
        context: "internal",
        vartype: "bool",
        unit: None,
    },
    KnownSetting {
        name: "lc_collate",
        category: "Preset Options",
        description: "Shows the collation order locale.",
        context: "internal",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "lc_ctype",
        category: "Preset Options",
        description: "Shows the character classification and case conversion locale.",
        context: "internal",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "max_identifier_length",
        category: "Preset Options",
        description: "Shows the maximum identifier length.",
        context: "internal",
        vartype: "integer",
        unit: None,
    },
    KnownSetting {
        name: "max_index_keys",
        category: "Preset Options",
        description: "Shows the maximum number of index keys.",
        context: "internal",
        vartype: "integer",
        unit: None,
    },
    KnownSetting {
        name: "search_path",
        category: "Client Connection Defaults / Statement Behavior",
        description: "Sets the schema search order for names that are not schema-qualified.",
        context: "user",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "server_encoding",
        category: "Preset Options",
        description: "Shows the server (database) character set encoding.",
        context: "internal",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "server_version",
        category: "Preset Options",
        description: "Shows the server version.",
        context: "internal",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "server_version_num",
        category: "Preset Options",
        description: "Shows the server version as an integer.",
        context: "internal",
        vartype: "integer",
        unit: None,
    },
    KnownSetting {
        name: "standard_conforming_strings",
        category: "Version and Platform Compatibility / Previous PostgreSQL Versions",
        description: "Causes '...' strings to treat backslashes literally.",
        context: "user",
        vartype: "bool",
        unit: None,
    },
    KnownSetting {
        name: "statement_timeout",
        category: "Client Connection Defaults / Statement Behavior",
        description: "Sets the maximum allowed duration of any statement.",
        context: "user",
        vartype: "integer",
        unit: Some("ms"),
    },
    KnownSetting {
        name: "TimeZone",
        category: "Client Connection Defaults / Locale and Formatting",
        description: "Sets the time zone for displaying and interpreting time stamps.",
        context: "user",
        vartype: "string",
        unit: None,
    },
    KnownSetting {
        name: "transaction_isolation",
        category: "Client Connection Defaults / Statement Behavior",
        description: "Sets the current transaction's isolation level.",
        context: "user",
        vartype: "enum",
        unit: None,
    },
];

/// Values of the read-only parameters, which are facts about Sextant rather
/// than session state: what `server_version` `15.0` numbers to, the
/// encoding and locale the database reports, the identifier limit and the
/// page size.
fn fixed_value(name: &str) -> Option<String> {
    Some(match name {
        "block_size" => sextant_storage::types::PAGE_SIZE.to_string(),
        "integer_datetimes" => "on".to_owned(),
        "is_superuser" => "on".to_owned(),
        "lc_collate" | "lc_ctype" => builtin::DATABASE_LOCALE.to_owned(),
        "max_identifier_length" => crate::datum::NAME_MAX_BYTES.to_string(),
        "max_index_keys" => crate::catalog::INDEX_KEYS_MAX.to_string(),
        "server_encoding" => "UTF8".to_owned(),
        "server_version_num" => "150000".to_owned(),
        _ => return None,
    })
}

/// Every parameter: the known ones (the session's value, else the fixed
/// one), then the session's others, by name.
pub(crate) fn settings(view: &CatalogView<'_>) -> Vec<Setting> {
    let mut out = Vec::new();
    for known in KNOWN_SETTINGS {
        let key = known.name.to_ascii_lowercase();
        let (value, from_session) = match view.settings.get(&key) {
            Some(v) => (v.clone(), true),
            None => match fixed_value(&key) {
                Some(v) => (v, false),
                None => continue,
            },
        };
        out.push(Setting {
            name: known.name.to_owned(),
            boot: fixed_value(&key).unwrap_or_else(|| value.clone()),
            value,
            unit: known.unit,
            category: known.category,
            description: known.description,
            context: known.context,
            vartype: known.vartype,
            from_session,
        });
    }
    for (key, value) in view.settings {
        if KNOWN_SETTINGS
            .iter()
            .any(|k| k.name.eq_ignore_ascii_case(key))
        {
            continue;
        }
        out.push(Setting {
            name: key.clone(),
            value: value.clone(),
            unit: None,
            category: "Customized Options",
            description: "",
            context: "user",
            vartype: "string",
            boot: value.clone(),
            from_session: true,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_postgres_15() {
        let cases = [
            (0i128, "0 bytes"),
            (1, "1 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (10241, "10 kB"),
            (20479, "20 kB"),
            (20480, "20 kB"),
            (1048575, "1024 kB"),
            (1048576, "1024 kB"),
            (10485760, "10 MB"),
            (21474836480, "20 GB"),
            (1099511627776, "1024 GB"),
            (1125899906842624, "1024 TB"),
            (9223372036854775807, "8192 PB"),
            (-10240, "-10 kB"),
            (-20480, "-20 kB"),
        ];
        for (size, want) in cases {
            assert_eq!(size_pretty(size), want, "{size}");
        }
        let big: Numeric = "99999999999999999999999".parse().expect("numeric");
        assert_eq!(size_pretty_numeric(&big), "88817842 PB");
        let huge: Numeric = "1e40".parse().expect("numeric");
        assert_eq!(size_pretty_numeric(&huge), "8881784197001252323389053 PB");
        let minus: Numeric = "-1e40".parse().expect("numeric");
        assert_eq!(size_pretty_numeric(&minus), "-8881784197001252323389053 PB");
        assert_eq!(size_pretty_numeric(&Numeric::nan()), "NaN PB");
        let fraction: Numeric = "10240.7".parse().expect("numeric");
        assert_eq!(size_pretty_numeric(&fraction), "10 kB");
        assert_eq!(decimal_div("1000", 7), "142");
        assert_eq!(decimal_add_one("999"), "1000");
    }

    #[test]
    fn resolution_prefers_text_for_literals_and_oid_for_oids() {
        let r = resolve_function("has_table_privilege", &[T::Text, T::Text], &[true, true])
            .expect("resolves");
        assert_eq!(r.arg_types, vec![T::Text, T::Text]);
        let r = resolve_function("has_table_privilege", &[T::Oid, T::Text], &[false, true])
            .expect("resolves");
        assert_eq!(r.arg_types, vec![T::Oid, T::Text]);
        let r = resolve_function("has_table_privilege", &[T::Int4, T::Text], &[false, true])
            .expect("int4 casts to oid");
        assert_eq!(r.arg_types, vec![T::Oid, T::Text]);
        let r =
            resolve_function("pg_table_size", &[T::Oid], &[false]).expect("oid casts to regclass");
        assert_eq!(r.arg_types, vec![T::RegClass]);
        assert_eq!(resolve_function("format_type", &[T::Text], &[false]), None);
        assert_eq!(resolve_function("no_such_function", &[], &[]), None);
        let r = resolve_function("obj_description", &[T::Oid, T::Text], &[false, true])
            .expect("resolves");
        assert_eq!(r.arg_types, vec![T::Oid, T::Name]);
    }

    #[test]
    fn privilege_strings_are_checked() {
        assert!(check_privileges(Table, "select").is_ok());
        assert!(check_privileges(
            Table,
            "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
        )
        .is_ok());
        assert!(check_privileges(Table, "select with grant option").is_ok());
        let e = check_privileges(Table, "usage").expect_err("not a table privilege");
        assert_eq!(e.code, code::INVALID_PARAMETER_VALUE);
        assert_eq!(e.message, "unrecognized privilege type: \"usage\"");
        assert!(check_privileges(Schema, "CREATE, USAGE").is_ok());
    }

    #[test]
    fn encodings_are_named() {
        assert_eq!(encoding_name(6), "UTF8");
        assert_eq!(encoding_name(0), "SQL_ASCII");
        assert_eq!(encoding_name(41), "SHIFT_JIS_2004");
        assert_eq!(encoding_name(42), "");
        assert_eq!(encoding_name(-1), "");
    }
}
