//! Which API and stage a request is for. The default path form is `/{apiId}/{stage}/{path}`:
//! the function URL stands in for API Gateway's `{apiId}.execute-api` host, and the rest is
//! the path the API's routes see.

use crate::error::GatewayError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    /// The path after the stage, always starting with `/`.
    pub path: &'a str,
}

pub fn resolve(raw_path: &str) -> Result<Target<'_>, GatewayError> {
    let rest = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let (api_id, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let (stage, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !ok(api_id) || !ok(stage) {
        // API Gateway answers an unknown API or stage as a missing route of a REST API.
        return Err(GatewayError::MissingAuthenticationToken);
    }
    Ok(Target {
        api_id,
        stage,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_api_stage_and_path() {
        assert_eq!(
            resolve("/abc123/prod/pets/7"),
            Ok(Target {
                api_id: "abc123",
                stage: "prod",
                path: "/pets/7"
            })
        );
        assert_eq!(
            resolve("/abc123/prod"),
            Ok(Target {
                api_id: "abc123",
                stage: "prod",
                path: "/"
            })
        );
        assert_eq!(
            resolve("/abc123/prod/"),
            Ok(Target {
                api_id: "abc123",
                stage: "prod",
                path: "/"
            })
        );
    }

    #[test]
    fn anything_else_is_a_missing_route() {
        for path in [
            "/",
            "",
            "/abc123",
            "/abc123/",
            "/a%2Fb/prod/x",
            "/abc/../x",
            "//prod/x",
        ] {
            assert_eq!(
                resolve(path),
                Err(GatewayError::MissingAuthenticationToken),
                "{path}"
            );
        }
    }
}
