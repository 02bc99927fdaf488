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
    // A progress bar on stderr for long loads, only when stderr is a terminal: shown once a
    // load has taken more than half a second, so small inputs never flash one.
    let bar = indicatif::ProgressBar::with_draw_target(
        None,
        if std::io::stderr().is_terminal() {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let progress = |p: crate::source::Progress| {
        if started.elapsed() < std::time::Duration::from_millis(500) {
            return;
        }
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        let unit = if matches!(spec, crate::source::SourceSpec::Cluster(_)) {
            "kinds"
        } else {
            "files"
        };
        bar.set_message(format!("reading {unit}: {} objects", p.objects));
    };
    let stdin: Option<Box<dyn std::io::Read + Send>> = Some(Box::new(std::io::stdin()));
    let loaded = runtime.block_on(engine::load(&spec, stdin, &progress));
    bar.finish_and_clear();
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
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = match args.format {
        Format::Table => out.write_all(report::table(&scan).as_bytes()),
        Format::Json => report::write_json(&scan, &mut out),
        Format::Sarif => out.write_all(report::sarif(&scan).as_bytes()),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
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
