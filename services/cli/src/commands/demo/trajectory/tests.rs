//! Tests of `trajectory`.

use super::*;

#[test]
fn the_same_seed_plans_the_same_values() {
    let target = TargetPlan {
        target: targets::Target {
            code: "new-enterprises".into(),
            measure_number: "4.1".into(),
            unit: common::QuantityUnit::Enterprises as i32,
            value: 40000.0,
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
            })
            .collect::<Vec<f64>>()
    };
    let first = run(7);
    assert_eq!(first, run(7));
    assert_ne!(first, run(8));
    assert!(
        first.windows(2).all(|w| w[0] <= w[1]),
        "cumulative values rise: {first:?}"
    );
    assert!(first.iter().all(|v| v.fract() == 0.0), "enterprises are whole");
    assert!((first[9] - 20000.0).abs() < 20000.0 * 0.25, "{first:?}");
}
