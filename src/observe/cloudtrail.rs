//! Reads trails, each from its home region, since CloudTrail answers for a
//! trail only there.

use aws_sdk_cloudtrail::types::ReadWriteType;

use super::Trail;
use crate::aws::{Call, Clients};
use crate::error::Error;

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
            let basic = selectors.event_selectors();
            let advanced = selectors.advanced_event_selectors();
            // A trail with no selectors at all logs management events: that is AWS's default.
            let management_events = (basic.is_empty() && advanced.is_empty())
                || basic.iter().any(|s| {
                    s.include_management_events() != Some(false)
                        && !matches!(s.read_write_type(), Some(ReadWriteType::ReadOnly))
                })
                || advanced.iter().any(|s| {
                    s.field_selectors()
                        .iter()
                        .any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"))
                });
            Ok::<_, Error>(Trail {
                name,
                arn,
                home_region,
                multi_region,
                logging: status.is_logging().unwrap_or(false),
                management_events,
            })
        })
    });
    futures::future::try_join_all(reads).await
}
