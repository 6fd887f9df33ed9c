//! tokenledger: the usage and chargeback ledger for LLM gateways.
//!
//! Three layers, and imports go down only (`tests/architecture.rs` checks it):
//!
//! - **Above the stages**: [`cli`] (the command line, one file per command) and [`run`] (the
//!   scheduled cycle, its lock and run records) call the stages in order.
//! - **The stages** ([`STAGES`]), side by side, meeting only through the warehouse's tables:
//!   [`ingest`] (gateway logs into `inference` and `quarantine`, exactly once), [`rollup`]
//!   (the usage tables, priced and attributed), [`chargeback`] (periods, capacity pools,
//!   CSV and FOCUS exports, budget status), [`query`] (analyst SQL, the shell, named
//!   reports), [`maintenance`] (compaction, vacuum, payload retention), [`generator`]
//!   (realistic synthetic gateway logs), [`bill`] (the providers' bills into `bill_lines`,
//!   reconciled with the usage tables) and [`limits`] (the history replayed under proposed
//!   gateway rate limits).
//! - **Plumbing** ([`PLUMBING`]), used by all and using no stage: [`warehouse`] (Delta tables,
//!   commits, config files, the lock), [`engine`] (every DataFusion session, local or
//!   Ballista, its memory pool, functions and object stores), [`model`] (the SQL of `sql/` and
//!   its inputs), [`pricing`] (the price book, principals, budgets and capacity pools of
//!   `config/`), [`csv_record`] (reading CSV records), [`money`] (rounding), [`time`] (dates
//!   and instants), [`output`] (tables, CSV, JSON, Parquet, charts, atomic files),
//!   [`progress`] (progress bars) and [`error`].

/// The stages: no stage's code names another.
pub const STAGES: [&str; 8] = ["ingest", "rollup", "chargeback", "query", "maintenance", "generator", "bill", "limits"];
/// The shared plumbing below the stages: it names no stage.
pub const PLUMBING: [&str; 10] =
    ["warehouse", "engine", "model", "pricing", "csv_record", "money", "time", "output", "progress", "error"];

pub mod bill;
pub mod chargeback;
pub mod cli;
pub mod csv_record;
pub mod engine;
pub mod error;
pub mod generator;
pub mod ingest;
pub mod limits;
pub mod maintenance;
pub mod model;
pub mod money;
pub mod output;
pub mod pricing;
pub mod progress;
pub mod query;
pub mod rollup;
pub mod run;
pub mod time;
pub mod warehouse;

pub use error::{Error, Result};
