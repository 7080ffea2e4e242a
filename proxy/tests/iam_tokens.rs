//! IAM auth token verification as a client would meet it: tokens made by
//! boto3 (an independent SigV4 implementation; vectors committed under
//! tests/data/iam/) verify at their time and are reproduced byte for byte by
//! `generate_token`; every way a token can be wrong gets its own
//! `Rejection`; and generate -> verify round-trips for any user, host, port
//! and parameter order.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use sextant_proxy::iam::{
    generate_token, Credentials, IamFile, Rejection, TokenVerifier, Verified,
};

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ACCOUNT: &str = "123456789012";
const CLUSTER: &str = "cluster-SEXTANTDEV";
const SKEW: Duration = Duration::from_secs(60);
/// 2026-03-14T15:09:26Z
const T0: u64 = 1_773_500_966;
const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}}"#;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn creds(id: &str, secret: &str, session: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: id.into(),
        secret_access_key: secret.into(),
        session_token: session.map(str::to_owned),
    }
}

/// An IAM file with one IAM user "alice" holding `keys` (id, secret,
/// pinned session token) and `policies`.
fn iam_file(region: &str, keys: &[(&str, &str, Option<&str>)], policies: &[&str]) -> Arc<IamFile> {
    let keys: Vec<String> = keys
        .iter()
        .map(|(id, secret, session)| match session {
            Some(s) => format!("{{ id = {id:?}, secret = {secret:?}, session_token = {s:?} }}"),
            None => format!("{{ id = {id:?}, secret = {secret:?} }}"),
        })
        .collect();
    let policies: Vec<String> = policies.iter().map(|p| format!("'''{p}'''")).collect();
    let text = format!(
        "region = {region:?}\naccount = {ACCOUNT:?}\ncluster_id = {CLUSTER:?}\n\
         [[iam_users]]\nname = \"alice\"\naccess_keys = [{}]\npolicies = [{}]\n",
        keys.join(", "),
        policies.join(", ")
    );
    Arc::new(IamFile::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}")))
}

/// The usual verifier: region us-east-1, endpoints localhost:6432 and
/// 127.0.0.1:6432, allow-all policy.
fn verifier_with(policies: &[&str]) -> TokenVerifier {
    TokenVerifier::new(
        iam_file("us-east-1", &[(KEY_ID, SECRET, None)], policies),
        vec!["localhost:6432".into(), "127.0.0.1:6432".into()],
        SKEW,
    )
}

fn verifier() -> TokenVerifier {
    verifier_with(&[ALLOW_ALL])
}

fn token_for(user: &str) -> String {
    generate_token(
        "localhost",
        6432,
        user,
        "us-east-1",
        &creds(KEY_ID, SECRET, None),
        at(T0),
    )
    .expect("generate")
}

fn alice_ok() -> Result<Verified, Rejection> {
    Ok(Verified {
        iam_user: "alice".into(),
        access_key_id: KEY_ID.into(),
    })
}

/// Replaces the (still escaped) value of query parameter `name`.
fn with_param(token: &str, name: &str, value: &str) -> String {
    let (head, query) = token.split_once("/?").unwrap();
    let pairs: Vec<String> = query
        .split('&')
        .map(|p| {
            let (k, _) = p.split_once('=').unwrap();
            if k == name {
                format!("{k}={value}")
            } else {
                p.to_owned()
            }
        })
        .collect();
    assert!(query.contains(&format!("{name}=")), "{name} not in {token}");
    format!("{head}/?{}", pairs.join("&"))
}

fn without_param(token: &str, name: &str) -> String {
    let (head, query) = token.split_once("/?").unwrap();
    let pairs: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with(&format!("{name}=")))
        .collect();
    format!("{head}/?{}", pairs.join("&"))
}

#[derive(serde::Deserialize)]
struct Vectors {
    tokens: Vec<Vector>,
}

#[derive(serde::Deserialize)]
struct Vector {
    name: String,
    host: String,
    port: u16,
    user: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    unix_time: u64,
    token: String,
}

fn boto3_vectors() -> Vec<Vector> {
    let v: Vectors =
        serde_json::from_str(include_str!("data/iam/boto3_tokens.json")).expect("json");
    assert_eq!(v.tokens.len(), 3);
    v.tokens
}

#[test]
fn boto3_tokens_verify_at_their_time_and_only_then() {
    for v in boto3_vectors() {
        let iam = iam_file(
            &v.region,
            &[(
                &v.access_key_id,
                &v.secret_access_key,
                v.session_token.as_deref(),
            )],
            &[&format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:{}:{ACCOUNT}:dbuser:{CLUSTER}/{}"}}}}"#,
                v.region,
                v.user.replace('"', "\\\"")
            )],
        );
        let verifier =
            TokenVerifier::new(iam, vec![format!("{}:{}", v.host, v.port)], Duration::ZERO);
        let ok = Ok(Verified {
            iam_user: "alice".into(),
            access_key_id: v.access_key_id.clone(),
        });
        assert_eq!(
            verifier.verify(&v.token, &v.user, at(v.unix_time)),
            ok,
            "{}",
            v.name
        );
        assert_eq!(
            verifier.verify(&v.token, &v.user, at(v.unix_time + 900)),
            ok,
            "{}",
            v.name
        );
        assert_eq!(
            verifier.verify(&v.token, &v.user, at(v.unix_time + 901)),
            Err(Rejection::Expired),
            "{}",
            v.name
        );
        assert_eq!(
            verifier.verify(&v.token, &v.user, at(v.unix_time - 1)),
            Err(Rejection::FutureDated),
            "{}",
            v.name
        );
        // The AWS CLI prints the same token; some clients add the scheme.
        assert_eq!(
            verifier.verify(&format!("https://{}", v.token), &v.user, at(v.unix_time)),
            ok,
            "{}",
            v.name
        );
    }
}

#[test]
fn generate_token_reproduces_boto3_byte_for_byte() {
    for v in boto3_vectors() {
        let made = generate_token(
            &v.host,
            v.port,
            &v.user,
            &v.region,
            &creds(
                &v.access_key_id,
                &v.secret_access_key,
                v.session_token.as_deref(),
            ),
            at(v.unix_time),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(made, v.token, "{}", v.name);
    }
}

#[test]
fn generated_token_has_the_aws_cli_shape() {
    let token = token_for("alice");
    assert!(
        token.starts_with(
            "localhost:6432/?Action=connect&DBUser=alice&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260314%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20260314T150926Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature="
        ),
        "{token}"
    );
    assert_eq!(verifier().verify(&token, "alice", at(T0)), alice_ok());
}

#[test]
fn expired_tokens_are_refused_after_expiry_plus_skew() {
    let v = verifier();
    let token = token_for("alice");
    assert_eq!(v.verify(&token, "alice", at(T0 + 900 + 60)), alice_ok());
    assert_eq!(
        v.verify(&token, "alice", at(T0 + 900 + 61)),
        Err(Rejection::Expired)
    );
    assert_eq!(
        v.verify(&token, "alice", at(T0 + 86_400)),
        Err(Rejection::Expired)
    );
    // A validity beyond RDS's 15 minutes, or none, is refused whatever the time.
    assert_eq!(
        v.verify(&with_param(&token, "X-Amz-Expires", "901"), "alice", at(T0)),
        Err(Rejection::Expired)
    );
    assert_eq!(
        v.verify(&with_param(&token, "X-Amz-Expires", "0"), "alice", at(T0)),
        Err(Rejection::Expired)
    );
    // A shorter validity is honoured (and signed: changing it breaks the signature).
    assert_eq!(
        v.verify(
            &with_param(&token, "X-Amz-Expires", "300"),
            "alice",
            at(T0 + 400)
        ),
        Err(Rejection::Expired)
    );
    assert_eq!(
        v.verify(&with_param(&token, "X-Amz-Expires", "300"), "alice", at(T0)),
        Err(Rejection::Signature)
    );
}

#[test]
fn future_dated_tokens_are_refused_beyond_skew() {
    let v = verifier();
    let token = token_for("alice");
    assert_eq!(v.verify(&token, "alice", at(T0 - 60)), alice_ok());
    assert_eq!(
        v.verify(&token, "alice", at(T0 - 61)),
        Err(Rejection::FutureDated)
    );
    assert_eq!(
        v.verify(&token, "alice", at(T0 - 86_400)),
        Err(Rejection::FutureDated)
    );
}

#[test]
fn wrong_signatures_are_refused() {
    let v = verifier();
    let token = token_for("alice");
    let sig = token.rsplit_once("X-Amz-Signature=").unwrap().1;
    let mut flipped = sig.to_owned().into_bytes();
    flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(
        v.verify(
            &with_param(&token, "X-Amz-Signature", &flipped),
            "alice",
            at(T0)
        ),
        Err(Rejection::Signature)
    );
    // Signed with another secret for the same key id.
    let forged = generate_token(
        "localhost",
        6432,
        "alice",
        "us-east-1",
        &creds(KEY_ID, "not-the-secret", None),
        at(T0),
    )
    .unwrap();
    assert_eq!(
        v.verify(&forged, "alice", at(T0)),
        Err(Rejection::Signature)
    );
    // Every signed part is covered: user, date, host.
    let bob = with_param(&token, "DBUser", "bob");
    assert_eq!(v.verify(&bob, "bob", at(T0)), Err(Rejection::Signature));
    let later = with_param(&token, "X-Amz-Date", "20260314T151000Z");
    assert_eq!(v.verify(&later, "alice", at(T0)), Err(Rejection::Signature));
    let other_endpoint = token.replacen("localhost:6432", "127.0.0.1:6432", 1);
    assert_eq!(
        v.verify(&other_endpoint, "alice", at(T0)),
        Err(Rejection::Signature)
    );
    // Adding a session token to a token signed without one.
    let with_session = format!("{token}&X-Amz-Security-Token=abc");
    assert_eq!(
        v.verify(&with_session, "alice", at(T0)),
        Err(Rejection::Signature)
    );
}

#[test]
fn wrong_user_is_refused() {
    let v = verifier();
    let token = token_for("alice");
    assert_eq!(
        v.verify(&token, "bob", at(T0)),
        Err(Rejection::UserMismatch)
    );
    assert_eq!(
        v.verify(&token, "Alice", at(T0)),
        Err(Rejection::UserMismatch)
    );
    assert_eq!(
        v.verify(&token, "alice ", at(T0)),
        Err(Rejection::UserMismatch)
    );
}

#[test]
fn wrong_host_or_port_is_refused() {
    let v = verifier();
    let c = creds(KEY_ID, SECRET, None);
    let wrong_host =
        generate_token("db.example.com", 6432, "alice", "us-east-1", &c, at(T0)).unwrap();
    assert_eq!(
        v.verify(&wrong_host, "alice", at(T0)),
        Err(Rejection::Endpoint)
    );
    let wrong_port = generate_token("localhost", 6433, "alice", "us-east-1", &c, at(T0)).unwrap();
    assert_eq!(
        v.verify(&wrong_port, "alice", at(T0)),
        Err(Rejection::Endpoint)
    );
    // Both endpoint names are accepted, and host names compare as DNS does.
    let by_ip = generate_token("127.0.0.1", 6432, "alice", "us-east-1", &c, at(T0)).unwrap();
    assert_eq!(v.verify(&by_ip, "alice", at(T0)), alice_ok());
    let upper = generate_token("LocalHost", 6432, "alice", "us-east-1", &c, at(T0)).unwrap();
    assert_eq!(v.verify(&upper, "alice", at(T0)), alice_ok());
}

#[test]
fn unknown_keys_are_refused() {
    let v = verifier();
    let stranger = generate_token(
        "localhost",
        6432,
        "alice",
        "us-east-1",
        &creds("AKIAI44QH8DHBEXAMPLE", SECRET, None),
        at(T0),
    )
    .unwrap();
    assert_eq!(
        v.verify(&stranger, "alice", at(T0)),
        Err(Rejection::UnknownKey)
    );
}

#[test]
fn pinned_session_tokens_must_match() {
    let session = "IQoJb3JpZ2luX2VjEXAMPLE+/=";
    let v = TokenVerifier::new(
        iam_file(
            "us-east-1",
            &[(KEY_ID, SECRET, Some(session))],
            &[ALLOW_ALL],
        ),
        vec!["localhost:6432".into()],
        SKEW,
    );
    let good = generate_token(
        "localhost",
        6432,
        "alice",
        "us-east-1",
        &creds(KEY_ID, SECRET, Some(session)),
        at(T0),
    )
    .unwrap();
    assert!(
        good.contains("&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2B%2F%3D&"),
        "{good}"
    );
    assert_eq!(v.verify(&good, "alice", at(T0)), alice_ok());
    let other = generate_token(
        "localhost",
        6432,
        "alice",
        "us-east-1",
        &creds(KEY_ID, SECRET, Some("other")),
        at(T0),
    )
    .unwrap();
    assert_eq!(
        v.verify(&other, "alice", at(T0)),
        Err(Rejection::UnknownKey)
    );
    let none = generate_token(
        "localhost",
        6432,
        "alice",
        "us-east-1",
        &creds(KEY_ID, SECRET, None),
        at(T0),
    )
    .unwrap();
    assert_eq!(v.verify(&none, "alice", at(T0)), Err(Rejection::UnknownKey));
    // Unpinned keys accept a session token, which is signed.
    let unpinned = verifier();
    let signed = generate_token(
        "localhost",
        6432,
        "alice",
        "us-east-1",
        &creds(KEY_ID, SECRET, Some("tok")),
        at(T0),
    )
    .unwrap();
    assert_eq!(unpinned.verify(&signed, "alice", at(T0)), alice_ok());
    let tampered = with_param(&signed, "X-Amz-Security-Token", "tak");
    assert_eq!(
        unpinned.verify(&tampered, "alice", at(T0)),
        Err(Rejection::Signature)
    );
}

fn statement(effect: &str, action: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Action":"{action}","Resource":"{resource}"}}]}}"#
    )
}

#[test]
fn policies_decide_who_may_connect_as_whom() {
    let arn = |user: &str| format!("arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:{CLUSTER}/{user}");
    let alice = token_for("alice");
    let bob = token_for("bob");
    let check = |policies: &[&str], token: &str, user: &str| {
        verifier_with(policies).verify(token, user, at(T0))
    };

    // No policy: implicit deny.
    assert_eq!(check(&[], &alice, "alice"), Err(Rejection::PolicyDenied));
    // Exact ARN: only that user.
    let exact = statement("Allow", "rds-db:connect", &arn("alice"));
    assert_eq!(check(&[&exact], &alice, "alice"), alice_ok());
    assert_eq!(check(&[&exact], &bob, "bob"), Err(Rejection::PolicyDenied));
    // Wildcards as IAM allows them.
    for (action, resource) in [
        ("rds-db:*", arn("*")),
        ("*", "*".to_owned()),
        (
            "rds-db:conn?ct",
            format!("arn:aws:rds-db:*:{ACCOUNT}:dbuser:cluster-*/a?ice"),
        ),
        ("RDS-DB:Connect", "arn:aws:rds-db:us-east-1:*".to_owned()),
    ] {
        let p = statement("Allow", action, &resource);
        assert_eq!(check(&[&p], &alice, "alice"), alice_ok(), "{p}");
    }
    // Other actions, clusters, regions, accounts do not grant connect.
    for (action, resource) in [
        ("rds-db:disconnect", arn("alice")),
        ("rds:*", arn("alice")),
        (
            "rds-db:connect",
            format!("arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:cluster-OTHER/alice"),
        ),
        (
            "rds-db:connect",
            format!("arn:aws:rds-db:eu-west-1:{ACCOUNT}:dbuser:{CLUSTER}/alice"),
        ),
        (
            "rds-db:connect",
            format!("arn:aws:rds-db:us-east-1:210987654321:dbuser:{CLUSTER}/alice"),
        ),
        (
            "rds-db:connect",
            format!("arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:{CLUSTER}/Alice"),
        ),
        // A `*` inside a segment does not run across colons.
        (
            "rds-db:connect",
            format!("arn:aws:rds-db:us*dbuser:{CLUSTER}/alice"),
        ),
    ] {
        let p = statement("Allow", action, &resource);
        assert_eq!(
            check(&[&p], &alice, "alice"),
            Err(Rejection::PolicyDenied),
            "{p}"
        );
    }
    // Explicit deny wins over allow, in either order and across policies.
    let allow_all = statement("Allow", "rds-db:*", "*");
    let deny_alice = statement("Deny", "rds-db:connect", &arn("alice"));
    assert_eq!(
        check(&[&allow_all, &deny_alice], &alice, "alice"),
        Err(Rejection::PolicyDenied)
    );
    assert_eq!(
        check(&[&deny_alice, &allow_all], &alice, "alice"),
        Err(Rejection::PolicyDenied)
    );
    assert_eq!(check(&[&allow_all, &deny_alice], &bob, "bob"), alice_ok());
    let both = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Action":["rds-db:connect"],"Resource":["{}","{}"]}},{{"Sid":"x","Effect":"Deny","Action":"*","Resource":"arn:aws:rds-db:*:*:dbuser:*/b*"}}]}}"#,
        arn("alice"),
        arn("bob")
    );
    assert_eq!(check(&[&both], &alice, "alice"), alice_ok());
    assert_eq!(check(&[&both], &bob, "bob"), Err(Rejection::PolicyDenied));
}

#[test]
fn scope_algorithm_and_signed_headers_are_checked() {
    let v = verifier();
    let token = token_for("alice");
    assert_eq!(
        v.verify(
            &with_param(&token, "X-Amz-Algorithm", "AWS4-HMAC-SHA512"),
            "alice",
            at(T0)
        ),
        Err(Rejection::Algorithm)
    );
    assert_eq!(
        v.verify(
            &with_param(&token, "X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256"),
            "alice",
            at(T0)
        ),
        Err(Rejection::Algorithm)
    );
    assert_eq!(
        v.verify(
            &with_param(&token, "X-Amz-SignedHeaders", "host%3Bx-amz-date"),
            "alice",
            at(T0)
        ),
        Err(Rejection::SignedHeaders)
    );
    assert_eq!(
        v.verify(
            &with_param(&token, "X-Amz-SignedHeaders", "Host"),
            "alice",
            at(T0)
        ),
        Err(Rejection::SignedHeaders)
    );
    let scope = |s: &str| with_param(&token, "X-Amz-Credential", &s.replace('/', "%2F"));
    for bad in [
        "AKIAIOSFODNN7EXAMPLE/20260315/us-east-1/rds-db/aws4_request",
        "AKIAIOSFODNN7EXAMPLE/20260314/eu-west-1/rds-db/aws4_request",
        "AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/rds/aws4_request",
        "AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/rds-db/aws4_requests",
        "AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/rds-db",
        "AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/rds-db/aws4_request/x",
    ] {
        assert_eq!(
            v.verify(&scope(bad), "alice", at(T0)),
            Err(Rejection::CredentialScope),
            "{bad}"
        );
    }
    // A token correctly signed for another region.
    let eu = generate_token(
        "localhost",
        6432,
        "alice",
        "eu-west-1",
        &creds(KEY_ID, SECRET, None),
        at(T0),
    )
    .unwrap();
    assert_eq!(
        v.verify(&eu, "alice", at(T0)),
        Err(Rejection::CredentialScope)
    );
}

#[test]
fn malformed_tokens_are_refused() {
    let v = verifier();
    let token = token_for("alice");
    let sig = token.rsplit_once("X-Amz-Signature=").unwrap().1.to_owned();
    let mut cases = vec![
        String::new(),
        "hunter2".to_owned(),
        token.replacen("/?", "?", 1),
        token.replacen("localhost:6432", "localhost", 1),
        token.replacen("localhost:6432", "localhost:port", 1),
        token.replacen("localhost:6432", ":6432", 1),
        token.replacen("localhost:6432", "user@localhost:6432", 1),
        format!("http://{token}"),
        format!("{token}&"),
        format!("{token}&X-Amz-Signature={sig}"),
        format!("{token}&X-Amz-Foo=1"),
        format!("{token}&DBUser=alice"),
        with_param(&token, "Action", "login"),
        with_param(&token, "DBUser", "%FF"),
        with_param(&token, "DBUser", "%zz"),
        with_param(&token, "DBUser", "alice%2"),
        with_param(&token, "DBUser", ""),
        with_param(&token, "DBUser", &"a".repeat(64)),
        with_param(&token, "X-Amz-Date", "2026-03-14T15:09:26Z"),
        with_param(&token, "X-Amz-Date", "20260230T150926Z"),
        with_param(&token, "X-Amz-Expires", "15m"),
        with_param(&token, "X-Amz-Expires", "99999999999999999999"),
        with_param(&token, "X-Amz-Signature", &sig.to_uppercase()),
        with_param(&token, "X-Amz-Signature", &sig[..63]),
        with_param(
            &token,
            "X-Amz-Credential",
            "%2F20260314%2Fus-east-1%2Frds-db%2Faws4_request",
        ),
        format!("{token}&X-Amz-Security-Token="),
        format!("{token}&{}", "x".repeat(9000)),
    ];
    for name in [
        "Action",
        "DBUser",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ] {
        cases.push(without_param(&token, name));
    }
    for bad in cases {
        assert_eq!(
            v.verify(&bad, "alice", at(T0)),
            Err(Rejection::Malformed),
            "{bad}"
        );
    }
}

#[test]
fn generate_token_refuses_bad_input() {
    let c = creds(KEY_ID, SECRET, None);
    for (host, user, region) in [
        ("", "alice", "us-east-1"),
        ("a/b", "alice", "us-east-1"),
        ("localhost", "", "us-east-1"),
        ("localhost", "alice", ""),
        ("localhost", "alice", "US-EAST-1"),
    ] {
        let e = generate_token(host, 6432, user, region, &c, at(T0)).unwrap_err();
        assert!(e.to_string().starts_with("cannot make a token: "), "{e}");
    }
}

/// Reorders the query parameters of `token` by `order` (a permutation seed).
fn shuffle_params(token: &str, order: &[usize]) -> String {
    let (head, query) = token.split_once("/?").unwrap();
    let mut pairs: Vec<&str> = query.split('&').collect();
    for (i, j) in order.iter().enumerate() {
        let i = i % pairs.len();
        let j = j % pairs.len();
        pairs.swap(i, j);
    }
    format!("{head}/?{}", pairs.join("&"))
}

fn host_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?(\\.[a-z0-9]{1,10}){0,3}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("[::1]".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generate_then_verify_round_trips(
        user in "[^\u{0}]{1,15}".prop_filter("a PostgreSQL role name", |u| u.len() <= 63),
        host in host_strategy(),
        port in 1u16..,
        session in proptest::option::of("[A-Za-z0-9+/=]{1,200}"),
        order in proptest::collection::vec(any::<usize>(), 0..12),
        scheme in any::<bool>(),
        secs in 0u64..3_000_000_000,
    ) {
        let c = creds(KEY_ID, SECRET, session.as_deref());
        let token = generate_token(&host, port, &user, "us-east-1", &c, at(secs)).unwrap();
        let verifier = TokenVerifier::new(
            iam_file("us-east-1", &[(KEY_ID, SECRET, None)], &[&statement("Allow", "rds-db:connect", &format!("arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:{CLUSTER}/*"))]),
            vec![format!("{host}:{port}")],
            Duration::ZERO,
        );
        let mut sent = shuffle_params(&token, &order);
        if scheme {
            sent = format!("https://{sent}");
        }
        prop_assert_eq!(verifier.verify(&sent, &user, at(secs + 450)), alice_ok());
        prop_assert_eq!(verifier.verify(&sent, &user, at(secs + 901)), Err(Rejection::Expired));
    }
}
