//! SQL-level cursors (`DECLARE … CURSOR`, `FETCH`, `CLOSE`) and savepoints
//! (`SAVEPOINT`, `RELEASE`, `ROLLBACK TO`).
//!
//! # Why this module exists
//!
//! Python's drivers stream big results through SQL cursors, not protocol
//! portals: psycopg2's and psycopg 3's named ("server-side") cursors, which
//! SQLAlchemy's `stream_results`/`yield_per` and pandas' `chunksize` use,
//! send `DECLARE "c_…" CURSOR WITHOUT HOLD FOR <query>` and then
//! `FETCH FORWARD n FROM "c_…"` until it returns fewer rows. psycopg 3 also
//! opens a savepoint around every internal query it runs inside a client's
//! transaction (`conn.transaction()` nests as `SAVEPOINT "_pg3_1"`), so
//! without savepoints it cannot even connect through SQLAlchemy.
//!
//! # What it does
//!
//! * A cursor runs its query to completion at DECLARE, in the declaring
//!   transaction's snapshot, and keeps the rows in text form, as the
//!   extended protocol's portals do (`crate::server::conn`): the snapshot is
//!   the same one a lazily evaluated cursor would read, so the rows are
//!   PostgreSQL's. FETCH moves through them with PostgreSQL's positions
//!   (before the first row, on a row, after the last) in every direction;
//!   a `NO SCROLL` cursor refuses to move backward as PostgreSQL does.
//!   Cursors share the protocol's portal namespace in PostgreSQL, so the
//!   protocol layer's Describe of a portal falls back to
//!   [`Session::cursor_columns`].
//! * A cursor `WITHOUT HOLD` (the default) ends with its transaction;
//!   `WITH HOLD` survives the COMMIT of the transaction that declared it and
//!   disappears if that transaction rolls back.
//! * Savepoints are a stack of names, each with the engine transaction's
//!   savepoint ([`crate::engine::Savepoint`]) and the settings at the time.
//!   `ROLLBACK TO` undoes the writes and DDL made since (the write set's undo
//!   log, `crate::writeset`), restores the settings and leaves a failed block
//!   usable again, as PostgreSQL does. Cursors declared after the savepoint
//!   stay open, where PostgreSQL would close them.
//!
//! # Limits
//!
//! [`CURSORS_MAX`] open cursors per session, like the protocol's portals;
//! [`SAVEPOINTS_MAX`] nested savepoints.

use std::collections::HashMap;

use sqlparser::ast::{self, CloseCursor, FetchDirection, FetchPosition};

use crate::datum::Datum;
use crate::sql::error::{code, SqlError};
use crate::sql::session::{Column, QueryResult, Session};
use crate::sql::settings::Settings;

/// Open cursors one session may hold: a client that leaks cursors gets an
/// error instead of growing the server's memory without bound.
pub const CURSORS_MAX: usize = 1024;

/// Savepoints one transaction may nest.
pub const SAVEPOINTS_MAX: usize = 1024;

/// One declared cursor.
#[derive(Debug)]
pub(super) struct Cursor {
    columns: Vec<Column>,
    rows: Vec<Vec<Option<String>>>,
    /// 0 before the first row, `k` on row `k` (1-based), `rows.len() + 1`
    /// after the last.
    position: usize,
    /// `NO SCROLL`: backward moves are refused.
    no_scroll: bool,
    /// `WITH HOLD`: survives its transaction's COMMIT.
    hold: bool,
    /// Declared in the transaction in progress (a held cursor is dropped
    /// if that transaction rolls back).
    pending: bool,
}

/// A savepoint: its name, what the transaction had done when it was set,
/// and the settings then.
#[derive(Debug)]
pub(super) struct Savepoint {
    name: String,
    engine: crate::engine::Savepoint,
    settings: Settings,
}

/// The session's cursors and savepoints.
#[derive(Debug, Default)]
pub(super) struct Cursors {
    open: HashMap<String, Cursor>,
    savepoints: Vec<Savepoint>,
}

impl Cursors {
    /// Forgets what ends with a transaction: cursors without hold, held
    /// cursors of a transaction that rolled back, and every savepoint.
    pub(super) fn end_transaction(&mut self, committed: bool) {
        self.open.retain(|_, c| c.hold && (committed || !c.pending));
        for c in self.open.values_mut() {
            c.pending = false;
        }
        self.savepoints.clear();
    }
}

fn no_cursor(name: &str) -> SqlError {
    SqlError::new(
        code::INVALID_CURSOR_NAME,
        format!("cursor \"{name}\" does not exist"),
    )
}

/// A FETCH count: a literal integer (sqlparser keeps it as a value).
fn count(v: &ast::Value) -> Result<i64, SqlError> {
    let text = match v {
        ast::Value::Number(n, _) => n.clone(),
        other => other.to_string(),
    };
    text.parse::<i64>().map_err(|_| {
        SqlError::new(
            code::SYNTAX_ERROR,
            format!("syntax error at or near \"{text}\""),
        )
    })
}

impl Cursor {
    fn len(&self) -> i64 {
        i64::try_from(self.rows.len()).expect("rows fit in memory")
    }

    /// Moves to `position` (clamped to before-first/after-last) and
    /// returns the row there, if any.
    fn seek(&mut self, position: i64) -> Option<Vec<Option<String>>> {
        let p = position.clamp(0, self.len() + 1);
        self.position = usize::try_from(p).expect("clamped to 0..=len+1");
        (1..=self.len())
            .contains(&p)
            .then(|| self.rows[self.position - 1].clone())
    }

    /// Steps `n` rows forward (or backward for negative `n`), returning
    /// every row stepped onto, as FETCH FORWARD/BACKWARD n does.
    fn step(&mut self, n: i64) -> Result<Vec<Vec<Option<String>>>, SqlError> {
        if n < 0 && self.no_scroll {
            return Err(SqlError::new(
                code::OBJECT_NOT_IN_PREREQUISITE_STATE,
                "cursor can only scan forward",
            )
            .with_hint("Declare it with SCROLL option to enable backward scan."));
        }
        let mut out = Vec::new();
        let start = i64::try_from(self.position).expect("position fits");
        if n == 0 {
            // FETCH FORWARD 0 re-reads the current row.
            return Ok(self.seek(start).into_iter().collect());
        }
        let dir = n.signum();
        let mut p = start;
        for _ in 0..n.unsigned_abs() {
            let next = p + dir;
            if next < 1 || next > self.len() {
                p = if dir > 0 { self.len() + 1 } else { 0 };
                break;
            }
            p = next;
            out.push(self.rows[usize::try_from(p).expect("in range") - 1].clone());
        }
        self.seek(p);
        Ok(out)
    }
}

impl Session {
    /// The result columns of cursor `name`, for a protocol Describe of a
    /// portal of that name.
    pub fn cursor_columns(&self, name: &str) -> Option<Vec<Column>> {
        self.cursors.open.get(name).map(|c| c.columns.clone())
    }

    pub(super) fn declare(
        &mut self,
        stmts: &[ast::Declare],
        params: &[Datum],
    ) -> Result<QueryResult, SqlError> {
        let [decl] = stmts else {
            return Err(SqlError::unsupported("DECLARE of several names"));
        };
        let (Some(query), [name]) = (&decl.for_query, decl.names.as_slice()) else {
            return Err(SqlError::unsupported(format!("DECLARE {decl}")));
        };
        if decl.binary == Some(true) {
            return Err(SqlError::unsupported("BINARY cursors"));
        }
        let name = name.value.clone();
        let hold = decl.hold == Some(true);
        if self.tx.is_none() && !hold {
            return Err(SqlError::new(
                code::NO_ACTIVE_SQL_TRANSACTION,
                "DECLARE CURSOR can only be used in transaction blocks",
            ));
        }
        if self.cursors.open.contains_key(&name) {
            return Err(SqlError::new(
                code::DUPLICATE_CURSOR,
                format!("cursor \"{name}\" already exists"),
            ));
        }
        if self.cursors.open.len() >= CURSORS_MAX {
            return Err(SqlError::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                format!("too many open cursors: the limit is {CURSORS_MAX}"),
            ));
        }
        let pending = self.tx.is_some();
        let result = match self.tx.take() {
            Some(tx) => {
                let r = self.query(&tx, query, params, 0, "in a cursor");
                self.tx = Some(tx);
                r?
            }
            // WITH HOLD outside a block: its own read-only transaction.
            None => {
                let tx = self.db.begin();
                self.query(&tx, query, params, 0, "in a cursor")?
            }
        };
        let QueryResult::Rows { columns, rows, .. } = result else {
            unreachable!("a query answers rows");
        };
        self.cursors.open.insert(
            name,
            Cursor {
                columns,
                rows,
                position: 0,
                no_scroll: decl.scroll == Some(false),
                hold,
                pending,
            },
        );
        Ok(QueryResult::Command {
            tag: "DECLARE CURSOR".into(),
        })
    }

    pub(super) fn fetch(
        &mut self,
        name: &ast::Ident,
        direction: &FetchDirection,
        position: &FetchPosition,
        into: Option<&ast::ObjectName>,
    ) -> Result<QueryResult, SqlError> {
        let _ = position;
        if let Some(into) = into {
            return Err(SqlError::unsupported(format!("FETCH … INTO {into}")));
        }
        let cursor = self
            .cursors
            .open
            .get_mut(&name.value)
            .ok_or_else(|| no_cursor(&name.value))?;
        let len = cursor.len();
        let rows = match direction {
            FetchDirection::Next => cursor.step(1)?,
            FetchDirection::Prior => cursor.step(-1)?,
            FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
                cursor.step(count(limit)?)?
            }
            FetchDirection::Forward { limit: None } => cursor.step(1)?,
            FetchDirection::Backward { limit: Some(limit) } => cursor.step(-count(limit)?)?,
            FetchDirection::Backward { limit: None } => cursor.step(-1)?,
            FetchDirection::All | FetchDirection::ForwardAll => cursor.step(len + 1)?,
            FetchDirection::BackwardAll => cursor.step(-(len + 1))?,
            FetchDirection::First | FetchDirection::Last | FetchDirection::Absolute { .. } => {
                let target = match direction {
                    FetchDirection::First => 1,
                    FetchDirection::Last => -1,
                    FetchDirection::Absolute { limit } => count(limit)?,
                    _ => unreachable!("matched above"),
                };
                let target = if target < 0 { len + 1 + target } else { target };
                let current = i64::try_from(cursor.position).expect("position fits");
                if target < current && cursor.no_scroll {
                    cursor.step(-1)?;
                }
                cursor.seek(target).into_iter().collect()
            }
            FetchDirection::Relative { limit } => {
                let n = count(limit)?;
                if n < 0 && cursor.no_scroll {
                    cursor.step(-1)?;
                }
                let target = i64::try_from(cursor.position).expect("position fits") + n;
                cursor.seek(target).into_iter().collect()
            }
        };
        Ok(QueryResult::Rows {
            columns: cursor.columns.clone(),
            tag: format!("FETCH {}", rows.len()),
            rows,
        })
    }

    pub(super) fn close_cursor(&mut self, which: &CloseCursor) -> Result<QueryResult, SqlError> {
        match which {
            CloseCursor::All => self.cursors.open.clear(),
            CloseCursor::Specific { name } => {
                if self.cursors.open.remove(&name.value).is_none() {
                    return Err(no_cursor(&name.value));
                }
            }
        }
        Ok(QueryResult::Command {
            tag: "CLOSE CURSOR".into(),
        })
    }

    pub(super) fn savepoint(&mut self, name: &ast::Ident) -> Result<QueryResult, SqlError> {
        let Some(tx) = &mut self.tx else {
            return Err(SqlError::new(
                code::NO_ACTIVE_SQL_TRANSACTION,
                "SAVEPOINT can only be used in transaction blocks",
            ));
        };
        if self.cursors.savepoints.len() >= SAVEPOINTS_MAX {
            return Err(SqlError::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                format!("too many savepoints: the limit is {SAVEPOINTS_MAX}"),
            ));
        }
        let engine = tx.savepoint();
        self.cursors.savepoints.push(Savepoint {
            name: name.value.clone(),
            engine,
            settings: self.settings.clone(),
        });
        Ok(QueryResult::Command {
            tag: "SAVEPOINT".into(),
        })
    }

    /// The innermost savepoint named `name`, as an index into the stack.
    fn find_savepoint(&self, name: &ast::Ident, what: &str) -> Result<usize, SqlError> {
        if self.tx.is_none() {
            return Err(SqlError::new(
                code::NO_ACTIVE_SQL_TRANSACTION,
                format!("{what} can only be used in transaction blocks"),
            ));
        }
        self.cursors
            .savepoints
            .iter()
            .rposition(|s| s.name == name.value)
            .ok_or_else(|| {
                SqlError::new(
                    code::INVALID_SAVEPOINT_SPECIFICATION,
                    format!("savepoint \"{}\" does not exist", name.value),
                )
            })
    }

    pub(super) fn release_savepoint(&mut self, name: &ast::Ident) -> Result<QueryResult, SqlError> {
        let at = self.find_savepoint(name, "RELEASE SAVEPOINT")?;
        let tx = self.tx.as_mut().expect("checked by find_savepoint");
        tx.release(self.cursors.savepoints[at].engine);
        self.cursors.savepoints.truncate(at);
        Ok(QueryResult::Command {
            tag: "RELEASE".into(),
        })
    }

    pub(super) fn rollback_to_savepoint(
        &mut self,
        name: &ast::Ident,
    ) -> Result<QueryResult, SqlError> {
        let at = self.find_savepoint(name, "ROLLBACK TO SAVEPOINT")?;
        let savepoint = &self.cursors.savepoints[at];
        let tx = self.tx.as_mut().expect("checked by find_savepoint");
        tx.rollback_to(savepoint.engine)
            .map_err(SqlError::from_engine)?;
        // The savepoint stays (ROLLBACK TO keeps it); those inside it go.
        self.settings = savepoint.settings.clone();
        self.cursors.savepoints.truncate(at + 1);
        self.failed = false;
        Ok(QueryResult::Command {
            tag: "ROLLBACK".into(),
        })
    }
}
