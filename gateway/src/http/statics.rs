//! The page's style sheet, live-refresh script and the report form's check script (`my.js`), built into the binary and served from `/static/`, so
//! that the Content-Security-Policy can forbid every inline style and script.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

/// The files under `/static/`: name, content type and text.
const FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    ),
    ("bulletin.css", "text/css; charset=utf-8", crate::bulletin::page::STYLE),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/live.js"),
    ),
    (
        "my.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/my.js"),
    ),
];

pub(crate) async fn static_file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(file, ..)| *file == name) {
        // `no-cache`: the browser keeps a copy but asks again, so a new gateway's files are used at once.
        Some((_, content_type, text)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
