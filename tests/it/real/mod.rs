//! Tests against a real kube-apiserver and etcd (`tests/cluster/`): Kubernetes itself is the
//! oracle for writes, Pod Security, RBAC and admission policies.
//!
//! [`shared`] is one server for the whole test binary; tests that use it work in namespaces and
//! cluster-scoped names of their own ([`Cluster::namespace`], [`unique`]). A test that needs a
//! cluster to itself (a whole-cluster scan compared with the demo) starts a [`dedicated`] one,
//! stopped when it is dropped. Both stop by themselves when the test process ends (the
//! control plane's watchdog), so an interrupted run leaves nothing behind.
//!
//! Without Go the tests skip with one line on stderr; with `CI=true` a server that cannot be
//! built or started fails them. `KH_TEST_CLUSTER=DIR` uses a server `tests/cluster/start DIR`
//! already started (as `.ci/run` does).

#![allow(dead_code)] // helpers the real-server tests share; not every one uses each

mod admission;
mod demo;
mod immutable;
mod managers;
mod pss;
mod rbac;
mod rbac_roles;
mod rollback_patch;
mod roundtrip;
mod scan;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running control plane.
pub struct Cluster {
    /// Its folder: kubeconfig, tokens, audit log, the processes' logs.
    pub dir: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The admin kubeconfig (`system:masters`).
    pub kubeconfig: PathBuf,
    tokens: BTreeMap<String, String>,
    owned: bool,
    _tmp: Option<tempfile::TempDir>,
}

/// One of the token file's identities, with a kubeconfig of its own.
pub struct Identity {
    /// The user name the server authenticates (and the audit log records).
    pub user: String,
    /// A kubeconfig for this user alone.
    pub kubeconfig: PathBuf,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Says once, visibly (libtest does not capture a direct write to stderr), why the real-server
/// tests are skipped; in CI a missing server is a failure instead.
fn unavailable(why: &str) -> Option<&'static Cluster> {
    static SAID: OnceLock<()> = OnceLock::new();
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the real API server is required in CI: {why}"
    );
    SAID.get_or_init(|| {
        let _ = writeln!(
            std::io::stderr(),
            "kubeharden tests: real API server tests skipped: {why}"
        );
    });
    None
}

/// The shared server, started on first use; `None` (the test returns) where it cannot be had
/// outside CI.
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
    let c = SHARED.get_or_init(|| match std::env::var_os("KH_TEST_CLUSTER") {
        Some(dir) => Cluster::attach(PathBuf::from(dir)),
        None => Cluster::start(),
    });
    match c {
        Ok(c) => Some(c),
        Err(e) => unavailable(e),
    }
}

/// A server of the test's own, stopped when dropped.
pub fn dedicated() -> Option<Cluster> {
    shared()?;
    match Cluster::start() {
        Ok(c) => Some(c),
        Err(e) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{e}");
            unavailable(&e);
            None
        }
    }
}

/// The shared server or an early return from the test.
#[macro_export]
macro_rules! real_cluster {
    () => {
        match $crate::real::shared() {
            Some(c) => c,
            None => return,
        }
    };
}

/// A name no other test (or run of this test) uses: `prefix-N-PID`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        N.fetch_add(1, Ordering::Relaxed),
        std::process::id() % 100_000
    )
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        if Command::new("go").arg("version").output().is_err() {
            return Err("go is not on the PATH (it builds kube-apiserver and etcd)".into());
        }
        let tmp = tempfile::Builder::new()
            .prefix("kh-cluster-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let out = Command::new(repo().join("tests/cluster/start"))
            .arg(tmp.path())
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("tests/cluster/start: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tests/cluster/start failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let mut c = Cluster::attach(tmp.path().to_path_buf())?;
        c.owned = true;
        c._tmp = Some(tmp);
        Ok(c)
    }

    fn attach(dir: PathBuf) -> Result<Cluster, String> {
        let env = std::fs::read_to_string(dir.join("env"))
            .map_err(|e| format!("{}: {e} (is the control plane started?)", dir.display()))?;
        let server = env
            .lines()
            .find_map(|l| l.strip_prefix("SERVER="))
            .ok_or("no SERVER in env")?
            .to_string();
        let tokens = std::fs::read_to_string(dir.join("tokens.csv"))
            .map_err(|e| e.to_string())?
            .lines()
            .filter_map(|l| {
                let mut parts = l.split(',');
                let token = parts.next()?;
                Some((parts.next()?.to_string(), token.to_string()))
            })
            .collect();
        Ok(Cluster {
            kubeconfig: dir.join("kubeconfig"),
            dir,
            server,
            tokens,
            owned: false,
            _tmp: None,
        })
    }

    /// A kubeconfig for `user` (a name from the token file).
    pub fn user(&self, user: &str) -> Identity {
        let token = self
            .tokens
            .get(user)
            .unwrap_or_else(|| panic!("no token for {user}"));
        let dir = self.dir.join("users");
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join(format!("{user}.kubeconfig"));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n  - name: kh-test\n    cluster:\n      server: {}\n      certificate-authority: {}\nusers:\n  - name: {user}\n    user:\n      token: {token}\ncontexts:\n  - name: kh-test-{user}\n    context:\n      cluster: kh-test\n      user: {user}\ncurrent-context: kh-test-{user}\n",
            self.server,
            self.dir.join("pki/ca.crt").display()
        );
        std::fs::write(&kubeconfig, text).unwrap();
        Identity {
            user: user.to_string(),
            kubeconfig,
        }
    }

    /// A cluster admin (`system:masters`) no other test of this process uses, so that the audit
    /// log tells its requests apart.
    pub fn admin(&self) -> Identity {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 64, "the token file has 64 admin identities");
        self.user(&format!("admin-{n:02}"))
    }

    /// A user with no permissions of its own (`user-NN`), distinct per call.
    pub fn plain_user(&self) -> Identity {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 64, "the token file has 64 plain identities");
        self.user(&format!("user-{n:02}"))
    }

    /// `kubectl` as the admin.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        kubectl(&self.kubeconfig, args, stdin)
    }

    /// `kubectl` as the admin, which must succeed; its stdout.
    pub fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.kubectl(args, stdin);
        assert!(
            o.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// An object as JSON (`kubectl get -o json`), or `None` when it does not exist.
    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let mut args = vec!["get", resource, name, "-o", "json", "--show-managed-fields"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let o = self.kubectl(&args, None);
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("NotFound") || err.contains("not found"),
                "{err}"
            );
            return None;
        }
        Some(serde_json::from_slice(&o.stdout).unwrap())
    }

    /// A new namespace with its `default` ServiceAccount (no controller makes it here), and
    /// `labels`.
    pub fn namespace(&self, prefix: &str, labels: &[(&str, &str)]) -> String {
        let name = unique(prefix);
        let labels: String = labels
            .iter()
            .map(|(k, v)| format!("    {k}: \"{v}\"\n"))
            .collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("  labels:\n{labels}")
        };
        self.kubectl_ok(
            &["create", "-f", "-"],
            Some(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n{labels}---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: {name}\n"
            )),
        );
        name
    }

    /// The audit events of `user`'s requests, in the order the server answered them.
    pub fn audit(&self, user: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["user"]["username"] == user && e["stage"] == "ResponseComplete")
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new(repo().join("tests/cluster/stop"))
                .arg(&self.dir)
                .status();
        }
    }
}

/// `kubectl --kubeconfig KUBECONFIG args`, with `stdin`.
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl on the PATH");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

#[test]
fn the_server_is_real_and_answers_as_kubernetes() {
    let c = real_cluster!();
    let version = c.kubectl_ok(&["get", "--raw", "/version"], None);
    let version: Value = serde_json::from_str(&version).unwrap();
    assert!(
        version["gitVersion"].as_str().unwrap().starts_with("v1."),
        "{version}"
    );
    // Pods need their namespace's default ServiceAccount, as on a real cluster.
    let ns = c.namespace(
        "kh-smoke",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    );
    let o = c.kubectl(
        &["-n", &ns, "run", "p", "--image=nginx", "--dry-run=server"],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("violates PodSecurity \"restricted:latest\""),
        "{err}"
    );
    // A user with no grants is refused.
    let nobody = c.plain_user();
    let o = kubectl(&nobody.kubeconfig, &["get", "pods", "-n", &ns], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("forbidden"));
    assert!(
        !c.audit(&nobody.user).is_empty(),
        "the audit log records every request"
    );
}
