//! One client session: statements in, results out.
//!
//! The session parses with sqlparser's PostgreSQL dialect, keeps the
//! transaction state PostgreSQL keeps (idle, in a block, failed until
//! ROLLBACK), runs each statement in its own transaction outside a block,
//! and executes DDL, DML and queries against the engine. Results are text
//! values, ready for the wire; the protocol layer (`crate::server`) owns
//! framing and binary formats.
//!
//! # What is implemented
//! CREATE/DROP TABLE, CREATE/DROP INDEX (columns and expressions), TRUNCATE,
//! INSERT (VALUES or SELECT, ON CONFLICT DO NOTHING/UPDATE with EXCLUDED,
//! RETURNING), UPDATE and DELETE (WHERE, RETURNING), SELECT over one table
//! or none (WHERE, expressions, aggregates with GROUP BY/HAVING, DISTINCT,
//! ORDER BY, LIMIT/OFFSET), transactions, SET/SHOW, ALTER TABLE
//! (`sql::alter`) and COPY FROM STDIN / TO STDOUT (`sql::copy`). Joins, subqueries and
//! the catalogs (`pg_catalog`) answer 0A000 naming the feature until they
//! are built.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sql::dialect::SextantDialect;
use sqlparser::ast::{self, Statement};
use sqlparser::parser::Parser;

use crate::catalog::{ColumnDef, IndexDef, IndexKey, TableDef};
use crate::datum::{DataType, Datum, Oid};
use crate::engine::{Engine, NewIndex, NewTable, Transaction};
use crate::pgtext::{self, TextContext};
use crate::replica::StatusSource;
use crate::sql::error::{code, SqlError};
use crate::sql::exec::Exec;
use crate::sql::expr::{self, bind, eval, BindCtx, EvalCtx, Expr, Scope, ScopeColumn};
use crate::sql::memo::Memo;
use crate::sql::pg_catalog::CatalogView;
use crate::sql::plan::{self, Plan, Planner};
use crate::sql::settings::Settings;
use crate::sql::spill::SpillReport;

/// Refuses an index or primary key of more than
/// [`crate::catalog::INDEX_KEYS_MAX`] keys, as PostgreSQL does.
fn check_index_keys(n: usize) -> Result<(), SqlError> {
    if n > crate::catalog::INDEX_KEYS_MAX {
        return Err(SqlError::new(
            code::TOO_MANY_COLUMNS,
            format!(
                "cannot use more than {} columns in an index",
                crate::catalog::INDEX_KEYS_MAX
            ),
        ));
    }
    Ok(())
}

/// What `version()` and `server_version` report.
pub const VERSION_STRING: &str =
    "PostgreSQL 15.0 (Sextant 0.1.0) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit";
/// The `server_version` parameter.
pub const SERVER_VERSION: &str = "15.0 (Sextant 0.1.0)";

/// Who may connect, and to what.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// The one database's name.
    pub database: String,
    /// Users and their passwords.
    pub users: Vec<(String, String)>,
}

/// The database: shared by every session.
pub struct Database {
    /// The engine new transactions begin on. A reader's promotion swaps in
    /// the new writer's engine ([`Database::promote`]); transactions already
    /// open keep the engine they began on.
    engine: std::sync::RwLock<Engine>,
    cfg: DatabaseConfig,
    /// Where `sextant_replica_status()` reads from.
    status: std::sync::RwLock<Option<Arc<dyn StatusSource>>>,
}

/// The transaction status reported in ReadyForQuery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Not in a transaction block.
    Idle,
    /// In a transaction block.
    InBlock,
    /// In a failed transaction block.
    Failed,
}

/// A result column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Name as PostgreSQL names it.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type length (`pg_type.typlen`).
    pub type_len: i16,
    /// Type modifier.
    pub type_mod: i32,
    /// OID of the table the column is a column of, 0 when it is not one.
    pub table_oid: u32,
    /// The column's `attnum` in that table, 0 when it is not one.
    pub column_id: i16,
}

/// The result of one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryResult {
    /// Rows, in text format (NULL as `None`).
    Rows {
        /// Columns.
        columns: Vec<Column>,
        /// Rows.
        rows: Vec<Vec<Option<String>>>,
        /// Command tag, e.g. `SELECT 3`.
        tag: String,
    },
    /// A command without rows.
    Command {
        /// Command tag, e.g. `INSERT 0 1`.
        tag: String,
    },
    /// The query string was empty.
    Empty,
    /// COPY FROM STDIN is waiting for its data: the protocol layer sends
    /// CopyInResponse and feeds CopyData to [`Session::copy_in_data`] until
    /// [`Session::copy_in_done`] or [`Session::copy_in_fail`].
    CopyIn {
        /// Columns in each row (text format each).
        columns: usize,
    },
    /// COPY TO STDOUT's output: one CopyData message per entry.
    CopyOut {
        /// Columns in each row (text format each).
        columns: usize,
        /// Encoded lines, newline included; the header line first if asked.
        rows: Vec<Vec<u8>>,
        /// Command tag, `COPY n`.
        tag: String,
    },
}

/// A NOTICE or WARNING to send before a statement's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// `NOTICE` or `WARNING`.
    pub severity: &'static str,
    /// SQLSTATE.
    pub code: &'static str,
    /// Message.
    pub message: String,
    /// Which statement of the last simple query raised it (0 for the
    /// extended protocol).
    pub statement: usize,
}

/// A prepared statement's description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// Parameter type OIDs.
    pub param_types: Vec<u32>,
    /// Result columns (empty for commands).
    pub columns: Vec<Column>,
}

struct PreparedStatement {
    stmt: Option<Arc<Statement>>,
    info: Prepared,
    /// What it was prepared from: the text, the parameter types given and
    /// the catalog it was described against. A Parse of the same text and
    /// types under the same name, with the catalog unchanged, keeps the
    /// statement and its cached plan (drivers and `pgbench -M extended`
    /// send the unnamed statement's Parse before every execution).
    sql: String,
    param_types_given: Vec<u32>,
    catalog: crate::catalog::Catalog,
}

impl Database {
    /// A database over `engine`.
    pub fn new(engine: Engine, cfg: DatabaseConfig) -> Arc<Database> {
        engine.set_index_key_fn(Arc::new(crate::sql::keyfn::index_key));
        Arc::new(Database {
            engine: std::sync::RwLock::new(engine),
            cfg,
            status: std::sync::RwLock::new(None),
        })
    }

    /// Gives `sextant_replica_status()` its rows (the writer's redo stream
    /// or a reader's follower). Set once; promotion replaces it.
    pub fn set_status_source(&self, source: Arc<dyn StatusSource>) {
        let mut status = self.status.write().expect("status lock");
        assert!(status.is_none(), "status source set already");
        *status = Some(source);
    }

    fn status_source(&self) -> Option<Arc<dyn StatusSource>> {
        self.status.read().expect("status lock").clone()
    }

    /// Makes a promoted reader's database the writer's: transactions begun
    /// from now on run on `engine` (the writer's, opened by recovery under
    /// a new epoch) and `sextant_replica_status()` reads `status`.
    /// Transactions open on the reader's engine stay read-only at their
    /// snapshot until they end.
    pub fn promote(&self, engine: Engine, status: Arc<dyn StatusSource>) {
        assert!(!engine.is_reader(), "promoting to a reader's engine");
        engine.set_index_key_fn(Arc::new(crate::sql::keyfn::index_key));
        let mut current = self.engine.write().expect("engine lock");
        assert!(current.is_reader(), "only a reader's database is promoted");
        *current = engine;
        *self.status.write().expect("status lock") = Some(status);
    }

    /// Begins a transaction on the current engine: read-only on a reader,
    /// and on a writer that a newer writer fenced.
    pub(super) fn begin(&self) -> Transaction {
        let engine = self.engine();
        let mut tx = engine.begin();
        if engine.fenced_by().is_some() {
            tx.set_read_only();
        }
        tx
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.cfg.database
    }

    /// The engine new transactions begin on.
    pub fn engine(&self) -> Engine {
        self.engine.read().expect("engine lock").clone()
    }

    /// A new session for `user`.
    pub fn session(self: &Arc<Self>, user: &str, database: &str) -> Session {
        Session {
            db: self.clone(),
            user: user.to_string(),
            database: database.to_string(),
            tx: None,
            failed: false,
            read_only_block: false,
            isolation: None,
            settings_at_begin: None,
            settings_without_local: None,
            implicit_block: false,
            backend_pid: 0,
            prepared: HashMap::new(),
            settings: Settings::new(user),
            cancel: Arc::new(AtomicBool::new(false)),
            started: Instant::now(),
            xact_start: now_micros(),
            block_ran_query: false,
            active_prepared: None,
            notices: std::sync::Mutex::new(Vec::new()),
            statement_index: std::sync::atomic::AtomicUsize::new(0),
            plans: std::sync::Mutex::new(HashMap::new()),
            copy_in: None,
            pending: None,
            cursors: Default::default(),
            pending_settings: Default::default(),
        }
    }

    /// The password of `user`, for SCRAM verification.
    pub fn check_password(&self, user: &str) -> Option<String> {
        self.cfg
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.clone())
    }

    /// ParameterStatus values sent at startup.
    pub fn server_parameters(&self) -> Vec<(String, String)> {
        vec![
            ("server_version".into(), SERVER_VERSION.into()),
            ("server_encoding".into(), "UTF8".into()),
            ("client_encoding".into(), "UTF8".into()),
            ("DateStyle".into(), "ISO, MDY".into()),
            ("TimeZone".into(), "UTC".into()),
            ("integer_datetimes".into(), "on".into()),
            ("standard_conforming_strings".into(), "on".into()),
            ("IntervalStyle".into(), "postgres".into()),
            ("is_superuser".into(), "on".into()),
            ("application_name".into(), String::new()),
        ]
    }
}

pub(super) fn parse_expr(sql: &str) -> Result<ast::Expr, SqlError> {
    Parser::new(&SextantDialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::new(code::SYNTAX_ERROR, e.to_string()))
}

pub(super) fn column_type(c: &ColumnDef) -> DataType {
    match DataType::from_oid(Oid(c.type_oid)) {
        Some(DataType::Varchar { .. }) => DataType::Varchar {
            max_chars: (c.type_mod >= 4).then(|| (c.type_mod - 4) as u32),
        },
        Some(DataType::Bpchar { .. }) => DataType::Bpchar {
            max_chars: (c.type_mod >= 4).then(|| (c.type_mod - 4) as u32),
        },
        Some(t) => t,
        None => DataType::Text,
    }
}

pub(super) fn table_scope(t: &TableDef, alias: Option<&str>) -> Scope {
    let qual = alias.unwrap_or(&t.name).to_string();
    Scope {
        columns: t
            .columns
            .iter()
            .map(|c| ScopeColumn::new(Some(qual.clone()), c.name.clone(), column_type(c)))
            .collect(),
        aliases: Vec::new(),
    }
}

fn col_desc(name: &str, ty: DataType) -> Column {
    Column {
        name: name.to_string(),
        type_oid: ty.oid().0,
        type_len: ty.typlen(),
        type_mod: ty.typmod(),
        table_oid: 0,
        column_id: 0,
    }
}

/// A query's result columns as RowDescription describes them: a column
/// that is a table's column names its table, attnum and type modifier.
fn query_columns(query: &crate::sql::plan::Query) -> Vec<Column> {
    query
        .columns
        .iter()
        .zip(&query.origins)
        .map(|((n, t), origin)| {
            let mut c = col_desc(n, *t);
            if let Some(o) = origin {
                c.table_oid = crate::sql::pg_catalog::object_oid(o.table);
                c.column_id = o.attnum;
                c.type_mod = o.typmod;
            }
            c
        })
        .collect()
}

pub(super) fn object_name(n: &ast::ObjectName) -> String {
    n.0.last()
        .and_then(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        })
        .unwrap_or_default()
}

pub(super) fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// True when transaction modes ask for READ WRITE.
fn wants_read_write(modes: &[ast::TransactionMode]) -> bool {
    modes.iter().any(|m| {
        matches!(
            m,
            ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadWrite)
        )
    })
}

fn wants_read_only(modes: &[ast::TransactionMode]) -> bool {
    modes.iter().any(|m| {
        matches!(
            m,
            ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadOnly)
        )
    })
}

/// What a hot standby answers to `BEGIN READ WRITE` (PostgreSQL's
/// `check_transaction_read_only`).
fn read_write_in_recovery() -> SqlError {
    SqlError::new(
        code::READ_ONLY_SQL_TRANSACTION,
        "cannot set transaction read-write mode during recovery",
    )
}

/// How often a statement outside a block runs again after losing
/// first-committer-wins at READ COMMITTED before its 40001 reaches the
/// client ([`Session::commit_autocommit`]). Each retry runs on a snapshot
/// that includes the commit it lost to, so it fails again only if yet
/// another session commits the same row in between: with four sessions
/// incrementing one row flat out, 16 tries still lost one statement in a
/// few hundred. PostgreSQL would wait on the row lock instead, however
/// long; the statement timeout and cancel bound these tries too.
const AUTOCOMMIT_RETRIES_MAX: u32 = 100;
/// How long a query that may end early ([`plan::may_end_early`]) runs in
/// place on its tokio worker before it is run again off the worker.
const IN_PLACE_BUDGET: std::time::Duration = std::time::Duration::from_millis(1);

/// One connection's session.
pub struct Session {
    pub(super) db: Arc<Database>,
    user: String,
    database: String,
    pub(super) tx: Option<Transaction>,
    pub(super) failed: bool,
    pub(super) read_only_block: bool,
    /// Settings as they were when the block began: ROLLBACK restores them.
    settings_at_begin: Option<Settings>,
    /// Settings without the block's SET LOCALs: what COMMIT leaves.
    settings_without_local: Option<Settings>,
    /// `tx` is the implicit block of a multi-statement simple query.
    pub(super) implicit_block: bool,
    /// The process id the client was given (`pg_backend_pid()`).
    backend_pid: i32,
    /// The isolation level BEGIN asked for (every level runs as snapshot
    /// isolation; see ARCHITECTURE.md).
    isolation: Option<String>,
    prepared: HashMap<String, PreparedStatement>,
    pub(super) settings: Settings,
    cancel: Arc<AtomicBool>,
    /// When the current statement started (for statement_timeout).
    started: Instant,
    /// When the current transaction began (µs since 2000-01-01 UTC): what
    /// `now()` returns, for every statement of a block.
    xact_start: i64,
    /// True once a statement that reads or writes data ran in the open
    /// block (after which its isolation level is fixed).
    block_ran_query: bool,
    /// Index of the running statement in its simple query.
    statement_index: std::sync::atomic::AtomicUsize,
    /// Notices raised by the current statement.
    notices: std::sync::Mutex<Vec<Notice>>,
    /// The prepared statement being executed, if any.
    active_prepared: Option<String>,
    /// Plans of prepared queries, valid while the catalog they were
    /// planned against is unchanged.
    plans: std::sync::Mutex<HashMap<String, CachedPlan>>,
    /// The COPY FROM STDIN in progress.
    pub(super) copy_in: Option<crate::sql::copy::CopyIn>,
    /// What is left of a simple query that stopped at COPY FROM STDIN.
    pub(super) pending: Option<crate::sql::copy::PendingQuery>,
    /// SQL-level cursors and savepoints (`sql::cursor`).
    pub(super) cursors: crate::sql::cursor::Cursors,
    /// What `set_config()` changed in the running statement.
    pending_settings: crate::sql::settings::PendingSettings,
}

/// What a prepared statement keeps from one execution to the next, with
/// the catalog it was made against: used again only while that catalog is
/// unchanged, so DDL on anything (ALTER TABLE, DROP and CREATE again)
/// makes it anew.
struct CachedPlan {
    catalog: crate::catalog::Catalog,
    plan: Cached,
}

/// A prepared statement's plan, by kind.
enum Cached {
    /// A query's plan.
    Query {
        query: Arc<plan::Query>,
        stmt: Arc<plan::Statement>,
    },
    /// An INSERT, bound (for the parameter types it was bound with).
    Insert {
        param_types: Vec<Option<DataType>>,
        bound: Arc<BoundInsert>,
    },
}

impl Session {
    /// The transaction status.
    pub fn tx_status(&self) -> TxStatus {
        match (&self.tx, self.failed) {
            (_, true) => TxStatus::Failed,
            (Some(_), false) => TxStatus::InBlock,
            (None, false) => TxStatus::Idle,
        }
    }

    /// Asks the running statement to stop.
    pub fn cancel(&self) {
        self.cancel.store(true, AtomicOrdering::Relaxed);
    }

    /// A handle that cancels this session's running statement.
    pub fn cancel_handle(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// True when `default_transaction_read_only` is on.
    pub(super) fn default_read_only(&self) -> bool {
        self.settings
            .get("default_transaction_read_only")
            .is_ok_and(|v| v == "on")
    }

    pub(super) fn text_ctx(&self) -> TextContext {
        TextContext {
            jsonb: Some(expr::jsonb_hooks()),
            now: Some(self.xact_start),
            time_zone: self.settings.time_zone(),
            date_style: self.settings.date_style(),
            interval_style: self.settings.interval_style(),
        }
    }

    /// Applies a startup parameter the client sent (`application_name`,
    /// `options`, ...).
    pub fn apply_startup_parameter(&mut self, name: &str, value: &str) -> Result<(), SqlError> {
        self.settings.apply_startup(name, value)
    }

    /// Records the process id the client was given in BackendKeyData.
    pub fn set_backend_pid(&mut self, pid: i32) {
        self.backend_pid = pid;
    }

    /// NOTICEs and WARNINGs raised since the last call, in order.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut *self.notices.lock().expect("notices"))
    }

    pub(super) fn notice(
        &self,
        severity: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) {
        let statement = self.statement_index.load(AtomicOrdering::Relaxed);
        self.notices.lock().expect("notices").push(Notice {
            severity,
            code,
            message: message.into(),
            statement,
        });
    }

    /// Reported settings (ParameterStatus) changed since the last call.
    pub fn take_parameter_changes(&mut self) -> Vec<(String, String)> {
        self.settings.take_changed()
    }

    /// Runs a simple-query string: every statement in order, stopping at the
    /// first error, as PostgreSQL does.
    pub async fn simple_query(&mut self, sql: &str) -> Vec<Result<QueryResult, SqlError>> {
        let rewritten = abort_and_end(sql);
        let sql = rewritten.as_deref().unwrap_or(sql);
        let stmts = match parse(sql) {
            Ok(s) => s,
            Err(e) => {
                self.fail_block();
                return vec![Err(e)];
            }
        };
        let out = self.simple_statements(stmts).await;
        out.into_iter()
            .map(|r| r.map_err(|e| e.locate(sql)))
            .collect()
    }

    async fn simple_statements(
        &mut self,
        stmts: Vec<Statement>,
    ) -> Vec<Result<QueryResult, SqlError>> {
        if stmts.is_empty() {
            return vec![Ok(QueryResult::Empty)];
        }
        let many = stmts.len() > 1;
        // Several statements in one simple query run in one implicit
        // transaction block, as in PostgreSQL: a BEGIN among them turns it
        // into an explicit block that includes the statements before it,
        // and a COMMIT or ROLLBACK ends it (with a warning).
        if many && self.tx.is_none() {
            self.tx = Some(self.db.begin());
            // default_transaction_read_only is checked statement by
            // statement (`in_tx`): SET TRANSACTION READ WRITE may lift it.
            self.read_only_block = self.default_read_only();
            self.implicit_block = true;
            self.xact_start = now_micros();
            self.block_ran_query = false;
        }
        self.run_statements(stmts.into()).await
    }

    /// Runs the statements of a simple query in order, stopping at the
    /// first error, or at a COPY FROM STDIN: the rest waits in
    /// `self.pending` for [`Session::simple_query_resume`].
    pub(super) async fn run_statements(
        &mut self,
        mut stmts: std::collections::VecDeque<Statement>,
    ) -> Vec<Result<QueryResult, SqlError>> {
        let mut out = Vec::new();
        while let Some(stmt) = stmts.pop_front() {
            self.statement_index
                .store(out.len(), AtomicOrdering::Relaxed);
            let r = self.run(&stmt, &[], 0).await;
            let failed = r.is_err();
            let copy_in = matches!(r, Ok(QueryResult::CopyIn { .. }));
            out.push(r);
            if failed {
                if std::mem::take(&mut self.implicit_block) {
                    self.tx = None;
                    self.failed = false;
                }
                return out;
            }
            if copy_in {
                self.pending = Some(crate::sql::copy::PendingQuery {
                    stmts,
                    implicit: self.implicit_block,
                });
                return out;
            }
        }
        if std::mem::take(&mut self.implicit_block) {
            if let Some(tx) = self.tx.take() {
                if let Err(e) = tx.commit().await {
                    out.push(Err(SqlError::from_engine(e)));
                }
            }
        }
        out
    }

    /// Prepares `sql` as statement `name` ("" is the unnamed statement).
    pub fn prepare(
        &mut self,
        name: &str,
        sql: &str,
        param_types: &[u32],
    ) -> Result<Prepared, SqlError> {
        let r = self.prepare_inner(name, sql, param_types);
        if r.is_err() {
            self.fail_block();
        }
        r
    }

    fn prepare_inner(
        &mut self,
        name: &str,
        sql: &str,
        param_types: &[u32],
    ) -> Result<Prepared, SqlError> {
        let catalog = match &self.tx {
            Some(t) => t.catalog().clone(),
            None => self.db.engine().begin().catalog().clone(),
        };
        if let Some(p) = self.prepared.get(name) {
            if p.sql == sql && p.param_types_given == param_types && p.catalog == catalog {
                return Ok(p.info.clone());
            }
        }
        let mut stmts = parse(sql)?;
        if stmts.len() > 1 {
            return Err(SqlError::new(
                code::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let stmt = stmts.pop();
        let mut params: Vec<Option<DataType>> = param_types
            .iter()
            .map(|o| {
                if *o == 0 {
                    None
                } else {
                    DataType::from_oid(Oid(*o))
                }
            })
            .collect();
        let columns = match &stmt {
            Some(s) => self.describe(s, &mut params).map_err(|e| e.locate(sql))?,
            None => Vec::new(),
        };
        let info = Prepared {
            param_types: params
                .iter()
                .map(|p| p.unwrap_or(DataType::Text).oid().0)
                .collect(),
            columns,
        };
        self.plans.lock().expect("plan cache").remove(name);
        self.prepared.insert(
            name.to_string(),
            PreparedStatement {
                stmt: stmt.map(Arc::new),
                info: info.clone(),
                sql: sql.to_string(),
                param_types_given: param_types.to_vec(),
                catalog,
            },
        );
        Ok(info)
    }

    /// Describes a prepared statement.
    pub fn describe_statement(&self, name: &str) -> Result<Prepared, SqlError> {
        self.prepared
            .get(name)
            .map(|p| p.info.clone())
            .ok_or_else(|| {
                SqlError::new(
                    code::INVALID_SQL_STATEMENT_NAME,
                    format!("prepared statement \"{name}\" does not exist"),
                )
            })
    }

    /// `DISCARD`: ALL resets the session to its state at connection
    /// (settings, cursors, prepared statements and their plans); PLANS
    /// forgets the cached plans. There are no temporary tables or
    /// sequences, so TEMP and SEQUENCES have nothing to drop.
    fn discard(&mut self, what: ast::DiscardObject) -> Result<QueryResult, SqlError> {
        match what {
            ast::DiscardObject::ALL => {
                if self.tx.is_some() {
                    return Err(SqlError::new(
                        code::ACTIVE_SQL_TRANSACTION,
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                self.settings.reset_all();
                self.close_cursor(&ast::CloseCursor::All)?;
                self.prepared.clear();
                self.plans.lock().expect("plan cache").clear();
            }
            ast::DiscardObject::PLANS => self.plans.lock().expect("plan cache").clear(),
            ast::DiscardObject::TEMP | ast::DiscardObject::SEQUENCES => {}
        }
        Ok(QueryResult::Command {
            tag: format!("DISCARD {what}"),
        })
    }

    /// Forgets a prepared statement.
    pub fn close_statement(&mut self, name: &str) {
        self.prepared.remove(name);
        self.plans.lock().expect("plan cache").remove(name);
    }

    /// Executes prepared statement `statement` with text parameters.
    pub async fn execute(
        &mut self,
        statement: &str,
        params: &[Option<String>],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        let p = self.prepared.get(statement).ok_or_else(|| {
            SqlError::new(
                code::INVALID_SQL_STATEMENT_NAME,
                format!("prepared statement \"{statement}\" does not exist"),
            )
        })?;
        let Some(stmt) = p.stmt.clone() else {
            return Ok(QueryResult::Empty);
        };
        let text = self.text_ctx();
        let types = p.info.param_types.clone();
        if params.len() != types.len() {
            return Err(SqlError::new(
                code::SYNTAX_ERROR,
                format!("bind message supplies {} parameters, but prepared statement \"{statement}\" requires {}", params.len(), types.len()),
            ));
        }
        let mut values = Vec::with_capacity(params.len());
        for (v, oid) in params.iter().zip(&types) {
            values.push(match v {
                None => Datum::Null,
                Some(s) => {
                    let ty = DataType::from_oid(Oid(*oid)).unwrap_or(DataType::Text);
                    if ty.is_reg() {
                        // A name only the catalog resolves: the parameter
                        // reads it when evaluated (`Expr::Param`).
                        Datum::Text(s.clone())
                    } else {
                        pgtext::parse(&ty, s, &text)
                            .map_err(|e| SqlError::new(e.sqlstate(), e.to_string()))?
                    }
                }
            });
        }
        self.statement_index.store(0, AtomicOrdering::Relaxed);
        self.active_prepared = Some(statement.to_string());
        let r = self.run(&stmt, &values, max_rows).await;
        self.active_prepared = None;
        r
    }

    pub(super) fn fail_block(&mut self) {
        if self.tx.is_some() {
            self.failed = true;
        }
    }

    async fn run(
        &mut self,
        stmt: &Statement,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        self.cancel.store(false, AtomicOrdering::Relaxed);
        self.started = Instant::now();
        if self.failed && !matches!(stmt, Statement::Rollback { .. } | Statement::Commit { .. }) {
            return Err(SqlError::new(
                code::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let mut r = self.run_inner(stmt, params, max_rows).await;
        let set_config = self.pending_settings.take();
        if r.is_ok() {
            r = self
                .apply_set_config(set_config)
                .map(|()| r.expect("checked ok"));
        }
        if let Err(e) = &r {
            self.fail_block();
            // A fenced writer's transactions are read-only and its commit
            // pipeline stopped: say why, once, here.
            if matches!(
                e.code,
                code::READ_ONLY_SQL_TRANSACTION | code::ADMIN_SHUTDOWN
            ) {
                if let Some(epoch) = self.db.engine().fenced_by() {
                    r = r.map_err(|e| e.fenced(epoch));
                }
            }
        }
        r
    }

    async fn run_inner(
        &mut self,
        stmt: &Statement,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        if self.tx.is_none() {
            // Whatever path ended the last transaction, what ends with it
            // is gone (a COMMIT or ROLLBACK said how it ended, below).
            self.cursors.end_transaction(true);
        }
        match stmt {
            Statement::Declare { stmts } => return self.declare(stmts, params),
            Statement::Fetch {
                name,
                direction,
                position,
                into,
            } => return self.fetch(name, direction, position, into.as_ref()),
            Statement::Close { cursor } => return self.close_cursor(cursor),
            Statement::Discard { object_type } => return self.discard(*object_type),
            Statement::Savepoint { name } => return self.savepoint(name),
            Statement::ReleaseSavepoint { name } => return self.release_savepoint(name),
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => return self.rollback_to_savepoint(name),
            _ => {}
        }
        match stmt {
            Statement::StartTransaction { modes, begin, .. } => {
                let tag = if *begin { "BEGIN" } else { "START TRANSACTION" };
                if self.tx.is_some() && std::mem::take(&mut self.implicit_block) {
                    // The implicit block of a multi-statement query becomes
                    // this explicit one, earlier statements included.
                    self.settings_at_begin = Some(self.settings.clone());
                    if wants_read_only(modes) {
                        self.read_only_block = true;
                        if let Some(tx) = self.tx.as_mut() {
                            tx.set_read_only();
                        }
                    } else if wants_read_write(modes) {
                        self.read_only_block = false;
                    }
                    return Ok(QueryResult::Command { tag: tag.into() });
                }
                if self.tx.is_some() {
                    // PostgreSQL warns and carries on.
                    self.notice(
                        "WARNING",
                        code::ACTIVE_SQL_TRANSACTION,
                        "there is already a transaction in progress",
                    );
                    return Ok(QueryResult::Command { tag: tag.into() });
                }
                if wants_read_write(modes) && self.db.engine().is_reader() {
                    return Err(read_write_in_recovery());
                }
                let mut tx = self.db.begin();
                self.xact_start = now_micros();
                self.block_ran_query = false;
                // default_transaction_read_only applies unless the block
                // says READ WRITE.
                self.read_only_block = wants_read_only(modes)
                    || (self.default_read_only() && !wants_read_write(modes));
                if wants_read_only(modes) {
                    tx.set_read_only();
                }
                self.isolation = modes.iter().find_map(|m| match m {
                    ast::TransactionMode::IsolationLevel(l) => Some(
                        match l {
                            ast::TransactionIsolationLevel::ReadUncommitted => "read uncommitted",
                            ast::TransactionIsolationLevel::ReadCommitted => "read committed",
                            ast::TransactionIsolationLevel::RepeatableRead => "repeatable read",
                            ast::TransactionIsolationLevel::Serializable => "serializable",
                            ast::TransactionIsolationLevel::Snapshot => "repeatable read",
                        }
                        .to_string(),
                    ),
                    _ => None,
                });
                self.settings_at_begin = Some(self.settings.clone());
                self.tx = Some(tx);
                Ok(QueryResult::Command { tag: tag.into() })
            }
            Statement::Commit { .. } => {
                if std::mem::take(&mut self.implicit_block) {
                    self.notice(
                        "WARNING",
                        code::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    );
                }
                self.read_only_block = false;
                self.isolation = None;
                let failed = std::mem::take(&mut self.failed);
                self.cursors.end_transaction(!failed && self.tx.is_some());
                let saved = self.settings_at_begin.take();
                let without_local = self.settings_without_local.take();
                if failed {
                    if let Some(saved) = saved {
                        self.settings.restore(saved);
                    }
                } else if let Some(base) = without_local {
                    self.settings.restore(base);
                }
                match self.tx.take() {
                    Some(_) if failed => Ok(QueryResult::Command {
                        tag: "ROLLBACK".into(),
                    }),
                    Some(tx) => {
                        tx.commit().await.map_err(SqlError::from_engine)?;
                        Ok(QueryResult::Command {
                            tag: "COMMIT".into(),
                        })
                    }
                    None => {
                        self.notice(
                            "WARNING",
                            code::NO_ACTIVE_SQL_TRANSACTION,
                            "there is no transaction in progress",
                        );
                        Ok(QueryResult::Command {
                            tag: "COMMIT".into(),
                        })
                    }
                }
            }
            Statement::Rollback { .. } => {
                if std::mem::take(&mut self.implicit_block) {
                    self.notice(
                        "WARNING",
                        code::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    );
                }
                self.failed = false;
                self.cursors.end_transaction(false);
                self.read_only_block = false;
                self.isolation = None;
                self.settings_without_local = None;
                if let Some(saved) = self.settings_at_begin.take() {
                    self.settings.restore(saved);
                }
                if self.tx.take().is_none() {
                    self.notice(
                        "WARNING",
                        code::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    );
                }
                Ok(QueryResult::Command {
                    tag: "ROLLBACK".into(),
                })
            }
            Statement::Set(set) => self.set(set),
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(ident).collect::<Vec<_>>().join(" ");
                if name == "all" {
                    return Ok(QueryResult::Rows {
                        columns: vec![
                            col_desc("name", DataType::Text),
                            col_desc("setting", DataType::Text),
                            col_desc("description", DataType::Text),
                        ],
                        rows: self
                            .settings
                            .all()
                            .into_iter()
                            .map(|(n, v, d)| vec![Some(n), Some(v), Some(d)])
                            .collect(),
                        tag: "SHOW".into(),
                    });
                }
                let v = match name.as_str() {
                    "transaction isolation level" | "transaction_isolation" => {
                        match (&self.isolation, &self.tx) {
                            (Some(l), Some(_)) => l.clone(),
                            _ => self.settings.get("default_transaction_isolation")?,
                        }
                    }
                    "transaction_read_only" => {
                        let read_only = match &self.tx {
                            Some(tx) => tx.is_read_only() || self.read_only_block,
                            None => self.default_read_only() || self.db.engine().is_reader(),
                        };
                        if read_only { "on" } else { "off" }.to_string()
                    }
                    _ => self.settings.get(&name)?,
                };
                Ok(QueryResult::Rows {
                    columns: vec![col_desc(&Settings::display_name(&name), DataType::Text)],
                    rows: vec![vec![Some(v)]],
                    tag: "SHOW".into(),
                })
            }
            Statement::Copy { to: false, .. } => self.copy_from_start(stmt, params),
            _ => {
                let autocommit = self.tx.is_none();
                let mut tx = match self.tx.take() {
                    Some(tx) => tx,
                    None => {
                        self.xact_start = now_micros();
                        self.read_only_block = self.default_read_only();
                        self.db.begin()
                    }
                };
                let r = self.in_tx(&mut tx, stmt, params, max_rows);
                self.block_ran_query = true;
                if autocommit {
                    self.read_only_block = false;
                    self.commit_autocommit(tx, r, stmt, params, max_rows).await
                } else {
                    self.tx = Some(tx);
                    r
                }
            }
        }
    }

    fn set(&mut self, set: &ast::Set) -> Result<QueryResult, SqlError> {
        let value_text = |v: &ast::Expr| match v {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            // A quoted identifier keeps its quotes (`"$user"` in search_path).
            ast::Expr::Identifier(i) if i.quote_style == Some('"') => i.to_string(),
            ast::Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        };
        match set {
            ast::Set::SingleAssignment {
                scope,
                variable,
                values,
                ..
            } => {
                let name = object_name(variable);
                if values.is_empty() {
                    // RESET (see `parse_reset`).
                    if name == "all" {
                        self.settings.reset_all();
                        if let Some(base) = self.settings_without_local.as_mut() {
                            base.reset_all();
                        }
                    } else {
                        self.set_setting(&name, None, false)?;
                    }
                    return Ok(QueryResult::Command {
                        tag: "RESET".into(),
                    });
                }
                let is_default = matches!(values.as_slice(), [ast::Expr::Identifier(i)] if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"));
                let value = (!is_default)
                    .then(|| values.iter().map(value_text).collect::<Vec<_>>().join(", "));
                let local = matches!(scope, Some(ast::ContextModifier::Local));
                self.set_setting(&name, value.as_deref(), local)
            }
            ast::Set::SetTimeZone { value, local } => {
                let v = value_text(value);
                self.set_setting("timezone", Some(&v), *local)
            }
            ast::Set::SetNames { charset_name, .. } => {
                self.set_setting("client_encoding", Some(&charset_name.value), false)
            }
            ast::Set::SetTransaction { modes, .. } => {
                if wants_read_write(modes) && self.tx.is_some() && self.db.engine().is_reader() {
                    return Err(read_write_in_recovery());
                }
                // PostgreSQL fixes these once the block has taken its
                // snapshot.
                if self.tx.is_some() && self.block_ran_query {
                    let isolation = modes
                        .iter()
                        .any(|m| matches!(m, ast::TransactionMode::IsolationLevel(_)));
                    if isolation {
                        return Err(SqlError::new(
                            code::ACTIVE_SQL_TRANSACTION,
                            "SET TRANSACTION ISOLATION LEVEL must be called before any query",
                        ));
                    }
                    if wants_read_write(modes) && self.read_only_block {
                        return Err(SqlError::new(
                            code::ACTIVE_SQL_TRANSACTION,
                            "transaction read-write mode must be set before any query",
                        ));
                    }
                }
                match &mut self.tx {
                    None => self.notice(
                        "WARNING",
                        code::NO_ACTIVE_SQL_TRANSACTION,
                        "SET TRANSACTION can only be used in transaction blocks",
                    ),
                    Some(tx) => {
                        for m in modes {
                            match m {
                                ast::TransactionMode::AccessMode(
                                    ast::TransactionAccessMode::ReadOnly,
                                ) => {
                                    tx.set_read_only();
                                    self.read_only_block = true;
                                }
                                ast::TransactionMode::AccessMode(
                                    ast::TransactionAccessMode::ReadWrite,
                                ) if !tx.is_read_only() => self.read_only_block = false,
                                ast::TransactionMode::IsolationLevel(l) => {
                                    self.isolation = Some(
                                        match l {
                                            ast::TransactionIsolationLevel::ReadUncommitted => {
                                                "read uncommitted"
                                            }
                                            ast::TransactionIsolationLevel::ReadCommitted => {
                                                "read committed"
                                            }
                                            ast::TransactionIsolationLevel::Serializable => {
                                                "serializable"
                                            }
                                            _ => "repeatable read",
                                        }
                                        .to_string(),
                                    );
                                }
                                _ => {}
                            }
                        }
                    }
                }
                Ok(QueryResult::Command { tag: "SET".into() })
            }
            other => Err(SqlError::unsupported(format!("SET form {other}"))),
        }
    }

    /// SET [LOCAL] `name` to `value` (`None`: its default). A LOCAL value
    /// lasts until the end of the transaction block; outside one it has no
    /// effect, with PostgreSQL's warning.
    /// Applies what `set_config()` changed in a statement that succeeded:
    /// as `SET`, or as `SET LOCAL` inside a block (outside one, a local
    /// change ended with the statement's own transaction).
    fn apply_set_config(
        &mut self,
        changes: Vec<crate::sql::settings::PendingSetting>,
    ) -> Result<(), SqlError> {
        for change in changes {
            if change.local && self.tx.is_none() {
                continue;
            }
            self.set_setting(&change.name, change.value.as_deref(), change.local)?;
        }
        Ok(())
    }

    fn set_setting(
        &mut self,
        name: &str,
        value: Option<&str>,
        local: bool,
    ) -> Result<QueryResult, SqlError> {
        let done = Ok(QueryResult::Command { tag: "SET".into() });
        if local && self.tx.is_none() {
            // Checked as a plain SET would be, then forgotten.
            self.settings.clone().set(name, value)?;
            self.notice(
                "WARNING",
                code::NO_ACTIVE_SQL_TRANSACTION,
                "SET LOCAL can only be used in transaction blocks",
            );
            return done;
        }
        if local {
            if self.settings_without_local.is_none() {
                self.settings_without_local = Some(self.settings.clone());
            }
        } else if let Some(base) = self.settings_without_local.as_mut() {
            // A session-level SET survives the block's end; LOCAL ones not.
            base.set(name, value)?;
        }
        self.settings.set(name, value)?;
        done
    }

    fn describe(
        &self,
        stmt: &Statement,
        params: &mut Vec<Option<DataType>>,
    ) -> Result<Vec<Column>, SqlError> {
        let tx = match &self.tx {
            Some(t) => t,
            None => &self.db.begin(),
        };
        Ok(match stmt {
            Statement::Query(q) => {
                let (query, _) = self.plan(tx, q, params)?;
                query_columns(&query)
            }
            Statement::Insert(ins) => {
                let (def, _) = self.bind_insert_target(tx, ins)?;
                // PostgreSQL checks ON CONFLICT when it analyzes the
                // statement, so its errors come at Parse.
                let scope = table_scope(&def, ins.table_alias.as_ref().map(ident).as_deref());
                insert_on_conflict(ins, &def, &scope)?;
                self.bind_insert_params(tx, ins, &def, params)?
            }
            Statement::Update {
                table,
                assignments,
                selection,
                returning,
                ..
            } => {
                let def = self.table_from_factor(tx, &table.relation)?;
                let scope = table_scope(&def, None);
                let planner = Planner::new(tx);
                let mut ctx = BindCtx::with_planner(params, &planner);
                for a in assignments {
                    let (i, ty) = assign_target(&def, a)?;
                    let _ = i;
                    let _ = bind(&a.value, &scope, &mut ctx)?.coerce_to(ty);
                }
                if let Some(w) = selection {
                    bind(w, &scope, &mut ctx)?;
                }
                returning_columns(returning.as_deref(), &def, &scope, &mut ctx)?
            }
            Statement::Delete(d) => {
                let def = self.delete_target(tx, d)?;
                let scope = table_scope(&def, None);
                let planner = Planner::new(tx);
                let mut ctx = BindCtx::with_planner(params, &planner);
                if let Some(w) = &d.selection {
                    bind(w, &scope, &mut ctx)?;
                }
                returning_columns(d.returning.as_deref(), &def, &scope, &mut ctx)?
            }
            Statement::Explain { .. } => vec![col_desc("QUERY PLAN", DataType::Text)],
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(ident).collect::<Vec<_>>().join(" ");
                if name == "all" {
                    vec![
                        col_desc("name", DataType::Text),
                        col_desc("setting", DataType::Text),
                        col_desc("description", DataType::Text),
                    ]
                } else {
                    vec![col_desc(&Settings::display_name(&name), DataType::Text)]
                }
            }
            _ => Vec::new(),
        })
    }

    pub(super) fn eval_ctx<'a>(
        &'a self,
        params: &'a [Datum],
        text: &'a TextContext,
        now: i64,
    ) -> EvalCtx<'a> {
        EvalCtx {
            params,
            outer: &[],
            sub: None,
            catalog: None,
            text,
            now,
            database: &self.database,
            user: &self.user,
        }
    }

    pub(super) fn check_cancel(&self) -> Result<(), SqlError> {
        if self.cancel.load(AtomicOrdering::Relaxed) {
            return Err(SqlError::new(
                code::QUERY_CANCELED,
                "canceling statement due to user request",
            ));
        }
        Ok(())
    }

    /// Commits the implicit transaction of a statement run outside a
    /// block and answers `r`, its result. At READ COMMITTED (the default),
    /// an INSERT, UPDATE or DELETE that loses first-committer-wins (40001:
    /// a row it wrote was committed by another session after its snapshot,
    /// found at the write or at commit) runs again on a new snapshot, up to [`AUTOCOMMIT_RETRIES_MAX`] times:
    /// PostgreSQL never fails such a statement at READ COMMITTED (it waits
    /// for the other writer and re-checks the row), and concurrent upserts
    /// of one key are what change-data producers send. Nothing of the first
    /// run reached the client, and its writes were never applied. At
    /// REPEATABLE READ or SERIALIZABLE the 40001 stands, as in PostgreSQL.
    async fn commit_autocommit(
        &mut self,
        mut tx: Transaction,
        mut r: Result<QueryResult, SqlError>,
        stmt: &Statement,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        let mut retries = 0;
        loop {
            // The conflict shows at the write (a row changed since the
            // snapshot) or at commit (a row committed by a session that
            // grouped with this one).
            let outcome = match r {
                Ok(result) if tx.is_empty() => Ok(result),
                Ok(result) => tx
                    .commit()
                    .await
                    .map(|_| result)
                    .map_err(SqlError::from_engine),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(result) => return Ok(result),
                Err(e)
                    if e.code == code::SERIALIZATION_FAILURE
                        && retries < AUTOCOMMIT_RETRIES_MAX
                        && self.reruns_on_conflict(stmt) =>
                {
                    retries += 1;
                    self.check_cancel()?;
                    // The commit it lost to may not be durable yet, and a
                    // snapshot (at the VDL) would not see it: wait for
                    // everything submitted so far first.
                    let volume = self.db.engine().volume().clone();
                    if volume.wait_durable(volume.last_lsn()).await.is_err() {
                        return Err(e);
                    }
                    tx = self.db.begin();
                    r = self.in_tx(&mut tx, stmt, params, max_rows);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `stmt`, run outside a block, is run again when it loses a
    /// write conflict: INSERT, UPDATE and DELETE at READ COMMITTED.
    fn reruns_on_conflict(&self, stmt: &Statement) -> bool {
        matches!(
            stmt,
            Statement::Insert(_) | Statement::Update { .. } | Statement::Delete(_)
        ) && self
            .settings
            .get("default_transaction_isolation")
            .is_ok_and(|level| level == "read committed")
    }

    pub(super) fn in_tx(
        &mut self,
        tx: &mut Transaction,
        stmt: &Statement,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        if self.read_only_block {
            let what = match stmt {
                Statement::Insert(_) => Some("INSERT"),
                Statement::Update { .. } => Some("UPDATE"),
                Statement::Delete(_) => Some("DELETE"),
                Statement::CreateTable(_) => Some("CREATE TABLE"),
                Statement::CreateIndex(_) => Some("CREATE INDEX"),
                Statement::Drop { .. } => Some("DROP"),
                Statement::Truncate { .. } => Some("TRUNCATE TABLE"),
                Statement::AlterTable { .. } => Some("ALTER TABLE"),
                _ => None,
            };
            if let Some(what) = what {
                return Err(SqlError::new(
                    code::READ_ONLY_SQL_TRANSACTION,
                    format!("cannot execute {what} in a read-only transaction"),
                ));
            }
        }
        match stmt {
            Statement::Query(q) if crate::sql::dml_cte::has_dml_cte(q) => {
                self.run_dml_cte(tx, q, params, max_rows)
            }
            Statement::Query(q) => self.locking_query(tx, q, params, max_rows),
            Statement::Explain {
                statement,
                analyze,
                options,
                ..
            } => {
                let analyze = *analyze
                    || options.iter().flatten().any(|o| {
                        o.name.value.eq_ignore_ascii_case("analyze")
                            && o.arg.as_ref().is_none_or(|a| {
                                !matches!(
                                    a.to_string().to_lowercase().as_str(),
                                    "false" | "off" | "0"
                                )
                            })
                    });
                self.explain(tx, statement, analyze, params)
            }
            Statement::CreateTable(ct) => self.create_table(tx, ct),
            Statement::CreateIndex(ci) => self.create_index(tx, ci),
            Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => self.drop(tx, object_type, *if_exists, names),
            Statement::Truncate { table_names, .. } => {
                for t in table_names {
                    let name = object_name(&t.name);
                    let id = tx
                        .catalog()
                        .table_by_name(&name)
                        .map(|d| d.id)
                        .ok_or_else(|| no_table(&name))?;
                    tx.truncate(id).map_err(SqlError::from_engine)?;
                }
                Ok(QueryResult::Command {
                    tag: "TRUNCATE TABLE".into(),
                })
            }
            Statement::Insert(ins) => self.insert(tx, ins, params),
            Statement::Update {
                table,
                assignments,
                selection,
                returning,
                from,
                ..
            } => {
                if from.is_some() {
                    return Err(SqlError::unsupported("UPDATE ... FROM"));
                }
                self.update(
                    tx,
                    &table.relation,
                    assignments,
                    selection.as_ref(),
                    returning.as_deref(),
                    params,
                )
            }
            Statement::Delete(d) => self.delete(tx, d, params),
            Statement::AlterTable {
                name,
                if_exists,
                operations,
                ..
            } => self.alter_table(tx, name, *if_exists, operations),
            Statement::Copy { .. } => self.copy_to(tx, stmt, params),
            // Sextant has no asynchronous notifications.
            Statement::LISTEN { .. } => Err(SqlError::unsupported("LISTEN")),
            Statement::NOTIFY { .. } => Err(SqlError::unsupported("NOTIFY")),
            Statement::UNLISTEN { .. } => Err(SqlError::unsupported("UNLISTEN")),
            other => Err(SqlError::unsupported(format!(
                "statement {}",
                first_words(&other.to_string())
            ))),
        }
    }

    fn create_table(
        &self,
        tx: &mut Transaction,
        ct: &ast::CreateTable,
    ) -> Result<QueryResult, SqlError> {
        let name = object_name(&ct.name);
        if tx.catalog().relation_name_taken(&name) {
            if ct.if_not_exists {
                self.notice(
                    "NOTICE",
                    code::DUPLICATE_TABLE,
                    format!("relation \"{name}\" already exists, skipping"),
                );
                return Ok(QueryResult::Command {
                    tag: "CREATE TABLE".into(),
                });
            }
            return Err(SqlError::new(
                code::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        if ct.query.is_some() {
            return Err(SqlError::unsupported("CREATE TABLE AS"));
        }
        // sqlparser reads these; Sextant has neither partitioned nor
        // inheriting tables, and a table made without them would not be
        // what was asked for.
        if ct.partition_by.is_some() {
            return Err(SqlError::unsupported("CREATE TABLE ... PARTITION BY"));
        }
        if ct.inherits.is_some() {
            return Err(SqlError::unsupported("CREATE TABLE ... INHERITS"));
        }
        let mut columns = Vec::new();
        let mut pk: Vec<usize> = Vec::new();
        let mut uniques: Vec<Vec<usize>> = Vec::new();
        for c in &ct.columns {
            let cname = ident(&c.name);
            if columns.iter().any(|x: &ColumnDef| x.name == cname) {
                return Err(SqlError::new(
                    code::DUPLICATE_COLUMN,
                    format!("column \"{cname}\" specified more than once"),
                ));
            }
            // An unknown type points at the type, the token after the name
            // (a pseudo-type has no position, as in PostgreSQL).
            let ty = expr::data_type(&c.data_type).map_err(|e| e.after_span(c.name.span))?;
            let ty = storable_column_type(&cname, ty)?;
            let mut col = ColumnDef {
                name: cname,
                type_oid: ty.oid().0,
                type_mod: column_typmod(&c.data_type, ty)?,
                not_null: false,
                default: None,
                missing: None,
            };
            for o in &c.options {
                match &o.option {
                    ast::ColumnOption::NotNull => col.not_null = true,
                    ast::ColumnOption::Null => {}
                    ast::ColumnOption::Default(e) => {
                        reject_subqueries(e, "DEFAULT expression")?;
                        col.default = Some(e.to_string());
                    }
                    ast::ColumnOption::Unique {
                        is_primary: true, ..
                    } => {
                        if !pk.is_empty() {
                            let err = SqlError::new(
                                code::INVALID_TABLE_DEFINITION,
                                format!(
                                    "multiple primary keys for table \"{name}\" are not allowed"
                                ),
                            );
                            return Err(match &o.name {
                                Some(n) => err.at_span(n.span),
                                None => err.at_keyword_after(c.name.span, "primary"),
                            });
                        }
                        pk = vec![columns.len()];
                        col.not_null = true;
                    }
                    ast::ColumnOption::Unique {
                        is_primary: false, ..
                    } => uniques.push(vec![columns.len()]),
                    other => return Err(SqlError::unsupported(format!("column option {other}"))),
                }
            }
            columns.push(col);
        }
        for con in &ct.constraints {
            let cols_of = |cols: &[ast::IndexColumn],
                           columns: &[ColumnDef]|
             -> Result<Vec<usize>, SqlError> {
                cols.iter()
                    .map(|ic| {
                        let n = match &ic.column.expr {
                            ast::Expr::Identifier(i) => ident(i),
                            other => {
                                return Err(SqlError::unsupported(format!(
                                    "constraint on expression {other}"
                                )))
                            }
                        };
                        columns.iter().position(|c| c.name == n).ok_or_else(|| {
                            SqlError::new(
                                code::UNDEFINED_COLUMN,
                                format!("column \"{n}\" named in key does not exist"),
                            )
                        })
                    })
                    .collect()
            };
            match con {
                ast::TableConstraint::PrimaryKey { columns: cols, .. } => {
                    if !pk.is_empty() {
                        return Err(SqlError::new(
                            code::INVALID_TABLE_DEFINITION,
                            format!("multiple primary keys for table \"{name}\" are not allowed"),
                        ));
                    }
                    pk = cols_of(cols, &columns)?;
                    for i in &pk {
                        columns[*i].not_null = true;
                    }
                }
                ast::TableConstraint::Unique { columns: cols, .. } => {
                    uniques.push(cols_of(cols, &columns)?)
                }
                other => return Err(SqlError::unsupported(format!("table constraint {other}"))),
            }
        }
        check_index_keys(pk.len())?;
        for cols in &uniques {
            check_index_keys(cols.len())?;
        }
        let id = tx
            .create_table(NewTable {
                name: name.clone(),
                columns,
                primary_key: pk,
            })
            .map_err(SqlError::from_engine)?;
        for cols in uniques {
            let def = tx.catalog().table(id).expect("created").clone();
            // `<table>_<columns>_key`, numbered from 1 when taken
            // (PostgreSQL's ChooseRelationName).
            let base = format!(
                "{name}_{}_key",
                cols.iter()
                    .map(|i| def.columns[*i].name.as_str())
                    .collect::<Vec<_>>()
                    .join("_")
            );
            let mut ixname = base.clone();
            let mut n = 0;
            while tx.catalog().relation_name_taken(&ixname) {
                n += 1;
                ixname = format!("{base}{n}");
            }
            tx.create_index(
                id,
                NewIndex {
                    name: ixname,
                    unique: true,
                    keys: cols.into_iter().map(IndexKey::Column).collect(),
                    constraint: true,
                },
            )
            .map_err(SqlError::from_engine)?;
        }
        Ok(QueryResult::Command {
            tag: "CREATE TABLE".into(),
        })
    }

    fn create_index(
        &self,
        tx: &mut Transaction,
        ci: &ast::CreateIndex,
    ) -> Result<QueryResult, SqlError> {
        let tname = object_name(&ci.table_name);
        let def = tx
            .catalog()
            .table_by_name(&tname)
            .cloned()
            .ok_or_else(|| no_table(&tname))?;
        let name = match &ci.name {
            Some(n) => object_name(n),
            None => choose_index_name(tx.catalog(), &tname, &ci.columns),
        };
        if tx.catalog().relation_name_taken(&name) {
            if ci.if_not_exists {
                self.notice(
                    "NOTICE",
                    code::DUPLICATE_TABLE,
                    format!("relation \"{name}\" already exists, skipping"),
                );
                return Ok(QueryResult::Command {
                    tag: "CREATE INDEX".into(),
                });
            }
            return Err(SqlError::new(
                code::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        if ci.predicate.is_some() {
            return Err(SqlError::unsupported("partial indexes"));
        }
        check_access_method(ci)?;
        let scope = table_scope(&def, None);
        let mut keys = Vec::new();
        for c in &ci.columns {
            match &c.column.expr {
                ast::Expr::Identifier(i) => {
                    let n = ident(i);
                    let pos = def.column(&n).ok_or_else(|| {
                        SqlError::new(
                            code::UNDEFINED_COLUMN,
                            format!("column \"{n}\" does not exist"),
                        )
                    })?;
                    keys.push(IndexKey::Column(pos));
                }
                e => {
                    let e = strip_nested(e);
                    let mut params = Vec::new();
                    let b = bind(e, &scope, &mut BindCtx::new(&mut params))?;
                    if !b.ty().is_key_encodable() {
                        return Err(SqlError::new(
                            code::UNDEFINED_OBJECT,
                            format!("data type {} has no default operator class for access method \"btree\"", b.ty().format_type()),
                        ));
                    }
                    keys.push(IndexKey::Expr(e.to_string()));
                }
            }
        }
        check_index_keys(keys.len())?;
        tx.create_index(
            def.id,
            NewIndex {
                name,
                unique: ci.unique,
                keys,
                constraint: false,
            },
        )
        .map_err(SqlError::from_engine)?;
        Ok(QueryResult::Command {
            tag: "CREATE INDEX".into(),
        })
    }

    fn drop(
        &self,
        tx: &mut Transaction,
        object_type: &ast::ObjectType,
        if_exists: bool,
        names: &[ast::ObjectName],
    ) -> Result<QueryResult, SqlError> {
        match object_type {
            ast::ObjectType::Table => {
                for n in names {
                    let name = object_name(n);
                    match tx.catalog().table_by_name(&name).map(|d| d.id) {
                        Some(id) => tx.drop_table(id).map_err(SqlError::from_engine)?,
                        None if if_exists => self.notice(
                            "NOTICE",
                            code::SUCCESS,
                            format!("table \"{name}\" does not exist, skipping"),
                        ),
                        None => {
                            return Err(SqlError::new(
                                code::UNDEFINED_TABLE,
                                format!("table \"{name}\" does not exist"),
                            ))
                        }
                    }
                }
                Ok(QueryResult::Command {
                    tag: "DROP TABLE".into(),
                })
            }
            ast::ObjectType::Index => {
                for n in names {
                    let name = object_name(n);
                    if tx.catalog().index_by_name(&name).is_none() {
                        if if_exists {
                            self.notice(
                                "NOTICE",
                                code::SUCCESS,
                                format!("index \"{name}\" does not exist, skipping"),
                            );
                            continue;
                        }
                        return Err(SqlError::new(
                            code::UNDEFINED_OBJECT,
                            format!("index \"{name}\" does not exist"),
                        ));
                    }
                    if let Some((t, _)) = tx
                        .catalog()
                        .index_by_name(&name)
                        .filter(|(_, ix)| ix.constraint)
                    {
                        return Err(SqlError::new(
                            code::DEPENDENT_OBJECTS_STILL_EXIST,
                            format!(
                                "cannot drop index {name} because constraint {name} on table {} requires it",
                                t.name
                            ),
                        )
                        .with_hint(format!(
                            "You can drop constraint {name} on table {} instead.",
                            t.name
                        )));
                    }
                    tx.drop_index(&name).map_err(SqlError::from_engine)?;
                }
                Ok(QueryResult::Command {
                    tag: "DROP INDEX".into(),
                })
            }
            other => Err(SqlError::unsupported(format!("DROP {other}"))),
        }
    }

    fn bind_insert_target(
        &self,
        tx: &Transaction,
        ins: &ast::Insert,
    ) -> Result<(Arc<TableDef>, Vec<usize>), SqlError> {
        let name = match &ins.table {
            ast::TableObject::TableName(n) => object_name(n),
            other => return Err(SqlError::unsupported(format!("INSERT INTO {other}"))),
        };
        let span = match &ins.table {
            ast::TableObject::TableName(n) => plan::name_span(n),
            _ => sqlparser::tokenizer::Span::empty(),
        };
        let def = tx
            .catalog()
            .table_by_name(&name)
            .cloned()
            .ok_or_else(|| no_table(&name).at_span(span))?;
        let targets: Vec<usize> = if ins.columns.is_empty() {
            (0..def.columns.len()).collect()
        } else {
            let mut seen = Vec::new();
            for c in &ins.columns {
                let n = ident(c);
                let i = def.column(&n).ok_or_else(|| {
                    SqlError::new(
                        code::UNDEFINED_COLUMN,
                        format!("column \"{n}\" of relation \"{name}\" does not exist"),
                    )
                    .at_span(c.span)
                })?;
                if seen.contains(&i) {
                    return Err(SqlError::new(
                        code::DUPLICATE_COLUMN,
                        format!("column \"{n}\" specified more than once"),
                    )
                    .at_span(c.span));
                }
                seen.push(i);
            }
            seen
        };
        Ok((def, targets))
    }

    /// Binds an INSERT's values for parameter inference and returns its RETURNING columns.
    fn bind_insert_params(
        &self,
        tx: &Transaction,
        ins: &ast::Insert,
        def: &TableDef,
        params: &mut Vec<Option<DataType>>,
    ) -> Result<Vec<Column>, SqlError> {
        let (_, targets) = self.bind_insert_target(tx, ins)?;
        let empty = Scope::default();
        if let Some(src) = &ins.source {
            if let ast::SetExpr::Values(v) = src.body.as_ref() {
                let mut ctx = BindCtx::new(params);
                for row in &v.rows {
                    for (e, t) in row.iter().zip(&targets) {
                        if is_default(e) {
                            continue;
                        }
                        let ty = column_type(&def.columns[*t]);
                        let b = bind(e, &empty, &mut ctx)?;
                        if let Expr::Param(i, DataType::Text) = b {
                            if ctx.params[i].is_none() {
                                ctx.params[i] = Some(ty);
                            }
                        } else {
                            crate::sql::expr::check_literal(&b.coerce_to(ty), e)?;
                        }
                    }
                }
            } else {
                // A query source types the parameters it uses, as in
                // `INSERT … SELECT CAST($1 AS int)`.
                self.plan(tx, src, params)?;
            }
        }
        let scope = table_scope(def, None);
        returning_columns(
            ins.returning.as_deref(),
            def,
            &scope,
            &mut BindCtx::new(params),
        )
    }

    fn insert(
        &self,
        tx: &mut Transaction,
        ins: &ast::Insert,
        params: &[Datum],
    ) -> Result<QueryResult, SqlError> {
        let bound = self.bound_insert(tx, ins, params)?;
        let BoundInsert {
            def,
            targets,
            scope,
            ..
        } = bound.as_ref();
        let text = self.text_ctx();
        let now = self.xact_start;
        let ectx = self.eval_ctx(params, &text, now);
        // Rows as given; `None` marks DEFAULT.
        let provided: Vec<Vec<Option<Datum>>> = match (&bound.values, ins.source.as_deref()) {
            (Some(values), _) => {
                let mut rows = Vec::with_capacity(values.len());
                for row in values {
                    let mut vals = Vec::with_capacity(row.len());
                    for (b, t) in row.iter().zip(targets) {
                        let c = &def.columns[*t];
                        vals.push(match b {
                            None => None,
                            Some(b) => {
                                Some(assign_cast(eval(b, &[], &ectx)?, column_type(c), c, &ectx)?)
                            }
                        });
                    }
                    rows.push(vals);
                }
                rows
            }
            (None, Some(src)) => {
                let (types, rows) = self.run_insert_source(tx, &bound, src, params)?;
                let mut out = Vec::new();
                for r in rows {
                    let mut vals = Vec::new();
                    for ((d, t), from) in r.into_iter().zip(targets).zip(&types) {
                        let ty = column_type(&def.columns[*t]);
                        let d = match (from, d) {
                            // `character(n)` into another string type loses
                            // its padding, as through `bpchar_trimmed`.
                            (DataType::Bpchar { .. }, Datum::Text(s))
                                if !matches!(ty, DataType::Bpchar { .. }) =>
                            {
                                Datum::Text(crate::pgtext::bpchar_text(&s).to_owned())
                            }
                            (_, d) => d,
                        };
                        vals.push(Some(assign_cast(d, ty, &def.columns[*t], &ectx)?));
                    }
                    out.push(vals);
                }
                out
            }
            (None, None) => unreachable!("DEFAULT VALUES is bound as one row of defaults"),
        };
        let mut count = 0u64;
        let mut returned = Vec::new();
        // Keys of the rows this command inserted or updated: DO UPDATE may
        // not reach one of them a second time (21000), as in PostgreSQL.
        let mut affected: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        for vals in provided {
            self.check_cancel()?;
            let mut row = vec![None; def.columns.len()];
            for (v, t) in vals.into_iter().zip(targets) {
                row[*t] = v;
            }
            let mut full = Vec::with_capacity(def.columns.len());
            for (i, c) in def.columns.iter().enumerate() {
                let v = match row[i].take() {
                    Some(v) => v,
                    None => match bound.default(i)? {
                        None => Datum::Null,
                        Some(b) => assign_cast(eval(b, &[], &ectx)?, column_type(c), c, &ectx)?,
                    },
                };
                full.push(v);
            }
            check_not_null(def, &full, ectx.text)?;
            let result_row = match &bound.on_conflict {
                None => {
                    tx.insert(def.id, full.clone())
                        .map_err(SqlError::from_engine)?;
                    Some(full)
                }
                Some(conflict) => self.upsert(tx, &bound, conflict, &mut affected, full, &ectx)?,
            };
            if let Some(r) = result_row {
                count += 1;
                if let Some(outs) = bound.returning()? {
                    let row = outs
                        .iter()
                        .map(|(_, e)| Ok(text_of(&eval(e, &r, &ectx)?, ectx.text)))
                        .collect::<Result<Vec<_>, SqlError>>()?;
                    returned.push(row);
                }
            }
        }
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let tag = format!("INSERT 0 {count}");
        dml_result(tag, ins.returning.as_deref(), def, scope, &mut pt, returned)
    }

    /// `ins` bound: the prepared statement's bound form when the catalog
    /// and the parameter types are those it was bound with, else a new
    /// one (kept for the prepared statement, if one is running).
    fn bound_insert(
        &self,
        tx: &Transaction,
        ins: &ast::Insert,
        params: &[Datum],
    ) -> Result<Arc<BoundInsert>, SqlError> {
        let param_types: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        // Only the prepared statement itself, not an INSERT inside it (of
        // a WITH), which would take its place.
        let prepared = self.active_prepared.as_ref().filter(|name| {
            let top = self
                .prepared
                .get(name.as_str())
                .and_then(|p| p.stmt.as_deref());
            matches!(top, Some(Statement::Insert(top)) if std::ptr::eq(top, ins))
        });
        if let Some(name) = prepared {
            if let Some(c) = self.plans.lock().expect("plan cache").get(name) {
                if let Cached::Insert {
                    param_types: types,
                    bound,
                } = &c.plan
                {
                    if types == &param_types && &c.catalog == tx.catalog() {
                        return Ok(bound.clone());
                    }
                }
            }
        }
        let bound = Arc::new(self.bind_insert(tx, ins, param_types.clone())?);
        if let Some(name) = prepared {
            self.plans.lock().expect("plan cache").insert(
                name.clone(),
                CachedPlan {
                    catalog: tx.catalog().clone(),
                    plan: Cached::Insert {
                        param_types,
                        bound: bound.clone(),
                    },
                },
            );
        }
        Ok(bound)
    }

    /// Binds `ins` (see [`BoundInsert`]) with parameters of `param_types`.
    fn bind_insert(
        &self,
        tx: &Transaction,
        ins: &ast::Insert,
        mut param_types: Vec<Option<DataType>>,
    ) -> Result<BoundInsert, SqlError> {
        // What the parameters are before the VALUES infer any: what the
        // parts bound later (DO UPDATE, RETURNING) start from.
        let late_param_types = param_types.clone();
        let (def, targets) = self.bind_insert_target(tx, ins)?;
        let values = match ins.source.as_deref().map(|q| q.body.as_ref()) {
            // DEFAULT VALUES: one row of defaults.
            None => Some(vec![Vec::new()]),
            Some(ast::SetExpr::Values(v)) => {
                let empty = Scope::default();
                let mut rows = Vec::with_capacity(v.rows.len());
                for row in &v.rows {
                    if row.len() > targets.len() {
                        use sqlparser::ast::Spanned;
                        return Err(SqlError::new(
                            code::SYNTAX_ERROR,
                            "INSERT has more expressions than target columns",
                        )
                        .at_span(row[targets.len()].span()));
                    }
                    if row.len() < targets.len() && !ins.columns.is_empty() {
                        return Err(SqlError::new(
                            code::SYNTAX_ERROR,
                            "INSERT has more target columns than expressions",
                        )
                        .at_span(ins.columns[row.len()].span));
                    }
                    let mut vals = Vec::with_capacity(row.len());
                    for (e, t) in row.iter().zip(&targets) {
                        if is_default(e) {
                            vals.push(None);
                            continue;
                        }
                        let ty = column_type(&def.columns[*t]);
                        let b = bind(e, &empty, &mut BindCtx::new(&mut param_types))?.coerce_to(ty);
                        vals.push(Some(assignable(b, ty, &def.columns[*t].name, e)?));
                    }
                    rows.push(vals);
                }
                Some(rows)
            }
            Some(ast::SetExpr::Select(_) | ast::SetExpr::Query(_)) => None,
            Some(other) => return Err(SqlError::unsupported(format!("INSERT source {other}"))),
        };
        let scope = table_scope(&def, ins.table_alias.as_ref().map(ident).as_deref());
        let on_conflict = insert_on_conflict(ins, &def, &scope)?.map(|(oc, arbiters)| {
            let indexes = arbiters
                .indexes
                .iter()
                .map(|ix| {
                    def.indexes
                        .iter()
                        .position(|d| std::ptr::eq(d, *ix))
                        .expect("an arbiter is an index of the table")
                })
                .collect();
            BoundConflict {
                primary_key: arbiters.primary_key,
                indexes,
                action: oc.action.clone(),
                update: std::sync::OnceLock::new(),
            }
        });
        let defaults = def
            .columns
            .iter()
            .map(|_| std::sync::OnceLock::new())
            .collect();
        Ok(BoundInsert {
            def,
            targets,
            values,
            scope,
            defaults,
            on_conflict,
            returning: ins.returning.clone(),
            returning_bound: std::sync::OnceLock::new(),
            late_param_types,
            source_plan: std::sync::OnceLock::new(),
        })
    }

    /// Inserts `row`, or, when it conflicts with an existing row on one of
    /// `conflict`'s arbiters, does its ON CONFLICT action to that row.
    /// Returns the row inserted or updated, if any; `affected` holds the
    /// keys of the rows this command inserted or updated so far.
    fn upsert(
        &self,
        tx: &mut Transaction,
        bound: &BoundInsert,
        conflict: &BoundConflict,
        affected: &mut std::collections::HashSet<Vec<u8>>,
        row: Vec<Datum>,
        ectx: &EvalCtx<'_>,
    ) -> Result<Option<Vec<Datum>>, SqlError> {
        let def = bound.def.as_ref();
        // The existing row the new one conflicts with, if any.
        let existing: Option<crate::engine::Row> = {
            let mut found = None;
            if conflict.primary_key {
                let pk: Vec<Datum> = def.primary_key.iter().map(|i| row[*i].clone()).collect();
                if let Some(r) = tx.get(def.id, &pk).map_err(SqlError::from_engine)? {
                    let key = tx.encode_pk(def.id, &pk).map_err(SqlError::from_engine)?;
                    found = Some((key, r));
                }
            }
            for ix in &conflict.indexes {
                if found.is_some() {
                    break;
                }
                found = unique_conflict(tx, def, &def.indexes[*ix], &row)?;
            }
            found
        };
        let Some((existing_key, existing)) = existing else {
            let key = tx
                .insert(def.id, row.clone())
                .map_err(SqlError::from_engine)?;
            affected.insert(key);
            return Ok(Some(row));
        };
        match &conflict.action {
            ast::OnConflictAction::DoNothing => Ok(None),
            ast::OnConflictAction::DoUpdate(_) if affected.contains(&existing_key) => {
                Err(SqlError::new(
                    code::CARDINALITY_VIOLATION,
                    "ON CONFLICT DO UPDATE command cannot affect row a second time",
                )
                .with_hint(
                    "Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
                ))
            }
            ast::OnConflictAction::DoUpdate(du) => {
                let update = conflict
                    .update
                    .get_or_init(|| bind_do_update(bound, du))
                    .as_ref()
                    .map_err(Clone::clone)?;
                // The row's columns, then EXCLUDED's.
                let mut both = existing.clone();
                both.extend(row.iter().cloned());
                if let Some(w) = &update.selection {
                    if !matches!(eval(w, &both, ectx)?, Datum::Bool(true)) {
                        return Ok(None);
                    }
                }
                let mut new = existing.clone();
                for (i, b) in &update.assignments {
                    let c = &def.columns[*i];
                    new[*i] = assign_cast(eval(b, &both, ectx)?, column_type(c), c, ectx)?;
                }
                check_not_null(def, &new, ectx.text)?;
                let key = tx
                    .update(def.id, &existing_key, new.clone())
                    .map_err(SqlError::from_engine)?;
                affected.insert(key);
                Ok(Some(new))
            }
        }
    }

    fn project_returning(
        &self,
        items: &[ast::SelectItem],
        def: &TableDef,
        scope: &Scope,
        row: &[Datum],
        ectx: &EvalCtx<'_>,
    ) -> Result<Vec<Option<String>>, SqlError> {
        let mut params: Vec<Option<DataType>> = ectx.params.iter().map(|d| d.data_type()).collect();
        let outs = select_items(items, def, scope, &mut BindCtx::new(&mut params))?;
        outs.iter()
            .map(|(_, e)| Ok(text_of(&eval(e, row, ectx)?, ectx.text)))
            .collect()
    }

    fn table_from_factor(
        &self,
        tx: &Transaction,
        f: &ast::TableFactor,
    ) -> Result<Arc<TableDef>, SqlError> {
        match f {
            ast::TableFactor::Table { name, .. } => {
                let n = object_name(name);
                tx.catalog()
                    .table_by_name(&n)
                    .cloned()
                    .ok_or_else(|| no_table(&n).at_span(plan::name_span(name)))
            }
            other => Err(SqlError::unsupported(format!("FROM {other}"))),
        }
    }

    fn delete_target(&self, tx: &Transaction, d: &ast::Delete) -> Result<Arc<TableDef>, SqlError> {
        let tables = match &d.from {
            ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
        };
        let [t] = tables.as_slice() else {
            return Err(SqlError::unsupported("DELETE from several tables"));
        };
        if !t.joins.is_empty() || d.using.is_some() {
            return Err(SqlError::unsupported("DELETE ... USING"));
        }
        self.table_from_factor(tx, &t.relation)
    }

    fn update(
        &self,
        tx: &mut Transaction,
        factor: &ast::TableFactor,
        assignments: &[ast::Assignment],
        selection: Option<&ast::Expr>,
        returning: Option<&[ast::SelectItem]>,
        params: &[Datum],
    ) -> Result<QueryResult, SqlError> {
        let def = self.table_from_factor(tx, factor)?;
        let scope = table_scope(&def, None);
        let text = self.text_ctx();
        let ectx = self.eval_ctx(params, &text, self.xact_start);
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let planner = Planner::new(tx);
        let (filter, sets) = {
            let mut ctx = BindCtx::with_planner(&mut pt, &planner);
            let filter = selection
                .map(|w| bind(w, &scope, &mut ctx).map(|e| e.coerce_to(DataType::Bool)))
                .transpose()?;
            let sets: Vec<(usize, DataType, Expr)> = assignments
                .iter()
                .map(|a| {
                    let (i, ty) = assign_target(&def, a)?;
                    let b = bind(&a.value, &scope, &mut ctx)?.coerce_to(ty);
                    Ok((i, ty, assignable(b, ty, &def.columns[i].name, &a.value)?))
                })
                .collect::<Result<_, SqlError>>()?;
            (filter, sets)
        };
        let stmt = planner.finish();
        let scan = plan::dml_scan(def.clone(), filter, selection.map(|w| w.to_string()));
        // Compute every new row first, then write them.
        let mut changes = Vec::new();
        {
            let exec = Exec::new(tx, &stmt, &self.cancel, self.deadline())
                .with_status(self.db.status_source());
            let ectx = exec.eval_ctx(&ectx);
            for (key, old) in exec.scan(&scan, &[], &ectx)? {
                let mut new = old.clone();
                for (i, ty, e) in &sets {
                    new[*i] = assign_cast(eval(e, &old, &ectx)?, *ty, &def.columns[*i], &ectx)?;
                }
                check_not_null(&def, &new, ectx.text)?;
                changes.push((key, new));
            }
        }
        let mut returned = Vec::new();
        let n = changes.len();
        for (key, new) in changes {
            self.check_cancel()?;
            tx.update(def.id, &key, new.clone())
                .map_err(SqlError::from_engine)?;
            if let Some(ret) = returning {
                returned.push(self.project_returning(ret, &def, &scope, &new, &ectx)?);
            }
        }
        dml_result(
            format!("UPDATE {n}"),
            returning,
            &def,
            &scope,
            &mut pt,
            returned,
        )
    }

    fn delete(
        &self,
        tx: &mut Transaction,
        d: &ast::Delete,
        params: &[Datum],
    ) -> Result<QueryResult, SqlError> {
        let def = self.delete_target(tx, d)?;
        let scope = table_scope(&def, None);
        let text = self.text_ctx();
        let ectx = self.eval_ctx(params, &text, self.xact_start);
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let planner = Planner::new(tx);
        let filter = {
            let mut ctx = BindCtx::with_planner(&mut pt, &planner);
            d.selection
                .as_ref()
                .map(|w| bind(w, &scope, &mut ctx).map(|e| e.coerce_to(DataType::Bool)))
                .transpose()?
        };
        let stmt = planner.finish();
        let scan = plan::dml_scan(
            def.clone(),
            filter,
            d.selection.as_ref().map(|w| w.to_string()),
        );
        let rows = {
            let exec = Exec::new(tx, &stmt, &self.cancel, self.deadline())
                .with_status(self.db.status_source());
            let ectx = exec.eval_ctx(&ectx);
            exec.scan(&scan, &[], &ectx)?
        };
        let n = rows.len();
        let mut returned = Vec::new();
        for (key, old) in rows {
            self.check_cancel()?;
            tx.delete(def.id, &key).map_err(SqlError::from_engine)?;
            if let Some(ret) = &d.returning {
                returned.push(self.project_returning(ret, &def, &scope, &old, &ectx)?);
            }
        }
        dml_result(
            format!("DELETE {n}"),
            d.returning.as_deref(),
            &def,
            &scope,
            &mut pt,
            returned,
        )
    }

    /// Plans a query, with parameter types inferred into `params`.
    fn plan(
        &self,
        tx: &Transaction,
        q: &ast::Query,
        params: &mut Vec<Option<DataType>>,
    ) -> Result<(plan::Query, plan::Statement), SqlError> {
        let planner = Planner::new(tx).statement();
        let query = {
            let mut ctx = BindCtx::with_planner(params, &planner);
            planner.plan_query(q, &mut ctx)?
        };
        Ok((query, planner.finish()))
    }

    /// The plan of `q`: a prepared statement's cached plan when the catalog
    /// has not changed since it was made, else a new one.
    fn plan_cached(
        &self,
        tx: &Transaction,
        q: &ast::Query,
        params: &[Datum],
    ) -> Result<(Arc<plan::Query>, Arc<plan::Statement>), SqlError> {
        if let Some(name) = &self.active_prepared {
            if let Some(c) = self.plans.lock().expect("plan cache").get(name) {
                if let (Cached::Query { query, stmt }, true) = (&c.plan, &c.catalog == tx.catalog())
                {
                    return Ok((query.clone(), stmt.clone()));
                }
            }
        }
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let (query, stmt) = self.plan(tx, q, &mut pt)?;
        let (query, stmt) = (Arc::new(query), Arc::new(stmt));
        if let Some(name) = &self.active_prepared {
            self.plans.lock().expect("plan cache").insert(
                name.clone(),
                CachedPlan {
                    catalog: tx.catalog().clone(),
                    plan: Cached::Query {
                        query: query.clone(),
                        stmt: stmt.clone(),
                    },
                },
            );
        }
        Ok((query, stmt))
    }

    /// The catalog as `tx` sees it, for catalog tables and functions.
    fn catalog_view<'a>(
        &'a self,
        tx: &'a Transaction,
        settings: &'a std::collections::BTreeMap<String, String>,
    ) -> CatalogView<'a> {
        CatalogView {
            catalog: tx.catalog(),
            database: &self.database,
            user: &self.user,
            settings,
            pending_settings: Some(&self.pending_settings),
            backend_pid: self.backend_pid,
            in_recovery: self.db.engine().is_reader(),
        }
    }

    /// The statement deadline from `statement_timeout`.
    fn deadline(&self) -> Option<Instant> {
        let ms = self.settings.statement_timeout_ms();
        (ms > 0).then(|| self.started + Duration::from_millis(ms))
    }

    /// Runs a plan of statement `stmt`.
    fn run_plan(
        &self,
        tx: &Transaction,
        stmt: &plan::Statement,
        root: &Plan,
        params: &[Datum],
    ) -> Result<Vec<Vec<Datum>>, SqlError> {
        self.run_plan_reporting(tx, stmt, root, params)
            .map(|(rows, _)| rows)
    }

    /// [`Self::run_plan`], with what spilling did.
    fn run_plan_reporting(
        &self,
        tx: &Transaction,
        stmt: &plan::Statement,
        root: &Plan,
        params: &[Datum],
    ) -> Result<(Vec<Vec<Datum>>, SpillReport), SqlError> {
        let text = self.text_ctx();
        let settings = self.settings.map();
        let view = self.catalog_view(tx, &settings);
        let ectx = EvalCtx {
            catalog: Some(&view),
            ..self.eval_ctx(params, &text, self.xact_start)
        };
        let exec = || {
            Exec::new(tx, stmt, &self.cancel, self.deadline())
                .with_status(self.db.status_source())
                .with_work_mem(self.settings.work_mem_bytes())
        };
        if plan::is_short(root) {
            let exec = exec().with_parallel_workers(self.settings.parallel_workers());
            let rows = exec.run(root, &ectx)?;
            return Ok((rows, exec.work_mem().report()));
        }
        if plan::may_end_early(root) {
            let exec = exec().in_place_for(IN_PLACE_BUDGET);
            let run = exec.run(root, &ectx);
            if !exec.gave_up() {
                return run.map(|rows| (rows, exec.work_mem().report()));
            }
        }
        // A scan may take seconds: off the worker's core, so the sessions
        // (and cancel requests) queued there keep running.
        let exec = exec().with_parallel_workers(self.settings.parallel_workers());
        let rows = tokio::task::block_in_place(|| exec.run(root, &ectx))?;
        Ok((rows, exec.work_mem().report()))
    }

    fn explain(
        &self,
        tx: &Transaction,
        stmt: &Statement,
        analyze: bool,
        params: &[Datum],
    ) -> Result<QueryResult, SqlError> {
        let Statement::Query(q) = stmt else {
            return Err(SqlError::unsupported(format!(
                "EXPLAIN of {}",
                first_words(&stmt.to_string())
            )));
        };
        let planning = Instant::now();
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let (query, plan_stmt) = self.plan(tx, q, &mut pt)?;
        let planned = planning.elapsed();
        let mut lines = plan::explain(&query, &plan_stmt);
        if analyze {
            let start = Instant::now();
            let (rows, spill) = self.run_plan_reporting(tx, &plan_stmt, &query.root, params)?;
            let took = start.elapsed();
            if let Some(first) = lines.first_mut() {
                first.push_str(&format!("  (actual rows={})", rows.len()));
            }
            // What the sorts, hash aggregations and hash joins held and
            // spilled, for the statement as a whole.
            lines.push(format!(
                "Work Memory: peak={}kB  limit={}kB",
                spill.peak_bytes.div_ceil(1024),
                self.settings.work_mem_bytes() / 1024
            ));
            if spill.wide_index_ranges > 0 {
                // Sextant's own line: the index range was estimated to
                // cover much of the index, so the table was read instead.
                lines.push(format!(
                    "Index ranges read as full scans: {}",
                    spill.wide_index_ranges
                ));
            }
            if spill.parallel_aggregates > 0 {
                // Sextant's own line, where PostgreSQL shows Gather nodes:
                // the threads are decided at run time, by the table's size.
                lines.push(format!(
                    "Parallel aggregates: {}  threads={}",
                    spill.parallel_aggregates, spill.parallel_threads
                ));
            }
            if spill.written_bytes > 0 {
                lines.push(format!(
                    "Spilled: sort runs={}  aggregate partitions={}  join partitions={}  Disk: {}kB",
                    spill.sort_runs,
                    spill.agg_partitions,
                    spill.join_partitions,
                    spill.written_bytes.div_ceil(1024)
                ));
            }
            lines.push(format!(
                "Planning Time: {:.3} ms",
                planned.as_secs_f64() * 1000.0
            ));
            lines.push(format!(
                "Execution Time: {:.3} ms",
                took.as_secs_f64() * 1000.0
            ));
        }
        Ok(QueryResult::Rows {
            columns: vec![col_desc("QUERY PLAN", DataType::Text)],
            rows: lines.into_iter().map(|l| vec![Some(l)]).collect(),
            tag: "EXPLAIN".into(),
        })
    }

    /// Runs the query an INSERT takes its rows from, planned once per bound
    /// INSERT: a prepared `INSERT … SELECT … FROM (VALUES …)`, as the
    /// ingest service sends for every batch, would otherwise bind its
    /// hundreds of VALUES expressions again on every execution.
    fn run_insert_source(
        &self,
        tx: &Transaction,
        bound: &BoundInsert,
        q: &ast::Query,
        params: &[Datum],
    ) -> Result<(Vec<DataType>, Vec<Vec<Datum>>), SqlError> {
        let (query, stmt) = match bound.source_plan.get() {
            Some(plan) => plan.clone(),
            None => {
                let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
                let (query, stmt) = self.plan(tx, q, &mut pt)?;
                refuse_locks(&query, "in INSERT ... SELECT")?;
                let plan = (Arc::new(query), Arc::new(stmt));
                // Unset above, and the bound INSERT is this session's own.
                let _ = bound.source_plan.set(plan.clone());
                plan
            }
        };
        let rows = self.run_plan(tx, &stmt, &query.root, params)?;
        Ok((query.columns.iter().map(|(_, t)| *t).collect(), rows))
    }

    /// Runs a query that may not lock rows (a cursor's, COPY's: `place`
    /// names it for the error).
    pub(super) fn query(
        &self,
        tx: &Transaction,
        q: &ast::Query,
        params: &[Datum],
        max_rows: usize,
        place: &str,
    ) -> Result<QueryResult, SqlError> {
        let (query, stmt) = self.plan_cached(tx, q, params)?;
        refuse_locks(&query, place)?;
        let rows = self.run_plan(tx, &stmt, &query.root, params)?;
        self.query_result(tx, &query, rows, max_rows)
    }

    /// Runs a statement's query; a `SELECT … FOR UPDATE | SHARE` claims
    /// the rows it returns of its locked tables in `tx` (see
    /// [`Transaction::claim_rows`]) and returns them without their keys.
    fn locking_query(
        &self,
        tx: &mut Transaction,
        q: &ast::Query,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        let (query, stmt) = self.plan_cached(tx, q, params)?;
        let Some(locks) = &query.locks else {
            let rows = self.run_plan(tx, &stmt, &query.root, params)?;
            return self.query_result(tx, &query, rows, max_rows);
        };
        // PostgreSQL refuses before reading, whatever the query returns.
        if self.read_only_block || tx.is_read_only() {
            return Err(SqlError::new(
                code::READ_ONLY_SQL_TRANSACTION,
                format!(
                    "cannot execute {} in a read-only transaction",
                    locks.command()
                ),
            ));
        }
        let mut rows = self.run_plan(tx, &stmt, &query.root, params)?;
        if max_rows > 0 && rows.len() > max_rows {
            rows.truncate(max_rows);
        }
        let n_out = query.columns.len();
        let mut claims = Vec::with_capacity(rows.len() * locks.tables.len());
        for row in rows.iter_mut() {
            let mut at = n_out;
            for (table, n) in &locks.tables {
                claims.push((*table, row[at..at + n].to_vec()));
                at += n;
            }
            row.truncate(n_out);
        }
        tx.claim_rows(claims).map_err(SqlError::from_engine)?;
        self.query_result(tx, &query, rows, max_rows)
    }

    /// A query's rows as the client receives them.
    fn query_result(
        &self,
        tx: &Transaction,
        query: &plan::Query,
        rows: Vec<Vec<Datum>>,
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        let text = self.text_ctx();
        let columns: Vec<Column> = query_columns(query);
        let settings = self.settings.map();
        let view = self.catalog_view(tx, &settings);
        let reg: Vec<bool> = query.columns.iter().map(|(_, t)| t.is_reg()).collect();
        let mut out: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(i, d)| match d {
                        Datum::Null => None,
                        d if reg[i] => Some(crate::sql::pg_catalog::format_value(
                            d,
                            &query.columns[i].1,
                            &text,
                            &view,
                        )),
                        d => Some(pgtext::format(d, &text)),
                    })
                    .collect()
            })
            .collect();
        if max_rows > 0 && out.len() > max_rows {
            out.truncate(max_rows);
        }
        let tag = format!("SELECT {}", out.len());
        Ok(QueryResult::Rows {
            columns,
            rows: out,
            tag,
        })
    }
}

/// Refuses a locking query where its rows cannot be claimed (`place`
/// says where, for the message).
fn refuse_locks(query: &plan::Query, place: &str) -> Result<(), SqlError> {
    match &query.locks {
        Some(l) => Err(SqlError::unsupported(format!("{} {place}", l.command()))),
        None => Ok(()),
    }
}

fn assign_target(def: &TableDef, a: &ast::Assignment) -> Result<(usize, DataType), SqlError> {
    let name = match &a.target {
        ast::AssignmentTarget::ColumnName(n) => object_name(n),
        ast::AssignmentTarget::Tuple(_) => return Err(SqlError::unsupported("tuple assignment")),
    };
    let i = def.column(&name).ok_or_else(|| {
        SqlError::new(
            code::UNDEFINED_COLUMN,
            format!(
                "column \"{name}\" of relation \"{}\" does not exist",
                def.name
            ),
        )
        .at_span(sqlparser::ast::Spanned::span(&a.target))
    })?;
    Ok((i, column_type(&def.columns[i])))
}

/// An INSERT bound over its table: what each execution of a prepared
/// INSERT would otherwise bind again (see [`Cached::Insert`]). The parts
/// bound at first use (defaults, DO UPDATE, RETURNING) are bound then, as
/// before caching, so an error in one shows only when it is reached.
struct BoundInsert {
    def: Arc<TableDef>,
    /// The column each value goes to.
    targets: Vec<usize>,
    /// The VALUES rows (DEFAULT VALUES is one empty row), each value bound
    /// and made assignable to its column, `None` for DEFAULT; `None` for
    /// a query source.
    values: Option<Vec<Vec<Option<Expr>>>>,
    /// The table's scope, under its alias.
    scope: Scope,
    /// Each column's default, bound at first use (`None`: NULL).
    defaults: Vec<std::sync::OnceLock<Result<Option<Expr>, SqlError>>>,
    on_conflict: Option<BoundConflict>,
    returning: Option<Vec<ast::SelectItem>>,
    /// The RETURNING list, bound at first use.
    returning_bound: std::sync::OnceLock<Result<Vec<(String, Expr)>, SqlError>>,
    /// The parameter types the parts bound at first use start from.
    late_param_types: Vec<Option<DataType>>,
    /// A query source's plan, made at first use.
    source_plan: std::sync::OnceLock<(Arc<plan::Query>, Arc<plan::Statement>)>,
}

impl BoundInsert {
    /// Column `i`'s default, bound; `None` when it has none (NULL).
    fn default(&self, i: usize) -> Result<Option<&Expr>, SqlError> {
        let bound = self.defaults[i].get_or_init(|| {
            let c = &self.def.columns[i];
            let Some(sql) = &c.default else {
                return Ok(None);
            };
            let e = parse_expr(sql)?;
            let mut params = Vec::new();
            let b = bind(&e, &Scope::default(), &mut BindCtx::new(&mut params))?;
            Ok(Some(b.coerce_to(column_type(c))))
        });
        bound.as_ref().map(Option::as_ref).map_err(Clone::clone)
    }

    /// The RETURNING list bound, if there is one.
    fn returning(&self) -> Result<Option<&[(String, Expr)]>, SqlError> {
        let Some(items) = &self.returning else {
            return Ok(None);
        };
        let bound = self.returning_bound.get_or_init(|| {
            let mut params = self.late_param_types.clone();
            select_items(
                items,
                &self.def,
                &self.scope,
                &mut BindCtx::new(&mut params),
            )
        });
        bound
            .as_ref()
            .map(|b| Some(b.as_slice()))
            .map_err(Clone::clone)
    }
}

/// An INSERT's ON CONFLICT clause, bound.
struct BoundConflict {
    /// The primary key is an arbiter.
    primary_key: bool,
    /// The unique indexes that are, by position in the table's.
    indexes: Vec<usize>,
    action: ast::OnConflictAction,
    /// DO UPDATE's WHERE and assignments, bound at the first conflict.
    update: std::sync::OnceLock<Result<BoundUpdate, SqlError>>,
}

/// DO UPDATE's WHERE and assignments, bound over the existing row's
/// columns followed by EXCLUDED's.
struct BoundUpdate {
    selection: Option<Expr>,
    /// Each assigned column with its value, made assignable to it.
    assignments: Vec<(usize, Expr)>,
}

/// Binds `du` for `bound`'s table.
fn bind_do_update(bound: &BoundInsert, du: &ast::DoUpdate) -> Result<BoundUpdate, SqlError> {
    let (def, scope) = (bound.def.as_ref(), &bound.scope);
    // The row's columns, then EXCLUDED's.
    let mut s = scope.clone();
    let n = def.columns.len();
    for (i, c) in def.columns.iter().enumerate() {
        s.columns.push(ScopeColumn::new(
            Some("excluded".into()),
            c.name.clone(),
            scope.columns[i].ty,
        ));
        s.aliases.push(("excluded".into(), c.name.clone(), n + i));
    }
    // Unqualified names refer to the existing row only.
    for c in s.columns[n..].iter_mut() {
        c.name = format!("\u{0}excluded.{}", c.name);
    }
    let mut params = bound.late_param_types.clone();
    let selection = du
        .selection
        .as_ref()
        .map(|w| bind(w, &s, &mut BindCtx::new(&mut params)))
        .transpose()?;
    let mut assignments = Vec::with_capacity(du.assignments.len());
    for a in &du.assignments {
        let (i, ty) = assign_target(def, a)?;
        let b = bind(&a.value, &s, &mut BindCtx::new(&mut params))?.coerce_to(ty);
        assignments.push((i, assignable(b, ty, &def.columns[i].name, &a.value)?));
    }
    Ok(BoundUpdate {
        selection,
        assignments,
    })
}

/// An INSERT's ON CONFLICT clause, if it has one, checked (see
/// [`check_on_conflict`]), with its arbiters; `scope` is the table's.
fn insert_on_conflict<'a>(
    ins: &'a ast::Insert,
    def: &'a TableDef,
    scope: &Scope,
) -> Result<Option<(&'a ast::OnConflict, Arbiters<'a>)>, SqlError> {
    use sqlparser::ast::Spanned;
    match &ins.on {
        None => Ok(None),
        Some(ast::OnInsert::OnConflict(oc)) => {
            // ON CONFLICT follows the source, so its ON is the first "on"
            // after the source's end.
            let source_span = ins.source.as_ref().map(|q| q.span());
            let arbiters = check_on_conflict(def, scope, oc).map_err(|e| match source_span {
                // Only the missing target is reported at ON.
                Some(span) if e.message.starts_with("ON CONFLICT DO UPDATE requires") => {
                    e.at_keyword_after(span, "on")
                }
                _ => e,
            })?;
            Ok(Some((oc, arbiters)))
        }
        Some(other) => Err(SqlError::unsupported(format!("{other}"))),
    }
}

/// The unique keys an `INSERT … ON CONFLICT` looks for a conflicting row
/// on (PostgreSQL's arbiter indexes): every one the conflict target
/// matches, or every unique key of the table without a target.
struct Arbiters<'a> {
    /// The primary key is one.
    primary_key: bool,
    /// The unique indexes that are.
    indexes: Vec<&'a IndexDef>,
}

/// Checks an ON CONFLICT clause once per statement, as PostgreSQL's parse
/// analysis does, and infers its arbiters as its planner does
/// (`infer_arbiter_indexes`). The target names columns of the table
/// (42703) and index expressions over them (bound in `scope`, the
/// table's); a unique key matches when its columns are the columns named
/// and its expressions the expressions given, in any order and counting
/// repeats once (compared bound, as the planner matches an indexed
/// expression); none matching is 42P10. DO UPDATE needs a target (42601)
/// and assigns each column at most once (42601).
fn check_on_conflict<'a>(
    def: &'a TableDef,
    scope: &Scope,
    oc: &ast::OnConflict,
) -> Result<Arbiters<'a>, SqlError> {
    let no_match = || {
        SqlError::new(
            code::INVALID_COLUMN_REFERENCE,
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        )
    };
    let arbiters = match &oc.conflict_target {
        Some(ast::ConflictTarget::Columns(elems)) => {
            let (elems, predicate) = crate::sql::dialect::conflict_target_predicate(elems);
            let mut named = Vec::new();
            let mut exprs: Vec<Expr> = Vec::new();
            for c in elems {
                if let Some(e) = crate::sql::dialect::conflict_target_expr(c) {
                    let e = e.map_err(|e| SqlError::new(code::SYNTAX_ERROR, e.to_string()))?;
                    let mut params = Vec::new();
                    match bind(&e, scope, &mut BindCtx::new(&mut params))? {
                        // `((a))` is the column, as in PostgreSQL.
                        Expr::Column(i, _) => named.push(i),
                        b => exprs.push(b),
                    }
                    continue;
                }
                let n = ident(c);
                let i = def.column(&n).ok_or_else(|| {
                    SqlError::new(
                        code::UNDEFINED_COLUMN,
                        format!("column \"{n}\" does not exist"),
                    )
                    // PostgreSQL points at the target's parenthesis.
                    .at_keyword_before(c.span, "(")
                })?;
                named.push(i);
            }
            if let Some(predicate) = predicate {
                let predicate =
                    predicate.map_err(|e| SqlError::new(code::SYNTAX_ERROR, e.to_string()))?;
                check_index_predicate(&predicate, scope)?;
            }
            named.sort_unstable();
            named.dedup();
            let same_columns = |keys: &mut dyn Iterator<Item = usize>| {
                let mut k: Vec<usize> = keys.collect();
                k.sort_unstable();
                k.dedup();
                k == named
            };
            let primary_key = exprs.is_empty()
                && !def.primary_key.is_empty()
                && same_columns(&mut def.primary_key.iter().copied());
            let matches = |ix: &IndexDef| {
                let Some(bound) = crate::sql::plan::index_exprs(def, &ix.keys) else {
                    return false;
                };
                let key_exprs: Vec<&Expr> = ix
                    .keys
                    .iter()
                    .zip(&bound)
                    .filter(|(k, _)| matches!(k, IndexKey::Expr(_)))
                    .map(|(_, b)| b)
                    .collect();
                let same = crate::sql::plan::same_expr;
                same_columns(&mut ix.keys.iter().filter_map(|k| match k {
                    IndexKey::Column(i) => Some(*i),
                    IndexKey::Expr(_) => None,
                })) && exprs.iter().all(|e| key_exprs.iter().any(|k| same(e, k)))
                    && key_exprs.iter().all(|k| exprs.iter().any(|e| same(e, k)))
            };
            let indexes: Vec<&IndexDef> = def
                .indexes
                .iter()
                .filter(|ix| ix.unique && matches(ix))
                .collect();
            if !primary_key && indexes.is_empty() {
                return Err(no_match());
            }
            Arbiters {
                primary_key,
                indexes,
            }
        }
        Some(ast::ConflictTarget::OnConstraint(name)) => {
            // The primary key or a UNIQUE constraint, by name; a unique
            // index made by CREATE UNIQUE INDEX is no constraint, as in
            // PostgreSQL.
            let n = object_name(name);
            if !def.primary_key.is_empty() && n == format!("{}_pkey", def.name) {
                Arbiters {
                    primary_key: true,
                    indexes: Vec::new(),
                }
            } else if let Some(ix) = def
                .indexes
                .iter()
                .find(|ix| ix.constraint && ix.unique && ix.name == n)
            {
                Arbiters {
                    primary_key: false,
                    indexes: vec![ix],
                }
            } else {
                return Err(SqlError::new(
                    code::UNDEFINED_OBJECT,
                    format!(
                        "constraint \"{n}\" for table \"{}\" does not exist",
                        def.name
                    ),
                ));
            }
        }
        None => {
            if matches!(oc.action, ast::OnConflictAction::DoUpdate(_)) {
                return Err(SqlError::new(
                    code::SYNTAX_ERROR,
                    "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                )
                .with_hint("For example, ON CONFLICT (column_name)."));
            }
            Arbiters {
                primary_key: !def.primary_key.is_empty(),
                indexes: def.indexes.iter().filter(|ix| ix.unique).collect(),
            }
        }
    };
    if let ast::OnConflictAction::DoUpdate(du) = &oc.action {
        let mut seen = std::collections::HashSet::new();
        for a in &du.assignments {
            if let ast::AssignmentTarget::ColumnName(n) = &a.target {
                let name = object_name(n);
                if !seen.insert(name.clone()) {
                    return Err(SqlError::new(
                        code::SYNTAX_ERROR,
                        format!("multiple assignments to same column \"{name}\""),
                    ));
                }
            }
        }
    }
    Ok(arbiters)
}

/// Checks an ON CONFLICT target's index predicate (`ON CONFLICT (a) WHERE
/// b > 0`) as PostgreSQL's parse analysis does
/// (`transformOnConflictArbiter`): it reads the table's columns only, by
/// the table's name or alias as `scope` has it, and holds no subquery
/// (0A000), aggregate, window or set-returning call; PostgreSQL does not
/// ask for a boolean. The predicate only serves to infer arbiters from
/// partial unique indexes, and a unique index without a predicate is an
/// arbiter whatever the predicate says (`infer_arbiter_indexes`). Sextant
/// has no partial indexes, so the arbiters are the target's without it.
fn check_index_predicate(predicate: &ast::Expr, scope: &Scope) -> Result<(), SqlError> {
    reject_subqueries(predicate, "index predicate")?;
    let mut params = Vec::new();
    let mut ctx = BindCtx::new(&mut params);
    ctx.aggs = Err("index predicates");
    ctx.srfs = Err("index predicates");
    ctx.windows = Err("index predicates");
    bind(predicate, scope, &mut ctx)?;
    Ok(())
}

/// Checks `CREATE INDEX … USING method` as PostgreSQL's DefineIndex does:
/// an unknown method is 42704, and only `btree` makes unique indexes
/// (0A000). Every index Sextant builds is a B+tree, so a non-unique index
/// of another built-in method is built as one: it answers the same.
fn check_access_method(ci: &ast::CreateIndex) -> Result<(), SqlError> {
    use sqlparser::ast::IndexType;
    let method = match &ci.using {
        None | Some(IndexType::BTree) => return Ok(()),
        Some(IndexType::Custom(name)) => ident(name),
        Some(m) => m.to_string().to_lowercase(),
    };
    if !["hash", "gin", "gist", "spgist", "brin"].contains(&method.as_str()) {
        return Err(SqlError::new(
            code::UNDEFINED_OBJECT,
            format!("access method \"{method}\" does not exist"),
        ));
    }
    if ci.unique {
        return Err(SqlError::new(
            code::FEATURE_NOT_SUPPORTED,
            format!("access method \"{method}\" does not support unique indexes"),
        ));
    }
    Ok(())
}

/// Refuses a subquery anywhere in `e`, an expression of a kind PostgreSQL
/// allows none in (`place`: "DEFAULT expression", "index predicate"),
/// with its error (0A000), where it points.
pub(super) fn reject_subqueries(e: &ast::Expr, place: &str) -> Result<(), SqlError> {
    use sqlparser::ast::Spanned;
    let subquery = sqlparser::ast::visit_expressions(e, |e| {
        let error = SqlError::new(
            code::FEATURE_NOT_SUPPORTED,
            format!("cannot use subquery in {place}"),
        );
        match e {
            ast::Expr::Subquery(q) => ControlFlow::Break(error.at_subquery(q.span())),
            ast::Expr::Exists { subquery, .. } => {
                ControlFlow::Break(error.at_keyword_before(subquery.span(), "exists"))
            }
            ast::Expr::InSubquery { subquery, .. } => {
                ControlFlow::Break(error.at_keyword_before(subquery.span(), "in"))
            }
            _ => ControlFlow::Continue(()),
        }
    });
    match subquery {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Converts a value for storage in column `c` (assignment cast), applying
/// the column's type modifier where the type alone does not (`numeric(p, s)`).
pub(super) fn assign_cast(
    d: Datum,
    ty: DataType,
    c: &ColumnDef,
    ectx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    apply_typmod(expr::assign(d, ty, ectx)?, c)
}

/// Applies column `c`'s type modifier to a value already of its type, where
/// the type alone does not carry it (`numeric(p, s)`).
pub(crate) fn apply_typmod(d: Datum, c: &ColumnDef) -> Result<Datum, SqlError> {
    if c.type_oid == DataType::Numeric.oid().0 {
        return apply_numeric_typmod(d, c.type_mod);
    }
    Ok(d)
}

/// The type of a new column: any type but a pseudo-type (`record`), as
/// PostgreSQL's `CheckAttributeType` requires.
pub(super) fn declared_column_type(name: &str, t: &ast::DataType) -> Result<DataType, SqlError> {
    storable_column_type(name, expr::data_type(t)?)
}

/// `ty` if a column may have it: pseudo-types (`record`) may not (42P16).
fn storable_column_type(name: &str, ty: DataType) -> Result<DataType, SqlError> {
    if let DataType::Record(_) = ty {
        return Err(SqlError::new(
            code::INVALID_TABLE_DEFINITION,
            format!("column \"{name}\" has pseudo-type {}", ty.format_type()),
        ));
    }
    Ok(ty)
}

/// `numeric(p, s)`'s type modifier for a column declared as `t` (PostgreSQL's
/// `numerictypmodin`: `(p << 16 | s) + 4`, the scale kept in 11 bits); for
/// other types, what `ty` carries.
pub(crate) fn column_typmod(t: &ast::DataType, ty: DataType) -> Result<i32, SqlError> {
    use ast::{DataType as T, ExactNumberInfo as I};
    let (precision, scale) = match t {
        T::Numeric(i) | T::Decimal(i) | T::Dec(i) => match i {
            I::None => return Ok(-1),
            I::Precision(p) => (*p, 0),
            I::PrecisionAndScale(p, s) => (*p, *s),
        },
        _ => return Ok(ty.typmod()),
    };
    if !(1..=NUMERIC_MAX_PRECISION).contains(&precision) {
        return Err(SqlError::new(
            code::INVALID_PARAMETER_VALUE,
            format!("NUMERIC precision {precision} must be between 1 and {NUMERIC_MAX_PRECISION}"),
        ));
    }
    if !(-NUMERIC_MAX_SCALE..=NUMERIC_MAX_SCALE).contains(&scale) {
        return Err(SqlError::new(
            code::INVALID_PARAMETER_VALUE,
            format!(
                "NUMERIC scale {scale} must be between -{NUMERIC_MAX_SCALE} and {NUMERIC_MAX_SCALE}"
            ),
        ));
    }
    let (p, s) = (precision as i32, scale as i32);
    Ok(((p << 16) | (s & 0x7FF)) + 4)
}

/// Largest precision of `numeric(p, s)` (PostgreSQL's `NUMERIC_MAX_PRECISION`).
const NUMERIC_MAX_PRECISION: u64 = 1000;
/// Largest absolute scale of `numeric(p, s)` (`NUMERIC_MAX_SCALE`).
const NUMERIC_MAX_SCALE: i64 = 1000;

/// Rounds `d` to the scale of `numeric` typmod `typmod` and checks it fits
/// the precision, as PostgreSQL's `apply_typmod`: 22003 when it does not,
/// and for infinities. A typmod below 4 (none) leaves the value as it is.
pub(crate) fn apply_numeric_typmod(d: Datum, typmod: i32) -> Result<Datum, SqlError> {
    let Datum::Numeric(n) = d else {
        return Ok(d);
    };
    if typmod < 4 {
        return Ok(Datum::Numeric(n));
    }
    let precision = ((typmod - 4) >> 16) & 0xFFFF;
    let scale = (((typmod - 4) & 0x7FF) ^ 1024) - 1024;
    let overflow = |detail: String| {
        SqlError::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow")
            .with_detail(detail)
    };
    if n.is_nan() {
        return Ok(Datum::Numeric(n));
    }
    if !n.is_finite() {
        return Err(overflow(format!(
            "A field with precision {precision}, scale {scale} cannot hold an infinite value."
        )));
    }
    let rounded = n
        .round(scale)
        .map_err(|e| SqlError::new(e.sqlstate(), e.to_string()))?;
    // Digits allowed before the point; the value must stay below 10^that.
    let max_digits = precision - scale;
    let limit: crate::datum::Numeric = format!("1e{max_digits}")
        .parse()
        .expect("a power of ten parses as numeric");
    if rounded.abs() >= limit {
        return Err(overflow(format!(
            "A field with precision {precision}, scale {scale} must round to an absolute value less than {}{}.",
            if max_digits != 0 { "10^" } else { "" },
            if max_digits != 0 { max_digits } else { 1 }
        )));
    }
    Ok(Datum::Numeric(rounded))
}

/// 23502 for the first NOT NULL column `row` leaves NULL, with the row in
/// the DETAIL as PostgreSQL shows it (`Failing row contains (1, null).`).
pub(super) fn check_not_null(
    def: &TableDef,
    row: &[Datum],
    text: &TextContext,
) -> Result<(), SqlError> {
    let Some(c) = def
        .columns
        .iter()
        .zip(row)
        .find_map(|(c, v)| (c.not_null && v.is_null()).then_some(c))
    else {
        return Ok(());
    };
    let values: Vec<String> = row
        .iter()
        .map(|v| match v {
            Datum::Null => "null".to_owned(),
            v => pgtext::format(v, text),
        })
        .collect();
    Err(SqlError::new(
        code::NOT_NULL_VIOLATION,
        format!(
            "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
            c.name, def.name
        ),
    )
    .with_detail(format!("Failing row contains ({}).", values.join(", "))))
}

/// The result of a DML statement: its rows when it has RETURNING, else its tag.
fn dml_result(
    tag: String,
    returning: Option<&[ast::SelectItem]>,
    def: &TableDef,
    scope: &Scope,
    params: &mut Vec<Option<DataType>>,
    rows: Vec<Vec<Option<String>>>,
) -> Result<QueryResult, SqlError> {
    match returning {
        Some(ret) => {
            let columns = returning_columns(Some(ret), def, scope, &mut BindCtx::new(params))?;
            Ok(QueryResult::Rows { columns, rows, tag })
        }
        None => Ok(QueryResult::Command { tag }),
    }
}

fn select_items(
    items: &[ast::SelectItem],
    def: &TableDef,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Vec<(String, Expr)>, SqlError> {
    let mut out = Vec::new();
    for item in items {
        match item {
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                for (i, c) in def.columns.iter().enumerate() {
                    out.push((c.name.clone(), Expr::Column(i, scope.columns[i].ty)));
                }
            }
            ast::SelectItem::UnnamedExpr(e) => {
                out.push((plan::output_name(e), bind(e, scope, ctx)?))
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                out.push((ident(alias), bind(expr, scope, ctx)?))
            }
        }
    }
    Ok(out)
}

fn returning_columns(
    items: Option<&[ast::SelectItem]>,
    def: &TableDef,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
) -> Result<Vec<Column>, SqlError> {
    match items {
        None => Ok(Vec::new()),
        Some(items) => Ok(select_items(items, def, scope, ctx)?
            .iter()
            .map(|(n, e)| col_desc(n, e.ty()))
            .collect()),
    }
}

/// The name PostgreSQL chooses for an unnamed index (`ChooseIndexName`):
/// table, key column names (`expr` for an expression PostgreSQL cannot
/// name, duplicates numbered) and `idx`, joined by `_` and cut to 63
/// bytes, then `idx1`, `idx2`, … until no relation has the name.
fn choose_index_name(
    catalog: &crate::catalog::Catalog,
    table: &str,
    columns: &[ast::IndexColumn],
) -> String {
    let mut names: Vec<String> = Vec::new();
    for c in columns {
        let orig = match &c.column.expr {
            ast::Expr::Identifier(i) => ident(i),
            e => match plan::output_name(strip_nested(e)) {
                n if n == "?column?" => "expr".to_string(),
                n => n,
            },
        };
        let mut name = orig.clone();
        let mut n = 0;
        while names.contains(&name) {
            n += 1;
            name = format!("{orig}{n}");
        }
        names.push(name);
    }
    let columns = names.join("_");
    (0..)
        .map(|pass| {
            let label = if pass == 0 {
                "idx".to_string()
            } else {
                format!("idx{pass}")
            };
            make_object_name(table, &columns, &label)
        })
        .find(|name| !catalog.relation_name_taken(name))
        .expect("some suffix is free")
}

/// `name1_name2_label` within PostgreSQL's 63-byte names, shortening the
/// longer of the first two parts first (`makeObjectName`).
fn make_object_name(name1: &str, name2: &str, label: &str) -> String {
    const NAME_MAX: usize = 63;
    let (mut a, mut b) = (name1.to_string(), name2.to_string());
    let extra = label.len() + 1 + usize::from(!b.is_empty());
    while a.len() + b.len() + extra > NAME_MAX {
        let longer = if a.len() > b.len() { &mut a } else { &mut b };
        let mut cut = longer.len() - 1;
        while !longer.is_char_boundary(cut) {
            cut -= 1;
        }
        longer.truncate(cut);
    }
    if b.is_empty() {
        format!("{a}_{label}")
    } else {
        format!("{a}_{b}_{label}")
    }
}

fn text_of(d: &Datum, text: &TextContext) -> Option<String> {
    if d.is_null() {
        None
    } else {
        Some(pgtext::format(d, text))
    }
}

fn strip_nested(e: &ast::Expr) -> &ast::Expr {
    match e {
        ast::Expr::Nested(x) => strip_nested(x),
        other => other,
    }
}

pub(super) fn no_table(name: &str) -> SqlError {
    SqlError::new(
        code::UNDEFINED_TABLE,
        format!("relation \"{name}\" does not exist"),
    )
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Query strings parsed lately, at most 256 of them, each at most
/// [`PARSED_TEXT_BYTES_MAX`] long: dashboards and monitoring run the same
/// short queries again and again, and the parse of such a query cost about
/// a tenth of its time. Parsing depends on the text alone.
static PARSED: std::sync::LazyLock<Memo<Vec<Statement>>> =
    std::sync::LazyLock::new(|| Memo::new(256));
/// Longest query string [`PARSED`] keeps.
const PARSED_TEXT_BYTES_MAX: usize = 4096;

fn parse(sql: &str) -> Result<Vec<Statement>, SqlError> {
    if sql.len() > PARSED_TEXT_BYTES_MAX {
        return crate::sql::copy::parse_statements(sql);
    }
    if let Some(stmts) = PARSED.get(sql) {
        return Ok(stmts);
    }
    // COPY has a grammar of our own (`sql::copy`): sqlparser's would read
    // the rest of the string as inline data and knows no HEADER MATCH.
    let stmts = crate::sql::copy::parse_statements(sql)?;
    PARSED.insert(sql.to_owned(), stmts.clone());
    Ok(stmts)
}

/// `e` stored into column `name` of type `ty`: 42804 unless an assignment
/// cast exists, as PostgreSQL checks when it plans the statement.
fn assignable(e: Expr, ty: DataType, name: &str, at: &ast::Expr) -> Result<Expr, SqlError> {
    crate::sql::expr::check_literal(&e, at)?;
    let from = e.ty();
    if from == ty
        || matches!(e, Expr::Literal(Datum::Null, _))
        || crate::cast::can_cast(&from, &ty).allowed_in(crate::cast::CastKind::Assignment)
    {
        return Ok(bpchar_trimmed(e, ty));
    }
    use sqlparser::ast::Spanned;
    Err(SqlError::new(
        code::DATATYPE_MISMATCH,
        format!(
            "column \"{name}\" is of type {} but expression is of type {}",
            ty.format_type(),
            from.format_type()
        ),
    )
    .with_hint("You will need to rewrite or cast the expression.")
    .at_span(at.span()))
}

/// `e` with `character(n)`'s padding trimmed when it goes into a column
/// of another string type (the implicit `bpchar` to `text` cast), which the
/// assignment of the bare value would keep.
fn bpchar_trimmed(e: Expr, to: DataType) -> Expr {
    match (e.ty(), to) {
        (DataType::Bpchar { .. }, DataType::Bpchar { .. }) => e,
        (DataType::Bpchar { .. }, DataType::Text | DataType::Varchar { .. } | DataType::Name) => {
            Expr::Cast(Box::new(e), DataType::Text)
        }
        _ => e,
    }
}

/// The rest of `RESET name | RESET ALL` after RESET, as the statement
/// `SET name` with no value, which the grammar never produces otherwise
/// (`Session::set` runs it as RESET).
pub(super) fn parse_reset(p: &mut Parser<'_>) -> Result<Statement, sqlparser::parser::ParserError> {
    use sqlparser::keywords::Keyword;
    let name = if p.parse_keywords(&[Keyword::TIME, Keyword::ZONE]) {
        "timezone".to_string()
    } else if p.parse_keywords(&[Keyword::SESSION, Keyword::AUTHORIZATION]) {
        "session_authorization".to_string()
    } else if p.parse_keywords(&[Keyword::TRANSACTION, Keyword::ISOLATION, Keyword::LEVEL]) {
        "transaction_isolation".to_string()
    } else {
        object_name(&p.parse_object_name(false)?)
    };
    Ok(Statement::Set(ast::Set::SingleAssignment {
        scope: None,
        hivevar: false,
        variable: ast::ObjectName::from(vec![ast::Ident::new(name)]),
        values: Vec::new(),
    }))
}

/// "Line: L, Column: C" of a parser or tokenizer message.
fn line_column(s: &str) -> Option<(u64, u64)> {
    let rest = s.strip_prefix("Line: ")?;
    let (l, c) = rest.split_once(", Column: ")?;
    Some((l.trim().parse().ok()?, c.trim().parse().ok()?))
}

/// `DEFAULT` in a VALUES row.
fn is_default(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

/// `ABORT` and `END` (PostgreSQL's synonyms of ROLLBACK and COMMIT, which
/// the grammar lacks) as the statements they stand for.
fn abort_and_end(sql: &str) -> Option<String> {
    let t = sql.trim().trim_end_matches(';').trim();
    let mut words = t.split_whitespace();
    let first = words.next()?.to_ascii_uppercase();
    let rest: Vec<String> = words.map(|w| w.to_ascii_uppercase()).collect();
    if !(rest.is_empty() || rest == ["WORK"] || rest == ["TRANSACTION"]) {
        return None;
    }
    match first.as_str() {
        "ABORT" => Some("ROLLBACK".into()),
        "END" => Some("COMMIT".into()),
        _ => None,
    }
}

/// PostgreSQL's shape for a parse error: `syntax error at or near "x"` or
/// `syntax error at end of input`, with the position.
pub(super) fn syntax_error(sql: &str, parser_message: &str) -> SqlError {
    let msg = parser_message
        .strip_prefix("sql parser error: ")
        .unwrap_or(parser_message);
    // The tokenizer's: the literal runs to the end of the input.
    if let Some(at) = msg.strip_prefix("Unterminated string literal at ") {
        let mut err = SqlError::new(code::SYNTAX_ERROR, "unterminated quoted string");
        if let Some((l, c)) = line_column(at) {
            err.location = Some((l, c));
            err = err.locate(sql);
        }
        let near: String = sql
            .chars()
            .skip(err.position.map_or(0, |p| p as usize - 1))
            .collect();
        err.message = format!("unterminated quoted string at or near \"{near}\"");
        return err;
    }
    // "Expected: ..., found: TOKEN at Line: L, Column: C"
    let found = msg.split(", found: ").nth(1);
    let (token, line, column) = match found {
        Some(rest) => match rest.rsplit_once(" at Line: ") {
            Some((tok, lc)) => {
                let mut it = lc.split(", Column: ");
                let line = it.next().and_then(|l| l.trim().parse::<u64>().ok());
                let column = it.next().and_then(|c| c.trim().parse::<u64>().ok());
                (Some(tok.to_string()), line, column)
            }
            None => (Some(rest.to_string()), None, None),
        },
        None => (None, None, None),
    };
    let mut err =
        match token.as_deref() {
            Some("EOF") => SqlError::new(code::SYNTAX_ERROR, "syntax error at end of input")
                .at(sql.chars().count() as u32 + 1),
            Some(t) => SqlError::new(
                code::SYNTAX_ERROR,
                format!("syntax error at or near \"{t}\""),
            ),
            None => SqlError::new(code::SYNTAX_ERROR, format!("syntax error: {msg}")),
        };
    if let (Some(l), Some(c)) = (line, column) {
        err.location = Some((l, c));
        err = err.locate(sql);
    }
    err
}

/// The row of `def` whose key in unique index `ix` equals `row`'s, with
/// its storage key; none when a key part of `row` is NULL (NULLs never
/// conflict). Expression parts are computed by the engine's key function.
fn unique_conflict(
    tx: &Transaction,
    def: &TableDef,
    ix: &IndexDef,
    row: &[Datum],
) -> Result<Option<crate::engine::Row>, SqlError> {
    let values = crate::sql::keyfn::index_key(def, ix, row)
        .map_err(|e| SqlError::from_engine(crate::engine::EngineError::KeyFunction(e)))?;
    if values.iter().any(|v| matches!(v, Datum::Null)) {
        return Ok(None);
    }
    let found = tx
        .index_scan(
            def.id,
            ix.id,
            std::ops::Bound::Included(&values),
            std::ops::Bound::Included(&values),
            crate::btree::Direction::Forward,
        )
        .map_err(SqlError::from_engine)?;
    Ok(found.into_iter().next())
}

/// Microseconds since 2000-01-01 UTC.
pub(super) fn now_micros() -> i64 {
    const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_micros() as i64 - PG_EPOCH_UNIX_SECS * 1_000_000
}
