-- Session state: SET, SHOW, RESET, and the functions that report the session.

-- case: show_defaults (extended)
SHOW search_path;
SHOW application_name;
SHOW client_encoding;
SHOW server_encoding;
SHOW DateStyle;
SHOW TimeZone;
SHOW statement_timeout;
SHOW standard_conforming_strings;
SHOW integer_datetimes;
SHOW IntervalStyle;
SHOW extra_float_digits;
SHOW transaction_isolation;
SHOW default_transaction_isolation;
SHOW transaction_read_only;
SHOW max_identifier_length;
SHOW lc_messages;

-- case: set_and_reset_application_name
SET application_name = 'conformance';
SHOW application_name;
SET application_name TO 'other';
SHOW application_name;
RESET application_name;
SHOW application_name;
SET application_name = DEFAULT;
SHOW application_name;

-- case: set_search_path (extended)
SET search_path = public;
SHOW search_path;
SELECT current_schema();
SET search_path TO "$user", public;
SHOW search_path;
SET search_path = nosuch, public;
SHOW search_path;
SELECT current_schema();
CREATE TABLE t (id int);
SELECT count(*) FROM public.t;
SELECT count(*) FROM t;
RESET search_path;
SHOW search_path;

-- case: set_timezone (extended)
SET TimeZone = 'UTC';
SHOW TimeZone;
SELECT timestamptz '2024-06-01 12:00:00+00';
SET TIME ZONE 'Europe/Berlin';
SHOW TimeZone;
SELECT timestamptz '2024-06-01 12:00:00+00';
SET timezone = '+02:00';
SHOW timezone;
SET TIME ZONE LOCAL;
SHOW TimeZone;
SET TimeZone = 'Nowhere/Atlantis';
RESET TimeZone;
SHOW TimeZone;

-- case: named_time_zones (extended)
SELECT timestamptz '2024-03-10 14:35:12' AT TIME ZONE 'UTC', date '2024-01-01' AT TIME ZONE 'UTC', timezone('Europe/Berlin', timestamp '2024-07-01 12:00');
SELECT date_trunc('day', timestamptz '2024-11-03 12:00', 'America/New_York'), to_char(timestamptz '2024-07-01 12:00', 'HH24:MI TZ OF');
SET TimeZone = 'america/new_york';
SHOW TimeZone;
SELECT date_trunc('day', timestamptz '2024-11-03 12:00'), extract(timezone FROM timestamptz '2024-07-01'), to_char(timestamptz '2024-07-01 12:00', 'HH24:MI TZ OF');
SELECT timestamptz '2024-03-10 02:30', timestamptz '2024-11-03 01:30', timestamptz '2024-07-01 12:00 Europe/Berlin';
SELECT timestamp '2024-07-01 12:00' AT TIME ZONE interval '+05:30', timestamptz '2024-01-15 12:00+00'::timestamp, timestamp '2024-01-15 12:00'::timestamptz;
SELECT timestamp '2024-07-01 12:00' AT TIME ZONE 'Nowhere/Atlantis';
SELECT timestamp '2024-07-01 12:00' AT TIME ZONE interval '1 day';

-- case: set_datestyle
SHOW DateStyle;
SET DateStyle = 'ISO, DMY';
SHOW DateStyle;
SELECT date '01/02/2024';
SET DateStyle = ISO, MDY;
SELECT date '01/02/2024';
SET datestyle TO 'German';
SHOW DateStyle;
SELECT date '2024-02-01', timestamp '2024-02-01 10:11:12';
SET DateStyle = 'Klingon';
RESET DateStyle;
SELECT date '2024-02-01';

-- case: date_and_interval_styles (extended)
SET TimeZone = 'Europe/Berlin';
SET DateStyle = SQL;
SHOW DateStyle;
SELECT date '2024-02-01', timestamp '2024-02-01 10:11:12.5', timestamptz '2024-07-01 10:11:12+00', date '0044-03-15 BC';
SET DateStyle = 'SQL, DMY';
SELECT date '2024-02-01', timestamptz '2024-02-01 10:11:12+00', date '01/02/2024';
SET DateStyle = Postgres;
SHOW DateStyle;
SELECT date '2024-02-01', timestamp '2024-02-01 10:11:12', timestamptz '2024-07-01 10:11:12+00', timestamp '0044-03-15 10:00 BC';
SET DateStyle = 'Postgres, MDY';
SELECT date '2024-02-01', timestamptz '2024-02-01 10:11:12+00';
SET TIME ZONE 5;
SELECT timestamptz '2024-02-01 10:11:12+00';
SET TimeZone = '+02:00';
SELECT timestamptz '2024-02-01 10:11:12+00';
SET DateStyle = 'YMD';
SHOW DateStyle;
SELECT date '24/02/01', date '2024-02-01';
SET DateStyle = 'ISO, SQL';
SET DateStyle = DEFAULT;
SHOW DateStyle;
SET IntervalStyle = sql_standard;
SELECT interval '1 year 2 months', interval '-1 year -2 months', interval '3 days 04:05:06.5', interval '-04:05:06', interval '1 year -2 days', interval '0';
SELECT interval '-1 2:00:00', interval '-1 +2:00:00', interval '-1-2', interval '-1 day 2 hours';
SET IntervalStyle = iso_8601;
SELECT interval '1 year 2 months 3 days 04:05:06.5', interval '-1 day -2 hours', interval '-0.5 seconds', interval '0';
SET IntervalStyle = postgres_verbose;
SELECT interval '1 year 2 months 3 days 04:05:06.5', interval '-1 day -2 hours', interval '1 day -1 second', interval '1 second', interval '0';
SET IntervalStyle = 'nosuch';
SHOW IntervalStyle;

-- case: set_client_encoding
SHOW client_encoding;
SET client_encoding = 'UTF8';
SET client_encoding = 'utf-8';
SHOW client_encoding;
SET NAMES 'UTF8';
SHOW client_encoding;
SET client_encoding = 'NOSUCH';

-- case: set_statement_timeout
SET statement_timeout = '5s';
SHOW statement_timeout;
SET statement_timeout = 1500;
SHOW statement_timeout;
SET statement_timeout = '1min';
SHOW statement_timeout;
SET statement_timeout = 50;
SELECT pg_sleep(1);
SELECT 1;
SET statement_timeout = 'soon';
RESET statement_timeout;
SHOW statement_timeout;
SET statement_timeout = -1;

-- case: pg_sleep_and_timeout (extended)
SELECT pg_sleep(0.01), pg_typeof(pg_sleep(0)), pg_sleep(NULL) IS NULL, pg_sleep(-1);
SET statement_timeout = 100;
SELECT 1 WHERE pg_sleep(0.5) IS NOT NULL;
SHOW statement_timeout;

-- case: set_in_transaction
SET application_name = 'before';
BEGIN;
SET application_name = 'inside';
SHOW application_name;
ROLLBACK;
SHOW application_name;
BEGIN;
SET LOCAL application_name = 'local';
SHOW application_name;
COMMIT;
SHOW application_name;
BEGIN;
SET application_name = 'kept';
COMMIT;
SHOW application_name;

-- case: set_errors
SET nosuch_parameter = 1;
SHOW nosuch_parameter;
RESET nosuch_parameter;
SET extra_float_digits = 'many';
SET transaction_isolation = 'chaos';
SHOW;

-- case: current_setting_and_set_config
SELECT current_setting('application_name'), current_setting('TimeZone'), current_setting('search_path');
SELECT set_config('application_name', 'via_function', false);
SHOW application_name;
SELECT current_setting('nosuch');
SELECT current_setting('nosuch', true);

-- case: set_config_forms (extended)
SELECT set_config('TimeZone', 'utc', false), current_setting('timezone'), set_config('myapp.tenant', '7', false), set_config('DateStyle', 'sql', true);
SHOW DateStyle;
SHOW TimeZone;
SELECT current_setting('myapp.tenant'), set_config('myapp.tenant', NULL, false);
SELECT set_config('server_version', '1', false);
SELECT set_config(NULL, '1', false);
SELECT set_config('nosuch', '1', false);
SELECT set_config('application_name', 'lost', false), 1 / 0;
SHOW application_name;
BEGIN;
SELECT set_config('application_name', 'local', true);
SHOW application_name;
COMMIT;
SHOW application_name;
BEGIN;
SELECT set_config('application_name', 'rolled back', false);
ROLLBACK;
SHOW application_name;

-- case: session_functions (extended)
SELECT current_database();
SELECT current_user, session_user, user;
SELECT current_schema(), current_schema;
SELECT current_catalog;
SELECT version() LIKE 'PostgreSQL 15.%', split_part(version(), ' ', 1);
SELECT current_setting('server_version_num')::int / 10000 AS major;
SELECT current_setting('server_version') LIKE '15.%';
SELECT pg_backend_pid() > 0;
SELECT inet_server_port() IS NULL OR inet_server_port() > 0;

-- case: parameter_status_reports
SET application_name = 'reported';
SET DateStyle = 'ISO, DMY';
SET TimeZone = 'UTC';
SET IntervalStyle = 'iso_8601';
SELECT interval '1 day 2 hours';
SET search_path = public;
SET statement_timeout = 1000;
RESET ALL;
SHOW application_name;

-- case: discard_and_reset_all
SET application_name = 'temp';
SET statement_timeout = 1234;
RESET ALL;
SHOW application_name;
SHOW statement_timeout;
DISCARD ALL;

-- case: discard_forms
DECLARE c CURSOR WITH HOLD FOR SELECT 1;
SET application_name = 'before_discard';
BEGIN;
DISCARD ALL;
ROLLBACK;
DISCARD PLANS;
DISCARD TEMP;
DISCARD SEQUENCES;
DISCARD ALL;
SHOW application_name;
FETCH NEXT FROM c;
