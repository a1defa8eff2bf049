//! Fail closed: a route protected by something this front does not enforce yet (authorizers,
//! IAM signatures) is refused with API Gateway's answer for a caller without the credential,
//! never served open. Enforcement replaces each refusal as it lands; API keys have landed
//! ([`crate::keys`]).

use portico_model::definition::{AuthorizationType, RouteDefinition};

use crate::GatewayError;

pub fn refuse_unenforced(route: &RouteDefinition) -> Result<(), GatewayError> {
    let not_yet = |what: &str| {
        format!(
            "{what} on {} is not enforced by this front yet; refused",
            route.key()
        )
    };
    match route.authorization.kind {
        AuthorizationType::None => {}
        // API Gateway answers an unsigned request to an IAM route this way.
        AuthorizationType::AwsIam => return Err(GatewayError::MissingAuthenticationToken),
        AuthorizationType::Custom | AuthorizationType::Jwt => {
            return Err(GatewayError::Unauthorized {
                reason: not_yet("authorization"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(extra: serde_json::Value) -> RouteDefinition {
        let mut value = json!({"method": "GET", "path": "/", "integration": {"type": "mock"}});
        for (k, v) in extra.as_object().into_iter().flatten() {
            value[k] = v.clone();
        }
        serde_json::from_value(value).expect("route")
    }

    #[test]
    fn protected_routes_are_refused_not_served_open() {
        assert_eq!(refuse_unenforced(&route(json!({}))), Ok(()));
        assert!(matches!(
            refuse_unenforced(&route(
                json!({"authorization": {"type": "JWT", "authorizer": "a"}})
            )),
            Err(GatewayError::Unauthorized { .. })
        ));
        assert!(matches!(
            refuse_unenforced(&route(
                json!({"authorization": {"type": "CUSTOM", "authorizer": "a"}})
            )),
            Err(GatewayError::Unauthorized { .. })
        ));
        assert_eq!(
            refuse_unenforced(&route(json!({"authorization": {"type": "AWS_IAM"}}))),
            Err(GatewayError::MissingAuthenticationToken)
        );
        // API keys are checked by `keys::admit`, not refused here.
        assert_eq!(
            refuse_unenforced(&route(json!({"apiKeyRequired": true}))),
            Ok(())
        );
    }
}
