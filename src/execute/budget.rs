//! A cap on changes, so a bad policy or a burst of findings cannot rewrite
//! the whole account before a person notices.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ChangeBudget {
    limit: usize,
    /// `None`: the budget never refills (one CLI run).
    window: Option<Duration>,
    spent: Mutex<VecDeque<Instant>>,
}

impl ChangeBudget {
    pub fn per_run(limit: usize) -> ChangeBudget {
        ChangeBudget {
            limit,
            window: None,
            spent: Mutex::default(),
        }
    }

    /// A budget of `limit` changes in any `window`, such as an hour.
    pub fn per_window(limit: usize, window: Duration) -> ChangeBudget {
        ChangeBudget {
            limit,
            window: Some(window),
            spent: Mutex::default(),
        }
    }

    /// Spends one change if any is left.
    pub fn try_spend(&self) -> bool {
        let mut spent = self.current();
        if spent.len() >= self.limit {
            return false;
        }
        spent.push_back(Instant::now());
        true
    }

    /// No change is left right now.
    pub fn exhausted(&self) -> bool {
        self.current().len() >= self.limit
    }

    /// The changes that still count against the limit.
    fn current(&self) -> std::sync::MutexGuard<'_, VecDeque<Instant>> {
        let now = Instant::now();
        let mut spent = self.spent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(window) = self.window {
            while spent.front().is_some_and(|at| now.duration_since(*at) >= window) {
                spent.pop_front();
            }
        }
        spent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_budget_never_refills() {
        let budget = ChangeBudget::per_run(2);
        assert_eq!(
            [budget.try_spend(), budget.try_spend(), budget.try_spend()],
            [true, true, false]
        );
    }
}
