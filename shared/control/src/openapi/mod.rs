//! OpenAPI import and export, and the admin operations over them:
//! - `POST /apis/import`: a new API from a document;
//! - `PUT /apis/{apiId}/import?mode=overwrite|merge`: replace or merge into an API;
//! - `GET /apis/{apiId}/export[?format=yaml]`: the API as OpenAPI 3.0.
//!
//! `failOnWarnings=true` turns any warning into a 400, as API Gateway's import does.

pub mod export;
pub mod import;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use portico_model::definition::{ApiDefinition, ApiType};
use portico_model::ports::ConfigStore;
use portico_model::problem::{Problem, Problems};

use crate::{AdminError, AdminRequest, Reply, apis, wire};

/// Query parameters of an import.
struct ImportOptions {
    fail_on_warnings: bool,
    merge: bool,
    api_type: Option<ApiType>,
}

fn options(query: &str) -> Result<ImportOptions, AdminError> {
    let mut options = ImportOptions {
        fail_on_warnings: false,
        merge: false,
        api_type: None,
    };
    let mut problems = Problems::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (name, value) {
            ("failOnWarnings", "true") => options.fail_on_warnings = true,
            ("failOnWarnings", "false") => {}
            ("mode", "merge") => options.merge = true,
            ("mode", "overwrite") => {}
            ("type", "REST") => options.api_type = Some(ApiType::Rest),
            ("type", "HTTP") => options.api_type = Some(ApiType::Http),
            ("failOnWarnings" | "mode" | "type", _) => problems.push(Problem::new(
                format!("/query/{name}"),
                match name {
                    "mode" => "mode is overwrite or merge",
                    "type" => "type is REST or HTTP",
                    _ => "failOnWarnings is true or false",
                },
            )),
            _ => {}
        }
    }
    problems.into_result().map_err(AdminError::invalid)?;
    Ok(options)
}

fn imported(
    request: &AdminRequest,
    options: &ImportOptions,
) -> Result<import::Imported, AdminError> {
    if request.body.is_empty() {
        return Err(AdminError::invalid(
            Problem::new("", "the request body is the OpenAPI document").into(),
        ));
    }
    let imported = import::import(&request.body, options.api_type).map_err(|problems| {
        AdminError::Invalid {
            message: "the document cannot be imported; see problems".to_owned(),
            problems,
        }
    })?;
    if options.fail_on_warnings && !imported.warnings.is_empty() {
        return Err(AdminError::Invalid {
            message: "the document has warnings and failOnWarnings is set; see problems".to_owned(),
            problems: imported.warnings,
        });
    }
    Ok(imported)
}

pub async fn create(store: &dyn ConfigStore, request: &AdminRequest) -> Result<Reply, AdminError> {
    let options = options(&request.query)?;
    let imported = imported(request, &options)?;
    let mut reply =
        apis::create_with(store, request, imported.definition, imported.warnings).await?;
    for change in &mut reply.changes {
        change.action = "ImportApi";
    }
    Ok(reply)
}

pub async fn put(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
) -> Result<Reply, AdminError> {
    let options = options(&request.query)?;
    let imported = imported(request, &options)?;
    let merge = options.merge;
    apis::replace(
        store,
        request,
        api_id,
        |current| {
            let definition = if merge {
                merged(current, imported.definition)
            } else {
                imported.definition
            };
            definition
                .problems()
                .into_result()
                .map_err(AdminError::invalid)?;
            Ok((definition, imported.warnings))
        },
        if merge { "MergeApi" } else { "OverwriteApi" },
    )
    .await
}

/// Merge mode: the document's routes replace routes with the same method and path and add
/// the rest; its named parts (authorizers, models, validators, gateway responses) are added
/// or replace those of the same name; settings it gives replace the API's. The API keeps its
/// name and type.
fn merged(current: &ApiDefinition, incoming: ApiDefinition) -> ApiDefinition {
    let mut out = current.clone();
    for route in incoming.routes {
        match out
            .routes
            .iter_mut()
            .find(|r| r.method == route.method && r.path == route.path)
        {
            Some(existing) => *existing = route,
            None => out.routes.push(route),
        }
    }
    out.authorizers.extend(incoming.authorizers);
    out.models.extend(incoming.models);
    out.request_validators.extend(incoming.request_validators);
    out.gateway_responses.extend(incoming.gateway_responses);
    for media_type in incoming.binary_media_types {
        if !out.binary_media_types.contains(&media_type) {
            out.binary_media_types.push(media_type);
        }
    }
    out.cors = incoming.cors.or(out.cors);
    out.policy = incoming.policy.or(out.policy);
    out.api_key_source = incoming.api_key_source.or(out.api_key_source);
    out.request_validator = incoming.request_validator.or(out.request_validator);
    out
}

pub async fn get(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let yaml = match request
        .query
        .split('&')
        .find_map(|p| p.strip_prefix("format="))
    {
        None | Some("json") => false,
        Some("yaml") => true,
        Some(_) => {
            return Err(AdminError::invalid(
                Problem::new("/query/format", "format is json or yaml").into(),
            ));
        }
    };
    let api = apis::load(store, api_id).await?;
    let document = export::export(&api.definition, api.version);
    if !yaml {
        return Ok(wire::versioned_response(
            StatusCode::OK,
            &document,
            api.version,
        ));
    }
    let text =
        serde_norway::to_string(&document).map_err(|e| AdminError::Internal(e.to_string()))?;
    let mut response = Response::new(Bytes::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    Ok(response)
}
