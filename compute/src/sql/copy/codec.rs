//! COPY's text and CSV formats, byte for byte as PostgreSQL 15 reads and
//! writes them (`copyfromparse.c`, `copyto.c`).
//!
//! Input is split in two steps, as in PostgreSQL: [`LineSplitter`] finds
//! the records in a stream that arrives in arbitrary chunks (a record may
//! span chunks, and in CSV may hold newlines inside quotes), then
//! [`split_text`] or [`split_csv`] cuts one record into de-escaped fields.
//! The splitter keeps its scan position and quote state between chunks, so
//! each input byte is looked at once however the stream is cut.
//!
//! # Text format
//! Fields are separated by the delimiter (tab by default), records by a
//! newline, a carriage return, or both (the first record decides, and a mix
//! is an error). A backslash escapes: `\b \f \n \r \t \v`, up to three octal
//! digits, `\x` and one or two hex digits, and any other character stands
//! for itself (so `\\` is a backslash and `\` before the delimiter makes it
//! data). A field whose raw text equals the NULL string (`\N`) is NULL.
//! `\.` ends the data.
//!
//! # CSV format
//! Fields are separated by the delimiter (a comma by default); a field may
//! be quoted, in whole or in parts, and inside quotes the escape character
//! (the quote by default) escapes a quote or itself, and delimiters and
//! newlines are data. An unquoted field equal to the NULL string (empty by
//! default) is NULL, so `""` is an empty string. `\.` alone on a line ends
//! the data.

use std::fmt;

/// The format of one COPY, after option checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    /// CSV rather than text.
    pub csv: bool,
    /// Field delimiter.
    pub delimiter: u8,
    /// The NULL string.
    pub null: String,
    /// CSV quote.
    pub quote: u8,
    /// CSV escape.
    pub escape: u8,
}

impl Format {
    /// PostgreSQL's text format defaults.
    pub fn text() -> Format {
        Format {
            csv: false,
            delimiter: b'\t',
            null: "\\N".into(),
            quote: b'"',
            escape: b'"',
        }
    }

    /// PostgreSQL's CSV defaults.
    pub fn csv() -> Format {
        Format {
            csv: true,
            delimiter: b',',
            null: String::new(),
            quote: b'"',
            escape: b'"',
        }
    }
}

/// A malformed input stream or record (22P04 unless said otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// A carriage return where records end with newlines, or alone where
    /// they end with both.
    LiteralCarriageReturn {
        /// CSV (the message says "unquoted").
        csv: bool,
    },
    /// A newline where records end with carriage returns.
    LiteralNewline {
        /// CSV (the message says "unquoted").
        csv: bool,
    },
    /// `\.` followed by something other than the end of the line.
    EndMarkerCorrupt,
    /// `\.` ended with another newline style than the records.
    EndMarkerNewlineStyle,
    /// A quoted CSV field runs to the end of the data.
    UnterminatedQuote,
    /// Bytes that are not UTF-8 (22021), the first character's bytes.
    InvalidUtf8(Vec<u8>),
    /// A record longer than [`LINE_BYTES_MAX`] (54000).
    LineTooLong,
}

/// The longest record accepted: PostgreSQL's `MaxAllocSize` bound on its
/// line buffer, and our largest value.
pub const LINE_BYTES_MAX: usize = crate::datum::MAX_VALUE_BYTES;

impl InputError {
    /// The SQLSTATE.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            InputError::InvalidUtf8(_) => "22021",
            InputError::LineTooLong => "54000",
            InputError::LiteralCarriageReturn { .. }
            | InputError::LiteralNewline { .. }
            | InputError::EndMarkerCorrupt
            | InputError::EndMarkerNewlineStyle
            | InputError::UnterminatedQuote => "22P04",
        }
    }

    /// PostgreSQL's HINT, if it gives one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            InputError::LiteralCarriageReturn { csv: false } => {
                Some("Use \"\\r\" to represent carriage return.")
            }
            InputError::LiteralCarriageReturn { csv: true } => {
                Some("Use quoted CSV field to represent carriage return.")
            }
            InputError::LiteralNewline { csv: false } => Some("Use \"\\n\" to represent newline."),
            InputError::LiteralNewline { csv: true } => {
                Some("Use quoted CSV field to represent newline.")
            }
            _ => None,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::LiteralCarriageReturn { csv: false } => {
                f.write_str("literal carriage return found in data")
            }
            InputError::LiteralCarriageReturn { csv: true } => {
                f.write_str("unquoted carriage return found in data")
            }
            InputError::LiteralNewline { csv: false } => {
                f.write_str("literal newline found in data")
            }
            InputError::LiteralNewline { csv: true } => {
                f.write_str("unquoted newline found in data")
            }
            InputError::EndMarkerCorrupt => f.write_str("end-of-copy marker corrupt"),
            InputError::EndMarkerNewlineStyle => {
                f.write_str("end-of-copy marker does not match previous newline style")
            }
            InputError::UnterminatedQuote => f.write_str("unterminated CSV quoted field"),
            InputError::InvalidUtf8(bytes) => {
                f.write_str("invalid byte sequence for encoding \"UTF8\":")?;
                for b in bytes {
                    write!(f, " 0x{b:02x}")?;
                }
                Ok(())
            }
            InputError::LineTooLong => write!(
                f,
                "COPY line is too long: the limit is {LINE_BYTES_MAX} bytes"
            ),
        }
    }
}

/// How records end, decided by the first one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Eol {
    Nl,
    Cr,
    CrNl,
}

/// One record found by [`LineSplitter::next_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// Where its bytes are in [`LineSplitter::bytes`].
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Newlines inside CSV quotes, which PostgreSQL counts as lines.
    pub embedded_lines: u64,
}

/// Finds records in a byte stream that arrives in pieces.
#[derive(Debug)]
pub struct LineSplitter {
    csv: bool,
    quote: u8,
    escape: u8,
    buf: Vec<u8>,
    /// Start of the record being scanned.
    start: usize,
    /// Bytes before this are scanned.
    scan: usize,
    in_quote: bool,
    last_was_esc: bool,
    embedded: u64,
    eol: Option<Eol>,
    /// `\.` was seen: the rest of the stream is ignored.
    ended: bool,
}

impl LineSplitter {
    /// A splitter for `format`.
    pub fn new(format: &Format) -> LineSplitter {
        LineSplitter {
            csv: format.csv,
            quote: format.quote,
            escape: format.escape,
            buf: Vec::new(),
            start: 0,
            scan: 0,
            in_quote: false,
            last_was_esc: false,
            embedded: 0,
            eol: None,
            ended: false,
        }
    }

    /// Appends data; records found before are no longer valid.
    pub fn push(&mut self, data: &[u8]) {
        if self.ended {
            return;
        }
        // Drop what was consumed before growing the buffer.
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// True once the end marker was read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The bytes of a record returned by [`LineSplitter::next_line`].
    pub fn bytes(&self, line: &Line) -> &[u8] {
        &self.buf[line.start..line.end]
    }

    /// The next complete record, or `None` when more data is needed (or,
    /// with `eof`, when the data is over). With `eof` a last record without
    /// a line end is returned too.
    pub fn next_line(&mut self, eof: bool) -> Result<Option<Line>, InputError> {
        if self.ended {
            return Ok(None);
        }
        let r = if self.csv {
            self.next_csv(eof)
        } else {
            self.next_text(eof)
        };
        if r.is_ok() && self.scan - self.start > LINE_BYTES_MAX {
            return Err(InputError::LineTooLong);
        }
        r
    }

    /// Ends the current record at `end`, the next one starting at `next`.
    fn finish(&mut self, end: usize, next: usize) -> Line {
        let line = Line {
            start: self.start,
            end,
            embedded_lines: std::mem::take(&mut self.embedded),
        };
        self.start = next;
        self.scan = next;
        line
    }

    /// The last record, at the end of the data.
    fn finish_at_eof(&mut self) -> Option<Line> {
        let len = self.buf.len();
        self.scan = len;
        if self.start == len {
            return None;
        }
        Some(self.finish(len, len))
    }

    /// Handles a carriage return at `i` outside quotes: `Some(line)` when it
    /// ends a record, `None` when the next byte is needed first.
    fn at_cr(&mut self, i: usize, eof: bool) -> Result<Option<Line>, InputError> {
        let csv = self.csv;
        match self.eol {
            Some(Eol::Nl) => Err(InputError::LiteralCarriageReturn { csv }),
            Some(Eol::Cr) => Ok(Some(self.finish(i, i + 1))),
            None | Some(Eol::CrNl) => match self.buf.get(i + 1) {
                None if !eof => Ok(None),
                Some(b'\n') => {
                    self.eol = Some(Eol::CrNl);
                    Ok(Some(self.finish(i, i + 2)))
                }
                _ if self.eol == Some(Eol::CrNl) => Err(InputError::LiteralCarriageReturn { csv }),
                _ => {
                    self.eol = Some(Eol::Cr);
                    Ok(Some(self.finish(i, i + 1)))
                }
            },
        }
    }

    fn at_nl(&mut self, i: usize) -> Result<Line, InputError> {
        match self.eol {
            Some(Eol::Cr | Eol::CrNl) => Err(InputError::LiteralNewline { csv: self.csv }),
            _ => {
                self.eol = Some(Eol::Nl);
                Ok(self.finish(i, i + 1))
            }
        }
    }

    /// Checks an end marker `\.` at `i`. `Ok(None)` means more data is
    /// needed; `Ok(Some(true))` a valid marker (the record so far is
    /// returned by the caller and the stream ends); `Ok(Some(false))` not a
    /// marker (CSV only: then it is data).
    fn end_marker(&mut self, i: usize, eof: bool) -> Result<Option<bool>, InputError> {
        debug_assert_eq!(&self.buf[i..i + 2], b"\\.");
        let csv = self.csv;
        let corrupt = |e: InputError| if csv { Ok(Some(false)) } else { Err(e) };
        let mut at = i + 2;
        if self.eol == Some(Eol::CrNl) {
            match self.buf.get(at) {
                None if !eof => return Ok(None),
                Some(b'\r') => at += 1,
                Some(b'\n') => return corrupt(InputError::EndMarkerNewlineStyle),
                _ => return corrupt(InputError::EndMarkerCorrupt),
            }
        }
        let c = match self.buf.get(at) {
            None if !eof => return Ok(None),
            None => return corrupt(InputError::EndMarkerCorrupt),
            Some(c) => *c,
        };
        if c != b'\r' && c != b'\n' {
            return corrupt(InputError::EndMarkerCorrupt);
        }
        let matches = match self.eol {
            Some(Eol::Nl) | Some(Eol::CrNl) => c == b'\n',
            Some(Eol::Cr) => c == b'\r',
            None => true,
        };
        if !matches {
            return Err(InputError::EndMarkerNewlineStyle);
        }
        Ok(Some(true))
    }

    fn next_text(&mut self, eof: bool) -> Result<Option<Line>, InputError> {
        loop {
            let found = memchr::memchr3(b'\\', b'\n', b'\r', &self.buf[self.scan..]);
            let Some(off) = found else {
                self.scan = self.buf.len();
                return Ok(if eof { self.finish_at_eof() } else { None });
            };
            let i = self.scan + off;
            match self.buf[i] {
                b'\n' => return self.at_nl(i).map(Some),
                b'\r' => match self.at_cr(i, eof)? {
                    Some(line) => return Ok(Some(line)),
                    None => {
                        self.scan = i;
                        return Ok(None);
                    }
                },
                _ => match self.buf.get(i + 1) {
                    None if !eof => {
                        self.scan = i;
                        return Ok(None);
                    }
                    None => self.scan = i + 1,
                    Some(b'.') => match self.end_marker(i, eof)? {
                        None => {
                            self.scan = i;
                            return Ok(None);
                        }
                        Some(_) => {
                            self.ended = true;
                            let line = self.finish(i, i);
                            return Ok((line.end > line.start).then_some(line));
                        }
                    },
                    // Anything after a backslash is data, even a newline.
                    Some(_) => self.scan = i + 2,
                },
            }
        }
    }

    fn next_csv(&mut self, eof: bool) -> Result<Option<Line>, InputError> {
        // An escape equal to the quote is just the quote toggling twice.
        let (quote, escape) = (
            self.quote,
            (self.escape != self.quote).then_some(self.escape),
        );
        let mut i = self.scan;
        loop {
            let Some(&c) = self.buf.get(i) else {
                self.scan = i;
                return Ok(if eof { self.finish_at_eof() } else { None });
            };
            if c == b'\\' && i == self.start {
                if self.buf.len() < i + 2 && !eof {
                    self.scan = i;
                    return Ok(None);
                }
                if self.buf.get(i + 1) == Some(&b'.') {
                    match self.end_marker(i, eof)? {
                        None => {
                            self.scan = i;
                            return Ok(None);
                        }
                        Some(true) => {
                            self.ended = true;
                            self.finish(i, i);
                            return Ok(None);
                        }
                        Some(false) => {}
                    }
                }
            }
            if self.in_quote && Some(c) == escape {
                self.last_was_esc = !self.last_was_esc;
            }
            if c == quote && !self.last_was_esc {
                self.in_quote = !self.in_quote;
            }
            if Some(c) != escape {
                self.last_was_esc = false;
            }
            if self.in_quote {
                let counted = if self.eol == Some(Eol::Nl) {
                    b'\n'
                } else {
                    b'\r'
                };
                if c == counted {
                    self.embedded += 1;
                }
                i += 1;
                continue;
            }
            match c {
                b'\n' => return self.at_nl(i).map(Some),
                b'\r' => match self.at_cr(i, eof)? {
                    Some(line) => return Ok(Some(line)),
                    None => {
                        // Seen again with the next data; its bookkeeping
                        // above (outside quotes) changes nothing twice.
                        self.scan = i;
                        return Ok(None);
                    }
                },
                _ => i += 1,
            }
        }
    }
}

/// The fields of one record, de-escaped, in one buffer.
#[derive(Debug, Default)]
pub struct Fields {
    buf: Vec<u8>,
    /// Each field's range in `buf`, `None` for NULL.
    spans: Vec<Option<(usize, usize)>>,
    /// CSV: whether the field had quotes.
    quoted: Vec<bool>,
}

impl Fields {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Field `i`: its bytes, `None` for NULL.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.spans[i].map(|(s, e)| &self.buf[s..e])
    }

    /// Whether field `i` had quotes (CSV).
    pub fn quoted(&self, i: usize) -> bool {
        self.quoted[i]
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
        self.quoted.clear();
    }
}

/// Cuts a text-format record into fields (PostgreSQL's
/// `CopyReadAttributesText`).
pub fn split_text(line: &[u8], format: &Format, out: &mut Fields) -> Result<(), InputError> {
    out.clear();
    let delim = format.delimiter;
    let null = format.null.as_bytes();
    let mut at = 0;
    loop {
        let raw_start = at;
        let start = out.buf.len();
        let mut bytes_escaped = false;
        let mut found_delim = false;
        while at < line.len() {
            let Some(off) = memchr::memchr2(delim, b'\\', &line[at..]) else {
                out.buf.extend_from_slice(&line[at..]);
                at = line.len();
                break;
            };
            out.buf.extend_from_slice(&line[at..at + off]);
            at += off;
            if line[at] == delim {
                at += 1;
                found_delim = true;
                break;
            }
            // A backslash; one at the very end is dropped, as PostgreSQL does.
            at += 1;
            let Some(&c) = line.get(at) else { break };
            at += 1;
            let byte = match c {
                b'0'..=b'7' => {
                    let mut v = u32::from(c - b'0');
                    for _ in 0..2 {
                        match line.get(at) {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                at += 1;
                            }
                            _ => break,
                        }
                    }
                    bytes_escaped = true;
                    (v & 0xff) as u8
                }
                b'x' => match line.get(at).and_then(|d| hex_value(*d)) {
                    Some(h) => {
                        at += 1;
                        let mut v = h;
                        if let Some(l) = line.get(at).and_then(|d| hex_value(*d)) {
                            v = v * 16 + l;
                            at += 1;
                        }
                        bytes_escaped = true;
                        v
                    }
                    None => b'x',
                },
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 0x0b,
                other => other,
            };
            out.buf.push(byte);
        }
        let raw = &line[raw_start..if found_delim { at - 1 } else { at }];
        if raw == null {
            out.buf.truncate(start);
            out.spans.push(None);
        } else {
            if bytes_escaped {
                check_utf8(&out.buf[start..])?;
            }
            out.spans.push(Some((start, out.buf.len())));
        }
        out.quoted.push(false);
        if !found_delim {
            return Ok(());
        }
    }
}

/// Cuts a CSV record into fields (PostgreSQL's `CopyReadAttributesCSV`).
pub fn split_csv(line: &[u8], format: &Format, out: &mut Fields) -> Result<(), InputError> {
    out.clear();
    let (delim, quote, escape) = (format.delimiter, format.quote, format.escape);
    let null = format.null.as_bytes();
    let mut at = 0;
    loop {
        let raw_start = at;
        let start = out.buf.len();
        let mut saw_quote = false;
        let mut found_delim = false;
        'field: loop {
            // Outside quotes.
            loop {
                let Some(&c) = line.get(at) else {
                    break 'field;
                };
                at += 1;
                if c == delim {
                    found_delim = true;
                    break 'field;
                }
                if c == quote {
                    saw_quote = true;
                    break;
                }
                out.buf.push(c);
            }
            // Inside quotes.
            loop {
                let Some(&c) = line.get(at) else {
                    return Err(InputError::UnterminatedQuote);
                };
                at += 1;
                if c == escape {
                    if let Some(&next) = line.get(at) {
                        if next == escape || next == quote {
                            out.buf.push(next);
                            at += 1;
                            continue;
                        }
                    }
                }
                if c == quote {
                    break;
                }
                out.buf.push(c);
            }
        }
        let raw = &line[raw_start..if found_delim { at - 1 } else { at }];
        if !saw_quote && raw == null {
            out.buf.truncate(start);
            out.spans.push(None);
        } else {
            out.spans.push(Some((start, out.buf.len())));
        }
        out.quoted.push(saw_quote);
        if !found_delim {
            return Ok(());
        }
    }
}

fn hex_value(d: u8) -> Option<u8> {
    (d as char).to_digit(16).map(|v| v as u8)
}

/// Checks that `bytes` are UTF-8 without NUL, as PostgreSQL's
/// `pg_verifymbstr` does; the error carries the bad character's bytes.
pub fn check_utf8(bytes: &[u8]) -> Result<&str, InputError> {
    let bad = |at: usize| {
        let lead = bytes[at];
        let len = match lead {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        InputError::InvalidUtf8(bytes[at..(at + len).min(bytes.len())].to_vec())
    };
    match std::str::from_utf8(bytes) {
        Ok(s) => match memchr::memchr(0, bytes) {
            Some(at) => Err(bad(at)),
            None => Ok(s),
        },
        Err(e) => {
            let at = e.valid_up_to();
            match memchr::memchr(0, &bytes[..at]) {
                Some(nul) => Err(bad(nul)),
                None => Err(bad(at)),
            }
        }
    }
}

/// Appends a value in text format (PostgreSQL's `CopyAttributeOutText`).
pub fn write_text(out: &mut Vec<u8>, value: &str, delimiter: u8) {
    let bytes = value.as_bytes();
    let mut from = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let escaped = match c {
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x0b => b'v',
            b'\\' => b'\\',
            c if c == delimiter => c,
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.push(b'\\');
        out.push(escaped);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

/// Appends a value in CSV format (PostgreSQL's `CopyAttributeOutCSV`):
/// quoted when asked, when it holds the delimiter, the quote or a line
/// break, when it equals the NULL string, or when it is `\.` alone on a
/// line (`single_column`).
pub fn write_csv(
    out: &mut Vec<u8>,
    value: &str,
    format: &Format,
    force_quote: bool,
    single_column: bool,
) {
    let (delim, quote, escape) = (format.delimiter, format.quote, format.escape);
    let bytes = value.as_bytes();
    let needs_quote = force_quote
        || value == format.null
        || (single_column && value == "\\.")
        || bytes
            .iter()
            .any(|&c| c == delim || c == quote || c == b'\n' || c == b'\r');
    if !needs_quote {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(quote);
    let mut from = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if c == quote || c == escape {
            out.extend_from_slice(&bytes[from..i]);
            out.push(escape);
            from = i;
        }
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `input` fed in pieces of `chunk` bytes.
    fn lines(format: &Format, input: &[u8], chunk: usize) -> Result<Vec<Vec<u8>>, InputError> {
        let mut s = LineSplitter::new(format);
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            s.push(piece);
            while let Some(l) = s.next_line(false)? {
                out.push(s.bytes(&l).to_vec());
            }
        }
        while let Some(l) = s.next_line(true)? {
            out.push(s.bytes(&l).to_vec());
        }
        Ok(out)
    }

    fn all_chunkings(format: &Format, input: &[u8]) -> Result<Vec<Vec<u8>>, InputError> {
        let whole = lines(format, input, input.len());
        for chunk in 1..input.len().min(8) {
            assert_eq!(lines(format, input, chunk), whole, "chunks of {chunk}");
        }
        whole
    }

    fn text_fields(line: &str) -> Vec<Option<String>> {
        let mut f = Fields::default();
        split_text(line.as_bytes(), &Format::text(), &mut f).unwrap();
        (0..f.len())
            .map(|i| f.get(i).map(|b| String::from_utf8(b.to_vec()).unwrap()))
            .collect()
    }

    fn csv_fields(line: &str) -> Vec<Option<String>> {
        let mut f = Fields::default();
        split_csv(line.as_bytes(), &Format::csv(), &mut f).unwrap();
        (0..f.len())
            .map(|i| f.get(i).map(|b| String::from_utf8(b.to_vec()).unwrap()))
            .collect()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn text_records_end_at_any_newline_style_and_the_end_marker() {
        let t = Format::text();
        let want = vec![b"a\tb".to_vec(), b"c".to_vec()];
        assert_eq!(all_chunkings(&t, b"a\tb\nc\n").unwrap(), want);
        assert_eq!(all_chunkings(&t, b"a\tb\r\nc\r\n").unwrap(), want);
        assert_eq!(all_chunkings(&t, b"a\tb\rc\r").unwrap(), want);
        assert_eq!(all_chunkings(&t, b"a\tb\nc").unwrap(), want);
        assert_eq!(all_chunkings(&t, b"a\tb\nc\n\\.\nignored\n").unwrap(), want);
        assert_eq!(all_chunkings(&t, b"a\tb\r\nc\r\n\\.\r\n").unwrap(), want);
        // An escaped newline is data; `\\.` is a backslash and a dot.
        assert_eq!(
            all_chunkings(&t, b"a\\\nb\n\\\\.\n").unwrap(),
            vec![b"a\\\nb".to_vec(), b"\\\\.".to_vec()]
        );
        assert_eq!(
            all_chunkings(&t, b"a\nb\r\n").unwrap_err(),
            InputError::LiteralCarriageReturn { csv: false }
        );
        assert_eq!(
            all_chunkings(&t, b"a\r\nb\n").unwrap_err(),
            InputError::LiteralNewline { csv: false }
        );
        assert_eq!(
            all_chunkings(&t, b"a\n\\.x\n").unwrap_err(),
            InputError::EndMarkerCorrupt
        );
        assert_eq!(
            all_chunkings(&t, b"a\n\\.").unwrap_err(),
            InputError::EndMarkerCorrupt
        );
        assert_eq!(
            all_chunkings(&t, b"a\r\n\\.\n").unwrap_err(),
            InputError::EndMarkerNewlineStyle
        );
        assert!(all_chunkings(&t, b"").unwrap().is_empty());
        assert_eq!(
            all_chunkings(&t, b"\n\n").unwrap(),
            vec![Vec::<u8>::new(); 2]
        );
    }

    #[test]
    fn csv_records_keep_newlines_inside_quotes() {
        let c = Format::csv();
        assert_eq!(
            all_chunkings(&c, b"1,\"a\nb\"\n2,\"x\"\"\r\"\n").unwrap(),
            vec![b"1,\"a\nb\"".to_vec(), b"2,\"x\"\"\r\"".to_vec()]
        );
        // `\.` ends CSV data only alone on a line.
        assert_eq!(
            all_chunkings(&c, b"a,\\.\n\\.x\n\\.\nrest\n").unwrap(),
            vec![b"a,\\.".to_vec(), b"\\.x".to_vec()]
        );
        assert_eq!(
            all_chunkings(&c, b"a\n\\.").unwrap(),
            vec![b"a".to_vec(), b"\\.".to_vec()]
        );
        assert_eq!(
            all_chunkings(&c, b"a\r\nb\n").unwrap_err(),
            InputError::LiteralNewline { csv: true }
        );
        // An unterminated quote runs to the end of the data.
        assert_eq!(
            all_chunkings(&c, b"1,\"open\n2\n").unwrap(),
            vec![b"1,\"open\n2\n".to_vec()]
        );
    }

    #[test]
    fn csv_counts_embedded_newlines_as_lines() {
        let c = Format::csv();
        let mut s = LineSplitter::new(&c);
        s.push(b"a\n\"x\ny\nz\",1\nb\n");
        let counts: Vec<u64> = std::iter::from_fn(|| s.next_line(true).unwrap())
            .map(|l| l.embedded_lines)
            .collect();
        assert_eq!(counts, vec![0, 2, 0]);
    }

    #[test]
    fn text_fields_are_de_escaped_and_null_is_raw() {
        assert_eq!(text_fields("a\tb"), vec![s("a"), s("b")]);
        assert_eq!(text_fields(""), vec![s("")]);
        assert_eq!(text_fields("\\N\t\\\\N\tN"), vec![None, s("\\N"), s("N")]);
        assert_eq!(
            text_fields("\\b\\f\\n\\r\\t\\v\\\\\\q"),
            vec![s("\u{8}\u{c}\n\r\t\u{b}\\q")]
        );
        assert_eq!(text_fields("a\\\tb\tc"), vec![s("a\tb"), s("c")]);
        assert_eq!(text_fields("\\101\\x41\\x4a\\xg\\7"), vec![s("AAJxg\u{7}")]);
        assert_eq!(text_fields("\\303\\251"), vec![s("é")]);
        assert_eq!(text_fields("abc\\"), vec![s("abc")]);
        let mut f = Fields::default();
        assert_eq!(
            split_text(b"\\377", &Format::text(), &mut f).unwrap_err(),
            InputError::InvalidUtf8(vec![0xff])
        );
        assert_eq!(
            split_text(b"a\\0", &Format::text(), &mut f).unwrap_err(),
            InputError::InvalidUtf8(vec![0])
        );
    }

    #[test]
    fn csv_fields_follow_quotes_and_escapes() {
        assert_eq!(csv_fields("1,,\"\""), vec![s("1"), None, s("")]);
        assert_eq!(
            csv_fields("\"a,b\",\"x\"\"y\",a\"b,c\"d"),
            vec![s("a,b"), s("x\"y"), s("ab,cd")]
        );
        assert_eq!(csv_fields("\"line\nbreak\""), vec![s("line\nbreak")]);
        let mut f = Fields::default();
        assert_eq!(
            split_csv(b"\"open", &Format::csv(), &mut f).unwrap_err(),
            InputError::UnterminatedQuote
        );
        let backslash = Format {
            escape: b'\\',
            ..Format::csv()
        };
        split_csv(b"\"a\\\"b\\\\c\\d\"", &backslash, &mut f).unwrap();
        assert_eq!(f.get(0).unwrap(), b"a\"b\\c\\d");
        assert!(f.quoted(0));
    }

    #[test]
    fn output_escapes_as_postgres_does() {
        let mut out = Vec::new();
        write_text(&mut out, "a\tb\nc\\d\re\u{8}\u{1}", b'\t');
        assert_eq!(out, b"a\\tb\\nc\\\\d\\re\\b\x01");
        out.clear();
        write_text(&mut out, "a,b\tc", b',');
        assert_eq!(out, b"a\\,b\\tc");
        let csv = Format::csv();
        let case = |v: &str, force: bool, single: bool| {
            let mut out = Vec::new();
            write_csv(&mut out, v, &csv, force, single);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(case("plain", false, false), "plain");
        assert_eq!(case("", false, false), "\"\"");
        assert_eq!(case("a,b", false, false), "\"a,b\"");
        assert_eq!(case("say \"hi\"", false, false), "\"say \"\"hi\"\"\"");
        assert_eq!(case("two\nlines", false, false), "\"two\nlines\"");
        assert_eq!(case("x", true, false), "\"x\"");
        assert_eq!(case("\\.", false, true), "\"\\.\"");
        assert_eq!(case("\\.", false, false), "\\.");
    }
}
