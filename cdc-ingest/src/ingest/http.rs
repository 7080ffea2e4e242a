//! The HTTP side: routes, authentication, body limits and decoding, and
//! the mapping of every outcome to a status code.
//!
//! A request is checked whole (auth, size, encoding, every event) before it
//! takes a place in the queue, and it takes one only if the whole request
//! fits: a full queue answers 429, a writer without a database answers 503,
//! both with `Retry-After`. Bodies are limited twice, as sent and after
//! gzip, so a small compressed body cannot expand without bound.

use std::io::Read as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt as _;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::auth::{Auth, Precheck};
use super::config::{check_identifier, Config};
use super::event::{parse_body, BodyFormat, InputError};
use super::iam::SignedRequest;
use super::metrics::{IngestMetrics, Outcome, RejectReason};
use super::writer::{Counts, Job, JobError};

/// The OpenAPI 3 description served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Bodies larger than this are parsed on the blocking pool, so a big
/// request does not hold up the runtime's other tasks.
const PARSE_INLINE_BYTES_MAX: usize = 64 << 10;
/// `Retry-After` seconds when the queue is full.
const RETRY_AFTER_FULL_S: u32 = 1;
/// `Retry-After` seconds when no writer is reachable (the writer retries
/// its connection with backoff up to five seconds).
const RETRY_AFTER_UNAVAILABLE_S: u32 = 2;

/// What every handler shares.
pub struct AppState {
    pub(super) config: Arc<Config>,
    pub(super) auth: Auth,
    pub(super) queue: mpsc::Sender<Job>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) up: Arc<AtomicBool>,
    pub(super) metrics: Arc<IngestMetrics>,
}

/// The service's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/tables/{table}/events", post(post_events))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

/// An error answer: status, JSON body, and the metric label.
struct Refusal {
    status: StatusCode,
    reason: RejectReason,
    body: serde_json::Value,
    retry_after_s: Option<u32>,
}

impl Refusal {
    fn new(status: StatusCode, reason: RejectReason, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason,
            body: serde_json::json!({ "error": message.into() }),
            retry_after_s: None,
        }
    }

    fn retry_after(mut self, seconds: u32) -> Refusal {
        self.retry_after_s = Some(seconds);
        self
    }

    fn input(e: &InputError) -> Refusal {
        let mut body = serde_json::json!({ "error": e.to_string() });
        if let Some(line) = e.line {
            body["line"] = line.into();
        }
        if let Some(event) = e.event {
            body["event"] = event.into();
        }
        if let Some(field) = &e.field {
            body["field"] = field.clone().into();
        }
        Refusal {
            status: StatusCode::BAD_REQUEST,
            reason: RejectReason::Invalid,
            body,
            retry_after_s: None,
        }
    }

    fn job(e: JobError) -> Refusal {
        let message = e.to_string();
        match e {
            JobError::TableNotFound(_) => {
                Refusal::new(StatusCode::NOT_FOUND, RejectReason::TableNotFound, message)
            }
            JobError::Rejected(_) => Refusal::new(
                StatusCode::BAD_REQUEST,
                RejectReason::RejectedByDatabase,
                message,
            ),
            JobError::Unavailable(_) => Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                RejectReason::Unavailable,
                message,
            )
            .retry_after(RETRY_AFTER_UNAVAILABLE_S),
            JobError::Internal(_) => Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                RejectReason::Internal,
                message,
            ),
        }
    }

    fn respond(self, metrics: &IngestMetrics) -> Response {
        metrics.reject(self.reason);
        let mut response = json_response(self.status, &self.body);
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.reason == RejectReason::Unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sextant-ingest\""),
            );
        }
        response
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn post_events(
    State(state): State<Arc<AppState>>,
    Path(table): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&state, &table, &method, &uri, &headers, body).await {
        Ok(counts) => json_response(
            StatusCode::OK,
            &serde_json::to_value(counts).expect("counts serialize"),
        ),
        Err(refusal) => refusal.respond(&state.metrics),
    }
}

#[tracing::instrument(skip_all, fields(table = %table))]
async fn accept(
    state: &AppState,
    table: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Counts, Refusal> {
    let unauthorized = |message: String| {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            RejectReason::Unauthorized,
            message,
        )
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let precheck = state.auth.precheck(authorization);
    if precheck == Precheck::Refused {
        return Err(unauthorized(
            "missing or unknown bearer token (or a SigV4 signature where no IAM file is set)"
                .into(),
        ));
    }
    check_identifier(table).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            RejectReason::Invalid,
            format!("table name: {e}"),
        )
    })?;
    let format = body_format(headers)?;
    let raw = read_raw_body(state, headers, body).await?;
    if precheck == Precheck::NeedsSignature {
        let iam = state
            .auth
            .iam()
            .expect("NeedsSignature implies an IAM file");
        let request = SignedRequest {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query(),
            headers,
            body: &raw,
        };
        iam.verify(&request, table, std::time::SystemTime::now())
            .map_err(|e| unauthorized(e.to_string()))?;
    }
    let body = decode_body(state, headers, raw)?;
    let mapping = state.config.table(table).clone();
    let body_bytes = body.len() as u64;
    let owned_table = table.to_owned();
    let parse = move || parse_body(&body, format, &owned_table, &mapping);
    let parsed = if body_bytes as usize <= PARSE_INLINE_BYTES_MAX {
        parse()
    } else {
        tokio::task::spawn_blocking(parse)
            .await
            .expect("parsing does not panic")
    }
    .map_err(|e| Refusal::input(&e))?;

    let events = parsed.changes.len();
    if events == 0 {
        state.metrics.events(Outcome::Ignored, parsed.ignored);
        return Ok(Counts {
            ignored: parsed.ignored,
            ..Counts::default()
        });
    }
    let queue_max = state.config.queue_events_max as usize;
    if events > queue_max {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            RejectReason::TooLarge,
            format!("{events} events in one request; at most {queue_max} fit the queue"),
        ));
    }
    if !state.up.load(Ordering::Acquire) {
        return Err(Refusal::job(JobError::Unavailable(
            "no database writer is reachable; retry".into(),
        )));
    }
    let permits = u32::try_from(events).expect("at most queue_events_max");
    let permit = state
        .permits
        .clone()
        .try_acquire_many_owned(permits)
        .map_err(|_| {
            Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                RejectReason::QueueFull,
                "the ingest queue is full; retry",
            )
            .retry_after(RETRY_AFTER_FULL_S)
        })?;
    let (reply, answer) = oneshot::channel();
    let job = Job {
        table: table.to_owned(),
        parsed,
        bytes: body_bytes,
        reply,
        permit,
    };
    match state.queue.try_send(job) {
        Ok(()) => state.metrics.queue_add(events as i64),
        Err(mpsc::error::TrySendError::Full(_)) => {
            return Err(Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                RejectReason::QueueFull,
                "the ingest queue is full; retry",
            )
            .retry_after(RETRY_AFTER_FULL_S))
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            return Err(Refusal::job(JobError::Unavailable(
                "the ingest service is shutting down; retry".into(),
            )))
        }
    }
    match answer.await {
        Ok(Ok(counts)) => Ok(counts),
        Ok(Err(e)) => Err(Refusal::job(e)),
        Err(_) => Err(Refusal::job(JobError::Internal(
            "the writer stopped without answering".into(),
        ))),
    }
}

fn body_format(headers: &HeaderMap) -> Result<BodyFormat, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            Ok(BodyFormat::Ndjson)
        }
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectReason::UnsupportedMediaType,
            format!(
                "Content-Type {content_type:?}: send application/json (an object or an array) \
                 or application/x-ndjson"
            ),
        )),
    }
}

fn too_large(limit: u64) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        RejectReason::TooLarge,
        format!("the body is larger than {limit} bytes (limits.body_bytes_max)"),
    )
}

/// The body as sent, within the limit.
async fn read_raw_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, Refusal> {
    let limit = state.config.body_bytes_max;
    let too_large = || too_large(limit);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limit_usize = usize::try_from(limit).expect("limit checked at startup");
    let raw = http_body_util::Limited::new(body, limit_usize)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    RejectReason::Invalid,
                    format!("failed to read the body: {e}"),
                )
            }
        })?
        .to_bytes();
    Ok(raw)
}

/// The body decoded (gzip), within the limit.
fn decode_body(
    state: &AppState,
    headers: &HeaderMap,
    raw: axum::body::Bytes,
) -> Result<Vec<u8>, Refusal> {
    let limit = state.config.body_bytes_max;
    let too_large = || too_large(limit);
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "identity" | "" => Ok(raw.to_vec()),
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limit + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        RejectReason::Invalid,
                        format!("malformed gzip body: {e}"),
                    )
                })?;
            if out.len() as u64 > limit {
                return Err(too_large());
            }
            Ok(out)
        }
        other => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectReason::UnsupportedMediaType,
            format!("Content-Encoding {other:?}: only gzip is supported"),
        )),
    }
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let up = state.up.load(Ordering::Acquire);
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let queued = state.config.queue_events_max as usize - state.permits.available_permits();
    json_response(
        status,
        &serde_json::json!({
            "status": if up { "ok" } else { "no database writer reachable" },
            "database": if up { "up" } else { "down" },
            "queue_events": queued,
        }),
    )
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
        .into_response()
}
