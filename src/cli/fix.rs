//! `kubeharden fix`: write a bundle (or print the changes).

use super::{CheckArgs, EXIT_OK, FixArgs, SourceArgs};
use crate::bundle;
use crate::remediate::{self, Options};
use anyhow::bail;
use std::io::Write;

/// Plans the remediations for the selected findings and writes them; returns the exit code.
pub fn run(source: &SourceArgs, checks: &CheckArgs, args: &FixArgs) -> anyhow::Result<u8> {
    for id in &args.check {
        if crate::checks::find(id).is_none() {
            bail!("unknown check {id:?} (see `kubeharden checks`)");
        }
    }
    let settings = checks.settings()?;
    // Every area is scanned: the namespace labels depend on the pods, whatever is selected.
    let (inventory, scan) = super::scan::load(source, &settings, &[])?;
    let selected: Vec<crate::model::Finding> = scan
        .results
        .findings
        .iter()
        .filter(|f| args.area.is_empty() || args.area.contains(&f.area))
        .filter(|f| {
            args.check.is_empty() || args.check.iter().any(|c| c.eq_ignore_ascii_case(f.check))
        })
        .filter(|f| f.severity >= args.min_severity)
        .cloned()
        .collect();
    let mut open_egress = args.open_egress.clone();
    open_egress.extend(settings.config.open_egress.iter().cloned());
    let opts = Options {
        policy_engine: args.policy_engine,
        open_egress,
        allowed_registries: settings.config.allowed_registries.clone(),
        today: Some(settings.today),
    };
    let plan = remediate::plan(&inventory, &selected, &opts);
    let rendered = bundle::render(&plan, &inventory, &selected, &scan.source.to_string());
    let fixable = selected
        .iter()
        .filter(|f| f.fixable && f.waived.is_none())
        .count();
    let addressed: std::collections::BTreeSet<&str> = plan
        .remediations
        .iter()
        .flat_map(|r| r.findings.iter().map(String::as_str))
        .collect();
    let mut err = std::io::stderr().lock();
    if args.stdout {
        let mut out = std::io::stdout().lock();
        for e in &rendered.manifest.patches {
            if let Some((_, text)) = rendered.files.iter().find(|(f, _)| *f == e.file) {
                let _ = writeln!(out, "---");
                let _ = out.write_all(text.as_bytes());
            }
        }
    } else if let Some(dir) = &args.out {
        bundle::write(dir, &rendered, args.force)?;
        let _ = writeln!(
            err,
            "kubeharden: wrote {} changes for {} findings to {} (review {}/README.md)",
            plan.remediations.len(),
            addressed.len(),
            dir.display(),
            dir.display()
        );
    }
    let _ = writeln!(
        err,
        "kubeharden: {} of {} fixable findings have a change; {} not fixed{}",
        fixable.min(
            selected
                .iter()
                .filter(|f| f.fixable && addressed.contains(f.key().as_str()))
                .count()
        ),
        fixable,
        plan.unfixed.len(),
        if plan.unfixed.is_empty() {
            String::new()
        } else {
            " (reasons in the bundle's README)".to_string()
        }
    );
    Ok(EXIT_OK)
}
