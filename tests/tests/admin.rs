//! The admin API in process, over the DynamoDB store on dynalite: what operators see.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use portico_control::{Admin, AdminRequest};
use portico_model::ports::{Listing, Page, Record, RecordKind, StoreError};
use portico_store::clients::Role;
use portico_store::dynamo::DynamoConfigStore;
use portico_tests::dynamodb;
use serde_json::{Value, json};

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn call(
    admin: &Admin,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Reply {
    let mut headers = HeaderMap::new();
    if let Some(tag) = if_match {
        headers.insert("if-match", HeaderValue::from_str(tag).expect("header"));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let response = admin
        .handle(AdminRequest {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: body.map(|b| Bytes::from(b.to_string())).unwrap_or_default(),
            caller: "test".to_owned(),
        })
        .await;
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(response.body()).expect("admin answers JSON"),
    }
}

async fn admin() -> Admin {
    let (store, _) = dynamodb::fresh_config_store().await;
    Admin::new(Arc::new(store))
}

fn pets() -> Value {
    json!({"name": "pets", "routes": [
        {"method": "GET", "path": "/pets/{id}", "integration": {"type": "aws_proxy", "uri": "echo"}}
    ]})
}

#[tokio::test]
async fn create_read_update_with_etags() {
    let admin = admin().await;
    let created = call(&admin, Method::POST, "/apis", Some(pets()), None).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.headers["etag"], "\"1\"");
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 10);

    let read = call(&admin, Method::GET, &format!("/apis/{id}"), None, None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["definition"]["routes"][0]["path"], "/pets/{id}");

    let mut changed = pets();
    changed["description"] = json!("v2");
    let updated = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}"),
        Some(changed.clone()),
        Some("\"1\""),
    )
    .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["version"], 2);

    let stale = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}"),
        Some(changed),
        Some("\"1\""),
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.body["currentVersion"], 2);

    let listed = call(&admin, Method::GET, "/apis?limit=10", None, None).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_bad_definition_lists_every_problem_by_pointer() {
    let admin = admin().await;
    let bad = json!({"name": "", "routes": [
        {"method": "GET", "path": "/a/{x}", "integration": {"type": "http_proxy", "uri": "ftp://x"}},
        {"method": "GET", "path": "/a/{y}", "integration": {"type": "aws_proxy", "uri": "arn:aws:s3:::bucket"}}
    ]});
    let reply = call(&admin, Method::POST, "/apis", Some(bad), None).await;
    assert_eq!(reply.status, 400);
    let pointers: Vec<&str> = reply.body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["pointer"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        pointers,
        [
            "/name",
            "/routes/0/integration/uri",
            "/routes/1/path",
            "/routes/1/integration/uri"
        ]
    );

    let typo = call(&admin, Method::POST, "/apis", Some(json!({"name": "x", "routes": [{"method": "GET", "path": "/", "integration": {"type": "mock", "statuscode": 200}}]})), None).await;
    assert_eq!(typo.status, 400);
    assert_eq!(
        typo.body["problems"][0]["pointer"],
        "/routes/0/integration/statuscode"
    );
    assert!(
        typo.body["problems"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("statuscode")
    );

    let not_json = admin
        .handle(AdminRequest {
            method: Method::POST,
            path: "/apis".into(),
            query: String::new(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{\"name\": "),
            caller: "test".into(),
        })
        .await;
    assert_eq!(not_json.status(), 400);
}

#[tokio::test]
async fn twenty_concurrent_writers_lose_no_update() {
    let admin = Arc::new(admin().await);
    let created = call(&admin, Method::POST, "/apis", Some(pets()), None).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let mut writers = Vec::new();
    for writer in 0..20 {
        let admin = admin.clone();
        let id = id.clone();
        writers.push(tokio::spawn(async move {
            // Read, add this writer's route, write back naming the version read; on 412, again.
            for _attempt in 0..200 {
                let read = call(&admin, Method::GET, &format!("/apis/{id}"), None, None).await;
                let version = read.body["version"].as_u64().expect("version");
                let mut definition = read.body["definition"].clone();
                definition["routes"].as_array_mut().expect("routes").push(json!({
                    "method": "GET", "path": format!("/writer{writer}"), "integration": {"type": "mock"}
                }));
                let tag = format!("\"{version}\"");
                let put = call(&admin, Method::PUT, &format!("/apis/{id}"), Some(definition), Some(&tag)).await;
                match put.status {
                    200 => return,
                    412 => continue,
                    other => panic!("unexpected {other}: {}", put.body),
                }
            }
            panic!("writer {writer} never got its update in");
        }));
    }
    for writer in writers {
        writer.await.expect("writer finished");
    }
    let last = call(&admin, Method::GET, &format!("/apis/{id}"), None, None).await;
    assert_eq!(last.body["version"], 21);
    let routes = last.body["definition"]["routes"]
        .as_array()
        .expect("routes");
    for writer in 0..20 {
        let path = format!("/writer{writer}");
        assert!(
            routes.iter().any(|r| r["path"] == path.as_str()),
            "{path} was lost"
        );
    }
}

#[tokio::test]
async fn deploy_compiles_snapshots_and_moves_the_stage() {
    let admin = admin().await;
    let empty = call(
        &admin,
        Method::POST,
        "/apis",
        Some(json!({"name": "empty"})),
        None,
    )
    .await;
    let empty_id = empty.body["id"].as_str().expect("id").to_owned();
    let refused = call(
        &admin,
        Method::POST,
        &format!("/apis/{empty_id}/deployments"),
        Some(json!({"stageName": "prod"})),
        None,
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["problems"][0]["pointer"], "/definition/routes");

    let created = call(&admin, Method::POST, "/apis", Some(pets()), None).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let first = call(
        &admin,
        Method::POST,
        &format!("/apis/{id}/deployments"),
        Some(json!({"stageName": "prod", "variables": {"alias": "live"}})),
        None,
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let first_id = first.body["id"].as_str().expect("id").to_owned();
    assert_eq!(first.body["stage"]["deploymentId"], first_id.as_str());
    assert_eq!(first.body["stage"]["variables"]["alias"], "live");

    let second = call(
        &admin,
        Method::POST,
        &format!("/apis/{id}/deployments"),
        Some(json!({"stageName": "prod", "description": "again"})),
        None,
    )
    .await;
    let second_id = second.body["id"].as_str().expect("id").to_owned();
    assert!(second_id > first_id, "deployment ids are time-ordered");
    assert_eq!(second.body["stage"]["version"], 2);
    assert_eq!(
        second.body["stage"]["variables"]["alias"], "live",
        "variables survive a redeploy"
    );

    // Roll back by pointing the stage at the first deployment again.
    let back = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/stages/prod"),
        Some(json!({"deploymentId": first_id})),
        Some("\"2\""),
    )
    .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(back.body["deploymentId"], first_id.as_str());

    let nowhere = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/stages/prod"),
        Some(json!({"deploymentId": "01NOPE"})),
        None,
    )
    .await;
    assert_eq!(nowhere.status, 400);
    assert_eq!(nowhere.body["problems"][0]["pointer"], "/deploymentId");

    let bad_vars = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/stages/prod"),
        Some(json!({"deploymentId": first_id, "variables": {"a-b": "x", "ok": "y".repeat(513)}})),
        None,
    )
    .await;
    assert_eq!(bad_vars.status, 400);
    let pointers: Vec<&str> = bad_vars.body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["pointer"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(pointers, ["/variables/a-b", "/variables/ok"]);

    let listed = call(
        &admin,
        Method::GET,
        &format!("/apis/{id}/deployments"),
        None,
        None,
    )
    .await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, [second_id.as_str(), first_id.as_str()]);
}

#[tokio::test]
async fn unknown_paths_methods_and_resources() {
    let admin = admin().await;
    assert_eq!(
        call(&admin, Method::GET, "/nope", None, None).await.status,
        404
    );
    let wrong = call(&admin, Method::DELETE, "/apis", None, None).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.headers["allow"], "GET, POST");
    assert_eq!(
        call(&admin, Method::GET, "/apis/zzzzzzzzzz", None, None)
            .await
            .status,
        404
    );
    assert_eq!(
        call(&admin, Method::GET, "/apis/bad%23id", None, None)
            .await
            .status,
        404
    );
    assert_eq!(
        call(&admin, Method::GET, "/apis?limit=9999", None, None)
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn an_unreachable_store_answers_503_and_writes_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let client = dynamodb::client_for(&format!("http://127.0.0.1:{port}"), Role::Front).await;
    let admin = Admin::new(Arc::new(DynamoConfigStore::new(client, "portico-config")));
    let reply = call(&admin, Method::POST, "/apis", Some(pets()), None).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.headers["retry-after"], "1");
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was changed")
    );
}

async fn deployed_api(admin: &Admin, definition: Value, stage_body: Value) -> (String, String) {
    let created = call(admin, Method::POST, "/apis", Some(definition), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let deployed = call(
        admin,
        Method::POST,
        &format!("/apis/{id}/deployments"),
        Some(stage_body),
        None,
    )
    .await;
    assert_eq!(deployed.status, 201, "{}", deployed.body);
    (id, deployed.body["id"].as_str().expect("id").to_owned())
}

#[tokio::test]
async fn canary_promote_rollback_and_delete() {
    let admin = admin().await;
    let (id, first) = deployed_api(
        &admin,
        pets(),
        json!({"stageName": "prod", "variables": {"alias": "live"}}),
    )
    .await;

    // Deploy as a canary: the stage keeps serving the first deployment.
    let canary = call(&admin, Method::POST, &format!("/apis/{id}/deployments"), Some(json!({
        "stageName": "prod", "description": "canary",
        "canary": {"percentTraffic": 12.5, "stageVariableOverrides": {"alias": "next"}, "assignment": "STICKY_SOURCE_IP"}
    })), None).await;
    assert_eq!(canary.status, 201, "{}", canary.body);
    let second = canary.body["id"].as_str().expect("id").to_owned();
    assert_eq!(canary.body["stage"]["deploymentId"], first.as_str());
    assert_eq!(
        canary.body["stage"]["canary"]["deploymentId"],
        second.as_str()
    );
    assert_eq!(canary.body["stage"]["canary"]["percentTraffic"], 12.5);

    let bad = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/stages/prod"),
        Some(json!({"canary": {"deploymentId": second, "percentTraffic": 150}})),
        None,
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["problems"][0]["pointer"], "/canary/percentTraffic");

    let promoted = call(
        &admin,
        Method::POST,
        &format!("/apis/{id}/stages/prod/promote"),
        None,
        Some("\"2\""),
    )
    .await;
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    assert_eq!(promoted.body["deploymentId"], second.as_str());
    assert_eq!(
        promoted.body["variables"]["alias"], "next",
        "the canary's overrides become the stage's"
    );
    assert!(promoted.body.get("canary").is_none());
    assert_eq!(promoted.body["previousDeploymentId"], first.as_str());

    let again = call(
        &admin,
        Method::POST,
        &format!("/apis/{id}/stages/prod/promote"),
        None,
        None,
    )
    .await;
    assert_eq!(again.status, 409, "nothing left to promote");

    let rolled = call(
        &admin,
        Method::POST,
        &format!("/apis/{id}/stages/prod/rollback"),
        None,
        None,
    )
    .await;
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(rolled.body["deploymentId"], first.as_str());

    let stale = call(
        &admin,
        Method::DELETE,
        &format!("/apis/{id}/stages/prod"),
        None,
        Some("\"1\""),
    )
    .await;
    assert_eq!(stale.status, 412);
    let deleted = call(
        &admin,
        Method::DELETE,
        &format!("/apis/{id}/stages/prod"),
        None,
        Some("\"4\""),
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        call(
            &admin,
            Method::GET,
            &format!("/apis/{id}/stages/prod"),
            None,
            None
        )
        .await
        .status,
        404
    );

    // Every change is in the audit trail, newest first, with its versions.
    let audit = call(&admin, Method::GET, "/audit?limit=50", None, None).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| {
            e["resource"]
                .as_str()
                .is_some_and(|r| r.starts_with(&format!("/apis/{id}")))
        })
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "DeleteStage",
            "RollbackStage",
            "PromoteCanary",
            "PutStage",
            "CreateDeployment",
            "PutStage",
            "CreateDeployment",
            "CreateApi",
        ]
    );
    let delete_entry = &audit.body["items"][0];
    assert_eq!(delete_entry["caller"], "test");
    assert_eq!(delete_entry["beforeVersion"], 4);
    assert!(delete_entry.get("afterVersion").is_none());
    assert_eq!(
        call(&admin, Method::GET, "/audit?since=yesterday", None, None)
            .await
            .status,
        400
    );
    let future = call(
        &admin,
        Method::GET,
        "/audit?since=2999-01-01T00:00:00Z",
        None,
        None,
    )
    .await;
    assert_eq!(future.body["items"], json!([]));
}

#[tokio::test]
async fn stage_settings_patch_and_variable_warnings() {
    let admin = admin().await;
    let definition = json!({"name": "vars", "routes": [
        {"method": "GET", "path": "/", "integration": {"type": "aws_proxy", "uri": "fn-${stageVariables.env}"}}
    ]});
    let created = call(&admin, Method::POST, "/apis", Some(definition), None).await;
    assert_eq!(
        created.body["warnings"][0]["pointer"], "/routes/0/integration/uri",
        "no stage defines env yet"
    );
    let id = created.body["id"].as_str().expect("id").to_owned();

    let deployed = call(
        &admin,
        Method::POST,
        &format!("/apis/{id}/deployments"),
        Some(json!({"stageName": "dev"})),
        None,
    )
    .await;
    assert_eq!(deployed.status, 201);
    assert_eq!(deployed.body["warnings"][0]["pointer"], "/variables");

    let set = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/stages/dev"),
        Some(json!({
            "variables": {"env": "dev"}, "throttle": {"rateLimit": 100, "burstLimit": 50},
            "methodSettings": {"GET /": {"cacheTtlInSeconds": 60}}, "cache": {"enabled": true}
        })),
        None,
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert!(set.body.get("warnings").is_none());
    assert_eq!(set.body["throttle"]["rateLimit"], 100.0);
    assert_eq!(set.body["cache"]["ttlInSeconds"], 300);

    // Absent keeps a setting, null clears it.
    let cleared = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/stages/dev"),
        Some(json!({"throttle": null})),
        None,
    )
    .await;
    assert!(cleared.body.get("throttle").is_none());
    assert_eq!(cleared.body["cache"]["enabled"], true);
    assert_eq!(cleared.body["variables"]["env"], "dev");

    let invalid = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/stages/dev"),
        Some(json!({
            "methodSettings": {"FETCH /x": {}}, "cache": {"enabled": true, "ttlInSeconds": 4000}
        })),
        None,
    )
    .await;
    let pointers: Vec<&str> = invalid.body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["pointer"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        pointers,
        ["/methodSettings/FETCH ~1x", "/cache/ttlInSeconds"]
    );

    let no_deployment = call(
        &admin,
        Method::PUT,
        &format!("/apis/{id}/stages/new"),
        Some(json!({"variables": {}})),
        None,
    )
    .await;
    assert_eq!(no_deployment.status, 400);
    assert_eq!(
        no_deployment.body["problems"][0]["pointer"],
        "/deploymentId"
    );
}

#[tokio::test]
async fn api_keys_are_shown_once_and_stored_hashed() {
    let (store, _) = dynamodb::fresh_config_store().await;
    let store = Arc::new(store);
    let admin = Admin::new(store.clone());
    let created = call(
        &admin,
        Method::POST,
        "/apikeys",
        Some(json!({"name": "partner"})),
        None,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let value = created.body["value"]
        .as_str()
        .expect("the value, once")
        .to_owned();
    assert_eq!(value.len(), 40);
    let id = created.body["id"].as_str().expect("id").to_owned();

    let read = call(&admin, Method::GET, &format!("/apikeys/{id}"), None, None).await;
    assert!(
        read.body.get("value").is_none(),
        "the value is never shown again"
    );
    assert!(!read.body.to_string().contains(&value));
    use portico_model::ports::{ConfigStore, RecordKind};
    let stored = store
        .record(RecordKind::ApiKey, &id)
        .await
        .expect("read")
        .expect("present");
    assert!(
        !stored.body.to_string().contains(&value),
        "only the hash is stored"
    );
    assert_eq!(
        stored.body["valueHash"],
        portico_control::keys::hash_value(&value)
    );
    let by_hash = store
        .record(
            RecordKind::ApiKeyHash,
            &portico_control::keys::hash_value(&value),
        )
        .await
        .expect("read");
    assert_eq!(by_hash.expect("found by hash").body["keyId"], id.as_str());

    let imported = call(
        &admin,
        Method::POST,
        "/apikeys",
        Some(json!({"name": "moved", "value": "abcdefghij0123456789"})),
        None,
    )
    .await;
    assert_eq!(imported.status, 201);
    let twice = call(
        &admin,
        Method::POST,
        "/apikeys",
        Some(json!({"name": "dup", "value": "abcdefghij0123456789"})),
        None,
    )
    .await;
    assert_eq!(twice.status, 409, "two keys never share a value");
    let short = call(
        &admin,
        Method::POST,
        "/apikeys",
        Some(json!({"name": "x", "value": "short"})),
        None,
    )
    .await;
    assert_eq!(short.body["problems"][0]["pointer"], "/value");

    let disabled = call(
        &admin,
        Method::PUT,
        &format!("/apikeys/{id}"),
        Some(json!({"enabled": false})),
        Some("\"1\""),
    )
    .await;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.body["enabled"], false);
    assert_eq!(
        call(&admin, Method::GET, "/apikeys", None, None).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn a_key_belongs_to_one_plan_per_stage() {
    let admin = admin().await;
    let (api, _) = deployed_api(&admin, pets(), json!({"stageName": "prod"})).await;
    call(
        &admin,
        Method::POST,
        &format!("/apis/{api}/deployments"),
        Some(json!({"stageName": "beta"})),
        None,
    )
    .await;
    let key = call(
        &admin,
        Method::POST,
        "/apikeys",
        Some(json!({"name": "k"})),
        None,
    )
    .await
    .body["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let nowhere = call(
        &admin,
        Method::POST,
        "/usageplans",
        Some(json!({"name": "bad", "apiStages": [{"apiId": api, "stage": "nope"}]})),
        None,
    )
    .await;
    assert_eq!(nowhere.status, 400);
    assert_eq!(nowhere.body["problems"][0]["pointer"], "/apiStages/0/stage");

    let plan = |name: &str, stage: &str| {
        json!({"name": name, "apiStages": [{"apiId": api, "stage": stage, "throttle": {"GET /pets/{id}": {"rateLimit": 5, "burstLimit": 10}}}],
        "throttle": {"rateLimit": 100, "burstLimit": 200}, "quota": {"limit": 1000, "period": "DAY"}})
    };
    let gold = call(
        &admin,
        Method::POST,
        "/usageplans",
        Some(plan("gold", "prod")),
        None,
    )
    .await;
    assert_eq!(gold.status, 201, "{}", gold.body);
    let gold = gold.body["id"].as_str().expect("id").to_owned();
    let silver = call(
        &admin,
        Method::POST,
        "/usageplans",
        Some(plan("silver", "prod")),
        None,
    )
    .await
    .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let beta = call(
        &admin,
        Method::POST,
        "/usageplans",
        Some(plan("beta", "beta")),
        None,
    )
    .await
    .body["id"]
        .as_str()
        .expect("id")
        .to_owned();

    assert_eq!(
        call(
            &admin,
            Method::POST,
            &format!("/usageplans/{gold}/keys"),
            Some(json!({"keyId": key})),
            None
        )
        .await
        .status,
        201
    );
    let second = call(
        &admin,
        Method::POST,
        &format!("/usageplans/{silver}/keys"),
        Some(json!({"keyId": key})),
        None,
    )
    .await;
    assert_eq!(
        second.status, 409,
        "same stage in another plan: {}",
        second.body
    );
    assert_eq!(
        call(
            &admin,
            Method::POST,
            &format!("/usageplans/{beta}/keys"),
            Some(json!({"keyId": key})),
            None
        )
        .await
        .status,
        201,
        "another stage is fine"
    );
    assert_eq!(
        call(
            &admin,
            Method::POST,
            &format!("/usageplans/{gold}/keys"),
            Some(json!({"keyId": key})),
            None
        )
        .await
        .status,
        409,
        "already a member"
    );

    // Moving the beta plan onto prod would put the key in two plans for prod.
    let clash = call(
        &admin,
        Method::PUT,
        &format!("/usageplans/{beta}"),
        Some(plan("beta", "prod")),
        None,
    )
    .await;
    assert_eq!(clash.status, 409);

    let members = call(
        &admin,
        Method::GET,
        &format!("/usageplans/{gold}/keys"),
        None,
        None,
    )
    .await;
    assert_eq!(members.body["items"][0]["id"], key.as_str());
    // Deleting the key removes it from its plans.
    assert_eq!(
        call(
            &admin,
            Method::DELETE,
            &format!("/apikeys/{key}"),
            None,
            None
        )
        .await
        .status,
        200
    );
    let members = call(
        &admin,
        Method::GET,
        &format!("/usageplans/{gold}/keys"),
        None,
        None,
    )
    .await;
    assert_eq!(members.body["items"], json!([]));
    assert_eq!(
        call(
            &admin,
            Method::DELETE,
            &format!("/usageplans/{silver}"),
            None,
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(&admin, Method::GET, "/usageplans", None, None)
            .await
            .body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn domain_mappings_are_stored_once_per_base_path() {
    let admin = admin().await;
    let (api, _) = deployed_api(&admin, pets(), json!({"stageName": "prod"})).await;
    let mapping =
        json!({"domainName": "API.Example.com", "basePath": "v1", "apiId": api, "stage": "prod"});
    let created = call(
        &admin,
        Method::POST,
        "/domainmappings",
        Some(mapping.clone()),
        None,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["domainName"], "api.example.com");
    assert_eq!(
        call(&admin, Method::POST, "/domainmappings", Some(mapping), None)
            .await
            .status,
        409
    );
    let root = call(
        &admin,
        Method::POST,
        "/domainmappings",
        Some(json!({"domainName": "api.example.com", "apiId": api, "stage": "prod"})),
        None,
    )
    .await;
    assert_eq!(root.body["basePath"], "(none)");
    let bad = call(
        &admin,
        Method::POST,
        "/domainmappings",
        Some(json!({"domainName": "not a host", "basePath": "a/b", "apiId": api, "stage": "nope"})),
        None,
    )
    .await;
    let pointers: Vec<&str> = bad.body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["pointer"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(pointers, ["/domainName", "/basePath", "/stage"]);
    // Hosts the front never looks up, and base paths no normalized path can start with.
    for (domain, base_path) in [
        ("10.0.0.1", "v1"),
        ("abc.lambda-url.eu-west-1.on.aws", "v1"),
        ("api.example.com", ".."),
    ] {
        let refused = call(
            &admin,
            Method::POST,
            "/domainmappings",
            Some(
                json!({"domainName": domain, "basePath": base_path, "apiId": api, "stage": "prod"}),
            ),
            None,
        )
        .await;
        assert_eq!(refused.status, 400, "{domain}/{base_path}");
    }
    assert_eq!(
        call(
            &admin,
            Method::GET,
            "/domainmappings/api.example.com/v1",
            None,
            None
        )
        .await
        .body["apiId"],
        api.as_str()
    );
    assert_eq!(
        call(&admin, Method::GET, "/domainmappings", None, None)
            .await
            .body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Paging through mappings: a position holds a '/', sent percent-encoded.
    let first = call(&admin, Method::GET, "/domainmappings?limit=1", None, None).await;
    let position = first.body["position"]
        .as_str()
        .expect("more to come")
        .replace('/', "%2F");
    let second = call(
        &admin,
        Method::GET,
        &format!("/domainmappings?limit=1&position={position}"),
        None,
        None,
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_ne!(
        second.body["items"][0]["basePath"],
        first.body["items"][0]["basePath"]
    );
    assert_eq!(
        call(
            &admin,
            Method::DELETE,
            "/domainmappings/api.example.com/v1",
            None,
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &admin,
            Method::GET,
            "/domainmappings/api.example.com/v1",
            None,
            None
        )
        .await
        .status,
        404
    );
}

/// The real store, except that moving a stage pointer fails as an outage would.
struct StageWritesFail(DynamoConfigStore);

#[async_trait::async_trait]
impl portico_model::ports::ConfigReader for StageWritesFail {
    async fn stage(
        &self,
        a: &str,
        s: &str,
    ) -> Result<Option<portico_model::records::Stage>, portico_model::ports::StoreError> {
        self.0.stage(a, s).await
    }
    async fn deployment(
        &self,
        a: &str,
        d: &str,
    ) -> Result<Option<portico_model::records::Deployment>, portico_model::ports::StoreError> {
        self.0.deployment(a, d).await
    }
    async fn domain_mappings(
        &self,
        domain: &str,
    ) -> Result<Vec<portico_model::records::DomainMapping>, StoreError> {
        self.0.domain_mappings(domain).await
    }
    async fn api_key(
        &self,
        value_hash: &str,
    ) -> Result<Option<portico_model::ports::KeyGrant>, StoreError> {
        self.0.api_key(value_hash).await
    }
}

#[async_trait::async_trait]
impl portico_model::ports::ConfigStore for StageWritesFail {
    async fn create_api(&self, api: &portico_model::records::ApiRecord) -> Result<(), StoreError> {
        self.0.create_api(api).await
    }
    async fn update_api(&self, api: &portico_model::records::ApiRecord) -> Result<(), StoreError> {
        self.0.update_api(api).await
    }
    async fn api(&self, id: &str) -> Result<Option<portico_model::records::ApiRecord>, StoreError> {
        self.0.api(id).await
    }
    async fn list_apis(
        &self,
        page: &Page,
    ) -> Result<Listing<portico_model::records::ApiRecord>, StoreError> {
        self.0.list_apis(page).await
    }
    async fn create_deployment(
        &self,
        d: &portico_model::records::Deployment,
    ) -> Result<u64, StoreError> {
        self.0.create_deployment(d).await
    }
    async fn list_deployments(
        &self,
        a: &str,
        page: &Page,
    ) -> Result<Listing<portico_model::records::DeploymentSummary>, StoreError> {
        self.0.list_deployments(a, page).await
    }
    async fn put_stage(&self, _stage: &portico_model::records::Stage) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("injected outage".into()))
    }
    async fn list_stages(&self, a: &str) -> Result<Vec<portico_model::records::Stage>, StoreError> {
        self.0.list_stages(a).await
    }
    async fn list_stage_page(
        &self,
        a: &str,
        page: &Page,
    ) -> Result<Listing<portico_model::records::Stage>, StoreError> {
        self.0.list_stage_page(a, page).await
    }
    async fn delete_stage(&self, a: &str, s: &str, v: u64) -> Result<(), StoreError> {
        self.0.delete_stage(a, s, v).await
    }
    async fn record_audit(&self, e: &portico_model::records::AuditEntry) -> Result<(), StoreError> {
        self.0.record_audit(e).await
    }
    async fn list_audit(
        &self,
        page: &Page,
        since: Option<&str>,
    ) -> Result<Listing<portico_model::records::AuditEntry>, StoreError> {
        self.0.list_audit(page, since).await
    }
    async fn put_record(&self, r: &Record) -> Result<(), StoreError> {
        self.0.put_record(r).await
    }
    async fn record(&self, k: RecordKind, id: &str) -> Result<Option<Record>, StoreError> {
        self.0.record(k, id).await
    }
    async fn list_records(
        &self,
        k: RecordKind,
        prefix: &str,
        page: &Page,
    ) -> Result<Listing<Record>, StoreError> {
        self.0.list_records(k, prefix, page).await
    }
    async fn delete_record(&self, k: RecordKind, id: &str, v: u64) -> Result<(), StoreError> {
        self.0.delete_record(k, id, v).await
    }
}

#[tokio::test]
async fn a_failed_stage_write_leaves_the_old_deployment_serving() {
    let (store, table) = dynamodb::fresh_config_store().await;
    let healthy = Admin::new(Arc::new(store));
    let (id, first) = deployed_api(&healthy, pets(), json!({"stageName": "prod"})).await;

    let client = dynamodb::client().await;
    let failing = Admin::new(Arc::new(StageWritesFail(DynamoConfigStore::new(
        client, table,
    ))));
    let reply = call(
        &failing,
        Method::POST,
        &format!("/apis/{id}/deployments"),
        Some(json!({"stageName": "prod"})),
        None,
    )
    .await;
    assert_eq!(reply.status, 409);
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("was created") && message.contains("still serves its previous deployment"),
        "{message}"
    );

    let stage = call(
        &healthy,
        Method::GET,
        &format!("/apis/{id}/stages/prod"),
        None,
        None,
    )
    .await;
    assert_eq!(
        stage.body["deploymentId"],
        first.as_str(),
        "the stage still points at the old deployment"
    );
    let deployments = call(
        &healthy,
        Method::GET,
        &format!("/apis/{id}/deployments"),
        None,
        None,
    )
    .await;
    assert_eq!(
        deployments.body["items"].as_array().map(Vec::len),
        Some(2),
        "the new deployment exists, unused"
    );
}

#[tokio::test]
async fn stage_and_plan_key_lists_paginate() {
    let admin = admin().await;
    let (api, first) = deployed_api(&admin, pets(), json!({"stageName": "a"})).await;
    for stage in ["b", "c"] {
        let put = call(
            &admin,
            Method::PUT,
            &format!("/apis/{api}/stages/{stage}"),
            Some(json!({"deploymentId": first})),
            None,
        )
        .await;
        assert_eq!(put.status, 201);
    }
    let page = call(
        &admin,
        Method::GET,
        &format!("/apis/{api}/stages?limit=2"),
        None,
        None,
    )
    .await;
    let names: Vec<&str> = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["stageName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let position = page.body["position"].as_str().expect("more to come");
    let rest = call(
        &admin,
        Method::GET,
        &format!("/apis/{api}/stages?limit=2&position={position}"),
        None,
        None,
    )
    .await;
    assert_eq!(rest.body["items"][0]["stageName"], "c");
    assert!(rest.body.get("position").is_none());

    let plan = call(
        &admin,
        Method::POST,
        "/usageplans",
        Some(json!({"name": "p", "apiStages": [{"apiId": api, "stage": "a"}]})),
        None,
    )
    .await;
    let plan = plan.body["id"].as_str().expect("id").to_owned();
    let mut keys = Vec::new();
    for i in 0..3 {
        let key = call(
            &admin,
            Method::POST,
            "/apikeys",
            Some(json!({"name": format!("k{i}")})),
            None,
        )
        .await;
        let id = key.body["id"].as_str().expect("id").to_owned();
        assert_eq!(
            call(
                &admin,
                Method::POST,
                &format!("/usageplans/{plan}/keys"),
                Some(json!({"keyId": id})),
                None
            )
            .await
            .status,
            201
        );
        keys.push(id);
    }
    keys.sort();
    let page = call(
        &admin,
        Method::GET,
        &format!("/usageplans/{plan}/keys?limit=2"),
        None,
        None,
    )
    .await;
    let position = page.body["position"]
        .as_str()
        .expect("more to come")
        .to_owned();
    let rest = call(
        &admin,
        Method::GET,
        &format!("/usageplans/{plan}/keys?limit=2&position={position}"),
        None,
        None,
    )
    .await;
    let mut seen: Vec<String> = page.body["items"]
        .as_array()
        .into_iter()
        .chain(rest.body["items"].as_array())
        .flatten()
        .map(|k| k["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    seen.sort();
    assert_eq!(seen, keys, "every key once, across the pages");
}
