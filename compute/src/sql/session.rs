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
//! ORDER BY, LIMIT/OFFSET), transactions, SET/SHOW. Joins, subqueries and
//! the catalogs (`pg_catalog`) answer 0A000 naming the feature until they
//! are built.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;

use sqlparser::ast::{self, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::btree::Direction;
use crate::catalog::{ColumnDef, IndexKey, TableDef};
use crate::datum::{DataType, Datum, Oid};
use crate::engine::{Engine, NewIndex, NewTable, Transaction};
use crate::pgtext::{self, TextContext};
use crate::sql::error::{code, SqlError};
use crate::sql::expr::{self, bind, eval, BindCtx, EvalCtx, Expr, Scope, ScopeColumn};

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
    engine: Engine,
    cfg: DatabaseConfig,
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
    stmt: Option<Statement>,
    info: Prepared,
}

impl Database {
    /// A database over `engine`.
    pub fn new(engine: Engine, cfg: DatabaseConfig) -> Arc<Database> {
        engine.set_index_key_fn(Arc::new(index_key));
        Arc::new(Database { engine, cfg })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
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
            prepared: HashMap::new(),
            settings: default_settings(),
            cancel: Arc::new(AtomicBool::new(false)),
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

fn default_settings() -> BTreeMap<String, String> {
    [
        ("application_name", ""),
        ("client_encoding", "UTF8"),
        ("datestyle", "ISO, MDY"),
        ("timezone", "UTC"),
        ("search_path", "\"$user\", public"),
        ("statement_timeout", "0"),
        ("server_version", SERVER_VERSION),
        ("standard_conforming_strings", "on"),
        ("transaction_isolation", "read committed"),
        ("intervalstyle", "postgres"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Computes expression index keys for the engine: parse the stored SQL text
/// of each key part and evaluate it on the row.
fn index_key(
    t: &TableDef,
    ix: &crate::catalog::IndexDef,
    row: &[Datum],
) -> Result<Vec<Datum>, String> {
    let scope = table_scope(t, None);
    let text = TextContext {
        jsonb: Some(expr::jsonb_hooks()),
        ..TextContext::default()
    };
    let ctx = EvalCtx {
        params: &[],
        aggregates: &[],
        text: &text,
        now: 0,
        database: "",
        user: "",
    };
    ix.keys
        .iter()
        .map(|k| match k {
            IndexKey::Column(i) => Ok(row[*i].clone()),
            IndexKey::Expr(sql) => {
                let e = parse_expr(sql).map_err(|e| e.message)?;
                let mut params = Vec::new();
                let b = bind(
                    &e,
                    &scope,
                    &mut BindCtx {
                        params: &mut params,
                    },
                )
                .map_err(|e| e.message)?;
                eval(&b, row, &ctx).map_err(|e| e.message)
            }
        })
        .collect()
}

fn parse_expr(sql: &str) -> Result<ast::Expr, SqlError> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::new(code::SYNTAX_ERROR, e.to_string()))
}

fn column_type(c: &ColumnDef) -> DataType {
    match DataType::from_oid(Oid(c.type_oid)) {
        Some(DataType::Varchar { .. }) => DataType::Varchar {
            max_chars: (c.type_mod >= 4).then(|| (c.type_mod - 4) as u32),
        },
        Some(t) => t,
        None => DataType::Text,
    }
}

fn table_scope(t: &TableDef, alias: Option<&str>) -> Scope {
    let qual = alias.unwrap_or(&t.name).to_string();
    Scope {
        columns: t
            .columns
            .iter()
            .map(|c| ScopeColumn {
                table: Some(qual.clone()),
                name: c.name.clone(),
                ty: column_type(c),
            })
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
    }
}

fn object_name(n: &ast::ObjectName) -> String {
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

fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// One connection's session.
pub struct Session {
    db: Arc<Database>,
    user: String,
    database: String,
    tx: Option<Transaction>,
    failed: bool,
    read_only_block: bool,
    prepared: HashMap<String, PreparedStatement>,
    settings: BTreeMap<String, String>,
    cancel: Arc<AtomicBool>,
}

/// A bound SELECT ready to run.
struct Plan {
    table: Option<Arc<TableDef>>,
    filter: Option<Expr>,
    /// Primary key values, when the filter pins the whole key.
    point: Option<Vec<Expr>>,
    group_by: Vec<Expr>,
    aggregates: Vec<Agg>,
    having: Option<Expr>,
    outputs: Vec<(String, Expr)>,
    distinct: bool,
    order_by: Vec<(Expr, bool, bool)>,
    limit: Option<Expr>,
    offset: Option<Expr>,
}

#[derive(Clone, Debug)]
enum AggKind {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Clone, Debug)]
struct Agg {
    kind: AggKind,
    arg: Option<Expr>,
    distinct: bool,
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

    fn text_ctx(&self) -> TextContext {
        TextContext {
            jsonb: Some(expr::jsonb_hooks()),
            now: Some(now_micros()),
            ..TextContext::default()
        }
    }

    /// Runs a simple-query string: every statement in order, stopping at the
    /// first error, as PostgreSQL does.
    pub async fn simple_query(&mut self, sql: &str) -> Vec<Result<QueryResult, SqlError>> {
        let stmts = match parse(sql) {
            Ok(s) => s,
            Err(e) => {
                self.fail_block();
                return vec![Err(e)];
            }
        };
        if stmts.is_empty() {
            return vec![Ok(QueryResult::Empty)];
        }
        let mut out = Vec::new();
        let many = stmts.len() > 1;
        // Several statements in one simple query run in one implicit
        // transaction unless they manage transactions themselves.
        let implicit = many && self.tx.is_none() && !stmts.iter().any(is_tx_control);
        if implicit {
            self.tx = Some(self.db.engine.begin());
        }
        for stmt in stmts {
            let r = self.run(&stmt, &[], 0).await;
            let failed = r.is_err();
            out.push(r);
            if failed {
                if implicit {
                    self.tx = None;
                    self.failed = false;
                }
                return out;
            }
        }
        if implicit {
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
            Some(s) => self.describe(s, &mut params)?,
            None => Vec::new(),
        };
        let info = Prepared {
            param_types: params
                .iter()
                .map(|p| p.unwrap_or(DataType::Text).oid().0)
                .collect(),
            columns,
        };
        self.prepared.insert(
            name.to_string(),
            PreparedStatement {
                stmt,
                info: info.clone(),
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

    /// Forgets a prepared statement.
    pub fn close_statement(&mut self, name: &str) {
        self.prepared.remove(name);
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
                    pgtext::parse(&ty, s, &text)
                        .map_err(|e| SqlError::new(e.sqlstate(), e.to_string()))?
                }
            });
        }
        self.run(&stmt, &values, max_rows).await
    }

    fn fail_block(&mut self) {
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
        if self.failed && !matches!(stmt, Statement::Rollback { .. } | Statement::Commit { .. }) {
            return Err(SqlError::new(
                code::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let r = self.run_inner(stmt, params, max_rows).await;
        if r.is_err() {
            self.fail_block();
        }
        r
    }

    async fn run_inner(
        &mut self,
        stmt: &Statement,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        match stmt {
            Statement::StartTransaction { modes, .. } => {
                if self.tx.is_some() {
                    // PostgreSQL warns and carries on.
                    return Ok(QueryResult::Command {
                        tag: "BEGIN".into(),
                    });
                }
                let mut tx = self.db.engine.begin();
                self.read_only_block = modes.iter().any(|m| {
                    matches!(
                        m,
                        ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadOnly)
                    )
                });
                if self.read_only_block {
                    tx.set_read_only();
                }
                self.tx = Some(tx);
                Ok(QueryResult::Command {
                    tag: "BEGIN".into(),
                })
            }
            Statement::Commit { .. } => {
                let failed = std::mem::take(&mut self.failed);
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
                    None => Ok(QueryResult::Command {
                        tag: "COMMIT".into(),
                    }),
                }
            }
            Statement::Rollback { .. } => {
                self.failed = false;
                self.tx = None;
                Ok(QueryResult::Command {
                    tag: "ROLLBACK".into(),
                })
            }
            Statement::Set(set) => self.set(set),
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(ident).collect::<Vec<_>>().join(" ");
                let v = self.settings.get(&name).cloned().ok_or_else(|| {
                    SqlError::new(
                        code::UNDEFINED_OBJECT,
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                Ok(QueryResult::Rows {
                    columns: vec![col_desc(&name, DataType::Text)],
                    rows: vec![vec![Some(v)]],
                    tag: "SHOW".into(),
                })
            }
            _ => {
                let autocommit = self.tx.is_none();
                let mut tx = match self.tx.take() {
                    Some(tx) => tx,
                    None => self.db.engine.begin(),
                };
                let r = self.in_tx(&mut tx, stmt, params, max_rows);
                if autocommit {
                    let r = r?;
                    if !tx.is_empty() {
                        tx.commit().await.map_err(SqlError::from_engine)?;
                    }
                    Ok(r)
                } else {
                    self.tx = Some(tx);
                    r
                }
            }
        }
    }

    fn set(&mut self, set: &ast::Set) -> Result<QueryResult, SqlError> {
        match set {
            ast::Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = object_name(variable);
                let value = values
                    .iter()
                    .map(|v| match v {
                        ast::Expr::Value(v) => match &v.value {
                            ast::Value::SingleQuotedString(s) => s.clone(),
                            other => other.to_string(),
                        },
                        ast::Expr::Identifier(i) => i.value.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                if name == "timezone" && !value.eq_ignore_ascii_case("utc") {
                    return Err(SqlError::unsupported(format!(
                        "time zone \"{value}\" (only UTC for now)"
                    )));
                }
                self.settings.insert(name, value);
                Ok(QueryResult::Command { tag: "SET".into() })
            }
            ast::Set::SetTimeZone { value, .. } => {
                let v = value.to_string().trim_matches('\'').to_string();
                if !v.eq_ignore_ascii_case("utc") {
                    return Err(SqlError::unsupported(format!(
                        "time zone \"{v}\" (only UTC for now)"
                    )));
                }
                self.settings.insert("timezone".into(), "UTC".into());
                Ok(QueryResult::Command { tag: "SET".into() })
            }
            ast::Set::SetTransaction { .. } => Ok(QueryResult::Command { tag: "SET".into() }),
            other => Err(SqlError::unsupported(format!("SET form {other}"))),
        }
    }

    fn describe(
        &self,
        stmt: &Statement,
        params: &mut Vec<Option<DataType>>,
    ) -> Result<Vec<Column>, SqlError> {
        let tx = match &self.tx {
            Some(t) => t,
            None => &self.db.engine.begin(),
        };
        Ok(match stmt {
            Statement::Query(q) => {
                let plan = self.plan_query(tx, q, params)?;
                plan.outputs
                    .iter()
                    .map(|(n, e)| col_desc(n, e.ty()))
                    .collect()
            }
            Statement::Insert(ins) => {
                let (def, _) = self.bind_insert_target(tx, ins)?;
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
                let mut ctx = BindCtx { params };
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
                let mut ctx = BindCtx { params };
                if let Some(w) = &d.selection {
                    bind(w, &scope, &mut ctx)?;
                }
                returning_columns(d.returning.as_deref(), &def, &scope, &mut ctx)?
            }
            Statement::ShowVariable { variable } => {
                vec![col_desc(
                    &variable.iter().map(ident).collect::<Vec<_>>().join(" "),
                    DataType::Text,
                )]
            }
            _ => Vec::new(),
        })
    }

    fn eval_ctx<'a>(&'a self, params: &'a [Datum], text: &'a TextContext, now: i64) -> EvalCtx<'a> {
        EvalCtx {
            params,
            aggregates: &[],
            text,
            now,
            database: &self.database,
            user: &self.user,
        }
    }

    fn check_cancel(&self) -> Result<(), SqlError> {
        if self.cancel.load(AtomicOrdering::Relaxed) {
            return Err(SqlError::new(
                code::QUERY_CANCELED,
                "canceling statement due to user request",
            ));
        }
        Ok(())
    }

    fn in_tx(
        &self,
        tx: &mut Transaction,
        stmt: &Statement,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        match stmt {
            Statement::Query(q) => self.query(tx, q, params, max_rows),
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
        if tx.catalog().table_by_name(&name).is_some() {
            if ct.if_not_exists {
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
            let ty = expr::data_type(&c.data_type)?;
            let mut col = ColumnDef {
                name: cname,
                type_oid: ty.oid().0,
                type_mod: ty.typmod(),
                not_null: false,
                default: None,
            };
            for o in &c.options {
                match &o.option {
                    ast::ColumnOption::NotNull => col.not_null = true,
                    ast::ColumnOption::Null => {}
                    ast::ColumnOption::Default(e) => col.default = Some(e.to_string()),
                    ast::ColumnOption::Unique {
                        is_primary: true, ..
                    } => {
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
                            code::INVALID_PARAMETER_VALUE,
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
        let id = tx
            .create_table(NewTable {
                name: name.clone(),
                columns,
                primary_key: pk,
            })
            .map_err(SqlError::from_engine)?;
        for (n, cols) in uniques.into_iter().enumerate() {
            let def = tx.catalog().table(id).expect("created").clone();
            let ixname = format!(
                "{name}_{}_key{}",
                cols.iter()
                    .map(|i| def.columns[*i].name.as_str())
                    .collect::<Vec<_>>()
                    .join("_"),
                if n == 0 { String::new() } else { n.to_string() }
            );
            tx.create_index(
                id,
                NewIndex {
                    name: ixname,
                    unique: true,
                    keys: cols.into_iter().map(IndexKey::Column).collect(),
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
            None => format!("{tname}_idx"),
        };
        if tx.catalog().index_by_name(&name).is_some()
            || tx.catalog().table_by_name(&name).is_some()
        {
            if ci.if_not_exists {
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
                    let b = bind(
                        e,
                        &scope,
                        &mut BindCtx {
                            params: &mut params,
                        },
                    )?;
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
        tx.create_index(
            def.id,
            NewIndex {
                name,
                unique: ci.unique,
                keys,
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
                        None if if_exists => {}
                        None => return Err(no_table(&name)),
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
                            continue;
                        }
                        return Err(SqlError::new(
                            code::UNDEFINED_OBJECT,
                            format!("index \"{name}\" does not exist"),
                        ));
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
        let def = tx
            .catalog()
            .table_by_name(&name)
            .cloned()
            .ok_or_else(|| no_table(&name))?;
        let targets: Vec<usize> = if ins.columns.is_empty() {
            (0..def.columns.len()).collect()
        } else {
            ins.columns
                .iter()
                .map(|c| {
                    let n = ident(c);
                    def.column(&n).ok_or_else(|| {
                        SqlError::new(
                            code::UNDEFINED_COLUMN,
                            format!("column \"{n}\" of relation \"{name}\" does not exist"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?
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
                let mut ctx = BindCtx { params };
                for row in &v.rows {
                    for (e, t) in row.iter().zip(&targets) {
                        let ty = column_type(&def.columns[*t]);
                        let b = bind(e, &empty, &mut ctx)?;
                        if let Expr::Param(i, DataType::Text) = b {
                            if ctx.params[i].is_none() {
                                ctx.params[i] = Some(ty);
                            }
                        }
                    }
                }
            }
        }
        let scope = table_scope(def, None);
        returning_columns(
            ins.returning.as_deref(),
            def,
            &scope,
            &mut BindCtx { params },
        )
    }

    fn insert(
        &self,
        tx: &mut Transaction,
        ins: &ast::Insert,
        params: &[Datum],
    ) -> Result<QueryResult, SqlError> {
        let (def, targets) = self.bind_insert_target(tx, ins)?;
        let text = self.text_ctx();
        let now = now_micros();
        let ectx = self.eval_ctx(params, &text, now);
        let src = ins
            .source
            .as_ref()
            .ok_or_else(|| SqlError::unsupported("INSERT without VALUES or SELECT"))?;
        // Rows to insert, as full rows with defaults filled in.
        let mut param_types: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        // Rows as given; `None` marks DEFAULT.
        let provided: Vec<Vec<Option<Datum>>> = match src.body.as_ref() {
            ast::SetExpr::Values(v) => {
                let empty = Scope::default();
                let mut rows = Vec::with_capacity(v.rows.len());
                for row in &v.rows {
                    if row.len() > targets.len() {
                        return Err(SqlError::new(
                            code::SYNTAX_ERROR,
                            "INSERT has more expressions than target columns",
                        ));
                    }
                    let mut vals = Vec::with_capacity(row.len());
                    for (e, t) in row.iter().zip(&targets) {
                        let ty = column_type(&def.columns[*t]);
                        if matches!(e, ast::Expr::Identifier(i) if i.value.eq_ignore_ascii_case("default"))
                        {
                            vals.push(None);
                            continue;
                        }
                        let b = bind(
                            e,
                            &empty,
                            &mut BindCtx {
                                params: &mut param_types,
                            },
                        )?
                        .coerce_to(ty);
                        vals.push(Some(assign_cast(
                            eval(&b, &[], &ectx)?,
                            ty,
                            &def.columns[*t],
                            &ectx,
                        )?));
                    }
                    rows.push(vals);
                }
                rows
            }
            ast::SetExpr::Select(_) | ast::SetExpr::Query(_) => {
                let rows = self.run_query_rows(tx, src, params)?;
                let mut out = Vec::new();
                for r in rows {
                    let mut vals = Vec::new();
                    for (d, t) in r.into_iter().zip(&targets) {
                        let ty = column_type(&def.columns[*t]);
                        vals.push(Some(assign_cast(d, ty, &def.columns[*t], &ectx)?));
                    }
                    out.push(vals);
                }
                out
            }
            other => return Err(SqlError::unsupported(format!("INSERT source {other}"))),
        };
        let scope = table_scope(&def, None);
        let mut count = 0u64;
        let mut returned = Vec::new();
        let on_conflict = match &ins.on {
            None => None,
            Some(ast::OnInsert::OnConflict(oc)) => Some(oc),
            Some(other) => return Err(SqlError::unsupported(format!("{other}"))),
        };
        for vals in provided {
            self.check_cancel()?;
            let mut row = vec![None; def.columns.len()];
            for (v, t) in vals.into_iter().zip(&targets) {
                row[*t] = v;
            }
            let mut full = Vec::with_capacity(def.columns.len());
            for (i, c) in def.columns.iter().enumerate() {
                let v = match row[i].take() {
                    Some(v) => v,
                    None => self.default_value(c, &ectx)?,
                };
                full.push(v);
            }
            check_not_null(&def, &full)?;
            let result_row = match on_conflict {
                None => {
                    tx.insert(def.id, full.clone())
                        .map_err(SqlError::from_engine)?;
                    Some(full)
                }
                Some(oc) => self.upsert(tx, &def, &scope, oc, full, &ectx)?,
            };
            if let Some(r) = result_row {
                count += 1;
                if let Some(ret) = &ins.returning {
                    returned.push(self.project_returning(ret, &def, &scope, &r, &ectx)?);
                }
            }
        }
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let tag = format!("INSERT 0 {count}");
        dml_result(
            tag,
            ins.returning.as_deref(),
            &def,
            &scope,
            &mut pt,
            returned,
        )
    }

    fn default_value(&self, c: &ColumnDef, ectx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
        match &c.default {
            None => Ok(Datum::Null),
            Some(sql) => {
                let e = parse_expr(sql)?;
                let ty = column_type(c);
                let mut params = Vec::new();
                let b = bind(
                    &e,
                    &Scope::default(),
                    &mut BindCtx {
                        params: &mut params,
                    },
                )?
                .coerce_to(ty);
                assign_cast(eval(&b, &[], ectx)?, ty, c, ectx)
            }
        }
    }

    fn upsert(
        &self,
        tx: &mut Transaction,
        def: &TableDef,
        scope: &Scope,
        oc: &ast::OnConflict,
        row: Vec<Datum>,
        ectx: &EvalCtx<'_>,
    ) -> Result<Option<Vec<Datum>>, SqlError> {
        if let Some(ast::ConflictTarget::Columns(cols)) = &oc.conflict_target {
            let named: Vec<usize> = cols.iter().filter_map(|c| def.column(&ident(c))).collect();
            let is_pk = !def.primary_key.is_empty() && named == def.primary_key;
            let is_unique = def.indexes.iter().any(|ix| {
                ix.unique
                    && ix
                        .keys
                        .iter()
                        .all(|k| matches!(k, IndexKey::Column(i) if named.contains(i)))
                    && ix.keys.len() == named.len()
            });
            if !is_pk && !is_unique {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                ));
            }
            if !is_pk {
                return Err(SqlError::unsupported(
                    "ON CONFLICT on a unique index other than the primary key",
                ));
            }
        }
        if def.primary_key.is_empty() {
            return Err(SqlError::new(
                code::INVALID_PARAMETER_VALUE,
                "there is no unique or exclusion constraint matching the ON CONFLICT specification",
            ));
        }
        let pk: Vec<Datum> = def.primary_key.iter().map(|i| row[*i].clone()).collect();
        let existing = tx.get(def.id, &pk).map_err(SqlError::from_engine)?;
        let Some(existing) = existing else {
            tx.insert(def.id, row.clone())
                .map_err(SqlError::from_engine)?;
            return Ok(Some(row));
        };
        match &oc.action {
            ast::OnConflictAction::DoNothing => Ok(None),
            ast::OnConflictAction::DoUpdate(du) => {
                // The row's columns, then EXCLUDED's.
                let mut s = scope.clone();
                let n = def.columns.len();
                for (i, c) in def.columns.iter().enumerate() {
                    s.columns.push(ScopeColumn {
                        table: Some("excluded".into()),
                        name: c.name.clone(),
                        ty: scope.columns[i].ty,
                    });
                    s.aliases.push(("excluded".into(), c.name.clone(), n + i));
                }
                // Unqualified names refer to the existing row only.
                for c in s.columns[n..].iter_mut() {
                    c.name = format!("\u{0}excluded.{}", c.name);
                }
                let mut both = existing.clone();
                both.extend(row.iter().cloned());
                let mut params: Vec<Option<DataType>> =
                    ectx.params.iter().map(|d| d.data_type()).collect();
                if let Some(w) = &du.selection {
                    let b = bind(
                        w,
                        &s,
                        &mut BindCtx {
                            params: &mut params,
                        },
                    )?;
                    if !matches!(eval(&b, &both, ectx)?, Datum::Bool(true)) {
                        return Ok(None);
                    }
                }
                let mut new = existing.clone();
                for a in &du.assignments {
                    let (i, ty) = assign_target(def, a)?;
                    let b = bind(
                        &a.value,
                        &s,
                        &mut BindCtx {
                            params: &mut params,
                        },
                    )?
                    .coerce_to(ty);
                    new[i] = assign_cast(eval(&b, &both, ectx)?, ty, &def.columns[i], ectx)?;
                }
                check_not_null(def, &new)?;
                let key = tx.encode_pk(def.id, &pk).map_err(SqlError::from_engine)?;
                tx.update(def.id, &key, new.clone())
                    .map_err(SqlError::from_engine)?;
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
        let outs = select_items(
            items,
            def,
            scope,
            &mut BindCtx {
                params: &mut params,
            },
        )?;
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
                    .ok_or_else(|| no_table(&n))
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

    /// Rows of `def` matching `filter`, with their stored keys.
    fn matching_rows(
        &self,
        tx: &Transaction,
        def: &TableDef,
        filter: Option<&Expr>,
        point: Option<&[Expr]>,
        ectx: &EvalCtx<'_>,
    ) -> Result<Vec<crate::engine::Row>, SqlError> {
        let rows = match point {
            Some(pk) => {
                let vals = pk
                    .iter()
                    .map(|e| eval(e, &[], ectx))
                    .collect::<Result<Vec<_>, _>>()?;
                if vals.iter().any(Datum::is_null) {
                    Vec::new()
                } else {
                    let key = tx.encode_pk(def.id, &vals).map_err(SqlError::from_engine)?;
                    tx.get_by_key(def.id, &key)
                        .map_err(SqlError::from_engine)?
                        .map(|r| vec![(key, r)])
                        .unwrap_or_default()
                }
            }
            None => tx
                .scan(
                    def.id,
                    Bound::Unbounded,
                    Bound::Unbounded,
                    Direction::Forward,
                )
                .map_err(SqlError::from_engine)?,
        };
        let mut out = Vec::new();
        for (i, (k, r)) in rows.into_iter().enumerate() {
            if i % 1024 == 0 {
                self.check_cancel()?;
            }
            let keep = match filter {
                Some(f) => matches!(eval(f, &r, ectx)?, Datum::Bool(true)),
                None => true,
            };
            if keep {
                out.push((k, r));
            }
        }
        Ok(out)
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
        let ectx = self.eval_ctx(params, &text, now_micros());
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let filter = selection
            .map(|w| bind(w, &scope, &mut BindCtx { params: &mut pt }))
            .transpose()?;
        let point = filter.as_ref().and_then(|f| pk_point(&def, f));
        let sets: Vec<(usize, DataType, Expr)> = assignments
            .iter()
            .map(|a| {
                let (i, ty) = assign_target(&def, a)?;
                Ok((
                    i,
                    ty,
                    bind(&a.value, &scope, &mut BindCtx { params: &mut pt })?.coerce_to(ty),
                ))
            })
            .collect::<Result<_, SqlError>>()?;
        let rows = self.matching_rows(tx, &def, filter.as_ref(), point.as_deref(), &ectx)?;
        let mut returned = Vec::new();
        let n = rows.len();
        for (key, old) in rows {
            let mut new = old.clone();
            for (i, ty, e) in &sets {
                new[*i] = assign_cast(eval(e, &old, &ectx)?, *ty, &def.columns[*i], &ectx)?;
            }
            check_not_null(&def, &new)?;
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
        let ectx = self.eval_ctx(params, &text, now_micros());
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let filter = d
            .selection
            .as_ref()
            .map(|w| bind(w, &scope, &mut BindCtx { params: &mut pt }))
            .transpose()?;
        let point = filter.as_ref().and_then(|f| pk_point(&def, f));
        let rows = self.matching_rows(tx, &def, filter.as_ref(), point.as_deref(), &ectx)?;
        let n = rows.len();
        let mut returned = Vec::new();
        for (key, old) in rows {
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

    fn plan_query(
        &self,
        tx: &Transaction,
        q: &ast::Query,
        params: &mut Vec<Option<DataType>>,
    ) -> Result<Plan, SqlError> {
        if q.with.is_some() {
            return Err(SqlError::unsupported("WITH (common table expressions)"));
        }
        let ast::SetExpr::Select(sel) = q.body.as_ref() else {
            return Err(SqlError::unsupported(format!(
                "query form {}",
                first_words(&q.body.to_string())
            )));
        };
        let (table, scope) = match sel.from.as_slice() {
            [] => (None, Scope::default()),
            [t] if t.joins.is_empty() => {
                let alias = match &t.relation {
                    ast::TableFactor::Table { alias: Some(a), .. } => Some(ident(&a.name)),
                    _ => None,
                };
                let def = self.table_from_factor(tx, &t.relation)?;
                let scope = table_scope(&def, alias.as_deref());
                (Some(def), scope)
            }
            _ => return Err(SqlError::unsupported("joins")),
        };
        let mut ctx = BindCtx { params };
        let filter = sel
            .selection
            .as_ref()
            .map(|w| bind(w, &scope, &mut ctx).map(|e| e.coerce_to(DataType::Bool)))
            .transpose()?;
        let point = match (&table, &filter) {
            (Some(def), Some(f)) => pk_point(def, f),
            _ => None,
        };
        let group_by: Vec<Expr> = match &sel.group_by {
            ast::GroupByExpr::Expressions(exprs, _) => exprs
                .iter()
                .map(|e| match e {
                    // `GROUP BY 1` names an output column, as in PostgreSQL.
                    ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                        let n: usize = v.value.to_string().parse().unwrap_or(0);
                        match sel.projection.get(n.wrapping_sub(1)) {
                            Some(
                                ast::SelectItem::UnnamedExpr(x)
                                | ast::SelectItem::ExprWithAlias { expr: x, .. },
                            ) => bind(x, &scope, &mut ctx),
                            _ => Err(SqlError::new(
                                code::INVALID_PARAMETER_VALUE,
                                format!("GROUP BY position {n} is not in select list"),
                            )),
                        }
                    }
                    e => bind(e, &scope, &mut ctx),
                })
                .collect::<Result<_, _>>()?,
            ast::GroupByExpr::All(_) => return Err(SqlError::unsupported("GROUP BY ALL")),
        };
        let mut aggregates = Vec::new();
        let dummy = TableDef {
            id: 0,
            name: String::new(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            root: crate::pages::PageId(0),
            indexes: Vec::new(),
        };
        let mut outputs = Vec::new();
        for item in &sel.projection {
            match item {
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    let def = table.as_deref().ok_or_else(|| {
                        SqlError::new(
                            code::SYNTAX_ERROR,
                            "SELECT * with no tables specified is not valid",
                        )
                    })?;
                    outputs.extend(select_items(
                        std::slice::from_ref(item),
                        def,
                        &scope,
                        &mut ctx,
                    )?);
                }
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let b = bind_with_aggs(e, &scope, &mut ctx, &mut aggregates, &group_by)?;
                    let name = match item {
                        ast::SelectItem::ExprWithAlias { alias, .. } => ident(alias),
                        _ => output_name(e),
                    };
                    outputs.push((name, b));
                }
            }
        }
        let _ = &dummy;
        let having = sel
            .having
            .as_ref()
            .map(|h| bind_with_aggs(h, &scope, &mut ctx, &mut aggregates, &group_by))
            .transpose()?;
        let grouped = !group_by.is_empty() || !aggregates.is_empty();
        if grouped {
            for (name, e) in &outputs {
                check_grouped(e, &group_by).map_err(|c| {
                    SqlError::new(code::GROUPING_ERROR, format!("column \"{}\" must appear in the GROUP BY clause or be used in an aggregate function", scope_name(&scope, c).unwrap_or(name.clone())))
                })?;
            }
        }
        let mut order_by = Vec::new();
        if let Some(ob) = &q.order_by {
            let ast::OrderByKind::Expressions(exprs) = &ob.kind else {
                return Err(SqlError::unsupported("ORDER BY ALL"));
            };
            for o in exprs {
                let asc = o.options.asc.unwrap_or(true);
                let nulls_first = o.options.nulls_first.unwrap_or(!asc);
                // An output name or position, else an expression.
                let e = match &o.expr {
                    ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                        let n: usize = v.value.to_string().parse().unwrap_or(0);
                        outputs
                            .get(n.wrapping_sub(1))
                            .map(|(_, e)| e.clone())
                            .ok_or_else(|| {
                                SqlError::new(
                                    code::INVALID_PARAMETER_VALUE,
                                    format!("ORDER BY position {n} is not in select list"),
                                )
                            })?
                    }
                    ast::Expr::Identifier(i)
                        if outputs.iter().any(|(n, _)| *n == ident(i))
                            && scope.columns.iter().all(|c| c.name != ident(i)) =>
                    {
                        outputs
                            .iter()
                            .find(|(n, _)| *n == ident(i))
                            .map(|(_, e)| e.clone())
                            .expect("checked")
                    }
                    e => bind_with_aggs(e, &scope, &mut ctx, &mut aggregates, &group_by)?,
                };
                order_by.push((e, asc, nulls_first));
            }
        }
        let (limit, offset) = match &q.limit_clause {
            None => (None, None),
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => (
                limit
                    .as_ref()
                    .map(|l| {
                        bind(l, &Scope::default(), &mut ctx)
                            .map(|e| Expr::Cast(Box::new(e), DataType::Int8))
                    })
                    .transpose()?,
                offset
                    .as_ref()
                    .map(|o| {
                        bind(&o.value, &Scope::default(), &mut ctx)
                            .map(|e| Expr::Cast(Box::new(e), DataType::Int8))
                    })
                    .transpose()?,
            ),
            Some(other) => return Err(SqlError::unsupported(format!("{other}"))),
        };
        let distinct = match &sel.distinct {
            None => false,
            Some(ast::Distinct::Distinct) => true,
            Some(other) => return Err(SqlError::unsupported(format!("{other}"))),
        };
        Ok(Plan {
            table,
            filter,
            point,
            group_by,
            aggregates,
            having,
            outputs,
            distinct,
            order_by,
            limit,
            offset,
        })
    }

    fn run_query_rows(
        &self,
        tx: &Transaction,
        q: &ast::Query,
        params: &[Datum],
    ) -> Result<Vec<Vec<Datum>>, SqlError> {
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let plan = self.plan_query(tx, q, &mut pt)?;
        self.exec(tx, &plan, params)
    }

    fn query(
        &self,
        tx: &Transaction,
        q: &ast::Query,
        params: &[Datum],
        max_rows: usize,
    ) -> Result<QueryResult, SqlError> {
        let mut pt: Vec<Option<DataType>> = params.iter().map(|d| d.data_type()).collect();
        let plan = self.plan_query(tx, q, &mut pt)?;
        let rows = self.exec(tx, &plan, params)?;
        let text = self.text_ctx();
        let columns: Vec<Column> = plan
            .outputs
            .iter()
            .map(|(n, e)| col_desc(n, e.ty()))
            .collect();
        let mut out: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|r| r.iter().map(|d| text_of(d, &text)).collect())
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

    fn exec(
        &self,
        tx: &Transaction,
        plan: &Plan,
        params: &[Datum],
    ) -> Result<Vec<Vec<Datum>>, SqlError> {
        let text = self.text_ctx();
        let now = now_micros();
        let ectx = self.eval_ctx(params, &text, now);
        let input: Vec<Vec<Datum>> = match &plan.table {
            None => {
                let keep = match &plan.filter {
                    Some(f) => matches!(eval(f, &[], &ectx)?, Datum::Bool(true)),
                    None => true,
                };
                if keep {
                    vec![Vec::new()]
                } else {
                    Vec::new()
                }
            }
            Some(def) => self
                .matching_rows(tx, def, plan.filter.as_ref(), plan.point.as_deref(), &ectx)?
                .into_iter()
                .map(|(_, r)| r)
                .collect(),
        };
        // Each result row with its sort keys.
        let mut rows: Vec<(Vec<Datum>, Vec<Datum>)> = Vec::new();
        if plan.group_by.is_empty() && plan.aggregates.is_empty() {
            for r in &input {
                let out = plan
                    .outputs
                    .iter()
                    .map(|(_, e)| eval(e, r, &ectx))
                    .collect::<Result<Vec<_>, _>>()?;
                let keys = plan
                    .order_by
                    .iter()
                    .map(|(e, _, _)| eval(e, r, &ectx))
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push((out, keys));
            }
        } else {
            let mut groups: Vec<(Vec<Datum>, Vec<AggState>, Vec<Datum>)> = Vec::new();
            let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
            for r in &input {
                let key = plan
                    .group_by
                    .iter()
                    .map(|e| eval(e, r, &ectx))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut kb = Vec::new();
                crate::datum::encode_row(&key, &mut kb)
                    .map_err(|e| SqlError::new(code::INTERNAL_ERROR, e.to_string()))?;
                let gi = *index.entry(kb).or_insert_with(|| {
                    groups.push((
                        key.clone(),
                        plan.aggregates.iter().map(AggState::new).collect(),
                        r.clone(),
                    ));
                    groups.len() - 1
                });
                for (a, st) in plan.aggregates.iter().zip(groups[gi].1.iter_mut()) {
                    let v = a.arg.as_ref().map(|e| eval(e, r, &ectx)).transpose()?;
                    st.add(v)?;
                }
            }
            if groups.is_empty() && plan.group_by.is_empty() {
                groups.push((
                    Vec::new(),
                    plan.aggregates.iter().map(AggState::new).collect(),
                    Vec::new(),
                ));
            }
            for (_, states, sample) in groups {
                let aggs = states
                    .into_iter()
                    .map(AggState::finish)
                    .collect::<Result<Vec<_>, _>>()?;
                let gctx = EvalCtx {
                    aggregates: &aggs,
                    ..self.eval_ctx(params, &text, now)
                };
                if let Some(h) = &plan.having {
                    if !matches!(eval(h, &sample, &gctx)?, Datum::Bool(true)) {
                        continue;
                    }
                }
                let out = plan
                    .outputs
                    .iter()
                    .map(|(_, e)| eval(e, &sample, &gctx))
                    .collect::<Result<Vec<_>, _>>()?;
                let keys = plan
                    .order_by
                    .iter()
                    .map(|(e, _, _)| eval(e, &sample, &gctx))
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push((out, keys));
            }
        }
        if plan.distinct {
            let mut seen = std::collections::HashSet::new();
            rows.retain(|(out, _)| {
                let mut kb = Vec::new();
                let _ = crate::datum::encode_row(out, &mut kb);
                seen.insert(kb)
            });
        }
        if !plan.order_by.is_empty() {
            let mut err = None;
            rows.sort_by(|(_, a), (_, b)| {
                for (i, (_, asc, nulls_first)) in plan.order_by.iter().enumerate() {
                    let o = match (a[i].is_null(), b[i].is_null()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => {
                            if *nulls_first {
                                std::cmp::Ordering::Less
                            } else {
                                std::cmp::Ordering::Greater
                            }
                        }
                        (false, true) => {
                            if *nulls_first {
                                std::cmp::Ordering::Greater
                            } else {
                                std::cmp::Ordering::Less
                            }
                        }
                        (false, false) => {
                            let o = expr::compare(&a[i], &b[i]).unwrap_or_else(|e| {
                                err.get_or_insert(e);
                                std::cmp::Ordering::Equal
                            });
                            if *asc {
                                o
                            } else {
                                o.reverse()
                            }
                        }
                    };
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
            if let Some(e) = err {
                return Err(e);
            }
        }
        let int = |e: &Option<Expr>| -> Result<Option<usize>, SqlError> {
            match e {
                None => Ok(None),
                Some(e) => match eval(e, &[], &ectx)? {
                    Datum::Null => Ok(None),
                    Datum::Int8(n) if n >= 0 => Ok(Some(n as usize)),
                    _ => Err(SqlError::new(
                        code::INVALID_PARAMETER_VALUE,
                        "LIMIT and OFFSET must not be negative",
                    )),
                },
            }
        };
        let offset = int(&plan.offset)?.unwrap_or(0);
        let limit = int(&plan.limit)?;
        Ok(rows
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .map(|(o, _)| o)
            .collect())
    }
}

fn scope_name(scope: &Scope, col: usize) -> Option<String> {
    scope.columns.get(col).map(|c| match &c.table {
        Some(t) => format!("{t}.{}", c.name),
        None => c.name.clone(),
    })
}

/// Checks that `e` uses columns only through GROUP BY expressions or
/// aggregates; returns the offending column.
fn check_grouped(e: &Expr, group_by: &[Expr]) -> Result<(), usize> {
    if group_by.iter().any(|g| same_expr(g, e)) {
        return Ok(());
    }
    match e {
        Expr::Column(i, _) => Err(*i),
        Expr::Literal(..) | Expr::Param(..) | Expr::Aggregate(..) => Ok(()),
        Expr::Coerce(x, _)
        | Expr::Cast(x, _)
        | Expr::Not(x)
        | Expr::Neg(x)
        | Expr::IsNull(x, _) => check_grouped(x, group_by),
        Expr::Binary(_, a, b, _) => check_grouped(a, group_by).and(check_grouped(b, group_by)),
        Expr::InList(x, l, _) => {
            check_grouped(x, group_by)?;
            l.iter().try_for_each(|y| check_grouped(y, group_by))
        }
        Expr::Like { expr, pattern, .. } => {
            check_grouped(expr, group_by).and(check_grouped(pattern, group_by))
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
            ..
        } => {
            if let Some(o) = operand {
                check_grouped(o, group_by)?;
            }
            for (c, r) in whens {
                check_grouped(c, group_by)?;
                check_grouped(r, group_by)?;
            }
            otherwise
                .as_ref()
                .map_or(Ok(()), |o| check_grouped(o, group_by))
        }
        Expr::Call(_, args, _) => args.iter().try_for_each(|a| check_grouped(a, group_by)),
    }
}

fn same_expr(a: &Expr, b: &Expr) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Binds an expression that may contain aggregate calls: each becomes an
/// `Expr::Aggregate` slot computed per group.
fn bind_with_aggs(
    e: &ast::Expr,
    scope: &Scope,
    ctx: &mut BindCtx<'_>,
    aggs: &mut Vec<Agg>,
    group_by: &[Expr],
) -> Result<Expr, SqlError> {
    let _ = group_by;
    if let ast::Expr::Function(f) = e {
        let name = f.name.to_string().to_lowercase();
        let kind = match name.as_str() {
            "count" => Some(AggKind::Count),
            "sum" => Some(AggKind::Sum),
            "avg" => Some(AggKind::Avg),
            "min" => Some(AggKind::Min),
            "max" => Some(AggKind::Max),
            _ => None,
        };
        if let Some(kind) = kind {
            let ast::FunctionArguments::List(list) = &f.args else {
                return Err(SqlError::new(
                    code::SYNTAX_ERROR,
                    format!("{name} needs an argument"),
                ));
            };
            let distinct = matches!(
                list.duplicate_treatment,
                Some(ast::DuplicateTreatment::Distinct)
            );
            let (kind, arg) = match list.args.as_slice() {
                [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)]
                    if matches!(kind, AggKind::Count) =>
                {
                    (AggKind::CountStar, None)
                }
                [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a))] => {
                    (kind, Some(bind(a, scope, ctx)?))
                }
                _ => {
                    return Err(SqlError::new(
                        code::UNDEFINED_FUNCTION,
                        format!("function {name} with these arguments does not exist"),
                    ))
                }
            };
            let ty = match (&kind, &arg) {
                (AggKind::CountStar | AggKind::Count, _) => DataType::Int8,
                (AggKind::Sum, Some(a)) => match a.ty() {
                    DataType::Int2 | DataType::Int4 => DataType::Int8,
                    DataType::Int8 | DataType::Numeric => DataType::Numeric,
                    t => t,
                },
                (AggKind::Avg, Some(a)) => match a.ty() {
                    DataType::Float4 | DataType::Float8 => DataType::Float8,
                    _ => DataType::Numeric,
                },
                (_, Some(a)) => a.ty(),
                (_, None) => DataType::Int8,
            };
            aggs.push(Agg {
                kind,
                arg,
                distinct,
            });
            return Ok(Expr::Aggregate(aggs.len() - 1, ty));
        }
    }
    // Aggregates nested in larger expressions: bind children that are
    // aggregate calls by rewriting through a small set of shapes.
    match e {
        ast::Expr::BinaryOp { left, op, right } if contains_agg(left) || contains_agg(right) => {
            let l = bind_with_aggs(left, scope, ctx, aggs, group_by)?;
            let r = bind_with_aggs(right, scope, ctx, aggs, group_by)?;
            let fake = ast::Expr::BinaryOp {
                left: Box::new(placeholder(0)),
                op: op.clone(),
                right: Box::new(placeholder(1)),
            };
            rebind_binary(&fake, l, r, ctx)
        }
        ast::Expr::Nested(x) => bind_with_aggs(x, scope, ctx, aggs, group_by),
        ast::Expr::Cast {
            expr: x, data_type, ..
        } if contains_agg(x) => {
            let inner = bind_with_aggs(x, scope, ctx, aggs, group_by)?;
            Ok(Expr::Cast(Box::new(inner), expr::data_type(data_type)?))
        }
        _ => bind(e, scope, ctx),
    }
}

fn placeholder(n: usize) -> ast::Expr {
    ast::Expr::Identifier(ast::Ident::new(format!("\u{0}agg{n}")))
}

fn rebind_binary(
    fake: &ast::Expr,
    l: Expr,
    r: Expr,
    ctx: &mut BindCtx<'_>,
) -> Result<Expr, SqlError> {
    let scope = Scope {
        columns: vec![
            ScopeColumn {
                table: None,
                name: "\u{0}agg0".into(),
                ty: l.ty(),
            },
            ScopeColumn {
                table: None,
                name: "\u{0}agg1".into(),
                ty: r.ty(),
            },
        ],
        aliases: Vec::new(),
    };
    let bound = bind(fake, &scope, ctx)?;
    Ok(substitute(bound, &[l, r]))
}

fn substitute(e: Expr, with: &[Expr]) -> Expr {
    let s = |x: Box<Expr>| Box::new(substitute(*x, with));
    match e {
        Expr::Column(i, _) => with[i].clone(),
        Expr::Binary(op, a, b, t) => Expr::Binary(op, s(a), s(b), t),
        Expr::Coerce(x, t) => Expr::Coerce(s(x), t),
        Expr::Cast(x, t) => Expr::Cast(s(x), t),
        Expr::Not(x) => Expr::Not(s(x)),
        Expr::Neg(x) => Expr::Neg(s(x)),
        other => other,
    }
}

fn contains_agg(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Function(f) => matches!(
            f.name.to_string().to_lowercase().as_str(),
            "count" | "sum" | "avg" | "min" | "max"
        ),
        ast::Expr::BinaryOp { left, right, .. } => contains_agg(left) || contains_agg(right),
        ast::Expr::Nested(x)
        | ast::Expr::Cast { expr: x, .. }
        | ast::Expr::UnaryOp { expr: x, .. } => contains_agg(x),
        _ => false,
    }
}

enum AggState {
    Count(i64),
    Sum(Option<Datum>),
    Avg(f64, i64, bool),
    MinMax(Option<Datum>, bool),
    Distinct(Box<AggState>, std::collections::HashSet<Vec<u8>>),
}

impl AggState {
    fn new(a: &Agg) -> AggState {
        let base = match a.kind {
            AggKind::CountStar | AggKind::Count => AggState::Count(0),
            AggKind::Sum => AggState::Sum(None),
            AggKind::Avg => AggState::Avg(
                0.0,
                0,
                matches!(
                    a.arg.as_ref().map(|e| e.ty()),
                    Some(DataType::Float4 | DataType::Float8)
                ),
            ),
            AggKind::Min => AggState::MinMax(None, true),
            AggKind::Max => AggState::MinMax(None, false),
        };
        if a.distinct {
            AggState::Distinct(Box::new(base), Default::default())
        } else {
            base
        }
    }

    fn add(&mut self, v: Option<Datum>) -> Result<(), SqlError> {
        match self {
            AggState::Distinct(inner, seen) => {
                if let Some(d) = &v {
                    let mut kb = Vec::new();
                    let _ = crate::datum::encode_row(std::slice::from_ref(d), &mut kb);
                    if !seen.insert(kb) {
                        return Ok(());
                    }
                }
                inner.add(v)
            }
            AggState::Count(n) => {
                if !matches!(v, Some(Datum::Null)) {
                    *n += 1;
                }
                Ok(())
            }
            AggState::Sum(acc) => {
                let Some(d) = v.filter(|d| !d.is_null()) else {
                    return Ok(());
                };
                let d = match d {
                    Datum::Int2(x) => Datum::Int8(i64::from(x)),
                    Datum::Int4(x) => Datum::Int8(i64::from(x)),
                    d => d,
                };
                *acc = Some(match (acc.take(), d) {
                    (None, d) => d,
                    (Some(Datum::Int8(a)), Datum::Int8(b)) => {
                        Datum::Int8(a.checked_add(b).ok_or_else(|| {
                            SqlError::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "bigint out of range")
                        })?)
                    }
                    (Some(Datum::Float8(a)), Datum::Float8(b)) => Datum::Float8(a + b),
                    (Some(Datum::Float4(a)), Datum::Float4(b)) => Datum::Float4(a + b),
                    (Some(a), b) => {
                        return Err(SqlError::unsupported(format!(
                            "sum over {:?} and {:?}",
                            a.data_type(),
                            b.data_type()
                        )))
                    }
                });
                Ok(())
            }
            AggState::Avg(sum, n, _) => {
                let Some(d) = v.filter(|d| !d.is_null()) else {
                    return Ok(());
                };
                let x = match d {
                    Datum::Int2(x) => f64::from(x),
                    Datum::Int4(x) => f64::from(x),
                    Datum::Int8(x) => x as f64,
                    Datum::Float4(x) => f64::from(x),
                    Datum::Float8(x) => x,
                    other => {
                        return Err(SqlError::unsupported(format!(
                            "avg over {:?}",
                            other.data_type()
                        )))
                    }
                };
                *sum += x;
                *n += 1;
                Ok(())
            }
            AggState::MinMax(cur, min) => {
                let Some(d) = v.filter(|d| !d.is_null()) else {
                    return Ok(());
                };
                let replace = match cur {
                    None => true,
                    Some(c) => {
                        let o = expr::compare(&d, c)?;
                        if *min {
                            o == std::cmp::Ordering::Less
                        } else {
                            o == std::cmp::Ordering::Greater
                        }
                    }
                };
                if replace {
                    *cur = Some(d);
                }
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<Datum, SqlError> {
        Ok(match self {
            AggState::Distinct(inner, _) => inner.finish()?,
            AggState::Count(n) => Datum::Int8(n),
            AggState::Sum(acc) => match acc {
                None => Datum::Null,
                Some(Datum::Int8(v)) => Datum::Numeric(crate::datum::Numeric::from(v)),
                Some(d) => d,
            },
            AggState::Avg(sum, n, float) => {
                if n == 0 {
                    Datum::Null
                } else if float {
                    Datum::Float8(sum / n as f64)
                } else {
                    let v = sum / n as f64;
                    Datum::Numeric(
                        format!("{v:.16}")
                            .trim_end_matches('0')
                            .trim_end_matches('.')
                            .parse()
                            .map_err(|e| SqlError::new(code::INTERNAL_ERROR, format!("{e}")))?,
                    )
                }
            }
            AggState::MinMax(cur, _) => cur.unwrap_or(Datum::Null),
        })
    }
}

/// If `f` pins every primary key column with `col = value` conjuncts whose
/// values do not depend on the row, the values in key order.
fn pk_point(def: &TableDef, f: &Expr) -> Option<Vec<Expr>> {
    if def.primary_key.is_empty() {
        return None;
    }
    let mut found: HashMap<usize, Expr> = HashMap::new();
    fn walk(e: &Expr, found: &mut HashMap<usize, Expr>) {
        match e {
            Expr::Binary(expr::BinOp::And, a, b, _) => {
                walk(a, found);
                walk(b, found);
            }
            Expr::Binary(expr::BinOp::Eq, a, b, _) => match (a.as_ref(), b.as_ref()) {
                (Expr::Column(i, ty), v) | (v, Expr::Column(i, ty)) if row_free(v) => {
                    found.insert(*i, Expr::Cast(Box::new(v.clone()), *ty));
                }
                _ => {}
            },
            _ => {}
        }
    }
    walk(f, &mut found);
    def.primary_key
        .iter()
        .map(|i| found.get(i).cloned())
        .collect()
}

fn row_free(e: &Expr) -> bool {
    match e {
        Expr::Literal(..) | Expr::Param(..) => true,
        Expr::Coerce(x, _) | Expr::Cast(x, _) | Expr::Neg(x) => row_free(x),
        _ => false,
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
    })?;
    Ok((i, column_type(&def.columns[i])))
}

/// Converts a value for storage in column `c` (assignment cast).
fn assign_cast(
    d: Datum,
    ty: DataType,
    _c: &ColumnDef,
    ectx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    expr::assign(d, ty, ectx)
}

fn check_not_null(def: &TableDef, row: &[Datum]) -> Result<(), SqlError> {
    for (c, v) in def.columns.iter().zip(row) {
        if c.not_null && v.is_null() {
            return Err(SqlError::new(
                code::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    c.name, def.name
                ),
            ));
        }
    }
    Ok(())
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
            let columns = returning_columns(Some(ret), def, scope, &mut BindCtx { params })?;
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
            ast::SelectItem::UnnamedExpr(e) => out.push((output_name(e), bind(e, scope, ctx)?)),
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

/// The name PostgreSQL gives an output column.
fn output_name(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(i) => ident(i),
        ast::Expr::CompoundIdentifier(p) => {
            p.last().map(ident).unwrap_or_else(|| "?column?".into())
        }
        ast::Expr::Nested(x) => output_name(x),
        ast::Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.to_lowercase())
            .unwrap_or_else(|| "?column?".into()),
        ast::Expr::Cast {
            expr, data_type, ..
        } => match output_name(expr).as_str() {
            "?column?" => match expr::data_type(data_type) {
                Ok(t) => t.name().to_string(),
                Err(_) => "?column?".into(),
            },
            n => n.to_string(),
        },
        ast::Expr::Case { .. } => "case".into(),
        _ => "?column?".into(),
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

fn no_table(name: &str) -> SqlError {
    SqlError::new(
        code::UNDEFINED_TABLE,
        format!("relation \"{name}\" does not exist"),
    )
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn is_tx_control(s: &Statement) -> bool {
    matches!(
        s,
        Statement::StartTransaction { .. } | Statement::Commit { .. } | Statement::Rollback { .. }
    )
}

fn parse(sql: &str) -> Result<Vec<Statement>, SqlError> {
    Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| {
        let msg = e.to_string();
        let msg = msg
            .strip_prefix("sql parser error: ")
            .unwrap_or(&msg)
            .to_string();
        SqlError::new(code::SYNTAX_ERROR, format!("syntax error: {msg}"))
    })
}

/// Microseconds since 2000-01-01 UTC.
fn now_micros() -> i64 {
    const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_micros() as i64 - PG_EPOCH_UNIX_SECS * 1_000_000
}
