//! A definition as an OpenAPI 3.0 document with API Gateway's extensions: what `import` reads
//! back into the same definition.

use portico_model::definition::{
    ApiDefinition, ApiKeySource, ApiType, AuthorizationType, Authorizer, AuthorizerType,
    Integration, IntegrationType, PayloadFormatVersion, RouteDefinition, parse_request_parameter,
};
use serde_json::{Map, Value, json};

const API_KEY_SCHEME: &str = "api_key";
const SIGV4_SCHEME: &str = "sigv4";

fn format_str(version: PayloadFormatVersion) -> &'static str {
    match version {
        PayloadFormatVersion::V1 => "1.0",
        PayloadFormatVersion::V2 => "2.0",
    }
}

pub fn export(definition: &ApiDefinition, version: u64) -> Value {
    let mut info = json!({"title": definition.name, "version": version.to_string()});
    if let Some(description) = &definition.description {
        info["description"] = json!(description);
    }
    let mut doc = json!({
        "openapi": "3.0.1",
        "info": info,
        "x-portico-type": match definition.api_type { ApiType::Rest => "REST", ApiType::Http => "HTTP" },
        "paths": {},
    });

    let mut paths = Map::new();
    for route in &definition.routes {
        let key = match route.method.as_str() {
            "ANY" => "x-amazon-apigateway-any-method".to_owned(),
            method => method.to_ascii_lowercase(),
        };
        let item = paths
            .entry(route.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        item[key] = operation(route);
    }
    doc["paths"] = Value::Object(paths);

    let mut schemes = Map::new();
    for (name, authorizer) in &definition.authorizers {
        schemes.insert(name.clone(), authorizer_scheme(authorizer));
    }
    if definition.routes.iter().any(|r| r.api_key_required) {
        schemes.insert(
            API_KEY_SCHEME.to_owned(),
            json!({"type": "apiKey", "name": "x-api-key", "in": "header"}),
        );
    }
    if definition
        .routes
        .iter()
        .any(|r| r.authorization.kind == AuthorizationType::AwsIam)
    {
        schemes.insert(
            SIGV4_SCHEME.to_owned(),
            json!({"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"}),
        );
    }
    let mut components = Map::new();
    if !schemes.is_empty() {
        components.insert("securitySchemes".to_owned(), Value::Object(schemes));
    }
    if !definition.models.is_empty() {
        components.insert("schemas".to_owned(), json!(definition.models));
    }
    if !components.is_empty() {
        doc["components"] = Value::Object(components);
    }
    if !definition.binary_media_types.is_empty() {
        doc["x-amazon-apigateway-binary-media-types"] = json!(definition.binary_media_types);
    }
    if !definition.gateway_responses.is_empty() {
        doc["x-amazon-apigateway-gateway-responses"] = json!(definition.gateway_responses);
    }
    if !definition.request_validators.is_empty() {
        doc["x-amazon-apigateway-request-validators"] = json!(definition.request_validators);
    }
    if let Some(validator) = &definition.request_validator {
        doc["x-amazon-apigateway-request-validator"] = json!(validator);
    }
    if let Some(cors) = &definition.cors {
        doc["x-amazon-apigateway-cors"] = json!(cors);
    }
    if let Some(policy) = &definition.policy {
        doc["x-amazon-apigateway-policy"] = policy.clone();
    }
    if let Some(source) = definition.api_key_source {
        doc["x-amazon-apigateway-api-key-source"] = json!(match source {
            ApiKeySource::Header => "HEADER",
            ApiKeySource::Authorizer => "AUTHORIZER",
        });
    }
    doc
}

fn operation(route: &RouteDefinition) -> Value {
    let mut op = Map::new();
    if let Some(id) = &route.operation_id {
        op.insert("operationId".to_owned(), json!(id));
    }
    let parameters: Vec<Value> = route
        .request_parameters
        .iter()
        .filter_map(|(name, required)| {
            let (location, param) = parse_request_parameter(name)?;
            let location = match location {
                "querystring" | "multivaluequerystring" => "query",
                "header" | "multivalueheader" => "header",
                _ => "path",
            };
            Some(json!({"name": param, "in": location, "required": required, "schema": {"type": "string"}}))
        })
        .collect();
    if !parameters.is_empty() {
        op.insert("parameters".to_owned(), Value::Array(parameters));
    }
    if !route.request_models.is_empty() {
        let content: Map<String, Value> = route
            .request_models
            .iter()
            .map(|(ct, model)| {
                (
                    ct.clone(),
                    json!({"schema": {"$ref": format!("#/components/schemas/{model}")}}),
                )
            })
            .collect();
        op.insert(
            "requestBody".to_owned(),
            json!({"content": content, "required": true}),
        );
    }
    op.insert(
        "responses".to_owned(),
        json!({"default": {"description": "The integration's response"}}),
    );
    let mut requirement = Map::new();
    if route.api_key_required {
        requirement.insert(API_KEY_SCHEME.to_owned(), json!([]));
    }
    match route.authorization.kind {
        AuthorizationType::AwsIam => {
            requirement.insert(SIGV4_SCHEME.to_owned(), json!([]));
        }
        AuthorizationType::Custom | AuthorizationType::Jwt => {
            if let Some(name) = &route.authorization.authorizer {
                requirement.insert(name.clone(), json!(route.authorization.scopes));
            }
        }
        AuthorizationType::None => {}
    }
    if !requirement.is_empty() {
        op.insert("security".to_owned(), json!([requirement]));
    }
    if let Some(validator) = &route.request_validator {
        op.insert(
            "x-amazon-apigateway-request-validator".to_owned(),
            json!(validator),
        );
    }
    op.insert(
        "x-amazon-apigateway-integration".to_owned(),
        integration(&route.integration),
    );
    Value::Object(op)
}

fn integration(integration: &Integration) -> Value {
    let mut out = Map::new();
    out.insert("type".to_owned(), json!(integration.kind.as_str()));
    if let Some(uri) = &integration.uri {
        out.insert("uri".to_owned(), json!(uri));
    }
    // API Gateway calls Lambda with POST; its exports say so.
    let method = match integration.kind {
        IntegrationType::AwsProxy => Some("POST".to_owned()),
        IntegrationType::Mock => None,
        _ => Some(integration.http_method().to_owned()),
    };
    if let Some(method) = method {
        out.insert("httpMethod".to_owned(), json!(method));
    }
    if let Some(version) = integration.payload_format_version {
        out.insert(
            "payloadFormatVersion".to_owned(),
            json!(format_str(version)),
        );
    }
    if let Some(timeout) = integration.timeout_in_millis {
        out.insert("timeoutInMillis".to_owned(), json!(timeout));
    }
    if !integration.request_parameters.is_empty() {
        out.insert(
            "requestParameters".to_owned(),
            json!(integration.request_parameters),
        );
    }
    let mut templates = integration.request_templates.clone();
    let mut responses = integration.responses.clone();
    if integration.kind == IntegrationType::Mock && templates.is_empty() && responses.is_none() {
        // A mock written natively: say it the way API Gateway does.
        let status = integration.status_code.unwrap_or(200);
        templates.insert(
            "application/json".to_owned(),
            format!("{{\"statusCode\": {status}}}"),
        );
        let mut default = json!({"statusCode": status.to_string()});
        if let Some(body) = &integration.body {
            default["responseTemplates"] = json!({"application/json": body});
        }
        if !integration.headers.is_empty() {
            let parameters: Map<String, Value> = integration
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        format!("method.response.header.{k}"),
                        json!(format!("'{v}'")),
                    )
                })
                .collect();
            default["responseParameters"] = Value::Object(parameters);
        }
        responses = Some(json!({"default": default}));
    }
    if !templates.is_empty() {
        out.insert("requestTemplates".to_owned(), json!(templates));
    }
    if let Some(passthrough) = &integration.passthrough_behavior {
        out.insert("passthroughBehavior".to_owned(), json!(passthrough));
    }
    if let Some(handling) = &integration.content_handling {
        out.insert("contentHandling".to_owned(), json!(handling));
    }
    if let Some(responses) = responses {
        out.insert("responses".to_owned(), responses);
    }
    Value::Object(out)
}

fn authorizer_scheme(authorizer: &Authorizer) -> Value {
    let mut config = Map::new();
    let kind = match authorizer.kind {
        AuthorizerType::Jwt => "jwt",
        AuthorizerType::Token => "token",
        AuthorizerType::Request => "request",
    };
    config.insert("type".to_owned(), json!(kind));
    if !authorizer.identity_source.is_empty() {
        config.insert(
            "identitySource".to_owned(),
            json!(authorizer.identity_source.join(", ")),
        );
    }
    if authorizer.kind == AuthorizerType::Jwt {
        let mut jwt = json!({"issuer": authorizer.issuer, "audience": authorizer.audience});
        if let Some(jwks) = &authorizer.jwks_uri {
            jwt["jwksUri"] = json!(jwks);
        }
        config.insert("jwtConfiguration".to_owned(), jwt);
    }
    if let Some(uri) = &authorizer.function_uri {
        config.insert("authorizerUri".to_owned(), json!(uri));
    }
    if let Some(ttl) = authorizer.result_ttl_in_seconds {
        config.insert("authorizerResultTtlInSeconds".to_owned(), json!(ttl));
    }
    if let Some(expression) = &authorizer.identity_validation_expression {
        config.insert("identityValidationExpression".to_owned(), json!(expression));
    }
    if let Some(version) = authorizer.payload_format_version {
        config.insert(
            "authorizerPayloadFormatVersion".to_owned(),
            json!(format_str(version)),
        );
    }
    if authorizer.enable_simple_responses {
        config.insert("enableSimpleResponses".to_owned(), json!(true));
    }
    let header = authorizer
        .identity_source
        .first()
        .and_then(|s| portico_model::definition::parse_identity_source(s))
        .filter(|(location, _)| *location == "header")
        .map_or("Authorization", |(_, name)| name);
    json!({
        "type": "apiKey",
        "name": header,
        "in": "header",
        "x-amazon-apigateway-authtype": if authorizer.kind == AuthorizerType::Jwt { "jwt" } else { "custom" },
        "x-amazon-apigateway-authorizer": config,
    })
}
