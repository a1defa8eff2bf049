//! `/usageplans[/{planId}[/keys[/{keyId}]]]`: usage plans and their keys. A key belongs to at
//! most one plan per API stage, as in API Gateway: an association that would break this is
//! refused. Metering against the plans is the front's (throttling and quotas).

use bytes::Bytes;
use http::{Response, StatusCode};
use portico_model::ports::{ConfigStore, RecordKind};
use portico_model::problem::{Problem, Problems, escape_pointer};
use portico_model::records::{PlanKey, PlanStage, Quota, Throttle, UsagePlan, now_rfc3339};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::wire::{self, parse_body, versioned_response};
use crate::{AdminError, AdminRequest, Change, Reply, apis, keys, records};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlanBody {
    name: String,
    description: Option<String>,
    #[serde(default)]
    api_stages: Vec<PlanStage>,
    throttle: Option<Throttle>,
    quota: Option<Quota>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddKey {
    key_id: String,
}

fn plan_json(plan: &UsagePlan) -> Value {
    serde_json::to_value(plan).unwrap_or(Value::Null)
}

async fn checked(store: &dyn ConfigStore, body: &PlanBody) -> Result<(), AdminError> {
    let mut problems = Problems::default();
    if body.name.trim().is_empty() || body.name.chars().count() > 128 {
        problems.push(Problem::new("/name", "name is 1-128 characters"));
    }
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1024)
    {
        problems.push(Problem::new(
            "/description",
            "description is at most 1024 characters",
        ));
    }
    if body.api_stages.len() > 100 {
        problems.push(Problem::new(
            "/apiStages",
            "a plan covers at most 100 API stages",
        ));
    }
    if let Some(throttle) = &body.throttle {
        problems.extend(throttle.problems("/throttle"));
    }
    if let Some(quota) = &body.quota
        && quota.offset >= quota.limit.max(1)
    {
        problems.push(Problem::new(
            "/quota/offset",
            "offset must be below the limit",
        ));
    }
    for (i, stage) in body.api_stages.iter().enumerate() {
        let at = format!("/apiStages/{i}");
        if body.api_stages[..i]
            .iter()
            .any(|s| s.api_id == stage.api_id && s.stage == stage.stage)
        {
            problems.push(Problem::new(at.clone(), "this API stage is listed twice"));
        }
        if stage.throttle.len() > portico_model::definition::MAX_ROUTES {
            problems.push(Problem::new(
                format!("{at}/throttle"),
                "at most one throttle per route",
            ));
        }
        for (route, throttle) in &stage.throttle {
            problems.extend(throttle.problems(&format!("{at}/throttle/{}", escape_pointer(route))));
        }
        let exists = apis::id_ok(&stage.api_id)
            && portico_model::records::stage_name_ok(&stage.stage)
            && store.stage(&stage.api_id, &stage.stage).await?.is_some();
        if !exists {
            problems.push(Problem::new(
                format!("{at}/stage"),
                format!("API {} has no stage {:?}", stage.api_id, stage.stage),
            ));
        }
    }
    problems.into_result().map_err(AdminError::invalid)
}

pub(crate) async fn load(store: &dyn ConfigStore, plan_id: &str) -> Result<UsagePlan, AdminError> {
    let not_found = || AdminError::NotFound(format!("usage plan {plan_id} not found"));
    if !apis::id_ok(plan_id) {
        return Err(not_found());
    }
    records::load(store, RecordKind::UsagePlan, plan_id)
        .await?
        .ok_or_else(not_found)
}

/// Another plan of `key_id` that covers one of `stages`, if any: the key may not join.
async fn conflicting_plan(
    store: &dyn ConfigStore,
    key_id: &str,
    plan_id: &str,
    stages: &[PlanStage],
) -> Result<Option<String>, AdminError> {
    for membership in
        records::list_all::<PlanKey>(store, RecordKind::KeyPlan, &format!("{key_id}#")).await?
    {
        if membership.plan_id == plan_id {
            continue;
        }
        let Some(other) =
            records::load::<UsagePlan>(store, RecordKind::UsagePlan, &membership.plan_id).await?
        else {
            continue;
        };
        if let Some(shared) = other.api_stages.iter().find(|s| {
            stages
                .iter()
                .any(|t| t.api_id == s.api_id && t.stage == s.stage)
        }) {
            return Ok(Some(format!(
                "API key {key_id} is already in usage plan {} for stage {}/{}; a key belongs to one plan per stage",
                other.id, shared.api_id, shared.stage
            )));
        }
    }
    Ok(None)
}

pub async fn create(store: &dyn ConfigStore, request: &AdminRequest) -> Result<Reply, AdminError> {
    let body: PlanBody = parse_body(&request.body)?;
    checked(store, &body).await?;
    let now = now_rfc3339();
    let plan = UsagePlan {
        id: crate::next_id().to_ascii_lowercase(),
        name: body.name,
        description: body.description,
        api_stages: body.api_stages,
        throttle: body.throttle,
        quota: body.quota,
        version: 1,
        created_date: now.clone(),
        last_updated_date: now,
    };
    records::save(store, RecordKind::UsagePlan, &plan.id, 1, &plan).await?;
    Ok(Reply::changed(
        versioned_response(StatusCode::CREATED, &plan_json(&plan), 1),
        Change::new(
            "CreateUsagePlan",
            format!("/usageplans/{}", plan.id),
            0,
            Some(1),
        ),
    ))
}

pub async fn update(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    plan_id: &str,
) -> Result<Reply, AdminError> {
    let body: PlanBody = parse_body(&request.body)?;
    checked(store, &body).await?;
    let expected = wire::if_match(&request.headers)?;
    let current = load(store, plan_id).await?;
    wire::require_version(expected, current.version)?;
    for member in
        records::list_all::<PlanKey>(store, RecordKind::PlanKey, &format!("{plan_id}#")).await?
    {
        if let Some(conflict) =
            conflicting_plan(store, &member.key_id, plan_id, &body.api_stages).await?
        {
            return Err(AdminError::Conflict(conflict));
        }
    }
    let plan = UsagePlan {
        name: body.name,
        description: body.description,
        api_stages: body.api_stages,
        throttle: body.throttle,
        quota: body.quota,
        version: current.version + 1,
        last_updated_date: now_rfc3339(),
        ..current
    };
    records::save(store, RecordKind::UsagePlan, plan_id, plan.version, &plan).await?;
    Ok(Reply::changed(
        versioned_response(StatusCode::OK, &plan_json(&plan), plan.version),
        Change::new(
            "UpdateUsagePlan",
            format!("/usageplans/{plan_id}"),
            plan.version - 1,
            Some(plan.version),
        ),
    ))
}

pub async fn get(store: &dyn ConfigStore, plan_id: &str) -> Result<Response<Bytes>, AdminError> {
    let plan = load(store, plan_id).await?;
    Ok(versioned_response(
        StatusCode::OK,
        &plan_json(&plan),
        plan.version,
    ))
}

pub async fn list(
    store: &dyn ConfigStore,
    request: &AdminRequest,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    let listing = records::list::<UsagePlan>(store, RecordKind::UsagePlan, "", &page).await?;
    let items = listing
        .items
        .iter()
        .map(|p| (p.id.clone(), plan_json(p)))
        .collect();
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::bounded_listing(items, listing.next),
    ))
}

pub async fn delete(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    plan_id: &str,
) -> Result<Reply, AdminError> {
    let expected = wire::if_match(&request.headers)?;
    let plan = load(store, plan_id).await?;
    wire::require_version(expected, plan.version)?;
    for member in
        records::list_all::<PlanKey>(store, RecordKind::PlanKey, &format!("{plan_id}#")).await?
    {
        remove_membership(store, plan_id, &member.key_id).await?;
    }
    records::delete(store, RecordKind::UsagePlan, plan_id, plan.version).await?;
    Ok(Reply::changed(
        wire::json_response(StatusCode::OK, &plan_json(&plan)),
        Change::new(
            "DeleteUsagePlan",
            format!("/usageplans/{plan_id}"),
            plan.version,
            None,
        ),
    ))
}

pub async fn add_key(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    plan_id: &str,
) -> Result<Reply, AdminError> {
    let body: AddKey = parse_body(&request.body)?;
    let plan = load(store, plan_id).await?;
    let key = keys::load(store, &body.key_id).await.map_err(|_| {
        AdminError::invalid(Problem::new("/keyId", format!("no API key {:?}", body.key_id)).into())
    })?;
    let membership = add_membership(store, &plan, &key.id).await?;
    Ok(Reply::changed(
        wire::json_response(StatusCode::CREATED, &json!(membership)),
        Change::new(
            "AddPlanKey",
            format!("/usageplans/{plan_id}/keys/{}", key.id),
            0,
            Some(1),
        ),
    ))
}

/// Puts a key in a plan, unless that would put it in two plans for one API stage.
pub(crate) async fn add_membership(
    store: &dyn ConfigStore,
    plan: &UsagePlan,
    key_id: &str,
) -> Result<PlanKey, AdminError> {
    let plan_id = plan.id.as_str();
    if let Some(conflict) = conflicting_plan(store, key_id, plan_id, &plan.api_stages).await? {
        return Err(AdminError::Conflict(conflict));
    }
    let membership = PlanKey {
        plan_id: plan_id.to_owned(),
        key_id: key_id.to_owned(),
        created_date: now_rfc3339(),
    };
    records::save(
        store,
        RecordKind::KeyPlan,
        &format!("{key_id}#{plan_id}"),
        1,
        &membership,
    )
    .await?;
    records::save(
        store,
        RecordKind::PlanKey,
        &format!("{plan_id}#{key_id}"),
        1,
        &membership,
    )
    .await
    .map_err(|e| match e {
        AdminError::Conflict(_) => {
            AdminError::Conflict(format!("API key {key_id} is already in this plan"))
        }
        other => other,
    })?;
    Ok(membership)
}

/// Removes a key from a plan: both index records; already-gone halves are fine.
pub(crate) async fn remove_membership(
    store: &dyn ConfigStore,
    plan_id: &str,
    key_id: &str,
) -> Result<(), AdminError> {
    records::delete(
        store,
        RecordKind::PlanKey,
        &format!("{plan_id}#{key_id}"),
        1,
    )
    .await?;
    records::delete(
        store,
        RecordKind::KeyPlan,
        &format!("{key_id}#{plan_id}"),
        1,
    )
    .await
}

pub async fn remove_key(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    plan_id: &str,
    key_id: &str,
) -> Result<Reply, AdminError> {
    load(store, plan_id).await?;
    let id = format!("{plan_id}#{key_id}");
    if !apis::id_ok(key_id) || store.record(RecordKind::PlanKey, &id).await?.is_none() {
        return Err(AdminError::NotFound(format!(
            "API key {key_id} is not in usage plan {plan_id}"
        )));
    }
    remove_membership(store, plan_id, key_id).await?;
    tracing::info!(plan_id, key_id, caller = %request.caller, "key removed from plan");
    Ok(Reply::changed(
        wire::json_response(StatusCode::OK, &json!({"planId": plan_id, "keyId": key_id})),
        Change::new(
            "RemovePlanKey",
            format!("/usageplans/{plan_id}/keys/{key_id}"),
            1,
            None,
        ),
    ))
}

pub async fn list_keys(
    store: &dyn ConfigStore,
    request: &AdminRequest,
    plan_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let page = wire::page(&request.query)?;
    load(store, plan_id).await?;
    let members =
        records::list::<PlanKey>(store, RecordKind::PlanKey, &format!("{plan_id}#"), &page).await?;
    let mut items = Vec::with_capacity(members.items.len());
    for member in &members.items {
        let item = match keys::load(store, &member.key_id).await {
            Ok(key) => keys::key_json(&key),
            Err(_) => json!({"id": member.key_id}),
        };
        items.push((member.key_id.clone(), item));
    }
    Ok(wire::json_response(
        StatusCode::OK,
        &wire::bounded_listing(items, members.next),
    ))
}
