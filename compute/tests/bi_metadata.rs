//! What BI clients read besides rows, as PostgreSQL 15 gives it: result
//! columns that name their table and column (pgjdbc's `ResultSetMetaData`),
//! `numeric(p, s)` kept in the catalog and applied to stored values, and
//! UNIQUE constraints listed in `pg_constraint` beside their index.

mod common;

use sextant_compute::sql::session::{Column, QueryResult, Session};

async fn session() -> (common::Storage, Session) {
    common::sql_session().await
}

async fn ok(s: &mut Session, sql: &str) -> QueryResult {
    s.simple_query(sql)
        .await
        .pop()
        .unwrap()
        .unwrap_or_else(|e| panic!("{sql}: {} {}", e.code, e.message))
}

async fn err(s: &mut Session, sql: &str) -> (String, String) {
    match s.simple_query(sql).await.pop().unwrap() {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(e) => (e.code.to_string(), e.message),
    }
}

fn rows(r: &QueryResult) -> Vec<Vec<Option<String>>> {
    match r {
        QueryResult::Rows { rows, .. } => rows.clone(),
        other => panic!("no rows: {other:?}"),
    }
}

fn columns(r: &QueryResult) -> Vec<Column> {
    match r {
        QueryResult::Rows { columns, .. } => columns.clone(),
        other => panic!("no rows: {other:?}"),
    }
}

fn texts(r: &QueryResult) -> Vec<Vec<String>> {
    rows(r)
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.unwrap_or("NULL".into()))
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_columns_name_their_table_and_attnum() {
    let (_storage, mut s) = session().await;
    ok(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, amount numeric(10, 2), note varchar(20))",
    )
    .await;
    ok(&mut s, "CREATE TABLE u (k int PRIMARY KEY, t_id int)").await;
    let oid = |name: &str| format!("SELECT oid::int8 FROM pg_class WHERE relname = '{name}'");
    let t_oid: u32 = texts(&ok(&mut s, &oid("t")).await)[0][0].parse().unwrap();
    let u_oid: u32 = texts(&ok(&mut s, &oid("u")).await)[0][0].parse().unwrap();

    let r = ok(
        &mut s,
        "SELECT x.note, x.id + 0 AS plus, t.amount, x.id AS renamed, u.k, count(*) OVER () \
         FROM (SELECT * FROM t) x JOIN t ON t.id = x.id JOIN u ON u.t_id = t.id",
    )
    .await;
    let got: Vec<(String, u32, i16, i32)> = columns(&r)
        .into_iter()
        .map(|c| (c.name, c.table_oid, c.column_id, c.type_mod))
        .collect();
    // numeric(10, 2) is (10 << 16 | 2) + 4; varchar(20) is 24.
    assert_eq!(
        got,
        vec![
            ("note".into(), t_oid, 3, 24),
            ("plus".into(), 0, 0, -1),
            ("amount".into(), t_oid, 2, (10 << 16 | 2) + 4),
            ("renamed".into(), t_oid, 1, -1),
            ("k".into(), u_oid, 1, -1),
            ("count".into(), 0, 0, -1),
        ]
    );

    // Grouped columns keep their origin; aggregates and set operations
    // have none.
    let r = ok(&mut s, "SELECT id, sum(amount) FROM t GROUP BY id").await;
    let origins: Vec<(u32, i16)> = columns(&r)
        .iter()
        .map(|c| (c.table_oid, c.column_id))
        .collect();
    assert_eq!(origins, vec![(t_oid, 1), (0, 0)]);
    let r = ok(&mut s, "SELECT id FROM t UNION SELECT k FROM u").await;
    assert_eq!(columns(&r)[0].table_oid, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_columns_keep_precision_and_scale() {
    let (_storage, mut s) = session().await;
    ok(
        &mut s,
        "CREATE TABLE n (id int PRIMARY KEY, a numeric(10, 2) DEFAULT 1, b numeric(3), c numeric(3, 5), d numeric)",
    )
    .await;
    ok(&mut s, "INSERT INTO n VALUES (1, 0, 1.5, 0.001234, 0.10)").await;
    ok(&mut s, "INSERT INTO n (id) VALUES (2)").await;
    ok(
        &mut s,
        "INSERT INTO n SELECT 3, 12345678.999, -2.5, -0.00999, 1",
    )
    .await;
    ok(&mut s, "UPDATE n SET a = a / 3 WHERE id = 2").await;
    let r = ok(&mut s, "SELECT id, a, b, c, d FROM n ORDER BY id").await;
    assert_eq!(
        texts(&r),
        vec![
            vec!["1", "0.00", "2", "0.00123", "0.10"],
            vec!["2", "0.33", "NULL", "NULL", "NULL"],
            vec!["3", "12345679.00", "-3", "-0.00999", "1"],
        ]
    );
    let r = ok(
        &mut s,
        "SELECT attname, atttypmod, format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = 'n'::regclass AND attnum > 1 ORDER BY attnum",
    )
    .await;
    assert_eq!(
        texts(&r),
        vec![
            vec!["a", "655366", "numeric(10,2)"],
            vec!["b", "196612", "numeric(3,0)"],
            vec!["c", "196617", "numeric(3,5)"],
            vec!["d", "-1", "numeric"],
        ]
    );

    for sql in [
        "INSERT INTO n (id, a) VALUES (4, 99999999.995)",
        "INSERT INTO n (id, b) VALUES (4, 999.5)",
        "INSERT INTO n (id, c) VALUES (4, 0.01)",
        "UPDATE n SET a = a * 10",
    ] {
        let (code, message) = err(&mut s, sql).await;
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("22003", "numeric field overflow"),
            "{sql}"
        );
    }
    let (code, _) = err(&mut s, "INSERT INTO n (id, a) VALUES (4, 'Infinity')").await;
    assert_eq!(code, "22003");
    ok(&mut s, "INSERT INTO n (id, a) VALUES (4, 'NaN')").await;
    let (code, message) = err(&mut s, "CREATE TABLE bad (x numeric(1001))").await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("22023", "NUMERIC precision 1001 must be between 1 and 1000")
    );
    let (code, _) = err(&mut s, "CREATE TABLE bad (x numeric(0))").await;
    assert_eq!(code, "22023");
    ok(
        &mut s,
        "ALTER TABLE n ADD COLUMN e numeric(4, 1) DEFAULT 2.25",
    )
    .await;
    let r = ok(&mut s, "SELECT e FROM n WHERE id = 1").await;
    assert_eq!(texts(&r), vec![vec!["2.3"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_in_create_table_is_a_constraint() {
    let (_storage, mut s) = session().await;
    ok(
        &mut s,
        "CREATE TABLE sites (id int PRIMARY KEY, name text UNIQUE, code text, UNIQUE (code, id))",
    )
    .await;
    ok(
        &mut s,
        "CREATE UNIQUE INDEX sites_lower ON sites (lower(name))",
    )
    .await;
    let r = ok(
        &mut s,
        "SELECT conname, contype, conkey, conindid::regclass, pg_get_constraintdef(oid) \
         FROM pg_constraint WHERE conrelid = 'sites'::regclass ORDER BY conname",
    )
    .await;
    assert_eq!(
        texts(&r),
        vec![
            vec![
                "sites_code_id_key",
                "u",
                "{3,1}",
                "sites_code_id_key",
                "UNIQUE (code, id)"
            ],
            vec![
                "sites_name_key",
                "u",
                "{2}",
                "sites_name_key",
                "UNIQUE (name)"
            ],
            vec!["sites_pkey", "p", "{1}", "sites_pkey", "PRIMARY KEY (id)"],
        ]
    );
    let r = ok(
        &mut s,
        "SELECT constraint_name, constraint_type FROM information_schema.table_constraints \
         WHERE table_name = 'sites' AND constraint_type <> 'CHECK' ORDER BY 1",
    )
    .await;
    assert_eq!(
        texts(&r),
        vec![
            vec!["sites_code_id_key", "UNIQUE"],
            vec!["sites_name_key", "UNIQUE"],
            vec!["sites_pkey", "PRIMARY KEY"],
        ]
    );

    // The constraint owns its index: DROP INDEX refuses, DROP CONSTRAINT
    // drops both. A plain unique index is no constraint.
    let (code, message) = err(&mut s, "DROP INDEX sites_name_key").await;
    assert_eq!(code, "2BP01");
    assert_eq!(
        message,
        "cannot drop index sites_name_key because constraint sites_name_key on table sites requires it"
    );
    ok(&mut s, "ALTER TABLE sites DROP CONSTRAINT sites_name_key").await;
    let (code, _) = err(&mut s, "ALTER TABLE sites DROP CONSTRAINT sites_lower").await;
    assert_eq!(code, "42704");
    ok(
        &mut s,
        "ALTER TABLE sites DROP CONSTRAINT IF EXISTS sites_name_key",
    )
    .await;
    ok(&mut s, "DROP INDEX sites_lower").await;
    let r = ok(
        &mut s,
        "SELECT conname FROM pg_constraint WHERE conrelid = 'sites'::regclass ORDER BY 1",
    )
    .await;
    assert_eq!(
        texts(&r),
        vec![vec!["sites_code_id_key"], vec!["sites_pkey"]]
    );
    let r = ok(
        &mut s,
        "SELECT relname FROM pg_class WHERE relname LIKE 'sites_%' ORDER BY 1",
    )
    .await;
    assert_eq!(
        texts(&r),
        vec![vec!["sites_code_id_key"], vec!["sites_pkey"]]
    );

    ok(&mut s, "ALTER TABLE sites ADD COLUMN tag text UNIQUE").await;
    let r = ok(
        &mut s,
        "SELECT conname, contype FROM pg_constraint WHERE conname = 'sites_tag_key'",
    )
    .await;
    assert_eq!(texts(&r), vec![vec!["sites_tag_key", "u"]]);
}
