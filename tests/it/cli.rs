//! The real binary: output formats, exit codes, one-line errors.

use crate::util::{fixtures, run};
use serde_json::Value;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn scan_demo_json_follows_the_documented_schema() {
    let out = run(&["scan", "--demo", "-o", "json"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["tool"]["name"], "kubeharden");
    assert_eq!(v["source"]["type"], "demo");
    assert!(v["skipped"].as_array().unwrap().is_empty());
    let areas: Vec<&str> = v["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["area"].as_str().unwrap())
        .collect();
    assert_eq!(
        areas,
        vec![
            "api-access",
            "encryption",
            "pod-security",
            "images",
            "network"
        ]
    );
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        for key in [
            "check", "area", "severity", "title", "message", "object", "path", "fixable",
        ] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
        assert!(f.get("file").is_none(), "demo objects are not files: {f}");
        assert!(f["object"]["apiVersion"].is_string() && f["object"]["kind"].is_string());
    }
}

#[test]
fn scan_files_reports_file_and_document() {
    let dir = fixtures().join("checks/KH-POD-101");
    let out = run(
        &[
            "scan",
            "-f",
            dir.to_str().unwrap(),
            "-o",
            "json",
            "--area",
            "pod-security",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "KH-POD-101")
        .unwrap();
    let file = f["file"].as_str().unwrap();
    assert!(
        file.starts_with(dir.to_str().unwrap()) && file.ends_with(".yaml"),
        "{file}"
    );
    assert!(f["document"].is_u64());
    let areas = v["areas"].as_array().unwrap();
    assert_eq!(areas.len(), 1);
}

#[test]
fn exit_codes_follow_fail_on() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers:\n  - {name: c, image: \"nginx:1.27\"}\n";
    // Only a low finding (no digest) and the info "cannot verify": fails at low, passes at medium.
    let low = run(&["scan", "-f", "-", "--area", "images"], Some(text));
    assert_eq!(low.status.code(), Some(1), "{}", stdout(&low));
    let medium = run(
        &["scan", "-f", "-", "--area", "images", "--fail-on", "medium"],
        Some(text),
    );
    assert_eq!(medium.status.code(), Some(0), "{}", stdout(&medium));
    let enc = run(&["scan", "-f", "-", "--area", "encryption"], Some(text));
    assert_eq!(
        enc.status.code(),
        Some(0),
        "info findings never fail a scan: {}",
        stdout(&enc)
    );
    assert!(stdout(&enc).contains("KH-ENC-006"));
}

#[test]
fn broken_documents_warn_on_stderr_and_strict_makes_them_errors() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [\n";
    let out = run(&["scan", "-f", "-", "--fail-on", "critical"], Some(text));
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("kubeharden: warning: -: document 1 (line "),
        "{err}"
    );
    let strict = run(&["scan", "-f", "-", "--strict"], Some(text));
    assert_eq!(strict.status.code(), Some(2));
    let err = stderr(&strict);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--strict"), "{err}");
}

#[test]
fn errors_are_one_line_with_exit_code_2() {
    let missing = run(&["scan", "-f", "/no/such/dir"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        stderr(&missing),
        "kubeharden: /no/such/dir: no such file or directory\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {token: s3cr3t-t0ken}\ncontexts: [\n").unwrap();
    let broken = run(
        &["scan", "--kubeconfig", kubeconfig.to_str().unwrap()],
        None,
    );
    assert_eq!(broken.status.code(), Some(2));
    let err = stderr(&broken);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(kubeconfig.to_str().unwrap()), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");

    let usage = run(&["scan", "--area", "dns"], None);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn table_groups_by_area_with_scores() {
    let out = run(&["scan", "--demo"], None);
    let text = stdout(&out);
    for title in [
        "API ACCESS",
        "DATA AT REST",
        "POD SECURITY",
        "IMAGE POLICIES",
        "NETWORK POLICIES",
    ] {
        assert!(text.contains(title), "{title} missing:\n{text}");
    }
    assert!(text.contains("score "), "{text}");
    assert!(text.contains("Source: demo cluster"), "{text}");
}

#[test]
fn checks_lists_the_registry() {
    let out = run(&["checks"], None);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for c in kubeharden::checks::CHECKS {
        assert!(text.contains(c.id), "{} missing", c.id);
    }
    let json = run(&["checks", "-o", "json"], None);
    let v: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        kubeharden::checks::CHECKS.len()
    );
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], None);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("kubeharden"));
    }
}

#[test]
fn tui_without_a_terminal_points_to_scan() {
    let out = run(&["--demo"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("kubeharden scan"), "{}", stderr(&out));
}
