//! Index access paths for value lists and cross-type integer comparisons:
//! `k IN (…)` and `k = ANY (array)` read one key range per value through
//! the primary key, an index or an indexed expression (with equalities on a
//! leading key prefix), and a smallint/integer key compared with a wider
//! integer uses its index, as PostgreSQL 15's btree scans do.
//!
//! That only the listed keys are read is shown with rows the query's filter
//! cannot evaluate (`100 / d` with `d = 0`): a scan that reached them would
//! fail with division_by_zero, as the same query forced through a full scan
//! does. EXPLAIN is checked against what PostgreSQL 15 prints.

mod common;

use common::server::Server;
use common::{q, run};
use proptest::prelude::*;
use sextant_compute::sql::session::{QueryResult, Session};

async fn explain(s: &mut Session, sql: &str) -> Vec<String> {
    q(s, &format!("EXPLAIN {sql}")).await
}

async fn err_code(s: &mut Session, sql: &str) -> String {
    match s.simple_query(sql).await.pop().unwrap() {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(e) => e.code.to_string(),
    }
}

/// `t`: ids 1..=200, `d = id % 10` (so `100 / d` fails on every tenth
/// row), `s = id % 50` indexed, and a site id in the payload, indexed as an
/// expression. `t2`: a two-part primary key.
async fn setup(s: &mut Session) {
    for sql in [
        "CREATE TABLE t (id int PRIMARY KEY, s smallint, d int, payload jsonb NOT NULL)",
        "CREATE INDEX t_s ON t (s)",
        "CREATE INDEX t_site ON t ((payload->>'site_id'))",
        "INSERT INTO t SELECT g, g % 50, g % 10, jsonb_build_object('site_id', (g % 13)::text)
           FROM generate_series(1, 200) g",
        "CREATE TABLE t2 (a int, b int, d int, PRIMARY KEY (a, b))",
        "INSERT INTO t2 SELECT a, b, (a + b) % 5 FROM generate_series(1, 20) a, generate_series(1, 20) b",
    ] {
        run(s, sql).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lists_read_only_their_keys() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    // Values out of order, repeated and NULL: each row once, in key order.
    let sql = "SELECT id FROM t WHERE 100 / d > 0 AND id IN (13, 1, 2, 13, NULL, 999)";
    assert_eq!(q(&mut s, sql).await, ["1", "2", "13"]);
    assert_eq!(
        explain(&mut s, sql).await,
        [
            "Index Scan using t_pkey on t",
            "  Index Cond: (id = ANY ('{13,1,2,13,NULL,999}'::integer[]))",
            "  Filter: (100 / d > 0)",
        ]
    );
    // The same through a full scan reaches the rows with d = 0.
    assert_eq!(
        err_code(
            &mut s,
            "SELECT id FROM t WHERE 100 / d > 0 AND id + 0 IN (13, 1, 2)"
        )
        .await,
        "22012"
    );
    let sql = "SELECT id FROM t WHERE 100 / d > 0 AND id = ANY ('{7,3,5}')";
    assert_eq!(q(&mut s, sql).await, ["3", "5", "7"]);
    assert_eq!(
        explain(&mut s, sql).await[..2],
        [
            "Index Scan using t_pkey on t",
            "  Index Cond: (id = ANY ('{7,3,5}'::integer[]))",
        ]
    );
    let sql = "SELECT id FROM t WHERE 100 / d > 0 AND id = ANY (ARRAY[7, 3, NULL])";
    assert_eq!(q(&mut s, sql).await, ["3", "7"]);
    assert_eq!(
        explain(&mut s, sql).await[1],
        "  Index Cond: (id = ANY ('{7,3,NULL}'::integer[]))"
    );
    // A NULL array and an all-NULL list match nothing.
    assert!(q(&mut s, "SELECT id FROM t WHERE id = ANY (NULL::int[])")
        .await
        .is_empty());
    assert!(q(&mut s, "SELECT id FROM t WHERE id IN (NULL, NULL)")
        .await
        .is_empty());
    // An index on a smallint column, read in (s, id) order.
    let sql = "SELECT s, id FROM t WHERE 100 / d > 0 AND s IN (3, 1)";
    assert_eq!(
        q(&mut s, sql).await,
        ["1|1", "1|51", "1|101", "1|151", "3|3", "3|53", "3|103", "3|153"]
    );
    assert_eq!(
        explain(&mut s, sql).await[..2],
        [
            "Index Scan using t_s on t",
            "  Index Cond: (s = ANY ('{3,1}'::integer[]))",
        ]
    );
    // An indexed expression.
    let sql = "SELECT id FROM t WHERE payload->>'site_id' IN ('2', '1') AND id + 0 < 60";
    assert_eq!(
        q(&mut s, sql).await,
        ["1", "14", "27", "40", "53", "2", "15", "28", "41", "54"]
    );
    assert_eq!(
        explain(&mut s, sql).await[..2],
        [
            "Index Scan using t_site on t",
            "  Index Cond: (payload ->> 'site_id' = ANY ('{2,1}'::text[]))",
        ]
    );
    // NOT IN is no key condition.
    assert_eq!(
        explain(&mut s, "SELECT id FROM t WHERE id NOT IN (1, 2)").await,
        [
            "Seq Scan on t",
            "  Filter: (id <> ALL ('{1,2}'::integer[]))"
        ]
    );
    // Values computed once per scan: now() and arithmetic.
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM t WHERE 100 / d > 0 AND id IN (1 + 1, extract(day FROM now())::int * 0 + 4)"
        )
        .await,
        ["2", "4"]
    );
    // UPDATE and DELETE find their rows the same way.
    run(
        &mut s,
        "UPDATE t SET d = d + 100 WHERE 100 / d > 0 AND id IN (3, 4)",
    )
    .await;
    assert_eq!(
        q(&mut s, "SELECT id, d FROM t WHERE id IN (3, 4)").await,
        ["3|103", "4|104"]
    );
    // Own writes: an inserted row, a deleted one and a moved one.
    run(&mut s, "BEGIN").await;
    run(
        &mut s,
        "INSERT INTO t VALUES (1000, 1, 1, '{\"site_id\": \"1\"}')",
    )
    .await;
    run(&mut s, "DELETE FROM t WHERE id = 1").await;
    run(&mut s, "UPDATE t SET s = 3 WHERE id = 2").await;
    assert_eq!(
        q(&mut s, "SELECT id FROM t WHERE id IN (1, 1000, 2)").await,
        ["2", "1000"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT s, id FROM t WHERE 100 / d > 0 AND s IN (3, 1)"
        )
        .await,
        // 3 no longer passes the filter: its d is 103.
        ["1|51", "1|101", "1|151", "1|1000", "3|2", "3|53", "3|103", "3|153"]
    );
    run(&mut s, "ROLLBACK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lists_with_a_key_prefix_and_a_limit() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    // d = (a + b) % 5: rows with a + b a multiple of 5 fail the filter.
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "SELECT a, b FROM t2 WHERE 100 / d > 0 AND a = 1 AND b IN (3, 1)",
            &["1|1", "1|3"],
            "  Index Cond: ((a = 1) AND (b = ANY ('{3,1}'::integer[])))",
        ),
        (
            "SELECT a, b FROM t2 WHERE 100 / d > 0 AND a IN (2, 1) AND b = 1",
            &["1|1", "2|1"],
            "  Index Cond: ((a = ANY ('{2,1}'::integer[])) AND (b = 1))",
        ),
        (
            "SELECT a, b FROM t2 WHERE 100 / d > 0 AND a IN (2, 1) AND b IN (2, 1)",
            &["1|1", "1|2", "2|1", "2|2"],
            "  Index Cond: ((a = ANY ('{2,1}'::integer[])) AND (b = ANY ('{2,1}'::integer[])))",
        ),
        (
            "SELECT a, b FROM t2 WHERE 100 / d > 0 AND a IN (7, 2) AND b > 18",
            &["2|19", "2|20", "7|19", "7|20"],
            "  Index Cond: ((a = ANY ('{7,2}'::integer[])) AND (b > 18))",
        ),
    ];
    for (sql, rows, cond) in cases {
        assert_eq!(q(&mut s, sql).await, *rows, "{sql}");
        assert_eq!(
            explain(&mut s, sql).await[..2],
            ["Index Scan using t2_pkey on t2", cond],
            "{sql}"
        );
    }
    // Past KEY_LIST_POINTS_MAX combinations (400 × 400 here) the range the
    // lists lie in is read once and filtered: the same rows.
    let many = |n: i32| {
        (-n / 2..n / 2)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "SELECT a, b FROM t2 WHERE a IN ({}) AND b IN ({}) AND b < 3 ORDER BY a, b LIMIT 5",
        many(400),
        many(400)
    );
    assert_eq!(q(&mut s, &sql).await, ["1|1", "1|2", "2|1", "2|2", "3|1"]);
    // LIMIT stops after the rows it returns: id 20 (d = 0) is never read,
    // forward or backward.
    let sql = "SELECT id FROM t WHERE 100 / d > 0 AND id IN (20, 9, 8, 7) ORDER BY id LIMIT 2";
    assert_eq!(q(&mut s, sql).await, ["7", "8"]);
    assert_eq!(
        explain(&mut s, sql).await,
        [
            "Limit",
            "  ->  Index Scan using t_pkey on t",
            "        Index Cond: (id = ANY ('{20,9,8,7}'::integer[]))",
            "        Filter: (100 / d > 0)",
        ]
    );
    let sql =
        "SELECT id FROM t WHERE 100 / d > 0 AND id IN (10, 19, 18, 1) ORDER BY id DESC LIMIT 2";
    assert_eq!(q(&mut s, sql).await, ["19", "18"]);
    assert_eq!(
        explain(&mut s, sql).await[1],
        "  ->  Index Scan Backward using t_pkey on t"
    );
    // Index order after a list: (s, id) within each value of s.
    let sql = "SELECT s, id FROM t WHERE s IN (30, 4) ORDER BY s DESC, id DESC LIMIT 3";
    assert_eq!(q(&mut s, sql).await, ["30|180", "30|130", "30|80"]);
    assert_eq!(
        explain(&mut s, sql).await[1],
        "  ->  Index Only Scan Backward using t_s on t"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wider_integers_bound_narrower_keys() {
    let (_st, mut s) = common::sql_session().await;
    for sql in [
        "CREATE TABLE c (k smallint PRIMARY KEY, i int NOT NULL, d int NOT NULL, r real)",
        "CREATE INDEX c_i ON c (i)",
        "CREATE INDEX c_r ON c (r)",
        "INSERT INTO c SELECT g, g * 1000, g % 10, g / 4.0 FROM generate_series(-30, 30) g",
    ] {
        run(&mut s, sql).await;
    }
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "SELECT k FROM c WHERE 100 / d > 0 AND k = 5",
            &["5"],
            "c_pkey",
        ),
        (
            "SELECT k FROM c WHERE 100 / d > 0 AND k = 5::bigint",
            &["5"],
            "c_pkey",
        ),
        ("SELECT k FROM c WHERE k = 100000", &[], "c_pkey"),
        ("SELECT k FROM c WHERE k = -3000000000", &[], "c_pkey"),
        ("SELECT k FROM c WHERE k > 40000", &[], "c_pkey"),
        ("SELECT count(*) FROM c WHERE k < 40000", &["61"], "c_pkey"),
        (
            "SELECT count(*) FROM c WHERE k > -40000 AND k <= 9223372036854775807",
            &["61"],
            "c_pkey",
        ),
        (
            "SELECT count(*) FROM c WHERE k BETWEEN 21::bigint AND 100000",
            &["10"],
            "c_pkey",
        ),
        (
            "SELECT k FROM c WHERE 100 / d > 0 AND k IN (3, 100000, 4::bigint)",
            &["3", "4"],
            "c_pkey",
        ),
        (
            "SELECT k FROM c WHERE 100 / d > 0 AND i = 3000::bigint",
            &["3"],
            "c_i",
        ),
        ("SELECT k FROM c WHERE i = 3000000000", &[], "c_i"),
        (
            "SELECT count(*) FROM c WHERE i < 3000000000",
            &["61"],
            "c_i",
        ),
        (
            "SELECT count(*) FROM c WHERE i > -3000000000 AND i < 3000000000",
            &["61"],
            "c_i",
        ),
        (
            "SELECT k FROM c WHERE i = ANY ('{-2000, 3000000000}'::bigint[])",
            &["-2"],
            "c_i",
        ),
        // float4 keys compared with float8 values, as float48 compares.
        (
            "SELECT k FROM c WHERE 100 / d > 0 AND r = 1.25::float8",
            &["5"],
            "c_r",
        ),
        ("SELECT k FROM c WHERE r = 0.1::float8", &[], "c_r"),
        ("SELECT k FROM c WHERE r > 7.3::float8", &["30"], "c_r"),
    ];
    for (sql, rows, index) in cases {
        assert_eq!(q(&mut s, sql).await, *rows, "{sql}");
        let plan = explain(&mut s, sql).await;
        assert!(
            plan.iter()
                .any(|l| l.ends_with(&format!("Scan using {index} on c"))),
            "{sql}: {plan:?}"
        );
    }
    // The same comparisons through a full scan agree.
    for sql in [
        "SELECT k FROM c WHERE k + 0 = 100000",
        "SELECT k FROM c WHERE i + 0 = 3000000000",
    ] {
        assert!(q(&mut s, sql).await.is_empty(), "{sql}");
    }
    // A parameter of a wider type.
    s.prepare(
        "by_i",
        "SELECT k FROM c WHERE 100 / d > 0 AND i = $1",
        &[20],
    )
    .unwrap();
    for (v, want) in [("7000", vec!["7".to_string()]), ("3000000000", vec![])] {
        let r = s.execute("by_i", &[Some(v.into())], 0).await.unwrap();
        assert_eq!(values(r), want, "{v}");
    }
}

fn values(r: QueryResult) -> Vec<String> {
    match r {
        QueryResult::Rows { rows, .. } => rows
            .into_iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// `= ANY ($1)` with arrays from the extended protocol, as tokio-postgres
/// sends a `&[i64]` or a `Vec<String>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_of_an_array_parameter() {
    let server = Server::start().await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE ev (id bigint PRIMARY KEY, site int NOT NULL, d int NOT NULL, payload jsonb NOT NULL);
         CREATE INDEX ev_site ON ev (site);
         CREATE INDEX ev_site_id ON ev ((payload->>'site_id'));
         INSERT INTO ev SELECT g, g % 7, g % 10, jsonb_build_object('site_id', (g % 7)::text)
           FROM generate_series(1, 100) g",
    )
    .await
    .unwrap();
    let ids =
        |rows: Vec<tokio_postgres::Row>| -> Vec<i64> { rows.iter().map(|r| r.get(0)).collect() };
    // Read through the primary key: a full scan would divide by zero.
    let by_id = "SELECT id FROM ev WHERE 100 / d > 0 AND id = ANY ($1)";
    let rows = c.query(by_id, &[&&[42_i64, 7, 42, 3][..]]).await.unwrap();
    assert_eq!(ids(rows), [3, 7, 42]);
    // Wider integers for an int key, cast in the statement.
    let rows = c
        .query(
            "SELECT id FROM ev WHERE site = ANY ($1::bigint[]) AND id + 0 < 30",
            &[&vec![3_i64, 5_000_000_000]],
        )
        .await
        .unwrap();
    assert_eq!(ids(rows), [3, 10, 17, 24]);
    let rows = c
        .query(
            "SELECT id FROM ev WHERE site = $1::bigint AND id + 0 < 30",
            &[&5_000_000_000_i64],
        )
        .await
        .unwrap();
    assert!(rows.is_empty());
    let rows = c
        .query(
            "SELECT id FROM ev WHERE site = $1::bigint AND id + 0 < 30",
            &[&4_i64],
        )
        .await
        .unwrap();
    assert_eq!(ids(rows), [4, 11, 18, 25]);
    let rows = c
        .query(
            "SELECT id FROM ev WHERE payload->>'site_id' = ANY ($1) AND id + 0 < 30",
            &[&vec!["2".to_string(), "4".to_string()]],
        )
        .await
        .unwrap();
    let mut got = ids(rows);
    got.sort_unstable();
    assert_eq!(got, [2, 4, 9, 11, 16, 18, 23, 25]);
    drop(c);
    server.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// An IN list read through the primary key or an index returns exactly
    /// what a full scan and the same filter return.
    #[test]
    fn in_list_scans_match_the_filtered_full_scan(
        ids in prop::collection::vec(prop_oneof![Just(None), (-5i64..260).prop_map(Some)], 1..12),
        sites in prop::collection::vec(prop_oneof![Just(None), (0i64..15).prop_map(Some)], 1..6),
        desc in any::<bool>(),
    ) {
        let list = |v: &[Option<i64>]| v.iter()
            .map(|x| x.map_or("NULL".to_string(), |x| x.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        let site_ids = sites.iter()
            .map(|x| x.map_or("NULL".to_string(), |x| format!("'{x}'")))
            .collect::<Vec<_>>()
            .join(", ");
        let (ids, sites) = (list(&ids), list(&sites));
        let order = if desc { "DESC" } else { "" };
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let (_st, mut s) = common::sql_session().await;
            setup(&mut s).await;
            for (indexed, full) in [
                (
                    format!("SELECT id, s FROM t WHERE id IN ({ids}) ORDER BY id {order}"),
                    format!("SELECT id, s FROM t WHERE id + 0 IN ({ids}) ORDER BY id {order}"),
                ),
                (
                    format!("SELECT id, s FROM t WHERE s IN ({sites}) ORDER BY s {order}, id {order} LIMIT 7"),
                    format!("SELECT id, s FROM t WHERE s + 0 IN ({sites}) ORDER BY s {order}, id {order} LIMIT 7"),
                ),
                (
                    format!("SELECT id FROM t WHERE payload->>'site_id' = ANY (ARRAY[{site_ids}]::text[]) AND id IN ({ids})"),
                    format!("SELECT id FROM t WHERE payload->>'site_id' || '' = ANY (ARRAY[{site_ids}]::text[]) AND id + 0 IN ({ids}) ORDER BY id"),
                ),
            ] {
                let plan = explain(&mut s, &indexed).await.join("\n");
                assert!(plan.contains("Index Cond"), "{indexed}: {plan}");
                assert!(!explain(&mut s, &full).await.join("\n").contains("Index Cond"), "{full}");
                assert_eq!(q(&mut s, &indexed).await, q(&mut s, &full).await, "{indexed}");
            }
        });
    }
}
