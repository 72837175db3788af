//! Supervision orders (督办单): leadership opens an order addressed to units, each unit
//! answers in writing, leadership accepts (办结) or returns each answer, and the order is
//! closed when every part is. Authorisation comes first (AIP-211), then the request's
//! fields, then the writer applies the state machine of `rules` to the stored order
//! (`change`). Every write attempt is audited, refusals included.

mod change;
pub mod rules;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use duban_kit::{
    FieldViolation, Principal,
    auth::Verified,
    error::NotFound,
    idempotency::{self, RequestKey},
    paging::Page,
};
use duban_proto::reporting::v1::{self as pb, ErrorReason, OrderPartState as Part, OrderState};

use super::{
    Reporting, Result,
    journal::{AuditInfo, Change, WriteJob},
    method, parent_plan, role_not_allowed,
};
use crate::{calendar, convert, error::ReportingError, validate};
use change::{Decision, Opening};
use rules::{Action, Role};

/// Most units one order addresses.
pub const MAX_ADDRESSED: usize = 50;
/// Longest order text or answer, in Unicode code points.
pub const MAX_ORDER_TEXT: usize = 4000;
/// Longest title.
pub const MAX_TITLE: usize = 200;

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// A decision as the four write RPCs carry it.
#[derive(Debug, Clone, Default)]
pub struct DecisionRequest {
    /// The order's name.
    pub name: String,
    /// The unit whose part it is; empty for a withdrawal (and, for an answer, the
    /// caller's own).
    pub department: String,
    /// The answer, the comment or the reason.
    pub text: String,
    /// An answer's evidence.
    pub evidence: Vec<pb::EvidenceLink>,
    /// The etag read.
    pub etag: String,
    /// The request id.
    pub request_id: String,
}

impl From<&pb::RespondToOrderRequest> for DecisionRequest {
    fn from(r: &pb::RespondToOrderRequest) -> Self {
        Self {
            name: r.name.clone(),
            department: r.department.clone(),
            text: r.text.clone(),
            evidence: r.evidence_links.clone(),
            etag: r.etag.clone(),
            request_id: r.request_id.clone(),
        }
    }
}

impl From<&pb::AcceptOrderResponseRequest> for DecisionRequest {
    fn from(r: &pb::AcceptOrderResponseRequest) -> Self {
        Self {
            name: r.name.clone(),
            department: r.department.clone(),
            text: r.comment.clone(),
            etag: r.etag.clone(),
            request_id: r.request_id.clone(),
            ..Default::default()
        }
    }
}

impl From<&pb::ReturnOrderResponseRequest> for DecisionRequest {
    fn from(r: &pb::ReturnOrderResponseRequest) -> Self {
        Self {
            name: r.name.clone(),
            department: r.department.clone(),
            text: r.reason.clone(),
            etag: r.etag.clone(),
            request_id: r.request_id.clone(),
            ..Default::default()
        }
    }
}

impl From<&pb::WithdrawOrderRequest> for DecisionRequest {
    fn from(r: &pb::WithdrawOrderRequest) -> Self {
        Self {
            name: r.name.clone(),
            text: r.reason.clone(),
            etag: r.etag.clone(),
            request_id: r.request_id.clone(),
            ..Default::default()
        }
    }
}

fn action_method(action: Action) -> &'static str {
    match action {
        Action::Respond => method::RESPOND_TO_ORDER,
        Action::Accept => method::ACCEPT_ORDER_RESPONSE,
        Action::Return => method::RETURN_ORDER_RESPONSE,
        Action::Withdraw => method::WITHDRAW_ORDER,
    }
}

/// The part a DEPARTMENT caller may see, or None for every part.
fn viewer(principal: &Principal) -> Option<&str> {
    match principal {
        Principal::Department(own) => Some(own.as_str()),
        _ => None,
    }
}

/// The plan and number of an order's name, or the violation of `name`.
fn order_key(name: &str) -> std::result::Result<(String, i32), FieldViolation> {
    convert::parse_order_name(name)
        .map(|(plan, number)| (plan.to_owned(), number))
        .ok_or_else(|| FieldViolation::new("name", "must be `plans/{plan}/orders/{number}`"))
}

/// Where one answer stands, for a unit's obligations: owed or awaiting review.
pub(super) const UNCLOSED: [Part; 3] = [Part::Open, Part::Responded, Part::Returned];

impl Reporting {
    /// OpenOrder.
    pub async fn open_order(&self, caller: &Verified, request: &pb::OpenOrderRequest) -> Result<pb::Order> {
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method: method::OPEN_ORDER,
            request_id: request.request_id.clone(),
            resource: request.parent.clone(),
            ..Default::default()
        };
        let prepared = self.prepare_opening(caller, request).await;
        self.write_order_change(audit, prepared).await
    }

    /// Writes a prepared change to an order, answers a retried request with what it
    /// was answered before, or answers the refusal; audited in every case.
    async fn write_order_change(
        &self,
        audit: AuditInfo,
        prepared: Result<std::result::Result<impl Change + 'static, pb::Order>>,
    ) -> Result<pb::Order> {
        match prepared {
            Err(error) => Err(self.refuse(audit, error).await),
            Ok(Err(stored)) => {
                let _ = self
                    .writer
                    .write(WriteJob::audit_only(Ok(stored.name.clone()), audit))
                    .await;
                Ok(stored)
            }
            Ok(Ok(change)) => Ok(self.writer.write(WriteJob::change(change, audit)).await?.order),
        }
    }

    async fn prepare_opening(
        &self,
        caller: &Verified,
        request: &pb::OpenOrderRequest,
    ) -> Result<std::result::Result<Opening, pb::Order>> {
        if !Role::of(&caller.principal, "", &[]).may(Action::Accept) {
            return Err(role_not_allowed("opening a supervision order", &caller.principal));
        }
        let key = RequestKey::new(
            &caller.principal.label(),
            method::OPEN_ORDER,
            &request.request_id,
            request,
        );
        if let Some(key) = &key
            && let Some(stored) = idempotency::replay::<pb::Order>(self.store.db(), key).await?
        {
            return Ok(Err(stored));
        }
        let plan_code = parent_plan(&request.parent)?;
        let plan = self.catalog.plan(&plan_code).await?;
        let directory = self.catalog.departments().await?;
        let today = plan.cadence.zone.today();
        let order = request.order.clone().unwrap_or_default();
        let mut violations = Vec::new();
        let mut bad = |field: &str, description: &str| violations.push(FieldViolation::new(field, description));
        if request.order.is_none() {
            bad("order", "is required");
        }
        if order.title.trim().is_empty() {
            bad("order.title", "is required");
        } else if chars(&order.title) > MAX_TITLE {
            bad("order.title", "is longer than 200 characters");
        }
        if order.text.trim().is_empty() {
            bad("order.text", "is required");
        } else if chars(&order.text) > MAX_ORDER_TEXT {
            bad("order.text", "is longer than 4000 characters");
        }
        if pb::OrderLevel::try_from(order.level).unwrap_or_default() == pb::OrderLevel::Unspecified {
            bad("order.level", "is required: BLUE, YELLOW or RED");
        }
        if order.departments.is_empty() {
            bad("order.departments", "must name at least one unit");
        } else if order.departments.len() > MAX_ADDRESSED {
            bad("order.departments", "names more than 50 units");
        }
        let mut seen = BTreeSet::new();
        for (i, code) in order.departments.iter().enumerate() {
            let field = format!("order.departments[{i}]");
            if !directory.contains_key(code) {
                bad(&field, "is not a department in the directory");
            } else if !seen.insert(code.as_str()) {
                bad(&field, "names the same unit as an earlier entry");
            }
        }
        let due = match order.response_due.as_ref().map(calendar::date_from_proto) {
            None => {
                bad("order.response_due", "is required");
                None
            }
            Some(None) => {
                bad("order.response_due", "is not a valid date");
                None
            }
            // ADMIN may record an order issued before Duban was used (a paper 督办单
            // ledger, as reports are backfilled): its response day may be past, and it
            // is overdue, and escalates, at once. Leadership opens orders for the future.
            Some(Some(day)) if day < today && caller.principal != Principal::Admin => {
                bad(
                    "order.response_due",
                    &format!("is before today ({today}) in the plan's time zone"),
                );
                None
            }
            Some(day) => day,
        };
        let subject = match &order.subject {
            None => ("", String::new()),
            Some(pb::order::Subject::MeasureNumber(number)) => {
                if !plan.measures.contains_key(number) {
                    bad("order.measure_number", "is not a measure of the plan");
                }
                ("measure", number.clone())
            }
            Some(pb::order::Subject::TargetCode(code)) => {
                if !plan.targets.contains_key(code) {
                    bad("order.target_code", "is not a target of the plan");
                }
                ("target", code.clone())
            }
            Some(pb::order::Subject::Blocker(name)) => {
                let exists = match convert::parse_blocker_name(name) {
                    Some((plan_of, measure, department, number)) if plan_of == plan_code => self
                        .store
                        .key_blockers(self.store.db(), plan_of, measure, department)
                        .await?
                        .iter()
                        .any(|b| b.number == number),
                    _ => false,
                };
                if !exists {
                    bad("order.blocker", "is not a blocker raised in a report of the plan");
                }
                ("blocker", name.clone())
            }
        };
        let Some(due) = due.filter(|_| violations.is_empty()) else {
            return Err(ReportingError::Invalid(violations));
        };
        Ok(Ok(Opening {
            plan: plan_code,
            order,
            subject,
            due,
            today,
            issuer: (caller.principal.clone(), caller.credential.clone()),
            request: key,
        }))
    }

    /// RespondToOrder, AcceptOrderResponse, ReturnOrderResponse or WithdrawOrder;
    /// `request_for_key` is the RPC's request, whose encoding the request id is bound to.
    pub async fn decide_order(
        &self,
        caller: &Verified,
        action: Action,
        decision: DecisionRequest,
        request_for_key: &impl prost::Message,
    ) -> Result<pb::Order> {
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method: action_method(action),
            request_id: decision.request_id.clone(),
            resource: decision.name.clone(),
            ..Default::default()
        };
        if action == Action::Respond {
            // Over quota: refused before any work, and not audited, as submissions are.
            self.quota.admit(&caller.principal)?;
        }
        let prepared = self.prepare_decision(caller, action, decision, request_for_key).await;
        self.write_order_change(audit, prepared).await
    }

    async fn prepare_decision(
        &self,
        caller: &Verified,
        action: Action,
        mut request: DecisionRequest,
        request_for_key: &impl prost::Message,
    ) -> Result<std::result::Result<Decision, pb::Order>> {
        let role = Role::of(&caller.principal, "", &[]);
        if !role.may(action) {
            return Err(role_not_allowed(
                &format!("{action:?} on a supervision order"),
                &caller.principal,
            ));
        }
        if let Principal::Department(own) = &caller.principal {
            if request.department.is_empty() {
                request.department = own.clone();
            } else if &request.department != own {
                return Err(ReportingError::OrderNotAddressed {
                    department: own.clone(),
                });
            }
        }
        let key = RequestKey::new(
            &caller.principal.label(),
            action_method(action),
            &request.request_id,
            request_for_key,
        );
        if let Some(key) = &key
            && let Some(stored) = idempotency::replay::<pb::Order>(self.store.db(), key).await?
        {
            return Ok(Err(stored));
        }
        let mut violations = Vec::new();
        let order = order_key(&request.name).map_err(|v| violations.push(v)).ok();
        if request.etag.is_empty() {
            violations.push(FieldViolation::new("etag", "is required"));
        }
        let (field, limit) = match action {
            Action::Respond => ("text", MAX_ORDER_TEXT),
            Action::Accept => ("comment", validate::MAX_TEXT),
            Action::Return | Action::Withdraw => ("reason", validate::MAX_TEXT),
        };
        if matches!(action, Action::Respond | Action::Return) && request.text.trim().is_empty() {
            violations.push(FieldViolation::new(field, "is required"));
        }
        if chars(&request.text) > limit {
            violations.push(FieldViolation::new(field, format!("is longer than {limit} characters")));
        }
        if matches!(action, Action::Accept | Action::Return) && request.department.is_empty() {
            violations.push(FieldViolation::new(
                "department",
                "is required: the unit whose answer is reviewed",
            ));
        }
        violations.extend(validate::check_evidence(&request.evidence, "evidence_links"));
        let Some((plan_code, number)) = order.filter(|_| violations.is_empty()) else {
            return Err(ReportingError::Invalid(violations));
        };
        let plan = self.catalog.plan(&plan_code).await?;
        Ok(Ok(Decision {
            plan: plan_code,
            number,
            action,
            department: request.department,
            text: request.text,
            evidence: request.evidence,
            etag: request.etag,
            actor: (caller.principal.clone(), caller.credential.clone()),
            today: plan.cadence.zone.today(),
            request: key,
        }))
    }

    /// GetOrder.
    pub async fn get_order(&self, caller: &Verified, request: &pb::GetOrderRequest) -> Result<pb::Order> {
        let (plan_code, number) = order_key(&request.name).map_err(|v| ReportingError::Invalid(vec![v]))?;
        let plan = self.catalog.plan(&plan_code).await?;
        let (order, parts) = self
            .store
            .order(self.store.db(), &plan_code, number)
            .await?
            .ok_or_else(|| NotFound::new(ErrorReason::OrderNotFound, request.name.clone()))?;
        let only = viewer(&caller.principal);
        if let Some(own) = only
            && !parts.iter().any(|p| p.department == own)
        {
            return Err(ReportingError::OrderNotAddressed {
                department: own.to_owned(),
            });
        }
        Ok(convert::order(&order, &parts, plan.cadence.zone.today(), only))
    }

    /// ListOrders.
    pub async fn list_orders(
        &self,
        caller: &Verified,
        request: &pb::ListOrdersRequest,
    ) -> Result<pb::ListOrdersResponse> {
        let department = match &caller.principal {
            Principal::Department(own) => {
                if !request.department.is_empty() {
                    Self::check_own(&caller.principal, &request.department)?;
                }
                own.clone()
            }
            _ => request.department.clone(),
        };
        let plan_code = parent_plan(&request.parent)?;
        let fingerprint = format!(
            "{plan_code}|{department}|{}|{}|{}",
            request.state, request.level, request.overdue
        );
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let plan = self.catalog.plan(&plan_code).await?;
        let today = plan.cadence.zone.today();
        let only = viewer(&caller.principal);
        let matching: Vec<pb::Order> = self
            .store
            .orders(&plan_code)
            .await?
            .iter()
            .filter(|(_, parts)| department.is_empty() || parts.iter().any(|p| p.department == department))
            .map(|(order, parts)| {
                let focus = (!department.is_empty()).then_some(department.as_str());
                (convert::order(order, parts, today, only), focus)
            })
            .filter(|(order, focus)| {
                (request.state == 0 || order.state == request.state)
                    && (request.level == 0 || order.level == request.level)
                    && (!request.overdue
                        || order
                            .parts
                            .iter()
                            .any(|p| p.overdue && focus.is_none_or(|d| d == p.department)))
            })
            .map(|(order, _)| order)
            .collect();
        let total = matching.len() as u64;
        Ok(pb::ListOrdersResponse {
            orders: page.window(matching).collect(),
            next_page_token: page.next_token(total, &fingerprint),
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        })
    }

    /// The open orders of `department` for its obligations: every OPEN order whose part
    /// for it is not closed, overdue first, then by due day and number.
    pub async fn order_obligations(
        &self,
        plan: &str,
        department: &str,
        today: NaiveDate,
    ) -> Result<Vec<pb::OrderObligation>> {
        let states: Vec<&str> = UNCLOSED.iter().map(|s| s.as_str_name()).collect();
        let mut owed: Vec<(bool, NaiveDate, i32, pb::OrderObligation)> = self
            .store
            .department_parts(plan, department, &states)
            .await?
            .into_iter()
            .filter(|(order, _)| order.state == OrderState::Open.as_str_name())
            .filter_map(|(order, part)| {
                let due = convert::due_date(&order)?;
                let state = convert::part_state(&part);
                let overdue = rules::overdue(state, due, today);
                let obligation = pb::OrderObligation {
                    order: convert::order_name(&order.plan, order.number),
                    title: order.title.clone(),
                    level: pb::OrderLevel::from_str_name(&order.level).unwrap_or_default() as i32,
                    response_due: Some(calendar::date_to_proto(due)),
                    state: state as i32,
                    overdue,
                    return_reason: if state == Part::Returned {
                        part.review_reason.clone()
                    } else {
                        String::new()
                    },
                    etag: convert::order_etag(order.version),
                };
                Some((!overdue, due, order.number, obligation))
            })
            .collect();
        owed.sort_by_key(|a| (a.0, a.1, a.2));
        Ok(owed.into_iter().map(|(.., obligation)| obligation).collect())
    }
}
