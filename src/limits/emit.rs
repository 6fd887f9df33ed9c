//! Limits written as a gateway's own configuration (`--emit`).
//!
//! - **Databricks**: per serving endpoint, the body of the AI Gateway's
//!   `PUT /api/2.0/serving-endpoints/{name}/ai-gateway`, of which this fills `rate_limits`:
//!   `{"calls", "tokens", "key", "principal", "renewal_period"}` (the `AiGatewayRateLimit` of
//!   the REST API and SDKs). A `"*"` block becomes each endpoint of the range's data; a
//!   `user_group` limit without a principal (each group sharing its own window) becomes one
//!   limit per group seen on the endpoint, since the gateway's group limits name their group.
//! - **LiteLLM**: YAML of the proxy's teams (`/team/new`, `/team/update`) and internal users
//!   (`/user/new`, `/user/update`). LiteLLM limits a team or user across models, not per
//!   endpoint: a team's per-endpoint limit is its `model_tpm_limit` / `model_rpm_limit` with
//!   the endpoint's name as the model's; internal users have only `tpm_limit` / `rpm_limit`
//!   (across models), so the smallest of a user's per-endpoint limits is kept and says so.
//!
//! What a gateway cannot express is left out and named in the notes (and, in YAML, in
//! comments), never dropped silently.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde_json::{Value, json};

use chrono::NaiveDate;

use super::demand::{self, Seen};
use super::suggest::quoted;
use crate::error::Result;
use crate::pricing::{EVERY_ENDPOINT, Limit, LimitKey, Limits};
use crate::warehouse::Warehouse;

/// The gateways whose configuration limits can be written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Gateway {
    /// Databricks AI Gateway: `rate_limits` JSON per serving endpoint.
    Databricks,
    /// LiteLLM proxy: teams' and users' `tpm_limit` / `rpm_limit` YAML.
    Litellm,
}

/// `limits` as `gateway`'s configuration; the requests of `from ..= to` name the endpoints of a
/// `"*"` block and the groups and users of limits without a principal.
pub async fn emit(
    warehouse: &Warehouse,
    limits: &Limits,
    gateway: Gateway,
    from: NaiveDate,
    to: NaiveDate,
    memory_limit: usize,
) -> Result<Emitted> {
    let ctx = demand::session(warehouse, memory_limit).await?;
    let seen = demand::seen(&ctx, from, to).await?;
    Ok(match gateway {
        Gateway::Databricks => databricks(limits, &seen),
        Gateway::Litellm => litellm(limits, &seen),
    })
}

/// Rate limits Databricks takes per endpoint, and group-specific ones among them.
const DATABRICKS_MAX_LIMITS: usize = 20;
const DATABRICKS_MAX_GROUP_LIMITS: usize = 5;

/// A gateway's configuration of some limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub text: String,
    /// What did not map one to one, for the user to read.
    pub notes: Vec<String>,
}

/// The endpoints a gateway configuration covers: those limits.toml names, and with a `"*"`
/// block every endpoint of the data.
fn endpoints<'a>(limits: &'a Limits, seen: &'a Seen, notes: &mut Vec<String>) -> BTreeSet<&'a str> {
    let mut names: BTreeSet<&str> =
        limits.limits.iter().map(|l| l.endpoint.as_str()).filter(|e| *e != EVERY_ENDPOINT).collect();
    if limits.limits.iter().any(|l| l.endpoint == EVERY_ENDPOINT) {
        let data = seen.endpoints();
        if data.is_empty() {
            notes.push(
                "the limits of the \"*\" block apply to every endpoint, and the range has no requests to name them: \
                 widen --from/--to, or name the endpoints in limits.toml"
                    .into(),
            );
        }
        names.extend(data);
    }
    names
}

/// `limit` on `endpoint` as the principals it stands for: itself, or one per group seen on the
/// endpoint for a group limit that names none (`None`: no principal).
fn principals<'a>(limit: &'a Limit, endpoint: &'a str, seen: &'a Seen) -> Vec<Option<&'a str>> {
    match (limit.key, limit.principal.as_deref()) {
        (LimitKey::UserGroup, None) => seen.groups_on(endpoint).into_iter().map(Some).collect(),
        (_, principal) => vec![principal],
    }
}

/// The Databricks AI Gateway `rate_limits`, per endpoint, as pretty JSON.
pub fn databricks(limits: &Limits, seen: &Seen) -> Emitted {
    let mut notes = Vec::new();
    let mut out = serde_json::Map::new();
    for endpoint in endpoints(limits, seen, &mut notes) {
        let mut rate_limits = Vec::new();
        for (_, limit) in limits.on_endpoint(endpoint) {
            if limit.key == LimitKey::ServicePrincipal && limit.principal.is_none() {
                notes.push(format!(
                    "{endpoint}: the service principals' limit of limits.toml line {} has no Databricks equivalent \
                     without a principal; add one limit per service principal (its application ID)",
                    limit.line
                ));
                continue;
            }
            let expanded = principals(limit, endpoint, seen);
            if limit.key == LimitKey::UserGroup && expanded.is_empty() {
                notes.push(format!(
                    "{endpoint}: the per-group limit of limits.toml line {} names no group and the range has no \
                     groups on the endpoint: left out",
                    limit.line
                ));
            }
            for principal in expanded {
                let mut entry = serde_json::Map::new();
                if let Some(calls) = limit.calls {
                    entry.insert("calls".into(), json!(calls));
                }
                if let Some(tokens) = limit.tokens {
                    entry.insert("tokens".into(), json!(tokens));
                }
                entry.insert("key".into(), json!(limit.key.as_str()));
                if let Some(principal) = principal {
                    entry.insert("principal".into(), json!(principal));
                }
                entry.insert("renewal_period".into(), json!("minute"));
                rate_limits.push(Value::Object(entry));
            }
        }
        let groups = rate_limits.iter().filter(|l| l["key"] == "user_group").count();
        if groups > DATABRICKS_MAX_GROUP_LIMITS {
            notes.push(format!(
                "{endpoint}: {groups} group limits; Databricks takes at most {DATABRICKS_MAX_GROUP_LIMITS} per endpoint"
            ));
        }
        if rate_limits.len() > DATABRICKS_MAX_LIMITS {
            notes.push(format!(
                "{endpoint}: {} rate limits; Databricks takes at most {DATABRICKS_MAX_LIMITS} per endpoint",
                rate_limits.len()
            ));
        }
        out.insert(endpoint.to_string(), json!({ "rate_limits": rate_limits }));
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default();
    text.push('\n');
    Emitted { text, notes }
}

/// A LiteLLM dollar budget: `max_budget` per `budget_duration` (e.g. "30d"). limits.toml has no
/// budgets yet; a team or user's budget goes here when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LitellmBudget {
    pub max_budget: Decimal,
    pub budget_duration: String,
}

/// One LiteLLM team: per-model limits, the endpoint's name as the model's.
#[derive(Debug, Clone, Default)]
struct Team {
    model_tpm_limit: BTreeMap<String, u64>,
    model_rpm_limit: BTreeMap<String, u64>,
    budget: Option<LitellmBudget>,
}

/// One LiteLLM internal user: limits across models, the smallest of their per-endpoint ones.
#[derive(Debug, Clone, Default)]
struct User {
    tpm_limit: Option<u64>,
    rpm_limit: Option<u64>,
    endpoints: BTreeSet<String>,
    budget: Option<LitellmBudget>,
}

/// The smaller of a limit already set and another.
fn tighter(current: &mut Option<u64>, new: Option<u64>) {
    if let Some(new) = new {
        *current = Some(current.map_or(new, |c| c.min(new)));
    }
}

/// The LiteLLM proxy's teams and internal users, as YAML.
pub fn litellm(limits: &Limits, seen: &Seen) -> Emitted {
    let mut notes = Vec::new();
    let mut teams: BTreeMap<&str, Team> = BTreeMap::new();
    let mut users: BTreeMap<&str, User> = BTreeMap::new();
    for endpoint in endpoints(limits, seen, &mut notes) {
        for (_, limit) in limits.on_endpoint(endpoint) {
            match limit.key {
                LimitKey::Endpoint => notes.push(format!(
                    "{endpoint}: the whole-endpoint limit of limits.toml line {} is the model's deployment limit in \
                     LiteLLM (model_list: litellm_params rpm / tpm), not a team's or user's",
                    limit.line
                )),
                LimitKey::ServicePrincipal => notes.push(format!(
                    "{endpoint}: the service principal limit of limits.toml line {} belongs on the service's virtual \
                     key in LiteLLM (/key/generate: model_tpm_limit / model_rpm_limit)",
                    limit.line
                )),
                LimitKey::UserGroup => {
                    for group in principals(limit, endpoint, seen).into_iter().flatten() {
                        let team = teams.entry(group).or_default();
                        let set = |to: &mut BTreeMap<String, u64>, value: Option<u64>| {
                            let mut current = to.get(endpoint).copied();
                            tighter(&mut current, value);
                            if let Some(v) = current {
                                to.insert(endpoint.to_string(), v);
                            }
                        };
                        set(&mut team.model_tpm_limit, limit.tokens);
                        set(&mut team.model_rpm_limit, limit.calls);
                    }
                }
                LimitKey::User => {
                    let names: Vec<&str> = match &limit.principal {
                        Some(p) => vec![p.as_str()],
                        None => seen.users_on(endpoint).into_iter().collect(),
                    };
                    for name in names {
                        let user = users.entry(name).or_default();
                        tighter(&mut user.tpm_limit, limit.tokens);
                        tighter(&mut user.rpm_limit, limit.calls);
                        user.endpoints.insert(endpoint.to_string());
                    }
                }
            }
        }
    }
    let mut text = String::from(
        "# LiteLLM proxy rate limits, from tokenledger's limits.toml (renewal_period minute: LiteLLM's\n\
         # tpm/rpm are per minute). Each team is a body for /team/new or /team/update, each user\n\
         # one for /user/new or /user/update. LiteLLM limits a team or user across models: a team's\n\
         # per-endpoint limit is model_tpm_limit / model_rpm_limit with the endpoint as the model.\n",
    );
    for note in &notes {
        text.push_str(&format!("# note: {note}\n"));
    }
    text.push_str(if teams.is_empty() { "teams: []\n" } else { "teams:\n" });
    for (name, team) in &teams {
        text.push_str(&format!("  - team_id: {}\n", quoted(name)));
        for (field, per_model) in
            [("model_tpm_limit", &team.model_tpm_limit), ("model_rpm_limit", &team.model_rpm_limit)]
        {
            if per_model.is_empty() {
                continue;
            }
            text.push_str(&format!("    {field}:\n"));
            for (model, value) in per_model {
                text.push_str(&format!("      {}: {value}\n", quoted(model)));
            }
        }
        budget_lines(&mut text, &team.budget);
    }
    text.push_str(if users.is_empty() { "users: []\n" } else { "users:\n" });
    for (name, user) in &users {
        text.push_str(&format!("  - user_id: {}\n", quoted(name)));
        if user.endpoints.len() > 1 {
            let list = user.endpoints.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
            text.push_str(&format!(
                "    # limited per endpoint in limits.toml ({list}); LiteLLM counts these across all models: the smallest is kept\n"
            ));
        }
        for (field, value) in [("tpm_limit", user.tpm_limit), ("rpm_limit", user.rpm_limit)] {
            if let Some(value) = value {
                text.push_str(&format!("    {field}: {value}\n"));
            }
        }
        budget_lines(&mut text, &user.budget);
    }
    Emitted { text, notes }
}

/// A team's or user's `max_budget` and `budget_duration`, when it has a budget.
fn budget_lines(text: &mut String, budget: &Option<LitellmBudget>) {
    if let Some(budget) = budget {
        text.push_str(&format!("    max_budget: {}\n", budget.max_budget.normalize()));
        text.push_str(&format!("    budget_duration: {}\n", quoted(&budget.budget_duration)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(text: &str) -> Limits {
        Limits::from_toml_str(text, "limits.toml").unwrap()
    }

    fn seen(rows: &[(&str, &str, &str)]) -> Seen {
        Seen { rows: rows.iter().map(|(e, r, g)| (e.to_string(), r.to_string(), g.to_string())).collect() }
    }

    const LIMITS: &str = "[[endpoint]]\nname = \"*\"\n\
        [[endpoint.limit]]\nkey = \"user_group\"\ntokens = 5000\nrenewal_period = \"minute\"\n\
        [[endpoint]]\nname = \"chat\"\n\
        [[endpoint.limit]]\nkey = \"user\"\nprincipal = \"ana@x\"\ncalls = 5\ntokens = 100\nrenewal_period = \"minute\"\n\
        [[endpoint.limit]]\ncalls = 1000\nrenewal_period = \"minute\"\n\
        [[endpoint.limit]]\nkey = \"service_principal\"\ncalls = 2\nrenewal_period = \"minute\"\n";

    fn data() -> Seen {
        seen(&[("chat", "ana@x", "search"), ("chat", "bob@x", "support"), ("rag", "ana@x", "search")])
    }

    #[test]
    fn databricks_rate_limits_per_endpoint_with_star_and_groups_expanded() {
        let out = databricks(&limits(LIMITS), &data());
        let json: Value = serde_json::from_str(&out.text).unwrap();
        let chat = json["chat"]["rate_limits"].as_array().unwrap();
        assert_eq!(
            chat,
            &vec![
                json!({"key": "user_group", "principal": "search", "tokens": 5000, "renewal_period": "minute"}),
                json!({"key": "user_group", "principal": "support", "tokens": 5000, "renewal_period": "minute"}),
                json!({"key": "user", "principal": "ana@x", "calls": 5, "tokens": 100, "renewal_period": "minute"}),
                json!({"key": "endpoint", "calls": 1000, "renewal_period": "minute"}),
            ]
        );
        assert_eq!(
            json["rag"],
            json!({"rate_limits": [{"key": "user_group", "principal": "search", "tokens": 5000, "renewal_period": "minute"}]})
        );
        assert_eq!(json.as_object().unwrap().len(), 2);
        assert_eq!(out.notes.len(), 1, "{:?}", out.notes);
        assert!(out.notes[0].contains("line 18") && out.notes[0].contains("application ID"), "{:?}", out.notes);
    }

    #[test]
    fn litellm_teams_get_per_model_limits_and_users_the_smallest() {
        let text = "[[endpoint]]\nname = \"*\"\n\
            [[endpoint.limit]]\nkey = \"user_group\"\ntokens = 5000\nrenewal_period = \"minute\"\n\
            [[endpoint.limit]]\nkey = \"user\"\ncalls = 9\nrenewal_period = \"minute\"\n\
            [[endpoint]]\nname = \"chat\"\n\
            [[endpoint.limit]]\nkey = \"user\"\nprincipal = \"ana@x\"\ncalls = 5\nrenewal_period = \"minute\"\n";
        let out = litellm(&limits(text), &data());
        let yaml = out.text;
        let expected = "teams:\n  - team_id: \"search\"\n    model_tpm_limit:\n      \"chat\": 5000\n      \"rag\": 5000\n  \
                        - team_id: \"support\"\n    model_tpm_limit:\n      \"chat\": 5000\n\
                        users:\n  - user_id: \"ana@x\"\n    # limited per endpoint in limits.toml (chat, rag); LiteLLM counts these across all models: the smallest is kept\n    \
                        rpm_limit: 5\n  - user_id: \"bob@x\"\n    rpm_limit: 9\n";
        assert!(yaml.ends_with(expected), "{yaml}");
        assert!(out.notes.is_empty(), "{:?}", out.notes);
        // what LiteLLM has no team or user field for is a note, in the YAML too
        let out = litellm(&limits(LIMITS), &data());
        assert_eq!(out.notes.len(), 2, "{:?}", out.notes);
        assert!(out.text.contains("# note: chat: the whole-endpoint limit of limits.toml line 15"), "{}", out.text);
        assert!(
            out.text.contains("users:\n  - user_id: \"ana@x\"\n    tpm_limit: 100\n    rpm_limit: 5\n"),
            "{}",
            out.text
        );
    }

    #[test]
    fn names_are_quoted() {
        let text = "[[endpoint]]\nname = \"chat\"\n[[endpoint.limit]]\nkey = \"user\"\nprincipal = \"a\\\"b: #c\"\ncalls = 1\nrenewal_period = \"minute\"\n";
        let out = litellm(&limits(text), &Seen::default());
        assert!(out.text.contains("  - user_id: \"a\\\"b: #c\"\n"), "{}", out.text);
    }
}
