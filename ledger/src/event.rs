//! Events: what accounting, organisers and the sponsor record. Each is validated on its own here
//! (shape and limits); the rules that need the ledger's state live in `rules.rs`.
//!
//! Some fields are *completed* by the ledger when an event is accepted (the fee rate in force, the
//! amount a cancellation releases, what a reversal negates), so that a stored event's postings follow
//! from the stored event alone. Requests leave those fields empty.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{field_path, LedgerError};
use crate::ids::{
    check_date, check_event_id, check_slug, check_text, ProjectId, MEMO_CHARS_MAX, NAME_CHARS_MAX, REFERENCE_CHARS_MAX,
};
use crate::money::{amount_codec, Currency, Money, AMOUNT_MAX, FEE_BPS_MAX};

/// One event of one project's chain, as a client submits it (plus completed fields once stored).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Event {
    /// Client-chosen idempotency key, 1–64 printable ASCII characters, unique across the ledger.
    pub event_id: String,
    /// The project whose chain holds the event ([`crate::ids::SPONSOR_CHAIN`] for sponsor-wide events).
    pub project: ProjectId,
    /// The accounting date.
    pub effective_date: NaiveDate,
    /// Free text, at most 1,000 characters.
    pub memo: String,
    /// External id such as an invoice number.
    pub reference: Option<String>,
    /// What happened.
    pub kind: EventKind,
}

/// What kind of project a sponsored project is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ProjectKind {
    /// A conference.
    Conference,
    /// A meetup.
    Meetup,
    /// A workshop.
    Workshop,
    /// An open-source project.
    OpenSource,
    /// Anything else.
    Other,
}

/// Where a contribution came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Source {
    /// A sponsorship.
    Sponsorship,
    /// A donation.
    Donation,
    /// Ticket sales.
    TicketSales,
    /// A grant from outside.
    Grant,
    /// Anything else.
    Other,
}

/// Which of a project's funds money goes into or comes out of.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Fund {
    /// Spendable on anything.
    Unrestricted,
    /// For one purpose only (`[a-z0-9-]`, 1–40 characters).
    Restricted(String),
}

impl ProjectKind {
    /// Every kind, in format order.
    pub const ALL: [ProjectKind; 5] = [
        ProjectKind::Conference,
        ProjectKind::Meetup,
        ProjectKind::Workshop,
        ProjectKind::OpenSource,
        ProjectKind::Other,
    ];

    /// DESIGN's name: `conference`, `meetup`, `workshop`, `open-source`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            ProjectKind::Conference => "conference",
            ProjectKind::Meetup => "meetup",
            ProjectKind::Workshop => "workshop",
            ProjectKind::OpenSource => "open-source",
            ProjectKind::Other => "other",
        }
    }

    /// Parses a name of [`ProjectKind::name`] for request field `field`.
    pub fn parse(field: &str, name: &str) -> Result<ProjectKind, LedgerError> {
        Self::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            LedgerError::invalid(
                field,
                format!(
                    "{} is not one of conference, meetup, workshop, open-source, other",
                    crate::error::quoted(name)
                ),
            )
        })
    }
}

impl Source {
    /// Every source, in format order.
    pub const ALL: [Source; 5] =
        [Source::Sponsorship, Source::Donation, Source::TicketSales, Source::Grant, Source::Other];

    /// DESIGN's name: `sponsorship`, `donation`, `ticket-sales`, `grant`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Sponsorship => "sponsorship",
            Source::Donation => "donation",
            Source::TicketSales => "ticket-sales",
            Source::Grant => "grant",
            Source::Other => "other",
        }
    }

    /// Parses a name of [`Source::name`] for request field `field`.
    pub fn parse(field: &str, name: &str) -> Result<Source, LedgerError> {
        Self::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            LedgerError::invalid(
                field,
                format!(
                    "{} is not one of sponsorship, donation, ticket-sales, grant, other",
                    crate::error::quoted(name)
                ),
            )
        })
    }
}

impl Fund {
    /// `unrestricted` or `restricted:<purpose>`, as errors and exports name it.
    pub fn label(&self) -> String {
        match self {
            Fund::Unrestricted => "unrestricted".to_owned(),
            Fund::Restricted(p) => format!("restricted:{p}"),
        }
    }

    fn validate(&self, field: &str) -> Result<(), LedgerError> {
        match self {
            Fund::Unrestricted => Ok(()),
            Fund::Restricted(p) => check_slug(&format!("{field}.restricted_purpose"), p, "purpose"),
        }
    }
}

/// The invoice or receipt behind an expense: its blake3 hash and file name (the file is kept elsewhere).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Receipt {
    /// blake3 of the file's bytes.
    #[serde(with = "crate::chain::hash_bytes")]
    pub hash: [u8; 32],
    /// The file's name, at most 200 characters, no '/'.
    pub file_name: String,
}

/// What an expense is: who is paid how much, for what, from which fund, with which receipt.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ExpenseDetails {
    /// The amount paid.
    pub amount: Money,
    /// Who is paid.
    pub payee: String,
    /// Expense category (`[a-z0-9-]`), used for statement totals.
    pub category: String,
    /// The fund it is paid from.
    pub fund: Fund,
    /// The receipt.
    pub receipt: Receipt,
}

impl ExpenseDetails {
    fn validate(&self, field: &str) -> Result<(), LedgerError> {
        check_text(&format!("{field}.payee"), &self.payee, NAME_CHARS_MAX, false, false)?;
        check_slug(&format!("{field}.category"), &self.category, "category")?;
        self.fund.validate(&format!("{field}.fund"))?;
        let name_field = format!("{field}.receipt.file_name");
        check_text(&name_field, &self.receipt.file_name, NAME_CHARS_MAX, false, false)?;
        if self.receipt.file_name.contains('/') {
            return Err(LedgerError::invalid(&name_field, "must be a file name, without '/'"));
        }
        Ok(())
    }
}

/// Every kind of event. The variant order is part of the record format: append only.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum EventKind {
    /// Opens a project with its terms. No postings.
    ProjectOpened {
        /// Display name.
        name: String,
        /// Kind of project.
        kind: ProjectKind,
        /// Fee on contributions, in basis points (0–5000).
        fee_bps: u32,
        /// The project's home currency (advances are in it).
        currency: Currency,
        /// Most the project may have in outstanding advances, in its currency.
        #[serde(with = "amount_codec")]
        advance_limit: Decimal,
    },
    /// Changes terms for later events. No postings.
    ProjectTermsChanged {
        /// New fee rate.
        fee_bps: Option<u32>,
        /// New advance limit.
        #[serde(with = "amount_codec::option")]
        advance_limit: Option<Decimal>,
    },
    /// Money received for the project; the sponsor's fee is taken.
    ContributionReceived {
        /// Amount received.
        amount: Money,
        /// Who paid.
        from: String,
        /// Kind of income.
        source: Source,
        /// Fund credited.
        fund: Fund,
        /// Fee rate for this contribution; completed with the project's rate when empty.
        fee_bps: Option<u32>,
    },
    /// A sponsor's promise to pay.
    PledgeRecorded {
        /// Amount pledged.
        amount: Money,
        /// The sponsor.
        sponsor: String,
        /// When payment is due.
        #[serde(with = "crate::ids::date_codec")]
        due_date: NaiveDate,
    },
    /// (Part of) a pledge paid.
    PledgeFulfilled {
        /// Amount paid.
        amount: Money,
        /// Seq of the `PledgeRecorded` in the same project.
        pledge: u64,
        /// Fee rate; completed with the project's rate when empty.
        fee_bps: Option<u32>,
    },
    /// What remains of a pledge will not be paid.
    PledgeCancelled {
        /// Seq of the `PledgeRecorded`.
        pledge: u64,
        /// What remained; completed by the ledger (a request may give it as a check).
        amount: Option<Money>,
    },
    /// A grant from the sponsor's own funds.
    GrantAwarded {
        /// Amount granted.
        amount: Money,
        /// Grant program (`[a-z0-9-]`).
        program: String,
    },
    /// Money advanced to the project, owed back.
    AdvanceIssued {
        /// Amount advanced, in the project's currency.
        amount: Money,
        /// What it is for.
        purpose: String,
    },
    /// An advance paid back.
    AdvanceRepaid {
        /// Amount repaid.
        amount: Money,
    },
    /// A vendor or reimbursement paid: directly (`details`) or an approved request (`request`).
    ExpensePaid {
        /// Seq of the approved `ExpenseRequested`, when paying a request.
        request: Option<u64>,
        /// What is paid; completed from the request when paying one.
        details: Option<ExpenseDetails>,
    },
    /// An expense filed for approval. No postings.
    ExpenseRequested {
        /// What is requested.
        details: ExpenseDetails,
    },
    /// A request approved: a hold of its amount on its fund. No postings.
    ExpenseApproved {
        /// Seq of the `ExpenseRequested`.
        request: u64,
    },
    /// A request refused: any hold released. No postings.
    ExpenseRejected {
        /// Seq of the `ExpenseRequested`.
        request: u64,
        /// Why.
        reason: String,
    },
    /// Part or all of a contribution paid back.
    RefundIssued {
        /// Amount refunded.
        amount: Money,
        /// Seq of the `ContributionReceived`.
        contribution: u64,
        /// The fund the contribution went to; completed by the ledger.
        fund: Option<Fund>,
        /// The fee's share given back; completed by the ledger.
        #[serde(with = "amount_codec::option")]
        fee_share: Option<Decimal>,
    },
    /// Money sent to another project (committed with its `TransferReceived`).
    TransferSent {
        /// Amount.
        amount: Money,
        /// Receiving project.
        to: ProjectId,
    },
    /// Money received from another project (committed with its `TransferSent`).
    TransferReceived {
        /// Amount.
        amount: Money,
        /// Sending project.
        from: ProjectId,
    },
    /// Restricted money released to the unrestricted fund.
    FundsReleased {
        /// Amount.
        amount: Money,
        /// The restricted purpose.
        purpose: String,
    },
    /// Unrestricted money converted to another currency.
    CurrencyConverted {
        /// Amount given up.
        amount: Money,
        /// Amount obtained.
        to: Money,
    },
    /// A balance brought over from earlier books.
    OpeningBalance {
        /// Amount.
        amount: Money,
        /// Fund credited.
        fund: Fund,
    },
    /// Negates an earlier event's postings.
    EventReversed {
        /// Seq of the event reversed, in the same project.
        target_seq: u64,
        /// Why.
        reason: String,
        /// The reversed event as stored; completed by the ledger.
        target: Option<Box<EventKind>>,
    },
    /// Closes the project. No postings.
    ProjectClosed {},
    /// Closes the books through a date (sponsor-wide on the sponsor chain). No postings.
    PeriodClosed {
        /// Last date closed.
        #[serde(with = "crate::ids::date_codec")]
        through: NaiveDate,
    },
}

impl EventKind {
    /// Every kind's name ([`EventKind::name`]), in format order.
    pub const NAMES: [&'static str; 22] = [
        "ProjectOpened",
        "ProjectTermsChanged",
        "ContributionReceived",
        "PledgeRecorded",
        "PledgeFulfilled",
        "PledgeCancelled",
        "GrantAwarded",
        "AdvanceIssued",
        "AdvanceRepaid",
        "ExpensePaid",
        "ExpenseRequested",
        "ExpenseApproved",
        "ExpenseRejected",
        "RefundIssued",
        "TransferSent",
        "TransferReceived",
        "FundsReleased",
        "CurrencyConverted",
        "OpeningBalance",
        "EventReversed",
        "ProjectClosed",
        "PeriodClosed",
    ];

    /// This stored event with each field the ledger completed emptied where `request` left it
    /// empty: what the request must equal to be the same request.
    pub fn as_requested(&self, request: &EventKind) -> EventKind {
        let mut out = self.clone();
        match (&mut out, request) {
            (
                EventKind::ContributionReceived { fee_bps, .. },
                EventKind::ContributionReceived { fee_bps: None, .. },
            )
            | (EventKind::PledgeFulfilled { fee_bps, .. }, EventKind::PledgeFulfilled { fee_bps: None, .. }) => {
                *fee_bps = None
            }
            (EventKind::PledgeCancelled { amount, .. }, EventKind::PledgeCancelled { amount: None, .. }) => {
                *amount = None
            }
            (EventKind::ExpensePaid { request: Some(_), details }, EventKind::ExpensePaid { details: None, .. }) => {
                *details = None
            }
            (EventKind::RefundIssued { fund, fee_share, .. }, EventKind::RefundIssued { .. }) => {
                *fund = None;
                *fee_share = None;
            }
            (EventKind::EventReversed { target, .. }, EventKind::EventReversed { .. }) => *target = None,
            _ => {}
        }
        out
    }

    /// This stored event as a request that leaves every field the ledger derives from state empty
    /// (a paid request's details, a refund's fund and fee share, a reversal's target), keeping the
    /// completed fields a request may give itself (`fee_bps`, a cancellation's amount). Deciding it
    /// on the state before the stored event gives back the stored event: what verification checks.
    pub fn as_request(&self) -> EventKind {
        match self {
            EventKind::ExpensePaid { request: Some(r), .. } => {
                EventKind::ExpensePaid { request: Some(*r), details: None }
            }
            EventKind::RefundIssued { amount, contribution, .. } => {
                EventKind::RefundIssued { amount: *amount, contribution: *contribution, fund: None, fee_share: None }
            }
            EventKind::EventReversed { target_seq, reason, .. } => {
                EventKind::EventReversed { target_seq: *target_seq, reason: reason.clone(), target: None }
            }
            other => other.clone(),
        }
    }

    /// The variant's name, as exports and errors show it.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::ProjectOpened { .. } => "ProjectOpened",
            EventKind::ProjectTermsChanged { .. } => "ProjectTermsChanged",
            EventKind::ContributionReceived { .. } => "ContributionReceived",
            EventKind::PledgeRecorded { .. } => "PledgeRecorded",
            EventKind::PledgeFulfilled { .. } => "PledgeFulfilled",
            EventKind::PledgeCancelled { .. } => "PledgeCancelled",
            EventKind::GrantAwarded { .. } => "GrantAwarded",
            EventKind::AdvanceIssued { .. } => "AdvanceIssued",
            EventKind::AdvanceRepaid { .. } => "AdvanceRepaid",
            EventKind::ExpensePaid { .. } => "ExpensePaid",
            EventKind::ExpenseRequested { .. } => "ExpenseRequested",
            EventKind::ExpenseApproved { .. } => "ExpenseApproved",
            EventKind::ExpenseRejected { .. } => "ExpenseRejected",
            EventKind::RefundIssued { .. } => "RefundIssued",
            EventKind::TransferSent { .. } => "TransferSent",
            EventKind::TransferReceived { .. } => "TransferReceived",
            EventKind::FundsReleased { .. } => "FundsReleased",
            EventKind::CurrencyConverted { .. } => "CurrencyConverted",
            EventKind::OpeningBalance { .. } => "OpeningBalance",
            EventKind::EventReversed { .. } => "EventReversed",
            EventKind::ProjectClosed {} => "ProjectClosed",
            EventKind::PeriodClosed { .. } => "PeriodClosed",
        }
    }

    /// The kind's field in the `Event.kind` oneof of the contract (`fiscus.v1.Event`), as field paths
    /// name it: `ContributionReceived` is `contribution_received`.
    pub fn field_name(&self) -> &'static str {
        match self {
            EventKind::ProjectOpened { .. } => "project_opened",
            EventKind::ProjectTermsChanged { .. } => "project_terms_changed",
            EventKind::ContributionReceived { .. } => "contribution_received",
            EventKind::PledgeRecorded { .. } => "pledge_recorded",
            EventKind::PledgeFulfilled { .. } => "pledge_fulfilled",
            EventKind::PledgeCancelled { .. } => "pledge_cancelled",
            EventKind::GrantAwarded { .. } => "grant_awarded",
            EventKind::AdvanceIssued { .. } => "advance_issued",
            EventKind::AdvanceRepaid { .. } => "advance_repaid",
            EventKind::ExpensePaid { .. } => "expense_paid",
            EventKind::ExpenseRequested { .. } => "expense_requested",
            EventKind::ExpenseApproved { .. } => "expense_approved",
            EventKind::ExpenseRejected { .. } => "expense_rejected",
            EventKind::RefundIssued { .. } => "refund_issued",
            EventKind::TransferSent { .. } => "transfer_sent",
            EventKind::TransferReceived { .. } => "transfer_received",
            EventKind::FundsReleased { .. } => "funds_released",
            EventKind::CurrencyConverted { .. } => "currency_converted",
            EventKind::OpeningBalance { .. } => "opening_balance",
            EventKind::EventReversed { .. } => "event_reversed",
            EventKind::ProjectClosed {} => "project_closed",
            EventKind::PeriodClosed { .. } => "period_closed",
        }
    }
}

impl Event {
    /// Checks the event's own fields (not the rules that need state). `field` is the event's path
    /// in the request (`events[2]`, or empty); an error names a path into the request message:
    /// `events[2].memo` for the envelope, `events[2].contribution_received.from` for the kind.
    pub fn validate(&self, field: &str) -> Result<(), LedgerError> {
        let e = |name: &str| field_path(field, name);
        let kind_at = field_path(field, self.kind.field_name());
        let f = |name: &str| field_path(&kind_at, name);
        check_event_id(&e("event_id"), &self.event_id)?;
        check_date(&e("effective_date"), self.effective_date)?;
        check_text(&e("memo"), &self.memo, MEMO_CHARS_MAX, true, true)?;
        if let Some(r) = &self.reference {
            check_text(&e("reference"), r, REFERENCE_CHARS_MAX, false, false)?;
        }
        let sponsor_only = matches!(self.kind, EventKind::PeriodClosed { .. });
        if self.project.is_sponsor() && !sponsor_only {
            return Err(LedgerError::invalid(
                &e("project"),
                format!(
                    "{:?} is the sponsor-wide chain; only PeriodClosed may be recorded there",
                    self.project.as_str()
                ),
            ));
        }
        let fee = |name: &str, bps: Option<u32>| match bps {
            Some(b) if b > FEE_BPS_MAX => {
                Err(LedgerError::invalid(&f(name), format!("fee_bps {b} is over {FEE_BPS_MAX}")))
            }
            _ => Ok(()),
        };
        let completed = |name: &str, set: bool| {
            if set {
                Err(LedgerError::invalid(&f(name), "is filled in by the ledger; leave it empty"))
            } else {
                Ok(())
            }
        };
        match &self.kind {
            EventKind::ProjectOpened { name, fee_bps, advance_limit, currency, .. } => {
                check_text(&f("name"), name, NAME_CHARS_MAX, false, false)?;
                fee("fee_bps", Some(*fee_bps))?;
                check_limit(&f("advance_limit"), *advance_limit, *currency)?;
            }
            EventKind::ProjectTermsChanged { fee_bps, advance_limit } => {
                fee("fee_bps", *fee_bps)?;
                if fee_bps.is_none() && advance_limit.is_none() {
                    return Err(LedgerError::invalid(&f("fee_bps"), "give fee_bps, advance_limit or both"));
                }
                if let Some(l) = advance_limit {
                    if l.is_sign_negative() || *l > AMOUNT_MAX {
                        return Err(LedgerError::invalid(
                            &f("advance_limit"),
                            format!("must be 0 to {AMOUNT_MAX}, got {l}"),
                        ));
                    }
                    // (the scale as given: a request's amount keeps the places of its text)
                    if l.scale() > crate::money::MINOR_UNITS_MAX {
                        return Err(LedgerError::invalid(
                            &f("advance_limit"),
                            format!("{l} has more decimal places than any currency"),
                        ));
                    }
                }
            }
            EventKind::ContributionReceived { from, fund, fee_bps, .. } => {
                check_text(&f("from"), from, NAME_CHARS_MAX, false, false)?;
                fund.validate(&f("fund"))?;
                fee("fee_bps", *fee_bps)?;
            }
            EventKind::PledgeRecorded { sponsor, due_date, .. } => {
                check_text(&f("sponsor"), sponsor, NAME_CHARS_MAX, false, false)?;
                check_date(&f("due_date"), *due_date)?;
            }
            EventKind::PledgeFulfilled { fee_bps, .. } => fee("fee_bps", *fee_bps)?,
            EventKind::PledgeCancelled { .. } => {}
            EventKind::GrantAwarded { program, .. } => check_slug(&f("program"), program, "program")?,
            EventKind::AdvanceIssued { purpose, .. } => {
                check_text(&f("purpose"), purpose, NAME_CHARS_MAX, false, false)?
            }
            EventKind::AdvanceRepaid { .. } => {}
            EventKind::ExpensePaid { request, details } => match (request, details) {
                (None, Some(d)) => d.validate(&f("details"))?,
                (Some(_), None) => {}
                (Some(_), Some(_)) => completed("details", true)?,
                (None, None) => {
                    return Err(LedgerError::invalid(
                        &f("request"),
                        "give a request to pay, or the details of a direct payment",
                    ))
                }
            },
            EventKind::ExpenseRequested { details } => details.validate(&f("details"))?,
            EventKind::ExpenseApproved { .. } => {}
            EventKind::ExpenseRejected { reason, .. } => {
                check_text(&f("reason"), reason, NAME_CHARS_MAX, false, false)?
            }
            EventKind::RefundIssued { fund, fee_share, .. } => {
                completed("fund", fund.is_some())?;
                completed("fee_share", fee_share.is_some())?;
            }
            EventKind::TransferSent { to, .. } => {
                if to == &self.project {
                    return Err(LedgerError::invalid(&f("to"), "a transfer needs two different projects"));
                }
            }
            EventKind::TransferReceived { from, .. } => {
                if from == &self.project {
                    return Err(LedgerError::invalid(&f("from"), "a transfer needs two different projects"));
                }
            }
            EventKind::FundsReleased { purpose, .. } => check_slug(&f("purpose"), purpose, "purpose")?,
            EventKind::CurrencyConverted { amount, to } => {
                if amount.currency() == to.currency() {
                    return Err(LedgerError::invalid(&f("to.currency"), "a conversion needs two different currencies"));
                }
            }
            EventKind::OpeningBalance { fund, .. } => fund.validate(&f("fund"))?,
            EventKind::EventReversed { reason, target, .. } => {
                check_text(&f("reason"), reason, NAME_CHARS_MAX, false, false)?;
                completed("target", target.is_some())?;
            }
            EventKind::ProjectClosed {} => {}
            EventKind::PeriodClosed { through } => check_date(&f("through"), *through)?,
        }
        Ok(())
    }
}

fn check_limit(field: &str, limit: Decimal, currency: Currency) -> Result<(), LedgerError> {
    if limit.is_sign_negative() || limit > AMOUNT_MAX {
        return Err(LedgerError::invalid(field, format!("must be 0 to {AMOUNT_MAX}, got {limit}")));
    }
    // (the scale as given: a request's amount keeps the places of its text)
    if limit.scale() > currency.minor_units() {
        return Err(LedgerError::invalid(field, format!("{limit} has more decimal places than {currency} allows")));
    }
    Ok(())
}
