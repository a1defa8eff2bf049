//! The counters ports over DynamoDB: token leases and usage charges, each a conditional
//! `UpdateItem` whose returned values carry what the front decides next.
//!
//! Counters table layout (pk, sk):
//! - `{bucket}`, `s{shard}`: a token bucket shard; `tat` (N, nanoseconds since the epoch) is
//!   its GCRA theoretical arrival time.
//! - `u#{planId}#{keyId}`, `D#{yyyy-mm-dd}` / `W#{monday}` / `M#{yyyy-mm}`: requests charged
//!   to a key in a usage plan, per day (usage reports, DAY quotas), week or month.
//!
//! Every item carries `expiresAt` (epoch seconds, the table's TTL attribute). Readers treat
//! items past it as absent, because DynamoDB deletes them lazily (and dynalite never does).
//!
//! A failed condition is answered from `ReturnValuesOnConditionCheckFailure` where the server
//! sends the item (DynamoDB does; dynalite does not), else from one consistent read. Neither
//! happens while the caller's view of a bucket is right, which is the steady state of a hot
//! key: one `UpdateItem` per lease, no read.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use portico_model::ports::{Charge, Charged, Counters, StoreError, Take, Taken, UsageReader};

use crate::errors::store_error;
use crate::items::{Item, get_consistent, key};

/// How long a bucket item outlives the last slot it handed out. After that the bucket is
/// full again whatever the item says, so expiry loses nothing.
const BUCKET_TTL_SECS: u64 = 3_600;

#[derive(Debug, Clone)]
pub struct DynamoCounters {
    client: Client,
    table: String,
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// An item whose TTL has passed is absent, as DynamoDB would have it once it gets round to it.
fn live(item: Item) -> Option<Item> {
    match number(&item, "expiresAt") {
        Some(expires) if expires < now_secs() => None,
        _ => Some(item),
    }
}

/// What a conditional update came back with.
enum Update {
    Done(Item),
    /// The condition failed; the item as it stood, when the server said.
    Failed(Option<Item>),
}

fn update_result(
    result: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        SdkError<UpdateItemError, aws_smithy_runtime_api::http::Response>,
    >,
) -> Result<Update, StoreError> {
    match result {
        Ok(output) => Ok(Update::Done(output.attributes.unwrap_or_default())),
        Err(SdkError::ServiceError(service)) => match service.err() {
            UpdateItemError::ConditionalCheckFailedException(failed) => {
                Ok(Update::Failed(failed.item().cloned()))
            }
            _ => Err(store_error(SdkError::ServiceError(service))),
        },
        Err(other) => Err(store_error(other)),
    }
}

impl DynamoCounters {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoCounters {
            client,
            table: table.into(),
        }
    }

    async fn read(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        Ok(get_consistent(&self.client, &self.table, pk, sk)
            .await?
            .and_then(live))
    }

    /// The bucket restarts at `now`: allowed only while it is idle (its `tat` has passed).
    async fn take_idle(&self, take: &Take<'_>, sk: &str) -> Result<Update, StoreError> {
        let tat = take.now_ns + u64::from(take.count) * take.interval_ns;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(take.bucket, sk)))
            .update_expression("SET tat = :tat, expiresAt = :exp")
            .condition_expression("attribute_not_exists(tat) OR tat < :now")
            .expression_attribute_values(":tat", n(tat))
            .expression_attribute_values(":now", n(take.now_ns))
            .expression_attribute_values(":exp", n(tat / 1_000_000_000 + BUCKET_TTL_SECS))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        update_result(result)
    }

    /// The bucket is busy (`tat` at or after `now`): the take extends it, if the last slot
    /// stays within the burst.
    async fn take_busy(&self, take: &Take<'_>, sk: &str) -> Result<Update, StoreError> {
        let horizon = take.now_ns + u64::from(take.burst) * take.interval_ns;
        let latest_start = take.now_ns + u64::from(take.burst - take.count) * take.interval_ns;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(take.bucket, sk)))
            .update_expression("SET tat = tat + :add, expiresAt = :exp")
            .condition_expression("tat BETWEEN :now AND :latest")
            .expression_attribute_values(":add", n(u64::from(take.count) * take.interval_ns))
            .expression_attribute_values(":now", n(take.now_ns))
            .expression_attribute_values(":latest", n(latest_start))
            .expression_attribute_values(":exp", n(horizon / 1_000_000_000 + BUCKET_TTL_SECS))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        update_result(result)
    }
}

#[async_trait]
impl Counters for DynamoCounters {
    async fn take(&self, take: &Take<'_>) -> Result<Taken, StoreError> {
        if take.count == 0 || take.count > take.burst || take.interval_ns == 0 {
            return Err(StoreError::Misconfigured(format!(
                "a take of {} from a bucket of {}",
                take.count, take.burst
            )));
        }
        let sk = format!("s{}", take.shard);
        let granted = |item: &Item| {
            number(item, "tat")
                .map(|tat_ns| Taken::Granted { tat_ns })
                .ok_or_else(|| StoreError::Corrupt(format!("{}/{sk}: no tat", take.bucket)))
        };
        // The two conditions exclude each other, so at most one of the two updates applies;
        // the hint only saves the first round trip when the caller guessed right.
        let first = if take.idle_hint {
            self.take_idle(take, &sk).await?
        } else {
            self.take_busy(take, &sk).await?
        };
        let seen = match first {
            Update::Done(item) => return granted(&item),
            Update::Failed(seen) => seen,
        };
        // Why it failed: from the server's answer, else from one consistent read (cheaper
        // than trying the other update blind).
        let tat = match seen.as_ref().and_then(|item| number(item, "tat")) {
            Some(tat) => Some(tat),
            None => self
                .read(take.bucket, &sk)
                .await?
                .and_then(|item| number(&item, "tat")),
        };
        let latest_start = take.now_ns + u64::from(take.burst - take.count) * take.interval_ns;
        let other_applies = match tat {
            None => !take.idle_hint, // no item: only the idle update can create it
            Some(tat) if take.idle_hint => (take.now_ns..=latest_start).contains(&tat),
            Some(tat) => tat < take.now_ns,
        };
        if !other_applies {
            return Ok(Taken::Short {
                tat_ns: tat.unwrap_or_default(),
            });
        }
        let second = if take.idle_hint {
            self.take_busy(take, &sk).await?
        } else {
            self.take_idle(take, &sk).await?
        };
        match second {
            Update::Done(item) => granted(&item),
            // Another instance moved the bucket in between: report what this one saw.
            Update::Failed(seen) => Ok(Taken::Short {
                tat_ns: seen
                    .as_ref()
                    .and_then(|item| number(item, "tat"))
                    .or(tat)
                    .unwrap_or_default(),
            }),
        }
    }

    async fn charge(&self, charge: &Charge<'_>) -> Result<Charged, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(charge.counter, charge.period)))
            .update_expression("SET expiresAt = :exp ADD used :count")
            .expression_attribute_values(":count", n(charge.count))
            .expression_attribute_values(":exp", n(charge.expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(limit) = charge.limit {
            let Some(most_before) = limit.checked_sub(charge.count) else {
                let used = self.used(charge).await?;
                return Ok(Charged::Exhausted { used });
            };
            request = request
                .condition_expression("attribute_not_exists(used) OR used <= :most")
                .expression_attribute_values(":most", n(most_before));
        }
        match update_result(request.send().await)? {
            Update::Done(item) => number(&item, "used")
                .map(|used| Charged::Charged { used })
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("{}/{}: no used", charge.counter, charge.period))
                }),
            Update::Failed(Some(item)) => Ok(Charged::Exhausted {
                used: number(&item, "used").unwrap_or_default(),
            }),
            Update::Failed(None) => Ok(Charged::Exhausted {
                used: self.used(charge).await?,
            }),
        }
    }
}

impl DynamoCounters {
    async fn used(&self, charge: &Charge<'_>) -> Result<u64, StoreError> {
        Ok(self
            .read(charge.counter, charge.period)
            .await?
            .and_then(|item| number(&item, "used"))
            .unwrap_or_default())
    }
}

#[async_trait]
impl UsageReader for DynamoCounters {
    async fn usage(
        &self,
        counter: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut periods = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", AttributeValue::S(counter.to_owned()))
                .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
                .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            for item in output
                .items
                .unwrap_or_default()
                .into_iter()
                .filter_map(live)
            {
                if let (Some(AttributeValue::S(period)), Some(used)) =
                    (item.get("sk"), number(&item, "used"))
                {
                    periods.push((period.clone(), used));
                }
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(periods),
            }
        }
    }
}
