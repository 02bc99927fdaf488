//! kubeharden: find, fix, dry-run and apply Kubernetes hardening in one terminal program.
//!
//! The data flow: a [`source`] loads objects into [`model::Object`]s, the
//! [`model::Inventory`] indexes them, [`checks`] turn the inventory into findings and area
//! scores, and [`report`] or the [`tui`] show them. `model`, `checks` and `report` are pure.

pub mod apply;
pub mod bundle;
pub mod checks;
pub mod cli;
pub mod config;
pub mod diff;
pub mod engine;
pub mod model;
pub mod par;
pub mod remediate;
pub mod report;
pub mod source;
pub mod text;
pub mod tui;
