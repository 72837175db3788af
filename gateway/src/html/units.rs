//! The ranking page at `/units` (`units.html`): every responsible unit side by side, sortable by
//! any column (server-side, through `order_by`), filtered by kind, exported as CSV.

use askama::Template;
use duban_proto::{departments::v1::DepartmentKind, gateway::v1 as pb};

use super::{
    Lang,
    layout::{Audience, Frame},
};

/// The kinds a page or a download may filter by: the directory's own names (departments.toml).
pub const KINDS: [(&str, DepartmentKind); 6] = [
    ("bureau", DepartmentKind::Bureau),
    ("commission", DepartmentKind::Commission),
    ("office", DepartmentKind::Office),
    ("town_or_street", DepartmentKind::TownOrStreet),
    ("company", DepartmentKind::Company),
    ("other", DepartmentKind::Other),
];

/// The kind written in a query (`town_or_street`), or `None` for an unknown name.
pub fn kind_from_param(name: &str) -> Option<DepartmentKind> {
    KINDS.iter().find(|(n, _)| *n == name).map(|(_, kind)| *kind)
}

/// A kind's label on the page.
pub(crate) fn kind_label(lang: Lang, kind: i32) -> &'static str {
    match DepartmentKind::try_from(kind).unwrap_or(DepartmentKind::Unspecified) {
        DepartmentKind::Bureau => lang.pick("局", "Bureau"),
        DepartmentKind::Commission => lang.pick("委", "Commission"),
        DepartmentKind::Office => lang.pick("办、中心", "Office"),
        DepartmentKind::TownOrStreet => lang.pick("街镇", "Town or street"),
        DepartmentKind::Company => lang.pick("区属企业", "Company"),
        DepartmentKind::Other => lang.pick("其他", "Other"),
        DepartmentKind::Unspecified => "",
    }
}

/// One sortable column: the `order_by` field and its heading.
struct Column {
    field: &'static str,
    heading: &'static str,
    /// The link's `order_by`: this field first, reversed when it already leads.
    order_by: String,
    /// `▲`/`▼` on the column the ranking leads with.
    arrow: &'static str,
}

#[derive(Template)]
#[template(path = "units.html")]
struct UnitsPage<'a> {
    frame: Frame<'a>,
    query: String,
    rankings: &'a pb::ListUnitRankingsResponse,
    kind: &'a str,
    columns: Vec<Column>,
    /// The query of this page's own filters, for the CSV download.
    export_query: String,
}

impl UnitsPage<'_> {
    fn kinds(&self) -> Vec<(&'static str, &'static str)> {
        KINDS
            .iter()
            .map(|(name, kind)| (*name, kind_label(self.frame.lang, *kind as i32)))
            .collect()
    }

    /// Whether the filter shows `name` now.
    fn selected(&self, name: &str) -> bool {
        self.kind == name
    }

    /// A unit's kind as the page writes it.
    fn kind_of(&self, row: &pb::UnitRanking) -> &'static str {
        kind_label(self.frame.lang, row.kind)
    }

    /// The link to this page ordered by `column`.
    fn sort_href(&self, column: &Column) -> String {
        page_query(self.frame.lang, self.frame.as_of, self.kind, &column.order_by)
    }
}

/// `?as_of=…&lang=en&kind=…&order_by=…`, each only when set. The template escapes it.
fn page_query(lang: Lang, as_of: &str, kind: &str, order_by: &str) -> String {
    let mut parts = Vec::new();
    if !as_of.is_empty() {
        parts.push(format!("as_of={as_of}"));
    }
    if lang == Lang::En {
        parts.push("lang=en".to_owned());
    }
    if !kind.is_empty() {
        parts.push(format!("kind={kind}"));
    }
    if !order_by.is_empty() {
        parts.push(format!("order_by={}", order_by.replace(' ', "+").replace(',', "%2C")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The ranking page at `/units`. `kind` is the query's kind name (empty for all).
pub fn units_page(
    lang: Lang,
    audience: Audience<'_>,
    rankings: &pb::ListUnitRankingsResponse,
    as_of_param: &str,
    kind: &str,
) -> Result<String, askama::Error> {
    let leading = rankings.order_by.split(',').next().unwrap_or("").trim();
    let (lead_field, lead_dir) = leading.split_once(' ').unwrap_or((leading, ""));
    let columns = [
        ("on_time_rate", lang.pick("按时率", "On-time rate"), "desc"),
        ("reporting_rate", lang.pick("报送率", "Reporting rate"), "desc"),
        ("returned_count", lang.pick("被退回", "Returned"), "asc"),
        ("overdue_order_count", lang.pick("逾期督办单", "Overdue orders"), "asc"),
        ("delivery_rate", lang.pick("指标达标率", "Targets on track"), "desc"),
    ]
    .into_iter()
    .map(|(field, heading, better)| {
        let leads = field == lead_field;
        let reverse = if better == "desc" { "asc" } else { "desc" };
        let direction = if leads && lead_dir == better { reverse } else { better };
        Column {
            field,
            heading,
            order_by: format!("{field} {direction}"),
            arrow: match (leads, lead_dir) {
                (true, "desc") => "▼",
                (true, _) => "▲",
                _ => "",
            },
        }
    })
    .collect();
    let frame = Frame {
        lang,
        title: lang.pick("责任单位排名", "Ranking of responsible units").to_owned(),
        subtitle: lang
            .pick(
                "报送纪律、退回、督办与指标推进",
                "Reporting discipline, returns, orders and delivery",
            )
            .to_owned(),
        as_of: as_of_param,
        path: "/units".to_owned(),
        unreachable: &rankings.unreachable,
        audience,
    };
    UnitsPage {
        query: frame.query(),
        export_query: page_query(lang, as_of_param, kind, &rankings.order_by),
        frame,
        rankings,
        kind,
        columns,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_query_keeps_every_filter_and_escapes_the_order() {
        assert_eq!(page_query(Lang::Zh, "", "", ""), "");
        assert_eq!(
            page_query(
                Lang::En,
                "2023-09-30",
                "company",
                "on_time_rate desc, returned_count asc"
            ),
            "?as_of=2023-09-30&lang=en&kind=company&order_by=on_time_rate+desc%2C+returned_count+asc"
        );
    }

    #[test]
    fn kinds_are_the_directory_names() {
        assert_eq!(kind_from_param("town_or_street"), Some(DepartmentKind::TownOrStreet));
        assert_eq!(kind_from_param("towns"), None);
    }
}
