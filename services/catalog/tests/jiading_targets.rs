//! The embedded Jiading 2023 targets, milestones and policy parameters,
//! checked figure by figure against the document.

use chrono::NaiveDate;
use duban_catalog::{Aggregation, Comparator, QuantityUnit, ValueBasis, jiading_2023};
use rust_decimal::Decimal;

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn targets_are_complete_and_typed() {
    let (_, plan) = jiading_2023();
    assert_eq!(plan.targets.len(), 24);
    for t in &plan.targets {
        assert!(t.value > Decimal::ZERO, "{}", t.code);
        assert!(plan.measure(&t.measure).unwrap().text.contains(&t.source), "{}", t.code);
        assert_eq!(plan.deadline_of(t), date(2023, 12, 31), "{}", t.code);
        assert_eq!(t.baseline_or_zero(), Decimal::ZERO);
        if t.aggregation == Aggregation::Authoritative {
            assert_eq!(t.reporters.len(), 1, "{}", t.code);
        }
    }
}

#[test]
fn target_spot_checks() {
    let (_, plan) = jiading_2023();
    let check = |code: &str, value: Decimal, unit: QuantityUnit, cmp: Comparator, measure: &str| {
        let t = plan.target(code).unwrap_or_else(|| panic!("no target {code}"));
        assert_eq!(
            (t.value, t.unit, t.comparator, t.measure.as_str()),
            (value, unit, cmp, measure),
            "{code}"
        );
        t
    };
    use Comparator::*;
    use QuantityUnit::*;
    let t = check("new-enterprises", d("40000.0"), Enterprises, AtLeast, "4.1");
    assert_eq!((t.aggregation, t.basis), (Aggregation::Sum, ValueBasis::Cumulative));
    assert_eq!(t.reporters, ["各街镇"]);
    let t = check("fixed-asset-investment", d("555.0"), Cny100m, AtLeast, "4.2");
    assert_eq!(
        (t.aggregation, t.reporters.as_slice()),
        (
            Aggregation::Authoritative,
            ["区建设管理委（重大办）".to_owned()].as_slice()
        )
    );
    check("contract-foreign-investment", d("15.0"), Usd100m, MoreThan, "6.1");
    check("actual-foreign-investment", d("8.0"), Usd100m, AtLeast, "6.1");
    let t = check("export-refund-days", d("5.0"), WorkingDays, AtMost, "5.2");
    assert_eq!(t.basis, ValueBasis::Snapshot);
    check(
        "old-housing-renovation",
        d("36000.0"),
        SquareMeters,
        Approximately,
        "4.3",
    );
    check(
        "strategic-emerging-industry-share",
        d("35.0"),
        Percent,
        Approximately,
        "7.1",
    );
    check("affordable-rental-housing", d("9000.0"), HousingUnits, MoreThan, "4.3");
    check("new-100m-projects", d("330.0"), Projects, AtLeast, "4.1");
    check("district-major-projects", d("50.0"), Projects, AtLeast, "4.2");
    check("major-project-new-starts", d("11.0"), Projects, AtLeast, "4.2");
    check("industrial-projects-land-granted", d("28.0"), Projects, AtLeast, "4.2");
    check("industrial-projects-started", d("32.0"), Projects, AtLeast, "4.2");
    check("industrial-projects-completed", d("30.0"), Projects, AtLeast, "4.2");
    check("industrial-projects-in-production", d("20.0"), Projects, AtLeast, "4.2");
    check("jiamin-line-stations", d("7.0"), Sites, AtLeast, "4.2");
    check("worker-relay-stations", d("4.0"), Sites, AtLeast, "2.2");
    check("tourism-routes", d("4.0"), Routes, AtLeast, "3.1");
    check("new-specialized-smes", d("150.0"), Enterprises, AtLeast, "7.2");
    check("new-tech-little-giants", d("20.0"), Enterprises, AtLeast, "7.2");
    check("new-high-tech-enterprises", d("900.0"), Enterprises, AtLeast, "7.2");
    check("talent-port-enterprises", d("30.0"), Enterprises, AtLeast, "7.2");
    check("headquarters-enterprises", d("8.0"), Enterprises, AtLeast, "7.3");
    check(
        "lingang-jiading-new-enterprises",
        d("200.0"),
        Enterprises,
        AtLeast,
        "10.1",
    );
}

#[test]
fn milestones_and_policy_parameters() {
    let (_, plan) = jiading_2023();
    let m11 = plan.measure("1.1").unwrap();
    let ends: Vec<NaiveDate> = m11.milestones.iter().map(|m| m.date).collect();
    assert!(ends.contains(&date(2024, 12, 31)) && ends.contains(&date(2023, 12, 31)));
    assert!(m11.milestones.iter().all(|m| m.from == Some(date(2023, 1, 1))));
    assert_eq!(plan.measure("3.2").unwrap().milestones[0].date, date(2023, 6, 30));
    assert_eq!(plan.measure("8.3").unwrap().milestones[0].date, date(2023, 12, 31));
    let codes: Vec<&str> = plan
        .measures
        .iter()
        .flat_map(|m| m.milestones.iter().map(|ms| ms.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            "small-taxpayer-vat-relief",
            "nev-purchase-tax-exemption",
            "six-taxes-two-fees-relief",
            "excess-water-surcharge-relief",
            "huijia-car-promotion-extension",
            "sme-works-procurement-reservation-extension",
        ]
    );
    assert_eq!(
        m11.milestone("nev-purchase-tax-exemption").map(|m| m.date),
        Some(date(2023, 12, 31))
    );

    let param = |measure: &str, code: &str| {
        let p = plan
            .measure(measure)
            .unwrap()
            .policy_parameters
            .iter()
            .find(|p| p.code == code);
        let p = p.unwrap_or_else(|| panic!("no parameter {code}"));
        (p.value, p.unit, p.comparator)
    };
    assert_eq!(
        param("1.1", "six-taxes-two-fees-reduction"),
        (d("50.0"), QuantityUnit::Percent, None)
    );
    assert_eq!(
        param("1.2", "loan-interest-subsidy-cap"),
        (d("50.0"), QuantityUnit::Cny10k, Some(Comparator::AtMost))
    );
    assert_eq!(
        param("2.1", "hiring-subsidy-per-person"),
        (d("2000.0"), QuantityUnit::Cny, None)
    );
    assert_eq!(param("3.1", "retail-enterprise-reward-cap").0, d("100"));
    assert_eq!(param("3.1", "catering-enterprise-reward-cap").0, d("50"));
    assert_eq!(
        param("7.2", "municipal-specialized-sme-award"),
        (d("10.0"), QuantityUnit::Cny10k, Some(Comparator::AtLeast))
    );
    assert_eq!(param("7.2", "national-little-giant-award").0, d("30"));
    assert_eq!(
        param("7.2", "high-tech-rd-reward-rate"),
        (d("5.0"), QuantityUnit::Percent, None)
    );
    assert_eq!(
        param("7.2", "high-tech-rd-reward-cap"),
        (d("50.0"), QuantityUnit::Cny10k, Some(Comparator::AtMost))
    );
}

#[test]
fn exactly_the_figures_the_text_qualifies_with_li_zheng_or_ji_hua_are_aspirational() {
    let (_, plan) = jiading_2023();
    let mut aspirational: Vec<&str> = plan
        .targets
        .iter()
        .filter(|t| t.aspirational)
        .map(|t| t.code.as_str())
        .collect();
    aspirational.sort_unstable();
    assert_eq!(
        aspirational,
        [
            "affordable-rental-housing",       // 4.3 计划筹建
            "headquarters-enterprises",        // 7.3 力争认定
            "lingang-jiading-new-enterprises", // 10.1 力争新增
            "new-high-tech-enterprises",       // 7.2 力争新增 …
            "new-specialized-smes",            // 7.2 力争新增
            "new-tech-little-giants",          // 7.2 … 、
            "old-housing-renovation",          // 4.3 力争完成
        ]
    );
    // 实现计划新开工: 计划 names the projects, the verb 实现 commits to them.
    assert!(!plan.target("major-project-new-starts").unwrap().aspirational);
    // 实现入驻企业30家以上, in the same measure as a 力争 sentence.
    assert!(!plan.target("talent-port-enterprises").unwrap().aspirational);
}

#[test]
fn yu_and_chao_both_read_as_more_than() {
    let (_, plan) = jiading_2023();
    for code in ["affordable-rental-housing", "contract-foreign-investment"] {
        assert_eq!(plan.target(code).unwrap().comparator, Comparator::MoreThan, "{code}");
    }
    // 以上 counts the figure itself.
    assert_eq!(
        plan.target("talent-port-enterprises").unwrap().comparator,
        Comparator::AtLeast
    );
}

#[test]
fn figures_owned_by_mandate_are_reported_by_their_owner_within_the_measure() {
    let (directory, plan) = jiading_2023();
    for (code, owner) in [
        ("worker-relay-stations", "区总工会"),
        ("tourism-routes", "区文化旅游局"),
        ("export-refund-days", "区税务局"),
        ("new-specialized-smes", "区经委"),
        ("talent-port-enterprises", "区人力资源社会保障局"),
        ("new-tech-little-giants", "区科委"),
        ("new-high-tech-enterprises", "区科委"),
    ] {
        let t = plan.target(code).unwrap();
        assert_eq!(t.reporters, [owner], "{code}");
        let measure = plan.measure(&t.measure).unwrap();
        assert!(measure.responsible_units.iter().any(|u| u == owner), "{code}");
        assert!(directory.resolve(owner).is_some(), "{owner}");
    }
}

#[test]
fn the_sme_procurement_reservation_is_a_policy_floor_with_a_milestone_not_a_target() {
    let (_, plan) = jiading_2023();
    let m83 = plan.measure("8.3").unwrap();
    assert!(plan.targets.iter().all(|t| t.measure != "8.3"));
    let share = m83
        .policy_parameters
        .iter()
        .find(|p| p.code == "sme-works-procurement-reservation-share")
        .expect("the 40% reservation is a policy parameter of 8.3");
    assert_eq!(
        (share.value, share.unit, share.comparator),
        (d("40"), QuantityUnit::Percent, Some(Comparator::AtLeast))
    );
    assert!(m83.text.contains("预留份额阶段性提高至40%以上政策延续到2023年底"));
    let extension = m83.milestone("sme-works-procurement-reservation-extension").unwrap();
    assert_eq!(extension.date, date(2023, 12, 31));
    assert!(extension.description.contains("40%以上"));
}
