//! The HTTP side of [`Api`]: routes, JSON errors, the request guards (host, origin, auth) and
//! the listener loop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query as QueryExt, RawPathParams,
    Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{Api, ApiError, IndexEvent, MAX_LIMIT, Query};
use mailwire_codec::calendar::days_from_civil;

/// The web page, one file, no build step and nothing fetched from elsewhere.
const PAGE: &str = include_str!("page.html");

/// The largest request body accepted (JSON bodies are small).
pub const MAX_BODY: usize = 64 * 1024;

/// The longest `timeout` of the wait endpoint.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// How the HTTP listener guards itself.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// `USER:PASSWORD` for Basic authentication, or a token for `Authorization: Bearer`;
    /// required when the listener is not on loopback.
    pub auth: Option<String>,
    /// The address bound: on loopback, requests must name a loopback host (DNS rebinding).
    pub local: Option<SocketAddr>,
}

#[derive(Clone)]
struct AppState {
    api: Api,
    options: HttpOptions,
}

/// The routes of the API and the page, with the guards, for `axum::serve` or tests.
pub fn router(api: Api, options: HttpOptions) -> Router {
    let state = AppState { api, options };
    Router::new()
        .route("/", get(page))
        .route("/api/v1/health", get(health))
        .route("/api/v1/users", get(users).post(add_user))
        .route("/api/v1/users/{login}", axum::routing::delete(remove_user))
        .route("/api/v1/users/{login}/mailboxes", get(mailboxes))
        .route(
            "/api/v1/users/{login}/messages",
            axum::routing::delete(purge_user),
        )
        .route("/api/v1/messages", get(list).delete(purge))
        .route("/api/v1/messages/wait", get(wait))
        .route(
            "/api/v1/messages/{id}",
            get(message).delete(delete).patch(patch),
        )
        .route("/api/v1/messages/{id}/raw", get(raw))
        .route("/api/v1/messages/{id}/relay", axum::routing::post(relay))
        .route("/api/v1/messages/{id}/html", get(html))
        .route("/api/v1/messages/{id}/attachments/{n}", get(attachment))
        .route("/api/v1/events", get(events))
        .route(
            "/api/v1/faults",
            get(faults_list).post(faults_add).delete(faults_clear),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves `router` on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    api: Api,
    options: HttpOptions,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = router(api, options);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

/// A JSON error: `{"error": "...", "status": n}`.
fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (
        status,
        axum::Json(json!({"error": msg.to_string(), "status": status.as_u16()})),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Store(mailwire_store::StoreError::NoSuchMailbox(_)) => StatusCode::NOT_FOUND,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, self)
    }
}

fn json_rejection(r: JsonRejection) -> Response {
    let status = match &r {
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
        JsonRejection::JsonSyntaxError(_) => StatusCode::BAD_REQUEST,
        _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        _ => r.status(),
    };
    error(status, r.body_text())
}

fn query_rejection(r: QueryRejection) -> Response {
    error(StatusCode::BAD_REQUEST, r.body_text())
}

/// A JSON body; its rejections are JSON errors (415 without the JSON type, 400 for bad JSON,
/// 422 for the wrong fields, 413 when too large).
struct JsonBody<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|j| Self(j.0))
            .map_err(json_rejection)
    }
}

/// A query string; a malformed one is a JSON 400.
struct QueryParams<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        QueryExt::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(query_rejection)
    }
}

/// The path parameter `name`, parsed; a JSON 400 naming `what` when it does not parse.
async fn path_param<T: std::str::FromStr, S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
    what: &str,
) -> Result<T, Response> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let raw = params
        .iter()
        .find(|(k, _)| *k == name)
        .map_or("", |(_, v)| v);
    raw.parse()
        .map_err(|_| error(StatusCode::BAD_REQUEST, format!("{raw:?} is not {what}")))
}

/// The `{id}` of a message route.
struct MsgId(u64);

impl<S: Send + Sync> FromRequestParts<S> for MsgId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        path_param(parts, state, "id", "a message id")
            .await
            .map(Self)
    }
}

/// The `{n}` of the attachment route.
struct AttachmentNo(usize);

impl<S: Send + Sync> FromRequestParts<S> for AttachmentNo {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        path_param(parts, state, "n", "an attachment number")
            .await
            .map(Self)
    }
}

/// Host, origin and credentials, before any route.
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if let Some(local) = state.options.local
        && local.ip().is_loopback()
    {
        // On loopback, only a loopback name may be asked for: a page served from a
        // rebinding domain cannot read or change the mail.
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_host(host) {
            return error(
                StatusCode::MISDIRECTED_REQUEST,
                "the Host is not a loopback name",
            );
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        // A cross-site page may not change anything: its Origin names another host.
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
            if !origin_host.eq_ignore_ascii_case(host) {
                return error(StatusCode::FORBIDDEN, "cross-origin request refused");
            }
        }
    }
    if let Some(secret) = &state.options.auth
        && !authorized(headers, secret)
    {
        let mut r = error(StatusCode::UNAUTHORIZED, "authentication required");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mailwire\", charset=\"UTF-8\""),
        );
        return r;
    }
    next.run(req).await
}

fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn authorized(headers: &HeaderMap, secret: &str) -> bool {
    use base64::Engine as _;
    use subtle::ConstantTimeEq;
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let given = if let Some(b) = value.strip_prefix("Basic ") {
        match base64::engine::general_purpose::STANDARD.decode(b.trim()) {
            Ok(v) => v,
            Err(_) => return false,
        }
    } else if let Some(t) = value.strip_prefix("Bearer ") {
        t.trim().as_bytes().to_vec()
    } else {
        return false;
    };
    given.ct_eq(secret.as_bytes()).into()
}

async fn page() -> Response {
    let mut r = axum::response::Html(PAGE).into_response();
    let h = r.headers_mut();
    // The page's own script and style are inline; nothing is loaded from elsewhere; message
    // HTML is shown only in a sandboxed frame from /api/v1/messages/{id}/html.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             img-src 'self' data:; frame-src 'self'; connect-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn health(State(s): State<AppState>) -> Response {
    s.api.ready().await;
    axum::Json(json!({"status": "ok", "messages": s.api.count()})).into_response()
}

async fn users(State(s): State<AppState>) -> Response {
    axum::Json(json!({"users": s.api.users()})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    login: String,
    password: String,
    #[serde(default)]
    addresses: Vec<String>,
}

async fn add_user(State(s): State<AppState>, JsonBody(body): JsonBody<NewUser>) -> Response {
    match s
        .api
        .add_user(&body.login, &body.password, &body.addresses)
        .await
    {
        Ok(()) => (
            StatusCode::CREATED,
            axum::Json(json!({"login": body.login.to_lowercase()})),
        )
            .into_response(),
        Err(ApiError::Conflict(m)) if m.contains("not a valid login") => {
            error(StatusCode::UNPROCESSABLE_ENTITY, m)
        }
        Err(e) => e.into_response(),
    }
}

async fn remove_user(State(s): State<AppState>, Path(login): Path<String>) -> Response {
    match s.api.remove_user(&login).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn mailboxes(State(s): State<AppState>, Path(login): Path<String>) -> Response {
    match s.api.mailboxes(&login).await {
        Ok(m) => axum::Json(json!({"mailboxes": m})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn purge_user(State(s): State<AppState>, Path(login): Path<String>) -> Response {
    if s.api.store().user(&login).is_none() {
        return error(StatusCode::NOT_FOUND, format!("user {login} not found"));
    }
    let q = Query {
        user: Some(login),
        ..Query::default()
    };
    match s.api.purge(&q).await {
        Ok(n) => axum::Json(json!({"deleted": n})).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The query string of the list, purge and wait endpoints.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Params {
    user: Option<String>,
    mailbox: Option<String>,
    from: Option<String>,
    to: Option<String>,
    subject: Option<String>,
    text: Option<String>,
    /// Stored at or after: RFC 3339 (`2026-12-07`, `2026-12-07T10:00:00Z`) or Unix seconds.
    since: Option<String>,
    /// Stored before: the same forms.
    until: Option<String>,
    unread: Option<bool>,
    limit: Option<usize>,
    /// Ids below this (the next page).
    before: Option<u64>,
    /// Ids above this (newer than a message seen).
    after: Option<u64>,
    /// The wait's limit: `30s`, `500ms`, `2m` or seconds.
    timeout: Option<String>,
}

impl Params {
    fn query(&self) -> Result<Query, Response> {
        let time = |v: &Option<String>, name: &str| -> Result<Option<i64>, Response> {
            v.as_deref()
                .map(|t| {
                    parse_time(t).ok_or_else(|| {
                        error(
                            StatusCode::BAD_REQUEST,
                            format!("{name}={t:?}: expected RFC 3339 or Unix seconds"),
                        )
                    })
                })
                .transpose()
        };
        Ok(Query {
            user: self.user.clone(),
            mailbox: self.mailbox.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            since: time(&self.since, "since")?,
            until: time(&self.until, "until")?,
            unread: self.unread,
        })
    }

    fn limit(&self) -> Result<usize, Response> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(error(
                StatusCode::BAD_REQUEST,
                format!("limit={n}: between 1 and {MAX_LIMIT}"),
            )),
        }
    }
}

/// RFC 3339 date or date-time (`Z` or `±hh:mm`), or Unix seconds.
fn parse_time(t: &str) -> Option<i64> {
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    let mut secs = days * 86_400;
    if b.len() == 10 {
        return Some(secs);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    secs += h * 3600 + mi * 60 + s;
    let mut rest = &t[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    match rest {
        "Z" | "z" => Some(secs),
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let off = oh * 3600 + om * 60;
            Some(if rest.starts_with('+') {
                secs - off
            } else {
                secs + off
            })
        }
        _ => None,
    }
}

/// `30s`, `500ms`, `2m` or plain seconds.
fn parse_duration(t: &str) -> Option<Duration> {
    let t = t.trim();
    let (n, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, ""), |i| t.split_at(i));
    let n: u64 = n.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

async fn list(State(s): State<AppState>, QueryParams(p): QueryParams<Params>) -> Response {
    let (q, limit) = match (p.query(), p.limit()) {
        (Ok(q), Ok(l)) => (q, l),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if p.timeout.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "timeout is for /api/v1/messages/wait",
        );
    }
    s.api.ready().await;
    match s.api.search(&q, limit, p.before, p.after).await {
        Ok(page) => axum::Json(page).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn purge(State(s): State<AppState>, QueryParams(p): QueryParams<Params>) -> Response {
    if p.limit.is_some() || p.before.is_some() || p.after.is_some() || p.timeout.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "DELETE /api/v1/messages takes filters only (no limit, before, after, timeout)",
        );
    }
    let q = match p.query() {
        Ok(q) => q,
        Err(e) => return e,
    };
    match s.api.purge(&q).await {
        Ok(n) => axum::Json(json!({"deleted": n})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn wait(State(s): State<AppState>, QueryParams(p): QueryParams<Params>) -> Response {
    let q = match p.query() {
        Ok(q) => q,
        Err(e) => return e,
    };
    let timeout = match p.timeout.as_deref().map(parse_duration) {
        None => Duration::from_secs(30),
        Some(Some(d)) if d <= MAX_WAIT => d,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "timeout: like 30s, 500ms or 2m, at most {}s",
                    MAX_WAIT.as_secs()
                ),
            );
        }
    };
    match s.api.wait(&q, p.after, timeout).await {
        Some(m) => axum::Json(m).into_response(),
        None => error(
            StatusCode::REQUEST_TIMEOUT,
            format!("no matching message within {timeout:?}"),
        ),
    }
}

async fn message(State(s): State<AppState>, MsgId(id): MsgId) -> Response {
    match s.api.message(id).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn raw(State(s): State<AppState>, MsgId(id): MsgId) -> Response {
    match s.api.raw(id).await {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("message/rfc822"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&format!("attachment; filename=\"{id}.eml\""))
                        .unwrap_or(HeaderValue::from_static("attachment")),
                ),
            ],
            Body::from(bytes),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct HtmlParams {
    /// Load remote images (off unless the person asks).
    remote: bool,
}

/// The HTML body, for a sandboxed frame: no scripts, no forms, no plugins, and no remote
/// content unless `remote=true` (images only).
async fn html(
    State(s): State<AppState>,
    MsgId(id): MsgId,
    QueryParams(p): QueryParams<HtmlParams>,
) -> Response {
    let v = match s.api.message(id).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let Some(body) = v.html else {
        return error(StatusCode::NOT_FOUND, "the message has no HTML body");
    };
    let img = if p.remote {
        "img-src data: http: https:"
    } else {
        "img-src data:"
    };
    let csp = format!(
        "sandbox; default-src 'none'; {img}; style-src 'unsafe-inline'; font-src data:; \
         form-action 'none'; base-uri 'none'"
    );
    let mut r = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn attachment(
    State(s): State<AppState>,
    MsgId(id): MsgId,
    AttachmentNo(n): AttachmentNo,
) -> Response {
    match s.api.attachment(id, n).await {
        Ok((name, ctype, data)) => {
            let name = name.unwrap_or_else(|| format!("attachment-{n}"));
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_control() || c == '"' || c == '\\' {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            let disposition = format!(
                "attachment; filename=\"{}\"; filename*=UTF-8''{}",
                safe.replace(|c: char| !c.is_ascii(), "_"),
                percent(&safe)
            );
            let mut r = Body::from(data).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&ctype)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn delete(State(s): State<AppState>, MsgId(id): MsgId) -> Response {
    match s.api.delete(id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    seen: bool,
}

async fn patch(
    State(s): State<AppState>,
    MsgId(id): MsgId,
    JsonBody(body): JsonBody<Patch>,
) -> Response {
    match s.api.set_seen(id, body.seen).await {
        Ok(()) => match s.api.summary(id) {
            Ok(m) => axum::Json(m).into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn relay(
    State(s): State<AppState>,
    MsgId(id): MsgId,
    JsonBody(body): JsonBody<super::Relay>,
) -> Response {
    match s.api.relay(id, &body).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn faults_list(State(s): State<AppState>) -> Response {
    axum::Json(json!({"faults": s.api.faults().list()})).into_response()
}

async fn faults_add(
    State(s): State<AppState>,
    JsonBody(rule): JsonBody<super::FaultRule>,
) -> Response {
    match s.api.faults().add(rule.clone()) {
        Ok(()) => (StatusCode::CREATED, axum::Json(rule)).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn faults_clear(State(s): State<AppState>) -> Response {
    s.api.faults().clear();
    StatusCode::NO_CONTENT.into_response()
}

/// Server-Sent Events: `stored` and `changed` carry the summary, `deleted` the id.
async fn events(State(s): State<AppState>) -> Response {
    let rx = s.api.events();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        {
            let ev = match rx.recv().await {
                Ok(IndexEvent::Stored(m)) => Event::default()
                    .event("stored")
                    .json_data(&*m)
                    .unwrap_or_default(),
                Ok(IndexEvent::Changed(m)) => Event::default()
                    .event("changed")
                    .json_data(&*m)
                    .unwrap_or_default(),
                Ok(IndexEvent::Deleted(id)) => Event::default()
                    .event("deleted")
                    .json_data(json!({"id": id}))
                    .unwrap_or_default(),
                // The reader fell behind: tell it to reload.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    Event::default().event("reload").data("{}")
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok::<_, Infallible>(ev), rx))
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("2026-12-07"), Some(1_796_601_600));
        assert_eq!(
            parse_time("2026-12-07T01:02:03Z"),
            Some(1_796_601_600 + 3723)
        );
        assert_eq!(
            parse_time("2026-12-07T01:02:03+01:00"),
            Some(1_796_601_600 + 123)
        );
        assert_eq!(
            parse_time("2026-12-07T01:02:03.5Z"),
            Some(1_796_601_600 + 3723)
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-12-07T25:00:00Z",
            "2026-12-07T01:02",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("2h"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:3080",
            "127.0.0.1:80",
            "[::1]:3080",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:3080",
            "10.0.0.1:3080",
            "localhost.evil",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
