//! The catalog relations and functions over a catalog built in memory: the
//! reference CDC table of `compute/tests/data/psql/schema.sql`.
//! `compute/tests/pg_catalog_pg.rs` compares many more rows with what
//! PostgreSQL 15 shows for the same schema.

use std::collections::BTreeMap;

use sextant_storage::types::PageId;

use super::*;
use crate::catalog::{ColumnDef, IndexDef, IndexKey, TableDef};

fn column(name: &str, ty: DataType, not_null: bool, default: Option<&str>) -> ColumnDef {
    ColumnDef {
        name: name.to_owned(),
        type_oid: ty.oid().0,
        type_mod: ty.typmod(),
        not_null,
        default: default.map(str::to_owned),
        missing: None,
    }
}

/// `events(id text primary key, payload jsonb not null, position bigint,
/// ingested_at timestamptz not null default now())` with the indexes of
/// the reference schema, and a table without a primary key.
fn catalog() -> Catalog {
    let index = |id, name: &str, unique, keys: Vec<IndexKey>| IndexDef {
        id,
        name: name.to_owned(),
        root: PageId(10 + id),
        unique,
        keys,
        constraint: false,
    };
    let events = TableDef {
        stored: None,
        id: 1,
        name: "events".to_owned(),
        columns: vec![
            column("id", DataType::Text, true, None),
            column("payload", DataType::Jsonb, true, None),
            column("position", DataType::Int8, false, None),
            column("ingested_at", DataType::TimestampTz, true, Some("now()")),
        ],
        primary_key: vec![0],
        root: PageId(2),
        indexes: vec![
            index(
                3,
                "events_site",
                false,
                vec![IndexKey::Expr("payload ->> 'site_id'".into())],
            ),
            index(
                4,
                "events_temp",
                false,
                vec![IndexKey::Expr("(payload ->> 'temp')::FLOAT".into())],
            ),
            index(5, "events_position", true, vec![IndexKey::Column(2)]),
        ],
    };
    let notes = TableDef {
        stored: None,
        id: 6,
        name: "notes".to_owned(),
        columns: vec![column("body", DataType::Text, false, Some("NULL"))],
        primary_key: vec![],
        root: PageId(7),
        indexes: vec![],
    };
    Catalog::from_tables([events, notes])
}

fn settings() -> BTreeMap<String, String> {
    [
        ("search_path", "\"$user\", public"),
        ("timezone", "UTC"),
        ("application_name", "psql"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn view<'a>(catalog: &'a Catalog, settings: &'a BTreeMap<String, String>) -> CatalogView<'a> {
    CatalogView {
        catalog,
        database: "sextant",
        user: "sextant",
        settings,
        pending_settings: None,
        backend_pid: 42,
        in_recovery: false,
    }
}

/// Every row of `schema.name` as text (NULL as `<null>`), `reg*` values by
/// name.
fn rows(view: &CatalogView<'_>, schema: &str, name: &str) -> Vec<BTreeMap<&'static str, String>> {
    let table = lookup(Some(schema), name).unwrap_or_else(|| panic!("{schema}.{name}"));
    let ctx = TextContext::default();
    (table.rows)(view)
        .expect("rows")
        .into_iter()
        .map(|row| {
            table
                .columns
                .iter()
                .zip(row)
                .map(|((col, ty), d)| {
                    let text = if d.is_null() {
                        "<null>".to_owned()
                    } else {
                        format_value(&d, ty, &ctx, view)
                    };
                    (*col, text)
                })
                .collect()
        })
        .collect()
}

fn one<'r>(
    rows: &'r [BTreeMap<&'static str, String>],
    key: &str,
    value: &str,
) -> &'r BTreeMap<&'static str, String> {
    let found: Vec<_> = rows.iter().filter(|r| r[key] == value).collect();
    assert_eq!(found.len(), 1, "{key} = {value}: {found:?}");
    found[0]
}

fn call(view: &CatalogView<'_>, name: &str, args: &[(DataType, Datum)]) -> Datum {
    let types: Vec<DataType> = args.iter().map(|a| a.0).collect();
    let r = resolve_function(name, &types, &vec![false; args.len()])
        .unwrap_or_else(|| panic!("{name}{types:?} resolves"));
    let values: Vec<Datum> = args.iter().map(|a| a.1.clone()).collect();
    call_function(r.func, &values, view).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn text(s: &str) -> Datum {
    Datum::Text(s.to_owned())
}

#[test]
fn lookup_finds_pg_catalog_unqualified_and_information_schema_qualified() {
    assert!(lookup(None, "pg_class").is_some());
    assert!(lookup(Some("pg_catalog"), "pg_class").is_some());
    assert!(lookup(None, "columns").is_none());
    assert!(lookup(Some("information_schema"), "columns").is_some());
    assert!(lookup(Some("public"), "pg_class").is_none());
    assert!(lookup(None, "no_such").is_none());
}

#[test]
fn every_relation_has_rows_of_its_columns_types() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    for spec in specs() {
        let rows = (spec.rows)(&view).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        for row in rows {
            assert_eq!(row.len(), spec.columns.len(), "{}: {row:?}", spec.name);
            for (d, (col, ty)) in row.iter().zip(spec.columns) {
                assert!(
                    d.is_null() || d.data_type() == Some(ty.value_type()),
                    "{}.{col} is {ty:?} but holds {d:?}",
                    spec.name
                );
            }
        }
        let mut names: Vec<&str> = spec.columns.iter().map(|c| c.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            spec.columns.len(),
            "{} repeats a column",
            spec.name
        );
    }
    let mut oids: Vec<u32> = specs().map(|s| s.oid).collect();
    oids.sort_unstable();
    oids.dedup();
    assert_eq!(
        oids.len(),
        specs().count(),
        "catalog relation OIDs are distinct"
    );
}

#[test]
fn oids_are_distinct_and_stable() {
    assert_eq!(object_oid(0), 16384);
    assert_eq!(object_oid(1), 16386);
    assert_eq!(pkey_oid(1), 16387);
    assert_eq!(object_of(16387), Some((1, true)));
    assert_eq!(object_of(16386), Some((1, false)));
    assert_eq!(object_of(100), None);
    assert_eq!(pkey_name("events"), "events_pkey");
    assert_eq!(
        pkey_name(&"x".repeat(63)),
        format!("{}_pkey", "x".repeat(58))
    );
}

#[test]
fn pg_class_lists_tables_primary_keys_and_indexes() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let rows = rows(&view, "pg_catalog", "pg_class");
    let events = one(&rows, "relname", "events");
    assert_eq!(events["oid"], "16386");
    assert_eq!(events["relkind"], "r");
    assert_eq!(events["relnamespace"], "2200");
    assert_eq!(events["relnatts"], "4");
    assert_eq!(events["relhasindex"], "t");
    assert_eq!(events["relam"], "2");
    assert_eq!(events["reltuples"], "-1");
    assert_eq!(events["relreplident"], "d");
    let pkey = one(&rows, "relname", "events_pkey");
    assert_eq!(
        (
            pkey["oid"].as_str(),
            pkey["relkind"].as_str(),
            pkey["relam"].as_str()
        ),
        ("16387", "i", "403")
    );
    assert_eq!(one(&rows, "relname", "events_site")["relnatts"], "1");
    assert_eq!(one(&rows, "relname", "notes")["relhasindex"], "f");
    assert!(
        !rows.iter().any(|r| r["relname"] == "notes_pkey"),
        "no primary key, no index"
    );
    let catalog_table = one(&rows, "relname", "pg_class");
    assert_eq!(
        (
            catalog_table["oid"].as_str(),
            catalog_table["relnamespace"].as_str()
        ),
        ("1259", "11")
    );
    assert_eq!(one(&rows, "relname", "pg_roles")["relkind"], "v");
}

#[test]
fn pg_attribute_describes_columns_and_index_keys() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let rows = rows(&view, "pg_catalog", "pg_attribute");
    let of = |rel: u32| -> Vec<&BTreeMap<&'static str, String>> {
        rows.iter()
            .filter(|r| r["attrelid"] == rel.to_string())
            .collect()
    };
    let events = of(16386);
    let summary: Vec<String> = events
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {}",
                r["attnum"],
                r["attname"],
                r["atttypid"],
                r["attlen"],
                r["attnotnull"],
                r["atthasdef"]
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "1 id 25 -1 t f",
            "2 payload 3802 -1 t f",
            "3 position 20 8 f f",
            "4 ingested_at 1184 8 t t",
        ]
    );
    assert_eq!(events[0]["attcollation"], "100");
    assert_eq!(events[0]["attstorage"], "x");
    assert_eq!(events[2]["attstorage"], "p");
    assert_eq!(events[2]["attalign"], "d");
    assert_eq!(events[2]["attidentity"], "");
    let key = |oid: u32| -> String {
        of(oid)
            .iter()
            .map(|r| format!("{}:{}", r["attname"], r["atttypid"]))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(key(16387), "id:25");
    assert_eq!(key(object_oid(3)), "expr:25");
    assert_eq!(key(object_oid(4)), "float8:701");
    assert_eq!(key(object_oid(5)), "position:20");
    // A NULL default is not stored, as in PostgreSQL.
    assert_eq!(of(object_oid(6))[0]["atthasdef"], "f");
}

#[test]
fn pg_index_and_pg_constraint_describe_keys() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let rows = rows(&view, "pg_catalog", "pg_index");
    let pkey = one(&rows, "indexrelid", "16387");
    assert_eq!(
        (
            pkey["indkey"].as_str(),
            pkey["indisprimary"].as_str(),
            pkey["indisunique"].as_str()
        ),
        ("1", "t", "t")
    );
    assert_eq!(pkey["indclass"], "3126");
    assert_eq!(pkey["indcollation"], "100");
    assert_eq!(pkey["indexprs"], "<null>");
    let site = one(&rows, "indexrelid", &object_oid(3).to_string());
    assert_eq!(site["indkey"], "0");
    assert_eq!(site["indexprs"], "payload ->> 'site_id'");
    assert_eq!(site["indisunique"], "f");
    let position = one(&rows, "indexrelid", &object_oid(5).to_string());
    assert_eq!(
        (
            position["indkey"].as_str(),
            position["indisunique"].as_str()
        ),
        ("3", "t")
    );

    let constraints = rows_of(&view, "pg_constraint");
    assert_eq!(constraints.len(), 1, "unique indexes are not constraints");
    let c = &constraints[0];
    assert_eq!(
        (
            c["conname"].as_str(),
            c["contype"].as_str(),
            c["conkey"].as_str(),
            c["conindid"].as_str()
        ),
        ("events_pkey", "p", "{1}", "16387")
    );
    assert_eq!(c["confupdtype"], " ");
}

fn rows_of(view: &CatalogView<'_>, name: &str) -> Vec<BTreeMap<&'static str, String>> {
    rows(view, "pg_catalog", name)
}

#[test]
fn deparse_functions_print_as_postgres() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let indexdef = |oid: u32, pretty: bool| {
        let args = [
            (DataType::Oid, Datum::Oid(oid)),
            (DataType::Int4, Datum::Int4(0)),
            (DataType::Bool, Datum::Bool(pretty)),
        ];
        call(&view, "pg_get_indexdef", &args)
    };
    assert_eq!(
        call(&view, "pg_get_indexdef", &[(DataType::Oid, Datum::Oid(object_oid(3)))]),
        text("CREATE INDEX events_site ON public.events USING btree (((payload ->> 'site_id'::text)))")
    );
    assert_eq!(
        indexdef(object_oid(4), false),
        text("CREATE INDEX events_temp ON public.events USING btree ((((payload ->> 'temp'::text))::double precision))")
    );
    assert_eq!(
        indexdef(object_oid(4), true),
        text("CREATE INDEX events_temp ON events USING btree (((payload ->> 'temp'::text)::double precision))")
    );
    assert_eq!(
        indexdef(16387, true),
        text("CREATE UNIQUE INDEX events_pkey ON events USING btree (id)")
    );
    assert_eq!(
        indexdef(object_oid(5), false),
        text("CREATE UNIQUE INDEX events_position ON public.events USING btree (\"position\")")
    );
    assert_eq!(indexdef(16386, false), Datum::Null, "a table is no index");
    assert_eq!(
        call(
            &view,
            "pg_get_constraintdef",
            &[(DataType::Oid, Datum::Oid(16387))]
        ),
        text("PRIMARY KEY (id)")
    );
    let attrdef = rows_of(&view, "pg_attrdef");
    assert_eq!(attrdef.len(), 1);
    let get_expr = |pretty: bool| {
        call(
            &view,
            "pg_get_expr",
            &[
                (DataType::Text, text(&attrdef[0]["adbin"])),
                (DataType::Oid, Datum::Oid(16386)),
                (DataType::Bool, Datum::Bool(pretty)),
            ],
        )
    };
    assert_eq!(get_expr(false), text("now()"));
    assert_eq!(get_expr(true), text("now()"));
    assert_eq!(
        call(
            &view,
            "pg_get_expr",
            &[
                (DataType::Text, text("payload ->> 'site_id', position + 1")),
                (DataType::Oid, Datum::Oid(16386))
            ]
        ),
        text("(payload ->> 'site_id'::text), (\"position\" + 1)")
    );
    assert_eq!(
        call(
            &view,
            "pg_get_expr",
            &[
                (DataType::Text, text("now()")),
                (DataType::Oid, Datum::Oid(1))
            ]
        ),
        Datum::Null,
        "no such relation"
    );
}

#[test]
fn reg_types_read_and_print_names() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let read = |ty: DataType, s: &str| reg_in(ty, s, &view);
    assert_eq!(read(DataType::RegClass, "events"), Ok(Datum::Oid(16386)));
    assert_eq!(
        read(DataType::RegClass, "public.events"),
        Ok(Datum::Oid(16386))
    );
    assert_eq!(
        read(DataType::RegClass, "\"events\""),
        Ok(Datum::Oid(16386))
    );
    assert_eq!(read(DataType::RegClass, "EVENTS"), Ok(Datum::Oid(16386)));
    assert_eq!(
        read(DataType::RegClass, "sextant.public.events"),
        Ok(Datum::Oid(16386))
    );
    assert_eq!(read(DataType::RegClass, "pg_class"), Ok(Datum::Oid(1259)));
    assert_eq!(
        read(DataType::RegClass, "information_schema.tables"),
        Ok(Datum::Oid(13425))
    );
    assert_eq!(read(DataType::RegClass, "16386"), Ok(Datum::Oid(16386)));
    assert_eq!(read(DataType::RegClass, "-"), Ok(Datum::Oid(0)));
    let missing = read(DataType::RegClass, "nosuch").expect_err("no such table");
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (code::UNDEFINED_TABLE, "relation \"nosuch\" does not exist")
    );
    assert_eq!(
        read(DataType::RegClass, "tables").map_err(|e| e.code),
        Err(code::UNDEFINED_TABLE)
    );
    assert_eq!(
        read(DataType::RegClass, "nosuch.events").map_err(|e| e.code),
        Err(code::INVALID_SCHEMA_NAME)
    );
    assert_eq!(
        read(DataType::RegClass, "a.b.c.d").map_err(|e| e.code),
        Err(code::SYNTAX_ERROR)
    );
    assert_eq!(
        read(DataType::RegClass, "other.public.events").map_err(|e| e.code),
        Err(code::FEATURE_NOT_SUPPORTED)
    );
    assert_eq!(
        read(DataType::RegClass, "\"unterminated").map_err(|e| e.code),
        Err(code::INVALID_NAME)
    );

    assert_eq!(read(DataType::RegType, "jsonb"), Ok(Datum::Oid(3802)));
    assert_eq!(read(DataType::RegType, "integer[]"), Ok(Datum::Oid(1007)));
    assert_eq!(
        read(DataType::RegType, "character varying(10)"),
        Ok(Datum::Oid(1043))
    );
    assert_eq!(
        read(DataType::RegType, "pg_catalog.int4"),
        Ok(Datum::Oid(23))
    );
    assert_eq!(read(DataType::RegType, "regclass[]"), Ok(Datum::Oid(2210)));
    let e = read(DataType::RegType, "nosuch").expect_err("no such type");
    assert_eq!(
        (e.code, e.message.as_str()),
        (code::UNDEFINED_OBJECT, "type \"nosuch\" does not exist")
    );
    assert_eq!(read(DataType::RegProc, "int4in"), Ok(Datum::Oid(42)));
    assert_eq!(
        read(DataType::RegProc, "nosuch").map_err(|e| e.code),
        Err(code::UNDEFINED_FUNCTION)
    );
    assert_eq!(read(DataType::RegNamespace, "public"), Ok(Datum::Oid(2200)));
    assert_eq!(
        read(DataType::RegNamespace, "nosuch").map_err(|e| e.code),
        Err(code::INVALID_SCHEMA_NAME)
    );
    assert_eq!(read(DataType::RegRole, "sextant"), Ok(Datum::Oid(10)));
    assert_eq!(read(DataType::RegRole, "pg_monitor"), Ok(Datum::Oid(3373)));

    let out = |ty: DataType, oid: u32| reg_out(ty, oid, &view);
    assert_eq!(out(DataType::RegClass, 16386), "events");
    assert_eq!(out(DataType::RegClass, 1259), "pg_class");
    assert_eq!(out(DataType::RegClass, 13425), "information_schema.tables");
    assert_eq!(out(DataType::RegClass, 0), "-");
    assert_eq!(out(DataType::RegClass, 99999), "99999");
    assert_eq!(out(DataType::RegType, 1184), "timestamp with time zone");
    assert_eq!(out(DataType::RegType, 1002), "\"char\"[]");
    assert_eq!(out(DataType::RegProc, 42), "int4in");
    assert_eq!(out(DataType::RegNamespace, 13207), "information_schema");
    assert_eq!(out(DataType::RegRole, 10), "sextant");

    // With public off the path, its tables print qualified.
    let mut other = settings.clone();
    other.insert("search_path".into(), "pg_catalog".into());
    let narrow = CatalogView {
        settings: &other,
        ..view
    };
    assert_eq!(reg_out(DataType::RegClass, 16386, &narrow), "public.events");
    assert_eq!(
        call(
            &narrow,
            "pg_table_is_visible",
            &[(DataType::Oid, Datum::Oid(16386))]
        ),
        Datum::Bool(false)
    );
}

#[test]
fn casts_route_reg_types_through_the_catalog() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let ctx = TextContext::default();
    let c = |d: Datum, from: DataType, to: DataType| cast(d, &from, &to, false, &ctx, &view);
    assert_eq!(
        c(Datum::Oid(16386), DataType::RegClass, DataType::Text),
        Ok(text("events"))
    );
    assert_eq!(
        c(text("events"), DataType::Text, DataType::RegClass),
        Ok(Datum::Oid(16386))
    );
    // text_regclass reads digits as a name; regclassin as an OID.
    assert_eq!(
        c(text("16386"), DataType::Text, DataType::RegClass).map_err(|e| e.code),
        Err(code::UNDEFINED_TABLE)
    );
    assert_eq!(
        c(text("16386"), DataType::Name, DataType::RegClass),
        Ok(Datum::Oid(16386))
    );
    assert_eq!(
        c(Datum::Oid(1184), DataType::Oid, DataType::RegType),
        Ok(Datum::Oid(1184))
    );
    assert_eq!(
        c(
            Datum::Oid(23),
            DataType::RegType,
            DataType::Varchar { max_chars: Some(3) }
        ),
        Ok(text("int"))
    );
    assert_eq!(
        c(Datum::Int4(7), DataType::Int4, DataType::Int8),
        Ok(Datum::Int8(7))
    );
    assert_eq!(
        format_value(&Datum::Oid(13425), &DataType::RegClass, &ctx, &view),
        "information_schema.tables"
    );
}

#[test]
fn catalog_functions_answer_as_postgres() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let oid = |v: u32| (DataType::Oid, Datum::Oid(v));
    let format = |o: u32, m: Option<i32>| {
        call(
            &view,
            "format_type",
            &[oid(o), (DataType::Int4, m.map_or(Datum::Null, Datum::Int4))],
        )
    };
    assert_eq!(format(1043, Some(14)), text("character varying(10)"));
    assert_eq!(format(1043, None), text("character varying"));
    assert_eq!(format(1015, Some(14)), text("character varying(10)[]"));
    assert_eq!(format(1700, Some(655366)), text("numeric(10,2)"));
    assert_eq!(format(1184, Some(3)), text("timestamp(3) with time zone"));
    assert_eq!(format(18, None), text("\"char\""));
    assert_eq!(format(22, None), text("int2vector"));
    assert_eq!(format(99999, None), text("???"));
    assert_eq!(call(&view, "pg_get_userbyid", &[oid(10)]), text("sextant"));
    assert_eq!(
        call(&view, "pg_get_userbyid", &[oid(6171)]),
        text("pg_database_owner")
    );
    assert_eq!(
        call(&view, "pg_get_userbyid", &[oid(77)]),
        text("unknown (OID=77)")
    );
    assert_eq!(
        call(&view, "pg_table_is_visible", &[oid(16386)]),
        Datum::Bool(true)
    );
    assert_eq!(
        call(&view, "pg_table_is_visible", &[oid(13425)]),
        Datum::Bool(false)
    );
    assert_eq!(
        call(&view, "pg_table_is_visible", &[oid(12345)]),
        Datum::Null
    );
    assert_eq!(
        call(&view, "pg_type_is_visible", &[oid(23)]),
        Datum::Bool(true)
    );
    assert_eq!(
        call(
            &view,
            "pg_encoding_to_char",
            &[(DataType::Int4, Datum::Int4(6))]
        ),
        text("UTF8")
    );
    assert_eq!(
        call(
            &view,
            "pg_table_size",
            &[(DataType::RegClass, Datum::Oid(16386))]
        ),
        Datum::Int8(0)
    );
    assert_eq!(
        call(
            &view,
            "pg_size_pretty",
            &[(DataType::Int8, Datum::Int8(8192))]
        ),
        text("8192 bytes")
    );
    assert_eq!(
        call(
            &view,
            "obj_description",
            &[oid(16386), (DataType::Name, text("pg_class"))]
        ),
        Datum::Null
    );
    assert_eq!(
        call(&view, "to_regclass", &[(DataType::Text, text("events"))]),
        Datum::Oid(16386)
    );
    assert_eq!(
        call(&view, "to_regclass", &[(DataType::Text, text("nosuch"))]),
        Datum::Null
    );
    assert_eq!(
        call(&view, "to_regclass", &[(DataType::Text, text("nosuch.x"))]),
        Datum::Null
    );
    let to_regclass =
        resolve_function("to_regclass", &[DataType::Text], &[false]).expect("resolves");
    let e = call_function(to_regclass.func, &[text("\"unterminated")], &view).expect_err("syntax");
    assert_eq!(e.code, code::INVALID_NAME);
    assert_eq!(
        call(&view, "to_regtype", &[(DataType::Text, text("int"))]),
        Datum::Oid(23)
    );
    assert_eq!(
        call(
            &view,
            "current_setting",
            &[(DataType::Text, text("TimeZone"))]
        ),
        text("UTC")
    );
    assert_eq!(
        call(
            &view,
            "current_setting",
            &[(DataType::Text, text("server_version_num"))]
        ),
        text("150000")
    );
    let missing =
        resolve_function("current_setting", &[DataType::Text], &[false]).expect("resolves");
    let e = call_function(missing.func, &[text("no_such")], &view).expect_err("unknown setting");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            code::UNDEFINED_OBJECT,
            "unrecognized configuration parameter \"no_such\""
        )
    );
    assert_eq!(
        call(
            &view,
            "current_setting",
            &[
                (DataType::Text, text("no_such")),
                (DataType::Bool, Datum::Bool(true))
            ]
        ),
        Datum::Null
    );
    assert_eq!(
        call(
            &view,
            "has_table_privilege",
            &[
                (DataType::Text, text("events")),
                (DataType::Text, text("select"))
            ]
        ),
        Datum::Bool(true)
    );
    let r = resolve_function(
        "has_table_privilege",
        &[DataType::Text, DataType::Text],
        &[false, false],
    )
    .expect("resolves");
    let e = call_function(r.func, &[text("nosuch"), text("select")], &view).expect_err("no table");
    assert_eq!(e.code, code::UNDEFINED_TABLE);
    assert_eq!(
        call(
            &view,
            "has_schema_privilege",
            &[
                (DataType::Text, text("public")),
                (DataType::Text, text("CREATE"))
            ]
        ),
        Datum::Bool(true)
    );
    assert_eq!(call(&view, "current_schema", &[]), text("public"));
    assert_eq!(
        pgtext::format(
            &call(
                &view,
                "current_schemas",
                &[(DataType::Bool, Datum::Bool(true))]
            ),
            &TextContext::default()
        ),
        "{pg_catalog,public}"
    );
    assert_eq!(
        call(&view, "quote_ident", &[(DataType::Text, text("position"))]),
        text("\"position\"")
    );
    assert_eq!(
        call(
            &view,
            "pg_relation_is_publishable",
            &[(DataType::RegClass, Datum::Oid(16386))]
        ),
        Datum::Bool(true)
    );
    assert_eq!(call(&view, "pg_is_in_recovery", &[]), Datum::Bool(false));
}

#[test]
fn quote_ident_quotes_as_postgres() {
    let cases = [
        ("events", "events"),
        ("position", "\"position\""),
        ("select", "\"select\""),
        ("name", "name"),
        ("Events", "\"Events\""),
        ("a b", "\"a b\""),
        ("1a", "\"1a\""),
        ("_x$1", "_x$1"),
        ("a\"b", "\"a\"\"b\""),
        ("", "\"\""),
        ("é", "\"é\""),
    ];
    for (ident, want) in cases {
        assert_eq!(quote_ident(ident), want, "{ident:?}");
    }
}

#[test]
fn information_schema_describes_the_tables() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let columns = rows(&view, "information_schema", "columns");
    let at = columns
        .iter()
        .find(|r| r["table_name"] == "events" && r["column_name"] == "ingested_at")
        .expect("column");
    assert_eq!(at["data_type"], "timestamp with time zone");
    assert_eq!(at["column_default"], "now()");
    assert_eq!(at["is_nullable"], "NO");
    assert_eq!(at["udt_name"], "timestamptz");
    assert_eq!(at["datetime_precision"], "6");
    assert_eq!(at["ordinal_position"], "4");
    let id = columns
        .iter()
        .find(|r| r["table_name"] == "events" && r["column_name"] == "id")
        .expect("column");
    assert_eq!(id["character_octet_length"], "1073741824");
    assert_eq!(id["collation_name"], "<null>");
    let tables = rows(&view, "information_schema", "tables");
    let events = one(&tables, "table_name", "events");
    assert_eq!(
        (
            events["table_schema"].as_str(),
            events["table_type"].as_str()
        ),
        ("public", "BASE TABLE")
    );
    let constraints = rows(&view, "information_schema", "table_constraints");
    let kinds: Vec<String> = constraints
        .iter()
        .filter(|r| r["table_name"] == "events")
        .map(|r| format!("{} {}", r["constraint_name"], r["constraint_type"]))
        .collect();
    assert_eq!(
        kinds,
        [
            "events_pkey PRIMARY KEY",
            "2200_16386_1_not_null CHECK",
            "2200_16386_2_not_null CHECK",
            "2200_16386_4_not_null CHECK",
        ]
    );
    let keys = rows(&view, "information_schema", "key_column_usage");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["column_name"], "id");
    let schemata = rows(&view, "information_schema", "schemata");
    assert_eq!(
        one(&schemata, "schema_name", "public")["schema_owner"],
        "pg_database_owner"
    );
}

#[test]
fn settings_and_roles_come_from_the_session() {
    let (catalog, settings) = (catalog(), settings());
    let view = view(&catalog, &settings);
    let pg_settings = rows_of(&view, "pg_settings");
    let timezone = one(&pg_settings, "name", "TimeZone");
    assert_eq!(
        (timezone["setting"].as_str(), timezone["source"].as_str()),
        ("UTC", "session")
    );
    assert_eq!(
        one(&pg_settings, "name", "max_identifier_length")["setting"],
        "63"
    );
    assert_eq!(one(&pg_settings, "name", "block_size")["setting"], "8192");
    let roles = rows_of(&view, "pg_roles");
    let me = one(&roles, "rolname", "sextant");
    assert_eq!(
        (
            me["rolsuper"].as_str(),
            me["oid"].as_str(),
            me["rolpassword"].as_str()
        ),
        ("t", "10", "********")
    );
    assert_eq!(rows_of(&view, "pg_user").len(), 1);
    let database = rows_of(&view, "pg_database");
    assert_eq!(database.len(), 1);
    assert_eq!(
        (
            database[0]["datname"].as_str(),
            database[0]["encoding"].as_str(),
            database[0]["datcollate"].as_str()
        ),
        ("sextant", "6", "C.UTF-8")
    );
    let namespaces = rows_of(&view, "pg_namespace");
    assert_eq!(one(&namespaces, "nspname", "public")["nspowner"], "6171");
    let types = rows_of(&view, "pg_type");
    let int4 = one(&types, "typname", "int4");
    assert_eq!(
        (
            int4["typinput"].as_str(),
            int4["typarray"].as_str(),
            int4["typcategory"].as_str()
        ),
        ("int4in", "1007", "N")
    );
    assert_eq!(
        one(&types, "typname", "_int4")["typsubscript"],
        "array_subscript_handler"
    );
    assert_eq!(one(&types, "typname", "int4")["typsubscript"], "-");
}
