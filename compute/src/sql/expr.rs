//! Scalar expressions: binding sqlparser's AST to typed expressions over a
//! row, and evaluating them with PostgreSQL's NULL semantics.
//!
//! Binding resolves column names against a [`Scope`] (the columns of the
//! row being evaluated), types every node on PostgreSQL's type system, and
//! turns untyped literals and parameters into the type their context needs,
//! as PostgreSQL's "unknown" type does. Evaluation is a plain recursive walk
//! over one row.

use std::borrow::Cow;
use std::cmp::Ordering;

use std::sync::Arc;

use sqlparser::ast::{self, BinaryOperator, UnaryOperator};

use crate::datum::{DataType, Datum, Numeric};
use crate::jsonb::{Jsonb, JsonbRef};
use crate::pgtext::{self, JsonbHooks, TextContext};
use crate::sql::error::{code, SqlError};
use crate::sql::plan::Query;
use crate::sql::record;

/// One column visible to an expression.
#[derive(Clone, Debug)]
pub struct ScopeColumn {
    /// Table name or alias qualifying the column.
    pub table: Option<String>,
    /// Column name.
    pub name: String,
    /// Type.
    pub ty: DataType,
    /// Hidden from `*` and from unqualified names (the right-hand copy of
    /// a `JOIN ... USING` column).
    pub hidden: bool,
    /// The stored table column this is, when it is one.
    pub origin: Option<ColumnOrigin>,
}

/// The table column a result column is, as it is stored: PostgreSQL's
/// `resorigtbl`/`resorigcol`, which RowDescription carries so that clients
/// (pgjdbc's `ResultSetMetaData`) can look up the column's table and
/// constraints; and its type modifier (`numeric(10,2)`), which the
/// expression's type alone does not keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnOrigin {
    /// The table's object id.
    pub table: crate::catalog::ObjectId,
    /// `pg_attribute.attnum`: the column's position, from 1.
    pub attnum: i16,
    /// `pg_attribute.atttypmod`.
    pub typmod: i32,
}

impl ScopeColumn {
    /// A visible column.
    pub fn new(table: Option<String>, name: impl Into<String>, ty: DataType) -> ScopeColumn {
        ScopeColumn {
            table,
            name: name.into(),
            ty,
            hidden: false,
            origin: None,
        }
    }
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
    /// The position and type of column `table.name` (or `name`): `Ok(None)`
    /// when this scope has no such column.
    pub fn lookup(
        &self,
        table: Option<&str>,
        name: &str,
    ) -> Result<Option<(usize, DataType)>, SqlError> {
        if let Some(t) = table {
            if let Some((_, _, i)) = self
                .aliases
                .iter()
                .find(|(at, an, _)| at == t && an == name)
            {
                return Ok(Some((*i, self.columns[*i].ty)));
            }
        }
        let mut found = self.columns.iter().enumerate().filter(|(_, c)| {
            c.name == name
                && match table {
                    Some(t) => c.table.as_deref() == Some(t),
                    None => !c.hidden,
                }
        });
        let Some((i, c)) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(SqlError::new(
                code::AMBIGUOUS_COLUMN,
                format!("column reference \"{name}\" is ambiguous"),
            ));
        }
        Ok(Some((i, c.ty)))
    }

    /// True when some column is qualified by `table`.
    pub fn has_table(&self, table: &str) -> bool {
        self.columns
            .iter()
            .any(|c| c.table.as_deref() == Some(table))
            || self.aliases.iter().any(|(t, _, _)| t == table)
    }

    /// The position and type of column `table.name` (or `name`).
    pub fn resolve(&self, table: Option<&str>, name: &str) -> Result<(usize, DataType), SqlError> {
        self.lookup(table, name)?
            .ok_or_else(|| missing_column(table, name, std::slice::from_ref(self)))
    }
}

/// 42P01 for an unknown qualifier, else 42703 with PostgreSQL's
/// "Perhaps you meant" hint for a near miss.
fn missing_column(table: Option<&str>, name: &str, scopes: &[Scope]) -> SqlError {
    let err = match table {
        Some(t) if !scopes.iter().any(|s| s.has_table(t)) => {
            return SqlError::new(
                code::UNDEFINED_TABLE,
                format!("missing FROM-clause entry for table \"{t}\""),
            )
        }
        Some(t) => SqlError::new(
            code::UNDEFINED_COLUMN,
            format!("column {t}.{name} does not exist"),
        ),
        None => SqlError::new(
            code::UNDEFINED_COLUMN,
            format!("column \"{name}\" does not exist"),
        ),
    };
    match fuzzy_column(table, name, scopes) {
        Some(hint) => err.with_hint(hint),
        None => err,
    }
}

/// PostgreSQL's choice of a column to suggest (parse_relation.c): the
/// closest by edit distance, at most 3 edits and at most half the name,
/// dropped when three columns tie.
fn fuzzy_column(table: Option<&str>, name: &str, scopes: &[Scope]) -> Option<String> {
    const MAX_FUZZY_DISTANCE: usize = 3;
    let mut best = MAX_FUZZY_DISTANCE + 1;
    let mut first: Option<String> = None;
    let mut second: Option<String> = None;
    let match_len = name.chars().count();
    for scope in scopes.iter().rev() {
        for c in &scope.columns {
            if c.hidden || table.is_some_and(|t| c.table.as_deref() != Some(t)) {
                continue;
            }
            let d = levenshtein(&c.name, name);
            if d > match_len / 2 {
                continue;
            }
            let label = match &c.table {
                Some(t) if !t.is_empty() => format!("{t}.{}", c.name),
                _ => c.name.clone(),
            };
            if d < best {
                best = d;
                first = Some(label);
                second = None;
            } else if d == best {
                if second.is_some() {
                    first = None;
                    second = None;
                    best = d.saturating_sub(1);
                } else if first.is_some() {
                    second = Some(label);
                }
            }
        }
    }
    match (first, second) {
        (Some(a), Some(b)) => Some(format!(
            "Perhaps you meant to reference the column \"{a}\" or the column \"{b}\"."
        )),
        (Some(a), None) => Some(format!(
            "Perhaps you meant to reference the column \"{a}\"."
        )),
        _ => None,
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
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
    /// `?|`
    ExistsAny,
    /// `?&`
    ExistsAll,
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
    /// `a IS NOT DISTINCT FROM b`
    NotDistinct,
    /// `array[i]`
    Subscript,
    /// `nullif(a, b)`
    NullIf,
    /// `greatest(...)`
    Greatest,
    /// `least(...)`
    Least,
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
    /// `to_jsonb(record)`: an object of the record's fields by name.
    RecordToJsonb,
    /// `to_json(record)`, `row_to_json(record)`.
    RecordToJson,
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
        /// ESCAPE character (`\\` by default, `None` for ESCAPE '').
        escape: Option<char>,
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
    /// A call of the function library.
    Builtin(crate::sql::func::Builtin, Vec<Expr>, DataType),
    /// A catalog function (`format_type`, `pg_get_indexdef`, ...).
    CatalogCall(crate::sql::pg_catalog::CatalogFn, Vec<Expr>, DataType),
    /// An array function or operator.
    ArrayCall(crate::sql::array::ArrayFn, Vec<Expr>, DataType),
    /// `ARRAY[a, b, ...]` of the given array type.
    ArrayCons(Vec<Expr>, DataType),
    /// `ROW(a, b, ...)`, `(a, b, ...)` and a whole-row reference (`t`):
    /// a record of the given [`DataType::Record`] type.
    Row(Vec<Expr>, DataType),
    /// `(record).field`: field `n` of a record, of the given type (NULL
    /// for a NULL record).
    Field(Box<Expr>, usize, DataType),
    /// `lhs op ANY/ALL (array)`.
    AnyArray {
        /// Left-hand side.
        lhs: Box<Expr>,
        /// The comparison.
        op: BinOp,
        /// ALL instead of ANY.
        all: bool,
        /// The array.
        array: Box<Expr>,
    },
    /// Aggregate call `n` of the query level being bound (rewritten into a
    /// column of the aggregation's output before evaluation).
    Aggregate(usize, DataType),
    /// Set-returning call `n` of the select list being bound (rewritten into
    /// a column of the set projection's output before evaluation).
    Srf(usize, DataType),
    /// Window function call `n` of the query level being bound (rewritten
    /// into a column of the window node's output before evaluation).
    Window(usize, DataType),
    /// Column `index` of the row of the query `depth` levels out (1 = the
    /// query this one is a subquery of).
    Outer {
        /// Levels out.
        depth: usize,
        /// Column position in that level's row.
        index: usize,
        /// Type.
        ty: DataType,
    },
    /// A subquery used as an expression. The current row from `offset` on is
    /// what the subquery sees as its enclosing row.
    Subquery {
        /// The planned subquery.
        sub: Arc<SubPlan>,
        /// How its rows become a value.
        kind: SubKind,
        /// Where the enclosing row starts in the current row.
        offset: usize,
    },
}

/// A planned subquery.
#[derive(Debug)]
pub struct SubPlan {
    /// The query.
    pub query: Query,
    /// True when it reads columns of an enclosing query (evaluated per row;
    /// otherwise once per statement).
    pub correlated: bool,
}

/// How a subquery's rows become a value.
#[derive(Clone, Debug)]
pub enum SubKind {
    /// `(SELECT x ...)`: its one value, NULL for no rows.
    Scalar(DataType),
    /// `(SELECT x, y ...)` compared with a row constructor: its one row as
    /// a record of this type, NULL for no rows.
    Row(DataType),
    /// `EXISTS (...)`.
    Exists,
    /// `ARRAY(SELECT ...)`: its values as an array of this type.
    Array(DataType),
    /// `lhs [NOT] IN (SELECT ...)`, and `lhs op ANY/ALL (SELECT ...)`.
    Quantified {
        /// The left-hand side, evaluated on the current row.
        lhs: Box<Expr>,
        /// The comparison.
        op: BinOp,
        /// ALL instead of ANY.
        all: bool,
    },
}

/// An aggregate call found while binding.
#[derive(Clone, Debug)]
pub struct AggCall {
    /// Which aggregate.
    pub func: AggFunc,
    /// Arguments, over the aggregation's input row.
    pub args: Vec<Expr>,
    /// `DISTINCT` arguments.
    pub distinct: bool,
    /// `FILTER (WHERE ...)`.
    pub filter: Option<Expr>,
    /// `ORDER BY` inside the call (string_agg, jsonb_agg).
    pub order_by: Vec<SortKey>,
    /// Result type.
    pub ty: DataType,
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `count(*)`
    CountStar,
    /// `count(x)`
    Count,
    /// `sum(x)`
    Sum,
    /// `avg(x)`
    Avg,
    /// `min(x)`
    Min,
    /// `max(x)`
    Max,
    /// `string_agg(text, sep)`
    StringAgg,
    /// `jsonb_agg(x)`
    JsonbAgg,
    /// `jsonb_object_agg(k, v)`
    JsonbObjectAgg,
    /// `bool_and(x)`, `every(x)`
    BoolAnd,
    /// `bool_or(x)`
    BoolOr,
    /// `array_agg(x)`
    ArrayAgg,
    /// `GROUPING(a, ...)`: which of its arguments a grouping set leaves
    /// out, as a bit mask; the arguments are group keys.
    Grouping,
    /// `percentile_cont(fraction) WITHIN GROUP (ORDER BY x)`
    PercentileCont,
    /// `percentile_disc(fraction) WITHIN GROUP (ORDER BY x)`
    PercentileDisc,
    /// `mode() WITHIN GROUP (ORDER BY x)`
    Mode,
}

/// One sort key.
#[derive(Clone, Debug)]
pub struct SortKey {
    /// The key.
    pub expr: Expr,
    /// Ascending.
    pub asc: bool,
    /// NULLs before non-NULLs.
    pub nulls_first: bool,
}

/// A set-returning function call found while binding a select list.
#[derive(Clone, Debug)]
pub struct SrfCall {
    /// Which function.
    pub func: SrfFunc,
    /// Arguments, over the input row.
    pub args: Vec<Expr>,
    /// The function has several output columns, which the select list
    /// sees as one record (`_pg_expandarray(a)` is `(x, n)`).
    pub record: bool,
}

/// Set-returning functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrfFunc {
    /// `generate_series(start, stop[, step])`
    GenerateSeries,
    /// `jsonb_array_elements(jsonb)` → `value jsonb`
    JsonbArrayElements,
    /// `jsonb_array_elements_text(jsonb)` → `value text`
    JsonbArrayElementsText,
    /// `jsonb_each(jsonb)` → `key text, value jsonb`
    JsonbEach,
    /// `jsonb_each_text(jsonb)` → `key text, value text`
    JsonbEachText,
    /// `jsonb_object_keys(jsonb)` → text
    JsonbObjectKeys,
    /// `unnest(anyarray)` → the elements
    Unnest,
    /// `information_schema._pg_expandarray(anyarray)` → `x` (an element),
    /// `n` (its position from 1): PostgreSQL's SQL function that pgjdbc's
    /// `DatabaseMetaData` uses to pair `pg_index.indkey` with key numbers.
    PgExpandArray,
    /// `generate_subscripts(anyarray, int4 [, bool])` → the subscripts of
    /// a dimension (arrays here have one), descending when the flag is set
    GenerateSubscripts,
    /// `sextant_replica_status()`: one row per compute node this one knows
    /// (after Aurora's `aurora_replica_status()`).
    ReplicaStatus,
}

impl SrfFunc {
    /// Resolves a set-returning function and its output columns (name and
    /// type; one unnamed column is named after the function).
    pub fn resolve(name: &str, args: &[DataType]) -> Option<(SrfFunc, Vec<(String, DataType)>)> {
        let json = |t: &DataType| matches!(t, DataType::Jsonb | DataType::Text);
        let one = |n: &str, t| vec![(n.to_string(), t)];
        Some(match (name, args) {
            ("generate_series", [a, b] | [a, b, _]) => {
                let t = match (a, b) {
                    (DataType::Int2 | DataType::Int4, DataType::Int2 | DataType::Int4) => {
                        DataType::Int4
                    }
                    (DataType::Timestamp, _) | (_, DataType::Timestamp) => DataType::Timestamp,
                    (DataType::TimestampTz, _) | (_, DataType::TimestampTz) => {
                        DataType::TimestampTz
                    }
                    (DataType::Numeric, _) | (_, DataType::Numeric) => DataType::Numeric,
                    (x, y) if numeric_rank(*x).is_some() && numeric_rank(*y).is_some() => {
                        DataType::Int8
                    }
                    _ => return None,
                };
                (SrfFunc::GenerateSeries, one("generate_series", t))
            }
            ("jsonb_array_elements", [t]) if json(t) => {
                (SrfFunc::JsonbArrayElements, one("value", DataType::Jsonb))
            }
            ("jsonb_array_elements_text", [t]) if json(t) => (
                SrfFunc::JsonbArrayElementsText,
                one("value", DataType::Text),
            ),
            ("jsonb_each", [t]) if json(t) => (
                SrfFunc::JsonbEach,
                vec![
                    ("key".into(), DataType::Text),
                    ("value".into(), DataType::Jsonb),
                ],
            ),
            ("jsonb_each_text", [t]) if json(t) => (
                SrfFunc::JsonbEachText,
                vec![
                    ("key".into(), DataType::Text),
                    ("value".into(), DataType::Text),
                ],
            ),
            ("jsonb_object_keys", [t]) if json(t) => (
                SrfFunc::JsonbObjectKeys,
                one("jsonb_object_keys", DataType::Text),
            ),
            ("sextant_replica_status", []) => (
                SrfFunc::ReplicaStatus,
                vec![
                    ("server_id".into(), DataType::Text),
                    ("role".into(), DataType::Text),
                    ("is_connected".into(), DataType::Bool),
                    ("durable_lsn".into(), DataType::Int8),
                    ("current_read_lsn".into(), DataType::Int8),
                    ("oldest_read_lsn".into(), DataType::Int8),
                    ("replica_lag_in_lsn".into(), DataType::Int8),
                    ("replica_lag_in_msec".into(), DataType::Int8),
                ],
            ),
            ("generate_subscripts", [t, d] | [t, d, DataType::Bool])
                if t.elem().is_some() && matches!(d, DataType::Int2 | DataType::Int4) =>
            {
                (
                    SrfFunc::GenerateSubscripts,
                    one("generate_subscripts", DataType::Int4),
                )
            }
            ("_pg_expandarray", [t]) => match (t, t.elem()) {
                (DataType::Array(_) | DataType::Int2Vector | DataType::OidVector, Some(e)) => (
                    SrfFunc::PgExpandArray,
                    vec![("x".into(), e), ("n".into(), DataType::Int4)],
                ),
                _ => return None,
            },
            ("unnest", [t]) => match (t, t.elem()) {
                (DataType::Array(_) | DataType::Int2Vector | DataType::OidVector, Some(e)) => {
                    (SrfFunc::Unnest, one("unnest", e))
                }
                _ => return None,
            },
            _ => return None,
        })
    }

    /// The argument types a call converts its arguments to (none: taken
    /// as they are).
    pub fn arg_types(self, out: DataType, n: usize) -> Vec<DataType> {
        match self {
            SrfFunc::GenerateSeries => {
                let step = match out {
                    DataType::Timestamp | DataType::TimestampTz => DataType::Interval,
                    t => t,
                };
                let mut v = vec![out, out];
                if n == 3 {
                    v.push(step);
                }
                v
            }
            SrfFunc::Unnest | SrfFunc::PgExpandArray | SrfFunc::ReplicaStatus => Vec::new(),
            SrfFunc::GenerateSubscripts => Vec::new(),
            _ => vec![DataType::Jsonb],
        }
    }
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
            Expr::Binary(_, _, _, t)
            | Expr::Call(_, _, t)
            | Expr::Builtin(_, _, t)
            | Expr::CatalogCall(_, _, t)
            | Expr::ArrayCall(_, _, t)
            | Expr::ArrayCons(_, t)
            | Expr::Row(_, t)
            | Expr::Field(_, _, t)
            | Expr::Aggregate(_, t)
            | Expr::Srf(_, t)
            | Expr::Window(_, t)
            | Expr::Outer { ty: t, .. } => *t,
            Expr::Subquery { kind, .. } => match kind {
                SubKind::Scalar(t) | SubKind::Array(t) | SubKind::Row(t) => *t,
                SubKind::Exists | SubKind::Quantified { .. } => DataType::Bool,
            },
            Expr::Case { ty, .. } => *ty,
            Expr::Not(_)
            | Expr::IsNull(..)
            | Expr::InList(..)
            | Expr::Like { .. }
            | Expr::AnyArray { .. } => DataType::Bool,
            Expr::Neg(e) => e.ty(),
        }
    }

    /// True for an untyped string literal or parameter (PostgreSQL's
    /// "unknown"), which takes its type from context.
    pub(crate) fn is_unknown(&self) -> bool {
        matches!(
            self,
            Expr::Literal(Datum::Text(_), DataType::Text)
                | Expr::Literal(Datum::Null, DataType::Text)
        ) || matches!(self, Expr::Param(_, DataType::Text))
    }

    /// This expression read as `ty` if it is an untyped literal/parameter.
    pub fn coerce_to(self, ty: DataType) -> Expr {
        if self.ty() == ty {
            return self;
        }
        match self {
            Expr::Literal(Datum::Null, DataType::Text) => Expr::Literal(Datum::Null, ty),
            e if e.is_unknown() => Expr::Coerce(Box::new(e), ty),
            e => e,
        }
    }
}

/// What binding needs besides the scope.
pub struct BindCtx<'a> {
    /// Declared (or inferred so far) parameter types, by position.
    pub params: &'a mut Vec<Option<DataType>>,
    /// Scopes of the enclosing queries, nearest last, with how often each
    /// was referenced (to tell correlated subqueries apart) and where its
    /// first column reference is (PostgreSQL's `locate_var_of_level`).
    pub outer: Vec<(Scope, usize, Option<sqlparser::tokenizer::Span>)>,
    /// Where aggregate calls go, when they are allowed here; else the
    /// clause name for the error ("WHERE").
    pub aggs: Result<Vec<AggCall>, &'static str>,
    /// Where set-returning calls go, when they are allowed here.
    pub srfs: Result<Vec<SrfCall>, &'static str>,
    /// Plans subqueries; `None` where they are not supported.
    pub planner: Option<&'a dyn SubqueryPlanner>,
    /// Where window function calls go, when they are allowed here; else
    /// the clause name for the error.
    pub windows: Result<Vec<crate::sql::window::WindowCall>, &'static str>,
    /// The `WINDOW` clause of the query level being bound.
    pub window_defs: crate::sql::window::WindowDefs,
    /// The GROUP BY expressions of the query level being bound (for
    /// `GROUPING()` and ordered-set direct arguments); `None` outside a
    /// select list.
    pub grouping_keys: Option<Vec<Expr>>,
}

impl<'a> BindCtx<'a> {
    /// A context binding with `params`, with no enclosing query, no
    /// aggregates and no subqueries.
    pub fn new(params: &'a mut Vec<Option<DataType>>) -> BindCtx<'a> {
        BindCtx {
            params,
            outer: Vec::new(),
            aggs: Err("this context"),
            srfs: Err("this context"),
            planner: None,
            windows: Err("this context"),
            window_defs: Vec::new(),
            grouping_keys: None,
        }
    }

    /// The same, planning subqueries with `planner`.
    pub fn with_planner(
        params: &'a mut Vec<Option<DataType>>,
        planner: &'a dyn SubqueryPlanner,
    ) -> BindCtx<'a> {
        BindCtx {
            planner: Some(planner),
            ..BindCtx::new(params)
        }
    }
}

/// Plans the subqueries the binder meets.
pub trait SubqueryPlanner {
    /// Plans `q` as a subquery of the query whose scope is on top of
    /// `ctx.outer`.
    fn plan_subquery(&self, q: &ast::Query, ctx: &mut BindCtx<'_>) -> Result<Query, SqlError>;
}

/// Runs subqueries during evaluation.
pub trait SubqueryRunner {
    /// The rows of `sub`, with `row` as its enclosing row.
    fn run_subquery(
        &self,
        sub: &SubPlan,
        row: &[Datum],
        ctx: &EvalCtx<'_>,
    ) -> Result<std::rc::Rc<Vec<Vec<Datum>>>, SqlError>;

    /// Fails (57014) when the statement was cancelled or ran past
    /// `statement_timeout`, for functions that wait (`pg_sleep`).
    fn check_interrupts(&self) -> Result<(), SqlError>;
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
        T::Regclass => DataType::RegClass,
        T::JSON => DataType::Json,
        T::JSONB => DataType::Jsonb,
        T::Array(def) => {
            let elem = match def {
                ast::ArrayElemTypeDef::AngleBracket(t)
                | ast::ArrayElemTypeDef::SquareBracket(t, _)
                | ast::ArrayElemTypeDef::Parenthesis(t) => data_type(t)?,
                ast::ArrayElemTypeDef::None => {
                    return Err(SqlError::unsupported("an array type without element type"))
                }
            };
            elem.array_of()
                .ok_or_else(|| SqlError::unsupported(format!("arrays of {}", elem.format_type())))?
        }
        T::Char(_) | T::Character(_) if matches!(t.to_string().as_str(), "\"char\"") => {
            DataType::Char
        }
        // SQL's `character` without a length is `character(1)`.
        T::Char(len) | T::Character(len) => DataType::Bpchar {
            max_chars: Some(match len {
                Some(ast::CharacterLength::IntegerLength { length, .. }) => {
                    char_length(i128::from(*length))?
                }
                Some(ast::CharacterLength::Max) => {
                    return Err(SqlError::unsupported("type CHAR(MAX)"))
                }
                None => 1,
            }),
        },
        T::Custom(name, _) if name.to_string().starts_with('"') => {
            let n = name.to_string();
            match n.trim_matches('"') {
                "char" => DataType::Char,
                other => DataType::parse_type_name(other)
                    .map(|(t, _)| t)
                    .ok_or_else(|| {
                        SqlError::new(
                            code::UNDEFINED_OBJECT,
                            format!("type \"{other}\" does not exist"),
                        )
                    })?,
            }
        }
        // `bpchar` is `character` with no default length.
        T::Custom(name, mods) if name.to_string().eq_ignore_ascii_case("bpchar") => {
            DataType::Bpchar {
                max_chars: match mods.as_slice() {
                    [] => None,
                    [n] => Some(char_length(n.trim().parse::<i128>().map_err(|_| {
                        SqlError::new(
                            code::INVALID_PARAMETER_VALUE,
                            "type modifiers must be simple constants or identifiers",
                        )
                    })?)?),
                    _ => {
                        return Err(SqlError::new(
                            code::INVALID_PARAMETER_VALUE,
                            "invalid type modifier",
                        ))
                    }
                },
            }
        }
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
            "oid" => DataType::Oid,
            "name" => DataType::Name,
            "regclass" => DataType::RegClass,
            "regtype" => DataType::RegType,
            "regproc" => DataType::RegProc,
            "regprocedure" => DataType::RegProcedure,
            "regnamespace" => DataType::RegNamespace,
            "int2vector" => DataType::Int2Vector,
            "oidvector" => DataType::OidVector,
            "record" => DataType::Record(&crate::datum::record::RECORD_UNKNOWN),
            other if other.starts_with("pg_catalog.") => {
                let bare = other.trim_start_matches("pg_catalog.");
                return data_type(&ast::DataType::Custom(
                    ast::ObjectName::from(vec![ast::Ident::new(bare)]),
                    Vec::new(),
                ))
                .or_else(|_| {
                    DataType::parse_type_name(bare)
                        .map(|(t, _)| t)
                        .ok_or_else(|| {
                            SqlError::new(
                                code::UNDEFINED_OBJECT,
                                format!("type \"{other}\" does not exist"),
                            )
                        })
                });
            }
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

/// The length of `character(n)`, checked as PostgreSQL's
/// `anychar_typmodin` does.
fn char_length(n: i128) -> Result<u32, SqlError> {
    /// PostgreSQL's `MaxAttrSize`: 10 MB.
    const CHAR_LENGTH_MAX: i128 = 10 * 1024 * 1024;
    if n < 1 {
        return Err(SqlError::new(
            code::INVALID_PARAMETER_VALUE,
            "length for type char must be at least 1",
        ));
    }
    if n > CHAR_LENGTH_MAX {
        return Err(SqlError::new(
            code::INVALID_PARAMETER_VALUE,
            format!("length for type char cannot exceed {CHAR_LENGTH_MAX}"),
        ));
    }
    Ok(u32::try_from(n).expect("checked against CHAR_LENGTH_MAX"))
}

/// Most levels of expression nesting a statement may have. A chain of
/// `a OR b OR …` nests one level per operator (sqlparser builds binary
/// operators left-deep), so this is also the longest such chain.
pub const EXPR_DEPTH_MAX: u32 = 1_000;

/// Stack left before a recursive step moves onto a fresh heap-allocated
/// stack segment, and that segment's size (see [`deep`]).
const STACK_RED_ZONE: usize = 256 * 1024;
const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// Runs one step of a recursion over an expression, on a new stack
/// segment when the thread's stack runs low: binding and evaluating recurse
/// as deep as expressions nest, and a few hundred levels can exhaust a
/// tokio worker's stack (binding's frames are large). Without this a long
/// OR chain killed the whole process with a stack overflow.
pub fn deep<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, f)
}

thread_local! {
    /// Nesting depth of the [`bind`] calls running on this thread.
    static BIND_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Binds `e` in `scope`. Nesting past [`EXPR_DEPTH_MAX`] is 54001.
pub fn bind(e: &ast::Expr, scope: &Scope, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    /// Leaves a level of [`BIND_DEPTH`] however the call ends.
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            BIND_DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    let depth = BIND_DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let _level = Level;
    if depth > EXPR_DEPTH_MAX {
        return Err(SqlError::new(
            code::STATEMENT_TOO_COMPLEX,
            format!("expression nesting exceeds the limit of {EXPR_DEPTH_MAX} levels"),
        ));
    }
    deep(|| bind_node(e, scope, ctx))
}

fn bind_node(e: &ast::Expr, scope: &Scope, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    use ast::Expr as E;
    Ok(match e {
        E::Identifier(id) => match column_ref(None, &ident(id), id.span, scope, ctx) {
            Ok(e) => e,
            // A FROM item's name alone is its whole row.
            Err(e)
                if e.code == code::UNDEFINED_COLUMN
                    && record::names_from_item(&ident(id), scope, ctx) =>
            {
                record::whole_row(&ident(id), scope, ctx)?.expect("checked in the guard")
            }
            // SQL's niladic functions, when no column has the name.
            Err(e) if e.code == code::UNDEFINED_COLUMN && id.quote_style.is_none() => {
                let name = ident(id);
                let f = match name.as_str() {
                    "current_schema" => Some((Func::CurrentSchema, DataType::Name)),
                    "current_catalog" => Some((Func::CurrentDatabase, DataType::Name)),
                    "current_user" | "session_user" | "user" | "current_role" => {
                        Some((Func::CurrentUser, DataType::Name))
                    }
                    "current_timestamp" | "localtimestamp" | "current_date" => {
                        Some((Func::Now, DataType::TimestampTz))
                    }
                    _ => None,
                };
                match f {
                    Some((f, ty)) => {
                        let call = Expr::Call(f, Vec::new(), ty);
                        match name.as_str() {
                            "localtimestamp" => Expr::Cast(Box::new(call), DataType::Timestamp),
                            "current_date" => Expr::Cast(Box::new(call), DataType::Date),
                            _ => call,
                        }
                    }
                    None => return Err(e.at_span(id.span)),
                }
            }
            Err(e) => return Err(e.at_span(id.span)),
        },
        E::CompoundIdentifier(parts) if parts.len() >= 2 => {
            // `schema.table.column` is `table.column` here: one schema.
            let n = parts.len();
            column_ref(
                Some(&ident(&parts[n - 2])),
                &ident(&parts[n - 1]),
                parts[0].span,
                scope,
                ctx,
            )
            .map_err(|e| e.at_span(parts[0].span))?
        }
        E::Subquery(q) => {
            let sub = plan_sub(q, scope, ctx)?;
            let [(_, ty)] = sub.query.columns.as_slice() else {
                use sqlparser::ast::Spanned;
                return Err(SqlError::new(
                    code::SYNTAX_ERROR,
                    "subquery must return only one column",
                )
                .at_subquery(q.span()));
            };
            let ty = *ty;
            Expr::Subquery {
                sub: Arc::new(sub),
                kind: SubKind::Scalar(ty),
                offset: 0,
            }
        }
        E::Exists { subquery, negated } => {
            let sub = plan_sub(subquery, scope, ctx)?;
            let e = Expr::Subquery {
                sub: Arc::new(sub),
                kind: SubKind::Exists,
                offset: 0,
            };
            if *negated {
                Expr::Not(Box::new(e))
            } else {
                e
            }
        }
        E::InSubquery {
            expr,
            subquery,
            negated,
        } => {
            let lhs = bind(expr, scope, ctx)?;
            let e = quantified(lhs, BinOp::Eq, false, subquery, scope, ctx).map_err(|e| {
                use sqlparser::ast::Spanned;
                let columns = e.message == TOO_MANY_COLUMNS || e.message == TOO_FEW_COLUMNS;
                if columns && matches!(strip(expr), E::Tuple(_)) {
                    // PostgreSQL points at the operator after a row.
                    e.at_operator_after(expr.span(), if *negated { "not" } else { "in" })
                } else if e.message == TOO_MANY_COLUMNS {
                    e.after_span(expr.span())
                } else {
                    e
                }
            })?;
            if *negated {
                Expr::Not(Box::new(e))
            } else {
                e
            }
        }
        E::AnyOp {
            left,
            compare_op,
            right,
            ..
        }
        | E::AllOp {
            left,
            compare_op,
            right,
        } if matches!(strip(right), E::Subquery(_)) => {
            let E::Subquery(q) = strip(right) else {
                unreachable!("matched above")
            };
            let op = comparison(compare_op)?;
            let lhs = bind(left, scope, ctx)?;
            quantified(lhs, op, matches!(e, E::AllOp { .. }), q, scope, ctx)?
        }
        E::Array(arr) => {
            let items = arr
                .elem
                .iter()
                .map(|x| bind(x, scope, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            let elem = common_type(&items, "ARRAY")?;
            let ty = elem.array_of().ok_or_else(|| {
                SqlError::unsupported(format!("arrays of {}", elem.format_type()))
            })?;
            let items = items
                .into_iter()
                .map(|x| convert_arg(x, elem, ctx))
                .collect();
            Expr::ArrayCons(items, ty)
        }
        E::AnyOp {
            left,
            compare_op,
            right,
            ..
        }
        | E::AllOp {
            left,
            compare_op,
            right,
        } => {
            let op = comparison(compare_op)?;
            let lhs = bind(left, scope, ctx)?;
            let arr = bind(right, scope, ctx)?;
            let (lhs, arr) = match (lhs.is_unknown(), arr.ty()) {
                // Integers compare with integers of another width, floats
                // with floats and varchar with text as they are (as
                // PostgreSQL's cross-type operators do), so a column stays
                // a column an index can match, and a wide value is never
                // cast to a narrow type.
                (false, DataType::Array(elem))
                    if !arr.is_unknown() && same_family(lhs.ty(), *elem) =>
                {
                    (lhs, arr)
                }
                (_, DataType::Array(elem)) if !arr.is_unknown() => {
                    (convert_arg(lhs, *elem, ctx), arr)
                }
                (false, _) if arr.is_unknown() => {
                    let at = lhs.ty().array_of().ok_or_else(|| {
                        SqlError::unsupported(format!("arrays of {}", lhs.ty().format_type()))
                    })?;
                    let arr = infer_param(arr, at, ctx);
                    (lhs, arr)
                }
                (_, DataType::Int2Vector | DataType::OidVector) => {
                    let elem = arr.ty().elem().unwrap_or(DataType::Int4);
                    (convert_arg(lhs, elem, ctx), arr)
                }
                _ => {
                    return Err(SqlError::new(
                        code::WRONG_OBJECT_TYPE,
                        "op ANY/ALL (array) requires array on right side",
                    ))
                }
            };
            Expr::AnyArray {
                lhs: Box::new(lhs),
                op,
                all: matches!(e, E::AllOp { .. }),
                array: Box::new(arr),
            }
        }
        E::IsTrue(x) | E::IsNotFalse(x) | E::IsFalse(x) | E::IsNotTrue(x) => {
            let v = bind(x, scope, ctx)?.coerce_to(DataType::Bool);
            let want = matches!(e, E::IsTrue(_) | E::IsNotTrue(_));
            // `x IS TRUE` is never NULL: `x = true` with NULL as false.
            let test = Expr::Call(
                Func::Coalesce,
                vec![
                    Expr::Binary(
                        BinOp::Eq,
                        Box::new(v),
                        Box::new(Expr::Literal(Datum::Bool(want), DataType::Bool)),
                        DataType::Bool,
                    ),
                    Expr::Literal(Datum::Bool(false), DataType::Bool),
                ],
                DataType::Bool,
            );
            if matches!(e, E::IsNotTrue(_) | E::IsNotFalse(_)) {
                Expr::Not(Box::new(test))
            } else {
                test
            }
        }
        E::IsDistinctFrom(a, b) | E::IsNotDistinctFrom(a, b) => {
            let (l, r) = (bind(a, scope, ctx)?, bind(b, scope, ctx)?);
            let (l, r) = if (is_bpchar(&l) || is_bpchar(&r))
                && string_or_unknown(&l)
                && string_or_unknown(&r)
            {
                (bpchar_compared(l, ctx), bpchar_compared(r, ctx))
            } else {
                unify(l, r, ctx)
            };
            comparable(l.ty(), r.ty())?;
            let same = Expr::Call(Func::NotDistinct, vec![l, r], DataType::Bool);
            if matches!(e, E::IsDistinctFrom(..)) {
                Expr::Not(Box::new(same))
            } else {
                same
            }
        }
        E::Collate { expr, .. } => bind(expr, scope, ctx)?,
        E::CompoundFieldAccess { root, access_chain } => {
            // `t.col[i]` arrives as `t` with the chain `.col`, `[i]`: the
            // leading dotted names are a qualified column name.
            let mut names = Vec::new();
            if let E::Identifier(first) = root.as_ref() {
                names.push(first.clone());
                names.extend(access_chain.iter().map_while(|a| match a {
                    ast::AccessExpr::Dot(E::Identifier(i)) => Some(i.clone()),
                    _ => None,
                }));
            }
            // `(t).col`: PostgreSQL names the FROM item in a missing
            // column's message.
            let relation = match strip(root) {
                E::Identifier(t) if names.len() <= 1 => Some(ident(t)),
                _ => None,
            };
            let (mut cur, chain) = if names.len() > 1 {
                let dotted = names.len() - 1;
                (
                    bind(&E::CompoundIdentifier(names), scope, ctx)?,
                    &access_chain[dotted..],
                )
            } else {
                (bind(root, scope, ctx)?, &access_chain[..])
            };
            for a in chain {
                if let ast::AccessExpr::Dot(E::Identifier(name)) = a {
                    cur = select_field(cur, root, name, relation.as_deref())?;
                    continue;
                }
                let ast::AccessExpr::Subscript(ast::Subscript::Index { index }) = a else {
                    return Err(SqlError::unsupported(format!("field access {a}")));
                };
                let elem = cur.ty().elem().ok_or_else(|| {
                    SqlError::new(
                        code::DATATYPE_MISMATCH,
                        format!(
                            "cannot subscript type {} because it does not support subscripting",
                            cur.ty().format_type()
                        ),
                    )
                })?;
                let i = convert_arg(bind(index, scope, ctx)?, DataType::Int4, ctx);
                cur = Expr::Call(Func::Subscript, vec![cur, i], elem);
            }
            cur
        }
        E::Nested(inner) => bind(inner, scope, ctx)?,
        E::Tuple(items) => record::row(
            items
                .iter()
                .map(|x| bind(x, scope, ctx))
                .collect::<Result<_, _>>()?,
        )?,
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
            kind,
            ..
        } => {
            use sqlparser::ast::Spanned;
            let double_colon = matches!(kind, ast::CastKind::DoubleColon);
            let ty = data_type(dt).map_err(|e| {
                // A bad type modifier (`char(0)`) points at the type too.
                if double_colon
                    && (e.code == code::UNDEFINED_OBJECT || e.code == code::INVALID_PARAMETER_VALUE)
                {
                    e.after_operator(expr.span(), "::")
                } else {
                    e
                }
            })?;
            // `numeric(p, s)` rounds and checks the value after the cast.
            let typmod = if ty == DataType::Numeric {
                crate::sql::session::column_typmod(dt, ty).map_err(|e| {
                    if double_colon {
                        e.after_operator(expr.span(), "::")
                    } else {
                        e
                    }
                })?
            } else {
                -1
            };
            let with_typmod = |x: Expr| {
                if typmod >= 4 {
                    Expr::Builtin(
                        crate::sql::func::Builtin::NumericTypmod,
                        vec![x, Expr::Literal(Datum::Int4(typmod), DataType::Int4)],
                        DataType::Numeric,
                    )
                } else {
                    x
                }
            };
            let inner = bind(expr, scope, ctx)?;
            // A cast no path allows fails here, pointing at `::`, as in
            // PostgreSQL (the reg* types and records go through the
            // catalog and are left to evaluation).
            let from = inner.ty();
            if !inner.is_unknown()
                && !matches!(inner, Expr::Literal(Datum::Null, _))
                && !from.is_reg()
                && !ty.is_reg()
                && from.elem().is_none()
                && ty.elem().is_none()
                && crate::cast::can_cast(&from, &ty) == crate::cast::CastKind::None
            {
                let err = SqlError::new(
                    code::CANNOT_COERCE,
                    format!(
                        "cannot cast type {} to {}",
                        from.format_type(),
                        ty.format_type()
                    ),
                );
                return Err(if double_colon {
                    err.at_operator_after(expr.span(), "::")
                } else {
                    err.at_keyword_before(expr.span(), "cast")
                });
            }
            // A length is applied by an explicit length coercion after the
            // literal is read: `'abc'::varchar(2)` is `ab`, not an error.
            let unbounded = match ty {
                DataType::Varchar { max_chars: Some(_) } => {
                    Some(DataType::Varchar { max_chars: None })
                }
                DataType::Bpchar { max_chars: Some(_) } => {
                    Some(DataType::Bpchar { max_chars: None })
                }
                _ => None,
            };
            with_typmod(
                if matches!(inner, Expr::Param(i, DataType::Text) if ctx.params[i].is_none())
                    && unbounded.is_none()
                {
                    // `$1::bigint[]` gives the parameter its type, as in
                    // PostgreSQL, so a client sends it in that type.
                    infer_param(inner, ty, ctx)
                } else if inner.is_unknown() && inner.ty() == ty {
                    // `'x'::text` is text, no longer an untyped literal.
                    Expr::Coerce(Box::new(inner), ty)
                } else if let (true, Some(read_as)) = (inner.is_unknown(), unbounded) {
                    let c = inner.coerce_to(read_as);
                    check_literal(&c, expr)?;
                    Expr::Cast(Box::new(c), ty)
                } else if inner.is_unknown() {
                    let c = inner.coerce_to(ty);
                    check_literal(&c, expr)?;
                    c
                } else {
                    Expr::Cast(Box::new(inner), ty)
                },
            )
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
            inner if numeric_rank(inner.ty()).is_some() || inner.is_unknown() => {
                Expr::Neg(Box::new(inner))
            }
            inner => prefix_operator("-", inner, ctx)?,
        },
        E::UnaryOp {
            op:
                op @ (UnaryOperator::PGSquareRoot
                | UnaryOperator::PGCubeRoot
                | UnaryOperator::PGAbs
                | UnaryOperator::PGBitwiseNot),
            expr,
        } => {
            let inner = bind(expr, scope, ctx)?;
            prefix_operator(&op.to_string(), inner, ctx)?
        }
        E::AtTimeZone {
            timestamp,
            time_zone,
        } => {
            let args = vec![bind(time_zone, scope, ctx)?, bind(timestamp, scope, ctx)?];
            builtin_call("timezone", args, ctx)?
        }
        E::Extract { field, expr, .. } => {
            let f = Expr::Literal(
                Datum::Text(field.to_string().to_lowercase()),
                DataType::Text,
            );
            let x = bind(expr, scope, ctx)?;
            builtin_call("extract", vec![f, x], ctx)?
        }
        E::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![bind(expr, scope, ctx)?];
            args.push(match substring_from {
                Some(f) => bind(f, scope, ctx)?,
                None => Expr::Literal(Datum::Int4(1), DataType::Int4),
            });
            if let Some(n) = substring_for {
                args.push(bind(n, scope, ctx)?);
            }
            builtin_call("substring", args, ctx)?
        }
        E::Position { expr, r#in } => {
            let args = vec![bind(r#in, scope, ctx)?, bind(expr, scope, ctx)?];
            builtin_call("strpos", args, ctx)?
        }
        E::Trim {
            expr,
            trim_where,
            trim_what,
            trim_characters,
        } => {
            let name = match trim_where {
                Some(ast::TrimWhereField::Leading) => "ltrim",
                Some(ast::TrimWhereField::Trailing) => "rtrim",
                _ => "btrim",
            };
            let mut args = vec![bind(expr, scope, ctx)?];
            if let Some(w) = trim_what {
                args.push(bind(w, scope, ctx)?);
            } else if let Some(chars) = trim_characters.as_ref().and_then(|c| c.first()) {
                args.push(bind(chars, scope, ctx)?);
            }
            builtin_call(name, args, ctx)?
        }
        E::Ceil { expr, .. } => {
            let x = bind(expr, scope, ctx)?;
            builtin_call("ceil", vec![x], ctx)?
        }
        E::Floor { expr, .. } => {
            let x = bind(expr, scope, ctx)?;
            builtin_call("floor", vec![x], ctx)?
        }
        E::Interval(iv) => {
            let text = match iv.value.as_ref() {
                E::Value(v) => match &v.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                },
                other => other.to_string(),
            };
            let mut text = text;
            if let Some(f) = &iv.leading_field {
                text = format!("{text} {f}");
            }
            Expr::Coerce(
                Box::new(Expr::Literal(Datum::Text(text), DataType::Text)),
                DataType::Interval,
            )
        }
        E::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => bind(expr, scope, ctx)?,
        E::IsNull(inner) => Expr::IsNull(Box::new(bind(inner, scope, ctx)?), false),
        // `b IS UNKNOWN` is `b IS NULL` for a boolean (which the operand
        // must be, an untyped literal read as one).
        E::IsUnknown(inner) | E::IsNotUnknown(inner) => {
            let v = bind(inner, scope, ctx)?;
            let v = if v.is_unknown() {
                let b = v.coerce_to(DataType::Bool);
                check_literal(&b, inner)?;
                b
            } else {
                v
            };
            if v.ty() != DataType::Bool {
                use sqlparser::ast::Spanned;
                return Err(SqlError::new(
                    code::DATATYPE_MISMATCH,
                    format!(
                        "argument of IS {}UNKNOWN must be type boolean, not type {}",
                        if matches!(e, E::IsNotUnknown(_)) {
                            "NOT "
                        } else {
                            ""
                        },
                        v.ty().format_type()
                    ),
                )
                .at_span(inner.span()));
            }
            Expr::IsNull(Box::new(v), matches!(e, E::IsNotUnknown(_)))
        }
        E::IsNotNull(inner) => Expr::IsNull(Box::new(bind(inner, scope, ctx)?), true),
        E::InList {
            expr,
            list,
            negated,
        } => {
            let l = bind(expr, scope, ctx)?;
            if let Expr::Row(..) = l {
                return record::in_list(l, list, *negated, scope, ctx);
            }
            let l_bpchar = is_bpchar(&l);
            let l = if l_bpchar { trimmed_bpchar(l) } else { l };
            let ty = l.ty();
            let items = list
                .iter()
                .map(|x| {
                    let x = bind(x, scope, ctx)?;
                    Ok(if l_bpchar || is_bpchar(&x) {
                        bpchar_compared(x, ctx)
                    } else {
                        x.coerce_to(ty)
                    })
                })
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
            let (lo, hi) = (bind(low, scope, ctx)?, bind(high, scope, ctx)?);
            let (v, lo, hi) = if [&v, &lo, &hi].into_iter().any(is_bpchar) {
                (
                    bpchar_compared(v, ctx),
                    bpchar_compared(lo, ctx),
                    bpchar_compared(hi, ctx),
                )
            } else {
                (v, lo, hi)
            };
            let ty = v.ty();
            let (lo, hi) = (lo.coerce_to(ty), hi.coerce_to(ty));
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
        E::SimilarTo {
            negated,
            expr,
            pattern,
            escape_char,
        } => {
            // As PostgreSQL rewrites it: the pattern becomes a regular
            // expression that `~` matches.
            let mut args = vec![bind(pattern, scope, ctx)?];
            if let Some(e) = escape_char {
                args.push(bind_value(e, ctx)?);
            }
            let re = builtin_call("similar_to_escape", args, ctx)?;
            let m = builtin_call("textregexeq", vec![bind(expr, scope, ctx)?, re], ctx)?;
            if *negated {
                Expr::Not(Box::new(m))
            } else {
                m
            }
        }
        E::Like {
            negated,
            expr,
            pattern,
            escape_char,
            ..
        }
        | E::ILike {
            negated,
            expr,
            pattern,
            escape_char,
            ..
        } => Expr::Like {
            escape: match escape_char {
                None => Some('\\'),
                Some(ast::Value::SingleQuotedString(e)) => {
                    let mut chars = e.chars();
                    match (chars.next(), chars.next()) {
                        (None, _) => None,
                        (Some(c), None) => Some(c),
                        _ => {
                            return Err(SqlError::new("22019", "invalid escape string")
                                .with_hint("Escape string must be empty or one character."))
                        }
                    }
                }
                Some(other) => return Err(SqlError::unsupported(format!("ESCAPE {other}"))),
            },
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
            let operand_bpchar = operand.as_ref().is_some_and(is_bpchar);
            let operand = if operand_bpchar {
                operand.map(trimmed_bpchar)
            } else {
                operand
            };
            let mut whens = Vec::new();
            let mut ty: Option<DataType> = None;
            for cw in conditions {
                let c = bind(&cw.condition, scope, ctx)?;
                let c = match &operand {
                    Some(_) if operand_bpchar || is_bpchar(&c) => bpchar_compared(c, ctx),
                    Some(o) => c.coerce_to(o.ty()),
                    None => {
                        let c = c.coerce_to(DataType::Bool);
                        if c.ty() != DataType::Bool {
                            use sqlparser::ast::Spanned;
                            return Err(SqlError::new(
                                code::DATATYPE_MISMATCH,
                                format!(
                                    "argument of CASE/WHEN must be type boolean, not type {}",
                                    c.ty().format_type()
                                ),
                            )
                            .at_span(cw.condition.span()));
                        }
                        c
                    }
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
            let whens: Vec<(Expr, Expr)> = whens
                .into_iter()
                .map(|(c, r)| (c, r.coerce_to(ty)))
                .collect();
            for ((c, r), cw) in whens.iter().zip(conditions) {
                check_literal(c, &cw.condition)?;
                check_literal(r, &cw.result)?;
            }
            let otherwise = otherwise.map(|o| o.coerce_to(ty));
            if let (Some(o), Some(at)) = (&otherwise, else_result) {
                check_literal(o, at)?;
            }
            Expr::Case {
                operand: operand.map(Box::new),
                whens,
                otherwise: otherwise.map(Box::new),
                ty,
            }
        }
        E::BinaryOp { left, op, right } => {
            let l = bind(left, scope, ctx)?;
            let r = match (&l, strip(right)) {
                // `(a, b) = (SELECT x, y ...)`: its row's fields.
                (Expr::Row(items, _), E::Subquery(q)) if comparison(op).is_ok() => {
                    row_subquery(items.len(), q, left, op, scope, ctx)?
                }
                _ => bind(right, scope, ctx)?,
            };
            let b = bind_binary_or_rows(op, l, r, ctx).map_err(|e| {
                use sqlparser::ast::Spanned;
                if e.code == code::UNDEFINED_FUNCTION
                    && e.message.starts_with("operator does not exist")
                    || e.message == record::UNEQUAL_ROWS
                {
                    e.at_operator_after(left.span(), &op.to_string())
                } else {
                    e
                }
            })?;
            check_literal(&b, left)?;
            check_literal(&b, right)?;
            b
        }
        E::Function(f) => {
            let b = bind_function(f, scope, ctx).map_err(|e| {
                if matches!(e.code, code::UNDEFINED_FUNCTION | code::AMBIGUOUS_FUNCTION) {
                    e.at_span(function_span(f))
                } else {
                    e
                }
            })?;
            if let ast::FunctionArguments::List(list) = &f.args {
                for a in &list.args {
                    if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                        check_literal(&b, x)?;
                    }
                }
            }
            b
        }
        other => return Err(SqlError::unsupported(format!("expression {other}"))),
    })
}

/// `(root).name`, with the error positions PostgreSQL gives. Apart from
/// [`bind`], like the other helpers here, to keep its stack frame small:
/// it recurses once per level of a deep `a OR b OR ...`.
fn select_field(
    record: Expr,
    root: &ast::Expr,
    name: &ast::Ident,
    relation: Option<&str>,
) -> Result<Expr, SqlError> {
    use sqlparser::ast::Spanned;
    record::field(record, &ident(name), relation).map_err(|e| match root {
        // PostgreSQL points at the record inside the parentheses.
        ast::Expr::Nested(inner) => e.at_span(inner.span()),
        _ => e.at_span(name.span),
    })
}

/// `(SELECT ...)` compared with a row constructor of `width` fields.
fn row_subquery(
    width: usize,
    q: &ast::Query,
    left: &ast::Expr,
    op: &BinaryOperator,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    use sqlparser::ast::Spanned;
    let sub = plan_sub(q, scope, ctx)?;
    let msg = match sub.query.columns.len().cmp(&width) {
        Ordering::Greater => TOO_MANY_COLUMNS,
        Ordering::Less => TOO_FEW_COLUMNS,
        Ordering::Equal => return record::subquery_row(sub),
    };
    Err(SqlError::new(code::SYNTAX_ERROR, msg).at_operator_after(left.span(), &op.to_string()))
}

/// A binary operator; two row constructors compared field by field.
fn bind_binary_or_rows(
    op: &BinaryOperator,
    l: Expr,
    r: Expr,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    match (l, r) {
        (Expr::Row(li, _), Expr::Row(ri, _)) if comparison(op).is_ok() => {
            let bop = comparison(op)?;
            record::compare_constructors(op, bop, li, ri, ctx)
        }
        (l, r) => bind_binary(op, l, r, ctx),
    }
}

/// Where a function call starts: its name.
pub(crate) fn function_span(f: &ast::Function) -> sqlparser::tokenizer::Span {
    f.name
        .0
        .first()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => i.span,
            _ => sqlparser::tokenizer::Span::empty(),
        })
        .unwrap_or(sqlparser::tokenizer::Span::empty())
}

pub(crate) fn ident(id: &ast::Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

/// A column of the current scope, else of an enclosing query's.
fn column_ref(
    table: Option<&str>,
    name: &str,
    at: sqlparser::tokenizer::Span,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    if let Some((i, ty)) = scope.lookup(table, name)? {
        return Ok(Expr::Column(i, ty));
    }
    let n = ctx.outer.len();
    for level in (0..n).rev() {
        if let Some((index, ty)) = ctx.outer[level].0.lookup(table, name)? {
            ctx.outer[level].1 += 1;
            ctx.outer[level].2.get_or_insert(at);
            return Ok(Expr::Outer {
                depth: n - level,
                index,
                ty,
            });
        }
    }
    let mut scopes: Vec<Scope> = ctx.outer.iter().map(|(s, _, _)| s.clone()).collect();
    scopes.push(scope.clone());
    Err(missing_column(table, name, &scopes))
}

/// Plans subquery `q` of the query whose scope is `scope`.
fn plan_sub(q: &ast::Query, scope: &Scope, ctx: &mut BindCtx<'_>) -> Result<SubPlan, SqlError> {
    let planner = ctx
        .planner
        .ok_or_else(|| SqlError::unsupported("subqueries here"))?;
    let before: Vec<usize> = ctx.outer.iter().map(|(_, n, _)| *n).collect();
    ctx.outer.push((scope.clone(), 0, None));
    // A subquery has its own aggregates and set-returning calls.
    let aggs = std::mem::replace(&mut ctx.aggs, Err("this context"));
    let srfs = std::mem::replace(&mut ctx.srfs, Err("this context"));
    let r = planner.plan_subquery(q, ctx);
    ctx.aggs = aggs;
    ctx.srfs = srfs;
    let (_, own, _) = ctx.outer.pop().expect("pushed above");
    let query = r?;
    let correlated = own > 0
        || ctx
            .outer
            .iter()
            .zip(&before)
            .any(|((_, now, _), then)| now != then);
    Ok(SubPlan { query, correlated })
}

/// `lhs op ANY/ALL (subquery)`.
/// A quantified subquery (`x IN (SELECT ...)`) with more than one column.
const TOO_MANY_COLUMNS: &str = "subquery has too many columns";
/// A row constructor with more fields than its subquery has columns.
const TOO_FEW_COLUMNS: &str = "subquery has too few columns";

fn quantified(
    lhs: Expr,
    op: BinOp,
    all: bool,
    q: &ast::Query,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let sub = plan_sub(q, scope, ctx)?;
    if let Expr::Row(items, _) = lhs {
        // A row constructor against the subquery's rows, field by field.
        let cols = &sub.query.columns;
        if cols.len() != items.len() {
            let msg = if cols.len() > items.len() {
                TOO_MANY_COLUMNS
            } else {
                TOO_FEW_COLUMNS
            };
            return Err(SqlError::new(code::SYNTAX_ERROR, msg));
        }
        let mut bound = Vec::with_capacity(items.len());
        for (item, (_, ty)) in items.into_iter().zip(cols) {
            let item = infer_param(item, *ty, ctx);
            comparable(item.ty(), *ty)?;
            bound.push(item);
        }
        return Ok(Expr::Subquery {
            sub: Arc::new(sub),
            kind: SubKind::Quantified {
                lhs: Box::new(record::row(bound)?),
                op,
                all,
            },
            offset: 0,
        });
    }
    let [(_, ty)] = sub.query.columns.as_slice() else {
        return Err(SqlError::new(code::SYNTAX_ERROR, TOO_MANY_COLUMNS));
    };
    let lhs = infer_param(lhs, *ty, ctx);
    comparable(lhs.ty(), *ty)?;
    Ok(Expr::Subquery {
        sub: Arc::new(sub),
        kind: SubKind::Quantified {
            lhs: Box::new(lhs),
            op,
            all,
        },
        offset: 0,
    })
}

fn strip(e: &ast::Expr) -> &ast::Expr {
    match e {
        ast::Expr::Nested(x) => strip(x),
        other => other,
    }
}

fn comparison(op: &BinaryOperator) -> Result<BinOp, SqlError> {
    Ok(match op {
        BinaryOperator::Eq => BinOp::Eq,
        BinaryOperator::NotEq => BinOp::Ne,
        BinaryOperator::Lt => BinOp::Lt,
        BinaryOperator::LtEq => BinOp::Le,
        BinaryOperator::Gt => BinOp::Gt,
        BinaryOperator::GtEq => BinOp::Ge,
        other => {
            return Err(SqlError::unsupported(format!(
                "operator {other} with ANY/ALL"
            )))
        }
    })
}

/// Gives an untyped side the other side's type.
pub(crate) fn unify(l: Expr, r: Expr, ctx: &mut BindCtx<'_>) -> (Expr, Expr) {
    match (l.is_unknown(), r.is_unknown()) {
        (true, false) => {
            let t = r.ty();
            (infer_param(l, t, ctx), r)
        }
        (false, true) => {
            let t = l.ty();
            (l, infer_param(r, t, ctx))
        }
        _ => (l, r),
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
pub(crate) fn infer_param(e: Expr, ty: DataType, ctx: &mut BindCtx<'_>) -> Expr {
    if let Expr::Param(i, DataType::Text) = e {
        if ctx.params[i].is_none() {
            ctx.params[i] = Some(ty);
            return Expr::Param(i, ty);
        }
    }
    e.coerce_to(ty)
}

/// A prefix operator from the function library (`-interval`, `|/`, `@`).
fn prefix_operator(sym: &str, e: Expr, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    let Some(res) = crate::sql::func::resolve_prefix_operator(sym, e.ty(), e.is_unknown()) else {
        return Err(SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!("operator does not exist: {sym} {}", e.ty().format_type()),
        )
        .with_hint("No operator matches the given name and argument type. You might need to add an explicit type cast."));
    };
    Ok(Expr::Builtin(
        res.func,
        vec![convert_arg(e, res.arg_types[0], ctx)],
        res.ret,
    ))
}

/// A call of a library function by name (for SQL's special syntax:
/// EXTRACT, SUBSTRING, TRIM, POSITION).
fn builtin_call(name: &str, args: Vec<Expr>, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    let types: Vec<DataType> = args.iter().map(Expr::ty).collect();
    let unknown: Vec<bool> = args.iter().map(Expr::is_unknown).collect();
    let Some(res) = crate::sql::func::resolve(name, &types, &unknown) else {
        let t: Vec<String> = types.iter().map(|t| t.format_type()).collect();
        return Err(SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!("function {name}({}) does not exist", t.join(", ")),
        ));
    };
    let args = args
        .into_iter()
        .zip(&res.arg_types)
        .map(|(a, t)| convert_arg(a, *t, ctx))
        .collect();
    Ok(Expr::Builtin(res.func, args, res.ret))
}

/// A binary operator from the function library.
fn bind_func_operator(
    sym: &str,
    l: Expr,
    r: Expr,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let (lt, rt) = (l.ty(), r.ty());
    let Some(res) = crate::sql::func::resolve_operator(sym, lt, rt, l.is_unknown(), r.is_unknown())
    else {
        return Err(SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!(
                "operator does not exist: {} {sym} {}",
                if l.is_unknown() { "unknown".into() } else { lt.format_type() },
                if r.is_unknown() { "unknown".into() } else { rt.format_type() }
            ),
        )
        .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts."));
    };
    let args = vec![
        convert_arg(l, res.arg_types[0], ctx),
        convert_arg(r, res.arg_types[1], ctx),
    ];
    Ok(Expr::Builtin(res.func, args, res.ret))
}

/// True for two types whose values compare without a cast: integers of
/// any width, floats of either width, and varchar with text.
fn same_family(a: DataType, b: DataType) -> bool {
    let int = |t| matches!(t, DataType::Int2 | DataType::Int4 | DataType::Int8);
    let float = |t| matches!(t, DataType::Float4 | DataType::Float8);
    let text = |t| matches!(t, DataType::Text | DataType::Varchar { .. });
    (int(a) && int(b)) || (float(a) && float(b)) || (text(a) && text(b))
}

/// An argument converted to the type a function takes.
pub(crate) fn convert_arg(e: Expr, ty: DataType, ctx: &mut BindCtx<'_>) -> Expr {
    if e.ty() == ty {
        return e;
    }
    if e.is_unknown() {
        return infer_param(e, ty, ctx);
    }
    Expr::Cast(Box::new(e), ty)
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

pub(crate) fn bind_binary(
    op: &BinaryOperator,
    l: Expr,
    r: Expr,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    use BinaryOperator as B;
    // The operator's symbol; OPERATOR(pg_catalog.~) is `~`.
    let sym: String = match op {
        B::PGCustomBinaryOperator(parts) => parts.last().cloned().unwrap_or_default(),
        B::PGRegexMatch => "~".into(),
        B::PGRegexIMatch => "~*".into(),
        B::PGRegexNotMatch => "!~".into(),
        B::PGRegexNotIMatch => "!~*".into(),
        B::PGExp => "^".into(),
        B::HashMinus => "#-".into(),
        other => other.to_string(),
    };
    let is_array = |e: &Expr| {
        matches!(
            e.ty(),
            DataType::Array(_) | DataType::Int2Vector | DataType::OidVector
        ) && !e.is_unknown()
    };
    if (is_array(&l) || is_array(&r)) && matches!(sym.as_str(), "||" | "@>" | "<@" | "&&") {
        if let Some(res) = crate::sql::array::resolve_operator(
            &sym,
            l.ty(),
            r.ty(),
            l.is_unknown(),
            r.is_unknown(),
        ) {
            let args = vec![
                convert_arg(l, res.arg_types[0], ctx),
                convert_arg(r, res.arg_types[1], ctx),
            ];
            return Ok(Expr::ArrayCall(res.func, args, res.ret));
        }
    }
    let bop = match sym.as_str() {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Mod,
        "=" => BinOp::Eq,
        "<>" | "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "AND" => BinOp::And,
        "OR" => BinOp::Or,
        "||" => BinOp::Concat,
        "->" => BinOp::Arrow,
        "->>" => BinOp::LongArrow,
        "#>" => BinOp::HashArrow,
        "#>>" => BinOp::HashLongArrow,
        "@>" => BinOp::Contains,
        "<@" => BinOp::ContainedBy,
        "?" => BinOp::Exists,
        "?|" => BinOp::ExistsAny,
        "?&" => BinOp::ExistsAll,
        _ => return bind_func_operator(&sym, l, r, ctx),
    };
    // `jsonb || 'literal'` reads the literal as jsonb, as PostgreSQL's
    // operator resolution does.
    let (l, r) = match (bop, l.ty(), r.ty()) {
        (BinOp::Concat, DataType::Jsonb, _) if r.is_unknown() => {
            let r = infer_param(r, DataType::Jsonb, ctx);
            (l, r)
        }
        (BinOp::Concat, _, DataType::Jsonb) if l.is_unknown() => {
            let l = infer_param(l, DataType::Jsonb, ctx);
            (l, r)
        }
        _ => (l, r),
    };
    // Arithmetic and text concatenation on types the core does not
    // handle (dates, intervals, jsonb - text, text || int) go to the
    // function library.
    let numeric = |e: &Expr| e.is_unknown() || numeric_rank(e.ty()).is_some();
    let texty = |e: &Expr| e.is_unknown() || is_text(e.ty());
    match bop {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod
            if !(numeric(&l) && numeric(&r)) || (l.is_unknown() && r.is_unknown()) =>
        {
            return bind_func_operator(&sym, l, r, ctx)
        }
        BinOp::Concat
            if !(texty(&l) && texty(&r)
                || l.ty() == DataType::Jsonb && r.ty() == DataType::Jsonb) =>
        {
            return bind_func_operator(&sym, l, r, ctx)
        }
        _ => {}
    }
    // `character(n)` compares and concatenates without its padding.
    let (l, r) = match bop {
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
            if (is_bpchar(&l) || is_bpchar(&r))
                && string_or_unknown(&l)
                && string_or_unknown(&r) =>
        {
            (bpchar_compared(l, ctx), bpchar_compared(r, ctx))
        }
        BinOp::Concat => (trimmed_bpchar(l), trimmed_bpchar(r)),
        _ => (l, r),
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
                    | BinOp::ExistsAny
                    | BinOp::ExistsAll
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
            require_json_key(op, bop, lt, rt)?;
            lt
        }
        BinOp::LongArrow | BinOp::HashLongArrow => {
            require_json(op, lt, rt)?;
            require_json_key(op, bop, lt, rt)?;
            DataType::Text
        }
        BinOp::Contains | BinOp::ContainedBy => {
            let r = r.coerce_to(DataType::Jsonb);
            let l = l.coerce_to(DataType::Jsonb);
            return Ok(Expr::Binary(bop, Box::new(l), Box::new(r), DataType::Bool));
        }
        BinOp::Exists | BinOp::ExistsAny | BinOp::ExistsAll => DataType::Bool,
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

/// `->` and `->>` take a key (text) or an index (integer); a number of
/// another type has no operator.
fn require_json_key(
    op: &BinaryOperator,
    bop: BinOp,
    lt: DataType,
    rt: DataType,
) -> Result<(), SqlError> {
    let bad = matches!(bop, BinOp::Arrow | BinOp::LongArrow)
        && (rt == DataType::Bool
            || (numeric_rank(rt).is_some() && !matches!(rt, DataType::Int2 | DataType::Int4)));
    if bad {
        Err(no_operator(op, lt, rt))
    } else {
        Ok(())
    }
}

/// A type as PostgreSQL's `format_type_be` names it in errors: without a
/// length (`character`, `character varying`).
fn type_name(t: DataType) -> String {
    match t {
        DataType::Varchar { .. } => DataType::Varchar { max_chars: None },
        DataType::Bpchar { .. } => DataType::Bpchar { max_chars: None },
        t => t,
    }
    .format_type()
}

fn no_operator(op: &BinaryOperator, lt: DataType, rt: DataType) -> SqlError {
    SqlError::new(code::UNDEFINED_FUNCTION, format!("operator does not exist: {} {op} {}", type_name(lt), type_name(rt)))
        .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts.")
}

fn comparable(a: DataType, b: DataType) -> Result<(), SqlError> {
    let family = |t: DataType| match t {
        DataType::Int2
        | DataType::Int4
        | DataType::Int8
        | DataType::Numeric
        | DataType::Float4
        | DataType::Float8
        | DataType::Oid
        | DataType::RegClass
        | DataType::RegType
        | DataType::RegProc
        | DataType::RegProcedure
        | DataType::RegNamespace => 1,
        DataType::Text
        | DataType::Varchar { .. }
        | DataType::Bpchar { .. }
        | DataType::Name
        | DataType::Char => 2,
        DataType::Timestamp | DataType::TimestampTz | DataType::Date => 3,
        other => 10 + other.oid().0,
    };
    if family(a) == family(b) {
        Ok(())
    } else {
        Err(SqlError::new(
            code::UNDEFINED_FUNCTION,
            format!("operator does not exist: {} = {}", type_name(a), type_name(b)),
        )
        .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts."))
    }
}

/// The aggregate called `name`, if it is one.
pub fn aggregate_named(name: &str) -> Option<AggFunc> {
    Some(match name {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "avg" => AggFunc::Avg,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "string_agg" => AggFunc::StringAgg,
        "jsonb_agg" | "json_agg" => AggFunc::JsonbAgg,
        "jsonb_object_agg" | "json_object_agg" => AggFunc::JsonbObjectAgg,
        "bool_and" | "every" => AggFunc::BoolAnd,
        "array_agg" => AggFunc::ArrayAgg,
        "bool_or" => AggFunc::BoolOr,
        _ => return None,
    })
}

pub(crate) fn function_name(f: &ast::Function) -> String {
    // `pg_catalog.lower(x)` is `lower(x)`.
    f.name
        .0
        .last()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => ident(i),
            other => other.to_string().to_lowercase(),
        })
        .unwrap_or_default()
}

fn bind_function(
    f: &ast::Function,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let name = function_name(f);
    if let Some(over) = &f.over {
        return crate::sql::window::bind_window_call(f, &name, over, scope, ctx);
    }
    if let Some(r) = crate::sql::ordered_set::bind_special(f, &name, scope, ctx) {
        return r;
    }
    if let (ast::FunctionArguments::Subquery(q), "array") = (&f.args, name.as_str()) {
        let sub = plan_sub(q, scope, ctx)?;
        let [(_, elem)] = sub.query.columns.as_slice() else {
            return Err(SqlError::new(
                code::SYNTAX_ERROR,
                "subquery must return only one column",
            ));
        };
        let ty = elem
            .array_of()
            .ok_or_else(|| SqlError::unsupported(format!("arrays of {}", elem.format_type())))?;
        return Ok(Expr::Subquery {
            sub: Arc::new(sub),
            kind: SubKind::Array(ty),
            offset: 0,
        });
    }
    let (list, distinct, clauses) = match &f.args {
        ast::FunctionArguments::None => (Vec::new(), false, Vec::new()),
        ast::FunctionArguments::List(list) => (
            list.args.clone(),
            matches!(
                list.duplicate_treatment,
                Some(ast::DuplicateTreatment::Distinct)
            ),
            list.clauses.clone(),
        ),
        ast::FunctionArguments::Subquery(_) => {
            return Err(SqlError::unsupported("subquery as a function argument"))
        }
    };
    if let Some(agg) = aggregate_named(&name) {
        return bind_aggregate(agg, &name, f, &list, distinct, &clauses, scope, ctx);
    }
    if distinct || f.filter.is_some() {
        return Err(SqlError::new(
            code::WRONG_OBJECT_TYPE,
            format!("DISTINCT specified, but {name} is not an aggregate function"),
        ));
    }
    let mut named = Vec::with_capacity(list.len());
    for a in &list {
        use sqlparser::ast::Spanned;
        let (name, e) = match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => (None, e),
            ast::FunctionArg::Named {
                name,
                arg: ast::FunctionArgExpr::Expr(e),
                ..
            } => (Some((ident(name), name.span)), e),
            // PostgreSQL's dialect reads the name as an expression.
            ast::FunctionArg::ExprNamed {
                name: ast::Expr::Identifier(name),
                arg: ast::FunctionArgExpr::Expr(e),
                ..
            } => (Some((ident(name), name.span)), e),
            other => return Err(SqlError::unsupported(format!("function argument {other}"))),
        };
        named.push(crate::sql::named_args::Arg {
            name,
            span: e.span(),
            expr: bind(e, scope, ctx)?,
        });
    }
    let args = crate::sql::named_args::positional(&name, named)?;
    let types: Vec<DataType> = args.iter().map(Expr::ty).collect();
    if let Some((func, cols)) = SrfFunc::resolve(&name, &types) {
        let ty = cols[0].1;
        let conv = func.arg_types(ty, args.len());
        let args: Vec<Expr> = if conv.is_empty() {
            args
        } else {
            args.into_iter()
                .zip(conv)
                .map(|(a, t)| infer_param(a, t, ctx))
                .collect()
        };
        let srfs = ctx.srfs.as_mut().map_err(|clause| {
            SqlError::new(
                code::FEATURE_NOT_SUPPORTED,
                format!("set-returning functions are not allowed in {clause}"),
            )
            .at_span(function_span(f))
        })?;
        // Several output columns are one record in a select list.
        let record = cols.len() > 1;
        let ty = if record {
            let fields = cols
                .into_iter()
                .map(|(name, ty)| crate::datum::RecordField { name, ty })
                .collect();
            crate::datum::RecordType::intern(fields)
                .map_err(|e| SqlError::new(code::PROGRAM_LIMIT_EXCEEDED, e.to_string()))?
        } else {
            ty
        };
        srfs.push(SrfCall { func, args, record });
        return Ok(Expr::Srf(srfs.len() - 1, ty));
    }
    if name == "row" && f.name.0.len() == 1 {
        return record::row(args);
    }
    // The JSON forms of a record name its fields, which only its type knows.
    if let [arg] = args.as_slice() {
        if matches!(arg.ty(), DataType::Record(_)) {
            match name.as_str() {
                "to_jsonb" => return Ok(Expr::Call(Func::RecordToJsonb, args, DataType::Jsonb)),
                "to_json" | "row_to_json" => {
                    return Ok(Expr::Call(Func::RecordToJson, args, DataType::Json))
                }
                _ => {}
            }
        }
    }
    if name == "localtimestamp" && args.is_empty() {
        // The grammar's niladic LOCALTIMESTAMP: now() in the session's zone.
        let now = Expr::Call(Func::Now, Vec::new(), DataType::TimestampTz);
        return Ok(Expr::Cast(Box::new(now), DataType::Timestamp));
    }
    let (func, ty) = match (name.as_str(), args.len()) {
        ("now" | "current_timestamp" | "transaction_timestamp", 0) => {
            (Func::Now, DataType::TimestampTz)
        }
        ("gen_random_uuid", 0) => (Func::GenRandomUuid, DataType::Uuid),
        // `character(n)` goes to the function library, which trims it
        // on its way to text.
        ("lower", 1) if is_text(args[0].ty()) && !is_bpchar(&args[0]) => {
            (Func::Lower, DataType::Text)
        }
        ("upper", 1) if is_text(args[0].ty()) && !is_bpchar(&args[0]) => {
            (Func::Upper, DataType::Text)
        }
        ("length" | "char_length", 1)
            if !matches!(args[0].ty(), DataType::Bytea) && !is_bpchar(&args[0]) =>
        {
            (Func::Length, DataType::Int4)
        }
        ("jsonb_typeof", 1) => (Func::JsonbTypeof, DataType::Text),
        ("version", 0) => (Func::Version, DataType::Text),
        ("current_database", 0) => (Func::CurrentDatabase, DataType::Name),
        ("current_user" | "session_user" | "user" | "current_role", 0) => {
            (Func::CurrentUser, DataType::Name)
        }
        ("current_schema", 0) => (Func::CurrentSchema, DataType::Name),
        ("coalesce" | "greatest" | "least", n) if n > 0 => {
            let ty = common_type(&args, &name)?;
            let args = args
                .into_iter()
                .map(|a| match ty {
                    DataType::Bpchar { .. } => infer_param(a, ty, ctx),
                    _ => infer_param(trimmed_bpchar(a), ty, ctx),
                })
                .collect();
            let func = match name.as_str() {
                "coalesce" => Func::Coalesce,
                "greatest" => Func::Greatest,
                _ => Func::Least,
            };
            return Ok(Expr::Call(func, args, ty));
        }
        ("nullif", 2) => {
            let mut it = args.into_iter();
            let (l, r) = unify(it.next().expect("two"), it.next().expect("two"), ctx);
            comparable(l.ty(), r.ty())?;
            let ty = l.ty();
            return Ok(Expr::Call(Func::NullIf, vec![l, r], ty));
        }
        _ => {
            let unknown: Vec<bool> = args.iter().map(Expr::is_unknown).collect();
            if name == "pg_typeof" && args.len() == 1 {
                let oid = if unknown[0] { 705 } else { types[0].oid().0 };
                return Ok(Expr::Literal(Datum::Oid(oid), DataType::RegType));
            }
            if let Some(res) = crate::sql::func::resolve(&name, &types, &unknown) {
                let args = args
                    .into_iter()
                    .zip(&res.arg_types)
                    .map(|(a, t)| convert_arg(a, *t, ctx))
                    .collect();
                return Ok(Expr::Builtin(res.func, args, res.ret));
            }
            if let Some(res) = crate::sql::pg_catalog::resolve_function(&name, &types, &unknown) {
                let args = args
                    .into_iter()
                    .zip(&res.arg_types)
                    .map(|(a, t)| convert_arg(a, *t, ctx))
                    .collect();
                return Ok(Expr::CatalogCall(res.func, args, res.ret));
            }
            if let Some(res) = crate::sql::array::resolve(&name, &types, &unknown) {
                let args = args
                    .into_iter()
                    .zip(&res.arg_types)
                    .map(|(a, t)| convert_arg(a, *t, ctx))
                    .collect();
                return Ok(Expr::ArrayCall(res.func, args, res.ret));
            }
            let types: Vec<String> = args
                .iter()
                .map(|a| {
                    if a.is_unknown() {
                        "unknown".to_string()
                    } else {
                        a.ty().format_type()
                    }
                })
                .collect();
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

/// The type a list of alternatives resolves to (COALESCE, CASE, UNION):
/// the first typed one, widened across numeric types; text when all are
/// untyped.
pub fn common_type(args: &[Expr], what: &str) -> Result<DataType, SqlError> {
    let mut ty: Option<DataType> = None;
    for a in args.iter().filter(|a| !a.is_unknown()) {
        let t = a.ty();
        ty = Some(match ty {
            None => t,
            Some(cur) if cur == t => cur,
            Some(cur) => match (numeric_rank(cur), numeric_rank(t)) {
                (Some(x), Some(y)) => {
                    if y > x {
                        t
                    } else {
                        cur
                    }
                }
                // `character` first stays `character` (without a length)
                // against the string types it converts to and from
                // implicitly, as in PostgreSQL's `select_common_type`.
                _ if matches!(cur, DataType::Bpchar { .. })
                    && matches!(
                        t,
                        DataType::Bpchar { .. }
                            | DataType::Text
                            | DataType::Varchar { .. }
                            | DataType::Name
                    ) =>
                {
                    DataType::Bpchar { max_chars: None }
                }
                _ if is_text(cur) && is_text(t) => DataType::Text,
                // Records of different shapes are just `record`.
                _ if matches!((cur, t), (DataType::Record(_), DataType::Record(_))) => {
                    DataType::Record(&crate::datum::record::RECORD_UNKNOWN)
                }
                _ if matches!(
                    (cur, t),
                    (DataType::Timestamp, DataType::TimestampTz)
                        | (DataType::TimestampTz, DataType::Timestamp)
                        | (DataType::Date, DataType::TimestampTz)
                        | (DataType::TimestampTz, DataType::Date)
                ) =>
                {
                    DataType::TimestampTz
                }
                _ if matches!(
                    (cur, t),
                    (DataType::Date, DataType::Timestamp) | (DataType::Timestamp, DataType::Date)
                ) =>
                {
                    DataType::Timestamp
                }
                _ => {
                    return Err(SqlError::new(
                        code::DATATYPE_MISMATCH,
                        format!(
                            "{what} types {} and {} cannot be matched",
                            cur.format_type(),
                            t.format_type()
                        ),
                    ))
                }
            },
        });
    }
    Ok(ty.unwrap_or(DataType::Text))
}

fn is_text(t: DataType) -> bool {
    matches!(
        t,
        DataType::Text
            | DataType::Varchar { .. }
            | DataType::Bpchar { .. }
            | DataType::Name
            | DataType::Char
    )
}

/// Whether `e` is a typed `character(n)` value.
fn is_bpchar(e: &Expr) -> bool {
    matches!(e.ty(), DataType::Bpchar { .. }) && !e.is_unknown()
}

fn string_or_unknown(e: &Expr) -> bool {
    e.is_unknown() || is_text(e.ty())
}

/// `e` without `character(n)`'s padding, as text: what PostgreSQL's
/// `bpchar` operators compare (`bpchareq` and friends ignore trailing
/// blanks), and what `bpchar || text` concatenates (`rtrim1`). Text
/// compares byte-wise here, so comparing the trimmed texts is comparing
/// the `bpchar` values. Other expressions are returned as they are.
pub(crate) fn trimmed_bpchar(e: Expr) -> Expr {
    if is_bpchar(&e) {
        Expr::Cast(Box::new(e), DataType::Text)
    } else {
        e
    }
}

/// One side of a comparison with a `character(n)` value: trimmed if it is
/// one too, and an untyped literal read as `bpchar` (its trailing blanks
/// do not count either), then trimmed.
fn bpchar_compared(e: Expr, ctx: &mut BindCtx<'_>) -> Expr {
    if e.is_unknown() {
        let e = infer_param(e, DataType::Bpchar { max_chars: None }, ctx);
        return Expr::Cast(Box::new(e), DataType::Text);
    }
    trimmed_bpchar(e)
}

#[allow(clippy::too_many_arguments)]
fn bind_aggregate(
    agg: AggFunc,
    name: &str,
    f: &ast::Function,
    list: &[ast::FunctionArg],
    distinct: bool,
    clauses: &[ast::FunctionArgumentClause],
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    if let Err(clause) = &ctx.aggs {
        let message = match *clause {
            "aggregate function calls" => "aggregate function calls cannot be nested".to_string(),
            c => format!("aggregate functions are not allowed in {c}"),
        };
        return Err(SqlError::new(code::GROUPING_ERROR, message).at_span(function_span(f)));
    }
    let call = bind_agg_call(agg, name, f, list, distinct, clauses, scope, ctx, false)?;
    let ty = call.ty;
    let aggs = ctx.aggs.as_mut().expect("checked above");
    aggs.push(call);
    Ok(Expr::Aggregate(aggs.len() - 1, ty))
}

/// Binds an aggregate call. In a window (`in_window`) its arguments may
/// hold the query level's own aggregates (`sum(count(*)) OVER ()`); else
/// aggregates cannot nest and window calls cannot appear inside.
#[allow(clippy::too_many_arguments)]
pub(crate) fn bind_agg_call(
    agg: AggFunc,
    name: &str,
    f: &ast::Function,
    list: &[ast::FunctionArg],
    distinct: bool,
    clauses: &[ast::FunctionArgumentClause],
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
    in_window: bool,
) -> Result<AggCall, SqlError> {
    let saved = if in_window {
        ctx.aggs.clone()
    } else {
        std::mem::replace(&mut ctx.aggs, Err("aggregate function calls"))
    };
    let saved_windows = if in_window {
        std::mem::replace(&mut ctx.windows, Err("window function calls"))
    } else {
        std::mem::replace(&mut ctx.windows, Err("aggregate function calls"))
    };
    let r = (|| -> Result<AggCall, SqlError> {
        let mut func = agg;
        let mut args = Vec::new();
        for a in list {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)
                    if agg == AggFunc::Count && list.len() == 1 =>
                {
                    func = AggFunc::CountStar;
                }
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                    args.push(bind(e, scope, ctx)?)
                }
                other => return Err(SqlError::unsupported(format!("aggregate argument {other}"))),
            }
        }
        let want = match func {
            AggFunc::CountStar => 0,
            AggFunc::StringAgg | AggFunc::JsonbObjectAgg => 2,
            _ => 1,
        };
        if args.len() != want {
            let types: Vec<String> = args.iter().map(|a| a.ty().format_type()).collect();
            return Err(SqlError::new(
                code::UNDEFINED_FUNCTION,
                format!("function {name}({}) does not exist", types.join(", ")),
            )
            .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."));
        }
        // An untyped literal fits every numeric variant of sum and avg
        // equally well.
        if matches!(func, AggFunc::Sum | AggFunc::Avg)
            && matches!(args[0], Expr::Literal(_, DataType::Text))
        {
            return Err(SqlError::new(
                code::AMBIGUOUS_FUNCTION,
                format!("function {name}(unknown) is not unique"),
            )
            .with_hint("Could not choose a best candidate function. You might need to add explicit type casts."));
        }
        let ty = match func {
            AggFunc::CountStar | AggFunc::Count => DataType::Int8,
            AggFunc::Sum => match args[0].ty() {
                DataType::Int2 | DataType::Int4 => DataType::Int8,
                DataType::Int8 | DataType::Numeric => DataType::Numeric,
                DataType::Float4 => DataType::Float4,
                DataType::Float8 => DataType::Float8,
                DataType::Interval => DataType::Interval,
                t => return Err(no_agg(name, t)),
            },
            AggFunc::Avg => match args[0].ty() {
                DataType::Float4 | DataType::Float8 => DataType::Float8,
                DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Numeric => {
                    DataType::Numeric
                }
                DataType::Interval => DataType::Interval,
                t => return Err(no_agg(name, t)),
            },
            AggFunc::Min | AggFunc::Max => {
                if args[0].is_unknown() {
                    args[0] = args[0].clone().coerce_to(DataType::Text);
                }
                match args[0].ty() {
                    DataType::Json | DataType::Bytea => return Err(no_agg(name, args[0].ty())),
                    t => t,
                }
            }
            AggFunc::StringAgg => {
                for a in args.iter_mut() {
                    *a = a.clone().coerce_to(DataType::Text);
                }
                if args.iter().any(|a| !is_text(a.ty())) {
                    return Err(no_agg(name, args[0].ty()));
                }
                for a in args.iter_mut() {
                    if a.ty() != DataType::Text {
                        *a = Expr::Cast(Box::new(a.clone()), DataType::Text);
                    }
                }
                DataType::Text
            }
            AggFunc::JsonbAgg | AggFunc::JsonbObjectAgg => {
                if name.starts_with("json_") {
                    DataType::Json
                } else {
                    DataType::Jsonb
                }
            }
            AggFunc::ArrayAgg => {
                if args[0].is_unknown() {
                    args[0] = args[0].clone().coerce_to(DataType::Text);
                }
                args[0]
                    .ty()
                    .array_of()
                    .ok_or_else(|| no_agg(name, args[0].ty()))?
            }
            AggFunc::BoolAnd | AggFunc::BoolOr => {
                args[0] = args[0].clone().coerce_to(DataType::Bool);
                if args[0].ty() != DataType::Bool {
                    return Err(no_agg(name, args[0].ty()));
                }
                DataType::Bool
            }
            AggFunc::Grouping
            | AggFunc::PercentileCont
            | AggFunc::PercentileDisc
            | AggFunc::Mode => {
                return Err(SqlError::new(
                    code::INTERNAL_ERROR,
                    format!("{name} is not bound as a plain aggregate"),
                ))
            }
        };
        let mut order_by = Vec::new();
        for c in clauses {
            match c {
                ast::FunctionArgumentClause::OrderBy(obs) => {
                    for o in obs {
                        order_by.push(SortKey {
                            expr: bind(&o.expr, scope, ctx)?,
                            asc: o.options.asc.unwrap_or(true),
                            nulls_first: o
                                .options
                                .nulls_first
                                .unwrap_or(!o.options.asc.unwrap_or(true)),
                        });
                    }
                }
                other => return Err(SqlError::unsupported(format!("aggregate clause {other}"))),
            }
        }
        let filter = f
            .filter
            .as_ref()
            .map(|w| bind(w, scope, ctx).map(|e| e.coerce_to(DataType::Bool)))
            .transpose()?;
        Ok(AggCall {
            func,
            args,
            distinct,
            filter,
            order_by,
            ty,
        })
    })();
    if !in_window {
        ctx.aggs = saved;
    }
    ctx.windows = saved_windows;
    r
}

pub(crate) fn no_agg(name: &str, t: DataType) -> SqlError {
    SqlError::new(
        code::UNDEFINED_FUNCTION,
        format!("function {name}({}) does not exist", t.format_type()),
    )
    .with_hint(
        "No function matches the given name and argument types. You might need to add explicit type casts.",
    )
}

/// Per-statement values evaluation needs.
#[derive(Clone, Copy)]
pub struct EvalCtx<'a> {
    /// Parameter values.
    pub params: &'a [Datum],
    /// Rows of the enclosing queries, nearest last.
    pub outer: &'a [&'a [Datum]],
    /// Runs subqueries.
    pub sub: Option<&'a dyn SubqueryRunner>,
    /// The catalog, for catalog functions and `reg*` casts.
    pub catalog: Option<&'a crate::sql::pg_catalog::CatalogView<'a>>,
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
                    context: e.context(),
                })
        },
        format: |b| match Jsonb::from_bytes(b.to_vec()) {
            Ok(j) => j.to_string(),
            Err(e) => format!("<corrupt jsonb: {e}>"),
        },
    }
}

pub(crate) fn type_err(e: pgtext::TypeError) -> SqlError {
    let mut s = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(d) = e.detail() {
        s = s.with_detail(d.to_string());
    }
    if let Some(h) = e.hint() {
        s = s.with_hint(h);
    }
    if let Some(c) = e.context() {
        s = s.with_context(c.to_string());
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
    if let Some(c) = e.context() {
        s = s.with_context(c);
    }
    s
}

/// Reads the untyped literal that `at` is (if it is one) as the type the
/// bound expression `e` gives it, now, as PostgreSQL does while parsing: a
/// bad literal fails with its position even when no row reaches it. The
/// value is read again when the expression runs (with the session's time
/// zone and clock); this only finds the error and where it is.
pub(crate) fn check_literal(e: &Expr, at: &ast::Expr) -> Result<(), SqlError> {
    use sqlparser::ast::Spanned;
    let text = match strip(at) {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s)
            | ast::Value::EscapedStringLiteral(s)
            | ast::Value::DollarQuotedString(ast::DollarQuotedString { value: s, .. }) => s,
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    let Some(ty) = literal_target(e, text) else {
        return Ok(());
    };
    // varchar(n) and char(n) check their length when the value is stored,
    // not here; reg* types need the catalog.
    if ty.is_reg()
        || matches!(
            ty,
            DataType::Varchar { .. } | DataType::Bpchar { .. } | DataType::Text
        )
    {
        return Ok(());
    }
    let tctx = TextContext {
        now: Some(0),
        jsonb: Some(jsonb_hooks()),
        ..TextContext::default()
    };
    pgtext::parse(&ty, text, &tctx)
        .map(|_| ())
        .map_err(|err| type_err(err).at_span(at.span()))
}

/// The type the literal `text` is read as in `e`: the first conversion of
/// an untyped literal with that text, outside subqueries.
fn literal_target(e: &Expr, text: &str) -> Option<DataType> {
    let mut found = None;
    crate::sql::plan::visit(e, &mut |x| {
        if let Expr::Coerce(inner, ty) = x {
            if let Expr::Literal(Datum::Text(s), DataType::Text) = inner.as_ref() {
                if s == text && found.is_none() {
                    found = Some(*ty);
                }
            }
        }
    });
    found
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
            Datum::Oid(v) => Some(f64::from(*v)),
            _ => None,
        }
    };
    match (a, b) {
        // `record_cmp` over fields without a btree order of their own here.
        (Datum::Record(x), Datum::Record(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let o = match (p.is_null(), q.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => compare(p, q)?,
                };
                if o != Ordering::Equal {
                    return Ok(o);
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
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

/// [`eval`] without copying what is already there: a column's value or a
/// literal is lent, anything else computed.
pub fn eval_ref<'a>(
    e: &'a Expr,
    row: &'a [Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Cow<'a, Datum>, SqlError> {
    match e {
        Expr::Literal(d, _) => Ok(Cow::Borrowed(d)),
        Expr::Column(i, _) => Ok(Cow::Borrowed(&row[*i])),
        _ => deep(|| eval_node(e, row, ctx)).map(Cow::Owned),
    }
}

/// Evaluates `e` on `row`.
pub fn eval(e: &Expr, row: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    match e {
        // Leaves need no stack check.
        Expr::Literal(d, _) => Ok(d.clone()),
        Expr::Column(i, _) => Ok(row[*i].clone()),
        _ => deep(|| eval_node(e, row, ctx)),
    }
}

fn eval_node(e: &Expr, row: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
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
                // A name given for a `$1::regclass` parameter: only the
                // catalog can resolve it.
                Datum::Text(ref s) if ty.is_reg() => {
                    let view = ctx
                        .catalog
                        .ok_or_else(|| SqlError::unsupported("reg* types here"))?;
                    crate::sql::pg_catalog::reg_in(*ty, s, view)?
                }
                Datum::Text(ref s) if *ty != DataType::Text => {
                    pgtext::parse(ty, s, ctx.text).map_err(type_err)?
                }
                d => d,
            }
        }
        Expr::Coerce(inner, ty) => match eval(inner, row, ctx)? {
            Datum::Null => Datum::Null,
            Datum::Text(s) if ty.is_reg() => {
                let view = ctx
                    .catalog
                    .ok_or_else(|| SqlError::unsupported("reg* types here"))?;
                crate::sql::pg_catalog::reg_in(*ty, &s, view)?
            }
            Datum::Text(s) => pgtext::parse(ty, &s, ctx.text).map_err(type_err)?,
            d => cast(d, *ty, ctx)?,
        },
        Expr::Cast(inner, ty) => {
            let d = eval(inner, row, ctx)?;
            let from = inner.ty();
            if ty.is_reg() || from.is_reg() {
                let view = ctx
                    .catalog
                    .ok_or_else(|| SqlError::unsupported("reg* types here"))?;
                crate::sql::pg_catalog::cast(d, &from, ty, false, ctx.text, view)?
            } else if let DataType::Bpchar { .. } = from {
                // The declared type says to trim `character(n)`'s padding.
                crate::cast::cast_from(d, &from, ty, ctx.text).map_err(type_err)?
            } else {
                cast(d, *ty, ctx)?
            }
        }
        Expr::Not(inner) => not(eval(inner, row, ctx)?),
        Expr::Neg(inner) => match eval(inner, row, ctx)? {
            Datum::Int2(v) => Datum::Int2(v.checked_neg().ok_or_else(|| out_of_range("smallint"))?),
            Datum::Int4(v) => Datum::Int4(v.checked_neg().ok_or_else(|| out_of_range("integer"))?),
            Datum::Int8(v) => Datum::Int8(v.checked_neg().ok_or_else(|| out_of_range("bigint"))?),
            Datum::Float4(v) => Datum::Float4(-v),
            Datum::Float8(v) => Datum::Float8(-v),
            Datum::Numeric(n) => Datum::Numeric(n.neg()),
            Datum::Null => Datum::Null,
            other => return Err(SqlError::unsupported(format!("negating {other:?}"))),
        },
        Expr::IsNull(inner, negated) => match eval(inner, row, ctx)? {
            // A row is NULL when every field is, and NOT NULL when none is.
            Datum::Record(fields) if *negated => Datum::Bool(fields.iter().all(|f| !f.is_null())),
            Datum::Record(fields) => Datum::Bool(fields.iter().all(Datum::is_null)),
            v => Datum::Bool(v.is_null() != *negated),
        },
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
            escape,
        } => {
            let (v, p) = (eval(expr, row, ctx)?, eval(pattern, row, ctx)?);
            match (v, p) {
                (Datum::Null, _) | (_, Datum::Null) => Datum::Null,
                (v, Datum::Text(p)) => {
                    let s = match v {
                        Datum::Text(s) => s,
                        other => pgtext::format(&other, ctx.text),
                    };
                    let m = crate::sql::func::like_match(&s, &p, *escape, *case_insensitive)?;
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
        Expr::CatalogCall(f, args, _) => {
            let vals = args
                .iter()
                .map(|a| eval(a, row, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            let view = ctx
                .catalog
                .ok_or_else(|| SqlError::unsupported("catalog functions here"))?;
            crate::sql::pg_catalog::call_function(*f, &vals, view)?
        }
        Expr::ArrayCall(f, args, _) => {
            let vals = args
                .iter()
                .map(|a| eval(a, row, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            crate::sql::array::call(*f, &vals, ctx.text)?
        }
        Expr::ArrayCons(items, ty) => {
            let vals = items
                .iter()
                .map(|a| eval(a, row, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            Datum::Array(Box::new(crate::datum::Array::new(*ty, vals)))
        }
        Expr::Row(items, _) => eval_row(items, row, ctx)?,
        Expr::Field(record, i, _) => eval_field(record, *i, row, ctx)?,
        Expr::AnyArray {
            lhs,
            op,
            all,
            array,
        } => {
            let v = eval(lhs, row, ctx)?;
            let a = eval(array, row, ctx)?;
            let Datum::Array(a) = a else {
                return Ok(Datum::Null);
            };
            let mut saw_null = false;
            for item in a.items() {
                let hit = if v.is_null() || item.is_null() {
                    None
                } else {
                    let o = compare(&v, item)?;
                    Some(match op {
                        BinOp::Eq => o == Ordering::Equal,
                        BinOp::Ne => o != Ordering::Equal,
                        BinOp::Lt => o == Ordering::Less,
                        BinOp::Le => o != Ordering::Greater,
                        BinOp::Gt => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    })
                };
                match (hit, all) {
                    (Some(true), false) => return Ok(Datum::Bool(true)),
                    (Some(false), true) => return Ok(Datum::Bool(false)),
                    (None, _) => saw_null = true,
                    _ => {}
                }
            }
            if saw_null {
                Datum::Null
            } else {
                Datum::Bool(*all)
            }
        }
        Expr::Builtin(f, args, _) => call_builtin(*f, args, row, ctx)?,
        Expr::Outer { depth, index, .. } => {
            let n = ctx.outer.len();
            let r = n
                .checked_sub(*depth)
                .and_then(|l| ctx.outer.get(l))
                .ok_or_else(|| SqlError::new(code::INTERNAL_ERROR, "no enclosing row"))?;
            r[*index].clone()
        }
        Expr::Subquery { sub, kind, offset } => {
            let runner = ctx
                .sub
                .ok_or_else(|| SqlError::unsupported("subqueries here"))?;
            let rows = runner.run_subquery(sub, &row[*offset..], ctx)?;
            match kind {
                SubKind::Row(_) => match rows.len() {
                    0 => Datum::Null,
                    1 => Datum::Record(rows[0].clone().into_boxed_slice()),
                    _ => {
                        return Err(SqlError::new(
                            code::CARDINALITY_VIOLATION,
                            "more than one row returned by a subquery used as an expression",
                        ))
                    }
                },
                SubKind::Scalar(_) => match rows.len() {
                    0 => Datum::Null,
                    1 => rows[0][0].clone(),
                    _ => {
                        return Err(SqlError::new(
                            code::CARDINALITY_VIOLATION,
                            "more than one row returned by a subquery used as an expression",
                        ))
                    }
                },
                SubKind::Exists => Datum::Bool(!rows.is_empty()),
                SubKind::Array(ty) => Datum::Array(Box::new(crate::datum::Array::new(
                    *ty,
                    rows.iter().map(|r| r[0].clone()).collect(),
                ))),
                SubKind::Quantified { lhs, op, all } => {
                    let v = eval(lhs, row, ctx)?;
                    let mut saw_null = false;
                    for r in rows.iter() {
                        let hit = if let (Expr::Row(..), Datum::Record(fields)) = (&**lhs, &v) {
                            crate::sql::record::compare_fields(*op, fields, r)?
                        } else if v.is_null() || r[0].is_null() {
                            None
                        } else {
                            let o = compare(&v, &r[0])?;
                            Some(match op {
                                BinOp::Eq => o == Ordering::Equal,
                                BinOp::Ne => o != Ordering::Equal,
                                BinOp::Lt => o == Ordering::Less,
                                BinOp::Le => o != Ordering::Greater,
                                BinOp::Gt => o == Ordering::Greater,
                                _ => o != Ordering::Less,
                            })
                        };
                        match (hit, all) {
                            (Some(true), false) => return Ok(Datum::Bool(true)),
                            (Some(false), true) => return Ok(Datum::Bool(false)),
                            (None, _) => saw_null = true,
                            _ => {}
                        }
                    }
                    if saw_null {
                        Datum::Null
                    } else {
                        Datum::Bool(*all)
                    }
                }
            }
        }
        Expr::Aggregate(..) | Expr::Srf(..) | Expr::Window(..) => {
            return Err(SqlError::new(
                code::INTERNAL_ERROR,
                "aggregate, window or set-returning call evaluated outside its node",
            ))
        }
    })
}

/// A row constructor's record. Apart from [`eval`] to keep its frame small.
fn eval_row(items: &[Expr], row: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    let fields = items
        .iter()
        .map(|a| eval(a, row, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Datum::Record(fields.into_boxed_slice()))
}

/// Field `i` of a record; NULL of a NULL record.
fn eval_field(
    record: &Expr,
    i: usize,
    row: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    match eval(record, row, ctx)? {
        Datum::Record(fields) => fields.get(i).cloned().ok_or_else(|| {
            SqlError::new(
                code::INTERNAL_ERROR,
                format!("record has no field {}", i + 1),
            )
        }),
        Datum::Null => Ok(Datum::Null),
        other => Err(SqlError::new(
            code::INTERNAL_ERROR,
            format!("field selection from a non-record value {other:?}"),
        )),
    }
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
    if matches!(l, Expr::Binary(BinOp::Arrow, ..)) {
        if let Some(d) = arrow_chain(op, l, r, ty, row, ctx)? {
            return Ok(d);
        }
    }
    if let (
        BinOp::Eq | BinOp::Ne,
        Expr::Binary(BinOp::LongArrow, doc, key, DataType::Text),
        Expr::Literal(Datum::Text(text), _),
    ) = (op, l, r)
    {
        if let Some(d) = field_equals(doc, key, text, row, ctx)? {
            return Ok(if op == BinOp::Eq { d } else { not(d) });
        }
    }
    // Columns and literals are read in place: cloning the operand of
    // `payload->>'k'` copied the whole document for every row.
    let a = eval_ref(l, row, ctx)?;
    let b = eval_ref(r, row, ctx)?;
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
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => arith(
            op,
            cast(a.into_owned(), ty, ctx)?,
            cast(b.into_owned(), ty, ctx)?,
        )?,
        BinOp::Concat => {
            let t = |d: Cow<'_, Datum>| match d.into_owned() {
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
            arrow(j.view(), &b, op == BinOp::LongArrow)?.retype(ty, ctx)?
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
            let Datum::Text(k) = &*b else {
                return Err(SqlError::unsupported("jsonb ? with a non-text key"));
            };
            Datum::Bool(x.view().exists(k).map_err(json_err)?)
        }
        BinOp::HashArrow | BinOp::HashLongArrow => {
            let j = jsonb_of(&a)?;
            let path = crate::sql::func::json::text_list(&b)?;
            let path: Vec<Option<&str>> = path.iter().map(|x| x.as_deref()).collect();
            let v = j.view();
            if op == BinOp::HashLongArrow {
                v.get_path_text(&path)
                    .map_err(json_err)?
                    .map_or(Datum::Null, Datum::Text)
            } else {
                v.get_path(&path)
                    .map_err(json_err)?
                    .map(|x| x.to_jsonb().map(|j| Datum::Jsonb(j.into_bytes())))
                    .transpose()
                    .map_err(json_err)?
                    .unwrap_or(Datum::Null)
                    .retype(ty, ctx)?
            }
        }
        BinOp::ExistsAny | BinOp::ExistsAll => {
            let j = jsonb_of(&a)?;
            let keys = crate::sql::func::json::text_list(&b)?;
            let keys: Vec<Option<&str>> = keys.iter().map(|x| x.as_deref()).collect();
            let v = j.view();
            Datum::Bool(
                if op == BinOp::ExistsAny {
                    v.exists_any(&keys)
                } else {
                    v.exists_all(&keys)
                }
                .map_err(json_err)?,
            )
        }
        BinOp::And | BinOp::Or => unreachable!("handled above"),
    })
}

/// `v -> key` (or `->>` when `text`): an object's member by text key, an
/// array's element by integer (from the end when negative).
fn arrow(v: JsonbRef<'_>, key: &Datum, text: bool) -> Result<Datum, SqlError> {
    let found = match key {
        Datum::Text(k) => v.get(k),
        other => match json_index(other) {
            Some(i) => v.index(i),
            None => return Err(SqlError::unsupported(format!("jsonb -> {other:?}"))),
        },
    }
    .map_err(json_err)?;
    let Some(x) = found else {
        return Ok(Datum::Null);
    };
    Ok(if text {
        x.as_text()
            .map_err(json_err)?
            .map_or(Datum::Null, Datum::Text)
    } else {
        Datum::Jsonb(x.to_jsonb().map_err(json_err)?.into_bytes())
    })
}

/// `doc ->> 'key' = 'text'` over a jsonb `doc` with a literal key,
/// compared in place: the member's text is not built (a `String` per row,
/// in a filter that reads most rows and keeps few). `None` where the member
/// is an object or array (whose text must be built) or the shape differs.
fn field_equals(
    doc: &Expr,
    key: &Expr,
    text: &str,
    row: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Option<Datum>, SqlError> {
    let Expr::Literal(Datum::Text(key), _) = key else {
        return Ok(None);
    };
    if doc.ty() != DataType::Jsonb {
        return Ok(None);
    }
    let d = eval_ref(doc, row, ctx)?;
    let Datum::Jsonb(bytes) = &*d else {
        return Ok(if d.is_null() { Some(Datum::Null) } else { None });
    };
    let v = JsonbRef::from_document(bytes).map_err(json_err)?;
    let Some(x) = v.get(key).map_err(json_err)? else {
        return Ok(Some(Datum::Null));
    };
    Ok(match x.text_in_place().map_err(json_err)? {
        Some(Some(member)) => Some(Datum::Bool(member == text)),
        Some(None) => Some(Datum::Null),
        None => None,
    })
}

/// The column and key of `column -> 'key'` or `column ->> 'key'` given its
/// operands (`doc`, `key`): a jsonb column read through one member, which
/// a scan can test or keep without the rest of the document.
pub fn column_member<'e>(doc: &'e Expr, key: &'e Expr) -> Option<(usize, &'e str)> {
    match (doc, key) {
        (Expr::Column(column, DataType::Jsonb), Expr::Literal(Datum::Text(key), _)) => {
            Some((*column, key))
        }
        _ => None,
    }
}

/// A condition `col ->> 'key' = 'text'`, on a jsonb column of the scanned
/// table, AND-ed into a scan's filter: a scan can test it on a row's
/// stored bytes and skip decoding the rows it rules out (an index scan
/// for the latest errors reads many rows to keep few).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTest {
    /// The column, by position in the table.
    pub column: usize,
    /// The member's key.
    pub key: String,
    /// The text the member must have.
    pub text: String,
}

impl FieldTest {
    /// The conditions of that shape among `filter`'s AND-ed terms.
    pub fn all_in(filter: &Expr) -> Vec<FieldTest> {
        let mut out = Vec::new();
        let mut terms = vec![filter];
        while let Some(e) = terms.pop() {
            match e {
                Expr::Binary(BinOp::And, l, r, _) => {
                    terms.push(l);
                    terms.push(r);
                }
                Expr::Binary(BinOp::Eq, l, r, _) => {
                    if let (
                        Expr::Binary(BinOp::LongArrow, doc, key, DataType::Text),
                        Expr::Literal(Datum::Text(text), _),
                    ) = (&**l, &**r)
                    {
                        if let Some((column, key)) = column_member(doc, key) {
                            out.push(FieldTest {
                                column,
                                key: key.to_owned(),
                                text: text.clone(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Whether a row whose column holds `doc` (a jsonb document; `None`
    /// for SQL NULL) may pass the condition: `false` only when it is
    /// surely false or NULL (the member absent, JSON null, or another
    /// scalar), so the filter would drop the row. A member that is an
    /// object or array (whose text is not built here) or a document that
    /// does not read may pass: the filter decides.
    pub fn may_pass(&self, doc: Option<&[u8]>) -> bool {
        let Some(doc) = doc else {
            return false;
        };
        let member = JsonbRef::from_document(doc).and_then(|v| v.get(&self.key));
        match member {
            Ok(None) => false,
            Ok(Some(x)) => match x.text_in_place() {
                Ok(Some(Some(text))) => text == self.text,
                Ok(Some(None)) => false,
                Ok(None) | Err(_) => true,
            },
            Err(_) => true,
        }
    }
}

/// SQL NOT: of a boolean its negation, of anything else (NULL) NULL.
fn not(d: Datum) -> Datum {
    match d {
        Datum::Bool(b) => Datum::Bool(!b),
        _ => Datum::Null,
    }
}

/// An integer `->` operand as an array position (a `bigint` past `i32`
/// reads as past any array's end); `None` for other values.
fn json_index(key: &Datum) -> Option<i32> {
    match *key {
        Datum::Int2(i) => Some(i32::from(i)),
        Datum::Int4(i) => Some(i),
        Datum::Int8(i) => Some(i32::try_from(i).unwrap_or(i32::MAX)),
        _ => None,
    }
}

/// Calls builtin `f` on its arguments evaluated on `row`. Functions are
/// called once per row, so the common shapes avoid the heap: up to four
/// arguments are held on the stack, and `date_trunc` by a literal unit (a
/// per-minute or per-hour histogram) reads the unit in place rather than
/// copying it for every row.
fn call_builtin(
    f: crate::sql::func::Builtin,
    args: &[Expr],
    row: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    use crate::sql::func::{self, Builtin as B};
    if let (B::DateTruncTs | B::DateTruncTz, [Expr::Literal(Datum::Text(units), _), ts]) = (f, args)
    {
        let ts = eval_ref(ts, row, ctx)?;
        return func::date_trunc(f, units, &ts, ctx);
    }
    const INLINE: usize = 4;
    if args.len() <= INLINE {
        let mut vals: [Datum; INLINE] = [Datum::Null, Datum::Null, Datum::Null, Datum::Null];
        for (slot, a) in vals.iter_mut().zip(args) {
            *slot = eval(a, row, ctx)?;
        }
        // `call` answers NULL for a strict function with a NULL argument.
        return func::call(f, &vals[..args.len()], ctx);
    }
    let vals = args
        .iter()
        .map(|a| eval(a, row, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    func::call(f, &vals, ctx)
}

/// `doc -> k1 -> k2 ->> k3` over jsonb with literal keys, walked in place:
/// each inner `->` would otherwise copy its sub-document out (Debezium's
/// `payload->'after'->>'id'`). `None` for anything else.
#[inline(never)]
fn arrow_chain(
    op: BinOp,
    l: &Expr,
    r: &Expr,
    ty: DataType,
    row: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Option<Datum>, SqlError> {
    if !matches!(op, BinOp::Arrow | BinOp::LongArrow) || ty == DataType::Json {
        return Ok(None);
    }
    let mut keys: Vec<&Datum> = Vec::new();
    let mut base = l;
    while let Expr::Binary(BinOp::Arrow, inner, key, DataType::Jsonb) = base {
        let Expr::Literal(k, _) = &**key else {
            return Ok(None);
        };
        keys.push(k);
        base = inner;
    }
    if keys.is_empty() || base.ty() != DataType::Jsonb {
        return Ok(None);
    }
    let doc = eval_ref(base, row, ctx)?;
    let last = eval_ref(r, row, ctx)?;
    if doc.is_null() || last.is_null() || keys.iter().any(|k| k.is_null()) {
        return Ok(Some(Datum::Null));
    }
    let j = jsonb_of(&doc)?;
    let mut v = j.view();
    for k in keys.iter().rev() {
        let found = match k {
            Datum::Text(s) => v.get(s),
            other => match json_index(other) {
                Some(i) => v.index(i),
                None => return Ok(None),
            },
        }
        .map_err(json_err)?;
        match found {
            Some(x) => v = x,
            None => return Ok(Some(Datum::Null)),
        }
    }
    arrow(v, &last, op == BinOp::LongArrow).map(Some)
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

/// A jsonb operand: a `jsonb` value's document, read where it is, or a
/// `json` value's text encoded.
enum JsonbArg<'a> {
    Stored(JsonbRef<'a>),
    Encoded(Jsonb),
}

impl JsonbArg<'_> {
    fn view(&self) -> JsonbRef<'_> {
        match self {
            JsonbArg::Stored(r) => *r,
            JsonbArg::Encoded(j) => j.view(),
        }
    }
}

/// The jsonb value of `d`. A `Datum::Jsonb` holds a document the encoder
/// made or a row read from a checksummed page, so it is not validated
/// again here: validating it on every `->>` cost a quarter of a scan's CPU
/// (debug builds still check).
fn jsonb_of(d: &Datum) -> Result<JsonbArg<'_>, SqlError> {
    match d {
        Datum::Jsonb(b) => {
            let r = JsonbRef::from_document(b).map_err(json_err)?;
            debug_assert!(
                r.validate().is_ok(),
                "a Datum::Jsonb holds an invalid document"
            );
            Ok(JsonbArg::Stored(r))
        }
        Datum::Json(s) => Jsonb::parse(s).map(JsonbArg::Encoded).map_err(json_err),
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
        (Datum::Numeric(x), Datum::Numeric(y)) => {
            use crate::sql::func::NumericOp as N;
            let nop = match op {
                BinOp::Add => N::Add,
                BinOp::Sub => N::Sub,
                BinOp::Mul => N::Mul,
                BinOp::Div => N::Div,
                _ => N::Mod,
            };
            Datum::Numeric(crate::sql::func::numeric_arith(nop, &x, &y)?)
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
        Func::RecordToJsonb | Func::RecordToJson => {
            let v = eval(&args[0], row, ctx)?;
            if v.is_null() {
                return Ok(Datum::Null);
            }
            let ty = args[0].ty();
            if f == Func::RecordToJsonb {
                let j = crate::jsonb::to_jsonb_typed(&v, &ty).map_err(json_err)?;
                Datum::Jsonb(j.into_bytes())
            } else {
                Datum::Json(crate::sql::func::json::typed_to_json(&v, &ty, ctx)?)
            }
        }
        Func::Subscript => {
            let a = eval(&args[0], row, ctx)?;
            let i = eval(&args[1], row, ctx)?;
            match (a, i) {
                (Datum::Array(a), Datum::Int4(i)) => {
                    let at = i64::from(i) - i64::from(a.lower_bound());
                    usize::try_from(at)
                        .ok()
                        .and_then(|k| a.items().get(k).cloned())
                        .unwrap_or(Datum::Null)
                }
                _ => Datum::Null,
            }
        }
        Func::NotDistinct => {
            let (a, b) = (eval(&args[0], row, ctx)?, eval(&args[1], row, ctx)?);
            Datum::Bool(match (a.is_null(), b.is_null()) {
                (true, true) => true,
                (false, false) => compare(&a, &b)? == Ordering::Equal,
                _ => false,
            })
        }
        Func::NullIf => {
            let a = eval(&args[0], row, ctx)?;
            let b = eval(&args[1], row, ctx)?;
            if !a.is_null() && !b.is_null() && compare(&a, &b)? == Ordering::Equal {
                Datum::Null
            } else {
                a
            }
        }
        Func::Greatest | Func::Least => {
            let mut best: Option<Datum> = None;
            for a in args {
                let v = eval(a, row, ctx)?;
                if v.is_null() {
                    continue;
                }
                let v = cast(v, ty, ctx)?;
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = compare(&v, &b)?;
                        if (f == Func::Greatest && o == Ordering::Greater)
                            || (f == Func::Least && o == Ordering::Less)
                        {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            best.unwrap_or(Datum::Null)
        }
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
