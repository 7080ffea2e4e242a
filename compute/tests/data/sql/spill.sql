-- work_mem: the setting as PostgreSQL reads and shows it, and sorts, hash
-- aggregations and hash joins over more rows than 64kB holds, which spill
-- to temporary files and must answer as if they had not. Whole sorted
-- outputs are compared through md5 of their concatenation.

-- case: work_mem_setting (extended)
SHOW work_mem;
SET work_mem = '64kB';
SHOW work_mem;
SET work_mem = 100000;
SHOW work_mem;
SET work_mem = '1.5MB';
SHOW work_mem;
SET work_mem = '1GB';
SHOW work_mem;
SET work_mem = '1TB';
SHOW work_mem;
SET work_mem = '65536B';
SHOW work_mem;
SET work_mem TO DEFAULT;
SHOW work_mem;
SET work_mem = '63kB';
SET work_mem = 10;
SET work_mem = '4mb';
SET work_mem = 'lots';
SET work_mem = '3TB';
SET work_mem = '-1';
SELECT current_setting('work_mem');

-- case: sort_spills
CREATE TABLE ev (id int PRIMARY KEY, site int, tag text, v int);
INSERT INTO ev SELECT g, g % 257, 'tag-' || ((g * 7919) % 1009), (g * 37) % 100 FROM generate_series(1, 4000) g;
SET work_mem = '64kB';
SELECT count(*), md5(string_agg(x, ',')) FROM (SELECT id || ':' || tag || ':' || v AS x FROM ev ORDER BY tag, v DESC, id) t;
SELECT count(*), md5(string_agg(x, ',')) FROM (SELECT id || ':' || v AS x FROM ev WHERE v < 50 ORDER BY v, site DESC, id) t;
SELECT id, tag, v FROM ev ORDER BY tag DESC, v, id LIMIT 5 OFFSET 2000;
SELECT id, upper(tag) FROM ev WHERE site = 3 ORDER BY upper(tag), id;

-- case: aggregate_spills
CREATE TABLE ev (id int PRIMARY KEY, site int, tag text, v int);
INSERT INTO ev SELECT g, g % 257, 'tag-' || ((g * 7919) % 1009), (g * 37) % 100 FROM generate_series(1, 4000) g;
SET work_mem = '64kB';
SELECT count(*), md5(string_agg(x, ',')) FROM (SELECT tag || '=' || count(*) || '/' || sum(v) || '/' || min(id) || '/' || max(id) AS x FROM ev GROUP BY tag ORDER BY tag) t;
SELECT count(*), md5(string_agg(x, ',')) FROM (SELECT (id % 2000) || '=' || count(*) || '/' || avg(v) AS x FROM ev GROUP BY id % 2000 ORDER BY id % 2000) t;
SELECT tag, count(*), sum(v), min(id), string_agg(id::text, ',' ORDER BY id) FROM ev GROUP BY tag ORDER BY count(*) DESC, tag LIMIT 5;
SELECT count(*) FROM (SELECT tag, site FROM ev GROUP BY tag, site) t;
SELECT count(DISTINCT tag), count(*), sum(v) FROM ev;

-- case: hash_join_spills
CREATE TABLE ev (id int PRIMARY KEY, site int, tag text, v int);
CREATE TABLE dims (k int, name text);
INSERT INTO ev SELECT g, g % 257, 'tag-' || ((g * 7919) % 1009), (g * 37) % 100 FROM generate_series(1, 4000) g;
INSERT INTO ev VALUES (4001, NULL, 'none', 0);
INSERT INTO dims SELECT g % 250, 'site-' || g FROM generate_series(1, 2000) g;
INSERT INTO dims SELECT g, 'far-' || g FROM generate_series(1000, 1099) g;
INSERT INTO dims VALUES (NULL, 'nobody');
SET work_mem = '64kB';
SELECT count(*), md5(string_agg(x, ',')) FROM (SELECT e.id || '-' || d.name AS x FROM ev e JOIN dims d ON d.k = e.site ORDER BY e.id, d.name) t;
SELECT count(*), count(d.k), md5(string_agg(x, ',')) FROM (SELECT e.id || '-' || coalesce(d.name, '?') AS x, d.k FROM ev e LEFT JOIN dims d ON d.k = e.site ORDER BY e.id, d.name) t;
SELECT count(*), count(e.id), count(d.k), md5(string_agg(x, ',')) FROM (SELECT coalesce(e.id::text, '?') || '-' || coalesce(d.name, '?') AS x, e.id, d.k FROM ev e FULL JOIN dims d ON d.k = e.site ORDER BY e.id, d.name) t;
SELECT d.name, count(*) FROM ev e JOIN dims d ON d.k = e.site AND e.v > d.k % 90 GROUP BY d.name ORDER BY count(*) DESC, d.name LIMIT 5;
