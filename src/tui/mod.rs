//! The terminal UI (being built).

use crate::source::SourceSpec;

/// Opens the TUI on a source.
pub fn run(_source: SourceSpec, _color: bool) -> anyhow::Result<()> {
    anyhow::bail!("the TUI is not built yet")
}
