//! What the dev server adds around the API for a person at a browser: the page under `web/`
//! (read from disk on each request, so editing it needs no rebuild), local sign-in as a demo
//! person, and the local inbox.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::local_auth;
use crate::seed::DemoUser;

#[derive(Clone, Debug)]
pub struct WebState {
    pub users: Vec<DemoUser>,
    pub jwt_secret: String,
    pub emulator_endpoint: String,
}

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(|| file("index.html")))
        .route("/clients/{id}", get(|| file("index.html")))
        .route("/clients/{id}/evidence", get(|| file("index.html")))
        .route("/exports/{id}", get(|| file("index.html")))
        .route("/{asset}", get(|Path(asset): Path<String>| file_owned(asset)))
        .route("/dev/users", get(users))
        .route("/dev/token", post(token))
        .route("/dev/inbox", get(inbox))
        .with_state(state)
}

fn web_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

async fn file_owned(name: String) -> Response {
    file(&name).await
}

async fn file(name: &str) -> Response {
    let content_type = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    // Only files directly in web/: no paths, so nothing outside it can be asked for.
    if name.contains('/') || name.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(web_dir().join(name)).await {
        Ok(bytes) => {
            ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], bytes).into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn users(State(state): State<WebState>) -> Json<Vec<DemoUser>> {
    Json(state.users)
}

#[derive(Deserialize)]
struct TokenRequest {
    agent_id: String,
}

async fn token(State(state): State<WebState>, Json(request): Json<TokenRequest>) -> Response {
    match state.users.iter().find(|u| u.agent_id == request.agent_id) {
        Some(user) => {
            let token =
                local_auth::sign(&state.jwt_secret, &user.agent_id, &user.agent_id, &user.agency_id, &user.role, 12);
            Json(serde_json::json!({ "token": token })).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn inbox(State(state): State<WebState>) -> Response {
    match crate::inbox::sent(&reqwest::Client::new(), &state.emulator_endpoint).await {
        Ok(sent) => Json(sent).into_response(),
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}
