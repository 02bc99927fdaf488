//! Configuration, waivers, allowlists, the encryption file and SARIF, through the binary.

use crate::util::run;
use serde_json::Value;

const PRIVILEGED: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: node-agent\n  namespace: monitoring\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers:\n      - name: agent\n        image: registry.example.com/agent:1.0\n        securityContext: {privileged: true}\n";

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn a_config_waiver_marks_the_finding_and_stops_it_failing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        &dir,
        "config.yaml",
        "waivers:\n- check: KH-POD-101\n  namespace: monitor*\n  name: node-agent\n  reason: needs the host's devices\n  owner: platform\n  expires: 2999-12-31\n",
    );
    let out = run(
        &[
            "scan",
            "-f",
            "-",
            "--config",
            &cfg,
            "--area",
            "pod-security",
            "-o",
            "json",
            "--fail-on",
            "critical",
        ],
        Some(PRIVILEGED),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "KH-POD-101")
        .unwrap();
    assert_eq!(f["waived"]["reason"], "needs the host's devices");
    assert_eq!(f["waived"]["expires"], "2999-12-31");
    assert_eq!(v["areas"][0]["waived"], 1);
}

#[test]
fn an_expired_waiver_no_longer_waives() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        &dir,
        "c.yaml",
        "waivers:\n- {check: KH-POD-101, reason: temporary, expires: 2001-01-01}\n",
    );
    let out = run(
        &[
            "scan",
            "-f",
            "-",
            "--config",
            &cfg,
            "--area",
            "pod-security",
            "-o",
            "json",
            "--fail-on",
            "critical",
        ],
        Some(PRIVILEGED),
    );
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f.get("waived").is_none())
    );
}

#[test]
fn an_annotation_waives_one_check_on_one_object() {
    let text = PRIVILEGED.replace(
        "  namespace: monitoring\n",
        "  namespace: monitoring\n  annotations:\n    kubeharden.io/waive: \"KH-POD-101: reviewed by security, ticket SEC-12; KH-IMG-002: internal registry\"\n",
    );
    let out = run(&["scan", "-f", "-", "-o", "json"], Some(&text));
    let v = json(&out);
    let waived: Vec<(&str, &str)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| Some((f["check"].as_str()?, f["waived"]["reason"].as_str()?)))
        .collect();
    assert_eq!(
        waived,
        vec![
            ("KH-POD-101", "reviewed by security, ticket SEC-12"),
            ("KH-IMG-002", "internal registry")
        ]
    );
}

#[test]
fn excluded_namespaces_are_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        &dir,
        "c.yaml",
        "excludedNamespaces: [monitoring]\nseverity:\n  KH-IMG-002: high\n",
    );
    let out = run(
        &["scan", "-f", "-", "--config", &cfg, "-o", "json"],
        Some(PRIVILEGED),
    );
    let v = json(&out);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["object"]["namespace"] != "monitoring")
    );
}

#[test]
fn severity_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(&dir, "c.yaml", "severity:\n  KH-IMG-002: high\n");
    let out = run(
        &[
            "scan", "-f", "-", "--config", &cfg, "-o", "json", "--area", "images",
        ],
        Some(PRIVILEGED),
    );
    let v = json(&out);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "KH-IMG-002")
        .unwrap();
    assert_eq!(f["severity"], "high");
}

#[test]
fn a_broken_config_is_one_line_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        &dir,
        "c.yaml",
        "allowedRegistries:\n  - a/\nwaivers:\n  - check: KH-POD-101\n    resaon: typo\n",
    );
    let out = run(&["scan", "--demo", "--config", &cfg], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&cfg) && err.contains("line 5"), "{err}");
}

#[test]
fn allowed_registries_flag_judges_images() {
    let out = run(
        &[
            "scan",
            "-f",
            "-",
            "--allowed-registries",
            "registry.example.com/team/",
            "-o",
            "json",
            "--area",
            "images",
        ],
        Some(PRIVILEGED),
    );
    let v = json(&out);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "KH-IMG-004")
        .unwrap();
    assert_eq!(f["path"], "spec.template.spec.containers[0].image");
}

#[test]
fn encryption_config_is_judged_and_its_keys_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let enc = write(
        &dir,
        "enc.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n  - aescbc:\n      keys:\n      - name: key1\n        secret: c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcy1sb25nIQ==\n",
    );
    for format in ["json", "table", "sarif"] {
        let out = run(
            &["scan", "--demo", "--encryption-config", &enc, "-o", format],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("KH-ENC-002"), "{format}: {text}");
        assert!(
            !text.contains("c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcy1sb25nIQ"),
            "{format} leaks the key"
        );
    }
}

#[test]
fn sarif_has_rules_results_and_file_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "ds.yaml", &format!("# header\n---\n{PRIVILEGED}"));
    let out = run(&["scan", "-f", &file, "-o", "sarif"], None);
    let v = json(&out);
    assert_eq!(v["version"], "2.1.0");
    let run0 = &v["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), kubeharden::checks::CHECKS.len());
    let result = run0["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "KH-POD-101")
        .unwrap();
    assert_eq!(result["level"], "error");
    let rule = &rules[result["ruleIndex"].as_u64().unwrap() as usize];
    assert_eq!(rule["id"], "KH-POD-101");
    let loc = &result["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], file.as_str());
    assert_eq!(loc["region"]["startLine"], 3);
}
