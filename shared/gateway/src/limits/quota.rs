//! Usage plan quotas and the usage they count, as an instance sees them.
//!
//! Every request admitted with a key in a plan is charged to the key's counter for the day
//! (`D#yyyy-mm-dd`, what usage reports read) and, for WEEK and MONTH quotas, to the period's
//! counter as well. Charges are conditional on the quota, so the counter never passes it.
//! Like tokens, charges are leased: a busy instance charges several requests at once and
//! spends them locally, but never more than a hundredth of what the quota has left, so the
//! last hundred requests of a period are charged one by one and the boundary is exact.
//! Periods and allowances are `portico_model::usage`'s, shared with the admin's reports.

pub use portico_model::usage::{Period, USAGE_RETENTION_DAYS, allowance, period};

/// A lease of charged requests covers about this long of the instance's traffic.
const HORIZON_SECS: f64 = 0.2;
/// A lease never takes more than this share of what the quota has left.
const SHARE_OF_LEFT: u64 = 100;

/// What to do next for a request at a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaStep {
    Admit,
    /// Charge `count` requests (this one and the lease).
    Charge {
        count: u64,
    },
    /// The quota is used up until the period ends.
    Exhausted,
}

/// One key's counter for one period, as this instance knows it.
#[derive(Debug, Clone)]
pub struct QuotaState {
    /// `None`: usage is counted, nothing is limited.
    pub allowance: Option<u64>,
    /// The counter's total when last seen (it only grows within the period).
    pub known_used: u64,
    /// Requests charged by this instance and not yet spent.
    pub leased: u64,
    rate: f64,
    last_ns: u64,
    pub last_seen_ns: u64,
}

impl QuotaState {
    pub fn new(allowance: Option<u64>) -> Self {
        QuotaState {
            allowance,
            known_used: 0,
            leased: 0,
            rate: 0.0,
            last_ns: 0,
            last_seen_ns: 0,
        }
    }

    pub fn arrive(&mut self, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.rate = self.rate * (-dt).exp() + 1.0;
        self.last_ns = now_ns;
        self.last_seen_ns = now_ns;
    }

    /// Spends a charged request if one is left, else says what to do. `waiting`: requests of
    /// this instance waiting for a charge already on its way, which the next charge covers too.
    pub fn step(&mut self, waiting: u32) -> QuotaStep {
        if self.leased > 0 {
            self.leased -= 1;
            return QuotaStep::Admit;
        }
        let want = ((self.rate * HORIZON_SECS).floor() as u64)
            .max(u64::from(waiting) + 1)
            .clamp(1, 1_000);
        match self.allowance {
            None => QuotaStep::Charge { count: want },
            Some(allowance) => {
                let left = allowance.saturating_sub(self.known_used);
                if left == 0 {
                    QuotaStep::Exhausted
                } else {
                    QuotaStep::Charge {
                        count: want.min((left / SHARE_OF_LEFT).max(1)),
                    }
                }
            }
        }
    }

    /// `count` were charged, one of them for the request at hand; the counter is at `used`.
    pub fn charged(&mut self, count: u64, used: u64) {
        self.known_used = self.known_used.max(used);
        self.leased += count.saturating_sub(1);
    }

    /// Nothing was charged; the counter is at `used`.
    pub fn exhausted(&mut self, used: u64) {
        self.known_used = self.known_used.max(used);
    }

    /// Requests the quota has left as far as this instance knows (its own lease included).
    pub fn remaining(&self) -> Option<u64> {
        self.allowance
            .map(|a| a.saturating_sub(self.known_used) + self.leased)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_hundredth_is_charged_one_by_one() {
        let mut state = QuotaState::new(Some(1_000));
        for i in 0..500 {
            state.arrive(i * 1_000_000);
        }
        state.known_used = 500;
        assert_eq!(state.step(0), QuotaStep::Charge { count: 5 });
        state.known_used = 950;
        assert_eq!(state.step(0), QuotaStep::Charge { count: 1 });
        state.charged(1, 1_000);
        assert_eq!(state.step(0), QuotaStep::Exhausted);
        assert_eq!(state.remaining(), Some(0));
    }

    #[test]
    fn a_lease_is_spent_before_charging_again() {
        let mut state = QuotaState::new(None);
        state.charged(3, 3);
        assert_eq!(state.step(0), QuotaStep::Admit);
        assert_eq!(state.step(0), QuotaStep::Admit);
        assert!(matches!(state.step(0), QuotaStep::Charge { .. }));
    }
}
