//! COPY FROM STDIN and COPY TO STDOUT, in PostgreSQL's text and CSV
//! formats (`codec`), with PostgreSQL 15's options, errors and CONTEXT
//! lines.
//!
//! # The statement
//!
//! COPY has a grammar of its own here ([`parse_statements`]): sqlparser's
//! would take the rest of the query string as inline data, and knows
//! neither `HEADER MATCH` nor `FORCE_QUOTE *`. The session keeps statements
//! as sqlparser ASTs, so the parsed COPY travels as a `Statement::Copy`
//! whose options are all in the new-style list (legacy ones are translated)
//! with two conventions of ours: HEADER MATCH is `HEADER true` plus the
//! legacy `HEADER` keyword in `legacy_options` (otherwise always empty), and
//! `FORCE_QUOTE *` is a force-quote list holding one unquoted `*`
//! (a column can only be called that when quoted). [`CopyOptions::of`]
//! reads them back and checks them as PostgreSQL's `ProcessCopyOptions`
//! does, when the statement runs.
//!
//! # COPY FROM STDIN
//!
//! Starting the statement ([`Session::copy_from_start`]) resolves the table,
//! the columns and the defaults of the columns not listed, and answers
//! `QueryResult::CopyIn`. The protocol layer then feeds CopyData as it
//! arrives: records are cut as soon as they are complete (one may span
//! messages), converted to values with each type's input function, and
//! inserted into the statement's transaction in batches of
//! [`BATCH_ROWS`] rows or [`BATCH_BYTES`] of input, so memory holds one
//! batch and one partial record, never the whole input (the transaction's
//! write set spills to disk past its own budget). The first bad record, a
//! CopyFail, or a protocol error aborts the COPY: outside a block its
//! transaction is dropped, so nothing it inserted remains; inside one the
//! block fails (25P02) like after any error.
//!
//! # COPY TO STDOUT
//!
//! The rows are read (a table, its columns, or a query through
//! `Session::query`), encoded one line each, and returned as
//! `QueryResult::CopyOut`; the protocol layer sends one CopyData per line,
//! as PostgreSQL does. Like every result here it is materialized before it
//! is sent.

pub mod codec;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::sql::dialect::SextantDialect;
use sqlparser::ast::{
    self, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Ident, ObjectName, Statement,
};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{IsOptional, Parser, ParserError};
use sqlparser::tokenizer::Token;

use self::codec::{split_csv, split_text, Fields, Format, InputError, LineSplitter};
use crate::btree::Direction;
use crate::catalog::{ColumnDef, TableDef};
use crate::datum::{DataType, Datum};
use crate::engine::Transaction;
use crate::pgtext::{self, TextContext, TypeError};
use crate::sql::error::{code, SqlError};
use crate::sql::expr::{self, bind, eval, BindCtx, Scope};
use crate::sql::session::{
    check_not_null, column_type, ident, no_table, now_micros, object_name, parse_expr, QueryResult,
    Session,
};

/// Rows converted before they are handed to the transaction together.
pub const BATCH_ROWS: usize = 1024;
/// Input bytes after which a batch is handed over whatever its row count.
pub const BATCH_BYTES: usize = 4 << 20;
/// Longest value printed in a CONTEXT line (PostgreSQL's
/// `MAX_COPY_DATA_DISPLAY`); longer ones are cut and end in `...`.
const CONTEXT_VALUE_BYTES_MAX: usize = 100;

/// Splits a query string into statements, parsing COPY with our grammar,
/// RESET (which sqlparser lacks) with `session::parse_reset`, and
/// everything else with sqlparser's.
pub(super) fn parse_statements(sql: &str) -> Result<Vec<Statement>, SqlError> {
    let syntax = |e: ParserError| super::session::syntax_error(sql, &e.to_string());
    let dialect = SextantDialect;
    let tokens = crate::sql::dialect::tokenize(sql).map_err(|e| syntax(ParserError::from(e)))?;
    let tokens = crate::sql::dialect::rewrite_tokens(sql, tokens).map_err(syntax)?;
    let mut p = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut stmts = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while p.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        if p.peek_token().token == Token::EOF {
            return Ok(stmts);
        }
        if expecting_delimiter {
            if let Some(e) = order_without_by(&mut p, stmts.last()) {
                return Err(syntax(e));
            }
            return Err(syntax(
                p.expected::<()>("end of statement", p.peek_token())
                    .unwrap_err(),
            ));
        }
        let stmt = if p.parse_keyword(Keyword::RESET) {
            super::session::parse_reset(&mut p).map_err(syntax)?
        } else if bare_show(&mut p) {
            // sqlparser reads `SHOW;` as showing a nameless parameter;
            // PostgreSQL's grammar wants a name.
            return Err(syntax(
                p.expected::<()>("a parameter name", p.peek_token())
                    .unwrap_err(),
            ));
        } else if p.parse_keyword(Keyword::COPY) {
            parse_copy(&mut p).map_err(|e| match e.code {
                code::SYNTAX_ERROR if e.message.starts_with("syntax error: ") => {
                    super::session::syntax_error(sql, &e.message["syntax error: ".len()..])
                }
                _ => e,
            })?
        } else if partition_of(&p) {
            return Err(SqlError::unsupported("CREATE TABLE ... PARTITION OF"));
        } else {
            p.parse_statement().map_err(syntax)?
        };
        stmts.push(stmt);
        expecting_delimiter = true;
    }
}

/// The error for `ORDER` without `BY` right after a query (alone or as
/// an INSERT's source) that could still take an ORDER BY: PostgreSQL's
/// grammar accepts the `ORDER` there and fails at the token after it,
/// where sqlparser's ends the query before `ORDER` and fails at it.
fn order_without_by(p: &mut Parser<'_>, last: Option<&Statement>) -> Option<ParserError> {
    let q = match last {
        Some(Statement::Query(q)) => q,
        Some(Statement::Insert(ast::Insert {
            source: Some(q),
            on: None,
            returning: None,
            ..
        })) => q,
        _ => return None,
    };
    let open = q.order_by.is_none()
        && q.limit_clause.is_none()
        && q.fetch.is_none()
        && q.locks.is_empty()
        && q.for_clause.is_none()
        && q.settings.is_none()
        && q.format_clause.is_none()
        && q.pipe_operators.is_empty();
    let [order, by] = p.peek_tokens();
    let is = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    if !open || !is(&order, Keyword::ORDER) || is(&by, Keyword::BY) {
        return None;
    }
    p.next_token();
    p.expected::<()>("BY", p.peek_token()).err()
}

/// Whether the statement `p` is at is `CREATE [TEMP | TEMPORARY |
/// UNLOGGED] TABLE [IF NOT EXISTS] name PARTITION OF`, a partition, which
/// sqlparser cannot parse and Sextant cannot make: it is 0A000, not the
/// syntax error sqlparser would report.
fn partition_of(p: &Parser<'_>) -> bool {
    let tokens: [Token; 12] = p.peek_tokens();
    let mut t = tokens.iter().peekable();
    let is = |t: Option<&Token>, k: Keyword| matches!(t, Some(Token::Word(w)) if w.keyword == k);
    if !is(t.next(), Keyword::CREATE) {
        return false;
    }
    let mut next = t.next();
    if is(next, Keyword::TEMP) || is(next, Keyword::TEMPORARY) || is(next, Keyword::UNLOGGED) {
        next = t.next();
    }
    if !is(next, Keyword::TABLE) {
        return false;
    }
    if is(t.peek().copied(), Keyword::IF) {
        t.nth(2);
    }
    // The name: words joined by periods.
    loop {
        if !matches!(t.next(), Some(Token::Word(_))) {
            return false;
        }
        if t.peek() != Some(&&Token::Period) {
            break;
        }
        t.next();
    }
    is(t.next(), Keyword::PARTITION) && is(t.next(), Keyword::OF)
}

/// Consumes `SHOW` when nothing follows it in its statement.
fn bare_show(p: &mut Parser<'_>) -> bool {
    if !p.parse_keyword(Keyword::SHOW) {
        return false;
    }
    if matches!(p.peek_token().token, Token::SemiColon | Token::EOF) {
        return true;
    }
    p.prev_token();
    false
}

fn syntax(e: ParserError) -> SqlError {
    let msg = e.to_string();
    let msg = msg.strip_prefix("sql parser error: ").unwrap_or(&msg);
    SqlError::new(code::SYNTAX_ERROR, format!("syntax error: {msg}"))
}

fn syntax_msg(msg: impl Into<String>) -> SqlError {
    SqlError::new(code::SYNTAX_ERROR, msg)
}

/// The rest of a COPY statement after the COPY keyword (PostgreSQL's
/// `CopyStmt` production).
fn parse_copy(p: &mut Parser<'_>) -> Result<Statement, SqlError> {
    let mut options: Vec<CopyOption> = Vec::new();
    let mut header_match = false;
    if p.parse_keyword(Keyword::BINARY) {
        options.push(CopyOption::Format(Ident::new("binary")));
    }
    let source = if p.consume_token(&Token::LParen) {
        let q = p.parse_query().map_err(syntax)?;
        p.expect_token(&Token::RParen).map_err(syntax)?;
        CopySource::Query(q)
    } else {
        let table_name = p.parse_object_name(false).map_err(syntax)?;
        let columns = p
            .parse_parenthesized_column_list(IsOptional::Optional, false)
            .map_err(syntax)?;
        CopySource::Table {
            table_name,
            columns,
        }
    };
    let to = match (p.parse_keyword(Keyword::FROM), p.parse_keyword(Keyword::TO)) {
        (true, _) => false,
        (_, true) => true,
        _ => {
            return Err(syntax(
                p.expected::<()>("FROM or TO", p.peek_token()).unwrap_err(),
            ))
        }
    };
    if !to && matches!(source, CopySource::Query(_)) {
        return Err(syntax_msg("syntax error at or near \"FROM\""));
    }
    let target = if p.parse_keyword(Keyword::STDIN) {
        CopyTarget::Stdin
    } else if p.parse_keyword(Keyword::STDOUT) {
        CopyTarget::Stdout
    } else if p.parse_keyword(Keyword::PROGRAM) {
        CopyTarget::Program {
            command: p.parse_literal_string().map_err(syntax)?,
        }
    } else {
        CopyTarget::File {
            filename: p.parse_literal_string().map_err(syntax)?,
        }
    };
    // Pre-7.3 `USING DELIMITERS 'x'`.
    let using = p.parse_keyword(Keyword::USING);
    if parse_word(p, "delimiters") {
        options.push(CopyOption::Delimiter(one_char(p, "delimiter")?));
    } else if using {
        return Err(syntax(
            p.expected::<()>("DELIMITERS", p.peek_token()).unwrap_err(),
        ));
    }
    let with = p.parse_keyword(Keyword::WITH);
    if p.consume_token(&Token::LParen) {
        loop {
            parse_generic_option(p, &mut options, &mut header_match)?;
            if p.consume_token(&Token::RParen) {
                break;
            }
            p.expect_token(&Token::Comma).map_err(syntax)?;
        }
    } else {
        while parse_legacy_option(p, &mut options, &mut header_match)? {}
        if with && options.is_empty() {
            return Err(syntax(
                p.expected::<()>("COPY option", p.peek_token()).unwrap_err(),
            ));
        }
    }
    if p.parse_keyword(Keyword::WHERE) {
        return Err(SqlError::unsupported("COPY FROM ... WHERE"));
    }
    Ok(Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options: if header_match {
            vec![CopyLegacyOption::Header]
        } else {
            Vec::new()
        },
        values: Vec::new(),
    })
}

/// Consumes the next token if it is the word `word` (one sqlparser has no
/// keyword for).
fn parse_word(p: &mut Parser<'_>, word: &str) -> bool {
    match p.peek_token().token {
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) => {
            p.next_token();
            true
        }
        _ => false,
    }
}

/// A string option that must be one character; longer strings cannot be
/// carried in the AST, so they fail here with PostgreSQL's message.
fn one_char(p: &mut Parser<'_>, what: &str) -> Result<char, SqlError> {
    let s = option_string(p)?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(SqlError::new(
            code::FEATURE_NOT_SUPPORTED,
            format!("COPY {what} must be a single one-byte character"),
        )),
    }
}

/// A string or number argument.
fn option_string(p: &mut Parser<'_>) -> Result<String, SqlError> {
    let t = p.next_token();
    match t.token {
        Token::SingleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::UnicodeStringLiteral(s)
        | Token::DollarQuotedString(ast::DollarQuotedString { value: s, .. }) => Ok(s),
        Token::Number(n, _) => Ok(n),
        Token::Word(w) => Ok(w.value),
        _ => Err(syntax(p.expected::<()>("a string", t).unwrap_err())),
    }
}

/// A parenthesized column list or `*` (FORCE_QUOTE); `*` is carried as an
/// unquoted identifier `*`.
fn column_list_or_star(p: &mut Parser<'_>, star: bool) -> Result<Vec<Ident>, SqlError> {
    if star && p.consume_token(&Token::Mul) {
        return Ok(vec![Ident::new("*")]);
    }
    if p.peek_token().token != Token::LParen {
        return Err(SqlError::new(
            code::INVALID_PARAMETER_VALUE,
            "argument to option must be a list of column names",
        ));
    }
    p.parse_parenthesized_column_list(IsOptional::Mandatory, false)
        .map_err(syntax)
}

/// One `name [value]` of `WITH ( ... )`.
fn parse_generic_option(
    p: &mut Parser<'_>,
    options: &mut Vec<CopyOption>,
    header_match: &mut bool,
) -> Result<(), SqlError> {
    let t = p.next_token();
    let Token::Word(w) = t.token else {
        return Err(syntax(p.expected::<()>("COPY option", t).unwrap_err()));
    };
    let name = w.value.to_lowercase();
    let has_arg = !matches!(p.peek_token().token, Token::Comma | Token::RParen);
    let word_arg = |p: &mut Parser<'_>| -> Result<Option<String>, SqlError> {
        if has_arg {
            option_string(p).map(|s| Some(s.to_lowercase()))
        } else {
            Ok(None)
        }
    };
    let boolean = |v: Option<&str>| -> Option<bool> {
        match v {
            None | Some("true" | "on" | "1") => Some(true),
            Some("false" | "off" | "0") => Some(false),
            Some(_) => None,
        }
    };
    options.push(match name.as_str() {
        "format" => match word_arg(p)? {
            Some(f) => CopyOption::Format(Ident::new(f)),
            None => return Err(syntax_msg("format requires a parameter")),
        },
        "freeze" => match boolean(word_arg(p)?.as_deref()) {
            Some(b) => CopyOption::Freeze(b),
            None => return Err(syntax_msg("freeze requires a Boolean value")),
        },
        "header" => match word_arg(p)?.as_deref() {
            Some("match") => {
                *header_match = true;
                CopyOption::Header(true)
            }
            v => match boolean(v) {
                Some(b) => CopyOption::Header(b),
                None => return Err(syntax_msg("header requires a Boolean value or \"match\"")),
            },
        },
        "delimiter" | "quote" | "escape" if !has_arg => {
            return Err(syntax_msg(format!("{name} requires a parameter")))
        }
        "delimiter" => CopyOption::Delimiter(one_char(p, "delimiter")?),
        "quote" => CopyOption::Quote(one_char(p, "quote")?),
        "escape" => CopyOption::Escape(one_char(p, "escape")?),
        "null" if has_arg => CopyOption::Null(option_string(p)?),
        "encoding" if has_arg => CopyOption::Encoding(option_string(p)?),
        "null" | "encoding" => return Err(syntax_msg(format!("{name} requires a parameter"))),
        "force_quote" => CopyOption::ForceQuote(named_list(p, &name, true)?),
        "force_not_null" => CopyOption::ForceNotNull(named_list(p, &name, false)?),
        "force_null" => CopyOption::ForceNull(named_list(p, &name, false)?),
        _ => return Err(syntax_msg(format!("option \"{name}\" not recognized"))),
    });
    Ok(())
}

fn named_list(p: &mut Parser<'_>, name: &str, star: bool) -> Result<Vec<Ident>, SqlError> {
    column_list_or_star(p, star).map_err(|e| match e.code {
        code::INVALID_PARAMETER_VALUE => SqlError::new(
            code::INVALID_PARAMETER_VALUE,
            format!("argument to option \"{name}\" must be a list of column names"),
        ),
        _ => e,
    })
}

/// One pre-9.0 option (`CSV`, `HEADER`, `DELIMITER [AS] 'x'`, …); false
/// when the next token starts none.
fn parse_legacy_option(
    p: &mut Parser<'_>,
    options: &mut Vec<CopyOption>,
    header_match: &mut bool,
) -> Result<bool, SqlError> {
    let _ = header_match;
    let as_kw = |p: &mut Parser<'_>| {
        let _ = p.parse_keyword(Keyword::AS);
    };
    let opt = if p.parse_keyword(Keyword::BINARY) {
        CopyOption::Format(Ident::new("binary"))
    } else if p.parse_keyword(Keyword::CSV) {
        CopyOption::Format(Ident::new("csv"))
    } else if p.parse_keyword(Keyword::HEADER) {
        CopyOption::Header(true)
    } else if p.parse_keyword(Keyword::FREEZE) {
        CopyOption::Freeze(true)
    } else if p.parse_keyword(Keyword::DELIMITER) {
        as_kw(p);
        CopyOption::Delimiter(one_char(p, "delimiter")?)
    } else if p.parse_keyword(Keyword::NULL) {
        as_kw(p);
        CopyOption::Null(option_string(p)?)
    } else if p.parse_keyword(Keyword::QUOTE) {
        as_kw(p);
        CopyOption::Quote(one_char(p, "quote")?)
    } else if p.parse_keyword(Keyword::ESCAPE) {
        as_kw(p);
        CopyOption::Escape(one_char(p, "escape")?)
    } else if p.parse_keyword(Keyword::ENCODING) {
        CopyOption::Encoding(option_string(p)?)
    } else if p.parse_keywords(&[Keyword::FORCE, Keyword::QUOTE]) {
        if p.consume_token(&Token::Mul) {
            CopyOption::ForceQuote(vec![Ident::new("*")])
        } else {
            CopyOption::ForceQuote(
                p.parse_comma_separated(|p| p.parse_identifier())
                    .map_err(syntax)?,
            )
        }
    } else if p.parse_keywords(&[Keyword::FORCE, Keyword::NOT, Keyword::NULL]) {
        CopyOption::ForceNotNull(
            p.parse_comma_separated(|p| p.parse_identifier())
                .map_err(syntax)?,
        )
    } else if p.parse_keywords(&[Keyword::FORCE, Keyword::NULL]) {
        CopyOption::ForceNull(
            p.parse_comma_separated(|p| p.parse_identifier())
                .map_err(syntax)?,
        )
    } else {
        return Ok(false);
    };
    options.push(opt);
    Ok(true)
}

/// HEADER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// No header line.
    No,
    /// A header line: written on output, skipped on input.
    Yes,
    /// On input, the header's names must be the columns' (PostgreSQL 15).
    Match,
}

/// FORCE_QUOTE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForceQuote {
    /// Not given.
    None,
    /// `*`: every column.
    All,
    /// These columns.
    Columns(Vec<String>),
}

/// A COPY's options, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOptions {
    /// Field and line syntax.
    pub format: Format,
    /// Header line.
    pub header: Header,
    /// FORCE_QUOTE (CSV, COPY TO).
    pub force_quote: ForceQuote,
    /// FORCE_NOT_NULL (CSV, COPY FROM).
    pub force_not_null: Vec<String>,
    /// FORCE_NULL (CSV, COPY FROM).
    pub force_null: Vec<String>,
    /// FREEZE.
    pub freeze: bool,
}

impl CopyOptions {
    /// Reads and checks the options of a parsed COPY (see the module docs
    /// for how they are carried), as PostgreSQL's `ProcessCopyOptions`.
    pub fn of(
        options: &[CopyOption],
        legacy: &[CopyLegacyOption],
        from: bool,
    ) -> Result<CopyOptions, SqlError> {
        let conflicting = || syntax_msg("conflicting or redundant options");
        let (mut format, mut freeze, mut delimiter, mut null, mut header) =
            (None, None, None, None, None);
        let (mut quote, mut escape, mut force_quote, mut force_not_null, mut force_null) =
            (None, None, None, None, None);
        let mut encoding = None;
        fn set<T>(
            slot: &mut Option<T>,
            v: T,
            conflict: impl Fn() -> SqlError,
        ) -> Result<(), SqlError> {
            if slot.is_some() {
                return Err(conflict());
            }
            *slot = Some(v);
            Ok(())
        }
        for o in options {
            match o {
                CopyOption::Format(f) => set(&mut format, f.value.to_lowercase(), conflicting)?,
                CopyOption::Freeze(b) => set(&mut freeze, *b, conflicting)?,
                CopyOption::Delimiter(c) => set(&mut delimiter, *c, conflicting)?,
                CopyOption::Null(s) => set(&mut null, s.clone(), conflicting)?,
                CopyOption::Header(b) => set(&mut header, *b, conflicting)?,
                CopyOption::Quote(c) => set(&mut quote, *c, conflicting)?,
                CopyOption::Escape(c) => set(&mut escape, *c, conflicting)?,
                CopyOption::ForceQuote(cols) => {
                    let v = match cols.as_slice() {
                        [one] if one.value == "*" && one.quote_style.is_none() => ForceQuote::All,
                        cols => ForceQuote::Columns(cols.iter().map(ident).collect()),
                    };
                    set(&mut force_quote, v, conflicting)?
                }
                CopyOption::ForceNotNull(cols) => set(
                    &mut force_not_null,
                    cols.iter().map(ident).collect::<Vec<_>>(),
                    conflicting,
                )?,
                CopyOption::ForceNull(cols) => set(
                    &mut force_null,
                    cols.iter().map(ident).collect::<Vec<_>>(),
                    conflicting,
                )?,
                CopyOption::Encoding(e) => set(&mut encoding, e.clone(), conflicting)?,
            }
        }
        let header_match = legacy.contains(&CopyLegacyOption::Header);
        let csv = match format.as_deref() {
            None | Some("text") => false,
            Some("csv") => true,
            Some("binary") => return Err(SqlError::unsupported("COPY in binary format")),
            Some(other) => {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!("COPY format \"{other}\" not recognized"),
                ))
            }
        };
        if let Some(e) = &encoding {
            check_encoding(e)?;
        }
        let mut f = if csv { Format::csv() } else { Format::text() };
        let one_byte = |c: char, what: &str| -> Result<u8, SqlError> {
            u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
                SqlError::new(
                    code::FEATURE_NOT_SUPPORTED,
                    format!("COPY {what} must be a single one-byte character"),
                )
            })
        };
        if let Some(d) = delimiter {
            f.delimiter = one_byte(d, "delimiter")?;
        }
        if let Some(n) = null {
            f.null = n;
        }
        if matches!(f.delimiter, b'\r' | b'\n') {
            return Err(SqlError::new(
                code::INVALID_PARAMETER_VALUE,
                "COPY delimiter cannot be newline or carriage return",
            ));
        }
        if f.null.contains(['\r', '\n']) {
            return Err(SqlError::new(
                code::INVALID_PARAMETER_VALUE,
                "COPY null representation cannot use newline or carriage return",
            ));
        }
        if !csv && b"\\.abcdefghijklmnopqrstuvwxyz0123456789".contains(&f.delimiter) {
            return Err(SqlError::new(
                code::INVALID_PARAMETER_VALUE,
                format!("COPY delimiter cannot be \"{}\"", f.delimiter as char),
            ));
        }
        let only_csv = |what: &str| {
            SqlError::new(
                code::FEATURE_NOT_SUPPORTED,
                format!("COPY {what} available only in CSV mode"),
            )
        };
        match (quote, csv) {
            (Some(_), false) => return Err(only_csv("quote")),
            (Some(q), true) => f.quote = one_byte(q, "quote")?,
            (None, _) => {}
        }
        if csv && f.delimiter == f.quote {
            return Err(SqlError::new(
                code::INVALID_PARAMETER_VALUE,
                "COPY delimiter and quote must be different",
            ));
        }
        match (escape, csv) {
            (Some(_), false) => return Err(only_csv("escape")),
            (Some(e), true) => f.escape = one_byte(e, "escape")?,
            (None, _) => f.escape = f.quote,
        }
        let force_quote = force_quote.unwrap_or(ForceQuote::None);
        if force_quote != ForceQuote::None {
            if !csv {
                return Err(only_csv("force quote"));
            }
            if from {
                return Err(SqlError::new(
                    code::FEATURE_NOT_SUPPORTED,
                    "COPY force quote only available using COPY TO",
                ));
            }
        }
        for (list, what) in [
            (&force_not_null, "force not null"),
            (&force_null, "force null"),
        ] {
            if list.is_some() {
                if !csv {
                    return Err(only_csv(what));
                }
                if !from {
                    return Err(SqlError::new(
                        code::FEATURE_NOT_SUPPORTED,
                        format!("COPY {what} only available using COPY FROM"),
                    ));
                }
            }
        }
        if f.null.as_bytes().contains(&f.delimiter) {
            return Err(SqlError::new(
                code::FEATURE_NOT_SUPPORTED,
                "COPY delimiter must not appear in the NULL specification",
            ));
        }
        if csv && f.null.as_bytes().contains(&f.quote) {
            return Err(SqlError::new(
                code::FEATURE_NOT_SUPPORTED,
                "CSV quote character must not appear in the NULL specification",
            ));
        }
        let header = match (header, header_match) {
            (Some(true), true) if !from => {
                return Err(SqlError::new(
                    code::FEATURE_NOT_SUPPORTED,
                    "cannot use \"match\" with HEADER in COPY TO",
                ))
            }
            (Some(true), true) => Header::Match,
            (Some(true), false) => Header::Yes,
            _ => Header::No,
        };
        Ok(CopyOptions {
            format: f,
            header,
            force_quote,
            force_not_null: force_not_null.unwrap_or_default(),
            force_null: force_null.unwrap_or_default(),
            freeze: freeze.unwrap_or(false),
        })
    }
}

/// Accepts the names of UTF8, refuses other encodings PostgreSQL knows
/// with 0A000 (no transcoding here) and unknown names with 22023.
fn check_encoding(name: &str) -> Result<(), SqlError> {
    // PostgreSQL's `pg_enc2name_tbl` names and aliases, compared as
    // `pg_char_to_encoding` does: lowercase, without punctuation.
    const OTHERS: &[&str] = &[
        "sqlascii",
        "eucjp",
        "euccn",
        "euckr",
        "euctw",
        "eucjis2004",
        "muleinternal",
        "latin1",
        "latin2",
        "latin3",
        "latin4",
        "latin5",
        "latin6",
        "latin7",
        "latin8",
        "latin9",
        "latin10",
        "win1256",
        "win1258",
        "win866",
        "win874",
        "koi8r",
        "win1251",
        "win1252",
        "iso88595",
        "iso88596",
        "iso88597",
        "iso88598",
        "win1250",
        "win1253",
        "win1254",
        "win1255",
        "win1257",
        "koi8u",
        "sjis",
        "big5",
        "gbk",
        "uhc",
        "gb18030",
        "johab",
        "shiftjis2004",
        "alt",
        "win",
        "mskanji",
        "shiftjis",
        "tcvn",
        "tcvn5712",
        "vscii",
        "win932",
        "win936",
        "win949",
        "win950",
        "abc",
        "iso885910",
        "iso885913",
        "iso885914",
        "iso885915",
        "iso885916",
    ];
    let key: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match key.as_str() {
        "utf8" | "unicode" => Ok(()),
        k if OTHERS.contains(&k) => Err(SqlError::unsupported(format!(
            "COPY with ENCODING '{name}' (only UTF8)"
        ))),
        _ => Err(SqlError::new(
            code::INVALID_PARAMETER_VALUE,
            "argument to option \"encoding\" must be a valid encoding name",
        )),
    }
}

/// The rest of a simple query that stopped at a COPY FROM STDIN.
pub(crate) struct PendingQuery {
    pub(crate) stmts: VecDeque<Statement>,
    /// The statements share an implicit transaction.
    pub(crate) implicit: bool,
}

/// How a column not in the COPY's list gets its value.
enum Fill {
    Constant(Datum),
    Default(expr::Expr, DataType),
}

/// A COPY FROM STDIN in progress.
pub(crate) struct CopyIn {
    /// The COPY began the transaction (outside a block) and commits it.
    own_tx: bool,
    table: Arc<TableDef>,
    /// Table column of each input field.
    targets: Vec<usize>,
    types: Vec<DataType>,
    force_not_null: Vec<bool>,
    force_null: Vec<bool>,
    /// For every table column not in `targets`, its value.
    fills: Vec<(usize, Fill)>,
    options: CopyOptions,
    lines: LineSplitter,
    fields: Fields,
    /// Line number of the last record read, as PostgreSQL counts.
    line_no: u64,
    header_pending: bool,
    batch: Vec<Vec<Datum>>,
    batch_lines: Vec<u64>,
    batch_bytes: usize,
    rows: u64,
    text: TextContext,
    now: i64,
}

impl Session {
    /// Starts COPY FROM STDIN: the table, columns and options are checked,
    /// and the transaction (the block's, or a new one) is kept for the data.
    pub(super) fn copy_from_start(
        &mut self,
        stmt: &Statement,
        params: &[Datum],
    ) -> Result<QueryResult, SqlError> {
        let _ = params;
        let own_tx = self.tx.is_none();
        let tx = match self.tx.take() {
            Some(tx) => tx,
            None => self.db.begin(),
        };
        match self.copy_in_setup(&tx, stmt, own_tx) {
            Ok(copy) => {
                let columns = copy.targets.len();
                self.tx = Some(tx);
                self.copy_in = Some(copy);
                Ok(QueryResult::CopyIn { columns })
            }
            Err(e) => {
                if !own_tx {
                    self.tx = Some(tx);
                }
                Err(e)
            }
        }
    }

    fn copy_in_setup(
        &self,
        tx: &Transaction,
        stmt: &Statement,
        own_tx: bool,
    ) -> Result<CopyIn, SqlError> {
        let Statement::Copy {
            source:
                CopySource::Table {
                    table_name,
                    columns,
                },
            to: false,
            target,
            options,
            legacy_options,
            ..
        } = stmt
        else {
            unreachable!("dispatched on COPY FROM");
        };
        check_target(target)?;
        let options = CopyOptions::of(options, legacy_options, true)?;
        let def = table_of(tx, table_name)?;
        let read_only = if own_tx {
            self.default_read_only()
        } else {
            self.read_only_block
        };
        if tx.is_read_only() || read_only {
            return Err(SqlError::new(
                code::READ_ONLY_SQL_TRANSACTION,
                "cannot execute COPY FROM in a read-only transaction",
            ));
        }
        let targets = column_positions(&def, columns)?;
        let flags = |names: &[String], what: &str| -> Result<Vec<bool>, SqlError> {
            let mut flags = vec![false; targets.len()];
            for n in names {
                let pos = column_position(&def, n)?;
                let i = targets.iter().position(|t| *t == pos).ok_or_else(|| {
                    SqlError::new(
                        code::INVALID_COLUMN_REFERENCE,
                        format!("{what} column \"{n}\" not referenced by COPY"),
                    )
                })?;
                flags[i] = true;
            }
            Ok(flags)
        };
        let force_not_null = flags(&options.force_not_null, "FORCE_NOT_NULL")?;
        let force_null = flags(&options.force_null, "FORCE_NULL")?;
        let text = self.text_ctx();
        let now = now_micros();
        let mut fills = Vec::new();
        for (i, c) in def.columns.iter().enumerate() {
            if !targets.contains(&i) {
                fills.push((i, self.fill_of(c, &text, now)?));
            }
        }
        let types = targets
            .iter()
            .map(|t| column_type(&def.columns[*t]))
            .collect();
        let header_pending = options.header != Header::No;
        Ok(CopyIn {
            own_tx,
            lines: LineSplitter::new(&options.format),
            fields: Fields::default(),
            types,
            force_not_null,
            force_null,
            fills,
            header_pending,
            options,
            table: def,
            targets,
            line_no: 0,
            batch: Vec::with_capacity(BATCH_ROWS),
            batch_lines: Vec::with_capacity(BATCH_ROWS),
            batch_bytes: 0,
            rows: 0,
            text,
            now,
        })
    }

    /// The value of a column the COPY does not list: its default, computed
    /// once unless it calls a function that may differ per row.
    fn fill_of(&self, c: &ColumnDef, text: &TextContext, now: i64) -> Result<Fill, SqlError> {
        let Some(sql) = &c.default else {
            return Ok(Fill::Constant(Datum::Null));
        };
        let ty = column_type(c);
        let e = parse_expr(sql)?;
        let mut params = Vec::new();
        let b = bind(&e, &Scope::default(), &mut BindCtx::new(&mut params))?.coerce_to(ty);
        if is_constant(&b) {
            let ectx = self.eval_ctx(&[], text, now);
            Ok(Fill::Constant(expr::assign(
                eval(&b, &[], &ectx)?,
                ty,
                &ectx,
            )?))
        } else {
            Ok(Fill::Default(b, ty))
        }
    }

    /// Feeds COPY FROM STDIN data (a CopyData message). An error ends the
    /// COPY (see the module docs); without a COPY in progress the data is
    /// ignored, as PostgreSQL ignores stray CopyData.
    pub fn copy_in_data(&mut self, data: &[u8]) -> Result<(), SqlError> {
        let Some(mut copy) = self.copy_in.take() else {
            return Ok(());
        };
        let mut tx = self.tx.take().expect("COPY runs in a transaction");
        let r = copy.feed(self, &mut tx, data, false);
        self.tx = Some(tx);
        match r {
            Ok(()) => {
                self.copy_in = Some(copy);
                Ok(())
            }
            Err(e) => Err(self.copy_end_failed(copy, e)),
        }
    }

    /// Ends COPY FROM STDIN (CopyDone): the last record and batch are
    /// stored, and a COPY outside a block commits. Returns `COPY n`.
    pub async fn copy_in_done(&mut self) -> Result<QueryResult, SqlError> {
        let Some(mut copy) = self.copy_in.take() else {
            return Err(SqlError::new(
                code::PROTOCOL_VIOLATION,
                "CopyDone without a COPY in progress",
            ));
        };
        let mut tx = self.tx.take().expect("COPY runs in a transaction");
        let r = copy.feed(self, &mut tx, &[], true);
        self.tx = Some(tx);
        if let Err(e) = r {
            return Err(self.copy_end_failed(copy, e));
        }
        let tag = format!("COPY {}", copy.rows);
        if copy.own_tx {
            let tx = self.tx.take().expect("kept above");
            if let Err(e) = tx.commit().await {
                // As after any error, the rest of a simple query is dropped.
                self.pending = None;
                return Err(SqlError::from_engine(e));
            }
        }
        Ok(QueryResult::Command { tag })
    }

    /// Ends COPY FROM STDIN because the client sent CopyFail.
    pub fn copy_in_fail(&mut self, message: &str) -> SqlError {
        self.copy_in_abort(SqlError::new(
            code::QUERY_CANCELED,
            format!("COPY from stdin failed: {message}"),
        ))
    }

    /// Ends COPY FROM STDIN with `error` (a protocol error, say), as if a
    /// record had failed; returns the error with its CONTEXT.
    pub fn copy_in_abort(&mut self, error: SqlError) -> SqlError {
        match self.copy_in.take() {
            Some(copy) => {
                let error = error.with_context(copy.context_next_line());
                self.copy_end_failed(copy, error)
            }
            None => error,
        }
    }

    /// True while a COPY FROM STDIN waits for data.
    pub fn copy_in_active(&self) -> bool {
        self.copy_in.is_some()
    }

    /// Runs the rest of a simple query that stopped at COPY FROM STDIN,
    /// once the COPY has ended; nothing if it failed (PostgreSQL discards
    /// the rest of the string) or there was no rest.
    pub async fn simple_query_resume(&mut self) -> Vec<Result<QueryResult, SqlError>> {
        match self.pending.take() {
            Some(p) => self.run_statements(p.stmts).await,
            None => Vec::new(),
        }
    }

    /// Drops a failed COPY and what depends on it: its own transaction, or
    /// the implicit one of its simple query, or the block fails.
    fn copy_end_failed(&mut self, copy: CopyIn, e: SqlError) -> SqlError {
        match self.pending.take() {
            Some(p) if p.implicit => {
                self.tx = None;
                self.failed = false;
                self.implicit_block = false;
            }
            _ if copy.own_tx => self.tx = None,
            _ => self.fail_block(),
        }
        e
    }

    /// COPY ... TO STDOUT.
    pub(super) fn copy_to(
        &self,
        tx: &mut Transaction,
        stmt: &Statement,
        params: &[Datum],
    ) -> Result<QueryResult, SqlError> {
        let Statement::Copy {
            source,
            to: true,
            target,
            options,
            legacy_options,
            ..
        } = stmt
        else {
            return Err(SqlError::unsupported("COPY FROM here"));
        };
        check_target(target)?;
        let options = CopyOptions::of(options, legacy_options, false)?;
        let (names, rows): (Vec<String>, Vec<Vec<Option<String>>>) = match source {
            CopySource::Table {
                table_name,
                columns,
            } => {
                let def = table_of(tx, table_name)?;
                let cols = column_positions(&def, columns)?;
                let text = self.text_ctx();
                let stored = tx.scan(
                    def.id,
                    std::ops::Bound::Unbounded,
                    std::ops::Bound::Unbounded,
                    Direction::Forward,
                )?;
                let mut rows = Vec::with_capacity(stored.len());
                for (i, (_, r)) in stored.into_iter().enumerate() {
                    if i % 1024 == 0 {
                        self.check_cancel()?;
                    }
                    rows.push(
                        cols.iter()
                            .map(|c| (!r[*c].is_null()).then(|| pgtext::format(&r[*c], &text)))
                            .collect(),
                    );
                }
                let names = cols.iter().map(|c| def.columns[*c].name.clone()).collect();
                (names, rows)
            }
            CopySource::Query(q) => match self.query(tx, q, params, 0, "in COPY")? {
                QueryResult::Rows { columns, rows, .. } => {
                    (columns.into_iter().map(|c| c.name).collect(), rows)
                }
                other => unreachable!("a query returns rows, not {other:?}"),
            },
        };
        let quoted: Vec<bool> = match &options.force_quote {
            ForceQuote::None => vec![false; names.len()],
            ForceQuote::All => vec![true; names.len()],
            ForceQuote::Columns(cols) => {
                let mut flags = vec![false; names.len()];
                for c in cols {
                    let i = names
                        .iter()
                        .position(|n| n == c)
                        .ok_or_else(|| match source {
                            CopySource::Table { table_name, .. } => {
                                match tx
                                    .catalog()
                                    .table_by_name(&object_name(table_name))
                                    .and_then(|t| t.column(c))
                                {
                                    Some(_) => SqlError::new(
                                        code::INVALID_COLUMN_REFERENCE,
                                        format!(
                                            "FORCE_QUOTE column \"{c}\" not referenced by COPY"
                                        ),
                                    ),
                                    None => no_column(&object_name(table_name), c),
                                }
                            }
                            CopySource::Query(_) => SqlError::new(
                                code::UNDEFINED_COLUMN,
                                format!("column \"{c}\" does not exist"),
                            ),
                        })?;
                    flags[i] = true;
                }
                flags
            }
        };
        let f = &options.format;
        let single = names.len() == 1;
        let mut out = Vec::with_capacity(rows.len() + 1);
        if options.header == Header::Yes {
            let mut line = Vec::new();
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    line.push(f.delimiter);
                }
                if f.csv {
                    codec::write_csv(&mut line, n, f, false, single);
                } else {
                    codec::write_text(&mut line, n, f.delimiter);
                }
            }
            line.push(b'\n');
            out.push(line);
        }
        let n = rows.len();
        for row in rows {
            let mut line = Vec::with_capacity(
                row.iter()
                    .map(|v| v.as_ref().map_or(2, String::len) + 1)
                    .sum(),
            );
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    line.push(f.delimiter);
                }
                match v {
                    None => line.extend_from_slice(f.null.as_bytes()),
                    Some(v) if f.csv => codec::write_csv(&mut line, v, f, quoted[i], single),
                    Some(v) => codec::write_text(&mut line, v, f.delimiter),
                }
            }
            line.push(b'\n');
            out.push(line);
        }
        Ok(QueryResult::CopyOut {
            columns: names.len(),
            rows: out,
            tag: format!("COPY {n}"),
        })
    }
}

impl CopyIn {
    /// Consumes `data` (and, at `eof`, whatever record is left), storing
    /// complete batches in `tx`.
    fn feed(
        &mut self,
        session: &Session,
        tx: &mut Transaction,
        data: &[u8],
        eof: bool,
    ) -> Result<(), SqlError> {
        self.lines.push(data);
        self.batch_bytes += data.len();
        loop {
            let line = match self.lines.next_line(eof) {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => {
                    self.line_no += 1;
                    return Err(input_error(&e).with_context(self.context_line()));
                }
            };
            self.line_no += 1 + line.embedded_lines;
            let bytes = self.lines.bytes(&line);
            let row = Self::record(
                &self.table,
                &self.targets,
                &self.types,
                &self.force_not_null,
                &self.force_null,
                &self.fills,
                &self.options,
                &mut self.fields,
                &mut self.header_pending,
                &self.text,
                session.eval_ctx(&[], &self.text, self.now),
                bytes,
            )
            .map_err(|e| e.with_context_of(&self.table.name, self.line_no, bytes))?;
            if let Some(row) = row {
                self.batch.push(row);
                self.batch_lines.push(self.line_no);
            }
            if self.batch.len() >= BATCH_ROWS || self.batch_bytes >= BATCH_BYTES {
                session
                    .check_cancel()
                    .map_err(|e| e.with_context(self.context_line()))?;
                self.flush(tx)?;
            }
        }
        if eof {
            self.flush(tx)?;
        }
        Ok(())
    }

    /// Inserts the batch.
    fn flush(&mut self, tx: &mut Transaction) -> Result<(), SqlError> {
        self.batch_bytes = 0;
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_ROWS));
        let n = rows.len() as u64;
        if let Err((i, e)) = tx.insert_batch(self.table.id, rows) {
            let line = self.batch_lines[i];
            return Err(SqlError::from_engine(e)
                .with_context(format!("COPY {}, line {line}", self.table.name)));
        }
        self.batch_lines.clear();
        self.rows += n;
        Ok(())
    }

    /// CONTEXT naming the current line.
    fn context_line(&self) -> String {
        format!("COPY {}, line {}", self.table.name, self.line_no)
    }

    /// CONTEXT for an end that comes with the next message (CopyFail, a
    /// protocol error): PostgreSQL is reading the next line by then.
    fn context_next_line(&self) -> String {
        format!("COPY {}, line {}", self.table.name, self.line_no + 1)
    }

    /// One record as a row of the table, or `None` for the header.
    #[allow(clippy::too_many_arguments)]
    fn record(
        table: &TableDef,
        targets: &[usize],
        types: &[DataType],
        force_not_null: &[bool],
        force_null: &[bool],
        fills: &[(usize, Fill)],
        options: &CopyOptions,
        fields: &mut Fields,
        header_pending: &mut bool,
        text: &TextContext,
        ectx: expr::EvalCtx<'_>,
        line: &[u8],
    ) -> Result<Option<Vec<Datum>>, RecordError> {
        codec::check_utf8(line).map_err(RecordError::Line)?;
        let f = &options.format;
        if f.csv {
            split_csv(line, f, fields)
        } else {
            split_text(line, f, fields)
        }
        .map_err(RecordError::Fields)?;
        // The line was checked above and byte escapes by `split_text`;
        // checking again costs little and keeps network input from panics.
        let field = |i: usize| -> Result<Option<&str>, RecordError> {
            fields
                .get(i)
                .map(|b| codec::check_utf8(b).map_err(RecordError::Fields))
                .transpose()
        };
        if std::mem::take(header_pending) {
            if options.header == Header::Match {
                if fields.len() != targets.len() {
                    return Err(RecordError::sql(SqlError::new(
                        code::BAD_COPY_FILE_FORMAT,
                        format!(
                            "wrong number of fields in header line: got {}, expected {}",
                            fields.len(),
                            targets.len()
                        ),
                    )));
                }
                for (i, t) in targets.iter().enumerate() {
                    let want = &table.columns[*t].name;
                    let message = match field(i)? {
                        None => format!(
                            "column name mismatch in header line field {}: got null value (\"{}\"), expected \"{want}\"",
                            i + 1,
                            f.null
                        ),
                        Some(got) if got != want => format!(
                            "column name mismatch in header line field {}: got \"{got}\", expected \"{want}\"",
                            i + 1
                        ),
                        Some(_) => continue,
                    };
                    return Err(RecordError::sql(SqlError::new(
                        code::BAD_COPY_FILE_FORMAT,
                        message,
                    )));
                }
            }
            return Ok(None);
        }
        if !targets.is_empty() && fields.len() > targets.len() {
            return Err(RecordError::sql(SqlError::new(
                code::BAD_COPY_FILE_FORMAT,
                "extra data after last expected column",
            )));
        }
        let mut row = vec![Datum::Null; table.columns.len()];
        for (i, t) in targets.iter().enumerate() {
            let name = &table.columns[*t].name;
            if i >= fields.len() {
                return Err(RecordError::sql(SqlError::new(
                    code::BAD_COPY_FILE_FORMAT,
                    format!("missing data for column \"{name}\""),
                )));
            }
            let mut value = field(i)?;
            if f.csv {
                if value.is_none() && force_not_null[i] {
                    value = Some(&f.null);
                } else if value.is_some_and(|v| force_null[i] && v == f.null) {
                    value = None;
                }
            }
            if let Some(v) = value {
                let parsed =
                    pgtext::parse(&types[i], v, text).map_err(|e| RecordError::Column {
                        error: Box::new(type_error(e)),
                        column: name.clone(),
                        value: v.to_owned(),
                    })?;
                row[*t] =
                    crate::sql::session::apply_typmod(parsed, &table.columns[*t]).map_err(|e| {
                        RecordError::Column {
                            error: Box::new(e),
                            column: name.clone(),
                            value: v.to_owned(),
                        }
                    })?;
            }
        }
        for (c, fill) in fills {
            row[*c] = match fill {
                Fill::Constant(d) => d.clone(),
                Fill::Default(e, ty) => {
                    expr::assign(eval(e, &[], &ectx).map_err(RecordError::sql)?, *ty, &ectx)
                        .map_err(RecordError::sql)?
                }
            };
        }
        check_not_null(table, &row, ectx.text).map_err(RecordError::sql)?;
        Ok(Some(row))
    }
}

/// Why a record failed, with what its CONTEXT line needs.
enum RecordError {
    /// The record's bytes (22021).
    Line(InputError),
    /// Cutting it into fields.
    Fields(InputError),
    /// A value that its type's input function refused.
    Column {
        error: Box<SqlError>,
        column: String,
        value: String,
    },
    /// Anything else about the record.
    Sql(Box<SqlError>),
}

impl RecordError {
    fn sql(e: SqlError) -> RecordError {
        RecordError::Sql(Box::new(e))
    }

    /// The error with PostgreSQL's CONTEXT: the column and value for a bad
    /// value, the line's text for a bad record, the line number for bytes
    /// that are not UTF-8.
    fn with_context_of(self, table: &str, line_no: u64, line: &[u8]) -> SqlError {
        let shown = |b: &[u8]| clip(&String::from_utf8_lossy(b));
        match self {
            RecordError::Line(e) => {
                input_error(&e).with_context(format!("COPY {table}, line {line_no}"))
            }
            RecordError::Fields(e) => input_error(&e)
                .with_context(format!("COPY {table}, line {line_no}: \"{}\"", shown(line))),
            RecordError::Column {
                error,
                column,
                value,
            } => (*error).with_context(format!(
                "COPY {table}, line {line_no}, column {column}: \"{}\"",
                clip(&value)
            )),
            RecordError::Sql(e) => {
                (*e).with_context(format!("COPY {table}, line {line_no}: \"{}\"", shown(line)))
            }
        }
    }
}

/// Cuts a value for a CONTEXT line as PostgreSQL's `limit_printout_length`.
fn clip(s: &str) -> String {
    if s.len() <= CONTEXT_VALUE_BYTES_MAX {
        return s.to_owned();
    }
    let mut end = CONTEXT_VALUE_BYTES_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn input_error(e: &InputError) -> SqlError {
    let s = SqlError::new(e.sqlstate(), e.to_string());
    match e.hint() {
        Some(h) => s.with_hint(h),
        None => s,
    }
}

fn type_error(e: TypeError) -> SqlError {
    let mut s = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(d) = e.detail() {
        s = s.with_detail(d.to_string());
    }
    if let Some(h) = e.hint() {
        s = s.with_hint(h);
    }
    s
}

/// True for an expression without calls, columns or parameters: its value
/// is the same for every row.
fn is_constant(e: &expr::Expr) -> bool {
    use expr::Expr as E;
    match e {
        E::Literal(..) => true,
        E::Coerce(x, _) | E::Cast(x, _) | E::Not(x) | E::Neg(x) | E::IsNull(x, _) => is_constant(x),
        E::Binary(_, a, b, _) => is_constant(a) && is_constant(b),
        _ => false,
    }
}

fn check_target(target: &CopyTarget) -> Result<(), SqlError> {
    match target {
        CopyTarget::Stdin | CopyTarget::Stdout => Ok(()),
        CopyTarget::File { .. } | CopyTarget::Program { .. } => Err(SqlError::unsupported(
            "COPY to or from a server file or program",
        )
        .with_hint("Use COPY ... FROM STDIN or TO STDOUT, or psql's \\copy.")),
    }
}

fn table_of(tx: &Transaction, name: &ObjectName) -> Result<Arc<TableDef>, SqlError> {
    let n = object_name(name);
    tx.catalog()
        .table_by_name(&n)
        .cloned()
        .ok_or_else(|| no_table(&n))
}

fn no_column(table: &str, column: &str) -> SqlError {
    SqlError::new(
        code::UNDEFINED_COLUMN,
        format!("column \"{column}\" of relation \"{table}\" does not exist"),
    )
}

fn column_position(def: &TableDef, name: &str) -> Result<usize, SqlError> {
    def.column(name).ok_or_else(|| no_column(&def.name, name))
}

/// The columns a COPY names, all of them when it names none
/// (PostgreSQL's `CopyGetAttnums`).
fn column_positions(def: &TableDef, columns: &[Ident]) -> Result<Vec<usize>, SqlError> {
    if columns.is_empty() {
        return Ok((0..def.columns.len()).collect());
    }
    let mut out: Vec<usize> = Vec::with_capacity(columns.len());
    for c in columns {
        let name = ident(c);
        let pos = column_position(def, &name)?;
        if out.contains(&pos) {
            return Err(SqlError::new(
                code::DUPLICATE_COLUMN,
                format!("column \"{name}\" specified more than once"),
            ));
        }
        out.push(pos);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(sql: &str) -> Result<CopyOptions, SqlError> {
        let stmts = parse_statements(sql)?;
        let [Statement::Copy {
            options,
            legacy_options,
            to,
            ..
        }] = stmts.as_slice()
        else {
            panic!("{sql}: not one COPY");
        };
        CopyOptions::of(options, legacy_options, !*to)
    }

    fn err(sql: &str) -> (String, String) {
        let e = opts(sql).unwrap_err();
        (e.code.to_string(), e.message)
    }

    #[test]
    fn order_without_by_fails_where_postgresql_does() {
        let at = |sql: &str| parse_statements(sql).unwrap_err().message;
        assert_eq!(
            at("SELECT * FROM t ORDER id"),
            "syntax error at or near \"id\""
        );
        assert_eq!(at("SELECT 1 ORDER"), "syntax error at end of input");
        // After LIMIT no ORDER BY can follow, so ORDER itself is the error.
        assert_eq!(
            at("SELECT 1 LIMIT 1 ORDER id"),
            "syntax error at or near \"ORDER\""
        );
        assert_eq!(
            at("INSERT INTO t VALUES (1) ORDER id"),
            "syntax error at or near \"id\""
        );
        assert_eq!(at("VALUES (1) ORDER id"), "syntax error at or near \"id\"");
        assert_eq!(
            at("SELECT 1 UNION SELECT 2 ORDER id"),
            "syntax error at or near \"id\""
        );
        assert_eq!(
            at("INSERT INTO t VALUES (1) RETURNING a ORDER id"),
            "syntax error at or near \"ORDER\""
        );
        assert_eq!(parse_statements("SELECT 1 ORDER BY 1").unwrap().len(), 1);
    }

    #[test]
    fn copy_statements_end_at_their_semicolon() {
        let stmts = parse_statements("COPY t FROM STDIN; SELECT 1").unwrap();
        assert_eq!(stmts.len(), 2);
        assert!(matches!(stmts[1], Statement::Query(_)));
        assert_eq!(parse_statements("copy t from stdin").unwrap().len(), 1);
        assert_eq!(
            parse_statements("COPY t FROM STDIN SELECT")
                .unwrap_err()
                .code,
            "42601"
        );
        let stmts = parse_statements("COPY (SELECT a FROM t) TO STDOUT WITH CSV").unwrap();
        assert!(matches!(
            &stmts[0],
            Statement::Copy {
                source: CopySource::Query(_),
                to: true,
                ..
            }
        ));
    }

    #[test]
    fn new_and_legacy_options_mean_the_same() {
        let new = opts("COPY t FROM STDIN (FORMAT csv, HEADER, DELIMITER ';', NULL 'x', QUOTE '''', ESCAPE '\\', FORCE_NOT_NULL (a))").unwrap();
        let old = opts("COPY t FROM STDIN WITH CSV HEADER DELIMITER AS ';' NULL AS 'x' QUOTE AS '''' ESCAPE AS '\\' FORCE NOT NULL a").unwrap();
        assert_eq!(new, old);
        assert_eq!(new.format.delimiter, b';');
        assert_eq!(new.format.quote, b'\'');
        assert_eq!(new.format.escape, b'\\');
        assert_eq!(new.header, Header::Yes);
        assert_eq!(new.force_not_null, vec!["a".to_owned()]);
        let psql = opts("COPY  t FROM STDIN csv header").unwrap();
        assert!(psql.format.csv);
        assert_eq!(psql.header, Header::Yes);
        assert_eq!(
            opts("COPY t FROM STDIN (HEADER MATCH)").unwrap().header,
            Header::Match
        );
        assert_eq!(
            opts("COPY t FROM STDIN (HEADER false)").unwrap().header,
            Header::No
        );
        assert_eq!(
            opts("COPY t TO STDOUT (FORMAT csv, FORCE_QUOTE *)")
                .unwrap()
                .force_quote,
            ForceQuote::All
        );
        assert_eq!(
            opts("COPY t TO STDOUT CSV FORCE QUOTE a, \"B\"")
                .unwrap()
                .force_quote,
            ForceQuote::Columns(vec!["a".into(), "B".into()])
        );
        let text = opts("COPY t FROM STDIN").unwrap();
        assert_eq!(text.format, Format::text());
        assert_eq!(
            opts("COPY t FROM STDIN (ENCODING 'utf-8')").unwrap().format,
            Format::text()
        );
    }

    #[test]
    fn bad_options_fail_as_in_postgres() {
        let cases = [
            (
                "COPY t FROM STDIN (FORMAT xml)",
                "22023",
                "COPY format \"xml\" not recognized",
            ),
            (
                "COPY t FROM STDIN (DELIMITER 'ab')",
                "0A000",
                "COPY delimiter must be a single one-byte character",
            ),
            (
                "COPY t FROM STDIN (DELIMITER 'é')",
                "0A000",
                "COPY delimiter must be a single one-byte character",
            ),
            (
                "COPY t FROM STDIN (DELIMITER E'\\n')",
                "22023",
                "COPY delimiter cannot be newline or carriage return",
            ),
            (
                "COPY t FROM STDIN (DELIMITER 'a')",
                "22023",
                "COPY delimiter cannot be \"a\"",
            ),
            (
                "COPY t FROM STDIN (DELIMITER 1)",
                "22023",
                "COPY delimiter cannot be \"1\"",
            ),
            (
                "COPY t FROM STDIN (NULL E'\\r')",
                "22023",
                "COPY null representation cannot use newline or carriage return",
            ),
            (
                "COPY t FROM STDIN (QUOTE '\"')",
                "0A000",
                "COPY quote available only in CSV mode",
            ),
            (
                "COPY t FROM STDIN (FORMAT csv, DELIMITER ',', QUOTE ',')",
                "22023",
                "COPY delimiter and quote must be different",
            ),
            (
                "COPY t FROM STDIN (FORMAT csv, NULL 'a\"b')",
                "0A000",
                "CSV quote character must not appear in the NULL specification",
            ),
            (
                "COPY t FROM STDIN (DELIMITER ',', NULL 'a,b')",
                "0A000",
                "COPY delimiter must not appear in the NULL specification",
            ),
            (
                "COPY t FROM STDIN (FORMAT csv, FORCE_QUOTE (a))",
                "0A000",
                "COPY force quote only available using COPY TO",
            ),
            (
                "COPY t TO STDOUT (FORCE_QUOTE (a))",
                "0A000",
                "COPY force quote available only in CSV mode",
            ),
            (
                "COPY t TO STDOUT (FORMAT csv, FORCE_NOT_NULL (a))",
                "0A000",
                "COPY force not null only available using COPY FROM",
            ),
            (
                "COPY t FROM STDIN (FORMAT csv, FORCE_NULL (a), FORCE_NULL (b))",
                "42601",
                "conflicting or redundant options",
            ),
            (
                "COPY t TO STDOUT (HEADER MATCH)",
                "0A000",
                "cannot use \"match\" with HEADER in COPY TO",
            ),
            (
                "COPY t FROM STDIN (HEADER 2)",
                "42601",
                "header requires a Boolean value or \"match\"",
            ),
            (
                "COPY t FROM STDIN (ESCAPE 'x')",
                "0A000",
                "COPY escape available only in CSV mode",
            ),
            (
                "COPY t FROM STDIN (ENCODING 'latin9x')",
                "22023",
                "argument to option \"encoding\" must be a valid encoding name",
            ),
            (
                "COPY t FROM STDIN (FORMAT)",
                "42601",
                "format requires a parameter",
            ),
            (
                "COPY t FROM STDIN (BOGUS 1)",
                "42601",
                "option \"bogus\" not recognized",
            ),
            (
                "COPY t FROM STDIN (FREEZE 3)",
                "42601",
                "freeze requires a Boolean value",
            ),
            (
                "COPY t FROM STDIN (FORMAT csv, FORCE_NOT_NULL *)",
                "22023",
                "argument to option \"force_not_null\" must be a list of column names",
            ),
        ];
        for (sql, code, message) in cases {
            assert_eq!(err(sql), (code.to_owned(), message.to_owned()), "{sql}");
        }
    }
}
