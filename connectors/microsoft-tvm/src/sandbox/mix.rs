//! Deterministic draws. Every synthetic value and every seeded fault decision
//! is a pure function of the seed and a few indices (splitmix64), so any row
//! of any page can be computed on its own, in any order, with no stored state.

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 output function: a strong 64-bit mixer.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A short stream of pseudo-random numbers keyed by a seed and indices.
#[derive(Debug, Clone)]
pub(crate) struct Draw {
    state: u64,
}

impl Draw {
    /// The stream for `keys` (a purpose tag first, then indices) under `seed`.
    pub(crate) fn new(seed: u64, keys: &[u64]) -> Self {
        let mut state = finalize(seed.wrapping_add(GOLDEN_GAMMA));
        for key in keys {
            state = finalize(state ^ key.wrapping_mul(GOLDEN_GAMMA).wrapping_add(GOLDEN_GAMMA));
        }
        Self { state }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        finalize(self.state)
    }

    /// A number in `0..n` (0 when `n` is 0); the modulo bias is irrelevant here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A number in `low..=high`.
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low) + 1)
    }

    /// A float in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Days until an event of daily `probability` first happens (at least 1).
    pub(crate) fn days_until(&mut self, probability: f64) -> u32 {
        // Inverse transform of the geometric distribution; `1 - unit` avoids ln(0).
        let uniform = 1.0 - self.unit();
        let days = 1.0 + (uniform.ln() / (1.0 - probability).ln()).floor();
        if days >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            days as u32
        }
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Picks from `(item, weight)` pairs; `items` must not be empty.
    pub(crate) fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, weight)| u64::from(*weight)).sum();
        let mut ticket = self.below(total);
        for (item, weight) in items {
            if ticket < u64::from(*weight) {
                return item;
            }
            ticket -= u64::from(*weight);
        }
        &items[items.len() - 1].0
    }

    /// `n` lowercase hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n);
        while out.len() < n {
            let word = self.next_u64();
            for shift in (0..16).rev() {
                if out.len() == n {
                    break;
                }
                let digit = ((word >> (shift * 4)) & 0xF) as u32;
                out.push(char::from_digit(digit, 16).unwrap_or('0'));
            }
        }
        out
    }

    /// A GUID-shaped string (lowercase, hyphenated).
    pub(crate) fn guid(&mut self) -> String {
        let hex = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_keys_give_same_numbers_and_different_keys_differ() {
        let first: Vec<u64> = (0..4).map(|_| Draw::new(7, &[1, 2]).next_u64()).collect();
        assert!(first.windows(2).all(|pair| pair[0] == pair[1]));
        assert_ne!(
            Draw::new(7, &[1, 2]).next_u64(),
            Draw::new(7, &[1, 3]).next_u64()
        );
        assert_ne!(
            Draw::new(7, &[1, 2]).next_u64(),
            Draw::new(8, &[1, 2]).next_u64()
        );
    }

    #[test]
    fn hex_and_guid_have_the_right_shape() {
        let mut draw = Draw::new(1, &[9]);
        let hex = draw.hex(40);
        assert_eq!(hex.len(), 40);
        assert!(hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let guid = draw.guid();
        assert_eq!(guid.len(), 36);
        assert_eq!(guid.matches('-').count(), 4);
    }

    #[test]
    fn days_until_is_at_least_one_and_roughly_geometric() {
        let mut draw = Draw::new(3, &[4]);
        let samples: Vec<u32> = (0..20_000).map(|_| draw.days_until(0.05)).collect();
        assert!(samples.iter().all(|days| *days >= 1));
        let mean = samples.iter().map(|days| f64::from(*days)).sum::<f64>() / 20_000.0;
        assert!((mean - 20.0).abs() < 1.5, "mean {mean}");
    }
}
