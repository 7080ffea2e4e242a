-- jsonb: operators, functions, aggregates and set-returning functions, on
-- literals and on a table of events.

-- case: jsonb_input_and_output (extended)
SELECT '{"b": 1, "a": [1, 2.50, "x", null, true], "a": "dup"}'::jsonb;
SELECT '  [ 1 , { "k" : "v" } ]  '::jsonb, '"str"'::jsonb, '12.0'::jsonb, 'null'::jsonb, 'true'::jsonb;
SELECT '{"esc": "a\"b\\c\nd\u00e9"}'::jsonb;
SELECT '{"n": 1e3, "m": -0.0, "big": 123456789012345678901234567890}'::jsonb;
SELECT '{"a":1}'::json, '{"a":1}'::json::jsonb;

-- case: jsonb_arrow_operators (extended)
SELECT '{"a": {"b": [10, 20, {"c": "deep"}]}}'::jsonb -> 'a';
SELECT '{"a": {"b": [10, 20, {"c": "deep"}]}}'::jsonb -> 'a' -> 'b' -> 2 ->> 'c';
SELECT '{"a": 1, "s": "text", "n": null}'::jsonb ->> 'a', '{"a": 1, "s": "text", "n": null}'::jsonb ->> 's', '{"a": 1, "s": "text", "n": null}'::jsonb ->> 'n';
SELECT '{"a": 1}'::jsonb -> 'missing', '[1, 2, 3]'::jsonb -> 1, '[1, 2, 3]'::jsonb -> -1, '[1, 2, 3]'::jsonb -> 5, '[1, 2, 3]'::jsonb ->> 0;
SELECT '{"a": {"b": [10, 20]}}'::jsonb #> '{a,b,1}', '{"a": {"b": [10, 20]}}'::jsonb #>> '{a,b}', '{"a": {"b": [10, 20]}}'::jsonb #> '{a,x}';
SELECT '"scalar"'::jsonb -> 'a', '{"a": [1]}'::jsonb #>> '{}';
SELECT pg_typeof('{"a": 1}'::jsonb -> 'a'), pg_typeof('{"a": 1}'::jsonb ->> 'a');

-- case: jsonb_arrow_chains_over_rows (extended)
CREATE TABLE ev (id int PRIMARY KEY, doc jsonb, j json);
INSERT INTO ev VALUES (1, '{"payload": {"after": {"id": 7, "tags": ["x", "y"]}, "op": "c"}}', '{"a": {"b": 1}}'), (2, '{"payload": {"after": null, "op": "d"}}', '{"a": [1]}'), (3, '[{"k": [1, 2]}, 5]', NULL), (4, NULL, '{"a": {"b": "s"}}');
SELECT id, doc->'payload'->'after'->>'id', doc->'payload'->'after'->'tags'->> -1, doc->'payload'->>'op', doc->0->'k'->>1, doc->'payload'->'after'->'id', doc->'payload'->'missing'->>'x', j->'a'->>'b', j->'a'->'b' FROM ev ORDER BY id;
SELECT doc->'payload'->'after'->>'id' AS id, count(*) FROM ev GROUP BY 1 ORDER BY 1;
SELECT id FROM ev WHERE doc->'payload'->'after'->'tags'->>0 = 'x';
SELECT doc->'payload'->'after'->'tags'->>-1, 2*-3, 4>=-5, 6<>-6 FROM ev WHERE id = 1;

-- case: jsonb_containment_and_existence (extended)
SELECT '{"a": 1, "b": {"c": [1, 2]}}'::jsonb @> '{"b": {"c": [2]}}', '{"a": 1}'::jsonb @> '{"a": 2}', '[1, 2, 3]'::jsonb @> '[3, 1]';
SELECT '{"a": 1}'::jsonb <@ '{"a": 1, "b": 2}', '[1]'::jsonb <@ '[1, 2]', '1'::jsonb <@ '[1]';
SELECT '{"a": 1, "b": 2}'::jsonb ? 'a', '{"a": 1}'::jsonb ? 'z', '["x", "y"]'::jsonb ? 'x', '{"a": {"q": 1}}'::jsonb ? 'q';
SELECT '{"a": 1, "b": 2}'::jsonb ?| array['z', 'b'], '{"a": 1, "b": 2}'::jsonb ?& array['a', 'b'], '{"a": 1, "b": 2}'::jsonb ?& array['a', 'z'];

-- case: jsonb_concat_and_delete (extended)
SELECT '{"a": 1, "b": 2}'::jsonb || '{"b": 3, "c": 4}', '[1, 2]'::jsonb || '[3]', '[1]'::jsonb || '{"k": 1}', '{"a": 1}'::jsonb || '5';
SELECT '{"a": 1, "b": 2}'::jsonb - 'a', '["x", "y", "x"]'::jsonb - 'x', '[1, 2, 3]'::jsonb - 0, '[1, 2, 3]'::jsonb - -1;
SELECT '{"a": 1, "b": 2, "c": 3}'::jsonb - array['a', 'c'], '{"a": {"b": 1, "c": 2}}'::jsonb #- '{a,b}';
SELECT '{"a": 1}'::jsonb - 0;

-- case: jsonb_set_and_builders (extended)
SELECT jsonb_set('{"a": {"b": 1}}', '{a,b}', '2'), jsonb_set('{"a": 1}', '{new}', '"v"'), jsonb_set('{"a": 1}', '{new}', '"v"', false);
SELECT jsonb_set('[1, 2, 3]', '{1}', '"two"'), jsonb_set('{"a": [1]}', '{a,5}', '9'), jsonb_set('{"a": 1}', '{x,y}', '1');
SELECT jsonb_insert('{"a": [1, 3]}', '{a,1}', '2'), jsonb_strip_nulls('{"a": null, "b": {"c": null, "d": 1}}');
SELECT jsonb_build_object('a', 1, 'b', 'text', 'c', NULL, 'd', true, 'e', 1.5);
SELECT jsonb_build_object('n', 1, 'n', 2), jsonb_build_object(), jsonb_build_array(1, 'x', NULL, '{"k": 1}'::jsonb);
SELECT jsonb_build_object('a');
SELECT jsonb_build_object(NULL, 1);
SELECT to_jsonb(1), to_jsonb('text'::text), to_jsonb(1.50), to_jsonb(true), to_jsonb(NULL::text), to_jsonb(array[1, 2]);
SELECT to_jsonb(timestamptz '2024-01-02 03:04:05+00'), to_jsonb(date '2024-01-02'), to_jsonb('{"x": 1}'::jsonb);
SELECT jsonb_pretty('{"a": [1, {"b": 2}]}');

-- case: jsonb_inspection (extended)
SELECT jsonb_typeof('{}'), jsonb_typeof('[]'), jsonb_typeof('1.5'), jsonb_typeof('"s"'), jsonb_typeof('true'), jsonb_typeof('null'), jsonb_typeof(NULL);
SELECT jsonb_array_length('[1, [2, 3], 4]'), jsonb_array_length('[]');
SELECT jsonb_array_length('{"a": 1}');
SELECT jsonb_array_length('5');

-- case: jsonb_set_returning_functions (extended)
SELECT jsonb_array_elements('[1, "two", {"three": 3}, null]');
SELECT * FROM jsonb_array_elements_text('[1, "two", {"three": 3}, null]');
SELECT jsonb_object_keys('{"b": 1, "a": 2, "aa": 3}');
SELECT * FROM jsonb_each('{"b": 1, "a": "x", "c": null}');
SELECT key, value FROM jsonb_each_text('{"b": 1, "a": "x", "c": null}') ORDER BY key;
SELECT k FROM jsonb_object_keys('{"x": 1, "y": 2}') AS k ORDER BY k DESC;
SELECT value FROM jsonb_array_elements('[3, 1, 2]') ORDER BY value;
SELECT * FROM jsonb_array_elements('{"a": 1}');
SELECT * FROM jsonb_each('[1]');
SELECT * FROM jsonb_object_keys('"s"');

-- case: jsonb_comparison_and_casts
SELECT '{"a": 1, "b": 2}'::jsonb = '{"b": 2, "a": 1}', '[1, 2]'::jsonb = '[2, 1]', '1.0'::jsonb = '1', '{"a": 1}'::jsonb <> '{"a": 1.0}';
SELECT '1'::jsonb < '2'::jsonb, '"a"'::jsonb < '1'::jsonb, 'null'::jsonb < 'true'::jsonb, '[]'::jsonb > '{}'::jsonb;
SELECT ('{"n": 42}'::jsonb -> 'n')::int, ('{"n": 1.5}'::jsonb -> 'n')::float8, ('{"b": true}'::jsonb -> 'b')::boolean, ('{"n": "7"}'::jsonb ->> 'n')::int;
SELECT ('{"s": "x"}'::jsonb -> 's')::int;
SELECT '{"a": 1}'::jsonb::text, '[1,2]'::text::jsonb, '{"a": 1}'::jsonb::json;

-- case: jsonb_aggregates (extended)
CREATE TABLE t (id int PRIMARY KEY, grp text, v jsonb);
INSERT INTO t VALUES (1, 'a', '{"x": 1}'), (2, 'a', '[1, 2]'), (3, 'b', '"s"'), (4, 'b', NULL);
SELECT jsonb_agg(v ORDER BY id) FROM t;
SELECT grp, jsonb_agg(id ORDER BY id DESC) FROM t GROUP BY grp ORDER BY grp;
SELECT jsonb_object_agg(grp || id, v ORDER BY id) FROM t;
SELECT jsonb_object_agg(grp, id ORDER BY id) FROM t;
SELECT jsonb_agg(x) FROM (SELECT id AS x FROM t WHERE false) s;
SELECT jsonb_agg(t ORDER BY id) FROM t WHERE id < 3;
SELECT jsonb_object_agg(v, id) FROM t;

-- case: jsonb_events_table (extended)
CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL, position bigint);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
INSERT INTO events VALUES
    ('e1', '{"site_id": "s1", "temp": 20.5, "tags": ["a", "b"], "meta": {"ok": true}}', 1),
    ('e2', '{"site_id": "s2", "temp": 18, "tags": ["b"], "meta": {"ok": false}}', 2),
    ('e3', '{"site_id": "s1", "temp": 25.25, "tags": [], "meta": {}}', 3),
    ('e4', '{"site_id": "s3", "tags": ["c"]}', 4);
SELECT id, payload->>'site_id' AS site, (payload->>'temp')::float AS temp FROM events ORDER BY id;
SELECT id FROM events WHERE payload @> '{"site_id": "s1"}' ORDER BY id;
SELECT id FROM events WHERE payload->'tags' ? 'b' ORDER BY id;
SELECT id FROM events WHERE payload ? 'temp' AND (payload->>'temp')::float BETWEEN 19 AND 30 ORDER BY id;
SELECT id FROM events WHERE (payload #>> '{meta,ok}')::boolean ORDER BY id;
SELECT payload->>'site_id' AS site, count(*), avg((payload->>'temp')::float) FROM events GROUP BY payload->>'site_id' ORDER BY site;
SELECT id, jsonb_array_length(payload->'tags') FROM events ORDER BY id;
SELECT id, tag FROM events, jsonb_array_elements_text(payload->'tags') AS tag ORDER BY id, tag;
UPDATE events SET payload = jsonb_set(payload, '{temp}', to_jsonb(0)) WHERE id = 'e4' RETURNING payload;
UPDATE events SET payload = payload || '{"seen": true}' WHERE payload->>'site_id' = 's1';
UPDATE events SET payload = payload - 'tags' WHERE id = 'e2';
SELECT id, payload FROM events ORDER BY id;
SELECT jsonb_object_agg(id, payload->'temp' ORDER BY id) FROM events;
SELECT DISTINCT jsonb_object_keys(payload) AS k FROM events ORDER BY k;

-- case: jsonb_errors
SELECT '{"a": 1}'::jsonb -> 1 -> 'x', '{"a": 1}'::jsonb @> 'x';
SELECT '{"a" 1}'::jsonb;
SELECT '[1, 2'::jsonb;
SELECT jsonb_set('{"a": 1}', '{a}', NULL);
SELECT jsonb_set('5', '{a}', '1');
SELECT '{"a": 1}'::jsonb ->> NULL;
SELECT jsonb_typeof('x');

-- case: field_equals_text (extended)
CREATE TABLE docs (id int PRIMARY KEY, doc jsonb);
INSERT INTO docs VALUES (1, '{"s": "error", "n": 1.50, "b": true, "z": null, "o": {"a": 1}, "a": [1, 2], "e": "a\"b\u00e9"}'), (2, '{"s": "ok", "n": 2, "b": false}'), (3, NULL), (4, '[1, 2]'), (5, '"error"');
SELECT id, doc->>'s' = 'error' AS s, doc->>'s' <> 'error' AS ns, doc->>'n' = '1.50' AS n, doc->>'n' = '1.5' AS n2, doc->>'b' = 'true' AS b, doc->>'z' = 'null' AS z, doc->>'missing' = 'x' AS m FROM docs ORDER BY id;
SELECT id, doc->>'o' = '{"a": 1}' AS o, doc->>'a' = '[1, 2]' AS a, doc->>'e' = 'a"bé' AS e, doc->>'e' <> 'a"bé' AS ne FROM docs ORDER BY id;
SELECT id FROM docs WHERE doc->>'s' = 'error' ORDER BY id;
SELECT id FROM docs WHERE doc->>'s' != 'error' ORDER BY id;
SELECT count(*) FROM docs WHERE NOT (doc->>'b' = 'false');
