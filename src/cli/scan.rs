//! `kubeharden scan`.

use super::{CheckArgs, EXIT_FINDINGS, EXIT_OK, Format, ScanArgs, SourceArgs};
use crate::checks::Settings;
use crate::engine;
use crate::model::{Area, Inventory};
use crate::report::{self, Scan};
use anyhow::Context;
use std::io::{IsTerminal, Write};

/// Loads the source and runs the checks of `areas`, with a progress bar on stderr for long
/// loads (only when stderr is a terminal) and the load's warnings printed there.
pub fn load(
    source: &SourceArgs,
    settings: &Settings,
    areas: &[Area],
) -> anyhow::Result<(Inventory, Scan)> {
    let spec = source.spec();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Shown once a load has taken more than half a second, so small inputs never flash one.
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
    let (inventory, scan) = engine::evaluate_with(loaded?, areas, source.strict, settings)?;
    {
        let mut err = std::io::stderr().lock();
        for p in &scan.problems {
            let _ = writeln!(err, "kubeharden: warning: {p}");
        }
    }
    Ok((inventory, scan))
}

/// Runs a scan and prints it; returns the exit code.
pub fn run(source: &SourceArgs, checks: &CheckArgs, args: &ScanArgs) -> anyhow::Result<u8> {
    let settings = checks.settings()?;
    let (inventory, scan) = load(source, &settings, &args.area)?;
    if let Some(dir) = &args.with_bundle {
        return with_bundle(dir, inventory, &scan, &settings, args);
    }
    // Freeing a large inventory object by object takes a tenth of a big scan; the process
    // ends right after the report, so let the OS reclaim it.
    std::mem::forget(inventory);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = match args.format {
        Format::Table => out.write_all(report::table(&scan).as_bytes()),
        Format::Json => report::write_json(&scan, &mut out),
        Format::Sarif => out.write_all(report::sarif(&scan).as_bytes()),
    };
    finish(out, written)?;
    let failing = scan
        .results
        .findings
        .iter()
        .any(|f| f.waived.is_none() && f.severity >= args.fail_on);
    // As with the inventory: the process ends here, the OS frees the findings at once.
    std::mem::forget(scan);
    Ok(if failing { EXIT_FINDINGS } else { EXIT_OK })
}

fn finish(mut out: impl Write, written: std::io::Result<()>) -> anyhow::Result<()> {
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("cannot write the report");
        }
    }
    Ok(())
}

/// `scan --with-bundle`: the offline proof of a bundle.
fn with_bundle(
    dir: &std::path::Path,
    inventory: Inventory,
    before: &Scan,
    settings: &Settings,
    args: &ScanArgs,
) -> anyhow::Result<u8> {
    use crate::remediate::{self, proof};
    let bundle = crate::bundle::read(dir)?;
    let mut objects = inventory.objects().to_vec();
    let failed: Vec<String> = remediate::apply_all(&mut objects, &bundle.remediations)
        .into_iter()
        .map(|(i, reason)| {
            let file = bundle
                .manifest
                .patches
                .get(i)
                .map_or("?", |e| e.file.as_str());
            format!("{file}: {reason}")
        })
        .collect();
    let after_inv = Inventory::new(objects);
    let mut settings = settings.clone();
    settings.cluster = matches!(
        before.source,
        crate::source::SourceInfo::Demo | crate::source::SourceInfo::Cluster { .. }
    );
    let after = crate::checks::run(&after_inv, &args.area, &settings);
    let declared = bundle
        .remediations
        .iter()
        .flat_map(|r| {
            r.introduces
                .iter()
                .map(|c| (c.clone(), r.target.namespace.clone()))
        })
        .collect();
    let mut reasons = std::collections::HashMap::new();
    for r in bundle
        .remediations
        .iter()
        .filter(|r| !r.introduces.is_empty())
    {
        for f in &r.findings {
            reasons.insert(
                f.clone(),
                format!(
                    "staged: {} starts in Warn/Audit and clears once switched to Deny",
                    r.target
                ),
            );
        }
    }
    for r in bundle
        .remediations
        .iter()
        .filter(|r| r.form == remediate::Form::HostFile)
    {
        for f in &r.findings {
            reasons.insert(
                f.clone(),
                "manual: host file and steps in the bundle's README".to_string(),
            );
        }
    }
    let proof = proof::prove(
        &before.results.findings,
        &after.findings,
        &declared,
        &reasons,
        failed,
    );
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        Format::Json | Format::Sarif => serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({
                "bundle": dir.display().to_string(),
                "changes": bundle.remediations.len(),
                "edited": bundle.edited,
                "proof": proof,
            }),
        )
        .map_err(std::io::Error::other)
        .and_then(|()| out.write_all(b"\n")),
        Format::Table => out.write_all(proof_table(dir, &bundle, &proof).as_bytes()),
    };
    finish(out, written)?;
    Ok(
        if proof.unexpected().next().is_some() || !proof.failed_changes.is_empty() {
            EXIT_FINDINGS
        } else {
            EXIT_OK
        },
    )
}

fn proof_table(
    dir: &std::path::Path,
    bundle: &crate::bundle::Loaded,
    p: &crate::remediate::proof::Proof,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Bundle {}: {} changes merged locally{}.",
        dir.display(),
        bundle.remediations.len(),
        if bundle.edited.is_empty() {
            String::new()
        } else {
            format!(" ({} files edited since written)", bundle.edited.len())
        }
    );
    let _ = writeln!(
        s,
        "Fixable findings: {}; cleared {} ({:.1}%); not cleared {}.",
        p.fixable,
        p.cleared,
        p.percent,
        p.not_cleared.len()
    );
    if p.cleared_other > 0 {
        let _ = writeln!(
            s,
            "Other findings cleared as a side effect: {}.",
            p.cleared_other
        );
    }
    let _ = writeln!(
        s,
        "New findings: {} ({} declared by the bundle).",
        p.introduced.len(),
        p.expected
    );
    for f in &p.failed_changes {
        let _ = writeln!(s, "  change failed: {f}");
    }
    for (title, items) in [("Not cleared", &p.not_cleared), ("New", &p.introduced)] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title}:");
        for i in items {
            let _ = writeln!(
                s,
                "  {:<12} {}  {}{}",
                i.check,
                crate::text::sanitize(&i.object),
                crate::text::sanitize(&i.message),
                i.note
                    .as_deref()
                    .map(|n| format!("  [{n}]"))
                    .unwrap_or_default()
            );
        }
    }
    s
}
