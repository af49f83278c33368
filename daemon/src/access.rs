//! The access log: one line per call, refused or not — time, peer, principal, method, project,
//! status, duration (and, for a commit, its event ids) — so that an operator can tell afterwards who
//! tried what.
//!
//! [`AccessLogLayer`] wraps every service (Ledger, Audit, health, reflection). It puts a
//! [`CallNotes`] into the request's extensions, which the token interceptor fills with the principal
//! and the permission checks with the project and event ids ([`crate::auth::Principal`] carries it),
//! and writes the line when the call ends: when its response ends (the gRPC status is in the
//! trailers, or in the headers of a trailers-only answer), or when the call is dropped (the client
//! went away or the request timed out: `CANCELLED`).
//!
//! Lines go to standard error, as text or JSON lines ([`LogFormat`]). Every value is quoted and
//! escaped so that no value can forge a field or a line: in text, `"` and `\` are escaped and every
//! character outside printable ASCII is written `\u{…}`; in JSON, every non-ASCII character is a
//! `\uXXXX` escape. Both formats are plain ASCII, one line per call.

use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http_body::Frame;
use tonic::body::Body;
use tonic::codegen::Bytes;

/// Most event ids a commit's line lists (the count is always given).
pub const LOGGED_EVENT_IDS_MAX: usize = 8;

/// Most projects a line lists.
pub const LOGGED_PROJECTS_MAX: usize = 8;

/// Most characters of a value from the request on a line (a project id, an event id, the method):
/// a longer one is logged as its first 40 characters, `…` and its length, so that a call cannot
/// write more to the log than a line's worth (4 MB project ids flooded it at 140 MB/s).
pub const LOGGED_VALUE_CHARS_MAX: usize = 64;

/// Most characters of the method (the request's path) on a line: the contract's longest is 62.
pub const LOGGED_METHOD_CHARS_MAX: usize = 128;

/// Most characters of a status message on a line.
pub const LOGGED_MESSAGE_CHARS_MAX: usize = 1024;

/// `value` as a line holds it: whole up to `max` characters, else its first 40 (or `max`, if
/// less), `…` and its length in characters.
fn logged(value: &str, max: usize) -> String {
    match fiscus_ledger::error::cut(value, max, max.min(40)) {
        Some((start, chars)) => format!("{start}…({chars} characters)"),
        None => value.to_owned(),
    }
}

/// The format of fiscusd's log lines (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `key="value"` text lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What the handlers of one call learn about it for its line.
#[derive(Debug, Default)]
struct Facts {
    principal: Option<(String, String)>,
    projects: Vec<String>,
    event_ids: Vec<String>,
    events: usize,
}

/// The facts of one call, shared by the layer (which writes the line) and the handlers (which
/// learn the principal and the project); cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CallNotes(Arc<Mutex<Facts>>);

impl CallNotes {
    fn with(&self, f: impl FnOnce(&mut Facts)) {
        // A poisoned lock only loses a log detail.
        if let Ok(mut facts) = self.0.lock() {
            f(&mut facts);
        }
    }

    /// The caller's token name and role.
    pub fn principal(&self, name: &str, role: &str) {
        self.with(|f| f.principal = Some((name.to_owned(), role.to_owned())));
    }

    /// A project the call reads or writes.
    pub fn project(&self, project: &str) {
        self.with(|f| {
            let project = logged(project, LOGGED_VALUE_CHARS_MAX);
            if f.projects.len() < LOGGED_PROJECTS_MAX && !f.projects.contains(&project) {
                f.projects.push(project);
            }
        });
    }

    /// The events of a commit, as (project, event id); a second call replaces the first.
    pub fn events<'a>(&self, events: impl IntoIterator<Item = (&'a str, &'a str)>) {
        self.with(|f| {
            f.events = 0;
            f.event_ids.clear();
            for (project, id) in events {
                f.events += 1;
                if f.projects.len() < LOGGED_PROJECTS_MAX {
                    let project = logged(project, LOGGED_VALUE_CHARS_MAX);
                    if !f.projects.contains(&project) {
                        f.projects.push(project);
                    }
                }
                if f.event_ids.len() < LOGGED_EVENT_IDS_MAX {
                    f.event_ids.push(logged(id, LOGGED_VALUE_CHARS_MAX));
                }
            }
        });
    }
}

/// The layer that writes one access-log line per call.
#[derive(Clone, Copy, Debug)]
pub struct AccessLogLayer {
    format: LogFormat,
}

impl AccessLogLayer {
    /// Lines in `format`.
    pub fn new(format: LogFormat) -> AccessLogLayer {
        AccessLogLayer { format }
    }
}

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog { inner, format: self.format }
    }
}

/// The service of [`AccessLogLayer`].
#[derive(Clone, Debug)]
pub struct AccessLog<S> {
    inner: S,
    format: LogFormat,
}

/// A call in progress; its line is written when it is dropped.
struct Call {
    time: SystemTime,
    started: Instant,
    peer: Option<SocketAddr>,
    method: String,
    notes: CallNotes,
    status: Option<(i32, String)>,
    format: LogFormat,
}

impl Drop for Call {
    fn drop(&mut self) {
        let line = self.line();
        // One write of one whole line: lines of concurrent calls never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

impl Call {
    /// The call failed inside the server (`INTERNAL`).
    fn failed(&mut self, message: &str) {
        self.status = Some((13, logged(message, LOGGED_MESSAGE_CHARS_MAX)));
    }

    fn status_from(&mut self, headers: &http::HeaderMap) {
        if let Some(code) = headers.get("grpc-status") {
            let code = std::str::from_utf8(code.as_bytes()).ok().and_then(|c| c.parse().ok()).unwrap_or(2);
            let message = headers.get("grpc-message").map(|m| percent_decode(m.as_bytes())).unwrap_or_default();
            self.status = Some((code, logged(&message, LOGGED_MESSAGE_CHARS_MAX)));
        }
    }

    fn line(&self) -> String {
        let facts = self.notes.0.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default();
        let since = self.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let time =
            chrono::DateTime::from_timestamp(i64::try_from(since.as_secs()).unwrap_or(i64::MAX), since.subsec_nanos())
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                .unwrap_or_default();
        let peer = self.peer.map(|p| p.to_string()).unwrap_or_else(|| "-".to_owned());
        let (principal, role) = facts.principal.clone().unwrap_or_else(|| ("-".to_owned(), "-".to_owned()));
        let method = self.method.strip_prefix('/').unwrap_or(&self.method);
        let (code, message) = match &self.status {
            Some((code, message)) => (*code, message.as_str()),
            // The call ended without a status: the client went away, or the request timed out. A
            // commit it carried may be stored all the same: the writer logs it when it is.
            None => (1, "the call ended before its answer (its deadline passed or the client went away); a commit it carried is stored if the writer logs it as stored after its caller stopped waiting"),
        };
        let status = code_name(code);
        let duration_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        match self.format {
            LogFormat::Text => {
                let mut line = format!("{time} ACCESS");
                let mut field = |key: &str, value: &str| {
                    let _ = write!(line, " {key}=\"{}\"", escape_text(value));
                };
                field("peer", &peer);
                field("principal", &principal);
                field("role", &role);
                field("method", method);
                field("project", &facts.projects.join(","));
                field("status", status);
                if facts.events > 0 {
                    field("events", &facts.events.to_string());
                    field("event_ids", &join_escaped(&facts.event_ids));
                }
                if code != 0 {
                    field("message", message);
                }
                let _ = write!(line, " duration_us={duration_us}");
                line.push('\n');
                line
            }
            LogFormat::Json => {
                let mut object = serde_json::json!({
                    "time": time,
                    "kind": "access",
                    "peer": peer,
                    "principal": principal,
                    "role": role,
                    "method": method,
                    "project": facts.projects.join(","),
                    "status": status,
                    "duration_us": duration_us,
                });
                if facts.events > 0 {
                    object["events"] = facts.events.into();
                    object["event_ids"] = facts.event_ids.clone().into();
                }
                if code != 0 {
                    object["message"] = message.into();
                }
                let mut line = ascii_json(&object.to_string());
                line.push('\n');
                line
            }
        }
    }
}

/// The name of a gRPC status code, as the gRPC specification spells it.
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// A value for inside `"…"`: `\` and `"` escaped, everything outside printable ASCII as `\u{…}`.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    out
}

/// A list in one text value: items separated by `,`, a `,` or `\` inside an item escaped with `\`.
fn join_escaped(items: &[String]) -> String {
    items.iter().map(|i| i.replace('\\', "\\\\").replace(',', "\\,")).collect::<Vec<_>>().join(",")
}

/// JSON text with every non-ASCII character written as a `\uXXXX` escape (UTF-16, as JSON says):
/// the same value, on one ASCII line (U+2028 and U+2029 end lines in some readers).
pub fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2).
fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        let escaped = (b == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(v) => {
                out.push(v);
                rest = tail.get(2..).unwrap_or_default();
            }
            None => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn peer_of(extensions: &http::Extensions) -> Option<SocketAddr> {
    crate::connections::ConnInfo::of(extensions).and_then(|i| i.remote_addr())
}

impl<S, B> tower::Service<http::Request<B>> for AccessLog<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let notes = CallNotes::default();
        request.extensions_mut().insert(notes.clone());
        let mut call = Call {
            time: SystemTime::now(),
            started: Instant::now(),
            peer: peer_of(request.extensions()),
            method: logged(request.uri().path(), LOGGED_METHOD_CHARS_MAX),
            notes,
            status: None,
            format: self.format,
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            match answer.await {
                Ok(response) => {
                    // A trailers-only answer (every refusal) has its status in the headers.
                    call.status_from(response.headers());
                    if call.status.is_some() {
                        drop(call);
                        Ok(response)
                    } else {
                        Ok(response.map(|body| Body::new(LoggedBody { inner: body, call })))
                    }
                }
                Err(e) => {
                    call.failed("the service failed");
                    Err(e)
                }
            }
        })
    }
}

/// A response body that takes the status from its trailers; the line is written when it is dropped.
struct LoggedBody {
    inner: Body,
    call: Call,
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(trailers) = frame.trailers_ref() {
                self.call.status_from(trailers);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_cannot_forge_a_field_or_a_line() {
        assert_eq!(escape_text("e1 actor=admin:root"), "e1 actor=admin:root");
        assert_eq!(escape_text("a\"b\\c"), "a\\\"b\\\\c");
        assert_eq!(escape_text("x\u{2028}y\nz\u{202e}"), "x\\u{2028}y\\u{a}z\\u{202e}");
    }

    #[test]
    fn json_lines_are_ascii() {
        let json = serde_json::json!({ "id": "e1\u{2028}\"x\"", "emoji": "\u{1f600}" }).to_string();
        let line = ascii_json(&json);
        assert!(line.is_ascii(), "{line}");
        assert!(line.contains("\\u2028") && line.contains("\\ud83d\\ude00"), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).expect("still JSON");
        assert_eq!(back["id"], "e1\u{2028}\"x\"");
    }

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decode(b"unknown%20token"), "unknown token");
        assert_eq!(percent_decode(b"100%"), "100%");
        assert_eq!(percent_decode(b"%e2%80%a8"), "\u{2028}");
    }
}
