//! JSON text to [`Node`]s: a port of PostgreSQL's lexer and recursive-descent
//! parser (`src/common/jsonapi.c`), so that the same input fails with the same
//! DETAIL. The port keeps PostgreSQL's order of checks: the lexer reads one
//! token ahead, so `[1e999999 x` reports the bad token `x` before the number's
//! overflow.

use std::borrow::Cow;

use super::format::Node;
use super::{JsonbError, MAX_DEPTH};
use crate::datum::{Numeric, NumericError};

/// Parses a JSON document.
///
/// The descent keeps its own stack of open containers rather than
/// recursing, so nesting costs heap, not thread stack; [`MAX_DEPTH`] still
/// bounds it, for the sake of the recursive readers of the result.
pub(super) fn parse(text: &str) -> Result<Node<'_>, JsonbError> {
    let mut lexer = Lexer {
        text,
        input: text.as_bytes(),
        token: Token::End,
        token_start: None,
        token_end: 0,
        string: None,
    };
    lexer.next()?;
    let mut open: Vec<Open<'_>> = Vec::new();
    'value: loop {
        // Parse the value at the current token, or open its container.
        let mut node = match lexer.token {
            Token::ObjectStart => {
                check_depth(open.len())?;
                lexer.next()?;
                match lexer.token {
                    Token::String => {
                        let key = lexer.parse_key()?;
                        open.push(Open::Object(Vec::new(), Some(key)));
                        continue 'value;
                    }
                    Token::ObjectEnd => {
                        lexer.next()?;
                        Node::Object(Vec::new())
                    }
                    _ => return Err(lexer.parse_error(Context::ObjectStart)),
                }
            }
            Token::ArrayStart => {
                check_depth(open.len())?;
                lexer.next()?;
                if lexer.token != Token::ArrayEnd {
                    open.push(Open::Array(Vec::new()));
                    continue 'value;
                }
                lexer.next()?;
                Node::Array(Vec::new())
            }
            _ => lexer.parse_scalar()?,
        };
        // Attach the finished value to its container, and close containers
        // as they end.
        loop {
            match open.last_mut() {
                None => {
                    lexer.expect(Token::End, Context::End)?;
                    return Ok(node);
                }
                Some(Open::Array(items)) => {
                    items.push(node);
                    if lexer.token == Token::Comma {
                        lexer.next()?;
                        continue 'value;
                    }
                    lexer.expect(Token::ArrayEnd, Context::ArrayNext)?;
                    let Some(Open::Array(items)) = open.pop() else {
                        unreachable!("the last open container is this array");
                    };
                    node = Node::Array(items);
                }
                Some(Open::Object(pairs, pending_key)) => {
                    let key = pending_key
                        .take()
                        .expect("an open object has the key of the value");
                    pairs.push((key, node));
                    if lexer.token == Token::Comma {
                        lexer.next()?;
                        *pending_key = Some(lexer.parse_key()?);
                        continue 'value;
                    }
                    lexer.expect(Token::ObjectEnd, Context::ObjectNext)?;
                    let Some(Open::Object(pairs, _)) = open.pop() else {
                        unreachable!("the last open container is this object");
                    };
                    node = Node::Object(pairs);
                }
            }
        }
    }
}

/// A container the parser is inside: its items so far, and for an object
/// the key of the value being parsed.
enum Open<'a> {
    Array(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>, Option<Cow<'a, str>>),
}

fn check_depth(open: usize) -> Result<(), JsonbError> {
    if open >= MAX_DEPTH {
        return Err(JsonbError::TooDeep { max: MAX_DEPTH });
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    ObjectStart,
    ObjectEnd,
    ArrayStart,
    ArrayEnd,
    Comma,
    Colon,
    String,
    Number,
    True,
    False,
    Null,
    End,
}

/// What the parser expected when it met the wrong token: PostgreSQL's
/// `JsonParseContext`, which picks the DETAIL.
#[derive(Clone, Copy)]
enum Context {
    Value,
    String,
    ArrayNext,
    ObjectStart,
    ObjectLabel,
    ObjectNext,
    End,
}

/// Lexical errors: PostgreSQL's `JsonParseErrorType` values the lexer returns.
enum LexError {
    InvalidToken,
    EscapingInvalid,
    EscapingRequired(u8),
    UnicodeEscapeFormat,
    HighSurrogate,
    LowSurrogate,
    CodePointZero,
}

/// PostgreSQL's `JSON_ALPHANUMERIC_CHAR`: the bytes that extend a bad token
/// for error reporting. Every byte of a multibyte character counts.
fn is_alphanumeric(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// The length of the UTF-8 character starting with `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

struct Lexer<'a> {
    text: &'a str,
    input: &'a [u8],
    /// The current token, read but not yet consumed.
    token: Token,
    /// Where the current token starts; `None` at the end of the input.
    token_start: Option<usize>,
    /// Where the current token ends (PostgreSQL's `token_terminator`).
    token_end: usize,
    /// The de-escaped text of the current string token.
    string: Option<Cow<'a, str>>,
}

impl<'a> Lexer<'a> {
    /// The current token's text, as PostgreSQL's `extract_token`.
    fn token_text(&self) -> String {
        let end = self.token_end.min(self.input.len());
        let start = self.token_start.unwrap_or(end).min(end);
        String::from_utf8_lossy(&self.input[start..end]).into_owned()
    }

    fn lex_error(&self, error: LexError) -> JsonbError {
        let detail = match error {
            LexError::InvalidToken => format!("Token \"{}\" is invalid.", self.token_text()),
            LexError::EscapingInvalid => {
                format!("Escape sequence \"\\{}\" is invalid.", self.token_text())
            }
            LexError::EscapingRequired(c) => {
                format!("Character with value 0x{c:02x} must be escaped.")
            }
            LexError::UnicodeEscapeFormat => {
                "\"\\u\" must be followed by four hexadecimal digits.".to_owned()
            }
            LexError::HighSurrogate => {
                "Unicode high surrogate must not follow a high surrogate.".to_owned()
            }
            LexError::LowSurrogate => {
                "Unicode low surrogate must follow a high surrogate.".to_owned()
            }
            LexError::CodePointZero => {
                return JsonbError::UnsupportedUnicodeEscape {
                    detail: "\\u0000 cannot be converted to text.".to_owned(),
                }
            }
        };
        // A token the lexer rejects is never the end of the input.
        JsonbError::Syntax {
            detail,
            context: json_context(self.text, self.token_end, false),
        }
    }

    /// PostgreSQL's `report_parse_error`: the current token is not what
    /// `context` allows.
    fn parse_error(&self, context: Context) -> JsonbError {
        if self.token_start.is_none() || self.token == Token::End {
            return JsonbError::Syntax {
                detail: "The input string ended unexpectedly.".to_owned(),
                context: json_context(self.text, self.text.len(), true),
            };
        }
        let token = self.token_text();
        let detail = match context {
            Context::End => format!("Expected end of input, but found \"{token}\"."),
            Context::Value => format!("Expected JSON value, but found \"{token}\"."),
            Context::String => format!("Expected string, but found \"{token}\"."),
            Context::ArrayNext => format!("Expected \",\" or \"]\", but found \"{token}\"."),
            Context::ObjectStart => format!("Expected string or \"}}\", but found \"{token}\"."),
            Context::ObjectLabel => format!("Expected \":\", but found \"{token}\"."),
            Context::ObjectNext => format!("Expected \",\" or \"}}\", but found \"{token}\"."),
        };
        self.syntax(detail)
    }

    /// A syntax error at the current token.
    fn syntax(&self, detail: String) -> JsonbError {
        JsonbError::Syntax {
            detail,
            context: json_context(self.text, self.token_end, false),
        }
    }

    /// Consumes the current token if it is `token`, as `lex_expect`.
    fn expect(&mut self, token: Token, context: Context) -> Result<(), JsonbError> {
        if self.token != token {
            return Err(self.parse_error(context));
        }
        self.next()
    }

    /// Reads the next token, as PostgreSQL's `json_lex`.
    fn next(&mut self) -> Result<(), JsonbError> {
        let input = self.input;
        let mut s = self.token_end;
        while s < input.len() && matches!(input[s], b' ' | b'\t' | b'\n' | b'\r') {
            s += 1;
        }
        self.string = None;
        if s >= input.len() {
            self.token_start = None;
            self.token_end = s;
            self.token = Token::End;
            return Ok(());
        }
        self.token_start = Some(s);
        let punctuation = match input[s] {
            b'{' => Some(Token::ObjectStart),
            b'}' => Some(Token::ObjectEnd),
            b'[' => Some(Token::ArrayStart),
            b']' => Some(Token::ArrayEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            _ => None,
        };
        if let Some(token) = punctuation {
            self.token = token;
            self.token_end = s + 1;
            return Ok(());
        }
        match input[s] {
            b'"' => self.lex_string(s),
            b'-' => self.lex_number(s + 1),
            b'0'..=b'9' => self.lex_number(s),
            _ => {
                let mut p = s;
                while p < input.len() && is_alphanumeric(input[p]) {
                    p += 1;
                }
                if p == s {
                    // Punctuation or a control character: report just it.
                    self.token_end = s + 1;
                    return Err(self.lex_error(LexError::InvalidToken));
                }
                self.token_end = p;
                self.token = match &input[s..p] {
                    b"true" => Token::True,
                    b"false" => Token::False,
                    b"null" => Token::Null,
                    _ => return Err(self.lex_error(LexError::InvalidToken)),
                };
                Ok(())
            }
        }
    }

    /// Reads a number whose digits start at `s` (after any minus sign), as
    /// PostgreSQL's `json_lex_number`.
    fn lex_number(&mut self, s: usize) -> Result<(), JsonbError> {
        let input = self.input;
        let len = input.len();
        let digit_at = |p: usize| p < len && input[p].is_ascii_digit();
        let mut p = s;
        let mut error = false;
        if p < len && input[p] == b'0' {
            p += 1;
        } else if digit_at(p) {
            while digit_at(p) {
                p += 1;
            }
        } else {
            error = true;
        }
        if p < len && input[p] == b'.' {
            p += 1;
            if !digit_at(p) {
                error = true;
            }
            while digit_at(p) {
                p += 1;
            }
        }
        if p < len && matches!(input[p], b'e' | b'E') {
            p += 1;
            if p < len && matches!(input[p], b'+' | b'-') {
                p += 1;
            }
            if !digit_at(p) {
                error = true;
            }
            while digit_at(p) {
                p += 1;
            }
        }
        // Trailing letters or digits belong to the bad token.
        while p < len && is_alphanumeric(input[p]) {
            p += 1;
            error = true;
        }
        self.token_end = p;
        if error {
            return Err(self.lex_error(LexError::InvalidToken));
        }
        self.token = Token::Number;
        Ok(())
    }

    /// Reads a string starting at the quote at `start`, as PostgreSQL's
    /// `json_lex_string`, de-escaping it. The result borrows the input when
    /// the string has no escapes.
    fn lex_string(&mut self, start: usize) -> Result<(), JsonbError> {
        let input = self.input;
        let len = input.len();
        let mut owned: Option<String> = None;
        let mut run_start = start + 1;
        let mut high_surrogate: Option<u32> = None;
        let mut p = start;
        loop {
            p += 1;
            if p >= len {
                self.token_end = len;
                return Err(self.lex_error(LexError::InvalidToken));
            }
            let c = input[p];
            if c == b'"' {
                break;
            }
            if c < 0x20 {
                self.token_end = p;
                return Err(self.lex_error(LexError::EscapingRequired(c)));
            }
            if c != b'\\' {
                if high_surrogate.is_some() {
                    return Err(self.lex_error(LexError::LowSurrogate));
                }
                continue;
            }
            let buffer = owned.get_or_insert_with(String::new);
            buffer.push_str(&self.text[run_start..p]);
            p += 1;
            if p >= len {
                self.token_end = len;
                return Err(self.lex_error(LexError::InvalidToken));
            }
            if input[p] == b'u' {
                let mut code: u32 = 0;
                for _ in 0..4 {
                    p += 1;
                    if p >= len {
                        self.token_end = len;
                        return Err(self.lex_error(LexError::InvalidToken));
                    }
                    match char::from(input[p]).to_digit(16) {
                        Some(digit) => code = code * 16 + digit,
                        None => {
                            self.token_end = (p + char_len(input[p])).min(len);
                            return Err(self.lex_error(LexError::UnicodeEscapeFormat));
                        }
                    }
                }
                run_start = p + 1;
                if (0xD800..=0xDBFF).contains(&code) {
                    if high_surrogate.is_some() {
                        return Err(self.lex_error(LexError::HighSurrogate));
                    }
                    high_surrogate = Some(code);
                    continue;
                }
                if (0xDC00..=0xDFFF).contains(&code) {
                    let Some(high) = high_surrogate.take() else {
                        return Err(self.lex_error(LexError::LowSurrogate));
                    };
                    code = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00);
                }
                if high_surrogate.is_some() {
                    return Err(self.lex_error(LexError::LowSurrogate));
                }
                if code == 0 {
                    return Err(self.lex_error(LexError::CodePointZero));
                }
                buffer.push(
                    char::from_u32(code).expect("a BMP code point or a combined surrogate pair"),
                );
            } else {
                if high_surrogate.is_some() {
                    return Err(self.lex_error(LexError::LowSurrogate));
                }
                let unescaped = match input[p] {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    other => {
                        self.token_start = Some(p);
                        self.token_end = (p + char_len(other)).min(len);
                        return Err(self.lex_error(LexError::EscapingInvalid));
                    }
                };
                buffer.push(unescaped);
                run_start = p + 1;
            }
        }
        if high_surrogate.is_some() {
            return Err(self.lex_error(LexError::LowSurrogate));
        }
        let value = match owned {
            Some(mut buffer) => {
                buffer.push_str(&self.text[run_start..p]);
                Cow::Owned(buffer)
            }
            None => Cow::Borrowed(&self.text[start + 1..p]),
        };
        self.string = Some(value);
        self.token = Token::String;
        self.token_end = p + 1;
        Ok(())
    }

    /// Parses an object key and its colon, as the first half of PostgreSQL's
    /// `parse_object_field`.
    fn parse_key(&mut self) -> Result<Cow<'a, str>, JsonbError> {
        if self.token != Token::String {
            return Err(self.parse_error(Context::String));
        }
        let key = self.string.take().expect("a string token has its text");
        self.next()?;
        self.expect(Token::Colon, Context::ObjectLabel)?;
        Ok(key)
    }

    fn parse_scalar(&mut self) -> Result<Node<'a>, JsonbError> {
        let token = self.token;
        let (start, end) = (self.token_start.unwrap_or(0), self.token_end);
        let string = self.string.take();
        if !matches!(
            token,
            Token::String | Token::Number | Token::True | Token::False | Token::Null
        ) {
            return Err(self.parse_error(Context::Value));
        }
        // Read ahead first, as PostgreSQL does before converting the token.
        self.next()?;
        Ok(match token {
            Token::String => Node::String(string.expect("a string token has its text")),
            Token::True => Node::Bool(true),
            Token::False => Node::Bool(false),
            Token::Null => Node::Null,
            _ => {
                let text = &self.text[start..end];
                match text.parse::<Numeric>() {
                    Ok(number) => Node::number(&number),
                    Err(NumericError::Overflow) => return Err(JsonbError::NumericOverflow),
                    Err(_) => {
                        return Err(JsonbError::Syntax {
                            detail: format!("Token \"{text}\" is invalid."),
                            context: json_context(self.text, end, false),
                        })
                    }
                }
            }
        })
    }
}

/// PostgreSQL's `report_json_context`: the line of `text` up to `end` (the
/// end of the offending token), at most the last 50 bytes of it, with `...`
/// where it is cut.
fn json_context(text: &str, end: usize, at_end_of_input: bool) -> String {
    let end = floor_char_boundary(text, end.min(text.len()));
    let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..line_start].matches('\n').count() + 1;
    let mut start = line_start;
    while end - start >= 50 {
        start += text[start..].chars().next().map_or(1, char::len_utf8);
    }
    if start - line_start <= 3 {
        start = line_start;
    }
    let prefix = if start > line_start { "..." } else { "" };
    let more =
        !at_end_of_input && end < text.len() && !matches!(text.as_bytes()[end], b'\n' | b'\r');
    let suffix = if more { "..." } else { "" };
    format!(
        "JSON data, line {line}: {prefix}{}{suffix}",
        &text[start..end]
    )
}

/// The largest char boundary of `text` at or before `i`.
fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::super::{parse, JsonbError};

    fn detail(text: &str) -> String {
        match parse(text) {
            Err(JsonbError::Syntax { detail, .. }) => detail,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_match_postgres() {
        // Observed from PostgreSQL 15's `'...'::jsonb`.
        let cases = [
            ("[}", "Expected JSON value, but found \"}\"."),
            ("[1,]", "Expected JSON value, but found \"]\"."),
            ("{\"a\":1,}", "Expected string, but found \"}\"."),
            ("{1:2}", "Expected string or \"}\", but found \"1\"."),
            ("{\"a\" 1}", "Expected \":\", but found \"1\"."),
            ("[1 2]", "Expected \",\" or \"]\", but found \"2\"."),
            (
                "{\"a\":1 \"b\"}",
                "Expected \",\" or \"}\", but found \"\"b\"\".",
            ),
            ("", "The input string ended unexpectedly."),
            (" \n\t", "The input string ended unexpectedly."),
            ("\"abc", "Token \"\"abc\" is invalid."),
            (
                "\"\\u12x4\"",
                "\"\\u\" must be followed by four hexadecimal digits.",
            ),
            ("\"\\q\"", "Escape sequence \"\\q\" is invalid."),
            ("\"\\é\"", "Escape sequence \"\\é\" is invalid."),
            ("01", "Token \"01\" is invalid."),
            ("1.", "Token \"1.\" is invalid."),
            (".5", "Token \".\" is invalid."),
            ("-", "Token \"-\" is invalid."),
            ("-a", "Token \"-a\" is invalid."),
            ("1e", "Token \"1e\" is invalid."),
            ("1.5.3", "Token \".\" is invalid."),
            ("nul", "Token \"nul\" is invalid."),
            ("True", "Token \"True\" is invalid."),
            ("[1] 2", "Expected end of input, but found \"2\"."),
            ("[1] x", "Token \"x\" is invalid."),
            ("é", "Token \"é\" is invalid."),
            (
                "\"\\ud83d\"",
                "Unicode low surrogate must follow a high surrogate.",
            ),
            (
                "\"\\ud83dx\"",
                "Unicode low surrogate must follow a high surrogate.",
            ),
            (
                "\"\\ude00\"",
                "Unicode low surrogate must follow a high surrogate.",
            ),
            (
                "\"\\ud83d\\ud83d\"",
                "Unicode high surrogate must not follow a high surrogate.",
            ),
            ("\"a\tb\"", "Character with value 0x09 must be escaped."),
            ("\"\\u00", "Token \"\"\\u00\" is invalid."),
            ("\"\\", "Token \"\"\\\" is invalid."),
            ("{", "The input string ended unexpectedly."),
            ("[1e999999 x", "Token \"x\" is invalid."),
        ];
        for (input, expected) in cases {
            assert_eq!(detail(input), expected, "{input:?}");
        }
    }

    #[test]
    fn other_input_errors() {
        assert_eq!(
            parse("\"a\\u0000b\""),
            Err(JsonbError::UnsupportedUnicodeEscape {
                detail: "\\u0000 cannot be converted to text.".to_owned()
            })
        );
        assert_eq!(parse("[1e999999]"), Err(JsonbError::NumericOverflow));
        assert_eq!(parse("1e-20000"), Err(JsonbError::NumericOverflow));
        let deep = format!(
            "{}{}",
            "[".repeat(super::MAX_DEPTH + 1),
            "]".repeat(super::MAX_DEPTH + 1)
        );
        assert_eq!(
            parse(&deep),
            Err(JsonbError::TooDeep {
                max: super::MAX_DEPTH
            })
        );
        let deepest = format!(
            "{}{}",
            "[".repeat(super::MAX_DEPTH),
            "]".repeat(super::MAX_DEPTH)
        );
        assert!(parse(&deepest).is_ok());
    }

    #[test]
    fn strings_unescape() {
        let cases = [
            (r#""\u00e9\ud83d\ude00""#, "\"é😀\""),
            (r#""\"\\\/\b\f\n\r\t""#, r#""\"\\/\b\f\n\r\t""#),
            (r#""\u001F\u007f""#, "\"\\u001f\u{7f}\""),
            ("\"plain é\"", "\"plain é\""),
            ("  \"x\"  ", "\"x\""),
        ];
        for (input, printed) in cases {
            assert_eq!(parse(input).expect(input).to_string(), printed, "{input}");
        }
    }
}
