//! RDS IAM auth tokens: verifying the ones clients send as their password,
//! and generating them (`sextant token`).
//!
//! A token is a SigV4 presigned URL without its scheme,
//! `HOST:PORT/?Action=connect&DBUser=USER&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2FDATE%2FREGION%2Frds-db%2Faws4_request&X-Amz-Date=...&X-Amz-Expires=900&X-Amz-SignedHeaders=host[&X-Amz-Security-Token=...]&X-Amz-Signature=...`,
//! exactly as botocore's `generate_db_auth_token` (and so the AWS CLI's
//! `aws rds generate-db-auth-token`) makes it: `GET https://HOST:PORT/`,
//! the one signed header `host` (without the port when it is 443), the
//! SHA-256 of the empty body as payload hash.
//!
//! The signature is recomputed with the AWS SDK's own signer, `aws-sigv4`,
//! in presigned-query mode: it rebuilds the canonical request from
//! `Action`, `DBUser`, the token's time, expiry and (optional) session
//! token, and the secret the IAM file holds for the token's access key; the
//! two signatures are then compared in constant time. Every parameter the
//! signer derives itself (algorithm, credential scope, signed headers) is
//! checked against the token first, so an equal signature means the token
//! is byte for byte what the key's owner signed.
//!
//! Checks run cheapest first; the first that fails is the `Rejection`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningParams, SigningSettings,
};
use aws_sigv4::sign::v4;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use subtle::ConstantTimeEq;

use super::file::{IamFile, PG_ROLE_NAME_BYTES_MAX};
use super::policy::{evaluate, Decision};
use super::IamError;
use std::sync::Arc;

/// Longest token accepted. A token with a long STS session token is about
/// 1.5 KiB; PostgreSQL's own limit for a password message is far larger,
/// but nothing legitimate comes near this.
pub const TOKEN_BYTES_MAX: usize = 8 * 1024;
/// RDS tokens are valid for at most 15 minutes; `X-Amz-Expires` above this
/// is refused.
pub const TOKEN_EXPIRES_MAX: Duration = Duration::from_secs(900);
/// Largest clock skew a verifier may allow: SigV4 services allow 5
/// minutes; more than the token's own lifetime would make expiry moot.
pub const CLOCK_SKEW_MAX: Duration = Duration::from_secs(900);
/// The only algorithm RDS tokens use.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The SigV4 service name of RDS IAM authentication.
pub const SERVICE: &str = "rds-db";
/// The IAM action a policy must allow.
pub const CONNECT_ACTION: &str = "rds-db:connect";

/// What SigV4 leaves unescaped in query strings: RFC 3986's unreserved
/// characters (botocore's `percent_encode`, aws-smithy's `BASE_SET`).
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a token was refused. The CLIENT never sees which (it gets 28P01/28000
/// with one fixed message); the proxy logs `reason()` and counts it in
/// metrics (label value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a token: no `HOST:PORT/?`, a missing, repeated or unknown
    /// parameter, `Action` other than `connect`, bad escapes, a bad date,
    /// expiry or signature syntax, or too long.
    Malformed,
    /// `X-Amz-Algorithm` is not `AWS4-HMAC-SHA256`.
    Algorithm,
    /// `X-Amz-SignedHeaders` is not exactly `host`.
    SignedHeaders,
    /// The credential scope's date differs from `X-Amz-Date`'s, or its
    /// region is not the IAM file's, or its service is not `rds-db`, or it
    /// does not end in `aws4_request`.
    CredentialScope,
    /// `DBUser` is not the user of the startup message.
    UserMismatch,
    /// `HOST:PORT` is not one of this proxy's endpoint names.
    Endpoint,
    /// Past `X-Amz-Date` + `X-Amz-Expires` + skew, or `X-Amz-Expires` is 0
    /// or above 900 s.
    Expired,
    /// `X-Amz-Date` is later than now + skew.
    FutureDated,
    /// The access key is not in the IAM file (or its session token differs
    /// from the one the file pins for that key).
    UnknownKey,
    /// The signature is not the one the key's secret gives.
    Signature,
    /// No policy of the key's IAM user allows `rds-db:connect` on the
    /// dbuser ARN, or one explicitly denies it.
    PolicyDenied,
}

impl Rejection {
    /// The snake_case name the proxy logs and uses as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::Algorithm => "algorithm",
            Rejection::SignedHeaders => "signed_headers",
            Rejection::CredentialScope => "credential_scope",
            Rejection::UserMismatch => "user_mismatch",
            Rejection::Endpoint => "endpoint",
            Rejection::Expired => "expired",
            Rejection::FutureDated => "future_dated",
            Rejection::UnknownKey => "unknown_key",
            Rejection::Signature => "signature",
            Rejection::PolicyDenied => "policy_denied",
        }
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The IAM user whose access key signed the token.
    pub iam_user: String,
    pub access_key_id: String,
}

/// Verifies IAM auth tokens against one IAM file and this proxy's endpoint
/// names.
#[derive(Debug)]
pub struct TokenVerifier {
    iam: Arc<IamFile>,
    /// Endpoint names as (lowercased host, port): host names compare
    /// case-insensitively, as DNS does.
    endpoints: Vec<(String, u16)>,
    max_clock_skew: Duration,
}

/// Splits "host:port" at its last colon (so "[::1]:6432" works).
fn split_host_port(host_port: &str) -> Option<(&str, u16)> {
    let (host, port) = host_port.rsplit_once(':')?;
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

impl TokenVerifier {
    /// endpoints: the "host:port" names a token may carry (e.g. "127.0.0.1:6432", "localhost:6432").
    ///
    /// The caller validates its configuration first: an endpoint name that
    /// is not `HOST:PORT`, or a skew above [`CLOCK_SKEW_MAX`], panics.
    pub fn new(
        iam: Arc<IamFile>,
        endpoints: Vec<String>,
        max_clock_skew: Duration,
    ) -> TokenVerifier {
        assert!(
            max_clock_skew <= CLOCK_SKEW_MAX,
            "clock skew {max_clock_skew:?} above {CLOCK_SKEW_MAX:?}"
        );
        let endpoints = endpoints
            .iter()
            .map(|e| {
                let (host, port) = split_host_port(e)
                    .unwrap_or_else(|| panic!("endpoint name {e:?} is not HOST:PORT"));
                (host.to_ascii_lowercase(), port)
            })
            .collect();
        TokenVerifier {
            iam,
            endpoints,
            max_clock_skew,
        }
    }

    /// Verifies the password a client sent as an IAM auth token for `startup_user`.
    pub fn verify(
        &self,
        token: &str,
        startup_user: &str,
        now: SystemTime,
    ) -> Result<Verified, Rejection> {
        let t = ParsedToken::parse(token)?;
        if t.algorithm != ALGORITHM {
            return Err(Rejection::Algorithm);
        }
        if t.signed_headers != "host" {
            return Err(Rejection::SignedHeaders);
        }
        let scope: Vec<&str> = t.credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = scope[..] else {
            return Err(Rejection::CredentialScope);
        };
        if access_key_id.is_empty() {
            return Err(Rejection::Malformed);
        }
        if date != &t.date[..8]
            || region != self.iam.region()
            || service != SERVICE
            || terminator != "aws4_request"
        {
            return Err(Rejection::CredentialScope);
        }
        if t.db_user != startup_user {
            return Err(Rejection::UserMismatch);
        }
        let (host, port) = split_host_port(&t.host_port).ok_or(Rejection::Malformed)?;
        let host_lower = host.to_ascii_lowercase();
        if !self
            .endpoints
            .iter()
            .any(|(h, p)| *h == host_lower && *p == port)
        {
            return Err(Rejection::Endpoint);
        }
        if t.expires.is_zero() || t.expires > TOKEN_EXPIRES_MAX {
            return Err(Rejection::Expired);
        }
        if t.time > now + self.max_clock_skew {
            return Err(Rejection::FutureDated);
        }
        if now > t.time + t.expires + self.max_clock_skew {
            return Err(Rejection::Expired);
        }
        let (user, key) = self
            .iam
            .access_key(access_key_id)
            .ok_or(Rejection::UnknownKey)?;
        if let Some(pinned) = &key.session_token {
            let sent = t.security_token.as_deref().unwrap_or("");
            if !bool::from(pinned.0.as_bytes().ct_eq(sent.as_bytes())) {
                return Err(Rejection::UnknownKey);
            }
        }
        let expected = presign(
            &t.host_port,
            &t.db_user,
            region,
            access_key_id,
            &key.secret.0,
            t.security_token.as_deref(),
            t.time,
            t.expires,
        )
        // The inputs were all checked above; a signer failure means the
        // token carried something the signer cannot represent.
        .map_err(|_| Rejection::Malformed)?;
        if !bool::from(expected.signature.as_bytes().ct_eq(t.signature.as_bytes())) {
            return Err(Rejection::Signature);
        }
        let arn = self.iam.dbuser_arn(&t.db_user);
        match evaluate(&user.policies, CONNECT_ACTION, &arn) {
            Decision::Allow => Ok(Verified {
                iam_user: user.name.clone(),
                access_key_id: key.id.clone(),
            }),
            Decision::ExplicitDeny | Decision::ImplicitDeny => Err(Rejection::PolicyDenied),
        }
    }
}

/// A token split into its parts, unescaped; syntax only.
struct ParsedToken {
    host_port: String,
    db_user: String,
    algorithm: String,
    credential: String,
    /// `X-Amz-Date`, validated as `YYYYMMDDTHHMMSSZ`.
    date: String,
    time: SystemTime,
    expires: Duration,
    signed_headers: String,
    security_token: Option<String>,
    /// 64 lowercase hex digits.
    signature: String,
}

impl ParsedToken {
    fn parse(token: &str) -> Result<ParsedToken, Rejection> {
        use Rejection::Malformed;
        if token.len() > TOKEN_BYTES_MAX {
            return Err(Malformed);
        }
        let rest = match token.get(..8) {
            Some(s) if s.eq_ignore_ascii_case("https://") => &token[8..],
            _ => token,
        };
        let (host_port, query) = rest.split_once("/?").ok_or(Malformed)?;
        if host_port.is_empty() || host_port.contains(['/', '?', '@', '#']) {
            return Err(Malformed);
        }
        split_host_port(host_port).ok_or(Malformed)?;
        let mut params: HashMap<&'static str, String> = HashMap::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').ok_or(Malformed)?;
            let key = KNOWN_PARAMS.iter().find(|k| **k == key).ok_or(Malformed)?;
            if !escapes_are_valid(value) {
                return Err(Malformed);
            }
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| Malformed)?
                .into_owned();
            if params.insert(key, value).is_some() {
                return Err(Malformed);
            }
        }
        let mut take = |k: &str| params.remove(k);
        let mut required = |k: &str| take(k).ok_or(Malformed);
        let action = required("Action")?;
        let db_user = required("DBUser")?;
        let algorithm = required("X-Amz-Algorithm")?;
        let credential = required("X-Amz-Credential")?;
        let date = required("X-Amz-Date")?;
        let expires = required("X-Amz-Expires")?;
        let signed_headers = required("X-Amz-SignedHeaders")?;
        let signature = required("X-Amz-Signature")?;
        let security_token = take("X-Amz-Security-Token");
        if action != "connect" {
            return Err(Malformed);
        }
        if db_user.is_empty() || db_user.len() > PG_ROLE_NAME_BYTES_MAX || db_user.contains('\0') {
            return Err(Malformed);
        }
        let time = parse_amz_date(&date).ok_or(Malformed)?;
        if expires.is_empty() || expires.len() > 6 || !expires.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformed);
        }
        let expires = Duration::from_secs(expires.parse().map_err(|_| Malformed)?);
        if signature.len() != 64
            || !signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Malformed);
        }
        if security_token.as_deref() == Some("") {
            return Err(Malformed);
        }
        Ok(ParsedToken {
            host_port: host_port.to_owned(),
            db_user,
            algorithm,
            credential,
            date,
            time,
            expires,
            signed_headers,
            security_token,
            signature,
        })
    }
}

/// The parameters an RDS token may carry; any other is refused, since it
/// would be part of what was signed but not of what RDS checks.
const KNOWN_PARAMS: [&str; 9] = [
    "Action",
    "DBUser",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// Whether every `%` starts a two-hex-digit escape (`percent_decode_str`
/// passes bad ones through literally; a signer never writes them).
fn escapes_are_valid(value: &str) -> bool {
    let b = value.as_bytes();
    b.iter().enumerate().all(|(i, c)| {
        *c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// Parses SigV4's `YYYYMMDDTHHMMSSZ` (UTC).
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day == 0 || day > month_days[month as usize - 1] {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + u64::from(hour * 3600 + minute * 60 + second);
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, for years from 1970 on).
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    assert!(year >= 1970, "year {year} before the epoch");
    let y = u64::from(if month <= 2 { year - 1 } else { year });
    let era = y / 400;
    let yoe = y - era * 400;
    let m = u64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What aws-sigv4 returns for a presigned `connect` request.
struct Presigned {
    /// The query parameters it added, unescaped, by name.
    params: Vec<(&'static str, String)>,
    signature: String,
}

/// Presigns `GET https://HOST:PORT/?Action=connect&DBUser=USER` for
/// `rds-db` with aws-sigv4, as botocore does for RDS tokens.
#[allow(clippy::too_many_arguments)]
fn presign(
    host_port: &str,
    db_user: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
    time: SystemTime,
    expires: Duration,
) -> Result<Presigned, String> {
    let identity = aws_credential_types::Credentials::new(
        access_key_id,
        secret_access_key,
        session_token.map(str::to_owned),
        None,
        "sextant-iam-file",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    let params: SigningParams = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let url = format!(
        "https://{host_port}/?Action=connect&DBUser={}",
        utf8_percent_encode(db_user, QUERY_ESCAPE)
    );
    let request = SignableRequest::new("GET", url, std::iter::empty(), SignableBody::empty())
        .map_err(|e| e.to_string())?;
    let (instructions, signature) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (_headers, query) = instructions.into_parts();
    Ok(Presigned {
        params: query
            .into_iter()
            .map(|(k, v)| (k, v.into_owned()))
            .collect(),
        signature,
    })
}

/// Credentials for making tokens (sextant token).
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Credentials {
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN.
    pub fn from_env() -> Result<Credentials, IamError> {
        Credentials::from_vars(|name| std::env::var(name).ok())
    }

    /// `from_env` over any variable source (tests use a map, not the
    /// process environment, which other tests share).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Credentials, IamError> {
        let required = |name: &'static str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or(IamError::MissingEnv { name })
        };
        Ok(Credentials {
            access_key_id: required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            session_token: var("AWS_SESSION_TOKEN").filter(|v| !v.is_empty()),
        })
    }
}

/// An RDS IAM auth token exactly as `aws rds generate-db-auth-token` makes it
/// ("HOST:PORT/?Action=connect&DBUser=...&X-Amz-...", no scheme), valid 900 s.
pub fn generate_token(
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    creds: &Credentials,
    now: SystemTime,
) -> Result<String, IamError> {
    let bad = |message: String| IamError::TokenInput { message };
    if host.is_empty() || host.contains(['/', '?', '@', '#', ' ']) {
        return Err(bad(format!("host {host:?} is not a host name or address")));
    }
    if user.is_empty() || user.contains('\0') {
        return Err(bad(format!("user {user:?} is not a database user name")));
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad(format!(
            "region {region:?} is not a region name like \"us-east-1\""
        )));
    }
    if creds.access_key_id.is_empty() || creds.access_key_id.contains('/') {
        return Err(bad("the access key id is empty or contains '/'".into()));
    }
    if now < UNIX_EPOCH {
        return Err(bad("the clock is before 1970".into()));
    }
    let host_port = format!("{host}:{port}");
    let presigned = presign(
        &host_port,
        user,
        region,
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.as_deref(),
        now,
        TOKEN_EXPIRES_MAX,
    )
    .map_err(|message| IamError::Signing { message })?;
    // botocore's order: the operation's parameters, then the auth
    // parameters in the order it adds them, the signature last.
    let mut token = format!(
        "{host_port}/?Action=connect&DBUser={}",
        utf8_percent_encode(user, QUERY_ESCAPE)
    );
    let order = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
    ];
    for name in order {
        if let Some((_, value)) = presigned.params.iter().find(|(k, _)| *k == name) {
            token += &format!("&{name}={}", utf8_percent_encode(value, QUERY_ESCAPE));
        }
    }
    assert!(
        presigned
            .params
            .iter()
            .all(|(k, v)| order.contains(k)
                || (*k == "X-Amz-Signature" && *v == presigned.signature)),
        "aws-sigv4 added a parameter RDS tokens do not have: {:?}",
        presigned.params.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert_eq!(
        presigned
            .params
            .iter()
            .any(|(k, _)| *k == "X-Amz-Security-Token"),
        creds.session_token.is_some(),
        "session token presence"
    );
    token += &format!("&X-Amz-Signature={}", presigned.signature);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse_to_their_instant() {
        let at = |s| parse_amz_date(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs());
        assert_eq!(at("19700101T000000Z"), Some(0));
        assert_eq!(at("20260314T150926Z"), Some(1_773_500_966));
        assert_eq!(at("20240229T000000Z"), Some(1_709_164_800));
        assert_eq!(at("20000301T000000Z"), Some(951_868_800));
        for bad in [
            "20230229T000000Z",
            "20261314T000000Z",
            "20260314T240000Z",
            "20260314T150960Z",
            "20260314 150926Z",
            "20260314T150926",
            "2026031T4150926Z",
            "+0260314T150926Z",
            "19691231T235959Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn reasons_are_distinct_snake_case() {
        use Rejection::*;
        let all = [
            Malformed,
            Algorithm,
            SignedHeaders,
            CredentialScope,
            UserMismatch,
            Endpoint,
            Expired,
            FutureDated,
            UnknownKey,
            Signature,
            PolicyDenied,
        ];
        let reasons: std::collections::HashSet<_> = all.iter().map(|r| r.reason()).collect();
        assert_eq!(reasons.len(), all.len());
        assert!(reasons
            .iter()
            .all(|r| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }

    #[test]
    fn missing_credentials_name_the_variable() {
        let vars = |pairs: &'static [(&str, &str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let e = Credentials::from_vars(vars(&[("AWS_SECRET_ACCESS_KEY", "s")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable AWS_ACCESS_KEY_ID is not set"
        );
        let e = Credentials::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable AWS_SECRET_ACCESS_KEY is not set"
        );
        let c = Credentials::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", ""),
        ]))
        .unwrap();
        assert_eq!(c.session_token, None);
    }
}
