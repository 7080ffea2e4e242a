-- COPY FROM STDIN and COPY TO STDOUT in text and CSV formats.

-- case: copy_text_format
CREATE TABLE t (id int PRIMARY KEY, v text, n numeric);
COPY t FROM STDIN;
1	one	1.5
2	\N	2
3	tab\there	-3.25
4	back\\slash	0
\.
SELECT id, v, n FROM t ORDER BY id;
COPY t (id, v) FROM STDIN;
5	five
\.
SELECT count(*) FROM t;

-- case: copy_csv_format
CREATE TABLE t (id int PRIMARY KEY, v text, j jsonb);
COPY t FROM STDIN WITH (FORMAT csv);
1,plain,"{""a"": 1}"
2,"with, comma","[1, 2]"
3,,null
4,"",{}
\.
SELECT id, v, v IS NULL AS v_null, j FROM t ORDER BY id;
COPY t FROM STDIN WITH (FORMAT csv, HEADER true);
id,v,j
5,header skipped,{}
\.
SELECT id, v FROM t WHERE id = 5;

-- case: copy_events
CREATE TABLE events (
    id text PRIMARY KEY,
    payload jsonb NOT NULL,
    position bigint,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
COPY events (id, payload, position) FROM STDIN;
e1	{"site_id": "s1", "temp": 20.5}	1
e2	{"site_id": "s2", "temp": 18}	2
e3	{"site_id": "s1", "temp": 25.25}	3
\.
SELECT id, payload, position, ingested_at IS NOT NULL FROM events ORDER BY id;
SELECT id FROM events WHERE payload->>'site_id' = 's1' ORDER BY id;
SELECT id FROM events WHERE (payload->>'temp')::float > 19 ORDER BY id;

-- case: copy_errors
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
COPY t FROM STDIN;
1	ok
x	bad
\.
COPY t FROM STDIN;
1	ok
1	dup
\.
COPY t FROM STDIN;
1	ok
2
\.
COPY t FROM STDIN;
1	\N
\.
COPY t FROM STDIN;
1	a	extra
\.
COPY nosuch FROM STDIN;
1
\.
COPY t (nope) FROM STDIN;
1
\.
SELECT count(*) FROM t;

-- case: copy_in_transaction
CREATE TABLE t (id int PRIMARY KEY);
BEGIN;
COPY t FROM STDIN;
1
2
\.
SELECT count(*) FROM t;
ROLLBACK;
SELECT count(*) FROM t;
BEGIN;
COPY t FROM STDIN;
1
1
\.
SELECT 1;
ROLLBACK;

-- case: copy_empty
CREATE TABLE t (id int);
COPY t FROM STDIN;
\.
SELECT count(*) FROM t;

-- case: copy_to_stdout
CREATE TABLE t (id int PRIMARY KEY, v text, j jsonb);
INSERT INTO t VALUES (1, 'a', '{"k": 1}'), (2, NULL, '[]'), (3, 'tab	in', 'null');
COPY t TO STDOUT;
COPY t (id, v) TO STDOUT WITH (FORMAT csv);
COPY (SELECT id * 10, v FROM t ORDER BY id DESC) TO STDOUT;
COPY (SELECT id FROM t WHERE false) TO STDOUT;
