//! The terminal UI: one state, `update(state, msg) -> effects`, drawing from `&state`.
//!
//! The event loop owns the state. Loads run as tokio tasks and talk to the loop through a
//! channel; the loop never blocks on them. Keys come from the one keymap table that also
//! writes the footer and the help screen. The terminal is restored on quit, on error and
//! on panic.

pub mod keymap;
pub mod msg;
pub mod state;
pub mod theme;
pub mod update;
pub mod view;

use crate::checks::Settings;
use crate::engine;
use crate::source::{SourceInfo, SourceSpec};
use crossterm::event::{Event, EventStream, KeyEventKind, KeyModifiers, MouseEventKind};
use futures::StreamExt;
use msg::{Action, Effect, LoadedData, Msg};
use state::AppState;
use std::io::IsTerminal;
use std::sync::Arc;
use theme::Theme;
use tokio::sync::mpsc;

/// How the status line names a source before it is read.
pub fn describe(spec: &SourceSpec) -> String {
    match spec {
        SourceSpec::Demo => SourceInfo::Demo.to_string(),
        SourceSpec::Files { paths, .. } => paths.join(", "),
        SourceSpec::Cluster(opts) => match &opts.context {
            Some(c) => format!("context {c}"),
            None => "current kubeconfig context".into(),
        },
    }
}

/// Restores the terminal when dropped: on quit, on early `?` returns, on unwinding.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        ratatui::restore();
    }
}

/// Opens the TUI on a source and runs until the user quits.
/// `watch`: with a live source, read it again at this interval.
pub fn run(
    source: SourceSpec,
    settings: Settings,
    color: bool,
    watch: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Our hook first: ratatui::init() chains a restoring hook in front of it.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        ratatui::restore();
        previous(info);
    }));
    let mut terminal = ratatui::try_init()?;
    let _guard = TerminalGuard;
    crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture)?;
    let rows = terminal.size().map(|s| s.height).unwrap_or(24);
    let reads_stdin =
        matches!(&source, SourceSpec::Files { paths, .. } if paths.iter().any(|p| p == "-"));
    let mut state = AppState::new(describe(&source), !reads_stdin);
    state.rows = rows;
    state.target = match &source {
        SourceSpec::Demo => state::ApplyTarget::InMemory,
        SourceSpec::Cluster(opts) => state::ApplyTarget::Cluster(
            opts.context
                .clone()
                .unwrap_or_else(|| "the current context".into()),
        ),
        SourceSpec::Files { .. } => state::ApplyTarget::Disabled(
            "manifests on disk cannot be applied from here: save a bundle (s) and apply it with kubectl or kubeharden apply".into(),
        ),
    };
    state.fix_options = crate::remediate::Options {
        allowed_registries: settings.config.allowed_registries.clone(),
        open_egress: settings.config.open_egress.clone(),
        today: Some(settings.today),
        ..crate::remediate::Options::default()
    };
    let theme = Theme { color };
    let ctx = Arc::new(LoadContext {
        spec: source,
        settings,
        stdin: std::sync::Mutex::new(reads_stdin && !std::io::stdin().is_terminal()),
    });
    let watch = watch.filter(|_| matches!(ctx.spec, SourceSpec::Cluster(_)));
    runtime.block_on(event_loop(&mut terminal, &mut state, theme, ctx, watch))
}

/// What a load needs; shared with the tasks.
struct LoadContext {
    spec: SourceSpec,
    settings: Settings,
    /// Whether stdin still holds the input (it can be read once).
    stdin: std::sync::Mutex<bool>,
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    state: &mut AppState,
    theme: Theme,
    ctx: Arc<LoadContext>,
    watch: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut last_watch = std::time::Instant::now();
    let mut events = EventStream::new();
    let mut pending = update::start_load(state);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        for effect in pending.drain(..) {
            match effect {
                Effect::Quit => return Ok(()),
                Effect::Load { req } => spawn_load(req, Arc::clone(&ctx), tx.clone()),
                Effect::ProposeBundlePath => {
                    let _ = tx.send(Msg::PromptOpened {
                        path: default_bundle_dir(),
                    });
                }
                Effect::SaveBundle { dir, findings } => {
                    save_bundle(state, dir, &findings, tx.clone());
                }
                Effect::Apply { findings, edited } => {
                    apply_changes(state, &ctx, &findings, edited, tx.clone());
                }
                Effect::Rollback { dir } => rollback(&ctx, dir, tx.clone()),
                Effect::DryRun { finding, findings } => {
                    dry_run(state, &ctx, finding, &findings, tx.clone());
                }
            }
        }
        terminal.draw(|f| view::draw(f, state, theme))?;
        let first = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => to_msg(state, ev),
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(m) = rx.recv() => Some(m),
            _ = tick.tick() => {
                let busy = matches!(state.dry_run, Some((_, None)))
                    || matches!(state.load, state::LoadState::Loading { .. });
                busy.then_some(Msg::Tick)
            }
        };
        let mut batch: Vec<Msg> = first.into_iter().collect();
        // Watch: a rescan when the interval is up and nothing else is loading.
        if let Some(every) = watch {
            if last_watch.elapsed() >= every
                && matches!(
                    state.load,
                    state::LoadState::Ready | state::LoadState::Failed(_)
                )
            {
                last_watch = std::time::Instant::now();
                batch.push(Msg::Action(Action::Rescan));
            }
        }
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        for m in batch {
            pending.extend(update::update(state, m));
        }
    }
}

/// Where bundles go by default: `<data dir>/bundles/kubeharden-<UTC time>`.
fn default_bundle_dir() -> String {
    let stamp = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y%m%d-%H%M%S")
        .to_string();
    let root = directories::ProjectDirs::from("io", "kubeharden", "kubeharden")
        .map(|d| d.data_dir().join("bundles"))
        .unwrap_or_else(|| std::path::PathBuf::from("kubeharden-bundles"));
    root.join(format!("kubeharden-{stamp}"))
        .display()
        .to_string()
}

/// Plans the chosen findings' remediations and writes the bundle on the blocking pool.
fn save_bundle(state: &AppState, dir: String, findings: &[usize], tx: mpsc::UnboundedSender<Msg>) {
    let Some(data) = &state.data else {
        let _ = tx.send(Msg::Saved {
            result: Err("nothing is loaded".into()),
        });
        return;
    };
    let chosen = data.findings_at(findings);
    let opts = &state.fix_options;
    let inv = &data.loaded.inventory;
    let plan = crate::remediate::plan(inv, &chosen, opts);
    let changes = plan.remediations.len();
    let rendered = crate::bundle::render(&plan, inv, &chosen, &state.source);
    tokio::task::spawn_blocking(move || {
        let result = if changes == 0 {
            Err("no remediation for the chosen findings".to_string())
        } else {
            crate::bundle::write(std::path::Path::new(&dir), &rendered, false)
                .map(|()| (dir, changes))
                .map_err(|e| crate::text::sanitize(&format!("{e:#}")))
        };
        let _ = tx.send(Msg::Saved { result });
    });
}

/// Applies a plan to loaded data in memory (the demo cluster): the objects change as the API
/// server would change them, and the checks run again. Returns the new data and a summary.
pub fn apply_in_memory(
    data: &LoadedData,
    plan: &crate::remediate::Plan,
    settings: &Settings,
) -> (LoadedData, String) {
    let mut objects = data.inventory.objects().to_vec();
    let failed = crate::remediate::apply_all(&mut objects, &plan.remediations);
    let inventory = crate::model::Inventory::new(objects);
    let mut settings = settings.clone();
    settings.cluster = true;
    let results = crate::checks::run(&inventory, &[], &settings);
    let before = data.scan.results.findings.len();
    let after = results.findings.len();
    let scan = crate::report::Scan {
        results,
        objects: inventory.len(),
        ..data.scan.clone()
    };
    let note = if failed.is_empty() {
        format!(
            "applied {} change(s) to the demo cluster in memory: {before} findings → {after} (r restores it)",
            plan.remediations.len()
        )
    } else {
        format!(
            "{} change(s) did not apply: {}",
            failed.len(),
            failed
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    (
        LoadedData {
            inventory,
            scan,
            scanned_at: data.scanned_at.clone(),
        },
        note,
    )
}

/// Plans the chosen findings' remediations and applies them: in memory for the demo (then
/// re-checked), through the apply engine for a live cluster (a bundle is written to the data
/// directory first, so that backups, the log and rollback work as on the command line).
fn apply_changes(
    state: &AppState,
    ctx: &Arc<LoadContext>,
    findings: &[usize],
    edited: Option<Vec<crate::remediate::Remediation>>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let Some(data) = &state.data else {
        return;
    };
    let chosen = data.findings_at(findings);
    let opts = &state.fix_options;
    let inv = &data.loaded.inventory;
    let plan = match edited {
        Some(remediations) => crate::remediate::Plan {
            remediations,
            unfixed: Vec::new(),
        },
        None => crate::remediate::plan(inv, &chosen, opts),
    };
    match &ctx.spec {
        SourceSpec::Demo => {
            let (loaded, note) = apply_in_memory(&data.loaded, &plan, &ctx.settings);
            let _ = tx.send(Msg::Applied {
                result: Ok((Some(Box::new(loaded)), note)),
                bundle: None,
                details: Vec::new(),
            });
        }
        SourceSpec::Cluster(cluster) => {
            let dir = std::path::PathBuf::from(default_bundle_dir());
            let rendered = crate::bundle::render(&plan, inv, &chosen, &state.source);
            let cluster = cluster.clone();
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let mut details = Vec::new();
                let result = (|| -> Result<(Option<Box<LoadedData>>, String), String> {
                    crate::bundle::write(&dir, &rendered, false).map_err(|e| format!("{e:#}"))?;
                    let (reports, _) = run_engine(&handle, &cluster, &dir, false, false)?;
                    details = result_lines(&reports);
                    let count = |o: crate::apply::Outcome| {
                        reports.iter().filter(|r| r.outcome == o).count()
                    };
                    let failed: Vec<String> = reports
                        .iter()
                        .filter(|r| r.outcome == crate::apply::Outcome::Failed)
                        .map(|r| format!("{}: {}", r.target, r.message))
                        .collect();
                    Ok((
                        None,
                        crate::text::sanitize(&format!(
                            "applied {}, failed {}{}; bundle and backups in {}",
                            count(crate::apply::Outcome::Applied),
                            failed.len(),
                            failed
                                .first()
                                .map(|f| format!(" ({f})"))
                                .unwrap_or_default(),
                            dir.display()
                        )),
                    ))
                })();
                let bundle = result.is_ok().then_some(dir);
                let _ = tx.send(Msg::Applied {
                    result,
                    bundle,
                    details,
                });
            });
        }
        SourceSpec::Files { .. } => {
            let _ = tx.send(Msg::Applied {
                result: Err("manifests on disk cannot be applied from here".into()),
                bundle: None,
                details: Vec::new(),
            });
        }
    }
}

/// Runs the apply or rollback engine on a bundle folder against the live cluster, every
/// change confirmed (the user confirmed in the TUI), and returns the reports and what the
/// engine printed.
fn run_engine(
    handle: &tokio::runtime::Handle,
    cluster: &crate::source::ClusterOptions,
    dir: &std::path::Path,
    rollback: bool,
    dry_run: bool,
) -> Result<(Vec<crate::apply::Report>, Vec<u8>), String> {
    let bundle = crate::bundle::read(dir).map_err(|e| format!("{e:#}"))?;
    let conn = handle
        .block_on(crate::source::live::connect_with(cluster, false))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let opts = crate::apply::RunOptions {
        dry_run,
        // The confirmation named each re-created object as such; a rollback has no
        // confirmation of its own yet, so it leaves those to the CLI.
        allow_recreate: !rollback,
        ..crate::apply::RunOptions::default()
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let direction = if rollback {
        crate::apply::Direction::Rollback
    } else {
        crate::apply::Direction::Apply
    };
    let reports = handle.block_on(crate::apply::run(
        direction,
        conn.client,
        &bundle,
        &opts,
        &mut crate::apply::AssumeYes,
        stop,
        &mut out,
    ))?;
    Ok((reports, out))
}

/// One line per change of an engine run: number, object, outcome and message.
fn result_lines(reports: &[crate::apply::Report]) -> Vec<String> {
    reports
        .iter()
        .map(|r| {
            crate::text::sanitize(&format!(
                "{:03} {}: {:?}{}",
                r.number,
                r.target,
                r.outcome,
                if r.message.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", r.message)
                }
            ))
        })
        .collect()
}

/// Rolls back a live apply from its bundle (the engine dry-runs every restore first).
fn rollback(ctx: &Arc<LoadContext>, dir: std::path::PathBuf, tx: mpsc::UnboundedSender<Msg>) {
    let SourceSpec::Cluster(cluster) = &ctx.spec else {
        return;
    };
    let cluster = cluster.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut details = Vec::new();
        let result = (|| -> Result<String, String> {
            let (reports, _) = run_engine(&handle, &cluster, &dir, true, false)?;
            details = result_lines(&reports);
            let restored = reports
                .iter()
                .filter(|r| r.outcome == crate::apply::Outcome::Applied)
                .count();
            let failed = reports
                .iter()
                .filter(|r| r.outcome == crate::apply::Outcome::Failed)
                .count();
            Ok(format!(
                "rolled back: {restored} restored, {failed} failed (log in {})",
                dir.display()
            ))
        })();
        let _ = tx.send(Msg::RolledBack { result, details });
    });
}

/// Runs the apply engine in dry-run mode on a bundle of the chosen findings, written to a
/// scratch folder (backups and the log go there), and hands back what it printed.
fn dry_run(
    state: &AppState,
    ctx: &Arc<LoadContext>,
    finding: usize,
    findings: &[usize],
    tx: mpsc::UnboundedSender<Msg>,
) {
    let (Some(data), SourceSpec::Cluster(cluster)) = (&state.data, &ctx.spec) else {
        return;
    };
    let chosen = data.findings_at(findings);
    let inv = &data.loaded.inventory;
    let plan = crate::remediate::plan(inv, &chosen, &state.fix_options);
    let rendered = crate::bundle::render(&plan, inv, &chosen, &state.source);
    let cluster = cluster.clone();
    let handle = tokio::runtime::Handle::current();
    let dir = std::env::temp_dir().join(format!(
        "kubeharden-dry-run-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond()
    ));
    tokio::task::spawn_blocking(move || {
        let result = (|| -> Result<Vec<String>, String> {
            crate::bundle::write(&dir, &rendered, false).map_err(|e| format!("{e:#}"))?;
            let (_, out) = run_engine(&handle, &cluster, &dir, false, true)?;
            let _ = std::fs::remove_dir_all(&dir);
            Ok(String::from_utf8_lossy(&out)
                .lines()
                .map(str::to_string)
                .collect())
        })();
        let _ = tx.send(Msg::DryRunDone { finding, result });
    });
}

/// A terminal event as a message: keys through the keymap (or into the open prompt), mouse
/// wheel as movement.
fn to_msg(state: &AppState, ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) if k.kind == KeyEventKind::Press && state.editor.is_some() => {
            Some(Msg::EditKey(ratatui_textarea::Input::from(k)))
        }
        Event::Key(k) if k.kind == KeyEventKind::Press && state.confirm.is_some() => {
            use crossterm::event::KeyCode;
            match k.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => Some(Msg::Confirm(true)),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => Some(Msg::Confirm(false)),
                _ => None,
            }
        }
        Event::Key(k)
            if k.kind == KeyEventKind::Press && (state.prompt.is_some() || state.filtering) =>
        {
            use crossterm::event::KeyCode;
            use msg::PromptKey;
            Some(Msg::Prompt(match k.code {
                // Ctrl-C cancels the prompt rather than typing a "c".
                KeyCode::Char(_) if k.modifiers.contains(KeyModifiers::CONTROL) => PromptKey::Esc,
                KeyCode::Char(c) => PromptKey::Char(c),
                KeyCode::Backspace => PromptKey::Backspace,
                KeyCode::Enter => PromptKey::Enter,
                KeyCode::Esc => PromptKey::Esc,
                _ => return None,
            }))
        }
        Event::Key(k) if k.kind == KeyEventKind::Press => {
            let key = keymap::Key::from_event(&k)?;
            keymap::action_for(key, state.screen.scope()).map(Msg::Action)
        }
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollDown => Some(Msg::Action(Action::Down)),
            MouseEventKind::ScrollUp => Some(Msg::Action(Action::Up)),
            MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                Some(Msg::Click { row: m.row })
            }
            _ => None,
        },
        Event::Resize(_, rows) => Some(Msg::Resize { rows }),
        _ => None,
    }
}

fn spawn_load(req: u64, ctx: Arc<LoadContext>, tx: mpsc::UnboundedSender<Msg>) {
    let progress_tx = tx.clone();
    let handle = tokio::runtime::Handle::current();
    // The load runs on the blocking pool and drives its own async work there, so the UI
    // loop keeps drawing; the live source's futures need not be Send.
    let task = tokio::task::spawn_blocking(move || {
        let stdin: Option<Box<dyn std::io::Read + Send>> = {
            let mut unread = ctx
                .stdin
                .lock()
                .map_err(|_| "stdin lock poisoned".to_string())?;
            if *unread {
                *unread = false;
                Some(Box::new(std::io::stdin()))
            } else {
                None
            }
        };
        let report = move |progress| {
            let _ = progress_tx.send(Msg::Progress { req, progress });
        };
        let loaded = handle
            .block_on(engine::load(&ctx.spec, stdin, &report))
            .map_err(|e| e.to_string())?;
        let (inventory, scan) =
            engine::evaluate_with(loaded, &[], false, &ctx.settings).map_err(|e| e.to_string())?;
        let scanned_at = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%H:%M:%S UTC")
            .to_string();
        Ok::<_, String>(Box::new(LoadedData {
            inventory,
            scan,
            scanned_at,
        }))
    });
    tokio::spawn(async move {
        // A panicking load becomes an error on screen, not an endless spinner.
        let result = match task.await {
            Ok(r) => r,
            Err(e) => Err(format!("the scan stopped unexpectedly: {e}")),
        };
        let _ = tx.send(Msg::Loaded { req, result });
    });
}
