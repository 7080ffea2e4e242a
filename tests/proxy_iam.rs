//! IAM authentication end to end: tokens made by `sextant token` (as
//! `aws rds generate-db-auth-token` makes them) log psql and tokio-postgres
//! in through the proxy over TLS, in front of real PostgreSQL; a token over
//! plain TCP, for another user, for another endpoint, expired, or denied by
//! policy gets the same 28P01 answer, while the metrics say which check
//! failed. Password users of the IAM file log in with SCRAM.
//!
//! Needs `psql`, `openssl` and PostgreSQL 15's server programs.

mod proxy_support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proxy_support::{conninfo, metric, psql, single_writer, start_proxy, Certs};
use sextant_proxy::iam::{generate_token, Credentials, IamFile};
use sextant_testkit::postgres::RealPostgres;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

const IAM_FILE: &str = r#"
region = "eu-west-1"
account = "123456789012"
cluster_id = "cluster-PROXYTEST"

[[iam_users]]
name = "alice"
access_keys = [{ id = "AKIAIOSFODNN7EXAMPLE", secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" }]
policies = ['''
{
  "Version": "2012-10-17",
  "Statement": [
    { "Effect": "Allow", "Action": "rds-db:connect",
      "Resource": "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-PROXYTEST/*" },
    { "Effect": "Deny", "Action": "rds-db:connect",
      "Resource": "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-PROXYTEST/postgres" }
  ]
}
''']

[[password_users]]
name = "reporting"
password = "correct horse battery staple"
"#;

fn creds() -> Credentials {
    Credentials {
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    }
}

fn token(port: u16, user: &str, now: SystemTime) -> String {
    generate_token("127.0.0.1", port, user, "eu-west-1", &creds(), now).unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_tokens_and_password_users_through_the_proxy() {
    let pg = RealPostgres::start().expect("start PostgreSQL");
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path());
    let iam = Arc::new(IamFile::parse(IAM_FILE).expect("the IAM file parses"));
    let proxy = start_proxy(single_writer(&pg.addr()), Some(&certs), |c| {
        c.iam = Some(iam);
    })
    .await;
    let port = proxy.writer_addr().port();

    // `sextant token` makes the token from the AWS environment variables.
    let out = Command::new(env!("CARGO_BIN_EXE_sextant"))
        .args(["token", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--user", "sextant", "--region", "eu-west-1"])
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cli_token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        cli_token.starts_with(&format!("127.0.0.1:{port}/?")),
        "{cli_token}"
    );

    // psql over TLS with the token as its password.
    let ok = psql(
        &conninfo(port, "sextant", &cli_token, "require"),
        "SELECT current_user, 6 * 7",
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "sextant|42");

    // tokio-postgres, a freshly made token.
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(port)
        .user("sextant")
        .dbname("sextant")
        .ssl_mode(SslMode::Require)
        .password(token(port, "sextant", SystemTime::now()));
    let (client, conn) = cfg.connect(certs.connector()).await.expect("IAM login");
    let conn = tokio::spawn(conn);
    let n: i64 = client
        .query_one("SELECT 41 + 1::int8", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 42);
    drop(client);
    let _ = conn.await;

    // Every refusal reads the same; the metrics say why.
    let refused = |o: std::process::Output, user: &str| {
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains(&format!(
                "password authentication failed for user \"{user}\""
            )),
            "{}",
            stderr(&o)
        );
    };
    // Over plain TCP, a token is never accepted.
    refused(
        psql(
            &conninfo(
                port,
                "sextant",
                &token(port, "sextant", SystemTime::now()),
                "disable",
            ),
            "SELECT 1",
        ),
        "sextant",
    );
    // Signed for another user.
    refused(
        psql(
            &conninfo(
                port,
                "bob",
                &token(port, "sextant", SystemTime::now()),
                "require",
            ),
            "SELECT 1",
        ),
        "bob",
    );
    // Signed for another endpoint.
    refused(
        psql(
            &conninfo(
                port,
                "sextant",
                &token(port + 1, "sextant", SystemTime::now()),
                "require",
            ),
            "SELECT 1",
        ),
        "sextant",
    );
    // Expired (made 20 minutes ago, valid 15).
    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    refused(
        psql(
            &conninfo(port, "sextant", &token(port, "sextant", old), "require"),
            "SELECT 1",
        ),
        "sextant",
    );
    // Denied by policy.
    refused(
        psql(
            &conninfo(
                port,
                "postgres",
                &token(port, "postgres", SystemTime::now()),
                "require",
            ),
            "SELECT 1",
        ),
        "postgres",
    );
    // Not a token at all.
    refused(
        psql(&conninfo(port, "sextant", "sextant", "require"), "SELECT 1"),
        "sextant",
    );
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(port)
        .user("sextant")
        .dbname("sextant")
        .ssl_mode(SslMode::Require)
        .password(token(port, "sextant", old));
    let e = cfg.connect(certs.connector()).await.err().expect("expired");
    assert_eq!(
        e.as_db_error().map(|d| d.code()),
        Some(&SqlState::INVALID_PASSWORD),
        "{e}"
    );

    // A password user of the IAM file: SCRAM, with or without TLS.
    for sslmode in ["disable", "require"] {
        let o = psql(
            &conninfo(port, "reporting", "correct horse battery staple", sslmode),
            "SELECT 1",
        );
        assert!(o.status.success(), "{sslmode}: {}", stderr(&o));
    }
    refused(
        psql(&conninfo(port, "reporting", "wrong", "require"), "SELECT 1"),
        "reporting",
    );

    let text = proxy.metrics_text();
    for reason in [
        "iam_without_tls",
        "user_mismatch",
        "endpoint",
        "expired",
        "policy_denied",
        "malformed",
        "password",
    ] {
        assert!(
            metric(
                &text,
                "proxy_auth_failures_total",
                &format!("reason=\"{reason}\"")
            ) >= 1.0,
            "no auth failure counted for {reason}:\n{text}"
        );
    }
    proxy.shutdown().await;
    drop(pg);
}
