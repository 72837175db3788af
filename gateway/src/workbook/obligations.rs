//! What a workbook is made of: the unit's obligations for one period, every page of ListObligations.
//! The gateway's `/my/template.xlsx` and `duban report template` both read them here, so that the two
//! make the same workbook from the same rows.

use duban_kit::{
    client::ServiceChannel,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::{
    common::v1::Period,
    reporting::v1::{ListObligationsRequest, Obligation, reporting_service_client::ReportingServiceClient},
};

/// Every obligation of `department` (empty: the caller's own, for a DEPARTMENT token) in `period` of
/// the plan `parent` (`plans/{plan}`), in the order ListObligations gives them, read through `client`
/// (which carries the caller's token: reporting decides what the caller may see).
pub async fn period_obligations(
    client: &ReportingServiceClient<ServiceChannel>,
    parent: &str,
    department: &str,
    period: Period,
) -> Result<Vec<Obligation>, tonic::Status> {
    read_all_pages(|page_token| {
        let mut client = client.clone();
        let request = ListObligationsRequest {
            parent: parent.to_owned(),
            department: department.to_owned(),
            start_period: Some(period),
            end_period: Some(period),
            page_size: READ_ALL_PAGE_SIZE,
            page_token,
            ..ListObligationsRequest::default()
        };
        async move {
            let page = client.list_obligations(request).await?.into_inner();
            Ok::<_, tonic::Status>((page.obligations, page.next_page_token))
        }
    })
    .await
}
