//! `/apikeys[/{keyId}]`: API keys. A key's value is generated (or imported) once and returned
//! only in the creation response; the store keeps its SHA-256, found by hash at request time.

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::ports::{ConfigStore, RecordKind};
use portico_model::problem::{Problem, Problems};
use portico_model::records::{ApiKey, PlanKey, now_rfc3339};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::wire::{self, parse_body, versioned_response};
use crate::{AdminError, AdminRequest, Change, Reply, apis, records};

/// Generated keys: 40 characters of a 62-letter alphabet, about 238 bits.
const GENERATED_LEN: usize = 40;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateKey {
    name: String,
    description: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    /// An existing key's value, to move it from API Gateway; generated when absent.
    value: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateKey {
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

/// The hex SHA-256 of a key's value: the only form in which values are stored.
pub fn hash_value(value: &str) -> String {
    portico_model::records::hash_api_key(value)
}

fn generate() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // ThreadRng is a CSPRNG seeded from the OS.
    let mut rng = rand::rng();
    (0..GENERATED_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub(crate) fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "description": key.description,
        "enabled": key.enabled,
        "version": key.version,
        "createdDate": key.created_date,
        "lastUpdatedDate": key.last_updated_date,
    })
}

fn check_name(name: &str, problems: &mut Problems) {
    if name.trim().is_empty() || name.chars().count() > 128 {
        problems.push(Problem::new("/name", "name is 1-128 characters"));
    }
}

fn check_description(description: Option<&String>, problems: &mut Problems) {
    if description.is_some_and(|d| d.chars().count() > 1024) {
        problems.push(Problem::new(
            "/description",
            "description is at most 1024 characters",
        ));
    }
}

pub(crate) async fn load(store: &dyn ConfigStore, key_id: &str) -> Result<ApiKey, AdminError> {
    let not_found = || AdminError::NotFound(format!("API key {key_id} not found"));
    if !apis::id_ok(key_id) {
        return Err(not_found());
    }
    records::load(store, RecordKind::ApiKey, key_id)
        .await?
        .ok_or_else(not_found)
}

fn check_value(value: Option<&String>, at: &str, problems: &mut Problems) {
    if let Some(value) = value
        && !(portico_model::records::API_KEY_VALUE_LENGTHS.contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        problems.push(Problem::new(
            at,
            "a key value is 20-128 letters, digits, '-' or '_' (API Gateway's rule)",
        ));
    }
}

/// Stores a new key (its value generated unless given); returns it and its value.
async fn store_key(
    store: &dyn ConfigStore,
    body: CreateKey,
) -> Result<(ApiKey, String), AdminError> {
    let value = body.value.unwrap_or_else(generate);
    let now = now_rfc3339();
    let key = ApiKey {
        id: crate::next_id().to_ascii_lowercase(),
        name: body.name,
        description: body.description,
        enabled: body.enabled,
        value_hash: hash_value(&value),
        version: 1,
        created_date: now.clone(),
        last_updated_date: now,
    };
    // The hash record first: its conditional create refuses a value another key has.
    let by_hash = json!({"keyId": key.id});
    records::save(store, RecordKind::ApiKeyHash, &key.value_hash, 1, &by_hash)
        .await
        .map_err(|e| match e {
            AdminError::Conflict(_) => {
                AdminError::Conflict("another API key has this value".to_owned())
            }
            other => other,
        })?;
    if let Err(error) = records::save(store, RecordKind::ApiKey, &key.id, 1, &key).await {
        // Undo the lookup record so the value can be used again; best effort.
        let _ = records::delete(store, RecordKind::ApiKeyHash, &key.value_hash, 1).await;
        return Err(error);
    }
    Ok((key, value))
}

pub async fn create(store: &dyn ConfigStore, request: &AdminRequest) -> Result<Reply, AdminError> {
    let body: CreateKey = parse_body(&request.body)?;
    let mut problems = Problems::default();
    check_name(&body.name, &mut problems);
    check_description(body.description.as_ref(), &mut problems);
    check_value(body.value.as_ref(), "/value", &mut problems);
    problems.into_result().map_err(AdminError::invalid)?;
    let (key, value) = store_key(store, body).await?;
    tracing::info!(key_id = %key.id, caller = %request.caller, "API key created");
    let mut body = key_json(&key);
    body["value"] = json!(value);
    Ok(Reply::changed(
        versioned_response(StatusCode::CREATED, &body, 1),
        Change::new("CreateApiKey", format!("/apikeys/{}", key.id), 0, Some(1)),
    ))
}

/// The most rows one import takes (API Gateway's CSV import is for moving keys in bulk).
pub const MAX_IMPORT_ROWS: usize = 500;

/// `POST /apikeys/import`: keys from API Gateway's CSV format. A header row names the
/// columns, in any order and any case: `Name` and `Key` (the value) are required,
/// `Description`, `Enabled` (true/false, default true) and `UsagePlanIds` (ids separated
/// by `;` or `,`) are optional. Every row is checked before any is written (a 400 names the
/// row and column); rows whose value another key has are skipped with a warning.
pub async fn import(store: &dyn ConfigStore, request: &AdminRequest) -> Result<Reply, AdminError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(request.body.as_ref());
    let invalid =
        |at: String, message: String| AdminError::invalid(Problem::new(at, message).into());
    let headers = reader
        .headers()
        .map_err(|e| invalid("/body".to_owned(), format!("not CSV: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect::<Vec<_>>();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(name_at), Some(key_at)) = (column("name"), column("key")) else {
        return Err(invalid(
            "/body/header".to_owned(),
            "the header row needs Name and Key columns".to_owned(),
        ));
    };
    let (description_at, enabled_at, plans_at) = (
        column("description"),
        column("enabled"),
        column("usageplanids"),
    );
    let mut rows = Vec::new();
    let mut problems = Problems::default();
    for (index, record) in reader.records().enumerate() {
        let row = index + 1;
        let record =
            record.map_err(|e| invalid(format!("/rows/{row}"), format!("not CSV: {e}")))?;
        let field = |at: Option<usize>| {
            at.and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let name = field(Some(name_at)).unwrap_or_default();
        let value = field(Some(key_at));
        let description = field(description_at);
        let mut row_problems = Problems::default();
        check_name(&name, &mut row_problems);
        check_description(description.as_ref(), &mut row_problems);
        if value.is_none() {
            row_problems.push(Problem::new("/key", "Key is required"));
        }
        check_value(value.as_ref(), "/key", &mut row_problems);
        let enabled = match field(enabled_at).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => {
                row_problems.push(Problem::new("/enabled", "Enabled is true or false"));
                true
            }
        };
        let plan_ids: Vec<String> = field(plans_at)
            .map(|v| {
                v.split([';', ','])
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut plans = Vec::new();
        for plan_id in &plan_ids {
            match crate::plans::load(store, plan_id).await {
                Ok(plan) => plans.push(plan),
                Err(AdminError::NotFound(_)) => {
                    row_problems.push(Problem::new(
                        "/usagePlanIds",
                        format!("no usage plan {plan_id:?}"),
                    ));
                }
                Err(other) => return Err(other),
            }
        }
        for problem in row_problems.iter() {
            problems.push(Problem::new(
                format!("/rows/{row}{}", problem.pointer),
                problem.message.clone(),
            ));
        }
        rows.push((
            CreateKey {
                name,
                description,
                enabled,
                value,
            },
            plans,
        ));
    }
    if rows.len() > MAX_IMPORT_ROWS {
        problems.push(Problem::new(
            "/rows",
            format!("at most {MAX_IMPORT_ROWS} rows per import"),
        ));
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(Problem::new("/rows", "no keys to import"));
    }
    problems.into_result().map_err(AdminError::invalid)?;

    let (mut ids, mut warnings, mut changes) = (Vec::new(), Vec::new(), Vec::new());
    for (index, (body, plans)) in rows.into_iter().enumerate() {
        let row = index + 1;
        let key = match store_key(store, body).await {
            Ok((key, _)) => key,
            Err(AdminError::Conflict(message)) => {
                warnings.push(format!("row {row}: skipped: {message}"));
                continue;
            }
            Err(other) => return Err(other),
        };
        changes.push(Change::new(
            "ImportApiKey",
            format!("/apikeys/{}", key.id),
            0,
            Some(1),
        ));
        for plan in &plans {
            match crate::plans::add_membership(store, plan, &key.id).await {
                Ok(_) => {}
                Err(AdminError::Conflict(message)) => {
                    warnings.push(format!(
                        "row {row}: not added to plan {}: {message}",
                        plan.id
                    ));
                }
                Err(other) => return Err(other),
            }
        }
        ids.push(key.id);
    }
    tracing::info!(imported = ids.len(), skipped = warnings.len(), caller = %request.caller, "API keys imported");
    Ok(Reply {
        response: wire::json_response(
            StatusCode::CREATED,
            &json!({"ids": ids, "warnings": warnings}),
        ),
        changes,
    })
}

pub async fn get(store: &dyn ConfigStore, key_id: &str) -> Result<Response<Bytes>, AdminError> {
    let key = load(store, key_id).await?;
    Ok(versioned_response(
        StatusCode::OK,
        &key_json(&key),
        key.version,
    ))
}

pub async fn list(
    store: &dyn ConfigStore,
    request: &AdminRequest,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    let listing = records::list::<ApiKey>(store, RecordKind::ApiKey, "", &page).await?;
    let items = listing
        .items
        .iter()
        .map(|k| (k.id.clone(), key_json(k)))
        .collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::bounded_listing(items, listing.next),
    ))
}

pub async fn update(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    key_id: &str,
) -> Result<Reply, AdminError> {
    let body: UpdateKey = parse_body(&request.body)?;
    let mut problems = Problems::default();
    if let Some(name) = &body.name {
        check_name(name, &mut problems);
    }
    check_description(body.description.as_ref(), &mut problems);
    problems.into_result().map_err(AdminError::invalid)?;
    let expected = wire::if_match(&request.headers)?;
    let mut key = load(store, key_id).await?;
    wire::require_version(expected, key.version)?;
    let before = key.version;
    key.name = body.name.unwrap_or(key.name);
    key.description = body.description.or(key.description);
    key.enabled = body.enabled.unwrap_or(key.enabled);
    key.version += 1;
    key.last_updated_date = now_rfc3339();
    records::save(store, RecordKind::ApiKey, &key.id, key.version, &key).await?;
    Ok(Reply::changed(
        versioned_response(StatusCode::OK, &key_json(&key), key.version),
        Change::new(
            "UpdateApiKey",
            format!("/apikeys/{key_id}"),
            before,
            Some(key.version),
        ),
    ))
}

pub async fn delete(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    key_id: &str,
) -> Result<Reply, AdminError> {
    let expected = wire::if_match(&request.headers)?;
    let key = load(store, key_id).await?;
    wire::require_version(expected, key.version)?;
    // Memberships first, then the lookup record, then the key: a failure part-way leaves a
    // key that still exists and can be deleted again, never a lookup to a missing key.
    for membership in
        records::list_all::<PlanKey>(store, RecordKind::KeyPlan, &format!("{key_id}#")).await?
    {
        crate::plans::remove_membership(store, &membership.plan_id, key_id).await?;
    }
    records::delete(store, RecordKind::ApiKeyHash, &key.value_hash, 1).await?;
    records::delete(store, RecordKind::ApiKey, key_id, key.version).await?;
    tracing::info!(key_id, caller = %request.caller, "API key deleted");
    Ok(Reply::changed(
        wire::json_response(StatusCode::OK, &key_json(&key)),
        Change::new(
            "DeleteApiKey",
            format!("/apikeys/{key_id}"),
            key.version,
            None,
        ),
    ))
}
