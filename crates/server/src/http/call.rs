//! The request path both HTTP APIs share, the same steps as gRPC: authenticate, read a bounded
//! body, resolve the model, admit the call against the subject's limits (a [`Charge`]), call
//! the provider under the request timeout, settle the charge from the usage in the answer, and
//! answer or stream. A body in the provider's own format passes through with only the model
//! name swapped; across formats `translate.rs` converts request, answer and stream.
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use tokio::time::{timeout_at, Instant as Deadline};
use vibectl_llm::passthrough::{RawEndpoint, RawEvent};
use vibectl_llm::{ErrorCode, ModelSpec, ProviderError, WireFormat};

use super::errors::{ApiError, Kind};
use super::translate::{self, StreamConv};
use super::{auth, Api, HttpApi};
use crate::limits::{CallBound, Charge};
use crate::proxy::{CallError, ProxyState};

/// The most of a provider's whole answer we read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Headers of an Anthropic request forwarded unchanged to an Anthropic provider.
pub(super) const FORWARDED: [&str; 2] = ["anthropic-version", "anthropic-beta"];

/// Runs one call of `api`; every failure is an answer in that API's shape.
pub(super) async fn serve(st: Arc<HttpApi>, api: Api, req: Request) -> Response {
    match run(&st, api, req).await {
        Ok(resp) => resp,
        Err(e) => e.response(api),
    }
}

/// The verified caller and the parsed JSON object body; authentication comes first, so an
/// unauthenticated caller's body is never read.
pub(super) async fn accept(
    st: &HttpApi,
    req: Request,
) -> Result<(String, HeaderMap, Value), ApiError> {
    let (parts, body) = req.into_parts();
    let peer = crate::auth::peer_of(&parts.extensions);
    let subject = auth::subject(st.auth.as_deref(), &parts.headers, peer, parts.uri.path())?;
    let too_large = || {
        ApiError::new(
            Kind::TooLarge,
            format!(
                "the request body is over this server's limit of {} bytes (http.max_body_bytes)",
                st.max_body
            ),
        )
    };
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > st.max_body as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, st.max_body)
        .await
        .map_err(|_| too_large())?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::invalid("the request body must be a JSON object"));
    }
    Ok((subject.name().to_owned(), parts.headers, v))
}

/// The model a request names, resolved through the catalog and aliases.
pub(super) fn resolve(state: &ProxyState, body: &Value) -> Result<Arc<ModelSpec>, ApiError> {
    let name = match body.get("model") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
        _ => {
            return Err(ApiError::invalid(
                "`model` is required: name a model id or alias (GET /v1/models lists them)",
            ))
        }
    };
    state.resolve(Some(name)).map_err(|e: CallError| {
        let kind = if e.code == ErrorCode::ModelNotFound {
            Kind::NotFound
        } else {
            Kind::InvalidRequest
        };
        ApiError::new(kind, e.message)
    })
}

/// Characters of prompt text in a body (every string in it but the model name), for the
/// limiter's estimate and `max_input_length`.
pub(super) fn text_chars(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(text_chars).sum(),
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| k.as_str() != "model")
            .map(|(_, v)| text_chars(v))
            .sum(),
        _ => 0,
    }
}

/// The raw endpoint of `model`'s provider (it may have gone from the config on a reload).
pub(super) fn provider_of(
    state: &ProxyState,
    model: &ModelSpec,
) -> Result<Arc<RawEndpoint>, ApiError> {
    state
        .providers
        .raw(&model.provider)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                Kind::Upstream,
                format!(
                    "provider `{}` of model `{}` is not configured",
                    model.provider, model.id
                ),
            )
        })
}

pub(super) fn timeout_error(limit: std::time::Duration) -> ApiError {
    ApiError::new(
        Kind::Timeout,
        format!(
            "the call did not finish within the request timeout of {}s",
            limit.as_secs()
        ),
    )
}

async fn run(st: &HttpApi, api: Api, req: Request) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let (subject, headers, mut body) = accept(st, req).await?;
    let state = st.cell.get();
    let model = resolve(&state, &body)?;
    if !st.limiter.allows(&subject, &model) {
        crate::telemetry::request(api.method(), &model.id, &subject, "refused");
        return Err(ApiError::new(
            Kind::Permission,
            crate::proxy::not_allowed(&subject, &model.id),
        ));
    }
    let raw = provider_of(&state, &model)?;
    let target = match raw.wire() {
        WireFormat::Anthropic => Api::Anthropic,
        WireFormat::Openai | WireFormat::OpenaiCompatible => Api::OpenAi,
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let limits = st.limiter.effective(&subject);
    let input_chars = text_chars(&body);
    if let Some(max) = limits.max_input_length {
        if input_chars > max as usize {
            return Err(ApiError::invalid(format!(
                "input is {input_chars} characters, over this server's max_input_length of {max}"
            )));
        }
    }
    let mut extra = HeaderMap::new();
    let mut hide_usage = false;
    let include_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
    let upstream = if api == target {
        body["model"] = Value::String(model.upstream.clone());
        match api {
            Api::OpenAi if stream => hide_usage = super::openai::ask_stream_usage(&mut body),
            Api::OpenAi => {}
            Api::Anthropic => {
                for name in FORWARDED {
                    for v in headers.get_all(name) {
                        extra.append(name, v.clone());
                    }
                }
            }
        }
        body
    } else {
        translate::request(api, &body, &model, raw.wire())?
    };
    let mut upstream = upstream;
    let timeout = ProxyState::timeout_for(&limits);
    let deadline = Deadline::now() + timeout;
    // The reservation covers the output the request asks for (the model's cap when it says
    // nothing), and when the limits grant less, the provider is asked for no more.
    let wanted = asked_output(&upstream, raw.wire()).map_or(model.max_output_tokens, |n| {
        u32::try_from(n)
            .unwrap_or(u32::MAX)
            .min(model.max_output_tokens)
    });
    let bound = CallBound {
        prompt_bytes: input_chars.saturating_mul(4),
        pieces: 1,
        input_chars,
        max_output_tokens: wanted,
    };
    let mut charge = st
        .limiter
        .admit_bounded(api.method(), &subject, &limits, &model, &bound, timeout)
        .await
        .map_err(|r| ApiError::from_refusal(&r))?;
    let cap = charge.output_cap(wanted);
    if let Some(cap) = cap {
        cap_output(&mut upstream, raw.wire(), cap);
    }
    let upstream = match serde_json::to_vec(&upstream) {
        Ok(v) => Bytes::from(v),
        Err(e) => {
            let e = ApiError::new(Kind::Upstream, format!("cannot encode the request: {e}"));
            return Err(fail(&mut charge, ErrorCode::ExecutionFailed, e).await);
        }
    };
    if !stream {
        let sent = std::time::Instant::now();
        let answer =
            match timeout_at(deadline, raw.complete(upstream, &extra, MAX_ANSWER_BYTES)).await {
                Err(_) => {
                    return Err(fail(&mut charge, ErrorCode::Timeout, timeout_error(timeout)).await)
                }
                Ok(Err(e)) => return Err(fail_provider(&mut charge, e).await),
                Ok(Ok(a)) => a,
            };
        charge.usage(answer.usage);
        let out = if api == target {
            answer.body
        } else {
            match translate::answer(api, &answer.body, &model) {
                Ok(v) => Bytes::from(v.to_string()),
                Err(e) => return Err(fail(&mut charge, ErrorCode::ExecutionFailed, e).await),
            }
        };
        let provider = sent.elapsed();
        charge.finish_ok().await;
        return Ok(with_timing(
            with_cap(json(out), cap),
            started.elapsed(),
            provider,
        ));
    }
    let opened = match timeout_at(deadline, raw.stream(upstream, &extra)).await {
        Err(_) => return Err(fail(&mut charge, ErrorCode::Timeout, timeout_error(timeout)).await),
        Ok(Err(e)) => return Err(fail_provider(&mut charge, e).await),
        Ok(Ok(s)) => s,
    };
    let pump = Pump {
        api,
        events: opened.events,
        charge,
        conv: (api != target).then(|| StreamConv::new(api, &model, include_usage)),
        hide_usage,
        deadline,
        timeout,
    };
    Ok(with_cap(sse(pump.into_body()), cap))
}

/// The output tokens a body in `wire`'s format asks for, if it says.
fn asked_output(body: &Value, wire: WireFormat) -> Option<u64> {
    match wire {
        WireFormat::Anthropic => body["max_tokens"].as_u64(),
        WireFormat::Openai | WireFormat::OpenaiCompatible => body["max_completion_tokens"]
            .as_u64()
            .or_else(|| body["max_tokens"].as_u64()),
    }
}

/// Lowers the output limit of a body in `wire`'s format to `cap`, in the field it uses (for
/// OpenAI with none: `max_completion_tokens`, and `max_tokens` for compatible servers).
fn cap_output(body: &mut Value, wire: WireFormat, cap: u32) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let keys: &[&str] = match wire {
        WireFormat::Anthropic => &["max_tokens"],
        WireFormat::Openai | WireFormat::OpenaiCompatible => {
            &["max_completion_tokens", "max_tokens"]
        }
    };
    let mut set = false;
    for k in keys {
        if obj.contains_key(*k) {
            obj.insert((*k).to_owned(), Value::from(cap));
            set = true;
        }
    }
    if !set {
        let k = if wire == WireFormat::OpenaiCompatible {
            "max_tokens"
        } else {
            keys[0]
        };
        obj.insert(k.to_owned(), Value::from(cap));
    }
}

/// Provider time and the server's own time (`x-vibectl-provider-us`, `x-vibectl-overhead-us`,
/// and the `vibectl_overhead_seconds` histogram), as gRPC's unary calls report them.
fn with_timing(
    mut resp: Response,
    total: std::time::Duration,
    provider: std::time::Duration,
) -> Response {
    use vibectl_proto::wire::metadata::{OVERHEAD_US, PROVIDER_TIME_US};
    let overhead = total.saturating_sub(provider);
    crate::telemetry::provider_and_overhead(provider, overhead);
    let us = |d: std::time::Duration| {
        HeaderValue::from(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    };
    resp.headers_mut().insert(PROVIDER_TIME_US, us(provider));
    resp.headers_mut().insert(OVERHEAD_US, us(overhead));
    resp
}

/// Tells the caller the limits lowered its output (`x-vibectl-output-tokens-cap`, as gRPC).
fn with_cap(mut resp: Response, cap: Option<u32>) -> Response {
    if let Some(cap) = cap {
        resp.headers_mut().insert(
            vibectl_proto::wire::metadata::OUTPUT_TOKENS_CAP,
            HeaderValue::from(cap),
        );
    }
    resp
}

async fn fail(charge: &mut Charge, code: ErrorCode, e: ApiError) -> ApiError {
    charge.finish_err(code.as_str()).await;
    e
}

async fn fail_provider(charge: &mut Charge, e: ProviderError) -> ApiError {
    charge.finish_err(e.code().as_str()).await;
    ApiError::from_provider(e)
}

fn json(body: Bytes) -> Response {
    (
        StatusCode::OK,
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn sse(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ),
        ],
        body,
    )
        .into_response()
}

/// One SSE frame: `event:` when named, one `data:` line per line of `data`.
pub(super) fn frame(event: &str, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + event.len() + 16);
    if !event.is_empty() {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// A streamed call: provider events in, the caller's format out, the charge settled before the
/// last frame goes out (or, if the caller goes away, when this is dropped).
struct Pump {
    api: Api,
    events: BoxStream<'static, Result<RawEvent, ProviderError>>,
    charge: Charge,
    conv: Option<StreamConv>,
    /// The caller did not ask for OpenAI's usage chunk; we did (for metering), so it is dropped.
    hide_usage: bool,
    deadline: Deadline,
    timeout: std::time::Duration,
}

impl Pump {
    fn into_body(self) -> Body {
        let s = futures::stream::unfold(Some(self), |state| async move {
            let mut p = state?;
            let (out, more) = p.step().await;
            Some((Ok::<_, Infallible>(Bytes::from(out)), more.then_some(p)))
        });
        Body::from_stream(s)
    }

    /// The next bytes for the caller, and whether more may follow.
    async fn step(&mut self) -> (Vec<u8>, bool) {
        loop {
            let ev = match timeout_at(self.deadline, self.events.next()).await {
                Err(_) => {
                    let e = fail(
                        &mut self.charge,
                        ErrorCode::Timeout,
                        timeout_error(self.timeout),
                    )
                    .await;
                    return (e.sse_event(self.api).to_vec(), false);
                }
                Ok(None) => {
                    let e = ProviderError::Unavailable {
                        status: None,
                        message: "the provider's stream ended early".into(),
                        detail: None,
                    };
                    let e = fail_provider(&mut self.charge, e).await;
                    return (e.sse_event(self.api).to_vec(), false);
                }
                Ok(Some(Err(e))) => {
                    let e = fail_provider(&mut self.charge, e).await;
                    return (e.sse_event(self.api).to_vec(), false);
                }
                Ok(Some(Ok(ev))) => ev,
            };
            let mut ev = ev;
            if let Some(u) = ev.usage {
                self.charge.usage(u);
            }
            if let Some(err) = ev.error.take() {
                let code = err.code();
                self.charge.finish_err(code.as_str()).await;
                let out = match self.conv {
                    None => frame(&ev.event, &ev.data),
                    Some(_) => ApiError::from_provider(err).sse_event(self.api).to_vec(),
                };
                return (out, false);
            }
            let out = match self.conv.as_mut() {
                None => self.forward(&ev),
                Some(conv) => match conv.convert(&ev) {
                    Ok(out) => out,
                    Err(e) => {
                        let e = fail(&mut self.charge, ErrorCode::ExecutionFailed, e).await;
                        return (e.sse_event(self.api).to_vec(), false);
                    }
                },
            };
            if ev.end {
                self.charge.finish_ok().await;
                return (out, false);
            }
            if !out.is_empty() {
                return (out, true);
            }
        }
    }

    /// A pass-through event, minus the usage chunk the caller did not ask for.
    fn forward(&mut self, ev: &RawEvent) -> Vec<u8> {
        if self.hide_usage && ev.usage.is_some() {
            if let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) {
                let empty = v["choices"].as_array().is_none_or(|c| c.is_empty());
                if empty {
                    return Vec::new();
                }
                if let Some(o) = v.as_object_mut() {
                    o.remove("usage");
                }
                return frame(&ev.event, &v.to_string());
            }
        }
        frame(&ev.event, &ev.data)
    }
}
