//! The database connection pool, read at each scrape: connections idle and in use,
//! and the most the pool opens.

use std::sync::Mutex;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, gauge::ConstGauge},
};
use sea_orm::{DatabaseConnection, DbBackend};

/// A pool's numbers at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PoolUse {
    idle: u64,
    in_use: u64,
    max: u64,
}

fn pool_use(db: &DatabaseConnection) -> Option<PoolUse> {
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle(), pool.options().get_max_connections())
        }
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle(), pool.options().get_max_connections())
        }
        // Not a backend Duban connects to.
        _ => return None,
    };
    let idle = idle as u64;
    Some(PoolUse {
        idle,
        in_use: u64::from(size).saturating_sub(idle),
        max: u64::from(max),
    })
}

/// Writes `duban_db_pool_connections{state}` and `duban_db_pool_max_connections` for the
/// database it watches; nothing before there is one (and never on the gateway).
#[derive(Debug, Default)]
pub(super) struct PoolCollector {
    db: Mutex<Option<DatabaseConnection>>,
}

impl PoolCollector {
    pub(super) fn watch(&self, db: &DatabaseConnection) {
        *self.db.lock().unwrap_or_else(|e| e.into_inner()) = Some(db.clone());
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let watched = self.db.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(pool) = watched.as_ref().and_then(pool_use) else {
            return Ok(());
        };
        let mut connections = encoder.encode_descriptor(
            "db_pool_connections",
            "Connections the database pool holds open, idle or in use by a query or transaction",
            None,
            MetricType::Gauge,
        )?;
        for (state, value) in [("idle", pool.idle), ("in_use", pool.in_use)] {
            ConstGauge::new(value as i64).encode(connections.encode_family(&[("state", state)])?)?;
        }
        let max = encoder.encode_descriptor(
            "db_pool_max_connections",
            "The most connections the database pool opens; callers wait beyond it",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(pool.max as i64).encode(max)
    }
}
