//! The reporting server's own series, beside the RPC and database pool series every
//! server has: the group-commit writer's (see [`crate::writer::WriterMetrics`]) and the
//! reports submitted, by department. The plan cache's ages are registered by
//! `duban_plan::view::PlanView`.

use duban_kit::metrics::Metrics;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};

use crate::writer::WriterMetrics;

/// Which department a report is from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Department {
    /// The department's code (`tax-bureau`): a bounded set, the directory's units.
    department: String,
}

/// The reporting server's series. Clones share them; [`Default`] ones count without
/// being published (for tests).
#[derive(Debug, Clone, Default)]
pub struct ReportingMetrics {
    /// The writer's batches.
    pub writer: WriterMetrics,
    submitted: Family<Department, Counter>,
}

impl ReportingMetrics {
    /// The series, registered in `metrics`.
    pub fn register(metrics: &Metrics) -> ReportingMetrics {
        let reporting = ReportingMetrics {
            writer: WriterMetrics::register(metrics),
            submitted: Family::default(),
        };
        metrics.register(
            "reports_submitted",
            "Report revisions stored (submitted, resubmitted or backfilled), by department; a replayed request id stores nothing and is not counted",
            reporting.submitted.clone(),
        );
        reporting
    }

    /// Counts a revision of `department`'s report, stored.
    pub fn submitted(&self, department: &str) {
        self.submitted
            .get_or_create(&Department {
                department: department.to_owned(),
            })
            .inc();
    }

    /// How many revisions of `department`'s reports were counted (for tests).
    #[cfg(test)]
    pub fn submitted_count(&self, department: &str) -> u64 {
        self.submitted
            .get_or_create(&Department {
                department: department.to_owned(),
            })
            .get()
    }
}
