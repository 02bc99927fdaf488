//! End to end: the real binary in tmux against the fake API server, driven by keys:
//! overview → area → finding → remediation → d (server dry run) → y (apply) → the finding
//! is fixed on the server, and the terminal is restored after q.

use crate::fake_api::FakeApi;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub session: String,
}

impl Tmux {
    /// A detached 140x45 session running `command`, kept on screen after it exits.
    pub fn start(session: String, command: &str) -> Tmux {
        let tmux = Tmux { session };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            "140",
            "-y",
            "45",
            command,
        ]);
        tmux.run(&["set-option", "-t", &tmux.session, "remain-on-exit", "on"]);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux must be installed");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", &self.session, k]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Waits until the screen shows `text`; the screen on failure.
    pub fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "waited for {text:?}; the screen is:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
    }
}

#[test]
fn a_user_fixes_a_finding_from_the_tui_against_a_live_cluster() {
    let server = FakeApi::start();
    for o in kubeharden::source::demo::load().objects {
        server.add(o.raw);
    }
    let kubeconfig = server.kubeconfig("e2e");
    // The row of the first fixable pod-security finding, as the TUI orders them.
    let (_, scan) = kubeharden::engine::evaluate(kubeharden::source::demo::load(), &[], false)
        .expect("demo scan");
    let row = scan
        .results
        .in_area(kubeharden::model::Area::PodSecurity)
        .position(|f| f.fixable)
        .expect("a fixable finding");
    let target = scan
        .results
        .in_area(kubeharden::model::Area::PodSecurity)
        .nth(row)
        .map(|f| (f.object.clone(), f.path.clone()))
        .expect("the finding");
    assert_eq!(target.0.to_string(), "Deployment payments/api");

    let home = server.dir().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let session = format!("kh-e2e-{}", std::process::id());
    let command = format!(
        "env HOME={home} XDG_DATA_HOME={home}/data KUBECONFIG= {bin} --kubeconfig {kc}",
        home = home.display(),
        bin = env!("CARGO_BIN_EXE_kubeharden"),
        kc = kubeconfig.display()
    );
    let tmux = Tmux::start(session, &command);
    tmux.wait_for("Overview");
    tmux.wait_for("objects");
    tmux.keys(&["3"]);
    tmux.wait_for("Pod security");
    for _ in 0..row {
        tmux.keys(&["j"]);
    }
    tmux.keys(&["Enter"]);
    tmux.wait_for("Pod security · finding");
    tmux.keys(&["f"]);
    tmux.wait_for("Change 1/");
    tmux.keys(&["d"]);
    let s = tmux.wait_for("dry run passed");
    assert!(s.contains("Server dry run"), "{s}");
    let dry_runs = server
        .writes()
        .iter()
        .filter(|w| w.param("dryRun") == Some("All"))
        .count();
    assert!(dry_runs >= 1);
    assert!(
        server
            .writes()
            .iter()
            .all(|w| w.param("dryRun") == Some("All")),
        "d writes nothing"
    );
    tmux.keys(&["y"]);
    tmux.wait_for("confirm");
    tmux.keys(&["y"]);
    tmux.wait_for("applied 1, failed 0");
    let s = tmux.wait_for("Results of the last run");
    assert!(s.contains("Applied"), "{s}");
    tmux.keys(&["Escape"]);
    // On the server: the init container is no longer privileged.
    let api = server
        .object("deployments", Some("payments"), "api")
        .expect("the deployment");
    assert_eq!(
        api["spec"]["template"]["spec"]["initContainers"][0]["securityContext"]["privileged"],
        false
    );
    // After the rescan the finding is gone from the table.
    tmux.wait_for("scanned");
    let start = Instant::now();
    loop {
        let s = tmux.screen();
        if !s.contains("rescanning") && !s.contains("init container \"setup\" runs privileged") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still reported:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // u rolls the change back on the server, from the backup.
    tmux.keys(&["u"]);
    tmux.wait_for("rolled back: 1 restored, 0 failed");
    tmux.keys(&["Escape"]);
    let api = server
        .object("deployments", Some("payments"), "api")
        .expect("the deployment");
    assert_eq!(
        api["spec"]["template"]["spec"]["initContainers"][0]["securityContext"]["privileged"],
        true
    );
    tmux.keys(&["q"]);
    let start = Instant::now();
    loop {
        let dead = tmux.run(&["display-message", "-p", "-t", &tmux.session, "#{pane_dead}"]);
        if dead.trim() == "1" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the TUI did not quit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The terminal is restored: the alternate screen is off and the TUI is gone from it.
    let alt = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        &tmux.session,
        "#{alternate_on}",
    ]);
    assert_eq!(alt.trim(), "0");
    assert!(
        !tmux.screen().contains("Pod security · "),
        "{}",
        tmux.screen()
    );
    let _ = target;
}
