//! Which system wrote a log file: tokenledger's native records, Databricks' Unity AI Gateway
//! tables (`system.ai_gateway.usage` and the gateway's payload tables), Databricks' legacy
//! `system.serving.endpoint_usage` and legacy payload (inference) tables, or LiteLLM's
//! `LiteLLM_SpendLogs`. `--source auto` reads the file's columns (a CSV header, a Parquet
//! schema, the keys of the first JSON record) and picks the one source whose key columns are
//! all there; when none or several fit, it names the candidates.

use std::io::{BufRead, BufReader, Read};

use arrow::datatypes::DataType;

use super::{Format, InputFile};
use crate::error::{Error, Result};

/// What the user says wrote the files: `auto` (each file told by its columns) or a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceChoice {
    #[default]
    Auto,
    Native,
    /// Databricks `system.ai_gateway.usage` (Unity AI Gateway usage tracking).
    DatabricksAiGateway,
    /// Databricks legacy `system.serving.endpoint_usage` (needs --served-entities).
    DatabricksUsage,
    /// A Databricks payload (inference) table, of the AI Gateway or the legacy shape (told by
    /// its columns; the legacy one needs --served-entities).
    DatabricksPayload,
    Litellm,
}

impl SourceChoice {
    /// The source of `file`: the one chosen, or told from its columns. A payload table is one
    /// choice with two shapes, told apart by the columns either way.
    pub fn resolve(self, file: &InputFile) -> Result<Source> {
        Ok(match self {
            SourceChoice::Auto => detect(file)?,
            SourceChoice::Native => Source::Native,
            SourceChoice::DatabricksAiGateway => Source::DatabricksAiGateway,
            SourceChoice::DatabricksUsage => Source::DatabricksUsage,
            SourceChoice::DatabricksPayload => match columns(file) {
                Ok(names) if Source::DatabricksAiGatewayPayload.fits(&names) => Source::DatabricksAiGatewayPayload,
                _ => Source::DatabricksPayload,
            },
            SourceChoice::Litellm => Source::Litellm,
        })
    }
}

/// The system that wrote a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// tokenledger's own records (what `tokenledger gen` writes).
    Native,
    /// Databricks `system.ai_gateway.usage`.
    DatabricksAiGateway,
    /// A Unity AI Gateway payload (inference) table.
    DatabricksAiGatewayPayload,
    /// Databricks legacy `system.serving.endpoint_usage` (needs --served-entities).
    DatabricksUsage,
    /// A Databricks legacy payload (inference) table (needs --served-entities).
    DatabricksPayload,
    /// LiteLLM's `LiteLLM_SpendLogs`.
    Litellm,
}

/// A `served_entities` export: what it looks like, to say so when it is given as a log.
const SERVED_ENTITIES_KEYS: [&str; 3] = ["served_entity_id", "endpoint_config_version", "change_time"];

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Native,
        Source::DatabricksAiGateway,
        Source::DatabricksAiGatewayPayload,
        Source::DatabricksUsage,
        Source::DatabricksPayload,
        Source::Litellm,
    ];

    /// The name in the `source` column and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Native => "native",
            Source::DatabricksAiGateway => "databricks-ai-gateway",
            Source::DatabricksAiGatewayPayload => "databricks-ai-gateway-payload",
            Source::DatabricksUsage => "databricks-usage",
            Source::DatabricksPayload => "databricks-payload",
            Source::Litellm => "litellm",
        }
    }

    /// What its files hold, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Source::Native => "inference records",
            Source::DatabricksAiGateway => "Databricks ai_gateway.usage rows",
            Source::DatabricksAiGatewayPayload => "Databricks AI Gateway payload table rows",
            Source::DatabricksUsage => "Databricks endpoint_usage rows",
            Source::DatabricksPayload => "Databricks legacy payload table rows",
            Source::Litellm => "LiteLLM spend logs",
        }
    }

    /// The columns every file of the source has: its identity and time fields.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Source::Native => {
                &["request_id", "request_time", "requester", "endpoint_name", "served_entity_name", "status_code"]
            }
            Source::DatabricksAiGateway | Source::DatabricksAiGatewayPayload => {
                &["request_id", "event_time", "status_code"]
            }
            Source::DatabricksUsage => &["databricks_request_id", "request_time", "status_code", "served_entity_id"],
            Source::DatabricksPayload => &["databricks_request_id", "request_time", "status_code", "served_entity_id"],
            Source::Litellm => &["request_id", "startTime", "model"],
        }
    }

    /// Columns whose CSV cells hold JSON that the source's adapter reads as an object or array
    /// as well as text: a cell that parses is carried to it as JSON, not as an escaped string
    /// the parser would unescape again.
    pub fn json_columns(self) -> &'static [&'static str] {
        match self {
            Source::Litellm => &["metadata", "messages", "response", "request_tags"],
            _ => &[],
        }
    }

    /// Columns that tell it apart from the others (on top of [`Source::required`]).
    fn distinctive(self) -> &'static [&'static str] {
        match self {
            Source::Native => &[],
            Source::DatabricksAiGateway => &["endpoint_name", "destination_name", "input_tokens"],
            Source::DatabricksAiGatewayPayload => &["destination_name", "request", "response"],
            Source::DatabricksUsage => &["input_token_count", "output_token_count"],
            Source::DatabricksPayload => &["response", "execution_duration_ms"],
            Source::Litellm => &["call_type", "spend"],
        }
    }

    /// Whether a record needs the served_entities export to name its endpoint and model.
    pub fn needs_served_entities(self) -> bool {
        matches!(self, Source::DatabricksUsage | Source::DatabricksPayload)
    }

    /// The field that holds a record's id (for the quarantine row of a bad record).
    pub fn id_field(self) -> &'static str {
        match self {
            Source::DatabricksUsage | Source::DatabricksPayload => "databricks_request_id",
            Source::Native | Source::Litellm | Source::DatabricksAiGateway | Source::DatabricksAiGatewayPayload => {
                "request_id"
            }
        }
    }

    /// Whether a record's request id is Databricks': one request has the same id in every
    /// Databricks table that recorded it (the AI Gateway's usage and payload tables, the legacy
    /// endpoint_usage and payload tables), so the ids of these sources are one id space.
    pub fn is_databricks(self) -> bool {
        matches!(
            self,
            Source::DatabricksAiGateway
                | Source::DatabricksAiGatewayPayload
                | Source::DatabricksUsage
                | Source::DatabricksPayload
        )
    }

    /// Which of a run's files is read first: a request recorded by several Databricks tables
    /// is kept as the first file read has it, so the most complete record comes first (the
    /// AI Gateway's usage table: every request, with its cache split and attempts), the
    /// sampled payload tables last.
    pub fn read_order(self) -> u8 {
        match self {
            Source::DatabricksAiGateway => 0,
            Source::DatabricksAiGatewayPayload | Source::DatabricksPayload => 2,
            Source::Native | Source::DatabricksUsage | Source::Litellm => 1,
        }
    }

    /// Whether a file with the columns `names` fits this source.
    fn fits(self, names: &[String]) -> bool {
        let has = |c: &&str| names.iter().any(|n| n == c);
        self.required().iter().all(has) && self.distinctive().iter().all(has)
    }

    /// The one source whose columns `names` has, or a message naming the candidates.
    pub fn from_columns(names: &[String]) -> std::result::Result<Source, String> {
        let has = |c: &&str| names.iter().any(|n| n == c);
        let fits: Vec<Source> = Source::ALL.into_iter().filter(|s| s.fits(names)).collect();
        // the native format is the fallback of the others' shared names; a specific fit wins
        let specific: Vec<Source> = fits.iter().copied().filter(|s| *s != Source::Native).collect();
        match (fits.as_slice(), specific.as_slice()) {
            (_, [one]) => Ok(*one),
            ([Source::Native], []) => Ok(Source::Native),
            (_, []) => {
                if SERVED_ENTITIES_KEYS.iter().all(has) {
                    return Err(
                        "it is a Databricks served_entities export: pass it with --served-entities FILE, not as a log"
                            .into(),
                    );
                }
                let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
                let needs: Vec<String> = Source::ALL
                    .iter()
                    .map(|s| {
                        let missing: Vec<&str> =
                            s.required().iter().chain(s.distinctive()).copied().filter(|c| !has(c)).collect();
                        format!("{} (lacks {})", s.as_str(), missing.join(", "))
                    })
                    .collect();
                Err(format!(
                    "its columns ({}{}) fit none of the sources: {}. Name the format with --source",
                    shown.join(", "),
                    if names.len() > shown.len() { ", ..." } else { "" },
                    needs.join("; ")
                ))
            }
            (_, many) => Err(format!(
                "its columns fit several sources ({}): name the format with --source",
                many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// The source of `file`, from its columns. JSON lines whose first record is unreadable (or
/// that hold none) are native: the native reader quarantines each bad line with its reason.
pub fn detect(file: &InputFile) -> Result<Source> {
    let names = match columns(file) {
        Ok(names) => names,
        Err(Error::InputFormat { .. }) if file.format == Format::JsonLines => return Ok(Source::Native),
        Err(e) => return Err(e),
    };
    Source::from_columns(&names).or_else(|why| match file.format {
        // a JSON record of unknown shape is a bad native record, quarantined with its reason
        Format::JsonLines
            if !is_array(file)
                && !names.iter().any(|n| n == "databricks_request_id" || n == "call_type" || n == "event_time") =>
        {
            Ok(Source::Native)
        }
        _ => Err(Error::InputFormat { path: file.path.clone(), message: format!("cannot tell what wrote it: {why}") }),
    })
}

/// The column names of a file: a CSV's header, a Parquet schema, the keys of the first record
/// of JSON lines or of a JSON array.
pub fn columns(file: &InputFile) -> Result<Vec<String>> {
    let path = &file.path;
    let io = |source| Error::Input { path: path.clone(), source };
    let unreadable = |message: String| Error::InputFormat { path: path.clone(), message };
    if file.format == Format::Parquet {
        let f = std::fs::File::open(path).map_err(io)?;
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .map_err(|e| unreadable(format!("not a readable Parquet file: {e}")))?;
        return Ok(builder
            .schema()
            .fields()
            .iter()
            .filter(|f| !matches!(f.data_type(), DataType::Null))
            .map(|f| f.name().clone())
            .collect());
    }
    let f = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if file.gzip { Box::new(flate2::read::MultiGzDecoder::new(f)) } else { Box::new(f) };
    let mut reader = BufReader::new(reader);
    if file.format == Format::Csv {
        let mut csv = csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
        let headers = csv.headers().map_err(|e| unreadable(format!("bad CSV header: {e}")))?;
        return Ok(headers.iter().map(|h| h.trim().to_string()).collect());
    }
    // the first record: one line of JSON lines, or the first element of an array (at most 1 MiB)
    let array = starts_with_array(&mut reader).map_err(io)?;
    let mut first = Vec::new();
    if array {
        let mut limited = reader.take(1 << 20);
        let mut all = Vec::new();
        limited.read_to_end(&mut all).map_err(io)?;
        let open = all.iter().position(|b| *b == b'{').unwrap_or(all.len());
        let mut de = serde_json::Deserializer::from_slice(&all[open..])
            .into_iter::<serde_json::Map<String, serde_json::Value>>();
        return match de.next() {
            Some(Ok(obj)) => Ok(obj.keys().cloned().collect()),
            _ => Err(unreadable(
                "the first element of the JSON array is not a readable object (or is over 1 MiB)".into(),
            )),
        };
    }
    loop {
        first.clear();
        if reader.by_ref().take(1 << 20).read_until(b'\n', &mut first).map_err(io)? == 0 {
            return Err(unreadable("the file holds no record".into()));
        }
        if !first.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&first) {
        Ok(obj) => Ok(obj.keys().cloned().collect()),
        Err(e) => Err(unreadable(format!("its first line is not a JSON object ({e})"))),
    }
}

/// Whether a JSON file is one array (not JSON lines).
fn is_array(file: &InputFile) -> bool {
    let Ok(f) = std::fs::File::open(&file.path) else { return false };
    let reader: Box<dyn Read> = if file.gzip { Box::new(flate2::read::MultiGzDecoder::new(f)) } else { Box::new(f) };
    starts_with_array(&mut BufReader::new(reader)).unwrap_or(false)
}

/// Whether the stream's first byte other than blanks is `[` (a JSON array, not JSON lines);
/// consumes the blanks only.
pub fn starts_with_array(reader: &mut dyn BufRead) -> std::io::Result<bool> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(p) => {
                let array = buf[p] == b'[';
                reader.consume(p);
                return Ok(array);
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_source_is_recognised_by_its_columns() {
        let usage = names(&[
            "workspace_id",
            "databricks_request_id",
            "requester",
            "status_code",
            "request_time",
            "input_token_count",
            "output_token_count",
            "served_entity_id",
        ]);
        assert_eq!(Source::from_columns(&usage), Ok(Source::DatabricksUsage));
        let payload = names(&[
            "databricks_request_id",
            "request_date",
            "request_time",
            "status_code",
            "execution_duration_ms",
            "request",
            "response",
            "served_entity_id",
        ]);
        assert_eq!(Source::from_columns(&payload), Ok(Source::DatabricksPayload));
        // the Unity AI Gateway's tables: system.ai_gateway.usage and a payload table
        let gateway_usage = names(&[
            "event_time",
            "account_id",
            "workspace_id",
            "request_id",
            "endpoint_id",
            "endpoint_name",
            "destination_type",
            "destination_name",
            "destination_model",
            "requester",
            "requester_type",
            "request_tags",
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "token_details",
            "latency_ms",
            "status_code",
            "routing_information",
            "invocation_metadata",
            "mcp_metadata",
        ]);
        assert_eq!(Source::from_columns(&gateway_usage), Ok(Source::DatabricksAiGateway));
        let gateway_payload = names(&[
            "event_time",
            "request_id",
            "invocation_id",
            "request_tags",
            "status_code",
            "sampling_fraction",
            "latency_ms",
            "request",
            "response",
            "destination_type",
            "destination_name",
            "destination_model",
            "logging_error_codes",
            "requester",
            "url",
        ]);
        assert_eq!(Source::from_columns(&gateway_payload), Ok(Source::DatabricksAiGatewayPayload));
        let litellm = names(&["request_id", "call_type", "spend", "startTime", "endTime", "model"]);
        assert_eq!(Source::from_columns(&litellm), Ok(Source::Litellm));
        let native =
            names(&["request_id", "request_time", "requester", "endpoint_name", "served_entity_name", "status_code"]);
        assert_eq!(Source::from_columns(&native), Ok(Source::Native));
    }

    #[test]
    fn unknown_and_misplaced_files_are_refused_with_the_candidates() {
        let err = Source::from_columns(&names(&["a", "b"])).unwrap_err();
        assert!(
            err.contains("native (lacks request_id")
                && err.contains("litellm (lacks request_id, startTime, model, call_type, spend)"),
            "{err}"
        );
        let served = names(&["served_entity_id", "endpoint_name", "endpoint_config_version", "change_time"]);
        assert!(Source::from_columns(&served).unwrap_err().contains("--served-entities"));
        // a file with the key columns of two sources is ambiguous, not guessed
        let both = names(&[
            "databricks_request_id",
            "request_time",
            "status_code",
            "served_entity_id",
            "input_token_count",
            "output_token_count",
            "response",
            "execution_duration_ms",
        ]);
        assert!(Source::from_columns(&both).unwrap_err().contains("several sources"));
    }
}
