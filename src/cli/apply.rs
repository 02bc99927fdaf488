//! `kubeharden apply`, `kubeharden rollback` and `kubeharden rbac`.

use super::{ApplyArgs, EXIT_FINDINGS, EXIT_OK, RollbackArgs, SourceArgs};
use crate::apply::{self, Confirm, Decision, Outcome, Report, RunOptions};
use crate::model::ObjRef;
use crate::source::{SourceInfo, SourceSpec};
use anyhow::{Context, bail};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code: the run needs a confirmation that could not be asked (no terminal, no --yes).
pub const EXIT_NOT_CONFIRMED: u8 = 3;

/// Asks on the terminal.
struct Prompt;

impl Confirm for Prompt {
    fn confirm(&mut self, number: usize, target: &ObjRef, context: &str) -> Decision {
        let q = format!(
            "apply {number:03} to {target} in context {context:?}? [y]es, [n]o, [a]ll, [q]uit: "
        );
        match Self::ask(&q).as_deref() {
            None | Some("q" | "quit") => Decision::Quit,
            Some("y" | "yes") => Decision::Yes,
            Some("a" | "all") => Decision::All,
            Some(_) => Decision::Skip,
        }
    }

    fn confirm_recreate(&mut self, number: usize, target: &ObjRef, context: &str) -> Decision {
        let q = format!(
            "{number:03} DELETES {target} in context {context:?} and creates it again from \
             the bundle (its containers restart)? [y]es, [n]o, [q]uit: "
        );
        match Self::ask(&q).as_deref() {
            None | Some("q" | "quit") => Decision::Quit,
            Some("y" | "yes") => Decision::Yes,
            Some(_) => Decision::Skip,
        }
    }
}

impl Prompt {
    fn ask(question: &str) -> Option<String> {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question}");
        let _ = err.flush();
        let mut answer = String::new();
        match std::io::stdin().lock().read_line(&mut answer) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(answer.trim().to_ascii_lowercase()),
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn cluster_options(source: &SourceArgs) -> anyhow::Result<crate::source::ClusterOptions> {
    match source.spec() {
        SourceSpec::Cluster(opts) => Ok(opts),
        _ => bail!("apply and rollback write to a live cluster: drop --demo and -f"),
    }
}

/// Prints the summary and returns the exit code.
fn summary(reports: &[Report], what: &str) -> u8 {
    let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    let failed = count(Outcome::Failed);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\n{what}: {} applied, {} already in place, {} dry run only, {} skipped, {} failed, {} by hand",
        count(Outcome::Applied),
        count(Outcome::AlreadyApplied),
        count(Outcome::DryRun),
        count(Outcome::Skipped),
        failed,
        count(Outcome::Manual),
    );
    for r in reports.iter().filter(|r| r.outcome == Outcome::Failed) {
        let _ = writeln!(err, "  failed {:03} {}: {}", r.number, r.target, r.message);
    }
    if failed > 0 { EXIT_FINDINGS } else { EXIT_OK }
}

fn ctrl_c_flag(rt: &tokio::runtime::Runtime) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            let _ = writeln!(
                std::io::stderr(),
                "\nkubeharden: stopping after the current change (the log is kept)"
            );
        }
    });
    stop
}

fn context_name(info: &SourceInfo) -> String {
    match info {
        SourceInfo::Cluster { context, .. } => context.clone(),
        other => other.to_string(),
    }
}

/// What `apply` and `rollback` share: read the bundle, connect (without kube's own retries:
/// the engine retries with its own bounds), decide how confirmations are answered, run, and
/// turn the reports into a summary and an exit code.
fn drive(
    source: &SourceArgs,
    bundle_dir: &std::path::Path,
    which: apply::Direction,
    mut opts: RunOptions,
    yes: bool,
) -> anyhow::Result<u8> {
    let bundle = crate::bundle::read(bundle_dir)?;
    if !bundle.edited.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "kubeharden: note: edited since written: {}",
            bundle.edited.join(", ")
        );
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let cluster = cluster_options(source)?;
    let rt = runtime()?;
    let conn = rt.block_on(crate::source::live::connect_with(&cluster, false))?;
    let stop = ctrl_c_flag(&rt);
    // Without a terminal and without --yes nothing can be confirmed: dry runs only.
    let unconfirmable = !yes && !opts.dry_run && !interactive;
    opts.dry_run |= unconfirmable;
    opts.context = context_name(&conn.info);
    let mut confirm: Box<dyn Confirm> = if yes {
        Box::new(apply::AssumeYes)
    } else {
        Box::new(Prompt)
    };
    let mut err = std::io::stderr().lock();
    let what = which.name();
    let _ = writeln!(
        err,
        "kubeharden: {what} {} ({} changes) on {}",
        bundle_dir.display(),
        bundle.remediations.len(),
        conn.info
    );
    let reports = rt
        .block_on(apply::run(
            which,
            conn.client,
            &bundle,
            &opts,
            confirm.as_mut(),
            stop,
            &mut err,
        ))
        .map_err(anyhow::Error::msg)?;
    drop(err);
    let code = summary(&reports, what);
    if unconfirmable {
        let _ = writeln!(
            std::io::stderr(),
            "kubeharden: not confirmed: no terminal to ask and no --yes; dry runs only, nothing was written"
        );
        return Ok(if code == EXIT_OK {
            EXIT_NOT_CONFIRMED
        } else {
            code
        });
    }
    Ok(code)
}

/// `kubeharden apply BUNDLE`.
pub fn run_apply(source: &SourceArgs, args: &ApplyArgs) -> anyhow::Result<u8> {
    let opts = RunOptions {
        dry_run: args.dry_run,
        only: args.only.clone(),
        force_conflicts: args.force_conflicts,
        allow_recreate: args.allow_recreate,
        ..RunOptions::default()
    };
    drive(
        source,
        &args.bundle,
        apply::Direction::Apply,
        opts,
        args.yes,
    )
}

/// `kubeharden rollback BUNDLE`.
pub fn run_rollback(source: &SourceArgs, args: &RollbackArgs) -> anyhow::Result<u8> {
    let opts = RunOptions {
        dry_run: args.dry_run,
        force_conflicts: args.force_conflicts,
        allow_recreate: args.allow_recreate,
        ..RunOptions::default()
    };
    drive(
        source,
        &args.bundle,
        apply::Direction::Rollback,
        opts,
        args.yes,
    )
}

/// `kubeharden rbac`.
pub fn run_rbac() -> u8 {
    let _ = std::io::stdout()
        .lock()
        .write_all(apply::rbac_yaml().as_bytes());
    EXIT_OK
}
