//! A real HTTP backend on loopback for HTTP proxy tests. It answers:
//! - `/slow/{ms}`: after `ms` milliseconds (for integration timeouts);
//! - `/bytes`: all 256 byte values as `application/octet-stream` (binary safety);
//! - anything else: 200 with what it received as JSON (method, path and query, headers, the
//!   body in base64), plus hop-by-hop headers the gateway must not pass on.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct Backend {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Backend {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path().to_owned();
    if let Some(ms) = path
        .strip_prefix("/slow/")
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
    }
    if path == "/bytes" {
        let all: Vec<u8> = (0..=255).collect();
        return Ok(Response::builder()
            .header("content-type", "application/octet-stream")
            .body(Full::new(Bytes::from(all)))
            .unwrap_or_default());
    }
    let method = request.method().as_str().to_owned();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut headers = Map::new();
    for name in request.headers().keys() {
        let values: Vec<Value> = request
            .headers()
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        headers.insert(name.as_str().to_owned(), Value::Array(values));
    }
    let body = request.into_body().collect().await?.to_bytes();
    let seen = json!({
        "method": method,
        "pathAndQuery": path_and_query,
        "headers": headers,
        "bodyBase64": base64::engine::general_purpose::STANDARD.encode(&body),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("x-backend", "yes")
        .header("connection", "x-hop-secret")
        .header("x-hop-secret", "must not reach the client")
        .body(Full::new(Bytes::from(seen.to_string())))
        .unwrap_or_default())
}

pub async fn start() -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
    Backend { addr, task }
}
