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
    /// Rates for a whole request whose prompt is over a threshold, where the provider prices one.
    pub long_context: Option<LongContextPrices>,
}

/// A long-context tier: when a request's prompt (uncached + cache writes + cache reads) exceeds
/// `above_prompt_tokens`, every token of that request, output included, is billed at these rates
/// (how Anthropic and OpenAI both define their tiers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LongContextPrices {
    /// The tier applies when the prompt has strictly more tokens than this.
    pub above_prompt_tokens: u32,
    /// Uncached input, micro-USD per million tokens.
    pub input: u64,
    /// Output.
    pub output: u64,
    /// Cache write.
    pub cache_write: u64,
    /// Cache read.
    pub cache_read: u64,
}

fn micro(usd: f64) -> u64 {
    (usd * 1_000_000.0).round().max(0.0) as u64
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
        Prices {
            input: micro(input),
            output: micro(output),
            cache_write: micro(cache_write),
            cache_read: micro(cache_read),
            long_context: None,
        }
    }

    /// Adds a long-context tier, prices in USD per million tokens like [`Self::from_usd_per_million`].
    pub fn with_long_context(
        mut self,
        above_prompt_tokens: u32,
        input: f64,
        output: f64,
        cache_write: f64,
        cache_read: f64,
    ) -> Self {
        self.long_context = Some(LongContextPrices {
            above_prompt_tokens,
            input: micro(input),
            output: micro(output),
            cache_write: micro(cache_write),
            cache_read: micro(cache_read),
        });
        self
    }

    /// The (input, output, cache write, cache read) rates that apply to `usage`.
    fn rates_for(&self, usage: &Usage) -> (u64, u64, u64, u64) {
        match (self.long_context, usage.prompt_tokens()) {
            (Some(lc), Some(prompt)) if prompt > lc.above_prompt_tokens => {
                (lc.input, lc.output, lc.cache_write, lc.cache_read)
            }
            _ => (self.input, self.output, self.cache_write, self.cache_read),
        }
    }

    /// Exact cost in pico-USD (micro-USD per million tokens × tokens), or `None` when a count is missing.
    /// Cache writes and reads are priced at their own rates; a prompt past the long-context
    /// threshold prices the whole request at the tier's rates.
    pub fn cost_pico_usd(&self, usage: &Usage) -> Option<u64> {
        let input = u64::from(usage.input_tokens?);
        let output = u64::from(usage.output_tokens?);
        let cw = u64::from(usage.cache_write_tokens.unwrap_or(0));
        let cr = u64::from(usage.cache_read_tokens.unwrap_or(0));
        let (p_in, p_out, p_cw, p_cr) = self.rates_for(usage);
        Some(
            input
                .saturating_mul(p_in)
                .saturating_add(output.saturating_mul(p_out))
                .saturating_add(cw.saturating_mul(p_cw))
                .saturating_add(cr.saturating_mul(p_cr)),
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
    fn long_context_tier_prices_the_whole_request_past_the_threshold() {
        // Claude Haiku 5.5's published tiers: prompts over 100,000 tokens.
        let p = Prices::from_usd_per_million(0.10, 0.50, 0.125, 0.01)
            .with_long_context(100_000, 0.50, 2.50, 0.625, 0.05);
        // Exactly at the threshold (cache tokens count towards the prompt): short rates.
        let at = Usage {
            input_tokens: Some(40_000),
            output_tokens: Some(1_000),
            cache_write_tokens: Some(10_000),
            cache_read_tokens: Some(50_000),
        };
        // 40000*0.10 + 1000*0.50 + 10000*0.125 + 50000*0.01 = 4000+500+1250+500 micro-USD
        assert_eq!(p.cost_pico_usd(&at), Some(6_250_000_000));
        // One token more: every token at the long rates.
        let over = Usage {
            input_tokens: Some(40_001),
            ..at
        };
        // 40001*0.50 + 1000*2.50 + 10000*0.625 + 50000*0.05 = 20000.5+2500+6250+2500 micro-USD
        assert_eq!(p.cost_pico_usd(&over), Some(31_250_500_000));
        // Without a tier the same usage stays on the base rates.
        let flat = Prices::from_usd_per_million(0.10, 0.50, 0.125, 0.01);
        assert_eq!(flat.cost_pico_usd(&over), Some(6_250_100_000));
    }

    #[test]
    fn huge_counts_saturate_instead_of_wrapping() {
        let p = Prices::from_usd_per_million(1e12, 1e12, 1e12, 1e12);
        let u = Usage {
            input_tokens: Some(u32::MAX),
            output_tokens: Some(u32::MAX),
            cache_write_tokens: Some(u32::MAX),
            cache_read_tokens: Some(u32::MAX),
        };
        assert_eq!(p.cost_pico_usd(&u), Some(u64::MAX));
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
