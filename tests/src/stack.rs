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
    let retry = request.try_clone();
    let answer = send_once(request).await;
    // `cargo lambda watch` now and then answers a problem+json 500 of its own without
    // invoking the function (infra/test retries its fuzz run for the same reason). Neither
    // Portico function ever writes that body, so one retry cannot hide a Portico error.
    match retry {
        Some(retry) if is_watch_own_500(&answer) => send_once(retry).await,
        _ => answer,
    }
}

fn is_watch_own_500(answer: &Answer) -> bool {
    answer.status == 500
        && answer
            .text()
            .contains(r#""type":"https://httpstatuses.com/500""#)
}

async fn send_once(request: reqwest::RequestBuilder) -> Answer {
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

/// Sends `GET {path}` to the front byte for byte, over a bare connection: HTTP clients
/// normalize paths (`..`, `%2e`) before sending, and the path-confusion tests need the
/// server to see exactly what an attacker would send.
pub async fn raw_get(path: &str, headers: &[(&str, &str)]) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = reqwest::Url::parse(&watch_url()).expect("watch url");
    let address = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    );
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect to watch");
    let mut request = format!("GET /lambda-url/front{path} HTTP/1.1\r\nconnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("host: {address}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .expect("watch answers within a minute")
        .expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.trim().as_bytes()),
                http::HeaderValue::from_str(value.trim()),
            )
        {
            headers.append(name, value);
        }
    }
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    if chunked {
        let mut decoded = Vec::new();
        let mut rest = &body[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_line = String::from_utf8_lossy(&rest[..end]);
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("0").trim(), 16)
                .expect("chunk size");
            if size == 0 {
                break;
            }
            let start = end + 2;
            decoded.extend_from_slice(&rest[start..start + size]);
            rest = &rest[start + size + 2..];
        }
        body = decoded;
    }
    Answer {
        status,
        headers,
        body: bytes::Bytes::from(body),
    }
}
