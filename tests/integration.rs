//! The integration tests: one binary, one module per area. Each test gets its own temp dir
//! (see `util`), and failures print the command's stdout and stderr.

mod util;

mod architecture;
#[cfg(feature = "ballista")]
mod ballista;
mod budget;
mod capacity;
mod chargeback;
mod charts;
mod cli;
mod close;
mod focus;
mod gateway;
mod ingest_bad_input;
mod ingest_basic;
mod ingest_crash;
mod ingest_formats;
mod ingest_property;
mod limits;
mod maintenance;
mod object_store;
mod prices_import;
mod pricing_tiers;
mod reconcile;
mod reconcile_databricks;
mod reports;
mod rollup_memory;
mod rollup_query;
mod run;
mod run_crash;
mod schema_contract;
mod sql;
mod unmetered;
