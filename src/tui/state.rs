//! The one state of the UI. Owned by the event loop; changed only by `update`.

use super::keymap::Scope;
use super::msg::LoadedData;
use crate::model::{Area, Finding};
use crate::source::Progress;

/// Which screen is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The five areas with scores and counts.
    Overview,
    /// One area's findings.
    Area(Area),
    /// One finding (index into the scan's findings) and the area it was opened from.
    Detail {
        /// The area table to return to.
        area: Area,
        /// Index into `scan.results.findings`.
        finding: usize,
    },
    /// The remediation of one finding: the changes, their risk, the patch and the diff.
    Fix {
        /// The area table the finding belongs to.
        area: Area,
        /// Index into `scan.results.findings`.
        finding: usize,
    },
}

impl Screen {
    /// The keymap scope of the screen.
    pub fn scope(self) -> Scope {
        match self {
            Screen::Overview => Scope::Overview,
            Screen::Area(_) => Scope::Area,
            Screen::Detail { .. } => Scope::Detail,
            Screen::Fix { .. } => Scope::Fix,
        }
    }
}

/// Where the current load stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadState {
    /// Nothing requested yet.
    Idle,
    /// A load is running.
    Loading {
        /// Its request ID.
        req: u64,
        /// The last progress report.
        progress: Option<Progress>,
    },
    /// The last load finished.
    Ready,
    /// The last load failed: the one-line reason.
    Failed(String),
}

/// A table's selection and scroll offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListState {
    /// Selected row.
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
}

impl ListState {
    /// Moves the selection by `delta` within `len` rows and keeps it inside a window of
    /// `height` rows.
    pub fn step(&mut self, delta: isize, len: usize, height: usize) {
        if len == 0 {
            *self = ListState::default();
            return;
        }
        let last = len - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        self.keep_visible(height.max(1));
    }

    fn keep_visible(&mut self, height: usize) {
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
    }
}

/// The loaded data with per-area views computed once.
#[derive(Debug)]
pub struct Data {
    /// Inventory, scan and time.
    pub loaded: LoadedData,
    /// Finding indexes per area, in report order (worst first).
    pub by_area: Vec<Vec<usize>>,
    /// The rows the tables show per area: `by_area` filtered, sorted and grouped.
    pub visible: Vec<Vec<usize>>,
}

/// How a findings table is ordered (`o` cycles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Worst first (the report's order).
    #[default]
    Severity,
    /// By namespace, then severity.
    Namespace,
    /// By kind, then name.
    Kind,
    /// By object name.
    Name,
}

impl SortBy {
    /// The next order.
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Severity => SortBy::Namespace,
            SortBy::Namespace => SortBy::Kind,
            SortBy::Kind => SortBy::Name,
            SortBy::Name => SortBy::Severity,
        }
    }

    /// Its name in the table header.
    pub fn label(self) -> &'static str {
        match self {
            SortBy::Severity => "severity",
            SortBy::Namespace => "namespace",
            SortBy::Kind => "kind",
            SortBy::Name => "name",
        }
    }
}

/// How a findings table is grouped (`g` cycles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupBy {
    /// No grouping.
    #[default]
    None,
    /// Findings of one check together.
    Check,
    /// Findings of one namespace together.
    Namespace,
}

impl GroupBy {
    /// The next grouping.
    pub fn next(self) -> GroupBy {
        match self {
            GroupBy::None => GroupBy::Check,
            GroupBy::Check => GroupBy::Namespace,
            GroupBy::Namespace => GroupBy::None,
        }
    }

    /// Its name in the table header.
    pub fn label(self) -> &'static str {
        match self {
            GroupBy::None => "",
            GroupBy::Check => "check",
            GroupBy::Namespace => "namespace",
        }
    }
}

/// The namespace a finding is about: its object's, or the Namespace's own name.
fn namespace_of(f: &Finding) -> &str {
    f.object
        .namespace
        .as_deref()
        .unwrap_or(if f.object.kind == "Namespace" {
            f.object.name.as_str()
        } else {
            ""
        })
}

/// Whether a finding matches a filter: every space-separated term must match. `sev:high`,
/// `ns:payments`, `check:KH-POD` (prefix), `kind:Deployment`; any other term is a
/// case-insensitive substring of the check, the object or the message.
pub fn matches_filter(f: &Finding, filter: &str) -> bool {
    filter.split_whitespace().all(|term| {
        let lower = term.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("sev:") {
            f.severity.key() == v || (v == "crit" && f.severity.key() == "critical")
        } else if let Some(v) = lower.strip_prefix("ns:") {
            namespace_of(f).eq_ignore_ascii_case(v)
        } else if let Some(v) = lower.strip_prefix("check:") {
            f.check.to_ascii_lowercase().starts_with(v)
        } else if let Some(v) = lower.strip_prefix("kind:") {
            f.object.kind.eq_ignore_ascii_case(v)
        } else {
            f.check.to_ascii_lowercase().contains(&lower)
                || f.object.to_string().to_ascii_lowercase().contains(&lower)
                || f.message.to_ascii_lowercase().contains(&lower)
        }
    })
}

impl Data {
    /// Recomputes the visible rows: `by_area` filtered, then ordered by the group and the
    /// sort (stable, so the report's order breaks ties).
    pub fn refine(&mut self, filter: &str, sort: SortBy, group: GroupBy) {
        let findings = &self.loaded.scan.results.findings;
        self.visible = self
            .by_area
            .iter()
            .map(|rows| {
                let mut v: Vec<usize> = rows
                    .iter()
                    .copied()
                    .filter(|i| {
                        filter.trim().is_empty()
                            || findings.get(*i).is_some_and(|f| matches_filter(f, filter))
                    })
                    .collect();
                if sort != SortBy::Severity || group != GroupBy::None {
                    v.sort_by(|a, b| {
                        let (Some(fa), Some(fb)) = (findings.get(*a), findings.get(*b)) else {
                            return std::cmp::Ordering::Equal;
                        };
                        let by_group = match group {
                            GroupBy::None => std::cmp::Ordering::Equal,
                            GroupBy::Check => fa.check.cmp(fb.check),
                            GroupBy::Namespace => namespace_of(fa).cmp(namespace_of(fb)),
                        };
                        let by_sort = match sort {
                            SortBy::Severity => fb.severity.cmp(&fa.severity),
                            SortBy::Namespace => namespace_of(fa).cmp(namespace_of(fb)),
                            SortBy::Kind => fa
                                .object
                                .kind
                                .cmp(&fb.object.kind)
                                .then(fa.object.name.cmp(&fb.object.name)),
                            SortBy::Name => fa.object.name.cmp(&fb.object.name),
                        };
                        by_group.then(by_sort)
                    });
                }
                v
            })
            .collect();
    }

    /// Indexes the findings by area.
    pub fn new(loaded: LoadedData) -> Data {
        let mut by_area = vec![Vec::new(); Area::ALL.len()];
        for (i, f) in loaded.scan.results.findings.iter().enumerate() {
            if let Some(slot) = Area::ALL
                .iter()
                .position(|a| *a == f.area)
                .and_then(|p| by_area.get_mut(p))
            {
                slot.push(i);
            }
        }
        let visible = by_area.clone();
        Data {
            loaded,
            by_area,
            visible,
        }
    }

    /// The findings an area's table shows (indexes into the scan's findings): all of them,
    /// unless a filter, a sort or a grouping is set.
    pub fn area_findings(&self, area: Area) -> &[usize] {
        Area::ALL
            .iter()
            .position(|a| *a == area)
            .and_then(|p| self.visible.get(p))
            .map_or(&[], Vec::as_slice)
    }

    /// Copies of the findings at these indexes (those still present).
    pub fn findings_at(&self, indexes: &[usize]) -> Vec<Finding> {
        indexes
            .iter()
            .filter_map(|i| self.finding(*i).cloned())
            .collect()
    }

    /// One finding.
    pub fn finding(&self, index: usize) -> Option<&Finding> {
        self.loaded.scan.results.findings.get(index)
    }
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct AppState {
    /// The source, as the status line names it.
    pub source: String,
    /// Whether the source can be read again (`-f -` cannot).
    pub rescannable: bool,
    /// The load.
    pub load: LoadState,
    /// The last successful load.
    pub data: Option<Data>,
    /// The screen.
    pub screen: Screen,
    /// Selection in the overview (area index).
    pub overview: usize,
    /// Selection and scroll per area table.
    pub tables: [ListState; 5],
    /// Scroll of the detail view, in lines, relative to where it opens (with the offending
    /// line in view).
    pub detail_scroll: isize,
    /// The help overlay is open.
    pub help: bool,
    /// Rows of the terminal (for paging and keeping the selection visible).
    pub rows: u16,
    /// The last request ID handed out.
    pub last_req: u64,
    /// A transient note for the status line.
    pub note: Option<String>,
    /// The remediation shown on the fix screen, planned when it opens.
    pub fix: Option<FixView>,
    /// Scroll of the fix screen, in lines.
    pub fix_scroll: usize,
    /// Marked findings (indexes into the scan's findings), for bundles.
    pub marked: std::collections::BTreeSet<usize>,
    /// The open text prompt, if any.
    pub prompt: Option<SavePrompt>,
    /// The open apply confirmation, if any.
    pub confirm: Option<ConfirmApply>,
    /// Whether and how changes can be applied to the source.
    pub target: ApplyTarget,
    /// The last server dry run: the finding it was for and the server's answer, line by line
    /// (`None` while it runs).
    pub dry_run: Option<(usize, Option<Vec<String>>)>,
    /// The findings filter (`/`).
    pub filter: String,
    /// Whether the filter is being typed.
    pub filtering: bool,
    /// The tables' order (`o`).
    pub sort: SortBy,
    /// The tables' grouping (`g`).
    pub group: GroupBy,
    /// The user's remediation options (trusted registries, open-egress namespaces), so the
    /// previews match what `s` and `y` write.
    pub fix_options: crate::remediate::Options,
    /// Keys of the open findings per area at the session's first scan, to count what got
    /// fixed since.
    pub baseline: Option<Vec<std::collections::HashSet<String>>>,
    /// Findings fixed since the first scan, per area (in session order).
    pub fixed: [usize; 5],
    /// What the last `y` applied, for `u`: the data before it (in-memory demo) or the
    /// bundle folder (live cluster).
    pub last_applied: Option<Applied>,
    /// `r` was pressed once while a change applied in memory would be dropped: the next `r`
    /// rescans (any other key disarms it).
    pub rescan_armed: bool,
    /// The open patch editor, if any.
    pub editor: Option<Editor>,
    /// Spinner frame, advanced by ticks while background work runs.
    pub spinner: usize,
    /// The per-change results of the last apply or rollback on a live cluster, shown until
    /// `esc`.
    pub results: Option<Vec<String>>,
}

/// What `u` can undo.
#[derive(Debug)]
pub enum Applied {
    /// The demo's data before the change.
    InMemory(Box<super::msg::LoadedData>),
    /// The bundle the live apply wrote (its log and backups drive the rollback).
    Bundle(std::path::PathBuf),
}

impl AppState {
    /// Recounts the findings fixed since the first scan (the first call sets the baseline).
    pub fn recount_fixed(&mut self) {
        let Some(data) = &self.data else { return };
        let open_keys = |area: Area| -> std::collections::HashSet<String> {
            data.loaded
                .scan
                .results
                .in_area(area)
                .filter(|f| f.waived.is_none())
                .map(|f| f.key())
                .collect()
        };
        let now: Vec<std::collections::HashSet<String>> =
            Area::ALL.iter().map(|a| open_keys(*a)).collect();
        match &self.baseline {
            None => {
                self.baseline = Some(now);
                self.fixed = [0; 5];
            }
            Some(base) => {
                for (i, (b, n)) in base.iter().zip(&now).enumerate() {
                    if let Some(slot) = self.fixed.get_mut(i) {
                        *slot = b.difference(n).count();
                    }
                }
            }
        }
    }
}

/// Where `y` applies changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyTarget {
    /// The demo cluster, in memory (a rescan restores it).
    InMemory,
    /// A live cluster: the context's name.
    Cluster(String),
    /// Nowhere: why (manifests on disk).
    Disabled(String),
}

/// The apply confirmation: what would change, where.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmApply {
    /// The findings whose remediations apply.
    pub findings: Vec<usize>,
    /// The edited changes to apply instead of a fresh plan.
    pub edited: Option<Vec<crate::remediate::Remediation>>,
    /// The objects that change, as `Kind namespace/name (form)`.
    pub objects: Vec<String>,
}

/// The prompt that asks where to save a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavePrompt {
    /// The folder, as typed so far.
    pub path: String,
    /// The findings the bundle is for.
    pub findings: Vec<usize>,
}

/// The patch editor: a text area over one change's body, validated as it is typed.
#[derive(Debug)]
pub struct Editor {
    /// The text.
    pub area: ratatui_textarea::TextArea<'static>,
    /// Which change of the fix view it edits.
    pub change: usize,
    /// Why the text is not a valid change right now (`None`: it is).
    pub error: Option<String>,
}

/// One finding's remediation, planned for the fix screen.
#[derive(Debug, Clone)]
pub struct FixView {
    /// Whether the user edited a change (then `y` applies the edited changes).
    pub edited: bool,
    /// The finding it was planned for.
    pub finding: usize,
    /// The changes, each with its preview.
    pub changes: Vec<(crate::remediate::Remediation, crate::remediate::Preview)>,
    /// Why there is no change, when there is none.
    pub unfixed: Vec<String>,
}

impl AppState {
    /// A fresh state for a source.
    pub fn new(source: impl Into<String>, rescannable: bool) -> AppState {
        AppState {
            source: source.into(),
            rescannable,
            load: LoadState::Idle,
            data: None,
            screen: Screen::Overview,
            overview: 0,
            tables: [ListState::default(); 5],
            detail_scroll: 0,
            help: false,
            rows: 24,
            last_req: 0,
            note: None,
            fix: None,
            fix_scroll: 0,
            marked: std::collections::BTreeSet::new(),
            prompt: None,
            confirm: None,
            target: ApplyTarget::InMemory,
            dry_run: None,
            filter: String::new(),
            filtering: false,
            sort: SortBy::Severity,
            group: GroupBy::None,
            fix_options: crate::remediate::Options::default(),
            baseline: None,
            fixed: [0; 5],
            last_applied: None,
            rescan_armed: false,
            editor: None,
            spinner: 0,
            results: None,
        }
    }

    /// Rows a findings table shows at the current terminal size (header, area summary,
    /// table header, status line and footer take the rest).
    pub fn table_rows(&self) -> usize {
        usize::from(self.rows.saturating_sub(8)).max(1)
    }

    /// The table state of an area.
    pub fn table(&self, area: Area) -> ListState {
        Area::ALL
            .iter()
            .position(|a| *a == area)
            .and_then(|i| self.tables.get(i))
            .copied()
            .unwrap_or_default()
    }

    /// The table state of an area, mutably.
    pub fn table_mut(&mut self, area: Area) -> Option<&mut ListState> {
        Area::ALL
            .iter()
            .position(|a| *a == area)
            .and_then(|i| self.tables.get_mut(i))
    }
}
