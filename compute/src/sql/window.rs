//! Window functions: binding `f(...) OVER (...)` and running the window
//! node, as PostgreSQL 15 defines them.
//!
//! Dashboards rank, number, compare with the previous row and keep running
//! totals; all of that is window functions. A select list's window calls
//! are bound into [`WindowCall`]s (the call becomes an `Expr::Window`
//! placeholder), and the planner puts one `Plan::Window` node between the
//! aggregation (and HAVING) and the projection. The node appends one
//! column per call to every input row.
//!
//! # Execution
//!
//! Calls with the same PARTITION BY and ORDER BY share one sort of the row
//! indices (stable, so rows with equal keys keep their input order). Each
//! partition is then walked once per call:
//!
//! * the ranking functions and `lag`/`lead` are positional;
//! * `first_value`, `last_value`, `nth_value` and the aggregates read the
//!   row's frame, found in O(1) for ROWS and GROUPS and by binary search
//!   for RANGE with an offset (the partition is sorted on its one key);
//! * aggregates whose frame starts at UNBOUNDED PRECEDING are running
//!   aggregates: each row adds the rows its frame end passed (frame ends
//!   never move back), so the default frame costs O(n). Other frames are
//!   recomputed per row over the frame, as PostgreSQL does for aggregates
//!   without an inverse transition; peers with the same frame share one
//!   result.
//!
//! Rows leave in the sort order of the last window definition, which is
//! the order PostgreSQL's WindowAgg emits them in when only one definition
//! is used.
//!
//! The frame clause's EXCLUDE options are not parsed by sqlparser and so
//! are not supported.
//!
//! # Error positions
//!
//! sqlparser keeps no positions for a window specification's parentheses
//! or frame keywords, which PostgreSQL's errors point at. [`SpecPlace`]
//! keeps what is known around them (the call or the WINDOW clause's name
//! before the parenthesis, the last expression before the frame) and the
//! error finds the word after it in the query text.

use std::cmp::Ordering;

use sqlparser::ast::{self, Spanned};
use sqlparser::tokenizer::Span;

use crate::datum::{DataType, Datum};
use crate::sql::error::{code, SqlError};
use crate::sql::exec::{cmp_sort, AggState, Exec, Row};
use crate::sql::expr::{
    aggregate_named, bind, bind_agg_call, bind_binary, common_type, compare, eval, ident,
    infer_param, AggCall, BindCtx, EvalCtx, Expr, Scope, SortKey,
};
use crate::sql::plan::{cast_to, name_span};

/// One window function call.
#[derive(Clone, Debug)]
pub struct WindowCall {
    /// The function.
    pub func: WindowFunc,
    /// Arguments of the window functions proper (aggregates keep theirs
    /// in their [`AggCall`]), over the input row.
    pub args: Vec<Expr>,
    /// PARTITION BY, over the input row.
    pub partition_by: Vec<Expr>,
    /// ORDER BY, over the input row.
    pub order_by: Vec<SortKey>,
    /// The frame.
    pub frame: Frame,
    /// Result type.
    pub ty: DataType,
}

/// The window functions, and aggregates used as one.
#[derive(Clone, Debug)]
pub enum WindowFunc {
    /// `row_number()`
    RowNumber,
    /// `rank()`
    Rank,
    /// `dense_rank()`
    DenseRank,
    /// `percent_rank()`
    PercentRank,
    /// `cume_dist()`
    CumeDist,
    /// `ntile(n)`
    Ntile,
    /// `lag(x [, offset [, default]])`
    Lag,
    /// `lead(x [, offset [, default]])`
    Lead,
    /// `first_value(x)`
    FirstValue,
    /// `last_value(x)`
    LastValue,
    /// `nth_value(x, n)`
    NthValue,
    /// An aggregate over the frame.
    Agg(AggCall),
}

/// ROWS, RANGE or GROUPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameUnits {
    /// Physical rows.
    Rows,
    /// Rows whose key lies within an offset of the current row's (peers
    /// for CURRENT ROW).
    Range,
    /// Peer groups.
    Groups,
}

/// One end of a frame.
#[derive(Clone, Debug)]
pub enum FrameBound {
    /// `UNBOUNDED PRECEDING`
    UnboundedPreceding,
    /// `offset PRECEDING` or `offset FOLLOWING`.
    Offset {
        /// PRECEDING (else FOLLOWING).
        preceding: bool,
        /// The offset (bigint for ROWS and GROUPS), over no row.
        offset: Expr,
        /// RANGE only: the bound's key value, over the one-column row
        /// `[current key]` (`key - offset` or `key + offset`, by direction).
        target: Option<Expr>,
    },
    /// `CURRENT ROW`
    CurrentRow,
    /// `UNBOUNDED FOLLOWING`
    UnboundedFollowing,
}

/// A window frame.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Units.
    pub units: FrameUnits,
    /// Start.
    pub start: FrameBound,
    /// End.
    pub end: FrameBound,
}

impl Frame {
    /// PostgreSQL's default: RANGE UNBOUNDED PRECEDING to CURRENT ROW,
    /// which is the whole partition when there is no ORDER BY.
    fn default_frame() -> Frame {
        Frame {
            units: FrameUnits::Range,
            start: FrameBound::UnboundedPreceding,
            end: FrameBound::CurrentRow,
        }
    }
}

fn window_error(msg: impl Into<String>) -> SqlError {
    SqlError::new(code::WINDOWING_ERROR, msg)
}

/// Binds `f(...) OVER ...`: pushes a [`WindowCall`] and returns its
/// placeholder.
pub(crate) fn bind_window_call(
    f: &ast::Function,
    name: &str,
    over: &ast::WindowType,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let at = name_span(&f.name);
    if let Err(clause) = &ctx.windows {
        return Err(match *clause {
            "aggregate function calls" => SqlError::new(
                code::GROUPING_ERROR,
                "aggregate function calls cannot contain window function calls",
            ),
            "window function calls" => window_error("window function calls cannot be nested"),
            c => window_error(format!("window functions are not allowed in {c}")),
        }
        .at_span(at));
    }
    if !f.within_group.is_empty() || matches!(name, "percentile_cont" | "percentile_disc" | "mode")
    {
        return Err(SqlError::new(
            code::FEATURE_NOT_SUPPORTED,
            format!("OVER is not supported for ordered-set aggregate {name}"),
        )
        .at_span(at));
    }
    let (spec, place) = resolve_spec(over, f.span(), &ctx.window_defs)?;
    let (list, distinct, clauses) = match &f.args {
        ast::FunctionArguments::None => (Vec::new(), false, Vec::new()),
        ast::FunctionArguments::List(l) => (
            l.args.clone(),
            matches!(
                l.duplicate_treatment,
                Some(ast::DuplicateTreatment::Distinct)
            ),
            l.clauses.clone(),
        ),
        ast::FunctionArguments::Subquery(_) => {
            return Err(SqlError::unsupported("subquery as a function argument"))
        }
    };
    // The definition: window calls are not allowed inside it.
    let saved = std::mem::replace(&mut ctx.windows, Err("window definitions"));
    let def = bind_definition(&spec, place, scope, ctx);
    ctx.windows = saved;
    let (partition_by, order_by, frame) = def?;

    let (func, args, ty) = if let Some(agg) = aggregate_named(name) {
        if distinct {
            return Err(SqlError::new(
                code::FEATURE_NOT_SUPPORTED,
                "DISTINCT is not implemented for window functions",
            )
            .at_span(at));
        }
        if clauses
            .iter()
            .any(|c| matches!(c, ast::FunctionArgumentClause::OrderBy(_)))
        {
            return Err(SqlError::new(
                code::FEATURE_NOT_SUPPORTED,
                "aggregate ORDER BY is not implemented for window functions",
            )
            .at_span(at));
        }
        let call = bind_agg_call(agg, name, f, &list, false, &clauses, scope, ctx, true)?;
        let ty = call.ty;
        (WindowFunc::Agg(call), Vec::new(), ty)
    } else {
        let saved = std::mem::replace(&mut ctx.windows, Err("window function calls"));
        let r = bind_function_args(&list, scope, ctx);
        ctx.windows = saved;
        let args = r?;
        let (func, args, ty) = window_signature(name, args, ctx).map_err(|e| e.at_span(at))?;
        for (a, l) in args.iter().zip(&list) {
            if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = l {
                crate::sql::expr::check_literal(a, e)?;
            }
        }
        if f.filter.is_some() {
            return Err(SqlError::new(
                code::FEATURE_NOT_SUPPORTED,
                "FILTER is not implemented for non-aggregate window functions",
            )
            .at_span(at));
        }
        (func, args, ty)
    };
    let call = WindowCall {
        func,
        args,
        partition_by,
        order_by,
        frame,
        ty,
    };
    let calls = ctx.windows.as_mut().expect("checked above");
    // The same call written twice (select list and ORDER BY) runs once.
    let text = format!("{call:?}");
    let i = match calls.iter().position(|c| format!("{c:?}") == text) {
        Some(i) => i,
        None => {
            calls.push(call);
            calls.len() - 1
        }
    };
    Ok(Expr::Window(i, ty))
}

fn bind_function_args(
    list: &[ast::FunctionArg],
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Vec<Expr>, SqlError> {
    list.iter()
        .map(|a| match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => bind(e, scope, ctx),
            other => Err(SqlError::unsupported(format!("function argument {other}"))),
        })
        .collect()
}

/// The window functions proper: which one, its converted arguments and
/// its result type.
fn window_signature(
    name: &str,
    args: Vec<Expr>,
    ctx: &mut BindCtx<'_>,
) -> Result<(WindowFunc, Vec<Expr>, DataType), SqlError> {
    let n = args.len();
    let no_such = |args: &[Expr]| {
        let types: Vec<String> = args.iter().map(|a| a.ty().format_type()).collect();
        SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!("function {name}({}) does not exist", types.join(", ")),
        )
        .with_hint("No function matches the given name and argument types. You might need to add explicit type casts.")
    };
    let int4 = |e: Expr, ctx: &mut BindCtx<'_>| -> Option<Expr> {
        let e = infer_param(e, DataType::Int4, ctx);
        match e.ty() {
            DataType::Int4 => Some(e),
            DataType::Int2 => Some(cast_to(e, DataType::Int4)),
            _ => None,
        }
    };
    let known = |f| Some(f);
    let zero = match name {
        "row_number" => known(WindowFunc::RowNumber),
        "rank" => known(WindowFunc::Rank),
        "dense_rank" => known(WindowFunc::DenseRank),
        "percent_rank" => known(WindowFunc::PercentRank),
        "cume_dist" => known(WindowFunc::CumeDist),
        _ => None,
    };
    if let Some(func) = zero {
        if n != 0 {
            return Err(no_such(&args));
        }
        let ty = match func {
            WindowFunc::PercentRank | WindowFunc::CumeDist => DataType::Float8,
            _ => DataType::Int8,
        };
        return Ok((func, args, ty));
    }
    // An untyped value argument is text, as PostgreSQL resolves
    // `anyelement` from an unknown literal.
    let value = |e: Expr| e;
    match (name, n) {
        ("ntile", 1) => {
            let a = int4(args[0].clone(), ctx).ok_or_else(|| no_such(&args))?;
            Ok((WindowFunc::Ntile, vec![a], DataType::Int4))
        }
        ("lag" | "lead", 1..=3) => {
            let func = if name == "lag" {
                WindowFunc::Lag
            } else {
                WindowFunc::Lead
            };
            let mut it = args.clone().into_iter();
            let mut v = it.next().expect("one");
            let mut out = Vec::new();
            let off = match it.next() {
                Some(o) => int4(o, ctx).ok_or_else(|| no_such(&args))?,
                None => Expr::Literal(Datum::Int4(1), DataType::Int4),
            };
            let ty = match it.next() {
                Some(d) => {
                    let ty = common_type(&[v.clone(), d.clone()], name)?;
                    v = cast_to(infer_param(v, ty, ctx), ty);
                    let d = cast_to(infer_param(d, ty, ctx), ty);
                    out.push(v);
                    out.push(off);
                    out.push(d);
                    ty
                }
                None => {
                    v = value(v);
                    let ty = v.ty();
                    out.push(v);
                    out.push(off);
                    ty
                }
            };
            Ok((func, out, ty))
        }
        ("first_value" | "last_value", 1) => {
            let func = if name == "first_value" {
                WindowFunc::FirstValue
            } else {
                WindowFunc::LastValue
            };
            let v = value(args[0].clone());
            let ty = v.ty();
            Ok((func, vec![v], ty))
        }
        ("nth_value", 2) => {
            let v = value(args[0].clone());
            let k = int4(args[1].clone(), ctx).ok_or_else(|| no_such(&args))?;
            let ty = v.ty();
            Ok((WindowFunc::NthValue, vec![v, k], ty))
        }
        ("row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist", _)
        | ("ntile" | "lag" | "lead" | "first_value" | "last_value" | "nth_value", _) => {
            Err(no_such(&args))
        }
        _ => {
            let types: Vec<DataType> = args.iter().map(Expr::ty).collect();
            let unknown: Vec<bool> = args.iter().map(Expr::is_unknown).collect();
            if crate::sql::func::resolve(name, &types, &unknown).is_some()
                || crate::sql::array::resolve(name, &types, &unknown).is_some()
                || matches!(
                    name,
                    "lower" | "upper" | "length" | "coalesce" | "nullif" | "now"
                )
            {
                Err(SqlError::new(
                    code::WRONG_OBJECT_TYPE,
                    format!(
                        "OVER specified, but {name} is not a window function nor an aggregate function"
                    ),
                ))
            } else {
                Err(no_such(&args))
            }
        }
    }
}

/// The names of the window functions proper, which need OVER.
pub(crate) fn is_window_function(name: &str) -> bool {
    matches!(
        name,
        "row_number"
            | "rank"
            | "dense_rank"
            | "percent_rank"
            | "cume_dist"
            | "ntile"
            | "lag"
            | "lead"
            | "first_value"
            | "last_value"
            | "nth_value"
    )
}

/// Where a window specification is written, for error positions:
/// `before` ends before the word (`OVER`, or the `AS` after a WINDOW
/// clause's name) that its opening parenthesis follows, which is where
/// PostgreSQL points errors about the whole specification; `pre_frame` is
/// the last thing written in the parentheses before the frame clause
/// (empty when nothing is).
#[derive(Clone, Copy, Debug)]
pub struct SpecPlace {
    before: Span,
    word: &'static str,
    pre_frame: Span,
}

impl SpecPlace {
    /// The place of `s`, written after `before` and `word`.
    fn of(s: &ast::WindowSpec, before: Span, word: &'static str) -> SpecPlace {
        let pre_frame = s
            .order_by
            .last()
            .map(|o| o.expr.span())
            .or_else(|| s.partition_by.last().map(Spanned::span))
            .or_else(|| s.window_name.as_ref().map(|i| i.span))
            .unwrap_or_else(Span::empty);
        SpecPlace {
            before,
            word,
            pre_frame,
        }
    }

    /// Points `e` at the specification's opening parenthesis.
    fn paren(self, e: SqlError) -> SqlError {
        e.after_word(self.before, self.word)
    }

    /// A span that ends before the frame clause and after everything else
    /// that could spell its words.
    fn frame_from(self) -> Span {
        if self.pre_frame.start.line > 0 {
            self.pre_frame
        } else {
            self.before
        }
    }
}

/// A WINDOW clause's definitions, resolved: name, specification, place.
pub type WindowDefs = Vec<(String, ast::WindowSpec, SpecPlace)>;

/// `OVER w` or `OVER (w ORDER BY ...)` resolved against the WINDOW clause,
/// with where the specification that is used is written (`call` is the
/// function call's span).
fn resolve_spec(
    over: &ast::WindowType,
    call: Span,
    defs: &WindowDefs,
) -> Result<(ast::WindowSpec, SpecPlace), SqlError> {
    match over {
        ast::WindowType::NamedWindow(id) => lookup(id, defs).map(|(_, s, p)| (s.clone(), *p)),
        ast::WindowType::WindowSpec(s) => {
            let place = SpecPlace::of(s, call, "over");
            Ok((copy_window(s, place, defs)?, place))
        }
    }
}

fn lookup<'d>(
    id: &ast::Ident,
    defs: &'d WindowDefs,
) -> Result<&'d (String, ast::WindowSpec, SpecPlace), SqlError> {
    let name = ident(id);
    defs.iter()
        .rev()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| {
            SqlError::new(
                code::UNDEFINED_OBJECT,
                format!("window \"{name}\" does not exist"),
            )
            .at_span(id.span)
        })
}

/// A window definition that may name an earlier one to copy, as SQL
/// allows: the copy keeps the base's PARTITION BY and ORDER BY and may
/// add an ORDER BY and a frame.
fn copy_window(
    s: &ast::WindowSpec,
    place: SpecPlace,
    defs: &WindowDefs,
) -> Result<ast::WindowSpec, SqlError> {
    let Some(base_name) = &s.window_name else {
        return Ok(s.clone());
    };
    let (_, base, _) = lookup(base_name, defs)?;
    let name = ident(base_name);
    if !s.partition_by.is_empty() {
        return Err(place.paren(window_error(format!(
            "cannot override PARTITION BY clause of window \"{name}\""
        ))));
    }
    if !s.order_by.is_empty() && !base.order_by.is_empty() {
        return Err(place.paren(window_error(format!(
            "cannot override ORDER BY clause of window \"{name}\""
        ))));
    }
    if base.window_frame.is_some() {
        return Err(place.paren(
            window_error(format!(
                "cannot copy window \"{name}\" because it has a frame clause"
            ))
            .with_hint("Omit the parentheses in this OVER clause."),
        ));
    }
    Ok(ast::WindowSpec {
        window_name: None,
        partition_by: base.partition_by.clone(),
        order_by: if s.order_by.is_empty() {
            base.order_by.clone()
        } else {
            s.order_by.clone()
        },
        window_frame: s.window_frame.clone(),
    })
}

/// Resolves a query's WINDOW clause, each definition against the ones
/// before it.
pub(crate) fn window_definitions(
    named: &[ast::NamedWindowDefinition],
) -> Result<WindowDefs, SqlError> {
    let mut defs: WindowDefs = Vec::new();
    for ast::NamedWindowDefinition(id, e) in named {
        let name = ident(id);
        let (spec, place) = match e {
            ast::NamedWindowExpr::NamedWindow(base) => {
                let (_, spec, place) = lookup(base, &defs)?;
                (spec.clone(), *place)
            }
            ast::NamedWindowExpr::WindowSpec(s) => {
                let place = SpecPlace::of(s, id.span, "as");
                if defs.iter().any(|(n, _, _)| *n == name) {
                    return Err(place.paren(window_error(format!(
                        "window \"{name}\" is already defined"
                    ))));
                }
                (copy_window(s, place, &defs)?, place)
            }
        };
        if defs.iter().any(|(n, _, _)| *n == name) {
            return Err(window_error(format!(
                "window \"{name}\" is already defined"
            )));
        }
        defs.push((name, spec, place));
    }
    Ok(defs)
}

#[allow(clippy::type_complexity)]
fn bind_definition(
    spec: &ast::WindowSpec,
    place: SpecPlace,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<(Vec<Expr>, Vec<SortKey>, Frame), SqlError> {
    let partition_by = spec
        .partition_by
        .iter()
        .map(|e| bind(e, scope, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    let mut order_by = Vec::new();
    for o in &spec.order_by {
        let asc = o.options.asc.unwrap_or(true);
        order_by.push(SortKey {
            expr: bind(&o.expr, scope, ctx)?,
            asc,
            nulls_first: o.options.nulls_first.unwrap_or(!asc),
        });
    }
    let frame = match &spec.window_frame {
        None => Frame::default_frame(),
        Some(wf) => bind_frame(wf, place, &order_by, ctx)?,
    };
    // `character(n)` sorts, and is a peer, without its trailing blanks.
    for k in &mut order_by {
        k.expr = crate::sql::expr::trimmed_bpchar(std::mem::replace(
            &mut k.expr,
            Expr::Literal(Datum::Null, DataType::Text),
        ));
    }
    Ok((partition_by, order_by, frame))
}

fn bind_frame(
    wf: &ast::WindowFrame,
    place: SpecPlace,
    order_by: &[SortKey],
    ctx: &mut BindCtx<'_>,
) -> Result<Frame, SqlError> {
    use ast::WindowFrameBound as B;
    let units = match wf.units {
        ast::WindowFrameUnits::Rows => FrameUnits::Rows,
        ast::WindowFrameUnits::Range => FrameUnits::Range,
        ast::WindowFrameUnits::Groups => FrameUnits::Groups,
    };
    let offset = |b: &B| match b {
        B::Preceding(Some(e)) | B::Following(Some(e)) => Some(e.span()),
        _ => None,
    };
    // Where the bounds are written: an offset is an expression with a
    // span; `UNBOUNDED …` and `CURRENT ROW` are found after what comes
    // before them.
    let at_start = |e: SqlError| match (&wf.start_bound, offset(&wf.start_bound)) {
        (_, Some(span)) => e.at_span(span),
        (B::CurrentRow, None) => e.at_word_after(place.frame_from(), "current"),
        (_, None) => e.at_word_after(place.frame_from(), "unbounded"),
    };
    let at_end = |e: SqlError| match wf.end_bound.as_ref().and_then(offset) {
        Some(span) => e.at_span(span),
        None => e.after_word(
            offset(&wf.start_bound).unwrap_or_else(|| place.frame_from()),
            "and",
        ),
    };
    // The grammar's checks, in PostgreSQL's order (`frame_extent`).
    let Some(end_ast) = wf.end_bound.clone() else {
        match &wf.start_bound {
            B::Following(None) => {
                return Err(at_start(window_error(
                    "frame start cannot be UNBOUNDED FOLLOWING",
                )))
            }
            B::Following(Some(_)) => {
                return Err(at_start(window_error(
                    "frame starting from following row cannot end with current row",
                )))
            }
            _ => {}
        }
        return bind_bounds(units, &wf.start_bound, &B::CurrentRow, place, order_by, ctx);
    };
    if matches!(wf.start_bound, B::Following(None)) {
        return Err(at_start(window_error(
            "frame start cannot be UNBOUNDED FOLLOWING",
        )));
    }
    if matches!(end_ast, B::Preceding(None)) {
        return Err(at_end(window_error(
            "frame end cannot be UNBOUNDED PRECEDING",
        )));
    }
    if matches!(wf.start_bound, B::CurrentRow) && matches!(end_ast, B::Preceding(Some(_))) {
        return Err(at_end(window_error(
            "frame starting from current row cannot have preceding rows",
        )));
    }
    if matches!(wf.start_bound, B::Following(Some(_)))
        && matches!(end_ast, B::Preceding(Some(_)) | B::CurrentRow)
    {
        return Err(at_end(window_error(
            "frame starting from following row cannot have preceding rows",
        )));
    }
    bind_bounds(units, &wf.start_bound, &end_ast, place, order_by, ctx)
}

/// Checks a frame's units against the window's ORDER BY and binds its
/// bounds.
fn bind_bounds(
    units: FrameUnits,
    start_ast: &ast::WindowFrameBound,
    end_ast: &ast::WindowFrameBound,
    place: SpecPlace,
    order_by: &[SortKey],
    ctx: &mut BindCtx<'_>,
) -> Result<Frame, SqlError> {
    use ast::WindowFrameBound as B;
    let has_offset = |b: &B| matches!(b, B::Preceding(Some(_)) | B::Following(Some(_)));
    if units == FrameUnits::Range
        && (has_offset(start_ast) || has_offset(end_ast))
        && order_by.len() != 1
    {
        return Err(place.paren(window_error(
            "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
        )));
    }
    if units == FrameUnits::Groups && order_by.is_empty() {
        return Err(place.paren(window_error("GROUPS mode requires an ORDER BY clause")));
    }
    let mut bound = |b: &B| -> Result<FrameBound, SqlError> {
        Ok(match b {
            B::Preceding(None) => FrameBound::UnboundedPreceding,
            B::Following(None) => FrameBound::UnboundedFollowing,
            B::CurrentRow => FrameBound::CurrentRow,
            B::Preceding(Some(e)) | B::Following(Some(e)) => {
                let preceding = matches!(b, B::Preceding(_));
                bind_offset(e, preceding, units, order_by, ctx)?
            }
        })
    };
    let start = bound(start_ast)?;
    let end = bound(end_ast)?;
    Ok(Frame { units, start, end })
}

fn bind_offset(
    e: &ast::Expr,
    preceding: bool,
    units: FrameUnits,
    order_by: &[SortKey],
    ctx: &mut BindCtx<'_>,
) -> Result<FrameBound, SqlError> {
    // Offsets read no columns: bound over an empty scope, without
    // aggregates or window calls.
    let saved_aggs = std::mem::replace(&mut ctx.aggs, Err("window definitions"));
    let saved_windows = std::mem::replace(&mut ctx.windows, Err("window definitions"));
    // sqlparser reads a quoted offset (`'1' PRECEDING`) as an interval
    // literal; PostgreSQL reads it as an untyped literal.
    let e = match e {
        ast::Expr::Interval(iv)
            if iv.leading_field.is_none()
                && iv.last_field.is_none()
                && iv.leading_precision.is_none()
                && iv.fractional_seconds_precision.is_none() =>
        {
            iv.value.as_ref()
        }
        other => other,
    };
    let r = bind(e, &Scope::default(), ctx);
    ctx.aggs = saved_aggs;
    ctx.windows = saved_windows;
    let offset = r?;
    if units != FrameUnits::Range {
        let offset = infer_param(offset, DataType::Int8, ctx);
        if !matches!(
            offset.ty(),
            DataType::Int2 | DataType::Int4 | DataType::Int8
        ) {
            return Err(SqlError::new(
                code::DATATYPE_MISMATCH,
                format!(
                    "argument of {} must be type bigint, not type {}",
                    if units == FrameUnits::Rows {
                        "ROWS"
                    } else {
                        "GROUPS"
                    },
                    offset.ty().format_type()
                ),
            )
            .at_span(e.span()));
        }
        return Ok(FrameBound::Offset {
            preceding,
            offset: cast_to(offset, DataType::Int8),
            target: None,
        });
    }
    let key = &order_by[0];
    let kty = key.expr.ty();
    let offset = if offset.is_unknown() {
        // An untyped offset reads as the key's type, as PostgreSQL
        // resolves in_range's offset for numbers.
        let t = match kty {
            DataType::Date | DataType::Timestamp | DataType::TimestampTz => DataType::Interval,
            t => t,
        };
        cast_to(infer_param(offset, t, ctx), t)
    } else {
        offset
    };
    crate::sql::expr::check_literal(&offset, e)?;
    let oty = offset.ty();
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
    let ok = (number(kty) && number(oty))
        || (matches!(
            kty,
            DataType::Date | DataType::Timestamp | DataType::TimestampTz | DataType::Interval
        ) && oty == DataType::Interval);
    if !ok {
        return Err(SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!(
                "RANGE with offset PRECEDING/FOLLOWING is not supported for column type {} and offset type {}",
                kty.format_type(),
                oty.format_type()
            ),
        )
        .at_span(e.span()));
    }
    // Towards the start of the sort order: subtract when ascending.
    let subtract = preceding == key.asc;
    let op = if subtract {
        ast::BinaryOperator::Minus
    } else {
        ast::BinaryOperator::Plus
    };
    let target = bind_binary(&op, Expr::Column(0, kty), offset.clone(), ctx)?;
    Ok(FrameBound::Offset {
        preceding,
        offset,
        target: Some(target),
    })
}

// ---------------------------------------------------------------------------
// Execution
// ---------------------------------------------------------------------------

/// Runs the window node: `rows` with one value per call appended.
pub(crate) fn run(
    exec: &Exec<'_>,
    rows: Vec<Row>,
    calls: &[WindowCall],
    ctx: &EvalCtx<'_>,
) -> Result<Vec<Row>, SqlError> {
    let n = rows.len();
    let mut results: Vec<Vec<Datum>> = vec![vec![Datum::Null; n]; calls.len()];
    // Calls sharing a definition share its sort.
    let mut specs: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let key = format!("{:?}|{:?}", c.partition_by, c.order_by);
        match specs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(i),
            None => specs.push((key, vec![i])),
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    for (_, members) in &specs {
        let def = &calls[members[0]];
        let mut pkeys = Vec::with_capacity(n);
        let mut okeys = Vec::with_capacity(n);
        for r in &rows {
            exec.tick()?;
            pkeys.push(
                def.partition_by
                    .iter()
                    .map(|e| eval(e, r, ctx))
                    .collect::<Result<Vec<_>, _>>()?,
            );
            okeys.push(
                def.order_by
                    .iter()
                    .map(|k| eval(&k.expr, r, ctx))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        exec.check()?;
        let mut idx: Vec<usize> = (0..n).collect();
        let mut err = None;
        idx.sort_by(|&a, &b| {
            let ord = (|| -> Result<Ordering, SqlError> {
                for (x, y) in pkeys[a].iter().zip(&pkeys[b]) {
                    match cmp_sort(x, y, true, false)? {
                        Ordering::Equal => {}
                        o => return Ok(o),
                    }
                }
                for ((x, y), k) in okeys[a].iter().zip(&okeys[b]).zip(&def.order_by) {
                    match cmp_sort(x, y, k.asc, k.nulls_first)? {
                        Ordering::Equal => {}
                        o => return Ok(o),
                    }
                }
                Ok(Ordering::Equal)
            })();
            ord.unwrap_or_else(|e| {
                err.get_or_insert(e);
                Ordering::Equal
            })
        });
        if let Some(e) = err {
            return Err(e);
        }
        exec.check()?;
        let same = |a: &[Datum], b: &[Datum]| -> Result<bool, SqlError> {
            for (x, y) in a.iter().zip(b) {
                if cmp_sort(x, y, true, false)? != Ordering::Equal {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        let mut start = 0;
        while start < n {
            let mut end = start + 1;
            while end < n && same(&pkeys[idx[end]], &pkeys[idx[start]])? {
                end += 1;
            }
            let members_rows = &idx[start..end];
            // Peer groups: rows with equal ORDER BY values.
            let mut group_of = Vec::with_capacity(members_rows.len());
            let mut groups: Vec<(usize, usize)> = Vec::new();
            for (p, &r) in members_rows.iter().enumerate() {
                let new_group = match groups.last() {
                    None => true,
                    Some(&(gs, _)) => !same(&okeys[r], &okeys[members_rows[gs]])?,
                };
                if new_group {
                    if let Some(last) = groups.last_mut() {
                        last.1 = p;
                    }
                    groups.push((p, members_rows.len()));
                }
                group_of.push(groups.len() - 1);
            }
            let part = Partition {
                rows: members_rows,
                group_of: &group_of,
                groups: &groups,
                okeys: &okeys,
            };
            for &ci in members {
                compute(exec, &calls[ci], &part, &rows, &mut results[ci], ctx)?;
            }
            start = end;
        }
        order = idx;
    }
    let mut slots: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(n);
    for i in order {
        let mut r = slots[i].take().expect("each row leaves once");
        for res in results.iter_mut() {
            r.push(std::mem::replace(&mut res[i], Datum::Null));
        }
        out.push(r);
    }
    Ok(out)
}

/// One partition, in window order.
struct Partition<'p> {
    /// Input row indices, sorted.
    rows: &'p [usize],
    /// The peer group of each position.
    group_of: &'p [usize],
    /// Peer groups as position ranges `[start, end)`.
    groups: &'p [(usize, usize)],
    /// ORDER BY values by input row.
    okeys: &'p [Vec<Datum>],
}

/// A frame offset, evaluated once per call.
enum Offset {
    Rows(u64),
    Range,
}

fn eval_offset(
    b: &FrameBound,
    units: FrameUnits,
    start: bool,
    ctx: &EvalCtx<'_>,
) -> Result<Option<Offset>, SqlError> {
    let FrameBound::Offset { offset, .. } = b else {
        return Ok(None);
    };
    let which = if start { "starting" } else { "ending" };
    let v = eval(offset, &[], ctx)?;
    if v.is_null() {
        return Err(SqlError::new(
            code::NULL_VALUE_NOT_ALLOWED,
            format!("frame {which} offset must not be null"),
        ));
    }
    if units != FrameUnits::Range {
        let Datum::Int8(k) = v else {
            return Err(SqlError::new(
                code::INTERNAL_ERROR,
                format!("frame offset is {v:?}, not bigint"),
            ));
        };
        if k < 0 {
            return Err(SqlError::new(
                code::INVALID_PRECEDING_OR_FOLLOWING_SIZE,
                format!("frame {which} offset must not be negative"),
            ));
        }
        return Ok(Some(Offset::Rows(k as u64)));
    }
    let negative = match &v {
        Datum::Interval {
            months,
            days,
            micros,
        } => {
            // PostgreSQL compares intervals as 30-day months and 24-hour days.
            let total = i128::from(*months) * 30 * 86_400_000_000
                + i128::from(*days) * 86_400_000_000
                + i128::from(*micros);
            total < 0
        }
        Datum::Float4(f) => *f < 0.0,
        Datum::Float8(f) => *f < 0.0,
        other => compare(other, &zero_like(other))? == Ordering::Less,
    };
    let nan = matches!(v, Datum::Float8(f) if f.is_nan())
        || matches!(v, Datum::Float4(f) if f.is_nan())
        || matches!(&v, Datum::Numeric(n) if n.is_nan());
    if negative || nan {
        return Err(SqlError::new(
            code::INVALID_PRECEDING_OR_FOLLOWING_SIZE,
            "invalid preceding or following size in window function",
        ));
    }
    Ok(Some(Offset::Range))
}

fn zero_like(d: &Datum) -> Datum {
    match d {
        Datum::Int2(_) => Datum::Int2(0),
        Datum::Int4(_) => Datum::Int4(0),
        Datum::Int8(_) => Datum::Int8(0),
        Datum::Numeric(_) => Datum::Numeric(crate::datum::Numeric::zero()),
        _ => Datum::Int8(0),
    }
}

/// Compares a key with a RANGE bound value; a date key against a
/// timestamp bound (`date + interval`) compares as a timestamp.
fn cmp_key(key: &Datum, target: &Datum) -> Result<Ordering, SqlError> {
    const DAY_US: i64 = 86_400_000_000;
    match (key, target) {
        (Datum::Date(d), Datum::Timestamp(_) | Datum::TimestampTz(_)) => {
            let k = i64::from(*d) * DAY_US;
            let t = match target {
                Datum::Timestamp(t) | Datum::TimestampTz(t) => *t,
                _ => unreachable!("matched above"),
            };
            Ok(k.cmp(&t))
        }
        _ => compare(key, target),
    }
}

impl Partition<'_> {
    fn len(&self) -> usize {
        self.rows.len()
    }

    /// The frame of position `pos`, as positions `[start, end)`.
    fn frame(
        &self,
        frame: &Frame,
        key: Option<&SortKey>,
        pos: usize,
        offs: &(Option<Offset>, Option<Offset>),
        ctx: &EvalCtx<'_>,
    ) -> Result<(usize, usize), SqlError> {
        let m = self.len();
        let g = self.group_of[pos];
        let (gs, ge) = self.groups[g];
        let ng = self.groups.len();
        let start = match (&frame.start, &offs.0) {
            (FrameBound::UnboundedPreceding, _) => 0,
            (FrameBound::CurrentRow, _) => match frame.units {
                FrameUnits::Rows => pos,
                _ => gs,
            },
            (FrameBound::UnboundedFollowing, _) => m,
            (FrameBound::Offset { preceding, .. }, Some(Offset::Rows(k))) => {
                let k = usize::try_from(*k).unwrap_or(usize::MAX);
                match (frame.units, preceding) {
                    (FrameUnits::Rows, true) => pos.saturating_sub(k),
                    (FrameUnits::Rows, false) => pos.saturating_add(k).min(m),
                    (_, true) => self.groups[g.saturating_sub(k)].0,
                    (_, false) => match g.checked_add(k) {
                        Some(t) if t < ng => self.groups[t].0,
                        _ => m,
                    },
                }
            }
            (FrameBound::Offset { target, .. }, _) => {
                self.range_bound(target.as_ref(), key, pos, true, ctx)?
            }
        };
        let end = match (&frame.end, &offs.1) {
            (FrameBound::UnboundedFollowing, _) => m,
            (FrameBound::CurrentRow, _) => match frame.units {
                FrameUnits::Rows => pos + 1,
                _ => ge,
            },
            (FrameBound::UnboundedPreceding, _) => 0,
            (FrameBound::Offset { preceding, .. }, Some(Offset::Rows(k))) => {
                let k = usize::try_from(*k).unwrap_or(usize::MAX);
                match (frame.units, preceding) {
                    (FrameUnits::Rows, true) => (pos + 1).saturating_sub(k),
                    (FrameUnits::Rows, false) => pos.saturating_add(k).saturating_add(1).min(m),
                    (_, true) => match g.checked_sub(k) {
                        Some(t) => self.groups[t].1,
                        None => 0,
                    },
                    (_, false) => match g.checked_add(k) {
                        Some(t) if t < ng => self.groups[t].1,
                        _ => m,
                    },
                }
            }
            (FrameBound::Offset { target, .. }, _) => {
                self.range_bound(target.as_ref(), key, pos, false, ctx)?
            }
        };
        Ok((start, end.max(start)))
    }

    /// A RANGE offset bound: the first position at or after the target
    /// (start), or the first one past it (end). A NULL key's frame is
    /// its peers.
    fn range_bound(
        &self,
        target: Option<&Expr>,
        key: Option<&SortKey>,
        pos: usize,
        start: bool,
        ctx: &EvalCtx<'_>,
    ) -> Result<usize, SqlError> {
        let (Some(target), Some(key)) = (target, key) else {
            return Err(SqlError::new(
                code::INTERNAL_ERROR,
                "RANGE offset without its key",
            ));
        };
        let cur = &self.okeys[self.rows[pos]][0];
        if cur.is_null() {
            let (gs, ge) = self.groups[self.group_of[pos]];
            return Ok(if start { gs } else { ge });
        }
        let t = eval(target, std::slice::from_ref(cur), ctx)?;
        let mut err = None;
        let mut ord = |p: usize| -> Ordering {
            let k = &self.okeys[self.rows[p]][0];
            if k.is_null() {
                return if key.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            match cmp_key(k, &t) {
                Ok(o) => {
                    if key.asc {
                        o
                    } else {
                        o.reverse()
                    }
                }
                Err(e) => {
                    err.get_or_insert(e);
                    Ordering::Equal
                }
            }
        };
        let found = partition_point(self.len(), |p| {
            let o = ord(p);
            if start {
                o == Ordering::Less
            } else {
                o != Ordering::Greater
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(found),
        }
    }
}

/// The first index in `0..n` where `pred` turns false (`pred` true on a
/// prefix).
fn partition_point(n: usize, mut pred: impl FnMut(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn compute(
    exec: &Exec<'_>,
    call: &WindowCall,
    part: &Partition<'_>,
    rows: &[Row],
    out: &mut [Datum],
    ctx: &EvalCtx<'_>,
) -> Result<(), SqlError> {
    let m = part.len();
    let row = |p: usize| -> &Row { &rows[part.rows[p]] };
    let offs = (
        eval_offset(&call.frame.start, call.frame.units, true, ctx)?,
        eval_offset(&call.frame.end, call.frame.units, false, ctx)?,
    );
    let key = call.order_by.first();
    match &call.func {
        WindowFunc::RowNumber => {
            for p in 0..m {
                out[part.rows[p]] = Datum::Int8(p as i64 + 1);
            }
        }
        WindowFunc::Rank | WindowFunc::DenseRank | WindowFunc::PercentRank => {
            for p in 0..m {
                let g = part.group_of[p];
                let gs = part.groups[g].0;
                out[part.rows[p]] = match call.func {
                    WindowFunc::Rank => Datum::Int8(gs as i64 + 1),
                    WindowFunc::DenseRank => Datum::Int8(g as i64 + 1),
                    _ if m > 1 => Datum::Float8(gs as f64 / (m - 1) as f64),
                    _ => Datum::Float8(0.0),
                };
            }
        }
        WindowFunc::CumeDist => {
            for p in 0..m {
                let ge = part.groups[part.group_of[p]].1;
                out[part.rows[p]] = Datum::Float8(ge as f64 / m as f64);
            }
        }
        WindowFunc::Ntile => {
            // The bucket count is read once, on the partition's first row.
            let k = match eval(&call.args[0], row(0), ctx)? {
                Datum::Null => return Ok(()),
                Datum::Int4(k) if k > 0 => k as usize,
                _ => {
                    return Err(SqlError::new(
                        code::INVALID_ARGUMENT_FOR_NTILE,
                        "argument of ntile must be greater than zero",
                    ))
                }
            };
            // The first m % k buckets hold one row more.
            let q = m / k;
            let r = m % k;
            for p in 0..m {
                let bucket = if p < r * (q + 1) {
                    p / (q + 1)
                } else {
                    r + (p - r * (q + 1)) / q.max(1)
                };
                out[part.rows[p]] = Datum::Int4(bucket as i32 + 1);
            }
        }
        WindowFunc::Lag | WindowFunc::Lead => {
            let lag = matches!(call.func, WindowFunc::Lag);
            for p in 0..m {
                exec.tick()?;
                let off = match eval(&call.args[1], row(p), ctx)? {
                    Datum::Int4(o) => i64::from(o),
                    _ => {
                        out[part.rows[p]] = Datum::Null;
                        continue;
                    }
                };
                let target = if lag { p as i64 - off } else { p as i64 + off };
                out[part.rows[p]] = if target >= 0 && (target as usize) < m {
                    eval(&call.args[0], row(target as usize), ctx)?
                } else if let Some(d) = call.args.get(2) {
                    eval(d, row(p), ctx)?
                } else {
                    Datum::Null
                };
            }
        }
        WindowFunc::FirstValue | WindowFunc::LastValue | WindowFunc::NthValue => {
            for p in 0..m {
                exec.tick()?;
                let (fs, fe) = part.frame(&call.frame, key, p, &offs, ctx)?;
                let at = match call.func {
                    WindowFunc::FirstValue => (fs < fe).then_some(fs),
                    WindowFunc::LastValue => (fs < fe).then(|| fe - 1),
                    _ => match eval(&call.args[1], row(p), ctx)? {
                        Datum::Null => None,
                        Datum::Int4(k) if k > 0 => {
                            let t = fs + (k as usize - 1);
                            (t < fe).then_some(t)
                        }
                        _ => {
                            return Err(SqlError::new(
                                code::INVALID_ARGUMENT_FOR_NTH_VALUE,
                                "argument of nth_value must be greater than zero",
                            ))
                        }
                    },
                };
                out[part.rows[p]] = match at {
                    Some(t) => eval(&call.args[0], row(t), ctx)?,
                    None => Datum::Null,
                };
            }
        }
        WindowFunc::Agg(a) => {
            // Each row's arguments, or None where FILTER drops it.
            let mut inputs: Vec<Option<Vec<Datum>>> = Vec::with_capacity(m);
            for p in 0..m {
                exec.tick()?;
                let r = row(p);
                if let Some(f) = &a.filter {
                    if !matches!(eval(f, r, ctx)?, Datum::Bool(true)) {
                        inputs.push(None);
                        continue;
                    }
                }
                inputs.push(Some(
                    a.args
                        .iter()
                        .map(|e| eval(e, r, ctx))
                        .collect::<Result<Vec<_>, _>>()?,
                ));
            }
            let running = matches!(call.frame.start, FrameBound::UnboundedPreceding);
            let mut state = AggState::new(a);
            let mut added = 0;
            let mut last: Option<((usize, usize), Datum)> = None;
            for p in 0..m {
                exec.tick()?;
                let (fs, fe) = part.frame(&call.frame, key, p, &offs, ctx)?;
                if let Some((f, v)) = &last {
                    if *f == (fs, fe) {
                        out[part.rows[p]] = v.clone();
                        continue;
                    }
                }
                let v = if running {
                    debug_assert!(fs == 0, "a running frame starts at the partition");
                    assert!(fe >= added, "running frame end moved back: {fe} < {added}");
                    while added < fe {
                        if let Some(args) = &inputs[added] {
                            state.add(a, args.clone(), Vec::new())?;
                        }
                        added += 1;
                    }
                    state.clone().finish(a, ctx)?
                } else {
                    let mut st = AggState::new(a);
                    for args in inputs[fs..fe].iter().flatten() {
                        st.add(a, args.clone(), Vec::new())?;
                    }
                    st.finish(a, ctx)?
                };
                out[part.rows[p]] = v.clone();
                last = Some(((fs, fe), v));
            }
        }
    }
    Ok(())
}

/// Rewrites window placeholders into the columns the window node appends
/// after `base` input columns.
pub(crate) fn resolve_windows(e: Expr, base: usize) -> Expr {
    crate::sql::plan::rewrite(e, &mut |x| {
        Ok(match x {
            Expr::Window(i, t) => Some(Expr::Column(base + i, *t)),
            _ => None,
        })
    })
    .expect("never fails")
}

/// Applies `f` to every expression of a call that reads the input row.
pub(crate) fn map_exprs(
    call: &mut WindowCall,
    f: &mut dyn FnMut(Expr) -> Result<Expr, SqlError>,
) -> Result<(), SqlError> {
    let take = |e: &mut Expr| std::mem::replace(e, Expr::Literal(Datum::Null, DataType::Text));
    for e in call.args.iter_mut().chain(call.partition_by.iter_mut()) {
        *e = f(take(e))?;
    }
    for k in call.order_by.iter_mut() {
        k.expr = f(take(&mut k.expr))?;
    }
    if let WindowFunc::Agg(a) = &mut call.func {
        for e in a.args.iter_mut() {
            *e = f(take(e))?;
        }
        if let Some(flt) = a.filter.as_mut() {
            *flt = f(take(flt))?;
        }
    }
    Ok(())
}
