//! How a provider's bill names what the ledger knows (`config/bill_mapping.csv`, optional):
//! - a **model row** (`provider`, `provider_model`, `served_entity_name`): the bill's model id
//!   (`gpt-4o-2024-08-06`) is that served entity of the gateway (`gpt-4o`);
//! - an **account row** (`provider`, `account`, `cost_center`): the bill's project, workspace
//!   or sub-account belongs to that cost center (its cost that no logged request explains is
//!   charged there instead of to UNALLOCATED).
//!
//! Without a model row, a served entity is billed under the price book's `catalog_model` for
//! it, else under its own name. A bill model that matches nothing is reported, never guessed.
//! See the module docs of [`crate::pricing`] for the file conventions.

use super::{Column, ConfigError, ConfigFile, Header, Line, Problems, Row, parse_text, read_table};

const PROVIDER: &str = "provider";
const PROVIDER_MODEL: &str = "provider_model";
const SERVED_ENTITY_NAME: &str = "served_entity_name";
const ACCOUNT: &str = "account";
const COST_CENTER: &str = "cost_center";
const NOTE: &str = "note";

const COLUMNS: &[Column] = &[
    Column { name: PROVIDER, required: true },
    Column { name: PROVIDER_MODEL, required: false },
    Column { name: SERVED_ENTITY_NAME, required: false },
    Column { name: ACCOUNT, required: false },
    Column { name: COST_CENTER, required: false },
    Column { name: NOTE, required: false },
];

/// A bill model that is a served entity of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelMapping {
    pub provider: String,
    pub provider_model: String,
    pub served_entity_name: String,
    pub line: usize,
}

/// A bill account that belongs to a cost center.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountMapping {
    pub provider: String,
    pub account: String,
    pub cost_center: String,
    pub line: usize,
}

/// The validated mapping.
#[derive(Clone, Debug, Default)]
pub struct BillMapping {
    pub models: Vec<ModelMapping>,
    pub accounts: Vec<AccountMapping>,
}

impl BillMapping {
    /// Parses and validates the mapping; `file_label` names the file in messages.
    pub fn from_csv_str(text: &str, file_label: &str) -> Result<Self, ConfigError> {
        let mut problems = Problems::new(file_label);
        let Some((header, lines)) = read_table(text, COLUMNS, &mut problems) else {
            return problems.into_result(Self::default());
        };
        let mut mapping = Self::default();
        for line in &lines {
            parse_row(&header, line, &mut problems, &mut mapping);
        }
        let mut seen = std::collections::BTreeMap::new();
        for m in &mapping.models {
            if let Some(first) = seen.insert(&m.served_entity_name, m.line) {
                problems.at(
                    m.line,
                    format!(
                        "served entity `{}` is already mapped on line {first}; a served entity is billed under one \
                         provider model",
                        m.served_entity_name
                    ),
                );
            }
        }
        let mut seen = std::collections::BTreeMap::new();
        for a in &mapping.accounts {
            if let Some(first) = seen.insert((&a.provider, &a.account), a.line) {
                problems.at(a.line, format!("account `{}` is already mapped on line {first}", a.account));
            }
        }
        problems.into_result(mapping)
    }

    /// The mapping in `file`; empty when the file is absent.
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse_or_default(Self::from_csv_str)
    }
}

fn parse_row(header: &Header, line: &Line, problems: &mut Problems, mapping: &mut BillMapping) {
    let Some(mut row) = Row::new(header, line, problems) else { return };
    let provider = row.required(PROVIDER, parse_text);
    let model = row.optional(PROVIDER_MODEL, parse_text);
    let entity = row.optional(SERVED_ENTITY_NAME, parse_text);
    let account = row.optional(ACCOUNT, parse_text);
    let cost_center = row.optional(COST_CENTER, parse_text);
    let _note = row.optional(NOTE, parse_text);
    let (Ok(provider), Ok(model), Ok(entity), Ok(account), Ok(cost_center)) =
        (provider, model, entity, account, cost_center)
    else {
        return;
    };
    let line = row.number();
    match (model, entity, account, cost_center) {
        (Some(provider_model), Some(served_entity_name), None, None) => {
            mapping.models.push(ModelMapping { provider, provider_model, served_entity_name, line })
        }
        (None, None, Some(account), Some(cost_center)) => {
            mapping.accounts.push(AccountMapping { provider, account, cost_center, line })
        }
        _ => row.problem(format!(
            "is neither a model row ({PROVIDER_MODEL} and {SERVED_ENTITY_NAME}) nor an account row ({ACCOUNT} and \
             {COST_CENTER}); fill exactly one pair"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_and_account_rows_parse_and_mixed_rows_are_errors_with_lines() {
        let m = BillMapping::from_csv_str(
            "provider,provider_model,served_entity_name,account,cost_center\n\
             openai,gpt-4o-2024-08-06,gpt-4o,,\n\
             openai,,,proj_abc,CC-100\n",
            "bill_mapping.csv",
        )
        .unwrap();
        assert_eq!(m.models[0].served_entity_name, "gpt-4o");
        assert_eq!(m.accounts[0].cost_center, "CC-100");
        let err = BillMapping::from_csv_str(
            "provider,provider_model,served_entity_name,account,cost_center\n\
             openai,gpt-4o-2024-08-06,,,\n\
             openai,gpt-4o,gpt-4o,proj,CC\n\
             openai,a,gpt-4o,,\n\
             openai,b,gpt-4o,,\n",
            "bill_mapping.csv",
        )
        .unwrap_err()
        .to_string();
        for want in [
            "bill_mapping.csv line 2: is neither a model row",
            "bill_mapping.csv line 3: is neither a model row",
            "bill_mapping.csv line 5: served entity `gpt-4o` is already mapped on line 4",
        ] {
            assert!(err.contains(want), "{want}\n{err}");
        }
        assert!(BillMapping::load(&ConfigFile { name: "x".into(), text: None }).unwrap().models.is_empty());
    }
}
