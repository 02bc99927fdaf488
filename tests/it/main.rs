//! The one integration-test binary: a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod apply;
mod apply_live;
mod checks;
mod cli;
mod config;
mod e2e;
mod fake_api;
mod fake_writes;
mod hostile;
mod live;
mod pss;
mod rbac;
mod real;
mod remediate;
mod sources;
mod tui;
mod util;
