//! The idempotency index: (project, event id) → where the event is stored, kept in memory.
//!
//! Event ids are scoped per project: the same id may be recorded once in each chain, and a lookup
//! names the chain it asks about, so an answer never depends on another project's ids.
//!
//! It is rebuilt from the records on open rather than stored: in sled, an index entry per event under
//! keys that arrive in no particular order rewrites a leaf page for almost every insert, which made
//! the store several times larger than the records it holds. In memory it costs about 17 bytes per
//! event: a 64-bit keyed hash of the chain number and event id mapped to a packed (chain, seq). The hash only finds a
//! candidate; the caller reads the record there and compares the event id itself, so a collision
//! costs a read, never a wrong answer (two ids with one hash are both kept).

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::ids::ProjectId;

/// Bits of a packed position that hold the seq (the rest hold the chain number).
const SEQ_BITS: u32 = 44;

/// Most chains the index can tell apart.
pub const CHAINS_MAX: u32 = 1 << (64 - SEQ_BITS);

/// Largest seq the index can hold (2^44 − 1): far beyond any chain, but stored bytes may say more.
pub const SEQ_MAX: u64 = (1 << SEQ_BITS) - 1;

/// (chain, event id) → seq.
#[derive(Default)]
pub struct IdIndex {
    keys: std::collections::hash_map::RandomState,
    slots: HashMap<u64, u64, rustc_hash::FxBuildHasher>,
    /// Ids whose hash was already taken by another id: kept by their full bytes.
    overflow: HashMap<(u32, Vec<u8>), u64>,
    chains: Vec<ProjectId>,
    numbers: HashMap<ProjectId, u32>,
}

impl IdIndex {
    /// An empty index.
    pub fn new() -> IdIndex {
        IdIndex::default()
    }

    /// The index's number for a chain, assigned on first sight; `None` past [`CHAINS_MAX`] chains.
    pub fn chain_number(&mut self, project: &ProjectId) -> Option<u32> {
        if let Some(n) = self.numbers.get(project) {
            return Some(*n);
        }
        let n = u32::try_from(self.chains.len()).ok().filter(|n| *n < CHAINS_MAX)?;
        self.chains.push(project.clone());
        self.numbers.insert(project.clone(), n);
        Some(n)
    }

    /// Records that `event_id` is stored at `seq` of chain `chain` (a number from
    /// [`IdIndex::chain_number`]). When another entry with the same keyed hash is already indexed,
    /// both are kept and the other's position (chain, seq) is returned, so that the caller can tell
    /// a duplicate id from a collision. A seq above [`SEQ_MAX`] or an unknown chain is not indexed.
    pub fn insert(&mut self, event_id: &[u8], chain: u32, seq: u64) -> Option<(ProjectId, u64)> {
        if seq > SEQ_MAX || chain as usize >= self.chains.len() {
            return None;
        }
        let packed = u64::from(chain) << SEQ_BITS | seq;
        let key = self.keys.hash_one((chain, event_id));
        match self.slots.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(packed);
                None
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let other = *o.get();
                self.overflow.insert((chain, event_id.to_vec()), packed);
                let other_chain = self.chains.get((other >> SEQ_BITS) as usize)?;
                Some((other_chain.clone(), other & SEQ_MAX))
            }
        }
    }

    /// The seqs of `project`'s chain where an event with this id may be stored: at most two, which
    /// the caller checks (a candidate from a hash collision may hold another id, or another chain).
    pub fn candidates(&self, project: &ProjectId, event_id: &[u8]) -> Vec<u64> {
        let Some(&chain) = self.numbers.get(project) else { return Vec::new() };
        let seq_of = |p: u64| (p >> SEQ_BITS == u64::from(chain)).then_some(p & ((1 << SEQ_BITS) - 1));
        let mut out = Vec::new();
        if !self.overflow.is_empty() {
            out.extend(self.overflow.get(&(chain, event_id.to_vec())).and_then(|p| seq_of(*p)));
        }
        if let Some(p) = self.slots.get(&self.keys.hash_one((chain, event_id))) {
            out.extend(seq_of(*p));
        }
        out
    }

    /// Events indexed.
    pub fn len(&self) -> usize {
        self.slots.len() + self.overflow.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_id_and_keeps_colliding_ones() {
        let mut index = IdIndex::new();
        let a = ProjectId::parse("p", "a").expect("id");
        let b = ProjectId::parse("p", "b").expect("id");
        let (na, nb) = (index.chain_number(&a).expect("a"), index.chain_number(&b).expect("b"));
        assert_eq!(index.chain_number(&a), Some(na));
        for i in 0..1000u64 {
            index.insert(format!("e{i}").as_bytes(), if i % 2 == 0 { na } else { nb }, i + 1);
        }
        assert_eq!(index.len(), 1000);
        for i in 0..1000u64 {
            let (own, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
            let c = index.candidates(own, format!("e{i}").as_bytes());
            assert!(c.contains(&(i + 1)), "e{i}: {c:?}");
            // ids are scoped per chain: the other chain does not see it
            assert!(!index.candidates(other, format!("e{i}").as_bytes()).contains(&(i + 1)), "e{i}");
        }
        // the same id in another chain is another key
        index.insert(b"e5", na, 77);
        assert!(index.candidates(&a, b"e5").contains(&77));
        assert!(index.candidates(&b, b"e5").contains(&6));
        // the same id twice in one chain (a collision in effect): both places are candidates, and
        // the insert names the other
        assert_eq!(index.insert(b"e5", na, 78), Some((a.clone(), 77)));
        assert_eq!(index.insert(b"e6", na, SEQ_MAX + 1), None, "a seq past the range is not indexed");
        let c = index.candidates(&a, b"e5");
        assert!(c.contains(&77) && c.contains(&78), "{c:?}");
        assert!(index.candidates(&a, b"nope").len() <= 1);
        assert!(index.candidates(&ProjectId::parse("p", "c").expect("id"), b"e5").is_empty());
    }
}
