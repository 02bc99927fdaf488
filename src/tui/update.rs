//! `update(state, msg) -> effects`: every transition of the UI, synchronous and pure.

use super::msg::{Action, Effect, Msg};
use super::state::{AppState, Applied, Data, LoadState, Screen};
use crate::model::Area;

/// Starts a load: a new request ID, the loading state, and the effect that runs it.
pub fn start_load(state: &mut AppState) -> Vec<Effect> {
    state.last_req += 1;
    let req = state.last_req;
    state.load = LoadState::Loading {
        req,
        progress: None,
    };
    vec![Effect::Load { req }]
}

/// Applies one message to the state and returns what the runtime must do.
pub fn update(state: &mut AppState, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Action(action) => act(state, action),
        Msg::Loaded { req, result } => {
            if !matches!(state.load, LoadState::Loading { req: r, .. } if r == req) {
                return Vec::new(); // a stale answer to a request we no longer await
            }
            match result {
                Ok(loaded) => {
                    // The finding under the cursor in each area, to keep it selected.
                    let keep: Vec<Option<String>> = Area::ALL
                        .iter()
                        .map(|a| {
                            let sel = state.table(*a).selected;
                            state.data.as_ref().and_then(|d| {
                                d.area_findings(*a)
                                    .get(sel)
                                    .and_then(|i| d.finding(*i))
                                    .map(|f| f.key())
                            })
                        })
                        .collect();
                    let data = Data::new(*loaded);
                    // Keep selections valid for the new data.
                    for (i, area) in Area::ALL.iter().enumerate() {
                        let len = data.area_findings(*area).len();
                        let rows = state.table_rows();
                        if let Some(t) = state.tables.get_mut(i) {
                            t.step(0, len, rows);
                        }
                    }
                    if let Screen::Detail { area, finding } = state.screen {
                        if data.finding(finding).is_none() {
                            state.screen = Screen::Area(area);
                        }
                    }
                    state.data = Some(data);
                    state.load = LoadState::Ready;
                    refine(state);
                    state.recount_fixed();
                    reselect(state, &keep);
                }
                Err(message) => state.load = LoadState::Failed(message),
            }
            Vec::new()
        }
        Msg::Prompt(key) => prompt_key(state, key),
        Msg::Click { row } => click(state, row),
        Msg::EditKey(input) => {
            edit_key(state, input);
            Vec::new()
        }
        Msg::Confirm(yes) => {
            let Some(c) = state.confirm.take() else {
                return Vec::new();
            };
            if yes {
                state.note = Some(format!("applying {} change(s)…", c.objects.len()));
                return vec![Effect::Apply {
                    findings: c.findings,
                    edited: c.edited,
                }];
            }
            state.note = Some("not applied".into());
            Vec::new()
        }
        Msg::Tick => {
            state.spinner = state.spinner.wrapping_add(1);
            Vec::new()
        }
        Msg::DryRunDone { finding, result } => {
            // A dry run the user cancelled (or replaced) answers into the void.
            if state.dry_run != Some((finding, None)) {
                return Vec::new();
            }
            match result {
                Ok(lines) => {
                    state.dry_run = Some((finding, Some(lines)));
                    state.note = Some(
                        "dry run done: the server's answer is on the remediation screen".into(),
                    );
                }
                Err(e) => {
                    state.dry_run = None;
                    state.note = Some(format!("dry run failed: {e}"));
                }
            }
            Vec::new()
        }
        Msg::RolledBack { result, details } => {
            if !details.is_empty() {
                state.results = Some(details);
            }
            state.note = Some(match result {
                Ok(summary) => summary,
                Err(e) => format!("rollback failed: {e}"),
            });
            start_load(state)
        }
        Msg::Applied {
            result,
            bundle,
            details,
        } => {
            if !details.is_empty() {
                state.results = Some(details);
            }
            applied(state, result, bundle)
        }
        Msg::PromptOpened { path } => {
            if let Some(p) = &mut state.prompt {
                if p.path.is_empty() {
                    p.path = path;
                }
            }
            Vec::new()
        }
        Msg::Saved { result } => {
            state.note = Some(match result {
                Ok((dir, n)) => format!("bundle saved: {n} changes in {dir}"),
                Err(e) => format!("bundle not saved: {e}"),
            });
            Vec::new()
        }
        Msg::Progress { req, progress } => {
            if let LoadState::Loading {
                req: r,
                progress: p,
            } = &mut state.load
            {
                if *r == req {
                    *p = Some(progress);
                }
            }
            Vec::new()
        }
        Msg::Resize { rows } => {
            state.rows = rows;
            let height = state.table_rows();
            for t in &mut state.tables {
                t.step(0, usize::MAX, height);
            }
            Vec::new()
        }
    }
}

fn act(state: &mut AppState, action: Action) -> Vec<Effect> {
    state.note = None;
    let armed = std::mem::take(&mut state.rescan_armed);
    if state.help {
        // Help is modal: it closes on ? or esc; q still quits.
        match action {
            Action::Help | Action::Back => state.help = false,
            Action::Quit => return vec![Effect::Quit],
            _ => {}
        }
        return Vec::new();
    }
    match action {
        Action::Quit => return vec![Effect::Quit],
        Action::Help => state.help = true,
        Action::Rescan => {
            if matches!(state.load, LoadState::Loading { .. }) {
                state.note = Some("a scan is already running".into());
            } else if !state.rescannable {
                state.note = Some("standard input cannot be read twice: restart to rescan".into());
            } else if !armed && matches!(state.last_applied, Some(Applied::InMemory(_))) {
                // A rescan reads the demo afresh: what was applied in memory is dropped.
                state.rescan_armed = true;
                state.note = Some(
                    "r again rescans the demo and drops the change applied in memory \
                     (u undoes it instead; any other key keeps it)"
                        .into(),
                );
            } else {
                if matches!(state.last_applied, Some(Applied::InMemory(_))) {
                    state.last_applied = None;
                }
                return start_load(state);
            }
        }
        Action::JumpArea(_) => {
            if let Some(area) = action.area() {
                state.overview = Area::ALL.iter().position(|a| *a == area).unwrap_or(0);
                state.screen = Screen::Area(area);
            }
        }
        Action::Remediate => {
            let area = match state.screen {
                Screen::Detail { area, .. } | Screen::Fix { area, .. } | Screen::Area(area) => {
                    Some(area)
                }
                Screen::Overview => None,
            };
            let finding = area.zip(current_finding(state));
            if let Some((area, finding)) = finding {
                state.fix = state
                    .data
                    .as_ref()
                    .map(|d| plan_fix(d, finding, &state.fix_options));
                state.fix_scroll = 0;
                state.screen = Screen::Fix { area, finding };
            }
        }
        Action::Mark | Action::MarkAll | Action::Save => return mark_or_save(state, action),
        Action::ApplyFix => ask_to_apply(state),
        Action::Edit => open_editor(state),
        Action::Undo => match state.last_applied.take() {
            Some(super::state::Applied::InMemory(before)) => {
                state.data = Some(Data::new(*before));
                refine(state);
                state.recount_fixed();
                state.note = Some("rolled back the last change set (in memory)".into());
            }
            Some(super::state::Applied::Bundle(dir)) => {
                state.note = Some(format!("rolling back {}…", dir.display()));
                return vec![Effect::Rollback { dir }];
            }
            None => state.note = Some("nothing to roll back in this session".into()),
        },
        Action::Filter => state.filtering = true,
        Action::Sort => {
            state.sort = state.sort.next();
            refine(state);
        }
        Action::Group => {
            state.group = state.group.next();
            refine(state);
        }
        Action::DryRun => {
            let Some(finding) = current_finding(state) else {
                return Vec::new();
            };
            match &state.target {
                super::state::ApplyTarget::Cluster(_) => {
                    let findings: Vec<usize> = if state.marked.is_empty() {
                        vec![finding]
                    } else {
                        state.marked.iter().copied().collect()
                    };
                    state.dry_run = Some((finding, None));
                    state.note = Some("dry run: asking the server…".into());
                    return vec![Effect::DryRun { finding, findings }];
                }
                super::state::ApplyTarget::InMemory => {
                    // The demo cluster lives in memory: its dry run is the same merge the
                    // apply will do, checked change by change and stored nowhere.
                    let lines = demo_dry_run(state, finding);
                    state.dry_run = Some((finding, Some(lines)));
                    state.note =
                        Some("dry run on the in-memory demo cluster: nothing was changed".into());
                }
                super::state::ApplyTarget::Disabled(_) => {
                    state.note = Some(
                        "manifests on disk: the diff shown is the local server-side-apply merge (no server to ask)"
                            .into(),
                    );
                }
            }
        }
        Action::Back if state.results.is_some() => state.results = None,
        Action::Back if matches!(state.dry_run, Some((_, None))) => {
            // Esc while the server dry run runs cancels it: its answer will be dropped.
            state.dry_run = None;
            state.note = Some("dry run cancelled".into());
        }
        Action::Back => {
            state.screen = match state.screen {
                Screen::Fix { area, finding } => Screen::Detail { area, finding },
                Screen::Detail { area, .. } => Screen::Area(area),
                Screen::Area(_) | Screen::Overview => Screen::Overview,
            };
        }
        Action::Open => match state.screen {
            Screen::Overview => {
                if let Some(area) = Area::ALL.get(state.overview) {
                    state.screen = Screen::Area(*area);
                }
            }
            Screen::Area(area) => {
                let selected = state.table(area).selected;
                let index = state
                    .data
                    .as_ref()
                    .and_then(|d| d.area_findings(area).get(selected).copied());
                if let Some(finding) = index {
                    state.screen = Screen::Detail { area, finding };
                    state.detail_scroll = 0;
                }
            }
            Screen::Detail { .. } | Screen::Fix { .. } => {}
        },
        Action::NextArea | Action::PrevArea => {
            if let Screen::Area(area) | Screen::Detail { area, .. } | Screen::Fix { area, .. } =
                state.screen
            {
                let i = Area::ALL.iter().position(|a| *a == area).unwrap_or(0);
                let n = Area::ALL.len();
                let next = if action == Action::NextArea {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                if let Some(a) = Area::ALL.get(next) {
                    state.overview = next;
                    state.screen = Screen::Area(*a);
                }
            }
        }
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            move_selection(state, action);
        }
    }
    Vec::new()
}

fn move_selection(state: &mut AppState, action: Action) {
    let page = state.table_rows() as isize;
    let delta = match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -page,
        Action::PageDown => page,
        Action::Top => isize::MIN / 2,
        _ => isize::MAX / 2,
    };
    match state.screen {
        Screen::Overview => {
            let n = Area::ALL.len() as isize;
            state.overview = (state.overview as isize)
                .saturating_add(delta)
                .clamp(0, n - 1) as usize;
        }
        Screen::Area(area) => {
            let len = state
                .data
                .as_ref()
                .map_or(0, |d| d.area_findings(area).len());
            let rows = state.table_rows();
            if let Some(t) = state.table_mut(area) {
                t.step(delta, len, rows);
            }
        }
        Screen::Detail { .. } => {
            state.detail_scroll = state.detail_scroll.saturating_add(delta);
        }
        Screen::Fix { .. } => {
            state.fix_scroll = state.fix_scroll.saturating_add_signed(delta).min(100_000);
        }
    }
}

/// Plans the remediation of one finding (pure: the planner reads the loaded inventory).
fn plan_fix(
    data: &super::state::Data,
    finding: usize,
    options: &crate::remediate::Options,
) -> super::state::FixView {
    let Some(f) = data.finding(finding) else {
        return super::state::FixView {
            edited: false,
            finding,
            changes: Vec::new(),
            unfixed: vec!["the finding is gone after the rescan".into()],
        };
    };
    let inv = &data.loaded.inventory;
    let plan = crate::remediate::plan(inv, std::slice::from_ref(f), options);
    let mut unfixed: Vec<String> = plan.unfixed.iter().map(|u| u.reason.clone()).collect();
    if plan.remediations.is_empty() && unfixed.is_empty() {
        unfixed.push(if f.waived.is_some() {
            "the finding is waived".to_string()
        } else {
            "kubeharden does not fix this check: it needs a human decision (see why it matters)"
                .to_string()
        });
    }
    let changes = plan
        .remediations
        .into_iter()
        .map(|r| {
            let p = crate::remediate::preview(inv, &r);
            (r, p)
        })
        .collect();
    super::state::FixView {
        edited: false,
        finding,
        changes,
        unfixed,
    }
}

/// The finding under the cursor: the selected row of an area, or the open finding.
fn current_finding(state: &AppState) -> Option<usize> {
    match state.screen {
        Screen::Area(area) => {
            let selected = state.table(area).selected;
            state
                .data
                .as_ref()
                .and_then(|d| d.area_findings(area).get(selected).copied())
        }
        Screen::Detail { finding, .. } | Screen::Fix { finding, .. } => Some(finding),
        Screen::Overview => None,
    }
}

fn mark_or_save(state: &mut AppState, action: Action) -> Vec<Effect> {
    let area = match state.screen {
        Screen::Area(a) | Screen::Detail { area: a, .. } | Screen::Fix { area: a, .. } => Some(a),
        Screen::Overview => None,
    };
    match action {
        Action::Mark => {
            if let Some(f) = current_finding(state) {
                if !state.marked.remove(&f) {
                    state.marked.insert(f);
                }
                if matches!(state.screen, Screen::Area(_)) {
                    move_selection(state, Action::Down);
                }
            }
        }
        Action::MarkAll => {
            if let (Some(area), Some(data)) = (area, state.data.as_ref()) {
                let all: Vec<usize> = data.area_findings(area).to_vec();
                if all.iter().all(|f| state.marked.contains(f)) {
                    for f in &all {
                        state.marked.remove(f);
                    }
                } else {
                    state.marked.extend(all);
                }
            }
        }
        _ => {
            // The marked findings, or else every fixable finding of the area in view.
            let findings: Vec<usize> = if !state.marked.is_empty() {
                state.marked.iter().copied().collect()
            } else {
                match (area, state.data.as_ref()) {
                    (Some(area), Some(data)) => data
                        .area_findings(area)
                        .iter()
                        .copied()
                        .filter(|i| data.finding(*i).is_some_and(|f| f.fixable))
                        .collect(),
                    _ => Vec::new(),
                }
            };
            if findings.is_empty() {
                state.note = Some("nothing to save: mark findings with space, or open an area with fixable findings".into());
                return Vec::new();
            }
            state.prompt = Some(super::state::SavePrompt {
                path: String::new(),
                findings,
            });
            return vec![Effect::ProposeBundlePath];
        }
    }
    Vec::new()
}

/// Applies the filter, sort and grouping to the tables and keeps the selections valid.
pub fn refine(state: &mut AppState) {
    let (filter, sort, group) = (state.filter.clone(), state.sort, state.group);
    if let Some(d) = state.data.as_mut() {
        d.refine(&filter, sort, group);
    }
    let rows = state.table_rows();
    for (i, area) in Area::ALL.iter().enumerate() {
        let len = state
            .data
            .as_ref()
            .map_or(0, |d| d.area_findings(*area).len());
        if let Some(t) = state.tables.get_mut(i) {
            t.step(0, len, rows);
        }
    }
}

/// A typed character or a backspace on a one-line text; control characters are ignored.
fn edit_line(text: &mut String, key: super::msg::PromptKey) {
    use super::msg::PromptKey;
    match key {
        PromptKey::Char(c) if !c.is_control() => text.push(c),
        PromptKey::Backspace => {
            text.pop();
        }
        _ => {}
    }
}

fn prompt_key(state: &mut AppState, key: super::msg::PromptKey) -> Vec<Effect> {
    use super::msg::PromptKey;
    if state.filtering {
        match key {
            PromptKey::Enter => state.filtering = false,
            PromptKey::Esc => {
                state.filtering = false;
                state.filter.clear();
            }
            _ => edit_line(&mut state.filter, key),
        }
        refine(state);
        return Vec::new();
    }
    let Some(p) = state.prompt.as_mut() else {
        return Vec::new();
    };
    match key {
        PromptKey::Char(_) | PromptKey::Backspace => edit_line(&mut p.path, key),
        PromptKey::Esc => state.prompt = None,
        PromptKey::Enter => {
            if let Some(p) = state.prompt.take() {
                if p.path.trim().is_empty() {
                    state.note = Some("bundle not saved: no folder given".into());
                } else {
                    state.note = Some(format!("saving the bundle to {}…", p.path.trim()));
                    return vec![Effect::SaveBundle {
                        dir: p.path.trim().to_string(),
                        findings: p.findings,
                    }];
                }
            }
        }
    }
    Vec::new()
}

/// Opens the apply confirmation for the marked findings, or the finding on screen.
fn ask_to_apply(state: &mut AppState) {
    if let super::state::ApplyTarget::Disabled(why) = &state.target {
        state.note = Some(why.clone());
        return;
    }
    // A finding's own screens apply what they show: that finding's changes. The marked set
    // is applied from the table, where the marks are.
    let on_one_finding = matches!(state.screen, Screen::Fix { .. } | Screen::Detail { .. });
    let findings: Vec<usize> = if on_one_finding || state.marked.is_empty() {
        current_finding(state).into_iter().collect()
    } else {
        state.marked.iter().copied().collect()
    };
    let Some(data) = state.data.as_ref() else {
        return;
    };
    // The edited changes of the remediation on screen, when it is the one being applied.
    let edited: Option<Vec<crate::remediate::Remediation>> = state
        .fix
        .as_ref()
        .filter(|v| v.edited && findings == [v.finding])
        .map(|v| v.changes.iter().map(|(r, _)| r.clone()).collect());
    let chosen = data.findings_at(&findings);
    let plan = match &edited {
        Some(changes) => crate::remediate::Plan {
            remediations: changes.clone(),
            unfixed: Vec::new(),
        },
        None => crate::remediate::plan(&data.loaded.inventory, &chosen, &state.fix_options),
    };
    let objects: Vec<String> = plan
        .remediations
        .iter()
        .filter(|r| r.form != crate::remediate::Form::HostFile)
        .map(|r| match r.form {
            crate::remediate::Form::Recreate => format!(
                "{} (recreate: DELETED and created again; its containers restart)",
                r.target
            ),
            form => format!(
                "{} ({}; clears {} finding{})",
                r.target,
                form.key(),
                r.findings.len(),
                if r.findings.len() == 1 { "" } else { "s" }
            ),
        })
        .collect();
    if objects.is_empty() {
        state.note =
            Some("nothing to apply: no remediation changes an object for this finding".into());
        return;
    }
    state.confirm = Some(super::state::ConfirmApply {
        findings,
        objects,
        edited,
    });
}

/// Selects again, in each area, the finding that was selected before new data arrived
/// (when it is still there), so a rescan or a watch update does not move the cursor.
fn reselect(state: &mut AppState, keys: &[Option<String>]) {
    let rows = state.table_rows();
    for (i, area) in Area::ALL.iter().enumerate() {
        let Some(Some(key)) = keys.get(i) else {
            continue;
        };
        let pos = state.data.as_ref().and_then(|d| {
            d.area_findings(*area)
                .iter()
                .position(|j| d.finding(*j).is_some_and(|f| &f.key() == key))
        });
        if let (Some(pos), Some(t)) = (pos, state.tables.get_mut(i)) {
            let len = state
                .data
                .as_ref()
                .map_or(0, |d| d.area_findings(*area).len());
            t.selected = pos;
            t.step(0, len, rows);
        }
    }
}

/// A click: the overview's table starts on screen row 2, an area's on row 5 (header, three
/// lines about the area, the table header). Clicking the selected row opens it.
fn click(state: &mut AppState, row: u16) -> Vec<Effect> {
    if state.help || state.prompt.is_some() || state.confirm.is_some() || state.filtering {
        return Vec::new();
    }
    match state.screen {
        Screen::Overview => {
            let Some(i) = usize::from(row)
                .checked_sub(2)
                .filter(|i| *i < Area::ALL.len())
            else {
                return Vec::new();
            };
            if i == state.overview {
                return act(state, Action::Open);
            }
            state.overview = i;
        }
        Screen::Area(area) => {
            let Some(offset) = usize::from(row).checked_sub(5) else {
                return Vec::new();
            };
            let t = state.table(area);
            let index = t.offset + offset;
            let len = state
                .data
                .as_ref()
                .map_or(0, |d| d.area_findings(area).len());
            if index >= len {
                return Vec::new();
            }
            if index == t.selected {
                return act(state, Action::Open);
            }
            let rows = state.table_rows();
            if let Some(t) = state.table_mut(area) {
                t.selected = index;
                t.step(0, len, rows);
            }
        }
        Screen::Detail { .. } | Screen::Fix { .. } => {}
    }
    Vec::new()
}

/// Opens the editor on the first change of the remediation shown that is an object change.
fn open_editor(state: &mut AppState) {
    let Some(view) = &state.fix else {
        return;
    };
    let Some((index, (r, _))) = view
        .changes
        .iter()
        .enumerate()
        .find(|(_, (r, _))| r.form != crate::remediate::Form::HostFile)
    else {
        state.note = Some("nothing to edit: this remediation changes no object".into());
        return;
    };
    let text = serde_yaml::to_string(&r.body).unwrap_or_default();
    let mut area = ratatui_textarea::TextArea::new(text.lines().map(str::to_string).collect());
    area.set_block(
        ratatui::widgets::Block::default()
            .borders(ratatui::widgets::Borders::ALL)
            .title(format!(" edit change {} ", index + 1)),
    );
    state.editor = Some(super::state::Editor {
        area,
        change: index,
        error: None,
    });
}

/// Checks an edited change: YAML, the same target, a valid JSON patch, and that it applies
/// to the object as loaded. Returns the new body.
fn validate_edit(
    text: &str,
    r: &crate::remediate::Remediation,
    inv: &crate::model::Inventory,
) -> Result<serde_json::Value, String> {
    let body: serde_json::Value = serde_yaml::from_str(text).map_err(|e| {
        let mut m = e.to_string();
        if let Some(i) = m.find(" at line ") {
            m.truncate(i);
        }
        match e.location() {
            Some(l) => format!("line {}: {m}", l.line()),
            None => m,
        }
    })?;
    let mut changed = r.clone();
    changed.body = body.clone();
    match r.form {
        crate::remediate::Form::JsonPatch => {
            serde_json::from_value::<json_patch::Patch>(body.clone())
                .map_err(|e| format!("not a JSON patch: {e}"))?;
        }
        _ => {
            let id =
                crate::model::Object::from_value(body.clone(), crate::model::Origin::Synthetic)
                    .map_err(|_| {
                        "not an object: apiVersion, kind and metadata.name are needed".to_string()
                    })?
                    .id;
            if *id != r.target {
                return Err(format!(
                    "the change must stay on {} (it names {id})",
                    r.target
                ));
            }
        }
    }
    let mut objects: Vec<crate::model::Object> =
        inv.resolve(&r.target).cloned().into_iter().collect();
    crate::remediate::apply_local(&mut objects, &changed)
        .map_err(|e| format!("does not apply: {e}"))?;
    Ok(body)
}

fn edit_key(state: &mut AppState, input: ratatui_textarea::Input) {
    use ratatui_textarea::Key;
    let Some(editor) = state.editor.as_mut() else {
        return;
    };
    if input.key == Key::Esc {
        state.editor = None;
        state.note = Some("edit discarded".into());
        return;
    }
    let save = input.ctrl && input.key == Key::Char('s');
    if !save {
        editor.area.input(input);
    }
    let text = editor.area.lines().join("\n");
    let change = editor.change;
    let checked = match (&state.fix, &state.data) {
        (Some(view), Some(data)) => view
            .changes
            .get(change)
            .map(|(r, _)| validate_edit(&text, r, &data.loaded.inventory))
            .unwrap_or_else(|| Err("the change is gone".into())),
        _ => Err("nothing is loaded".into()),
    };
    if let Some(editor) = state.editor.as_mut() {
        editor.error = checked.as_ref().err().cloned();
    }
    if !save {
        return;
    }
    match checked {
        Err(e) => state.note = Some(format!("not saved: {e}")),
        Ok(body) => {
            if let (Some(view), Some(data)) = (state.fix.as_mut(), state.data.as_ref()) {
                if let Some((r, preview)) = view.changes.get_mut(change) {
                    r.body = body;
                    *preview = crate::remediate::preview(&data.loaded.inventory, r);
                    view.edited = true;
                }
            }
            state.editor = None;
            state.note = Some("edit saved: the diff shows the edited change; y applies it".into());
        }
    }
}

fn applied(
    state: &mut AppState,
    result: Result<(Option<Box<super::msg::LoadedData>>, String), String>,
    bundle: Option<std::path::PathBuf>,
) -> Vec<Effect> {
    match result {
        Ok((Some(data), note)) => {
            let previous = state.data.take().map(|d| Box::new(d.loaded));
            state.last_applied = previous.map(super::state::Applied::InMemory);
            state.data = Some(Data::new(*data));
            refine(state);
            state.recount_fixed();
            state.marked.clear();
            state.fix = None;
            if let Screen::Fix { area, .. } | Screen::Detail { area, .. } = state.screen {
                state.screen = Screen::Area(area);
            }
            state.note = Some(note);
            Vec::new()
        }
        Ok((None, note)) => {
            state.last_applied = bundle.map(super::state::Applied::Bundle);
            state.note = Some(note);
            state.marked.clear();
            state.fix = None;
            if let Screen::Fix { area, .. } | Screen::Detail { area, .. } = state.screen {
                state.screen = Screen::Area(area);
            }
            start_load(state)
        }
        Err(e) => {
            state.note = Some(format!("not applied: {e}"));
            Vec::new()
        }
    }
}

/// A dry run against the in-memory demo: every change of the remediation on screen merged
/// into a copy of its object, with the outcome and the diff, nothing stored.
fn demo_dry_run(state: &AppState, finding: usize) -> Vec<String> {
    let (Some(view), Some(data)) = (
        state.fix.as_ref().filter(|v| v.finding == finding),
        state.data.as_ref(),
    ) else {
        return vec!["nothing to dry-run: open the remediation first (f)".into()];
    };
    let inv = &data.loaded.inventory;
    if view.changes.is_empty() {
        return vec!["no change to dry-run: kubeharden does not fix this finding".into()];
    }
    let mut lines = Vec::new();
    for (i, (r, preview)) in view.changes.iter().enumerate() {
        let mut objects: Vec<crate::model::Object> =
            inv.resolve(&r.target).cloned().into_iter().collect();
        let outcome = match crate::remediate::apply_local(&mut objects, r) {
            Ok(()) if r.form == crate::remediate::Form::HostFile => {
                "by hand on the control-plane hosts".to_string()
            }
            Ok(()) => "dry run passed (in memory)".to_string(),
            Err(e) => format!("Failed — {e}"),
        };
        lines.push(format!(
            "{:03} {} {}: {outcome}",
            i + 1,
            r.form.key(),
            r.target
        ));
        lines.extend(preview.diff.lines().map(|l| format!("    {l}")));
    }
    lines
}
