//! Output for people: aligned tables and thousands separators.

use comfy_table::{CellAlignment, ContentArrangement, Table as Comfy, presets};

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A plain aligned table; columns whose cells look numeric are right-aligned.
pub struct Table {
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

/// A number, or a negative one (a difference, a true-up).
fn looks_numeric(s: &str) -> bool {
    let s = s.trim_start();
    s.strip_prefix('-').unwrap_or(s).chars().next().is_some_and(|c| c.is_ascii_digit())
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Self { header: Some(header.iter().map(|s| s.to_string()).collect()), rows: Vec::new() }
    }

    /// A table whose columns are known only at run time.
    pub fn with_header(header: Vec<String>) -> Self {
        Self { header: Some(header), rows: Vec::new() }
    }

    /// A row of a [`Table::with_header`] table.
    pub fn row_vec(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Two columns, no header: `label   value`.
    pub fn key_value() -> Self {
        Self { header: None, rows: Vec::new() }
    }

    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.to_vec());
    }

    pub fn render(&self) -> String {
        let mut t = Comfy::new();
        t.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
        if let Some(h) = &self.header {
            t.set_header(h.clone());
        }
        for r in &self.rows {
            t.add_row(r.clone());
        }
        let columns = self.rows.first().map_or(0, Vec::len);
        for i in 1..columns {
            // a column of numbers, some cells empty (a side that has none), is still numbers
            let cells = || self.rows.iter().map(|r| r.get(i).map_or("", String::as_str));
            let numeric = cells().all(|c| c.trim().is_empty() || looks_numeric(c)) && cells().any(looks_numeric);
            if numeric && let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        let mut s = t.to_string();
        // comfy-table pads every line to the full width; trailing blanks only get in the way
        s = s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn numbers_are_right_aligned() {
        let mut t = Table::new(["name", "n"]);
        t.row(["a".into(), "1".into()]);
        t.row(["bb".into(), "1,000".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[1].ends_with("    1"), "{s}");
        assert!(lines[2].ends_with("1,000"), "{s}");
    }

    #[test]
    fn negative_numbers_and_empty_cells_keep_a_column_numeric() {
        let mut t = Table::new(["name", "difference", "x"]);
        t.row(["a".into(), "-0.16".into(), "y".into()]);
        t.row(["bb".into(), String::new(), "y".into()]);
        t.row(["c".into(), "112.50".into(), "y".into()]);
        let s = t.render();
        let at = |line: &str| line.find(".1").or_else(|| line.find(".5"));
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(at(lines[1]), at(lines[3]), "decimal points line up:\n{s}");
    }
}
