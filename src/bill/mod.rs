//! `tokenledger bill import`: the providers' bills into the `bill_lines` table, exactly once
//! per file, bad rows into `quarantine`; and `tokenledger reconcile`, which sets them beside
//! the usage tables.

pub mod import;
pub mod line;
pub mod reconcile;
pub mod sources;
