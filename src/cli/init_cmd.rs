//! `tokenledger init`

use clap::Args;

use super::{Cli, OutputFormat, print_json};
use crate::error::Result;
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
pub struct InitArgs {}

pub async fn run(warehouse: &Warehouse, _args: &InitArgs, cli: &Cli) -> Result<i32> {
    let report = warehouse.init().await?;
    match cli.format {
        OutputFormat::Json => print_json(&report)?,
        _ => {
            if report.unchanged() {
                println!("Warehouse {} already exists; nothing changed.", report.warehouse);
            } else {
                println!("Warehouse {}", report.warehouse);
                for t in &report.tables_created {
                    println!("  created table   {t}");
                }
                for t in &report.tables_existing {
                    println!("  kept table      {t} (already there)");
                }
                for f in &report.config_files_written {
                    println!("  wrote           config/{f} (an example: edit it)");
                }
                for f in &report.config_files_existing {
                    println!("  kept            config/{f} (already there)");
                }
                println!("\nNext: tokenledger -w {} ingest PATH...", report.warehouse);
            }
        }
    }
    Ok(0)
}
