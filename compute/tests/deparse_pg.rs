//! Checks `pg_get_expr` and `pg_get_indexdef` against what PostgreSQL 15
//! printed for the same defaults, index expressions and check expressions.
//!
//! `tests/data/deparse/cases.tsv` lists the SQL; `regen.sh` created each in
//! a real PostgreSQL and recorded how it printed them back in
//! `expected.tsv`. This test builds the same objects in a catalog held in
//! memory, stores their SQL the way the session does (sqlparser's rendering
//! of the parsed expression), and requires the same output from
//! `sql::pg_catalog`.

use std::collections::BTreeMap;
use std::path::Path;

use sextant_compute::catalog::{Catalog, ColumnDef, IndexDef, IndexKey, TableDef};
use sextant_compute::datum::{DataType, Datum, Oid};
use sextant_compute::sql::pg_catalog::{self, CatalogView};
use sextant_storage::types::PageId;
use sqlparser::ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// Cases where we knowingly differ from PostgreSQL, each with why. The test
/// fails if one of them starts to match, so the list stays current.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Decodes a field in COPY text format (`\\`, `\n`, `\t`, `\r`).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
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
            None => out.push('\\'),
        }
    }
    out
}

/// The rows of a tab-separated file, comments and blank lines skipped;
/// `copy_format` fields are unescaped (cases.tsv's are literal).
fn rows(path: &Path, copy_format: bool) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.split('\t')
                .map(|f| {
                    if copy_format {
                        unescape(f)
                    } else {
                        f.to_owned()
                    }
                })
                .collect()
        })
        .collect()
}

fn column(name: &str, type_name: &str, default: Option<String>) -> ColumnDef {
    let (ty, type_mod) =
        DataType::parse_type_name(type_name).unwrap_or_else(|| panic!("type {type_name}"));
    ColumnDef {
        missing: None,
        name: name.to_owned(),
        type_oid: ty.oid().0,
        type_mod,
        not_null: false,
        default,
    }
}

/// The table of regen.sh's index and check cases.
fn base(indexes: Vec<IndexDef>) -> TableDef {
    let columns = [
        ("i", "int"),
        ("b", "bigint"),
        ("s", "smallint"),
        ("n", "numeric"),
        ("f", "float8"),
        ("r", "real"),
        ("t", "text"),
        ("v", "varchar(10)"),
        ("j", "jsonb"),
        ("js", "json"),
        ("ts", "timestamptz"),
        ("tsn", "timestamp"),
        ("d", "date"),
        ("u", "uuid"),
        ("flag", "boolean"),
        ("iv", "interval"),
        ("ba", "bytea"),
        ("arr", "text[]"),
        ("position", "int"),
    ];
    TableDef {
        stored: None,
        id: 1,
        name: "base".to_owned(),
        columns: columns.iter().map(|(n, t)| column(n, t, None)).collect(),
        primary_key: vec![],
        root: PageId(1),
        indexes,
    }
}

fn parse(sql: &str) -> ast::Expr {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// What the session stores for an expression: sqlparser's rendering of it,
/// outer parentheses removed for index keys.
fn stored(sql: &str, strip: bool) -> String {
    let mut e = parse(sql);
    while let (true, ast::Expr::Nested(inner)) = (strip, &e) {
        e = (**inner).clone();
    }
    e.to_string()
}

fn call(view: &CatalogView<'_>, name: &str, args: &[(DataType, Datum)]) -> String {
    let types: Vec<DataType> = args.iter().map(|a| a.0).collect();
    let r = pg_catalog::resolve_function(name, &types, &vec![false; args.len()])
        .unwrap_or_else(|| panic!("{name} resolves"));
    let values: Vec<Datum> = args.iter().map(|a| a.1.clone()).collect();
    match pg_catalog::call_function(r.func, &values, view) {
        Ok(Datum::Text(s)) => s,
        Ok(Datum::Null) => "<null>".to_owned(),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("error {}: {}", e.code, e.message),
    }
}

fn text(s: &str) -> Datum {
    Datum::Text(s.to_owned())
}

/// Our outputs for one case, in expected.tsv's five columns.
fn run_case(kind: &str, ty: &str, expr: &str, index_name: &str) -> Vec<String> {
    let settings = BTreeMap::new();
    let outputs = |catalog: &Catalog, f: &dyn Fn(&CatalogView<'_>) -> Vec<String>| {
        let view = CatalogView {
            catalog,
            database: "postgres",
            user: "postgres",
            settings: &settings,
            pending_settings: None,
            backend_pid: 4242,
            in_recovery: false,
        };
        f(&view)
    };
    match kind {
        "default" => {
            let table = TableDef {
                stored: None,
                id: 1,
                name: "t".to_owned(),
                columns: vec![column("c", ty, Some(stored(expr, false)))],
                primary_key: vec![],
                root: PageId(1),
                indexes: vec![],
            };
            let catalog = Catalog::from_tables([table]);
            outputs(&catalog, &|view| {
                let attrdef =
                    pg_catalog::lookup(Some("pg_catalog"), "pg_attrdef").expect("pg_attrdef");
                let rows = (attrdef.rows)(view).expect("rows");
                let Some(row) = rows.first() else {
                    return vec![
                        "<none>".into(),
                        "<none>".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ];
                };
                let get = |pretty: bool| {
                    call(
                        view,
                        "pg_get_expr",
                        &[
                            (DataType::Text, row[3].clone()),
                            (DataType::Oid, row[1].clone()),
                            (DataType::Bool, Datum::Bool(pretty)),
                        ],
                    )
                };
                vec![
                    get(false),
                    get(true),
                    String::new(),
                    String::new(),
                    String::new(),
                ]
            })
        }
        "index" => {
            let index = IndexDef {
                id: 2,
                name: index_name.to_owned(),
                root: PageId(2),
                unique: false,
                keys: vec![IndexKey::Expr(stored(&format!("({expr})"), true))],
                constraint: false,
            };
            let catalog = Catalog::from_tables([base(vec![index])]);
            outputs(&catalog, &|view| {
                let oid = pg_catalog::object_oid(2);
                let def = |args: &[(DataType, Datum)]| call(view, "pg_get_indexdef", args);
                let oid_arg = (DataType::Oid, Datum::Oid(oid));
                let attributes = pg_catalog::lookup(None, "pg_attribute").expect("pg_attribute");
                let attribute = (attributes.rows)(view)
                    .expect("rows")
                    .into_iter()
                    .find(|r| r[0] == Datum::Oid(oid))
                    .expect("the index has an attribute");
                let (Datum::Text(attname), Datum::Oid(atttypid), Datum::Int4(atttypmod)) =
                    (&attribute[1], &attribute[2], &attribute[8])
                else {
                    panic!("attribute row {attribute:?}");
                };
                let type_name = pg_catalog::format_type(*atttypid, Some(*atttypmod))
                    .unwrap_or_else(|| format!("type {}", Oid(*atttypid)));
                vec![
                    def(std::slice::from_ref(&oid_arg)),
                    def(&[
                        oid_arg.clone(),
                        (DataType::Int4, Datum::Int4(0)),
                        (DataType::Bool, Datum::Bool(true)),
                    ]),
                    def(&[
                        oid_arg,
                        (DataType::Int4, Datum::Int4(1)),
                        (DataType::Bool, Datum::Bool(true)),
                    ]),
                    attname.clone(),
                    type_name,
                ]
            })
        }
        "check" => {
            let catalog = Catalog::from_tables([base(vec![])]);
            outputs(&catalog, &|view| {
                let get = |pretty: bool| {
                    call(
                        view,
                        "pg_get_expr",
                        &[
                            (DataType::Text, text(&stored(expr, false))),
                            (DataType::Oid, Datum::Oid(pg_catalog::object_oid(1))),
                            (DataType::Bool, Datum::Bool(pretty)),
                        ],
                    )
                };
                vec![
                    get(false),
                    get(true),
                    String::new(),
                    String::new(),
                    String::new(),
                ]
            })
        }
        other => panic!("unknown case kind {other:?}"),
    }
}

#[test]
fn deparsing_matches_postgres() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/deparse");
    let cases = rows(&dir.join("cases.tsv"), false);
    let expected = rows(&dir.join("expected.tsv"), true);
    let keys = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter().map(|r| r[..3].to_vec()).collect()
    };
    assert_eq!(
        keys(&cases),
        keys(&expected),
        "cases.tsv and expected.tsv list different cases: run tests/data/deparse/regen.sh"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in &expected {
        let [kind, ty, expr, result, outputs @ ..] = &row[..] else {
            panic!("expected.tsv row {row:?}");
        };
        if result != "ok" {
            // PostgreSQL rejected the SQL; nothing to print back.
            continue;
        }
        checked += 1;
        let index_name = outputs[0]
            .strip_prefix("CREATE INDEX ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("");
        let got = run_case(kind, ty, expr, index_name);
        let gap = KNOWN_GAPS.iter().find(|(k, e)| k == kind && e == expr);
        match gap {
            Some((_, why)) if got == outputs => failures.push(format!(
                "{kind} {expr:?} now matches PostgreSQL; remove it from KNOWN_GAPS ({why})"
            )),
            Some(_) => {}
            None if got != outputs => failures.push(format!(
                "{kind} {ty} {expr:?}\n    want {outputs:?}\n    got  {got:?}"
            )),
            None => {}
        }
    }
    println!("deparse_pg: {checked} cases checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ from PostgreSQL:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
