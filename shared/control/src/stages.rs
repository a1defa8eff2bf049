//! `/apis/{apiId}/stages[/{stageName}]`: stages point at deployments. Moving the pointer is
//! the only write that changes what clients are served, and it is conditional.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::ports::{ConfigStore, StoreError};
use portico_model::problem::{Problem, Problems, escape_pointer};
use portico_model::records::{
    MAX_STAGE_VARIABLE_VALUE, MAX_STAGE_VARIABLES, Stage, now_rfc3339, stage_name_ok,
};
use portico_model::target::stage_variable_name_ok;
use serde::Deserialize;
use serde_json::Value;

use crate::apis;
use crate::wire::{self, parse_body, versioned_response};
use crate::{AdminError, AdminRequest};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutStage {
    deployment_id: String,
    description: Option<String>,
    variables: Option<BTreeMap<String, String>>,
}

pub(crate) fn stage_json(stage: &Stage) -> Value {
    serde_json::to_value(stage).unwrap_or(Value::Null)
}

pub(crate) fn check_variables(at: &str, variables: &BTreeMap<String, String>) -> Problems {
    let mut problems = Problems::default();
    if variables.len() > MAX_STAGE_VARIABLES {
        problems.push(Problem::new(
            at,
            format!("a stage has at most {MAX_STAGE_VARIABLES} variables"),
        ));
    }
    for (name, value) in variables {
        let pointer = format!("{at}/{}", escape_pointer(name));
        if !stage_variable_name_ok(name) {
            problems.push(Problem::new(
                pointer.clone(),
                "stage variable names may only use letters, digits and '_'",
            ));
        }
        if value.chars().count() > MAX_STAGE_VARIABLE_VALUE {
            problems.push(Problem::new(
                pointer,
                format!("stage variable values are at most {MAX_STAGE_VARIABLE_VALUE} characters"),
            ));
        }
    }
    problems
}

/// What a stage write changes; `None` keeps the current value.
pub(crate) struct StageChange {
    pub deployment_id: String,
    pub description: Option<String>,
    pub variables: Option<BTreeMap<String, String>>,
}

/// Creates or moves a stage. `expected` is the version `If-Match` named, if any. Returns the
/// stage as written and whether it was created.
pub(crate) async fn write_stage(
    store: &dyn ConfigStore,
    api_id: &str,
    stage_name: &str,
    change: StageChange,
    expected: Option<u64>,
) -> Result<(Stage, bool), AdminError> {
    let current = store.stage(api_id, stage_name).await?;
    let current_version = current.as_ref().map_or(0, |s| s.version);
    if let Some(expected) = expected
        && expected != current_version
    {
        return Err(AdminError::PreconditionFailed {
            current: current_version,
        });
    }
    let now = now_rfc3339();
    let created = current.is_none();
    let stage = match current {
        Some(current) => Stage {
            deployment_id: change.deployment_id,
            description: change.description.or(current.description),
            variables: change.variables.unwrap_or(current.variables),
            version: current.version + 1,
            last_updated_date: now,
            ..current
        },
        None => Stage {
            api_id: api_id.to_owned(),
            stage_name: stage_name.to_owned(),
            deployment_id: change.deployment_id,
            description: change.description,
            variables: change.variables.unwrap_or_default(),
            version: 1,
            created_date: now.clone(),
            last_updated_date: now,
        },
    };
    match store.put_stage(&stage).await {
        Ok(()) => Ok((stage, created)),
        Err(StoreError::ConditionFailed) if expected.is_some() => {
            let current = store.stage(api_id, stage_name).await?;
            Err(AdminError::PreconditionFailed {
                current: current.map_or(0, |s| s.version),
            })
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn put(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
    stage_name: &str,
) -> Result<Response<Bytes>, AdminError> {
    let body: PutStage = parse_body(&request.body)?;
    let mut problems = Problems::default();
    if !stage_name_ok(stage_name) {
        problems.push(Problem::new(
            "/path/stageName",
            "stage names are 1-128 letters, digits, '-' or '_'",
        ));
    }
    if let Some(variables) = &body.variables {
        for problem in check_variables("/variables", variables).iter() {
            problems.push(problem.clone());
        }
    }
    problems.into_result().map_err(AdminError::invalid)?;
    let expected = wire::if_match(&request.headers)?;
    apis::load(store, api_id).await?;
    if !apis::id_ok(&body.deployment_id)
        || store
            .deployment(api_id, &body.deployment_id)
            .await?
            .is_none()
    {
        return Err(AdminError::invalid(
            Problem::new(
                "/deploymentId",
                format!("API {api_id} has no deployment {:?}", body.deployment_id),
            )
            .into(),
        ));
    }
    let change = StageChange {
        deployment_id: body.deployment_id,
        description: body.description,
        variables: body.variables,
    };
    let (stage, created) = write_stage(store, api_id, stage_name, change, expected).await?;
    tracing::info!(api_id, stage_name, deployment_id = %stage.deployment_id, caller = %request.caller, "stage written");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(versioned_response(
        status,
        &stage_json(&stage),
        stage.version,
    ))
}

pub async fn get(
    store: &dyn ConfigStore,
    api_id: &str,
    stage_name: &str,
) -> Result<Response<Bytes>, AdminError> {
    let not_found = || AdminError::NotFound(format!("API {api_id} has no stage {stage_name}"));
    if !apis::id_ok(api_id) || !stage_name_ok(stage_name) {
        return Err(not_found());
    }
    let stage = store
        .stage(api_id, stage_name)
        .await?
        .ok_or_else(not_found)?;
    Ok(versioned_response(
        StatusCode::OK,
        &stage_json(&stage),
        stage.version,
    ))
}

pub async fn list(store: &dyn ConfigStore, api_id: &str) -> Result<Response<Bytes>, AdminError> {
    apis::load(store, api_id).await?;
    let stages = store.list_stages(api_id).await?;
    let items = stages.iter().map(stage_json).collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::listing(items, None),
    ))
}
