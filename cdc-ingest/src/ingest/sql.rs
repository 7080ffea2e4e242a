//! The SQL text the writer sends, in one place.
//!
//! Every statement is prepared with all parameters typed `text` and cast in
//! SQL, so values cross the wire in one form whatever the column type, and
//! the same text works on PostgreSQL and Sextant (which lack `unnest` of
//! several arrays and `DELETE … USING`, so rows go as multi-row `VALUES`
//! and deletes one key per statement). Table and column names are checked
//! lower-case identifiers ([`super::config::check_identifier`]), so quoting
//! them needs no escaping; the assertions below keep it so.
//!
//! # Idempotence
//!
//! An upsert carries the event's position and changes a row only when the
//! row's position is older (`WHERE cur.position IS NULL OR cur.position <
//! EXCLUDED.position`). A delete removes the row only when it is older, and
//! records the key and position in [`TOMBSTONES`], so an older upsert that
//! arrives after the delete finds the tombstone and does nothing. Replaying
//! any set of events therefore leaves each key at its newest version.
//!
//! The tombstone table is made by the first batch that deletes or
//! truncates, not at connect: a database that only ever sees upserts keeps
//! no table of ours. Until it exists, upserts leave the guard out (there
//! is nothing to guard against); the writer checks for it on every
//! connect.

use super::config::{check_identifier, ColumnMapping};

/// Keys deleted, and at which position, per table: what keeps an older
/// upsert from resurrecting a deleted row. It grows with the deleted keys;
/// a truncate clears its table's entries.
pub const TOMBSTONES: &str = "sextant_ingest_tombstones";

/// Rows in one upsert statement at most. Batches are cut into chunks of
/// powers of two up to this, so a table needs at most nine statement texts
/// (the servers keep plans per text) and a statement at most 256 × (3 +
/// extra columns) parameters, well below the protocol's 65,535.
pub const UPSERT_ROWS_MAX: usize = 256;
const _: () = assert!(UPSERT_ROWS_MAX.is_power_of_two());

/// Creates the tombstone table if it is missing.
pub fn create_tombstones() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TOMBSTONES} (table_name text NOT NULL, id text NOT NULL, \
         position bigint NOT NULL, PRIMARY KEY (table_name, id))"
    )
}

fn quoted(name: &str) -> String {
    assert!(
        check_identifier(name).is_ok(),
        "{name:?} reached SQL unchecked"
    );
    format!("\"{name}\"")
}

/// The default table shape plus the configured extra columns.
pub fn create_table(table: &str, columns: &[ColumnMapping]) -> String {
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, payload jsonb NOT NULL, \
         position bigint, ingested_at timestamptz NOT NULL DEFAULT now()",
        quoted(table)
    );
    for column in columns {
        sql += &format!(", {} {}", quoted(&column.name), column.ty.sql());
    }
    sql + ")"
}

/// A table's columns and their types (`$1` = table name).
pub fn describe_table() -> &'static str {
    "SELECT column_name, data_type FROM information_schema.columns \
     WHERE table_schema = current_schema() AND table_name = $1"
}

/// Upserts `rows` rows of (id, payload, position, extra columns...),
/// position-guarded and tombstone-guarded; returns the ids it changed.
/// Whether the tombstone table exists (one row, one boolean).
pub fn tombstones_exist() -> String {
    format!(
        "SELECT count(*) > 0 FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name = '{TOMBSTONES}'"
    )
}

/// `rows` upserts; with `guarded`, none of a key deleted at a newer
/// position ([`TOMBSTONES`] must exist then).
pub fn upsert(table: &str, columns: &[ColumnMapping], rows: usize, guarded: bool) -> String {
    assert!(rows > 0 && rows <= UPSERT_ROWS_MAX, "rows = {rows}");
    let table_q = quoted(table);
    let width = 3 + columns.len();
    let mut names = vec!["id".to_owned(), "payload".to_owned(), "position".to_owned()];
    names.extend(columns.iter().map(|c| quoted(&c.name)));
    let mut types = vec!["text", "jsonb", "bigint"];
    types.extend(columns.iter().map(|c| c.ty.sql()));

    let mut values = String::new();
    for row in 0..rows {
        values += if row == 0 { "(" } else { ", (" };
        for (col, ty) in types.iter().enumerate() {
            if col > 0 {
                values += ", ";
            }
            values += &format!("CAST(${} AS {ty})", row * width + col + 1);
        }
        values += ")";
    }
    let list = names.join(", ");
    let selected: Vec<String> = names.iter().map(|n| format!("v.{n}")).collect();
    let mut set = vec![
        "payload = EXCLUDED.payload".to_owned(),
        "position = EXCLUDED.position".to_owned(),
        "ingested_at = now()".to_owned(),
    ];
    set.extend(
        columns
            .iter()
            .map(|c| format!("{0} = EXCLUDED.{0}", quoted(&c.name))),
    );
    let guard = if guarded {
        format!(
            "WHERE NOT EXISTS (SELECT 1 FROM {TOMBSTONES} s WHERE s.table_name = '{table}' \
             AND s.id = v.id AND s.position >= v.position) "
        )
    } else {
        String::new()
    };
    format!(
        "INSERT INTO {table_q} AS cur ({list}) SELECT {} FROM (VALUES {values}) AS v({list}) \
         {guard}ON CONFLICT (id) DO UPDATE SET {} \
         WHERE cur.position IS NULL OR cur.position < EXCLUDED.position RETURNING id",
        selected.join(", "),
        set.join(", ")
    )
}

/// Deletes the row of `$1` if it is older than position `$2`.
pub fn delete(table: &str) -> String {
    format!(
        "DELETE FROM {} WHERE id = $1 AND (position IS NULL OR position < CAST($2 AS bigint))",
        quoted(table)
    )
}

/// Records a delete of key `$1` at position `$2` unless a newer one is
/// recorded.
pub fn tombstone(table: &str) -> String {
    assert!(
        check_identifier(table).is_ok(),
        "{table:?} reached SQL unchecked"
    );
    format!(
        "INSERT INTO {TOMBSTONES} AS cur (table_name, id, position) \
         VALUES ('{table}', $1, CAST($2 AS bigint)) ON CONFLICT (table_name, id) \
         DO UPDATE SET position = EXCLUDED.position WHERE cur.position < EXCLUDED.position"
    )
}

/// Whether a row of key `$1` exists.
pub fn exists(table: &str) -> String {
    format!("SELECT 1 FROM {} WHERE id = $1", quoted(table))
}

/// Empties a table and forgets its tombstones (two statements).
pub fn truncate(table: &str) -> [String; 2] {
    [
        format!("TRUNCATE {}", quoted(table)),
        format!("DELETE FROM {TOMBSTONES} WHERE table_name = '{table}'"),
    ]
}

/// Splits `n` rows into chunk sizes that are powers of two, at most
/// [`UPSERT_ROWS_MAX`] each, largest first.
pub fn chunk_sizes(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    while n >= UPSERT_ROWS_MAX {
        out.push(UPSERT_ROWS_MAX);
        n -= UPSERT_ROWS_MAX;
    }
    let mut size = UPSERT_ROWS_MAX / 2;
    while n > 0 {
        if n >= size {
            out.push(size);
            n -= size;
        }
        size /= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::config::{ColumnType, JsonPath};

    #[test]
    fn upsert_text_numbers_every_parameter_once() {
        let columns = [ColumnMapping {
            name: "amount".into(),
            path: JsonPath::parse("amount").unwrap(),
            ty: ColumnType::Numeric,
        }];
        let sql = upsert("orders", &columns, 2, true);
        assert!(sql.contains(TOMBSTONES));
        assert!(!upsert("orders", &columns, 2, false).contains(TOMBSTONES));
        assert!(sql.contains("(CAST($1 AS text), CAST($2 AS jsonb), CAST($3 AS bigint), CAST($4 AS numeric)), (CAST($5 AS text)"));
        assert!(sql.contains("CAST($8 AS numeric))"));
        assert!(!sql.contains("$9"));
        assert!(sql.contains("\"amount\" = EXCLUDED.\"amount\""));
    }

    #[test]
    #[should_panic(expected = "reached SQL unchecked")]
    fn unchecked_names_never_reach_sql() {
        delete("x\"; DROP TABLE y; --");
    }

    #[test]
    fn chunks_are_powers_of_two_and_add_up() {
        for n in [0, 1, 2, 3, 255, 256, 257, 1000, 5000] {
            let sizes = chunk_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes
                .iter()
                .all(|s| s.is_power_of_two() && *s <= UPSERT_ROWS_MAX));
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
        }
        assert_eq!(chunk_sizes(1000), vec![256, 256, 256, 128, 64, 32, 8]);
    }
}
