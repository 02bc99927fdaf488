//! Label selectors as Kubernetes evaluates them (`matchLabels` and `matchExpressions`).

use serde_json::Value;
use std::collections::BTreeMap;

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
    /// A selector that can never match (an unknown operator, per the API's validation).
    never: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Selector {
    /// Parses a `LabelSelector` tree. `None`, `null` and `{}` select everything.
    pub fn parse(v: Option<&Value>) -> Selector {
        let mut sel = Selector::default();
        let Some(v) = v else { return sel };
        if let Some(labels) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in labels {
                match val.as_str() {
                    Some(s) => sel
                        .requirements
                        .push(Requirement::In(k.clone(), vec![s.to_string()])),
                    None => sel.never = true,
                }
            }
        }
        if let Some(exprs) = v.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let values = super::object::string_list(e.get("values"));
                match e.get("operator").and_then(Value::as_str) {
                    Some("In") => sel.requirements.push(Requirement::In(key, values)),
                    Some("NotIn") => sel.requirements.push(Requirement::NotIn(key, values)),
                    Some("Exists") => sel.requirements.push(Requirement::Exists(key)),
                    Some("DoesNotExist") => sel.requirements.push(Requirement::DoesNotExist(key)),
                    _ => sel.never = true,
                }
            }
        }
        sel
    }

    /// True when the selector selects everything (`{}`).
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty() && !self.never
    }

    /// Whether a set of labels matches.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        if self.never {
            return false;
        }
        self.requirements.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_selects_everything() {
        assert!(Selector::parse(Some(&json!({}))).matches(&labels(&[])));
        assert!(Selector::parse(None).is_everything());
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let s = Selector::parse(Some(&json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]})));
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "api")])));
    }

    #[test]
    fn unknown_operator_matches_nothing() {
        let s = Selector::parse(Some(
            &json!({"matchExpressions": [{"key": "a", "operator": "Gt"}]}),
        ));
        assert!(!s.matches(&labels(&[("a", "1")])));
    }
}
