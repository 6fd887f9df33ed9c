//! tokenledger: the usage and chargeback ledger for LLM gateways.
//!
//! The stages of the ledger, one module each: [`warehouse`] (Delta tables and
//! their schemas), [`ingest`] (gateway logs into the `inference` table, exactly once),
//! [`generator`] (realistic synthetic logs), [`pricing`] (price book and principals, the
//! dimension files of `config/`), and [`cli`] (the command line).

pub mod chargeback;
pub mod cli;
pub mod engine;
pub mod error;
pub mod fmt;
pub mod generator;
pub mod ingest;
pub mod maintenance;
pub mod pricing;
pub mod progress;
pub mod query;
pub mod rollup;
pub mod run;
pub mod warehouse;

pub use error::{Error, Result};
