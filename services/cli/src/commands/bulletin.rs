//! `duban bulletin`: the monthly bulletin (月度通报) saved to a file, as Word (.docx) or as a page to print
//! (.html). The gateway assembles it (`GET /api/v1/bulletin`), so the command and the dashboard's download
//! are one document with one set of figures; the command fetches it over the same channel as its gRPC
//! calls (the gateway's port answers HTTP on HTTP/2 too), with the token, TLS and deadline they carry.

use std::path::Path;

use anyhow::{Context, bail};
use duban_kit::Settings;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::commands::Connection;

/// What the file is written as, from its extension.
fn format_of(output: &Path) -> anyhow::Result<&'static str> {
    match output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("docx") => Ok("docx"),
        Some("html" | "htm") => Ok("html"),
        _ => bail!(
            "--output {} must end in .docx (Word) or .html (a page to print)",
            output.display()
        ),
    }
}

/// The request's path and query: the page as a file to save, its style sheet inside.
fn path(period: &str, plan: &str, lang: &str, format: &str) -> String {
    let mut path = format!("/api/v1/bulletin?period={period}&plan={plan}&format={format}");
    if lang == "en" {
        path.push_str("&lang=en");
    }
    if format == "html" {
        path.push_str("&download=1");
    }
    path
}

/// Fetches the bulletin of `period` (`YYYY-MM`) in `lang` and writes it to `output`.
pub async fn save(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    period: &str,
    lang: &str,
    output: &Path,
) -> anyhow::Result<()> {
    let format = format_of(output)?;
    let channel = connection.channel(settings, &settings.gateway.endpoint_url())?;
    let request = http::Request::get(path(period, plan, lang, format))
        .body(tonic::body::Body::empty())
        .context("the bulletin request could not be made")?;
    let answer = channel
        .oneshot(request)
        .await
        .map_err(|error| anyhow::anyhow!("the gateway did not answer: {error}"))?;
    let status = answer.status();
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|status| anyhow::anyhow!("the bulletin could not be read: {}", status.message()))?
        .to_bytes();
    if !status.is_success() {
        // The gateway's JSON error: {"error": {"code", "message"}}.
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("the gateway refused the bulletin ({status}): {message}");
    }
    std::fs::write(output, &body).with_context(|| format!("cannot write {}", output.display()))?;
    println!("{}: {} bytes", output.display(), body.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_chooses_the_format() {
        assert_eq!(format_of(Path::new("通报.docx")).unwrap(), "docx");
        assert_eq!(format_of(Path::new("b.HTML")).unwrap(), "html");
        assert!(format_of(Path::new("b.pdf")).is_err());
        assert_eq!(
            path("2023-09", "jiading-2023", "en", "html"),
            "/api/v1/bulletin?period=2023-09&plan=jiading-2023&format=html&lang=en&download=1"
        );
    }
}
