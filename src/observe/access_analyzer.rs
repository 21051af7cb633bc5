//! IAM Access Analyzer (CIS 2.19): whether each region rule `cis` names has
//! an active analyzer. Analyzers are regional, so each region is one call.

use aws_sdk_accessanalyzer::types::AnalyzerStatus;

use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::policy::{AnalyzerRegions, Policy};
use crate::state::AnalyzerRegion;

/// `None` when no rule asks.
pub(super) async fn analyzers(clients: &Clients, policy: &Policy) -> Result<Option<Vec<AnalyzerRegion>>, Error> {
    let regions = match policy.cis.as_ref().map(|c| &c.access_analyzer) {
        None | Some(AnalyzerRegions::Off) => return Ok(None),
        Some(AnalyzerRegions::Own) => vec![clients.region()],
        Some(AnalyzerRegions::Listed(regions)) => regions.clone(),
    };
    let reads = regions.into_iter().map(|region| async move {
        let analyzers: Vec<_> = clients
            .access_analyzer_in(&region)
            .list_analyzers()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .during("access-analyzer:ListAnalyzers")?;
        let active = analyzers.iter().any(|a| *a.status() == AnalyzerStatus::Active);
        Ok::<_, Error>(AnalyzerRegion { region, active })
    });
    Ok(Some(futures::future::try_join_all(reads).await?))
}
