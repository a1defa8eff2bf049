//! The config store ports over DynamoDB. Every write is conditional: creates on
//! `attribute_not_exists`, updates on the version the writer read.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use portico_model::ports::{
    ConfigReader, ConfigStore, KeyGrant, Listing, Page, Record, RecordKind, StoreError,
};
use portico_model::records::{
    ApiKey, ApiRecord, AuditEntry, Deployment, DeploymentSummary, DomainMapping, PlanKey, Stage,
    UsagePlan,
};
use portico_model::snapshot::MAX_ENCODED_SNAPSHOT;

use crate::errors::store_error;
use crate::items::{
    self, API_PREFIX, APIS_PK, AUDIT_PK, DEPLOYMENT_PREFIX, Item, STAGE_PREFIX, api_pk, key,
};

#[derive(Debug, Clone)]
pub struct DynamoConfigStore {
    client: Client,
    table: String,
}

impl DynamoConfigStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoConfigStore {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        items::get_consistent(&self.client, &self.table, pk, sk).await
    }

    /// One page of a partition's items whose sort key starts with `prefix`.
    async fn query(
        &self,
        pk: String,
        prefix: &str,
        page: &Page,
        newest_first: bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .scan_index_forward(!newest_first)
            .limit(page.limit.clamp(1, 500) as i32)
            .consistent_read(true);
        // DynamoDB refuses an empty attribute value, so no prefix means the whole partition.
        request = if prefix.is_empty() {
            request.key_condition_expression("pk = :pk")
        } else {
            request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
        };
        if let Some(after) = &page.after {
            request = request.set_exclusive_start_key(Some(key(pk, format!("{prefix}{after}"))));
        }
        let output = request.send().await.map_err(store_error)?;
        let next = output
            .last_evaluated_key
            .as_ref()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .and_then(|sk| sk.strip_prefix(prefix))
            .map(str::to_owned);
        Ok((output.items.unwrap_or_default(), next))
    }

    /// Writes `item` as `version`: version 1 creates (the item must not exist); version n
    /// replaces version n - 1 and nothing else.
    async fn put_versioned(&self, item: Item, version: u64) -> Result<(), StoreError> {
        match version {
            0 => Err(StoreError::ConditionFailed),
            1 => self.put(item, NOT_EXISTS, None).await,
            v => self.put(item, VERSION_IS, Some(v - 1)).await,
        }
    }

    /// Deletes the item at `pk`/`sk` if its `version` is `version`.
    async fn delete_at_version(
        &self,
        pk: String,
        sk: String,
        version: u64,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression(VERSION_IS)
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn put(
        &self,
        item: Item,
        condition: &str,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if let Some(version) = expected_version {
            request = request
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(version.to_string()));
        }
        request.send().await.map_err(store_error)?;
        Ok(())
    }
}

impl DynamoConfigStore {
    /// One record's document, typed.
    async fn read_one<T: serde::de::DeserializeOwned>(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(item) = self.get(items::record_pk(kind), id.to_owned()).await? else {
            return Ok(None);
        };
        let record = items::record_from_item(kind, &item)?;
        serde_json::from_value(record.body)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))
    }

    /// Every record of `kind` under `prefix`, typed: for the small sets the front reads
    /// whole (a domain's mappings, a key's plans). The page cap only bounds the work a
    /// corrupt table could cause.
    async fn read_all<T: serde::de::DeserializeOwned>(
        &self,
        kind: RecordKind,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        const MAX_PAGES: usize = 20;
        let mut page = Page {
            limit: 100,
            after: None,
        };
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let (found, next) = self
                .query(items::record_pk(kind), prefix, &page, false)
                .await?;
            for item in &found {
                let record = items::record_from_item(kind, item)?;
                let value = serde_json::from_value(record.body)
                    .map_err(|e| StoreError::Corrupt(format!("record {}: {e}", record.id)))?;
                out.push(value);
            }
            match next {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
        Ok(out)
    }
}

const NOT_EXISTS: &str = "attribute_not_exists(pk)";
const VERSION_IS: &str = "#v = :v";

#[async_trait]
impl ConfigReader for DynamoConfigStore {
    async fn stage(&self, api_id: &str, stage_name: &str) -> Result<Option<Stage>, StoreError> {
        self.get(api_pk(api_id), format!("{STAGE_PREFIX}{stage_name}"))
            .await?
            .map(|item| items::stage_from_item(api_id, &item))
            .transpose()
    }

    async fn deployment(
        &self,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<Option<Deployment>, StoreError> {
        self.get(
            api_pk(api_id),
            format!("{DEPLOYMENT_PREFIX}{deployment_id}"),
        )
        .await?
        .map(|item| items::deployment_from_item(api_id, &item))
        .transpose()
    }

    async fn domain_mappings(&self, domain: &str) -> Result<Vec<DomainMapping>, StoreError> {
        self.read_all(RecordKind::DomainMapping, &format!("{domain}/"))
            .await
    }

    async fn api_key(&self, value_hash: &str) -> Result<Option<KeyGrant>, StoreError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ByHash {
            key_id: String,
        }
        let Some(by_hash) = self
            .read_one::<ByHash>(RecordKind::ApiKeyHash, value_hash)
            .await?
        else {
            return Ok(None);
        };
        let Some(key) = self
            .read_one::<ApiKey>(RecordKind::ApiKey, &by_hash.key_id)
            .await?
        else {
            // The key is being created or deleted (its two records are written apart).
            return Ok(None);
        };
        let memberships: Vec<PlanKey> = self
            .read_all(RecordKind::KeyPlan, &format!("{}#", key.id))
            .await?;
        let mut plans = Vec::with_capacity(memberships.len());
        for membership in memberships {
            if let Some(plan) = self
                .read_one::<UsagePlan>(RecordKind::UsagePlan, &membership.plan_id)
                .await?
            {
                plans.push(plan);
            }
        }
        Ok(Some(KeyGrant { key, plans }))
    }
}

#[async_trait]
impl ConfigStore for DynamoConfigStore {
    async fn create_api(&self, api: &ApiRecord) -> Result<(), StoreError> {
        self.put(items::api_to_item(api), NOT_EXISTS, None).await
    }

    async fn update_api(&self, api: &ApiRecord) -> Result<(), StoreError> {
        let previous = api
            .version
            .checked_sub(1)
            .ok_or(StoreError::ConditionFailed)?;
        self.put(items::api_to_item(api), VERSION_IS, Some(previous))
            .await
    }

    async fn api(&self, api_id: &str) -> Result<Option<ApiRecord>, StoreError> {
        self.get(APIS_PK.to_owned(), api_pk(api_id))
            .await?
            .map(|item| items::api_from_item(&item))
            .transpose()
    }

    async fn list_apis(&self, page: &Page) -> Result<Listing<ApiRecord>, StoreError> {
        let (found, next) = self
            .query(APIS_PK.to_owned(), API_PREFIX, page, false)
            .await?;
        let items = found
            .iter()
            .map(items::api_from_item)
            .collect::<Result<_, _>>()?;
        Ok(Listing { items, next })
    }

    async fn create_deployment(&self, deployment: &Deployment) -> Result<u64, StoreError> {
        let encoded = deployment.snapshot.encode();
        let size = encoded.len() as u64;
        if encoded.len() > MAX_ENCODED_SNAPSHOT {
            return Err(StoreError::Misconfigured(format!(
                "the compressed snapshot is {} bytes; at most {MAX_ENCODED_SNAPSHOT} fit in one item",
                encoded.len()
            )));
        }
        self.put(
            items::deployment_to_item(deployment, encoded),
            NOT_EXISTS,
            None,
        )
        .await?;
        Ok(size)
    }

    async fn list_deployments(
        &self,
        api_id: &str,
        page: &Page,
    ) -> Result<Listing<DeploymentSummary>, StoreError> {
        // Ids are ULIDs, so newest first is the reverse of sort-key order.
        let (found, next) = self
            .query(api_pk(api_id), DEPLOYMENT_PREFIX, page, true)
            .await?;
        let items = found
            .iter()
            .map(items::deployment_summary_from_item)
            .collect::<Result<_, _>>()?;
        Ok(Listing { items, next })
    }

    async fn put_stage(&self, stage: &Stage) -> Result<(), StoreError> {
        self.put_versioned(items::stage_to_item(stage), stage.version)
            .await
    }

    async fn delete_stage(
        &self,
        api_id: &str,
        stage_name: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        self.delete_at_version(
            api_pk(api_id),
            format!("{STAGE_PREFIX}{stage_name}"),
            version,
        )
        .await
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.put(items::audit_to_item(entry), NOT_EXISTS, None)
            .await
    }

    async fn list_audit(
        &self,
        page: &Page,
        since: Option<&str>,
    ) -> Result<Listing<AuditEntry>, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", AttributeValue::S(AUDIT_PK.to_owned()))
            .scan_index_forward(false)
            .limit(page.limit.clamp(1, 500) as i32)
            .consistent_read(true);
        request = match since {
            Some(since) => request
                .key_condition_expression("pk = :pk AND sk >= :since")
                .expression_attribute_values(":since", AttributeValue::S(since.to_owned())),
            None => request.key_condition_expression("pk = :pk"),
        };
        if let Some(after) = &page.after {
            // Newest first from `after`, stopping at `since`: a cursor older than `since` has
            // nothing left to list (and DynamoDB refuses a start key outside the condition).
            if since.is_some_and(|since| after.as_str() < since) {
                return Ok(Listing {
                    items: Vec::new(),
                    next: None,
                });
            }
            request = request.set_exclusive_start_key(Some(key(AUDIT_PK, after.clone())));
        }
        let output = request.send().await.map_err(store_error)?;
        let next = output
            .last_evaluated_key
            .as_ref()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        let items = output
            .items
            .unwrap_or_default()
            .iter()
            .map(items::audit_from_item)
            .collect::<Result<_, _>>()?;
        Ok(Listing { items, next })
    }

    async fn put_record(&self, record: &Record) -> Result<(), StoreError> {
        self.put_versioned(items::record_to_item(record), record.version)
            .await
    }

    async fn record(&self, kind: RecordKind, id: &str) -> Result<Option<Record>, StoreError> {
        self.get(items::record_pk(kind), id.to_owned())
            .await?
            .map(|item| items::record_from_item(kind, &item))
            .transpose()
    }

    async fn list_records(
        &self,
        kind: RecordKind,
        prefix: &str,
        page: &Page,
    ) -> Result<Listing<Record>, StoreError> {
        let (found, next) = self
            .query(items::record_pk(kind), prefix, page, false)
            .await?;
        let records = found
            .iter()
            .map(|item| items::record_from_item(kind, item))
            .collect::<Result<_, _>>()?;
        // Cursors are relative to the prefix, as `query` takes them back.
        Ok(Listing {
            items: records,
            next,
        })
    }

    async fn delete_record(
        &self,
        kind: RecordKind,
        id: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        self.delete_at_version(items::record_pk(kind), id.to_owned(), version)
            .await
    }

    async fn list_stage_page(
        &self,
        api_id: &str,
        page: &Page,
    ) -> Result<Listing<Stage>, StoreError> {
        let (found, next) = self
            .query(api_pk(api_id), STAGE_PREFIX, page, false)
            .await?;
        let items = found
            .iter()
            .map(|item| items::stage_from_item(api_id, item))
            .collect::<Result<_, _>>()?;
        Ok(Listing { items, next })
    }

    async fn list_stages(&self, api_id: &str) -> Result<Vec<Stage>, StoreError> {
        let mut stages = Vec::new();
        let mut page = Page {
            limit: 500,
            after: None,
        };
        loop {
            let (found, next) = self
                .query(api_pk(api_id), STAGE_PREFIX, &page, false)
                .await?;
            for item in &found {
                stages.push(items::stage_from_item(api_id, item)?);
            }
            match next {
                Some(after) => page.after = Some(after),
                None => return Ok(stages),
            }
        }
    }
}
