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
use crate::pricing::{BudgetWindow, EVERY_ENDPOINT, Enforcement, Limit, LimitKey, Limits, SpendBudget};
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
    // AI Gateway's rate limits count calls and tokens; a dollar budget has no field there
    let mut notes: Vec<String> = limits
        .budgets
        .iter()
        .map(|b| {
            format!(
                "the budget of limits.toml line {} has no AI Gateway rate limit field (they count calls and tokens): \
                 left out; enforce it at LiteLLM (--emit litellm) or follow it with tokenledger budget status",
                b.line
            )
        })
        .collect();
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

/// A LiteLLM team's or user's dollar budget: `max_budget` (hard) and `soft_budget` (alert only)
/// per `budget_duration`, from limits.toml's `[[budget]]` blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LitellmBudget {
    pub max_budget: Option<Decimal>,
    pub soft_budget: Option<Decimal>,
    pub budget_duration: Option<&'static str>,
}

/// LiteLLM's `budget_duration` for a budget's period.
fn budget_duration(window: BudgetWindow) -> &'static str {
    match window {
        BudgetWindow::Hour => "1h",
        BudgetWindow::Day => "1d",
        BudgetWindow::Month => "1mo",
    }
}

/// Puts `budget` (limits.toml line `line`) into `into`: LiteLLM has one `budget_duration` per
/// team or user, so a budget with another period is left out and named in the notes; of two
/// with the same, the smaller amount is kept.
fn add_budget(into: &mut LitellmBudget, budget: &SpendBudget, who: &str, notes: &mut Vec<String>) {
    let duration = budget_duration(budget.renewal_period);
    if into.budget_duration.is_some_and(|d| d != duration) {
        notes.push(format!(
            "{who}: the budget of limits.toml line {} renews every {}, and LiteLLM gives a team or user one budget_duration ({}): left out",
            budget.line,
            budget.renewal_period.as_str(),
            into.budget_duration.unwrap_or_default()
        ));
        return;
    }
    into.budget_duration = Some(duration);
    let slot = match budget.enforcement {
        Enforcement::Hard => &mut into.max_budget,
        Enforcement::Soft => &mut into.soft_budget,
    };
    *slot = Some(slot.map_or(budget.amount, |current| current.min(budget.amount)));
}

/// The `[[budget]]`s as LiteLLM teams' and users' budgets; what LiteLLM cannot take goes to the
/// notes.
fn litellm_budgets<'a>(
    limits: &'a Limits,
    seen: &'a Seen,
    teams: &mut BTreeMap<&'a str, Team>,
    users: &mut BTreeMap<&'a str, User>,
    notes: &mut Vec<String>,
) {
    for budget in &limits.budgets {
        let line = budget.line;
        if budget.currency != "USD" {
            notes.push(format!(
                "the budget of limits.toml line {line} is in {}; LiteLLM's budgets are in USD: left out",
                budget.currency
            ));
            continue;
        }
        if let Some(endpoint) = &budget.endpoint {
            notes.push(format!(
                "the budget of limits.toml line {line} counts {endpoint} only: that is LiteLLM's per-model budget (model_max_budget, an Enterprise feature), not written here"
            ));
            continue;
        }
        let named: Vec<&str> = match (&budget.principal, budget.key) {
            (Some(p), _) => vec![p.as_str()],
            (None, LimitKey::UserGroup) => {
                seen.rows.iter().map(|(_, _, g)| g.as_str()).collect::<BTreeSet<_>>().into_iter().collect()
            }
            (None, _) => seen.rows.iter().map(|(_, r, _)| r.as_str()).collect::<BTreeSet<_>>().into_iter().collect(),
        };
        match budget.key {
            LimitKey::UserGroup => {
                for group in named {
                    add_budget(&mut teams.entry(group).or_default().budget, budget, group, notes);
                }
            }
            LimitKey::User if budget.enforcement == Enforcement::Soft => notes.push(format!(
                "the soft budget of limits.toml line {line} is per user; LiteLLM's soft_budget is a team's, key's or project's: left out"
            )),
            LimitKey::User => {
                for user in named {
                    add_budget(&mut users.entry(user).or_default().budget, budget, user, notes);
                }
            }
            LimitKey::ServicePrincipal | LimitKey::Endpoint => notes.push(format!(
                "the service principals' budget of limits.toml line {line} belongs on the service's virtual key in                  LiteLLM (/key/generate: max_budget, budget_duration)"
            )),
        }
    }
}

/// One LiteLLM team: per-model limits, the endpoint's name as the model's.
#[derive(Debug, Clone, Default)]
struct Team {
    model_tpm_limit: BTreeMap<String, u64>,
    model_rpm_limit: BTreeMap<String, u64>,
    budget: LitellmBudget,
}

/// One LiteLLM internal user: limits across models, the smallest of their per-endpoint ones.
#[derive(Debug, Clone, Default)]
struct User {
    tpm_limit: Option<u64>,
    rpm_limit: Option<u64>,
    endpoints: BTreeSet<String>,
    budget: LitellmBudget,
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
    litellm_budgets(limits, seen, &mut teams, &mut users, &mut notes);
    let mut text = String::from(
        "# LiteLLM proxy rate limits, from tokenledger's limits.toml (renewal_period minute: LiteLLM's\n\
         # tpm/rpm are per minute). Each team is a body for /team/new or /team/update, each user\n\
         # one for /user/new or /user/update. LiteLLM limits a team or user across models: a team's\n\
         # per-endpoint limit is model_tpm_limit / model_rpm_limit with the endpoint as the model.\n\
         # Budgets (max_budget, soft_budget) are USD per budget_duration, which LiteLLM counts from\n\
         # the budget's last reset; tokenledger's replay counts calendar UTC hours, days and months.\n",
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

/// A team's or user's `max_budget`, `soft_budget` and `budget_duration`, when it has a budget.
fn budget_lines(text: &mut String, budget: &LitellmBudget) {
    for (field, amount) in [("max_budget", budget.max_budget), ("soft_budget", budget.soft_budget)] {
        if let Some(amount) = amount {
            text.push_str(&format!("    {field}: {}\n", amount.normalize()));
        }
    }
    if let Some(duration) = budget.budget_duration {
        text.push_str(&format!("    budget_duration: {}\n", quoted(duration)));
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
    fn budgets_become_litellm_max_and_soft_budgets_and_databricks_notes() {
        let text = "[[budget]]\nkey = \"user_group\"\nbudget = \"500.00 USD\"\nrenewal_period = \"month\"\n\
            [[budget]]\nkey = \"user_group\"\nprincipal = \"search\"\nbudget = \"300 USD\"\nrenewal_period = \"month\"\n\
            [[budget]]\nkey = \"user_group\"\nprincipal = \"search\"\nbudget = \"250.50 USD\"\nrenewal_period = \"month\"\nenforcement = \"soft\"\n\
            [[budget]]\nkey = \"user\"\nprincipal = \"bob@x\"\nbudget = \"20 USD\"\nrenewal_period = \"day\"\n\
            [[budget]]\nkey = \"user_group\"\nprincipal = \"support\"\nbudget = \"5 USD\"\nrenewal_period = \"day\"\n\
            [[budget]]\nkey = \"user\"\nbudget = \"9 EUR\"\nrenewal_period = \"day\"\n\
            [[budget]]\nkey = \"user\"\nbudget = \"9 USD\"\nrenewal_period = \"day\"\nendpoint = \"chat\"\n";
        let out = litellm(&limits(text), &data());
        // search: the smaller of 500 and 300 a month, and its soft budget; support keeps its
        // month (a day budget would need a second budget_duration)
        let want = "teams:\n  - team_id: \"search\"\n    max_budget: 300\n    soft_budget: 250.5\n    budget_duration: \"1mo\"\n  \
                    - team_id: \"support\"\n    max_budget: 500\n    budget_duration: \"1mo\"\n\
                    users:\n  - user_id: \"bob@x\"\n    max_budget: 20\n    budget_duration: \"1d\"\n";
        assert!(out.text.ends_with(want), "{}", out.text);
        let notes = out.notes.join("\n");
        for line in ["line 21", "line 26", "line 30"] {
            assert!(notes.contains(line), "{line} in {notes}");
        }
        assert_eq!(out.notes.len(), 3, "{notes}");
        // Databricks has no dollar budgets: every one is a note
        let out = databricks(&limits(text), &data());
        assert_eq!(out.notes.len(), 7, "{:?}", out.notes);
    }

    #[test]
    fn names_are_quoted() {
        let text = "[[endpoint]]\nname = \"chat\"\n[[endpoint.limit]]\nkey = \"user\"\nprincipal = \"a\\\"b: #c\"\ncalls = 1\nrenewal_period = \"minute\"\n";
        let out = litellm(&limits(text), &Seen::default());
        assert!(out.text.contains("  - user_id: \"a\\\"b: #c\"\n"), "{}", out.text);
    }
}
