//! Pod Security Standards with the server as the oracle: every pod of the verdict table
//! (`tests/it/pss.rs`) and pods from a seeded generator are created with `dryRun=All` in
//! namespaces enforcing baseline and restricted at every policy version (v1.0 … v1.37 and
//! latest); ephemeral containers go through the `pods/ephemeralcontainers` subresource of a
//! pod created for real. kubeharden's verdict at that version, and the controls it names, must
//! be the server's for every pod. A pod the server finds invalid before Pod Security judges it
//! (a 422) is counted and left out.

use super::Cluster;
use kubeharden::checks::pss::{self, Control, PolicyVersion};
use kubeharden::model::{Inventory, Object, Origin, PssLevel};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The reason Pod Security Admission gives for a control (its `ForbiddenReason`).
fn reason(c: Control) -> &'static str {
    match c {
        Control::WindowsHostProcess => "hostProcess",
        Control::HostNamespaces => "host namespaces",
        Control::Privileged => "privileged",
        Control::CapabilitiesBaseline => "non-default capabilities",
        Control::HostPathVolumes => "hostPath volumes",
        Control::HostPorts => "hostPort",
        Control::AppArmorProfile => "forbidden AppArmor profile",
        Control::SeLinuxOptions => "seLinuxOptions",
        Control::ProcMount | Control::ProcMountRestricted => "procMount",
        Control::SeccompProfileBaseline | Control::SeccompProfileRestricted => "seccompProfile",
        Control::Sysctls => "forbidden sysctls",
        Control::HostProbesAndHostLifecycle => "probe or lifecycle host",
        Control::RestrictedVolumes => "restricted volume types",
        Control::AllowPrivilegeEscalation => "allowPrivilegeEscalation != false",
        Control::RunAsNonRoot => "runAsNonRoot != true",
        Control::RunAsUser => "runAsUser=0",
        Control::CapabilitiesRestricted => "unrestricted capabilities",
    }
}

/// The reasons of a PodSecurity refusal: `violates PodSecurity "restricted:v1.25": a (x, y), b`.
fn server_reasons(message: &str) -> BTreeSet<String> {
    let Some(at) = message.find("violates PodSecurity") else {
        return BTreeSet::new();
    };
    let rest = &message[at..];
    let list = rest.split_once("\": ").map_or("", |(_, l)| l);
    let (mut depth, mut item, mut out) = (0i32, String::new(), BTreeSet::new());
    let mut push = |item: &mut String| {
        let name = item.split(" (").next().unwrap_or("").trim().to_string();
        // The only reason PSA words in the plural: "forbidden AppArmor profiles".
        let name = if name.starts_with("forbidden AppArmor profile") {
            "forbidden AppArmor profile".to_string()
        } else {
            name
        };
        if !name.is_empty() {
            out.insert(name);
        }
        item.clear();
    };
    let mut chars = list.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 && chars.peek() == Some(&' ') => {
                chars.next();
                push(&mut item);
                continue;
            }
            _ => {}
        }
        item.push(ch);
    }
    push(&mut item);
    out
}

/// kubeharden's verdict on a pod at a level and version: the reasons it would give.
fn ours(pod: &Value, level: PssLevel, v: PolicyVersion) -> BTreeSet<String> {
    let obj = Object::from_value(pod.clone(), Origin::Synthetic).expect("a pod");
    let inv = Inventory::new(vec![obj]);
    let Some(spec) = inv.pod_specs().first() else {
        return BTreeSet::new();
    };
    let verdict = pss::evaluate_at(spec, v);
    verdict
        .failed_at(level)
        .map(|c| reason(c).to_string())
        .collect()
}

/// A small deterministic generator (xorshift), so a failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const CAPS: &[&str] = &[
    "NET_RAW",
    "NET_BIND_SERVICE",
    "SYS_ADMIN",
    "CHOWN",
    "KILL",
    "ALL",
    "SETPCAP",
];
const SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
    "kernel.msgmax",
];
const SELINUX: &[&str] = &[
    "container_t",
    "container_engine_t",
    "spc_t",
    "container_kvm_t",
];

/// A securityContext for one container, from a restricted one with random changes.
fn container_sc(r: &mut Rng, sc: &mut Value) {
    if r.chance(15) {
        sc["privileged"] = json!(r.chance(70));
    }
    if r.chance(15) {
        sc.as_object_mut()
            .unwrap()
            .remove("allowPrivilegeEscalation");
    } else if r.chance(10) {
        sc["allowPrivilegeEscalation"] = json!(true);
    }
    if r.chance(20) {
        sc["capabilities"]["add"] = json!([r.pick(CAPS)]);
    }
    if r.chance(10) {
        sc["capabilities"].as_object_mut().unwrap().remove("drop");
    }
    if r.chance(10) {
        sc["runAsNonRoot"] = json!(r.chance(50));
    }
    if r.chance(10) {
        sc["runAsUser"] = json!(if r.chance(60) { 0 } else { 1000 });
    }
    if r.chance(10) {
        sc["seccompProfile"] = json!({"type": *r.pick(&["Unconfined", "RuntimeDefault"])});
    }
    if r.chance(8) {
        sc["appArmorProfile"] = json!({"type": *r.pick(&["Unconfined", "RuntimeDefault"])});
    }
    if r.chance(8) {
        sc["seLinuxOptions"] = json!({"type": *r.pick(SELINUX)});
    }
    if r.chance(6) {
        sc["procMount"] = json!("Unmasked");
    }
}

fn generated_pod(seed: u64) -> Value {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut pod = crate::pss::restricted_pod();
    for list in ["initContainers", "containers"] {
        let sc = &mut pod["spec"][list][0]["securityContext"];
        container_sc(&mut r, sc);
    }
    let spec = &mut pod["spec"];
    if r.chance(10) {
        spec["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("runAsNonRoot");
    }
    if r.chance(10) {
        spec["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("seccompProfile");
    } else if r.chance(8) {
        spec["securityContext"]["seccompProfile"] =
            json!({"type": "Localhost", "localhostProfile": "p.json"});
    }
    if r.chance(8) {
        spec["securityContext"]["runAsUser"] = json!(0);
    }
    if r.chance(8) {
        spec["securityContext"]["seLinuxOptions"] = json!({"type": *r.pick(SELINUX)});
    }
    if r.chance(10) {
        spec["securityContext"]["sysctls"] = json!([{"name": *r.pick(SYSCTLS), "value": "1"}]);
    }
    if r.chance(10) {
        spec["hostUsers"] = json!(false);
    }
    for ns in ["hostNetwork", "hostPID", "hostIPC"] {
        if r.chance(6) {
            spec[ns] = json!(true);
        }
    }
    if r.chance(8) {
        spec["containers"][0]["ports"] = json!([{"containerPort": 8080, "hostPort": 8080}]);
    }
    if r.chance(15) {
        let volume = match r.next() % 6 {
            0 => json!({"name": "v", "hostPath": {"path": "/var/log"}}),
            1 => json!({"name": "v", "emptyDir": {}}),
            2 => json!({"name": "v", "nfs": {"server": "10.0.0.1", "path": "/"}}),
            3 => json!({"name": "v", "configMap": {"name": "c"}}),
            4 => {
                json!({"name": "v", "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0}})
            }
            _ => json!({"name": "v", "projected": {"sources": []}}),
        };
        spec["volumes"] = json!([volume]);
    }
    if r.chance(8) {
        spec["containers"][0]["readinessProbe"] =
            json!({"httpGet": {"port": 80, "host": "10.0.0.9"}});
    }
    if r.chance(6) {
        spec["containers"][0]["lifecycle"] =
            json!({"postStart": {"httpGet": {"port": 80, "host": "example.com"}}});
    }
    let annotations = &mut pod["metadata"]["annotations"];
    if r.chance(8) {
        annotations["seccomp.security.alpha.kubernetes.io/pod"] =
            json!(*r.pick(&["unconfined", "runtime/default"]));
    }
    if r.chance(6) {
        annotations["container.apparmor.security.beta.kubernetes.io/app"] =
            json!(*r.pick(&["unconfined", "runtime/default"]));
    }
    if annotations.is_null() {
        pod["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
    }
    pod
}

/// Windows pods: the os field, with what only Linux pods may set taken out.
fn windows_pod(seed: u64) -> Value {
    let mut r = Rng(seed | 1);
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"os": {"name": "windows"}, "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]}});
    if r.chance(50) {
        pod["spec"]["securityContext"] = json!({"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}});
        pod["spec"]["hostNetwork"] = json!(true);
    }
    if r.chance(50) {
        pod["spec"]["securityContext"]["runAsNonRoot"] = json!(true);
    }
    pod
}

/// Every version the server knows, oldest first, and latest.
fn versions() -> Vec<(String, PolicyVersion)> {
    let mut v: Vec<(String, PolicyVersion)> = (0..=PolicyVersion::LATEST.minor())
        .map(|m| (format!("v1.{m}"), PolicyVersion::v1(m)))
        .collect();
    v.push(("latest".into(), PolicyVersion::LATEST));
    v
}

struct Namespaces {
    /// (namespace, level, version label, version).
    all: Vec<(String, PssLevel, String, PolicyVersion)>,
}

fn namespaces(c: &Cluster) -> Namespaces {
    let run = super::unique("kh-pss");
    let mut all = Vec::new();
    let mut items = Vec::new();
    for (label, v) in versions() {
        for level in [PssLevel::Baseline, PssLevel::Restricted] {
            let name = format!("{run}-{}-{}", level.key(), label.replace('.', "-"));
            items.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {
                "pod-security.kubernetes.io/enforce": level.key(),
                "pod-security.kubernetes.io/enforce-version": label}}}));
            items.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}}));
            all.push((name, level, label.clone(), v));
        }
    }
    c.kubectl_ok(
        &["create", "-f", "-"],
        Some(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()),
    );
    Namespaces { all }
}

/// An answer: the status and the message.
async fn send(
    client: &kube::Client,
    method: &str,
    uri: String,
    body: &Value,
    content: &str,
) -> (u16, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content)
        .body(kube::client::Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let resp = client.send(req).await.expect("the server answers");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect_bytes().await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v["message"].as_str().unwrap_or("").to_string())
}

fn client_for(c: &Cluster) -> (tokio::runtime::Runtime, kube::Client) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let me = c.admin();
    let client = rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(&me.kubeconfig).unwrap();
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
        kube::Client::try_from(config).unwrap()
    });
    (rt, client)
}

#[test]
#[allow(clippy::print_stderr)]
fn kubeharden_judges_every_pod_at_every_policy_version_as_the_server_does() {
    use futures::StreamExt;
    let c = crate::real_cluster!();
    let nss = namespaces(c);
    let mut pods: Vec<(String, Value)> = crate::pss::CASES
        .iter()
        .map(|(name, tweak, _, _)| {
            let mut p = crate::pss::restricted_pod();
            tweak(&mut p);
            (format!("table: {name}"), p)
        })
        .collect();
    let seeds: u64 = std::env::var("KH_PSS_PODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(160);
    pods.extend((1..=seeds).map(|s| (format!("generated seed {s}"), generated_pod(s))));
    pods.extend((1..=8).map(|s| (format!("windows seed {s}"), windows_pod(s))));
    let (rt, client) = client_for(c);
    let mut jobs = Vec::new();
    for (ns, level, label, v) in &nss.all {
        for (i, (name, pod)) in pods.iter().enumerate() {
            let mut pod = pod.clone();
            pod["metadata"]["name"] = json!(format!("p{i}"));
            pod["metadata"]["namespace"] = json!(ns);
            jobs.push((ns.clone(), *level, label.clone(), *v, name.clone(), pod));
        }
    }
    let requests = jobs.len();
    let answers: Vec<_> = rt.block_on(
        futures::stream::iter(jobs.into_iter().map(|(ns, level, label, v, name, pod)| {
            let client = client.clone();
            async move {
                let uri = format!("/api/v1/namespaces/{ns}/pods?dryRun=All");
                let (status, message) = send(&client, "POST", uri, &pod, "application/json").await;
                (level, label, v, name, pod, status, message)
            }
        }))
        .buffer_unordered(16)
        .collect(),
    );
    let (mut compared, mut invalid, mut refused) = (0, 0, 0);
    let mut disagreements = Vec::new();
    let mut invalid_pods = BTreeSet::new();
    for (level, label, v, name, pod, status, message) in answers {
        if status == 422 {
            invalid += 1;
            invalid_pods.insert(name);
            continue;
        }
        assert!(
            status == 201 || status == 403,
            "{name} in {label}: {status} {message}"
        );
        compared += 1;
        let server = if status == 403 {
            server_reasons(&message)
        } else {
            BTreeSet::new()
        };
        refused += usize::from(status == 403);
        let kh = ours(&pod, level, v);
        if server != kh {
            disagreements.push(format!(
                "{name} at {}:{label}: server {server:?} ({message}), kubeharden {kh:?}\n{pod}",
                level.key()
            ));
        }
    }
    let ephemeral = ephemeral_containers(c, &rt, &client, &nss, &mut disagreements);
    eprintln!(
        "pod security: {} pods × {} namespaces ({} versions × baseline, restricted): {requests} \
         dry-run creates, {compared} compared ({refused} refused), {invalid} invalid for the \
         server before Pod Security ({} pods), {ephemeral} ephemeral-container updates; {} \
         disagreements",
        pods.len(),
        nss.all.len(),
        versions().len(),
        invalid_pods.len(),
        disagreements.len()
    );
    let shown: Vec<&String> = disagreements.iter().take(20).collect();
    assert!(disagreements.is_empty(), "{shown:#?}");
    assert!(
        compared > requests / 2,
        "most pods must reach Pod Security: {invalid_pods:#?}"
    );
}

/// Ephemeral containers, which only an update of `pods/ephemeralcontainers` adds: one real pod
/// per namespace, then each variant as a dry-run patch of the subresource.
fn ephemeral_containers(
    c: &Cluster,
    rt: &tokio::runtime::Runtime,
    client: &kube::Client,
    nss: &Namespaces,
    disagreements: &mut Vec<String>,
) -> usize {
    use futures::StreamExt;
    let base = crate::pss::restricted_pod();
    let mut list = Vec::new();
    for (ns, ..) in &nss.all {
        let mut p = base.clone();
        p["metadata"] = json!({"name": "base", "namespace": ns});
        list.push(p);
    }
    c.kubectl_ok(
        &["create", "-f", "-"],
        Some(&json!({"apiVersion": "v1", "kind": "List", "items": list}).to_string()),
    );
    let variants: Vec<Value> = (1..=12u64)
        .map(|s| {
            let mut r = Rng(s.wrapping_mul(7919) | 1);
            let mut sc =
                json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
            container_sc(&mut r, &mut sc);
            if s == 1 {
                sc = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
            }
            json!({"name": format!("debug{s}"), "image": "busybox:1", "securityContext": sc})
        })
        .collect();
    let mut jobs = Vec::new();
    for (ns, level, label, v) in &nss.all {
        for e in &variants {
            jobs.push((ns.clone(), *level, label.clone(), *v, e.clone()));
        }
    }
    let n = jobs.len();
    let answers: Vec<_> = rt.block_on(
        futures::stream::iter(jobs.into_iter().map(|(ns, level, label, v, e)| {
            let client = client.clone();
            async move {
                let uri =
                    format!("/api/v1/namespaces/{ns}/pods/base/ephemeralcontainers?dryRun=All");
                let patch = json!({"spec": {"ephemeralContainers": [e]}});
                let (status, message) = send(
                    &client,
                    "PATCH",
                    uri,
                    &patch,
                    "application/merge-patch+json",
                )
                .await;
                (level, label, v, e, status, message)
            }
        }))
        .buffer_unordered(16)
        .collect(),
    );
    for (level, label, v, e, status, message) in answers {
        if status == 422 {
            continue;
        }
        assert!(
            status == 200 || status == 403,
            "ephemeral in {label}: {status} {message}"
        );
        let mut pod = base.clone();
        pod["spec"]["ephemeralContainers"] = json!([e]);
        let server = if status == 403 {
            server_reasons(&message)
        } else {
            BTreeSet::new()
        };
        let kh = ours(&pod, level, v);
        if server != kh {
            disagreements.push(format!(
                "ephemeral {e} at {}:{label}: server {server:?} ({message}), kubeharden {kh:?}",
                level.key()
            ));
        }
    }
    n
}

#[test]
fn the_server_refusals_are_parsed_into_their_reasons() {
    let m = r#"pods "p" is forbidden: violates PodSecurity "restricted:v1.25": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]; container "app" must not include "NET_RAW" in securityContext.capabilities.add), forbidden AppArmor profiles (a, b)"#;
    let got: Vec<String> = server_reasons(m).into_iter().collect();
    assert_eq!(
        got,
        [
            "allowPrivilegeEscalation != false",
            "forbidden AppArmor profile",
            "unrestricted capabilities"
        ]
    );
}
