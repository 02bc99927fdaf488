//! Shared helpers.

use kubeharden::engine;
use kubeharden::model::Inventory;
use kubeharden::report::Scan;
use kubeharden::source::{self, Loaded};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's test fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Loads paths as `-f` does (no stdin).
pub fn load_files(paths: &[&Path]) -> Loaded {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    source::files::load(&paths, &mut std::io::empty()).unwrap()
}

/// Loads text as if it came from stdin.
pub fn load_stdin(text: &str) -> Loaded {
    source::files::load(&["-".to_string()], &mut text.as_bytes()).unwrap()
}

/// Scans a loaded source with every check.
pub fn scan(loaded: Loaded) -> (Inventory, Scan) {
    engine::evaluate(loaded, &[], false).unwrap()
}

/// Runs the real binary.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubeharden"));
    cmd.args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}
