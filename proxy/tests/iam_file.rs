//! The IAM file as an operator writes it: the documented example loads, a
//! PostgreSQL-made SCRAM verifier yields the keys of its password, and every
//! kind of mistake is refused with a message naming what and where.

use std::num::NonZeroU32;

use sextant_proxy::iam::{IamError, IamFile, PasswordSecret};

/// The ```toml block of the module doc, so the documented format is the
/// tested one.
fn documented_example() -> String {
    let src = include_str!("../src/iam/mod.rs");
    let doc: Vec<&str> = src
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = doc
        .iter()
        .position(|l| *l == "```toml")
        .expect("```toml in the module doc");
    let len = doc[start + 1..]
        .iter()
        .position(|l| *l == "```")
        .expect("closing ```");
    doc[start + 1..start + 1 + len].join("\n")
}

#[test]
fn documented_example_loads() {
    let file = IamFile::parse(&documented_example()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.region(), "us-east-1");
    assert_eq!(file.account(), "123456789012");
    assert_eq!(file.cluster_id(), "cluster-SEXTANTDEV");
    let reporting = file.password_user("reporting").expect("reporting");
    assert_eq!(
        reporting.secret,
        PasswordSecret::Plain("correct horse battery staple".into())
    );
    assert!(matches!(
        file.password_user("etl").expect("etl").secret,
        PasswordSecret::ScramVerifier {
            iterations: 4096,
            ..
        }
    ));
    assert!(
        file.password_user("alice").is_none(),
        "IAM users are not password users"
    );
}

#[test]
fn load_reads_the_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("sextant-iam-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("iam.toml");
    std::fs::write(&good, documented_example()).unwrap();
    IamFile::load(&good).unwrap_or_else(|e| panic!("{e}"));

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "region = \"us-east-1\"\naccount = \"12\"\ncluster_id = \"c\"\n",
    )
    .unwrap();
    let e = IamFile::load(&bad).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: line 2: account \"12\" is not a 12-digit AWS account id",
            bad.display()
        )
    );

    let missing = dir.join("missing.toml");
    let e = IamFile::load(&missing).unwrap_err();
    assert!(matches!(e, IamError::Read { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("read {}: ", missing.display())),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// PBKDF2 / HMAC / SHA-256 as RFC 5802 derives SCRAM keys, with ring (an
/// implementation independent of the parser under test).
fn scram_keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    use ring::{digest, hmac, pbkdf2};
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(iterations).unwrap(),
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored: [u8; 32] = digest::digest(&digest::SHA256, client_key.as_ref())
        .as_ref()
        .try_into()
        .unwrap();
    let server: [u8; 32] = hmac::sign(&key, b"Server Key").as_ref().try_into().unwrap();
    (stored, server)
}

#[test]
fn postgres_verifier_holds_the_keys_of_its_password() {
    // Made by PostgreSQL 15: CREATE ROLE .. PASSWORD 'pencil' with
    // password_encryption = 'scram-sha-256', then SELECT rolpassword.
    let text = "region = \"us-east-1\"\naccount = \"123456789012\"\ncluster_id = \"c\"\n\
        [[password_users]]\nname = \"pencil_user\"\nscram_verifier = \"SCRAM-SHA-256$4096:HG+VCGIO+o9PdztvTzHMqw==$PkNYKiULInb2URPa+Ku1Nf36oNulazMsxo/WKiPrsaE=:e8zO8NFJY8ClY14n3kyRu2X7Weha0l+LobpGMnJi6LY=\"\n";
    let file = IamFile::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let user = file.password_user("pencil_user").expect("user");
    let PasswordSecret::ScramVerifier {
        iterations,
        salt,
        stored_key,
        server_key,
    } = &user.secret
    else {
        panic!("not a verifier: {:?}", user.secret)
    };
    assert_eq!(*iterations, 4096);
    let (stored, server) = scram_keys("pencil", salt, *iterations);
    assert_eq!(*stored_key, stored);
    assert_eq!(*server_key, server);
    let (wrong, _) = scram_keys("pencil2", salt, *iterations);
    assert_ne!(*stored_key, wrong);
}

const HEAD: &str = "region = \"us-east-1\"\naccount = \"123456789012\"\ncluster_id = \"c1\"\n";

fn error_of(text: &str) -> String {
    match IamFile::parse(text) {
        Ok(f) => panic!("accepted:\n{text}\n{f:?}"),
        Err(e) => e.to_string(),
    }
}

fn user_with_policy(policy: &str) -> String {
    format!(
        "{HEAD}\n[[iam_users]]\nname = \"alice\"\naccess_keys = [{{ id = \"AKIAIOSFODNN7EXAMPLE\", secret = \"s\" }}]\npolicies = ['''\n{policy}''']\n"
    )
}

#[test]
fn unsupported_policy_keys_are_named_with_their_line() {
    let e = error_of(&user_with_policy(
        "{\"Version\": \"2012-10-17\",\n \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"rds-db:connect\",\n   \"Resource\": \"*\", \"Condition\": {\"Bool\": {\"aws:SecureTransport\": \"true\"}}}]}\n",
    ));
    assert_eq!(
        e,
        "line 8: policy 0 of IAM user \"alice\": Statement[0].Condition: \"Condition\" is not supported by Sextant's proxy (statements may have only Sid, Effect, Action and Resource)"
    );
    for key in ["NotAction", "NotResource", "Principal", "NotPrincipal"] {
        let e = error_of(&user_with_policy(&format!(
            "{{\"Statement\": {{\"Effect\": \"Allow\", \"{key}\": \"*\", \"Action\": \"*\", \"Resource\": \"*\"}}}}"
        )));
        assert!(
            e.contains(&format!("Statement.{key}: \"{key}\" is not supported")),
            "{e}"
        );
    }
}

#[test]
fn bad_policy_json_points_at_the_file_line() {
    // The JSON error is on the policy's 3rd line, which is file line 11
    // (the ''' string opens on line 8 and its text starts on line 9).
    let e = error_of(&user_with_policy(
        "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\",}\n  ]\n}\n",
    ));
    assert!(
        e.starts_with("line 11: policy 0 of IAM user \"alice\": not valid JSON at line 3 column"),
        "{e}"
    );
}

#[test]
fn bad_files_are_refused_with_the_offending_location() {
    let key = "{ id = \"AKIAIOSFODNN7EXAMPLE\", secret = \"s\" }";
    let cases: Vec<(String, &str)> = vec![
        ("region = \"us-east-1\"\n".into(), "missing field `account`"),
        (format!("{HEAD}colour = \"blue\"\n"), "unknown field `colour`"),
        (format!("{HEAD}[[iam_users]]\nname = \"a\"\npasword = \"x\"\n"), "unknown field `pasword`"),
        (format!("{HEAD}[[password_users]]\nname = \"a\"\npasword = \"x\"\n"), "unknown field `pasword`"),
        ("region = \"US East\"\naccount = \"123456789012\"\ncluster_id = \"c\"\n".into(),
            "line 1: region \"US East\" is not a region name"),
        ("region = \"us-east-1\"\naccount = \"123456789012\"\ncluster_id = \"a/b\"\n".into(),
            "line 3: cluster_id \"a/b\" must be"),
        (format!("{HEAD}\n[[iam_users]]\nname = \"alice smith\"\n"), "line 6: IAM user name \"alice smith\" must be"),
        (format!("{HEAD}\n[[iam_users]]\nname = \"a\"\n\n[[iam_users]]\nname = \"a\"\n"),
            "line 9: IAM user \"a\" is listed twice"),
        (format!("{HEAD}[[iam_users]]\nname = \"a\"\naccess_keys = [{key}]\n[[iam_users]]\nname = \"b\"\naccess_keys = [\n  {key}]\n"),
            "line 10: access key id \"AKIAIOSFODNN7EXAMPLE\" is listed twice"),
        (format!("{HEAD}[[iam_users]]\nname = \"a\"\naccess_keys = [{{ id = \"AKIA\", secret = \"s\" }}]\n"),
            "line 6: access key id \"AKIA\" of IAM user \"a\" must be 16 to 128 letters or digits"),
        (format!("{HEAD}[[iam_users]]\nname = \"a\"\naccess_keys = [{{ id = \"AKIAIOSFODNN7EXAMPLE\", secret = \"\" }}]\n"),
            "line 6: access key \"AKIAIOSFODNN7EXAMPLE\" has an empty secret"),
        (format!("{HEAD}[[iam_users]]\nname = \"a\"\naccess_keys = [{{ id = \"AKIAIOSFODNN7EXAMPLE\" }}]\n"),
            "missing field `secret`"),
        (format!("{HEAD}[[iam_users]]\nname = \"a\"\npolicies = \"{{}}\"\n"), "invalid type"),
        (format!("{HEAD}[[password_users]]\nname = \"p\"\n"),
            "line 4: password user \"p\" needs exactly one of password or scram_verifier"),
        (format!("{HEAD}[[password_users]]\nname = \"p\"\npassword = \"x\"\nscram_verifier = \"y\"\n"),
            "line 4: password user \"p\" needs exactly one of password or scram_verifier"),
        (format!("{HEAD}[[password_users]]\nname = \"p\"\npassword = \"\"\n"),
            "line 4: password user \"p\" has an empty password"),
        (format!("{HEAD}[[password_users]]\nname = \"p\"\nscram_verifier = \"md5abc\"\n"),
            "line 4: scram_verifier of password user \"p\": a SCRAM verifier reads"),
        (format!("{HEAD}[[password_users]]\nname = \"{}\"\npassword = \"x\"\n", "n".repeat(64)),
            "line 5: password user name"),
        (format!("{HEAD}[[password_users]]\nname = \"p\"\npassword = \"x\"\n[[password_users]]\nname = \"p\"\npassword = \"y\"\n"),
            "line 8: password user \"p\" is listed twice"),
    ];
    for (text, want) in cases {
        let e = error_of(&text);
        assert!(e.contains(want), "want {want:?} in:\n{e}\nfor:\n{text}");
        if !want.starts_with("line ") {
            // toml's own errors carry the position too.
            assert!(e.contains("line "), "no position in {e}");
        }
    }
}
