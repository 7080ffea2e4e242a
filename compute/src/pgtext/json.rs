//! JSON validation for the `json` type, a port of PostgreSQL 15's
//! `src/common/jsonapi.c` lexer and recursive-descent grammar.
//!
//! `json` keeps its text as written, so its input function only checks the
//! syntax; what matters is accepting exactly what PostgreSQL accepts and
//! reporting the same DETAIL when not (`Token "abc" is invalid.`). Like
//! `json_in` (which parses without de-escaping), this does not check that
//! `\u` escapes form valid surrogate pairs. Nesting uses an explicit stack,
//! so deep input cannot overflow the thread's stack; its depth is bounded by
//! the input length.

use super::TypeError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
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

/// What the parser expected when it found something else
/// (`JsonParseContext`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Value,
    String,
    ArrayNext,
    ObjectStart,
    ObjectLabel,
    ObjectNext,
    End,
}

struct Lexer<'a> {
    input: &'a [u8],
    /// Where the current token starts and ends.
    start: usize,
    end: usize,
    tok: Tok,
}

/// `JSON_ALPHANUMERIC_CHAR`: what PostgreSQL groups into one bad token.
fn is_alphanumeric(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn invalid(detail: String) -> TypeError {
    TypeError::InvalidJson { detail }
}

impl Lexer<'_> {
    fn token_text(&self) -> String {
        String::from_utf8_lossy(&self.input[self.start..self.end]).into_owned()
    }

    fn invalid_token(&self) -> TypeError {
        invalid(format!("Token \"{}\" is invalid.", self.token_text()))
    }

    /// `json_lex`: reads the next token.
    fn lex(&mut self) -> Result<(), TypeError> {
        let input = self.input;
        let mut s = self.end;
        while s < input.len() && matches!(input[s], b' ' | b'\t' | b'\n' | b'\r') {
            s += 1;
        }
        self.start = s;
        let Some(&c) = input.get(s) else {
            self.end = s;
            self.tok = Tok::End;
            return Ok(());
        };
        let single = |tok| (tok, s + 1);
        let (tok, end) = match c {
            b'{' => single(Tok::ObjectStart),
            b'}' => single(Tok::ObjectEnd),
            b'[' => single(Tok::ArrayStart),
            b']' => single(Tok::ArrayEnd),
            b',' => single(Tok::Comma),
            b':' => single(Tok::Colon),
            b'"' => {
                let end = self.lex_string(s)?;
                (Tok::String, end)
            }
            b'-' => {
                let end = self.lex_number(s + 1)?;
                (Tok::Number, end)
            }
            b'0'..=b'9' => {
                let end = self.lex_number(s)?;
                (Tok::Number, end)
            }
            _ => {
                let word = input[s..]
                    .iter()
                    .take_while(|&&b| is_alphanumeric(b))
                    .count();
                self.end = s + word.max(1);
                match &input[s..s + word] {
                    b"true" => (Tok::True, s + 4),
                    b"false" => (Tok::False, s + 5),
                    b"null" => (Tok::Null, s + 4),
                    _ => return Err(self.invalid_token()),
                }
            }
        };
        self.end = end;
        self.tok = tok;
        Ok(())
    }

    /// `json_lex_number`: `s` is just past any minus sign. Trailing letters
    /// and digits belong to the (then invalid) token.
    fn lex_number(&mut self, mut s: usize) -> Result<usize, TypeError> {
        let input = self.input;
        let digit_at = |i: usize| input.get(i).is_some_and(u8::is_ascii_digit);
        let mut error = false;
        match input.get(s) {
            Some(b'0') => s += 1,
            Some(b'1'..=b'9') => {
                while digit_at(s) {
                    s += 1;
                }
            }
            _ => error = true,
        }
        if input.get(s) == Some(&b'.') {
            s += 1;
            if digit_at(s) {
                while digit_at(s) {
                    s += 1;
                }
            } else {
                error = true;
            }
        }
        if matches!(input.get(s), Some(b'e' | b'E')) {
            s += 1;
            if matches!(input.get(s), Some(b'+' | b'-')) {
                s += 1;
            }
            if digit_at(s) {
                while digit_at(s) {
                    s += 1;
                }
            } else {
                error = true;
            }
        }
        while input.get(s).is_some_and(|&b| is_alphanumeric(b)) {
            s += 1;
            error = true;
        }
        if error {
            self.end = s;
            return Err(self.invalid_token());
        }
        Ok(s)
    }

    /// `json_lex_string`: `s` is at the opening quote.
    fn lex_string(&mut self, s: usize) -> Result<usize, TypeError> {
        let input = self.input;
        let mut i = s + 1;
        loop {
            let Some(&c) = input.get(i) else {
                self.end = i;
                return Err(self.invalid_token());
            };
            match c {
                b'"' => return Ok(i + 1),
                b'\\' => {
                    i += 1;
                    let Some(&e) = input.get(i) else {
                        self.end = i;
                        return Err(self.invalid_token());
                    };
                    match e {
                        b'u' => {
                            for k in 1..=4 {
                                if !input.get(i + k).is_some_and(u8::is_ascii_hexdigit) {
                                    self.end = i + k;
                                    return Err(invalid(
                                        "\"\\u\" must be followed by four hexadecimal digits."
                                            .to_owned(),
                                    ));
                                }
                            }
                            i += 5;
                        }
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 1,
                        _ => {
                            let len = utf8_len(e);
                            let escaped =
                                String::from_utf8_lossy(&input[i..(i + len).min(input.len())]);
                            return Err(invalid(format!(
                                "Escape sequence \"\\{escaped}\" is invalid."
                            )));
                        }
                    }
                }
                0..=0x1F => {
                    return Err(invalid(format!(
                        "Character with value 0x{c:02x} must be escaped."
                    )));
                }
                _ => i += 1,
            }
        }
    }

    /// `report_parse_error`: the error for finding the current token where
    /// `expect` was wanted.
    fn unexpected(&self, expect: Expect) -> TypeError {
        if self.tok == Tok::End {
            return invalid("The input string ended unexpectedly.".to_owned());
        }
        let found = self.token_text();
        let wanted = match expect {
            Expect::Value => "JSON value",
            Expect::String => "string",
            Expect::ArrayNext => "\",\" or \"]\"",
            Expect::ObjectStart => "string or \"}\"",
            Expect::ObjectLabel => "\":\"",
            Expect::ObjectNext => "\",\" or \"}\"",
            Expect::End => "end of input",
        };
        invalid(format!("Expected {wanted}, but found \"{found}\"."))
    }

    /// `lex_expect`: consumes `tok` or reports what was found instead.
    fn expect(&mut self, expect: Expect, tok: Tok) -> Result<(), TypeError> {
        if self.tok != tok {
            return Err(self.unexpected(expect));
        }
        self.lex()
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Where the parser is inside an array or object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Array,
    Object,
}

/// Checks that `text` is one JSON value, as `json_in` does; the error's
/// detail is PostgreSQL's.
pub(super) fn validate(text: &str) -> Result<(), TypeError> {
    let mut lex = Lexer {
        input: text.as_bytes(),
        start: 0,
        end: 0,
        tok: Tok::End,
    };
    lex.lex()?;
    let mut stack: Vec<Frame> = Vec::new();
    // Parses one value (`parse_scalar`, `parse_object`, `parse_array`),
    // then unwinds finished containers.
    'value: loop {
        match lex.tok {
            Tok::ObjectStart => {
                lex.lex()?;
                match lex.tok {
                    Tok::String => {
                        stack.push(Frame::Object);
                        lex.lex()?;
                        lex.expect(Expect::ObjectLabel, Tok::Colon)?;
                        continue 'value;
                    }
                    Tok::ObjectEnd => lex.lex()?,
                    _ => return Err(lex.unexpected(Expect::ObjectStart)),
                }
            }
            Tok::ArrayStart => {
                lex.lex()?;
                if lex.tok == Tok::ArrayEnd {
                    lex.lex()?;
                } else {
                    stack.push(Frame::Array);
                    continue 'value;
                }
            }
            Tok::String | Tok::Number | Tok::True | Tok::False | Tok::Null => lex.lex()?,
            _ => return Err(lex.unexpected(Expect::Value)),
        }
        // A value is complete: continue or close the enclosing containers.
        loop {
            match stack.last() {
                None => {
                    if lex.tok != Tok::End {
                        return Err(lex.unexpected(Expect::End));
                    }
                    return Ok(());
                }
                Some(Frame::Array) => {
                    if lex.tok == Tok::Comma {
                        lex.lex()?;
                        continue 'value;
                    }
                    lex.expect(Expect::ArrayNext, Tok::ArrayEnd)?;
                    stack.pop();
                }
                Some(Frame::Object) => {
                    if lex.tok == Tok::Comma {
                        lex.lex()?;
                        if lex.tok != Tok::String {
                            return Err(lex.unexpected(Expect::String));
                        }
                        lex.lex()?;
                        lex.expect(Expect::ObjectLabel, Tok::Colon)?;
                        continue 'value;
                    }
                    lex.expect(Expect::ObjectNext, Tok::ObjectEnd)?;
                    stack.pop();
                }
            }
        }
    }
}

/// The kind of a JSON value's text, for jsonb's scalar casts: `null`,
/// `string`, `numeric`, `boolean`, `array` or `object`, as PostgreSQL names
/// them in `cannot cast jsonb … to type …`.
pub(crate) fn kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "numeric",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(text: &str) -> String {
        match validate(text) {
            Err(TypeError::InvalidJson { detail }) => detail,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn accepts_json() {
        for text in [
            "{}",
            "[]",
            " 1 ",
            "-0",
            "1.5e-3",
            "\"\\ud800\"",
            "{\"a\":[1,{\"b\":null}]}",
            "true",
        ] {
            assert_eq!(validate(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn reports_postgres_details() {
        assert_eq!(detail("{\"a\":1,}"), "Expected string, but found \"}\".");
        assert_eq!(detail("[1 2]"), "Expected \",\" or \"]\", but found \"2\".");
        assert_eq!(detail("01"), "Token \"01\" is invalid.");
        assert_eq!(detail("\"\\q\""), "Escape sequence \"\\q\" is invalid.");
        assert_eq!(detail(""), "The input string ended unexpectedly.");
        assert_eq!(
            detail("{1:2}"),
            "Expected string or \"}\", but found \"1\"."
        );
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(validate(&deep), Ok(()));
    }
}
