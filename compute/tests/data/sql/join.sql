-- Joins: inner, left, right, full, cross, self, USING/NATURAL, joins with grouping.

-- case: inner_join (extended)
CREATE TABLE sites (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE readings (id int PRIMARY KEY, site_id text, temp float8);
INSERT INTO sites VALUES ('s1', 'north'), ('s2', 'south'), ('s3', 'empty');
INSERT INTO readings VALUES (1, 's1', 20.5), (2, 's1', 21), (3, 's2', 18.25), (4, 'sX', 30), (5, NULL, 1);
SELECT r.id, s.name, r.temp FROM readings r JOIN sites s ON s.id = r.site_id ORDER BY r.id;
SELECT r.id, s.name FROM readings r INNER JOIN sites s ON s.id = r.site_id AND r.temp > 20 ORDER BY r.id;
SELECT r.id, s.name FROM readings r, sites s WHERE s.id = r.site_id ORDER BY r.id;
SELECT s.name, count(*), avg(r.temp) FROM sites s JOIN readings r ON r.site_id = s.id GROUP BY s.name ORDER BY s.name;

-- case: left_join (extended)
CREATE TABLE sites (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE readings (id int PRIMARY KEY, site_id text, temp float8);
INSERT INTO sites VALUES ('s1', 'north'), ('s2', 'south'), ('s3', 'empty');
INSERT INTO readings VALUES (1, 's1', 20.5), (2, 's1', 21), (3, 's2', 18.25), (4, 'sX', 30);
SELECT s.id, r.id AS reading FROM sites s LEFT JOIN readings r ON r.site_id = s.id ORDER BY s.id, r.id;
SELECT s.id, count(r.id) FROM sites s LEFT OUTER JOIN readings r ON r.site_id = s.id GROUP BY s.id ORDER BY s.id;
SELECT s.id FROM sites s LEFT JOIN readings r ON r.site_id = s.id WHERE r.id IS NULL;
SELECT r.id, s.name FROM readings r LEFT JOIN sites s ON s.id = r.site_id ORDER BY r.id;
SELECT s.id, r.id FROM sites s LEFT JOIN readings r ON r.site_id = s.id AND r.temp > 20.8 ORDER BY s.id, r.id;

-- case: right_and_full_join
CREATE TABLE a (k int PRIMARY KEY, va text);
CREATE TABLE b (k int PRIMARY KEY, vb text);
INSERT INTO a VALUES (1, 'a1'), (2, 'a2');
INSERT INTO b VALUES (2, 'b2'), (3, 'b3');
SELECT a.k, a.va, b.k, b.vb FROM a RIGHT JOIN b ON a.k = b.k ORDER BY b.k;
SELECT a.k, a.va, b.k, b.vb FROM a FULL JOIN b ON a.k = b.k ORDER BY coalesce(a.k, b.k);
SELECT coalesce(a.k, b.k) AS k FROM a FULL OUTER JOIN b ON a.k = b.k ORDER BY k;

-- case: cross_join (extended)
CREATE TABLE a (x int PRIMARY KEY);
CREATE TABLE b (y text PRIMARY KEY);
INSERT INTO a VALUES (1), (2), (3);
INSERT INTO b VALUES ('p'), ('q');
SELECT x, y FROM a CROSS JOIN b ORDER BY x, y;
SELECT x, y FROM a, b ORDER BY y DESC, x;
SELECT count(*) FROM a, b, a AS a2;
SELECT x, y FROM a CROSS JOIN b WHERE x = 2 ORDER BY y;

-- case: self_join
CREATE TABLE emp (id int PRIMARY KEY, name text, boss int);
INSERT INTO emp VALUES (1, 'root', NULL), (2, 'ann', 1), (3, 'bob', 1), (4, 'cyd', 2);
SELECT e.name, b.name AS boss FROM emp e LEFT JOIN emp b ON b.id = e.boss ORDER BY e.id;
SELECT b.name, count(*) FROM emp e JOIN emp b ON b.id = e.boss GROUP BY b.name ORDER BY b.name;

-- case: join_using_and_natural
CREATE TABLE a (k int PRIMARY KEY, va text);
CREATE TABLE b (k int PRIMARY KEY, vb text);
INSERT INTO a VALUES (1, 'a1'), (2, 'a2');
INSERT INTO b VALUES (2, 'b2'), (3, 'b3');
SELECT * FROM a JOIN b USING (k);
SELECT k, va, vb FROM a LEFT JOIN b USING (k) ORDER BY k;
SELECT * FROM a NATURAL JOIN b;
SELECT * FROM a FULL JOIN b USING (k) ORDER BY k;

-- case: using_merged_columns (extended)
CREATE TABLE a (k int PRIMARY KEY, va text);
CREATE TABLE b (k int PRIMARY KEY, vb text);
CREATE TABLE c (x int, y int, vc text);
CREATE TABLE d (x int, y int, vd text);
INSERT INTO a VALUES (1, 'a1'), (2, 'a2');
INSERT INTO b VALUES (2, 'b2'), (3, 'b3');
INSERT INTO c VALUES (1, 1, 'c11'), (1, 2, 'c12');
INSERT INTO d VALUES (1, 2, 'd12'), (2, 2, 'd22');
SELECT * FROM a RIGHT JOIN b USING (k) ORDER BY k;
SELECT k, b.k AS bk, va, vb FROM a FULL JOIN b USING (k) WHERE k > 1 ORDER BY k;
SELECT count(*) FROM a FULL JOIN b USING (k) WHERE k IS NULL;
SELECT * FROM a NATURAL LEFT JOIN b ORDER BY k;
SELECT * FROM a NATURAL FULL JOIN b ORDER BY k;
SELECT * FROM c JOIN d USING (x, y);
SELECT * FROM c NATURAL JOIN d;
SELECT * FROM c FULL JOIN d USING (x, y) ORDER BY x, y;
SELECT count(*) FROM a NATURAL JOIN c;
SELECT * FROM a JOIN b USING (nosuch);

-- case: three_way_join
CREATE TABLE customers (id int PRIMARY KEY, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, placed date);
CREATE TABLE lines (order_id int, item text, qty int, price numeric, PRIMARY KEY (order_id, item));
INSERT INTO customers VALUES (1, 'ann'), (2, 'bob'), (3, 'cyd');
INSERT INTO orders VALUES (10, 1, '2024-01-05'), (11, 1, '2024-02-01'), (12, 2, '2024-02-03');
INSERT INTO lines VALUES (10, 'pen', 2, 1.50), (10, 'ink', 1, 7.25), (11, 'pad', 3, 2.00), (12, 'pen', 10, 1.40);
SELECT c.name, o.id, l.item, l.qty * l.price AS total FROM customers c JOIN orders o ON o.customer_id = c.id JOIN lines l ON l.order_id = o.id ORDER BY c.name, o.id, l.item;
SELECT c.name, coalesce(sum(l.qty * l.price), 0) AS spent FROM customers c LEFT JOIN orders o ON o.customer_id = c.id LEFT JOIN lines l ON l.order_id = o.id GROUP BY c.name ORDER BY spent DESC, c.name;
SELECT c.name, count(DISTINCT o.id) AS orders, count(l.item) AS lines FROM customers c LEFT JOIN orders o ON o.customer_id = c.id LEFT JOIN lines l ON l.order_id = o.id GROUP BY c.name HAVING count(l.item) > 0 ORDER BY c.name;

-- case: join_on_jsonb_field
CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL);
CREATE TABLE sites (id text PRIMARY KEY, region text);
INSERT INTO events VALUES ('e1', '{"site_id": "s1", "temp": 20}'), ('e2', '{"site_id": "s2", "temp": 25}'), ('e3', '{"site_id": "s1", "temp": 22}');
INSERT INTO sites VALUES ('s1', 'eu'), ('s2', 'us');
SELECT s.region, count(*), max((e.payload->>'temp')::int) FROM events e JOIN sites s ON s.id = e.payload->>'site_id' GROUP BY s.region ORDER BY s.region;

-- case: join_errors
CREATE TABLE a (k int PRIMARY KEY, v text);
CREATE TABLE b (k int PRIMARY KEY, v text);
SELECT k FROM a JOIN b ON a.k = b.k;
SELECT v FROM a, b;
SELECT * FROM a JOIN b ON a.k = b.nope;
SELECT * FROM a JOIN b ON a.k;
SELECT * FROM a JOIN a ON true;
SELECT * FROM a JOIN b USING (nope);

-- case: join_with_larger_tables
CREATE TABLE a (id int PRIMARY KEY, grp int);
CREATE TABLE b (id int PRIMARY KEY, a_id int, w int);
INSERT INTO a SELECT g, g % 5 FROM generate_series(1, 300) AS g;
INSERT INTO b SELECT g, (g * 7) % 300 + 1, g % 3 FROM generate_series(1, 900) AS g;
SELECT a.grp, count(*), sum(b.w) FROM a JOIN b ON b.a_id = a.id GROUP BY a.grp ORDER BY a.grp;
SELECT count(*) FROM a LEFT JOIN b ON b.a_id = a.id WHERE b.id IS NULL;
