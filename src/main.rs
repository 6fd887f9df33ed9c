//! The `tokenledger` binary: parse arguments, run the library, map errors to exit codes.

use clap::Parser;
use tokenledger::cli::{Cli, LogFormat, run};

fn main() {
    let cli = Cli::parse();
    init_logging(cli.quiet, cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // the crate's messages already say what their source said; printing the chain
            // again would repeat it
            eprintln!("error: {e}");
            if let Some(hint) = tokenledger::cli::hint(&e) {
                eprintln!("hint: {hint}");
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// Log lines on stderr, plain or JSON (`--log-format json`); `RUST_LOG` overrides `-q` / `-v`.
fn init_logging(quiet: bool, verbose: u8, format: LogFormat) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "tokenledger=info,warn",
        (false, 1) => "tokenledger=debug,warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}
