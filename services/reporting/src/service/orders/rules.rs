//! The state machine of supervision orders, as one pure function, and what is derived
//! from the parts' states (the order's state, overdue). The table is also written in
//! `orders.proto`; `the_whole_table` below walks it cell by cell.

use chrono::NaiveDate;
use duban_kit::Principal;
use duban_proto::reporting::v1::{OrderPartState as Part, OrderState};

/// What a caller does to one unit's part of an order (Withdraw: to every part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The unit answers in writing (RespondToOrder).
    Respond,
    /// The issuer accepts the answer and closes the part (AcceptOrderResponse, 办结).
    Accept,
    /// The issuer sends the answer back (ReturnOrderResponse).
    Return,
    /// The issuer withdraws the order (WithdrawOrder).
    Withdraw,
}

/// Who acts, as the state machine tells callers apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A DEPARTMENT the order addresses, acting for itself.
    Unit,
    /// A DEPARTMENT the order does not address, or one naming another unit's part.
    OtherUnit,
    /// LEADERSHIP.
    Leadership,
    /// ADMIN.
    Admin,
    /// SERVICE.
    Service,
}

impl Role {
    /// The role of `principal` acting on the part of `department` of an order that
    /// addresses `addressed`.
    pub fn of(principal: &Principal, department: &str, addressed: &[String]) -> Role {
        match principal {
            Principal::Department(own) if own == department && addressed.iter().any(|d| d == own) => Role::Unit,
            Principal::Department(_) => Role::OtherUnit,
            Principal::Leadership => Role::Leadership,
            Principal::Admin => Role::Admin,
            Principal::Service => Role::Service,
        }
    }

    /// Whether this role may ever take `action`, whatever the state: what is checked
    /// before a request's fields (AIP-211). A DEPARTMENT may respond (whether the order
    /// addresses it is known only once the order is read).
    pub fn may(self, action: Action) -> bool {
        match action {
            Action::Respond => matches!(self, Role::Unit | Role::OtherUnit),
            Action::Accept | Action::Return | Action::Withdraw => matches!(self, Role::Leadership | Role::Admin),
        }
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The role may never take the action (ROLE_NOT_ALLOWED).
    Role,
    /// A DEPARTMENT acting on a part not its own (ORDER_NOT_ADDRESSED).
    NotAddressed,
    /// The part's state does not allow the action (ORDER_STATE_INVALID).
    State,
}

/// The state machine: the part's state after `role` takes `action` in `state`, or why
/// not. Who is checked before what: a wrong role is refused whatever the state.
pub fn transition(state: Part, action: Action, role: Role) -> Result<Part, Refusal> {
    match (action, role) {
        (Action::Respond, Role::OtherUnit) => return Err(Refusal::NotAddressed),
        (Action::Respond, Role::Unit)
        | (Action::Accept | Action::Return | Action::Withdraw, Role::Leadership | Role::Admin) => {}
        _ => return Err(Refusal::Role),
    }
    match (state, action) {
        (Part::Open | Part::Responded | Part::Returned, Action::Respond) => Ok(Part::Responded),
        (Part::Responded, Action::Accept) => Ok(Part::Closed),
        (Part::Responded, Action::Return) => Ok(Part::Returned),
        (Part::Open | Part::Responded | Part::Returned, Action::Withdraw) => Ok(Part::Withdrawn),
        // Withdrawing an order leaves the parts already closed as they are.
        (Part::Closed, Action::Withdraw) => Ok(Part::Closed),
        _ => Err(Refusal::State),
    }
}

/// The order's state given its parts': WITHDRAWN once any part is, CLOSED when every
/// part is closed, OPEN otherwise.
pub fn order_state(parts: &[Part]) -> OrderState {
    if parts.contains(&Part::Withdrawn) {
        OrderState::Withdrawn
    } else if !parts.is_empty() && parts.iter().all(|p| *p == Part::Closed) {
        OrderState::Closed
    } else {
        OrderState::Open
    }
}

/// Whether a part in `state` is overdue on `today`: its answer is owed (OPEN or
/// RETURNED) and `due` has passed. Derived, never stored.
pub fn overdue(state: Part, due: NaiveDate, today: NaiveDate) -> bool {
    matches!(state, Part::Open | Part::Returned) && today > due
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [Part; 6] = [
        Part::Unspecified,
        Part::Open,
        Part::Responded,
        Part::Returned,
        Part::Closed,
        Part::Withdrawn,
    ];
    const ACTIONS: [Action; 4] = [Action::Respond, Action::Accept, Action::Return, Action::Withdraw];
    const ROLES: [Role; 5] = [
        Role::Unit,
        Role::OtherUnit,
        Role::Leadership,
        Role::Admin,
        Role::Service,
    ];

    /// The table of orders.proto, for the roles allowed to act: the state after the
    /// action, or None where it is refused.
    fn allowed(state: Part, action: Action) -> Option<Part> {
        use Action::*;
        use Part::*;
        let row: [Option<Part>; 4] = match state {
            //                Respond          Accept        Return          Withdraw
            Open => [Some(Responded), None, None, Some(Withdrawn)],
            Responded => [Some(Responded), Some(Closed), Some(Returned), Some(Withdrawn)],
            Returned => [Some(Responded), None, None, Some(Withdrawn)],
            Closed => [None, None, None, Some(Closed)],
            Withdrawn | Unspecified => [None, None, None, None],
        };
        row[match action {
            Respond => 0,
            Accept => 1,
            Return => 2,
            Withdraw => 3,
        }]
    }

    /// Every state × action × role: who may act, and what each allowed act leads to.
    #[test]
    fn the_whole_table() {
        let mut cells = 0;
        for state in STATES {
            for action in ACTIONS {
                for role in ROLES {
                    let got = transition(state, action, role);
                    let expected = match (action, role) {
                        (Action::Respond, Role::Unit) => allowed(state, action).ok_or(Refusal::State),
                        (Action::Respond, Role::OtherUnit) => Err(Refusal::NotAddressed),
                        (Action::Respond, _) => Err(Refusal::Role),
                        (_, Role::Leadership | Role::Admin) => allowed(state, action).ok_or(Refusal::State),
                        (_, Role::Unit | Role::OtherUnit | Role::Service) => Err(Refusal::Role),
                    };
                    assert_eq!(got, expected, "{state:?} × {action:?} × {role:?}");
                    assert_eq!(
                        role.may(action),
                        !matches!(got, Err(Refusal::Role)),
                        "{role:?} {action:?}"
                    );
                    cells += 1;
                }
            }
        }
        assert_eq!(cells, 6 * 4 * 5);
        // The life cycle of the issue: respond, return, respond again, close.
        let mut part = Part::Open;
        for (action, role) in [
            (Action::Respond, Role::Unit),
            (Action::Return, Role::Leadership),
            (Action::Respond, Role::Unit),
            (Action::Accept, Role::Admin),
        ] {
            part = transition(part, action, role).unwrap();
        }
        assert_eq!(part, Part::Closed);
    }

    #[test]
    fn roles_come_from_the_principal_and_the_addressed_units() {
        let addressed = ["a".to_owned(), "b".to_owned()];
        let unit = |code: &str| Principal::Department(code.into());
        assert_eq!(Role::of(&unit("a"), "a", &addressed), Role::Unit);
        assert_eq!(Role::of(&unit("a"), "b", &addressed), Role::OtherUnit);
        assert_eq!(Role::of(&unit("c"), "c", &addressed), Role::OtherUnit);
        assert_eq!(Role::of(&Principal::Leadership, "a", &addressed), Role::Leadership);
        assert_eq!(Role::of(&Principal::Admin, "", &addressed), Role::Admin);
        assert_eq!(Role::of(&Principal::Service, "a", &addressed), Role::Service);
    }

    #[test]
    fn the_order_follows_its_parts_and_overdue_is_derived() {
        assert_eq!(order_state(&[Part::Closed, Part::Responded]), OrderState::Open);
        assert_eq!(order_state(&[Part::Closed, Part::Closed]), OrderState::Closed);
        assert_eq!(order_state(&[Part::Closed, Part::Withdrawn]), OrderState::Withdrawn);
        let due = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
        let after = due.succ_opt().unwrap();
        assert!(!overdue(Part::Open, due, due), "the due day itself is not late");
        assert!(overdue(Part::Open, due, after));
        assert!(overdue(Part::Returned, due, after));
        for answered in [Part::Responded, Part::Closed, Part::Withdrawn] {
            assert!(!overdue(answered, due, after), "{answered:?}");
        }
    }
}
