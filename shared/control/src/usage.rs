//! `/usageplans/{planId}/usage` and `/usageplans/{planId}/keys/{keyId}`: what the front
//! counted, read from the counters table. The report has API Gateway's `GetUsage` shape:
//! per key, one `[used, remaining]` pair per day of the range, where `remaining` is what the
//! quota had left in the period holding that day (`null` without a quota).
//!
//! Counts are what the front charged: requests it admitted, plus any a busy instance had
//! charged in advance and not yet served (at most a hundredth of what the quota had left).

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use http::{Response, StatusCode};
use portico_model::ports::{ConfigStore, RecordKind, UsageReader};
use portico_model::problem::{Problem, Problems};
use portico_model::records::{PlanKey, QuotaPeriod, UsagePlan};
use portico_model::usage::{allowance, midnight, period, usage_counter};
use serde_json::{Value, json};

use crate::{AdminError, AdminRequest, keys, plans, records, wire};

/// The longest range one report covers (API Gateway's limit).
pub const MAX_DAYS: i64 = 90;

fn unavailable() -> AdminError {
    AdminError::Unavailable("usage reports need the counters table".to_owned())
}

fn created(plan: &UsagePlan) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&plan.created_date)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `startDate` and `endDate` (`yyyy-mm-dd`, inclusive, at most [`MAX_DAYS`] apart) and an
/// optional `keyId`.
fn range(query: &str) -> Result<(NaiveDate, NaiveDate, Option<String>), AdminError> {
    let mut problems = Problems::default();
    let (mut start, mut end, mut key) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let date = || NaiveDate::parse_from_str(value, "%Y-%m-%d").ok();
        match name {
            "startDate" => {
                start = date();
                if start.is_none() {
                    problems.push(Problem::new("/query/startDate", "a date as yyyy-mm-dd"));
                }
            }
            "endDate" => {
                end = date();
                if end.is_none() {
                    problems.push(Problem::new("/query/endDate", "a date as yyyy-mm-dd"));
                }
            }
            "keyId" => key = Some(value.to_owned()),
            _ => {}
        }
    }
    if start.is_none() && problems.is_empty() {
        problems.push(Problem::new("/query/startDate", "startDate is required"));
    }
    if end.is_none() && problems.is_empty() {
        problems.push(Problem::new("/query/endDate", "endDate is required"));
    }
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            problems.push(Problem::new(
                "/query/endDate",
                "endDate is on or after startDate",
            ));
        } else if (e - s).num_days() >= MAX_DAYS {
            problems.push(Problem::new(
                "/query/endDate",
                format!("a report covers at most {MAX_DAYS} days"),
            ));
        }
    }
    problems.into_result().map_err(AdminError::invalid)?;
    match (start, end) {
        (Some(s), Some(e)) => Ok((s, e, key)),
        _ => Err(AdminError::Internal("dates checked above".to_owned())),
    }
}

/// One key's `[used, remaining]` per day from `start` to `end`.
async fn key_days(
    reader: &dyn UsageReader,
    plan: &UsagePlan,
    key_id: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<Value>, AdminError> {
    let counter = usage_counter(&plan.id, key_id);
    let days: BTreeMap<String, u64> = reader
        .usage(
            &counter,
            &format!("D#{}", start.format("%Y-%m-%d")),
            &format!("D#{}", end.format("%Y-%m-%d")),
        )
        .await?
        .into_iter()
        .collect();
    let mut periods: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    let mut day = start;
    while day <= end {
        let label = format!("D#{}", day.format("%Y-%m-%d"));
        let used = days.get(&label).copied().unwrap_or_default();
        let remaining = match &plan.quota {
            None => Value::Null,
            Some(quota) => {
                let current = period(quota.period, midnight(day));
                let period_used = match quota.period {
                    QuotaPeriod::Day => used,
                    _ => match periods.get(&current.label) {
                        Some(used) => *used,
                        None => {
                            let used = reader
                                .usage(&counter, &current.label, &current.label)
                                .await?
                                .first()
                                .map(|(_, used)| *used)
                                .unwrap_or_default();
                            periods.insert(current.label.clone(), used);
                            used
                        }
                    },
                };
                json!(allowance(quota, &current, created(plan)).saturating_sub(period_used))
            }
        };
        out.push(json!([used, remaining]));
        day += Duration::days(1);
    }
    Ok(out)
}

/// `GET /usageplans/{planId}/usage?startDate=&endDate=[&keyId=]`.
pub async fn report(
    store: &dyn ConfigStore,
    reader: Option<&dyn UsageReader>,
    request: &AdminRequest,
    plan_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let (start, end, only) = range(&request.query)?;
    let plan = plans::load(store, plan_id).await?;
    let reader = reader.ok_or_else(unavailable)?;
    let key_ids: Vec<String> = match only {
        Some(key_id) => vec![key_id],
        None => records::list_all::<PlanKey>(store, RecordKind::PlanKey, &format!("{plan_id}#"))
            .await?
            .into_iter()
            .map(|m| m.key_id)
            .collect(),
    };
    let mut items = serde_json::Map::new();
    for key_id in key_ids {
        let days = key_days(reader, &plan, &key_id, start, end).await?;
        items.insert(key_id, Value::Array(days));
    }
    Ok(wire::json_response(
        StatusCode::OK,
        &json!({
            "usagePlanId": plan.id,
            "startDate": start.format("%Y-%m-%d").to_string(),
            "endDate": end.format("%Y-%m-%d").to_string(),
            "items": items,
        }),
    ))
}

/// `GET /usageplans/{planId}/keys/{keyId}`: the membership, and the key's quota now.
pub async fn plan_key(
    store: &dyn ConfigStore,
    reader: Option<&dyn UsageReader>,
    plan_id: &str,
    key_id: &str,
) -> Result<Response<Bytes>, AdminError> {
    let plan = plans::load(store, plan_id).await?;
    let key = keys::load(store, key_id).await?;
    let member: Option<PlanKey> =
        records::load(store, RecordKind::PlanKey, &format!("{plan_id}#{key_id}")).await?;
    if member.is_none() {
        return Err(AdminError::NotFound(format!(
            "API key {key_id} is not in usage plan {plan_id}"
        )));
    }
    let mut body = keys::key_json(&key);
    if let Some(quota) = &plan.quota {
        let reader = reader.ok_or_else(unavailable)?;
        let now = Utc::now();
        let current = period(quota.period, now);
        let used = reader
            .usage(
                &usage_counter(plan_id, key_id),
                &current.label,
                &current.label,
            )
            .await?
            .first()
            .map(|(_, used)| *used)
            .unwrap_or_default();
        let allowed = allowance(quota, &current, created(&plan));
        body["quota"] = json!({
            "limit": allowed,
            "period": quota.period,
            "used": used,
            "remaining": allowed.saturating_sub(used),
            "resetsAt": current.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
    }
    Ok(wire::json_response(StatusCode::OK, &body))
}
