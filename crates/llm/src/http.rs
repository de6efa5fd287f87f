//! HTTP plumbing shared by the wire formats: the client, status classification and retries.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};

use crate::ProviderError;

/// How failed calls are retried: jittered exponential backoff, honouring `retry-after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay.
    pub base_delay: Duration,
    /// Largest backoff delay, and the largest `retry-after` still worth waiting for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Default::default()
        }
    }

    /// The wait before retry number `attempt` (0-based) after `error`, or `None` to give up.
    pub fn delay(&self, attempt: u32, error: &ProviderError) -> Option<Duration> {
        if attempt >= self.max_retries || !error.is_retryable() {
            return None;
        }
        if let ProviderError::RateLimited {
            retry_after: Some(after),
            ..
        } = error
        {
            // A provider asking for a longer pause than we would ever wait: give up now.
            return (*after <= self.max_delay).then_some(*after);
        }
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max_delay);
        // Full jitter between half and the whole delay keeps retries of many clients apart.
        let half = exp / 2;
        let jitter = Duration::from_nanos(fastrand::u64(0..=half.as_nanos() as u64));
        Some(half + jitter)
    }
}

/// Transport timeouts of the HTTP client providers share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Setting up a connection (DNS, TCP, TLS). Running out of it is a connect failure:
    /// `PROVIDER_UNAVAILABLE`, retried like any other.
    pub connect: Duration,
    /// Each attempt as a whole, response body and stream included (`TIMEOUT`). `None`: no limit
    /// here, the caller's own deadline applies.
    pub request: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: None,
        }
    }
}

/// The HTTP client providers share (one connection pool per process) and the timeouts it was
/// built with, so errors can name them.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    timeouts: Timeouts,
}

impl HttpClient {
    /// The timeouts the client enforces.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Maps a transport error from reqwest onto a provider error. Connect failures, timed out or
    /// not, are `Unavailable` (retryable); other timeouts are `Timeout` with the configured limit.
    pub fn transport_error(&self, e: reqwest::Error) -> ProviderError {
        if e.is_connect() {
            let message = if e.is_timeout() {
                format!(
                    "cannot connect to provider within {:?}",
                    self.timeouts.connect
                )
            } else {
                "cannot connect to provider".to_owned()
            };
            return ProviderError::Unavailable {
                status: None,
                message,
                detail: Some(error_chain(&e)),
            };
        }
        if e.is_timeout() {
            if let Some(limit) = self.timeouts.request {
                return ProviderError::Timeout(limit);
            }
            // Not our limit (there is none): the OS gave up on the connection.
        }
        let kind = if e.is_timeout() {
            "connection timed out"
        } else if e.is_body() || e.is_decode() {
            "connection lost while reading the response"
        } else {
            "request to provider failed"
        };
        ProviderError::Unavailable {
            status: None,
            message: kind.to_owned(),
            detail: Some(error_chain(&e)),
        }
    }
}

/// Builds the HTTP client providers share, with the default [`Timeouts`].
pub fn http_client() -> Result<HttpClient, ProviderError> {
    http_client_with(Timeouts::default())
}

/// Builds the HTTP client providers share, with the given timeouts.
pub fn http_client_with(timeouts: Timeouts) -> Result<HttpClient, ProviderError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("vibectl-llm/", env!("CARGO_PKG_VERSION")));
    if let Some(limit) = timeouts.request {
        builder = builder.timeout(limit);
    }
    let client = builder.build().map_err(|e| ProviderError::Protocol {
        message: "cannot build HTTP client".into(),
        detail: Some(error_chain(&e)),
    })?;
    Ok(HttpClient { client, timeouts })
}

/// The error and its sources on one line, joined with `: `, each text once (reqwest's
/// top-level message alone says little, and its sources often repeat each other).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

/// Parses `retry-after` (seconds, possibly fractional, or an HTTP date) or `retry-after-ms`. Never panics: a
/// value too large for a [`Duration`] (`1e20`, `inf`) becomes [`Duration::MAX`], longer than any
/// policy waits; negative, NaN and unparsable values count as absent.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return float_secs(ms / 1000.0);
    }
    let raw = get("retry-after")?.trim();
    match raw.parse::<f64>() {
        Ok(secs) => float_secs(secs),
        Err(_) => http_date_delay(raw, SystemTime::now()),
    }
}

/// The wait from `now` until an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the form RFC 9110
/// says senders must use), zero when it has passed; `None` for anything else.
fn http_date_delay(value: &str, now: SystemTime) -> Option<Duration> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    fn digits(s: &str, n: usize) -> Option<i64> {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }
    let rest = value.get(3..)?.strip_prefix(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let times: Vec<&str> = time.split(':').collect();
    let [hh, mm, ss] = times[..] else {
        return None;
    };
    let (day, year) = (digits(day, 2)?, digits(year, 4)?);
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (hh, mm, ss) = (digits(hh, 2)?, digits(mm, 2)?, digits(ss, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=month_days).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let (era, yoe) = (y.div_euclid(400), y.rem_euclid(400));
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss;
    let at = u64::try_from(secs)
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .unwrap_or(UNIX_EPOCH);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Seconds as a duration, saturating at [`Duration::MAX`]; `None` for negative values and NaN.
fn float_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// Classifies a non-success HTTP status; `context_length` says whether the body named a too-long prompt.
pub fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    message: String,
    context_length: bool,
) -> ProviderError {
    let code = status.as_u16();
    match code {
        401 | 403 => ProviderError::Auth {
            status: code,
            message,
        },
        429 => ProviderError::RateLimited {
            retry_after: retry_after(headers),
            message,
        },
        _ if context_length => ProviderError::ContextLength { message },
        408 | 500..=599 => ProviderError::Unavailable {
            status: Some(code),
            message: format!("HTTP {code}: {message}"),
            detail: None,
        },
        _ => ProviderError::BadRequest {
            status: code,
            message,
        },
    }
}

/// Maps a provider's non-success answer (status, headers, body) onto a provider error.
pub type Classify = fn(StatusCode, &HeaderMap, &str) -> ProviderError;

/// One provider endpoint taking JSON POSTs: URL, fixed headers (the key marked sensitive so it
/// is never logged), retry policy and the wire format's error classification.
#[derive(Clone)]
pub struct Endpoint {
    client: HttpClient,
    /// Parsed once: parsing per request showed up in profiles.
    url: reqwest::Url,
    headers: HeaderMap,
    retry: RetryPolicy,
    classify: Classify,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint; `headers` are sent on every request (values are marked sensitive).
    pub fn new(
        client: HttpClient,
        url: String,
        headers: &[(&'static str, &str)],
        retry: RetryPolicy,
        classify: Classify,
    ) -> Result<Self, ProviderError> {
        let mut map = HeaderMap::new();
        map.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in headers {
            let mut v = HeaderValue::from_str(value).map_err(|_| ProviderError::Protocol {
                message: format!("header `{name}` has characters HTTP does not allow"),
                detail: None,
            })?;
            v.set_sensitive(true);
            map.insert(*name, v);
        }
        let url = reqwest::Url::parse(&url).map_err(|e| ProviderError::Protocol {
            message: format!("provider URL is not valid: {e}"),
            detail: Some(format!("URL `{url}`")),
        })?;
        Ok(Endpoint {
            client,
            url,
            headers: map,
            retry,
            classify,
        })
    }

    /// The client the endpoint sends with.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// POSTs `body`, retrying transient failures, until a success status arrives; returns the
    /// response and the retries used.
    pub async fn post(&self, body: Bytes) -> Result<(Response, u32), ProviderError> {
        self.post_with(body, &HeaderMap::new()).await
    }

    /// [`Endpoint::post`] with `extra` headers on top of the fixed ones (an extra header of
    /// the same name replaces the fixed one).
    pub async fn post_with(
        &self,
        body: Bytes,
        extra: &HeaderMap,
    ) -> Result<(Response, u32), ProviderError> {
        let mut attempt = 0;
        loop {
            match self.post_once(body.clone(), extra).await {
                Ok(resp) => return Ok((resp, attempt)),
                Err(err) => match self.retry.delay(attempt, &err) {
                    Some(wait) => {
                        tracing::debug!(
                            attempt,
                            ?wait,
                            error = %err.log_detail(),
                            "retrying provider call"
                        );
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    None => {
                        // Callers get `err`'s Display, which leaves out URL and transport errors.
                        tracing::debug!(
                            retries = attempt,
                            code = %err.code(),
                            error = %err.log_detail(),
                            "provider call failed"
                        );
                        return Err(err);
                    }
                },
            }
        }
    }

    async fn post_once(&self, body: Bytes, extra: &HeaderMap) -> Result<Response, ProviderError> {
        let mut headers = self.headers.clone();
        for (name, value) in extra {
            headers.insert(name, value.clone());
        }
        let resp = self
            .client
            .client
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| self.client.transport_error(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = error_body(resp).await;
        Err((self.classify)(status, &headers, &text))
    }
}

/// The largest non-streamed answer accepted, in bytes (the largest output of any catalog model,
/// JSON-escaped, fits many times over); a bigger one is refused, not buffered.
pub const MAX_ANSWER_BODY: usize = 16 << 20;

/// Reads a successful non-streamed answer, refusing one over [`MAX_ANSWER_BODY`] as soon as its
/// `content-length` or what arrived says so (the rest is never received).
pub(crate) async fn answer_body(
    mut resp: Response,
    client: &HttpClient,
) -> Result<Vec<u8>, ProviderError> {
    let too_big = |n: String| ProviderError::Protocol {
        message: format!(
            "the provider's answer is {n} bytes, over the limit of {MAX_ANSWER_BODY} for a \
             non-streamed answer; use StreamExecute for long answers"
        ),
        detail: None,
    };
    if let Some(n) = resp
        .content_length()
        .filter(|n| *n > MAX_ANSWER_BODY as u64)
    {
        return Err(too_big(n.to_string()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| client.transport_error(e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BODY {
            return Err(too_big(format!(
                "more than {}",
                body.len() + chunk.len() - 1
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The most of an error body we read; the rest is never received (the connection is dropped).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error body, chunk by chunk, so a hostile or broken
/// provider sending a huge or endless body can neither make us buffer it nor keep us waiting.
async fn error_body(mut resp: Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ERROR_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %error_chain(&e), "provider error body cut short");
                if body.is_empty() {
                    return "(error body unreadable)".into();
                }
                break;
            }
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_honoured_and_capped() {
        let p = RetryPolicy::default();
        let limited = |secs| ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(secs)),
            message: String::new(),
        };
        assert_eq!(p.delay(0, &limited(2)), Some(Duration::from_secs(2)));
        assert_eq!(p.delay(0, &limited(600)), None);
        assert_eq!(p.delay(2, &limited(1)), None, "retries exhausted");
    }

    #[test]
    fn backoff_grows_with_jitter_and_skips_permanent_errors() {
        let p = RetryPolicy::default();
        let unavailable = ProviderError::Unavailable {
            status: Some(500),
            message: String::new(),
            detail: None,
        };
        for attempt in 0..2 {
            let d = p.delay(attempt, &unavailable).unwrap_or_default();
            let full = p.base_delay * 2u32.pow(attempt);
            assert!(d >= full / 2 && d <= full, "{d:?} vs {full:?}");
        }
        let auth = ProviderError::Auth {
            status: 401,
            message: String::new(),
        };
        assert_eq!(p.delay(0, &auth), None);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(*name, v);
            }
        }
        h
    }

    #[test]
    fn retry_after_never_panics_and_huge_values_mean_give_up() {
        let p = RetryPolicy::default();
        for name in ["retry-after", "retry-after-ms"] {
            for value in [
                "1e20",
                "1e300",
                "1.8e19",
                "18446744073709551616",
                "inf",
                "-inf",
                "NaN",
                "-1",
                "-0",
                "0x10",
                "",
                " ",
                "abc",
                "1e-400",
            ] {
                let after = retry_after(&headers(&[(name, value)]));
                let err = status_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    &headers(&[(name, value)]),
                    String::new(),
                    false,
                );
                assert_eq!(err.code(), crate::ErrorCode::ProviderRateLimited);
                if let Some(d) = after {
                    assert!(
                        d <= Duration::from_secs(1) || p.delay(0, &err).is_none(),
                        "{name}: {value} -> {d:?}"
                    );
                }
            }
            // Too large to represent: longer than we will ever wait, so no retry.
            let err = status_error(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[(name, "1e20")]),
                String::new(),
                false,
            );
            assert!(
                matches!(
                    err,
                    ProviderError::RateLimited {
                        retry_after: Some(_),
                        ..
                    }
                ),
                "{name}: {err:?}"
            );
            assert_eq!(p.delay(0, &err), None, "{name}");
        }
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250")])),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn retry_after_http_date() {
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (the RFC 9110 example).
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 30);
        let at = |v: &str| http_date_delay(v, now);
        assert_eq!(
            at("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            at("Sun, 06 Nov 1994 08:49:00 GMT"),
            Some(Duration::ZERO),
            "past"
        );
        assert_eq!(
            at("Tue, 01 Mar 2000 00:00:00 GMT"),
            Some(Duration::from_secs(951_868_800 - 784_111_747))
        );
        for bad in [
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
            "",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
        // Through the header, against the real clock: far future means give up.
        let h = headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]);
        let wait = retry_after(&h).unwrap_or_default();
        assert!(wait > Duration::from_secs(86_400 * 365 * 7000), "{wait:?}");
    }

    #[test]
    fn statuses_classified() {
        let h = HeaderMap::new();
        let s = |c| StatusCode::from_u16(c).unwrap_or(StatusCode::IM_A_TEAPOT);
        assert!(matches!(
            status_error(s(401), &h, String::new(), false),
            ProviderError::Auth { .. }
        ));
        assert!(matches!(
            status_error(s(529), &h, String::new(), false),
            ProviderError::Unavailable { .. }
        ));
        assert!(matches!(
            status_error(s(400), &h, String::new(), true),
            ProviderError::ContextLength { .. }
        ));
        assert!(matches!(
            status_error(s(400), &h, String::new(), false),
            ProviderError::BadRequest { .. }
        ));
    }

    proptest::proptest! {
        #[test]
        fn retry_after_never_panics(
            value in "[ -~]{0,40}|[0-9eE.+-]{1,30}|(inf|-inf|NaN|infinity)",
            ms in proptest::prelude::any::<bool>(),
        ) {
            let name = if ms { "retry-after-ms" } else { "retry-after" };
            let wait = retry_after(&headers(&[(name, &value)]));
            if let Some(wait) = wait {
                // Whatever it is, the policy either waits at most max_delay or gives up.
                let p = RetryPolicy::default();
                let err = ProviderError::RateLimited { retry_after: Some(wait), message: String::new() };
                proptest::prop_assert!(p.delay(0, &err).is_none_or(|d| d <= p.max_delay));
            }
        }

        #[test]
        fn http_dates_never_panic(value in ".{0,40}", secs in 0u64..400_000_000_000) {
            let _ = http_date_delay(&value, UNIX_EPOCH + Duration::from_secs(secs));
            let _ = http_date_delay(&format!("Sun, {value}"), UNIX_EPOCH);
        }
    }
}
