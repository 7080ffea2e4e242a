//! The executor: runs plan nodes over a transaction's snapshot.
//!
//! Nodes produce whole row sets (`Vec<Row>`): a query's result is sent
//! whole anyway. Sorts, hash aggregations and hash joins hold at most
//! `work_mem` of rows and spill the rest (`crate::sql::spill`); they read
//! their input as a stream ([`Exec::visit`]) where it is scans, filters,
//! projections and joins, so such an input is never materialised (a
//! million-row join feeding an aggregate holds only its build side). Every
//! node checks for cancellation and the statement deadline every few
//! thousand rows, spill writes and merges included.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Hash tables keyed by encoded group or join keys: hashed with FxHash,
/// several times cheaper than SipHash on short keys; the tables live for
/// one query.
type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;
/// A set hashed as [`FastMap`] is.
pub(crate) type FastSet<K> = HashSet<K, rustc_hash::FxBuildHasher>;
use std::ops::Bound;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Instant;

use crate::btree::Direction;
use crate::datum::{stored_slot, DataType, Datum, Numeric, StoredSlot};
use crate::engine::{KeyRange, StoredRowTest, Transaction};
use crate::jsonb::Jsonb;
use crate::replica::StatusSource;
use crate::sql::error::{code, SqlError};
use crate::sql::expr::{
    self, compare, eval, AggCall, AggFunc, EvalCtx, Expr, FieldTest, SortKey, SrfFunc, SubPlan,
    SubqueryRunner,
};
use crate::sql::plan::{
    self, Access, JoinKind, KeyList, ListValues, Plan, RangeCheck, Scan, SetOpKind, Statement,
};
use crate::sql::spill::{self, row_bytes, ExternalSort, Partitions, RunReader, WorkMem};

/// A row of values.
pub type Row = Vec<Datum>;

/// Rows (and other units of work) between two checks for cancellation and
/// the deadline.
const TICKS_PER_CHECK: u32 = 1024;
/// The same for a run with an in-place budget, which must notice sooner
/// that it ran out (a check is a clock read: ~20 ns).
const IN_PLACE_TICKS_PER_CHECK: u32 = 128;

/// Runs the plans of one statement.
pub struct Exec<'a> {
    tx: &'a Transaction,
    stmt: &'a Statement,
    cancel: &'a AtomicBool,
    deadline: Option<Instant>,
    ctes: RefCell<HashMap<usize, Rc<Vec<Row>>>>,
    /// The rows each running recursive query's last step produced.
    work: RefCell<HashMap<usize, Rc<Vec<Row>>>>,
    subqueries: RefCell<HashMap<*const SubPlan, Rc<Vec<Row>>>>,
    ticks: std::cell::Cell<u32>,
    /// Checks happen when `ticks & tick_mask == 0`.
    tick_mask: u32,
    /// Set by [`Exec::in_place_for`]: when this run must give up.
    in_place_until: Option<Instant>,
    /// The run gave up at `in_place_until` (its result, if any, is void).
    gave_up: std::cell::Cell<bool>,
    status: Option<Arc<dyn StatusSource>>,
    mem: WorkMem,
    /// Threads a table scan under an aggregation may add to this one
    /// (`max_parallel_workers_per_gather`).
    workers: usize,
    /// In a parallel worker: the part of one scan it reads.
    part: Option<ScanPart>,
}

/// The share of a table scan one thread of a parallel aggregation reads.
struct ScanPart {
    /// The scan node split (its address: plan nodes do not move while a
    /// statement runs).
    scan: usize,
    /// Which part: part 0 reads the whole of the scan should it not be
    /// read as cut (it is decided again at run time whether an index range
    /// reads the table), and the other parts then read nothing.
    index: usize,
    /// Which keys `range` is of.
    of: PartOf,
    /// The part's keys.
    range: KeyRange,
}

/// The keys a scan is cut by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartOf {
    /// The table's primary keys: a full scan, or an index range read as
    /// one.
    Table,
    /// An index's entry keys (the index's id).
    Index(u64),
}

/// What a thread reads of a scan.
enum Share<'p> {
    /// All of it: no parallel scan, or the part that reads a scan that
    /// turned out not to be cut as planned.
    Whole,
    /// Its part.
    Part(&'p KeyRange),
    /// Nothing: another thread reads it whole.
    Nothing,
}

impl<'a> Exec<'a> {
    /// An executor over `tx`, stopping with 57014 when `cancel` is set or
    /// `deadline` passes.
    pub fn new(
        tx: &'a Transaction,
        stmt: &'a Statement,
        cancel: &'a AtomicBool,
        deadline: Option<Instant>,
    ) -> Exec<'a> {
        Exec {
            tx,
            stmt,
            cancel,
            deadline,
            ctes: RefCell::new(HashMap::new()),
            work: RefCell::new(HashMap::new()),
            subqueries: RefCell::new(HashMap::new()),
            ticks: std::cell::Cell::new(0),
            tick_mask: TICKS_PER_CHECK - 1,
            in_place_until: None,
            gave_up: std::cell::Cell::new(false),
            status: None,
            mem: WorkMem::new(spill::WORK_MEM_DEFAULT_BYTES),
            workers: 0,
            part: None,
        }
    }

    /// Lets aggregations over a table scan read it with up to `workers`
    /// more threads (see [`Self::parallel_aggregate`]).
    pub fn with_parallel_workers(mut self, workers: usize) -> Exec<'a> {
        self.workers = workers;
        self
    }

    /// Gives each sort, hash aggregation and hash join `bytes` of memory
    /// before it spills (`work_mem`).
    pub fn with_work_mem(mut self, bytes: usize) -> Exec<'a> {
        self.mem = WorkMem::new(bytes);
        self
    }

    /// Makes this run give up after `budget` (failing, with
    /// [`Exec::gave_up`] set), checking more often than usual. A session
    /// runs a query that may end early in place on its tokio worker this
    /// way, and moves it off the worker only when it runs long; the run is
    /// read-only over a fixed snapshot, so running it again gives the same
    /// answer.
    pub fn in_place_for(mut self, budget: std::time::Duration) -> Exec<'a> {
        self.in_place_until = Some(Instant::now() + budget);
        self.tick_mask = IN_PLACE_TICKS_PER_CHECK - 1;
        self
    }

    /// Whether the run gave up at the end of its [`Exec::in_place_for`]
    /// budget; whatever it returned is then void.
    pub fn gave_up(&self) -> bool {
        self.gave_up.get()
    }

    /// The memory budget, and what spilling did so far.
    pub fn work_mem(&self) -> &WorkMem {
        &self.mem
    }

    /// Where `sextant_replica_status()` reads from (none: no rows).
    pub fn with_status(mut self, status: Option<Arc<dyn StatusSource>>) -> Exec<'a> {
        self.status = status;
        self
    }

    /// The transaction.
    pub fn tx(&self) -> &Transaction {
        self.tx
    }

    /// Fails when the statement was cancelled or ran out of time; cheap
    /// enough to call per row.
    pub fn tick(&self) -> Result<(), SqlError> {
        let t = self.ticks.get().wrapping_add(1);
        self.ticks.set(t);
        if t & self.tick_mask != 0 {
            return Ok(());
        }
        self.check()
    }

    /// Checks cancellation and the deadline now.
    pub fn check(&self) -> Result<(), SqlError> {
        if self.cancel.load(AtomicOrdering::Relaxed) {
            return Err(SqlError::new(
                code::QUERY_CANCELED,
                "canceling statement due to user request",
            ));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(SqlError::new(
                code::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ));
        }
        if self.in_place_until.is_some_and(|d| Instant::now() >= d) {
            self.gave_up.set(true);
            return Err(SqlError::new(
                code::QUERY_CANCELED,
                "statement ran past its in-place budget",
            ));
        }
        Ok(())
    }

    /// `ctx` with this executor running its subqueries.
    pub fn eval_ctx<'b>(&'b self, ctx: &EvalCtx<'b>) -> EvalCtx<'b> {
        self.ctx(ctx)
    }

    fn ctx<'b>(&'b self, ctx: &EvalCtx<'b>) -> EvalCtx<'b> {
        EvalCtx {
            sub: Some(self),
            ..*ctx
        }
    }

    /// Runs `plan`; `ctx` carries parameters and enclosing rows.
    pub fn run(&self, plan: &Plan, ctx: &EvalCtx<'_>) -> Result<Vec<Row>, SqlError> {
        let ctx = &self.ctx(ctx);
        Ok(match plan {
            Plan::Result => vec![Vec::new()],
            Plan::Values { rows } => rows
                .iter()
                .map(|r| r.iter().map(|e| eval(e, &[], ctx)).collect())
                .collect::<Result<_, _>>()?,
            Plan::Function {
                func,
                args,
                ordinality,
            } => {
                let vals = args
                    .iter()
                    .map(|a| eval(a, &[], ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut rows = srf_rows(*func, &vals, self)?;
                if *ordinality {
                    for (i, r) in rows.iter_mut().enumerate() {
                        r.push(Datum::Int8(i as i64 + 1));
                    }
                }
                rows
            }
            Plan::Virtual(vt) => {
                let view = ctx
                    .catalog
                    .ok_or_else(|| SqlError::unsupported("catalog tables here"))?;
                (vt.rows)(view)?
            }
            Plan::Cte { id, .. } => {
                let def = &self.stmt.ctes[*id];
                if !def.correlated {
                    if let Some(r) = self.ctes.borrow().get(id) {
                        return Ok(r.as_ref().clone());
                    }
                }
                let rows = match &def.recursive {
                    None => self.run(&def.query.root, ctx)?,
                    Some(step) => self.run_recursive(&def.query, step, ctx)?,
                };
                let rows = Rc::new(rows);
                if !def.correlated {
                    self.ctes.borrow_mut().insert(*id, rows.clone());
                }
                rows.as_ref().clone()
            }
            Plan::WorkTable { id, name } => self
                .work
                .borrow()
                .get(id)
                .map(|r| r.as_ref().clone())
                .ok_or_else(|| {
                    SqlError::new(
                        code::INTERNAL_ERROR,
                        format!("work table of \"{name}\" read outside its recursion"),
                    )
                })?,
            Plan::ProjectSet { input, srfs, exprs } => {
                let rows = self.run(input, ctx)?;
                let mut out = Vec::new();
                for r in rows {
                    self.tick()?;
                    let mut sets = Vec::with_capacity(srfs.len());
                    for s in srfs {
                        let vals = s
                            .args
                            .iter()
                            .map(|a| eval(a, &r, ctx))
                            .collect::<Result<Vec<_>, _>>()?;
                        sets.push(srf_rows(s.func, &vals, self)?);
                    }
                    let n = sets.iter().map(Vec::len).max().unwrap_or(0);
                    for k in 0..n {
                        let mut row = r.clone();
                        for (set, s) in sets.iter().zip(srfs) {
                            row.push(match set.get(k) {
                                None => Datum::Null,
                                Some(v) if s.record => Datum::Record(v.clone().into_boxed_slice()),
                                Some(v) => v[0].clone(),
                            });
                        }
                        out.push(
                            exprs
                                .iter()
                                .map(|e| eval(e, &row, ctx))
                                .collect::<Result<Vec<_>, _>>()?,
                        );
                    }
                }
                out
            }
            Plan::NestedLoop {
                kind,
                left,
                right,
                on,
                left_width,
                right_width,
            } => {
                let l = self.run(left, ctx)?;
                let r = self.run(right, ctx)?;
                let mut right_matched = vec![false; r.len()];
                let mut out = Vec::new();
                for a in l {
                    let mut matched = false;
                    for (i, b) in r.iter().enumerate() {
                        self.tick()?;
                        let mut row = a.clone();
                        row.extend(b.iter().cloned());
                        let keep = match on {
                            Some(p) => matches!(eval(p, &row, ctx)?, Datum::Bool(true)),
                            None => true,
                        };
                        if keep {
                            matched = true;
                            right_matched[i] = true;
                            out.push(row);
                        }
                    }
                    if !matched && matches!(kind, JoinKind::Left | JoinKind::Full) {
                        out.push(pad(a, *right_width));
                    }
                }
                unmatched_right(*kind, r, &right_matched, *left_width, &mut |row| {
                    out.push(row);
                    Ok(true)
                })?;
                out
            }
            // Streamed (see `visit`).
            Plan::Scan(_)
            | Plan::Filter { .. }
            | Plan::Project { .. }
            | Plan::HashJoin { .. }
            | Plan::IndexJoin { .. } => {
                let mut out = Vec::new();
                self.visit(plan, ctx, &mut |r| {
                    out.push(r);
                    Ok(true)
                })?;
                out
            }
            Plan::Aggregate {
                input,
                group_by,
                aggs,
            } => match self.parallel_aggregate(input, group_by, aggs, ctx)? {
                Some(rows) => rows,
                None => self.aggregate(&mut |f| self.visit(input, ctx, f), group_by, aggs, ctx)?,
            },
            Plan::GroupingSets {
                input,
                group_by,
                sets,
                aggs,
                input_width,
            } => {
                let rows = self.run(input, ctx)?;
                crate::sql::grouping_sets::run(self, rows, group_by, sets, aggs, *input_width, ctx)?
            }
            Plan::LateralJoin {
                kind,
                left,
                right,
                on,
                right_width,
            } => {
                let rows = self.run(left, ctx)?;
                crate::sql::lateral::run(self, rows, *kind, right, on.as_ref(), *right_width, ctx)?
            }
            Plan::Window { input, calls } => {
                let rows = self.run(input, ctx)?;
                crate::sql::window::run(self, rows, calls, ctx)?
            }
            Plan::Sort { input, keys } => self.sort(input, keys, None, ctx)?,
            Plan::Distinct { input, width, on } => {
                let rows = self.run(input, ctx)?;
                let mut seen = std::collections::HashSet::new();
                let mut out = Vec::new();
                for r in rows {
                    self.tick()?;
                    let key = if on.is_empty() {
                        group_key(&r[..*width])
                    } else {
                        let vals = on
                            .iter()
                            .map(|e| eval(e, &r, ctx))
                            .collect::<Result<Vec<_>, _>>()?;
                        group_key(&vals)
                    };
                    if seen.insert(key) {
                        out.push(r);
                    }
                }
                out
            }
            Plan::Limit {
                input,
                limit,
                offset,
            } => {
                let count =
                    |e: &Option<Expr>, what: &str, sqlstate| -> Result<Option<usize>, SqlError> {
                        match e {
                            None => Ok(None),
                            Some(e) => match eval(e, &[], ctx)? {
                                Datum::Null => Ok(None),
                                Datum::Int8(n) if n >= 0 => Ok(Some(n as usize)),
                                _ => Err(SqlError::new(
                                    sqlstate,
                                    format!("{what} must not be negative"),
                                )),
                            },
                        }
                    };
                let limit = count(limit, "LIMIT", code::INVALID_ROW_COUNT_IN_LIMIT)?;
                let offset =
                    count(offset, "OFFSET", code::INVALID_ROW_COUNT_IN_OFFSET)?.unwrap_or(0);
                let rows = match limit {
                    Some(n) => {
                        let n = n.saturating_add(offset);
                        match self.top_n(input, n, ctx)? {
                            Some(rows) => rows,
                            None => self.run_first(input, n, ctx)?,
                        }
                    }
                    None => self.run(input, ctx)?,
                };
                rows.into_iter()
                    .skip(offset)
                    .take(limit.unwrap_or(usize::MAX))
                    .collect()
            }
            Plan::SetOp {
                op,
                all,
                left,
                right,
            } => {
                let l = self.run(left, ctx)?;
                let r = self.run(right, ctx)?;
                set_op(*op, *all, l, r)
            }
        })
    }

    /// The first `n` rows (at least; the caller cuts) of a sort, or of a
    /// projection over a sort that `plan::project_after_top_n` moved there:
    /// the sort keeps only what those rows need, and the projection runs
    /// on them alone. `None` for any other plan.
    fn top_n(
        &self,
        plan: &Plan,
        n: usize,
        ctx: &EvalCtx<'_>,
    ) -> Result<Option<Vec<Row>>, SqlError> {
        let (sorted, exprs) = match plan {
            Plan::Project { input, exprs } => (input.as_ref(), Some(exprs)),
            other => (other, None),
        };
        let Plan::Sort { input, keys } = sorted else {
            return Ok(None);
        };
        let mut rows = self.sort(input, keys, Some(n), ctx)?;
        let Some(exprs) = exprs else {
            return Ok(Some(rows));
        };
        rows.truncate(n);
        rows.into_iter()
            .map(|r| {
                self.tick()?;
                exprs.iter().map(|e| eval(e, &r, ctx)).collect()
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// `input`'s rows ordered by `keys` (stably); with a `bound`, at least
    /// its first `bound` rows (all when fewer), holding about twice that
    /// many at a time.
    fn sort(
        &self,
        input: &Plan,
        keys: &[SortKey],
        bound: Option<usize>,
        ctx: &EvalCtx<'_>,
    ) -> Result<Vec<Row>, SqlError> {
        let tick = || self.tick();
        let mut sort = ExternalSort::new(keys, &self.mem, &tick);
        if let Some(n) = bound {
            sort = sort.bounded(n);
        }
        self.visit(input, ctx, &mut |r| {
            let k = keys
                .iter()
                .map(|k| eval(&k.expr, &r, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            sort.push(k, r)?;
            Ok(true)
        })?;
        self.check()?;
        sort.finish()
    }

    /// `WITH RECURSIVE`: the non-recursive term's rows, then the recursive
    /// term run on the rows of its previous run until it yields none (with
    /// UNION, rows already produced do not count). Unbounded recursion
    /// runs until the statement is canceled or times out, as in
    /// PostgreSQL.
    fn run_recursive(
        &self,
        init: &crate::sql::plan::Query,
        step: &crate::sql::plan::RecursiveStep,
        ctx: &EvalCtx<'_>,
    ) -> Result<Vec<Row>, SqlError> {
        let mut seen = std::collections::HashSet::new();
        let mut fresh = |rows: Vec<Row>| -> Vec<Row> {
            if step.distinct {
                rows.into_iter()
                    .filter(|r| seen.insert(group_key(r)))
                    .collect()
            } else {
                rows
            }
        };
        let mut all = fresh(self.run(&init.root, ctx)?);
        let mut last = all.clone();
        while !last.is_empty() {
            self.tick()?;
            self.work.borrow_mut().insert(step.work, Rc::new(last));
            let rows = self.run(&step.query.root, ctx);
            self.work.borrow_mut().remove(&step.work);
            // Rows of the step's subqueries and WITH queries depend on the
            // work table: run them afresh next time.
            self.subqueries.borrow_mut().clear();
            last = fresh(rows?);
            all.extend(last.iter().cloned());
        }
        Ok(all)
    }

    /// The first `n` rows of `plan` (at least; the caller cuts), reading no
    /// more of a table than it needs where the plan streams ([`Self::visit`]):
    /// `LIMIT n` over an index scan reads `n` entries, not every match, as
    /// PostgreSQL's pipelined executor does. Other plans run whole.
    fn run_first(&self, plan: &Plan, n: usize, ctx: &EvalCtx<'_>) -> Result<Vec<Row>, SqlError> {
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        self.visit(plan, ctx, &mut |r| {
            out.push(r);
            Ok(out.len() < n)
        })?;
        Ok(out)
    }

    /// One outer row of an index nested loop: its matches (or, for a LEFT
    /// join without any, the row padded with NULLs) go to `f`, in the inner
    /// scan's order; `false` from `f` stops.
    #[allow(clippy::too_many_arguments)]
    fn index_join_row(
        &self,
        a: Row,
        kind: JoinKind,
        scan: &Scan,
        on: Option<&Expr>,
        right_width: usize,
        ctx: &EvalCtx<'_>,
        f: &mut dyn FnMut(Row) -> Result<bool, SqlError>,
    ) -> Result<bool, SqlError> {
        let mut matched = false;
        for (_, b) in self.scan(scan, &a, ctx)? {
            let mut row = a.clone();
            row.extend(b);
            let keep = match on {
                Some(p) => matches!(eval(p, &row, ctx)?, Datum::Bool(true)),
                None => true,
            };
            if keep {
                matched = true;
                if !f(row)? {
                    return Ok(false);
                }
            }
        }
        if !matched && matches!(kind, JoinKind::Left | JoinKind::Full) {
            return f(pad(a, right_width));
        }
        Ok(true)
    }

    /// Rows of a table scan with their stored keys; key expressions read
    /// `outer` (an index nested loop's outer row).
    pub fn scan(
        &self,
        scan: &Scan,
        outer: &[Datum],
        ctx: &EvalCtx<'_>,
    ) -> Result<Vec<crate::engine::Row>, SqlError> {
        self.scan_first(scan, outer, ctx, None, None)
    }

    /// [`Self::scan`], keeping only rows that also satisfy `extra` (a
    /// Filter node right above the scan), and at most `cap` of them; the
    /// scan stops reading once it has them.
    fn scan_first(
        &self,
        scan: &Scan,
        outer: &[Datum],
        ctx: &EvalCtx<'_>,
        cap: Option<usize>,
        extra: Option<&Expr>,
    ) -> Result<Vec<crate::engine::Row>, SqlError> {
        let cap = cap.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        if cap == 0 {
            return Ok(out);
        }
        self.scan_each(scan, outer, ctx, extra, &mut |row| {
            out.push(row);
            Ok(out.len() < cap)
        })?;
        Ok(out)
    }

    /// Streams the rows of a table scan that also satisfy `extra` to `f`,
    /// with their stored keys, until `f` answers `false`; rows are read
    /// from the table as they are visited.
    fn scan_each(
        &self,
        scan: &Scan,
        outer: &[Datum],
        ctx: &EvalCtx<'_>,
        extra: Option<&Expr>,
        f: &mut dyn FnMut(crate::engine::Row) -> Result<bool, SqlError>,
    ) -> Result<(), SqlError> {
        let ctx = &self.ctx(ctx);
        let lists = match &scan.access {
            Access::Full => None,
            Access::Pk { lists, .. } | Access::Index { lists, .. } => Some(lists),
        };
        let bounds = match lists {
            None => None,
            Some(_) => match scan_bounds(scan, outer, ctx)? {
                Some(b) => Some(b),
                None => return Ok(()),
            },
        };
        // One key range read as a range (not widened to the table): the
        // conditions it enforces need no check (`plan::RangeCheck`).
        let widen = match (&bounds, lists) {
            (Some((lo, hi)), Some(l)) if l.is_empty() => self.widens(scan, lo, hi, true)?,
            _ => false,
        };
        let filter = match (&scan.range_check, &bounds) {
            (RangeCheck::Rest(rest), Some(_)) if !widen => rest.as_ref(),
            _ => scan.filter.as_ref(),
        };
        // Filtered as read, with the conditions' constant parts evaluated
        // once for the scan rather than once per row.
        let filter = filter.map(|e| fold_constants(e, ctx));
        let extra = extra.map(|e| fold_constants(e, ctx));
        // Conditions an index scan tests on each row's stored bytes first,
        // to skip decoding the rows they rule out.
        let tests = filter.as_deref().map(FieldTest::all_in).unwrap_or_default();
        let slots: Vec<(usize, &FieldTest)> = tests
            .iter()
            .filter(|t| t.column < scan.table.columns.len())
            .map(|t| (scan.table.slot(t.column), t))
            .collect();
        let may_pass = |row: &[u8]| {
            slots.iter().all(|(slot, t)| match stored_slot(row, *slot) {
                StoredSlot::Null => t.may_pass(None),
                StoredSlot::Jsonb(doc) => t.may_pass(Some(doc)),
                StoredSlot::Other => true,
            })
        };
        let may_pass: Option<StoredRowTest<'_>> = if slots.is_empty() {
            None
        } else {
            Some(&may_pass)
        };
        // Whether `f` asked to stop, so that a scan over several key ranges
        // stops too (a LIMIT reads no further).
        let stopped = std::cell::Cell::new(false);
        let mut each = |(k, r): crate::engine::Row| -> Result<bool, SqlError> {
            self.tick()?;
            if self.keeps(filter.as_deref(), extra.as_deref(), &r, ctx)? {
                let go = f((k, r))?;
                stopped.set(!go);
                Ok(go)
            } else {
                Ok(true)
            }
        };
        // A scan a sort was dropped for keeps its key order (see
        // `plan::order_by_index`); others read forward.
        let dir = scan.order.unwrap_or(Direction::Forward);
        let (Some(lists), Some((lo, hi))) = (lists, bounds) else {
            return self.read_table(scan, dir, &mut each);
        };
        if lists.is_empty() {
            return self.read_range(scan, lo, hi, widen, dir, may_pass, &mut each);
        }
        let Some(points) = self.list_points(scan, lists, outer, ctx, dir)? else {
            // Too many points: the range the lists lie in, once, in key
            // order; the filter picks the rows.
            let first = lists[0].part;
            let cut = |b: Bound<Vec<Datum>>| match b {
                Bound::Included(mut v) | Bound::Excluded(mut v) if first > 0 => {
                    v.truncate(first);
                    Bound::Included(v)
                }
                _ => Bound::Unbounded,
            };
            let (lo, hi) = (cut(lo), cut(hi));
            let widen = self.widens(scan, &lo, &hi, true)?;
            return self.read_range(scan, lo, hi, widen, dir, may_pass, &mut each);
        };
        for point in points {
            let fill = |b: &Bound<Vec<Datum>>| {
                let mut b = b.clone();
                if let Bound::Included(v) | Bound::Excluded(v) = &mut b {
                    for (l, d) in lists.iter().zip(&point) {
                        assert!(l.part < v.len(), "list part {} past its bound", l.part);
                        v[l.part] = d.clone();
                    }
                }
                b
            };
            // Each point's range is narrow, and a full scan per point would
            // return rows more than once: never read as a full scan.
            self.read_range(scan, fill(&lo), fill(&hi), false, dir, may_pass, &mut each)?;
            if stopped.get() {
                break;
            }
        }
        Ok(())
    }

    /// The key values a scan's lists give, one per point to read (a value
    /// of each list), in key order for `dir`: each list's values evaluated
    /// once, NULLs dropped, sorted and de-duplicated by their key encoding,
    /// and combined in key-part order. `None` when they would be more than
    /// [`KEY_LIST_POINTS_MAX`].
    fn list_points(
        &self,
        scan: &Scan,
        lists: &[KeyList],
        outer: &[Datum],
        ctx: &EvalCtx<'_>,
        dir: Direction,
    ) -> Result<Option<Vec<Vec<Datum>>>, SqlError> {
        let mut per_list: Vec<Vec<Datum>> = Vec::with_capacity(lists.len());
        for l in lists {
            let values: Vec<Datum> = match &l.values {
                ListValues::Items(items) => items
                    .iter()
                    .map(|e| eval(e, outer, ctx))
                    .collect::<Result<_, _>>()?,
                // `k = ANY (NULL)` is never true.
                ListValues::Array(a) => match eval(a, outer, ctx)? {
                    Datum::Array(a) => {
                        let elem = a.elem_type();
                        a.items()
                            .iter()
                            .filter(|d| !d.is_null())
                            .map(|d| {
                                let v = plan::key_value(Expr::Literal(d.clone(), elem), l.key_ty);
                                eval(&v, &[], ctx)
                            })
                            .collect::<Result<_, _>>()?
                    }
                    _ => Vec::new(),
                },
            };
            let mut keyed = Vec::with_capacity(values.len());
            for d in values {
                self.tick()?;
                if d.is_null() {
                    continue;
                }
                let k = self
                    .tx
                    .encode_pk(scan.table.id, std::slice::from_ref(&d))
                    .map_err(SqlError::from_engine)?;
                keyed.push((k, d));
            }
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            keyed.dedup_by(|a, b| a.0 == b.0);
            per_list.push(keyed.into_iter().map(|(_, d)| d).collect());
        }
        let count = per_list.iter().try_fold(1usize, |n, v| {
            n.checked_mul(v.len()).filter(|&n| n <= KEY_LIST_POINTS_MAX)
        });
        if count.is_none() {
            return Ok(None);
        }
        let mut points: Vec<Vec<Datum>> = vec![Vec::new()];
        for values in &per_list {
            points = points
                .iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push(v.clone());
                        q
                    })
                })
                .collect();
        }
        if dir == Direction::Backward {
            points.reverse();
        }
        Ok(Some(points))
    }

    /// Reads the rows of `scan`'s access path whose keys lie between `lo`
    /// and `hi` (key values, a prefix allowed) in `dir`, as `each` takes
    /// them. With `widen` ([`Self::widens`]: an index range over much of
    /// the index, when the scan need not keep index order), the table is
    /// read instead. An index scan skips the rows `may_pass` rules out
    /// from their stored bytes (see `Transaction::index_scan_visit_range`).
    #[allow(clippy::too_many_arguments)]
    fn read_range(
        &self,
        scan: &Scan,
        lo: Bound<Vec<Datum>>,
        hi: Bound<Vec<Datum>>,
        widen: bool,
        dir: Direction,
        may_pass: Option<StoredRowTest<'_>>,
        each: &mut dyn FnMut(crate::engine::Row) -> Result<bool, SqlError>,
    ) -> Result<(), SqlError> {
        let tx = self.tx;
        let def = &scan.table;
        let cols = scan.read_cols.as_ref();
        match &scan.access {
            Access::Full => self.read_table(scan, dir, each),
            Access::Pk { .. } => {
                // Never cut: a parallel scan's first part reads it.
                if matches!(self.share(scan, None), Share::Nothing) {
                    return Ok(());
                }
                // A whole-key equality is a point lookup.
                match (&lo, &hi) {
                    (Bound::Included(a), Bound::Included(b))
                        if a.len() == def.primary_key.len() && a == b =>
                    {
                        let key = tx.encode_pk(def.id, a).map_err(SqlError::from_engine)?;
                        if let Some(r) =
                            tx.get_by_key(def.id, &key).map_err(SqlError::from_engine)?
                        {
                            each((key, r))?;
                        }
                        Ok(())
                    }
                    _ => tx.scan_visit_in(def.id, as_ref(&lo), as_ref(&hi), dir, cols, each),
                }
            }
            Access::Index { .. } if widen => {
                if !matches!(self.share(scan, Some(PartOf::Table)), Share::Nothing) {
                    self.mem.wide_index_range();
                }
                self.read_table(scan, Direction::Forward, each)
            }
            Access::Index { id, only, .. } => {
                let range = match self.share(scan, Some(PartOf::Index(*id))) {
                    Share::Nothing => return Ok(()),
                    Share::Whole => KeyRange::of(as_ref(&lo), as_ref(&hi)),
                    Share::Part(part) => {
                        KeyRange::of(as_ref(&lo), as_ref(&hi)).map(|r| r.intersect(part))
                    }
                }
                .map_err(SqlError::from_engine)?;
                if *only {
                    // Reads the index entries alone, which are smaller than
                    // the rows and need no lookups.
                    tx.index_only_scan_visit_range(def.id, *id, &range, dir, each)
                } else {
                    tx.index_scan_visit_range(def.id, *id, &range, dir, cols, may_pass, each)
                }
            }
        }
    }

    /// Whether an index scan over `lo..hi` reads the table instead: each
    /// index entry costs a row lookup by primary key, so a range over much
    /// of the index reads faster as one pass over the table. The scan's
    /// filter holds every condition, so either way returns the same rows
    /// (in another order, which no plan relies on unless the scan must
    /// keep index order). The bounds are only known at run time
    /// (parameters, now()), hence the choice here. Index-only scans never
    /// widen: their entries are smaller than the rows and need no lookups.
    fn widens(
        &self,
        scan: &Scan,
        lo: &Bound<Vec<Datum>>,
        hi: &Bound<Vec<Datum>>,
        may_widen: bool,
    ) -> Result<bool, SqlError> {
        let Access::Index {
            id, only: false, ..
        } = &scan.access
        else {
            return Ok(false);
        };
        Ok(may_widen
            && scan.order.is_none()
            && self
                .tx
                .index_range_fraction(scan.table.id, *id, as_ref(lo), as_ref(hi))
                .map_err(SqlError::from_engine)?
                .is_some_and(|f| f > WIDE_INDEX_RANGE))
    }

    /// Reads `scan`'s whole table, or this thread's part of it.
    fn read_table(
        &self,
        scan: &Scan,
        dir: Direction,
        each: &mut dyn FnMut(crate::engine::Row) -> Result<bool, SqlError>,
    ) -> Result<(), SqlError> {
        let cols = scan.read_cols.as_ref();
        let range = match self.share(scan, Some(PartOf::Table)) {
            Share::Nothing => return Ok(()),
            Share::Whole => &KeyRange::all(),
            Share::Part(range) => range,
        };
        self.tx.scan_visit_keys(
            scan.table.id,
            as_ref(&range.lo),
            as_ref(&range.hi),
            dir,
            cols,
            each,
        )
    }

    /// What this thread reads of `scan`, read as cut by `of` (`None`: not
    /// cut at all).
    fn share(&self, scan: &Scan, of: Option<PartOf>) -> Share<'_> {
        match &self.part {
            Some(p) if p.scan == scan as *const Scan as usize => {
                if Some(p.of) == of {
                    Share::Part(&p.range)
                } else if p.index == 0 {
                    Share::Whole
                } else {
                    Share::Nothing
                }
            }
            _ => Share::Whole,
        }
    }

    /// Streams the rows of `plan` to `f` until it answers `false`. Scans,
    /// filters, projections and joins pass rows on as they come and never
    /// hold them (a hash join holds its build side); other plans run whole
    /// first.
    pub(crate) fn visit(
        &self,
        plan: &Plan,
        ctx: &EvalCtx<'_>,
        f: &mut dyn FnMut(Row) -> Result<bool, SqlError>,
    ) -> Result<(), SqlError> {
        let ctx = &self.ctx(ctx);
        match plan {
            Plan::Scan(scan) => self.scan_each(scan, &[], ctx, None, &mut |(_, r)| f(r)),
            Plan::Filter { input, pred, .. } => self.visit(input, ctx, &mut |r| {
                self.tick()?;
                if matches!(eval(pred, &r, ctx)?, Datum::Bool(true)) {
                    f(r)
                } else {
                    Ok(true)
                }
            }),
            Plan::Project { input, exprs } => self.visit(input, ctx, &mut |r| {
                self.tick()?;
                f(exprs
                    .iter()
                    .map(|e| eval(e, &r, ctx))
                    .collect::<Result<Vec<_>, _>>()?)
            }),
            Plan::IndexJoin {
                kind,
                left,
                scan,
                on,
                right_width,
            } => self.visit(left, ctx, &mut |a| {
                self.tick()?;
                self.index_join_row(a, *kind, scan, on.as_ref(), *right_width, ctx, f)
            }),
            Plan::HashJoin {
                kind,
                left,
                right,
                left_keys,
                right_keys,
                on,
                left_width,
                right_width,
            } => {
                let join = HashJoinSpec {
                    kind: *kind,
                    left_keys,
                    right_keys,
                    on: on.as_ref(),
                    left_width: *left_width,
                    right_width: *right_width,
                };
                self.hash_join(
                    &join,
                    0,
                    &mut |g| self.visit(right, ctx, g),
                    &mut |g| self.visit(left, ctx, g),
                    ctx,
                    f,
                )?;
                Ok(())
            }
            _ => {
                for r in self.run(plan, ctx)? {
                    if !f(r)? {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether `row` satisfies both conditions (absent ones hold).
    fn keeps(
        &self,
        filter: Option<&Expr>,
        extra: Option<&Expr>,
        row: &[Datum],
        ctx: &EvalCtx<'_>,
    ) -> Result<bool, SqlError> {
        for f in [filter, extra].into_iter().flatten() {
            if !matches!(eval(f, row, ctx)?, Datum::Bool(true)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Hash aggregation of the rows `feed` streams. Groups are held up to
    /// `work_mem`; after that, rows of groups not yet held go to partition
    /// files, aggregated one partition at a time once the held groups are
    /// out.
    fn aggregate(
        &self,
        feed: Feed<'_>,
        group_by: &[Expr],
        aggs: &[AggCall],
        ctx: &EvalCtx<'_>,
    ) -> Result<Vec<Row>, SqlError> {
        let mut out = Vec::new();
        let mut pending: Vec<(u32, RunReader)> = self
            .aggregate_pass(feed, 0, group_by, aggs, ctx, &mut out)?
            .into_iter()
            .map(|p| (1, p))
            .collect();
        while let Some((level, mut part)) = pending.pop() {
            let more = self.aggregate_pass(
                &mut |f| part.for_each(f),
                level,
                group_by,
                aggs,
                ctx,
                &mut out,
            )?;
            pending.extend(more.into_iter().map(|p| (level + 1, p)));
        }
        empty_aggregate(&mut out, group_by, aggs, ctx)?;
        Ok(out)
    }

    /// One pass of [`Self::aggregate`] at spill level `level`: appends the
    /// groups it could hold to `out` and returns the partitions of the
    /// rest.
    fn aggregate_pass(
        &self,
        feed: Feed<'_>,
        level: u32,
        group_by: &[Expr],
        aggs: &[AggCall],
        ctx: &EvalCtx<'_>,
        out: &mut Vec<Row>,
    ) -> Result<Vec<RunReader>, SqlError> {
        let mut groups = Groups::default();
        let mut spilled: Option<Partitions> = None;
        self.accumulate(
            feed,
            group_by,
            aggs,
            ctx,
            &mut groups,
            Overflow::Spill {
                level,
                parts: &mut spilled,
            },
        )?;
        self.finish_groups(groups, aggs, ctx, out)?;
        let Some(spilled) = spilled else {
            return Ok(Vec::new());
        };
        let (parts, written) = spilled.finish()?;
        let parts: Vec<RunReader> = parts.into_iter().flatten().collect();
        self.mem.agg_spilled(parts.len(), written);
        Ok(parts)
    }

    /// Adds the rows `feed` streams to `groups`. A row of a group not yet
    /// held once the groups fill `work_mem` goes where `overflow` says.
    fn accumulate(
        &self,
        feed: Feed<'_>,
        group_by: &[Expr],
        aggs: &[AggCall],
        ctx: &EvalCtx<'_>,
        groups: &mut Groups,
        mut overflow: Overflow<'_>,
    ) -> Result<(), SqlError> {
        let shared = shared_inputs(aggs);
        let group_overhead =
            std::mem::size_of::<Group>() + aggs.len() * std::mem::size_of::<AggState>();
        // Reused row after row: a group's keys are copied only when the
        // group is new.
        let mut keys: Vec<Datum> = Vec::with_capacity(group_by.len());
        let mut k: Vec<u8> = Vec::new();
        feed(&mut |r| {
            self.tick()?;
            keys.clear();
            for e in group_by {
                keys.push(eval(e, &r, ctx)?);
            }
            k.clear();
            group_key_into(&keys, &mut k);
            // Without GROUP BY there is one group: no lookup per row.
            let found = if group_by.is_empty() && !groups.list.is_empty() {
                Some(&0)
            } else {
                groups.index.get(k.as_slice())
            };
            let room = groups.held_bytes < self.mem.limit_bytes()
                || groups.list.is_empty()
                || matches!(overflow, Overflow::Spill { level, .. } if level >= spill::SPILL_DEPTH_MAX);
            let gi = match found {
                Some(&i) => i,
                // Once the budget is reached no group is added in this
                // pass, so all of a group's rows stay on one side.
                None if room => {
                    groups.held_bytes +=
                        group_overhead + k.len() + row_bytes(&keys) + row_bytes(&r);
                    groups.list.push(Group {
                        keys: keys.clone(),
                        states: aggs.iter().map(AggState::new).collect(),
                        sample: r.clone(),
                    });
                    groups.index.insert(k.clone(), groups.list.len() - 1);
                    groups.list.len() - 1
                }
                None => {
                    return match &mut overflow {
                        Overflow::Spill { level, parts } => {
                            parts
                                .get_or_insert_with(|| Partitions::new(*level))
                                .push(&k, &r)?;
                            Ok(true)
                        }
                        Overflow::Stop(stopped) => {
                            **stopped = true;
                            Ok(false)
                        }
                    };
                }
            };
            let g = &mut groups.list[gi];
            for ((a, st), shared) in aggs.iter().zip(g.states.iter_mut()).zip(&shared) {
                // A call reading another's values collects none itself.
                if shared.is_some() && !st.needs_args() {
                    continue;
                }
                if let Some(f) = &a.filter {
                    if !matches!(eval(f, &r, ctx)?, Datum::Bool(true)) {
                        continue;
                    }
                }
                let args = if st.needs_args() {
                    a.args
                        .iter()
                        .map(|e| eval(e, &r, ctx))
                        .collect::<Result<Vec<_>, _>>()?
                } else {
                    Vec::new()
                };
                let sort = if shared.is_none() {
                    a.order_by
                        .iter()
                        .map(|k| eval(&k.expr, &r, ctx))
                        .collect::<Result<Vec<_>, _>>()?
                } else {
                    Vec::new()
                };
                // Collecting states grow with every row they keep; they
                // are held whatever the budget (their group is already
                // held).
                let bytes = if st.collects() {
                    row_bytes(&args) + row_bytes(&sort)
                } else {
                    0
                };
                if st.add(a, args, sort)? {
                    groups.held_bytes += bytes;
                }
            }
            self.mem.held(groups.held_bytes);
            Ok(true)
        })
    }

    /// Appends a row per group to `out`: its keys, its aggregates' results
    /// and its sample input row.
    fn finish_groups(
        &self,
        groups: Groups,
        aggs: &[AggCall],
        ctx: &EvalCtx<'_>,
        out: &mut Vec<Row>,
    ) -> Result<(), SqlError> {
        let shared = shared_inputs(aggs);
        out.reserve(groups.list.len());
        for g in groups.list {
            self.tick()?;
            let mut row = g.keys;
            let mut states = g.states;
            for (a, st) in aggs.iter().zip(states.iter_mut()) {
                st.sort_values(a)?;
            }
            for (i, a) in aggs.iter().enumerate() {
                row.push(match (&states[i], shared[i]) {
                    (AggState::OrderedSet { .. }, from) => {
                        states[i].ordered_result(a, from.map(|j| &states[j]), ctx)?
                    }
                    _ => std::mem::replace(&mut states[i], AggState::Count(0)).finish(a, ctx)?,
                });
            }
            row.extend(g.sample);
            out.push(row);
        }
        Ok(())
    }

    /// Hash aggregation over a table scan read by several threads, as
    /// PostgreSQL's parallel aggregation (partial aggregates under a
    /// Gather, then finalized): each thread aggregates the rows of its key
    /// range of the table (`BTree::split_keys`), and the groups are merged
    /// in key-range order, so they come out in the order a serial pass
    /// first meets them and collecting aggregates (`string_agg` without
    /// ORDER BY) see rows in scan order. `None` (the caller aggregates
    /// serially) when parallelism is off or the table small, when a node
    /// or expression under the aggregation could not run on another
    /// thread alone (subqueries, outer references, catalog functions,
    /// CTEs and other nodes that run whole, right and full joins, whose
    /// unmatched build rows each part would emit), when a partial state cannot be merged exactly (float sums
    /// and averages: adding in another order changes the last bits), or
    /// when a part outgrows its share of `work_mem` (a spilling
    /// aggregation runs serially).
    fn parallel_aggregate(
        &self,
        input: &Plan,
        group_by: &[Expr],
        aggs: &[AggCall],
        ctx: &EvalCtx<'_>,
    ) -> Result<Option<Vec<Row>>, SqlError> {
        if self.workers == 0 || self.part.is_some() {
            return Ok(None);
        }
        if !group_by.iter().all(parallel_safe) || !aggs.iter().all(mergeable) {
            return Ok(None);
        }
        let Some(scan) = driving_scan(input) else {
            return Ok(None);
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parts = (self.workers + 1).min(cores);
        let budget = self.mem.limit_bytes() / parts;
        if parts < 2 || budget < spill::WORK_MEM_MIN_BYTES {
            return Ok(None);
        }
        // Cut the keys the scan will read: the table's, or an index
        // range's unless it covers so much of the index that it reads the
        // table (the same choice `read_range` makes).
        let (of, range) = match &scan.access {
            Access::Full => (PartOf::Table, KeyRange::all()),
            Access::Index { id, .. } => {
                let Some((lo, hi)) = scan_bounds(scan, &[], &self.ctx(ctx))? else {
                    return Ok(None);
                };
                if self.widens(scan, &lo, &hi, true)? {
                    (PartOf::Table, KeyRange::all())
                } else {
                    let range =
                        KeyRange::of(as_ref(&lo), as_ref(&hi)).map_err(SqlError::from_engine)?;
                    (PartOf::Index(*id), range)
                }
            }
            Access::Pk { .. } => return Ok(None),
        };
        let index = match of {
            PartOf::Table => None,
            PartOf::Index(id) => Some(id),
        };
        let cuts = self
            .tx
            .split_keys(scan.table.id, index, &range, parts)
            .map_err(SqlError::from_engine)?;
        if cuts.is_empty() {
            return Ok(None);
        }
        let ranges = range.parts(&cuts);
        let n = ranges.len();
        let (tx, stmt, cancel, deadline) = (self.tx, self.stmt, self.cancel, self.deadline);
        let (params, catalog, text, now) = (ctx.params, ctx.catalog, ctx.text, ctx.now);
        let (database, user) = (ctx.database, ctx.user);
        let scan_addr = scan as *const Scan as usize;
        // Pages missing from the cache are read from storage through the
        // runtime this statement runs under; the other threads enter it too.
        let runtime = tokio::runtime::Handle::try_current().ok();
        type Partial = (Option<Groups>, spill::SpillReport);
        let run_part = |index: usize, range: KeyRange| -> Result<Partial, SqlError> {
            let _runtime = runtime.as_ref().map(|h| h.enter());
            let mut exec = Exec::new(tx, stmt, cancel, deadline).with_work_mem(budget);
            exec.part = Some(ScanPart {
                scan: scan_addr,
                index,
                of,
                range,
            });
            let base = EvalCtx {
                params,
                outer: &[],
                sub: None,
                catalog,
                text,
                now,
                database,
                user,
            };
            let ctx = exec.ctx(&base);
            let mut groups = Groups::default();
            let mut stopped = false;
            exec.accumulate(
                &mut |f| exec.visit(input, &ctx, f),
                group_by,
                aggs,
                &ctx,
                &mut groups,
                Overflow::Stop(&mut stopped),
            )?;
            Ok(((!stopped).then_some(groups), exec.mem.report()))
        };
        let run_part = &run_part;
        let results: Vec<Result<Partial, SqlError>> = std::thread::scope(|s| {
            let mut ranges = ranges.into_iter().enumerate();
            let (_, first) = ranges.next().expect("two parts at least");
            let others: Vec<_> = ranges
                .map(|(i, range)| s.spawn(move || run_part(i, range)))
                .collect();
            let mut results = vec![run_part(0, first)];
            for h in others {
                results.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
            results
        });
        let mut merged: Option<Groups> = None;
        let mut held = 0;
        for r in results {
            let (groups, report) = r?;
            let Some(groups) = groups else {
                return Ok(None);
            };
            held += groups.held_bytes;
            self.mem.absorb(report, held as u64);
            match &mut merged {
                None => merged = Some(groups),
                Some(m) => m.merge(groups, aggs)?,
            }
        }
        self.mem.parallel_aggregate(n);
        let mut out = Vec::new();
        self.finish_groups(merged.expect("two parts at least"), aggs, ctx, &mut out)?;
        empty_aggregate(&mut out, group_by, aggs, ctx)?;
        Ok(Some(out))
    }

    /// Hash join of the rows `left` streams with those `right` streams
    /// (the build side), each joined row going to `emit` until it answers
    /// `false`; returns whether it never did. The build side is held up
    /// to `work_mem`; past it both sides are partitioned by key hash (a
    /// grace hash join) and each pair of partitions joined in turn, one
    /// spill level down. The probe side and the output are never held.
    fn hash_join(
        &self,
        j: &HashJoinSpec<'_>,
        level: u32,
        right: Feed<'_>,
        left: Feed<'_>,
        ctx: &EvalCtx<'_>,
        emit: &mut dyn FnMut(Row) -> Result<bool, SqlError>,
    ) -> Result<bool, SqlError> {
        let outer_left = matches!(j.kind, JoinKind::Left | JoinKind::Full);
        let outer_right = matches!(j.kind, JoinKind::Right | JoinKind::Full);
        let mut r: Vec<Row> = Vec::new();
        let mut r_keys: Vec<Option<Vec<u8>>> = Vec::new();
        let mut held_bytes = 0usize;
        let mut parts: Option<Partitions> = None;
        let mut open = true;
        right(&mut |b| {
            self.tick()?;
            let key = hash_key(j.right_keys, &b, ctx)?;
            if let Some(p) = &mut parts {
                match key {
                    Some(k) => p.push(&k, &b)?,
                    // A NULL key matches nothing.
                    None if outer_right => open = emit(pad_left(b, j.left_width))?,
                    None => {}
                }
                return Ok(open);
            }
            held_bytes += row_bytes(&b) + key.as_ref().map_or(0, |k| 2 * k.len());
            r.push(b);
            r_keys.push(key);
            self.mem.held(held_bytes);
            if held_bytes > self.mem.limit_bytes() && level < spill::SPILL_DEPTH_MAX {
                let mut p = Partitions::new(level);
                for (b, key) in r.drain(..).zip(r_keys.drain(..)) {
                    self.tick()?;
                    match key {
                        Some(k) => p.push(&k, &b)?,
                        None if outer_right && open => open = emit(pad_left(b, j.left_width))?,
                        None => {}
                    }
                }
                parts = Some(p);
            }
            Ok(open)
        })?;
        if !open {
            return Ok(false);
        }
        let Some(parts) = parts else {
            return self.hash_join_in_memory(j, r, &r_keys, left, ctx, emit);
        };
        let (right_parts, written) = parts.finish()?;
        let mut left_parts = Partitions::new(level);
        left(&mut |a| {
            self.tick()?;
            match hash_key(j.left_keys, &a, ctx)? {
                Some(k) if right_parts[spill::partition_of(&k, level)].is_some() => {
                    left_parts.push(&k, &a)?
                }
                // No build row can match: NULL key, or an empty partition.
                _ if outer_left => open = emit(pad(a, j.right_width))?,
                _ => {}
            }
            Ok(open)
        })?;
        if !open {
            return Ok(false);
        }
        let (left_parts, left_written) = left_parts.finish()?;
        let files = right_parts.iter().chain(&left_parts).flatten().count();
        self.mem.join_spilled(files, written + left_written);
        for (rp, lp) in right_parts.into_iter().zip(left_parts) {
            let Some(mut rp) = rp else { continue };
            let mut lp = lp;
            let more = self.hash_join(
                j,
                level + 1,
                &mut |f| rp.for_each(f),
                &mut |f| match &mut lp {
                    Some(lp) => lp.for_each(f),
                    None => Ok(()),
                },
                ctx,
                emit,
            )?;
            if !more {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The in-memory hash join: `r` is the whole build side, with its keys.
    fn hash_join_in_memory(
        &self,
        j: &HashJoinSpec<'_>,
        r: Vec<Row>,
        r_keys: &[Option<Vec<u8>>],
        left: Feed<'_>,
        ctx: &EvalCtx<'_>,
        emit: &mut dyn FnMut(Row) -> Result<bool, SqlError>,
    ) -> Result<bool, SqlError> {
        let mut table: FastMap<&[u8], Vec<usize>> = FastMap::default();
        for (i, k) in r_keys.iter().enumerate() {
            if let Some(k) = k {
                table.entry(k.as_slice()).or_default().push(i);
            }
        }
        let mut right_matched = vec![false; r.len()];
        let mut open = true;
        left(&mut |a| {
            self.tick()?;
            let mut matched = false;
            if let Some(k) = hash_key(j.left_keys, &a, ctx)? {
                if let Some(hits) = table.get(k.as_slice()) {
                    for &i in hits {
                        let mut row = Vec::with_capacity(a.len() + r[i].len());
                        row.extend(a.iter().cloned());
                        row.extend(r[i].iter().cloned());
                        let keep = match j.on {
                            Some(p) => matches!(eval(p, &row, ctx)?, Datum::Bool(true)),
                            None => true,
                        };
                        if keep {
                            matched = true;
                            right_matched[i] = true;
                            if !emit(row)? {
                                open = false;
                                return Ok(false);
                            }
                        }
                    }
                }
            }
            if !matched && matches!(j.kind, JoinKind::Left | JoinKind::Full) {
                open = emit(pad(a, j.right_width))?;
            }
            Ok(open)
        })?;
        if !open {
            return Ok(false);
        }
        unmatched_right(j.kind, r, &right_matched, j.left_width, emit)
    }
}

/// A stream of rows: calls its argument on each row until it answers
/// `false`.
type Feed<'f> =
    &'f mut dyn FnMut(&mut dyn FnMut(Row) -> Result<bool, SqlError>) -> Result<(), SqlError>;

/// The key-value bounds of a primary-key or index scan, evaluated over
/// `outer`; `None` when a bound is NULL, which matches nothing
/// (comparisons with NULL are never true). A list's part holds a
/// placeholder, filled in per point.
#[allow(clippy::type_complexity)]
fn scan_bounds(
    scan: &Scan,
    outer: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Option<(Bound<Vec<Datum>>, Bound<Vec<Datum>>)>, SqlError> {
    let (lo, hi, lists) = match &scan.access {
        Access::Full => return Ok(Some((Bound::Unbounded, Bound::Unbounded))),
        Access::Pk { lo, hi, lists } | Access::Index { lo, hi, lists, .. } => (lo, hi, lists),
    };
    let slot = |i: usize| lists.iter().any(|l| l.part == i);
    let bound = |b: &Bound<Vec<Expr>>| -> Result<Option<Bound<Vec<Datum>>>, SqlError> {
        Ok(Some(match b {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(v) | Bound::Excluded(v) => {
                let vals = v
                    .iter()
                    .map(|e| eval(e, outer, ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                if vals
                    .iter()
                    .enumerate()
                    .any(|(i, d)| d.is_null() && !slot(i))
                {
                    return Ok(None);
                }
                if matches!(b, Bound::Included(_)) {
                    Bound::Included(vals)
                } else {
                    Bound::Excluded(vals)
                }
            }
        }))
    };
    Ok(match (bound(lo)?, bound(hi)?) {
        (Some(lo), Some(hi)) => Some((lo, hi)),
        _ => None,
    })
}

/// One group of a hash aggregation.
struct Group {
    keys: Vec<Datum>,
    states: Vec<AggState>,
    /// The group's first input row (read by grouped column references).
    sample: Row,
}

/// A hash aggregation's groups, in the order their first rows came.
#[derive(Default)]
struct Groups {
    list: Vec<Group>,
    /// Group key encoding → position in `list`.
    index: FastMap<Vec<u8>, usize>,
    /// Estimated bytes held.
    held_bytes: usize,
}

impl Groups {
    /// Adds the groups of `later`, aggregated from rows that come after
    /// this one's in scan order: a group both hold merges its states,
    /// others are appended in their order.
    fn merge(&mut self, later: Groups, aggs: &[AggCall]) -> Result<(), SqlError> {
        let mut k = Vec::new();
        for g in later.list {
            k.clear();
            group_key_into(&g.keys, &mut k);
            match self.index.get(k.as_slice()) {
                Some(&i) => {
                    let states = self.list[i].states.iter_mut();
                    for ((a, st), other) in aggs.iter().zip(states).zip(g.states) {
                        st.merge(a, other)?;
                    }
                }
                None => {
                    self.index.insert(k.clone(), self.list.len());
                    self.list.push(g);
                }
            }
        }
        self.held_bytes += later.held_bytes;
        Ok(())
    }
}

/// Where a hash aggregation sends the rows of groups it has no room for.
enum Overflow<'s> {
    /// To partition files of spill level `level`, aggregated later.
    Spill {
        level: u32,
        parts: &'s mut Option<Partitions>,
    },
    /// Nowhere: it stops reading and says so (a parallel part, whose
    /// aggregation then runs serially).
    Stop(&'s mut bool),
}

/// No groups and no GROUP BY: one row of empty aggregates.
fn empty_aggregate(
    out: &mut Vec<Row>,
    group_by: &[Expr],
    aggs: &[AggCall],
    ctx: &EvalCtx<'_>,
) -> Result<(), SqlError> {
    if out.is_empty() && group_by.is_empty() {
        let mut row = Vec::with_capacity(aggs.len());
        for a in aggs {
            row.push(AggState::new(a).finish(a, ctx)?);
        }
        out.push(row);
    }
    Ok(())
}

/// Whether `e` can be evaluated by a parallel worker, which has no
/// enclosing rows, no subquery runner of the statement and reads no
/// catalog: no subqueries, outer references or catalog functions.
fn parallel_safe(e: &Expr) -> bool {
    let mut safe = true;
    plan::visit(e, &mut |e| {
        if matches!(
            e,
            Expr::Subquery { .. } | Expr::Outer { .. } | Expr::CatalogCall(..)
        ) {
            safe = false;
        }
    });
    safe
}

/// Whether an aggregate's partial states merge into exactly the state one
/// pass would reach.
fn mergeable(a: &AggCall) -> bool {
    a.filter.as_ref().is_none_or(parallel_safe)
        && a.args.iter().all(parallel_safe)
        && a.order_by.iter().all(|k| parallel_safe(&k.expr))
        && !matches!(
            AggState::new(a),
            AggState::SumFloat(..) | AggState::AvgFloat(..)
        )
}

/// Whether a scan can run in a parallel worker.
fn scan_safe(scan: &Scan) -> bool {
    let bound = |b: &Bound<Vec<Expr>>| match b {
        Bound::Included(v) | Bound::Excluded(v) => v.iter().all(parallel_safe),
        Bound::Unbounded => true,
    };
    let access = match &scan.access {
        Access::Full => true,
        Access::Pk { lo, hi, lists } | Access::Index { lo, hi, lists, .. } => {
            bound(lo)
                && bound(hi)
                && lists.iter().all(|l| match &l.values {
                    ListValues::Items(items) => items.iter().all(parallel_safe),
                    ListValues::Array(e) => parallel_safe(e),
                })
        }
    };
    access && scan.filter.as_ref().is_none_or(parallel_safe)
}

/// Whether every node and expression of `plan` can run whole in a
/// parallel worker (the build side of a hash join, which each part builds).
fn parallel_plan(plan: &Plan) -> bool {
    match plan {
        Plan::Scan(scan) => scan_safe(scan),
        Plan::Filter { input, pred, .. } => parallel_safe(pred) && parallel_plan(input),
        Plan::Project { input, exprs } => exprs.iter().all(parallel_safe) && parallel_plan(input),
        Plan::HashJoin {
            left,
            right,
            left_keys,
            right_keys,
            on,
            ..
        } => {
            left_keys.iter().chain(right_keys).all(parallel_safe)
                && on.as_ref().is_none_or(parallel_safe)
                && parallel_plan(left)
                && parallel_plan(right)
        }
        Plan::IndexJoin { left, scan, on, .. } => {
            scan_safe(scan) && on.as_ref().is_none_or(parallel_safe) && parallel_plan(left)
        }
        _ => false,
    }
}

/// The table scan a parallel aggregation over `plan` splits: the one that
/// feeds every row, down the outer side of inner and left joins. Each part
/// runs the rest of the plan whole (a hash join's build side is built by
/// each part, as in a PostgreSQL parallel hash join without a shared
/// table).
fn driving_scan(plan: &Plan) -> Option<&Scan> {
    match plan {
        // A full scan, or an index range (cut by the index's keys, or by
        // the table's when it covers so much of the index that it reads
        // the table; see `Exec::widens`); not a primary-key range, nor
        // ranges per list value or in key order.
        Plan::Scan(scan) => {
            let whole = match &scan.access {
                Access::Full => true,
                Access::Index { lists, .. } => lists.is_empty() && scan.order.is_none(),
                _ => false,
            };
            (whole && scan_safe(scan)).then_some(scan)
        }
        Plan::Filter { input, pred, .. } if parallel_safe(pred) => driving_scan(input),
        Plan::Project { input, exprs } if exprs.iter().all(parallel_safe) => driving_scan(input),
        Plan::HashJoin {
            kind: JoinKind::Inner | JoinKind::Left,
            left,
            right,
            left_keys,
            right_keys,
            on,
            ..
        } if left_keys.iter().chain(right_keys).all(parallel_safe)
            && on.as_ref().is_none_or(parallel_safe)
            && parallel_plan(right) =>
        {
            driving_scan(left)
        }
        Plan::IndexJoin {
            kind: JoinKind::Inner | JoinKind::Left,
            left,
            scan,
            on,
            ..
        } if scan_safe(scan) && on.as_ref().is_none_or(parallel_safe) => driving_scan(left),
        _ => None,
    }
}

/// What a hash join joins on.
struct HashJoinSpec<'p> {
    kind: JoinKind,
    left_keys: &'p [Expr],
    right_keys: &'p [Expr],
    on: Option<&'p Expr>,
    left_width: usize,
    right_width: usize,
}

impl SubqueryRunner for Exec<'_> {
    fn check_interrupts(&self) -> Result<(), SqlError> {
        self.check()
    }

    fn run_subquery(
        &self,
        sub: &SubPlan,
        row: &[Datum],
        ctx: &EvalCtx<'_>,
    ) -> Result<Rc<Vec<Row>>, SqlError> {
        let key = sub as *const SubPlan;
        if !sub.correlated {
            if let Some(r) = self.subqueries.borrow().get(&key) {
                return Ok(r.clone());
            }
        }
        let mut outer: Vec<&[Datum]> = ctx.outer.to_vec();
        outer.push(row);
        let inner = EvalCtx {
            outer: &outer,
            ..*ctx
        };
        let rows = Rc::new(self.run(&sub.query.root, &inner)?);
        if !sub.correlated {
            self.subqueries.borrow_mut().insert(key, rows.clone());
        }
        Ok(rows)
    }
}

/// For RIGHT and FULL joins: inner rows no outer row matched, padded on
/// the left with NULLs, to `emit` until it answers `false`; returns
/// whether it never did.
fn unmatched_right(
    kind: JoinKind,
    r: Vec<Row>,
    matched: &[bool],
    left_width: usize,
    emit: &mut dyn FnMut(Row) -> Result<bool, SqlError>,
) -> Result<bool, SqlError> {
    if !matches!(kind, JoinKind::Right | JoinKind::Full) {
        return Ok(true);
    }
    for (b, m) in r.into_iter().zip(matched) {
        if !m && !emit(pad_left(b, left_width))? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn pad(mut row: Row, n: usize) -> Row {
    row.extend(std::iter::repeat_n(Datum::Null, n));
    row
}

/// `row` after `n` NULLs (an unmatched inner row of a right join).
fn pad_left(row: Row, n: usize) -> Row {
    let mut out: Row = vec![Datum::Null; n];
    out.extend(row);
    out
}

fn as_ref<T>(b: &Bound<Vec<T>>) -> Bound<&[T]> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
    }
}

/// A byte key equal for values PostgreSQL's equality calls equal.
pub fn group_key(vals: &[Datum]) -> Vec<u8> {
    let mut out = Vec::new();
    group_key_into(vals, &mut out);
    out
}

/// [`group_key`], appended to `out` (a buffer reused row after row).
pub fn group_key_into(vals: &[Datum], out: &mut Vec<u8>) {
    for v in vals {
        if let Datum::Record(fields) = v {
            // Field by field, so that equal fields group as they do alone.
            out.push(0xFD);
            out.extend_from_slice(&(fields.len() as u64).to_be_bytes());
            for f in fields.iter() {
                let key = group_key(std::slice::from_ref(f));
                out.extend_from_slice(&(key.len() as u64).to_be_bytes());
                out.extend_from_slice(&key);
            }
            continue;
        }
        let widened = match v {
            Datum::Int2(i) => Datum::Int8(i64::from(*i)),
            Datum::Int4(i) => Datum::Int8(i64::from(*i)),
            Datum::Oid(i) => Datum::Int8(i64::from(*i)),
            _ => Datum::Null,
        };
        let one = std::slice::from_ref(if widened.is_null() { v } else { &widened });
        if crate::keycode::encode_key(one, out).is_err() {
            out.push(0xFE);
            let _ = crate::datum::encode_row(one, out);
        }
    }
}

/// A join key, or `None` when a part is NULL (never equal).
fn hash_key(keys: &[Expr], row: &[Datum], ctx: &EvalCtx<'_>) -> Result<Option<Vec<u8>>, SqlError> {
    // Key by key into one buffer (the same bytes `group_key` gives the
    // values together), columns read in place.
    let mut out = Vec::new();
    for e in keys {
        let v = expr::eval_ref(e, row, ctx)?;
        if v.is_null() {
            return Ok(None);
        }
        group_key_into(std::slice::from_ref(&*v), &mut out);
    }
    Ok(Some(out))
}

/// Compares two values for sorting, NULLs placed as asked.
pub(crate) fn cmp_sort(
    a: &Datum,
    b: &Datum,
    asc: bool,
    nulls_first: bool,
) -> Result<Ordering, SqlError> {
    Ok(match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => {
            if nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (false, true) => {
            if nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (false, false) => {
            let o = compare(a, b)?;
            if asc {
                o
            } else {
                o.reverse()
            }
        }
    })
}

/// Sorts rows by keys (stable, as PostgreSQL's output for equal keys is
/// unspecified anyway).
pub fn sort_rows(
    rows: Vec<Row>,
    keys: &[SortKey],
    ctx: &EvalCtx<'_>,
) -> Result<Vec<Row>, SqlError> {
    let mut keyed: Vec<(Vec<Datum>, Row)> = Vec::with_capacity(rows.len());
    for r in rows {
        let k = keys
            .iter()
            .map(|k| eval(&k.expr, &r, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        keyed.push((k, r));
    }
    sort_by_keys(&mut keyed, keys, |(k, _)| k)?;
    Ok(keyed.into_iter().map(|(_, r)| r).collect())
}

/// Sorts `items` (stably) by the key values `key_of` gives each, in
/// `keys`' directions; the first comparison error is returned.
fn sort_by_keys<T>(
    items: &mut [T],
    keys: &[SortKey],
    key_of: impl Fn(&T) -> &[Datum],
) -> Result<(), SqlError> {
    let mut err = None;
    items.sort_by(|a, b| {
        let (a, b) = (key_of(a), key_of(b));
        for (i, k) in keys.iter().enumerate() {
            match cmp_sort(&a[i], &b[i], k.asc, k.nulls_first) {
                Ok(Ordering::Equal) => continue,
                Ok(o) => return o,
                Err(e) => {
                    err.get_or_insert(e);
                    return Ordering::Equal;
                }
            }
        }
        Ordering::Equal
    });
    err.map_or(Ok(()), Err)
}

fn set_op(op: SetOpKind, all: bool, l: Vec<Row>, r: Vec<Row>) -> Vec<Row> {
    match (op, all) {
        (SetOpKind::Union, true) => {
            let mut out = l;
            out.extend(r);
            out
        }
        (SetOpKind::Union, false) => {
            let mut seen = std::collections::HashSet::new();
            l.into_iter()
                .chain(r)
                .filter(|row| seen.insert(group_key(row)))
                .collect()
        }
        (SetOpKind::Intersect | SetOpKind::Except, _) => {
            let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
            for row in &r {
                *counts.entry(group_key(row)).or_default() += 1;
            }
            let mut emitted = std::collections::HashSet::new();
            let mut out = Vec::new();
            for row in l {
                let k = group_key(&row);
                let present = counts.get(&k).copied().unwrap_or(0) > 0;
                let keep = match op {
                    SetOpKind::Intersect => present,
                    _ => !present,
                };
                if all {
                    if op == SetOpKind::Intersect && present {
                        *counts.get_mut(&k).expect("present") -= 1;
                        out.push(row);
                    } else if op == SetOpKind::Except {
                        if present {
                            *counts.get_mut(&k).expect("present") -= 1;
                        } else {
                            out.push(row);
                        }
                    }
                } else if keep && emitted.insert(k) {
                    out.push(row);
                }
            }
            out
        }
    }
}

/// The rows a set-returning function yields.
fn srf_rows(func: SrfFunc, args: &[Datum], exec: &Exec<'_>) -> Result<Vec<Row>, SqlError> {
    if args.iter().any(Datum::is_null) {
        return Ok(Vec::new());
    }
    let json = |d: &Datum| -> Result<Jsonb, SqlError> {
        match d {
            Datum::Jsonb(b) => Jsonb::from_bytes(b.clone()).map_err(json_err),
            Datum::Text(s) | Datum::Json(s) => Jsonb::parse(s).map_err(json_err),
            other => Err(SqlError::new(
                code::DATATYPE_MISMATCH,
                format!("expected jsonb, got {other:?}"),
            )),
        }
    };
    let mut out = Vec::new();
    match func {
        SrfFunc::ReplicaStatus => {
            let rows = exec
                .status
                .as_ref()
                .map(|s| s.replica_status())
                .unwrap_or_default();
            let lsn = |l: sextant_storage::types::Lsn| Datum::Int8(l.0 as i64);
            for r in rows {
                out.push(vec![
                    Datum::Text(r.server_id),
                    Datum::Text(r.role.to_string()),
                    Datum::Bool(r.connected),
                    lsn(r.durable_lsn),
                    lsn(r.read_lsn),
                    lsn(r.oldest_snapshot_lsn),
                    Datum::Int8(r.lag_lsn as i64),
                    Datum::Int8(r.lag_ms as i64),
                ]);
            }
        }
        SrfFunc::GenerateSeries => {
            let step = args.get(2).cloned();
            generate_series(&args[0], &args[1], step, exec, &mut out)?;
        }
        SrfFunc::JsonbArrayElements => {
            let j = json(&args[0])?;
            for item in j.view().array_elements().map_err(json_err)? {
                exec.tick()?;
                out.push(vec![Datum::Jsonb(
                    item.to_jsonb().map_err(json_err)?.into_bytes(),
                )]);
            }
        }
        SrfFunc::JsonbArrayElementsText => {
            let j = json(&args[0])?;
            for item in j.view().array_elements_text().map_err(json_err)? {
                out.push(vec![item.map_or(Datum::Null, Datum::Text)]);
            }
        }
        SrfFunc::Unnest => {
            if let Datum::Array(a) = &args[0] {
                for item in a.items() {
                    exec.tick()?;
                    out.push(vec![item.clone()]);
                }
            }
        }
        SrfFunc::PgExpandArray => {
            // `SELECT $1[s], s - array_lower($1, 1) + 1 FROM
            // generate_series(array_lower($1, 1), array_upper($1, 1)) s`.
            if let Datum::Array(a) = &args[0] {
                for (i, item) in a.items().iter().enumerate() {
                    exec.tick()?;
                    let n = i32::try_from(i + 1).expect("arrays are bounded");
                    out.push(vec![item.clone(), Datum::Int4(n)]);
                }
            }
        }
        SrfFunc::GenerateSubscripts => {
            // One dimension: its subscripts, or none for any other
            // dimension (as PostgreSQL answers for a missing one).
            let reverse = matches!(args.get(2), Some(Datum::Bool(true)));
            let dim = match &args[1] {
                Datum::Int2(d) => i32::from(*d),
                Datum::Int4(d) => *d,
                other => unreachable!("generate_subscripts dimension {other:?}"),
            };
            if let (Datum::Array(a), 1) = (&args[0], dim) {
                let lo = a.lower_bound();
                let mut subscripts: Vec<i32> = (0..a.len())
                    .map(|i| lo + i32::try_from(i).expect("arrays are bounded"))
                    .collect();
                if reverse {
                    subscripts.reverse();
                }
                out.extend(subscripts.into_iter().map(|s| vec![Datum::Int4(s)]));
            }
        }
        SrfFunc::JsonbObjectKeys => {
            let j = json(&args[0])?;
            for k in j.view().object_keys().map_err(json_err)? {
                out.push(vec![Datum::Text(k.to_string())]);
            }
        }
        SrfFunc::JsonbEach => {
            let j = json(&args[0])?;
            for (k, v) in j.view().each().map_err(json_err)? {
                exec.tick()?;
                out.push(vec![
                    Datum::Text(k.to_string()),
                    Datum::Jsonb(v.to_jsonb().map_err(json_err)?.into_bytes()),
                ]);
            }
        }
        SrfFunc::JsonbEachText => {
            let j = json(&args[0])?;
            for (k, v) in j.view().each_text().map_err(json_err)? {
                out.push(vec![
                    Datum::Text(k.to_string()),
                    v.map_or(Datum::Null, Datum::Text),
                ]);
            }
        }
    }
    Ok(out)
}

/// The most rows one generate_series call may produce.
const SERIES_MAX: usize = 100_000_000;

/// `e` with each constant part evaluated: a subtree of literals and
/// parameters under casts, coercions, operators and builtin functions
/// (`timestamptz '…' - interval '1 hour'`, an operator the library
/// implements), which the planner keeps as written, becomes its value, so
/// a scan's filter does not compute the same bound again for every row.
/// Stable builtins fold too, as PostgreSQL evaluates them once for an index
/// scan's keys: their answer cannot change within the statement. Volatile
/// ones (`random()`, `clock_timestamp()`) and other calls are left alone,
/// and so is a part whose evaluation fails: it fails, or not, as it would
/// have per row. Returns `e` itself when nothing folds.
fn fold_constants<'e>(e: &'e Expr, ctx: &EvalCtx<'_>) -> std::borrow::Cow<'e, Expr> {
    fn constant(e: &Expr) -> bool {
        let mut yes = true;
        crate::sql::plan::visit(e, &mut |x| {
            yes &= match x {
                Expr::Literal(..)
                | Expr::Param(..)
                | Expr::Coerce(..)
                | Expr::Cast(..)
                | Expr::Neg(..)
                | Expr::Binary(..) => true,
                Expr::Builtin(f, _, _) => !crate::sql::func::is_volatile_in_statement(*f),
                _ => false,
            }
        });
        yes
    }
    let foldable = |x: &Expr| !matches!(x, Expr::Literal(..)) && constant(x);
    let mut any = false;
    crate::sql::plan::visit(e, &mut |x| any |= foldable(x));
    if !any {
        return std::borrow::Cow::Borrowed(e);
    }
    let folded = crate::sql::plan::rewrite(e.clone(), &mut |x| {
        Ok(if foldable(x) {
            eval(x, &[], ctx).ok().map(|d| Expr::Literal(d, x.ty()))
        } else {
            None
        })
    });
    match folded {
        Ok(f) => std::borrow::Cow::Owned(f),
        Err(_) => std::borrow::Cow::Borrowed(e),
    }
}

/// An index range estimated to hold more than this share of the index is
/// read as a full scan instead. A row costs a B+tree descent through the
/// index but only its share of a leaf in a full scan, several times less
/// even with every page cached (and far less when pages must be fetched
/// from storage, as on a reader with a cold pool).
const WIDE_INDEX_RANGE: f64 = 0.2;

/// Most points (combinations of list values) a scan over key lists reads
/// one by one; past this (a product of long lists) it reads the key range
/// the lists lie in once and filters it, rather than hold the points.
const KEY_LIST_POINTS_MAX: usize = 100_000;

fn generate_series(
    start: &Datum,
    stop: &Datum,
    step: Option<Datum>,
    exec: &Exec<'_>,
    out: &mut Vec<Row>,
) -> Result<(), SqlError> {
    let too_many = || {
        SqlError::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            format!("generate_series would return more than {SERIES_MAX} rows"),
        )
    };
    let zero_step = || SqlError::new(code::INVALID_PARAMETER_VALUE, "step size cannot equal zero");
    match (start, stop) {
        (Datum::Int4(_) | Datum::Int8(_), _) => {
            let int = |d: &Datum| match d {
                Datum::Int4(v) => i64::from(*v),
                Datum::Int8(v) => *v,
                Datum::Int2(v) => i64::from(*v),
                _ => 0,
            };
            let (a, b) = (int(start), int(stop));
            let s = step.as_ref().map_or(1, int);
            if s == 0 {
                return Err(zero_step());
            }
            let is4 = matches!(start, Datum::Int4(_));
            let mut v = a;
            while (s > 0 && v <= b) || (s < 0 && v >= b) {
                exec.tick()?;
                if out.len() >= SERIES_MAX {
                    return Err(too_many());
                }
                out.push(vec![if is4 {
                    Datum::Int4(v as i32)
                } else {
                    Datum::Int8(v)
                }]);
                match v.checked_add(s) {
                    Some(n) => v = n,
                    None => break,
                }
            }
        }
        (Datum::Numeric(a), Datum::Numeric(b)) => {
            let s = match step {
                Some(Datum::Numeric(n)) => n,
                _ => Numeric::from(1i64),
            };
            let zero = Numeric::zero();
            if s == zero {
                return Err(zero_step());
            }
            let up = s > zero;
            let mut v = a.clone();
            while (up && v <= *b) || (!up && v >= *b) {
                exec.tick()?;
                if out.len() >= SERIES_MAX {
                    return Err(too_many());
                }
                out.push(vec![Datum::Numeric(v.clone())]);
                v = numeric_add(&v, &s)?;
            }
        }
        (Datum::Timestamp(a), Datum::Timestamp(b))
        | (Datum::TimestampTz(a), Datum::TimestampTz(b)) => {
            let Some(Datum::Interval {
                months,
                days,
                micros,
            }) = step
            else {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    "generate_series over timestamps needs an interval step",
                ));
            };
            if months == 0 && days == 0 && micros == 0 {
                return Err(zero_step());
            }
            let tz = matches!(start, Datum::TimestampTz(_));
            let mut k: i64 = 0;
            loop {
                exec.tick()?;
                let v = add_interval(
                    *a,
                    months as i64 * k,
                    days as i64 * k,
                    micros.saturating_mul(k),
                )
                .ok_or_else(|| {
                    SqlError::new(code::DATETIME_FIELD_OVERFLOW, "timestamp out of range")
                })?;
                let span =
                    (months as i64) * 30 * 86_400_000_000 + (days as i64) * 86_400_000_000 + micros;
                if (span > 0 && v > *b) || (span < 0 && v < *b) {
                    break;
                }
                if out.len() >= SERIES_MAX {
                    return Err(too_many());
                }
                out.push(vec![if tz {
                    Datum::TimestampTz(v)
                } else {
                    Datum::Timestamp(v)
                }]);
                k += 1;
            }
        }
        (a, b) => {
            return Err(SqlError::unsupported(format!(
                "generate_series({:?}, {:?})",
                a.data_type(),
                b.data_type()
            )))
        }
    }
    Ok(())
}

/// `ts + months + days + micros` in UTC calendar terms (µs since 2000-01-01).
fn add_interval(ts: i64, months: i64, days: i64, micros: i64) -> Option<i64> {
    const DAY: i64 = 86_400_000_000;
    let day = ts.div_euclid(DAY);
    let time = ts.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(day + 10_957);
    let total = y * 12 + (m - 1) + months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let dim = days_in_month(ny, nm);
    let nd = d.min(dim);
    let nday = days_from_civil(ny, nm, nd) - 10_957 + days;
    nday.checked_mul(DAY)?
        .checked_add(time)?
        .checked_add(micros)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn json_err(e: crate::jsonb::JsonbError) -> SqlError {
    let mut s = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(d) = e.detail() {
        s = s.with_detail(d);
    }
    s
}

fn numeric_add(a: &Numeric, b: &Numeric) -> Result<Numeric, SqlError> {
    crate::sql::func::numeric_arith(crate::sql::func::NumericOp::Add, a, b)
}

/// One aggregate's running state (cloned to read a running aggregate's
/// value mid-way, in window frames).
#[derive(Clone)]
pub(crate) enum AggState {
    Count(i64),
    SumInt(i128, bool),
    SumFloat(f64, bool),
    SumNumeric(Option<Numeric>),
    AvgInt(i128, i64),
    AvgFloat(f64, i64),
    AvgNumeric(Option<Numeric>, i64),
    MinMax(Option<Datum>),
    Bool(Option<bool>),
    /// Values kept for ORDER BY inside the call, or for aggregates that
    /// build a value from all inputs.
    Collect(Vec<(Vec<Datum>, Vec<Datum>)>),
    /// [`AggState::Collect`] for DISTINCT: each distinct argument list
    /// kept once, as it arrives (the set holds their group keys), so
    /// `count(DISTINCT x)` over a million rows holds the distinct values,
    /// not the rows.
    CollectDistinct(FastSet<Vec<u8>>, Vec<(Vec<Datum>, Vec<Datum>)>),
    /// An ordered-set aggregate: its direct arguments (read from the first
    /// row: they may only read grouped columns, so every row of the group
    /// has the same) and the non-NULL values of its `WITHIN GROUP` key.
    OrderedSet {
        direct: Option<Vec<Datum>>,
        values: Vec<Datum>,
        sorted: bool,
    },
}

impl AggState {
    pub(crate) fn new(a: &AggCall) -> AggState {
        if crate::sql::ordered_set::is_ordered_set(a.func) {
            return AggState::OrderedSet {
                direct: None,
                values: Vec::new(),
                sorted: false,
            };
        }
        if a.distinct {
            return AggState::CollectDistinct(FastSet::default(), Vec::new());
        }
        if !a.order_by.is_empty()
            || matches!(
                a.func,
                AggFunc::StringAgg
                    | AggFunc::JsonbAgg
                    | AggFunc::JsonbObjectAgg
                    | AggFunc::ArrayAgg
            )
        {
            return AggState::Collect(Vec::new());
        }
        let arg = a.args.first().map(Expr::ty);
        match (a.func, arg) {
            (AggFunc::CountStar | AggFunc::Count, _) => AggState::Count(0),
            (AggFunc::Sum, Some(DataType::Int2 | DataType::Int4 | DataType::Int8)) => {
                AggState::SumInt(0, false)
            }
            (AggFunc::Sum, Some(DataType::Float4 | DataType::Float8)) => {
                AggState::SumFloat(0.0, false)
            }
            (AggFunc::Sum, _) => AggState::SumNumeric(None),
            (AggFunc::Avg, Some(DataType::Int2 | DataType::Int4 | DataType::Int8)) => {
                AggState::AvgInt(0, 0)
            }
            (AggFunc::Avg, Some(DataType::Float4 | DataType::Float8)) => AggState::AvgFloat(0.0, 0),
            (AggFunc::Avg, _) => AggState::AvgNumeric(None, 0),
            (AggFunc::BoolAnd | AggFunc::BoolOr, _) => AggState::Bool(None),
            _ => AggState::MinMax(None),
        }
    }

    /// Whether this state keeps (some of) its inputs, so that memory it
    /// holds grows with the rows added.
    pub(crate) fn collects(&self) -> bool {
        matches!(
            self,
            AggState::Collect(_) | AggState::CollectDistinct(..) | AggState::OrderedSet { .. }
        )
    }

    /// Whether [`AggState::add`] still needs the call's arguments: an
    /// ordered-set aggregate reads its direct arguments from one row.
    pub(crate) fn needs_args(&self) -> bool {
        !matches!(
            self,
            AggState::OrderedSet {
                direct: Some(_),
                ..
            }
        )
    }

    /// Adds one input row's arguments and sort keys; returns whether the
    /// state kept them (a collecting state's memory grew).
    pub(crate) fn add(
        &mut self,
        a: &AggCall,
        args: Vec<Datum>,
        sort: Vec<Datum>,
    ) -> Result<bool, SqlError> {
        if a.func == AggFunc::CountStar {
            if let AggState::Count(n) = self {
                *n += 1;
            }
            return Ok(false);
        }
        if a.func == AggFunc::Grouping {
            return Ok(false);
        }
        // Ordered-set aggregates skip NULL values of the sorted input; a
        // NULL fraction makes the result NULL at the end.
        if let AggState::OrderedSet { direct, values, .. } = self {
            if direct.is_none() {
                *direct = Some(args);
            }
            return Ok(match sort.into_iter().next() {
                Some(v) if !v.is_null() => {
                    values.push(v);
                    true
                }
                _ => false,
            });
        }
        // Aggregates skip NULL inputs, except jsonb_agg which keeps them
        // and jsonb_object_agg whose values may be NULL.
        let keeps_null = matches!(
            a.func,
            AggFunc::JsonbAgg | AggFunc::JsonbObjectAgg | AggFunc::ArrayAgg
        );
        if !keeps_null && args.first().is_none_or(Datum::is_null) {
            return Ok(false);
        }
        if a.func == AggFunc::StringAgg && args[0].is_null() {
            return Ok(false);
        }
        match self {
            AggState::Collect(v) => {
                v.push((args, sort));
                return Ok(true);
            }
            AggState::CollectDistinct(seen, v) => {
                if !seen.insert(group_key(&args)) {
                    return Ok(false);
                }
                v.push((args, sort));
                return Ok(true);
            }
            AggState::OrderedSet { .. } => unreachable!("handled above"),
            AggState::Count(n) => *n += 1,
            AggState::SumInt(s, any) => {
                *s += int_of(&args[0]);
                *any = true;
            }
            AggState::SumFloat(s, any) => {
                *s += float_of(&args[0]);
                *any = true;
            }
            AggState::SumNumeric(s) => {
                let v = numeric_of(&args[0]);
                *s = Some(match s.take() {
                    None => v,
                    Some(cur) => numeric_add(&cur, &v)?,
                });
            }
            AggState::AvgInt(s, n) => {
                *s += int_of(&args[0]);
                *n += 1;
            }
            AggState::AvgFloat(s, n) => {
                *s += float_of(&args[0]);
                *n += 1;
            }
            AggState::AvgNumeric(s, n) => {
                let v = numeric_of(&args[0]);
                *s = Some(match s.take() {
                    None => v,
                    Some(cur) => numeric_add(&cur, &v)?,
                });
                *n += 1;
            }
            AggState::Bool(b) => {
                let v = matches!(args[0], Datum::Bool(true));
                *b = Some(match (*b, a.func) {
                    (None, _) => v,
                    (Some(x), AggFunc::BoolAnd) => x && v,
                    (Some(x), _) => x || v,
                });
            }
            AggState::MinMax(cur) => {
                keep_min_max(a, cur, args.into_iter().next().expect("one argument"))?;
            }
        }
        Ok(false)
    }

    /// Folds in `later`, the state of the same call over rows that come
    /// after this state's in scan order, reaching the state one pass over
    /// all of them would (see [`mergeable`] for the states that can).
    pub(crate) fn merge(&mut self, a: &AggCall, later: AggState) -> Result<(), SqlError> {
        match (self, later) {
            (AggState::Count(n), AggState::Count(m)) => *n += m,
            (AggState::SumInt(s, any), AggState::SumInt(t, more)) => {
                *s += t;
                *any |= more;
            }
            (AggState::AvgInt(s, n), AggState::AvgInt(t, m)) => {
                *s += t;
                *n += m;
            }
            (AggState::SumNumeric(s), AggState::SumNumeric(t)) => {
                if let Some(t) = t {
                    *s = Some(match s.take() {
                        None => t,
                        Some(cur) => numeric_add(&cur, &t)?,
                    });
                }
            }
            (AggState::AvgNumeric(s, n), AggState::AvgNumeric(t, m)) => {
                if let Some(t) = t {
                    *s = Some(match s.take() {
                        None => t,
                        Some(cur) => numeric_add(&cur, &t)?,
                    });
                }
                *n += m;
            }
            (AggState::Bool(b), AggState::Bool(c)) => {
                *b = match (*b, c) {
                    (x, None) => x,
                    (None, y) => y,
                    (Some(x), Some(y)) if a.func == AggFunc::BoolAnd => Some(x && y),
                    (Some(x), Some(y)) => Some(x || y),
                };
            }
            (AggState::MinMax(cur), AggState::MinMax(v)) => {
                if let Some(v) = v {
                    keep_min_max(a, cur, v)?;
                }
            }
            (AggState::Collect(v), AggState::Collect(w)) => v.extend(w),
            (AggState::CollectDistinct(seen, v), AggState::CollectDistinct(_, w)) => {
                for (args, sort) in w {
                    if seen.insert(group_key(&args)) {
                        v.push((args, sort));
                    }
                }
            }
            (
                AggState::OrderedSet {
                    direct,
                    values,
                    sorted,
                },
                AggState::OrderedSet {
                    direct: d,
                    values: w,
                    ..
                },
            ) => {
                if direct.is_none() {
                    *direct = d;
                }
                values.extend(w);
                *sorted = false;
            }
            (AggState::SumFloat(..) | AggState::AvgFloat(..), _) => {
                unreachable!("float sums are not merged: the order of additions shows")
            }
            (st, later) => unreachable!(
                "states of one call differ: {} and {}",
                st.kind(),
                later.kind()
            ),
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        match self {
            AggState::Count(_) => "count",
            AggState::SumInt(..) => "integer sum",
            AggState::SumFloat(..) => "float sum",
            AggState::SumNumeric(_) => "numeric sum",
            AggState::AvgInt(..) => "integer average",
            AggState::AvgFloat(..) => "float average",
            AggState::AvgNumeric(..) => "numeric average",
            AggState::MinMax(_) => "min/max",
            AggState::Bool(_) => "bool",
            AggState::Collect(_) => "collect",
            AggState::CollectDistinct(..) => "collect distinct",
            AggState::OrderedSet { .. } => "ordered set",
        }
    }

    pub(crate) fn finish(self, a: &AggCall, ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
        if a.func == AggFunc::Grouping {
            // Every key is grouped outside grouping sets.
            return Ok(Datum::Int4(0));
        }
        Ok(match self {
            AggState::Count(n) => Datum::Int8(n),
            AggState::SumInt(_, false) | AggState::SumFloat(_, false) => Datum::Null,
            AggState::SumInt(s, true) => match a.ty {
                DataType::Int8 => Datum::Int8(i64::try_from(s).map_err(|_| {
                    SqlError::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "bigint out of range")
                })?),
                _ => Datum::Numeric(s.to_string().parse().map_err(|_| {
                    SqlError::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "numeric out of range")
                })?),
            },
            AggState::SumFloat(s, true) => match a.ty {
                DataType::Float4 => Datum::Float4(s as f32),
                _ => Datum::Float8(s),
            },
            AggState::SumNumeric(s) => s.map_or(Datum::Null, Datum::Numeric),
            AggState::AvgInt(_, 0) | AggState::AvgFloat(_, 0) | AggState::AvgNumeric(_, 0) => {
                Datum::Null
            }
            AggState::AvgInt(s, n) => {
                let sum: Numeric = s.to_string().parse().map_err(|_| {
                    SqlError::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "numeric out of range")
                })?;
                Datum::Numeric(crate::sql::func::numeric_arith(
                    crate::sql::func::NumericOp::Div,
                    &sum,
                    &Numeric::from(n),
                )?)
            }
            AggState::AvgFloat(s, n) => Datum::Float8(s / n as f64),
            AggState::AvgNumeric(s, n) => Datum::Numeric(crate::sql::func::numeric_arith(
                crate::sql::func::NumericOp::Div,
                &s.unwrap_or_else(Numeric::zero),
                &Numeric::from(n),
            )?),
            AggState::Bool(b) => b.map_or(Datum::Null, Datum::Bool),
            AggState::MinMax(v) => v.unwrap_or(Datum::Null),
            AggState::OrderedSet { .. } => {
                let mut st = self;
                st.sort_values(a)?;
                st.ordered_result(a, None, ctx)?
            }
            AggState::CollectDistinct(_, items) | AggState::Collect(items) => {
                finish_collected(a, items, ctx)?
            }
        })
    }

    /// Sorts an ordered-set aggregate's values by its `WITHIN GROUP` key
    /// (once; sharing aggregates read them sorted).
    pub(crate) fn sort_values(&mut self, a: &AggCall) -> Result<(), SqlError> {
        let AggState::OrderedSet { values, sorted, .. } = self else {
            return Ok(());
        };
        if *sorted {
            return Ok(());
        }
        let k = a
            .order_by
            .first()
            .expect("an ordered-set aggregate has a key");
        let mut err = None;
        values.sort_by(|x, y| {
            cmp_sort(x, y, k.asc, k.nulls_first).unwrap_or_else(|e| {
                err.get_or_insert(e);
                Ordering::Equal
            })
        });
        *sorted = true;
        err.map_or(Ok(()), Err)
    }

    /// The result of an ordered-set aggregate, from its own direct
    /// arguments and the sorted values of `values_of` (another call with
    /// the same input, see [`shared_inputs`]) or its own.
    pub(crate) fn ordered_result(
        &self,
        a: &AggCall,
        values_of: Option<&AggState>,
        ctx: &EvalCtx<'_>,
    ) -> Result<Datum, SqlError> {
        let AggState::OrderedSet { direct, values, .. } = self else {
            unreachable!("ordered_result of an ordered-set state");
        };
        let values = match values_of {
            Some(AggState::OrderedSet { values, sorted, .. }) => {
                debug_assert!(*sorted, "shared values are sorted first");
                values
            }
            Some(_) => unreachable!("values shared with an ordered-set state"),
            None => values,
        };
        match direct {
            Some(direct) if !values.is_empty() => {
                crate::sql::ordered_set::finish(a, direct, values, ctx)
            }
            _ => Ok(Datum::Null),
        }
    }
}

/// For each aggregate call, an earlier call of the same ordered-set input
/// (same `WITHIN GROUP` key and direction, same FILTER) whose collected
/// values it can read instead of collecting its own: `percentile_cont(0.5)`
/// and `percentile_cont(0.95)` of one column sort the values once, as
/// PostgreSQL shares their transition state.
pub(crate) fn shared_inputs(aggs: &[AggCall]) -> Vec<Option<usize>> {
    use crate::sql::ordered_set::is_ordered_set;
    let same_input = |x: &AggCall, y: &AggCall| {
        let (kx, ky) = (&x.order_by[0], &y.order_by[0]);
        crate::sql::plan::same_expr(&kx.expr, &ky.expr)
            && kx.asc == ky.asc
            && kx.nulls_first == ky.nulls_first
            && match (&x.filter, &y.filter) {
                (None, None) => true,
                (Some(f), Some(g)) => crate::sql::plan::same_expr(f, g),
                _ => false,
            }
    };
    aggs.iter()
        .enumerate()
        .map(|(i, a)| {
            if !is_ordered_set(a.func) || a.order_by.len() != 1 {
                return None;
            }
            aggs[..i]
                .iter()
                .position(|b| is_ordered_set(b.func) && b.order_by.len() == 1 && same_input(a, b))
        })
        .collect()
}

/// The result of a collecting aggregate: its items (distinct ones already
/// for DISTINCT) sorted by the call's ORDER BY.
fn finish_collected(
    a: &AggCall,
    mut items: Vec<(Vec<Datum>, Vec<Datum>)>,
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    if !a.order_by.is_empty() {
        sort_by_keys(&mut items, &a.order_by, |(_, sort)| sort)?;
    }
    if matches!(
        a.func,
        AggFunc::StringAgg | AggFunc::JsonbAgg | AggFunc::JsonbObjectAgg | AggFunc::ArrayAgg
    ) {
        return build_collected(a, items, ctx);
    }
    // DISTINCT/ORDER BY forms of the simple aggregates.
    let mut plain = AggCall {
        distinct: false,
        order_by: Vec::new(),
        ..a.clone()
    };
    plain.filter = None;
    let mut st = AggState::new(&plain);
    for (args, _) in items {
        st.add(&plain, args, Vec::new())?;
    }
    st.finish(&plain, ctx)
}

fn build_collected(
    a: &AggCall,
    items: Vec<(Vec<Datum>, Vec<Datum>)>,
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    if items.is_empty() {
        return Ok(Datum::Null);
    }
    Ok(match a.func {
        AggFunc::StringAgg => {
            let mut s = String::new();
            for (i, (args, _)) in items.iter().enumerate() {
                if i > 0 {
                    if let Datum::Text(sep) = &args[1] {
                        s.push_str(sep);
                    }
                }
                if let Datum::Text(v) = &args[0] {
                    s.push_str(v);
                }
            }
            Datum::Text(s)
        }
        AggFunc::JsonbAgg
            if a.ty == DataType::Json && matches!(a.args[0].ty(), DataType::Record(_)) =>
        {
            json_agg_records(&items, &a.args[0].ty(), ctx)?
        }
        AggFunc::JsonbAgg => {
            let mut agg = crate::jsonb::ArrayAgg::new();
            for (args, _) in &items {
                agg.push_typed(&args[0], &a.args[0].ty())
                    .map_err(json_err)?;
            }
            json_result(agg.finish(), a.ty, ctx)?
        }
        AggFunc::JsonbObjectAgg => {
            let mut agg = crate::jsonb::ObjectAgg::new();
            for (args, _) in &items {
                agg.push(&args[0], &args[1]).map_err(json_err)?;
            }
            json_result(agg.finish().map_err(json_err)?, a.ty, ctx)?
        }
        AggFunc::ArrayAgg => Datum::Array(Box::new(crate::datum::Array::new(
            a.ty,
            items
                .into_iter()
                .map(|(mut args, _)| args.remove(0))
                .collect(),
        ))),
        _ => unreachable!("only collecting aggregates"),
    })
}

/// `json_agg` of records, as PostgreSQL's `json_agg_transfn` writes it:
/// `, ` between values and a line feed and space before each record after
/// the first (`[{"a":1}, \n {"a":2}]`); NULL (SQL NULL for no rows) else.
fn json_agg_records(
    items: &[(Vec<Datum>, Vec<Datum>)],
    ty: &DataType,
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    if items.is_empty() {
        return Ok(Datum::Null);
    }
    let mut out = String::from("[");
    for (i, (args, _)) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if args[0].is_null() {
            out.push_str("null");
            continue;
        }
        if i > 0 {
            out.push_str("\n ");
        }
        out.push_str(&crate::sql::func::json::typed_to_json(&args[0], ty, ctx)?);
    }
    out.push(']');
    Ok(Datum::Json(out))
}

fn json_result(j: Option<Jsonb>, ty: DataType, ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    let Some(j) = j else {
        return Ok(Datum::Null);
    };
    let d = Datum::Jsonb(j.into_bytes());
    if ty == DataType::Json {
        return expr::cast(d, DataType::Json, ctx);
    }
    Ok(d)
}

/// Makes `v` a min/max state's value if it beats the current one; the
/// earlier value wins a tie (so a merge keeps what one pass would).
fn keep_min_max(a: &AggCall, cur: &mut Option<Datum>, v: Datum) -> Result<(), SqlError> {
    let replace = match cur {
        None => true,
        Some(c) => {
            let o = compare(&v, c)?;
            if a.func == AggFunc::Min {
                o == Ordering::Less
            } else {
                o == Ordering::Greater
            }
        }
    };
    if replace {
        *cur = Some(v);
    }
    Ok(())
}

fn int_of(d: &Datum) -> i128 {
    match d {
        Datum::Int2(v) => i128::from(*v),
        Datum::Int4(v) => i128::from(*v),
        Datum::Int8(v) => i128::from(*v),
        _ => 0,
    }
}

fn float_of(d: &Datum) -> f64 {
    match d {
        Datum::Float4(v) => f64::from(*v),
        Datum::Float8(v) => *v,
        _ => 0.0,
    }
}

fn numeric_of(d: &Datum) -> Numeric {
    match d {
        Datum::Numeric(n) => n.clone(),
        Datum::Int2(v) => Numeric::from(*v),
        Datum::Int4(v) => Numeric::from(*v),
        Datum::Int8(v) => Numeric::from(*v),
        _ => Numeric::nan(),
    }
}
