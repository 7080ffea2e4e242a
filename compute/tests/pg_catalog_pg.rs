//! Checks the rows of `sql::pg_catalog`'s relations against what PostgreSQL
//! 15 shows for the same schema.
//!
//! `tests/data/pg_catalog/schema.sql` is the schema; `queries.tsv` names a
//! relation, columns and a filter per check; `regen.sh` ran each against a
//! real PostgreSQL and recorded the rows as text in `expected/`. This test
//! builds the same tables in a catalog held in memory (as the session
//! would store them), computes the same rows from `pg_catalog`, and
//! requires the same text, after replacing user-object OIDs (which differ
//! by construction) with `<oid>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sextant_compute::catalog::{Catalog, ColumnDef, IndexDef, IndexKey, TableDef};
use sextant_compute::datum::{DataType, Datum};
use sextant_compute::pgtext::TextContext;
use sextant_compute::sql::pg_catalog::{self, CatalogView};
use sextant_storage::types::PageId;

/// Columns where we knowingly differ from PostgreSQL: query, column spec,
/// why. Their values are not compared.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pg_catalog")
}

fn column(name: &str, type_name: &str, not_null: bool, default: Option<&str>) -> ColumnDef {
    let (ty, type_mod) =
        DataType::parse_type_name(type_name).unwrap_or_else(|| panic!("type {type_name}"));
    ColumnDef {
        missing: None,
        name: name.to_owned(),
        type_oid: ty.oid().0,
        type_mod,
        not_null,
        default: default.map(str::to_owned),
    }
}

fn index(id: u64, name: &str, unique: bool, keys: Vec<IndexKey>) -> IndexDef {
    IndexDef {
        id,
        name: name.to_owned(),
        root: PageId(100 + id),
        unique,
        keys,
        constraint: false,
    }
}

/// schema.sql as the session stores it: SQL text as sqlparser prints the
/// parsed expressions, primary-key columns NOT NULL.
fn catalog() -> Catalog {
    let events = TableDef {
        stored: None,
        id: 1,
        name: "events".to_owned(),
        columns: vec![
            column("id", "text", true, None),
            column("payload", "jsonb", true, None),
            column("position", "bigint", false, None),
            column("ingested_at", "timestamptz", true, Some("now()")),
        ],
        primary_key: vec![0],
        root: PageId(1),
        indexes: vec![
            index(
                2,
                "events_site",
                false,
                vec![IndexKey::Expr("payload ->> 'site_id'".into())],
            ),
            index(
                3,
                "events_temp",
                false,
                vec![IndexKey::Expr("(payload ->> 'temp')::FLOAT".into())],
            ),
            index(4, "events_position", true, vec![IndexKey::Column(2)]),
        ],
    };
    let readings = TableDef {
        stored: None,
        id: 5,
        name: "readings".to_owned(),
        columns: vec![
            column("site", "text", true, None),
            column("at", "timestamptz", true, None),
            column("v", "numeric(10,2)", false, Some("0")),
            column("label", "varchar(20)", false, Some("'x'")),
            column("flag", "boolean", false, Some("true")),
            column("n", "bigint", false, Some("-1")),
            column("u", "uuid", false, Some("gen_random_uuid()")),
            column("tags", "text[]", false, None),
            column("kind", "\"char\"", false, None),
        ],
        primary_key: vec![0, 1],
        root: PageId(2),
        indexes: vec![index(
            6,
            "readings_label",
            false,
            vec![IndexKey::Expr("lower(label)".into()), IndexKey::Column(5)],
        )],
    };
    let notes = TableDef {
        stored: None,
        id: 7,
        name: "notes".to_owned(),
        columns: vec![column("body", "text", false, Some("NULL"))],
        primary_key: vec![],
        root: PageId(3),
        indexes: vec![],
    };
    Catalog::from_tables([events, readings, notes])
}

/// Splits a column list on commas outside parentheses.
fn split_columns(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current.trim().to_owned());
    out
}

/// Evaluates one column spec on a row: the value and its type.
fn evaluate(
    spec: &str,
    columns: &[(&'static str, DataType)],
    row: &[Datum],
    view: &CatalogView<'_>,
) -> (Datum, DataType) {
    let lookup = |name: &str| -> (Datum, DataType) {
        let i = columns
            .iter()
            .position(|c| c.0 == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        (row[i].clone(), columns[i].1)
    };
    if let Some((name, reg)) = spec.split_once("::") {
        let ty = DataType::from_type_name(reg).unwrap_or_else(|| panic!("type {reg}"));
        return (lookup(name).0, ty);
    }
    let Some((function, args)) = spec.strip_suffix(')').and_then(|s| s.split_once('(')) else {
        return lookup(spec);
    };
    let args: Vec<(DataType, Datum)> = args
        .split(',')
        .map(str::trim)
        .map(|a| match a {
            "true" => (DataType::Bool, Datum::Bool(true)),
            "0" => (DataType::Int4, Datum::Int4(0)),
            name => {
                let (d, ty) = lookup(name);
                (ty, d)
            }
        })
        .collect();
    let types: Vec<DataType> = args.iter().map(|a| a.0).collect();
    let r = pg_catalog::resolve_function(function, &types, &vec![false; types.len()])
        .unwrap_or_else(|| panic!("{function}{types:?} does not resolve"));
    let values: Vec<Datum> = args.into_iter().map(|a| a.1).collect();
    let d =
        pg_catalog::call_function(r.func, &values, view).unwrap_or_else(|e| panic!("{spec}: {e}"));
    (d, r.ret)
}

/// A value as `value::text` prints it, `None` for NULL.
fn as_text(d: Datum, ty: DataType, view: &CatalogView<'_>) -> Option<String> {
    if d.is_null() {
        return None;
    }
    match pg_catalog::cast(
        d,
        &ty,
        &DataType::Text,
        false,
        &TextContext::default(),
        view,
    ) {
        Ok(Datum::Text(s)) => Some(s),
        other => panic!("{ty:?} to text: {other:?}"),
    }
}

/// Replaces numbers that are user-object OIDs with `<oid>`.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        match digits.parse::<u64>() {
            Ok(n) if (16_384..=u64::from(u32::MAX)).contains(&n) => out.push_str("<oid>"),
            _ => out.push_str(digits),
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// Decodes a COPY text field: `\N` is NULL.
fn copy_field(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

/// Whether a row passes the filter (see queries.tsv).
fn passes(
    filter: &str,
    columns: &[(&'static str, DataType)],
    row: &[Datum],
    view: &CatalogView<'_>,
) -> bool {
    if filter == "-" {
        return true;
    }
    filter.split(" and ").all(|cond| {
        if let Some((spec, values)) = cond.split_once(" in ") {
            let (d, ty) = evaluate(spec, columns, row, view);
            let text = as_text(d, ty, view);
            return text.is_some_and(|t| values.split('|').any(|v| v == t));
        }
        let (spec, bound) = cond
            .split_once(" > ")
            .unwrap_or_else(|| panic!("filter {cond}"));
        let (d, ty) = evaluate(spec, columns, row, view);
        let value: i64 = as_text(d, ty, view)
            .and_then(|t| t.parse().ok())
            .unwrap_or(i64::MIN);
        value > bound.parse::<i64>().expect("numeric bound")
    })
}

#[test]
fn catalog_rows_match_postgres() {
    let dir = data_dir();
    let catalog = catalog();
    let settings: BTreeMap<String, String> =
        [("search_path", "\"$user\", public"), ("timezone", "UTC")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let view = CatalogView {
        catalog: &catalog,
        database: "sextant",
        user: "sextant",
        settings: &settings,
        pending_settings: None,
        backend_pid: 4242,
        in_recovery: false,
    };
    let queries = std::fs::read_to_string(dir.join("queries.tsv")).expect("queries.tsv");
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in queries
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let [name, relation, column_list, filter] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("queries.tsv line {line:?}");
        };
        checked += 1;
        let (schema, table) = relation.split_once('.').expect("qualified relation");
        let virtual_table =
            pg_catalog::lookup(Some(schema), table).unwrap_or_else(|| panic!("{relation}"));
        let specs = split_columns(column_list);
        let gaps: Vec<usize> = specs
            .iter()
            .enumerate()
            .filter(|(_, s)| KNOWN_GAPS.iter().any(|(q, c, _)| *q == name && c == s))
            .map(|(i, _)| i)
            .collect();
        let mut ours: Vec<Vec<Option<String>>> = (virtual_table.rows)(&view)
            .unwrap_or_else(|e| panic!("{relation}: {e}"))
            .into_iter()
            .filter(|row| passes(filter, &virtual_table.columns, row, &view))
            .map(|row| {
                specs
                    .iter()
                    .map(|spec| {
                        let (d, ty) = evaluate(spec, &virtual_table.columns, &row, &view);
                        as_text(d, ty, &view).map(|t| normalize(&t))
                    })
                    .collect()
            })
            .collect();
        let expected_text =
            std::fs::read_to_string(dir.join("expected").join(format!("{name}.tsv")))
                .unwrap_or_else(|e| panic!("expected/{name}.tsv: {e}; run regen.sh"));
        let mut theirs: Vec<Vec<Option<String>>> = expected_text
            .lines()
            .map(|l| {
                l.split('\t')
                    .map(|f| copy_field(f).map(|t| normalize(&t)))
                    .collect()
            })
            .collect();
        // Both sides in one order (every column, NULLs last): normalized
        // OIDs no longer sort as the OIDs did.
        let order = |a: &Vec<Option<String>>, b: &Vec<Option<String>>| {
            a.iter()
                .zip(b)
                .map(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some(_), None) => std::cmp::Ordering::Less,
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        ours.sort_by(order);
        theirs.sort_by(order);
        for row in ours.iter_mut().chain(theirs.iter_mut()) {
            for &i in &gaps {
                row[i] = Some("<known gap>".into());
            }
        }
        if ours != theirs {
            let show = |rows: &[Vec<Option<String>>]| {
                rows.iter()
                    .map(|r| {
                        r.iter()
                            .map(|c| c.clone().unwrap_or_else(|| "<null>".into()))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            failures.push(format!(
                "{name} ({column_list}):\n--- PostgreSQL 15\n{}\n--- Sextant\n{}",
                show(&theirs),
                show(&ours)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} queries differ from PostgreSQL:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
