-- Output column names: what PostgreSQL calls an unaliased expression.

-- case: names_of_expressions (extended)
CREATE TABLE t (id int PRIMARY KEY, v text, payload jsonb, at timestamptz);
INSERT INTO t VALUES (1, 'a', '{"k": "x"}', '2024-01-01 00:00:00+00');
SELECT count(*) FROM t;
SELECT count(id), count(DISTINCT v), sum(id), avg(id), min(v), max(v) FROM t;
SELECT 1, 1 + 1, 'x', id + 1, -id, NOT true FROM t;
SELECT id::text, CAST(id AS bigint), v::varchar, payload::text FROM t;
SELECT upper(v), lower(v), length(v), coalesce(v, ''), nullif(v, ''), abs(id) FROM t;
SELECT date_trunc('day', at), extract(year FROM at), date_part('month', at), now() IS NOT NULL FROM t;
SELECT payload -> 'k', payload ->> 'k', payload #> '{k}', payload @> '{}' FROM t;
SELECT jsonb_build_object('a', 1), jsonb_agg(id), jsonb_typeof(payload), to_jsonb(count(*)) FROM t GROUP BY payload;
SELECT CASE WHEN id = 1 THEN 'one' END, CASE id WHEN 1 THEN 'one' ELSE 'other' END FROM t;
SELECT id IS NULL, id IN (1, 2), id BETWEEN 0 AND 5, v LIKE 'a%' FROM t;
SELECT string_agg(v, ','), bool_and(true), array_agg(id) FROM t;
SELECT (SELECT 1), EXISTS (SELECT 1) FROM t;
SELECT true, NULL, 1.5, 'text'::text, '2024-01-01'::date;
SELECT t.id, t.v AS "Quoted Alias", id AS plain_alias, v "NoAs" FROM t;
SELECT * FROM t;
SELECT t.* FROM t;
SELECT current_user, current_date IS NOT NULL, current_timestamp IS NOT NULL;
SELECT greatest(1, 2), least(1, 2), row(1, 2);
SELECT generate_series(1, 1);
SELECT gen_random_uuid() IS NOT NULL;
SELECT count(*) AS "count(*)", sum(id) AS total FROM t;

-- case: names_in_returning
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a') RETURNING id, v, id * 2, upper(v), 'lit';
UPDATE t SET v = 'b' RETURNING id AS key, v || '!';
DELETE FROM t RETURNING *;

-- case: names_of_grouped_and_ordered
CREATE TABLE t (g text, n int);
INSERT INTO t VALUES ('a', 1), ('a', 2), ('b', 3);
SELECT g, count(*), sum(n) AS total, max(n) - min(n) FROM t GROUP BY g ORDER BY g;
SELECT DISTINCT g FROM t ORDER BY g;
SELECT g AS group_name FROM t GROUP BY group_name ORDER BY group_name;
