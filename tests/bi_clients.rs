//! BI clients against `sextant dev`, compared with what the same clients saw
//! on PostgreSQL 15 for the same schema.
//!
//! `compute/tests/data/bi/` holds the schema (`schema.sql`), the client
//! programs (`sqlalchemy_client.py`: SQLAlchemy 2 `inspect()`, table
//! autoload, server-side cursors and pandas over psycopg2 and psycopg 3;
//! `JdbcClient.java`: pgjdbc's `DatabaseMetaData`, statement metadata,
//! named statements and fetch-size cursors), the Python packages they need
//! (`requirements.txt`) and PostgreSQL's outputs (`sqlalchemy.out`,
//! `jdbc.out`); `regen.sh` recreates the outputs from a real server. Each
//! program prints one section per call; every section must match
//! PostgreSQL's except the ones in [`KNOWN_DIFFERENCES`], which must still
//! differ (so that a fix shows up here and the entry goes).
//!
//! Needs, and fails without: `psql`, `python3` with `venv` (the test makes a
//! virtualenv from PyPI under the target directory, once per
//! `requirements.txt`), `java` (17) and pgjdbc at
//! `/usr/share/java/postgresql.jar` (Debian's `libpostgresql-jdbc-java`,
//! which the test installs with apt-get when it runs as root).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{sextant_bin, Dev};

/// pgjdbc as Debian installs it.
const PGJDBC_JAR: &str = "/usr/share/java/postgresql.jar";

/// A section where Sextant's answer differs from PostgreSQL's, with why:
/// `(program, section, reason)`.
type KnownDifference = (&'static str, &'static str, &'static str);

/// Sections where Sextant's answer differs from PostgreSQL's. The test
/// checks they still differ. (None now: pgjdbc's `getPrimaryKeys` and
/// `getIndexInfo`, which read `information_schema._pg_expandarray`'s
/// records, were the last.)
const KNOWN_DIFFERENCES: &[KnownDifference] = &[];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compute/tests/data/bi")
}

/// The target directory this test binary was built into (where the
/// virtualenv is cached).
fn target_dir() -> PathBuf {
    // CARGO_BIN_EXE_sextant is <target>/<profile>/sextant.
    Path::new(sextant_bin())
        .parent()
        .and_then(Path::parent)
        .expect("the binary sits in <target>/<profile>")
        .to_path_buf()
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The virtualenv's python, made (or remade when requirements.txt changed)
/// under the target directory.
fn python() -> PathBuf {
    let requirements = data_dir().join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("read requirements.txt");
    let dir = target_dir().join("bi-clients");
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let stamp = dir.join("requirements.installed");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return python;
    }
    std::fs::create_dir_all(&dir).expect("create the virtualenv's directory");
    let _ = std::fs::remove_file(&stamp);
    if !python.exists() {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv (is python3 with venv installed?)",
        );
    }
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
        "pip install -r compute/tests/data/bi/requirements.txt (is PyPI reachable?)",
    );
    std::fs::write(&stamp, wanted).expect("write the virtualenv's stamp");
    python
}

/// pgjdbc's jar, installed with apt-get when missing and possible.
fn pgjdbc() -> &'static str {
    if !Path::new(PGJDBC_JAR).exists() {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "libpostgresql-jdbc-java"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    assert!(
        Path::new(PGJDBC_JAR).exists(),
        "pgjdbc is missing: {PGJDBC_JAR} (apt-get install libpostgresql-jdbc-java)"
    );
    PGJDBC_JAR
}

/// A program's output as its sections (`### <name>` to the next), by name.
fn sections(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            if let Some((n, body)) = current.take() {
                out.insert(n, body);
            }
            current = Some((name.to_owned(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((n, body)) = current {
        out.insert(n, body);
    }
    out
}

/// Whether `section` of `program` is a known difference: its name, after
/// the driver prefix SQLAlchemy sections carry (`psycopg2 get_columns(x)`).
fn known(list: &[KnownDifference], program: &str, section: &str) -> Option<&'static str> {
    let call = match program {
        "sqlalchemy" => section.split_once(' ').map_or(section, |(_, c)| c),
        _ => section,
    };
    list.iter()
        .find(|(p, s, _)| *p == program && *s == call)
        .map(|(_, _, why)| *why)
}

/// Compares a program's output with PostgreSQL's, section by section.
fn compare(
    list: &[KnownDifference],
    program: &str,
    expected: &str,
    got: &str,
    failures: &mut Vec<String>,
) {
    let want = sections(expected);
    let have = sections(got);
    assert!(
        !want.is_empty(),
        "{program}: PostgreSQL's recorded output has no sections"
    );
    for (name, pg) in &want {
        let ours = have.get(name).map(String::as_str).unwrap_or("<missing>\n");
        match known(list, program, name) {
            Some(why) if ours == pg => failures.push(format!(
                "{program} {name}: listed as a known difference ({why}) but now matches \
                 PostgreSQL: remove it from KNOWN_DIFFERENCES"
            )),
            Some(_) => {}
            None if ours != pg => failures.push(format!(
                "{program} {name}\n--- PostgreSQL 15\n{pg}--- Sextant\n{ours}"
            )),
            None => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        failures.push(format!(
            "{program} {name}: not in PostgreSQL's output (run regen.sh)"
        ));
    }
}

#[test]
fn bi_clients_see_what_they_see_on_postgres() {
    let python = python();
    let jar = pgjdbc();
    let dev = Dev::start();
    let dir = data_dir();
    run(
        Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &dev.port.to_string()])
            .args(["-U", "sextant", "-d", "sextant", "-f"])
            .arg(dir.join("schema.sql"))
            .env("PGPASSWORD", "sextant"),
        "psql -f schema.sql (is postgresql-client installed?)",
    );

    let port = dev.port.to_string();
    let sqlalchemy = run(
        Command::new(&python)
            .arg("sqlalchemy_client.py")
            .args(["127.0.0.1", &port])
            .current_dir(&dir),
        "sqlalchemy_client.py",
    );
    let jdbc = run(
        Command::new("java")
            .args(["-cp", jar, "JdbcClient.java", "127.0.0.1", &port])
            .current_dir(&dir),
        "java JdbcClient.java (is Java 17 installed?)",
    );

    let mut failures = Vec::new();
    for (program, file, out) in [
        ("sqlalchemy", "sqlalchemy.out", &sqlalchemy),
        ("jdbc", "jdbc.out", &jdbc),
    ] {
        let expected = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("failed to read {file}: {e}"));
        compare(
            KNOWN_DIFFERENCES,
            program,
            &expected,
            &String::from_utf8_lossy(&out.stdout),
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "{} sections differ from PostgreSQL's:\n\n{}\n\nwriter log: {}",
        failures.len(),
        failures.join("\n\n"),
        dev.log.display()
    );
}

#[test]
fn sections_split_and_known_differences_apply_per_call() {
    let text = "# header\n### a\nx\ny\n### b(c)\n\n### d\n";
    let s = sections(text);
    assert_eq!(s.len(), 3);
    assert_eq!(s["a"], "x\ny\n");
    assert_eq!(s["b(c)"], "\n");
    assert_eq!(s["d"], "");
    let list: &[KnownDifference] = &[
        ("jdbc", "getPrimaryKeys(events)", "why"),
        ("sqlalchemy", "get_columns(sites)", "why"),
    ];
    assert_eq!(known(list, "jdbc", "getPrimaryKeys(events)"), Some("why"));
    assert!(known(list, "jdbc", "getPrimaryKeys(sites)").is_none());
    assert!(known(list, "sqlalchemy", "psycopg2 get_columns(sites)").is_some());
    assert!(known(list, "sqlalchemy", "psycopg2 get_columns(events)").is_none());
    let mut failures = Vec::new();
    compare(
        list,
        "jdbc",
        "### getPrimaryKeys(events)\nA\n### x\n1\n",
        "### getPrimaryKeys(events)\nA\n### x\n2\n",
        &mut failures,
    );
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].contains("now matches"));
    assert!(failures[1].contains("--- Sextant\n2\n"));
}
