//! How a plan's quantities are written after a number, in Chinese and in English, the one wording the
//! dashboard, the documents and the demo narratives share.

use duban_proto::common::v1::QuantityUnit;

/// The Chinese unit written after a number: `210亿元`, `5个工作日`; empty when unspecified.
pub fn unit_label_zh(unit: QuantityUnit) -> &'static str {
    use QuantityUnit as U;
    match unit {
        U::Count => "个",
        U::Enterprises => "户",
        U::Projects => "个项目",
        U::Cny => "元",
        U::Cny10k => "万元",
        U::Cny100m => "亿元",
        U::Usd100m => "亿美元",
        U::SquareMeters => "平方米",
        U::HousingUnits => "套",
        U::WorkingDays => "个工作日",
        U::Percent => "%",
        U::Sites => "个站点",
        U::Routes => "条线路",
        U::People => "人",
        U::Unspecified => "",
    }
}

/// The English unit written after a number: `210 CNY 100m`, `5 working days`; empty when unspecified.
pub fn unit_label_en(unit: QuantityUnit) -> &'static str {
    use QuantityUnit as U;
    match unit {
        U::Count => "count",
        U::Enterprises => "enterprises",
        U::Projects => "projects",
        U::Cny => "CNY",
        U::Cny10k => "CNY 10k",
        U::Cny100m => "CNY 100m",
        U::Usd100m => "USD 100m",
        U::SquareMeters => "m²",
        U::HousingUnits => "housing units",
        U::WorkingDays => "working days",
        U::Percent => "%",
        U::Sites => "sites",
        U::Routes => "routes",
        U::People => "people",
        U::Unspecified => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_but_unspecified_has_a_label() {
        for value in 0..=i32::from(u8::MAX) {
            let Ok(unit) = QuantityUnit::try_from(value) else {
                continue;
            };
            assert_eq!(
                unit_label_en(unit).is_empty(),
                unit == QuantityUnit::Unspecified,
                "{unit:?}"
            );
            assert_eq!(
                unit_label_zh(unit).is_empty(),
                unit == QuantityUnit::Unspecified,
                "{unit:?}"
            );
        }
    }
}
