//! Which API and stage a request is for, from its normalized path ([`crate::path`]) and host.
//!
//! - A custom domain (a host with base path mappings, managed through the admin's
//!   `/domainmappings`) picks the mapping whose base path is the path's first segment, else
//!   its `(none)` mapping; the routes see the rest. Targets see the whole path, base path
//!   included, as behind API Gateway.
//! - Any other host uses the default form `/{apiId}/{stage}/{path}`: the function URL stands
//!   in for API Gateway's `{apiId}.execute-api` host.
//!
//! The host is the `Host` header, or `X-Forwarded-Host` when the front is configured to trust
//! the proxy in front of it (CloudFront rewrites `Host` to the function URL's own, so a
//! CloudFront function copies the viewer's host there). Untrusted, the header is ignored: a
//! client must not pick another API's mapping by sending it.

use portico_model::records::{DomainMapping, NO_BASE_PATH};

use crate::error::GatewayError;
use crate::path::NormalPath;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub api_id: String,
    pub stage: String,
    /// The path routes match: after the stage or base path, no trailing slash but the root.
    pub path: String,
    /// Payload 1.0's `path`: after the stage on the default form, whole on a custom domain.
    pub event_path: String,
    /// `requestContext.path` and 2.0's `rawPath`: with the stage on the default form (where
    /// the host names the API), whole on a custom domain.
    pub full_path: String,
}

/// The caller's address. With no trusted proxies it is the function URL's source IP, and
/// `X-Forwarded-For` is ignored whatever it says. With `trusted_hops` proxies in front (each
/// appending the address it saw, as CloudFront does) it is the entry `trusted_hops` from the
/// right of `X-Forwarded-For`, once an entry the function URL itself added for its peer is
/// set aside. Entries further left are the client's own words and never count. A request with
/// fewer entries than trusted proxies did not come through them: its peer's address stands.
pub fn source_ip(request: &crate::IncomingRequest, trusted_hops: u8) -> String {
    let peer = || request.source_ip.clone();
    if trusted_hops == 0 {
        return peer();
    }
    let mut entries: Vec<&str> = request
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if entries.last() == Some(&request.source_ip.as_str()) {
        entries.pop();
    }
    let hops = usize::from(trusted_hops);
    if entries.len() < hops {
        return peer();
    }
    let chosen = entries[entries.len() - hops];
    match chosen.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => peer(),
    }
}

/// The request's host, lower-case, without port or trailing dot.
pub fn host(request: &crate::IncomingRequest, trust_forwarded_host: bool) -> Option<String> {
    let raw = if trust_forwarded_host {
        // The proxy closest to us appends last: earlier entries are the client's to forge.
        request
            .header("x-forwarded-host")
            .and_then(|v| v.rsplit(',').next())
            .or_else(|| request.header("host"))
    } else {
        request.header("host")
    }?;
    let raw = raw.trim();
    let name = match raw.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => raw,
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// Whether `host` could carry base path mappings at all. The function URL's own host, IP
/// literals and single-label names (localhost) cannot, so requests to them cost no look-up.
pub fn may_have_mappings(host: &str) -> bool {
    host.contains('.')
        && !host.ends_with(".on.aws")
        && !host.starts_with('[')
        && host.parse::<std::net::Ipv4Addr>().is_err()
}

fn first_segment(path: &str) -> (&str, &str) {
    let rest = path.strip_prefix('/').unwrap_or(path);
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

fn routing(rest: &str) -> String {
    match rest.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed.to_owned(),
        _ if rest.is_empty() => "/".to_owned(),
        _ => rest.to_owned(),
    }
}

/// The target on a custom domain with these mappings (not empty).
pub fn by_mapping(path: &NormalPath, mappings: &[DomainMapping]) -> Result<Target, GatewayError> {
    let (first, rest) = first_segment(path.as_str());
    let (mapping, rest) = match mappings.iter().find(|m| m.base_path == first) {
        Some(mapping) if !first.is_empty() => (mapping, rest),
        _ => match mappings.iter().find(|m| m.base_path == NO_BASE_PATH) {
            Some(mapping) => (mapping, path.as_str()),
            // API Gateway's answer on a custom domain with no mapping for the path.
            None => {
                return Err(GatewayError::Forbidden {
                    reason: format!("no base path mapping for /{first}"),
                });
            }
        },
    };
    Ok(Target {
        api_id: mapping.api_id.clone(),
        stage: mapping.stage.clone(),
        path: routing(rest),
        event_path: path.as_str().to_owned(),
        full_path: path.as_str().to_owned(),
    })
}

/// The target named by the default path form.
pub fn by_default_form(path: &NormalPath) -> Result<Target, GatewayError> {
    let (api_id, rest) = first_segment(path.as_str());
    let (stage, rest) = first_segment(rest);
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !ok(api_id) || !ok(stage) {
        // API Gateway answers an unknown API or stage as a missing route of a REST API.
        return Err(GatewayError::MissingAuthenticationToken);
    }
    Ok(Target {
        api_id: api_id.to_owned(),
        stage: stage.to_owned(),
        path: routing(rest),
        event_path: rest.to_owned(),
        full_path: format!("/{stage}{rest}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::normalize;

    fn from(peer: &str, forwarded: &[&str]) -> crate::IncomingRequest {
        let headers: Vec<(&str, &str)> =
            forwarded.iter().map(|v| ("x-forwarded-for", *v)).collect();
        crate::IncomingRequest {
            source_ip: peer.into(),
            ..crate::IncomingRequest::sample(&headers)
        }
    }

    #[test]
    fn forwarded_for_counts_only_as_far_as_the_trusted_proxies() {
        let cloudfront = "130.176.0.1";
        // No trusted proxy: the header is the client's word and changes nothing.
        let spoofed = from("198.51.100.7", &["10.0.0.1"]);
        assert_eq!(source_ip(&spoofed, 0), "198.51.100.7");
        // CloudFront appended the viewer; the function URL appended CloudFront.
        let viaproxy = from(cloudfront, &["10.0.0.1, 203.0.113.5", cloudfront]);
        assert_eq!(
            source_ip(&viaproxy, 1),
            "203.0.113.5",
            "spoofed entries to the left never count"
        );
        // The same without the function URL's own entry.
        assert_eq!(
            source_ip(&from(cloudfront, &["10.0.0.1, 203.0.113.5"]), 1),
            "203.0.113.5"
        );
        // Two proxies: the second from the right.
        assert_eq!(
            source_ip(&from("192.0.2.9", &["10.0.0.1, 203.0.113.5, 192.0.2.8"]), 2),
            "203.0.113.5"
        );
        // Fewer entries than trusted proxies, or garbage where the proxy's entry should be:
        // the peer's address stands.
        assert_eq!(source_ip(&from("192.0.2.9", &[]), 1), "192.0.2.9");
        assert_eq!(
            source_ip(&from("192.0.2.9", &["not-an-ip"]), 1),
            "192.0.2.9"
        );
        assert_eq!(
            source_ip(&from("192.0.2.9", &["2001:db8::1"]), 1),
            "2001:db8::1"
        );
    }

    fn default_form(raw: &str) -> Result<(String, String, String, String, String), GatewayError> {
        let t = by_default_form(&normalize(raw)?)?;
        Ok((t.api_id, t.stage, t.path, t.event_path, t.full_path))
    }

    fn strings(parts: [&str; 5]) -> (String, String, String, String, String) {
        let [a, b, c, d, e] = parts.map(str::to_owned);
        (a, b, c, d, e)
    }

    #[test]
    fn splits_api_stage_and_path() {
        assert_eq!(
            default_form("/abc123/prod/pets/7"),
            Ok(strings([
                "abc123",
                "prod",
                "/pets/7",
                "/pets/7",
                "/prod/pets/7"
            ]))
        );
        assert_eq!(
            default_form("/abc123/prod"),
            Ok(strings(["abc123", "prod", "/", "/", "/prod/"]))
        );
        assert_eq!(
            default_form("/abc123/prod/pets/"),
            Ok(strings([
                "abc123",
                "prod",
                "/pets",
                "/pets/",
                "/prod/pets/"
            ]))
        );
    }

    #[test]
    fn anything_else_is_a_missing_route() {
        for path in ["/", "/abc123", "/abc123/", "/a%2Cb/prod/x", "/a~b/prod"] {
            assert_eq!(
                default_form(path),
                Err(GatewayError::MissingAuthenticationToken),
                "{path}"
            );
        }
    }

    fn mapping(base_path: &str, api_id: &str) -> DomainMapping {
        DomainMapping {
            domain_name: "api.example.com".into(),
            base_path: base_path.into(),
            api_id: api_id.into(),
            stage: "live".into(),
            version: 1,
            created_date: String::new(),
        }
    }

    #[test]
    fn base_paths_pick_the_api_and_the_rest_is_routed() {
        let mappings = [mapping("orders", "o1"), mapping(NO_BASE_PATH, "root")];
        let target = |raw: &str| by_mapping(&normalize(raw).expect("normal"), &mappings);
        let t = target("/orders/7/").expect("mapped");
        assert_eq!(
            (t.api_id.as_str(), t.path.as_str(), t.event_path.as_str()),
            ("o1", "/7", "/orders/7/")
        );
        assert_eq!(target("/orders").map(|t| t.path), Ok("/".into()));
        let t = target("/ordersx/1").expect("falls to (none)");
        assert_eq!((t.api_id.as_str(), t.path.as_str()), ("root", "/ordersx/1"));
        assert_eq!(target("/").map(|t| t.api_id), Ok("root".into()));

        let only = [mapping("orders", "o1")];
        let refused = by_mapping(&normalize("/pets/1").expect("normal"), &only);
        assert!(matches!(refused, Err(GatewayError::Forbidden { .. })));
    }

    fn request_with(headers: &[(&'static str, &'static str)]) -> crate::IncomingRequest {
        crate::IncomingRequest::sample(headers)
    }

    #[test]
    fn forwarded_host_counts_only_when_trusted() {
        let request = request_with(&[
            ("host", "Fn.Lambda-Url.eu-west-1.on.aws:443"),
            ("x-forwarded-host", "evil.example.com, API.example.com."),
        ]);
        assert_eq!(
            host(&request, false).as_deref(),
            Some("fn.lambda-url.eu-west-1.on.aws")
        );
        assert_eq!(host(&request, true).as_deref(), Some("api.example.com"));
        let bare = request_with(&[("host", "api.example.com")]);
        assert_eq!(host(&bare, true).as_deref(), Some("api.example.com"));
    }

    #[test]
    fn only_names_that_can_be_domains_are_looked_up() {
        for host in ["api.example.com", "a.b"] {
            assert!(may_have_mappings(host), "{host}");
        }
        for host in [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "abc.lambda-url.eu-west-1.on.aws",
        ] {
            assert!(!may_have_mappings(host), "{host}");
        }
    }
}
