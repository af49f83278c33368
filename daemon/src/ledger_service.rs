//! The `fiscus.v1.Ledger` service: writes go to the writer thread; reads answer from the latest
//! published snapshot and the store reader, and never wait for the writer.

use std::pin::Pin;
use std::sync::Arc;

use fiscus_ledger::money::format_amount;
use fiscus_ledger::record::Record;
use fiscus_ledger::statement::Statement;
use fiscus_ledger::{CommitRequest, Committed, Currency, Projection};
use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use rust_decimal::Decimal;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::auth::{Principal, RoleKind};
use crate::convert::{self, details_pb, event_from_pb, project_kind_pb, recorded_pb};
use crate::state::{blocking, chain, Shared};
use crate::status::{invalid, ledger_status};
use crate::tokens::Role;

/// Every role that reads every project.
const READ_ALL: &[RoleKind] = &[RoleKind::Admin, RoleKind::Accountant, RoleKind::Auditor];

/// The Ledger service.
pub struct LedgerService {
    shared: Arc<Shared>,
}

impl LedgerService {
    /// A service on the daemon's shared state.
    pub fn new(shared: Arc<Shared>) -> LedgerService {
        LedgerService { shared }
    }
}

/// `PERMISSION_DENIED` unless the principal may record every one of `events`.
fn may_record(principal: &Principal, events: &[pb::Event]) -> Result<(), Status> {
    principal.notes.events(events.iter().map(|e| (e.project.as_str(), e.event_id.as_str())));
    match &principal.role {
        Role::Admin => Ok(()),
        Role::Auditor => Err(Status::permission_denied("role auditor may not record events")),
        Role::Accountant => {
            for (i, e) in events.iter().enumerate() {
                if let Some(k @ (Kind::ProjectOpened(_) | Kind::ProjectTermsChanged(_) | Kind::ProjectClosed(_))) =
                    &e.kind
                {
                    return Err(Status::permission_denied(format!(
                        "events[{i}]: role accountant may not record {}; it needs admin",
                        convert::kind_field(k)
                    )));
                }
            }
            Ok(())
        }
        Role::Project(own) => {
            for (i, e) in events.iter().enumerate() {
                principal.may_write(&e.project)?;
                if !matches!(e.kind, Some(Kind::ExpenseRequested(_))) {
                    return Err(Status::permission_denied(format!(
                        "events[{i}]: a token of project {own} may record only expense_requested"
                    )));
                }
            }
            Ok(())
        }
    }
}

impl LedgerService {
    /// Converts, checks limits and commits events through the writer. `kind_at` names the request
    /// field holding the one event's kind when the request is not a `RecordCommitRequest`, so that a
    /// refusal names a path into the request that was sent.
    async fn commit(
        &self,
        principal: &Principal,
        events: Vec<fiscus_ledger::Event>,
        expected_heads: Vec<(fiscus_ledger::ProjectId, u64)>,
        kind_at: Option<&'static str>,
        allow_same_receipt: bool,
    ) -> Result<Committed, Status> {
        self.commit_or_check(principal, events, expected_heads, kind_at, allow_same_receipt, false).await
    }

    /// [`LedgerService::commit`], or with `check_only` the same request checked on the writer's
    /// current state and nothing stored (`RecordCommitRequest.dry_run`).
    async fn commit_or_check(
        &self,
        principal: &Principal,
        events: Vec<fiscus_ledger::Event>,
        expected_heads: Vec<(fiscus_ledger::ProjectId, u64)>,
        kind_at: Option<&'static str>,
        allow_same_receipt: bool,
        check_only: bool,
    ) -> Result<Committed, Status> {
        let kind = events.first().map(|e| e.kind.clone());
        principal.notes.events(events.iter().map(|e| (e.project.as_str(), e.event_id.as_str())));
        let request =
            CommitRequest { events, expected_heads, actor: principal.name.clone(), recorded_at: 0, allow_same_receipt };
        let paths = move |err: fiscus_ledger::LedgerError| match (kind_at, kind) {
            (Some(at), Some(kind)) => err.map_field(|path| convert::single_event_path(path, &kind, at)),
            _ => err,
        };
        self.shared.writer.commit_or_check(request, check_only, paths).await
    }

    fn check_memo(&self, field: &str, memo: &str) -> Result<(), Status> {
        let chars = memo.chars().count();
        let max = self.shared.limits.memo_chars_max;
        if chars > max {
            return Err(invalid(field, format!("is {chars} characters; this server accepts at most {max}")));
        }
        Ok(())
    }
}

/// The encoded size of `item` as one element of a repeated message field: its bytes, its length
/// prefix and its field tag (one byte: every repeated field of the contract is numbered below 16).
pub fn item_bytes<M: prost::Message>(item: &M) -> usize {
    let len = item.encoded_len();
    1 + prost::length_delimiter_len(len) + len
}

/// The first of `items` whose encoded sizes ([`item_bytes`]) add up to at most
/// `fiscus_proto::ITEMS_BYTES_MAX`, and always the first one (a page that moves on): the byte bound
/// of every answer that lists things (`ledger.proto`, "Message sizes").
pub fn within_budget<M: prost::Message>(items: impl IntoIterator<Item = M>) -> Vec<M> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for item in items {
        bytes = bytes.saturating_add(item_bytes(&item));
        if bytes > fiscus_proto::ITEMS_BYTES_MAX && !out.is_empty() {
            break;
        }
        out.push(item);
    }
    out
}

/// One page of trial balance `lines` (in (account, currency) order): those after
/// (`after_account`, `after_currency`) (all when the account is empty) that fit [`within_budget`],
/// and the account and currency to continue from when some are left.
fn trial_page(
    lines: impl IntoIterator<Item = pb::TrialBalanceLine>,
    after_account: &str,
    after_currency: &str,
) -> (Vec<pb::TrialBalanceLine>, Option<(String, String)>) {
    let rest: Vec<pb::TrialBalanceLine> = lines
        .into_iter()
        .filter(|l| {
            after_account.is_empty() || (l.account.as_str(), l.currency.as_str()) > (after_account, after_currency)
        })
        .collect();
    let total = rest.len();
    let page = within_budget(rest);
    let next = if page.len() < total { page.last().map(|l| (l.account.clone(), l.currency.clone())) } else { None };
    (page, next)
}

fn position_pb(p: &fiscus_ledger::Position) -> pb::Position {
    pb::Position { project: p.project.as_str().to_owned(), seq: p.seq }
}

fn first_position(c: &Committed) -> Option<pb::Position> {
    c.positions.first().map(position_pb)
}

fn statement_pb(s: &Statement) -> pb::CurrencyStatement {
    let c = s.currency;
    let totals = |m: &std::collections::BTreeMap<String, Decimal>| {
        m.iter().map(|(name, v)| pb::StatementTotal { name: name.clone(), amount: format_amount(*v, c) }).collect()
    };
    pb::CurrencyStatement {
        currency: c.code().to_owned(),
        opening_balance: format_amount(s.opening, c),
        lines: s
            .lines
            .iter()
            .map(|l| pb::StatementLine {
                date: l.date.to_string(),
                seq: l.seq,
                kind: l.kind.to_owned(),
                memo: l.memo.clone(),
                reference: l.reference.clone(),
                amount: format_amount(l.amount, c),
                gross: l.gross.map(|v| format_amount(v, c)),
                fee: l.fee.map(|v| format_amount(v, c)),
                counterparty: l.counterparty.clone(),
                detail: l.detail.clone(),
                running_balance: format_amount(l.running, c),
                reverses: l.reverses.as_ref().map(|r| pb::StatementReversal {
                    kind: r.kind.to_owned(),
                    seq: r.seq,
                    counts_under: r.under.clone(),
                    reason: r.reason.clone(),
                }),
            })
            .collect(),
        totals_by_source: totals(&s.by_source),
        totals_by_category: totals(&s.by_category),
        totals_by_kind: totals(&s.by_kind),
        closing_balance: format_amount(s.closing, c),
    }
}

/// One page of `statements` from `start` (a currency code and the index of its first line on this
/// page; `None` for the first page): every statement with its balances and totals, and the lines
/// from `start` on up to the byte budget. Returns the page and where the next one starts, if any.
fn statement_page(
    statements: &[Statement],
    start: Option<&(String, usize)>,
) -> (Vec<pb::CurrencyStatement>, Option<(String, usize)>) {
    let mut bytes = 0usize;
    let mut next: Option<(String, usize)> = None;
    let mut page = Vec::with_capacity(statements.len());
    let mut any = false;
    for s in statements {
        let mut out = statement_pb(s);
        let lines = std::mem::take(&mut out.lines);
        let code = s.currency.code();
        let first = match start {
            Some((from, _)) if code < from.as_str() => lines.len(),
            Some((from, line)) if code == from.as_str() => *line,
            _ => 0,
        };
        if next.is_none() {
            for (i, line) in lines.into_iter().enumerate().skip(first) {
                bytes = bytes.saturating_add(item_bytes(&line));
                if bytes > fiscus_proto::ITEMS_BYTES_MAX && any {
                    next = Some((code.to_owned(), i));
                    break;
                }
                any = true;
                out.lines.push(line);
            }
        }
        page.push(out);
    }
    (page, next)
}

/// Reads a statement page token `head:currency:line:query`, checking that it continues the same
/// query (`project:from:to:currency`) at a head seq the chain has reached.
fn parse_page_token(token: &str, query: &str, head: u64) -> Result<(u64, String, usize), Status> {
    let bad = || invalid("page_token", "is not a next_page_token of this statement (same project, dates and currency)");
    let mut parts = token.splitn(4, ':');
    let (Some(h), Some(code), Some(line), Some(rest)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let h: u64 = h.parse().map_err(|_| bad())?;
    let line: usize = line.parse().map_err(|_| bad())?;
    if rest != query || h > head || code.len() != 3 {
        return Err(bad());
    }
    Ok((h, code.to_owned(), line))
}

fn summary_pb(p: &fiscus_ledger::ProjectState) -> Option<pb::ProjectSummary> {
    let info = p.info.as_ref()?;
    Some(pb::ProjectSummary {
        project: p.id.as_str().to_owned(),
        name: info.name.clone(),
        kind: project_kind_pb(info.kind).into(),
        fee_bps: info.fee_bps,
        currency: info.currency.code().to_owned(),
        advance_limit: format_amount(info.advance_limit, info.currency),
        opened_on: info.opened_on.to_string(),
        closed: p.closed,
        closed_through: p.closed_through.map(|d| d.to_string()),
        head_seq: p.head.seq,
    })
}

/// An optional `as_of` request field, read by the one date parser (an error names `field`).
fn as_of_field(field: &str, text: Option<&str>) -> Result<Option<chrono::NaiveDate>, Status> {
    text.map(|t| convert::date(field, t).map_err(|e| ledger_status(&e))).transpose()
}

/// The server's UTC date today: the default date of a report that names none.
fn today_utc() -> chrono::NaiveDate {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0).map_or(fiscus_ledger::ids::DATE_MIN, |t| t.date_naive())
}

/// The events of each of `chains` up to its head seq in one snapshot (read on the blocking pool):
/// what a report as of a date folds, so that it answers from that one snapshot.
async fn events_upto(
    shared: &Shared,
    chains: Vec<(fiscus_ledger::ProjectId, u64)>,
) -> Result<Vec<(fiscus_ledger::ProjectId, Vec<(u64, fiscus_ledger::Event)>)>, Status> {
    let reader = shared.reader.clone();
    blocking(move || {
        chains
            .into_iter()
            .map(|(id, head)| {
                let records = if head == 0 { Vec::new() } else { reader.records(id.as_str(), 1, head, usize::MAX)? };
                Ok((id, records.into_iter().map(|r| (r.seq, r.event)).collect()))
            })
            .collect()
    })
    .await
}

fn balance_pb(b: &fiscus_ledger::Balance) -> pb::CurrencyBalance {
    let c = b.currency;
    pb::CurrencyBalance {
        currency: c.code().to_owned(),
        balance: format_amount(b.balance, c),
        available: format_amount(b.available, c),
        restricted: b
            .restricted
            .iter()
            .map(|x| pb::RestrictedBalance {
                purpose: x.purpose.clone(),
                balance: format_amount(x.balance, c),
                available: format_amount(x.available, c),
            })
            .collect(),
        held: format_amount(b.held, c),
        pledged: format_amount(b.pledged, c),
        advances_outstanding: format_amount(b.advances_outstanding, c),
        fees_to_date: format_amount(b.fees_to_date, c),
    }
}

fn open_pledge_pb(p: &fiscus_ledger::report::OpenPledge) -> pb::OpenPledge {
    let c = p.pledged.currency();
    pb::OpenPledge {
        position: Some(pb::Position { project: p.project.as_str().to_owned(), seq: p.seq }),
        sponsor: p.sponsor.clone(),
        pledged_on: p.pledged_on.to_string(),
        due_date: p.due_date.to_string(),
        pledged: Some(convert::money_pb(&p.pledged)),
        fulfilled: format_amount(p.fulfilled, c),
        outstanding: format_amount(p.outstanding, c),
        days_overdue: u32::try_from(p.days_overdue).unwrap_or(u32::MAX),
        overdue: p.overdue(),
        bucket: p.bucket().name().to_owned(),
    }
}

fn ageing_pb(c: Currency, t: &fiscus_ledger::report::AgeingTotals) -> pb::PledgeAgeing {
    use fiscus_ledger::report::AgeingBucket as B;
    pb::PledgeAgeing {
        currency: c.code().to_owned(),
        current: format_amount(t.get(B::Current), c),
        days_1_30: format_amount(t.get(B::Days1To30), c),
        days_31_60: format_amount(t.get(B::Days31To60), c),
        days_61_90: format_amount(t.get(B::Days61To90), c),
        over_90: format_amount(t.get(B::Over90), c),
        total: format_amount(t.total(), c),
    }
}

/// The home currency of a chain in a snapshot, for amounts that carry none.
pub fn home_of(snapshot: &Projection, project: &str) -> Option<Currency> {
    snapshot.project(project).and_then(|s| s.info.as_ref()).map(|i| i.currency)
}

#[tonic::async_trait]
impl pb::ledger_server::Ledger for LedgerService {
    async fn open_project(
        &self,
        request: Request<pb::OpenProjectRequest>,
    ) -> Result<Response<pb::OpenProjectResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        principal.require(&[RoleKind::Admin], "open projects")?;
        let r = request.into_inner();
        let opened = r.opened.ok_or_else(|| invalid("opened", "is required"))?;
        self.check_memo("memo", &r.memo)?;
        let wire = pb::Event {
            event_id: r.event_id,
            project: r.project,
            effective_date: r.effective_date,
            memo: r.memo,
            reference: r.reference,
            kind: Some(Kind::ProjectOpened(opened)),
        };
        let event = event_from_pb(&wire, "", Some("opened")).map_err(|e| ledger_status(&e))?;
        let c = self.commit(&principal, vec![event], Vec::new(), Some("opened"), false).await?;
        Ok(Response::new(pb::OpenProjectResponse {
            commit: c.commit,
            position: first_position(&c),
            duplicate: c.duplicate,
        }))
    }

    async fn change_terms(
        &self,
        request: Request<pb::ChangeTermsRequest>,
    ) -> Result<Response<pb::ChangeTermsResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        principal.require(&[RoleKind::Admin], "change a project's terms")?;
        let r = request.into_inner();
        let terms = r.terms.ok_or_else(|| invalid("terms", "is required"))?;
        self.check_memo("memo", &r.memo)?;
        let expected = r.expected_seq;
        let wire = pb::Event {
            event_id: r.event_id,
            project: r.project,
            effective_date: r.effective_date,
            memo: r.memo,
            reference: r.reference,
            kind: Some(Kind::ProjectTermsChanged(terms)),
        };
        let event = event_from_pb(&wire, "", Some("terms")).map_err(|e| ledger_status(&e))?;
        let heads = expected.map(|seq| vec![(event.project.clone(), seq)]).unwrap_or_default();
        let c = self.commit(&principal, vec![event], heads, Some("terms"), false).await?;
        Ok(Response::new(pb::ChangeTermsResponse {
            commit: c.commit,
            position: first_position(&c),
            duplicate: c.duplicate,
        }))
    }

    async fn record_commit(
        &self,
        request: Request<pb::RecordCommitRequest>,
    ) -> Result<Response<pb::RecordCommitResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let r = request.into_inner();
        may_record(&principal, &r.events)?;
        let max = self.shared.limits.commit_events_max;
        if r.events.len() > max {
            return Err(invalid(
                "events",
                format!("{} events; this server takes at most {max} per commit", r.events.len()),
            ));
        }
        let mut events = Vec::with_capacity(r.events.len());
        for (i, e) in r.events.iter().enumerate() {
            self.check_memo(&format!("events[{i}].memo"), &e.memo)?;
            events.push(event_from_pb(e, &format!("events[{i}]"), None).map_err(|e| ledger_status(&e))?);
        }
        let mut heads = Vec::with_capacity(r.expected_seq.len());
        for (project, seq) in &r.expected_seq {
            principal.may_read(project)?;
            // (a key is cut in the path as a value is in a message: it came from the request)
            let path =
                format!("expected_seq[{}]", crate::status::bounded(project, fiscus_ledger::error::QUOTED_CHARS_MAX));
            let id = convert::project_id(&path, project).map_err(|e| ledger_status(&e))?;
            heads.push((id, *seq));
        }
        let c = self.commit_or_check(&principal, events, heads, None, r.allow_same_receipt, r.dry_run).await?;
        if r.dry_run {
            return Ok(Response::new(pb::RecordCommitResponse {
                commit: c.commit,
                positions: c.positions.iter().map(position_pb).collect(),
                duplicate: c.duplicate,
                receipt: None,
            }));
        }
        // the commit's group is under a signed, stored checkpoint by now (written in its batch)
        let receipt = if crate::writer::without_log() {
            None // only when measuring the log's cost (`fiscusd --measure-without-log`)
        } else {
            Some(crate::audit_service::receipt(&self.shared, &principal, c.commit).await?)
        };
        Ok(Response::new(pb::RecordCommitResponse {
            commit: c.commit,
            positions: c.positions.iter().map(position_pb).collect(),
            duplicate: c.duplicate,
            receipt,
        }))
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::GetBalanceResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let snapshot = self.shared.readable(principal, "project", &r.project)?;
        let only = match &r.currency {
            Some(code) => Some(convert::currency("currency", code).map_err(|e| ledger_status(&e))?),
            None => None,
        };
        let as_of = as_of_field("as_of", r.as_of.as_deref())?;
        let state = chain(&snapshot, &r.project)?;
        let all = match as_of {
            None => state.balances(),
            Some(date) => {
                // the events up to this snapshot's head, those dated on or before `as_of` folded
                let chains = events_upto(&self.shared, vec![(state.id.clone(), state.head.seq)]).await?;
                let (id, events) = chains.into_iter().next().unwrap_or_else(|| (state.id.clone(), Vec::new()));
                fiscus_ledger::report::state_as_of(&id, events, date).balances()
            }
        };
        let balances = all.iter().filter(|b| only.is_none_or(|c| c == b.currency)).map(balance_pb).collect();
        Ok(Response::new(pb::GetBalanceResponse {
            project: r.project.clone(),
            head_seq: state.head.seq,
            commit: snapshot.commit_head.number,
            balances,
            as_of: as_of.map(|d| d.to_string()),
        }))
    }

    async fn get_statement(
        &self,
        request: Request<pb::GetStatementRequest>,
    ) -> Result<Response<pb::GetStatementResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref().clone();
        let snapshot = self.shared.readable(principal, "project", &r.project)?;
        let from = convert::date("from_date", &r.from_date).map_err(|e| ledger_status(&e))?;
        let to = convert::date("to_date", &r.to_date).map_err(|e| ledger_status(&e))?;
        if from > to {
            return Err(invalid("to_date", format!("{to} is before from_date {from}")));
        }
        let state = chain(&snapshot, &r.project)?;
        let currencies: Vec<Currency> = match &r.currency {
            Some(code) => vec![convert::currency("currency", code).map_err(|e| ledger_status(&e))?],
            None if state.books.is_empty() => state.info.iter().map(|i| i.currency).collect(),
            None => state.books.keys().copied().collect(),
        };
        // Every page of one statement is of the first page's head seq (records up to it never change).
        let query = format!("{}:{from}:{to}:{}", r.project, r.currency.as_deref().unwrap_or(""));
        let (head_seq, start) = match r.page_token.as_str() {
            "" => (state.head.seq, None),
            token => {
                let (head, code, line) = parse_page_token(token, &query, state.head.seq)?;
                (head, Some((code, line)))
            }
        };
        let reader = self.shared.reader.clone();
        let (project, id) = (r.project.clone(), state.id.clone());
        let statements: Vec<Statement> = blocking(move || {
            let records = reader.records(&project, 1, head_seq, usize::MAX)?;
            let events: Vec<(u64, fiscus_ledger::Event)> = records.into_iter().map(|r| (r.seq, r.event)).collect();
            currencies
                .into_iter()
                .map(|c| fiscus_ledger::statement::statement(&id, c, from, to, events.iter().cloned()))
                .collect()
        })
        .await?;
        let (statements, next) = statement_page(&statements, start.as_ref());
        Ok(Response::new(pb::GetStatementResponse {
            project: r.project,
            from_date: from.to_string(),
            to_date: to.to_string(),
            head_seq,
            statements,
            next_page_token: next.map(|(code, line)| format!("{head_seq}:{code}:{line}:{query}")).unwrap_or_default(),
        }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref().clone();
        let snapshot = self.shared.readable(principal, "project", &r.project)?;
        let page = self.shared.page_size("page_size", r.page_size)?;
        // Every seq after `after_seq` up to the snapshot's head, none past it (it may not be durable
        // yet, and the answer reports this head).
        let head_seq = chain(&snapshot, &r.project)?.head.seq;
        let reader = self.shared.reader.clone();
        let project = r.project.clone();
        let from = r.after_seq.saturating_add(1);
        let raws = blocking(move || reader.raw_records(&project, from, head_seq, page)).await?;
        let home = home_of(&snapshot, &r.project);
        let mut events = Vec::with_capacity(raws.len());
        let mut bytes = 0usize;
        for raw in &raws {
            let record = Record::decode(&raw.bytes).map_err(|e| Status::data_loss(e.to_string()))?;
            let event = recorded_pb(&record, &raw.hash, home);
            // The page ends early before the event that would pass the byte budget.
            bytes = bytes.saturating_add(item_bytes(&event));
            if bytes > fiscus_proto::ITEMS_BYTES_MAX && !events.is_empty() {
                break;
            }
            events.push(event);
        }
        let next_after_seq = events.last().map_or(r.after_seq, |e: &pb::RecordedEvent| e.seq);
        Ok(Response::new(pb::ListEventsResponse { events, next_after_seq, head_seq }))
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let page = self.shared.page_size("page_size", r.page_size)?;
        let snapshot = self.shared.snapshot();
        let own = principal.own_project();
        let mut matching = snapshot
            .projects()
            .filter(|p| p.id.as_str() > r.after_project.as_str())
            .filter(|p| r.include_closed || !p.closed)
            .filter(|p| own.is_none_or(|o| o == p.id.as_str()))
            .filter_map(summary_pb);
        let projects: Vec<pb::ProjectSummary> = matching.by_ref().take(page).collect();
        let more = matching.next().is_some();
        let next_after_project = match (more, projects.last()) {
            (true, Some(last)) => last.project.clone(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListProjectsResponse { projects, next_after_project }))
    }

    async fn get_trial_balance(
        &self,
        request: Request<pb::GetTrialBalanceRequest>,
    ) -> Result<Response<pb::GetTrialBalanceResponse>, Status> {
        let principal = Principal::of(&request)?;
        principal.require(READ_ALL, "read the trial balance")?;
        self.shared.whole_ledger()?;
        let r = request.get_ref();
        let as_of = as_of_field("as_of", r.as_of.as_deref())?;
        let snapshot = self.shared.snapshot();
        let lines = match as_of {
            None => snapshot.trial_balance(),
            Some(date) => {
                let chains = snapshot.chains().map(|c| (c.id.clone(), c.head.seq)).collect();
                fiscus_ledger::report::trial_balance_as_of(events_upto(&self.shared, chains).await?, date)
            }
        };
        let all = lines.into_iter().map(|l| pb::TrialBalanceLine {
            account: l.account,
            currency: l.currency.code().to_owned(),
            amount: format_amount(l.amount, l.currency),
        });
        let (lines, next) = trial_page(all, &r.after_account, &r.after_currency);
        let (next_after_account, next_after_currency) = next.unwrap_or_default();
        Ok(Response::new(pb::GetTrialBalanceResponse {
            commit: snapshot.commit_head.number,
            lines,
            closed_through: snapshot.sponsor_closed_through().map(|d| d.to_string()),
            next_after_account,
            next_after_currency,
            as_of: as_of.map(|d| d.to_string()),
        }))
    }

    async fn list_open_pledges(
        &self,
        request: Request<pb::ListOpenPledgesRequest>,
    ) -> Result<Response<pb::ListOpenPledgesResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let (only, snapshot) = self.shared.scope(principal, &r.project)?;
        if only.is_none() {
            self.shared.whole_ledger()?;
        }
        let as_of = as_of_field("as_of", r.as_of.as_deref())?.unwrap_or_else(today_utc);
        let chains: Vec<_> = snapshot
            .projects()
            .filter(|p| only.as_deref().is_none_or(|o| o == p.id.as_str()))
            .map(|p| (p.id.clone(), p.head.seq))
            .collect();
        let mut open = Vec::new();
        for (id, events) in events_upto(&self.shared, chains).await? {
            open.extend(fiscus_ledger::report::open_pledges(&id, events, as_of));
        }
        let ageing = fiscus_ledger::report::ageing(&open).iter().map(|(c, t)| ageing_pb(*c, t)).collect::<Vec<_>>();
        let after = r.after.as_ref().map(|a| (a.project.as_str(), a.seq));
        let all: Vec<pb::OpenPledge> =
            open.iter().filter(|p| after.is_none_or(|a| (p.project.as_str(), p.seq) > a)).map(open_pledge_pb).collect();
        let total = all.len();
        let pledges = within_budget(all);
        let next_after = if pledges.len() < total { pledges.last().and_then(|p| p.position.clone()) } else { None };
        Ok(Response::new(pb::ListOpenPledgesResponse {
            commit: snapshot.commit_head.number,
            as_of: as_of.to_string(),
            pledges,
            next_after,
            ageing,
        }))
    }

    async fn list_pending_expenses(
        &self,
        request: Request<pb::ListPendingExpensesRequest>,
    ) -> Result<Response<pb::ListPendingExpensesResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let (only, snapshot) = self.shared.scope(principal, &r.project)?;
        if only.is_none() {
            self.shared.whole_ledger()?;
        }
        let after = r.after.as_ref().map(|a| (a.project.as_str(), a.seq));
        let all: Vec<pb::PendingExpense> = snapshot
            .pending_requests()
            .into_iter()
            .filter(|p| only.as_deref().is_none_or(|o| o == p.project.as_str()))
            .filter(|p| after.is_none_or(|a| (p.project.as_str(), p.seq) > a))
            .map(|p| pb::PendingExpense {
                position: Some(pb::Position { project: p.project.as_str().to_owned(), seq: p.seq }),
                details: Some(details_pb(&p.request.details)),
                requester: p.request.requester.clone(),
                requested_on: p.request.date.to_string(),
                approved: p.request.approved,
                same_receipt_seqs: p.same_receipt,
            })
            .collect();
        let total = all.len();
        let expenses = within_budget(all);
        let next_after = if expenses.len() < total { expenses.last().and_then(|e| e.position.clone()) } else { None };
        Ok(Response::new(pb::ListPendingExpensesResponse { expenses, next_after, commit: snapshot.commit_head.number }))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send + 'static>>;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let principal = Principal::of(&request)?.clone();
        let stream = crate::subscribe::start(self.shared.clone(), &principal, request.into_inner())?;
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod trial_page_tests {
    use super::*;

    fn line(i: usize) -> pb::TrialBalanceLine {
        pb::TrialBalanceLine {
            account: format!("Liabilities:Projects:p{i:06}:{}", "x".repeat(200)),
            currency: "USD".into(),
            amount: "1.00".into(),
        }
    }

    #[test]
    fn a_trial_balance_past_the_byte_budget_comes_in_pages_that_continue() {
        let lines: Vec<pb::TrialBalanceLine> = (0..20_000).map(line).collect();
        let mut read = Vec::new();
        let (mut account, mut currency) = (String::new(), String::new());
        for _ in 0..10 {
            let (page, next) = trial_page(lines.clone(), &account, &currency);
            let bytes: usize = page.iter().map(item_bytes).sum();
            assert!(bytes <= fiscus_proto::ITEMS_BYTES_MAX && !page.is_empty());
            read.extend(page);
            match next {
                Some((a, c)) => (account, currency) = (a, c),
                None => break,
            }
        }
        assert_eq!(read, lines, "every line once, in order, over more than one page");
        let (page, next) = trial_page(lines[..3].to_vec(), "", "");
        assert_eq!((page.len(), next), (3, None), "a small balance is one page");
    }
}
