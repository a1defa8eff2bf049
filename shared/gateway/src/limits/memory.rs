//! The counters ports in memory, with the DynamoDB adapter's conditions: for unit tests of
//! the limiter and for benchmarks. Integration tests use the real table on dynalite.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use portico_model::ports::{Charge, Charged, Counters, StoreError, Take, Taken};

#[derive(Default)]
pub struct MemoryCounters {
    buckets: Mutex<HashMap<(String, u32), u64>>,
    used: Mutex<HashMap<(String, String), u64>>,
    /// Calls made, for tests that count writes.
    pub calls: AtomicU64,
    /// While set, every call fails as if the table were unreachable.
    pub down: AtomicBool,
    /// How long each call takes, in milliseconds (tokio time, so paused tests skip it).
    pub delay_ms: AtomicU64,
    /// The most takes, and the most charges, that were ever on their way at once.
    pub takes: Gauge,
    pub charges: Gauge,
}

/// Calls on their way, and the most there ever were.
#[derive(Default)]
pub struct Gauge {
    now: AtomicU64,
    pub most: AtomicU64,
}

impl Gauge {
    async fn around<T>(&self, delay_ms: u64, call: impl FnOnce() -> T) -> T {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        if delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        let result = call();
        self.now.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl MemoryCounters {
    pub fn used(&self, counter: &str, period: &str) -> u64 {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(counter.to_owned(), period.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    fn call(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.down.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable("down for the test".to_owned()));
        }
        Ok(())
    }
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn take(&self, take: &Take<'_>) -> Result<Taken, StoreError> {
        let delay = self.delay_ms.load(Ordering::Relaxed);
        self.takes.around(delay, || self.take_now(take)).await
    }

    async fn charge(&self, charge: &Charge<'_>) -> Result<Charged, StoreError> {
        let delay = self.delay_ms.load(Ordering::Relaxed);
        self.charges.around(delay, || self.charge_now(charge)).await
    }
}

impl MemoryCounters {
    fn take_now(&self, take: &Take<'_>) -> Result<Taken, StoreError> {
        self.call()?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let tat = buckets
            .entry((take.bucket.to_owned(), take.shard))
            .or_default();
        let start = (*tat).max(take.now_ns);
        let end = start + u64::from(take.count) * take.interval_ns;
        if end <= take.now_ns + u64::from(take.burst) * take.interval_ns {
            *tat = end;
            Ok(Taken::Granted { tat_ns: end })
        } else {
            Ok(Taken::Short { tat_ns: *tat })
        }
    }

    fn charge_now(&self, charge: &Charge<'_>) -> Result<Charged, StoreError> {
        self.call()?;
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let counter = used
            .entry((charge.counter.to_owned(), charge.period.to_owned()))
            .or_default();
        if charge
            .limit
            .is_some_and(|limit| *counter + charge.count > limit)
        {
            return Ok(Charged::Exhausted { used: *counter });
        }
        *counter += charge.count;
        Ok(Charged::Charged { used: *counter })
    }
}
