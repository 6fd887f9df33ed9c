//! The crate's one error type. Library code returns [`Result`]; `main.rs` prints it and exits with its code.

use std::path::PathBuf;

/// Everything that can go wrong in tokenledger, with enough context to tell the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for something impossible (bad flag value, missing warehouse...).
    #[error("{0}")]
    Usage(String),

    /// The warehouse has no such table (yet): it was never initialised, or the step that
    /// writes the table has not run. The command line says which command makes it.
    #[error("no {table} table in warehouse {warehouse}")]
    NoTable { table: String, warehouse: String },

    /// A table has no such version to read (it is newer than the table, or its log is gone).
    #[error("{table} has no version {version} to read ({reason})")]
    NoVersion { table: String, version: u64, reason: String },

    /// A range of dates whose first day is after its last.
    #[error("the range starts on {from}, after it ends on {to}")]
    EmptyRange { from: chrono::NaiveDate, to: chrono::NaiveDate },

    /// A period that is not a month, `YYYY-MM`.
    #[error("{text:?} is not a month: use YYYY-MM, e.g. 2025-01")]
    NotAMonth { text: String },

    /// A chargeback key that is not one of the keys.
    #[error("{key:?} is not a chargeback key; use any of {known}")]
    UnknownKey { key: String, known: String },

    /// A configuration file is invalid; the message names the file and line.
    #[error("{0}")]
    Config(String),

    /// An input file could not be read at all (not a quarantinable record problem).
    #[error("cannot read {path}: {source}")]
    Input {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An input file is unreadable for a reason other than I/O (corrupt Parquet, bad gzip...).
    #[error("cannot read {path}: {message}")]
    InputFormat { path: PathBuf, message: String },

    /// More records were quarantined than `--max-quarantine-ratio` allows; nothing was written.
    #[error(
        "{quarantined} of {read} records ({ratio:.2}%) were quarantined, over the limit of {limit:.2}%; \
         nothing was written. Inspect the reasons above, fix the input, or raise --max-quarantine-ratio"
    )]
    QuarantineRatioExceeded { quarantined: u64, read: u64, ratio: f64, limit: f64 },

    /// Another run holds the warehouse's lock (exit code 5); the message names it.
    #[error("{0}")]
    Locked(String),

    /// A bug in tokenledger, not in the input: exit code 1, and worth a report.
    #[error("internal error: {0} (this is a bug in tokenledger; please report it)")]
    Internal(String),

    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),

    #[error("Delta table error: {0}")]
    Delta(#[from] deltalake::DeltaTableError),

    #[error("Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("Parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error("query error: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<crate::pricing::ConfigError> for Error {
    /// A bad price book or principals file is a configuration error (exit code 2), with every
    /// problem and its line in the message; an unreadable one is an input error.
    fn from(e: crate::pricing::ConfigError) -> Self {
        match e {
            crate::pricing::ConfigError::Io { path, source } => Error::Input { path, source },
            invalid => Error::Config(invalid.to_string()),
        }
    }
}

impl Error {
    /// Running out of the memory budget is something the user can fix: a usage error that says
    /// how. `what` is the work that ran out (`the rollup`, `the query`).
    pub fn with_memory_hint(self, what: &str, limit: Option<usize>) -> Error {
        match &self {
            Error::DataFusion(e)
                if matches!(e.find_root(), datafusion::error::DataFusionError::ResourcesExhausted(_)) =>
            {
                let limit =
                    limit.map_or(String::new(), |l| format!(" ({})", bytesize::ByteSize::b(l as u64).display().iec()));
                Error::Usage(format!(
                    "{what} needed more memory than --memory-limit allows{limit}: {e}. Run it again with a larger --memory-limit."
                ))
            }
            // a cluster's job that ran out of an executor's memory: Ballista hands back the
            // task's error as text only, so the text is all there is to tell it by
            Error::DataFusion(e) if e.to_string().contains("ResourcesExhausted(") => Error::Usage(format!(
                "{what} needed more memory than the cluster's executors allow (`tokenledger cluster --memory-limit`): {e}. Start the executors with a larger --memory-limit, or more of them."
            )),
            _ => self,
        }
    }

    /// The process exit code for this error (documented in `tokenledger --help`).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_)
            | Error::Config(_)
            | Error::NoTable { .. }
            | Error::NoVersion { .. }
            | Error::EmptyRange { .. }
            | Error::NotAMonth { .. }
            | Error::UnknownKey { .. } => 2,
            Error::QuarantineRatioExceeded { .. } => 4,
            Error::Locked(_) => 5,
            _ => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
