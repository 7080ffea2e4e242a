//! psql's meta-commands (`\l`, `\dt`, `\d events`, …) and tab completion
//! against `sextant dev`, compared with what the same psql printed against
//! PostgreSQL 15 for the same schema.
//!
//! `compute/tests/data/psql/` holds the reference schema (`schema.sql`), the
//! commands (`commands.txt`), PostgreSQL's outputs (`<name>.out`, psql's
//! unaligned format), the catalog queries psql sent for each (`<name>.sql`,
//! for reading) and the queries tab completion sends
//! (`tab_complete.sql`); `regen.sh` recreates them from a real server.
//! Outputs are compared after normalizing owner names and OIDs only; the
//! differences Sextant knowingly has are listed in [`KNOWN_DIFFERENCES`].
//!
//! Needs `psql` on the PATH (Debian's `postgresql-client`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Dev;

/// Cells where Sextant's answer differs from PostgreSQL's on purpose: the
/// command, the PostgreSQL text, Sextant's text, and why. Both are replaced
/// by `<known>` before comparing.
const KNOWN_DIFFERENCES: &[(&str, &str, &str, &str)] = &[(
    "\\dt+",
    "|8192 bytes|",
    "|0 bytes|",
    "pg_table_size is 0: the catalog view has no page counts (PostgreSQL's \
     8192 bytes is the empty table's TOAST index)",
)];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compute/tests/data/psql")
}

impl Dev {
    /// Runs psql with `args` (unaligned output, no pager, stop on error).
    fn psql(&self, args: &[&str]) -> std::process::Output {
        Command::new("psql")
            .args(["-X", "-A", "-P", "pager=off", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "sextant", "-d", "sextant"])
            .args(args)
            .env("PGPASSWORD", "sextant")
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("run psql (is postgresql-client installed?)")
    }
}

/// Replaces the owner's name and user-object OIDs, the only things the
/// two servers may legitimately print differently.
fn normalize(text: &str, owner: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        match digits.parse::<u64>() {
            Ok(n) if n >= 16_384 && n <= u64::from(u32::MAX) => out.push_str("<oid>"),
            _ => out.push_str(digits),
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    // Owner cells, wherever they are in a row.
    out.lines()
        .map(|line| {
            line.split('|')
                .map(|cell| if cell == owner { "<owner>" } else { cell })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if out.ends_with('\n') { "\n" } else { "" }
}

/// An unaligned result with its rows (between the header line and the
/// `(n rows)` footer) sorted, for queries without ORDER BY.
fn sort_rows(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(footer) = lines
        .iter()
        .rposition(|l| l.starts_with('(') && l.ends_with(')'))
    else {
        return text.to_owned();
    };
    let header = 1.min(footer);
    let mut rows = lines[header..footer].to_vec();
    rows.sort_unstable();
    let mut out: Vec<&str> = lines[..header].to_vec();
    out.extend(rows);
    out.extend(&lines[footer..]);
    out.join("\n") + "\n"
}

fn apply_known(command: &str, text: &str, theirs: bool) -> String {
    let mut out = text.to_owned();
    for (cmd, pg, ours, _) in KNOWN_DIFFERENCES {
        if *cmd == command {
            out = out.replace(if theirs { pg } else { ours }, "|<known>|");
        }
    }
    out
}

#[test]
fn psql_meta_commands_print_what_postgres_prints() {
    let dev = Dev::start();
    let dir = data_dir();
    let schema = dev.psql(&["-f", dir.join("schema.sql").to_str().unwrap()]);
    assert!(
        schema.status.success(),
        "schema.sql failed: {}\n{}",
        String::from_utf8_lossy(&schema.stdout),
        String::from_utf8_lossy(&schema.stderr)
    );

    let mut failures = Vec::new();
    let mut compare = |what: &str,
                       command: &str,
                       expected_file: &Path,
                       out: std::process::Output,
                       unordered: bool| {
        let expected = std::fs::read_to_string(expected_file)
            .unwrap_or_else(|e| panic!("failed to read {}: {e}", expected_file.display()));
        let got = String::from_utf8_lossy(&out.stdout);
        let mut want = apply_known(command, &normalize(&expected, "sextant"), true);
        let mut got = apply_known(command, &normalize(&got, "sextant"), false);
        if unordered {
            want = sort_rows(&want);
            got = sort_rows(&got);
        }
        if !out.status.success() || got != want {
            failures.push(format!(
                "{what}\n--- PostgreSQL 15\n{want}--- Sextant\n{got}--- stderr\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    };

    let commands = std::fs::read_to_string(dir.join("commands.txt")).unwrap();
    for command in commands
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = command.trim_start_matches('\\').replace(' ', "_");
        let out = dev.psql(&["-c", command]);
        compare(
            command,
            command,
            &dir.join(format!("{name}.out")),
            out,
            false,
        );
    }

    // Tab completion: the queries psql sends while completing table names.
    let queries = std::fs::read_to_string(dir.join("tab_complete.sql")).unwrap();
    for (i, query) in queries
        .split("\n\n")
        .filter(|q| !q.trim().is_empty())
        .enumerate()
    {
        let n = i + 1;
        let out = dev.psql(&["-c", query]);
        compare(
            &format!("tab completion query {n}:\n{query}"),
            "",
            &dir.join(format!("tab_complete_{n}.out")),
            out,
            // No ORDER BY: psql sorts the candidates itself.
            true,
        );
    }

    assert!(
        failures.is_empty(),
        "{} outputs differ from PostgreSQL's:\n\n{}\n\nwriter log: {}",
        failures.len(),
        failures.join("\n\n"),
        dev.log.display()
    );
}

#[test]
fn normalizing_replaces_only_owners_and_user_oids() {
    assert_eq!(
        normalize(
            "public|events|table|sextant\n2200_16386_1_not_null|25|4294967295\n",
            "sextant"
        ),
        "public|events|table|<owner>\n2200_<oid>_1_not_null|25|<oid>\n"
    );
    assert_eq!(apply_known("\\dt+", "a|8192 bytes|b", true), "a|<known>|b");
    assert_eq!(apply_known("\\dt+", "a|0 bytes|b", false), "a|<known>|b");
    assert_eq!(apply_known("\\dt", "a|0 bytes|b", false), "a|0 bytes|b");
    assert_eq!(
        sort_rows("relname|text\nb|\na|\n(2 rows)\n"),
        "relname|text\na|\nb|\n(2 rows)\n"
    );
}
