//! Whether every subject a trust-policy value admits is allowed: the heart of
//! rule `oidc-trust`.
//!
//! A value from `StringLike` is a glob: `*` is any run of characters, `?` any
//! one. A value from `StringEquals` is its literal text. The allowed patterns
//! of the policy file are globs too. A value is covered when every string it
//! can match, one of the allowed patterns matches as well. When it is not, a
//! witness shows why: a string the value admits and no pattern allows.
//!
//! The decision explores the value's glob against the allowed patterns'
//! automaton, one symbol at a time. The symbols are the characters the globs
//! name, plus one character none of them names, which stands for all the
//! others. Every state is visited once, so it ends on any input.

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
}

impl Glob {
    /// `*` and `?` are wildcards, as in IAM's `StringLike`.
    pub fn like(text: &str) -> Glob {
        let tokens = text
            .chars()
            .map(|c| match c {
                '*' => Token::Many,
                '?' => Token::One,
                c => Token::Char(c),
            })
            .collect();
        Glob { tokens }
    }

    /// Every character stands for itself, as in `StringEquals`.
    pub fn literal(text: &str) -> Glob {
        Glob {
            tokens: text.chars().map(Token::Char).collect(),
        }
    }

    fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.tokens.iter().filter_map(|t| match t {
            Token::Char(c) => Some(*c),
            _ => None,
        })
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
                match token {
                    Token::Many => next[j] = reachable[j] || (j > 0 && next[j - 1]),
                    Token::One => next[j] = j > 0 && reachable[j - 1],
                    Token::Char(c) => next[j] = j > 0 && reachable[j - 1] && text[j - 1] == *c,
                }
            }
            reachable = next;
        }
        reachable[text.len()]
    }
}

/// `Ok` when every string `value` admits is matched by one of `patterns`;
/// otherwise `Err` with a string `value` admits that none of them matches.
pub fn covered(value: &Glob, patterns: &[Glob]) -> Result<(), String> {
    let automaton = Patterns(patterns);
    let alphabet = alphabet(std::iter::once(value).chain(patterns));
    // Each node: the value's position, the patterns' states, and how it was reached.
    let mut nodes: Vec<Node> = vec![Node {
        position: 0,
        states: automaton.start(),
        parent: None,
    }];
    let mut seen: HashSet<(usize, Vec<(usize, usize)>)> = HashSet::from([(0, nodes[0].states.clone())]);
    let mut stack = vec![0];
    while let Some(at) = stack.pop() {
        let Node { position, states, .. } = nodes[at].clone();
        let Some(token) = value.tokens.get(position) else {
            if !automaton.accepts(&states) {
                return Err(witness(&nodes, at));
            }
            continue;
        };
        // In order of preference: a wildcard first stands for the character
        // no glob names, then for nothing, then for each named one. That
        // order labels each state first reached, and is the order explored,
        // which gives the most telling witness.
        let (other, named) = alphabet.split_first().expect("the alphabet has the other character");
        let moves: Vec<(usize, Option<char>)> = match token {
            Token::Char(c) => vec![(position + 1, Some(*c))],
            Token::One => alphabet.iter().map(|c| (position + 1, Some(*c))).collect(),
            Token::Many => [(position, Some(*other)), (position + 1, None)]
                .into_iter()
                .chain(named.iter().map(|c| (position, Some(*c))))
                .collect(),
        };
        let first = nodes.len();
        for (next, symbol) in moves {
            let states = match symbol {
                Some(c) => automaton.step(&states, c),
                None => states.clone(),
            };
            if seen.insert((next, states.clone())) {
                nodes.push(Node {
                    position: next,
                    states,
                    parent: Some((at, symbol)),
                });
            }
        }
        stack.extend((first..nodes.len()).rev());
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Node {
    position: usize,
    states: Vec<(usize, usize)>,
    parent: Option<(usize, Option<char>)>,
}

fn witness(nodes: &[Node], mut at: usize) -> String {
    let mut chars = Vec::new();
    while let Some((parent, symbol)) = nodes[at].parent {
        chars.extend(symbol);
        at = parent;
    }
    chars.iter().rev().collect()
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

/// The patterns as one automaton: a state is (pattern, position in it).
struct Patterns<'a>(&'a [Glob]);

impl Patterns<'_> {
    fn start(&self) -> Vec<(usize, usize)> {
        self.closure((0..self.0.len()).map(|p| (p, 0)).collect())
    }

    /// A `*` may match nothing: where one stands, the position after it is reached too.
    fn closure(&self, mut states: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
        let mut i = 0;
        while i < states.len() {
            let (pattern, at) = states[i];
            if self.0[pattern].tokens.get(at) == Some(&Token::Many) && !states.contains(&(pattern, at + 1)) {
                states.push((pattern, at + 1));
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
            .filter_map(|&(pattern, at)| match self.0[pattern].tokens.get(at)? {
                Token::Many => Some((pattern, at)),
                Token::One => Some((pattern, at + 1)),
                Token::Char(d) => (*d == c).then_some((pattern, at + 1)),
            })
            .collect();
        self.closure(next)
    }

    fn accepts(&self, states: &[(usize, usize)]) -> bool {
        states.iter().any(|&(pattern, at)| at == self.0[pattern].tokens.len())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(value: &Glob, patterns: &[&str]) -> Result<(), String> {
        covered(value, &patterns.iter().map(|p| Glob::like(p)).collect::<Vec<_>>())
    }

    #[test]
    fn the_cases_of_the_design() {
        let allowed = ["repo:my-org/*"];
        assert_eq!(
            check(&Glob::like("repo:my-org/app:ref:refs/heads/main"), &allowed),
            Ok(())
        );
        assert_eq!(check(&Glob::like("repo:my-org/*"), &allowed), Ok(()));
        assert_eq!(check(&Glob::like("repo:*"), &allowed), Err("repo:x".into()));
        assert_eq!(check(&Glob::like("repo:my-org*"), &allowed), Err("repo:my-orgx".into()));
        assert_eq!(check(&Glob::like("*"), &allowed), Err("x".into()));
        assert_eq!(
            check(&Glob::like("repo:other-org/app:*"), &allowed),
            Err("repo:other-org/app:".into())
        );
    }

    #[test]
    fn literals_are_literal_and_wildcards_in_them_match_only_themselves() {
        assert_eq!(
            check(
                &Glob::literal("repo:my-org/app:ref:refs/heads/main"),
                &["repo:my-org/*"]
            ),
            Ok(())
        );
        assert_eq!(
            check(&Glob::literal("repo:*"), &["repo:*"]),
            Ok(()),
            "the literal string repo:*"
        );
        assert_eq!(
            check(&Glob::literal("repo:*"), &["repo:my-org/*"]),
            Err("repo:*".into())
        );
    }

    #[test]
    fn the_patterns_cover_together() {
        let allowed = ["repo:org/*:ref:*", "repo:org/*:environment:*"];
        assert_eq!(check(&Glob::like("repo:org/app:environment:prod"), &allowed), Ok(()));
        assert!(check(&Glob::like("repo:org/app:*"), &allowed).is_err());
        let halves = ["a*", "b*", "?"];
        assert!(check(&Glob::like("?"), &halves).is_ok());
        assert!(
            check(&Glob::like("?*"), &halves).is_err(),
            "a string of two starting with neither"
        );
        assert!(check(&Glob::like("x"), &[]).is_err(), "no pattern allows anything");
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

    /// Every string of up to `length` characters over a, b and c.
    fn strings(length: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..length {
            frontier = frontier
                .iter()
                .flat_map(|s| ['a', 'b', 'c'].map(|c| format!("{s}{c}")))
                .collect();
            all.extend(frontier.iter().cloned());
        }
        all
    }

    fn glob_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop_oneof![Just('a'), Just('b'), Just('*'), Just('?')], 0..5)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Against brute force: a covered value admits no string of up to
        /// seven characters that no pattern matches, and an uncovered one
        /// comes with a witness it admits and no pattern matches.
        #[test]
        fn agrees_with_brute_force(value in glob_text(), patterns in proptest::collection::vec(glob_text(), 0..3), literal in any::<bool>()) {
            let value = if literal { Glob::literal(&value) } else { Glob::like(&value) };
            let patterns: Vec<Glob> = patterns.iter().map(|p| Glob::like(p)).collect();
            let allowed = |s: &str| patterns.iter().any(|p| p.matches(s));
            match covered(&value, &patterns) {
                Ok(()) => {
                    for s in strings(7) {
                        prop_assert!(!value.matches(&s) || allowed(&s), "{value:?} admits {s:?}, which no pattern matches");
                    }
                }
                Err(witness) => {
                    prop_assert!(value.matches(&witness), "the witness {witness:?} is not admitted by {value:?}");
                    prop_assert!(!allowed(&witness), "the witness {witness:?} is allowed");
                }
            }
        }
    }
}
