//! Command-line interface: flags (kubectl conventions), subcommands, exit codes.

pub mod apply;
pub mod fix;
pub mod scan;

use crate::model::{Area, Severity};
use crate::source::{ClusterOptions, SourceSpec};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Exit code: nothing at or above `--fail-on`.
pub const EXIT_OK: u8 = 0;
/// Exit code: findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: an error (bad input, unreachable cluster, bad usage).
pub const EXIT_ERROR: u8 = 2;

/// Find, fix, dry-run and apply Kubernetes hardening in one terminal program.
///
/// With no subcommand, kubeharden opens the guided terminal UI on the chosen source.
/// Without --demo or -f it reads the live cluster of the current kubeconfig context.
#[derive(Debug, Parser)]
#[command(name = "kubeharden", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Examples:\n  kubeharden --demo                     open the TUI on the embedded demo cluster\n  kubeharden scan -f manifests/          scan a folder of manifests\n  kubeharden scan --context prod -o json scan a live cluster, JSON output\n  kubectl get deploy -A -o yaml | kubeharden scan -f -"
)]
pub struct Cli {
    /// Where to read objects from.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Configuration and extra inputs of the checks.
    #[command(flatten)]
    pub checks: CheckArgs,

    /// TUI on a live cluster: read the cluster again every this many seconds (e.g. 30s)
    /// and update the findings, keeping the selection.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, num_args = 0..=1, default_missing_value = "30s")]
    pub watch: Option<Duration>,

    /// When to use colour: auto (a terminal and no NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// What to do; without one, the TUI opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Source flags, shared by the TUI and every subcommand.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Use the demo cluster embedded in the binary (no cluster needed).
    #[arg(long, global = true, conflicts_with = "filename")]
    pub demo: bool,

    /// Manifests to read: a file, a folder (recursive: .yaml, .yml, .json) or - for stdin.
    /// Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH", global = true)]
    pub filename: Vec<String>,

    /// With -f: a document that cannot be parsed is an error (exit 2) instead of a warning.
    #[arg(long, global = true)]
    pub strict: bool,

    /// With -f: the largest file read, in MiB; larger files are skipped with a warning.
    #[arg(long, value_name = "MIB", global = true, default_value_t = crate::source::files::DEFAULT_MAX_FILE_MIB)]
    pub max_file_size: u64,

    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH", global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,

    /// Read namespaced objects from this namespace only (default: all namespaces).
    #[arg(short = 'n', long, value_name = "NAME", global = true)]
    pub namespace: Option<String>,

    /// Read all namespaces (the default; overrides -n, as in kubectl).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,

    /// How long to wait for one API request, e.g. 30s, 1m, 500ms; 0 waits forever.
    #[arg(long, value_name = "DURATION", global = true, value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,
}

impl SourceArgs {
    /// The source these flags describe.
    pub fn spec(&self) -> SourceSpec {
        if self.demo {
            SourceSpec::Demo
        } else if !self.filename.is_empty() {
            SourceSpec::Files {
                paths: self.filename.clone(),
                max_file_mib: self.max_file_size,
            }
        } else {
            SourceSpec::Cluster(ClusterOptions {
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
                namespace: if self.all_namespaces {
                    None
                } else {
                    self.namespace.clone()
                },
                request_timeout: self.request_timeout.filter(|d| !d.is_zero()),
            })
        }
    }
}

/// Flags that change what the checks judge.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Configuration file (default: $KUBEHARDEN_CONFIG, then config.yaml in the user's
    /// config directory, e.g. ~/.config/kubeharden/config.yaml).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Trusted image registries or prefixes, comma-separated (added to the config's
    /// allowedRegistries): `registry.example.com` (that host) or `ghcr.io/acme/` (a prefix).
    #[arg(long, value_name = "LIST", value_delimiter = ',', global = true)]
    pub allowed_registries: Vec<String>,

    /// An EncryptionConfiguration file to judge (as used with the API server's
    /// --encryption-provider-config). Key material in it is never shown or written.
    #[arg(long, value_name = "FILE", global = true)]
    pub encryption_config: Option<PathBuf>,

    /// The Pod Security Standards version the per-control pod checks judge at: latest or
    /// v1.N (v1.0 … v1.37), as a namespace's enforce-version label pins it. A namespace's own
    /// enforce decision (KH-POD-004) always follows its label.
    #[arg(long, value_name = "VERSION", default_value = "latest", global = true)]
    pub pss_version: crate::checks::pss::PolicyVersion,
}

impl CheckArgs {
    /// Reads the configuration and the encryption file into the checks' settings.
    pub fn settings(&self) -> anyhow::Result<crate::checks::Settings> {
        let (mut config, _) = crate::config::Config::load(self.config.as_deref())?;
        config.allowed_registries.extend(
            self.allowed_registries
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty()),
        );
        let encryption = match &self.encryption_config {
            Some(path) => Some(read_encryption_config(path)?),
            None => None,
        };
        Ok(crate::checks::Settings {
            config,
            today: crate::config::today(),
            encryption,
            cluster: false,
            pss_version: self.pss_version,
        })
    }
}

fn read_encryption_config(
    path: &std::path::Path,
) -> anyhow::Result<crate::model::encryption::EncryptionConfig> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{shown}: {}", crate::source::files::io_reason(&e)))?;
    let docs = crate::model::yaml::parse_any(&text);
    let doc = match docs.into_iter().next() {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            anyhow::bail!("{shown}: line {}: {}", e.line.unwrap_or(0), e.message)
        }
        None => anyhow::bail!("{shown}: empty file"),
    };
    crate::model::encryption::EncryptionConfig::from_value(&shown, &doc.value)
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan the source and print the findings as a table or JSON.
    ///
    /// Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 an error.
    Scan(ScanArgs),
    /// Write the remediations for the findings as a bundle: numbered YAML files, a
    /// kustomization.yaml, JSON patches, findings.json, manifest.json and a README.
    ///
    /// Nothing is sent to a cluster. Review the bundle, then apply it with kubectl (see its
    /// README) or `kubeharden apply`. Prove it offline with `scan --with-bundle DIR`.
    /// Exit codes: 0 written, 2 an error (nothing written).
    Fix(FixArgs),
    /// Apply a bundle to the live cluster of the kubeconfig context, change by change:
    /// backup, server-side dry run (diff and warnings shown), confirmation, write, read
    /// back and re-check. Resumes where a previous run stopped (BUNDLE/apply-log.jsonl).
    ///
    /// Exit codes: 0 done, 1 a change failed, 2 an error, 3 not confirmed (no terminal
    /// and no --yes: dry runs only, nothing written).
    Apply(ApplyArgs),
    /// Undo the changes of a bundle that `apply` made, newest first, from BUNDLE/backup:
    /// dry run, confirmation, then the restore (objects the bundle created are deleted).
    ///
    /// Exit codes as for apply.
    Rollback(RollbackArgs),
    /// Print the ClusterRoles kubeharden needs: read-only for scan, and the extra verbs of
    /// apply and rollback.
    Rbac,
    /// List every check: ID, area, severity, title (markdown: the docs/checks.md catalogue).
    Checks {
        /// Output format.
        #[arg(short = 'o', long = "format", visible_alias = "output", value_enum, default_value_t = ChecksFormat::Table)]
        format: ChecksFormat,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Flags of `scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Output format.
    #[arg(short = 'o', long = "format", visible_alias = "output", value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Only these areas (repeatable): api-access, encryption, pod-security, images, network.
    #[arg(long, value_name = "AREA", value_parser = parse_area)]
    pub area: Vec<Area>,

    /// Exit 1 when a finding is at or above this severity: info, low, medium, high, critical.
    #[arg(long, value_name = "SEVERITY", default_value = "low", value_parser = parse_severity)]
    pub fail_on: Severity,

    /// Re-scan with the bundle's changes merged in locally and report which fixable
    /// findings it clears and whether it introduces any. Exit 1 when it introduces a
    /// finding it does not declare.
    #[arg(long, value_name = "DIR")]
    pub with_bundle: Option<PathBuf>,
}

/// Flags of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The bundle folder written by `kubeharden fix`.
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Confirm every change without asking.
    #[arg(long)]
    pub yes: bool,
    /// Stop after the server-side dry run of every change: nothing is written.
    #[arg(long)]
    pub dry_run: bool,
    /// Only these changes, by number (comma-separated), e.g. 1,4,7.
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    pub only: Vec<usize>,
    /// Take over fields another field manager owns (server-side apply force).
    #[arg(long)]
    pub force_conflicts: bool,
    /// Let --yes (or "all") cover the changes that delete an object and create it again
    /// (a bare Pod or Job the server cannot change in place); without it each is asked on
    /// its own, and skipped under --yes.
    #[arg(long)]
    pub allow_recreate: bool,
}

/// Flags of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The bundle folder whose applied changes to undo.
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Confirm every restore without asking.
    #[arg(long)]
    pub yes: bool,
    /// Stop after the server-side dry runs: nothing is written.
    #[arg(long)]
    pub dry_run: bool,
    /// Take back fields another field manager took since the apply.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Let --yes cover re-creating an object from its backup (a change that deleted and
    /// re-created it); without it each is asked on its own, and skipped under --yes.
    #[arg(long)]
    pub allow_recreate: bool,
}

/// Flags of `fix`.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// The folder to write the bundle to (refused when it exists and is not empty, unless
    /// --force).
    #[arg(long, value_name = "DIR", required_unless_present = "stdout")]
    pub out: Option<PathBuf>,

    /// Print the changes as one multi-document YAML on stdout instead of writing a bundle.
    #[arg(long, conflicts_with_all = ["out", "force"])]
    pub stdout: bool,

    /// Replace an existing non-empty --out folder.
    #[arg(long)]
    pub force: bool,

    /// Only findings of these areas (repeatable): api-access, encryption, pod-security,
    /// images, network.
    #[arg(long, value_name = "AREA", value_parser = parse_area)]
    pub area: Vec<Area>,

    /// Only findings of these checks (repeatable, or comma-separated), e.g. KH-POD-201.
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub check: Vec<String>,

    /// Only findings at or above this severity.
    #[arg(long, value_name = "SEVERITY", default_value = "info", value_parser = parse_severity)]
    pub min_severity: Severity,

    /// The admission engine for the trusted-registry policy (KH-IMG-005).
    #[arg(long, value_enum, default_value_t = crate::remediate::PolicyEngine::Vap)]
    pub policy_engine: crate::remediate::PolicyEngine,

    /// Namespaces whose pods need open egress (comma-separated): they get a default deny
    /// plus an allowance of everything but the metadata endpoint and private ranges,
    /// instead of a default deny with DNS only.
    #[arg(long, value_name = "NS", value_delimiter = ',')]
    pub open_egress: Vec<String>,
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable table.
    Table,
    /// JSON (schema in the README).
    Json,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
}

/// Output formats of `checks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChecksFormat {
    /// Human-readable table.
    Table,
    /// A JSON array, one object per check.
    Json,
    /// Markdown, as in docs/checks.md.
    Markdown,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal unless NO_COLOR is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether the output is a terminal.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

fn parse_area(s: &str) -> Result<Area, String> {
    s.parse()
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

/// kubectl-style durations: `30s`, `1m`, `1m30s`, `500ms`, `2h`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("invalid duration {s:?}: missing unit (s, m, h, ms)"))?;
        let (num, tail) = rest.split_at(digits);
        let value: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let secs = match unit {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += Duration::from_secs_f64(secs);
        rest = next;
    }
    Ok(total)
}

/// The `checks` listing.
pub fn checks_listing(format: ChecksFormat) -> String {
    use crate::checks::CHECKS;
    match format {
        ChecksFormat::Markdown => checks_markdown(),
        ChecksFormat::Json => {
            let mut s = serde_json::to_string_pretty(CHECKS).unwrap_or_default();
            s.push('\n');
            s
        }
        ChecksFormat::Table => {
            let mut out = format!(
                "{:<12} {:<13} {:<9} {:<8} TITLE\n",
                "ID", "AREA", "SEVERITY", "FIXABLE"
            );
            for c in CHECKS {
                out.push_str(&format!(
                    "{:<12} {:<13} {:<9} {:<8} {}\n",
                    c.id,
                    c.area.key(),
                    c.severity.key(),
                    if c.fixable { "yes" } else { "no" },
                    c.title
                ));
            }
            out
        }
    }
}

fn checks_markdown() -> String {
    use crate::checks::CHECKS;
    use crate::model::Area;
    let mut out = String::from(
        "# Check catalogue\n\nGenerated by `kubeharden checks --format markdown`; CI fails when this file is stale.\n\
         Fix: `yes` when `kubeharden fix` writes a remediation for its findings (see remediations/), \
         `manual` for a host file with steps.\n\
         IDs are stable: a retired ID is never reused.\n",
    );
    for area in Area::ALL {
        let defs: Vec<_> = CHECKS.iter().filter(|c| c.area == area).collect();
        out.push_str(&format!(
            "\n## {} (`{}`), {} checks\n\n",
            area.title(),
            area.key(),
            defs.len()
        ));
        out.push_str(
            "| ID | Severity | PSS | Fix | Title | References |\n|---|---|---|---|---|---|\n",
        );
        for c in &defs {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                c.id,
                c.severity,
                c.pss.map_or("", |p| p.key()),
                if c.fixable {
                    "yes"
                } else if crate::remediate::template::all().iter().any(|t| t
                    .template
                    .fixes
                    .iter()
                    .any(|f| f == c.id))
                {
                    "manual"
                } else {
                    "no"
                },
                c.title.replace('|', "\\|"),
                c.references.join("; ").replace('|', "\\|")
            ));
        }
        for c in &defs {
            out.push_str(&format!("\n### {}: {}\n\n{}\n", c.id, c.title, c.rationale));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_kubectl_writes_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
