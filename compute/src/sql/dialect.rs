//! The sqlparser dialect every SQL text here is parsed with: sqlparser's
//! PostgreSQL dialect plus the pieces of PostgreSQL's grammar that
//! sqlparser lacks and that its dialect hooks let us add without a fork.
//!
//! [`SextantDialect`] reports itself as [`PostgreSqlDialect`] (sqlparser
//! gates much PostgreSQL syntax on the dialect's type) and forwards every
//! hook that dialect overrides, so it parses everything sqlparser's
//! PostgreSQL dialect parses, the same way; the tests check that on
//! statements of every kind.
//!
//! Added grammar:
//! * `a [NOT] BETWEEN SYMMETRIC x AND y` (and the explicit default,
//!   `ASYMMETRIC`). sqlparser's AST has no symmetric flag, so it is built
//!   as the expression PostgreSQL's parse analysis
//!   (`transformAExprBetween`) makes of it: `a BETWEEN x AND y OR a BETWEEN
//!   y AND x`, and `a NOT BETWEEN x AND y AND a NOT BETWEEN y AND x` for the
//!   negation, evaluating `a` twice as PostgreSQL does. Both words are
//!   reserved in PostgreSQL, so neither can be a column name there.
//!
//! Syntax errors where PostgreSQL's grammar fails earlier than sqlparser's
//! (the error names the token PostgreSQL names):
//! * `[NOT] BETWEEN AND`: sqlparser reads the `AND` as a column name.
//! * `DELETE` without `FROM`: sqlparser takes MySQL's `DELETE t FROM …`.
//!
//! `FOR` is reserved in PostgreSQL and so never a column alias without
//! `AS`: `SELECT 1 FOR UPDATE` locks, where sqlparser read `FOR` as the
//! alias of `1`.
//!
//! Statements are parsed from tokens that [`rewrite_tokens`] has rewritten
//! first, for grammar sqlparser's AST cannot hold as it is:
//! * `FOR UPDATE | SHARE OF a, b`: sqlparser reads one name after `OF`;
//!   the tokens become one clause per name (`FOR UPDATE OF a FOR UPDATE OF
//!   b`), which PostgreSQL treats the same.
//! * `FOR NO KEY UPDATE` and `FOR KEY SHARE`: sqlparser knows only `UPDATE`
//!   and `SHARE`. They become `FOR UPDATE` and `FOR SHARE` with a marker
//!   name first in `OF` (`FOR UPDATE OF "\0FOR NO KEY UPDATE".a`, or the
//!   marker alone without `OF`); [`lock_clause`] reads a clause back as
//!   its strength and its real `OF` name. The marker cannot be written in
//!   SQL (no identifier holds a NUL).
//! * `ON CONFLICT ((expr), lower(c), d)`: sqlparser reads only column names
//!   there. Each expression element becomes one unquoted word whose value
//!   is the element's source text and whose span is the element's; an
//!   unquoted identifier never holds a parenthesis, so
//!   [`conflict_target_expr`] tells them apart and parses the text again
//!   with the positions it had in the statement. Syntax errors inside an
//!   element are found by the rewrite, at their place.
//! * `ON CONFLICT (a) WHERE predicate DO …`: sqlparser has no place for
//!   the target's index predicate. It becomes one more element of the
//!   target, last, a word whose value is [`PREDICATE_MARKER`] and the
//!   predicate's source text and whose span is the predicate's;
//!   [`conflict_target_predicate`] takes it off the target and parses it.
//! * Operators ending in `+` or `-` (`->>-`, `>=-`): sqlparser reads the
//!   longest run of operator characters; [`split_operator_tails`] ends
//!   them where PostgreSQL's lexer does.
//!
//! Statement texts are tokenized by [`tokenize`], which reads `<-` before
//! anything but an operator character as `<` and `-`, as PostgreSQL does
//! (`1<-1` is `1 < -1`); sqlparser's tokenizer takes `<-` for the start of
//! a geometric operator there and fails.

use std::any::TypeId;

use sqlparser::ast::{BinaryOperator, Expr, Ident, LockClause, LockType, ObjectName, Statement};
use sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{
    Location, Span, Token, TokenWithSpan, Tokenizer, TokenizerError, Whitespace, Word,
};

/// sqlparser's PostgreSQL dialect with the additions the module docs list.
#[derive(Debug, Default, Clone, Copy)]
pub struct SextantDialect;

/// The dialect [`SextantDialect`] extends.
const PG: PostgreSqlDialect = PostgreSqlDialect {};

/// The keyword `t` is, if it is one.
fn keyword(t: &Token) -> Option<Keyword> {
    match t {
        Token::Word(w) => Some(w.keyword),
        _ => None,
    }
}

/// A row-locking strength, weakest first, as PostgreSQL orders them
/// (`LockClauseStrength`): a table named by two clauses takes the
/// stronger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockStrength {
    /// `FOR KEY SHARE`.
    KeyShare,
    /// `FOR SHARE`.
    Share,
    /// `FOR NO KEY UPDATE`.
    NoKeyUpdate,
    /// `FOR UPDATE`.
    Update,
}

impl LockStrength {
    /// The clause as PostgreSQL's messages spell it.
    pub fn clause(self) -> &'static str {
        match self {
            LockStrength::KeyShare => "FOR KEY SHARE",
            LockStrength::Share => "FOR SHARE",
            LockStrength::NoKeyUpdate => "FOR NO KEY UPDATE",
            LockStrength::Update => "FOR UPDATE",
        }
    }

    /// The strength a marker name stands for (see the module docs).
    fn from_marker(i: &Ident) -> Option<LockStrength> {
        let clause = i.value.strip_prefix('\u{0}')?;
        [LockStrength::KeyShare, LockStrength::NoKeyUpdate]
            .into_iter()
            .find(|s| s.clause() == clause)
    }

    /// The marker word for a strength sqlparser cannot hold.
    fn marker(self) -> Token {
        Token::Word(Word {
            value: format!("\u{0}{}", self.clause()),
            quote_style: Some('"'),
            keyword: Keyword::NoKeyword,
        })
    }
}

/// A locking clause's strength and the relation its `OF` names, if any,
/// with the marker of a rewritten strength taken out (see the module
/// docs).
pub fn lock_clause(l: &LockClause) -> (LockStrength, Option<ObjectName>) {
    let parsed = match l.lock_type {
        LockType::Update => LockStrength::Update,
        LockType::Share => LockStrength::Share,
    };
    let Some(of) = &l.of else {
        return (parsed, None);
    };
    let marked =
        of.0.first()
            .and_then(|p| p.as_ident())
            .and_then(LockStrength::from_marker);
    match marked {
        Some(strength) => {
            let rest = of.0[1..].to_vec();
            (strength, (!rest.is_empty()).then_some(ObjectName(rest)))
        }
        None => (parsed, Some(of.clone())),
    }
}

/// A token `t` with `span`, preceded by a space.
fn spaced(out: &mut Vec<TokenWithSpan>, t: Token, span: Span) {
    out.push(TokenWithSpan::new(
        Token::Whitespace(Whitespace::Space),
        span,
    ));
    out.push(TokenWithSpan::new(t, span));
}

fn significant(t: &TokenWithSpan) -> bool {
    !matches!(t.token, Token::Whitespace(_))
}

/// Whether PostgreSQL's lexer reads `c` as part of an operator (scan.l's
/// `op_chars`).
fn is_op_char(c: char) -> bool {
    "~!@#^&|`?+-*/%<>=".contains(c)
}

/// Tokenizes `sql` with [`SextantDialect`] as PostgreSQL's lexer reads it
/// where sqlparser's tokenizer fails: `<-` followed by anything but an
/// operator character is `<` then `-` (`1<-1`, `a<-b`). sqlparser reads
/// `<-` as the start of a geometric operator (`<->`) and fails when none
/// follows. Each such `<`, found where the tokenizer stopped, is read as
/// a comma (one character, a token of its own whatever follows) and the
/// comma's token becomes `<` again, with the `<`'s span.
pub fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, TokenizerError> {
    let mut text = std::borrow::Cow::Borrowed(sql);
    let mut less_than: Vec<Location> = Vec::new();
    loop {
        let mut tokens = Vec::new();
        let Err(e) =
            Tokenizer::new(&SextantDialect, &text).tokenize_with_location_into_buf(&mut tokens)
        else {
            for t in &mut tokens {
                if t.token == Token::Comma && less_than.contains(&t.span.start) {
                    t.token = Token::Lt;
                }
            }
            return Ok(tokens);
        };
        // The failed token starts where the last one read ends.
        let at = tokens.last().map_or(Location::new(1, 1), |t| t.span.end);
        let offset = Offsets::new(&text).at(at);
        let rest = &text[offset..];
        let splits = rest.starts_with("<-") && !rest[2..].starts_with(is_op_char);
        if !splits || less_than.contains(&at) {
            return Err(e);
        }
        text.to_mut().replace_range(offset..offset + 1, ",");
        less_than.push(at);
    }
}

/// Rewrites a statement text's tokens as the module docs describe, before
/// sqlparser parses them; `sql` is the text they were read from. Fails
/// with a syntax error where a rewritten piece is broken (`FOR KEY
/// UPDATE`, an `ON CONFLICT` expression), at the token PostgreSQL names.
pub fn rewrite_tokens(
    sql: &str,
    tokens: Vec<TokenWithSpan>,
) -> Result<Vec<TokenWithSpan>, ParserError> {
    lift_conflict_targets(
        sql,
        split_lock_lists(mark_lock_strengths(split_operator_tails(tokens))?),
    )
}

/// Ends operators as PostgreSQL's lexer does: an operator of several
/// characters that ends in `+` or `-` and has none of `~ ! @ # % ^ & | `
/// ?` loses those trailing characters, which start the next token. So
/// `doc->>-1` is `doc ->> -1` and `4>=-5` is `4 >= -5`, where sqlparser
/// reads the longest run of operator characters (`->>-`, `>=-`) and fails.
/// A tail holding `--` is left alone (PostgreSQL reads a comment there).
///
/// The other way round, sqlparser ends `!=` after its two characters,
/// where PostgreSQL reads on: `1!=-1` is the operator `!=-`, which does
/// not exist, not `1 != -1`. So `!=` and the operator characters right
/// after it become one operator.
pub fn split_operator_tails(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut after_bang_eq = false;
    for t in tokens {
        let bang_eq = std::mem::take(&mut after_bang_eq);
        let text = t.token.to_string();
        if bang_eq && significant(&t) && !text.is_empty() && text.chars().all(is_op_char) {
            let last = out.last_mut().expect("the `!=` before");
            let op = match &last.token {
                Token::CustomBinaryOperator(op) => format!("{op}{text}"),
                _ => format!("!={text}"),
            };
            last.token = Token::CustomBinaryOperator(op);
            last.span = last.span.union(&t.span);
            after_bang_eq = true;
            continue;
        }
        // A `<>` takes the operator characters after it itself (as a
        // custom operator), so a `Neq` before one is a `!=`.
        after_bang_eq = t.token == Token::Neq;
        if let Token::CustomBinaryOperator(op) = &t.token {
            let head = op.trim_end_matches(['+', '-']);
            let tail = &op[head.len()..];
            let special = |c: char| "~!@#%^&|`?".contains(c);
            if !head.is_empty() && !tail.is_empty() && !op.contains(special) && !tail.contains("--")
            {
                let lexed = Tokenizer::new(&SextantDialect, head).tokenize();
                if let Ok([one]) = lexed.as_deref() {
                    out.push(TokenWithSpan::new(one.clone(), t.span));
                    for c in tail.chars() {
                        let sign = if c == '-' { Token::Minus } else { Token::Plus };
                        out.push(TokenWithSpan::new(sign, t.span));
                    }
                    continue;
                }
            }
        }
        out.push(t);
    }
    out
}

/// Rewrites each `FOR NO KEY UPDATE` into `FOR UPDATE` and each `FOR KEY
/// SHARE` into `FOR SHARE`, with the strength's marker as the first part
/// of the `OF` name, or as the `OF` name when there is none. The words
/// kept take the span of the words they stand for. `FOR KEY` and `FOR NO`
/// not followed by the rest of a strength are syntax errors at the word
/// that breaks it, as in PostgreSQL, where sqlparser would fail earlier.
fn mark_lock_strengths(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>, ParserError> {
    let at: Vec<usize> = (0..tokens.len())
        .filter(|&i| significant(&tokens[i]))
        .collect();
    let kw = |n: usize| at.get(n).and_then(|&i| keyword(&tokens[i].token));
    let fail = |n: usize, expected: &str| {
        let found = at.get(n).map(|&i| &tokens[i]);
        Err(ParserError::ParserError(format!(
            "Expected: {expected}, found: {}{}",
            found.map_or("EOF".to_string(), |t| t.token.to_string()),
            found.map_or(Location::new(0, 0), |t| t.span.start)
        )))
    };
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut next = 0;
    let mut n = 0;
    while n < at.len() {
        let found = match (kw(n), kw(n + 1), kw(n + 2), kw(n + 3)) {
            (Some(Keyword::FOR), Some(Keyword::NO), Some(Keyword::KEY), Some(Keyword::UPDATE)) => {
                Some((LockStrength::NoKeyUpdate, "UPDATE", 3))
            }
            (Some(Keyword::FOR), Some(Keyword::KEY), Some(Keyword::SHARE), _) => {
                Some((LockStrength::KeyShare, "SHARE", 2))
            }
            (Some(Keyword::FOR), Some(Keyword::KEY), _, _) => return fail(n + 2, "SHARE"),
            (Some(Keyword::FOR), Some(Keyword::NO), Some(Keyword::KEY), _) => {
                return fail(n + 3, "UPDATE")
            }
            (Some(Keyword::FOR), Some(Keyword::NO), _, _) => return fail(n + 2, "KEY"),
            _ => None,
        };
        let Some((strength, word, len)) = found else {
            n += 1;
            continue;
        };
        // Everything up to and including FOR stays.
        out.extend(tokens[next..=at[n]].iter().cloned());
        let first = &tokens[at[n + 1]];
        let last = &tokens[at[n + len]];
        let span = first.span.union(&last.span);
        spaced(&mut out, Token::make_keyword(word), span);
        let end = last.span.end;
        let marker_span = Span::new(end, end);
        if kw(n + len + 1) == Some(Keyword::OF) {
            let of = &tokens[at[n + len + 1]];
            spaced(&mut out, of.token.clone(), of.span);
            spaced(&mut out, strength.marker(), marker_span);
            out.push(TokenWithSpan::new(Token::Period, marker_span));
            next = at[n + len + 1] + 1;
            n += len + 2;
        } else {
            spaced(&mut out, Token::make_keyword("OF"), marker_span);
            spaced(&mut out, strength.marker(), marker_span);
            next = at[n + len] + 1;
            n += len + 1;
        }
    }
    out.extend(tokens[next..].iter().cloned());
    Ok(out)
}

/// Rewrites each `FOR UPDATE | SHARE OF a, b, …` in `tokens` into one
/// clause per name, `FOR UPDATE OF a FOR UPDATE OF b …`; the words added
/// take the span of the comma they replace, and a strength's marker (see
/// [`mark_lock_strengths`]) is repeated in each. A comma right after a
/// name of an `OF` list has no other meaning in the grammar.
pub fn split_lock_lists(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    /// An `OF` list being read.
    struct List {
        /// Its strength word.
        strength: Token,
        /// Its marker, when the list starts with one.
        marker: Option<Token>,
        /// Whether a name just ended.
        after_name: bool,
        /// Whether the next word is the list's first.
        first: bool,
    }
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut list: Option<List> = None;
    for t in tokens {
        if !significant(&t) {
            out.push(t);
            continue;
        }
        if let Some(mut l) = list.take() {
            match (&t.token, l.after_name) {
                (Token::Comma, true) => {
                    for word in [
                        Token::make_keyword("FOR"),
                        l.strength.clone(),
                        Token::make_keyword("OF"),
                    ] {
                        spaced(&mut out, word, t.span);
                    }
                    if let Some(m) = &l.marker {
                        spaced(&mut out, m.clone(), t.span);
                        out.push(TokenWithSpan::new(Token::Period, t.span));
                    }
                    out.push(TokenWithSpan::new(
                        Token::Whitespace(Whitespace::Space),
                        t.span,
                    ));
                    l.after_name = false;
                    list = Some(l);
                    continue;
                }
                (Token::Word(w), false) => {
                    let is_marker = w.value.starts_with('\u{0}') && w.quote_style.is_some();
                    if l.first && is_marker {
                        l.marker = Some(t.token.clone());
                    }
                    out.push(t);
                    l.after_name = true;
                    l.first = false;
                    list = Some(l);
                    continue;
                }
                (Token::Period, true) => {
                    out.push(t);
                    l.after_name = false;
                    list = Some(l);
                    continue;
                }
                _ => {}
            }
        }
        if keyword(&t.token) == Some(Keyword::OF) {
            let mut before = out.iter().rev().filter(|x| significant(x));
            let strength = before.next().map(|x| x.token.clone());
            let for_word = before.next().and_then(|x| keyword(&x.token));
            if let (Some(strength), Some(Keyword::FOR)) = (strength, for_word) {
                if matches!(keyword(&strength), Some(Keyword::UPDATE | Keyword::SHARE)) {
                    list = Some(List {
                        strength,
                        marker: None,
                        after_name: false,
                        first: true,
                    });
                }
            }
        }
        out.push(t);
    }
    out
}

/// Byte offsets in `sql` of token locations (line and column, both
/// counted in characters from 1, as sqlparser's tokenizer counts them).
struct Offsets<'a> {
    sql: &'a str,
    /// Byte offset of each line's start.
    lines: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(sql: &'a str) -> Self {
        let lines = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Offsets { sql, lines }
    }

    fn at(&self, l: Location) -> usize {
        let Some(&start) = usize::try_from(l.line)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| self.lines.get(n))
        else {
            return self.sql.len();
        };
        let col = usize::try_from(l.column.saturating_sub(1)).unwrap_or(usize::MAX);
        self.sql[start..]
            .char_indices()
            .nth(col)
            .map_or(self.sql.len(), |(i, _)| start + i)
    }

    fn text(&self, span: Span) -> &'a str {
        &self.sql[self.at(span.start)..self.at(span.end)]
    }
}

/// Replaces each expression element of an `INSERT`'s `ON CONFLICT (…)`
/// target (a parenthesized expression or a function call, PostgreSQL's
/// `index_elem`) by one unquoted word holding its source text, spanning
/// it (see the module docs). Column names stay as they are; so does an
/// element sqlparser's own error is right for (`a.b`, `a ->> 'k'`).
fn lift_conflict_targets(
    sql: &str,
    tokens: Vec<TokenWithSpan>,
) -> Result<Vec<TokenWithSpan>, ParserError> {
    let offsets = Offsets::new(sql);
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut in_insert = false;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        match keyword(&t.token) {
            Some(Keyword::INSERT) => in_insert = true,
            _ if t.token == Token::SemiColon => in_insert = false,
            _ => {}
        }
        out.push(t.clone());
        i += 1;
        let mut before = out.iter().rev().filter(|x| significant(x));
        let opens_target = in_insert
            && t.token == Token::LParen
            && before.nth(1).and_then(|x| keyword(&x.token)) == Some(Keyword::CONFLICT)
            && before.next().and_then(|x| keyword(&x.token)) == Some(Keyword::ON);
        if !opens_target {
            continue;
        }
        // One element per turn, up to the target's closing parenthesis.
        loop {
            while i < tokens.len() && !significant(&tokens[i]) {
                out.push(tokens[i].clone());
                i += 1;
            }
            let Some(start) = tokens.get(i) else {
                break;
            };
            let lifted = if is_expression_element(&tokens[i..]) {
                // The element's parser reads at most to the statement's
                // semicolon, so a long script costs no more than its
                // statements.
                let statement_end = tokens[i..]
                    .iter()
                    .position(|t| t.token == Token::SemiColon)
                    .map_or(tokens.len(), |n| i + n + 1);
                let mut p = Parser::new(&SextantDialect)
                    .with_tokens_with_locations(tokens[i..statement_end].to_vec());
                p.parse_prefix()?;
                let next = p.peek_token();
                if !matches!(next.token, Token::Comma | Token::RParen) {
                    return p.expected("',' or ')'", next);
                }
                Some(p.index())
            } else {
                None
            };
            let end = match lifted {
                Some(len) => {
                    let last = tokens[i..i + len]
                        .iter()
                        .rev()
                        .find(|x| significant(x))
                        .expect("the element has a token");
                    let span = start.span.union(&last.span);
                    let word = Token::Word(Word {
                        value: offsets.text(span).to_string(),
                        quote_style: None,
                        keyword: Keyword::NoKeyword,
                    });
                    out.push(TokenWithSpan::new(word, span));
                    i + len
                }
                None => {
                    // A column name (or an error sqlparser reports): up to
                    // the next significant token.
                    out.push(start.clone());
                    i + 1
                }
            };
            i = end;
            while i < tokens.len() && !significant(&tokens[i]) {
                out.push(tokens[i].clone());
                i += 1;
            }
            match tokens.get(i).map(|t| &t.token) {
                Some(Token::Comma) => {
                    out.push(tokens[i].clone());
                    i += 1;
                }
                _ => break,
            }
        }
        if tokens.get(i).map(|t| &t.token) == Some(&Token::RParen) {
            i = lift_conflict_predicate(&offsets, &tokens, i, &mut out)?;
        }
    }
    Ok(out)
}

/// After an `ON CONFLICT` target's closing parenthesis at `close`: when a
/// `WHERE` predicate follows, puts it in the target as its last element
/// (see the module docs) and returns the index of the token after it;
/// else returns `close`. The predicate must be followed by `DO`, as in
/// PostgreSQL's grammar; anything else is a syntax error there.
fn lift_conflict_predicate(
    offsets: &Offsets<'_>,
    tokens: &[TokenWithSpan],
    close: usize,
    out: &mut Vec<TokenWithSpan>,
) -> Result<usize, ParserError> {
    let Some(at_where) = (close + 1..tokens.len()).find(|&n| significant(&tokens[n])) else {
        return Ok(close);
    };
    if keyword(&tokens[at_where].token) != Some(Keyword::WHERE) {
        return Ok(close);
    }
    let from = at_where + 1;
    let statement_end = tokens[from..]
        .iter()
        .position(|t| t.token == Token::SemiColon)
        .map_or(tokens.len(), |n| from + n + 1);
    let mut p = Parser::new(&SextantDialect)
        .with_tokens_with_locations(tokens[from..statement_end].to_vec());
    p.parse_expr()?;
    let end = from + p.index();
    // DO is reserved in PostgreSQL, a column only after a period (`t.do`):
    // `WHERE DO NOTHING` misses the predicate, where sqlparser reads a
    // column `do`.
    let reserved_do = (from..end).find(|&n| {
        matches!(&tokens[n].token, Token::Word(w) if w.keyword == Keyword::DO && w.quote_style.is_none())
            && tokens[n - 1].token != Token::Period
    });
    if let Some(at_do) = reserved_do.map(|n| &tokens[n]) {
        return Err(ParserError::ParserError(format!(
            "Expected: an expression, found: DO{}",
            at_do.span.start
        )));
    }
    let next = p.peek_token();
    if keyword(&next.token) != Some(Keyword::DO) {
        return p.expected("DO", next);
    }
    let mut predicate = tokens[from..end].iter().filter(|t| significant(t));
    let first = predicate.next().expect("a predicate has a token");
    let last = predicate.next_back().unwrap_or(first);
    let span = first.span.union(&last.span);
    out.push(TokenWithSpan::new(Token::Comma, tokens[at_where].span));
    let word = Token::Word(Word {
        value: format!("{PREDICATE_MARKER}{}", offsets.text(span)),
        quote_style: None,
        keyword: Keyword::NoKeyword,
    });
    out.push(TokenWithSpan::new(word, span));
    out.push(tokens[close].clone());
    Ok(end)
}

/// Whether the `ON CONFLICT` target element `tokens` start with is an
/// expression: a parenthesized one, or a function call (a name, then a
/// parenthesis; a qualified name is left to sqlparser, which fails at
/// its period).
fn is_expression_element(tokens: &[TokenWithSpan]) -> bool {
    let mut t = tokens.iter().filter(|t| significant(t)).map(|t| &t.token);
    matches!(
        (t.next(), t.next()),
        (Some(Token::LParen), _) | (Some(Token::Word(_)), Some(Token::LParen))
    )
}

/// The expression an `ON CONFLICT` target element stands for, when `i` is
/// one [`lift_conflict_targets`] made (`None` for a column name): its
/// text parsed again, with the positions it has in the statement, and
/// without the element's own parentheses.
pub fn conflict_target_expr(i: &Ident) -> Option<Result<Expr, ParserError>> {
    if i.quote_style.is_some() || !i.value.contains('(') || i.value.starts_with(PREDICATE_MARKER) {
        return None;
    }
    Some(parse_lifted(&i.value, i.span.start).map(|e| match e {
        Expr::Nested(inner) => *inner,
        e => e,
    }))
}

/// What starts the word [`lift_conflict_targets`] makes of an `ON
/// CONFLICT` target's `WHERE` predicate; no identifier holds a NUL.
pub const PREDICATE_MARKER: char = '\0';

/// An `ON CONFLICT` target's elements without its index predicate, and
/// the predicate, parsed with the positions it has in the statement, when
/// the target has one (`ON CONFLICT (a) WHERE b > 0`; see
/// [`lift_conflict_targets`]).
pub fn conflict_target_predicate(elems: &[Ident]) -> (&[Ident], Option<Result<Expr, ParserError>>) {
    match elems.split_last() {
        Some((last, rest))
            if last.quote_style.is_none() && last.value.starts_with(PREDICATE_MARKER) =>
        {
            let text = &last.value[PREDICATE_MARKER.len_utf8()..];
            (rest, Some(parse_lifted(text, last.span.start)))
        }
        _ => (elems, None),
    }
}

/// Parses `text`, a piece of a statement that starts at `start` there, as
/// one expression with the positions it has in the statement.
fn parse_lifted(text: &str, start: Location) -> Result<Expr, ParserError> {
    let moved = |l: Location| Location {
        line: l.line + start.line - 1,
        column: if l.line == 1 {
            l.column + start.column - 1
        } else {
            l.column
        },
    };
    let tokens = tokenize(text)?
        .into_iter()
        .map(|t| TokenWithSpan::new(t.token, Span::new(moved(t.span.start), moved(t.span.end))))
        .collect();
    let mut p =
        Parser::new(&SextantDialect).with_tokens_with_locations(split_operator_tails(tokens));
    let e = p.parse_expr()?;
    p.expect_token(&Token::EOF)?;
    Ok(e)
}

/// Parses `[NOT] BETWEEN {SYMMETRIC | ASYMMETRIC} x AND y` after `expr`
/// when it comes next; `None` leaves every other infix to sqlparser. A
/// missing lower bound is a syntax error at the `AND`, as in PostgreSQL,
/// where sqlparser would read `AND` as a column name.
fn between_symmetric(parser: &mut Parser, expr: &Expr) -> Option<Result<Expr, ParserError>> {
    let [t0, t1, t2] = parser.peek_tokens();
    let missing_low = match (keyword(&t0), keyword(&t1), keyword(&t2)) {
        (Some(Keyword::BETWEEN), Some(Keyword::AND), _) => Some(1),
        (Some(Keyword::NOT), Some(Keyword::BETWEEN), Some(Keyword::AND)) => Some(2),
        _ => None,
    };
    if let Some(n) = missing_low {
        for _ in 0..n {
            parser.next_token();
        }
        return Some(parser.expected("an expression", parser.peek_token()));
    }
    let is_flag = |t: &Token| {
        matches!(
            keyword(t),
            Some(Keyword::SYMMETRIC) | Some(Keyword::ASYMMETRIC)
        )
    };
    let (negated, flag) = match (keyword(&t0), keyword(&t1)) {
        (Some(Keyword::BETWEEN), _) if is_flag(&t1) => (false, t1),
        (Some(Keyword::NOT), Some(Keyword::BETWEEN)) if is_flag(&t2) => (true, t2),
        _ => return None,
    };
    let symmetric = keyword(&flag) == Some(Keyword::SYMMETRIC);
    for _ in 0..if negated { 3 } else { 2 } {
        parser.next_token();
    }
    if keyword(&parser.peek_token().token) == Some(Keyword::AND) {
        return Some(parser.expected("an expression", parser.peek_token()));
    }
    let between = match parser.parse_between(expr.clone(), negated) {
        Ok(b) => b,
        Err(e) => return Some(Err(e)),
    };
    if !symmetric {
        return Some(Ok(between));
    }
    let Expr::Between {
        expr,
        negated,
        low,
        high,
    } = between
    else {
        unreachable!("parse_between builds a BETWEEN");
    };
    let swapped = Expr::Between {
        expr: expr.clone(),
        negated,
        low: high.clone(),
        high: low.clone(),
    };
    let straight = Expr::Between {
        expr,
        negated,
        low,
        high,
    };
    // Parenthesized whole, so that the text the AST prints (stored
    // defaults and index expressions) reads back as the same tree.
    Some(Ok(Expr::Nested(Box::new(Expr::BinaryOp {
        left: Box::new(Expr::Nested(Box::new(straight))),
        op: if negated {
            BinaryOperator::And
        } else {
            BinaryOperator::Or
        },
        right: Box::new(Expr::Nested(Box::new(swapped))),
    }))))
}

/// Fails a `DELETE` not followed by `FROM` at that token, as PostgreSQL's
/// grammar does; `None` lets sqlparser parse every other statement.
fn delete_without_from(parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
    let [t0, t1] = parser.peek_tokens();
    if keyword(&t0) != Some(Keyword::DELETE) || keyword(&t1) == Some(Keyword::FROM) {
        return None;
    }
    parser.next_token();
    Some(parser.expected("FROM", parser.peek_token()))
}

impl Dialect for SextantDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn is_column_alias(&self, kw: &Keyword, parser: &mut Parser) -> bool {
        *kw != Keyword::FOR && PG.is_column_alias(kw, parser)
    }

    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        delete_without_from(parser).or_else(|| PG.parse_statement(parser))
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        between_symmetric(parser, expr).or_else(|| PG.parse_infix(parser, expr, precedence))
    }

    // Everything below forwards what PostgreSqlDialect overrides.

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        PG.identifier_quote_style(identifier)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        PG.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        PG.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        PG.is_identifier_part(ch)
    }

    fn supports_unicode_string_literal(&self) -> bool {
        PG.supports_unicode_string_literal()
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        PG.is_custom_operator_part(ch)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        PG.get_next_precedence(parser)
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        PG.supports_filter_during_aggregation()
    }

    fn supports_group_by_expr(&self) -> bool {
        PG.supports_group_by_expr()
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        PG.prec_value(prec)
    }

    fn allow_extract_custom(&self) -> bool {
        PG.allow_extract_custom()
    }

    fn allow_extract_single_quotes(&self) -> bool {
        PG.allow_extract_single_quotes()
    }

    fn supports_create_index_with_clause(&self) -> bool {
        PG.supports_create_index_with_clause()
    }

    fn supports_explain_with_utility_options(&self) -> bool {
        PG.supports_explain_with_utility_options()
    }

    fn supports_listen_notify(&self) -> bool {
        PG.supports_listen_notify()
    }

    fn supports_factorial_operator(&self) -> bool {
        PG.supports_factorial_operator()
    }

    fn supports_comment_on(&self) -> bool {
        PG.supports_comment_on()
    }

    fn supports_load_extension(&self) -> bool {
        PG.supports_load_extension()
    }

    fn supports_named_fn_args_with_colon_operator(&self) -> bool {
        PG.supports_named_fn_args_with_colon_operator()
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
        PG.supports_named_fn_args_with_expr_name()
    }

    fn supports_empty_projections(&self) -> bool {
        PG.supports_empty_projections()
    }

    fn supports_nested_comments(&self) -> bool {
        PG.supports_nested_comments()
    }

    fn supports_string_escape_constant(&self) -> bool {
        PG.supports_string_escape_constant()
    }

    fn supports_numeric_literal_underscores(&self) -> bool {
        PG.supports_numeric_literal_underscores()
    }

    fn supports_array_typedef_with_brackets(&self) -> bool {
        PG.supports_array_typedef_with_brackets()
    }

    fn supports_geometric_types(&self) -> bool {
        PG.supports_geometric_types()
    }

    fn supports_set_names(&self) -> bool {
        PG.supports_set_names()
    }

    fn supports_alter_column_type_using(&self) -> bool {
        PG.supports_alter_column_type_using()
    }

    fn supports_notnull_operator(&self) -> bool {
        PG.supports_notnull_operator()
    }

    fn supports_interval_options(&self) -> bool {
        PG.supports_interval_options()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sql` after the rewrite, printed back.
    fn printed(sql: &str) -> Result<String, ParserError> {
        rewritten(sql).map(|s| s.to_string())
    }

    #[test]
    fn operators_end_before_a_sign_as_in_postgres() {
        assert_eq!(
            printed("SELECT doc->>-1, doc->-1, 2*-3, 4>=-5, a<>-b, c<=+d FROM t").as_deref(),
            Ok("SELECT doc ->> -1, doc -> -1, 2 * -3, 4 >= -5, a <> -b, c <= +d FROM t")
        );
        // With one of PostgreSQL's special characters the run stays one
        // operator, as there.
        assert_eq!(
            printed("SELECT '[1]'::jsonb #- '{0}'").as_deref(),
            Ok("SELECT '[1]'::JSONB #- '{0}'")
        );
        assert_eq!(
            printed("SELECT 1!=-1, 1!=+-1, 1!=/**/-1, 1<>-1, 1!=1, 1 != -1").as_deref(),
            Ok("SELECT 1 !=- 1, 1 !=+- 1, 1 <> -1, 1 <> -1, 1 <> 1, 1 <> -1")
        );
    }

    #[test]
    fn less_than_before_a_minus_is_two_tokens_as_in_postgres() {
        assert_eq!(
            printed("SELECT 1<-1, a<-b, c<-(1), d<-+2, e<->f").as_deref(),
            Ok("SELECT 1 < -1, a < -b, c < -(1), d < -+2, e <-> f")
        );
        assert_eq!(
            printed("SELECT '<-1', \"<-\" FROM t WHERE x<-1").as_deref(),
            Ok("SELECT '<-1', \"<-\" FROM t WHERE x < -1")
        );
        // The `<` keeps its place, for errors that point at it.
        let tokens = tokenize("SELECT\n 1<-1").expect("tokenizes");
        let lt = tokens.iter().find(|t| t.token == Token::Lt).expect("a <");
        assert_eq!(lt.span.start, Location::new(2, 3));
        assert_eq!(lt.span.end, Location::new(2, 4));
        // Other tokenizer errors stay errors.
        assert!(tokenize("SELECT 'open").is_err());
        assert!(tokenize("SELECT 1<-1, 'open").is_err());
    }

    fn parse(dialect: &dyn Dialect, sql: &str) -> Result<String, String> {
        Parser::parse_sql(dialect, sql)
            .map(|stmts| format!("{stmts:?}"))
            .map_err(|e| e.to_string())
    }

    fn expr(sql: &str) -> String {
        Parser::new(&SextantDialect)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .expect("parses")
            .to_string()
    }

    #[test]
    fn parses_as_the_postgresql_dialect() {
        let statements = [
            "SELECT a::int[], b -> 'k' ->> 'j', c @> '{}', d #> '{a}', 5 ! FROM t WHERE x ~ 'y' AND z IS NOT NULL",
            "SELECT count(*) FILTER (WHERE a > 1) OVER (PARTITION BY b ORDER BY c ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t GROUP BY ROLLUP (a)",
            "SELECT $1, E'a\\nb', U&'d\\0061t', 1_000, x COLLATE \"C\", now() AT TIME ZONE 'UTC', extract('epoch' FROM t), f(a => 1, b := 2)",
            "SELECT a BETWEEN 1 AND 2, a NOT BETWEEN 1 AND 2 AND b, x NOTNULL, y || z, 2 ^ 3, interval '1' day",
            "INSERT INTO t (a, b) VALUES (1, 'x') ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b RETURNING *",
            "CREATE TABLE t (id int PRIMARY KEY, v varchar(3) DEFAULT 'x' NOT NULL, p point)",
            "CREATE INDEX i ON t USING btree ((payload ->> 'k')) WITH (fillfactor = 70)",
            "ALTER TABLE t ALTER COLUMN c TYPE bigint USING c::bigint",
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT 1",
            "LISTEN ch; NOTIFY ch; COMMENT ON TABLE t IS 'x'; SET NAMES 'utf8'",
            "SELECT /* a /* nested */ comment */ 1",
            "SELECT \"Quoted\", ünïcode, a$b FROM t",
        ];
        for sql in statements {
            assert_eq!(
                parse(&SextantDialect, sql),
                parse(&PostgreSqlDialect {}, sql),
                "{sql}"
            );
            assert!(parse(&SextantDialect, sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn between_symmetric_is_both_orders() {
        assert_eq!(
            expr("5 BETWEEN SYMMETRIC 10 AND 1"),
            "((5 BETWEEN 10 AND 1) OR (5 BETWEEN 1 AND 10))"
        );
        assert_eq!(
            expr("a NOT BETWEEN SYMMETRIC b + 1 AND c"),
            "((a NOT BETWEEN b + 1 AND c) AND (a NOT BETWEEN c AND b + 1))"
        );
        assert_eq!(expr("a BETWEEN ASYMMETRIC 1 AND 2"), "a BETWEEN 1 AND 2");
        assert_eq!(
            expr("a NOT BETWEEN ASYMMETRIC 1 AND 2"),
            "a NOT BETWEEN 1 AND 2"
        );
    }

    #[test]
    fn between_symmetric_binds_like_between() {
        // The operands stop at AND as BETWEEN's do, and the result is one
        // operand of the surrounding AND.
        assert_eq!(
            expr("a BETWEEN SYMMETRIC 1 AND 2 AND b"),
            "((a BETWEEN 1 AND 2) OR (a BETWEEN 2 AND 1)) AND b"
        );
        assert_eq!(
            expr("NOT a BETWEEN SYMMETRIC 1 AND 2 + 3"),
            "NOT ((a BETWEEN 1 AND 2 + 3) OR (a BETWEEN 2 + 3 AND 1))"
        );
    }

    #[test]
    fn a_missing_lower_bound_fails_at_and() {
        for sql in [
            "a BETWEEN AND 2",
            "a NOT BETWEEN AND 2",
            "a BETWEEN SYMMETRIC AND 2",
            "a NOT BETWEEN ASYMMETRIC AND 2",
        ] {
            let err = Parser::new(&SextantDialect)
                .try_with_sql(sql)
                .and_then(|mut p| p.parse_expr())
                .expect_err(sql)
                .to_string();
            assert!(err.contains("found: AND"), "{sql}: {err}");
        }
    }

    #[test]
    fn for_is_no_bare_column_alias() {
        let stmts = Parser::parse_sql(&SextantDialect, "SELECT 1 FOR UPDATE").expect("parses");
        let [Statement::Query(q)] = stmts.as_slice() else {
            panic!("one query: {stmts:?}");
        };
        assert_eq!(q.locks.len(), 1);
        assert!(Parser::parse_sql(&SextantDialect, "SELECT 1 AS for").is_ok());
        assert!(Parser::parse_sql(&SextantDialect, "SELECT 1 x FOR SHARE").is_ok());
    }

    #[test]
    fn delete_needs_from() {
        for (sql, found) in [("DELETE t", "found: t"), ("DELETE", "found: EOF")] {
            let err = Parser::parse_sql(&SextantDialect, sql)
                .expect_err(sql)
                .to_string();
            assert!(err.contains(found), "{sql}: {err}");
        }
        assert!(Parser::parse_sql(&SextantDialect, "DELETE FROM t WHERE a = 1").is_ok());
    }

    #[test]
    fn symmetric_is_reserved() {
        let err = Parser::new(&SextantDialect)
            .try_with_sql("a BETWEEN SYMMETRIC AND 2")
            .and_then(|mut p| p.parse_expr());
        assert!(err.is_err());
    }

    /// `sql`'s first statement, parsed from rewritten tokens as statements
    /// are (see [`rewrite_tokens`]).
    fn rewritten(sql: &str) -> Result<Statement, ParserError> {
        let tokens = tokenize(sql).expect("tokenizes");
        let tokens = rewrite_tokens(sql, tokens)?;
        Parser::new(&SextantDialect)
            .with_tokens_with_locations(tokens)
            .parse_statement()
    }

    /// Each locking clause of query `sql` as its strength and `OF` name.
    fn clauses(sql: &str) -> Vec<(LockStrength, Option<String>)> {
        let Statement::Query(q) = rewritten(sql).expect(sql) else {
            panic!("a query: {sql}");
        };
        q.locks
            .iter()
            .map(|l| {
                let (strength, of) = lock_clause(l);
                (strength, of.map(|o| o.to_string()))
            })
            .collect()
    }

    #[test]
    fn lock_lists_become_one_clause_per_name() {
        assert_eq!(
            printed("SELECT * FROM a, s.b FOR UPDATE OF a, s.b, c NOWAIT").unwrap(),
            "SELECT * FROM a, s.b FOR UPDATE OF a FOR UPDATE OF s.b FOR UPDATE OF c NOWAIT"
        );
        assert_eq!(
            printed("SELECT f(x, y) FROM a FOR SHARE OF a").unwrap(),
            "SELECT f(x, y) FROM a FOR SHARE OF a"
        );
        assert!(printed("SELECT * FROM a FOR UPDATE OF a,").is_err());
    }

    #[test]
    fn key_strengths_read_back_with_their_of_names() {
        use LockStrength::*;
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            clauses("SELECT * FROM a FOR NO KEY UPDATE"),
            [(NoKeyUpdate, None)]
        );
        assert_eq!(
            clauses("SELECT * FROM a, s.b FOR no key update OF a, s.b NOWAIT FOR KEY SHARE FOR SHARE OF c FOR UPDATE"),
            [
                (NoKeyUpdate, some("a")),
                (NoKeyUpdate, some("s.b")),
                (KeyShare, None),
                (Share, some("c")),
                (Update, None),
            ]
        );
        assert_eq!(
            clauses("SELECT * FROM a FOR KEY SHARE OF a SKIP LOCKED"),
            [(KeyShare, some("a"))]
        );
        let Statement::Query(q) = rewritten("SELECT * FROM a FOR KEY SHARE OF a NOWAIT").unwrap()
        else {
            panic!("a query");
        };
        assert!(q.locks[0].nonblock.is_some());
        assert!(KeyShare < Share && Share < NoKeyUpdate && NoKeyUpdate < Update);
        // The marker is no name SQL can write.
        assert_eq!(
            clauses("SELECT * FROM a FOR UPDATE OF \"FOR NO KEY UPDATE\""),
            [(Update, some("\"FOR NO KEY UPDATE\""))]
        );
    }

    #[test]
    fn broken_key_strengths_fail_where_postgresql_does() {
        for (sql, found) in [
            (
                "SELECT * FROM a FOR KEY UPDATE",
                "found: UPDATE at Line: 1, Column: 25",
            ),
            (
                "SELECT * FROM a FOR NO KEY SHARE",
                "found: SHARE at Line: 1, Column: 28",
            ),
            (
                "SELECT * FROM a FOR NO UPDATE",
                "found: UPDATE at Line: 1, Column: 24",
            ),
            ("SELECT * FROM a FOR KEY", "found: EOF"),
        ] {
            let err = rewritten(sql).expect_err(sql).to_string();
            assert!(err.contains(found), "{sql}: {err}");
        }
    }

    /// The conflict target elements of INSERT `sql`: each expression's
    /// text and where its first token is, or the column name.
    /// The target elements of ON CONFLICT statement `sql` and its index
    /// predicate, printed, with where the predicate starts.
    fn target_and_predicate(sql: &str) -> (Vec<String>, Option<(String, Location)>) {
        let Statement::Insert(ins) = rewritten(sql).expect(sql) else {
            panic!("an INSERT: {sql}");
        };
        let Some(sqlparser::ast::OnInsert::OnConflict(oc)) = &ins.on else {
            panic!("ON CONFLICT: {sql}");
        };
        let Some(sqlparser::ast::ConflictTarget::Columns(elems)) = &oc.conflict_target else {
            panic!("a target: {sql}");
        };
        let (elems, predicate) = conflict_target_predicate(elems);
        let predicate = predicate.map(|p| {
            let p = p.expect("parses again");
            let at = sqlparser::ast::Spanned::span(&p).start;
            (p.to_string(), at)
        });
        (elems.iter().map(|i| i.value.clone()).collect(), predicate)
    }

    #[test]
    fn conflict_target_predicates_ride_in_the_target() {
        assert_eq!(
            target_and_predicate(
                "INSERT INTO t VALUES (1) ON CONFLICT (a, lower(b)) WHERE b>-1 AND c DO NOTHING"
            ),
            (
                vec!["a".to_string(), "lower(b)".to_string()],
                Some(("b > -1 AND c".to_string(), Location::new(1, 58)))
            )
        );
        assert_eq!(
            target_and_predicate(
                "INSERT INTO t VALUES (1)\nON CONFLICT (a)\n  WHERE (a <> 0)\nDO UPDATE SET b = 1 WHERE t.b > 0"
            ),
            (
                vec!["a".to_string()],
                Some(("(a <> 0)".to_string(), Location::new(3, 10)))
            )
        );
        assert_eq!(
            target_and_predicate("INSERT INTO t VALUES (1) ON CONFLICT (a) DO NOTHING"),
            (vec!["a".to_string()], None)
        );
        // The predicate ends at DO, a reserved word in PostgreSQL.
        for (sql, found) in [
            (
                "INSERT INTO t VALUES (1) ON CONFLICT (a) WHERE DO NOTHING",
                "found: DO",
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT (a) WHERE a AND DO NOTHING",
                "found: DO",
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT (a) WHERE a > 0",
                "found: EOF",
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT (a) WHERE a > 0 RETURNING a",
                "found: RETURNING",
            ),
        ] {
            let err = rewritten(sql).expect_err(sql).to_string();
            assert!(err.contains(found), "{sql}: {err}");
        }
    }

    fn targets(sql: &str) -> Vec<Result<(String, Location), String>> {
        let Statement::Insert(ins) = rewritten(sql).expect(sql) else {
            panic!("an INSERT: {sql}");
        };
        let Some(sqlparser::ast::OnInsert::OnConflict(oc)) = &ins.on else {
            panic!("ON CONFLICT: {sql}");
        };
        let Some(sqlparser::ast::ConflictTarget::Columns(elems)) = &oc.conflict_target else {
            panic!("a target: {sql}");
        };
        elems
            .iter()
            .map(|i| match conflict_target_expr(i) {
                Some(e) => {
                    let e = e.expect("parses again");
                    let at = sqlparser::ast::Spanned::span(&e).start;
                    Ok((e.to_string(), at))
                }
                None => Err(i.value.clone()),
            })
            .collect()
    }

    #[test]
    fn conflict_targets_keep_their_expressions_and_positions() {
        let sql = "INSERT INTO t VALUES (1) ON CONFLICT ((a + 1), lower(b), c, ( (d) )) DO NOTHING";
        assert_eq!(
            targets(sql),
            [
                Ok(("a + 1".to_string(), Location::new(1, 40))),
                Ok(("lower(b)".to_string(), Location::new(1, 48))),
                Err("c".to_string()),
                Ok(("(d)".to_string(), Location::new(1, 64))),
            ]
        );
        // On a later line, after multi-byte text.
        let sql = "INSERT INTO t VALUES ('é') ON CONFLICT (\n  (payload ->> 'é'), f(x)) DO UPDATE SET a = 1";
        assert_eq!(
            targets(sql),
            [
                Ok(("payload ->> 'é'".to_string(), Location::new(2, 4))),
                Ok(("f(x)".to_string(), Location::new(2, 22))),
            ]
        );
        // The statement prints back with the elements as written.
        assert_eq!(
            rewritten("INSERT INTO t VALUES (1) ON CONFLICT ((a+1), lower(b)) DO NOTHING")
                .unwrap()
                .to_string(),
            "INSERT INTO t VALUES (1) ON CONFLICT((a+1), lower(b)) DO NOTHING"
        );
        // Each statement of a script is rewritten.
        let sql = "INSERT INTO t VALUES (1) ON CONFLICT ((a)) DO NOTHING; INSERT INTO t VALUES (2) ON CONFLICT (f(b)) DO NOTHING";
        let tokens = tokenize(sql).expect("tokenizes");
        let stmts = Parser::new(&SextantDialect)
            .with_tokens_with_locations(rewrite_tokens(sql, tokens).expect("rewrites"))
            .parse_statements()
            .expect("parses");
        assert_eq!(
            stmts.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            [
                "INSERT INTO t VALUES (1) ON CONFLICT((a)) DO NOTHING",
                "INSERT INTO t VALUES (2) ON CONFLICT(f(b)) DO NOTHING"
            ]
        );
        // Only an INSERT's ON CONFLICT is rewritten.
        assert!(rewritten("SELECT * FROM a JOIN b ON conflict((x))").is_ok());
        // A quoted name with a parenthesis is a column.
        assert_eq!(
            targets("INSERT INTO t VALUES (1) ON CONFLICT (\"f(x)\") DO NOTHING"),
            [Err("f(x)".to_string())]
        );
    }

    #[test]
    fn conflict_target_syntax_errors_are_where_postgresql_reports_them() {
        for (sql, found) in [
            (
                "INSERT INTO t VALUES (1) ON CONFLICT ((a +)) DO NOTHING",
                "found: ) at Line: 1, Column: 43",
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT (a ->> 'k') DO NOTHING",
                "found: ->> at Line: 1, Column: 41",
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT (lower(a) || 'x') DO NOTHING",
                "found: || at Line: 1, Column: 48",
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT ((a) b) DO NOTHING",
                "found: b at Line: 1, Column: 43",
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT (a.b) DO NOTHING",
                "found: . at Line: 1, Column: 40",
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT ((a; SELECT 1",
                "found: ; at Line: 1, Column: 41",
            ),
        ] {
            let err = rewritten(sql).expect_err(sql).to_string();
            assert!(err.contains(found), "{sql}: {err}");
        }
    }
}
