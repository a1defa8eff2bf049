//! Throttles and quotas across front instances, on the counters table in dynalite: accuracy
//! under load, the quota boundary, the DynamoDB calls a hot key costs, and what happens when
//! the table goes away.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::Method;

use portico_gateway::Settings;
use portico_gateway::limits::bucket::{GRACE_NS, Limit};
use portico_gateway::limits::{Admitted, LimitSettings};
use portico_tests::dynamodb;
use portico_tests::fleet::{Fleet, get};
use serde_json::{Value, json};

const SEC: u64 = 1_000_000_000;

/// The tests here take turns: side by side on a small machine they would slow dynalite past
/// the front's counters timeouts, and measure that instead of the limiter.
static ONE_LOAD_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The status `offer` reports for a request the failure mode admitted.
const FALLBACK: u16 = 1;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

fn mock_api(api_key_required: bool) -> Value {
    json!({"name": "limited", "routes": [
        {"method": "GET", "path": "/items", "integration": {"type": "mock", "body": "ok"},
         "apiKeyRequired": api_key_required}
    ]})
}

fn settings(account: Option<Limit>) -> Settings {
    Settings {
        // No stage reloads mid-run: requests reach the limiter the moment they arrive.
        config_ttl: Duration::from_secs(600),
        limits: LimitSettings {
            account,
            fail_open_rate: 5.0,
        },
        ..Settings::default()
    }
}

/// Offers `rate` requests a second for `duration`, round robin over the fleet's instances;
/// returns each request's admission time (or answer time, if refused) and status.
async fn offer(
    fleet: &Fleet,
    path: &str,
    key: &str,
    rate: f64,
    duration: Duration,
) -> Vec<(u64, u16)> {
    let total = (rate * duration.as_secs_f64()) as usize;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // Late ticks fire at once: the offered count holds even when the timer lags.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        ticker.tick().await;
        let instance = fleet.instances[i % fleet.instances.len()].clone();
        let request = get(path, &[("x-api-key", key)]);
        tasks.spawn(async move {
            let response = instance.gateway.handle(request).await;
            // The limiter's own time for admitted requests (what its bound is about); the
            // time of the answer for refused ones.
            let admitted = response.extensions().get::<Admitted>().copied();
            let at = admitted.map_or_else(now_ns, |a| a.at_ns);
            let status = match admitted {
                // Admitted by the failure mode, not the shared bucket: a slow counters table.
                Some(a) if a.fallback => FALLBACK,
                _ => response.status().as_u16(),
            };
            (at, status)
        });
    }
    let mut results = Vec::with_capacity(total);
    while let Some(result) = tasks.join_next().await {
        results.push(result.expect("request task"));
    }
    results.sort_unstable();
    results
}

/// The most arrival times within any window of `window` nanoseconds.
fn busiest_window(times: &[u64], window: u64) -> usize {
    let (mut best, mut lo) = (0, 0);
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn calls(fleet: &Fleet) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for instance in &fleet.instances {
        for (operation, count) in instance.counter_calls.snapshot() {
            *total.entry(operation).or_default() += count;
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_instances_hold_a_shared_key_to_its_rate() {
    let _turn = ONE_LOAD_AT_A_TIME.lock().await;
    let fleet = Fleet::start_with(&dynamodb::endpoint(), 8, settings(None), true).await;
    let api = fleet.deploy(mock_api(true), "prod", Value::Null).await;
    let (rate, burst) = (100.0, 20);
    let plan = json!({"apiStages": [{"apiId": api, "stage": "prod"}],
        "throttle": {"rateLimit": rate, "burstLimit": burst}});
    let (_, _, hot_key) = fleet.keyed_plan(plan.clone()).await;
    let (_, _, steady_key) = fleet.keyed_plan(plan).await;
    let path = format!("/{api}/prod/items");
    // Every instance loads the stage and both keys first (the burst covers these).
    for instance in &fleet.instances {
        for key in [&hot_key, &steady_key] {
            let response = instance
                .gateway
                .handle(get(&path, &[("x-api-key", key)]))
                .await;
            assert_eq!(response.status(), 200);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // the burst refills, in part

    // Five times the key's rate for ten seconds.
    let results = offer(&fleet, &path, &hot_key, 5.0 * rate, Duration::from_secs(10)).await;
    let statuses: BTreeMap<u16, usize> = results.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.1).or_default() += 1;
        m
    });
    assert!(
        statuses.keys().all(|s| [200, 429, FALLBACK].contains(s)),
        "only admissions and throttles: {statuses:?}"
    );
    // A counters call slower than the front's timeouts counts as an outage (fail open): on a
    // loaded machine that may happen now and then, but it must stay rare.
    let fallbacks = statuses.get(&FALLBACK).copied().unwrap_or_default();
    assert!(fallbacks * 100 <= results.len(), "{statuses:?}");
    let admitted: Vec<u64> = results.iter().filter(|r| r.1 == 200).map(|r| r.0).collect();
    let busiest = busiest_window(&admitted, SEC);
    let goal = (rate * 1.02) as usize + burst;
    let bound = (rate * (1.0 + GRACE_NS as f64 / 1e9)) as usize + burst;
    let overload_calls = calls(&fleet);
    eprintln!(
        "5x the rate over 8 instances: {} offered, {} admitted, {fallbacks} by the failure mode, busiest second {busiest} (bound {bound}, goal {goal}), calls {overload_calls:?}",
        results.len(),
        admitted.len(),
    );
    assert!(
        busiest <= goal,
        "{busiest} admitted in one second; at most {goal}"
    );
    // The key still gets its rate: the bucket is not starved by contention.
    assert!(
        admitted.len() as f64 >= rate * 10.0 * 0.9,
        "{} admitted in 10 s",
        admitted.len()
    );

    // Just under the rate: almost nothing refused.
    let results = offer(
        &fleet,
        &path,
        &steady_key,
        0.95 * rate,
        Duration::from_secs(6),
    )
    .await;
    let refused = results.iter().filter(|r| r.1 != 200).count();
    eprintln!(
        "0.95x the rate over 8 instances: {} offered, {refused} refused",
        results.len()
    );
    assert!(
        refused * 100 <= results.len(),
        "{refused} of {} refused",
        results.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_admits_exactly_its_limit_across_instances() {
    let _turn = ONE_LOAD_AT_A_TIME.lock().await;
    let fleet = Fleet::start_with(&dynamodb::endpoint(), 8, settings(None), true).await;
    let api = fleet.deploy(mock_api(true), "prod", Value::Null).await;
    let limit = 200;
    let (plan, key_id, key) = fleet
        .keyed_plan(json!({"apiStages": [{"apiId": api, "stage": "prod"}],
            "quota": {"limit": limit, "period": "DAY"}}))
        .await;
    let path = format!("/{api}/prod/items");
    let mut statuses = Vec::new();
    // A key that arrives slowly: one request every 10 ms, taking turns over the instances.
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let mut last = None;
    for i in 0..(limit + 5) {
        ticker.tick().await;
        let instance = &fleet.instances[i % fleet.instances.len()];
        let response = instance
            .gateway
            .handle(get(&path, &[("x-api-key", &key)]))
            .await;
        statuses.push(response.status().as_u16());
        if i == limit {
            last = Some(response);
        }
    }
    assert!(
        statuses[..limit].iter().all(|s| *s == 200),
        "the first {limit} are served: {statuses:?}"
    );
    assert!(
        statuses[limit..].iter().all(|s| *s == 429),
        "the rest are refused: {:?}",
        &statuses[limit..]
    );
    let refused = last.expect("the request past the quota");
    assert_eq!(refused.body().as_ref(), br#"{"message":"Limit Exceeded"}"#);
    assert_eq!(
        refused.headers()["x-amzn-errortype"],
        "LimitExceededException"
    );
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    assert_eq!(
        refused.headers()["ratelimit-limit"],
        limit.to_string().as_str()
    );
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");

    // The counter in the table says the same, and so does the usage report.
    let today = chrono_today();
    let client = dynamodb::client().await;
    let item = client
        .get_item()
        .table_name(&fleet.counters_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("u#{plan}#{key_id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("D#{today}")),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read the counter")
        .item
        .expect("the day's counter");
    assert_eq!(
        item["used"].as_n().expect("a number"),
        &limit.to_string(),
        "no request past the quota was charged"
    );
    let report = fleet
        .admin(
            Method::GET,
            &format!("/usageplans/{plan}/usage?startDate={today}&endDate={today}"),
            None,
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(report.body["items"][&key_id], json!([[limit, 0]]));
    let member = fleet
        .admin(
            Method::GET,
            &format!("/usageplans/{plan}/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(member.status, 200, "{}", member.body);
    assert_eq!(member.body["quota"]["used"], json!(limit));
    assert_eq!(member.body["quota"]["remaining"], json!(0));
    let backwards = fleet
        .admin(
            Method::GET,
            &format!("/usageplans/{plan}/usage?startDate={today}&endDate=2020-01-01"),
            None,
        )
        .await;
    assert_eq!(backwards.status, 400);
    assert_eq!(backwards.body["problems"][0]["pointer"], "/query/endDate");
}

async fn import(fleet: &Fleet, csv: String) -> (u16, Value) {
    let response = fleet
        .admin
        .handle(portico_control::AdminRequest {
            method: Method::POST,
            path: "/apikeys/import".to_owned(),
            query: String::new(),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from(csv),
            caller: "test".to_owned(),
        })
        .await;
    let status = response.status().as_u16();
    let body: Value = serde_json::from_slice(response.body()).expect("JSON");
    (status, body)
}

async fn plan_for(fleet: &Fleet, name: &str, stages: &Value) -> String {
    let created = fleet
        .admin(
            Method::POST,
            "/usageplans",
            Some(json!({"name": name, "apiStages": stages})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().expect("plan").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_imported_from_csv_are_served_within_their_plans() {
    let _turn = ONE_LOAD_AT_A_TIME.lock().await;
    let fleet = Fleet::start(&dynamodb::endpoint(), 1, settings(None)).await;
    let api = fleet.deploy(mock_api(true), "prod", Value::Null).await;
    let stages = json!([{"apiId": api, "stage": "prod"}]);
    let plan_a = plan_for(&fleet, "a", &stages).await;
    let plan_b = plan_for(&fleet, "b", &stages).await;

    // A bad row refuses the whole file, naming the row and column; nothing is written.
    let csv = format!(
        "name,key,enabled\nfine,{},true\nbad,short,maybe\n",
        "a".repeat(30)
    );
    let (status, body) = import(&fleet, csv).await;
    assert_eq!(status, 400, "{body}");
    let pointers: Vec<&str> = body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["pointer"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(pointers, ["/rows/2/key", "/rows/2/enabled"], "{body}");

    let served = "Served-Key-0123456789abcdef";
    let disabled = "Disabled-Key-0123456789abcdef";
    let twice = "Twice-Key-0123456789abcdefgh";
    let csv = format!(
        "Name,Key,Description,Enabled,UsagePlanIds\n\
         served,{served},\"moved, from API Gateway\",TRUE,{plan_a}\n\
         disabled,{disabled},,false,{plan_a}\n\
         twice,{twice},,true,\"{plan_a};{plan_b}\"\n"
    );
    let (status, body) = import(&fleet, csv).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["ids"].as_array().map(Vec::len), Some(3));
    let warnings = body["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{body}");
    assert!(
        warnings[0].as_str().unwrap_or_default().contains(&plan_b),
        "a key is in one plan per stage: {body}"
    );
    // Importing the same value again skips it.
    let (status, body) = import(&fleet, format!("name,key\nagain,{served}\n")).await;
    assert_eq!(status, 201);
    assert_eq!(body["ids"], json!([]));
    assert_eq!(body["warnings"].as_array().map(Vec::len), Some(1));

    let path = format!("/{api}/prod/items");
    let gateway = &fleet.instances[0].gateway;
    for (value, expected) in [(served, 200), (twice, 200), (disabled, 403)] {
        let response = gateway.handle(get(&path, &[("x-api-key", value)])).await;
        assert_eq!(response.status(), expected, "{value}");
    }
}

fn chrono_today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_key_costs_few_writes_and_no_reads() {
    let _turn = ONE_LOAD_AT_A_TIME.lock().await;
    let fleet = Fleet::start_with(
        &dynamodb::endpoint(),
        1,
        settings(LimitSettings::default().account),
        true,
    )
    .await;
    let api = fleet.deploy(mock_api(true), "prod", Value::Null).await;
    let (_, _, key) = fleet
        .keyed_plan(json!({"apiStages": [{"apiId": api, "stage": "prod"}],
            "throttle": {"rateLimit": 5000, "burstLimit": 2500},
            "quota": {"limit": 100_000_000, "period": "MONTH"}}))
        .await;
    let path = format!("/{api}/prod/items");
    let instance = fleet.instances[0].clone();
    // The instance loads the stage and the key first, as one request would.
    let first = instance
        .gateway
        .handle(get(&path, &[("x-api-key", &key)]))
        .await;
    assert_eq!(first.status(), 200);

    // Below the key's rate (2,000 a second), then as fast as one instance goes (above it).
    // Requests are offered concurrently, as clients send them: a sequential loop would wait
    // out each lease's write, and on a slow machine measure its own pace instead of a hot key.
    for (label, paced) in [("2,000/s", true), ("flat out", false)] {
        // Lease sizes follow the rate the instance sees, which takes a moment to build up.
        let warm_until = Instant::now() + Duration::from_secs(2);
        let end = warm_until + Duration::from_secs(3);
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        let mut before = None;
        let mut tasks = tokio::task::JoinSet::new();
        let (mut requests, mut admitted) = (0u64, 0u64);
        let mut tally = |done: Result<(bool, http::Response<bytes::Bytes>), _>| {
            let (measuring, response) = done.expect("request task");
            let status = response.status();
            if status == 429 && std::env::var("DEBUG_LIMITS").is_ok() {
                eprintln!("{label} 429 {:?} {:?}", response.body(), response.headers());
            }
            assert!(
                status == 200 || status == 429,
                "{status} {:?}",
                response.body()
            );
            if measuring {
                requests += 1;
                admitted += u64::from(status == 200);
            }
        };
        while Instant::now() < end {
            let measuring = Instant::now() >= warm_until;
            if measuring && before.is_none() {
                before = Some(instance.counter_calls.snapshot());
            }
            let batch = if paced {
                ticker.tick().await;
                2
            } else {
                64
            };
            for _ in 0..batch {
                let (instance, request) = (instance.clone(), get(&path, &[("x-api-key", &key)]));
                tasks.spawn(async move {
                    let response = instance.gateway.handle(request).await;
                    (measuring, response)
                });
            }
            if !paced {
                // As fast as the instance answers: 64 at a time.
                while let Some(done) = tasks.join_next().await {
                    tally(done);
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            tally(done);
        }
        let before = before.unwrap_or_default();
        let after = instance.counter_calls.snapshot();
        let delta = |op: &str| {
            after.get(op).copied().unwrap_or_default() - before.get(op).copied().unwrap_or_default()
        };
        let (writes, reads) = (delta("UpdateItem"), delta("GetItem") + delta("Query"));
        eprintln!(
            "hot key, {label}: {requests} requests ({admitted} admitted) in 3 s, {writes} UpdateItem, {reads} reads: {:.4} writes per request, {:.4} per admitted",
            writes as f64 / requests as f64,
            writes as f64 / admitted.max(1) as f64
        );
        assert!(admitted > 0);
        assert!(
            writes as f64 <= 0.02 * requests as f64,
            "{writes} writes for {requests} requests"
        );
        assert_eq!(reads, 0, "no reads of the counters table at steady state");
    }
}

/// A dynalite of the test's own, to stop mid-run.
struct OwnDynalite {
    child: tokio::process::Child,
    endpoint: String,
}

impl OwnDynalite {
    async fn start() -> OwnDynalite {
        let cli = portico_tests::required_env("PORTICO_TEST_DYNALITE_CLI");
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("address").port()
        };
        let child = tokio::process::Command::new("node")
            .arg(&cli)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start dynalite");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "dynalite did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        OwnDynalite { child, endpoint }
    }

    async fn stop(&mut self) {
        self.child.kill().await.expect("stop dynalite");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_counters_table_goes_away_stages_fail_open_or_closed() {
    let _turn = ONE_LOAD_AT_A_TIME.lock().await;
    let mut dynalite = OwnDynalite::start().await;
    let fleet = Fleet::start(
        &dynalite.endpoint,
        2,
        settings(LimitSettings::default().account),
    )
    .await;
    let throttle = json!({"throttle": {"rateLimit": 1000, "burstLimit": 100}});
    let open_api = fleet
        .deploy(mock_api(false), "prod", throttle.clone())
        .await;
    let mut closed = throttle;
    closed["limitsFailureMode"] = json!("CLOSED");
    let closed_api = fleet.deploy(mock_api(false), "prod", closed).await;
    let open_path = format!("/{open_api}/prod/items");
    let closed_path = format!("/{closed_api}/prod/items");
    // Both served while the table is there (and their config is now cached).
    for instance in &fleet.instances {
        for path in [&open_path, &closed_path] {
            let response = instance.gateway.handle(get(path, &[])).await;
            assert_eq!(response.status(), 200, "{path}");
            assert!(response.headers().contains_key("ratelimit-remaining"));
        }
    }

    dynalite.stop().await;

    for instance in &fleet.instances {
        // Fail closed: 503 with Retry-After, never a free request.
        let response = instance.gateway.handle(get(&closed_path, &[])).await;
        assert_eq!(response.status(), 503);
        assert_eq!(
            response.body().as_ref(),
            br#"{"message":"Service Unavailable"}"#
        );
        assert_eq!(response.headers()["retry-after"], "1");
        // Fail open: served within the instance's own cap (5 a second here), then 429.
        let mut statuses = Vec::new();
        for _ in 0..8 {
            statuses.push(
                instance
                    .gateway
                    .handle(get(&open_path, &[]))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        assert_eq!(&statuses[..5], [200; 5], "{statuses:?}");
        assert_eq!(&statuses[5..], [429; 3], "{statuses:?}");
    }
}
