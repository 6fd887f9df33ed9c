//! The principals (`config/principals.csv`): which group and cost center each requester belongs
//! to, optionally effective-dated for people who move between teams. See the module docs of
//! [`crate::pricing`] for the file conventions.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

use chrono::NaiveDate;

use super::{
    Column, ConfigError, ConfigFile, Header, Line, Problems, Row, csv_cell, index_by, parse_date, parse_text,
    read_table,
};
use crate::time::date_start_micros;

/// The group of a requester who is not in principals.csv (or not at that time).
pub const UNASSIGNED_GROUP: &str = "unassigned";
/// The cost center of a requester who is not in principals.csv (or not at that time).
pub const UNALLOCATED_COST_CENTER: &str = "UNALLOCATED";

const REQUESTER: &str = "requester";
const GROUP: &str = "group";
const COST_CENTER: &str = "cost_center";
const EFFECTIVE_FROM: &str = "effective_from";
const EFFECTIVE_TO: &str = "effective_to";

const COLUMNS: &[Column] = &[
    Column { name: REQUESTER, required: true },
    Column { name: GROUP, required: true },
    Column { name: COST_CENTER, required: true },
    Column { name: EFFECTIVE_FROM, required: false },
    Column { name: EFFECTIVE_TO, required: false },
];

/// One validated row: a requester's group and cost center over a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// User e-mail or service principal id, exactly as the gateway logs it.
    pub requester: String,
    pub group: String,
    pub cost_center: String,
    /// First day (inclusive, 00:00 UTC); `None`: since always.
    pub effective_from: Option<NaiveDate>,
    /// First day no longer covered (exclusive); `None`: open-ended.
    pub effective_to: Option<NaiveDate>,
    /// Physical line in the file (1-based), for messages.
    pub line: usize,
}

impl Principal {
    /// Whether the row's period covers `at_micros` (UTC microseconds since the epoch).
    pub fn covers(&self, at_micros: i64) -> bool {
        self.effective_from.is_none_or(|from| date_start_micros(from) <= at_micros)
            && self.effective_to.is_none_or(|to| at_micros < date_start_micros(to))
    }

    /// The period in words, for messages.
    fn period(&self) -> String {
        match (self.effective_from, self.effective_to) {
            (None, None) => "always".to_string(),
            (Some(from), None) => format!("from {from} on"),
            (None, Some(to)) => format!("until {to}"),
            (Some(from), Some(to)) => format!("from {from} until {to}"),
        }
    }
}

/// The validated principals: rows sorted by (`requester`, `effective_from`), no requester with two
/// rows covering the same instant.
#[derive(Clone, Debug, Default)]
pub struct Principals {
    rows: Vec<Principal>,
    /// requester -> its rows' range in `rows`.
    by_requester: HashMap<String, Range<usize>>,
}

impl Principals {
    /// Parses and validates principals; `file_label` names the file in messages.
    pub fn from_csv_str(text: &str, file_label: &str) -> Result<Self, ConfigError> {
        let mut problems = Problems::new(file_label);
        let Some((header, lines)) = read_table(text, COLUMNS, &mut problems) else {
            return problems.into_result(Self::default());
        };
        let mut rows: Vec<Principal> =
            lines.iter().filter_map(|line| parse_row(&header, line, &mut problems)).collect();
        // `None` sorts first, which is right: an open start is the earliest start. Stable, so
        // equal keys keep their file order for messages.
        rows.sort_by(|a, b| (a.requester.as_str(), a.effective_from).cmp(&(b.requester.as_str(), b.effective_from)));
        check_periods(&rows, &mut problems);
        let by_requester = index_by(&rows, |p| p.requester.as_str());
        problems.into_result(Self { rows, by_requester })
    }

    /// Reads and validates the principals in `file` (messages name it).
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse(Self::from_csv_str)
    }

    /// All rows, sorted by (`requester`, `effective_from`).
    pub fn rows(&self) -> &[Principal] {
        &self.rows
    }

    /// The row covering `requester` at `at_micros` (UTC microseconds since the epoch), if any.
    pub fn find(&self, requester: &str, at_micros: i64) -> Option<&Principal> {
        let rows = self.rows.get(self.by_requester.get(requester)?.clone())?;
        // Periods do not overlap, so the candidate is the last row that has started.
        let started =
            rows.partition_point(|p| p.effective_from.is_none_or(|from| date_start_micros(from) <= at_micros));
        rows.get(started.checked_sub(1)?).filter(|p| p.covers(at_micros))
    }

    /// `(group, cost_center, known)` of `requester` at `at_micros`. A requester not listed, or
    /// listed only for other periods, is `(UNASSIGNED_GROUP, UNALLOCATED_COST_CENTER, false)`,
    /// so their cost still lands on an explicit unallocated row.
    pub fn resolve(&self, requester: &str, at_micros: i64) -> (&str, &str, bool) {
        match self.find(requester, at_micros) {
            Some(p) => (p.group.as_str(), p.cost_center.as_str(), true),
            None => (UNASSIGNED_GROUP, UNALLOCATED_COST_CENTER, false),
        }
    }

    /// A deterministic rendering of the validated rows, for the caller to hash as the principals'
    /// identity: independent of comments, column order and line numbers.
    pub fn canonical_text(&self) -> String {
        let mut text = COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
        text.push('\n');
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        for p in &self.rows {
            let _ = writeln!(
                text,
                "{},{},{},{},{}",
                csv_cell(&p.requester),
                csv_cell(&p.group),
                csv_cell(&p.cost_center),
                date(p.effective_from),
                date(p.effective_to),
            );
        }
        text
    }
}

/// One data line into a [`Principal`], or `None` after recording everything wrong with it.
fn parse_row(header: &Header, line: &Line, problems: &mut Problems) -> Option<Principal> {
    let mut row = Row::new(header, line, problems)?;
    let requester = row.required(REQUESTER, parse_text);
    let group = row.required(GROUP, parse_text);
    let cost_center = row.required(COST_CENTER, parse_text);
    let from = row.optional(EFFECTIVE_FROM, parse_date);
    let to = row.optional(EFFECTIVE_TO, parse_date);
    if let (Ok(Some(from)), Ok(Some(to))) = (&from, &to)
        && to <= from
    {
        row.problem(format!(
            "{EFFECTIVE_TO} {to} is not after {EFFECTIVE_FROM} {from}; make it later or leave it empty"
        ));
        return None;
    }
    let (Ok(requester), Ok(group), Ok(cost_center), Ok(effective_from), Ok(effective_to)) =
        (requester, group, cost_center, from, to)
    else {
        return None;
    };
    Some(Principal { requester, group, cost_center, effective_from, effective_to, line: row.number() })
}

/// Reports rows of one requester whose periods overlap. `rows` is sorted by (requester, start);
/// each row is compared with the earlier row that reaches furthest, so a long period that swallows
/// several later ones is reported against each of them.
fn check_periods(rows: &[Principal], problems: &mut Problems) {
    let mut furthest: Option<&Principal> = None;
    for p in rows {
        let Some(earlier) = furthest.filter(|e| e.requester == p.requester) else {
            furthest = Some(p);
            continue;
        };
        // `earlier` starts no later than `p`, so they overlap iff `earlier` ends after `p` starts.
        let overlaps = match (earlier.effective_to, p.effective_from) {
            (None, _) | (_, None) => true,
            (Some(end), Some(start)) => end > start,
        };
        if overlaps {
            let fix = match p.effective_from {
                Some(start) => {
                    format!("end line {} with {EFFECTIVE_TO} {start}, or change this row's dates", earlier.line)
                }
                None => format!("give this row an {EFFECTIVE_FROM}, or change the dates on line {}", earlier.line),
            };
            problems.at(
                p.line,
                format!(
                    "{} is also listed on line {} ({}), which overlaps this row ({}); {fix} so the periods do not overlap",
                    p.requester,
                    earlier.line,
                    earlier.period(),
                    p.period()
                ),
            );
        }
        // Keep whichever of the two reaches later (`None` = never ends).
        let reaches_further = match (earlier.effective_to, p.effective_to) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(a), Some(b)) => b > a,
        };
        if reaches_further {
            furthest = Some(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principals(text: &str) -> Principals {
        Principals::from_csv_str(text, "principals.csv").unwrap_or_else(|e| panic!("{e}"))
    }

    fn problems(text: &str) -> Vec<String> {
        match Principals::from_csv_str(text, "principals.csv") {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn micros(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
    }

    #[test]
    fn the_init_template_loads() {
        let p = principals(include_str!("../warehouse/templates/principals.csv"));
        assert_eq!(p.rows().len(), 3);
        assert_eq!(p.resolve("bob@example.com", 0), ("ml-platform", "CC-1001", true));
    }

    #[test]
    fn the_sample_data_loads() {
        let p = principals(include_str!("../../sample_data/config/principals.csv"));
        assert!(p.rows().len() > 280);
        assert!(p.rows().iter().all(|r| r.effective_from.is_none() && r.effective_to.is_none()));
    }

    #[test]
    fn resolve_known_and_unknown() {
        let p = principals("# who\nrequester,group,cost_center\nalice@example.com,data-science,CC-1000\n");
        let now = micros("2025-02-01T12:00:00Z");
        assert_eq!(p.resolve("alice@example.com", now), ("data-science", "CC-1000", true));
        assert_eq!(p.resolve("mallory@example.com", now), (UNASSIGNED_GROUP, UNALLOCATED_COST_CENTER, false));
        assert_eq!(p.resolve("mallory@example.com", now), ("unassigned", "UNALLOCATED", false));
        assert!(!p.resolve("ALICE@example.com", now).2, "requesters match exactly");
        assert_eq!(p.find("alice@example.com", now).map(|r| r.line), Some(3));
    }

    #[test]
    fn an_effective_dated_move_between_groups() {
        let p = principals(
            "requester,group,cost_center,effective_from,effective_to\n\
             carol@example.com,web,CC-1,,2025-02-01\n\
             carol@example.com,ml-platform,CC-2,2025-02-01,2025-04-01\n\
             carol@example.com,data-science,CC-3,2025-05-01,\n",
        );
        let at = |t| p.resolve("carol@example.com", micros(t));
        assert_eq!(at("2020-01-01T00:00:00Z"), ("web", "CC-1", true));
        assert_eq!(at("2025-01-31T23:59:59.999999Z"), ("web", "CC-1", true));
        assert_eq!(at("2025-02-01T00:00:00Z"), ("ml-platform", "CC-2", true));
        assert_eq!(at("2025-04-01T00:00:00Z"), ("unassigned", "UNALLOCATED", false), "between periods");
        assert_eq!(at("2025-05-01T00:00:00Z"), ("data-science", "CC-3", true));
        assert_eq!(p.resolve("carol@example.com", i64::MIN).0, "web");
        assert_eq!(p.resolve("carol@example.com", i64::MAX).0, "data-science");
    }

    #[test]
    fn cell_problems_are_reported_with_their_physical_line() {
        let p = problems(
            "# principals\n\
             requester,group,cost_center,effective_from,effective_to\n\
             \n\
             ,data-science,,2025-1-1,\n\
             # a comment\n\
             dave@example.com,web,CC-1,2025-03-01,2025-03-01\n\
             erin@example.com,,CC-1,,31/12/2025\n\
             frank@example.com,web\n",
        );
        let expected = [
            "principals.csv line 4: requester is empty; every row needs a value here",
            "principals.csv line 4: cost_center is empty;",
            "principals.csv line 4: effective_from `2025-1-1` is not a date; write it as YYYY-MM-DD",
            "principals.csv line 6: effective_to 2025-03-01 is not after effective_from 2025-03-01; make it later or leave it empty",
            "principals.csv line 7: group is empty;",
            "principals.csv line 7: effective_to `31/12/2025` is not a date;",
            "principals.csv line 8: has 2 cells but the header has 5 columns;",
        ];
        assert_eq!(p.len(), expected.len(), "{p:#?}");
        for (got, want) in p.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn overlapping_periods_of_one_requester_are_reported() {
        let p = problems(
            "requester,group,cost_center,effective_from,effective_to\n\
             a@x.com,web,CC-1,,\n\
             b@x.com,web,CC-1,2025-01-01,2025-03-01\n\
             a@x.com,ml,CC-2,2025-02-01,\n\
             b@x.com,ml,CC-2,2025-02-01,\n\
             c@x.com,web,CC-1,,2025-01-01\n\
             c@x.com,ml,CC-2,2025-01-01,\n\
             d@x.com,web,CC-1,,\n\
             d@x.com,web,CC-1,,\n",
        );
        let expected = [
            "principals.csv line 4: a@x.com is also listed on line 2 (always), which overlaps this row (from 2025-02-01 on); \
             end line 2 with effective_to 2025-02-01, or change this row's dates so the periods do not overlap",
            "principals.csv line 5: b@x.com is also listed on line 3 (from 2025-01-01 until 2025-03-01), which overlaps this row (from 2025-02-01 on);",
            "principals.csv line 9: d@x.com is also listed on line 8 (always), which overlaps this row (always); give this row an effective_from",
        ];
        assert_eq!(p.len(), expected.len(), "{p:#?}");
        for (got, want) in p.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn a_long_period_is_reported_against_every_row_it_swallows() {
        let p = problems(
            "requester,group,cost_center,effective_from,effective_to\n\
             a,g,c,2025-01-01,2025-12-01\n\
             a,g,c,2025-02-01,2025-03-01\n\
             a,g,c,2025-04-01,2025-05-01\n",
        );
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].starts_with("principals.csv line 3: a is also listed on line 2"));
        assert!(p[1].starts_with("principals.csv line 4: a is also listed on line 2"));
    }

    #[test]
    fn header_problems() {
        let p = problems("requester,team,cost_center\nalice,web,CC-1\n");
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].starts_with("principals.csv line 1: unknown column `team`;"));
        assert!(p[1].starts_with("principals.csv line 1: missing required column `group`;"));
    }

    #[test]
    fn canonical_text_is_sorted_and_ignores_formatting() {
        let a = principals("# x\nrequester,group,cost_center\nz,g,c\na,g,\"c,1\"\n");
        let b = principals("cost_center,requester,group,effective_to\n\"c,1\",a,g,\nc,z,g,\n");
        assert_eq!(a.canonical_text(), b.canonical_text());
        assert_eq!(
            a.canonical_text(),
            "requester,group,cost_center,effective_from,effective_to\na,g,\"c,1\",,\nz,g,c,,\n"
        );
    }
}
