//! Store ports: the traits the functions program against, sized to what each one uses. The
//! front reads ([`ConfigReader`]); only the admin writes ([`ConfigStore`]). Their DynamoDB
//! adapters live in `portico-store`, as does the Lambda adapter of [`Invoker`]; tests may substitute in-memory ones for a single stage.

use async_trait::async_trait;

use crate::records::{
    ApiKey, ApiRecord, AuditEntry, Deployment, DeploymentSummary, DomainMapping, Stage, UsagePlan,
};
use crate::target::FunctionTarget;

/// Why a store call failed. The kinds are distinct because callers answer them differently:
/// a failed condition is the caller's conflict (409/412), throttling and unavailability are
/// the gateway's (503, or serve the last good config).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the conditional write failed: the item changed or already exists")]
    ConditionFailed,
    #[error("the store is throttling requests")]
    Throttled,
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store is misconfigured: {0}")]
    Misconfigured(String),
    #[error("an item in the store is corrupt: {0}")]
    Corrupt(String),
}

/// One page of a listing, and the cursor for the next (opaque to clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub after: Option<String>,
}

/// What the front needs: the stage pointer and the immutable deployment it names.
#[async_trait]
pub trait ConfigReader: Send + Sync {
    async fn stage(&self, api_id: &str, stage_name: &str) -> Result<Option<Stage>, StoreError>;
    async fn deployment(
        &self,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<Option<Deployment>, StoreError>;
    /// Every base path mapping of a custom domain (lower-case host name): few per domain,
    /// read whole.
    async fn domain_mappings(&self, domain: &str) -> Result<Vec<DomainMapping>, StoreError>;
    /// The key whose value hashes to `value_hash` (hex SHA-256), with its plans; `None` for
    /// a value no key has.
    async fn api_key(&self, value_hash: &str) -> Result<Option<KeyGrant>, StoreError>;
}

/// What an API key presented to the front may do: the key (its enabled flag, its stored hash)
/// and the usage plans it belongs to (their stages, throttles and quotas).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyGrant {
    pub key: ApiKey,
    pub plans: Vec<UsagePlan>,
}

/// Records kept as JSON documents under one key layout: small control-plane resources whose
/// shape the control crate owns (API keys, usage plans, plan memberships, domain mappings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    ApiKey,
    /// An API key's id, found by the hash of its value (unique: two keys never share a value).
    ApiKeyHash,
    UsagePlan,
    /// `{planId}#{keyId}`: the keys of a plan.
    PlanKey,
    /// `{keyId}#{planId}`: the plans of a key.
    KeyPlan,
    /// `{domainName}/{basePath}`.
    DomainMapping,
}

/// A record: its id within its kind, its version (guarding updates), and its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: RecordKind,
    pub id: String,
    pub version: u64,
    pub body: serde_json::Value,
}

/// What the admin needs on top: conditional writes and listings.
#[async_trait]
pub trait ConfigStore: ConfigReader {
    /// Creates an API; `ConditionFailed` when the id is taken.
    async fn create_api(&self, api: &ApiRecord) -> Result<(), StoreError>;
    /// Replaces an API's definition; `ConditionFailed` unless the stored version is
    /// `api.version - 1`.
    async fn update_api(&self, api: &ApiRecord) -> Result<(), StoreError>;
    async fn api(&self, api_id: &str) -> Result<Option<ApiRecord>, StoreError>;
    async fn list_apis(&self, page: &Page) -> Result<Listing<ApiRecord>, StoreError>;
    /// Writes a new deployment; `ConditionFailed` if the id exists (deployments are immutable).
    /// Returns the stored size of its snapshot, in bytes.
    async fn create_deployment(&self, deployment: &Deployment) -> Result<u64, StoreError>;
    async fn list_deployments(
        &self,
        api_id: &str,
        page: &Page,
    ) -> Result<Listing<DeploymentSummary>, StoreError>;
    /// Creates (`stage.version == 1`: the stage must not exist) or updates (the stored version
    /// must be `stage.version - 1`) a stage.
    async fn put_stage(&self, stage: &Stage) -> Result<(), StoreError>;
    /// Every stage of an API (for checks that need all of them).
    async fn list_stages(&self, api_id: &str) -> Result<Vec<Stage>, StoreError>;
    /// One page of an API's stages, by name.
    async fn list_stage_page(
        &self,
        api_id: &str,
        page: &Page,
    ) -> Result<Listing<Stage>, StoreError>;
    /// Deletes a stage; `ConditionFailed` unless it exists at `version`.
    async fn delete_stage(
        &self,
        api_id: &str,
        stage_name: &str,
        version: u64,
    ) -> Result<(), StoreError>;
    /// Appends an audit entry (ids are unique, entries are never changed).
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Audit entries newest first; `page.after` continues a listing, `since` (an entry id or
    /// a ULID made from a time) stops it.
    async fn list_audit(
        &self,
        page: &Page,
        since: Option<&str>,
    ) -> Result<Listing<AuditEntry>, StoreError>;
    /// Creates (`version == 1`: must not exist) or updates (stored version must be
    /// `version - 1`) a record.
    async fn put_record(&self, record: &Record) -> Result<(), StoreError>;
    async fn record(&self, kind: RecordKind, id: &str) -> Result<Option<Record>, StoreError>;
    /// Records of a kind whose id starts with `prefix`, in id order. `page.after` and the
    /// returned `next` are ids relative to the prefix.
    async fn list_records(
        &self,
        kind: RecordKind,
        prefix: &str,
        page: &Page,
    ) -> Result<Listing<Record>, StoreError>;
    /// Deletes a record; `ConditionFailed` unless it exists at `version`.
    async fn delete_record(
        &self,
        kind: RecordKind,
        id: &str,
        version: u64,
    ) -> Result<(), StoreError>;
}

/// A take of `count` tokens from one shard of a shared token bucket, kept in the counters
/// table as GCRA state: the bucket's theoretical arrival time (`tat`, nanoseconds since the
/// epoch). Tokens are slots `interval_ns` apart; a take is allowed when its last slot is at
/// most `(burst - 1)` intervals ahead of `now_ns`. An idle bucket (`tat` in the past) restarts
/// from `now_ns`, which is how a full bucket never holds more than `burst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take<'a> {
    pub bucket: &'a str,
    pub shard: u32,
    pub now_ns: u64,
    pub count: u32,
    pub interval_ns: u64,
    pub burst: u32,
    /// The caller believes the bucket idle: which of the two conditional updates goes first.
    pub idle_hint: bool,
}

/// What a take did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The tokens are the caller's: slots `tat_ns - count * interval_ns` up to `tat_ns`.
    Granted { tat_ns: u64 },
    /// Fewer than `count` tokens were left; nothing was taken. `tat_ns` is the bucket's state.
    Short { tat_ns: u64 },
}

/// A charge of `count` requests to a usage counter for one period, refused as a whole if it
/// would take the counter past `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge<'a> {
    pub counter: &'a str,
    pub period: &'a str,
    pub count: u64,
    pub limit: Option<u64>,
    /// Epoch seconds after which the counter may be deleted (the counters table's TTL).
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    /// The counter's total after this charge.
    Charged { used: u64 },
    /// Nothing was charged: the counter stands at `used`.
    Exhausted { used: u64 },
}

/// What the front needs of the counters table: token leases and usage charges, each one
/// conditional `UpdateItem` that returns the state the caller's next decision needs.
#[async_trait]
pub trait Counters: Send + Sync {
    async fn take(&self, take: &Take<'_>) -> Result<Taken, StoreError>;
    async fn charge(&self, charge: &Charge<'_>) -> Result<Charged, StoreError>;
}

/// What the admin reads of the counters table for usage reports.
#[async_trait]
pub trait UsageReader: Send + Sync {
    /// The periods of `counter` from `from` to `to` (inclusive, by period label) and the
    /// requests charged in each, in period order. Expired counters are left out.
    async fn usage(
        &self,
        counter: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, u64)>, StoreError>;
}

/// A Lambda function's answer to a synchronous invoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeOutput {
    pub payload: Vec<u8>,
    /// Set when the function itself failed (`X-Amz-Function-Error`, or the local emulator's
    /// HTTP 500 for a handler error).
    pub function_error: Option<String>,
}

/// Why an invoke did not reach the function or came back without its answer. API Gateway
/// answers these 500 (throttling, permissions, a missing function) or 504 (timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    #[error("the Lambda service is throttling the function: {0}")]
    Throttled(String),
    #[error("the gateway may not invoke the function: {0}")]
    Denied(String),
    #[error("the function does not exist: {0}")]
    NotFound(String),
    #[error("the invoke failed: {0}")]
    Failed(String),
}

/// What the front needs of Lambda: one synchronous invoke.
#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(
        &self,
        target: &FunctionTarget,
        payload: Vec<u8>,
    ) -> Result<InvokeOutput, InvokeError>;
}
