//! The one normalized form of a request path. Routing, the route's protection (policy,
//! authorizers, throttles keyed by route) and the integration all read this form, never the
//! raw path, so no two phases can disagree about which resource a request names: the class
//! of bug behind Envoy CVE-2019-9901, APISIX CVE-2021-43557 and Istio CVE-2021-31920.
//!
//! Normalization follows RFC 3986 §6.2.2:
//! - `%XX` escapes of unreserved characters are decoded (`/%61dmin` is `/admin`); other
//!   escapes keep their meaning, with upper-case hex; characters a path may not hold
//!   literally are escaped.
//! - `.` and `..` segments are removed (`%2e` counts as `.`), and runs of `/` collapse, as
//!   most backends do: the path the backend is given is the path that was routed.
//! - A trailing `/` is kept (targets see it, as behind API Gateway) but routing ignores it.
//!
//! What cannot be normalized without guessing how a backend reads it is refused with 400:
//! an escaped `/` or `\` (one segment here, two on many backends), a literal `\`, NUL and
//! other control characters, escapes that decode to invalid UTF-8 (overlong forms
//! included), malformed escapes, and `..` above the root. Paths are case-sensitive, as in API
//! Gateway: `/ADMIN` is not `/admin`, and a target sees exactly the case that was routed.

use std::fmt::Write as _;

use crate::GatewayError;

/// Longest raw path accepted. API Gateway's own limit on the request line is 10 KB; a path
/// this long is never legitimate and only costs work.
pub const MAX_PATH_BYTES: usize = 8192;

/// A request path in normal form: starts with `/`, every segment non-empty, no dot segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath {
    path: String,
}

impl NormalPath {
    /// The full normalized path, trailing slash included.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The path routing matches: without a trailing slash, except for the root.
    pub fn routing(&self) -> &str {
        match self.path.strip_suffix('/') {
            Some(rest) if !rest.is_empty() => rest,
            _ => &self.path,
        }
    }
}

fn refuse(reason: impl Into<String>) -> GatewayError {
    GatewayError::BadRequestPath {
        reason: reason.into(),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// Characters a path segment may hold unescaped (RFC 3986 `pchar` without `%`).
fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || b"!$&'()*+,;=:@".contains(&b)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One segment in normal form, or why it cannot have one.
fn normalize_segment(raw: &str) -> Result<String, GatewayError> {
    let bytes = raw.as_bytes();
    // The decoded bytes are checked as a whole (UTF-8, forbidden characters); the output
    // keeps escapes of reserved characters so their meaning does not change.
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(refuse("malformed percent-escape"));
            };
            let value = hi * 16 + lo;
            decoded.push(value);
            if is_unreserved(value) {
                out.push(value as char);
            } else {
                let _ = write!(out, "%{value:02X}");
            }
            i += 3;
            continue;
        }
        decoded.push(b);
        if is_pchar(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        i += 1;
    }
    if let Some(b) = decoded
        .iter()
        .find(|b| matches!(b, b'/' | b'\\') || b.is_ascii_control())
    {
        return Err(refuse(format!(
            "a path segment holds the byte {b:#04x} (escaped slash, backslash or control character)"
        )));
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(refuse("a path segment is not UTF-8 once decoded"));
    }
    Ok(out)
}

/// Normalizes `raw`, the path exactly as the client sent it.
pub fn normalize(raw: &str) -> Result<NormalPath, GatewayError> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(refuse("path too long"));
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(refuse("path does not start with '/'"));
    };
    let mut segments: Vec<String> = Vec::new();
    let mut trailing_slash = false;
    for raw_segment in rest.split('/') {
        trailing_slash = raw_segment.is_empty();
        if raw_segment.is_empty() {
            continue;
        }
        let segment = normalize_segment(raw_segment)?;
        match segment.as_str() {
            "." => trailing_slash = true,
            ".." => {
                if segments.pop().is_none() {
                    return Err(refuse("'..' climbs above the root"));
                }
                trailing_slash = true;
            }
            _ => segments.push(segment),
        }
    }
    let mut path = String::with_capacity(raw.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() || trailing_slash {
        path.push('/');
    }
    Ok(NormalPath { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(raw: &str) -> String {
        normalize(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .as_str()
            .to_owned()
    }

    #[test]
    fn canonical_paths_are_unchanged() {
        for path in [
            "/",
            "/pets",
            "/pets/7",
            "/a/b/",
            "/x;y=1/%20/caf%C3%A9",
            "/~u/a.b",
        ] {
            assert_eq!(normal(path), path);
        }
    }

    #[test]
    fn equivalent_spellings_meet() {
        for (raw, expected) in [
            ("/%61dmin", "/admin"),
            ("/ADMIN", "/ADMIN"),
            ("//admin", "/admin"),
            ("/a//b///c", "/a/b/c"),
            ("/x/../admin", "/admin"),
            ("/./admin", "/admin"),
            ("/x/%2e%2E/admin", "/admin"),
            ("/x/.%2e/admin", "/admin"),
            ("/admin/.", "/admin/"),
            ("/admin/x/..", "/admin/"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a b", "/a%20b"),
            ("/a%3bb", "/a%3Bb"),
        ] {
            assert_eq!(normal(raw), expected, "{raw}");
        }
    }

    #[test]
    fn routing_ignores_one_trailing_slash() {
        assert_eq!(
            normalize("/pets/").map(|p| p.routing().to_owned()),
            Ok("/pets".into())
        );
        assert_eq!(
            normalize("/").map(|p| p.routing().to_owned()),
            Ok("/".into())
        );
        assert_eq!(
            normalize("/pets//").map(|p| p.as_str().to_owned()),
            Ok("/pets/".into())
        );
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for raw in [
            "/admin%2Fsecret",
            "/admin%2fsecret",
            "/admin%5Csecret",
            "/admin\\secret",
            "/admin%00",
            "/admin%0d%0aX:1",
            "/admin%7F",
            "/%C0%AF",
            "/%C0%AE%C0%AE/admin",
            "/%E0%80%AF",
            "/%ff",
            "/a%2",
            "/a%zz",
            "/..",
            "/a/../..",
            "/%2e%2e/admin",
            "admin",
            "",
        ] {
            assert!(
                matches!(normalize(raw), Err(GatewayError::BadRequestPath { .. })),
                "{raw:?} should be refused"
            );
        }
        assert!(normalize(&format!("/{}", "a".repeat(MAX_PATH_BYTES))).is_err());
    }
}
