//! `duban orders open|list|respond|close|return|withdraw`: supervision orders (督办单)
//! through the reporting server. Leadership or ADMIN open, close, return and withdraw;
//! a unit answers with its own token. Every write reads the order's etag itself and sends
//! a fresh request id, which it prints (on stderr, so that `--json` stays one document):
//! a write that timed out may be sent again with the same id by hand.

use std::io::Write;

use duban_kit::{
    Settings,
    client::ServiceChannel,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::reporting::v1::{
    self as pb, OrderLevel, OrderPartState, OrderState,
    supervision_orders_service_client::SupervisionOrdersServiceClient,
};
use serde::Serialize;

use super::report::{DEFAULT_PLAN, parse_evidence};
use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

type Client = SupervisionOrdersServiceClient<ServiceChannel>;

/// A client of the reporting server `--addr` names (or the configured one).
fn orders(settings: &Settings, connection: &Connection) -> anyhow::Result<Client> {
    Ok(SupervisionOrdersServiceClient::new(
        connection.channel(settings, &settings.reporting.endpoint_url())?,
    ))
}

/// An order's level, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelArg {
    /// 蓝色督办: routine follow-up.
    Blue,
    /// 黄色督办: the matter is slipping.
    Yellow,
    /// 红色督办: leadership follows it personally.
    Red,
}

impl LevelArg {
    fn to_proto(self) -> OrderLevel {
        match self {
            LevelArg::Blue => OrderLevel::Blue,
            LevelArg::Yellow => OrderLevel::Yellow,
            LevelArg::Red => OrderLevel::Red,
        }
    }
}

/// An order's state, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OrderStateArg {
    /// Some unit's part is not closed yet.
    Open,
    /// Every unit's part is closed (办结销号).
    Closed,
    /// Withdrawn before it was closed.
    Withdrawn,
}

impl OrderStateArg {
    fn to_proto(self) -> OrderState {
        match self {
            OrderStateArg::Open => OrderState::Open,
            OrderStateArg::Closed => OrderState::Closed,
            OrderStateArg::Withdrawn => OrderState::Withdrawn,
        }
    }
}

/// `duban orders open`: what the order says and whom it addresses.
#[derive(Debug, Clone, clap::Args)]
pub struct Opening {
    /// The addressed units' codes, comma-separated (`--to a,b`) or repeated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub to: Vec<String>,
    /// The day the written answers are due, YYYY-MM-DD (in the plan's time zone).
    #[arg(long, value_parser = parse_day)]
    pub due: duban_proto::common::v1::Date,
    /// How urgent it is.
    #[arg(long, value_enum)]
    pub level: LevelArg,
    /// What it is about, in a line.
    #[arg(long)]
    pub title: String,
    /// What the units must do and answer.
    #[arg(long)]
    pub text: String,
    /// The measure it is about, for example 4.1.
    #[arg(long, conflicts_with_all = ["target", "blocker"])]
    pub measure: Option<String>,
    /// The target it is about, by code.
    #[arg(long, conflicts_with = "blocker")]
    pub target: Option<String>,
    /// The blocker it is about: `plans/<plan>/blockers/<measure>~<department>~<n>` or the
    /// part after `blockers/`.
    #[arg(long)]
    pub blocker: Option<String>,
    /// The plan id.
    #[arg(long, default_value = DEFAULT_PLAN)]
    pub plan: String,
}

/// Filters of `duban orders list`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OrderFilter {
    /// Only orders addressed to this unit (a unit's own token lists its own anyway).
    #[arg(long)]
    pub department: Option<String>,
    /// Only orders in this state.
    #[arg(long, value_enum)]
    pub state: Option<OrderStateArg>,
    /// Only orders of this level.
    #[arg(long, value_enum)]
    pub level: Option<LevelArg>,
    /// Only overdue orders.
    #[arg(long)]
    pub overdue: bool,
    /// The plan id.
    #[arg(long, default_value = DEFAULT_PLAN)]
    pub plan: String,
}

/// What a write does to an order.
#[derive(Debug, Clone)]
pub enum Step {
    /// A unit answers (its own token).
    Respond {
        /// The answer.
        text: String,
        /// `title=url` evidence links.
        evidence: Vec<pb::EvidenceLink>,
    },
    /// Accept a unit's answer and close its part (办结).
    Close {
        /// The unit.
        department: String,
        /// A comment for it.
        comment: String,
    },
    /// Send a unit's answer back.
    Return {
        /// The unit.
        department: String,
        /// Why.
        reason: String,
    },
    /// Withdraw the whole order.
    Withdraw {
        /// Why.
        reason: String,
    },
}

/// `YYYY-MM-DD` as a contract date.
pub fn parse_day(text: &str) -> Result<duban_proto::common::v1::Date, String> {
    duban_plan::contract::parse_date(text)
        .map(duban_plan::contract::date_to_proto)
        .ok_or_else(|| format!("{text:?} is not a day like 2024-06-30"))
}

/// The full name of an order given by number or name.
pub fn order_name(plan: &str, order: &str) -> String {
    if order.starts_with("plans/") {
        order.to_owned()
    } else {
        format!("plans/{plan}/orders/{order}")
    }
}

/// One unit's part, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct PartOut {
    /// The unit.
    pub department: String,
    /// `open`, `responded`, `returned`, `closed`, `withdrawn`.
    pub state: String,
    /// Whether its answer is owed and late.
    pub overdue: bool,
    /// The latest answer's revision, 0 before the first.
    pub revision: i32,
    /// The latest answer.
    pub response: String,
    /// The review's comment or reason.
    pub review: String,
}

/// An order, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct OrderOut {
    /// Its name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// `blue`, `yellow`, `red`.
    pub level: String,
    /// `open`, `closed`, `withdrawn`.
    pub state: String,
    /// YYYY-MM-DD.
    pub response_due: String,
    /// Whether any part is overdue.
    pub overdue: bool,
    /// Its parts (a unit sees its own).
    pub parts: Vec<PartOut>,
    /// The etag.
    pub etag: String,
}

/// `ORDER_STATE_OPEN` → `open`.
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
}

/// An order as printed.
pub fn order_out(order: &pb::Order) -> OrderOut {
    OrderOut {
        name: order.name.clone(),
        title: order.title.clone(),
        level: short(order.level().as_str_name(), "ORDER_LEVEL_"),
        state: short(order.state().as_str_name(), "ORDER_STATE_"),
        response_due: order
            .response_due
            .as_ref()
            .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
            .unwrap_or_default(),
        overdue: order.overdue,
        parts: order
            .parts
            .iter()
            .map(|p| PartOut {
                department: p.department.clone(),
                state: short(p.state().as_str_name(), "ORDER_PART_STATE_"),
                overdue: p.overdue,
                revision: p.response.as_ref().map_or(0, |r| r.revision),
                response: p.response.as_ref().map(|r| r.text.clone()).unwrap_or_default(),
                review: p.review.as_ref().map(|r| r.reason.clone()).unwrap_or_default(),
            })
            .collect(),
        etag: order.etag.clone(),
    }
}

/// A fresh request id, printed so that the write can be retried by hand.
fn request_id() -> String {
    let id = uuid::Uuid::new_v4().to_string();
    eprintln!("request id {id}");
    id
}

fn print(order: &pb::Order, json: bool) -> anyhow::Result<()> {
    let out = order_out(order);
    if json {
        return print_json(&out);
    }
    let parts: Vec<String> = out
        .parts
        .iter()
        .map(|p| {
            format!(
                "{} {}{}",
                p.department,
                p.state,
                if p.overdue { " (overdue)" } else { "" }
            )
        })
        .collect();
    println!(
        "{} [{}] is {}, due {}: {}",
        out.name,
        out.level,
        out.state,
        out.response_due,
        parts.join(", ")
    );
    Ok(())
}

/// Opens an order (LEADERSHIP or ADMIN) and prints it.
pub async fn open(
    settings: &Settings,
    connection: &Connection,
    opening: Opening,
    json: bool,
) -> anyhow::Result<pb::Order> {
    let subject = match (opening.measure, opening.target, opening.blocker) {
        (Some(measure), _, _) => Some(pb::order::Subject::MeasureNumber(measure)),
        (_, Some(target), _) => Some(pb::order::Subject::TargetCode(target)),
        (_, _, Some(blocker)) if blocker.starts_with("plans/") => Some(pb::order::Subject::Blocker(blocker)),
        (_, _, Some(blocker)) => Some(pb::order::Subject::Blocker(format!(
            "plans/{}/blockers/{blocker}",
            opening.plan
        ))),
        _ => None,
    };
    let order = orders(settings, connection)?
        .open_order(pb::OpenOrderRequest {
            parent: format!("plans/{}", opening.plan),
            order: Some(pb::Order {
                title: opening.title,
                level: opening.level.to_proto() as i32,
                subject,
                text: opening.text,
                departments: opening.to,
                response_due: Some(opening.due),
                ..Default::default()
            }),
            request_id: request_id(),
        })
        .await
        .map_err(|s| call_failed("OpenOrder", s))?
        .into_inner();
    print(&order, json)?;
    Ok(order)
}

/// Every order matching `filter` (all pages), printed as a table or JSON.
pub async fn list(
    settings: &Settings,
    connection: &Connection,
    filter: OrderFilter,
    json: bool,
) -> anyhow::Result<Vec<pb::Order>> {
    let client = orders(settings, connection)?;
    let found = read_all_pages(|page_token| {
        let mut client = client.clone();
        let request = pb::ListOrdersRequest {
            parent: format!("plans/{}", filter.plan),
            page_size: READ_ALL_PAGE_SIZE,
            page_token,
            department: filter.department.clone().unwrap_or_default(),
            state: filter.state.map_or(0, |s| s.to_proto() as i32),
            level: filter.level.map_or(0, |l| l.to_proto() as i32),
            overdue: filter.overdue,
        };
        async move {
            let page = client.list_orders(request).await?.into_inner();
            Ok::<_, tonic::Status>((page.orders, page.next_page_token))
        }
    })
    .await
    .map_err(|s| call_failed("ListOrders", s))?;
    let out: Vec<OrderOut> = found.iter().map(order_out).collect();
    if json {
        print_json(&out)?;
        return Ok(found);
    }
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|o| {
            let open = o
                .parts
                .iter()
                .filter(|p| p.state != "closed" && p.state != "withdrawn")
                .count();
            vec![
                o.name.rsplit('/').next().unwrap_or_default().to_owned(),
                o.level.clone(),
                o.state.clone(),
                o.response_due.clone(),
                if o.overdue { "overdue".into() } else { String::new() },
                format!("{open}/{}", o.parts.len()),
                o.title.clone(),
            ]
        })
        .collect();
    let text = table(&["order", "level", "state", "due", "", "open parts", "title"], &rows);
    // A closed pipe (`| head`) ends the listing quietly.
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{text}").and_then(|()| writeln!(stdout, "{} order(s)", out.len()));
    Ok(found)
}

/// Answers, closes, returns or withdraws `order`, on the etag it reads first; prints
/// the order after.
pub async fn step(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    order: &str,
    step: Step,
    json: bool,
) -> anyhow::Result<pb::Order> {
    let mut client = orders(settings, connection)?;
    let name = order_name(plan, order);
    let etag = client
        .get_order(pb::GetOrderRequest { name: name.clone() })
        .await
        .map_err(|s| call_failed("GetOrder", s))?
        .into_inner()
        .etag;
    let request_id = request_id();
    let order = match step {
        Step::Respond { text, evidence } => client
            .respond_to_order(pb::RespondToOrderRequest {
                name,
                department: String::new(),
                text,
                evidence_links: evidence,
                etag,
                request_id,
            })
            .await
            .map_err(|s| call_failed("RespondToOrder", s))?,
        Step::Close { department, comment } => client
            .accept_order_response(pb::AcceptOrderResponseRequest {
                name,
                department,
                comment,
                etag,
                request_id,
            })
            .await
            .map_err(|s| call_failed("AcceptOrderResponse", s))?,
        Step::Return { department, reason } => client
            .return_order_response(pb::ReturnOrderResponseRequest {
                name,
                department,
                reason,
                etag,
                request_id,
            })
            .await
            .map_err(|s| call_failed("ReturnOrderResponse", s))?,
        Step::Withdraw { reason } => client
            .withdraw_order(pb::WithdrawOrderRequest {
                name,
                reason,
                etag,
                request_id,
            })
            .await
            .map_err(|s| call_failed("WithdrawOrder", s))?,
    }
    .into_inner();
    print(&order, json)?;
    Ok(order)
}

/// `--evidence "title=url"`, as `duban report submit` reads it.
pub fn evidence(text: &str) -> Result<pb::EvidenceLink, String> {
    parse_evidence(text)
}

/// Whether every part of `order` is closed.
pub fn all_closed(order: &pb::Order) -> bool {
    order.parts.iter().all(|p| p.state() == OrderPartState::Closed)
}

#[cfg(test)]
mod tests {
    use duban_harness::{PLAN, Server, Suite};
    use duban_kit::testing::Backend;
    use duban_proto::departments::v1::Role;

    use super::*;

    #[test]
    fn reads_days_and_order_names() {
        assert_eq!(
            parse_day("2024-06-30").unwrap(),
            duban_proto::common::v1::Date {
                year: 2024,
                month: 6,
                day: 30
            }
        );
        assert!(parse_day("2024-06-31").is_err());
        assert_eq!(order_name("p", "7"), "plans/p/orders/7");
        assert_eq!(order_name("p", "plans/q/orders/7"), "plans/q/orders/7");
    }

    /// The command line's happy path against a real reporting server: leadership opens
    /// an order to two units, each answers with its own token, one answer is returned and
    /// answered again, both are closed, and the order lists as closed.
    async fn opens_answers_and_closes_an_order(backend: Backend) {
        let Some(suite) = Suite::builder(backend).with(Server::Reporting).start().await else {
            return;
        };
        let settings = Settings::default();
        let as_token = |token: String| Connection {
            addr: Some(suite.addr(Server::Reporting).to_string()),
            token: Some(token),
            timeout: 10,
        };
        let leader = as_token(suite.issue_token(Role::Leadership, "").await);
        let (a, b) = ("anting-town", "nanxiang-town");
        let due = chrono::Utc::now().date_naive() + chrono::Duration::days(14);
        let opened = open(
            &settings,
            &leader,
            Opening {
                to: vec![a.into(), b.into()],
                due: parse_day(&due.to_string()).unwrap(),
                level: LevelArg::Yellow,
                title: "人口导入进度".into(),
                text: "请书面说明".into(),
                measure: None,
                target: None,
                blocker: None,
                plan: "jiading-2023".into(),
            },
            true,
        )
        .await
        .unwrap();
        assert_eq!(opened.name, format!("{PLAN}/orders/1"));
        assert_eq!(opened.level(), OrderLevel::Yellow);
        let number = opened.name.rsplit('/').next().unwrap().to_owned();

        let unit_a = as_token(suite.issue_token(Role::Department, a).await);
        let unit_b = as_token(suite.issue_token(Role::Department, b).await);
        let answer = |text: &str| Step::Respond {
            text: text.into(),
            evidence: vec![evidence("方案=https://example.gov.cn/a.pdf").unwrap()],
        };
        let plan = "jiading-2023";
        step(&settings, &unit_a, plan, &number, answer("已落实"), true)
            .await
            .unwrap();
        step(&settings, &unit_b, plan, &number, answer("已部署"), false)
            .await
            .unwrap();
        let returned = Step::Return {
            department: b.into(),
            reason: "请补充时间表".into(),
        };
        let after = step(&settings, &leader, plan, &number, returned, false).await.unwrap();
        assert_eq!(after.parts[1].state(), OrderPartState::Returned);
        step(&settings, &unit_b, plan, &number, answer("6月底前完成"), false)
            .await
            .unwrap();
        for department in [a, b] {
            let close = Step::Close {
                department: department.into(),
                comment: String::new(),
            };
            step(&settings, &leader, plan, &number, close, false).await.unwrap();
        }

        let closed = list(
            &settings,
            &leader,
            OrderFilter {
                state: Some(OrderStateArg::Closed),
                plan: plan.into(),
                ..Default::default()
            },
            false,
        )
        .await
        .unwrap();
        assert_eq!(closed.len(), 1);
        assert!(all_closed(&closed[0]));
        assert_eq!(closed[0].parts[1].response.as_ref().map(|r| r.revision), Some(2));
        let own = list(
            &settings,
            &unit_a,
            OrderFilter {
                plan: plan.into(),
                ..Default::default()
            },
            true,
        )
        .await
        .unwrap();
        assert_eq!(own[0].parts.len(), 1, "a unit sees its own part");
        suite.stop().await;
    }

    duban_kit::backend_tests!(opens_answers_and_closes_an_order);
}
