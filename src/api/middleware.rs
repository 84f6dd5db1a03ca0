//! What wraps every request: the 16 KiB body limit, the single error shape, security headers.

use std::sync::Arc;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::error::{error_response, ApiError};
use super::routes::{method_label, route_of, OTHER_ROUTE};
use super::AppState;

/// Request bodies larger than this get 413.
pub const MAX_BODY: usize = 16 * 1024;

fn is_auth_path(path: &str) -> bool {
    path.starts_with("/auth") || path == "/login" || path == "/register"
}

/// Reads the body up front (at most `MAX_BODY`), so an oversized one is refused whether or not
/// it announced its length.
async fn limit_body(req: &mut Request) -> Result<(), ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {} KiB", MAX_BODY / 1024),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = req.take_body();
    match body.into_bytes_limit(MAX_BODY).await {
        Ok(bytes) => {
            if let Some(key) = super::duplicate_keys::first_duplicate(&bytes) {
                return Err(ApiError::bad_request(format!(
                    "`{key}` appears twice in one object of the JSON body; send each field once"
                )));
            }
            req.set_body(bytes);
            Ok(())
        }
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(too_large()),
        Err(err) => Err(ApiError::bad_request(format!(
            "cannot read request body: {err}"
        ))),
    }
}

/// Turns any error from inside into `{"error": ...}` with the right status.
fn shape_error(err: poem::Error, method: &Method, path: &str) -> Response {
    if err.is::<ApiError>() {
        return err.into_response();
    }
    let status = err.status();
    if let Some(message) = super::param_words::explain(&err, path) {
        return error_response(status, &message);
    }
    let message = match status {
        StatusCode::NOT_FOUND => format!("no route for {method} {path}"),
        StatusCode::METHOD_NOT_ALLOWED => format!("method {method} is not allowed on {path}"),
        StatusCode::UNAUTHORIZED => {
            "missing or malformed Authorization header: send `Authorization: Bearer <access token>`"
                .to_string()
        }
        s if s.is_server_error() => {
            tracing::error!(error = %err, %method, path, "internal error");
            "internal server error".to_string()
        }
        _ => err.to_string(),
    };
    error_response(status, &message)
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

pub async fn around<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let metrics = req.data::<Arc<AppState>>().map(|s| s.metrics.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut resp = match limit_body(&mut req).await {
        Err(err) => err.into_response(),
        Ok(()) => match ep.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => shape_error(err, &method, &path),
        },
    };
    let status = resp.status();
    if (status.is_client_error() || status.is_server_error()) && !is_json(&resp) {
        let reason = status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase();
        resp = error_response(status, &reason);
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(route) = route_of(&path) {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(route.methods));
        }
    }
    let headers = resp.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(super::csp::policy(&path)),
    );
    if is_auth_path(&path) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        let route = route_of(&path).map_or(OTHER_ROUTE, |r| r.pattern);
        metrics.request(route, method_label(&method), status.as_u16(), elapsed);
    }
    tracing::debug!(%method, path, status = status.as_u16(), elapsed_us = elapsed.as_micros() as u64, "request");
    Ok(resp)
}
