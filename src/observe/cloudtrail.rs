//! Reads trails, each from its home region, since CloudTrail answers for a
//! trail only there.

use aws_sdk_cloudtrail::types::{AdvancedEventSelector, EventSelector, ReadWriteType};

use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::state::Trail;

pub(crate) async fn trails(clients: &Clients) -> Result<Vec<Trail>, Error> {
    let described = clients
        .cloudtrail
        .describe_trails()
        .send()
        .await
        .during("cloudtrail:DescribeTrails")?;
    let reads = described.trail_list().iter().filter_map(|trail| {
        let name = trail.name()?.to_owned();
        let arn = trail.trail_arn().unwrap_or(&name).to_owned();
        let home_region = trail.home_region().unwrap_or_default().to_owned();
        let multi_region = trail.is_multi_region_trail().unwrap_or(false);
        Some(async move {
            let client = clients.cloudtrail_in(&home_region);
            let (status, selectors) = tokio::try_join!(
                async {
                    client
                        .get_trail_status()
                        .name(&arn)
                        .send()
                        .await
                        .during("cloudtrail:GetTrailStatus")
                },
                async {
                    client
                        .get_event_selectors()
                        .trail_name(&arn)
                        .send()
                        .await
                        .during("cloudtrail:GetEventSelectors")
                },
            )?;
            Ok::<_, Error>(Trail {
                name,
                arn,
                home_region,
                multi_region,
                logging: status.is_logging().unwrap_or(false),
                management_events: logs_iam_writes(
                    &selectors.event_selectors().iter().map(basic).collect::<Vec<_>>(),
                    &selectors
                        .advanced_event_selectors()
                        .iter()
                        .map(advanced)
                        .collect::<Vec<_>>(),
                ),
            })
        })
    });
    futures::future::try_join_all(reads).await
}

/// A basic selector, reduced to what decides whether it logs IAM's writes.
struct Basic {
    management: bool,
    read_only: bool,
}

/// One field condition of an advanced selector; the fields of a selector all hold at once.
struct Field {
    name: String,
    equals: Vec<String>,
    not_equals: Vec<String>,
}

fn basic(selector: &EventSelector) -> Basic {
    Basic {
        management: selector.include_management_events() != Some(false),
        read_only: matches!(selector.read_write_type(), Some(ReadWriteType::ReadOnly)),
    }
}

fn advanced(selector: &AdvancedEventSelector) -> Vec<Field> {
    selector
        .field_selectors()
        .iter()
        .map(|f| Field {
            name: f.field().to_owned(),
            equals: f.equals().to_vec(),
            not_equals: f.not_equals().to_vec(),
        })
        .collect()
}

/// Whether the selectors log IAM's management write events. A trail with no
/// selectors at all logs management events: that is AWS's default.
fn logs_iam_writes(basic: &[Basic], advanced: &[Vec<Field>]) -> bool {
    if basic.is_empty() && advanced.is_empty() {
        return true;
    }
    let admits = |fields: &[Field], name: &str, value: &str| {
        fields.iter().filter(|f| f.name == name).all(|f| {
            (f.equals.is_empty() || f.equals.iter().any(|v| v == value)) && !f.not_equals.iter().any(|v| v == value)
        })
    };
    basic.iter().any(|s| s.management && !s.read_only)
        || advanced.iter().any(|fields| {
            fields
                .iter()
                .any(|f| f.name == "eventCategory" && f.equals.iter().any(|v| v == "Management"))
                && admits(fields, "eventCategory", "Management")
                && admits(fields, "readOnly", "false")
                && admits(fields, "eventSource", "iam.amazonaws.com")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, equals: &[&str], not_equals: &[&str]) -> Field {
        Field {
            name: name.to_owned(),
            equals: equals.iter().map(|s| s.to_string()).collect(),
            not_equals: not_equals.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn basic_selectors_need_management_events_that_include_writes() {
        let selector = |management, read_only| Basic { management, read_only };
        assert!(logs_iam_writes(&[], &[]), "AWS's default logs management events");
        assert!(logs_iam_writes(&[selector(true, false)], &[]));
        assert!(!logs_iam_writes(&[selector(true, true)], &[]), "read-only");
        assert!(!logs_iam_writes(&[selector(false, false)], &[]), "data events only");
    }

    #[test]
    fn advanced_selectors_honour_read_only_and_event_source() {
        let management = || field("eventCategory", &["Management"], &[]);
        assert!(logs_iam_writes(&[], &[vec![management()]]));
        assert!(logs_iam_writes(
            &[],
            &[vec![management(), field("readOnly", &["false"], &[])]]
        ));
        assert!(!logs_iam_writes(
            &[],
            &[vec![management(), field("readOnly", &["true"], &[])]]
        ));
        assert!(!logs_iam_writes(
            &[],
            &[vec![management(), field("readOnly", &[], &["false"])]]
        ));
        assert!(!logs_iam_writes(
            &[],
            &[vec![management(), field("eventSource", &[], &["iam.amazonaws.com"])]]
        ));
        assert!(logs_iam_writes(
            &[],
            &[vec![management(), field("eventSource", &[], &["kms.amazonaws.com"])]]
        ));
        assert!(!logs_iam_writes(&[], &[vec![field("eventCategory", &["Data"], &[])]]));
    }
}
