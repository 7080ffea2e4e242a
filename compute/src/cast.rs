//! Casts between the types in [`DataType`], as PostgreSQL 15 performs them:
//! which casts exist and in which contexts ([`can_cast`], mirroring
//! `pg_cast`), and what they compute ([`cast`], [`assign`]).
//!
//! # Why this module exists
//!
//! The binder decides where a cast goes and the executor runs it; both must
//! agree with PostgreSQL or clients see different results, different
//! rounding and different errors (DESIGN §3). Each conversion here is the
//! one `pg_cast` names — `numeric_int4` rounds half away from zero,
//! `dtoi4` rounds half to even, `varchar(n)` truncates only on an explicit
//! cast — and casts to and from text go through the types' input and output
//! functions in [`crate::pgtext`], as PostgreSQL's I/O conversion casts do.
//! `compute/tests/types_pg.rs` checks them against a real PostgreSQL.
//!
//! # Contexts
//!
//! PostgreSQL applies a cast implicitly (in expressions), on assignment
//! (`INSERT`, `UPDATE`) or only when written (`CAST`, `::`); [`can_cast`]
//! says which. The binder checks it; [`cast`] and [`assign`] then convert,
//! differing only in `varchar(n)`'s length rule.
//!
//! # Declared types
//!
//! Several types share a [`Datum`] variant (`"char"` and `name` are text,
//! the `reg*` types are oids), and a cast can depend on which it is:
//! `'a'::"char"::int4` is 97, `'a'::text::int4` an error. [`cast_from`] and
//! [`assign_from`] take the declared source type; [`cast`] and [`assign`]
//! assume the datum's own, so only [`cast_from`] and [`assign_from`] trim
//! the padding of a `character(n)` value. Casts between a `reg*` type and text need the
//! catalog and fail here with [`TypeError::NeedsCatalog`].
//!
//! # jsonb
//!
//! Casts involving jsonb use [`crate::pgtext::JsonbHooks`] from the context:
//! json ↔ jsonb through jsonb's input and output, and jsonb to a scalar type
//! by reading the printed scalar, which is what `jsonb_int4` and friends
//! compute. Without hooks they are errors.

use crate::datum::{Array, DataType, Datum, Numeric};
use crate::pgtext::{self, float, TextContext, TypeError};

/// Where PostgreSQL allows a cast (`pg_cast.castcontext`), or that it has
/// none. Ordered from least to most restrictive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CastKind {
    /// Applied anywhere, even inside expressions (`int4` to `int8`).
    Implicit,
    /// Applied when storing into a column, or explicitly (`int8` to `int4`).
    Assignment,
    /// Applied only when written as `CAST` or `::` (`text` to `int4`).
    Explicit,
    /// No cast exists (`uuid` to `bytea`).
    None,
}

impl CastKind {
    /// Returns whether a cast of this kind may be applied in `context`
    /// (one of `Implicit`, `Assignment`, `Explicit`).
    pub fn allowed_in(self, context: CastKind) -> bool {
        debug_assert!(context != CastKind::None, "None is not a context");
        self != CastKind::None && self <= context
    }
}

/// Returns where PostgreSQL allows a cast from `from` to `to`: the entry in
/// `pg_cast`, else an array coercion (element by element, allowed where the
/// element cast is), else the I/O conversion casts (to a string type on
/// assignment, from one explicitly), else none. A type casts to itself
/// implicitly; between `varchar` lengths that is a length coercion.
pub fn can_cast(from: &DataType, to: &DataType) -> CastKind {
    use CastKind::{Assignment, Explicit, Implicit};
    use DataType as T;
    // text, varchar and bpchar (`character(n)`) convert among each other
    // implicitly: binary-coercible, or trimming `character(n)`'s padding
    // (`rtrim1`), or a length coercion.
    let is_string = |t: &DataType| matches!(t, T::Text | T::Varchar { .. } | T::Bpchar { .. });
    if from == to || (is_string(from) && is_string(to)) {
        return Implicit;
    }
    let is_oid = |t: &DataType| *t == T::Oid || t.is_reg();
    match (*from, *to) {
        // oid and the reg* types are binary-compatible with each other and
        // with integer; text reads as a regclass implicitly (`nextval('s')`).
        (T::Int2 | T::Int4 | T::Int8, target) if is_oid(&target) => Implicit,
        (source, T::Int4 | T::Int8) if is_oid(&source) => Assignment,
        (T::Oid, target) if target.is_reg() => Implicit,
        (source, T::Oid) if source.is_reg() => Implicit,
        (T::RegProc, T::RegProcedure) | (T::RegProcedure, T::RegProc) => Implicit,
        (T::Text | T::Varchar { .. }, T::RegClass) => Implicit,
        (T::Text | T::Varchar { .. }, T::Name) | (T::Name, T::Text) => Implicit,
        (T::Name, T::Varchar { .. } | T::Bpchar { .. }) => Assignment,
        (T::Bpchar { .. }, T::Name) => Implicit,
        (T::Char, T::Bpchar { .. }) | (T::Bpchar { .. }, T::Char) => Assignment,
        (T::Char, T::Text) => Implicit,
        (T::Char, T::Varchar { .. }) | (T::Text | T::Varchar { .. }, T::Char) => Assignment,
        (T::Int4, T::Char) | (T::Char, T::Int4) => Explicit,
        // Arrays coerce element by element; a vector is an array of its
        // element here, but no array becomes a vector.
        (T::Array(a), T::Array(b)) => can_cast(a, b),
        (T::Int2Vector | T::OidVector, T::Array(b)) => {
            can_cast(&from.elem().expect("vectors have elements"), b)
        }
        // Integers widen implicitly and narrow on assignment.
        (T::Int2, T::Int4 | T::Int8) | (T::Int4, T::Int8) => Implicit,
        (T::Int8, T::Int2 | T::Int4) | (T::Int4, T::Int2) => Assignment,
        (T::Int2 | T::Int4 | T::Int8, T::Float4 | T::Float8 | T::Numeric) => Implicit,
        (T::Float4 | T::Float8, T::Int2 | T::Int4 | T::Int8) => Assignment,
        (T::Float4, T::Float8) => Implicit,
        (T::Float8, T::Float4) => Assignment,
        (T::Float4 | T::Float8, T::Numeric) => Assignment,
        (T::Numeric, T::Int2 | T::Int4 | T::Int8) => Assignment,
        (T::Numeric, T::Float4 | T::Float8) => Implicit,
        (T::Int4, T::Bool) | (T::Bool, T::Int4) => Explicit,
        (T::Date, T::Timestamp | T::TimestampTz) | (T::Timestamp, T::TimestampTz) => Implicit,
        (T::Timestamp | T::TimestampTz, T::Date) | (T::TimestampTz, T::Timestamp) => Assignment,
        (T::Json, T::Jsonb) | (T::Jsonb, T::Json) => Assignment,
        (T::Jsonb, T::Bool | T::Numeric | T::Int2 | T::Int4 | T::Int8 | T::Float4 | T::Float8) => {
            Explicit
        }
        // I/O conversion: any type prints to a string on assignment, and a
        // string reads as any type when asked explicitly.
        (_, T::Text | T::Varchar { .. } | T::Bpchar { .. } | T::Name) => Assignment,
        (T::Text | T::Varchar { .. } | T::Bpchar { .. } | T::Name, _) => Explicit,
        _ => CastKind::None,
    }
}

/// Casts `d` to `to` as an explicit cast (`CAST(d AS to)`, `d::to`) does;
/// `varchar(n)` truncates longer text. NULL casts to NULL. Fails with
/// [`TypeError::CannotCast`] where [`can_cast`] says `None`.
///
/// The source type is the datum's own ([`Datum::data_type`]): `text` for a
/// [`Datum::Text`], `oid` for a [`Datum::Oid`]. Where the declared type
/// matters (`"char"` to `integer`, a `reg*` type), use [`cast_from`].
pub fn cast(d: Datum, to: &DataType, ctx: &TextContext) -> Result<Datum, TypeError> {
    convert(d, None, to, ctx, true)
}

/// Casts `d` to `to` as storing into a column of type `to` does (implicit
/// and assignment casts): like [`cast`], but text too long for
/// `varchar(n)` is an error unless the excess is spaces. The binder checks
/// [`can_cast`] allows the cast on assignment before calling this.
pub fn assign(d: Datum, to: &DataType, ctx: &TextContext) -> Result<Datum, TypeError> {
    convert(d, None, to, ctx, false)
}

/// Like [`cast`], for a value of the declared type `from`, which must hold
/// its values in `d`'s variant ([`DataType::value_type`]). A `reg*` value
/// cast to a string type, and a name cast to a `reg*` type, need the
/// catalog: they fail with [`TypeError::NeedsCatalog`], and the SQL layer
/// routes them through `sql::pg_catalog` instead.
pub fn cast_from(
    d: Datum,
    from: &DataType,
    to: &DataType,
    ctx: &TextContext,
) -> Result<Datum, TypeError> {
    convert(d, Some(from), to, ctx, true)
}

/// Like [`assign`], for a value of the declared type `from` (see
/// [`cast_from`]).
pub fn assign_from(
    d: Datum,
    from: &DataType,
    to: &DataType,
    ctx: &TextContext,
) -> Result<Datum, TypeError> {
    convert(d, Some(from), to, ctx, false)
}

fn cannot_cast(from: DataType, to: &DataType) -> TypeError {
    TypeError::CannotCast {
        from: from.format_type(),
        to: to.format_type(),
    }
}

fn convert(
    d: Datum,
    from: Option<&DataType>,
    to: &DataType,
    ctx: &TextContext,
    explicit: bool,
) -> Result<Datum, TypeError> {
    use DataType as T;
    let Some(held) = d.data_type() else {
        return Ok(Datum::Null);
    };
    let from = from.copied().unwrap_or(held);
    debug_assert_eq!(from.value_type(), held, "a {from:?} value held as {held:?}");
    if can_cast(&from, to) == CastKind::None {
        return Err(cannot_cast(from, to));
    }
    // Strings: to a string through the output function, from one through
    // the input function. `character(n)` loses its padding on the way to
    // another string type, and pads (or is cut) to its own length.
    if let T::Text | T::Varchar { .. } | T::Bpchar { .. } | T::Name = to {
        if from.is_reg() {
            return Err(TypeError::NeedsCatalog {
                type_name: from.name(),
                input: pgtext::format(&d, ctx),
            });
        }
        let text = match d {
            Datum::Text(s)
                if matches!(from, T::Bpchar { .. }) && !matches!(to, T::Bpchar { .. }) =>
            {
                pgtext::bpchar_text(&s).to_owned()
            }
            Datum::Text(s) | Datum::Json(s) => s,
            // `booltext` spells the words out, unlike `boolout`.
            Datum::Bool(b) => (if b { "true" } else { "false" }).to_owned(),
            Datum::Jsonb(bytes) => {
                let hooks = ctx.jsonb.ok_or(TypeError::Unsupported {
                    what: "jsonb output without the jsonb module's hooks",
                })?;
                (hooks.format)(&bytes)
            }
            other => pgtext::format(&other, ctx),
        };
        return Ok(match *to {
            T::Varchar { max_chars } => {
                Datum::Text(pgtext::coerce_varchar(&text, max_chars, explicit)?.to_owned())
            }
            T::Bpchar { max_chars } => {
                Datum::Text(pgtext::coerce_bpchar(&text, max_chars, explicit)?)
            }
            T::Name => Datum::Text(pgtext::truncate_name(&text).to_owned()),
            _ => Datum::Text(text),
        });
    }
    // `"char"` is a byte: text gives its first (`text_char`), an integer
    // its signed value (`i4tochar`), and back (`chartoi4`).
    match (&d, *to) {
        (Datum::Text(s), T::Char) => return Ok(Datum::Text(pgtext::char_from_text(s))),
        (&Datum::Int4(v), T::Char) => {
            let byte = i8::try_from(v).map_err(|_| TypeError::IntegerOutOfRange {
                type_name: "\"char\"",
            })?;
            return Ok(Datum::Text(pgtext::char_text(byte as u8)));
        }
        (Datum::Text(s), T::Int4) if from == T::Char => {
            return Ok(Datum::Int4(i32::from(pgtext::char_byte(s) as i8)))
        }
        _ => {}
    }
    let d = match d {
        // `text_regclass` looks the text up as a name, digits included,
        // unlike `regclassin`.
        Datum::Text(s) if *to == T::RegClass => {
            return Err(TypeError::NeedsCatalog {
                type_name: to.name(),
                input: s,
            })
        }
        Datum::Text(s) => return pgtext::parse(to, &s, ctx),
        other => other,
    };
    if d.data_type() == Some(*to) {
        return Ok(d);
    }
    // Between oid and the reg* types the value stays as it is.
    if let Datum::Oid(_) = d {
        if to.value_type() == T::Oid {
            return Ok(d);
        }
    }
    Ok(match (d, *to) {
        // `int4` and `oid` reinterpret each other's bits (-1 is 4294967295);
        // `int8` must be in the unsigned range (`i8tooid`).
        (Datum::Int2(v), target) if target.value_type() == T::Oid => {
            Datum::Oid(i32::from(v) as u32)
        }
        (Datum::Int4(v), target) if target.value_type() == T::Oid => Datum::Oid(v as u32),
        (Datum::Int8(v), target) if target.value_type() == T::Oid => Datum::Oid(
            u32::try_from(v).map_err(|_| TypeError::IntegerOutOfRange { type_name: "OID" })?,
        ),
        (Datum::Oid(v), T::Int4) => Datum::Int4(v as i32),
        (Datum::Oid(v), T::Int8) => Datum::Int8(i64::from(v)),
        // Arrays convert element by element and keep their bounds.
        (Datum::Array(array), target @ T::Array(elem)) => {
            let lower_bound = array.lower_bound();
            let from_elem = array.elem_type();
            let items = array
                .into_items()
                .into_iter()
                .map(|item| convert(item, Some(&from_elem), elem, ctx, explicit))
                .collect::<Result<Vec<_>, _>>()?;
            Datum::Array(Box::new(Array::with_lower_bound(
                target,
                lower_bound,
                items,
            )))
        }
        (Datum::Int2(v), target) => from_i64(i64::from(v), from, target)?,
        (Datum::Int4(v), T::Bool) => Datum::Bool(v != 0),
        (Datum::Int4(v), target) => from_i64(i64::from(v), from, target)?,
        (Datum::Int8(v), target) => from_i64(v, from, target)?,
        (Datum::Bool(b), T::Int4) => Datum::Int4(i32::from(b)),
        (Datum::Float4(v), T::Float8) => Datum::Float8(f64::from(v)),
        (Datum::Float4(v), T::Numeric) => Datum::Numeric(float_to_numeric(f64::from(v), 6)?),
        (Datum::Float4(v), target) => {
            // `ftoi4` and friends round in single precision.
            from_float(f64::from(v.round_ties_even()), from, target)?
        }
        (Datum::Float8(v), T::Float4) => Datum::Float4(float8_to_float4(v)?),
        (Datum::Float8(v), T::Numeric) => Datum::Numeric(float_to_numeric(v, 15)?),
        (Datum::Float8(v), target) => from_float(v.round_ties_even(), from, target)?,
        (Datum::Numeric(n), target) => from_numeric(&n, target)?,
        (Datum::Date(v), T::Timestamp) => Datum::Timestamp(pgtext::date_to_timestamp(v)?),
        (Datum::Date(v), T::TimestampTz) => {
            Datum::TimestampTz(pgtext::date_to_timestamptz(v, ctx.time_zone)?)
        }
        (Datum::Timestamp(v), T::Date) => Datum::Date(pgtext::timestamp_to_date(v)?),
        (Datum::Timestamp(v), T::TimestampTz) => {
            Datum::TimestampTz(pgtext::timestamp_to_timestamptz(v, ctx.time_zone)?)
        }
        (Datum::TimestampTz(v), T::Date) => {
            Datum::Date(pgtext::timestamptz_to_date(v, ctx.time_zone)?)
        }
        (Datum::TimestampTz(v), T::Timestamp) => {
            Datum::Timestamp(pgtext::timestamptz_to_timestamp(v, ctx.time_zone)?)
        }
        (Datum::Json(s), T::Jsonb) => pgtext::parse(&T::Jsonb, &s, ctx)?,
        (Datum::Jsonb(bytes), target) => {
            let hooks = ctx.jsonb.ok_or(TypeError::Unsupported {
                what: "casts from jsonb without the jsonb module's hooks",
            })?;
            jsonb_to(&(hooks.format)(&bytes), target)?
        }
        (other, target) => {
            return Err(cannot_cast(
                other.data_type().expect("NULL returned early"),
                &target,
            ))
        }
    })
}

/// Integer to integer (`int84`, `i4toi2`, …), float or numeric.
fn from_i64(v: i64, from: DataType, to: DataType) -> Result<Datum, TypeError> {
    Ok(match to {
        DataType::Int2 => {
            Datum::Int2(i16::try_from(v).map_err(|_| TypeError::IntegerOutOfRange {
                type_name: "smallint",
            })?)
        }
        DataType::Int4 => {
            Datum::Int4(i32::try_from(v).map_err(|_| TypeError::IntegerOutOfRange {
                type_name: "integer",
            })?)
        }
        DataType::Int8 => Datum::Int8(v),
        // C's conversions round to nearest, ties to even, as Rust's `as`.
        DataType::Float4 => Datum::Float4(v as f32),
        DataType::Float8 => Datum::Float8(v as f64),
        DataType::Numeric => Datum::Numeric(Numeric::from(v)),
        other => return Err(cannot_cast(from, &other)),
    })
}

/// A float already rounded to an integral value (`rint`) to an integer
/// type: NaN and values outside the range fail (`dtoi4`, `ftoi8`, …).
fn from_float(rounded: f64, from: DataType, to: DataType) -> Result<Datum, TypeError> {
    // The bounds are powers of two, exact in f64: `FLOAT8_FITS_IN_INT32`.
    let (min, type_name) = match to {
        DataType::Int2 => (f64::from(i16::MIN), "smallint"),
        DataType::Int4 => (f64::from(i32::MIN), "integer"),
        DataType::Int8 => (i64::MIN as f64, "bigint"),
        other => return Err(cannot_cast(from, &other)),
    };
    if rounded.is_nan() || rounded < min || rounded >= -min {
        return Err(TypeError::IntegerOutOfRange { type_name });
    }
    from_i64(rounded as i64, DataType::Int8, to)
}

/// `float8_float4`: fails where the value overflows to infinity or
/// underflows to zero in single precision.
fn float8_to_float4(v: f64) -> Result<f32, TypeError> {
    let narrowed = v as f32;
    if narrowed.is_infinite() && !v.is_infinite() {
        return Err(TypeError::FloatOverflow);
    }
    if narrowed == 0.0 && v != 0.0 {
        return Err(TypeError::FloatUnderflow);
    }
    Ok(narrowed)
}

/// `float8_numeric` and `float4_numeric`: the value printed with `%.{n}g`
/// (15 digits for double, 6 for real), read as a numeric.
fn float_to_numeric(v: f64, significant: usize) -> Result<Numeric, TypeError> {
    if v.is_nan() {
        return Ok(Numeric::nan());
    }
    if v.is_infinite() {
        return Ok(if v > 0.0 {
            Numeric::infinity()
        } else {
            Numeric::neg_infinity()
        });
    }
    pgtext::parse_numeric(&float::format_g(v, significant))
}

/// Numeric to an integer type (rounding half away from zero, as
/// `numeric_int4`), or to a float through its text (`numeric_float8`).
fn from_numeric(n: &Numeric, to: DataType) -> Result<Datum, TypeError> {
    let type_name = match to {
        DataType::Int2 => "smallint",
        DataType::Int4 => "integer",
        DataType::Int8 => "bigint",
        DataType::Float4 => {
            return Ok(Datum::Float4(if n.is_finite() {
                float::parse_float4(&n.to_string())?
            } else {
                special_float(n) as f32
            }))
        }
        DataType::Float8 => {
            return Ok(Datum::Float8(if n.is_finite() {
                float::parse_float8(&n.to_string())?
            } else {
                special_float(n)
            }))
        }
        other => return Err(cannot_cast(DataType::Numeric, &other)),
    };
    if !n.is_finite() {
        return Err(TypeError::NumericSpecialToInteger {
            what: if n.is_nan() { "NaN" } else { "infinity" },
            type_name,
        });
    }
    let out_of_range = TypeError::IntegerOutOfRange { type_name };
    let rounded = round_numeric_to_i128(n).ok_or(out_of_range.clone())?;
    let v = i64::try_from(rounded).map_err(|_| out_of_range)?;
    from_i64(v, DataType::Numeric, to)
}

fn special_float(n: &Numeric) -> f64 {
    if n.is_nan() {
        f64::NAN
    } else if *n > Numeric::zero() {
        f64::INFINITY
    } else {
        f64::NEG_INFINITY
    }
}

/// Most integer digits a numeric may have and still be rounded into i128
/// here; anything longer is out of every integer type's range.
const ROUNDED_DIGITS_MAX: usize = 30;

/// Rounds a finite numeric to an integer, half away from zero; `None` if it
/// has more than [`ROUNDED_DIGITS_MAX`] integer digits.
fn round_numeric_to_i128(n: &Numeric) -> Option<i128> {
    let text = n.to_string();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int_part, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.len() > ROUNDED_DIGITS_MAX {
        return None;
    }
    let mut magnitude: i128 = int_part.parse().expect("numeric prints decimal digits");
    if fraction.as_bytes().first().is_some_and(|&d| d >= b'5') {
        magnitude += 1;
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// jsonb to a scalar type, from the jsonb's printed text: `jsonb_bool`,
/// `jsonb_numeric`, `jsonb_int4` (the numeric, then `numeric_int4`), …
fn jsonb_to(text: &str, to: DataType) -> Result<Datum, TypeError> {
    let kind = pgtext::json_kind(text);
    let wrong_kind = || TypeError::JsonbScalarCast {
        kind,
        type_name: to.format_type(),
    };
    match to {
        DataType::Json => Ok(Datum::Json(text.to_owned())),
        DataType::Bool => match kind {
            "boolean" => Ok(Datum::Bool(text.trim() == "true")),
            _ => Err(wrong_kind()),
        },
        DataType::Numeric
        | DataType::Int2
        | DataType::Int4
        | DataType::Int8
        | DataType::Float4
        | DataType::Float8 => {
            if kind != "numeric" {
                return Err(wrong_kind());
            }
            let n = pgtext::parse_numeric(text.trim())?;
            if to == DataType::Numeric {
                Ok(Datum::Numeric(n))
            } else {
                from_numeric(&n, to)
            }
        }
        other => Err(cannot_cast(DataType::Jsonb, &other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtext::TimeZone;

    fn ctx() -> TextContext {
        TextContext::default()
    }

    fn num(text: &str) -> Datum {
        Datum::Numeric(text.parse().expect("numeric literal"))
    }

    fn printed(d: Datum, to: DataType) -> String {
        let out = cast(d, &to, &ctx()).expect("casts");
        pgtext::format(&out, &ctx())
    }

    #[test]
    fn numeric_rounds_half_away_from_zero_and_floats_half_to_even() {
        assert_eq!(printed(num("2.5"), DataType::Int4), "3");
        assert_eq!(printed(num("-2.5"), DataType::Int4), "-3");
        assert_eq!(printed(num("-0.4"), DataType::Int4), "0");
        assert_eq!(printed(Datum::Float8(2.5), DataType::Int4), "2");
        assert_eq!(printed(Datum::Float8(3.5), DataType::Int4), "4");
        assert_eq!(printed(Datum::Float4(-2.5), DataType::Int2), "-2");
        let err = cast(num("NaN"), &DataType::Int4, &ctx()).expect_err("NaN");
        assert_eq!(err.sqlstate(), "0A000");
        let err = cast(Datum::Float8(3e9), &DataType::Int4, &ctx()).expect_err("too big");
        assert_eq!(err.to_string(), "integer out of range");
        let err = cast(num("1e40"), &DataType::Int8, &ctx()).expect_err("too big");
        assert_eq!(err.to_string(), "bigint out of range");
    }

    #[test]
    fn varchar_truncates_only_when_explicit() {
        let to = DataType::Varchar { max_chars: Some(3) };
        let long = Datum::Text("abcdef".into());
        assert_eq!(
            cast(long.clone(), &to, &ctx()),
            Ok(Datum::Text("abc".into()))
        );
        let err = assign(long, &to, &ctx()).expect_err("too long");
        assert_eq!(err.sqlstate(), "22001");
        assert_eq!(
            assign(Datum::Text("ab   ".into()), &to, &ctx()),
            Ok(Datum::Text("ab ".into()))
        );
        assert_eq!(
            cast(Datum::Int4(12345), &to, &ctx()),
            Ok(Datum::Text("123".into()))
        );
    }

    #[test]
    fn zones_apply_to_timestamp_casts() {
        let ctx = TextContext::with_time_zone(
            TimeZone::from_utc_offset_secs(-8 * 3600).expect("in range"),
        );
        let ts =
            pgtext::parse(&DataType::TimestampTz, "2024-01-02 03:04:05+00", &ctx).expect("parses");
        let local = cast(ts.clone(), &DataType::Timestamp, &ctx).expect("casts");
        assert_eq!(pgtext::format(&local, &ctx), "2024-01-01 19:04:05");
        let date = cast(ts, &DataType::Date, &ctx).expect("casts");
        assert_eq!(pgtext::format(&date, &ctx), "2024-01-01");
        let back = cast(local, &DataType::TimestampTz, &ctx).expect("casts");
        assert_eq!(pgtext::format(&back, &ctx), "2024-01-01 19:04:05-08");
    }

    #[test]
    fn cast_kinds_mirror_pg_cast() {
        use CastKind::{Assignment, Explicit, Implicit};
        use DataType as T;
        let varchar = T::Varchar { max_chars: None };
        let cases = [
            (T::Int4, T::Int8, Implicit),
            (T::Int8, T::Int4, Assignment),
            (T::Numeric, T::Int4, Assignment),
            (T::Int4, T::Numeric, Implicit),
            (T::Float8, T::Numeric, Assignment),
            (T::Numeric, T::Float8, Implicit),
            (T::Bool, T::Int4, Explicit),
            (T::Bool, T::Int8, CastKind::None),
            (T::Text, varchar, Implicit),
            (varchar, T::Text, Implicit),
            (T::Int4, T::Text, Assignment),
            (T::Text, T::Int4, Explicit),
            (T::Date, T::TimestampTz, Implicit),
            (T::TimestampTz, T::Timestamp, Assignment),
            (T::Json, T::Jsonb, Assignment),
            (T::Jsonb, T::Int4, Explicit),
            (T::Uuid, T::Bytea, CastKind::None),
            (T::Interval, T::Interval, Implicit),
            (T::Int4, T::Oid, Implicit),
            (T::Int8, T::RegClass, Implicit),
            (T::Oid, T::Int4, Assignment),
            (T::RegType, T::Int8, Assignment),
            (T::Oid, T::RegClass, Implicit),
            (T::RegClass, T::Oid, Implicit),
            (T::RegClass, T::RegType, CastKind::None),
            (T::RegProc, T::RegProcedure, Implicit),
            (T::Text, T::RegClass, Implicit),
            (T::Text, T::RegType, Explicit),
            (T::RegType, T::Text, Assignment),
            (T::Text, T::Name, Implicit),
            (varchar, T::Name, Implicit),
            (T::Name, T::Text, Implicit),
            (T::Name, varchar, Assignment),
            (T::Name, T::Int4, Explicit),
            (T::Int4, T::Name, Assignment),
            (T::Char, T::Text, Implicit),
            (T::Text, T::Char, Assignment),
            (T::Int4, T::Char, Explicit),
            (T::Char, T::Int8, CastKind::None),
            (T::Name, T::Char, Explicit),
            (T::Array(&T::Int4), T::Array(&T::Int8), Implicit),
            (T::Array(&T::Int8), T::Array(&T::Int4), Assignment),
            (T::Array(&T::Int4), T::Array(&T::Text), Assignment),
            (T::Array(&T::Text), T::Array(&T::Int4), Explicit),
            (T::Array(&T::Uuid), T::Array(&T::Bytea), CastKind::None),
            (T::Array(&T::Int4), T::Text, Assignment),
            (T::Text, T::Array(&T::Int4), Explicit),
            (T::Int2Vector, T::Array(&T::Int2), Implicit),
            (T::OidVector, T::Array(&T::Oid), Implicit),
            (T::Array(&T::Int2), T::Int2Vector, CastKind::None),
            (T::Int4, T::Array(&T::Int4), CastKind::None),
        ];
        for (from, to, kind) in cases {
            assert_eq!(can_cast(&from, &to), kind, "{from} -> {to}");
        }
        assert!(Assignment.allowed_in(Explicit));
        assert!(!Explicit.allowed_in(Assignment));
        assert!(!CastKind::None.allowed_in(Explicit));
    }

    #[test]
    fn catalog_types_convert_as_postgres() {
        let c = |d: Datum, from: DataType, to: DataType| {
            cast_from(d, &from, &to, &ctx()).map(|out| pgtext::format(&out, &ctx()))
        };
        assert_eq!(
            c(Datum::Int2(-1), DataType::Int2, DataType::Oid),
            Ok("4294967295".into())
        );
        assert_eq!(
            c(Datum::Int4(-1), DataType::Int4, DataType::RegClass),
            Ok("4294967295".into())
        );
        assert_eq!(
            c(Datum::Int8(-1), DataType::Int8, DataType::Oid),
            Err(TypeError::IntegerOutOfRange { type_name: "OID" })
        );
        assert_eq!(
            c(Datum::Int8(4294967295), DataType::Int8, DataType::Oid),
            Ok("4294967295".into())
        );
        assert_eq!(
            c(Datum::Oid(u32::MAX), DataType::Oid, DataType::Int4),
            Ok("-1".into())
        );
        assert_eq!(
            c(Datum::Oid(u32::MAX), DataType::Oid, DataType::Int8),
            Ok("4294967295".into())
        );
        assert_eq!(
            c(Datum::Oid(5), DataType::Oid, DataType::RegType),
            Ok("5".into())
        );
        assert!(matches!(
            c(Datum::Oid(5), DataType::RegClass, DataType::Text),
            Err(TypeError::NeedsCatalog {
                type_name: "regclass",
                ..
            })
        ));
        assert!(matches!(
            c(
                Datum::Text("events".into()),
                DataType::Text,
                DataType::RegClass
            ),
            Err(TypeError::NeedsCatalog { .. })
        ));
        assert!(matches!(
            c(
                Datum::Text("16385".into()),
                DataType::Text,
                DataType::RegClass
            ),
            Err(TypeError::NeedsCatalog { .. })
        ));
        assert_eq!(
            c(Datum::Text("007".into()), DataType::Text, DataType::RegType),
            Ok("7".into())
        );
        assert_eq!(
            c(Datum::Text("é".into()), DataType::Char, DataType::Int4),
            Ok("-61".into())
        );
        assert_eq!(
            c(Datum::Text("é".into()), DataType::Text, DataType::Char),
            Ok("\\303".into())
        );
        assert_eq!(
            c(Datum::Int4(-56), DataType::Int4, DataType::Char),
            Ok("\\310".into())
        );
        assert_eq!(
            c(Datum::Int4(200), DataType::Int4, DataType::Char),
            Err(TypeError::IntegerOutOfRange {
                type_name: "\"char\""
            })
        );
        assert_eq!(
            c(Datum::Text("abc".into()), DataType::Name, DataType::Char),
            Ok("a".into())
        );
        assert_eq!(
            c(Datum::Text("x".repeat(70)), DataType::Text, DataType::Name),
            Ok("x".repeat(63))
        );
        let vector = Datum::array(DataType::Int2Vector, vec![Datum::Int2(1), Datum::Int2(2)]);
        assert_eq!(
            c(
                vector,
                DataType::Int2Vector,
                DataType::Array(&DataType::Int2)
            ),
            Ok("[0:1]={1,2}".into())
        );
        let ints = Datum::array(
            DataType::Array(&DataType::Int4),
            vec![Datum::Int4(1), Datum::Null],
        );
        assert_eq!(
            c(
                ints.clone(),
                DataType::Array(&DataType::Int4),
                DataType::Array(&DataType::Int8)
            ),
            Ok("{1,NULL}".into())
        );
        assert_eq!(
            c(ints, DataType::Array(&DataType::Int4), DataType::Text),
            Ok("{1,NULL}".into())
        );
        assert_eq!(
            c(
                Datum::Text("{a}".into()),
                DataType::Text,
                DataType::Array(&DataType::Int4)
            ),
            Err(TypeError::InvalidSyntax {
                type_name: "integer",
                input: "a".into()
            })
        );
    }

    #[test]
    fn every_allowed_cast_is_implemented() {
        // A cast can_cast allows must never hit CannotCast, whatever the value.
        let samples = [
            Datum::Bool(true),
            Datum::Int2(7),
            Datum::Int4(7),
            Datum::Int8(7),
            Datum::Float4(7.0),
            Datum::Float8(7.0),
            num("7"),
            Datum::Text("7".into()),
            Datum::Bytea(vec![7]),
            Datum::Date(0),
            Datum::Timestamp(0),
            Datum::TimestampTz(0),
            Datum::Interval {
                months: 0,
                days: 7,
                micros: 0,
            },
            Datum::Uuid([7; 16]),
            Datum::Json("7".into()),
            Datum::Oid(7),
            Datum::array(DataType::Array(&DataType::Int4), vec![Datum::Int4(7)]),
            Datum::array(
                DataType::Array(&DataType::Text),
                vec![Datum::Text("7".into())],
            ),
            Datum::array(DataType::Int2Vector, vec![Datum::Int2(7)]),
            Datum::array(DataType::OidVector, vec![Datum::Oid(7)]),
        ];
        let declared = [
            (DataType::Name, Datum::Text("7".into())),
            (DataType::Char, Datum::Text("7".into())),
            (DataType::RegClass, Datum::Oid(7)),
            (DataType::RegProcedure, Datum::Oid(7)),
        ];
        let typed = samples
            .into_iter()
            .map(|d| (d.data_type().expect("not NULL"), d))
            .chain(declared);
        for (from, d) in typed {
            for to in DataType::ALL {
                let result = cast_from(d.clone(), &from, &to, &ctx());
                let cannot = matches!(result, Err(TypeError::CannotCast { .. }));
                assert_eq!(
                    cannot,
                    can_cast(&from, &to) == CastKind::None,
                    "{from} -> {to}: {result:?}"
                );
            }
        }
        assert_eq!(cast(Datum::Null, &DataType::Uuid, &ctx()), Ok(Datum::Null));
    }
}
