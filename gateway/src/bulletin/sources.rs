//! What the bulletin reads beyond the overview and the compliance calendar: every supervision order of
//! the plan, from reporting's SupervisionOrdersService, as the caller may read them.

use duban_kit::paging::{READ_ALL_PAGE_SIZE, read_all_pages};
use duban_proto::reporting::v1::{ListOrdersRequest, Order};

use crate::{backends::Backends, dashboard::Caller};

/// Every order of `plan` (`plans/{plan}`), in any state, read with `caller`'s token (the gateway's
/// own for the open dashboard).
pub async fn read_orders(backends: &Backends, caller: &Caller, plan: &str) -> Result<Vec<Order>, tonic::Status> {
    let client = backends.orders(caller.token.as_deref());
    read_all_pages(|page_token| {
        let mut client = client.clone();
        let request = ListOrdersRequest {
            parent: plan.to_owned(),
            page_size: READ_ALL_PAGE_SIZE,
            page_token,
            ..Default::default()
        };
        async move {
            let page = client.list_orders(request).await?.into_inner();
            Ok::<_, tonic::Status>((page.orders, page.next_page_token))
        }
    })
    .await
}
