//! SARIF 2.1.0 for code-scanning UIs: one rule per check, one result per finding, with file
//! and line locations for objects read from disk.

use super::Scan;
use crate::checks::{CHECKS, CheckDef};
use crate::model::Severity;
use serde_json::{Value, json};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning reads this CVSS-like number to rank security results.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn rule(def: &CheckDef) -> Value {
    let mut help = format!("{}\n\nReferences:\n", def.rationale);
    for r in def.references {
        help.push_str(&format!("- {r}\n"));
    }
    json!({
        "id": def.id,
        "name": def.title,
        "shortDescription": {"text": def.title},
        "fullDescription": {"text": def.rationale},
        "help": {"text": help},
        "defaultConfiguration": {"level": level(def.severity)},
        "properties": {
            "security-severity": security_severity(def.severity),
            "tags": ["security", "kubernetes", def.area.key()],
        }
    })
}

/// The SARIF log, pretty-printed, with a final newline.
pub fn sarif(scan: &Scan) -> String {
    let rules: Vec<Value> = CHECKS.iter().map(rule).collect();
    let results: Vec<Value> = scan
        .results
        .findings
        .iter()
        .map(|f| {
            let index = CHECKS.iter().position(|c| c.id == f.check).unwrap_or(0);
            let mut location = json!({
                "logicalLocations": [{
                    "fullyQualifiedName": f.object.to_string(),
                    "kind": "resource",
                }]
            });
            if let (Some((file, line)), Some(obj)) =
                (f.origin.file_line(), location.as_object_mut())
            {
                obj.insert(
                    "physicalLocation".into(),
                    json!({
                        "artifactLocation": {"uri": file},
                        "region": {"startLine": line},
                    }),
                );
            }
            let mut result = json!({
                "ruleId": f.check,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": {"text": format!("{}: {}", f.object, f.message)},
                "locations": [location],
                "partialFingerprints": {"kubeharden/v1": f.key()},
                "properties": {"path": f.path, "severity": f.severity.key()},
            });
            if let (Some(w), Some(obj)) = (&f.waived, result.as_object_mut()) {
                obj.insert(
                    "suppressions".into(),
                    json!([{"kind": "external", "status": "accepted", "justification": w.reason}]),
                );
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubeharden",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/kubeharden/kubeharden",
                "rules": rules,
            }},
            "results": results,
        }]
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}
