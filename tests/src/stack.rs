//! The functions as `cargo lambda watch` serves them: `/lambda-url/{function}/...` is each
//! function's URL, as a Lambda function URL would be.

use std::time::Duration;

use serde_json::Value;

/// The watch server's base URL, for example `http://127.0.0.1:9123`.
pub fn watch_url() -> String {
    crate::required_env("PORTICO_TEST_WATCH_URL")
}

pub fn admin_url(path: &str) -> String {
    format!("{}/lambda-url/admin{path}", watch_url())
}

pub fn front_url(path: &str) -> String {
    format!("{}/lambda-url/front{path}", watch_url())
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A response read whole: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the watch server answers");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a whole body"),
    }
}

/// Creates an API from a native definition through the admin function; returns its id.
pub async fn create_api(definition: &Value) -> String {
    let answer = send(http().post(admin_url("/apis")).json(definition)).await;
    assert_eq!(answer.status, 201, "create API: {}", answer.text());
    answer.json()["id"].as_str().expect("an id").to_owned()
}

/// Deploys the API's current definition to `stage` with `variables`; returns the answer.
pub async fn deploy(api_id: &str, stage: &str, variables: Value) -> Value {
    let body = serde_json::json!({"stageName": stage, "variables": variables});
    let answer = send(
        http()
            .post(admin_url(&format!("/apis/{api_id}/deployments")))
            .json(&body),
    )
    .await;
    assert_eq!(answer.status, 201, "deploy: {}", answer.text());
    answer.json()
}
