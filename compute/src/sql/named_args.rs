//! Calls that name their arguments: `make_interval(days => 3)`.
//!
//! PostgreSQL matches argument names against the parameter names a
//! function declares and fills the parameters left out from their
//! defaults. Sextant resolves built-ins by argument types alone, so this
//! module turns a call with names into the positional call it stands for,
//! for the built-ins whose parameters PostgreSQL 15 names (`pg_proc.
//! proargnames`, `proargdefaults`). The errors are PostgreSQL's: a
//! positional argument after a named one and a name used twice are syntax
//! errors (42601), and names a function does not declare make the call
//! one that does not exist (42883).

use sqlparser::tokenizer::Span;

use crate::datum::{DataType, Datum};
use crate::sql::error::{code, SqlError};
use crate::sql::expr::Expr;

/// A declared parameter: its name and, if it has one, its default.
struct Param {
    name: &'static str,
    default: Option<(Datum, DataType)>,
}

const fn param(name: &'static str) -> Param {
    Param {
        name,
        default: None,
    }
}

const fn int_zero(name: &'static str) -> Param {
    Param {
        name,
        default: Some((Datum::Int4(0), DataType::Int4)),
    }
}

/// The built-ins whose parameters have names, as PostgreSQL 15 declares
/// them.
const FUNCTIONS: &[(&str, &[Param])] = &[
    (
        "make_interval",
        &[
            int_zero("years"),
            int_zero("months"),
            int_zero("weeks"),
            int_zero("days"),
            int_zero("hours"),
            int_zero("mins"),
            Param {
                name: "secs",
                default: Some((Datum::Float8(0.0), DataType::Float8)),
            },
        ],
    ),
    ("make_date", &[param("year"), param("month"), param("day")]),
    ("make_time", &[param("hour"), param("min"), param("sec")]),
    (
        "make_timestamp",
        &[
            param("year"),
            param("month"),
            param("mday"),
            param("hour"),
            param("min"),
            param("sec"),
        ],
    ),
    (
        "make_timestamptz",
        &[
            param("year"),
            param("month"),
            param("mday"),
            param("hour"),
            param("min"),
            param("sec"),
            param("timezone"),
        ],
    ),
    (
        "jsonb_set",
        &[
            param("jsonb_in"),
            param("path"),
            param("replacement"),
            Param {
                name: "create_if_missing",
                default: Some((Datum::Bool(true), DataType::Bool)),
            },
        ],
    ),
    (
        "jsonb_insert",
        &[
            param("jsonb_in"),
            param("path"),
            param("replacement"),
            Param {
                name: "insert_after",
                default: Some((Datum::Bool(false), DataType::Bool)),
            },
        ],
    ),
];

/// One bound argument of a call, with its name if it was given one.
pub(crate) struct Arg {
    /// The name (lower case unless quoted) and where it was written.
    pub name: Option<(String, Span)>,
    /// Where the argument was written.
    pub span: Span,
    pub expr: Expr,
}

/// The positional arguments of a call to `function` whose arguments
/// `args` may name parameters: named ones moved to their parameter's
/// place, and parameters left out before the last one given filled with
/// their defaults.
pub(crate) fn positional(function: &str, args: Vec<Arg>) -> Result<Vec<Expr>, SqlError> {
    if args.iter().all(|a| a.name.is_none()) {
        return Ok(args.into_iter().map(|a| a.expr).collect());
    }
    let mut seen_named = false;
    for (i, a) in args.iter().enumerate() {
        match &a.name {
            Some((name, span)) => {
                seen_named = true;
                if args[..i]
                    .iter()
                    .any(|b| b.name.as_ref().is_some_and(|(n, _)| n == name))
                {
                    return Err(SqlError::new(
                        code::SYNTAX_ERROR,
                        format!("argument name \"{name}\" used more than once"),
                    )
                    .at_span(*span));
                }
            }
            None if seen_named => {
                return Err(SqlError::new(
                    code::SYNTAX_ERROR,
                    "positional argument cannot follow named argument",
                )
                .at_span(a.span))
            }
            None => {}
        }
    }
    let params = FUNCTIONS
        .iter()
        .find(|(f, _)| *f == function)
        .map(|(_, p)| *p)
        .ok_or_else(|| no_such_function(function, &args))?;
    let mut slots: Vec<Option<Expr>> = Vec::new();
    slots.resize_with(params.len(), || None);
    for (i, a) in args.iter().enumerate() {
        let at = match &a.name {
            None => i,
            Some((name, _)) => params
                .iter()
                .position(|p| p.name == name)
                .ok_or_else(|| no_such_function(function, &args))?,
        };
        // A name may not repeat a position already given.
        if at >= params.len() || slots[at].is_some() {
            return Err(no_such_function(function, &args));
        }
        slots[at] = Some(Expr::Literal(Datum::Null, DataType::Text));
    }
    let given = slots.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    // Every parameter before the last one given needs a value.
    if params[..given]
        .iter()
        .zip(&slots)
        .any(|(p, s)| s.is_none() && p.default.is_none())
    {
        return Err(no_such_function(function, &args));
    }
    let mut slots: Vec<Option<Expr>> = params[..given]
        .iter()
        .map(|p| {
            p.default
                .clone()
                .map(|(value, ty)| Expr::Literal(value, ty))
        })
        .collect();
    for (i, a) in args.into_iter().enumerate() {
        let at = match &a.name {
            None => i,
            Some((name, _)) => params
                .iter()
                .position(|p| p.name == name)
                .expect("checked above"),
        };
        slots[at] = Some(a.expr);
    }
    Ok(slots
        .into_iter()
        .map(|s| s.expect("given or defaulted"))
        .collect())
}

/// 42883 for a call no declared function matches, its arguments shown as
/// PostgreSQL shows them: `make_interval(nosuch => integer)`.
fn no_such_function(function: &str, args: &[Arg]) -> SqlError {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            let ty = if a.expr.is_unknown() {
                "unknown".to_owned()
            } else {
                a.expr.ty().format_type()
            };
            match &a.name {
                Some((name, _)) => format!("{name} => {ty}"),
                None => ty,
            }
        })
        .collect();
    SqlError::new(
        code::UNDEFINED_FUNCTION,
        format!("function {function}({}) does not exist", shown.join(", ")),
    )
    .with_hint(
        "No function matches the given name and argument types. You might need to add explicit type casts.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(name: Option<&str>, value: i32) -> Arg {
        Arg {
            name: name.map(|n| (n.to_owned(), Span::empty())),
            span: Span::empty(),
            expr: Expr::Literal(Datum::Int4(value), DataType::Int4),
        }
    }

    fn values(exprs: &[Expr]) -> Vec<String> {
        exprs
            .iter()
            .map(|e| match e {
                Expr::Literal(d, _) => format!("{d:?}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn names_move_to_their_place_and_gaps_take_defaults() {
        let call = positional(
            "make_interval",
            vec![arg(None, 1), arg(Some("days"), 3), arg(Some("weeks"), 2)],
        )
        .unwrap();
        assert_eq!(values(&call), ["Int4(1)", "Int4(0)", "Int4(2)", "Int4(3)"]);
        let call = positional("make_interval", vec![arg(Some("secs"), 5)]).unwrap();
        assert_eq!(call.len(), 7);
        assert_eq!(values(&call)[..2], ["Int4(0)", "Int4(0)"]);
        // Without names the call is left alone, whatever the function.
        assert_eq!(positional("lower", vec![arg(None, 1)]).unwrap().len(), 1);
    }

    #[test]
    fn bad_names_are_postgres_errors() {
        let err = |args| positional("make_interval", args).unwrap_err();
        let e = err(vec![arg(Some("days"), 1), arg(None, 2)]);
        assert_eq!(e.code, "42601");
        assert_eq!(
            e.message,
            "positional argument cannot follow named argument"
        );
        let e = err(vec![arg(Some("days"), 1), arg(Some("days"), 2)]);
        assert_eq!(e.message, "argument name \"days\" used more than once");
        let e = err(vec![arg(Some("nosuch"), 1)]);
        assert_eq!(e.code, "42883");
        assert_eq!(
            e.message,
            "function make_interval(nosuch => integer) does not exist"
        );
        // `years` is the first position, already given.
        assert_eq!(err(vec![arg(None, 1), arg(Some("years"), 2)]).code, "42883");
        // make_date's parameters have no defaults.
        let e = positional("make_date", vec![arg(Some("day"), 1)]).unwrap_err();
        assert_eq!(e.code, "42883");
        let e = positional("lower", vec![arg(Some("x"), 1)]).unwrap_err();
        assert_eq!(e.message, "function lower(x => integer) does not exist");
    }
}
