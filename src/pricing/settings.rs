//! `config/settings.toml`: warehouse options that change how usage is attributed. The file
//! is optional (every option defaults to off) and strict: an unknown key is an error, so a
//! typo cannot silently leave an option off.

use serde::Deserialize;

use super::{ConfigError, ConfigFile};

/// The settings of a warehouse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub attribution: Attribution,
    /// Not a setting: the price book's context-tier thresholds, ascending (see
    /// `crate::model::Inputs::new`), which the SQL turns into each request's context tier.
    #[serde(skip)]
    pub context_bands: Vec<i64>,
    /// Not a setting: the regions the price book has a premium for (its `inference_geo` rows).
    #[serde(skip)]
    pub geos: Vec<String>,
    /// Not a setting: found at run time (`crate::model::find_data_features`). No request of
    /// the data says its service tier.
    #[serde(skip)]
    pub no_service_tiers: bool,
    /// Not a setting: found at run time. No request has 1-hour cache writes, audio tokens or
    /// web searches.
    #[serde(skip)]
    pub no_billed_parts: bool,
    /// Not settings: found in the config (`crate::model::Inputs::new`). There are no discounts;
    /// no price prices reasoning apart; no price has a request fee.
    #[serde(skip)]
    pub no_discounts: bool,
    #[serde(skip)]
    pub no_reasoning_prices: bool,
    #[serde(skip)]
    pub no_request_fees: bool,
}

/// `[attribution]`: who a request is charged to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Attribution {
    /// `usage_context['end_user_to_charge']` replaces the requester and
    /// `usage_context['cost_center']` the cost center, where present.
    #[serde(default)]
    pub usage_context_overrides: bool,
    /// Not a setting: found at run time. The inference table has LiteLLM rows, whose
    /// `usage_context['group']` (their team) is their group.
    #[serde(skip)]
    pub source_groups: bool,
}

impl Settings {
    /// Reads `file`; a missing file gives the defaults.
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse_or_default(Self::from_toml_str)
    }

    /// Parses settings from TOML text; `name` names the source in errors.
    pub fn from_toml_str(text: &str, name: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| text[..span.start].matches('\n').count() + 1);
            ConfigError::Invalid {
                file: name.to_string(),
                count: 1,
                problems: vec![format!("{name} line {line}: {}", e.message().trim_end())],
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_to_the_defaults() {
        let template = include_str!("../warehouse/templates/settings.toml");
        assert_eq!(Settings::from_toml_str(template, "settings.toml").unwrap(), Settings::default());
        assert!(!Settings::default().attribution.usage_context_overrides);
    }

    #[test]
    fn options_parse_and_typos_are_errors_with_a_line() {
        let on = Settings::from_toml_str("[attribution]\nusage_context_overrides = true\n", "s").unwrap();
        assert!(on.attribution.usage_context_overrides);
        let err = Settings::from_toml_str("[attribution]\nusage_context_override = true\n", "s").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2") && text.contains("usage_context_override"), "{text}");
        let err = Settings::from_toml_str("[attribution]\nusage_context_overrides = \"yes\"\n", "s").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
