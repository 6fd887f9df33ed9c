//! `config/limits.toml`: proposed gateway rate limits, for `tokenledger simulate limits` to
//! replay the history under. Written in the vocabulary of Databricks AI Gateway's
//! `rate_limits` (`key`, `principal`, `calls`, `tokens`, `renewal_period`), one `[[endpoint]]`
//! block per serving endpoint (`name = "*"`: every endpoint) with its `[[endpoint.limit]]`s.
//!
//! Dollar budgets are `[[budget]]` blocks: a user's, group's or service principal's spend per
//! hour, day or month, `hard` (rejected once spent: LiteLLM's `max_budget`) or `soft` (an alert
//! only: LiteLLM's `soft_budget`), counted from the priced requests' cost, so cached input
//! counts at its cached price (a token quota cannot tell the two apart).
//!
//! The file is strict: an unknown key, a value of the wrong type, a `key` or `renewal_period`
//! the gateway does not have, or a limit with neither `calls` nor `tokens` is an error naming
//! its line, so a typo cannot leave a proposed limit out of the simulation.

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, ConfigFile, Problems};

/// The `name` of an `[[endpoint]]` block whose limits apply on every endpoint (each endpoint
/// counting its own traffic), besides the endpoint's own block.
pub const EVERY_ENDPOINT: &str = "*";

/// Whose traffic a limit counts (the gateway's `key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// A requester: with a principal, that user; without, each user separately (the gateway's
    /// default per-user limit).
    User,
    /// A group of `principals.csv` (the request's group): its members share one window.
    UserGroup,
    /// A requester whose requests say `requester_type = service_principal`.
    ServicePrincipal,
    /// The endpoint's whole traffic.
    Endpoint,
}

impl LimitKey {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKey::User => "user",
            LimitKey::UserGroup => "user_group",
            LimitKey::ServicePrincipal => "service_principal",
            LimitKey::Endpoint => "endpoint",
        }
    }
}

/// How long a limit's window lasts before its counts start again (the gateway's
/// `renewal_period`). The gateway supports only the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RenewalPeriod {
    Minute,
}

/// How long a dollar budget's amount lasts: calendar UTC hours, days or months (LiteLLM's
/// `budget_duration` `1h`, `1d`, `1mo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetWindow {
    Hour,
    Day,
    Month,
}

impl BudgetWindow {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetWindow::Hour => "hour",
            BudgetWindow::Day => "day",
            BudgetWindow::Month => "month",
        }
    }
}

/// What happens when a dollar budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Requests are rejected until the budget renews (LiteLLM's `max_budget`).
    Hard,
    /// Requests go on; the crossing is reported (LiteLLM's `soft_budget`).
    Soft,
}

/// One proposed dollar budget (`[[budget]]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpendBudget {
    /// `user`, `user_group` or `service_principal` (not `endpoint`).
    pub key: LimitKey,
    /// One user, group or service principal; `None`: each one separately.
    pub principal: Option<String>,
    pub amount: rust_decimal::Decimal,
    pub currency: String,
    pub renewal_period: BudgetWindow,
    pub enforcement: Enforcement,
    /// Only this endpoint's spend counts; `None`: every endpoint's.
    pub endpoint: Option<String>,
    /// Physical line of its `[[budget]]` header.
    pub line: usize,
}

/// One proposed limit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Limit {
    /// The endpoint it is on, or [`EVERY_ENDPOINT`].
    pub endpoint: String,
    pub key: LimitKey,
    /// One user, group or service principal; `None`: each one separately (never for `endpoint`).
    pub principal: Option<String>,
    /// Requests per window.
    pub calls: Option<u64>,
    /// Tokens (input, cache reads and writes, output) per window.
    pub tokens: Option<u64>,
    pub renewal_period: RenewalPeriod,
    /// Physical line of its `[[endpoint.limit]]` header.
    pub line: usize,
}

/// Every limit of the file, in file order.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub limits: Vec<Limit>,
    pub budgets: Vec<SpendBudget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    endpoint: Vec<Spanned<EndpointToml>>,
    #[serde(default)]
    budget: Vec<Spanned<BudgetToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetToml {
    key: Spanned<String>,
    principal: Option<Spanned<String>>,
    /// "500.00 USD": a string, so the amount is exact decimal text, never a float.
    budget: Spanned<String>,
    renewal_period: Spanned<String>,
    enforcement: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointToml {
    name: Spanned<String>,
    #[serde(default)]
    limit: Vec<Spanned<LimitToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitToml {
    /// The gateway's default when absent is `endpoint`.
    key: Option<Spanned<String>>,
    principal: Option<Spanned<String>>,
    calls: Option<u64>,
    tokens: Option<u64>,
    renewal_period: Spanned<String>,
}

/// The physical line (1-based) of byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

impl Limits {
    /// Parses limits from TOML text; `name` names the source in errors.
    pub fn from_toml_str(text: &str, name: &str) -> Result<Self, ConfigError> {
        let mut problems = Problems::new(name);
        let file: FileToml = match toml::from_str(text) {
            Ok(file) => file,
            Err(e) => {
                let line = e.span().map_or(1, |span| line_at(text, span.start));
                problems.at(line, format!("{}; see the example tokenledger init writes", e.message().trim_end()));
                return problems.into_result(Self::default());
            }
        };
        let mut limits = Vec::new();
        let mut blocks: Vec<(String, usize)> = Vec::new();
        for block in file.endpoint {
            let block_line = line_at(text, block.span().start);
            let block = block.into_inner();
            let endpoint = block.name.get_ref().trim().to_string();
            let name_line = line_at(text, block.name.span().start);
            if endpoint.is_empty() {
                problems.at(name_line, "name is empty; give the serving endpoint's name, or \"*\" for every endpoint");
                continue;
            }
            if let Some((_, first)) = blocks.iter().find(|(n, _)| *n == endpoint) {
                problems.at(
                    block_line,
                    format!("endpoint `{endpoint}` already has a block on line {first}; put all its limits in one"),
                );
            }
            blocks.push((endpoint.clone(), block_line));
            if block.limit.is_empty() {
                problems
                    .at(block_line, format!("endpoint `{endpoint}` has no [[endpoint.limit]]; add one or remove it"));
            }
            for limit in block.limit {
                if let Some(limit) = parse_limit(text, &endpoint, limit, &mut problems) {
                    limits.push(limit);
                }
            }
        }
        let budgets = file.budget.into_iter().filter_map(|b| parse_budget(text, b, &mut problems)).collect();
        problems.into_result(Self { limits, budgets })
    }

    /// Reads and validates the limits in `file`; a missing file is an error naming it.
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse(Self::from_toml_str)
    }

    /// The limits in force on `endpoint`: its own and those of [`EVERY_ENDPOINT`], in file order.
    pub fn on_endpoint<'a>(&'a self, endpoint: &'a str) -> impl Iterator<Item = (usize, &'a Limit)> + 'a {
        self.limits.iter().enumerate().filter(move |(_, l)| l.endpoint == endpoint || l.endpoint == EVERY_ENDPOINT)
    }
}

/// A `key`: one of `allowed`, else a problem at its line.
fn parse_key(
    text: &str,
    key: &Spanned<String>,
    (what, allowed): (&str, &[LimitKey]),
    problems: &mut Problems,
) -> Option<LimitKey> {
    let parsed = allowed.iter().copied().find(|k| k.as_str() == key.get_ref().as_str());
    if parsed.is_none() {
        let names: Vec<&str> = allowed.iter().map(|k| k.as_str()).collect();
        let (last, rest) = names.split_last().unwrap_or((&"", &[]));
        problems.at(
            line_at(text, key.span().start),
            format!("key `{}` is not a {what} key; use {} or {last}", key.get_ref(), rest.join(", ")),
        );
    }
    parsed
}

/// A `principal`: trimmed, with its line; an empty one is a problem (`Err`).
fn parse_principal(
    text: &str,
    principal: &Option<Spanned<String>>,
    problems: &mut Problems,
) -> Result<Option<(String, usize)>, ()> {
    match principal {
        Some(p) if p.get_ref().trim().is_empty() => {
            problems.at(
                line_at(text, p.span().start),
                "principal is empty; name one user, group or service principal, or leave it out for each one separately",
            );
            Err(())
        }
        Some(p) => Ok(Some((p.get_ref().trim().to_string(), line_at(text, p.span().start)))),
        None => Ok(None),
    }
}

const RATE_LIMIT_KEYS: (&str, &[LimitKey]) =
    ("rate limit", &[LimitKey::User, LimitKey::UserGroup, LimitKey::ServicePrincipal, LimitKey::Endpoint]);
/// A budget is someone's: LiteLLM's budgets are per user, team or key, never per endpoint.
const BUDGET_KEYS: (&str, &[LimitKey]) = ("budget", &[LimitKey::User, LimitKey::UserGroup, LimitKey::ServicePrincipal]);

fn parse_budget(text: &str, budget: Spanned<BudgetToml>, problems: &mut Problems) -> Option<SpendBudget> {
    let line = line_at(text, budget.span().start);
    let budget = budget.into_inner();
    let key = parse_key(text, &budget.key, BUDGET_KEYS, problems);
    let principal = parse_principal(text, &budget.principal, problems);
    let at = |s: &Spanned<String>| line_at(text, s.span().start);
    let amount = {
        let words: Vec<&str> = budget.budget.get_ref().split_whitespace().collect();
        let parsed = match words.as_slice() {
            [amount, currency] => super::parse_price(amount).and_then(|a| Ok((a, super::parse_currency(currency)?))),
            _ => Err("is not an amount and a currency".to_string()),
        };
        match parsed {
            Ok((amount, _)) if amount.is_zero() => {
                problems.at(at(&budget.budget), "budget is zero; every request would be rejected, give an amount");
                None
            }
            Ok(amount) => Some(amount),
            Err(why) => {
                problems.at(
                    at(&budget.budget),
                    format!("budget `{}` {why}; write it as \"500.00 USD\"", budget.budget.get_ref()),
                );
                None
            }
        }
    };
    let renewal_period = match budget.renewal_period.get_ref().as_str() {
        "hour" => Some(BudgetWindow::Hour),
        "day" => Some(BudgetWindow::Day),
        "month" => Some(BudgetWindow::Month),
        other => {
            problems.at(
                at(&budget.renewal_period),
                format!("renewal_period `{other}` is not a budget's; use \"hour\", \"day\" or \"month\""),
            );
            None
        }
    };
    let enforcement = match budget.enforcement.as_ref().map(|e| (e.get_ref().as_str(), e)) {
        None | Some(("hard", _)) => Some(Enforcement::Hard),
        Some(("soft", _)) => Some(Enforcement::Soft),
        Some((other, e)) => {
            problems.at(at(e), format!("enforcement `{other}` is neither \"hard\" nor \"soft\""));
            None
        }
    };
    let endpoint = match &budget.endpoint {
        Some(e) if e.get_ref().trim().is_empty() => {
            problems.at(at(e), "endpoint is empty; name one serving endpoint, or leave it out for all of them");
            return None;
        }
        Some(e) => Some(e.get_ref().trim().to_string()),
        None => None,
    };
    let (amount, currency) = amount?;
    Some(SpendBudget {
        key: key?,
        principal: principal.ok()?.map(|(p, _)| p),
        amount,
        currency,
        renewal_period: renewal_period?,
        enforcement: enforcement?,
        endpoint,
        line,
    })
}

fn parse_limit(text: &str, endpoint: &str, limit: Spanned<LimitToml>, problems: &mut Problems) -> Option<Limit> {
    let line = line_at(text, limit.span().start);
    let limit = limit.into_inner();
    let key = match &limit.key {
        None => Some(LimitKey::Endpoint),
        Some(key) => parse_key(text, key, RATE_LIMIT_KEYS, problems),
    };
    let renewal_period = match limit.renewal_period.get_ref().as_str() {
        "minute" => Some(RenewalPeriod::Minute),
        other => {
            let budget = if matches!(other, "hour" | "day" | "month") {
                " (a dollar budget per hour, day or month is a [[budget]] block)"
            } else {
                ""
            };
            problems.at(
                line_at(text, limit.renewal_period.span().start),
                format!("renewal_period `{other}` is not one the gateway has; use \"minute\"{budget}"),
            );
            None
        }
    };
    let principal = parse_principal(text, &limit.principal, problems).ok()?;
    if limit.calls.is_none() && limit.tokens.is_none() {
        problems.at(line, "this limit has neither calls nor tokens; give calls, tokens or both (per renewal_period)");
        return None;
    }
    let (key, renewal_period) = (key?, renewal_period?);
    if let (LimitKey::Endpoint, Some((_, principal_line))) = (key, &principal) {
        problems.at(
            *principal_line,
            "an endpoint limit counts the whole endpoint and takes no principal; remove it, or set key = \"user\", \"user_group\" or \"service_principal\"",
        );
        return None;
    }
    Some(Limit {
        endpoint: endpoint.to_string(),
        key,
        principal: principal.map(|(p, _)| p),
        calls: limit.calls,
        tokens: limit.tokens,
        renewal_period,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses() {
        let limits = Limits::from_toml_str(include_str!("../warehouse/templates/limits.toml"), "limits.toml").unwrap();
        assert!(!limits.limits.is_empty());
        assert!(limits.limits.iter().all(|l| l.renewal_period == RenewalPeriod::Minute));
    }

    #[test]
    fn limits_read_in_the_gateways_words() {
        let text = "[[endpoint]]\nname = \"rag\"\n\
                    [[endpoint.limit]]\nkey = \"user\"\nprincipal = \"ana@example.com\"\ncalls = 60\nrenewal_period = \"minute\"\n\
                    [[endpoint.limit]]\ntokens = 1000\nrenewal_period = \"minute\"\n\
                    [[endpoint]]\nname = \"*\"\n\
                    [[endpoint.limit]]\nkey = \"user_group\"\ncalls = 5\ntokens = 10\nrenewal_period = \"minute\"\n";
        let limits = Limits::from_toml_str(text, "l.toml").unwrap();
        let l = &limits.limits;
        assert_eq!(l.len(), 3);
        assert_eq!(
            (l[0].key, l[0].principal.as_deref(), l[0].calls, l[0].tokens, l[0].line),
            (LimitKey::User, Some("ana@example.com"), Some(60), None, 3)
        );
        // no key: the gateway's default, the endpoint
        assert_eq!((l[1].key, l[1].tokens, l[1].line), (LimitKey::Endpoint, Some(1000), 8));
        assert_eq!((l[2].endpoint.as_str(), l[2].key, l[2].line), ("*", LimitKey::UserGroup, 13));
        assert_eq!(limits.on_endpoint("rag").count(), 3);
        assert_eq!(limits.on_endpoint("other").map(|(i, _)| i).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn budgets_read_exact_amounts_and_refuse_what_a_budget_cannot_be() {
        let text = "[[budget]]\nkey = \"user_group\"\nprincipal = \"search\"\nbudget = \"500.10 USD\"\n\
                    renewal_period = \"month\"\nenforcement = \"soft\"\nendpoint = \"rag\"\n";
        let limits = Limits::from_toml_str(text, "l.toml").unwrap();
        let b = &limits.budgets[0];
        assert_eq!(
            (b.key, b.principal.as_deref(), b.amount, b.currency.as_str()),
            (LimitKey::UserGroup, Some("search"), rust_decimal::Decimal::new(50010, 2), "USD")
        );
        assert_eq!(
            (b.renewal_period, b.enforcement, b.endpoint.as_deref(), b.line),
            (BudgetWindow::Month, Enforcement::Soft, Some("rag"), 1)
        );
        let text = "[[budget]]\nkey = \"endpoint\"\nbudget = \"500 dollars\"\nrenewal_period = \"week\"\n\
                    enforcement = \"strict\"\n";
        let err = Limits::from_toml_str(text, "limits.toml").unwrap_err().to_string();
        for want in [
            "limits.toml line 2: key `endpoint` is not a budget key; use user, user_group or service_principal",
            "limits.toml line 3: budget `500 dollars` is not an ISO 4217 code",
            "limits.toml line 4: renewal_period `week` is not a budget's",
            "limits.toml line 5: enforcement `strict`",
        ] {
            assert!(err.contains(want), "{want} in\n{err}");
        }
        // a float is not money: the amount is text
        let text = "[[budget]]\nkey = \"user\"\n\nbudget = 50.0\nrenewal_period = \"day\"\n";
        let err = Limits::from_toml_str(text, "limits.toml").unwrap_err().to_string();
        assert!(err.contains("limits.toml line 4"), "{err}");
        // a minute limit given a budget's period points at [[budget]]
        let text = "[[endpoint]]\nname = \"rag\"\n[[endpoint.limit]]\ncalls = 5\nrenewal_period = \"day\"\n";
        let err = Limits::from_toml_str(text, "limits.toml").unwrap_err().to_string();
        assert!(err.contains("line 5: renewal_period `day`") && err.contains("[[budget]]"), "{err}");
    }

    #[test]
    fn mistakes_are_listed_with_their_lines() {
        let text = "# proposed limits\n\
                    [[endpoint]]\n\
                    name = \"rag\"\n\
                    [[endpoint.limit]]\n\
                    key = \"team\"\n\
                    calls = 5\n\
                    renewal_period = \"hour\"\n\
                    [[endpoint.limit]]\n\
                    key = \"user\"\n\
                    renewal_period = \"minute\"\n\
                    [[endpoint.limit]]\n\
                    key = \"endpoint\"\n\
                    principal = \"ana\"\n\
                    calls = 1\n\
                    renewal_period = \"minute\"\n";
        let err = Limits::from_toml_str(text, "limits.toml").unwrap_err().to_string();
        for want in [
            "limits.toml line 5: key `team` is not a rate limit key",
            "limits.toml line 7: renewal_period `hour`",
            "limits.toml line 8: this limit has neither calls nor tokens",
            "limits.toml line 13: an endpoint limit counts the whole endpoint",
        ] {
            assert!(err.contains(want), "{want} in\n{err}");
        }
        // what serde refuses: an unknown key, a wrong type, a negative count
        for (text, want) in [
            ("[[endpoint]]\nname = \"rag\"\n[[endpoint.limit]]\ncals = 5\nrenewal_period = \"minute\"\n", "line 4"),
            (
                "[[endpoint]]\nname = \"rag\"\n[[endpoint.limit]]\ncalls = \"5\"\nrenewal_period = \"minute\"\n",
                "line 4",
            ),
            (
                "[[endpoint]]\nname = \"rag\"\n\n[[endpoint.limit]]\ntokens = -5\nrenewal_period = \"minute\"\n",
                "line 5",
            ),
            ("[[endpoint]]\nnam = \"rag\"\n", "line 2"),
        ] {
            let err = Limits::from_toml_str(text, "limits.toml").unwrap_err().to_string();
            assert!(err.contains(&format!("limits.toml line {}", &want[5..])), "{want} in\n{err}");
        }
    }
}
