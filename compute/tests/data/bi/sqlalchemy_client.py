"""What SQLAlchemy 2.x, its two PostgreSQL drivers and pandas see of a database.

tests/bi_clients.rs runs this against `sextant dev` and compares its output
with PostgreSQL's recorded output (sqlalchemy.out, written by regen.sh from
the same program run against a real PostgreSQL holding schema.sql).

Usage: sqlalchemy_client.py HOST PORT

Each call's result is printed as a section, `### <driver> <call>` followed by
its value as sorted, indented JSON (values that JSON lacks, such as Decimal,
datetime, UUID and SQLAlchemy types, are printed with repr()). A call that
raises prints `ERROR <exception class>: <first line of its message>` instead,
and the program goes on, so one run shows every difference.
"""

import json
import sys
import warnings

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import MetaData, Table, create_engine, inspect, select, text

TABLES = ["events", "readings", "sites"]
DRIVERS = ["psycopg2", "psycopg"]


def show(value):
    return json.dumps(value, indent=1, sort_keys=True, default=other)


def other(value):
    """What JSON lacks, printed by value (psycopg2 reads bytea as memoryview)."""
    if isinstance(value, memoryview):
        return repr(bytes(value))
    return repr(value)


def section(driver, call, fn):
    print(f"### {driver} {call}")
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - every failure is output to compare
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"ERROR {type(e).__name__}: {message}")
        return
    print(show(value))


def column_info(column):
    """An autoloaded Column, as the attributes ORMs and BI tools read."""
    return {
        "name": column.name,
        "type": repr(column.type),
        "python_type": safe_python_type(column.type),
        "nullable": column.nullable,
        "primary_key": column.primary_key,
        "server_default": (
            str(column.server_default.arg) if column.server_default is not None else None
        ),
        "autoincrement": column.autoincrement,
    }


def safe_python_type(type_):
    try:
        return type_.python_type.__name__
    except NotImplementedError:
        return None


def autoload(engine, name):
    table = Table(name, MetaData(), autoload_with=engine)
    return {
        "columns": [column_info(c) for c in table.columns],
        "primary_key": [c.name for c in table.primary_key.columns],
        "indexes": sorted(
            (
                {
                    "name": i.name,
                    "unique": i.unique,
                    "columns": [c.name for c in i.columns],
                    "expressions": [str(e) for e in i.expressions],
                }
                for i in table.indexes
            ),
            key=lambda i: i["name"],
        ),
        "constraints": sorted(
            (type(c).__name__, c.name, [col.name for col in c.columns]) for c in table.constraints
        ),
    }


def autoload_and_select(engine, name):
    table = Table(name, MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
    return [list(r) for r in rows]


def streamed(engine, query, per):
    """Server-side cursor (stream_results), fetched `per` rows at a time."""
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=per).execute(text(query))
        return [[list(r) for r in part] for part in result.partitions()]


def orm_yield_per(engine):
    """The ORM's yield_per over an autoloaded table: also a server-side cursor."""
    table = Table("events", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        stmt = (
            select(table.c.id, table.c.payload, table.c.ingested_at)
            .order_by(table.c.id)
            .execution_options(yield_per=2)
        )
        return [list(r) for r in conn.execute(stmt)]


def frame(df):
    """A DataFrame as dtypes and records."""
    return {
        "dtypes": {str(k): str(v) for k, v in df.dtypes.items()},
        "records": [{k: cell(v) for k, v in r.items()} for r in df.to_dict("records")],
    }


def cell(value):
    """A DataFrame cell, with pandas' missing-value markers as None."""
    if isinstance(value, (list, dict)):
        return value
    return None if pd.isna(value) else value


def run(driver, host, port):
    url = f"postgresql+{driver}://sextant:sextant@{host}:{port}/sextant"
    engine = create_engine(url)
    insp = inspect(engine)
    s = lambda call, fn: section(driver, call, fn)  # noqa: E731

    s("default_schema_name", lambda: insp.default_schema_name)
    s("get_schema_names", lambda: insp.get_schema_names())
    s("get_table_names", lambda: insp.get_table_names())
    s("get_table_names(public)", lambda: insp.get_table_names(schema="public"))
    s("get_view_names", lambda: insp.get_view_names())
    s("get_sequence_names", lambda: insp.get_sequence_names())
    s("has_table(events)", lambda: insp.has_table("events"))
    s("has_table(nope)", lambda: insp.has_table("nope"))
    s("has_schema(public)", lambda: insp.has_schema("public"))
    for t in TABLES:
        s(f"get_columns({t})", lambda t=t: insp.get_columns(t))
        s(f"get_pk_constraint({t})", lambda t=t: insp.get_pk_constraint(t))
        s(f"get_indexes({t})", lambda t=t: insp.get_indexes(t))
        s(f"get_foreign_keys({t})", lambda t=t: insp.get_foreign_keys(t))
        s(f"get_unique_constraints({t})", lambda t=t: insp.get_unique_constraints(t))
        s(f"get_check_constraints({t})", lambda t=t: insp.get_check_constraints(t))
        s(f"get_table_comment({t})", lambda t=t: insp.get_table_comment(t))
        s(f"autoload({t})", lambda t=t: autoload(engine, t))
        s(f"autoload_select({t})", lambda t=t: autoload_and_select(engine, t))
    s("get_multi_columns", lambda: {k[1]: v for k, v in sorted(insp.get_multi_columns().items())})
    s("get_multi_indexes", lambda: {k[1]: v for k, v in sorted(insp.get_multi_indexes().items())})
    s("metadata.reflect", lambda: sorted(reflect_all(engine)))
    s("stream_results", lambda: streamed(engine, "SELECT id, payload, ingested_at FROM events ORDER BY id", 2))
    s("stream_results(empty)", lambda: streamed(engine, "SELECT id FROM events WHERE id < 0", 3))
    s("yield_per", lambda: orm_yield_per(engine))
    s(
        "pandas.read_sql(query)",
        lambda: frame(pd.read_sql("SELECT * FROM events ORDER BY id", engine)),
    )
    s(
        "pandas.read_sql(params)",
        lambda: frame(
            pd.read_sql(
                text("SELECT id, payload->>'site_id' AS site, temp FROM events WHERE status = :st ORDER BY id"),
                engine,
                params={"st": 200},
            )
        ),
    )
    s("pandas.read_sql_table", lambda: frame(pd.read_sql_table("sites", engine)))
    s(
        "pandas.read_sql(chunksize)",
        lambda: [
            frame(chunk)
            for chunk in pd.read_sql(
                text("SELECT site_id, at, value FROM readings ORDER BY site_id, at"), engine, chunksize=2
            )
        ],
    )
    engine.dispose()


def reflect_all(engine):
    md = MetaData()
    md.reflect(bind=engine)
    return [(name, [c.name for c in t.columns]) for name, t in md.tables.items()]


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    warnings.simplefilter("ignore")
    print(f"# SQLAlchemy {sa.__version__}, pandas {pd.__version__}")
    for driver in DRIVERS:
        run(driver, host, port)


if __name__ == "__main__":
    main()
