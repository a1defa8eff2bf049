use std::sync::atomic::{AtomicU64, Ordering};

use super::memory::MemoryCounters;
use super::*;

const T0: u64 = 1_795_000_000 * SEC;

struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn limiter(settings: LimitSettings) -> (Limiter, Arc<MemoryCounters>, Arc<ManualClock>) {
    let counters = Arc::new(MemoryCounters::default());
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    (
        Limiter::new(counters.clone(), clock.clone(), settings),
        counters,
        clock,
    )
}

fn level(id: &str, rate: f64, burst: u32, kind: LevelKind) -> Level {
    Level {
        id: id.to_owned(),
        limit: Limit { rate, burst },
        kind,
    }
}

fn no_account() -> LimitSettings {
    LimitSettings {
        account: None,
        fail_open_rate: 3.0,
    }
}

#[tokio::test]
async fn the_first_empty_bucket_refuses_with_retry_after_and_its_fields() {
    let (limiter, counters, clock) = limiter(no_account());
    let levels = [
        level("b#plan-route", 1.0, 2, LevelKind::PlanRoute),
        level("b#stage", 100.0, 100, LevelKind::Stage),
    ];
    let open = LimitsFailureMode::Open;
    let first = limiter.admit(&levels, None, open).await.expect("admitted");
    let fields = first.headers.rate_limit.expect("fields");
    assert_eq!(fields.limit, 2, "the tighter bucket is reported");
    assert_eq!(fields.remaining, 1);
    limiter.admit(&levels, None, open).await.expect("burst 2");
    let refused = limiter.admit(&levels, None, open).await.expect_err("empty");
    let GatewayError::Throttled { limits } = &refused else {
        panic!("{refused:?}");
    };
    assert_eq!(limits.retry_after, Some(1));
    assert_eq!(limits.rate_limit.map(|f| f.remaining), Some(0));
    let response = refused.to_response();
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.body().as_ref(),
        br#"{"message":"Too Many Requests"}"#
    );
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["ratelimit-limit"], "2");
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "TooManyRequestsException"
    );
    // The refusal cost no write: the instance knew the bucket was empty.
    let calls = counters.calls.load(Ordering::Relaxed);
    limiter
        .admit(&levels, None, open)
        .await
        .expect_err("still empty");
    assert_eq!(counters.calls.load(Ordering::Relaxed), calls);
    clock.0.store(T0 + SEC, Ordering::Relaxed);
    limiter.admit(&levels, None, open).await.expect("refilled");
}

#[tokio::test]
async fn a_quota_refuses_the_request_past_it_until_the_period_ends() {
    let (limiter, counters, _clock) = limiter(no_account());
    let check = QuotaCheck {
        counter: "u#p1#k1".to_owned(),
        quota: Some(Quota {
            limit: 3,
            period: QuotaPeriod::Day,
            offset: 0,
        }),
        plan_created: None,
    };
    for remaining in [2, 1, 0] {
        let admitted = limiter
            .admit(&[], Some(&check), LimitsFailureMode::Open)
            .await
            .expect("within the quota");
        assert_eq!(
            admitted.headers.rate_limit.map(|f| f.remaining),
            Some(remaining)
        );
    }
    let refused = limiter
        .admit(&[], Some(&check), LimitsFailureMode::Open)
        .await
        .expect_err("the fourth");
    let response = refused.to_response();
    assert_eq!(response.status(), 429);
    assert_eq!(response.body().as_ref(), br#"{"message":"Limit Exceeded"}"#);
    let day_end = quota::period(
        QuotaPeriod::Day,
        DateTime::<Utc>::from_timestamp_nanos(T0 as i64),
    )
    .end
    .timestamp() as u64;
    assert_eq!(
        response.headers()["retry-after"],
        (day_end - T0 / SEC).to_string().as_str()
    );
    let day = quota::period(
        QuotaPeriod::Day,
        DateTime::<Utc>::from_timestamp_nanos(T0 as i64),
    );
    assert_eq!(counters.used("u#p1#k1", &day.label), 3);
}

#[tokio::test]
async fn week_and_month_quotas_also_count_the_day() {
    let (limiter, counters, _clock) = limiter(no_account());
    let check = QuotaCheck {
        counter: "u#p1#k1".to_owned(),
        quota: Some(Quota {
            limit: 10,
            period: QuotaPeriod::Month,
            offset: 0,
        }),
        plan_created: None,
    };
    limiter
        .admit(&[], Some(&check), LimitsFailureMode::Open)
        .await
        .expect("admitted");
    let at = DateTime::<Utc>::from_timestamp_nanos(T0 as i64);
    let month = quota::period(QuotaPeriod::Month, at);
    let day = quota::period(QuotaPeriod::Day, at);
    assert_eq!(counters.used("u#p1#k1", &month.label), 1);
    assert_eq!(counters.used("u#p1#k1", &day.label), 1);
}

#[tokio::test]
async fn failing_open_admits_within_the_local_cap_and_says_so() {
    let (limiter, counters, clock) = limiter(no_account());
    counters.down.store(true, Ordering::Relaxed);
    let levels = [level("b#stage", 1_000.0, 1_000, LevelKind::Stage)];
    for _ in 0..3 {
        let admitted = limiter
            .admit(&levels, None, LimitsFailureMode::Open)
            .await
            .expect("fail open");
        assert_eq!(admitted.fallback, Some(LimitsFailureMode::Open));
    }
    let refused = limiter
        .admit(&levels, None, LimitsFailureMode::Open)
        .await
        .expect_err("the cap is 3 a second");
    assert!(matches!(refused, GatewayError::Throttled { .. }));
    assert_eq!(
        counters.calls.load(Ordering::Relaxed),
        1,
        "after one failure the table is left alone for a second"
    );
    counters.down.store(false, Ordering::Relaxed);
    clock.0.store(T0 + CIRCUIT_OPEN_NS + 1, Ordering::Relaxed);
    let back = limiter
        .admit(&levels, None, LimitsFailureMode::Open)
        .await
        .expect("the table is back");
    assert_eq!(back.fallback, None);
}

#[tokio::test]
async fn failing_closed_answers_503() {
    let (limiter, counters, _clock) = limiter(no_account());
    counters.down.store(true, Ordering::Relaxed);
    let check = QuotaCheck {
        counter: "u#paid#k1".to_owned(),
        quota: Some(Quota {
            limit: 1_000,
            period: QuotaPeriod::Month,
            offset: 0,
        }),
        plan_created: None,
    };
    let refused = limiter
        .admit(&[], Some(&check), LimitsFailureMode::Closed)
        .await
        .expect_err("fail closed");
    let response = refused.to_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.body().as_ref(),
        br#"{"message":"Service Unavailable"}"#
    );
}

#[tokio::test]
async fn a_zero_limit_admits_nothing() {
    let (limiter, counters, _clock) = limiter(no_account());
    let refused = limiter
        .admit(
            &[level("b#blocked", 0.0, 0, LevelKind::StageRoute)],
            None,
            LimitsFailureMode::Open,
        )
        .await
        .expect_err("blocked");
    assert!(matches!(refused, GatewayError::Throttled { .. }));
    assert_eq!(counters.calls.load(Ordering::Relaxed), 0);
}

/// A burst on a cold instance over a slow table: one write on its way per counter at a
/// time, and the requests that arrive meanwhile share what it brings back instead of each
/// racing it with a write of their own.
#[tokio::test(start_paused = true)]
async fn a_burst_shares_one_write_at_a_time_per_counter() {
    let (limiter, counters, _clock) = limiter(no_account());
    counters.delay_ms.store(20, Ordering::Relaxed);
    let limiter = Arc::new(limiter);
    let levels = Arc::new([level("b#hot", 1_000.0, 500, LevelKind::Plan)]);
    let check = Arc::new(QuotaCheck {
        counter: "u#p1#k1".to_owned(),
        quota: None,
        plan_created: None,
    });
    let burst = 64;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..burst {
        let (limiter, levels, check) = (limiter.clone(), levels.clone(), check.clone());
        tasks.spawn(async move {
            limiter
                .admit(&levels[..], Some(&check), LimitsFailureMode::Open)
                .await
        });
    }
    let mut admitted = 0;
    while let Some(done) = tasks.join_next().await {
        done.expect("request task").expect("within the burst");
        admitted += 1;
    }
    assert_eq!(admitted, burst);
    assert_eq!(counters.takes.most.load(Ordering::SeqCst), 1);
    assert_eq!(counters.charges.most.load(Ordering::SeqCst), 1);
    let calls = counters.calls.load(Ordering::SeqCst);
    assert!(calls <= 8, "{calls} calls for {burst} requests");
    // Usage is charged ahead of use by at most what the last charge leased.
    let day = quota::period(
        QuotaPeriod::Day,
        DateTime::<Utc>::from_timestamp_nanos(T0 as i64),
    );
    let used = counters.used("u#p1#k1", &day.label);
    assert!((burst..=2 * burst).contains(&used), "{used} charged");
}
