//! Preparing a call (validation, model resolution) and the unary `Execute`.
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tonic::metadata::MetadataValue;
use tonic::{Response, Status};
use vibectl_llm::schema::CompiledSchema;
use vibectl_llm::{CompletionRequest, ErrorCode, ModelSpec, Provider, Usage};
use vibectl_proto::{
    execute_response, ExecuteRequest, ExecuteResponse, ExecuteSuccess, ExecutionMetrics,
};

use super::{CallError, ProxyState};
use crate::config::Limits;
use crate::limits::{CallBound, Charge, Limiter};
use crate::telemetry;

const METHOD: &str = "Execute";

/// Response metadata: the output tokens asked of the provider, when a token limit or budget
/// lowered them below the model's cap.
pub use vibectl_proto::wire::metadata::OUTPUT_TOKENS_CAP as OUTPUT_CAP_HEADER;
/// Response metadata: microseconds the server itself added (handler time minus provider time).
pub use vibectl_proto::wire::metadata::OVERHEAD_US as OVERHEAD_HEADER;
/// Response metadata: microseconds spent waiting for the provider.
pub use vibectl_proto::wire::metadata::PROVIDER_TIME_US as PROVIDER_TIME_HEADER;

/// A validated call, ready for its provider.
pub(crate) struct Prepared {
    pub request_id: String,
    pub model: Arc<ModelSpec>,
    pub provider: Arc<dyn Provider>,
    pub completion: CompletionRequest,
    pub schema: Option<Arc<CompiledSchema>>,
    /// The requested schema's text, compiled by [`Admitted::compile_schema`] once the call is
    /// admitted (a refused call compiles nothing).
    pub schema_text: Option<String>,
    /// What the call can cost at most (bytes of prompt, output asked for).
    pub bound: CallBound,
}

/// A prepared call the limiter admitted: it carries its reservation, which settles however
/// the call ends (and when dropped).
pub(crate) struct Admitted {
    pub prepared: Prepared,
    pub charge: Charge,
}

impl std::ops::Deref for Admitted {
    type Target = Prepared;

    fn deref(&self) -> &Prepared {
        &self.prepared
    }
}

impl Prepared {
    /// Counts the call against its limits; a refusal is the gRPC status the caller gets.
    pub(crate) async fn admit(
        self,
        limiter: &Limiter,
        method: &'static str,
        subject: &str,
        limits: &Limits,
        timeout: Duration,
    ) -> Result<Admitted, Status> {
        let charge = limiter
            .admit_bounded(method, subject, limits, &self.model, &self.bound, timeout)
            .await
            .map_err(|r| super::errors::refusal_status(&r))?;
        let mut a = Admitted {
            prepared: self,
            charge,
        };
        let want = a.prepared.completion.max_output_tokens;
        if let Some(cap) = a.charge.output_cap(want) {
            a.prepared.completion.max_output_tokens = cap;
        }
        Ok(a)
    }
}

impl Admitted {
    /// Output tokens asked of the provider when the limits lowered them below the model's cap
    /// (the caller is told in [`OUTPUT_CAP_HEADER`]).
    pub(crate) fn lowered_output(&self) -> Option<u32> {
        let asked = self.prepared.completion.max_output_tokens;
        (asked < self.prepared.model.max_output_tokens).then_some(asked)
    }

    /// Compiles the requested schema, if any (on the blocking pool, through the bounded cache).
    pub(crate) async fn compile_schema(&mut self, state: &ProxyState) -> Result<(), CallError> {
        let Some(text) = self.prepared.schema_text.take() else {
            return Ok(());
        };
        let (compiled, fresh) = state
            .schemas
            .get_counted(&text)
            .await
            .map_err(|e| CallError::new(ErrorCode::InvalidRequest, e.to_string()))?;
        if fresh {
            telemetry::schema_compiled();
        }
        self.prepared.completion.schema = Some(Arc::clone(&compiled.schema));
        self.prepared.schema = Some(compiled);
        Ok(())
    }
}

/// The longest `request_id` accepted, in bytes (it is copied into every stream chunk).
pub const MAX_REQUEST_ID_BYTES: usize = 128;
/// The longest `model_name` accepted, in bytes.
pub const MAX_MODEL_NAME_BYTES: usize = 256;
/// Fragments (system and user together) accepted when `max_fragments` is not set.
pub const DEFAULT_MAX_FRAGMENTS: u32 = 256;
/// Bytes of `response_model_schema` accepted when `max_schema_bytes` is not set.
pub const DEFAULT_MAX_SCHEMA_BYTES: u32 = 64 * 1024;

fn invalid(msg: String) -> CallError {
    CallError::new(ErrorCode::InvalidRequest, msg)
}

/// Refuses a request whose fields exceed their bounds, before anything is counted or compiled.
fn check_bounds(
    state: &ProxyState,
    limits: &Limits,
    req: &ExecuteRequest,
) -> Result<usize, CallError> {
    const AT: &str = "server.limits.global";
    if let Some(name) = req.model_name.as_deref() {
        if name.len() > MAX_MODEL_NAME_BYTES {
            return Err(invalid(format!(
                "model_name is {} bytes, over the fixed limit of {MAX_MODEL_NAME_BYTES}",
                name.len()
            )));
        }
    }
    let n = req.system_fragments.len() + req.user_fragments.len();
    let max_n = limits.max_fragments.unwrap_or(DEFAULT_MAX_FRAGMENTS);
    if n > max_n as usize {
        return Err(invalid(format!(
            "the request has {n} fragments, over this server's limit of {max_n} ({AT}.max_fragments)"
        )));
    }
    if let Some(schema) = req.response_model_schema.as_deref() {
        let max = limits.max_schema_bytes.unwrap_or(DEFAULT_MAX_SCHEMA_BYTES);
        if schema.len() > max as usize {
            return Err(invalid(format!(
                "response_model_schema is {} bytes, over this server's limit of {max} ({AT}.max_schema_bytes)",
                schema.len()
            )));
        }
    }
    let len: usize = req
        .system_fragments
        .iter()
        .chain(req.user_fragments.iter())
        .map(|f| f.chars().count())
        .sum();
    let max = limits
        .max_input_length
        .unwrap_or(state.default_max_input_length);
    if len > max as usize {
        return Err(invalid(format!(
            "input is {len} characters, over this server's max_input_length of {max} ({AT}.max_input_length)"
        )));
    }
    Ok(len)
}

/// The request id to echo: the client's, or a fresh UUID; a client id over
/// [`MAX_REQUEST_ID_BYTES`] or with other than printable ASCII is refused (and not echoed).
pub(crate) fn request_id(req: &mut ExecuteRequest) -> Result<String, (String, CallError)> {
    let id = std::mem::take(&mut req.request_id);
    if id.is_empty() {
        return Ok(uuid::Uuid::new_v4().to_string());
    }
    let printable = id.bytes().all(|b| (0x20..0x7f).contains(&b));
    if id.len() > MAX_REQUEST_ID_BYTES || !printable {
        return Err((
            uuid::Uuid::new_v4().to_string(),
            invalid(format!(
                "request_id must be at most {MAX_REQUEST_ID_BYTES} printable ASCII bytes (a fixed limit); \
                 got {} bytes{}",
                id.len(),
                if printable { "" } else { " with unprintable ones" }
            )),
        ));
    }
    Ok(id)
}

/// Validates a request and resolves its model and provider; its schema is compiled only after
/// admission ([`Admitted::compile_schema`]).
pub(crate) fn prepare(
    state: &ProxyState,
    limits: &Limits,
    mut req: ExecuteRequest,
) -> Result<Prepared, (String, CallError)> {
    let request_id = request_id(&mut req)?;
    let fail = |e: CallError| (request_id.clone(), e);
    let len = check_bounds(state, limits, &req).map_err(&fail)?;
    if req.user_fragments.iter().all(|f| f.trim().is_empty()) {
        return Err(fail(CallError::new(
            ErrorCode::InvalidRequest,
            "the request has no user fragment; send at least one non-empty user_fragments entry",
        )));
    }
    let model = state.resolve(req.model_name.as_deref()).map_err(&fail)?;
    let Some(provider) = state.providers.get(&model.provider).cloned() else {
        return Err(fail(CallError::new(
            ErrorCode::ExecutionFailed,
            format!(
                "provider `{}` of model `{}` is not configured",
                model.provider, model.id
            ),
        )));
    };
    let schema_text = req.response_model_schema.filter(|t| !t.trim().is_empty());
    let fragments = req.system_fragments.len() + req.user_fragments.len();
    let bytes: usize = req
        .system_fragments
        .iter()
        .chain(req.user_fragments.iter())
        .map(String::len)
        .sum::<usize>()
        + schema_text.as_ref().map_or(0, String::len);
    let bound = CallBound {
        prompt_bytes: bytes,
        pieces: fragments + usize::from(schema_text.is_some()),
        input_chars: len,
        max_output_tokens: model.max_output_tokens,
    };
    let completion = CompletionRequest {
        model: model.upstream.clone(),
        system: req.system_fragments,
        user: req.user_fragments,
        schema: None,
        max_output_tokens: model.max_output_tokens,
    };
    Ok(Prepared {
        request_id,
        model,
        provider,
        completion,
        schema: None,
        schema_text,
        bound,
    })
}

/// Metrics for a finished call.
pub(crate) fn metrics(
    started: Instant,
    model: &ModelSpec,
    usage: &Usage,
    retries: u32,
) -> ExecutionMetrics {
    let to_i32 = |v: Option<u32>| v.map(|x| i32::try_from(x).unwrap_or(i32::MAX));
    ExecutionMetrics {
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        input_tokens: to_i32(usage.prompt_tokens()),
        output_tokens: to_i32(usage.output_tokens),
        total_tokens: to_i32(usage.total_tokens()),
        cost_usd: model.prices.cost_usd(usage),
        retry_count: i32::try_from(retries).unwrap_or(i32::MAX),
        timestamp: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0)),
    }
}

fn error_response(request_id: String, e: &CallError) -> ExecuteResponse {
    ExecuteResponse {
        request_id,
        result: Some(execute_response::Result::Error(e.to_proto())),
    }
}

/// Handles `Execute`: limits, one provider call, its answer checked against the schema if any.
pub(crate) async fn execute(
    state: &ProxyState,
    limiter: &Limiter,
    subject: &str,
    req: ExecuteRequest,
) -> Result<Response<ExecuteResponse>, Status> {
    let started = Instant::now();
    let limits = limiter.effective(subject);
    let p = match prepare(state, &limits, req) {
        Ok(p) => p,
        Err((id, e)) => {
            telemetry::request(METHOD, "-", subject, "error");
            telemetry::error(e.code.as_str());
            return Ok(Response::new(error_response(id, &e)));
        }
    };
    if !limiter.allows(subject, &p.model) {
        telemetry::request(METHOD, &p.model.id, subject, "refused");
        return Err(Status::permission_denied(not_allowed(subject, &p.model.id)));
    }
    let timeout = ProxyState::timeout_for(&limits);
    let mut p = p.admit(limiter, METHOD, subject, &limits, timeout).await?;
    if let Err(e) = p.compile_schema(state).await {
        p.charge.finish_err(e.code.as_str()).await;
        return Ok(Response::new(error_response(p.prepared.request_id, &e)));
    }
    let lowered = p.lowered_output();
    p.charge.sent();
    let provider_started = Instant::now();
    let result = tokio::time::timeout(timeout, p.provider.complete(&p.completion)).await;
    let provider_time = provider_started.elapsed();
    let outcome = match result {
        Err(_) => Err(CallError::new(
            ErrorCode::Timeout,
            format!(
                "the call did not finish within the request timeout of {}s",
                timeout.as_secs()
            ),
        )),
        Ok(Err(e)) => Err(CallError::from(e)),
        Ok(Ok(mut done)) => {
            p.charge.usage(done.usage);
            p.charge.text(&done.text);
            match &p.schema {
                None => Ok((std::mem::take(&mut done.text), done)),
                Some(schema) => match schema.check(&done.text) {
                    Ok(json) => Ok((json, done)),
                    Err(e) => Err(CallError::new(
                        ErrorCode::SchemaValidationFailed,
                        e.to_string(),
                    )),
                },
            }
        }
    };
    match &outcome {
        Ok(_) => p.charge.finish_ok().await,
        Err(e) => p.charge.finish_err(e.code.as_str()).await,
    }
    let body = match outcome {
        Ok((text, done)) => ExecuteResponse {
            request_id: p.prepared.request_id,
            result: Some(execute_response::Result::Success(ExecuteSuccess {
                response_text: text,
                metrics: Some(metrics(
                    started,
                    &p.prepared.model,
                    &done.usage,
                    done.retry_count,
                )),
                actual_model_used: p.prepared.model.id.clone(),
            })),
        },
        Err(e) => {
            tracing::debug!(request_id = %p.request_id, model = %p.model.id, code = %e.code, "call failed");
            error_response(p.prepared.request_id, &e)
        }
    };
    let mut resp = Response::new(body);
    timing_metadata(&mut resp, started.elapsed(), provider_time);
    if let Some(cap) = lowered {
        output_cap_metadata(&mut resp, cap);
    }
    Ok(resp)
}

/// Tells the caller the limits lowered the output it could get to `cap` tokens.
pub(crate) fn output_cap_metadata<T>(resp: &mut Response<T>, cap: u32) {
    resp.metadata_mut()
        .insert(OUTPUT_CAP_HEADER, MetadataValue::from(cap));
}

/// The refusal of a model the subject may not use (`server.limits.models`).
pub fn not_allowed(subject: &str, model: &str) -> String {
    format!(
        "`{subject}` may not use model `{model}`: it is not in this subject's \
         server.limits.models list; ask the operator to allow it"
    )
}

/// Adds provider time and server overhead, in microseconds, to the response metadata.
fn timing_metadata<T>(resp: &mut Response<T>, total: Duration, provider: Duration) {
    let overhead = total.saturating_sub(provider);
    telemetry::provider_and_overhead(provider, overhead);
    let md = resp.metadata_mut();
    md.insert(
        PROVIDER_TIME_HEADER,
        MetadataValue::from(provider.as_micros() as u64),
    );
    md.insert(
        OVERHEAD_HEADER,
        MetadataValue::from(overhead.as_micros() as u64),
    );
}
