//! The case files (`data/sql/*.sql`), the expected files
//! (`data/sql/*.expected`) and the rendering that turns a statement's
//! messages into the expected text.
//!
//! # Case files
//! A case starts at a line `-- case: NAME`, optionally followed by
//! ` (extended)` to run it through the extended protocol as well. Each
//! case runs on a fresh connection in an empty schema, so it creates what
//! it uses. A statement is one or more lines ending at a line whose last
//! character is `;`, and is sent exactly as written (the `;` included; a
//! line with several statements is one Query message). Lines starting with
//! `--` and blank lines between statements are comments. After a
//! statement of the form `COPY … FROM STDIN`, the lines up to a line `\.`
//! are the COPY data.
//!
//! # Expected files
//! Written by `regen.sh` from a real PostgreSQL 15: a header, then for
//! each case its `-- case:` line, each statement echoed with `> ` (COPY
//! data with `>> `), and what the server answered, one line per message:
//!
//! ```text
//! columns: id | name          RowDescription: names…
//! types: int4 | text          …and types
//! row: 1 | \N                 DataRow in text format, \N for NULL
//! SELECT 1                    CommandComplete's tag
//! ERROR 42P01: relation …     ErrorResponse: severity, SQLSTATE, message,
//!   position: 15              then detail, hint, position and context
//! NOTICE 42P07: …             NoticeResponse, the same way
//! parameter: TimeZone = UTC   ParameterStatus
//! copy in: format 0, 2 columns / copy out: …
//! copy data: 1\ta\n            COPY TO STDOUT's data, a line per row
//! empty query                 EmptyQueryResponse
//! ready: in transaction       ReadyForQuery when not idle (T or E)
//! ```
//!
//! Values escape `\`, `|`, tab, newline and carriage return with a
//! backslash, so `\N` is only ever NULL; the empty string is `''`.
//! `arrange` says which messages are dropped or moved before comparing.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::wire::{Event, Report, WireError};

/// One statement of a case.
#[derive(Clone, Debug)]
pub struct Statement {
    pub sql: String,
    /// The data for a COPY FROM STDIN, each line ending in `\n`.
    pub copy_data: Option<String>,
}

/// One case: a name and the statements it runs on one connection.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub extended: bool,
    pub statements: Vec<Statement>,
}

impl Case {
    /// The case's `-- case:` line.
    pub fn header(&self) -> String {
        if self.extended {
            format!("-- case: {} (extended)", self.name)
        } else {
            format!("-- case: {}", self.name)
        }
    }
}

/// What running one statement produced.
pub enum Outcome {
    Events(Vec<Event>),
    /// The client failed (timeout, closed connection, protocol error).
    Failed(WireError),
    /// An earlier statement lost the connection.
    NotRun,
}

const CASE_PREFIX: &str = "-- case: ";
const EXTENDED_SUFFIX: &str = " (extended)";

/// Parses a case file.
pub fn parse_cases(text: &str) -> Result<Vec<Case>, String> {
    let mut cases: Vec<Case> = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let lineno = n + 1;
        if let Some(rest) = line.strip_prefix(CASE_PREFIX) {
            let (name, extended) = match rest.trim_end().strip_suffix(EXTENDED_SUFFIX) {
                Some(name) => (name, true),
                None => (rest.trim_end(), false),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("line {lineno}: bad case name {name:?}"));
            }
            if cases.iter().any(|c| c.name == name) {
                return Err(format!("line {lineno}: case {name} appears twice"));
            }
            cases.push(Case {
                name: name.to_owned(),
                extended,
                statements: Vec::new(),
            });
            continue;
        }
        if line.trim().is_empty() || line.starts_with("--") {
            continue;
        }
        let Some(case) = cases.last_mut() else {
            return Err(format!("line {lineno}: a statement before the first case"));
        };
        let mut sql = line.to_owned();
        while !sql.trim_end().ends_with(';') {
            match lines.next() {
                Some((_, next)) => {
                    sql.push('\n');
                    sql.push_str(next);
                }
                None => return Err(format!("line {lineno}: statement without a final ';'")),
            }
        }
        let copy_data = if is_copy_from_stdin(&sql) {
            let mut data = String::new();
            loop {
                match lines.next() {
                    Some((_, "\\.")) => break,
                    Some((_, l)) => {
                        data.push_str(l);
                        data.push('\n');
                    }
                    None => return Err(format!("line {lineno}: COPY data without a final \\.")),
                }
            }
            Some(data)
        } else {
            None
        };
        case.statements.push(Statement { sql, copy_data });
    }
    for c in &cases {
        if c.statements.is_empty() {
            return Err(format!("case {} has no statements", c.name));
        }
    }
    Ok(cases)
}

fn is_copy_from_stdin(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    words.first().is_some_and(|w| w == "COPY")
        && words.windows(2).any(|w| w[0] == "FROM" && w[1] == "STDIN")
}

/// The echo of a statement: its lines with `> `, its COPY data with `>> `.
pub fn echo(stmt: &Statement) -> String {
    let mut out = String::new();
    for line in stmt.sql.split('\n') {
        writeln!(out, "> {}", escape_control(line)).expect("write to String");
    }
    if let Some(data) = &stmt.copy_data {
        for line in data.lines() {
            writeln!(out, ">> {}", escape_control(line)).expect("write to String");
        }
    }
    out
}

/// Renders a statement and what it produced.
pub fn render_statement(stmt: &Statement, outcome: &Outcome) -> String {
    let mut out = echo(stmt);
    match outcome {
        Outcome::Events(events) => {
            for e in arrange(events) {
                render_event(&mut out, &e);
            }
        }
        Outcome::Failed(e) => {
            writeln!(out, "client: {}", escape_line(&e.to_string())).expect("write to String");
        }
        Outcome::NotRun => out.push_str("client: not run, the connection was lost\n"),
    }
    out
}

/// Puts a query's messages in the order they are compared in:
///
/// - A statement that fails shows its error without the columns and rows
///   sent before it: PostgreSQL streams a result and may fail halfway, a
///   server that builds the result first sends none of it, and a client
///   gets an error either way.
/// - COPY TO STDOUT data, which a server may split into messages anyhow,
///   becomes one CopyData, rendered a line per row.
/// - ParameterStatus goes last, before the ReadyForQuery status:
///   PostgreSQL reports changes when the query ends, and where they fall
///   among the other messages is no client's concern.
fn arrange(events: &[Event]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut parameters = Vec::new();
    let mut ready = Vec::new();
    let mut pending: Vec<Event> = Vec::new();
    let mut copied: Vec<u8> = Vec::new();
    for e in events {
        match e {
            Event::Parameter(..) => parameters.push(e.clone()),
            Event::Ready(_) => ready.push(e.clone()),
            Event::CopyData(data) => copied.extend_from_slice(data),
            Event::Error(_) => {
                out.extend(
                    pending
                        .drain(..)
                        .filter(|p| !matches!(p, Event::Columns(_) | Event::Row(_))),
                );
                out.push(e.clone());
            }
            Event::Complete(_) | Event::EmptyQuery => {
                if !copied.is_empty() {
                    pending.push(Event::CopyData(std::mem::take(&mut copied)));
                }
                out.append(&mut pending);
                out.push(e.clone());
            }
            _ => pending.push(e.clone()),
        }
    }
    if !copied.is_empty() {
        pending.push(Event::CopyData(copied));
    }
    out.append(&mut pending);
    out.append(&mut parameters);
    out.append(&mut ready);
    out
}

fn render_event(out: &mut String, e: &Event) {
    let w = |out: &mut String, s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    match e {
        Event::Columns(cols) => {
            let names: Vec<String> = cols.iter().map(|(n, _)| escape_value(n)).collect();
            let types: Vec<Cow<str>> = cols.iter().map(|(_, t)| type_name(*t)).collect();
            w(out, format!("columns: {}", names.join(" | ")));
            w(out, format!("types: {}", types.join(" | ")));
        }
        Event::Row(values) => {
            let vals: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Some(v) => escape_value(v),
                    None => "\\N".to_owned(),
                })
                .collect();
            w(out, format!("row: {}", vals.join(" | ")));
        }
        Event::Complete(tag) => w(out, escape_line(tag)),
        Event::EmptyQuery => w(out, "empty query".to_owned()),
        Event::Error(r) | Event::Notice(r) => render_report(out, r),
        Event::Parameter(name, value) => w(
            out,
            format!("parameter: {} = {}", escape_line(name), escape_value(value)),
        ),
        Event::CopyIn { format, columns } => {
            w(out, format!("copy in: format {format}, {columns} columns"))
        }
        Event::CopyOut { format, columns } => {
            w(out, format!("copy out: format {format}, {columns} columns"))
        }
        Event::CopyData(data) => {
            for line in String::from_utf8_lossy(data).split_inclusive('\n') {
                w(out, format!("copy data: {}", escape_line(line)));
            }
        }
        Event::Ready(b'I') => {}
        Event::Ready(b'T') => w(out, "ready: in transaction".to_owned()),
        Event::Ready(b'E') => w(out, "ready: failed transaction".to_owned()),
        Event::Ready(other) => w(out, format!("ready: status {:?}", char::from(*other))),
    }
}

fn render_report(out: &mut String, r: &Report) {
    writeln!(
        out,
        "{} {}: {}",
        r.severity,
        r.code,
        escape_line(&r.message)
    )
    .expect("write to String");
    let extra = [
        ("detail", &r.detail),
        ("hint", &r.hint),
        ("position", &r.position),
        ("context", &r.context),
    ];
    for (label, value) in extra {
        if let Some(v) = value {
            writeln!(out, "  {label}: {}", escape_line(v)).expect("write to String");
        }
    }
}

/// Escapes control characters (tab included) in an echo line, which is
/// compared but never parsed, so the SQL stays readable.
fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            write!(out, "\\u{{{:x}}}", u32::from(c)).expect("write to String");
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes backslash and the characters that would break a line.
fn escape_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                write!(out, "\\u{{{:x}}}", u32::from(c)).expect("write to String")
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes a value in a `row:` or `columns:` line, where `|` separates;
/// the empty string is `''` (and a value of two quotes `\'\'`), so no
/// line ends in a space that an editor might strip.
fn escape_value(s: &str) -> String {
    match s {
        "" => "''".to_owned(),
        "''" => "\\'\\'".to_owned(),
        s => escape_line(s).replace('|', "\\|"),
    }
}

/// Names the built-in types a conformance case can return; other OIDs
/// print as numbers.
fn type_name(oid: u32) -> Cow<'static, str> {
    Cow::Borrowed(match oid {
        16 => "bool",
        17 => "bytea",
        18 => "char",
        19 => "name",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        25 => "text",
        26 => "oid",
        114 => "json",
        700 => "float4",
        701 => "float8",
        705 => "unknown",
        1000 => "bool[]",
        1005 => "int2[]",
        1007 => "int4[]",
        1009 => "text[]",
        1016 => "int8[]",
        1042 => "bpchar",
        1043 => "varchar",
        1082 => "date",
        1083 => "time",
        1114 => "timestamp",
        1184 => "timestamptz",
        1186 => "interval",
        1266 => "timetz",
        1700 => "numeric",
        2249 => "record",
        2278 => "void",
        2950 => "uuid",
        3802 => "jsonb",
        3807 => "jsonb[]",
        4089 => "regnamespace",
        2205 => "regclass",
        2206 => "regtype",
        _ => return Cow::Owned(format!("oid {oid}")),
    })
}

/// An expected file: its header and one block per case, in file order.
pub struct Expected {
    pub blocks: Vec<(String, String)>,
}

impl Expected {
    /// Splits an expected file at its `-- case:` lines.
    pub fn parse(text: &str) -> Expected {
        let mut blocks: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(CASE_PREFIX) {
                let name = rest
                    .trim_end()
                    .strip_suffix(EXTENDED_SUFFIX)
                    .unwrap_or(rest.trim_end());
                blocks.push((name.to_owned(), format!("{line}\n")));
            } else if let Some((_, block)) = blocks.last_mut() {
                block.push_str(line);
                block.push('\n');
            }
        }
        for (_, block) in &mut blocks {
            let trimmed = block.trim_end().len();
            block.truncate(trimmed);
            block.push('\n');
        }
        Expected { blocks }
    }

    /// The block recorded for a case.
    pub fn block(&self, name: &str) -> Option<&str> {
        self.blocks
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_str())
    }
}

/// The echo lines of a block: what the case file said when it was recorded.
pub fn echo_lines(block: &str) -> Vec<&str> {
    block
        .lines()
        .filter(|l| l.starts_with("-- case: ") || l.starts_with("> ") || l.starts_with(">> "))
        .collect()
}

/// A line diff of two blocks (`-` expected, `+` got), unchanged runs
/// longer than six lines shortened to their ends.
pub fn diff(expected: &str, got: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    // Longest common subsequence table; blocks are at most a few hundred lines.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let mut out = String::new();
    let mut k = 0;
    while k < ops.len() {
        if ops[k].0 != ' ' {
            writeln!(out, "{}{}", ops[k].0, ops[k].1).expect("write to String");
            k += 1;
            continue;
        }
        let start = k;
        while k < ops.len() && ops[k].0 == ' ' {
            k += 1;
        }
        for line in shorten(&ops[start..k], start == 0, k == ops.len()) {
            writeln!(out, " {line}").expect("write to String");
        }
    }
    out
}

/// The lines of an unchanged run worth showing: all of a short run; of a
/// long one, three lines after the change before it, and before the next
/// change the statement it belongs to (its echo) and the last three lines.
fn shorten<'a>(run: &[(char, &'a str)], at_start: bool, at_end: bool) -> Vec<&'a str> {
    let lines: Vec<&str> = run.iter().map(|(_, l)| *l).collect();
    if lines.len() <= 6 {
        return lines;
    }
    let mut shown: Vec<&str> = Vec::new();
    let head = if at_start { 0 } else { 3 };
    shown.extend(&lines[..head]);
    if at_end {
        shown.push("…");
        return shown;
    }
    let tail = lines.len() - 3;
    let is_echo = |l: &str| l.starts_with("> ") || l.starts_with("-- case: ");
    let mut echo_end = lines.len() - 1;
    while echo_end > head && !is_echo(lines[echo_end]) {
        echo_end -= 1;
    }
    let mut echo_start = echo_end;
    while echo_start > head && is_echo(lines[echo_start - 1]) {
        echo_start -= 1;
    }
    if is_echo(lines[echo_end]) && echo_end >= head {
        if echo_start > head {
            shown.push("…");
        }
        if lines.len() - 1 - echo_end > 4 {
            shown.extend(&lines[echo_start..=echo_end]);
            shown.push("…");
            shown.extend(&lines[tail..]);
        } else {
            shown.extend(&lines[echo_start..]);
        }
    } else {
        shown.push("…");
        shown.extend(&lines[tail..]);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_statements_copy_data_and_flags() {
        let cases = parse_cases(
            "-- header\n-- case: a (extended)\nSELECT 1;\n\n-- note\nSELECT\n  2;\n\
             -- case: b\nCOPY t FROM STDIN;\n1\tx\n\\.\nSELECT 3; SELECT 4;\n",
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert!(cases[0].extended);
        assert_eq!(cases[0].statements[1].sql, "SELECT\n  2;");
        assert_eq!(cases[1].statements[0].copy_data.as_deref(), Some("1\tx\n"));
        assert_eq!(cases[1].statements[1].sql, "SELECT 3; SELECT 4;");
        assert!(parse_cases("SELECT 1;\n").is_err());
        assert!(parse_cases("-- case: a\nSELECT 1\n").is_err());
    }

    #[test]
    fn null_and_text_null_differ() {
        let stmt = Statement {
            sql: "SELECT".into(),
            copy_data: None,
        };
        let out = render_statement(
            &stmt,
            &Outcome::Events(vec![Event::Row(vec![
                None,
                Some("\\N".into()),
                Some("a|b".into()),
                Some(String::new()),
                Some("''".into()),
            ])]),
        );
        assert_eq!(out, "> SELECT\nrow: \\N | \\\\N | a\\|b | '' | \\'\\'\n");
    }

    #[test]
    fn a_failed_statement_shows_only_its_error() {
        let stmt = Statement {
            sql: "SELECT 1; SELECT 1/0".into(),
            copy_data: None,
        };
        let columns = Event::Columns(vec![("x".into(), 23)]);
        let events = vec![
            columns.clone(),
            Event::Row(vec![Some("1".into())]),
            Event::Complete("SELECT 1".into()),
            Event::Parameter("TimeZone".into(), "UTC".into()),
            columns,
            Event::Row(vec![Some("2".into())]),
            Event::Notice(Report {
                severity: "NOTICE".into(),
                code: "00000".into(),
                message: "n".into(),
                ..Report::default()
            }),
            Event::Error(Report {
                severity: "ERROR".into(),
                code: "22012".into(),
                message: "division by zero".into(),
                ..Report::default()
            }),
            Event::Ready(b'I'),
        ];
        assert_eq!(
            render_statement(&stmt, &Outcome::Events(events)),
            "> SELECT 1; SELECT 1/0\ncolumns: x\ntypes: int4\nrow: 1\nSELECT 1\n\
             NOTICE 00000: n\nERROR 22012: division by zero\nparameter: TimeZone = UTC\n"
        );
    }

    #[test]
    fn diff_marks_changed_lines() {
        let d = diff("a\nb\nc\n", "a\nx\nc\n");
        assert_eq!(d, " a\n-b\n+x\n c\n");
    }

    #[test]
    fn diff_keeps_the_statement_before_a_change() {
        let expected = "-- case: c\n> A;\nA\n> B;\nB\n> C;\nrow: 1\nrow: 2\nC\n> D;\nD\n";
        let got = expected.replace("\nD\n", "\nE\n");
        assert_eq!(diff(expected, &got), " …\n > D;\n-D\n+E\n");
        let long = "-- case: c\n> A;\nrow: 1\nrow: 2\nrow: 3\nrow: 4\nrow: 5\nrow: 6\nA\n";
        let got = long.replace("\nA\n", "\nB\n");
        assert_eq!(
            diff(long, &got),
            " -- case: c\n > A;\n …\n row: 4\n row: 5\n row: 6\n-A\n+B\n"
        );
    }
}
