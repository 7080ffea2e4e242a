//! `SELECT … FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE`
//! claims the rows it returns, through
//! real concurrent sessions: two transactions that claim (or claim and
//! write) one row cannot both commit, the later committer fails with
//! 40001 in either order; a claim of a row changed after the snapshot
//! fails at the SELECT (rewritten unchanged: at commit); `OF t` limits the claim to `t`, and only returned rows
//! (after WHERE and LIMIT) are claimed; NOWAIT and SKIP LOCKED are
//! accepted; the shapes PostgreSQL refuses fail with its SQLSTATEs; a
//! read-only transaction and a read replica refuse the statement; a plain
//! SELECT claims nothing. Every strength claims alike: the weaker ones
//! conflict wherever PostgreSQL's do, and also where PostgreSQL's would
//! not (two `FOR KEY SHARE`, a `FOR KEY SHARE` and an update that keeps
//! the key), a stricter model ARCHITECTURE.md documents.

mod common;

use common::server::Server;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

async fn setup(c: &Client) {
    c.batch_execute(
        "CREATE TABLE acct (id int8 PRIMARY KEY, owner int8 NOT NULL, bal int8 NOT NULL);
         CREATE TABLE owner (id int8 PRIMARY KEY, name text NOT NULL);
         INSERT INTO owner VALUES (1, 'ann'), (2, 'bob');
         INSERT INTO acct VALUES (1, 1, 100), (2, 1, 200), (3, 2, 300), (4, 2, 400);",
    )
    .await
    .unwrap();
}

fn code_of(e: &tokio_postgres::Error) -> SqlState {
    e.code()
        .cloned()
        .unwrap_or_else(|| panic!("no SQLSTATE: {e}"))
}

async fn commit_fails_40001(c: &Client) {
    let e = c.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(code_of(&e), SqlState::T_R_SERIALIZATION_FAILURE, "{e}");
}

async fn begin(c: &Client) {
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_claims_of_one_row_cannot_both_commit() {
    let s = Server::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    setup(&a).await;
    for first_commits in [true, false] {
        begin(&a).await;
        begin(&b).await;
        let ra = a
            .query("SELECT id, bal FROM acct WHERE id = 1 FOR UPDATE", &[])
            .await
            .unwrap();
        assert_eq!(ra.len(), 1);
        assert_eq!(ra[0].len(), 2, "the claimed keys are not returned");
        assert_eq!(ra[0].get::<_, i64>(1), 100);
        b.query("SELECT bal FROM acct WHERE id = 1 FOR SHARE", &[])
            .await
            .unwrap();
        let (winner, loser) = if first_commits { (&a, &b) } else { (&b, &a) };
        winner.batch_execute("COMMIT").await.unwrap();
        commit_fails_40001(loser).await;
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_and_a_write_of_one_row_cannot_both_commit() {
    let s = Server::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    setup(&a).await;
    // The claimer commits first: the writer fails.
    begin(&a).await;
    begin(&b).await;
    a.query("SELECT * FROM acct WHERE id = 2 FOR UPDATE", &[])
        .await
        .unwrap();
    b.execute("UPDATE acct SET bal = bal + 1 WHERE id = 2", &[])
        .await
        .unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    commit_fails_40001(&b).await;
    // The writer commits first: the claimer fails.
    begin(&a).await;
    begin(&b).await;
    a.query("SELECT * FROM acct WHERE id = 2 FOR UPDATE", &[])
        .await
        .unwrap();
    b.execute("DELETE FROM acct WHERE id = 2", &[])
        .await
        .unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    commit_fails_40001(&a).await;
    s.stop().await;
}

/// Runs `first` in one transaction and `second` in another over account
/// 1, commits one and expects the other's commit to fail with 40001, in
/// both orders; puts the account back after each.
async fn conflict_either_order(a: &Client, b: &Client, first: &str, second: &str) {
    for first_commits in [true, false] {
        begin(a).await;
        begin(b).await;
        a.batch_execute(first).await.unwrap();
        b.batch_execute(second).await.unwrap();
        let (winner, loser) = if first_commits { (a, b) } else { (b, a) };
        winner.batch_execute("COMMIT").await.unwrap();
        let e = loser.batch_execute("COMMIT").await.unwrap_err();
        assert_eq!(
            code_of(&e),
            SqlState::T_R_SERIALIZATION_FAILURE,
            "{first} / {second}: {e}"
        );
        a.batch_execute(
            "DELETE FROM acct WHERE id IN (1, 10); INSERT INTO acct VALUES (1, 1, 100)",
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_strengths_claim_where_postgresql_conflicts() {
    let s = Server::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    setup(&a).await;
    let r = a
        .query(
            "SELECT id, bal FROM acct WHERE id = 1 FOR NO KEY UPDATE",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].len(), 2, "the claimed keys are not returned");
    // PostgreSQL's conflict table: NO KEY UPDATE against UPDATE, NO KEY
    // UPDATE and SHARE claims and against writes; KEY SHARE against FOR
    // UPDATE claims, deletes and key updates.
    let no_key = "SELECT * FROM acct WHERE id = 1 FOR NO KEY UPDATE";
    let key_share = "SELECT * FROM acct WHERE id = 1 FOR KEY SHARE";
    for (first, second) in [
        (no_key, "SELECT * FROM acct WHERE id = 1 FOR NO KEY UPDATE"),
        (no_key, "SELECT * FROM acct WHERE id = 1 FOR UPDATE"),
        (no_key, "SELECT * FROM acct WHERE id = 1 FOR SHARE"),
        (no_key, "UPDATE acct SET bal = bal + 1 WHERE id = 1"),
        (key_share, "SELECT * FROM acct WHERE id = 1 FOR UPDATE"),
        (key_share, "DELETE FROM acct WHERE id = 1"),
        (key_share, "UPDATE acct SET id = 10 WHERE id = 1"),
    ] {
        conflict_either_order(&a, &b, first, second).await;
    }
    // Stricter than PostgreSQL, which lets both of these commit: a claim
    // of any strength conflicts with every other claim and write.
    for second in [
        "SELECT * FROM acct WHERE id = 1 FOR KEY SHARE",
        "UPDATE acct SET bal = bal + 1 WHERE id = 1",
    ] {
        conflict_either_order(&a, &b, key_share, second).await;
    }
    // Other rows are not claimed.
    begin(&a).await;
    begin(&b).await;
    a.batch_execute(key_share).await.unwrap();
    b.batch_execute("UPDATE acct SET bal = 0 WHERE id = 2")
        .await
        .unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    // A row changed after the snapshot fails the SELECT, whatever the
    // strength.
    for strength in ["FOR NO KEY UPDATE", "FOR KEY SHARE"] {
        begin(&a).await;
        a.query("SELECT 1", &[]).await.unwrap();
        b.execute("UPDATE acct SET bal = bal + 1 WHERE id = 3", &[])
            .await
            .unwrap();
        let e = a
            .query(
                &format!("SELECT bal FROM acct WHERE id = 3 {strength}"),
                &[],
            )
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), SqlState::T_R_SERIALIZATION_FAILURE, "{e}");
        a.batch_execute("ROLLBACK").await.unwrap();
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_a_row_changed_after_the_snapshot_fails() {
    let s = Server::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    setup(&a).await;
    // Changed or deleted since the snapshot: the SELECT itself fails, as
    // in PostgreSQL's REPEATABLE READ; rows not changed are claimed.
    for change in [
        "UPDATE acct SET bal = 0 WHERE id = 3",
        "DELETE FROM acct WHERE id = 3",
    ] {
        begin(&a).await;
        // Takes the snapshot.
        a.query("SELECT 1", &[]).await.unwrap();
        b.execute(change, &[]).await.unwrap();
        a.query("SELECT bal FROM acct WHERE id = 1 FOR UPDATE", &[])
            .await
            .unwrap();
        let e = a
            .query("SELECT bal FROM acct WHERE id >= 3 FOR UPDATE", &[])
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), SqlState::T_R_SERIALIZATION_FAILURE, "{e}");
        a.batch_execute("ROLLBACK").await.unwrap();
    }
    // Rewritten unchanged after the snapshot: caught at commit.
    begin(&a).await;
    a.query("SELECT 1", &[]).await.unwrap();
    b.execute("UPDATE acct SET bal = bal WHERE id = 4", &[])
        .await
        .unwrap();
    let r = a
        .query("SELECT bal FROM acct WHERE id = 4 FOR UPDATE", &[])
        .await
        .unwrap();
    assert_eq!(r[0].get::<_, i64>(0), 400);
    commit_fails_40001(&a).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_returned_rows_of_locked_tables_are_claimed() {
    let s = Server::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    setup(&a).await;
    // OF acct: the joined owner row is read, not claimed.
    begin(&a).await;
    begin(&b).await;
    let r = a
        .query(
            "SELECT a.id, o.name FROM acct a JOIN owner o ON o.id = a.owner \
             WHERE a.id = 1 FOR UPDATE OF a",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].get::<_, String>(1), "ann");
    b.execute("UPDATE owner SET name = 'anne' WHERE id = 1", &[])
        .await
        .unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    // Without OF, both tables' rows are claimed.
    begin(&a).await;
    begin(&b).await;
    a.query(
        "SELECT a.id, o.name FROM acct a JOIN owner o ON o.id = a.owner \
         WHERE a.id = 1 FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    b.execute("UPDATE owner SET name = 'ann' WHERE id = 1", &[])
        .await
        .unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    commit_fails_40001(&a).await;
    // An OF list names each locked table.
    begin(&a).await;
    begin(&b).await;
    a.query(
        "SELECT a.id, o.name FROM acct a JOIN owner o ON o.id = a.owner \
         WHERE a.id = 1 FOR UPDATE OF a, o",
        &[],
    )
    .await
    .unwrap();
    b.execute("UPDATE owner SET name = 'ann' WHERE id = 1", &[])
        .await
        .unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    commit_fails_40001(&a).await;
    // LIMIT: rows past it were read by the sort, not returned or claimed.
    begin(&a).await;
    begin(&b).await;
    let r = a
        .query(
            "SELECT id FROM acct ORDER BY bal DESC LIMIT 1 FOR UPDATE",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r[0].get::<_, i64>(0), 4);
    b.execute("UPDATE acct SET bal = bal + 1 WHERE id <> 4", &[])
        .await
        .unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    // WHERE: a filtered-out row is not claimed.
    begin(&a).await;
    begin(&b).await;
    a.query("SELECT id FROM acct WHERE bal > 350 FOR UPDATE", &[])
        .await
        .unwrap();
    b.execute("UPDATE acct SET bal = 1 WHERE id = 1", &[])
        .await
        .unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_back_to_a_savepoint_drops_the_claims_made_after_it() {
    let s = Server::start().await;
    let (a, b, c) = (s.connect().await, s.connect().await, s.connect().await);
    setup(&a).await;
    begin(&a).await;
    begin(&b).await;
    begin(&c).await;
    a.query("SELECT * FROM acct WHERE id = 1 FOR UPDATE", &[])
        .await
        .unwrap();
    c.execute("UPDATE acct SET bal = 0 WHERE id = 1", &[])
        .await
        .unwrap();
    a.batch_execute("SAVEPOINT s").await.unwrap();
    a.query("SELECT * FROM acct WHERE id = 2 FOR UPDATE", &[])
        .await
        .unwrap();
    a.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
    b.execute("UPDATE acct SET bal = 0 WHERE id = 2", &[])
        .await
        .unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    // Row 2's claim is gone; row 1's stays and wins over its writer.
    a.batch_execute("COMMIT").await.unwrap();
    commit_fails_40001(&c).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_selects_claim_nothing() {
    let s = Server::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    setup(&a).await;
    begin(&a).await;
    begin(&b).await;
    a.query("SELECT * FROM acct", &[]).await.unwrap();
    b.query("SELECT * FROM acct", &[]).await.unwrap();
    b.execute("UPDATE acct SET bal = 7", &[]).await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nowait_skip_locked_autocommit_and_extended_protocol() {
    let s = Server::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    setup(&a).await;
    begin(&a).await;
    a.query("SELECT id FROM acct WHERE id = 1 FOR UPDATE NOWAIT", &[])
        .await
        .unwrap();
    // SKIP LOCKED cannot see the other transaction's claim: it skips
    // nothing. Outside a block the claims commit at once, first, so the
    // other claimer of row 1 loses at its commit.
    let r = b
        .query("SELECT id FROM acct FOR UPDATE SKIP LOCKED", &[])
        .await
        .unwrap();
    assert_eq!(r.len(), 4);
    commit_fails_40001(&a).await;
    // Prepared (Describe shows the real columns only) with parameters.
    let st = b
        .prepare("SELECT bal, owner FROM acct WHERE id = $1 FOR UPDATE")
        .await
        .unwrap();
    assert_eq!(st.columns().len(), 2);
    assert_eq!(st.columns()[0].name(), "bal");
    let r = b.query(&st, &[&3i64]).await.unwrap();
    assert_eq!(r[0].len(), 2);
    assert_eq!(r[0].get::<_, i64>(0), 300);
    // The simple protocol too.
    let msgs = b
        .simple_query("SELECT * FROM owner WHERE id = 2 FOR SHARE")
        .await
        .unwrap();
    let row = msgs
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(row.len(), 2);
    assert_eq!(row.get(1), Some("bob"));
    // FROM-less: nothing to lock.
    b.query("SELECT 1 FOR UPDATE", &[]).await.unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusals() {
    let s = Server::start().await;
    let c = s.connect().await;
    setup(&c).await;
    c.batch_execute("CREATE TABLE nokey (v int8)")
        .await
        .unwrap();
    let cases: &[(&str, SqlState, &str)] = &[
        (
            "SELECT count(*) FROM acct FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE is not allowed with aggregate functions",
        ),
        (
            "SELECT owner FROM acct GROUP BY owner FOR SHARE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR SHARE is not allowed with GROUP BY clause",
        ),
        (
            "SELECT DISTINCT owner FROM acct FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE is not allowed with DISTINCT clause",
        ),
        (
            "SELECT id FROM acct UNION SELECT id FROM owner FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE is not allowed with UNION/INTERSECT/EXCEPT",
        ),
        (
            "SELECT row_number() OVER () FROM acct FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE is not allowed with window functions",
        ),
        (
            "SELECT generate_series(1, 2) FROM acct FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE is not allowed with set-returning functions in the target list",
        ),
        (
            "SELECT * FROM acct FOR UPDATE OF nope",
            SqlState::UNDEFINED_TABLE,
            "relation \"nope\" in FOR UPDATE clause not found in FROM clause",
        ),
        (
            "SELECT * FROM generate_series(1, 2) g FOR UPDATE OF g",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE cannot be applied to a function",
        ),
        (
            "WITH w AS (SELECT 1) SELECT * FROM w FOR UPDATE OF w",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE cannot be applied to a WITH query",
        ),
        (
            "SELECT * FROM owner o LEFT JOIN acct a ON a.owner = o.id FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE cannot be applied to the nullable side of an outer join",
        ),
        (
            "SELECT * FROM acct FOR UPDATE OF public.acct",
            SqlState::SYNTAX_ERROR,
            "FOR UPDATE must specify unqualified relation names",
        ),
        (
            "VALUES (1) FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE cannot be applied to VALUES",
        ),
        (
            "SELECT * FROM nokey FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR UPDATE on table \"nokey\", which has no primary key, is not supported",
        ),
        (
            "SELECT count(*) FROM acct FOR KEY SHARE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR KEY SHARE is not allowed with aggregate functions",
        ),
        (
            "SELECT DISTINCT owner FROM acct FOR NO KEY UPDATE FOR UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR NO KEY UPDATE is not allowed with DISTINCT clause",
        ),
        (
            "SELECT * FROM acct a, owner o FOR KEY SHARE OF a, nope",
            SqlState::UNDEFINED_TABLE,
            "relation \"nope\" in FOR KEY SHARE clause not found in FROM clause",
        ),
        (
            "SELECT * FROM owner o LEFT JOIN acct a ON a.owner = o.id FOR NO KEY UPDATE OF a",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR NO KEY UPDATE cannot be applied to the nullable side of an outer join",
        ),
        (
            "SELECT * FROM acct FOR KEY SHARE OF public.acct",
            SqlState::SYNTAX_ERROR,
            "FOR KEY SHARE must specify unqualified relation names",
        ),
        (
            "VALUES (1) FOR KEY SHARE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR KEY SHARE cannot be applied to VALUES",
        ),
        (
            "SELECT * FROM nokey FOR NO KEY UPDATE",
            SqlState::FEATURE_NOT_SUPPORTED,
            "FOR NO KEY UPDATE on table \"nokey\", which has no primary key, is not supported",
        ),
        (
            "SELECT * FROM acct FOR KEY UPDATE",
            SqlState::SYNTAX_ERROR,
            "syntax error at or near \"UPDATE\"",
        ),
    ];
    for (sql, state, message) in cases {
        let e = c.query(*sql, &[]).await.unwrap_err();
        let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
        assert_eq!(db.code(), state, "{sql}: {}", db.message());
        assert_eq!(db.message(), *message, "{sql}");
    }
    // Where the rows cannot be claimed, it is refused.
    for (sql, message) in [
        (
            "COPY (SELECT * FROM acct FOR UPDATE) TO STDOUT",
            "SELECT FOR UPDATE in COPY is not supported",
        ),
        (
            "INSERT INTO owner SELECT id + 10, 'x' FROM acct FOR UPDATE",
            "SELECT FOR UPDATE in INSERT ... SELECT is not supported",
        ),
        (
            "SELECT * FROM (SELECT * FROM acct FOR UPDATE) s",
            "FOR UPDATE in a subquery or a WITH query is not supported",
        ),
        (
            "COPY (SELECT * FROM acct FOR KEY SHARE) TO STDOUT",
            "SELECT FOR KEY SHARE in COPY is not supported",
        ),
        (
            "SELECT * FROM (SELECT * FROM acct FOR NO KEY UPDATE) s",
            "FOR NO KEY UPDATE in a subquery or a WITH query is not supported",
        ),
    ] {
        let e = c.batch_execute(sql).await.unwrap_err();
        let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
        assert_eq!(db.code(), &SqlState::FEATURE_NOT_SUPPORTED, "{sql}");
        assert_eq!(db.message(), message, "{sql}");
    }
    // A locking clause with nothing to lock but a WITH query is a plain
    // SELECT, as in PostgreSQL.
    let r = c
        .query("WITH w AS (SELECT 1 AS x) SELECT x FROM w FOR UPDATE", &[])
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    // A read-only transaction refuses it before reading.
    c.batch_execute("BEGIN READ ONLY").await.unwrap();
    let e = c
        .query("SELECT * FROM acct WHERE false FOR SHARE", &[])
        .await
        .unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::READ_ONLY_SQL_TRANSACTION);
    assert_eq!(
        db.message(),
        "cannot execute SELECT FOR SHARE in a read-only transaction"
    );
    c.batch_execute("ROLLBACK").await.unwrap();
    // The command named is the first locked table's strongest strength.
    for (sql, command) in [
        (
            "SELECT * FROM acct FOR SHARE OF acct FOR UPDATE OF acct",
            "SELECT FOR UPDATE",
        ),
        ("SELECT * FROM acct FOR KEY SHARE", "SELECT FOR KEY SHARE"),
        (
            "SELECT * FROM acct a, owner o FOR KEY SHARE OF a FOR NO KEY UPDATE OF o",
            "SELECT FOR KEY SHARE",
        ),
        (
            "SELECT * FROM acct a, owner o FOR KEY SHARE OF a FOR NO KEY UPDATE OF a, o",
            "SELECT FOR NO KEY UPDATE",
        ),
    ] {
        c.batch_execute("BEGIN READ ONLY").await.unwrap();
        let e = c.query(sql, &[]).await.unwrap_err();
        let db = e.as_db_error().unwrap();
        assert_eq!(db.code(), &SqlState::READ_ONLY_SQL_TRANSACTION, "{sql}");
        assert_eq!(
            db.message(),
            format!("cannot execute {command} in a read-only transaction"),
            "{sql}"
        );
        c.batch_execute("ROLLBACK").await.unwrap();
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_replica_refuses_locking_selects() {
    use common::replica;
    use sextant_compute::replica::hub::HubConfig;
    let storage = common::Storage::start().await;
    let w = replica::writer(&storage, HubConfig::default()).await;
    let wc = w.pg.connect().await;
    setup(&wc).await;
    let r = replica::reader(&storage, w.redo_addr, "reader-1").await;
    r.catch_up_to(w.engine.vdl()).await;
    let rc = r.pg.connect().await;
    assert_eq!(rc.query("SELECT * FROM acct", &[]).await.unwrap().len(), 4);
    let e = rc
        .query("SELECT * FROM acct FOR UPDATE", &[])
        .await
        .unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::READ_ONLY_SQL_TRANSACTION);
    assert_eq!(
        db.message(),
        "cannot execute SELECT FOR UPDATE in a read-only transaction"
    );
    let e = rc
        .query("SELECT * FROM acct FOR NO KEY UPDATE", &[])
        .await
        .unwrap_err();
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "cannot execute SELECT FOR NO KEY UPDATE in a read-only transaction"
    );
}
