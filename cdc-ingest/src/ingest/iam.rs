//! AWS SigV4-signed requests, verified against the proxy's IAM file.
//!
//! Producers that hold AWS-style access keys sign their requests as any AWS
//! SDK signs a call (`Authorization: AWS4-HMAC-SHA256 Credential=…`), with
//! service name [`SERVICE`] and the IAM file's region. The service
//! recomputes the signature with the key's secret from the same IAM file
//! the proxy uses (`proxy/src/iam`, whose module doc defines the format),
//! then evaluates the user's policies for action [`ACTION`] on
//! `arn:aws:sextant-ingest:REGION:ACCOUNT:table:CLUSTER_ID/TABLE`.
//!
//! This is an independent code path on purpose: cdc-ingest depends on no
//! other Sextant service crate. It reads the same file (`region`,
//! `account`, `cluster_id`, `[[iam_users]]` with `access_keys` and
//! `policies`; `[[password_users]]` are for the proxy and are skipped) and
//! applies the same policy rules: `Effect`/`Action`/`Resource`/`Sid` only,
//! keys that would narrow a grant (`Condition`, `NotAction`, …) refused at
//! load, explicit deny first, `*` and `?` wildcards with ARN wildcards kept
//! within one colon-separated segment unless the `*` ends the pattern or a
//! segment. Test vectors signed by botocore (`tests/data/sigv4/`) check the
//! canonical request independently of this code.
//!
//! What is signed: the method, the path, the signed headers (which must
//! include `host` and `x-amz-date`), and the SHA-256 of the body as sent
//! (before gzip decoding). Requests dated more than [`CLOCK_SKEW_MAX`] away
//! from now are refused, as AWS does, which bounds replays; replays inside
//! the window are harmless because ingest is idempotent.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use hmac::{KeyInit as _, Mac as _};
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;

/// The service name in the credential scope.
pub const SERVICE: &str = "sextant-ingest";
/// The action a policy must allow.
pub const ACTION: &str = "sextant-ingest:PutEvents";
/// How far a request's `X-Amz-Date` may be from now (AWS allows 5 minutes).
pub const CLOCK_SKEW_MAX: Duration = Duration::from_secs(5 * 60);
/// Largest IAM file read (the proxy's bound).
pub const IAM_FILE_BYTES_MAX: u64 = 16 << 20;
/// Longest `Authorization` header parsed.
pub const AUTHORIZATION_BYTES_MAX: usize = 4096;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Why the IAM file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IamFileError {
    /// It could not be read.
    #[error("failed to read IAM file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a valid IAM file.
    #[error("IAM file {path}: {message}")]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Why a signed request was refused (HTTP 401; the reason is told to the
/// producer, who needs it to fix its signer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The Authorization header or a signed header is malformed.
    #[error("malformed SigV4 request: {0}")]
    Malformed(String),
    /// The credential scope is not this service's.
    #[error(
        "credential scope {0:?} is not DATE/{region}/{SERVICE}/aws4_request",
        region = "REGION"
    )]
    Scope(String),
    /// `X-Amz-Date` is too far from now.
    #[error("X-Amz-Date is more than {} s from the server's clock", CLOCK_SKEW_MAX.as_secs())]
    ClockSkew,
    /// No such access key in the IAM file.
    #[error("unknown access key")]
    UnknownKey,
    /// The key's pinned session token was not presented (signed).
    #[error("the access key needs its session token in X-Amz-Security-Token")]
    SessionToken,
    /// The signature does not match.
    #[error("the signature does not match")]
    Signature,
    /// The user's policies do not allow the action on the table.
    #[error("user {user} is not allowed {ACTION} on {resource}")]
    Denied {
        /// The IAM user.
        user: String,
        /// The table's ARN.
        resource: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    region: String,
    account: String,
    cluster_id: String,
    #[serde(default)]
    iam_users: Vec<UserToml>,
    /// The proxy's SCRAM users; not ours to check.
    #[serde(default)]
    #[allow(dead_code)]
    password_users: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserToml {
    name: String,
    #[serde(default)]
    access_keys: Vec<KeyToml>,
    #[serde(default)]
    policies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyToml {
    id: String,
    secret: String,
    session_token: Option<String>,
}

struct Key {
    user: usize,
    secret: String,
    session_token: Option<String>,
}

struct User {
    name: String,
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// The parts of the IAM file the ingest service uses.
pub struct IamFile {
    region: String,
    account: String,
    cluster_id: String,
    users: Vec<User>,
    keys: HashMap<String, Key>,
}

impl std::fmt::Debug for IamFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamFile")
            .field("region", &self.region)
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl IamFile {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<IamFile, IamFileError> {
        let read = |source| IamFileError::Read {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > IAM_FILE_BYTES_MAX {
            return Err(IamFileError::Invalid {
                path: path.to_owned(),
                message: format!("{size} bytes; at most {IAM_FILE_BYTES_MAX} are read"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        IamFile::parse(&text).map_err(|message| IamFileError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<IamFile, String> {
        let file: FileToml = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.region.is_empty() || file.account.is_empty() || file.cluster_id.is_empty() {
            return Err("region, account and cluster_id must not be empty".into());
        }
        let mut users = Vec::new();
        let mut keys = HashMap::new();
        let mut names = HashSet::new();
        for (i, user) in file.iam_users.into_iter().enumerate() {
            if !names.insert(user.name.clone()) {
                return Err(format!("iam user {:?} is listed twice", user.name));
            }
            let mut statements = Vec::new();
            for (p, policy) in user.policies.iter().enumerate() {
                statements.extend(
                    parse_policy(policy)
                        .map_err(|e| format!("iam user {:?} policy {}: {e}", user.name, p + 1))?,
                );
            }
            for key in user.access_keys {
                if key.id.is_empty() || key.secret.is_empty() {
                    return Err(format!(
                        "iam user {:?}: empty access key id or secret",
                        user.name
                    ));
                }
                let id = key.id.clone();
                let previous = keys.insert(
                    key.id,
                    Key {
                        user: i,
                        secret: key.secret,
                        session_token: key.session_token,
                    },
                );
                if previous.is_some() {
                    return Err(format!("access key {id} is listed twice"));
                }
            }
            users.push(User {
                name: user.name,
                statements,
            });
        }
        Ok(IamFile {
            region: file.region,
            account: file.account,
            cluster_id: file.cluster_id,
            users,
            keys,
        })
    }

    /// The ARN a policy grants access to `table` by.
    pub fn table_arn(&self, table: &str) -> String {
        format!(
            "arn:aws:{SERVICE}:{}:{}:table:{}/{table}",
            self.region, self.account, self.cluster_id
        )
    }

    /// Verifies a signed request for `table`; returns the IAM user's name.
    pub fn verify(
        &self,
        request: &SignedRequest<'_>,
        table: &str,
        now: SystemTime,
    ) -> Result<String, Rejection> {
        let SignedRequest {
            method,
            path,
            query,
            headers,
            body,
        } = *request;
        let malformed = |m: &str| Rejection::Malformed(m.to_owned());
        let header = headers
            .get("authorization")
            .ok_or_else(|| malformed("no Authorization header"))?
            .to_str()
            .map_err(|_| malformed("the Authorization header is not ASCII"))?;
        if header.len() > AUTHORIZATION_BYTES_MAX {
            return Err(malformed("the Authorization header is too long"));
        }
        let auth = parse_authorization(header)?;
        if query.is_some_and(|q| !q.is_empty()) {
            return Err(malformed("signed requests may not have a query string"));
        }
        let scope: Vec<&str> = auth.credential.splitn(5, '/').collect();
        let [key_id, date, region, service, terminator] = scope[..] else {
            return Err(malformed(
                "Credential is not KEY/DATE/REGION/SERVICE/aws4_request",
            ));
        };
        let scope_text = auth.credential[key_id.len() + 1..].to_owned();
        if region != self.region || service != SERVICE || terminator != "aws4_request" {
            return Err(Rejection::Scope(scope_text));
        }
        let signed: Vec<&str> = auth.signed_headers.split(';').collect();
        if !signed.contains(&"host") || !signed.contains(&"x-amz-date") {
            return Err(malformed("SignedHeaders must include host and x-amz-date"));
        }
        if signed.windows(2).any(|w| w[0] >= w[1])
            || signed
                .iter()
                .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return Err(malformed(
                "SignedHeaders must be sorted, lower-case and distinct",
            ));
        }
        let amz_date =
            header_value(headers, "x-amz-date").ok_or_else(|| malformed("no X-Amz-Date header"))?;
        let signed_at = parse_amz_date(&amz_date)
            .ok_or_else(|| malformed("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?;
        if amz_date[..8] != *date {
            return Err(Rejection::Scope(scope_text));
        }
        let skew = match now.duration_since(signed_at) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if skew > CLOCK_SKEW_MAX {
            return Err(Rejection::ClockSkew);
        }
        let key = self.keys.get(key_id).ok_or(Rejection::UnknownKey)?;
        if let Some(token) = &key.session_token {
            let presented = header_value(headers, "x-amz-security-token");
            if !signed.contains(&"x-amz-security-token")
                || !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()))
            {
                return Err(Rejection::SessionToken);
            }
        }

        let mut canonical_headers = String::new();
        for name in &signed {
            let value = header_value(headers, name)
                .ok_or_else(|| Rejection::Malformed(format!("signed header {name} is missing")))?;
            canonical_headers += &format!("{name}:{value}\n");
        }
        let payload_hash = hex(&sha2::Sha256::digest(body));
        if let Some(claimed) = header_value(headers, "x-amz-content-sha256") {
            if claimed != payload_hash {
                return Err(Rejection::Signature);
            }
        }
        let canonical_request = format!(
            "{method}\n{}\n\n{canonical_headers}\n{}\n{payload_hash}",
            canonical_uri(path),
            auth.signed_headers
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope_text}\n{}",
            hex(&sha2::Sha256::digest(canonical_request.as_bytes()))
        );
        let signature = hex(&signing_mac(&key.secret, date, region, &string_to_sign));
        if !constant_time_eq(signature.as_bytes(), auth.signature.as_bytes()) {
            return Err(Rejection::Signature);
        }
        let user = &self.users[key.user];
        let resource = self.table_arn(table);
        if !allowed(&user.statements, ACTION, &resource) {
            return Err(Rejection::Denied {
                user: user.name.clone(),
                resource,
            });
        }
        Ok(user.name.clone())
    }
}

/// A request as received, for [`IamFile::verify`].
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The path as received.
    pub path: &'a str,
    /// The query string, if any (refused: the API has none).
    pub query: Option<&'a str>,
    /// Every header.
    pub headers: &'a HeaderMap,
    /// The body as sent (before gzip decoding).
    pub body: &'a [u8],
}

struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, Rejection> {
    let malformed = |m: &str| Rejection::Malformed(m.to_owned());
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| malformed("the algorithm must be AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("Authorization parts are NAME=VALUE"))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed("unknown part in the Authorization header")),
        };
        if slot.replace(value).is_some() {
            return Err(malformed("a part of the Authorization header is repeated"));
        }
    }
    let signature = signature.ok_or_else(|| malformed("no Signature"))?;
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(malformed("Signature must be 64 lower-case hex digits"));
    }
    Ok(Authorization {
        credential: credential.ok_or_else(|| malformed("no Credential"))?,
        signed_headers: signed_headers.ok_or_else(|| malformed("no SignedHeaders"))?,
        signature,
    })
}

/// A header's values as SigV4 canonicalizes them: trimmed, inner runs of
/// spaces collapsed, several values joined by commas.
fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The path with every byte but unreserved ones and `/` percent-encoded
/// (non-S3 services encode the already-encoded path once more).
fn canonical_uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out += &format!("%{b:02X}");
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn signing_mac(secret: &str, date: &str, region: &str, string_to_sign: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, SERVICE, "aws4_request", string_to_sign] {
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    key
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3_600 + mm * 60 + ss).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Statements of one policy document.
fn parse_policy(text: &str) -> Result<Vec<Statement>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let doc = doc.as_object().ok_or("a policy must be a JSON object")?;
    for key in doc.keys() {
        if !["Version", "Id", "Statement"].contains(&key.as_str()) {
            return Err(format!("unknown key {key:?}"));
        }
    }
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return Err("Statement must be an object or a non-empty list".into()),
    };
    statements
        .into_iter()
        .map(|s| {
            let s = s.as_object().ok_or("a statement must be an object")?;
            for key in s.keys() {
                if !["Sid", "Effect", "Action", "Resource"].contains(&key.as_str()) {
                    // Ignoring Condition, NotAction, … would grant more than meant.
                    return Err(format!("{key:?} is not supported in a statement"));
                }
            }
            let allow = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => return Err("Effect must be \"Allow\" or \"Deny\"".to_owned()),
            };
            let list = |key: &str| -> Result<Vec<String>, String> {
                let out: Vec<String> = match s.get(key) {
                    Some(Value::String(one)) => vec![one.clone()],
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or(format!("{key} entries must be strings"))
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(format!("{key} must be a string or a list of strings")),
                };
                if out.is_empty() {
                    return Err(format!("{key} must not be empty"));
                }
                if out.iter().any(|r| r.contains("${")) {
                    return Err("policy variables are not supported".into());
                }
                Ok(out)
            };
            Ok(Statement {
                allow,
                actions: list("Action")?,
                resources: list("Resource")?,
            })
        })
        .collect()
}

/// Explicit deny wins, then any allow; nothing matching denies.
fn allowed(statements: &[Statement], action: &str, resource: &str) -> bool {
    let mut allow = false;
    for s in statements {
        let matches = s
            .actions
            .iter()
            .any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase(), false))
            && s.resources.iter().any(|p| glob(p, resource, true));
        if matches && !s.allow {
            return false;
        }
        allow |= matches;
    }
    allow
}

/// `*` and `?` wildcards; in ARNs (`arn_segments`), `?` never matches a
/// colon and `*` crosses colons only at the end of the pattern or right
/// before a colon.
fn glob(pattern: &str, text: &str, arn_segments: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = text.chars().collect();
    let mut row = vec![false; s.len() + 1];
    row[0] = true;
    for (i, &pc) in p.iter().enumerate() {
        let mut next = vec![false; s.len() + 1];
        if pc == '*' {
            let crosses = !arn_segments || p.get(i + 1).is_none_or(|c| *c == ':');
            next[0] = row[0];
            for j in 1..=s.len() {
                next[j] = row[j] || (next[j - 1] && (crosses || s[j - 1] != ':'));
            }
        } else {
            for j in 1..=s.len() {
                let one = if pc == '?' {
                    !(arn_segments && s[j - 1] == ':')
                } else {
                    pc == s[j - 1]
                };
                next[j] = row[j - 1] && one;
            }
        }
        row = next;
    }
    row[s.len()]
}

/// Access key credentials that sign requests the way AWS SDKs do, for
/// producers written in Rust and for tests.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// Access key id.
    pub key_id: &'a str,
    /// Its secret.
    pub secret: &'a str,
    /// The session token of temporary credentials.
    pub session_token: Option<&'a str>,
    /// The IAM file's region.
    pub region: &'a str,
}

impl Signer<'_> {
    /// The headers to add to a request (`x-amz-date`, perhaps
    /// `x-amz-security-token`, and `authorization`). `headers` are the
    /// other headers that will be sent, all signed (lower-case names;
    /// `host` included).
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        at: SystemTime,
    ) -> Vec<(String, String)> {
        let Signer {
            key_id,
            secret,
            session_token,
            region,
        } = *self;
        let secs = at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
        let ms = i64::try_from(secs).expect("in range") * 1000;
        let iso = super::event::epoch_ms_to_rfc3339(ms).expect("years 0-9999");
        // 2024-01-02T03:04:05.000Z -> 20240102T030405Z
        let amz_date = format!(
            "{}{}{}T{}{}{}Z",
            &iso[0..4],
            &iso[5..7],
            &iso[8..10],
            &iso[11..13],
            &iso[14..16],
            &iso[17..19]
        );
        let date = &amz_date[..8];
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_ascii_lowercase(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect();
        all.push(("x-amz-date".into(), amz_date.clone()));
        if let Some(token) = session_token {
            all.push(("x-amz-security-token".into(), token.to_owned()));
        }
        all.sort();
        let signed_headers: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        let signed_headers = signed_headers.join(";");
        let canonical_headers: String = all.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let canonical_request = format!(
            "{method}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
            canonical_uri(path),
            hex(&sha2::Sha256::digest(body))
        );
        let scope = format!("{date}/{region}/{SERVICE}/aws4_request");
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&sha2::Sha256::digest(canonical_request.as_bytes()))
        );
        let signature = hex(&signing_mac(secret, date, region, &string_to_sign));
        let mut out = vec![("x-amz-date".to_owned(), amz_date)];
        if let Some(token) = session_token {
            out.push(("x-amz-security-token".into(), token.to_owned()));
        }
        out.push((
            "authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_wildcards_stay_in_their_segment() {
        let arn = "arn:aws:sextant-ingest:us-east-1:123456789012:table:c1/orders";
        assert!(glob("arn:aws:sextant-ingest:*:*:table:c1/*", arn, true));
        assert!(glob(
            "arn:aws:sextant-ingest:us-east-1:123456789012:table:c1/ord?rs",
            arn,
            true
        ));
        assert!(glob("*", arn, true));
        assert!(glob("arn:aws:*", arn, true));
        assert!(!glob(
            "arn:aws:sextant-ingest:us-east-1:123456789012:table:c1/other",
            arn,
            true
        ));
        assert!(!glob(
            "arn:aws:sextant-ingest:us-*-1:123456789012:table:c1/orders",
            "arn:aws:sextant-ingest:us-east:x-1:123456789012:table:c1/orders",
            true
        ));
    }

    #[test]
    fn policies_deny_first_and_refuse_conditions() {
        let statements = parse_policy(
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sextant-ingest:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "sextant-ingest:PutEvents", "Resource": "arn:aws:sextant-ingest:*:*:table:*/secret"}]}"#,
        )
        .unwrap();
        assert!(allowed(
            &statements,
            ACTION,
            "arn:aws:sextant-ingest:r:1:table:c/orders"
        ));
        assert!(!allowed(
            &statements,
            ACTION,
            "arn:aws:sextant-ingest:r:1:table:c/secret"
        ));
        assert!(!allowed(
            &[],
            ACTION,
            "arn:aws:sextant-ingest:r:1:table:c/orders"
        ));
        let conditional = r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}}"#;
        assert!(parse_policy(conditional).unwrap_err().contains("Condition"));
    }

    #[test]
    fn amz_dates_parse() {
        assert_eq!(
            parse_amz_date("19700101T000001Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1))
        );
        assert_eq!(
            parse_amz_date("20150830T123600Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160))
        );
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    }
}
