//! A cap on changes, so a bad policy or a burst of findings cannot rewrite
//! the whole account before a person notices. It delays work, never drops
//! it: a change held back is told when to try again.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ChangeBudget {
    limit: usize,
    /// `None`: the budget never refills (one CLI run).
    window: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    spent: VecDeque<Instant>,
    /// The last retry time handed out, so held-back changes come back one
    /// refill apart instead of all at the first.
    last_promise: Option<Instant>,
}

impl ChangeBudget {
    pub fn per_run(limit: usize) -> ChangeBudget {
        ChangeBudget {
            limit,
            window: None,
            state: Mutex::default(),
        }
    }

    /// A budget of `limit` changes in any `window`, such as an hour.
    pub fn per_window(limit: usize, window: Duration) -> ChangeBudget {
        ChangeBudget {
            limit,
            window: Some(window),
            state: Mutex::default(),
        }
    }

    /// Spends one change if any is left. Otherwise says when to try again:
    /// `None` if the budget never refills.
    pub fn try_spend(&self) -> Result<(), Option<Instant>> {
        let now = Instant::now();
        let mut state = self.current(now);
        if state.spent.len() < self.limit {
            state.spent.push_back(now);
            return Ok(());
        }
        let window = self.window.ok_or(None)?;
        // The oldest change leaves the window first; later promises are spaced
        // by the budget's average rate.
        let refill = state.spent.front().map_or(now, |oldest| *oldest + window);
        let spacing = window / u32::try_from(self.limit.max(1)).unwrap_or(u32::MAX);
        let retry = state.last_promise.map_or(refill, |last| refill.max(last + spacing));
        state.last_promise = Some(retry);
        Err(Some(retry))
    }

    /// Gives back the last change spent, which turned out not to be needed.
    pub fn refund(&self) {
        self.current(Instant::now()).spent.pop_back();
    }

    /// No change is left right now.
    pub fn exhausted(&self) -> bool {
        self.current(Instant::now()).spent.len() >= self.limit
    }

    /// The state with changes that left the window dropped.
    fn current(&self, now: Instant) -> std::sync::MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(window) = self.window {
            while state.spent.front().is_some_and(|at| now.duration_since(*at) >= window) {
                state.spent.pop_front();
            }
            if state.last_promise.is_some_and(|at| at <= now) {
                state.last_promise = None;
            }
        }
        state
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
            [Ok(()), Ok(()), Err(None)]
        );
        budget.refund();
        assert_eq!(budget.try_spend(), Ok(()), "a refunded change can be spent again");
    }

    #[test]
    fn a_window_budget_spaces_the_changes_it_holds_back() {
        let window = Duration::from_secs(60);
        let budget = ChangeBudget::per_window(2, window);
        let start = Instant::now();
        assert!(budget.try_spend().is_ok() && budget.try_spend().is_ok());
        let first = budget.try_spend().unwrap_err().unwrap();
        let second = budget.try_spend().unwrap_err().unwrap();
        assert!(
            first >= start + window && first <= Instant::now() + window,
            "when the oldest change leaves"
        );
        assert_eq!(second - first, window / 2, "the next one a refill later");
        assert!(budget.exhausted());
    }
}
