//! The query planner: sqlparser's query AST to a tree of plan nodes.
//!
//! Planning binds every name (tables, CTEs, columns, functions) and types
//! every expression once, so a prepared statement plans once and executes
//! many times. The plan is deliberately simple and predictable, in the
//! spirit of PostgreSQL's rule-based choices where we lack statistics:
//!
//! * FROM items join left-deep in the order written. WHERE conjuncts that
//!   read one table are pushed into its scan; conjuncts that read columns
//!   of both sides of a join become its join condition (never into the
//!   nullable side of a LEFT JOIN).
//! * A scan uses the primary key or an index when its conjuncts pin a
//!   prefix of the key with `=` and optionally bound the next key part
//!   with `<`, `<=`, `>`, `>=` or BETWEEN. Index expressions match query
//!   expressions structurally after binding, as PostgreSQL matches them.
//!   Every conjunct is still re-checked on the rows found.
//! * Equi-joins are hash joins, or index nested loops when the inner side
//!   is a table whose key the join pins and the outer side is small
//!   (a point lookup, VALUES or a function). Other joins are nested loops.
//! * Aggregation hashes on the GROUP BY values; the aggregation node's row
//!   is the group values, the aggregate results, then one input row of the
//!   group (what correlated subqueries in the select list see).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use sqlparser::ast;

use crate::btree::Direction;
use crate::catalog::{IndexKey, TableDef};
use crate::datum::{DataType, Datum};
use crate::engine::{ReadCols, Transaction};
use crate::sql::dialect::{self, LockStrength};
use crate::sql::error::{code, SqlError};
use crate::sql::expr::{
    self, bind, AggCall, BindCtx, ColumnOrigin, Expr, Scope, ScopeColumn, SortKey, SrfCall,
    SrfFunc, SubqueryPlanner,
};
use crate::sql::memo::Memo;
use crate::sql::pg_catalog::{self, VirtualTable};

/// A planned query: its plan and its output columns.
#[derive(Debug)]
pub struct Query {
    /// The root node; its rows are the output rows.
    pub root: Plan,
    /// Output column names (as PostgreSQL names them) and types.
    pub columns: Vec<(String, DataType)>,
    /// For each output column, the table column it is, when it is one
    /// (see [`ColumnOrigin`]).
    pub origins: Vec<Option<ColumnOrigin>>,
    /// `SELECT … FOR UPDATE | SHARE`: the rows each locked table
    /// contributes are claimed (see [`RowLocks`]). The root's rows then
    /// carry the locked tables' primary keys after the output columns.
    pub locks: Option<RowLocks>,
}

/// What a locking `SELECT` claims. The root's rows are the output columns
/// (as many as [`Query::columns`]) followed by, for each locked table in
/// turn, its primary-key values; the session claims those rows in its
/// transaction and strips the trailing columns. Every strength claims
/// alike (see ARCHITECTURE.md, "Row locks are claims").
#[derive(Debug)]
pub struct RowLocks {
    /// The strength of the first locked table, which names the command
    /// (see [`RowLocks::command`]).
    pub strength: LockStrength,
    /// Each locked table and its number of primary-key columns, in the
    /// order their keys follow the output columns.
    pub tables: Vec<(crate::catalog::ObjectId, usize)>,
}

impl RowLocks {
    /// The command as PostgreSQL names it after its first row mark (and
    /// a read-only transaction refuses it), e.g. `SELECT FOR KEY SHARE`.
    pub fn command(&self) -> String {
        format!("SELECT {}", self.strength.clause())
    }
}

/// A FROM item of the SELECT being planned, as a locking clause sees it.
#[derive(Debug)]
struct FromItem {
    /// The table, when the item is a stored table.
    table: Option<Arc<TableDef>>,
    /// The item reads a WITH query.
    cte: bool,
    /// Where its columns start in the FROM row.
    start: usize,
    /// On the nullable side of an outer join.
    nullable: bool,
}

/// How a join combines rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// Matching pairs.
    Inner,
    /// Matching pairs, and left rows without a match padded with NULLs.
    Left,
    /// Matching pairs, and right rows without a match padded with NULLs.
    Right,
    /// LEFT and RIGHT at once.
    Full,
}

/// How a scan finds rows.
#[derive(Debug)]
pub enum Access {
    /// Every row, in primary-key order.
    Full,
    /// Rows whose primary key lies in a range of key-value prefixes.
    Pk {
        /// Lower bound.
        lo: Bound<Vec<Expr>>,
        /// Upper bound.
        hi: Bound<Vec<Expr>>,
        /// Key parts that take each value of a list in turn (see
        /// [`KeyList`]), in key-part order.
        lists: Vec<KeyList>,
    },
    /// Rows whose index key lies in a range of key-value prefixes.
    Index {
        /// Index id.
        id: u64,
        /// Index name.
        name: String,
        /// Lower bound.
        lo: Bound<Vec<Expr>>,
        /// Upper bound.
        hi: Bound<Vec<Expr>>,
        /// Key parts that take each value of a list in turn (see
        /// [`KeyList`]), in key-part order.
        lists: Vec<KeyList>,
        /// An index-only scan: rows are decoded from the index entries and
        /// the table is never read, so only the index's key columns and the
        /// primary key's are filled (the others are NULL). Set by
        /// [`mark_index_only`] when nothing above the scan reads another
        /// column.
        only: bool,
    },
}

/// A key part of an access path that takes each value of a list in turn,
/// from `key IN (…)` or `key = ANY (array)`, as PostgreSQL's btree scans
/// a `ScalarArrayOpExpr`: the scan reads one key range per value (per
/// combination, with several lists), the values evaluated once per scan,
/// NULLs dropped, and sorted and de-duplicated in key order, so rows come
/// in key order and each once. The part lies in the bounds' equality
/// prefix; both bounds hold a placeholder there ([`list_slot`]) that the
/// scan replaces with each value.
#[derive(Debug)]
pub struct KeyList {
    /// The key part (position in the bounds).
    pub part: usize,
    /// The key part's type, which each value is compared in (see
    /// [`key_value`]).
    pub key_ty: DataType,
    /// The values.
    pub values: ListValues,
}

/// Where a [`KeyList`]'s values come from.
#[derive(Debug)]
pub enum ListValues {
    /// `IN (a, b, …)`: each item, already in the key's terms.
    Items(Vec<Expr>),
    /// `= ANY (array)`: each element of the array (a NULL array gives none).
    Array(Expr),
}

/// The placeholder a [`KeyList`]'s part holds in the bounds.
fn list_slot(ty: DataType) -> Expr {
    Expr::Literal(Datum::Null, ty)
}

/// A scan of one table.
#[derive(Debug)]
pub struct Scan {
    /// The table as planned.
    pub table: Arc<TableDef>,
    /// The name it goes by in the query.
    pub alias: String,
    /// How rows are found. Key expressions are evaluated on the enclosing
    /// row (the outer row of an index nested loop, else nothing).
    pub access: Access,
    /// Conditions every returned row meets, over the table's row.
    pub filter: Option<Expr>,
    /// What of `filter` a row read through `access`'s key range still
    /// needs checked (the executor uses `filter` whole when it reads the
    /// table instead).
    pub range_check: RangeCheck,
    /// The conditions as written, for EXPLAIN.
    pub cond_text: Vec<String>,
    /// What anything reads (the consumers above and the scan's own
    /// filter): the columns, by position (the others are not decoded from
    /// the table and read as NULL), and the members read of jsonb columns
    /// read only through `->` and `->>`. `None`: everything, with the
    /// rows' stored keys. Set by [`mark_index_only`].
    pub read_cols: Option<ReadCols>,
    /// Rows must come in the access path's key order (the primary key's,
    /// or the index's: its key values, then the primary key), this way:
    /// a sort above was dropped for it ([`order_by_index`]).
    pub order: Option<Direction>,
}

/// What a scan checks of its filter on the rows its key range returns.
#[derive(Debug, Clone)]
pub enum RangeCheck {
    /// The whole filter.
    All,
    /// Only these conditions (`None`: nothing): the others compare a key
    /// part with a value in a way the key range enforces exactly (see
    /// [`enforced_by_range`]), so a row inside the range meets them.
    Rest(Option<Expr>),
}

/// True for a plan whose work is bounded by key lookups: rows from VALUES
/// or from equality lookups on a primary key or index, filtered,
/// projected, aggregated, sorted or limited. Such a statement runs in
/// place on its tokio worker; anything else may run long and is moved off
/// the worker's core, so it cannot starve the other sessions there.
pub fn is_short(plan: &Plan) -> bool {
    let point = |lo: &Bound<Vec<Expr>>, hi: &Bound<Vec<Expr>>| {
        matches!((lo, hi), (Bound::Included(_), Bound::Included(_)))
    };
    match plan {
        Plan::Result | Plan::Values { .. } => true,
        Plan::Scan(s) => match &s.access {
            Access::Pk { lo, hi, .. } | Access::Index { lo, hi, .. } => point(lo, hi),
            _ => false,
        },
        Plan::Filter { input, .. }
        | Plan::Project { input, .. }
        | Plan::Aggregate { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Distinct { input, .. }
        | Plan::Limit { input, .. } => is_short(input),
        _ => false,
    }
}

/// True for a plan that may well end early though [`is_short`] cannot
/// promise it: a LIMIT over row sources that count their work (table and
/// catalog scans, literal rows), such as the latest N rows through an
/// index with a filter. A session runs it in place first, for a bounded
/// time (`Exec::in_place_for`), and moves it off the worker only if it
/// runs past that: handing the worker's core to another thread costs more
/// than such a query itself (measured: 0.70 against 0.45 ms for the latest
/// 20 errors of a million events).
pub fn may_end_early(plan: &Plan) -> bool {
    match plan {
        Plan::Project { input, .. } | Plan::Filter { input, .. } => may_end_early(input),
        Plan::Limit { input, .. } => counts_its_work(input),
        _ => false,
    }
}

/// Whether every row source under `plan` ticks the executor as it reads
/// (so an in-place budget is noticed in time); set-returning functions and
/// CTEs produce their rows whole and are left out.
fn counts_its_work(plan: &Plan) -> bool {
    match plan {
        Plan::Result | Plan::Values { .. } | Plan::Scan(_) | Plan::Virtual(_) => true,
        Plan::Function { .. }
        | Plan::Cte { .. }
        | Plan::WorkTable { .. }
        | Plan::ProjectSet { .. }
        | Plan::LateralJoin { .. } => false,
        Plan::Filter { input, .. }
        | Plan::Project { input, .. }
        | Plan::Aggregate { input, .. }
        | Plan::Window { input, .. }
        | Plan::GroupingSets { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Distinct { input, .. }
        | Plan::Limit { input, .. }
        | Plan::IndexJoin { left: input, .. } => counts_its_work(input),
        Plan::NestedLoop { left, right, .. }
        | Plan::HashJoin { left, right, .. }
        | Plan::SetOp { left, right, .. } => counts_its_work(left) && counts_its_work(right),
    }
}

/// A plan node. Each produces rows of a fixed width.
#[derive(Debug)]
pub enum Plan {
    /// One row of no columns (SELECT without FROM).
    Result,
    /// Literal rows.
    Values {
        /// Rows of expressions.
        rows: Vec<Vec<Expr>>,
    },
    /// A table scan.
    Scan(Scan),
    /// A set-returning function in FROM.
    Function {
        /// The function.
        func: SrfFunc,
        /// Its arguments (over the enclosing row).
        args: Vec<Expr>,
        /// Adds a 1-based `ordinality` column.
        ordinality: bool,
    },
    /// A catalog table, generated from the catalog.
    Virtual(VirtualTable),
    /// A WITH query's rows.
    Cte {
        /// Index into the statement's CTEs.
        id: usize,
        /// Its name.
        name: String,
    },
    /// The rows a recursive WITH query's last step produced, as its
    /// recursive term reads them.
    WorkTable {
        /// Which recursive query's ([`RecursiveStep::work`]).
        id: usize,
        /// The query's name.
        name: String,
    },
    /// Rows of `input` that satisfy `pred`.
    Filter {
        /// Input.
        input: Box<Plan>,
        /// Condition.
        pred: Expr,
        /// The condition as written, for EXPLAIN.
        text: String,
    },
    /// Computes new rows from input rows.
    Project {
        /// Input.
        input: Box<Plan>,
        /// Output expressions.
        exprs: Vec<Expr>,
    },
    /// Projection with set-returning calls: each input row yields as many
    /// rows as its longest call; the calls' values are appended to the
    /// input row before `exprs` are evaluated.
    ProjectSet {
        /// Input.
        input: Box<Plan>,
        /// The calls.
        srfs: Vec<SrfCall>,
        /// Output expressions.
        exprs: Vec<Expr>,
    },
    /// Joins by trying every pair.
    NestedLoop {
        /// Join kind.
        kind: JoinKind,
        /// Outer input.
        left: Box<Plan>,
        /// Inner input.
        right: Box<Plan>,
        /// Condition over the combined row.
        on: Option<Expr>,
        /// Width of the outer rows (for NULL padding).
        left_width: usize,
        /// Width of the inner rows (for NULL padding).
        right_width: usize,
    },
    /// Joins by hashing the inner side on its keys.
    HashJoin {
        /// Join kind.
        kind: JoinKind,
        /// Outer input.
        left: Box<Plan>,
        /// Inner (hashed) input.
        right: Box<Plan>,
        /// Keys over outer rows.
        left_keys: Vec<Expr>,
        /// Keys over inner rows.
        right_keys: Vec<Expr>,
        /// Remaining condition over the combined row.
        on: Option<Expr>,
        /// Width of the outer rows.
        left_width: usize,
        /// Width of the inner rows.
        right_width: usize,
    },
    /// For each outer row, looks the inner table up through its key.
    IndexJoin {
        /// Join kind.
        kind: JoinKind,
        /// Outer input.
        left: Box<Plan>,
        /// The inner scan; its key expressions read the outer row.
        scan: Scan,
        /// Remaining condition over the combined row.
        on: Option<Expr>,
        /// Width of the inner rows.
        right_width: usize,
    },
    /// For each outer row, runs the inner plan with that row as its
    /// enclosing row (a LATERAL item).
    LateralJoin {
        /// INNER or LEFT.
        kind: JoinKind,
        /// Outer input.
        left: Box<Plan>,
        /// Inner input; its `Outer` depth-1 columns read the outer row.
        right: Box<Plan>,
        /// Condition over the combined row.
        on: Option<Expr>,
        /// Width of the inner rows (for NULL padding).
        right_width: usize,
    },
    /// Groups and aggregates.
    Aggregate {
        /// Input.
        input: Box<Plan>,
        /// Group keys.
        group_by: Vec<Expr>,
        /// Aggregate calls.
        aggs: Vec<AggCall>,
    },
    /// Window functions: appends one column per call to each input row.
    Window {
        /// Input.
        input: Box<Plan>,
        /// The calls, in placeholder order.
        calls: Vec<crate::sql::window::WindowCall>,
    },
    /// Aggregates once per grouping set (ROLLUP, CUBE, GROUPING SETS).
    /// Rows are laid out as [`Plan::Aggregate`]'s, with NULL for the group
    /// keys a set leaves out.
    GroupingSets {
        /// Input.
        input: Box<Plan>,
        /// Every group key of any set.
        group_by: Vec<Expr>,
        /// The sets, as positions in `group_by`.
        sets: Vec<Vec<usize>>,
        /// Aggregate calls.
        aggs: Vec<AggCall>,
        /// Width of the input rows.
        input_width: usize,
    },
    /// Sorts.
    Sort {
        /// Input.
        input: Box<Plan>,
        /// Keys.
        keys: Vec<SortKey>,
    },
    /// Removes duplicate rows (by the first `width` columns), or keeps the
    /// first row of each `on` group (DISTINCT ON).
    Distinct {
        /// Input.
        input: Box<Plan>,
        /// Columns compared.
        width: usize,
        /// DISTINCT ON expressions.
        on: Vec<Expr>,
    },
    /// LIMIT / OFFSET.
    Limit {
        /// Input.
        input: Box<Plan>,
        /// Row limit.
        limit: Option<Expr>,
        /// Rows skipped.
        offset: Option<Expr>,
    },
    /// UNION / INTERSECT / EXCEPT.
    SetOp {
        /// Which operation.
        op: SetOpKind,
        /// ALL (keep duplicates).
        all: bool,
        /// Left input.
        left: Box<Plan>,
        /// Right input.
        right: Box<Plan>,
    },
}

/// Set operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOpKind {
    /// UNION
    Union,
    /// INTERSECT
    Intersect,
    /// EXCEPT
    Except,
}

/// Everything a statement's plan refers to besides its nodes.
#[derive(Debug, Default)]
pub struct Statement {
    /// The WITH queries of the whole statement, by id.
    pub ctes: Vec<CteDef>,
}

/// One WITH query.
#[derive(Debug)]
pub struct CteDef {
    /// Its plan.
    pub query: Query,
    /// True when it reads an enclosing query's row (never cached).
    pub correlated: bool,
    /// For `WITH RECURSIVE`, the recursive term; `query` is then the
    /// non-recursive one.
    pub recursive: Option<RecursiveStep>,
}

/// The recursive term of a `WITH RECURSIVE` query: run again on the rows
/// the previous run produced until it produces none.
#[derive(Debug)]
pub struct RecursiveStep {
    /// The recursive term; it reads the previous rows as
    /// [`Plan::WorkTable`] `work`.
    pub query: Query,
    /// UNION rather than UNION ALL: rows seen before are dropped.
    pub distinct: bool,
    /// The work table's id.
    pub work: usize,
}

/// A name visible in FROM: a WITH query, or (`work`) the work table of the
/// recursive query being planned.
struct CteName {
    name: String,
    id: usize,
    columns: Vec<(String, DataType)>,
    work: bool,
}

/// Plans queries of one statement.
pub struct Planner<'a> {
    tx: &'a Transaction,
    ctes: RefCell<Vec<CteName>>,
    defs: RefCell<Vec<CteDef>>,
    /// Work tables handed out so far.
    work_tables: std::cell::Cell<usize>,
    /// The next query planned is the statement's own, where a locking
    /// clause may stand (see [`Planner::statement`]).
    statement: std::cell::Cell<bool>,
    /// The FROM items [`Planner::plan_from`] planned last.
    from_items: RefCell<Vec<FromItem>>,
}

/// A FROM item after planning.
struct Rel {
    plan: Plan,
    scope: Scope,
    /// The base table, when the item is one (for access paths).
    table: Option<(Arc<TableDef>, String)>,
    /// A rough row count class, for choosing index nested loops.
    small: bool,
}

impl<'a> Planner<'a> {
    /// A planner reading the catalog of `tx`.
    pub fn new(tx: &'a Transaction) -> Planner<'a> {
        Planner {
            tx,
            ctes: RefCell::new(Vec::new()),
            defs: RefCell::new(Vec::new()),
            work_tables: std::cell::Cell::new(0),
            statement: std::cell::Cell::new(false),
            from_items: RefCell::new(Vec::new()),
        }
    }

    /// A planner for a statement's query: `SELECT … FOR UPDATE | SHARE`
    /// is planned with its row locks (elsewhere, in a subquery or in a
    /// planner for another statement's parts, it is refused).
    pub fn statement(self) -> Planner<'a> {
        self.statement.set(true);
        self
    }

    /// The WITH queries planned so far; call after planning.
    pub fn finish(self) -> Statement {
        Statement {
            ctes: self.defs.into_inner(),
        }
    }

    /// Plans a query.
    pub fn plan_query(&self, q: &ast::Query, ctx: &mut BindCtx<'_>) -> Result<Query, SqlError> {
        let statement = self.statement.replace(false);
        if let Some(l) = q.locks.first() {
            if !statement {
                return Err(SqlError::unsupported(format!(
                    "{} in a subquery or a WITH query",
                    lock_strength(l)
                )));
            }
        }
        let pushed = match &q.with {
            Some(with) => {
                let mut n = 0;
                for cte in &with.cte_tables {
                    let name = ident(&cte.alias.name);
                    let before: Vec<usize> = ctx.outer.iter().map(|(_, n, _)| *n).collect();
                    let (sub, recursive) =
                        if with.recursive && reads_relation(cte.query.as_ref(), &name) {
                            let (init, step) = self.plan_recursive(cte, &name, ctx)?;
                            (init, Some(step))
                        } else {
                            (self.plan_query(&cte.query, ctx)?, None)
                        };
                    let correlated = ctx
                        .outer
                        .iter()
                        .zip(&before)
                        .any(|((_, now, _), then)| now != then);
                    let columns = cte_columns(&sub, cte)?;
                    let id = {
                        let mut defs = self.defs.borrow_mut();
                        defs.push(CteDef {
                            query: sub,
                            correlated,
                            recursive,
                        });
                        defs.len() - 1
                    };
                    self.ctes.borrow_mut().push(CteName {
                        name,
                        id,
                        columns,
                        work: false,
                    });
                    n += 1;
                }
                n
            }
            None => 0,
        };
        let r = self.plan_query_body(q, ctx);
        let mut ctes = self.ctes.borrow_mut();
        let keep = ctes.len() - pushed;
        ctes.truncate(keep);
        r
    }

    /// Plans `WITH RECURSIVE name AS (init UNION [ALL] step)`: the
    /// non-recursive term, and the recursive one reading the work table.
    fn plan_recursive(
        &self,
        cte: &ast::Cte,
        name: &str,
        ctx: &mut BindCtx<'_>,
    ) -> Result<(Query, RecursiveStep), SqlError> {
        let q = &cte.query;
        let not_the_form = || {
            SqlError::new(
                code::INVALID_RECURSION,
                format!("recursive query \"{name}\" does not have the form non-recursive-term UNION [ALL] recursive-term"),
            )
            .at_span(cte.alias.name.span)
        };
        let ast::SetExpr::SetOperation {
            op: ast::SetOperator::Union,
            set_quantifier,
            left,
            right,
        } = q.body.as_ref()
        else {
            return Err(not_the_form());
        };
        if q.order_by.is_some() {
            return Err(SqlError::unsupported("ORDER BY in a recursive query"));
        }
        if q.limit_clause.is_some() {
            return Err(SqlError::unsupported("LIMIT in a recursive query"));
        }
        let distinct = match set_quantifier {
            ast::SetQuantifier::All => false,
            ast::SetQuantifier::None | ast::SetQuantifier::Distinct => true,
            other => return Err(SqlError::unsupported(format!("UNION {other}"))),
        };
        if reads_relation(left.as_ref(), name) {
            return Err(not_the_form());
        }
        let init = self.plan_set_expr(left, ctx)?;
        let columns = cte_columns(&init, cte)?;
        let work = self.work_tables.get();
        self.work_tables.set(work + 1);
        self.ctes.borrow_mut().push(CteName {
            name: name.to_string(),
            id: work,
            columns: columns.clone(),
            work: true,
        });
        let step = self.plan_set_expr(right, ctx);
        self.ctes.borrow_mut().pop();
        let step = step?;
        if step.columns.len() != init.columns.len() {
            return Err(SqlError::new(
                code::SYNTAX_ERROR,
                "each UNION query must have the same number of columns",
            )
            .at_span(target_span(right, 0)));
        }
        // The non-recursive term's types are the query's: the recursive
        // term's values convert to them, or the query is refused.
        let mut casts = Vec::new();
        for (i, ((_, it), (_, st))) in init.columns.iter().zip(&step.columns).enumerate() {
            let (a, b) = (Expr::Column(i, *it), Expr::Column(i, *st));
            let ty = expr::common_type(&[a, b.clone()], "UNION")?;
            if ty != *it {
                return Err(SqlError::new(
                    code::DATATYPE_MISMATCH,
                    format!(
                        "recursive query \"{name}\" column {} has type {} in non-recursive term but type {} overall",
                        i + 1,
                        it.format_type(),
                        ty.format_type()
                    ),
                )
                .with_hint("Cast the output of the non-recursive term to the correct type.")
                .at_span(target_span(left, i)));
            }
            casts.push(cast_to(b, ty));
        }
        let step = Query {
            root: project(step.root, casts),
            columns: init.columns.clone(),
            origins: vec![None; init.columns.len()],
            locks: None,
        };
        Ok((
            init,
            RecursiveStep {
                query: step,
                distinct,
                work,
            },
        ))
    }

    fn plan_query_body(&self, q: &ast::Query, ctx: &mut BindCtx<'_>) -> Result<Query, SqlError> {
        let order_by: &[ast::OrderByExpr] = match &q.order_by {
            None => &[],
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(e) => e,
                ast::OrderByKind::All(_) => return Err(SqlError::unsupported("ORDER BY ALL")),
            },
        };
        let (limit, offset) = match &q.limit_clause {
            None => (None, None),
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => {
                (limit.as_ref(), offset.as_ref().map(|o| &o.value))
            }
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit), Some(offset))
            }
        };
        // FETCH FIRST n ROWS ONLY is LIMIT n.
        let fetch_limit = match &q.fetch {
            None => None,
            Some(f) if f.with_ties || f.percent => {
                return Err(SqlError::unsupported("FETCH ... WITH TIES or PERCENT"))
            }
            Some(f) => Some(
                f.quantity
                    .clone()
                    .unwrap_or_else(|| ast::Expr::value(ast::Value::Number("1".into(), false))),
            ),
        };
        let limit = limit.or(fetch_limit.as_ref());
        if let Some(l) = q.locks.first() {
            let what = lock_strength(l);
            match q.body.as_ref() {
                ast::SetExpr::Select(_) => {}
                ast::SetExpr::SetOperation { .. } => {
                    return Err(SqlError::new(
                        code::FEATURE_NOT_SUPPORTED,
                        format!("{what} is not allowed with UNION/INTERSECT/EXCEPT"),
                    ))
                }
                ast::SetExpr::Values(_) => {
                    return Err(SqlError::new(
                        code::FEATURE_NOT_SUPPORTED,
                        format!("{what} cannot be applied to VALUES"),
                    ))
                }
                _ => {
                    return Err(SqlError::unsupported(format!(
                        "{what} on a parenthesized query"
                    )))
                }
            }
        }
        let mut query = match q.body.as_ref() {
            ast::SetExpr::Select(sel) => {
                return self.plan_select(sel, order_by, limit, offset, &q.locks, ctx)
            }
            other => self.plan_set_expr(other, ctx)?,
        };
        // ORDER BY over the output columns, by name or position.
        if !order_by.is_empty() {
            let scope = Scope {
                columns: query
                    .columns
                    .iter()
                    .map(|(n, t)| ScopeColumn::new(None, n.clone(), *t))
                    .collect(),
                aliases: Vec::new(),
            };
            let mut keys = Vec::new();
            for o in order_by {
                let e = match output_position(&o.expr, query.columns.len(), "ORDER BY")? {
                    Some(i) => Expr::Column(i, query.columns[i].1),
                    None => bind(&o.expr, &scope, ctx)?,
                };
                // `character(n)` sorts without its trailing blanks.
                keys.push(sort_key(expr::trimmed_bpchar(e), o));
            }
            query.root = Plan::Sort {
                input: Box::new(query.root),
                keys,
            };
        }
        if limit.is_some() || offset.is_some() {
            query.root = Plan::Limit {
                input: Box::new(query.root),
                limit: limit.map(|l| bind_count(l, ctx)).transpose()?,
                offset: offset.map(|o| bind_count(o, ctx)).transpose()?,
            };
        }
        Ok(query)
    }

    fn plan_set_expr(&self, body: &ast::SetExpr, ctx: &mut BindCtx<'_>) -> Result<Query, SqlError> {
        match body {
            ast::SetExpr::Select(sel) => self.plan_select(sel, &[], None, None, &[], ctx),
            ast::SetExpr::Query(q) => self.plan_query(q, ctx),
            ast::SetExpr::Values(v) => self.plan_values(v, ctx),
            ast::SetExpr::SetOperation {
                op,
                set_quantifier,
                left,
                right,
            } => {
                let l = self.plan_set_expr(left, ctx)?;
                let r = self.plan_set_expr(right, ctx)?;
                let kind = match op {
                    ast::SetOperator::Union => SetOpKind::Union,
                    ast::SetOperator::Intersect => SetOpKind::Intersect,
                    ast::SetOperator::Except => SetOpKind::Except,
                    ast::SetOperator::Minus => SetOpKind::Except,
                };
                let all = matches!(set_quantifier, ast::SetQuantifier::All);
                if l.columns.len() != r.columns.len() {
                    return Err(SqlError::new(
                        code::SYNTAX_ERROR,
                        format!("each {op} query must have the same number of columns"),
                    )
                    .at_span(target_span(right, 0)));
                }
                // Column types unify; names come from the left.
                let mut columns = Vec::new();
                let mut lcast = Vec::new();
                let mut rcast = Vec::new();
                for (i, ((ln, lt), (_, rt))) in l.columns.iter().zip(&r.columns).enumerate() {
                    let a = Expr::Column(i, *lt);
                    let b = Expr::Column(i, *rt);
                    // An untyped literal column takes the other side's type,
                    // read (and checked) now as PostgreSQL does.
                    let lu = unknown_target(left, i);
                    let ru = unknown_target(right, i);
                    let as_typed = |e: &Expr, u: Option<(&ast::Expr, &str)>| match u {
                        Some((_, text)) => {
                            Expr::Literal(Datum::Text(text.to_string()), DataType::Text)
                        }
                        None => e.clone(),
                    };
                    let ty =
                        expr::common_type(&[as_typed(&a, lu), as_typed(&b, ru)], &op.to_string())?;
                    for u in [lu, ru].into_iter().flatten() {
                        let lit = Expr::Literal(Datum::Text(u.1.to_string()), DataType::Text);
                        expr::check_literal(&lit.coerce_to(ty), u.0)?;
                    }
                    lcast.push(cast_to(a, ty));
                    rcast.push(cast_to(b, ty));
                    columns.push((ln.clone(), ty));
                }
                let origins = vec![None; columns.len()];
                Ok(Query {
                    origins,
                    root: Plan::SetOp {
                        op: kind,
                        all,
                        left: Box::new(project(l.root, lcast)),
                        right: Box::new(project(r.root, rcast)),
                    },
                    columns,
                    locks: None,
                })
            }
            other => Err(SqlError::unsupported(format!(
                "query form {}",
                first_words(&other.to_string())
            ))),
        }
    }

    fn plan_values(&self, v: &ast::Values, ctx: &mut BindCtx<'_>) -> Result<Query, SqlError> {
        let empty = Scope::default();
        let mut rows = Vec::new();
        for r in &v.rows {
            let row = r
                .iter()
                .map(|e| bind(e, &empty, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(first) = rows.first() {
                let first: &Vec<Expr> = first;
                if first.len() != row.len() {
                    return Err(SqlError::new(
                        code::SYNTAX_ERROR,
                        "VALUES lists must all be the same length",
                    ));
                }
            }
            rows.push(row);
        }
        let width = rows.first().map_or(0, Vec::len);
        let mut columns = Vec::new();
        for c in 0..width {
            let col: Vec<Expr> = rows.iter().map(|r| r[c].clone()).collect();
            let ty = expr::common_type(&col, "VALUES")?;
            for r in rows.iter_mut() {
                r[c] = cast_to(r[c].clone(), ty);
            }
            columns.push((format!("column{}", c + 1), ty));
        }
        Ok(Query {
            root: Plan::Values { rows },
            origins: vec![None; columns.len()],
            columns,
            locks: None,
        })
    }

    fn plan_select(
        &self,
        sel: &ast::Select,
        order_by: &[ast::OrderByExpr],
        limit: Option<&ast::Expr>,
        offset: Option<&ast::Expr>,
        locks: &[ast::LockClause],
        ctx: &mut BindCtx<'_>,
    ) -> Result<Query, SqlError> {
        if sel.into.is_some() {
            return Err(SqlError::unsupported("SELECT INTO"));
        }
        // FROM, with WHERE conjuncts pushed down where they can go.
        let conjuncts: Vec<&ast::Expr> = match &sel.selection {
            Some(w) => split_and(w),
            None => Vec::new(),
        };
        let (mut plan, scope, leftover) = self.plan_from(&sel.from, &conjuncts, ctx)?;
        let from_items = std::mem::take(&mut *self.from_items.borrow_mut());
        if !leftover.is_empty() {
            let text = join_text(&leftover);
            let mut pred: Option<Expr> = None;
            for c in leftover {
                let e = bind_where(c, &scope, ctx)?;
                pred = Some(match pred {
                    None => e,
                    Some(p) => and(p, e),
                });
            }
            plan = Plan::Filter {
                input: Box::new(plan),
                pred: pred.expect("not empty"),
                text,
            };
        }
        let input_width = scope.columns.len();

        // GROUP BY expressions, over the input.
        let mut group_by = Vec::new();
        let mut grouping_sets = None;
        match &sel.group_by {
            ast::GroupByExpr::Expressions(exprs, mods) => {
                if !mods.is_empty() {
                    return Err(SqlError::unsupported("GROUP BY modifiers"));
                }
                let mut item = |e: &ast::Expr, ctx: &mut BindCtx<'_>| -> Result<usize, SqlError> {
                    let b = match output_position(e, sel.projection.len(), "GROUP BY")? {
                        Some(i) => match &sel.projection[i] {
                            ast::SelectItem::UnnamedExpr(x)
                            | ast::SelectItem::ExprWithAlias { expr: x, .. } => {
                                bind_plain(x, &scope, ctx, "GROUP BY")?
                            }
                            _ => {
                                return Err(SqlError::new(
                                    code::SYNTAX_ERROR,
                                    "GROUP BY position refers to a wildcard",
                                ))
                            }
                        },
                        None => match output_alias(e, &sel.projection, &scope) {
                            Some(x) => bind_plain(x, &scope, ctx, "GROUP BY")?,
                            None => bind_plain(e, &scope, ctx, "GROUP BY")?,
                        },
                    };
                    Ok(match group_by.iter().position(|g| same_expr(g, &b)) {
                        Some(i) => i,
                        None => {
                            group_by.push(b);
                            group_by.len() - 1
                        }
                    })
                };
                // Each item is one key, or (ROLLUP, CUBE, GROUPING SETS)
                // a choice of key sets; the grouping sets are their product.
                let mut factors = Vec::new();
                let mut has_sets = false;
                for e in exprs {
                    match crate::sql::grouping_sets::alternatives(e, &mut |x| item(x, ctx))? {
                        Some(alts) => {
                            has_sets = true;
                            factors.push(alts);
                        }
                        None => factors.push(vec![vec![item(e, ctx)?]]),
                    }
                }
                if has_sets {
                    grouping_sets = Some(crate::sql::grouping_sets::expand(&factors)?);
                }
            }
            ast::GroupByExpr::All(_) => return Err(SqlError::unsupported("GROUP BY ALL")),
        }

        // The select list, HAVING and ORDER BY, collecting aggregates and
        // set-returning calls.
        let saved_aggs = std::mem::replace(&mut ctx.aggs, Ok(Vec::new()));
        let saved_srfs = std::mem::replace(&mut ctx.srfs, Ok(Vec::new()));
        let saved_windows = std::mem::replace(&mut ctx.windows, Ok(Vec::new()));
        let defs = crate::sql::window::window_definitions(&sel.named_window);
        let saved_defs = std::mem::replace(&mut ctx.window_defs, defs.clone().unwrap_or_default());
        let saved_keys = ctx.grouping_keys.replace(group_by.clone());
        let r = defs.and_then(|_| self.bind_outputs(sel, order_by, &scope, ctx));
        let aggs = std::mem::replace(&mut ctx.aggs, saved_aggs).expect("set above");
        let srfs = std::mem::replace(&mut ctx.srfs, saved_srfs).expect("set above");
        let mut windows = std::mem::replace(&mut ctx.windows, saved_windows).expect("set above");
        ctx.window_defs = saved_defs;
        ctx.grouping_keys = saved_keys;
        let (mut outputs, having, mut keys) = r?;
        // The locked tables' primary keys, carried after the outputs.
        let (row_locks, lock_keys) = match locks.first() {
            None => (None, Vec::new()),
            Some(first) => {
                let what = lock_strength(first);
                let refuse = |clause: &str| {
                    Err(SqlError::new(
                        code::FEATURE_NOT_SUPPORTED,
                        format!("{what} is not allowed with {clause}"),
                    ))
                };
                // PostgreSQL's CheckSelectLocking, in its order.
                if sel.distinct.is_some() {
                    return refuse("DISTINCT clause");
                }
                if !group_by.is_empty() || grouping_sets.is_some() {
                    return refuse("GROUP BY clause");
                }
                if having.is_some() {
                    return refuse("HAVING clause");
                }
                if !aggs.is_empty() {
                    return refuse("aggregate functions");
                }
                if !windows.is_empty() {
                    return refuse("window functions");
                }
                if !srfs.is_empty() {
                    return refuse("set-returning functions in the target list");
                }
                let locked = locked_items(&sel.from, &from_items, locks)?;
                let mut tables = Vec::new();
                let mut exprs = Vec::new();
                for (i, _) in &locked {
                    let item = &from_items[*i];
                    let def = item.table.as_ref().expect("only tables are locked");
                    for k in &def.primary_key {
                        let at = item.start + k;
                        exprs.push(Expr::Column(at, scope.columns[at].ty));
                    }
                    tables.push((def.id, def.primary_key.len()));
                }
                match locked.first() {
                    Some(&(_, strength)) => (Some(RowLocks { strength, tables }), exprs),
                    None => (None, Vec::new()),
                }
            }
        };
        // Bound over the FROM row: a bare column is the table column it
        // names, grouped or not (PostgreSQL marks origins before planning).
        let origins: Vec<Option<ColumnOrigin>> = outputs
            .iter()
            .map(|(_, e)| match e {
                Expr::Column(i, _) => scope.columns.get(*i).and_then(|c| c.origin),
                _ => None,
            })
            .collect();

        let grouped =
            !group_by.is_empty() || !aggs.is_empty() || having.is_some() || grouping_sets.is_some();
        let n_aggs = aggs.len();
        let mut having = having;
        if grouped {
            // Past the aggregation the row is: group values, aggregate
            // values, one input row of the group.
            let ng = group_by.len();
            let na = aggs.len();
            let regroup = |e: Expr| -> Result<Expr, SqlError> {
                regroup(e, &group_by, ng, ng + na).map_err(|c| {
                    let name = scope
                        .columns
                        .get(c)
                        .map(|col| match &col.table {
                            Some(t) => format!("{t}.{}", col.name),
                            None => col.name.clone(),
                        })
                        .unwrap_or_default();
                    let err = SqlError::new(
                        code::GROUPING_ERROR,
                        format!("column \"{name}\" must appear in the GROUP BY clause or be used in an aggregate function"),
                    );
                    match scope.columns.get(c).and_then(|col| ungrouped_reference(sel, order_by, col)) {
                        Some(span) => err.at_span(span),
                        None => err,
                    }
                })
            };
            for (_, e) in outputs.iter_mut() {
                *e = regroup(std::mem::replace(
                    e,
                    Expr::Literal(Datum::Null, DataType::Text),
                ))?;
            }
            if let Some(h) = having.take() {
                having = Some(regroup(h)?);
            }
            for w in windows.iter_mut() {
                crate::sql::window::map_exprs(w, &mut |e| regroup(e))?;
            }
            for k in keys.iter_mut() {
                k.expr = regroup(std::mem::replace(
                    &mut k.expr,
                    Expr::Literal(Datum::Null, DataType::Text),
                ))?;
            }
            plan = match grouping_sets {
                Some(sets) => Plan::GroupingSets {
                    input: Box::new(plan),
                    group_by: group_by.clone(),
                    sets,
                    aggs,
                    input_width,
                },
                None => Plan::Aggregate {
                    input: Box::new(plan),
                    group_by: group_by.clone(),
                    aggs,
                },
            };
            if let Some(h) = having {
                plan = Plan::Filter {
                    input: Box::new(plan),
                    pred: h,
                    text: sel
                        .having
                        .as_ref()
                        .map(|h| h.to_string())
                        .unwrap_or_default(),
                };
            }
        } else {
            let _ = input_width;
        }
        if !windows.is_empty() {
            // The window node appends its values after the rows it reads.
            let base = plan_width_hint(&plan, input_width);
            plan = Plan::Window {
                input: Box::new(plan),
                calls: windows,
            };
            for (_, e) in outputs.iter_mut() {
                *e = crate::sql::window::resolve_windows(
                    std::mem::replace(e, Expr::Literal(Datum::Null, DataType::Text)),
                    base,
                );
            }
            for k in keys.iter_mut() {
                k.expr = crate::sql::window::resolve_windows(
                    std::mem::replace(&mut k.expr, Expr::Literal(Datum::Null, DataType::Text)),
                    base,
                );
            }
        }

        // Project the outputs, the locked tables' keys, and the sort keys
        // that are not outputs.
        let n_out = outputs.len();
        let n_keep = n_out + lock_keys.len();
        let mut exprs: Vec<Expr> = outputs.iter().map(|(_, e)| e.clone()).collect();
        exprs.extend(lock_keys.iter().cloned());
        let mut sort_keys = Vec::new();
        for k in keys {
            let pos = exprs.iter().position(|e| same_expr(e, &k.expr));
            let i = match pos {
                Some(i) => i,
                None => {
                    if sel.distinct.is_some() {
                        return Err(SqlError::new(
                            code::INVALID_COLUMN_REFERENCE,
                            "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
                        ));
                    }
                    exprs.push(k.expr.clone());
                    exprs.len() - 1
                }
            };
            // `character(n)` sorts without its trailing blanks.
            sort_keys.push(SortKey {
                expr: expr::trimmed_bpchar(Expr::Column(i, k.expr.ty())),
                asc: k.asc,
                nulls_first: k.nulls_first,
            });
        }
        plan = if srfs.is_empty() {
            Plan::Project {
                input: Box::new(plan),
                exprs,
            }
        } else {
            let base = plan_width_hint(&plan, input_width);
            let exprs = exprs.into_iter().map(|e| resolve_srfs(e, base)).collect();
            Plan::ProjectSet {
                input: Box::new(plan),
                srfs,
                exprs,
            }
        };
        match &sel.distinct {
            None => {}
            Some(ast::Distinct::Distinct) => {
                plan = Plan::Distinct {
                    input: Box::new(plan),
                    width: n_out,
                    on: Vec::new(),
                };
            }
            Some(ast::Distinct::On(exprs)) => {
                // DISTINCT ON keys must lead the ORDER BY, as PostgreSQL
                // requires; they are evaluated over the projected row.
                let out_scope = Scope {
                    columns: outputs
                        .iter()
                        .map(|(n, e)| ScopeColumn::new(None, n.clone(), e.ty()))
                        .collect(),
                    aliases: Vec::new(),
                };
                let mut on = Vec::new();
                for e in exprs {
                    let b = match output_position(e, n_out, "DISTINCT ON")? {
                        Some(i) => Expr::Column(i, outputs[i].1.ty()),
                        None => match bind_plain(e, &out_scope, ctx, "DISTINCT ON") {
                            Ok(b) => b,
                            Err(_) => {
                                // An expression over the input: the
                                // projection computes it like a sort key.
                                let mut b = bind_plain(e, &scope, ctx, "DISTINCT ON")?;
                                if grouped {
                                    let ng = group_by.len();
                                    b = regroup(b, &group_by, ng, ng + n_aggs).map_err(|_| {
                                        SqlError::unsupported(
                                            "DISTINCT ON expressions that are not grouped",
                                        )
                                    })?;
                                }
                                let ty = b.ty();
                                let Plan::Project { exprs, .. } = &mut plan else {
                                    return Err(SqlError::unsupported(
                                        "DISTINCT ON expressions beside set-returning functions",
                                    ));
                                };
                                let i = match exprs.iter().position(|x| same_expr(x, &b)) {
                                    Some(i) => i,
                                    None => {
                                        exprs.push(b);
                                        exprs.len() - 1
                                    }
                                };
                                Expr::Column(i, ty)
                            }
                        },
                    };
                    on.push(b);
                }
                // Sort first so the first row of each group is the one kept.
                if !sort_keys.is_empty() {
                    plan = Plan::Sort {
                        input: Box::new(plan),
                        keys: std::mem::take(&mut sort_keys),
                    };
                }
                plan = Plan::Distinct {
                    input: Box::new(plan),
                    width: n_out,
                    on,
                };
            }
        }
        if !sort_keys.is_empty() {
            plan = Plan::Sort {
                input: Box::new(plan),
                keys: sort_keys,
            };
        }
        if limit.is_some() || offset.is_some() {
            plan = Plan::Limit {
                input: Box::new(plan),
                limit: limit.map(|l| bind_count(l, ctx)).transpose()?,
                offset: offset.map(|o| bind_count(o, ctx)).transpose()?,
            };
            order_by_index(&mut plan);
            project_after_top_n(&mut plan);
        }
        // Drop the sort-only columns.
        let width = plan_output_width(&plan);
        if width != Some(n_keep) {
            plan = project(
                plan,
                outputs
                    .iter()
                    .map(|(_, e)| e)
                    .chain(&lock_keys)
                    .enumerate()
                    .map(|(i, e)| Expr::Column(i, e.ty()))
                    .collect(),
            );
        }
        // Consumers read the output columns (the root has just that many).
        mark_index_only(&mut plan, Some((0..n_keep).collect()));
        Ok(Query {
            root: plan,
            columns: outputs.into_iter().map(|(n, e)| (n, e.ty())).collect(),
            origins,
            locks: row_locks,
        })
    }

    /// Binds the select list, HAVING and ORDER BY of `sel`.
    #[allow(clippy::type_complexity)]
    fn bind_outputs(
        &self,
        sel: &ast::Select,
        order_by: &[ast::OrderByExpr],
        scope: &Scope,
        ctx: &mut BindCtx<'_>,
    ) -> Result<(Vec<(String, Expr)>, Option<Expr>, Vec<SortKey>), SqlError> {
        let mut outputs: Vec<(String, Expr)> = Vec::new();
        for item in &sel.projection {
            match item {
                ast::SelectItem::Wildcard(_) => {
                    if scope.columns.is_empty() && sel.from.is_empty() {
                        return Err(SqlError::new(
                            code::SYNTAX_ERROR,
                            "SELECT * with no tables specified is not valid",
                        ));
                    }
                    for (i, c) in scope.columns.iter().enumerate() {
                        if !c.hidden {
                            outputs.push((c.name.clone(), Expr::Column(i, c.ty)));
                        }
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let name = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            n.0.last()
                                .map(|p| match p {
                                    ast::ObjectNamePart::Identifier(i) => ident(i),
                                    other => other.to_string(),
                                })
                                .unwrap_or_default()
                        }
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => {
                            return Err(SqlError::unsupported(format!("{e}.*")))
                        }
                    };
                    if !scope.has_table(&name) {
                        return Err(SqlError::new(
                            code::UNDEFINED_TABLE,
                            format!("missing FROM-clause entry for table \"{name}\""),
                        ));
                    }
                    for (i, c) in scope.columns.iter().enumerate() {
                        if c.table.as_deref() == Some(name.as_str()) {
                            outputs.push((c.name.clone(), Expr::Column(i, c.ty)));
                        }
                    }
                }
                ast::SelectItem::UnnamedExpr(e) => {
                    let b = bind(e, scope, ctx)?;
                    outputs.push((output_name(e), resolve_unknown(b)));
                }
                ast::SelectItem::ExprWithAlias { expr: e, alias } => {
                    let b = bind(e, scope, ctx)?;
                    outputs.push((ident(alias), resolve_unknown(b)));
                }
            }
        }
        let having = sel
            .having
            .as_ref()
            .map(|h| {
                let saved = std::mem::replace(&mut ctx.srfs, Err("HAVING"));
                let saved_windows = std::mem::replace(&mut ctx.windows, Err("HAVING"));
                let r = bind(h, scope, ctx).map(|e| e.coerce_to(DataType::Bool));
                ctx.srfs = saved;
                ctx.windows = saved_windows;
                r
            })
            .transpose()?;
        let mut keys = Vec::new();
        for o in order_by {
            let e = match output_position(&o.expr, outputs.len(), "ORDER BY")? {
                Some(i) => outputs[i].1.clone(),
                None => match &o.expr {
                    // An output name wins over an input column, as in
                    // PostgreSQL's ORDER BY.
                    ast::Expr::Identifier(id)
                        if outputs.iter().filter(|(n, _)| *n == ident(id)).count() == 1 =>
                    {
                        outputs
                            .iter()
                            .find(|(n, _)| *n == ident(id))
                            .map(|(_, e)| e.clone())
                            .expect("counted")
                    }
                    other => bind(other, scope, ctx)?,
                },
            };
            keys.push(sort_key(e, o));
        }
        Ok((outputs, having, keys))
    }

    /// Plans FROM and pushes down what it can of `conjuncts`; returns the
    /// plan, its scope and the conjuncts left for a filter above it.
    fn plan_from<'q>(
        &self,
        from: &'q [ast::TableWithJoins],
        conjuncts: &[&'q ast::Expr],
        ctx: &mut BindCtx<'_>,
    ) -> Result<(Plan, Scope, Vec<&'q ast::Expr>), SqlError> {
        if from.is_empty() {
            self.from_items.borrow_mut().clear();
            return Ok((Plan::Result, Scope::default(), conjuncts.to_vec()));
        }
        // Plan every relation first; a LATERAL item sees the items before
        // it (the columns so far, `left`).
        let mut items: Vec<(Rel, Option<(&ast::JoinOperator, JoinKind)>)> = Vec::new();
        let mut lateral: Vec<bool> = Vec::new();
        let mut left = Scope::default();
        for twj in from {
            let (rel, lat) =
                crate::sql::lateral::plan_item(&twj.relation, &left, ctx, |f, ctx| {
                    self.plan_factor(f, ctx)
                })?;
            left.columns.extend(rel.scope.columns.iter().cloned());
            lateral.push(lat.any);
            items.push((rel, None));
            for j in &twj.joins {
                let kind = match &j.join_operator {
                    ast::JoinOperator::Join(_)
                    | ast::JoinOperator::Inner(_)
                    | ast::JoinOperator::CrossJoin(_) => JoinKind::Inner,
                    ast::JoinOperator::Left(_) | ast::JoinOperator::LeftOuter(_) => JoinKind::Left,
                    ast::JoinOperator::Right(_) | ast::JoinOperator::RightOuter(_) => {
                        JoinKind::Right
                    }
                    ast::JoinOperator::FullOuter(_) => JoinKind::Full,
                    other => {
                        return Err(SqlError::unsupported(format!(
                            "join type {}",
                            first_words(&format!("{other:?}"))
                        )))
                    }
                };
                let (rel, lat) =
                    crate::sql::lateral::plan_item(&j.relation, &left, ctx, |f, ctx| {
                        self.plan_factor(f, ctx)
                    })?;
                if lat.any && matches!(kind, JoinKind::Right | JoinKind::Full) {
                    return Err(crate::sql::lateral::bad_join_kind(&left, lat));
                }
                left.columns.extend(rel.scope.columns.iter().cloned());
                lateral.push(lat.any);
                items.push((rel, Some((&j.join_operator, kind))));
            }
        }
        // The full scope, and where each item's columns start.
        let mut scope = Scope::default();
        let mut starts = Vec::new();
        for (rel, _) in &items {
            starts.push(scope.columns.len());
            scope.columns.extend(rel.scope.columns.iter().cloned());
        }
        // The right-hand copy of each USING or NATURAL column is hidden from
        // unqualified names before WHERE is bound, and so is a merged
        // column's left-hand table name (see the join loop).
        for (i, (rel, j)) in items.iter().enumerate().skip(1) {
            let Some((op, kind)) = j else { continue };
            let Some(c @ (ast::JoinConstraint::Using(_) | ast::JoinConstraint::Natural)) =
                join_constraint(op)
            else {
                continue;
            };
            let (left, right) = scope.columns.split_at_mut(starts[i]);
            let right = &mut right[..rel.scope.columns.len()];
            for name in using_names(c, left, right) {
                let l = left.iter().position(|c| !c.hidden && c.name == name);
                let r = right.iter().position(|c| !c.hidden && c.name == name);
                if let (Some(l), Some(r)) = (l, r) {
                    right[r].hidden = true;
                    if matches!(kind, JoinKind::Right | JoinKind::Full) {
                        left[l].table = None;
                        left[l].origin = None;
                    }
                }
            }
        }
        // Duplicate aliases are an error, as in PostgreSQL.
        {
            let mut names: Vec<&str> = items
                .iter()
                .filter_map(|(r, _)| r.scope.columns.first().and_then(|c| c.table.as_deref()))
                .collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(SqlError::new(
                    code::DUPLICATE_ALIAS,
                    format!("table name \"{}\" specified more than once", w[0]),
                ));
            }
        }
        // Items on the nullable side of a LEFT JOIN, by index.
        let mut nullable: Vec<bool> = items
            .iter()
            .map(|(_, j)| matches!(j, Some((_, JoinKind::Left | JoinKind::Full))))
            .collect();
        // RIGHT and FULL joins make everything before them nullable.
        for (i, (_, j)) in items.iter().enumerate() {
            if matches!(j, Some((_, JoinKind::Right | JoinKind::Full))) {
                for n in nullable.iter_mut().take(i) {
                    *n = true;
                }
            }
        }
        *self.from_items.borrow_mut() = items
            .iter()
            .zip(&starts)
            .zip(&nullable)
            .map(|(((rel, _), start), nullable)| FromItem {
                table: rel.table.as_ref().map(|(def, _)| def.clone()),
                cte: matches!(rel.plan, Plan::Cte { .. } | Plan::WorkTable { .. }),
                start: *start,
                nullable: *nullable,
            })
            .collect();
        // Bind every WHERE conjunct over the full scope and find which
        // items it reads.
        struct Conj<'q> {
            ast: &'q ast::Expr,
            bound: Expr,
            items: Vec<usize>,
            pushable: bool,
        }
        /// A conjunct's bound expression, taken when the conjunct is placed
        /// (each is placed once) rather than cloned: see [`shift`].
        fn take_bound(c: &mut Conj<'_>) -> Expr {
            std::mem::replace(&mut c.bound, Expr::Literal(Datum::Null, DataType::Bool))
        }
        let item_of = |col: usize| starts.iter().rposition(|s| *s <= col).expect("col");
        let mut conj: Vec<Conj<'q>> = Vec::new();
        for c in conjuncts {
            let bound = bind_where(c, &scope, ctx)?;
            let mut cols = Vec::new();
            let pushable = columns_of(&bound, &mut cols);
            let mut its: Vec<usize> = cols.iter().map(|c| item_of(*c)).collect();
            its.sort_unstable();
            its.dedup();
            conj.push(Conj {
                ast: c,
                bound,
                items: its,
                pushable,
            });
        }
        let mut used = vec![false; conj.len()];
        // Conjuncts on one item go into its scan (not on a nullable item:
        // they must see the NULL-padded rows).
        let mut rels: Vec<Option<Rel>> = Vec::new();
        for (i, (mut rel, _)) in items.into_iter().enumerate() {
            if let Some((def, _)) = rel.table.clone() {
                let mine: Vec<usize> = (0..conj.len())
                    .filter(|&k| {
                        !used[k] && conj[k].pushable && conj[k].items == [i] && !nullable[i]
                    })
                    .collect();
                if !mine.is_empty() {
                    let mut exprs: Vec<(Expr, String)> = Vec::with_capacity(mine.len());
                    for &k in &mine {
                        used[k] = true;
                        let text = cond_text(conj[k].ast, &conj[k].bound);
                        exprs.push((shift(take_bound(&mut conj[k]), starts[i]), text));
                    }
                    if let Plan::Scan(scan) = &mut rel.plan {
                        choose_access(scan, &def, exprs);
                        rel.small = matches!(&scan.access, Access::Pk { lo: Bound::Included(a), hi: Bound::Included(b), lists } if lists.is_empty() && a.len() == def.primary_key.len() && b.len() == def.primary_key.len() && !def.primary_key.is_empty());
                    }
                }
            } else if !nullable[i] {
                // Other items get a filter right above them.
                let mine: Vec<usize> = (0..conj.len())
                    .filter(|&k| !used[k] && conj[k].pushable && conj[k].items == [i])
                    .collect();
                if !mine.is_empty() {
                    let mut pred: Option<Expr> = None;
                    for &k in &mine {
                        used[k] = true;
                        let e = shift(take_bound(&mut conj[k]), starts[i]);
                        pred = Some(match pred {
                            None => e,
                            Some(p) => and(p, e),
                        });
                    }
                    let asts: Vec<&ast::Expr> = mine.iter().map(|&k| conj[k].ast).collect();
                    rel.plan = Plan::Filter {
                        input: Box::new(rel.plan),
                        pred: pred.expect("not empty"),
                        text: join_text(&asts),
                    };
                }
            }
            rels.push(Some(rel));
        }
        // Join left-deep.
        let first = rels[0].take().expect("planned");
        let mut plan = first.plan;
        let mut small = first.small;
        let mut width = first.scope.columns.len();
        #[allow(clippy::needless_range_loop)]
        for i in 1..rels.len() {
            let rel = rels[i].take().expect("planned");
            let (op, kind) = nullable_op(from, i);
            let left_scope = Scope {
                columns: scope.columns[..width].to_vec(),
                aliases: Vec::new(),
            };
            let rw = rel.scope.columns.len();
            let combined_width = width + rw;
            let combined = Scope {
                columns: scope.columns[..combined_width].to_vec(),
                aliases: Vec::new(),
            };
            // The join condition: ON / USING, plus (for inner joins) the
            // WHERE conjuncts that become evaluable here.
            let mut on: Vec<Expr> = Vec::new();
            // USING and NATURAL columns: (left position, right position,
            // type) of each.
            let mut merged: Vec<(usize, usize, DataType)> = Vec::new();
            if let Some(op) = op {
                match join_constraint(op) {
                    Some(ast::JoinConstraint::On(e)) => {
                        for c in split_and(e) {
                            on.push(bind_condition(c, &combined, ctx, "JOIN/ON")?);
                        }
                    }
                    Some(c @ (ast::JoinConstraint::Using(_) | ast::JoinConstraint::Natural)) => {
                        let names = using_names(c, &left_scope.columns, &rel.scope.columns);
                        for name in names {
                            let missing = |side: &str| {
                                SqlError::new(
                                    code::UNDEFINED_COLUMN,
                                    format!("column \"{name}\" specified in USING clause does not exist in {side} table"),
                                )
                            };
                            let (l, lt) = left_scope
                                .lookup(None, &name)?
                                .ok_or_else(|| missing("left"))?;
                            let (r, rt) = rel
                                .scope
                                .lookup(None, &name)?
                                .ok_or_else(|| missing("right"))?;
                            on.push(Expr::Binary(
                                expr::BinOp::Eq,
                                Box::new(Expr::Column(l, lt)),
                                Box::new(Expr::Column(width + r, rt)),
                                DataType::Bool,
                            ));
                            scope.columns[width + r].hidden = true;
                            merged.push((l, width + r, lt));
                        }
                    }
                    Some(ast::JoinConstraint::None) | None => {}
                }
            }
            if kind == JoinKind::Inner {
                for k in 0..conj.len() {
                    if !used[k]
                        && conj[k].pushable
                        && conj[k].items.iter().all(|&it| it <= i)
                        && conj[k].items.contains(&i)
                        && !conj[k].items.iter().any(|&it| nullable[it] && it != i)
                    {
                        used[k] = true;
                        on.push(take_bound(&mut conj[k]));
                    }
                }
            }
            // A LATERAL item runs once per row of the items before it.
            if lateral[i] {
                plan = Plan::LateralJoin {
                    kind,
                    left: Box::new(plan),
                    right: Box::new(rel.plan),
                    on: on.into_iter().reduce(and),
                    right_width: rw,
                };
                small = false;
                width = combined_width;
                continue;
            }
            // Split equalities between the two sides into hash keys.
            let mut lk = Vec::new();
            let mut rk = Vec::new();
            let mut rest = Vec::new();
            for e in on {
                match equi_sides(&e, width, combined_width) {
                    Some((l, r)) => {
                        lk.push(l);
                        rk.push(shift(r, width));
                    }
                    None => rest.push(e),
                }
            }
            let residual = rest.into_iter().reduce(and);
            // An index nested loop when the inner side is a table whose key
            // the join pins and the outer side is small.
            let index_join = match (&rel.table, small, lk.is_empty()) {
                (Some((def, alias)), true, false)
                    if matches!(kind, JoinKind::Inner | JoinKind::Left) =>
                {
                    let conds: Vec<(Expr, Expr)> =
                        lk.iter().cloned().zip(rk.iter().cloned()).collect();
                    index_lookup(def, alias, &conds)
                }
                _ => None,
            };
            plan = match index_join {
                Some(mut scan) => {
                    if let Plan::Scan(s) = rel.plan {
                        scan.filter = s.filter;
                        scan.cond_text.extend(s.cond_text);
                    }
                    let on = equi_join_on(lk, rk, width, residual);
                    Plan::IndexJoin {
                        kind,
                        left: Box::new(plan),
                        scan,
                        on,
                        right_width: rw,
                    }
                }
                None if !lk.is_empty() => Plan::HashJoin {
                    kind,
                    left: Box::new(plan),
                    right: Box::new(rel.plan),
                    left_keys: lk,
                    right_keys: rk,
                    on: residual,
                    left_width: width,
                    right_width: rw,
                },
                None => Plan::NestedLoop {
                    kind,
                    left: Box::new(plan),
                    right: Box::new(rel.plan),
                    on: residual,
                    left_width: width,
                    right_width: rw,
                },
            };
            small = small && rel.small;
            width = combined_width;
            // The merged column of USING is the left one's value for inner
            // and left joins; a right join takes the right one's, and a
            // full join the first that is not NULL. It takes the left
            // column's place, which unqualified names and `*` read; the
            // left table's own copy is then no longer there to qualify.
            if matches!(kind, JoinKind::Right | JoinKind::Full) && !merged.is_empty() {
                let mut exprs: Vec<Expr> = (0..width)
                    .map(|c| Expr::Column(c, scope.columns[c].ty))
                    .collect();
                for &(l, r, ty) in &merged {
                    let right = Expr::Column(r, scope.columns[r].ty).coerce_to(ty);
                    exprs[l] = if kind == JoinKind::Right {
                        right
                    } else {
                        Expr::Call(expr::Func::Coalesce, vec![Expr::Column(l, ty), right], ty)
                    };
                    scope.columns[l].table = None;
                    scope.columns[l].origin = None;
                }
                plan = Plan::Project {
                    input: Box::new(plan),
                    exprs,
                };
                small = false;
            }
        }
        let leftover = (0..conj.len())
            .filter(|&k| !used[k])
            .map(|k| conj[k].ast)
            .collect();
        Ok((plan, scope, leftover))
    }

    /// Plans one FROM item.
    fn plan_factor(&self, f: &ast::TableFactor, ctx: &mut BindCtx<'_>) -> Result<Rel, SqlError> {
        match f {
            ast::TableFactor::Table {
                name,
                alias,
                args,
                with_ordinality,
                ..
            } => {
                let parts: Vec<String> = name
                    .0
                    .iter()
                    .map(|p| match p {
                        ast::ObjectNamePart::Identifier(i) => ident(i),
                        other => other.to_string(),
                    })
                    .collect();
                let (schema, tname) = match parts.as_slice() {
                    [t] => (None, t.clone()),
                    [s, t] => (Some(s.clone()), t.clone()),
                    [_, s, t] => (Some(s.clone()), t.clone()),
                    _ => return Err(SqlError::unsupported(format!("table name {name}"))),
                };
                if let Some(args) = args {
                    return self.plan_function(
                        &tname,
                        &args.args,
                        alias.as_ref(),
                        *with_ordinality,
                        ctx,
                    );
                }
                let alias_name = alias
                    .as_ref()
                    .map(|a| ident(&a.name))
                    .unwrap_or(tname.clone());
                let col_aliases: Vec<String> = alias
                    .as_ref()
                    .map(|a| a.columns.iter().map(|c| ident(&c.name)).collect())
                    .unwrap_or_default();
                // WITH queries first, then the catalogs, then tables.
                if schema.is_none() {
                    let cte = self
                        .ctes
                        .borrow()
                        .iter()
                        .rev()
                        .find(|c| c.name == tname)
                        .map(|c| (c.id, c.columns.clone(), c.work));
                    if let Some((id, columns, work)) = cte {
                        let scope = named_scope(&alias_name, &columns, &col_aliases)?;
                        let plan = if work {
                            Plan::WorkTable { id, name: tname }
                        } else {
                            Plan::Cte { id, name: tname }
                        };
                        return Ok(Rel {
                            plan,
                            scope,
                            table: None,
                            small: false,
                        });
                    }
                }
                if let Some(vt) = pg_catalog::lookup(schema.as_deref(), &tname) {
                    let columns: Vec<(String, DataType)> = vt
                        .columns
                        .iter()
                        .map(|(n, t)| (n.to_string(), *t))
                        .collect();
                    let scope = named_scope(&alias_name, &columns, &col_aliases)?;
                    return Ok(Rel {
                        plan: Plan::Virtual(vt),
                        scope,
                        table: None,
                        small: false,
                    });
                }
                if let Some(s) = &schema {
                    if s != "public" {
                        return Err(SqlError::new(
                            code::UNDEFINED_TABLE,
                            format!("relation \"{s}.{tname}\" does not exist"),
                        )
                        .at_span(name_span(name)));
                    }
                }
                let def = self
                    .tx
                    .catalog()
                    .table_by_name(&tname)
                    .cloned()
                    .ok_or_else(|| {
                        SqlError::new(
                            code::UNDEFINED_TABLE,
                            format!("relation \"{name}\" does not exist"),
                        )
                        .at_span(name_span(name))
                    })?;
                let columns: Vec<(String, DataType)> = def
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), column_type(c)))
                    .collect();
                let mut scope = named_scope(&alias_name, &columns, &col_aliases)?;
                for (i, (sc, c)) in scope.columns.iter_mut().zip(&def.columns).enumerate() {
                    sc.origin = Some(ColumnOrigin {
                        table: def.id,
                        attnum: pg_catalog::attnum(i),
                        typmod: c.type_mod,
                    });
                }
                Ok(Rel {
                    plan: Plan::Scan(Scan {
                        table: def.clone(),
                        alias: alias_name.clone(),
                        access: Access::Full,
                        filter: None,
                        range_check: RangeCheck::All,
                        cond_text: Vec::new(),
                        read_cols: None,
                        order: None,
                    }),
                    scope,
                    table: Some((def, alias_name)),
                    small: false,
                })
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
            } => {
                let _ = lateral;
                if alias.is_none() {
                    use sqlparser::ast::Spanned;
                    return Err(SqlError::new(
                        code::SYNTAX_ERROR,
                        "subquery in FROM must have an alias",
                    )
                    .with_hint("For example, FROM (SELECT ...) [AS] foo.")
                    .at_subquery(subquery.span()));
                }
                let q = self.plan_query(subquery, ctx)?;
                let alias_name = alias.as_ref().map(|a| ident(&a.name));
                let col_aliases: Vec<String> = alias
                    .as_ref()
                    .map(|a| a.columns.iter().map(|c| ident(&c.name)).collect())
                    .unwrap_or_default();
                let mut scope = named_scope(
                    alias_name.as_deref().unwrap_or(""),
                    &q.columns,
                    &col_aliases,
                )?;
                if alias_name.is_none() {
                    for c in scope.columns.iter_mut() {
                        c.table = None;
                    }
                }
                for (c, o) in scope.columns.iter_mut().zip(&q.origins) {
                    c.origin = *o;
                }
                Ok(Rel {
                    plan: q.root,
                    scope,
                    table: None,
                    small: false,
                })
            }
            ast::TableFactor::Function {
                name, args, alias, ..
            } => {
                let fname = name.to_string().to_lowercase();
                let args: Vec<ast::FunctionArg> = args.clone();
                self.plan_function(&fname, &args, alias.as_ref(), false, ctx)
            }
            ast::TableFactor::UNNEST {
                alias,
                array_exprs,
                with_ordinality,
                ..
            } => {
                let args: Vec<ast::FunctionArg> = array_exprs
                    .iter()
                    .map(|e| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e.clone())))
                    .collect();
                self.plan_function("unnest", &args, alias.as_ref(), *with_ordinality, ctx)
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if alias.is_some() {
                    return Err(SqlError::unsupported("an alias on a parenthesized join"));
                }
                let (plan, scope, _) =
                    self.plan_from(std::slice::from_ref(table_with_joins), &[], ctx)?;
                Ok(Rel {
                    plan,
                    scope,
                    table: None,
                    small: false,
                })
            }
            other => Err(SqlError::unsupported(format!(
                "FROM item {}",
                first_words(&other.to_string())
            ))),
        }
    }

    fn plan_function(
        &self,
        name: &str,
        args: &[ast::FunctionArg],
        alias: Option<&ast::TableAlias>,
        ordinality: bool,
        ctx: &mut BindCtx<'_>,
    ) -> Result<Rel, SqlError> {
        let name = name.rsplit('.').next().unwrap_or(name).to_string();
        let empty = Scope::default();
        let mut bound = Vec::new();
        for a in args {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                    bound.push(bind(e, &empty, ctx)?)
                }
                other => return Err(SqlError::unsupported(format!("function argument {other}"))),
            }
        }
        let types: Vec<DataType> = bound.iter().map(Expr::ty).collect();
        let Some((func, mut columns)) = SrfFunc::resolve(&name, &types) else {
            let types: Vec<String> = types.iter().map(|t| t.format_type()).collect();
            return Err(SqlError::new(
                code::UNDEFINED_FUNCTION,
                format!("function {name}({}) does not exist", types.join(", ")),
            )
            .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."));
        };
        let conv = func.arg_types(columns[0].1, bound.len());
        let args: Vec<Expr> = if conv.is_empty() {
            bound
        } else {
            bound
                .into_iter()
                .zip(conv)
                .map(|(a, t)| cast_to(a, t))
                .collect()
        };
        let alias_name = alias.map(|a| ident(&a.name)).unwrap_or(name.clone());
        let col_aliases: Vec<String> = alias
            .map(|a| a.columns.iter().map(|c| ident(&c.name)).collect())
            .unwrap_or_default();
        // A one-column function aliased `AS g` names its column g.
        if columns.len() == 1 && col_aliases.is_empty() && alias.is_some() {
            columns[0].0 = alias_name.clone();
        }
        if ordinality {
            columns.push(("ordinality".into(), DataType::Int8));
        }
        let scope = named_scope(&alias_name, &columns, &col_aliases)?;
        Ok(Rel {
            plan: Plan::Function {
                func,
                args,
                ordinality,
            },
            scope,
            table: None,
            small: true,
        })
    }
}

impl SubqueryPlanner for Planner<'_> {
    fn plan_subquery(&self, q: &ast::Query, ctx: &mut BindCtx<'_>) -> Result<Query, SqlError> {
        self.plan_query(q, ctx)
    }
}

/// A locking clause's name as PostgreSQL's messages spell it.
pub fn lock_strength(l: &ast::LockClause) -> &'static str {
    dialect::lock_clause(l).0.clause()
}

/// The FROM items (by position) the locking clauses `locks` lock, in the
/// order the clauses name them, each with its strongest strength, as PostgreSQL's
/// `transformLockingClause` finds them: without `OF`, every table (WITH
/// queries and functions are passed over); with `OF`, the items named,
/// which must be tables. Subqueries and parenthesized joins, which
/// PostgreSQL locks through, and catalog relations are not supported; a
/// table on the nullable side of an outer join is refused as PostgreSQL's
/// planner refuses it, and so is a table without a primary key (its rows
/// have no key the query can carry).
fn locked_items(
    from: &[ast::TableWithJoins],
    items: &[FromItem],
    locks: &[ast::LockClause],
) -> Result<Vec<(usize, LockStrength)>, SqlError> {
    enum Kind {
        Table,
        Cte,
        Catalog,
        Function,
        Subquery,
        Join,
    }
    let factors: Vec<&ast::TableFactor> = from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .collect();
    let described: Vec<(Option<String>, Kind)> = factors
        .iter()
        .zip(items)
        .map(|(f, item)| {
            let alias = |a: &Option<ast::TableAlias>| a.as_ref().map(|a| ident(&a.name));
            match f {
                ast::TableFactor::Table {
                    name,
                    alias: a,
                    args,
                    ..
                } => {
                    let n = alias(a).or_else(|| name.0.last().map(object_part));
                    let kind = if args.is_some() {
                        Kind::Function
                    } else if item.table.is_some() {
                        Kind::Table
                    } else if item.cte {
                        Kind::Cte
                    } else {
                        Kind::Catalog
                    };
                    (n, kind)
                }
                ast::TableFactor::Derived { alias: a, .. } => (alias(a), Kind::Subquery),
                ast::TableFactor::NestedJoin { alias: a, .. } => (alias(a), Kind::Join),
                ast::TableFactor::Function { alias: a, .. }
                | ast::TableFactor::UNNEST { alias: a, .. }
                | ast::TableFactor::TableFunction { alias: a, .. } => (alias(a), Kind::Function),
                _ => (None, Kind::Subquery),
            }
        })
        .collect();
    let mut locked: Vec<(usize, LockStrength)> = Vec::new();
    let mut lock = |i: usize, strength: LockStrength| -> Result<(), SqlError> {
        let what = strength.clause();
        if items[i].nullable {
            return Err(SqlError::new(
                code::FEATURE_NOT_SUPPORTED,
                format!("{what} cannot be applied to the nullable side of an outer join"),
            ));
        }
        let def = items[i].table.as_ref().expect("a table");
        if def.has_hidden_rowid() {
            return Err(SqlError::unsupported(format!(
                "{what} on table \"{}\", which has no primary key,",
                def.name
            )));
        }
        // A table named again keeps its place and the stronger strength,
        // as PostgreSQL's applyLockingClause keeps one row mark.
        match locked.iter_mut().find(|(j, _)| *j == i) {
            Some((_, was)) => *was = strength.max(*was),
            None => locked.push((i, strength)),
        }
        Ok(())
    };
    for l in locks {
        let (strength, of) = dialect::lock_clause(l);
        let what = strength.clause();
        match &of {
            None => {
                for (i, (_, kind)) in described.iter().enumerate() {
                    match kind {
                        Kind::Table => lock(i, strength)?,
                        Kind::Cte | Kind::Function => {}
                        Kind::Catalog => {
                            return Err(SqlError::unsupported(format!("{what} of a catalog")))
                        }
                        Kind::Subquery | Kind::Join => {
                            return Err(SqlError::unsupported(format!(
                                "{what} of a subquery or parenthesized join in FROM"
                            )))
                        }
                    }
                }
            }
            Some(name) => {
                if name.0.len() != 1 {
                    return Err(SqlError::new(
                        code::SYNTAX_ERROR,
                        format!("{what} must specify unqualified relation names"),
                    )
                    .at_span(name_span(name)));
                }
                let rel = object_part(&name.0[0]);
                let Some(i) = described
                    .iter()
                    .position(|(n, _)| n.as_deref() == Some(rel.as_str()))
                else {
                    return Err(SqlError::new(
                        code::UNDEFINED_TABLE,
                        format!("relation \"{rel}\" in {what} clause not found in FROM clause"),
                    )
                    .at_span(name_span(name)));
                };
                let refuse = |on: &str| {
                    Err(SqlError::new(
                        code::FEATURE_NOT_SUPPORTED,
                        format!("{what} cannot be applied to {on}"),
                    )
                    .at_span(name_span(name)))
                };
                match described[i].1 {
                    Kind::Table => lock(i, strength)?,
                    Kind::Cte => return refuse("a WITH query"),
                    Kind::Function => return refuse("a function"),
                    Kind::Join => return refuse("a join"),
                    Kind::Catalog => {
                        return Err(SqlError::unsupported(format!("{what} of a catalog")))
                    }
                    Kind::Subquery => {
                        return Err(SqlError::unsupported(format!("{what} of a subquery")))
                    }
                }
            }
        }
    }
    Ok(locked)
}

/// The JOIN operator and kind of FROM item `i` (flattened).
fn nullable_op(from: &[ast::TableWithJoins], i: usize) -> (Option<&ast::JoinOperator>, JoinKind) {
    let mut n = 0;
    for twj in from {
        if n == i {
            return (None, JoinKind::Inner);
        }
        n += 1;
        for j in &twj.joins {
            if n == i {
                let kind = match &j.join_operator {
                    ast::JoinOperator::Left(_) | ast::JoinOperator::LeftOuter(_) => JoinKind::Left,
                    ast::JoinOperator::Right(_) | ast::JoinOperator::RightOuter(_) => {
                        JoinKind::Right
                    }
                    ast::JoinOperator::FullOuter(_) => JoinKind::Full,
                    _ => JoinKind::Inner,
                };
                return (Some(&j.join_operator), kind);
            }
            n += 1;
        }
    }
    (None, JoinKind::Inner)
}

/// The columns a USING or NATURAL join merges: USING's list (lower case
/// unless quoted), or for NATURAL the names both sides show, in the left
/// side's order.
fn using_names(
    c: &ast::JoinConstraint,
    left: &[ScopeColumn],
    right: &[ScopeColumn],
) -> Vec<String> {
    match c {
        ast::JoinConstraint::Using(cols) => cols
            .iter()
            .map(|c| c.to_string().to_lowercase().trim_matches('"').to_string())
            .collect(),
        _ => {
            let mut names: Vec<String> = Vec::new();
            for c in left.iter().filter(|c| !c.hidden) {
                let in_right = right.iter().any(|r| !r.hidden && r.name == c.name);
                if in_right && !names.contains(&c.name) {
                    names.push(c.name.clone());
                }
            }
            names
        }
    }
}

fn join_constraint(op: &ast::JoinOperator) -> Option<&ast::JoinConstraint> {
    match op {
        ast::JoinOperator::Join(c)
        | ast::JoinOperator::Inner(c)
        | ast::JoinOperator::Left(c)
        | ast::JoinOperator::LeftOuter(c)
        | ast::JoinOperator::Right(c)
        | ast::JoinOperator::RightOuter(c)
        | ast::JoinOperator::FullOuter(c) => Some(c),
        _ => None,
    }
}

/// The type of a catalog column.
pub fn column_type(c: &crate::catalog::ColumnDef) -> DataType {
    // The typmod is PostgreSQL's: varchar(n) stores n + 4.
    DataType::from_oid_typmod(crate::datum::Oid(c.type_oid), c.type_mod).unwrap_or(DataType::Text)
}

/// Where an object name starts in the query text.
pub fn name_span(n: &ast::ObjectName) -> sqlparser::tokenizer::Span {
    match n.0.first() {
        Some(ast::ObjectNamePart::Identifier(i)) => i.span,
        _ => sqlparser::tokenizer::Span::empty(),
    }
}

fn named_scope(
    table: &str,
    columns: &[(String, DataType)],
    aliases: &[String],
) -> Result<Scope, SqlError> {
    if aliases.len() > columns.len() {
        return Err(SqlError::new(
            code::INVALID_COLUMN_REFERENCE,
            format!(
                "table \"{table}\" has {} columns available but {} columns specified",
                columns.len(),
                aliases.len()
            ),
        ));
    }
    Ok(Scope {
        columns: columns
            .iter()
            .enumerate()
            .map(|(i, (n, t))| {
                ScopeColumn::new(
                    Some(table.to_string()),
                    aliases.get(i).cloned().unwrap_or_else(|| n.clone()),
                    *t,
                )
            })
            .collect(),
        aliases: Vec::new(),
    })
}

/// Binds a WHERE/ON condition: boolean, no aggregates, no set-returning
/// calls.
fn bind_where(e: &ast::Expr, scope: &Scope, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    bind_condition(e, scope, ctx, "WHERE")
}

/// Binds a condition of `clause` (`WHERE`, `JOIN/ON`): boolean, no
/// aggregates, no set-returning calls.
fn bind_condition(
    e: &ast::Expr,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
    clause: &'static str,
) -> Result<Expr, SqlError> {
    use sqlparser::ast::Spanned;
    // PostgreSQL names the join condition differently in these errors.
    let refused_in = if clause == "JOIN/ON" {
        "JOIN conditions"
    } else {
        clause
    };
    let b = bind_plain(e, scope, ctx, refused_in)?;
    let b = b.coerce_to(DataType::Bool);
    crate::sql::expr::check_literal(&b, e)?;
    if b.ty() != DataType::Bool {
        return Err(SqlError::new(
            code::DATATYPE_MISMATCH,
            format!(
                "argument of {clause} must be type boolean, not type {}",
                b.ty().format_type()
            ),
        )
        .at_span(e.span()));
    }
    Ok(b)
}

/// Where the select list, ORDER BY or HAVING of `sel` first reads column
/// `col` outside an aggregate call and a subquery: the place a grouping
/// error points at.
fn ungrouped_reference(
    sel: &ast::Select,
    order_by: &[ast::OrderByExpr],
    col: &expr::ScopeColumn,
) -> Option<sqlparser::tokenizer::Span> {
    use sqlparser::ast::{Visit, Visitor};
    use std::ops::ControlFlow;

    struct Finder<'c> {
        col: &'c expr::ScopeColumn,
        /// Aggregate calls and subqueries the walk is inside.
        depth: usize,
    }
    fn is_aggregate(e: &ast::Expr) -> bool {
        matches!(e, ast::Expr::Function(f)
            if f.over.is_none() && expr::aggregate_named(&expr::function_name(f)).is_some())
    }
    impl Visitor for Finder<'_> {
        type Break = sqlparser::tokenizer::Span;
        fn pre_visit_query(&mut self, _: &ast::Query) -> ControlFlow<Self::Break> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &ast::Query) -> ControlFlow<Self::Break> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &ast::Expr) -> ControlFlow<Self::Break> {
            if is_aggregate(e) {
                self.depth += 1;
            }
            if self.depth > 0 {
                return ControlFlow::Continue(());
            }
            let (table, id) = match e {
                ast::Expr::Identifier(id) => (None, id),
                ast::Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    (Some(&parts[parts.len() - 2]), &parts[parts.len() - 1])
                }
                _ => return ControlFlow::Continue(()),
            };
            let same_table = match table {
                None => !self.col.hidden,
                Some(t) => self.col.table.as_deref() == Some(expr::ident(t).as_str()),
            };
            if same_table && expr::ident(id) == self.col.name {
                let start = table.map_or(id.span, |t| t.span);
                return ControlFlow::Break(start);
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &ast::Expr) -> ControlFlow<Self::Break> {
            if is_aggregate(e) {
                self.depth -= 1;
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder { col, depth: 0 };
    let items = sel.projection.iter().filter_map(|item| match item {
        ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    });
    let all = items
        .chain(order_by.iter().map(|o| &o.expr))
        .chain(sel.having.iter());
    for e in all {
        if let ControlFlow::Break(span) = e.visit(&mut finder) {
            return Some(span);
        }
        finder.depth = 0;
    }
    None
}

/// A WITH query's output columns: the query's, renamed by the column list
/// after its name.
fn cte_columns(q: &Query, cte: &ast::Cte) -> Result<Vec<(String, DataType)>, SqlError> {
    if cte.alias.columns.len() > q.columns.len() {
        return Err(SqlError::new(
            code::INVALID_COLUMN_REFERENCE,
            format!(
                "WITH query \"{}\" has {} columns available but {} columns specified",
                ident(&cte.alias.name),
                q.columns.len(),
                cte.alias.columns.len()
            ),
        )
        .at_span(cte.alias.name.span));
    }
    let mut columns = q.columns.clone();
    for (c, a) in columns.iter_mut().zip(&cte.alias.columns) {
        c.0 = ident(&a.name);
    }
    Ok(columns)
}

/// Output column `i` of a set operation's operand when it is an untyped
/// string literal: where it is written and its text.
fn unknown_target(e: &ast::SetExpr, i: usize) -> Option<(&ast::Expr, &str)> {
    let item = match e {
        ast::SetExpr::Select(sel) => sel.projection.get(i)?,
        _ => return None,
    };
    let x = match item {
        ast::SelectItem::UnnamedExpr(x) | ast::SelectItem::ExprWithAlias { expr: x, .. } => x,
        _ => return None,
    };
    match x {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(t) => Some((x, t.as_str())),
            _ => None,
        },
        _ => None,
    }
}

/// Where output column `i` of a set operation's operand is written: in
/// its leftmost SELECT.
fn target_span(e: &ast::SetExpr, i: usize) -> sqlparser::tokenizer::Span {
    use sqlparser::ast::Spanned;
    match e {
        ast::SetExpr::Select(sel) => sel
            .projection
            .get(i)
            .map_or(sqlparser::tokenizer::Span::empty(), |item| item.span()),
        ast::SetExpr::SetOperation { left, .. } => target_span(left, i),
        ast::SetExpr::Query(q) => target_span(&q.body, i),
        _ => sqlparser::tokenizer::Span::empty(),
    }
}

/// True when `node` reads a relation called `name` (unqualified).
fn reads_relation<V: ast::Visit>(node: &V, name: &str) -> bool {
    ast::visit_relations(node, |r| {
        if r.0.len() == 1 && object_part(&r.0[0]) == name {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .is_break()
}

fn object_part(p: &ast::ObjectNamePart) -> String {
    match p {
        ast::ObjectNamePart::Identifier(i) => ident(i),
        other => other.to_string(),
    }
}

/// Binds with aggregates and set-returning calls refused (naming `clause`).
fn bind_plain(
    e: &ast::Expr,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
    clause: &'static str,
) -> Result<Expr, SqlError> {
    let aggs = std::mem::replace(&mut ctx.aggs, Err(clause));
    let srfs = std::mem::replace(&mut ctx.srfs, Err(clause));
    let windows = std::mem::replace(&mut ctx.windows, Err(clause));
    let r = bind(e, scope, ctx);
    ctx.aggs = aggs;
    ctx.srfs = srfs;
    ctx.windows = windows;
    r
}

/// LIMIT/OFFSET values: bigint, no columns.
fn bind_count(e: &ast::Expr, ctx: &mut BindCtx<'_>) -> Result<Expr, SqlError> {
    let b = bind_plain(e, &Scope::default(), ctx, "LIMIT")?;
    Ok(cast_to(b, DataType::Int8))
}

/// Reads `ORDER BY 2` / `GROUP BY 1`: a 0-based output position.
fn output_position(e: &ast::Expr, n: usize, clause: &str) -> Result<Option<usize>, SqlError> {
    if let ast::Expr::Value(v) = e {
        if let ast::Value::Number(s, _) = &v.value {
            let k: usize = s.parse().unwrap_or(0);
            if k == 0 || k > n {
                return Err(SqlError::new(
                    code::INVALID_COLUMN_REFERENCE,
                    format!("{clause} position {s} is not in select list"),
                )
                .at_span(v.span));
            }
            return Ok(Some(k - 1));
        }
    }
    Ok(None)
}

/// `GROUP BY name` where `name` is an output alias and not an input column.
fn output_alias<'s>(
    e: &ast::Expr,
    projection: &'s [ast::SelectItem],
    scope: &Scope,
) -> Option<&'s ast::Expr> {
    let ast::Expr::Identifier(id) = e else {
        return None;
    };
    let name = ident(id);
    if scope.columns.iter().any(|c| c.name == name) {
        return None;
    }
    projection.iter().find_map(|p| match p {
        ast::SelectItem::ExprWithAlias { expr, alias } if ident(alias) == name => Some(expr),
        _ => None,
    })
}

fn sort_key(e: Expr, o: &ast::OrderByExpr) -> SortKey {
    let asc = o.options.asc.unwrap_or(true);
    SortKey {
        expr: e,
        asc,
        nulls_first: o.options.nulls_first.unwrap_or(!asc),
    }
}

/// An untyped literal in an output column is text, as in PostgreSQL.
fn resolve_unknown(e: Expr) -> Expr {
    e
}

/// `e` as `ty`.
pub fn cast_to(e: Expr, ty: DataType) -> Expr {
    if e.ty() == ty {
        return e;
    }
    let c = e.coerce_to(ty);
    if c.ty() == ty {
        c
    } else {
        Expr::Cast(Box::new(c), ty)
    }
}

fn project(input: Plan, exprs: Vec<Expr>) -> Plan {
    Plan::Project {
        input: Box::new(input),
        exprs,
    }
}

fn join_text(conds: &[&ast::Expr]) -> String {
    conds
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::Binary(expr::BinOp::And, Box::new(a), Box::new(b), DataType::Bool)
}

/// Splits `a AND b AND c`.
pub fn split_and(e: &ast::Expr) -> Vec<&ast::Expr> {
    match e {
        ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            let mut v = split_and(left);
            v.extend(split_and(right));
            v
        }
        ast::Expr::Nested(inner) => match inner.as_ref() {
            ast::Expr::BinaryOp {
                op: ast::BinaryOperator::And,
                ..
            } => split_and(inner),
            _ => vec![e],
        },
        other => vec![other],
    }
}

/// Structural equality of bound expressions.
pub fn same_expr(a: &Expr, b: &Expr) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Collects the current-row columns `e` reads; false when it cannot move
/// to another row layout (it holds a subquery).
fn columns_of(e: &Expr, out: &mut Vec<usize>) -> bool {
    let mut movable = true;
    visit(e, &mut |x| match x {
        Expr::Column(i, _) => out.push(*i),
        Expr::Subquery { .. } => movable = false,
        _ => {}
    });
    movable
}

/// Calls `f` on `e` and every sub-expression (not into subqueries).
pub fn visit(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    expr::deep(|| visit_node(e, f))
}

fn visit_node(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Literal(..)
        | Expr::Column(..)
        | Expr::Param(..)
        | Expr::Aggregate(..)
        | Expr::Srf(..)
        | Expr::Window(..)
        | Expr::Outer { .. } => {}
        Expr::Coerce(x, _)
        | Expr::Cast(x, _)
        | Expr::Not(x)
        | Expr::Neg(x)
        | Expr::IsNull(x, _) => visit(x, f),
        Expr::Binary(_, a, b, _) => {
            visit(a, f);
            visit(b, f);
        }
        Expr::InList(x, l, _) => {
            visit(x, f);
            for y in l {
                visit(y, f);
            }
        }
        Expr::Like { expr, pattern, .. } => {
            visit(expr, f);
            visit(pattern, f);
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
            ..
        } => {
            if let Some(o) = operand {
                visit(o, f);
            }
            for (c, r) in whens {
                visit(c, f);
                visit(r, f);
            }
            if let Some(o) = otherwise {
                visit(o, f);
            }
        }
        Expr::Call(_, args, _)
        | Expr::Builtin(_, args, _)
        | Expr::CatalogCall(_, args, _)
        | Expr::ArrayCall(_, args, _)
        | Expr::ArrayCons(args, _)
        | Expr::Row(args, _) => {
            for a in args {
                visit(a, f);
            }
        }
        Expr::Field(x, _, _) => visit(x, f),
        Expr::AnyArray { lhs, array, .. } => {
            visit(lhs, f);
            visit(array, f);
        }
        Expr::Subquery { kind, .. } => {
            if let expr::SubKind::Quantified { lhs, .. } = kind {
                visit(lhs, f);
            }
        }
    }
}

/// Rebuilds `e` bottom-up through `f`, which may replace a node (and stop
/// the descent by returning `Some`).
pub fn rewrite(
    e: Expr,
    f: &mut dyn FnMut(&Expr) -> Result<Option<Expr>, usize>,
) -> Result<Expr, usize> {
    expr::deep(|| rewrite_node(e, f))
}

fn rewrite_node(
    e: Expr,
    f: &mut dyn FnMut(&Expr) -> Result<Option<Expr>, usize>,
) -> Result<Expr, usize> {
    if let Some(r) = f(&e)? {
        return Ok(r);
    }
    Ok(match e {
        Expr::Coerce(x, t) => Expr::Coerce(Box::new(rewrite(*x, f)?), t),
        Expr::Cast(x, t) => Expr::Cast(Box::new(rewrite(*x, f)?), t),
        Expr::Not(x) => Expr::Not(Box::new(rewrite(*x, f)?)),
        Expr::Neg(x) => Expr::Neg(Box::new(rewrite(*x, f)?)),
        Expr::IsNull(x, n) => Expr::IsNull(Box::new(rewrite(*x, f)?), n),
        Expr::Binary(op, a, b, t) => {
            let a = Box::new(rewrite(*a, f)?);
            Expr::Binary(op, a, Box::new(rewrite(*b, f)?), t)
        }
        Expr::InList(x, l, n) => {
            let x = Box::new(rewrite(*x, f)?);
            let l = l
                .into_iter()
                .map(|y| rewrite(y, f))
                .collect::<Result<_, _>>()?;
            Expr::InList(x, l, n)
        }
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
            escape,
        } => {
            let expr = Box::new(rewrite(*expr, f)?);
            Expr::Like {
                expr,
                pattern: Box::new(rewrite(*pattern, f)?),
                negated,
                case_insensitive,
                escape,
            }
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
            ty,
        } => {
            let operand = match operand {
                Some(o) => Some(Box::new(rewrite(*o, f)?)),
                None => None,
            };
            let mut w = Vec::new();
            for (c, r) in whens {
                let c = rewrite(c, f)?;
                w.push((c, rewrite(r, f)?));
            }
            let otherwise = match otherwise {
                Some(o) => Some(Box::new(rewrite(*o, f)?)),
                None => None,
            };
            Expr::Case {
                operand,
                whens: w,
                otherwise,
                ty,
            }
        }
        Expr::Call(func, args, t) => Expr::Call(
            func,
            args.into_iter()
                .map(|a| rewrite(a, f))
                .collect::<Result<_, _>>()?,
            t,
        ),
        Expr::Builtin(func, args, t) => Expr::Builtin(
            func,
            args.into_iter()
                .map(|a| rewrite(a, f))
                .collect::<Result<_, _>>()?,
            t,
        ),
        Expr::CatalogCall(func, args, t) => Expr::CatalogCall(
            func,
            args.into_iter()
                .map(|a| rewrite(a, f))
                .collect::<Result<_, _>>()?,
            t,
        ),
        Expr::ArrayCall(func, args, t) => Expr::ArrayCall(
            func,
            args.into_iter()
                .map(|a| rewrite(a, f))
                .collect::<Result<_, _>>()?,
            t,
        ),
        Expr::ArrayCons(args, t) => Expr::ArrayCons(
            args.into_iter()
                .map(|a| rewrite(a, f))
                .collect::<Result<_, _>>()?,
            t,
        ),
        Expr::Row(args, t) => Expr::Row(
            args.into_iter()
                .map(|a| rewrite(a, f))
                .collect::<Result<_, _>>()?,
            t,
        ),
        Expr::Field(x, i, t) => Expr::Field(Box::new(rewrite(*x, f)?), i, t),
        Expr::AnyArray {
            lhs,
            op,
            all,
            array,
        } => {
            let lhs = Box::new(rewrite(*lhs, f)?);
            Expr::AnyArray {
                lhs,
                op,
                all,
                array: Box::new(rewrite(*array, f)?),
            }
        }
        Expr::Subquery { sub, kind, offset } => {
            let kind = match kind {
                expr::SubKind::Quantified { lhs, op, all } => expr::SubKind::Quantified {
                    lhs: Box::new(rewrite(*lhs, f)?),
                    op,
                    all,
                },
                k => k,
            };
            Expr::Subquery { sub, kind, offset }
        }
        other => other,
    })
}

/// Moves `e` from the full FROM row to an item's row starting at `start`.
/// It takes `e` whole: a derived clone recurses once per nesting level on
/// the thread's stack (about 2 KiB a level in debug builds), which a chain
/// of a thousand ORs nearly exhausts, whereas [`rewrite`] grows the stack
/// as it goes.
fn shift(e: Expr, start: usize) -> Expr {
    rewrite(e, &mut |x| {
        Ok(match x {
            Expr::Column(i, t) => Some(Expr::Column(i - start, *t)),
            _ => None,
        })
    })
    .expect("shift never fails")
}

/// The condition an index nested loop checks on each joined row: the
/// hash join's key equalities (`right_keys` read the inner row alone, so
/// they shift past the outer row's `left_width` columns), then `residual`.
fn equi_join_on(
    left_keys: Vec<Expr>,
    right_keys: Vec<Expr>,
    left_width: usize,
    residual: Option<Expr>,
) -> Option<Expr> {
    left_keys
        .into_iter()
        .zip(right_keys)
        .map(|(l, r)| {
            Expr::Binary(
                expr::BinOp::Eq,
                Box::new(l),
                Box::new(unshift(&r, left_width)),
                DataType::Bool,
            )
        })
        .chain(residual)
        .reduce(and)
}

fn unshift(e: &Expr, start: usize) -> Expr {
    rewrite(e.clone(), &mut |x| {
        Ok(match x {
            Expr::Column(i, t) => Some(Expr::Column(i + start, *t)),
            _ => None,
        })
    })
    .expect("unshift never fails")
}

/// Rewrites an expression over the aggregation's input into one over its
/// output: group keys and aggregates become columns; subqueries see the
/// group's input row. Fails with the input column that is neither grouped
/// nor aggregated.
fn regroup(e: Expr, group_by: &[Expr], aggs_at: usize, row_at: usize) -> Result<Expr, usize> {
    rewrite(e, &mut |x| {
        if let Some(j) = group_by.iter().position(|g| same_expr(g, x)) {
            return Ok(Some(Expr::Column(j, x.ty())));
        }
        match x {
            Expr::Aggregate(i, t) => Ok(Some(Expr::Column(aggs_at + i, *t))),
            Expr::Column(i, _) => Err(*i),
            Expr::Subquery { sub, kind, offset } => {
                let kind = match kind {
                    expr::SubKind::Quantified { lhs, op, all } => expr::SubKind::Quantified {
                        lhs: Box::new(regroup((**lhs).clone(), group_by, aggs_at, row_at)?),
                        op: *op,
                        all: *all,
                    },
                    k => k.clone(),
                };
                Ok(Some(Expr::Subquery {
                    sub: sub.clone(),
                    kind,
                    offset: offset + row_at,
                }))
            }
            _ => Ok(None),
        }
    })
}

/// Replaces set-returning placeholders by the columns appended after the
/// input row (`base` wide).
fn resolve_srfs(e: Expr, base: usize) -> Expr {
    rewrite(e, &mut |x| {
        Ok(match x {
            Expr::Srf(i, t) => Some(Expr::Column(base + i, *t)),
            _ => None,
        })
    })
    .expect("never fails")
}

/// The width of rows `plan` produces, when it is known from the node.
fn plan_output_width(plan: &Plan) -> Option<usize> {
    match plan {
        Plan::Project { exprs, .. } | Plan::ProjectSet { exprs, .. } => Some(exprs.len()),
        Plan::Sort { input, .. } | Plan::Limit { input, .. } | Plan::Distinct { input, .. } => {
            plan_output_width(input)
        }
        _ => None,
    }
}

/// The input width for a set projection: the aggregation output when
/// grouped, else the FROM row.
fn plan_width_hint(plan: &Plan, input_width: usize) -> usize {
    match plan {
        Plan::Aggregate { group_by, aggs, .. } | Plan::GroupingSets { group_by, aggs, .. } => {
            group_by.len() + aggs.len() + input_width
        }
        Plan::Filter { input, .. } => plan_width_hint(input, input_width),
        Plan::Window { input, calls } => plan_width_hint(input, input_width) + calls.len(),
        _ => input_width,
    }
}

/// `l = r` with `l` over columns `< width` and `r` over `[width, end)`
/// (either way round), as (left key, right key over the full row).
fn equi_sides(e: &Expr, width: usize, end: usize) -> Option<(Expr, Expr)> {
    let Expr::Binary(expr::BinOp::Eq, a, b, _) = e else {
        return None;
    };
    let side = |x: &Expr| -> Option<bool> {
        let mut cols = Vec::new();
        if !columns_of(x, &mut cols) || cols.is_empty() {
            return None;
        }
        if cols.iter().all(|&c| c < width) {
            Some(false)
        } else if cols.iter().all(|&c| c >= width && c < end) {
            Some(true)
        } else {
            None
        }
    };
    // Hash keys must compare the same way on both sides: same type.
    if a.ty() != b.ty() && !(is_int(a.ty()) && is_int(b.ty())) {
        return None;
    }
    match (side(a)?, side(b)?) {
        (false, true) => Some(((**a).clone(), (**b).clone())),
        (true, false) => Some(((**b).clone(), (**a).clone())),
        _ => None,
    }
}

fn is_int(t: DataType) -> bool {
    matches!(t, DataType::Int2 | DataType::Int4 | DataType::Int8)
        || t.is_reg()
        || t == DataType::Oid
}

/// Bound index keys by their text and the table's columns (see
/// [`index_exprs`]), at most 4096 of them; `None` when a key does not bind.
static BOUND_KEYS: std::sync::LazyLock<Memo<Option<Vec<Expr>>>> =
    std::sync::LazyLock::new(|| Memo::new(4096));

/// The bound key expressions of `def`'s index `ix`, over the table row.
/// Binding an expression key parses its text, and planning asks for every
/// index of every table a query reads, more than once: the answers are
/// kept, by the keys' text and the names and types of the table's columns
/// (all binding depends on), so a short query is not planned mostly in
/// the SQL parser.
pub fn index_exprs(def: &TableDef, keys: &[IndexKey]) -> Option<Vec<Expr>> {
    if keys.iter().all(|k| matches!(k, IndexKey::Column(_))) {
        return bind_index_keys(def, keys);
    }
    let mut memo = String::new();
    for k in keys {
        match k {
            IndexKey::Column(i) => memo += &format!("c{i}\0"),
            IndexKey::Expr(sql) => {
                memo.push('e');
                memo += sql;
                memo.push('\0');
            }
        }
    }
    memo.push('\u{1}');
    for c in &def.columns {
        memo += &c.name;
        memo += &format!(":{}:{}\0", c.type_oid, c.type_mod);
    }
    if let Some(bound) = BOUND_KEYS.get(&memo) {
        return bound;
    }
    let bound = bind_index_keys(def, keys);
    BOUND_KEYS.insert(memo, bound.clone());
    bound
}

fn bind_index_keys(def: &TableDef, keys: &[IndexKey]) -> Option<Vec<Expr>> {
    let scope = Scope {
        columns: def
            .columns
            .iter()
            .map(|c| ScopeColumn::new(None, c.name.clone(), column_type(c)))
            .collect(),
        aliases: Vec::new(),
    };
    let mut params = Vec::new();
    keys.iter()
        .map(|k| match k {
            IndexKey::Column(i) => Some(Expr::Column(*i, column_type(&def.columns[*i]))),
            IndexKey::Expr(sql) => {
                let e = sqlparser::parser::Parser::new(&crate::sql::dialect::SextantDialect)
                    .try_with_sql(sql)
                    .ok()?
                    .parse_expr()
                    .ok()?;
                bind(&e, &scope, &mut BindCtx::new(&mut params)).ok()
            }
        })
        .collect()
}

/// A condition usable as a key bound: `key op value` with `value` not
/// reading the table's row, or `key = ` each value of a list.
struct KeyCond {
    key: Expr,
    op: expr::BinOp,
    value: CondValue,
    text: String,
    /// The condition it came from (its position in the scan's list).
    cond: usize,
}

/// What a [`KeyCond`] compares its key with.
enum CondValue {
    /// One value.
    One(Expr),
    /// Any value of a list (the operator is `=`).
    List(ListValues),
}

fn key_conds(conds: &[(Expr, String)]) -> Vec<KeyCond> {
    let mut out = Vec::new();
    for (i, (e, text)) in conds.iter().enumerate() {
        key_conds_of(i, e, text, &mut out);
    }
    out
}

/// The [`KeyCond`]s of condition `cond` (`e`, written as `text`).
fn key_conds_of(cond: usize, e: &Expr, text: &str, out: &mut Vec<KeyCond>) {
    let constant = |e: &Expr| {
        let mut cols = Vec::new();
        columns_of(e, &mut cols) && cols.is_empty()
    };
    let mut push = |key: &Expr, op, value: &Expr| {
        if constant(value) {
            out.push(KeyCond {
                key: key.clone(),
                op,
                value: CondValue::One(value.clone()),
                text: text.to_owned(),
                cond,
            });
        }
    };
    use expr::BinOp as B;
    match e {
        Expr::Binary(op, a, b, _) => {
            let flip = |op| match op {
                B::Lt => B::Gt,
                B::Le => B::Ge,
                B::Gt => B::Lt,
                B::Ge => B::Le,
                o => o,
            };
            match op {
                B::Eq | B::Lt | B::Le | B::Gt | B::Ge => {
                    push(a, *op, b);
                    push(b, flip(*op), a);
                }
                B::And => {
                    // BETWEEN binds to an AND of two bounds.
                    key_conds_of(cond, a, text, out);
                    key_conds_of(cond, b, text, out);
                }
                _ => {}
            }
        }
        Expr::InList(key, items, false) if items.iter().all(constant) => out.push(KeyCond {
            key: (**key).clone(),
            op: B::Eq,
            value: CondValue::List(ListValues::Items(items.clone())),
            text: text.to_owned(),
            cond,
        }),
        Expr::AnyArray {
            lhs,
            op: B::Eq,
            all: false,
            array,
        } if constant(array) => out.push(KeyCond {
            key: (**lhs).clone(),
            op: B::Eq,
            value: CondValue::List(ListValues::Array((**array).clone())),
            text: text.to_owned(),
            cond,
        }),
        _ => {}
    }
}

fn is_int_key(t: DataType) -> bool {
    matches!(t, DataType::Int2 | DataType::Int4 | DataType::Int8)
}

fn is_float_key(t: DataType) -> bool {
    matches!(t, DataType::Float4 | DataType::Float8)
}

/// True when a value of type `value` can bound a key of type `key`: the
/// same type, a narrower number (compared in the wider type anyway), or
/// another integer type (float type) for an integer (float) key. Keys
/// encode integers by value whatever their width, and floats as float8
/// (see `keycode`), so a wider integer or a float8 bounds an int2/int4 or
/// float4 key as it is, compared in the wider type as PostgreSQL's btree
/// operator families `integer_ops` and `float_ops` compare: a value beyond
/// the key type's range matches no key by equality and lies past every key
/// as a range bound, and never overflows a cast.
fn fits(value: DataType, key: DataType) -> bool {
    let rank = |t: DataType| match t {
        DataType::Int2 => Some(1),
        DataType::Int4 => Some(2),
        DataType::Int8 => Some(3),
        DataType::Numeric => Some(4),
        DataType::Float4 => Some(5),
        DataType::Float8 => Some(6),
        _ => None,
    };
    value == key
        || (is_int_key(value) && is_int_key(key))
        || (is_float_key(value) && is_float_key(key))
        || matches!((rank(value), rank(key)), (Some(a), Some(b)) if a < b && b != 5)
        || matches!(
            (value, key),
            (DataType::Varchar { .. }, DataType::Text) | (DataType::Text, DataType::Varchar { .. })
        )
}

/// `value` as a bound on a key of type `key` (see [`fits`]): integers,
/// floats and strings as they are (a cast could overflow, round or
/// truncate), other narrower numbers cast to the key's type.
pub(crate) fn key_value(value: Expr, key: DataType) -> Expr {
    let ty = value.ty();
    let text = |t: DataType| matches!(t, DataType::Text | DataType::Varchar { .. });
    if (is_int_key(ty) && is_int_key(key))
        || (is_float_key(ty) && is_float_key(key))
        || (text(ty) && text(key))
    {
        value
    } else {
        cast_to(value, key)
    }
}

/// Bounds on a key from its conditions.
struct KeyBounds {
    lo: Bound<Vec<Expr>>,
    hi: Bound<Vec<Expr>>,
    /// Key parts the bounds use.
    used: usize,
    /// The parts taken from lists.
    lists: Vec<KeyList>,
    /// The conditions used, as written.
    texts: Vec<String>,
    /// The key conditions used, by position in the list given.
    used_conds: Vec<usize>,
}

/// Bounds on a key from conditions: equalities (or lists of values) on a
/// prefix, then at most one range on the next part.
fn key_bounds(keys: &[Expr], conds: &[KeyCond]) -> Option<KeyBounds> {
    let mut prefix = Vec::new();
    let mut texts = Vec::new();
    let mut lists = Vec::new();
    let mut used_conds = Vec::new();
    for (part, k) in keys.iter().enumerate() {
        let key_ty = k.ty();
        let eq = conds.iter().position(|c| {
            c.op == expr::BinOp::Eq
                && same_expr(&c.key, k)
                && matches!(&c.value, CondValue::One(v) if fits(v.ty(), key_ty))
        });
        // A single value pins the part better than a list does.
        let list = || {
            conds.iter().position(|c| {
                same_expr(&c.key, k)
                    && match &c.value {
                        CondValue::One(_) => false,
                        CondValue::List(ListValues::Items(items)) => {
                            items.iter().all(|v| fits(v.ty(), key_ty))
                        }
                        CondValue::List(ListValues::Array(a)) => {
                            a.ty().elem().is_some_and(|e| fits(e, key_ty))
                        }
                    }
            })
        };
        let Some(at) = eq.or_else(list) else {
            break;
        };
        used_conds.push(at);
        let c = &conds[at];
        match &c.value {
            CondValue::One(v) => prefix.push(key_value(v.clone(), key_ty)),
            CondValue::List(values) => {
                prefix.push(list_slot(key_ty));
                lists.push(KeyList {
                    part,
                    key_ty,
                    values: match values {
                        ListValues::Items(items) => ListValues::Items(
                            items.iter().map(|v| key_value(v.clone(), key_ty)).collect(),
                        ),
                        ListValues::Array(a) => ListValues::Array(a.clone()),
                    },
                });
            }
        }
        if !texts.contains(&c.text) {
            texts.push(c.text.clone());
        }
    }
    let n = prefix.len();
    let mut lo = if n > 0 {
        Bound::Included(prefix.clone())
    } else {
        Bound::Unbounded
    };
    let mut hi = lo.clone();
    let mut used = n;
    if let Some(next) = keys.get(n) {
        for (at, c) in conds
            .iter()
            .enumerate()
            .filter(|(_, c)| same_expr(&c.key, next))
        {
            let CondValue::One(value) = &c.value else {
                continue;
            };
            if !fits(value.ty(), next.ty()) {
                continue;
            }
            let mut v = prefix.clone();
            v.push(key_value(value.clone(), next.ty()));
            match c.op {
                expr::BinOp::Gt if !matches!(lo, Bound::Included(ref x) | Bound::Excluded(ref x) if x.len() > n) => {
                    lo = Bound::Excluded(v)
                }
                expr::BinOp::Ge if !matches!(lo, Bound::Included(ref x) | Bound::Excluded(ref x) if x.len() > n) => {
                    lo = Bound::Included(v)
                }
                expr::BinOp::Lt if !matches!(hi, Bound::Included(ref x) | Bound::Excluded(ref x) if x.len() > n) => {
                    hi = Bound::Excluded(v)
                }
                expr::BinOp::Le if !matches!(hi, Bound::Included(ref x) | Bound::Excluded(ref x) if x.len() > n) => {
                    hi = Bound::Included(v)
                }
                _ => continue,
            }
            used_conds.push(at);
            used = n + 1;
            if !texts.contains(&c.text) {
                texts.push(c.text.clone());
            }
        }
    }
    if used == 0 {
        return None;
    }
    Some(KeyBounds {
        lo,
        hi,
        used,
        lists,
        texts,
        used_conds,
    })
}

/// An access path [`choose_access`] considers.
struct Choice {
    /// Key parts its bounds use.
    used: usize,
    /// It finds at most one row.
    unique: bool,
    access: Access,
    /// The conditions used, as written.
    texts: Vec<String>,
    /// The key conditions used (see [`KeyBounds::used_conds`]).
    used_conds: Vec<usize>,
}

/// Chooses the access path of a scan from its conditions, and sets its
/// filter to all of them.
fn choose_access(scan: &mut Scan, def: &TableDef, conds: Vec<(Expr, String)>) {
    let kc = key_conds(&conds);
    let mut best: Option<Choice> = None;
    if !def.primary_key.is_empty() {
        let keys: Vec<Expr> = def
            .primary_key
            .iter()
            .map(|&i| Expr::Column(i, column_type(&def.columns[i])))
            .collect();
        if let Some(KeyBounds {
            lo,
            hi,
            used,
            lists,
            texts,
            used_conds,
        }) = key_bounds(&keys, &kc)
        {
            let unique = used == keys.len()
                && lists.is_empty()
                && matches!((&lo, &hi), (Bound::Included(a), Bound::Included(b)) if a.len() == keys.len() && b.len() == keys.len());
            best = Some(Choice {
                used,
                unique,
                access: Access::Pk { lo, hi, lists },
                texts,
                used_conds,
            });
        }
    }
    for ix in &def.indexes {
        let Some(keys) = index_exprs(def, &ix.keys) else {
            continue;
        };
        if let Some(KeyBounds {
            lo,
            hi,
            used,
            lists,
            texts,
            used_conds,
        }) = key_bounds(&keys, &kc)
        {
            let unique = ix.unique && used == keys.len() && lists.is_empty();
            let better = match &best {
                None => true,
                Some(b) => !b.unique && (unique || used > b.used),
            };
            if better {
                best = Some(Choice {
                    used,
                    unique,
                    access: Access::Index {
                        id: ix.id,
                        name: ix.name.clone(),
                        lo,
                        hi,
                        lists,
                        only: false,
                    },
                    texts,
                    used_conds,
                });
            }
        }
    }
    let filter = conds.iter().map(|(e, _)| e.clone()).reduce(and);
    scan.filter = filter;
    match best {
        Some(Choice {
            access,
            texts,
            used_conds,
            ..
        }) => {
            let lists = match &access {
                Access::Pk { lists, .. } | Access::Index { lists, .. } => lists.is_empty(),
                Access::Full => false,
            };
            // With key lists the executor may read the range around them
            // and filter it: nothing is left out then.
            if lists {
                let used: Vec<&KeyCond> = used_conds.iter().map(|&i| &kc[i]).collect();
                let rest = conds
                    .iter()
                    .enumerate()
                    .filter(|(i, (e, _))| !enforced_by_range(*i, e, &used, def))
                    .map(|(_, (e, _))| e.clone())
                    .reduce(and);
                scan.range_check = RangeCheck::Rest(rest);
            }
            scan.access = access;
            let rest: Vec<String> = conds
                .iter()
                .map(|(_, t)| t.clone())
                .filter(|t| !texts.contains(t))
                .collect();
            scan.cond_text = [("Index Cond", texts), ("Filter", rest)]
                .into_iter()
                .filter_map(|(label, parts)| explain_conds(label, &parts))
                .collect();
        }
        None => {
            let all: Vec<String> = conds.iter().map(|(_, t)| t.clone()).collect();
            scan.cond_text = explain_conds("Filter", &all).into_iter().collect();
        }
    }
}

/// Whether condition `cond` (`e`) holds for every row a scan's key range
/// returns, so the scan need not check it again: a plain comparison
/// (`=`, `<`, `<=`, `>`, `>=`) of a key part with a value of exactly the
/// key's type, for types whose key encoding orders and equates exactly as
/// the comparison does (integers, dates and times; text for `=` only, its
/// ranges follow a collation), with every key condition it gave used for
/// the bounds (`used`). A lower bound alone lets NULL keys through (they
/// are stored after every value), so `>` and `>=` count only on a column
/// declared NOT NULL. Floats (`-0`, NaN), numerics (`1.0 = 1.00`) and the
/// rest are always checked.
fn enforced_by_range(cond: usize, e: &Expr, used: &[&KeyCond], def: &TableDef) -> bool {
    use expr::BinOp as B;
    if !matches!(e, Expr::Binary(B::Eq | B::Lt | B::Le | B::Gt | B::Ge, ..)) {
        return false;
    }
    let mine: Vec<&KeyCond> = used.iter().copied().filter(|c| c.cond == cond).collect();
    let [k] = mine.as_slice() else {
        return false;
    };
    let CondValue::One(v) = &k.value else {
        return false;
    };
    let ty = k.key.ty();
    if v.ty() != ty {
        return false;
    }
    let ordered = matches!(
        ty,
        DataType::Int2
            | DataType::Int4
            | DataType::Int8
            | DataType::Date
            | DataType::Timestamp
            | DataType::TimestampTz
    );
    match k.op {
        B::Eq => ordered || ty == DataType::Text,
        B::Lt | B::Le => ordered,
        B::Gt | B::Ge => {
            ordered
                && matches!(k.key, Expr::Column(c, _) if def.columns.get(c).is_some_and(|col| col.not_null))
        }
        _ => false,
    }
}

/// A WHERE condition as EXPLAIN prints it: as written, except that
/// `k [NOT] IN (…)` prints as PostgreSQL prints the array comparison it
/// turns into, `k = ANY ('{…}'::type[])` (`k <> ALL (…)`; `k = v` for a
/// list of one), and the array
/// of `k op ANY/ALL (…)` prints as a typed literal when it is a constant.
/// PostgreSQL folds constant expressions in the list first; a list with
/// other items prints as `ARRAY[…]` of the items as written.
fn cond_text(ast: &ast::Expr, bound: &Expr) -> String {
    match (ast, bound) {
        (
            ast::Expr::InList {
                expr,
                list,
                negated,
            },
            Expr::InList(lhs, items, _),
        ) => {
            // A list of one is an `=` (`<>`) in PostgreSQL.
            if let [item] = list.as_slice() {
                let op = if *negated { "<>" } else { "=" };
                return format!("{expr} {op} {item}");
            }
            let op = if *negated { "<> ALL" } else { "= ANY" };
            // The list's common type: the widest integer, else the
            // left-hand side's (text for varchar, as `texteq` compares).
            let ty = match lhs.ty() {
                DataType::Varchar { .. } => DataType::Text,
                t if is_int_key(t) && items.iter().all(|e| is_int_key(e.ty())) => items
                    .iter()
                    .map(Expr::ty)
                    .chain([t])
                    .max_by_key(|t| match t {
                        DataType::Int2 => 0,
                        DataType::Int4 => 1,
                        _ => 2,
                    })
                    .unwrap_or(t),
                t => t,
            };
            let array = const_array_text(items, ty).unwrap_or_else(|| {
                let items: Vec<String> = list.iter().map(ToString::to_string).collect();
                format!("ARRAY[{}]", items.join(", "))
            });
            format!("{expr} {op} ({array})")
        }
        (
            ast::Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | ast::Expr::AllOp {
                left,
                compare_op,
                right,
            },
            Expr::AnyArray { array, all, .. },
        ) => {
            let quantifier = if *all { "ALL" } else { "ANY" };
            let elem = array.ty().elem();
            let constant = match (array.as_ref(), elem) {
                (Expr::ArrayCons(items, _), Some(elem)) => const_array_text(items, elem),
                (Expr::Literal(d @ Datum::Array(_), _), Some(elem)) => Some(typed_literal(
                    &crate::pgtext::format(d, &crate::pgtext::TextContext::default()),
                    elem,
                )),
                (Expr::Coerce(inner, _) | Expr::Cast(inner, _), Some(elem)) => match inner.as_ref()
                {
                    Expr::Literal(Datum::Text(s), _) => Some(typed_literal(s, elem)),
                    _ => None,
                },
                _ => None,
            };
            let array = constant.unwrap_or_else(|| match right.as_ref() {
                ast::Expr::Nested(inner) => inner.to_string(),
                other => other.to_string(),
            });
            format!("{left} {compare_op} {quantifier} ({array})")
        }
        _ => ast.to_string(),
    }
}

/// `'text'::elem[]`, PostgreSQL's form of an array constant.
fn typed_literal(text: &str, elem: DataType) -> String {
    format!("'{}'::{}[]", text.replace('\'', "''"), elem.format_type())
}

/// Constant list items as an array literal of `elem`s (see
/// [`typed_literal`]), with elements quoted as `array_out` quotes them;
/// `None` when an item is not a constant.
fn const_array_text(items: &[Expr], elem: DataType) -> Option<String> {
    let text_ctx = crate::pgtext::TextContext::default();
    let mut parts = Vec::with_capacity(items.len());
    for e in items {
        let text = match e {
            Expr::Literal(Datum::Null, _) => None,
            Expr::Literal(d, _) => Some(crate::pgtext::format(d, &text_ctx)),
            Expr::Coerce(inner, _) => match inner.as_ref() {
                Expr::Literal(Datum::Text(s), _) => Some(s.clone()),
                Expr::Literal(Datum::Null, _) => None,
                _ => return None,
            },
            _ => return None,
        };
        parts.push(match text {
            None => "NULL".to_string(),
            Some(t)
                if t.is_empty()
                    || t.eq_ignore_ascii_case("NULL")
                    || t.chars().any(|c| {
                        matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace()
                    }) =>
            {
                format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""))
            }
            Some(t) => t,
        });
    }
    Some(typed_literal(&format!("{{{}}}", parts.join(",")), elem))
}

/// One EXPLAIN line for conditions that all hold, as PostgreSQL prints
/// them: `Index Cond: (a)`, or `Index Cond: ((a) AND (b))` for several.
fn explain_conds(label: &str, parts: &[String]) -> Option<String> {
    match parts {
        [] => None,
        [one] => Some(format!("{label}: ({one})")),
        many => Some(format!(
            "{label}: ({})",
            many.iter()
                .map(|t| format!("({t})"))
                .collect::<Vec<_>>()
                .join(" AND ")
        )),
    }
}

/// The scan an UPDATE or DELETE uses to find its rows: the same access
/// path choice as a query's.
pub fn dml_scan(def: Arc<TableDef>, filter: Option<Expr>, text: Option<String>) -> Scan {
    let alias = def.name.clone();
    let mut scan = Scan {
        table: def.clone(),
        alias,
        access: Access::Full,
        filter: None,
        range_check: RangeCheck::All,
        cond_text: Vec::new(),
        read_cols: None,
        order: None,
    };
    if let Some(f) = filter {
        let mut conds = Vec::new();
        split_bound_and(f, &mut conds);
        let text = text.unwrap_or_default();
        let conds = conds.into_iter().map(|e| (e, text.clone())).collect();
        choose_access(&mut scan, &def, conds);
    }
    scan
}

fn split_bound_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::Binary(expr::BinOp::And, a, b, _) => {
            split_bound_and(*a, out);
            split_bound_and(*b, out);
        }
        other => out.push(other),
    }
}

/// An index lookup of `def` for join conditions `outer key = inner key`
/// (inner keys over the table row).
fn index_lookup(def: &Arc<TableDef>, alias: &str, conds: &[(Expr, Expr)]) -> Option<Scan> {
    // Turn `outer = inner` into key conditions whose values read the outer
    // row: the binder's Column(i) of the outer row.
    let kc: Vec<KeyCond> = conds
        .iter()
        .enumerate()
        .map(|(cond, (outer, inner))| KeyCond {
            key: inner.clone(),
            op: expr::BinOp::Eq,
            value: CondValue::One(outer.clone()),
            text: String::new(),
            cond,
        })
        .collect();
    type Bounds = (Bound<Vec<Expr>>, Bound<Vec<Expr>>);
    let pick = |keys: &[Expr]| -> Option<Bounds> {
        let mut prefix = Vec::new();
        for k in keys {
            match kc.iter().find_map(|c| match &c.value {
                CondValue::One(v) if same_expr(&c.key, k) && v.ty() == k.ty() => Some(v),
                _ => None,
            }) {
                Some(v) => prefix.push(v.clone()),
                None => break,
            }
        }
        if prefix.is_empty() {
            None
        } else {
            Some((Bound::Included(prefix.clone()), Bound::Included(prefix)))
        }
    };
    let mk = |access| Scan {
        table: def.clone(),
        alias: alias.to_string(),
        access,
        filter: None,
        range_check: RangeCheck::All,
        cond_text: Vec::new(),
        read_cols: None,
        order: None,
    };
    if !def.primary_key.is_empty() {
        let keys: Vec<Expr> = def
            .primary_key
            .iter()
            .map(|&i| Expr::Column(i, column_type(&def.columns[i])))
            .collect();
        if let Some((lo, hi)) = pick(&keys) {
            return Some(mk(Access::Pk {
                lo,
                hi,
                lists: Vec::new(),
            }));
        }
    }
    for ix in &def.indexes {
        let keys = index_exprs(def, &ix.keys)?;
        if let Some((lo, hi)) = pick(&keys) {
            return Some(mk(Access::Index {
                id: ix.id,
                name: ix.name.clone(),
                lo,
                hi,
                lists: Vec::new(),
                only: false,
            }));
        }
    }
    None
}

/// `ORDER BY … LIMIT n` read in key order. When the sort keys are the key
/// order of the primary key or of an index of the table that a chain of
/// row-by-row nodes reads (filters, projections, joins that keep their
/// outer row order), forward or backward, the scan returns its rows in that
/// order and the sort goes: the scan then stops after the rows the LIMIT
/// returns, as PostgreSQL's (backward) index scan under a Limit does,
/// instead of every row being sorted. A hash join on that path becomes an
/// index nested loop when its inner table has a key the join pins, since
/// its outer side is now bounded by the LIMIT. Only under a LIMIT: reading
/// a whole table through an index costs a row lookup per entry, more than
/// a scan and a sort.
fn order_by_index(plan: &mut Plan) {
    let Plan::Limit { input, .. } = plan else {
        return;
    };
    let Plan::Sort { input: below, keys } = input.as_mut() else {
        return;
    };
    let wanted: Vec<OrderKey> = keys
        .iter()
        .map(|k| OrderKey {
            expr: k.expr.clone(),
            asc: k.asc,
            nulls_first: k.nulls_first,
        })
        .collect();
    if !order_rows(below, &wanted) {
        return;
    }
    let Plan::Sort { input: below, .. } = std::mem::replace(input.as_mut(), Plan::Result) else {
        unreachable!("matched above");
    };
    **input = *below;
}

/// `ORDER BY … LIMIT n` over a projection computes the projection for the
/// first `n` rows only: Limit(Sort(Project(x))) becomes
/// Limit(Project(Sort(x))), the sort keys taken from the projection's
/// expressions, and the executor's top-N sort ([`Plan::Limit`] over a
/// sort) keeps only the rows the limit returns. A projection of jsonb
/// fields is then extracted for 50 rows, not for each of the thousand rows
/// an index lookup sorts. Only when each key is a projected column whose
/// expression gives the same value every time (no volatile call, no
/// subquery), so that the keys sorted on are the values returned.
fn project_after_top_n(plan: &mut Plan) {
    let Plan::Limit { input, .. } = plan else {
        return;
    };
    let Plan::Sort {
        input: sorted,
        keys,
    } = input.as_ref()
    else {
        return;
    };
    let Plan::Project { exprs, .. } = sorted.as_ref() else {
        return;
    };
    let mut moved = Vec::with_capacity(keys.len());
    for k in keys {
        let Expr::Column(i, _) = k.expr else {
            return;
        };
        let Some(e) = exprs.get(i) else {
            return;
        };
        if !same_every_time(e) {
            return;
        }
        moved.push(SortKey {
            expr: e.clone(),
            asc: k.asc,
            nulls_first: k.nulls_first,
        });
    }
    let Plan::Sort { input: sorted, .. } = std::mem::replace(input.as_mut(), Plan::Result) else {
        unreachable!("matched above");
    };
    let Plan::Project {
        input: below,
        exprs,
    } = *sorted
    else {
        unreachable!("matched above");
    };
    **input = Plan::Project {
        input: Box::new(Plan::Sort {
            input: below,
            keys: moved,
        }),
        exprs,
    };
}

/// Whether `e` gives the same value for the same row whenever it is
/// evaluated within a statement: no volatile call, no subquery, no
/// set-returning function.
fn same_every_time(e: &Expr) -> bool {
    let mut yes = true;
    visit(e, &mut |x| {
        yes &= match x {
            Expr::Builtin(f, _, _) => !crate::sql::func::is_volatile_in_statement(*f),
            Expr::Call(f, _, _) => !matches!(f, crate::sql::expr::Func::GenRandomUuid),
            Expr::Subquery { .. } | Expr::Srf(..) => false,
            _ => true,
        }
    });
    yes
}

/// One sort key as [`order_rows`] follows it down the plan.
#[derive(Clone)]
struct OrderKey {
    expr: Expr,
    asc: bool,
    nulls_first: bool,
}

/// Makes `plan` return its rows ordered by `keys` through its scan's key
/// order, if it can; false (and `plan` unchanged) if not. Every check on
/// a node comes before the recursion below it, and the only change that
/// can follow a successful recursion cannot fail, so a false answer never
/// leaves a half-changed plan.
fn order_rows(plan: &mut Plan, keys: &[OrderKey]) -> bool {
    let within = |keys: &[OrderKey], width: usize| {
        keys.iter().all(|k| {
            let mut cols = Vec::new();
            columns_of(&k.expr, &mut cols) && cols.iter().all(|&c| c < width)
        })
    };
    match plan {
        Plan::Filter { input, .. } => order_rows(input, keys),
        Plan::Project { input, exprs } => {
            // Keys over the projection's output are its expressions.
            let mut mapped = Vec::with_capacity(keys.len());
            for k in keys {
                let Expr::Column(i, _) = k.expr else {
                    return false;
                };
                let Some(e) = exprs.get(i) else {
                    return false;
                };
                mapped.push(OrderKey {
                    expr: e.clone(),
                    ..k.clone()
                });
            }
            order_rows(input, &mapped)
        }
        Plan::IndexJoin { kind, left, .. } => {
            matches!(kind, JoinKind::Inner | JoinKind::Left)
                && row_width(left).is_some_and(|w| within(keys, w))
                && order_rows(left, keys)
        }
        Plan::HashJoin {
            kind,
            left,
            right,
            left_keys,
            right_keys,
            left_width,
            ..
        } => {
            if !matches!(kind, JoinKind::Inner | JoinKind::Left) || !within(keys, *left_width) {
                return false;
            }
            let Plan::Scan(inner) = right.as_ref() else {
                return false;
            };
            let conds: Vec<(Expr, Expr)> = left_keys
                .iter()
                .cloned()
                .zip(right_keys.iter().cloned())
                .collect();
            let Some(lookup) = index_lookup(&inner.table, &inner.alias, &conds) else {
                return false;
            };
            if !order_rows(left, keys) {
                return false;
            }
            let Plan::HashJoin {
                kind,
                left,
                right,
                left_keys,
                right_keys,
                on,
                left_width,
                right_width,
            } = std::mem::replace(plan, Plan::Result)
            else {
                unreachable!("matched above");
            };
            let Plan::Scan(inner) = *right else {
                unreachable!("checked above");
            };
            let scan = Scan {
                filter: inner.filter,
                cond_text: inner.cond_text,
                read_cols: inner.read_cols,
                ..lookup
            };
            let on = equi_join_on(left_keys, right_keys, left_width, on);
            *plan = Plan::IndexJoin {
                kind,
                left,
                scan,
                on,
                right_width,
            };
            true
        }
        Plan::Scan(scan) => order_scan(scan, keys),
        _ => false,
    }
}

/// Marks what each scan of a query's plan must decode ([`Scan::read_cols`]:
/// the columns read, the members of jsonb columns read only through `->`
/// and `->>`), and turns index scans into index-only scans
/// ([`Access::Index`]'s `only`) where nothing reads a column the index
/// entries lack. `need` is the set of `plan`'s output columns its
/// consumers read (`None`: all of them); each node passes down what it
/// reads of its input. Nodes not understood here pass down "all", so their
/// scans stay as they are.
pub fn mark_index_only(plan: &mut Plan, need: Option<Vec<usize>>) {
    let need = need.map(|cols| Need {
        cols,
        keys: Vec::new(),
    });
    expr::deep(|| mark_node(plan, need))
}

fn mark_need(plan: &mut Plan, need: Option<Need>) {
    expr::deep(|| mark_node(plan, need))
}

fn mark_node(plan: &mut Plan, need: Option<Need>) {
    match plan {
        Plan::Scan(scan) => mark_scan(scan, need),
        Plan::Filter { input, pred, .. } => {
            let need = need_with(need, [&*pred]);
            mark_need(input, need);
        }
        Plan::Project { input, exprs } => {
            // An output read in any way reads its expression's inputs.
            let picked: Option<Vec<&Expr>> = match &need {
                None => Some(exprs.iter().collect()),
                Some(n) => n.positions().map(|i| exprs.get(i)).collect(),
            };
            let need = picked.and_then(|es| need_with(Some(Need::default()), es));
            mark_need(input, need);
        }
        Plan::Aggregate {
            input,
            group_by,
            aggs,
        } => {
            // The row is the group values, the aggregate results, then one
            // input row of the group.
            let front = group_by.len() + aggs.len();
            let need = need.map(|n| n.from(front));
            let mut exprs: Vec<&Expr> = group_by.iter().collect();
            for a in aggs.iter() {
                exprs.extend(&a.args);
                exprs.extend(&a.filter);
                exprs.extend(a.order_by.iter().map(|k| &k.expr));
            }
            mark_need(input, need_with(need, exprs));
        }
        Plan::Sort { input, keys } => {
            let need = need_with(need, keys.iter().map(|k| &k.expr));
            mark_need(input, need);
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let need = need_with(need, limit.iter().chain(offset.iter()));
            mark_need(input, need);
        }
        Plan::Distinct { input, width, on } => {
            let need = need.map(|mut n| {
                n.cols.extend(0..*width);
                n
            });
            mark_need(input, need_with(need, on.iter()));
        }
        Plan::HashJoin {
            left,
            right,
            left_keys,
            right_keys,
            on,
            left_width,
            ..
        } => {
            let need = need_with(need, on.iter());
            let (l, r) = split_need(need, *left_width);
            mark_need(left, need_with(l, left_keys.iter()));
            mark_need(right, need_with(r, right_keys.iter()));
        }
        Plan::NestedLoop {
            left,
            right,
            on,
            left_width,
            ..
        } => {
            let need = need_with(need, on.iter());
            let (l, r) = split_need(need, *left_width);
            mark_need(left, l);
            mark_need(right, r);
        }
        Plan::ProjectSet { input, .. }
        | Plan::Window { input, .. }
        | Plan::GroupingSets { input, .. } => mark_need(input, None),
        Plan::IndexJoin { left, scan, on, .. } => {
            // The row is the outer row, then the inner scan's; the scan's
            // key expressions read the outer row, its filter its own.
            let Some(left_width) = row_width(left) else {
                mark_need(left, None);
                return;
            };
            let need = need_with(need, on.iter());
            let (l, r) = split_need(need, left_width);
            let keys: Vec<&Expr> = match &scan.access {
                Access::Full => Vec::new(),
                Access::Pk { lo, hi, .. } | Access::Index { lo, hi, .. } => [lo, hi]
                    .into_iter()
                    .flat_map(|b| match b {
                        Bound::Included(v) | Bound::Excluded(v) => v.iter().collect(),
                        Bound::Unbounded => Vec::new(),
                    })
                    .collect(),
            };
            mark_need(left, need_with(l, keys));
            mark_scan(scan, r);
        }
        Plan::LateralJoin { left, right, .. } | Plan::SetOp { left, right, .. } => {
            mark_need(left, None);
            mark_need(right, None);
        }
        Plan::Result
        | Plan::Values { .. }
        | Plan::Function { .. }
        | Plan::Virtual(_)
        | Plan::Cte { .. }
        | Plan::WorkTable { .. } => {}
    }
}

/// What a plan node's consumers read of its output row, by position:
/// columns read as they are, and jsonb columns read only through `->` or
/// `->>` with a constant key (a scan then decodes just those members of
/// each document, see [`ReadCols`]).
#[derive(Clone, Debug, Default)]
struct Need {
    /// Read as they are.
    cols: Vec<usize>,
    /// Read through `->` or `->>` with this key.
    keys: Vec<(usize, Arc<str>)>,
}

impl Need {
    /// Every position read in any way.
    fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.cols
            .iter()
            .copied()
            .chain(self.keys.iter().map(|(i, _)| *i))
    }

    /// What this reads at positions from `front` on, moved down by `front`.
    fn from(self, front: usize) -> Need {
        Need {
            cols: self
                .cols
                .into_iter()
                .filter(|&i| i >= front)
                .map(|i| i - front)
                .collect(),
            keys: self
                .keys
                .into_iter()
                .filter(|(i, _)| *i >= front)
                .map(|(i, k)| (i - front, k))
                .collect(),
        }
    }

    /// What this reads before position `width`.
    fn before(mut self, width: usize) -> Need {
        self.cols.retain(|&i| i < width);
        self.keys.retain(|(i, _)| *i < width);
        self
    }
}

/// `need` plus what `exprs` read of the row; `None` (all) when `need` is
/// or when an expression may read the whole row (a correlated subquery
/// sees it as its enclosing row).
fn need_with<'e>(need: Option<Need>, exprs: impl IntoIterator<Item = &'e Expr>) -> Option<Need> {
    let mut need = need?;
    for e in exprs {
        let mut whole = false;
        // Each `column -> 'key'` also visits its column: counted against
        // it here, a column whose every use is such a read is not read
        // as it is.
        let mut uses: HashMap<usize, isize> = HashMap::new();
        visit(e, &mut |x| match x {
            Expr::Column(i, _) => *uses.entry(*i).or_default() += 1,
            Expr::Binary(expr::BinOp::Arrow | expr::BinOp::LongArrow, doc, key, _) => {
                if let Some((i, k)) = expr::column_member(doc, key) {
                    *uses.entry(i).or_default() -= 1;
                    need.keys.push((i, Arc::from(k)));
                }
            }
            Expr::Subquery { sub, .. } => whole |= sub.correlated,
            Expr::Aggregate(..) | Expr::Srf(..) | Expr::Window(..) => whole = true,
            _ => {}
        });
        if whole {
            return None;
        }
        need.cols
            .extend(uses.into_iter().filter(|&(_, n)| n > 0).map(|(i, _)| i));
    }
    Some(need)
}

/// A join row's needed columns as the left input's and the right input's.
fn split_need(need: Option<Need>, left_width: usize) -> (Option<Need>, Option<Need>) {
    match need {
        None => (None, None),
        Some(n) => (Some(n.clone().before(left_width)), Some(n.from(left_width))),
    }
}

/// [`mark_index_only`] at a scan: the columns it decodes (those read by the
/// consumers or the scan's own filter) and, of jsonb columns read only
/// through `->` and `->>` with a few constant keys, the members it keeps.
/// An index scan whose index entries hold every column read, and decode
/// them exactly, reads only the index.
fn mark_scan(scan: &mut Scan, need: Option<Need>) {
    let def = &scan.table;
    let need = need.unwrap_or_else(|| Need {
        cols: (0..def.columns.len()).collect(),
        keys: Vec::new(),
    });
    let Some(need) = need_with(Some(need), scan.filter.iter()) else {
        return;
    };
    let mut read = vec![false; def.columns.len()];
    for c in need.positions() {
        if let Some(r) = read.get_mut(c) {
            *r = true;
        }
    }
    let mut keys: HashMap<usize, Vec<Box<str>>> = HashMap::new();
    for (c, k) in &need.keys {
        if !need.cols.contains(c)
            && def
                .columns
                .get(*c)
                .is_some_and(|col| col.type_oid == DataType::Jsonb.oid().0)
        {
            keys.entry(*c).or_default().push(Box::from(&**k));
        }
    }
    let mut members: Vec<(usize, Arc<[Box<str>]>)> = keys
        .into_iter()
        .filter_map(|(c, mut ks)| {
            crate::jsonb::members_order(&mut ks);
            (ks.len() <= crate::jsonb::MEMBERS_MAX).then(|| (c, Arc::from(ks)))
        })
        .collect();
    members.sort_by_key(|(c, _)| *c);
    let covered_need: Vec<usize> = need.positions().collect();
    scan.read_cols = Some(ReadCols {
        cols: read,
        members,
        keyless: true,
    });
    let Access::Index { id, only, .. } = &mut scan.access else {
        return;
    };
    let Some(ix) = def.indexes.iter().find(|i| i.id == *id) else {
        return;
    };
    let Some(covered) = crate::engine::index_only_columns(def, ix) else {
        return;
    };
    if covered_need.iter().all(|c| covered.contains(c)) {
        *only = true;
    }
}

/// Types whose stored key order (`keycode`) is the order a sort gives
/// them: numbers, text (byte order, as sorts compare it), booleans, dates
/// and times, UUIDs and bytea. Others (intervals, JSON) sort by rules the
/// key encoding does not promise to follow.
fn key_orders_as_sort(ty: DataType) -> bool {
    matches!(
        ty,
        DataType::Bool
            | DataType::Int2
            | DataType::Int4
            | DataType::Int8
            | DataType::Float4
            | DataType::Float8
            | DataType::Numeric
            | DataType::Text
            | DataType::Varchar { .. }
            | DataType::Bytea
            | DataType::Date
            | DataType::Timestamp
            | DataType::TimestampTz
            | DataType::Uuid
    )
}

/// Width of the rows of the nodes [`order_rows`] walks through.
fn row_width(plan: &Plan) -> Option<usize> {
    match plan {
        Plan::Scan(s) => Some(s.table.columns.len()),
        Plan::Filter { input, .. } => row_width(input),
        Plan::Project { exprs, .. } => Some(exprs.len()),
        Plan::IndexJoin {
            left, right_width, ..
        } => row_width(left).map(|w| w + right_width),
        Plan::HashJoin {
            left_width,
            right_width,
            ..
        }
        | Plan::NestedLoop {
            left_width,
            right_width,
            ..
        } => Some(left_width + right_width),
        _ => None,
    }
}

/// [`order_rows`] at a table scan: the keys (over the table row) must be
/// the leading part of the primary key's order or of an index's order
/// (after the index columns its access pins by equality), all ascending
/// with NULLs last (read forward) or all descending with NULLs first
/// (read backward), since keys are stored ascending with NULLs last. A
/// full scan may turn into an index scan for it; a scan already reading
/// another key range may not.
fn order_scan(scan: &mut Scan, keys: &[OrderKey]) -> bool {
    let def = scan.table.clone();
    let pk: Vec<Expr> = def
        .primary_key
        .iter()
        .map(|&i| Expr::Column(i, column_type(&def.columns[i])))
        .collect();
    let never_null = |e: &Expr| match e {
        Expr::Column(i, _) => def.columns.get(*i).is_some_and(|c| c.not_null),
        _ => false,
    };
    // The direction `order` (key expressions in stored order) gives `keys`.
    let direction = |order: &[Expr]| -> Option<Direction> {
        if keys.is_empty() || keys.len() > order.len() {
            return None;
        }
        let forward = keys[0].asc;
        for (k, e) in keys.iter().zip(order) {
            let nulls_ok = k.nulls_first != k.asc || never_null(e);
            if k.asc != forward
                || !nulls_ok
                || !same_expr(&k.expr, e)
                || !key_orders_as_sort(e.ty())
            {
                return None;
            }
        }
        Some(if forward {
            Direction::Forward
        } else {
            Direction::Backward
        })
    };
    if matches!(scan.access, Access::Full | Access::Pk { .. }) {
        if let Some(dir) = direction(&pk) {
            scan.order = Some(dir);
            return true;
        }
    }
    for ix in &def.indexes {
        let Some(mut order) = index_exprs(&def, &ix.keys) else {
            continue;
        };
        let pinned = match &scan.access {
            Access::Full => 0,
            // Rows come in key order from the first part a list gives on:
            // its values are read in key order.
            Access::Index {
                id, lo, hi, lists, ..
            } if *id == ix.id => match (lo, hi) {
                (Bound::Included(a), Bound::Included(b))
                    if a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_expr(x, y)) =>
                {
                    lists.first().map_or(a.len(), |l| l.part)
                }
                _ => lists.first().map_or(0, |l| l.part),
            },
            _ => continue,
        };
        order.extend(pk.iter().cloned());
        let Some(dir) = direction(&order[pinned.min(order.len())..]) else {
            continue;
        };
        if matches!(scan.access, Access::Full) {
            scan.access = Access::Index {
                id: ix.id,
                name: ix.name.clone(),
                lo: Bound::Unbounded,
                hi: Bound::Unbounded,
                lists: Vec::new(),
                only: false,
            };
        }
        scan.order = Some(dir);
        return true;
    }
    false
}

/// The name PostgreSQL gives an output column.
pub fn output_name(e: &ast::Expr) -> String {
    figure_colname(e).0
}

/// PostgreSQL's `FigureColnameInternal`: a name and how strongly the
/// expression suggests it (2: a column or function name, 1: a type name
/// from a cast, 0: nothing, `?column?`). A cast names its result after
/// its operand unless the operand only suggests a type name itself, so
/// `'x'::json::jsonb` is `jsonb` and `col::text` is `col`.
fn figure_colname(e: &ast::Expr) -> (String, u8) {
    let strong = |n: String| (n, 2);
    match e {
        ast::Expr::Identifier(i) => strong(ident(i)),
        ast::Expr::CompoundIdentifier(parts) => strong(parts.last().map(ident).unwrap_or_default()),
        ast::Expr::Function(f) => strong(
            f.name
                .0
                .last()
                .map(|p| match p {
                    ast::ObjectNamePart::Identifier(i) => ident(i),
                    other => other.to_string().to_lowercase(),
                })
                .unwrap_or_default(),
        ),
        ast::Expr::Cast {
            expr, data_type, ..
        } => match figure_colname(expr) {
            (_, strength) if strength <= 1 => (type_column_name(data_type), 1),
            named => named,
        },
        ast::Expr::Nested(inner) => figure_colname(inner),
        // A CASE is named after its ELSE result when that names itself.
        ast::Expr::Case { else_result, .. } => match else_result.as_deref().map(figure_colname) {
            Some(named @ (_, 2)) => named,
            _ => ("case".into(), 1),
        },
        ast::Expr::Exists { .. } => strong("exists".into()),
        ast::Expr::Subquery(q) => match q.body.as_ref() {
            ast::SetExpr::Select(s) => match s.projection.first() {
                Some(ast::SelectItem::ExprWithAlias { alias, .. }) => strong(ident(alias)),
                Some(ast::SelectItem::UnnamedExpr(x)) => figure_colname(x),
                _ => ("?column?".into(), 0),
            },
            _ => ("?column?".into(), 0),
        },
        ast::Expr::Extract { .. } => strong("extract".into()),
        // The parser turns `AT TIME ZONE` into a call of timezone().
        ast::Expr::AtTimeZone { .. } => strong("timezone".into()),
        ast::Expr::Substring { shorthand, .. } => {
            strong(if *shorthand { "substr" } else { "substring" }.into())
        }
        ast::Expr::Position { .. } => strong("position".into()),
        ast::Expr::Trim { .. } => strong("btrim".into()),
        ast::Expr::Ceil { .. } => strong("ceil".into()),
        ast::Expr::Floor { .. } => strong("floor".into()),
        ast::Expr::TypedString(ts) => (type_column_name(&ts.data_type), 1),
        ast::Expr::Interval(_) => ("interval".into(), 1),
        ast::Expr::Array(_) => strong("array".into()),
        ast::Expr::Tuple(_) => strong("row".into()),
        // `(r).field` is named after its last field name; `a[1]` after `a`.
        ast::Expr::CompoundFieldAccess { root, access_chain } => access_chain
            .iter()
            .rev()
            .find_map(|a| match a {
                ast::AccessExpr::Dot(ast::Expr::Identifier(i)) => Some(strong(ident(i))),
                _ => None,
            })
            .unwrap_or_else(|| figure_colname(root)),
        _ => ("?column?".into(), 0),
    }
}

fn type_column_name(t: &ast::DataType) -> String {
    match expr::data_type(t) {
        Ok(ty) => match ty {
            DataType::Int2 => "int2".into(),
            DataType::Int4 => "int4".into(),
            DataType::Int8 => "int8".into(),
            DataType::Float4 => "float4".into(),
            DataType::Float8 => "float8".into(),
            DataType::Bool => "bool".into(),
            DataType::Varchar { .. } => "varchar".into(),
            DataType::Bpchar { .. } => "bpchar".into(),
            DataType::Timestamp => "timestamp".into(),
            DataType::TimestampTz => "timestamptz".into(),
            other => other.format_type(),
        },
        Err(_) => "?column?".into(),
    }
}

fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The plan as EXPLAIN prints it (PostgreSQL's text format, without costs).
pub fn explain(q: &Query, stmt: &Statement) -> Vec<String> {
    let mut out = Vec::new();
    explain_node(&q.root, 0, true, &mut out);
    for (i, cte) in stmt.ctes.iter().enumerate() {
        out.push(format!("  CTE {}", cte_label(i)));
        explain_node(&cte.query.root, 2, false, &mut out);
    }
    out
}

fn cte_label(i: usize) -> String {
    format!("#{}", i + 1)
}

/// Adds node `p` at `depth` (0 = root).
fn explain_node(p: &Plan, depth: usize, first: bool, out: &mut Vec<String>) {
    // Nodes PostgreSQL does not show.
    if let Plan::Project { input, .. } = p {
        return explain_node(input, depth, first, out);
    }
    let (indent, detail) = if depth == 0 {
        (String::new(), "  ".to_string())
    } else {
        let pad = " ".repeat(depth * 6 - 4);
        (format!("{pad}->  "), format!("{pad}      "))
    };
    let _ = first;
    let mut line = |s: String| out.push(format!("{indent}{s}"));
    match p {
        Plan::Result => line("Result".into()),
        Plan::Values { .. } => line("Values Scan on \"*VALUES*\"".into()),
        Plan::Scan(scan) => {
            line(scan_label(scan));
            for c in &scan.cond_text {
                out.push(format!("{detail}{c}"));
            }
        }
        Plan::Function { func, .. } => line(format!("Function Scan on {}", srf_name(*func))),
        Plan::Cte { name, .. } => line(format!("CTE Scan on {name}")),
        Plan::WorkTable { name, .. } => line(format!("WorkTable Scan on {name}")),
        Plan::Virtual(vt) => line(format!("Function Scan on {}", vt.name)),
        Plan::Filter { input, text, .. } => {
            // The filter shows on the node below it.
            let at = out.len();
            explain_node(input, depth, first, out);
            out.insert(at + 1, format!("{detail}Filter: ({text})"));
        }
        Plan::Project { .. } => unreachable!("handled above"),
        Plan::ProjectSet { input, .. } => {
            line("ProjectSet".into());
            explain_node(input, depth + 1, true, out);
        }
        Plan::NestedLoop {
            kind, left, right, ..
        } => {
            line(match kind {
                JoinKind::Inner => "Nested Loop".into(),
                JoinKind::Left => "Nested Loop Left Join".into(),
                JoinKind::Right => "Nested Loop Right Join".into(),
                JoinKind::Full => "Nested Loop Full Join".into(),
            });
            explain_node(left, depth + 1, true, out);
            explain_node(right, depth + 1, false, out);
        }
        Plan::HashJoin {
            kind, left, right, ..
        } => {
            line(match kind {
                JoinKind::Inner => "Hash Join".into(),
                JoinKind::Left => "Hash Left Join".into(),
                JoinKind::Right => "Hash Right Join".into(),
                JoinKind::Full => "Hash Full Join".into(),
            });
            explain_node(left, depth + 1, true, out);
            let pad = " ".repeat((depth + 1) * 6 - 4);
            out.push(format!("{pad}->  Hash"));
            explain_node(right, depth + 2, false, out);
        }
        Plan::IndexJoin {
            kind, left, scan, ..
        } => {
            line(match kind {
                JoinKind::Inner => "Nested Loop".into(),
                _ => "Nested Loop Left Join".into(),
            });
            explain_node(left, depth + 1, true, out);
            let pad = " ".repeat((depth + 1) * 6 - 4);
            out.push(format!("{pad}->  {}", scan_label(scan)));
            for c in &scan.cond_text {
                out.push(format!("{pad}      {c}"));
            }
        }
        Plan::Aggregate {
            input, group_by, ..
        } => {
            line(if group_by.is_empty() {
                "Aggregate".into()
            } else {
                "HashAggregate".into()
            });
            explain_node(input, depth + 1, true, out);
        }
        Plan::Sort { input, .. } => {
            line("Sort".into());
            explain_node(input, depth + 1, true, out);
        }
        Plan::LateralJoin {
            kind, left, right, ..
        } => {
            line(match kind {
                JoinKind::Inner => "Nested Loop".into(),
                _ => "Nested Loop Left Join".into(),
            });
            explain_node(left, depth + 1, true, out);
            explain_node(right, depth + 1, false, out);
        }
        Plan::GroupingSets { input, .. } => {
            line("MixedAggregate".into());
            explain_node(input, depth + 1, true, out);
        }
        Plan::Window { input, .. } => {
            line("WindowAgg".into());
            explain_node(input, depth + 1, true, out);
        }
        Plan::Distinct { input, .. } => {
            line("Unique".into());
            explain_node(input, depth + 1, true, out);
        }
        Plan::Limit { input, .. } => {
            line("Limit".into());
            explain_node(input, depth + 1, true, out);
        }
        Plan::SetOp {
            op,
            all,
            left,
            right,
        } => {
            line(match (op, all) {
                (SetOpKind::Union, true) => "Append".into(),
                (SetOpKind::Union, false) => "HashAggregate".into(),
                (SetOpKind::Intersect, a) => {
                    format!("HashSetOp Intersect{}", if *a { " All" } else { "" })
                }
                (SetOpKind::Except, a) => {
                    format!("HashSetOp Except{}", if *a { " All" } else { "" })
                }
            });
            explain_node(left, depth + 1, true, out);
            explain_node(right, depth + 1, false, out);
        }
    }
}

fn scan_label(scan: &Scan) -> String {
    let on = if scan.alias == scan.table.name {
        scan.table.name.clone()
    } else {
        format!("{} {}", scan.table.name, scan.alias)
    };
    let backward = if scan.order == Some(Direction::Backward) {
        " Backward"
    } else {
        ""
    };
    match &scan.access {
        Access::Full if scan.order.is_none() => format!("Seq Scan on {on}"),
        Access::Full | Access::Pk { .. } => {
            format!(
                "Index Scan{backward} using {}_pkey on {on}",
                scan.table.name
            )
        }
        Access::Index {
            name, only: true, ..
        } => format!("Index Only Scan{backward} using {name} on {on}"),
        Access::Index { name, .. } => format!("Index Scan{backward} using {name} on {on}"),
    }
}

fn srf_name(f: SrfFunc) -> &'static str {
    match f {
        SrfFunc::GenerateSeries => "generate_series",
        SrfFunc::ReplicaStatus => "sextant_replica_status",
        SrfFunc::JsonbArrayElements => "jsonb_array_elements",
        SrfFunc::JsonbArrayElementsText => "jsonb_array_elements_text",
        SrfFunc::JsonbEach => "jsonb_each",
        SrfFunc::JsonbEachText => "jsonb_each_text",
        SrfFunc::JsonbObjectKeys => "jsonb_object_keys",
        SrfFunc::Unnest => "unnest",
        SrfFunc::PgExpandArray => "_pg_expandarray",
        SrfFunc::GenerateSubscripts => "generate_subscripts",
    }
}
