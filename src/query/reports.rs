//! Named reports: the SQL in `sql/reports/`, each file starting with a `-- description:` line
//! and one `-- param: NAME DEFAULT` line per parameter. A parameter's value is substituted
//! for `{{NAME}}` as a quoted SQL string literal, so a value can never become SQL.

use crate::error::{Error, Result};

const SOURCES: [(&str, &str); 3] = [
    ("guardrail_blocks", include_str!("../../sql/reports/guardrail_blocks.sql")),
    ("top_consumers", include_str!("../../sql/reports/top_consumers.sql")),
    ("unpriced_usage", include_str!("../../sql/reports/unpriced_usage.sql")),
];

/// A report: its name, what it shows, its parameters with their defaults, and its SQL.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub name: &'static str,
    pub description: String,
    pub params: Vec<(String, String)>,
    #[serde(skip)]
    sql: &'static str,
}

/// Every report, by name.
pub fn reports() -> Vec<Report> {
    SOURCES
        .iter()
        .map(|(name, sql)| {
            let header = |key: &'static str| {
                let prefix = format!("-- {key}: ");
                sql.lines().filter_map(move |l| l.strip_prefix(prefix.as_str()).map(str::to_string))
            };
            Report {
                name,
                description: header("description").next().unwrap_or_default(),
                params: header("param")
                    .map(|p| {
                        let (name, default) = p.split_once(' ').unwrap_or((p.as_str(), ""));
                        (name.to_string(), default.trim().to_string())
                    })
                    .collect(),
                sql,
            }
        })
        .collect()
}

impl Report {
    /// The SQL with `values` (name, value) over the defaults.
    pub fn sql(&self, values: &[(String, String)]) -> Result<String> {
        for (name, _) in values {
            if !self.params.iter().any(|(p, _)| p == name) {
                let known: Vec<&str> = self.params.iter().map(|(p, _)| p.as_str()).collect();
                return Err(Error::Usage(format!(
                    "report {} has no parameter {name:?}; its parameters are {}",
                    self.name,
                    known.join(", ")
                )));
            }
        }
        let mut sql = self.sql.to_string();
        for (name, default) in &self.params {
            let value = values.iter().rev().find(|(n, _)| n == name).map_or(default.as_str(), |(_, v)| v.as_str());
            sql = sql.replace(&format!("{{{{{name}}}}}"), &format!("'{}'", value.replace('\'', "''")));
        }
        Ok(sql)
    }
}

/// The report called `name`.
pub fn find(name: &str) -> Result<Report> {
    reports().into_iter().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<&str> = reports().iter().map(|r| r.name).collect();
        Error::Usage(format!("no report {name:?}; the reports are {} (tokenledger report --list)", names.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_has_a_description_and_its_parameters_are_substituted_as_literals() {
        for r in reports() {
            assert!(r.description.len() > 10, "{}", r.name);
            let sql = r.sql(&[]).unwrap();
            assert!(!sql.contains("{{"), "{}: {sql}", r.name);
        }
        let r = find("top_consumers").unwrap();
        let sql = r.sql(&[("top".into(), "3'; DROP TABLE x; --".into())]).unwrap();
        assert!(sql.contains("CAST('3''; DROP TABLE x; --' AS BIGINT)"), "{sql}");
        assert!(r.sql(&[("nope".into(), "1".into())]).unwrap_err().to_string().contains("from, to, top"));
        assert!(find("nope").unwrap_err().to_string().contains("top_consumers"));
    }
}
