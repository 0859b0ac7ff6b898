//! The staff API as a test drives it: keys made with the real CLI, requests with a bearer token,
//! replies read whole.

use serde_json::Value;

use crate::server::{Reply, Server, Setup, client};

/// Every scope a key can hold.
pub const ALL_SCOPES: &[&str] = &["admin", "staff", "sender", "analyst", "privacy", "portal"];

impl Setup {
    /// Makes an API key with `switchboard keys create` and returns its token.
    pub fn key(&self, name: &str, scopes: &[&str]) -> String {
        let scopes = scopes.join(",");
        let out = self.cli(&[
            "keys", "create", "--name", name, "--scope", &scopes, "--json",
        ]);
        assert!(out.success, "keys create failed: {}", out.stderr);
        out.json()["token"]
            .as_str()
            .expect("the new key's token")
            .to_string()
    }
}

/// A client of one server with one key (or none).
pub struct Api<'a> {
    pub server: &'a Server,
    pub token: Option<String>,
}

impl<'a> Api<'a> {
    pub fn new(server: &'a Server, token: &str) -> Self {
        Api {
            server,
            token: Some(token.to_string()),
        }
    }

    /// A client that sends no key.
    pub fn anonymous(server: &'a Server) -> Self {
        Api {
            server,
            token: None,
        }
    }

    /// Sends `method path` with an optional JSON body.
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut request = client().request(method, self.server.url(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).expect("JSON body"));
        }
        let response = request.send().await.expect("send request");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("read reply").to_vec(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }

    /// POSTs and expects `status`, returning the JSON reply.
    pub async fn post_ok(&self, path: &str, body: &Value, status: u16) -> Value {
        let reply = self.post(path, body).await;
        assert_eq!(reply.status, status, "POST {path}: {}", reply.text());
        reply.json()
    }

    /// The kinds of a contact's timeline entries, newest first (one page of up to 50).
    pub async fn timeline_kinds(&self, contact: i64) -> Vec<String> {
        let page = self
            .get_ok(&format!("/api/contacts/{contact}/timeline"))
            .await;
        page["entries"]
            .as_array()
            .expect("timeline entries")
            .iter()
            .map(|e| e["kind"].as_str().expect("an entry's kind").to_string())
            .collect()
    }

    /// GETs and expects 200, returning the JSON reply.
    pub async fn get_ok(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
        reply.json()
    }
}
