//! `pg_get_expr` and `pg_get_indexdef`: column defaults and index
//! expressions printed the way PostgreSQL 15 prints them.
//!
//! The catalog keeps defaults and index expressions as SQL text. PostgreSQL
//! keeps parsed, typed trees and prints them back with `ruleutils.c`, which
//! is why `\d` shows `(payload ->> 'site_id'::text)` for `payload->>'site_id'`:
//! the literal was resolved to `text` by operator lookup, and the printer
//! labels every constant that would not read back as its type. So this
//! module does both halves: [`Analyzer`] types an expression the way
//! PostgreSQL's parse analysis does (literals, operator and function
//! resolution, implicit and explicit coercions), for the operators,
//! functions and casts defaults and index expressions commonly use, and
//! [`Printer`] is a port of `get_rule_expr`, including the pretty mode's
//! parenthesis rules (`isSimpleNode`).
//!
//! What is not understood is printed as written (`Node::Raw`) rather than
//! guessed. `compute/tests/data/deparse/` holds SQL and what PostgreSQL 15
//! printed for it; `compute/tests/deparse_pg.rs` checks this module
//! against it.

use std::cell::Cell;
use std::fmt::Write as _;

use crate::sql::dialect::SextantDialect;
use sqlparser::ast::{self, BinaryOperator, UnaryOperator};
use sqlparser::parser::Parser;

use crate::cast::{can_cast, CastKind};
use crate::catalog::{ColumnDef, IndexKey, TableDef};
use crate::datum::DataType;
use crate::jsonb::Jsonb;
use crate::pgtext::{self, JsonbHooks, TextContext};

use super::{column_type, format_type, quote_ident};

/// A typed expression, as far as this module models PostgreSQL's parse
/// nodes.
#[derive(Clone, Debug)]
enum Node {
    /// A column (`Var`).
    Var { name: String, ty: DataType },
    /// A constant: its output text (`None` for NULL) and type (`None`
    /// while still an untyped literal, PostgreSQL's `unknown`).
    Const {
        value: Option<String>,
        ty: Option<DataType>,
        typmod: i32,
    },
    /// A function call (`FuncExpr`, `COERCE_EXPLICIT_CALL`).
    Func {
        name: String,
        args: Vec<Node>,
        ty: Option<DataType>,
    },
    /// `x AT TIME ZONE z` (`timezone(z, x)` with `COERCE_SQL_SYNTAX`).
    AtTimeZone {
        value: Box<Node>,
        zone: Box<Node>,
        ty: Option<DataType>,
    },
    /// A type coercion: `RelabelType`, `CoerceViaIO`, `ArrayCoerceExpr` or
    /// a cast function (`FuncExpr` with a cast format), explicit or
    /// implicit.
    Cast {
        arg: Box<Node>,
        ty: DataType,
        typmod: i32,
        explicit: bool,
        method: CastMethod,
    },
    /// An operator (`OpExpr`), binary or prefix.
    Op {
        name: String,
        left: Option<Box<Node>>,
        right: Box<Node>,
        ty: Option<DataType>,
    },
    /// `AND`, `OR`, `NOT`.
    Bool { op: BoolOp, args: Vec<Node> },
    /// `x IS [NOT] NULL`.
    NullTest { arg: Box<Node>, negated: bool },
    /// `x IS [NOT] TRUE/FALSE/UNKNOWN`.
    BoolTest { arg: Box<Node>, test: &'static str },
    /// `x IS DISTINCT FROM y`.
    Distinct { left: Box<Node>, right: Box<Node> },
    /// `COALESCE(…)`, `NULLIF(…)`, `GREATEST(…)`, `LEAST(…)`.
    Special {
        keyword: &'static str,
        args: Vec<Node>,
        ty: Option<DataType>,
    },
    /// `CASE`.
    Case {
        whens: Vec<(Node, Node)>,
        default: Option<Box<Node>>,
        ty: Option<DataType>,
    },
    /// `CURRENT_TIMESTAMP` and the other SQL value functions.
    ValueFn { sql: &'static str, ty: DataType },
    /// `x op ANY (array)` / `x op ALL (array)`.
    ArrayOp {
        name: String,
        any: bool,
        left: Box<Node>,
        right: Box<Node>,
    },
    /// `ARRAY[…]`.
    Array {
        elems: Vec<Node>,
        ty: Option<DataType>,
    },
    /// Something this module does not model, printed as written.
    Raw(String),
}

/// How a cast is carried out, which decides how PostgreSQL prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CastMethod {
    /// Binary-coercible (`RelabelType`).
    Relabel,
    /// Through the output and input functions (`CoerceViaIO`).
    Io,
    /// A cast function, or a length coercion (`FuncExpr`).
    Func,
    /// Element by element (`ArrayCoerceExpr`).
    Array,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BoolOp {
    And,
    Or,
    Not,
}

impl Node {
    fn ty(&self) -> Option<DataType> {
        match self {
            Node::Var { ty, .. } => Some(*ty),
            Node::Cast { ty, .. } | Node::ValueFn { ty, .. } => Some(*ty),
            Node::Const { ty, .. }
            | Node::Func { ty, .. }
            | Node::AtTimeZone { ty, .. }
            | Node::Op { ty, .. }
            | Node::Special { ty, .. }
            | Node::Case { ty, .. }
            | Node::Array { ty, .. } => *ty,
            Node::Bool { .. }
            | Node::NullTest { .. }
            | Node::BoolTest { .. }
            | Node::Distinct { .. }
            | Node::ArrayOp { .. } => Some(DataType::Bool),
            Node::Raw(_) => None,
        }
    }

    fn typmod(&self) -> i32 {
        match self {
            Node::Var { ty, .. } => ty.typmod(),
            Node::Const { typmod, .. } | Node::Cast { typmod, .. } => *typmod,
            _ => -1,
        }
    }

    fn is_unknown_const(&self) -> bool {
        matches!(self, Node::Const { ty: None, .. })
    }
}

/// `pg_cast` between the types this engine has: source OID, target OID,
/// method (`f`unction, `b`inary, `i`/o). Dumped from PostgreSQL 15.
const PG_CAST: &[(u32, u32, u8)] = &[
    (16, 23, b'f'),
    (16, 25, b'f'),
    (16, 1042, b'f'),
    (16, 1043, b'f'),
    (18, 23, b'f'),
    (18, 25, b'f'),
    (18, 1042, b'f'),
    (18, 1043, b'f'),
    (19, 25, b'f'),
    (19, 1042, b'f'),
    (19, 1043, b'f'),
    (20, 21, b'f'),
    (20, 23, b'f'),
    (20, 24, b'f'),
    (20, 26, b'f'),
    (20, 700, b'f'),
    (20, 701, b'f'),
    (20, 1700, b'f'),
    (20, 2202, b'f'),
    (20, 2205, b'f'),
    (20, 2206, b'f'),
    (20, 4089, b'f'),
    (20, 4096, b'f'),
    (21, 20, b'f'),
    (21, 23, b'f'),
    (21, 24, b'f'),
    (21, 26, b'f'),
    (21, 700, b'f'),
    (21, 701, b'f'),
    (21, 1700, b'f'),
    (21, 2202, b'f'),
    (21, 2205, b'f'),
    (21, 2206, b'f'),
    (21, 4089, b'f'),
    (21, 4096, b'f'),
    (23, 16, b'f'),
    (23, 18, b'f'),
    (23, 20, b'f'),
    (23, 21, b'f'),
    (23, 24, b'b'),
    (23, 26, b'b'),
    (23, 700, b'f'),
    (23, 701, b'f'),
    (23, 1700, b'f'),
    (23, 2202, b'b'),
    (23, 2205, b'b'),
    (23, 2206, b'b'),
    (23, 4089, b'b'),
    (23, 4096, b'b'),
    (24, 20, b'f'),
    (24, 23, b'b'),
    (24, 26, b'b'),
    (24, 2202, b'b'),
    (25, 18, b'f'),
    (25, 19, b'f'),
    (25, 1042, b'b'),
    (25, 1043, b'b'),
    (25, 2205, b'f'),
    (26, 20, b'f'),
    (26, 23, b'b'),
    (26, 24, b'b'),
    (26, 2202, b'b'),
    (26, 2205, b'b'),
    (26, 2206, b'b'),
    (26, 4089, b'b'),
    (26, 4096, b'b'),
    (114, 3802, b'i'),
    (700, 20, b'f'),
    (700, 21, b'f'),
    (700, 23, b'f'),
    (700, 701, b'f'),
    (700, 1700, b'f'),
    (701, 20, b'f'),
    (701, 21, b'f'),
    (701, 23, b'f'),
    (701, 700, b'f'),
    (701, 1700, b'f'),
    (1042, 18, b'f'),
    (1042, 19, b'f'),
    (1042, 25, b'f'),
    (1042, 1043, b'f'),
    (1043, 18, b'f'),
    (1043, 19, b'f'),
    (1043, 25, b'b'),
    (1043, 1042, b'b'),
    (1043, 2205, b'f'),
    (1082, 1114, b'f'),
    (1082, 1184, b'f'),
    (1114, 1082, b'f'),
    (1114, 1184, b'f'),
    (1184, 1082, b'f'),
    (1184, 1114, b'f'),
    (1700, 20, b'f'),
    (1700, 21, b'f'),
    (1700, 23, b'f'),
    (1700, 700, b'f'),
    (1700, 701, b'f'),
    (2202, 20, b'f'),
    (2202, 23, b'b'),
    (2202, 24, b'b'),
    (2202, 26, b'b'),
    (2205, 20, b'f'),
    (2205, 23, b'b'),
    (2205, 26, b'b'),
    (2206, 20, b'f'),
    (2206, 23, b'b'),
    (2206, 26, b'b'),
    (3802, 16, b'f'),
    (3802, 20, b'f'),
    (3802, 21, b'f'),
    (3802, 23, b'f'),
    (3802, 114, b'i'),
    (3802, 700, b'f'),
    (3802, 701, b'f'),
    (3802, 1700, b'f'),
    (4089, 20, b'f'),
    (4089, 23, b'b'),
    (4089, 26, b'b'),
    (4096, 20, b'f'),
    (4096, 23, b'b'),
    (4096, 26, b'b'),
];

/// How PostgreSQL performs a cast from `from` to `to`, if it has one.
fn cast_method(from: DataType, to: DataType) -> CastMethod {
    let (f, t) = (from.oid().0, to.oid().0);
    if let Some(&(_, _, method)) = PG_CAST.iter().find(|c| c.0 == f && c.1 == t) {
        return match method {
            b'b' => CastMethod::Relabel,
            b'i' => CastMethod::Io,
            _ => CastMethod::Func,
        };
    }
    match (from, to) {
        (DataType::Array(_), DataType::Array(_)) => CastMethod::Array,
        (DataType::Int2Vector | DataType::OidVector, DataType::Array(_)) => CastMethod::Relabel,
        _ => CastMethod::Io,
    }
}

/// Whether the type has a length-coercion function that a typmod applies.
fn has_length_coercion(ty: DataType) -> bool {
    matches!(
        ty,
        DataType::Varchar { .. }
            | DataType::Bpchar { .. }
            | DataType::Numeric
            | DataType::Timestamp
            | DataType::TimestampTz
            | DataType::Interval
    )
}

/// The coercion contexts of `coerce_to_target_type`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Implicit,
    Assignment,
    Explicit,
}

/// An operator this module resolves: name, left and right operand types
/// (`None` left for a prefix operator), result type.
struct OpDef {
    name: &'static str,
    left: Option<DataType>,
    right: DataType,
    result: DataType,
}

const fn op(name: &'static str, left: DataType, right: DataType, result: DataType) -> OpDef {
    OpDef {
        name,
        left: Some(left),
        right,
        result,
    }
}

use DataType as T;

const TEXTS: DataType = T::Array(&T::Text);

/// The operators defaults and index expressions commonly use, in the order
/// resolution tries them (PostgreSQL prefers exact matches, then the
/// preferred types of each category; listing preferred forms first
/// reproduces its choices for these).
const OPERATORS: &[OpDef] = &[
    // jsonb and json
    op("->>", T::Jsonb, T::Text, T::Text),
    op("->>", T::Jsonb, T::Int4, T::Text),
    op("->", T::Jsonb, T::Text, T::Jsonb),
    op("->", T::Jsonb, T::Int4, T::Jsonb),
    op("#>>", T::Jsonb, TEXTS, T::Text),
    op("#>", T::Jsonb, TEXTS, T::Jsonb),
    op("->>", T::Json, T::Text, T::Text),
    op("->>", T::Json, T::Int4, T::Text),
    op("->", T::Json, T::Text, T::Json),
    op("->", T::Json, T::Int4, T::Json),
    op("#>>", T::Json, TEXTS, T::Text),
    op("#>", T::Json, TEXTS, T::Json),
    op("@>", T::Jsonb, T::Jsonb, T::Bool),
    op("<@", T::Jsonb, T::Jsonb, T::Bool),
    op("?", T::Jsonb, T::Text, T::Bool),
    op("?|", T::Jsonb, TEXTS, T::Bool),
    op("?&", T::Jsonb, TEXTS, T::Bool),
    op("||", T::Jsonb, T::Jsonb, T::Jsonb),
    op("-", T::Jsonb, T::Text, T::Jsonb),
    op("-", T::Jsonb, T::Int4, T::Jsonb),
    // text
    op("||", T::Text, T::Text, T::Text),
    op("~~", T::Text, T::Text, T::Bool),
    op("!~~", T::Text, T::Text, T::Bool),
    op("~~*", T::Text, T::Text, T::Bool),
    op("!~~*", T::Text, T::Text, T::Bool),
    op("~", T::Text, T::Text, T::Bool),
    op("!~", T::Text, T::Text, T::Bool),
    op("~*", T::Text, T::Text, T::Bool),
    op("!~*", T::Text, T::Text, T::Bool),
    // date and time arithmetic
    op("+", T::TimestampTz, T::Interval, T::TimestampTz),
    op("-", T::TimestampTz, T::Interval, T::TimestampTz),
    op("-", T::TimestampTz, T::TimestampTz, T::Interval),
    op("+", T::Timestamp, T::Interval, T::Timestamp),
    op("-", T::Timestamp, T::Interval, T::Timestamp),
    op("-", T::Timestamp, T::Timestamp, T::Interval),
    op("+", T::Date, T::Int4, T::Date),
    op("-", T::Date, T::Int4, T::Date),
    op("-", T::Date, T::Date, T::Int4),
    op("+", T::Date, T::Interval, T::Timestamp),
    op("-", T::Date, T::Interval, T::Timestamp),
    op("+", T::Interval, T::Interval, T::Interval),
    op("-", T::Interval, T::Interval, T::Interval),
    op("*", T::Interval, T::Float8, T::Interval),
];

/// Binary operators defined for every pair of integer widths (`int48pl`,
/// `int24eq`, …), for one numeric type with itself, and comparisons for
/// the other types with themselves.
const ARITHMETIC: [&str; 5] = ["+", "-", "*", "/", "%"];
const COMPARISON: [&str; 6] = ["=", "<>", "<", ">", "<=", ">="];

fn integer_rank(ty: DataType) -> Option<u8> {
    match ty {
        T::Int2 => Some(1),
        T::Int4 => Some(2),
        T::Int8 => Some(3),
        _ => None,
    }
}

/// Types with comparison operators against themselves.
fn comparable(ty: DataType) -> bool {
    matches!(
        ty,
        T::Bool
            | T::Numeric
            | T::Float4
            | T::Float8
            | T::Text
            | T::Bytea
            | T::Date
            | T::Timestamp
            | T::TimestampTz
            | T::Interval
            | T::Uuid
            | T::Jsonb
            | T::Oid
            | T::Name
            | T::Char
    )
}

/// The category-preferred type of a type, which an untyped literal facing
/// it becomes (`'1' = numcol` is numeric, `'x' = varcharcol` is text).
fn literal_type_for(ty: DataType) -> DataType {
    match ty {
        T::Varchar { .. } => T::Text,
        other => other,
    }
}

/// Types the analyzer gives arguments of a comparison between two
/// different types: the one the other implicitly casts to.
fn comparison_type(l: DataType, r: DataType) -> Option<DataType> {
    if l == r {
        return Some(l);
    }
    let to = |a: DataType, b: DataType| can_cast(&a, &b).allowed_in(CastKind::Implicit);
    // Date and time types compare across each other without casts.
    let datetime = |t: DataType| matches!(t, T::Date | T::Timestamp | T::TimestampTz);
    if datetime(l) && datetime(r) {
        return None;
    }
    match (to(l, r), to(r, l)) {
        // text and varchar: text is preferred.
        (true, true) => Some(if l == T::Text || r == T::Text {
            T::Text
        } else {
            l
        }),
        (true, false) => Some(r),
        (false, true) => Some(l),
        (false, false) => None,
    }
}

/// The result type of `l op r` for the numeric types, and the type both
/// operands become (`None`: cross-type integer operators need no cast).
fn numeric_operator(name: &str, l: DataType, r: DataType) -> Option<(Option<DataType>, DataType)> {
    let is_cmp = COMPARISON.contains(&name);
    if !is_cmp && !ARITHMETIC.contains(&name) {
        return None;
    }
    let result = |t: DataType| if is_cmp { T::Bool } else { t };
    if let (Some(a), Some(b)) = (integer_rank(l), integer_rank(r)) {
        let wider = if a >= b { l } else { r };
        return Some((None, result(wider)));
    }
    let rank = |t: DataType| match t {
        T::Int2 | T::Int4 | T::Int8 => Some(1),
        T::Numeric => Some(2),
        T::Float4 => Some(3),
        T::Float8 => Some(4),
        _ => None,
    };
    let (a, b) = (rank(l)?, rank(r)?);
    // float4 against float8 has cross-type operators too.
    if a >= 3 && b >= 3 {
        let wider = if a >= b { l } else { r };
        return Some((None, result(wider)));
    }
    let common = if a >= b { l } else { r };
    Some((Some(common), result(common)))
}

/// A function this module resolves: name, argument types, result type.
struct FuncDef {
    name: &'static str,
    args: &'static [DataType],
    result: DataType,
}

const fn func(name: &'static str, args: &'static [DataType], result: DataType) -> FuncDef {
    FuncDef { name, args, result }
}

/// Functions defaults and index expressions commonly call.
const FUNCTIONS: &[FuncDef] = &[
    func("now", &[], T::TimestampTz),
    func("transaction_timestamp", &[], T::TimestampTz),
    func("statement_timestamp", &[], T::TimestampTz),
    func("clock_timestamp", &[], T::TimestampTz),
    func("gen_random_uuid", &[], T::Uuid),
    func("random", &[], T::Float8),
    func("lower", &[T::Text], T::Text),
    func("upper", &[T::Text], T::Text),
    func("btrim", &[T::Text], T::Text),
    func("ltrim", &[T::Text], T::Text),
    func("rtrim", &[T::Text], T::Text),
    func("md5", &[T::Text], T::Text),
    func("length", &[T::Text], T::Int4),
    func("char_length", &[T::Text], T::Int4),
    func("octet_length", &[T::Text], T::Int4),
    func("left", &[T::Text, T::Int4], T::Text),
    func("right", &[T::Text, T::Int4], T::Text),
    func("substr", &[T::Text, T::Int4], T::Text),
    func("substr", &[T::Text, T::Int4, T::Int4], T::Text),
    func("replace", &[T::Text, T::Text, T::Text], T::Text),
    func("split_part", &[T::Text, T::Text, T::Int4], T::Text),
    func("date_trunc", &[T::Text, T::TimestampTz], T::TimestampTz),
    func("date_trunc", &[T::Text, T::Timestamp], T::Timestamp),
    func("date_part", &[T::Text, T::TimestampTz], T::Float8),
    func("date_part", &[T::Text, T::Timestamp], T::Float8),
    func("to_char", &[T::TimestampTz, T::Text], T::Text),
    func("jsonb_typeof", &[T::Jsonb], T::Text),
    func("jsonb_array_length", &[T::Jsonb], T::Int4),
    func("jsonb_extract_path_text", &[T::Jsonb, TEXTS], T::Text),
    func("abs", &[T::Int4], T::Int4),
    func("abs", &[T::Int8], T::Int8),
    func("abs", &[T::Numeric], T::Numeric),
    func("abs", &[T::Float8], T::Float8),
];

/// Parses one expression as the session stored it.
fn parse(sql: &str) -> Option<ast::Expr> {
    Parser::new(&SextantDialect)
        .try_with_sql(sql)
        .ok()?
        .parse_expr()
        .ok()
}

/// Parses a comma-separated list of expressions (`indexprs`).
fn parse_list(sql: &str) -> Option<Vec<ast::Expr>> {
    let mut parser = Parser::new(&SextantDialect).try_with_sql(sql).ok()?;
    let list = parser.parse_comma_separated(Parser::parse_expr).ok()?;
    parser
        .expect_token(&sqlparser::tokenizer::Token::EOF)
        .ok()?;
    Some(list)
}

/// An identifier as PostgreSQL folds it: lower case unless quoted.
fn ident(i: &ast::Ident) -> String {
    match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    }
}

/// jsonb's input and output, for normalizing jsonb literals.
fn jsonb_hooks() -> JsonbHooks {
    JsonbHooks {
        parse: |t| {
            Jsonb::parse(t)
                .map(Jsonb::into_bytes)
                .map_err(|e| pgtext::TypeError::Jsonb {
                    sqlstate: e.sqlstate(),
                    message: e.to_string(),
                    detail: e.detail(),
                    hint: e.hint(),
                    context: e.context(),
                })
        },
        format: |b| match Jsonb::from_bytes(b.to_vec()) {
            Ok(j) => j.to_string(),
            Err(_) => String::new(),
        },
    }
}

/// Types expressions over one table's columns, as PostgreSQL's parse
/// analysis would.
struct Analyzer<'a> {
    table: &'a TableDef,
    text: TextContext,
}

impl<'a> Analyzer<'a> {
    fn new(table: &'a TableDef) -> Analyzer<'a> {
        Analyzer {
            table,
            text: TextContext {
                jsonb: Some(jsonb_hooks()),
                ..TextContext::default()
            },
        }
    }

    fn expr(&self, e: &ast::Expr) -> Node {
        use ast::Expr as E;
        match e {
            E::Nested(inner) => self.expr(inner),
            E::Identifier(i) => self.column(&ident(i), e),
            E::CompoundIdentifier(parts) => match parts.last() {
                Some(last) => self.column(&ident(last), e),
                None => Node::Raw(e.to_string()),
            },
            E::Value(v) => self
                .value(&v.value, false)
                .unwrap_or_else(|| Node::Raw(e.to_string())),
            // `type 'literal'`: the literal read as the type.
            E::TypedString(typed) => {
                let (Some((ty, typmod)), Some(value)) = (
                    DataType::parse_type_name(&typed.data_type.to_string()),
                    self.value(&typed.value.value, false),
                ) else {
                    return Node::Raw(e.to_string());
                };
                self.coerce(value, ty, typmod, Context::Explicit)
            }
            E::Interval(interval)
                if interval.leading_field.is_none()
                    && interval.last_field.is_none()
                    && interval.leading_precision.is_none()
                    && interval.fractional_seconds_precision.is_none() =>
            {
                match strip_nested(&interval.value) {
                    ast::Expr::Value(v) => match self.value(&v.value, false) {
                        Some(value) => self.coerce(value, T::Interval, -1, Context::Explicit),
                        None => Node::Raw(e.to_string()),
                    },
                    _ => Node::Raw(e.to_string()),
                }
            }
            E::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => {
                if let E::Value(v) = strip_nested(expr) {
                    if let Some(node) = self.value(&v.value, true) {
                        return node;
                    }
                }
                self.prefix("-", self.expr(expr))
            }
            E::UnaryOp {
                op: UnaryOperator::Plus,
                expr,
            } => self.prefix("+", self.expr(expr)),
            E::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => Node::Bool {
                op: BoolOp::Not,
                args: vec![self.boolean(expr)],
            },
            E::BinaryOp { left, op, right } => self.binary(op, left, right, e),
            E::Cast {
                expr, data_type, ..
            } => {
                let Some((ty, typmod)) = DataType::parse_type_name(&data_type.to_string()) else {
                    return Node::Raw(e.to_string());
                };
                self.coerce(self.expr(expr), ty, typmod, Context::Explicit)
            }
            E::IsNull(inner) | E::IsNotNull(inner) => Node::NullTest {
                arg: Box::new(self.expr(inner)),
                negated: matches!(e, E::IsNotNull(_)),
            },
            E::IsTrue(inner) => self.bool_test(inner, " IS TRUE"),
            E::IsNotTrue(inner) => self.bool_test(inner, " IS NOT TRUE"),
            E::IsFalse(inner) => self.bool_test(inner, " IS FALSE"),
            E::IsNotFalse(inner) => self.bool_test(inner, " IS NOT FALSE"),
            E::IsUnknown(inner) => self.bool_test(inner, " IS UNKNOWN"),
            E::IsNotUnknown(inner) => self.bool_test(inner, " IS NOT UNKNOWN"),
            E::IsDistinctFrom(l, r) | E::IsNotDistinctFrom(l, r) => {
                let (left, right) = self.same_type(self.expr(l), self.expr(r));
                let distinct = Node::Distinct {
                    left: Box::new(left),
                    right: Box::new(right),
                };
                if matches!(e, E::IsDistinctFrom(..)) {
                    distinct
                } else {
                    Node::Bool {
                        op: BoolOp::Not,
                        args: vec![distinct],
                    }
                }
            }
            E::Like {
                negated,
                expr,
                pattern,
                escape_char: None,
                any: false,
            } => self.operator(if *negated { "!~~" } else { "~~" }, expr, pattern, e),
            E::ILike {
                negated,
                expr,
                pattern,
                escape_char: None,
                any: false,
            } => self.operator(if *negated { "!~~*" } else { "~~*" }, expr, pattern, e),
            E::InList {
                expr,
                list,
                negated,
            } => self.in_list(expr, list, *negated, e),
            // `a BETWEEN x AND y` is `a >= x AND a <= y`; NOT BETWEEN is
            // `a < x OR a > y`.
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (lo, hi, op) = if *negated {
                    ("<", ">", BoolOp::Or)
                } else {
                    (">=", "<=", BoolOp::And)
                };
                Node::Bool {
                    op,
                    args: vec![
                        self.operator(lo, expr, low, e),
                        self.operator(hi, expr, high, e),
                    ],
                }
            }
            E::Function(f) => self.function(f, e),
            E::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                let value = self.expr(timestamp);
                let zone = self.coerce(self.expr(time_zone), T::Text, -1, Context::Implicit);
                let ty = match value.ty() {
                    Some(T::TimestampTz) => Some(T::Timestamp),
                    Some(T::Timestamp) => Some(T::TimestampTz),
                    _ => None,
                };
                Node::AtTimeZone {
                    value: Box::new(value),
                    zone: Box::new(zone),
                    ty,
                }
            }
            E::Case {
                operand: None,
                conditions,
                else_result,
                ..
            } => self.case(conditions, else_result.as_deref(), e),
            E::Array(array) => {
                let elems: Vec<Node> = array.elem.iter().map(|x| self.expr(x)).collect();
                let elem_ty = self.common_type(&elems);
                match elem_ty {
                    Some(t) => {
                        let elems = elems
                            .into_iter()
                            .map(|x| self.coerce(x, t, -1, Context::Implicit))
                            .collect();
                        Node::Array {
                            elems,
                            ty: t.array_of(),
                        }
                    }
                    None => Node::Raw(e.to_string()),
                }
            }
            _ => Node::Raw(e.to_string()),
        }
    }

    fn column(&self, name: &str, e: &ast::Expr) -> Node {
        match self.table.columns.iter().find(|c| c.name == name) {
            Some(c) => Node::Var {
                name: c.name.clone(),
                ty: column_type(c.type_oid, c.type_mod),
            },
            None => Node::Raw(e.to_string()),
        }
    }

    /// A literal, negated for `-literal` (which PostgreSQL's grammar folds
    /// into the constant).
    fn value(&self, v: &ast::Value, negate: bool) -> Option<Node> {
        use ast::Value as V;
        let typed = |value: String, ty: DataType| Node::Const {
            value: Some(value),
            ty: Some(ty),
            typmod: -1,
        };
        Some(match v {
            V::Number(text, _) => {
                let text = if negate {
                    format!("-{text}")
                } else {
                    text.clone()
                };
                let digits = text.strip_prefix('-').unwrap_or(&text);
                if digits.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(n) = text.parse::<i32>() {
                        return Some(typed(n.to_string(), T::Int4));
                    }
                    if let Ok(n) = text.parse::<i64>() {
                        return Some(typed(n.to_string(), T::Int8));
                    }
                }
                let n = pgtext::parse_numeric(&text).ok()?;
                typed(n.to_string(), T::Numeric)
            }
            _ if negate => return None,
            V::SingleQuotedString(s) | V::EscapedStringLiteral(s) => Node::Const {
                value: Some(s.clone()),
                ty: None,
                typmod: -1,
            },
            V::DollarQuotedString(d) => Node::Const {
                value: Some(d.value.clone()),
                ty: None,
                typmod: -1,
            },
            V::Boolean(b) => typed(if *b { "t" } else { "f" }.to_owned(), T::Bool),
            V::Null => Node::Const {
                value: None,
                ty: None,
                typmod: -1,
            },
            _ => return None,
        })
    }

    fn prefix(&self, name: &str, arg: Node) -> Node {
        let ty = arg.ty();
        Node::Op {
            name: name.to_owned(),
            left: None,
            right: Box::new(arg),
            ty,
        }
    }

    fn boolean(&self, e: &ast::Expr) -> Node {
        self.coerce(self.expr(e), T::Bool, -1, Context::Implicit)
    }

    fn bool_test(&self, e: &ast::Expr, test: &'static str) -> Node {
        Node::BoolTest {
            arg: Box::new(self.boolean(e)),
            test,
        }
    }

    fn binary(&self, op: &BinaryOperator, l: &ast::Expr, r: &ast::Expr, e: &ast::Expr) -> Node {
        use BinaryOperator as B;
        let name = match op {
            B::And | B::Or => {
                let kind = if *op == B::And {
                    BoolOp::And
                } else {
                    BoolOp::Or
                };
                // PostgreSQL flattens `a AND b AND c` into one node.
                let mut args = Vec::new();
                for side in [l, r] {
                    match self.boolean(side) {
                        Node::Bool { op, args: inner } if op == kind => args.extend(inner),
                        other => args.push(other),
                    }
                }
                return Node::Bool { op: kind, args };
            }
            B::Plus => "+",
            B::Minus => "-",
            B::Multiply => "*",
            B::Divide => "/",
            B::Modulo => "%",
            B::StringConcat => "||",
            B::Eq => "=",
            B::NotEq => "<>",
            B::Lt => "<",
            B::Gt => ">",
            B::LtEq => "<=",
            B::GtEq => ">=",
            B::Arrow => "->",
            B::LongArrow => "->>",
            B::HashArrow => "#>",
            B::HashLongArrow => "#>>",
            B::AtArrow => "@>",
            B::ArrowAt => "<@",
            B::Question => "?",
            B::QuestionPipe => "?|",
            B::QuestionAnd => "?&",
            B::PGRegexMatch => "~",
            B::PGRegexIMatch => "~*",
            B::PGRegexNotMatch => "!~",
            B::PGRegexNotIMatch => "!~*",
            B::PGLikeMatch => "~~",
            B::PGILikeMatch => "~~*",
            B::PGNotLikeMatch => "!~~",
            B::PGNotILikeMatch => "!~~*",
            _ => return Node::Raw(e.to_string()),
        };
        self.operator(name, l, r, e)
    }

    /// Resolves `l name r` as PostgreSQL's `oper` would for the operators
    /// modelled here, coercing the operands.
    fn operator(&self, name: &str, l: &ast::Expr, r: &ast::Expr, e: &ast::Expr) -> Node {
        let (left, right) = (self.expr(l), self.expr(r));
        let make = |left: Node, right: Node, ty: DataType| Node::Op {
            name: name.to_owned(),
            left: Some(Box::new(left)),
            right: Box::new(right),
            ty: Some(ty),
        };
        // An untyped literal is first assumed to be of the other side's type.
        let lt = left.ty().or_else(|| right.ty().map(literal_type_for));
        let rt = right.ty().or_else(|| left.ty().map(literal_type_for));
        let (Some(lt), Some(rt)) = (lt, rt) else {
            // Two untyped literals: PostgreSQL reads both as text.
            let (l, r) = (
                self.coerce(left, T::Text, -1, Context::Implicit),
                self.coerce(right, T::Text, -1, Context::Implicit),
            );
            return match OPERATORS
                .iter()
                .find(|o| o.name == name && o.left == Some(T::Text) && o.right == T::Text)
            {
                Some(o) => make(l, r, o.result),
                None if COMPARISON.contains(&name) => make(l, r, T::Bool),
                None => Node::Raw(e.to_string()),
            };
        };
        // Exact and implicitly castable matches from the table.
        let accepts = |declared: DataType, actual: DataType, node: &Node| {
            node.is_unknown_const()
                || actual == declared
                || can_cast(&actual, &declared).allowed_in(CastKind::Implicit)
        };
        let candidates = OPERATORS.iter().filter(|o| o.name == name);
        let exact = candidates
            .clone()
            .find(|o| o.left == Some(lt) && o.right == rt);
        let chosen = exact.or_else(|| {
            candidates.clone().find(|o| {
                o.left.is_some_and(|d| accepts(d, lt, &left)) && accepts(o.right, rt, &right)
            })
        });
        if let Some(o) = chosen {
            let l = self.coerce(
                left,
                o.left.expect("binary operator"),
                -1,
                Context::Implicit,
            );
            let r = self.coerce(right, o.right, -1, Context::Implicit);
            return make(l, r, o.result);
        }
        if let Some((common, result)) = numeric_operator(name, lt, rt) {
            let (l, r) = match common {
                Some(t) => (
                    self.coerce(left, t, -1, Context::Implicit),
                    self.coerce(right, t, -1, Context::Implicit),
                ),
                None => (
                    self.coerce(left, lt, -1, Context::Implicit),
                    self.coerce(right, rt, -1, Context::Implicit),
                ),
            };
            return make(l, r, result);
        }
        if COMPARISON.contains(&name) {
            let datetime = |t: DataType| matches!(t, T::Date | T::Timestamp | T::TimestampTz);
            if datetime(lt) && datetime(rt) {
                let l = self.coerce(left, lt, -1, Context::Implicit);
                let r = self.coerce(right, rt, -1, Context::Implicit);
                return make(l, r, T::Bool);
            }
            if let Some(t) = comparison_type(lt, rt).filter(|t| comparable(*t)) {
                let l = self.coerce(left, t, -1, Context::Implicit);
                let r = self.coerce(right, t, -1, Context::Implicit);
                return make(l, r, T::Bool);
            }
        }
        Node::Raw(e.to_string())
    }

    /// Two operands coerced to their common type, for `IS DISTINCT FROM`.
    fn same_type(&self, left: Node, right: Node) -> (Node, Node) {
        let lt = left.ty().or_else(|| right.ty().map(literal_type_for));
        let rt = right.ty().or_else(|| left.ty().map(literal_type_for));
        match (lt, rt) {
            (Some(lt), Some(rt)) => match comparison_type(lt, rt) {
                Some(t) => (
                    self.coerce(left, t, -1, Context::Implicit),
                    self.coerce(right, t, -1, Context::Implicit),
                ),
                None => (left, right),
            },
            _ => (left, right),
        }
    }

    /// `x IN (a, b)` becomes `x = ANY (ARRAY[a, b])`, `NOT IN` `<> ALL`.
    fn in_list(&self, x: &ast::Expr, list: &[ast::Expr], negated: bool, e: &ast::Expr) -> Node {
        let left = self.expr(x);
        let items: Vec<Node> = list.iter().map(|i| self.expr(i)).collect();
        let mut all = vec![left.clone()];
        all.extend(items.iter().cloned());
        let Some(t) = self.common_type(&all) else {
            return Node::Raw(e.to_string());
        };
        let t = literal_type_for(t);
        let items = items
            .into_iter()
            .map(|i| self.coerce(i, t, -1, Context::Implicit))
            .collect();
        Node::ArrayOp {
            name: if negated { "<>" } else { "=" }.to_owned(),
            any: !negated,
            left: Box::new(self.coerce(left, t, -1, Context::Implicit)),
            right: Box::new(Node::Array {
                elems: items,
                ty: t.array_of(),
            }),
        }
    }

    /// PostgreSQL's `select_common_type` over typed nodes; untyped literals
    /// follow the others, and alone are text.
    fn common_type(&self, nodes: &[Node]) -> Option<DataType> {
        let mut common: Option<DataType> = None;
        for n in nodes {
            let Some(t) = n.ty() else {
                if !n.is_unknown_const() {
                    return None;
                }
                continue;
            };
            common = Some(match common {
                None => t,
                Some(c) if c == t => c,
                Some(c) => {
                    if let Some((Some(wide), _)) = numeric_operator("+", c, t) {
                        wide
                    } else if let Some((None, wide)) = numeric_operator("+", c, t) {
                        wide
                    } else {
                        comparison_type(c, t)?
                    }
                }
            });
        }
        Some(common.unwrap_or(T::Text))
    }

    fn case(
        &self,
        conditions: &[ast::CaseWhen],
        else_result: Option<&ast::Expr>,
        e: &ast::Expr,
    ) -> Node {
        let whens: Vec<(Node, Node)> = conditions
            .iter()
            .map(|w| (self.boolean(&w.condition), self.expr(&w.result)))
            .collect();
        let default = else_result.map(|x| self.expr(x));
        let mut results: Vec<Node> = whens.iter().map(|(_, r)| r.clone()).collect();
        results.extend(default.iter().cloned());
        let Some(t) = self.common_type(&results) else {
            return Node::Raw(e.to_string());
        };
        let whens = whens
            .into_iter()
            .map(|(c, r)| (c, self.coerce(r, t, -1, Context::Implicit)))
            .collect();
        // A missing ELSE is ELSE NULL, which PostgreSQL prints.
        let default = default.unwrap_or(Node::Const {
            value: None,
            ty: None,
            typmod: -1,
        });
        Node::Case {
            whens,
            default: Some(Box::new(self.coerce(default, t, -1, Context::Implicit))),
            ty: Some(t),
        }
    }

    fn function(&self, f: &ast::Function, e: &ast::Expr) -> Node {
        let parts: Vec<String> = f
            .name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(ident))
            .collect();
        let name = match &parts[..] {
            [name] => name.clone(),
            [schema, name] if schema == "pg_catalog" => name.clone(),
            _ => return Node::Raw(e.to_string()),
        };
        let args = match &f.args {
            ast::FunctionArguments::None => {
                return value_function(&name).unwrap_or_else(|| Node::Raw(e.to_string()));
            }
            ast::FunctionArguments::List(list)
                if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
            {
                let mut args = Vec::new();
                for a in &list.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => {
                            args.push(self.expr(x))
                        }
                        _ => return Node::Raw(e.to_string()),
                    }
                }
                args
            }
            _ => return Node::Raw(e.to_string()),
        };
        if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
            return Node::Raw(e.to_string());
        }
        let special = match name.as_str() {
            "coalesce" => Some("COALESCE"),
            "nullif" => Some("NULLIF"),
            "greatest" => Some("GREATEST"),
            "least" => Some("LEAST"),
            _ => None,
        };
        if let Some(keyword) = special {
            let Some(t) = self.common_type(&args) else {
                return Node::Raw(e.to_string());
            };
            let args = args
                .into_iter()
                .map(|a| self.coerce(a, t, -1, Context::Implicit))
                .collect();
            return Node::Special {
                keyword,
                args,
                ty: Some(t),
            };
        }
        let types: Vec<Option<DataType>> = args.iter().map(Node::ty).collect();
        let candidates = FUNCTIONS
            .iter()
            .filter(|d| d.name == name && d.args.len() == args.len());
        let exact = candidates.clone().find(|d| {
            d.args
                .iter()
                .zip(&types)
                .all(|(a, t)| t.is_none() || *t == Some(*a))
        });
        let chosen = exact.or_else(|| {
            candidates.clone().find(|d| {
                d.args.iter().zip(&types).all(|(a, t)| match t {
                    None => true,
                    Some(t) => can_cast(t, a).allowed_in(CastKind::Implicit),
                })
            })
        });
        match chosen {
            Some(d) => Node::Func {
                name,
                args: args
                    .into_iter()
                    .zip(d.args)
                    .map(|(a, t)| self.coerce(a, *t, -1, Context::Implicit))
                    .collect(),
                ty: Some(d.result),
            },
            // A function we do not know: its arguments as they are.
            None => Node::Func {
                name,
                args,
                ty: None,
            },
        }
    }

    /// `coerce_to_target_type`: an untyped literal becomes a constant of
    /// the type (read and printed by the type's I/O functions); otherwise a
    /// cast node, of the method `pg_cast` gives; then a length coercion
    /// for a typmod.
    fn coerce(&self, node: Node, ty: DataType, typmod: i32, context: Context) -> Node {
        let explicit = context == Context::Explicit;
        let node = match node {
            Node::Const {
                value, ty: None, ..
            } => {
                // The input function reads the literal without the type's
                // length; the length coercion after it is implicit, and
                // not printed (`'x'::bpchar` for a `char(3)` default).
                let read_as = match ty {
                    T::Bpchar { .. } => T::Bpchar { max_chars: None },
                    T::Varchar { .. } => T::Varchar { max_chars: None },
                    t => t,
                };
                let value = value.map(|v| {
                    pgtext::parse(&read_as, &v, &self.text)
                        .map(|d| pgtext::format(&d, &self.text))
                        .unwrap_or(v)
                });
                Node::Const {
                    value,
                    ty: Some(ty),
                    typmod: -1,
                }
            }
            other => match other.ty() {
                Some(from) if same_type(from, ty) => other,
                _ => {
                    let method = match other.ty() {
                        Some(from) => cast_method(from, ty),
                        None => CastMethod::Io,
                    };
                    Node::Cast {
                        arg: Box::new(other),
                        ty,
                        typmod: -1,
                        explicit,
                        method,
                    }
                }
            },
        };
        if typmod >= 0 && has_length_coercion(ty) && node.typmod() != typmod {
            return Node::Cast {
                arg: Box::new(node),
                ty,
                typmod,
                explicit,
                method: CastMethod::Func,
            };
        }
        node
    }
}

/// Whether two types are the same for coercion (`varchar(n)` and
/// `varchar` are one type with different typmods).
fn same_type(a: DataType, b: DataType) -> bool {
    a.oid() == b.oid()
}

fn strip_nested(e: &ast::Expr) -> &ast::Expr {
    match e {
        ast::Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

/// The SQL value functions written without parentheses.
fn value_function(name: &str) -> Option<Node> {
    let (sql, ty) = match name {
        "current_timestamp" => ("CURRENT_TIMESTAMP", T::TimestampTz),
        "current_date" => ("CURRENT_DATE", T::Date),
        "localtimestamp" => ("LOCALTIMESTAMP", T::Timestamp),
        "current_user" => ("CURRENT_USER", T::Name),
        "session_user" => ("SESSION_USER", T::Name),
        "user" => ("USER", T::Name),
        "current_role" => ("CURRENT_ROLE", T::Name),
        "current_catalog" => ("CURRENT_CATALOG", T::Name),
        "current_schema" => ("CURRENT_SCHEMA", T::Name),
        _ => return None,
    };
    Some(Node::ValueFn { sql, ty })
}

/// `PRETTYINDENT_VAR`: how far `CASE` indents its branches.
const PRETTY_INDENT_VAR: isize = 4;

/// Ports of `ruleutils.c`'s printing functions.
struct Printer {
    /// `PRETTYFLAG_PAREN`: only the parentheses precedence needs.
    pretty: bool,
    /// The indentation of keywords on new lines (`indentLevel`).
    indent: Cell<isize>,
}

impl Printer {
    fn new(pretty: bool) -> Printer {
        Printer {
            pretty,
            indent: Cell::new(0),
        }
    }

    /// `appendContextKeyword` with `PRETTYFLAG_INDENT`: a new line at the
    /// current indentation, the keyword, then the indentation changed.
    fn keyword(&self, out: &mut String, keyword: &str, before: isize, after: isize) {
        self.indent.set((self.indent.get() + before).max(0));
        // Trailing spaces go before the line break (`removeStringInfoSpaces`).
        out.truncate(out.trim_end_matches(' ').len());
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', self.indent.get().unsigned_abs()));
        out.push_str(keyword);
        self.indent.set((self.indent.get() + after).max(0));
    }

    /// `get_rule_expr`.
    fn expr(&self, node: &Node, out: &mut String, show_implicit: bool) {
        match node {
            Node::Var { name, .. } => out.push_str(&quote_ident(name)),
            Node::Const { .. } => self.constant(node, out, 0),
            Node::Func { name, args, .. } => {
                out.push_str(&quote_ident(name));
                out.push('(');
                self.list(args, out);
                out.push(')');
            }
            Node::AtTimeZone { value, zone, .. } => {
                out.push('(');
                self.expr_paren(value, node, out, false);
                out.push_str(" AT TIME ZONE ");
                self.expr_paren(zone, node, out, false);
                out.push(')');
            }
            Node::Cast {
                arg,
                ty,
                typmod,
                explicit,
                ..
            } => {
                if !explicit && !show_implicit {
                    self.expr_paren(arg, node, out, false);
                } else {
                    self.coercion(arg, *ty, *typmod, node, out);
                }
            }
            Node::Op {
                name, left, right, ..
            } => {
                self.open(out);
                match left {
                    Some(left) => {
                        self.expr_paren(left, node, out, true);
                        let _ = write!(out, " {name} ");
                    }
                    None => {
                        let _ = write!(out, "{name} ");
                    }
                }
                self.expr_paren(right, node, out, true);
                self.close(out);
            }
            Node::Bool { op, args } => {
                self.open(out);
                match op {
                    BoolOp::Not => {
                        out.push_str("NOT ");
                        self.expr_paren(&args[0], node, out, false);
                    }
                    BoolOp::And | BoolOp::Or => {
                        let sep = if *op == BoolOp::And { " AND " } else { " OR " };
                        for (i, a) in args.iter().enumerate() {
                            if i > 0 {
                                out.push_str(sep);
                            }
                            self.expr_paren(a, node, out, false);
                        }
                    }
                }
                self.close(out);
            }
            Node::NullTest { arg, negated } => {
                self.open(out);
                self.expr_paren(arg, node, out, true);
                out.push_str(if *negated { " IS NOT NULL" } else { " IS NULL" });
                self.close(out);
            }
            Node::BoolTest { arg, test } => {
                self.open(out);
                self.expr_paren(arg, node, out, false);
                out.push_str(test);
                self.close(out);
            }
            Node::Distinct { left, right } => {
                self.open(out);
                self.expr_paren(left, node, out, true);
                out.push_str(" IS DISTINCT FROM ");
                self.expr_paren(right, node, out, true);
                self.close(out);
            }
            Node::Special { keyword, args, .. } => {
                out.push_str(keyword);
                out.push('(');
                self.list(args, out);
                out.push(')');
            }
            Node::Case { whens, default, .. } => {
                // PRETTYFLAG_INDENT, which pg_get_expr and pg_get_indexdef
                // always set, puts each keyword on its own line.
                self.keyword(out, "CASE", 0, PRETTY_INDENT_VAR);
                for (cond, result) in whens {
                    self.keyword(out, "WHEN ", 0, 0);
                    self.expr(cond, out, false);
                    out.push_str(" THEN ");
                    self.expr(result, out, true);
                }
                if let Some(default) = default {
                    self.keyword(out, "ELSE ", 0, 0);
                    self.expr(default, out, true);
                }
                self.keyword(out, "END", -PRETTY_INDENT_VAR, 0);
            }
            Node::ValueFn { sql, .. } => out.push_str(sql),
            Node::ArrayOp {
                name,
                any,
                left,
                right,
            } => {
                self.open(out);
                self.expr_paren(left, node, out, true);
                let _ = write!(out, " {name} {} (", if *any { "ANY" } else { "ALL" });
                self.expr_paren(right, node, out, true);
                out.push(')');
                self.close(out);
            }
            Node::Array { elems, .. } => {
                out.push_str("ARRAY[");
                self.list(elems, out);
                out.push(']');
            }
            Node::Raw(text) => out.push_str(text),
        }
    }

    fn open(&self, out: &mut String) {
        if !self.pretty {
            out.push('(');
        }
    }

    fn close(&self, out: &mut String) {
        if !self.pretty {
            out.push(')');
        }
    }

    fn list(&self, args: &[Node], out: &mut String) {
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            self.expr(a, out, true);
        }
    }

    /// `get_rule_expr_paren`: parentheses only where pretty mode needs
    /// them.
    fn expr_paren(&self, node: &Node, parent: &Node, out: &mut String, show_implicit: bool) {
        let paren = self.pretty && !is_simple(node, parent, self.pretty);
        if paren {
            out.push('(');
        }
        self.expr(node, out, show_implicit);
        if paren {
            out.push(')');
        }
    }

    /// `get_coercion_expr`.
    fn coercion(&self, arg: &Node, ty: DataType, typmod: i32, parent: &Node, out: &mut String) {
        match arg {
            Node::Const {
                ty: Some(const_ty),
                typmod: -1,
                ..
            } if same_type(*const_ty, ty) => self.constant(arg, out, -1),
            _ => {
                self.open(out);
                self.expr_paren(arg, parent, out, false);
                self.close(out);
            }
        }
        let _ = write!(out, "::{}", type_name(ty, typmod));
    }

    /// `get_const_expr`: `show_type` -1 never labels, 0 labels what would
    /// not read back as its type.
    fn constant(&self, node: &Node, out: &mut String, show_type: i32) {
        let Node::Const { value, ty, typmod } = node else {
            unreachable!("constant() is called with constants");
        };
        let label = |out: &mut String| {
            if let Some(t) = ty {
                let _ = write!(out, "::{}", type_name(*t, *typmod));
            }
        };
        let Some(value) = value else {
            out.push_str("NULL");
            if show_type >= 0 {
                label(out);
            }
            return;
        };
        let mut needs_label = match ty {
            Some(T::Int4) => {
                if value.starts_with('-') {
                    quote_literal(value, out);
                    true
                } else {
                    out.push_str(value);
                    false
                }
            }
            Some(T::Numeric) => {
                let looks_float = value.as_bytes().first().is_some_and(u8::is_ascii_digit)
                    && value.contains(['e', 'E', '.']);
                if looks_float {
                    out.push_str(value);
                    false
                } else {
                    quote_literal(value, out);
                    true
                }
            }
            Some(T::Bool) => {
                out.push_str(if value == "t" { "true" } else { "false" });
                false
            }
            None => {
                quote_literal(value, out);
                false
            }
            Some(_) => {
                quote_literal(value, out);
                true
            }
        };
        if *ty == Some(T::Numeric) && *typmod >= 0 {
            needs_label = true;
        }
        if show_type >= 0 && needs_label || show_type > 0 {
            label(out);
        }
    }
}

/// `format_type_with_typemod`.
fn type_name(ty: DataType, typmod: i32) -> String {
    format_type(ty.oid().0, Some(typmod)).unwrap_or_else(|| ty.format_type())
}

/// `simple_quote_literal` with `standard_conforming_strings` on.
fn quote_literal(value: &str, out: &mut String) {
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
}

/// `isSimpleNode`: whether `node` needs no parentheses under `parent` in
/// pretty mode.
fn is_simple(node: &Node, parent: &Node, pretty: bool) -> bool {
    match node {
        Node::Var { .. } | Node::Const { .. } | Node::ValueFn { .. } => true,
        Node::Func { .. }
        | Node::AtTimeZone { .. }
        | Node::Special { .. }
        | Node::Array { .. }
        | Node::Case { .. } => true,
        Node::Cast { arg, method, .. } => match method {
            // A cast function prints like a function call.
            CastMethod::Func => true,
            CastMethod::Relabel | CastMethod::Io | CastMethod::Array => {
                is_simple(arg, node, pretty)
            }
        },
        Node::Op { .. } => {
            if pretty {
                if let (Some(op), Node::Op { .. }) = (simple_binary_op(node), parent) {
                    let Some(parent_op) = simple_binary_op(parent) else {
                        return false;
                    };
                    let low = |o: char| "+-".contains(o);
                    let high = |o: char| "*/%".contains(o);
                    if !(low(op) || high(op)) || !(low(parent_op) || high(parent_op)) {
                        return false;
                    }
                    if high(op) && low(parent_op) {
                        return true;
                    }
                    if low(op) && high(parent_op) {
                        return false;
                    }
                    // Same priority: only the left operand goes bare.
                    return matches!(parent, Node::Op { left: Some(l), .. } if std::ptr::eq(&**l, node));
                }
                if let Node::Op { .. } = parent {
                    return false;
                }
            }
            simple_under_parent(parent)
        }
        Node::NullTest { .. } | Node::BoolTest { .. } | Node::Distinct { .. } => {
            simple_under_parent(parent)
        }
        Node::Bool { op, .. } => match parent {
            Node::Bool { op: parent_op, .. } => {
                pretty
                    && match op {
                        BoolOp::Not | BoolOp::And => matches!(parent_op, BoolOp::And | BoolOp::Or),
                        BoolOp::Or => *parent_op == BoolOp::Or,
                    }
            }
            _ => simple_under_parent(parent),
        },
        Node::ArrayOp { .. } | Node::Raw(_) => false,
    }
}

/// The parent cases `isSimpleNode` shares for operators, tests and boolean
/// expressions: function-like parents have their own parentheses.
fn simple_under_parent(parent: &Node) -> bool {
    match parent {
        // A cast function or SQL-syntax call does not parenthesize.
        Node::Cast {
            method: CastMethod::Func,
            ..
        }
        | Node::AtTimeZone { .. } => false,
        Node::Func { .. } => true,
        Node::Bool { .. } | Node::Array { .. } | Node::Special { .. } | Node::Case { .. } => true,
        _ => false,
    }
}

/// `get_simple_binary_op_name`: a binary operator's name if it is one
/// character.
fn simple_binary_op(node: &Node) -> Option<char> {
    match node {
        Node::Op {
            name,
            left: Some(_),
            ..
        } if name.len() == 1 => name.chars().next(),
        _ => None,
    }
}

/// Prints an analyzed node.
fn print(node: &Node, pretty: bool) -> String {
    let mut out = String::new();
    Printer::new(pretty).expr(node, &mut out, false);
    out
}

/// The position of the column an expression is, if it is nothing but a
/// column reference.
pub(crate) fn bare_column(sql: &str, table: &TableDef) -> Option<usize> {
    match strip_nested(&parse(sql)?) {
        ast::Expr::Identifier(i) => table.column(&ident(i)),
        _ => None,
    }
}

/// Whether a default is the NULL constant, which PostgreSQL does not store.
pub(crate) fn is_null_default(sql: &str) -> bool {
    let Some(e) = parse(sql) else {
        return false;
    };
    match strip_nested(&e) {
        ast::Expr::Value(v) => matches!(v.value, ast::Value::Null),
        ast::Expr::Cast { expr, .. } => {
            matches!(strip_nested(expr), ast::Expr::Value(v) if matches!(v.value, ast::Value::Null))
        }
        _ => false,
    }
}

/// A column default as `pg_get_expr(adbin, adrelid, pretty)` prints it:
/// the expression coerced to the column's type for assignment, as
/// PostgreSQL stores it.
pub(crate) fn default_expr(
    table: &TableDef,
    column: &ColumnDef,
    sql: &str,
    pretty: bool,
) -> String {
    let Some(e) = parse(sql) else {
        return sql.to_owned();
    };
    let analyzer = Analyzer::new(table);
    let ty = column_type(column.type_oid, column.type_mod);
    let node = analyzer.coerce(analyzer.expr(&e), ty, column.type_mod, Context::Assignment);
    print(&node, pretty)
}

/// Expressions over `table`'s columns as `pg_get_expr(text, relid,
/// pretty)` prints them: a comma-separated list prints comma-separated, as
/// `indexprs` does. `None` if the text does not parse.
pub(crate) fn expr_list(table: &TableDef, sql: &str, pretty: bool) -> Option<String> {
    let list = parse_list(sql)?;
    let analyzer = Analyzer::new(table);
    let printed: Vec<String> = list
        .iter()
        .map(|e| print(&analyzer.expr(e), pretty))
        .collect();
    Some(printed.join(", "))
}

/// What an index key expression is: its printed form, type, collation and
/// the column name PostgreSQL gives it in the index.
pub(crate) struct IndexExpr {
    /// `pg_get_indexdef`'s text for the key, parenthesized unless it looks
    /// like a function call.
    pub text: String,
    /// The key's type OID and typmod.
    pub type_oid: u32,
    pub typmod: i32,
    /// `FigureIndexColname`'s name before de-duplication (`None` for
    /// "expr").
    pub name: Option<String>,
}

/// Analyzes an index key expression.
pub(crate) fn index_expr(table: &TableDef, sql: &str, pretty: bool) -> IndexExpr {
    let Some(e) = parse(sql) else {
        return IndexExpr {
            text: format!("({sql})"),
            type_oid: T::Text.oid().0,
            typmod: -1,
            name: None,
        };
    };
    let node = Analyzer::new(table).expr(&e);
    let printed = print(&node, pretty);
    let looks_like_function = matches!(
        node,
        Node::Func { .. } | Node::Special { .. } | Node::ValueFn { .. } | Node::AtTimeZone { .. }
    );
    let text = if looks_like_function {
        printed
    } else {
        format!("({printed})")
    };
    let (type_oid, typmod) = match node.ty() {
        Some(t) => (t.oid().0, node.typmod()),
        None => (T::Text.oid().0, -1),
    };
    IndexExpr {
        text,
        type_oid,
        typmod,
        name: figure_colname(strip_nested(&e)),
    }
}

/// `FigureColnameInternal` for index columns: a function's name, a cast's
/// type name when its argument has none, `case`, `coalesce`, …
fn figure_colname(e: &ast::Expr) -> Option<String> {
    use ast::Expr as E;
    match e {
        E::Nested(inner) => figure_colname(inner),
        E::Identifier(i) => Some(ident(i)),
        E::CompoundIdentifier(parts) => parts.last().map(ident),
        E::Function(f) => f.name.0.last().and_then(|p| p.as_ident()).map(ident),
        E::Cast {
            expr, data_type, ..
        } => figure_colname(expr).or_else(|| {
            DataType::parse_type_name(&data_type.to_string()).map(|(t, _)| t.name().to_owned())
        }),
        E::Case { .. } => Some("case".to_owned()),
        E::AtTimeZone { .. } => Some("timezone".to_owned()),
        E::Array(_) => Some("array".to_owned()),
        _ => None,
    }
}

/// The column names PostgreSQL gives an index's keys
/// (`ChooseIndexColumnNames`): the column's name, or the expression's
/// figured name, else `expr`; repeats get `1`, `2`, … appended.
pub(crate) fn index_column_names(table: &TableDef, keys: &[IndexKey]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(keys.len());
    for key in keys {
        let base = match key {
            IndexKey::Column(pos) => table.columns[*pos].name.clone(),
            IndexKey::Expr(sql) => match bare_column(sql, table) {
                Some(pos) => table.columns[pos].name.clone(),
                None => index_expr(table, sql, false)
                    .name
                    .unwrap_or_else(|| "expr".to_owned()),
            },
        };
        let mut name = base.clone();
        let mut n = 0;
        while names.contains(&name) {
            n += 1;
            name = format!("{base}{n}");
        }
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_storage::types::PageId;

    fn table() -> TableDef {
        let col = |name: &str, ty: DataType, not_null: bool, default: Option<&str>| ColumnDef {
            name: name.to_owned(),
            type_oid: ty.oid().0,
            type_mod: ty.typmod(),
            not_null,
            default: default.map(str::to_owned),
            missing: None,
        };
        TableDef {
            stored: None,
            id: 1,
            name: "events".to_owned(),
            columns: vec![
                col("id", T::Text, true, None),
                col("payload", T::Jsonb, true, None),
                col("position", T::Int8, false, None),
                col("ingested_at", T::TimestampTz, true, Some("now()")),
                col(
                    "name",
                    T::Varchar {
                        max_chars: Some(10),
                    },
                    false,
                    None,
                ),
            ],
            primary_key: vec![0],
            root: PageId(1),
            indexes: vec![],
        }
    }

    #[test]
    fn index_expressions_print_as_postgres() {
        let t = table();
        let cases = [
            (
                "(payload ->> 'site_id')",
                false,
                "((payload ->> 'site_id'::text))",
            ),
            (
                "(payload ->> 'site_id')",
                true,
                "(payload ->> 'site_id'::text)",
            ),
            (
                "((payload ->> 'temp')::FLOAT)",
                false,
                "(((payload ->> 'temp'::text))::double precision)",
            ),
            (
                "((payload ->> 'temp')::FLOAT)",
                true,
                "((payload ->> 'temp'::text)::double precision)",
            ),
            ("lower(name)", false, "lower((name)::text)"),
            ("lower(name)", true, "lower(name::text)"),
        ];
        for (sql, pretty, want) in cases {
            assert_eq!(
                index_expr(&t, sql, pretty).text,
                want,
                "{sql} pretty={pretty}"
            );
        }
        assert_eq!(
            index_expr(&t, "((payload ->> 'temp')::FLOAT)", false)
                .name
                .as_deref(),
            Some("float8")
        );
        assert_eq!(index_expr(&t, "(payload ->> 'site_id')", false).name, None);
    }

    #[test]
    fn defaults_print_as_postgres() {
        let t = table();
        let by_name = |n: &str| {
            t.columns
                .iter()
                .find(|c| c.name == n)
                .expect("column")
                .clone()
        };
        assert_eq!(
            default_expr(&t, &by_name("ingested_at"), "now()", false),
            "now()"
        );
        assert_eq!(default_expr(&t, &by_name("id"), "'x'", false), "'x'::text");
        assert_eq!(default_expr(&t, &by_name("position"), "0", false), "0");
        assert_eq!(
            default_expr(&t, &by_name("position"), "-1", false),
            "'-1'::integer"
        );
        assert_eq!(
            default_expr(&t, &by_name("name"), "'x'", false),
            "'x'::character varying"
        );
        assert!(is_null_default("NULL"));
        assert!(!is_null_default("now()"));
        assert_eq!(bare_column("(id)", &t), Some(0));
    }
}
