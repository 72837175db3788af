//! The writer's jobs of supervision orders: opening one, and a decision on it (an
//! answer, a review, a withdrawal). Each checks the stored order inside the writer's
//! transaction, so that two decisions on one order cannot both pass its etag.

use chrono::NaiveDate;
use duban_kit::{
    Principal,
    error::{EtagMismatch, NotFound},
    idempotency::RequestKey,
};
use duban_proto::reporting::v1::{self as pb, ErrorReason, OrderPartState as Part, OrderState, order_review::Outcome};
use futures::future::BoxFuture;
use sea_orm::DatabaseTransaction;

use super::rules::{self, Action, Refusal, Role};
use crate::{
    calendar,
    convert::{self},
    entity::{order_part, supervision_order},
    error::ReportingError,
    service::journal::{Change, Written},
    store::ReportStore,
    writer::Failure,
};

type Step<T> = std::result::Result<T, Failure<ReportingError>>;

/// What an order answers once committed.
fn written(order: pb::Order) -> Written {
    Written {
        order,
        ..Written::default()
    }
}

/// The order this very request was answered with before, if it is a retry.
async fn replayed(txn: &DatabaseTransaction, request: &Option<RequestKey>) -> Step<Option<Written>> {
    let stored = duban_kit::idempotency::replay_keyed::<pb::Order>(txn, request)
        .await
        .map_err(ReportingError::from)?;
    Ok(stored.map(written))
}

/// Records the answer under the request id, the last step of every order change.
async fn finish(txn: &DatabaseTransaction, request: &Option<RequestKey>, response: pb::Order) -> Step<Written> {
    if let Some(request) = request
        && !duban_kit::idempotency::record(txn, request, &response).await?
    {
        // A concurrent retry with the same id won: retried alone, this replays it.
        return Err(Failure::Database(ReportingError::from(sea_orm::DbErr::Custom(
            "a concurrent request with the same request_id won".into(),
        ))));
    }
    Ok(written(response))
}

/// The stored role name of an issuer or reviewer.
fn role_name(principal: &Principal) -> String {
    convert::principal_columns(principal).0
}

/// A checked OpenOrder, ready to be written.
#[derive(Debug, Clone)]
pub struct Opening {
    /// The plan.
    pub plan: String,
    /// The order as asked, checked (title, level, text, departments).
    pub order: pb::Order,
    /// `(kind, value)` of the subject; `("", "")` for none.
    pub subject: (&'static str, String),
    /// The response-due day.
    pub due: NaiveDate,
    /// Today in the plan's zone.
    pub today: NaiveDate,
    /// The issuer and its credential.
    pub issuer: (Principal, String),
    /// The idempotency key.
    pub request: Option<RequestKey>,
}

impl Opening {
    async fn store(&self, store: &ReportStore, txn: &DatabaseTransaction, now_us: i64) -> Step<Written> {
        if let Some(replayed) = replayed(txn, &self.request).await? {
            return Ok(replayed);
        }
        let number = store.next_order_number(txn, &self.plan).await?;
        let (principal, credential) = &self.issuer;
        let row = supervision_order::Model {
            plan: self.plan.clone(),
            number,
            title: self.order.title.trim().to_owned(),
            issuer_role: role_name(principal),
            issuer_credential: credential.clone(),
            level: pb::OrderLevel::try_from(self.order.level)
                .unwrap_or_default()
                .as_str_name()
                .to_owned(),
            subject_kind: self.subject.0.to_owned(),
            subject: self.subject.1.clone(),
            body: self.order.text.clone(),
            departments: serde_json::to_string(&self.order.departments).unwrap_or_else(|_| "[]".into()),
            response_due: calendar::date_key(self.due),
            state: OrderState::Open.as_str_name().to_owned(),
            version: 1,
            withdraw_reason: String::new(),
            create_time_us: now_us,
            update_time_us: now_us,
            close_time_us: None,
        };
        let parts: Vec<order_part::Model> = self
            .order
            .departments
            .iter()
            .enumerate()
            .map(|(position, department)| order_part::Model {
                plan: self.plan.clone(),
                order_number: number,
                department: department.clone(),
                position: position as i32,
                state: Part::Open.as_str_name().to_owned(),
                response_text: String::new(),
                evidence_links: "[]".into(),
                responder_credential: String::new(),
                respond_time_us: None,
                response_revision: 0,
                review_outcome: String::new(),
                review_reason: String::new(),
                reviewer_role: String::new(),
                reviewer_credential: String::new(),
                review_time_us: None,
                update_time_us: now_us,
            })
            .collect();
        store.insert_order(txn, (row.clone(), parts.clone())).await?;
        finish(txn, &self.request, convert::order(&row, &parts, self.today, None)).await
    }
}

impl Change for Opening {
    fn write<'a>(
        &'a self,
        store: &'a ReportStore,
        txn: &'a DatabaseTransaction,
        now_us: i64,
    ) -> BoxFuture<'a, Step<Written>> {
        Box::pin(self.store(store, txn, now_us))
    }
}

/// A checked decision on an order: an answer, a review or a withdrawal.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The plan.
    pub plan: String,
    /// The order's number.
    pub number: i32,
    /// What is done.
    pub action: Action,
    /// The unit whose part it is (empty for a withdrawal).
    pub department: String,
    /// The answer, the comment, or the reason.
    pub text: String,
    /// An answer's evidence links.
    pub evidence: Vec<pb::EvidenceLink>,
    /// The etag the caller read.
    pub etag: String,
    /// Who decides, and its credential.
    pub actor: (Principal, String),
    /// Today in the plan's zone.
    pub today: NaiveDate,
    /// The idempotency key.
    pub request: Option<RequestKey>,
}

impl Decision {
    fn name(&self) -> String {
        convert::order_name(&self.plan, self.number)
    }

    fn refused(&self, refusal: Refusal, state: Part) -> ReportingError {
        let (principal, _) = &self.actor;
        match refusal {
            Refusal::Role => ReportingError::RoleNotAllowed(format!(
                "{:?} on an order is not allowed for {}",
                self.action,
                principal.label()
            )),
            Refusal::NotAddressed => ReportingError::OrderNotAddressed {
                department: match principal {
                    Principal::Department(own) => own.clone(),
                    _ => self.department.clone(),
                },
            },
            Refusal::State => ReportingError::OrderStateInvalid {
                name: self.name(),
                what: format!("{}'s part", self.department),
                state: state.as_str_name().to_owned(),
                department: self.department.clone(),
            },
        }
    }

    async fn store(&self, store: &ReportStore, txn: &DatabaseTransaction, now_us: i64) -> Step<Written> {
        if let Some(replayed) = replayed(txn, &self.request).await? {
            return Ok(replayed);
        }
        let name = self.name();
        let (mut order, mut parts) = store
            .order(txn, &self.plan, self.number)
            .await?
            .ok_or_else(|| ReportingError::from(NotFound::new(ErrorReason::OrderNotFound, name.clone())))?;
        let addressed: Vec<String> = serde_json::from_str(&order.departments).unwrap_or_default();
        let (principal, credential) = &self.actor;
        // Who before what (AIP-211): the role and the part, then the etag, then the state.
        let planned: Vec<(usize, std::result::Result<Part, Refusal>)> = if self.action == Action::Withdraw {
            let role = Role::of(principal, "", &addressed);
            if !role.may(Action::Withdraw) {
                return Err(self.refused(Refusal::Role, Part::Unspecified).into());
            }
            parts
                .iter()
                .enumerate()
                .map(|(i, part)| (i, rules::transition(convert::part_state(part), self.action, role)))
                .collect()
        } else {
            let role = Role::of(principal, &self.department, &addressed);
            let Some(index) = parts.iter().position(|p| p.department == self.department) else {
                return Err(match role {
                    Role::Unit | Role::OtherUnit => self.refused(Refusal::NotAddressed, Part::Unspecified),
                    _ => ReportingError::invalid("department", "is not a unit the order addresses"),
                }
                .into());
            };
            let state = parts.get(index).map(convert::part_state).unwrap_or_default();
            let outcome = rules::transition(state, self.action, role);
            if let Err(refusal @ (Refusal::Role | Refusal::NotAddressed)) = outcome {
                return Err(self.refused(refusal, state).into());
            }
            vec![(index, outcome)]
        };
        let current = convert::order_etag(order.version);
        if current != self.etag {
            return Err(ReportingError::from(EtagMismatch { name, current }).into());
        }
        let stored_state = OrderState::from_str_name(&order.state).unwrap_or_default();
        if stored_state != OrderState::Open {
            return Err(ReportingError::OrderStateInvalid {
                name,
                what: "the order".into(),
                state: order.state.clone(),
                department: self.department.clone(),
            }
            .into());
        }
        let mut changed = Vec::new();
        for (index, outcome) in planned {
            let Some(part) = parts.get_mut(index) else { continue };
            let before = convert::part_state(part);
            let after = outcome.map_err(|refusal| self.refused(refusal, before))?;
            if after == before && self.action == Action::Withdraw {
                continue; // a closed part stays as it was
            }
            part.state = after.as_str_name().to_owned();
            part.update_time_us = now_us;
            match self.action {
                Action::Respond => {
                    part.response_text = self.text.clone();
                    part.evidence_links = convert::evidence_json(&self.evidence);
                    part.responder_credential = credential.clone();
                    part.respond_time_us = Some(now_us);
                    part.response_revision += 1;
                    // A new answer has not been reviewed.
                    part.review_outcome = String::new();
                    part.review_reason = String::new();
                    part.reviewer_role = String::new();
                    part.reviewer_credential = String::new();
                    part.review_time_us = None;
                }
                Action::Accept | Action::Return => {
                    let outcome = if self.action == Action::Accept {
                        Outcome::Accepted
                    } else {
                        Outcome::Returned
                    };
                    part.review_outcome = outcome.as_str_name().to_owned();
                    part.review_reason = self.text.clone();
                    part.reviewer_role = role_name(principal);
                    part.reviewer_credential = credential.clone();
                    part.review_time_us = Some(now_us);
                }
                Action::Withdraw => {}
            }
            changed.push(part.clone());
        }
        let states: Vec<Part> = parts.iter().map(convert::part_state).collect();
        let state = rules::order_state(&states);
        order.state = state.as_str_name().to_owned();
        if state != OrderState::Open {
            order.close_time_us = Some(now_us);
        }
        if self.action == Action::Withdraw {
            order.withdraw_reason = self.text.clone();
        }
        order.version += 1;
        order.update_time_us = now_us;
        store.update_order(txn, order.clone(), &changed).await?;
        let only = match principal {
            Principal::Department(own) => Some(own.as_str()),
            _ => None,
        };
        finish(txn, &self.request, convert::order(&order, &parts, self.today, only)).await
    }
}

impl Change for Decision {
    fn write<'a>(
        &'a self,
        store: &'a ReportStore,
        txn: &'a DatabaseTransaction,
        now_us: i64,
    ) -> BoxFuture<'a, Step<Written>> {
        Box::pin(self.store(store, txn, now_us))
    }
}
