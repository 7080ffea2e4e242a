//! Text forms of arrays (`array_in`, `array_out`) and of `int2vector` and
//! `oidvector` (`int2vectorin`, `oidvectorin`), as PostgreSQL 15 reads and
//! prints them.
//!
//! An array literal is split into element strings first ([`split`]), which
//! is PostgreSQL's `ArrayCount` (the syntax check, with its error details)
//! followed by `ReadArrayStr` (quotes, backslashes and whitespace); each
//! string is then read by the element type's input function. The binary
//! wire format reuses the split and the join ([`join`]) on element text.
//!
//! Only one-dimensional arrays exist here: a well-formed literal with more
//! dimensions is reported as not supported, a malformed one with
//! PostgreSQL's own error.

use crate::datum::{Array, DataType, Datum, ARRAY_MAX_ITEMS};

use super::{parse, TextContext, TypeError};

/// Most dimensions PostgreSQL allows (`MAXDIM`, `src/include/utils/array.h`);
/// deeper literals are errors before any element is read.
const ARRAY_DIMENSIONS_MAX: usize = 6;

/// Most elements an `int2vector` or `oidvector` reads: PostgreSQL's
/// `FUNC_MAX_ARGS` (`src/include/pg_config_manual.h`).
pub(crate) const VECTOR_ITEMS_MAX: usize = 100;

/// `array_isspace`: the whitespace array literals skip around elements.
fn is_array_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

/// An array literal split into its elements' text, before the element
/// type reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArrayLiteral {
    /// Subscript of the first element: 1 unless written as `[lb:ub]=`.
    pub lower_bound: i32,
    /// Each element's text, `None` for an unquoted `NULL`.
    pub items: Vec<Option<String>>,
}

fn malformed(input: &str, detail: impl Into<String>) -> TypeError {
    TypeError::MalformedArray {
        input: input.to_owned(),
        detail: detail.into(),
    }
}

/// Splits an array literal as `array_in` does: optional dimension
/// decoration (`[0:1]=`), braces, `,` between elements, double quotes,
/// backslash escapes, whitespace around elements dropped, unquoted `NULL`
/// (any case) for NULL.
pub(crate) fn split(input: &str) -> Result<ArrayLiteral, TypeError> {
    let bytes = input.as_bytes();
    let mut p = bytes.iter().take_while(|&&b| is_array_space(b)).count();
    // Explicit dimensions: `[lb:ub]` or `[ub]`, repeated.
    let mut bounds: Vec<(i32, i32)> = Vec::new();
    loop {
        p += bytes[p..]
            .iter()
            .take_while(|&&b| is_array_space(b))
            .count();
        if bytes.get(p) != Some(&b'[') {
            break;
        }
        p += 1;
        if bounds.len() >= ARRAY_DIMENSIONS_MAX {
            return Err(TypeError::ArrayDimensionsExceeded {
                count: bounds.len() + 1,
                max: ARRAY_DIMENSIONS_MAX,
            });
        }
        let number_len = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'-' || **b == b'+')
                .count()
        };
        let mut q = p + number_len(p);
        if q == p {
            return Err(malformed(
                input,
                "\"[\" must introduce explicitly-specified array dimensions.",
            ));
        }
        let lower = if bytes[q] == b':' {
            let lower = atoi(&bytes[p..q]);
            p = q + 1;
            q = p + number_len(p);
            if q == p {
                return Err(malformed(input, "Missing array dimension value."));
            }
            lower
        } else {
            1
        };
        if bytes.get(q) != Some(&b']') {
            return Err(malformed(input, "Missing \"]\" after array dimensions."));
        }
        let upper = atoi(&bytes[p..q]);
        p = q + 1;
        if upper < lower {
            return Err(TypeError::ArrayBoundsReversed);
        }
        bounds.push((lower, upper));
    }
    if bounds.is_empty() {
        if bytes.get(p) != Some(&b'{') {
            return Err(malformed(
                input,
                "Array value must start with \"{\" or dimension information.",
            ));
        }
    } else {
        if !bytes[p..].starts_with(b"=") {
            return Err(malformed(input, "Missing \"=\" after array dimensions."));
        }
        p += 1;
        p += bytes[p..]
            .iter()
            .take_while(|&&b| is_array_space(b))
            .count();
        if bytes.get(p) != Some(&b'{') {
            return Err(malformed(input, "Array contents must start with \"{\"."));
        }
    }
    let dims = count(input, p)?;
    if !bounds.is_empty() {
        let given: Vec<i64> = bounds
            .iter()
            .map(|&(lower, upper)| i64::from(upper) - i64::from(lower) + 1)
            .collect();
        let found: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        if given != found {
            return Err(malformed(
                input,
                "Specified array dimensions do not match array contents.",
            ));
        }
    }
    if dims.len() > 1 {
        return Err(TypeError::Unsupported {
            what: "multidimensional arrays",
        });
    }
    let len = dims.first().copied().unwrap_or(0);
    if len > ARRAY_MAX_ITEMS {
        return Err(TypeError::ArrayTooLarge {
            max: ARRAY_MAX_ITEMS,
        });
    }
    let lower_bound = bounds.first().map_or(1, |&(lower, _)| lower);
    if Array::upper_bound_of(lower_bound, len).is_none() {
        return Err(TypeError::ArrayLowerBoundTooLarge { lower_bound });
    }
    let items = if len == 0 {
        Vec::new()
    } else {
        read_items(&bytes[p..])
    };
    debug_assert_eq!(items.len(), len, "count and read agree on {input:?}");
    Ok(ArrayLiteral { lower_bound, items })
}

/// C's `atoi` on a run of digits and signs: the leading signed number,
/// wrapping as glibc does on overflow.
fn atoi(digits: &[u8]) -> i32 {
    let (negative, rest) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        Some(b'+') => (false, &digits[1..]),
        _ => (false, digits),
    };
    let mut value: i64 = 0;
    for &b in rest.iter().take_while(|b| b.is_ascii_digit()) {
        value = value.wrapping_mul(10).wrapping_add(i64::from(b - b'0'));
    }
    (if negative {
        value.wrapping_neg()
    } else {
        value
    }) as i32
}

/// Where `ArrayCount` is in the literal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    NoLevel,
    LevelStarted,
    ElemStarted,
    QuotedElemStarted,
    QuotedElemCompleted,
    ElemDelimited,
    LevelCompleted,
    LevelDelimited,
}

/// PostgreSQL's `ArrayCount`: checks the brace structure from `start` (a
/// `{`) and returns the length of each dimension, none for `{}`.
fn count(input: &str, start: usize) -> Result<Vec<usize>, TypeError> {
    use State::*;
    let bytes = input.as_bytes();
    let unexpected = |c: char| malformed(input, format!("Unexpected \"{c}\" character."));
    let mut nest_level = 0usize;
    let mut ndim = 1usize;
    let mut temp = [0usize; ARRAY_DIMENSIONS_MAX];
    let mut nelems = [1usize; ARRAY_DIMENSIONS_MAX];
    let mut nelems_last = [0usize; ARRAY_DIMENSIONS_MAX];
    let mut in_quotes = false;
    let mut empty = true;
    let mut state = NoLevel;
    let mut ptr = start;
    let mut end_of_array = false;
    while !end_of_array {
        let mut item_done = false;
        while !item_done {
            if matches!(state, ElemStarted | QuotedElemStarted) {
                empty = false;
            }
            let Some(&c) = bytes.get(ptr) else {
                return Err(malformed(input, "Unexpected end of input."));
            };
            match c {
                b'\\' => {
                    if !matches!(
                        state,
                        LevelStarted | ElemStarted | QuotedElemStarted | ElemDelimited
                    ) {
                        return Err(unexpected('\\'));
                    }
                    if state != QuotedElemStarted {
                        state = ElemStarted;
                    }
                    if ptr + 1 < bytes.len() {
                        ptr += 1;
                    } else {
                        return Err(malformed(input, "Unexpected end of input."));
                    }
                }
                b'"' => {
                    if !matches!(state, LevelStarted | QuotedElemStarted | ElemDelimited) {
                        return Err(malformed(input, "Unexpected array element."));
                    }
                    in_quotes = !in_quotes;
                    state = if in_quotes {
                        QuotedElemStarted
                    } else {
                        QuotedElemCompleted
                    };
                }
                b'{' if !in_quotes => {
                    if !matches!(state, NoLevel | LevelStarted | LevelDelimited) {
                        return Err(unexpected('{'));
                    }
                    state = LevelStarted;
                    if nest_level >= ARRAY_DIMENSIONS_MAX {
                        return Err(TypeError::ArrayDimensionsExceeded {
                            count: nest_level + 1,
                            max: ARRAY_DIMENSIONS_MAX,
                        });
                    }
                    temp[nest_level] = 0;
                    nest_level += 1;
                    ndim = ndim.max(nest_level);
                }
                b'}' if !in_quotes => {
                    // `{}` closes right after it opens, only at the top.
                    let allowed =
                        matches!(state, ElemStarted | QuotedElemCompleted | LevelCompleted)
                            || (nest_level == 1 && state == LevelStarted);
                    if !allowed {
                        return Err(unexpected('}'));
                    }
                    state = LevelCompleted;
                    if nest_level == 0 {
                        return Err(malformed(input, "Unmatched \"}\" character."));
                    }
                    nest_level -= 1;
                    if nelems_last[nest_level] != 0 && nelems[nest_level] != nelems_last[nest_level]
                    {
                        return Err(malformed(
                            input,
                            "Multidimensional arrays must have sub-arrays with matching dimensions.",
                        ));
                    }
                    nelems_last[nest_level] = nelems[nest_level];
                    nelems[nest_level] = 1;
                    if nest_level == 0 {
                        end_of_array = true;
                        item_done = true;
                    } else {
                        temp[nest_level - 1] += 1;
                    }
                }
                b',' if !in_quotes => {
                    if !matches!(state, ElemStarted | QuotedElemCompleted | LevelCompleted) {
                        return Err(unexpected(','));
                    }
                    state = if state == LevelCompleted {
                        LevelDelimited
                    } else {
                        ElemDelimited
                    };
                    item_done = true;
                    nelems[nest_level - 1] += 1;
                }
                _ if !in_quotes && !is_array_space(c) => {
                    if !matches!(state, LevelStarted | ElemStarted | ElemDelimited) {
                        return Err(malformed(input, "Unexpected array element."));
                    }
                    state = ElemStarted;
                }
                _ => {}
            }
            if !item_done {
                ptr += 1;
            }
        }
        temp[ndim - 1] += 1;
        ptr += 1;
    }
    if bytes[ptr.min(bytes.len())..]
        .iter()
        .any(|&b| !is_array_space(b))
    {
        return Err(malformed(input, "Junk after closing right brace."));
    }
    if empty {
        return Ok(Vec::new());
    }
    Ok(temp[..ndim].to_vec())
}

/// PostgreSQL's `ReadArrayStr` for one dimension: the elements' text,
/// from a literal [`count`] has checked. `literal` starts at the `{`.
fn read_items(literal: &[u8]) -> Vec<Option<String>> {
    let mut items = Vec::new();
    let mut src = 1; // past the `{`
    let mut in_quotes = false;
    loop {
        let mut item: Vec<u8> = Vec::new();
        let mut end = 0; // item length without trailing unquoted whitespace
        let mut leading_space = true;
        let mut has_quoting = false;
        let last = loop {
            let c = literal[src];
            match c {
                b'\\' => {
                    item.push(literal[src + 1]);
                    src += 2;
                    leading_space = false;
                    end = item.len();
                    has_quoting = true;
                }
                b'"' => {
                    in_quotes = !in_quotes;
                    if in_quotes {
                        leading_space = false;
                    } else {
                        end = item.len();
                    }
                    has_quoting = true;
                    src += 1;
                }
                _ if in_quotes => {
                    item.push(c);
                    src += 1;
                }
                b'}' => break true,
                b',' => {
                    src += 1;
                    break false;
                }
                _ if is_array_space(c) => {
                    if !leading_space {
                        item.push(c);
                    }
                    src += 1;
                }
                _ => {
                    item.push(c);
                    src += 1;
                    leading_space = false;
                    end = item.len();
                }
            }
        };
        item.truncate(end);
        let text = String::from_utf8(item).expect("split at ASCII bytes of valid UTF-8");
        items.push(if !has_quoting && text.eq_ignore_ascii_case("NULL") {
            None
        } else {
            Some(text)
        });
        if last {
            return items;
        }
    }
}

/// Joins element text into an array literal as `array_out` prints it:
/// `[lb:ub]=` before the braces when the lower bound is not 1, `NULL` for
/// NULL, and double quotes (escaping `"` and `\`) around an element that is
/// empty, reads `NULL` in any case, or holds braces, a comma, a quote, a
/// backslash or whitespace.
pub(crate) fn join<'a>(
    lower_bound: i32,
    items: impl ExactSizeIterator<Item = Option<&'a str>>,
) -> String {
    let len = items.len();
    let mut out = String::new();
    if len == 0 {
        return "{}".to_owned();
    }
    if lower_bound != 1 {
        let upper = Array::upper_bound_of(lower_bound, len).expect("array bounds fit");
        out.push_str(&format!("[{lower_bound}:{upper}]="));
    }
    out.push('{');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(text) = item else {
            out.push_str("NULL");
            continue;
        };
        let needs_quotes = text.is_empty()
            || text.eq_ignore_ascii_case("NULL")
            || text
                .bytes()
                .any(|b| matches!(b, b'"' | b'\\' | b'{' | b'}' | b',') || is_array_space(b));
        if needs_quotes {
            out.push('"');
            for c in text.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(text);
        }
    }
    out.push('}');
    out
}

/// Reads an array of type `ty` (an SQL array type) as `array_in`.
pub(crate) fn parse_array(ty: DataType, text: &str, ctx: &TextContext) -> Result<Array, TypeError> {
    let elem = ty.elem().expect("parse_array is called with an array type");
    let literal = split(text)?;
    let items = literal
        .items
        .iter()
        .map(|item| match item {
            None => Ok(Datum::Null),
            Some(s) => parse(&elem, s, ctx),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Array::with_lower_bound(ty, literal.lower_bound, items))
}

/// Prints an SQL array as `array_out`.
pub(crate) fn format_array(array: &Array, ctx: &TextContext) -> String {
    let texts: Vec<Option<String>> = array
        .items()
        .iter()
        .map(|d| (!d.is_null()).then(|| super::format(d, ctx)))
        .collect();
    join(array.lower_bound(), texts.iter().map(Option::as_deref))
}

/// Reads an `int2vector` (`int2vectorin`) or `oidvector` (`oidvectorin`):
/// numbers separated by whitespace, at most [`VECTOR_ITEMS_MAX`].
pub(crate) fn parse_vector(ty: DataType, text: &str) -> Result<Array, TypeError> {
    let bytes = text.as_bytes();
    let mut items = Vec::new();
    let mut p = 0;
    loop {
        p += bytes[p..]
            .iter()
            .take_while(|&&b| super::is_c_space_byte(b))
            .count();
        if p == bytes.len() || items.len() == VECTOR_ITEMS_MAX {
            break;
        }
        let rest = &text[p..];
        let (item, used) = match ty {
            DataType::Int2Vector => {
                let (value, used) = int2_prefix(rest)?;
                (Datum::Int2(value), used)
            }
            _ => {
                let (value, used) = super::oid_prefix(rest, true)?;
                (Datum::Oid(value), used)
            }
        };
        items.push(item);
        p += used;
    }
    if p != bytes.len() {
        return Err(TypeError::VectorTooLong {
            type_name: ty.name(),
        });
    }
    Ok(Array::new(ty, items))
}

/// One number of an `int2vector` as PostgreSQL 15's `int2vectorin` reads
/// it with `strtol`: a sign and digits, then a space or the end. Errors
/// quote the text from this number on.
fn int2_prefix(rest: &str) -> Result<(i16, usize), TypeError> {
    let syntax = || TypeError::InvalidSyntax {
        type_name: "smallint",
        input: rest.to_owned(),
    };
    let bytes = rest.as_bytes();
    let sign = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits = bytes[sign..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return Err(syntax());
    }
    let used = sign + digits;
    let value = rest[..used]
        .parse::<i64>()
        .ok()
        .and_then(|v| i16::try_from(v).ok())
        .ok_or_else(|| TypeError::IntegerInputOutOfRange {
            type_name: "smallint",
            input: rest.to_owned(),
        })?;
    if bytes.get(used).is_some_and(|&b| b != b' ') {
        return Err(syntax());
    }
    Ok((value, used))
}

/// Prints an `int2vector` or `oidvector`: its numbers separated by spaces.
pub(crate) fn format_vector(array: &Array, ctx: &TextContext) -> String {
    let texts: Vec<String> = array
        .items()
        .iter()
        .map(|d| super::format(d, ctx))
        .collect();
    texts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<Option<&str>> {
        text.split('|')
            .map(|s| if s == "<null>" { None } else { Some(s) })
            .collect()
    }

    #[test]
    fn literals_split_as_array_in() {
        let cases = [
            ("{1,2,NULL}", 1, "1|2|<null>"),
            ("  { 1 , 2 }  ", 1, "1|2"),
            (
                "{\"a b\",\"c\\\"d\",\"\",NULL,\"NULL\",null}",
                1,
                "a b|c\"d||<null>|NULL|<null>",
            ),
            ("{a\tb, c d }", 1, "a\tb|c d"),
            ("{\"\\\\\"}", 1, "\\"),
            ("{ \"a\" }", 1, "a"),
            ("{a\\ }", 1, "a "),
            ("{N\\ULL}", 1, "NULL"),
            ("{\"{x}\"}", 1, "{x}"),
            ("[0:1]={1,2}", 0, "1|2"),
            (" [-2:-2] = {x}", -2, "x"),
        ];
        for (input, lower_bound, want) in cases {
            let literal = split(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(literal.lower_bound, lower_bound, "{input:?}");
            let got: Vec<Option<&str>> = literal.items.iter().map(Option::as_deref).collect();
            assert_eq!(got, items(want), "{input:?}");
        }
        assert_eq!(split("{}").map(|l| l.items.len()), Ok(0));
        assert_eq!(split(" {  } ").map(|l| l.items.len()), Ok(0));
    }

    #[test]
    fn malformed_literals_have_postgres_details() {
        let cases = [
            (
                "1,2",
                "Array value must start with \"{\" or dimension information.",
            ),
            (
                "",
                "Array value must start with \"{\" or dimension information.",
            ),
            ("{1,2", "Unexpected end of input."),
            ("{1,2}x", "Junk after closing right brace."),
            ("{1,,2}", "Unexpected \",\" character."),
            ("{,}", "Unexpected \",\" character."),
            ("{\"a\"b}", "Unexpected array element."),
            ("{a\"b\"}", "Unexpected array element."),
            ("{a\\}", "Unexpected end of input."),
            ("{a,{b}}", "Unexpected \"{\" character."),
            (
                "[2]={5}",
                "Specified array dimensions do not match array contents.",
            ),
            (
                "[1:3]={1,2}",
                "Specified array dimensions do not match array contents.",
            ),
            (
                "[]={1}",
                "\"[\" must introduce explicitly-specified array dimensions.",
            ),
            ("[1:]={1}", "Missing array dimension value."),
            ("[1={1}", "Missing \"]\" after array dimensions."),
            ("[1:1]{1}", "Missing \"=\" after array dimensions."),
            ("[1:1]=1", "Array contents must start with \"{\"."),
            (
                "{{1},{1,2}}",
                "Multidimensional arrays must have sub-arrays with matching dimensions.",
            ),
        ];
        for (input, detail) in cases {
            match split(input) {
                Err(TypeError::MalformedArray { detail: got, .. }) => {
                    assert_eq!(got, detail, "{input:?}")
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        assert_eq!(
            split("{{1,2},{3,4}}"),
            Err(TypeError::Unsupported {
                what: "multidimensional arrays"
            })
        );
        assert_eq!(split("[2:1]={}"), Err(TypeError::ArrayBoundsReversed));
        assert_eq!(
            split("[2147483647:2147483647]={1}"),
            Err(TypeError::ArrayLowerBoundTooLarge {
                lower_bound: i32::MAX
            })
        );
        assert!(matches!(
            split("[1][1][1][1][1][1][1]={1}"),
            Err(TypeError::ArrayDimensionsExceeded { count: 7, .. })
        ));
        assert!(matches!(
            split("{{{{{{{1}}}}}}}"),
            Err(TypeError::ArrayDimensionsExceeded { count: 7, .. })
        ));
        assert_eq!(
            split("[2147483647:2147483648]={1,2}"),
            Err(TypeError::ArrayBoundsReversed)
        );
    }

    #[test]
    fn join_quotes_as_array_out() {
        let got = join(
            1,
            items("a b|c\"d||<null>|NULL|null|x\\y|{}|plain|é").into_iter(),
        );
        assert_eq!(
            got,
            "{\"a b\",\"c\\\"d\",\"\",NULL,\"NULL\",\"null\",\"x\\\\y\",\"{}\",plain,é}"
        );
        assert_eq!(join(0, items("1|2").into_iter()), "[0:1]={1,2}");
        assert_eq!(join(5, std::iter::empty()), "{}");
    }

    #[test]
    fn vectors_read_as_postgres_15() {
        let int2 = |text| parse_vector(DataType::Int2Vector, text);
        let got = int2(" 1  2 3 ").expect("parses");
        assert_eq!(
            got.items(),
            [Datum::Int2(1), Datum::Int2(2), Datum::Int2(3)]
        );
        assert_eq!(got.lower_bound(), 0);
        assert_eq!(int2("").map(|a| a.len()), Ok(0));
        assert_eq!(
            int2("1,2").map(|a| a.len()),
            Err(TypeError::InvalidSyntax {
                type_name: "smallint",
                input: "1,2".into()
            })
        );
        assert_eq!(
            int2("1 x").map(|a| a.len()),
            Err(TypeError::InvalidSyntax {
                type_name: "smallint",
                input: "x".into()
            })
        );
        assert_eq!(
            int2("1 99999 2").map(|a| a.len()),
            Err(TypeError::IntegerInputOutOfRange {
                type_name: "smallint",
                input: "99999 2".into()
            })
        );
        let many = vec!["1"; VECTOR_ITEMS_MAX + 1].join(" ");
        assert_eq!(
            int2(&many).map(|a| a.len()),
            Err(TypeError::VectorTooLong {
                type_name: "int2vector"
            })
        );
        let oids = parse_vector(DataType::OidVector, "1 4294967295").expect("parses");
        assert_eq!(oids.items(), [Datum::Oid(1), Datum::Oid(u32::MAX)]);
        assert_eq!(
            format_vector(&oids, &TextContext::default()),
            "1 4294967295"
        );
    }
}
