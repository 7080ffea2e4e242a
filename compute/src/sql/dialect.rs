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
//! `FOR UPDATE | SHARE OF a, b`: sqlparser reads one name after `OF`;
//! [`split_lock_lists`] rewrites the tokens into one clause per name
//! (`FOR UPDATE OF a FOR UPDATE OF b`), which PostgreSQL treats the same.

use std::any::TypeId;

use sqlparser::ast::{BinaryOperator, Expr, Statement};
use sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

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

/// Rewrites each `FOR UPDATE | SHARE OF a, b, …` in `tokens` into one
/// clause per name, `FOR UPDATE OF a FOR UPDATE OF b …`; the words added
/// take the span of the comma they replace. A comma right after a name
/// of an `OF` list has no other meaning in the grammar.
pub fn split_lock_lists(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    // Inside an OF list: its strength word, and whether a name just ended.
    let mut list: Option<(Token, bool)> = None;
    for t in tokens {
        if !significant(&t) {
            out.push(t);
            continue;
        }
        if let Some((strength, after_name)) = list.take() {
            match (&t.token, after_name) {
                (Token::Comma, true) => {
                    for word in [
                        Token::make_keyword("FOR"),
                        strength.clone(),
                        Token::make_keyword("OF"),
                    ] {
                        out.push(TokenWithSpan::new(
                            Token::Whitespace(Whitespace::Space),
                            t.span,
                        ));
                        out.push(TokenWithSpan::new(word, t.span));
                    }
                    out.push(TokenWithSpan::new(
                        Token::Whitespace(Whitespace::Space),
                        t.span,
                    ));
                    list = Some((strength, false));
                    continue;
                }
                (Token::Word(_), false) => {
                    out.push(t);
                    list = Some((strength, true));
                    continue;
                }
                (Token::Period, true) => {
                    out.push(t);
                    list = Some((strength, false));
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
                    list = Some((strength, false));
                }
            }
        }
        out.push(t);
    }
    out
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

    #[test]
    fn lock_lists_become_one_clause_per_name() {
        let rewrite = |sql: &str| {
            let tokens = sqlparser::tokenizer::Tokenizer::new(&SextantDialect, sql)
                .tokenize_with_location()
                .expect("tokenizes");
            let mut p =
                Parser::new(&SextantDialect).with_tokens_with_locations(split_lock_lists(tokens));
            p.parse_statement().map(|s| s.to_string())
        };
        assert_eq!(
            rewrite("SELECT * FROM a, s.b FOR UPDATE OF a, s.b, c NOWAIT").unwrap(),
            "SELECT * FROM a, s.b FOR UPDATE OF a FOR UPDATE OF s.b FOR UPDATE OF c NOWAIT"
        );
        assert_eq!(
            rewrite("SELECT f(x, y) FROM a FOR SHARE OF a").unwrap(),
            "SELECT f(x, y) FROM a FOR SHARE OF a"
        );
        assert!(rewrite("SELECT * FROM a FOR UPDATE OF a,").is_err());
    }
}
