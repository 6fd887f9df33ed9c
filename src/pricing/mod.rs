//! The price book and the principals: the two hand-edited dimension files that turn token
//! counts into money (`config/prices.csv`) and requesters into groups and cost centers
//! (`config/principals.csv`), and the settings that change attribution (`config/settings.toml`).
//! [`plan_import`] turns a published price catalog (LiteLLM's) into rows of the price book.
//!
//! Both files are written by people, so loading is strict and helpful: every problem in the file
//! is collected (up to [`MAX_REPORTED_PROBLEMS`]) and reported at once, each as
//! `<file> line N: <what is wrong>; <what to do>`, where N is the physical line in the file
//! (comments and blank lines count, so the number matches the user's editor).
//!
//! Conventions shared by both files:
//! * Columns are found by header name, in any order. Lines whose first non-blank character is
//!   `#` are comments; blank lines are skipped. A cell cannot span lines.
//! * A date is `YYYY-MM-DD` and means 00:00 UTC of that day. Periods are half-open:
//!   `effective_from` is inclusive, `effective_to` exclusive.
//! * Lookups take the request time as UTC microseconds since the Unix epoch, the unit of the
//!   `inference.request_time` column.
//!
//! Money is [`rust_decimal::Decimal`] parsed from the file's text, never a float (DESIGN rule 4),
//! and [`request_cost`] is the one definition of the per-request cost arithmetic. A request with
//! no price in force gets `None` from [`PriceBook::price_at`], never a zero price (rule 5).

mod bill_mapping;
mod budgets;
mod capacity;
mod catalog;
mod discounts;
mod limits;
mod prices;
mod principals;
mod settings;

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::csv_record::{Next, cell_span, next_record};

pub use bill_mapping::{AccountMapping, BillMapping, ModelMapping};
pub use budgets::{Budget, BudgetPeriod, BudgetScope, Budgets};
pub use capacity::{Capacity, Pool};
pub use catalog::{Catalog, CatalogSelection, Change, ImportPlan, PlannedRow, RowStatus, Skipped, plan_import};
pub use discounts::{Discount, Discounts};
pub use limits::{BudgetWindow, EVERY_ENDPOINT, Enforcement, Limit, LimitKey, Limits, RenewalPeriod, SpendBudget};
pub use prices::{PriceBook, PriceRow, PricingMode, ServiceTier, Usage, request_cost, usage_cost};
pub use principals::{Principal, Principals, UNALLOCATED_COST_CENTER, UNASSIGNED_GROUP};
pub use settings::{Attribution, Settings};

/// At most this many problems are listed in a [`ConfigError::Invalid`]; the count covers all.
pub const MAX_REPORTED_PROBLEMS: usize = 50;

/// Why a configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file was read but is not valid. `count` is the number of problems found; `problems`
    /// holds the first [`MAX_REPORTED_PROBLEMS`] of them, each a complete line-numbered message.
    #[error("{file}: {count} problem(s):\n{}", render_problems(.problems, *.count))]
    Invalid { file: String, count: usize, problems: Vec<String> },

    /// The file could not be read at all (missing, unreadable, not UTF-8).
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn render_problems(problems: &[String], count: usize) -> String {
    let mut text = problems.join("\n");
    if count > problems.len() {
        let _ = write!(text, "\n... and {} more not shown", count - problems.len());
    }
    text
}

/// One config file, read whole (from a warehouse's `config/`, see
/// [`crate::warehouse::Warehouse::config_file`], or from a path).
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// How messages name it: its path, or its URL.
    pub name: String,
    /// Its text; `None` when there is no such file.
    pub text: Option<String>,
}

impl ConfigFile {
    /// Parses the file with `parse(text, name)`; a missing file is an error naming it.
    pub fn parse<T>(&self, parse: impl Fn(&str, &str) -> Result<T, ConfigError>) -> Result<T, ConfigError> {
        match &self.text {
            Some(text) => parse(text, &self.name),
            None => Err(ConfigError::Io {
                path: PathBuf::from(&self.name),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file (tokenledger init writes an example)",
                ),
            }),
        }
    }

    /// Parses the file, or gives the default (an empty table) when it is absent.
    pub fn parse_or_default<T: Default>(
        &self,
        parse: impl Fn(&str, &str) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        if self.text.is_none() { Ok(T::default()) } else { self.parse(parse) }
    }

    /// The file at `path` on this machine (absent when there is none).
    pub fn from_path(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self { name, text: Some(text) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self { name, text: None }),
            Err(source) => Err(ConfigError::Io { path: path.to_path_buf(), source }),
        }
    }
}

/// Groups the rows of a table sorted by `key` into one index range per key, for O(1) lookups.
fn index_by<T>(rows: &[T], key: impl Fn(&T) -> &str) -> HashMap<String, Range<usize>> {
    let mut index = HashMap::new();
    let mut start = 0;
    for end in 1..=rows.len() {
        let boundary = match (rows.get(end - 1), rows.get(end)) {
            (Some(prev), Some(next)) => key(prev) != key(next),
            _ => true,
        };
        if boundary {
            if let Some(first) = rows.get(start) {
                index.insert(key(first).to_string(), start..end);
            }
            start = end;
        }
    }
    index
}

/// Quotes a cell for a canonical CSV rendering when it would otherwise be ambiguous.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

// ------------------------------------------------------------------------------------------------
// Problems: the line-numbered error list
// ------------------------------------------------------------------------------------------------

/// Collects the problems found in one file, keeping the first [`MAX_REPORTED_PROBLEMS`].
struct Problems {
    file: String,
    kept: Vec<(usize, String)>,
    count: usize,
}

impl Problems {
    fn new(file: &str) -> Self {
        Self { file: file.to_string(), kept: Vec::new(), count: 0 }
    }

    /// Records `<file> line N: <message>`; `message` says what is wrong, then `; ` what to do.
    fn at(&mut self, line: usize, message: impl Display) {
        self.count += 1;
        if self.kept.len() < MAX_REPORTED_PROBLEMS {
            self.kept.push((line, format!("{} line {line}: {message}", self.file)));
        }
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `Ok(value)` when nothing was wrong, else every kept problem in line order.
    fn into_result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.is_empty() {
            return Ok(value);
        }
        let mut kept = self.kept;
        // Row checks run before the cross-row checks; sorting (stable) gives the reader file order.
        kept.sort_by_key(|(line, _)| *line);
        Err(ConfigError::Invalid {
            file: self.file,
            count: self.count,
            problems: kept.into_iter().map(|(_, message)| message).collect(),
        })
    }
}

// ------------------------------------------------------------------------------------------------
// Reading a config CSV: physical lines, header, cells
// ------------------------------------------------------------------------------------------------

/// One non-comment, non-blank line of a config CSV with its physical line number (1-based).
struct Line {
    number: usize,
    cells: csv::StringRecord,
}

/// Splits `text` into lines and parses each that is not a comment or blank as one CSV record.
///
/// Lines are split before CSV parsing (rather than letting the csv crate skip comments) because
/// the crate's record positions do not count comment lines, and the reported line numbers must
/// match the file. The cost is that a quoted cell cannot span lines, which no price or principal
/// needs; such a cell is reported instead of being silently merged.
fn data_lines(text: &str, problems: &mut Problems) -> Vec<Line> {
    // A UTF-8 byte-order mark, as spreadsheet exports write, is not part of the first header name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    let mut parser = LineParser::default();
    for (i, raw) in text.split('\n').enumerate() {
        let number = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if raw.matches('"').count() % 2 == 1 {
            problems.at(number, "a quoted cell is not closed on this line; close the quote (cells cannot span lines)");
            continue;
        }
        match parser.parse(raw) {
            Ok(cells) => lines.push(Line { number, cells }),
            Err(why) => problems.at(number, why),
        }
    }
    lines
}

/// One CSV parser for all the lines of a file: its buffers serve every line.
#[derive(Default)]
struct LineParser {
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl LineParser {
    /// Parses one physical line as exactly one CSV record, cells trimmed. A carriage return
    /// alone ends a record in CSV, so a line holding one is two records: refused.
    fn parse(&mut self, raw: &str) -> Result<csv::StringRecord, String> {
        let Next::Record { consumed, .. } = next_record(raw.as_bytes(), true, &mut self.out, &mut self.ends) else {
            return Ok(csv::StringRecord::default());
        };
        let mut record = csv::StringRecord::with_capacity(self.out.len(), self.ends.len());
        for i in 0..self.ends.len() {
            // the cells are cut from a str at ASCII separators and quotes: UTF-8
            let cell = std::str::from_utf8(&self.out[cell_span(&self.ends, i)])
                .map_err(|e| format!("cannot be read as CSV ({e}); fix the quoting or separators"))?;
            record.push_field(cell);
        }
        record.trim();
        let rest = &raw.as_bytes()[consumed..];
        if matches!(next_record(rest, true, &mut self.out, &mut self.ends), Next::Record { .. }) {
            return Err("holds a stray carriage return that splits it in two; remove it".to_string());
        }
        Ok(record)
    }
}

/// One column a config file may have.
struct Column {
    name: &'static str,
    required: bool,
}

/// Where each known column is in the file, from its header line.
struct Header {
    positions: Vec<(&'static str, usize)>,
    width: usize,
}

impl Header {
    /// Checks the header line against `columns`. Unknown and duplicate names are reported and
    /// ignored so that the rows can still be checked; a missing required column makes the rows
    /// impossible to read, so then `None` is returned after reporting it.
    fn parse(line: &Line, columns: &[Column], problems: &mut Problems) -> Option<Header> {
        let names = columns.iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
        let mut positions: Vec<(&'static str, usize)> = Vec::new();
        for (position, name) in line.cells.iter().enumerate() {
            match columns.iter().find(|c| c.name == name) {
                None if name.is_empty() => problems.at(
                    line.number,
                    format!("header cell {} is empty; name the column or remove the extra comma", position + 1),
                ),
                None => problems
                    .at(line.number, format!("unknown column `{name}`; remove or rename it (known columns: {names})")),
                Some(c) if positions.iter().any(|(n, _)| *n == c.name) => {
                    problems.at(line.number, format!("column `{name}` appears twice in the header; keep one"))
                }
                Some(c) => positions.push((c.name, position)),
            }
        }
        Header::complete(line, columns, positions, problems)
    }

    /// The header of `line` with the columns found at `positions`, or `None` after reporting each
    /// required column of `columns` it lacks.
    fn complete(
        line: &Line,
        columns: &[Column],
        positions: Vec<(&'static str, usize)>,
        problems: &mut Problems,
    ) -> Option<Header> {
        let mut complete = true;
        for column in columns.iter().filter(|c| c.required) {
            if !positions.iter().any(|(n, _)| *n == column.name) {
                complete = false;
                problems.at(
                    line.number,
                    format!(
                        "missing required column `{}`; add it to the header (the first line that is not a comment)",
                        column.name
                    ),
                );
            }
        }
        complete.then_some(Header { positions, width: line.cells.len() })
    }

    /// The trimmed cell of `line` under `column`, or `None` when the file has no such column.
    fn cell<'l>(&self, line: &'l Line, column: &str) -> Option<&'l str> {
        let (_, position) = self.positions.iter().find(|(n, _)| *n == column)?;
        line.cells.get(*position)
    }
}

/// The header and the data lines of a config file; `None` (with problems recorded) when the file
/// has no usable header.
fn read_table(text: &str, columns: &[Column], problems: &mut Problems) -> Option<(Header, Vec<Line>)> {
    let mut lines = data_lines(text, problems).into_iter();
    let Some(first) = lines.next() else {
        let names = columns.iter().filter(|c| c.required).map(|c| c.name).collect::<Vec<_>>();
        problems.at(
            1,
            format!("no header line; the first line that is not a comment must name the columns: {}", names.join(",")),
        );
        return None;
    };
    let header = Header::parse(&first, columns, problems)?;
    Some((header, lines.collect()))
}

/// A marker that a cell's problem has already been recorded.
struct Reported;

/// One data row being read: gives parsed cells and records what is wrong with each.
struct Row<'a> {
    header: &'a Header,
    line: &'a Line,
    problems: &'a mut Problems,
}

impl<'a> Row<'a> {
    /// Starts reading `line`, or reports it and returns `None` when its cell count is off: cells
    /// are matched to columns by position, so a short or long row cannot be read safely.
    fn new(header: &'a Header, line: &'a Line, problems: &'a mut Problems) -> Option<Self> {
        if line.cells.len() != header.width {
            problems.at(
                line.number,
                format!(
                    "has {} cells but the header has {} columns; give every row one cell per column \
                     (leave optional ones empty, e.g. `,,`)",
                    line.cells.len(),
                    header.width
                ),
            );
            return None;
        }
        Some(Self { header, line, problems })
    }

    fn number(&self) -> usize {
        self.line.number
    }

    /// A cell that must not be empty, parsed with `parse` (which explains what is wrong).
    fn required<T>(&mut self, column: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, Reported> {
        match self.header.cell(self.line, column) {
            Some(text) if !text.is_empty() => self.parsed(column, text, parse),
            _ => {
                self.problems.at(self.line.number, format!("{column} is empty; every row needs a value here"));
                Err(Reported)
            }
        }
    }

    /// A cell that may be empty or whose column may be absent (then `None`).
    fn optional<T>(&mut self, column: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, Reported> {
        match self.header.cell(self.line, column) {
            Some(text) if !text.is_empty() => self.parsed(column, text, parse).map(Some),
            _ => Ok(None),
        }
    }

    fn parsed<T>(
        &mut self,
        column: &str,
        text: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, Reported> {
        parse(text).map_err(|why| {
            self.problems.at(self.line.number, format!("{column} `{text}` {why}"));
            Reported
        })
    }

    /// Records a problem about the row as a whole (e.g. its dates contradict each other).
    fn problem(&mut self, message: impl Display) {
        self.problems.at(self.line.number, message);
    }
}

// ------------------------------------------------------------------------------------------------
// Cell parsers: each returns what is wrong and what to do, to follow "<column> `<text>` "
// ------------------------------------------------------------------------------------------------

/// Any non-empty text (names, groups, cost centers).
fn parse_text(text: &str) -> Result<String, String> {
    Ok(text.to_string())
}

/// Exactly `YYYY-MM-DD`: other shapes chrono would accept (`2025-1-5`, `+2025-01-05`) are
/// rejected so that every date in the file reads the same way.
fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let bad = || "is not a date; write it as YYYY-MM-DD, e.g. 2025-03-01".to_string();
    let b = text.as_bytes();
    let shape_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    if !shape_ok {
        return Err(bad());
    }
    let number = |r: Range<usize>| text.get(r).and_then(|s| s.parse::<u32>().ok());
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return Err(bad());
    };
    i32::try_from(year)
        .ok()
        .and_then(|year| NaiveDate::from_ymd_opt(year, month, day))
        .ok_or_else(|| "is not a day in the calendar; check the month and day (YYYY-MM-DD)".to_string())
}

/// A price: a plain non-negative decimal (`2.50`, `0.075`, `15`), parsed exactly.
///
/// The grammar is checked by hand because `Decimal`'s own parser also takes `1_000` and `+1`,
/// which are more likely typos than prices.
fn parse_price(text: &str) -> Result<Decimal, String> {
    let plain = |s: &str| {
        let digits = s.chars().filter(char::is_ascii_digit).count();
        digits > 0 && s.chars().all(|c| c.is_ascii_digit() || c == '.') && s.matches('.').count() <= 1
    };
    if let Some(rest) = text.strip_prefix('-')
        && plain(rest)
    {
        return Err("is negative; prices must be zero or more".to_string());
    }
    if !plain(text) {
        return Err("is not a number; write a plain decimal such as 2.50 \
                    (no currency sign, thousands separator, exponent or sign)"
            .to_string());
    }
    // `from_str_exact` fails instead of rounding when the text has more than 28 digits of
    // precision, so a price is never silently changed.
    Decimal::from_str_exact(text)
        .map_err(|_| "has more digits than a decimal can hold exactly (28); shorten it".to_string())
}

/// An ISO 4217 alphabetic code that has a minor unit: the codes money can be rounded in
/// ([`crate::money::minor_unit`] answers for exactly these).
fn parse_currency(text: &str) -> Result<String, String> {
    if crate::money::minor_unit(text).is_ok() {
        return Ok(text.to_string());
    }
    let upper = text.to_ascii_uppercase();
    if crate::money::minor_unit(&upper).is_ok() {
        return Err(format!("is not an ISO 4217 code; write it in capitals: {upper}"));
    }
    Err("is not an ISO 4217 code with a minor unit; write the currency's three-letter code, e.g. USD, EUR or JPY"
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_yyyy_mm_dd() {
        assert_eq!(parse_date("2025-03-01"), Ok(NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()));
        for bad in [
            "2025-3-1",
            "2025/03/01",
            "01-03-2025",
            "2025-03-01T00:00",
            "+2025-03-01",
            "20250301",
            "2025-02-30",
            "2025-13-01",
            "2025-00-10",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prices_are_plain_exact_decimals() {
        let price = |s| parse_price(s).map(|d| d.to_string());
        assert_eq!(price("2.50"), Ok("2.50".to_string()));
        assert_eq!(price("0.075"), Ok("0.075".to_string()));
        assert_eq!(price("15"), Ok("15".to_string()));
        assert_eq!(price("0"), Ok("0".to_string()));
        for bad in ["1_000", "+1", "1e5", "$2.50", "2,50", "1.2.3", ".", "abc", "NaN", "0x10"] {
            assert!(parse_price(bad).unwrap_err().contains("not a number"), "{bad}");
        }
        assert!(parse_price("-1.00").unwrap_err().contains("negative"));
        assert!(parse_price("79228162514264337593543950336").unwrap_err().contains("more digits"));
        assert!(parse_price("0.00000000000000000000000000001").unwrap_err().contains("more digits"));
    }

    #[test]
    fn currency_is_an_iso_4217_code() {
        for good in ["USD", "EUR", "JPY", "XPF", "CLF"] {
            assert_eq!(parse_currency(good).as_deref(), Ok(good));
        }
        for bad in ["XYZ", "XAU", "US", "USDT", "U$D", "ÉUR", ""] {
            assert!(parse_currency(bad).unwrap_err().starts_with("is not an ISO 4217 code"), "{bad}");
        }
        assert!(parse_currency("usd").unwrap_err().contains("in capitals: USD"));
    }

    #[test]
    fn a_currency_outside_iso_4217_is_refused_with_its_line_in_every_file() {
        let invalid = |err: ConfigError| err.to_string();
        let prices = "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\n\
                      # a comment counts as a line\n\
                      a,2025-01-01,USD,1,1,1\n\
                      b,2025-01-01,XYZ,1,1,1\n";
        let err = invalid(PriceBook::from_csv_str(prices, "prices.csv").unwrap_err());
        assert!(err.contains("prices.csv line 4: currency `XYZ` is not an ISO 4217 code"), "{err}");
        let capacity = "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n\
                        p,ep,,24.00,XYZ,2025-01-01,,ml\n";
        let err = invalid(Capacity::from_csv_str(capacity, "capacity.csv").unwrap_err());
        assert!(err.contains("capacity.csv line 2: currency `XYZ` is not an ISO 4217 code"), "{err}");
        let budgets = "scope,name,period,amount,currency,thresholds\n\
                       group,x,monthly,10,USD,50\n\
                       \n\
                       group,y,monthly,10,XYZ,50\n";
        let err = invalid(Budgets::from_csv_str(budgets, "budgets.csv").unwrap_err());
        assert!(err.contains("budgets.csv line 4: currency `XYZ` is not an ISO 4217 code"), "{err}");
    }

    #[test]
    fn the_shipped_files_use_iso_4217_currencies() {
        // templates are what `init` writes; sample_data is what the demo and the docs use
        PriceBook::from_csv_str(include_str!("../warehouse/templates/prices.csv"), "prices.csv").unwrap();
        Capacity::from_csv_str(include_str!("../../sample_data/config/capacity.csv"), "capacity.csv").unwrap();
        Budgets::from_csv_str(include_str!("../../sample_data/config/budgets.csv"), "budgets.csv").unwrap();
    }

    #[test]
    fn error_lists_at_most_the_cap_and_says_how_many_more() {
        let mut problems = Problems::new("x.csv");
        for line in (1..=60).rev() {
            problems.at(line, "bad; fix it");
        }
        let err = problems.into_result(()).unwrap_err();
        let ConfigError::Invalid { count, problems: listed, .. } = &err else { panic!() };
        assert_eq!((*count, listed.len()), (60, MAX_REPORTED_PROBLEMS));
        let text = err.to_string();
        assert!(text.starts_with("x.csv: 60 problem(s):\nx.csv line "), "{text}");
        assert!(text.ends_with("... and 10 more not shown"), "{text}");
    }

    #[test]
    fn stray_quotes_and_carriage_returns_are_reported_with_their_line() {
        let mut problems = Problems::new("f.csv");
        let lines = data_lines("a,b\n\"x,y\n1,2\r\nq\rr,s\n", &mut problems);
        assert_eq!(lines.iter().map(|l| l.number).collect::<Vec<_>>(), vec![1, 3]);
        let err = problems.into_result(()).unwrap_err().to_string();
        assert!(err.contains("f.csv line 2: a quoted cell is not closed"), "{err}");
        assert!(err.contains("f.csv line 4: holds a stray carriage return"), "{err}");
    }

    #[test]
    fn one_parser_reads_every_line_whatever_its_width() {
        // wider than the parser's first buffers (4 KiB of cells, 64 cells): they grow
        let wide: Vec<String> =
            (0..100).map(|i| format!("\"  cell {i}, \"\"quoted\"\" {}  \"", "x".repeat(60))).collect();
        let text = format!("a, b ,\"c,d\"\n{}\n é ,\"\"\n", wide.join(","));
        let mut problems = Problems::new("f.csv");
        let lines = data_lines(&text, &mut problems);
        assert!(problems.into_result(()).is_ok());
        let cells = |i: usize| lines[i].cells.iter().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(cells(0), ["a", "b", "c,d"]);
        assert_eq!(lines[1].cells.len(), 100);
        assert_eq!(&lines[1].cells[99], format!("cell 99, \"quoted\" {}", "x".repeat(60)));
        assert_eq!(cells(2), ["é", ""]);
        assert_eq!(lines.iter().map(|l| l.number).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn the_reused_parser_reads_a_line_as_the_csv_crate_does() {
        // what the parser replaced: a csv::Reader of its own for each line
        let with_csv_crate = |raw: &str| {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(raw.as_bytes());
            let mut records = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>());
            (records.next().unwrap_or_default(), records.next().is_some())
        };
        let mut parser = LineParser::default();
        for raw in [
            "a,b,c",
            " a , b ,c ",
            "\"a,b\",c",
            "\"say \"\"hi\"\"\",x",
            " \"\" ,\"\"",
            "a,,",
            ",",
            "x, \"q\" ",
            "tab\there,\u{a0}nbsp\u{a0}",
            "東京,é",
            "a\"b,c",
            "q\rr,s",
        ] {
            let (cells, split) = with_csv_crate(raw);
            match parser.parse(raw) {
                Ok(record) => {
                    assert!(!split, "{raw:?}");
                    assert_eq!(record.iter().collect::<Vec<_>>(), cells, "{raw:?}");
                }
                Err(e) => assert!(split && e.contains("stray carriage return"), "{raw:?}: {e}"),
            }
        }
    }
}
