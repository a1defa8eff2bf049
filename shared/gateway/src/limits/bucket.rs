//! One token bucket as an instance sees it: leases of shared tokens, spent locally.
//!
//! The shared bucket is GCRA state (see [`portico_model::ports::Take`]): tokens are slots
//! `T = 1 / rate` apart, handed out in order, and a take is allowed while its last slot is
//! at most `burst - 1` slots ahead of now. An instance takes a lease of `n` consecutive slots
//! in one write and spends them on its own requests. A leased token is good until its slot
//! plus [`GRACE_NS`]; after that it is dropped unspent. That rule is what bounds overshoot:
//!
//! every admitted request spends a distinct slot `s` at an arrival time `t` with
//! `s - (burst - 1)·T <= t <= s + G`, so the requests admitted in any window of length `W`
//! spend slots in a span of `W + G + (burst - 1)·T`, hence
//!
//! ```text
//! admitted(W) <= rate·(W + G) + burst        (G = GRACE_NS, clocks in step)
//! ```
//!
//! With `G` = 10 ms that is `1.01 × rate + burst` in any one-second window. Clock skew `ε`
//! between instances widens it to `rate·(W + G + ε) + burst`.
//!
//! Lease sizes follow the rate this instance sees: a quiet instance takes one token per write
//! and is exact; a busy one takes up to [`MAX_LEASE`], never more than it can spend before
//! the tokens lapse. A bucket faster than [`SHARD_RATE`] is split into shards (DynamoDB takes
//! about 1,000 writes a second on one item), each with its share of rate and burst.

/// How late after its slot a leased token may still be spent.
pub const GRACE_NS: u64 = 10_000_000;
/// A lease aims to cover this long of the instance's traffic.
pub const HORIZON_SECS: f64 = 0.2;
/// The largest lease.
pub const MAX_LEASE: u32 = 1_000;
/// Requests a second one shard takes; faster buckets are split.
pub const SHARD_RATE: f64 = 500.0;
pub const MAX_SHARDS: u32 = 64;
/// The time constant of the rate estimate.
const METER_TAU_SECS: f64 = 1.0;

/// A throttle as configured: `rate` requests a second refill a bucket of `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: u32,
}

/// How a limit is kept in the counters table: `shards` items, each refilling one token every
/// `interval_ns` up to `burst`. Rounding only ever lowers the total (interval up, burst
/// down), so sharding never admits more than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub shards: u32,
    pub interval_ns: u64,
    pub burst: u32,
}

impl Shape {
    /// `None` for a limit that admits nothing (rate or burst 0).
    pub fn of(limit: Limit) -> Option<Shape> {
        if !(limit.rate.is_finite() && limit.rate > 0.0) || limit.burst == 0 {
            return None;
        }
        let shards = ((limit.rate / SHARD_RATE).ceil() as u32)
            .clamp(1, MAX_SHARDS)
            .min(limit.burst);
        let interval_ns = ((1e9 * f64::from(shards) / limit.rate).ceil() as u64).max(1);
        Some(Shape {
            shards,
            interval_ns,
            burst: limit.burst / shards,
        })
    }
}

/// An exponentially decaying count of arrivals: about the requests a second of the last
/// [`METER_TAU_SECS`].
#[derive(Debug, Clone, Default)]
struct Meter {
    rate: f64,
    last_ns: u64,
}

impl Meter {
    fn observe(&mut self, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.rate = self.rate * (-dt / METER_TAU_SECS).exp() + 1.0 / METER_TAU_SECS;
        self.last_ns = now_ns;
    }
}

/// Slots `first_ns + i·interval_ns` for `i` in `next..count`, not yet spent, taken at
/// `taken_ns`. Only requests that arrived at or after `taken_ns` spend them: the burst
/// allowance was checked against that time, and a request that arrived earlier (and waited
/// on a lease of its own meanwhile) would spend a slot further ahead than the burst allows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lease {
    taken_ns: u64,
    first_ns: u64,
    interval_ns: u64,
    count: u32,
    next: u32,
}

impl Lease {
    /// The first index still good at `now_ns` (tokens lapse in slot order).
    fn first_good(&self, now_ns: u64) -> u32 {
        let lapsed_before = now_ns.saturating_sub(self.first_ns + GRACE_NS);
        let skip = lapsed_before.div_ceil(self.interval_ns);
        self.next.max(skip.min(u64::from(self.count)) as u32)
    }

    fn left(&self, now_ns: u64) -> u32 {
        self.count - self.first_good(now_ns)
    }

    fn spend(&mut self, now_ns: u64) -> bool {
        if now_ns < self.taken_ns {
            return false;
        }
        let index = self.first_good(now_ns);
        if index < self.count {
            self.next = index + 1;
            true
        } else {
            self.next = self.count;
            false
        }
    }
}

/// What to do next for a request at this bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A leased token was spent.
    Admit,
    /// Take a lease: `count` tokens from `shard`.
    Lease {
        shard: u32,
        count: u32,
        idle_hint: bool,
    },
    /// No token until `retry_at_ns`, as far as anyone can know: the shared state only moves
    /// forward, so this answer needs no round trip.
    Deny { retry_at_ns: u64 },
}

/// One bucket as this instance knows it.
#[derive(Debug, Clone)]
pub struct BucketState {
    shape: Shape,
    /// The last `tat` seen per shard (0: never seen, taken as idle).
    known: Vec<u64>,
    leases: Vec<Lease>,
    meter: Meter,
    /// Where this instance starts looking among equally good shards, so instances spread.
    offset: u32,
    pub last_seen_ns: u64,
}

impl BucketState {
    pub fn new(shape: Shape, seed: u64) -> Self {
        BucketState {
            shape,
            known: vec![0; shape.shards as usize],
            leases: Vec::new(),
            meter: Meter::default(),
            offset: (seed % u64::from(shape.shards)) as u32,
            last_seen_ns: 0,
        }
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// A request arrived: counted for lease sizing.
    pub fn arrive(&mut self, now_ns: u64) {
        self.meter.observe(now_ns);
        self.last_seen_ns = now_ns;
    }

    /// Spends a leased token if one is good, else says what to do. `waiting`: requests of
    /// this instance waiting for a lease already on its way, which the next lease covers too.
    pub fn step(&mut self, now_ns: u64, waiting: u32) -> Step {
        for lease in &mut self.leases {
            if lease.spend(now_ns) {
                return Step::Admit;
            }
        }
        self.leases.retain(|lease| lease.taken_ns > now_ns);
        let shape = self.shape;
        let window = u64::from(shape.burst) * shape.interval_ns;
        // The shard that, as far as this instance knows, has the most tokens.
        let shard = (0..shape.shards)
            .map(|i| (i + self.offset) % shape.shards)
            .min_by_key(|&i| self.known[i as usize])
            .unwrap_or(0);
        let tat = self.known[shard as usize];
        let start = tat.max(now_ns);
        let available = (now_ns + window).saturating_sub(start) / shape.interval_ns;
        let want = self.lease_size(start - now_ns);
        // A busy instance waits for a whole lease rather than writing per token (a quiet one
        // wants 1 and takes any token there is). Below the rate this never waits: a lease
        // sized to the instance's pace is refilled before it is spent.
        if available >= u64::from(want) {
            // Requests already waiting spend their tokens as soon as the lease is back, so
            // they cannot let them lapse: they only enlarge it, within what is there.
            let waiting = waiting.saturating_add(1).min(shape.burst);
            Step::Lease {
                shard,
                count: want
                    .max(waiting)
                    .min(available.min(u64::from(MAX_LEASE)) as u32),
                idle_hint: tat < now_ns,
            }
        } else {
            Step::Deny {
                retry_at_ns: (start + u64::from(want) * shape.interval_ns).saturating_sub(window),
            }
        }
    }

    /// How many tokens to lease, when the first slot is `ahead_ns` from now: what the recent
    /// rate spends in [`HORIZON_SECS`], within the burst, and no more than can be spent
    /// before they lapse at that rate.
    fn lease_size(&self, ahead_ns: u64) -> u32 {
        let rate = self.meter.rate;
        let mut size = ((rate * HORIZON_SECS).floor() as u32)
            .clamp(1, MAX_LEASE)
            .min(self.shape.burst);
        let pace_ns = if rate > 0.0 {
            1e9 / rate
        } else {
            f64::INFINITY
        };
        let interval = self.shape.interval_ns as f64;
        if pace_ns > interval {
            // Token i is spent about i·pace after now and lapses at ahead + i·interval + G.
            let spendable = 1.0 + ((ahead_ns + GRACE_NS) as f64 / (pace_ns - interval)).floor();
            size = size.min(spendable.min(f64::from(MAX_LEASE)) as u32);
        }
        size.max(1)
    }

    /// The lease taken at `taken_ns` was granted: the shard's state is now `tat_ns`.
    pub fn granted(&mut self, taken_ns: u64, shard: u32, count: u32, tat_ns: u64) {
        let known = &mut self.known[shard as usize];
        *known = (*known).max(tat_ns);
        self.leases.push(Lease {
            taken_ns,
            first_ns: tat_ns.saturating_sub(u64::from(count) * self.shape.interval_ns),
            interval_ns: self.shape.interval_ns,
            count,
            next: 0,
        });
    }

    /// The lease was refused: the shard stands at `tat_ns`.
    pub fn short(&mut self, shard: u32, tat_ns: u64) {
        let known = &mut self.known[shard as usize];
        *known = (*known).max(tat_ns);
    }

    /// Tokens this instance believes it could still spend now: its leases, plus what the
    /// shards held when last seen.
    pub fn remaining(&self, now_ns: u64) -> u64 {
        let window = u64::from(self.shape.burst) * self.shape.interval_ns;
        let leased: u64 = self.leases.iter().map(|l| u64::from(l.left(now_ns))).sum();
        let shared: u64 = self
            .known
            .iter()
            .map(|&tat| (now_ns + window).saturating_sub(tat.max(now_ns)) / self.shape.interval_ns)
            .sum();
        leased + shared
    }

    /// Nanoseconds until every shard is full again, as far as this instance knows.
    pub fn refill_ns(&self, now_ns: u64) -> u64 {
        self.known
            .iter()
            .map(|&tat| tat.saturating_sub(now_ns))
            .max()
            .unwrap_or_default()
    }
}

/// A bucket of this instance alone: the fallback when the counters table cannot be reached.
#[derive(Debug, Clone)]
pub struct LocalBucket {
    tat_ns: u64,
    interval_ns: u64,
    burst: u32,
}

impl LocalBucket {
    pub fn new(limit: Limit) -> Option<Self> {
        let shape = Shape::of(Limit {
            rate: limit.rate,
            burst: limit.burst,
        })?;
        Some(LocalBucket {
            tat_ns: 0,
            interval_ns: ((1e9 / limit.rate).ceil() as u64).max(1),
            burst: shape.burst * shape.shards,
        })
    }

    /// Takes a token, or says when one will be there.
    pub fn take(&mut self, now_ns: u64) -> Result<(), u64> {
        let start = self.tat_ns.max(now_ns);
        let window = u64::from(self.burst) * self.interval_ns;
        if start + self.interval_ns <= now_ns + window {
            self.tat_ns = start + self.interval_ns;
            Ok(())
        } else {
            Err(start + self.interval_ns - window)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    /// A shared bucket in memory with the store's exact conditions, and N instances on one
    /// clock: what the lease arithmetic must keep within the bound.
    struct Shared {
        tat: Vec<u64>,
        writes: u64,
    }

    impl Shared {
        fn take(&mut self, shard: u32, now: u64, count: u32, shape: Shape) -> Result<u64, u64> {
            self.writes += 1;
            let tat = &mut self.tat[shard as usize];
            let start = (*tat).max(now);
            if start + u64::from(count) * shape.interval_ns
                <= now + u64::from(shape.burst) * shape.interval_ns
            {
                *tat = start + u64::from(count) * shape.interval_ns;
                Ok(*tat)
            } else {
                Err(*tat)
            }
        }
    }

    fn admit(state: &mut BucketState, shared: &mut Shared, now: u64) -> bool {
        state.arrive(now);
        for _ in 0..3 {
            match state.step(now, 0) {
                Step::Admit => return true,
                Step::Deny { retry_at_ns } => {
                    assert!(retry_at_ns > now, "a denial points to the future");
                    return false;
                }
                Step::Lease { shard, count, .. } => {
                    match shared.take(shard, now, count, state.shape()) {
                        Ok(tat) => state.granted(now, shard, count, tat),
                        Err(tat) => state.short(shard, tat),
                    }
                }
            }
        }
        false
    }

    /// Requests at `offered` a second spread round robin over `instances`, for `secs`; returns
    /// the admission times and the writes.
    fn run(limit: Limit, instances: usize, offered: f64, secs: u64) -> (Vec<u64>, u64) {
        let shape = Shape::of(limit).expect("a limit");
        let mut states: Vec<BucketState> = (0..instances)
            .map(|i| BucketState::new(shape, i as u64 * 7919))
            .collect();
        let mut shared = Shared {
            tat: vec![0; shape.shards as usize],
            writes: 0,
        };
        let start = 1_700_000_000 * SEC;
        let gap = (1e9 / offered) as u64;
        let mut admitted = Vec::new();
        let mut now = start;
        let mut i = 0;
        while now < start + secs * SEC {
            if admit(&mut states[i % instances], &mut shared, now) {
                admitted.push(now);
            }
            i += 1;
            now += gap;
        }
        (admitted, shared.writes)
    }

    fn max_in_window(times: &[u64], window: u64) -> usize {
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..times.len() {
            while times[hi] - times[lo] >= window {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }

    #[test]
    fn shapes_never_round_up() {
        let shape = Shape::of(Limit {
            rate: 1_000.0,
            burst: 501,
        })
        .expect("a limit");
        assert_eq!(shape.shards, 2);
        assert_eq!(shape.interval_ns, 2_000_000);
        assert_eq!(shape.burst, 250);
        assert_eq!(
            Shape::of(Limit {
                rate: 0.0,
                burst: 5
            }),
            None
        );
        assert_eq!(
            Shape::of(Limit {
                rate: 5.0,
                burst: 0
            }),
            None
        );
        let tiny = Shape::of(Limit {
            rate: 3.0,
            burst: 1,
        })
        .expect("a limit");
        assert_eq!((tiny.shards, tiny.burst), (1, 1));
        assert_eq!(tiny.interval_ns, 333_333_334);
    }

    #[test]
    fn a_quiet_key_is_exact_and_leases_one_token_at_a_time() {
        let limit = Limit {
            rate: 1.0,
            burst: 2,
        };
        let shape = Shape::of(limit).expect("a limit");
        let mut state = BucketState::new(shape, 0);
        let mut shared = Shared {
            tat: vec![0],
            writes: 0,
        };
        let t0 = 1_700_000_000 * SEC;
        assert!(admit(&mut state, &mut shared, t0));
        assert!(admit(&mut state, &mut shared, t0 + 10 * MS));
        assert!(!admit(&mut state, &mut shared, t0 + 20 * MS), "burst 2");
        assert!(!admit(&mut state, &mut shared, t0 + 900 * MS));
        assert!(admit(&mut state, &mut shared, t0 + 1_000 * MS), "refilled");
        assert_eq!(
            shared.writes, 3,
            "one write per admitted request, none per denial"
        );
    }

    #[test]
    fn a_denial_says_when_the_next_token_comes() {
        let shape = Shape::of(Limit {
            rate: 10.0,
            burst: 1,
        })
        .expect("a limit");
        let mut state = BucketState::new(shape, 0);
        let t0 = 1_700_000_000 * SEC;
        state.granted(t0, 0, 1, t0 + 100 * MS);
        state.arrive(t0);
        assert_eq!(state.step(t0, 0), Step::Admit);
        assert_eq!(
            state.step(t0 + MS, 0),
            Step::Deny {
                retry_at_ns: t0 + 100 * MS
            }
        );
    }

    #[test]
    fn a_request_never_spends_a_lease_taken_after_it_arrived() {
        // Requests A (t0) and B (t0 + 50 ms) both found no token and both took a lease; B's
        // came back first. A may not spend it: its burst was checked against B's time.
        let shape = Shape::of(Limit {
            rate: 10.0,
            burst: 1,
        })
        .expect("a limit");
        let mut state = BucketState::new(shape, 0);
        let t0 = 1_700_000_000 * SEC;
        state.granted(t0 + 50 * MS, 0, 1, t0 + 150 * MS);
        assert_ne!(state.step(t0, 0), Step::Admit);
        assert_eq!(state.step(t0 + 50 * MS, 0), Step::Admit);
    }

    #[test]
    fn leased_tokens_lapse_after_their_slot() {
        let mut lease = Lease {
            taken_ns: 0,
            first_ns: 1_000 * MS,
            interval_ns: 100 * MS,
            count: 5,
            next: 0,
        };
        // At 1.25 s, slots 1.0, 1.1 and 1.2 s (plus 10 ms grace) are gone; 1.3 s is next.
        assert_eq!(lease.left(1_250 * MS), 2);
        assert!(lease.spend(1_250 * MS));
        assert_eq!(lease.next, 4);
        assert!(lease.spend(1_250 * MS));
        assert!(!lease.spend(1_250 * MS));
        let mut late = Lease {
            taken_ns: 0,
            first_ns: 0,
            interval_ns: MS,
            count: 3,
            next: 0,
        };
        assert!(!late.spend(SEC), "a lease long past spends nothing");
    }

    #[test]
    fn eight_instances_at_five_times_the_rate_stay_within_the_bound() {
        let limit = Limit {
            rate: 200.0,
            burst: 40,
        };
        let (admitted, writes) = run(limit, 8, 1_000.0, 10);
        let bound = (limit.rate * (1.0 + GRACE_NS as f64 / 1e9)) as usize + limit.burst as usize;
        let worst = max_in_window(&admitted, SEC);
        assert!(
            worst <= bound,
            "{worst} admitted in one second, bound {bound}"
        );
        // Over the whole run: the rate for 10 s plus one burst, minus little.
        assert!(admitted.len() <= 2_040, "{}", admitted.len());
        assert!(admitted.len() >= 1_900, "{}", admitted.len());
        assert!(
            writes < admitted.len() as u64,
            "leases cover several requests"
        );
    }

    #[test]
    fn just_under_the_rate_almost_nothing_is_refused() {
        let limit = Limit {
            rate: 200.0,
            burst: 40,
        };
        for instances in [1, 2, 8] {
            let (admitted, _) = run(limit, instances, 190.0, 10);
            let offered = 1_900;
            assert!(
                admitted.len() * 100 >= offered * 99,
                "{} of {offered} admitted by {instances} instances",
                admitted.len()
            );
        }
    }

    #[test]
    fn one_hot_instance_writes_rarely() {
        let limit = Limit {
            rate: 10_000.0,
            burst: 5_000,
        };
        // Offered at twice the rate, and just under it.
        for offered in [20_000.0, 9_000.0] {
            let (admitted, writes) = run(limit, 1, offered, 5);
            let per_request = writes as f64 / admitted.len() as f64;
            assert!(
                per_request <= 0.02,
                "{writes} writes for {} requests at {offered}/s",
                admitted.len()
            );
            let bound = (limit.rate * 1.01) as usize + limit.burst as usize;
            assert!(max_in_window(&admitted, SEC) <= bound);
        }
    }

    #[test]
    fn the_local_fallback_is_a_plain_bucket() {
        let mut bucket = LocalBucket::new(Limit {
            rate: 2.0,
            burst: 2,
        })
        .expect("a limit");
        let t0 = 1_700_000_000 * SEC;
        assert!(bucket.take(t0).is_ok());
        assert!(bucket.take(t0).is_ok());
        assert_eq!(bucket.take(t0), Err(t0 + 500 * MS));
        assert!(bucket.take(t0 + 500 * MS).is_ok());
    }
}
