//! Portico's data plane: everything the front function does to a request, without the AWS
//! SDK (ports from `portico-model` stand for DynamoDB and Lambda).
//!
//! A request's life, one module per phase, driven top to bottom by [`Gateway::handle`]:
//! - [`request`]: the incoming request as the function URL delivered it.
//! - [`path`]: the one normalized path every later phase reads.
//! - [`resolve`]: which API and stage: a custom domain's base path mapping, or the default
//!   form `/{apiId}/{stage}/...`.
//! - [`config`]: the per-instance cache of stage pointers and compiled deployments.
//! - [`cors`]: preflights answered by the gateway; CORS headers on every other answer.
//! - routing: `portico_model::router`, on the compiled deployment.
//! - resource policy: `portico_model::policy`, on the method ARN and the source IP.
//! - [`auth`]: JWT and Lambda authorizers (IAM-signed routes are refused).
//! - [`keys`]: API keys of routes that require one (from `x-api-key` or the authorizer), and
//!   the usage plans they belong to.
//! - [`limits`]: throttles in API Gateway's order and usage plan quotas, on leases of
//!   counters shared through DynamoDB.
//! - [`integration`]: Lambda proxy (events in [`event`]), HTTP proxy, mock.
//! - [`error`]: every gateway-generated answer, with API Gateway's status, body and type.
//! - [`access_log`]: one JSON line per request, success or failure, which is also the
//!   CloudWatch Embedded Metric Format document of API Gateway's metrics.

pub mod access_log;
pub mod auth;
pub mod config;
pub mod cors;
pub mod error;
pub mod event;
pub mod integration;
pub mod keys;
pub mod limits;
pub mod path;
pub mod request;
pub mod resolve;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Response};
use portico_model::ports::{ConfigReader, Counters, Invoker};

pub use error::GatewayError;
pub use request::IncomingRequest;

/// Settings read once per instance from the environment by the front binary.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a stage pointer is trusted before it is read again: the bound on how late a
    /// deployment reaches a warm instance.
    pub config_ttl: Duration,
    /// Shown to targets as `requestContext.accountId`.
    pub account_id: String,
    /// Whether `X-Forwarded-Host` names the host (set only when a proxy the operator runs,
    /// such as CloudFront, overwrites it).
    pub trust_forwarded_host: bool,
    /// The account-level bucket and the fail-open cap.
    pub limits: limits::LimitSettings,
    /// Whether each request writes its access line to stdout (off only for tests that run
    /// many instances in one process).
    pub access_log: bool,
    /// The region in method ARNs (resource policies).
    pub region: String,
    /// Proxies in front of the function URL that append the caller to `X-Forwarded-For`
    /// (CloudFront: 1); 0 ignores the header (see [`resolve::source_ip`]).
    pub trusted_proxy_hops: u8,
    /// JWKS caching and fetch bounds of JWT authorizers.
    pub jwt: auth::jwt::JwtSettings,
}

/// The largest request body a function URL delivers (6 MB buffered). Locally nothing else
/// enforces it, and a target's event must also fit Lambda's 6 MB invoke payload.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config_ttl: Duration::from_secs(2),
            account_id: "000000000000".to_owned(),
            trust_forwarded_host: false,
            limits: limits::LimitSettings::default(),
            access_log: true,
            region: "us-east-1".to_owned(),
            trusted_proxy_hops: 0,
            jwt: auth::jwt::JwtSettings::default(),
        }
    }
}

/// The front's pipeline, built once per instance and shared by every request it serves.
pub struct Gateway {
    config: config::ConfigCache,
    limiter: limits::Limiter,
    authorizers: auth::Authorizers,
    invoker: Arc<dyn Invoker>,
    http: integration::http::HttpBackend,
    settings: Settings,
}

/// What the request carried through the pipeline, for the access log.
#[derive(Debug, Default)]
pub struct Trace {
    pub api_id: Option<String>,
    pub stage: Option<String>,
    /// The matched route, as its index in `snapshot`'s routes (its key, method and template
    /// are derived from there when the access line is written).
    pub route: Option<usize>,
    pub integration_latency: Option<Duration>,
    /// Whether the stage's canary served the request.
    pub canary: bool,
    /// The id (never the value) of the API key the request was admitted with.
    pub api_key_id: Option<String>,
    /// The authorizer's principal: a Lambda authorizer's `principalId`, a JWT's `sub`.
    pub principal_id: Option<String>,
    /// Set when the counters table failed and the stage's failure mode decided.
    pub limit_fallback: Option<portico_model::records::LimitsFailureMode>,
    /// The deployment that served it (its gateway responses shape any error).
    pub snapshot: Option<Arc<portico_model::snapshot::Snapshot>>,
}

/// FNV-1a, 64 bits: a stable hash (across instances and releases, unlike std's) for ids and
/// canary buckets. Not for anything an attacker must not steer.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl Gateway {
    pub fn new(
        reader: Arc<dyn ConfigReader>,
        counters: Arc<dyn Counters>,
        invoker: Arc<dyn Invoker>,
        settings: Settings,
    ) -> Self {
        Gateway {
            config: config::ConfigCache::new(reader, settings.config_ttl),
            limiter: limits::Limiter::new(
                counters,
                Arc::new(limits::SystemClock),
                settings.limits.clone(),
            ),
            authorizers: auth::Authorizers::new(settings.jwt.clone()),
            invoker,
            http: integration::http::HttpBackend::new(),
            settings,
        }
    }

    /// Serves one request. Never fails: every error becomes API Gateway's response for it.
    pub async fn handle(&self, mut request: IncomingRequest) -> Response<Bytes> {
        let started = Instant::now();
        // Every later phase (policies, canary stickiness, events, the access log) sees the
        // caller's address as the trusted proxies reported it.
        request.source_ip = resolve::source_ip(&request, self.settings.trusted_proxy_hops);
        let mut trace = Trace::default();
        let result = self.serve(&request, &mut trace).await;
        let (mut response, error) = match result {
            Ok(response) => (response, None),
            Err(error) => {
                let response = match &trace.snapshot {
                    Some(snapshot) => error.to_response_for(
                        &snapshot.definition.gateway_responses,
                        &error::ErrorContext {
                            request: &request,
                            api_id: trace.api_id.as_deref(),
                            stage: trace.stage.as_deref(),
                        },
                    ),
                    None => error.to_response(),
                };
                (response, Some(error))
            }
        };
        if let Some(cors) = trace
            .snapshot
            .as_ref()
            .and_then(|s| s.definition.cors.as_ref())
            && !cors::is_preflight(&request)
        {
            cors::apply(cors, &request, response.headers_mut());
        }
        if let Ok(id) = HeaderValue::from_str(&request.request_id) {
            response.headers_mut().insert("x-amzn-requestid", id);
        }
        if self.settings.access_log {
            access_log::write(
                &request,
                &trace,
                &response,
                error.as_ref(),
                started.elapsed(),
            );
        }
        response
    }

    /// The API's resource policy, on the request's method ARN and source IP.
    fn check_policy(
        &self,
        policy: &portico_model::policy::ResourcePolicy,
        request: &IncomingRequest,
        target: &resolve::Target,
        arn: &str,
    ) -> Result<(), GatewayError> {
        use portico_model::policy::{Decision, Target, method_arn};
        let method = request.method.as_str();
        let path = target.path.trim_start_matches('/');
        let resource = arn.split_once('/').map_or("", |(_, r)| r);
        let decision = policy.decide(
            &Target {
                method_arn: arn,
                resource,
            },
            request.source_ip.parse().ok(),
        );
        let explicit = match decision {
            Decision::Allow => return Ok(()),
            Decision::ExplicitDeny => true,
            Decision::ImplicitDeny => false,
        };
        // As API Gateway does, the answer names the resource but not the whole account.
        let account: Vec<char> = self.settings.account_id.chars().collect();
        let hidden = account.len().saturating_sub(4);
        let masked: String = std::iter::repeat_n('*', hidden)
            .chain(account[hidden..].iter().copied())
            .collect();
        Err(GatewayError::AccessDenied {
            explicit,
            resource: method_arn(
                &self.settings.region,
                &masked,
                &target.api_id,
                &target.stage,
                method,
                path,
            ),
        })
    }

    async fn serve(
        &self,
        request: &IncomingRequest,
        trace: &mut Trace,
    ) -> Result<Response<Bytes>, GatewayError> {
        let path = path::normalize(&request.raw_path)?;
        let host = resolve::host(request, self.settings.trust_forwarded_host);
        let mappings = match host.as_deref() {
            Some(host) if resolve::may_have_mappings(host) => Some(self.config.domain(host).await?),
            _ => None,
        };
        let (target, domain_name) = match (&mappings, &host) {
            (Some(mappings), Some(host)) if !mappings.is_empty() => {
                (resolve::by_mapping(&path, mappings)?, host.as_str())
            }
            _ => (
                resolve::by_default_form(&path)?,
                request.header("host").unwrap_or_default(),
            ),
        };
        trace.api_id = Some(target.api_id.clone());
        trace.stage = Some(target.stage.clone());

        let deployed = self.config.load(&target.api_id, &target.stage).await?;
        // The canary's share of requests is served by its deployment, with its variables.
        let (stage, snapshot, router, policy) = match &deployed.canary {
            Some(canary) if canary.takes(request) => {
                trace.canary = true;
                (
                    &canary.stage,
                    &canary.snapshot,
                    &canary.router,
                    &canary.policy,
                )
            }
            _ => (
                &deployed.stage,
                &deployed.snapshot,
                &deployed.router,
                &deployed.policy,
            ),
        };
        trace.snapshot = Some(snapshot.clone());
        // Checked once the API is known, so its REQUEST_TOO_LARGE response applies.
        if request.body.len() > MAX_BODY_BYTES {
            return Err(GatewayError::RequestTooLarge);
        }
        if let Some(cors) = &snapshot.definition.cors
            && cors::is_preflight(request)
        {
            return Ok(cors::preflight(cors, request));
        }

        let route_match = router
            .find(request.method.as_str(), &target.path)
            .ok_or(GatewayError::no_route(snapshot.api_type()))?;
        let route = &snapshot.routes()[route_match.route];
        trace.route = Some(route_match.route);
        // The method ARN names the request in policies and authorizer events.
        let arn = (policy.is_some() || !route.authorization.is_none()).then(|| {
            portico_model::policy::method_arn(
                &self.settings.region,
                &self.settings.account_id,
                &target.api_id,
                &target.stage,
                request.method.as_str(),
                &target.path,
            )
        });
        let arn = arn.as_deref().unwrap_or_default();
        if let Some(policy) = policy {
            self.check_policy(policy, request, &target, arn)?;
        }
        let mut call = integration::Call {
            request,
            target: &target,
            domain_name,
            api_key: None,
            principal: None,
            route,
            params: &route_match.params,
            stage,
            api_type: snapshot.api_type(),
            binary_media_types: &snapshot.definition.binary_media_types,
            settings: &self.settings,
        };
        let principal = self
            .authorizers
            .authorize(
                &call,
                &snapshot.definition.authorizers,
                arn,
                self.invoker.as_ref(),
            )
            .await?;
        trace.principal_id = principal
            .as_ref()
            .and_then(|p| p.principal_id())
            .map(str::to_owned);
        let api_key = if route.api_key_required {
            let admitted = keys::admit(
                request,
                snapshot.definition.api_key_source,
                principal.as_ref(),
                &target.api_id,
                &target.stage,
                &self.config,
            )
            .await?;
            trace.api_key_id = Some(admitted.grant.key.id.clone());
            Some(admitted)
        } else {
            None
        };

        let (levels, quota) = limits_of(
            self.limiter.account(),
            &target,
            route,
            &stage.settings,
            api_key.as_ref(),
        );
        let admission = self
            .limiter
            .admit(&levels, quota.as_ref(), stage.settings.limits_failure_mode)
            .await;
        let admission = match admission {
            Ok(admission) => admission,
            Err(error) => {
                if let GatewayError::LimitsUnavailable { .. } = error {
                    trace.limit_fallback = Some(stage.settings.limits_failure_mode);
                }
                return Err(error);
            }
        };
        trace.limit_fallback = admission.fallback;

        call.api_key = api_key.as_ref();
        call.principal = principal.as_ref();
        let integration_started = Instant::now();
        let result = integration::run(&call, self.invoker.as_ref(), &self.http).await;
        trace.integration_latency = Some(integration_started.elapsed());
        result.map(|mut response| {
            admission.headers.apply(response.headers_mut());
            response.extensions_mut().insert(limits::Admitted {
                at_ns: admission.at_ns,
                fallback: admission.fallback.is_some(),
            });
            response
        })
    }
}

/// The buckets a request passes, in API Gateway's order, and its key's quota. Bucket ids name
/// what they limit, so every instance meets the same counters.
fn limits_of(
    account: Option<limits::bucket::Limit>,
    target: &resolve::Target,
    route: &portico_model::definition::RouteDefinition,
    settings: &portico_model::records::StageSettings,
    api_key: Option<&keys::AdmittedKey>,
) -> (Vec<limits::Level>, Option<limits::QuotaCheck>) {
    use limits::{Level, LevelKind, QuotaCheck, bucket::Limit};
    let limit = |t: &portico_model::records::Throttle| Limit {
        rate: t.rate_limit,
        burst: t.burst_limit,
    };
    let (api, stage) = (&target.api_id, &target.stage);
    // Route keys are built only where per-route throttles exist: most requests need none.
    let mut levels = Vec::new();
    let mut quota = None;
    if let Some(admitted) = api_key {
        let key_id = &admitted.grant.key.id;
        // A key is in at most one plan per stage (the admin refuses a second).
        let plan = admitted.grant.plans.iter().find_map(|plan| {
            plan.api_stages
                .iter()
                .find(|s| &s.api_id == api && &s.stage == stage)
                .map(|s| (plan, s))
        });
        if let Some((plan, plan_stage)) = plan {
            let route_key = (!plan_stage.throttle.is_empty()).then(|| route.key());
            if let Some((route_key, throttle)) = route_key
                .as_ref()
                .and_then(|k| plan_stage.throttle.get(k).map(|t| (k, t)))
            {
                levels.push(Level {
                    id: format!("b#k#{}#{key_id}#{api}#{stage}#{route_key}", plan.id),
                    limit: limit(throttle),
                    kind: LevelKind::PlanRoute,
                });
            }
            if let Some(throttle) = &plan.throttle {
                levels.push(Level {
                    id: format!("b#k#{}#{key_id}", plan.id),
                    limit: limit(throttle),
                    kind: LevelKind::Plan,
                });
            }
            quota = Some(QuotaCheck {
                counter: portico_model::usage::usage_counter(&plan.id, key_id),
                quota: plan.quota,
                // Only an offset needs the plan's first period: no date parse otherwise.
                plan_created: plan
                    .quota
                    .is_some_and(|q| q.offset > 0)
                    .then(|| chrono::DateTime::parse_from_rfc3339(&plan.created_date).ok())
                    .flatten()
                    .map(|t| t.with_timezone(&chrono::Utc)),
            });
        }
    }
    let route_throttle = if settings.method_settings.is_empty() {
        None
    } else {
        let key = route.key();
        settings
            .method_settings
            .get(&key)
            .or_else(|| settings.method_settings.get("*"))
            .and_then(|m| m.throttle.as_ref())
            .map(|t| (key, t))
    };
    if let Some((route_key, throttle)) = route_throttle {
        levels.push(Level {
            id: format!("b#s#{api}#{stage}#{route_key}"),
            limit: limit(throttle),
            kind: LevelKind::StageRoute,
        });
    }
    if let Some(throttle) = &settings.throttle {
        levels.push(Level {
            id: format!("b#s#{api}#{stage}"),
            limit: limit(throttle),
            kind: LevelKind::Stage,
        });
    }
    if let Some(account) = account {
        levels.push(Level {
            id: "b#account".to_owned(),
            limit: account,
            kind: LevelKind::Account,
        });
    }
    (levels, quota)
}
