//! The admin API's wire format: JSON bodies parsed with the failing field named, paging
//! parameters, `If-Match` / `ETag`, and JSON responses.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use portico_model::ports::Page;
use portico_model::problem::{Problem, Problems, escape_pointer};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::AdminError;

pub fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON response carrying the resource's version as its ETag.
pub fn versioned_response(status: StatusCode, body: &Value, version: u64) -> Response<Bytes> {
    let mut response = json_response(status, body);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// Parses a JSON body into `T`; a failure names the field (as a JSON pointer) and why.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    if body.is_empty() {
        return Err(AdminError::invalid(
            Problem::new("", "the request needs a JSON body").into(),
        ));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let mut pointer = String::new();
        for segment in e.path().iter() {
            use serde_path_to_error::Segment;
            match segment {
                Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&escape_pointer(key));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        AdminError::invalid(Problem::new(pointer, e.inner().to_string()).into())
    })
}

/// `limit` (1-500, default 25) and `position` (the cursor a previous page returned).
pub fn page(query: &str) -> Result<Page, AdminError> {
    let mut page = Page {
        limit: 25,
        after: None,
    };
    let mut problems = Problems::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "limit" => match value.parse::<u32>() {
                Ok(limit @ 1..=500) => page.limit = limit,
                _ => problems.push(Problem::new(
                    "/query/limit",
                    "limit must be a whole number from 1 to 500",
                )),
            },
            "position" => {
                // Positions are ids: APIs', deployments', `domain/basePath` of mappings.
                let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                if !value.is_empty()
                    && value.len() <= 256
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_./()#".contains(&b))
                {
                    page.after = Some(value.into_owned());
                } else {
                    problems.push(Problem::new(
                        "/query/position",
                        "position must be the value a previous page returned",
                    ));
                }
            }
            _ => {}
        }
    }
    problems.into_result().map_err(AdminError::invalid)?;
    Ok(page)
}

/// The version named by `If-Match` (`"3"`, `3` or `W/"3"`); `None` when absent or `*`.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, AdminError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<u64>().map(Some).map_err(|_| {
        AdminError::invalid(
            Problem::new(
                "/headers/If-Match",
                "If-Match must be the ETag of the resource, such as \"3\"",
            )
            .into(),
        )
    })
}

/// Refuses a change when `If-Match` named a version other than `current`.
pub fn require_version(expected: Option<u64>, current: u64) -> Result<(), AdminError> {
    match expected {
        Some(expected) if expected != current => Err(AdminError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}

/// A listing as JSON: `{"items": [...], "position": "..."}`, position only when more remain.
pub fn listing(items: Vec<Value>, next: Option<String>) -> Value {
    let mut body = serde_json::json!({ "items": items });
    if let Some(next) = next {
        body["position"] = Value::String(next);
    }
    body
}

/// A function URL answers at most 6 MB; a page stops well before that.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Like [`listing`], for items that each carry their `id` (the position to continue after):
/// when the items would not fit in [`MAX_PAGE_BYTES`], the page ends early and its position
/// continues after the last item it holds.
pub fn bounded_listing(items: Vec<(String, Value)>, next: Option<String>) -> Value {
    let mut kept = Vec::with_capacity(items.len());
    let mut bytes = 0;
    let mut next = next;
    for (id, item) in items {
        let size = item.to_string().len();
        if bytes + size > MAX_PAGE_BYTES && !kept.is_empty() {
            next = kept.last().map(|(id, _): &(String, Value)| id.clone());
            break;
        }
        bytes += size;
        kept.push((id, item));
    }
    listing(kept.into_iter().map(|(_, item)| item).collect(), next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_field_is_named_by_pointer() {
        let err = parse_body::<portico_model::definition::ApiDefinition>(
            br#"{"name": "x", "routes": [{"method": "GET", "path": "/", "integration": {"type": "mock", "statusCode": "two hundred"}}]}"#,
        )
        .expect_err("invalid");
        let AdminError::Invalid { problems, .. } = err else {
            panic!("expected 400")
        };
        let problem = problems.iter().next().expect("one problem");
        assert_eq!(problem.pointer, "/routes/0/integration/statusCode");
        assert!(
            problem.message.contains("two hundred"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn a_page_ends_before_the_function_url_limit() {
        let big = "x".repeat(1024 * 1024);
        let items: Vec<(String, Value)> = (0..10)
            .map(|i| (format!("id{i}"), Value::String(big.clone())))
            .collect();
        let page = bounded_listing(items, None);
        assert_eq!(page["items"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            page["position"], "id2",
            "the next page starts after the last item kept"
        );
        assert!(page.to_string().len() < 6 * 1024 * 1024);
        let small = bounded_listing(vec![("a".into(), Value::Null)], Some("later".into()));
        assert_eq!(small["position"], "later");
    }

    #[test]
    fn positions_are_decoded() {
        assert_eq!(
            page("position=api.example.com%2Fv1")
                .ok()
                .and_then(|p| p.after),
            Some("api.example.com/v1".into())
        );
    }

    #[test]
    fn paging_and_if_match() {
        assert_eq!(
            page("limit=5&position=abc").ok(),
            Some(Page {
                limit: 5,
                after: Some("abc".into())
            })
        );
        assert!(page("limit=0").is_err());
        assert!(page("position=a%20b").is_err());
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers), Ok(None));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("W/\"7\""));
        assert_eq!(if_match(&headers), Ok(Some(7)));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"seven\""));
        assert!(if_match(&headers).is_err());
    }
}
