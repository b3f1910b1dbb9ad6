//! An API server that replays recorded responses, for the readiness report's
//! live path: the client is the real one (kube, over HTTP/1.1), the answers
//! are files under a recording's folder named by their URL path
//! (`/api/v1/nodes` → `api/v1/nodes.json`, `/metrics` → `metrics.txt`), and a
//! test's own routes (a generated cluster, RBAC refusals) come first. Lists
//! are served in the pages a request's `limit` asks for, with `continue`
//! tokens and `remainingItemCount`, as the API server chunks them.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// An answer: a status and a JSON or text body.
#[derive(Clone)]
pub enum Answer {
    Json(u16, Value),
    Text(String),
    /// Another answer, after a wait.
    Late(Duration, Box<Answer>),
    /// The recorded list, whose continue tokens have expired (410 Gone) by
    /// the time they come back; the Status offers a fresh one, as the API
    /// server does, which reads on from the same place.
    Expiring,
    /// A list whose every continue token, the offered fresh ones too, has
    /// expired.
    ExpiringForEver,
    /// 429 Too Many Requests (API Priority and Fairness) as many times as
    /// the count says, then what is recorded.
    Throttled(Arc<AtomicUsize>),
}

impl Answer {
    /// What the API server answers a request RBAC refuses.
    pub fn forbidden(what: &str) -> Answer {
        Answer::Json(
            403,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("{what} is forbidden: User \"auditor\" cannot get it"),
                "reason": "Forbidden", "code": 403}),
        )
    }
}

/// A route: a path whose `*` segments match any one segment.
type Route = (String, Answer);

pub struct Replay {
    pub url: String,
    /// The paths asked, in order.
    pub asked: Arc<Mutex<Vec<String>>>,
}

impl Replay {
    /// Serves `recording` (a folder under tests/fixtures/live), `routes` first.
    pub fn start(recording: &str, routes: Vec<Route>) -> Replay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/live")
            .join(recording);
        let routes = Arc::new(routes);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, routes, seen) = (root.clone(), Arc::clone(&routes), Arc::clone(&seen));
                std::thread::spawn(move || serve(stream, &root, &routes, &seen));
            }
        });
        Replay { url, asked }
    }

    /// A kubeconfig for this server, written into `dir`, with its context `replay`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let file = dir.join("kubeconfig");
        let config = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: replay\nclusters:\n- name: replay\n  cluster:\n    \
             server: {}\ncontexts:\n- name: replay\n  context: {{cluster: replay, user: auditor}}\nusers:\n- name: \
             auditor\n  user: {{token: recorded}}\n",
            self.url
        );
        std::fs::write(&file, config).expect("the kubeconfig is written");
        file
    }
}

/// Answers the requests of one connection (HTTP/1.1, kept alive).
fn serve(stream: TcpStream, root: &Path, routes: &[Route], seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("the stream"));
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        // The headers; a GET has no body.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                break;
            }
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        seen.lock().expect("the log").push(target.clone());
        let recorded_or_missing = || {
            recorded(root, path).unwrap_or_else(|| {
                Answer::Json(
                    404,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": format!("the server could not find the requested resource ({path})"),
                        "reason": "NotFound", "code": 404}),
                )
            })
        };
        let mut answer = routes
            .iter()
            .find(|(pattern, _)| matches(pattern, path))
            .map_or_else(recorded_or_missing, |(_, answer)| answer.clone());
        if let Answer::Late(wait, late) = answer {
            std::thread::sleep(wait);
            answer = *late;
        }
        if let Answer::Throttled(left) = &answer {
            let throttled = left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            answer = if throttled {
                Answer::Json(
                    429,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "TooManyRequests",
                        "message": "Too many requests, please try again later.", "code": 429}),
                )
            } else {
                recorded_or_missing()
            };
        }
        if let Answer::Expiring | Answer::ExpiringForEver = answer {
            let for_ever = matches!(answer, Answer::ExpiringForEver);
            answer = match token(query) {
                Some(token) if for_ever || !token.starts_with("fresh-") => Answer::Json(
                    410,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {"continue": format!("fresh-{token}")},
                        "status": "Failure", "reason": "Expired", "code": 410,
                        "message": "The provided continue parameter is too old to display a consistent list result."}),
                ),
                _ => recorded_or_missing(),
            };
        }
        let (status, content_type, body) = match answer {
            Answer::Json(status, body) => (status, "application/json", page(body, query).to_string()),
            Answer::Text(text) => (200, "text/plain; version=0.0.4", text),
            Answer::Late(..) | Answer::Expiring | Answer::ExpiringForEver | Answer::Throttled(_) => {
                (500, "text/plain", "a route answered with itself".to_owned())
            }
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body.as_bytes()).is_err() {
            return;
        }
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    pattern.len() == path.len() && pattern.iter().zip(&path).all(|(p, s)| *p == "*" || p == s)
}

fn recorded(root: &Path, path: &str) -> Option<Answer> {
    let file = root.join(path.trim_start_matches('/'));
    let with = |extension: &str| {
        let mut name = file.clone().into_os_string();
        name.push(extension);
        std::fs::read_to_string(PathBuf::from(name)).ok()
    };
    if let Some(json) = with(".json") {
        return Some(Answer::Json(
            200,
            serde_json::from_str(&json).expect("a recorded JSON body"),
        ));
    }
    with(".txt").map(Answer::Text)
}

/// The `continue` token of a query.
fn token(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| pair.strip_prefix("continue="))
}

/// The page of a list that `limit` and `continue` ask for; a token is the
/// offset of the next item (`fresh-` in front when offered after a 410).
fn page(mut body: Value, query: &str) -> Value {
    let limit = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("limit="))
        .and_then(|value| value.parse::<usize>().ok());
    let (Some(limit), Some(Value::Array(items))) = (limit, body.get_mut("items")) else {
        return body;
    };
    let start = token(query)
        .and_then(|t| t.trim_start_matches("fresh-").parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    let end = start.saturating_add(limit).min(items.len());
    let total = items.len();
    *items = items.drain(start..end).collect();
    if end < total {
        body["metadata"]["continue"] = Value::from(end.to_string());
        body["metadata"]["remainingItemCount"] = Value::from(total - end);
    }
    body
}
