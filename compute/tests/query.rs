//! Queries through the planner and executor: joins, subqueries, CTEs,
//! aggregates, set-returning functions, set operations and access paths,
//! checked against results worked out by hand (PostgreSQL's answers).

mod common;

use common::{q, run};
use sextant_compute::sql::session::{QueryResult, Session};

async fn session() -> (common::Storage, Session) {
    common::sql_session().await
}

async fn err(s: &mut Session, sql: &str) -> (String, String) {
    match s.simple_query(sql).await.pop().unwrap() {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(e) => (e.code.to_string(), e.message),
    }
}

async fn names(s: &mut Session, sql: &str) -> Vec<String> {
    match run(s, sql).await {
        QueryResult::Rows { columns, .. } => columns.into_iter().map(|c| c.name).collect(),
        other => panic!("{sql}: no rows: {other:?}"),
    }
}

async fn setup(s: &mut Session) {
    for sql in [
        "CREATE TABLE sites (id int PRIMARY KEY, name text NOT NULL, region text)",
        "CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL, position bigint)",
        "CREATE INDEX events_site ON events ((payload->>'site_id'))",
        "CREATE INDEX events_temp ON events (((payload->>'temp')::float))",
        "INSERT INTO sites VALUES (1, 'north', 'eu'), (2, 'south', 'eu'), (3, 'east', NULL), (4, 'west', 'us')",
        r#"INSERT INTO events VALUES
            ('e1', '{"site_id": "1", "temp": 20.5, "tags": ["a", "b"]}', 10),
            ('e2', '{"site_id": "1", "temp": 22.0, "tags": []}', 11),
            ('e3', '{"site_id": "2", "temp": 18.25}', 12),
            ('e4', '{"site_id": "3", "temp": 30}', NULL),
            ('e5', '{"site_id": "9", "temp": -4}', 14)"#,
    ] {
        run(s, sql).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    assert_eq!(
        q(&mut s, "SELECT e.id, s.name FROM events e JOIN sites s ON s.id = (e.payload->>'site_id')::int ORDER BY e.id").await,
        ["e1|north", "e2|north", "e3|south", "e4|east"]
    );
    assert_eq!(
        q(&mut s, "SELECT e.id, s.name FROM events e LEFT JOIN sites s ON s.id = (e.payload->>'site_id')::int ORDER BY 1").await,
        ["e1|north", "e2|north", "e3|south", "e4|east", "e5|∅"]
    );
    // WHERE on the nullable side filters after the join.
    assert_eq!(
        q(&mut s, "SELECT e.id FROM events e LEFT JOIN sites s ON s.id = (e.payload->>'site_id')::int WHERE s.id IS NULL").await,
        ["e5"]
    );
    // Comma joins with the condition in WHERE, and a cross join count.
    assert_eq!(
        q(&mut s, "SELECT s.name, count(*) FROM sites s, events e WHERE (e.payload->>'site_id')::int = s.id GROUP BY s.name ORDER BY count(*) DESC, s.name").await,
        ["north|2", "east|1", "south|1"]
    );
    assert_eq!(
        q(&mut s, "SELECT count(*) FROM sites CROSS JOIN events").await,
        ["20"]
    );
    // USING merges the column for * and unqualified names.
    run(
        &mut s,
        "CREATE TABLE regions (region text PRIMARY KEY, label text)",
    )
    .await;
    run(
        &mut s,
        "INSERT INTO regions VALUES ('eu', 'Europe'), ('us', 'Americas')",
    )
    .await;
    assert_eq!(
        names(
            &mut s,
            "SELECT * FROM sites JOIN regions USING (region) WHERE false"
        )
        .await,
        ["id", "name", "region", "label"]
    );
    assert_eq!(
        q(&mut s, "SELECT region, count(*) FROM sites JOIN regions USING (region) GROUP BY region ORDER BY region").await,
        ["eu|2", "us|1"]
    );
    // Three-way join, and a join with a non-equi condition.
    assert_eq!(
        q(&mut s, "SELECT s.name, r.label, e.id FROM sites s JOIN regions r ON r.region = s.region JOIN events e ON e.payload->>'site_id' = s.id::text ORDER BY e.id").await,
        ["north|Europe|e1", "north|Europe|e2", "south|Europe|e3"]
    );
    assert_eq!(
        q(&mut s, "SELECT a.id, b.id FROM sites a JOIN sites b ON a.id < b.id AND b.id - a.id = 2 ORDER BY 1").await,
        ["1|3", "2|4"]
    );
    assert_eq!(err(&mut s, "SELECT id FROM sites, events").await.0, "42702");
    assert_eq!(err(&mut s, "SELECT x.id FROM sites").await.0, "42P01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subqueries_and_ctes() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    assert_eq!(
        q(&mut s, "SELECT name FROM sites WHERE id IN (SELECT (payload->>'site_id')::int FROM events) ORDER BY name").await,
        ["east", "north", "south"]
    );
    assert_eq!(
        q(&mut s, "SELECT name FROM sites s WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.payload->>'site_id' = s.id::text)").await,
        ["west"]
    );
    // Correlated scalar subquery in the select list.
    assert_eq!(
        q(&mut s, "SELECT name, (SELECT count(*) FROM events e WHERE e.payload->>'site_id' = s.id::text) AS n FROM sites s ORDER BY id").await,
        ["north|2", "south|1", "east|1", "west|0"]
    );
    assert_eq!(
        q(&mut s, "SELECT (SELECT max(position) FROM events)").await,
        ["14"]
    );
    assert_eq!(
        err(&mut s, "SELECT (SELECT id FROM sites)").await.0,
        "21000"
    );
    // NOT IN with a NULL in the list is never true.
    assert_eq!(
        q(&mut s, "SELECT count(*) FROM sites WHERE region NOT IN (SELECT region FROM sites WHERE id > 2)").await,
        ["0"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM sites WHERE id > ALL (SELECT id FROM sites WHERE id < 3) ORDER BY id"
        )
        .await,
        ["3", "4"]
    );
    assert_eq!(
        q(&mut s, "WITH hot AS (SELECT id, (payload->>'temp')::float AS t FROM events WHERE (payload->>'temp')::float > 20), n AS (SELECT count(*) AS c FROM hot) SELECT hot.id, t, c FROM hot, n ORDER BY t DESC").await,
        ["e4|30|3", "e2|22|3", "e1|20.5|3"]
    );
    // Derived tables and an aggregate over them.
    assert_eq!(
        q(&mut s, "SELECT region, max(n) FROM (SELECT region, id AS n FROM sites) AS x GROUP BY region ORDER BY region NULLS FIRST").await,
        ["∅|3", "eu|2", "us|4"]
    );
    assert_eq!(
        names(
            &mut s,
            "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, letter)"
        )
        .await,
        ["n", "letter"]
    );
    // A subquery in UPDATE and DELETE.
    assert_eq!(
        match run(
            &mut s,
            "DELETE FROM events WHERE payload->>'site_id' NOT IN (SELECT id::text FROM sites)"
        )
        .await
        {
            QueryResult::Rows { tag, .. } | QueryResult::Command { tag } => tag,
            _ => String::new(),
        },
        "DELETE 1"
    );
    run(
        &mut s,
        "UPDATE sites SET region = (SELECT region FROM sites WHERE id = 4) WHERE region IS NULL",
    )
    .await;
    assert_eq!(
        q(&mut s, "SELECT region FROM sites WHERE id = 3").await,
        ["us"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_functions_and_set_operations() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    assert_eq!(
        q(&mut s, "SELECT count(*), count(position), count(DISTINCT payload->>'site_id'), sum(position), min(id), max(id) FROM events").await,
        ["5|4|4|47|e1|e5"]
    );
    assert_eq!(
        q(&mut s, "SELECT avg(id) FROM sites").await,
        ["2.5000000000000000"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT string_agg(name, ',' ORDER BY name DESC) FROM sites"
        )
        .await,
        ["west,south,north,east"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT jsonb_agg(id ORDER BY id), jsonb_object_agg(name, id) FROM sites WHERE id < 3"
        )
        .await,
        [r#"[1, 2]|{"north": 1, "south": 2}"#]
    );
    assert_eq!(
        q(&mut s, "SELECT region, count(*) FILTER (WHERE id > 1) FROM sites GROUP BY region HAVING count(*) > 0 ORDER BY region").await,
        ["eu|1", "us|1", "∅|1"]
    );
    assert_eq!(
        q(&mut s, "SELECT count(*), sum(id) FROM sites WHERE false").await,
        ["0|∅"]
    );
    assert_eq!(
        err(&mut s, "SELECT name, count(*) FROM sites").await.0,
        "42803"
    );
    assert_eq!(
        err(&mut s, "SELECT id FROM sites WHERE count(*) > 1")
            .await
            .0,
        "42803"
    );
    // Set-returning functions in FROM and in the select list.
    assert_eq!(
        q(&mut s, "SELECT g, g * 2 FROM generate_series(1, 3) AS g").await,
        ["1|2", "2|4", "3|6"]
    );
    assert_eq!(
        q(&mut s, "SELECT generate_series(1, 10, 4)").await,
        ["1", "5", "9"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT id, jsonb_array_elements_text(payload->'tags') FROM events ORDER BY 1, 2"
        )
        .await,
        ["e1|a", "e1|b"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT key, value FROM jsonb_each('{\"b\": 2, \"a\": [1]}') ORDER BY key"
        )
        .await,
        ["a|[1]", "b|2"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT * FROM generate_series('2024-01-31'::timestamp, '2024-04-30', '1 month')"
        )
        .await,
        [
            "2024-01-31 00:00:00",
            "2024-02-29 00:00:00",
            "2024-03-31 00:00:00",
            "2024-04-30 00:00:00"
        ]
    );
    assert_eq!(
        q(&mut s, "SELECT x FROM generate_series(1,3) x UNION SELECT id FROM sites ORDER BY 1 DESC LIMIT 2").await,
        ["4", "3"]
    );
    assert_eq!(
        q(&mut s, "SELECT id FROM sites EXCEPT SELECT 2 ORDER BY 1").await,
        ["1", "3", "4"]
    );
    assert_eq!(
        q(&mut s, "SELECT 1 UNION ALL SELECT 1 INTERSECT SELECT 1")
            .await
            .len(),
        2
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT DISTINCT ON (region) region, name FROM sites ORDER BY region, name DESC"
        )
        .await,
        ["eu|south", "us|west", "∅|east"]
    );
    assert_eq!(
        names(&mut s, "SELECT count(*), 1 + 1, now() IS NOT NULL, max(id) AS x, coalesce(NULL, 2), CASE WHEN true THEN 1 END FROM sites LIMIT 0").await,
        ["count", "?column?", "?column?", "x", "coalesce", "case"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT nullif(1, 1), greatest(3, 7, NULL), least('b', 'a'), 1 IS DISTINCT FROM NULL"
        )
        .await,
        ["∅|7|a|t"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_access_paths() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    // Equality and ranges on an expression index, and on the primary key,
    // give the same answers as scans would.
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM events WHERE payload->>'site_id' = '1' ORDER BY id"
        )
        .await,
        ["e1", "e2"]
    );
    assert_eq!(
        q(&mut s, "SELECT id FROM events WHERE (payload->>'temp')::float > 20 AND (payload->>'temp')::float <= 30 ORDER BY id").await,
        ["e1", "e2", "e4"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM events WHERE (payload->>'temp')::float BETWEEN -10 AND 19 ORDER BY id"
        )
        .await,
        ["e3", "e5"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM events WHERE id >= 'e2' AND id < 'e4'"
        )
        .await,
        ["e2", "e3"]
    );
    assert_eq!(
        q(&mut s, "SELECT id FROM events WHERE id = NULL").await,
        Vec::<String>::new()
    );
    // Own writes are seen through the index inside a transaction.
    run(&mut s, "BEGIN").await;
    run(
        &mut s,
        r#"INSERT INTO events VALUES ('e6', '{"site_id": "1", "temp": 25}', 15)"#,
    )
    .await;
    run(
        &mut s,
        "UPDATE events SET payload = '{\"site_id\": \"2\"}' WHERE id = 'e1'",
    )
    .await;
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM events WHERE payload->>'site_id' = '1' ORDER BY id"
        )
        .await,
        ["e2", "e6"]
    );
    run(&mut s, "ROLLBACK").await;
    // An index nested loop: a point lookup joined through the inner key.
    assert_eq!(
        q(&mut s, "SELECT s.name FROM events e JOIN sites s ON s.id = (e.payload->>'site_id')::int WHERE e.id = 'e3'").await,
        ["south"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_the_chosen_index() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    let plan = q(
        &mut s,
        "EXPLAIN SELECT id FROM events WHERE payload->>'site_id' = '1'",
    )
    .await;
    assert_eq!(
        plan[0], "Index Scan using events_site on events",
        "{plan:?}"
    );
    assert!(plan[1].contains("Index Cond:"), "{plan:?}");
    let plan = q(
        &mut s,
        "EXPLAIN SELECT * FROM events WHERE (payload->>'temp')::float > 25",
    )
    .await;
    assert_eq!(
        plan[0], "Index Scan using events_temp on events",
        "{plan:?}"
    );
    let plan = q(&mut s, "EXPLAIN SELECT * FROM events WHERE id = 'e1'").await;
    assert_eq!(
        plan[0], "Index Scan using events_pkey on events",
        "{plan:?}"
    );
    let plan = q(&mut s, "EXPLAIN SELECT * FROM events WHERE position > 3").await;
    assert_eq!(plan[0], "Seq Scan on events", "{plan:?}");
    assert_eq!(plan[1], "  Filter: (position > 3)", "{plan:?}");
    // Several conditions: one line each for the index and the filter, ANDed
    // as PostgreSQL prints them.
    let plan = q(
        &mut s,
        "EXPLAIN SELECT * FROM events WHERE (payload->>'temp')::float > 25 \
         AND (payload->>'temp')::float < 30 AND position > 3 AND id <> 'e9'",
    )
    .await;
    assert_eq!(plan.len(), 3, "{plan:?}");
    assert!(
        plan[1].starts_with("  Index Cond: ((") && plan[1].contains(") AND ("),
        "{plan:?}"
    );
    assert!(
        plan[2].starts_with("  Filter: ((position > 3) AND ("),
        "{plan:?}"
    );
    let plan = q(&mut s, "EXPLAIN SELECT s.name, count(*) FROM sites s JOIN events e ON e.payload->>'site_id' = s.id::text GROUP BY s.name ORDER BY 2").await;
    assert_eq!(
        plan,
        [
            "Sort",
            "  ->  HashAggregate",
            "        ->  Hash Join",
            "              ->  Seq Scan on sites s",
            "              ->  Hash",
            "                    ->  Seq Scan on events e",
        ]
    );
    let plan = q(&mut s, "EXPLAIN ANALYZE SELECT count(*) FROM events").await;
    assert!(
        plan.last().unwrap().starts_with("Execution Time:"),
        "{plan:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_queries_plan_once_and_replan_after_ddl() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    s.prepare(
        "by_site",
        "SELECT id FROM events WHERE payload->>'site_id' = $1 ORDER BY id",
        &[],
    )
    .unwrap();
    let ids = |r: QueryResult| match r {
        QueryResult::Rows { rows, .. } => rows
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    for _ in 0..3 {
        let r = s.execute("by_site", &[Some("1".into())], 0).await.unwrap();
        assert_eq!(ids(r), ["e1", "e2"]);
    }
    // The index goes away: the cached plan must not be used.
    run(&mut s, "DROP INDEX events_site").await;
    let r = s.execute("by_site", &[Some("1".into())], 0).await.unwrap();
    assert_eq!(ids(r), ["e1", "e2"]);
    // The table is replaced by another of the same name.
    run(&mut s, "DROP TABLE events").await;
    run(
        &mut s,
        "CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL, position bigint)",
    )
    .await;
    run(
        &mut s,
        r#"INSERT INTO events VALUES ('z', '{"site_id": "1"}', 1)"#,
    )
    .await;
    let r = s.execute("by_site", &[Some("1".into())], 0).await.unwrap();
    assert_eq!(ids(r), ["z"]);
}

/// Drivers send Parse for the unnamed statement before every execution;
/// the same text is reused while the catalog stands still, and described
/// and run afresh once DDL changed what it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reparsing_the_same_text_follows_ddl() {
    let (_st, mut s) = session().await;
    run(&mut s, "CREATE TABLE r (id int PRIMARY KEY, v text)").await;
    run(&mut s, "INSERT INTO r VALUES (1, 'one')").await;
    let sql = "SELECT * FROM r WHERE id = $1";
    let names = |p: &sextant_compute::sql::session::Prepared| {
        p.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
    };
    let rows = |r: QueryResult| match r {
        QueryResult::Rows { rows, .. } => rows,
        other => panic!("{other:?}"),
    };
    for _ in 0..3 {
        let p = s.prepare("", sql, &[]).unwrap();
        assert_eq!(names(&p), ["id", "v"]);
        let r = s.execute("", &[Some("1".into())], 0).await.unwrap();
        assert_eq!(rows(r), [[Some("1".to_string()), Some("one".to_string())]]);
    }
    run(&mut s, "ALTER TABLE r ADD COLUMN w int DEFAULT 7").await;
    let p = s.prepare("", sql, &[]).unwrap();
    assert_eq!(names(&p), ["id", "v", "w"]);
    let r = s.execute("", &[Some("1".into())], 0).await.unwrap();
    assert_eq!(
        rows(r),
        [[
            Some("1".to_string()),
            Some("one".to_string()),
            Some("7".to_string())
        ]]
    );
    // Other parameter types are another statement.
    let p = s.prepare("", sql, &[25]).unwrap();
    assert_eq!(p.param_types, [25]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_stops_a_long_query() {
    let (_st, mut s) = session().await;
    run(&mut s, "SET statement_timeout = '200ms'").await;
    let (code, msg) = err(
        &mut s,
        "SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 100000000) b",
    )
    .await;
    assert_eq!(code, "57014");
    assert_eq!(msg, "canceling statement due to statement timeout");
    run(&mut s, "SET statement_timeout = 0").await;
    assert_eq!(
        q(&mut s, "SELECT count(*) FROM generate_series(1, 1000)").await,
        ["1000"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_operators_and_special_syntax() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    assert_eq!(
        q(&mut s, "SELECT date_trunc('hour', '2024-03-05 13:45:12'::timestamp), extract(year from '2024-03-05'::date), '2024-01-31'::date + 1, '2024-01-31 10:00'::timestamp + interval '1 month'").await,
        ["2024-03-05 13:00:00|2024|2024-02-01|2024-02-29 10:00:00"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT name FROM sites WHERE name ~ '^(no|so)' ORDER BY 1"
        )
        .await,
        ["north", "south"]
    );
    assert_eq!(
        q(&mut s, "SELECT name FROM sites WHERE name OPERATOR(pg_catalog.~) '^east$' COLLATE pg_catalog.default").await,
        ["east"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT count(*) FROM sites WHERE name ILIKE 'N%' OR name LIKE '_est'"
        )
        .await,
        ["2"]
    );
    assert_eq!(
        q(&mut s, "SELECT substring('sextant' from 2 for 3), position('t' in 'sextant'), trim('  x  '), upper(name) || '!' FROM sites WHERE id = 1").await,
        ["ext|4|x|NORTH!"]
    );
    assert_eq!(
        q(&mut s, "SELECT 'id-' || id, 1.5 + 2.25, 10 / 4.0, payload #>> '{tags,1}', payload ?| '{tags,x}' FROM events WHERE id = 'e1'").await,
        ["id-e1|3.75|2.5000000000000000|b|t"]
    );
    assert_eq!(
        q(&mut s, "SELECT jsonb_set('{\"a\": 1}', '{b}', '2'), jsonb_build_object('k', 1, 'l', 'x'), jsonb_array_length('[1,2,3]')").await,
        [r#"{"a": 1, "b": 2}|{"k": 1, "l": "x"}|3"#]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT avg(position), sum(position::numeric) FROM events"
        )
        .await,
        ["11.7500000000000000|47"]
    );
    assert_eq!(err(&mut s, "SELECT 1 / 0").await.0, "22012");
    assert_eq!(err(&mut s, "SELECT nosuch(1)").await.0, "42883");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_point_at_the_offending_name() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    for (sql, pos) in [
        ("SELECT nope FROM sites", 8),
        ("SELECT id FROM nosuch", 16),
        ("SELECT s.nope FROM sites s", 8),
        ("SELECT id FROM sites WHERE nosuchfn(id) > 1", 28),
        ("SELECT id FROM sites WHERE", 27),
        ("SELECT id FROM sites WHERE id = = 1", 33),
    ] {
        let e = s.simple_query(sql).await.pop().unwrap().unwrap_err();
        assert_eq!(e.position, Some(pos), "{sql}: {e:?}");
    }
    let e = s
        .simple_query("SELECT nme FROM sites")
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e.hint.as_deref(),
        Some("Perhaps you meant to reference the column \"sites.name\".")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogs_arrays_and_reg_types() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    assert_eq!(
        q(&mut s, "SELECT 'events'::regclass, 'events'::regclass::oid > 16384, pg_typeof(1), pg_typeof('a'::text)").await,
        ["events|t|integer|text"]
    );
    assert_eq!(
        q(&mut s, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'i' ORDER BY 1").await,
        ["events_pkey", "events_site", "events_temp", "sites_pkey"]
    );
    assert_eq!(
        q(&mut s, "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position").await,
        ["id|text|NO", "payload|jsonb|NO", "position|bigint|YES"]
    );
    assert_eq!(
        q(&mut s, "SELECT pg_get_indexdef('events_temp'::regclass)").await,
        ["CREATE INDEX events_temp ON public.events USING btree ((((payload ->> 'temp'::text))::double precision))"]
    );
    assert_eq!(
        q(&mut s, "SELECT ARRAY[1, 2, 3], (ARRAY['a', 'b'])[2], 2 = ANY(ARRAY[1, 2]), array_agg(id ORDER BY id DESC) FROM sites").await,
        ["{1,2,3}|b|t|{4,3,2,1}"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT x FROM unnest(ARRAY['p', 'q']) AS x ORDER BY x DESC"
        )
        .await,
        ["q", "p"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT array_to_string(ARRAY(SELECT name FROM sites WHERE id < 3 ORDER BY id), ',')"
        )
        .await,
        ["north,south"]
    );
}

/// `LIMIT` over an expression-index scan reads only the first matches, in
/// index order, and still merges the transaction's own writes: its inserts
/// appear in order, its deletes and updates hide the committed versions,
/// and an error in a row past the limit is never raised (PostgreSQL reads
/// no further either).
#[tokio::test(flavor = "multi_thread")]
async fn limit_over_an_index_scan_merges_own_writes_in_order() {
    let (_storage, mut s) = session().await;
    run(
        &mut s,
        "CREATE TABLE ev (id int PRIMARY KEY, payload jsonb)",
    )
    .await;
    run(&mut s, "CREATE INDEX ev_site ON ev ((payload->>'site'))").await;
    run(
        &mut s,
        "INSERT INTO ev SELECT g, jsonb_build_object('site', 's' || (g % 3), 'n', g) \
         FROM generate_series(1, 30) g",
    )
    .await;
    // Index order is (site, id): s1 holds 1, 4, 7, ...
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM ev WHERE payload->>'site' = 's1' LIMIT 3"
        )
        .await,
        ["1", "4", "7"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM ev WHERE payload->>'site' = 's1' LIMIT 2 OFFSET 2"
        )
        .await,
        ["7", "10"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM ev WHERE payload->>'site' = 's1' AND id % 2 = 0 LIMIT 2"
        )
        .await,
        ["4", "10"]
    );
    run(&mut s, "BEGIN").await;
    run(&mut s, "DELETE FROM ev WHERE id = 4").await;
    run(&mut s, "INSERT INTO ev VALUES (0, '{\"site\": \"s1\"}')").await;
    run(&mut s, "INSERT INTO ev VALUES (5, '{\"site\": \"s2\"}') ON CONFLICT (id) DO UPDATE SET payload = '{\"site\": \"s1\", \"moved\": true}'").await;
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM ev WHERE payload->>'site' = 's1' LIMIT 4"
        )
        .await,
        ["0", "1", "5", "7"]
    );
    run(&mut s, "ROLLBACK").await;
    // A row past the limit that would fail the cast is never evaluated.
    run(
        &mut s,
        "INSERT INTO ev VALUES (100, '{\"site\": \"s1\", \"n\": \"oops\"}')",
    )
    .await;
    assert_eq!(
        q(
            &mut s,
            "SELECT (payload->>'n')::int FROM ev WHERE payload->>'site' = 's1' LIMIT 2"
        )
        .await,
        ["1", "4"]
    );
    let (code, _) = err(
        &mut s,
        "SELECT (payload->>'n')::int FROM ev WHERE payload->>'site' = 's1'",
    )
    .await;
    assert_eq!(code, "22P02");
}

/// A range over most of an index is read as one pass over the table (each
/// index entry would cost a row lookup), a narrow one through the index;
/// both answer the same, the transaction's own writes included. (The
/// queries read `w`, which the index lacks, so they cannot be index-only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_index_ranges_read_the_table_instead() {
    let (_st, mut s) = session().await;
    run(&mut s, "CREATE TABLE t (id int PRIMARY KEY, v int, w int)").await;
    run(&mut s, "CREATE INDEX t_v ON t (v)").await;
    run(
        &mut s,
        "INSERT INTO t SELECT g, g, g FROM generate_series(1, 5000) g",
    )
    .await;
    let wide = "SELECT count(*), sum(w) FROM t WHERE v >= 100";
    let narrow = "SELECT count(*), sum(w) FROM t WHERE v BETWEEN 10 AND 20";
    assert_eq!(q(&mut s, wide).await, ["4901|12497550"]);
    assert_eq!(q(&mut s, narrow).await, ["11|165"]);
    let plan = q(&mut s, &format!("EXPLAIN ANALYZE {wide}")).await;
    assert!(
        plan.iter()
            .any(|l| l == "Index ranges read as full scans: 1"),
        "{plan:?}"
    );
    let plan = q(&mut s, &format!("EXPLAIN ANALYZE {narrow}")).await;
    assert!(
        !plan
            .iter()
            .any(|l| l.starts_with("Index ranges read as full scans")),
        "{plan:?}"
    );
    // Own writes: a new row in range, one moved out of it, one deleted.
    run(&mut s, "BEGIN").await;
    run(&mut s, "INSERT INTO t VALUES (6000, 6000, 6000)").await;
    run(&mut s, "UPDATE t SET v = 1 WHERE id = 4000").await;
    run(&mut s, "DELETE FROM t WHERE id = 15").await;
    assert_eq!(q(&mut s, wide).await, ["4901|12499550"]);
    assert_eq!(q(&mut s, narrow).await, ["10|150"]);
    run(&mut s, "ROLLBACK").await;
}

/// `ORDER BY … LIMIT` whose keys are an index's order (its key values,
/// then the primary key) or the primary key's, forward or backward, reads
/// the index in that order and stops after the limit instead of sorting:
/// EXPLAIN shows the index scan and no Sort, and every answer equals the
/// one a sort gives (the same query ordered by keys no index has), with
/// ties, NULLs, a join and the transaction's own writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_by_limit_reads_in_index_order() {
    let (_st, mut s) = session().await;
    run(
        &mut s,
        "CREATE TABLE ev (id int PRIMARY KEY, ts int, payload jsonb NOT NULL)",
    )
    .await;
    run(&mut s, "CREATE INDEX ev_ts ON ev (ts)").await;
    run(&mut s, "CREATE INDEX ev_site ON ev ((payload->>'site'))").await;
    run(
        &mut s,
        "CREATE TABLE sites (id text PRIMARY KEY, name text)",
    )
    .await;
    run(
        &mut s,
        "INSERT INTO sites SELECT 's' || g, 'site ' || g FROM generate_series(0, 8) g",
    )
    .await;
    // ts has ties (every value 7 times) and NULLs; site 9 has no sites row.
    run(
        &mut s,
        "INSERT INTO ev SELECT g, CASE WHEN g % 13 = 0 THEN NULL ELSE g % 40 END,
           jsonb_build_object('site', 's' || (g % 10), 'status', CASE WHEN g % 3 = 0 THEN 'error' ELSE 'ok' END)
         FROM generate_series(1, 300) g",
    )
    .await;
    // (ordered query, the same ordered by expressions no index has, plan line)
    let cases = [
        (
            "SELECT id, ts FROM ev ORDER BY ts DESC, id DESC LIMIT 20",
            "SELECT id, ts FROM ev ORDER BY ts + 0 DESC, id + 0 DESC LIMIT 20",
            "Index Only Scan Backward using ev_ts on ev",
        ),
        (
            "SELECT id, ts FROM ev ORDER BY ts, id LIMIT 20 OFFSET 5",
            "SELECT id, ts FROM ev ORDER BY ts + 0, id + 0 LIMIT 20 OFFSET 5",
            "Index Only Scan using ev_ts on ev",
        ),
        (
            "SELECT id FROM ev WHERE payload->>'status' = 'error' ORDER BY ts DESC LIMIT 15",
            "SELECT id FROM ev WHERE payload->>'status' = 'error' ORDER BY ts + 0 DESC, id + 0 DESC LIMIT 15",
            "Index Scan Backward using ev_ts on ev",
        ),
        (
            "SELECT id FROM ev ORDER BY id DESC LIMIT 3",
            "SELECT id FROM ev ORDER BY id + 0 DESC LIMIT 3",
            "Index Scan Backward using ev_pkey on ev",
        ),
        (
            "SELECT id FROM ev WHERE payload->>'site' = 's4' ORDER BY payload->>'site', id DESC LIMIT 4",
            "SELECT id FROM ev WHERE payload->>'site' = 's4' ORDER BY id + 0 DESC LIMIT 4",
            "",
        ),
        (
            "SELECT id FROM ev WHERE payload->>'site' = 's4' ORDER BY id DESC LIMIT 4",
            "SELECT id FROM ev WHERE payload->>'site' = 's4' ORDER BY id + 0 DESC LIMIT 4",
            "Index Scan Backward using ev_site on ev",
        ),
        (
            "SELECT e.id, e.ts, s.name FROM ev e JOIN sites s ON s.id = e.payload->>'site'
               WHERE e.payload->>'status' = 'error' ORDER BY e.ts DESC, e.id DESC LIMIT 10",
            "SELECT e.id, e.ts, s.name FROM ev e JOIN sites s ON s.id = e.payload->>'site'
               WHERE e.payload->>'status' = 'error' ORDER BY e.ts + 0 DESC, e.id + 0 DESC LIMIT 10",
            "Index Scan Backward using ev_ts on ev e",
        ),
        (
            "SELECT e.id, s.name FROM ev e LEFT JOIN sites s ON s.id = e.payload->>'site'
               ORDER BY e.ts, e.id LIMIT 12",
            "SELECT e.id, s.name FROM ev e LEFT JOIN sites s ON s.id = e.payload->>'site'
               ORDER BY e.ts + 0, e.id + 0 LIMIT 12",
            "Index Scan using ev_ts on ev e",
        ),
    ];
    for own_writes in [false, true] {
        if own_writes {
            run(&mut s, "BEGIN").await;
            run(&mut s, "INSERT INTO ev VALUES (1000, 39, '{\"site\": \"s4\", \"status\": \"error\"}'), (1001, NULL, '{\"site\": \"s1\", \"status\": \"error\"}'), (0, 0, '{\"site\": \"s4\"}')").await;
            run(&mut s, "UPDATE ev SET ts = 38 WHERE id = 3").await;
            run(&mut s, "DELETE FROM ev WHERE ts = 39 AND id < 200").await;
        }
        for (ordered, sorted, scan) in &cases {
            assert_eq!(
                q(&mut s, ordered).await,
                q(&mut s, sorted).await,
                "{ordered} (own writes: {own_writes})"
            );
            let plan = q(&mut s, &format!("EXPLAIN {ordered}")).await;
            let plan = plan.join("\n");
            if scan.is_empty() {
                continue;
            }
            assert!(plan.contains(scan), "{ordered}:\n{plan}");
            assert!(!plan.contains("Sort"), "{ordered}:\n{plan}");
        }
    }
    run(&mut s, "ROLLBACK").await;
    // NULLs placed against the index's order (DESC NULLS LAST on a
    // nullable column) still sort.
    let plan = q(
        &mut s,
        "EXPLAIN SELECT id FROM ev ORDER BY ts DESC NULLS LAST, id DESC LIMIT 5",
    )
    .await
    .join("\n");
    assert!(plan.contains("Sort"), "{plan}");
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM ev ORDER BY ts DESC NULLS LAST, id DESC LIMIT 3"
        )
        .await,
        ["279", "239", "199"]
    );
}

/// A long OR chain nests one level per operator: it binds and runs (the
/// binder and evaluator grow their stack instead of overflowing it), and
/// past the nesting limit it is refused with 54001 while the session
/// carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_or_chains_run_or_are_refused_cleanly() {
    let (_st, mut s) = session().await;
    let chain = |n: usize| {
        format!(
            "SELECT count(*) FROM generate_series(1, 10) g WHERE {}",
            (0..n)
                .map(|i| format!("g = {i}"))
                .collect::<Vec<_>>()
                .join(" OR ")
        )
    };
    assert_eq!(q(&mut s, &chain(990)).await, ["10"]);
    let (code, _) = err(&mut s, &chain(20_000)).await;
    assert_eq!(code, "54001");
    assert_eq!(q(&mut s, "SELECT 1").await, ["1"]);
}

/// A scan's filter is computed once where its answer cannot change within
/// the statement (a stable operator on constants, such as `timestamptz -
/// interval`, which bounds the BI queries' time windows), and per row where
/// it can (`random()`): folding `random() < 0.5` once would keep every row
/// or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_fold_stable_calls_once_and_keep_volatile_ones_per_row() {
    let (_st, mut s) = session().await;
    run(
        &mut s,
        "CREATE TABLE ticks (id int PRIMARY KEY, at timestamptz NOT NULL)",
    )
    .await;
    run(
        &mut s,
        "INSERT INTO ticks SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
           FROM generate_series(1, 2000) g",
    )
    .await;
    assert_eq!(
        q(
            &mut s,
            "SELECT count(*), min(id) FROM ticks
                   WHERE at >= timestamptz '2024-01-02 00:00:00+00' - interval '1 hour'"
        )
        .await,
        ["621|1380"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT count(*) FROM ticks WHERE at < now() - interval '1 day'"
        )
        .await,
        ["2000"]
    );
    let kept: u32 = q(&mut s, "SELECT count(*) FROM ticks WHERE random() < 0.5").await[0]
        .parse()
        .unwrap();
    assert!(
        (1..2000).contains(&kept),
        "random() was evaluated once for the scan: {kept} of 2000 rows kept"
    );
}
