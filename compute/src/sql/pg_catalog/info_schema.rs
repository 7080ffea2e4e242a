//! The relations of `information_schema`, as PostgreSQL 15's
//! `information_schema.sql` defines them over the catalogs.
//!
//! Column types are the domains' base types: `sql_identifier` is `name`,
//! `character_data` is `character varying`, `cardinal_number` is `integer`,
//! `yes_or_no` is `character varying(3)`, `time_stamp` is
//! `timestamp with time zone`.

use crate::datum::{DataType, Datum};
use crate::sql::error::SqlError;

use super::builtin;
use super::tables::{attrdef_bin, pkey_keys};
use super::{
    deparse, format_type, functions, namespace_name, object_oid, pkey_name, relations, role_name,
    CatalogView, RelKind, Spec,
};

use DataType as T;

const SQLID: T = T::Name;
const CDATA: T = T::Varchar { max_chars: None };
const CARD: T = T::Int4;
const YESNO: T = T::Varchar { max_chars: Some(3) };
const TSTAMP: T = T::TimestampTz;

type Rows = Result<Vec<Vec<Datum>>, SqlError>;

fn text(s: &str) -> Datum {
    Datum::Text(s.to_owned())
}

fn yes_no(v: bool) -> Datum {
    text(if v { "YES" } else { "NO" })
}

fn card(v: Option<i32>) -> Datum {
    v.map_or(Datum::Null, Datum::Int4)
}

const NULL: Datum = Datum::Null;

fn empty(_: &CatalogView<'_>) -> Rows {
    Ok(Vec::new())
}

fn schemata(view: &CatalogView<'_>) -> Rows {
    Ok(builtin::NAMESPACES
        .iter()
        .map(|&(_, name, owner)| {
            vec![
                text(view.database),
                text(name),
                text(role_name(view, owner).expect("schema owners are known roles")),
                NULL,
                NULL,
                NULL,
                NULL,
            ]
        })
        .collect())
}

fn tables(view: &CatalogView<'_>) -> Rows {
    Ok(relations(view.catalog)
        .iter()
        .filter(|rel| matches!(rel.relkind(), 'r' | 'v'))
        .map(|rel| {
            let is_table = rel.relkind() == 'r';
            vec![
                text(view.database),
                text(namespace_name(rel.namespace).expect("relations are in known schemas")),
                text(&rel.name),
                text(if is_table { "BASE TABLE" } else { "VIEW" }),
                NULL,
                NULL,
                NULL,
                NULL,
                NULL,
                yes_no(is_table),
                yes_no(false),
                NULL,
            ]
        })
        .collect())
}

/// `_pg_char_max_length`.
fn char_max_length(type_oid: u32, typmod: i32) -> Option<i32> {
    let is_char = type_oid == T::Varchar { max_chars: None }.oid().0
        || type_oid == T::Bpchar { max_chars: None }.oid().0;
    (is_char && typmod != -1).then(|| typmod - 4)
}

/// `_pg_char_octet_length`, with UTF8's four bytes per character.
fn char_octet_length(type_oid: u32, typmod: i32) -> Option<i32> {
    const UTF8_MAX_BYTES: i32 = 4;
    let is_text = type_oid == T::Text.oid().0;
    let is_varchar = type_oid == T::Varchar { max_chars: None }.oid().0
        || type_oid == T::Bpchar { max_chars: None }.oid().0;
    if !is_text && !is_varchar {
        return None;
    }
    if typmod == -1 {
        return Some(1 << 30);
    }
    char_max_length(type_oid, typmod).map(|n| n * UTF8_MAX_BYTES)
}

/// `_pg_numeric_precision`, `_pg_numeric_precision_radix`,
/// `_pg_numeric_scale`.
fn numeric_facts(type_oid: u32, typmod: i32) -> (Option<i32>, Option<i32>, Option<i32>) {
    match type_oid {
        21 => (Some(16), Some(2), Some(0)),
        23 => (Some(32), Some(2), Some(0)),
        20 => (Some(64), Some(2), Some(0)),
        700 => (Some(24), Some(2), None),
        701 => (Some(53), Some(2), None),
        1700 if typmod == -1 => (None, Some(10), None),
        1700 => (
            Some(((typmod - 4) >> 16) & 0xFFFF),
            Some(10),
            Some((typmod - 4) & 0xFFFF),
        ),
        _ => (None, None, None),
    }
}

/// `_pg_datetime_precision`.
fn datetime_precision(type_oid: u32, typmod: i32) -> Option<i32> {
    match type_oid {
        1082 => Some(0),
        1114 | 1184 => Some(if typmod < 0 { 6 } else { typmod }),
        1186 => Some(if typmod < 0 || typmod & 0xFFFF == 0xFFFF {
            6
        } else {
            typmod & 0xFFFF
        }),
        _ => None,
    }
}

/// `_pg_interval_type`: the fields of an interval typmod, upper case.
fn interval_type(type_oid: u32, typmod: i32) -> Option<String> {
    if type_oid != 1186 {
        return None;
    }
    let printed = format_type(type_oid, Some(typmod))?;
    let rest = printed.strip_prefix("interval")?;
    let fields = rest.trim_start_matches(|c: char| c == '(' || c == ')' || c.is_ascii_digit());
    let fields = fields.strip_prefix(' ')?;
    let fields = fields.split('(').next().unwrap_or(fields);
    Some(fields.to_uppercase())
}

/// One `information_schema.columns` row.
#[allow(clippy::too_many_arguments)]
fn column_row(
    view: &CatalogView<'_>,
    schema: &str,
    table: &str,
    name: &str,
    position: i32,
    type_oid: u32,
    typmod: i32,
    not_null: bool,
    default: Option<String>,
    insertable: bool,
) -> Vec<Datum> {
    let row = builtin::type_row(type_oid);
    let is_array = row.is_some_and(|r| r.typelem != 0 && r.typlen == -1);
    let data_type = if is_array {
        "ARRAY".to_owned()
    } else {
        format_type(type_oid, None).unwrap_or_else(|| "USER-DEFINED".to_owned())
    };
    let (precision, radix, scale) = numeric_facts(type_oid, typmod);
    // `name` columns collate as "C"; the database default is not named.
    let collation = row.and_then(|r| (r.typcollation == builtin::C_COLLATION).then_some("C"));
    vec![
        text(view.database),
        text(schema),
        text(table),
        text(name),
        Datum::Int4(position),
        default.map_or(NULL, |d| text(&d)),
        yes_no(!not_null),
        text(&data_type),
        card(char_max_length(type_oid, typmod)),
        card(char_octet_length(type_oid, typmod)),
        card(precision),
        card(radix),
        card(scale),
        card(datetime_precision(type_oid, typmod)),
        interval_type(type_oid, typmod).map_or(NULL, |t| text(&t)),
        NULL,
        NULL,
        NULL,
        NULL,
        collation.map_or(NULL, |_| text(view.database)),
        collation.map_or(NULL, |_| text("pg_catalog")),
        collation.map_or(NULL, text),
        NULL,
        NULL,
        NULL,
        text(view.database),
        text("pg_catalog"),
        text(row.map_or("", |r| r.typname)),
        NULL,
        NULL,
        NULL,
        NULL,
        text(&position.to_string()),
        yes_no(false),
        yes_no(false),
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        yes_no(false),
        text("NEVER"),
        NULL,
        yes_no(insertable),
    ]
}

fn columns(view: &CatalogView<'_>) -> Rows {
    let mut rows = Vec::new();
    for rel in relations(view.catalog) {
        let schema = namespace_name(rel.namespace).expect("relations are in known schemas");
        match rel.kind {
            RelKind::Table(t) => {
                for (i, c) in t.columns.iter().enumerate() {
                    let num = i16::try_from(i + 1).expect("at most 1600 columns");
                    let default = c
                        .default
                        .as_deref()
                        .filter(|d| !deparse::is_null_default(d))
                        .map(|d| {
                            functions::get_expr(view, &attrdef_bin(num, d), object_oid(t.id), false)
                                .unwrap_or_else(|_| d.to_owned())
                        });
                    rows.push(column_row(
                        view,
                        schema,
                        &t.name,
                        &c.name,
                        i32::from(num),
                        c.type_oid,
                        c.type_mod,
                        c.not_null,
                        default,
                        true,
                    ));
                }
            }
            RelKind::Virtual(spec) if matches!(spec.kind, 'r' | 'v') => {
                for (i, (name, ty)) in spec.columns.iter().enumerate() {
                    rows.push(column_row(
                        view,
                        schema,
                        spec.name,
                        name,
                        i32::try_from(i + 1).expect("few columns"),
                        ty.oid().0,
                        ty.typmod(),
                        false,
                        None,
                        spec.kind == 'r',
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(rows)
}

fn table_constraints(view: &CatalogView<'_>) -> Rows {
    let mut rows = Vec::new();
    let constraint = |name: &str, table: &str, kind: &str| {
        vec![
            text(view.database),
            text("public"),
            text(name),
            text(view.database),
            text("public"),
            text(table),
            text(kind),
            yes_no(false),
            yes_no(false),
            yes_no(true),
            NULL,
        ]
    };
    for t in view.catalog.tables() {
        if !t.primary_key.is_empty() {
            rows.push(constraint(&pkey_name(&t.name), &t.name, "PRIMARY KEY"));
        }
        for ix in t.indexes.iter().filter(|ix| ix.constraint) {
            rows.push(constraint(&ix.name, &t.name, "UNIQUE"));
        }
    }
    // NOT NULL columns, which PostgreSQL 15 reports as CHECK constraints
    // named by OIDs.
    for t in view.catalog.tables() {
        for (i, c) in t.columns.iter().enumerate() {
            if c.not_null {
                let name = format!(
                    "{}_{}_{}_not_null",
                    builtin::PUBLIC,
                    object_oid(t.id),
                    i + 1
                );
                rows.push(constraint(&name, &t.name, "CHECK"));
            }
        }
    }
    Ok(rows)
}

fn key_column_usage(view: &CatalogView<'_>) -> Rows {
    let mut rows = Vec::new();
    for t in view.catalog.tables() {
        let pkey = (pkey_name(&t.name), pkey_keys(t));
        let uniques = t
            .indexes
            .iter()
            .filter(|ix| ix.constraint)
            .map(|ix| (ix.name.clone(), ix.keys.clone()));
        for (name, keys) in std::iter::once(pkey).chain(uniques) {
            for (n, key) in keys.iter().enumerate() {
                let crate::catalog::IndexKey::Column(pos) = key else {
                    unreachable!("primary keys and UNIQUE constraints are on columns");
                };
                rows.push(vec![
                    text(view.database),
                    text("public"),
                    text(&name),
                    text(view.database),
                    text("public"),
                    text(&t.name),
                    text(&t.columns[*pos].name),
                    Datum::Int4(i32::try_from(n + 1).expect("few key columns")),
                    NULL,
                ]);
            }
        }
    }
    Ok(rows)
}

fn check_constraints(view: &CatalogView<'_>) -> Rows {
    // Only NOT NULL columns, reported as PostgreSQL 15 reports them.
    let mut rows = Vec::new();
    for t in view.catalog.tables() {
        for (i, c) in t.columns.iter().enumerate() {
            if c.not_null {
                rows.push(vec![
                    text(view.database),
                    text("public"),
                    text(&format!(
                        "{}_{}_{}_not_null",
                        builtin::PUBLIC,
                        object_oid(t.id),
                        i + 1
                    )),
                    text(&format!("{} IS NOT NULL", c.name)),
                ]);
            }
        }
    }
    Ok(rows)
}

fn views(view: &CatalogView<'_>) -> Rows {
    Ok(relations(view.catalog)
        .iter()
        .filter(|rel| rel.relkind() == 'v')
        .map(|rel| {
            vec![
                text(view.database),
                text(namespace_name(rel.namespace).expect("relations are in known schemas")),
                text(&rel.name),
                NULL,
                text("NONE"),
                yes_no(false),
                yes_no(false),
                yes_no(false),
                yes_no(false),
                yes_no(false),
            ]
        })
        .collect())
}

/// `information_schema`'s relations.
pub(super) const SPECS: &[Spec] = &[
    Spec {
        schema: "information_schema",
        name: "schemata",
        oid: 13382,
        kind: 'v',
        columns: &[
            ("catalog_name", SQLID),
            ("schema_name", SQLID),
            ("schema_owner", SQLID),
            ("default_character_set_catalog", SQLID),
            ("default_character_set_schema", SQLID),
            ("default_character_set_name", SQLID),
            ("sql_path", CDATA),
        ],
        rows: schemata,
    },
    Spec {
        schema: "information_schema",
        name: "tables",
        oid: 13425,
        kind: 'v',
        columns: &[
            ("table_catalog", SQLID),
            ("table_schema", SQLID),
            ("table_name", SQLID),
            ("table_type", CDATA),
            ("self_referencing_column_name", SQLID),
            ("reference_generation", CDATA),
            ("user_defined_type_catalog", SQLID),
            ("user_defined_type_schema", SQLID),
            ("user_defined_type_name", SQLID),
            ("is_insertable_into", YESNO),
            ("is_typed", YESNO),
            ("commit_action", CDATA),
        ],
        rows: tables,
    },
    Spec {
        schema: "information_schema",
        name: "columns",
        oid: 13295,
        kind: 'v',
        columns: &[
            ("table_catalog", SQLID),
            ("table_schema", SQLID),
            ("table_name", SQLID),
            ("column_name", SQLID),
            ("ordinal_position", CARD),
            ("column_default", CDATA),
            ("is_nullable", YESNO),
            ("data_type", CDATA),
            ("character_maximum_length", CARD),
            ("character_octet_length", CARD),
            ("numeric_precision", CARD),
            ("numeric_precision_radix", CARD),
            ("numeric_scale", CARD),
            ("datetime_precision", CARD),
            ("interval_type", CDATA),
            ("interval_precision", CARD),
            ("character_set_catalog", SQLID),
            ("character_set_schema", SQLID),
            ("character_set_name", SQLID),
            ("collation_catalog", SQLID),
            ("collation_schema", SQLID),
            ("collation_name", SQLID),
            ("domain_catalog", SQLID),
            ("domain_schema", SQLID),
            ("domain_name", SQLID),
            ("udt_catalog", SQLID),
            ("udt_schema", SQLID),
            ("udt_name", SQLID),
            ("scope_catalog", SQLID),
            ("scope_schema", SQLID),
            ("scope_name", SQLID),
            ("maximum_cardinality", CARD),
            ("dtd_identifier", SQLID),
            ("is_self_referencing", YESNO),
            ("is_identity", YESNO),
            ("identity_generation", CDATA),
            ("identity_start", CDATA),
            ("identity_increment", CDATA),
            ("identity_maximum", CDATA),
            ("identity_minimum", CDATA),
            ("identity_cycle", YESNO),
            ("is_generated", CDATA),
            ("generation_expression", CDATA),
            ("is_updatable", YESNO),
        ],
        rows: columns,
    },
    Spec {
        schema: "information_schema",
        name: "table_constraints",
        oid: 13411,
        kind: 'v',
        columns: &[
            ("constraint_catalog", SQLID),
            ("constraint_schema", SQLID),
            ("constraint_name", SQLID),
            ("table_catalog", SQLID),
            ("table_schema", SQLID),
            ("table_name", SQLID),
            ("constraint_type", CDATA),
            ("is_deferrable", YESNO),
            ("initially_deferred", YESNO),
            ("enforced", YESNO),
            ("nulls_distinct", YESNO),
        ],
        rows: table_constraints,
    },
    Spec {
        schema: "information_schema",
        name: "key_column_usage",
        oid: 13329,
        kind: 'v',
        columns: &[
            ("constraint_catalog", SQLID),
            ("constraint_schema", SQLID),
            ("constraint_name", SQLID),
            ("table_catalog", SQLID),
            ("table_schema", SQLID),
            ("table_name", SQLID),
            ("column_name", SQLID),
            ("ordinal_position", CARD),
            ("position_in_unique_constraint", CARD),
        ],
        rows: key_column_usage,
    },
    Spec {
        schema: "information_schema",
        name: "views",
        oid: 13483,
        kind: 'v',
        columns: &[
            ("table_catalog", SQLID),
            ("table_schema", SQLID),
            ("table_name", SQLID),
            ("view_definition", CDATA),
            ("check_option", CDATA),
            ("is_updatable", YESNO),
            ("is_insertable_into", YESNO),
            ("is_trigger_updatable", YESNO),
            ("is_trigger_deletable", YESNO),
            ("is_trigger_insertable_into", YESNO),
        ],
        rows: views,
    },
    Spec {
        schema: "information_schema",
        name: "routines",
        oid: 13377,
        kind: 'v',
        columns: &[
            ("specific_catalog", SQLID),
            ("specific_schema", SQLID),
            ("specific_name", SQLID),
            ("routine_catalog", SQLID),
            ("routine_schema", SQLID),
            ("routine_name", SQLID),
            ("routine_type", CDATA),
            ("module_catalog", SQLID),
            ("module_schema", SQLID),
            ("module_name", SQLID),
            ("udt_catalog", SQLID),
            ("udt_schema", SQLID),
            ("udt_name", SQLID),
            ("data_type", CDATA),
            ("character_maximum_length", CARD),
            ("character_octet_length", CARD),
            ("character_set_catalog", SQLID),
            ("character_set_schema", SQLID),
            ("character_set_name", SQLID),
            ("collation_catalog", SQLID),
            ("collation_schema", SQLID),
            ("collation_name", SQLID),
            ("numeric_precision", CARD),
            ("numeric_precision_radix", CARD),
            ("numeric_scale", CARD),
            ("datetime_precision", CARD),
            ("interval_type", CDATA),
            ("interval_precision", CARD),
            ("type_udt_catalog", SQLID),
            ("type_udt_schema", SQLID),
            ("type_udt_name", SQLID),
            ("scope_catalog", SQLID),
            ("scope_schema", SQLID),
            ("scope_name", SQLID),
            ("maximum_cardinality", CARD),
            ("dtd_identifier", SQLID),
            ("routine_body", CDATA),
            ("routine_definition", CDATA),
            ("external_name", CDATA),
            ("external_language", CDATA),
            ("parameter_style", CDATA),
            ("is_deterministic", YESNO),
            ("sql_data_access", CDATA),
            ("is_null_call", YESNO),
            ("sql_path", CDATA),
            ("schema_level_routine", YESNO),
            ("max_dynamic_result_sets", CARD),
            ("is_user_defined_cast", YESNO),
            ("is_implicitly_invocable", YESNO),
            ("security_type", CDATA),
            ("to_sql_specific_catalog", SQLID),
            ("to_sql_specific_schema", SQLID),
            ("to_sql_specific_name", SQLID),
            ("as_locator", YESNO),
            ("created", TSTAMP),
            ("last_altered", TSTAMP),
            ("new_savepoint_level", YESNO),
            ("is_udt_dependent", YESNO),
            ("result_cast_from_data_type", CDATA),
            ("result_cast_as_locator", YESNO),
            ("result_cast_char_max_length", CARD),
            ("result_cast_char_octet_length", CARD),
            ("result_cast_char_set_catalog", SQLID),
            ("result_cast_char_set_schema", SQLID),
            ("result_cast_char_set_name", SQLID),
            ("result_cast_collation_catalog", SQLID),
            ("result_cast_collation_schema", SQLID),
            ("result_cast_collation_name", SQLID),
            ("result_cast_numeric_precision", CARD),
            ("result_cast_numeric_precision_radix", CARD),
            ("result_cast_numeric_scale", CARD),
            ("result_cast_datetime_precision", CARD),
            ("result_cast_interval_type", CDATA),
            ("result_cast_interval_precision", CARD),
            ("result_cast_type_udt_catalog", SQLID),
            ("result_cast_type_udt_schema", SQLID),
            ("result_cast_type_udt_name", SQLID),
            ("result_cast_scope_catalog", SQLID),
            ("result_cast_scope_schema", SQLID),
            ("result_cast_scope_name", SQLID),
            ("result_cast_maximum_cardinality", CARD),
            ("result_cast_dtd_identifier", SQLID),
        ],
        rows: empty,
    },
    Spec {
        schema: "information_schema",
        name: "sequences",
        oid: 13386,
        kind: 'v',
        columns: &[
            ("sequence_catalog", SQLID),
            ("sequence_schema", SQLID),
            ("sequence_name", SQLID),
            ("data_type", CDATA),
            ("numeric_precision", CARD),
            ("numeric_precision_radix", CARD),
            ("numeric_scale", CARD),
            ("start_value", CDATA),
            ("minimum_value", CDATA),
            ("maximum_value", CDATA),
            ("increment", CDATA),
            ("cycle_option", YESNO),
        ],
        rows: empty,
    },
    Spec {
        schema: "information_schema",
        name: "referential_constraints",
        oid: 13339,
        kind: 'v',
        columns: &[
            ("constraint_catalog", SQLID),
            ("constraint_schema", SQLID),
            ("constraint_name", SQLID),
            ("unique_constraint_catalog", SQLID),
            ("unique_constraint_schema", SQLID),
            ("unique_constraint_name", SQLID),
            ("match_option", CDATA),
            ("update_rule", CDATA),
            ("delete_rule", CDATA),
        ],
        rows: empty,
    },
    Spec {
        schema: "information_schema",
        name: "check_constraints",
        oid: 13260,
        kind: 'v',
        columns: &[
            ("constraint_catalog", SQLID),
            ("constraint_schema", SQLID),
            ("constraint_name", SQLID),
            ("check_clause", CDATA),
        ],
        rows: check_constraints,
    },
    Spec {
        schema: "information_schema",
        name: "triggers",
        oid: 13440,
        kind: 'v',
        columns: &[
            ("trigger_catalog", SQLID),
            ("trigger_schema", SQLID),
            ("trigger_name", SQLID),
            ("event_manipulation", CDATA),
            ("event_object_catalog", SQLID),
            ("event_object_schema", SQLID),
            ("event_object_table", SQLID),
            ("action_order", CARD),
            ("action_condition", CDATA),
            ("action_statement", CDATA),
            ("action_orientation", CDATA),
            ("action_timing", CDATA),
            ("action_reference_old_table", SQLID),
            ("action_reference_new_table", SQLID),
            ("action_reference_old_row", SQLID),
            ("action_reference_new_row", SQLID),
            ("created", TSTAMP),
        ],
        rows: empty,
    },
];
