//! `--chart` on reports and on the chargeback: valid SVG with one line per group, PNG files of
//! the promised size, and a clear error for any other file type.

use crate::reports::fixture;

/// The SVG's lines drawn with the series' stroke (axes and ticks are 1 px wide, series 2 px),
/// by colour, and every text in it.
fn svg_series_and_texts(svg: &str) -> (Vec<String>, Vec<String>) {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not valid SVG ({e}):\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let series = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
        .map(|n| n.attribute("stroke").unwrap().to_string())
        .collect();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect();
    (series, texts)
}

#[test]
fn a_line_chart_has_one_series_per_group_with_title_axes_and_legend() {
    let env = fixture();
    let svg = env.path("spend.svg");
    env.ok(&["report", "daily_spend", "--chart", svg.to_str().unwrap()]);
    let (series, texts) = svg_series_and_texts(&std::fs::read_to_string(&svg).unwrap());
    // the groups with priced spend: ds (alice), unassigned (dave), web (bob, carol)
    assert_eq!(series.len(), 3, "{series:?}");
    let mut colours = series.clone();
    colours.dedup();
    assert_eq!(colours.len(), 3, "each series its own colour: {series:?}");
    for t in ["Spend per group per day", "cost (USD)", "date", "ds", "unassigned", "web", "2025-03-02"] {
        assert!(texts.iter().any(|x| x == t), "{t:?} not in {texts:?}");
    }
}

#[test]
fn bar_charts_are_png_or_svg_and_the_chargeback_draws_its_charges() {
    let env = fixture();
    let png = env.path("tokens.png");
    env.ok(&["report", "tokens_by_entity", "--chart", png.to_str().unwrap()]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    let (width, height) =
        (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap()));
    assert_eq!((width, height), (1200, 420), "five entities fit the smallest bar chart");

    let svg = env.path("cb.svg");
    env.ok(&["chargeback", "--period", "2025-03", "--by", "group", "--chart", svg.to_str().unwrap()]);
    let (_, texts) = svg_series_and_texts(&std::fs::read_to_string(&svg).unwrap());
    for t in ["Chargeback 2025-03-01 .. 2025-03-31 by group", "cost (USD)", "usage", "capacity", "idle", "ds", "ml"] {
        assert!(texts.iter().any(|x| x == t), "{t:?} not in {texts:?}");
    }
    let err = env.fails(&["report", "daily_spend", "--chart", "spend.pdf"], 2);
    assert!(err.contains(".svg or .png"), "{err}");
}
