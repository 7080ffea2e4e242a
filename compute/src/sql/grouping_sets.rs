//! GROUPING SETS, ROLLUP and CUBE: expanding GROUP BY into its grouping
//! sets, and aggregating once per set.
//!
//! Report queries want subtotals and a grand total in one statement
//! (`GROUP BY ROLLUP (region, product)`). The planner binds every key once
//! (a flat list), and each GROUP BY item becomes a list of alternative key
//! sets: a plain key is one set of one key, `ROLLUP (a, b)` is `(a, b)`,
//! `(a)`, `()`, `CUBE (a, b)` every subset, `GROUPING SETS (...)` its
//! list. The query's grouping sets are their product, as in PostgreSQL
//! (`GROUP BY a, ROLLUP (b)` is `(a, b)`, `(a)`), duplicates kept.
//!
//! The executor hashes the input once per set. A key a set leaves out is
//! NULL in its rows, and `GROUPING(...)` reports which, as a bit mask
//! (PostgreSQL's: the last argument is bit 0, set when left out). The
//! empty set yields its one row even over no input, like an aggregate
//! without GROUP BY.

use std::collections::HashMap;

use sqlparser::ast;

use crate::datum::Datum;
use crate::sql::error::{code, SqlError};
use crate::sql::exec::{group_key, AggState, Exec, Row};
use crate::sql::expr::{eval, AggCall, AggFunc, EvalCtx, Expr};
use crate::sql::plan::same_expr;

/// At most this many grouping sets, as PostgreSQL's limit (4096).
const GROUPING_SETS_MAX: usize = 4096;

/// The alternative key sets of one GROUP BY item, as positions from
/// `item`; `None` for a plain key.
pub(crate) fn alternatives(
    e: &ast::Expr,
    item: &mut dyn FnMut(&ast::Expr) -> Result<usize, SqlError>,
) -> Result<Option<Vec<Vec<usize>>>, SqlError> {
    let mut lists = |ls: &[Vec<ast::Expr>]| -> Result<Vec<Vec<usize>>, SqlError> {
        ls.iter()
            .map(|l| l.iter().map(&mut *item).collect::<Result<Vec<_>, _>>())
            .collect()
    };
    Ok(Some(match e {
        ast::Expr::Rollup(ls) => {
            let parts = lists(ls)?;
            (0..=parts.len())
                .rev()
                .map(|k| parts[..k].concat())
                .collect()
        }
        ast::Expr::Cube(ls) => {
            let parts = lists(ls)?;
            if parts.len() > 12 {
                return Err(SqlError::new(
                    code::PROGRAM_LIMIT_EXCEEDED,
                    "CUBE is limited to 12 elements",
                ));
            }
            // Every subset, larger ones first, as PostgreSQL lists them.
            let n = parts.len();
            let mut masks: Vec<u32> = (0..1u32 << n).collect();
            masks.sort_by_key(|m| std::cmp::Reverse(m.count_ones()));
            masks
                .into_iter()
                .map(|m| {
                    (0..n)
                        .filter(|i| m & (1 << (n - 1 - i)) != 0)
                        .flat_map(|i| parts[i].clone())
                        .collect()
                })
                .collect()
        }
        ast::Expr::GroupingSets(ls) => {
            let mut out = Vec::new();
            for l in ls {
                // A set may itself be a ROLLUP or CUBE: its sets join the list.
                match l.as_slice() {
                    [one] => match alternatives(one, item)? {
                        Some(alts) => out.extend(alts),
                        None => out.push(vec![item(one)?]),
                    },
                    many => out.push(many.iter().map(&mut *item).collect::<Result<_, _>>()?),
                }
            }
            out
        }
        _ => return Ok(None),
    }))
}

/// The product of the items' alternatives.
pub(crate) fn expand(factors: &[Vec<Vec<usize>>]) -> Result<Vec<Vec<usize>>, SqlError> {
    let mut sets: Vec<Vec<usize>> = vec![Vec::new()];
    for alts in factors {
        if sets.len().saturating_mul(alts.len()) > GROUPING_SETS_MAX {
            return Err(SqlError::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                "too many grouping sets present (maximum 4096)",
            ));
        }
        sets = sets
            .iter()
            .flat_map(|s| {
                alts.iter().map(move |a| {
                    let mut v = s.clone();
                    v.extend(a.iter().copied());
                    v
                })
            })
            .collect();
    }
    Ok(sets)
}

/// Runs a grouping-sets aggregation: for each set, its groups' rows.
pub(crate) fn run(
    exec: &Exec<'_>,
    rows: Vec<Row>,
    group_by: &[Expr],
    sets: &[Vec<usize>],
    aggs: &[AggCall],
    input_width: usize,
    ctx: &EvalCtx<'_>,
) -> Result<Vec<Row>, SqlError> {
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        exec.tick()?;
        keys.push(
            group_by
                .iter()
                .map(|e| eval(e, r, ctx))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    // Each GROUPING() argument's key position.
    let grouping_args: Vec<Vec<usize>> = aggs
        .iter()
        .map(|a| {
            a.args
                .iter()
                .map(|x| {
                    group_by
                        .iter()
                        .position(|g| same_expr(g, x))
                        .unwrap_or(usize::MAX)
                })
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    for set in sets {
        struct Group {
            row: usize,
            states: Vec<AggState>,
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        for (ri, r) in rows.iter().enumerate() {
            exec.tick()?;
            let vals: Vec<Datum> = set.iter().map(|&j| keys[ri][j].clone()).collect();
            let k = group_key(&vals);
            let gi = *index.entry(k).or_insert_with(|| {
                groups.push(Group {
                    row: ri,
                    states: aggs.iter().map(AggState::new).collect(),
                });
                groups.len() - 1
            });
            for (a, st) in aggs.iter().zip(groups[gi].states.iter_mut()) {
                if let Some(f) = &a.filter {
                    if !matches!(eval(f, r, ctx)?, Datum::Bool(true)) {
                        continue;
                    }
                }
                let args = a
                    .args
                    .iter()
                    .map(|e| eval(e, r, ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                let sort = a
                    .order_by
                    .iter()
                    .map(|k| eval(&k.expr, r, ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                st.add(a, args, sort)?;
            }
        }
        let mut finished: Vec<(Option<usize>, Vec<AggState>)> = groups
            .into_iter()
            .map(|g| (Some(g.row), g.states))
            .collect();
        if finished.is_empty() && set.is_empty() {
            finished.push((None, aggs.iter().map(AggState::new).collect()));
        }
        for (sample, states) in finished {
            let mut row: Row = (0..group_by.len())
                .map(|j| match (sample, set.contains(&j)) {
                    (Some(ri), true) => keys[ri][j].clone(),
                    _ => Datum::Null,
                })
                .collect();
            for ((a, st), gargs) in aggs.iter().zip(states).zip(&grouping_args) {
                row.push(if a.func == AggFunc::Grouping {
                    let mut mask = 0i32;
                    for &j in gargs {
                        mask = (mask << 1) | i32::from(!set.contains(&j));
                    }
                    Datum::Int4(mask)
                } else {
                    st.finish(a, ctx)?
                });
            }
            match sample {
                Some(ri) => row.extend(rows[ri].iter().cloned()),
                None => row.extend(std::iter::repeat_n(Datum::Null, input_width)),
            }
            out.push(row);
        }
    }
    Ok(out)
}
