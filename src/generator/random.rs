//! Random helpers: the per-purpose ChaCha8 streams and the draws built on them.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
/// An independent ChaCha8 stream per purpose, so one part of the output never shifts another.
pub(super) fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

pub(super) fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .into_iter()
        .map(|w| {
            total += w;
            total
        })
        .collect()
}

/// Index drawn from cumulative weights with a uniform `u` in [0, 1) (bisect-right, like Python).
pub(super) fn pick(cum: &[f64], u: f64) -> usize {
    let total = cum.last().copied().unwrap_or(0.0);
    let x = u * total;
    cum.partition_point(|&c| c <= x).min(cum.len().saturating_sub(1))
}

pub(super) fn lognormal(rng: &mut ChaCha8Rng, mu: f64, sigma: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    (mu + sigma * z).exp()
}

pub(super) fn unit(rng: &mut ChaCha8Rng) -> f64 {
    rng.random::<f64>()
}

/// 122 random bits with the RFC 4122 version (4) and variant bits set.
pub(super) fn uuid_v4(rng: &mut ChaCha8Rng) -> u128 {
    let bits: u128 = rng.random();
    (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62)
}
