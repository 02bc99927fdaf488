//! The live source against the fake API server: the real binary (`scan -o json`) and the
//! library path (`source::live::load_with`).

use crate::fake_api::{FAKE_TOKEN, FakeApi, Fault, METADATA_LIST_ACCEPT, Recorded, Route};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubeharden");

/// What one run of the binary gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); stderr: {}\n{}",
                self.stderr, self.stdout
            )
        })
    }

    /// stdout and stderr hold no secret material and no credentials.
    fn assert_no_leaks(&self) {
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            for needle in [
                FAKE_TOKEN,
                "c2VjcmV0",
                "last-applied-configuration",
                "hunter2",
            ] {
                assert!(!text.contains(needle), "{name} shows {needle:?}:\n{text}");
            }
        }
    }
}

fn run_with(kubeconfig: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(BIN)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--request-timeout", "5s"])
        .args(args)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run kubeharden");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `scan -o json` against the server's kubeconfig (context `kind-fake`).
fn scan(server: &FakeApi, extra: &[&str]) -> Run {
    let kubeconfig = server.kubeconfig("kind-fake");
    let mut args = vec!["scan", "-o", "json"];
    args.extend_from_slice(extra);
    run_with(&kubeconfig, &args)
}

fn pod(ns: &str, name: &str, privileged: bool) -> Value {
    let mut container = json!({"name": "app", "image": "registry.example/app:1.0"});
    if privileged {
        container["securityContext"] = json!({"privileged": true});
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}")},
        "spec": {"containers": [container]},
    })
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// A Secret with a value and a last-applied annotation that repeats it.
fn secret(ns: &str, name: &str) -> Value {
    let last_applied = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "data": {"password": "c2VjcmV0"},
        "stringData": {"token": "hunter2"},
    })
    .to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": ns,
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": last_applied,
                "team": "shop",
            },
        },
        "type": "Opaque",
        "data": {"password": "c2VjcmV0"},
    })
}

fn findings_of<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

fn skipped_of<'a>(report: &'a Value, kind: &str) -> Option<&'a str> {
    report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .find(|s| s["kind"] == kind)
        .and_then(|s| s["reason"].as_str())
}

fn lists_of(log: &[Recorded], plural: &str) -> Vec<Recorded> {
    log.iter()
        .filter(|r| matches!(&r.route, Route::List { plural: p, .. } if p == plural))
        .cloned()
        .collect()
}

/// Every request was a GET of a collection: no single-object GET, no write.
fn assert_only_lists(log: &[Recorded]) {
    for r in log {
        assert_eq!(r.method, "GET", "{r:?}");
        assert!(
            matches!(r.route, Route::List { .. }),
            "not a LIST: {} {}",
            r.method,
            r.path
        );
    }
}

#[test]
fn pods_are_listed_in_pages_of_500_following_continue() {
    let server = FakeApi::start();
    server.add_all((0..1234).map(|i| pod("shop", &format!("web-{i:04}"), false)));
    let run = scan(&server, &[]);
    assert!(
        matches!(run.code, 0 | 1),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    assert_eq!(run.stderr, "");
    let report = run.json();
    assert_eq!(report["objects"], 1234);

    let log = server.log();
    assert_only_lists(&log);
    let pages = server.requests_to("/api/v1/pods");
    assert_eq!(pages.len(), 3, "{pages:#?}");
    for p in &pages {
        assert_eq!(p.param("limit"), Some("500"), "{p:?}");
    }
    // The first page has no token, each next one the token the previous answer handed
    // out, and the last answer hands out none.
    assert_eq!(pages[0].param("continue"), None);
    assert!(pages[0].issued_continue.is_some());
    assert_eq!(
        pages[1].param("continue"),
        pages[0].issued_continue.as_deref()
    );
    assert_eq!(
        pages[2].param("continue"),
        pages[1].issued_continue.as_deref()
    );
    assert_ne!(pages[1].param("continue"), pages[2].param("continue"));
    assert_eq!(pages[2].issued_continue, None);
    assert!(pages.iter().all(|p| p.status == 200));
    // Every kind was listed exactly once (one page each), all with limit=500.
    for kind in kubeharden::source::live::KINDS {
        let lists = lists_of(&log, kind.plural);
        let expected = if kind.plural == "pods" { 3 } else { 1 };
        assert_eq!(lists.len(), expected, "{}", kind.plural);
        assert!(lists.iter().all(|r| r.param("limit") == Some("500")));
    }
}

#[test]
fn secrets_are_listed_as_metadata_only_and_never_shown() {
    let server = FakeApi::start();
    server.add(namespace("shop"));
    server.add(secret("shop", "db-password"));
    let run = scan(&server, &[]);
    assert!(
        matches!(run.code, 0 | 1),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    run.assert_no_leaks();
    assert_eq!(run.json()["objects"], 2);

    let log = server.log();
    let secret_requests: Vec<&Recorded> =
        log.iter().filter(|r| r.path.contains("secrets")).collect();
    assert_eq!(secret_requests.len(), 1, "{secret_requests:#?}");
    for r in secret_requests {
        assert_eq!(r.accept(), Some(METADATA_LIST_ACCEPT), "{r:?}");
    }
    // Other kinds are not asked for metadata only.
    let pods = server.requests_to("/api/v1/pods");
    assert_ne!(pods[0].accept(), Some(METADATA_LIST_ACCEPT));
}

#[test]
fn a_server_that_returns_full_secrets_still_leaks_nothing() {
    let server = FakeApi::start();
    server.add(secret("shop", "db-password"));
    server.fault("secrets", Fault::IgnoreMetadataAccept);
    let run = scan(&server, &[]);
    assert!(
        matches!(run.code, 0 | 1),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    run.assert_no_leaks();
    assert_eq!(run.json()["objects"], 1);
}

#[test]
fn forbidden_secrets_are_skipped_and_the_rest_is_scanned() {
    let server = FakeApi::start();
    server.add(namespace("shop"));
    server.add(pod("shop", "root-shell", true));
    server.add(secret("shop", "db-password"));
    server.fault("secrets", Fault::Forbidden);
    let run = scan(&server, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    run.assert_no_leaks();
    let report = run.json();
    let reason = skipped_of(&report, "Secret").expect("Secret skipped");
    assert!(reason.starts_with("forbidden: "), "{reason}");
    assert!(reason.contains("secrets"), "{reason}");
    assert!(!reason.contains('\n'));
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(1));
    let privileged = findings_of(&report, "KH-POD-101");
    assert_eq!(privileged.len(), 1, "{report:#}");
    assert_eq!(privileged[0]["object"]["name"], "root-shell");
    assert_eq!(report["objects"], 2);
}

#[test]
fn unserved_admission_policies_are_skipped_as_not_served() {
    let server = FakeApi::start();
    server.add(pod("shop", "web", false));
    server.fault("validatingadmissionpolicies", Fault::NotFound);
    server.fault("validatingadmissionpolicybindings", Fault::NotFound);
    let run = scan(&server, &[]);
    assert!(
        matches!(run.code, 0 | 1),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let report = run.json();
    for kind in [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ] {
        let reason = skipped_of(&report, kind).unwrap_or_else(|| panic!("{kind} not skipped"));
        assert!(reason.contains("not served"), "{reason}");
        let spec = kubeharden::source::live::KINDS
            .iter()
            .find(|k| k.kind == kind)
            .expect("a kind kubeharden reads");
        assert_eq!(
            reason,
            format!(
                "not served by this API server (admissionregistration.k8s.io/v1 has no {})",
                spec.plural
            )
        );
    }
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["objects"], 1);
}

#[test]
fn server_errors_and_garbage_skip_one_kind_only() {
    let server = FakeApi::start();
    server.add(pod("shop", "root-shell", true));
    server.fault("roles", Fault::ServerError);
    server.fault("networkpolicies", Fault::Malformed);
    server.fault("jobs", Fault::Delay(std::time::Duration::from_millis(200)));
    let run = scan(&server, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let role = skipped_of(&report, "Role").expect("Role skipped");
    assert!(role.contains("500"), "{role}");
    let netpol = skipped_of(&report, "NetworkPolicy").expect("NetworkPolicy skipped");
    assert!(netpol.starts_with("malformed response"), "{netpol}");
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(2));
    assert_eq!(findings_of(&report, "KH-POD-101").len(), 1);
}

#[test]
fn namespace_flag_lists_namespaced_kinds_in_that_namespace() {
    let server = FakeApi::start();
    server.add(namespace("shop"));
    server.add(namespace("other"));
    server.add(pod("shop", "web", false));
    server.add(pod("other", "root-shell", true));
    let run = scan(&server, &["-n", "shop"]);
    assert!(
        matches!(run.code, 0 | 1),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["source"]["namespace"], "shop");
    assert!(findings_of(&report, "KH-POD-101").is_empty(), "{report:#}");
    // Two namespaces (cluster-scoped) and the one pod in shop.
    assert_eq!(report["objects"], 3);

    let log = server.log();
    assert_only_lists(&log);
    for kind in kubeharden::source::live::KINDS {
        let lists = lists_of(&log, kind.plural);
        assert_eq!(lists.len(), 1, "{}", kind.plural);
        let Route::List { namespace, .. } = &lists[0].route else {
            unreachable!()
        };
        if kind.namespaced {
            assert_eq!(namespace.as_deref(), Some("shop"), "{}", lists[0].path);
        } else {
            assert_eq!(namespace, &None, "{}", lists[0].path);
        }
    }
    assert!(
        log.iter().any(|r| r.path == "/api/v1/namespaces/shop/pods"),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|r| r.path == "/apis/apps/v1/namespaces/shop/deployments")
    );
    assert!(log.iter().any(|r| r.path == "/api/v1/namespaces"));
}

#[test]
fn context_flag_selects_the_context() {
    let server = FakeApi::start();
    server.add(pod("shop", "web", false));
    let dead_port = dead_port();
    let dead = dead_port.url.clone();
    let kubeconfig = server.write_kubeconfig(
        "two.kubeconfig",
        &[
            ("dead", "dead-cluster", &dead),
            ("fake", "fake-cluster", &server.url()),
        ],
        "dead",
    );
    let run = run_with(&kubeconfig, &["--context", "fake", "scan", "-o", "json"]);
    assert!(
        matches!(run.code, 0 | 1),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["source"]["context"], "fake");
    assert_eq!(report["source"]["cluster"], "fake-cluster");
    assert_eq!(report["objects"], 1);

    // Without --context the current (dead) one is used.
    let run = run_with(&kubeconfig, &["scan", "-o", "json"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
}

#[test]
fn json_source_names_context_cluster_and_server() {
    let server = FakeApi::start();
    let run = scan(&server, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.json()["source"],
        json!({
            "type": "cluster",
            "context": "kind-fake",
            "cluster": "kind-fake-cluster",
            "server": format!("http://127.0.0.1:{}", server.port()),
        })
    );
}

/// A URL where nothing listens: the port is bound but never listened on, so connecting
/// is refused, and no other test can take the port while the socket lives.
struct DeadPort {
    _socket: tokio::net::TcpSocket,
    url: String,
}

fn dead_port() -> DeadPort {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    DeadPort {
        _socket: socket,
        url: format!("http://127.0.0.1:{port}"),
    }
}

fn assert_one_error_line(run: &Run) -> &str {
    assert_eq!(
        run.code, 2,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert_eq!(run.stdout, "");
    let line = run
        .stderr
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("stderr does not end in a newline: {:?}", run.stderr));
    assert!(!line.contains('\n'), "more than one line: {:?}", run.stderr);
    assert!(line.starts_with("kubeharden: "), "{line}");
    line
}

#[test]
fn unreachable_server_is_one_line_and_exit_2() {
    let server = FakeApi::start();
    let dead_port = dead_port();
    let dead = dead_port.url.clone();
    let kubeconfig = server.write_kubeconfig("dead.kubeconfig", &[("dead", "dead", &dead)], "dead");
    let run = run_with(&kubeconfig, &["scan", "-o", "json"]);
    let line = assert_one_error_line(&run);
    assert!(line.contains(&dead), "{line}");
    // The cause, not just kube's "client error (Connect)".
    assert!(line.contains("Connection refused"), "{line}");
    assert!(!line.contains("ServiceError"), "{line}");
    run.assert_no_leaks();
}

#[test]
fn a_server_that_hangs_up_is_one_line_and_exit_2() {
    let server = FakeApi::start();
    server.add(pod("shop", "web", false));
    server.fault("pods", Fault::Hangup);
    let run = scan(&server, &[]);
    let line = assert_one_error_line(&run);
    assert!(line.contains(&server.url()), "{line}");
    assert!(line.contains("cannot list pods"), "{line}");
    run.assert_no_leaks();
}

#[test]
fn a_server_that_answers_404_to_everything_is_not_a_kubernetes_api_server() {
    let server = FakeApi::start();
    server.add(pod("shop", "web", false));
    for kind in kubeharden::source::live::KINDS {
        server.fault(kind.plural, Fault::NotFound);
    }
    let run = scan(&server, &[]);
    let line = assert_one_error_line(&run);
    assert!(line.contains("not a Kubernetes API server"), "{line}");
    assert!(line.contains(&server.url()), "{line}");
    run.assert_no_leaks();
}

#[test]
fn rejected_credentials_are_one_line_and_exit_2() {
    let server = FakeApi::start();
    server.add(pod("shop", "web", false));
    for kind in kubeharden::source::live::KINDS {
        server.fault(kind.plural, Fault::Unauthorized);
    }
    let run = scan(&server, &[]);
    let line = assert_one_error_line(&run);
    assert!(line.contains("unauthorized"), "{line}");
    assert!(line.contains(&server.url()), "{line}");
    run.assert_no_leaks();
    // The token was sent, as a bearer token, and nowhere else.
    let log = server.log();
    assert!(!log.is_empty());
    for r in &log {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {FAKE_TOKEN}").as_str())
        );
        assert!(!r.path.contains(FAKE_TOKEN) && r.query.iter().all(|(_, v)| v != FAKE_TOKEN));
    }
}

#[test]
fn missing_kubeconfig_file_is_one_line_naming_it_once() {
    let server = FakeApi::start();
    let path = server.dir().join("missing.kubeconfig");
    let run = run_with(&path, &["scan", "-o", "json"]);
    let line = assert_one_error_line(&run);
    let shown = path.display().to_string();
    assert_eq!(line.matches(&shown).count(), 1, "{line}");
    assert!(line.contains("No such file"), "{line}");
}

#[test]
fn a_repeated_continue_token_skips_the_kind_instead_of_looping() {
    let server = FakeApi::start();
    server.add_all((0..1234).map(|i| pod("shop", &format!("web-{i:04}"), i == 0)));
    server.fault("pods", Fault::RepeatContinue);
    let run = scan(&server, &[]);
    assert!(
        matches!(run.code, 0 | 1),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let report = run.json();
    let reason = skipped_of(&report, "Pod").expect("Pod skipped");
    assert!(reason.contains("continue token"), "{reason}");
    // Page 1 answers token A; page 2 (with A) answers A again: stop there.
    assert_eq!(server.requests_to("/api/v1/pods").len(), 2);
    assert_eq!(report["objects"], 0);
}

#[test]
fn broken_kubeconfig_is_one_line_naming_the_file() {
    let server = FakeApi::start();
    let path = server.dir().join("broken.kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: {FAKE_TOKEN}\n  \
             - broken: [\nclusters: {{{{\n"
        ),
    )
    .expect("write");
    let run = run_with(&path, &["scan", "-o", "json"]);
    let line = assert_one_error_line(&run);
    assert!(line.contains(&path.display().to_string()), "{line}");
    run.assert_no_leaks();
    assert!(server.log().is_empty());
}

#[test]
fn missing_context_is_one_line() {
    let server = FakeApi::start();
    let kubeconfig = server.kubeconfig("kind-fake");
    let run = run_with(&kubeconfig, &["--context", "nope", "scan", "-o", "json"]);
    let line = assert_one_error_line(&run);
    assert!(line.contains("nope"), "{line}");
    run.assert_no_leaks();
}

#[test]
fn expired_continue_token_restarts_the_list() {
    let server = FakeApi::start();
    server.add_all((0..1234).map(|i| pod("shop", &format!("web-{i:04}"), false)));
    server.fault("pods", Fault::GoneOnContinue(1));
    let run = scan(&server, &[]);
    assert!(
        matches!(run.code, 0 | 1),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    assert_eq!(run.json()["objects"], 1234);
    let pages = server.requests_to("/api/v1/pods");
    let has_token: Vec<bool> = pages
        .iter()
        .map(|p| p.param("continue").is_some())
        .collect();
    // page 1, page 2 (410 Gone), page 1 again, page 2, page 3.
    assert_eq!(has_token, [false, true, false, true, true]);
    assert!(pages.iter().all(|p| p.param("limit") == Some("500")));
}

#[test]
fn library_load_with_reads_the_fake_server() {
    use kubeharden::source::{SourceInfo, live};
    let server = FakeApi::start();
    server.add(namespace("shop"));
    server.add(pod("shop", "root-shell", true));
    server.add(secret("shop", "db-password"));
    // A broken server that ignores the metadata-only Accept header.
    server.fault("secrets", Fault::IgnoreMetadataAccept);
    server.fault("clusterroles", Fault::Forbidden);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url: http::Uri = server.url().parse().expect("url");
    // The client spawns its buffer task, so it is built inside the runtime.
    let client = {
        let _guard = runtime.enter();
        kube::Client::try_from(kube::Config::new(url)).expect("client")
    };
    let info = SourceInfo::Cluster {
        context: "lib".into(),
        cluster: "lib".into(),
        server: server.url(),
        namespace: None,
    };
    let loaded = runtime
        .block_on(live::load_with(client, info.clone(), None, &|_| {}))
        .expect("load");
    assert_eq!(loaded.info, info);
    let kinds: Vec<&str> = loaded.objects.iter().map(|o| o.kind()).collect();
    assert_eq!(kinds, ["Namespace", "Pod", "Secret"]);
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].kind, "ClusterRole");
    assert!(loaded.skipped[0].reason.starts_with("forbidden: "));

    let secret = &loaded.objects[2];
    assert_eq!(secret.raw["apiVersion"], "v1");
    assert!(secret.raw.get("data").is_none(), "{}", secret.raw);
    let annotations = &secret.raw["metadata"]["annotations"];
    assert_eq!(annotations, &json!({"team": "shop"}));
    let pod = &loaded.objects[1];
    assert_eq!(pod.raw["apiVersion"], "v1");
    assert_eq!(
        pod.raw["spec"]["containers"][0]["securityContext"]["privileged"],
        true
    );
    let secret_lists = lists_of(&server.log(), "secrets");
    assert_eq!(secret_lists.len(), 1);
    assert_eq!(secret_lists[0].accept(), Some(METADATA_LIST_ACCEPT));
}

#[test]
fn discovery_is_good_enough_for_kube_discovery() {
    let server = FakeApi::start();
    server.fault("validatingadmissionpolicies", Fault::NotFound);
    server.fault("validatingadmissionpolicybindings", Fault::NotFound);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url: http::Uri = server.url().parse().expect("url");
    let client = {
        let _guard = runtime.enter();
        kube::Client::try_from(kube::Config::new(url)).expect("client")
    };
    let discovery = runtime
        .block_on(kube::Discovery::new(client).run())
        .expect("discovery");
    let (deploy, caps) = discovery
        .get("apps")
        .and_then(|g| g.recommended_kind("Deployment"))
        .expect("apps/v1 Deployment");
    assert_eq!(deploy.plural, "deployments");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    let (pod, _) = discovery
        .get("")
        .and_then(|g| g.recommended_kind("Pod"))
        .expect("v1 Pod");
    assert_eq!(pod.api_version, "v1");
    let (crole, caps) = discovery
        .get("rbac.authorization.k8s.io")
        .and_then(|g| g.recommended_kind("ClusterRole"))
        .expect("ClusterRole");
    assert_eq!(crole.plural, "clusterroles");
    assert_eq!(caps.scope, kube::discovery::Scope::Cluster);
    // A group with nothing served is not advertised at all.
    assert!(!discovery.has_group("admissionregistration.k8s.io"));
    let paths: Vec<String> = server.log().into_iter().map(|r| r.path).collect();
    for p in ["/api", "/api/v1", "/apis", "/apis/apps/v1"] {
        assert!(paths.iter().any(|x| x == p), "{p} not requested: {paths:?}");
    }
    assert!(server.log().iter().all(|r| r.status == 200));
}
