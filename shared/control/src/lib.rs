//! Portico's control plane: the admin API over the config store ports.
//!
//! [`Admin::handle`] routes a request to one module per resource, the way API Gateway's
//! management API names them:
//! - [`apis`]: `/apis`, `/apis/{apiId}`: definitions, versioned for optimistic concurrency.
//! - [`deployments`]: `/apis/{apiId}/deployments[/{deploymentId}]`: immutable snapshots.
//! - [`stages`]: `/apis/{apiId}/stages[/{stageName}]`: named pointers to deployments.
//!
//! [`error`] turns every failure into one JSON shape; [`wire`] parses bodies and query
//! strings into validated input, naming the field that is wrong.

pub mod apis;
pub mod deployments;
pub mod error;
pub mod stages;
pub mod wire;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use portico_model::ports::ConfigStore;

pub use error::AdminError;

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
}

pub struct Admin {
    store: Arc<dyn ConfigStore>,
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
        ] {
            // The table above is static and conflict-free; a failure would be caught by any test.
            let _ = routes.insert(path, resource);
        }
        Admin { store, routes }
    }

    /// Serves one admin request. Never fails: errors are JSON responses.
    pub async fn handle(&self, request: AdminRequest) -> Response<Bytes> {
        match self.route(&request).await {
            Ok(response) => response,
            Err(error) => {
                error.log(&request);
                error.to_response()
            }
        }
    }

    async fn route(&self, request: &AdminRequest) -> Result<Response<Bytes>, AdminError> {
        let matched = self
            .routes
            .at(&request.path)
            .map_err(|_| AdminError::NoSuchPath(request.path.clone()))?;
        let param = |name: &str| matched.params.get(name).unwrap_or_default().to_owned();
        let store = self.store.as_ref();
        let method = &request.method;
        match (*matched.value, method) {
            (Resource::Apis, &Method::GET) => apis::list(store, request).await,
            (Resource::Apis, &Method::POST) => apis::create(store, request).await,
            (Resource::Api, &Method::GET) => apis::get(store, &param("apiId")).await,
            (Resource::Api, &Method::PUT) => apis::update(store, request, &param("apiId")).await,
            (Resource::Deployments, &Method::GET) => {
                deployments::list(store, request, &param("apiId")).await
            }
            (Resource::Deployments, &Method::POST) => {
                deployments::create(store, request, &param("apiId")).await
            }
            (Resource::Deployment, &Method::GET) => {
                deployments::get(store, &param("apiId"), &param("deploymentId")).await
            }
            (Resource::Stages, &Method::GET) => stages::list(store, &param("apiId")).await,
            (Resource::Stage, &Method::GET) => {
                stages::get(store, &param("apiId"), &param("stageName")).await
            }
            (Resource::Stage, &Method::PUT) => {
                stages::put(store, request, &param("apiId"), &param("stageName")).await
            }
            (resource, _) => Err(AdminError::MethodNotAllowed(allowed(resource))),
        }
    }
}

fn allowed(resource: Resource) -> &'static str {
    match resource {
        Resource::Apis | Resource::Deployments => "GET, POST",
        Resource::Api | Resource::Stage => "GET, PUT",
        Resource::Deployment | Resource::Stages => "GET",
    }
}
