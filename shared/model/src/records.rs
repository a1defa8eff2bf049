//! The records the config table holds, as domain types: APIs (a definition under a version),
//! immutable deployments, and stages that point at them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::definition::ApiDefinition;
use crate::snapshot::Snapshot;

/// An API and its current definition. `version` guards every update (optimistic concurrency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRecord {
    pub id: String,
    pub definition: ApiDefinition,
    pub version: u64,
    pub created_date: String,
    pub last_updated_date: String,
}

/// What a listing of deployments shows; the snapshot itself is loaded only when needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSummary {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: String,
    /// Size of the encoded snapshot, in bytes.
    pub snapshot_bytes: u64,
}

/// An immutable deployment: written once, never updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub api_id: String,
    pub summary: DeploymentSummary,
    pub snapshot: Snapshot,
}

/// A stage: a name clients call, pointing at one deployment, with its variables and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub api_id: String,
    pub stage_name: String,
    pub deployment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default, flatten)]
    pub settings: StageSettings,
    /// The deployment this stage served before its last move: where a rollback goes by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_deployment_id: Option<String>,
    pub version: u64,
    pub created_date: String,
    pub last_updated_date: String,
}

/// What a stage configures besides its deployment and variables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageSettings {
    /// The stage's default throttle (every route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    /// Per-route settings, keyed by route key (`GET /pets/{id}`) or `*` for all routes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub method_settings: BTreeMap<String, MethodSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// What throttles and quotas do when the counters table cannot be reached.
    #[serde(default, skip_serializing_if = "LimitsFailureMode::is_default")]
    pub limits_failure_mode: LimitsFailureMode,
}

/// When the counters table fails or times out: `OPEN` serves within a bucket of the
/// instance's own, capped (the default); `CLOSED` refuses with 503, for paid quotas that must
/// never give requests away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LimitsFailureMode {
    #[default]
    Open,
    Closed,
}

impl LimitsFailureMode {
    pub fn is_default(&self) -> bool {
        *self == LimitsFailureMode::Open
    }
}

/// A token bucket: `rateLimit` requests a second refill a bucket of `burstLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Throttle {
    pub rate_limit: f64,
    pub burst_limit: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MethodSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_in_seconds: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheSettings {
    pub enabled: bool,
    /// 0-3600, default 300 (API Gateway's).
    #[serde(default = "default_cache_ttl")]
    pub ttl_in_seconds: u32,
}

fn default_cache_ttl() -> u32 {
    300
}

/// A canary: a share of the stage's traffic served by another deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Canary {
    pub deployment_id: String,
    /// 0-100, decimals allowed.
    pub percent_traffic: f64,
    /// Variables that differ on the canary side.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_variable_overrides: BTreeMap<String, String>,
    #[serde(default)]
    pub use_stage_cache: bool,
    /// `RANDOM` per request (API Gateway's), or sticky by a client identity.
    #[serde(default)]
    pub assignment: CanaryAssignment,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CanaryAssignment {
    #[default]
    Random,
    /// The same source IP always lands on the same side.
    StickySourceIp,
    /// The same API key always lands on the same side.
    StickyApiKey,
    /// The same authorizer principal always lands on the same side.
    StickyPrincipal,
}

/// A stage name as API Gateway allows it.
pub fn stage_name_ok(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Longest stage variable value (API Gateway's limit).
pub const MAX_STAGE_VARIABLE_VALUE: usize = 512;
/// Most variables on one stage (API Gateway's limit).
pub const MAX_STAGE_VARIABLES: usize = 100;
/// Longest a cached response lives (API Gateway's limit).
pub const MAX_CACHE_TTL: u32 = 3_600;

impl Throttle {
    /// Problems with this throttle, pointed at under `at`.
    pub fn problems(&self, at: &str) -> crate::problem::Problems {
        use crate::problem::Problem;
        let mut problems = crate::problem::Problems::default();
        if !self.rate_limit.is_finite() || !(0.0..=1e6).contains(&self.rate_limit) {
            problems.push(Problem::new(
                format!("{at}/rateLimit"),
                "rateLimit is 0 to 1000000 requests a second",
            ));
        }
        if self.burst_limit > 1_000_000 {
            problems.push(Problem::new(
                format!("{at}/burstLimit"),
                "burstLimit is at most 1000000",
            ));
        }
        problems
    }
}

impl StageSettings {
    /// Every problem in these settings, each with a JSON pointer under `at`.
    pub fn problems(&self, at: &str) -> crate::problem::Problems {
        use crate::problem::{Problem, escape_pointer};
        let mut problems = crate::problem::Problems::default();
        if let Some(throttle) = &self.throttle {
            problems.extend(throttle.problems(&format!("{at}/throttle")));
        }
        for (key, setting) in &self.method_settings {
            let here = format!("{at}/methodSettings/{}", escape_pointer(key));
            let key_ok = key == "*"
                || key.split_once(' ').is_some_and(|(method, path)| {
                    crate::definition::METHODS.contains(&method)
                        && crate::router::PathTemplate::parse(path).is_ok()
                });
            if !key_ok {
                problems.push(Problem::new(
                    here.clone(),
                    "keys are route keys such as \"GET /pets/{id}\", or *",
                ));
            }
            if let Some(throttle) = &setting.throttle {
                problems.extend(throttle.problems(&format!("{here}/throttle")));
            }
            if setting
                .cache_ttl_in_seconds
                .is_some_and(|t| t > MAX_CACHE_TTL)
            {
                problems.push(Problem::new(
                    format!("{here}/cacheTtlInSeconds"),
                    format!("at most {MAX_CACHE_TTL} seconds"),
                ));
            }
        }
        if let Some(cache) = &self.cache
            && cache.ttl_in_seconds > MAX_CACHE_TTL
        {
            problems.push(Problem::new(
                format!("{at}/cache/ttlInSeconds"),
                format!("at most {MAX_CACHE_TTL} seconds"),
            ));
        }
        if let Some(canary) = &self.canary {
            if !canary.percent_traffic.is_finite()
                || !(0.0..=100.0).contains(&canary.percent_traffic)
            {
                problems.push(Problem::new(
                    format!("{at}/canary/percentTraffic"),
                    "percentTraffic is 0 to 100",
                ));
            }
            for name in canary.stage_variable_overrides.keys() {
                if !crate::target::stage_variable_name_ok(name) {
                    problems.push(Problem::new(
                        format!(
                            "{at}/canary/stageVariableOverrides/{}",
                            escape_pointer(name)
                        ),
                        "stage variable names may only use letters, digits and '_'",
                    ));
                }
            }
        }
        problems
    }
}

/// The current time as API Gateway's management API prints it (RFC 3339, UTC, seconds).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One change made through the admin API: who, what, when, and the versions it moved between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// A ULID: entries sort by time.
    pub id: String,
    pub time: String,
    /// The IAM principal (`userArn`) from the function URL, or `local`.
    pub caller: String,
    /// `CreateApi`, `UpdateApi`, `CreateDeployment`, `PutStage`, ...
    pub action: String,
    /// The admin path of what changed, such as `/apis/abc123/stages/prod`.
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_version: Option<u64>,
}

/// The lengths an API key's value may have (API Gateway's rule): the admin refuses others
/// on import, and the front refuses others without a look-up.
pub const API_KEY_VALUE_LENGTHS: std::ops::RangeInclusive<usize> = 20..=128;

/// The hex SHA-256 of an API key's value: the only form in which values are stored, and the
/// key under which the front finds a presented key.
pub fn hash_api_key(value: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let digest = Sha256::digest(value.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// An API key. Only the SHA-256 of its value is stored; the value is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    /// Hex SHA-256 of the key's value: what requests are matched against.
    pub value_hash: String,
    pub version: u64,
    pub created_date: String,
    pub last_updated_date: String,
}

/// A usage plan: which API stages it covers, its throttle and its quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePlan {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub api_stages: Vec<PlanStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    pub version: u64,
    pub created_date: String,
    pub last_updated_date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanStage {
    pub api_id: String,
    pub stage: String,
    /// Per-route throttles for keys of this plan, by route key (`GET /pets/{id}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub throttle: BTreeMap<String, Throttle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quota {
    pub limit: u64,
    pub period: QuotaPeriod,
    /// Requests already used in the first period (API Gateway's `offset`).
    #[serde(default)]
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

/// A key's membership of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanKey {
    pub plan_id: String,
    pub key_id: String,
    pub created_date: String,
}

/// The base path that maps a whole custom domain (API Gateway's spelling).
pub const NO_BASE_PATH: &str = "(none)";

/// A custom domain's base path mapped to an API stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainMapping {
    pub domain_name: String,
    /// `(none)` maps the whole domain, as in API Gateway.
    pub base_path: String,
    pub api_id: String,
    pub stage: String,
    pub version: u64,
    pub created_date: String,
}
