//! What a subscription's commits must be, checked before any reaches the caller
//! (`ledger.proto`, `SubscribeResponse`): a stream that skips, repeats or reorders commits, or
//! whose commits do not chain, is refused, naming the field and both values.
//!
//! - Every commit has 1 to `COMMIT_EVENTS_MAX` events, each stating the commit's number and time
//!   (and, with a project named, of that project), and numbers only grow.
//! - Without a project named, every commit is the one after the last (after `after_commit` for the
//!   first), its events recompute its `commit_hash` (`docs/FORMAT.md` section 6), and it chains to
//!   the last one's hash; with a project named, other projects' commits are left out, so a commit
//!   is chained only when it is the one after the last.
//! - Each project's seqs go on from the last one seen without a gap (from 1 when the stream starts
//!   at commit 0).

use std::collections::HashMap;

use fiscus_ledger::chain::{commit_hash, Hash};
use fiscus_ledger::ProjectId;

use crate::{ClientError, CommitNotice};

/// The state of one subscription's checks.
#[derive(Debug)]
pub(crate) struct SubscriptionCheck {
    project: Option<ProjectId>,
    /// The last commit delivered (number and hash); at the start, `after_commit`, with the zero
    /// hash when that is 0 (the hash before commit 1) and none otherwise.
    last: (u64, Option<Hash>),
    seqs: HashMap<ProjectId, u64>,
    from_start: bool,
}

impl SubscriptionCheck {
    /// The checks of a stream asked for after commit `after`, of `project`'s commits or all.
    pub(crate) fn new(after: u64, project: Option<ProjectId>) -> SubscriptionCheck {
        let last = (after, (after == 0).then_some([0u8; 32]));
        SubscriptionCheck { project, last, seqs: HashMap::new(), from_start: after == 0 }
    }

    /// Checks `notice` as the next commit of the stream, and takes it as the last one.
    pub(crate) fn next(&mut self, notice: &CommitNotice) -> Result<(), ClientError> {
        let bad =
            |field: &str, message: String| Err(ClientError::answer(&format!("SubscribeResponse.{field}"), message));
        let (last, last_hash) = self.last;
        let number = notice.commit;
        if notice.events.is_empty() {
            return bad("events", format!("commit {number} has no events"));
        }
        if number <= last {
            return bad("commit", format!("commit {number} came after commit {last}"));
        }
        if self.project.is_none() && number != last + 1 {
            return bad("commit", format!("commit {number} came after commit {last}: commits between are missing"));
        }
        if let (true, Some(h)) = (number == last + 1, last_hash) {
            if notice.prev_commit_hash != h {
                return bad(
                    "prev_commit_hash",
                    format!("commit {number} does not chain to commit {last}'s hash {}", crate::short(&h)),
                );
            }
        }
        let mut seqs = self.seqs.clone();
        for (i, e) in notice.events.iter().enumerate() {
            if e.commit != number || e.recorded_at_us != notice.recorded_at_us {
                return bad(
                    &format!("events[{i}].commit"),
                    format!("an event of commit {number} states another commit or time"),
                );
            }
            let project = &e.event.project;
            if self.project.as_ref().is_some_and(|p| p != project) {
                return bad(
                    &format!("events[{i}].event.project"),
                    format!("an event of project {project}, not the one asked for"),
                );
            }
            let due = match seqs.get(project) {
                Some(seen) => Some(seen + 1),
                None if self.from_start => Some(1),
                None => None,
            };
            if due.is_some_and(|due| e.seq != due) {
                return bad(
                    &format!("events[{i}].seq"),
                    format!("{project} seq {} came where seq {} was due", e.seq, due.unwrap_or_default()),
                );
            }
            seqs.insert(project.clone(), e.seq);
        }
        if self.project.is_none() {
            let computed = commit_hash(&notice.prev_commit_hash, number, notice.events.iter().map(|e| &e.hash));
            if computed != notice.commit_hash {
                return bad("commit_hash", format!("commit {number}'s events do not recompute its hash"));
            }
        }
        self.seqs = seqs;
        self.last = (number, Some(notice.commit_hash));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use fiscus_ledger::{Event, EventKind};

    use super::*;
    use crate::RecordedEvent;

    fn p(id: &str) -> ProjectId {
        ProjectId::parse("project", id).expect("id")
    }

    /// Commit `number` after `prev`, with one event per (project, seq), its hash computed.
    fn commit(number: u64, prev: Hash, events: &[(&str, u64)]) -> CommitNotice {
        let events: Vec<RecordedEvent> = events
            .iter()
            .map(|(project, seq)| RecordedEvent {
                seq: *seq,
                commit: number,
                actor: "accountant:alice".into(),
                recorded_at_us: 7,
                hash: [u8::try_from(number % 251).expect("small") ^ u8::try_from(*seq % 251).expect("small"); 32],
                event: Event {
                    event_id: format!("e-{number}-{seq}"),
                    project: p(project),
                    effective_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
                    memo: String::new(),
                    reference: None,
                    kind: EventKind::ProjectClosed {},
                },
            })
            .collect();
        let commit_hash = commit_hash(&prev, number, events.iter().map(|e| &e.hash));
        CommitNotice { commit: number, commit_hash, prev_commit_hash: prev, recorded_at_us: 7, events }
    }

    #[test]
    fn a_whole_stream_passes() {
        let mut check = SubscriptionCheck::new(0, None);
        let c1 = commit(1, [0; 32], &[("a", 1)]);
        let c2 = commit(2, c1.commit_hash, &[("a", 2), ("b", 1)]);
        check.next(&c1).expect("commit 1");
        check.next(&c2).expect("commit 2");
    }

    /// A stream that skips a commit, repeats one, does not chain, sends one without events, or
    /// one whose events do not recompute its hash, is refused naming the field; with a project
    /// named, commits of other projects are left out, so numbers may jump.
    #[test]
    fn a_stream_that_skips_repeats_or_breaks_the_chain_is_refused() {
        let c1 = commit(1, [0; 32], &[("a", 1)]);
        let field = |check: &mut SubscriptionCheck, n: &CommitNotice| match check.next(n) {
            Err(ClientError::Answer { field, .. }) => field,
            other => panic!("refused, not {other:?}"),
        };
        let fresh = || {
            let mut check = SubscriptionCheck::new(0, None);
            check.next(&commit(1, [0; 32], &[("a", 1)])).expect("commit 1");
            check
        };
        // commit 3 after commit 1, chained to it or not
        assert_eq!(field(&mut fresh(), &commit(3, c1.commit_hash, &[("a", 2)])), "SubscribeResponse.commit");
        assert_eq!(field(&mut fresh(), &commit(1, [0; 32], &[("a", 1)])), "SubscribeResponse.commit");
        assert_eq!(field(&mut fresh(), &commit(2, [9; 32], &[("a", 2)])), "SubscribeResponse.prev_commit_hash");
        assert_eq!(field(&mut fresh(), &commit(2, c1.commit_hash, &[])), "SubscribeResponse.events");
        assert_eq!(field(&mut fresh(), &commit(2, c1.commit_hash, &[("a", 3)])), "SubscribeResponse.events[0].seq");
        let mut forged = commit(2, c1.commit_hash, &[("a", 2)]);
        forged.commit_hash = [5; 32];
        assert_eq!(field(&mut fresh(), &forged), "SubscribeResponse.commit_hash");
        let mut elsewhere = commit(2, c1.commit_hash, &[("a", 2)]);
        elsewhere.events[0].commit = 9;
        assert_eq!(field(&mut fresh(), &elsewhere), "SubscribeResponse.events[0].commit");

        // one project's commits: 1, then 5 (commits 2 to 4 were other projects'), then 6 chained
        let mut one = SubscriptionCheck::new(0, Some(p("a")));
        one.next(&c1).expect("commit 1");
        let c5 = commit(5, [3; 32], &[("a", 2)]);
        one.next(&c5).expect("commit 5: the numbers between were other projects'");
        assert_eq!(field(&mut one, &commit(6, [4; 32], &[("a", 3)])), "SubscribeResponse.prev_commit_hash");
        assert_eq!(field(&mut one, &commit(7, [4; 32], &[("b", 1)])), "SubscribeResponse.events[0].event.project");
        assert_eq!(field(&mut one, &commit(7, [4; 32], &[("a", 4)])), "SubscribeResponse.events[0].seq");
        one.next(&commit(6, c5.commit_hash, &[("a", 3)])).expect("commit 6");

        // resumed after commit 41: the first commit is 42, chained to a hash not known here
        let mut resumed = SubscriptionCheck::new(41, None);
        assert_eq!(field(&mut resumed, &commit(43, [1; 32], &[("a", 9)])), "SubscribeResponse.commit");
        resumed.next(&commit(42, [1; 32], &[("a", 9)])).expect("commit 42");
    }
}
