//! Throttles and quotas at request time, on counters shared through the counters table.
//!
//! A request passes API Gateway's buckets in API Gateway's order, and the first empty one
//! answers 429 `Too Many Requests`: usage plan per key and route → usage plan per key →
//! stage per route → stage default → account. Then a request with an API key is charged to
//! its plan's quota (429 `Limit Exceeded` once used up) and counted for usage reports.
//!
//! - [`bucket`]: one token bucket: leases of shared tokens spent locally, and the overshoot
//!   bound that follows from how leased tokens lapse.
//! - [`quota`]: quota periods and charges.
//! - [`memory`]: the counters ports in memory, for unit tests and benchmarks.
//!
//! Nothing here runs in the background (Lambda freezes instances between requests): leases
//! are renewed on the request that finds none left, one write in flight per counter (see
//! `Flight`). When the counters table fails, the instance stops calling it for
//! [`CIRCUIT_OPEN_NS`] and each stage's failure mode answers: `OPEN` admits within a bucket
//! of the instance's own, capped at [`LimitSettings::fail_open_rate`]; `CLOSED` refuses with
//! 503. Either way the access line says so (`limitFallback`) and the `LimitFallback` metric
//! counts it.

pub mod bucket;
pub mod memory;
pub mod quota;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use portico_model::ports::{Charge, Charged, Counters, StoreError, Take, Taken};
use portico_model::records::{LimitsFailureMode, Quota, QuotaPeriod};
use tokio::sync::watch;

use crate::error::{GatewayError, LimitHeaders, RateLimitFields};
use bucket::{BucketState, Limit, LocalBucket, Shape, Step};
use quota::{QuotaState, QuotaStep};

/// How many writes one request may make at one counter. Each admits, refuses, or brings the
/// counter's state back, so a few settle it.
const ROUNDS: usize = 3;
/// How many of other requests' writes one request may wait for at one counter. A write in
/// flight serves its own request and usually the waiters, so a few settle it too.
const WAITS: usize = 8;
/// How long an instance leaves the counters table alone after a failure.
pub const CIRCUIT_OPEN_NS: u64 = 1_000_000_000;
/// Per-instance state is dropped beyond this many buckets or counters (least recent first).
const MAX_ENTRIES: usize = 10_000;
const SEC: u64 = 1_000_000_000;

/// Wall-clock time, shared across instances through the counters (nanoseconds since the
/// epoch). Injected so that tests can drive it.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default()
    }
}

/// What limits an instance applies beyond each API's own.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSettings {
    /// The gateway-wide bucket every request passes (API Gateway's account limit: 10,000
    /// requests a second, burst 5,000). `None` turns it off.
    pub account: Option<Limit>,
    /// The most requests a second one instance admits per bucket while failing open.
    pub fail_open_rate: f64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            account: Some(Limit {
                rate: 10_000.0,
                burst: 5_000,
            }),
            fail_open_rate: 100.0,
        }
    }
}

/// Which of API Gateway's levels a bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelKind {
    PlanRoute,
    Plan,
    StageRoute,
    Stage,
    Account,
}

/// One bucket on a request's way: its id in the counters table and its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub id: String,
    pub limit: Limit,
    pub kind: LevelKind,
}

/// The quota and usage counter of an API key in a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaCheck {
    /// `u#{planId}#{keyId}`.
    pub counter: String,
    pub quota: Option<Quota>,
    pub plan_created: Option<DateTime<Utc>>,
}

/// How the limiter admitted a request, put in the response's extensions for in-process
/// observers such as the accuracy tests (extensions never reach the wire): the time its
/// tokens were counted against (nanoseconds since the epoch), and whether a failure mode
/// decided instead of the shared counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub at_ns: u64,
    pub fallback: bool,
}

/// What admission adds to the response and the access line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// The time the request was admitted at.
    pub at_ns: u64,
    pub headers: LimitHeaders,
    /// Set when the counters table failed and the stage's failure mode decided.
    pub fallback: Option<LimitsFailureMode>,
}

/// The write this instance has on its way for one counter, if any. Requests that need the
/// counter meanwhile wait for it rather than race it with writes of their own: racing would
/// multiply the calls exactly when the table is slowest, and the racers' leases would come
/// back short (buckets) or charge far more than the instance spends (quotas).
#[derive(Default)]
struct Flight {
    rx: Option<watch::Receiver<()>>,
    /// Requests waiting for the write: the next write covers them too.
    waiting: Arc<AtomicU32>,
}

/// A request waiting for another's write; counted in its flight's `waiting` while it lives.
struct Waiter {
    rx: watch::Receiver<()>,
    waiting: Arc<AtomicU32>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Flight {
    /// The write in flight to wait for (`Err`), or the sender that makes this request the
    /// writer (`Ok`): dropping it, once the view is updated or if the request is dropped,
    /// wakes the waiters.
    fn lead_or_join(&mut self) -> Result<watch::Sender<()>, Waiter> {
        match self.rx.as_ref().filter(|rx| rx.has_changed().is_ok()) {
            Some(rx) => {
                self.waiting.fetch_add(1, Ordering::Relaxed);
                Err(Waiter {
                    rx: rx.clone(),
                    waiting: self.waiting.clone(),
                })
            }
            None => {
                let (tx, rx) = watch::channel(());
                self.rx = Some(rx);
                Ok(tx)
            }
        }
    }

    fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// The writes one request has made, and waited for, at one counter.
#[derive(Default)]
struct Rounds {
    leads: usize,
    waits: usize,
}

impl Rounds {
    fn left(&self) -> bool {
        self.leads < ROUNDS && self.waits < WAITS
    }

    /// The write this request leads (`Some`), or `None` once the write on its way has ended
    /// and the view is worth another look. That write ends when its request has updated the
    /// view or was dropped, and is bounded by the counters client's timeouts.
    async fn lead<T>(&mut self, lead: Result<T, Waiter>) -> Option<T> {
        match lead {
            Ok(lead) => {
                self.leads += 1;
                Some(lead)
            }
            Err(mut waiter) => {
                self.waits += 1;
                let _ = waiter.rx.changed().await;
                None
            }
        }
    }
}

/// A counter as this instance knows it, and its write in flight.
struct Entry<S> {
    known: S,
    flight: Flight,
}

impl<S> Entry<S> {
    fn new(known: S) -> Self {
        Entry {
            known,
            flight: Flight::default(),
        }
    }
}

#[derive(Default)]
struct State {
    buckets: HashMap<String, Entry<BucketState>>,
    quotas: HashMap<String, Entry<QuotaState>>,
    local: HashMap<String, LocalBucket>,
}

fn prune<V>(map: &mut HashMap<String, V>, seen: impl Fn(&V) -> u64, now_ns: u64) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, v| seen(v) + 60 * SEC > now_ns);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
}

fn throttled(retry_after: u64, rate_limit: Option<RateLimitFields>) -> GatewayError {
    GatewayError::Throttled {
        limits: LimitHeaders {
            retry_after: Some(retry_after),
            rate_limit,
        },
    }
}

fn seconds_until(at_ns: u64, now_ns: u64) -> u64 {
    at_ns.saturating_sub(now_ns).div_ceil(SEC).max(1)
}

/// The per-instance limiter, shared by every request the instance serves.
pub struct Limiter {
    counters: Arc<dyn Counters>,
    clock: Arc<dyn Clock>,
    settings: LimitSettings,
    state: Mutex<State>,
    circuit_open_until: AtomicU64,
    seed: u64,
}

/// What the counters said, or that the instance has to decide without them.
enum Outcome<T> {
    Store(T),
    Fallback,
}

impl Limiter {
    pub fn new(
        counters: Arc<dyn Counters>,
        clock: Arc<dyn Clock>,
        settings: LimitSettings,
    ) -> Self {
        Limiter {
            counters,
            clock,
            settings,
            state: Mutex::new(State::default()),
            circuit_open_until: AtomicU64::new(0),
            seed: rand::random(),
        }
    }

    pub fn account(&self) -> Option<Limit> {
        self.settings.account
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a request through `levels` (in order) and `quota`, or refuses it.
    pub async fn admit(
        &self,
        levels: &[Level],
        quota: Option<&QuotaCheck>,
        mode: LimitsFailureMode,
    ) -> Result<Admission, GatewayError> {
        let now = self.clock.now_ns();
        let mut admission = Admission {
            at_ns: now,
            ..Admission::default()
        };
        let mut tightest: Option<RateLimitFields> = None;
        let mut consider = |fields: RateLimitFields| {
            if tightest.is_none_or(|t| fields.remaining < t.remaining) {
                tightest = Some(fields);
            }
        };
        for level in levels {
            let fields = self.pass(level, now, mode, &mut admission).await?;
            if level.kind != LevelKind::Account
                && let Some(fields) = fields
            {
                consider(fields);
            }
        }
        if let Some(check) = quota
            && let Some(fields) = self.charge(check, now, mode, &mut admission).await?
        {
            consider(fields);
        }
        admission.headers.rate_limit = tightest;
        Ok(admission)
    }

    fn circuit_open(&self, now: u64) -> bool {
        self.circuit_open_until.load(Ordering::Relaxed) > now
    }

    fn trip(&self, now: u64, error: &StoreError) {
        let previous = self
            .circuit_open_until
            .swap(now + CIRCUIT_OPEN_NS, Ordering::Relaxed);
        if previous <= now {
            tracing::warn!(%error, "counters table failed: limits follow each stage's failure mode for a second");
        }
    }

    fn fields(level: &Level, bucket: &BucketState, now: u64) -> RateLimitFields {
        RateLimitFields {
            limit: u64::from(level.limit.burst),
            remaining: bucket.remaining(now),
            reset: bucket.refill_ns(now).div_ceil(SEC),
        }
    }

    /// One bucket: a leased token, a new lease, or a refusal.
    async fn pass(
        &self,
        level: &Level,
        now: u64,
        mode: LimitsFailureMode,
        admission: &mut Admission,
    ) -> Result<Option<RateLimitFields>, GatewayError> {
        let Some(shape) = Shape::of(level.limit) else {
            // A limit of 0 admits nothing, ever.
            let fields = RateLimitFields {
                limit: 0,
                remaining: 0,
                reset: 1,
            };
            return Err(throttled(1, Some(fields)));
        };
        {
            let mut state = self.state();
            // The id is cloned and the bucket built only the first time (or when its limit
            // changed): a known bucket costs one lookup.
            let known = state
                .buckets
                .get(&level.id)
                .is_some_and(|e| e.known.shape() == shape);
            if !known {
                prune(&mut state.buckets, |e| e.known.last_seen_ns, now);
                let seed = self.seed ^ crate::fnv1a(level.id.as_bytes());
                let entry = Entry::new(BucketState::new(shape, seed));
                state.buckets.insert(level.id.clone(), entry);
            }
            if let Some(entry) = state.buckets.get_mut(&level.id) {
                entry.known.arrive(now);
            }
        }
        // One lease in flight per bucket and instance (see `Flight`). A lease may still come
        // back short when other instances took the tokens first; the refreshed view decides.
        let mut rounds = Rounds::default();
        while rounds.left() {
            let lead = {
                let mut state = self.state();
                let entry = state.buckets.get_mut(&level.id);
                match entry {
                    Some(entry) => match entry.known.step(now, entry.flight.waiting()) {
                        Step::Admit => return Ok(Some(Self::fields(level, &entry.known, now))),
                        Step::Deny { retry_at_ns } => {
                            // This instance admits nothing more before `retry_at_ns`,
                            // whatever other shards may hold: that is what the client sees.
                            let fields = RateLimitFields {
                                remaining: 0,
                                reset: seconds_until(retry_at_ns, now),
                                ..Self::fields(level, &entry.known, now)
                            };
                            return Err(throttled(fields.reset, Some(fields)));
                        }
                        step => entry.flight.lead_or_join().map(|tx| (step, tx)),
                    },
                    None => break,
                }
            };
            let Some((step, _flight)) = rounds.lead(lead).await else {
                continue;
            };
            let Step::Lease {
                shard,
                count,
                idle_hint,
            } = step
            else {
                break;
            };
            let taken = match self.circuit_open(now) {
                true => Outcome::Fallback,
                false => {
                    let take = Take {
                        bucket: &level.id,
                        shard,
                        now_ns: now,
                        count,
                        interval_ns: shape.interval_ns,
                        burst: shape.burst,
                        idle_hint,
                    };
                    match self.counters.take(&take).await {
                        Ok(taken) => Outcome::Store(taken),
                        Err(error) => {
                            self.trip(now, &error);
                            Outcome::Fallback
                        }
                    }
                }
            };
            let mut state = self.state();
            let Some(Entry { known: bucket, .. }) = state.buckets.get_mut(&level.id) else {
                break;
            };
            match taken {
                Outcome::Store(Taken::Granted { tat_ns }) => {
                    bucket.granted(now, shard, count, tat_ns)
                }
                Outcome::Store(Taken::Short { tat_ns }) => bucket.short(shard, tat_ns),
                Outcome::Fallback => {
                    drop(state);
                    return self.fall_back(level, now, mode, admission);
                }
            }
        }
        Err(throttled(1, None))
    }

    /// The counters table failed: the stage's failure mode decides.
    fn fall_back(
        &self,
        level: &Level,
        now: u64,
        mode: LimitsFailureMode,
        admission: &mut Admission,
    ) -> Result<Option<RateLimitFields>, GatewayError> {
        admission.fallback = Some(mode);
        if mode == LimitsFailureMode::Closed {
            return Err(GatewayError::LimitsUnavailable {
                reason: format!("counters table unavailable at {}", level.id),
            });
        }
        let cap = self.settings.fail_open_rate;
        let limit = Limit {
            rate: level.limit.rate.min(cap),
            burst: level.limit.burst.min((cap.ceil() as u32).max(1)),
        };
        let mut state = self.state();
        prune(&mut state.local, |_| 0, now);
        let Some(bucket) = LocalBucket::new(limit) else {
            return Err(throttled(1, None));
        };
        let local = state.local.entry(level.id.clone()).or_insert(bucket);
        match local.take(now) {
            Ok(()) => Ok(None),
            Err(retry_at_ns) => Err(throttled(seconds_until(retry_at_ns, now), None)),
        }
    }

    /// Charges the request to its key's usage (and quota), or refuses it.
    async fn charge(
        &self,
        check: &QuotaCheck,
        now: u64,
        mode: LimitsFailureMode,
        admission: &mut Admission,
    ) -> Result<Option<RateLimitFields>, GatewayError> {
        let at = DateTime::<Utc>::from_timestamp_nanos(now as i64);
        let (period, allowance) = match &check.quota {
            Some(q) => {
                let period = quota::period(q.period, at);
                let allowance = quota::allowance(q, &period, check.plan_created);
                (period, Some(allowance))
            }
            None => (quota::period(QuotaPeriod::Day, at), None),
        };
        // The counter that decides is the day's itself unless the quota is weekly or monthly;
        // only then is the day's usage a second counter (needed only when charging).
        let daily = check.quota.is_none_or(|q| q.period == QuotaPeriod::Day);
        let period_end_ns = period.end.timestamp_nanos_opt().unwrap_or_default() as u64;
        let key = format!("{}|{}|{allowance:?}", check.counter, period.label);
        let fields = |state: &QuotaState| {
            allowance.map(|limit| RateLimitFields {
                limit,
                remaining: state.remaining().unwrap_or_default(),
                reset: seconds_until(period_end_ns, now),
            })
        };
        {
            let mut state = self.state();
            prune(&mut state.quotas, |q| q.known.last_seen_ns, now);
            state
                .quotas
                .entry(key.clone())
                .or_insert_with(|| Entry::new(QuotaState::new(allowance)))
                .known
                .arrive(now);
        }
        // One charge in flight per counter and instance (see `Flight`).
        let mut rounds = Rounds::default();
        while rounds.left() {
            let lead = {
                let mut state = self.state();
                let Some(entry) = state.quotas.get_mut(&key) else {
                    break;
                };
                match entry.known.step(entry.flight.waiting()) {
                    QuotaStep::Admit => return Ok(fields(&entry.known)),
                    QuotaStep::Exhausted => {
                        return Err(GatewayError::QuotaExceeded {
                            limits: LimitHeaders {
                                retry_after: Some(seconds_until(period_end_ns, now)),
                                rate_limit: fields(&entry.known),
                            },
                        });
                    }
                    QuotaStep::Charge { count } => {
                        entry.flight.lead_or_join().map(|tx| (count, tx))
                    }
                }
            };
            let Some((step, _flight)) = rounds.lead(lead).await else {
                continue;
            };
            if self.circuit_open(now) {
                return self.quota_fallback(mode, admission);
            }
            let expires_at = |end: DateTime<Utc>, keep_days: i64| {
                (end + chrono::Duration::days(keep_days)).timestamp().max(0) as u64
            };
            let charge = Charge {
                counter: &check.counter,
                period: &period.label,
                count: step,
                limit: allowance,
                expires_at: if daily {
                    expires_at(period.end, quota::USAGE_RETENTION_DAYS)
                } else {
                    expires_at(period.end, 1)
                },
            };
            let charged = match self.counters.charge(&charge).await {
                Ok(charged) => charged,
                Err(error) => {
                    self.trip(now, &error);
                    return self.quota_fallback(mode, admission);
                }
            };
            if let Charged::Charged { .. } = charged
                && !daily
            {
                // The day's usage, for reports; the quota's own counter has already decided.
                let day = quota::period(QuotaPeriod::Day, at);
                let usage = Charge {
                    counter: &check.counter,
                    period: &day.label,
                    count: step,
                    limit: None,
                    expires_at: expires_at(day.end, quota::USAGE_RETENTION_DAYS),
                };
                if let Err(error) = self.counters.charge(&usage).await {
                    tracing::warn!(%error, counter = %check.counter, "daily usage not counted");
                }
            }
            let mut state = self.state();
            let Some(Entry { known: counter, .. }) = state.quotas.get_mut(&key) else {
                break;
            };
            match charged {
                Charged::Charged { used } => {
                    counter.charged(step, used);
                    return Ok(fields(counter));
                }
                Charged::Exhausted { used } => counter.exhausted(used),
            }
        }
        Err(GatewayError::QuotaExceeded {
            limits: LimitHeaders {
                retry_after: Some(seconds_until(period_end_ns, now)),
                rate_limit: None,
            },
        })
    }

    fn quota_fallback(
        &self,
        mode: LimitsFailureMode,
        admission: &mut Admission,
    ) -> Result<Option<RateLimitFields>, GatewayError> {
        admission.fallback = Some(mode);
        match mode {
            // The buckets already cap what this instance admits while it cannot count.
            LimitsFailureMode::Open => Ok(None),
            LimitsFailureMode::Closed => Err(GatewayError::LimitsUnavailable {
                reason: "counters table unavailable for the quota".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
