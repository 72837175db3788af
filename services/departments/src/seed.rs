//! Loading a directory file (units and groups) into the database, idempotently: a
//! second load of the same file changes nothing, a changed file entry is applied, and
//! an entry the file did not change never overwrites an administrator's edit.

use duban_catalog::directory::{Directory, normalize_unit_name};
use sea_orm::DatabaseTransaction;
use sha2::{Digest, Sha256};

use crate::{
    convert,
    entity::{unit, unit_group},
    error::DepartmentsError,
    service::Departments,
    store::NameOwner,
};

/// What a load did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Units and groups added.
    pub inserted: usize,
    /// Units and groups whose file entry changed since the last load.
    pub updated: usize,
    /// Units and groups left as they were.
    pub unchanged: usize,
}

impl Departments {
    /// Loads every unit and group of `directory` in one transaction.
    pub async fn seed(&self, directory: &Directory) -> Result<SeedReport, DepartmentsError> {
        let mut report = SeedReport::default();
        let txn = self.begin().await?;
        let now = chrono::Utc::now().timestamp_micros();
        for entry in directory.units() {
            let fingerprint = fingerprint(entry);
            let current = self.store.unit(&entry.code).await?;
            if current
                .as_ref()
                .is_some_and(|row| row.seed_sha256.as_deref() == Some(fingerprint.as_str()))
            {
                report.unchanged += 1;
                continue;
            }
            let row = unit::Model {
                code: entry.code.clone(),
                name: entry.name.clone(),
                name_en: entry.name_en.clone(),
                kind: convert::unit_kind_str(entry.kind).to_owned(),
                aliases: convert::to_json(&entry.aliases),
                version: current.as_ref().map_or(1, |row| row.version + 1),
                seed_sha256: Some(fingerprint),
                create_time_us: current.as_ref().map_or(now, |row| row.create_time_us),
                update_time_us: now,
            };
            let names = names_of(&entry.name, &entry.aliases);
            self.store.save_unit(&txn, row, current.is_some()).await?;
            self.store
                .set_names(&txn, &NameOwner::Unit(entry.code.clone()), &names)
                .await?;
            count(&mut report, current.is_some());
        }
        for entry in directory.groups() {
            let fingerprint = fingerprint(entry);
            let current = self.store.group(&entry.code).await?;
            if current
                .as_ref()
                .is_some_and(|row| row.seed_sha256.as_deref() == Some(fingerprint.as_str()))
            {
                report.unchanged += 1;
                continue;
            }
            let row = unit_group::Model {
                code: entry.code.clone(),
                name: entry.name.clone(),
                name_en: entry.name_en.clone(),
                kind: convert::group_kind_str(entry.kind).to_owned(),
                members: convert::to_json(&entry.members),
                member_kinds: convert::to_json(&entry.member_kinds),
                aliases: convert::to_json(&entry.aliases),
                version: current.as_ref().map_or(1, |row| row.version + 1),
                seed_sha256: Some(fingerprint),
            };
            let names = names_of(&entry.name, &entry.aliases);
            self.store.save_group(&txn, row, current.is_some()).await?;
            self.store
                .set_names(&txn, &NameOwner::Group(entry.code.clone()), &names)
                .await?;
            count(&mut report, current.is_some());
        }
        commit(txn).await?;
        tracing::info!(directory = %directory.header().code, ?report, "loaded the directory");
        Ok(report)
    }
}

async fn commit(txn: DatabaseTransaction) -> Result<(), DepartmentsError> {
    Ok(txn.commit().await?)
}

fn count(report: &mut SeedReport, existed: bool) {
    if existed {
        report.updated += 1;
    } else {
        report.inserted += 1;
    }
}

/// The name and the aliases, normalised, without repeats.
fn names_of(name: &str, aliases: &[String]) -> Vec<String> {
    let mut names = vec![normalize_unit_name(name)];
    for alias in aliases {
        let alias = normalize_unit_name(alias);
        if !names.contains(&alias) {
            names.push(alias);
        }
    }
    names
}

fn fingerprint(entry: &impl serde::Serialize) -> String {
    let json = serde_json::to_vec(entry).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}
