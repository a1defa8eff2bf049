//! Portico's control plane: the admin API over the config store ports.
//!
//! [`Admin::handle`] routes a request to one module per resource, the way API Gateway's
//! management API names them:
//! - [`apis`]: `/apis`, `/apis/{apiId}`: definitions, versioned for optimistic concurrency.
//! - [`deployments`]: `/apis/{apiId}/deployments[/{deploymentId}]`: immutable snapshots.
//! - [`stages`]: `/apis/{apiId}/stages[/{stageName}[/promote|/rollback]]`: named pointers to
//!   deployments, with their settings and canaries.
//! - [`audit`]: `/audit`: every change, newest first.
//! - [`openapi`]: `/apis/import`, `/apis/{apiId}/import`, `/apis/{apiId}/export`: OpenAPI 3.0
//!   and Swagger 2.0 with API Gateway's extensions.
//! - [`keys`], [`plans`], [`domains`]: `/apikeys` (with `/apikeys/import` from CSV),
//!   `/usageplans` (with `/keys`), `/domainmappings`, stored as versioned records.
//! - [`usage`]: `/usageplans/{planId}/usage` and a key's quota, read from the counters table.
//!
//! Operations that change something report it as a [`Change`]; `handle` writes one audit
//! entry per change. [`error`] turns every failure into one JSON shape; [`wire`] parses
//! bodies and query strings into validated input, naming the field that is wrong.

pub mod apis;
pub mod audit;
pub mod deployments;
pub mod domains;
pub mod error;
pub mod keys;
pub mod openapi;
pub mod plans;
mod records;
pub mod stages;
pub mod usage;
pub mod wire;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use portico_model::ports::{ConfigStore, UsageReader};
use portico_model::records::{AuditEntry, now_rfc3339};

pub use error::AdminError;

/// A new time-ordered id (ULID). One monotonic generator per instance, so ids made within the
/// same millisecond still sort in the order they were made (deployments, audit entries).
pub(crate) fn next_id() -> String {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let generator = generator.get_or_insert_with(ulid::Generator::new);
    // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random one.
    generator
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_string()
}

/// A change an operation made, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: &'static str,
    pub resource: String,
    /// The version replaced (0: the resource was created).
    pub before: u64,
    /// The version written (`None`: the resource was deleted, or has no version).
    pub after: Option<u64>,
}

impl Change {
    pub fn new(action: &'static str, resource: String, before: u64, after: Option<u64>) -> Self {
        Change {
            action,
            resource,
            before,
            after,
        }
    }
}

/// An operation's answer, and what it changed.
pub struct Reply {
    pub response: Response<Bytes>,
    pub changes: Vec<Change>,
}

impl Reply {
    pub fn changed(response: Response<Bytes>, change: Change) -> Self {
        Reply {
            response,
            changes: vec![change],
        }
    }
}

impl From<Response<Bytes>> for Reply {
    fn from(response: Response<Bytes>) -> Self {
        Reply {
            response,
            changes: Vec::new(),
        }
    }
}

/// A request to the admin API, as the function URL delivered it.
#[derive(Debug, Clone)]
pub struct AdminRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Who is calling: the IAM principal from the function URL's request context, or
    /// `local` when there is none (loopback development).
    pub caller: String,
}

#[derive(Debug, Clone, Copy)]
enum Resource {
    Apis,
    Api,
    Deployments,
    Deployment,
    Stages,
    Stage,
    Promote,
    Rollback,
    Audit,
    Import,
    ApiImport,
    Export,
    Keys,
    Key,
    Plans,
    Plan,
    PlanKeys,
    PlanKey,
    PlanUsage,
    KeyImport,
    Mappings,
    Mapping,
    OpenApi,
}

pub struct Admin {
    store: Arc<dyn ConfigStore>,
    usage: Option<Arc<dyn UsageReader>>,
    routes: matchit::Router<Resource>,
}

impl Admin {
    pub fn new(store: Arc<dyn ConfigStore>) -> Self {
        let mut routes = matchit::Router::new();
        for (path, resource) in [
            ("/apis", Resource::Apis),
            ("/apis/{apiId}", Resource::Api),
            ("/apis/{apiId}/deployments", Resource::Deployments),
            (
                "/apis/{apiId}/deployments/{deploymentId}",
                Resource::Deployment,
            ),
            ("/apis/{apiId}/stages", Resource::Stages),
            ("/apis/{apiId}/stages/{stageName}", Resource::Stage),
            (
                "/apis/{apiId}/stages/{stageName}/promote",
                Resource::Promote,
            ),
            (
                "/apis/{apiId}/stages/{stageName}/rollback",
                Resource::Rollback,
            ),
            ("/audit", Resource::Audit),
            ("/apis/import", Resource::Import),
            ("/apis/{apiId}/import", Resource::ApiImport),
            ("/apis/{apiId}/export", Resource::Export),
            ("/apikeys", Resource::Keys),
            ("/apikeys/{keyId}", Resource::Key),
            ("/usageplans", Resource::Plans),
            ("/usageplans/{planId}", Resource::Plan),
            ("/usageplans/{planId}/keys", Resource::PlanKeys),
            ("/usageplans/{planId}/keys/{keyId}", Resource::PlanKey),
            ("/usageplans/{planId}/usage", Resource::PlanUsage),
            ("/apikeys/import", Resource::KeyImport),
            ("/domainmappings", Resource::Mappings),
            ("/domainmappings/{domainName}/{basePath}", Resource::Mapping),
            ("/openapi.json", Resource::OpenApi),
        ] {
            // The table above is static and conflict-free; a failure would be caught by any test.
            let _ = routes.insert(path, resource);
        }
        Admin {
            store,
            usage: None,
            routes,
        }
    }

    /// Usage reports read the counters table through `reader`; without one they answer 503.
    pub fn with_usage(mut self, reader: Arc<dyn UsageReader>) -> Self {
        self.usage = Some(reader);
        self
    }

    /// Serves one admin request. Never fails: errors are JSON responses.
    pub async fn handle(&self, request: AdminRequest) -> Response<Bytes> {
        match self.route(&request).await {
            Ok(reply) => {
                self.audit(&request, reply.changes).await;
                reply.response
            }
            Err(error) => {
                error.log(&request);
                error.to_response()
            }
        }
    }

    /// One audit entry per change. The change already stands, so a failed audit write is
    /// logged as an error for the operator rather than reported as the request's failure.
    async fn audit(&self, request: &AdminRequest, changes: Vec<Change>) {
        for change in changes {
            let entry = AuditEntry {
                id: next_id(),
                time: now_rfc3339(),
                caller: request.caller.clone(),
                action: change.action.to_owned(),
                resource: change.resource,
                before_version: (change.before > 0).then_some(change.before),
                after_version: change.after,
            };
            if let Err(error) = self.store.record_audit(&entry).await {
                tracing::error!(%error, action = %entry.action, resource = %entry.resource, caller = %entry.caller, "audit entry not written");
            }
        }
    }

    async fn route(&self, request: &AdminRequest) -> Result<Reply, AdminError> {
        let matched = self
            .routes
            .at(&request.path)
            .map_err(|_| AdminError::NoSuchPath(request.path.clone()))?;
        let param = |name: &str| matched.params.get(name).unwrap_or_default().to_owned();
        let store = self.store.as_ref();
        let method = &request.method;
        let (api, stage) = (param("apiId"), param("stageName"));
        match (*matched.value, method) {
            (Resource::Apis, &Method::GET) => apis::list(store, request).await.map(Reply::from),
            (Resource::Apis, &Method::POST) => apis::create(store, request).await,
            (Resource::Api, &Method::GET) => apis::get(store, &api).await.map(Reply::from),
            (Resource::Api, &Method::PUT) => apis::update(store, request, &api).await,
            (Resource::Deployments, &Method::GET) => deployments::list(store, request, &api)
                .await
                .map(Reply::from),
            (Resource::Deployments, &Method::POST) => {
                deployments::create(store, request, &api).await
            }
            (Resource::Deployment, &Method::GET) => {
                deployments::get(store, &api, &param("deploymentId"))
                    .await
                    .map(Reply::from)
            }
            (Resource::Stages, &Method::GET) => {
                stages::list(store, request, &api).await.map(Reply::from)
            }
            (Resource::Stage, &Method::GET) => {
                stages::get(store, &api, &stage).await.map(Reply::from)
            }
            (Resource::Stage, &Method::PUT) => stages::put(store, request, &api, &stage).await,
            (Resource::Stage, &Method::DELETE) => {
                stages::delete(store, request, &api, &stage).await
            }
            (Resource::Promote, &Method::POST) => {
                stages::promote(store, request, &api, &stage).await
            }
            (Resource::Rollback, &Method::POST) => {
                stages::rollback(store, request, &api, &stage).await
            }
            (Resource::Audit, &Method::GET) => audit::list(store, request).await.map(Reply::from),
            (Resource::Import, &Method::POST) => openapi::create(store, request).await,
            (Resource::ApiImport, &Method::PUT) => openapi::put(store, request, &api).await,
            (Resource::Export, &Method::GET) => {
                openapi::get(store, request, &api).await.map(Reply::from)
            }
            (Resource::Keys, &Method::GET) => keys::list(store, request).await.map(Reply::from),
            (Resource::Keys, &Method::POST) => keys::create(store, request).await,
            (Resource::Key, &Method::GET) => {
                keys::get(store, &param("keyId")).await.map(Reply::from)
            }
            (Resource::Key, &Method::PUT) => keys::update(store, request, &param("keyId")).await,
            (Resource::Key, &Method::DELETE) => keys::delete(store, request, &param("keyId")).await,
            (Resource::Plans, &Method::GET) => plans::list(store, request).await.map(Reply::from),
            (Resource::Plans, &Method::POST) => plans::create(store, request).await,
            (Resource::Plan, &Method::GET) => {
                plans::get(store, &param("planId")).await.map(Reply::from)
            }
            (Resource::Plan, &Method::PUT) => plans::update(store, request, &param("planId")).await,
            (Resource::Plan, &Method::DELETE) => {
                plans::delete(store, request, &param("planId")).await
            }
            (Resource::PlanKeys, &Method::GET) => {
                plans::list_keys(store, request, &param("planId"))
                    .await
                    .map(Reply::from)
            }
            (Resource::PlanKeys, &Method::POST) => {
                plans::add_key(store, request, &param("planId")).await
            }
            (Resource::PlanKey, &Method::GET) => usage::plan_key(
                store,
                self.usage.as_deref(),
                &param("planId"),
                &param("keyId"),
            )
            .await
            .map(Reply::from),
            (Resource::PlanUsage, &Method::GET) => {
                usage::report(store, self.usage.as_deref(), request, &param("planId"))
                    .await
                    .map(Reply::from)
            }
            (Resource::KeyImport, &Method::POST) => keys::import(store, request).await,
            (Resource::PlanKey, &Method::DELETE) => {
                plans::remove_key(store, request, &param("planId"), &param("keyId")).await
            }
            (Resource::Mappings, &Method::GET) => {
                domains::list(store, request).await.map(Reply::from)
            }
            (Resource::Mappings, &Method::POST) => domains::create(store, request).await,
            (Resource::Mapping, &Method::GET) => {
                domains::get(store, &param("domainName"), &param("basePath"))
                    .await
                    .map(Reply::from)
            }
            (Resource::Mapping, &Method::DELETE) => {
                domains::delete(store, request, &param("domainName"), &param("basePath")).await
            }
            (Resource::OpenApi, &Method::GET) => Ok(Reply::from(admin_openapi())),
            (resource, _) => Err(AdminError::MethodNotAllowed(allowed(resource))),
        }
    }
}

/// This API's own OpenAPI document (docs/admin-openapi.json, compiled in).
pub const ADMIN_OPENAPI: &str = include_str!("../../../docs/admin-openapi.json");

fn admin_openapi() -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(ADMIN_OPENAPI.as_bytes()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn allowed(resource: Resource) -> &'static str {
    match resource {
        Resource::Apis | Resource::Deployments => "GET, POST",
        Resource::Api => "GET, PUT",
        Resource::Keys | Resource::Plans | Resource::PlanKeys | Resource::Mappings => "GET, POST",
        Resource::Key | Resource::Plan => "GET, PUT, DELETE",
        Resource::PlanKey => "GET, DELETE",
        Resource::PlanUsage => "GET",
        Resource::KeyImport => "POST",
        Resource::Mapping => "GET, DELETE",
        Resource::OpenApi => "GET",
        Resource::Stage => "GET, PUT, DELETE",
        Resource::Deployment | Resource::Stages | Resource::Audit => "GET",
        Resource::Promote | Resource::Rollback | Resource::Import => "POST",
        Resource::ApiImport => "PUT",
        Resource::Export => "GET",
    }
}
