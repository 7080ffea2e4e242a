//! Data-modifying `WITH`: `WITH moved AS (DELETE … RETURNING …) INSERT
//! INTO archive SELECT * FROM moved`.
//!
//! The planner plans queries, not writes, so the session runs each
//! `INSERT`, `UPDATE` or `DELETE` of a `WITH` list first, in order, as the
//! statement it is, and gives the rest of the statement its `RETURNING`
//! rows as a `VALUES` list in its place (each value read back from its text
//! form with a cast to the column's type, which PostgreSQL's output and
//! input functions make exact).
//!
//! In PostgreSQL every part of the statement reads the snapshot from
//! before any of its writes; here the rest would see the writes run
//! before it. So a statement whose other parts read or write a table one
//! of its data-modifying `WITH` queries writes is refused (0A000) before
//! anything runs, rather than answered differently. A data-modifying
//! `WITH` query cannot refer to the `WITH` queries before it yet: it runs
//! as a statement of its own.

use std::ops::ControlFlow;

use sqlparser::ast;

use crate::datum::{DataType, Datum, Oid};
use crate::engine::Transaction;
use crate::sql::error::{code, SqlError};
use crate::sql::pg_catalog::quote_ident;
use crate::sql::session::{object_name, QueryResult, Session};
use ast::Statement;

/// The statement a `WITH` query's body is, when it writes.
fn dml_body(q: &ast::Query) -> Option<&Statement> {
    match q.body.as_ref() {
        ast::SetExpr::Insert(s) | ast::SetExpr::Update(s) | ast::SetExpr::Delete(s) => Some(s),
        _ => None,
    }
}

/// True when `q` has a data-modifying `WITH` query.
pub(super) fn has_dml_cte(q: &ast::Query) -> bool {
    q.with
        .as_ref()
        .is_some_and(|w| w.cte_tables.iter().any(|c| dml_body(&c.query).is_some()))
}

/// The table a data-modifying statement writes.
fn target(s: &Statement) -> Option<String> {
    match s {
        Statement::Insert(i) => match &i.table {
            ast::TableObject::TableName(n) => Some(object_name(n)),
            ast::TableObject::TableFunction(_) => None,
        },
        Statement::Update { table, .. } => match &table.relation {
            ast::TableFactor::Table { name, .. } => Some(object_name(name)),
            _ => None,
        },
        Statement::Delete(d) => {
            let tables = match &d.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
            };
            match tables.first().map(|t| &t.relation) {
                Some(ast::TableFactor::Table { name, .. }) => Some(object_name(name)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Every table name `v` mentions.
fn relations(v: &impl ast::Visit) -> Vec<String> {
    relation_spans(v).into_iter().map(|(n, _)| n).collect()
}

/// Every table name `v` mentions, with where it is written.
fn relation_spans(v: &impl ast::Visit) -> Vec<(String, sqlparser::tokenizer::Span)> {
    use sqlparser::ast::Spanned;
    let mut out = Vec::new();
    let _ = ast::visit_relations(v, |r| {
        out.push((object_name(r), r.span()));
        ControlFlow::<()>::Continue(())
    });
    out
}

/// The query standing for `RETURNING` rows: `VALUES` of the values cast
/// from their text, or an empty `SELECT` of NULLs of the column types.
fn rows_query(
    columns: &[(String, DataType)],
    rows: &[Vec<Option<String>>],
) -> Result<ast::Query, SqlError> {
    let literal = |v: &Option<String>, ty: DataType| match v {
        Some(text) => format!(
            "CAST('{}' AS {})",
            text.replace('\'', "''"),
            ty.format_type()
        ),
        None => format!("CAST(NULL AS {})", ty.format_type()),
    };
    let names: Vec<String> = columns
        .iter()
        .map(|(n, _)| quote_ident(n).into_owned())
        .collect();
    let sql = if rows.is_empty() {
        let items: Vec<String> = columns
            .iter()
            .zip(&names)
            .map(|((_, ty), n)| format!("{} AS {n}", literal(&None, *ty)))
            .collect();
        format!("SELECT {} WHERE false", items.join(", "))
    } else {
        let values: Vec<String> = rows
            .iter()
            .map(|r| {
                let items: Vec<String> = r
                    .iter()
                    .zip(columns)
                    .map(|(v, (_, ty))| literal(v, *ty))
                    .collect();
                format!("({})", items.join(", "))
            })
            .collect();
        format!(
            "SELECT * FROM (VALUES {}) AS returning ({})",
            values.join(", "),
            names.join(", ")
        )
    };
    match crate::sql::copy::parse_statements(&sql)?.pop() {
        Some(Statement::Query(q)) => Ok(*q),
        _ => unreachable!("a SELECT parses as a query"),
    }
}

impl Session {
    /// Runs a statement whose `WITH` list writes (see the module
    /// documentation).
    pub(super) fn run_dml_cte(
        &mut self,
        tx: &mut Transaction,
        q: &ast::Query,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        let with = q.with.as_ref().expect("has_dml_cte");
        let mut rest = q.clone();
        let rest_with = rest.with.as_mut().expect("cloned");
        rest_with
            .cte_tables
            .retain(|c| dml_body(&c.query).is_none());
        let written: Vec<String> = with
            .cte_tables
            .iter()
            .filter_map(|c| dml_body(&c.query))
            .filter_map(target)
            .collect();
        let mut read = relations(&rest);
        for c in &with.cte_tables {
            if let Some(s) = dml_body(&c.query) {
                // Another data-modifying query's target counts too.
                read.extend(
                    relations(s)
                        .into_iter()
                        .filter(|r| Some(r) != target(s).as_ref()),
                );
            }
        }
        let cte_names: Vec<String> = with
            .cte_tables
            .iter()
            .map(|c| crate::sql::expr::ident(&c.alias.name))
            .collect();
        if let Some(t) = written.iter().enumerate().find_map(|(i, t)| {
            let again = written[i + 1..].contains(t);
            (again || (read.contains(t) && !cte_names.contains(t))).then_some(t)
        }) {
            return Err(SqlError::unsupported(format!(
                "a data-modifying WITH on table \"{t}\" that the rest of the statement also reads or writes"
            )));
        }
        // Run the writes in order, and put their RETURNING rows in place.
        let mut replaced: Vec<ast::Cte> = Vec::new();
        for c in &with.cte_tables {
            let Some(s) = dml_body(&c.query) else {
                replaced.push(c.clone());
                continue;
            };
            let name = crate::sql::expr::ident(&c.alias.name);
            let mut cte = c.clone();
            match self.in_tx(tx, s, params, 0)? {
                QueryResult::Rows { columns, rows, .. } => {
                    let columns: Vec<(String, DataType)> = columns
                        .iter()
                        .map(|col| {
                            let ty = DataType::from_oid_typmod(Oid(col.type_oid), col.type_mod)
                                .unwrap_or(DataType::Text);
                            (col.name.clone(), ty)
                        })
                        .collect();
                    cte.query = Box::new(rows_query(&columns, &rows)?);
                }
                _ => {
                    // Without RETURNING there is nothing to read.
                    if let Some((_, at)) =
                        relation_spans(&rest).into_iter().find(|(n, _)| *n == name)
                    {
                        return Err(SqlError::new(
                            code::FEATURE_NOT_SUPPORTED,
                            format!("WITH query \"{name}\" does not have a RETURNING clause"),
                        )
                        .at_span(at));
                    }
                    continue;
                }
            }
            replaced.push(cte);
        }
        let rest_with = rest.with.as_mut().expect("cloned");
        rest_with.cte_tables = replaced;
        if rest_with.cte_tables.is_empty() {
            rest.with = None;
        }
        match rest.body.as_ref() {
            ast::SetExpr::Insert(Statement::Insert(ins)) => {
                let mut ins = ins.clone();
                if let Some(w) = rest.with.take() {
                    let source = ins.source.as_mut().ok_or_else(|| {
                        SqlError::unsupported("WITH before INSERT ... DEFAULT VALUES")
                    })?;
                    match &mut source.with {
                        Some(inner) => {
                            let mut ctes = w.cte_tables;
                            ctes.append(&mut inner.cte_tables);
                            inner.cte_tables = ctes;
                        }
                        None => source.with = Some(w),
                    }
                }
                self.in_tx(tx, &Statement::Insert(ins), params, max_rows)
            }
            ast::SetExpr::Update(_) | ast::SetExpr::Delete(_) => Err(SqlError::unsupported(
                "data-modifying WITH before UPDATE or DELETE",
            )),
            _ => self.in_tx(tx, &Statement::Query(Box::new(rest)), params, max_rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(sql: &str) -> ast::Query {
        match crate::sql::copy::parse_statements(sql).unwrap().pop() {
            Some(Statement::Query(q)) => *q,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn finds_writing_with_queries_and_their_tables() {
        let q =
            query("WITH d AS (DELETE FROM src RETURNING id) SELECT * FROM d JOIN other USING (id)");
        assert!(has_dml_cte(&q));
        assert!(!has_dml_cte(&query("WITH x AS (SELECT 1) SELECT * FROM x")));
        let with = q.with.as_ref().unwrap();
        let body = dml_body(&with.cte_tables[0].query).unwrap();
        assert_eq!(target(body).as_deref(), Some("src"));
        let mut names = relations(&q);
        names.sort();
        assert_eq!(names, ["d", "other", "src"]);
    }

    #[test]
    fn returning_rows_become_typed_values() {
        let columns = [
            ("id".to_owned(), DataType::Int4),
            ("Note".to_owned(), DataType::Text),
        ];
        let rows = [
            vec![Some("1".to_owned()), Some("it's".to_owned())],
            vec![Some("2".to_owned()), None],
        ];
        assert_eq!(
            rows_query(&columns, &rows).unwrap().to_string(),
            "SELECT * FROM (VALUES (CAST('1' AS INTEGER), CAST('it''s' AS TEXT)), \
             (CAST('2' AS INTEGER), CAST(NULL AS TEXT))) AS returning (id, \"Note\")"
        );
        assert_eq!(
            rows_query(&columns, &[]).unwrap().to_string(),
            "SELECT CAST(NULL AS INTEGER) AS id, CAST(NULL AS TEXT) AS \"Note\" WHERE false"
        );
    }
}
