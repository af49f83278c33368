//! The client side of a C2SP `tlog-witness` (c2sp.org/tlog-witness): submit an `add-checkpoint`
//! request to a witness's submission prefix and read back its cosignature lines. `fiscusd` uses it
//! to have each new checkpoint cosigned; tests use it against `fiscus witness serve`.
//!
//! Plain `http://` only (a witness on loopback or behind a TLS-terminating bastion, as the spec
//! allows); every answer is bounded in size and time and parsed as untrusted text.

use std::time::Duration;

use fiscus_tlog::{AddCheckpoint, NoteSignature};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Most bytes of a witness's answer read (a hundred cosignature lines is about 15 KiB).
pub const WITNESS_ANSWER_BYTES_MAX: usize = 64 * 1024;

/// How long one `add-checkpoint` call may take, connection included, by default.
pub const WITNESS_TIMEOUT_MS: u64 = 10_000;

/// Why a submission to a witness failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessCallError {
    /// The witness URL is not `http://host[:port][/prefix]`.
    #[error("witness URL {url:?}: {why}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The witness holds another size for the log (409 with a `text/x.tlog.size` body): submit
    /// again with a consistency proof from that size.
    #[error("the witness holds size {size} of this log")]
    SizeConflict {
        /// The size of the latest checkpoint the witness cosigned.
        size: u64,
    },
    /// The witness refused the checkpoint with another status (400, 403, 404, 409 for a fork,
    /// 422, ...).
    #[error("the witness refused with HTTP {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of its answer body, for people.
        message: String,
    },
    /// The connection or the exchange failed, or took longer than the timeout.
    #[error("witness unreachable: {0}")]
    Transport(String),
    /// A 200 answer that is not signature lines.
    #[error("witness answer: {0}")]
    BadAnswer(String),
}

/// Submits `request` to the witness whose submission prefix is `url` (`POST <url>/add-checkpoint`)
/// and answers the signature lines of its 200 answer, unverified: check them against the
/// witness's key (for example with [`fiscus_tlog::Policy::add_cosignatures`]) before use. A 409
/// whose body is a size is [`WitnessCallError::SizeConflict`].
pub async fn add_checkpoint(
    url: &str,
    request: &AddCheckpoint,
    timeout: Duration,
) -> Result<Vec<NoteSignature>, WitnessCallError> {
    let target = Target::parse(url)?;
    match tokio::time::timeout(timeout, exchange(&target, request.to_text())).await {
        Ok(answer) => answer,
        Err(_) => Err(WitnessCallError::Transport(format!("no answer within {} ms", timeout.as_millis()))),
    }
}

/// Checks that `url` is a submission prefix [`add_checkpoint`] can use
/// (`http://host[:port][/prefix]`, no user information, no query), as a config is read.
pub fn check_url(url: &str) -> Result<(), WitnessCallError> {
    Target::parse(url).map(|_| ())
}

/// A parsed submission prefix.
struct Target {
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, WitnessCallError> {
        let bad = |why| WitnessCallError::BadUrl { url: url.to_owned(), why };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// is supported"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information is not supported"));
        }
        if uri.query().is_some() {
            return Err(bad("a submission prefix has no query"));
        }
        let authority = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:80", authority.host()),
        };
        let path = format!("{}/add-checkpoint", uri.path().trim_end_matches('/'));
        Ok(Target { authority, path })
    }
}

async fn exchange(target: &Target, body: String) -> Result<Vec<NoteSignature>, WitnessCallError> {
    let transport = |e: &dyn std::fmt::Display| WitnessCallError::Transport(e.to_string());
    let stream = tokio::net::TcpStream::connect(&target.authority).await.map_err(|e| transport(&e))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| transport(&e))?;
    let driver = tokio::spawn(connection);
    let request = http::Request::post(&target.path)
        .header(http::header::HOST, &target.authority)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| transport(&e))?;
    let answer = sender.send_request(request).await.map_err(|e| transport(&e));
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            driver.abort();
            return Err(e);
        }
    };
    let status = answer.status().as_u16();
    let size_type = answer
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("text/x.tlog.size"));
    let bytes = Limited::new(answer.into_body(), WITNESS_ANSWER_BYTES_MAX).collect().await;
    driver.abort();
    let bytes = bytes.map_err(|e| WitnessCallError::BadAnswer(format!("reading the answer: {e}")))?.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    match status {
        200 => parse_signature_lines(&text),
        409 if size_type => {
            let size = text
                .strip_suffix('\n')
                .filter(|s| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| WitnessCallError::BadAnswer("a 409 size answer that is not a decimal size".into()))?;
            Err(WitnessCallError::SizeConflict { size })
        }
        status => {
            let message: String = text.chars().take(300).collect();
            Err(WitnessCallError::Refused { status, message: message.trim().to_owned() })
        }
    }
}

/// Parses a 200 answer: one or more note signature lines, each ending in a newline.
fn parse_signature_lines(text: &str) -> Result<Vec<NoteSignature>, WitnessCallError> {
    let lines =
        text.strip_suffix('\n').ok_or_else(|| WitnessCallError::BadAnswer("does not end in a newline".into()))?;
    let mut signatures = Vec::new();
    for line in lines.split('\n') {
        if signatures.len() == fiscus_tlog::note::NOTE_SIGNATURES_MAX {
            return Err(WitnessCallError::BadAnswer("too many signature lines".into()));
        }
        signatures.push(NoteSignature::parse_line(line).map_err(|e| WitnessCallError::BadAnswer(e.to_string()))?);
    }
    Ok(signatures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:7380").unwrap();
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("127.0.0.1:7380", "/add-checkpoint"));
        let t = Target::parse("http://witness.example/w1/").unwrap();
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("witness.example:80", "/w1/add-checkpoint"));
        for bad in ["https://w.example", "w.example", "http://u:p@w.example", "http://w.example/?q", ""] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers() {
        assert!(parse_signature_lines("").is_err());
        assert!(parse_signature_lines("\u{2014} w AAAAAAAA").is_err());
        assert!(parse_signature_lines("hello\n").is_err());
        assert_eq!(parse_signature_lines("\u{2014} w AAAAAAAA\n").unwrap().len(), 1);
    }
}
