//! C2SP `tlog-policy` (c2sp.org/tlog-policy): which logs may sign a checkpoint and which witnesses
//! must cosign it before a client accepts it — for example "2 of these 3 witnesses".
//!
//! A policy is the spec's line-based text:
//!
//! ```text
//! log <vkey> [<url>]
//! witness <name> <vkey> [<url>]
//! group <name> (all | any | <k>) <name>...
//! quorum (<name> | none)
//! ```
//!
//! Log keys are Ed25519 note keys (type 0x01) named as the log's origin; witness keys are
//! `cosignature/v1` keys (type 0x04). A group is witnessed when at least k of its n members are
//! (`any` is k = 1, `all` is k = n); a witness is witnessed when its cosignature on the checkpoint
//! verifies. Names may only refer to lines above them, each name is a member of one group at
//! most (and once in it), and no two lines hold the same public key, so that one witness counts
//! once however many times it signs or is named.
//!
//! [`Policy::verify_checkpoint`] opens a checkpoint by these rules: a signature by one of the
//! policy's logs for the checkpoint's origin, then the quorum over the cosignatures that verify.
//! Signatures by keys the policy does not list are ignored; a listed key's signature that does not
//! verify refuses the whole note (C2SP signed-note).

use std::collections::BTreeMap;

use crate::checkpoint::{open_checkpoint, parse_decimal, OpenedCheckpoint};
use crate::error::TlogError;
use crate::note::{Note, NoteVerifier, KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519};

/// Most bytes of a policy text this crate parses.
pub const POLICY_BYTES_MAX: usize = 64 * 1024;
/// Most logs, witnesses and groups a policy may define, each (the spec recommends supporting at
/// least 32 of each).
pub const POLICY_ENTRIES_MAX: usize = 256;

/// "policy line N", or "policy" for the whole text (line 0).
fn policy_at(line: usize) -> String {
    match line {
        0 => "policy".to_owned(),
        n => format!("policy line {n}"),
    }
}

/// Why a policy or a checkpoint checked against it is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy text breaks a rule of tlog-policy at `line` (1-based; 0 for a rule of the
    /// whole text, such as its size or its one quorum line).
    #[error("{}: {why}", policy_at(*line))]
    Syntax {
        /// The line number, from 1; 0 for the whole text.
        line: usize,
        /// The rule it breaks.
        why: String,
    },
    /// The checkpoint does not open: malformed, not signed by a log of the policy, or a listed
    /// key's signature fails.
    #[error("checkpoint: {0}")]
    Checkpoint(TlogError),
    /// The checkpoint opens but its valid cosignatures do not meet the quorum.
    #[error("checkpoint cosigned by {cosigned} of the policy's witnesses ({names}), which does not meet its quorum: {quorum}")]
    QuorumNotMet {
        /// How many distinct witnesses of the policy cosigned.
        cosigned: usize,
        /// Their policy names, comma-separated (`none` when none did).
        names: String,
        /// The quorum rule, as text.
        quorum: String,
    },
}

/// A named member of the quorum tree: a witness (by key) or a group of earlier members.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Witness(NoteVerifier),
    Group { threshold: usize, members: Vec<usize> },
}

/// A parsed tlog-policy: logs, witnesses, groups and the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<NoteVerifier>,
    /// Witnesses and groups in definition order; a group refers to earlier indexes only.
    members: Vec<(String, Member)>,
    /// The quorum member, or `None` for `quorum none`.
    quorum: Option<usize>,
}

/// A checkpoint that opened under a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyCheckpoint {
    /// The opened checkpoint (body, note, verified signatures).
    pub opened: OpenedCheckpoint,
    /// The policy names of the witnesses whose cosignatures verified, in policy order.
    pub cosigned_by: Vec<String>,
}

impl Policy {
    /// A policy accepting checkpoints of `logs` cosigned by at least `k` of `witnesses` (`k = 0`
    /// is `quorum none`). Refuses a log key that is not type 0x01, a witness key that is not type
    /// 0x04, a public key given twice, and `k` above the number of witnesses.
    pub fn k_of_n(logs: Vec<NoteVerifier>, witnesses: Vec<NoteVerifier>, k: usize) -> Result<Policy, PolicyError> {
        let mut text = String::new();
        for log in &logs {
            text.push_str(&format!("log {}\n", log.verifier_key()));
        }
        let mut names = Vec::new();
        for (i, witness) in witnesses.iter().enumerate() {
            let name = format!("w{}", i + 1);
            text.push_str(&format!("witness {name} {}\n", witness.verifier_key()));
            names.push(name);
        }
        if k == 0 {
            text.push_str("quorum none\n");
        } else {
            text.push_str(&format!("group quorum {k} {}\nquorum quorum\n", names.join(" ")));
        }
        Policy::parse(&text)
    }

    /// Parses a policy from untrusted text (bounded by [`POLICY_BYTES_MAX`] and
    /// [`POLICY_ENTRIES_MAX`]), with every rule of tlog-policy: exactly one quorum line, names
    /// defined before use and at most once, each name a member of one group at most and once in
    /// it, `1 <= k <= n`, no
    /// duplicate public keys, log keys of type 0x01 and witness keys of type 0x04, only tab and
    /// newline as control characters.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let syntax = |line: usize, why: &str| PolicyError::Syntax { line, why: why.to_owned() };
        if text.len() > POLICY_BYTES_MAX {
            return Err(syntax(0, &format!("the policy is over {POLICY_BYTES_MAX} bytes")));
        }
        if let Some((line, why)) = crate::error::line_encoding(text) {
            return Err(syntax(line, why));
        }
        if text.trim().is_empty() {
            return Err(syntax(0, "it is empty: it needs a quorum line (`quorum none`, or log, witness and group lines, then `quorum NAME`)"));
        }
        let mut logs: Vec<NoteVerifier> = Vec::new();
        let mut members: Vec<(String, Member)> = Vec::new();
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut quorum: Option<Option<usize>> = None;
        let mut keys_seen: Vec<[u8; 32]> = Vec::new();
        // Member index -> the group that lists it and that group's line.
        let mut listed_in: BTreeMap<usize, (String, usize)> = BTreeMap::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            if raw.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                return Err(syntax(line, "control character other than tab"));
            }
            let words: Vec<&str> = raw.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            let Some((&keyword, args)) = words.split_first() else { continue };
            if keyword.starts_with('#') {
                continue;
            }
            if logs.len() + members.len() >= 2 * POLICY_ENTRIES_MAX {
                return Err(syntax(line, "too many entries"));
            }
            let mut key_once = |key: &NoteVerifier| {
                let bytes = key.public_key().to_bytes();
                if keys_seen.contains(&bytes) {
                    return Err(syntax(line, "duplicate public key"));
                }
                keys_seen.push(bytes);
                Ok(())
            };
            match keyword {
                "log" => {
                    let (vkey, rest) = args.split_first().ok_or_else(|| syntax(line, "log without a key"))?;
                    if rest.len() > 1 {
                        return Err(syntax(line, "log takes a key and an optional URL"));
                    }
                    let key =
                        NoteVerifier::from_verifier_key(vkey).map_err(|e| syntax(line, &format!("log key: {e}")))?;
                    if key.key_type() != KEY_TYPE_ED25519 {
                        return Err(syntax(line, "a log key must be an Ed25519 note key (type 0x01)"));
                    }
                    key_once(&key)?;
                    logs.push(key);
                }
                "witness" => {
                    let [name, vkey, rest @ ..] = args else {
                        return Err(syntax(line, "witness takes a name, a key and an optional URL"));
                    };
                    if rest.len() > 1 {
                        return Err(syntax(line, "witness takes a name, a key and an optional URL"));
                    }
                    let key = NoteVerifier::from_verifier_key(vkey)
                        .map_err(|e| syntax(line, &format!("witness key: {e}")))?;
                    if key.key_type() != KEY_TYPE_COSIGNATURE_V1 {
                        return Err(syntax(line, "a witness key must be a cosignature/v1 key (type 0x04)"));
                    }
                    key_once(&key)?;
                    define(&mut names, &mut members, name, Member::Witness(key)).map_err(|why| syntax(line, why))?;
                }
                "group" => {
                    let [name, threshold, listed @ ..] = args else {
                        return Err(syntax(line, "group takes a name, a threshold and members"));
                    };
                    if listed.is_empty() {
                        return Err(syntax(line, "a group needs at least one member"));
                    }
                    let mut indexes = Vec::with_capacity(listed.len());
                    for member in listed {
                        let index = *names.get(*member).ok_or_else(|| syntax(line, "member not defined above"))?;
                        if indexes.contains(&index) {
                            return Err(syntax(line, &format!("member {member} listed twice")));
                        }
                        // tlog-policy: each name is a group member at most once in the whole
                        // policy, so a witness cannot count twice towards the quorum through two
                        // groups.
                        if let Some((group, at)) = listed_in.get(&index) {
                            return Err(syntax(
                                line,
                                &format!(
                                    "{member} is already a member of group {group} (line {at}): a name may be a \
                                     member of one group only, so that one witness counts once"
                                ),
                            ));
                        }
                        indexes.push(index);
                    }
                    for index in &indexes {
                        listed_in.insert(*index, ((*name).to_owned(), line));
                    }
                    let threshold = match *threshold {
                        "all" => indexes.len(),
                        "any" => 1,
                        k => parse_decimal(k)
                            .and_then(|k| usize::try_from(k).ok())
                            .filter(|k| (1..=indexes.len()).contains(k))
                            .ok_or_else(|| syntax(line, "threshold is not all, any or a decimal 1 <= k <= n"))?,
                    };
                    define(&mut names, &mut members, name, Member::Group { threshold, members: indexes })
                        .map_err(|why| syntax(line, why))?;
                }
                "quorum" => {
                    let [name] = args else { return Err(syntax(line, "quorum takes one name")) };
                    if quorum.is_some() {
                        return Err(syntax(line, "a second quorum line"));
                    }
                    quorum = Some(match *name {
                        "none" => None,
                        name => Some(*names.get(name).ok_or_else(|| syntax(line, "quorum name not defined above"))?),
                    });
                }
                _ => return Err(syntax(line, "unknown keyword (log, witness, group, quorum)")),
            }
        }
        let quorum = quorum.ok_or_else(|| syntax(0, "no quorum line"))?;
        Ok(Policy { logs, members, quorum })
    }

    /// The log keys.
    pub fn logs(&self) -> &[NoteVerifier] {
        &self.logs
    }

    /// Checks that one of the policy's `log` lines is `key` (the log a client pins): the policy
    /// is about that log. The error is a sentence saying what to add.
    pub fn check_log(&self, key: &NoteVerifier) -> Result<(), String> {
        match self.logs.iter().any(|log| log.verifier_key() == key.verifier_key()) {
            true => Ok(()),
            false => Err(format!(
                "the policy lists no log line with the pinned key {}: add `log {}` to it",
                key.verifier_key(),
                key.verifier_key()
            )),
        }
    }

    /// The witness keys with their policy names.
    pub fn witnesses(&self) -> impl Iterator<Item = (&str, &NoteVerifier)> {
        self.members.iter().filter_map(|(name, member)| match member {
            Member::Witness(key) => Some((name.as_str(), key)),
            Member::Group { .. } => None,
        })
    }

    /// Opens the signed checkpoint `message` of log `origin` under this policy: a valid signature
    /// by a policy log named `origin` (`PolicyError::Checkpoint` otherwise), then the quorum over
    /// the witnesses whose cosignatures verify, each witness counted once however many lines it
    /// has (`PolicyError::QuorumNotMet` otherwise).
    pub fn verify_checkpoint(&self, message: &str, origin: &str) -> Result<PolicyCheckpoint, PolicyError> {
        let checked = self.cosigners(message, origin)?;
        if !self.quorum_met(&checked.cosigned_by) {
            let names = &checked.cosigned_by;
            return Err(PolicyError::QuorumNotMet {
                cosigned: names.len(),
                names: if names.is_empty() { "none".to_owned() } else { names.join(", ") },
                quorum: self.quorum_text(),
            });
        }
        Ok(checked)
    }

    /// Opens the signed checkpoint `message` of log `origin` as [`Policy::verify_checkpoint`]
    /// does and names the policy's witnesses whose cosignatures verify, in policy order, without
    /// asking for the quorum (see [`Policy::quorum_met`]): to say which witnesses are missing.
    pub fn cosigners(&self, message: &str, origin: &str) -> Result<PolicyCheckpoint, PolicyError> {
        let mut known: Vec<NoteVerifier> = self.logs.clone();
        known.extend(self.witnesses().map(|(_, key)| key.clone()));
        let opened = open_checkpoint(message, origin, &known).map_err(PolicyError::Checkpoint)?;
        let cosigned_by: Vec<String> =
            self.witnesses()
                .filter(|(_, key)| {
                    opened.verified.iter().any(|v| {
                        v.key_type == KEY_TYPE_COSIGNATURE_V1 && v.name == key.name() && v.key_id == key.key_id()
                    })
                })
                .map(|(name, _)| name.to_owned())
                .collect();
        Ok(PolicyCheckpoint { opened, cosigned_by })
    }

    /// Whether the witnesses `names` (policy names, as [`Policy::cosigners`] gives them) meet the
    /// quorum; always for `quorum none`.
    pub fn quorum_met(&self, names: &[String]) -> bool {
        let cosigned: Vec<bool> = self
            .members
            .iter()
            .map(|(name, member)| matches!(member, Member::Witness(_)) && names.contains(name))
            .collect();
        match self.quorum {
            None => true,
            Some(index) => self.witnessed(index, &cosigned),
        }
    }

    /// The quorum rule as text: `none`, a witness's name, or `group = k of (members)`.
    pub fn quorum_text(&self) -> String {
        self.describe(self.quorum)
    }

    /// Whether member `index` witnessed, given which witnesses cosigned. Groups refer to earlier
    /// members only, so the recursion is bounded by the number of members.
    fn witnessed(&self, index: usize, cosigned: &[bool]) -> bool {
        match self.members.get(index) {
            Some((_, Member::Witness(_))) => cosigned.get(index).copied().unwrap_or(false),
            Some((_, Member::Group { threshold, members })) => {
                members.iter().filter(|m| self.witnessed(**m, cosigned)).count() >= *threshold
            }
            None => false,
        }
    }

    fn describe(&self, index: Option<usize>) -> String {
        let Some(index) = index else { return "none".to_owned() };
        match self.members.get(index) {
            Some((name, Member::Witness(_))) => name.clone(),
            Some((name, Member::Group { threshold, members })) => {
                let listed: Vec<String> = members.iter().map(|m| self.describe(Some(*m))).collect();
                format!("{name} = {threshold} of ({})", listed.join(", "))
            }
            None => "none".to_owned(),
        }
    }

    /// Adds the cosignature lines `lines` to the signed checkpoint `message`, keeping only those
    /// that verify against the policy's witness keys (lines from unknown keys and failing lines
    /// are dropped, as tlog-witness tells clients), each key once. Answers the new note text.
    pub fn add_cosignatures(&self, message: &str, lines: &[crate::note::NoteSignature]) -> Result<String, TlogError> {
        let mut note = Note::parse(message)?;
        for line in lines {
            let Some((_, key)) =
                self.witnesses().find(|(_, key)| key.name() == line.name && key.key_id() == line.key_id)
            else {
                continue;
            };
            if key.verify(note.text.as_bytes(), &line.signature).is_none() {
                continue;
            }
            if note.signatures.iter().any(|s| s.name == line.name && s.key_id == line.key_id) {
                continue;
            }
            note.signatures.push(line.clone());
        }
        Ok(note.to_text())
    }
}

fn define(
    names: &mut BTreeMap<String, usize>,
    members: &mut Vec<(String, Member)>,
    name: &str,
    member: Member,
) -> Result<(), &'static str> {
    if name == "none" {
        return Err("the name none is reserved");
    }
    if names.contains_key(name) {
        return Err("name defined twice");
    }
    names.insert(name.to_owned(), members.len());
    members.push((name.to_owned(), member));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::cosignature::Cosigner;
    use crate::hash::leaf_hash;
    use crate::note::NoteSigner;

    const ORIGIN: &str = "example.org/ledger";

    fn setup() -> (NoteSigner, Vec<Cosigner>, String) {
        let log = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
        let witnesses: Vec<Cosigner> =
            (0..3).map(|i| Cosigner::from_seed(&format!("w{i}.example"), [10 + i; 32]).unwrap()).collect();
        let body = Checkpoint::new(ORIGIN, 7, leaf_hash(b"root")).unwrap().body();
        (log, witnesses, body)
    }

    fn cosigned(log: &NoteSigner, body: &str, by: &[&Cosigner]) -> String {
        let mut note = log.sign_note(body).unwrap();
        for (i, witness) in by.iter().enumerate() {
            note.signatures.push(witness.cosign(body, 1_700_000_000 + i as u64).unwrap());
        }
        note.to_text()
    }

    fn two_of_three(log: &NoteSigner, witnesses: &[Cosigner]) -> Policy {
        Policy::k_of_n(vec![log.verifier()], witnesses.iter().map(Cosigner::verifier).collect(), 2).unwrap()
    }

    #[test]
    fn k_of_n_needs_k_distinct_valid_cosignatures() {
        let (log, w, body) = setup();
        let policy = two_of_three(&log, &w);
        let ok = policy.verify_checkpoint(&cosigned(&log, &body, &[&w[0], &w[2]]), ORIGIN).unwrap();
        assert_eq!(ok.cosigned_by, vec!["w1".to_owned(), "w3".to_owned()]);
        // k - 1 valid cosignatures: refused.
        let one = policy.verify_checkpoint(&cosigned(&log, &body, &[&w[1]]), ORIGIN).unwrap_err();
        assert!(matches!(one, PolicyError::QuorumNotMet { cosigned: 1, .. }), "{one}");
        // One witness twice counts once.
        let twice = policy.verify_checkpoint(&cosigned(&log, &body, &[&w[1], &w[1]]), ORIGIN).unwrap_err();
        assert!(matches!(twice, PolicyError::QuorumNotMet { cosigned: 1, .. }), "{twice}");
        // A witness the policy does not list does not count.
        let stranger = Cosigner::from_seed("w9.example", [99; 32]).unwrap();
        let unknown = policy.verify_checkpoint(&cosigned(&log, &body, &[&w[1], &stranger]), ORIGIN).unwrap_err();
        assert!(matches!(unknown, PolicyError::QuorumNotMet { cosigned: 1, .. }), "{unknown}");
        // A cosignature over another body (moved onto this one): refused.
        let other = Checkpoint::new(ORIGIN, 8, leaf_hash(b"other")).unwrap().body();
        let mut note = Note::parse(&cosigned(&log, &body, &[&w[0]])).unwrap();
        note.signatures.push(w[1].cosign(&other, 1_700_000_000).unwrap());
        let moved = policy.verify_checkpoint(&note.to_text(), ORIGIN).unwrap_err();
        assert!(matches!(moved, PolicyError::Checkpoint(TlogError::BadSignature { .. })), "{moved}");
        // Cosigned by all three but signed by another log key: refused.
        let impostor = NoteSigner::from_seed(ORIGIN, [2; 32]).unwrap();
        let forged = policy.verify_checkpoint(&cosigned(&impostor, &body, &[&w[0], &w[1], &w[2]]), ORIGIN);
        assert!(matches!(forged, Err(PolicyError::Checkpoint(TlogError::NoKnownSignature { .. }))), "{forged:?}");
        // No cosignature needed with k = 0.
        let none = Policy::k_of_n(vec![log.verifier()], vec![], 0).unwrap();
        assert!(none.verify_checkpoint(&cosigned(&log, &body, &[]), ORIGIN).is_ok());
        assert!(Policy::k_of_n(vec![log.verifier()], w.iter().map(Cosigner::verifier).collect(), 4).is_err());
    }

    #[test]
    fn cosigners_name_who_cosigned_and_quorum_met_is_the_one_rule() {
        let (log, w, body) = setup();
        let policy = two_of_three(&log, &w);
        let one = policy.cosigners(&cosigned(&log, &body, &[&w[2]]), ORIGIN).unwrap();
        assert_eq!(one.cosigned_by, vec!["w3".to_owned()]);
        assert!(!policy.quorum_met(&one.cosigned_by));
        assert!(policy.quorum_met(&["w1".to_owned(), "w3".to_owned()]));
        // A group's name is no witness's cosignature.
        assert!(!policy.quorum_met(&["quorum".to_owned(), "w1".to_owned()]));
        assert_eq!(policy.quorum_text(), "quorum = 2 of (w1, w2, w3)");
        // A note the policy refuses outright is refused by both.
        let impostor = NoteSigner::from_seed(ORIGIN, [2; 32]).unwrap();
        assert!(policy.cosigners(&cosigned(&impostor, &body, &[&w[0]]), ORIGIN).is_err());
        let none = Policy::k_of_n(vec![log.verifier()], vec![], 0).unwrap();
        assert!(none.quorum_met(&[]));
        assert_eq!(none.quorum_text(), "none");
    }

    #[test]
    fn groups_nest_as_the_spec_example() {
        let (log, w, body) = setup();
        let more: Vec<Cosigner> =
            (0..2).map(|i| Cosigner::from_seed(&format!("y{i}.example"), [20 + i; 32]).unwrap()).collect();
        let text = format!(
            "# two organisations\nlog {}\n\nwitness X1 {}\nwitness X2 {}\n  witness X3\t{} https://x3.example/\n\
             group X 2 X1 X2 X3\nwitness Y1 {}\nwitness Y2 {}\ngroup Y any Y1 Y2\ngroup XY all X Y\nquorum XY\n",
            log.verifier_key(),
            w[0].verifier_key(),
            w[1].verifier_key(),
            w[2].verifier_key(),
            more[0].verifier_key(),
            more[1].verifier_key()
        );
        let policy = Policy::parse(&text).unwrap();
        assert!(policy.verify_checkpoint(&cosigned(&log, &body, &[&w[0], &w[1], &more[1]]), ORIGIN).is_ok());
        // Two of X but none of Y.
        let refused = policy.verify_checkpoint(&cosigned(&log, &body, &[&w[0], &w[1]]), ORIGIN).unwrap_err();
        assert!(matches!(refused, PolicyError::QuorumNotMet { cosigned: 2, .. }), "{refused}");
        // One of X and both of Y.
        assert!(policy.verify_checkpoint(&cosigned(&log, &body, &[&w[2], &more[0], &more[1]]), ORIGIN).is_err());
    }

    #[test]
    fn malformed_policies_are_refused() {
        let (log, w, _) = setup();
        let l = log.verifier_key();
        let a = w[0].verifier_key();
        let b = w[1].verifier_key();
        for bad in [
            String::new(),
            format!("log {l}\n"),
            format!("log {l}\nquorum none\nquorum none\n"),
            format!("log {l}\nquorum w\n"),
            format!("log {l}\nlog {l}\nquorum none\n"),
            format!("witness A {a}\nwitness B {a}\nquorum A\n"),
            format!("witness A {a}\nwitness A {b}\nquorum A\n"),
            format!("witness A {a}\ngroup G 2 A\nquorum G\n"),
            format!("witness A {a}\ngroup G 0 A\nquorum G\n"),
            format!("witness A {a}\ngroup G 1 A A\nquorum G\n"),
            format!("witness A {a}\ngroup G 1 B\nwitness B {b}\nquorum G\n"),
            format!("witness A {a}\ngroup G any\nquorum G\n"),
            format!("witness none {a}\nquorum none\n"),
            format!("witness A {l}\nquorum A\n"),
            format!("log {a}\nquorum none\n"),
            format!("witness A {a}\nquorum A\x0b\n"),
            format!("frobnicate {a}\nquorum none\n"),
            format!("witness A {a} url extra\nquorum A\n"),
        ] {
            assert!(Policy::parse(&bad).is_err(), "{bad:?}");
        }
        assert!(Policy::parse(&format!("witness A {a}\nquorum A\n")).is_ok());
        // a rule of the whole text names no line; a rule of a line names it
        let whole = Policy::parse(&format!("log {l}\n")).expect_err("no quorum line").to_string();
        assert_eq!(whole, "policy: no quorum line");
        for empty in ["", "\n\n", "  \t\n"] {
            let said = Policy::parse(empty).expect_err("empty").to_string();
            assert!(said.starts_with("policy: it is empty: it needs a quorum line"), "{said}");
        }
        let at = Policy::parse(&format!("log {l}\nfrobnicate\nquorum none\n")).expect_err("a bad line").to_string();
        assert!(at.starts_with("policy line 2: "), "{at}");
    }

    #[test]
    fn a_name_is_a_member_of_one_group_only() {
        let (log, w, body) = setup();
        let l = log.verifier_key();
        let a = w[0].verifier_key();
        let b = w[1].verifier_key();
        // One witness through two groups would meet a 2-of-2 quorum alone.
        let twice = format!(
            "log {l}\nwitness a {a}\nwitness b {b}\ngroup g1 any a\ngroup g2 any a\ngroup g 2 g1 g2\nquorum g\n"
        );
        let said = Policy::parse(&twice).expect_err("a in g1 and g2").to_string();
        assert!(said.starts_with("policy line 5: a is already a member of group g1 (line 4)"), "{said}");
        // A group listed by two groups, likewise.
        let nested =
            format!("witness a {a}\nwitness b {b}\ngroup g1 all a b\ngroup g2 any g1\ngroup g3 any g1\nquorum g3\n");
        let said = Policy::parse(&nested).expect_err("g1 in g2 and g3").to_string();
        assert!(said.starts_with("policy line 5: g1 is already a member of group g2 (line 4)"), "{said}");
        // Each name in one group: nesting is fine, and one witness does not meet 2 of 2.
        let once = format!(
            "log {l}\nwitness a {a}\nwitness b {b}\ngroup g1 any a\ngroup g2 any b\ngroup g 2 g1 g2\nquorum g\n"
        );
        let policy = Policy::parse(&once).unwrap();
        let alone = policy.verify_checkpoint(&cosigned(&log, &body, &[&w[0]]), ORIGIN).unwrap_err();
        assert!(matches!(alone, PolicyError::QuorumNotMet { cosigned: 1, .. }), "{alone}");
        let both = policy.verify_checkpoint(&cosigned(&log, &body, &[&w[0], &w[1]]), ORIGIN).unwrap();
        assert_eq!(both.cosigned_by, vec!["a".to_owned(), "b".to_owned()]);
    }

    #[test]
    fn add_cosignatures_keeps_only_valid_lines_of_known_witnesses() {
        let (log, w, body) = setup();
        let policy = two_of_three(&log, &w);
        let plain = log.sign_note(&body).unwrap().to_text();
        let other = Checkpoint::new(ORIGIN, 8, leaf_hash(b"other")).unwrap().body();
        let stranger = Cosigner::from_seed("w9.example", [99; 32]).unwrap();
        let lines = vec![
            w[0].cosign(&body, 5).unwrap(),
            w[0].cosign(&body, 6).unwrap(),
            w[1].cosign(&other, 5).unwrap(),
            stranger.cosign(&body, 5).unwrap(),
            w[2].cosign(&body, 5).unwrap(),
        ];
        let added = policy.add_cosignatures(&plain, &lines).unwrap();
        let note = Note::parse(&added).unwrap();
        assert_eq!(note.signatures.len(), 3, "the log's signature, w1 once, w3");
        assert_eq!(policy.verify_checkpoint(&added, ORIGIN).unwrap().cosigned_by, vec!["w1", "w3"]);
    }
}
