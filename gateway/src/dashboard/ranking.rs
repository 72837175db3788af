//! ListUnitRankings: every responsible unit side by side (晾晒), by reporting discipline,
//! returned reports, overdue supervision orders and the delivery of the targets it
//! reports. Gathering the figures reads the same snapshot as the overview; the order is a
//! pure function (`OrderBy`, `rank`) with its own tests.

use std::{cmp::Ordering, collections::BTreeMap};

use duban_kit::paging::{READ_ALL_PAGE_SIZE, read_all_pages};
use duban_proto::{
    departments::v1::{self as dpb, DepartmentKind, departments_service_server},
    gateway::v1 as pb,
    reporting::v1::{self as rpb, supervision_orders_service_server},
};

use super::{Caller, Dashboard, plan_id, resolve_as_of, responsible_departments};
use crate::{calendar::to_date, error::GatewayError, rag::Rag};

/// A field the ranking can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankField {
    /// Received / expected.
    ReportingRate,
    /// On time / expected.
    OnTimeRate,
    /// Returned revisions.
    ReturnedCount,
    /// Overdue order parts.
    OverdueOrderCount,
    /// GREEN / judged targets.
    DeliveryRate,
    /// The Chinese name.
    DisplayName,
}

impl RankField {
    const ALL: [RankField; 6] = [
        RankField::ReportingRate,
        RankField::OnTimeRate,
        RankField::ReturnedCount,
        RankField::OverdueOrderCount,
        RankField::DeliveryRate,
        RankField::DisplayName,
    ];

    /// The field's name in `order_by` (UnitRanking's field name).
    pub fn name(self) -> &'static str {
        match self {
            RankField::ReportingRate => "reporting_rate",
            RankField::OnTimeRate => "on_time_rate",
            RankField::ReturnedCount => "returned_count",
            RankField::OverdueOrderCount => "overdue_order_count",
            RankField::DeliveryRate => "delivery_rate",
            RankField::DisplayName => "display_name",
        }
    }

    /// Better first: rates high to low, counts low to high, names A to Z.
    fn descending_by_default(self) -> bool {
        matches!(
            self,
            RankField::ReportingRate | RankField::OnTimeRate | RankField::DeliveryRate
        )
    }

    /// `a` against `b` on this field, ascending; an unset rate is "no figure" and is
    /// handled by the caller.
    fn compare(self, a: &pb::UnitRanking, b: &pb::UnitRanking) -> Option<Ordering> {
        let rate = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => Some(x.total_cmp(&y)),
            _ => None,
        };
        match self {
            RankField::ReportingRate => rate(a.reporting_rate, b.reporting_rate),
            RankField::OnTimeRate => rate(a.on_time_rate, b.on_time_rate),
            RankField::DeliveryRate => rate(a.delivery_rate, b.delivery_rate),
            RankField::ReturnedCount => Some(a.returned_count.cmp(&b.returned_count)),
            RankField::OverdueOrderCount => Some(a.overdue_order_count.cmp(&b.overdue_order_count)),
            RankField::DisplayName => Some(a.display_name.cmp(&b.display_name)),
        }
    }

    /// Whether `row` has a figure for this field (a rate is unset when nothing counts).
    fn present(self, row: &pb::UnitRanking) -> bool {
        match self {
            RankField::ReportingRate => row.reporting_rate.is_some(),
            RankField::OnTimeRate => row.on_time_rate.is_some(),
            RankField::DeliveryRate => row.delivery_rate.is_some(),
            _ => true,
        }
    }
}

/// One key of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    /// The field.
    pub field: RankField,
    /// High to low.
    pub descending: bool,
}

/// The order of a ranking, parsed from AIP-132 `order_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy(pub Vec<OrderKey>);

impl OrderBy {
    /// The default: discipline first (on time, then received), then returns, overdue
    /// orders and delivery.
    pub fn default_order() -> OrderBy {
        OrderBy(
            [
                RankField::OnTimeRate,
                RankField::ReportingRate,
                RankField::ReturnedCount,
                RankField::OverdueOrderCount,
                RankField::DeliveryRate,
            ]
            .into_iter()
            .map(|field| OrderKey {
                field,
                descending: field.descending_by_default(),
            })
            .collect(),
        )
    }

    /// `field [asc|desc], ...`; empty means the default. The error says what is wrong.
    pub fn parse(text: &str) -> Result<OrderBy, String> {
        if text.trim().is_empty() {
            return Ok(OrderBy::default_order());
        }
        let mut keys: Vec<OrderKey> = Vec::new();
        for part in text.split(',') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let (name, direction) = match words.as_slice() {
                [name] => (*name, None),
                [name, direction] => (*name, Some(*direction)),
                _ => return Err(format!("{:?} is not `field [asc|desc]`", part.trim())),
            };
            let field = RankField::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
                let names: Vec<&str> = RankField::ALL.iter().map(|f| f.name()).collect();
                format!("{name:?} is not one of {}", names.join(", "))
            })?;
            let descending = match direction {
                None => field.descending_by_default(),
                Some("desc") => true,
                Some("asc") => false,
                Some(other) => return Err(format!("{other:?} is neither asc nor desc")),
            };
            if keys.iter().any(|k| k.field == field) {
                return Err(format!("{name:?} is named twice"));
            }
            keys.push(OrderKey { field, descending });
        }
        Ok(OrderBy(keys))
    }

    /// The normalised text: every key with its direction.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|k| format!("{} {}", k.field.name(), if k.descending { "desc" } else { "asc" }))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `a` against `b` on every key in turn; a unit without a figure for a key comes
    /// after every unit with one, whichever the direction.
    fn compare(&self, a: &pb::UnitRanking, b: &pb::UnitRanking) -> Ordering {
        for key in &self.0 {
            let ordering = match (key.field.present(a), key.field.present(b)) {
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => Ordering::Equal,
                (true, true) => {
                    let ascending = key.field.compare(a, b).unwrap_or(Ordering::Equal);
                    if key.descending { ascending.reverse() } else { ascending }
                }
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }
}

/// Sorts `rows` by `order` (ties by department code) and numbers them: rows equal on
/// every key share a rank, and the next rank skips (1, 2, 2, 4).
pub fn rank(rows: &mut [pb::UnitRanking], order: &OrderBy) {
    rows.sort_by(|a, b| order.compare(a, b).then_with(|| a.department.cmp(&b.department)));
    let mut previous: Option<pb::UnitRanking> = None;
    for (position, row) in rows.iter_mut().enumerate() {
        row.rank = match &previous {
            Some(before) if order.compare(before, row) == Ordering::Equal => before.rank,
            _ => i32::try_from(position).unwrap_or(i32::MAX).saturating_add(1),
        };
        previous = Some(row.clone());
    }
}

/// A share in percent, rounded to 2 places like the other rates; none of none.
fn percent(part: i32, whole: i32) -> Option<f64> {
    (whole > 0).then(|| (f64::from(part) * 10_000.0 / f64::from(whole)).round() / 100.0)
}

impl Dashboard {
    /// ListUnitRankings.
    pub async fn rankings(
        &self,
        caller: &Caller,
        request: &pb::ListUnitRankingsRequest,
    ) -> Result<pb::ListUnitRankingsResponse, GatewayError> {
        caller.require_reader("ListUnitRankings")?;
        let plan_id = plan_id(&request.plan, "plan")?;
        let order = OrderBy::parse(&request.order_by).map_err(|why| GatewayError::invalid("order_by", why))?;
        let kind = DepartmentKind::try_from(request.kind)
            .map_err(|_| GatewayError::invalid("kind", "is not a DepartmentKind"))?;
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let (as_of, _) = resolve_as_of(request.as_of.as_ref(), &catalogue.calendar)?;
        let parent = format!("plans/{plan_id}");
        let (snap, directory, orders) = futures::join!(
            self.snapshot(&catalogue, as_of, false),
            self.directory(),
            self.open_orders(&parent),
        );
        let overview = self.assemble(&catalogue, &snap, as_of);
        let mut unreachable: Vec<String> = overview.unreachable.clone();
        let directory = directory.unwrap_or_else(|status| {
            tracing::warn!(%status, "the directory did not answer; the ranking has no kinds");
            unreachable.push(departments_service_server::SERVICE_NAME.to_owned());
            BTreeMap::new()
        });
        if kind != DepartmentKind::Unspecified && directory.is_empty() {
            return Err(GatewayError::Downstream(tonic::Status::unavailable(
                "the directory did not answer, so units cannot be filtered by kind",
            )));
        }
        let orders = orders.unwrap_or_else(|status| {
            tracing::warn!(%status, "the supervision orders did not answer; the ranking has no order counts");
            unreachable.push(supervision_orders_service_server::SERVICE_NAME.to_owned());
            Vec::new()
        });

        // Every responsible unit of the plan, with what reporting counted for it.
        let mut rows: BTreeMap<String, pb::UnitRanking> = BTreeMap::new();
        for measure in &catalogue.measures {
            for (code, ..) in responsible_departments(measure) {
                rows.entry(code.clone()).or_insert_with(|| pb::UnitRanking {
                    display_name: catalogue.department_name(&code),
                    department: code,
                    ..Default::default()
                });
            }
        }
        for compliance in snap.compliance.iter().flat_map(|c| &c.departments) {
            if let Some(row) = rows.get_mut(&compliance.department) {
                row.expected_count = compliance.expected_count;
                row.received_count = compliance.received_count;
                row.on_time_count = compliance.on_time_count;
                row.reporting_rate = compliance.reporting_rate;
                row.on_time_rate = compliance.on_time_rate;
                row.returned_count = compliance.returned_count;
            }
        }
        for part in orders.iter().flat_map(|o| &o.parts) {
            let open = matches!(
                rpb::OrderPartState::try_from(part.state),
                Ok(rpb::OrderPartState::Open | rpb::OrderPartState::Responded | rpb::OrderPartState::Returned)
            );
            if let (true, Some(row)) = (open, rows.get_mut(&part.department)) {
                row.open_order_count += 1;
                row.overdue_order_count += i32::from(part.overdue);
            }
        }
        for status in &overview.targets {
            let Some(target) = &status.target else { continue };
            for code in &target.reporting_departments {
                let Some(row) = rows.get_mut(code) else { continue };
                row.target_count += 1;
                match Rag::from_proto(status.rag) {
                    Rag::Green => row.green_target_count += 1,
                    Rag::Amber => row.amber_target_count += 1,
                    Rag::Red => row.red_target_count += 1,
                    Rag::NoData => {}
                }
            }
        }
        let mut rows: Vec<pb::UnitRanking> = rows
            .into_values()
            .filter_map(|mut row| {
                if let Some(unit) = directory.get(&row.department) {
                    row.kind = unit.kind;
                    row.display_name_en = unit.display_name_en.clone();
                }
                let judged = row.green_target_count + row.amber_target_count + row.red_target_count;
                row.delivery_rate = percent(row.green_target_count, judged);
                (kind == DepartmentKind::Unspecified || row.kind == kind as i32).then_some(row)
            })
            .collect();
        rank(&mut rows, &order);
        Ok(pb::ListUnitRankingsResponse {
            as_of: Some(to_date(as_of)),
            rankings: rows,
            order_by: order.text(),
            unreachable,
        })
    }

    /// The directory's units by code (all pages), read with the service token.
    async fn directory(&self) -> Result<BTreeMap<String, dpb::Department>, tonic::Status> {
        let client = self.backends.departments();
        let units = read_all_pages(|page_token| {
            let mut client = client.clone();
            async move {
                let page = client
                    .list_departments(dpb::ListDepartmentsRequest {
                        page_size: READ_ALL_PAGE_SIZE,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                Ok::<_, tonic::Status>((page.departments, page.next_page_token))
            }
        })
        .await?;
        Ok(units.into_iter().map(|d| (d.code.clone(), d)).collect())
    }

    /// Every open supervision order of the plan (all pages), read with the service token:
    /// the ranking counts every unit's parts.
    async fn open_orders(&self, parent: &str) -> Result<Vec<rpb::Order>, tonic::Status> {
        let open = rpb::ListOrdersRequest {
            parent: parent.to_owned(),
            state: rpb::OrderState::Open as i32,
            ..Default::default()
        };
        self.backends.all_orders(None, open).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(code: &str, on_time: Option<f64>, reporting: Option<f64>, returned: i32) -> pb::UnitRanking {
        pb::UnitRanking {
            department: code.to_owned(),
            display_name: code.to_owned(),
            on_time_rate: on_time,
            reporting_rate: reporting,
            returned_count: returned,
            ..Default::default()
        }
    }

    fn ranked(rows: &mut [pb::UnitRanking], order: &str) -> Vec<(i32, String)> {
        rank(rows, &OrderBy::parse(order).unwrap());
        rows.iter().map(|r| (r.rank, r.department.clone())).collect()
    }

    #[test]
    fn better_first_by_default_ties_share_a_rank_and_no_figure_comes_last() {
        let mut rows = vec![
            unit("d", None, None, 0),
            unit("c", Some(80.0), Some(100.0), 1),
            unit("b", Some(80.0), Some(100.0), 1),
            unit("a", Some(80.0), Some(100.0), 0),
            unit("e", Some(95.5), Some(95.5), 3),
        ];
        assert_eq!(
            ranked(&mut rows, ""),
            vec![
                (1, "e".into()),
                (2, "a".into()),
                (3, "b".into()),
                (3, "c".into()),
                (5, "d".into())
            ]
        );
    }

    #[test]
    fn an_explicit_direction_reverses_and_a_missing_figure_still_comes_last() {
        let mut rows = vec![
            unit("a", Some(50.0), None, 2),
            unit("b", Some(90.0), None, 0),
            unit("c", None, None, 5),
        ];
        assert_eq!(
            ranked(&mut rows, "on_time_rate asc"),
            vec![(1, "a".into()), (2, "b".into()), (3, "c".into())]
        );
        assert_eq!(
            ranked(&mut rows, "returned_count desc"),
            vec![(1, "c".into()), (2, "a".into()), (3, "b".into())]
        );
    }

    #[test]
    fn order_by_is_parsed_normalised_and_refused_with_a_reason() {
        assert_eq!(
            OrderBy::parse(" returned_count , delivery_rate asc").unwrap().text(),
            "returned_count asc, delivery_rate asc"
        );
        assert_eq!(
            OrderBy::parse("").unwrap().text(),
            "on_time_rate desc, reporting_rate desc, returned_count asc, overdue_order_count asc, delivery_rate desc"
        );
        assert!(OrderBy::parse("speed").unwrap_err().contains("not one of"));
        assert!(OrderBy::parse("on_time_rate up").unwrap_err().contains("neither"));
        assert!(
            OrderBy::parse("on_time_rate, on_time_rate")
                .unwrap_err()
                .contains("twice")
        );
        assert!(OrderBy::parse("on_time_rate desc extra").is_err());
    }

    #[test]
    fn percent_rounds_to_two_places() {
        assert_eq!(percent(1, 3), Some(33.33));
        assert_eq!(percent(2, 3), Some(66.67));
        assert_eq!(percent(0, 0), None);
    }
}
