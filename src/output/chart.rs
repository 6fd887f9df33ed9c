//! Charts of query results, as SVG or PNG (plotters): a line per series over an ordered x axis
//! (spend per group per day), or horizontal stacked bars per category (tokens per served
//! entity, a chargeback's lines). Text is drawn with the embedded DejaVu Sans, so a PNG looks
//! the same on a machine without fonts.
//!
//! A report asks for a chart in its header:
//! `-- chart: line x=date y=cost series=group unit=currency` (one line per value of `series`)
//! or `-- chart: bar x=served_entity_name y=input_tokens,output_tokens unit=tokens` (one stacked
//! part per `y` column), and `-- chart_title: ...`. The unit of the values is `unit=TEXT`, or
//! `unit_column=COL` when a column holds it (the currency).

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// At most this many series are drawn; the smallest of the rest are summed into "other".
const MAX_SERIES: usize = 10;
/// At most this many bars; the rest are summed into one "other" bar.
const MAX_BARS: usize = 25;
const WIDTH: u32 = 1200;
const FONT: &str = "sans-serif";

/// Tableau 10: distinct, and readable by most colour-blind people.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Line,
    Bar,
}

/// What a report's header asks to draw.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChartSpec {
    pub kind: ChartKind,
    pub title: String,
    pub x: String,
    pub y: Vec<String>,
    pub series: Option<String>,
    pub unit: Option<String>,
    pub unit_column: Option<String>,
}

impl ChartSpec {
    /// Parses `line x=COL y=COL[,COL...] [series=COL] [unit=TEXT | unit_column=COL]`.
    pub fn parse(spec: &str, title: &str) -> Result<Self> {
        let bad = |why: String| Error::Internal(format!("chart spec {spec:?}: {why}"));
        let mut words = spec.split_whitespace();
        let kind = match words.next() {
            Some("line") => ChartKind::Line,
            Some("bar") => ChartKind::Bar,
            other => return Err(bad(format!("kind {other:?} is not line or bar"))),
        };
        let (mut x, mut y, mut series, mut unit, mut unit_column) = (None, Vec::new(), None, None, None);
        for word in words {
            match word.split_once('=') {
                Some(("x", v)) => x = Some(v.to_string()),
                Some(("y", v)) => y = v.split(',').map(str::to_string).collect(),
                Some(("series", v)) => series = Some(v.to_string()),
                Some(("unit", v)) => unit = Some(v.to_string()),
                Some(("unit_column", v)) => unit_column = Some(v.to_string()),
                _ => return Err(bad(format!("{word:?} is not x=, y=, series=, unit= or unit_column="))),
            }
        }
        let x = x.ok_or_else(|| bad("no x=".into()))?;
        if y.is_empty() || (series.is_some() && y.len() > 1) {
            return Err(bad("needs y=COL with series=, or y=COL,COL,... without".into()));
        }
        Ok(Self { kind, title: title.to_string(), x, y, series, unit, unit_column })
    }
}

/// Data to draw: a value per category and series.
#[derive(Debug, Clone)]
pub struct Chart {
    pub kind: ChartKind,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    categories: Vec<String>,
    series: Vec<String>,
    values: BTreeMap<(usize, usize), f64>,
}

impl Chart {
    pub fn new(kind: ChartKind, title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            kind,
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            categories: Vec::new(),
            series: Vec::new(),
            values: BTreeMap::new(),
        }
    }

    /// Adds `value` to the point of `category` in `series` (categories and series keep the
    /// order they first appear in).
    pub fn add(&mut self, category: &str, series: &str, value: f64) {
        let index = |names: &mut Vec<String>, name: &str| {
            names.iter().position(|n| n == name).unwrap_or_else(|| {
                names.push(name.to_string());
                names.len() - 1
            })
        };
        let c = index(&mut self.categories, category);
        let s = index(&mut self.series, series);
        *self.values.entry((c, s)).or_default() += value;
    }

    /// The series' names, in drawing order.
    pub fn series_names(&self) -> &[String] {
        &self.series
    }

    /// The chart of a query result, as `spec` says.
    pub fn from_batches(spec: &ChartSpec, batches: &[RecordBatch]) -> Result<Self> {
        let column = |batch: &RecordBatch, name: &str, to: &DataType| -> Result<arrow::array::ArrayRef> {
            let c = batch
                .column_by_name(name)
                .ok_or_else(|| Error::Internal(format!("chart: the result has no column {name}")))?;
            Ok(arrow::compute::cast(c, to)?)
        };
        let mut units = Vec::<String>::new();
        let mut chart = Chart::new(spec.kind, &spec.title, &spec.x, "");
        for batch in batches {
            let x = column(batch, &spec.x, &DataType::Utf8)?;
            let ys = spec.y.iter().map(|y| column(batch, y, &DataType::Float64)).collect::<Result<Vec<_>>>()?;
            let series = spec.series.as_deref().map(|s| column(batch, s, &DataType::Utf8)).transpose()?;
            let unit = spec.unit_column.as_deref().map(|u| column(batch, u, &DataType::Utf8)).transpose()?;
            for row in 0..batch.num_rows() {
                let text = |a: &arrow::array::ArrayRef| {
                    let a = a.as_string::<i32>();
                    if a.is_valid(row) { a.value(row).to_string() } else { "(none)".to_string() }
                };
                if let Some(u) = &unit
                    && u.is_valid(row)
                {
                    let u = text(u);
                    if !units.contains(&u) {
                        units.push(u);
                    }
                }
                for (i, y) in ys.iter().enumerate() {
                    let y = y.as_primitive::<Float64Type>();
                    let name = series.as_ref().map_or_else(|| spec.y[i].clone(), text);
                    // a NULL (unpriced) is not drawn as a zero, only left out
                    if y.is_valid(row) {
                        chart.add(&text(&x), &name, y.value(row));
                    }
                }
            }
        }
        let unit = spec.unit.clone().unwrap_or_else(|| units.join(" / "));
        chart.y_label = match (spec.y.as_slice(), unit.is_empty()) {
            ([y], false) => format!("{y} ({unit})"),
            ([y], true) => y.clone(),
            (_, _) => unit,
        };
        if spec.kind == ChartKind::Line {
            chart.sort_categories();
        }
        Ok(chart)
    }

    /// Orders the categories (an x axis of dates or hours) ascending.
    fn sort_categories(&mut self) {
        let mut order: Vec<usize> = (0..self.categories.len()).collect();
        order.sort_by(|a, b| self.categories[*a].cmp(&self.categories[*b]));
        let new_index: BTreeMap<usize, usize> = order.iter().enumerate().map(|(new, old)| (*old, new)).collect();
        self.categories = order.iter().map(|i| self.categories[*i].clone()).collect();
        self.values = std::mem::take(&mut self.values).into_iter().map(|((c, s), v)| ((new_index[&c], s), v)).collect();
    }

    /// Keeps the `max` series with the largest totals (and bars with the largest totals), the
    /// rest summed into one "other" series or bar, so a chart stays readable.
    fn limited(&self) -> Chart {
        let mut out = Chart::new(self.kind, &self.title, &self.x_label, &self.y_label);
        let totals = |by_series: bool| {
            let mut t: BTreeMap<usize, f64> = BTreeMap::new();
            for ((c, s), v) in &self.values {
                *t.entry(if by_series { *s } else { *c }).or_default() += v.abs();
            }
            t
        };
        let keep = |count: usize, max: usize, totals: BTreeMap<usize, f64>| -> Vec<bool> {
            if count <= max {
                return vec![true; count];
            }
            let mut ranked: Vec<(usize, f64)> = totals.into_iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut keep = vec![false; count];
            for (i, _) in ranked.into_iter().take(max - 1) {
                keep[i] = true;
            }
            keep
        };
        let keep_series = keep(self.series.len(), MAX_SERIES, totals(true));
        let keep_bars = if self.kind == ChartKind::Bar {
            keep(self.categories.len(), MAX_BARS, totals(false))
        } else {
            vec![true; self.categories.len()]
        };
        let other_series = format!("other ({})", keep_series.iter().filter(|k| !**k).count());
        let other_bars = format!("other ({})", keep_bars.iter().filter(|k| !**k).count());
        // categories first, in order, so that "other" comes last
        for (c, name) in self.categories.iter().enumerate() {
            if keep_bars[c] {
                out.categories.push(name.clone());
            }
        }
        if keep_bars.contains(&false) {
            out.categories.push(other_bars.clone());
        }
        for (s, name) in self.series.iter().enumerate() {
            if keep_series[s] {
                out.series.push(name.clone());
            }
        }
        for ((c, s), v) in &self.values {
            let category = if keep_bars[*c] { &self.categories[*c] } else { &other_bars };
            let series = if keep_series[*s] { &self.series[*s] } else { &other_series };
            out.add(category, series, *v);
        }
        out
    }

    /// Draws the chart to `path`: SVG or PNG by its extension.
    pub fn render(&self, path: &Path) -> Result<()> {
        register_font()?;
        let chart = self.limited();
        let height = match chart.kind {
            ChartKind::Line => 650,
            ChartKind::Bar => (140 + 28 * chart.categories.len() as u32).max(420),
        };
        let failed = |e: String| Error::Internal(format!("drawing the chart {}: {e}", path.display()));
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("svg") => {
                let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
                chart.draw(&root).map_err(failed)?;
                root.present().map_err(|e| failed(e.to_string()))
            }
            Some("png") => {
                let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
                chart.draw(&root).map_err(failed)?;
                root.present().map_err(|e| failed(e.to_string()))
            }
            _ => Err(Error::Usage(format!("--chart {}: the file name must end in .svg or .png", path.display()))),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> std::result::Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let body = root.titled(&self.title, (FONT, 26)).map_err(e)?;
        let legend_width = 40 + 8 * self.series.iter().map(|s| s.chars().count()).max().unwrap_or(0).min(32) as u32;
        let (plot, legend) = body.split_horizontally(body.dim_in_pixel().0.saturating_sub(legend_width));
        match self.kind {
            ChartKind::Line => self.draw_lines(&plot).map_err(e)?,
            ChartKind::Bar => self.draw_bars(&plot).map_err(e)?,
        }
        for (i, name) in self.series.iter().enumerate() {
            let y = 40 + 24 * i as i32;
            let color = PALETTE[i % PALETTE.len()];
            legend.draw(&Rectangle::new([(8, y), (24, y + 14)], color.filled())).map_err(e)?;
            legend.draw(&Text::new(name.clone(), (32, y), (FONT, 15))).map_err(e)?;
        }
        Ok(())
    }

    fn max_value(&self, stacked: bool) -> f64 {
        let mut per_category: BTreeMap<usize, f64> = BTreeMap::new();
        for ((c, _), v) in &self.values {
            let m = per_category.entry(*c).or_default();
            *m = if stacked { *m + v.max(0.0) } else { m.max(*v) };
        }
        per_category.values().copied().fold(0.0, f64::max).max(f64::MIN_POSITIVE) * 1.08
    }

    fn draw_lines<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let n = self.categories.len();
        let labels = &self.categories;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..(n.max(2) - 1) as f64, 0f64..self.max_value(false))?;
        let x_label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < n {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(n.min(8))
            .x_label_formatter(&x_label)
            .y_label_formatter(&|v| human(*v))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(WHITE)
            .draw()?;
        for (s, _) in self.series.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            // a category without a value for the series is a zero (no spend that day)
            let points = (0..n).map(|c| (c as f64, self.values.get(&(c, s)).copied().unwrap_or(0.0)));
            chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
        }
        Ok(())
    }

    fn draw_bars<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let n = self.categories.len() as i32;
        let longest = self.categories.iter().map(|c| c.chars().count()).max().unwrap_or(0) as u32;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size((8 * longest + 24).clamp(80, 340))
            .build_cartesian_2d(0f64..self.max_value(true), (0..n).into_segmented())?;
        let labels = &self.categories;
        // the first category at the top
        let category = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) if (0..n).contains(i) => {
                labels[(n - 1 - i) as usize].clone()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .x_desc(&self.y_label)
            .y_desc(&self.x_label)
            .y_labels(n as usize)
            .y_label_formatter(&category)
            .x_label_formatter(&|v| human(*v))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(WHITE)
            .disable_y_mesh()
            .draw()?;
        for c in 0..n {
            let row = n - 1 - c;
            let mut start = 0.0;
            for (s, _) in self.series.iter().enumerate() {
                let Some(v) = self.values.get(&(c as usize, s)).copied().filter(|v| *v > 0.0) else { continue };
                let color = PALETTE[s % PALETTE.len()];
                let mut bar = Rectangle::new(
                    [(start, SegmentValue::Exact(row)), (start + v, SegmentValue::Exact(row + 1))],
                    color.filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                chart.draw_series(std::iter::once(bar))?;
                start += v;
            }
        }
        Ok(())
    }
}

/// `1234567` -> `1.2M`: axis labels that read at a glance.
fn human(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = match a {
        a if a >= 1e9 => (v / 1e9, "B"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let text = if scaled.fract().abs() < 1e-9 {
        format!("{scaled:.0}")
    } else if a < 1.0 {
        format!("{scaled:.3}")
    } else {
        format!("{scaled:.1}")
    };
    format!("{text}{suffix}")
}

fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok { Ok(()) } else { Err(Error::Internal("the embedded chart font does not load".into())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_are_refused() {
        let s = ChartSpec::parse("line x=date y=cost series=group unit_column=currency", "T").unwrap();
        assert_eq!(s.unit_column.as_deref(), Some("currency"));
        assert_eq!(
            (s.kind, s.x.as_str(), s.y.clone(), s.series.as_deref()),
            (ChartKind::Line, "date", vec!["cost".to_string()], Some("group"))
        );
        assert!(ChartSpec::parse("pie x=a y=b", "T").is_err());
        assert!(ChartSpec::parse("bar x=a y=b,c series=d", "T").is_err());
        assert!(ChartSpec::parse("bar y=b", "T").is_err());
    }

    #[test]
    fn many_series_are_limited_with_an_other_series_holding_the_rest() {
        let mut c = Chart::new(ChartKind::Line, "t", "x", "y");
        for s in 0..15 {
            c.add("d1", &format!("s{s:02}"), s as f64);
        }
        let l = c.limited();
        assert_eq!(l.series.len(), MAX_SERIES);
        assert_eq!(l.series.last().unwrap(), "other (6)");
        let total: f64 = l.values.values().sum();
        assert_eq!(total, (0..15).sum::<i32>() as f64, "nothing is dropped");
        assert!(l.series.contains(&"s14".to_string()) && !l.series.contains(&"s00".to_string()));
    }

    #[test]
    fn line_categories_are_sorted_with_their_values() {
        let mut c = Chart::new(ChartKind::Line, "t", "x", "y");
        c.add("2025-01-02", "a", 2.0);
        c.add("2025-01-01", "a", 1.0);
        c.sort_categories();
        assert_eq!(c.categories, ["2025-01-01", "2025-01-02"]);
        assert_eq!(c.values[&(0, 0)], 1.0);
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(human(1_234_567.0), "1.2M");
        assert_eq!(human(2000.0), "2k");
        assert_eq!(human(12.5), "12.5");
        assert_eq!(human(0.25), "0.250");
    }
}
