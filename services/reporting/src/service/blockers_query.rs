//! ListBlockers: the blockers of a plan with their current state; a department sees
//! those it raised and those addressed to it.

use duban_kit::{Principal, auth::Verified, paging::Page};
use duban_proto::reporting::v1 as pb;

use super::{Reporting, Result, parent_plan};
use crate::{convert, error::ReportingError, store::BlockerFilter};

impl Reporting {
    /// ListBlockers.
    pub async fn list_blockers(
        &self,
        caller: &Verified,
        request: &pb::ListBlockersRequest,
    ) -> Result<pb::ListBlockersResponse> {
        let mut filter = BlockerFilter {
            department: request.department.clone(),
            support_unit: request.support_unit.clone(),
            measure: request.measure_number.clone(),
            ..Default::default()
        };
        // Authorisation first (AIP-211): a department's own blockers, or those asking it.
        if let Principal::Department(own) = &caller.principal {
            let raised_by_it = filter.department.is_empty() || filter.department == *own;
            let addressed_to_it = filter.support_unit == *own;
            if !raised_by_it && !addressed_to_it {
                Self::check_own(&caller.principal, &filter.department)?;
            }
            if filter.department.is_empty() && filter.support_unit.is_empty() {
                filter.involving = own.clone();
            } else if filter.department.is_empty() && !addressed_to_it {
                filter.department = own.clone();
            }
        }
        let plan_code = parent_plan(&request.parent)?;
        filter.state = match pb::BlockerState::try_from(request.state) {
            Ok(pb::BlockerState::Unspecified) => String::new(),
            Ok(state) => state.as_str_name().to_owned(),
            Err(_) => return Err(ReportingError::invalid("state", "is not a blocker state")),
        };
        self.catalog.plan(&plan_code).await?;
        let fingerprint = format!("{plan_code}|{filter:?}");
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let rows = self.store.blockers(&plan_code, &filter).await?;
        let total = rows.len() as u64;
        Ok(pb::ListBlockersResponse {
            blockers: page.window(rows.iter().map(convert::blocker)).collect(),
            next_page_token: page.next_token(total, &fingerprint),
            total_size: total as i32,
        })
    }
}
