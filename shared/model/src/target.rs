//! Lambda integration targets: what an `aws_proxy` integration's `uri` may say, and the
//! `${stageVariables.name}` substitution shared by every kind of integration URI.

use std::collections::BTreeMap;

/// The function to invoke, as the Lambda Invoke API wants it: a name or ARN, and a qualifier
/// (version or alias) when the URI carried one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionTarget {
    pub function: String,
    pub qualifier: Option<String>,
}

const STAGE_VAR_OPEN: &str = "${stageVariables.";

/// A stage variable name as API Gateway allows it: `[A-Za-z0-9_]+`.
pub fn stage_variable_name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Replaces each `${stageVariables.name}` in `template`. A variable the stage does not define
/// is an error naming it (API Gateway answers 500 for such a request; the caller decides).
pub fn substitute_stage_variables(
    template: &str,
    variables: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find(STAGE_VAR_OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + STAGE_VAR_OPEN.len()..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated ${{stageVariables.…}} in {template:?}"))?;
        let name = &after[..end];
        if !stage_variable_name_ok(name) {
            return Err(format!(
                "invalid stage variable name {name:?} in {template:?}"
            ));
        }
        let value = variables
            .get(name)
            .ok_or_else(|| format!("stage variable {name:?} is not defined"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Names of the stage variables a template refers to.
pub fn stage_variables_used(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find(STAGE_VAR_OPEN) {
        let after = &rest[start + STAGE_VAR_OPEN.len()..];
        let Some(end) = after.find('}') else { break };
        names.push(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    names
}

fn name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn qualifier_ok(q: &str) -> bool {
    q == "$LATEST"
        || ((1..=128).contains(&q.len())
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

impl FunctionTarget {
    /// Parses a resolved URI (stage variables already substituted). Accepts what API Gateway
    /// and the Lambda Invoke API accept:
    /// - `name`, `name:qualifier`
    /// - `123456789012:function:name[:qualifier]`
    /// - `arn:aws:lambda:region:account:function:name[:qualifier]`
    /// - `arn:aws:apigateway:region:lambda:path/2015-03-31/functions/<any of the above>/invocations`
    pub fn parse(uri: &str) -> Result<FunctionTarget, String> {
        let uri = uri.trim();
        if let Some(rest) = uri.strip_prefix("arn:")
            && rest.contains(":apigateway:")
        {
            let inner = rest
                .split_once(":lambda:path/2015-03-31/functions/")
                .and_then(|(_, tail)| tail.strip_suffix("/invocations"))
                .ok_or_else(|| {
                    format!(
                        "uri {uri:?}: an API Gateway integration ARN must end in lambda:path/2015-03-31/functions/<function>/invocations"
                    )
                })?;
            return FunctionTarget::parse(inner);
        }
        let parts: Vec<&str> = uri.split(':').collect();
        let (prefix, name, qualifier) = match parts.as_slice() {
            [name] => (None, *name, None),
            [name, q] => (None, *name, Some(*q)),
            [account, "function", name] => (Some(format!("{account}:function:")), *name, None),
            [account, "function", name, q] => {
                (Some(format!("{account}:function:")), *name, Some(*q))
            }
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "function",
                name,
            ] => (
                Some(format!(
                    "arn:{partition}:lambda:{region}:{account}:function:"
                )),
                *name,
                None,
            ),
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "function",
                name,
                q,
            ] => (
                Some(format!(
                    "arn:{partition}:lambda:{region}:{account}:function:"
                )),
                *name,
                Some(*q),
            ),
            _ => {
                return Err(format!(
                    "uri {uri:?} is not a Lambda function name, name:qualifier, or function ARN"
                ));
            }
        };
        if !name_ok(name) {
            return Err(format!(
                "uri {uri:?}: function name {name:?} must be 1-64 letters, digits, '-' or '_'"
            ));
        }
        if let Some(q) = qualifier
            && !qualifier_ok(q)
        {
            return Err(format!(
                "uri {uri:?}: qualifier {q:?} is not a version or alias name"
            ));
        }
        Ok(FunctionTarget {
            function: format!("{}{name}", prefix.unwrap_or_default()),
            qualifier: qualifier.map(str::to_owned),
        })
    }

    /// Checks an unresolved URI: placeholders must be well formed, and the URI must parse
    /// once they are filled in with a plain value.
    pub fn check_template(uri: &str) -> Result<(), String> {
        if uri.trim().is_empty() {
            return Err("uri must name a Lambda function".to_owned());
        }
        let placeholder_values: BTreeMap<String, String> = stage_variables_used(uri)
            .into_iter()
            .map(|name| (name, "x".to_owned()))
            .collect();
        let resolved = substitute_stage_variables(uri, &placeholder_values)?;
        FunctionTarget::parse(&resolved).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(function: &str, qualifier: Option<&str>) -> FunctionTarget {
        FunctionTarget {
            function: function.to_owned(),
            qualifier: qualifier.map(str::to_owned),
        }
    }

    #[test]
    fn every_form_the_invoke_api_takes() {
        assert_eq!(FunctionTarget::parse("echo"), Ok(target("echo", None)));
        assert_eq!(
            FunctionTarget::parse("echo:live"),
            Ok(target("echo", Some("live")))
        );
        assert_eq!(
            FunctionTarget::parse("arn:aws:lambda:eu-west-1:123456789012:function:echo:7"),
            Ok(target(
                "arn:aws:lambda:eu-west-1:123456789012:function:echo",
                Some("7")
            ))
        );
        assert_eq!(
            FunctionTarget::parse(
                "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:echo/invocations"
            ),
            Ok(target(
                "arn:aws:lambda:eu-west-1:123456789012:function:echo",
                None
            ))
        );
        assert_eq!(
            FunctionTarget::parse("123456789012:function:echo"),
            Ok(target("123456789012:function:echo", None))
        );
    }

    #[test]
    fn malformed_targets_are_refused() {
        for bad in [
            "",
            "a b",
            "arn:aws:s3:::bucket",
            "echo:",
            "x:y:z",
            "arn:aws:apigateway:r:lambda:path/x",
        ] {
            assert!(
                FunctionTarget::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn stage_variables_are_substituted_and_checked() {
        let vars = BTreeMap::from([("alias".to_owned(), "live".to_owned())]);
        assert_eq!(
            substitute_stage_variables("echo:${stageVariables.alias}", &vars),
            Ok("echo:live".to_owned())
        );
        assert!(substitute_stage_variables("${stageVariables.nope}", &vars).is_err());
        assert!(substitute_stage_variables("${stageVariables.alias", &vars).is_err());
        assert!(FunctionTarget::check_template("echo:${stageVariables.alias}").is_ok());
        assert!(FunctionTarget::check_template("echo:${stageVariables.a-b}").is_err());
        assert_eq!(
            stage_variables_used("${stageVariables.a}/${stageVariables.b}"),
            ["a", "b"]
        );
    }
}
