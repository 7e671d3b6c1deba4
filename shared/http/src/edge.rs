//! The router as it faces the world: every answer that is not a success is problem+json, and a
//! panic is an answered 500, not a dead process.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;

use super::problem::{MAX_BODY_BYTES, Problem};

/// What the API answers for a path it does not have: problem+json like every error.
pub async fn no_such_route() -> Problem {
    Problem::not_found("There is no such resource.")
}

/// An HTTP function's router as it faces the world, in Lambda and locally alike. Every answer
/// that is not a success is problem+json: an unknown route (404), a wrong method (405, with
/// `Allow`), a body over `MAX_BODY_BYTES` (413), whatever axum itself refuses (an undecodable
/// path, query or body: 400, or its own status), and a panic — caught, logged with the request
/// id, answered 500.
pub fn edge(router: Router) -> Router {
    router
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(as_problem))
        .layer(axum::middleware::from_fn(catch_panic))
}

/// An error answer that is not problem+json yet (axum's own rejections are plain text or empty)
/// becomes one of its status; `Allow` is kept.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/problem+json"));
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let problem = match status {
        StatusCode::NOT_FOUND => Problem::not_found("There is no such resource."),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method-not-allowed",
            "Method not allowed",
            "This resource does not answer this method; the Allow header lists those it does.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::too_large(),
        StatusCode::UNAUTHORIZED => Problem::unauthorized("a bearer token is required"),
        client if client.is_client_error() => Problem::new(
            client,
            "invalid-request",
            "Invalid request",
            "The request could not be read: its path, query, headers or body are not valid.",
        ),
        _ => Problem::internal(),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut answer = problem.into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// A handler that panics answers 500 like any failure, logged with the request id; the process
/// goes on serving (release builds unwind for this).
async fn catch_panic(request: Request, next: Next) -> Response {
    let request_id = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    };
    match CatchUnwind(Box::pin(next.run(request))).await {
        Ok(response) => response,
        Err(()) => {
            tracing::error!(request_id, "a handler panicked; answered 500");
            Problem::internal().into_response()
        }
    }
}

/// A future whose panic becomes `Err(())` instead of unwinding further.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
