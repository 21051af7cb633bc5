//! IAM policy documents as AWS returns them: URL-encoded or raw JSON, with a
//! single value wherever a list is allowed. Parsing never panics: a document
//! that is not JSON, or not of the shape IAM defines, is an error naming
//! where it went wrong, which the planner reports as a finding of its own.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// The statement's position in the document, from 0.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    /// Principal type (`AWS`, `Federated`, `Service`, ...) to its values; `*` alone is `{"*": ["*"]}`.
    pub principal: BTreeMap<String, Vec<String>>,
    pub action: Vec<String>,
    pub not_action: Vec<String>,
    pub resource: Vec<String>,
    pub not_resource: Vec<String>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// One condition key under one operator, such as `StringLike` on
/// `token.actions.githubusercontent.com:sub`, with every value it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

impl Statement {
    pub fn principals(&self, kind: &str) -> &[String] {
        self.principal.get(kind).map_or(&[], Vec::as_slice)
    }
}

/// The document text, percent-decoded unless it is already raw JSON: IAM
/// returns some documents URL-encoded and others raw, depending on the call.
pub fn decode(raw: &str) -> String {
    if raw.trim_start().starts_with('{') {
        return raw.to_owned();
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// A document as JSON, decoded: two documents are the same when these are
/// equal, whatever their spacing or the order of their keys.
pub fn json(raw: &str) -> Option<Value> {
    serde_json::from_str(&decode(raw)).ok()
}

/// Decodes and parses a document.
pub fn parse(raw: &str) -> Result<Document, String> {
    let value: Value = serde_json::from_str(&decode(raw)).map_err(|e| format!("not JSON: {e}"))?;
    let statements = match value.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err("Statement is neither an object nor a list".to_owned()),
        None if value.is_object() => return Err("the document has no Statement".to_owned()),
        None => return Err("the document is not a JSON object".to_owned()),
    };
    let statements = statements
        .into_iter()
        .enumerate()
        .map(|(index, value)| statement(index, value).map_err(|e| format!("Statement[{index}]: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Document { statements })
}

fn statement(index: usize, value: &Value) -> Result<Statement, String> {
    let Value::Object(fields) = value else {
        return Err("not an object".to_owned());
    };
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err("Effect must be \"Allow\" or \"Deny\"".to_owned()),
    };
    let list = |name: &str| strings(fields.get(name)).map_err(|e| format!("{name}: {e}"));
    Ok(Statement {
        index,
        sid: fields.get("Sid").and_then(Value::as_str).map(str::to_owned),
        effect,
        principal: principal(fields.get("Principal")).map_err(|e| format!("Principal: {e}"))?,
        action: list("Action")?,
        not_action: list("NotAction")?,
        resource: list("Resource")?,
        not_resource: list("NotResource")?,
        conditions: conditions(fields.get("Condition")).map_err(|e| format!("Condition: {e}"))?,
    })
}

/// A string or a list of strings; numbers and booleans are read as their text,
/// as IAM reads them in condition values.
fn strings(value: Option<&Value>) -> Result<Vec<String>, String> {
    let one = |value: &Value| match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err("expected a string or a list of strings".to_owned()),
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(value) => one(value).map(|text| vec![text]),
    }
}

fn principal(value: Option<&Value>) -> Result<BTreeMap<String, Vec<String>>, String> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::String(any)) if any == "*" => Ok(BTreeMap::from([("*".to_owned(), vec!["*".to_owned()])])),
        Some(Value::Object(kinds)) => kinds
            .iter()
            .map(|(kind, values)| Ok((kind.clone(), strings(Some(values)).map_err(|e| format!("{kind}: {e}"))?)))
            .collect(),
        Some(_) => Err("expected \"*\" or an object".to_owned()),
    }
}

fn conditions(value: Option<&Value>) -> Result<Vec<Condition>, String> {
    let operators = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(operators)) => operators,
        Some(_) => return Err("expected an object of operators".to_owned()),
    };
    let mut found = Vec::new();
    for (operator, keys) in operators {
        let Value::Object(keys) = keys else {
            return Err(format!("{operator}: expected an object of condition keys"));
        };
        for (key, values) in keys {
            found.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values: strings(Some(values)).map_err(|e| format!("{operator}.{key}: {e}"))?,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITHUB: &str = r#"{
      "Version": "2012-10-17",
      "Statement": {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
          "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
          "StringLike": {"token.actions.githubusercontent.com:sub": ["repo:my-org/*", "repo:other/x:*"]}
        }
      }
    }"#;

    #[test]
    fn reads_single_values_as_lists_and_every_condition_value() {
        let document = parse(GITHUB).unwrap();
        let statement = &document.statements[0];
        assert_eq!(statement.effect, Effect::Allow);
        assert_eq!(statement.action, ["sts:AssumeRoleWithWebIdentity"]);
        assert_eq!(
            statement.principals("Federated"),
            ["arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"]
        );
        assert_eq!(statement.conditions.len(), 2);
        assert_eq!(statement.conditions[1].values, ["repo:my-org/*", "repo:other/x:*"]);
    }

    #[test]
    fn decodes_url_encoded_documents_and_keeps_raw_ones() {
        let encoded: String =
            percent_encoding::utf8_percent_encode(GITHUB, percent_encoding::NON_ALPHANUMERIC).collect();
        assert_eq!(parse(&encoded), parse(GITHUB));
        let plus = r#"{"Statement": [{"Effect": "Allow", "Action": "a+b", "Resource": "*"}]}"#;
        assert_eq!(
            parse(plus).unwrap().statements[0].action,
            ["a+b"],
            "raw text is not decoded"
        );
    }

    #[test]
    fn a_principal_of_star_and_service_principals() {
        let document = parse(
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
                              {"Sid": "Ec2", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#,
        )
        .unwrap();
        assert_eq!(document.statements[0].principals("*"), ["*"]);
        assert_eq!(document.statements[1].principals("Service"), ["ec2.amazonaws.com"]);
        assert_eq!(document.statements[1].sid.as_deref(), Some("Ec2"));
    }

    #[test]
    fn wrong_shapes_are_errors_that_say_where() {
        let cases = [
            ("not json", "not JSON"),
            ("[]", "not a JSON object"),
            ("{}", "no Statement"),
            (r#"{"Statement": 5}"#, "neither an object nor a list"),
            (r#"{"Statement": [7]}"#, "Statement[0]: not an object"),
            (r#"{"Statement": [{"Effect": "Maybe"}]}"#, "Effect must be"),
            (
                r#"{"Statement": [{"Effect": "Allow", "Action": [{}]}]}"#,
                "Statement[0]: Action: expected",
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "Condition": {"StringLike": ["x"]}}]}"#,
                "Condition: StringLike: expected an object",
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "Principal": 3}]}"#,
                "Principal: expected",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn deep_nesting_and_huge_documents_are_errors_or_values_never_crashes() {
        let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
        assert!(parse(&deep).is_err());
        let many: Vec<String> = (0..8000).map(|n| format!("\"repo:org/r{n}:*\"")).collect();
        let large = format!(
            r#"{{"Statement": [{{"Effect": "Allow", "Condition": {{"StringLike": {{"k:sub": [{}]}}}}}}]}}"#,
            many.join(",")
        );
        assert!(large.len() > 100_000);
        assert_eq!(parse(&large).unwrap().statements[0].conditions[0].values.len(), 8000);
    }
}
