//! Remediations: the rendered patch and diff of every remediation on the fail fixtures of
//! its check (golden), each proved by merging it locally and re-running the checks; the
//! bundle on disk; `kubectl kustomize` on it; `scan --with-bundle`; Secrets never leak.

use crate::checks::{fixture_files, fixture_settings, scan_fixture_with_inventory};
use crate::util::{fixtures, run};
use kubeharden::checks::{self, CHECKS};
use kubeharden::model::{Finding, Inventory};
use kubeharden::remediate::{self, Form, Options};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

fn opts() -> Options {
    Options {
        today: Some(jiff::civil::date(2026, 11, 28)),
        ..Options::default()
    }
}

/// Renders a plan as a reviewer reads it: per change, its form, target, checks, risk,
/// body and the diff of the object.
fn render(inv: &Inventory, plan: &remediate::Plan) -> String {
    let mut s = String::new();
    for r in &plan.remediations {
        let _ = writeln!(
            s,
            "== {} {} fixes {} (unattended: {}, review: {})",
            r.form.key(),
            r.target,
            r.checks.join(","),
            r.unattended,
            r.review
        );
        for risk in &r.risks {
            let _ = writeln!(s, "risk: {risk}");
        }
        match &r.body {
            serde_json::Value::String(text) => s.push_str(text),
            body => s.push_str(&serde_yaml::to_string(body).unwrap()),
        }
        let _ = writeln!(s, "-- diff");
        s.push_str(&remediate::preview(inv, r).diff);
    }
    for u in &plan.unfixed {
        let _ = writeln!(s, "== not fixed {}: {}", u.finding, u.reason);
    }
    s
}

/// Re-runs the checks with the plan merged in; returns the findings after.
fn after(inv: &Inventory, plan: &remediate::Plan, settings: &checks::Settings) -> Vec<Finding> {
    let mut objects = inv.objects().to_vec();
    for r in &plan.remediations {
        remediate::apply_local(&mut objects, r)
            .unwrap_or_else(|e| panic!("{} does not merge: {e}", r.target));
    }
    checks::run(&Inventory::new(objects), &[], settings).findings
}

#[test]
fn every_remediation_renders_and_clears_its_findings_on_the_fail_fixtures() {
    let mut fixed_somewhere = BTreeSet::new();
    let templated = |id: &str| {
        remediate::template::all()
            .iter()
            .any(|t| t.template.fixes.iter().any(|c| c == id))
    };
    for check in CHECKS.iter().filter(|c| c.fixable || templated(c.id)) {
        let mut golden = String::new();
        for file in fixture_files(check.id, "fail-") {
            let (mut settings, encryption) = fixture_settings(check.id);
            if encryption {
                // EncryptionConfiguration fixtures: the remediation is a host file.
                settings.encryption = None;
            }
            let (inv, scan) = scan_fixture_with_inventory(check.id, &file);
            let mine: Vec<Finding> = scan
                .results
                .findings
                .iter()
                .filter(|f| f.check == check.id)
                .cloned()
                .collect();
            let plan = remediate::plan(&inv, &mine, &opts());
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            let _ = writeln!(golden, "#### {name}");
            golden.push_str(&render(&inv, &plan));
            if encryption || check.id.starts_with("KH-ENC-") {
                continue;
            }
            // Not fixed (with a reason), or staged (Warn/Audit first): expected to remain.
            let mut unfixed: BTreeSet<&str> =
                plan.unfixed.iter().map(|u| u.finding.as_str()).collect();
            for r in plan.remediations.iter().filter(|r| r.staged) {
                unfixed.extend(r.findings.iter().map(String::as_str));
            }
            let after = after(&inv, &plan, &settings);
            let still: BTreeSet<String> = after
                .iter()
                .filter(|f| f.check == check.id)
                .map(|f| f.key())
                .collect();
            for f in mine.iter().filter(|f| f.fixable) {
                if plan
                    .remediations
                    .iter()
                    .any(|r| r.findings.contains(&f.key()))
                {
                    fixed_somewhere.insert(check.id);
                }
                if unfixed.contains(f.key().as_str()) {
                    continue;
                }
                assert!(
                    !still.contains(&f.key()),
                    "{name}: {} still fires after its remediation:\n{}",
                    f.key(),
                    render(&inv, &plan)
                );
            }
            // No finding the source did not have, but those a remediation declares.
            let before: BTreeSet<(String, String)> = scan
                .results
                .findings
                .iter()
                .map(|f| (f.check.to_string(), f.object.to_string()))
                .collect();
            let declared: BTreeSet<String> = plan
                .remediations
                .iter()
                .flat_map(|r| r.introduces.iter().cloned())
                .collect();
            for f in &after {
                let key = (f.check.to_string(), f.object.to_string());
                assert!(
                    before.contains(&key) || declared.contains(f.check),
                    "{name}: the remediation of {} introduces {} on {}: {}",
                    check.id,
                    f.check,
                    f.object,
                    f.message
                );
            }
        }
        insta::assert_snapshot!(format!("remediation_{}", check.id), golden);
    }
    for check in CHECKS.iter().filter(|c| c.fixable) {
        assert!(
            fixed_somewhere.contains(check.id),
            "no fail fixture of {} gets a remediation",
            check.id
        );
    }
}

#[test]
fn merge_follows_the_schema_list_semantics() {
    use kubeharden::diff::merge;
    use serde_json::json;
    let live = json!({"spec": {
        "containers": [{"name": "a", "image": "x:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}],
            "args": ["--one", "--two"]}],
        "volumes": [{"name": "data", "emptyDir": {}}]}});
    let patch = json!({"spec": {
        "containers": [{"name": "a",
            "env": [{"name": "B", "value": "3"}],
            "ports": [{"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"}],
            "args": ["--three"]}],
        "volumes": [{"name": "tmp", "emptyDir": {}}]}});
    let merged = merge(&live, &patch);
    let c = &merged["spec"]["containers"][0];
    // env by name: B changed, A kept.
    assert_eq!(
        c["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])
    );
    // ports by containerPort and protocol (TCP is the default): the TCP one gets its name.
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"}])
    );
    // args is atomic: replaced.
    assert_eq!(c["args"], json!(["--three"]));
    assert_eq!(c["image"], "x:1");
    // volumes by name: appended.
    assert_eq!(
        merged["spec"]["volumes"],
        json!([{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}])
    );
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fix_writes_a_bundle_that_kustomize_builds_and_that_clears_the_demo_findings() {
    let dir = tmp();
    let out = dir.path().join("bundle");
    let o = run(&["fix", "--demo", "--out", out.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = files_under(&out);
    for f in [
        "README.md",
        "kustomization.yaml",
        "findings.json",
        "manifest.json",
    ] {
        assert!(files.contains(&f.to_string()), "{f} missing: {files:?}");
    }
    assert!(files.contains(&"host/encryption-config.yaml".to_string()));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let patches = manifest["patches"].as_array().unwrap();
    assert!(patches.len() > 20, "{}", patches.len());
    let name_re = |f: &str| {
        let base = f.rsplit('/').next().unwrap();
        let (num, rest) = base.split_at(3);
        num.chars().all(|c| c.is_ascii_digit())
            && rest.starts_with('-')
            && rest.ends_with(".yaml")
            && rest.contains("-KH-")
    };
    let mut resources = Vec::new();
    for (i, p) in patches.iter().enumerate() {
        assert_eq!(p["number"], i + 1);
        let file = p["file"].as_str().unwrap();
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        // The checksum is of the file as written.
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(p["sha256"], hex, "{file}");
        match p["form"].as_str().unwrap() {
            "server-side-apply" | "new-object" => {
                assert!(name_re(file) && !file.contains('/'), "{file}");
                assert!(text.starts_with("# kubeharden remediation"), "{file}");
                assert!(text.contains("# risk:"), "{file}");
                resources.push(file.to_string());
            }
            "json-patch" => {
                assert!(file.starts_with("patches/") && name_re(file), "{file}");
                let ops: serde_json::Value = serde_yaml::from_str(&text).unwrap();
                let ops = ops.as_array().unwrap();
                // Guarded: every patch starts with a test.
                assert_eq!(ops[0]["op"], "test", "{file}");
            }
            "host-file" => assert!(file.starts_with("host/"), "{file}"),
            "recreate" => {
                // A whole object, deleted and created again: not part of the kustomization.
                assert!(file.starts_with("recreate/") && name_re(file), "{file}");
                assert!(
                    text.contains("# apply:      kubectl replace --force -f recreate/"),
                    "{file}"
                );
            }
            other => panic!("unknown form {other}"),
        }
    }
    let kustomization: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(out.join("kustomization.yaml")).unwrap())
            .unwrap();
    let listed: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, resources);
    let findings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    assert!(findings.as_array().unwrap().len() >= 80);
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    for section in [
        "## How to apply",
        "## How to roll back",
        "## Changes",
        "```diff",
    ] {
        assert!(readme.contains(section), "README lacks {section}");
    }

    // kubectl builds it (kubectl is on every machine that runs the suite).
    let k = std::process::Command::new("kubectl")
        .args(["kustomize", out.to_str().unwrap()])
        .output()
        .expect("kubectl must be installed to run the test suite");
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
    let built = String::from_utf8_lossy(&k.stdout);
    assert_eq!(
        built.matches("\nkind: ").count() + usize::from(built.starts_with("kind: ")),
        resources.len()
    );

    // The offline proof: every fixable finding of the demo is cleared, nothing unexpected.
    let o = run(
        &[
            "scan",
            "--demo",
            "--with-bundle",
            out.to_str().unwrap(),
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let proof: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &proof["proof"];
    assert!(p["fixable"].as_u64().unwrap() >= 80, "{p}");
    assert!(p["percent"].as_f64().unwrap() >= 95.0, "{p}");
    assert_eq!(p["failed_changes"], serde_json::json!([]), "{p}");
    assert!(
        p["introduced"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["note"].is_string()),
        "{p}"
    );

    // An existing non-empty folder is refused, and --force replaces it.
    let o = run(&["fix", "--demo", "--out", out.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not empty") && err.contains("--force"),
        "{err}"
    );
    std::fs::write(out.join("mine.txt"), "keep?").unwrap();
    let o = run(
        &["fix", "--demo", "--out", out.to_str().unwrap(), "--force"],
        None,
    );
    assert!(o.status.success());
    assert!(!out.join("mine.txt").exists());
    assert!(out.join("manifest.json").exists());
    // No temporary folders are left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n != "bundle")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn fix_stdout_prints_every_change_as_one_yaml_stream() {
    let o = run(&["fix", "--demo", "--stdout", "--area", "network"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert!(docs.len() >= 8, "{}", docs.len());
    assert!(docs.iter().all(|d| d["kind"] == "NetworkPolicy"), "{text}");
    assert!(text.contains("name: kubeharden-default-deny-egress"));
}

#[test]
fn fix_selects_by_check_and_severity_and_rejects_unknown_checks() {
    let o = run(
        &["fix", "--demo", "--stdout", "--check", "KH-POD-201"],
        None,
    );
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("allowPrivilegeEscalation: false"));
    assert!(!text.contains("NetworkPolicy"));
    let o = run(&["fix", "--demo", "--stdout", "--check", "KH-NOPE-1"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown check"));
    let o = run(
        &["fix", "--demo", "--stdout", "--min-severity", "critical"],
        None,
    );
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("allowPrivilegeEscalation"), "{text}");
}

#[test]
fn policy_engines_and_open_egress_change_the_objects() {
    let o = run(
        &[
            "fix",
            "--demo",
            "--stdout",
            "--check",
            "KH-IMG-005,KH-NET-004",
            "--policy-engine",
            "kyverno",
            "--open-egress",
            "payments",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    // The demo's own registry policy is switched to Deny only with KH-IMG-006 selected, so
    // KH-IMG-005 alone gets a new Kyverno policy in Audit.
    assert!(text.contains("kind: ClusterPolicy"), "{text}");
    assert!(text.contains("failureAction: Audit"), "{text}");
    assert!(text.contains("name: kubeharden-allow-egress-except-metadata"));
    assert!(text.contains("169.254.169.254/32"));
    let o = run(
        &[
            "fix",
            "--demo",
            "--stdout",
            "--check",
            "KH-IMG-005",
            "--policy-engine",
            "gatekeeper",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("kind: ConstraintTemplate") && text.contains("kind: K8sAllowedRepos"));
    assert!(text.contains("enforcementAction: warn"));
}

#[test]
fn no_secret_value_ever_reaches_a_bundle() {
    let src = tmp();
    let secret = "S3cr3t-Value-Of-Canary-42";
    let b64 = "UzNjcjN0LVZhbHVlLU9mLUNhbmFyeS00Mg==";
    let manifests = format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"apiVersion":"v1","kind":"Secret","stringData":{{"password":"{secret}"}}}}'
type: Opaque
data:
  password: {b64}
stringData:
  token: {secret}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:latest
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef: {{name: db, key: password}}
        volumeMounts:
        - {{name: creds, mountPath: /creds}}
      volumes:
      - name: creds
        secret:
          secretName: db
"#
    );
    std::fs::write(src.path().join("app.yaml"), manifests).unwrap();
    let out = tmp();
    let bundle = out.path().join("b");
    let o = run(
        &[
            "fix",
            "-f",
            src.path().to_str().unwrap(),
            "--out",
            bundle.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = files_under(&bundle);
    assert!(files.len() > 4, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(bundle.join(f)).unwrap();
        assert!(
            !text.contains(secret) && !text.contains(b64),
            "{f} leaks the Secret"
        );
        assert!(!text.contains("kind: Secret"), "{f} targets a Secret");
    }
    for stream in [&o.stdout, &o.stderr] {
        let s = String::from_utf8_lossy(stream);
        assert!(!s.contains(secret) && !s.contains(b64));
    }
}

#[test]
fn with_bundle_reports_a_patch_that_no_longer_applies() {
    let dir = tmp();
    let out = dir.path().join("b");
    let o = run(
        &[
            "fix",
            "--demo",
            "--check",
            "KH-POD-101",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success());
    // Someone edited the bundle's guard: the test operation no longer matches the source.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let patch = manifest["patches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["form"] == "json-patch")
        .unwrap()["file"]
        .as_str()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(out.join(&patch)).unwrap();
    std::fs::write(
        out.join(&patch),
        text.replacen("value: true", "value: 7", 1),
    )
    .unwrap();
    let o = run(
        &["scan", "--demo", "--with-bundle", out.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("change failed") && s.contains(&patch), "{s}");
    assert!(s.contains("1 files edited since written"), "{s}");
}

#[test]
fn forms_are_chosen_by_what_the_object_holds() {
    let (inv, scan) = crate::util::scan(kubeharden::source::demo::load());
    let plan = remediate::plan(&inv, &scan.results.findings, &opts());
    let forms: BTreeSet<Form> = plan.remediations.iter().map(|r| r.form).collect();
    assert_eq!(
        forms,
        [
            Form::ServerSideApply,
            Form::NewObject,
            Form::JsonPatch,
            Form::HostFile,
            Form::Recreate
        ]
        .into_iter()
        .collect()
    );
    // Nothing in kube-system is rewritten, and no remediation touches a Secret.
    for r in &plan.remediations {
        assert_ne!(
            r.target.namespace.as_deref(),
            Some("kube-system"),
            "{}",
            r.target
        );
        assert_ne!(r.target.kind, "Secret");
        assert!(!r.risks.is_empty() && !r.titles.is_empty(), "{}", r.target);
    }
    let _ = fixtures();
}

#[test]
fn a_real_install_manifest_is_fixed_without_new_findings() {
    // ingress-nginx v1.5.2's published manifest (tests/fixtures/real).
    let dir = tmp();
    let out = dir.path().join("b");
    let real = fixtures().join("real");
    let o = run(
        &[
            "fix",
            "-f",
            real.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(
        &[
            "scan",
            "-f",
            real.to_str().unwrap(),
            "--with-bundle",
            out.to_str().unwrap(),
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let proof: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &proof["proof"];
    assert!(p["fixable"].as_u64().unwrap() >= 10, "{p}");
    assert_eq!(p["cleared"], p["fixable"], "{p}");
    assert_eq!(p["introduced"], serde_json::json!([]), "{p}");
    // The controller keeps NET_BIND_SERVICE (restricted allows it) and its UID; privilege
    // escalation is switched off by a guarded patch, not by a conflicting apply.
    let patch = std::fs::read_dir(out.join("patches"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(patch.contains(
        "path: /spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation"
    ));
    assert!(!patch.contains("NET_BIND_SERVICE"));
    let k = std::process::Command::new("kubectl")
        .args(["kustomize", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
}
