//! `GET /api/v1/bulletin?period=2023-09[&plan=..][&lang=en][&format=docx|html][&download=1]`: the monthly
//! bulletin as a Word document (the default) or a print-ready page, for signed-in readers (it names
//! units). It is assembled from the overview the dashboard shows for the period's last day (today while
//! the month runs), the compliance calendar of that day and the plan's supervision orders.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use duban_plan::Month;
use serde::Deserialize;

use super::{Web, json_error, pages::rendered};
use crate::{
    bulletin::{self, Bulletin, Sources, page::Style},
    calendar::to_date,
    dashboard::plan_id,
    error::GatewayError,
    html::{self, Lang},
};

/// The bulletin's query parameters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BulletinParams {
    /// The month, `YYYY-MM`.
    #[serde(default)]
    period: String,
    /// The plan's id (`jiading-2023`) or name (`plans/jiading-2023`); empty: the dashboard's plan.
    #[serde(default)]
    plan: String,
    /// `en` for English, anything else Chinese.
    #[serde(default)]
    lang: String,
    /// `docx` (the default) or `html`.
    #[serde(default)]
    format: String,
    /// `1` or `true`: the page as a file to save, its style sheet inside (as `duban bulletin` writes it).
    #[serde(default)]
    download: String,
}

/// What the bulletin is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Docx,
    Html,
}

impl BulletinParams {
    fn lang(&self) -> Lang {
        if self.lang == "en" { Lang::En } else { Lang::Zh }
    }

    fn format(&self) -> Result<Format, GatewayError> {
        match self.format.as_str() {
            "" | "docx" => Ok(Format::Docx),
            "html" => Ok(Format::Html),
            _ => Err(GatewayError::invalid("format", "must be `docx` or `html`")),
        }
    }

    fn download(&self) -> bool {
        matches!(self.download.as_str(), "1" | "true")
    }

    /// The query of the same bulletin as a Word document, for the page's link.
    fn docx_query(&self, plan: &str, period: Month) -> String {
        let mut query = format!("?period={}", period.key());
        if !self.plan.is_empty() {
            query.push_str(&format!("&plan={plan}"));
        }
        if self.lang() == Lang::En {
            query.push_str("&lang=en");
        }
        query
    }
}

impl Web {
    /// The bulletin `params` ask for, as the signed-in reader of `headers` may read it.
    async fn bulletin(&self, headers: &HeaderMap, params: &BulletinParams) -> Result<(Bulletin, String), GatewayError> {
        let caller = self.caller(headers).await?;
        let plan = if params.plan.is_empty() {
            self.0.plan.clone()
        } else {
            let name = if params.plan.starts_with("plans/") {
                params.plan.clone()
            } else {
                format!("plans/{}", params.plan)
            };
            format!("plans/{}", plan_id(&name, "plan")?)
        };
        let period = Month::parse(params.period.trim())
            .ok_or_else(|| GatewayError::invalid("period", "must be a month written YYYY-MM, for example 2023-09"))?;
        let dashboard = &self.0.dashboard;
        let catalogue = dashboard.catalogue(&plan).await?;
        let zone = catalogue.calendar.zone();
        let first = catalogue.calendar.periods().first().copied();
        let as_of = bulletin::as_of_for(period, zone.today())
            .filter(|_| first.is_none_or(|first| period >= first))
            .ok_or_else(|| {
                GatewayError::invalid(
                    "period",
                    "must be a month from the plan's first reporting period up to this month",
                )
            })?;
        let as_of = to_date(as_of);
        let (overview, compliance, orders) = futures::join!(
            dashboard.overview(&caller, &plan, Some(&as_of)),
            dashboard.compliance_calendar(&caller, &plan, Some(&as_of)),
            bulletin::read_orders(dashboard.backends(), &caller, &plan),
        );
        let overview = overview?;
        let compliance = compliance?;
        let orders = orders
            .inspect_err(|status| tracing::warn!(code = ?status.code(), detail = status.message(), "the bulletin could not read the supervision orders"))
            .ok();
        let bulletin = bulletin::assemble(
            &Sources {
                plan: &catalogue.plan,
                period,
                issued: zone.today(),
                number_format: &self.0.bulletin_number,
                overview: &overview,
                compliance: compliance.as_deref(),
                orders: orders.as_deref(),
                zone,
                names: &catalogue.department_names,
            },
            params.lang(),
        );
        let query = params.docx_query(&plan, period);
        Ok((bulletin, query))
    }
}

fn attachment(content_type: &str, name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

fn file_name(bulletin: &Bulletin, extension: &str) -> String {
    let lang = bulletin.lang.pick("", "-en");
    format!("bulletin-{}{lang}.{extension}", bulletin.period)
}

pub(crate) async fn api_bulletin(
    State(web): State<Web>,
    Query(params): Query<BulletinParams>,
    headers: HeaderMap,
) -> Response {
    let format = match params.format() {
        Ok(format) => format,
        Err(error) => return json_error(error),
    };
    let result = web.bulletin(&headers, &params).await;
    match (format, result) {
        (Format::Docx, Ok((bulletin, _))) => match bulletin::docx::to_docx(&bulletin) {
            Ok(bytes) => attachment(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                file_name(&bulletin, "docx"),
                bytes,
            ),
            Err(error) => {
                tracing::error!(%error, "a bulletin could not be written");
                (StatusCode::INTERNAL_SERVER_ERROR, "the bulletin could not be written").into_response()
            }
        },
        (Format::Html, Ok((bulletin, _))) if params.download() => {
            match bulletin::page::to_html(&bulletin, Style::Inline, None) {
                Ok(page) => attachment(
                    "text/html; charset=utf-8",
                    file_name(&bulletin, "html"),
                    page.into_bytes(),
                ),
                Err(error) => rendered(StatusCode::INTERNAL_SERVER_ERROR, Err(error)),
            }
        }
        (Format::Html, Ok((bulletin, query))) => rendered(
            StatusCode::OK,
            bulletin::page::to_html(&bulletin, Style::Linked, Some(&query)),
        ),
        // As the dashboard's pages do: whoever may not look is sent to sign in, or to their own page.
        (Format::Html, Err(error)) if !params.download() => super::pages::elsewhere(params.lang(), &error)
            .unwrap_or_else(|| rendered(error.http_status(), html::error_page(params.lang(), &error.to_string()))),
        (_, Err(error)) => json_error(error),
    }
}
