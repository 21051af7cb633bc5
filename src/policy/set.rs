//! A policy path that may be a directory of AccountPolicy files, each
//! governing the accounts its `spec.selector` names (design.md §7).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Diagnostic, Policy, PolicyError};
use crate::account::Account;

/// The policy files, in file-name order. A single file governs every account.
#[derive(Debug, PartialEq)]
pub struct PolicySet {
    pub files: Vec<(PathBuf, Policy)>,
}

impl PolicySet {
    /// One file, or every `.yaml` and `.yml` file of a directory. Every
    /// file's errors are reported, then every pair of files that would
    /// govern some account equally.
    pub fn load(path: &Path) -> Result<PolicySet, PolicyError> {
        if !path.is_dir() {
            return Ok(PolicySet {
                files: vec![(path.to_owned(), Policy::load(path)?)],
            });
        }
        let whole = |message: String| PolicyError {
            file: path.to_owned(),
            source_text: String::new(),
            diagnostics: vec![Diagnostic {
                line: 0,
                column: 0,
                message,
            }],
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| whole(format!("cannot read the policy directory: {e}")))?
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(whole("the policy directory holds no .yaml file".to_owned()));
        }
        let files = paths
            .into_iter()
            .map(|p| Policy::load(&p).map(|policy| (p, policy)))
            .collect::<Result<Vec<_>, _>>()?;
        let set = PolicySet { files };
        match set.overlaps().first() {
            Some((file, message)) => Err(PolicyError {
                file: file.clone(),
                source_text: String::new(),
                diagnostics: vec![Diagnostic {
                    line: 0,
                    column: 0,
                    message: message.clone(),
                }],
            }),
            None => Ok(set),
        }
    }

    /// Pairs of files equally specific for some account: the same account id
    /// or OU in two selectors, or two files without one.
    fn overlaps(&self) -> Vec<(PathBuf, String)> {
        let mut found = Vec::new();
        for (i, (later, policy)) in self.files.iter().enumerate() {
            for (earlier, other) in &self.files[..i] {
                let clash = match (&policy.selector, &other.selector) {
                    (None, None) => Some("both govern every account no file selects".to_owned()),
                    (Some(a), Some(b)) => a
                        .accounts
                        .intersection(&b.accounts)
                        .map(|id| format!("both select account {id}"))
                        .chain(
                            a.organizational_units
                                .intersection(&b.organizational_units)
                                .map(|ou| format!("both select {ou}")),
                        )
                        .next(),
                    _ => None,
                };
                if let Some(clash) = clash {
                    let message = format!("{clash}, as {} does: one of them must go", earlier.display());
                    found.push((later.clone(), message));
                }
            }
        }
        found
    }

    /// The file that governs the account: the one selecting its id, else the
    /// one selecting its deepest OU, else the one without a selector. `None`
    /// when no file does. A single file governs every account.
    pub fn governing(&self, account: &Account) -> Option<&(PathBuf, Policy)> {
        if let [only] = self.files.as_slice() {
            return Some(only);
        }
        self.files
            .iter()
            .max_by_key(|(_, policy)| specificity(policy, account))
            .filter(|(_, policy)| specificity(policy, account).is_some())
    }

    /// Each file with the ids of the accounts it governs, for `check`.
    pub fn governed<'a>(&'a self, accounts: &'a [Account]) -> Vec<(&'a Path, Vec<&'a str>)> {
        self.files
            .iter()
            .map(|(file, _)| {
                let governed = accounts
                    .iter()
                    .filter(|account| self.governing(account).is_some_and(|(f, _)| f == file))
                    .map(|account| account.id.as_str())
                    .collect();
                (file.as_path(), governed)
            })
            .collect()
    }

    /// What `check` reports once it knows the accounts served: a selector
    /// naming an account or OU that none of them is or sits under, and a file
    /// that governs no account.
    pub fn unmatched(&self, accounts: &[Account]) -> Vec<(PathBuf, String)> {
        let ids: BTreeSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        let units: BTreeSet<&str> = accounts
            .iter()
            .flat_map(|a| a.organizational_units.iter().map(String::as_str))
            .collect();
        let mut found = Vec::new();
        for (file, policy) in &self.files {
            let Some(selector) = &policy.selector else { continue };
            for id in selector.accounts.iter().filter(|id| !ids.contains(id.as_str())) {
                found.push((
                    file.clone(),
                    format!("selects account {id}, which the settings do not serve"),
                ));
            }
            for ou in selector
                .organizational_units
                .iter()
                .filter(|ou| !units.contains(ou.as_str()))
            {
                found.push((
                    file.clone(),
                    format!("selects {ou}, which holds no account the settings serve"),
                ));
            }
        }
        for (file, governed) in self.governed(accounts) {
            if governed.is_empty() {
                found.push((
                    file.to_owned(),
                    "governs no account: another file is more specific for each".to_owned(),
                ));
            }
        }
        found
    }
}

/// How closely `policy` selects the account: its id (highest), an OU by
/// depth (deeper is closer), no selector (lowest); `None` when it does not.
fn specificity(policy: &Policy, account: &Account) -> Option<(u8, usize)> {
    let Some(selector) = &policy.selector else {
        return Some((0, 0));
    };
    if selector.accounts.contains(account.id.as_str()) {
        return Some((2, 0));
    }
    account
        .organizational_units
        .iter()
        .rposition(|ou| selector.organizational_units.contains(ou))
        .map(|depth| (1, depth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountId;

    fn account(id: &str, organizational_units: &[String]) -> Account {
        Account {
            id: AccountId::parse(id).unwrap(),
            name: String::new(),
            organizational_units: organizational_units.to_vec(),
        }
    }

    fn policy(selector: &str) -> Policy {
        let text = format!(
            "apiVersion: iamwarden.dev/v1alpha1\nkind: AccountPolicy\nmetadata: {{name: p}}\nspec:\n{selector}  mode: audit\n"
        );
        Policy::parse(Path::new("p.yaml"), &text).unwrap()
    }

    fn set(files: &[(&str, &str)]) -> PolicySet {
        PolicySet {
            files: files
                .iter()
                .map(|(name, selector)| (PathBuf::from(name), policy(selector)))
                .collect(),
        }
    }

    #[test]
    fn the_most_specific_file_governs() {
        let files = set(&[
            ("account.yaml", "  selector: {accounts: [\"111111111111\"]}\n"),
            ("child.yaml", "  selector: {organizationalUnits: [ou-ab12-child000]}\n"),
            ("parent.yaml", "  selector: {organizationalUnits: [ou-ab12-parent00]}\n"),
            ("rest.yaml", ""),
        ]);
        let ous = ["ou-ab12-parent00".to_owned(), "ou-ab12-child000".to_owned()];
        let cases = [
            ("111111111111", &ous[..], "account.yaml"),
            ("222222222222", &ous[..], "child.yaml"),
            ("333333333333", &ous[..1], "parent.yaml"),
            ("444444444444", &[][..], "rest.yaml"),
        ];
        for (id, organizational_units, expected) in cases {
            let (file, _) = files.governing(&account(id, organizational_units)).unwrap();
            assert_eq!(file, Path::new(expected), "{id}");
        }
    }

    #[test]
    fn without_a_default_file_an_unselected_account_is_governed_by_none() {
        let files = set(&[
            ("a.yaml", "  selector: {accounts: [\"111111111111\"]}\n"),
            ("b.yaml", "  selector: {accounts: [\"222222222222\"]}\n"),
        ]);
        assert!(files.governing(&account("333333333333", &[])).is_none());
    }

    #[test]
    fn equally_specific_files_are_named() {
        let files = set(&[
            ("a.yaml", "  selector: {organizationalUnits: [ou-ab12-prod0000]}\n"),
            (
                "b.yaml",
                "  selector: {organizationalUnits: [ou-ab12-prod0000, ou-ab12-dev00000]}\n",
            ),
            ("c.yaml", ""),
            ("d.yaml", ""),
        ]);
        let overlaps: Vec<String> = files
            .overlaps()
            .iter()
            .map(|(file, message)| format!("{}: {message}", file.display()))
            .collect();
        assert_eq!(
            overlaps,
            [
                "b.yaml: both select ou-ab12-prod0000, as a.yaml does: one of them must go",
                "d.yaml: both govern every account no file selects, as c.yaml does: one of them must go"
            ]
        );
    }
}
