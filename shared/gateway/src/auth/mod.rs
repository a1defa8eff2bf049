//! Authorizers at request time: who the caller is, and whether the route may be called.
//!
//! - [`jwt`]: JWT authorizers (signature, time and audience checks; JWKS and verified-token
//!   caches), and route scopes.
//! - [`lambda`]: Lambda authorizers (TOKEN and REQUEST), their IAM policies or simple answers,
//!   and the result cache keyed by every identity source value.
//!
//! What an authorizer establishes is a [`Principal`]: it reaches the integration's event where
//! API Gateway puts it, and a Lambda authorizer's `usageIdentifierKey` is the API key of an API
//! whose key source is `AUTHORIZER`.

pub mod jwt;
pub mod lambda;

#[cfg(test)]
pub(crate) mod testkit;

use std::sync::Arc;

use portico_model::definition::{
    ApiType, AuthorizationType, AuthorizerType, RouteDefinition, parse_identity_source,
};
use serde_json::{Map, Value};

use crate::GatewayError;
use crate::integration::Call;

/// Who an authorizer says the caller is.
#[derive(Debug, Clone)]
pub enum Principal {
    Jwt {
        claims: jwt::Claims,
        scopes: Option<Vec<String>>,
    },
    Lambda(Arc<lambda::Grant>),
}

impl Principal {
    /// The API key an `AUTHORIZER` key source takes from this principal.
    pub fn usage_identifier_key(&self) -> Option<&str> {
        match self {
            Principal::Lambda(grant) => grant.usage_identifier_key.as_deref(),
            Principal::Jwt { .. } => None,
        }
    }

    /// `$context.authorizer.principalId`: a Lambda authorizer's `principalId`, a JWT's `sub`.
    pub fn principal_id(&self) -> Option<&str> {
        match self {
            Principal::Lambda(grant) => grant.principal_id.as_deref(),
            Principal::Jwt { claims, .. } => claims.get("sub").and_then(Value::as_str),
        }
    }

    /// Payload 1.0's `requestContext.authorizer`.
    pub fn v1_authorizer(&self) -> Value {
        match self {
            Principal::Jwt { claims, scopes } => serde_json::json!({
                "claims": claims_as_text(claims),
                "scopes": scopes,
            }),
            Principal::Lambda(grant) => {
                let mut fields = grant.context.clone();
                if let Some(id) = &grant.principal_id {
                    fields.insert("principalId".to_owned(), Value::String(id.clone()));
                }
                Value::Object(fields)
            }
        }
    }
}

/// Claims as API Gateway passes them on: every value a string.
pub fn claims_as_text(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(jwt::claim_text(v))))
        .collect()
}

/// The authorizers of one instance: their caches live as long as it does.
pub struct Authorizers {
    jwt: jwt::JwtVerifier,
    lambda: lambda::LambdaAuthorizers,
}

fn unauthorized(reason: impl Into<String>) -> GatewayError {
    GatewayError::Unauthorized {
        reason: reason.into(),
    }
}

/// The value of each identity source, in order; `Err` names the first one missing.
pub fn identity_values(sources: &[String], call: &Call<'_>) -> Result<Vec<String>, String> {
    let mut values = Vec::with_capacity(sources.len());
    for source in sources {
        let (location, name) =
            parse_identity_source(source).ok_or_else(|| format!("identity source {source:?}"))?;
        let value = match location {
            "header" => call.request.header(name).map(str::to_owned),
            "querystring" => crate::event::query_pairs(&call.request.raw_query)
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v),
            "stageVariables" => call.stage.variables.get(name).cloned(),
            "context" => match name {
                "identity.sourceIp" => Some(call.request.source_ip.clone()),
                "identity.userAgent" => Some(call.request.user_agent().to_owned()),
                "requestId" => Some(call.request.request_id.clone()),
                "stage" => Some(call.stage.stage_name.clone()),
                "apiId" => Some(call.target.api_id.clone()),
                "httpMethod" => Some(call.request.method.to_string()),
                _ => None,
            },
            _ => None,
        };
        match value {
            Some(value) if !value.is_empty() => values.push(value),
            _ => return Err(format!("identity source {source} is missing")),
        }
    }
    Ok(values)
}

impl Authorizers {
    pub fn new(settings: jwt::JwtSettings) -> Authorizers {
        Authorizers {
            jwt: jwt::JwtVerifier::new(settings),
            lambda: lambda::LambdaAuthorizers::default(),
        }
    }

    /// The route's authorization: `Ok(None)` for open routes, the principal for authorized
    /// calls, API Gateway's refusal otherwise. IAM-signed routes are refused (callers cannot
    /// sign for this front yet), never served open.
    pub async fn authorize(
        &self,
        call: &Call<'_>,
        authorizers: &std::collections::BTreeMap<String, portico_model::definition::Authorizer>,
        method_arn: &str,
        invoker: &dyn portico_model::ports::Invoker,
    ) -> Result<Option<Principal>, GatewayError> {
        let route: &RouteDefinition = call.route;
        let kind = route.authorization.kind;
        if kind == AuthorizationType::None {
            return Ok(None);
        }
        if kind == AuthorizationType::AwsIam {
            // API Gateway's answer to an unsigned request to an IAM route.
            return Err(GatewayError::MissingAuthenticationToken);
        }
        // Deployments are validated: a CUSTOM or JWT route names an existing authorizer.
        let name = route
            .authorization
            .authorizer
            .as_deref()
            .unwrap_or_default();
        let Some(authorizer) = authorizers.get(name) else {
            return Err(GatewayError::AuthorizerFailure {
                reason: format!("route {} names no known authorizer", route.key()),
                configuration: true,
            });
        };
        match authorizer.kind {
            AuthorizerType::Jwt => {
                let default = ["$request.header.Authorization".to_owned()];
                let sources = if authorizer.identity_source.is_empty() {
                    &default[..]
                } else {
                    &authorizer.identity_source[..1]
                };
                let values = identity_values(sources, call).map_err(unauthorized)?;
                let value = values[0].trim();
                let token = match value.get(..7) {
                    Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
                    _ => value,
                };
                let config = jwt::JwtConfig {
                    issuer: authorizer.issuer.as_deref().unwrap_or_default(),
                    audience: &authorizer.audience,
                    jwks_uri: authorizer.jwks_uri.as_deref(),
                };
                let claims =
                    self.jwt.verify(&config, token).await.map_err(|reason| {
                        unauthorized(format!("JWT authorizer {name}: {reason}"))
                    })?;
                let scopes = jwt::scopes(&claims);
                let required = &route.authorization.scopes;
                if !required.is_empty() {
                    // Any one of the route's scopes suffices, as in API Gateway.
                    let granted = match &scopes {
                        Ok(Some(scopes)) => required.iter().any(|r| scopes.contains(r)),
                        _ => false,
                    };
                    if !granted {
                        return Err(GatewayError::AuthorizerForbidden {
                            reason: format!(
                                "the token carries none of the scopes {} needs",
                                route.key()
                            ),
                        });
                    }
                }
                Ok(Some(Principal::Jwt {
                    claims,
                    scopes: scopes.ok().flatten(),
                }))
            }
            AuthorizerType::Token | AuthorizerType::Request => {
                let grant = self
                    .lambda
                    .authorize(
                        &lambda::Invocation {
                            name,
                            authorizer,
                            call,
                            method_arn,
                            rest: call.api_type == ApiType::Rest,
                        },
                        invoker,
                    )
                    .await?;
                Ok(Some(Principal::Lambda(grant)))
            }
        }
    }
}
