//! Whether every subject a trust-policy statement admits is allowed: the
//! heart of rule `oidc-trust`.
//!
//! A statement admits a subject when every one of its conditions does, and a
//! condition admits it when any of its values matches it. A value from
//! `StringLike` is a glob (`*` any run of characters, `?` any one), one from
//! `StringEquals` its literal text, one from `StringEqualsIgnoreCase` its
//! text in any case. The allowed patterns of the policy file are globs too.
//! The statement is covered when every subject it admits, an allowed pattern
//! matches as well; when it is not, a witness shows why: a subject every
//! condition admits and no allowed pattern matches.
//!
//! The search walks the product of the conditions' automata and the allowed
//! patterns' one symbol at a time. The symbols are the characters the globs
//! name (both cases, where a value ignores case), plus one character none of
//! them names, which stands for all the others. Every state is visited once,
//! and the walk is bounded: the values are written by whoever can write a
//! trust policy, so past a budget of steps the answer is [`Coverage::Unknown`],
//! and the caller takes the broader verdict.

use std::collections::{BTreeSet, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters, empty included.
    Many,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// Characters match in either case, as `StringEqualsIgnoreCase` compares.
    fold_case: bool,
}

impl Glob {
    /// `*` and `?` are wildcards, as in IAM's `StringLike`. A run of `*` is
    /// one: it matches the same strings, and keeps the search's work linear.
    pub fn like(text: &str) -> Glob {
        let mut tokens: Vec<Token> = Vec::with_capacity(text.len());
        for c in text.chars() {
            let token = match c {
                '*' => Token::Many,
                '?' => Token::One,
                c => Token::Char(c),
            };
            if !(token == Token::Many && tokens.last() == Some(&Token::Many)) {
                tokens.push(token);
            }
        }
        Glob {
            tokens,
            fold_case: false,
        }
    }

    /// Every character stands for itself, as in `StringEquals`.
    pub fn literal(text: &str) -> Glob {
        Glob {
            tokens: text.chars().map(Token::Char).collect(),
            fold_case: false,
        }
    }

    /// The same strings in any case, as `StringEqualsIgnoreCase` admits them.
    pub fn ignoring_case(self) -> Glob {
        Glob {
            fold_case: true,
            ..self
        }
    }

    fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.tokens
            .iter()
            .filter_map(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .flat_map(move |c| match self.fold_case {
                true => vec![c.to_ascii_lowercase(), c.to_ascii_uppercase()],
                false => vec![c],
            })
    }

    fn accepts_char(&self, token: Token, c: char) -> bool {
        match token {
            Token::Char(d) if self.fold_case => d.eq_ignore_ascii_case(&c),
            Token::Char(d) => d == c,
            Token::One => true,
            Token::Many => true,
        }
    }

    /// Whether `text` is one of the strings this glob admits.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        // reachable[j]: the first j characters of `text` are matched by the tokens so far.
        let mut reachable = vec![false; text.len() + 1];
        reachable[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; text.len() + 1];
            for j in 0..=text.len() {
                next[j] = match token {
                    Token::Many => reachable[j] || (j > 0 && next[j - 1]),
                    _ => j > 0 && reachable[j - 1] && self.accepts_char(*token, text[j - 1]),
                };
            }
            reachable = next;
        }
        reachable[text.len()]
    }
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    Covered,
    /// A string every condition admits and no allowed pattern matches.
    Uncovered(String),
    /// The search needed more than its budget: too complex to judge.
    Unknown,
}

/// Steps a search may still take: each step advances one automaton state.
#[derive(Debug)]
pub struct Budget {
    steps: usize,
}

/// Enough for any trust policy IAM accepts (at most 4,096 characters), many
/// times over; an attacker's document that needs more is judged the broader way.
pub const STEPS: usize = 1_000_000;
/// States kept at once, whatever the steps left: memory stays within a few MiB.
const MOST_NODES: usize = 20_000;

impl Budget {
    pub fn new(steps: usize) -> Budget {
        Budget { steps }
    }

    fn spend(&mut self, steps: usize) -> bool {
        match self.steps.checked_sub(steps) {
            Some(left) => {
                self.steps = left;
                true
            }
            None => false,
        }
    }
}

/// Whether every string that all `conditions` admit (each a union of its
/// globs) is matched by one of `allowed`.
pub fn covered(conditions: &[&[Glob]], allowed: &[Glob], budget: &mut Budget) -> Coverage {
    search(conditions, allowed, budget).0
}

/// The verdict, and the automaton states the search made on the way: its real work.
fn search(conditions: &[&[Glob]], allowed: &[Glob], budget: &mut Budget) -> (Coverage, usize) {
    let automata: Vec<Automaton> = conditions.iter().map(|globs| Automaton(globs)).collect();
    let allowed = Automaton(allowed);
    let alphabet = alphabet(conditions.iter().flat_map(|g| g.iter()).chain(allowed.0));
    let mut search = Search {
        automata: &automata,
        allowed: &allowed,
        nodes: Vec::new(),
        seen: HashSet::new(),
        made: 0,
    };
    let root = State {
        conditions: automata.iter().map(Automaton::start).collect(),
        allowed: allowed.start(),
    };
    search.add(root, None);
    // In order of preference: a step on the character no glob names first,
    // then stopping here, then each named character. That order labels each
    // state first reached, and is the order explored, which gives the most
    // telling witness.
    let mut stack = vec![Item::Explore(0)];
    while let Some(item) = stack.pop() {
        let at = match item {
            Item::Check(at) if search.violates(at) => {
                return (Coverage::Uncovered(search.witness(at)), search.made);
            }
            Item::Check(_) => continue,
            Item::Explore(at) => at,
        };
        let (other, named) = alphabet.split_first().expect("the alphabet has the other character");
        // Only characters every condition can still take: the rest lead nowhere.
        let takes = search.takes(at);
        let mut children = Vec::new();
        for c in std::iter::once(other).chain(named) {
            if !takes.as_ref().is_none_or(|chars| chars.contains(c)) {
                children.push(None);
                continue;
            }
            let Some(state) = search.step(at, *c, budget) else {
                return (Coverage::Unknown, search.made);
            };
            children.push(state.and_then(|state| search.add(state, Some((at, *c)))));
        }
        if search.nodes.len() > MOST_NODES {
            return (Coverage::Unknown, search.made);
        }
        let (first, rest) = children.split_first().expect("at least the other character");
        stack.extend(rest.iter().rev().flatten().map(|n| Item::Explore(*n)));
        stack.push(Item::Check(at));
        stack.extend(first.map(Item::Explore));
    }
    (Coverage::Covered, search.made)
}

enum Item {
    Explore(usize),
    Check(usize),
}

/// The conditions' automata and the allowed patterns', each a set of states.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    conditions: Vec<Vec<(usize, usize)>>,
    allowed: Vec<(usize, usize)>,
}

struct Node {
    state: State,
    parent: Option<(usize, char)>,
}

struct Search<'a> {
    automata: &'a [Automaton<'a>],
    allowed: &'a Automaton<'a>,
    nodes: Vec<Node>,
    seen: HashSet<State>,
    /// Automaton states made so far.
    made: usize,
}

impl Search<'_> {
    /// The node for `state`, if it is new.
    fn add(&mut self, state: State, parent: Option<(usize, char)>) -> Option<usize> {
        if !self.seen.insert(state.clone()) {
            return None;
        }
        self.nodes.push(Node { state, parent });
        Some(self.nodes.len() - 1)
    }

    /// The state after `c`: `Some(None)` when some condition can no longer
    /// be met; `None` when the budget is spent.
    fn step(&mut self, at: usize, c: char, budget: &mut Budget) -> Option<Option<State>> {
        let state = &self.nodes[at].state;
        let cost = state.conditions.iter().map(Vec::len).sum::<usize>() + state.allowed.len();
        if !budget.spend(cost.max(1)) {
            return None;
        }
        let mut conditions = Vec::with_capacity(state.conditions.len());
        for (automaton, states) in self.automata.iter().zip(&state.conditions) {
            let next = automaton.step(states, c);
            self.made += next.len();
            if next.is_empty() {
                return Some(None);
            }
            conditions.push(next);
        }
        let allowed = self.allowed.step(&state.allowed, c);
        self.made += allowed.len();
        Some(Some(State { conditions, allowed }))
    }

    /// The characters every condition can take next; `None`: any (each
    /// stands at a wildcard somewhere).
    fn takes(&self, at: usize) -> Option<BTreeSet<char>> {
        let state = &self.nodes[at].state;
        let mut common: Option<BTreeSet<char>> = None;
        for (automaton, states) in self.automata.iter().zip(&state.conditions) {
            let Some(chars) = automaton.takes(states) else { continue };
            common = Some(match common {
                Some(so_far) => so_far.intersection(&chars).copied().collect(),
                None => chars,
            });
        }
        common
    }

    fn violates(&self, at: usize) -> bool {
        let state = &self.nodes[at].state;
        self.automata.iter().zip(&state.conditions).all(|(a, s)| a.accepts(s)) && !self.allowed.accepts(&state.allowed)
    }

    fn witness(&self, mut at: usize) -> String {
        let mut chars = Vec::new();
        while let Some((parent, c)) = self.nodes[at].parent {
            chars.push(c);
            at = parent;
        }
        chars.iter().rev().collect()
    }
}

/// The characters the globs name, then one they do not (first in the list,
/// so it is tried first).
fn alphabet<'a>(globs: impl Iterator<Item = &'a Glob>) -> Vec<char> {
    let named: BTreeSet<char> = globs.flat_map(Glob::chars).collect();
    // A readable one if it can be; else one from the private use area.
    let other = "xzqjkw0123456789"
        .chars()
        .chain('\u{e000}'..='\u{f8ff}')
        .find(|c| !named.contains(c))
        .unwrap_or('\u{fffd}');
    std::iter::once(other).chain(named).collect()
}

/// Globs as one automaton: a state is (glob, position in it).
struct Automaton<'a>(&'a [Glob]);

impl Automaton<'_> {
    fn start(&self) -> Vec<(usize, usize)> {
        self.closure((0..self.0.len()).map(|g| (g, 0)).collect())
    }

    /// A `*` may match nothing: where one stands, the position after it is reached too.
    fn closure(&self, mut states: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
        let mut i = 0;
        while i < states.len() {
            let (glob, at) = states[i];
            if self.0[glob].tokens.get(at) == Some(&Token::Many) && !states.contains(&(glob, at + 1)) {
                states.push((glob, at + 1));
            }
            i += 1;
        }
        states.sort_unstable();
        states.dedup();
        states
    }

    fn step(&self, states: &[(usize, usize)], c: char) -> Vec<(usize, usize)> {
        let next = states
            .iter()
            .filter_map(|&(g, at)| {
                let glob = &self.0[g];
                let token = *glob.tokens.get(at)?;
                match token {
                    Token::Many => Some((g, at)),
                    _ => glob.accepts_char(token, c).then_some((g, at + 1)),
                }
            })
            .collect();
        self.closure(next)
    }

    fn accepts(&self, states: &[(usize, usize)]) -> bool {
        states.iter().any(|&(g, at)| at == self.0[g].tokens.len())
    }

    /// The characters these states can take next; `None`: any, at a wildcard.
    fn takes(&self, states: &[(usize, usize)]) -> Option<BTreeSet<char>> {
        let mut chars = BTreeSet::new();
        for &(g, at) in states {
            let glob = &self.0[g];
            match glob.tokens.get(at) {
                Some(Token::Char(c)) if glob.fold_case => {
                    chars.extend([c.to_ascii_lowercase(), c.to_ascii_uppercase()]);
                }
                Some(Token::Char(c)) => {
                    chars.insert(*c);
                }
                Some(Token::One | Token::Many) => return None,
                None => {}
            }
        }
        Some(chars)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(value: &Glob, patterns: &[&str]) -> Coverage {
        let allowed: Vec<Glob> = patterns.iter().map(|p| Glob::like(p)).collect();
        covered(&[std::slice::from_ref(value)], &allowed, &mut Budget::new(STEPS))
    }

    fn uncovered(witness: &str) -> Coverage {
        Coverage::Uncovered(witness.to_owned())
    }

    #[test]
    fn the_cases_of_the_design() {
        let allowed = ["repo:my-org/*"];
        assert_eq!(
            check(&Glob::like("repo:my-org/app:ref:refs/heads/main"), &allowed),
            Coverage::Covered
        );
        assert_eq!(check(&Glob::like("repo:my-org/*"), &allowed), Coverage::Covered);
        assert_eq!(check(&Glob::like("repo:*"), &allowed), uncovered("repo:x"));
        assert_eq!(check(&Glob::like("repo:my-org*"), &allowed), uncovered("repo:my-orgx"));
        assert_eq!(check(&Glob::like("*"), &allowed), uncovered("x"));
        assert_eq!(
            check(&Glob::like("repo:other-org/app:*"), &allowed),
            uncovered("repo:other-org/app:")
        );
    }

    #[test]
    fn literals_are_literal_and_wildcards_in_them_match_only_themselves() {
        assert_eq!(
            check(
                &Glob::literal("repo:my-org/app:ref:refs/heads/main"),
                &["repo:my-org/*"]
            ),
            Coverage::Covered
        );
        assert_eq!(
            check(&Glob::literal("repo:*"), &["repo:*"]),
            Coverage::Covered,
            "the literal string repo:*"
        );
        assert_eq!(check(&Glob::literal("repo:*"), &["repo:my-org/*"]), uncovered("repo:*"));
    }

    #[test]
    fn a_value_that_ignores_case_admits_every_spelling() {
        let value = Glob::literal("repo:my-org/app").ignoring_case();
        assert_eq!(check(&value, &["repo:my-org/*"]), uncovered("REPO:MY-ORG/APP"));
        assert_eq!(check(&value, &["*"]), Coverage::Covered);
        assert!(value.matches("Repo:My-Org/App") && !value.matches("repo:my-org/ap"));
    }

    #[test]
    fn the_patterns_cover_together() {
        let allowed = ["repo:org/*:ref:*", "repo:org/*:environment:*"];
        assert_eq!(
            check(&Glob::like("repo:org/app:environment:prod"), &allowed),
            Coverage::Covered
        );
        assert!(matches!(
            check(&Glob::like("repo:org/app:*"), &allowed),
            Coverage::Uncovered(_)
        ));
        let halves = ["a*", "b*", "?"];
        assert_eq!(check(&Glob::like("?"), &halves), Coverage::Covered);
        assert!(
            matches!(check(&Glob::like("?*"), &halves), Coverage::Uncovered(_)),
            "a string of two starting with neither"
        );
        assert!(
            matches!(check(&Glob::like("x"), &[]), Coverage::Uncovered(_)),
            "no pattern allows anything"
        );
    }

    #[test]
    fn conditions_hold_together_and_the_witness_meets_them_all() {
        let allowed = [Glob::like("repo:my-org/*")];
        let equals = [Glob::literal("repo:my-org*")];
        let like = [Glob::like("repo:my-org/app:*"), Glob::like("repo:my-or*/x")];
        let budget = &mut Budget::new(STEPS);
        assert_eq!(
            covered(&[&equals, &like], &allowed, budget),
            Coverage::Covered,
            "no subject meets both conditions: nothing is admitted"
        );
        let wide = [Glob::like("repo:*")];
        let narrow = [Glob::like("*:ref:refs/heads/main")];
        match covered(&[&wide, &narrow], &allowed, budget) {
            Coverage::Uncovered(witness) => {
                assert!(wide[0].matches(&witness) && narrow[0].matches(&witness), "{witness}");
                assert!(!allowed[0].matches(&witness), "{witness}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_explosive_pattern_set_is_judged_within_its_budget() {
        // Subset construction over globs like these doubles with every `?`.
        let hostile: Vec<Glob> = (0..24)
            .map(|n| Glob::like(&format!("*a{}*b{}", "?".repeat(n), "?".repeat(24 - n))))
            .collect();
        let (verdict, made) = search(&[&hostile], &[Glob::like("*a*")], &mut Budget::new(STEPS));
        assert!(made <= 2 * STEPS + hostile.len() + 1, "{made} states made");
        // Every string they admit holds an `a`, which the pattern allows: no
        // witness exists, and a verdict that names one is wrong.
        assert!(matches!(verdict, Coverage::Covered | Coverage::Unknown), "{verdict:?}");
    }

    #[test]
    fn the_matcher_of_the_witnesses() {
        let glob = Glob::like("a*b?c");
        for (text, expected) in [
            ("abxc", true),
            ("azzzbyc", true),
            ("abc", false),
            ("ab", false),
            ("a*b?c", true),
        ] {
            assert_eq!(glob.matches(text), expected, "{text}");
        }
        assert!(Glob::literal("a*").matches("a*") && !Glob::literal("a*").matches("ab"));
    }

    /// Every string of up to `length` characters over a, b, c and A.
    fn strings(length: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..length {
            frontier = frontier
                .iter()
                .flat_map(|s| ['a', 'b', 'c', 'A'].map(|c| format!("{s}{c}")))
                .collect();
            all.extend(frontier.iter().cloned());
        }
        all
    }

    fn glob_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop_oneof![Just('a'), Just('b'), Just('*'), Just('?')], 0..5)
            .prop_map(|chars| chars.into_iter().collect())
    }

    fn value() -> impl Strategy<Value = Glob> {
        (glob_text(), 0..3u8).prop_map(|(text, kind)| match kind {
            0 => Glob::like(&text),
            1 => Glob::literal(&text),
            _ => Glob::literal(&text).ignoring_case(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// Against brute force: a covered statement admits no string of up
        /// to six characters that no pattern matches, and an uncovered one
        /// comes with a witness every condition admits and no pattern matches.
        #[test]
        fn agrees_with_brute_force(
            conditions in proptest::collection::vec(proptest::collection::vec(value(), 1..3), 1..3),
            patterns in proptest::collection::vec(glob_text(), 0..3),
        ) {
            let patterns: Vec<Glob> = patterns.iter().map(|p| Glob::like(p)).collect();
            let slices: Vec<&[Glob]> = conditions.iter().map(Vec::as_slice).collect();
            let admitted = |s: &str| conditions.iter().all(|c| c.iter().any(|v| v.matches(s)));
            let allowed = |s: &str| patterns.iter().any(|p| p.matches(s));
            match covered(&slices, &patterns, &mut Budget::new(STEPS)) {
                Coverage::Covered => {
                    for s in strings(6) {
                        prop_assert!(!admitted(&s) || allowed(&s), "{conditions:?} admit {s:?}, which no pattern matches");
                    }
                }
                Coverage::Uncovered(witness) => {
                    prop_assert!(admitted(&witness), "the witness {witness:?} is not admitted by {conditions:?}");
                    prop_assert!(!allowed(&witness), "the witness {witness:?} is allowed");
                }
                Coverage::Unknown => prop_assert!(false, "small inputs are always judged"),
            }
        }

        /// Whatever the globs, the work the search does stays within its
        /// budget: a `*` may add the state after it, so at most twice the steps.
        #[test]
        fn the_search_stays_bounded(
            values in proptest::collection::vec("[ab*?]{0,40}", 1..40),
            patterns in proptest::collection::vec("[ab*?]{0,40}", 0..20),
        ) {
            let values: Vec<Glob> = values.iter().map(|v| Glob::like(v)).collect();
            let patterns: Vec<Glob> = patterns.iter().map(|p| Glob::like(p)).collect();
            let budget = 20_000;
            let (verdict, made) = search(&[&values], &patterns, &mut Budget::new(budget));
            prop_assert!(made <= 2 * budget + values.len() + patterns.len(), "{made} states made");
            if let Coverage::Uncovered(witness) = verdict {
                prop_assert!(values.iter().any(|v| v.matches(&witness)));
                prop_assert!(!patterns.iter().any(|p| p.matches(&witness)));
            }
        }
    }
}
