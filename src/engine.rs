//! The main job, shared by `scan` and the TUI: load a source, index it, run the checks.

use crate::checks::{self, Settings};
use crate::model::{Area, Inventory};
use crate::report::Scan;
use crate::source::{self, LoadError, Loaded, Progress, SourceInfo, SourceSpec};
use std::io::Read;

/// Loads a source. Live clusters are read asynchronously; files and the demo on the
/// blocking pool, so that a caller's event loop keeps running.
pub async fn load(
    spec: &SourceSpec,
    stdin: Option<Box<dyn Read + Send>>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Loaded, LoadError> {
    match spec {
        SourceSpec::Demo => Ok(source::demo::load()),
        SourceSpec::Files {
            paths,
            max_file_mib,
        } => {
            let paths = paths.clone();
            let max = *max_file_mib;
            // The blocking pool needs an owned callback: forward through a channel.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
            let mut input: Box<dyn Read + Send> =
                stdin.unwrap_or_else(|| Box::new(std::io::empty()));
            let task = tokio::task::spawn_blocking(move || {
                source::files::load_with(&paths, &mut input, max, &move |p| {
                    let _ = tx.send(p);
                })
            });
            while let Some(p) = rx.recv().await {
                progress(p);
            }
            task.await.map_err(|e| LoadError::Path {
                path: "-".into(),
                reason: format!("loader stopped: {e}"),
            })?
        }
        SourceSpec::Cluster(opts) => source::live::load(opts, progress).await,
    }
}

/// [`evaluate_with`] with default settings: no configuration, no waivers.
pub fn evaluate(
    loaded: Loaded,
    areas: &[Area],
    strict: bool,
) -> Result<(Inventory, Scan), LoadError> {
    evaluate_with(loaded, areas, strict, &Settings::default())
}

/// Indexes what was loaded and runs the checks of `areas` (all when empty) with the user's
/// settings. With `strict`, any unreadable document or object is an error.
pub fn evaluate_with(
    loaded: Loaded,
    areas: &[Area],
    strict: bool,
    settings: &Settings,
) -> Result<(Inventory, Scan), LoadError> {
    let Loaded {
        info,
        objects,
        mut problems,
        ignored,
        skipped,
    } = loaded;
    let inventory = Inventory::new(objects);
    problems.extend(inventory.problems().iter().cloned());
    if strict {
        if let Some(first) = problems.first() {
            let more = problems.len() - 1;
            return Err(LoadError::Strict(if more > 0 {
                format!("{first} (and {more} more problems)")
            } else {
                first.to_string()
            }));
        }
    }
    let mut settings = settings.clone();
    settings.cluster = matches!(info, SourceInfo::Demo | SourceInfo::Cluster { .. });
    let results = checks::run(&inventory, areas, &settings);
    let scan = Scan {
        source: info,
        objects: inventory.len(),
        ignored,
        skipped,
        problems,
        results,
    };
    Ok((inventory, scan))
}
