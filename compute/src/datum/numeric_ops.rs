//! Arithmetic on [`Numeric`], digit for digit as PostgreSQL 15 computes it:
//! the operators, `round`/`trunc`/`ceil`/`floor`, `sqrt`, `exp`, `ln`,
//! `log`, `power`, the conversions to and from `float8` and `bigint`, and
//! the running sums behind `sum()` and `avg()`.
//!
//! # Why this follows numeric.c algorithm by algorithm
//!
//! Clients compare our output with PostgreSQL's as text, so "close" is
//! wrong. Add, subtract, multiply, divide, modulo, round and sqrt have exact
//! answers (PostgreSQL rounds the exact quotient or root half away from
//! zero), but `exp`, `ln`, `log` and `power` with a fractional exponent are
//! approximations whose digits depend on every intermediate truncation: the
//! base-10000 digit boundaries, the guard digits of the truncated multiply
//! and of the floating-point-estimated division, the working scales chosen
//! from `f64` estimates. So this module works on `Var`, the counterpart of
//! PostgreSQL's `NumericVar` (base 10000 "NBASE" digits, a weight and a
//! display scale), and implements each routine of
//! `src/backend/utils/adt/numeric.c` (PostgreSQL 15) with the same steps,
//! constants and scale rules. Function names keep numeric.c's (`mul_var` is
//! `Var::mul`, `div_var_fast` is `Var::div_fast`, …) so the two can be
//! read side by side; `tests/numeric_pg.rs` checks the results against a
//! real PostgreSQL 15.
//!
//! # Result scales (digits after the point)
//!
//! | operation | display scale |
//! |-----------|---------------|
//! | `+`, `-`, `%` | max of the inputs' |
//! | `*` | sum of the inputs' (rounded at [`NUMERIC_MAX_SCALE`]) |
//! | `/` | `select_div_scale`: 16 significant digits, at least max of the inputs', 0..=1000 |
//! | `div(a, b)`, `ceil`, `floor`, `sign` | 0 |
//! | `round(x, s)`, `trunc(x, s)` | `s`, at least 0 and at most [`NUMERIC_MAX_SCALE`] |
//! | `sqrt`, `exp`, `ln`, `log`, `power` | about 16 significant digits (from a weight estimate), at least the inputs', at most 1000 |
//! | `power` with an int4 exponent | 16, or the base's if more, at most 1000 (so `0.5 ^ 100` is 0.0000000000000000) |
//!
//! # Special values
//!
//! NaN and ±Infinity follow numeric.c (which follows POSIX where it can):
//! NaN wins over everything except `NaN ^ 0 = 1` and `1 ^ NaN = 1`;
//! `Infinity - Infinity`, `Infinity * 0` and `Infinity / Infinity` are NaN;
//! a finite value divided by an infinity is 0; `Infinity % x` is NaN and
//! `x % Infinity` is `x`. Division by zero is an error even for an infinite
//! dividend, but NaN divided by zero is NaN.
//!
//! # Limits
//!
//! Every result is checked against numeric's storage limits
//! ([`NUMERIC_MAX_INT_DIGITS`] before the point, [`NUMERIC_MAX_SCALE`]
//! after) when it becomes a [`Numeric`] again, as PostgreSQL's
//! `make_result`; beyond them is [`NumericOpError::Overflow`]. Intermediate
//! values may exceed them, as `NumericVar`s do.

use std::cmp::Ordering;

use super::{Numeric, NumericRepr, NUMERIC_MAX_INT_DIGITS, NUMERIC_MAX_SCALE};

/// The base of [`Var`] digits: PostgreSQL's `NBASE`.
const NBASE: i32 = 10_000;
/// `HALF_NBASE`: a digit at least this rounds up.
const HALF_NBASE: i32 = NBASE / 2;
/// Decimal digits per NBASE digit: `DEC_DIGITS`.
const DEC_DIGITS: i32 = 4;
/// Extra NBASE digits a truncated multiplication keeps: `MUL_GUARD_DIGITS`.
const MUL_GUARD_DIGITS: i32 = 2;
/// Extra NBASE digits `div_var_fast` computes: `DIV_GUARD_DIGITS`.
const DIV_GUARD_DIGITS: i32 = 4;
/// `round_powers`: what one unit of the last kept decimal digit is worth
/// inside its NBASE digit, by the number of decimal digits kept there.
const ROUND_POWERS: [i32; 4] = [0, 1000, 100, 10];

/// Significant digits a computed result has at least, so numeric is no less
/// accurate than float8: `NUMERIC_MIN_SIG_DIGITS`.
const NUMERIC_MIN_SIG_DIGITS: i32 = 16;
/// Smallest display scale a computed result gets: `NUMERIC_MIN_DISPLAY_SCALE`.
const NUMERIC_MIN_DISPLAY_SCALE: i32 = 0;
/// Largest display scale a computed result gets (division, sqrt, exp, ln,
/// log, power): `NUMERIC_MAX_DISPLAY_SCALE`, which is numeric's maximum
/// declared precision.
const NUMERIC_MAX_DISPLAY_SCALE: i32 = 1000;
/// Bound on the magnitude of `exp`'s decimal weight estimate (and, times
/// three, of its argument): `NUMERIC_MAX_RESULT_SCALE`.
const NUMERIC_MAX_RESULT_SCALE: i32 = NUMERIC_MAX_DISPLAY_SCALE * 2;
/// Largest NBASE weight a stored numeric has (`int16` on disk).
const NUMERIC_WEIGHT_MAX: i32 = i16::MAX as i32;
/// Largest display scale a stored numeric has: `NUMERIC_DSCALE_MAX`.
const NUMERIC_DSCALE_MAX: i32 = NUMERIC_MAX_SCALE as i32;
/// [`NUMERIC_MAX_INT_DIGITS`] as numeric.c computes it,
/// `(NUMERIC_WEIGHT_MAX + 1) * DEC_DIGITS`.
const NUMERIC_MAX_INT_DIGITS_I32: i32 = (NUMERIC_WEIGHT_MAX + 1) * DEC_DIGITS;
/// `SHRT_MAX`, which numeric.c uses for early overflow tests in `power`.
const SHRT_MAX: i32 = i16::MAX as i32;

// numeric.c's own 15-digit literals for log10(e), log10(2) and ln(10). The
// working scales truncate estimates made with them to integers, so a more
// precise constant could move a scale by one at a boundary and change the
// last digit of a result.
/// log10(e) as numeric.c writes it.
#[allow(clippy::approx_constant)]
const LOG10_E: f64 = 0.434294481903252;
/// log10(2) as numeric.c writes it.
#[allow(clippy::approx_constant)]
const LOG10_2: f64 = 0.301029995663981;
/// ln(10) as numeric.c writes it.
#[allow(clippy::approx_constant)]
const LN_10: f64 = 2.302585092994046;

// The decimal limits in datum.rs and the NBASE limits here describe the
// same storage format.
const _: () = assert!((NUMERIC_WEIGHT_MAX + 1) * DEC_DIGITS == NUMERIC_MAX_INT_DIGITS as i32);
const _: () = assert!(NUMERIC_DSCALE_MAX == 0x3FFF);
const _: () = assert!(NBASE == 10_i32.pow(DEC_DIGITS as u32));

/// SQLSTATE codes of numeric arithmetic errors (`errcodes.txt`).
pub mod sqlstate {
    /// `division_by_zero`.
    pub const DIVISION_BY_ZERO: &str = "22012";
    /// `numeric_value_out_of_range`.
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    /// `invalid_argument_for_logarithm`.
    pub const INVALID_ARGUMENT_FOR_LOG: &str = "2201E";
    /// `invalid_argument_for_power_function`.
    pub const INVALID_ARGUMENT_FOR_POWER_FUNCTION: &str = "2201F";
    /// `feature_not_supported`.
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
}

/// An error from numeric arithmetic, with PostgreSQL's message text; the
/// SQLSTATE is [`NumericOpError::sqlstate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumericOpError {
    /// Division or modulo by zero (22012).
    #[error("division by zero")]
    DivisionByZero,
    /// The result is beyond numeric's limits (22003).
    #[error("value overflows numeric format")]
    Overflow,
    /// A conversion to an integer type out of its range (22003), such as
    /// "bigint out of range".
    #[error("{type_name} out of range")]
    IntegerOutOfRange {
        /// `smallint`, `integer` or `bigint`.
        type_name: &'static str,
    },
    /// NaN or an infinity converted to an integer type (0A000).
    #[error("cannot convert {what} to {type_name}")]
    SpecialToInteger {
        /// `NaN` or `infinity`.
        what: &'static str,
        /// `smallint`, `integer` or `bigint`.
        type_name: &'static str,
    },
    /// `sqrt` of a negative number (2201F).
    #[error("cannot take square root of a negative number")]
    SqrtOfNegative,
    /// `ln` or `log` of a negative number (2201E).
    #[error("cannot take logarithm of a negative number")]
    LogOfNegative,
    /// `ln` or `log` of zero (2201E).
    #[error("cannot take logarithm of zero")]
    LogOfZero,
    /// `0 ^ x` with `x < 0` (2201F).
    #[error("zero raised to a negative power is undefined")]
    ZeroToNegativePower,
    /// `x ^ y` with `x < 0` and `y` not an integer (2201F).
    #[error("a negative number raised to a non-integer power yields a complex result")]
    ComplexPower,
}

impl NumericOpError {
    /// Returns the PostgreSQL SQLSTATE for this error, such as `"22012"`.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            NumericOpError::DivisionByZero => sqlstate::DIVISION_BY_ZERO,
            NumericOpError::Overflow | NumericOpError::IntegerOutOfRange { .. } => {
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
            }
            NumericOpError::SpecialToInteger { .. } => sqlstate::FEATURE_NOT_SUPPORTED,
            NumericOpError::LogOfNegative | NumericOpError::LogOfZero => {
                sqlstate::INVALID_ARGUMENT_FOR_LOG
            }
            NumericOpError::SqrtOfNegative
            | NumericOpError::ZeroToNegativePower
            | NumericOpError::ComplexPower => sqlstate::INVALID_ARGUMENT_FOR_POWER_FUNCTION,
        }
    }
}

type OpResult<T> = Result<T, NumericOpError>;

/// A numeric being computed on: PostgreSQL's `NumericVar` for finite values.
///
/// The value is `(-1)^negative × Σ digits[i] × NBASE^(weight - i)`; each
/// digit is in `0..NBASE`. Leading and trailing zero digits are allowed in
/// intermediate states (routines strip their results, as numeric.c's do),
/// and no digit array means zero. `dscale` is the display scale in decimal
/// digits; unlike a [`Numeric`] it may be negative or beyond the storage
/// limits while a transcendental function works.
#[derive(Clone, Debug)]
struct Var {
    negative: bool,
    weight: i32,
    dscale: i32,
    digits: Vec<i32>,
}

/// `(a + b - 1) / b` for the decimal-to-NBASE conversions numeric.c writes
/// as `(rscale + DEC_DIGITS - 1) / DEC_DIGITS`, with C's truncating `/`.
fn nbase_digits_for(decimal_digits: i32) -> i32 {
    (decimal_digits + DEC_DIGITS - 1) / DEC_DIGITS
}

/// Clamps a result scale to the display scales numeric.c computes with.
fn clamp_display_scale(scale: i32) -> i32 {
    scale.clamp(NUMERIC_MIN_DISPLAY_SCALE, NUMERIC_MAX_DISPLAY_SCALE)
}

/// C's `(int)` conversion of a double: truncation toward zero. The values
/// here are small estimates; out-of-range ones saturate instead of being
/// undefined behavior.
fn c_int(v: f64) -> i32 {
    v as i32
}

impl Var {
    /// Zero with the given display scale (`zero_var`).
    fn zero(dscale: i32) -> Var {
        Var {
            negative: false,
            weight: 0,
            dscale,
            digits: Vec::new(),
        }
    }

    /// One NBASE digit `d × NBASE^weight` (numeric.c's constants).
    fn digit(d: i32, weight: i32, dscale: i32) -> Var {
        Var {
            negative: false,
            weight,
            dscale,
            digits: vec![d],
        }
    }

    fn one() -> Var {
        Var::digit(1, 0, 0)
    }

    fn two() -> Var {
        Var::digit(2, 0, 0)
    }

    /// 0.9, below which `ln` takes square roots to reduce its argument.
    fn zero_point_nine() -> Var {
        Var::digit(9000, -1, 1)
    }

    /// 1.1, above which `ln` takes square roots to reduce its argument.
    fn one_point_one() -> Var {
        Var {
            negative: false,
            weight: 0,
            dscale: 1,
            digits: vec![1, 1000],
        }
    }

    /// An integer (`int64_to_numericvar`, `int128_to_numericvar`).
    fn from_int(negative: bool, mut magnitude: u128) -> Var {
        if magnitude == 0 {
            return Var::zero(0);
        }
        let base = NBASE as u128;
        let mut digits = Vec::new();
        while magnitude > 0 {
            digits.push((magnitude % base) as i32);
            magnitude /= base;
        }
        digits.reverse();
        Var {
            negative,
            weight: digits.len() as i32 - 1,
            dscale: 0,
            digits,
        }
    }

    fn from_i64(v: i64) -> Var {
        Var::from_int(v < 0, u128::from(v.unsigned_abs()))
    }

    fn from_i128(v: i128) -> Var {
        Var::from_int(v < 0, v.unsigned_abs())
    }

    /// Converts a finite numeric's decimal digits to NBASE digits, as
    /// `set_var_from_str` aligns them: the first NBASE digit holds the
    /// decimal digits of its power-of-10000 group.
    fn from_decimal(negative: bool, decimal: &[u8], scale: u16) -> Var {
        let dscale = i32::from(scale);
        if decimal.is_empty() {
            return Var::zero(dscale);
        }
        let ddigits = decimal.len() as i32;
        // The power of ten of the first decimal digit.
        let dweight = ddigits - dscale - 1;
        let weight = if dweight >= 0 {
            (dweight + DEC_DIGITS) / DEC_DIGITS - 1
        } else {
            -((-dweight - 1) / DEC_DIGITS + 1)
        };
        // Decimal zeros before the first digit in the first NBASE digit.
        let offset = (weight + 1) * DEC_DIGITS - (dweight + 1);
        let ndigits = nbase_digits_for(ddigits + offset);
        let decimal_at = |pos: i32| -> i32 {
            usize::try_from(pos)
                .ok()
                .and_then(|p| decimal.get(p))
                .map_or(0, |&d| i32::from(d))
        };
        let digits = (0..ndigits)
            .map(|i| {
                (0..DEC_DIGITS).fold(0, |acc, k| {
                    acc * 10 + decimal_at(i * DEC_DIGITS + k - offset)
                })
            })
            .collect();
        let mut var = Var {
            negative,
            weight,
            dscale,
            digits,
        };
        var.strip();
        var
    }

    /// The decimal digits from the first NBASE digit's highest decimal
    /// position down to `dscale` places after the point (digits beyond the
    /// display scale are dropped, as `get_str_from_var` prints), with the
    /// power of ten of the first one. Leading zeros are kept.
    fn decimal_digits(&self) -> (Vec<u8>, i64) {
        let top = i64::from(self.weight) * i64::from(DEC_DIGITS) + i64::from(DEC_DIGITS) - 1;
        // A negative display scale still prints every integer digit.
        let bottom = -i64::from(self.dscale.max(0));
        let mut decimal = Vec::with_capacity(self.digits.len() * DEC_DIGITS as usize);
        for &d in &self.digits {
            decimal.extend([d / 1000, d / 100 % 10, d / 10 % 10, d % 10].map(|x| x as u8));
        }
        // The power of ten of the last digit in `decimal`.
        let lowest = top - decimal.len() as i64 + 1;
        if lowest > bottom {
            let pad = usize::try_from(lowest - bottom).expect("positive");
            decimal.resize(decimal.len() + pad, 0);
        } else {
            let cut = usize::try_from(bottom - lowest).expect("non-negative");
            decimal.truncate(decimal.len().saturating_sub(cut));
        }
        (decimal, top)
    }

    /// Builds the stored form, checking numeric's limits (`make_result`).
    fn into_numeric(mut self) -> OpResult<Numeric> {
        self.strip();
        if self.dscale < 0 || self.dscale > NUMERIC_DSCALE_MAX {
            return Err(NumericOpError::Overflow);
        }
        let scale = u16::try_from(self.dscale).expect("checked against NUMERIC_DSCALE_MAX");
        if self.digits.is_empty() {
            return Ok(Numeric::zero_with_scale(scale));
        }
        if self.weight > NUMERIC_WEIGHT_MAX {
            return Err(NumericOpError::Overflow);
        }
        let (mut decimal, _) = self.decimal_digits();
        let leading = decimal.iter().take_while(|&&d| d == 0).count();
        decimal.drain(..leading);
        if decimal.is_empty() {
            return Ok(Numeric::zero_with_scale(scale));
        }
        Ok(Numeric {
            repr: NumericRepr::Finite {
                negative: self.negative,
                digits: decimal,
                scale,
            },
        })
    }

    /// The value as a float8, ±Infinity or ±0 beyond its range
    /// (`numericvar_to_double_no_overflow`, which reads the printed text).
    fn to_f64(&self) -> f64 {
        let (decimal, top) = self.decimal_digits();
        if decimal.is_empty() {
            return 0.0;
        }
        let mut text = String::with_capacity(decimal.len() + 24);
        if self.negative {
            text.push('-');
        }
        text.push_str("0.");
        text.extend(decimal.iter().map(|&d| char::from(b'0' + d)));
        text.push('e');
        text.push_str(&(top + 1).to_string());
        text.parse()
            .expect("a digit string with an exponent is a valid float")
    }

    /// Rounds to the nearest integer, half away from zero, and returns it if
    /// it fits an i64 (`numericvar_to_int64`).
    fn to_i64(&self) -> Option<i64> {
        let mut rounded = self.clone();
        rounded.round(0);
        rounded.strip();
        if rounded.digits.is_empty() {
            return Some(0);
        }
        assert!(
            rounded.weight >= 0 && rounded.digits.len() as i32 <= rounded.weight + 1,
            "a rounded integer has weight {} and {} digits",
            rounded.weight,
            rounded.digits.len()
        );
        // Accumulate as a negative number so i64::MIN fits.
        let mut value = -i64::from(rounded.digits[0]);
        for i in 1..=rounded.weight as usize {
            value = value.checked_mul(i64::from(NBASE))?;
            if let Some(&d) = rounded.digits.get(i) {
                value = value.checked_sub(i64::from(d))?;
            }
        }
        if rounded.negative {
            Some(value)
        } else {
            value.checked_neg()
        }
    }

    /// Removes leading and trailing zero digits; zero becomes positive with
    /// weight 0 (`strip_var`).
    fn strip(&mut self) {
        let leading = self.digits.iter().take_while(|&&d| d == 0).count();
        if leading == self.digits.len() {
            self.digits.clear();
            self.weight = 0;
            self.negative = false;
            return;
        }
        self.digits.drain(..leading);
        self.weight -= leading as i32;
        let trailing = self.digits.iter().rev().take_while(|&&d| d == 0).count();
        self.digits.truncate(self.digits.len() - trailing);
    }

    fn stripped(mut self) -> Var {
        self.strip();
        self
    }

    fn with_dscale(mut self, dscale: i32) -> Var {
        self.dscale = dscale;
        self
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Compares absolute values (`cmp_abs`); tolerates unstripped digits.
    fn cmp_abs(&self, other: &Var) -> Ordering {
        let (a, b) = (&self.digits, &other.digits);
        let (mut w1, mut w2) = (self.weight, other.weight);
        let (mut i1, mut i2) = (0, 0);
        while w1 > w2 && i1 < a.len() {
            if a[i1] != 0 {
                return Ordering::Greater;
            }
            i1 += 1;
            w1 -= 1;
        }
        while w2 > w1 && i2 < b.len() {
            if b[i2] != 0 {
                return Ordering::Less;
            }
            i2 += 1;
            w2 -= 1;
        }
        if w1 == w2 {
            while i1 < a.len() && i2 < b.len() {
                match a[i1].cmp(&b[i2]) {
                    Ordering::Equal => {}
                    unequal => return unequal,
                }
                i1 += 1;
                i2 += 1;
            }
        }
        if a[i1..].iter().any(|&d| d != 0) {
            return Ordering::Greater;
        }
        if b[i2..].iter().any(|&d| d != 0) {
            return Ordering::Less;
        }
        Ordering::Equal
    }

    /// Compares values (`cmp_var`); zero must have no digits.
    fn cmp(&self, other: &Var) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) if other.negative => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, true) if self.negative => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => match (self.negative, other.negative) {
                (false, true) => Ordering::Greater,
                (true, false) => Ordering::Less,
                (false, false) => self.cmp_abs(other),
                (true, true) => other.cmp_abs(self),
            },
        }
    }

    /// `self + other`, exact; the display scale is the larger (`add_var`).
    fn add(&self, other: &Var) -> Var {
        self.add_signed(other, other.negative)
    }

    /// `self - other`, exact; the display scale is the larger (`sub_var`).
    fn sub(&self, other: &Var) -> Var {
        self.add_signed(other, !other.negative)
    }

    /// `self + (-1)^other_negative × |other|`.
    fn add_signed(&self, other: &Var, other_negative: bool) -> Var {
        if self.negative == other_negative {
            let mut sum = add_abs(self, other);
            sum.negative = self.negative;
            return sum;
        }
        match self.cmp_abs(other) {
            Ordering::Equal => Var::zero(self.dscale.max(other.dscale)),
            Ordering::Greater => {
                let mut difference = sub_abs(self, other);
                difference.negative = self.negative;
                difference
            }
            Ordering::Less => {
                let mut difference = sub_abs(other, self);
                difference.negative = other_negative;
                difference
            }
        }
    }

    /// `self × other` rounded to `rscale` decimal places (`mul_var`). When
    /// the exact product has more places, only the partial products that
    /// reach `rscale` plus [`MUL_GUARD_DIGITS`] NBASE digits are summed, so
    /// the last digit can be off: numeric.c's truncated multiplication, which
    /// the transcendental functions rely on. With `rscale` at least the sum
    /// of the display scales the product is exact.
    fn mul(&self, other: &Var, rscale: i32) -> Var {
        let (var1, var2) = if self.digits.len() > other.digits.len() {
            (other, self)
        } else {
            (self, other)
        };
        if var1.is_zero() || var2.is_zero() {
            return Var::zero(rscale);
        }
        let negative = var1.negative != var2.negative;
        let res_weight = var1.weight + var2.weight + 2;
        let exact_ndigits = (var1.digits.len() + var2.digits.len() + 1) as i32;
        let maxdigits = res_weight + 1 + nbase_digits_for(rscale) + MUL_GUARD_DIGITS;
        let res_ndigits = exact_ndigits.min(maxdigits);
        if res_ndigits < 3 {
            // Every partial product falls beyond the digits computed.
            return Var::zero(rscale);
        }
        let res_ndigits = res_ndigits as usize;
        // Partial products are summed without carrying: a position gets at
        // most one per digit of the shorter operand (under 2^16 of them),
        // each below NBASE² = 10^8, far inside an i64. Carrying once at the
        // end yields the same digits as numeric.c's periodic normalization,
        // which changes no partial product.
        let mut acc = vec![0i64; res_ndigits];
        let i1_max = (var1.digits.len() - 1).min(res_ndigits - 3);
        for i1 in (0..=i1_max).rev() {
            let d1 = i64::from(var1.digits[i1]);
            if d1 == 0 {
                continue;
            }
            let i2_limit = var2.digits.len().min(res_ndigits - i1 - 2);
            for (slot, &d2) in acc[i1 + 2..].iter_mut().zip(&var2.digits[..i2_limit]) {
                *slot += d1 * i64::from(d2);
            }
        }
        let digits = carry_normalize(&acc);
        let mut result = Var {
            negative,
            weight: res_weight,
            dscale: rscale,
            digits,
        };
        result.round(rscale);
        result.stripped()
    }

    /// `self / other` to exactly `rscale` decimal places, rounded half away
    /// from zero or truncated (`div_var`, Knuth's algorithm D).
    fn div(&self, other: &Var, rscale: i32, round: bool) -> OpResult<Var> {
        let n1 = self.digits.len();
        let n2 = other.digits.len();
        if n2 == 0 || other.digits[0] == 0 {
            return Err(NumericOpError::DivisionByZero);
        }
        if n2 <= 2 {
            let (divisor, weight) = other.short_divisor();
            return self.div_int(divisor, weight, rscale, round);
        }
        if n1 == 0 {
            return Ok(Var::zero(rscale));
        }
        let negative = self.negative != other.negative;
        let res_weight = self.weight - other.weight;
        let mut res_ndigits = (res_weight + 1 + nbase_digits_for(rscale)).max(1);
        if round {
            // One more digit decides the rounding.
            res_ndigits += 1;
        }
        let res_ndigits = res_ndigits as usize;
        let div_ndigits = (res_ndigits + n2).max(n1);

        // dividend[0] and divisor[0] are zero, for the normalization carry
        // and Knuth's indexing.
        let mut dividend = vec![0i64; div_ndigits + 1];
        for (slot, &d) in dividend[1..].iter_mut().zip(&self.digits) {
            *slot = i64::from(d);
        }
        let mut divisor = vec![0i64; n2 + 1];
        for (slot, &d) in divisor[1..].iter_mut().zip(&other.digits) {
            *slot = i64::from(d);
        }
        let nbase = i64::from(NBASE);

        // Scale both so the divisor's first digit is at least NBASE/2.
        if divisor[1] < i64::from(HALF_NBASE) {
            let d = nbase / (divisor[1] + 1);
            let mut carry = 0;
            for slot in divisor[1..].iter_mut().rev() {
                carry += *slot * d;
                *slot = carry % nbase;
                carry /= nbase;
            }
            assert_eq!(carry, 0, "divisor normalization overflowed");
            carry = 0;
            for slot in dividend[..=n1].iter_mut().rev() {
                carry += *slot * d;
                *slot = carry % nbase;
                carry /= nbase;
            }
            assert_eq!(carry, 0, "dividend normalization overflowed");
        }
        let divisor1 = divisor[1];
        let divisor2 = divisor[2];

        let mut quotient = vec![0i32; res_ndigits];
        for j in 0..res_ndigits {
            let next2digits = dividend[j] * nbase + dividend[j + 1];
            if next2digits == 0 {
                continue;
            }
            let mut qhat = if dividend[j] == divisor1 {
                nbase - 1
            } else {
                next2digits / divisor1
            };
            while divisor2 * qhat > (next2digits - qhat * divisor1) * nbase + dividend[j + 2] {
                qhat -= 1;
            }
            if qhat > 0 {
                // Subtract qhat × divisor from dividend[j..=j + n2].
                let mut borrow = 0;
                for i in (0..=n2).rev() {
                    let t = dividend[j + i] - borrow - divisor[i] * qhat;
                    borrow = (nbase - 1 - t) / nbase;
                    dividend[j + i] = t + borrow * nbase;
                }
                if borrow != 0 {
                    // qhat was one too large: add the divisor back.
                    qhat -= 1;
                    let mut carry = 0;
                    for i in (0..=n2).rev() {
                        carry += dividend[j + i] + divisor[i];
                        if carry >= nbase {
                            dividend[j + i] = carry - nbase;
                            carry = 1;
                        } else {
                            dividend[j + i] = carry;
                            carry = 0;
                        }
                    }
                    assert_eq!(carry, 1, "add-back must cancel the borrow");
                }
            }
            quotient[j] = qhat as i32;
        }

        let mut result = Var {
            negative,
            weight: res_weight,
            dscale: rscale,
            digits: quotient,
        };
        if round {
            result.round(rscale);
        } else {
            result.trunc(rscale);
        }
        Ok(result.stripped())
    }

    /// A divisor of one or two NBASE digits as a signed integer and the
    /// weight of its last digit, for [`Var::div_int`].
    fn short_divisor(&self) -> (i32, i32) {
        let mut divisor = self.digits[0];
        let mut weight = self.weight;
        if let Some(&second) = self.digits.get(1) {
            divisor = divisor * NBASE + second;
            weight -= 1;
        }
        if self.negative {
            divisor = -divisor;
        }
        (divisor, weight)
    }

    /// `self / other`, approximately, using floating-point estimates of each
    /// quotient digit (`div_var_fast`, from the "FM" library). It computes
    /// [`DIV_GUARD_DIGITS`] extra digits but cannot promise the last one;
    /// numeric.c uses it only inside the transcendental functions, and so do
    /// we.
    fn div_fast(&self, other: &Var, rscale: i32, round: bool) -> OpResult<Var> {
        let n1 = self.digits.len();
        let n2 = other.digits.len();
        if n2 == 0 || other.digits[0] == 0 {
            return Err(NumericOpError::DivisionByZero);
        }
        if n2 <= 2 {
            let (divisor, weight) = other.short_divisor();
            return self.div_int(divisor, weight, rscale, round);
        }
        if n1 == 0 {
            return Ok(Var::zero(rscale));
        }
        let negative = self.negative != other.negative;
        let res_weight = self.weight - other.weight + 1;
        let div_ndigits = (res_weight + 1 + nbase_digits_for(rscale) + DIV_GUARD_DIGITS)
            .max(DIV_GUARD_DIGITS) as usize;
        let nbase = i64::from(NBASE);
        let fnbase = f64::from(NBASE);

        // div[0] is zero, then the dividend's digits, then zeros. numeric.c
        // keeps these in C ints and lets div[qi] × NBASE overflow and cancel;
        // i64 holds the same values without the wraparound.
        let mut div = vec![0i64; div_ndigits + 1];
        for (slot, &d) in div[1..].iter_mut().zip(&self.digits[..n1.min(div_ndigits)]) {
            *slot = i64::from(d);
        }

        let mut fdivisor = f64::from(other.digits[0]);
        for i in 1..4 {
            fdivisor *= fnbase;
            if let Some(&d) = other.digits.get(i) {
                fdivisor += f64::from(d);
            }
        }
        let fdivisorinverse = 1.0 / fdivisor;
        let estimate = |div: &[i64], qi: usize| -> i32 {
            let mut fdividend = div[qi] as f64;
            for i in 1..4 {
                fdividend *= fnbase;
                if let Some(&d) = div.get(qi + i) {
                    fdividend += d as f64;
                }
            }
            let fquotient = fdividend * fdivisorinverse;
            // Truncate toward minus infinity.
            if fquotient >= 0.0 {
                c_int(fquotient)
            } else {
                c_int(fquotient) - 1
            }
        };

        // The bound numeric.c keeps div[] entries under, in units of
        // NBASE - 1, before it propagates carries.
        const MAXDIV_LIMIT: i32 = (i32::MAX - i32::MAX / NBASE - 1) / (NBASE - 1);
        let mut maxdiv: i32 = 1;
        for qi in 0..div_ndigits {
            let mut qdigit = estimate(&div, qi);
            if qdigit != 0 {
                maxdiv += qdigit.abs();
                if maxdiv > MAXDIV_LIMIT {
                    // Normalize the entries earlier steps touched.
                    let mut carry = 0i64;
                    let top = (qi + n2 - 2).min(div_ndigits);
                    for i in (qi + 1..=top).rev() {
                        let (digit, next_carry) = floor_carry(div[i] + carry);
                        div[i] = digit;
                        carry = next_carry;
                    }
                    div[qi] += carry;
                    maxdiv = 1;
                    // The top four digits may have changed.
                    qdigit = estimate(&div, qi);
                    maxdiv += qdigit.abs();
                }
                if qdigit != 0 {
                    // numeric.c multiplies with qdigit cast to a 16-bit digit.
                    let q = i64::from(qdigit as i16);
                    let istop = n2.min(div_ndigits - qi + 1);
                    for (slot, &d) in div[qi..qi + istop].iter_mut().zip(&other.digits) {
                        *slot -= q * i64::from(d);
                    }
                }
            }
            // Fold what is left of this position into the next one.
            div[qi + 1] += div[qi] * nbase;
            div[qi] = i64::from(qdigit);
        }
        // The last quotient digit, from the remainder alone.
        let mut fdividend = div[div_ndigits] as f64;
        for _ in 1..4 {
            fdividend *= fnbase;
        }
        let fquotient = fdividend * fdivisorinverse;
        div[div_ndigits] = i64::from(if fquotient >= 0.0 {
            c_int(fquotient)
        } else {
            c_int(fquotient) - 1
        });

        // Quotient digits may be -1 or NBASE; carrying fixes that.
        let mut digits = vec![0i32; div_ndigits + 1];
        let mut carry = 0i64;
        for i in (0..=div_ndigits).rev() {
            let (digit, next_carry) = floor_carry(div[i] + carry);
            digits[i] = digit as i32;
            carry = next_carry;
        }
        assert_eq!(
            carry, 0,
            "div_var_fast quotient carried out of its top digit"
        );

        let mut result = Var {
            negative,
            weight: res_weight,
            dscale: rscale,
            digits,
        };
        if round {
            result.round(rscale);
        } else {
            result.trunc(rscale);
        }
        Ok(result.stripped())
    }

    /// `self / (ival × NBASE^ival_weight)` to exactly `rscale` places, by
    /// short division (`div_var_int`).
    fn div_int(&self, ival: i32, ival_weight: i32, rscale: i32, round: bool) -> OpResult<Var> {
        if ival == 0 {
            return Err(NumericOpError::DivisionByZero);
        }
        if self.is_zero() {
            return Ok(Var::zero(rscale));
        }
        let negative = self.negative != (ival < 0);
        let res_weight = self.weight - ival_weight;
        let mut res_ndigits = (res_weight + 1 + nbase_digits_for(rscale)).max(1);
        if round {
            res_ndigits += 1;
        }
        let divisor = u64::from(ival.unsigned_abs());
        let mut carry: u64 = 0;
        let digits = (0..res_ndigits as usize)
            .map(|i| {
                let d = self.digits.get(i).map_or(0, |&d| d as u64);
                carry = carry * NBASE as u64 + d;
                let q = carry / divisor;
                carry %= divisor;
                q as i32
            })
            .collect();
        let mut result = Var {
            negative,
            weight: res_weight,
            dscale: rscale,
            digits,
        };
        if round {
            result.round(rscale);
        } else {
            result.trunc(rscale);
        }
        Ok(result.stripped())
    }

    /// `self mod other`: `self - trunc(self / other) × other`, with the
    /// larger display scale (`mod_var`).
    fn modulo(&self, other: &Var) -> OpResult<Var> {
        let quotient = self.div(other, 0, false)?;
        let product = other.mul(&quotient, other.dscale);
        Ok(self.sub(&product))
    }

    /// The truncated quotient and the remainder (`div_mod_var`): a fast
    /// estimate of the quotient, corrected until the remainder has the
    /// dividend's sign and is smaller than the divisor.
    fn div_mod(&self, other: &Var) -> OpResult<(Var, Var)> {
        let one = Var::one();
        let mut q = self.div_fast(other, 0, false)?;
        let mut r = self.sub(&other.mul(&q, other.dscale));
        while !r.is_zero() && r.negative != self.negative {
            if self.negative == other.negative {
                q = q.sub(&one);
                r = r.add(other);
            } else {
                q = q.add(&one);
                r = r.sub(other);
            }
        }
        while r.cmp_abs(other) != Ordering::Less {
            if self.negative == other.negative {
                q = q.add(&one);
                r = r.sub(other);
            } else {
                q = q.sub(&one);
                r = r.add(other);
            }
        }
        Ok((q, r))
    }

    /// The smallest integer not below `self` (`ceil_var`).
    fn ceil(&self) -> Var {
        let mut t = self.clone();
        t.trunc(0);
        if !self.negative && self.cmp(&t) != Ordering::Equal {
            t = t.add(&Var::one());
        }
        t
    }

    /// The largest integer not above `self` (`floor_var`).
    fn floor(&self) -> Var {
        let mut t = self.clone();
        t.trunc(0);
        if self.negative && self.cmp(&t) != Ordering::Equal {
            t = t.sub(&Var::one());
        }
        t
    }

    /// Rounds to `rscale` decimal places, half away from zero, and sets the
    /// display scale; a negative `rscale` rounds before the point
    /// (`round_var`). Does not strip.
    fn round(&mut self, rscale: i32) {
        self.dscale = rscale;
        // Decimal digits wanted.
        let di = (self.weight + 1) * DEC_DIGITS + rscale;
        if di < 0 {
            self.digits.clear();
            self.weight = 0;
            self.negative = false;
            return;
        }
        let mut ndigits = ((di + DEC_DIGITS - 1) / DEC_DIGITS) as usize;
        let di = di % DEC_DIGITS;
        if !(ndigits < self.digits.len() || (ndigits == self.digits.len() && di > 0)) {
            return;
        }
        let mut carry;
        if di == 0 {
            carry = i32::from(self.digits[ndigits] >= HALF_NBASE);
            self.digits.truncate(ndigits);
        } else {
            self.digits.truncate(ndigits);
            // Round within the last kept NBASE digit.
            let mut pow10 = ROUND_POWERS[di as usize];
            ndigits -= 1;
            let extra = self.digits[ndigits] % pow10;
            self.digits[ndigits] -= extra;
            carry = 0;
            if extra >= pow10 / 2 {
                pow10 += self.digits[ndigits];
                if pow10 >= NBASE {
                    pow10 -= NBASE;
                    carry = 1;
                }
                self.digits[ndigits] = pow10;
            }
        }
        while carry != 0 {
            if ndigits == 0 {
                // Carry out of the top digit: numeric.c's spare digit.
                self.digits.insert(0, carry);
                self.weight += 1;
                break;
            }
            ndigits -= 1;
            carry += self.digits[ndigits];
            if carry >= NBASE {
                self.digits[ndigits] = carry - NBASE;
                carry = 1;
            } else {
                self.digits[ndigits] = carry;
                carry = 0;
            }
        }
    }

    /// Truncates toward zero at `rscale` decimal places and sets the display
    /// scale; a negative `rscale` truncates before the point (`trunc_var`).
    fn trunc(&mut self, rscale: i32) {
        self.dscale = rscale;
        let di = (self.weight + 1) * DEC_DIGITS + rscale;
        if di <= 0 {
            self.digits.clear();
            self.weight = 0;
            self.negative = false;
            return;
        }
        let ndigits = ((di + DEC_DIGITS - 1) / DEC_DIGITS) as usize;
        if ndigits <= self.digits.len() {
            self.digits.truncate(ndigits);
            let di = di % DEC_DIGITS;
            if di > 0 {
                let last = &mut self.digits[ndigits - 1];
                *last -= *last % ROUND_POWERS[di as usize];
            }
        }
    }

    /// The square root to `rscale` places (negative rounds before the
    /// point), rounded half away from zero (`sqrt_var`): the integer square
    /// root of the input scaled to one more decimal place, by Zimmermann's
    /// Karatsuba square root, done in i64 and i128 while the values fit.
    fn sqrt(&self, rscale: i32) -> OpResult<Var> {
        match self.cmp(&Var::zero(0)) {
            Ordering::Equal => return Ok(Var::zero(rscale)),
            Ordering::Less => return Err(NumericOpError::SqrtOfNegative),
            Ordering::Greater => {}
        }
        let arg = &self.digits;
        let nbase = i64::from(NBASE);
        // floor(weight / 2).
        let res_weight = if self.weight >= 0 {
            self.weight / 2
        } else {
            -((-self.weight - 1) / 2 + 1)
        };
        // NBASE digits to compute: at least one decimal digit past rscale.
        let res_ndigits = if rscale + 1 >= 0 {
            res_weight + 1 + (rscale + DEC_DIGITS) / DEC_DIGITS
        } else {
            res_weight + 1 - (-rscale - 1) / DEC_DIGITS
        }
        .max(1);
        // Input NBASE digits that determine that many result digits.
        let src_ndigits = (self.weight + 1 + (res_ndigits - res_weight - 1) * 2).max(1);

        // Input lengths of each step, outermost first; the innermost square
        // root has at most four NBASE digits.
        let mut ndigits = vec![src_ndigits];
        let mut src = src_ndigits;
        while src > 4 {
            let mut blen = src / 4;
            if blen * 4 == src && arg[0] < NBASE / 4 {
                blen -= 1;
            }
            src -= 2 * blen;
            ndigits.push(src);
        }
        let arg_digit = |idx: i32| -> i64 {
            usize::try_from(idx)
                .ok()
                .and_then(|i| arg.get(i))
                .map_or(0, |&d| i64::from(d))
        };

        // Innermost step, in i64 with a float estimate and Newton's
        // correction.
        let mut steps = ndigits.into_iter().rev();
        let first = steps.next().expect("at least one step");
        let mut arg_int64 = i64::from(arg[0]);
        let mut src_idx = 1;
        while src_idx < first {
            arg_int64 = arg_int64 * nbase + arg_digit(src_idx);
            src_idx += 1;
        }
        let mut s_int64 = (arg_int64 as f64).sqrt() as i64;
        let mut r_int64 = arg_int64 - s_int64 * s_int64;
        while r_int64 < 0 || r_int64 > 2 * s_int64 {
            s_int64 = (s_int64 + arg_int64 / s_int64) / 2;
            r_int64 = arg_int64 - s_int64 * s_int64;
        }

        let mut remaining: Vec<i32> = steps.collect();
        remaining.reverse(); // pop() yields the next outer step
        let mut s_int128 = i128::from(s_int64);
        let mut r_int128 = i128::from(r_int64);
        // Steps whose root fits an i128 (numeric.c uses int64 up to 8 input
        // digits, then int128 up to 16; i128 throughout gives the same
        // integers).
        while let Some(&src_ndigits) = remaining.last() {
            if src_ndigits > 16 {
                break;
            }
            remaining.pop();
            let blen = (src_ndigits - src_idx) / 2;
            let mut b: i128 = 1;
            let mut a1: i128 = 0;
            let mut a0: i128 = 0;
            for _ in 0..blen {
                b *= i128::from(NBASE);
                a1 = a1 * i128::from(NBASE) + i128::from(arg_digit(src_idx));
                src_idx += 1;
            }
            for _ in 0..blen {
                a0 = a0 * i128::from(NBASE) + i128::from(arg_digit(src_idx));
                src_idx += 1;
            }
            let numer = r_int128 * b + a1;
            let denom = 2 * s_int128;
            let q = numer / denom;
            let u = numer - q * denom;
            s_int128 = s_int128 * b + q;
            r_int128 = u * b + a0 - q * q;
            if r_int128 < 0 {
                // s is one too large.
                r_int128 += s_int128;
                s_int128 -= 1;
                r_int128 += s_int128;
            }
            assert_eq!(src_idx, src_ndigits, "a step consumes its input digits");
        }

        let mut s_var = Var::from_i128(s_int128);
        let mut r_var = Var::from_i128(r_int128);
        let one = Var::one();
        // Steps in numeric variables.
        while let Some(src_ndigits) = remaining.pop() {
            let blen = (src_ndigits - src_idx) / 2;
            let chunk = |start: i32| -> Var {
                let from = usize::try_from(start).expect("index is non-negative");
                let to = (from + blen as usize).min(arg.len());
                if from >= to {
                    return Var::zero(0);
                }
                Var {
                    negative: false,
                    weight: blen - 1,
                    dscale: 0,
                    digits: arg[from..to].to_vec(),
                }
                .stripped()
            };
            let a1 = chunk(src_idx);
            src_idx += blen;
            let a0 = chunk(src_idx);
            src_idx += blen;

            // (q, u) = DivRem(r × b + a1, 2 × s)
            let mut numer = r_var.clone();
            numer.weight += blen;
            let numer = numer.add(&a1);
            let (q, mut u) = numer.div_mod(&s_var.add(&s_var))?;
            // s = s × b + q
            s_var.weight += blen;
            s_var = s_var.add(&q);
            // r = u × b + a0 - q²
            u.weight += blen;
            let u = u.add(&a0);
            let q_squared = q.mul(&q, 0);
            if remaining.is_empty() {
                // Only whether r < 0 matters now.
                if u.cmp(&q_squared) == Ordering::Less {
                    s_var = s_var.sub(&one);
                }
            } else {
                r_var = u.sub(&q_squared);
                if r_var.negative {
                    r_var = r_var.add(&s_var);
                    s_var = s_var.sub(&one);
                    r_var = r_var.add(&s_var);
                }
            }
            assert_eq!(src_idx, src_ndigits, "a step consumes its input digits");
        }

        let mut result = s_var;
        result.weight = res_weight;
        result.negative = false;
        result.round(rscale);
        Ok(result.stripped())
    }

    /// e^self to `rscale` places (`exp_var`): the argument halved until it
    /// is at most 0.01, the Taylor series, then squared back.
    fn exp(&self, rscale: i32) -> OpResult<Var> {
        let mut x = self.clone();
        let mut val = x.to_f64();
        // Beyond this the result overflows or underflows any numeric.
        if val.abs() >= f64::from(NUMERIC_MAX_RESULT_SCALE * 3) {
            if val > 0.0 {
                return Err(NumericOpError::Overflow);
            }
            return Ok(Var::zero(rscale));
        }
        // Decimal weight of the result: x × log10(e).
        let dweight = c_int(val * LOG10_E);
        let mut ndiv2 = 0;
        if val.abs() > 0.01 {
            ndiv2 = 1;
            val /= 2.0;
            while val.abs() > 0.01 {
                ndiv2 += 1;
                val /= 2.0;
            }
            let local_rscale = x.dscale + ndiv2;
            x = x.div_int(1 << ndiv2, 0, local_rscale, true)?;
        }
        // Squaring ndiv2 times loses about log10(2^ndiv2) digits.
        let sig_digits = (1 + dweight + rscale + c_int(f64::from(ndiv2) * LOG10_2)).max(0) + 8;
        let local_rscale = sig_digits - 1;

        let mut result = Var::one().add(&x);
        let mut elem = x.mul(&x, local_rscale);
        let mut ni = 2;
        elem = elem.div_int(ni, 0, local_rscale, true)?;
        while !elem.is_zero() {
            result = result.add(&elem);
            elem = elem.mul(&x, local_rscale);
            ni += 1;
            elem = elem.div_int(ni, 0, local_rscale, true)?;
        }
        for _ in 0..ndiv2 {
            let local_rscale =
                (sig_digits - result.weight * 2 * DEC_DIGITS).max(NUMERIC_MIN_DISPLAY_SCALE);
            result = result.mul(&result, local_rscale);
        }
        result.round(rscale);
        Ok(result)
    }

    /// An estimate of the decimal weight of ln(self), robust to invalid
    /// arguments (`estimate_ln_dweight`).
    fn estimate_ln_dweight(&self) -> i32 {
        if self.negative {
            return 0;
        }
        if self.cmp(&Var::zero_point_nine()) != Ordering::Less
            && self.cmp(&Var::one_point_one()) != Ordering::Greater
        {
            // ln(1 + x) ≈ x near 1.
            let x = self.sub(&Var::one());
            if x.is_zero() {
                0
            } else {
                x.weight * DEC_DIGITS + c_int(f64::from(x.digits[0]).log10())
            }
        } else if self.is_zero() {
            0
        } else {
            let mut digits = self.digits[0];
            let mut dweight = self.weight * DEC_DIGITS;
            if let Some(&second) = self.digits.get(1) {
                digits = digits * NBASE + second;
                dweight -= DEC_DIGITS;
            }
            let ln = f64::from(digits).ln() + f64::from(dweight) * LN_10;
            c_int(ln.abs().log10())
        }
    }

    /// ln(self) to `rscale` places (`ln_var`): square roots bring the
    /// argument into (0.9, 1.1), then the series for
    /// `0.5 × ln((1 + z) / (1 - z))` with `z = (x - 1) / (x + 1)`.
    fn ln(&self, rscale: i32) -> OpResult<Var> {
        match self.cmp(&Var::zero(0)) {
            Ordering::Equal => return Err(NumericOpError::LogOfZero),
            Ordering::Less => return Err(NumericOpError::LogOfNegative),
            Ordering::Greater => {}
        }
        let one = Var::one();
        let two = Var::two();
        let mut x = self.clone();
        let mut fact = two.clone();
        let mut nsqrt = 0;
        while x.cmp(&Var::zero_point_nine()) != Ordering::Greater {
            let local_rscale = rscale - x.weight * DEC_DIGITS / 2 + 8;
            x = x.sqrt(local_rscale)?;
            fact = fact.mul(&two, 0);
            nsqrt += 1;
        }
        while x.cmp(&Var::one_point_one()) != Ordering::Less {
            let local_rscale = rscale - x.weight * DEC_DIGITS / 2 + 8;
            x = x.sqrt(local_rscale)?;
            fact = fact.mul(&two, 0);
            nsqrt += 1;
        }
        // The series is multiplied by 2^(nsqrt + 1): keep that many more
        // digits.
        let local_rscale = rscale + c_int(f64::from(nsqrt + 1) * LOG10_2) + 8;

        let mut result = x.sub(&one).div_fast(&x.add(&one), local_rscale, true)?;
        let mut xx = result.clone();
        let x = result.mul(&result, local_rscale);
        let mut ni = 1;
        loop {
            ni += 2;
            xx = xx.mul(&x, local_rscale);
            let elem = xx.div_int(ni, 0, local_rscale, true)?;
            if elem.is_zero() {
                break;
            }
            result = result.add(&elem);
            if elem.weight < result.weight - local_rscale * 2 / DEC_DIGITS {
                break;
            }
        }
        Ok(result.mul(&fact, rscale))
    }

    /// log_base(num), choosing the result scale (`log_var`).
    fn log(base: &Var, num: &Var) -> OpResult<Var> {
        let ln_base_dweight = base.estimate_ln_dweight();
        let ln_num_dweight = num.estimate_ln_dweight();
        let result_dweight = ln_num_dweight - ln_base_dweight;
        let rscale = clamp_display_scale(
            (NUMERIC_MIN_SIG_DIGITS - result_dweight)
                .max(base.dscale)
                .max(num.dscale),
        );
        let ln_base_rscale =
            (rscale + result_dweight - ln_base_dweight + 8).max(NUMERIC_MIN_DISPLAY_SCALE);
        let ln_num_rscale =
            (rscale + result_dweight - ln_num_dweight + 8).max(NUMERIC_MIN_DISPLAY_SCALE);
        let ln_base = base.ln(ln_base_rscale)?;
        let ln_num = num.ln(ln_num_rscale)?;
        ln_num.div_fast(&ln_base, rscale, true)
    }

    /// Whether the value has no fractional digits (or is zero).
    fn is_integral(&self) -> bool {
        self.digits.len() as i32 <= self.weight + 1
    }

    /// Whether an integral value is odd.
    fn is_odd_integer(&self) -> bool {
        !self.is_zero()
            && self.digits.len() as i32 == self.weight + 1
            && self.digits[self.digits.len() - 1] & 1 == 1
    }

    /// base^exp, choosing the result scale (`power_var`): exactly by
    /// repeated squaring for an exponent that is an int4, else
    /// `exp(exp × ln(base))` at a precision estimated from a first
    /// low-precision pass.
    fn power(base: &Var, exp: &Var) -> OpResult<Var> {
        if exp.is_integral() {
            if let Some(expval) = exp.to_i64().and_then(|v| i32::try_from(v).ok()) {
                let rscale = clamp_display_scale(NUMERIC_MIN_SIG_DIGITS.max(base.dscale));
                return Var::power_int(base, expval, rscale);
            }
        }
        // 0 ^ 0 went to power_int; 0 to any other non-int4 power is 0.
        if base.is_zero() {
            return Ok(Var::zero(NUMERIC_MIN_SIG_DIGITS));
        }
        let mut negate = false;
        let mut abs_base = base.clone();
        if base.negative {
            if !exp.is_integral() {
                return Err(NumericOpError::ComplexPower);
            }
            negate = exp.is_odd_integer();
            abs_base.negative = false;
        }
        let base = &abs_base;

        // A low-precision exp × ln(base) estimates the result's weight.
        let ln_dweight = base.estimate_ln_dweight();
        let local_rscale = (8 - ln_dweight).max(NUMERIC_MIN_DISPLAY_SCALE);
        let ln_base = base.ln(local_rscale)?;
        let ln_num = ln_base.mul(exp, local_rscale);
        let mut val = ln_num.to_f64();
        if val.abs() > f64::from(NUMERIC_MAX_RESULT_SCALE) * 3.01 {
            if val > 0.0 {
                return Err(NumericOpError::Overflow);
            }
            return Ok(Var::zero(NUMERIC_MAX_DISPLAY_SCALE));
        }
        val *= LOG10_E;
        let rscale = clamp_display_scale(
            (NUMERIC_MIN_SIG_DIGITS - c_int(val))
                .max(base.dscale)
                .max(exp.dscale),
        );
        let sig_digits = (rscale + c_int(val)).max(0);
        let local_rscale = (sig_digits - ln_dweight + 8).max(NUMERIC_MIN_DISPLAY_SCALE);

        let ln_base = base.ln(local_rscale)?;
        let ln_num = ln_base.mul(exp, local_rscale);
        let mut result = ln_num.exp(rscale)?;
        if negate && !result.is_zero() {
            result.negative = true;
        }
        Ok(result)
    }

    /// base^exp for an integer exponent, to `rscale` places
    /// (`power_var_int`): binary powering with working scales that keep
    /// enough significant digits, then a fast reciprocal for a negative
    /// exponent.
    fn power_int(base: &Var, exp: i32, rscale: i32) -> OpResult<Var> {
        match exp {
            0 => return Ok(Var::one().with_dscale(rscale)),
            1 => {
                let mut result = base.clone();
                result.round(rscale);
                return Ok(result);
            }
            -1 => return Var::one().div(base, rscale, true),
            2 => return Ok(base.mul(base, rscale)),
            _ => {}
        }
        if base.is_zero() {
            if exp < 0 {
                return Err(NumericOpError::DivisionByZero);
            }
            return Ok(Var::zero(rscale));
        }
        // base ≈ f × 10^p, from its first 16 or so decimal digits.
        let mut f = f64::from(base.digits[0]);
        let mut p = base.weight * DEC_DIGITS;
        let mut i = 1;
        while i < base.digits.len() && (i as i32) * DEC_DIGITS < 16 {
            f = f * f64::from(NBASE) + f64::from(base.digits[i]);
            p -= DEC_DIGITS;
            i += 1;
        }
        // log10(result) ≈ exp × (log10(f) + p)
        let f = f64::from(exp) * (f.log10() + f64::from(p));
        if f > f64::from(3 * SHRT_MAX * DEC_DIGITS) {
            return Err(NumericOpError::Overflow);
        }
        if f + 1.0 < f64::from(-rscale) || f + 1.0 < f64::from(-NUMERIC_MAX_DISPLAY_SCALE) {
            return Ok(Var::zero(rscale));
        }
        // The multiplications may lose about log10(|exp|) digits.
        let sig_digits = 1 + rscale + c_int(f) + c_int(f64::from(exp).abs().ln()) + 8;

        let mut neg = exp < 0;
        let mut mask = exp.unsigned_abs();
        let mut base_prod = base.clone();
        let mut result = if mask & 1 == 1 {
            base.clone()
        } else {
            Var::one()
        };
        loop {
            mask >>= 1;
            if mask == 0 {
                break;
            }
            let local_rscale = (sig_digits - 2 * base_prod.weight * DEC_DIGITS)
                .min(2 * base_prod.dscale)
                .max(NUMERIC_MIN_DISPLAY_SCALE);
            base_prod = base_prod.mul(&base_prod, local_rscale);
            if mask & 1 == 1 {
                let local_rscale = (sig_digits - (base_prod.weight + result.weight) * DEC_DIGITS)
                    .min(base_prod.dscale + result.dscale)
                    .max(NUMERIC_MIN_DISPLAY_SCALE);
                result = base_prod.mul(&result, local_rscale);
            }
            // Past int16 weights the result overflows (or, for a negative
            // exponent, underflows to zero).
            if base_prod.weight > SHRT_MAX || result.weight > SHRT_MAX {
                if !neg {
                    return Err(NumericOpError::Overflow);
                }
                result = Var::zero(result.dscale);
                neg = false;
                break;
            }
        }
        if neg {
            return Var::one().div_fast(&result, rscale, true);
        }
        result.round(rscale);
        Ok(result)
    }
}

/// Splits `value` into a digit in `0..NBASE` and the carry to the next
/// position, rounding the carry toward minus infinity.
fn floor_carry(value: i64) -> (i64, i64) {
    let carry = value.div_euclid(i64::from(NBASE));
    (value - carry * i64::from(NBASE), carry)
}

/// Propagates carries through non-negative accumulated digits, most
/// significant first; the top position must absorb the final carry.
fn carry_normalize(acc: &[i64]) -> Vec<i32> {
    let mut digits = vec![0i32; acc.len()];
    let mut carry = 0i64;
    for (slot, &value) in digits.iter_mut().zip(acc).rev() {
        let (digit, next_carry) = floor_carry(value + carry);
        *slot = digit as i32;
        carry = next_carry;
    }
    assert_eq!(carry, 0, "product carried out of its top digit");
    digits
}

/// |var1| + |var2|, positive, with the larger display scale (`add_abs`).
fn add_abs(var1: &Var, var2: &Var) -> Var {
    let res_weight = var1.weight.max(var2.weight) + 1;
    let res_dscale = var1.dscale.max(var2.dscale);
    // Digits after the point, in NBASE digits.
    let rscale1 = var1.digits.len() as i32 - var1.weight - 1;
    let rscale2 = var2.digits.len() as i32 - var2.weight - 1;
    let res_rscale = rscale1.max(rscale2);
    let res_ndigits = (res_rscale + res_weight + 1).max(1);
    let digit_at = |var: &Var, i: i32| -> i32 {
        usize::try_from(i)
            .ok()
            .and_then(|i| var.digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut digits = vec![0i32; res_ndigits as usize];
    let mut i1 = res_rscale + var1.weight + 1;
    let mut i2 = res_rscale + var2.weight + 1;
    let mut carry = 0;
    for slot in digits.iter_mut().rev() {
        i1 -= 1;
        i2 -= 1;
        carry += digit_at(var1, i1) + digit_at(var2, i2);
        if carry >= NBASE {
            *slot = carry - NBASE;
            carry = 1;
        } else {
            *slot = carry;
            carry = 0;
        }
    }
    assert_eq!(carry, 0, "add_abs left no room for the carry");
    Var {
        negative: false,
        weight: res_weight,
        dscale: res_dscale,
        digits,
    }
    .stripped()
}

/// |var1| - |var2| for |var1| ≥ |var2|, positive, with the larger display
/// scale (`sub_abs`).
fn sub_abs(var1: &Var, var2: &Var) -> Var {
    let res_weight = var1.weight;
    let res_dscale = var1.dscale.max(var2.dscale);
    let rscale1 = var1.digits.len() as i32 - var1.weight - 1;
    let rscale2 = var2.digits.len() as i32 - var2.weight - 1;
    let res_rscale = rscale1.max(rscale2);
    let res_ndigits = (res_rscale + res_weight + 1).max(1);
    let digit_at = |var: &Var, i: i32| -> i32 {
        usize::try_from(i)
            .ok()
            .and_then(|i| var.digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut digits = vec![0i32; res_ndigits as usize];
    let mut i1 = res_rscale + var1.weight + 1;
    let mut i2 = res_rscale + var2.weight + 1;
    let mut borrow = 0;
    for slot in digits.iter_mut().rev() {
        i1 -= 1;
        i2 -= 1;
        borrow += digit_at(var1, i1) - digit_at(var2, i2);
        if borrow < 0 {
            *slot = borrow + NBASE;
            borrow = -1;
        } else {
            *slot = borrow;
            borrow = 0;
        }
    }
    assert_eq!(borrow, 0, "sub_abs needs |var1| >= |var2|");
    Var {
        negative: false,
        weight: res_weight,
        dscale: res_dscale,
        digits,
    }
    .stripped()
}

/// The result scale of a division (`select_div_scale`): enough places for
/// [`NUMERIC_MIN_SIG_DIGITS`] significant digits, at least either input's
/// display scale, within `0..=NUMERIC_MAX_DISPLAY_SCALE`.
fn select_div_scale(var1: &Var, var2: &Var) -> i32 {
    let first = |var: &Var| -> (i32, i32) {
        var.digits
            .iter()
            .position(|&d| d != 0)
            .map_or((0, 0), |i| (var.weight - i as i32, var.digits[i]))
    };
    let (weight1, firstdigit1) = first(var1);
    let (weight2, firstdigit2) = first(var2);
    // Estimate the quotient's weight; with equal first digits assume
    // var1 < var2.
    let mut qweight = weight1 - weight2;
    if firstdigit1 <= firstdigit2 {
        qweight -= 1;
    }
    clamp_display_scale(
        (NUMERIC_MIN_SIG_DIGITS - qweight * DEC_DIGITS)
            .max(var1.dscale)
            .max(var2.dscale),
    )
}

/// A numeric classified for the special-value rules.
enum Class {
    NaN,
    PosInf,
    NegInf,
    Finite(Var),
}

impl Class {
    /// -1, 0 or 1 for a non-NaN value (`numeric_sign_internal`).
    fn sign(&self) -> i32 {
        match self {
            Class::PosInf => 1,
            Class::NegInf => -1,
            Class::Finite(v) if v.is_zero() => 0,
            Class::Finite(v) if v.negative => -1,
            Class::Finite(_) => 1,
            Class::NaN => unreachable!("callers handle NaN first"),
        }
    }

    fn is_inf(&self) -> bool {
        matches!(self, Class::PosInf | Class::NegInf)
    }
}

/// The result of a division with an infinite operand (both operands
/// non-NaN, at least one infinite), shared by `/` and `div()`.
fn divide_special(a: &Class, b: &Class) -> OpResult<Numeric> {
    match (a, b) {
        (Class::PosInf | Class::NegInf, Class::PosInf | Class::NegInf) => Ok(Numeric::nan()),
        (Class::PosInf | Class::NegInf, divisor) => {
            let positive = matches!(a, Class::PosInf);
            match divisor.sign() {
                0 => Err(NumericOpError::DivisionByZero),
                s if (s > 0) == positive => Ok(Numeric::infinity()),
                _ => Ok(Numeric::neg_infinity()),
            }
        }
        // Finite / ±Infinity: numeric has no underflow, so zero.
        _ => Ok(Numeric::zero()),
    }
}

impl Numeric {
    /// Zero with `scale` zeros after the point.
    fn zero_with_scale(scale: u16) -> Numeric {
        Numeric {
            repr: NumericRepr::Finite {
                negative: false,
                digits: Vec::new(),
                scale,
            },
        }
    }

    fn class(&self) -> Class {
        match &self.repr {
            NumericRepr::NaN => Class::NaN,
            NumericRepr::PosInf => Class::PosInf,
            NumericRepr::NegInf => Class::NegInf,
            NumericRepr::Finite {
                negative,
                digits,
                scale,
            } => Class::Finite(Var::from_decimal(*negative, digits, *scale)),
        }
    }

    /// `self + other` (`numeric_add`): exact, with the larger display
    /// scale. `Infinity + -Infinity` is NaN.
    pub fn add(&self, other: &Numeric) -> Result<Numeric, NumericOpError> {
        match (self.class(), other.class()) {
            (Class::NaN, _) | (_, Class::NaN) => Ok(Numeric::nan()),
            (Class::PosInf, Class::NegInf) | (Class::NegInf, Class::PosInf) => Ok(Numeric::nan()),
            (Class::PosInf, _) | (_, Class::PosInf) => Ok(Numeric::infinity()),
            (Class::NegInf, _) | (_, Class::NegInf) => Ok(Numeric::neg_infinity()),
            (Class::Finite(a), Class::Finite(b)) => a.add(&b).into_numeric(),
        }
    }

    /// `self - other` (`numeric_sub`): exact, with the larger display
    /// scale. `Infinity - Infinity` is NaN.
    pub fn sub(&self, other: &Numeric) -> Result<Numeric, NumericOpError> {
        match (self.class(), other.class()) {
            (Class::NaN, _) | (_, Class::NaN) => Ok(Numeric::nan()),
            (Class::PosInf, Class::PosInf) | (Class::NegInf, Class::NegInf) => Ok(Numeric::nan()),
            (Class::PosInf, _) | (_, Class::NegInf) => Ok(Numeric::infinity()),
            (Class::NegInf, _) | (_, Class::PosInf) => Ok(Numeric::neg_infinity()),
            (Class::Finite(a), Class::Finite(b)) => a.sub(&b).into_numeric(),
        }
    }

    /// `self * other` (`numeric_mul`): exact, with the sum of the display
    /// scales, rounded if that exceeds [`NUMERIC_MAX_SCALE`]. An infinity
    /// times zero is NaN.
    pub fn mul(&self, other: &Numeric) -> Result<Numeric, NumericOpError> {
        let (a, b) = (self.class(), other.class());
        match (&a, &b) {
            (Class::NaN, _) | (_, Class::NaN) => Ok(Numeric::nan()),
            (Class::Finite(x), Class::Finite(y)) => {
                let mut product = x.mul(y, x.dscale + y.dscale);
                if product.dscale > NUMERIC_DSCALE_MAX {
                    product.round(NUMERIC_DSCALE_MAX);
                }
                product.into_numeric()
            }
            _ => Ok(match a.sign() * b.sign() {
                0 => Numeric::nan(),
                1 => Numeric::infinity(),
                _ => Numeric::neg_infinity(),
            }),
        }
    }

    /// `self / other` (`numeric_div`), rounded half away from zero at the
    /// scale `select_div_scale` picks: 16 significant digits, at least
    /// either input's display scale, at most 1000 places. NaN / 0 is NaN;
    /// any other division by zero fails.
    pub fn div(&self, other: &Numeric) -> Result<Numeric, NumericOpError> {
        match (self.class(), other.class()) {
            (Class::NaN, _) | (_, Class::NaN) => Ok(Numeric::nan()),
            (Class::Finite(a), Class::Finite(b)) => {
                let rscale = select_div_scale(&a, &b);
                a.div(&b, rscale, true)?.into_numeric()
            }
            (a, b) => divide_special(&a, &b),
        }
    }

    /// SQL's `div(self, other)` (`numeric_div_trunc`): the quotient
    /// truncated toward zero to an integer, display scale 0.
    pub fn div_trunc(&self, other: &Numeric) -> Result<Numeric, NumericOpError> {
        match (self.class(), other.class()) {
            (Class::NaN, _) | (_, Class::NaN) => Ok(Numeric::nan()),
            (Class::Finite(a), Class::Finite(b)) => a.div(&b, 0, false)?.into_numeric(),
            (a, b) => divide_special(&a, &b),
        }
    }

    /// `self % other` and SQL's `mod(self, other)` (`numeric_mod`): the
    /// remainder of truncated division, with the dividend's sign and the
    /// larger display scale. As C's `fmod`, `Infinity % y` is NaN and
    /// `x % Infinity` is `x`; a zero divisor fails even for an infinite
    /// dividend.
    pub fn rem(&self, other: &Numeric) -> Result<Numeric, NumericOpError> {
        match (self.class(), other.class()) {
            (Class::NaN, _) | (_, Class::NaN) => Ok(Numeric::nan()),
            (a, b) if a.is_inf() => {
                if b.sign() == 0 {
                    Err(NumericOpError::DivisionByZero)
                } else {
                    Ok(Numeric::nan())
                }
            }
            (Class::Finite(a), Class::Finite(b)) => a.modulo(&b)?.into_numeric(),
            // A finite value modulo an infinity.
            _ => Ok(self.clone()),
        }
    }

    /// `-self` (`numeric_uminus`); zero stays zero, the display scale is
    /// kept.
    pub fn neg(&self) -> Numeric {
        let repr = match &self.repr {
            NumericRepr::NaN => NumericRepr::NaN,
            NumericRepr::PosInf => NumericRepr::NegInf,
            NumericRepr::NegInf => NumericRepr::PosInf,
            NumericRepr::Finite {
                negative,
                digits,
                scale,
            } => NumericRepr::Finite {
                negative: !negative && !digits.is_empty(),
                digits: digits.clone(),
                scale: *scale,
            },
        };
        Numeric { repr }
    }

    /// `abs(self)` (`numeric_abs`), keeping the display scale.
    pub fn abs(&self) -> Numeric {
        let repr = match &self.repr {
            NumericRepr::NegInf => NumericRepr::PosInf,
            NumericRepr::Finite { digits, scale, .. } => NumericRepr::Finite {
                negative: false,
                digits: digits.clone(),
                scale: *scale,
            },
            other => other.clone(),
        };
        Numeric { repr }
    }

    /// `sign(self)` (`numeric_sign`): -1, 0 or 1 with display scale 0, NaN
    /// for NaN; infinities have a sign.
    pub fn sign(&self) -> Numeric {
        match self.class() {
            Class::NaN => Numeric::nan(),
            class => Numeric::from(i64::from(class.sign())),
        }
    }

    /// `round(self, scale)` (`numeric_round`): half away from zero at
    /// `scale` places, or `-scale` places before the point when negative
    /// (display scale 0 then). NaN and the
    /// infinities are returned as they are. Fails only if rounding up
    /// passes numeric's largest value.
    pub fn round(&self, scale: i32) -> Result<Numeric, NumericOpError> {
        let Class::Finite(mut v) = self.class() else {
            return Ok(self.clone());
        };
        // Beyond numeric's digits (plus one before the point, which the
        // top digit may round up into) a scale changes nothing.
        let scale = scale.clamp(-NUMERIC_MAX_INT_DIGITS_I32 - 1, NUMERIC_DSCALE_MAX);
        v.round(scale);
        if scale < 0 {
            v.dscale = 0;
        }
        v.into_numeric()
    }

    /// `trunc(self, scale)` (`numeric_trunc`): toward zero at `scale`
    /// places, or before the point when negative (display scale 0 then).
    /// NaN and the infinities are returned as they are.
    pub fn trunc(&self, scale: i32) -> Numeric {
        let Class::Finite(mut v) = self.class() else {
            return self.clone();
        };
        // Beyond numeric's digits a scale changes nothing.
        let scale = scale.clamp(-NUMERIC_MAX_INT_DIGITS_I32, NUMERIC_DSCALE_MAX);
        v.trunc(scale);
        if scale < 0 {
            v.dscale = 0;
        }
        v.into_numeric()
            .expect("truncating a numeric keeps it within numeric's limits")
    }

    /// `ceil(self)` (`numeric_ceil`): the smallest integer not below it,
    /// display scale 0. NaN and the infinities are returned as they are.
    pub fn ceil(&self) -> Result<Numeric, NumericOpError> {
        match self.class() {
            Class::Finite(v) => v.ceil().into_numeric(),
            _ => Ok(self.clone()),
        }
    }

    /// `floor(self)` (`numeric_floor`): the largest integer not above it,
    /// display scale 0. NaN and the infinities are returned as they are.
    pub fn floor(&self) -> Result<Numeric, NumericOpError> {
        match self.class() {
            Class::Finite(v) => v.floor().into_numeric(),
            _ => Ok(self.clone()),
        }
    }

    /// `sqrt(self)` (`numeric_sqrt`), correctly rounded to 16 significant
    /// digits or the input's display scale if larger (at most 1000 places).
    /// `sqrt(Infinity)` is Infinity; negative inputs fail.
    pub fn sqrt(&self) -> Result<Numeric, NumericOpError> {
        match self.class() {
            Class::NaN | Class::PosInf => Ok(self.clone()),
            Class::NegInf => Err(NumericOpError::SqrtOfNegative),
            Class::Finite(v) => {
                // Decimal weight of the result, from the input's NBASE weight.
                let sweight = (v.weight + 1) * DEC_DIGITS / 2 - 1;
                let rscale = clamp_display_scale((NUMERIC_MIN_SIG_DIGITS - sweight).max(v.dscale));
                v.sqrt(rscale)?.into_numeric()
            }
        }
    }

    /// `exp(self)` (`numeric_exp`) to 16 significant digits or the input's
    /// display scale if larger (at most 1000 places). `exp(-Infinity)` is
    /// 0; arguments of 6000 and more overflow.
    pub fn exp(&self) -> Result<Numeric, NumericOpError> {
        match self.class() {
            Class::NaN | Class::PosInf => Ok(self.clone()),
            Class::NegInf => Ok(Numeric::zero()),
            Class::Finite(v) => {
                // Decimal weight of the result: x × log10(e).
                let val = (v.to_f64() * LOG10_E).clamp(
                    -f64::from(NUMERIC_MAX_RESULT_SCALE),
                    f64::from(NUMERIC_MAX_RESULT_SCALE),
                );
                let rscale =
                    clamp_display_scale((NUMERIC_MIN_SIG_DIGITS - c_int(val)).max(v.dscale));
                v.exp(rscale)?.into_numeric()
            }
        }
    }

    /// `ln(self)` (`numeric_ln`) to 16 significant digits or the input's
    /// display scale if larger (at most 1000 places). `ln(Infinity)` is
    /// Infinity; zero and negative inputs fail.
    pub fn ln(&self) -> Result<Numeric, NumericOpError> {
        match self.class() {
            Class::NaN | Class::PosInf => Ok(self.clone()),
            Class::NegInf => Err(NumericOpError::LogOfNegative),
            Class::Finite(v) => {
                let rscale = clamp_display_scale(
                    (NUMERIC_MIN_SIG_DIGITS - v.estimate_ln_dweight()).max(v.dscale),
                );
                v.ln(rscale)?.into_numeric()
            }
        }
    }

    /// SQL's one-argument `log(self)`: the base-10 logarithm, which
    /// PostgreSQL defines as `log(10, self)`.
    pub fn log10(&self) -> Result<Numeric, NumericOpError> {
        Numeric::from(10).log(self)
    }

    /// SQL's `log(self, x)` (`numeric_log`): the logarithm of `x` to base
    /// `self`, to 16 significant digits or either input's display scale if
    /// larger. Zero or negative inputs fail; base 1 divides by zero.
    pub fn log(&self, x: &Numeric) -> Result<Numeric, NumericOpError> {
        match (self.class(), x.class()) {
            (Class::NaN, _) | (_, Class::NaN) => Ok(Numeric::nan()),
            (Class::Finite(base), Class::Finite(num)) => Var::log(&base, &num)?.into_numeric(),
            (base, num) => {
                let (sign_base, sign_num) = (base.sign(), num.sign());
                if sign_base < 0 || sign_num < 0 {
                    return Err(NumericOpError::LogOfNegative);
                }
                if sign_base == 0 || sign_num == 0 {
                    return Err(NumericOpError::LogOfZero);
                }
                Ok(match (base, num) {
                    // log(Inf, Inf) is Inf / Inf.
                    (Class::PosInf, Class::PosInf) => Numeric::nan(),
                    (Class::PosInf, _) => Numeric::zero(),
                    _ => Numeric::infinity(),
                })
            }
        }
    }

    /// `self ^ exponent` and SQL's `power()` (`numeric_power`). An int4
    /// exponent is exact to 16 places or the base's display scale if
    /// larger; any other is computed as `exp(exponent × ln(self))` to 16
    /// significant digits. NaN and infinity cases follow POSIX `pow()`.
    pub fn power(&self, exponent: &Numeric) -> Result<Numeric, NumericOpError> {
        let (base, exp) = (self.class(), exponent.class());
        match (&base, &exp) {
            (Class::Finite(b), Class::Finite(e)) => {
                if b.is_zero() && e.negative && !e.is_zero() {
                    return Err(NumericOpError::ZeroToNegativePower);
                }
                Var::power(b, e)?.into_numeric()
            }
            (Class::NaN, Class::Finite(e)) if e.is_zero() => Ok(Numeric::from(1)),
            (Class::Finite(b), Class::NaN) if b.cmp(&Var::one()) == Ordering::Equal => {
                Ok(Numeric::from(1))
            }
            (Class::NaN, _) | (_, Class::NaN) => Ok(Numeric::nan()),
            _ => power_special(&base, &exp),
        }
    }

    /// The float8 nearest to `v` as PostgreSQL 15's `float8_numeric` makes
    /// it: printed with 15 significant digits (`%.15g`, `DBL_DIG`), then
    /// read as a numeric, so 0.1 becomes 0.1 and 1e300 becomes 1 followed by
    /// 300 zeros.
    pub fn from_f64(v: f64) -> Numeric {
        if v.is_nan() {
            return Numeric::nan();
        }
        if v.is_infinite() {
            return if v > 0.0 {
                Numeric::infinity()
            } else {
                Numeric::neg_infinity()
            };
        }
        crate::pgtext::float::format_g(v, f64::DIGITS as usize)
            .parse()
            .expect("%.15g of a finite float is a numeric literal within numeric's limits")
    }

    /// The nearest float8 (`numeric_float8_no_overflow`): NaN and the
    /// infinities map to theirs, values beyond float8's range to ±Infinity
    /// and below it to ±0. (The SQL cast, which raises an error there
    /// instead, is [`crate::cast`]'s.)
    pub fn to_f64(&self) -> f64 {
        match self.class() {
            Class::NaN => f64::NAN,
            Class::PosInf => f64::INFINITY,
            Class::NegInf => f64::NEG_INFINITY,
            Class::Finite(v) => v.to_f64(),
        }
    }

    /// The value rounded half away from zero to a bigint (`numeric_int8`).
    pub fn to_i64(&self) -> Result<i64, NumericOpError> {
        let special = |what| NumericOpError::SpecialToInteger {
            what,
            type_name: "bigint",
        };
        match self.class() {
            Class::NaN => Err(special("NaN")),
            Class::PosInf | Class::NegInf => Err(special("infinity")),
            Class::Finite(v) => v.to_i64().ok_or(NumericOpError::IntegerOutOfRange {
                type_name: "bigint",
            }),
        }
    }
}

/// `numeric_power` when an input is infinite and neither is NaN: the error
/// rules first, then POSIX `pow()`'s table for infinities.
fn power_special(base: &Class, exp: &Class) -> OpResult<Numeric> {
    let (sign1, sign2) = (base.sign(), exp.sign());
    if sign1 == 0 && sign2 < 0 {
        return Err(NumericOpError::ZeroToNegativePower);
    }
    let exp_integral = match exp {
        Class::Finite(e) => e.is_integral(),
        _ => true,
    };
    if sign1 < 0 && !exp_integral {
        return Err(NumericOpError::ComplexPower);
    }
    if let Class::Finite(b) = base {
        // 1 ^ anything is 1.
        if b.cmp(&Var::one()) == Ordering::Equal {
            return Ok(Numeric::from(1));
        }
    }
    if sign2 == 0 {
        return Ok(Numeric::from(1));
    }
    if sign1 == 0 && sign2 > 0 {
        return Ok(Numeric::zero());
    }
    if exp.is_inf() {
        let abs_base_above_one = match base {
            Class::Finite(b) => {
                if b.negative && b.cmp_abs(&Var::one()) == Ordering::Equal {
                    // -1 ^ ±Infinity is 1.
                    return Ok(Numeric::from(1));
                }
                b.cmp_abs(&Var::one()) == Ordering::Greater
            }
            _ => true,
        };
        return Ok(if abs_base_above_one == (sign2 > 0) {
            Numeric::infinity()
        } else {
            Numeric::zero()
        });
    }
    // The base is infinite and the exponent finite and nonzero.
    match base {
        Class::PosInf if sign2 > 0 => Ok(Numeric::infinity()),
        Class::PosInf => Ok(Numeric::zero()),
        _ if sign2 < 0 => Ok(Numeric::zero()),
        _ => {
            let odd = matches!(exp, Class::Finite(e) if e.is_odd_integer());
            Ok(if odd {
                Numeric::neg_infinity()
            } else {
                Numeric::infinity()
            })
        }
    }
}

/// A running `sum()` and `avg()` over numeric or integer inputs, exact like
/// PostgreSQL's `NumericAggState` (and its int128 variant for int8): NaN and
/// the infinities are counted aside, finite values summed exactly with the
/// largest display scale seen.
#[derive(Clone, Debug)]
pub struct NumericAccum {
    /// Finite values added.
    count: i64,
    sum: Var,
    nan_count: i64,
    pos_inf_count: i64,
    neg_inf_count: i64,
}

impl Default for NumericAccum {
    fn default() -> NumericAccum {
        NumericAccum::new()
    }
}

impl NumericAccum {
    /// An accumulator that has seen no values.
    pub fn new() -> NumericAccum {
        NumericAccum {
            count: 0,
            sum: Var::zero(0),
            nan_count: 0,
            pos_inf_count: 0,
            neg_inf_count: 0,
        }
    }

    /// Adds a numeric (`do_numeric_accum`).
    pub fn add(&mut self, value: &Numeric) {
        match value.class() {
            Class::NaN => self.nan_count += 1,
            Class::PosInf => self.pos_inf_count += 1,
            Class::NegInf => self.neg_inf_count += 1,
            Class::Finite(v) => {
                self.sum = self.sum.add(&v);
                self.count += 1;
            }
        }
    }

    /// Adds an integer: `sum(int8)`, `avg(int2/int4/int8)`.
    pub fn add_i64(&mut self, value: i64) {
        self.sum = self.sum.add(&Var::from_i64(value));
        self.count += 1;
    }

    /// Adds another accumulator's values (the aggregates' combine step).
    pub fn merge(&mut self, other: &NumericAccum) {
        self.sum = self.sum.add(&other.sum);
        self.count += other.count;
        self.nan_count += other.nan_count;
        self.pos_inf_count += other.pos_inf_count;
        self.neg_inf_count += other.neg_inf_count;
    }

    /// Values added, special ones included.
    pub fn count(&self) -> i64 {
        self.count + self.nan_count + self.pos_inf_count + self.neg_inf_count
    }

    /// NaN, ±Infinity or `None` if a special value decides the result, as
    /// `numeric_sum` and `numeric_avg` check before computing.
    fn special_result(&self) -> Option<Numeric> {
        if self.nan_count > 0 || (self.pos_inf_count > 0 && self.neg_inf_count > 0) {
            Some(Numeric::nan())
        } else if self.pos_inf_count > 0 {
            Some(Numeric::infinity())
        } else if self.neg_inf_count > 0 {
            Some(Numeric::neg_infinity())
        } else {
            None
        }
    }

    /// `sum()` (`numeric_sum`): `None` (SQL NULL) if no values were added;
    /// NaN if any was NaN or both infinities were seen; fails if the sum
    /// overflows numeric.
    pub fn sum(&self) -> Result<Option<Numeric>, NumericOpError> {
        if self.count() == 0 {
            return Ok(None);
        }
        if let Some(special) = self.special_result() {
            return Ok(Some(special));
        }
        self.sum.clone().into_numeric().map(Some)
    }

    /// `avg()` (`numeric_avg`, `int8_avg`): `None` if no values were added,
    /// else the sum divided by the count with numeric division's scale
    /// (`avg(1, 2)` is 1.5000000000000000).
    pub fn avg(&self) -> Result<Option<Numeric>, NumericOpError> {
        if self.count() == 0 {
            return Ok(None);
        }
        if let Some(special) = self.special_result() {
            return Ok(Some(special));
        }
        let sum = self.sum.clone().into_numeric()?;
        sum.div(&Numeric::from(self.count)).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Numeric {
        text.parse().expect("numeric literal")
    }

    fn show(r: Result<Numeric, NumericOpError>) -> String {
        match r {
            Ok(v) => v.to_string(),
            Err(e) => format!("ERROR {}: {e}", e.sqlstate()),
        }
    }

    #[test]
    fn var_round_trips_decimal_digits() {
        for text in [
            "0",
            "0.00",
            "1",
            "-1",
            "12345",
            "1.5",
            "0.0001",
            "0.00012",
            "-123456789.987654321",
            "100000000",
            "0.1000",
            "99999999999999999999.99999",
        ] {
            let num = n(text);
            let Class::Finite(v) = num.class() else {
                panic!("finite")
            };
            let back = v.into_numeric().expect("in range");
            assert!(back.is_identical(&num), "{text} came back as {back}");
        }
    }

    #[test]
    fn scales_follow_postgres() {
        assert_eq!(show(n("1.50").add(&n("2.125"))), "3.625");
        assert_eq!(show(n("1.50").sub(&n("1.50"))), "0.00");
        assert_eq!(show(n("1.5").mul(&n("2.25"))), "3.375");
        assert_eq!(show(n("1").div(&n("3"))), "0.33333333333333333333");
        assert_eq!(show(n("2").div(&n("3"))), "0.66666666666666666667");
        assert_eq!(show(n("10").div(&n("4"))), "2.5000000000000000");
        assert_eq!(show(n("7").rem(&n("-3"))), "1");
        assert_eq!(show(n("-7.5").rem(&n("2"))), "-1.5");
        assert_eq!(show(n("-7.5").div_trunc(&n("2"))), "-3");
        assert_eq!(show(n("2.5").round(0)), "3");
        assert_eq!(show(n("-2.5").round(0)), "-3");
        assert_eq!(show(n("1234.5678").round(-2)), "1200");
        assert_eq!(n("-1234.5678").trunc(2).to_string(), "-1234.56");
        assert_eq!(show(n("-0.5").ceil()), "0");
        assert_eq!(show(n("-0.5").floor()), "-1");
    }

    #[test]
    fn special_values_propagate() {
        let inf = Numeric::infinity();
        let ninf = Numeric::neg_infinity();
        assert_eq!(show(inf.sub(&inf)), "NaN");
        assert_eq!(show(inf.mul(&n("0"))), "NaN");
        assert_eq!(show(n("1").div(&inf)), "0");
        assert_eq!(show(Numeric::nan().div(&n("0"))), "NaN");
        assert_eq!(show(n("0").div(&n("0"))), "ERROR 22012: division by zero");
        assert_eq!(show(inf.div(&n("0"))), "ERROR 22012: division by zero");
        assert_eq!(show(ninf.rem(&n("2"))), "NaN");
        assert_eq!(show(n("5.5").rem(&ninf)), "5.5");
        assert_eq!(show(Numeric::nan().power(&n("0"))), "1");
        assert_eq!(show(n("1").power(&Numeric::nan())), "1");
        assert_eq!(show(ninf.power(&n("3"))), "-Infinity");
        assert_eq!(show(n("0.5").power(&ninf)), "Infinity");
    }

    #[test]
    fn transcendental_functions_match_known_postgres_output() {
        // Printed by PostgreSQL 15.
        assert_eq!(show(n("2").sqrt()), "1.414213562373095");
        assert_eq!(show(n("1").exp()), "2.7182818284590452");
        assert_eq!(show(n("10").ln()), "2.3025850929940457");
        assert_eq!(show(n("2").power(&n("0.5"))), "1.4142135623730950");
        assert_eq!(show(n("2").power(&n("10"))), "1024.0000000000000000");
        assert_eq!(show(n("1000").log10()), "3.0000000000000000");
    }

    #[test]
    fn overflow_is_reported() {
        let big = n(&format!("9{}", "9".repeat(131_071)));
        assert_eq!(
            show(big.add(&n("1"))),
            "ERROR 22003: value overflows numeric format"
        );
        assert_eq!(
            show(n("10").power(&n("131072"))),
            "ERROR 22003: value overflows numeric format"
        );
        assert_eq!(
            show(n("6000").exp()),
            "ERROR 22003: value overflows numeric format"
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(Numeric::from_f64(0.1).to_string(), "0.1");
        assert_eq!(
            Numeric::from_f64(1.0 / 3.0).to_string(),
            "0.333333333333333"
        );
        assert_eq!(Numeric::from_f64(-1.5e-5).to_string(), "-0.000015");
        assert_eq!(n("0.1").to_f64(), 0.1);
        assert_eq!(n("1e400").to_f64(), f64::INFINITY);
        assert_eq!(n("2.5").to_i64(), Ok(3));
        assert_eq!(n("-2.5").to_i64(), Ok(-3));
        assert_eq!(n("-9223372036854775808.4").to_i64(), Ok(i64::MIN));
        assert_eq!(
            n("9223372036854775807.5").to_i64(),
            Err(NumericOpError::IntegerOutOfRange {
                type_name: "bigint"
            })
        );
        assert_eq!(
            Numeric::nan().to_i64().map_err(|e| e.to_string()),
            Err("cannot convert NaN to bigint".to_owned())
        );
    }

    #[test]
    fn accumulator_sums_and_averages_like_postgres() {
        let mut acc = NumericAccum::new();
        assert_eq!(acc.sum(), Ok(None));
        assert_eq!(acc.avg(), Ok(None));
        for v in [1, 2, 4] {
            acc.add_i64(v);
        }
        assert_eq!(show(acc.avg().map(Option::unwrap)), "2.3333333333333333");
        let mut acc = NumericAccum::new();
        acc.add(&n("1"));
        acc.add(&n("2.50"));
        assert_eq!(show(acc.sum().map(Option::unwrap)), "3.50");
        assert_eq!(show(acc.avg().map(Option::unwrap)), "1.7500000000000000");
        acc.add(&Numeric::infinity());
        assert_eq!(show(acc.sum().map(Option::unwrap)), "Infinity");
        acc.add(&Numeric::neg_infinity());
        assert_eq!(show(acc.avg().map(Option::unwrap)), "NaN");
    }
}
