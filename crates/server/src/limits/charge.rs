//! [`Charge`]: an admitted call's reservation, settled exactly once to what the call really used,
//! even when the call is dropped mid-way (client gone): then it settles from the usage the
//! provider reported so far, or, where it reported none yet, from the text streamed so far
//! (4 characters a token) plus the estimated input.
use std::sync::Arc;

use vibectl_llm::{ModelSpec, Usage};

use super::tokens_of_chars;
use crate::state::{StateStore, Tally, Ticket};

struct Open {
    store: Arc<dyn StateStore>,
    ticket: Ticket,
    subject: String,
    model: Arc<ModelSpec>,
    input_chars: usize,
    usage: Usage,
    output_chars: usize,
    error: bool,
    finished: bool,
}

/// A call's reservation; settles on [`Charge::finish`] or when dropped.
#[derive(Default)]
pub struct Charge {
    open: Option<Box<Open>>,
}

impl std::fmt::Debug for Charge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Charge")
            .field("tracked", &self.open.is_some())
            .finish()
    }
}

impl Charge {
    pub(super) fn new(
        store: Arc<dyn StateStore>,
        ticket: Ticket,
        subject: &str,
        model: Arc<ModelSpec>,
        input_chars: usize,
    ) -> Self {
        Charge {
            open: Some(Box::new(Open {
                store,
                ticket,
                subject: subject.to_owned(),
                model,
                input_chars,
                usage: Usage::default(),
                output_chars: 0,
                error: false,
                finished: false,
            })),
        }
    }

    /// A call that is not metered (the store was down and the policy is fail-open).
    pub fn untracked() -> Self {
        Charge { open: None }
    }

    /// Records the provider's (cumulative) usage report.
    pub fn usage(&mut self, u: Usage) {
        if let Some(o) = self.open.as_mut() {
            o.usage.merge(u);
        }
    }

    /// Records text sent to the client.
    pub fn text(&mut self, t: &str) {
        if let Some(o) = self.open.as_mut() {
            o.output_chars += t.chars().count();
        }
    }

    /// Settles now; `error` counts the call as failed.
    pub fn finish(&mut self, error: bool) {
        if let Some(mut o) = self.open.take() {
            o.error = error;
            o.finished = true;
            settle(*o);
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(o) = self.open.take() {
            settle(*o);
        }
    }
}

/// What the call used: the provider's numbers where it gave them, else estimates from the text.
fn tally(o: &Open) -> Tally {
    let u = &o.usage;
    let streamed = o.output_chars > 0;
    let input = match u.input_tokens {
        Some(n) => u64::from(n),
        None if streamed || u.output_tokens.is_some() => tokens_of_chars(o.input_chars),
        None => 0,
    };
    // A finished call's report is final; an abandoned stream's may lag behind the text sent.
    let output = match u.output_tokens {
        Some(n) if o.finished => u64::from(n),
        Some(n) => u64::from(n).max(tokens_of_chars(o.output_chars)),
        None => tokens_of_chars(o.output_chars),
    };
    let filled = Usage {
        input_tokens: Some(u32::try_from(input).unwrap_or(u32::MAX)),
        output_tokens: Some(u32::try_from(output).unwrap_or(u32::MAX)),
        cache_write_tokens: u.cache_write_tokens,
        cache_read_tokens: u.cache_read_tokens,
    };
    Tally {
        requests: 1,
        errors: u64::from(o.error),
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: u64::from(u.cache_read_tokens.unwrap_or(0)),
        cache_write_tokens: u64::from(u.cache_write_tokens.unwrap_or(0)),
        cost_pico: o.model.prices.cost_pico_usd(&filled).unwrap_or(0),
    }
}

fn settle(o: Open) {
    let t = tally(&o);
    let run = async move {
        if let Err(e) = o.store.settle(&o.ticket, &o.subject, &o.model.id, &t).await {
            tracing::warn!(subject = %o.subject, model = %o.model.id, "usage not settled: {e}");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn(run);
        }
        Err(_) => tracing::warn!("usage not settled: no runtime"),
    }
}
