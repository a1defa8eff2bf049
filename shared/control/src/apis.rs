//! `/apis` and `/apis/{apiId}`: API definitions under a version number. Every update names
//! (by `If-Match`, or implicitly by what it read) the version it replaces.

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::definition::ApiDefinition;
use portico_model::ports::{ConfigStore, StoreError};
use portico_model::problem::{Problem, Problems};
use portico_model::records::{ApiRecord, now_rfc3339};
use rand::Rng;
use serde_json::{Value, json};

use crate::wire::{self, parse_body, versioned_response};
use crate::{AdminError, AdminRequest, Change, Reply};

/// API ids look like API Gateway's: ten lower-case letters and digits.
fn new_api_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Ids in paths are checked before they reach a key: anything else cannot exist.
pub(crate) fn id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) async fn load(store: &dyn ConfigStore, api_id: &str) -> Result<ApiRecord, AdminError> {
    let not_found = || AdminError::NotFound(format!("API {api_id} not found"));
    if !id_ok(api_id) {
        return Err(not_found());
    }
    store.api(api_id).await?.ok_or_else(not_found)
}

fn summary_json(api: &ApiRecord) -> Value {
    json!({
        "id": api.id,
        "name": api.definition.name,
        "description": api.definition.description,
        "type": api.definition.api_type,
        "version": api.version,
        "createdDate": api.created_date,
        "lastUpdatedDate": api.last_updated_date,
    })
}

fn api_json(api: &ApiRecord) -> Value {
    let mut body = summary_json(api);
    body["definition"] = serde_json::to_value(&api.definition).unwrap_or(Value::Null);
    body
}

fn definition_from(request: &AdminRequest) -> Result<ApiDefinition, AdminError> {
    let definition: ApiDefinition = parse_body(&request.body)?;
    definition
        .problems()
        .into_result()
        .map_err(AdminError::invalid)?;
    Ok(definition)
}

/// Stage variables the definition uses that no stage of the API defines: deploying it would
/// leave those routes answering 500.
pub(crate) async fn variable_warnings(
    store: &dyn ConfigStore,
    api_id: Option<&str>,
    definition: &ApiDefinition,
) -> Result<Problems, AdminError> {
    let used = definition.stage_variables_used();
    let mut warnings = Problems::default();
    if used.is_empty() {
        return Ok(warnings);
    }
    let stages = match api_id {
        Some(id) => store.list_stages(id).await?,
        None => Vec::new(),
    };
    for (pointer, name) in used {
        let defined = stages.iter().any(|s| {
            s.variables.contains_key(&name)
                || s.settings
                    .canary
                    .as_ref()
                    .is_some_and(|c| c.stage_variable_overrides.contains_key(&name))
        });
        if !defined {
            warnings.push(Problem::new(
                pointer,
                format!("stage variable {name:?} is not defined by any stage of this API yet"),
            ));
        }
    }
    Ok(warnings)
}

pub(crate) fn with_warnings(mut body: Value, warnings: &Problems) -> Value {
    if !warnings.is_empty() {
        body["warnings"] = serde_json::json!(warnings);
    }
    body
}

pub async fn create(store: &dyn ConfigStore, request: &AdminRequest) -> Result<Reply, AdminError> {
    let definition = definition_from(request)?;
    create_with(store, request, definition, Problems::default()).await
}

/// Stores a new API; `warnings` (from an import) are returned with it.
pub(crate) async fn create_with(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    definition: ApiDefinition,
    mut warnings: Problems,
) -> Result<Reply, AdminError> {
    warnings.extend(variable_warnings(store, None, &definition).await?);
    let now = now_rfc3339();
    // A random id can collide; the conditional create notices, and a new id is drawn.
    for _ in 0..3 {
        let api = ApiRecord {
            id: new_api_id(),
            definition: definition.clone(),
            version: 1,
            created_date: now.clone(),
            last_updated_date: now.clone(),
        };
        match store.create_api(&api).await {
            Ok(()) => {
                tracing::info!(api_id = %api.id, caller = %request.caller, "API created");
                return Ok(Reply::changed(
                    versioned_response(
                        StatusCode::CREATED,
                        &with_warnings(api_json(&api), &warnings),
                        api.version,
                    ),
                    Change::new("CreateApi", format!("/apis/{}", api.id), 0, Some(1)),
                ));
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(AdminError::Internal(
        "three random API ids in a row were taken".to_owned(),
    ))
}

pub async fn get(store: &dyn ConfigStore, api_id: &str) -> Result<Response<Bytes>, AdminError> {
    let api = load(store, api_id).await?;
    Ok(versioned_response(
        StatusCode::OK,
        &api_json(&api),
        api.version,
    ))
}

pub async fn list(
    store: &dyn ConfigStore,
    request: &AdminRequest,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    let listing = store.list_apis(&page).await?;
    let items = listing
        .items
        .iter()
        .map(|a| (a.id.clone(), summary_json(a)))
        .collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::bounded_listing(items, listing.next),
    ))
}

pub async fn update(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
) -> Result<Reply, AdminError> {
    let definition = definition_from(request)?;
    replace(
        store,
        request,
        api_id,
        |_| Ok((definition, Problems::default())),
        "UpdateApi",
    )
    .await
}

/// Replaces an API's definition with what `build` makes of the current one (an import in
/// merge mode reads it), conditionally on the version read.
pub(crate) async fn replace(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
    build: impl FnOnce(&ApiDefinition) -> Result<(ApiDefinition, Problems), AdminError>,
    action: &'static str,
) -> Result<Reply, AdminError> {
    let expected = wire::if_match(&request.headers)?;
    let current = load(store, api_id).await?;
    let (definition, mut warnings) = build(&current.definition)?;
    warnings.extend(variable_warnings(store, Some(api_id), &definition).await?);
    wire::require_version(expected, current.version)?;
    let updated = ApiRecord {
        definition,
        version: current.version + 1,
        last_updated_date: now_rfc3339(),
        ..current
    };
    match store.update_api(&updated).await {
        Ok(()) => {}
        // Another writer replaced the version this update read: never overwrite it silently.
        Err(StoreError::ConditionFailed) if expected.is_some() => {
            let current = load(store, api_id).await?;
            return Err(AdminError::PreconditionFailed {
                current: current.version,
            });
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(api_id, version = updated.version, caller = %request.caller, "API updated");
    Ok(Reply::changed(
        versioned_response(
            StatusCode::OK,
            &with_warnings(api_json(&updated), &warnings),
            updated.version,
        ),
        Change::new(
            action,
            format!("/apis/{api_id}"),
            updated.version - 1,
            Some(updated.version),
        ),
    ))
}
