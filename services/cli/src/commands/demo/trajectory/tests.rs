//! Tests of `trajectory`.

use super::*;

#[test]
fn the_same_seed_plans_the_same_values() {
    let target = TargetPlan {
        target: targets::Target {
            code: "new-enterprises".into(),
            measure_number: "4.1".into(),
            unit: common::QuantityUnit::Enterprises as i32,
            value: Some("40000".parse().unwrap()),
            decimal_places: Some(0),
            comparator: common::Comparator::AtLeast as i32,
            value_basis: common::ValueBasis::Cumulative as i32,
            aggregation: common::Aggregation::Sum as i32,
            reporting_departments: vec!["a".into(), "b".into()],
            ..Default::default()
        },
        expected: (3..=12)
            .map(|m| (format!("2023-{m:02}"), 4000.0 * f64::from(m - 2)))
            .collect(),
        flat: false,
        lagging: false,
        performance: 1.0,
        shares: [("a".to_owned(), 0.5), ("b".to_owned(), 0.5)].into(),
    };
    let run = |seed| {
        let mut previous = HashMap::new();
        (3..=12)
            .map(|m| {
                let mut rng = SplitMix64::for_key(seed, &["report", &m.to_string()]);
                values_for(seed, &[&target], "a", &format!("2023-{m:02}"), &mut previous, &mut rng)[0]
                    .metric
                    .value
                    .clone()
                    .unwrap()
                    .value
            })
            .collect::<Vec<String>>()
    };
    let first = run(7);
    assert_eq!(first, run(7));
    assert_ne!(first, run(8));
    let numbers: Vec<f64> = first.iter().map(|v| v.parse().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] <= w[1]),
        "cumulative values rise: {first:?}"
    );
    assert!(
        first.iter().all(|v| !v.contains('.')),
        "enterprises are whole: {first:?}"
    );
    assert!((numbers[9] - 20000.0).abs() < 20000.0 * 0.25, "{first:?}");
}

#[test]
fn reported_values_have_the_targets_decimal_places() {
    let target = |unit: common::QuantityUnit, places| targets::Target {
        unit: unit as i32,
        decimal_places: Some(places),
        ..Default::default()
    };
    let usd = target(common::QuantityUnit::Usd100m, 2);
    assert_eq!(reported(4.4749, &usd).value, "4.47");
    assert_eq!(reported(0.1 + 0.2, &usd).value, "0.3");
    assert_eq!(reported(-1.0, &usd).value, "0");
    assert_eq!(reported(555.4, &target(common::QuantityUnit::Cny100m, 0)).value, "555");
    assert_eq!(reported(100.04, &target(common::QuantityUnit::Percent, 1)).value, "100");
}
