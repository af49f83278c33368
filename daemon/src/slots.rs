//! Subscriber slots: at most `subscribers_max` `Subscribe` streams at once, and at most
//! `subscribers_per_principal_max` of them for any one token, so that one principal (a project
//! token, say) cannot take every slot and leave the auditor refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

/// The daemon's subscriber slots.
#[derive(Debug)]
pub struct SubscriberSlots {
    total: Arc<Semaphore>,
    total_max: usize,
    per_principal_max: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One stream's slot; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<SubscriberSlots>,
    principal: String,
    _permit: OwnedSemaphorePermit,
}

impl SubscriberSlots {
    /// `total_max` slots, at most `per_principal_max` (and at most all of them) for one principal.
    pub fn new(total_max: usize, per_principal_max: usize) -> Arc<SubscriberSlots> {
        Arc::new(SubscriberSlots {
            total: Arc::new(Semaphore::new(total_max)),
            total_max,
            per_principal_max: per_principal_max.min(total_max),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a stream of `principal` (a token's name); `RESOURCE_EXHAUSTED` when it holds its
    /// share already or every slot is taken.
    pub fn take(self: &Arc<Self>, principal: &str) -> Result<Slot, Status> {
        let mut held = self.held.lock().map_err(|_| Status::internal("the subscriber slots are unusable"))?;
        let mine = held.get(principal).copied().unwrap_or(0);
        if mine >= self.per_principal_max {
            return Err(Status::resource_exhausted(format!(
                "{principal} holds {mine} subscriptions, its share of the server's {} (limits.subscribers_per_principal_max \
                 is {}); end one first",
                self.total_max, self.per_principal_max
            )));
        }
        let permit = self.total.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!("too many subscribers (the limit is {})", self.total_max))
        })?;
        held.insert(principal.to_owned(), mine + 1);
        Ok(Slot { slots: self.clone(), principal: principal.to_owned(), _permit: permit })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut held) = self.slots.held.lock() {
            if let Some(n) = held.get_mut(&self.principal) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    held.remove(&self.principal);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn one_principal_holds_only_its_share() {
        let slots = SubscriberSlots::new(3, 2);
        let a1 = slots.take("project:a").expect("first");
        let _a2 = slots.take("project:a").expect("second");
        assert_eq!(slots.take("project:a").expect_err("over its share").code(), Code::ResourceExhausted);
        let _b = slots.take("auditor").expect("another principal still gets one");
        assert_eq!(slots.take("admin").expect_err("every slot taken").code(), Code::ResourceExhausted);
        drop(a1);
        let _a3 = slots.take("project:a").expect("a slot given back is free again");
    }
}
