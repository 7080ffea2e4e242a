//! SigV4-signed requests against the IAM file: requests signed by botocore
//! (`data/sigv4/vectors.json`, made by `make_vectors.py` there) verify,
//! and every tampered variant is refused with its reason. Independent of
//! the verifier's own signer, which is checked against botocore too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use sextant_cdc_ingest::ingest::iam::{IamFile, Rejection, SignedRequest, Signer};

const IAM_FILE: &str = r#"
region = "us-east-1"
account = "123456789012"
cluster_id = "cluster-SEXTANTDEV"

[[iam_users]]
name = "alice"
access_keys = [
  { id = "AKIAIOSFODNN7EXAMPLE", secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
  { id = "ASIAQEXAMPLEEXAMPLE7", secret = "tempSecretKeyEXAMPLE0123456789abcdefABCD", session_token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN" },
]
policies = ['''
{
  "Version": "2012-10-17",
  "Statement": [
    { "Effect": "Allow", "Action": "sextant-ingest:PutEvents",
      "Resource": "arn:aws:sextant-ingest:us-east-1:123456789012:table:cluster-SEXTANTDEV/*" },
    { "Effect": "Deny", "Action": "sextant-ingest:*",
      "Resource": "arn:aws:sextant-ingest:*:*:table:*/secret" }
  ]
}
''']

[[password_users]]
name = "reporting"
password = "correct horse battery staple"
"#;

struct Vector {
    name: String,
    table: String,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    now: SystemTime,
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("data/sigv4/vectors.json");
    let list: Vec<Value> = serde_json::from_str(text).unwrap();
    list.iter()
        .map(|v| {
            let mut headers = HeaderMap::new();
            for (name, value) in v["headers"].as_object().unwrap() {
                headers.insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
                );
            }
            let hex = v["body_hex"].as_str().unwrap();
            let body = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            Vector {
                name: v["name"].as_str().unwrap().to_owned(),
                table: v["table"].as_str().unwrap().to_owned(),
                path: v["path"].as_str().unwrap().to_owned(),
                headers,
                body,
                now: UNIX_EPOCH + Duration::from_secs(v["now"].as_u64().unwrap()),
            }
        })
        .collect()
}

fn verify(
    iam: &IamFile,
    v: &Vector,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Rejection> {
    let request = SignedRequest {
        method: "POST",
        path: &v.path,
        query: None,
        headers,
        body,
    };
    iam.verify(&request, &v.table, v.now)
}

#[test]
fn botocore_signed_requests_verify_and_policies_apply() {
    let iam = IamFile::parse(IAM_FILE).unwrap();
    let vectors = vectors();
    assert_eq!(vectors.len(), 5);
    for v in &vectors {
        let result = verify(&iam, v, &v.headers, &v.body);
        if v.name == "denied table" {
            assert!(
                matches!(result, Err(Rejection::Denied { .. })),
                "{}: {result:?}",
                v.name
            );
        } else {
            assert_eq!(result.as_deref(), Ok("alice"), "{}", v.name);
        }
    }
}

#[test]
fn tampered_requests_are_refused_with_their_reason() {
    let iam = IamFile::parse(IAM_FILE).unwrap();
    let vectors = vectors();
    let v = &vectors[0];
    let check = |headers: &HeaderMap, body: &[u8]| verify(&iam, v, headers, body);

    let mut body = v.body.clone();
    body[8] ^= 1;
    assert_eq!(
        check(&v.headers, &body),
        Err(Rejection::Signature),
        "body changed"
    );

    let mut headers = v.headers.clone();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    assert_eq!(
        check(&headers, &v.body),
        Err(Rejection::Signature),
        "signed header changed"
    );

    let mut headers = v.headers.clone();
    headers.insert("host", HeaderValue::from_static("elsewhere:8080"));
    assert_eq!(
        check(&headers, &v.body),
        Err(Rejection::Signature),
        "host changed"
    );

    let auth = v.headers["authorization"].to_str().unwrap();
    let swap = |from: &str, to: &str| {
        let mut headers = v.headers.clone();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&auth.replace(from, to)).unwrap(),
        );
        headers
    };
    assert_eq!(
        check(
            &swap("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLF"),
            &v.body
        ),
        Err(Rejection::UnknownKey)
    );
    assert!(matches!(
        check(&swap("us-east-1", "eu-west-1"), &v.body),
        Err(Rejection::Scope(_))
    ));
    assert!(matches!(
        check(&swap("sextant-ingest", "rds-db"), &v.body),
        Err(Rejection::Scope(_))
    ));
    assert!(matches!(
        check(&swap(";host", ""), &v.body),
        Err(Rejection::Malformed(_))
    ));

    let late = Vector {
        now: v.now + Duration::from_secs(6 * 60),
        ..clone_vector(v)
    };
    assert_eq!(
        verify(&iam, &late, &v.headers, &v.body),
        Err(Rejection::ClockSkew)
    );
    let early = Vector {
        now: v.now - Duration::from_secs(6 * 60),
        ..clone_vector(v)
    };
    assert_eq!(
        verify(&iam, &early, &v.headers, &v.body),
        Err(Rejection::ClockSkew)
    );

    // Temporary credentials need their session token.
    let temp = &vectors[3];
    let mut headers = temp.headers.clone();
    headers.insert(
        "x-amz-security-token",
        HeaderValue::from_static("IQoJb3JpZ2luX2VjOTHER"),
    );
    assert_eq!(
        verify(&iam, temp, &headers, &temp.body),
        Err(Rejection::SessionToken)
    );
    let mut headers = temp.headers.clone();
    headers.remove("x-amz-security-token");
    assert_eq!(
        verify(&iam, temp, &headers, &temp.body),
        Err(Rejection::SessionToken)
    );
}

fn clone_vector(v: &Vector) -> Vector {
    Vector {
        name: v.name.clone(),
        table: v.table.clone(),
        path: v.path.clone(),
        headers: v.headers.clone(),
        body: v.body.clone(),
        now: v.now,
    }
}

#[test]
fn the_crate_signer_matches_botocore() {
    let v = &vectors()[0];
    let signer = Signer {
        key_id: "AKIAIOSFODNN7EXAMPLE",
        secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: None,
        region: "us-east-1",
    };
    let added = signer.sign(
        "POST",
        &v.path,
        &[
            ("content-type", "application/x-ndjson"),
            ("host", "ingest.example:8080"),
        ],
        &v.body,
        v.now,
    );
    let authorization = added.iter().find(|(n, _)| n == "authorization").unwrap();
    assert_eq!(
        authorization.1,
        v.headers["authorization"].to_str().unwrap()
    );
}

#[test]
fn iam_files_with_unknown_keys_or_conditions_are_refused() {
    assert!(IamFile::parse(&IAM_FILE.replace("cluster_id", "cluster")).is_err());
    let conditional = IAM_FILE.replace(
        r#""Effect": "Deny","#,
        r#""Effect": "Deny", "Condition": {},"#,
    );
    let err = IamFile::parse(&conditional).unwrap_err();
    assert!(err.contains("Condition"), "{err}");
}
