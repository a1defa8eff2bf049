//! The native JSON definition of an API, as operators write it and the admin API stores it.
//!
//! Field names follow API Gateway's own spelling (`payloadFormatVersion`, `timeoutInMillis`,
//! `identityValidationExpression`) so a definition reads like the OpenAPI extensions it maps
//! to, and OpenAPI import and export are a change of layout, not of vocabulary. Unknown fields
//! are refused rather than ignored: a typo must not silently drop a setting.
//!
//! Parts the front does not apply yet (request parameters and templates, models, validators)
//! are carried exactly, so an imported API loses nothing and a later front applies them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::problem::{Problem, Problems, escape_pointer};

/// Longest API name accepted (API Gateway allows 1024; names are labels, not documents).
pub const MAX_NAME_LEN: usize = 128;
/// Longest description of an API.
pub const MAX_DESCRIPTION_LEN: usize = 1_024;
/// Most routes in one API. A compiled snapshot of this many routes stays far below DynamoDB's
/// 400 KB item limit once compressed (docs/definitions.md).
pub const MAX_ROUTES: usize = 1_000;
/// Most authorizers, models, gateway responses and validators, each.
pub const MAX_NAMED: usize = 100;
/// Longest route path, in bytes.
pub const MAX_PATH_LEN: usize = 1_024;
/// Largest stored definition, as JSON (API Gateway's import limit is 6 MB; a definition is
/// stored in one DynamoDB item).
pub const MAX_DEFINITION_BYTES: usize = 300 * 1024;
/// Integration timeout bounds: API Gateway's floor, and a Lambda function's 15-minute ceiling.
pub const MIN_TIMEOUT_MS: u32 = 50;
pub const MAX_TIMEOUT_MS: u32 = 900_000;
/// API Gateway's default integration timeout.
pub const DEFAULT_TIMEOUT_MS: u32 = 29_000;
/// Authorizer result cache bounds (API Gateway's).
pub const MAX_AUTHORIZER_TTL: u32 = 3_600;
pub const DEFAULT_AUTHORIZER_TTL: u32 = 300;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, rename = "type")]
    pub api_type: ApiType,
    #[serde(default)]
    pub routes: Vec<RouteDefinition>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorizers: BTreeMap<String, Authorizer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// Content types whose bodies are binary (payload 1.0 base64-encodes them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binary_media_types: Vec<String>,
    /// Per-type overrides of the gateway's own responses (`DEFAULT_4XX`, `THROTTLED`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gateway_responses: BTreeMap<String, GatewayResponse>,
    /// JSON schemas by name, for request validation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_validators: BTreeMap<String, RequestValidator>,
    /// The validator every route uses unless it names its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_validator: Option<String>,
    /// Where API keys come from: the `x-api-key` header (default) or an authorizer's
    /// `usageIdentifierKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_source: Option<ApiKeySource>,
    /// A resource policy (IAM policy document), carried as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

/// Decides how a request that matches no route is answered, and the default Lambda payload
/// format, as the two API Gateway flavours do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApiType {
    /// REST API: a missing route answers 403 `Missing Authentication Token`; Lambda proxy
    /// routes get payload 1.0 unless they say otherwise.
    #[default]
    Rest,
    /// HTTP API: a missing route answers 404 `Not Found`; Lambda proxy defaults to 2.0.
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApiKeySource {
    Header,
    Authorizer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDefinition {
    /// `GET`, `POST`, ... or `ANY`.
    pub method: String,
    /// `/pets/{id}`, `/files/{proxy+}`.
    pub path: String,
    pub integration: Integration,
    #[serde(default, skip_serializing_if = "Authorization::is_none")]
    pub authorization: Authorization,
    #[serde(default, skip_serializing_if = "is_false")]
    pub api_key_required: bool,
    /// Request parameters the route declares, by API Gateway's name
    /// (`method.request.querystring.page`), and whether each is required.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, bool>,
    /// Model names by content type, for body validation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_models: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_validator: Option<String>,
    /// Kept for OpenAPI round trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

impl RouteDefinition {
    /// `GET /pets/{id}`, as API Gateway names routes.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntegrationType {
    #[serde(rename = "aws_proxy", alias = "AWS_PROXY")]
    AwsProxy,
    #[serde(rename = "http_proxy", alias = "HTTP_PROXY")]
    HttpProxy,
    #[serde(rename = "http", alias = "HTTP")]
    Http,
    #[serde(rename = "aws", alias = "AWS")]
    Aws,
    #[serde(rename = "mock", alias = "MOCK")]
    Mock,
}

impl IntegrationType {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationType::AwsProxy => "aws_proxy",
            IntegrationType::HttpProxy => "http_proxy",
            IntegrationType::Http => "http",
            IntegrationType::Aws => "aws",
            IntegrationType::Mock => "mock",
        }
    }
}

/// A route's integration. One struct for every type, so fields API Gateway allows on several
/// types (request parameters, templates, responses) are carried the same way for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Integration {
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// `aws_proxy`: function name or ARN; `http(_proxy)`: URL; `aws`: service action ARN.
    /// May use `${stageVariables.x}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The backend method; `ANY` (the default) keeps the client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// Lambda proxy event format; the default follows the API type (REST 1.0, HTTP 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format_version: Option<PayloadFormatVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_millis: Option<u32>,
    /// `mock`: the response status (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// `mock`: response headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `mock`: response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_templates: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
    /// Integration responses (`aws`, `http`), carried as API Gateway writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responses: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadFormatVersion {
    #[serde(rename = "1.0")]
    V1,
    #[serde(rename = "2.0")]
    V2,
}

impl Integration {
    /// A bare integration of `kind`, every optional field empty.
    pub fn new(kind: IntegrationType) -> Self {
        Integration {
            kind,
            uri: None,
            http_method: None,
            payload_format_version: None,
            timeout_in_millis: None,
            status_code: None,
            headers: BTreeMap::new(),
            body: None,
            request_parameters: BTreeMap::new(),
            request_templates: BTreeMap::new(),
            passthrough_behavior: None,
            content_handling: None,
            responses: None,
        }
    }

    pub fn timeout_ms(&self) -> u32 {
        self.timeout_in_millis.unwrap_or(DEFAULT_TIMEOUT_MS)
    }

    /// The Lambda event format this integration uses in an API of `api_type`.
    pub fn payload_format(&self, api_type: ApiType) -> PayloadFormatVersion {
        self.payload_format_version.unwrap_or(match api_type {
            ApiType::Rest => PayloadFormatVersion::V1,
            ApiType::Http => PayloadFormatVersion::V2,
        })
    }

    pub fn uri(&self) -> &str {
        self.uri.as_deref().unwrap_or_default()
    }

    pub fn http_method(&self) -> &str {
        self.http_method.as_deref().unwrap_or("ANY")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationType {
    #[default]
    None,
    /// SigV4-signed callers (API Gateway's IAM authorization).
    AwsIam,
    /// A Lambda authorizer (TOKEN or REQUEST).
    Custom,
    /// A JWT authorizer (Cognito user pools are one case).
    Jwt,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorization {
    #[serde(rename = "type", default)]
    pub kind: AuthorizationType,
    /// The authorizer's name in `authorizers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<String>,
    /// Scopes a JWT must carry (`scope` / `scp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

impl Authorization {
    pub fn is_none(&self) -> bool {
        *self == Authorization::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthorizerType {
    /// A JWT authorizer: issuer, audiences, JWKS.
    Jwt,
    /// A Lambda authorizer given one header's value.
    Token,
    /// A Lambda authorizer given the identity sources it names.
    Request,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorizer {
    #[serde(rename = "type")]
    pub kind: AuthorizerType,
    /// Where the identity comes from: `$request.header.Authorization` (HTTP API style) or
    /// `method.request.header.Authorization` (REST style); also querystring, stageVariables,
    /// context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_source: Vec<String>,
    /// JWT: the `iss` tokens must carry, and where OIDC discovery starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// JWT: accepted `aud` (or `client_id`) values. Empty: the audience is not checked (as for
    /// a Cognito user pool authorizer of a REST API).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<String>,
    /// JWT: the JWKS, when not found by discovery from the issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Lambda: the authorizer function (name, ARN or API Gateway invocation ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_uri: Option<String>,
    /// Lambda: seconds a result is cached (0 = off, at most 3600; default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_ttl_in_seconds: Option<u32>,
    /// TOKEN: a regex the token must match before the function is called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_validation_expression: Option<String>,
    /// Lambda: the authorizer's event format (REST `1.0`, HTTP `2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format_version: Option<PayloadFormatVersion>,
    /// Lambda, payload 2.0: the function may answer `{"isAuthorized": bool}`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_simple_responses: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cors {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_credentials: bool,
}

/// An override of one of the gateway's own responses, in API Gateway's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// `gatewayresponse.header.Name` → `'literal'` or a context reference.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_parameters: BTreeMap<String, String>,
    /// Content type → body template (`{"message":$context.error.messageString}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_templates: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestValidator {
    #[serde(default)]
    pub validate_request_body: bool,
    #[serde(default)]
    pub validate_request_parameters: bool,
}

pub const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// Gateway response types API Gateway knows, each with its default status (`None` for the
/// two defaults, which apply to whole classes).
pub const GATEWAY_RESPONSE_TYPES: [(&str, Option<u16>); 22] = [
    ("ACCESS_DENIED", Some(403)),
    ("API_CONFIGURATION_ERROR", Some(500)),
    ("AUTHORIZER_CONFIGURATION_ERROR", Some(500)),
    ("AUTHORIZER_FAILURE", Some(500)),
    ("BAD_REQUEST_PARAMETERS", Some(400)),
    ("BAD_REQUEST_BODY", Some(400)),
    ("DEFAULT_4XX", None),
    ("DEFAULT_5XX", None),
    ("EXPIRED_TOKEN", Some(403)),
    ("INTEGRATION_FAILURE", Some(504)),
    ("INTEGRATION_TIMEOUT", Some(504)),
    ("INVALID_API_KEY", Some(403)),
    ("INVALID_SIGNATURE", Some(403)),
    ("MISSING_AUTHENTICATION_TOKEN", Some(403)),
    ("QUOTA_EXCEEDED", Some(429)),
    ("REQUEST_TOO_LARGE", Some(413)),
    ("RESOURCE_NOT_FOUND", Some(404)),
    ("THROTTLED", Some(429)),
    ("UNAUTHORIZED", Some(401)),
    ("UNSUPPORTED_MEDIA_TYPE", Some(415)),
    ("WAF_FILTERED", Some(403)),
    ("BAD_GATEWAY", Some(502)),
];

/// A name for an authorizer, model or validator: what API Gateway accepts, and safe in a
/// JSON pointer or an OpenAPI `$ref`.
fn name_ok(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl ApiDefinition {
    /// Every problem in the definition, each with a JSON pointer into it. An empty list means
    /// the definition can be stored; `crate::snapshot::compile` adds what deploying needs.
    pub fn problems(&self) -> Problems {
        let mut problems = Problems::default();
        if self.name.trim().is_empty() {
            problems.push(Problem::new("/name", "name must not be empty"));
        } else if self.name.chars().count() > MAX_NAME_LEN {
            problems.push(Problem::new(
                "/name",
                format!("name is longer than {MAX_NAME_LEN} characters"),
            ));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN)
        {
            problems.push(Problem::new(
                "/description",
                format!("description is longer than {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
        let size = serde_json::to_vec(self)
            .map(|v| v.len())
            .unwrap_or_default();
        if size > MAX_DEFINITION_BYTES {
            problems.push(Problem::new(
                "",
                format!("the definition is {size} bytes as JSON; at most {MAX_DEFINITION_BYTES} are stored"),
            ));
        }
        if self.routes.len() > MAX_ROUTES {
            problems.push(Problem::new(
                "/routes",
                format!(
                    "an API has at most {MAX_ROUTES} routes; this one has {}",
                    self.routes.len()
                ),
            ));
        }
        for (pointer, len) in [
            ("/authorizers", self.authorizers.len()),
            ("/models", self.models.len()),
            ("/gatewayResponses", self.gateway_responses.len()),
            ("/requestValidators", self.request_validators.len()),
        ] {
            if len > MAX_NAMED {
                problems.push(Problem::new(
                    pointer,
                    format!("at most {MAX_NAMED} entries"),
                ));
            }
        }
        self.check_routes(&mut problems);
        for (name, authorizer) in &self.authorizers {
            let at = format!("/authorizers/{}", escape_pointer(name));
            if !name_ok(name) {
                problems.push(Problem::new(
                    at.clone(),
                    "authorizer names are 1-128 letters, digits, '-', '_' or '.'",
                ));
            }
            authorizer.check(&at, &mut problems);
        }
        if let Some(cors) = &self.cors {
            cors.check(&mut problems);
        }
        for (i, media_type) in self.binary_media_types.iter().enumerate() {
            let ok = media_type.split_once('/').is_some_and(|(t, s)| {
                !t.is_empty() && !s.is_empty() && !media_type.contains([' ', ','])
            });
            if !ok {
                problems.push(Problem::new(
                    format!("/binaryMediaTypes/{i}"),
                    format!("{media_type:?} is not a media type such as image/png or image/*"),
                ));
            }
        }
        for (kind, response) in &self.gateway_responses {
            let at = format!("/gatewayResponses/{}", escape_pointer(kind));
            if !GATEWAY_RESPONSE_TYPES.iter().any(|(k, _)| k == kind) {
                problems.push(Problem::new(
                    at.clone(),
                    format!("{kind:?} is not a gateway response type (ACCESS_DENIED, DEFAULT_4XX, THROTTLED, ...)"),
                ));
            }
            if let Some(status) = response.status_code
                && !(100..=599).contains(&status)
            {
                problems.push(Problem::new(
                    format!("{at}/statusCode"),
                    "statusCode must be between 100 and 599",
                ));
            }
        }
        for (name, schema) in &self.models {
            let at = format!("/models/{}", escape_pointer(name));
            if !name_ok(name) {
                problems.push(Problem::new(
                    at.clone(),
                    "model names are 1-128 letters, digits, '-', '_' or '.'",
                ));
            }
            if !schema.is_object() {
                problems.push(Problem::new(at, "a model is a JSON schema object"));
            }
        }
        for name in self.request_validators.keys() {
            if !name_ok(name) {
                problems.push(Problem::new(
                    format!("/requestValidators/{}", escape_pointer(name)),
                    "validator names are 1-128 letters, digits, '-', '_' or '.'",
                ));
            }
        }
        if let Some(name) = &self.request_validator
            && !self.request_validators.contains_key(name)
        {
            problems.push(Problem::new(
                "/requestValidator",
                format!("no request validator named {name:?}"),
            ));
        }
        if let Some(policy) = &self.policy
            && !policy.is_object()
        {
            problems.push(Problem::new(
                "/policy",
                "a resource policy is a JSON object",
            ));
        }
        problems
    }

    fn check_routes(&self, problems: &mut Problems) {
        // Two templates that differ only in parameter names match the same requests.
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, route) in self.routes.iter().enumerate() {
            let at = format!("/routes/{i}");
            if !METHODS.contains(&route.method.as_str()) {
                problems.push(Problem::new(
                    format!("{at}/method"),
                    format!(
                        "method {:?} is not one of {}",
                        route.method,
                        METHODS.join(", ")
                    ),
                ));
            }
            match crate::router::PathTemplate::parse(&route.path) {
                Err(reason) => problems.push(Problem::new(format!("{at}/path"), reason)),
                Ok(template) => {
                    let key = (route.method.clone(), template.shape());
                    if let Some(first) = seen.insert(key, i) {
                        problems.push(Problem::new(
                            format!("{at}/path"),
                            format!(
                                "{} {} conflicts with route {first} ({}): both match the same requests",
                                route.method,
                                route.path,
                                self.routes[first].key()
                            ),
                        ));
                    }
                }
            }
            route
                .integration
                .check(&format!("{at}/integration"), problems);
            self.check_authorization(&at, route, problems);
            if let Some(name) = &route.request_validator
                && !self.request_validators.contains_key(name)
            {
                problems.push(Problem::new(
                    format!("{at}/requestValidator"),
                    format!("no request validator named {name:?}"),
                ));
            }
            for (content_type, model) in &route.request_models {
                if !self.models.contains_key(model) {
                    problems.push(Problem::new(
                        format!("{at}/requestModels/{}", escape_pointer(content_type)),
                        format!("no model named {model:?}"),
                    ));
                }
            }
            for name in route.request_parameters.keys() {
                if parse_request_parameter(name).is_none() {
                    problems.push(Problem::new(
                        format!("{at}/requestParameters/{}", escape_pointer(name)),
                        "request parameters are named method.request.{querystring|header|path}.NAME",
                    ));
                }
            }
        }
    }

    fn check_authorization(&self, at: &str, route: &RouteDefinition, problems: &mut Problems) {
        let auth = &route.authorization;
        let at = format!("{at}/authorization");
        let authorizer = auth
            .authorizer
            .as_ref()
            .map(|n| (n, self.authorizers.get(n)));
        match (auth.kind, authorizer) {
            (AuthorizationType::None | AuthorizationType::AwsIam, Some(_)) => {
                problems.push(Problem::new(
                    format!("{at}/authorizer"),
                    "only CUSTOM and JWT authorization name an authorizer",
                ))
            }
            (AuthorizationType::Custom | AuthorizationType::Jwt, None) => {
                problems.push(Problem::new(
                    format!("{at}/authorizer"),
                    "CUSTOM and JWT authorization need an authorizer",
                ))
            }
            (_, Some((name, None))) => problems.push(Problem::new(
                format!("{at}/authorizer"),
                format!("no authorizer named {name:?}"),
            )),
            (AuthorizationType::Custom, Some((name, Some(a)))) if a.kind == AuthorizerType::Jwt => {
                problems.push(Problem::new(
                    format!("{at}/authorizer"),
                    format!("{name:?} is a JWT authorizer; use type JWT"),
                ))
            }
            (AuthorizationType::Jwt, Some((name, Some(a)))) if a.kind != AuthorizerType::Jwt => {
                problems.push(Problem::new(
                    format!("{at}/authorizer"),
                    format!("{name:?} is a Lambda authorizer; use type CUSTOM"),
                ))
            }
            _ => {}
        }
        if !auth.scopes.is_empty() && auth.kind != AuthorizationType::Jwt {
            problems.push(Problem::new(
                format!("{at}/scopes"),
                "scopes apply to JWT authorization only",
            ));
        }
    }

    /// Stage variables the definition's URIs refer to.
    pub fn stage_variables_used(&self) -> Vec<(String, String)> {
        let mut used = Vec::new();
        for (i, route) in self.routes.iter().enumerate() {
            for name in crate::target::stage_variables_used(route.integration.uri()) {
                used.push((format!("/routes/{i}/integration/uri"), name));
            }
        }
        for (name, authorizer) in &self.authorizers {
            if let Some(uri) = &authorizer.function_uri {
                for var in crate::target::stage_variables_used(uri) {
                    used.push((
                        format!("/authorizers/{}/functionUri", escape_pointer(name)),
                        var,
                    ));
                }
            }
        }
        used
    }
}

/// `method.request.querystring.page` → (`querystring`, `page`).
pub fn parse_request_parameter(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("method.request.")?;
    let (location, param) = rest.split_once('.')?;
    (matches!(
        location,
        "querystring" | "header" | "path" | "multivaluequerystring" | "multivalueheader"
    ) && !param.is_empty())
    .then_some((location, param))
}

/// An identity source as (location, name): `$request.header.Authorization` and
/// `method.request.header.Authorization` are both (`header`, `Authorization`).
pub fn parse_identity_source(source: &str) -> Option<(&str, &str)> {
    let rest = source
        .strip_prefix("$request.")
        .or_else(|| source.strip_prefix("method.request."))
        .or_else(|| source.strip_prefix('$'))?;
    let (location, name) = rest.split_once('.')?;
    let location = match location {
        "header" => "header",
        "querystring" | "querystrings" => "querystring",
        "stageVariables" => "stageVariables",
        "context" => "context",
        _ => return None,
    };
    (!name.is_empty()).then_some((location, name))
}

impl Integration {
    fn check(&self, at: &str, problems: &mut Problems) {
        if let Some(ms) = self.timeout_in_millis
            && !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms)
        {
            problems.push(Problem::new(
                format!("{at}/timeoutInMillis"),
                format!("timeoutInMillis must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
            ));
        }
        if let Some(method) = &self.http_method
            && !METHODS.contains(&method.as_str())
        {
            problems.push(Problem::new(
                format!("{at}/httpMethod"),
                format!("httpMethod {method:?} is not one of {}", METHODS.join(", ")),
            ));
        }
        let uri_problem = match self.kind {
            IntegrationType::AwsProxy => {
                crate::target::FunctionTarget::check_template(self.uri()).err()
            }
            IntegrationType::HttpProxy | IntegrationType::Http => check_http_uri(self.uri()).err(),
            IntegrationType::Aws => (!self.uri().starts_with("arn:")).then(|| {
                format!(
                    "uri {:?} must be an AWS service action ARN (arn:aws:apigateway:...)",
                    self.uri()
                )
            }),
            IntegrationType::Mock => None,
        };
        if let Some(reason) = uri_problem {
            problems.push(Problem::new(format!("{at}/uri"), reason));
        }
        if self.kind != IntegrationType::AwsProxy && self.payload_format_version.is_some() {
            problems.push(Problem::new(
                format!("{at}/payloadFormatVersion"),
                "payloadFormatVersion applies to aws_proxy integrations only",
            ));
        }
        if self.kind != IntegrationType::Mock
            && (self.status_code.is_some() || !self.headers.is_empty() || self.body.is_some())
        {
            problems.push(Problem::new(
                at.to_owned(),
                "statusCode, headers and body belong to mock integrations",
            ));
        }
        if let Some(status) = self.status_code
            && !(100..=599).contains(&status)
        {
            problems.push(Problem::new(
                format!("{at}/statusCode"),
                "statusCode must be between 100 and 599",
            ));
        }
        for (name, value) in &self.headers {
            if http_header_name_invalid(name) || value.bytes().any(|b| b < 0x20 && b != b'\t') {
                problems.push(Problem::new(
                    format!("{at}/headers/{}", escape_pointer(name)),
                    "header names must be tokens and values must not contain control characters",
                ));
            }
        }
    }
}

impl Authorizer {
    fn check(&self, at: &str, problems: &mut Problems) {
        for (i, source) in self.identity_source.iter().enumerate() {
            if parse_identity_source(source).is_none() {
                problems.push(Problem::new(
                    format!("{at}/identitySource/{i}"),
                    format!(
                        "{source:?} is not an identity source such as $request.header.Authorization"
                    ),
                ));
            }
        }
        match self.kind {
            AuthorizerType::Jwt => {
                match &self.issuer {
                    None => problems.push(Problem::new(
                        format!("{at}/issuer"),
                        "a JWT authorizer needs an issuer",
                    )),
                    Some(issuer)
                        if !issuer.starts_with("https://") && !issuer.starts_with("http://") =>
                    {
                        problems.push(Problem::new(format!("{at}/issuer"), "the issuer is a URL"))
                    }
                    _ => {}
                }
                if let Some(uri) = &self.jwks_uri
                    && check_http_uri(uri).is_err()
                {
                    problems.push(Problem::new(
                        format!("{at}/jwksUri"),
                        "jwksUri is an http(s) URL",
                    ));
                }
                if self.function_uri.is_some() {
                    problems.push(Problem::new(
                        format!("{at}/functionUri"),
                        "a JWT authorizer has no function",
                    ));
                }
            }
            AuthorizerType::Token | AuthorizerType::Request => {
                match &self.function_uri {
                    None => problems.push(Problem::new(
                        format!("{at}/functionUri"),
                        "a Lambda authorizer needs its function",
                    )),
                    Some(uri) => {
                        if let Err(reason) = crate::target::FunctionTarget::check_template(uri) {
                            problems.push(Problem::new(format!("{at}/functionUri"), reason));
                        }
                    }
                }
                if self
                    .result_ttl_in_seconds
                    .is_some_and(|t| t > MAX_AUTHORIZER_TTL)
                {
                    problems.push(Problem::new(
                        format!("{at}/resultTtlInSeconds"),
                        format!("resultTtlInSeconds is at most {MAX_AUTHORIZER_TTL}"),
                    ));
                }
                if self.kind == AuthorizerType::Token {
                    let one_header = self.identity_source.len() == 1
                        && parse_identity_source(&self.identity_source[0])
                            .is_some_and(|(l, _)| l == "header");
                    if !self.identity_source.is_empty() && !one_header {
                        problems.push(Problem::new(
                            format!("{at}/identitySource"),
                            "a TOKEN authorizer reads exactly one header",
                        ));
                    }
                }
                if let Some(expression) = &self.identity_validation_expression {
                    if self.kind != AuthorizerType::Token {
                        problems.push(Problem::new(
                            format!("{at}/identityValidationExpression"),
                            "identityValidationExpression applies to TOKEN authorizers",
                        ));
                    } else if let Err(e) = regex::Regex::new(expression) {
                        problems.push(Problem::new(
                            format!("{at}/identityValidationExpression"),
                            format!("not a valid regular expression: {e}"),
                        ));
                    }
                }
                if self.enable_simple_responses
                    && self.payload_format_version != Some(PayloadFormatVersion::V2)
                {
                    problems.push(Problem::new(
                        format!("{at}/enableSimpleResponses"),
                        "simple responses need payloadFormatVersion 2.0",
                    ));
                }
            }
        }
    }
}

impl Cors {
    fn check(&self, problems: &mut Problems) {
        let wildcard = self.allow_origins.iter().any(|o| o == "*");
        if wildcard && self.allow_credentials {
            problems.push(Problem::new(
                "/cors/allowCredentials",
                "browsers refuse credentials with Access-Control-Allow-Origin: *; list the origins instead",
            ));
        }
        for (i, origin) in self.allow_origins.iter().enumerate() {
            let ok = origin == "*"
                || ((origin.starts_with("https://") || origin.starts_with("http://"))
                    && !origin
                        .trim_start_matches("https://")
                        .trim_start_matches("http://")
                        .contains('/')
                    && !origin.contains([' ', ',']));
            if !ok {
                problems.push(Problem::new(
                    format!("/cors/allowOrigins/{i}"),
                    format!("{origin:?} is not an origin such as https://example.com, or *"),
                ));
            }
        }
        for (i, method) in self.allow_methods.iter().enumerate() {
            if method != "*" && !METHODS.contains(&method.as_str()) {
                problems.push(Problem::new(
                    format!("/cors/allowMethods/{i}"),
                    format!("{method:?} is not an HTTP method or *"),
                ));
            }
        }
        for (list, at) in [
            (&self.allow_headers, "allowHeaders"),
            (&self.expose_headers, "exposeHeaders"),
        ] {
            for (i, header) in list.iter().enumerate() {
                if header != "*" && http_header_name_invalid(header) {
                    problems.push(Problem::new(
                        format!("/cors/{at}/{i}"),
                        format!("{header:?} is not a header name"),
                    ));
                }
            }
        }
        if self.max_age.is_some_and(|m| m > 86_400) {
            problems.push(Problem::new(
                "/cors/maxAge",
                "maxAge is at most 86400 seconds",
            ));
        }
    }
}

fn http_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An HTTP integration URI must be an absolute http(s) URL whose host is fixed: placeholders
/// may appear in the path and query only, so a stage variable or a path parameter can never
/// send a request to another host (SSRF).
pub fn check_http_uri(uri: &str) -> Result<(), String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .ok_or_else(|| format!("uri {uri:?} must start with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("uri {uri:?} has no host"));
    }
    if authority.contains(['{', '}', '$', '@', '\\']) {
        return Err(format!(
            "uri {uri:?}: the host part must be literal (no placeholders or user info), so requests cannot be steered to another host"
        ));
    }
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!("uri {uri:?} contains spaces or control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
