//! The bulletin as a print-ready HTML page (`templates/bulletin.html`, style sheet `static/bulletin.css`):
//! A4 pages under `@media print`, so that a browser's "print to PDF" gives a clean document; no script,
//! nothing loaded from elsewhere. Served by the gateway it links the style sheet (its CSP forbids an
//! inline one); saved as a file (`duban bulletin --output x.html`) it carries the style sheet inside.

use askama::Template;

use super::Bulletin;

/// The bulletin's style sheet, as `/static/bulletin.css` serves it.
pub const STYLE: &str = include_str!("../../static/bulletin.css");

/// Where the page's style sheet comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `<link>` to `/static/bulletin.css`: a page the gateway serves.
    Linked,
    /// `<style>` inside: a file saved to open on its own.
    Inline,
}

#[derive(Template)]
#[template(path = "bulletin.html")]
struct BulletinPage<'a> {
    bulletin: &'a Bulletin,
    /// The style sheet's text when it goes inside the page.
    inline_style: Option<&'static str>,
    /// The query of the .docx download of the same bulletin, when served.
    docx_query: Option<&'a str>,
}

impl BulletinPage<'_> {
    fn lang_code(&self) -> &'static str {
        self.bulletin.lang.pick("zh", "en")
    }
}

/// The page; `docx_query` (`?period=…`) adds a link to the Word document of the same bulletin.
pub fn to_html(bulletin: &Bulletin, style: Style, docx_query: Option<&str>) -> Result<String, askama::Error> {
    BulletinPage {
        bulletin,
        inline_style: (style == Style::Inline).then_some(STYLE),
        docx_query,
    }
    .render()
}
