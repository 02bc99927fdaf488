//! Pod Security Standards: the levels the checks name, and the verdict of
//! `pss::evaluate` against a table of small pods with the decision Pod Security Admission makes
//! at the latest policy version.

use kubeharden::checks::CHECKS;
use kubeharden::checks::pss::{self, Control, Level};
use kubeharden::model::{Area, Inventory, Object, Origin, PssLevel};
use serde_json::{Value, json};

#[test]
fn pss_checks_name_their_level() {
    for check in CHECKS.iter().filter(|c| c.area == Area::PodSecurity) {
        let n: u32 = check.id["KH-POD-".len()..].parse().unwrap();
        let expected = match n {
            101..=199 => Some(PssLevel::Baseline),
            201..=299 => Some(PssLevel::Restricted),
            _ => None,
        };
        assert_eq!(check.pss, expected, "{}", check.id);
        // Every PSS control but the probe-host one (whose fix is the probe's own target)
        // and the volume-type one (data volumes are not removed) has a remediation.
        assert_eq!(
            check.fixable,
            !matches!(check.id, "KH-POD-113" | "KH-POD-206"),
            "{}",
            check.id
        );
        assert!(check.rationale.len() > 80, "{}", check.id);
    }
}

// ---------------------------------------------------------------------------------------------
// Verdict table

/// A pod that meets restricted: pod-level runAsNonRoot and seccomp, every container drops ALL
/// and forbids privilege escalation.
pub(crate) fn restricted_pod() -> Value {
    let sc = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "t"},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "init", "image": "busybox:1", "securityContext": sc.clone()}],
            "containers": [{"name": "app", "image": "nginx:1", "securityContext": sc}],
        }
    })
}

fn verdict_of(pod: Value) -> pss::PssVerdict {
    let obj = Object::from_value(pod, Origin::Synthetic).unwrap();
    let inv = Inventory::new(vec![obj]);
    assert!(inv.problems().is_empty(), "{:?}", inv.problems());
    let spec = inv.pod_specs().first().expect("one pod spec");
    pss::evaluate(spec)
}

pub(crate) type Tweak = fn(&mut Value);

#[rustfmt::skip]
pub(crate) const CASES: &[(&str, Tweak, bool, bool)] = &[
    // name, change to the restricted pod, meets baseline, meets restricted
    ("restricted pod as is", |_| {}, true, true),
    ("no securityContext at all", |p| {
        p["spec"] = json!({"containers": [{"name": "app", "image": "nginx:1"}]});
    }, true, false),
    // privileged
    ("privileged container", |p| p["spec"]["containers"][0]["securityContext"]["privileged"] = json!(true), false, false),
    ("privileged: false", |p| p["spec"]["containers"][0]["securityContext"]["privileged"] = json!(false), true, true),
    ("privileged init container", |p| p["spec"]["initContainers"][0]["securityContext"]["privileged"] = json!(true), false, false),
    ("privileged ephemeral container", |p| {
        p["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox:1",
            "securityContext": {"privileged": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]);
    }, false, false),
    // host namespaces
    ("hostNetwork", |p| p["spec"]["hostNetwork"] = json!(true), false, false),
    ("hostPID", |p| p["spec"]["hostPID"] = json!(true), false, false),
    ("hostIPC", |p| p["spec"]["hostIPC"] = json!(true), false, false),
    ("host namespaces explicitly false", |p| {
        p["spec"]["hostNetwork"] = json!(false);
        p["spec"]["hostPID"] = json!(false);
        p["spec"]["hostIPC"] = json!(false);
    }, true, true),
    // capabilities
    ("add NET_RAW", |p| p["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = json!(["NET_RAW"]), false, false),
    ("add CHOWN: baseline yes, restricted no", |p| p["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = json!(["CHOWN"]), true, false),
    ("add NET_BIND_SERVICE", |p| p["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = json!(["NET_BIND_SERVICE"]), true, true),
    ("add net_bind_service in lower case", |p| p["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = json!(["net_bind_service"]), false, false),
    ("add SYS_ADMIN on the init container", |p| p["spec"]["initContainers"][0]["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"]), false, false),
    ("drop all in lower case", |p| p["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"] = json!(["all"]), true, false),
    ("drop NET_RAW only", |p| p["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"] = json!(["NET_RAW"]), true, false),
    ("no capabilities on the init container", |p| p["spec"]["initContainers"][0]["securityContext"]["capabilities"] = json!(null), true, false),
    // volumes
    ("hostPath volume", |p| p["spec"]["volumes"] = json!([{"name": "h", "hostPath": {"path": "/var/log"}}]), false, false),
    ("all restricted volume types", |p| p["spec"]["volumes"] = json!([
        {"name": "a", "emptyDir": {}}, {"name": "b", "configMap": {"name": "c"}},
        {"name": "c", "secret": {"secretName": "s"}}, {"name": "d", "projected": {"sources": []}},
        {"name": "e", "persistentVolumeClaim": {"claimName": "x"}}, {"name": "f", "csi": {"driver": "d"}},
        {"name": "g", "downwardAPI": {}}, {"name": "h", "ephemeral": {}},
        {"name": "i", "image": {"reference": "registry.example/data:1"}},
    ]), true, true),
    ("nfs volume: baseline yes, restricted no", |p| p["spec"]["volumes"] = json!([{"name": "n", "nfs": {"server": "nfs", "path": "/x"}}]), true, false),
    ("gitRepo volume", |p| p["spec"]["volumes"] = json!([{"name": "g", "gitRepo": {"repository": "https://x"}}]), true, false),
    // host ports
    ("hostPort 0", |p| p["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 0}]), true, true),
    ("hostPort 8080", |p| p["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 8080}]), false, false),
    ("hostPort on the init container", |p| p["spec"]["initContainers"][0]["ports"] = json!([{"containerPort": 53, "hostPort": 53}]), false, false),
    // HostProcess
    ("hostProcess on the pod", |p| {
        p["spec"]["os"] = json!({"name": "windows"});
        p["spec"]["securityContext"]["windowsOptions"] = json!({"hostProcess": true});
    }, false, false),
    ("hostProcess false on a container", |p| p["spec"]["containers"][0]["securityContext"]["windowsOptions"] = json!({"hostProcess": false}), true, true),
    // AppArmor
    ("AppArmor annotation unconfined", |p| p["metadata"]["annotations"] = json!({"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}), false, false),
    ("AppArmor annotations runtime/default, localhost/x and empty", |p| p["metadata"]["annotations"] = json!({
        "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
        "container.apparmor.security.beta.kubernetes.io/init": "localhost/custom",
        "container.apparmor.security.beta.kubernetes.io/other": "",
    }), true, true),
    ("AppArmor field Unconfined on a container", |p| p["spec"]["containers"][0]["securityContext"]["appArmorProfile"] = json!({"type": "Unconfined"}), false, false),
    ("AppArmor field Localhost on the pod", |p| p["spec"]["securityContext"]["appArmorProfile"] = json!({"type": "Localhost", "localhostProfile": "k8s-app"}), true, true),
    // SELinux
    ("SELinux container_init_t", |p| p["spec"]["containers"][0]["securityContext"]["seLinuxOptions"] = json!({"type": "container_init_t"}), true, true),
    ("SELinux container_engine_t (v1.31)", |p| p["spec"]["securityContext"]["seLinuxOptions"] = json!({"type": "container_engine_t"}), true, true),
    ("SELinux spc_t", |p| p["spec"]["containers"][0]["securityContext"]["seLinuxOptions"] = json!({"type": "spc_t"}), false, false),
    ("SELinux user set", |p| p["spec"]["containers"][0]["securityContext"]["seLinuxOptions"] = json!({"user": "system_u"}), false, false),
    ("SELinux role set on the pod", |p| p["spec"]["securityContext"]["seLinuxOptions"] = json!({"role": "object_r"}), false, false),
    ("SELinux level only", |p| p["spec"]["securityContext"]["seLinuxOptions"] = json!({"level": "s0:c123,c456"}), true, true),
    // /proc mount
    ("procMount Unmasked", |p| p["spec"]["containers"][0]["securityContext"]["procMount"] = json!("Unmasked"), false, false),
    ("procMount Default", |p| p["spec"]["containers"][0]["securityContext"]["procMount"] = json!("Default"), true, true),
    ("procMount Unmasked with hostUsers: false", |p| {
        p["spec"]["hostUsers"] = json!(false);
        p["spec"]["containers"][0]["securityContext"]["procMount"] = json!("Unmasked");
    }, true, false),
    ("procMount Unmasked with hostUsers: true", |p| {
        p["spec"]["hostUsers"] = json!(true);
        p["spec"]["containers"][0]["securityContext"]["procMount"] = json!("Unmasked");
    }, false, false),
    // seccomp
    ("seccomp Unconfined on the pod", |p| p["spec"]["securityContext"]["seccompProfile"] = json!({"type": "Unconfined"}), false, false),
    ("seccomp Unconfined on a container, RuntimeDefault on the pod", |p| p["spec"]["containers"][0]["securityContext"]["seccompProfile"] = json!({"type": "Unconfined"}), false, false),
    ("seccomp Localhost on every container only", |p| {
        p["spec"]["securityContext"]["seccompProfile"] = json!(null);
        for list in ["initContainers", "containers"] {
            p["spec"][list][0]["securityContext"]["seccompProfile"] = json!({"type": "Localhost", "localhostProfile": "profiles/audit.json"});
        }
    }, true, true),
    ("seccomp on the app container only", |p| {
        p["spec"]["securityContext"]["seccompProfile"] = json!(null);
        p["spec"]["containers"][0]["securityContext"]["seccompProfile"] = json!({"type": "RuntimeDefault"});
    }, true, false),
    ("seccomp not set anywhere", |p| p["spec"]["securityContext"]["seccompProfile"] = json!(null), true, false),
    // sysctls
    ("sysctl net.ipv4.tcp_rmem (v1.32)", |p| p["spec"]["securityContext"]["sysctls"] = json!([{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 16777216"}]), true, true),
    ("sysctls from v1.0, v1.27 and v1.29", |p| p["spec"]["securityContext"]["sysctls"] = json!([
        {"name": "kernel.shm_rmid_forced", "value": "1"},
        {"name": "net.ipv4.ip_local_reserved_ports", "value": "30000"},
        {"name": "net.ipv4.tcp_keepalive_intvl", "value": "30"},
    ]), true, true),
    ("sysctl kernel.msgmax", |p| p["spec"]["securityContext"]["sysctls"] = json!([{"name": "kernel.msgmax", "value": "65536"}]), false, false),
    ("sysctl tcp_slow_start_after_idle (safe from v1.37)", |p| p["spec"]["securityContext"]["sysctls"] = json!([{"name": "net.ipv4.tcp_slow_start_after_idle", "value": "0"}]), true, true),
    // probe and lifecycle host
    ("liveness probe httpGet host", |p| p["spec"]["containers"][0]["livenessProbe"] = json!({"httpGet": {"host": "10.0.0.1", "port": 80}}), false, false),
    ("readiness probe tcpSocket host empty", |p| p["spec"]["containers"][0]["readinessProbe"] = json!({"tcpSocket": {"host": "", "port": 80}}), true, true),
    ("preStop httpGet host on the init container", |p| p["spec"]["initContainers"][0]["lifecycle"] = json!({"preStop": {"httpGet": {"host": "metadata.internal", "port": 80}}}), false, false),
    // allowPrivilegeEscalation
    ("allowPrivilegeEscalation unset on an ephemeral container", |p| {
        p["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox:1", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]);
    }, true, false),
    ("allowPrivilegeEscalation true", |p| p["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true), true, false),
    // runAsNonRoot
    ("runAsNonRoot false on a container, true on the pod", |p| p["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = json!(false), true, false),
    ("runAsNonRoot on every container, unset on the pod", |p| {
        p["spec"]["securityContext"]["runAsNonRoot"] = json!(null);
        for list in ["initContainers", "containers"] {
            p["spec"][list][0]["securityContext"]["runAsNonRoot"] = json!(true);
        }
    }, true, true),
    ("runAsNonRoot on the app container only", |p| {
        p["spec"]["securityContext"]["runAsNonRoot"] = json!(null);
        p["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
    }, true, false),
    ("runAsNonRoot false on the pod, true on every container", |p| {
        p["spec"]["securityContext"]["runAsNonRoot"] = json!(false);
        for list in ["initContainers", "containers"] {
            p["spec"][list][0]["securityContext"]["runAsNonRoot"] = json!(true);
        }
    }, true, false),
    ("runAsNonRoot false with hostUsers: false", |p| {
        p["spec"]["hostUsers"] = json!(false);
        p["spec"]["securityContext"]["runAsNonRoot"] = json!(false);
    }, true, true),
    // runAsUser
    ("runAsUser 0 on the pod", |p| p["spec"]["securityContext"]["runAsUser"] = json!(0), true, false),
    ("runAsUser 0 on the init container", |p| p["spec"]["initContainers"][0]["securityContext"]["runAsUser"] = json!(0), true, false),
    ("runAsUser 1000", |p| p["spec"]["securityContext"]["runAsUser"] = json!(1000), true, true),
    ("runAsUser 0 with hostUsers: false", |p| {
        p["spec"]["hostUsers"] = json!(false);
        p["spec"]["containers"][0]["securityContext"]["runAsUser"] = json!(0);
    }, true, true),
    // Windows
    ("Windows pod without Linux-only fields", |p| {
        p["spec"]["os"] = json!({"name": "windows"});
        p["spec"]["securityContext"]["seccompProfile"] = json!(null);
        for list in ["initContainers", "containers"] {
            p["spec"][list][0]["securityContext"] = json!({});
        }
    }, true, true),
    ("Windows pod still needs runAsNonRoot", |p| {
        p["spec"]["os"] = json!({"name": "windows"});
        p["spec"]["securityContext"] = json!({});
    }, true, false),
    ("Windows pod adding NET_RAW: restricted overrides the baseline capabilities control", |p| {
        p["spec"]["os"] = json!({"name": "windows"});
        p["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = json!(["NET_RAW"]);
    }, false, true),
    ("Linux pod (os.name linux) without capabilities", |p| {
        p["spec"]["os"] = json!({"name": "linux"});
        p["spec"]["containers"][0]["securityContext"]["capabilities"] = json!(null);
    }, true, false),
];

#[test]
fn verdicts_match_pod_security_admission() {
    assert!(CASES.len() >= 40, "{}", CASES.len());
    let mut wrong = Vec::new();
    for &(name, tweak, baseline, restricted) in CASES {
        let mut pod = restricted_pod();
        tweak(&mut pod);
        let v = verdict_of(pod);
        if (v.baseline, v.restricted) != (baseline, restricted) {
            let failed: Vec<&str> = v.failed_controls().map(Control::psa_id).collect();
            wrong.push(format!(
                "{name}: expected baseline={baseline} restricted={restricted}, got baseline={} \
                 restricted={} (failed: {failed:?})",
                v.baseline, v.restricted
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn verdict_reports_levels_controls_and_paths() {
    let mut pod = restricted_pod();
    pod["spec"]["initContainers"][0]["securityContext"]["capabilities"]["add"] =
        json!(["NET_ADMIN"]);
    pod["spec"]["securityContext"]["seccompProfile"] = json!(null);
    let v = verdict_of(pod);
    assert_eq!(v.level(), Level::Privileged);
    assert!(v.meets(Level::Privileged) && !v.meets(Level::Baseline));
    let failed: Vec<&str> = v.failed_controls().map(Control::psa_id).collect();
    assert_eq!(
        failed,
        [
            "capabilities_baseline",
            "seccompProfile_restricted",
            "capabilities_restricted"
        ]
    );
    let caps = &v.failed[0].violations[0];
    assert_eq!(
        caps.path,
        "spec.initContainers[0].securityContext.capabilities.add[0]"
    );
    assert!(
        caps.message.starts_with(
            "init container \"init\" adds capability NET_ADMIN (baseline allows AUDIT_WRITE, CHOWN,"
        ),
        "{}",
        caps.message
    );
    let at_restricted: Vec<&str> = v
        .failed_at(PssLevel::Restricted)
        .map(Control::psa_id)
        .collect();
    assert_eq!(
        at_restricted,
        ["seccompProfile_restricted", "capabilities_restricted"]
    );

    let v = verdict_of(restricted_pod());
    assert_eq!(v.level(), Level::Restricted);
    assert!(v.failed.is_empty());
}

#[test]
fn runtime_sockets_are_found_through_parent_directories() {
    for (path, sock) in [
        ("/var/run/docker.sock", Some("/var/run/docker.sock")),
        ("/run/containerd/", Some("/run/containerd/containerd.sock")),
        ("/var/run", Some("/var/run/docker.sock")),
        ("/", Some("/var/run/docker.sock")),
        ("//run//crio", Some("/run/crio/crio.sock")),
        ("/var/log", None),
        ("/var/running", None),
        ("/home/docker.sock.bak", None),
    ] {
        assert_eq!(pss::exposed_runtime_socket(path), sock, "{path}");
    }
}
