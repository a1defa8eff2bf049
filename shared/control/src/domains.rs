//! `/domainmappings[/{domainName}/{basePath}]`: a custom domain's base path mapped to an API
//! stage (API Gateway's base path mappings). `(none)` is the empty base path.

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::ports::{ConfigStore, RecordKind};
use portico_model::problem::{Problem, Problems};
use portico_model::records::{DomainMapping, now_rfc3339, stage_name_ok};
use serde::Deserialize;
use serde_json::Value;

use crate::wire::{self, parse_body, versioned_response};
use crate::{AdminError, AdminRequest, Change, Reply, apis, records};

pub use portico_model::records::NO_BASE_PATH;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateMapping {
    domain_name: String,
    base_path: Option<String>,
    api_id: String,
    stage: String,
}

fn domain_ok(domain: &str) -> bool {
    // The front never looks up IP literals or the function URL's own host (`*.on.aws`), so
    // a mapping for one would silently never apply.
    let top = domain.rsplit('.').next().unwrap_or_default();
    (1..=253).contains(&domain.len())
        && domain.split('.').count() >= 2
        && !top.bytes().all(|b| b.is_ascii_digit())
        && !domain.ends_with(".on.aws")
        && domain.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn base_path_ok(path: &str) -> bool {
    path == NO_BASE_PATH
        || (path != "."
            && path != ".."
            && (1..=128).contains(&path.len())
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)))
}

fn id(domain: &str, base_path: &str) -> String {
    format!("{domain}/{base_path}")
}

fn mapping_json(mapping: &DomainMapping) -> Value {
    serde_json::to_value(mapping).unwrap_or(Value::Null)
}

pub async fn create(store: &dyn ConfigStore, request: &AdminRequest) -> Result<Reply, AdminError> {
    let body: CreateMapping = parse_body(&request.body)?;
    let domain = body.domain_name.to_ascii_lowercase();
    let base_path = match body.base_path.as_deref() {
        None | Some("") => NO_BASE_PATH.to_owned(),
        Some(path) => path.to_owned(),
    };
    let mut problems = Problems::default();
    if !domain_ok(&domain) {
        problems.push(Problem::new(
            "/domainName",
            "domainName is a host name such as api.example.com (not an IP address, not the function URL's own *.on.aws host)",
        ));
    }
    if !base_path_ok(&base_path) {
        problems.push(Problem::new(
            "/basePath",
            "basePath is 1-128 letters, digits, '-', '.' or '_' (not '.' or '..'), or empty",
        ));
    }
    let stage_exists = apis::id_ok(&body.api_id)
        && stage_name_ok(&body.stage)
        && store.stage(&body.api_id, &body.stage).await?.is_some();
    if !stage_exists {
        problems.push(Problem::new(
            "/stage",
            format!("API {} has no stage {:?}", body.api_id, body.stage),
        ));
    }
    problems.into_result().map_err(AdminError::invalid)?;
    let mapping = DomainMapping {
        domain_name: domain,
        base_path,
        api_id: body.api_id,
        stage: body.stage,
        version: 1,
        created_date: now_rfc3339(),
    };
    let key = id(&mapping.domain_name, &mapping.base_path);
    records::save(store, RecordKind::DomainMapping, &key, 1, &mapping)
        .await
        .map_err(|e| match e {
            AdminError::Conflict(_) => {
                AdminError::Conflict(format!("{key} is already mapped; delete it first"))
            }
            other => other,
        })?;
    Ok(Reply::changed(
        versioned_response(StatusCode::CREATED, &mapping_json(&mapping), 1),
        Change::new(
            "CreateDomainMapping",
            format!("/domainmappings/{key}"),
            0,
            Some(1),
        ),
    ))
}

async fn load(
    store: &dyn ConfigStore,
    domain: &str,
    base_path: &str,
) -> Result<DomainMapping, AdminError> {
    let not_found = || AdminError::NotFound(format!("no mapping for {domain}/{base_path}"));
    if !domain_ok(domain) || !base_path_ok(base_path) {
        return Err(not_found());
    }
    records::load(store, RecordKind::DomainMapping, &id(domain, base_path))
        .await?
        .ok_or_else(not_found)
}

pub async fn get(
    store: &dyn ConfigStore,
    domain: &str,
    base_path: &str,
) -> Result<Response<Bytes>, AdminError> {
    let mapping = load(store, domain, base_path).await?;
    Ok(versioned_response(
        StatusCode::OK,
        &mapping_json(&mapping),
        mapping.version,
    ))
}

pub async fn list(
    store: &dyn ConfigStore,
    request: &AdminRequest,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    let listing =
        records::list::<DomainMapping>(store, RecordKind::DomainMapping, "", &page).await?;
    let items = listing
        .items
        .iter()
        .map(|m| (id(&m.domain_name, &m.base_path), mapping_json(m)))
        .collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::bounded_listing(items, listing.next),
    ))
}

pub async fn delete(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    domain: &str,
    base_path: &str,
) -> Result<Reply, AdminError> {
    let mapping = load(store, domain, base_path).await?;
    let key = id(domain, base_path);
    records::delete(store, RecordKind::DomainMapping, &key, mapping.version).await?;
    tracing::info!(mapping = %key, caller = %request.caller, "domain mapping deleted");
    Ok(Reply::changed(
        wire::json_response(StatusCode::OK, &mapping_json(&mapping)),
        Change::new(
            "DeleteDomainMapping",
            format!("/domainmappings/{key}"),
            mapping.version,
            None,
        ),
    ))
}
