//! `fiscus-client`: a typed async client of the Fiscus gRPC contract (`fiscus.v1`), for the
//! sponsor's accountants, auditors and sponsored projects' organisers.
//!
//! Amounts are `rust_decimal::Decimal`; events, balances and statements are the ledger crate's own
//! types (`fiscus_ledger`, built without its sled store): no protobuf type appears in this API.
//! Errors keep the server's gRPC status code and message ([`ClientError::Status`]).
//!
//! [`Client::verify_project`] is the provable balance: it downloads the project's raw chain,
//! verifies every record and link locally, recomputes the balances from the verified events with
//! the ledger's own code, and compares them, and the head, with what the server reports.
//!
//! ```no_run
//! # async fn run() -> Result<(), fiscus_client::ClientError> {
//! use fiscus_client::{Client, ClientOptions};
//! let options = ClientOptions { token: Some("fiscus_…".into()), ..ClientOptions::default() };
//! let client = Client::connect("http://127.0.0.1:7878", options).await?;
//! let project = fiscus_client::project_id("rustconf-2026")?;
//! let verified = client.verify_project(&project).await?;
//! for b in &verified.balances {
//!     println!("{} {}", b.balance, b.currency);
//! }
//! # Ok(()) }
//! ```

mod audit;
mod error;
pub mod files;
mod pinned;
mod responses;
mod subscription;
pub mod tls;
mod verify;
mod wire;
pub mod witness;

use std::time::Duration;

use chrono::NaiveDate;
use fiscus_ledger::commit::{Committed, Position};
use fiscus_ledger::{Currency, Event, EventKind, ProjectId};
use fiscus_proto::pb;
use fiscus_proto::pb::audit_client::AuditClient;
use fiscus_proto::pb::ledger_client::LedgerClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use crate::audit::{CHECKPOINT_BYTES_MAX, COMMIT_ENTRY_BYTES_MAX};
pub use crate::error::{code_name, ClientError, Code, CUT_OFF_MID_CALL, NO_ANSWER_IN_TIME, STOPPED_ANSWERING};
pub use crate::pinned::{
    check_consistent, open_pinned, read_state, receipt_of, write_state, CosignedCheckpoint, PinnedVerification,
    WitnessRequirement, COSIGNED_SCAN_MAX, COSIGNED_WAIT_MAX,
};
pub use crate::responses::{
    Balances, ChainHead, CommitNotice, CommitOptions, EventsPage, Heads, OpenPledges, PendingExpense, ProjectSummary,
    RawRecord, RecordedEvent, Statements, TrialBalance,
};
pub use crate::verify::{short, verify_records, HeadProof, VerifiedProject};
pub use fiscus_ledger;
pub use fiscus_tlog;

/// How long connecting may take before it is an error (10 s): the TCP connection and the start of
/// HTTP/2 on it, which a stopped server's port never gives.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// How long a call waits for the server's answer unless [`ClientOptions::call_timeout`] says
/// otherwise (30 s, as the Python client; for a stream, its start: its items may come later). The deadline is also sent
/// as gRPC's `grpc-timeout`, so the server stops working on a call its client has given up on.
/// A call past it fails with `DEADLINE_EXCEEDED` ([`ClientError::is_unreachable`]).
pub const CALL_TIMEOUT_MS: u64 = 30_000;

/// How often an idle connection is checked with an HTTP/2 PING unless
/// [`ClientOptions::keep_alive`] says otherwise (20 s). A server that does not answer within
/// another [`KEEP_ALIVE_TIMEOUT_MS`] is taken to be gone and the connection closed, so that a
/// stream (`subscribe`, an export) from a server that stopped answering ends with an error instead
/// of waiting for ever.
pub const KEEP_ALIVE_INTERVAL_MS: u64 = 20_000;

/// How long a keep-alive PING waits for its answer (10 s, or the interval when that is shorter).
pub const KEEP_ALIVE_TIMEOUT_MS: u64 = 10_000;

/// Projects asked for per `ListProjects` page when listing them all.
pub const PROJECTS_PAGE_SIZE: u32 = 500;

/// Most times [`Client::pending`] and [`Client::trial_balance`] read their list again because it
/// changed between pages.
pub const PENDING_RESTARTS_MAX: usize = 8;

/// Most pages of one statement the client reads (each up to `fiscus_proto::ITEMS_BYTES_MAX` of
/// lines: far more than a chain of lines can take) before it calls the answer wrong.
pub const STATEMENT_PAGES_MAX: usize = 100_000;

/// How to reach the server.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Bearer token (`fiscus_…`, made with `fiscusd token add`); sent with every call.
    pub token: Option<String>,
    /// PEM certificate(s) of the CA to trust for an `https://` server; the system's roots when absent.
    pub tls_ca: Option<Vec<u8>>,
    /// The name to expect in the server's certificate, when it is not the URL's host.
    pub tls_domain: Option<String>,
    /// How long each call waits for the server's answer; `None` for [`CALL_TIMEOUT_MS`].
    pub call_timeout: Option<Duration>,
    /// How often a connection with a call or a stream open is checked with an HTTP/2 PING; `None`
    /// for [`KEEP_ALIVE_INTERVAL_MS`].
    pub keep_alive: Option<Duration>,
}

/// Adds `authorization: Bearer <token>` and the call's deadline (`grpc-timeout`) to every call.
#[derive(Clone)]
struct Bearer {
    token: Option<MetadataValue<Ascii>>,
    deadline: Duration,
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.token {
            request.metadata_mut().insert("authorization", v.clone());
        }
        // tonic's channel ends the call once the deadline passes, with or without an answer
        request.set_timeout(self.deadline);
        Ok(request)
    }
}

type Ledger = LedgerClient<InterceptedService<Channel, Bearer>>;
type Audit = AuditClient<InterceptedService<Channel, Bearer>>;

/// A connection to `fiscusd`. Cheap to clone; calls take `&self` and may run concurrently.
#[derive(Clone)]
pub struct Client {
    ledger: Ledger,
    audit: Audit,
    /// The server's URL, as given.
    url: String,
}

/// Parses a project id (a slug of `[a-z0-9-]`, 1–40 characters).
pub fn project_id(id: &str) -> Result<ProjectId, ClientError> {
    ProjectId::parse("project", id).map_err(ClientError::Request)
}

impl Client {
    /// Connects to `url` (`http://host:port`, or `https://…` for TLS).
    pub async fn connect(url: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let config = |message: String| ClientError::Config { url: url.to_owned(), message };
        let keep_alive = options.keep_alive.unwrap_or(Duration::from_millis(KEEP_ALIVE_INTERVAL_MS));
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| config(e.to_string()))?
            .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
            .http2_keep_alive_interval(keep_alive)
            .keep_alive_timeout(keep_alive.min(Duration::from_millis(KEEP_ALIVE_TIMEOUT_MS)));
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            tls = match &options.tls_ca {
                Some(ca) => tls.ca_certificate(Certificate::from_pem(ca)),
                None => tls.with_native_roots(),
            };
            if let Some(domain) = &options.tls_domain {
                tls = tls.domain_name(domain.clone());
            }
            endpoint = endpoint.tls_config(tls).map_err(|e| config(e.to_string()))?;
        } else if options.tls_ca.is_some() {
            return Err(config("a TLS CA was given for a plain http:// URL; use https://".to_owned()));
        }
        let bearer =
            match &options.token {
                // a signing key given as the token (both are one secret line) is never sent
                Some(t) if fiscus_tlog::is_signer_key(t) => return Err(config(
                    "the token is a private signing key (PRIVATE+KEY+...), not a bearer token: it is not sent; keep \
                     it secret"
                        .to_owned(),
                )),
                // (an empty FISCUS_TOKEN, or a token typed with letters no token holds, was sent
                // and answered "unknown token")
                Some(t) if t.trim().is_empty() => {
                    return Err(config(
                        "the token is empty: give the bearer token `fiscus token add` printed (--token-file, or \
                     FISCUS_TOKEN)"
                            .to_owned(),
                    ))
                }
                Some(t) if !t.trim().is_ascii() => {
                    return Err(config(
                        "the token must be printable ASCII, as every token made by `fiscus token add` is".to_owned(),
                    ))
                }
                Some(t) => Some(
                    format!("Bearer {}", t.trim())
                        .parse::<MetadataValue<Ascii>>()
                        .map_err(|_| config("the token must be printable ASCII".to_owned()))?,
                ),
                None => None,
            };
        // The whole of connecting, HTTP/2's start included: a stopped server's port still takes the
        // TCP connection (which `connect_timeout` bounds), and then nothing answers.
        let connected = tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), endpoint.connect()).await;
        let channel = match connected {
            Ok(channel) => channel.map_err(|e| ClientError::Connect {
                url: url.to_owned(),
                message: tls::explain(url, &e).unwrap_or_else(|| error_chain(&e)),
            })?,
            Err(_) => {
                return Err(ClientError::Connect {
                    url: url.to_owned(),
                    message: format!(
                        "the server took the connection but did not answer within {} s: it may be stopped or \
                         overloaded",
                        CONNECT_TIMEOUT_MS / 1000
                    ),
                })
            }
        };
        let deadline = options.call_timeout.unwrap_or(Duration::from_millis(CALL_TIMEOUT_MS));
        let bearer = Bearer { token: bearer, deadline };
        // The contract's largest message (`ledger.proto`, "Message sizes"), for answers and requests.
        let max = fiscus_proto::MESSAGE_BYTES_MAX;
        Ok(Client {
            ledger: LedgerClient::with_interceptor(channel.clone(), bearer.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            audit: AuditClient::with_interceptor(channel, bearer)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            url: url.to_owned(),
        })
    }

    /// Records one commit: `events` stored together or not at all. `expected_heads` optionally
    /// names, per project, the head seq the commit must find (else `ABORTED`). Each event is
    /// checked locally first, so a malformed one never reaches the server.
    pub async fn record_commit(
        &self,
        events: &[Event],
        expected_heads: &[(ProjectId, u64)],
    ) -> Result<Committed, ClientError> {
        self.record_commit_with(events, expected_heads, CommitOptions::default()).await
    }

    /// [`Client::record_commit`] with `options` (such as `allow_same_receipt`).
    pub async fn record_commit_with(
        &self,
        events: &[Event],
        expected_heads: &[(ProjectId, u64)],
        options: CommitOptions,
    ) -> Result<Committed, ClientError> {
        let r = self.record_commit_answer(events, expected_heads, options).await?;
        committed(&r)
    }

    /// The server's answer to a `RecordCommit` of `events` (each checked locally first).
    async fn record_commit_answer(
        &self,
        events: &[Event],
        expected_heads: &[(ProjectId, u64)],
        options: CommitOptions,
    ) -> Result<pb::RecordCommitResponse, ClientError> {
        for (i, e) in events.iter().enumerate() {
            e.validate(&format!("events[{i}]")).map_err(ClientError::Request)?;
        }
        let request = pb::RecordCommitRequest {
            events: events.iter().map(wire::event_pb).collect(),
            expected_seq: expected_heads.iter().map(|(p, s)| (p.as_str().to_owned(), *s)).collect(),
            allow_same_receipt: options.allow_same_receipt,
            dry_run: options.dry_run,
        };
        Ok(self.ledger.clone().record_commit(request).await?.into_inner())
    }

    /// Opens a project: `event` must be a `ProjectOpened` (role admin).
    pub async fn open_project(&self, event: &Event) -> Result<Committed, ClientError> {
        event.validate("").map_err(ClientError::Request)?;
        let opened = match wire::kind_pb(&event.kind) {
            pb::event::Kind::ProjectOpened(o) if matches!(event.kind, EventKind::ProjectOpened { .. }) => o,
            _ => {
                return Err(ClientError::Request(fiscus_ledger::LedgerError::invalid(
                    "kind",
                    "open_project takes a ProjectOpened event",
                )))
            }
        };
        let request = pb::OpenProjectRequest {
            event_id: event.event_id.clone(),
            project: event.project.as_str().to_owned(),
            effective_date: event.effective_date.to_string(),
            memo: event.memo.clone(),
            reference: event.reference.clone(),
            opened: Some(opened),
        };
        let r = self.ledger.clone().open_project(request).await?.into_inner();
        let p = r.position.as_ref().ok_or_else(|| ClientError::answer("position", "is missing"))?;
        Ok(Committed { commit: r.commit, positions: vec![position("position", p)?], duplicate: r.duplicate })
    }

    /// A project's balances, every currency it has used or only `currency`.
    pub async fn balance(&self, project: &ProjectId, currency: Option<Currency>) -> Result<Balances, ClientError> {
        self.balance_as_of(project, currency, None).await
    }

    /// A project's balances as of the end of `as_of` (events whose effective date is on or before
    /// it; `None`: every event recorded), every currency it has used or only `currency`.
    pub async fn balance_as_of(
        &self,
        project: &ProjectId,
        currency: Option<Currency>,
        as_of: Option<NaiveDate>,
    ) -> Result<Balances, ClientError> {
        let request = pb::GetBalanceRequest {
            project: project.as_str().to_owned(),
            currency: currency.map(|c| c.code().to_owned()),
            as_of: as_of.map(|d| d.to_string()),
        };
        let r = self.ledger.clone().get_balance(request).await?.into_inner();
        Ok(Balances {
            project: wire::project("project", &r.project)?,
            head_seq: r.head_seq,
            commit: r.commit,
            balances: r
                .balances
                .iter()
                .enumerate()
                .map(|(i, b)| wire::balance(&format!("balances[{i}]"), b))
                .collect::<Result<_, _>>()?,
        })
    }

    /// A project's statement for `from ..= to`, every currency or only `currency`.
    pub async fn statement(
        &self,
        project: &ProjectId,
        from: NaiveDate,
        to: NaiveDate,
        currency: Option<Currency>,
    ) -> Result<Statements, ClientError> {
        let mut request = pb::GetStatementRequest {
            project: project.as_str().to_owned(),
            from_date: from.to_string(),
            to_date: to.to_string(),
            currency: currency.map(|c| c.code().to_owned()),
            page_token: String::new(),
        };
        // A statement whose lines pass one message's budget comes in pages: every page has every
        // currency's statement, and the lines of each follow on from the page before.
        let mut whole: Option<pb::GetStatementResponse> = None;
        for _ in 0..STATEMENT_PAGES_MAX {
            let page = self.ledger.clone().get_statement(request.clone()).await?.into_inner();
            let next = page.next_page_token.clone();
            match &mut whole {
                None => whole = Some(page),
                Some(w) => {
                    if page.head_seq != w.head_seq {
                        return Err(ClientError::answer("head_seq", "changed between pages of one statement"));
                    }
                    for s in page.statements {
                        match w.statements.iter_mut().find(|x| x.currency == s.currency) {
                            Some(x) => x.lines.extend(s.lines),
                            None => w.statements.push(s),
                        }
                    }
                }
            }
            if next.is_empty() {
                let whole = whole.ok_or_else(|| ClientError::answer("statements", "no page"))?;
                return wire::statements(&whole);
            }
            if next == request.page_token {
                return Err(ClientError::answer("next_page_token", "does not move forward"));
            }
            request.page_token = next;
        }
        Err(ClientError::answer("next_page_token", format!("more than {STATEMENT_PAGES_MAX} pages")))
    }

    /// A page of a project's events after `after_seq`; `page_size` 0 asks for the server's default.
    pub async fn events(&self, project: &ProjectId, after_seq: u64, page_size: u32) -> Result<EventsPage, ClientError> {
        let request = pb::ListEventsRequest { project: project.as_str().to_owned(), after_seq, page_size };
        let r = self.ledger.clone().list_events(request).await?.into_inner();
        Ok(EventsPage {
            events: r
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| wire::recorded(&format!("events[{i}]"), e))
                .collect::<Result<_, _>>()?,
            next_after_seq: r.next_after_seq,
            head_seq: r.head_seq,
        })
    }

    /// Every project the token may read (closed ones too with `include_closed`), in id order.
    pub async fn projects(&self, include_closed: bool) -> Result<Vec<ProjectSummary>, ClientError> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let request =
                pb::ListProjectsRequest { after_project: after.clone(), page_size: PROJECTS_PAGE_SIZE, include_closed };
            let r = self.ledger.clone().list_projects(request).await?.into_inner();
            for (i, p) in r.projects.iter().enumerate() {
                out.push(wire::summary(&format!("projects[{i}]"), p)?);
            }
            if r.next_after_project.is_empty() || r.projects.is_empty() {
                return Ok(out);
            }
            if r.next_after_project <= after {
                return Err(ClientError::answer("next_after_project", "does not move forward"));
            }
            after = r.next_after_project;
        }
    }

    /// The sponsor-wide trial balance.
    ///
    /// Reads every page (`GetTrialBalanceResponse.next_after_account`), each answered from the
    /// same commit: when a later page answers from another commit, the balance is read again from
    /// the start, at most [`PENDING_RESTARTS_MAX`] times, then [`ClientError::Answer`].
    pub async fn trial_balance(&self) -> Result<TrialBalance, ClientError> {
        self.trial_balance_as_of(None).await
    }

    /// The sponsor-wide trial balance as of the end of `as_of` (events whose effective date is on
    /// or before it; `None`: every event recorded), read as [`Client::trial_balance`].
    pub async fn trial_balance_as_of(&self, as_of: Option<NaiveDate>) -> Result<TrialBalance, ClientError> {
        'again: for _ in 0..PENDING_RESTARTS_MAX {
            let mut request = pb::GetTrialBalanceRequest { as_of: as_of.map(|d| d.to_string()), ..Default::default() };
            let mut balance: Option<TrialBalance> = None;
            loop {
                let r = self.ledger.clone().get_trial_balance(request.clone()).await?.into_inner();
                let lines = r
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| wire::trial_line(&format!("lines[{i}]"), l))
                    .collect::<Result<Vec<_>, _>>()?;
                let all = match balance.as_mut() {
                    Some(b) if b.commit != r.commit => continue 'again,
                    Some(b) => b,
                    None => balance.insert(TrialBalance {
                        commit: r.commit,
                        lines: Vec::new(),
                        closed_through: wire::closed_through(r.closed_through.as_deref())?,
                    }),
                };
                all.lines.extend(lines);
                if r.next_after_account.is_empty() {
                    return balance.ok_or_else(|| ClientError::answer("lines", "no page was read"));
                }
                let next = (r.next_after_account, r.next_after_currency);
                if r.lines.is_empty() || next <= (request.after_account.clone(), request.after_currency.clone()) {
                    return Err(ClientError::answer("next_after_account", "does not move forward"));
                }
                (request.after_account, request.after_currency) = next;
            }
        }
        Err(ClientError::answer("commit", "the trial balance changed on every reading"))
    }

    /// Expense requests not yet paid or rejected, of one project or of every project readable.
    ///
    /// Reads every page (`ListPendingExpensesResponse.next_after`), each answered from the same
    /// commit: when a later page answers from another commit, the list is read again from the
    /// start, at most [`PENDING_RESTARTS_MAX`] times, then [`ClientError::Answer`].
    pub async fn pending(&self, project: Option<&ProjectId>) -> Result<Vec<PendingExpense>, ClientError> {
        let project = project.map(|p| p.as_str().to_owned()).unwrap_or_default();
        'again: for _ in 0..PENDING_RESTARTS_MAX {
            let mut out: Vec<PendingExpense> = Vec::new();
            let (mut after, mut commit) = (None::<pb::Position>, None);
            loop {
                let request = pb::ListPendingExpensesRequest { project: project.clone(), after: after.clone() };
                let r = self.ledger.clone().list_pending_expenses(request).await?.into_inner();
                if commit.is_some_and(|c| c != r.commit) {
                    continue 'again;
                }
                commit = Some(r.commit);
                for (i, p) in r.expenses.iter().enumerate() {
                    out.push(wire::pending(&format!("expenses[{i}]"), p)?);
                }
                match r.next_after {
                    None => return Ok(out),
                    Some(next) => {
                        let moves = after.as_ref().is_none_or(|a| (&next.project, next.seq) > (&a.project, a.seq));
                        if r.expenses.is_empty() || !moves {
                            return Err(ClientError::answer("next_after", "does not move forward"));
                        }
                        after = Some(next);
                    }
                }
            }
        }
        Err(ClientError::answer("commit", "the pending list changed on every reading"))
    }

    /// Open pledges as of `as_of` (`None`: the server's date today), of one project or of every
    /// project readable, with their receivables ageing.
    ///
    /// Reads every page (`ListOpenPledgesResponse.next_after`), each answered from the same commit:
    /// when a later page answers from another commit, the list is read again from the start, at
    /// most [`PENDING_RESTARTS_MAX`] times, then [`ClientError::Answer`].
    pub async fn open_pledges(
        &self,
        project: Option<&ProjectId>,
        as_of: Option<NaiveDate>,
    ) -> Result<OpenPledges, ClientError> {
        let project = project.map(|p| p.as_str().to_owned()).unwrap_or_default();
        'again: for _ in 0..PENDING_RESTARTS_MAX {
            let mut out: Option<OpenPledges> = None;
            let mut after = None::<pb::Position>;
            loop {
                let request = pb::ListOpenPledgesRequest {
                    project: project.clone(),
                    as_of: as_of.map(|d| d.to_string()),
                    after: after.clone(),
                };
                let r = self.ledger.clone().list_open_pledges(request).await?.into_inner();
                let all = match out.as_mut() {
                    Some(o) if o.commit != r.commit => continue 'again,
                    Some(o) => o,
                    None => out.insert(OpenPledges {
                        commit: r.commit,
                        as_of: wire::date("as_of", &r.as_of)?,
                        pledges: Vec::new(),
                        ageing: r
                            .ageing
                            .iter()
                            .enumerate()
                            .map(|(i, a)| wire::ageing(&format!("ageing[{i}]"), a))
                            .collect::<Result<_, _>>()?,
                    }),
                };
                for (i, p) in r.pledges.iter().enumerate() {
                    all.pledges.push(wire::open_pledge(&format!("pledges[{i}]"), p)?);
                }
                match r.next_after {
                    None => return out.ok_or_else(|| ClientError::answer("pledges", "no page was read")),
                    Some(next) => {
                        let moves = after.as_ref().is_none_or(|a| (&next.project, next.seq) > (&a.project, a.seq));
                        if r.pledges.is_empty() || !moves {
                            return Err(ClientError::answer("next_after", "does not move forward"));
                        }
                        after = Some(next);
                    }
                }
            }
        }
        Err(ClientError::answer("commit", "the open pledges changed on every reading"))
    }

    /// Commits after `after_commit` (catch-up), then each new one (live); of one project or all.
    pub async fn subscribe(&self, after_commit: u64, project: Option<&ProjectId>) -> Result<Subscription, ClientError> {
        let request =
            pb::SubscribeRequest { after_commit, project: project.map(|p| p.as_str().to_owned()).unwrap_or_default() };
        let stream = self.ledger.clone().subscribe(request).await?.into_inner();
        Ok(Subscription { stream, check: subscription::SubscriptionCheck::new(after_commit, project.cloned()) })
    }

    /// The commit head and the head of one chain (or of every chain the token may read).
    pub async fn head(&self, project: Option<&ProjectId>) -> Result<Heads, ClientError> {
        let request = pb::GetHeadRequest { project: project.map(|p| p.as_str().to_owned()).unwrap_or_default() };
        let r = self.audit.clone().get_head(request).await?.into_inner();
        wire::heads(&r)
    }

    /// Starts streaming a project's raw chain from `from_seq` (1 for the whole chain).
    pub async fn export_chain_stream(&self, project: &ProjectId, from_seq: u64) -> Result<ChainExport, ClientError> {
        let request = pb::ExportChainRequest { project: project.as_str().to_owned(), from_seq };
        let stream = self.audit.clone().export_chain(request).await?.into_inner();
        Ok(ChainExport { stream, head_seq: None })
    }

    /// A project's whole raw chain, as stored, in seq order (not verified: see [`Client::verify_project`]).
    pub async fn export_chain(&self, project: &ProjectId) -> Result<Vec<RawRecord>, ClientError> {
        let mut export = self.export_chain_stream(project, 1).await?;
        let mut out = Vec::new();
        while let Some(batch) = export.next_batch().await? {
            out.extend(batch);
        }
        Ok(out)
    }

    /// The provable balance: verifies the project's chain locally and compares the server's head
    /// and balances with it (see [`verify_records`]). No checkpoint proof yet.
    pub async fn verify_project(&self, project: &ProjectId) -> Result<VerifiedProject, ClientError> {
        self.verify_project_with(project, None, &mut |_, _| {}).await
    }

    /// [`Client::verify_project`] with a checkpoint `proof` of the head (the signed-checkpoint hook)
    /// and a `progress` callback of (records downloaded, head seq).
    pub async fn verify_project_with(
        &self,
        project: &ProjectId,
        proof: Option<&dyn HeadProof>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<VerifiedProject, ClientError> {
        // Balance, then head, then export: each reads at or after the one before, so with writes
        // in between the export covers both heads and each is checked at its own seq.
        let balances = self.balance(project, None).await?;
        let heads = self.head(Some(project)).await?;
        let head =
            heads.projects.into_iter().find(|h| &h.project == project).ok_or_else(|| ClientError::Verification {
                project: project.to_string(),
                seq: 0,
                problem: "the server names no head".into(),
            })?;
        let mut export = self.export_chain_stream(project, 1).await?;
        let mut records = Vec::new();
        while let Some(batch) = export.next_batch().await? {
            records.extend(batch);
            progress(records.len() as u64, export.head_seq.unwrap_or(0));
        }
        verify_records(project, &records, &head, &balances, proof)
    }
}

/// A running subscription: commits in order, none twice and none skipped.
pub struct Subscription {
    stream: tonic::Streaming<pb::SubscribeResponse>,
    check: subscription::SubscriptionCheck,
}

impl Subscription {
    /// The next commit; `None` when the server ends the stream. A commit that comes in parts
    /// (`SubscribeResponse.continues`) is put back together: its notice holds all its events. A
    /// commit that skips, repeats or does not chain is refused ([`ClientError::Answer`]; the
    /// module `subscription` lists the checks).
    pub async fn next(&mut self) -> Option<Result<CommitNotice, ClientError>> {
        let mut whole: Option<pb::SubscribeResponse> = None;
        loop {
            let part = match self.stream.message().await {
                Ok(Some(m)) => m,
                Ok(None) if whole.is_none() => return None,
                Ok(None) => return Some(Err(ClientError::answer("continues", "the stream ended within a commit"))),
                Err(s) => return Some(Err(s.into())),
            };
            let continues = part.continues;
            let so_far = match whole.take() {
                None => part,
                Some(mut w) => {
                    if (part.commit, &part.commit_hash) != (w.commit, &w.commit_hash) {
                        return Some(Err(ClientError::answer(
                            "commit",
                            "a part of another commit came within a commit",
                        )));
                    }
                    w.events.extend(part.events);
                    w
                }
            };
            if so_far.events.len() > fiscus_ledger::commit::COMMIT_EVENTS_MAX {
                return Some(Err(ClientError::answer("events", "more events than a commit holds")));
            }
            if !continues {
                let notice = wire::notice(&so_far).and_then(|n| self.check.next(&n).map(|()| n));
                return Some(notice);
            }
            whole = Some(so_far);
        }
    }
}

/// A raw chain being downloaded, batch by batch.
pub struct ChainExport {
    stream: tonic::Streaming<pb::ExportChainResponse>,
    /// The project's head seq when the export started (known after the first batch).
    pub head_seq: Option<u64>,
}

impl ChainExport {
    /// The next batch of records; `None` at the end.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<RawRecord>>, ClientError> {
        match self.stream.message().await? {
            None => Ok(None),
            Some(m) => {
                self.head_seq.get_or_insert(m.head_seq);
                let batch = m
                    .records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| wire::raw(&format!("records[{i}]"), r))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(batch))
            }
        }
    }
}

fn position(field: &str, p: &pb::Position) -> Result<Position, ClientError> {
    Ok(Position { project: wire::project(&format!("{field}.project"), &p.project)?, seq: p.seq })
}

/// An error with its sources, for transport errors whose top message says little.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    // Layers often repeat their source's words (hyper's "tcp connect error" wraps one of the same
    // name, some append their source's text themselves): say each thing once.
    let mut said: Vec<String> = Vec::new();
    for piece in parts.iter().flat_map(|p| p.split(": ")) {
        if said.last().map(String::as_str) != Some(piece) {
            said.push(piece.to_owned());
        }
    }
    said.join(": ")
}

/// The commit a `RecordCommit` answer reports.
fn committed(r: &pb::RecordCommitResponse) -> Result<Committed, ClientError> {
    Ok(Committed {
        commit: r.commit,
        positions: r
            .positions
            .iter()
            .enumerate()
            .map(|(i, p)| position(&format!("positions[{i}]"), p))
            .collect::<Result<_, _>>()?,
        duplicate: r.duplicate,
    })
}

#[cfg(test)]
mod tests {
    /// An error whose text repeats its source's, as hyper's connect errors do.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn a_connect_error_says_each_thing_once() {
        let refused = Layer("Connection refused (os error 111)", None);
        let inner = Layer("tcp connect error", Some(Box::new(refused)));
        let outer = Layer("tcp connect error", Some(Box::new(inner)));
        let top = Layer("transport error", Some(Box::new(outer)));
        assert_eq!(super::error_chain(&top), "transport error: tcp connect error: Connection refused (os error 111)");
    }
}
