//! Statements outside a transaction block at READ COMMITTED (the default)
//! never fail because another session wrote the same row first: as in
//! PostgreSQL, concurrent increments and upserts of one key from several
//! sessions all succeed and none is lost. At REPEATABLE READ a conflict is
//! the client's 40001 to retry, and still loses nothing.

mod common;

use common::server::Server;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

const SESSIONS: usize = 4;
const EACH: i64 = 60;

/// Each session increments row 1 `EACH` times by UPDATE and `EACH` times
/// by upsert, all at once; returns how many statements failed with 40001
/// (any other error fails the test).
async fn increment_concurrently(clients: &[Client]) -> i64 {
    let mut tasks = Vec::new();
    for c in clients {
        tasks.push(async move {
            let mut conflicts = 0i64;
            for i in 0..EACH * 2 {
                let sql = if i % 2 == 0 {
                    "UPDATE counters SET n = n + 1 WHERE id = 1"
                } else {
                    "INSERT INTO counters VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = counters.n + 1"
                };
                match c.execute(sql, &[]).await {
                    Ok(1) => {}
                    Ok(n) => panic!("{sql}: {n} rows"),
                    Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => {
                        conflicts += 1
                    }
                    Err(e) => panic!("{sql}: {e}"),
                }
            }
            conflicts
        });
    }
    futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .sum()
}

/// `SESSIONS` sessions at `isolation` by default, and the table
/// `counters` holding row 1 at 0.
async fn sessions_on_a_counter(s: &Server, isolation: &str) -> Vec<Client> {
    let mut clients = Vec::new();
    for _ in 0..SESSIONS {
        let c = s.connect().await;
        c.batch_execute(&format!(
            "SET default_transaction_isolation = '{isolation}'"
        ))
        .await
        .unwrap();
        clients.push(c);
    }
    clients[0]
        .batch_execute("CREATE TABLE counters (id int8 PRIMARY KEY, n int8 NOT NULL); INSERT INTO counters VALUES (1, 0)")
        .await
        .unwrap();
    clients
}

async fn counter(c: &Client) -> i64 {
    c.query_one("SELECT n FROM counters WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_of_one_row_all_succeed_at_read_committed() {
    let s = Server::start().await;
    let clients = sessions_on_a_counter(&s, "read committed").await;
    let conflicts = increment_concurrently(&clients).await;
    assert_eq!(
        conflicts, 0,
        "statements failed with 40001 at READ COMMITTED"
    );
    assert_eq!(counter(&clients[0]).await, SESSIONS as i64 * EACH * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_repeatable_read_a_conflict_is_the_clients_40001_and_loses_nothing() {
    let s = Server::start().await;
    let clients = sessions_on_a_counter(&s, "repeatable read").await;
    let conflicts = increment_concurrently(&clients).await;
    assert_eq!(
        counter(&clients[0]).await,
        SESSIONS as i64 * EACH * 2 - conflicts,
        "every statement that succeeded counted once"
    );
}
