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
use crate::limits::{Charge, Limiter};
use crate::telemetry;

const METHOD: &str = "Execute";

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
    /// Characters of prompt (all fragments).
    pub input_chars: usize,
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
            .admit(
                method,
                subject,
                limits,
                &self.model,
                self.input_chars,
                timeout,
            )
            .await
            .map_err(|r| super::errors::refusal_status(&r))?;
        Ok(Admitted {
            prepared: self,
            charge,
        })
    }
}

/// The request id to echo: the client's, or a fresh UUID.
pub(crate) fn request_id(req: &mut ExecuteRequest) -> String {
    if req.request_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        std::mem::take(&mut req.request_id)
    }
}

/// Validates a request and resolves its model and provider.
pub(crate) fn prepare(
    state: &ProxyState,
    limits: &Limits,
    mut req: ExecuteRequest,
) -> Result<Prepared, (String, CallError)> {
    let request_id = request_id(&mut req);
    let fail = |e: CallError| (request_id.clone(), e);
    if req.user_fragments.iter().all(|f| f.trim().is_empty()) {
        return Err(fail(CallError::new(
            ErrorCode::InvalidRequest,
            "the request has no user fragment; send at least one non-empty user_fragments entry",
        )));
    }
    let len: usize = req
        .system_fragments
        .iter()
        .chain(req.user_fragments.iter())
        .map(|f| f.chars().count())
        .sum();
    if let Some(max) = limits.max_input_length {
        if len > max as usize {
            return Err(fail(CallError::new(
                ErrorCode::InvalidRequest,
                format!("input is {len} characters, over this server's max_input_length of {max}"),
            )));
        }
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
    let schema = match req.response_model_schema.as_deref() {
        Some(text) if !text.trim().is_empty() => Some(
            state
                .schemas
                .get(text)
                .map_err(|m| fail(CallError::new(ErrorCode::InvalidRequest, m)))?,
        ),
        _ => None,
    };
    let completion = CompletionRequest {
        model: model.upstream.clone(),
        system: req.system_fragments,
        user: req.user_fragments,
        schema: schema.as_ref().map(|s| Arc::clone(&s.schema)),
        max_output_tokens: model.max_output_tokens,
    };
    Ok(Prepared {
        request_id,
        model,
        provider,
        completion,
        schema,
        input_chars: len,
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
                    Err(msg) => Err(CallError::new(ErrorCode::SchemaValidationFailed, msg)),
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
    Ok(resp)
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
