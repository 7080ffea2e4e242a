//! IAM JSON policy documents: the subset the proxy understands, parsed into
//! statements, and their evaluation for one request (`rds-db:connect` on a
//! `dbuser` ARN).
//!
//! Supported: `Version` ("2012-10-17" or "2008-10-17"), `Id`, and
//! `Statement` (one object or a list) whose statements have `Sid`, `Effect`
//! (`Allow` / `Deny`), `Action` and `Resource` (a string or a list of
//! strings). Anything else (`Condition`, `NotAction`, `NotResource`,
//! `Principal`, `NotPrincipal`, policy variables such as `${aws:username}`)
//! is refused when the file loads: silently ignoring a `Condition` would
//! grant more than its author meant.
//!
//! Evaluation follows IAM: an explicit `Deny` that matches wins over any
//! `Allow`; with no matching statement the request is denied.
//!
//! Wildcards follow the IAM user guide ("IAM JSON policy elements:
//! Resource" and "Action"): `*` is any run of characters and `?` any one
//! character. Actions compare case-insensitively. Resources (ARNs) compare
//! case-sensitively and their wildcards stay within one colon-separated ARN
//! segment, except that a `*` that ends a segment (followed by `:` or the
//! end of the pattern) may also match colons.

use serde_json::{Map, Value};

/// Longest policy document accepted (IAM's own managed-policy limit is
/// 6,144 characters; this leaves room for inline formatting).
pub const POLICY_CHARS_MAX: usize = 64 * 1024;
/// Most statements in one policy; IAM's size limits keep real ones far below.
pub const STATEMENTS_MAX: usize = 1_000;
/// Most `Action` or `Resource` entries in one statement.
pub const PATTERNS_MAX: usize = 1_000;

/// What a statement does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// The outcome of evaluating a set of policies for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some `Allow` statement matched and no `Deny` did.
    Allow,
    /// A `Deny` statement matched (it wins over any `Allow`).
    ExplicitDeny,
    /// No statement matched.
    ImplicitDeny,
}

/// One parsed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// Action patterns, e.g. `rds-db:connect`, `rds-db:*`, `*`.
    pub actions: Vec<String>,
    /// Resource (ARN) patterns.
    pub resources: Vec<String>,
}

/// One parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

/// Why a policy document was refused. `path` locates the problem inside the
/// document, e.g. `Statement[1].Action[0]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("not valid JSON at line {line} column {column} of the policy: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("policy is {chars} characters long; at most {POLICY_CHARS_MAX} are accepted")]
    TooLong { chars: usize },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// Keys of a policy document that IAM has but the proxy does not evaluate.
const UNSUPPORTED_STATEMENT_KEYS: [&str; 5] = [
    "Condition",
    "NotAction",
    "NotResource",
    "Principal",
    "NotPrincipal",
];

impl Policy {
    /// Parses a JSON policy document.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        if text.len() > POLICY_CHARS_MAX {
            return Err(PolicyError::TooLong { chars: text.len() });
        }
        let value: Value = serde_json::from_str(text).map_err(|e| PolicyError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let Value::Object(doc) = value else {
            return Err(invalid("(document)", "a policy must be a JSON object"));
        };
        let mut statements = None;
        for (key, value) in &doc {
            match key.as_str() {
                "Version" => match value.as_str() {
                    Some("2012-10-17" | "2008-10-17") => {}
                    _ => {
                        return Err(invalid(
                            "Version",
                            format!("must be \"2012-10-17\" or \"2008-10-17\", not {value}"),
                        ))
                    }
                },
                "Id" => {
                    if !value.is_string() {
                        return Err(invalid("Id", "must be a string"));
                    }
                }
                "Statement" => statements = Some(parse_statements(value)?),
                other => {
                    return Err(invalid(
                        other,
                        "unknown key (a policy has Version, Id and Statement)",
                    ))
                }
            }
        }
        let statements =
            statements.ok_or_else(|| invalid("(document)", "missing key \"Statement\""))?;
        Ok(Policy { statements })
    }
}

fn parse_statements(value: &Value) -> Result<Vec<Statement>, PolicyError> {
    match value {
        Value::Object(s) => Ok(vec![parse_statement(s, "Statement")?]),
        Value::Array(list) => {
            if list.is_empty() {
                return Err(invalid("Statement", "must not be empty"));
            }
            if list.len() > STATEMENTS_MAX {
                return Err(invalid(
                    "Statement",
                    format!("{} statements; at most {STATEMENTS_MAX}", list.len()),
                ));
            }
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    let path = format!("Statement[{i}]");
                    match s {
                        Value::Object(s) => parse_statement(s, &path),
                        _ => Err(invalid(path, "a statement must be a JSON object")),
                    }
                })
                .collect()
        }
        _ => Err(invalid(
            "Statement",
            "must be a statement object or a list of them",
        )),
    }
}

fn parse_statement(s: &Map<String, Value>, path: &str) -> Result<Statement, PolicyError> {
    let mut sid = None;
    let mut effect = None;
    let mut actions = None;
    let mut resources = None;
    for (key, value) in s {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "Sid" => {
                sid = Some(
                    value
                        .as_str()
                        .ok_or_else(|| invalid(&at, "must be a string"))?
                        .to_owned(),
                )
            }
            "Effect" => {
                effect = Some(match value.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return Err(invalid(at, format!("must be \"Allow\" or \"Deny\", not {value}"))),
                })
            }
            "Action" => {
                let list = string_or_list(value, &at)?;
                for (i, a) in list.iter().enumerate() {
                    if a != "*" && !a.contains(':') {
                        return Err(invalid(
                            format!("{at}[{i}]"),
                            format!("\"{a}\" is not an action (service:action, e.g. rds-db:connect, or *)"),
                        ));
                    }
                }
                actions = Some(list);
            }
            "Resource" => {
                let list = string_or_list(value, &at)?;
                for (i, r) in list.iter().enumerate() {
                    if r.contains("${") {
                        return Err(invalid(
                            format!("{at}[{i}]"),
                            format!("\"{r}\": policy variables (${{...}}) are not supported"),
                        ));
                    }
                    if r != "*" && !r.starts_with("arn:") {
                        return Err(invalid(
                            format!("{at}[{i}]"),
                            format!("\"{r}\" is not an ARN (arn:aws:rds-db:REGION:ACCOUNT:dbuser:CLUSTER/USER) or *"),
                        ));
                    }
                }
                resources = Some(list);
            }
            k if UNSUPPORTED_STATEMENT_KEYS.contains(&k) => {
                return Err(invalid(
                    at,
                    format!(
                        "\"{k}\" is not supported by Sextant's proxy (statements may have only Sid, Effect, Action and Resource)"
                    ),
                ))
            }
            _ => {
                return Err(invalid(
                    at,
                    "unknown key (statements may have only Sid, Effect, Action and Resource)",
                ))
            }
        }
    }
    let effect = effect.ok_or_else(|| invalid(path, "missing key \"Effect\""))?;
    let actions = actions.ok_or_else(|| invalid(path, "missing key \"Action\""))?;
    let resources = resources.ok_or_else(|| invalid(path, "missing key \"Resource\""))?;
    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
    })
}

fn string_or_list(value: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    let list: Vec<String> = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => {
            if items.len() > PATTERNS_MAX {
                return Err(invalid(
                    at,
                    format!("{} entries; at most {PATTERNS_MAX}", items.len()),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(format!("{at}[{i}]"), "must be a string"))
                })
                .collect::<Result<_, _>>()?
        }
        _ => return Err(invalid(at, "must be a string or a list of strings")),
    };
    if list.is_empty() {
        return Err(invalid(at, "must not be empty"));
    }
    Ok(list)
}

impl Statement {
    /// Whether this statement applies to `action` on `resource`.
    pub fn matches(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|p| action_matches(p, action))
            && self.resources.iter().any(|p| resource_matches(p, resource))
    }
}

/// Evaluates `policies` for `action` on `resource`, IAM style: explicit deny
/// wins, then allow, else implicit deny.
pub fn evaluate<'a>(
    policies: impl IntoIterator<Item = &'a Policy>,
    action: &str,
    resource: &str,
) -> Decision {
    let mut allowed = false;
    for statement in policies.into_iter().flat_map(|p| &p.statements) {
        if !statement.matches(action, resource) {
            continue;
        }
        match statement.effect {
            Effect::Deny => return Decision::ExplicitDeny,
            Effect::Allow => allowed = true,
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Action patterns: `*` and `?` anywhere, case-insensitive (IAM action
/// names are).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let a: Vec<char> = action.to_ascii_lowercase().chars().collect();
    glob(&p, &a, false)
}

/// Resource (ARN) patterns: case-sensitive; wildcards stay inside one
/// colon-separated segment unless a `*` ends its segment.
pub fn resource_matches(pattern: &str, resource: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let r: Vec<char> = resource.chars().collect();
    glob(&p, &r, true)
}

/// Wildcard match by dynamic programming over (pattern prefix, input
/// prefix): O(len(p) * len(s)) time, O(len(s)) space, no recursion and no
/// greedy shortcut (with segment-bound stars, a greedy matcher that only
/// backtracks to the last `*` would miss matches an earlier `*` allows).
/// With `arn_segments`, `?` and a `*` that does not end its segment do not
/// match `:`.
fn glob(p: &[char], s: &[char], arn_segments: bool) -> bool {
    // row[j]: the pattern so far matches s[..j].
    let mut row = vec![false; s.len() + 1];
    row[0] = true;
    for (i, &pc) in p.iter().enumerate() {
        let mut next = vec![false; s.len() + 1];
        if pc == '*' {
            let crosses_colons = !arn_segments || p.get(i + 1).is_none_or(|c| *c == ':');
            next[0] = row[0];
            for j in 1..=s.len() {
                next[j] = row[j] || (next[j - 1] && (crosses_colons || s[j - 1] != ':'));
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

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-ABC/alice";

    #[test]
    fn action_wildcards_and_case() {
        assert!(action_matches("rds-db:connect", "rds-db:connect"));
        assert!(action_matches("RDS-DB:Connect", "rds-db:connect"));
        assert!(action_matches("rds-db:*", "rds-db:connect"));
        assert!(action_matches("*", "rds-db:connect"));
        assert!(action_matches("rds-db:conn?ct", "rds-db:connect"));
        assert!(action_matches("rds-*:c*t", "rds-db:connect"));
        assert!(!action_matches("rds:*", "rds-db:connect"));
        assert!(!action_matches("rds-db:connect?", "rds-db:connect"));
        assert!(!action_matches("rds-db:conn", "rds-db:connect"));
    }

    #[test]
    fn resource_wildcards_stay_in_their_segment() {
        assert!(resource_matches(ARN, ARN));
        assert!(resource_matches("*", ARN));
        assert!(resource_matches(
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-ABC/*",
            ARN
        ));
        assert!(resource_matches(
            "arn:aws:rds-db:*:123456789012:dbuser:*/alice",
            ARN
        ));
        assert!(resource_matches(
            "arn:aws:rds-db:us-east-?:123456789012:dbuser:cluster-???/al*",
            ARN
        ));
        // A `*` ending a segment may run across colons.
        assert!(resource_matches("arn:aws:rds-db:us-east-1:*", ARN));
        assert!(resource_matches("arn:aws:rds-db:*:*", ARN));
        // One that does not end its segment may not...
        assert!(!resource_matches(
            "arn:aws:rds-db:us*1:dbuser:cluster-ABC/alice",
            ARN
        ));
        assert!(!resource_matches(
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-ABC/bob",
            ARN
        ));
        // ...but an earlier segment-ending `*` may still take the colons.
        assert!(resource_matches("a*:b*c", "ax:b1:b2c"));
        assert!(!resource_matches("a*x:b*c", "a1:x:b2c"));
        // Case-sensitive, unlike actions.
        assert!(!resource_matches(
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-abc/alice",
            ARN
        ));
        assert!(!resource_matches(
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-ABC/alice?",
            ARN
        ));
    }

    fn policy(json: &str) -> Policy {
        Policy::parse(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    #[test]
    fn explicit_deny_wins_over_allow() {
        let allow = policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"rds-db:*","Resource":"*"}}"#,
        );
        let deny = policy(
            r#"{"Statement":[{"Sid":"no-alice","Effect":"Deny","Action":["rds-db:connect"],"Resource":["arn:aws:rds-db:*:*:dbuser:*/alice"]}]}"#,
        );
        assert_eq!(evaluate([&allow], "rds-db:connect", ARN), Decision::Allow);
        assert_eq!(
            evaluate([&allow, &deny], "rds-db:connect", ARN),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate([&deny, &allow], "rds-db:connect", ARN),
            Decision::ExplicitDeny
        );
        let bob = ARN.replace("alice", "bob");
        assert_eq!(
            evaluate([&allow, &deny], "rds-db:connect", &bob),
            Decision::Allow
        );
        assert_eq!(
            evaluate([&deny], "rds-db:connect", &bob),
            Decision::ImplicitDeny
        );
        assert_eq!(evaluate([], "rds-db:connect", ARN), Decision::ImplicitDeny);
    }

    fn parse_error(json: &str) -> String {
        match Policy::parse(json) {
            Ok(p) => panic!("accepted {json}: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unsupported_and_malformed_documents_are_refused_with_their_location() {
        let e = parse_error(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{}}}]}"#,
        );
        assert!(
            e.starts_with("Statement[1].Condition: \"Condition\" is not supported"),
            "{e}"
        );
        let e = parse_error(r#"{"Statement":{"Effect":"Allow","NotAction":"x:y","Resource":"*"}}"#);
        assert!(e.contains("\"NotAction\" is not supported"), "{e}");
        let e = parse_error(r#"{"Statement":{"Effect":"Allow","Action":"x:y","NotResource":"*"}}"#);
        assert!(e.contains("\"NotResource\" is not supported"), "{e}");
        let e = parse_error(r#"{"Statement":{"Effect":"allow","Action":"x:y","Resource":"*"}}"#);
        assert!(
            e.starts_with("Statement.Effect: must be \"Allow\" or \"Deny\""),
            "{e}"
        );
        let e = parse_error(r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#);
        assert_eq!(e, "Statement: missing key \"Action\"");
        let e =
            parse_error(r#"{"Statement":{"Effect":"Allow","Action":"connect","Resource":"*"}}"#);
        assert!(
            e.starts_with("Statement.Action[0]: \"connect\" is not an action"),
            "{e}"
        );
        let e =
            parse_error(r#"{"Statement":{"Effect":"Allow","Action":["x:y",3],"Resource":"*"}}"#);
        assert_eq!(e, "Statement.Action[1]: must be a string");
        let e = parse_error(r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#);
        assert_eq!(e, "Statement.Action: must not be empty");
        let e = parse_error(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:rds-db:*:*:dbuser:*/${aws:username}"}}"#,
        );
        assert!(e.contains("policy variables"), "{e}");
        let e = parse_error(
            r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        );
        assert!(e.starts_with("Version: must be"), "{e}");
        let e = parse_error(r#"{"Statement":[]}"#);
        assert_eq!(e, "Statement: must not be empty");
        let e = parse_error(r#"{"Version":"2012-10-17"}"#);
        assert_eq!(e, "(document): missing key \"Statement\"");
        let e = parse_error("{\n  \"Statement\": [\n    {\"Effect\": \"Allow\",}\n  ]\n}");
        assert!(e.starts_with("not valid JSON at line 3 column"), "{e}");
    }
}
