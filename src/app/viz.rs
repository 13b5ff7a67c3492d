//! Pictures the web app draws, computed as plain data so they are tested natively:
//! the channel-importance heatmap, the share of importance each layer loses, and the
//! bake-off's line chart.

/// Pixel rows per layer in [`heatmap`].
pub const ROW: usize = 8;

/// A perceptual-ish dark-blue → yellow ramp for `x` in 0..=1.
pub fn color(x: f64) -> [u8; 3] {
    const STOPS: [[f64; 3]; 5] =
        [[13.0, 8.0, 135.0], [126.0, 3.0, 168.0], [204.0, 71.0, 120.0], [248.0, 149.0, 64.0], [240.0, 249.0, 33.0]];
    let x = x.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let (i, f) = ((x.floor() as usize).min(STOPS.len() - 2), x - x.floor());
    let c = |k: usize| (STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * f) as u8;
    [c(0), c(1), c(2)]
}

/// RGBA pixels of the heatmap, `width` columns (channels binned by rank) × `ROW` per layer.
pub fn heatmap(importance: &[Vec<f64>], width: usize) -> Vec<u8> {
    let logs: Vec<Vec<f64>> = importance
        .iter()
        .map(|l| {
            let mut v: Vec<f64> = l.iter().map(|&x| x.max(1e-30).log10()).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            v
        })
        .collect();
    // A few outlier channels are orders of magnitude above the rest: scale between the
    // 1st and 99th percentiles so the bulk of the channels is visible.
    let mut all: Vec<f64> = logs.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0.0);
    let (lo, hi) = (pct(0.01), pct(0.99));
    let span = (hi - lo).max(1e-12);
    let mut px = Vec::with_capacity(width * ROW * logs.len() * 4);
    for layer in &logs {
        let n = layer.len();
        let row: Vec<[u8; 3]> = (0..width)
            .map(|x| {
                let (a, b) = (x * n / width, ((x + 1) * n / width).max(x * n / width + 1).min(n));
                color((layer[a..b].iter().sum::<f64>() / (b - a) as f64 - lo) / span)
            })
            .collect();
        for _ in 0..ROW {
            for c in &row {
                px.extend_from_slice(&[c[0], c[1], c[2], 255]);
            }
        }
    }
    px
}

/// Per layer, the share of its total importance carried by the channels not in `kept`.
pub fn removed_shares(importance: &[Vec<f64>], kept: &[Vec<u32>]) -> Vec<f64> {
    importance
        .iter()
        .zip(kept)
        .map(|(imp, kept)| {
            let total: f64 = imp.iter().sum();
            let kept_sum: f64 = kept.iter().map(|&c| imp[c as usize]).sum();
            1.0 - kept_sum / total.max(f64::MIN_POSITIVE)
        })
        .collect()
}

/// A line chart in SVG user units: one polyline per series, axes with ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Width and height of the whole picture.
    pub size: (f64, f64),
    /// The plot area: left, top, right, bottom.
    pub area: (f64, f64, f64, f64),
    /// The series, in the order given.
    pub series: Vec<Line>,
    /// Ticks on the x axis: position and label.
    pub x_ticks: Vec<(f64, String)>,
    /// Ticks on the y axis: position and label.
    pub y_ticks: Vec<(f64, String)>,
}

/// One series of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Its name, for the legend.
    pub name: String,
    /// A colour that tells it from the others.
    pub color: String,
    /// Its points in picture units, sorted by x.
    pub points: Vec<(f64, f64)>,
}

impl Line {
    /// The `points` attribute of an SVG polyline.
    pub fn svg_points(&self) -> String {
        self.points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")
    }
}

/// Colours for up to ten series (after Tableau 10), told apart by people with the
/// common colour-vision deficiencies better than a hue ramp.
const SERIES_COLORS: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/// Percent ticks every `step` from `lo` to `hi`.
fn percent_ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A chart of `series` (name, points of share x in 0..1 and share y in 0..1) in a
/// `width` × `height` picture: x from 0 to the largest x rounded up to 10 %, y from the
/// smallest y rounded down to 10 % to 100 %.
pub fn line_chart(series: &[(String, Vec<(f64, f64)>)], width: f64, height: f64) -> LineChart {
    let area = (48.0, 12.0, width - 12.0, height - 36.0);
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_hi, mut y_lo) = (0.1f64, 1.0f64);
    for &(x, y) in all.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x_hi = x_hi.max(x);
        y_lo = y_lo.min(y);
    }
    let x_hi = ((x_hi * 10.0 - 1e-9).ceil() / 10.0).clamp(0.1, 1.0);
    let y_lo = ((y_lo * 10.0 + 1e-9).floor() / 10.0).clamp(0.0, 0.9);
    let px = |x: f64| area.0 + (area.2 - area.0) * (x / x_hi);
    let py = |y: f64| area.3 - (area.3 - area.1) * ((y - y_lo) / (1.0 - y_lo));
    let lines = series
        .iter()
        .enumerate()
        .map(|(i, (name, pts))| {
            let mut points: Vec<(f64, f64)> =
                pts.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|&(x, y)| (px(x), py(y))).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Line { name: name.clone(), color: SERIES_COLORS[i % SERIES_COLORS.len()].into(), points }
        })
        .collect();
    let x_step = if x_hi > 0.5 { 0.1 } else { 0.05 };
    LineChart {
        size: (width, height),
        area,
        series: lines,
        x_ticks: percent_ticks(0.0, x_hi, x_step).into_iter().map(|x| (px(x), format!("{:.0}%", 100.0 * x))).collect(),
        y_ticks: percent_ticks(y_lo, 1.0, 0.1).into_iter().map(|y| (py(y), format!("{:.0}%", 100.0 * y))).collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn heatmap_has_one_band_per_layer() {
        let px = super::heatmap(&[vec![1.0, 10.0, 100.0], vec![0.0, 1.0, 2.0]], 3);
        assert_eq!(px.len(), 3 * super::ROW * 2 * 4);
        // Sorted descending: the brightest (largest) value comes first in each row.
        assert_eq!(&px[..3], &super::color(1.0));
    }

    #[test]
    fn line_chart_maps_shares_into_the_plot_area() {
        let series =
            vec![("a".to_string(), vec![(0.35, 0.6), (0.2, 0.8)]), ("b".to_string(), vec![(0.2, 0.75), (f64::NAN, 0.5), (0.5, 0.42)])];
        let c = super::line_chart(&series, 400.0, 240.0);
        let (left, top, right, bottom) = c.area;
        // x runs 0..50 %, y 40..100 %: (0.5, 0.42) is near the right edge, 0.4 at the bottom.
        assert_eq!(c.x_ticks.first().unwrap(), &(left, "0%".to_string()));
        assert_eq!(c.x_ticks.last().unwrap(), &(right, "50%".to_string()));
        assert_eq!(c.y_ticks.first().unwrap(), &(bottom, "40%".to_string()));
        assert_eq!(c.y_ticks.last().unwrap().1, "100%");
        assert!((c.y_ticks.last().unwrap().0 - top).abs() < 1e-9);
        // Sorted by x, the NaN point left out, every point inside the area.
        let a = &c.series[0].points;
        assert!(a[0].0 < a[1].0 && a[0].1 < a[1].1, "20% removed agrees more, so it is drawn higher: {a:?}");
        assert_eq!(c.series[1].points.len(), 2);
        for &(x, y) in c.series.iter().flat_map(|l| &l.points) {
            assert!((left..=right).contains(&x) && (top..=bottom).contains(&y), "({x}, {y})");
        }
        assert_ne!(c.series[0].color, c.series[1].color);
        assert_eq!(c.series[0].svg_points().split(' ').count(), 2);
    }

    #[test]
    fn removed_share_is_the_importance_outside_the_kept_channels() {
        let s = super::removed_shares(&[vec![1.0, 2.0, 7.0], vec![5.0, 5.0, 0.0]], &[vec![2], vec![0, 1]]);
        assert!((s[0] - 0.3).abs() < 1e-12 && s[1] == 0.0, "{s:?}");
    }
}
