//! The one keymap table. Key dispatch, the footer and the `?` help screen are all
//! generated from it, so the three cannot disagree.

use super::msg::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every screen.
    Global,
    /// The overview of the five areas.
    Overview,
    /// An area's findings table.
    Area,
    /// A finding's detail.
    Detail,
    /// A finding's remediation.
    Fix,
}

impl Scope {
    /// The heading in the help screen.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Overview => "Overview",
            Scope::Area => "Findings table",
            Scope::Detail => "Finding detail",
            Scope::Fix => "Remediation",
        }
    }
}

/// A key, as bindings name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character (case-sensitive).
    Char(char),
    /// Ctrl + a character.
    Ctrl(char),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Tab.
    Tab,
    /// Shift+Tab.
    BackTab,
}

impl Key {
    /// How the key is written in the footer and help.
    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("ctrl-{c}"),
            Key::Enter => "enter".into(),
            Key::Esc => "esc".into(),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::PageUp => "pgup".into(),
            Key::PageDown => "pgdn".into(),
            Key::Home => "home".into(),
            Key::End => "end".into(),
            Key::Tab => "tab".into(),
            Key::BackTab => "shift-tab".into(),
        }
    }

    /// The key of a terminal key event, if bindings can name it.
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        Some(match ev.code {
            KeyCode::Char(c) if ctrl => Key::Ctrl(c),
            KeyCode::Char(c) => Key::Char(c),
            KeyCode::Enter => Key::Enter,
            KeyCode::Esc => Key::Esc,
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
            _ => return None,
        })
    }
}

/// One binding: keys, the action, where it applies, its footer label and help text.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Keys that trigger it.
    pub keys: &'static [Key],
    /// What it does.
    pub action: Action,
    /// Where it applies.
    pub scope: Scope,
    /// Short label in the footer; `None` shows it in the help screen only.
    pub footer: Option<&'static str>,
    /// The help screen's description.
    pub help: &'static str,
}

const fn b(
    keys: &'static [Key],
    action: Action,
    scope: Scope,
    footer: Option<&'static str>,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        action,
        scope,
        footer,
        help,
    }
}

/// Every binding.
pub static BINDINGS: &[Binding] = &[
    b(
        &[Key::Char('?')],
        Action::Help,
        Scope::Global,
        Some("help"),
        "show or hide this help",
    ),
    b(
        &[Key::Char('q')],
        Action::Quit,
        Scope::Global,
        Some("quit"),
        "quit",
    ),
    b(
        &[Key::Ctrl('c')],
        Action::Quit,
        Scope::Global,
        None,
        "quit at once",
    ),
    b(
        &[Key::Ctrl('r'), Key::Char('r')],
        Action::Rescan,
        Scope::Global,
        Some("rescan"),
        "read the source again and re-run the checks",
    ),
    b(
        &[Key::Char('k'), Key::Up],
        Action::Up,
        Scope::Global,
        None,
        "move up",
    ),
    b(
        &[Key::Char('j'), Key::Down],
        Action::Down,
        Scope::Global,
        None,
        "move down",
    ),
    b(
        &[Key::PageUp],
        Action::PageUp,
        Scope::Global,
        None,
        "page up",
    ),
    b(
        &[Key::PageDown],
        Action::PageDown,
        Scope::Global,
        None,
        "page down",
    ),
    b(
        &[Key::Home],
        Action::Top,
        Scope::Global,
        None,
        "go to the top",
    ),
    b(
        &[Key::Char('G'), Key::End],
        Action::Bottom,
        Scope::Global,
        None,
        "go to the bottom",
    ),
    b(
        &[Key::Char('u')],
        Action::Undo,
        Scope::Global,
        None,
        "roll back what the last y applied (from its backups on a live cluster)",
    ),
    b(
        &[Key::Char('1')],
        Action::JumpArea(0),
        Scope::Global,
        None,
        "open API access",
    ),
    b(
        &[Key::Char('2')],
        Action::JumpArea(1),
        Scope::Global,
        None,
        "open data at rest",
    ),
    b(
        &[Key::Char('3')],
        Action::JumpArea(2),
        Scope::Global,
        None,
        "open pod security",
    ),
    b(
        &[Key::Char('4')],
        Action::JumpArea(3),
        Scope::Global,
        None,
        "open image policies",
    ),
    b(
        &[Key::Char('5')],
        Action::JumpArea(4),
        Scope::Global,
        None,
        "open network policies",
    ),
    b(
        &[Key::Enter],
        Action::Open,
        Scope::Overview,
        Some("open area"),
        "open the selected area's findings",
    ),
    b(
        &[Key::Esc],
        Action::Back,
        Scope::Overview,
        None,
        "close the help screen",
    ),
    b(
        &[Key::Enter],
        Action::Open,
        Scope::Area,
        Some("detail"),
        "show the selected finding",
    ),
    b(
        &[Key::Esc],
        Action::Back,
        Scope::Area,
        Some("back"),
        "back to the overview",
    ),
    b(
        &[Key::Char('n'), Key::Tab],
        Action::NextArea,
        Scope::Area,
        Some("next area"),
        "next area",
    ),
    b(
        &[Key::Char('p'), Key::BackTab],
        Action::PrevArea,
        Scope::Area,
        None,
        "previous area",
    ),
    b(
        &[Key::Char('f')],
        Action::Remediate,
        Scope::Area,
        Some("fix"),
        "show the remediation of the selected finding",
    ),
    b(
        &[Key::Char('f')],
        Action::Remediate,
        Scope::Detail,
        Some("fix"),
        "show the remediation of this finding: the change, its risk and the diff",
    ),
    b(
        &[Key::Char('/')],
        Action::Filter,
        Scope::Area,
        Some("filter"),
        "filter: text, sev:high, ns:payments, check:KH-POD-003, kind:Deployment (esc clears)",
    ),
    b(
        &[Key::Char('o')],
        Action::Sort,
        Scope::Area,
        Some("sort"),
        "order by severity, namespace, kind or name",
    ),
    b(
        &[Key::Char('g')],
        Action::Group,
        Scope::Area,
        Some("group"),
        "group by check, by namespace, or not at all",
    ),
    b(
        &[Key::Char(' ')],
        Action::Mark,
        Scope::Area,
        Some("mark"),
        "mark or unmark the selected finding (for a bundle)",
    ),
    b(
        &[Key::Char('a')],
        Action::MarkAll,
        Scope::Area,
        None,
        "mark every finding of the area, or unmark them all",
    ),
    b(
        &[Key::Char('s')],
        Action::Save,
        Scope::Area,
        Some("save bundle"),
        "save the remediations of the marked findings (or of the area's fixable ones) as a bundle",
    ),
    b(
        &[Key::Char(' ')],
        Action::Mark,
        Scope::Detail,
        None,
        "mark or unmark this finding",
    ),
    b(
        &[Key::Char('e')],
        Action::Edit,
        Scope::Fix,
        Some("edit"),
        "edit the change (validated as you type; ctrl-s saves, esc discards)",
    ),
    b(
        &[Key::Char('d')],
        Action::DryRun,
        Scope::Fix,
        Some("dry run"),
        "ask the server for a dry run of this remediation (live clusters): its diff and warnings",
    ),
    b(
        &[Key::Char('y')],
        Action::ApplyFix,
        Scope::Fix,
        Some("apply"),
        "apply this remediation (or the marked findings'): dry run, then write, after a confirmation",
    ),
    b(
        &[Key::Char('s')],
        Action::Save,
        Scope::Fix,
        Some("save bundle"),
        "save the marked findings' remediations (or the area's) as a bundle",
    ),
    b(
        &[Key::Esc],
        Action::Back,
        Scope::Detail,
        Some("back"),
        "back to the findings table",
    ),
    b(
        &[Key::Esc],
        Action::Back,
        Scope::Fix,
        Some("back"),
        "back to the finding",
    ),
];

/// The action a key triggers on a screen.
pub fn action_for(key: Key, scope: Scope) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|b| b.scope == scope)
        .chain(BINDINGS.iter().filter(|b| b.scope == Scope::Global))
        .find(|b| b.keys.contains(&key))
        .map(|b| b.action)
}

/// Footer entries for a screen: (keys, label).
pub fn footer(scope: Scope) -> Vec<(String, &'static str)> {
    let local = BINDINGS
        .iter()
        .filter(|b| b.scope == scope && scope != Scope::Global);
    local
        .chain(BINDINGS.iter().filter(|b| b.scope == Scope::Global))
        .filter_map(|b| b.footer.map(|f| (keys_label(b), f)))
        .collect()
}

/// All keys of a binding, for display.
pub fn keys_label(b: &Binding) -> String {
    b.keys
        .iter()
        .map(|k| k.label())
        .collect::<Vec<_>>()
        .join("/")
}
