//! Scripted replies: what the mock answers and which faults it injects.

use std::time::Duration;

/// Token usage the mock reports for one reply.
///
/// `input_tokens` is the *uncached* input. The OpenAI rendering reports
/// `prompt_tokens = input_tokens + cache_read_tokens` and
/// `cached_tokens = cache_read_tokens` (cache writes are not reported by OpenAI); the
/// Anthropic rendering reports all four numbers as they are. Output is reported as at most the
/// request's `max_tokens` (`max_completion_tokens`), as a provider bills it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MockUsage {
    /// Uncached input (prompt) tokens.
    pub input_tokens: u32,
    /// Output (completion) tokens.
    pub output_tokens: u32,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: u32,
    /// Input tokens written to the prompt cache (Anthropic only).
    pub cache_write_tokens: u32,
}

impl MockUsage {
    /// The default usage for a reply text: 10 input tokens, one output token per word (min 1).
    pub fn for_text(text: &str) -> Self {
        let words = text.split_whitespace().count().max(1);
        MockUsage {
            input_tokens: 10,
            output_tokens: u32::try_from(words).unwrap_or(u32::MAX),
            cache_read_tokens: 0,
            cache_write_tokens: 0,
        }
    }
}

/// A fault the mock injects instead of (or in the middle of) a normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with a `retry-after` header (seconds) and the format's rate-limit error body.
    RateLimited {
        /// Value of the `retry-after` header, in seconds.
        retry_after_secs: u64,
    },
    /// HTTP 500 with the format's server error body.
    ServerError,
    /// HTTP 529 `overloaded_error` on Anthropic, HTTP 503 on OpenAI.
    Overloaded,
    /// HTTP 401 with the format's authentication error body, whatever key was sent.
    AuthFailed,
    /// HTTP 400: the prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// Abruptly close the TCP connection after `after_chunks` content deltas of a stream
    /// (non-streaming requests: close before sending any response).
    ResetMidStream {
        /// Content deltas sent before the reset.
        after_chunks: usize,
    },
    /// HTTP 200 whose JSON body (or the SSE data after the stream preamble) is not valid JSON.
    MalformedJson,
    /// Accept the request and never answer (no status line, no headers).
    Stall,
    /// Stream normally for `after_chunks` content deltas, then keep the connection open
    /// without sending anything more (non-streaming requests: same as [`Fault::Stall`]).
    StallMidStream {
        /// Content deltas sent before the stream goes silent.
        after_chunks: usize,
    },
    /// After `after_chunks` content deltas, send an in-stream error and end the stream
    /// (Anthropic: `event: error` with `overloaded_error`; OpenAI: `data: {"error":…}`).
    /// Non-streaming requests get the same answer as [`Fault::ServerError`].
    ErrorEventMidStream {
        /// Content deltas sent before the error event.
        after_chunks: usize,
    },
}

/// One scripted answer of the mock provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockReply {
    /// The assistant text (for a forced Anthropic tool call: the tool input as JSON text).
    pub text: String,
    /// Usage numbers to report.
    pub usage: MockUsage,
    /// Number of text pieces the text is split into when streaming (default 4).
    pub chunks: usize,
    /// Delay before the response headers are sent.
    pub latency: Duration,
    /// Delay between consecutive SSE events of a stream.
    pub chunk_interval: Duration,
    /// Fault to inject, if any.
    pub fault: Option<Fault>,
}

impl MockReply {
    /// A successful reply with `text`, default usage (see [`MockUsage::for_text`]) and 4 chunks.
    pub fn text(s: impl Into<String>) -> Self {
        let text = s.into();
        let usage = MockUsage::for_text(&text);
        MockReply {
            text,
            usage,
            chunks: 4,
            latency: Duration::ZERO,
            chunk_interval: Duration::ZERO,
            fault: None,
        }
    }

    /// A reply that only injects `fault` (the text is the default text).
    pub fn failing(fault: Fault) -> Self {
        MockReply::default().fault(fault)
    }

    /// Sets the usage numbers.
    pub fn usage(mut self, usage: MockUsage) -> Self {
        self.usage = usage;
        self
    }

    /// Sets the number of text pieces used when streaming (at least 1 is used).
    pub fn chunks(mut self, n: usize) -> Self {
        self.chunks = n;
        self
    }

    /// Sets the delay before the response headers.
    pub fn latency(mut self, d: Duration) -> Self {
        self.latency = d;
        self
    }

    /// Sets the delay between consecutive SSE events.
    pub fn chunk_interval(mut self, d: Duration) -> Self {
        self.chunk_interval = d;
        self
    }

    /// Sets the fault to inject.
    pub fn fault(mut self, f: Fault) -> Self {
        self.fault = Some(f);
        self
    }
}

impl Default for MockReply {
    fn default() -> Self {
        MockReply::text("Hello from the mock provider.")
    }
}

/// Splits `text` into at most `n` (at least 1) pieces of roughly equal character counts.
pub(crate) fn split_text(text: &str, n: usize) -> Vec<&str> {
    let chars = text.chars().count();
    let pieces = n.max(1).min(chars.max(1));
    if pieces <= 1 {
        return vec![text];
    }
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    (0..pieces)
        .map(|k| {
            let start = bounds[k * chars / pieces];
            let end = bounds[(k + 1) * chars / pieces];
            &text[start..end]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_text_exactly() {
        for n in 0..12 {
            for text in ["", "a", "héllo wörld", "Hello from the mock provider."] {
                let parts = split_text(text, n);
                assert_eq!(parts.concat(), text);
                assert!(!parts.is_empty());
                assert!(parts.len() <= n.max(1));
            }
        }
        assert_eq!(split_text("abcd", 2), vec!["ab", "cd"]);
    }

    #[test]
    fn default_usage_counts_words() {
        let r = MockReply::text("one two  three");
        assert_eq!(r.usage.input_tokens, 10);
        assert_eq!(r.usage.output_tokens, 3);
        assert_eq!(MockReply::text("").usage.output_tokens, 1);
        assert_eq!(MockReply::default().chunks, 4);
    }
}
