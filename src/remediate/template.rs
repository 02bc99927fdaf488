//! Remediation templates: the YAML files in `remediations/`, embedded in the binary.
//!
//! A template names the checks it fixes, its risk, whether it is safe to apply unattended,
//! and one action: `set` (a value at the finding's path), `set-in-pod-spec` (fields merged
//! into the workload's pod spec), `object`/`objects` (whole or partial objects), `remove`
//! (a guarded JSON patch removal strategy) or `file` (a file for a control-plane host).
//! Strings may hold `${param}` placeholders; a string that is exactly one placeholder takes
//! the parameter's value whatever its type (a list, a map), so data never passes through
//! YAML text and cannot inject structure. Every parameter a template uses is documented in
//! its header comment (a unit test enforces it).

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The embedded template files, by name (the file stem).
pub static FILES: &[(&str, &str)] = &[
    (
        "KH-POD-001",
        include_str!("../../remediations/KH-POD-001.yaml"),
    ),
    (
        "KH-POD-101",
        include_str!("../../remediations/KH-POD-101.yaml"),
    ),
    (
        "KH-POD-102",
        include_str!("../../remediations/KH-POD-102.yaml"),
    ),
    (
        "KH-POD-103",
        include_str!("../../remediations/KH-POD-103.yaml"),
    ),
    (
        "KH-POD-104",
        include_str!("../../remediations/KH-POD-104.yaml"),
    ),
    (
        "KH-POD-105",
        include_str!("../../remediations/KH-POD-105.yaml"),
    ),
    (
        "KH-POD-106",
        include_str!("../../remediations/KH-POD-106.yaml"),
    ),
    (
        "KH-POD-107",
        include_str!("../../remediations/KH-POD-107.yaml"),
    ),
    (
        "KH-POD-108",
        include_str!("../../remediations/KH-POD-108.yaml"),
    ),
    (
        "KH-POD-108-annotation",
        include_str!("../../remediations/KH-POD-108-annotation.yaml"),
    ),
    (
        "KH-POD-109",
        include_str!("../../remediations/KH-POD-109.yaml"),
    ),
    (
        "KH-POD-110",
        include_str!("../../remediations/KH-POD-110.yaml"),
    ),
    (
        "KH-POD-111",
        include_str!("../../remediations/KH-POD-111.yaml"),
    ),
    (
        "KH-POD-112",
        include_str!("../../remediations/KH-POD-112.yaml"),
    ),
    (
        "KH-POD-201",
        include_str!("../../remediations/KH-POD-201.yaml"),
    ),
    (
        "KH-POD-202",
        include_str!("../../remediations/KH-POD-202.yaml"),
    ),
    (
        "KH-POD-203",
        include_str!("../../remediations/KH-POD-203.yaml"),
    ),
    (
        "KH-POD-204",
        include_str!("../../remediations/KH-POD-204.yaml"),
    ),
    (
        "KH-POD-204-add",
        include_str!("../../remediations/KH-POD-204-add.yaml"),
    ),
    (
        "KH-POD-205",
        include_str!("../../remediations/KH-POD-205.yaml"),
    ),
    (
        "KH-POD-301",
        include_str!("../../remediations/KH-POD-301.yaml"),
    ),
    (
        "KH-POD-302",
        include_str!("../../remediations/KH-POD-302.yaml"),
    ),
    (
        "KH-IMG-001",
        include_str!("../../remediations/KH-IMG-001.yaml"),
    ),
    (
        "KH-IMG-003",
        include_str!("../../remediations/KH-IMG-003.yaml"),
    ),
    (
        "KH-IMG-005-vap",
        include_str!("../../remediations/KH-IMG-005-vap.yaml"),
    ),
    (
        "KH-IMG-005-kyverno",
        include_str!("../../remediations/KH-IMG-005-kyverno.yaml"),
    ),
    (
        "KH-IMG-005-gatekeeper",
        include_str!("../../remediations/KH-IMG-005-gatekeeper.yaml"),
    ),
    (
        "KH-IMG-006",
        include_str!("../../remediations/KH-IMG-006.yaml"),
    ),
    (
        "KH-IMG-009",
        include_str!("../../remediations/KH-IMG-009.yaml"),
    ),
    (
        "KH-NET-003",
        include_str!("../../remediations/KH-NET-003.yaml"),
    ),
    (
        "KH-NET-004",
        include_str!("../../remediations/KH-NET-004.yaml"),
    ),
    (
        "KH-NET-007-open-egress",
        include_str!("../../remediations/KH-NET-007-open-egress.yaml"),
    ),
    (
        "KH-NET-009",
        include_str!("../../remediations/KH-NET-009.yaml"),
    ),
    (
        "KH-RBAC-001",
        include_str!("../../remediations/KH-RBAC-001.yaml"),
    ),
    (
        "KH-RBAC-002",
        include_str!("../../remediations/KH-RBAC-002.yaml"),
    ),
    (
        "KH-RBAC-003",
        include_str!("../../remediations/KH-RBAC-003.yaml"),
    ),
    (
        "KH-RBAC-016",
        include_str!("../../remediations/KH-RBAC-016.yaml"),
    ),
    (
        "KH-RBAC-017",
        include_str!("../../remediations/KH-RBAC-017.yaml"),
    ),
    (
        "KH-ENC-001",
        include_str!("../../remediations/KH-ENC-001.yaml"),
    ),
];

/// A removal strategy, for fixes that must take something away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Removal {
    /// The field at the finding's path.
    Field,
    /// The list item that contains the finding's path (`sysctls[2].name` removes `sysctls[2]`).
    ListItem,
    /// The volume at the finding's path and every volumeMount that uses it.
    Volume,
    /// The binding subject at the finding's path.
    Subject,
}

/// A file for a control-plane host (not an API object).
#[derive(Debug, Clone, Deserialize)]
pub struct HostFile {
    /// File name inside the bundle's `host/` folder.
    pub name: String,
    /// The content, with placeholders.
    pub content: String,
}

/// One remediation template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Template {
    /// The checks whose findings it fixes.
    pub fixes: Vec<String>,
    /// One line: what it does.
    pub title: String,
    /// What can go wrong, in one or two lines.
    pub risk: String,
    /// Whether it is safe to apply without a human reading it first.
    pub unattended: bool,
    /// Whether a human must review it before it is applied (rewrites of intent).
    #[serde(default)]
    pub review: bool,
    /// Further advice for the reviewer.
    #[serde(default)]
    pub notes: Option<String>,
    /// Used only for findings whose path contains this text.
    #[serde(default, rename = "match")]
    pub matches: Option<String>,
    /// Checks whose findings this remediation knowingly introduces (a staged rollout).
    #[serde(default)]
    pub introduces: Vec<String>,
    /// Whether the findings it addresses stay open until a reviewer tightens it (a policy
    /// created in Warn/Audit mode).
    #[serde(default)]
    pub staged: bool,
    /// A value to set at the finding's path.
    #[serde(default)]
    pub set: Option<Value>,
    /// Fields to merge into the workload's pod spec.
    #[serde(default)]
    pub set_in_pod_spec: Option<Value>,
    /// Objects to create or (partially) apply.
    #[serde(default)]
    pub objects: Vec<Value>,
    /// A removal.
    #[serde(default)]
    pub remove: Option<Removal>,
    /// A host file.
    #[serde(default)]
    pub file: Option<HostFile>,
    /// Rewrite the wildcard rules of the role a binding refers to as explicit rules.
    #[serde(default)]
    pub explicit_rules: bool,
}

/// A template with its name and file text.
#[derive(Debug)]
pub struct Named {
    /// The file stem, for example `KH-POD-201`.
    pub name: &'static str,
    /// The file as embedded (header comment included).
    pub text: &'static str,
    /// The parsed template.
    pub template: Template,
}

/// Every template, parsed once. A template that does not parse is a build defect that the
/// unit tests catch; at run time it is left out with the reason kept in [`errors`].
pub fn all() -> &'static [Named] {
    &loaded().0
}

/// Templates that failed to parse (empty in a correct build).
pub fn errors() -> &'static [String] {
    &loaded().1
}

fn loaded() -> &'static (Vec<Named>, Vec<String>) {
    static CELL: OnceLock<(Vec<Named>, Vec<String>)> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for (name, text) in FILES {
            match serde_yaml::from_str::<Template>(text) {
                Ok(template) => ok.push(Named {
                    name,
                    text,
                    template,
                }),
                Err(e) => errors.push(format!("remediations/{name}.yaml: {e}")),
            }
        }
        (ok, errors)
    })
}

/// The template for a finding of `check` at `path`: the one whose `match` the path
/// contains, else the one without `match`.
pub fn for_finding(check: &str, path: &str) -> Option<&'static Named> {
    let of_check = || {
        all()
            .iter()
            .filter(move |t| t.template.fixes.iter().any(|c| c == check))
    };
    of_check()
        .find(|t| {
            t.template
                .matches
                .as_deref()
                .is_some_and(|m| path.contains(m))
        })
        .or_else(|| of_check().find(|t| t.template.matches.is_none()))
}

/// A template by name.
pub fn named(name: &str) -> Option<&'static Named> {
    all().iter().find(|t| t.name == name)
}

/// Parameters for rendering.
pub type Params = BTreeMap<&'static str, Value>;

/// Renders placeholders in a tree. Fails on a placeholder without a parameter.
pub fn render(v: &Value, params: &Params) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => render_str(s, params)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render(i, params))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match render_str(k, params)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, render(v, params)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Renders one string: exactly one placeholder takes the parameter's value; otherwise
/// placeholders are replaced by the parameters' text.
pub fn render_str(s: &str, params: &Params) -> Result<Value, String> {
    if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        if !name.contains(['$', '{', '}']) {
            return params
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no parameter {name:?}"));
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(rest.get(..start).unwrap_or(""));
        let after = rest.get(start + 2..).unwrap_or("");
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {s:?}"))?;
        let name = after.get(..end).unwrap_or("");
        match params.get(name) {
            Some(Value::String(v)) => out.push_str(v),
            Some(other) => out.push_str(&other.to_string()),
            None => return Err(format!("no parameter {name:?}")),
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// The placeholders a template text uses.
pub fn placeholders(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = rest.get(start + 2..).unwrap_or("");
        let Some(end) = after.find('}') else { break };
        out.insert(after.get(..end).unwrap_or("").to_string());
        rest = after.get(end + 1..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_template_parses_names_known_checks_and_documents_its_parameters() {
        assert_eq!(errors(), &[] as &[String]);
        assert_eq!(all().len(), FILES.len());
        for t in all() {
            assert!(!t.template.fixes.is_empty(), "{}", t.name);
            for c in &t.template.fixes {
                assert!(
                    crate::checks::find(c).is_some(),
                    "{}: unknown check {c}",
                    t.name
                );
            }
            let actions = [
                t.template.set.is_some(),
                t.template.set_in_pod_spec.is_some(),
                !t.template.objects.is_empty(),
                t.template.remove.is_some(),
                t.template.file.is_some(),
                t.template.explicit_rules,
            ];
            // One action; a removal may come with the objects that replace what it removes.
            let n = actions.iter().filter(|a| **a).count();
            let remove_and_objects = n == 2 && actions[2] && actions[3];
            assert!(
                n == 1 || remove_and_objects,
                "{}: exactly one action",
                t.name
            );
            let header: String = t
                .text
                .lines()
                .take_while(|l| l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            let body: String = t
                .text
                .lines()
                .skip_while(|l| l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            for p in placeholders(&body) {
                assert!(
                    header.contains(&format!("${{{p}}}")),
                    "{}: parameter {p} is not documented in the header",
                    t.name
                );
            }
            assert!(
                t.template.risk.len() > 10 && t.template.risk.lines().count() <= 2,
                "{}: risk in one or two lines",
                t.name
            );
        }
    }

    #[test]
    fn every_fixable_check_has_a_template_and_every_template_a_fixable_check() {
        for c in crate::checks::CHECKS {
            let has = all()
                .iter()
                .any(|t| t.template.fixes.iter().any(|f| f == c.id));
            // Encryption is fixed by hand (a host file and steps): templates, never fixable.
            if c.area == crate::model::Area::Encryption {
                assert!(!c.fixable, "{}", c.id);
                continue;
            }
            assert_eq!(c.fixable, has, "{}: fixable and templates disagree", c.id);
        }
    }

    #[test]
    fn whole_placeholders_keep_their_type_and_text_cannot_inject() {
        let mut p = Params::new();
        p.insert("list", json!(["a", "b"]));
        p.insert("name", json!("x\n  evil: true"));
        let v = render(
            &json!({"items": "${list}", "label": "ns-${name}", "n": 1}),
            &p,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"items": ["a", "b"], "label": "ns-x\n  evil: true", "n": 1})
        );
        assert!(render(&json!("${missing}"), &p).is_err());
    }
}
