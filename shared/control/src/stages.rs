//! `/apis/{apiId}/stages[/{stageName}[/promote|/rollback]]`: stages point at deployments.
//! Moving the pointer is the only write that changes what clients are served; every move goes
//! through [`save_stage`], one conditional write on the version read.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::ports::{ConfigStore, StoreError};
use portico_model::problem::{Problem, Problems, escape_pointer};
use portico_model::records::{
    CacheSettings, Canary, LimitsFailureMode, MAX_STAGE_VARIABLE_VALUE, MAX_STAGE_VARIABLES,
    MethodSetting, Stage, StageSettings, Throttle, now_rfc3339, stage_name_ok,
};
use portico_model::target::stage_variable_name_ok;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::wire::{self, parse_body, versioned_response};
use crate::{AdminError, AdminRequest, Change, Reply, apis};

/// `Some(None)` for an explicit `null` (clear the setting), `None` when absent (keep it).
fn patch<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutStage {
    /// Required when the stage is created.
    deployment_id: Option<String>,
    description: Option<String>,
    variables: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "patch")]
    throttle: Option<Option<Throttle>>,
    method_settings: Option<BTreeMap<String, MethodSetting>>,
    #[serde(default, deserialize_with = "patch")]
    cache: Option<Option<CacheSettings>>,
    #[serde(default, deserialize_with = "patch")]
    canary: Option<Option<Canary>>,
    limits_failure_mode: Option<LimitsFailureMode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rollback {
    deployment_id: Option<String>,
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

/// Refuses a deployment id the API does not have, naming where it was given.
pub(crate) async fn require_deployment(
    store: &dyn ConfigStore,
    api_id: &str,
    deployment_id: &str,
    pointer: &str,
) -> Result<portico_model::records::Deployment, AdminError> {
    let found = if apis::id_ok(deployment_id) {
        store.deployment(api_id, deployment_id).await?
    } else {
        None
    };
    found.ok_or_else(|| {
        AdminError::invalid(
            Problem::new(
                pointer,
                format!("API {api_id} has no deployment {deployment_id:?}"),
            )
            .into(),
        )
    })
}

/// Stage variables the stage's deployments use but the stage does not define: those routes
/// would answer 500, so the operator hears of it now.
pub(crate) async fn variable_warnings(
    store: &dyn ConfigStore,
    stage: &Stage,
) -> Result<Problems, AdminError> {
    let mut warnings = Problems::default();
    let mut sides = vec![(
        stage.deployment_id.clone(),
        stage.variables.clone(),
        "/variables",
    )];
    if let Some(canary) = &stage.settings.canary {
        let mut variables = stage.variables.clone();
        variables.extend(canary.stage_variable_overrides.clone());
        sides.push((
            canary.deployment_id.clone(),
            variables,
            "/canary/stageVariableOverrides",
        ));
    }
    for (deployment_id, variables, pointer) in sides {
        let Some(deployment) = store.deployment(&stage.api_id, &deployment_id).await? else {
            continue;
        };
        for name in deployment.snapshot.stage_variables_used() {
            if !variables.contains_key(&name) {
                warnings.push(Problem::new(
                    pointer,
                    format!(
                        "deployment {deployment_id} uses stage variable {name:?}, which this stage does not define; its routes would answer 500"
                    ),
                ));
            }
        }
    }
    Ok(warnings)
}

/// The stage, or 404 (names outside the alphabet cannot exist and are not looked up).
async fn load(
    store: &dyn ConfigStore,
    api_id: &str,
    stage_name: &str,
) -> Result<Stage, AdminError> {
    let not_found = || AdminError::NotFound(format!("API {api_id} has no stage {stage_name}"));
    if !apis::id_ok(api_id) || !stage_name_ok(stage_name) {
        return Err(not_found());
    }
    store.stage(api_id, stage_name).await?.ok_or_else(not_found)
}

pub(crate) fn stage_json(stage: &Stage) -> Value {
    serde_json::to_value(stage).unwrap_or(Value::Null)
}

fn with_warnings(mut body: Value, warnings: &Problems) -> Value {
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    body
}

/// Reads the stage, checks `If-Match`, lets `build` make the new stage from the current one
/// (`None` when it does not exist yet), and writes it conditionally on the version read.
/// Returns the stage written and the version it replaced (0: created).
pub(crate) async fn save_stage(
    store: &dyn ConfigStore,
    api_id: &str,
    stage_name: &str,
    expected: Option<u64>,
    build: impl FnOnce(Option<Stage>) -> Result<Stage, AdminError>,
) -> Result<(Stage, u64), AdminError> {
    let current = store.stage(api_id, stage_name).await?;
    let before = current.as_ref().map_or(0, |s| s.version);
    wire::require_version(expected, before)?;
    let created_date = current.as_ref().map(|s| s.created_date.clone());
    let mut stage = build(current)?;
    let now = now_rfc3339();
    stage.api_id = api_id.to_owned();
    stage.stage_name = stage_name.to_owned();
    stage.version = before + 1;
    stage.created_date = created_date.unwrap_or_else(|| now.clone());
    stage.last_updated_date = now;
    match store.put_stage(&stage).await {
        Ok(()) => Ok((stage, before)),
        Err(StoreError::ConditionFailed) if expected.is_some() => {
            let current = store.stage(api_id, stage_name).await?;
            Err(AdminError::PreconditionFailed {
                current: current.map_or(0, |s| s.version),
            })
        }
        Err(other) => Err(other.into()),
    }
}

/// A new stage pointing at `deployment_id`, for `save_stage` to fill in.
pub(crate) fn new_stage(deployment_id: String) -> Stage {
    Stage {
        api_id: String::new(),
        stage_name: String::new(),
        deployment_id,
        description: None,
        variables: BTreeMap::new(),
        settings: StageSettings::default(),
        previous_deployment_id: None,
        version: 0,
        created_date: String::new(),
        last_updated_date: String::new(),
    }
}

/// Moves `stage` to `deployment_id`, remembering where it was for a rollback.
pub(crate) fn move_to(stage: &mut Stage, deployment_id: String) {
    if stage.deployment_id != deployment_id {
        stage.previous_deployment_id =
            Some(std::mem::replace(&mut stage.deployment_id, deployment_id));
    }
}

/// The answer to a stage write: the stage with its variable warnings, logged and audited.
async fn written(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    stage: &Stage,
    before: u64,
    action: &'static str,
    what: &str,
) -> Result<Reply, AdminError> {
    let warnings = variable_warnings(store, stage).await?;
    tracing::info!(api_id = %stage.api_id, stage_name = %stage.stage_name, deployment_id = %stage.deployment_id, caller = %request.caller, "{what}");
    Ok(stage_reply(stage, before, &warnings, action))
}

fn stage_reply(stage: &Stage, before: u64, warnings: &Problems, action: &'static str) -> Reply {
    let status = if before == 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Reply::changed(
        versioned_response(
            status,
            &with_warnings(stage_json(stage), warnings),
            stage.version,
        ),
        Change::new(
            action,
            format!("/apis/{}/stages/{}", stage.api_id, stage.stage_name),
            before,
            Some(stage.version),
        ),
    )
}

pub async fn put(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
    stage_name: &str,
) -> Result<Reply, AdminError> {
    let body: PutStage = parse_body(&request.body)?;
    let mut problems = Problems::default();
    if !stage_name_ok(stage_name) {
        problems.push(Problem::new(
            "/path/stageName",
            "stage names are 1-128 letters, digits, '-' or '_'",
        ));
    }
    if let Some(variables) = &body.variables {
        problems.extend(check_variables("/variables", variables));
    }
    let patch_settings = StageSettings {
        throttle: body.throttle.flatten(),
        method_settings: body.method_settings.clone().unwrap_or_default(),
        cache: body.cache.clone().flatten(),
        canary: body.canary.clone().flatten(),
        limits_failure_mode: body.limits_failure_mode.unwrap_or_default(),
    };
    problems.extend(patch_settings.problems(""));
    problems.into_result().map_err(AdminError::invalid)?;
    let expected = wire::if_match(&request.headers)?;
    apis::load(store, api_id).await?;
    if let Some(id) = &body.deployment_id {
        require_deployment(store, api_id, id, "/deploymentId").await?;
    }
    if let Some(Some(canary)) = &body.canary {
        require_deployment(store, api_id, &canary.deployment_id, "/canary/deploymentId").await?;
    }

    let (stage, before) = save_stage(store, api_id, stage_name, expected, |current| {
        let mut stage = match (current, &body.deployment_id) {
            (Some(current), _) => current,
            (None, Some(id)) => new_stage(id.clone()),
            (None, None) => {
                return Err(AdminError::invalid(
                    Problem::new(
                        "/deploymentId",
                        "a new stage needs the deployment it serves",
                    )
                    .into(),
                ));
            }
        };
        if let Some(id) = body.deployment_id {
            move_to(&mut stage, id);
        }
        if let Some(description) = body.description {
            stage.description = Some(description);
        }
        if let Some(variables) = body.variables {
            stage.variables = variables;
        }
        if let Some(throttle) = body.throttle {
            stage.settings.throttle = throttle;
        }
        if let Some(method_settings) = body.method_settings {
            stage.settings.method_settings = method_settings;
        }
        if let Some(cache) = body.cache {
            stage.settings.cache = cache;
        }
        if let Some(canary) = body.canary {
            stage.settings.canary = canary;
        }
        if let Some(mode) = body.limits_failure_mode {
            stage.settings.limits_failure_mode = mode;
        }
        Ok(stage)
    })
    .await?;
    written(store, request, &stage, before, "PutStage", "stage written").await
}

/// Makes the canary's deployment the stage's, with the canary's variable overrides.
pub async fn promote(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
    stage_name: &str,
) -> Result<Reply, AdminError> {
    let expected = wire::if_match(&request.headers)?;
    let not_found = || AdminError::NotFound(format!("API {api_id} has no stage {stage_name}"));
    let (stage, before) = save_stage(store, api_id, stage_name, expected, |current| {
        let mut stage = current.ok_or_else(not_found)?;
        let canary = stage.settings.canary.take().ok_or_else(|| {
            AdminError::Conflict(format!("stage {stage_name} has no canary to promote"))
        })?;
        move_to(&mut stage, canary.deployment_id);
        stage.variables.extend(canary.stage_variable_overrides);
        Ok(stage)
    })
    .await?;
    written(
        store,
        request,
        &stage,
        before,
        "PromoteCanary",
        "canary promoted",
    )
    .await
}

/// Points the stage back at an earlier deployment (the one it served before, unless the body
/// names another) and drops any canary.
pub async fn rollback(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
    stage_name: &str,
) -> Result<Reply, AdminError> {
    let body: Rollback = if request.body.is_empty() {
        Rollback::default()
    } else {
        parse_body(&request.body)?
    };
    let expected = wire::if_match(&request.headers)?;
    if let Some(id) = &body.deployment_id {
        require_deployment(store, api_id, id, "/deploymentId").await?;
    }
    let not_found = || AdminError::NotFound(format!("API {api_id} has no stage {stage_name}"));
    let (stage, before) = save_stage(store, api_id, stage_name, expected, |current| {
        let mut stage = current.ok_or_else(not_found)?;
        let target = body
            .deployment_id
            .or_else(|| stage.previous_deployment_id.clone())
            .ok_or_else(|| {
                AdminError::Conflict(format!(
                    "stage {stage_name} has served no other deployment; name one with deploymentId"
                ))
            })?;
        move_to(&mut stage, target);
        stage.settings.canary = None;
        Ok(stage)
    })
    .await?;
    written(
        store,
        request,
        &stage,
        before,
        "RollbackStage",
        "stage rolled back",
    )
    .await
}

pub async fn delete(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
    stage_name: &str,
) -> Result<Reply, AdminError> {
    let expected = wire::if_match(&request.headers)?;
    let stage = load(store, api_id, stage_name).await?;
    wire::require_version(expected, stage.version)?;
    store
        .delete_stage(api_id, stage_name, stage.version)
        .await?;
    tracing::info!(api_id, stage_name, caller = %request.caller, "stage deleted");
    Ok(Reply::changed(
        wire::json_response(StatusCode::OK, &stage_json(&stage)),
        Change::new(
            "DeleteStage",
            format!("/apis/{api_id}/stages/{stage_name}"),
            stage.version,
            None,
        ),
    ))
}

pub async fn get(
    store: &dyn ConfigStore,
    api_id: &str,
    stage_name: &str,
) -> Result<Response<Bytes>, AdminError> {
    let stage = load(store, api_id, stage_name).await?;
    Ok(versioned_response(
        StatusCode::OK,
        &stage_json(&stage),
        stage.version,
    ))
}

pub async fn list(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    api_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    apis::load(store, api_id).await?;
    let listing = store.list_stage_page(api_id, &page).await?;
    let items = listing
        .items
        .iter()
        .map(|s| (s.stage_name.clone(), stage_json(s)))
        .collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::bounded_listing(items, listing.next),
    ))
}
