//! Progress bars for the long steps (ingest, rollup): drawn on a terminal, hidden otherwise,
//! one look for every command.

use indicatif::{ProgressBar, ProgressStyle};

/// What a bar counts.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// Input bytes, shown as MiB with a rate.
    Bytes,
    /// Rows (requests), shown with thousands separators and a rate.
    Rows,
}

/// A bar to `total`, or a hidden one when `enabled` is false (not a terminal, `--quiet`,
/// `--format json`).
pub fn bar(total: u64, unit: Unit, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let counts = match unit {
        Unit::Bytes => "{binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec})",
        Unit::Rows => "{human_pos}/{human_len} requests ({per_sec:0})",
    };
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {{prefix}} [{{elapsed_precise}}] {{wide_bar}} {counts} {{msg}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
