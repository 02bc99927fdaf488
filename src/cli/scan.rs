//! `kubeharden scan`.

use super::{CheckArgs, EXIT_FINDINGS, EXIT_OK, Format, ScanArgs, SourceArgs};
use crate::engine;
use crate::report;
use anyhow::Context;
use std::io::{IsTerminal, Write};

/// Runs a scan and prints it; returns the exit code.
pub fn run(source: &SourceArgs, checks: &CheckArgs, args: &ScanArgs) -> anyhow::Result<u8> {
    let spec = source.spec();
    let settings = checks.settings()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let show_progress = std::io::stderr().is_terminal();
    let progress = move |p: crate::source::Progress| {
        if show_progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2Kreading {} ({}/{} kinds, {} objects)",
                p.what, p.done, p.total, p.objects
            );
            let _ = err.flush();
        }
    };
    let stdin: Option<Box<dyn std::io::Read + Send>> = Some(Box::new(std::io::stdin()));
    let loaded = runtime.block_on(engine::load(&spec, stdin, &progress));
    if show_progress && matches!(spec, crate::source::SourceSpec::Cluster(_)) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
    }
    let (inventory, scan) = engine::evaluate_with(loaded?, &args.area, source.strict, &settings)?;
    // Freeing a large inventory object by object takes a tenth of a big scan; the process
    // ends right after the report, so let the OS reclaim it.
    std::mem::forget(inventory);
    {
        let mut err = std::io::stderr().lock();
        for p in &scan.problems {
            let _ = writeln!(err, "kubeharden: warning: {p}");
        }
    }
    let text = match args.format {
        Format::Table => report::table(&scan),
        Format::Json => report::json(&scan),
        Format::Sarif => report::sarif(&scan),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("cannot write the report");
        }
    }
    let failing = scan
        .results
        .findings
        .iter()
        .any(|f| f.waived.is_none() && f.severity >= args.fail_on);
    Ok(if failing { EXIT_FINDINGS } else { EXIT_OK })
}
