//! The TUI: `update()` transitions, the keymap, and screens rendered on ratatui's TestBackend.

use kubeharden::engine;
use kubeharden::model::Area;
use kubeharden::source::demo;
use kubeharden::tui::keymap::{self, BINDINGS, Key, Scope};
use kubeharden::tui::msg::{Action, Effect, LoadedData, Msg};
use kubeharden::tui::state::{AppState, LoadState, Screen};
use kubeharden::tui::theme::Theme;
use kubeharden::tui::update::{start_load, update};
use kubeharden::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn demo_data() -> Box<LoadedData> {
    let (inventory, scan) = engine::evaluate(demo::load(), &[], false).unwrap();
    Box::new(LoadedData {
        inventory,
        scan,
        scanned_at: "12:00:00 UTC".into(),
    })
}

/// A state with the demo loaded, as after start-up.
fn loaded(rows: u16) -> AppState {
    let mut state = AppState::new("demo cluster", true);
    update(&mut state, Msg::Resize { rows });
    let effects = start_load(&mut state);
    assert_eq!(effects, vec![Effect::Load { req: 1 }]);
    update(
        &mut state,
        Msg::Loaded {
            req: 1,
            result: Ok(demo_data()),
        },
    );
    assert_eq!(state.load, LoadState::Ready);
    state
}

/// Moves the selection of an open area table to its first fixable finding.
fn select_first_fixable(s: &mut AppState, area: Area) {
    let data = s.data.as_ref().unwrap();
    let row = data
        .area_findings(area)
        .iter()
        .position(|i| data.finding(*i).unwrap().fixable)
        .unwrap();
    for _ in 0..row {
        act(s, &[Action::Down]);
    }
}

fn act(state: &mut AppState, actions: &[Action]) {
    for a in actions {
        update(state, Msg::Action(*a));
    }
}

fn render(state: &AppState, w: u16, h: u16, color: bool) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| view::draw(f, state, Theme { color }))
        .unwrap();
    terminal
}

#[test]
fn enter_and_esc_walk_overview_area_detail() {
    let mut s = loaded(30);
    act(&mut s, &[Action::Down, Action::Down, Action::Open]);
    assert_eq!(s.screen, Screen::Area(Area::PodSecurity));
    act(&mut s, &[Action::Down, Action::Open]);
    let Screen::Detail { area, finding } = s.screen else {
        panic!("{:?}", s.screen)
    };
    assert_eq!(area, Area::PodSecurity);
    let f = &s.data.as_ref().unwrap().loaded.scan.results.findings[finding];
    assert_eq!(f.area, Area::PodSecurity);
    act(&mut s, &[Action::Back]);
    assert_eq!(s.screen, Screen::Area(Area::PodSecurity));
    assert_eq!(
        s.table(Area::PodSecurity).selected,
        1,
        "the selection survives the detail"
    );
    act(&mut s, &[Action::Back]);
    assert_eq!(s.screen, Screen::Overview);
}

#[test]
fn next_and_previous_area_wrap_around() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(4), Action::NextArea]);
    assert_eq!(s.screen, Screen::Area(Area::ApiAccess));
    act(&mut s, &[Action::PrevArea]);
    assert_eq!(s.screen, Screen::Area(Area::Network));
}

#[test]
fn a_stale_load_result_is_dropped() {
    let mut s = loaded(30);
    let before = s.data.as_ref().unwrap().loaded.scan.results.findings.len();
    assert_eq!(
        update(&mut s, Msg::Action(Action::Rescan)),
        vec![Effect::Load { req: 2 }]
    );
    // The answer to request 1 arrives late: ignored.
    update(
        &mut s,
        Msg::Loaded {
            req: 1,
            result: Err("old".into()),
        },
    );
    assert!(matches!(s.load, LoadState::Loading { req: 2, .. }));
    update(
        &mut s,
        Msg::Loaded {
            req: 2,
            result: Err("connection refused".into()),
        },
    );
    assert_eq!(s.load, LoadState::Failed("connection refused".into()));
    assert_eq!(
        s.data.as_ref().unwrap().loaded.scan.results.findings.len(),
        before,
        "old data stays"
    );
}

#[test]
fn quit_help_and_paging() {
    let mut s = loaded(30);
    assert_eq!(
        update(&mut s, Msg::Action(Action::Quit)),
        vec![Effect::Quit]
    );
    act(&mut s, &[Action::Help]);
    assert!(s.help);
    act(&mut s, &[Action::Down]);
    assert_eq!(s.overview, 0, "help is modal");
    act(&mut s, &[Action::Help]);
    assert!(!s.help);
    act(&mut s, &[Action::JumpArea(3), Action::Bottom]);
    let n = s.data.as_ref().unwrap().area_findings(Area::Images).len();
    let t = s.table(Area::Images);
    assert_eq!(t.selected, n - 1);
    assert!(t.offset + s.table_rows() > t.selected && t.offset <= t.selected);
    act(&mut s, &[Action::Top]);
    assert_eq!(s.table(Area::Images), Default::default());
}

#[test]
fn keymap_has_no_conflicts_and_reaches_every_action() {
    for (i, a) in BINDINGS.iter().enumerate() {
        for b in BINDINGS.iter().skip(i + 1) {
            let overlap =
                a.scope == b.scope || a.scope == Scope::Global || b.scope == Scope::Global;
            if overlap {
                for k in a.keys {
                    assert!(
                        !b.keys.contains(k),
                        "{k:?} bound to {:?} and {:?}",
                        a.action,
                        b.action
                    );
                }
            }
        }
    }
    let actions = [
        Action::Quit,
        Action::Help,
        Action::Back,
        Action::Open,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::NextArea,
        Action::PrevArea,
        Action::Rescan,
    ];
    for a in actions.iter().copied().chain((0..5).map(Action::JumpArea)) {
        assert!(BINDINGS.iter().any(|b| b.action == a), "{a:?} has no key");
    }
    assert_eq!(
        keymap::action_for(Key::Char('q'), Scope::Detail),
        Some(Action::Quit)
    );
    assert_eq!(
        keymap::action_for(Key::Enter, Scope::Overview),
        Some(Action::Open)
    );
}

#[test]
fn overview_screen() {
    insta::assert_snapshot!(render(&loaded(30), 100, 30, true).backend());
}

#[test]
fn overview_at_80x24_without_colour() {
    insta::assert_snapshot!(render(&loaded(24), 80, 24, false).backend());
}

#[test]
fn area_table_screen() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(4), Action::Down, Action::Down]);
    insta::assert_snapshot!(render(&s, 100, 30, true).backend());
}

#[test]
fn detail_screen_highlights_the_offending_line() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(2)]);
    // Find the payments/api init container finding.
    let idx = {
        let d = s.data.as_ref().unwrap();
        d.area_findings(Area::PodSecurity)
            .iter()
            .position(|&i| {
                d.finding(i)
                    .unwrap()
                    .path
                    .contains("initContainers[0].securityContext.privileged")
            })
            .unwrap()
    };
    for _ in 0..idx {
        act(&mut s, &[Action::Down]);
    }
    act(&mut s, &[Action::Open]);
    let terminal = render(&s, 100, 30, false);
    let text = terminal.backend().to_string();
    assert!(text.contains("▶           privileged: true"), "{text}");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn help_screen() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(0), Action::Help]);
    insta::assert_snapshot!(render(&s, 100, 30, true).backend());
}

#[test]
fn loading_and_failure_screens() {
    let mut s = AppState::new("context prod", true);
    start_load(&mut s);
    update(
        &mut s,
        Msg::Progress {
            req: 1,
            progress: kubeharden::source::Progress {
                what: "Pod".into(),
                done: 3,
                total: 18,
                objects: 1200,
            },
        },
    );
    let text = render(&s, 80, 24, false).backend().to_string();
    assert!(
        text.contains("3/18") && text.contains("1200 objects"),
        "{text}"
    );
    update(
        &mut s,
        Msg::Loaded {
            req: 1,
            result: Err("cannot list pods from https://10.0.0.1:6443: connection refused".into()),
        },
    );
    let text = render(&s, 80, 24, false).backend().to_string();
    assert!(
        text.contains("connection refused") && text.contains("Press r to try again"),
        "{text}"
    );
}

#[test]
fn a_table_of_100000_findings_renders_only_visible_rows() {
    use kubeharden::model::{Finding, ObjRef, Origin, Severity};
    let mut data = demo_data();
    data.scan.results.findings = (0..100_000)
        .map(|i| Finding {
            check: "KH-NET-003",
            area: Area::Network,
            severity: Severity::High,
            message: format!("finding {i}"),
            object: ObjRef::new("v1", "Namespace", None, &format!("ns-{i:06}")).into(),
            origin: Origin::Synthetic.into(),
            path: String::new(),
            fixable: false,
            waived: None,
        })
        .collect();
    let mut s = AppState::new("big", true);
    start_load(&mut s);
    update(
        &mut s,
        Msg::Loaded {
            req: 1,
            result: Ok(data),
        },
    );
    act(&mut s, &[Action::JumpArea(4), Action::Bottom]);
    let text = render(&s, 100, 30, false).backend().to_string();
    assert!(
        text.contains("ns-099999") && text.contains("(100000/100000)"),
        "{text}"
    );
}

#[test]
fn f_opens_the_remediation_with_its_change_risk_and_diff() {
    let mut s = loaded(40);
    act(&mut s, &[Action::JumpArea(2)]);
    // The first finding of pod security: a privileged container outside kube-system.
    select_first_fixable(&mut s, Area::PodSecurity);
    act(&mut s, &[Action::Open, Action::Remediate]);
    let Screen::Fix { finding, .. } = s.screen else {
        panic!("not on the fix screen: {:?}", s.screen)
    };
    let view = s.fix.as_ref().unwrap();
    assert_eq!(view.finding, finding);
    assert!(!view.changes.is_empty());
    let terminal = render(&s, 110, 40, false);
    let text = format!("{:?}", terminal.backend());
    assert!(text.contains("Change 1/"), "{text}");
    assert!(text.contains("Risk:"), "{text}");
    insta::assert_snapshot!(terminal.backend());
    act(&mut s, &[Action::Back]);
    assert!(matches!(s.screen, Screen::Detail { .. }));
}

#[test]
fn f_on_a_finding_kubeharden_does_not_fix_says_why() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(0)]);
    let data = s.data.as_ref().unwrap();
    let unfixable = data
        .area_findings(Area::ApiAccess)
        .iter()
        .position(|i| !data.finding(*i).unwrap().fixable)
        .unwrap();
    for _ in 0..unfixable {
        act(&mut s, &[Action::Down]);
    }
    act(&mut s, &[Action::Remediate]);
    assert!(matches!(s.screen, Screen::Fix { .. }));
    let view = s.fix.as_ref().unwrap();
    assert!(view.changes.is_empty() && !view.unfixed.is_empty());
    let text = format!("{:?}", render(&s, 100, 30, false).backend());
    assert!(text.contains("No change for this finding"), "{text}");
}

#[test]
fn space_marks_a_marks_all_and_s_asks_where_to_save_the_bundle() {
    use kubeharden::tui::msg::PromptKey;
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(4)]);
    let area_findings = s
        .data
        .as_ref()
        .unwrap()
        .area_findings(Area::Network)
        .to_vec();
    act(&mut s, &[Action::Mark]);
    assert_eq!(
        s.marked.iter().copied().collect::<Vec<_>>(),
        [area_findings[0]]
    );
    assert_eq!(s.table(Area::Network).selected, 1, "space moves on");
    act(&mut s, &[Action::MarkAll]);
    assert_eq!(s.marked.len(), area_findings.len());
    act(&mut s, &[Action::MarkAll]);
    assert!(s.marked.is_empty(), "a second a unmarks them all");
    act(&mut s, &[Action::Up, Action::Mark, Action::Mark]);
    assert_eq!(s.marked.len(), 2);
    let effects = update(&mut s, Msg::Action(Action::Save));
    assert_eq!(effects, vec![Effect::ProposeBundlePath]);
    update(
        &mut s,
        Msg::PromptOpened {
            path: "/tmp/kh-bundles/b1".into(),
        },
    );
    assert_eq!(s.prompt.as_ref().unwrap().path, "/tmp/kh-bundles/b1");
    // Keys go to the prompt: edit the path.
    for k in [PromptKey::Backspace, PromptKey::Char('2')] {
        update(&mut s, Msg::Prompt(k));
    }
    insta::assert_snapshot!(render(&s, 80, 24, false).backend());
    let effects = update(&mut s, Msg::Prompt(PromptKey::Enter));
    let marked: Vec<usize> = s.marked.iter().copied().collect();
    assert_eq!(
        effects,
        vec![Effect::SaveBundle {
            dir: "/tmp/kh-bundles/b2".into(),
            findings: marked
        }]
    );
    assert!(s.prompt.is_none());
    update(
        &mut s,
        Msg::Saved {
            result: Ok(("/tmp/kh-bundles/b2".into(), 3)),
        },
    );
    assert_eq!(
        s.note.as_deref(),
        Some("bundle saved: 3 changes in /tmp/kh-bundles/b2")
    );
    // Esc cancels without saving.
    update(&mut s, Msg::Action(Action::Save));
    assert!(update(&mut s, Msg::Prompt(PromptKey::Esc)).is_empty());
    assert!(s.prompt.is_none());
}

#[test]
fn s_without_marks_saves_the_areas_fixable_findings_or_says_there_are_none() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(1)]);
    // Data at rest: fixed by hand, nothing to save.
    assert!(update(&mut s, Msg::Action(Action::Save)).is_empty());
    assert!(s.note.as_deref().unwrap().starts_with("nothing to save"));
    act(&mut s, &[Action::JumpArea(2)]);
    assert_eq!(
        update(&mut s, Msg::Action(Action::Save)),
        vec![Effect::ProposeBundlePath]
    );
    let data = s.data.as_ref().unwrap();
    let fixable = data
        .area_findings(Area::PodSecurity)
        .iter()
        .filter(|i| data.finding(**i).unwrap().fixable)
        .count();
    assert_eq!(s.prompt.as_ref().unwrap().findings.len(), fixable);
}

#[test]
fn y_on_the_remediation_asks_then_applies_to_the_in_memory_demo() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(2)]);
    select_first_fixable(&mut s, Area::PodSecurity);
    act(&mut s, &[Action::Remediate, Action::ApplyFix]);
    let confirm = s
        .confirm
        .clone()
        .expect("a confirmation names what changes");
    assert!(
        confirm
            .objects
            .iter()
            .any(|o| o.contains("Deployment payments/api"))
    );
    insta::assert_snapshot!(render(&s, 100, 30, false).backend());
    // n cancels, y applies.
    assert!(update(&mut s, Msg::Confirm(false)).is_empty());
    assert!(s.confirm.is_none());
    act(&mut s, &[Action::ApplyFix]);
    let effects = update(&mut s, Msg::Confirm(true));
    let Some(Effect::Apply { findings, .. }) = effects.first().cloned() else {
        panic!("{effects:?}")
    };
    // What the runtime does for the demo: apply in memory and check again.
    let data = s.data.as_ref().unwrap();
    let chosen: Vec<_> = findings
        .iter()
        .map(|i| data.finding(*i).unwrap().clone())
        .collect();
    let plan = kubeharden::remediate::plan(
        &data.loaded.inventory,
        &chosen,
        &kubeharden::remediate::Options::default(),
    );
    let (after, note) = kubeharden::tui::apply_in_memory(
        &data.loaded,
        &plan,
        &kubeharden::checks::Settings::default(),
    );
    assert!(note.starts_with("applied"), "{note}");
    let gone = chosen[0].key();
    assert!(
        after.scan.results.findings.iter().all(|f| f.key() != gone),
        "the finding is fixed"
    );
    update(
        &mut s,
        Msg::Applied {
            result: Ok((Some(Box::new(after)), note)),
            bundle: None,
            details: Vec::new(),
        },
    );
    assert!(s.note.as_deref().unwrap().starts_with("applied"));
    assert!(matches!(s.screen, Screen::Area(Area::PodSecurity)));
    assert_eq!(s.fixed[2], 1, "the overview counts it as fixed");
    act(&mut s, &[Action::Back]);
    let overview = format!("{:?}", render(&s, 140, 30, false).backend());
    assert!(overview.contains("1 fixed"), "{overview}");
    assert!(
        s.data
            .as_ref()
            .unwrap()
            .loaded
            .scan
            .results
            .findings
            .iter()
            .all(|f| f.key() != gone)
    );
    // u rolls the in-memory change back.
    act(&mut s, &[Action::Undo]);
    assert_eq!(
        s.note.as_deref(),
        Some("rolled back the last change set (in memory)")
    );
    assert!(
        s.data
            .as_ref()
            .unwrap()
            .loaded
            .scan
            .results
            .findings
            .iter()
            .any(|f| f.key() == gone)
    );
    assert_eq!(s.fixed[2], 0);
    act(&mut s, &[Action::Undo]);
    assert_eq!(
        s.note.as_deref(),
        Some("nothing to roll back in this session")
    );
}

#[test]
fn y_on_manifests_says_why_it_cannot_apply() {
    let mut s = loaded(30);
    s.target = kubeharden::tui::state::ApplyTarget::Disabled(
        "manifests on disk cannot be applied from here".into(),
    );
    act(
        &mut s,
        &[Action::JumpArea(2), Action::Remediate, Action::ApplyFix],
    );
    assert!(s.confirm.is_none());
    assert_eq!(
        s.note.as_deref(),
        Some("manifests on disk cannot be applied from here")
    );
}

#[test]
fn slash_filters_o_sorts_and_g_groups_the_findings_table() {
    use kubeharden::tui::msg::PromptKey;
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(2)]);
    let all = s
        .data
        .as_ref()
        .unwrap()
        .area_findings(Area::PodSecurity)
        .len();
    act(&mut s, &[Action::Filter]);
    assert!(s.filtering);
    for c in "ns:payments sev:critical".chars() {
        update(&mut s, Msg::Prompt(PromptKey::Char(c)));
    }
    update(&mut s, Msg::Prompt(PromptKey::Enter));
    assert!(!s.filtering);
    let data = s.data.as_ref().unwrap();
    let rows = data.area_findings(Area::PodSecurity);
    assert!(!rows.is_empty() && rows.len() < all);
    for i in rows {
        let f = data.finding(*i).unwrap();
        assert_eq!(f.object.namespace.as_deref(), Some("payments"));
        assert_eq!(f.severity, kubeharden::model::Severity::Critical);
    }
    insta::assert_snapshot!(render(&s, 100, 30, false).backend());
    // Esc while typing clears the filter.
    act(&mut s, &[Action::Filter]);
    update(&mut s, Msg::Prompt(PromptKey::Esc));
    assert!(s.filter.is_empty());
    assert_eq!(
        s.data
            .as_ref()
            .unwrap()
            .area_findings(Area::PodSecurity)
            .len(),
        all
    );
    // o: by namespace; g: grouped by check.
    act(&mut s, &[Action::Sort]);
    let data = s.data.as_ref().unwrap();
    let ns: Vec<String> = data
        .area_findings(Area::PodSecurity)
        .iter()
        .map(|i| {
            let f = data.finding(*i).unwrap();
            f.object
                .namespace
                .clone()
                .unwrap_or_else(|| f.object.name.clone())
        })
        .collect();
    let mut sorted = ns.clone();
    sorted.sort();
    assert_eq!(ns, sorted);
    act(&mut s, &[Action::Group]);
    let data = s.data.as_ref().unwrap();
    let checks: Vec<&str> = data
        .area_findings(Area::PodSecurity)
        .iter()
        .map(|i| data.finding(*i).unwrap().check)
        .collect();
    let mut grouped = checks.clone();
    grouped.sort();
    assert_eq!(checks, grouped);
    let text = format!("{:?}", render(&s, 100, 30, false).backend());
    assert!(text.contains("sorted by namespace") && text.contains("grouped by check"));
}

#[test]
fn every_screen_renders_at_80x24_and_160x48() {
    use kubeharden::tui::msg::PromptKey;
    let screens: Vec<(&str, Vec<Action>)> = vec![
        ("overview", vec![]),
        ("area", vec![Action::JumpArea(3)]),
        ("detail", vec![Action::JumpArea(3), Action::Open]),
        ("fix", vec![Action::JumpArea(3), Action::Remediate]),
        ("help", vec![Action::JumpArea(3), Action::Help]),
    ];
    for (name, actions) in screens {
        for (w, h) in [(80u16, 24u16), (160, 48)] {
            let mut s = loaded(h);
            act(&mut s, &actions);
            insta::assert_snapshot!(
                format!("screen_{name}_{w}x{h}"),
                render(&s, w, h, false).backend()
            );
        }
    }
    // The load failure, at both sizes.
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut s = AppState::new("context prod", true);
        let effects = start_load(&mut s);
        let Some(Effect::Load { req }) = effects.first().cloned() else {
            panic!("{effects:?}")
        };
        update(
            &mut s,
            Msg::Loaded {
                req,
                result: Err(
                    "cannot list pods from https://10.0.0.1:6443: connection refused".into(),
                ),
            },
        );
        insta::assert_snapshot!(
            format!("screen_load_failed_{w}x{h}"),
            render(&s, w, h, false).backend()
        );
    }
    // Empty states: nothing loaded yet, and a filter that matches nothing.
    let s = AppState::new("demo cluster", true);
    insta::assert_snapshot!(
        "screen_not_loaded_80x24",
        render(&s, 80, 24, false).backend()
    );
    let mut s = loaded(24);
    act(&mut s, &[Action::JumpArea(0), Action::Filter]);
    for c in "no-such-thing".chars() {
        update(&mut s, Msg::Prompt(PromptKey::Char(c)));
    }
    update(&mut s, Msg::Prompt(PromptKey::Enter));
    insta::assert_snapshot!(
        "screen_filtered_empty_80x24",
        render(&s, 80, 24, false).backend()
    );
}

#[test]
fn a_rescan_keeps_the_selected_finding_selected() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(2)]);
    for _ in 0..12 {
        act(&mut s, &[Action::Down]);
    }
    let data = s.data.as_ref().unwrap();
    let rows = data.area_findings(Area::PodSecurity).to_vec();
    let selected_key = data.finding(rows[12]).unwrap().key();
    // The cluster changes: the first fixable finding above the cursor is fixed.
    let earlier = rows[..12]
        .iter()
        .map(|i| data.finding(*i).unwrap().clone())
        .find(|f| f.fixable)
        .unwrap();
    let plan = kubeharden::remediate::plan(
        &data.loaded.inventory,
        std::slice::from_ref(&earlier),
        &kubeharden::remediate::Options::default(),
    );
    let (after, _) = kubeharden::tui::apply_in_memory(
        &data.loaded,
        &plan,
        &kubeharden::checks::Settings::default(),
    );
    let effects = start_load(&mut s);
    let Some(Effect::Load { req }) = effects.first().cloned() else {
        panic!("{effects:?}")
    };
    update(
        &mut s,
        Msg::Loaded {
            req,
            result: Ok(Box::new(after)),
        },
    );
    let data = s.data.as_ref().unwrap();
    let sel = s.table(Area::PodSecurity).selected;
    let now = data
        .finding(data.area_findings(Area::PodSecurity)[sel])
        .unwrap();
    assert_eq!(now.key(), selected_key);
    assert!(sel < 12, "rows above it went away");
}

#[test]
fn clicks_select_rows_and_a_click_on_the_selected_row_opens_it() {
    let mut s = loaded(30);
    update(&mut s, Msg::Click { row: 4 });
    assert_eq!(s.overview, 2, "the third area row");
    update(&mut s, Msg::Click { row: 4 });
    assert_eq!(s.screen, Screen::Area(Area::PodSecurity));
    update(&mut s, Msg::Click { row: 7 });
    assert_eq!(s.table(Area::PodSecurity).selected, 2);
    update(&mut s, Msg::Click { row: 7 });
    assert!(matches!(s.screen, Screen::Detail { .. }));
    // A click below the last row does nothing.
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(1)]);
    update(&mut s, Msg::Click { row: 20 });
    assert_eq!(s.table(Area::Encryption).selected, 0);
}

#[test]
fn e_edits_a_change_validated_as_typed_and_y_applies_the_edit() {
    use ratatui_textarea::{Input, Key as TKey, TextArea};
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(2)]);
    select_first_fixable(&mut s, Area::PodSecurity);
    act(&mut s, &[Action::Remediate, Action::Edit]);
    assert!(s.editor.is_some());
    let key = |c: char| Input {
        key: TKey::Char(c),
        ..Input::default()
    };
    // Typing breaks the YAML: the editor says so and ctrl-s refuses.
    update(&mut s, Msg::EditKey(key(':')));
    update(&mut s, Msg::EditKey(key('[')));
    assert!(s.editor.as_ref().unwrap().error.is_some());
    insta::assert_snapshot!(render(&s, 100, 24, false).backend());
    let save = Input {
        key: TKey::Char('s'),
        ctrl: true,
        ..Input::default()
    };
    update(&mut s, Msg::EditKey(save.clone()));
    assert!(s.editor.is_some());
    assert!(s.note.as_deref().unwrap().starts_with("not saved"));
    // A valid edit: also make the init container's root filesystem read-only.
    let text = "- op: test\n  path: /spec/template/spec/initContainers/0/securityContext/privileged\n  value: true\n- op: replace\n  path: /spec/template/spec/initContainers/0/securityContext/privileged\n  value: false\n- op: add\n  path: /spec/template/spec/initContainers/0/securityContext/readOnlyRootFilesystem\n  value: true\n";
    s.editor.as_mut().unwrap().area = TextArea::new(text.lines().map(str::to_string).collect());
    update(&mut s, Msg::EditKey(save));
    assert!(s.editor.is_none(), "{:?}", s.note);
    let view = s.fix.as_ref().unwrap();
    assert!(view.edited);
    assert!(
        view.changes[0]
            .1
            .diff
            .contains("+          readOnlyRootFilesystem: true"),
        "{}",
        view.changes[0].1.diff
    );
    // y applies the edited change, not a fresh plan.
    act(&mut s, &[Action::ApplyFix]);
    let effects = update(&mut s, Msg::Confirm(true));
    let Some(Effect::Apply {
        edited: Some(changes),
        ..
    }) = effects.first()
    else {
        panic!("{effects:?}")
    };
    assert!(
        changes[0]
            .body
            .to_string()
            .contains("readOnlyRootFilesystem")
    );
    // Esc discards an edit.
    act(&mut s, &[Action::Edit]);
    update(
        &mut s,
        Msg::EditKey(Input {
            key: TKey::Esc,
            ..Input::default()
        }),
    );
    assert!(s.editor.is_none());
}

#[test]
fn d_runs_a_server_dry_run_that_esc_cancels() {
    let mut s = loaded(30);
    s.target = kubeharden::tui::state::ApplyTarget::Cluster("prod".into());
    act(&mut s, &[Action::JumpArea(2), Action::Remediate]);
    let Screen::Fix { finding, .. } = s.screen else {
        panic!()
    };
    let effects = update(&mut s, Msg::Action(Action::DryRun));
    assert!(matches!(effects.first(), Some(Effect::DryRun { .. })));
    update(&mut s, Msg::Tick);
    let text = format!("{:?}", render(&s, 100, 30, false).backend());
    assert!(text.contains("Server dry run: running /"), "{text}");
    // Esc cancels the dry run, not the screen; its late answer is dropped.
    act(&mut s, &[Action::Back]);
    assert!(matches!(s.screen, Screen::Fix { .. }));
    assert_eq!(s.note.as_deref(), Some("dry run cancelled"));
    update(
        &mut s,
        Msg::DryRunDone {
            finding,
            result: Ok(vec!["late".into()]),
        },
    );
    assert_eq!(s.dry_run, None);
    // A dry run that completes shows the server's answer.
    update(&mut s, Msg::Action(Action::DryRun));
    update(
        &mut s,
        Msg::DryRunDone {
            finding,
            result: Ok(vec![
                "001 json-patch Deployment payments/api: DryRun".into(),
            ]),
        },
    );
    let text = format!("{:?}", render(&s, 100, 30, false).backend());
    assert!(
        text.contains("001 json-patch Deployment payments/api: DryRun"),
        "{text}"
    );
    // On the demo, d dry-runs against the in-memory cluster: passed, with the diff.
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(2)]);
    select_first_fixable(&mut s, Area::PodSecurity);
    act(&mut s, &[Action::Remediate, Action::DryRun]);
    let (_, Some(answer)) = s.dry_run.clone().unwrap() else {
        panic!("no answer")
    };
    assert!(
        answer
            .iter()
            .any(|l| l.contains("dry run passed (in memory)")),
        "{answer:?}"
    );
    assert!(s.note.as_deref().unwrap().contains("nothing was changed"));
}

#[test]
fn the_results_of_a_live_run_show_per_change_until_esc() {
    let mut s = loaded(30);
    update(
        &mut s,
        Msg::Applied {
            result: Ok((None, "applied 1, failed 1".into())),
            bundle: Some("/tmp/b".into()),
            details: vec![
                "001 Deployment payments/api: Applied — applied; read back: the fields hold".into(),
                "002 NetworkPolicy payments/kubeharden-default-deny-ingress: Failed — forbidden: kubeharden needs `create` on networkpolicies.networking.k8s.io in namespace payments".into(),
            ],
        },
    );
    let text = format!("{:?}", render(&s, 120, 30, false).backend());
    assert!(
        text.contains("Results of the last run") && text.contains("Failed — forbidden"),
        "{text}"
    );
    insta::assert_snapshot!(render(&s, 80, 24, false).backend());
    act(&mut s, &[Action::Back]);
    assert!(s.results.is_none());
    assert_eq!(s.screen, Screen::Overview);
}

#[test]
fn y_on_a_remediation_applies_that_findings_changes_not_the_marked_set() {
    let mut s = loaded(30);
    act(&mut s, &[Action::JumpArea(2)]);
    select_first_fixable(&mut s, Area::PodSecurity);
    // Mark every finding of the area, then open one finding's remediation.
    act(&mut s, &[Action::MarkAll]);
    assert!(s.marked.len() > 1);
    act(&mut s, &[Action::Remediate]);
    let Screen::Fix { finding, .. } = s.screen else {
        panic!("not on the fix screen: {:?}", s.screen)
    };
    let shown: Vec<String> = s
        .fix
        .as_ref()
        .unwrap()
        .changes
        .iter()
        .map(|(r, _)| r.target.to_string())
        .collect();
    act(&mut s, &[Action::ApplyFix]);
    let confirm = s.confirm.clone().expect("a confirmation");
    assert_eq!(
        confirm.findings,
        vec![finding],
        "only the finding on screen"
    );
    assert_eq!(
        confirm.objects.len(),
        shown.len(),
        "{:?} vs {shown:?}",
        confirm.objects
    );
    for (o, t) in confirm.objects.iter().zip(&shown) {
        assert!(o.starts_with(t.as_str()) && o.contains("clears"), "{o}");
    }
    // From the table, y applies the marked set.
    update(&mut s, Msg::Confirm(false));
    act(&mut s, &[Action::Back, Action::Back]);
    assert!(matches!(s.screen, Screen::Area(_)), "{:?}", s.screen);
    act(&mut s, &[Action::ApplyFix]);
    let confirm = s.confirm.clone().expect("a confirmation");
    assert_eq!(confirm.findings.len(), s.marked.len());
}

#[test]
fn r_on_the_demo_asks_before_it_drops_a_change_applied_in_memory() {
    use kubeharden::tui::state::Applied;
    let mut s = loaded(30);
    // Nothing applied: r rescans at once.
    assert!(matches!(
        update(&mut s, Msg::Action(Action::Rescan)).first(),
        Some(Effect::Load { .. })
    ));
    let req = s.last_req;
    update(
        &mut s,
        Msg::Loaded {
            req,
            result: Ok(demo_data()),
        },
    );
    s.last_applied = Some(Applied::InMemory(demo_data()));
    assert!(update(&mut s, Msg::Action(Action::Rescan)).is_empty());
    let note = s.note.clone().unwrap_or_default();
    assert!(
        note.contains("drops the change applied in memory"),
        "{note}"
    );
    // Another key keeps it; r must be pressed twice in a row.
    act(&mut s, &[Action::Down]);
    assert!(update(&mut s, Msg::Action(Action::Rescan)).is_empty());
    let effects = update(&mut s, Msg::Action(Action::Rescan));
    assert!(
        matches!(effects.first(), Some(Effect::Load { .. })),
        "{effects:?}"
    );
    assert!(
        s.last_applied.is_none(),
        "nothing left to undo after the rescan"
    );
}
