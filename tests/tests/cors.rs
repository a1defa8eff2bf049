//! CORS on real parts but `cargo lambda watch` (whose own permissive CORS layer answers
//! preflights before any function sees them): front instances in process over dynalite, an
//! API deployed through the admin, and a JWT authorizer whose identity provider runs on
//! loopback, so a preflight is shown to pass no authorizer.

use http::Method;
use portico_gateway::Settings;
use portico_tests::dynamodb;
use portico_tests::fleet::{Fleet, get};
use portico_tests::jwt::{Idp, RsaSigner};
use serde_json::json;

#[tokio::test]
async fn preflights_are_answered_by_the_gateway_and_every_answer_carries_cors() {
    let signer = RsaSigner::generate("cors");
    let idp = Idp::start(vec![signer.jwk()]).await;
    let fleet = Fleet::start(&dynamodb::endpoint(), 1, Settings::default()).await;
    let origin = "https://app.example";
    let api = fleet
        .deploy(
            json!({"name": "cors", "type": "HTTP",
                "authorizers": {"jwt": {"type": "JWT", "issuer": idp.issuer, "audience": ["web"]}},
                "cors": {"allowOrigins": [origin], "allowMethods": ["GET", "PUT"],
                         "allowHeaders": ["authorization", "content-type"], "exposeHeaders": ["x-total"],
                         "maxAge": 600, "allowCredentials": true},
                "routes": [
                    {"method": "GET", "path": "/open", "integration": {"type": "mock", "body": "open",
                        "headers": {"access-control-allow-origin": "*"}}},
                    {"method": "PUT", "path": "/private", "authorization": {"type": "JWT", "authorizer": "jwt"},
                     "integration": {"type": "mock"}}
                ]}),
            "prod",
            serde_json::Value::Null,
        )
        .await;
    let gateway = &fleet.instances[0].gateway;

    let preflight = |origin: &str, method: &str| {
        let mut request = get(
            &format!("/{api}/prod/private"),
            &[
                ("origin", origin),
                ("access-control-request-method", method),
                ("access-control-request-headers", "authorization"),
            ],
        );
        request.method = Method::OPTIONS;
        request
    };
    let answer = gateway.handle(preflight(origin, "PUT")).await;
    assert_eq!(answer.status(), 204);
    let h = answer.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert_eq!(h["access-control-allow-methods"], "GET,PUT");
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization,content-type"
    );
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["vary"], "Origin");
    // The authorizer was not consulted: it would have fetched the JWKS.
    assert_eq!(idp.jwks_fetches(), 0);

    for (stranger, method) in [("https://evil.example", "PUT"), (origin, "DELETE")] {
        let answer = gateway.handle(preflight(stranger, method)).await;
        assert_eq!(answer.status(), 204);
        assert!(!answer.headers().contains_key("access-control-allow-origin"));
    }

    // An error (no token) carries CORS, so the browser lets the page read the 401.
    let mut put = get(&format!("/{api}/prod/private"), &[("origin", origin)]);
    put.method = Method::PUT;
    let answer = gateway.handle(put).await;
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["access-control-allow-origin"], origin);
    assert_eq!(answer.headers()["access-control-allow-credentials"], "true");

    // The integration's own `*` is replaced by the API's answer for this origin...
    let answer = gateway
        .handle(get(&format!("/{api}/prod/open"), &[("origin", origin)]))
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["access-control-allow-origin"], origin);
    assert_eq!(answer.headers()["access-control-expose-headers"], "x-total");
    // ...and removed for an origin the API does not allow.
    let answer = gateway
        .handle(get(
            &format!("/{api}/prod/open"),
            &[("origin", "https://evil.example")],
        ))
        .await;
    assert_eq!(answer.status(), 200);
    assert!(!answer.headers().contains_key("access-control-allow-origin"));

    // `*` with credentials is refused when the definition is written.
    let refused = fleet
        .admin(
            Method::POST,
            "/apis",
            Some(json!({"name": "bad-cors", "cors": {"allowOrigins": ["*"], "allowCredentials": true},
                "routes": [{"method": "GET", "path": "/", "integration": {"type": "mock"}}]})),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("/cors/allowCredentials"),
        "{}",
        refused.body
    );
}
