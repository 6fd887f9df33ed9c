//! LiteLLM's `LiteLLM_SpendLogs`, exported as CSV (JSON columns as text) or JSON (one array of
//! objects, as its UI and `/spend/logs` give it; JSON lines work too).
//!
//! The mapping: `model_group` (the name the client asked for) is the endpoint and `model` (the
//! deployment that answered) the served entity; `user`, else `end_user`, the requester;
//! `team_id` goes into `usage_context` as `team_id` and as `group` (the rollup charges a
//! LiteLLM request to its team), with `end_user`, the key alias, the request tags and the call
//! type. `prompt_tokens` counts cache reads and writes (LiteLLM reports Anthropic
//! calls that way too); the cache counts come from `metadata.usage_object`. LiteLLM's own
//! `spend` is kept as `source_reported_cost`, to reconcile with, never as our cost.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::native::{JsonColumn, JsonValue, LineScratch, Loose, row};
use super::{CsvColumn, CsvLayout, CsvRow};
use crate::ingest::usage::{FromScalar, Text, Usage, lenient};
use crate::ingest::validate::{RawRecord, Reject, Typing, Val, ValidRecord, export_time, trim, validate};

/// The columns of a spend log row the mapping reads, borrowed from the line; the others are
/// skipped unparsed.
#[derive(Deserialize)]
struct SpendLogRow<'a> {
    #[serde(borrow, default)]
    request_id: Loose<'a>,
    #[serde(borrow, default, rename = "startTime")]
    start_time: Loose<'a>,
    #[serde(borrow, default, rename = "endTime")]
    end_time: Loose<'a>,
    #[serde(borrow, default)]
    status: Loose<'a>,
    #[serde(borrow, default)]
    team_id: Loose<'a>,
    #[serde(borrow, default)]
    end_user: Loose<'a>,
    #[serde(borrow, default)]
    user: Loose<'a>,
    #[serde(borrow, default)]
    model: Loose<'a>,
    #[serde(borrow, default)]
    model_group: Loose<'a>,
    #[serde(borrow, default)]
    model_id: Loose<'a>,
    #[serde(borrow, default)]
    custom_llm_provider: Loose<'a>,
    #[serde(borrow, default)]
    call_type: Loose<'a>,
    #[serde(borrow, default)]
    prompt_tokens: Loose<'a>,
    #[serde(borrow, default)]
    completion_tokens: Loose<'a>,
    #[serde(borrow, default)]
    spend: Loose<'a>,
    #[serde(borrow, default)]
    request_tags: JsonColumn<'a>,
    #[serde(default)]
    metadata: Metadata,
    #[serde(borrow, default)]
    messages: JsonColumn<'a>,
    #[serde(borrow, default)]
    response: JsonColumn<'a>,
}

/// What the mapping reads of `metadata`; its other keys are skipped. The column is the object
/// itself (the JSON export, and the CSV export's cell as the chunker carries it), read in the
/// same pass as the row, or the JSON text a string holds. Anything else, or text that is not a
/// JSON object, is no metadata; a key given twice keeps its last value.
#[derive(Default, Debug, PartialEq)]
struct Metadata {
    user_api_key_alias: Text,
    /// Boxed: a usage object of every provider's counts is 700 bytes, and the row and its
    /// metadata were copied whole a few times a row (1.5 % of a LiteLLM CSV ingest)
    usage_object: Box<Usage>,
    error_information: Option<Value>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum MetadataKey {
    UserApiKeyAlias,
    UsageObject,
    ErrorInformation,
    #[serde(other)]
    Other,
}

impl FromScalar for Metadata {
    /// The text of the metadata object (the CSV export's cell), read by the same reader; text
    /// that is not an object's is none.
    fn from_text(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

lenient!(
    Metadata,
    "the metadata object",
    |map| {
        let mut m = Metadata::default();
        while let Some(key) = map.next_key::<MetadataKey>()? {
            match key {
                MetadataKey::UserApiKeyAlias => m.user_api_key_alias = map.next_value()?,
                MetadataKey::UsageObject => *m.usage_object = map.next_value()?,
                MetadataKey::ErrorInformation => {
                    m.error_information = map.next_value::<Option<JsonValue>>()?.map(|v| v.0)
                }
                MetadataKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(m)
    },
    other = Metadata::default()
);

/// One spend log row of the JSON export.
pub fn parse_line(line: &[u8], typing: Typing) -> Result<ValidRecord<'_>, Reject> {
    map(row(line)?, typing)
}

/// The columns of a spend log CSV export that the mapping reads, found once for a chunk.
pub struct CsvColumns {
    request_id: CsvColumn,
    start_time: CsvColumn,
    end_time: CsvColumn,
    status: CsvColumn,
    team_id: CsvColumn,
    end_user: CsvColumn,
    user: CsvColumn,
    model: CsvColumn,
    model_group: CsvColumn,
    model_id: CsvColumn,
    custom_llm_provider: CsvColumn,
    call_type: CsvColumn,
    prompt_tokens: CsvColumn,
    completion_tokens: CsvColumn,
    spend: CsvColumn,
    request_tags: CsvColumn,
    metadata: CsvColumn,
    messages: CsvColumn,
    response: CsvColumn,
}

impl CsvColumns {
    /// The columns by the names `SpendLogRow` reads them by.
    pub fn of(layout: &CsvLayout) -> Self {
        let c = |name| layout.column(name);
        Self {
            request_id: c("request_id"),
            start_time: c("startTime"),
            end_time: c("endTime"),
            status: c("status"),
            team_id: c("team_id"),
            end_user: c("end_user"),
            user: c("user"),
            model: c("model"),
            model_group: c("model_group"),
            model_id: c("model_id"),
            custom_llm_provider: c("custom_llm_provider"),
            call_type: c("call_type"),
            prompt_tokens: c("prompt_tokens"),
            completion_tokens: c("completion_tokens"),
            spend: c("spend"),
            request_tags: c("request_tags"),
            metadata: c("metadata"),
            messages: c("messages"),
            response: c("response"),
        }
    }
}

/// One spend log row of the CSV export, read from its cells: the same row as the JSON
/// export's, each cell a string (an empty one none), a JSON column's cell its text. The
/// metadata's text is read by simd-json with the parse worker's `scratch` (serde_json took a
/// sixth of a LiteLLM CSV ingest reading it).
pub fn parse_row<'a>(
    columns: &CsvColumns,
    row: &CsvRow<'a>,
    typing: Typing,
    scratch: &mut LineScratch,
) -> Result<ValidRecord<'a>, Reject> {
    let loose = |column| Loose(row.get(column).map(|cell| Val::Str(Cow::Borrowed(cell))));
    let json = |column| row.get(column).map_or(JsonColumn::Absent, JsonColumn::Cell);
    let c = columns;
    let r = SpendLogRow {
        request_id: loose(&c.request_id),
        start_time: loose(&c.start_time),
        end_time: loose(&c.end_time),
        status: loose(&c.status),
        team_id: loose(&c.team_id),
        end_user: loose(&c.end_user),
        user: loose(&c.user),
        model: loose(&c.model),
        model_group: loose(&c.model_group),
        model_id: loose(&c.model_id),
        custom_llm_provider: loose(&c.custom_llm_provider),
        call_type: loose(&c.call_type),
        prompt_tokens: loose(&c.prompt_tokens),
        completion_tokens: loose(&c.completion_tokens),
        spend: loose(&c.spend),
        request_tags: json(&c.request_tags),
        metadata: row.get(&c.metadata).and_then(|text| scratch.text_as::<Metadata>(text)).unwrap_or_default(),
        messages: json(&c.messages),
        response: json(&c.response),
    };
    map(r, typing)
}

/// A spend log row mapped to the inference record (inlined into both readers: the row is
/// large, and moving it into a call costs a copy).
#[inline]
fn map<'a>(mut r: SpendLogRow<'a>, typing: Typing) -> Result<ValidRecord<'a>, Reject> {
    let key_alias = r.metadata.user_api_key_alias.0.take();
    let metadata = &r.metadata;
    // the usage object is the provider's, passed through: its other billed parts read as the
    // provider's own (crate::ingest::usage)
    let counts = metadata.usage_object.passed_through();
    let labels = metadata.usage_object.labels();

    // empty strings are how the exports write "none"; a bad startTime is the record's bad
    // timestamp, a bad endTime only loses the duration
    let start = r.start_time.non_blank().map(|s| export_time(Some(s), "startTime", typing)).transpose()?;
    let duration = match (start, r.end_time.non_blank()) {
        (Some(s), Some(e)) => export_time(Some(e), "endTime", typing).ok().map(|e| Val::Int((e - s).div_euclid(1000))),
        _ => None,
    };
    let status = match r.status.non_blank() {
        Some(Val::Str(s)) if trim(&s).eq_ignore_ascii_case("failure") => {
            let code = metadata
                .error_information
                .as_ref()
                .and_then(|e| e.get("error_code"))
                .and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|s| trim(s).parse().ok())))
                .filter(|c| (100..=599).contains(c));
            Val::Int(code.unwrap_or(500))
        }
        Some(Val::Str(s)) if trim(&s).eq_ignore_ascii_case("success") => Val::Int(200),
        Some(other) => other,
        None => Val::Int(200),
    };
    let team = r.team_id.non_blank().and_then(Val::text);
    let end_user = r.end_user.non_blank().and_then(Val::text);
    let user = r.user.non_blank();
    let model = r.model.non_blank();
    let model_group = r.model_group.non_blank();
    let mut context = Vec::with_capacity(6);
    let mut put = |k: &'static str, v: Option<Cow<'a, str>>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            context.push((Cow::Borrowed(k), v));
        }
    };
    put("team_id", team.clone());
    put("group", team);
    put("end_user", end_user.clone());
    put("key_alias", key_alias.map(Cow::Owned));
    // the strings of the tags' array, in order (anything else in it skipped; no array, no tags)
    let mut tags = String::new();
    for tag in r.request_tags.parse::<Vec<Text>>().into_iter().flatten().filter_map(|t| t.0) {
        if !tags.is_empty() {
            tags.push(',');
        }
        tags.push_str(&tag);
    }
    put("request_tags", Some(Cow::Owned(tags)));
    put("call_type", r.call_type.non_blank().and_then(Val::text));

    let requester = user.or_else(|| end_user.map(Val::Str)).unwrap_or(Val::Str(Cow::Borrowed("unknown")));
    let raw = RawRecord {
        request_id: r.request_id.non_blank(),
        request_time: start.map(Val::Micros),
        endpoint_name: model_group.or_else(|| model.clone()),
        served_entity_name: model,
        served_entity_id: r.model_id.non_blank(),
        provider: r.custom_llm_provider.non_blank(),
        requester: Some(requester),
        usage_context: (!context.is_empty()).then_some(Val::Pairs(context)),
        status_code: Some(status),
        execution_duration_ms: duration,
        input_tokens: r.prompt_tokens.non_blank(),
        output_tokens: r.completion_tokens.non_blank(),
        cached_input_tokens: counts.cache_read.map(Val::Int),
        cache_creation_input_tokens: counts.cache_creation.map(Val::Int),
        reasoning_tokens: counts.reasoning.map(Val::Int),
        cache_creation_1h_input_tokens: counts.cache_creation_1h.map(Val::Int),
        input_audio_tokens: counts.input_audio.map(Val::Int),
        output_audio_tokens: counts.output_audio.map(Val::Int),
        web_search_requests: labels.web_search_requests.map(Val::Int),
        service_tier: labels.service_tier.map(|t| Val::Str(Cow::Owned(t))),
        inference_geo: labels.inference_geo.map(|g| Val::Str(Cow::Owned(g))),
        request: payload(&r.messages),
        response: payload(&r.response),
        source_reported_cost: r.spend.non_blank(),
        zone_less_time_is_utc: true,
        ..RawRecord::default()
    };
    validate(raw, typing)
}

/// A payload column, kept as the JSON text it came as; LiteLLM writes `{}` when it stored
/// nothing.
fn payload<'a>(column: &JsonColumn<'a>) -> Option<Val<'a>> {
    let body = column.body()?;
    let empty = |s: &str| {
        let s = trim(s);
        matches!(s, "null" | "\"\"")
            || (s.len() >= 2
                && matches!((s.as_bytes()[0], s.as_bytes()[s.len() - 1]), (b'{', b'}') | (b'[', b']'))
                && trim(&s[1..s.len() - 1]).is_empty())
    };
    match body {
        Val::Str(s) if empty(&s) => None,
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache reads, status and key alias of a spend log row with `metadata` as given.
    fn read(metadata: &str, status: &str) -> (i64, i32, Option<String>) {
        let line = format!(
            r#"{{"request_id":"r-1","startTime":"2025-03-01 10:00:00","model":"m","prompt_tokens":100,"completion_tokens":5,"status":"{status}","metadata":{metadata}}}"#
        );
        let record = parse_line(line.as_bytes(), Typing::Strict).expect("a valid row");
        let alias = record
            .usage_context
            .as_ref()
            .and_then(|c| c.iter().find(|(k, _)| k == "key_alias"))
            .map(|p| p.1.to_string());
        (record.tokens.cache_read, record.status_code, alias)
    }

    use crate::ingest::sources::Source;

    #[test]
    fn a_csv_row_gives_the_record_its_json_export_gives() {
        let json = r#"{"request_id":"r-1","call_type":"acompletion","spend":0.0012,"prompt_tokens":"1200","completion_tokens":5,"startTime":"2025-03-01 10:00:00.250000","endTime":"2025-03-01 10:00:01.500000","model":"gpt-4o","model_id":"m-1","model_group":"chat, \"eu\"","custom_llm_provider":"openai","user":"","end_user":"e@x.com","team_id":"t-9","request_tags":["a","b"],"status":"failure","metadata":{"user_api_key_alias":"k","usage_object":{"prompt_tokens":1200,"prompt_tokens_details":{"cached_tokens":200}},"error_information":{"error_code":"429"}},"messages":{"input":["hi"]},"response":{}}"#;
        let csv = "request_id,call_type,spend,prompt_tokens,completion_tokens,startTime,endTime,model,model_id,model_group,\
                   custom_llm_provider,user,end_user,team_id,request_tags,status,metadata,messages,response,unread\n\
                   r-1,acompletion,0.0012,1200,5,2025-03-01 10:00:00.250000,2025-03-01 10:00:01.500000,gpt-4o,m-1,\"chat, \"\"eu\"\"\",\
                   openai,,e@x.com,t-9,\"[\"\"a\"\",\"\"b\"\"]\",failure,\
                   \"{\"\"user_api_key_alias\"\":\"\"k\"\",\"\"usage_object\"\":{\"\"prompt_tokens\"\":1200,\
                   \"\"prompt_tokens_details\"\":{\"\"cached_tokens\"\":200}},\"\"error_information\"\":{\"\"error_code\"\":\"\"429\"\"}}\",\
                   \"{\"\"input\"\":[\"\"hi\"\"]}\",{},x\n";
        let expected = parse_line(json.as_bytes(), Typing::FromText).expect("a valid row");
        assert_eq!(expected.tokens.cache_read, 200);
        assert_eq!(expected.status_code, 429);
        let chunk = crate::ingest::sources::chunk::csv_rows::csv_chunk(csv.as_bytes(), Source::Litellm);
        let layout = chunk.csv.as_ref().expect("CSV");
        let mut rows = 0;
        chunk.for_each_record(|_, _, _, record| {
            let Ok(crate::ingest::sources::RecordText::Row(row)) = record else { panic!("a whole row") };
            assert_eq!(
                parse_row(&CsvColumns::of(layout), &row, Typing::FromText, &mut LineScratch::default()),
                Ok(expected.clone())
            );
            rows += 1;
        });
        assert_eq!(rows, 1);
    }

    #[test]
    fn a_bad_start_time_is_refused_by_its_column_name_with_or_without_an_end_time() {
        for end in ["", r#","endTime":"2025-03-01 10:00:01""#] {
            let line = format!(r#"{{"request_id":"r-1","startTime":"yesterday","model":"m","prompt_tokens":1{end}}}"#);
            let refused = parse_line(line.as_bytes(), Typing::Strict).expect_err("a bad time");
            assert_eq!(refused.code, crate::ingest::validate::ReasonCode::BadTimestamp);
            assert!(refused.message.starts_with(r#"startTime "yesterday" is not"#), "{}", refused.message);
        }
        // a good one is read once and kept to the microsecond; a bad endTime only loses the duration
        let line = r#"{"request_id":"r-1","startTime":"2025-03-01 10:00:00.123456","endTime":"later","model":"m","prompt_tokens":1}"#;
        let record = parse_line(line.as_bytes(), Typing::Strict).expect("a valid row");
        assert_eq!(record.request_time_us, 1_740_823_200_123_456);
        assert_eq!(record.execution_duration_ms, None);
    }

    #[test]
    fn metadata_is_read_as_an_object_or_as_the_text_of_one_and_anything_else_is_none() {
        let object = r#"{"user_api_key": "k", "user_api_key_alias": "team-key", "applied_guardrails": [],
            "usage_object": {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 40}},
            "error_information": {"error_code": "429"}}"#;
        assert_eq!(read(object, "success"), (40, 200, Some("team-key".into())));
        assert_eq!(read(object, "failure"), (40, 429, Some("team-key".into())), "the error code of a failure");
        // the CSV export's cell, as a JSON string holding the object
        let text = serde_json::to_string(object).unwrap();
        assert_eq!(read(&text, "success"), (40, 200, Some("team-key".into())));
        // a key given twice keeps its last value
        let twice =
            r#"{"usage_object": {"cache_read_input_tokens": 7}, "usage_object": {"cache_read_input_tokens": 9}}"#;
        assert_eq!(read(twice, "success").0, 9);
        for none in [r#""not json""#, r#""[1, 2]""#, "[1, {\"usage_object\": {}}]", "null", "3", "true", r#""""#] {
            assert_eq!(read(none, "failure"), (0, 500, None), "metadata {none}");
        }
    }

    /// A CSV export's metadata cell, as the LiteLLM proxy writes it for a failed call.
    const METADATA: &str = r#"{"user_api_key": "8a3f", "user_api_key_alias": "key-7", "user_api_key_team_id": "t-9", "spend_logs_metadata": null, "applied_guardrails": [], "status": "failure", "usage_object": {"completion_tokens": 12, "prompt_tokens": 1200, "total_tokens": 1212, "prompt_tokens_details": {"cached_tokens": 200, "audio_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 4}, "cache_creation_input_tokens": 30, "server_tool_use": {"web_search_requests": 1}}, "error_information": {"error_code": "429", "error_class": "RateLimitError"}}"#;

    /// The metadata a cell's text gives through the parse worker's simd-json, checked to be
    /// the metadata serde_json gives (both none when it is not metadata).
    fn metadata_of(text: &[u8], scratch: &mut LineScratch) -> Option<Metadata> {
        let text = std::str::from_utf8(text).ok()?;
        let fast = scratch.text_as::<Metadata>(text);
        assert_eq!(fast, serde_json::from_str::<Metadata>(text).ok(), "{text}");
        fast
    }

    #[test]
    fn a_metadata_cell_is_read_by_simd_json_as_serde_json_reads_it() {
        let mut scratch = LineScratch::default();
        let read = metadata_of(METADATA.as_bytes(), &mut scratch).expect("metadata");
        assert!(scratch.read::<Metadata>(METADATA.as_bytes()).is_some(), "read by simd-json, not left to serde_json");
        assert_eq!(read.user_api_key_alias.0.as_deref(), Some("key-7"));
        assert_eq!(
            (read.usage_object.passed_through().cache_read, read.usage_object.labels().web_search_requests),
            (Some(200), Some(1))
        );
        assert_eq!(
            read.error_information,
            Some(serde_json::json!({"error_code": "429", "error_class": "RateLimitError"}))
        );
        // what simd-json refuses goes to serde_json, which decides it
        for text in [
            format!("{METADATA} x"),
            format!("[{METADATA}]"),
            format!("\u{feff}{METADATA}"),
            METADATA.replace("key-7", r"key-\ud800"),
            METADATA.replace("key-7", "key\t7"),
            format!("{}{METADATA}{}", "[".repeat(70), "]".repeat(70)),
            METADATA.replace(r#""status": "failure""#, &format!(r#""deep": {}{}"#, "[".repeat(70), "]".repeat(70))),
            METADATA.replace("1212", "1e400"),
            METADATA.replace("1212", "18446744073709551616"),
            // simd-json reads -0 as the integer 0, serde_json as the float -0.0
            METADATA.replace(r#""audio_tokens": 0"#, r#""audio_tokens":-0"#),
            METADATA.replace(r#""audio_tokens": 0"#, r#""audio_tokens": [-0]"#),
            METADATA.replace(r#""error_code": "429""#, r#""error_code": -0"#),
        ] {
            let _ = metadata_of(text.as_bytes(), &mut scratch);
        }
        // a good cell after them all is read whole
        assert_eq!(metadata_of(METADATA.as_bytes(), &mut scratch), Some(read));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// A metadata cell with one byte changed, inserted or cut off: simd-json gives what
        /// serde_json gives.
        #[test]
        fn both_readers_agree_on_damaged_metadata(text in crate::ingest::sources::native::damaged_json(METADATA)) {
            let _ = metadata_of(&text, &mut LineScratch::default());
        }
    }

    #[test]
    fn the_context_holds_team_user_key_tags_and_call_type_sorted_and_is_capped() {
        let line = |tags: &str| {
            format!(
                r#"{{"request_id":"r-1","startTime":"2025-03-01 10:00:00","model":"m","prompt_tokens":1,"completion_tokens":1,"team_id":" t-9 ","end_user":"e@x.com","call_type":"acompletion","request_tags":{tags},"metadata":{{"user_api_key_alias":"k"}}}}"#
            )
        };
        let text = line(r#"["a","b"]"#);
        let record = parse_line(text.as_bytes(), Typing::Strict).expect("a valid row");
        let context: Vec<(&str, &str)> =
            record.usage_context.iter().flatten().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        assert_eq!(
            context,
            vec![
                ("call_type", "acompletion"),
                ("end_user", "e@x.com"),
                ("group", "t-9"),
                ("key_alias", "k"),
                ("request_tags", "a,b"),
                ("team_id", "t-9"),
            ]
        );
        let long = serde_json::to_string(&["x".repeat(17 * 1024)]).unwrap();
        let refused = parse_line(line(&long).as_bytes(), Typing::Strict).expect_err("over the cap");
        assert_eq!(refused.code, crate::ingest::validate::ReasonCode::FieldTooLong, "{}", refused.message);
        // the strings of the array only, in order; anything but an array is no tags
        let tags_of = |tags: &str| {
            let text = line(tags);
            let record = parse_line(text.as_bytes(), Typing::Strict).expect("a valid row");
            record.usage_context.iter().flatten().find(|(k, _)| k == "request_tags").map(|p| p.1.to_string())
        };
        assert_eq!(tags_of(r#"["a", 1, null, ["c"], {"d": "e"}, "b\"q"]"#).as_deref(), Some("a,b\"q"));
        for none in [r#""a""#, r#"{"a": "b"}"#, "[]", "[1, 2]", "null", "7"] {
            assert_eq!(tags_of(none), None, "request_tags {none}");
        }
    }

    #[test]
    fn a_key_alias_is_the_metadatas_string_and_anything_else_is_none() {
        let alias_of = |alias: &str| {
            let text = format!(
                r#"{{"request_id":"r-1","startTime":"2025-03-01 10:00:00","model":"m","prompt_tokens":1,"metadata":{{"user_api_key_alias":{alias}}}}}"#
            );
            let record = parse_line(text.as_bytes(), Typing::Strict).expect("a valid row");
            record.usage_context.iter().flatten().find(|(k, _)| k == "key_alias").map(|p| p.1.to_string())
        };
        assert_eq!(alias_of(r#""team \"a\"""#).as_deref(), Some("team \"a\""));
        for none in ["7", "null", "[\"k\"]", r#"{"k": "v"}"#, r#""""#] {
            assert_eq!(alias_of(none), None, "alias {none}");
        }
    }
}
