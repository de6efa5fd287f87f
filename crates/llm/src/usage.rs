//! Token usage, normalised across providers, and its cost.
use serde::{Deserialize, Serialize};

/// Tokens one call used. `input_tokens` counts only uncached prompt tokens; cache writes and reads
/// are separate because providers price them separately. `None` means the provider did not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens neither written to nor read from a cache.
    pub input_tokens: Option<u32>,
    /// Completion tokens.
    pub output_tokens: Option<u32>,
    /// Prompt tokens written to the provider's cache (Anthropic `cache_creation_input_tokens`).
    pub cache_write_tokens: Option<u32>,
    /// Prompt tokens read from the cache (Anthropic `cache_read_input_tokens`, OpenAI `cached_tokens`).
    pub cache_read_tokens: Option<u32>,
}

impl Usage {
    /// All prompt tokens (uncached + cache writes + cache reads), as reported in `input_tokens` on the wire.
    pub fn prompt_tokens(&self) -> Option<u32> {
        let base = self.input_tokens?;
        Some(
            base.saturating_add(self.cache_write_tokens.unwrap_or(0))
                .saturating_add(self.cache_read_tokens.unwrap_or(0)),
        )
    }

    /// Prompt plus completion tokens, when both are known.
    pub fn total_tokens(&self) -> Option<u32> {
        Some(self.prompt_tokens()?.saturating_add(self.output_tokens?))
    }

    /// Overlays the fields `newer` reports on top of `self` (snapshots from a stream are cumulative).
    pub fn merge(&mut self, newer: Usage) {
        if newer.input_tokens.is_some() {
            self.input_tokens = newer.input_tokens;
        }
        if newer.output_tokens.is_some() {
            self.output_tokens = newer.output_tokens;
        }
        if newer.cache_write_tokens.is_some() {
            self.cache_write_tokens = newer.cache_write_tokens;
        }
        if newer.cache_read_tokens.is_some() {
            self.cache_read_tokens = newer.cache_read_tokens;
        }
    }
}

/// Prices in micro-USD per million tokens, so a cost is an exact integer count of pico-USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prices {
    /// Uncached input.
    pub input: u64,
    /// Output.
    pub output: u64,
    /// Cache write.
    pub cache_write: u64,
    /// Cache read.
    pub cache_read: u64,
}

/// Pico-USD per USD.
pub const PICO_PER_USD: u64 = 1_000_000_000_000;

impl Prices {
    /// Builds prices from USD per million tokens (the form price lists use), rounded to the micro-USD.
    pub fn from_usd_per_million(
        input: f64,
        output: f64,
        cache_write: f64,
        cache_read: f64,
    ) -> Self {
        let micro = |usd: f64| (usd * 1_000_000.0).round().max(0.0) as u64;
        Prices {
            input: micro(input),
            output: micro(output),
            cache_write: micro(cache_write),
            cache_read: micro(cache_read),
        }
    }

    /// Exact cost in pico-USD (micro-USD per million tokens × tokens), or `None` when a count is missing.
    pub fn cost_pico_usd(&self, usage: &Usage) -> Option<u64> {
        let input = u64::from(usage.input_tokens?);
        let output = u64::from(usage.output_tokens?);
        let cw = u64::from(usage.cache_write_tokens.unwrap_or(0));
        let cr = u64::from(usage.cache_read_tokens.unwrap_or(0));
        Some(
            input
                .saturating_mul(self.input)
                .saturating_add(output.saturating_mul(self.output))
                .saturating_add(cw.saturating_mul(self.cache_write))
                .saturating_add(cr.saturating_mul(self.cache_read)),
        )
    }

    /// Cost in USD as a float, for the wire's `cost_usd`.
    pub fn cost_usd(&self, usage: &Usage) -> Option<f64> {
        self.cost_pico_usd(usage)
            .map(|p| p as f64 / PICO_PER_USD as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_exact_integer_math() {
        let p = Prices::from_usd_per_million(3.0, 15.0, 3.75, 0.30);
        let u = Usage {
            input_tokens: Some(1000),
            output_tokens: Some(200),
            cache_write_tokens: Some(100),
            cache_read_tokens: Some(5000),
        };
        // 1000*3 + 200*15 + 100*3.75 + 5000*0.3 = 3000+3000+375+1500 = 7875 micro-USD
        assert_eq!(p.cost_pico_usd(&u), Some(7_875_000_000));
        assert_eq!(u.prompt_tokens(), Some(6100));
        assert_eq!(u.total_tokens(), Some(6300));
    }

    #[test]
    fn unknown_counts_give_no_cost() {
        let p = Prices::from_usd_per_million(1.0, 1.0, 1.0, 1.0);
        let u = Usage {
            input_tokens: Some(1),
            ..Default::default()
        };
        assert_eq!(p.cost_pico_usd(&u), None);
        assert_eq!(u.total_tokens(), None);
    }

    #[test]
    fn merge_keeps_latest_snapshot() {
        let mut u = Usage {
            input_tokens: Some(10),
            output_tokens: Some(1),
            ..Default::default()
        };
        u.merge(Usage {
            output_tokens: Some(42),
            ..Default::default()
        });
        assert_eq!(u.input_tokens, Some(10));
        assert_eq!(u.output_tokens, Some(42));
    }
}
