//! A FleetLock server for tests: the reboot-lock protocol of Zincati and airlock
//! (`../shared/brief/campaigns.md`), small enough to read, so a reboot campaign can be
//! tested against the protocol other reboot managers speak rather than against a fake
//! client.
//!
//! - `POST /v1/pre-reboot` with header `fleet-lock-protocol: true` and the JSON body
//!   `{"client_params": {"id": "...", "group": "..."}}` takes a slot of the group's
//!   counting semaphore. Slots are owned and recursive: the holder asking again keeps its
//!   slot and is granted again. A full semaphore answers 409 with
//!   `{"kind": "failed_lock_semaphore_full", "value": "..."}`.
//! - `POST /v1/steady-state` gives the caller's slot back (200 also when it held none, as
//!   the protocol asks: the call is idempotent).
//! - Anything else is an error with a JSON `{kind, value}` body: a missing protocol header,
//!   a body that is not the protocol's, an empty id, a group outside `[a-zA-Z0-9.-]+`, an
//!   unknown path or method.
//!
//! Every decision goes into an event log in the order it was taken (one lock orders them),
//! so a test can check "never more than N holders at once" from the log instead of from
//! timing. A host that never comes back keeps its slot, as FleetLock intends;
//! [`FleetLock::release`] is the operator's way out.
//!
//! HTTP/1.1 by hand (plain std, one thread per connection, `Connection: close`): test
//! support only, enough for reqwest, curl and a raw request. Include it with
//! `#[path = "support/fleetlock.rs"] mod fleetlock;`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The group a client names when its request names none.
pub const DEFAULT_GROUP: &str = "default";

/// Bounds on what one request may send: a client that sends more is refused, one that
/// stalls is dropped (a safety net: requests of the protocol are a few hundred bytes).
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
const STALL: Duration = Duration::from_secs(30);

/// What the server decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `pre-reboot` took a slot (or the holder asked again: `again` in [`Event`]).
    Granted,
    /// `pre-reboot` found the semaphore full.
    Refused,
    /// `steady-state` gave a held slot back (also [`FleetLock::release`]).
    Released,
    /// `steady-state` from a client that held no slot: nothing changed.
    NotHeld,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the log, from 0: the order the decisions were taken in.
    pub seq: usize,
    /// When, for reading a log; tests order by `seq`.
    pub at: Instant,
    pub kind: EventKind,
    pub id: String,
    pub group: String,
    /// A recursive grant: the id held its slot already.
    pub again: bool,
    /// Holders of the group once this decision was taken.
    pub holders_after: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Holders per group, in the order they took their slot.
    groups: BTreeMap<String, Vec<String>>,
    events: Vec<Event>,
}

impl State {
    fn record(&mut self, kind: EventKind, id: &str, group: &str, again: bool) {
        let holders_after = self.groups.get(group).map_or(0, Vec::len);
        let seq = self.events.len();
        self.events.push(Event {
            seq,
            at: Instant::now(),
            kind,
            id: id.to_string(),
            group: group.to_string(),
            again,
            holders_after,
        });
    }
}

/// A running FleetLock server on 127.0.0.1, stopped on drop.
pub struct FleetLock {
    addr: SocketAddr,
    slots: usize,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FleetLock {
    /// Start a server whose every group has `slots` slots (the semaphore's size).
    pub fn start(slots: usize) -> FleetLock {
        assert!(slots > 0, "a FleetLock semaphore needs at least one slot");
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the FleetLock server");
        let addr = listener.local_addr().expect("FleetLock server address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(conn, &state, slots));
                }
            })
        };
        FleetLock {
            addr,
            slots,
            state,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// The base URL clients are given: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ids holding a slot of `group` now, in the order they took it.
    pub fn holders(&self, group: &str) -> Vec<String> {
        self.lock().groups.get(group).cloned().unwrap_or_default()
    }

    /// The event log so far, in decision order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// The most holders `group` ever had at once, from the event log.
    pub fn max_holders(&self, group: &str) -> usize {
        self.lock()
            .events
            .iter()
            .filter(|e| e.group == group)
            .map(|e| e.holders_after)
            .max()
            .unwrap_or(0)
    }

    /// An operator releasing a slot by hand (a host that never came back); `true` if `id`
    /// held one. Logged as [`EventKind::Released`].
    pub fn release(&self, id: &str, group: &str) -> bool {
        let mut state = self.lock();
        release(&mut state, id, group)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread leaves the state consistent (every change is one
        // push or remove): keep serving the test.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for FleetLock {
    /// Stop accepting: wake the acceptor with a connection of our own, then join it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn release(state: &mut State, id: &str, group: &str) -> bool {
    let holders = state.groups.entry(group.to_string()).or_default();
    let held = holders.iter().position(|h| h == id);
    if let Some(at) = held {
        holders.remove(at);
    }
    let kind = match held {
        Some(_) => EventKind::Released,
        None => EventKind::NotHeld,
    };
    state.record(kind, id, group, false);
    held.is_some()
}

/// One HTTP response: status and JSON body.
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn ok() -> Reply {
        Reply {
            status: 200,
            body: "{}".into(),
        }
    }

    fn error(status: u16, kind: &str, value: &str) -> Reply {
        Reply {
            status,
            body: serde_json::json!({ "kind": kind, "value": value }).to_string(),
        }
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>, slots: usize) {
    let _ = conn.set_read_timeout(Some(STALL));
    let _ = conn.set_write_timeout(Some(STALL));
    let Ok(reader) = conn.try_clone() else { return };
    let reply = match read_request(&mut BufReader::new(reader)) {
        Ok(request) => handle(&request, state, slots),
        Err(reply) => reply,
    };
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        _ => "Error",
    };
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    let _ = conn.flush();
}

struct Request {
    method: String,
    path: String,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Request, Reply> {
    let bad = |value: &str| Reply::error(400, "bad_request", value);
    let mut head = 0usize;
    let mut line = String::new();
    let mut next_line = |line: &mut String| -> Result<(), Reply> {
        line.clear();
        let read = reader
            .by_ref()
            .take((MAX_HEAD - head) as u64)
            .read_line(line)
            .map_err(|e| bad(&format!("reading the request: {e}")))?;
        head += read;
        if read == 0 || !line.ends_with('\n') {
            return Err(Reply::error(
                400,
                "bad_request",
                "request head cut short or too long",
            ));
        }
        Ok(())
    };
    next_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (Some(method), Some(path), Some(_version)) = (words.next(), words.next(), words.next())
    else {
        return Err(bad("not an HTTP request line"));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    loop {
        next_line(&mut line)?;
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(bad("a header line without a colon"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if header("transfer-encoding").is_some() {
        return Err(bad("chunked bodies are not supported: send content-length"));
    }
    let length = match header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad("content-length is not a number"))?,
    };
    if length > MAX_BODY {
        return Err(Reply::error(413, "bad_request", "body too large"));
    }
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        // curl asks before it sends a larger body.
        let _ = reader.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let mut body = vec![0u8; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| bad(&format!("body shorter than content-length: {e}")))?;
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

fn handle(request: &Request, state: &Mutex<State>, slots: usize) -> Reply {
    let pre_reboot = match request.path.as_str() {
        "/v1/pre-reboot" => true,
        "/v1/steady-state" => false,
        other => {
            return Reply::error(
                404,
                "unknown_path",
                &format!("no FleetLock endpoint {other}"),
            );
        }
    };
    if request.method != "POST" {
        return Reply::error(
            405,
            "method_not_allowed",
            &format!("{} {}: use POST", request.method, request.path),
        );
    }
    let protocol = request
        .headers
        .iter()
        .find(|(n, _)| n == "fleet-lock-protocol")
        .map(|(_, v)| v.as_str());
    if protocol != Some("true") {
        return Reply::error(
            400,
            "missing_fleet_lock_protocol_header",
            "send the header `fleet-lock-protocol: true`",
        );
    }
    let (id, group) = match client_params(&request.body) {
        Ok(params) => params,
        Err(why) => return Reply::error(400, "invalid_client_params", &why),
    };
    let mut state = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !pre_reboot {
        release(&mut state, &id, &group);
        return Reply::ok();
    }
    let holders = state.groups.entry(group.clone()).or_default();
    if holders.contains(&id) {
        state.record(EventKind::Granted, &id, &group, true);
        return Reply::ok();
    }
    if holders.len() >= slots {
        let value = format!(
            "group {group}: all {slots} slots held (by {})",
            holders.join(", ")
        );
        state.record(EventKind::Refused, &id, &group, false);
        return Reply::error(409, "failed_lock_semaphore_full", &value);
    }
    holders.push(id.clone());
    state.record(EventKind::Granted, &id, &group, false);
    Reply::ok()
}

/// `client_params.id` (non-empty) and `client_params.group` (`[a-zA-Z0-9.-]+`, default
/// [`DEFAULT_GROUP`]) of a request body.
fn client_params(body: &[u8]) -> Result<(String, String), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let params = value
        .get("client_params")
        .filter(|p| p.is_object())
        .ok_or("body has no client_params object")?;
    let id = params
        .get("id")
        .and_then(serde_json::Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or("client_params.id must be a non-empty string")?;
    let group = match params.get("group") {
        None | Some(serde_json::Value::Null) => DEFAULT_GROUP,
        Some(g) => g.as_str().ok_or("client_params.group must be a string")?,
    };
    let group = if group.is_empty() {
        DEFAULT_GROUP
    } else {
        group
    };
    if !group
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(format!(
            "client_params.group {group:?} is not [a-zA-Z0-9.-]+"
        ));
    }
    Ok((id.to_string(), group.to_string()))
}
