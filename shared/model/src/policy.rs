//! Resource policies: the IAM policy document an API carries (`x-amazon-apigateway-policy`),
//! compiled once per deployment and decided per request against the caller's source IP and
//! the request's method ARN (`arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}`).
//!
//! What is evaluated, as IAM does: `Effect`, `Action`/`NotAction` (`execute-api:Invoke`),
//! `Resource`/`NotResource` (full ARNs or the `execute-api:/...` shorthand, with `*` and `?`),
//! `Principal` (`*` applies to every caller), and the `IpAddress` / `NotIpAddress` conditions
//! on `aws:SourceIp` (IPv4 and IPv6 CIDRs). An explicit Deny wins; without a matching Allow
//! the request is denied too.
//!
//! What is not evaluated fails closed: a statement naming specific principals, or with any
//! other condition, never allows (callers are anonymous to this front), and a Deny statement
//! with a condition this front cannot evaluate always applies. Deployments list each such
//! statement as a warning ([`ResourcePolicy::compile`]).

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    /// No statement allows the request.
    ImplicitDeny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Patterns {
    Match(Vec<String>),
    NotMatch(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    /// The source IP is (or, negated, is not) within one of the networks.
    SourceIp { networks: Vec<IpNet>, negated: bool },
    /// Something this front cannot evaluate.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    deny: bool,
    /// `Principal: "*"`: the statement is about every caller, anonymous ones included.
    /// `Some(false)`: it names principals, which an anonymous caller never is.
    everyone: Option<bool>,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// A compiled resource policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePolicy {
    statements: Vec<Statement>,
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

fn everyone(principal: &Value) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Object(map) => map.len() == 1 && strings(map.get("AWS")).is_some_and(|p| p == ["*"]),
        _ => false,
    }
}

fn network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn condition(operator: &str, body: &Value) -> Condition {
    let negated = match operator {
        "IpAddress" => false,
        "NotIpAddress" => true,
        _ => return Condition::Unknown,
    };
    let Some(map) = body.as_object() else {
        return Condition::Unknown;
    };
    if map.len() != 1 {
        return Condition::Unknown;
    }
    let Some((key, values)) = map.iter().next() else {
        return Condition::Unknown;
    };
    if !key.eq_ignore_ascii_case("aws:SourceIp") {
        return Condition::Unknown;
    }
    let networks: Option<Vec<IpNet>> =
        strings(Some(values)).and_then(|v| v.iter().map(|s| network(s.trim())).collect());
    match networks {
        Some(networks) if !networks.is_empty() => Condition::SourceIp { networks, negated },
        _ => Condition::Unknown,
    }
}

/// `*` matches any run of characters, `?` any one; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Patterns {
    fn matches(&self, test: impl Fn(&str) -> bool) -> bool {
        match self {
            Patterns::Match(patterns) => patterns.iter().any(|p| test(p)),
            Patterns::NotMatch(patterns) => !patterns.iter().any(|p| test(p)),
        }
    }
}

fn action_matches(pattern: &str) -> bool {
    glob(&pattern.to_ascii_lowercase(), "execute-api:invoke")
}

/// Where a request stands: its method ARN, and the part after the API id for the
/// `execute-api:/...` shorthand.
pub struct Target<'a> {
    pub method_arn: &'a str,
    /// `{stage}/{METHOD}/{path}`.
    pub resource: &'a str,
}

fn resource_matches(pattern: &str, target: &Target<'_>) -> bool {
    match pattern.strip_prefix("execute-api:/") {
        Some(rest) => glob(rest, target.resource),
        None => glob(pattern, target.method_arn),
    }
}

impl ResourcePolicy {
    /// Compiles a policy document. Returns the policy and a note for each statement this
    /// front cannot evaluate fully (and how it is treated), for deployment warnings.
    pub fn compile(document: &Value) -> (ResourcePolicy, Vec<String>) {
        Self::compile_about(document, false)
    }

    /// Compiles the policy a Lambda authorizer answered. Its statements are about the caller
    /// the authorizer identified, so they carry no `Principal`: each applies to that caller.
    /// Whatever cannot be evaluated fails closed, as in [`Self::compile`].
    pub fn compile_for_caller(document: &Value) -> ResourcePolicy {
        Self::compile_about(document, true).0
    }

    /// `for_caller`: statements are about the identified caller (an authorizer's policy), not
    /// about principals they name (a resource policy).
    fn compile_about(document: &Value, for_caller: bool) -> (ResourcePolicy, Vec<String>) {
        let mut notes = Vec::new();
        let statements: Vec<&Value> = match document.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => {
                notes.push("the policy has no Statement: every request is denied".to_owned());
                Vec::new()
            }
        };
        let mut compiled = Vec::new();
        for (i, statement) in statements.into_iter().enumerate() {
            let deny = match statement.get("Effect").and_then(Value::as_str) {
                Some("Allow") => false,
                Some("Deny") => true,
                _ => {
                    notes.push(format!(
                        "statement {i} has no Effect of Allow or Deny: it is treated as a Deny of everything"
                    ));
                    compiled.push(Statement {
                        deny: true,
                        everyone: None,
                        actions: Patterns::Match(vec!["*".to_owned()]),
                        resources: Patterns::Match(vec!["*".to_owned()]),
                        conditions: Vec::new(),
                    });
                    continue;
                }
            };
            let mut unsure = Vec::new();
            let everyone = match statement.get("Principal") {
                _ if for_caller => Some(true),
                Some(principal) => Some(everyone(principal)),
                None => {
                    unsure.push("names no Principal (or uses NotPrincipal)");
                    None
                }
            };
            if everyone == Some(false) && !deny {
                unsure
                    .push("allows specific principals only (callers are anonymous to this front)");
            }
            let patterns = |name: &str, not_name: &str| match (
                strings(statement.get(name)),
                strings(statement.get(not_name)),
            ) {
                (Some(p), None) => Some(Patterns::Match(p)),
                (None, Some(p)) => Some(Patterns::NotMatch(p)),
                _ => None,
            };
            let actions = patterns("Action", "NotAction");
            let resources = patterns("Resource", "NotResource");
            if actions.is_none() {
                unsure.push("has no usable Action or NotAction");
            }
            if resources.is_none() {
                unsure.push("has no usable Resource or NotResource");
            }
            let mut conditions = Vec::new();
            match statement.get("Condition") {
                None => {}
                Some(Value::Object(operators)) => {
                    for (operator, body) in operators {
                        let condition = condition(operator, body);
                        if condition == Condition::Unknown {
                            unsure.push("has a condition other than IpAddress / NotIpAddress on aws:SourceIp");
                        }
                        conditions.push(condition);
                    }
                }
                Some(_) => {
                    unsure.push("has a malformed Condition");
                    conditions.push(Condition::Unknown);
                }
            }
            let fully_known = actions.is_some() && resources.is_some() && everyone.is_some();
            if !fully_known {
                conditions.push(Condition::Unknown);
            }
            if !unsure.is_empty() {
                unsure.dedup();
                notes.push(format!(
                    "statement {i} {}: {}",
                    unsure.join(", "),
                    if deny {
                        "this Deny applies to every request it could match"
                    } else {
                        "this Allow never applies"
                    }
                ));
            }
            compiled.push(Statement {
                deny,
                everyone,
                actions: actions.unwrap_or(Patterns::Match(vec!["*".to_owned()])),
                resources: resources.unwrap_or(Patterns::Match(vec!["*".to_owned()])),
                conditions,
            });
        }
        (
            ResourcePolicy {
                statements: compiled,
            },
            notes,
        )
    }

    /// Decides a request from `source_ip` (`None` when unknown) to `target`.
    pub fn decide(&self, target: &Target<'_>, source_ip: Option<IpAddr>) -> Decision {
        let source_ip = source_ip.map(|ip| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        });
        let mut allowed = false;
        for statement in &self.statements {
            if statement.everyone == Some(false) && statement.deny {
                continue; // about named principals; the caller is anonymous
            }
            if !statement.actions.matches(action_matches)
                || !statement.resources.matches(|p| resource_matches(p, target))
            {
                continue;
            }
            // Each condition: Some(true/false) when known, None when it cannot be evaluated.
            let mut known = true;
            let mut holds = true;
            for condition in &statement.conditions {
                match (condition, source_ip) {
                    (Condition::SourceIp { networks, negated }, Some(ip)) => {
                        let within = networks.iter().any(|n| n.contains(&ip));
                        holds &= within != *negated;
                    }
                    _ => known = false,
                }
            }
            if statement.deny {
                // Fail closed: a Deny that might apply does.
                if !known || holds {
                    return Decision::ExplicitDeny;
                }
            } else if known && holds && statement.everyone == Some(true) {
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// A request's method ARN, as API Gateway builds it for policies and authorizers.
pub fn method_arn(
    region: &str,
    account: &str,
    api_id: &str,
    stage: &str,
    method: &str,
    path: &str,
) -> String {
    format!(
        "arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{}",
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decide(policy: Value, path: &str, ip: &str) -> Decision {
        let (policy, _) = ResourcePolicy::compile(&policy);
        let arn = method_arn("eu-west-1", "123456789012", "abc", "prod", "GET", path);
        let resource = format!("prod/GET/{}", path.trim_start_matches('/'));
        policy.decide(
            &Target {
                method_arn: &arn,
                resource: &resource,
            },
            ip.parse().ok(),
        )
    }

    fn allow_all() -> Value {
        json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"})
    }

    #[test]
    fn an_ip_allow_list_denies_everyone_else() {
        let policy = json!({"Statement": [allow_all(),
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
             "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}}]});
        assert_eq!(
            decide(policy.clone(), "/pets", "203.0.113.9"),
            Decision::Allow
        );
        assert_eq!(
            decide(policy.clone(), "/pets", "2001:db8::1"),
            Decision::Allow
        );
        assert_eq!(
            decide(policy.clone(), "/pets", "::ffff:203.0.113.9"),
            Decision::Allow,
            "IPv4-mapped IPv6 is the IPv4 address"
        );
        assert_eq!(
            decide(policy.clone(), "/pets", "198.51.100.1"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(policy, "/pets", "not an ip"),
            Decision::ExplicitDeny,
            "unknown source: fail closed"
        );
    }

    #[test]
    fn a_deny_list_wins_over_an_allow() {
        let policy = json!({"Statement": [allow_all(),
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
             "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abc/*/GET/admin*",
             "Condition": {"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}}]});
        assert_eq!(
            decide(policy.clone(), "/admin/users", "198.51.100.7"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(policy.clone(), "/pets", "198.51.100.7"),
            Decision::Allow
        );
        assert_eq!(decide(policy, "/admin/users", "192.0.2.1"), Decision::Allow);
    }

    #[test]
    fn without_an_allow_the_request_is_denied() {
        let only_pets = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": "execute-api:*", "Resource": "execute-api:/prod/GET/pets"}});
        assert_eq!(
            decide(only_pets.clone(), "/pets", "192.0.2.1"),
            Decision::Allow
        );
        assert_eq!(
            decide(only_pets, "/pets/1", "192.0.2.1"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(json!({}), "/pets", "192.0.2.1"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn what_cannot_be_evaluated_fails_closed() {
        // An Allow for a specific principal never applies to anonymous callers.
        let principal = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "execute-api:Invoke", "Resource": "*"}]});
        let (_, notes) = ResourcePolicy::compile(&principal);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(
            decide(principal, "/pets", "192.0.2.1"),
            Decision::ImplicitDeny
        );
        // A Deny of named principals is not about anonymous callers.
        let named_deny = json!({"Statement": [allow_all(), {"Effect": "Deny",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci"},
            "Action": "execute-api:Invoke", "Resource": "*"}]});
        assert_eq!(decide(named_deny, "/pets", "192.0.2.1"), Decision::Allow);
        // A Deny with a condition this front cannot evaluate always applies.
        let vpc = json!({"Statement": [allow_all(), {"Effect": "Deny", "Principal": "*",
            "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}]});
        assert_eq!(decide(vpc, "/pets", "192.0.2.1"), Decision::ExplicitDeny);
        // An Allow with one never applies.
        let vpc_allow = json!({"Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]});
        assert_eq!(
            decide(vpc_allow, "/pets", "192.0.2.1"),
            Decision::ImplicitDeny
        );
        // A malformed CIDR is not a match-nothing condition.
        let bad_cidr = json!({"Statement": [allow_all(), {"Effect": "Deny", "Principal": "*",
            "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}]});
        assert_eq!(
            decide(bad_cidr, "/pets", "10.0.0.1"),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn other_actions_and_resources_do_not_match() {
        let policy = json!({"Statement": [allow_all(),
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:ManageConnections", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/test/*"}]});
        assert_eq!(decide(policy, "/pets", "192.0.2.1"), Decision::Allow);
    }

    #[test]
    fn globs_match_like_iam() {
        assert!(glob("prod/*/pets/?", "prod/GET/pets/7"));
        assert!(!glob("prod/*/pets/?", "prod/GET/pets/77"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("a*b*c", "a-x-c"));
        assert!(glob("*/GET/*", "prod/GET/"));
    }
}
