//! Whole listings of the plan's owners (departments, groups, actions, measures,
//! targets), read page by page with kit's `read_all_pages`, so each server and the
//! command line ask for them the same way.

use duban_kit::{
    client::ServiceChannel,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::{
    departments::v1::{self as dpb, departments_service_client::DepartmentsServiceClient},
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    targets::v1::{self as tpb, targets_service_client::TargetsServiceClient},
};
use tonic::Status;

/// Every department (unit), in the directory's order.
pub async fn all_departments(
    client: &DepartmentsServiceClient<ServiceChannel>,
) -> Result<Vec<dpb::Department>, Status> {
    read_all_pages(|page_token| {
        let mut client = client.clone();
        async move {
            let request = dpb::ListDepartmentsRequest {
                page_size: READ_ALL_PAGE_SIZE,
                page_token,
                ..Default::default()
            };
            let page = client.list_departments(request).await?.into_inner();
            Ok((page.departments, page.next_page_token))
        }
    })
    .await
}

/// Every group of the directory.
pub async fn all_groups(client: &DepartmentsServiceClient<ServiceChannel>) -> Result<Vec<dpb::Group>, Status> {
    read_all_pages(|page_token| {
        let mut client = client.clone();
        async move {
            let request = dpb::ListGroupsRequest {
                page_size: READ_ALL_PAGE_SIZE,
                page_token,
            };
            let page = client.list_groups(request).await?.into_inner();
            Ok((page.groups, page.next_page_token))
        }
    })
    .await
}

/// The id of every plan the measures service holds, in id order.
pub async fn all_plan_codes(client: &MeasuresServiceClient<ServiceChannel>) -> Result<Vec<String>, Status> {
    read_all_pages(|page_token| {
        let mut client = client.clone();
        async move {
            let request = mpb::ListPlansRequest {
                page_size: READ_ALL_PAGE_SIZE,
                page_token,
            };
            let page = client.list_plans(request).await?.into_inner();
            let codes = page.plans.into_iter().map(|plan| plan.id).collect();
            Ok((codes, page.next_page_token))
        }
    })
    .await
}

/// Every action of the plan `parent` (`plans/{plan}`).
pub async fn all_actions(
    client: &MeasuresServiceClient<ServiceChannel>,
    parent: &str,
) -> Result<Vec<mpb::Action>, Status> {
    read_all_pages(|page_token| {
        let mut client = client.clone();
        async move {
            let request = mpb::ListActionsRequest {
                parent: parent.to_owned(),
                page_size: READ_ALL_PAGE_SIZE,
                page_token,
            };
            let page = client.list_actions(request).await?.into_inner();
            Ok((page.actions, page.next_page_token))
        }
    })
    .await
}

/// Every measure of the plan `parent` (`plans/{plan}`).
pub async fn all_measures(
    client: &MeasuresServiceClient<ServiceChannel>,
    parent: &str,
) -> Result<Vec<mpb::Measure>, Status> {
    read_all_pages(|page_token| {
        let mut client = client.clone();
        async move {
            let request = mpb::ListMeasuresRequest {
                parent: parent.to_owned(),
                page_size: READ_ALL_PAGE_SIZE,
                page_token,
                ..Default::default()
            };
            let page = client.list_measures(request).await?.into_inner();
            Ok((page.measures, page.next_page_token))
        }
    })
    .await
}

/// Every current target of the plan `parent` (`plans/{plan}`).
pub async fn all_targets(
    client: &TargetsServiceClient<ServiceChannel>,
    parent: &str,
) -> Result<Vec<tpb::Target>, Status> {
    read_all_pages(|page_token| {
        let mut client = client.clone();
        async move {
            let request = tpb::ListTargetsRequest {
                parent: parent.to_owned(),
                page_size: READ_ALL_PAGE_SIZE,
                page_token,
                ..Default::default()
            };
            let page = client.list_targets(request).await?.into_inner();
            Ok((page.targets, page.next_page_token))
        }
    })
    .await
}
