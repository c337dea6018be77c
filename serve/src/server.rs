//! The HTTP server: the Open Inference Protocol's endpoints for one model, `/metrics`, bounded
//! requests, and a graceful shutdown on SIGTERM or Ctrl-C that finishes the requests under way.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use onyx_runtime::Session;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::protocol::{self, ModelMetadata, RequestError, TensorMetadata};

/// The binary tensor extension's header: the length of the JSON part of a body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// What the server accepts.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most values in one input tensor.
    pub max_elements: usize,
    /// Inferences run at once; more requests wait for a turn within `timeout`.
    pub max_concurrency: usize,
    /// How long a request may take to arrive in full (headers and body) and to get its turn.
    pub timeout: Duration,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Bytes of request bodies held at once, from the first byte read until the answer is built:
    /// what the server's memory follows. A request that would pass it waits, within `timeout`.
    pub max_inflight_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            max_body_bytes: 64 << 20,
            max_elements: 16 << 20,
            max_concurrency: cores,
            timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_inflight_bytes: 256 << 20,
        }
    }
}

/// The model a server answers for.
pub struct Model {
    /// The name clients address it by.
    pub name: String,
    pub session: Arc<dyn Session>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

struct App {
    model: Model,
    limits: Limits,
    turns: Semaphore,
    /// One permit per MiB of request bodies in flight (`Limits::max_inflight_bytes`).
    inflight: Semaphore,
    metrics: Metrics,
}

/// Serves `model` on `addr` until SIGTERM or Ctrl-C; `bound` learns the address once listening
/// (port 0 picks a free one).
///
/// The connection loop is hyper's own rather than `axum::serve`, for what a server facing a network
/// needs and that does not offer: a deadline on request headers (a client trickling them in, as
/// slow-loris attacks do, is cut off after `timeout`) and a cap on open connections.
pub async fn serve(model: Model, addr: SocketAddr, limits: Limits, bound: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    bound(listener.local_addr()?);
    let header_timeout = limits.timeout;
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let app = Arc::new(App {
        turns: Semaphore::new(limits.max_concurrency.max(1)),
        inflight: Semaphore::new((limits.max_inflight_bytes >> 20).max(1)),
        model,
        limits,
        metrics: Metrics::new(),
    });
    let service = hyper_util::service::TowerToHyperService::new(router(app));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        // At the cap, accepting waits: new clients queue in the kernel's backlog.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service.clone());
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection's failure (a client gone, a header timeout) ends that connection only.
            let _ = watched.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// `serve` on a runtime of its own, for a command line; prints where it listens.
pub fn serve_blocking(model: Model, addr: SocketAddr, limits: Limits) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let name = model.name.clone();
    runtime.block_on(serve(model, addr, limits, |at| {
        eprintln!("serving `{name}` on http://{at} (Open Inference Protocol v2: POST /v2/models/{name}/infer)")
    }))
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(|| async { axum::Json(json!({ "live": true })) }))
        .route("/v2/health/ready", get(|| async { axum::Json(json!({ "ready": true })) }))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(model_metadata_versioned))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/versions/{version}/ready", get(model_ready_versioned))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer_versioned))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint; this server speaks the Open Inference Protocol v2 (/v2/...)") })
        // Every error has a JSON body, a wrong method's too (axum answers it with an empty one).
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "this endpoint takes another method: POST for infer, GET for everything else")
        })
        .layer(middleware::from_fn_with_state(app.clone(), count))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the server failed on this request")))
        .with_state(app)
}

/// Records every request in the metrics, by the route it matched.
async fn count(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let flight = app.metrics.start();
    let response = next.run(request).await;
    flight.finish(&route, response.status().as_u16());
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn refuse(e: RequestError) -> Response {
    let status = match e {
        RequestError::Bad(_) => StatusCode::BAD_REQUEST,
        RequestError::NotFound(_) => StatusCode::NOT_FOUND,
        RequestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
    };
    error(status, e.to_string())
}

impl App {
    /// Checks that a request names this model (and its only version, 1).
    fn check(&self, name: &str, version: Option<&str>) -> Result<(), RequestError> {
        if name != self.model.name {
            return Err(RequestError::NotFound(format!("model `{name}` is not served here (this server has `{}`)", self.model.name)));
        }
        match version {
            Some(v) if v != "1" => Err(RequestError::NotFound(format!("model `{name}` has no version {v} (it has 1)"))),
            _ => Ok(()),
        }
    }
}

async fn server_metadata() -> Response {
    axum::Json(json!({ "name": "onyx", "version": env!("CARGO_PKG_VERSION"), "extensions": ["binary_tensor_data"] })).into_response()
}

async fn model_metadata(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    describe(&app, &name, None)
}

async fn model_metadata_versioned(State(app): State<Arc<App>>, Path((name, version)): Path<(String, String)>) -> Response {
    describe(&app, &name, Some(&version))
}

fn describe(app: &App, name: &str, version: Option<&str>) -> Response {
    if let Err(e) = app.check(name, version) {
        return refuse(e);
    }
    let session = &app.model.session;
    let metadata = ModelMetadata {
        name: app.model.name.clone(),
        versions: vec!["1".into()],
        platform: "onnx",
        inputs: session.inputs().iter().map(TensorMetadata::of).collect(),
        outputs: session.outputs().iter().map(TensorMetadata::of).collect(),
    };
    axum::Json(metadata).into_response()
}

async fn model_ready(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    ready(&app, &name, None)
}

async fn model_ready_versioned(State(app): State<Arc<App>>, Path((name, version)): Path<(String, String)>) -> Response {
    ready(&app, &name, Some(&version))
}

fn ready(app: &App, name: &str, version: Option<&str>) -> Response {
    match app.check(name, version) {
        Ok(()) => axum::Json(json!({ "name": name, "ready": true })).into_response(),
        Err(e) => refuse(e),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.metrics.render()).into_response()
}

async fn infer(State(app): State<Arc<App>>, Path(name): Path<String>, headers: HeaderMap, body: Body) -> Response {
    run_inference(app, name, None, headers, body).await
}

async fn infer_versioned(State(app): State<Arc<App>>, Path((name, version)): Path<(String, String)>, headers: HeaderMap, body: Body) -> Response {
    run_inference(app, name, Some(version), headers, body).await
}

async fn run_inference(app: Arc<App>, name: String, version: Option<String>, headers: HeaderMap, body: Body) -> Response {
    if let Err(e) = app.check(&name, version.as_deref()) {
        return refuse(e);
    }
    let deadline = Instant::now() + app.limits.timeout;
    let limit = app.limits.max_body_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over the server's limit of {limit} bytes"));
    }
    // The body's share of the in-flight budget, in MiB, held until the answer is built: a body
    // of unknown length counts as the largest allowed.
    let budget = (app.limits.max_inflight_bytes >> 20).max(1);
    let share = declared.map_or(limit as u64, |n| n).div_ceil(1 << 20).clamp(1, budget as u64) as u32;
    let Ok(Ok(_held)) = tokio::time::timeout_at(deadline.into(), app.inflight.acquire_many(share)).await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the server is busy: no room for this body within {:?} (its budget is {budget} MiB of bodies at once)", app.limits.timeout),
        );
    };
    let bytes: Bytes = match tokio::time::timeout_at(deadline.into(), axum::body::to_bytes(body, limit)).await {
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, format!("the body did not arrive within {:?}", app.limits.timeout)),
        Ok(Err(e)) if is_length_limit(&e) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over the server's limit of {limit} bytes"));
        }
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
        Ok(Ok(b)) => b,
    };
    let json_len = match headers.get(HEADER_LENGTH).map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<usize>().ok())) {
        None => bytes.len(),
        Some(Some(n)) if n <= bytes.len() => n,
        Some(_) => return error(StatusCode::BAD_REQUEST, format!("{HEADER_LENGTH} is not a length within the {}-byte body", bytes.len())),
    };
    let session = app.model.session.clone();
    let decoded = match protocol::decode_request(&bytes[..json_len], &bytes[json_len..], session.inputs(), session.outputs(), app.limits.max_elements)
    {
        Ok(d) => d,
        Err(e) => return refuse(e),
    };
    drop(bytes);
    let Ok(Ok(_turn)) = tokio::time::timeout_at(deadline.into(), app.turns.acquire()).await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, format!("the server is busy: no turn to run the model within {:?}", app.limits.timeout));
    };
    // The model runs on a blocking thread; the permit is held until it is done.
    let (decoded, result) = match tokio::task::spawn_blocking(move || {
        let result = session.run(&decoded.inputs);
        (decoded, result)
    })
    .await
    {
        Ok(r) => r,
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "the model failed on this request"),
    };
    let outputs = match result {
        Ok(o) => o,
        // The inputs were checked against the model's declaration, so what remains is the model's
        // own failure on these values (a shape the declaration did not pin down, say).
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match protocol::encode_response(&app.model.name, &decoded, app.model.session.outputs(), &outputs) {
        Ok(encoded) => {
            let mut response = Response::new(Body::from(encoded.body));
            let content_type = if encoded.json_len.is_some() { "application/octet-stream" } else { "application/json" };
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(n) = encoded.json_len {
                response.headers_mut().insert(HEADER_LENGTH, HeaderValue::from(n));
            }
            response
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Whether reading a body failed on the size limit rather than on the connection.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// SIGTERM (how containers and service managers stop a process) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("shutting down: finishing the requests under way");
}
