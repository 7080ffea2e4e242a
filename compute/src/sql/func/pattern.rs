//! Pattern matching: POSIX regular expressions (`~`, `~*`, `!~`, `!~*`,
//! `regexp_replace`) and `LIKE`.
//!
//! PostgreSQL's regular expressions are Henry Spencer's "advanced regular
//! expressions" (ARE). We translate the ARE syntax people write into the
//! `regex` crate's, which runs in linear time: bracket expressions and
//! POSIX classes, the escapes (`\d`, `\m`, `\M`, `\y`, `\Y`, `\A`, `\Z`,
//! character entries such as `\x41`, `\u00e9`, and `\b`, which is
//! backspace in an ARE), embedded options (`(?i)`, `(?n)`, `(?x)`, ...),
//! the `***=` literal prefix, and quantifiers including the non-greedy
//! ones. `.` and `[^...]` match newlines, and `^`/`$` anchor the whole
//! string, unless newline-sensitive mode (`n`) is on. Back references and
//! lookaround constraints are not supported (0A000): they need
//! backtracking. Classes are the C locale's: ASCII only.
//!
//! Compiled expressions are cached per thread, keyed by pattern and flags,
//! so a query that applies one pattern to many rows compiles it once.
//!
//! `LIKE` is matched directly: `%` and `_` with an escape character
//! (backslash unless given), greedy with a single backtrack point per `%`,
//! so no pattern takes more than O(n·m) steps.

use std::cell::RefCell;
use std::sync::Arc;

use regex::Regex;

use super::{bad_args, invalid_parameter, sqlstate, Builtin as B};
use crate::datum::Datum;
use crate::sql::error::SqlError;

/// Compiled regular expressions kept per thread; a small LRU suffices
/// because a statement uses few distinct patterns.
const REGEX_CACHE_ENTRIES_MAX: usize = 32;

/// Largest compiled program the `regex` crate may build, so that a
/// hostile pattern cannot take unbounded memory (PostgreSQL's limit
/// surfaces as "regular expression is too complex").
const REGEX_SIZE_BYTES_MAX: usize = 32 << 20;

/// How a pattern is compiled: PostgreSQL's `pg_re_flags` subset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Flags {
    case_insensitive: bool,
    /// `n` (newline-sensitive): `.` and `[^...]` do not match newline,
    /// `^`/`$` match at line boundaries.
    newline: bool,
    /// `s`/`p`/`w`: the partial newline-sensitive modes.
    partial_dot: bool,
    partial_anchor: bool,
    /// `x`: expanded syntax (whitespace and `#` comments ignored).
    expanded: bool,
    /// `q`: the whole pattern is a literal string.
    literal: bool,
}

thread_local! {
    static CACHE: RefCell<Vec<(String, Flags, Arc<Regex>)>> = const { RefCell::new(Vec::new()) };
}

fn invalid_regex(what: &str) -> SqlError {
    SqlError::new(
        sqlstate::INVALID_REGULAR_EXPRESSION,
        format!("invalid regular expression: {what}"),
    )
}

fn unsupported(what: &str) -> SqlError {
    SqlError::new(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!("regular expression {what} are not supported"),
    )
}

/// The compiled form of `pattern` under `flags`, from the cache if there.
fn compile(pattern: &str, flags: Flags) -> Result<Arc<Regex>, SqlError> {
    let hit = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let i = c.iter().position(|(p, f, _)| *f == flags && p == pattern)?;
        let entry = c.remove(i);
        let re = Arc::clone(&entry.2);
        c.push(entry);
        Some(re)
    });
    if let Some(re) = hit {
        return Ok(re);
    }
    let translated = translate(pattern, flags)?;
    let re = regex::RegexBuilder::new(&translated)
        .size_limit(REGEX_SIZE_BYTES_MAX)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => invalid_regex("regular expression is too complex"),
            other => invalid_regex(&other.to_string()),
        })?;
    let re = Arc::new(re);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= REGEX_CACHE_ENTRIES_MAX {
            c.remove(0);
        }
        c.push((pattern.to_owned(), flags, Arc::clone(&re)));
    });
    Ok(re)
}

/// Appends `c` to a Rust pattern as a literal; with `ci`, an ASCII letter
/// matches either case (the C locale folds no other letters).
fn push_literal(out: &mut String, c: char, ci: bool) {
    if ci && c.is_ascii_alphabetic() {
        out.push('[');
        out.push(c.to_ascii_lowercase());
        out.push(c.to_ascii_uppercase());
        out.push(']');
        return;
    }
    if c.is_ascii_punctuation() || c == ' ' || c == '#' {
        if matches!(
            c,
            '\\' | '.'
                | '+'
                | '*'
                | '?'
                | '('
                | ')'
                | '|'
                | '['
                | ']'
                | '{'
                | '}'
                | '^'
                | '$'
                | '#'
                | '&'
                | '-'
                | '~'
                | ' '
        ) {
            out.push('\\');
        }
        out.push(c);
    } else if c.is_control() || c == '\u{7f}' {
        out.push_str(&format!("\\x{{{:x}}}", u32::from(c)));
    } else {
        out.push(c);
    }
}

/// The ASCII class a PostgreSQL class escape means in the C locale.
fn class_escape(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => "0-9",
        's' => "\\t\\n\\x0B\\x0C\\r ",
        'w' => "0-9A-Za-z_",
        _ => return None,
    })
}

/// Reads a character-entry escape after the backslash at `chars[*i]`
/// (`*i` is at the letter), as `lexescape` does; `None` if `chars[*i]` does
/// not start one.
fn char_entry(chars: &[char], i: &mut usize) -> Result<Option<char>, SqlError> {
    let c = chars[*i];
    let hex = |i: &mut usize, max: usize| -> Result<u32, SqlError> {
        let mut v: u32 = 0;
        let mut n = 0;
        while n < max {
            match chars.get(*i + 1).and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    v = v
                        .checked_mul(16)
                        .and_then(|v| v.checked_add(d))
                        .ok_or_else(|| invalid_regex("invalid escape \\ sequence"))?;
                    *i += 1;
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 {
            return Err(invalid_regex("invalid escape \\ sequence"));
        }
        Ok(v)
    };
    let to_char =
        |v: u32| char::from_u32(v).ok_or_else(|| invalid_regex("invalid escape \\ sequence"));
    Ok(Some(match c {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'B' => '\\',
        'e' => '\u{1b}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        'c' => {
            let Some(&x) = chars.get(*i + 1) else {
                return Err(invalid_regex("invalid escape \\ sequence"));
            };
            *i += 1;
            char::from_u32(u32::from(x) & 0x1f).expect("a control character")
        }
        'x' => to_char(hex(i, 8)?)?,
        'u' => to_char(hex(i, 4)?)?,
        'U' => to_char(hex(i, 8)?)?,
        '0' => {
            let mut v = 0u32;
            let mut n = 0;
            while n < 3 {
                match chars.get(*i + 1).and_then(|c| c.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        *i += 1;
                        n += 1;
                    }
                    None => break,
                }
            }
            if v == 0 {
                return Err(invalid_regex("invalid escape \\ sequence"));
            }
            to_char(v)?
        }
        _ => return Ok(None),
    }))
}

/// Translates an ARE into the `regex` crate's syntax.
fn translate(pattern: &str, mut flags: Flags) -> Result<String, SqlError> {
    let mut chars: Vec<char> = pattern.chars().collect();
    // Director prefixes.
    if let Some(rest) = pattern.strip_prefix("***=") {
        flags.literal = true;
        chars = rest.chars().collect();
    } else if let Some(rest) = pattern.strip_prefix("***:") {
        chars = rest.chars().collect();
    } else if pattern.starts_with("***") {
        return Err(invalid_regex("invalid argument to regex function"));
    }
    let mut i = 0;
    // Embedded options at the start: (?letters)
    if !flags.literal && chars.len() >= 3 && chars[0] == '(' && chars[1] == '?' {
        let mut j = 2;
        let mut opts = Vec::new();
        while j < chars.len() && chars[j].is_ascii_alphabetic() {
            opts.push(chars[j]);
            j += 1;
        }
        if j < chars.len() && chars[j] == ')' && !opts.is_empty() {
            for o in opts {
                apply_flag(&mut flags, o, |_| invalid_regex("invalid embedded option"))?;
            }
            i = j + 1;
        }
    }
    let ci = flags.case_insensitive;
    let mut out = String::with_capacity(pattern.len() + 16);
    out.push_str("(?s)");
    if flags.literal {
        for &c in &chars[i..] {
            push_literal(&mut out, c, ci);
        }
        return Ok(out);
    }
    let dot_all = !(flags.newline || flags.partial_dot);
    let multiline = flags.newline || flags.partial_anchor;
    let mut depth: i32 = 0;
    // Whether the last item can take a quantifier.
    let mut quantifiable = false;
    while i < chars.len() {
        let c = chars[i];
        if flags.expanded && (c.is_whitespace() || c == '#') {
            if c == '#' {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        match c {
            '\\' => {
                i += 1;
                let Some(&e) = chars.get(i) else {
                    return Err(invalid_regex("invalid escape \\ sequence"));
                };
                quantifiable = true;
                match e {
                    'd' | 's' | 'w' => {
                        out.push('[');
                        out.push_str(class_escape(e).expect("a class escape"));
                        out.push(']');
                    }
                    'D' | 'S' | 'W' => {
                        out.push_str("[^");
                        out.push_str(class_escape(e.to_ascii_lowercase()).expect("a class escape"));
                        out.push(']');
                    }
                    'A' => {
                        out.push_str("\\A");
                        quantifiable = false;
                    }
                    'Z' => {
                        out.push_str("\\z");
                        quantifiable = false;
                    }
                    'm' => {
                        out.push_str("\\b{start}");
                        quantifiable = false;
                    }
                    'M' => {
                        out.push_str("\\b{end}");
                        quantifiable = false;
                    }
                    'y' => {
                        out.push_str("\\b");
                        quantifiable = false;
                    }
                    'Y' => {
                        out.push_str("\\B");
                        quantifiable = false;
                    }
                    '1'..='9' => return Err(unsupported("back references")),
                    _ => {
                        if let Some(ch) = char_entry(&chars, &mut i)? {
                            push_literal(&mut out, ch, ci);
                        } else if e.is_ascii_alphanumeric() {
                            return Err(invalid_regex("invalid escape \\ sequence"));
                        } else {
                            push_literal(&mut out, e, ci);
                        }
                    }
                }
                i += 1;
            }
            '[' => {
                i = bracket(&chars, i, &mut out, dot_all, ci)?;
                quantifiable = true;
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    match chars.get(i + 2) {
                        Some(':') => {
                            out.push_str("(?:");
                            i += 3;
                        }
                        Some('=' | '!') => {
                            return Err(unsupported("lookahead and lookbehind constraints"))
                        }
                        Some('<') if matches!(chars.get(i + 3), Some('=' | '!')) => {
                            return Err(unsupported("lookahead and lookbehind constraints"))
                        }
                        _ => return Err(invalid_regex("quantifier operand invalid")),
                    }
                } else {
                    out.push('(');
                    i += 1;
                }
                depth += 1;
                quantifiable = false;
            }
            ')' => {
                if depth == 0 {
                    return Err(invalid_regex("parentheses () not balanced"));
                }
                depth -= 1;
                out.push(')');
                i += 1;
                quantifiable = true;
            }
            '|' => {
                out.push('|');
                i += 1;
                quantifiable = false;
            }
            '*' | '+' | '?' => {
                if !quantifiable {
                    return Err(invalid_regex("quantifier operand invalid"));
                }
                out.push(c);
                i += 1;
                if chars.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                }
                if matches!(chars.get(i), Some('*' | '+' | '?' | '{')) {
                    return Err(invalid_regex("quantifier operand invalid"));
                }
                quantifiable = false;
            }
            '{' => {
                // A bound if digits follow; otherwise a literal brace.
                let start = i;
                let mut j = i + 1;
                let read = |j: &mut usize| {
                    let s = *j;
                    while *j < chars.len() && chars[*j].is_ascii_digit() {
                        *j += 1;
                    }
                    chars[s..*j].iter().collect::<String>()
                };
                let lo = read(&mut j);
                if lo.is_empty() {
                    // Not a bound: a literal brace.
                    push_literal(&mut out, '{', ci);
                    i += 1;
                    quantifiable = true;
                    continue;
                }
                let mut hi: Option<String> = None;
                if chars.get(j) == Some(&',') {
                    j += 1;
                    hi = Some(read(&mut j));
                }
                if chars.get(j) != Some(&'}') {
                    return Err(invalid_regex("braces {} not balanced"));
                }
                if !quantifiable {
                    return Err(invalid_regex("quantifier operand invalid"));
                }
                let bound = |s: &str| s.parse::<u32>().ok().filter(|&n| n <= 255);
                let lo_n =
                    bound(&lo).ok_or_else(|| invalid_regex("invalid repetition count(s)"))?;
                if let Some(h) = hi.as_deref().filter(|h| !h.is_empty()) {
                    let hi_n =
                        bound(h).ok_or_else(|| invalid_regex("invalid repetition count(s)"))?;
                    if hi_n < lo_n {
                        return Err(invalid_regex("invalid repetition count(s)"));
                    }
                }
                out.extend(&chars[start..=j]);
                i = j + 1;
                if chars.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                }
                quantifiable = false;
            }
            '^' => {
                out.push_str(if multiline { "(?m:^)" } else { "^" });
                i += 1;
                quantifiable = false;
            }
            '$' => {
                out.push_str(if multiline { "(?m:$)" } else { "$" });
                i += 1;
                quantifiable = false;
            }
            '.' => {
                out.push_str(if dot_all { "." } else { "[^\\n]" });
                i += 1;
                quantifiable = true;
            }
            c => {
                push_literal(&mut out, c, ci);
                i += 1;
                quantifiable = true;
            }
        }
    }
    if depth != 0 {
        return Err(invalid_regex("parentheses () not balanced"));
    }
    Ok(out)
}

/// Translates the bracket expression starting at `chars[start] == '['`;
/// returns the index after it.
fn bracket(
    chars: &[char],
    start: usize,
    out: &mut String,
    newline_matches: bool,
    ci: bool,
) -> Result<usize, SqlError> {
    let unbalanced = || invalid_regex("brackets [] not balanced");
    let mut i = start + 1;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut items = String::new();
    let mut first = true;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(unbalanced());
        };
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        if c == '[' && matches!(chars.get(i + 1), Some(':' | '.' | '=')) {
            let kind = chars[i + 1];
            let close = (i + 2..chars.len().saturating_sub(1))
                .find(|&k| chars[k] == kind && chars[k + 1] == ']')
                .ok_or_else(unbalanced)?;
            let name: String = chars[i + 2..close].iter().collect();
            match kind {
                ':' => {
                    const CLASSES: &[&str] = &[
                        "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
                        "punct", "space", "upper", "xdigit", "word",
                    ];
                    if !CLASSES.contains(&name.as_str()) {
                        return Err(invalid_regex("invalid character class"));
                    }
                    if name == "word" {
                        items.push_str("0-9A-Za-z_");
                    } else {
                        items.push_str(&format!("[:{name}:]"));
                    }
                }
                _ => {
                    let mut it = name.chars();
                    match (it.next(), it.next()) {
                        (Some(ch), None) => {
                            push_class_char(&mut items, ch, ci);
                        }
                        _ => return Err(invalid_regex("invalid collating element")),
                    }
                }
            }
            i = close + 2;
            continue;
        }
        let (ch, next) = if c == '\\' {
            let Some(&e) = chars.get(i + 1) else {
                return Err(invalid_regex("invalid escape \\ sequence"));
            };
            if let Some(class) = class_escape(e) {
                items.push_str(class);
                i += 2;
                continue;
            }
            if matches!(e, 'D' | 'S' | 'W') {
                return Err(invalid_regex("invalid escape \\ sequence"));
            }
            let mut j = i + 1;
            match char_entry(chars, &mut j)? {
                Some(ch) => (ch, j + 1),
                None if e.is_ascii_alphanumeric() => {
                    return Err(invalid_regex("invalid escape \\ sequence"))
                }
                None => (e, i + 2),
            }
        } else {
            (c, i + 1)
        };
        // A range?
        if chars.get(next) == Some(&'-') && chars.get(next + 1).is_some_and(|&n| n != ']') {
            let mut j = next + 1;
            let hi = if chars[j] == '\\' {
                let Some(&e) = chars.get(j + 1) else {
                    return Err(invalid_regex("invalid escape \\ sequence"));
                };
                let mut k = j + 1;
                match char_entry(chars, &mut k)? {
                    Some(h) => {
                        j = k + 1;
                        h
                    }
                    None if e.is_ascii_alphanumeric() => {
                        return Err(invalid_regex("invalid character range"))
                    }
                    None => {
                        j += 2;
                        e
                    }
                }
            } else if chars[j] == '[' {
                return Err(invalid_regex("invalid character range"));
            } else {
                j += 1;
                chars[j - 1]
            };
            if hi < ch {
                return Err(invalid_regex("invalid character range"));
            }
            push_class_range(&mut items, ch, hi, ci);
            i = j;
            continue;
        }
        push_class_char(&mut items, ch, ci);
        i = next;
    }
    out.push('[');
    if negated {
        out.push('^');
        if !newline_matches {
            out.push_str("\\n");
        }
    }
    if items.is_empty() {
        return Err(unbalanced());
    }
    out.push_str(&items);
    out.push(']');
    Ok(i)
}

/// Appends `c` to a class; with `ci`, both cases of an ASCII letter.
fn push_class_char(out: &mut String, c: char, ci: bool) {
    if ci && c.is_ascii_alphabetic() {
        push_class_char(out, c.to_ascii_lowercase(), false);
        push_class_char(out, c.to_ascii_uppercase(), false);
        return;
    }
    if matches!(c, '\\' | '[' | ']' | '^' | '-' | '&' | '~') {
        out.push('\\');
        out.push(c);
    } else if c.is_control() {
        out.push_str(&format!("\\x{{{:x}}}", u32::from(c)));
    } else {
        out.push(c);
    }
}

/// Appends the range `lo-hi` to a class; with `ci`, also the other case
/// of the ASCII letters in it.
fn push_class_range(out: &mut String, lo: char, hi: char, ci: bool) {
    push_class_char(out, lo, false);
    out.push('-');
    push_class_char(out, hi, false);
    if !ci {
        return;
    }
    for (from, to, shift) in [('a', 'z', -32i32), ('A', 'Z', 32)] {
        let (a, b) = (lo.max(from), hi.min(to));
        if a <= b {
            let swap =
                |c: char| char::from_u32((c as i32 + shift) as u32).expect("an ASCII letter");
            push_class_char(out, swap(a), false);
            out.push('-');
            push_class_char(out, swap(b), false);
        }
    }
}

/// Applies one option letter (`parse_re_flags` and embedded options).
fn apply_flag(flags: &mut Flags, c: char, err: impl Fn(char) -> SqlError) -> Result<(), SqlError> {
    match c {
        'i' => flags.case_insensitive = true,
        'c' => flags.case_insensitive = false,
        'n' | 'm' => {
            flags.newline = true;
            flags.partial_dot = false;
            flags.partial_anchor = false;
        }
        's' => {
            flags.newline = false;
            flags.partial_dot = false;
            flags.partial_anchor = false;
        }
        'p' => {
            flags.newline = false;
            flags.partial_dot = true;
            flags.partial_anchor = false;
        }
        'w' => {
            flags.newline = false;
            flags.partial_dot = false;
            flags.partial_anchor = true;
        }
        'x' => flags.expanded = true,
        't' => flags.expanded = false,
        'q' => flags.literal = true,
        'b' | 'e' => return Err(unsupported("basic and extended (non-advanced) syntaxes")),
        other => return Err(err(other)),
    }
    Ok(())
}

/// Parses regexp_replace's flags text; returns the flags and whether `g`
/// was given.
fn parse_flags(text: &str) -> Result<(Flags, bool), SqlError> {
    let mut flags = Flags::default();
    let mut global = false;
    for c in text.chars() {
        if c == 'g' {
            global = true;
            continue;
        }
        apply_flag(&mut flags, c, |c| {
            invalid_parameter(format!("invalid regular expression option: \"{c}\""))
        })?;
    }
    Ok((flags, global))
}

/// `text ~ pattern` and friends.
pub(super) fn regex_match(
    s: &str,
    pattern: &str,
    case_insensitive: bool,
) -> Result<bool, SqlError> {
    let flags = Flags {
        case_insensitive,
        ..Flags::default()
    };
    Ok(compile(pattern, flags)?.is_match(s))
}

pub(super) fn call(f: B, args: &[Datum]) -> Result<Datum, SqlError> {
    let text = |i: usize| match args.get(i) {
        Some(Datum::Text(s)) => Ok(s.as_str()),
        _ => Err(bad_args(f, args)),
    };
    let int = |i: usize| match args.get(i) {
        Some(Datum::Int4(v)) => Ok(*v),
        _ => Err(bad_args(f, args)),
    };
    match f {
        B::RegexMatch => Ok(Datum::Bool(regex_match(text(0)?, text(1)?, false)?)),
        B::RegexIMatch => Ok(Datum::Bool(regex_match(text(0)?, text(1)?, true)?)),
        B::RegexNotMatch => Ok(Datum::Bool(!regex_match(text(0)?, text(1)?, false)?)),
        B::RegexINotMatch => Ok(Datum::Bool(!regex_match(text(0)?, text(1)?, true)?)),
        B::RegexpReplace => {
            let (flags, global) = if args.len() > 3 {
                parse_flags(text(3)?)?
            } else {
                (Flags::default(), false)
            };
            let n = if global { 0 } else { 1 };
            Ok(Datum::Text(replace(
                text(0)?,
                text(1)?,
                text(2)?,
                flags,
                1,
                n,
            )?))
        }
        B::RegexpReplaceN => {
            let start = int(3)?;
            if start <= 0 {
                return Err(invalid_parameter(format!(
                    "invalid value for parameter \"start\": {start}"
                )));
            }
            let mut n = 1;
            if args.len() > 4 {
                n = int(4)?;
                if n < 0 {
                    return Err(invalid_parameter(format!(
                        "invalid value for parameter \"n\": {n}"
                    )));
                }
            }
            let (flags, global) = if args.len() > 5 {
                parse_flags(text(5)?)?
            } else {
                (Flags::default(), false)
            };
            // Without N only the first match is replaced; N = 0 or the
            // `g` flag means all.
            let n = if args.len() == 4 {
                if global {
                    0
                } else {
                    1
                }
            } else if global {
                0
            } else {
                n
            };
            Ok(Datum::Text(replace(
                text(0)?,
                text(1)?,
                text(2)?,
                flags,
                start,
                n,
            )?))
        }
        B::RegexpMatch => {
            let (flags, global) = match args.get(2) {
                Some(_) => parse_flags(text(2)?)?,
                None => (Flags::default(), false),
            };
            if global {
                return Err(invalid_parameter(
                    "regexp_match() does not support the \"global\" option".to_string(),
                )
                .with_hint("Use the regexp_matches function instead."));
            }
            let re = compile(text(1)?, flags)?;
            Ok(match re.captures(text(0)?) {
                None => Datum::Null,
                Some(caps) => {
                    let group = |m: Option<regex::Match<'_>>| {
                        m.map_or(Datum::Null, |m| Datum::Text(m.as_str().to_string()))
                    };
                    let items: Vec<Datum> = if caps.len() == 1 {
                        vec![group(caps.get(0))]
                    } else {
                        (1..caps.len()).map(|i| group(caps.get(i))).collect()
                    };
                    Datum::array(
                        crate::datum::DataType::Array(&crate::datum::DataType::Text),
                        items,
                    )
                }
            })
        }
        B::SimilarToEscape => {
            let escape = match args.get(1) {
                None => Some('\\'),
                Some(_) => {
                    let e = text(1)?;
                    let mut chars = e.chars();
                    match (chars.next(), chars.next()) {
                        (None, _) => None,
                        (Some(c), None) => Some(c),
                        _ => {
                            return Err(SqlError::new(
                                sqlstate::INVALID_ESCAPE_SEQUENCE,
                                "invalid escape string",
                            )
                            .with_hint("Escape string must be empty or one character."))
                        }
                    }
                }
            };
            Ok(Datum::Text(similar_to_regex(text(0)?, escape)?))
        }
        _ => Err(bad_args(f, args)),
    }
}

/// PostgreSQL's `similar_escape`: a SQL-standard SIMILAR TO pattern as an
/// ARE that must match the whole string. `%` is `.*`, `_` is `.`, `(` does
/// not capture, the escape character quotes the next one, and escaped
/// double quotes (at most two) mark the part `substring` returns;
/// bracket expressions pass through, and the ARE metacharacters SIMILAR
/// TO lacks are quoted.
fn similar_to_regex(pattern: &str, escape: Option<char>) -> Result<String, SqlError> {
    let mut out = String::from("^(?:");
    let mut after_escape = false;
    let mut in_bracket = false;
    let mut separators = 0;
    for c in pattern.chars() {
        if after_escape {
            after_escape = false;
            if c == '"' && !in_bracket {
                separators += 1;
                match separators {
                    1 => out.push_str("){1,1}?("),
                    2 => out.push_str("){1,1}(?:"),
                    _ => {
                        return Err(SqlError::new(
                            sqlstate::INVALID_USE_OF_ESCAPE_CHARACTER,
                            "SQL regular expression may not contain more than two escape-double-quote separators",
                        ))
                    }
                }
            } else {
                out.push('\\');
                out.push(c);
            }
        } else if Some(c) == escape {
            after_escape = true;
        } else if in_bracket {
            if c == '\\' {
                out.push('\\');
            }
            out.push(c);
            if c == ']' {
                in_bracket = false;
            }
        } else {
            match c {
                '[' => {
                    in_bracket = true;
                    out.push('[');
                }
                '%' => out.push_str(".*"),
                '_' => out.push('.'),
                '(' => out.push_str("(?:"),
                '\\' | '.' | '^' | '$' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
    out.push_str(")$");
    Ok(out)
}

/// `regexp_replace`: replaces the `n`th match at or after character
/// `start` (all of them when `n` is 0). In the replacement, `\1`..`\9`
/// are groups, `\&` the whole match, `\\` a backslash.
fn replace(
    s: &str,
    pattern: &str,
    replacement: &str,
    flags: Flags,
    start: i32,
    n: i32,
) -> Result<String, SqlError> {
    let re = compile(pattern, flags)?;
    let from = s
        .char_indices()
        .nth(usize::try_from(start - 1).expect("start is positive"))
        .map_or(s.len(), |(i, _)| i);
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..from]);
    let mut last = from;
    let mut count = 0;
    for caps in re.captures_iter(&s[from..]) {
        count += 1;
        let m = caps.get(0).expect("group 0 always matches");
        if n != 0 && count != n {
            continue;
        }
        out.push_str(&s[last..from + m.start()]);
        let mut chars = replacement.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.peek().copied() {
                Some(d @ '1'..='9') => {
                    chars.next();
                    let g = d.to_digit(10).expect("a digit") as usize;
                    if let Some(g) = caps.get(g) {
                        out.push_str(g.as_str());
                    }
                }
                Some('&') => {
                    chars.next();
                    out.push_str(m.as_str());
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            }
        }
        last = from + m.end();
        if n != 0 {
            break;
        }
    }
    out.push_str(&s[last..]);
    Ok(out)
}

/// One element of a compiled LIKE pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LikeToken {
    /// `%`: any run of characters.
    Any,
    /// `_`: one character.
    One,
    /// A literal character.
    Char(char),
    /// An escape character at the end of the pattern: an error if the
    /// match ever needs it, as in PostgreSQL's `MatchText`.
    TrailingEscape,
}

/// `s LIKE pattern` (`ILIKE` with `case_insensitive`), with PostgreSQL's
/// semantics: `%` matches any run of characters, `_` one character, and
/// the escape character (`\` unless given; `None` after `ESCAPE ''` means
/// none) makes the next character literal. A pattern ending in the
/// escape character is an error (22025). Case folding is ASCII only (the
/// C locale). Runs in O(len(s) · len(pattern)) at worst.
pub fn like_match(
    s: &str,
    pattern: &str,
    escape: Option<char>,
    case_insensitive: bool,
) -> Result<bool, SqlError> {
    let fold = |c: char| {
        if case_insensitive {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    let mut tokens: Vec<LikeToken> = Vec::with_capacity(pattern.len());
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        if Some(c) == escape {
            match it.next() {
                Some(e) => tokens.push(LikeToken::Char(fold(e))),
                None => tokens.push(LikeToken::TrailingEscape),
            }
        } else if c == '%' {
            // Consecutive %s are one.
            if tokens.last() != Some(&LikeToken::Any) {
                tokens.push(LikeToken::Any);
            }
        } else if c == '_' {
            tokens.push(LikeToken::One);
        } else {
            tokens.push(LikeToken::Char(fold(c)));
        }
    }
    let trailing_escape = || {
        SqlError::new(
            sqlstate::INVALID_ESCAPE_SEQUENCE,
            "LIKE pattern must not end with escape character",
        )
    };
    let text: Vec<char> = s.chars().map(fold).collect();
    // Greedy matching with one backtrack point: the last %, and the text
    // position it has consumed up to. Each % only ever moves forward, so
    // the work is bounded by len(text) × len(tokens).
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(LikeToken::Any) => {
                // PostgreSQL looks past the wildcards after a % for the
                // literal to search for, and fails there on a trailing
                // escape.
                let next = tokens[p..]
                    .iter()
                    .find(|t| !matches!(t, LikeToken::Any | LikeToken::One));
                if next == Some(&LikeToken::TrailingEscape) {
                    return Err(trailing_escape());
                }
                star = Some((p, t));
                p += 1;
            }
            Some(LikeToken::TrailingEscape) => return Err(trailing_escape()),
            Some(LikeToken::One) => {
                t += 1;
                p += 1;
            }
            Some(LikeToken::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return Ok(false),
            },
        }
    }
    Ok(tokens[p..].iter().all(|t| *t == LikeToken::Any))
}

/// Compiles with default flags through the cache, for the unit tests.
#[cfg(test)]
pub(super) fn compile_cached(pattern: &str) -> Result<Arc<Regex>, SqlError> {
    compile(pattern, Flags::default())
}
