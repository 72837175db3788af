//! The embedded Jiading directory: every unit the plan names resolves, the
//! twelve town-level units make up 各街镇, and spelling variants merge.

use duban_catalog::{GroupKind, Resolved, UnitKind, jiading_2023};

#[test]
fn every_responsible_unit_resolves_and_leads_are_kept() {
    let (dir, plan) = jiading_2023();
    for m in &plan.measures {
        for u in &m.responsible_units {
            assert!(dir.resolve(u).is_some(), "{} `{u}`", m.number);
        }
    }
    assert_eq!(plan.measure("1.2").unwrap().lead_unit(), Some("区经委(金融办)"));
    assert_eq!(plan.measure("4.2").unwrap().lead_unit(), Some("区建设管理委（重大办）"));
    assert_eq!(plan.measure("8.4").unwrap().responsible_units, ["各相关部门", "各街镇"]);
    assert_eq!(plan.measure("8.1").unwrap().responsible_units.len(), 8);
}

#[test]
fn directory_units_and_groups() {
    let (dir, _) = jiading_2023();
    let towns: Vec<&str> = dir
        .units()
        .iter()
        .filter(|u| u.kind == UnitKind::TownOrStreet)
        .map(|u| u.name.as_str())
        .collect();
    let expected = [
        "新成路街道",
        "真新街道",
        "嘉定镇街道",
        "南翔镇",
        "安亭镇",
        "马陆镇",
        "徐行镇",
        "华亭镇",
        "外冈镇",
        "江桥镇",
        "嘉定工业区",
        "菊园新区管委会",
    ];
    assert_eq!(towns, expected);
    assert_eq!(dir.units().len(), 34 + 12);
    let Some(Resolved::Group(all)) = dir.resolve("各街镇") else {
        panic!("各街镇 is a group")
    };
    let members: Vec<&str> = dir
        .fixed_members(&all)
        .unwrap()
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(members, expected);
    assert_eq!(dir.unit("nanxiang-town").unwrap().name_en, "Nanxiang Town");
    assert_eq!(dir.unit("tax-bureau").unwrap().name, "区税务局");

    let group = |name: &str| dir.group(dir.resolve(name).unwrap().code()).unwrap();
    assert_eq!(group("相关街镇").kind, GroupKind::Designated);
    assert_eq!(group("各有关部门").code, group("各相关部门").code);
    assert!(dir.may_designate("relevant-towns", "anting-town"));
    assert!(!dir.may_designate("relevant-towns", "tax-bureau"));
    assert!(dir.may_designate("relevant-district-companies", "state-assets-group"));
    assert!(
        !dir.may_designate("all-towns", "anting-town"),
        "fixed groups take no designations"
    );
    assert_eq!(dir.fixed_members("relevant-towns"), None);
}

#[test]
fn aliases_and_punctuation_variants_resolve_to_one_code() {
    let (dir, _) = jiading_2023();
    let code = |s: &str| dir.resolve(s).map(|r| r.code().to_owned());
    assert_eq!(code("区经委(金融办)"), code("区经委"));
    assert_eq!(code("区经委（金融办）"), Some("economic-commission".into()));
    assert_eq!(code("区府办（外事办）"), code("区政府办（审改办）"));
    assert_eq!(code("区府办(外事办)"), Some("government-office".into()));
    assert_eq!(code("区建设管理委（重大办）"), code("区建设管理委"));
    assert_eq!(code(" 区 税务局\u{3000}"), Some("tax-bureau".into()));
    assert_eq!(code("不存在的局"), None);
}
