//! The static catalog (ported from gen_inference.py; prices are illustrative): served entities,
//! endpoints, price changes, groups, the diurnal curve and the vocabularies names and payloads are
//! drawn from.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum EntityType {
    PayPerToken,
    Provisioned,
    External,
}

impl EntityType {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            EntityType::PayPerToken => "FOUNDATION_MODEL_PAY_PER_TOKEN",
            EntityType::Provisioned => "PROVISIONED_THROUGHPUT",
            EntityType::External => "EXTERNAL_MODEL",
        }
    }
}

/// Drives token counts and latency: embeddings have no output, reasoning models long slow outputs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Emb,
    Small,
    Large,
    Reason,
}

pub(super) struct Entity {
    pub(super) name: &'static str,
    pub(super) etype: EntityType,
    pub(super) provider: &'static str,
    /// USD per 1M tokens, kept as decimal strings so the CSV carries them exactly.
    pub(super) input: &'static str,
    pub(super) output: &'static str,
    pub(super) cached: &'static str,
    pub(super) kind: Kind,
}

const fn ent(
    name: &'static str,
    etype: EntityType,
    provider: &'static str,
    input: &'static str,
    output: &'static str,
    cached: &'static str,
    kind: Kind,
) -> Entity {
    Entity { name, etype, provider, input, output, cached, kind }
}

use super::limits::SERVICE_GROUP;
use EntityType::{External as EXT, PayPerToken as PPT, Provisioned as PT};
use Kind::{Emb, Large, Reason, Small};

#[rustfmt::skip]
pub(super) const ENTITIES: [Entity; 40] = [
    ent("gpt-4o",                                  EXT, "openai",         "2.50",  "10.00", "1.25",   Large),
    ent("gpt-4o-mini",                             EXT, "openai",         "0.15",  "0.60",  "0.075",  Small),
    ent("gpt-4.1",                                 EXT, "openai",         "2.00",  "8.00",  "0.50",   Large),
    ent("gpt-4.1-mini",                            EXT, "openai",         "0.40",  "1.60",  "0.10",   Small),
    ent("gpt-4.1-nano",                            EXT, "openai",         "0.10",  "0.40",  "0.025",  Small),
    ent("o3-mini",                                 EXT, "openai",         "1.10",  "4.40",  "0.55",   Reason),
    ent("o1",                                      EXT, "openai",         "15.00", "60.00", "7.50",   Reason),
    ent("text-embedding-3-large",                  EXT, "openai",         "0.13",  "0",     "0.13",   Emb),
    ent("text-embedding-3-small",                  EXT, "openai",         "0.02",  "0",     "0.02",   Emb),
    ent("claude-3-5-sonnet",                       EXT, "anthropic",      "3.00",  "15.00", "0.30",   Large),
    ent("claude-3-5-haiku",                        EXT, "anthropic",      "0.80",  "4.00",  "0.08",   Small),
    ent("claude-3-7-sonnet",                       EXT, "anthropic",      "3.00",  "15.00", "0.30",   Large),
    ent("claude-3-opus",                           EXT, "anthropic",      "15.00", "75.00", "1.50",   Large),
    ent("gemini-1-5-pro",                          EXT, "google",         "1.25",  "5.00",  "0.3125", Large),
    ent("gemini-1-5-flash",                        EXT, "google",         "0.075", "0.30",  "0.019",  Small),
    ent("gemini-2-0-flash",                        EXT, "google",         "0.10",  "0.40",  "0.025",  Small),
    ent("command-r-plus",                          EXT, "cohere",         "2.50",  "10.00", "2.50",   Large),
    ent("command-r",                               EXT, "cohere",         "0.15",  "0.60",  "0.15",   Small),
    ent("mistral-large",                           EXT, "mistral",        "2.00",  "6.00",  "2.00",   Large),
    ent("titan-embed-text-v2",                     EXT, "amazon-bedrock", "0.02",  "0",     "0.02",   Emb),
    ent("databricks-meta-llama-3-3-70b-instruct",  PPT, "databricks",     "0.50",  "1.50",  "0.50",   Large),
    ent("databricks-meta-llama-3-1-405b-instruct", PPT, "databricks",     "5.00",  "15.00", "5.00",   Large),
    ent("databricks-meta-llama-3-1-8b-instruct",   PPT, "databricks",     "0.15",  "0.45",  "0.15",   Small),
    ent("databricks-claude-3-7-sonnet",            PPT, "databricks",     "3.00",  "15.00", "0.30",   Large),
    ent("databricks-dbrx-instruct",                PPT, "databricks",     "0.75",  "2.25",  "0.75",   Large),
    ent("databricks-mixtral-8x7b-instruct",        PPT, "databricks",     "0.50",  "1.00",  "0.50",   Small),
    ent("databricks-gte-large-en",                 PPT, "databricks",     "0.10",  "0",     "0.10",   Emb),
    ent("databricks-bge-large-en",                 PPT, "databricks",     "0.10",  "0",     "0.10",   Emb),
    ent("databricks-llama-4-maverick",             PPT, "databricks",     "0.50",  "1.50",  "0.50",   Large),
    ent("databricks-gemma-3-12b",                  PPT, "databricks",     "0.15",  "0.50",  "0.15",   Small),
    ent("llama-3-70b-pt",                          PT,  "databricks",     "0.40",  "1.20",  "0.40",   Large),
    ent("llama-3-1-8b-pt",                         PT,  "databricks",     "0.08",  "0.24",  "0.08",   Small),
    ent("mixtral-8x7b-pt",                         PT,  "databricks",     "0.30",  "0.60",  "0.30",   Small),
    ent("llama-3-1-405b-pt",                       PT,  "databricks",     "5.00",  "15.00", "5.00",   Large),
    ent("custom-finetune-llama-3-8b-pt",           PT,  "databricks",     "0.10",  "0.30",  "0.10",   Small),
    ent("bge-large-en-pt",                         PT,  "databricks",     "0.02",  "0",     "0.02",   Emb),
    ent("qwen-2-5-72b-pt",                         PT,  "databricks",     "0.40",  "1.20",  "0.40",   Large),
    ent("mistral-7b-pt",                           PT,  "databricks",     "0.05",  "0.15",  "0.05",   Small),
    ent("gte-large-en-pt",                         PT,  "databricks",     "0.02",  "0",     "0.02",   Emb),
    ent("llama-3-3-70b-pt",                        PT,  "databricks",     "0.40",  "1.20",  "0.40",   Large),
];

/// Anthropic models bill cache writes; so does Claude served as a Databricks foundation model.
pub(super) fn bills_cache_writes(e: &Entity) -> bool {
    e.provider == "anthropic" || e.name.starts_with("databricks-claude")
}

pub(super) struct Endpoint {
    pub(super) name: &'static str,
    /// Relative share of traffic.
    pub(super) weight: u32,
    /// Median prompt in tokens (embedding endpoints ignore it): a chat turn carries its history,
    /// a RAG call its retrieved passages, a coding agent its files, so the workload, not the
    /// model, sets the size.
    pub(super) prompt: u32,
    /// Served entities and their traffic split.
    pub(super) models: &'static [(&'static str, u32)],
    /// Entity that serves a small share of the 200s when the primary fails over.
    pub(super) fallback: Option<&'static str>,
}

const fn ep(
    name: &'static str,
    weight: u32,
    prompt: u32,
    models: &'static [(&'static str, u32)],
    fallback: Option<&'static str>,
) -> Endpoint {
    Endpoint { name, weight, prompt, models, fallback }
}

// Provisioned-throughput entities are served only on the endpoints of their pools (`POOLS`):
// a provisioned entity without a pool would be traffic nobody pays the hours of.
#[rustfmt::skip]
pub(super) const ENDPOINTS: [Endpoint; 20] = [
    ep("ai-gateway-chat-prod", 20, 4000, &[("gpt-4o", 6), ("gpt-4o-mini", 4)], Some("claude-3-5-sonnet")),
    ep("ai-gateway-chat-dev", 5, 1500, &[("gpt-4o-mini", 5), ("gpt-4.1-nano", 3), ("gpt-4.1-mini", 2)], None),
    ep("openai-reasoning", 3, 6000, &[("o3-mini", 8), ("o1", 2)], Some("gpt-4.1")),
    ep("anthropic-prod", 12, 8000,
       &[("claude-3-5-sonnet", 5), ("claude-3-7-sonnet", 3), ("claude-3-5-haiku", 2)],
       Some("databricks-claude-3-7-sonnet")),
    ep("anthropic-research", 2, 30_000, &[("claude-3-opus", 3), ("claude-3-7-sonnet", 7)], None),
    ep("gemini-prod", 5, 10_000, &[("gemini-1-5-pro", 3), ("gemini-1-5-flash", 4), ("gemini-2-0-flash", 3)], None),
    ep("embeddings-prod", 15, 0, &[("text-embedding-3-large", 3), ("text-embedding-3-small", 7)],
       Some("titan-embed-text-v2")),
    ep("embeddings-internal", 8, 0, &[("databricks-gte-large-en", 5), ("databricks-bge-large-en", 5)], None),
    ep("rag-assistant", 8, 12_000, &[("databricks-meta-llama-3-3-70b-instruct", 3), ("llama-3-3-70b-pt", 7)],
       Some("gpt-4o-mini")),
    ep("llama-batch", 4, 3000,
       &[("databricks-meta-llama-3-3-70b-instruct", 5), ("databricks-meta-llama-3-1-8b-instruct", 5)], None),
    ep("code-assistant", 10, 50_000, &[("claude-3-7-sonnet", 5), ("gpt-4.1", 5)], Some("gpt-4o")),
    ep("fm-api-llama", 3, 3000,
       &[("databricks-meta-llama-3-1-405b-instruct", 2), ("databricks-meta-llama-3-1-8b-instruct", 5),
         ("databricks-llama-4-maverick", 3)],
       None),
    ep("fm-api-misc", 2, 3000,
       &[("databricks-dbrx-instruct", 2), ("databricks-mixtral-8x7b-instruct", 3),
         ("databricks-gemma-3-12b", 3), ("databricks-claude-3-7-sonnet", 2)],
       None),
    ep("cohere-search", 2, 8000, &[("command-r-plus", 4), ("command-r", 6)], None),
    ep("mistral-eu", 1, 3000, &[("mistral-large", 1)], None),
    ep("support-bot", 3, 2500, &[("databricks-meta-llama-3-1-8b-instruct", 1)], Some("gpt-4o-mini")),
    ep("analytics-sql-agent", 2, 15_000,
       &[("gpt-4.1-mini", 4), ("claude-3-5-haiku", 3), ("databricks-llama-4-maverick", 3)], None),
    // the nightly extraction job's alone (`BATCH_JOB`): no interactive caller picks it
    ep("doc-extraction-batch", 0, 60_000, &[("llama-3-1-405b-pt", 1)], None),
    ep("bedrock-titan", 1, 0, &[("titan-embed-text-v2", 1)], None),
    ep("sandbox-playground", 1, 2000,
       &[("gpt-4o", 2), ("claude-3-5-sonnet", 2), ("gemini-2-0-flash", 2),
         ("databricks-meta-llama-3-1-8b-instruct", 2), ("databricks-meta-llama-3-3-70b-instruct", 2)],
       None),
];

/// A provisioned-throughput pool of capacity.csv: one entity on one endpoint, at a list rate a
/// platform team pays for such a pool, its idle hours paid by `owner`.
pub(super) struct PoolSpec {
    pub(super) name: &'static str,
    pub(super) endpoint: &'static str,
    pub(super) entity: &'static str,
    pub(super) owner: &'static str,
    /// USD an hour, as capacity.csv writes it.
    pub(super) cost_per_hour: &'static str,
}

// The RAG assistant's pool serves people at work and idles at night: its traffic is worth a few
// cents an hour at pay-per-token prices, so the break-even report finds it dearer. The nightly
// extraction job sends few requests but long documents to a 405B model (5 USD per 1M input
// tokens): about 200 a night is worth more than its pool's rate over every hour of the month.
#[rustfmt::skip]
pub(super) const POOLS: [PoolSpec; 2] = [
    PoolSpec { name: "pool-rag-llama-70b", endpoint: "rag-assistant", entity: "llama-3-3-70b-pt",
               owner: "search", cost_per_hour: "1.50" },
    PoolSpec { name: "pool-doc-extraction-405b", endpoint: "doc-extraction-batch", entity: "llama-3-1-405b-pt",
               owner: SERVICE_GROUP, cost_per_hour: "2.00" },
];

/// The nightly job: its requests, a share of all rows, run in `hours` (UTC) every night, as the
/// first service principal (of the batch-jobs group), on `endpoint`; each a document of tens of
/// thousands of tokens, within the model's context, answered with extracted fields.
pub(super) struct BatchJob {
    pub(super) endpoint: &'static str,
    pub(super) hours: std::ops::Range<usize>,
    /// Share of all unique requests.
    pub(super) share: f64,
    /// Median input tokens and the spread (σ of the lognormal) around it.
    pub(super) input: (f64, f64),
    /// The model's context less the longest answer: no prompt is longer.
    pub(super) max_input: i64,
    /// Median output tokens and its spread.
    pub(super) output: (f64, f64),
    pub(super) max_output: i64,
}

pub(super) const BATCH_JOB: BatchJob = BatchJob {
    endpoint: "doc-extraction-batch",
    hours: 1..5,
    share: 0.36,
    input: (70_000.0, 0.3),
    // Llama 3.1 405B reads 128k tokens
    max_input: 120_000,
    output: (2_500.0, 0.4),
    max_output: 8_000,
};

/// Working hours (UTC, Monday to Friday): most traffic of the interactive pool's endpoint falls in them.
pub(super) const BUSINESS_HOURS: std::ops::Range<usize> = 8..18;

/// (entity, fraction of the range at which the new price starts, input, cached, output $/1M).
#[rustfmt::skip]
pub(super) const PRICE_CHANGES: [(&str, f64, &str, &str, &str); 4] = [
    ("gpt-4o",                                 0.5,  "2.00", "1.00", "8.00"),
    ("claude-3-5-sonnet",                      0.66, "2.70", "0.27", "13.50"),
    ("databricks-meta-llama-3-3-70b-instruct", 0.33, "0.45", "0.45", "1.35"),
    ("llama-3-70b-pt",                         0.75, "0.35", "0.35", "1.05"),
];

#[rustfmt::skip]
pub(super) const GROUPS: [&str; 30] = [
    "data-science", "ml-platform", "search", "support-eng", "marketing-analytics", "finance-bi",
    "legal-ops", "sales-eng", "security", "hr-analytics", "growth", "payments", "risk", "mobile",
    "web-frontend", "infra", "data-eng", "research", "product-ops", "customer-success",
    "trust-safety", "ads", "recommendations", "devex", "it-ops", "procurement", "bizops",
    "localization", "design", "qa",
];

/// Relative traffic per UTC hour of day.
pub(super) const DIURNAL: [f64; 24] = [
    0.35, 0.3, 0.25, 0.22, 0.22, 0.25, 0.35, 0.5, 0.7, 0.85, 0.95, 1.0, 1.0, 1.05, 1.15, 1.25, 1.3, 1.25, 1.15, 1.0,
    0.85, 0.7, 0.55, 0.45,
];

pub(super) const FIRST_NAMES: &str = "james mary robert patricia john jennifer michael linda david elizabeth william \
    barbara richard susan joseph jessica thomas sarah chris karen daniel lisa matthew nancy anthony betty \
    mark sandra paul ashley steven kim andrew emily joshua donna kevin michelle brian carol george amanda \
    wei li priya arjun yuki hana omar fatima lars ingrid jose lucia chen mei ana pedro";
pub(super) const LAST_NAMES: &str = "smith johnson williams brown jones garcia miller davis rodriguez martinez \
    hernandez lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white \
    harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill \
    flores green adams nelson baker hall rivera campbell mitchell carter roberts patel kumar zhang wang \
    tanaka sato muller schmidt rossi silva";
/// Payload vocabulary, already escaped for the *outer* JSON string: the payloads are JSON documents
/// stored as strings, so the last word (`\n` inside the inner document) appears as `\\n` in the line.
/// No word contains `"`, so whole words can be copied into a line without further escaping.
pub(super) const WORDS: &str = "the a of to and in is for on with that this model token cost latency request \
    response please summarize explain why how table query customer revenue forecast churn pipeline \
    python rust sql spark cluster notebook error retry budget quarter report draft email translate \
    résumé naïve café façade über straße 東京 データ 모델 ok yes no 42 3.14 2025 v1 v2 json-like item-7 \
    foo_bar \\\\n";
pub(super) const PROJECT_KINDS: [&str; 7] = ["rag", "chatbot", "etl", "eval", "agent", "search", "summ"];
pub(super) const PROJECTS_PER_KIND: usize = 15;
