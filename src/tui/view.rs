//! Drawing: `draw(frame, &state, theme)`. Reads the state, never changes it, never waits.
//! Tables render only their visible rows, so 100,000 findings draw as fast as 10.

use super::keymap::{self, BINDINGS, Scope};
use super::state::{AppState, Data, LoadState, Screen};
use super::theme::{Theme, severity_tag};
use crate::checks;
use crate::model::{Area, Severity, yaml};
use crate::report::score_text;
use crate::text::sanitize;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, state: &AppState, theme: Theme) {
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, state, theme);
    match (&state.data, &state.load) {
        (Some(data), _) => match state.screen {
            Screen::Overview => draw_overview(frame, body, state, data, theme),
            Screen::Area(area) => draw_area(frame, body, state, data, area, theme),
            Screen::Detail { finding, .. } => draw_detail(frame, body, state, data, finding, theme),
            Screen::Fix { finding, .. } => draw_fix(frame, body, state, data, finding, theme),
        },
        (None, LoadState::Failed(message)) => {
            let text = Text::from(vec![
                Line::styled("The source could not be read:", theme.heading()),
                Line::raw(""),
                Line::raw(sanitize(message)),
                Line::raw(""),
                Line::raw("Press r to try again, q to quit."),
            ]);
            frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), body);
        }
        (None, _) => draw_loading(frame, body, state, theme),
    }
    draw_status(frame, status, state, theme);
    draw_footer(frame, footer, state, theme);
    if state.help {
        draw_help(frame, body, state, theme);
    }
    if let Some(c) = &state.confirm {
        draw_confirm(frame, body, state, c, theme);
    }
    if let Some(r) = &state.results {
        draw_results(frame, body, r, theme);
    }
}

/// Draws lines in a bordered box centred on `area`, as tall as they need (at most `area`).
fn popup(frame: &mut Frame, area: Rect, lines: Vec<Line>, width: u16, title: &str) {
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(title)),
        rect,
    );
}

/// The per-change results of the last apply or rollback: applied, conflict, forbidden,
/// invalid, each with the server's message.
fn draw_results(frame: &mut Frame, area: Rect, results: &[String], theme: Theme) {
    let mut lines = vec![Line::styled("Results of the last run", theme.heading())];
    for r in results {
        let style = if r.contains(": Failed") {
            theme.severity(crate::model::Severity::High)
        } else {
            Style::default()
        };
        lines.push(Line::styled(sanitize(r), style));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("esc", theme.key()),
        Span::raw(" close"),
    ]));
    popup(
        frame,
        area,
        lines,
        area.width.saturating_sub(4).min(120),
        " results ",
    );
}

fn draw_confirm(
    frame: &mut Frame,
    area: Rect,
    state: &AppState,
    c: &crate::tui::state::ConfirmApply,
    theme: Theme,
) {
    let target = match &state.target {
        crate::tui::state::ApplyTarget::InMemory => {
            "the demo cluster (in memory; r restores it)".to_string()
        }
        crate::tui::state::ApplyTarget::Cluster(ctx) => {
            format!(
                "cluster context {} (each change is dry-run first, backed up, logged)",
                sanitize(ctx)
            )
        }
        crate::tui::state::ApplyTarget::Disabled(why) => sanitize(why),
    };
    let mut lines = vec![
        Line::styled(
            format!("Apply {} change(s) to {target}?", c.objects.len()),
            theme.heading(),
        ),
        Line::raw(""),
    ];
    let room = usize::from(area.height.saturating_sub(6)).max(1);
    for o in c.objects.iter().take(room) {
        lines.push(Line::raw(format!("  {}", sanitize(o))));
    }
    if c.objects.len() > room {
        lines.push(Line::raw(format!(
            "  … and {} more",
            c.objects.len() - room
        )));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" apply   "),
        Span::styled("n/esc", theme.key()),
        Span::raw(" cancel"),
    ]));
    popup(frame, area, lines, area.width.min(90), " confirm ");
}

fn draw_header(frame: &mut Frame, area: Rect, state: &AppState, theme: Theme) {
    let title = match state.screen {
        Screen::Overview => "Overview".to_string(),
        Screen::Area(a) => format!(
            "{} · {}",
            Area::ALL.iter().position(|x| *x == a).map_or(0, |i| i + 1),
            a.title()
        ),
        Screen::Detail { area, .. } => format!("{} · finding", area.title()),
        Screen::Fix { area, .. } => format!("{} · remediation", area.title()),
    };
    let line = Line::from(vec![
        Span::styled(
            " kubeharden ",
            theme.heading().add_modifier(Modifier::REVERSED),
        ),
        Span::raw(" "),
        Span::styled(title, theme.heading()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_loading(frame: &mut Frame, area: Rect, state: &AppState, theme: Theme) {
    let mut lines = vec![Line::styled(
        format!("Reading {} …", sanitize(&state.source)),
        theme.heading(),
    )];
    if let LoadState::Loading {
        progress: Some(p), ..
    } = &state.load
    {
        let width = 30usize;
        let filled = (p.done * width)
            .checked_div(p.total)
            .unwrap_or(0)
            .min(width);
        lines.push(Line::raw(""));
        lines.push(Line::raw(format!(
            "[{}{}] {}/{}  {}  ({} objects)",
            "=".repeat(filled),
            " ".repeat(width - filled.min(width)),
            p.done,
            p.total,
            sanitize(&p.what),
            p.objects
        )));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn bar(score: Option<u8>, width: usize) -> String {
    match score {
        Some(s) => {
            let filled = usize::from(s) * width / 100;
            format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
        }
        None => "·".repeat(width),
    }
}

fn counts_spans(
    counts: &std::collections::BTreeMap<Severity, usize>,
    theme: Theme,
) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for s in Severity::WORST_FIRST {
        let n = counts.get(&s).copied().unwrap_or(0);
        let text = format!("{n:>4} {:<5}", severity_tag(s));
        spans.push(Span::styled(
            text,
            if n > 0 {
                theme.severity(s)
            } else {
                theme.dim()
            },
        ));
    }
    spans
}

fn draw_overview(frame: &mut Frame, area: Rect, state: &AppState, data: &Data, theme: Theme) {
    let [table_area, about] =
        Layout::vertical([Constraint::Length(8), Constraint::Min(0)]).areas(area);
    // The progress column needs room; on narrow terminals it moves under the table.
    let wide = area.width >= 120;
    let rows: Vec<Row> = Area::ALL
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let summary = data.loaded.scan.results.area(*a);
            let score = summary.and_then(|s| s.score);
            let counts = summary.map(|s| s.counts.clone()).unwrap_or_default();
            let mut cells = vec![
                Cell::from(format!("{} {}", i + 1, a.title())),
                Cell::from(Line::from(vec![
                    Span::styled(bar(score, 10), theme.score(score)),
                    Span::raw(format!(" {:>7}", score_text(score))),
                ])),
            ];
            cells.push(Cell::from(Line::from(counts_spans(&counts, theme))));
            let waived = summary.map_or(0, |s| s.waived);
            let open = summary.map_or(0, |s| s.findings);
            let fixed = state.fixed.get(i).copied().unwrap_or(0);
            if wide {
                cells.push(Cell::from(format!(
                    "{open} open · {waived} waived · {fixed} fixed"
                )));
            }
            let row = Row::new(cells);
            if i == state.overview {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    let table = Table::new(
        rows,
        if wide {
            vec![
                Constraint::Length(20),
                Constraint::Length(19),
                Constraint::Length(50),
                Constraint::Min(20),
            ]
        } else {
            vec![
                Constraint::Length(20),
                Constraint::Length(19),
                Constraint::Min(20),
            ]
        },
    )
    .header(
        Row::new(if wide {
            vec!["Step", "Score", "Findings", "Progress"]
        } else {
            vec!["Step", "Score", "Findings"]
        })
        .style(theme.heading()),
    )
    .block(Block::new().borders(Borders::BOTTOM));
    frame.render_widget(table, table_area);
    if let Some(a) = Area::ALL.get(state.overview) {
        let summary = data.loaded.scan.results.area(*a);
        let text = vec![
            Line::styled(a.title(), theme.heading()),
            Line::styled(
                format!(
                    "{} open · {} waived · {} fixed this session",
                    summary.map_or(0, |s| s.findings),
                    summary.map_or(0, |s| s.waived),
                    state.fixed.get(state.overview).copied().unwrap_or(0)
                ),
                theme.key(),
            ),
            Line::raw(a.summary()),
        ];
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), about);
    }
}

fn draw_area(
    frame: &mut Frame,
    area: Rect,
    state: &AppState,
    data: &Data,
    which: Area,
    theme: Theme,
) {
    let [about, table_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(area);
    let summary = data.loaded.scan.results.area(which);
    let score = summary.and_then(|s| s.score);
    let mut head = vec![
        Span::styled(format!("score {}", score_text(score)), theme.score(score)),
        Span::raw("  "),
    ];
    head.extend(counts_spans(
        &summary.map(|s| s.counts.clone()).unwrap_or_default(),
        theme,
    ));
    let mut view_bits = Vec::new();
    if !state.filter.is_empty() {
        view_bits.push(format!("filter: {}", sanitize(&state.filter)));
    }
    if state.sort != crate::tui::state::SortBy::Severity {
        view_bits.push(format!("sorted by {}", state.sort.label()));
    }
    if state.group != crate::tui::state::GroupBy::None {
        view_bits.push(format!("grouped by {}", state.group.label()));
    }
    if !state.marked.is_empty() {
        view_bits.push(format!("{} marked", state.marked.len()));
    }
    let mut about_lines = vec![Line::from(head)];
    if !view_bits.is_empty() {
        about_lines.push(Line::styled(
            format!("showing: {}", view_bits.join(" · ")),
            theme.key(),
        ));
    }
    about_lines.push(Line::styled(which.summary(), theme.dim()));
    frame.render_widget(Paragraph::new(about_lines).wrap(Wrap { trim: true }), about);
    let indexes = data.area_findings(which);
    if indexes.is_empty() {
        let text = if state.filter.is_empty() {
            "No findings in this area.".to_string()
        } else {
            format!(
                "No finding matches the filter {:?} (/ to change it, esc while typing clears it).",
                sanitize(&state.filter)
            )
        };
        frame.render_widget(Paragraph::new(text), table_area);
        return;
    }
    let list = state.table(which);
    let height = usize::from(table_area.height.saturating_sub(1)).max(1);
    // The offset kept by update() assumes the table height from the terminal size; keep the
    // selection visible even if this frame is smaller.
    let offset = if list.selected >= list.offset + height {
        list.selected + 1 - height
    } else {
        list.offset.min(list.selected)
    };
    let rows: Vec<Row> = indexes
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .filter_map(|(row, &i)| {
            let f = data.finding(i)?;
            let sev = if f.waived.is_some() {
                "WAIV".to_string()
            } else {
                severity_tag(f.severity).to_string()
            };
            let mark = if state.marked.contains(&i) {
                "●"
            } else {
                " "
            };
            let r = Row::new(vec![
                Cell::from(mark),
                Cell::from(Span::styled(sev, theme.severity(f.severity))),
                Cell::from(f.check),
                Cell::from(sanitize(&f.object.to_string())),
                Cell::from(sanitize(&f.message)),
            ]);
            Some(if row == list.selected {
                r.style(theme.selected())
            } else {
                r
            })
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(4),
            Constraint::Length(11),
            Constraint::Percentage(35),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(vec![
            String::new(),
            "SEV".to_string(),
            "CHECK".to_string(),
            format!("OBJECT ({}/{})", list.selected + 1, indexes.len()),
            "MESSAGE".to_string(),
        ])
        .style(theme.heading()),
    );
    frame.render_widget(table, table_area);
}

/// The finding a detail or fix screen shows, or a note in its place when a rescan removed it.
fn finding_or_gone<'d>(
    frame: &mut Frame,
    area: Rect,
    data: &'d Data,
    index: usize,
) -> Option<&'d crate::model::Finding> {
    let found = data.finding(index);
    if found.is_none() {
        frame.render_widget(
            Paragraph::new("This finding is gone after the rescan."),
            area,
        );
    }
    found
}

fn draw_detail(
    frame: &mut Frame,
    area: Rect,
    state: &AppState,
    data: &Data,
    index: usize,
    theme: Theme,
) {
    let Some(f) = finding_or_gone(frame, area, data, index) else {
        return;
    };
    let def = checks::find(f.check);
    let mut lines: Vec<Line> = vec![
        Line::from(vec![
            Span::styled(
                format!("{} ", severity_tag(f.severity)),
                theme.severity(f.severity),
            ),
            Span::styled(
                format!("{}  {}", f.check, def.map_or("", |d| d.title)),
                theme.heading(),
            ),
        ]),
        Line::raw(format!("Object:   {}", sanitize(&f.object.to_string()))),
        Line::raw(format!("From:     {}", sanitize(&f.origin.to_string()))),
        Line::raw(format!(
            "Field:    {}",
            if f.path.is_empty() {
                "(the whole object)"
            } else {
                &f.path
            }
        )),
        Line::raw(format!("Finding:  {}", sanitize(&f.message))),
    ];
    if let Some(w) = &f.waived {
        lines.push(Line::raw(format!(
            "Waived:   {}{}",
            sanitize(&w.reason),
            w.expires
                .as_deref()
                .map(|e| format!(" (until {e})"))
                .unwrap_or_default()
        )));
    }
    if let Some(d) = def {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Why it matters", theme.heading()));
        lines.push(Line::raw(d.rationale));
        lines.push(Line::styled("References", theme.heading()));
        for r in d.references {
            lines.push(Line::raw(format!("  - {r}")));
        }
    }
    lines.push(Line::raw(""));
    let mut anchor = 0usize;
    match data.loaded.inventory.resolve(&f.object) {
        Some(obj) => {
            lines.push(Line::styled("Object", theme.heading()));
            let (text, paths) = yaml::render(&crate::diff::canonical(&obj.raw));
            let target = &f.path;
            let hit = (!target.is_empty())
                .then(|| {
                    paths.iter().position(|p| {
                        p == target
                            || p.strip_prefix(target.as_str())
                                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
                    })
                })
                .flatten();
            let first = lines.len();
            if let Some(h) = hit {
                // Open with the offending line a third of the way down the screen.
                anchor = (first + h).saturating_sub(usize::from(area.height) / 3);
            }
            for (i, l) in text.lines().enumerate() {
                let l = sanitize(l);
                lines.push(if Some(i) == hit {
                    Line::styled(format!("▶ {l}"), theme.highlight())
                } else {
                    Line::raw(format!("  {l}"))
                });
            }
        }
        None => lines.push(Line::styled(
            "No object of the source stands for this finding: it is about the cluster as a whole.",
            theme.dim(),
        )),
    }
    let max = lines.len().saturating_sub(1) as isize;
    let scroll = (anchor as isize)
        .saturating_add(state.detail_scroll)
        .clamp(0, max);
    let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

fn draw_fix(
    frame: &mut Frame,
    area: Rect,
    state: &AppState,
    data: &Data,
    index: usize,
    theme: Theme,
) {
    let Some(f) = finding_or_gone(frame, area, data, index) else {
        return;
    };
    if let Some(editor) = &state.editor {
        let [status, text] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let line = match &editor.error {
            None => Line::styled(
                "valid: ctrl-s saves and refreshes the diff, esc discards",
                theme.key(),
            ),
            Some(e) => Line::styled(
                format!("invalid ({}): cannot be saved or applied", sanitize(e)),
                theme.severity(crate::model::Severity::High),
            ),
        };
        frame.render_widget(Paragraph::new(line), status);
        frame.render_widget(&editor.area, text);
        return;
    }
    let mut lines: Vec<Line> = vec![
        Line::styled(
            format!(
                "Remediation of {}  {}",
                f.check,
                sanitize(&f.object.to_string())
            ),
            theme.heading(),
        ),
        Line::raw(format!("Finding:  {}", sanitize(&f.message))),
    ];
    match &state.dry_run {
        Some((f, None)) if *f == index => {
            lines.push(Line::raw(""));
            const FRAMES: [&str; 4] = ["|", "/", "-", "\\"];
            lines.push(Line::styled(
                format!(
                    "Server dry run: running {}  (esc cancels)",
                    FRAMES[state.spinner % FRAMES.len()]
                ),
                theme.dim(),
            ));
        }
        Some((f, Some(answer))) if *f == index => {
            lines.push(Line::raw(""));
            lines.push(Line::styled("Server dry run", theme.heading()));
            for l in answer {
                lines.push(Line::raw(format!("  {}", sanitize(l))));
            }
        }
        _ => {}
    }
    let side_by_side = area.width >= 160;
    let mut right: Vec<Line> = Vec::new();
    let view = state.fix.as_ref().filter(|v| v.finding == index);
    match view {
        None => lines.push(Line::styled("Planning…", theme.dim())),
        Some(v) if v.changes.is_empty() => {
            lines.push(Line::raw(""));
            lines.push(Line::styled("No change for this finding", theme.heading()));
            for u in &v.unfixed {
                lines.push(Line::raw(format!("  {}", sanitize(u))));
            }
        }
        Some(v) => {
            let n = v.changes.len();
            for (i, (r, p)) in v.changes.iter().enumerate() {
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    format!(
                        "Change {}/{n}: {} of {}",
                        i + 1,
                        r.form.key(),
                        sanitize(&r.target.to_string())
                    ),
                    theme.heading(),
                ));
                for t in &r.titles {
                    lines.push(Line::raw(format!("  What:  {}", sanitize(t))));
                }
                for risk in &r.risks {
                    lines.push(Line::raw(format!("  Risk:  {}", sanitize(risk))));
                }
                lines.push(Line::raw(format!(
                    "  Safe unattended: {}   Review: {}",
                    if r.unattended { "yes" } else { "no" },
                    if r.review { "needed" } else { "not needed" }
                )));
                let others: Vec<&String> = r.findings.iter().filter(|k| **k != f.key()).collect();
                if !others.is_empty() {
                    lines.push(Line::raw(format!(
                        "  Also fixes: {} other finding{} on this object",
                        others.len(),
                        if others.len() == 1 { "" } else { "s" }
                    )));
                }
                for note in &r.notes {
                    lines.push(Line::styled(
                        format!("  Note:  {}", sanitize(note)),
                        theme.dim(),
                    ));
                }
                lines.push(Line::styled(
                    match (r.form, v.edited) {
                        (crate::remediate::Form::Recreate, _) => {
                            "  Object (y deletes the live one and creates this)"
                        }
                        (_, true) => "  Patch (edited)",
                        (_, false) => "  Patch",
                    },
                    theme.heading(),
                ));
                let body = match &r.body {
                    serde_json::Value::String(text) => text.clone(),
                    b => serde_yaml::to_string(b).unwrap_or_default(),
                };
                for l in body.lines() {
                    lines.push(Line::raw(format!("    {}", sanitize(l))));
                }
                // Wide terminals show the diffs beside the patches, narrow ones below.
                let target = if side_by_side { &mut right } else { &mut lines };
                target.push(Line::styled(
                    if side_by_side {
                        format!("Diff of change {}/{n}", i + 1)
                    } else {
                        "  Diff".to_string()
                    },
                    theme.heading(),
                ));
                for l in p.diff.lines() {
                    let style = if l.starts_with('+') && !l.starts_with("+++") {
                        theme.highlight()
                    } else if l.starts_with('-') && !l.starts_with("---") {
                        theme.severity(crate::model::Severity::High)
                    } else {
                        theme.dim()
                    };
                    target.push(Line::styled(format!("    {}", sanitize(l)), style));
                }
                if side_by_side {
                    right.push(Line::raw(""));
                }
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "Write a bundle with `kubeharden fix --out DIR`; apply it with `kubeharden apply DIR`.",
                theme.dim(),
            ));
        }
    }
    let max = lines.len().max(right.len()).saturating_sub(1);
    let scroll = u16::try_from(state.fix_scroll.min(max)).unwrap_or(u16::MAX);
    let (left_area, right_area) = if side_by_side {
        let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(area);
        (l, Some(r))
    } else {
        (area, None)
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        left_area,
    );
    if let Some(r) = right_area {
        frame.render_widget(
            Paragraph::new(right)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0))
                .block(Block::new().borders(Borders::LEFT)),
            r,
        );
    }
}

fn draw_status(frame: &mut Frame, area: Rect, state: &AppState, theme: Theme) {
    if state.filtering {
        let line = Line::from(vec![
            Span::styled("Filter: ", theme.heading()),
            Span::raw(sanitize(&state.filter)),
            Span::styled("█", theme.key()),
            Span::styled(
                "   sev:high ns:NAME check:KH-… kind:Kind or any text",
                theme.dim(),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    if let Some(p) = &state.prompt {
        let n = p.findings.len();
        let line = Line::from(vec![
            Span::styled(
                format!(
                    "Save the remediations of {n} finding{} to: ",
                    if n == 1 { "" } else { "s" }
                ),
                theme.heading(),
            ),
            Span::raw(sanitize(&p.path)),
            Span::styled("█", theme.key()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    // Once loaded, the source as the scan names it (context, cluster and server).
    let mut parts = vec![sanitize(&state.data.as_ref().map_or_else(
        || state.source.clone(),
        |d| d.loaded.scan.source.to_string(),
    ))];
    if let Some(d) = &state.data {
        parts.push(format!("{} objects", d.loaded.scan.objects));
        parts.push(format!("scanned {}", d.loaded.scanned_at));
        if !d.loaded.scan.skipped.is_empty() {
            let kinds: Vec<&str> = d
                .loaded
                .scan
                .skipped
                .iter()
                .map(|s| s.kind.as_str())
                .collect();
            parts.push(format!("skipped: {}", kinds.join(", ")));
        }
        if !d.loaded.scan.problems.is_empty() {
            parts.push(format!("{} input problems", d.loaded.scan.problems.len()));
        }
    }
    match &state.load {
        LoadState::Loading { .. } if state.data.is_some() => parts.push("rescanning…".into()),
        LoadState::Failed(m) if state.data.is_some() => {
            parts.push(format!("rescan failed: {}", sanitize(m)))
        }
        _ => {}
    }
    if let Some(n) = &state.note {
        parts.push(n.clone());
    }
    frame.render_widget(
        Paragraph::new(Line::styled(parts.join(" · "), theme.dim())),
        area,
    );
}

fn draw_footer(frame: &mut Frame, area: Rect, state: &AppState, theme: Theme) {
    let scope = if state.help {
        Scope::Global
    } else {
        state.screen.scope()
    };
    if state.editor.is_some() {
        let spans = vec![
            Span::styled("ctrl-s", theme.key()),
            Span::raw(" save  "),
            Span::styled("esc", theme.key()),
            Span::raw(" discard  "),
            Span::styled("arrows", theme.key()),
            Span::raw(" move  "),
            Span::styled("ctrl-z", theme.key()),
            Span::raw(" undo"),
        ];
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    if state.prompt.is_some() || state.filtering {
        let spans = vec![
            Span::styled("enter", theme.key()),
            Span::raw(if state.filtering {
                " keep  "
            } else {
                " save  "
            }),
            Span::styled("esc", theme.key()),
            Span::raw(" cancel  "),
            Span::styled("backspace", theme.key()),
            Span::raw(" delete"),
        ];
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    // While help is open only the global keys and its own closing keys apply.
    let mut spans = Vec::new();
    for (keys, label) in keymap::footer(scope) {
        spans.push(Span::styled(keys, theme.key()));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    if !state.help {
        spans.push(Span::styled("j/k", theme.key()));
        spans.push(Span::raw(" move"));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_help(frame: &mut Frame, area: Rect, state: &AppState, theme: Theme) {
    let width = area.width.min(72);
    let height = area.height.min(30);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let current = state.screen.scope();
    let mut lines = Vec::new();
    for scope in [current, Scope::Global] {
        lines.push(Line::styled(scope.title(), theme.heading()));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<16}", keymap::keys_label(b)), theme.key()),
                Span::raw(b.help),
            ]));
        }
        lines.push(Line::raw(""));
        if current == Scope::Global {
            break;
        }
    }
    lines.push(Line::styled("? or esc closes this help", theme.dim()));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::new().borders(Borders::ALL).title(" Keys "))
            .style(Style::new()),
        popup,
    );
}
