//! Typed access to the store's JSON records (keys, plans, memberships, domain mappings).

use portico_model::ports::{ConfigStore, Listing, Page, Record, RecordKind, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AdminError;

pub(crate) async fn load<T: DeserializeOwned>(
    store: &dyn ConfigStore,
    kind: RecordKind,
    id: &str,
) -> Result<Option<T>, AdminError> {
    match store.record(kind, id).await? {
        None => Ok(None),
        Some(record) => serde_json::from_value(record.body)
            .map(Some)
            .map_err(|e| AdminError::Internal(format!("record {id} is not valid: {e}"))),
    }
}

/// Writes `value` as version `version` (1: create). A lost race is a 409.
pub(crate) async fn save<T: Serialize>(
    store: &dyn ConfigStore,
    kind: RecordKind,
    id: &str,
    version: u64,
    value: &T,
) -> Result<(), AdminError> {
    let record = Record {
        kind,
        id: id.to_owned(),
        version,
        body: serde_json::to_value(value).map_err(|e| AdminError::Internal(e.to_string()))?,
    };
    store.put_record(&record).await.map_err(AdminError::from)
}

pub(crate) async fn list<T: DeserializeOwned>(
    store: &dyn ConfigStore,
    kind: RecordKind,
    prefix: &str,
    page: &Page,
) -> Result<Listing<T>, AdminError> {
    let listing = store.list_records(kind, prefix, page).await?;
    let items = listing
        .items
        .into_iter()
        .map(|r| serde_json::from_value(r.body))
        .collect::<Result<_, _>>()
        .map_err(|e| AdminError::Internal(format!("a record is not valid: {e}")))?;
    Ok(Listing {
        items,
        next: listing.next,
    })
}

/// Deletes, treating "already gone" as done (a retried delete must not fail).
pub(crate) async fn delete(
    store: &dyn ConfigStore,
    kind: RecordKind,
    id: &str,
    version: u64,
) -> Result<(), AdminError> {
    match store.delete_record(kind, id, version).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) if store.record(kind, id).await?.is_none() => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// Every record of a kind under `prefix`, all pages.
pub(crate) async fn list_all<T: DeserializeOwned>(
    store: &dyn ConfigStore,
    kind: RecordKind,
    prefix: &str,
) -> Result<Vec<T>, AdminError> {
    let mut out = Vec::new();
    let mut page = Page {
        limit: 500,
        after: None,
    };
    loop {
        let listing = list(store, kind, prefix, &page).await?;
        out.extend(listing.items);
        match listing.next {
            Some(next) => page.after = Some(next),
            None => return Ok(out),
        }
    }
}
