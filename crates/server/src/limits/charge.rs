//! [`Charge`]: an admitted call's reservation, settled exactly once to what the call really used,
//! even when the call is dropped mid-way (client gone). The provider's reported usage replaces
//! the reservation; where it reported none (cancel, timeout, reset, a stream that broke) the call
//! is charged what the provider will bill once it has the request: the estimated prompt
//! (4 characters a token) plus the text streamed so far. A call that never reached its provider,
//! or that the provider refused with an error status, is charged nothing. Settling also records
//! the call's metrics; the ledger counts a call that did not end well (failed or cancelled) as an
//! error.
use std::sync::Arc;
use std::time::{Duration, Instant};

use vibectl_llm::{ErrorCode, ModelSpec, Usage};

use super::tokens_of_chars;
use crate::state::{Api, StateStore, Tally, Ticket};
use crate::telemetry;

struct Open {
    /// Store and ticket; `None` when the store was down and the policy is fail-open.
    reservation: Option<(Arc<dyn StateStore>, Ticket)>,
    method: &'static str,
    subject: String,
    model: Arc<ModelSpec>,
    input_chars: usize,
    usage: Usage,
    output_chars: usize,
    started: Instant,
    first_text: Option<Duration>,
    /// `None`: success; `Some(code)`: failed with this `ExecuteError` code.
    error: Option<&'static str>,
    finished: bool,
    /// The request went to the provider (from here on it may bill the prompt).
    sent: bool,
    /// Output tokens the store granted (`None`: unmetered, the store was down).
    granted: Option<u64>,
}

/// A call's reservation; settles on [`Charge::finish`] or when dropped.
#[derive(Default)]
pub struct Charge {
    open: Option<Box<Open>>,
}

impl std::fmt::Debug for Charge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Charge")
            .field("open", &self.open.is_some())
            .finish()
    }
}

impl Charge {
    pub(super) fn new(
        reservation: Option<(Arc<dyn StateStore>, Ticket)>,
        method: &'static str,
        subject: &str,
        model: Arc<ModelSpec>,
        input_chars: usize,
    ) -> Self {
        telemetry::in_flight(1.0);
        let granted = reservation.as_ref().map(|(_, t)| t.output_tokens);
        Charge {
            open: Some(Box::new(Open {
                reservation,
                method,
                subject: subject.to_owned(),
                model,
                input_chars,
                usage: Usage::default(),
                output_chars: 0,
                started: Instant::now(),
                first_text: None,
                error: None,
                finished: false,
                sent: false,
                granted,
            })),
        }
    }

    /// Output tokens the call may ask its provider for, when the limits granted fewer than
    /// `wanted`: the caller lowers `max_tokens` to this (and says so).
    pub fn output_cap(&self, wanted: u32) -> Option<u32> {
        let granted = self.open.as_ref()?.granted?;
        let g = u32::try_from(granted).unwrap_or(u32::MAX);
        (g < wanted).then_some(g)
    }

    /// Marks the request as sent to the provider: from now on the prompt counts even when the
    /// call ends without a usage report.
    pub fn sent(&mut self) {
        if let Some(o) = self.open.as_mut() {
            o.sent = true;
        }
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
            if o.first_text.is_none() {
                o.first_text = Some(o.started.elapsed());
            }
            o.output_chars += t.chars().count();
        }
    }

    /// Settles a successful call, before its last answer goes out: the concurrency slot is
    /// free again by the time the client sees the end of the call.
    pub async fn finish_ok(&mut self) {
        self.finish(None).await;
    }

    /// Settles a failed call, with its `ExecuteError` code.
    pub async fn finish_err(&mut self, code: &'static str) {
        self.finish(Some(code)).await;
    }

    async fn finish(&mut self, error: Option<&'static str>) {
        if let Some(mut o) = self.open.take() {
            o.error = error;
            o.finished = true;
            // Settled in a task of its own, so a caller that goes away meanwhile cannot cut
            // it short; we wait for the first attempt only (retries run on in the background).
            let (first, done) = tokio::sync::oneshot::channel();
            spawn(settle(*o, Some(first)));
            let _ = done.await;
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        // Dropped mid-call (client gone): settle in the background from what was seen.
        if let Some(o) = self.open.take() {
            spawn(settle(*o, None));
        }
    }
}

fn spawn(f: impl std::future::Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn(f);
        }
        Err(_) => tracing::warn!("usage not settled: no runtime"),
    }
}

/// What the call used: the provider's numbers where it gave them, else estimates from the text.
fn tally(o: &Open) -> Tally {
    let u = &o.usage;
    let input = match u.input_tokens {
        Some(n) => u64::from(n),
        None if billed(o) => tokens_of_chars(o.input_chars),
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
        errors: u64::from(o.error.is_some() || !o.finished),
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: u64::from(u.cache_read_tokens.unwrap_or(0)),
        cache_write_tokens: u64::from(u.cache_write_tokens.unwrap_or(0)),
        cost_pico: o.model.prices.cost_pico_usd(&filled).unwrap_or(0),
    }
}

/// Whether a call without a usage report is billed its prompt: it was sent, and it did not end
/// with the provider refusing it by status (auth, throttling, context length, 5xx or no
/// connection at all, with nothing streamed).
fn billed(o: &Open) -> bool {
    if !o.sent {
        return false;
    }
    if o.output_chars > 0 || o.usage.output_tokens.is_some() || !o.finished {
        return true;
    }
    let code = o.error.and_then(|c| c.parse::<ErrorCode>().ok());
    !matches!(
        code,
        Some(
            ErrorCode::ProviderAuthFailed
                | ErrorCode::ProviderRateLimited
                | ErrorCode::ProviderUnavailable
                | ErrorCode::ContextLengthExceeded
                | ErrorCode::InvalidRequest
        )
    )
}

/// Records the call's metrics and settles it, retrying a few times on store errors (an unsettled
/// lease and reservation still expire on their own); `first` is told when the first attempt ends.
async fn settle(o: Open, mut first: Option<tokio::sync::oneshot::Sender<()>>) {
    let t = tally(&o);
    let status = match (o.finished, o.error) {
        (false, _) => "cancelled",
        (true, None) => "ok",
        (true, Some(_)) => "error",
    };
    telemetry::in_flight(-1.0);
    telemetry::request(o.method, &o.model.id, &o.subject, status);
    match (o.finished, o.error) {
        (false, _) => telemetry::error("CANCELLED"),
        (true, Some(code)) => telemetry::error(code),
        (true, None) => {}
    }
    telemetry::latency(o.method, o.started.elapsed());
    if let Some(d) = o.first_text.filter(|_| o.method == "StreamExecute") {
        telemetry::time_to_first_token(d);
    }
    telemetry::usage(&o.model.id, &o.subject, &t);
    let mut signal = || {
        if let Some(tx) = first.take() {
            let _ = tx.send(());
        }
    };
    let Some((store, ticket)) = o.reservation else {
        signal();
        return;
    };
    let api = Api::of_method(o.method);
    for (attempt, pause_ms) in [0u64, 200, 1000, 5000].into_iter().enumerate() {
        if pause_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        }
        let result = store
            .settle(&ticket, &o.subject, &o.model.id, api, &t)
            .await;
        signal();
        match result {
            Ok(()) => return,
            Err(e) => {
                telemetry::store_error();
                if attempt == 3 {
                    tracing::warn!(subject = %o.subject, model = %o.model.id, "usage not settled: {e}");
                }
            }
        }
    }
}
