//! Which replica serves which account: a jump consistent hash of the account
//! id over the replica count, so adding an Nth replica moves only about 1/N
//! of the accounts and no replica needs to know any other.

use serde::Deserialize;

use crate::account::AccountId;

/// This replica's part of the accounts: `{index: 0, count: 3}` in a settings
/// file, `0/3` in `IAM_WARDEN_SHARD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ShardForm")]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ShardForm {
    Fields { index: u32, count: u32 },
    Text(String),
}

impl TryFrom<ShardForm> for Shard {
    type Error = String;

    fn try_from(form: ShardForm) -> Result<Shard, String> {
        let (index, count) = match form {
            ShardForm::Fields { index, count } => (index, count),
            ShardForm::Text(text) => {
                let parsed = text
                    .split_once('/')
                    .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
                parsed.ok_or_else(|| format!("shard `{text}` is not INDEX/COUNT, like 0/3"))?
            }
        };
        if index >= count {
            return Err(format!("shard {index}/{count}: the index must be below the count"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// On a StatefulSet, the pod ordinal (the `-N` at the end of `hostname`)
    /// and the replica count the manifest passes in `replicas`; without a
    /// replica count, every account. A replica count with no ordinal below it
    /// is an error: such a replica would serve every account beside the others.
    pub fn of_pod(hostname: Option<&str>, replicas: Option<&str>) -> Result<Shard, String> {
        let Some(replicas) = replicas else {
            return Ok(Shard::ALL);
        };
        let count = replicas
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("IAM_WARDEN_REPLICAS `{replicas}` is not a replica count"))?;
        let ordinal = hostname
            .and_then(|h| h.rsplit_once('-'))
            .and_then(|(_, n)| n.parse::<u32>().ok());
        match ordinal {
            Some(index) if index < count => Ok(Shard { index, count }),
            Some(index) => Err(format!(
                "the pod ordinal {index} (from HOSTNAME) is at or above IAM_WARDEN_REPLICAS={count}: scale the StatefulSet and the replica count together"
            )),
            None => Err(format!(
                "IAM_WARDEN_REPLICAS={count} is set, but HOSTNAME `{}` ends in no pod ordinal",
                hostname.unwrap_or_default()
            )),
        }
    }

    pub fn owns(&self, account: &AccountId) -> bool {
        jump_hash(key_of(account.as_str()), self.count) == self.index
    }
}

/// An account id is twelve digits; any other text still gets a stable key.
fn key_of(account: &str) -> u64 {
    account.parse().unwrap_or_else(|_| {
        // FNV-1a: stable across builds and platforms, unlike the std hasher.
        account.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    })
}

/// Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014).
fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(n: u64) -> Vec<AccountId> {
        (0..n)
            .map(|i| AccountId::parse(&format!("{:012}", 100_000_000_000 + i * 7919)).unwrap())
            .collect()
    }

    #[test]
    fn every_account_has_exactly_one_shard() {
        for count in 1..=5 {
            for account in accounts(200) {
                let owners = (0..count)
                    .filter(|&index| Shard { index, count }.owns(&account))
                    .count();
                assert_eq!(owners, 1, "{account} with {count} shards");
            }
        }
    }

    #[test]
    fn a_fourth_replica_moves_about_a_quarter_and_only_to_itself() {
        let all = accounts(1000);
        let owner =
            |account: &AccountId, count| (0..count).find(|&index| Shard { index, count }.owns(account)).unwrap();
        let moved: Vec<&AccountId> = all.iter().filter(|a| owner(a, 3) != owner(a, 4)).collect();
        assert!(
            moved.iter().all(|a| owner(a, 4) == 3),
            "accounts move only to the new replica"
        );
        let share = moved.len() as f64 / all.len() as f64;
        assert!((0.18..0.32).contains(&share), "moved {share}");
    }

    #[test]
    fn a_pod_serves_its_ordinal_below_the_replica_count_and_no_other() {
        assert_eq!(
            Shard::of_pod(Some("iam-warden-2"), Some("3")),
            Ok(Shard { index: 2, count: 3 })
        );
        assert_eq!(
            Shard::of_pod(Some("iam-warden-7d9f-x"), None),
            Ok(Shard::ALL),
            "a Deployment pod"
        );
        assert_eq!(Shard::of_pod(None, None), Ok(Shard::ALL));
        for (hostname, replicas) in [
            ("iam-warden-5", "3"),
            ("iam-warden-3", "3"),
            ("iam-warden-x", "3"),
            ("iam-warden-0", "0"),
        ] {
            assert!(
                Shard::of_pod(Some(hostname), Some(replicas)).is_err(),
                "{hostname} of {replicas}"
            );
        }
    }
}
