//! Named reports: the SQL in `sql/reports/`, each file starting with a `-- description:` line
//! and one `-- param: NAME DEFAULT` line per parameter (no default: the empty string). A
//! parameter's value is substituted for `{{NAME}}` as a quoted SQL string literal, so a value
//! can never become SQL. A `-- chart:` line (see [`crate::output::chart`]) says what `--chart` draws.

use crate::error::{Error, Result};
use crate::output::chart::ChartSpec;

/// Every file of `sql/reports/`, compiled in (a test checks that none is missing).
const SOURCES: [(&str, &str); 10] = [
    ("daily_spend", include_str!("../../sql/reports/daily_spend.sql")),
    ("fallbacks", include_str!("../../sql/reports/fallbacks.sql")),
    ("guardrail_blocks", include_str!("../../sql/reports/guardrail_blocks.sql")),
    ("provisioned_break_even", include_str!("../../sql/reports/provisioned_break_even.sql")),
    ("rate_limits", include_str!("../../sql/reports/rate_limits.sql")),
    ("retirements", include_str!("../../sql/reports/retirements.sql")),
    ("spend_anomalies", include_str!("../../sql/reports/spend_anomalies.sql")),
    ("tokens_by_entity", include_str!("../../sql/reports/tokens_by_entity.sql")),
    ("top_consumers", include_str!("../../sql/reports/top_consumers.sql")),
    ("unpriced_usage", include_str!("../../sql/reports/unpriced_usage.sql")),
];

/// A report: its name, what it shows, its parameters with their defaults, and its SQL.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub name: &'static str,
    pub description: String,
    pub params: Vec<(String, String)>,
    /// What `--chart` draws, if the report has a chart.
    pub chart: Option<ChartSpec>,
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
            let chart = header("chart").next().map(|spec| {
                let title = header("chart_title").next().unwrap_or_else(|| name.replace('_', " "));
                ChartSpec::parse(&spec, &title).expect("the chart specs of sql/reports/ are checked by a test")
            });
            Report {
                name,
                description: header("description").next().unwrap_or_default(),
                chart,
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
    fn every_file_in_sql_reports_is_a_report() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/reports");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".sql").to_string())
            .collect();
        files.sort();
        let names: Vec<&str> = reports().iter().map(|r| r.name).collect();
        assert_eq!(files, names);
        // the charts parse, and name columns of their reports
        for r in reports() {
            if let Some(c) = &r.chart {
                assert!(r.sql.contains(&c.x), "{}", r.name);
            }
        }
    }

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
