//! Checks that every catalog relation, column, function and type psql's
//! meta-command and tab completion queries name exists in
//! `sql::pg_catalog` (or in the array functions), so that once the SQL
//! layer can run those queries, nothing they touch is missing.
//!
//! The queries are `tests/data/psql/*.sql`, captured from psql 15 by that
//! directory's `regen.sh`. They are tokenized with sqlparser's tokenizer
//! and scanned for `pg_catalog.name` references, `alias.column`
//! references, calls and casts. Functions that are not catalog functions
//! belong to the SQL layer; they are listed in [`SQL_LAYER_FUNCTIONS`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sextant_compute::catalog::Catalog;
use sextant_compute::datum::{DataType, Datum};
use sextant_compute::sql::{array, pg_catalog};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer, Word};

/// Functions psql's queries call that the function library, the planner or
/// the executor provide, not the catalog: set-returning functions and
/// aggregates.
const SQL_LAYER_FUNCTIONS: &[&str] = &["generate_series", "string_agg", "unnest"];

fn words(query: &str) -> Vec<Token> {
    Tokenizer::new(&PostgreSqlDialect {}, query)
        .tokenize()
        .unwrap_or_else(|e| panic!("{e}: {query}"))
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect()
}

fn word(t: &Token) -> Option<&Word> {
    match t {
        Token::Word(w) => Some(w),
        _ => None,
    }
}

/// The collations `pg_collation` lists.
fn collations() -> Vec<String> {
    let catalog = Catalog::default();
    let settings = BTreeMap::new();
    let view = pg_catalog::CatalogView {
        catalog: &catalog,
        database: "sextant",
        user: "sextant",
        settings: &settings,
        pending_settings: None,
        backend_pid: 4242,
        in_recovery: false,
    };
    let table = pg_catalog::lookup(Some("pg_catalog"), "pg_collation").expect("pg_collation");
    let name = table
        .columns
        .iter()
        .position(|c| c.0 == "collname")
        .expect("collname");
    (table.rows)(&view)
        .expect("rows")
        .into_iter()
        .map(|row| match &row[name] {
            Datum::Text(s) => s.clone(),
            other => panic!("collname {other:?}"),
        })
        .collect()
}

/// The problems found in one query.
fn check(query: &str) -> Vec<String> {
    let tokens = words(query);
    let mut problems = Vec::new();
    // Relations with their aliases: `pg_catalog.pg_class c`.
    let mut aliases: BTreeMap<String, String> = BTreeMap::new();
    let mut relations: BTreeSet<String> = BTreeSet::new();
    for i in 0..tokens.len() {
        let (Some(schema), Some(Token::Period), Some(name)) = (
            word(&tokens[i]),
            tokens.get(i + 1),
            tokens.get(i + 2).and_then(word),
        ) else {
            continue;
        };
        if schema.value != "pg_catalog" {
            continue;
        }
        let name = name.value.to_lowercase();
        if i > 0 && word(&tokens[i - 1]).is_some_and(|p| p.keyword == Keyword::COLLATE) {
            if !collations().contains(&name) {
                problems.push(format!("collation pg_catalog.{name} does not exist"));
            }
            continue;
        }
        let called = tokens.get(i + 3) == Some(&Token::LParen);
        let cast = i > 0 && tokens[i - 1] == Token::DoubleColon;
        if called {
            let known = pg_catalog::is_catalog_function(&name)
                || array::is_array_function(&name)
                || SQL_LAYER_FUNCTIONS.contains(&name.as_str());
            if !known {
                problems.push(format!("function pg_catalog.{name} is not provided"));
            }
        } else if cast {
            let array = tokens.get(i + 3) == Some(&Token::LBracket);
            let spelled = if array {
                format!("{name}[]")
            } else {
                name.clone()
            };
            if DataType::from_type_name(&spelled).is_none() {
                problems.push(format!("type pg_catalog.{spelled} does not exist"));
            }
        } else if pg_catalog::lookup(Some("pg_catalog"), &name).is_some() {
            relations.insert(name.clone());
            if let Some(alias) = tokens.get(i + 3).and_then(word) {
                if alias.keyword == Keyword::NoKeyword {
                    aliases.insert(alias.value.clone(), name.clone());
                }
            }
        } else {
            problems.push(format!("relation pg_catalog.{name} does not exist"));
        }
    }
    let columns = |relation: &str| -> Vec<&'static str> {
        pg_catalog::lookup(Some("pg_catalog"), relation)
            .map(|t| t.columns.iter().map(|c| c.0).collect())
            .unwrap_or_default()
    };
    // `alias.column`, and unqualified words that must be some relation's
    // column.
    for i in 0..tokens.len() {
        let Some(w) = word(&tokens[i]) else { continue };
        if w.quote_style.is_some() {
            continue;
        }
        let after_period = i > 0 && tokens[i - 1] == Token::Period;
        let before_period = tokens.get(i + 1) == Some(&Token::Period);
        let called = tokens.get(i + 1) == Some(&Token::LParen);
        if let (Some(relation), true) = (aliases.get(&w.value), before_period) {
            let Some(column) = tokens.get(i + 2).and_then(word) else {
                continue;
            };
            if !columns(relation).contains(&column.value.as_str()) {
                problems.push(format!("column {relation}.{} does not exist", column.value));
            }
            continue;
        }
        if after_period || before_period || called || w.keyword != Keyword::NoKeyword {
            continue;
        }
        if aliases.contains_key(&w.value) || w.value == "pg_catalog" {
            continue;
        }
        // Column and table-function aliases (`AS nsp`, `unnest(…) x`) are
        // not columns, wherever they are used.
        let known_alias = tokens.windows(2).any(|p| {
            let introduces = word(&p[0]).is_some_and(|a| a.keyword == Keyword::AS)
                || matches!(p[0], Token::RParen);
            introduces && word(&p[1]).is_some_and(|b| b.value == w.value)
        });
        if known_alias {
            continue;
        }
        let exists = relations
            .iter()
            .any(|r| columns(r).contains(&w.value.as_str()));
        if !exists {
            problems.push(format!("column {} is in none of {relations:?}", w.value));
        }
    }
    // Unqualified calls.
    for i in 0..tokens.len() {
        let Some(w) = word(&tokens[i]) else { continue };
        let qualified = i > 0 && tokens[i - 1] == Token::Period;
        if qualified || tokens.get(i + 1) != Some(&Token::LParen) {
            continue;
        }
        // Keywords before a parenthesis are syntax (`ON (`, `OPERATOR(`),
        // except for the catalog functions spelled like keywords.
        if w.keyword != Keyword::NoKeyword
            && !pg_catalog::is_catalog_function(&w.value.to_lowercase())
        {
            continue;
        }
        let name = w.value.to_lowercase();
        let known = pg_catalog::is_catalog_function(&name)
            || array::is_array_function(&name)
            || SQL_LAYER_FUNCTIONS.contains(&name.as_str());
        if !known {
            problems.push(format!("function {name} is not provided"));
        }
    }
    problems
}

#[test]
fn psql_queries_touch_only_what_pg_catalog_has() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/psql");
    let mut problems = BTreeSet::new();
    let mut queries = 0;
    for entry in std::fs::read_dir(&dir).expect("data directory") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") || path.ends_with("schema.sql")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("query file");
        for query in text.split("\n\n").filter(|q| !q.trim().is_empty()) {
            queries += 1;
            for p in check(query) {
                problems.insert(format!(
                    "{}: {p}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(queries > 20, "found only {queries} queries");
    assert!(
        problems.is_empty(),
        "{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
}
