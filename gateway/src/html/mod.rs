//! The dashboard pages, rendered on the server from askama templates (`gateway/templates/`, checked when
//! the crate compiles, escaping every value by construction): HTML with inline SVG charts, one style
//! sheet and one small script for live refresh, both served by the gateway itself from `gateway/static/`
//! (so the Content-Security-Policy allows no inline script or style). Nothing is loaded from elsewhere.

mod charts;
mod department;
mod layout;
mod measure;
pub mod my;
mod overview;
mod target_chart;
mod units;
mod workbook;

pub use charts::{Sparkline, sparkline};
pub use department::department_page;
pub(crate) use department::read_after_seconds;
pub use layout::{Audience, error_page, login_page};
pub use measure::measure_page;
pub use overview::overview_page;
pub use units::{KINDS, kind_from_param, units_page};
pub use workbook::upload_page;

// The helpers the templates call by path (`crate::html::num(..)`).
use layout::{amount, compliance_class, notice_badge, num, period, rag_class};

/// The page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文 (the default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The Chinese or the English text.
    pub(crate) fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// A title in this language: the English one falls back to the Chinese when the plan has none.
    fn title<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        self.pick(zh, if en.is_empty() { zh } else { en })
    }

    fn code(self) -> &'static str {
        self.pick("zh", "en")
    }

    fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}
