//! Canonical text output, as PostgreSQL's `JsonbToCString`: `": "` after keys,
//! `", "` between items, strings escaped as `escape_json` escapes them.

use super::format::{Token, Tokens};
use super::{JsonbError, JsonbRef, Kind};

impl<'a> JsonbRef<'a> {
    /// The value's `->>` text where it lies in the document as it is (a
    /// string, a number, a boolean): `Ok(Some(None))` for JSON null, and
    /// `Ok(None)` for an object or array, whose text must be built
    /// ([`JsonbRef::as_text`]).
    pub fn text_in_place(&self) -> Result<Option<Option<&'a str>>, JsonbError> {
        Ok(Some(Some(match self.kind() {
            Kind::Null => return Ok(Some(None)),
            Kind::String => self.string()?,
            Kind::Number => self.number_text()?,
            Kind::Bool => {
                if self.boolean() {
                    "true"
                } else {
                    "false"
                }
            }
            Kind::Array | Kind::Object => return Ok(None),
        })))
    }

    /// Returns the canonical text, as `jsonb_out` prints it:
    /// `{"a": 1, "b": [1, 2]}`.
    pub fn to_text(&self) -> Result<String, JsonbError> {
        let mut out = String::with_capacity(self.value_bytes().len() + 16);
        self.write_text(&mut out)?;
        Ok(out)
    }

    /// Returns the value as SQL text, as `->>` and the `_text` functions
    /// give it: a string unquoted, a number or boolean as printed, a
    /// container as JSON text, and `None` (SQL NULL) for JSON null.
    pub fn as_text(&self) -> Result<Option<String>, JsonbError> {
        Ok(Some(match self.kind() {
            Kind::Null => return Ok(None),
            Kind::String => self.string()?.to_owned(),
            Kind::Number => self.number_text()?.to_owned(),
            Kind::Bool => if self.boolean() { "true" } else { "false" }.to_owned(),
            Kind::Array | Kind::Object => self.to_text()?,
        }))
    }

    fn write_text(&self, out: &mut String) -> Result<(), JsonbError> {
        // A separator goes between siblings: before anything but an end
        // that follows a scalar or an end.
        let mut after_sibling = false;
        for token in Tokens::new(*self) {
            let token = token?;
            if after_sibling && !matches!(token, Token::End(_)) {
                out.push_str(", ");
            }
            after_sibling = matches!(token, Token::Scalar(_) | Token::End(_));
            match token {
                Token::Begin(container) => out.push(if container.kind() == Kind::Object {
                    '{'
                } else {
                    '['
                }),
                Token::End(container) => out.push(if container.kind() == Kind::Object {
                    '}'
                } else {
                    ']'
                }),
                Token::Key(key) => {
                    let key = std::str::from_utf8(key)
                        .map_err(|_| JsonbError::corrupt("key is not UTF-8"))?;
                    escape_json(out, key);
                    out.push_str(": ");
                }
                Token::Scalar(scalar) => match scalar.kind() {
                    Kind::Null => out.push_str("null"),
                    Kind::Bool => out.push_str(if scalar.boolean() { "true" } else { "false" }),
                    Kind::Number => out.push_str(scalar.number_text()?),
                    Kind::String => escape_json(out, scalar.string()?),
                    Kind::Array | Kind::Object => unreachable!("containers begin, not scalars"),
                },
            }
        }
        Ok(())
    }
}

/// Appends `text` as a JSON string literal, as PostgreSQL's `escape_json`:
/// the short escapes for `\b \f \n \r \t " \`, `\u00XX` (lowercase hex) for
/// other control characters, everything else as is.
pub(super) fn escape_json(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl JsonbRef<'_> {
    /// `jsonb_pretty`: one element or key per line, indented by four
    /// spaces per level, empty containers as `[` and `]` on two lines.
    pub fn to_pretty_text(&self) -> Result<String, JsonbError> {
        let mut out = String::with_capacity(self.value_bytes().len() * 2 + 16);
        let mut level = 0usize;
        // Whether the next child is the first of its container, and
        // whether a key was just written (its value goes on its line).
        let mut first = true;
        let mut after_key = false;
        let newline = |out: &mut String, level: usize| {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', 4 * level));
        };
        for token in Tokens::new(*self) {
            let token = token?;
            if !matches!(token, Token::End(_)) && !after_key && level > 0 {
                if !first {
                    out.push(',');
                }
                newline(&mut out, level);
            }
            after_key = false;
            match token {
                Token::Begin(container) => {
                    out.push(if container.kind() == Kind::Object {
                        '{'
                    } else {
                        '['
                    });
                    level += 1;
                    first = true;
                    continue;
                }
                Token::End(container) => {
                    level -= 1;
                    newline(&mut out, level);
                    out.push(if container.kind() == Kind::Object {
                        '}'
                    } else {
                        ']'
                    });
                }
                Token::Key(key) => {
                    let key = std::str::from_utf8(key)
                        .map_err(|_| JsonbError::corrupt("key is not UTF-8"))?;
                    escape_json(&mut out, key);
                    out.push_str(": ");
                    after_key = true;
                }
                Token::Scalar(scalar) => write_scalar(&mut out, &scalar)?,
            }
            first = false;
        }
        Ok(out)
    }

    /// The text of the value with every object field whose value is JSON
    /// `null` removed, at any depth (`jsonb_strip_nulls`); array elements
    /// stay. Parse it back to get the document.
    pub(super) fn strip_nulls_text(&self) -> Result<String, JsonbError> {
        let mut out = String::with_capacity(self.value_bytes().len() + 16);
        let mut after_sibling = false;
        let mut pending_key: Option<&str> = None;
        for token in Tokens::new(*self) {
            let token = token?;
            if let Token::Key(key) = token {
                pending_key = Some(
                    std::str::from_utf8(key)
                        .map_err(|_| JsonbError::corrupt("key is not UTF-8"))?,
                );
                continue;
            }
            if let (Some(_), Token::Scalar(s)) = (pending_key, token) {
                if s.kind() == Kind::Null {
                    pending_key = None;
                    continue;
                }
            }
            if after_sibling && !matches!(token, Token::End(_)) {
                out.push_str(", ");
            }
            if let Some(key) = pending_key.take() {
                escape_json(&mut out, key);
                out.push_str(": ");
            }
            after_sibling = matches!(token, Token::Scalar(_) | Token::End(_));
            match token {
                Token::Begin(c) => out.push(if c.kind() == Kind::Object { '{' } else { '[' }),
                Token::End(c) => out.push(if c.kind() == Kind::Object { '}' } else { ']' }),
                Token::Scalar(s) => write_scalar(&mut out, &s)?,
                Token::Key(_) => unreachable!("keys are held back above"),
            }
        }
        Ok(out)
    }
}

fn write_scalar(out: &mut String, scalar: &JsonbRef<'_>) -> Result<(), JsonbError> {
    match scalar.kind() {
        Kind::Null => out.push_str("null"),
        Kind::Bool => out.push_str(if scalar.boolean() { "true" } else { "false" }),
        Kind::Number => out.push_str(scalar.number_text()?),
        Kind::String => escape_json(out, scalar.string()?),
        Kind::Array | Kind::Object => unreachable!("containers begin, not scalars"),
    }
    Ok(())
}
