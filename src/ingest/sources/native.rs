//! The native record format: one JSON object per line with the fields of the inference record
//! (what `tokenledger gen` writes; README "The native record"). The same fields
//! also arrive as CSV columns or Parquet columns, which the chunkers render as the same JSON
//! object for this parser.

use std::borrow::Cow;

use serde::Deserialize;

use crate::ingest::validate::{RawRecord, ReasonCode, Reject, Typing, Val, ValidRecord, trim, validate};

/// Field names of the native format as they appear in a JSON line. Each value is taken
/// loosely typed ([`Loose`]) so that a wrong type becomes a precise quarantine reason
/// instead of a generic parse error, in one pass over the line.
#[derive(Deserialize)]
struct NativeLine<'a> {
    #[serde(borrow, default)]
    request_id: Loose<'a>,
    #[serde(borrow, default)]
    client_request_id: Loose<'a>,
    #[serde(borrow, default)]
    request_time: Loose<'a>,
    #[serde(borrow, default)]
    endpoint_name: Loose<'a>,
    #[serde(borrow, default)]
    served_entity_name: Loose<'a>,
    #[serde(borrow, default)]
    served_entity_id: Loose<'a>,
    /// `served_entity_type` is what the generators write; `entity_type` is the column name.
    #[serde(borrow, default, alias = "served_entity_type")]
    entity_type: Loose<'a>,
    #[serde(borrow, default)]
    provider: Loose<'a>,
    #[serde(borrow, default)]
    requester: Loose<'a>,
    #[serde(borrow, default)]
    usage_context: ContextField<'a>,
    #[serde(borrow, default)]
    status_code: Loose<'a>,
    #[serde(borrow, default)]
    execution_duration_ms: Loose<'a>,
    #[serde(borrow, default)]
    request_streaming: Loose<'a>,
    #[serde(borrow, default)]
    is_fallback: Loose<'a>,
    #[serde(borrow, default)]
    attempt: Loose<'a>,
    #[serde(borrow, default)]
    guardrail_action: Loose<'a>,
    #[serde(borrow, default)]
    input_tokens: Loose<'a>,
    #[serde(borrow, default, alias = "cache_read_input_tokens")]
    cached_input_tokens: Loose<'a>,
    #[serde(borrow, default)]
    cache_creation_input_tokens: Loose<'a>,
    #[serde(borrow, default)]
    output_tokens: Loose<'a>,
    #[serde(borrow, default)]
    reasoning_tokens: Loose<'a>,
    #[serde(borrow, default)]
    request: Loose<'a>,
    #[serde(borrow, default)]
    response: Loose<'a>,
    #[serde(borrow, default)]
    service_tier: Loose<'a>,
    #[serde(borrow, default)]
    requester_type: Loose<'a>,
    #[serde(borrow, default)]
    cache_creation_1h_input_tokens: Loose<'a>,
    #[serde(borrow, default)]
    input_audio_tokens: Loose<'a>,
    #[serde(borrow, default)]
    output_audio_tokens: Loose<'a>,
    #[serde(borrow, default)]
    web_search_requests: Loose<'a>,
    #[serde(borrow, default)]
    inference_geo: Loose<'a>,
}

/// One JSON value as a [`Val`] (`None` for null), borrowing strings without escapes.
#[derive(Default)]
pub(crate) struct Loose<'a>(pub(crate) Option<Val<'a>>);

impl<'a> Loose<'a> {
    /// The value, a blank string being none (how the exports of other sources write "none").
    #[inline]
    pub(crate) fn non_blank(self) -> Option<Val<'a>> {
        match self.0 {
            Some(Val::Str(s)) if trim(&s).is_empty() => None,
            other => other,
        }
    }
}

/// `usage_context` as a line has it: an object read straight into its pairs of text, borrowed
/// from the line where they have no escapes, as validation makes them of a JSON map (a key
/// given twice keeps its last value, a null drops the key, a number or boolean is its JSON
/// text); anything else as [`Loose`] reads it, for validation to read or refuse. (A map of
/// `serde_json::Value`s was built and dropped for every record: 2 % of a native ingest.)
#[derive(Default)]
struct ContextField<'a>(Option<Val<'a>>);

/// A value of a `usage_context` member.
enum ContextValue<'a> {
    Text(Cow<'a, str>),
    Null,
    /// An object or an array, which validation refuses.
    Nested(serde_json::Value),
}

impl<'de: 'a, 'a> Deserialize<'de> for ContextField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContextVisitor(LooseVisitor(std::marker::PhantomData)))
    }
}

struct ContextVisitor<'a>(LooseVisitor<'a>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for ContextVisitor<'a> {
    type Value = ContextField<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // a context holds a few members (grown one by one, this vector took 500 instructions)
        let mut members: Vec<(Cow<'a, str>, ContextValue<'a>)> = Vec::with_capacity(8);
        while let Some(Loose(key)) = map.next_key::<Loose<'a>>()? {
            let Some(Val::Str(key)) = key else {
                return Err(serde::de::Error::custom("a key that is not a string"));
            };
            members.push((key, map.next_value()?));
        }
        Ok(ContextField(Some(context_of(members))))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.0.visit_bool(v).map(|l| ContextField(l.0))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.0.visit_i64(v).map(|l| ContextField(l.0))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.0.visit_u64(v).map(|l| ContextField(l.0))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.0.visit_f64(v).map(|l| ContextField(l.0))
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.0.visit_borrowed_str(v).map(|l| ContextField(l.0))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.0.visit_str(v).map(|l| ContextField(l.0))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        self.0.visit_string(v).map(|l| ContextField(l.0))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(ContextField(None))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(ContextField(None))
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        ContextField::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(seq).map(|l| ContextField(l.0))
    }
}

/// A context's members, in the order they came, as validation makes them of a JSON map: its
/// pairs of text, or the map itself when a member holds an object or an array (refused). Kept
/// out of the visitor, which is compiled into each reader: inlined there, this code made the
/// line's reader move its row struct with `memcpy`, three copies a line (1 % of a native
/// ingest).
#[inline(never)]
fn context_of<'a>(mut members: Vec<(Cow<'a, str>, ContextValue<'a>)>) -> Val<'a> {
    // in the map's order, a key given twice keeping its last value (a stable sort keeps
    // equal keys in their order; `dedup_by` passes the later one first)
    members.sort_by(|a, b| a.0.cmp(&b.0));
    members.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(&mut later.1, &mut kept.1);
        }
        same
    });
    if members.iter().any(|(_, v)| matches!(v, ContextValue::Nested(_))) {
        // refused by validation, with the reason it gives a map holding it
        let map = members.into_iter().map(|(k, v)| {
            let v = match v {
                ContextValue::Text(t) => serde_json::Value::String(t.into_owned()),
                ContextValue::Null => serde_json::Value::Null,
                ContextValue::Nested(v) => v,
            };
            (k.into_owned(), v)
        });
        return Val::Json(serde_json::Value::Object(map.collect()));
    }
    // into a vector of their own size (collected in place, the members' was shrunk by a copy)
    let mut pairs = Vec::with_capacity(members.len());
    pairs.extend(members.into_iter().filter_map(|(k, v)| match v {
        ContextValue::Text(t) => Some((k, t)),
        _ => None,
    }));
    Val::Pairs(pairs)
}

impl<'de: 'a, 'a> Deserialize<'de> for ContextValue<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = ContextValue<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ContextValue::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ContextValue::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(ContextValue::Text(Cow::Owned(v)))
            }
            // a number or a boolean is its JSON text, as a map of values writes it
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(ContextValue::Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ContextValue::Text(Cow::Owned(json_i64(v).to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ContextValue::Text(Cow::Owned(serde_json::Value::from(v).to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ContextValue::Text(Cow::Owned(serde_json::Value::from(v).to_string())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(ContextValue::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(ContextValue::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                ContextValue::deserialize(d)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                nested_map(map).map(ContextValue::Nested)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                nested_seq(seq).map(ContextValue::Nested)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A column that holds JSON: an object or an array as the export wrote it, or the JSON text a
/// string holds (CSV exports, tables that store bodies as text). Nothing is parsed or copied
/// until the adapter asks, and a string without escapes stays borrowed.
#[derive(Default)]
pub(crate) enum JsonColumn<'a> {
    #[default]
    Absent,
    /// The value as it stands in a JSON line.
    Json(&'a serde_json::value::RawValue),
    /// A CSV cell: the text itself, JSON or not.
    Cell(&'a str),
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonColumn<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<&'a serde_json::value::RawValue>::deserialize(d)
            .map(|raw| raw.map_or(JsonColumn::Absent, JsonColumn::Json))
    }
}

impl<'a> JsonColumn<'a> {
    /// The JSON text: an object's or array's own bytes, a string's contents, a cell's text;
    /// none for null, a blank string, a number or a boolean.
    pub(crate) fn text(&self) -> Option<Cow<'a, str>> {
        let raw = match self {
            JsonColumn::Absent => return None,
            JsonColumn::Cell(text) => return (!trim(text).is_empty()).then_some(Cow::Borrowed(*text)),
            JsonColumn::Json(raw) => raw.get(),
        };
        let text = match raw.as_bytes().first()? {
            b'{' | b'[' => Cow::Borrowed(raw),
            b'"' if !raw.contains('\\') => Cow::Borrowed(&raw[1..raw.len() - 1]),
            b'"' => Cow::Owned(serde_json::from_str::<String>(raw).ok()?),
            _ => return None,
        };
        (!trim(&text).is_empty()).then_some(text)
    }

    /// The column as a loosely typed value, for a column stored as text: the JSON text (see
    /// [`Self::text`]), or the number or boolean it holds, for the validator to refuse.
    pub(crate) fn body(&self) -> Option<Val<'a>> {
        match self {
            JsonColumn::Json(raw) if !matches!(raw.get().as_bytes().first(), Some(b'{' | b'[' | b'"')) => {
                serde_json::from_str::<Loose<'a>>(raw.get()).ok()?.0
            }
            _ => self.text().map(Val::Str),
        }
    }

    /// The column's JSON parsed as `T`: the object itself, or the JSON text a string holds.
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.text()?).ok()
    }
}

/// Parses a line of a source as that source's borrowed row struct, with the same checks and
/// reasons as the native format (UTF-8, a JSON object).
pub(crate) fn row<'a, T: Deserialize<'a>>(line: &'a [u8]) -> Result<T, Reject> {
    serde_json::from_str(object_text(line)?)
        .map_err(|e| Reject::new(ReasonCode::MalformedRecord, format!("not a JSON object: {e}")))
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    // inlined into each row's reader (its derived struct visitor), as it was while the visitor
    // was smaller; called apart, the line's reader took 0.5 % more instructions
    #[inline(always)]
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor(std::marker::PhantomData))
    }
}

struct LooseVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for LooseVisitor<'a> {
    type Value = Loose<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose(Some(Val::Bool(v))))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose(Some(signed(v))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose(Some(i64::try_from(v).map_or(Val::Float(v as f64), Val::Int))))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose(Some(Val::Float(v))))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose(Some(Val::Str(Cow::Borrowed(v)))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose(Some(Val::Str(Cow::Owned(v.to_owned())))))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose(Some(Val::Str(Cow::Owned(v)))))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Loose(None))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Loose(None))
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Loose::deserialize(d)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Loose(Some(Val::Json(nested_map(map)?))))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(Loose(Some(Val::Json(nested_seq(seq)?))))
    }
}

/// A number simd-json or serde_json gives as an `i64`, a negative one or simd-json's `-0`.
/// Out of line, as are [`nested_map`] and [`nested_seq`]: the visitors are inlined into each
/// row's reader, and a count is never negative (it comes as a `u64`).
#[inline(never)]
fn signed(v: i64) -> Val<'static> {
    if v == SIMD_NEGATIVE_ZERO { Val::Float(-0.0) } else { Val::Int(v) }
}

/// A nested object as serde_json's `Value` (see [`JsonValue`]).
#[inline(never)]
fn nested_map<'de, A: serde::de::MapAccess<'de>>(map: A) -> Result<serde_json::Value, A::Error> {
    serde::de::Visitor::visit_map(JsonValueVisitor, map)
}

/// A nested array as serde_json's `Value` (see [`JsonValue`]).
#[inline(never)]
fn nested_seq<'de, A: serde::de::SeqAccess<'de>>(seq: A) -> Result<serde_json::Value, A::Error> {
    serde::de::Visitor::visit_seq(JsonValueVisitor, seq)
}

/// The integer simd-json hands a visitor for the number `-0`, which serde_json hands over as
/// the float -0.0: simd-json gives a non-negative integer as a `u64` and a negative one as an
/// `i64`, so an `i64` zero is only ever `-0`. The visitors of the rows take it for -0.0, so
/// that both readers give the same values (a context's `-0` is `"-0.0"` by either).
pub(crate) const SIMD_NEGATIVE_ZERO: i64 = 0;

/// An `i64` a parser gave, as the `Value` serde_json makes of its text: [`SIMD_NEGATIVE_ZERO`]
/// is -0.0.
fn json_i64(v: i64) -> serde_json::Value {
    if v == SIMD_NEGATIVE_ZERO { serde_json::Value::from(-0.0) } else { serde_json::Value::from(v) }
}

/// A nested JSON value as serde_json's `Value` reads it, whichever parser gives it: the
/// visitor of `Value` itself, but for [`SIMD_NEGATIVE_ZERO`].
pub(crate) struct JsonValue(pub(crate) serde_json::Value);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonValueVisitor).map(JsonValue)
    }
}

struct JsonValueVisitor;

impl<'de> serde::de::Visitor<'de> for JsonValueVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(json_i64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(serde_json::Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(serde_json::Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(serde_json::Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        JsonValue::deserialize(d).map(|v| v.0)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(JsonValue(v)) = seq.next_element()? {
            values.push(v);
        }
        Ok(serde_json::Value::Array(values))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // a key given twice keeps its last value, as in serde_json's map
        let mut values = serde_json::Map::new();
        while let Some((key, JsonValue(v))) = map.next_entry::<String, JsonValue>()? {
            values.insert(key, v);
        }
        Ok(serde_json::Value::Object(values))
    }
}

/// A parse worker's buffers for reading JSON lines with simd-json (the native log's, and the
/// Databricks and AI Gateway rows'), kept from line to line:
/// the line copied with the padding that the parser's vector loads read past its end (its
/// strings are unescaped in place, so a payload full of escaped quotes is borrowed, not
/// copied), the parser's structure index and its tape.
pub struct LineScratch {
    bytes: Vec<u8>,
    buffers: simd_json::Buffers,
    tape: Option<simd_json::Tape<'static>>,
}

/// Nesting deeper than this leaves the line to serde_json, which then decides it with its own
/// recursion limit (128); a gateway's record nests three or four levels.
const FAST_PATH_MAX_DEPTH: usize = 64;

impl Default for LineScratch {
    fn default() -> Self {
        LineScratch {
            bytes: Vec::new(),
            buffers: simd_json::Buffers::with_max_depth(4096, FAST_PATH_MAX_DEPTH),
            tape: None,
        }
    }
}

impl LineScratch {
    /// A line of a JSON source as that source's borrowed row struct, with the same checks and
    /// reasons as [`row`]: simd-json reads it, and a line it refuses (not JSON, not UTF-8, a
    /// value of the wrong shape, too deep) is read again by serde_json, which accepts the same
    /// JSON and words the reasons, so a reject is the same whichever reader saw the line first.
    // inlined into each adapter: called apart, it returns the row struct through two copies
    // (0.6 % of a native ingest's instructions when a change elsewhere moved it out)
    #[inline(always)]
    pub(crate) fn row<'a, T: Deserialize<'a>>(&'a mut self, line: &'a [u8]) -> Result<T, Reject> {
        match self.read(line) {
            Some(parsed) => Ok(parsed),
            None => row(line),
        }
    }

    /// JSON text (a CSV cell holding an object: LiteLLM's metadata) read as `T`: by simd-json,
    /// or by serde_json when simd-json refuses it, as [`Self::row`] reads a line; none when
    /// neither takes it.
    pub(crate) fn text_as<T: serde::de::DeserializeOwned>(&mut self, text: &str) -> Option<T> {
        self.read(text.as_bytes()).or_else(|| serde_json::from_str(text).ok())
    }

    /// The line read by simd-json, or none when it refuses it.
    pub(super) fn read<'a, T: Deserialize<'a>>(&'a mut self, line: &[u8]) -> Option<T> {
        // serde would also fill a struct from an array, field by field
        if line.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        self.bytes.clear();
        self.bytes.extend_from_slice(line);
        self.bytes.resize(line.len() + simd_json::INPUT_PADDING, b' ');
        let mut tape = self.tape.take().unwrap_or_else(|| simd_json::Tape::null().reset());
        simd_json::fill_tape_padded(&mut self.bytes, line.len(), &mut self.buffers, &mut tape).ok()?;
        let mut deserializer = simd_json::Deserializer::from_tape(tape);
        let parsed = T::deserialize(&mut deserializer).ok();
        self.tape = Some(deserializer.into_tape().reset());
        parsed
    }
}

/// Parses and validates one JSON line of the native format. `typing` is
/// [`Typing::FromText`] for lines made from CSV rows, whose values are all strings.
pub fn parse_line<'a>(line: &'a [u8], typing: Typing, scratch: &'a mut LineScratch) -> Result<ValidRecord<'a>, Reject> {
    let parsed: NativeLine<'a> = scratch.row(line)?;
    validate(parsed.into_raw(), typing)
}

impl<'a> NativeLine<'a> {
    fn into_raw(self) -> RawRecord<'a> {
        RawRecord {
            request_id: self.request_id.0,
            client_request_id: self.client_request_id.0,
            request_time: self.request_time.0,
            endpoint_name: self.endpoint_name.0,
            served_entity_name: self.served_entity_name.0,
            served_entity_id: self.served_entity_id.0,
            entity_type: self.entity_type.0,
            provider: self.provider.0,
            requester: self.requester.0,
            usage_context: self.usage_context.0,
            status_code: self.status_code.0,
            execution_duration_ms: self.execution_duration_ms.0,
            request_streaming: self.request_streaming.0,
            is_fallback: self.is_fallback.0,
            attempt: self.attempt.0,
            guardrail_action: self.guardrail_action.0,
            input_tokens: self.input_tokens.0,
            cached_input_tokens: self.cached_input_tokens.0,
            cache_creation_input_tokens: self.cache_creation_input_tokens.0,
            output_tokens: self.output_tokens.0,
            reasoning_tokens: self.reasoning_tokens.0,
            request: self.request.0,
            response: self.response.0,
            service_tier: self.service_tier.0,
            requester_type: self.requester_type.0,
            cache_creation_1h_input_tokens: self.cache_creation_1h_input_tokens.0,
            input_audio_tokens: self.input_audio_tokens.0,
            output_audio_tokens: self.output_audio_tokens.0,
            web_search_requests: self.web_search_requests.0,
            inference_geo: self.inference_geo.0,
            ..RawRecord::default()
        }
    }
}

/// The line as text that starts a JSON object: UTF-8, and not an array (serde would also fill
/// a struct from a JSON array, field by field).
fn object_text(line: &[u8]) -> Result<&str, Reject> {
    let text = simdutf8::compat::from_utf8(line).map_err(|e| {
        Reject::new(
            ReasonCode::InvalidUtf8,
            format!("the line is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to()),
        )
    })?;
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(Reject::new(ReasonCode::MalformedRecord, "not a JSON object"));
    }
    Ok(text)
}

/// A refused record's request id as its quarantine row names it: its first 256 characters.
pub fn quarantined_id(id: &str) -> String {
    id.chars().take(256).collect()
}

/// Best effort: the id (in the field `field`) of a line that failed validation, for the
/// quarantine row.
pub fn request_id_of(line: &[u8], field: &str) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    match obj.get(field)? {
        serde_json::Value::String(s) => Some(quarantined_id(s)),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `json` with one byte changed, inserted or cut off (a byte that matters to JSON, a control
/// byte, or one that breaks UTF-8): the texts on which the property tests hold simd-json's
/// reading to serde_json's.
#[cfg(test)]
pub(crate) fn damaged_json(json: &'static str) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::strategy::Strategy;
    let bytes = b"\"\\{}[],:0123456789-+.eE tnulfarxX\x01\x7f\xc3\xff".to_vec();
    (0..json.len(), proptest::sample::select(bytes), 0u8..3).prop_map(move |(at, byte, how)| {
        let mut text = json.as_bytes().to_vec();
        match how {
            0 => text[at] = byte,
            1 => text.insert(at, byte),
            _ => text.truncate(at),
        }
        text
    })
}

/// Panics unless simd-json's reading of `line` (`fast`) gave what serde_json's (`slow`) gave:
/// the same record, or the same reason.
#[cfg(test)]
pub(crate) fn assert_readers_agree<T: PartialEq + std::fmt::Debug>(
    line: &[u8],
    fast: &Result<T, Reject>,
    slow: &Result<T, Reject>,
) {
    let text = String::from_utf8_lossy(line);
    match (fast, slow) {
        (Ok(f), Ok(s)) => assert_eq!(f, s, "{text}"),
        (Err(f), Err(s)) => assert_eq!((f.code, &f.message), (s.code, &s.message), "{text}"),
        _ => panic!("the readers disagree on {text}: {fast:?} against {slow:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"request_id":"r1","client_request_id":null,"request_time":"2025-01-01T10:00:00.123Z","endpoint_name":"chat","served_entity_name":"gpt-4o","served_entity_type":"EXTERNAL_MODEL","provider":"openai","requester":"a@x.com","status_code":200,"input_tokens":2048,"output_tokens":10,"cached_input_tokens":1024,"execution_duration_ms":5,"is_fallback":false,"usage_context":{"project":"p","cost_center":"CC-1"},"request":"{\"q\":\"東京\"}","response":null}"#;

    /// One line through both readers: the record simd-json's path gives, checked to be the one
    /// serde_json's gives (or the same reject).
    fn parse<'a>(line: &'a [u8], scratch: &'a mut LineScratch) -> Result<ValidRecord<'a>, Reject> {
        let fast = parse_line(line, Typing::Strict, scratch);
        let slow = row::<NativeLine>(line).and_then(|parsed| validate(parsed.into_raw(), Typing::Strict));
        assert_readers_agree(line, &fast, &slow);
        fast
    }

    #[test]
    fn both_readers_read_a_number_as_its_nearest_double() {
        // serde_json's default best-effort parsing read 20e48 as 2.0000000000000002e49, one
        // bit from the nearest double, which simd-json gave (its reason quoted the number)
        let line = GOOD.replace(r#""input_tokens":2048"#, r#""input_tokens":20e48"#);
        let reject = parse(line.as_bytes(), &mut LineScratch::default()).unwrap_err();
        assert_eq!(reject.message, format!("input_tokens must be an integer, got {}", 2e49));
    }

    #[test]
    fn numbers_and_strings_at_the_edges_are_read_as_serde_json_reads_them() {
        // simd-json reads -0 as the integer 0, serde_json as the float -0.0: in a context its
        // text is "-0.0", as serde_json's map gives it
        for (from, to) in [
            (r#""project":"p""#, r#""project":-0"#),
            (r#""input_tokens":2048"#, r#""input_tokens":-0"#),
            (r#""status_code":200"#, r#""status_code":-0"#),
            (r#""request_id":"r1""#, r#""request_id":-0"#),
            (r#""is_fallback":false"#, r#""is_fallback":-0"#),
        ] {
            let line = GOOD.replace(from, to);
            let _ = parse(line.as_bytes(), &mut LineScratch::default());
        }
        // numbers at the edges of the two parsers, as a count and as a context value
        for number in [
            "1e400",
            "-1e400",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "4.9e-325",
            "2.2250738585072011e-308",
            "-0.0",
            "0e0",
            "-0e-0",
            "1.0",
            "100000000000000000000000000000000000000e-20",
            "9007199254740993",
            "0.1e1",
            "1E2",
            "-0E+0",
            "123456789012345678901234567890",
            "0.000000000000000000000000000001e30",
        ] {
            for (from, field) in [(r#""input_tokens":2048"#, "input_tokens"), (r#""project":"p""#, "project")] {
                let line = GOOD.replace(from, &format!(r#""{field}":{number}"#));
                let _ = parse(line.as_bytes(), &mut LineScratch::default());
            }
        }
        // keys and strings at the edges: escaped, given twice, NUL, lone and paired surrogates
        for (from, to) in [
            (r#""request_id":"r1""#, r#""request\u005fid":"r1""#),
            (r#""request_id":"r1""#, r#""request_id":"r1","request_id":"r2""#),
            (r#""project":"p""#, r#""project":"p","project":"q""#),
            (r#""project":"p""#, r#""project":"a\u0000b""#),
            (r#""project":"p""#, r#""project":"\ud800""#),
            (r#""project":"p""#, r#""project":"\udc00\ud800""#),
            (r#""project":"p""#, r#""project":"\ud83d\ude00 \/ \b\f""#),
            (r#""request_id":"r1""#, r#""request_id":"r\u00e9\u6771""#),
        ] {
            let line = GOOD.replace(from, to);
            let _ = parse(line.as_bytes(), &mut LineScratch::default());
        }
        let line = GOOD.replace(r#""project":"p""#, r#""project":-0"#);
        let mut scratch = LineScratch::default();
        let record = parse_line(line.as_bytes(), Typing::Strict, &mut scratch).expect("a valid line");
        assert_eq!(
            record.usage_context,
            Some(vec![("cost_center".into(), "CC-1".into()), ("project".into(), "-0.0".into())])
        );
    }

    #[test]
    fn parses_a_good_line() {
        let mut scratch = LineScratch::default();
        let r = parse(GOOD.as_bytes(), &mut scratch).unwrap();
        assert_eq!(r.request_id, "r1");
        assert_eq!(r.request_time_us, 1_735_725_600_123_000);
        assert_eq!(r.tokens.input, 1024);
        assert_eq!(r.tokens.cache_read, 1024);
        assert_eq!(r.entity_type.as_deref(), Some("EXTERNAL_MODEL"));
        assert_eq!(r.request.as_deref(), Some("{\"q\":\"東京\"}"));
        assert_eq!(r.usage_context, Some(vec![("cost_center".into(), "CC-1".into()), ("project".into(), "p".into())]));
    }

    fn reason(line: &str) -> ReasonCode {
        parse(line.as_bytes(), &mut LineScratch::default()).unwrap_err().code
    }

    #[test]
    fn each_problem_has_its_reason() {
        assert_eq!(reason(&GOOD[..40]), ReasonCode::MalformedRecord);
        assert_eq!(reason("[1,2]"), ReasonCode::MalformedRecord);
        assert_eq!(reason(&GOOD.replace(r#""request_id":"r1","#, "")), ReasonCode::MissingField);
        assert_eq!(reason(&GOOD.replace(r#""output_tokens":10"#, r#""output_tokens":-5"#)), ReasonCode::NegativeValue);
        assert_eq!(reason(&GOOD.replace("2025-01-01T10:00:00.123Z", "2025-13-45T99:00:00Z")), ReasonCode::BadTimestamp);
        assert_eq!(reason(&GOOD.replace("2025-01-01T10:00:00.123Z", "2025-01-01 10:00:00")), ReasonCode::BadTimestamp);
        assert_eq!(reason(&GOOD.replace(r#""status_code":200"#, r#""status_code":700"#)), ReasonCode::BadStatus);
        assert_eq!(reason(&GOOD.replace(r#""input_tokens":2048"#, r#""input_tokens":"lots""#)), ReasonCode::WrongType);
        assert_eq!(reason(&GOOD.replace(r#""input_tokens":2048"#, r#""input_tokens":12.5"#)), ReasonCode::WrongType);
        assert_eq!(
            reason(&GOOD.replace(r#""cached_input_tokens":1024"#, r#""cached_input_tokens":4096"#)),
            ReasonCode::InconsistentTokens
        );
        assert_eq!(reason(&GOOD.replace("a@x.com", &"x".repeat(600))), ReasonCode::FieldTooLong);
        let mut bad = GOOD.as_bytes().to_vec();
        bad[30] = 0xff;
        assert_eq!(parse(&bad, &mut LineScratch::default()).unwrap_err().code, ReasonCode::InvalidUtf8);
    }

    #[test]
    fn epoch_millis_and_offsets_are_accepted() {
        let ms = GOOD.replace(r#""2025-01-01T10:00:00.123Z""#, "1735725600123");
        assert_eq!(parse(ms.as_bytes(), &mut LineScratch::default()).unwrap().request_time_us, 1_735_725_600_123_000);
        let off = GOOD.replace("2025-01-01T10:00:00.123Z", "2025-01-01T11:00:00.123+01:00");
        assert_eq!(parse(off.as_bytes(), &mut LineScratch::default()).unwrap().request_time_us, 1_735_725_600_123_000);
        // seconds instead of milliseconds land in 1970: a unit mistake, not data
        let secs = GOOD.replace(r#""2025-01-01T10:00:00.123Z""#, "1735725600");
        assert_eq!(reason(&secs), ReasonCode::BadTimestamp);
    }

    #[test]
    fn null_tokens_are_absent_not_rejected() {
        let line = GOOD
            .replace(r#""input_tokens":2048"#, r#""input_tokens":null"#)
            .replace(r#""output_tokens":10"#, r#""output_tokens":null"#)
            .replace(r#""cached_input_tokens":1024"#, r#""cached_input_tokens":null"#);
        // a success with its request logged: estimated from the 10 characters of the body, (10 + 1) / 4
        let mut scratch = LineScratch::default();
        let r = parse(line.as_bytes(), &mut scratch).unwrap();
        assert_eq!((r.tokens.source.as_str(), r.tokens.input, r.tokens.output), ("estimated", 2, 0));
        // without a payload there is nothing to estimate from
        let bare = line.replace(r#""request":"{\"q\":\"東京\"}""#, r#""request":null"#);
        let r = parse(bare.as_bytes(), &mut scratch).unwrap();
        assert_eq!(r.tokens.source.as_str(), "absent");
        assert_eq!(r.tokens.input + r.tokens.output, 0);
        // an error without counts is absent whatever it logged
        let error = line.replace(r#""status_code":200"#, r#""status_code":429"#);
        assert_eq!(parse(error.as_bytes(), &mut scratch).unwrap().tokens.source.as_str(), "absent");
    }

    #[test]
    fn request_id_is_recovered_for_quarantine() {
        assert_eq!(request_id_of(GOOD.replace("2048", "-1").as_bytes(), "request_id").as_deref(), Some("r1"));
        assert_eq!(request_id_of(b"{not json", "request_id"), None);
    }

    #[test]
    fn both_readers_agree_on_every_line_of_the_sample_log() {
        // the sample log holds every kind of bad line the generator makes (`--bad-rate`)
        let log = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/sample_data/logs/inference.jsonl")).unwrap();
        let mut scratch = LineScratch::default();
        let (mut good, mut bad) = (0, 0);
        for line in log.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if parse(line, &mut scratch).is_ok() {
                good += 1;
                // read by simd-json, not left to serde_json
                assert!(scratch.read::<NativeLine>(line).is_some(), "{}", String::from_utf8_lossy(line));
            } else {
                bad += 1;
            }
        }
        assert!(good > 14_000 && bad > 50, "{good} good and {bad} bad lines");
    }

    #[test]
    fn lines_simd_json_refuses_are_decided_by_serde_json() {
        let mut scratch = LineScratch::default();
        // trailing data, an array, a BOM, a lone surrogate, a raw control character in a string
        for line in [
            format!("{GOOD} x"),
            format!("{GOOD}{GOOD}"),
            format!("[{GOOD}]"),
            format!("\u{feff}{GOOD}"),
            GOOD.replace("東京", r"\ud800"),
            GOOD.replace("a@x.com", "a@x\t.com"),
            GOOD.replace(r#""request_id":"r1""#, r#""request_id":"r1","request_id":"r2""#),
        ] {
            assert_eq!(parse(line.as_bytes(), &mut scratch).unwrap_err().code, ReasonCode::MalformedRecord, "{line}");
        }
        // nesting past the fast path's depth but within serde_json's is read
        let nested = |depth: usize| {
            GOOD.replace(r#""response":null"#, &format!(r#""response":{}{}"#, "[".repeat(depth), "]".repeat(depth)))
        };
        assert!(parse(nested(FAST_PATH_MAX_DEPTH + 10).as_bytes(), &mut scratch).is_ok());
        assert_eq!(parse(nested(10_000).as_bytes(), &mut scratch).unwrap_err().code, ReasonCode::MalformedRecord);
        // and a good line after them all is read whole
        assert_eq!(parse(GOOD.as_bytes(), &mut scratch).unwrap().request_id, "r1");
    }

    /// The usage context a line with `context` gives (or its reject), checked to be what
    /// validation made of the context read as a map of `serde_json::Value`s, as it was read
    /// before it was read straight into pairs.
    fn context_as_a_map_gives(context: &str) -> Result<Option<Vec<(String, String)>>, String> {
        let line = GOOD.replace(r#"{"project":"p","cost_center":"CC-1"}"#, context);
        let pairs =
            |r: ValidRecord| r.usage_context.map(|c| c.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        let read = parse(line.as_bytes(), &mut LineScratch::default()).map(pairs).map_err(|e| e.message);
        let mut as_map: NativeLine = row(line.as_bytes()).expect("a JSON line");
        as_map.usage_context = ContextField(serde_json::from_str::<Loose>(context).expect("JSON").0);
        let before = validate(as_map.into_raw(), Typing::Strict).map(pairs).map_err(|e| e.message);
        assert_eq!(read, before, "{context}");
        read
    }

    #[test]
    fn a_usage_context_is_read_into_the_pairs_its_map_gave() {
        let pairs = |p: &[(&str, &str)]| Ok(Some(p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()));
        assert_eq!(context_as_a_map_gives(r#"{"b": "x", "a": "y"}"#), pairs(&[("a", "y"), ("b", "x")]));
        assert_eq!(context_as_a_map_gives("{}"), pairs(&[]));
        // a key given twice keeps its last value; null drops it
        assert_eq!(context_as_a_map_gives(r#"{"a": "x", "b": "1", "a": "y"}"#), pairs(&[("a", "y"), ("b", "1")]));
        assert_eq!(context_as_a_map_gives(r#"{"a": "x", "a": null}"#), pairs(&[]));
        assert_eq!(context_as_a_map_gives(r#"{"a": {"n": 1}, "a": "x"}"#), pairs(&[("a", "x")]));
        // numbers and booleans as their JSON text, escapes read
        assert_eq!(
            context_as_a_map_gives(
                r#"{"i": -3, "u": 18446744073709551615, "f": 1.50, "e": 2e3, "t": true, "k\u00e9": "v\"q"}"#
            ),
            pairs(&[
                ("e", "2000.0"),
                ("f", "1.5"),
                ("i", "-3"),
                ("k\u{e9}", "v\"q"),
                ("t", "true"),
                ("u", "18446744073709551615")
            ])
        );
        // nested values are refused, naming the first key in order
        let nested = context_as_a_map_gives(r#"{"z": [1], "b": "x", "a": {"n": 1}}"#).unwrap_err();
        assert!(nested.starts_with("usage_context.a must be a string"), "{nested}");
        assert!(context_as_a_map_gives(r#"{"a": "x", "a": {"n": 1}}"#).is_err());
        // over the cap
        let long = format!(r#"{{"a": "{}"}}"#, "x".repeat(17 * 1024));
        assert!(context_as_a_map_gives(&long).unwrap_err().contains("over the cap"));
        // not an object: read as before (a string holding an object is its JSON)
        assert_eq!(context_as_a_map_gives(r#""{\"a\": \"b\"}""#), pairs(&[("a", "b")]));
        assert_eq!(context_as_a_map_gives("null"), Ok(None));
        for other in ["7", "[1]", r#""text""#, "true"] {
            assert!(context_as_a_map_gives(other).is_err(), "{other}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Contexts of keys given once or more, in any order, with strings, nulls, numbers,
        /// booleans and nested values: read into pairs, they give what their map gave.
        #[test]
        fn any_usage_context_gives_what_its_map_gave(members in proptest::collection::vec((
            proptest::sample::select(vec!["a", "b", "cost_center", "k\\u00e9", ""]),
            proptest::sample::select(vec![r#""x""#, r#""""#, r#""q\"""#, "null", "0", "-0", "-1.25", "true", "[]", r#"{"n": null}"#, "[-0]"]),
        ), 0..7)) {
            let body: Vec<String> = members.iter().map(|(k, v)| format!(r#""{k}": {v}"#)).collect();
            let _ = context_as_a_map_gives(&format!("{{{}}}", body.join(", ")));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// A good line with one byte changed, inserted or cut off: simd-json's path gives what
        /// serde_json's gives, record or reason.
        #[test]
        fn both_readers_agree_on_damaged_lines(line in damaged_json(GOOD)) {
            let _ = parse(&line, &mut LineScratch::default());
        }
    }
}
