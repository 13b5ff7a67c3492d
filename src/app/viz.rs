//! Pictures the web app draws, computed as plain data so they are tested natively:
//! the channel-importance heatmap and the share of importance each layer loses.

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
    fn removed_share_is_the_importance_outside_the_kept_channels() {
        let s = super::removed_shares(&[vec![1.0, 2.0, 7.0], vec![5.0, 5.0, 0.0]], &[vec![2], vec![0, 1]]);
        assert!((s[0] - 0.3).abs() < 1e-12 && s[1] == 0.0, "{s:?}");
    }
}
