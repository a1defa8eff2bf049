//! Route templates and the router: `find(method, path)` picks the most specific route the way
//! API Gateway does (a literal segment beats `{param}`, which beats the greedy `{proxy+}`).
//!
//! Matching is delegated to `matchit`, whose priorities are exactly those; this module only
//! translates API Gateway's template syntax and adds methods (with `ANY` as the fallback).

/// A parsed, validated route path such as `/pets/{id}` or `/files/{proxy+}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

fn literal_byte_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b)
}

fn param_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl PathTemplate {
    pub fn parse(path: &str) -> Result<PathTemplate, String> {
        if path.len() > crate::definition::MAX_PATH_LEN {
            return Err(format!(
                "path is longer than {} bytes",
                crate::definition::MAX_PATH_LEN
            ));
        }
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| format!("path {path:?} must start with '/'"))?;
        if rest.is_empty() {
            return Ok(PathTemplate { segments: vec![] });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut names = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let segment = if let Some(inner) =
                part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
            {
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(name) => (name, true),
                    None => (inner, false),
                };
                if !param_name_ok(name) {
                    return Err(format!(
                        "path {path:?}: parameter name {name:?} may only use letters, digits, '.', '_' and '-'"
                    ));
                }
                if names.contains(&name) {
                    return Err(format!("path {path:?}: parameter {name:?} appears twice"));
                }
                names.push(name);
                if greedy {
                    if i + 1 != parts.len() {
                        return Err(format!(
                            "path {path:?}: a greedy parameter {{{name}+}} must be the last segment"
                        ));
                    }
                    Segment::Greedy(name.to_owned())
                } else {
                    Segment::Param(name.to_owned())
                }
            } else if part.is_empty() {
                return Err(format!(
                    "path {path:?} has an empty segment (a doubled or trailing '/')"
                ));
            } else if !part.bytes().all(literal_byte_ok) {
                return Err(format!(
                    "path {path:?}: segment {part:?} may only use letters, digits and -._~:@!$&'()*+,;= (parameters are written {{name}} or {{name+}})"
                ));
            } else {
                Segment::Literal((*part).to_owned())
            };
            segments.push(segment);
        }
        Ok(PathTemplate { segments })
    }

    /// The template with parameter names erased: two templates with one shape match the same
    /// requests, so they conflict.
    pub fn shape(&self) -> String {
        self.render(|_| "{}".to_owned(), |_| "{+}".to_owned())
    }

    /// The template in `matchit` syntax.
    fn matchit(&self) -> String {
        self.render(|n| format!("{{{n}}}"), |n| format!("{{*{n}}}"))
    }

    fn render(&self, param: impl Fn(&str) -> String, greedy: impl Fn(&str) -> String) -> String {
        if self.segments.is_empty() {
            return "/".to_owned();
        }
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(s) => out.push_str(s),
                Segment::Param(n) => out.push_str(&param(n)),
                Segment::Greedy(n) => out.push_str(&greedy(n)),
            }
        }
        out
    }
}

/// Routes compiled for lookup. Built once per deployment snapshot per instance.
#[derive(Debug, Clone)]
pub struct Router {
    paths: matchit::Router<usize>,
    entries: Vec<PathEntry>,
}

#[derive(Debug, Clone, Default)]
struct PathEntry {
    methods: Vec<(String, usize)>,
    any: Option<usize>,
}

/// The route a request matched: its index in the snapshot and the raw (still
/// percent-encoded) values of its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub route: usize,
    pub params: Vec<(String, String)>,
}

/// Why routes could not be compiled: the index of the offending route and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConflict {
    pub route: usize,
    pub message: String,
}

impl Router {
    /// Builds the router from `(method, path)` pairs, in route order.
    pub fn build<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Router, RouteConflict> {
        let mut paths = matchit::Router::new();
        let mut entries: Vec<PathEntry> = Vec::new();
        let mut by_template: Vec<(String, usize)> = Vec::new();
        for (route, (method, path)) in routes.into_iter().enumerate() {
            let template =
                PathTemplate::parse(path).map_err(|message| RouteConflict { route, message })?;
            let key = template.matchit();
            let entry = match by_template.iter().find(|(k, _)| *k == key) {
                Some((_, entry)) => *entry,
                None => {
                    let entry = entries.len();
                    paths
                        .insert(key.clone(), entry)
                        .map_err(|e| RouteConflict {
                            route,
                            message: format!("{method} {path} conflicts with another route: {e}"),
                        })?;
                    entries.push(PathEntry::default());
                    by_template.push((key, entry));
                    entry
                }
            };
            let slot = &mut entries[entry];
            let duplicate = if method == "ANY" {
                slot.any.replace(route).is_some()
            } else if slot.methods.iter().any(|(m, _)| m == method) {
                true
            } else {
                slot.methods.push((method.to_owned(), route));
                false
            };
            if duplicate {
                return Err(RouteConflict {
                    route,
                    message: format!("{method} {path} is defined twice"),
                });
            }
        }
        Ok(Router { paths, entries })
    }

    /// The route for `method` on `path` (the raw request path, percent-encoding intact, so an
    /// encoded `/` inside a segment never splits it). `None` when no route matches.
    pub fn find(&self, method: &str, path: &str) -> Option<RouteMatch> {
        let matched = self.paths.at(path).ok()?;
        let entry = &self.entries[*matched.value];
        let route = entry
            .methods
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| *r)
            .or(entry.any)?;
        let params = matched
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some(RouteMatch { route, params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().copied()).expect("routes compile")
    }

    #[test]
    fn literal_beats_param_beats_greedy() {
        let r = router(&[
            ("GET", "/{proxy+}"),
            ("GET", "/pets/{id}"),
            ("GET", "/pets/mine"),
        ]);
        assert_eq!(r.find("GET", "/pets/mine").map(|m| m.route), Some(2));
        let m = r.find("GET", "/pets/42").expect("matches");
        assert_eq!((m.route, m.params), (1, vec![("id".into(), "42".into())]));
        let m = r.find("GET", "/pets/42/toys").expect("matches");
        assert_eq!(
            (m.route, m.params),
            (0, vec![("proxy".into(), "pets/42/toys".into())])
        );
    }

    #[test]
    fn methods_and_any() {
        let r = router(&[("GET", "/a"), ("ANY", "/a"), ("POST", "/b")]);
        assert_eq!(r.find("GET", "/a").map(|m| m.route), Some(0));
        assert_eq!(r.find("DELETE", "/a").map(|m| m.route), Some(1));
        assert_eq!(r.find("GET", "/b"), None);
        assert_eq!(r.find("POST", "/c"), None);
    }

    #[test]
    fn greedy_needs_at_least_one_segment_and_root_is_its_own_route() {
        let r = router(&[("ANY", "/{proxy+}")]);
        assert_eq!(r.find("GET", "/"), None);
        let r = router(&[("ANY", "/{proxy+}"), ("GET", "/")]);
        assert_eq!(r.find("GET", "/").map(|m| m.route), Some(1));
    }

    #[test]
    fn encoded_slash_stays_inside_its_segment() {
        let r = router(&[("GET", "/files/{name}")]);
        let m = r.find("GET", "/files/a%2Fb").expect("matches");
        assert_eq!(m.params, vec![("name".into(), "a%2Fb".into())]);
        assert_eq!(r.find("GET", "/files/a/b"), None);
    }

    #[test]
    fn conflicts_are_refused() {
        let err = Router::build([("GET", "/a/{x}"), ("POST", "/a/{y}")]).expect_err("conflict");
        assert_eq!(err.route, 1);
        let err = Router::build([("GET", "/a"), ("GET", "/a")]).expect_err("duplicate");
        assert_eq!(err.route, 1);
    }

    #[test]
    fn bad_templates_are_explained() {
        for bad in [
            "pets", "/a//b", "/a/", "/{p+}/x", "/{a}/{a}", "/a b", "/{}", "/x{y}",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            PathTemplate::parse("/pets/{id}/{rest+}").map(|t| t.shape()),
            Ok("/pets/{}/{+}".to_owned())
        );
    }
}
