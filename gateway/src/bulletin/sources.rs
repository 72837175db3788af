//! What the bulletin reads beyond the overview and the compliance calendar: every supervision order of
//! the plan, from reporting's SupervisionOrdersService, as the caller may read them.

use duban_proto::reporting::v1::{ListOrdersRequest, Order};

use crate::{backends::Backends, dashboard::Caller};

/// Every order of `plan` (`plans/{plan}`), in any state, read with `caller`'s token (the gateway's
/// own for the open dashboard).
pub async fn read_orders(backends: &Backends, caller: &Caller, plan: &str) -> Result<Vec<Order>, tonic::Status> {
    let every = ListOrdersRequest {
        parent: plan.to_owned(),
        ..Default::default()
    };
    backends.all_orders(caller.token.as_deref(), every).await
}
