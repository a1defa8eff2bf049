//! `/apis/{apiId}/deployments[/{deploymentId}]`: compile the current definition into an
//! immutable snapshot, optionally pointing a stage at it in the same call. The deployment is
//! written first and the stage pointer second, with no transaction: if the second write fails
//! the stage keeps serving its previous deployment, and the answer says so.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::ports::ConfigStore;
use portico_model::problem::{Problem, Problems};
use portico_model::records::{
    Canary, CanaryAssignment, Deployment, DeploymentSummary, StageSettings, now_rfc3339,
    stage_name_ok,
};
use portico_model::snapshot;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::stages;
use crate::wire::{self, parse_body};
use crate::{AdminError, AdminRequest, Change, Reply, apis};

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
    /// Deploy as the stage's canary instead (API Gateway's `canarySettings`): the stage keeps
    /// its deployment and sends this share of traffic to the new one.
    canary: Option<CanaryRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CanaryRequest {
    percent_traffic: f64,
    #[serde(default)]
    stage_variable_overrides: BTreeMap<String, String>,
    #[serde(default)]
    use_stage_cache: bool,
    #[serde(default)]
    assignment: CanaryAssignment,
}

/// What this deployment asks of the front that the front does not do: routes it refuses
/// (fail closed), and resource policy statements it cannot evaluate (also fail closed).
fn unenforced_warnings(definition: &portico_model::definition::ApiDefinition) -> Problems {
    use portico_model::definition::{ApiKeySource, AuthorizationType};
    let mut warnings = Problems::default();
    for (i, route) in definition.routes.iter().enumerate() {
        if route.authorization.kind == AuthorizationType::AwsIam {
            warnings.push(Problem::new(
                format!("/definition/routes/{i}"),
                format!(
                    "{} needs IAM (SigV4) authorization, which this version of the front does not verify: it refuses the route (403) rather than serve it open",
                    route.key()
                ),
            ));
        }
        // With key source AUTHORIZER the key is the authorizer's usageIdentifierKey: a route
        // without a Lambda authorizer has none, so every call is refused.
        if route.api_key_required
            && definition.api_key_source == Some(ApiKeySource::Authorizer)
            && route.authorization.kind != AuthorizationType::Custom
        {
            warnings.push(Problem::new(
                format!("/definition/routes/{i}"),
                format!(
                    "{} requires an API key from an authorizer (apiKeySource AUTHORIZER) but has no Lambda authorizer: every call is refused (403)",
                    route.key()
                ),
            ));
        }
    }
    if let Some(policy) = &definition.policy {
        let (_, notes) = portico_model::policy::ResourcePolicy::compile(policy);
        for note in notes {
            warnings.push(Problem::new(
                "/definition/policy",
                format!("resource policy: {note}"),
            ));
        }
    }
    warnings
}

fn summary_json(summary: &DeploymentSummary) -> Value {
    serde_json::to_value(summary).unwrap_or(Value::Null)
}

pub async fn create(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
) -> Result<Reply, AdminError> {
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
    if body.stage_name.is_none() {
        if body.variables.is_some() {
            problems.push(Problem::new(
                "/variables",
                "variables need a stageName to apply to",
            ));
        }
        if body.canary.is_some() {
            problems.push(Problem::new(
                "/canary",
                "a canary needs the stageName it belongs to",
            ));
        }
    }
    if let Some(variables) = &body.variables {
        problems.extend(stages::check_variables("/variables", variables));
    }
    let canary = body.canary.map(|c| Canary {
        deployment_id: String::new(),
        percent_traffic: c.percent_traffic,
        stage_variable_overrides: c.stage_variable_overrides,
        use_stage_cache: c.use_stage_cache,
        assignment: c.assignment,
    });
    if let Some(canary) = &canary {
        let settings = StageSettings {
            canary: Some(canary.clone()),
            ..StageSettings::default()
        };
        problems.extend(settings.problems(""));
    }
    problems.into_result().map_err(AdminError::invalid)?;

    let api = apis::load(store, api_id).await?;
    if canary.is_some() {
        // A canary rides on a stage that already serves a deployment.
        let stage_name = body.stage_name.as_deref().unwrap_or_default();
        if store.stage(api_id, stage_name).await?.is_none() {
            return Err(AdminError::invalid(
                Problem::new(
                    "/stageName",
                    format!(
                        "stage {stage_name} does not exist; deploy to it before adding a canary"
                    ),
                )
                .into(),
            ));
        }
    }
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
            id: crate::next_id(),
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
    let mut warnings = unenforced_warnings(&deployment.snapshot.definition);
    let mut changes = vec![Change::new(
        "CreateDeployment",
        format!("/apis/{api_id}/deployments/{id}"),
        0,
        None,
    )];
    if let Some(stage_name) = body.stage_name {
        let variables = body.variables;
        let new_id = id.clone();
        let saved = stages::save_stage(store, api_id, &stage_name, None, |current| {
            let mut stage = current.unwrap_or_else(|| stages::new_stage(new_id.clone()));
            match canary {
                Some(mut canary) => {
                    canary.deployment_id = new_id;
                    stage.settings.canary = Some(canary);
                }
                None => stages::move_to(&mut stage, new_id),
            }
            if let Some(variables) = variables {
                stage.variables = variables;
            }
            Ok(stage)
        })
        .await;
        let (stage, before) = saved.map_err(|error| {
            let said = match error.status() {
                StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => "was changed by another writer",
                _ => "could not be updated",
            };
            AdminError::Conflict(format!(
                "deployment {id} was created, but stage {stage_name} {said}; it still serves its previous deployment. Point it with PUT /apis/{api_id}/stages/{stage_name}"
            ))
        })?;
        warnings.extend(stages::variable_warnings(store, &stage).await?);
        response["stage"] = stages::stage_json(&stage);
        changes.push(Change::new(
            "PutStage",
            format!("/apis/{api_id}/stages/{stage_name}"),
            before,
            Some(stage.version),
        ));
    }
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    Ok(Reply {
        response: wire::json_response(StatusCode::CREATED, &response),
        changes,
    })
}

pub async fn list(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    apis::load(store, api_id).await?;
    let listing = store.list_deployments(api_id, &page).await?;
    let items = listing
        .items
        .iter()
        .map(|d| (d.id.clone(), summary_json(d)))
        .collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::bounded_listing(items, listing.next),
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
            .routes()
            .iter()
            .map(|r| r.key())
            .collect::<Vec<_>>()
    );
    Ok(wire::json_response(StatusCode::OK, &body))
}
