//! The departments service's tables. Times are microseconds since the Unix epoch and
//! lists are JSON text, so one schema fits SQLite and PostgreSQL alike.

/// Responsible units.
pub mod unit {
    use sea_orm::entity::prelude::*;

    /// One responsible unit.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "unit")]
    pub struct Model {
        /// Stable slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// Canonical Chinese name.
        pub name: String,
        /// English name.
        pub name_en: String,
        /// `UnitKind` in snake_case.
        pub kind: String,
        /// JSON array of aliases as written.
        pub aliases: String,
        /// Bumped on every change; the etag.
        pub version: i64,
        /// Fingerprint of the seed-file entry last applied, so a restart re-applies the
        /// file only when the file changed and never undoes an administrator's edit.
        pub seed_sha256: Option<String>,
        /// Creation time.
        pub create_time_us: i64,
        /// Last change.
        pub update_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every name and alias, normalised, owned by one unit or group. Its primary key is
/// what keeps two units from claiming the same spelling.
pub mod unit_name {
    use sea_orm::entity::prelude::*;

    /// One spelling.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "unit_name")]
    pub struct Model {
        /// The spelling after `normalize_unit_name`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub normalized: String,
        /// Code of the owning unit or group.
        pub owner_code: String,
        /// `unit` or `group`.
        pub owner_type: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Groups such as 各街镇.
pub mod unit_group {
    use sea_orm::entity::prelude::*;

    /// One group.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "unit_group")]
    pub struct Model {
        /// Stable slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// The phrase as the plan writes it.
        pub name: String,
        /// English name.
        pub name_en: String,
        /// `fixed` or `designated`.
        pub kind: String,
        /// JSON array of member unit codes (fixed groups).
        pub members: String,
        /// JSON array of unit kinds that may be designated.
        pub member_kinds: String,
        /// JSON array of aliases.
        pub aliases: String,
        /// Bumped on every change.
        pub version: i64,
        /// Fingerprint of the seed-file entry last applied.
        pub seed_sha256: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Members designated for a "relevant" group within one scope.
pub mod designation {
    use sea_orm::entity::prelude::*;

    /// One designation.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "designation")]
    pub struct Model {
        /// Code of the designated group.
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_code: String,
        /// What it applies to, usually a measure's resource name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        /// JSON array of member unit codes.
        pub members: String,
        /// Bumped on every change.
        pub version: i64,
        /// Last change.
        pub update_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Issued credentials. Only the token's SHA-256 is kept.
pub mod credential {
    use sea_orm::entity::prelude::*;

    /// One credential.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "credential")]
    pub struct Model {
        /// Sequential id, the `{id}` of `credentials/{id}`.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Hex SHA-256 of the token; unique.
        #[sea_orm(unique)]
        pub token_sha256: String,
        /// First characters of the token, for recognising it.
        pub token_prefix: String,
        /// `department`, `leadership` or `admin`.
        pub role: String,
        /// Unit code for department credentials.
        pub department: Option<String>,
        /// Who holds it.
        pub description: String,
        /// Issue time.
        pub create_time_us: i64,
        /// Revocation time, if revoked.
        pub revoke_time_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Notification endpoints: where a unit wants its notices delivered.
pub mod notification_endpoint {
    use sea_orm::entity::prelude::*;

    /// One endpoint. `Debug` leaves the secret out, so that no log line can carry it.
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_endpoint")]
    pub struct Model {
        /// Sequential id, the `{id}` of `departments/{code}/endpoints/{id}`.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Code of the unit it belongs to.
        pub department: String,
        /// 0 to 9, unique per unit: what bounds a unit to 10 endpoints.
        pub slot: i32,
        /// `webhook` or `email`.
        pub kind: String,
        /// The webhook's URL or the e-mail address.
        pub target: String,
        /// `zh` or `en`.
        pub language: String,
        /// JSON array of the levels wanted (`reminder`, `blue` ...); empty means all.
        pub levels: String,
        /// Whether notices are delivered to it.
        pub enabled: bool,
        /// Free text.
        pub description: String,
        /// A webhook's signing secret, kept as is because the delivery worker signs
        /// with it (SECURITY.md); `None` for e-mail.
        pub secret: Option<String>,
        /// Bumped on every change; the etag.
        pub version: i64,
        /// Creation time.
        pub create_time_us: i64,
        /// Last change.
        pub update_time_us: i64,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("notification_endpoint::Model")
                .field("id", &self.id)
                .field("department", &self.department)
                .field("slot", &self.slot)
                .field("kind", &self.kind)
                .field("language", &self.language)
                .field("levels", &self.levels)
                .field("enabled", &self.enabled)
                .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
                .field("version", &self.version)
                .finish_non_exhaustive()
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
