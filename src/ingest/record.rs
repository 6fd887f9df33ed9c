//! Turning validated records and rejects into Arrow batches of the `inference` and
//! `quarantine` tables, plus the hashes that dedup uses.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, MapBuilder,
    MapFieldNames, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::hash::Hasher;
use twox_hash::XxHash3_64;

use super::sources::Source;
use super::validate::{ReasonCode, ValidRecord};
use crate::error::{Error, Result};
pub use crate::warehouse::lineage::{Lineage, QuarantineBatchBuilder, RAW_CAP_BYTES, capped_text};
use crate::warehouse::schema::inference_schema;

/// What to keep of request/response payloads, which may hold personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadMode {
    /// Store the text as it came.
    #[default]
    Keep,
    /// Store `hmac-sha256:<key id>:<hex>`, keyed by the secret in TOKENLEDGER_PAYLOAD_KEY:
    /// joinable for audits within one key, and not recoverable by hashing guesses.
    Hash,
    /// Store nothing.
    Drop,
}

/// The environment variable that holds the secret key of `--payloads hash`. It is read from the
/// environment only, so that it never sits in a command line, a config file or a run record.
pub const PAYLOAD_KEY_ENV: &str = "TOKENLEDGER_PAYLOAD_KEY";

/// The shortest key accepted, in bytes: 128 bits, too many to guess.
pub const MIN_PAYLOAD_KEY_BYTES: usize = 16;

impl PayloadMode {
    /// The mode ready to use: `hash` takes its key from [`PAYLOAD_KEY_ENV`], and is refused
    /// without one.
    pub fn resolve(self) -> Result<Payloads> {
        Ok(match self {
            PayloadMode::Keep => Payloads::Keep,
            PayloadMode::Drop => Payloads::Drop,
            PayloadMode::Hash => {
                let key = std::env::var_os(PAYLOAD_KEY_ENV).unwrap_or_default();
                Payloads::Hash(Arc::new(PayloadKey::new(key.as_encoded_bytes())?))
            }
        })
    }
}

/// What the rows get of payload text: a [`PayloadMode`] with, for `hash`, its key.
#[derive(Debug, Clone)]
pub enum Payloads {
    Keep,
    Hash(Arc<PayloadKey>),
    Drop,
}

impl Payloads {
    /// Appends what a row keeps of payload `text` to its column.
    fn append(&self, text: Option<&str>, out: &mut StringBuilder) {
        match (self, text) {
            (_, None) | (Payloads::Drop, _) => out.append_null(),
            (Payloads::Keep, Some(t)) => out.append_value(t),
            (Payloads::Hash(key), Some(t)) => out.append_value(key.cell(t)),
        }
    }
}

/// The secret key of `--payloads hash`, held as a keyed HMAC-SHA-256, and its key id. The key
/// itself is never shown: `Debug` prints the id only.
#[derive(Clone)]
pub struct PayloadKey {
    mac: Hmac<Sha256>,
    id: String,
}

impl std::fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl PayloadKey {
    /// A key of at least [`MIN_PAYLOAD_KEY_BYTES`] bytes; the error says what to set, and
    /// never repeats the key.
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() < MIN_PAYLOAD_KEY_BYTES {
            let what = if key.is_empty() { "is not set" } else { "is too short" };
            return Err(Error::Usage(format!(
                "--payloads hash (or payloads = \"hash\" in a run config) needs a secret key, and {PAYLOAD_KEY_ENV} {what}: \
                 set it to at least {MIN_PAYLOAD_KEY_BYTES} random bytes, e.g. export {PAYLOAD_KEY_ENV}=$(openssl rand -hex 32), \
                 and keep it as you keep other secrets: rows hashed under one key join only with rows hashed under the same key"
            )));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| Error::Internal(format!("HMAC key: {e}")))?;
        // The id names the key without revealing it: a truncated hash under a prefix of its own,
        // so it equals no HMAC cell and no plain SHA-256 of the key someone else may keep.
        let digest = Sha256::new().chain_update(b"tokenledger payload key id\0").chain_update(key).finalize();
        Ok(Self { mac, id: hex::encode(&digest[..4]) })
    }

    /// The key id stored in every cell: 8 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The stored form of `text`: `hmac-sha256:<key id>:<64 hex digits>`.
    pub fn cell(&self, text: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(text.as_bytes());
        format!("hmac-sha256:{}:{}", self.id, hex::encode(mac.finalize().into_bytes()))
    }
}

/// Hash of a request id: the dedup key. 64 bits: two different ids collide with odds of about
/// 1 in 3·10^5 per 10M-row ingest, and a collision can only surface as a *loud* conflict
/// (quarantined with a reason), never as a silently dropped row, because equal id hashes
/// with equal content fingerprints are needed to skip a row.
pub fn id_hash(request_id: &str) -> u64 {
    XxHash3_64::oneshot(request_id.as_bytes())
}

/// Fingerprint of a record read from `source`: what tells a re-delivery (the same fingerprint)
/// from a conflict (another one under the same request id).
///
/// Databricks' tables share one id space (see [`Source::is_databricks`]): during a migration
/// the AI Gateway's usage table and the legacy endpoint_usage table record the same request,
/// with different columns (one has the cache split, the other character counts). So the
/// fingerprint of a Databricks row is what every Databricks table says alike: the request id
/// and the status. The same request from a second table is then a duplicate, kept as the first
/// file read has it; a different status under the same id is still a conflict.
pub fn fingerprint(source: Source, r: &ValidRecord<'_>) -> u64 {
    if source.is_databricks() {
        let mut h = XxHash3_64::new();
        h.write(b"databricks request\0");
        h.write(&(r.request_id.len() as u64).to_le_bytes());
        h.write(r.request_id.as_bytes());
        h.write(&r.status_code.to_le_bytes());
        return h.finish();
    }
    content_fingerprint(r)
}

/// Fingerprint of a record's content (everything but lineage), so that a re-delivered record
/// is recognised as the same one and a different record under the same id as a conflict.
///
/// The bytes are gathered into one buffer per thread and hashed in one call: XXH3 of the
/// whole equals XXH3 fed piece by piece (the value stored in `record_fingerprint` by earlier
/// versions), and a streaming hasher fed forty small pieces spent more on its own buffering
/// than on hashing.
fn content_fingerprint(r: &ValidRecord<'_>) -> u64 {
    thread_local! {
        static BYTES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BYTES.with_borrow_mut(|bytes| {
        bytes.clear();
        content_bytes(r, bytes);
        XxHash3_64::oneshot(bytes)
    })
}

/// The bytes [`content_fingerprint`] hashes, appended to `h`.
fn content_bytes(r: &ValidRecord<'_>, h: &mut Vec<u8>) {
    fn s(h: &mut Vec<u8>, v: Option<&str>) {
        match v {
            // length-prefixed so that field boundaries cannot shift
            Some(v) => {
                h.extend_from_slice(&(v.len() as u64).to_le_bytes());
                h.extend_from_slice(v.as_bytes());
            }
            None => h.extend_from_slice(&[0xff; 9]),
        }
    }
    s(h, Some(&r.request_id));
    s(h, r.client_request_id.as_deref());
    s(h, Some(&r.endpoint_name));
    s(h, Some(&r.served_entity_name));
    s(h, r.served_entity_id.as_deref());
    s(h, r.entity_type.as_deref());
    s(h, r.provider.as_deref());
    s(h, Some(&r.requester));
    s(h, r.guardrail_action.as_deref());
    s(h, r.request.as_deref());
    s(h, r.response.as_deref());
    if let Some(ctx) = &r.usage_context {
        for (k, v) in ctx {
            s(h, Some(k));
            s(h, Some(v));
        }
    }
    let t = &r.tokens;
    let ints = [
        r.request_time_us,
        r.status_code as i64,
        r.execution_duration_ms.unwrap_or(-1),
        r.request_streaming.map_or(-1, i64::from),
        i64::from(r.is_fallback),
        r.attempt.map_or(-1, i64::from),
        t.input,
        t.cache_read,
        t.cache_creation,
        t.output,
        t.reasoning.unwrap_or(-1),
        r.usage_context.as_ref().map_or(-1, |c| c.len() as i64),
    ];
    for i in ints {
        h.extend_from_slice(&i.to_le_bytes());
    }
    // fields that only some sources have are hashed only when present, so the fingerprints of
    // records written before they existed stay the same
    if let Some(f) = r.sampling_fraction {
        h.extend_from_slice(b"sampling_fraction");
        h.extend_from_slice(&f.to_bits().to_le_bytes());
    }
    if let Some(c) = r.source_reported_cost {
        h.extend_from_slice(b"source_reported_cost");
        h.extend_from_slice(&c.to_le_bytes());
    }
    for (name, value) in
        [("service_tier", &r.service_tier), ("requester_type", &r.requester_type), ("inference_geo", &r.inference_geo)]
    {
        if let Some(v) = value {
            h.extend_from_slice(name.as_bytes());
            h.extend_from_slice(&(v.len() as u64).to_le_bytes());
            h.extend_from_slice(v.as_bytes());
        }
    }
    for (name, value) in [
        ("cache_creation_1h_input_tokens", t.cache_creation_1h),
        ("input_audio_tokens", t.input_audio),
        ("output_audio_tokens", t.output_audio),
        ("web_search_requests", r.web_search_requests),
    ] {
        if let Some(v) = value {
            h.extend_from_slice(name.as_bytes());
            h.extend_from_slice(&v.to_le_bytes());
        }
    }
    h.extend_from_slice(t.source.as_str().as_bytes());
}

/// Builds `inference` batches row by row.
pub struct InferenceBatchBuilder {
    lineage: Arc<Lineage>,
    payloads: Payloads,
    request_id: StringBuilder,
    client_request_id: StringBuilder,
    source: StringBuilder,
    source_file: StringBuilder,
    source_line: Int64Builder,
    ingest_batch_id: StringBuilder,
    ingested_at: TimestampMicrosecondBuilder,
    record_fingerprint: Int64Builder,
    request_time: TimestampMicrosecondBuilder,
    request_date: Date32Builder,
    endpoint_name: StringBuilder,
    served_entity_name: StringBuilder,
    served_entity_id: StringBuilder,
    entity_type: StringBuilder,
    provider: StringBuilder,
    requester: StringBuilder,
    usage_context: MapBuilder<StringBuilder, StringBuilder>,
    status_code: Int32Builder,
    execution_duration_ms: Int64Builder,
    request_streaming: BooleanBuilder,
    is_fallback: BooleanBuilder,
    attempt: Int32Builder,
    guardrail_action: StringBuilder,
    input_tokens: Int64Builder,
    cache_read_input_tokens: Int64Builder,
    cache_creation_input_tokens: Int64Builder,
    output_tokens: Int64Builder,
    reasoning_tokens: Int64Builder,
    token_count_source: StringBuilder,
    sampling_fraction: Float64Builder,
    source_reported_cost: Decimal128Builder,
    request: StringBuilder,
    response: StringBuilder,
    service_tier: StringBuilder,
    requester_type: StringBuilder,
    cache_creation_1h_input_tokens: Int64Builder,
    input_audio_tokens: Int64Builder,
    output_audio_tokens: Int64Builder,
    web_search_requests: Int64Builder,
    inference_geo: StringBuilder,
    rows: usize,
}

fn utc_ts() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

impl InferenceBatchBuilder {
    /// A builder with room for `rows` rows and `text_bytes` of input text, so that the
    /// column buffers are allocated once instead of growing by doubling.
    pub fn with_capacity(lineage: Arc<Lineage>, payloads: Payloads, rows: usize, text_bytes: usize) -> Self {
        let names = MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() };
        let text = |per_row: usize| StringBuilder::with_capacity(rows, rows * per_row);
        let payload_bytes = match payloads {
            Payloads::Keep => text_bytes / 3,
            // `hmac-sha256:` + 8 + `:` + 64
            Payloads::Hash(_) => rows * 85,
            Payloads::Drop => 0,
        };
        Self {
            lineage,
            payloads,
            request_id: text(40),
            client_request_id: text(16),
            source: text(8),
            source_file: text(64),
            source_line: Int64Builder::with_capacity(rows),
            ingest_batch_id: text(36),
            ingested_at: utc_ts(),
            record_fingerprint: Int64Builder::with_capacity(rows),
            request_time: utc_ts(),
            request_date: Date32Builder::new(),
            endpoint_name: text(24),
            served_entity_name: text(32),
            served_entity_id: StringBuilder::new(),
            entity_type: text(24),
            provider: text(12),
            requester: text(32),
            usage_context: MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new()),
            status_code: Int32Builder::new(),
            execution_duration_ms: Int64Builder::with_capacity(rows),
            request_streaming: BooleanBuilder::new(),
            is_fallback: BooleanBuilder::new(),
            attempt: Int32Builder::new(),
            guardrail_action: StringBuilder::new(),
            input_tokens: Int64Builder::with_capacity(rows),
            cache_read_input_tokens: Int64Builder::with_capacity(rows),
            cache_creation_input_tokens: Int64Builder::with_capacity(rows),
            output_tokens: Int64Builder::with_capacity(rows),
            reasoning_tokens: Int64Builder::with_capacity(rows),
            token_count_source: text(8),
            sampling_fraction: Float64Builder::new(),
            source_reported_cost: Decimal128Builder::new()
                .with_precision_and_scale(38, 10)
                .expect("valid decimal type"),
            request: StringBuilder::with_capacity(rows, payload_bytes),
            response: StringBuilder::with_capacity(rows, payload_bytes),
            service_tier: StringBuilder::new(),
            requester_type: StringBuilder::new(),
            cache_creation_1h_input_tokens: Int64Builder::new(),
            input_audio_tokens: Int64Builder::new(),
            output_audio_tokens: Int64Builder::new(),
            web_search_requests: Int64Builder::new(),
            inference_geo: StringBuilder::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one record read from line `line` of the lineage's file.
    pub fn append(&mut self, r: &ValidRecord<'_>, line: u64, fingerprint: u64) {
        let l = &self.lineage;
        self.request_id.append_value(&r.request_id);
        self.client_request_id.append_option(r.client_request_id.as_deref());
        self.source.append_value(&l.source);
        self.source_file.append_value(&l.source_file);
        self.source_line.append_value(line as i64);
        self.ingest_batch_id.append_value(&l.ingest_batch_id);
        self.ingested_at.append_value(l.ingested_at_us);
        self.record_fingerprint.append_value(fingerprint as i64);
        self.request_time.append_value(r.request_time_us);
        self.request_date.append_value(crate::time::day_of_micros(r.request_time_us));
        self.endpoint_name.append_value(&r.endpoint_name);
        self.served_entity_name.append_value(&r.served_entity_name);
        self.served_entity_id.append_option(r.served_entity_id.as_deref());
        self.entity_type.append_option(r.entity_type.as_deref());
        self.provider.append_option(r.provider.as_deref());
        self.requester.append_value(&r.requester);
        match &r.usage_context {
            Some(pairs) => {
                for (k, v) in pairs {
                    self.usage_context.keys().append_value(k);
                    self.usage_context.values().append_value(v);
                }
                self.usage_context.append(true).expect("keys and values appended in pairs");
            }
            None => self.usage_context.append(false).expect("keys and values appended in pairs"),
        }
        self.status_code.append_value(r.status_code);
        self.execution_duration_ms.append_option(r.execution_duration_ms);
        self.request_streaming.append_option(r.request_streaming);
        self.is_fallback.append_value(r.is_fallback);
        self.attempt.append_option(r.attempt);
        self.guardrail_action.append_option(r.guardrail_action.as_deref());
        let t = &r.tokens;
        self.input_tokens.append_value(t.input);
        self.cache_read_input_tokens.append_value(t.cache_read);
        self.cache_creation_input_tokens.append_value(t.cache_creation);
        self.output_tokens.append_value(t.output);
        self.reasoning_tokens.append_option(t.reasoning);
        self.token_count_source.append_value(t.source.as_str());
        self.sampling_fraction.append_option(r.sampling_fraction);
        self.source_reported_cost.append_option(r.source_reported_cost);
        self.payloads.append(r.request.as_deref(), &mut self.request);
        self.payloads.append(r.response.as_deref(), &mut self.response);
        self.service_tier.append_option(r.service_tier.as_deref());
        self.requester_type.append_option(r.requester_type.as_deref());
        self.cache_creation_1h_input_tokens.append_option(t.cache_creation_1h);
        self.input_audio_tokens.append_option(t.input_audio);
        self.output_audio_tokens.append_option(t.output_audio);
        self.web_search_requests.append_option(r.web_search_requests);
        self.inference_geo.append_option(r.inference_geo.as_deref());
        self.rows += 1;
    }

    /// The rows appended so far as one batch; the builder is empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.request_id.finish()),
            Arc::new(self.client_request_id.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_line.finish()),
            Arc::new(self.ingest_batch_id.finish()),
            Arc::new(self.ingested_at.finish()),
            Arc::new(self.record_fingerprint.finish()),
            Arc::new(self.request_time.finish()),
            Arc::new(self.request_date.finish()),
            Arc::new(self.endpoint_name.finish()),
            Arc::new(self.served_entity_name.finish()),
            Arc::new(self.served_entity_id.finish()),
            Arc::new(self.entity_type.finish()),
            Arc::new(self.provider.finish()),
            Arc::new(self.requester.finish()),
            Arc::new(self.usage_context.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.execution_duration_ms.finish()),
            Arc::new(self.request_streaming.finish()),
            Arc::new(self.is_fallback.finish()),
            Arc::new(self.attempt.finish()),
            Arc::new(self.guardrail_action.finish()),
            Arc::new(self.input_tokens.finish()),
            Arc::new(self.cache_read_input_tokens.finish()),
            Arc::new(self.cache_creation_input_tokens.finish()),
            Arc::new(self.output_tokens.finish()),
            Arc::new(self.reasoning_tokens.finish()),
            Arc::new(self.token_count_source.finish()),
            Arc::new(self.sampling_fraction.finish()),
            Arc::new(self.source_reported_cost.finish()),
            Arc::new(self.request.finish()),
            Arc::new(self.response.finish()),
            Arc::new(self.service_tier.finish()),
            Arc::new(self.requester_type.finish()),
            Arc::new(self.cache_creation_1h_input_tokens.finish()),
            Arc::new(self.input_audio_tokens.finish()),
            Arc::new(self.output_audio_tokens.finish()),
            Arc::new(self.web_search_requests.finish()),
            Arc::new(self.inference_geo.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(inference_schema(), columns)?)
    }
}

/// One rejected input record.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub line: u64,
    pub request_id: Option<String>,
    pub code: ReasonCode,
    pub message: String,
    /// The record's text, lossily decoded and capped at [`RAW_CAP_BYTES`].
    pub raw: String,
    pub raw_bytes: u64,
}

impl Rejected {
    /// The row it is in the `quarantine` table.
    pub fn quarantine_row(&self) -> crate::warehouse::lineage::QuarantineRow<'_> {
        crate::warehouse::lineage::QuarantineRow {
            line_number: self.line as i64,
            request_id: self.request_id.as_deref(),
            reason_code: self.code.as_str(),
            reason: &self.message,
            raw: &self.raw,
            raw_bytes: self.raw_bytes as i64,
        }
    }

    pub fn new(line: u64, raw: &[u8], request_id: Option<String>, code: ReasonCode, message: String) -> Self {
        Self { line, request_id, code, message, raw: capped_text(raw), raw_bytes: raw.len() as u64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sources::{litellm, native};
    use crate::ingest::validate::Typing;

    #[test]
    fn a_records_fingerprint_is_the_one_stored_by_earlier_versions() {
        // the table's record_fingerprint column compares re-deliveries with rows ingested by
        // earlier versions: these values were computed by the version before the fingerprint
        // was hashed in one piece
        let full = br#"{"request_id":"r-1","client_request_id":"c \"1\"","request_time":"2025-03-01T10:00:00.5Z","endpoint_name":"chat","served_entity_name":"gpt-4o","served_entity_id":"e-1","served_entity_type":"EXTERNAL_MODEL","provider":"openai","requester":"ana@example.com","usage_context":{"team":"ml","cost_center":"CC-1"},"status_code":200,"execution_duration_ms":812,"request_streaming":true,"is_fallback":false,"attempt":2,"guardrail_action":"NONE","input_tokens":1200,"cached_input_tokens":200,"cache_creation_input_tokens":100,"output_tokens":80,"reasoning_tokens":10,"request":"{\"messages\":[\"h\u00e9\"]}","response":"{}","service_tier":"priority","requester_type":"user","cache_creation_1h_input_tokens":50,"input_audio_tokens":3,"output_audio_tokens":4,"web_search_requests":1,"inference_geo":"us"}"#;
        let bare = br#"{"request_id":"r-2","request_time":"2025-03-01T10:00:00Z","endpoint_name":"e","served_entity_name":"m","requester":"u","status_code":429,"input_tokens":0,"output_tokens":0}"#;
        let spend_log = br#"{"request_id":"r-3","startTime":"2025-03-01 10:00:00","endTime":"2025-03-01 10:00:01.250","model":"m","model_group":"g","team_id":"t","user":"u","prompt_tokens":100,"completion_tokens":5,"spend":0.00123,"metadata":{"usage_object":{"prompt_tokens":100,"prompt_tokens_details":{"cached_tokens":40}}}}"#;
        let (mut scratch, mut scratch2, mut scratch3) = Default::default();
        let mut sampled = native::parse_line(full, Typing::Strict, &mut scratch).unwrap();
        sampled.sampling_fraction = Some(0.25);
        let fingerprints = [
            fingerprint(Source::Native, &native::parse_line(full, Typing::Strict, &mut scratch2).unwrap()),
            fingerprint(Source::Native, &sampled),
            fingerprint(Source::Native, &native::parse_line(bare, Typing::Strict, &mut scratch3).unwrap()),
            fingerprint(Source::Litellm, &litellm::parse_line(spend_log, Typing::Strict).unwrap()),
        ];
        assert_eq!(
            fingerprints,
            [15189478448640261585, 13726965531467802905, 12782243702122700820, 12964861347648681805]
        );
    }

    #[test]
    fn the_dedup_keys_are_the_ones_stored_by_earlier_versions() {
        // the request ids' hashes key the dedup set rebuilt from the table, and a Databricks
        // row's fingerprint (hashed piece by piece) is compared with the stored one: these
        // values were computed by the version before XXH3's kernel was chosen at run time
        assert_eq!(
            [id_hash(""), id_hash("r-1"), id_hash(&"chatcmpl-0123456789".repeat(20))],
            [0x2d06800538d394c2, 13142271281681540847, 15666468771831737633]
        );
        let line = br#"{"request_id":"r-2","request_time":"2025-03-01T10:00:00Z","endpoint_name":"e","served_entity_name":"m","requester":"u","status_code":429,"input_tokens":0,"output_tokens":0}"#;
        let mut scratch = Default::default();
        let record = native::parse_line(line, Typing::Strict, &mut scratch).unwrap();
        assert_eq!(fingerprint(Source::DatabricksUsage, &record), 15720805422263702960);
    }

    #[test]
    fn a_payload_cell_is_standard_hmac_sha256_and_a_key_shows_only_its_id() {
        // RFC 4231, test case 1
        let key = PayloadKey::new(&[0x0b; 20]).unwrap();
        let cell = key.cell("Hi There");
        assert_eq!(
            cell,
            format!("hmac-sha256:{}:b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", key.id())
        );
        let secret = "0123456789abcdef";
        let key = PayloadKey::new(secret.as_bytes()).unwrap();
        let shown = format!("{:?}", Payloads::Hash(Arc::new(key.clone())));
        assert!(!shown.contains(secret) && shown.contains(key.id()), "{shown}");
        assert!(PayloadKey::new(&secret.as_bytes()[1..]).is_err(), "15 bytes are too few");
    }
}
