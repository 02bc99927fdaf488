//! Colours, or their absence: without colour, severity is spelled out and the selection is
//! shown reversed, so nothing depends on colour alone.

use crate::model::Severity;
use ratatui::style::{Color, Modifier, Style};

/// The styles of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Whether colours are on.
    pub color: bool,
}

impl Theme {
    /// A severity's style.
    pub fn severity(self, s: Severity) -> Style {
        if !self.color {
            return match s {
                Severity::Critical | Severity::High => Style::new().add_modifier(Modifier::BOLD),
                _ => Style::new(),
            };
        }
        match s {
            Severity::Critical => Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
            Severity::High => Style::new().fg(Color::Red),
            Severity::Medium => Style::new().fg(Color::Yellow),
            Severity::Low => Style::new().fg(Color::Cyan),
            Severity::Info => Style::new().fg(Color::Gray),
        }
    }

    /// The selected row.
    pub fn selected(self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// Headings.
    pub fn heading(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::LightBlue)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    /// Secondary text.
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    /// The highlighted line of the object YAML.
    pub fn highlight(self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// A score's style: green when high, red when low.
    pub fn score(self, score: Option<u8>) -> Style {
        if !self.color {
            return Style::new();
        }
        match score {
            Some(s) if s >= 90 => Style::new().fg(Color::Green),
            Some(s) if s >= 60 => Style::new().fg(Color::Yellow),
            Some(_) => Style::new().fg(Color::Red),
            None => Style::new().fg(Color::Gray),
        }
    }

    /// Keys in the footer.
    pub fn key(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::LightCyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }
}

/// A severity spelled in four letters, for tables.
pub fn severity_tag(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRIT",
        Severity::High => "HIGH",
        Severity::Medium => "MED",
        Severity::Low => "LOW",
        Severity::Info => "INFO",
    }
}
