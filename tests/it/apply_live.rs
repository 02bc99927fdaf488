//! `apply` and `rollback` against the fake API server, seeded with the demo cluster.

use crate::util::run;
// ---------------------------------------------------------------------------------------------
// Against the fake API server, seeded with the demo cluster.

use crate::fake_api::{FAKE_TOKEN, FakeApi, Fault, Recorded};
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn kh(kubeconfig: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(&all, None);
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !r.stdout.contains(FAKE_TOKEN) && !r.stderr.contains(FAKE_TOKEN),
        "the token leaked"
    );
    r
}

/// The fake, seeded with every object of the demo cluster.
fn demo_server() -> FakeApi {
    let server = FakeApi::start();
    for o in kubeharden::source::demo::load().objects {
        server.add(o.raw);
    }
    server
}

fn fixable(scan: &Value) -> Vec<String> {
    scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fixable"] == true)
        .map(|f| {
            format!(
                "{} {} {}",
                f["check"].as_str().unwrap(),
                f["object"],
                f["path"].as_str().unwrap()
            )
        })
        .collect()
}

/// A dry run: `dryRun=All` in the query, or (DELETE) in the DeleteOptions body.
fn is_dry_run(r: &Recorded) -> bool {
    r.param("dryRun") == Some("All")
        || serde_json::from_slice::<Value>(&r.body)
            .is_ok_and(|b| b.get("dryRun") == Some(&serde_json::json!(["All"])))
}

/// Every real write is preceded by the same request with dryRun=All.
fn assert_dry_run_first(writes: &[Recorded]) {
    for (i, w) in writes.iter().enumerate().filter(|(_, w)| !is_dry_run(w)) {
        let earlier = writes.get(..i).unwrap_or(&[]);
        assert!(
            earlier.iter().any(|d| is_dry_run(d)
                && d.method == w.method
                && d.path == w.path
                // A DELETE carries its dry run in the body; anything else the same body.
                && (w.method == "DELETE" || d.body == w.body)
                && d.content_type() == w.content_type()),
            "{} {} was written without the same dry run first",
            w.method,
            w.path
        );
    }
}

/// `method (dry run|write) → count`, for the record of a run.
fn tally(log: &[Recorded]) -> String {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for r in log {
        let kind = if r.method == "GET" {
            "read"
        } else if is_dry_run(r) {
            "dry run"
        } else {
            "write"
        };
        *counts
            .entry(format!("{} {kind} {}", r.method, r.status))
            .or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bundle(server: &FakeApi, kubeconfig: &Path) -> PathBuf {
    let out = server.dir().join("bundle");
    let r = kh(kubeconfig, &["fix", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    out
}

#[test]
// The request tally of the run is printed for the record (`-- --nocapture` shows it).
#[allow(clippy::print_stderr)]
fn fix_apply_scan_rollback_against_a_seeded_server() {
    let server = demo_server();
    let kubeconfig = server.kubeconfig("demo");
    let before = kh(&kubeconfig, &["scan", "-o", "json"]);
    let before: Value = serde_json::from_str(&before.stdout).unwrap();
    let fixable_before = fixable(&before);
    assert!(fixable_before.len() > 50, "{}", fixable_before.len());
    let b = bundle(&server, &kubeconfig);
    let deployment_before = server
        .object("deployments", Some("payments"), "api")
        .unwrap();

    // --dry-run writes nothing.
    let start = server.writes().len();
    let r = kh(&kubeconfig, &["apply", "--dry-run", b.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(server.writes()[start..].iter().all(is_dry_run));
    assert!(r.stderr.contains("dry run"), "{}", r.stderr);

    // Off a terminal and without --yes: dry runs only, exit 3.
    let start = server.writes().len();
    let r = kh(&kubeconfig, &["apply", b.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("not confirmed"), "{}", r.stderr);
    assert!(server.writes()[start..].iter().all(is_dry_run));
    assert_eq!(
        server
            .object("deployments", Some("payments"), "api")
            .unwrap(),
        deployment_before
    );

    // --yes applies everything, each write after its dry run.
    let start = server.writes().len();
    let log_start = server.log().len();
    let r = kh(
        &kubeconfig,
        &["apply", "--yes", "--allow-recreate", b.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let writes = server.writes()[start..].to_vec();
    eprintln!("apply --yes: {}", tally(&server.log()[log_start..]));
    assert!(writes.iter().any(|w| !is_dry_run(w)));
    assert_dry_run_first(&writes);
    for w in &writes {
        if w.method == "PATCH" {
            assert_eq!(w.param("fieldManager"), Some("kubeharden"), "{}", w.path);
        }
        if w.content_type() == Some("application/apply-patch+yaml") {
            assert_eq!(w.method, "PATCH");
        }
        assert!(
            !w.path.contains("/secrets"),
            "a Secret was written: {}",
            w.path
        );
    }
    let log = std::fs::read_to_string(b.join("apply-log.jsonl")).unwrap();
    assert!(log.lines().count() >= 30);
    assert!(b.join("backup").read_dir().unwrap().count() > 10);

    // The fixable findings are gone from the cluster.
    let after = kh(&kubeconfig, &["scan", "-o", "json"]);
    let after: Value = serde_json::from_str(&after.stdout).unwrap();
    let left: Vec<&String> = fixable(&after)
        .iter()
        .filter(|f| fixable_before.contains(f))
        .map(|f| fixable_before.iter().find(|b| *b == f).unwrap())
        .collect();
    let cleared = fixable_before.len() - left.len();
    eprintln!(
        "scan after apply: {cleared} of {} fixable findings cleared",
        fixable_before.len()
    );
    assert!(
        cleared * 100 >= fixable_before.len() * 95,
        "only {cleared} of {} cleared; left: {left:#?}",
        fixable_before.len()
    );

    // A second run resumes: nothing is written again.
    let start = server.writes().len();
    let r = kh(&kubeconfig, &["apply", "--yes", b.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        server.writes()[start..].is_empty(),
        "{:?}",
        server.writes()[start..]
            .iter()
            .map(|w| format!("{} {}", w.method, w.path))
            .collect::<Vec<_>>()
    );
    assert!(r.stderr.contains("AlreadyApplied"), "{}", r.stderr);

    // Rollback brings every changed object back.
    let start = server.writes().len();
    let log_start = server.log().len();
    let r = kh(
        &kubeconfig,
        &["rollback", "--yes", "--allow-recreate", b.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_dry_run_first(&server.writes()[start..]);
    eprintln!("rollback --yes: {}", tally(&server.log()[log_start..]));
    let restored = server
        .object("deployments", Some("payments"), "api")
        .unwrap();
    assert_eq!(
        restored["spec"]["template"]["spec"],
        deployment_before["spec"]["template"]["spec"]
    );
    assert!(
        server
            .object(
                "networkpolicies",
                Some("default"),
                "kubeharden-default-deny-ingress"
            )
            .is_none(),
        "objects the bundle created are deleted"
    );
    let rescan = kh(&kubeconfig, &["scan", "-o", "json"]);
    let rescan: Value = serde_json::from_str(&rescan.stdout).unwrap();
    let mut again = fixable(&rescan);
    let mut orig = fixable_before.clone();
    again.sort();
    orig.sort();
    assert_eq!(again, orig, "the rollback restores every finding");
}

#[test]
fn forbidden_and_conflicting_changes_are_reported_and_the_rest_goes_through() {
    let server = demo_server();
    let kubeconfig = server.kubeconfig("demo");
    let b = bundle(&server, &kubeconfig);
    server.fault(
        "networkpolicies",
        Fault::WriteStatus {
            code: 403,
            reason: "Forbidden".into(),
            message:
                "networkpolicies.networking.k8s.io is forbidden: User \"ci\" cannot create resource"
                    .into(),
            times: usize::MAX,
        },
    );
    server.fault(
        "serviceaccounts",
        Fault::WriteStatus {
            code: 409,
            reason: "Conflict".into(),
            message: "Apply failed with 1 conflict: conflict with \"helm\" using v1: .automountServiceAccountToken".into(),
            times: usize::MAX,
        },
    );
    let r = kh(&kubeconfig, &["apply", "--yes", b.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("forbidden: kubeharden needs `create` on networkpolicies.networking.k8s.io"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force-conflicts"), "{}", r.stderr);
    // The workloads were still fixed.
    let api = server
        .object("deployments", Some("payments"), "api")
        .unwrap();
    assert_eq!(
        api["spec"]["template"]["spec"]["initContainers"][0]["securityContext"]["privileged"],
        false
    );
    let log = std::fs::read_to_string(b.join("apply-log.jsonl")).unwrap();
    assert!(log.contains("\"outcome\":\"failed\"") && log.contains("\"outcome\":\"applied\""));
}

#[test]
fn transient_errors_are_retried_for_dry_runs_and_idempotent_writes() {
    let server = demo_server();
    let kubeconfig = server.kubeconfig("demo");
    let b = bundle(&server, &kubeconfig);
    server.fault(
        "namespaces",
        Fault::WriteStatus {
            code: 429,
            reason: "TooManyRequests".into(),
            message: "slow down".into(),
            times: 2,
        },
    );
    server.fault(
        "namespaces",
        Fault::Warning("would violate PodSecurity \"restricted:v1.35\": ci/runner".into()),
    );
    let r = kh(
        &kubeconfig,
        &["apply", "--yes", "--dry-run", b.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: would violate PodSecurity"),
        "{}",
        r.stderr
    );
    let ns_writes: Vec<Recorded> = server
        .writes()
        .into_iter()
        .filter(|w| w.path.starts_with("/api/v1/namespaces/") && w.path.matches('/').count() == 4)
        .collect();
    assert!(ns_writes.iter().filter(|w| w.status == 429).count() == 2);
}

#[test]
fn vanished_targets_and_invalid_changes_are_answered_and_the_rest_goes_through() {
    let server = demo_server();
    let kubeconfig = server.kubeconfig("demo");
    let b = bundle(&server, &kubeconfig);
    // Deleted behind our back after the bundle was written.
    server
        .remove("cronjobs", Some("payments"), "settlement")
        .unwrap();
    server.fault(
        "daemonsets",
        Fault::WriteStatus {
            code: 422,
            reason: "Invalid".into(),
            message: "DaemonSet.apps \"node-exporter\" is invalid: spec.template.spec.hostNetwork: Forbidden".into(),
            times: usize::MAX,
        },
    );
    let start = server.writes().len();
    let r = kh(&kubeconfig, &["apply", "--yes", b.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("CronJob payments/settlement no longer exists"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("invalid: DaemonSet.apps"), "{}", r.stderr);
    assert!(r.stderr.contains("the change was:"), "{}", r.stderr);
    // Nothing was written to the vanished CronJob, not even a dry run.
    assert!(
        server.writes()[start..]
            .iter()
            .all(|w| !w.path.ends_with("/cronjobs/settlement"))
    );
    assert!(
        server
            .object("cronjobs", Some("payments"), "settlement")
            .is_none()
    );
    // The rest went through.
    let api = server
        .object("deployments", Some("payments"), "api")
        .unwrap();
    assert_eq!(
        api["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"],
        true
    );
}

#[test]
fn only_selects_the_changes_named() {
    let server = demo_server();
    let kubeconfig = server.kubeconfig("demo");
    let b = bundle(&server, &kubeconfig);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("manifest.json")).unwrap()).unwrap();
    let first_policy = manifest["patches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["target"]["kind"] == "NetworkPolicy")
        .unwrap();
    let n = first_policy["number"].as_u64().unwrap().to_string();
    let start = server.writes().len();
    let r = kh(
        &kubeconfig,
        &["apply", "--yes", "--only", &n, b.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let writes = server.writes()[start..].to_vec();
    assert_eq!(writes.len(), 2, "one dry run and one create");
    assert!(writes.iter().all(|w| w.method == "POST"));
    assert_dry_run_first(&writes);
    let name = first_policy["target"]["name"].as_str().unwrap();
    let ns = first_policy["target"]["namespace"].as_str().unwrap();
    assert!(server.object("networkpolicies", Some(ns), name).is_some());
}

/// Answers every confirmation with one decision, and counts the questions.
struct Answer(kubeharden::apply::Decision, usize);

impl kubeharden::apply::Confirm for Answer {
    fn confirm(
        &mut self,
        _: usize,
        _: &kubeharden::model::ObjRef,
        _: &str,
    ) -> kubeharden::apply::Decision {
        self.1 += 1;
        self.0
    }
}

fn client(server: &FakeApi) -> kube::Client {
    let mut config = kube::Config::new(server.url().parse().unwrap());
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

#[test]
fn a_refused_or_quit_confirmation_writes_nothing() {
    use kubeharden::apply::{self, Decision, Outcome, RunOptions};
    let server = demo_server();
    let kubeconfig = server.kubeconfig("demo");
    let b = bundle(&server, &kubeconfig);
    let bundle = kubeharden::bundle::read(&b).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for decision in [Decision::Skip, Decision::Quit] {
        let start = server.writes().len();
        let mut answer = Answer(decision, 0);
        let mut out = Vec::new();
        let reports = rt
            .block_on(async {
                apply::apply(
                    client(&server),
                    &bundle,
                    &RunOptions::default(),
                    &mut answer,
                    std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
                    &mut out,
                )
                .await
            })
            .unwrap();
        assert!(
            server.writes()[start..].iter().all(is_dry_run),
            "{decision:?}"
        );
        assert!(
            reports
                .iter()
                .all(|r| matches!(r.outcome, Outcome::Skipped | Outcome::Manual))
        );
        // Skip asks about every change; quit asks once and stops.
        match decision {
            Decision::Skip => assert!(answer.1 > 10),
            _ => assert_eq!(answer.1, 1),
        }
    }
    // Ctrl-C before the run: nothing at all is sent.
    let start = server.writes().len();
    let mut out = Vec::new();
    let reports = rt
        .block_on(async {
            apply::apply(
                client(&server),
                &bundle,
                &RunOptions::default(),
                &mut apply::AssumeYes,
                std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
                &mut out,
            )
            .await
        })
        .unwrap();
    assert_eq!(server.writes().len(), start);
    assert!(
        reports
            .iter()
            .all(|r| r.outcome == Outcome::Skipped || r.outcome == Outcome::Manual)
    );
}
