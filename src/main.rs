//! The kubeharden binary: parse flags, run, map errors to exit codes.

use clap::{CommandFactory, Parser};
use kubeharden::cli::{self, Cli, Command, EXIT_ERROR, EXIT_OK};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// mimalloc: parsing allocates millions of small strings and maps; it is markedly faster
/// than the system allocator here and fragments less across the parser threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(
                stderr,
                "kubeharden: {}",
                kubeharden::text::sanitize(&format!("{err:#}"))
            );
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Some(Command::Scan(args)) => cli::scan::run(&cli.source, &cli.checks, args),
        Some(Command::Fix(args)) => cli::fix::run(&cli.source, &cli.checks, args),
        Some(Command::Apply(args)) => cli::apply::run_apply(&cli.source, args),
        Some(Command::Rollback(args)) => cli::apply::run_rollback(&cli.source, args),
        Some(Command::Rbac) => Ok(cli::apply::run_rbac()),
        Some(Command::Checks { format }) => {
            let text = kubeharden::cli::checks_listing(*format);
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            Ok(EXIT_OK)
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "kubeharden", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        None => {
            if !std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "the TUI needs a terminal; for a report use `kubeharden scan` (try --help)"
                );
            }
            let color = cli.color.enabled(true);
            let settings = cli.checks.settings()?;
            kubeharden::tui::run(cli.source.spec(), settings, color, cli.watch)?;
            Ok(EXIT_OK)
        }
    }
}
