//! Allowed OIDC issuers. A pattern is a host and path in which `*` stands for
//! exactly one DNS label or one path segment, so `oidc.eks.*.amazonaws.com/id/*`
//! admits every EKS cluster issuer but not `oidc.eks.evil.com.amazonaws.com/...`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPattern {
    text: String,
    labels: Vec<String>,
    segments: Vec<String>,
}

impl IssuerPattern {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let (labels, segments) = split(text);
        let bad = |why: &str| Err(format!("invalid issuer pattern `{text}`: {why}"));
        if labels.iter().any(String::is_empty) || segments.iter().any(String::is_empty) {
            return bad("empty DNS label or path segment");
        }
        if text.contains("://") && !text.to_ascii_lowercase().starts_with("https://") {
            return bad("OIDC issuers use https:// or no scheme at all");
        }
        let partial_wildcard = |part: &String| part.contains('*') && part != "*";
        if labels.iter().chain(&segments).any(partial_wildcard) {
            return bad("`*` must stand alone for a whole DNS label or path segment");
        }
        if labels
            .iter()
            .any(|l| l.contains(|c: char| c.is_whitespace() || c == ':'))
        {
            return bad("the host may hold only DNS labels");
        }
        Ok(Self {
            text: text.to_owned(),
            labels,
            segments,
        })
    }

    /// `url` is a provider URL as IAM returns it, with or without `https://`.
    pub fn matches(&self, url: &str) -> bool {
        let (labels, segments) = split(url);
        fn same(pattern: &[String], actual: &[String]) -> bool {
            pattern.len() == actual.len()
                && pattern
                    .iter()
                    .zip(actual)
                    .all(|(p, a)| (p == "*" && !a.is_empty()) || p == a)
        }
        same(&self.labels, &labels) && same(&self.segments, &segments)
    }
}

/// Host labels are compared without case, path segments exactly, as URLs are.
fn split(url: &str) -> (Vec<String>, Vec<String>) {
    let url = url
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map_or(url, |_| &url[8..]);
    let url = url.trim_end_matches('/');
    let (host, path) = url.split_once('/').unwrap_or((url, ""));
    let labels = host.split('.').map(str::to_ascii_lowercase).collect();
    let segments = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').map(str::to_owned).collect()
    };
    (labels, segments)
}

impl fmt::Display for IssuerPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for IssuerPattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, url: &str) -> bool {
        IssuerPattern::parse(pattern).unwrap().matches(url)
    }

    #[test]
    fn exact_host_matches_with_or_without_scheme_and_case() {
        assert!(matches(
            "token.actions.githubusercontent.com",
            "token.actions.githubusercontent.com"
        ));
        assert!(matches(
            "token.actions.githubusercontent.com",
            "https://Token.Actions.GithubUserContent.com/"
        ));
        assert!(matches(
            "https://token.actions.githubusercontent.com",
            "token.actions.githubusercontent.com"
        ));
        assert!(!matches(
            "token.actions.githubusercontent.com",
            "evil.actions.githubusercontent.com"
        ));
    }

    #[test]
    fn star_is_one_label_or_one_segment() {
        let eks = "oidc.eks.*.amazonaws.com/id/*";
        assert!(matches(eks, "oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123"));
        assert!(!matches(eks, "oidc.eks.evil.com.amazonaws.com/id/ABC"), "two labels");
        assert!(
            !matches(eks, "oidc.eks.us-east-1.amazonaws.com/id/ABC/extra"),
            "two segments"
        );
        assert!(!matches(eks, "oidc.eks.us-east-1.amazonaws.com/id"), "missing segment");
        assert!(
            !matches(eks, "oidc.eks.us-east-1.amazonaws.com/ID/ABC"),
            "paths keep case"
        );
        assert!(!matches("*.example.com", "example.com"));
    }

    #[test]
    fn rejects_malformed_patterns() {
        for bad in [
            "oidc.*eks.amazonaws.com",
            "a..b",
            "http://x.com",
            "x.com//id",
            "ho st.com",
            "",
        ] {
            let error = IssuerPattern::parse(bad).unwrap_err();
            assert!(error.starts_with("invalid issuer pattern"), "{bad}: {error}");
        }
    }
}
