//! `config/limits.toml`: proposed gateway rate limits, for `tokenledger simulate limits` to
//! replay the history under. Written in the vocabulary of Databricks AI Gateway's
//! `rate_limits` (`key`, `principal`, `calls`, `tokens`, `renewal_period`), one `[[endpoint]]`
//! block per serving endpoint (`name = "*"`: every endpoint) with its `[[endpoint.limit]]`s.
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    endpoint: Vec<Spanned<EndpointToml>>,
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
        problems.into_result(Self { limits })
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

fn parse_limit(text: &str, endpoint: &str, limit: Spanned<LimitToml>, problems: &mut Problems) -> Option<Limit> {
    let line = line_at(text, limit.span().start);
    let limit = limit.into_inner();
    let key = match &limit.key {
        None => Some(LimitKey::Endpoint),
        Some(key) => {
            let parsed = match key.get_ref().as_str() {
                "user" => Some(LimitKey::User),
                "user_group" => Some(LimitKey::UserGroup),
                "service_principal" => Some(LimitKey::ServicePrincipal),
                "endpoint" => Some(LimitKey::Endpoint),
                _ => None,
            };
            if parsed.is_none() {
                problems.at(
                    line_at(text, key.span().start),
                    format!(
                        "key `{}` is not a rate limit key; use user, user_group, service_principal or endpoint",
                        key.get_ref()
                    ),
                );
            }
            parsed
        }
    };
    let renewal_period = match limit.renewal_period.get_ref().as_str() {
        "minute" => Some(RenewalPeriod::Minute),
        other => {
            problems.at(
                line_at(text, limit.renewal_period.span().start),
                format!("renewal_period `{other}` is not one the gateway has; use \"minute\""),
            );
            None
        }
    };
    let principal = match &limit.principal {
        Some(p) if p.get_ref().trim().is_empty() => {
            problems.at(
                line_at(text, p.span().start),
                "principal is empty; name one user, group or service principal, or leave it out for each one separately",
            );
            return None;
        }
        Some(p) => Some((p.get_ref().trim().to_string(), line_at(text, p.span().start))),
        None => None,
    };
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
