//! `/audit`: every change made through the admin API, newest first. Entries are written by
//! `Admin::handle` after each successful change, from the `Change` the operation reports.

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::ports::ConfigStore;
use portico_model::problem::Problem;
use serde_json::Value;

use crate::wire;
use crate::{AdminError, AdminRequest};

/// `?since=2026-11-22T10:00:00Z` (RFC 3339): only entries from then on.
fn since(query: &str) -> Result<Option<String>, AdminError> {
    let Some(value) = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "since")
        .map(|(_, v)| {
            v.replace("%3A", ":")
                .replace("%3a", ":")
                .replace("%2B", "+")
                .replace("%2b", "+")
        })
    else {
        return Ok(None);
    };
    let time = chrono::DateTime::parse_from_rfc3339(&value).map_err(|_| {
        AdminError::invalid(
            Problem::new(
                "/query/since",
                "since is an RFC 3339 time such as 2026-11-22T10:00:00Z",
            )
            .into(),
        )
    })?;
    let millis = u64::try_from(time.timestamp_millis()).unwrap_or_default();
    // The smallest ULID of that millisecond: every entry from then on sorts after it.
    Ok(Some(ulid::Ulid::from_parts(millis, 0).to_string()))
}

pub async fn list(
    store: &dyn ConfigStore,
    request: &AdminRequest,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    let since = since(&request.query)?;
    let listing = store.list_audit(&page, since.as_deref()).await?;
    let items = listing
        .items
        .iter()
        .map(|e| (e.id.clone(), serde_json::to_value(e).unwrap_or(Value::Null)))
        .collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::bounded_listing(items, listing.next),
    ))
}
