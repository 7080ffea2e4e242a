//! LATERAL: FROM items that read the items before them.
//!
//! `FROM sites s, LATERAL (SELECT ... WHERE site_id = s.id LIMIT 3)` (top-N
//! per group) and `FROM events e, jsonb_array_elements(e.tags)` are how BI
//! queries unnest and drill down. A `LATERAL` subquery, and every function
//! in FROM (implicitly lateral, as in PostgreSQL), is planned with the
//! columns of the items to its left as an enclosing scope, exactly like a
//! correlated subquery: its references to them become `Outer` columns. If
//! it reads none, it is an ordinary item and joins as usual. If it does,
//! the planner joins it with `Plan::LateralJoin`, which runs the item once
//! per left row with that row as its enclosing row (a nested loop; INNER
//! or LEFT only, as PostgreSQL requires).

use sqlparser::ast;
use sqlparser::tokenizer::Span;

use crate::datum::Datum;
use crate::sql::error::{code, SqlError};
use crate::sql::exec::{Exec, Row};
use crate::sql::expr::{eval, BindCtx, EvalCtx, Expr, Scope};
use crate::sql::plan::{JoinKind, Plan};

/// True for FROM items that may read the items before them.
fn may_be_lateral(f: &ast::TableFactor) -> bool {
    match f {
        ast::TableFactor::Derived { lateral, .. } => *lateral,
        ast::TableFactor::Table { args, .. } => args.is_some(),
        ast::TableFactor::Function { .. } | ast::TableFactor::UNNEST { .. } => true,
        _ => false,
    }
}

/// How a FROM item reads the items to its left.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LeftRefs {
    /// Whether it reads them at all.
    pub any: bool,
    /// Where its first column reference to them is, when one is.
    pub first: Option<Span>,
}

/// Plans FROM item `f` with `plan`; a lateral item sees `left`. Returns
/// the planned item and how it reads `left`.
pub(crate) fn plan_item<R>(
    f: &ast::TableFactor,
    left: &Scope,
    ctx: &mut BindCtx<'_>,
    plan: impl FnOnce(&ast::TableFactor, &mut BindCtx<'_>) -> Result<R, SqlError>,
) -> Result<(R, LeftRefs), SqlError> {
    if !may_be_lateral(f) || left.columns.is_empty() {
        return plan(f, ctx)
            .map(|r| (r, LeftRefs::default()))
            .map_err(|e| sibling_reference(e, left));
    }
    let depth = ctx.outer.len();
    ctx.outer.push((left.clone(), 0, None));
    let r = plan(f, ctx);
    let (_, uses, first) = ctx.outer.pop().expect("pushed above");
    assert_eq!(ctx.outer.len(), depth, "planning kept the scope stack");
    r.map(|r| {
        (
            r,
            LeftRefs {
                any: uses > 0,
                first,
            },
        )
    })
}

/// A non-lateral item naming a table to its left gets PostgreSQL's
/// message for that.
fn sibling_reference(e: SqlError, left: &Scope) -> SqlError {
    if e.code != code::UNDEFINED_TABLE {
        return e;
    }
    let Some(name) = e
        .message
        .strip_prefix("missing FROM-clause entry for table \"")
        .and_then(|m| m.strip_suffix('"'))
    else {
        return e;
    };
    if !left.has_table(name) {
        return e;
    }
    SqlError {
        message: format!("invalid reference to FROM-clause entry for table \"{name}\""),
        hint: Some(format!(
            "There is an entry for table \"{name}\", but it cannot be referenced from this part of the query."
        )),
        ..e
    }
}

/// The error for a RIGHT or FULL join with a LATERAL item that reads the
/// left side (named after the nearest table there), at the item's first
/// reference to it.
pub(crate) fn bad_join_kind(left: &Scope, refs: LeftRefs) -> SqlError {
    let name = left
        .columns
        .iter()
        .rev()
        .find_map(|c| c.table.clone())
        .unwrap_or_default();
    SqlError::new(
        code::INVALID_COLUMN_REFERENCE,
        format!("invalid reference to FROM-clause entry for table \"{name}\""),
    )
    .with_detail("The combining JOIN type must be INNER or LEFT for a LATERAL reference.")
    .at_span(refs.first.unwrap_or_else(Span::empty))
}

/// Runs a lateral join: `right` once per row of `left_rows`.
pub(crate) fn run(
    exec: &Exec<'_>,
    left_rows: Vec<Row>,
    kind: JoinKind,
    right: &Plan,
    on: Option<&Expr>,
    right_width: usize,
    ctx: &EvalCtx<'_>,
) -> Result<Vec<Row>, SqlError> {
    assert!(
        matches!(kind, JoinKind::Inner | JoinKind::Left),
        "lateral joins are INNER or LEFT, not {kind:?}"
    );
    let mut out = Vec::new();
    for l in left_rows {
        exec.tick()?;
        let mut outer: Vec<&[Datum]> = ctx.outer.to_vec();
        outer.push(&l);
        let inner = EvalCtx {
            outer: &outer,
            ..*ctx
        };
        let rows = exec.run(right, &inner)?;
        let mut matched = false;
        for r in rows {
            let mut row = l.clone();
            row.extend(r);
            if let Some(c) = on {
                if !matches!(eval(c, &row, ctx)?, Datum::Bool(true)) {
                    continue;
                }
            }
            matched = true;
            out.push(row);
        }
        if !matched && kind == JoinKind::Left {
            let mut row = l.clone();
            row.extend(std::iter::repeat_n(Datum::Null, right_width));
            out.push(row);
        }
    }
    Ok(out)
}
