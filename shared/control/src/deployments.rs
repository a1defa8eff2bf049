//! `/apis/{apiId}/deployments[/{deploymentId}]`: compile the current definition into an
//! immutable snapshot, optionally pointing a stage at it in the same call. The deployment is
//! written first and the stage pointer second, with no transaction: if the second write fails
//! the stage keeps serving its previous deployment, and the answer says so.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::ports::ConfigStore;
use portico_model::problem::{Problem, Problems};
use portico_model::records::{Deployment, DeploymentSummary, now_rfc3339, stage_name_ok};
use portico_model::snapshot;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::stages::{self, StageChange};
use crate::wire::{self, parse_body};
use crate::{AdminError, AdminRequest, apis};

/// Longest deployment description (API Gateway's limit).
const MAX_DESCRIPTION: usize = 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateDeployment {
    description: Option<String>,
    /// Point this stage at the new deployment (created if absent).
    stage_name: Option<String>,
    /// Variables for the stage: set when it is created, replaced when given for an existing one.
    variables: Option<BTreeMap<String, String>>,
}

fn summary_json(summary: &DeploymentSummary) -> Value {
    serde_json::to_value(summary).unwrap_or(Value::Null)
}

pub async fn create(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let body: CreateDeployment = if request.body.is_empty() {
        CreateDeployment::default()
    } else {
        parse_body(&request.body)?
    };
    let mut problems = Problems::default();
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        problems.push(Problem::new(
            "/description",
            format!("description is at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if let Some(name) = &body.stage_name
        && !stage_name_ok(name)
    {
        problems.push(Problem::new(
            "/stageName",
            "stage names are 1-128 letters, digits, '-' or '_'",
        ));
    }
    if body.variables.is_some() && body.stage_name.is_none() {
        problems.push(Problem::new(
            "/variables",
            "variables need a stageName to apply to",
        ));
    }
    if let Some(variables) = &body.variables {
        for problem in stages::check_variables("/variables", variables).iter() {
            problems.push(problem.clone());
        }
    }
    problems.into_result().map_err(AdminError::invalid)?;

    let api = apis::load(store, api_id).await?;
    // Problems found compiling point into the definition, under /definition.
    let compiled = snapshot::compile(&api.id, &api.definition).map_err(|problems| {
        let mut under = Problems::default();
        for p in problems.iter() {
            under.push(Problem::new(
                format!("/definition{}", p.pointer),
                p.message.clone(),
            ));
        }
        AdminError::Invalid {
            message: format!(
                "API {api_id} (version {}) cannot be deployed; see problems",
                api.version
            ),
            problems: under,
        }
    })?;
    let mut deployment = Deployment {
        api_id: api.id.clone(),
        summary: DeploymentSummary {
            id: ulid::Ulid::new().to_string(),
            description: body.description,
            created_date: now_rfc3339(),
            snapshot_bytes: 0,
        },
        snapshot: compiled,
    };
    deployment.summary.snapshot_bytes = store.create_deployment(&deployment).await?;
    let id = deployment.summary.id.clone();
    tracing::info!(api_id, deployment_id = %id, api_version = api.version, caller = %request.caller, "deployment created");

    let mut response = summary_json(&deployment.summary);
    response["apiVersion"] = json!(api.version);
    if let Some(stage_name) = body.stage_name {
        let change = StageChange {
            deployment_id: id.clone(),
            description: None,
            variables: body.variables,
        };
        let (stage, _) = stages::write_stage(store, api_id, &stage_name, change, None)
            .await
            .map_err(|error| {
                let said = match error.to_response().status() {
                    StatusCode::CONFLICT => "was changed by another writer",
                    _ => "could not be updated",
                };
                AdminError::Conflict(format!(
                    "deployment {id} was created, but stage {stage_name} {said}; it still serves its previous deployment. Point it with PUT /apis/{api_id}/stages/{stage_name}"
                ))
            })?;
        response["stage"] = stages::stage_json(&stage);
    }
    Ok(wire::json_response(StatusCode::CREATED, &response))
}

pub async fn list(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    apis::load(store, api_id).await?;
    let listing = store.list_deployments(api_id, &page).await?;
    let items = listing.items.iter().map(summary_json).collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::listing(items, listing.next),
    ))
}

pub async fn get(
    store: &dyn ConfigStore,
    api_id: &str,
    deployment_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let not_found =
        || AdminError::NotFound(format!("API {api_id} has no deployment {deployment_id}"));
    if !apis::id_ok(api_id) || !apis::id_ok(deployment_id) {
        return Err(not_found());
    }
    let deployment = store
        .deployment(api_id, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    let mut body = summary_json(&deployment.summary);
    body["routes"] = json!(
        deployment
            .snapshot
            .routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    Ok(wire::json_response(StatusCode::OK, &body))
}
