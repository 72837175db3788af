//! The monthly bulletin (月度通报): what leadership circulates to every unit, assembled once from the
//! overview the dashboard shows (the same snapshot, so the figures agree), the compliance calendar and
//! the supervision orders, as a document model that [`docx`] writes as Word and [`page`] renders as a
//! print-ready HTML page, in Chinese or in English.

pub mod docx;
pub mod page;
mod sources;

use chrono::{Datelike, NaiveDate};
use duban_plan::{Month, PlanZone, view::DepartmentNames};
use duban_proto::{
    common::v1::QuantityUnit,
    gateway::v1 as pb,
    measures::v1::Plan,
    reporting::v1::{ComplianceStatus, DepartmentCompliance, Order, OrderState},
};

pub use sources::read_orders;

use crate::{calendar::to_naive, html::Lang, rag::Rag};

/// A table of the bulletin: a header row, then rows of text, the figures written as the dashboard
/// writes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// The column names.
    pub header: Vec<String>,
    /// The rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

/// One numbered section: its heading (`一、总体情况`), paragraphs, then its tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    /// The heading with its number.
    pub heading: String,
    /// The text, paragraph by paragraph.
    pub paragraphs: Vec<String>,
    /// The tables after the text.
    pub tables: Vec<Table>,
}

impl Table {
    /// A table under the column names `header`.
    fn new(header: &[&str], rows: Vec<Vec<String>>) -> Table {
        Table {
            header: header.iter().map(|&h| h.to_owned()).collect(),
            rows,
        }
    }
}

impl Section {
    /// A section of one paragraph, with its table only if it has rows (an empty table says
    /// nothing the paragraph does not).
    fn listing(heading: String, paragraph: String, header: &[&str], rows: Vec<Vec<String>>) -> Section {
        Section {
            heading,
            paragraphs: vec![paragraph],
            tables: if rows.is_empty() {
                Vec::new()
            } else {
                vec![Table::new(header, rows)]
            },
        }
    }

    /// A section whose figures could not be read: its heading and why, with `note` added to
    /// the bulletin's notes.
    fn unavailable(heading: String, text: &str, note: &str, notes: &mut Vec<String>) -> Section {
        notes.push(note.to_owned());
        Section {
            heading,
            paragraphs: vec![text.to_owned()],
            tables: Vec::new(),
        }
    }
}

/// The bulletin, every text already in its language.
#[derive(Debug, Clone, PartialEq)]
pub struct Bulletin {
    /// Its language.
    pub lang: Lang,
    /// Who issues it: the plan's issuing body (the header line of a government notice).
    pub issuer: String,
    /// The title: the plan's title, 推进情况月度通报, and the month.
    pub title: String,
    /// The document number, from `gateway.bulletin_number`.
    pub number: String,
    /// The date the figures are for (the period's last day, or today while the month runs).
    pub as_of: NaiveDate,
    /// The period, `YYYY-MM`.
    pub period: String,
    /// "数据截至2023年9月30日".
    pub as_of_line: String,
    /// The date it was issued, as written under the signature.
    pub date: String,
    /// What could not be read, so that the bulletin is partial; empty when complete.
    pub notes: Vec<String>,
    /// 一 to 五.
    pub sections: Vec<Section>,
}

/// What a bulletin is made of.
#[derive(Debug)]
pub struct Sources<'a> {
    /// The plan (title, issuing body).
    pub plan: &'a Plan,
    /// The month.
    pub period: Month,
    /// The day it is issued on.
    pub issued: NaiveDate,
    /// The document number's format (`gateway.bulletin_number`).
    pub number_format: &'a str,
    /// The overview as of the bulletin's date: what the dashboard shows for it.
    pub overview: &'a pb::Overview,
    /// Every department's compliance calendar as of that date; `None` when it could not be read.
    pub compliance: Option<&'a [DepartmentCompliance]>,
    /// Every supervision order of the plan; `None` when they could not be read.
    pub orders: Option<&'a [Order]>,
    /// The plan's time zone, in which orders' times become days.
    pub zone: PlanZone,
    /// Department code to name, for the orders' units and any unit compliance leaves unnamed.
    pub names: &'a DepartmentNames,
}

impl Sources<'_> {
    fn name(&self, code: &str) -> String {
        self.names.get(code).cloned().unwrap_or_else(|| code.to_owned())
    }
}

/// The day a bulletin for `period` is as of, given `today`: the period's last day, or today while the
/// period runs; `None` for a period that has not begun.
pub fn as_of_for(period: Month, today: NaiveDate) -> Option<NaiveDate> {
    (period.first_day() <= today).then(|| period.last_day().min(today))
}

/// The document number for `period`: `format` with `{year}` and `{month}` replaced (the month without
/// a leading zero, as numbers are printed: 督办通报〔2023〕9号).
pub fn document_number(format: &str, period: Month) -> String {
    format
        .replace("{year}", &period.year.to_string())
        .replace("{month}", &period.month.to_string())
}

fn date_text(lang: Lang, date: NaiveDate) -> String {
    match lang {
        Lang::Zh => format!("{}年{}月{}日", date.year(), date.month(), date.day()),
        Lang::En => date.format("%-d %B %Y").to_string(),
    }
}

fn month_text(lang: Lang, period: Month) -> String {
    match lang {
        Lang::Zh => format!("{}年{}月", period.year, period.month),
        Lang::En => period.first_day().format("%B %Y").to_string(),
    }
}

/// A target's unit as written after its figures.
pub fn unit_label(lang: Lang, unit: i32) -> &'static str {
    let unit = QuantityUnit::try_from(unit).unwrap_or(QuantityUnit::Unspecified);
    match lang {
        Lang::Zh => duban_plan::quantity::unit_label_zh(unit),
        Lang::En => duban_plan::quantity::unit_label_en(unit),
    }
}

/// How many of a kind are at each rating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RagCounts {
    /// All of them.
    pub total: usize,
    /// RED.
    pub red: usize,
    /// AMBER.
    pub amber: usize,
    /// GREEN.
    pub green: usize,
    /// NO_DATA.
    pub no_data: usize,
}

impl RagCounts {
    fn of(rags: impl Iterator<Item = i32>) -> Self {
        let mut counts = Self::default();
        for rag in rags {
            counts.total += 1;
            match Rag::from_proto(rag) {
                Rag::Red => counts.red += 1,
                Rag::Amber => counts.amber += 1,
                Rag::Green => counts.green += 1,
                Rag::NoData => counts.no_data += 1,
            }
        }
        counts
    }
}

/// The reports due by the bulletin's date and what became of them, from the overview's compliance summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportCounts {
    /// Due by the date.
    pub expected: i32,
    /// Of those, received.
    pub received: i32,
    /// Received by the due day.
    pub on_time: i32,
    /// Received after it.
    pub late: i32,
    /// Not received.
    pub missing: i32,
}

impl ReportCounts {
    fn of(summary: &pb::ComplianceSummary) -> Self {
        Self {
            expected: summary.expected_count,
            received: summary.received_count,
            on_time: summary.on_time_count,
            late: summary.received_count - summary.on_time_count,
            missing: summary.expected_count - summary.received_count,
        }
    }
}

/// One unit's late and missing reports by the date, from its compliance calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UnitDiscipline {
    code: String,
    name: String,
    late: usize,
    missing: usize,
    max_days_overdue: i64,
}

fn unit_discipline(
    departments: &[DepartmentCompliance],
    as_of: NaiveDate,
    name: impl Fn(&str) -> String,
) -> Vec<UnitDiscipline> {
    let mut units: Vec<UnitDiscipline> = departments
        .iter()
        .filter_map(|d| {
            let (mut late, mut missing, mut oldest) = (0, 0, None::<NaiveDate>);
            for period in &d.periods {
                for m in &period.measures {
                    if m.status == ComplianceStatus::Late as i32 {
                        late += 1;
                    } else if m.status == ComplianceStatus::Missing as i32 {
                        missing += 1;
                        let due = period.due_date.as_ref().and_then(to_naive);
                        oldest = match (oldest, due) {
                            (Some(o), Some(d)) => Some(o.min(d)),
                            (o, d) => o.or(d),
                        };
                    }
                }
            }
            (late + missing > 0).then(|| UnitDiscipline {
                code: d.department.clone(),
                name: if d.display_name.is_empty() {
                    name(&d.department)
                } else {
                    d.display_name.clone()
                },
                late,
                missing,
                max_days_overdue: oldest.map_or(0, |o| (as_of - o).num_days()),
            })
        })
        .collect();
    units.sort_by(|a, b| {
        b.missing
            .cmp(&a.missing)
            .then(b.late.cmp(&a.late))
            .then(a.code.cmp(&b.code))
    });
    units
}

/// An order as the bulletin sees it on its date: opened, closed or withdrawn by then, and overdue.
#[derive(Debug, Clone)]
struct OrderOnDate<'a> {
    order: &'a Order,
    opened: NaiveDate,
    /// The day it was closed or withdrawn, if by the bulletin's date.
    ended: Option<NaiveDate>,
    overdue: bool,
}

fn orders_on(orders: &[Order], zone: PlanZone, as_of: NaiveDate) -> Vec<OrderOnDate<'_>> {
    let day = |t: &prost_types::Timestamp| zone.day_of_us(duban_kit::columns::micros(t));
    let mut out: Vec<OrderOnDate<'_>> = orders
        .iter()
        .filter_map(|order| {
            let opened = day(order.create_time.as_ref()?);
            if opened > as_of {
                return None;
            }
            let ended = order.close_time.as_ref().map(day).filter(|d| *d <= as_of);
            let overdue = ended.is_none()
                && order
                    .response_due
                    .as_ref()
                    .and_then(to_naive)
                    .is_some_and(|due| due < as_of);
            Some(OrderOnDate {
                order,
                opened,
                ended,
                overdue,
            })
        })
        .collect();
    out.sort_by_key(|o| order_number(&o.order.name));
    out
}

/// `plans/{plan}/orders/7` → 7.
fn order_number(name: &str) -> u64 {
    name.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or_default()
}

/// 一 … 十 for the section headings.
fn numeral(lang: Lang, n: usize) -> String {
    const ZH: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];
    match lang {
        Lang::Zh => format!("{}、", ZH.get(n - 1).copied().unwrap_or("")),
        Lang::En => format!("{n}. "),
    }
}

/// A rate the contract gives in percent, as the dashboard writes it: whole numbers without decimals.
fn percent(value: Option<f64>) -> String {
    match value {
        Some(v) if v.fract().abs() < 1e-9 => format!("{v:.0}%"),
        Some(v) => format!("{v:.2}%"),
        None => "–".to_owned(),
    }
}

/// An amount exactly as the contract carries it, a dash for none.
fn amount(value: &Option<duban_proto::common::v1::Decimal>) -> String {
    value.as_ref().map_or_else(|| "–".to_owned(), |v| v.value.clone())
}

/// A title in `lang`: the English one falls back to the Chinese when the plan has none.
fn title<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    lang.pick(zh, if en.is_empty() { zh } else { en })
}

/// Assembles the bulletin from `sources` in `lang`.
pub fn assemble(sources: &Sources<'_>, lang: Lang) -> Bulletin {
    let overview = sources.overview;
    let as_of = overview.as_of.as_ref().and_then(to_naive).unwrap_or(sources.issued);
    let pick = |zh: &str, en: &str| lang.pick(zh, en).to_owned();
    let plan_title = title(lang, &sources.plan.title, &sources.plan.title_en).to_owned();
    let heading = match lang {
        Lang::Zh => format!("{plan_title}推进情况月度通报（{}）", month_text(lang, sources.period)),
        Lang::En => format!(
            "{plan_title}: Monthly Progress Bulletin ({})",
            month_text(lang, sources.period)
        ),
    };
    let mut notes = Vec::new();
    if !overview.unreachable.is_empty() {
        notes.push(format!(
            "{}{}",
            pick(
                "以下服务未响应，相关数据暂缺：",
                "These services did not answer, so their figures are missing: "
            ),
            overview.unreachable.join(", ")
        ));
    }
    let mut sections = vec![
        overall(lang, overview, as_of),
        actions(lang, overview),
        lagging(lang, overview),
        reporting(lang, sources, as_of, &mut notes),
        orders(lang, sources, as_of, &mut notes),
    ];
    for (i, section) in sections.iter_mut().enumerate() {
        section.heading = format!("{}{}", numeral(lang, i + 1), section.heading);
    }
    Bulletin {
        lang,
        issuer: title(lang, &sources.plan.issuing_body, &sources.plan.issuing_body_en).to_owned(),
        title: heading,
        number: document_number(sources.number_format, sources.period),
        as_of,
        period: sources.period.key(),
        as_of_line: match lang {
            Lang::Zh => format!("（数据截至{}）", date_text(lang, as_of)),
            Lang::En => format!("(figures as of {})", date_text(lang, as_of)),
        },
        date: date_text(lang, sources.issued),
        notes,
        sections,
    }
}

/// 一、总体情况: actions, measures and targets by rating, and the reports due and received.
fn overall(lang: Lang, overview: &pb::Overview, as_of: NaiveDate) -> Section {
    let actions = RagCounts::of(overview.actions.iter().map(|a| a.rag));
    let measures = RagCounts::of(overview.measures.iter().map(|m| m.rag));
    let targets = RagCounts::of(overview.targets.iter().map(|t| t.rag));
    let date = date_text(lang, as_of);
    let mut paragraphs = vec![match lang {
        Lang::Zh => format!(
            "截至{date}，方案{}项行动中，滞后{}项、预警{}项、正常{}项；{}项措施中，滞后{}项、预警{}项、正常{}项；{}项量化指标中，滞后{}项、预警{}项、正常{}项。",
            actions.total,
            actions.red,
            actions.amber,
            actions.green,
            measures.total,
            measures.red,
            measures.amber,
            measures.green,
            targets.total,
            targets.red,
            targets.amber,
            targets.green,
        ),
        Lang::En => format!(
            "As of {date}, of the plan's {} actions {} are red, {} amber and {} green; of its {} measures {} are red, {} amber and {} green; of its {} targets {} are red, {} amber and {} green.",
            actions.total,
            actions.red,
            actions.amber,
            actions.green,
            measures.total,
            measures.red,
            measures.amber,
            measures.green,
            targets.total,
            targets.red,
            targets.amber,
            targets.green,
        ),
    }];
    let header = |first: &str| -> Vec<String> {
        vec![
            first.to_owned(),
            lang.pick("合计", "Total").to_owned(),
            lang.rag_label(Rag::Red.to_proto() as i32).to_owned(),
            lang.rag_label(Rag::Amber.to_proto() as i32).to_owned(),
            lang.rag_label(Rag::Green.to_proto() as i32).to_owned(),
            lang.rag_label(Rag::NoData.to_proto() as i32).to_owned(),
        ]
    };
    let row = |name: &str, c: RagCounts| -> Vec<String> {
        vec![
            name.to_owned(),
            c.total.to_string(),
            c.red.to_string(),
            c.amber.to_string(),
            c.green.to_string(),
            c.no_data.to_string(),
        ]
    };
    let mut tables = vec![Table {
        header: header(lang.pick("类别", "Kind")),
        rows: vec![
            row(lang.pick("行动", "Actions"), actions),
            row(lang.pick("措施", "Measures"), measures),
            row(lang.pick("量化指标", "Targets"), targets),
        ],
    }];
    if let Some(summary) = &overview.compliance {
        let r = ReportCounts::of(summary);
        paragraphs.push(match lang {
            Lang::Zh => format!(
                "各责任单位应报进展报告{}份，已报{}份（按时{}份、逾期报送{}份），未报{}份；报送率{}，按时率{}。",
                r.expected,
                r.received,
                r.on_time,
                r.late,
                r.missing,
                percent(summary.reporting_rate),
                percent(summary.on_time_rate)
            ),
            Lang::En => format!(
                "{} progress reports were due from the responsible units: {} were received ({} on time, {} late) and {} are missing; reporting rate {}, on-time rate {}.",
                r.expected,
                r.received,
                r.on_time,
                r.late,
                r.missing,
                percent(summary.reporting_rate),
                percent(summary.on_time_rate)
            ),
        });
        tables.push(Table::new(
            &[
                lang.pick("应报", "Due"),
                lang.pick("已报", "Received"),
                lang.pick("按时", "On time"),
                lang.pick("逾期报送", "Late"),
                lang.pick("未报", "Missing"),
                lang.pick("报送率", "Reporting rate"),
                lang.pick("按时率", "On-time rate"),
            ],
            vec![vec![
                r.expected.to_string(),
                r.received.to_string(),
                r.on_time.to_string(),
                r.late.to_string(),
                r.missing.to_string(),
                percent(summary.reporting_rate),
                percent(summary.on_time_rate),
            ]],
        ));
    } else {
        paragraphs.push(
            lang.pick("报送数据暂不可用。", "Reporting figures are unavailable.")
                .to_owned(),
        );
    }
    Section {
        heading: lang.pick("总体情况", "Overall").to_owned(),
        paragraphs,
        tables,
    }
}

/// 二、各行动推进情况: each action's rating and its measures by rating.
fn actions(lang: Lang, overview: &pb::Overview) -> Section {
    let rows = overview
        .actions
        .iter()
        .map(|a| {
            let no_data = a.measure_count - a.red_count - a.amber_count - a.green_count;
            vec![
                a.action_number.to_string(),
                title(lang, &a.title, &a.title_en).to_owned(),
                lang.rag_label(a.rag).to_owned(),
                lang.discipline_label(a.discipline).to_owned(),
                a.measure_count.to_string(),
                a.red_count.to_string(),
                a.amber_count.to_string(),
                a.green_count.to_string(),
                no_data.max(0).to_string(),
            ]
        })
        .collect();
    Section {
        heading: lang.pick("各行动推进情况", "The actions").to_owned(),
        paragraphs: vec![
            lang.pick(
                "各行动推进评级取其措施中最差者，报送评级看其责任单位按时报送情况；各措施按推进评级分列如下。",
                "An action's delivery is rated as its worst measure's, its reporting discipline by its units' reports; its measures by delivery rating:",
            )
            .to_owned(),
        ],
        tables: vec![Table::new(
            &[
                lang.pick("序号", "No."),
                lang.pick("行动", "Action"),
                lang.pick("推进", "Delivery"),
                lang.pick("报送", "Reporting"),
                lang.pick("措施数", "Measures"),
                lang.rag_label(Rag::Red.to_proto() as i32),
                lang.rag_label(Rag::Amber.to_proto() as i32),
                lang.rag_label(Rag::Green.to_proto() as i32),
                lang.rag_label(Rag::NoData.to_proto() as i32),
            ],
            rows,
        )],
    }
}

/// 三、滞后指标: the targets rated red, then amber, with their figures.
fn lagging(lang: Lang, overview: &pb::Overview) -> Section {
    let mut behind: Vec<&pb::TargetStatus> = overview
        .targets
        .iter()
        .filter(|t| matches!(Rag::from_proto(t.rag), Rag::Red | Rag::Amber))
        .collect();
    // Red before amber; otherwise in the overview's order (measure, then code).
    behind.sort_by_key(|t| Rag::from_proto(t.rag) != Rag::Red);
    let rows: Vec<Vec<String>> = behind
        .iter()
        .map(|t| {
            let target = t.target.clone().unwrap_or_default();
            vec![
                target.measure_number.clone(),
                target.code.clone(),
                title(lang, &target.display_name, &target.display_name_en).to_owned(),
                amount(&target.value),
                amount(&t.expected),
                amount(&t.actual),
                unit_label(lang, t.unit).to_owned(),
                lang.rag_label(t.rag).to_owned(),
            ]
        })
        .collect();
    let red = behind.iter().filter(|t| Rag::from_proto(t.rag) == Rag::Red).count();
    let paragraph = match (lang, rows.is_empty()) {
        (Lang::Zh, true) => "本期无滞后或预警指标。".to_owned(),
        (Lang::En, true) => "No target is red or amber.".to_owned(),
        (Lang::Zh, false) => format!(
            "以下{}项指标低于序时进度，其中滞后{}项、预警{}项（“应达”为截至本期应达到的序时值；未报送数值的指标按滞后计）。",
            rows.len(),
            red,
            rows.len() - red
        ),
        (Lang::En, false) => format!(
            "These {} targets are behind their trajectory, {} red and {} amber (\"expected\" is where the trajectory stands on the date; a target with no value reported counts as red).",
            rows.len(),
            red,
            rows.len() - red
        ),
    };
    Section::listing(
        lang.pick("滞后指标", "Lagging targets").to_owned(),
        paragraph,
        &[
            lang.pick("措施", "Measure"),
            lang.pick("指标代码", "Code"),
            lang.pick("指标名称", "Target"),
            lang.pick("目标值", "Goal"),
            lang.pick("应达", "Expected"),
            lang.pick("实际", "Actual"),
            lang.pick("单位", "Unit"),
            lang.pick("评级", "Rating"),
        ],
        rows,
    )
}

/// 四、报送情况: the units that reported late or not at all, named, with their counts.
fn reporting(lang: Lang, sources: &Sources<'_>, as_of: NaiveDate, notes: &mut Vec<String>) -> Section {
    let heading = lang.pick("报送情况", "Reporting").to_owned();
    let Some(departments) = sources.compliance else {
        return Section::unavailable(
            heading,
            lang.pick("报送数据暂不可用。", "Reporting figures are unavailable."),
            lang.pick("各单位报送明细暂不可用。", "The units' reporting could not be read."),
            notes,
        );
    };
    let units = unit_discipline(departments, as_of, |code| sources.name(code));
    let missing_units = units.iter().filter(|u| u.missing > 0).count();
    let late_units = units.iter().filter(|u| u.late > 0).count();
    let paragraph = match (lang, units.is_empty()) {
        (Lang::Zh, true) => "各责任单位均按时报送。".to_owned(),
        (Lang::En, true) => "Every responsible unit reported on time.".to_owned(),
        (Lang::Zh, false) => format!(
            "截至{}，{}个单位有逾期未报的报告，{}个单位有逾期报送的报告，名单如下（按未报份数排列）。请相关单位抓紧补报，按时报送。",
            date_text(lang, as_of),
            missing_units,
            late_units
        ),
        (Lang::En, false) => format!(
            "As of {}, {} units have reports missing and {} reported late; they are named below, most missing first. They are asked to file what is missing and to report on time.",
            date_text(lang, as_of),
            missing_units,
            late_units
        ),
    };
    let rows: Vec<Vec<String>> = units
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.late.to_string(),
                u.missing.to_string(),
                if u.missing > 0 {
                    u.max_days_overdue.to_string()
                } else {
                    "–".to_owned()
                },
            ]
        })
        .collect();
    Section::listing(
        heading,
        paragraph,
        &[
            lang.pick("单位", "Unit"),
            lang.pick("逾期报送（份）", "Late (reports)"),
            lang.pick("未报（份）", "Missing (reports)"),
            lang.pick("最长逾期（天）", "Longest overdue (days)"),
        ],
        rows,
    )
}

/// 五、督办事项: the supervision orders opened or closed in the period, and those still open at its end.
fn orders(lang: Lang, sources: &Sources<'_>, as_of: NaiveDate, notes: &mut Vec<String>) -> Section {
    let heading = lang.pick("督办事项", "Supervision orders").to_owned();
    let Some(orders) = sources.orders else {
        return Section::unavailable(
            heading,
            lang.pick("督办事项暂不可用。", "Supervision orders are unavailable."),
            lang.pick("督办事项暂不可用。", "The supervision orders could not be read."),
            notes,
        );
    };
    let start = sources.period.first_day();
    let on_date = orders_on(orders, sources.zone, as_of);
    let opened = on_date.iter().filter(|o| o.opened >= start).count();
    let closed = on_date.iter().filter(|o| o.ended.is_some_and(|d| d >= start)).count();
    let open: Vec<&OrderOnDate<'_>> = on_date.iter().filter(|o| o.ended.is_none()).collect();
    let overdue = open.iter().filter(|o| o.overdue).count();
    let paragraph = match lang {
        Lang::Zh => format!(
            "本月新开督办单{opened}件，办结（含撤回）{closed}件；截至{}，在办{}件，其中逾期未答复{overdue}件。",
            date_text(lang, as_of),
            open.len()
        ),
        Lang::En => format!(
            "{opened} supervision orders were opened this month and {closed} closed or withdrawn; as of {}, {} are open, {overdue} of them past their answer date.",
            date_text(lang, as_of),
            open.len()
        ),
    };
    let rows: Vec<Vec<String>> = on_date
        .iter()
        .filter(|o| o.opened >= start || o.ended.is_none_or(|d| d >= start))
        .map(|o| {
            let state = match o.ended {
                Some(_) if o.order.state == OrderState::Withdrawn as i32 => lang.pick("已撤回", "Withdrawn"),
                Some(_) => lang.pick("已办结", "Closed"),
                None if o.overdue => lang.pick("在办（逾期）", "Open (overdue)"),
                None => lang.pick("在办", "Open"),
            };
            vec![
                order_number(&o.order.name).to_string(),
                o.order.title.clone(),
                o.order
                    .departments
                    .iter()
                    .map(|code| sources.name(code))
                    .collect::<Vec<_>>()
                    .join(lang.pick("、", ", ")),
                o.order
                    .response_due
                    .as_ref()
                    .and_then(to_naive)
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                state.to_owned(),
            ]
        })
        .collect();
    Section::listing(
        heading,
        paragraph,
        &[
            lang.pick("编号", "No."),
            lang.pick("督办事项", "Order"),
            lang.pick("承办单位", "Units"),
            lang.pick("答复期限", "Answer by"),
            lang.pick("状态", "State"),
        ],
        rows,
    )
}

#[cfg(test)]
mod tests;
