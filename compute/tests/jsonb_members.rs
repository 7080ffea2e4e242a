//! A scan decodes only the members a query reads of a jsonb column when
//! every read of it is `->` or `->>` with a constant key. Every query here
//! is checked against the same query reading the documents whole (from a
//! subquery passing on `coalesce(payload, payload)`, which reads the
//! column as it is): objects with and without the members, nested members,
//! arrays, scalars, JSON null and SQL NULL, keys read alongside the whole
//! document, more keys than a scan keeps, reads through subqueries, joins,
//! aggregates, windows and sorts, a column added after the rows were
//! written, and the transaction's own uncommitted writes.

mod common;

use common::{q, run};
use sextant_compute::sql::session::Session;

async fn setup(s: &mut Session) {
    for sql in [
        "CREATE TABLE docs (id bigint PRIMARY KEY, payload jsonb, t timestamptz NOT NULL)",
        "CREATE INDEX docs_site ON docs ((payload->>'site'))",
        "CREATE TABLE sites (id text PRIMARY KEY, name text NOT NULL)",
        "INSERT INTO sites VALUES ('s0', 'zero'), ('s1', 'one'), ('s2', 'two')",
        "INSERT INTO docs SELECT g,
           CASE g % 11
             WHEN 0 THEN NULL
             WHEN 1 THEN 'null'::jsonb
             WHEN 2 THEN jsonb_build_array('status', g)
             WHEN 3 THEN to_jsonb('status'::text)
             WHEN 4 THEN jsonb_build_object('site', 's1')
             WHEN 5 THEN jsonb_build_object('status', NULL, 'site', 's2', 'temp', g % 7)
             ELSE jsonb_build_object(
               'status', CASE WHEN g % 3 = 0 THEN 'error' ELSE 'ok' END,
               'site', 's' || (g % 3),
               'temp', (g % 13) * 1.5,
               'device', jsonb_build_object('id', 'dev-' || (g % 17), 'fw', '1.2'),
               'tags', jsonb_build_array('t' || (g % 5), g),
               'k0', g % 2, 'k1', 'a', 'k2', 'b', 'k3', 'c', 'k4', 'd',
               'k5', 'e', 'k6', 'f', 'k7', 'g', 'k8', 'h')
           END,
           timestamptz '2024-01-01 00:00:00+00' + g * interval '7 minutes'
         FROM generate_series(1, 700) g",
    ] {
        run(s, sql).await;
    }
}

fn cases() -> Vec<&'static str> {
    vec![
        "SELECT payload->>'status' AS s, count(*) FROM docs GROUP BY 1 ORDER BY 1",
        "SELECT date_trunc('hour', t) AS h, payload->>'status' AS s, count(*) FROM docs
           GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT id, payload->'device'->>'id', payload->'tags', payload->'device'
           FROM docs WHERE payload->>'site' = 's1' ORDER BY id",
        "SELECT id, payload->>'site' FROM docs WHERE id > 600 AND payload->>'status' = 'ok'
           ORDER BY id",
        "SELECT count(DISTINCT payload->'device'->>'id'), count(payload->'tags') FROM docs",
        "SELECT payload->>'site' AS site,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY (payload->>'temp')::float) AS p50
           FROM docs GROUP BY 1 ORDER BY 1",
        "SELECT d.id, s.name, d.payload->>'status' FROM docs d JOIN sites s ON s.id = d.payload->>'site'
           ORDER BY d.id",
        "SELECT s.name, count(*) FILTER (WHERE d.payload->>'status' = 'error') FROM sites s
           LEFT JOIN docs d ON d.payload->>'site' = s.id GROUP BY 1 ORDER BY 1",
        // Read whole as well: the whole document comes back.
        "SELECT id, payload->>'status', payload FROM docs ORDER BY id",
        "SELECT id, payload->>'status' FROM docs WHERE payload ? 'tags' ORDER BY id",
        // An array element, a path: read whole.
        "SELECT id, payload->0, payload->>'status' FROM docs ORDER BY id",
        "SELECT id, payload#>>'{device,id}', payload->>'site' FROM docs ORDER BY id",
        // More keys than a scan keeps members of.
        "SELECT id, payload->>'k0', payload->>'k1', payload->>'k2', payload->>'k3', payload->>'k4',
           payload->>'k5', payload->>'k6', payload->>'k7', payload->>'k8', payload->>'status'
           FROM docs ORDER BY id",
        // Through a subquery and a CTE.
        "SELECT x.id, x.payload->>'status' FROM (SELECT id, payload FROM docs) x
           WHERE x.payload->>'site' = 's2' ORDER BY x.id",
        "WITH w AS (SELECT id, payload->>'site' AS site FROM docs) SELECT site, count(*) FROM w
           GROUP BY 1 ORDER BY 1",
        "SELECT id, (SELECT name FROM sites WHERE sites.id = docs.payload->>'site') FROM docs
           ORDER BY id",
        // Windows, sorts, DISTINCT ON.
        "SELECT id, row_number() OVER (PARTITION BY payload->>'status' ORDER BY id) FROM docs
           ORDER BY id",
        "SELECT id FROM docs ORDER BY payload->>'temp', id",
        "SELECT DISTINCT ON (payload->>'site') payload->>'site', id FROM docs ORDER BY payload->>'site', id",
        "SELECT id, payload->>'status', extra FROM docs WHERE payload->>'status' IS NOT NULL
           ORDER BY id",
    ]
}

/// `sql` reading `payload` whole: from a subquery that passes on
/// `coalesce(payload, payload)`, an expression of the whole document.
fn whole(sql: &str) -> String {
    let table = "(SELECT id, coalesce(payload, payload) AS payload, t, extra FROM docs)";
    sql.replace("FROM docs d", &format!("FROM {table} d"))
        .replace("JOIN docs d", &format!("JOIN {table} d"))
        .replace("FROM docs", &format!("FROM {table} docs"))
}

async fn check(s: &mut Session, own_writes: bool) {
    for sql in cases() {
        let got = q(s, sql).await;
        assert!(!got.is_empty(), "{sql}: no rows");
        assert_eq!(
            got,
            q(s, &whole(sql)).await,
            "{sql} (own writes: {own_writes})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_reading_members_answer_as_reading_whole_documents() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    // Rows written before the column existed have no slot for it.
    run(&mut s, "ALTER TABLE docs ADD COLUMN extra text").await;
    run(&mut s, "UPDATE docs SET extra = 'x' WHERE id % 4 = 0").await;
    // The answers are the documents' own, not only the same both ways.
    assert_eq!(
        q(
            &mut s,
            "SELECT payload->>'status', count(*) FROM docs GROUP BY 1 ORDER BY 1"
        )
        .await,
        ["error|106", "ok|211", "∅|383"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT id, payload->'device', payload->'tags'->>1 FROM docs WHERE id = 6"
        )
        .await,
        ["6|{\"fw\": \"1.2\", \"id\": \"dev-6\"}|6"]
    );
    check(&mut s, false).await;
    run(&mut s, "BEGIN").await;
    run(
        &mut s,
        "UPDATE docs SET payload = jsonb_build_object('status', 'mine', 'site', 's0') WHERE id % 10 = 7",
    )
    .await;
    run(
        &mut s,
        "INSERT INTO docs VALUES (5000, '{\"status\": \"new\"}', '2024-01-02 00:00:00+00')",
    )
    .await;
    run(&mut s, "DELETE FROM docs WHERE id % 10 = 8").await;
    check(&mut s, true).await;
    run(&mut s, "ROLLBACK").await;
    check(&mut s, false).await;
}
