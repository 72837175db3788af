//! Issue 13's "a target RED for two periods in a row: RED notice to leadership": the
//! daily evaluation rates every target at the end of March and April 2023 (reports due
//! 2023-04-05 and 2023-05-05) and notifies each one RED at both, once, and not one that
//! its unit reported on track.

use std::collections::BTreeSet;

use duban_harness::NoticesClient;

use super::notices::{backfill_march, date};
use super::*;

const ON_TRACK: &str = "worker-relay-stations";

async fn red_periods(client: &mut NoticesClient) -> Vec<pb::Notice> {
    let notices = client
        .list_notices(pb::ListNoticesRequest {
            parent: PLAN.into(),
            level: pb::NoticeLevel::Red as i32,
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notices;
    notices
        .into_iter()
        .filter(|n| n.rule() == pb::NoticeRule::TargetRedPeriods)
        .collect()
}

async fn a_target_red_two_periods_in_a_row_is_escalated_to_leadership(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let responsibilities = suite.responsibilities().await.unwrap();
    let targets: BTreeSet<String> = responsibilities
        .iter()
        .flat_map(|r| r.owed.iter().map(|t| t.code.clone()))
        .collect();
    // Its one reporting unit files every March report on time, 1 relay station: ahead
    // of the trajectory (0 on 3 March to 4 by year end) in March, and in April, judged
    // on March's figure while April's report is missing.
    let reporter = responsibilities
        .iter()
        .find(|r| r.owed.iter().any(|t| t.code == ON_TRACK))
        .unwrap()
        .department
        .clone();
    backfill_march(&suite, &reporter, 3).await;

    let mut admin = suite.notices(Caller::Admin);
    let evaluator = admin.clone();
    let evaluate = |month, day| {
        let mut admin = evaluator.clone();
        async move {
            admin
                .evaluate_notices(pb::EvaluateNoticesRequest {
                    parent: PLAN.into(),
                    as_of: date(month, day),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    // On April's due day only March is judged: no streak of two yet.
    evaluate(5, 5).await;
    assert!(red_periods(&mut admin).await.is_empty());

    // The day after: March and April are both RED for every target nobody reported.
    evaluate(5, 6).await;
    let notices = red_periods(&mut admin).await;
    let notified: BTreeSet<String> = notices
        .iter()
        .map(|n| n.target.trim_start_matches(&format!("{PLAN}/targets/")).to_owned())
        .collect();
    let mut expected = targets.clone();
    expected.remove(ON_TRACK);
    assert!(!expected.is_empty());
    assert_eq!(notified, expected);
    assert_eq!(notices.len(), expected.len(), "one notice per target");
    for notice in &notices {
        assert_eq!(notice.level(), pb::NoticeLevel::Red);
        assert_eq!(notice.day, date(5, 6));
        assert_eq!(notice.period, Some(common::Period { year: 2023, month: 4 }));
        assert_eq!(notice.recipient_roles, [dpb::Role::Leadership as i32]);
        assert!(
            notice.name.contains("~red-periods~") && notice.name.ends_with("~2023-04"),
            "{}",
            notice.name
        );
        assert!(
            notice.reason.contains("连续2期滞后（2023-03、2023-04）"),
            "{}",
            notice.reason
        );
        assert!(!notice.recipient_departments.is_empty());
    }

    // Evaluated again, that day or the next, nothing more is stored.
    assert_eq!(evaluate(5, 6).await.created_count, 0);
    evaluate(5, 7).await;
    assert_eq!(red_periods(&mut admin).await.len(), notices.len());
}

duban_kit::backend_tests!(a_target_red_two_periods_in_a_row_is_escalated_to_leadership);
