//! A FleetLock client: the reboot-lock protocol that Zincati (Fedora CoreOS), airlock and
//! other reboot managers share, so that patchgap's reboots and theirs never take more
//! hosts down than a group allows. Both requests are `POST` with the header
//! `fleet-lock-protocol: true` and the body `{"client_params": {"id", "group"}}`:
//! `/v1/pre-reboot` takes a slot (the same id asking again keeps its slot),
//! `/v1/steady-state` gives it back. 200 is yes; anything else is a refusal, with a body
//! `{"kind", "value"}` (e.g. `failed_lock_semaphore_full`).
//!
//! The id of a host is its inventory name: stable across campaigns and controllers,
//! and known even while the host is down (a machine-id would need the host up).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Seconds one request may take before it counts as failed (and is asked again).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What is wrong with the FleetLock settings or the server's answer.
#[derive(Debug, thiserror::Error)]
pub enum FleetLockError {
    #[error("--fleetlock {url}: not an http(s) URL ({why})")]
    BadUrl { url: String, why: String },
    #[error("--fleetlock-group {0:?}: a group is letters, digits, '.' and '-' (FleetLock's rule)")]
    BadGroup(String),
    #[error("cannot set up the FleetLock client: {0}")]
    Client(String),
}

/// The server's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200: the slot was taken (pre-reboot) or given back (steady-state).
    Granted,
    /// Another status: the server's `kind` and `value`, or the status and body.
    Refused { kind: String, value: String },
}

/// One group of one FleetLock server.
#[derive(Debug, Clone)]
pub struct FleetLock {
    client: reqwest::Client,
    base: reqwest::Url,
    group: String,
}

#[derive(Serialize)]
struct Body<'a> {
    client_params: Params<'a>,
}

#[derive(Serialize)]
struct Params<'a> {
    id: &'a str,
    group: &'a str,
}

#[derive(Deserialize)]
struct Refusal {
    kind: String,
    value: String,
}

/// Whether `group` is a valid FleetLock group name (`[a-zA-Z0-9.-]+`).
pub fn valid_group(group: &str) -> bool {
    !group.is_empty()
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

impl FleetLock {
    /// A client of the server at `url` (its base: `/v1/...` is appended) for `group`.
    pub fn new(url: &str, group: &str) -> Result<Self, FleetLockError> {
        let bad = |why: String| FleetLockError::BadUrl {
            url: url.to_string(),
            why,
        };
        let mut base = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad(format!("scheme {}", base.scheme())));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        if !valid_group(group) {
            return Err(FleetLockError::BadGroup(group.to_string()));
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| FleetLockError::Client(e.to_string()))?;
        Ok(FleetLock {
            client,
            base,
            group: group.to_string(),
        })
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// Asks for a slot for `id` before its reboot. `Err`: the server could not be asked.
    pub async fn pre_reboot(&self, id: &str) -> Result<Answer, String> {
        self.post("v1/pre-reboot", id).await
    }

    /// Gives `id`'s slot back once it is healthy after its boot.
    pub async fn steady_state(&self, id: &str) -> Result<Answer, String> {
        self.post("v1/steady-state", id).await
    }

    async fn post(&self, path: &str, id: &str) -> Result<Answer, String> {
        let url = self
            .base
            .join(path)
            .map_err(|e| format!("FleetLock URL {}{path}: {e}", self.base))?;
        let body = Body {
            client_params: Params {
                id,
                group: &self.group,
            },
        };
        let response = self
            .client
            .post(url.clone())
            .header("fleet-lock-protocol", "true")
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("FleetLock server {url} did not answer: {e}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::OK {
            return Ok(Answer::Granted);
        }
        let text = response.text().await.unwrap_or_default();
        Ok(match serde_json::from_str::<Refusal>(&text) {
            Ok(refusal) => Answer::Refused {
                kind: refusal.kind,
                value: refusal.value,
            },
            Err(_) => Answer::Refused {
                kind: format!("http_{}", status.as_u16()),
                value: text.chars().take(200).collect(),
            },
        })
    }
}

/// A FleetLock server for the unit tests: one slot per group, owned and recursive, over
/// real TCP (enough of HTTP/1.1 for one request per connection); it records who asked
/// what.
#[cfg(test)]
pub(crate) mod test_server {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    /// A running server.
    pub(crate) struct TestServer {
        pub(crate) url: String,
        /// The holder of each group's slot.
        pub(crate) holders: Arc<Mutex<HashMap<String, String>>>,
        /// Each request as received, and the log: `granted ID`, `refused ID`, `released ID`.
        pub(crate) requests: Arc<Mutex<Vec<String>>>,
        pub(crate) log: Arc<Mutex<Vec<String>>>,
    }

    async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
        let mut data = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                return String::from_utf8_lossy(&data).into_owned();
            }
            data.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&data).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
        }
    }

    /// Starts a server whose base URL ends in `/lock`.
    pub(crate) async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = TestServer {
            url: format!("http://{address}/lock"),
            holders: Arc::default(),
            requests: Arc::default(),
            log: Arc::default(),
        };
        let (holders, requests, log) = (
            server.holders.clone(),
            server.requests.clone(),
            server.log.clone(),
        );
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let request = read_request(&mut stream).await;
                requests.lock().expect("requests").push(request.clone());
                let body = request.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let params = serde_json::from_str::<serde_json::Value>(body)
                    .map(|v| v["client_params"].clone())
                    .unwrap_or_default();
                let id = params["id"].as_str().unwrap_or_default().to_string();
                let group = params["group"].as_str().unwrap_or_default().to_string();
                let granted = {
                    let mut holders = holders.lock().expect("holders");
                    if request.starts_with("POST /lock/v1/pre-reboot ") {
                        let holder = holders.entry(group).or_insert_with(|| id.clone());
                        let granted = *holder == id;
                        log.lock().expect("log").push(format!(
                            "{} {id}",
                            if granted { "granted" } else { "refused" }
                        ));
                        granted
                    } else {
                        if holders.get(&group) == Some(&id) {
                            holders.remove(&group);
                        }
                        log.lock().expect("log").push(format!("released {id}"));
                        true
                    }
                };
                let response = if granted {
                    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
                } else {
                    let body =
                        r#"{"kind":"failed_lock_semaphore_full","value":"semaphore is full"}"#;
                    format!(
                        "HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        server
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn a_slot_is_taken_kept_refused_to_others_and_given_back() {
        let server = test_server::start().await;
        let lock = FleetLock::new(&server.url, "web-1.a").expect("client");
        assert_eq!(lock.pre_reboot("h1").await, Ok(Answer::Granted));
        assert_eq!(
            lock.pre_reboot("h1").await,
            Ok(Answer::Granted),
            "recursive"
        );
        assert_eq!(
            lock.pre_reboot("h2").await,
            Ok(Answer::Refused {
                kind: "failed_lock_semaphore_full".into(),
                value: "semaphore is full".into()
            })
        );
        assert_eq!(lock.steady_state("h1").await, Ok(Answer::Granted));
        assert!(server.holders.lock().expect("holders").is_empty());
        assert_eq!(lock.pre_reboot("h2").await, Ok(Answer::Granted));
        let first = server.requests.lock().expect("requests")[0].to_ascii_lowercase();
        assert!(
            first.starts_with("post /lock/v1/pre-reboot http/1.1"),
            "{first}"
        );
        assert!(first.contains("fleet-lock-protocol: true"), "{first}");
        assert!(
            first.ends_with(r#"{"client_params":{"id":"h1","group":"web-1.a"}}"#),
            "{first}"
        );
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_an_error_not_a_grant() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let lock = FleetLock::new(&format!("http://{address}"), "default").expect("client");
        let err = lock.pre_reboot("h1").await.expect_err("nobody listens");
        assert!(err.contains("did not answer"), "{err}");
    }

    #[test]
    fn urls_and_groups_are_checked() {
        assert!(FleetLock::new("ftp://x", "default").is_err());
        assert!(FleetLock::new("not a url", "default").is_err());
        assert!(FleetLock::new("http://x", "a b").is_err());
        assert!(FleetLock::new("http://x", "").is_err());
        assert!(FleetLock::new("https://x/base", "a.b-1").is_ok());
    }
}
