//! Ordered-set aggregates (`percentile_cont`, `percentile_disc`, `mode`
//! ... `WITHIN GROUP (ORDER BY x)`) and `GROUPING()`: their binding, and
//! the final step of the ordered-set aggregates.
//!
//! Percentiles of a metric per site are a staple of dashboards. The
//! aggregate executor collects the values of `x` per group (calls over the
//! same `x` share them), sorts them by the WITHIN GROUP key (in its
//! direction), and [`finish`] picks or interpolates as PostgreSQL's
//! `percentile_*_final` functions do.
//! NULL values of `x` are skipped; a NULL fraction gives NULL. The
//! fraction is a *direct argument*: it may read only grouped columns.
//!
//! `GROUPING(a, ...)` is bound as an aggregate call over group keys: 0 in a
//! plain GROUP BY, and the grouping-set executor computes its bit mask.
//!
//! Also here: the errors PostgreSQL gives for window functions called
//! without OVER and for WITHIN GROUP on ordinary aggregates.

use std::cmp::Ordering;

use sqlparser::ast::{self, Spanned};

use crate::datum::{DataType, Datum};
use crate::sql::error::{code, SqlError};
use crate::sql::expr::{
    bind, compare, infer_param, AggCall, AggFunc, BindCtx, EvalCtx, Expr, Scope, SortKey,
};
use crate::sql::plan::{cast_to, name_span, rewrite, same_expr};

/// True for the aggregates that collect a sorted input and finish here.
pub(crate) fn is_ordered_set(f: AggFunc) -> bool {
    matches!(
        f,
        AggFunc::PercentileCont | AggFunc::PercentileDisc | AggFunc::Mode
    )
}

/// Binds the calls this module owns; `None` for any other function.
pub(crate) fn bind_special(
    f: &ast::Function,
    name: &str,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Option<Result<Expr, SqlError>> {
    let at = name_span(&f.name);
    if crate::sql::window::is_window_function(name) {
        return Some(Err(SqlError::new(
            code::WRONG_OBJECT_TYPE,
            format!("window function {name} requires an OVER clause"),
        )
        .at_span(at)));
    }
    match name {
        "percentile_cont" | "percentile_disc" | "mode" => {
            Some(bind_ordered_set(f, name, scope, ctx).map_err(|e| {
                if e.location.is_none() && e.position.is_none() {
                    e.at_span(at)
                } else {
                    e
                }
            }))
        }
        "grouping" => Some(bind_grouping(f, scope, ctx)),
        _ if !f.within_group.is_empty() => Some(within_group_on_plain(f, name, scope, ctx)),
        _ => None,
    }
}

fn args_of(f: &ast::Function) -> Result<Vec<&ast::Expr>, SqlError> {
    match &f.args {
        ast::FunctionArguments::None => Ok(Vec::new()),
        ast::FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|a| match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Ok(e),
                other => Err(SqlError::unsupported(format!("function argument {other}"))),
            })
            .collect(),
        ast::FunctionArguments::Subquery(_) => {
            Err(SqlError::unsupported("subquery as a function argument"))
        }
    }
}

/// Binds with aggregates refused (arguments of an aggregate cannot hold
/// aggregates).
fn bind_no_aggs(e: &ast::Expr, scope: &Scope, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    let saved = std::mem::replace(&mut ctx.aggs, Err("aggregate function calls"));
    let saved_w = std::mem::replace(&mut ctx.windows, Err("aggregate function calls"));
    let r = bind(e, scope, ctx);
    ctx.aggs = saved;
    ctx.windows = saved_w;
    r
}

fn type_name(e: &Expr) -> String {
    if e.is_unknown() {
        "unknown".into()
    } else {
        e.ty().format_type()
    }
}

fn no_function(name: &str, args: &[&Expr]) -> SqlError {
    let types: Vec<String> = args.iter().map(|a| type_name(a)).collect();
    SqlError::new(
        code::UNDEFINED_FUNCTION,
        format!("function {name}({}) does not exist", types.join(", ")),
    )
    .with_hint(
        "No function matches the given name and argument types. You might need to add explicit type casts.",
    )
}

/// `sum(x) WITHIN GROUP (ORDER BY y)`: PostgreSQL looks for an ordered-set
/// `sum(x, y)` and finds none.
fn within_group_on_plain(
    f: &ast::Function,
    name: &str,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let mut bound = Vec::new();
    for e in args_of(f)? {
        bound.push(bind_no_aggs(e, scope, ctx)?);
    }
    for o in &f.within_group {
        bound.push(bind_no_aggs(&o.expr, scope, ctx)?);
    }
    let refs: Vec<&Expr> = bound.iter().collect();
    Err(no_function(name, &refs).at_span(name_span(&f.name)))
}

fn bind_ordered_set(
    f: &ast::Function,
    name: &str,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    if let Err(clause) = &ctx.aggs {
        return Err(SqlError::new(
            code::GROUPING_ERROR,
            format!("aggregate functions are not allowed in {clause}"),
        ));
    }
    let direct_ast = args_of(f)?;
    let mut direct = Vec::new();
    for e in &direct_ast {
        direct.push(bind_no_aggs(e, scope, ctx)?);
    }
    if f.within_group.is_empty() {
        if name == "mode" {
            return Err(SqlError::new(
                code::WRONG_OBJECT_TYPE,
                "WITHIN GROUP is required for ordered-set aggregate mode",
            ));
        }
        let refs: Vec<&Expr> = direct.iter().collect();
        return Err(no_function(name, &refs));
    }
    let mut keys = Vec::new();
    for o in &f.within_group {
        let asc = o.options.asc.unwrap_or(true);
        keys.push(SortKey {
            expr: bind_no_aggs(&o.expr, scope, ctx)?,
            asc,
            nulls_first: o.options.nulls_first.unwrap_or(!asc),
        });
    }
    let wrong_err = {
        let all: Vec<&Expr> = direct.iter().chain(keys.iter().map(|k| &k.expr)).collect();
        no_function(name, &all)
    };
    let wrong = || wrong_err.clone();
    if keys.len() != 1 {
        return Err(wrong());
    }
    let number = |t: DataType| {
        matches!(
            t,
            DataType::Int2
                | DataType::Int4
                | DataType::Int8
                | DataType::Float4
                | DataType::Float8
                | DataType::Numeric
        )
    };
    let float8_array = DataType::Float8.array_of().expect("float8[] exists");
    // The fraction: float8, or float8[] for several percentiles at once.
    let fraction = |e: Expr, ctx: &mut BindCtx<'_>| -> Option<(Expr, bool)> {
        if e.is_unknown() {
            return Some((
                cast_to(infer_param(e, DataType::Float8, ctx), DataType::Float8),
                false,
            ));
        }
        match e.ty() {
            t if number(t) => Some((cast_to(e, DataType::Float8), false)),
            DataType::Array(_) if e.ty().elem().is_some_and(number) => {
                Some((cast_to(e, float8_array), true))
            }
            _ => None,
        }
    };
    let key = keys.pop().expect("one key");
    let (func, args, key, ty) = match name {
        "mode" => {
            if !direct.is_empty() {
                return Err(wrong());
            }
            let ty = key.expr.ty();
            (AggFunc::Mode, Vec::new(), key, ty)
        }
        _ => {
            if direct.len() != 1 {
                return Err(wrong());
            }
            let (frac, many) = fraction(direct[0].clone(), ctx).ok_or_else(wrong)?;
            check_direct_argument(&frac, direct_ast[0], scope, ctx)?;
            let cont = name == "percentile_cont";
            let kty = key.expr.ty();
            let (key_expr, elem) = if cont {
                match kty {
                    t if number(t) => (cast_to(key.expr, DataType::Float8), DataType::Float8),
                    DataType::Interval => (key.expr, DataType::Interval),
                    _ => return Err(wrong()),
                }
            } else {
                (key.expr, kty)
            };
            let ty = if many {
                elem.array_of().ok_or_else(wrong)?
            } else {
                elem
            };
            let func = if cont {
                AggFunc::PercentileCont
            } else {
                AggFunc::PercentileDisc
            };
            (
                func,
                vec![frac],
                SortKey {
                    expr: key_expr,
                    ..key
                },
                ty,
            )
        }
    };
    let filter = f
        .filter
        .as_ref()
        .map(|w| bind_no_aggs(w, scope, ctx).map(|e| e.coerce_to(DataType::Bool)))
        .transpose()?;
    let aggs = ctx.aggs.as_mut().expect("checked above");
    aggs.push(AggCall {
        func,
        args,
        distinct: false,
        filter,
        order_by: vec![key],
        ty,
    });
    Ok(Expr::Aggregate(aggs.len() - 1, ty))
}

/// A direct argument is evaluated once per group, so it may read only
/// grouped columns.
fn check_direct_argument(
    e: &Expr,
    at: &ast::Expr,
    scope: &Scope,
    ctx: &BindCtx<'_>,
) -> Result<(), SqlError> {
    let keys = ctx.grouping_keys.clone().unwrap_or_default();
    let r = rewrite(e.clone(), &mut |x| {
        if keys.iter().any(|k| same_expr(k, x)) {
            return Ok(Some(Expr::Literal(Datum::Null, x.ty())));
        }
        match x {
            Expr::Column(i, _) => Err(*i),
            _ => Ok(None),
        }
    });
    if let Err(c) = r {
        let name = scope
            .columns
            .get(c)
            .map(|col| match &col.table {
                Some(t) => format!("{t}.{}", col.name),
                None => col.name.clone(),
            })
            .unwrap_or_default();
        return Err(SqlError::new(
            code::GROUPING_ERROR,
            format!(
                "column \"{name}\" must appear in the GROUP BY clause or be used in an aggregate function"
            ),
        )
        .with_detail("Direct arguments of an ordered-set aggregate must use only grouped columns.")
        .at_span(at.span()));
    }
    Ok(())
}

fn bind_grouping(
    f: &ast::Function,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let at = name_span(&f.name);
    if let Err(clause) = &ctx.aggs {
        return Err(SqlError::new(
            code::GROUPING_ERROR,
            format!("grouping operations are not allowed in {clause}"),
        )
        .at_span(at));
    }
    let keys = ctx.grouping_keys.clone().unwrap_or_default();
    let mut args = Vec::new();
    for e in args_of(f)? {
        let b = bind_no_aggs(e, scope, ctx)?;
        if !keys.iter().any(|k| same_expr(k, &b)) {
            return Err(SqlError::new(
                code::GROUPING_ERROR,
                "arguments to GROUPING must be grouping expressions of the associated query level",
            )
            .at_span(e.span()));
        }
        args.push(b);
    }
    if args.is_empty() || args.len() > 31 {
        return Err(SqlError::new(
            code::TOO_MANY_ARGUMENTS,
            "GROUPING must have fewer than 32 arguments",
        )
        .at_span(at));
    }
    let aggs = ctx.aggs.as_mut().expect("checked above");
    aggs.push(AggCall {
        func: AggFunc::Grouping,
        args,
        distinct: false,
        filter: None,
        order_by: Vec::new(),
        ty: DataType::Int4,
    });
    Ok(Expr::Aggregate(aggs.len() - 1, DataType::Int4))
}

/// The result of an ordered-set aggregate from its direct arguments and
/// its group's non-NULL values of `x` (at least one), sorted by `x`.
pub(crate) fn finish(
    a: &AggCall,
    direct: &[Datum],
    values: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    match a.func {
        AggFunc::Mode => {
            // The most frequent value; among equally frequent ones the
            // first in sort order.
            let mut best: Option<(usize, usize)> = None;
            let mut run_start = 0;
            for i in 1..=values.len() {
                let ends = i == values.len()
                    || compare(&values[i], &values[run_start])? != Ordering::Equal;
                if ends {
                    let len = i - run_start;
                    if best.is_none_or(|(_, b)| len > b) {
                        best = Some((run_start, len));
                    }
                    run_start = i;
                }
            }
            Ok(best.map_or(Datum::Null, |(i, _)| values[i].clone()))
        }
        AggFunc::PercentileCont | AggFunc::PercentileDisc => {
            let cont = a.func == AggFunc::PercentileCont;
            match &direct[0] {
                Datum::Null => Ok(Datum::Null),
                Datum::Float8(p) => percentile(*p, values, cont, ctx),
                Datum::Array(arr) => {
                    let mut out = Vec::with_capacity(arr.len());
                    for d in arr.items() {
                        out.push(match d {
                            Datum::Float8(p) => percentile(*p, values, cont, ctx)?,
                            _ => Datum::Null,
                        });
                    }
                    Ok(Datum::Array(Box::new(crate::datum::Array::new(a.ty, out))))
                }
                other => Err(SqlError::new(
                    code::INTERNAL_ERROR,
                    format!("percentile fraction {other:?}"),
                )),
            }
        }
        f => Err(SqlError::new(
            code::INTERNAL_ERROR,
            format!("{f:?} is not an ordered-set aggregate"),
        )),
    }
}

/// PostgreSQL's `percentile_disc_final` and `percentile_cont_final` for
/// one fraction over sorted values.
fn percentile(p: f64, values: &[Datum], cont: bool, ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return Err(SqlError::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("percentile value {} is not between 0 and 1", float_text(p)),
        ));
    }
    let n = values.len();
    assert!(n > 0, "percentile over no values");
    if !cont {
        let row = ((p * n as f64).ceil() as usize).max(1);
        return Ok(values[row - 1].clone());
    }
    let pos = p * (n - 1) as f64;
    let first = pos.floor() as usize;
    let second = pos.ceil() as usize;
    let lo = &values[first];
    if first == second {
        return Ok(lo.clone());
    }
    let hi = &values[second];
    let frac = pos - first as f64;
    match (lo, hi) {
        (Datum::Float8(x), Datum::Float8(y)) => Ok(Datum::Float8(x + (y - x) * frac)),
        (Datum::Interval { .. }, Datum::Interval { .. }) => {
            // lo + (hi - lo) * frac, with interval arithmetic.
            let op = |sym: &str, l: Datum, r: Datum| -> Result<Datum, SqlError> {
                let lt = l.data_type().unwrap_or(DataType::Interval);
                let rt = r.data_type().unwrap_or(DataType::Float8);
                let res = crate::sql::func::resolve_operator(sym, lt, rt, false, false)
                    .ok_or_else(|| {
                        SqlError::new(code::INTERNAL_ERROR, format!("no operator interval {sym}"))
                    })?;
                crate::sql::func::call(res.func, &[l, r], ctx)
            };
            let diff = op("-", hi.clone(), lo.clone())?;
            let scaled = op("*", diff, Datum::Float8(frac))?;
            op("+", lo.clone(), scaled)
        }
        _ => Err(SqlError::new(
            code::INTERNAL_ERROR,
            "percentile_cont over values that are not float8 or interval",
        )),
    }
}

/// A float8 as PostgreSQL's `%g` prints it in the percentile message.
fn float_text(p: f64) -> String {
    format!("{p}")
}
