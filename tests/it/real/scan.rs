//! A live scan of the demo cluster loaded into a real API server.

use super::{Cluster, demo};
use crate::util::run;
use serde_json::Value;
use std::collections::BTreeSet;

/// `scan -o json` as `kubeconfig`'s user; the parsed report and stderr.
pub fn scan_json(kubeconfig: &std::path::Path, extra: &[&str]) -> (Value, String) {
    let mut args = vec![
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "scan",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = run(&args, None);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "scan failed: {stderr}"
    );
    (serde_json::from_slice(&o.stdout).unwrap(), stderr)
}

/// `check object path` of every finding: what a user compares between two reports.
pub fn finding_keys(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let o = &f["object"];
            format!(
                "{} {}/{}/{} {}",
                f["check"].as_str().unwrap(),
                o["kind"].as_str().unwrap_or(""),
                o["namespace"].as_str().unwrap_or(""),
                o["name"].as_str().unwrap_or(""),
                f["path"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// A server of its own, holding the demo cluster.
pub fn demo_cluster() -> Option<Cluster> {
    let c = super::dedicated()?;
    demo::load(&c);
    Some(c)
}

#[test]
#[allow(clippy::print_stderr)]
fn the_demo_in_a_real_server_scans_as_the_demo_does() {
    let Some(c) = demo_cluster() else { return };
    let me = c.admin();
    let (live, stderr) = scan_json(&me.kubeconfig, &[]);
    let demo = run(&["scan", "--demo", "-o", "json"], None);
    let demo: Value = serde_json::from_slice(&demo.stdout).unwrap();
    let (live_keys, demo_keys) = (finding_keys(&live), finding_keys(&demo));
    let only_live: Vec<_> = live_keys.difference(&demo_keys).collect();
    let only_demo: Vec<_> = demo_keys.difference(&live_keys).collect();
    eprintln!(
        "live scan of the demo in kube-apiserver: {} objects, {} findings; demo: {} findings",
        live["objects"],
        live_keys.len(),
        demo_keys.len()
    );
    assert!(
        only_live.is_empty() && only_demo.is_empty(),
        "only live: {only_live:#?}\nonly demo: {only_demo:#?}\nstderr: {stderr}"
    );
    assert_eq!(live["skipped"], serde_json::json!([]), "{stderr}");
}

#[test]
fn a_live_scan_pages_through_lists_and_reads_secrets_as_metadata_only() {
    let c = crate::real_cluster!();
    let ns = c.namespace("kh-pages", &[]);
    let n: usize = 1_100;
    let items: Vec<Value> = (0..n)
        .map(|i| {
            serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": format!("sa-{i}"), "namespace": ns}})
        })
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    c.kubectl_ok(&["create", "-f", "-"], Some(&list.to_string()));
    let canary = "kh-canary-value-9f3a";
    c.kubectl_ok(
        &[
            "-n",
            &ns,
            "create",
            "secret",
            "generic",
            "creds",
            &format!("--from-literal=password={canary}"),
        ],
        None,
    );
    let me = c.admin();
    let o = run(
        &[
            "--kubeconfig",
            me.kubeconfig.to_str().unwrap(),
            "-n",
            &ns,
            "scan",
            "-o",
            "json",
        ],
        None,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(matches!(o.status.code(), Some(0 | 1)), "{stderr}");
    assert!(
        !stdout.contains(canary) && !stderr.contains(canary),
        "a Secret value leaked"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["objects"].as_u64().unwrap() > n as u64,
        "{}",
        report["objects"]
    );

    let lists: Vec<String> = c
        .audit(&me.user)
        .iter()
        .filter(|e| e["verb"] == "list" && e["objectRef"]["resource"] == "serviceaccounts")
        .map(|e| e["requestURI"].as_str().unwrap().to_string())
        .collect();
    // 1,101 ServiceAccounts (with `default`) at 500 a page: three pages, each after the
    // first continuing where the last ended.
    assert_eq!(lists.len(), (n + 1).div_ceil(500), "{lists:#?}");
    assert!(lists.iter().all(|u| u.contains("limit=500")), "{lists:#?}");
    assert!(
        lists[1..].iter().all(|u| u.contains("continue=")),
        "{lists:#?}"
    );
    // Secrets only ever listed, never read one by one.
    assert!(
        !c.audit(&me.user)
            .iter()
            .any(|e| e["verb"] == "get" && e["objectRef"]["resource"] == "secrets"),
        "a Secret was read"
    );
}
