//! Array functions and operators, as PostgreSQL 15 defines them:
//! `array_to_string`, `string_to_array`, `array_length`, `array_lower`,
//! `array_upper`, `array_ndims`, `array_dims`, `cardinality`,
//! `array_position(s)`, `array_append`, `array_prepend`, `array_cat`,
//! `array_remove`, `array_replace`, and the operators `||`, `@>`, `<@`
//! and `&&`.
//!
//! # Why this module exists
//!
//! psql and drivers pass arrays around in their catalog queries
//! (`array_to_string(datacl, E'\n')`, `'d' = any(stxkind)`), and users
//! expect the common array functions. They are polymorphic, so resolving
//! them is more than a lookup: [`resolve`] and [`resolve_operator`] work out
//! the array and element types from the arguments, as PostgreSQL's
//! `anyarray`/`anyelement` and (since PostgreSQL 14) `anycompatiblearray`
//! rules do, and tell the binder what to cast each argument to; [`call`]
//! then computes.
//!
//! # Shape
//!
//! The binder calls `resolve(name, arg_types, unknown)` with each
//! argument's type and whether it is an untyped literal (`'x'`, `NULL`),
//! gets a [`Resolved`] back or `None` (then "function does not exist"),
//! casts each argument to `arg_types[i]`, and at run time calls
//! `call(func, args, ctx)`. NULL handling is each function's own, as in
//! PostgreSQL: most are not strict (`array_append(NULL, 1)` is `{1}`).
//!
//! One-dimensional arrays only, like the rest of the engine; `int2vector`
//! and `oidvector` are accepted wherever PostgreSQL accepts them as
//! `anyarray` (they are arrays with lower bound 0), and functions that
//! build an array from one return the plain array type (`smallint[]`).

use std::cmp::Ordering;

use crate::cast::{can_cast, CastKind};
use crate::datum::{Array, DataType, Datum, ARRAY_MAX_ITEMS};
use crate::jsonb::JsonbRef;
use crate::pgtext::{self, TextContext};
use crate::sql::error::{code, SqlError};

/// An array function or operator, with the types [`resolve`] settled on
/// where the result depends on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArrayFn {
    /// `array_to_string(anyarray, text [, text])`.
    ToString,
    /// `string_to_array(text, text [, text])`.
    StringToArray,
    /// `array_length(anyarray, int)`.
    Length,
    /// `array_lower(anyarray, int)`.
    Lower,
    /// `array_upper(anyarray, int)`.
    Upper,
    /// `array_ndims(anyarray)`.
    Ndims,
    /// `array_dims(anyarray)`.
    Dims,
    /// `cardinality(anyarray)`.
    Cardinality,
    /// `array_position(anycompatiblearray, anycompatible [, int])`.
    Position,
    /// `array_positions(anycompatiblearray, anycompatible)`.
    Positions,
    /// `array_append(anycompatiblearray, anycompatible)`, and `array || elem`.
    Append {
        /// The result's array type.
        result: DataType,
    },
    /// `array_prepend(anycompatible, anycompatiblearray)`, and `elem || array`.
    Prepend {
        /// The result's array type.
        result: DataType,
    },
    /// `array_cat(anycompatiblearray, anycompatiblearray)`, and
    /// `array || array`.
    Cat {
        /// The result's array type.
        result: DataType,
    },
    /// `array_remove(anycompatiblearray, anycompatible)`.
    Remove,
    /// `array_replace(anycompatiblearray, anycompatible, anycompatible)`.
    Replace,
    /// `anyarray @> anyarray`: the left holds every element of the right.
    Contains,
    /// `anyarray <@ anyarray`: the right holds every element of the left.
    ContainedBy,
    /// `anyarray && anyarray`: an element in common.
    Overlap,
}

/// A resolved call: the function, the type to cast each argument to
/// before calling, and the result type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// What to call.
    pub func: ArrayFn,
    /// The type each argument must be cast to (implicitly) first.
    pub arg_types: Vec<DataType>,
    /// The result type.
    pub ret: DataType,
}

/// Returns the array type a polymorphic array argument of type `ty` binds
/// to: an array type as it is, a vector as the array of its element.
fn as_array(ty: DataType) -> Option<DataType> {
    match ty {
        DataType::Array(_) => Some(ty),
        DataType::Int2Vector | DataType::OidVector => ty.elem()?.array_of(),
        _ => None,
    }
}

/// PostgreSQL's `select_common_type` for the types we have: the type every
/// one of `types` casts to implicitly, preferring `text` among strings and
/// otherwise the first that works.
fn common_type(types: &[DataType]) -> Option<DataType> {
    let fits = |target: DataType| {
        types
            .iter()
            .all(|t| can_cast(t, &target).allowed_in(CastKind::Implicit))
    };
    if types.contains(&DataType::Text) && fits(DataType::Text) {
        return Some(DataType::Text);
    }
    types.iter().copied().find(|&t| fits(t))
}

/// Resolves `anycompatiblearray`/`anycompatible` arguments: `arrays` are
/// the positions declared as arrays, `elems` as elements. Untyped literals
/// take the type the others settle on (an untyped array literal is read as
/// the array type). Returns the array type, or `None` when nothing fixes
/// it or the types have no common type.
fn resolve_compatible(
    args: &[DataType],
    unknown: &[bool],
    arrays: &[usize],
    elems: &[usize],
) -> Option<DataType> {
    let mut candidates = Vec::new();
    for &i in arrays {
        if !unknown[i] {
            candidates.push(as_array(args[i])?.elem()?);
        }
    }
    for &i in elems {
        if !unknown[i] {
            candidates.push(args[i]);
        }
    }
    common_type(&candidates)?.array_of()
}

/// Whether a fixed-type argument of type `have` (untyped if `unknown`)
/// can be passed where `want` is declared.
fn accepts(want: DataType, have: DataType, unknown: bool) -> bool {
    unknown || can_cast(&have, &want).allowed_in(CastKind::Implicit)
}

/// The array functions' names, for [`is_array_function`].
const NAMES: [&str; 16] = [
    "array_to_string",
    "string_to_array",
    "array_length",
    "array_lower",
    "array_upper",
    "array_ndims",
    "array_dims",
    "cardinality",
    "array_position",
    "array_positions",
    "array_append",
    "array_prepend",
    "array_cat",
    "array_remove",
    "array_replace",
    "array_to_string",
];

/// Returns whether `name` (lower case) is one of this module's functions,
/// of any arity.
pub fn is_array_function(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Resolves a call of the array function `name` (lower case, without
/// schema) with arguments of types `args`, of which `unknown[i]` are
/// untyped literals. `None` if there is no such function for these types.
pub fn resolve(name: &str, args: &[DataType], unknown: &[bool]) -> Option<Resolved> {
    assert_eq!(args.len(), unknown.len(), "one unknown flag per argument");
    use DataType as T;
    let int = T::Int4;
    let text = T::Text;
    // A plain anyarray argument must be typed.
    let any_array = |i: usize| -> Option<DataType> {
        if unknown[i] {
            None
        } else {
            as_array(args[i])
        }
    };
    let resolved = |func, arg_types: Vec<DataType>, ret| {
        Some(Resolved {
            func,
            arg_types,
            ret,
        })
    };
    match (name, args.len()) {
        ("array_to_string", 2 | 3) => {
            let array = any_array(0)?;
            let rest = &args[1..];
            if !rest
                .iter()
                .zip(&unknown[1..])
                .all(|(&t, &u)| accepts(text, t, u))
            {
                return None;
            }
            let mut arg_types = vec![array, text];
            arg_types.extend(std::iter::repeat_n(text, args.len() - 2));
            resolved(ArrayFn::ToString, arg_types, text)
        }
        ("string_to_array", 2 | 3) => {
            if !args.iter().zip(unknown).all(|(&t, &u)| accepts(text, t, u)) {
                return None;
            }
            resolved(
                ArrayFn::StringToArray,
                vec![text; args.len()],
                T::Array(&T::Text),
            )
        }
        ("array_length" | "array_lower" | "array_upper", 2) => {
            let array = any_array(0)?;
            if !accepts(int, args[1], unknown[1]) {
                return None;
            }
            let func = match name {
                "array_length" => ArrayFn::Length,
                "array_lower" => ArrayFn::Lower,
                _ => ArrayFn::Upper,
            };
            resolved(func, vec![array, int], int)
        }
        ("array_ndims" | "cardinality", 1) => {
            let array = any_array(0)?;
            let func = if name == "cardinality" {
                ArrayFn::Cardinality
            } else {
                ArrayFn::Ndims
            };
            resolved(func, vec![array], int)
        }
        ("array_dims", 1) => resolved(ArrayFn::Dims, vec![any_array(0)?], text),
        ("array_position", 2 | 3) | ("array_positions", 2) => {
            let array = resolve_compatible(args, unknown, &[0], &[1])?;
            let elem = array.elem()?;
            let mut arg_types = vec![array, elem];
            if args.len() == 3 {
                if !accepts(int, args[2], unknown[2]) {
                    return None;
                }
                arg_types.push(int);
            }
            if name == "array_positions" {
                return resolved(ArrayFn::Positions, arg_types, T::Array(&T::Int4));
            }
            resolved(ArrayFn::Position, arg_types, int)
        }
        ("array_append", 2) => {
            let array = resolve_compatible(args, unknown, &[0], &[1])?;
            let elem = array.elem()?;
            resolved(ArrayFn::Append { result: array }, vec![array, elem], array)
        }
        ("array_prepend", 2) => {
            let array = resolve_compatible(args, unknown, &[1], &[0])?;
            let elem = array.elem()?;
            resolved(ArrayFn::Prepend { result: array }, vec![elem, array], array)
        }
        ("array_cat", 2) => {
            let array = resolve_compatible(args, unknown, &[0, 1], &[])?;
            resolved(ArrayFn::Cat { result: array }, vec![array, array], array)
        }
        ("array_remove", 2) => {
            let array = resolve_compatible(args, unknown, &[0], &[1])?;
            let elem = array.elem()?;
            resolved(ArrayFn::Remove, vec![array, elem], array)
        }
        ("array_replace", 3) => {
            let array = resolve_compatible(args, unknown, &[0], &[1, 2])?;
            let elem = array.elem()?;
            resolved(ArrayFn::Replace, vec![array, elem, elem], array)
        }
        _ => None,
    }
}

/// Resolves the array operators `||`, `@>`, `<@` and `&&` for operand types
/// `left` and `right` (`*_unknown` for untyped literals). `||` with an
/// array on one side and an untyped literal on the other concatenates
/// arrays, reading the literal as an array, as PostgreSQL does
/// (`ARRAY[1] || '{2}'` is `{1,2}`). `None` when no array operator
/// applies (then `||` may still be text concatenation).
pub fn resolve_operator(
    op: &str,
    left: DataType,
    right: DataType,
    left_unknown: bool,
    right_unknown: bool,
) -> Option<Resolved> {
    let args = [left, right];
    let unknown = [left_unknown, right_unknown];
    let is_array = |i: usize| !unknown[i] && as_array(args[i]).is_some();
    match op {
        "||" => {
            if is_array(0) && (is_array(1) || unknown[1]) || is_array(1) && unknown[0] {
                let array = resolve_compatible(&args, &unknown, &[0, 1], &[])?;
                return Some(Resolved {
                    func: ArrayFn::Cat { result: array },
                    arg_types: vec![array, array],
                    ret: array,
                });
            }
            if is_array(0) {
                return resolve("array_append", &args, &unknown);
            }
            if is_array(1) {
                return resolve("array_prepend", &args, &unknown);
            }
            None
        }
        "@>" | "<@" | "&&" => {
            if !(is_array(0) || is_array(1)) {
                return None;
            }
            let array = resolve_compatible(&args, &unknown, &[0, 1], &[])?;
            // `anyarray` needs both sides alike: no implicit widening.
            for i in 0..2 {
                if !unknown[i] && as_array(args[i]) != Some(array) {
                    return None;
                }
            }
            let func = match op {
                "@>" => ArrayFn::Contains,
                "<@" => ArrayFn::ContainedBy,
                _ => ArrayFn::Overlap,
            };
            Some(Resolved {
                func,
                arg_types: vec![array, array],
                ret: DataType::Bool,
            })
        }
        _ => None,
    }
}

fn array_arg(d: &Datum) -> Result<Option<&Array>, SqlError> {
    match d {
        Datum::Null => Ok(None),
        Datum::Array(a) => Ok(Some(a)),
        other => Err(SqlError::new(
            code::INTERNAL_ERROR,
            format!("array function called with {other:?}, not an array"),
        )),
    }
}

fn text_arg(d: &Datum) -> Result<Option<&str>, SqlError> {
    match d {
        Datum::Null => Ok(None),
        Datum::Text(s) => Ok(Some(s)),
        other => Err(SqlError::new(
            code::INTERNAL_ERROR,
            format!("array function called with {other:?}, not text"),
        )),
    }
}

fn int_arg(d: &Datum) -> Result<Option<i32>, SqlError> {
    match d {
        Datum::Null => Ok(None),
        Datum::Int4(v) => Ok(Some(*v)),
        other => Err(SqlError::new(
            code::INTERNAL_ERROR,
            format!("array function called with {other:?}, not an integer"),
        )),
    }
}

fn too_large() -> SqlError {
    SqlError::new(
        code::PROGRAM_LIMIT_EXCEEDED,
        format!("array size exceeds the maximum allowed ({ARRAY_MAX_ITEMS})"),
    )
}

/// Builds an array of type `ty` (an array type, or a vector taken as the
/// array of its element) with PostgreSQL's limits checked.
fn build(ty: DataType, lower_bound: i32, items: Vec<Datum>) -> Result<Datum, SqlError> {
    let ty = as_array(ty).expect("array functions build array types");
    if items.len() > ARRAY_MAX_ITEMS {
        return Err(too_large());
    }
    if Array::upper_bound_of(lower_bound, items.len()).is_none() {
        return Err(SqlError::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            "integer out of range",
        ));
    }
    Ok(Datum::Array(Box::new(Array::with_lower_bound(
        ty,
        lower_bound,
        items,
    ))))
}

/// `IS NOT DISTINCT FROM` between two elements, as the array functions
/// search with the element type's equality: NULL matches NULL. json has no
/// equality operator in PostgreSQL, jsonb compares as jsonb.
fn not_distinct(a: &Datum, b: &Datum) -> Result<bool, SqlError> {
    match (a, b) {
        (Datum::Null, Datum::Null) => Ok(true),
        (Datum::Null, _) | (_, Datum::Null) => Ok(false),
        _ => equal(a, b),
    }
}

/// SQL equality of two non-NULL elements of one array type.
fn equal(a: &Datum, b: &Datum) -> Result<bool, SqlError> {
    match (a, b) {
        (Datum::Jsonb(x), Datum::Jsonb(y)) => {
            let jsonb_err =
                |e: crate::jsonb::JsonbError| SqlError::new(e.sqlstate(), e.to_string());
            let x = JsonbRef::from_document(x).map_err(jsonb_err)?;
            let y = JsonbRef::from_document(y).map_err(jsonb_err)?;
            Ok(x.compare(&y).map_err(jsonb_err)? == Ordering::Equal)
        }
        (Datum::Json(_), _) => Err(SqlError::new(
            code::UNDEFINED_FUNCTION,
            "could not identify an equality operator for type json",
        )),
        _ => a
            .cmp_same_type(b)
            .map(|o| o == Ordering::Equal)
            .ok_or_else(|| {
                SqlError::new(
                    code::DATATYPE_MISMATCH,
                    format!("cannot compare {a:?} and {b:?}"),
                )
            }),
    }
}

/// Checks two arrays may be compared element by element.
fn same_element_type(a: &Array, b: &Array) -> Result<(), SqlError> {
    if a.elem_type().value_type() != b.elem_type().value_type() {
        return Err(SqlError::new(
            code::DATATYPE_MISMATCH,
            "cannot compare arrays of different element types",
        ));
    }
    Ok(())
}

/// `array_contain_compare`: with `match_all`, whether every element of
/// `inner` is in `outer` (a NULL element never matches); otherwise whether
/// any non-NULL element of `inner` is in `outer`.
fn contain_compare(inner: &Array, outer: &Array, match_all: bool) -> Result<bool, SqlError> {
    same_element_type(inner, outer)?;
    for item in inner.items() {
        if item.is_null() {
            if match_all {
                return Ok(false);
            }
            continue;
        }
        let mut found = false;
        for candidate in outer.items() {
            if !candidate.is_null() && equal(item, candidate)? {
                found = true;
                break;
            }
        }
        if found != match_all {
            return Ok(found);
        }
    }
    Ok(match_all)
}

/// `l @> r`: whether `l` holds every element of `r`. NULL if either is
/// NULL.
pub fn contains(l: &Datum, r: &Datum) -> Result<Datum, SqlError> {
    match (array_arg(l)?, array_arg(r)?) {
        (Some(l), Some(r)) => Ok(Datum::Bool(contain_compare(r, l, true)?)),
        _ => Ok(Datum::Null),
    }
}

/// `l && r`: whether the arrays have an element in common. NULL if either
/// is NULL.
pub fn overlaps(l: &Datum, r: &Datum) -> Result<Datum, SqlError> {
    match (array_arg(l)?, array_arg(r)?) {
        (Some(l), Some(r)) => Ok(Datum::Bool(contain_compare(l, r, false)?)),
        _ => Ok(Datum::Null),
    }
}

/// `l || r` for the operand types [`resolve_operator`] resolved `||` to:
/// runs the [`ArrayFn`] it chose, after the binder's casts.
pub fn array_concat_op(func: ArrayFn, l: &Datum, r: &Datum) -> Result<Datum, SqlError> {
    match func {
        ArrayFn::Cat { .. } | ArrayFn::Append { .. } | ArrayFn::Prepend { .. } => {
            call(func, &[l.clone(), r.clone()], &TextContext::default())
        }
        other => Err(SqlError::new(
            code::INTERNAL_ERROR,
            format!("{other:?} is not a concatenation"),
        )),
    }
}

/// Runs `func` on arguments already cast to [`Resolved::arg_types`].
/// `ctx` prints elements for `array_to_string` (time zone, jsonb).
pub fn call(func: ArrayFn, args: &[Datum], ctx: &TextContext) -> Result<Datum, SqlError> {
    let arg = |i: usize| args.get(i).unwrap_or(&Datum::Null);
    Ok(match func {
        ArrayFn::ToString => {
            let (Some(array), Some(sep)) = (array_arg(arg(0))?, text_arg(arg(1))?) else {
                return Ok(Datum::Null);
            };
            let null_text = text_arg(arg(2))?;
            let mut out = String::new();
            let mut first = true;
            for item in array.items() {
                let text = match item {
                    Datum::Null => match null_text {
                        Some(t) => t.to_owned(),
                        None => continue,
                    },
                    d => pgtext::format(d, ctx),
                };
                if !first {
                    out.push_str(sep);
                }
                first = false;
                out.push_str(&text);
            }
            Datum::Text(out)
        }
        ArrayFn::StringToArray => {
            let Some(input) = text_arg(arg(0))? else {
                return Ok(Datum::Null);
            };
            let delimiter = text_arg(arg(1))?;
            let null_text = text_arg(arg(2))?;
            let pieces: Vec<&str> = if input.is_empty() {
                Vec::new()
            } else {
                match delimiter {
                    None => input
                        .char_indices()
                        .map(|(i, c)| &input[i..i + c.len_utf8()])
                        .collect(),
                    Some("") => vec![input],
                    Some(d) => input.split(d).collect(),
                }
            };
            let items = pieces
                .into_iter()
                .map(|p| {
                    if Some(p) == null_text {
                        Datum::Null
                    } else {
                        Datum::Text(p.to_owned())
                    }
                })
                .collect();
            build(DataType::Array(&DataType::Text), 1, items)?
        }
        ArrayFn::Length | ArrayFn::Lower | ArrayFn::Upper => {
            let (Some(array), Some(dim)) = (array_arg(arg(0))?, int_arg(arg(1))?) else {
                return Ok(Datum::Null);
            };
            if dim != 1 || array.is_empty() {
                return Ok(Datum::Null);
            }
            Datum::Int4(match func {
                ArrayFn::Length => i32::try_from(array.len()).map_err(|_| too_large())?,
                ArrayFn::Lower => array.lower_bound(),
                _ => array.upper_bound().expect("not empty"),
            })
        }
        ArrayFn::Ndims => match array_arg(arg(0))? {
            Some(array) if !array.is_empty() => Datum::Int4(1),
            _ => Datum::Null,
        },
        ArrayFn::Dims => match array_arg(arg(0))? {
            Some(array) if !array.is_empty() => Datum::Text(format!(
                "[{}:{}]",
                array.lower_bound(),
                array.upper_bound().expect("not empty")
            )),
            _ => Datum::Null,
        },
        ArrayFn::Cardinality => match array_arg(arg(0))? {
            Some(array) => Datum::Int4(i32::try_from(array.len()).map_err(|_| too_large())?),
            None => Datum::Null,
        },
        ArrayFn::Position | ArrayFn::Positions => {
            let Some(array) = array_arg(arg(0))? else {
                return Ok(Datum::Null);
            };
            let needle = arg(1);
            let start = if args.len() > 2 {
                match int_arg(arg(2))? {
                    Some(start) => start,
                    None => {
                        return Err(SqlError::new(
                            code::NULL_VALUE_NOT_ALLOWED,
                            "initial position must not be null",
                        ))
                    }
                }
            } else {
                array.lower_bound()
            };
            let mut found = Vec::new();
            for (i, item) in array.items().iter().enumerate() {
                let subscript = array.lower_bound() + i32::try_from(i).map_err(|_| too_large())?;
                if subscript < start || !not_distinct(item, needle)? {
                    continue;
                }
                if func == ArrayFn::Position {
                    return Ok(Datum::Int4(subscript));
                }
                found.push(Datum::Int4(subscript));
            }
            if func == ArrayFn::Position {
                return Ok(Datum::Null);
            }
            build(DataType::Array(&DataType::Int4), 1, found)?
        }
        ArrayFn::Append { result } | ArrayFn::Prepend { result } => {
            let (array, item) = if let ArrayFn::Append { .. } = func {
                (array_arg(arg(0))?, arg(1))
            } else {
                (array_arg(arg(1))?, arg(0))
            };
            let (lower_bound, mut items) = match array {
                Some(a) => (a.lower_bound(), a.items().to_vec()),
                None => (1, Vec::new()),
            };
            if let ArrayFn::Append { .. } = func {
                items.push(item.clone());
                build(result, lower_bound, items)?
            } else {
                items.insert(0, item.clone());
                // PostgreSQL sets the element below the first, then moves
                // the lower bound back to the input's.
                if lower_bound == i32::MIN {
                    return Err(SqlError::new(
                        code::NUMERIC_VALUE_OUT_OF_RANGE,
                        "integer out of range",
                    ));
                }
                build(result, lower_bound, items)?
            }
        }
        ArrayFn::Cat { result } => match (array_arg(arg(0))?, array_arg(arg(1))?) {
            (None, None) => Datum::Null,
            (Some(a), None) | (None, Some(a)) => {
                build(result, a.lower_bound(), a.items().to_vec())?
            }
            (Some(a), Some(b)) if a.is_empty() => {
                build(result, b.lower_bound(), b.items().to_vec())?
            }
            (Some(a), Some(b)) => {
                let mut items = Vec::with_capacity(a.len() + b.len());
                items.extend_from_slice(a.items());
                items.extend_from_slice(b.items());
                build(result, a.lower_bound(), items)?
            }
        },
        ArrayFn::Remove | ArrayFn::Replace => {
            let Some(array) = array_arg(arg(0))? else {
                return Ok(Datum::Null);
            };
            let needle = arg(1);
            let mut items = Vec::with_capacity(array.len());
            for item in array.items() {
                if !not_distinct(item, needle)? {
                    items.push(item.clone());
                } else if func == ArrayFn::Replace {
                    items.push(arg(2).clone());
                }
            }
            build(array.data_type(), array.lower_bound(), items)?
        }
        ArrayFn::Contains => contains(arg(0), arg(1))?,
        ArrayFn::ContainedBy => contains(arg(1), arg(0))?,
        ArrayFn::Overlap => overlaps(arg(0), arg(1))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INT4S: DataType = DataType::Array(&DataType::Int4);
    const TEXTS: DataType = DataType::Array(&DataType::Text);

    fn ctx() -> TextContext {
        TextContext::default()
    }

    /// An array of `ty` read from its text, as `'…'::ty` would.
    fn arr(ty: DataType, text: &str) -> Datum {
        pgtext::parse(&ty, text, &ctx()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn text(s: &str) -> Datum {
        Datum::Text(s.to_owned())
    }

    /// Resolves `name` for typed `args`, calls it, and prints the result
    /// (`<null>` for NULL).
    fn run(name: &str, args: &[(DataType, Datum)]) -> String {
        let types: Vec<DataType> = args.iter().map(|(t, _)| *t).collect();
        let unknown = vec![false; args.len()];
        let r = resolve(name, &types, &unknown).unwrap_or_else(|| panic!("{name}{types:?}"));
        let values: Vec<Datum> = args.iter().map(|(_, d)| d.clone()).collect();
        match call(r.func, &values, &ctx()).unwrap_or_else(|e| panic!("{name}: {e}")) {
            Datum::Null => "<null>".to_owned(),
            d => pgtext::format(&d, &ctx()),
        }
    }

    #[test]
    fn array_to_string_skips_or_replaces_nulls() {
        let a = arr(TEXTS, "{a,NULL,\"b c\"}");
        assert_eq!(
            run(
                "array_to_string",
                &[(TEXTS, a.clone()), (DataType::Text, text(","))]
            ),
            "a,b c"
        );
        assert_eq!(
            run(
                "array_to_string",
                &[
                    (TEXTS, a.clone()),
                    (DataType::Text, text("-")),
                    (DataType::Text, text("*"))
                ]
            ),
            "a-*-b c"
        );
        assert_eq!(
            run(
                "array_to_string",
                &[
                    (TEXTS, a.clone()),
                    (DataType::Text, text("-")),
                    (DataType::Text, Datum::Null)
                ]
            ),
            "a-b c"
        );
        assert_eq!(
            run(
                "array_to_string",
                &[(TEXTS, a), (DataType::Text, Datum::Null)]
            ),
            "<null>"
        );
        assert_eq!(
            run(
                "array_to_string",
                &[(TEXTS, Datum::Null), (DataType::Text, text(","))]
            ),
            "<null>"
        );
        let ints = arr(INT4S, "{1,2}");
        assert_eq!(
            run(
                "array_to_string",
                &[(INT4S, ints), (DataType::Text, text(", "))]
            ),
            "1, 2"
        );
    }

    #[test]
    fn string_to_array_splits_as_postgres() {
        let s = |input: Datum, delim: Datum, null: Option<Datum>| {
            let mut args = vec![(DataType::Text, input), (DataType::Text, delim)];
            if let Some(n) = null {
                args.push((DataType::Text, n));
            }
            run("string_to_array", &args)
        };
        assert_eq!(s(text("a,b,,c"), text(","), None), "{a,b,\"\",c}");
        assert_eq!(s(text("a,b,x"), text(","), Some(text("x"))), "{a,b,NULL}");
        assert_eq!(s(text("abc"), Datum::Null, None), "{a,b,c}");
        assert_eq!(s(text("abc"), text(""), None), "{abc}");
        assert_eq!(s(text(""), text(","), None), "{}");
        assert_eq!(s(Datum::Null, text(","), None), "<null>");
        assert_eq!(s(text("a<>b"), text("<>"), None), "{a,b}");
    }

    #[test]
    fn bounds_and_sizes() {
        let a = arr(INT4S, "[0:2]={1,2,3}");
        let int = |v| (DataType::Int4, Datum::Int4(v));
        assert_eq!(run("array_length", &[(INT4S, a.clone()), int(1)]), "3");
        assert_eq!(run("array_length", &[(INT4S, a.clone()), int(2)]), "<null>");
        assert_eq!(run("array_lower", &[(INT4S, a.clone()), int(1)]), "0");
        assert_eq!(run("array_upper", &[(INT4S, a.clone()), int(1)]), "2");
        assert_eq!(run("array_ndims", &[(INT4S, a.clone())]), "1");
        assert_eq!(run("array_dims", &[(INT4S, a.clone())]), "[0:2]");
        assert_eq!(run("cardinality", &[(INT4S, a)]), "3");
        let empty = arr(INT4S, "{}");
        assert_eq!(
            run("array_length", &[(INT4S, empty.clone()), int(1)]),
            "<null>"
        );
        assert_eq!(
            run("array_upper", &[(INT4S, empty.clone()), int(1)]),
            "<null>"
        );
        assert_eq!(run("array_dims", &[(INT4S, empty.clone())]), "<null>");
        assert_eq!(run("cardinality", &[(INT4S, empty)]), "0");
        let vector = arr(DataType::Int2Vector, "1 2");
        assert_eq!(
            run(
                "array_lower",
                &[(DataType::Int2Vector, vector.clone()), int(1)]
            ),
            "0"
        );
        assert_eq!(
            run("array_upper", &[(DataType::Int2Vector, vector), int(1)]),
            "1"
        );
    }

    #[test]
    fn positions_use_not_distinct() {
        let a = arr(TEXTS, "{a,NULL,b,a}");
        assert_eq!(
            run(
                "array_position",
                &[(TEXTS, a.clone()), (DataType::Text, text("a"))]
            ),
            "1"
        );
        assert_eq!(
            run(
                "array_position",
                &[
                    (TEXTS, a.clone()),
                    (DataType::Text, text("a")),
                    (DataType::Int4, Datum::Int4(2))
                ]
            ),
            "4"
        );
        assert_eq!(
            run(
                "array_position",
                &[(TEXTS, a.clone()), (DataType::Text, Datum::Null)]
            ),
            "2"
        );
        assert_eq!(
            run(
                "array_position",
                &[(TEXTS, a.clone()), (DataType::Text, text("z"))]
            ),
            "<null>"
        );
        assert_eq!(
            run(
                "array_positions",
                &[(TEXTS, a), (DataType::Text, text("a"))]
            ),
            "{1,4}"
        );
    }

    #[test]
    fn building_functions_keep_bounds() {
        let a = arr(INT4S, "[0:1]={1,2}");
        let int = |v| (DataType::Int4, Datum::Int4(v));
        assert_eq!(
            run("array_append", &[(INT4S, a.clone()), int(3)]),
            "[0:2]={1,2,3}"
        );
        assert_eq!(run("array_append", &[(INT4S, Datum::Null), int(3)]), "{3}");
        assert_eq!(
            run("array_prepend", &[int(0), (INT4S, a.clone())]),
            "[0:2]={0,1,2}"
        );
        assert_eq!(
            run("array_prepend", &[int(0), (INT4S, arr(INT4S, "{}"))]),
            "{0}"
        );
        assert_eq!(
            run(
                "array_cat",
                &[(INT4S, a.clone()), (INT4S, arr(INT4S, "{3}"))]
            ),
            "[0:2]={1,2,3}"
        );
        assert_eq!(
            run(
                "array_cat",
                &[(INT4S, arr(INT4S, "{}")), (INT4S, a.clone())]
            ),
            "[0:1]={1,2}"
        );
        assert_eq!(
            run("array_cat", &[(INT4S, Datum::Null), (INT4S, Datum::Null)]),
            "<null>"
        );
        let dup = arr(INT4S, "{1,NULL,1,2}");
        assert_eq!(
            run("array_remove", &[(INT4S, dup.clone()), int(1)]),
            "{NULL,2}"
        );
        assert_eq!(
            run(
                "array_remove",
                &[(INT4S, dup.clone()), (DataType::Int4, Datum::Null)]
            ),
            "{1,1,2}"
        );
        assert_eq!(
            run("array_replace", &[(INT4S, dup), int(1), int(9)]),
            "{9,NULL,9,2}"
        );
    }

    #[test]
    fn compatible_types_widen() {
        let int8s = DataType::Array(&DataType::Int8);
        let r =
            resolve("array_append", &[INT4S, DataType::Int8], &[false, false]).expect("resolves");
        assert_eq!(r.ret, int8s);
        assert_eq!(r.arg_types, vec![int8s, DataType::Int8]);
        let r = resolve("array_append", &[INT4S, DataType::Text], &[false, true]).expect("unknown");
        assert_eq!(r.arg_types, vec![INT4S, DataType::Int4]);
        assert_eq!(
            resolve("array_append", &[INT4S, DataType::Uuid], &[false, false]),
            None
        );
        assert_eq!(
            resolve(
                "array_append",
                &[DataType::Text, DataType::Text],
                &[true, true]
            ),
            None
        );
        let r = resolve(
            "array_append",
            &[DataType::Text, DataType::Int4],
            &[true, false],
        )
        .expect("elem fixes it");
        assert_eq!(r.ret, INT4S);
        assert_eq!(
            resolve(
                "array_length",
                &[DataType::Int4, DataType::Int4],
                &[false, false]
            ),
            None
        );
        assert_eq!(
            resolve("array_length", &[INT4S, DataType::Int8], &[false, false]),
            None
        );
        assert_eq!(resolve("cardinality", &[DataType::Text], &[true]), None);
        let r = resolve(
            "array_position",
            &[DataType::Int2Vector, DataType::Int4],
            &[false, false],
        )
        .expect("vectors are arrays");
        assert_eq!(r.arg_types[0], INT4S);
    }

    #[test]
    fn operators_resolve_as_postgres() {
        let op = |o: &str, l: DataType, r: DataType, lu: bool, ru: bool| {
            resolve_operator(o, l, r, lu, ru).map(|r| r.func)
        };
        assert_eq!(
            op("||", INT4S, INT4S, false, false),
            Some(ArrayFn::Cat { result: INT4S })
        );
        assert_eq!(
            op("||", INT4S, DataType::Text, false, true),
            Some(ArrayFn::Cat { result: INT4S })
        );
        assert_eq!(
            op("||", INT4S, DataType::Int4, false, false),
            Some(ArrayFn::Append { result: INT4S })
        );
        assert_eq!(
            op("||", DataType::Int4, INT4S, false, false),
            Some(ArrayFn::Prepend { result: INT4S })
        );
        assert_eq!(op("||", DataType::Text, DataType::Text, false, true), None);
        assert_eq!(
            op("@>", INT4S, INT4S, false, false),
            Some(ArrayFn::Contains)
        );
        assert_eq!(
            op("<@", INT4S, DataType::Text, false, true),
            Some(ArrayFn::ContainedBy)
        );
        assert_eq!(
            op("&&", INT4S, DataType::Array(&DataType::Int8), false, false),
            None
        );
        let r = resolve_operator("||", TEXTS, DataType::Text, false, false).expect("append text");
        assert_eq!(r.func, ArrayFn::Append { result: TEXTS });
        let cat = op("||", INT4S, INT4S, false, false).expect("cat");
        let out =
            array_concat_op(cat, &arr(INT4S, "{1}"), &arr(INT4S, "{2,3}")).expect("concatenates");
        assert_eq!(pgtext::format(&out, &ctx()), "{1,2,3}");
    }

    #[test]
    fn containment_ignores_or_rejects_nulls() {
        let c = |l: &str, r: &str| contains(&arr(INT4S, l), &arr(INT4S, r)).expect("compares");
        assert_eq!(c("{1,2,3}", "{3,1}"), Datum::Bool(true));
        assert_eq!(c("{1,2,3}", "{}"), Datum::Bool(true));
        assert_eq!(c("{1,2,3}", "{4}"), Datum::Bool(false));
        assert_eq!(c("{1,NULL}", "{NULL}"), Datum::Bool(false));
        let o = |l: &str, r: &str| overlaps(&arr(INT4S, l), &arr(INT4S, r)).expect("compares");
        assert_eq!(o("{1,2}", "{2,3}"), Datum::Bool(true));
        assert_eq!(o("{1,NULL}", "{NULL,3}"), Datum::Bool(false));
        assert_eq!(o("{}", "{}"), Datum::Bool(false));
        assert_eq!(contains(&Datum::Null, &arr(INT4S, "{}")), Ok(Datum::Null));
        let mixed = contains(&arr(INT4S, "{1}"), &arr(TEXTS, "{1}"));
        assert_eq!(mixed.map_err(|e| e.code), Err(code::DATATYPE_MISMATCH));
        let jsonb =
            |t: &str| Datum::Jsonb(crate::jsonb::Jsonb::parse(t).expect("json").into_bytes());
        let docs = Datum::array(
            DataType::Array(&DataType::Jsonb),
            vec![jsonb("{\"a\": 1}"), jsonb("[1, 2]")],
        );
        let probe = Datum::array(DataType::Array(&DataType::Jsonb), vec![jsonb("{\"a\":1}")]);
        assert_eq!(contains(&docs, &probe), Ok(Datum::Bool(true)));
        let json = Datum::array(
            DataType::Array(&DataType::Json),
            vec![Datum::Json("1".into())],
        );
        assert_eq!(
            contains(&json, &json).map_err(|e| e.code),
            Err(code::UNDEFINED_FUNCTION)
        );
    }
}
