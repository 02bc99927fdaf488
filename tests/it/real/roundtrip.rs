//! fix → apply --yes → scan → rollback --yes on the demo cluster in a real API server, with the
//! server's audit log as the record of every request.

use super::scan::{demo_cluster, finding_keys, scan_json};
use super::{Cluster, Identity};
use crate::util::run;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What `kubeharden` printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// kubeharden as `who`.
pub fn kh(who: &Identity, args: &[&str]) -> Run {
    let mut all = vec!["--kubeconfig", who.kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(&all, None);
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// An audit event's request URI without `dryRun`, and whether it was a dry run.
pub fn uri_and_dry_run(e: &Value) -> (String, bool) {
    let uri = e["requestURI"].as_str().unwrap();
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut dry = false;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let is_dry = *p == "dryRun=All";
            dry |= is_dry;
            !is_dry && !p.is_empty()
        })
        .collect();
    // A DELETE carries its dry run in the DeleteOptions body.
    if e["requestObject"]["dryRun"] == serde_json::json!(["All"]) {
        dry = true;
    }
    (format!("{path}?{}", rest.join("&")), dry)
}

fn is_write(e: &Value) -> bool {
    !matches!(e["verb"].as_str(), Some("get" | "list" | "watch"))
}

/// The writes of `events`; panics unless each was preceded by the same request as a dry run
/// (same verb, URI and body) that the server accepted.
pub fn assert_each_write_dry_run_first(events: &[Value]) -> usize {
    let mut writes = 0;
    for (i, w) in events.iter().enumerate() {
        let (uri, dry) = uri_and_dry_run(w);
        if !is_write(w) || dry {
            continue;
        }
        writes += 1;
        let found = events[..i].iter().any(|d| {
            let (d_uri, d_dry) = uri_and_dry_run(d);
            d_dry
                && d["verb"] == w["verb"]
                && d_uri == uri
                && d["responseStatus"]["code"].as_i64().unwrap_or(0) < 300
                && (w["verb"] == "delete" || d["requestObject"] == w["requestObject"])
        });
        assert!(
            found,
            "{} {uri} was written without the identical dry run first",
            w["verb"]
        );
    }
    writes
}

/// Requests the server refused (4xx other than a 404 read), as `verb uri: code message`.
pub fn refused(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| {
            let code = e["responseStatus"]["code"].as_i64().unwrap_or(0);
            code >= 400 && (code != 404 || is_write(e))
        })
        .map(|e| {
            format!(
                "{} {}: {} {}",
                e["verb"].as_str().unwrap_or(""),
                e["requestURI"].as_str().unwrap_or(""),
                e["responseStatus"]["code"],
                e["responseStatus"]["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// The object with what the server sets on every write taken out.
pub fn comparable(mut o: Value) -> Value {
    if let Some(m) = o["metadata"].as_object_mut() {
        for f in [
            "resourceVersion",
            "managedFields",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            m.remove(f);
        }
        // The server keeps it equal to the DaemonSet's generation, as it keeps `generation`.
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deprecated.daemonset.template.generation");
            if a.is_empty() {
                m.remove("annotations");
            }
        }
    }
    o
}

/// The manifest's targets as `resource namespace name` for kubectl, with the entry's form.
pub fn targets(bundle: &Path) -> Vec<(String, Option<String>, String, String)> {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    manifest["patches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["form"] != "host-file")
        .map(|e| {
            let t = &e["target"];
            let group = t["apiVersion"]
                .as_str()
                .unwrap()
                .rsplit_once('/')
                .map(|(g, _)| format!(".{g}"))
                .unwrap_or_default();
            (
                format!("{}{group}", t["kind"].as_str().unwrap().to_lowercase()),
                t["namespace"].as_str().map(str::to_string),
                t["name"].as_str().unwrap().to_string(),
                e["form"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn snapshot(
    c: &Cluster,
    targets: &[(String, Option<String>, String, String)],
) -> BTreeMap<String, Option<Value>> {
    targets
        .iter()
        .map(|(res, ns, name, form)| {
            let mut held = c.get(res, ns.as_deref(), name).map(comparable);
            // A re-created Pod's status is its kubelet's to write again (none runs here).
            if let (Some(o), "recreate") = (held.as_mut(), form.as_str()) {
                o.as_object_mut().unwrap().remove("status");
            }
            (
                format!("{res} {}/{name}", ns.as_deref().unwrap_or("")),
                held,
            )
        })
        .collect()
}

fn fixable(report: &Value) -> usize {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fixable"] == true)
        .count()
}

#[test]
#[allow(clippy::print_stderr)]
fn fix_apply_scan_rollback_on_the_demo_in_a_real_server() {
    let Some(c) = demo_cluster() else { return };
    let me = c.admin();
    let (before, _) = scan_json(&me.kubeconfig, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    let b = bundle.to_str().unwrap();
    let r = kh(&me, &["fix", "--out", b]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let targets = targets(&bundle);
    let held_before = snapshot(&c, &targets);

    let r = kh(&me, &["apply", "--yes", "--allow-recreate", b]);
    let events = c.audit(&me.user);
    let refused_apply = refused(&events);
    assert!(
        refused_apply.is_empty(),
        "the server refused: {refused_apply:#?}\n{}",
        r.stderr
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let writes = assert_each_write_dry_run_first(&events);

    let (after, _) = scan_json(&me.kubeconfig, &[]);
    let still: Vec<String> = after["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fixable"] == true)
        .map(|f| format!("{} {} {}", f["check"], f["object"], f["path"]))
        .collect();
    let cleared = fixable(&before) - still.len().min(fixable(&before));
    eprintln!(
        "apply on the demo in kube-apiserver: {} changes, {writes} writes after their dry runs, \
         refused: 0; fixable findings {} → {}",
        targets.len(),
        fixable(&before),
        still.len()
    );
    assert!(
        still.is_empty(),
        "fixable findings left after apply: {still:#?}"
    );
    assert!(cleared > 0);

    let start = c.audit(&me.user).len();
    let r = kh(&me, &["rollback", "--yes", "--allow-recreate", b]);
    let events = c.audit(&me.user)[start..].to_vec();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let refused_rollback = refused(&events);
    assert!(refused_rollback.is_empty(), "{refused_rollback:#?}");
    assert_each_write_dry_run_first(&events);
    let held_after = snapshot(&c, &targets);
    let differing: Vec<&String> = held_before
        .keys()
        .filter(|k| held_before[*k] != held_after[*k])
        .collect();
    for k in &differing {
        eprintln!(
            "{k}\nbefore: {:#}\nafter: {:#}",
            held_before[*k].clone().unwrap_or_default(),
            held_after[*k].clone().unwrap_or_default()
        );
    }
    eprintln!(
        "rollback: objects differing from before apply: {}",
        differing.len()
    );
    assert!(differing.is_empty(), "{differing:#?}");
    let (restored, _) = scan_json(&me.kubeconfig, &[]);
    assert_eq!(finding_keys(&restored), finding_keys(&before));
}
