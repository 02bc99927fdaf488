//! What enters `update` (messages), what users ask for (actions), and what `update` asks the
//! runtime to do (effects).

use crate::model::{Area, Inventory};
use crate::report::Scan;
use crate::source::Progress;

/// A named user intent, bound to keys in the keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Quit the program.
    Quit,
    /// Show or hide the help screen.
    Help,
    /// Close the current screen, go back.
    Back,
    /// Open the selected item.
    Open,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Move a page up.
    PageUp,
    /// Move a page down.
    PageDown,
    /// Go to the first item.
    Top,
    /// Go to the last item.
    Bottom,
    /// Go to the next area.
    NextArea,
    /// Go to the previous area.
    PrevArea,
    /// Open one area (0-based, in session order).
    JumpArea(usize),
    /// Read the source again and re-run the checks.
    Rescan,
    /// Show the remediation of the selected finding.
    Remediate,
    /// Mark or unmark the selected finding.
    Mark,
    /// Mark every finding of the area (or unmark them when all are marked).
    MarkAll,
    /// Save the remediations of the marked findings (or of the area) as a bundle.
    Save,
    /// Apply the remediation shown (or the marked findings' remediations), after a
    /// confirmation that names the objects and the target.
    ApplyFix,
    /// Ask the server for a dry run of the remediation shown (or the marked ones').
    DryRun,
    /// Roll back what the last `y` applied.
    Undo,
    /// Edit the first change of the remediation shown.
    Edit,
    /// Type a filter for the findings tables.
    Filter,
    /// Order the tables by the next key.
    Sort,
    /// Group the tables by the next key.
    Group,
}

/// A key typed into the text prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKey {
    /// A character.
    Char(char),
    /// Delete the last character.
    Backspace,
    /// Accept.
    Enter,
    /// Cancel.
    Esc,
}

/// A finished load: the inventory and the scan, and when it finished.
#[derive(Debug)]
pub struct LoadedData {
    /// The objects.
    pub inventory: Inventory,
    /// Findings and scores.
    pub scan: Scan,
    /// When the scan finished (UTC, for the status line).
    pub scanned_at: String,
}

/// What enters `update`.
#[derive(Debug)]
pub enum Msg {
    /// A user action.
    Action(Action),
    /// A load finished (or failed with a one-line message).
    Loaded {
        /// The request it answers.
        req: u64,
        /// The data, or the error.
        result: Result<Box<LoadedData>, String>,
    },
    /// A load made progress.
    Progress {
        /// The request.
        req: u64,
        /// How far.
        progress: Progress,
    },
    /// A key typed while the prompt is open.
    Prompt(PromptKey),
    /// A key typed in the patch editor (`ctrl-s` saves, `esc` cancels).
    EditKey(ratatui_textarea::Input),
    /// The answer to the apply confirmation.
    Confirm(bool),
    /// A server-side dry run finished: what the server answered, line by line, or why it
    /// could not run.
    DryRunDone {
        /// The finding the dry run was for.
        finding: usize,
        /// The outcome.
        result: Result<Vec<String>, String>,
    },
    /// Changes were applied: new data (in-memory demo) or `None` (a live cluster, which
    /// is then read again), and a one-line summary; or why nothing was applied.
    Applied {
        /// The outcome.
        result: Result<(Option<Box<LoadedData>>, String), String>,
        /// The bundle a live apply wrote (its log and backups let `u` roll it back).
        bundle: Option<std::path::PathBuf>,
        /// What the engine reported per change (live clusters), for the results panel.
        details: Vec<String>,
    },
    /// A rollback of a live apply finished: its summary, or why it failed.
    RolledBack {
        /// The outcome.
        result: Result<String, String>,
        /// What the engine reported per change.
        details: Vec<String>,
    },
    /// The runtime proposes a folder for a bundle (it knows the data directory and the time).
    PromptOpened {
        /// The proposed folder.
        path: String,
    },
    /// A bundle was written (the folder and the number of changes) or not (why).
    Saved {
        /// The outcome.
        result: Result<(String, usize), String>,
    },
    /// A left click on a screen row (0 is the top line): selects the row under it; a click on
    /// the selected row opens it.
    Click {
        /// The screen row.
        row: u16,
    },
    /// Time passed (every 100 ms while something runs in the background): the spinner.
    Tick,
    /// The terminal has a new size (rows).
    Resize {
        /// Rows of the terminal.
        rows: u16,
    },
}

/// What `update` asks the runtime for.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Load the source and run the checks; answer with `Msg::Loaded { req, .. }`.
    Load {
        /// Request ID.
        req: u64,
    },
    /// Propose a folder for a bundle; answer with `Msg::PromptOpened`.
    ProposeBundlePath,
    /// Plan the remediations of these findings and write them as a bundle to `dir`
    /// (never over a non-empty folder); answer with `Msg::Saved`.
    SaveBundle {
        /// The folder.
        dir: String,
        /// Indexes into the scan's findings.
        findings: Vec<usize>,
    },
    /// Apply the remediations of these findings (the runtime dry-runs every change first
    /// on a live cluster); answer with `Msg::Applied`.
    Apply {
        /// Indexes into the scan's findings.
        findings: Vec<usize>,
        /// The changes as the user edited them, applied instead of a fresh plan.
        edited: Option<Vec<crate::remediate::Remediation>>,
    },
    /// Dry-run the remediations of these findings against the live cluster; answer with
    /// `Msg::DryRunDone`.
    DryRun {
        /// The finding on screen (the answer is shown with it).
        finding: usize,
        /// Indexes into the scan's findings.
        findings: Vec<usize>,
    },
    /// Roll back the changes the bundle in this folder applied; answer with
    /// `Msg::RolledBack`.
    Rollback {
        /// The bundle folder.
        dir: std::path::PathBuf,
    },
    /// Leave the program.
    Quit,
}

impl Action {
    /// The area an action jumps to, for `JumpArea`.
    pub fn area(self) -> Option<Area> {
        match self {
            Action::JumpArea(i) => Area::ALL.get(i).copied(),
            _ => None,
        }
    }
}
