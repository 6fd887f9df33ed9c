//! The `tokenledger` binary: parse the arguments and hand them to the library, which runs the
//! command and says which exit code it ends with.

use clap::Parser;

fn main() {
    let cli = tokenledger::cli::Cli::parse();
    std::process::exit(tokenledger::cli::main(cli));
}
