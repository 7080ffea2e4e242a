//! Scalar expressions: binding sqlparser's AST to typed expressions over a
//! row, and evaluating them with PostgreSQL's NULL semantics.
//!
//! Binding resolves column names against a [`Scope`] (the columns of the
//! row being evaluated), types every node on PostgreSQL's type system, and
//! turns untyped literals and parameters into the type their context needs,
//! as PostgreSQL's "unknown" type does. Evaluation is a plain recursive walk
//! over one row.

use std::cmp::Ordering;

use sqlparser::ast::{self, BinaryOperator, UnaryOperator};

use crate::datum::{DataType, Datum, Numeric};
use crate::jsonb::{Jsonb, JsonbRef};
use crate::pgtext::{self, JsonbHooks, TextContext};
use crate::sql::error::{code, SqlError};

/// One column visible to an expression.
#[derive(Clone, Debug)]
pub struct ScopeColumn {
    /// Table name or alias qualifying the column.
    pub table: Option<String>,
    /// Column name.
    pub name: String,
    /// Type.
    pub ty: DataType,
}

/// The columns of the row an expression is evaluated on.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Columns by position in the row.
    pub columns: Vec<ScopeColumn>,
    /// Extra names (`EXCLUDED.col` in ON CONFLICT), mapped to positions.
    pub aliases: Vec<(String, String, usize)>,
}

impl Scope {
    fn resolve(&self, table: Option<&str>, name: &str) -> Result<(usize, DataType), SqlError> {
        if let Some(t) = table {
            if let Some((_, _, i)) = self
                .aliases
                .iter()
                .find(|(at, an, _)| at == t && an == name)
            {
                return Ok((*i, self.columns[*i].ty));
            }
        }
        let mut found =
            self.columns.iter().enumerate().filter(|(_, c)| {
                c.name == name && table.is_none_or(|t| c.table.as_deref() == Some(t))
            });
        let Some((i, c)) = found.next() else {
            let full = match table {
                Some(t) => format!("{t}.{name}"),
                None => name.to_string(),
            };
            return Err(SqlError::new(
                code::UNDEFINED_COLUMN,
                format!("column \"{full}\" does not exist"),
            ));
        };
        if found.next().is_some() {
            return Err(SqlError::new(
                code::AMBIGUOUS_COLUMN,
                format!("column reference \"{name}\" is ambiguous"),
            ));
        }
        Ok((i, c.ty))
    }
}

/// Binary operators after binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `||` on text
    Concat,
    /// `->`
    Arrow,
    /// `->>`
    LongArrow,
    /// `#>`
    HashArrow,
    /// `#>>`
    HashLongArrow,
    /// `@>`
    Contains,
    /// `<@`
    ContainedBy,
    /// `?`
    Exists,
    /// `||` on jsonb
    JsonbConcat,
}

/// Functions the binder knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `now()`, `current_timestamp`
    Now,
    /// `gen_random_uuid()`
    GenRandomUuid,
    /// `lower(text)`
    Lower,
    /// `upper(text)`
    Upper,
    /// `length(text)`
    Length,
    /// `coalesce(...)`
    Coalesce,
    /// `abs(x)`
    Abs,
    /// `jsonb_typeof(jsonb)`
    JsonbTypeof,
    /// `version()`
    Version,
    /// `current_database()`
    CurrentDatabase,
    /// `current_user`
    CurrentUser,
    /// `current_schema()`
    CurrentSchema,
}

/// A bound, typed expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A constant.
    Literal(Datum, DataType),
    /// A column of the row.
    Column(usize, DataType),
    /// A statement parameter (`$n`, 0-based), of the given type.
    Param(usize, DataType),
    /// Text (from an untyped literal or parameter) read as `ty`.
    Coerce(Box<Expr>, DataType),
    /// `CAST(e AS ty)`.
    Cast(Box<Expr>, DataType),
    /// `NOT e`
    Not(Box<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// `e IS [NOT] NULL`
    IsNull(Box<Expr>, bool),
    /// Binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>, DataType),
    /// `e [NOT] IN (list)`
    InList(Box<Expr>, Vec<Expr>, bool),
    /// `e [NOT] LIKE/ILIKE pattern`
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    /// `CASE`
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
        ty: DataType,
    },
    /// A function call.
    Call(Func, Vec<Expr>, DataType),
    /// The value of aggregate `n` of the current group.
    Aggregate(usize, DataType),
}

impl Expr {
    /// The expression's type.
    pub fn ty(&self) -> DataType {
        match self {
            Expr::Literal(_, t)
            | Expr::Column(_, t)
            | Expr::Param(_, t)
            | Expr::Coerce(_, t)
            | Expr::Cast(_, t) => *t,
            Expr::Binary(_, _, _, t) | Expr::Call(_, _, t) | Expr::Aggregate(_, t) => *t,
            Expr::Case { ty, .. } => *ty,
            Expr::Not(_) | Expr::IsNull(..) | Expr::InList(..) | Expr::Like { .. } => {
                DataType::Bool
            }
            Expr::Neg(e) => e.ty(),
        }
    }

    /// True for an untyped string literal or parameter (PostgreSQL's
    /// "unknown"), which takes its type from context.
    fn is_unknown(&self) -> bool {
        matches!(
            self,
            Expr::Literal(Datum::Text(_), DataType::Text) | Expr::Literal(Datum::Null, _)
        ) || matches!(self, Expr::Param(_, DataType::Text))
    }

    /// This expression read as `ty` if it is an untyped literal/parameter.
    pub fn coerce_to(self, ty: DataType) -> Expr {
        if self.ty() == ty {
            return self;
        }
        match self {
            Expr::Literal(Datum::Null, _) => Expr::Literal(Datum::Null, ty),
            e if e.is_unknown() => Expr::Coerce(Box::new(e), ty),
            e => e,
        }
    }
}

/// What binding needs besides the scope.
pub struct BindCtx<'a> {
    /// Declared (or inferred so far) parameter types, by position.
    pub params: &'a mut Vec<Option<DataType>>,
}

fn lit_err(e: impl std::fmt::Display) -> SqlError {
    SqlError::new(code::SYNTAX_ERROR, e.to_string())
}

/// Maps a SQL type name to ours.
pub fn data_type(t: &ast::DataType) -> Result<DataType, SqlError> {
    use ast::DataType as T;
    Ok(match t {
        T::Boolean | T::Bool => DataType::Bool,
        T::SmallInt(_) | T::Int2(_) => DataType::Int2,
        T::Int(_) | T::Integer(_) | T::Int4(_) => DataType::Int4,
        T::BigInt(_) | T::Int8(_) => DataType::Int8,
        T::Real | T::Float4 => DataType::Float4,
        T::DoublePrecision | T::Float8 | T::Double(_) => DataType::Float8,
        T::Float(p) => match p {
            ast::ExactNumberInfo::Precision(n) | ast::ExactNumberInfo::PrecisionAndScale(n, _)
                if *n <= 24 =>
            {
                DataType::Float4
            }
            _ => DataType::Float8,
        },
        T::Numeric(_) | T::Decimal(_) | T::Dec(_) => DataType::Numeric,
        T::Text | T::String(_) => DataType::Text,
        T::Varchar(len) | T::CharacterVarying(len) => DataType::Varchar {
            max_chars: match len {
                Some(ast::CharacterLength::IntegerLength { length, .. }) => Some(*length as u32),
                _ => None,
            },
        },
        T::Bytea => DataType::Bytea,
        T::Date => DataType::Date,
        T::Timestamp(_, tz) => match tz {
            ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => DataType::TimestampTz,
            _ => DataType::Timestamp,
        },
        T::TimestampNtz => DataType::Timestamp,
        T::Interval { .. } => DataType::Interval,
        T::Uuid => DataType::Uuid,
        T::JSON => DataType::Json,
        T::JSONB => DataType::Jsonb,
        T::Custom(name, _) => match name.to_string().to_lowercase().as_str() {
            "timestamptz" => DataType::TimestampTz,
            "int2" => DataType::Int2,
            "int4" => DataType::Int4,
            "int8" => DataType::Int8,
            "float4" => DataType::Float4,
            "float8" => DataType::Float8,
            "jsonb" => DataType::Jsonb,
            "json" => DataType::Json,
            "uuid" => DataType::Uuid,
            "varchar" => DataType::Varchar { max_chars: None },
            other => {
                return Err(SqlError::new(
                    code::UNDEFINED_OBJECT,
                    format!("type \"{other}\" does not exist"),
                ))
            }
        },
        other => return Err(SqlError::unsupported(format!("type {other}"))),
    })
}

/// Binds `e` in `scope`.
pub fn bind(e: &ast::Expr, scope: &Scope, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    use ast::Expr as E;
    Ok(match e {
        E::Identifier(id) => {
            let (i, ty) = scope.resolve(None, &ident(id))?;
            Expr::Column(i, ty)
        }
        E::CompoundIdentifier(parts) if parts.len() == 2 => {
            let (i, ty) = scope.resolve(Some(&ident(&parts[0])), &ident(&parts[1]))?;
            Expr::Column(i, ty)
        }
        E::Nested(inner) => bind(inner, scope, ctx)?,
        E::Value(v) => bind_value(&v.value, ctx)?,
        E::TypedString(ts) => {
            let ty = data_type(&ts.data_type)?;
            let text = match &ts.value.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            };
            Expr::Coerce(
                Box::new(Expr::Literal(Datum::Text(text), DataType::Text)),
                ty,
            )
        }
        E::Cast {
            expr,
            data_type: dt,
            ..
        } => {
            let ty = data_type(dt)?;
            let inner = bind(expr, scope, ctx)?;
            if inner.is_unknown() {
                inner.coerce_to(ty)
            } else {
                Expr::Cast(Box::new(inner), ty)
            }
        }
        E::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Expr::Not(Box::new(bind(expr, scope, ctx)?.coerce_to(DataType::Bool))),
        E::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match bind(expr, scope, ctx)? {
            Expr::Literal(Datum::Int4(v), t) => Expr::Literal(Datum::Int4(-v), t),
            Expr::Literal(Datum::Int8(v), t) => Expr::Literal(Datum::Int8(-v), t),
            Expr::Literal(Datum::Float8(v), t) => Expr::Literal(Datum::Float8(-v), t),
            inner => Expr::Neg(Box::new(inner)),
        },
        E::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => bind(expr, scope, ctx)?,
        E::IsNull(inner) => Expr::IsNull(Box::new(bind(inner, scope, ctx)?), false),
        E::IsNotNull(inner) => Expr::IsNull(Box::new(bind(inner, scope, ctx)?), true),
        E::InList {
            expr,
            list,
            negated,
        } => {
            let l = bind(expr, scope, ctx)?;
            let ty = l.ty();
            let items = list
                .iter()
                .map(|x| Ok(bind(x, scope, ctx)?.coerce_to(ty)))
                .collect::<Result<Vec<_>, SqlError>>()?;
            Expr::InList(Box::new(l), items, *negated)
        }
        E::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let v = bind(expr, scope, ctx)?;
            let ty = v.ty();
            let lo = bind(low, scope, ctx)?.coerce_to(ty);
            let hi = bind(high, scope, ctx)?.coerce_to(ty);
            let both = Expr::Binary(
                BinOp::And,
                Box::new(Expr::Binary(
                    BinOp::Ge,
                    Box::new(v.clone()),
                    Box::new(lo),
                    DataType::Bool,
                )),
                Box::new(Expr::Binary(
                    BinOp::Le,
                    Box::new(v),
                    Box::new(hi),
                    DataType::Bool,
                )),
                DataType::Bool,
            );
            if *negated {
                Expr::Not(Box::new(both))
            } else {
                both
            }
        }
        E::Like {
            negated,
            expr,
            pattern,
            ..
        }
        | E::ILike {
            negated,
            expr,
            pattern,
            ..
        } => Expr::Like {
            expr: Box::new(bind(expr, scope, ctx)?),
            pattern: Box::new(bind(pattern, scope, ctx)?.coerce_to(DataType::Text)),
            negated: *negated,
            case_insensitive: matches!(e, E::ILike { .. }),
        },
        E::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let operand = operand.as_ref().map(|o| bind(o, scope, ctx)).transpose()?;
            let mut whens = Vec::new();
            let mut ty: Option<DataType> = None;
            for cw in conditions {
                let c = bind(&cw.condition, scope, ctx)?;
                let c = match &operand {
                    Some(o) => c.coerce_to(o.ty()),
                    None => c.coerce_to(DataType::Bool),
                };
                let r = bind(&cw.result, scope, ctx)?;
                if !r.is_unknown() {
                    ty.get_or_insert(r.ty());
                }
                whens.push((c, r));
            }
            let otherwise = else_result
                .as_ref()
                .map(|x| bind(x, scope, ctx))
                .transpose()?;
            let ty = ty
                .or_else(|| {
                    otherwise
                        .as_ref()
                        .filter(|o| !o.is_unknown())
                        .map(|o| o.ty())
                })
                .unwrap_or(DataType::Text);
            let whens = whens
                .into_iter()
                .map(|(c, r)| (c, r.coerce_to(ty)))
                .collect();
            Expr::Case {
                operand: operand.map(Box::new),
                whens,
                otherwise: otherwise.map(|o| Box::new(o.coerce_to(ty))),
                ty,
            }
        }
        E::BinaryOp { left, op, right } => {
            bind_binary(op, bind(left, scope, ctx)?, bind(right, scope, ctx)?, ctx)?
        }
        E::Function(f) => bind_function(f, scope, ctx)?,
        other => return Err(SqlError::unsupported(format!("expression {other}"))),
    })
}

fn ident(id: &ast::Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

fn bind_value(v: &ast::Value, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    Ok(match v {
        ast::Value::Number(n, _) => {
            if let Ok(i) = n.parse::<i32>() {
                Expr::Literal(Datum::Int4(i), DataType::Int4)
            } else if let Ok(i) = n.parse::<i64>() {
                Expr::Literal(Datum::Int8(i), DataType::Int8)
            } else {
                let num: Numeric = n.parse().map_err(lit_err)?;
                Expr::Literal(Datum::Numeric(num), DataType::Numeric)
            }
        }
        ast::Value::SingleQuotedString(s)
        | ast::Value::EscapedStringLiteral(s)
        | ast::Value::DollarQuotedString(ast::DollarQuotedString { value: s, .. }) => {
            Expr::Literal(Datum::Text(s.clone()), DataType::Text)
        }
        ast::Value::Boolean(b) => Expr::Literal(Datum::Bool(*b), DataType::Bool),
        ast::Value::Null => Expr::Literal(Datum::Null, DataType::Text),
        ast::Value::Placeholder(p) => {
            let n: usize = p
                .strip_prefix('$')
                .and_then(|d| d.parse().ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| SqlError::new(code::SYNTAX_ERROR, format!("bad parameter {p}")))?;
            if ctx.params.len() < n {
                ctx.params.resize(n, None);
            }
            Expr::Param(n - 1, ctx.params[n - 1].unwrap_or(DataType::Text))
        }
        other => return Err(SqlError::unsupported(format!("literal {other}"))),
    })
}

/// Types an untyped parameter from its use, recording the inference.
fn infer_param(e: Expr, ty: DataType, ctx: &mut BindCtx<'_>) -> Expr {
    if let Expr::Param(i, DataType::Text) = e {
        if ctx.params[i].is_none() {
            ctx.params[i] = Some(ty);
            return Expr::Param(i, ty);
        }
    }
    e.coerce_to(ty)
}

fn numeric_rank(t: DataType) -> Option<u8> {
    match t {
        DataType::Int2 => Some(1),
        DataType::Int4 => Some(2),
        DataType::Int8 => Some(3),
        DataType::Numeric => Some(4),
        DataType::Float4 => Some(5),
        DataType::Float8 => Some(6),
        _ => None,
    }
}

fn bind_binary(
    op: &BinaryOperator,
    l: Expr,
    r: Expr,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    use BinaryOperator as B;
    let bop = match op {
        B::Plus => BinOp::Add,
        B::Minus => BinOp::Sub,
        B::Multiply => BinOp::Mul,
        B::Divide => BinOp::Div,
        B::Modulo => BinOp::Mod,
        B::Eq => BinOp::Eq,
        B::NotEq => BinOp::Ne,
        B::Lt => BinOp::Lt,
        B::LtEq => BinOp::Le,
        B::Gt => BinOp::Gt,
        B::GtEq => BinOp::Ge,
        B::And => BinOp::And,
        B::Or => BinOp::Or,
        B::StringConcat => BinOp::Concat,
        B::Arrow => BinOp::Arrow,
        B::LongArrow => BinOp::LongArrow,
        B::HashArrow => BinOp::HashArrow,
        B::HashLongArrow => BinOp::HashLongArrow,
        B::AtArrow => BinOp::Contains,
        B::ArrowAt => BinOp::ContainedBy,
        B::Question => BinOp::Exists,
        other => return Err(SqlError::unsupported(format!("operator {other}"))),
    };
    // Untyped sides take the other side's type.
    let (l, r) = match (l.is_unknown(), r.is_unknown()) {
        (true, false) if !matches!(bop, BinOp::Concat) => {
            let t = r.ty();
            (infer_param(l, t, ctx), r)
        }
        (false, true)
            if !matches!(
                bop,
                BinOp::Arrow
                    | BinOp::LongArrow
                    | BinOp::HashArrow
                    | BinOp::HashLongArrow
                    | BinOp::Exists
                    | BinOp::Concat
            ) =>
        {
            let t = l.ty();
            (l, infer_param(r, t, ctx))
        }
        _ => (l, r),
    };
    let (lt, rt) = (l.ty(), r.ty());
    let ty = match bop {
        BinOp::And | BinOp::Or => {
            return Ok(Expr::Binary(
                bop,
                Box::new(l.coerce_to(DataType::Bool)),
                Box::new(r.coerce_to(DataType::Bool)),
                DataType::Bool,
            ))
        }
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            comparable(lt, rt)?;
            DataType::Bool
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
            let (Some(a), Some(b)) = (numeric_rank(lt), numeric_rank(rt)) else {
                return Err(no_operator(op, lt, rt));
            };
            let widest = if a >= b { lt } else { rt };
            match widest {
                DataType::Int2 => DataType::Int2.max_int(lt, rt),
                t => t,
            }
        }
        BinOp::Concat if lt == DataType::Jsonb && rt == DataType::Jsonb => {
            return Ok(Expr::Binary(
                BinOp::JsonbConcat,
                Box::new(l),
                Box::new(r),
                DataType::Jsonb,
            ))
        }
        BinOp::Concat => DataType::Text,
        BinOp::Arrow | BinOp::HashArrow => {
            require_json(op, lt, rt)?;
            lt
        }
        BinOp::LongArrow | BinOp::HashLongArrow => {
            require_json(op, lt, rt)?;
            DataType::Text
        }
        BinOp::Contains | BinOp::ContainedBy => {
            let r = r.coerce_to(DataType::Jsonb);
            let l = l.coerce_to(DataType::Jsonb);
            return Ok(Expr::Binary(bop, Box::new(l), Box::new(r), DataType::Bool));
        }
        BinOp::Exists => DataType::Bool,
        BinOp::JsonbConcat => DataType::Jsonb,
    };
    Ok(Expr::Binary(bop, Box::new(l), Box::new(r), ty))
}

trait MaxInt {
    fn max_int(self, a: DataType, b: DataType) -> DataType;
}
impl MaxInt for DataType {
    fn max_int(self, a: DataType, b: DataType) -> DataType {
        if numeric_rank(a) >= numeric_rank(b) {
            a
        } else {
            b
        }
    }
}

fn require_json(op: &BinaryOperator, lt: DataType, rt: DataType) -> Result<(), SqlError> {
    if matches!(lt, DataType::Jsonb | DataType::Json) {
        Ok(())
    } else {
        Err(no_operator(op, lt, rt))
    }
}

fn no_operator(op: &BinaryOperator, lt: DataType, rt: DataType) -> SqlError {
    SqlError::new(code::UNDEFINED_FUNCTION, format!("operator does not exist: {} {op} {}", lt.format_type(), rt.format_type()))
        .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts.")
}

fn comparable(a: DataType, b: DataType) -> Result<(), SqlError> {
    let family = |t: DataType| match t {
        DataType::Int2
        | DataType::Int4
        | DataType::Int8
        | DataType::Numeric
        | DataType::Float4
        | DataType::Float8 => 1,
        DataType::Text | DataType::Varchar { .. } => 2,
        DataType::Timestamp | DataType::TimestampTz | DataType::Date => 3,
        other => 10 + other.oid().0,
    };
    if family(a) == family(b) {
        Ok(())
    } else {
        Err(SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!("operator does not exist: {} = {}", a.format_type(), b.format_type()),
        )
        .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts."))
    }
}

fn bind_function(
    f: &ast::Function,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let name = f.name.to_string().to_lowercase();
    let args: Vec<Expr> = match &f.args {
        ast::FunctionArguments::None => Vec::new(),
        ast::FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => bind(e, scope, ctx),
                other => Err(SqlError::unsupported(format!("function argument {other}"))),
            })
            .collect::<Result<_, _>>()?,
        ast::FunctionArguments::Subquery(_) => {
            return Err(SqlError::unsupported("subquery as a function argument"))
        }
    };
    let (func, ty) = match (name.as_str(), args.len()) {
        ("now" | "current_timestamp" | "transaction_timestamp", 0) => {
            (Func::Now, DataType::TimestampTz)
        }
        ("gen_random_uuid", 0) => (Func::GenRandomUuid, DataType::Uuid),
        ("lower", 1) => (Func::Lower, DataType::Text),
        ("upper", 1) => (Func::Upper, DataType::Text),
        ("length" | "char_length", 1) => (Func::Length, DataType::Int4),
        ("abs", 1) => (Func::Abs, args[0].ty()),
        ("jsonb_typeof", 1) => (Func::JsonbTypeof, DataType::Text),
        ("version", 0) => (Func::Version, DataType::Text),
        ("current_database", 0) => (Func::CurrentDatabase, DataType::Text),
        ("current_user" | "session_user" | "user", 0) => (Func::CurrentUser, DataType::Text),
        ("current_schema", 0) => (Func::CurrentSchema, DataType::Text),
        ("coalesce", n) if n > 0 => {
            let ty = args
                .iter()
                .find(|a| !a.is_unknown())
                .map(|a| a.ty())
                .unwrap_or(DataType::Text);
            let args = args.into_iter().map(|a| a.coerce_to(ty)).collect();
            return Ok(Expr::Call(Func::Coalesce, args, ty));
        }
        _ => {
            let types: Vec<String> = args.iter().map(|a| a.ty().format_type()).collect();
            return Err(SqlError::new(code::UNDEFINED_FUNCTION, format!("function {name}({}) does not exist", types.join(", ")))
                .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."));
        }
    };
    let args = match func {
        Func::Lower | Func::Upper | Func::Length => args
            .into_iter()
            .map(|a| a.coerce_to(DataType::Text))
            .collect(),
        Func::JsonbTypeof => args
            .into_iter()
            .map(|a| a.coerce_to(DataType::Jsonb))
            .collect(),
        _ => args,
    };
    Ok(Expr::Call(func, args, ty))
}

/// Per-statement values evaluation needs.
pub struct EvalCtx<'a> {
    /// Parameter values.
    pub params: &'a [Datum],
    /// Aggregate results of the current group.
    pub aggregates: &'a [Datum],
    /// Text I/O settings.
    pub text: &'a TextContext,
    /// Transaction start (µs since 2000-01-01 UTC).
    pub now: i64,
    /// Database name, user name.
    pub database: &'a str,
    /// Session user.
    pub user: &'a str,
}

/// The jsonb hooks for text I/O.
pub fn jsonb_hooks() -> JsonbHooks {
    JsonbHooks {
        parse: |t| {
            Jsonb::parse(t)
                .map(Jsonb::into_bytes)
                .map_err(|e| pgtext::TypeError::Jsonb {
                    sqlstate: e.sqlstate(),
                    message: e.to_string(),
                    detail: e.detail(),
                    hint: e.hint(),
                })
        },
        format: |b| match Jsonb::from_bytes(b.to_vec()) {
            Ok(j) => j.to_string(),
            Err(e) => format!("<corrupt jsonb: {e}>"),
        },
    }
}

fn type_err(e: pgtext::TypeError) -> SqlError {
    let mut s = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(d) = e.detail() {
        s = s.with_detail(d.to_string());
    }
    if let Some(h) = e.hint() {
        s = s.with_hint(h);
    }
    s
}

fn json_err(e: crate::jsonb::JsonbError) -> SqlError {
    let mut s = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(d) = e.detail() {
        s = s.with_detail(d);
    }
    if let Some(h) = e.hint() {
        s = s.with_hint(h);
    }
    s
}

/// Converts a value to `ty` as an explicit cast does (`crate::cast`).
pub fn cast(d: Datum, ty: DataType, ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    crate::cast::cast(d, &ty, ctx.text).map_err(type_err)
}

/// Converts a value for storage in a column of type `ty` (assignment cast).
pub fn assign(d: Datum, ty: DataType, ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    crate::cast::assign(d, &ty, ctx.text).map_err(type_err)
}

fn out_of_range(t: &str) -> SqlError {
    SqlError::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{t} out of range"),
    )
}

/// Compares two non-NULL values of comparable types.
pub fn compare(a: &Datum, b: &Datum) -> Result<Ordering, SqlError> {
    if let Some(o) = a.cmp_same_type(b) {
        return Ok(o);
    }
    let f = |d: &Datum| -> Option<f64> {
        match d {
            Datum::Int2(v) => Some(f64::from(*v)),
            Datum::Int4(v) => Some(f64::from(*v)),
            Datum::Int8(v) => Some(*v as f64),
            Datum::Float4(v) => Some(f64::from(*v)),
            Datum::Float8(v) => Some(*v),
            Datum::Numeric(n) => n.to_string().parse().ok(),
            _ => None,
        }
    };
    match (a, b) {
        (Datum::Jsonb(x), Datum::Jsonb(y)) => {
            let (x, y) = (
                JsonbRef::from_document(x).map_err(json_err)?,
                JsonbRef::from_document(y).map_err(json_err)?,
            );
            x.compare(&y).map_err(json_err)
        }
        _ => match (f(a), f(b)) {
            (Some(x), Some(y)) => Ok(crate::datum::cmp_f64(x, y)),
            _ => Err(SqlError::new(
                code::DATATYPE_MISMATCH,
                format!("cannot compare {a:?} and {b:?}"),
            )),
        },
    }
}

/// Evaluates `e` on `row`.
pub fn eval(e: &Expr, row: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    Ok(match e {
        Expr::Literal(d, _) => d.clone(),
        Expr::Column(i, _) => row[*i].clone(),
        Expr::Param(i, ty) => {
            let d = ctx.params.get(*i).cloned().ok_or_else(|| {
                SqlError::new(
                    code::SYNTAX_ERROR,
                    format!("there is no parameter ${}", i + 1),
                )
            })?;
            match d {
                Datum::Text(ref s) if *ty != DataType::Text => {
                    pgtext::parse(ty, s, ctx.text).map_err(type_err)?
                }
                d => d,
            }
        }
        Expr::Coerce(inner, ty) => match eval(inner, row, ctx)? {
            Datum::Null => Datum::Null,
            Datum::Text(s) => pgtext::parse(ty, &s, ctx.text).map_err(type_err)?,
            d => cast(d, *ty, ctx)?,
        },
        Expr::Cast(inner, ty) => cast(eval(inner, row, ctx)?, *ty, ctx)?,
        Expr::Not(inner) => match eval(inner, row, ctx)? {
            Datum::Bool(b) => Datum::Bool(!b),
            _ => Datum::Null,
        },
        Expr::Neg(inner) => match eval(inner, row, ctx)? {
            Datum::Int2(v) => Datum::Int2(v.checked_neg().ok_or_else(|| out_of_range("smallint"))?),
            Datum::Int4(v) => Datum::Int4(v.checked_neg().ok_or_else(|| out_of_range("integer"))?),
            Datum::Int8(v) => Datum::Int8(v.checked_neg().ok_or_else(|| out_of_range("bigint"))?),
            Datum::Float4(v) => Datum::Float4(-v),
            Datum::Float8(v) => Datum::Float8(-v),
            Datum::Null => Datum::Null,
            other => return Err(SqlError::unsupported(format!("negating {other:?}"))),
        },
        Expr::IsNull(inner, negated) => Datum::Bool(eval(inner, row, ctx)?.is_null() != *negated),
        Expr::InList(v, list, negated) => {
            let v = eval(v, row, ctx)?;
            if v.is_null() {
                return Ok(Datum::Null);
            }
            let mut saw_null = false;
            for item in list {
                let x = eval(item, row, ctx)?;
                if x.is_null() {
                    saw_null = true;
                } else if compare(&v, &x)? == Ordering::Equal {
                    return Ok(Datum::Bool(!negated));
                }
            }
            if saw_null {
                Datum::Null
            } else {
                Datum::Bool(*negated)
            }
        }
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => {
            let (v, p) = (eval(expr, row, ctx)?, eval(pattern, row, ctx)?);
            match (v, p) {
                (Datum::Null, _) | (_, Datum::Null) => Datum::Null,
                (v, Datum::Text(p)) => {
                    let s = match v {
                        Datum::Text(s) => s,
                        other => pgtext::format(&other, ctx.text),
                    };
                    let m = if *case_insensitive {
                        like(&s.to_lowercase(), &p.to_lowercase())
                    } else {
                        like(&s, &p)
                    };
                    Datum::Bool(m != *negated)
                }
                _ => Datum::Null,
            }
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
            ..
        } => {
            let op = operand.as_ref().map(|o| eval(o, row, ctx)).transpose()?;
            for (c, r) in whens {
                let cv = eval(c, row, ctx)?;
                let hit = match &op {
                    Some(o) => !o.is_null() && !cv.is_null() && compare(o, &cv)? == Ordering::Equal,
                    None => matches!(cv, Datum::Bool(true)),
                };
                if hit {
                    return eval(r, row, ctx);
                }
            }
            match otherwise {
                Some(o) => eval(o, row, ctx)?,
                None => Datum::Null,
            }
        }
        Expr::Binary(op, l, r, ty) => binary(*op, l, r, *ty, row, ctx)?,
        Expr::Call(f, args, ty) => call(*f, args, *ty, row, ctx)?,
        Expr::Aggregate(i, _) => ctx.aggregates[*i].clone(),
    })
}

fn like(s: &str, p: &str) -> bool {
    // Iterative LIKE with % and _ and backslash escapes.
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    fn m(s: &[char], p: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| m(&s[i..], &p[1..])),
            Some('_') => !s.is_empty() && m(&s[1..], &p[1..]),
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && m(&s[1..], &p[2..]),
            Some(c) => s.first() == Some(c) && m(&s[1..], &p[1..]),
        }
    }
    m(&s, &p)
}

fn binary(
    op: BinOp,
    l: &Expr,
    r: &Expr,
    ty: DataType,
    row: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    // Three-valued logic: AND/OR look at NULLs themselves.
    if matches!(op, BinOp::And | BinOp::Or) {
        let a = eval(l, row, ctx)?;
        let a = match a {
            Datum::Bool(b) => Some(b),
            _ => None,
        };
        if op == BinOp::And && a == Some(false) {
            return Ok(Datum::Bool(false));
        }
        if op == BinOp::Or && a == Some(true) {
            return Ok(Datum::Bool(true));
        }
        let b = match eval(r, row, ctx)? {
            Datum::Bool(b) => Some(b),
            _ => None,
        };
        return Ok(match (op, a, b) {
            (BinOp::And, _, Some(false)) => Datum::Bool(false),
            (BinOp::And, Some(true), Some(true)) => Datum::Bool(true),
            (BinOp::Or, _, Some(true)) => Datum::Bool(true),
            (BinOp::Or, Some(false), Some(false)) => Datum::Bool(false),
            _ => Datum::Null,
        });
    }
    let a = eval(l, row, ctx)?;
    let b = eval(r, row, ctx)?;
    if a.is_null() || b.is_null() {
        return Ok(Datum::Null);
    }
    Ok(match op {
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let o = compare(&a, &b)?;
            Datum::Bool(match op {
                BinOp::Eq => o == Ordering::Equal,
                BinOp::Ne => o != Ordering::Equal,
                BinOp::Lt => o == Ordering::Less,
                BinOp::Le => o != Ordering::Greater,
                BinOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
            arith(op, cast(a, ty, ctx)?, cast(b, ty, ctx)?)?
        }
        BinOp::Concat => {
            let t = |d: Datum| match d {
                Datum::Text(s) => s,
                other => pgtext::format(&other, ctx.text),
            };
            Datum::Text(t(a) + &t(b))
        }
        BinOp::JsonbConcat => {
            let (x, y) = (jsonb_of(&a)?, jsonb_of(&b)?);
            Datum::Jsonb(x.view().concat(&y.view()).map_err(json_err)?.into_bytes())
        }
        BinOp::Arrow | BinOp::LongArrow => {
            let j = jsonb_of(&a)?;
            let v = j.view();
            let text = op == BinOp::LongArrow;
            match b {
                Datum::Int2(_) | Datum::Int4(_) | Datum::Int8(_) => {
                    let i = match b {
                        Datum::Int2(i) => i32::from(i),
                        Datum::Int4(i) => i,
                        Datum::Int8(i) => i32::try_from(i).unwrap_or(i32::MAX),
                        _ => unreachable!("matched above"),
                    };
                    if text {
                        v.index_text(i)
                            .map_err(json_err)?
                            .map(Datum::Text)
                            .unwrap_or(Datum::Null)
                    } else {
                        v.index(i)
                            .map_err(json_err)?
                            .map(|x| x.to_jsonb().map(|j| Datum::Jsonb(j.into_bytes())))
                            .transpose()
                            .map_err(json_err)?
                            .unwrap_or(Datum::Null)
                    }
                }
                Datum::Text(k) => {
                    if text {
                        v.get_text(&k)
                            .map_err(json_err)?
                            .map(Datum::Text)
                            .unwrap_or(Datum::Null)
                    } else {
                        v.get(&k)
                            .map_err(json_err)?
                            .map(|x| x.to_jsonb().map(|j| Datum::Jsonb(j.into_bytes())))
                            .transpose()
                            .map_err(json_err)?
                            .unwrap_or(Datum::Null)
                    }
                }
                other => return Err(SqlError::unsupported(format!("jsonb -> {other:?}"))),
            }
            .retype(ty, ctx)?
        }
        BinOp::Contains | BinOp::ContainedBy => {
            let (x, y) = (jsonb_of(&a)?, jsonb_of(&b)?);
            let r = if op == BinOp::Contains {
                x.view().contains(&y.view())
            } else {
                x.view().contained_by(&y.view())
            };
            Datum::Bool(r.map_err(json_err)?)
        }
        BinOp::Exists => {
            let x = jsonb_of(&a)?;
            let Datum::Text(k) = b else {
                return Err(SqlError::unsupported("jsonb ? with a non-text key"));
            };
            Datum::Bool(x.view().exists(&k).map_err(json_err)?)
        }
        BinOp::HashArrow | BinOp::HashLongArrow => {
            return Err(SqlError::unsupported("#> and #>> path operators"))
        }
        BinOp::And | BinOp::Or => unreachable!("handled above"),
    })
}

trait Retype {
    fn retype(self, ty: DataType, ctx: &EvalCtx<'_>) -> Result<Datum, SqlError>;
}
impl Retype for Datum {
    /// `json -> x` yields json, `jsonb -> x` jsonb.
    fn retype(self, ty: DataType, ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
        match (self, ty) {
            (Datum::Jsonb(b), DataType::Json) => cast(Datum::Jsonb(b), DataType::Json, ctx),
            (d, _) => Ok(d),
        }
    }
}

fn jsonb_of(d: &Datum) -> Result<Jsonb, SqlError> {
    match d {
        Datum::Jsonb(b) => Jsonb::from_bytes(b.clone()).map_err(json_err),
        Datum::Json(s) => Jsonb::parse(s).map_err(json_err),
        other => Err(SqlError::new(
            code::DATATYPE_MISMATCH,
            format!("expected jsonb, got {other:?}"),
        )),
    }
}

/// Checked integer arithmetic: overflow is 22003, division by zero 22012.
macro_rules! int_arith {
    ($op:expr, $x:expr, $y:expr, $name:expr) => {{
        let (x, y) = ($x, $y);
        if matches!($op, BinOp::Div | BinOp::Mod) && y == 0 {
            return Err(SqlError::new(code::DIVISION_BY_ZERO, "division by zero"));
        }
        match $op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div => x.checked_div(y),
            _ => x.checked_rem(y),
        }
        .ok_or_else(|| out_of_range($name))?
    }};
}

fn arith(op: BinOp, a: Datum, b: Datum) -> Result<Datum, SqlError> {
    Ok(match (a, b) {
        (Datum::Int2(x), Datum::Int2(y)) => Datum::Int2(int_arith!(op, x, y, "smallint")),
        (Datum::Int4(x), Datum::Int4(y)) => Datum::Int4(int_arith!(op, x, y, "integer")),
        (Datum::Int8(x), Datum::Int8(y)) => Datum::Int8(int_arith!(op, x, y, "bigint")),
        (Datum::Float8(x), Datum::Float8(y)) => {
            if op == BinOp::Div && y == 0.0 {
                return Err(SqlError::new(code::DIVISION_BY_ZERO, "division by zero"));
            }
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
                _ => x % y,
            };
            if r.is_infinite() && x.is_finite() && y.is_finite() {
                return Err(SqlError::new(
                    code::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: overflow",
                ));
            }
            Datum::Float8(r)
        }
        (Datum::Float4(x), Datum::Float4(y)) => {
            match arith(op, Datum::Float8(f64::from(x)), Datum::Float8(f64::from(y)))? {
                Datum::Float8(r) => Datum::Float4(r as f32),
                other => other,
            }
        }
        (a, b) => {
            return Err(SqlError::unsupported(format!(
                "arithmetic on {:?} and {:?}",
                a.data_type(),
                b.data_type()
            )))
        }
    })
}

fn call(
    f: Func,
    args: &[Expr],
    ty: DataType,
    row: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    let vals = |ctx: &EvalCtx<'_>| {
        args.iter()
            .map(|a| eval(a, row, ctx))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match f {
        Func::Now => Datum::TimestampTz(ctx.now),
        Func::GenRandomUuid => {
            let mut b = [0u8; 16];
            fill_random(&mut b);
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            Datum::Uuid(b)
        }
        Func::Version => Datum::Text(crate::sql::session::VERSION_STRING.to_string()),
        Func::CurrentDatabase => Datum::Text(ctx.database.to_string()),
        Func::CurrentUser => Datum::Text(ctx.user.to_string()),
        Func::CurrentSchema => Datum::Text("public".into()),
        Func::Coalesce => {
            for a in args {
                let v = eval(a, row, ctx)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Datum::Null
        }
        Func::Lower | Func::Upper | Func::Length | Func::Abs | Func::JsonbTypeof => {
            let v = vals(ctx)?.remove(0);
            match (f, v) {
                (_, Datum::Null) => Datum::Null,
                (Func::Lower, Datum::Text(s)) => Datum::Text(s.to_lowercase()),
                (Func::Upper, Datum::Text(s)) => Datum::Text(s.to_uppercase()),
                (Func::Length, Datum::Text(s)) => Datum::Int4(s.chars().count() as i32),
                (Func::Abs, Datum::Int4(v)) => {
                    Datum::Int4(v.checked_abs().ok_or_else(|| out_of_range("integer"))?)
                }
                (Func::Abs, Datum::Int8(v)) => {
                    Datum::Int8(v.checked_abs().ok_or_else(|| out_of_range("bigint"))?)
                }
                (Func::Abs, Datum::Float8(v)) => Datum::Float8(v.abs()),
                (Func::JsonbTypeof, d) => Datum::Text(jsonb_of(&d)?.view().type_name().to_string()),
                (f, v) => {
                    return Err(SqlError::unsupported(format!(
                        "{f:?} on {v:?} (type {ty:?})"
                    )))
                }
            }
        }
    })
}

fn fill_random(buf: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS; two hashes give 16 random bytes.
    for chunk in buf.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        );
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}
