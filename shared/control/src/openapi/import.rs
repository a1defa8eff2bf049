//! OpenAPI 3.0 and Swagger 2.0 (JSON or YAML) to a native definition, reading API Gateway's
//! `x-amazon-apigateway-*` extensions. Whatever is not understood becomes a warning with a
//! JSON pointer into the document; nothing is dropped silently.

use std::collections::BTreeMap;

use portico_model::definition::{
    ApiDefinition, ApiKeySource, ApiType, Authorization, AuthorizationType, Authorizer,
    AuthorizerType, Cors, GatewayResponse, Integration, IntegrationType, PayloadFormatVersion,
    RequestValidator, RouteDefinition,
};
use portico_model::problem::{Problem, Problems, escape_pointer};
use serde_json::{Map, Value};

/// A document turned into a definition, and what could not be carried over.
#[derive(Debug)]
pub struct Imported {
    pub definition: ApiDefinition,
    pub warnings: Problems,
}

/// Operation keys of a path item, and the method each stands for.
const OPERATIONS: [(&str, &str); 8] = [
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// Top-level keys that describe the document or its servers: understood, and not needed.
const DOCUMENTATION_KEYS: [&str; 10] = [
    "openapi",
    "swagger",
    "info",
    "servers",
    "host",
    "basePath",
    "schemes",
    "tags",
    "externalDocs",
    "consumes",
];

/// Operation keys that only document the operation.
const OPERATION_DOC_KEYS: [&str; 8] = [
    "summary",
    "description",
    "tags",
    "responses",
    "externalDocs",
    "deprecated",
    "produces",
    "consumes",
];

/// Parses JSON or YAML into a JSON value (YAML keys such as `200:` become strings).
pub fn parse_document(bytes: &[u8]) -> Result<Value, Problems> {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        return Ok(value);
    }
    let yaml: serde_norway::Value = serde_norway::from_slice(bytes).map_err(|e| {
        Problems::from(Problem::new(
            "",
            format!("the document is neither JSON nor YAML: {e}"),
        ))
    })?;
    Ok(yaml_to_json(yaml))
}

fn yaml_to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map(Value::from).unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        Y::Number(n) => n.to_string(),
                        Y::Bool(b) => b.to_string(),
                        other => serde_norway::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

struct Importer<'a> {
    root: &'a Value,
    doc: &'a Map<String, Value>,
    warnings: Problems,
    /// Security scheme names that mean "API key required".
    api_key_schemes: Vec<String>,
    /// Security scheme names that mean SigV4 (AWS_IAM).
    iam_schemes: Vec<String>,
    /// Where each route came from, to point problems at the document.
    route_pointers: Vec<String>,
}

fn ptr(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("/{}", escape_pointer(p)))
        .collect()
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn as_u32(value: Option<&Value>) -> Option<u32> {
    match value? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn payload_format(value: Option<&Value>) -> Option<PayloadFormatVersion> {
    match value?.as_str()? {
        "1.0" => Some(PayloadFormatVersion::V1),
        "2.0" => Some(PayloadFormatVersion::V2),
        _ => None,
    }
}

/// Imports `bytes` (JSON or YAML). `api_type` overrides what the document implies.
pub fn import(bytes: &[u8], api_type: Option<ApiType>) -> Result<Imported, Problems> {
    let value = parse_document(bytes)?;
    let Some(doc) = value.as_object() else {
        return Err(Problem::new("", "an OpenAPI document is a JSON or YAML object").into());
    };
    let oas3 = doc
        .get("openapi")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("3."));
    let swagger2 = doc.get("swagger").and_then(Value::as_str) == Some("2.0");
    if !oas3 && !swagger2 {
        return Err(Problem::new(
            "/openapi",
            "only OpenAPI 3.0 (openapi: 3.0.x) and Swagger 2.0 (swagger: \"2.0\") documents are imported",
        )
        .into());
    }
    let Some(name) = value.pointer("/info/title").and_then(Value::as_str) else {
        return Err(Problem::new(
            "/info/title",
            "the document needs info.title: it names the API",
        )
        .into());
    };
    let mut importer = Importer {
        root: &value,
        doc,
        warnings: Problems::default(),
        api_key_schemes: Vec::new(),
        iam_schemes: Vec::new(),
        route_pointers: Vec::new(),
    };
    let api_type = api_type.unwrap_or_else(|| importer.api_type());
    let mut definition = ApiDefinition {
        name: name.to_owned(),
        description: value
            .pointer("/info/description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        api_type,
        ..ApiDefinition::default()
    };
    importer.top_level(&mut definition, oas3);
    importer.paths(&mut definition, oas3);
    let problems = definition.problems();
    if !problems.is_empty() {
        return Err(importer.locate(problems));
    }
    Ok(Imported {
        definition,
        warnings: importer.warnings,
    })
}

impl Importer<'_> {
    fn warn(&mut self, pointer: String, message: impl Into<String>) {
        self.warnings.push(Problem::new(pointer, message));
    }

    fn api_type(&self) -> ApiType {
        match self.doc.get("x-portico-type").and_then(Value::as_str) {
            Some("HTTP") => return ApiType::Http,
            Some("REST") => return ApiType::Rest,
            _ => {}
        }
        // API Gateway marks HTTP API exports with this extension.
        if self
            .doc
            .contains_key("x-amazon-apigateway-importexport-version")
            || self.doc.contains_key("x-amazon-apigateway-cors")
        {
            ApiType::Http
        } else {
            ApiType::Rest
        }
    }

    fn top_level(&mut self, definition: &mut ApiDefinition, oas3: bool) {
        for (key, value) in self.doc {
            let at = ptr(&[key]);
            match key.as_str() {
                k if DOCUMENTATION_KEYS.contains(&k) => {}
                "paths"
                | "components"
                | "definitions"
                | "securityDefinitions"
                | "security"
                | "produces"
                | "parameters"
                | "responses"
                | "x-portico-type"
                | "x-amazon-apigateway-importexport-version" => {}
                "x-amazon-apigateway-binary-media-types" => {
                    definition.binary_media_types = string_list(Some(value));
                }
                "x-amazon-apigateway-api-key-source" => {
                    definition.api_key_source = match value.as_str() {
                        Some("HEADER") => Some(ApiKeySource::Header),
                        Some("AUTHORIZER") => Some(ApiKeySource::Authorizer),
                        _ => {
                            self.warn(at, "expected HEADER or AUTHORIZER; ignored");
                            None
                        }
                    };
                }
                "x-amazon-apigateway-policy" => definition.policy = Some(value.clone()),
                "x-amazon-apigateway-request-validator" => {
                    definition.request_validator = value.as_str().map(str::to_owned);
                }
                "x-amazon-apigateway-request-validators" => {
                    for (name, v) in value.as_object().into_iter().flatten() {
                        definition.request_validators.insert(
                            name.clone(),
                            RequestValidator {
                                validate_request_body: v
                                    .get("validateRequestBody")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                                validate_request_parameters: v
                                    .get("validateRequestParameters")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                            },
                        );
                    }
                }
                "x-amazon-apigateway-gateway-responses" => {
                    for (kind, v) in value.as_object().into_iter().flatten() {
                        definition.gateway_responses.insert(
                            kind.clone(),
                            GatewayResponse {
                                status_code: as_u32(v.get("statusCode"))
                                    .and_then(|s| u16::try_from(s).ok()),
                                response_parameters: string_map(v.get("responseParameters")),
                                response_templates: string_map(v.get("responseTemplates")),
                            },
                        );
                    }
                }
                "x-amazon-apigateway-cors" => definition.cors = Some(self.cors(value, &at)),
                other if other.starts_with("x-amazon-apigateway-") => {
                    self.warn(at, format!("{other} is not supported by Portico; ignored"));
                }
                other if other.starts_with("x-") => {}
                other => self.warn(at, format!("{other} is not part of OpenAPI; ignored")),
            }
        }
        // Models: OpenAPI 3 components.schemas, Swagger 2 definitions.
        let (schemas, schemas_at) = if oas3 {
            (
                self.root.pointer("/components/schemas"),
                "/components/schemas",
            )
        } else {
            (self.doc.get("definitions"), "/definitions")
        };
        for (name, schema) in schemas.and_then(Value::as_object).into_iter().flatten() {
            if schema.is_object() {
                definition.models.insert(name.clone(), schema.clone());
            } else {
                self.warn(
                    format!("{schemas_at}/{}", escape_pointer(name)),
                    "a model must be a schema object; ignored",
                );
            }
        }
        let (schemes, schemes_at) = if oas3 {
            (
                self.root.pointer("/components/securitySchemes"),
                "/components/securitySchemes",
            )
        } else {
            (self.doc.get("securityDefinitions"), "/securityDefinitions")
        };
        for (name, scheme) in schemes.and_then(Value::as_object).into_iter().flatten() {
            let at = format!("{schemes_at}/{}", escape_pointer(name));
            self.security_scheme(definition, name, scheme, &at);
        }
        if oas3 {
            for (key, _) in self
                .doc
                .get("components")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if !matches!(
                    key.as_str(),
                    "schemas"
                        | "securitySchemes"
                        | "parameters"
                        | "responses"
                        | "examples"
                        | "headers"
                        | "requestBodies"
                ) {
                    self.warn(
                        ptr(&["components", key]),
                        format!("components.{key} is not used by Portico; ignored"),
                    );
                }
            }
        }
    }

    fn cors(&mut self, value: &Value, at: &str) -> Cors {
        for key in value.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !matches!(
                key.as_str(),
                "allowOrigins"
                    | "allowMethods"
                    | "allowHeaders"
                    | "exposeHeaders"
                    | "maxAge"
                    | "allowCredentials"
            ) {
                self.warn(
                    format!("{at}/{}", escape_pointer(key)),
                    format!("CORS setting {key} is not understood; ignored"),
                );
            }
        }
        Cors {
            allow_origins: string_list(value.get("allowOrigins")),
            allow_methods: string_list(value.get("allowMethods")),
            allow_headers: string_list(value.get("allowHeaders")),
            expose_headers: string_list(value.get("exposeHeaders")),
            max_age: as_u32(value.get("maxAge")),
            allow_credentials: value
                .get("allowCredentials")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    fn security_scheme(
        &mut self,
        definition: &mut ApiDefinition,
        name: &str,
        scheme: &Value,
        at: &str,
    ) {
        if scheme
            .get("x-amazon-apigateway-authtype")
            .and_then(Value::as_str)
            == Some("awsSigv4")
        {
            self.iam_schemes.push(name.to_owned());
            return;
        }
        let Some(config) = scheme.get("x-amazon-apigateway-authorizer") else {
            let is_api_key = scheme.get("type").and_then(Value::as_str) == Some("apiKey")
                && scheme.get("in").and_then(Value::as_str) == Some("header")
                && scheme
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case("x-api-key"));
            if is_api_key {
                self.api_key_schemes.push(name.to_owned());
            } else {
                self.warn(
                    at.to_owned(),
                    "a security scheme without x-amazon-apigateway-authorizer is understood only as the x-api-key header; ignored",
                );
            }
            return;
        };
        let at = format!("{at}/x-amazon-apigateway-authorizer");
        let kind = config
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut identity_source = string_list(config.get("identitySource"));
        if identity_source.is_empty()
            && scheme.get("in").and_then(Value::as_str) == Some("header")
            && let Some(header) = scheme.get("name").and_then(Value::as_str)
        {
            identity_source.push(format!("method.request.header.{header}"));
        }
        let mut authorizer = Authorizer {
            kind: AuthorizerType::Jwt,
            identity_source,
            issuer: None,
            audience: Vec::new(),
            jwks_uri: None,
            function_uri: None,
            result_ttl_in_seconds: None,
            identity_validation_expression: None,
            payload_format_version: payload_format(config.get("authorizerPayloadFormatVersion")),
            enable_simple_responses: config
                .get("enableSimpleResponses")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        match kind.as_str() {
            "jwt" => {
                authorizer.issuer = config
                    .pointer("/jwtConfiguration/issuer")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                authorizer.audience = string_list(config.pointer("/jwtConfiguration/audience"));
                authorizer.jwks_uri = config
                    .pointer("/jwtConfiguration/jwksUri")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            "cognito_user_pools" => {
                // arn:aws:cognito-idp:{region}:{account}:userpool/{poolId} is the issuer
                // https://cognito-idp.{region}.amazonaws.com/{poolId}.
                let arns = string_list(config.get("providerARNs"));
                authorizer.issuer = arns.first().and_then(|arn| {
                    let parts: Vec<&str> = arn.split(':').collect();
                    let pool = parts.get(5)?.strip_prefix("userpool/")?;
                    Some(format!(
                        "https://cognito-idp.{}.amazonaws.com/{pool}",
                        parts.get(3)?
                    ))
                });
                if arns.len() > 1 {
                    self.warn(
                        format!("{at}/providerARNs"),
                        "only the first user pool is used",
                    );
                }
                if authorizer.issuer.is_none() {
                    self.warn(
                        format!("{at}/providerARNs"),
                        "no user pool ARN; the authorizer has no issuer",
                    );
                }
            }
            "token" | "request" => {
                authorizer.kind = if kind == "token" {
                    AuthorizerType::Token
                } else {
                    AuthorizerType::Request
                };
                authorizer.function_uri = config
                    .get("authorizerUri")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                authorizer.result_ttl_in_seconds =
                    as_u32(config.get("authorizerResultTtlInSeconds"));
                authorizer.identity_validation_expression = config
                    .get("identityValidationExpression")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            other => {
                self.warn(
                    format!("{at}/type"),
                    format!("authorizer type {other:?} is not supported; ignored"),
                );
                return;
            }
        }
        for key in config.as_object().into_iter().flatten().map(|(k, _)| k) {
            let understood = matches!(
                key.as_str(),
                "type"
                    | "identitySource"
                    | "authorizerPayloadFormatVersion"
                    | "enableSimpleResponses"
                    | "jwtConfiguration"
                    | "providerARNs"
                    | "authorizerUri"
                    | "authorizerResultTtlInSeconds"
                    | "identityValidationExpression"
            );
            if !understood {
                self.warn(
                    format!("{at}/{}", escape_pointer(key)),
                    format!("authorizer setting {key} is not supported; ignored"),
                );
            }
        }
        if config.get("authorizerCredentials").is_some() {
            // Reported above as unsupported; say why it matters.
            self.warn(
                format!("{at}/authorizerCredentials"),
                "the front invokes authorizers with its own role",
            );
        }
        definition.authorizers.insert(name.to_owned(), authorizer);
    }

    fn paths(&mut self, definition: &mut ApiDefinition, oas3: bool) {
        let Some(paths) = self.doc.get("paths").and_then(Value::as_object) else {
            self.warn("/paths".to_owned(), "the document has no paths");
            return;
        };
        let default_security = self.doc.get("security").cloned();
        for (path, item) in paths {
            let item_at = ptr(&["paths", path]);
            let Some(item) = item.as_object() else {
                continue;
            };
            let shared_parameters = item.get("parameters").cloned();
            for (key, _) in item {
                if !OPERATIONS.iter().any(|(k, _)| k == key)
                    && !matches!(
                        key.as_str(),
                        "parameters" | "summary" | "description" | "servers"
                    )
                {
                    self.warn(
                        format!("{item_at}/{}", escape_pointer(key)),
                        format!("{key} is not supported here; ignored"),
                    );
                }
            }
            for (key, method) in OPERATIONS {
                let Some(operation) = item.get(key).and_then(Value::as_object) else {
                    continue;
                };
                let at = format!("{item_at}/{}", escape_pointer(key));
                if let Some(route) = self.operation(
                    definition,
                    path,
                    method,
                    operation,
                    shared_parameters.as_ref(),
                    default_security.as_ref(),
                    &at,
                    oas3,
                ) {
                    definition.routes.push(route);
                    self.route_pointers.push(at);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &mut self,
        definition: &ApiDefinition,
        path: &str,
        method: &str,
        operation: &Map<String, Value>,
        shared_parameters: Option<&Value>,
        default_security: Option<&Value>,
        at: &str,
        oas3: bool,
    ) -> Option<RouteDefinition> {
        let Some(config) = operation.get("x-amazon-apigateway-integration") else {
            self.warn(
                at.to_owned(),
                format!("{method} {path} has no x-amazon-apigateway-integration; not imported"),
            );
            return None;
        };
        let integration =
            self.integration(config, &format!("{at}/x-amazon-apigateway-integration"))?;
        let mut route = RouteDefinition {
            method: method.to_owned(),
            path: path.to_owned(),
            integration,
            authorization: Authorization::default(),
            api_key_required: false,
            request_parameters: BTreeMap::new(),
            request_models: BTreeMap::new(),
            request_validator: operation
                .get("x-amazon-apigateway-request-validator")
                .and_then(Value::as_str)
                .map(str::to_owned),
            operation_id: operation
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        if let Some(security) = operation.get("security").or(default_security) {
            self.security(definition, &mut route, security, &format!("{at}/security"));
        }
        if let Some(auth) = operation.get("x-amazon-apigateway-auth")
            && auth
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("AWS_IAM"))
        {
            route.authorization.kind = AuthorizationType::AwsIam;
        }
        for source in [shared_parameters, operation.get("parameters")]
            .into_iter()
            .flatten()
        {
            for (i, parameter) in source.as_array().into_iter().flatten().enumerate() {
                self.parameter(&mut route, parameter, &format!("{at}/parameters/{i}"), oas3);
            }
        }
        if let Some(body) = operation.get("requestBody") {
            for (content_type, media) in body
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let reference = media.pointer("/schema/$ref").and_then(Value::as_str);
                match reference.and_then(|r| r.strip_prefix("#/components/schemas/")) {
                    Some(model) => {
                        route.request_models.insert(content_type.clone(), model.to_owned());
                    }
                    None if media.get("schema").is_some() => self.warn(
                        format!("{at}/requestBody/content/{}/schema", escape_pointer(content_type)),
                        "an inline request schema is not imported; refer to a model in components.schemas",
                    ),
                    None => {}
                }
            }
        }
        for (key, _) in operation {
            let known = OPERATION_DOC_KEYS.contains(&key.as_str())
                || matches!(
                    key.as_str(),
                    "x-amazon-apigateway-integration"
                        | "x-amazon-apigateway-request-validator"
                        | "x-amazon-apigateway-auth"
                        | "security"
                        | "parameters"
                        | "requestBody"
                        | "operationId"
                );
            if !known && (key.starts_with("x-amazon-apigateway-") || !key.starts_with("x-")) {
                self.warn(
                    format!("{at}/{}", escape_pointer(key)),
                    format!("{key} is not supported on an operation; ignored"),
                );
            }
        }
        Some(route)
    }

    fn security(
        &mut self,
        definition: &ApiDefinition,
        route: &mut RouteDefinition,
        security: &Value,
        at: &str,
    ) {
        let requirements = security.as_array().cloned().unwrap_or_default();
        if requirements.len() > 1 {
            self.warn(
                at.to_owned(),
                "only the first security requirement is used (API Gateway allows one)",
            );
        }
        let Some(requirement) = requirements.first().and_then(Value::as_object) else {
            return;
        };
        for (scheme, scopes) in requirement {
            let here = format!("{at}/0/{}", escape_pointer(scheme));
            if self.api_key_schemes.contains(scheme) {
                route.api_key_required = true;
            } else if self.iam_schemes.contains(scheme) {
                route.authorization.kind = AuthorizationType::AwsIam;
            } else if let Some(authorizer) = definition.authorizers.get(scheme) {
                route.authorization.kind = match authorizer.kind {
                    AuthorizerType::Jwt => AuthorizationType::Jwt,
                    AuthorizerType::Token | AuthorizerType::Request => AuthorizationType::Custom,
                };
                route.authorization.authorizer = Some(scheme.clone());
                route.authorization.scopes = string_list(Some(scopes));
            } else {
                self.warn(
                    here,
                    format!("security scheme {scheme:?} is not defined or not understood; ignored"),
                );
            }
        }
    }

    fn parameter(&mut self, route: &mut RouteDefinition, parameter: &Value, at: &str, oas3: bool) {
        let resolved;
        let parameter = match parameter.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let target = reference
                    .strip_prefix('#')
                    .and_then(|p| self.doc_pointer(p));
                match target {
                    Some(found) => {
                        resolved = found;
                        &resolved
                    }
                    None => {
                        self.warn(
                            at.to_owned(),
                            format!("{reference} does not resolve; parameter ignored"),
                        );
                        return;
                    }
                }
            }
            None => parameter,
        };
        let name = parameter
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let required = parameter
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let location = match parameter.get("in").and_then(Value::as_str) {
            Some("query") => "querystring",
            Some("header") => "header",
            Some("path") => "path",
            Some("body") if !oas3 => {
                // Swagger 2: the body is a parameter whose schema names the model.
                if let Some(model) = parameter
                    .pointer("/schema/$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/definitions/"))
                {
                    route
                        .request_models
                        .insert("application/json".to_owned(), model.to_owned());
                }
                return;
            }
            other => {
                self.warn(
                    at.to_owned(),
                    format!(
                        "parameters in {} are not supported; ignored",
                        other.unwrap_or("?")
                    ),
                );
                return;
            }
        };
        if !name.is_empty() {
            route
                .request_parameters
                .insert(format!("method.request.{location}.{name}"), required);
        }
    }

    fn doc_pointer(&self, pointer: &str) -> Option<Value> {
        self.root.pointer(pointer).cloned()
    }

    fn integration(&mut self, config: &Value, at: &str) -> Option<Integration> {
        let kind = match config
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("aws_proxy") => IntegrationType::AwsProxy,
            Some("http_proxy") => IntegrationType::HttpProxy,
            Some("http") => IntegrationType::Http,
            Some("aws") => IntegrationType::Aws,
            Some("mock") => IntegrationType::Mock,
            other => {
                self.warn(
                    format!("{at}/type"),
                    format!("integration type {other:?} is not supported; route not imported"),
                );
                return None;
            }
        };
        let mut integration = Integration::new(kind);
        integration.uri = config.get("uri").and_then(Value::as_str).map(str::to_owned);
        integration.http_method = config
            .get("httpMethod")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase);
        integration.payload_format_version = payload_format(config.get("payloadFormatVersion"));
        integration.timeout_in_millis = as_u32(config.get("timeoutInMillis"));
        integration.request_parameters = string_map(config.get("requestParameters"));
        integration.request_templates = string_map(config.get("requestTemplates"));
        integration.passthrough_behavior = config
            .get("passthroughBehavior")
            .and_then(Value::as_str)
            .map(str::to_owned);
        integration.content_handling = config
            .get("contentHandling")
            .and_then(Value::as_str)
            .map(str::to_owned);
        integration.responses = config.get("responses").cloned();
        if kind == IntegrationType::Mock {
            mock_from_templates(&mut integration);
            integration.http_method = None;
        }
        if kind != IntegrationType::AwsProxy {
            // HTTP API exports put payloadFormatVersion 1.0 on every HTTP proxy: not news.
            let expected = kind == IntegrationType::HttpProxy
                && integration.payload_format_version == Some(PayloadFormatVersion::V1);
            if integration.payload_format_version.is_some() && !expected {
                self.warn(
                    format!("{at}/payloadFormatVersion"),
                    "payloadFormatVersion applies to aws_proxy only; ignored",
                );
            }
            integration.payload_format_version = None;
        }
        if kind == IntegrationType::AwsProxy {
            // The Invoke API's method; API Gateway always POSTs to Lambda.
            integration.http_method = None;
        }
        for key in config.as_object().into_iter().flatten().map(|(k, _)| k) {
            let understood = matches!(
                key.as_str(),
                "type"
                    | "uri"
                    | "httpMethod"
                    | "payloadFormatVersion"
                    | "timeoutInMillis"
                    | "requestParameters"
                    | "requestTemplates"
                    | "passthroughBehavior"
                    | "contentHandling"
                    | "responses"
            ) || (key == "connectionType"
                && config.get(key).and_then(Value::as_str) == Some("INTERNET"));
            if !understood {
                self.warn(
                    format!("{at}/{}", escape_pointer(key)),
                    format!("integration setting {key} is not supported; ignored"),
                );
            }
        }
        Some(integration)
    }

    /// Points problems found in the built definition at the document: `/routes/3/...` becomes
    /// the operation's pointer, `/authorizers/x/...` the security scheme's.
    fn locate(&self, problems: Problems) -> Problems {
        let oas3 = self.doc.contains_key("openapi");
        let mut located = Problems::default();
        for problem in problems.iter() {
            let pointer = &problem.pointer;
            let mapped = if let Some(rest) = pointer.strip_prefix("/routes/") {
                let (index, tail) = rest.split_once('/').unwrap_or((rest, ""));
                let tail = tail
                    .strip_prefix("integration")
                    .map_or(format!("/{tail}"), |t| {
                        format!("/x-amazon-apigateway-integration{t}")
                    });
                match index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| self.route_pointers.get(i))
                {
                    Some(at) => format!("{at}{}", tail.trim_end_matches('/')),
                    None => pointer.clone(),
                }
            } else if let Some(rest) = pointer.strip_prefix("/authorizers/") {
                let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
                let base = if oas3 {
                    "/components/securitySchemes"
                } else {
                    "/securityDefinitions"
                };
                format!("{base}/{name}/x-amazon-apigateway-authorizer/{tail}")
                    .trim_end_matches('/')
                    .to_owned()
            } else {
                pointer.clone()
            };
            located.push(Problem::new(mapped, problem.message.clone()));
        }
        located
    }
}

/// A mock's status, headers and body, read from the request template
/// (`{"statusCode": 200}`) and the default integration response.
pub(crate) fn mock_from_templates(integration: &mut Integration) {
    let template = integration
        .request_templates
        .get("application/json")
        .cloned()
        .unwrap_or_default();
    integration.status_code = serde_json::from_str::<Value>(&template)
        .ok()
        .and_then(|v| as_u32(v.get("statusCode")))
        .and_then(|s| u16::try_from(s).ok());
    let default = integration
        .responses
        .as_ref()
        .and_then(|r| r.get("default"))
        .cloned();
    if let Some(default) = default {
        // The method response's status is the integration response's, when it names one.
        if let Some(status) = as_u32(default.get("statusCode")).and_then(|s| u16::try_from(s).ok())
        {
            integration.status_code = Some(status);
        }
        let templates = string_map(default.get("responseTemplates"));
        let chosen = templates
            .get_key_value("application/json")
            .or_else(|| templates.iter().next());
        if let Some((content_type, body)) = chosen {
            integration.body = Some(body.clone());
            if content_type != "application/json" {
                integration
                    .headers
                    .insert("Content-Type".to_owned(), content_type.clone());
            }
        }
        for (name, value) in string_map(default.get("responseParameters")) {
            if let Some(header) = name.strip_prefix("method.response.header.")
                && let Some(literal) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))
            {
                integration
                    .headers
                    .insert(header.to_owned(), literal.to_owned());
            }
        }
    }
}
