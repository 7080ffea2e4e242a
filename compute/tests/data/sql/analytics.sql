-- Analytic SQL as BI tools send it: window functions, ordered-set
-- aggregates, grouping sets, LATERAL, to_char, and the set operations,
-- outer joins, DISTINCT ON and FILTER that dashboards lean on.

-- case: distinct_on_and_filter (extended)
CREATE TABLE ev (id int PRIMARY KEY, site text, status int, ms int);
INSERT INTO ev VALUES (1, 'a', 200, 10), (2, 'a', 500, 30), (3, 'b', 200, 20), (4, 'b', 404, 5), (5, 'b', 200, 50), (6, 'c', 500, NULL);
SELECT DISTINCT ON (site) site, id, ms FROM ev ORDER BY site, ms DESC NULLS LAST;
SELECT DISTINCT ON (site) site, id FROM ev ORDER BY site, id DESC;
SELECT DISTINCT ON (status / 100) status / 100 AS class, id FROM ev ORDER BY status / 100, id;
SELECT site, count(*) FILTER (WHERE status >= 500) AS errors, count(*) AS total, sum(ms) FILTER (WHERE status = 200) AS ok_ms FROM ev GROUP BY site ORDER BY site;
SELECT count(*) FILTER (WHERE ms > 15), avg(ms) FILTER (WHERE site <> 'a') FROM ev;
SELECT array_agg(id ORDER BY id DESC) FILTER (WHERE status = 200) FROM ev;

-- case: set_operations_all (extended)
CREATE TABLE a (n int);
CREATE TABLE b (n int);
INSERT INTO a VALUES (1), (1), (2), (3), (NULL);
INSERT INTO b VALUES (1), (3), (3), (4), (NULL);
SELECT n FROM a UNION SELECT n FROM b ORDER BY n;
SELECT n FROM a UNION ALL SELECT n FROM b ORDER BY n;
SELECT n FROM a INTERSECT SELECT n FROM b ORDER BY n;
SELECT n FROM a INTERSECT ALL SELECT n FROM b ORDER BY n;
SELECT n FROM a EXCEPT SELECT n FROM b ORDER BY n;
SELECT n FROM a EXCEPT ALL SELECT n FROM b ORDER BY n;
SELECT n FROM b EXCEPT ALL SELECT n FROM a ORDER BY n;
SELECT n FROM a UNION SELECT n FROM b EXCEPT SELECT 4 ORDER BY 1 DESC;
(SELECT n FROM a ORDER BY n LIMIT 2) UNION ALL (SELECT n FROM b ORDER BY n DESC LIMIT 1);

-- case: right_and_full_joins (extended)
CREATE TABLE sites (id int PRIMARY KEY, name text);
CREATE TABLE hits (id int PRIMARY KEY, site_id int, n int);
INSERT INTO sites VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO hits VALUES (10, 1, 5), (11, 1, 6), (12, 4, 7), (13, NULL, 8);
SELECT s.name, h.id FROM sites s RIGHT JOIN hits h ON h.site_id = s.id ORDER BY h.id;
SELECT s.name, h.id FROM sites s FULL JOIN hits h ON h.site_id = s.id ORDER BY h.id, s.name;
SELECT s.name, h.id FROM sites s FULL JOIN hits h ON h.site_id = s.id AND h.n > 5 ORDER BY h.id, s.name;
SELECT s.name, count(h.id) FROM hits h RIGHT JOIN sites s ON h.site_id = s.id GROUP BY s.name ORDER BY s.name;
SELECT coalesce(s.id, h.site_id) AS k, h.n FROM sites s FULL OUTER JOIN hits h ON s.id = h.site_id WHERE h.n IS NULL OR h.n > 6 ORDER BY k, h.n;

-- case: window_ranking (extended)
CREATE TABLE sc (id int PRIMARY KEY, grp text, v int);
INSERT INTO sc VALUES (1, 'x', 10), (2, 'x', 20), (3, 'x', 20), (4, 'x', 30), (5, 'y', 5), (6, 'y', NULL), (7, 'y', 5), (8, 'z', 1);
SELECT id, row_number() OVER (ORDER BY id DESC) FROM sc ORDER BY id;
SELECT id, grp, v, row_number() OVER (PARTITION BY grp ORDER BY v, id), rank() OVER (PARTITION BY grp ORDER BY v), dense_rank() OVER (PARTITION BY grp ORDER BY v) FROM sc ORDER BY id;
SELECT id, rank() OVER (ORDER BY v DESC), dense_rank() OVER (ORDER BY v DESC NULLS LAST), percent_rank() OVER (ORDER BY v), cume_dist() OVER (ORDER BY v) FROM sc ORDER BY id;
SELECT id, rank() OVER w, percent_rank() OVER w, cume_dist() OVER w FROM sc WINDOW w AS (PARTITION BY grp ORDER BY v) ORDER BY id;
SELECT id, row_number() OVER () > 0 AS numbered, rank() OVER (), dense_rank() OVER (PARTITION BY grp) FROM sc ORDER BY id;
SELECT * FROM (SELECT id, grp, row_number() OVER (PARTITION BY grp ORDER BY v DESC NULLS LAST, id) AS rn FROM sc) t WHERE rn <= 2 ORDER BY grp, rn;

-- case: window_ntile_lag_lead (extended)
CREATE TABLE sc (id int PRIMARY KEY, grp text, v int);
INSERT INTO sc VALUES (1, 'x', 10), (2, 'x', 20), (3, 'x', 20), (4, 'x', 30), (5, 'y', 5), (6, 'y', NULL), (7, 'y', 5);
SELECT id, ntile(3) OVER (ORDER BY id), ntile(2) OVER (PARTITION BY grp ORDER BY id), ntile(10) OVER (ORDER BY id) FROM sc ORDER BY id;
SELECT id, lag(v) OVER (ORDER BY id), lead(v) OVER (ORDER BY id), lag(v, 2) OVER (ORDER BY id), lead(v, 2, -1) OVER (ORDER BY id) FROM sc ORDER BY id;
SELECT id, lag(v, 1, 0) OVER (PARTITION BY grp ORDER BY id), lead(id) OVER (PARTITION BY grp ORDER BY id), lag(v, -1) OVER (ORDER BY id), lag(v, 0) OVER (ORDER BY id) FROM sc ORDER BY id;
SELECT id, lag(v, 1, 0.5) OVER (ORDER BY id), lead(grp, 1, 'none') OVER (ORDER BY id) FROM sc ORDER BY id;
SELECT id, v - lag(v) OVER (PARTITION BY grp ORDER BY id) AS delta FROM sc ORDER BY id;
SELECT id, ntile(NULL::int) OVER (ORDER BY id) FROM sc ORDER BY id LIMIT 2;
SELECT id, lag(v, NULL::int) OVER (ORDER BY id) FROM sc ORDER BY id LIMIT 2;

-- case: window_first_last_nth (extended)
CREATE TABLE sc (id int PRIMARY KEY, grp text, v int);
INSERT INTO sc VALUES (1, 'x', 10), (2, 'x', 20), (3, 'x', 20), (4, 'x', 30), (5, 'y', 5), (6, 'y', NULL), (7, 'y', 5);
SELECT id, first_value(v) OVER (PARTITION BY grp ORDER BY id), last_value(v) OVER (PARTITION BY grp ORDER BY id), nth_value(v, 2) OVER (PARTITION BY grp ORDER BY id) FROM sc ORDER BY id;
SELECT id, last_value(id) OVER (ORDER BY v, id), last_value(id) OVER (ORDER BY v), last_value(id) OVER (ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM sc ORDER BY id;
SELECT id, first_value(id) OVER (ORDER BY id ROWS BETWEEN 1 FOLLOWING AND 2 FOLLOWING), last_value(id) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING), nth_value(id, 3) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM sc ORDER BY id;
SELECT id, first_value(grp) OVER (ORDER BY v DESC NULLS FIRST), nth_value(grp, 1) OVER (ORDER BY id DESC), nth_value(grp, 2) OVER (ORDER BY grp, id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM sc ORDER BY id;

-- case: window_aggregates (extended)
CREATE TABLE sc (id int PRIMARY KEY, grp text, v int, f float8, m numeric);
INSERT INTO sc VALUES (1, 'x', 10, 1.5, 1.10), (2, 'x', 20, 2.25, 2.200), (3, 'x', 20, NULL, 3), (4, 'x', 30, 4, NULL), (5, 'y', 5, 0.1, 0.01), (6, 'y', NULL, 0.2, 0.02), (7, 'y', 5, 0.3, 0.03);
SELECT id, sum(v) OVER (ORDER BY id), count(v) OVER (ORDER BY id), count(*) OVER (ORDER BY id), avg(v) OVER (ORDER BY id) FROM sc ORDER BY id;
SELECT id, v, sum(v) OVER (ORDER BY v), count(*) OVER (ORDER BY v), max(id) OVER (ORDER BY v) FROM sc ORDER BY id;
SELECT id, sum(v) OVER (PARTITION BY grp), min(v) OVER (PARTITION BY grp), max(v) OVER (PARTITION BY grp ORDER BY id), avg(f) OVER (PARTITION BY grp), sum(m) OVER (PARTITION BY grp ORDER BY id) FROM sc ORDER BY id;
SELECT id, sum(v) OVER (), count(*) OVER (), round(100.0 * v / sum(v) OVER (), 2) AS pct FROM sc ORDER BY id;
SELECT id, string_agg(grp, ',') OVER (ORDER BY id), array_agg(v) OVER (PARTITION BY grp ORDER BY id), bool_and(v > 5) OVER (ORDER BY id), jsonb_agg(id) OVER (ORDER BY id DESC) FROM sc ORDER BY id;
SELECT id, sum(f) OVER (ORDER BY id), avg(m) OVER (ORDER BY id), sum(v) FILTER (WHERE id % 2 = 1) OVER (ORDER BY id), count(*) FILTER (WHERE v IS NULL) OVER () FROM sc ORDER BY id;

-- case: window_frames_rows (extended)
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t VALUES (1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32);
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM t ORDER BY id;
SELECT id, sum(v) OVER (ORDER BY id ROWS 2 PRECEDING), sum(v) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING), sum(v) OVER (ORDER BY id ROWS CURRENT ROW) FROM t ORDER BY id;
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING), sum(v) OVER (ORDER BY id ROWS BETWEEN 2 FOLLOWING AND 3 FOLLOWING), count(*) OVER (ORDER BY id ROWS BETWEEN 3 PRECEDING AND 2 PRECEDING) FROM t ORDER BY id;
SELECT id, avg(v) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), min(v) OVER (ORDER BY id DESC ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING), max(v) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) FROM t ORDER BY id;
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN 1 FOLLOWING AND 1 PRECEDING) FROM t ORDER BY id;
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN 10 PRECEDING AND 10 FOLLOWING), sum(v) OVER (ORDER BY id ROWS BETWEEN 0 PRECEDING AND 0 FOLLOWING) FROM t ORDER BY id;

-- case: window_frames_range_groups (extended)
CREATE TABLE t (id int PRIMARY KEY, k int, d date, ts timestamp, x float8);
INSERT INTO t VALUES (1, 1, '2024-01-01', '2024-01-01 00:00', 0.5), (2, 1, '2024-01-02', '2024-01-01 00:30', 1.0), (3, 3, '2024-01-05', '2024-01-01 01:10', 1.5), (4, 4, '2024-01-05', '2024-01-01 02:00', 3.0), (5, 7, '2024-02-01', '2024-01-02 00:00', NULL), (6, NULL, NULL, NULL, 4.5);
SELECT id, k, sum(id) OVER (ORDER BY k RANGE BETWEEN 1 PRECEDING AND 1 FOLLOWING), count(*) OVER (ORDER BY k RANGE BETWEEN CURRENT ROW AND 3 FOLLOWING) FROM t ORDER BY id;
SELECT id, k, sum(id) OVER (ORDER BY k DESC RANGE BETWEEN 2 PRECEDING AND CURRENT ROW), sum(id) OVER (ORDER BY k RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), sum(id) OVER (ORDER BY k RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM t ORDER BY id;
SELECT id, count(*) OVER (ORDER BY d RANGE BETWEEN INTERVAL '3 days' PRECEDING AND CURRENT ROW), count(*) OVER (ORDER BY ts RANGE BETWEEN CURRENT ROW AND INTERVAL '1 hour' FOLLOWING) FROM t ORDER BY id;
SELECT id, sum(id) OVER (ORDER BY x RANGE BETWEEN 1 PRECEDING AND 0.5 FOLLOWING) FROM t ORDER BY id;
SELECT id, k, sum(id) OVER (ORDER BY k GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING), count(*) OVER (ORDER BY k GROUPS CURRENT ROW), sum(id) OVER (ORDER BY k NULLS FIRST RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING) FROM t ORDER BY id;
SELECT id, first_value(id) OVER (ORDER BY k RANGE BETWEEN 2 FOLLOWING AND 5 FOLLOWING), last_value(id) OVER (ORDER BY k GROUPS BETWEEN UNBOUNDED PRECEDING AND 1 FOLLOWING) FROM t ORDER BY id;

-- case: window_with_grouping (extended)
CREATE TABLE ev (id int PRIMARY KEY, site text, status int);
INSERT INTO ev VALUES (1, 'a', 200), (2, 'a', 500), (3, 'b', 200), (4, 'b', 200), (5, 'b', 404), (6, 'c', 200);
SELECT site, count(*), sum(count(*)) OVER (), rank() OVER (ORDER BY count(*) DESC) FROM ev GROUP BY site ORDER BY site;
SELECT site, count(*) AS n, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS share FROM ev GROUP BY site ORDER BY n DESC, site;
SELECT status, count(*), row_number() OVER (ORDER BY status DESC) FROM ev GROUP BY status HAVING count(*) >= 1 ORDER BY status;
SELECT site, status, count(*), sum(count(*)) OVER (PARTITION BY site ORDER BY status) FROM ev GROUP BY site, status ORDER BY site, status;
SELECT DISTINCT site, count(*) OVER (PARTITION BY site) FROM ev ORDER BY site;
SELECT id, row_number() OVER (ORDER BY id) FROM ev ORDER BY row_number() OVER (ORDER BY id) DESC LIMIT 3;
SELECT id, sum(id) OVER w1, max(id) OVER w2 FROM ev WINDOW w1 AS (PARTITION BY site), w2 AS (w1 ORDER BY id) ORDER BY id;
SELECT id, (SELECT count(*) FROM ev e2 WHERE e2.site = ev.site) AS n, count(*) OVER (PARTITION BY site) FROM ev ORDER BY id;

-- case: window_errors
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t VALUES (1, 1), (2, 2);
SELECT id FROM t WHERE row_number() OVER () > 1;
SELECT count(*) FROM t GROUP BY row_number() OVER ();
SELECT id FROM t GROUP BY id HAVING rank() OVER () > 0;
SELECT sum(row_number() OVER ()) FROM t;
SELECT row_number() OVER (ORDER BY rank() OVER ()) FROM t;
SELECT row_number() FROM t;
SELECT lower('x') OVER () FROM t;
SELECT sum(DISTINCT v) OVER () FROM t;
SELECT id, sum(v) OVER w FROM t;
SELECT id, ntile(0) OVER (ORDER BY id) FROM t;
SELECT id, ntile(-1) OVER (ORDER BY id) FROM t;
SELECT id, nth_value(v, 0) OVER (ORDER BY id) FROM t;
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN -1 PRECEDING AND CURRENT ROW) FROM t;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) OVER () FROM t;
SELECT id, sum(v) OVER (ORDER BY id RANGE BETWEEN '1' PRECEDING AND CURRENT ROW) FROM t ORDER BY id;
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN NULL PRECEDING AND CURRENT ROW) FROM t;
SELECT id, sum(v) OVER (ORDER BY id RANGE BETWEEN -1 PRECEDING AND CURRENT ROW) FROM t;
SELECT id, first_value(v) FILTER (WHERE v > 1) OVER () FROM t;
SELECT id, sum(v) OVER (ORDER BY id RANGE BETWEEN 'x' PRECEDING AND CURRENT ROW) FROM t;
SELECT id, lag(v, 1, 'x') OVER (ORDER BY id) FROM t;
SELECT id, sum(v ORDER BY v) OVER () FROM t;

-- case: error_positions
-- Errors whose text Sextant matches but not their position: PostgreSQL
-- points at a frame bound, a window's parenthesis, a column reference
-- found invalid after binding, or a literal it failed to convert; sqlparser
-- keeps no position for the first two, the binder none for the third, and
-- Sextant converts literals when it runs the statement.
CREATE TABLE t (id int PRIMARY KEY, v int);
SELECT id, sum(v) OVER w FROM t WINDOW w AS (ORDER BY id), w AS (ORDER BY v);
SELECT id, sum(v) OVER (w ORDER BY v) FROM t WINDOW w AS (ORDER BY id);
SELECT id, sum(v) OVER (w PARTITION BY v) FROM t WINDOW w AS (ORDER BY id);
SELECT id, sum(v) OVER (w) FROM t WINDOW w AS (ORDER BY id ROWS CURRENT ROW);
SELECT * FROM t a RIGHT JOIN LATERAL (SELECT a.id) x ON true;
CREATE TABLE s (id int PRIMARY KEY, region text, product text, qty int);
SELECT product, count(*) FROM s GROUP BY ROLLUP (region);
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED FOLLOWING AND CURRENT ROW) FROM t;
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED PRECEDING) FROM t;
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND 1 PRECEDING) FROM t;
SELECT id, sum(v) OVER (ORDER BY id ROWS BETWEEN 1 FOLLOWING AND CURRENT ROW) FROM t;
SELECT id, sum(v) OVER (RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t;
SELECT id, sum(v) OVER (ORDER BY id, v RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t;
SELECT id, sum(v) OVER (GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t;

-- case: window_error_positions
CREATE TABLE t (id int PRIMARY KEY, v int);
select id, sum(v) over (order by id rows 1 following) from t;
select id, sum(v) over (order by id desc nulls last rows unbounded following) from t;
select id, sum(v) over (rows between unbounded preceding and unbounded preceding) from t;
select id, sum(v) over (order by id rows between 1 following and unbounded preceding) from t;
select id, sum(v) over (partition by v order by id groups between (1 + 1) following and current row) from t;
SELECT id, sum(v) OVER w FROM t WINDOW w AS (RANGE BETWEEN 1 PRECEDING AND CURRENT ROW);
SELECT id, sum(v) FILTER (WHERE v > 0) OVER (w RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t WINDOW w AS (PARTITION BY v);
SELECT id, rank()
    OVER
    (GROUPS CURRENT ROW) FROM t;
SELECT id, sum(v) OVER w FROM t WINDOW w AS (ORDER BY id), w2 AS (w ORDER BY v);
SELECT id, sum(v) OVER w FROM t WINDOW w AS (ORDER BY id), w AS (w);
SELECT * FROM t a FULL JOIN LATERAL (SELECT 1 AS one WHERE 2 > a.v) x ON true;

-- case: percentiles (extended)
CREATE TABLE m (id int PRIMARY KEY, site text, temp float8, ms int, amount numeric, at timestamp, dur interval);
INSERT INTO m VALUES (1, 'a', 20.5, 10, 1.5, '2024-01-01 10:00', '1 hour'), (2, 'a', 21.0, 20, 2.5, '2024-01-01 11:00', '2 hours'), (3, 'a', 25.25, 30, 10, '2024-01-01 12:00', '30 minutes'), (4, 'b', 18.0, 40, NULL, '2024-01-02 10:00', '1 day'), (5, 'b', NULL, 50, 7, NULL, NULL), (6, 'b', 19.5, 50, 7, '2024-01-03 10:00', '3 hours'), (7, 'c', 30.0, NULL, NULL, NULL, NULL);
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY temp), percentile_disc(0.5) WITHIN GROUP (ORDER BY temp), mode() WITHIN GROUP (ORDER BY ms) FROM m;
SELECT site, percentile_cont(0.9) WITHIN GROUP (ORDER BY temp) AS p90, percentile_disc(0.25) WITHIN GROUP (ORDER BY ms) AS p25, mode() WITHIN GROUP (ORDER BY amount) FROM m GROUP BY site ORDER BY site;
SELECT percentile_cont(ARRAY[0, 0.25, 0.5, 0.75, 1]) WITHIN GROUP (ORDER BY ms), percentile_disc(ARRAY[0.1, 0.5, NULL]) WITHIN GROUP (ORDER BY amount) FROM m;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms DESC), percentile_disc(0.1) WITHIN GROUP (ORDER BY ms DESC), percentile_cont(0.3) WITHIN GROUP (ORDER BY ms::float8) FROM m;
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY at), percentile_cont(0.5) WITHIN GROUP (ORDER BY dur), percentile_disc(0.5) WITHIN GROUP (ORDER BY site), mode() WITHIN GROUP (ORDER BY site) FROM m;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY temp), mode() WITHIN GROUP (ORDER BY ms) FROM m WHERE id > 100;
SELECT percentile_cont(NULL) WITHIN GROUP (ORDER BY temp), percentile_cont(0.5) WITHIN GROUP (ORDER BY temp) FILTER (WHERE site = 'a') FROM m;
SELECT site, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM m GROUP BY site HAVING percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) > 20 ORDER BY site;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM m;

-- case: ordered_set_shared_inputs (extended)
CREATE TABLE m (id int PRIMARY KEY, site text, temp float8, ms int);
INSERT INTO m SELECT g, (ARRAY['a', 'b', 'c'])[g % 3 + 1], CASE WHEN g % 7 = 0 THEN NULL ELSE (g * 37 % 101) / 4.0 END, g * 13 % 50 FROM generate_series(1, 300) g;
SELECT site, percentile_cont(0.5) WITHIN GROUP (ORDER BY temp) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY temp) AS p95, percentile_disc(0.95) WITHIN GROUP (ORDER BY temp) AS d95, percentile_cont(0.5) WITHIN GROUP (ORDER BY temp DESC) AS p50d, mode() WITHIN GROUP (ORDER BY temp) AS mode FROM m GROUP BY site ORDER BY site;
SELECT site, percentile_cont(0.5) WITHIN GROUP (ORDER BY temp) FILTER (WHERE ms < 25) AS lo, percentile_cont(0.5) WITHIN GROUP (ORDER BY temp) FILTER (WHERE ms >= 25) AS hi, percentile_cont(0.5) WITHIN GROUP (ORDER BY temp) AS all_, percentile_cont(ARRAY[0.1, 0.9]) WITHIN GROUP (ORDER BY temp) FILTER (WHERE ms < 25) AS lo_arr FROM m GROUP BY site ORDER BY site;
SELECT ms % 5 AS k, percentile_disc(0.5) WITHIN GROUP (ORDER BY ms), percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE site = 'zzz') FROM m GROUP BY 1 ORDER BY 1;

-- case: distinct_aggregates_across_groups (extended)
CREATE TABLE d (id int PRIMARY KEY, g text, v int, s text);
INSERT INTO d SELECT i, (ARRAY['x', 'y'])[i % 2 + 1], CASE WHEN i % 5 = 0 THEN NULL ELSE i % 7 END, CASE WHEN i % 4 = 0 THEN NULL ELSE 's' || (i % 3) END FROM generate_series(1, 200) i;
SELECT g, count(DISTINCT v), sum(DISTINCT v), avg(DISTINCT v), count(DISTINCT s), string_agg(DISTINCT s, ',' ORDER BY s), count(*) FROM d GROUP BY g ORDER BY g;
SELECT count(DISTINCT v) FILTER (WHERE g = 'x'), count(DISTINCT (v, s)), array_agg(DISTINCT v ORDER BY v DESC) FROM d;

-- case: percentile_errors
CREATE TABLE m (id int PRIMARY KEY, temp float8, site text);
INSERT INTO m VALUES (1, 1.0, 'a'), (2, 2.0, 'b');
SELECT percentile_cont(1.5) WITHIN GROUP (ORDER BY temp) FROM m;
SELECT percentile_disc(-0.1) WITHIN GROUP (ORDER BY temp) FROM m;
SELECT percentile_cont(ARRAY[0.5, 2]) WITHIN GROUP (ORDER BY temp) FROM m;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY site) FROM m;
SELECT percentile_cont(0.5) FROM m;
SELECT mode(temp) FROM m;
SELECT sum(temp) WITHIN GROUP (ORDER BY temp) FROM m;
SELECT percentile_cont(temp) WITHIN GROUP (ORDER BY temp) FROM m;

-- case: grouping_sets (extended)
CREATE TABLE s (id int PRIMARY KEY, region text, product text, qty int);
INSERT INTO s VALUES (1, 'east', 'pen', 5), (2, 'east', 'ink', 3), (3, 'west', 'pen', 7), (4, 'west', 'pen', 1), (5, 'west', 'pad', NULL), (6, NULL, 'pen', 2);
SELECT region, product, sum(qty), count(*) FROM s GROUP BY ROLLUP (region, product) ORDER BY region, product;
SELECT region, product, sum(qty), grouping(region), grouping(product), grouping(region, product) FROM s GROUP BY CUBE (region, product) ORDER BY grouping(region, product), region, product;
SELECT region, product, count(*) FROM s GROUP BY GROUPING SETS ((region), (product), ()) ORDER BY region, product;
SELECT region, product, count(*) FROM s GROUP BY region, ROLLUP (product) ORDER BY region, product;
SELECT CASE WHEN grouping(region) = 1 THEN 'all' ELSE region END AS r, sum(qty) FROM s GROUP BY ROLLUP (region) ORDER BY 1;
SELECT region, sum(qty) FROM s GROUP BY GROUPING SETS ((region), ()) HAVING sum(qty) > 6 ORDER BY region;
SELECT count(*), sum(qty) FROM s WHERE id > 100 GROUP BY ROLLUP (region);
SELECT count(*) FROM s WHERE id > 100 GROUP BY GROUPING SETS ((region), (product));
SELECT region, count(*) FROM s GROUP BY GROUPING SETS ((region), (region)) ORDER BY region;
SELECT region, grouping(region), rank() OVER (ORDER BY sum(qty) DESC) FROM s GROUP BY ROLLUP (region) ORDER BY region;
SELECT region, product, grouping(product, region) FROM s GROUP BY region, product ORDER BY region, product;
SELECT upper(region), count(*) FROM s GROUP BY ROLLUP (upper(region)) ORDER BY 1, 2;

-- case: grouping_errors
CREATE TABLE s (id int PRIMARY KEY, region text, product text, qty int);
SELECT grouping(product) FROM s GROUP BY region;
SELECT grouping(region) FROM s;
SELECT region FROM s WHERE grouping(region) = 0 GROUP BY region;

-- case: lateral (extended)
CREATE TABLE sites (id int PRIMARY KEY, name text);
CREATE TABLE hits (id int PRIMARY KEY, site_id int, ms int, tags jsonb);
INSERT INTO sites VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO hits VALUES (10, 1, 5, '["a","b"]'), (11, 1, 9, '[]'), (12, 1, 7, '["c"]'), (13, 2, 3, '["a"]');
SELECT s.name, h.id, h.ms FROM sites s, LATERAL (SELECT id, ms FROM hits WHERE site_id = s.id ORDER BY ms DESC LIMIT 2) h ORDER BY s.name, h.ms DESC;
SELECT s.name, h.id FROM sites s LEFT JOIN LATERAL (SELECT id FROM hits WHERE site_id = s.id ORDER BY id DESC LIMIT 1) h ON true ORDER BY s.id;
SELECT s.name, x.total, x.n FROM sites s CROSS JOIN LATERAL (SELECT sum(ms) AS total, count(*) AS n FROM hits WHERE site_id = s.id) x ORDER BY s.id;
SELECT s.id, g FROM sites s, generate_series(1, s.id) g ORDER BY s.id, g;
SELECT h.id, t.tag FROM hits h, jsonb_array_elements_text(h.tags) AS t(tag) ORDER BY h.id, t.tag;
SELECT h.id, t FROM hits h CROSS JOIN LATERAL jsonb_array_elements_text(h.tags) AS t WHERE t <> 'b' ORDER BY h.id, t;
SELECT s.name, h.id FROM sites s JOIN LATERAL (SELECT id FROM hits WHERE site_id = s.id) h ON h.id > 10 ORDER BY h.id;
SELECT s.name, d.doubled FROM sites s, LATERAL (SELECT s.id * 2 AS doubled) d WHERE d.doubled > 2 ORDER BY s.name;
SELECT a.id, b.id, c.x FROM sites a, sites b, LATERAL (SELECT a.id + b.id AS x) c WHERE a.id < b.id ORDER BY a.id, b.id;
SELECT s.id, (SELECT max(l.ms) FROM LATERAL (SELECT ms FROM hits WHERE site_id = s.id) l) FROM sites s ORDER BY s.id;

-- case: lateral_errors
CREATE TABLE sites (id int PRIMARY KEY, name text);
SELECT * FROM sites s, (SELECT s.id) x;
SELECT * FROM LATERAL (SELECT s.id) x, sites s;

-- case: to_char_datetime (extended)
SELECT to_char(timestamp '2024-03-07 09:05:03.123456', 'YYYY-MM-DD HH24:MI:SS.MS.US');
SELECT to_char(timestamp '2024-03-07 21:05:03', 'HH12:MI AM | hh12 pm | a.m. | P.M. | HH'), to_char(timestamp '2024-03-07 00:05:03', 'HH12 AM');
SELECT to_char(timestamp '2024-03-07 09:05:03', 'Mon MON mon Month MONTH month | Dy DY dy Day DAY day');
SELECT to_char(timestamp '2024-03-07 09:05:03', 'FMMonth FMDay FMDD FMMM FMHH24 | DD MM HH24');
SELECT to_char(timestamp '2024-03-07 09:05:03', 'YYYY YYY YY Y | Q | WW IW | DDD | D ID | J | CC | SSSS | TH DDth ddTH FMDDth');
SELECT to_char(timestamp '2024-03-01 00:00:00', 'DDth'), to_char(timestamp '2024-03-02 00:00:00', 'DDth'), to_char(timestamp '2024-03-03 00:00:00', 'DDth'), to_char(timestamp '2024-03-11 00:00:00', 'DDth'), to_char(timestamp '2024-03-22 00:00:00', 'FMDDth');
SELECT to_char(timestamptz '2024-03-07 09:05:03+00', 'YYYY-MM-DD HH24:MI:SS TZ tz OF'), to_char(timestamptz '2024-03-07 09:05:03+00', 'YYYY-MM-DD"T"HH24:MI:SS');
SET TimeZone = '+05:30';
SELECT to_char(timestamptz '2024-03-07 09:05:03+00', 'YYYY-MM-DD HH24:MI TZ OF');
RESET TimeZone;
SELECT to_char(date '2024-12-31', 'YYYY/MM/DD Day'), to_char(date '0044-03-15', 'YYYY'), to_char(timestamp '2024-03-07 09:05:03', '"quoted" \"x\" text-9');
SELECT to_char(timestamp '2024-03-07 09:05:03', ''), to_char(NULL::timestamp, 'YYYY'), to_char(timestamp '2024-03-07 09:05:03', NULL);
SELECT to_char(timestamp '2024-01-01 00:00:00', 'IYYY-IW-ID'), to_char(timestamp '2021-01-03 00:00:00', 'IYYY-IW-ID WW');
SELECT to_char(timestamp 'infinity', 'YYYY');

-- case: to_char_interval (extended)
SELECT to_char(interval '1 day 02:03:04.5', 'DD HH24:MI:SS.MS'), to_char(interval '27 hours', 'HH24 HH12'), to_char(interval '1 year 2 months', 'YYYY MM');
SELECT to_char(interval '-3 hours -4 minutes', 'HH24:MI'), to_char(interval '90 minutes', 'MI SS');

-- case: to_char_numbers (extended)
SELECT to_char(1234.5678, '9999.99'), to_char(1234.5678, '0000.000'), to_char(-1234.5678, '9G999D99'), to_char(0.5, '9.99'), to_char(0.5, '0.99');
SELECT to_char(42, '999'), to_char(42, '000'), to_char(-42, 'S999'), to_char(42, 'S999'), to_char(-42, '999S'), to_char(-42, '999PR'), to_char(42, '999PR'), to_char(-42, '999MI'), to_char(42, 'MI999');
SELECT to_char(1234567, 'FM9,999,999'), to_char(1234567, '9,999,999'), to_char(12, 'FM9999'), to_char(12.5, 'FM999.99'), to_char(12.0, 'FM999.00'), to_char(12, 'FM999.');
SELECT to_char(123456, '999'), to_char(1.999, '9.99'), to_char(-0.004, '9.99'), to_char(2.5::float8, '9'), to_char(3.5::float8, '9'), to_char(1e10::float8, '9999999999999'), to_char(-7::int8, 'L999');
SELECT to_char(12.34, 'L99.99'), to_char(485, '9 9 9'), to_char(12, 'SG99'), to_char(-12, 'SG99'), to_char(485, 'FMRN'), to_char(3.14159::real, '9.999'), to_char(1234, '99th'), to_char(3, 'FM9th');
SELECT to_char(0, '999'), to_char(0, 'FM999'), to_char(0, '0'), to_char(0.0, 'FM0.00'), to_char(NULL::int, '999'), to_char(-0.5, 'FM90.9');
