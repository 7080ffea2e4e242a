//! ALTER TABLE: ADD COLUMN, DROP COLUMN, RENAME COLUMN and RENAME TO, with
//! PostgreSQL 15's semantics and error codes.
//!
//! Every action is a catalog change in the statement's transaction, so it
//! is logged like any DDL, rolls back with its transaction and is seen by the
//! transaction's later statements. Several actions in one statement run in
//! order; the first that fails fails the statement, and with it the
//! transaction (outside a block it is the statement's own), so none of them
//! lands.
//!
//! # Defaults of added columns
//!
//! A default that calls no volatile function (PostgreSQL's rule: `now()` is
//! stable, so it qualifies) is evaluated once, when the column is added, and
//! stored in the catalog as the column's missing value; existing rows read
//! it without being rewritten (PostgreSQL's `attmissingval`, see `catalog`).
//! A volatile default (`random()`, `gen_random_uuid()`, `clock_timestamp()`)
//! gives every existing row its own value: the rows are rewritten in the
//! transaction.
//!
//! # Dropped columns
//!
//! DROP COLUMN drops the indexes that use the column, plainly or inside an
//! expression, as PostgreSQL does, then removes the column from the catalog;
//! stored rows keep the value in a slot nobody reads (see `catalog` for why
//! there is no rewrite). A column of the primary key is refused with 0A000:
//! PostgreSQL would drop the primary key with it, which here means re-keying
//! every row.
//!
//! # Renames
//!
//! Expression index keys are stored as SQL text, so renaming a column, or
//! the table that qualifies columns in such a text, rewrites the texts'
//! identifiers with sqlparser's AST visitor; everything else refers to
//! columns by position.

use std::ops::ControlFlow;

use sqlparser::ast::{self, AlterTableOperation};

use crate::btree::Direction;
use crate::catalog::{ColumnDef, IndexKey, StoredValue, TableDef};
use crate::datum::{Datum, MAX_COLUMNS};
use crate::engine::{NewIndex, Transaction};
use crate::sql::error::{code, SqlError};
use crate::sql::expr::{self, bind, eval, BindCtx, Scope};
use crate::sql::session::{
    assign_cast, column_type, ident, no_table, now_micros, object_name, parse_expr, QueryResult,
    Session,
};

/// Functions whose value differs from call to call within a statement
/// (`provolatile = 'v'` in PostgreSQL's catalog, those a DEFAULT may use).
const VOLATILE_FUNCTIONS: &[&str] = &[
    "clock_timestamp",
    "gen_random_uuid",
    "nextval",
    "random",
    "random_normal",
    "setseed",
    "setval",
    "timeofday",
    "uuid_generate_v1",
    "uuid_generate_v4",
];

impl Session {
    /// Runs ALTER TABLE's actions in order.
    pub(super) fn alter_table(
        &mut self,
        tx: &mut Transaction,
        name: &ast::ObjectName,
        if_exists: bool,
        operations: &[AlterTableOperation],
    ) -> Result<QueryResult, SqlError> {
        let done = Ok(QueryResult::Command {
            tag: "ALTER TABLE".into(),
        });
        let tname = object_name(name);
        let Some(id) = tx.catalog().table_by_name(&tname).map(|t| t.id) else {
            if if_exists {
                self.notice(
                    "NOTICE",
                    code::SUCCESS,
                    format!("relation \"{tname}\" does not exist, skipping"),
                );
                return done;
            }
            return Err(no_table(&tname));
        };
        let renames = operations.iter().any(|op| {
            matches!(
                op,
                AlterTableOperation::RenameColumn { .. } | AlterTableOperation::RenameTable { .. }
            )
        });
        if renames && operations.len() > 1 {
            // PostgreSQL's grammar has RENAME as a statement of its own.
            return Err(SqlError::new(
                code::SYNTAX_ERROR,
                "syntax error at or near \",\"",
            ));
        }
        for op in operations {
            match op {
                AlterTableOperation::AddColumn {
                    if_not_exists,
                    column_def,
                    column_position: None,
                    ..
                } => self.add_column(tx, id, *if_not_exists, column_def)?,
                AlterTableOperation::DropColumn {
                    column_names,
                    if_exists,
                    ..
                } => {
                    for c in column_names {
                        self.drop_column(tx, id, &ident(c), *if_exists)?;
                    }
                }
                AlterTableOperation::RenameColumn {
                    old_column_name,
                    new_column_name,
                } => rename_column(tx, id, &ident(old_column_name), &ident(new_column_name))?,
                AlterTableOperation::RenameTable { table_name } => {
                    let (ast::RenameTableNameKind::To(n) | ast::RenameTableNameKind::As(n)) =
                        table_name;
                    rename_table(tx, id, &object_name(n))?
                }
                AlterTableOperation::AlterColumn { column_name, op } => {
                    self.alter_column(tx, id, &ident(column_name), op)?
                }
                AlterTableOperation::DropConstraint {
                    if_exists, name, ..
                } => self.drop_constraint(tx, id, &ident(name), *if_exists)?,
                other => return Err(SqlError::unsupported(format!("ALTER TABLE ... {other}"))),
            }
        }
        done
    }

    /// DROP CONSTRAINT of a UNIQUE constraint: drops the index backing it.
    /// A primary key cannot be dropped (rows are stored by it).
    fn drop_constraint(
        &mut self,
        tx: &mut Transaction,
        table: u64,
        name: &str,
        if_exists: bool,
    ) -> Result<(), SqlError> {
        let def = table_def(tx, table);
        if !def.primary_key.is_empty() && crate::sql::pg_catalog::pkey_name(&def.name) == name {
            return Err(SqlError::unsupported(
                "dropping a primary key (rows are stored by it)",
            ));
        }
        if def.index(name).is_some_and(|ix| ix.constraint) {
            tx.drop_index(name).map_err(SqlError::from_engine)?;
            return Ok(());
        }
        let message = format!(
            "constraint \"{name}\" of relation \"{}\" does not exist",
            def.name
        );
        if if_exists {
            self.notice("NOTICE", code::SUCCESS, format!("{message}, skipping"));
            return Ok(());
        }
        Err(SqlError::new(code::UNDEFINED_OBJECT, message))
    }

    fn add_column(
        &mut self,
        tx: &mut Transaction,
        table: u64,
        if_not_exists: bool,
        c: &ast::ColumnDef,
    ) -> Result<(), SqlError> {
        let def = table_def(tx, table);
        let name = ident(&c.name);
        if def.column(&name).is_some() {
            let e = SqlError::new(
                code::DUPLICATE_COLUMN,
                format!(
                    "column \"{name}\" of relation \"{}\" already exists",
                    def.name
                ),
            );
            if if_not_exists {
                self.notice("NOTICE", e.code, format!("{}, skipping", e.message));
                return Ok(());
            }
            return Err(e);
        }
        if def.stored_width() as usize >= MAX_COLUMNS {
            return Err(SqlError::new(
                code::TOO_MANY_COLUMNS,
                format!("tables can have at most {MAX_COLUMNS} columns"),
            ));
        }
        let ty = super::session::declared_column_type(&name, &c.data_type)?;
        let mut col = ColumnDef {
            name: name.clone(),
            type_oid: ty.oid().0,
            type_mod: super::session::column_typmod(&c.data_type, ty)?,
            not_null: false,
            default: None,
            missing: None,
        };
        let mut unique = false;
        let mut default = None;
        for o in &c.options {
            match &o.option {
                ast::ColumnOption::NotNull => col.not_null = true,
                ast::ColumnOption::Null => {}
                ast::ColumnOption::Default(e) => {
                    reject_default_subqueries(e)?;
                    col.default = Some(e.to_string());
                    default = Some(e);
                }
                ast::ColumnOption::Unique {
                    is_primary: false, ..
                } => unique = true,
                ast::ColumnOption::Unique {
                    is_primary: true, ..
                } => {
                    return Err(SqlError::unsupported(
                        "ALTER TABLE ADD COLUMN with PRIMARY KEY",
                    ))
                }
                other => return Err(SqlError::unsupported(format!("column option {other}"))),
            }
        }
        // The default, bound once: a constant becomes the missing value;
        // a volatile one is evaluated for each existing row below.
        let text = self.text_ctx();
        let now = now_micros();
        let ectx = self.eval_ctx(&[], &text, now);
        let bound = default
            .map(|e| -> Result<expr::Expr, SqlError> {
                let mut params = Vec::new();
                Ok(bind(e, &Scope::default(), &mut BindCtx::new(&mut params))
                    .map_err(|e| match e.code {
                        code::UNDEFINED_COLUMN => SqlError::new(
                            code::FEATURE_NOT_SUPPORTED,
                            "cannot use column reference in DEFAULT expression",
                        ),
                        _ => e,
                    })?
                    .coerce_to(ty))
            })
            .transpose()?;
        let volatile = default.is_some_and(is_volatile);
        let mut missing = Datum::Null;
        if let (Some(b), false) = (&bound, volatile) {
            missing = assign_cast(eval(b, &[], &ectx)?, ty, &col, &ectx)?;
        }
        let not_null_error = || {
            SqlError::new(
                code::NOT_NULL_VIOLATION,
                format!(
                    "column \"{name}\" of relation \"{}\" contains null values",
                    def.name
                ),
            )
        };
        if col.not_null && !volatile && missing.is_null() && tx.has_rows(table)? {
            return Err(not_null_error());
        }
        if !missing.is_null() {
            col.missing = Some(StoredValue::new(&missing).map_err(|e| {
                SqlError::new(code::PROGRAM_LIMIT_EXCEEDED, format!("default value: {e}"))
            })?);
        }
        let pos = tx.add_column(table, col.clone())?;
        if let (Some(b), true) = (&bound, volatile) {
            let rows = tx.scan(
                table,
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                Direction::Forward,
            )?;
            for (i, (key, mut row)) in rows.into_iter().enumerate() {
                if i % 1024 == 0 {
                    self.check_cancel()?;
                }
                row[pos] = assign_cast(eval(b, &[], &ectx)?, ty, &col, &ectx)?;
                if col.not_null && row[pos].is_null() {
                    return Err(not_null_error());
                }
                tx.update(table, &key, row)?;
            }
        }
        if unique {
            let index = unique_index_name(tx, &def.name, &name);
            tx.create_index(
                table,
                NewIndex {
                    name: index,
                    unique: true,
                    keys: vec![IndexKey::Column(pos)],
                    constraint: true,
                },
            )?;
        }
        Ok(())
    }

    /// ALTER COLUMN SET/DROP DEFAULT and SET/DROP NOT NULL, checked as
    /// PostgreSQL checks them: SET NOT NULL scans for NULLs (23502), a
    /// primary-key column keeps its NOT NULL (42P16), a new default must
    /// bind without columns and fit the column's type (42804).
    fn alter_column(
        &mut self,
        tx: &mut Transaction,
        table: u64,
        name: &str,
        op: &ast::AlterColumnOperation,
    ) -> Result<(), SqlError> {
        let def = table_def(tx, table);
        let Some(pos) = def.column(name) else {
            return Err(SqlError::new(
                code::UNDEFINED_COLUMN,
                format!(
                    "column \"{name}\" of relation \"{}\" does not exist",
                    def.name
                ),
            ));
        };
        let col = &def.columns[pos];
        let (mut not_null, mut default) = (col.not_null, col.default.clone());
        match op {
            ast::AlterColumnOperation::SetDefault { value } => {
                reject_default_subqueries(value)?;
                let ty = column_type(col);
                let mut params = Vec::new();
                let b = bind(value, &Scope::default(), &mut BindCtx::new(&mut params)).map_err(
                    |e| match e.code {
                        code::UNDEFINED_COLUMN => SqlError::new(
                            code::FEATURE_NOT_SUPPORTED,
                            "cannot use column reference in DEFAULT expression",
                        ),
                        _ => e,
                    },
                )?;
                let from = b.ty();
                if from != ty
                    && !matches!(b, expr::Expr::Literal(Datum::Null, _))
                    && !crate::cast::can_cast(&from, &ty)
                        .allowed_in(crate::cast::CastKind::Assignment)
                {
                    return Err(SqlError::new(
                        code::DATATYPE_MISMATCH,
                        format!(
                            "column \"{name}\" is of type {} but default expression is of type {}",
                            ty.format_type(),
                            from.format_type()
                        ),
                    )
                    .with_hint("You will need to rewrite or cast the expression."));
                }
                default = Some(value.to_string());
            }
            ast::AlterColumnOperation::DropDefault => default = None,
            ast::AlterColumnOperation::DropNotNull => {
                if def.primary_key.contains(&pos) {
                    return Err(SqlError::new(
                        code::INVALID_TABLE_DEFINITION,
                        format!("column \"{name}\" is in a primary key"),
                    ));
                }
                not_null = false;
            }
            ast::AlterColumnOperation::SetNotNull => {
                if !not_null {
                    let rows = tx.scan(
                        table,
                        std::ops::Bound::Unbounded,
                        std::ops::Bound::Unbounded,
                        Direction::Forward,
                    )?;
                    if rows.iter().any(|(_, row)| row[pos].is_null()) {
                        return Err(SqlError::new(
                            code::NOT_NULL_VIOLATION,
                            format!(
                                "column \"{name}\" of relation \"{}\" contains null values",
                                def.name
                            ),
                        ));
                    }
                }
                not_null = true;
            }
            other => {
                return Err(SqlError::unsupported(format!(
                    "ALTER TABLE ... ALTER COLUMN {name} {other}"
                )))
            }
        }
        tx.set_column_constraints(table, pos, not_null, default)?;
        Ok(())
    }

    fn drop_column(
        &mut self,
        tx: &mut Transaction,
        table: u64,
        name: &str,
        if_exists: bool,
    ) -> Result<(), SqlError> {
        let def = table_def(tx, table);
        let Some(pos) = def.column(name) else {
            let message = format!(
                "column \"{name}\" of relation \"{}\" does not exist",
                def.name
            );
            if if_exists {
                self.notice("NOTICE", code::SUCCESS, format!("{message}, skipping"));
                return Ok(());
            }
            return Err(SqlError::new(code::UNDEFINED_COLUMN, message));
        };
        if def.primary_key.contains(&pos) {
            return Err(
                SqlError::unsupported("dropping a primary key column").with_hint(
                    "PostgreSQL drops the primary key with the column; \
                 create a new table without it and copy the rows instead.",
                ),
            );
        }
        for ix in &def.indexes {
            let mut uses = false;
            for k in &ix.keys {
                uses |= match k {
                    IndexKey::Column(c) => *c == pos,
                    IndexKey::Expr(sql) => mentions_column(sql, &def.name, name)?,
                };
            }
            if uses {
                tx.drop_index(&ix.name)?;
            }
        }
        tx.drop_column(table, pos)?;
        Ok(())
    }
}

fn rename_column(tx: &mut Transaction, table: u64, old: &str, new: &str) -> Result<(), SqlError> {
    let def = table_def(tx, table);
    let pos = def.column(old).ok_or_else(|| {
        SqlError::new(
            code::UNDEFINED_COLUMN,
            format!("column \"{old}\" does not exist"),
        )
    })?;
    if def.column(new).is_some() {
        return Err(SqlError::new(
            code::DUPLICATE_COLUMN,
            format!(
                "column \"{new}\" of relation \"{}\" already exists",
                def.name
            ),
        ));
    }
    let restated = restate_expressions(&def, |parts| match parts {
        [c] if c == old => Some(vec![new.to_owned()]),
        [t, c] if t == &def.name && c == old => Some(vec![t.clone(), new.to_owned()]),
        _ => None,
    })?;
    tx.rename_column(table, pos, new.to_owned(), restated)?;
    Ok(())
}

fn rename_table(tx: &mut Transaction, table: u64, new: &str) -> Result<(), SqlError> {
    let def = table_def(tx, table);
    if tx.catalog().table_by_name(new).is_some() || tx.catalog().index_by_name(new).is_some() {
        return Err(SqlError::new(
            code::DUPLICATE_TABLE,
            format!("relation \"{new}\" already exists"),
        ));
    }
    let restated = restate_expressions(&def, |parts| match parts {
        [t, c] if t == &def.name => Some(vec![new.to_owned(), c.clone()]),
        _ => None,
    })?;
    tx.rename_table(table, new.to_owned(), restated)?;
    Ok(())
}

fn table_def(tx: &Transaction, table: u64) -> TableDef {
    (**tx.catalog().table(table).expect("resolved by name")).clone()
}

/// PostgreSQL's name for a UNIQUE column constraint's index, made unique
/// with a number as PostgreSQL's `ChooseRelationName` does.
fn unique_index_name(tx: &Transaction, table: &str, column: &str) -> String {
    let base = format!("{table}_{column}_key");
    let taken = |n: &str| {
        tx.catalog().table_by_name(n).is_some() || tx.catalog().index_by_name(n).is_some()
    };
    if !taken(&base) {
        return base;
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !taken(n))
        .expect("some suffix is free")
}

/// True when the default calls a volatile function anywhere.
fn is_volatile(e: &ast::Expr) -> bool {
    ast::visit_expressions(e, |x| match x {
        ast::Expr::Function(f)
            if f.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| VOLATILE_FUNCTIONS.contains(&i.value.to_lowercase().as_str())) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// True when expression text `sql` refers to column `column` of `table`.
fn mentions_column(sql: &str, table: &str, column: &str) -> Result<bool, SqlError> {
    let e = parse_expr(sql)?;
    Ok(ast::visit_expressions(&e, |x| {
        let hit = match x {
            ast::Expr::Identifier(i) => ident(i) == column,
            ast::Expr::CompoundIdentifier(p) => match p.as_slice() {
                [c] => ident(c) == column,
                [t, c] => ident(t) == table && ident(c) == column,
                _ => false,
            },
            _ => false,
        };
        if hit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break())
}

/// The expression indexes of `def` whose texts change when identifiers
/// (as name parts, unquoted ones lowercased) are renamed by `rename`, with
/// their new key parts.
fn restate_expressions(
    def: &TableDef,
    rename: impl Fn(&[String]) -> Option<Vec<String>>,
) -> Result<Vec<(u64, Vec<IndexKey>)>, SqlError> {
    let mut out = Vec::new();
    for ix in &def.indexes {
        let mut changed = false;
        let mut keys = Vec::with_capacity(ix.keys.len());
        for k in &ix.keys {
            let IndexKey::Expr(sql) = k else {
                keys.push(k.clone());
                continue;
            };
            let mut e = parse_expr(sql)?;
            let mut hit = false;
            let _ = ast::visit_expressions_mut(&mut e, |x| {
                let parts: Vec<String> = match x {
                    ast::Expr::Identifier(i) => vec![ident(i)],
                    ast::Expr::CompoundIdentifier(p) => p.iter().map(ident).collect(),
                    _ => return ControlFlow::<()>::Continue(()),
                };
                if let Some(new) = rename(&parts) {
                    let mut idents: Vec<ast::Ident> = new.iter().map(|n| sql_ident(n)).collect();
                    *x = match idents.len() {
                        1 => ast::Expr::Identifier(idents.remove(0)),
                        _ => ast::Expr::CompoundIdentifier(idents),
                    };
                    hit = true;
                }
                ControlFlow::Continue(())
            });
            changed |= hit;
            keys.push(IndexKey::Expr(e.to_string()));
        }
        if changed {
            out.push((ix.id, keys));
        }
    }
    Ok(out)
}

/// An identifier that reads back as `name`: bare when it is a lowercase
/// name that is no keyword, quoted otherwise.
fn sql_ident(name: &str) -> ast::Ident {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && sqlparser::keywords::ALL_KEYWORDS
            .binary_search(&name.to_ascii_uppercase().as_str())
            .is_err();
    if plain {
        ast::Ident::new(name)
    } else {
        ast::Ident::with_quote('"', name)
    }
}

/// Refuses a subquery in a column default that ALTER TABLE sets. The error
/// has no position: PostgreSQL cooks these defaults without the
/// statement's text.
fn reject_default_subqueries(e: &ast::Expr) -> Result<(), SqlError> {
    super::session::reject_subqueries(e, "DEFAULT expression").map_err(|e| SqlError {
        location: None,
        anchor: None,
        ..e
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(sql: &str) -> ast::Expr {
        parse_expr(sql).unwrap()
    }

    #[test]
    fn volatility_is_found_anywhere_in_the_default() {
        assert!(is_volatile(&expr("random()")));
        assert!(is_volatile(&expr("(random() * 10)::int")));
        assert!(is_volatile(&expr("gen_random_uuid()")));
        assert!(!is_volatile(&expr("now()")));
        assert!(!is_volatile(&expr("1 + 2")));
        assert!(!is_volatile(&expr("'x'")));
    }

    #[test]
    fn column_mentions_follow_quoting_and_qualification() {
        assert!(mentions_column("lower(b)", "t", "b").unwrap());
        assert!(mentions_column("(payload ->> 'b')", "t", "payload").unwrap());
        assert!(!mentions_column("(payload ->> 'b')", "t", "b").unwrap());
        assert!(mentions_column("t.b + 1", "t", "b").unwrap());
        assert!(!mentions_column("u.b + 1", "t", "b").unwrap());
        assert!(mentions_column("\"B x\" + 1", "t", "B x").unwrap());
        assert!(!mentions_column("\"B\" + 1", "t", "b").unwrap());
    }

    #[test]
    fn identifiers_quote_only_when_needed() {
        assert_eq!(sql_ident("abc_1").to_string(), "abc_1");
        assert_eq!(sql_ident("B x").to_string(), "\"B x\"");
        assert_eq!(sql_ident("Abc").to_string(), "\"Abc\"");
        assert_eq!(sql_ident("select").to_string(), "\"select\"");
        assert_eq!(sql_ident("1a").to_string(), "\"1a\"");
    }
}
