//! What `duban demo` did, and the lines it prints about it.

/// What `duban demo` did, for its summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Designations made now.
    pub designations: Vec<String>,
    /// Reports expected: responsible unit × measure × month.
    pub expected: usize,
    /// Backfilled now.
    pub backfilled: usize,
    /// Revisions submitted live with units' own tokens now.
    pub live: usize,
    /// Of those, how many came each way: `web form`, `workbook`, `gRPC`.
    pub live_by_way: Vec<(&'static str, usize)>,
    /// Units that submitted live, each with its way and count.
    pub live_units: Vec<String>,
    /// Keys skipped because they were already stored.
    pub already_stored: usize,
    /// Reports stored in total (latest revisions), on time, late.
    pub stored: usize,
    /// Of those, on time.
    pub on_time: usize,
    /// Of those, late.
    pub late: usize,
    /// Expected but not stored.
    pub missing: usize,
    /// Units with at least one report.
    pub units: usize,
    /// Months covered.
    pub months: Vec<String>,
    /// Reviews done now: accepted, returned.
    pub accepted_now: usize,
    /// Returned now.
    pub returned_now: usize,
    /// Reports accepted / returned in total.
    pub accepted: usize,
    /// Returned in total.
    pub returned: usize,
    /// Blockers open now.
    pub blockers_open: usize,
    /// Blockers resolved by a later report.
    pub blockers_resolved: usize,
    /// Open blockers asking another unit for support.
    pub support_requests: usize,
    /// Target codes whose demo performance lags their trajectory.
    pub lagging_targets: Vec<String>,
    /// The month reviewed.
    pub review_month: String,
    /// Notices and supervision orders.
    pub follow_up: super::follow_up::FollowUpDone,
}

impl Summary {
    /// `web form 3, workbook 2, gRPC 4`: every way, the ones not used now at 0.
    pub fn by_way(&self) -> String {
        ["web form", "workbook", "gRPC"]
            .iter()
            .map(|way| {
                let count = self
                    .live_by_way
                    .iter()
                    .filter(|(w, _)| w == way)
                    .map(|(_, n)| n)
                    .sum::<usize>();
                format!("{way} {count}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The lines `duban demo` prints.
    pub fn print(&self, plan: &str, seed: u64) {
        println!("Demo data for plans/{plan} (seed {seed}):");
        if self.designations.is_empty() {
            println!("  designations: none needed (every designated group already has members)");
        } else {
            println!(
                "  designations made: {} ({})",
                self.designations.len(),
                self.designations.join("; ")
            );
        }
        println!(
            "  months: {} ({} to {}); units reporting: {}",
            self.months.len(),
            self.months.first().map_or("-", String::as_str),
            self.months.last().map_or("-", String::as_str),
            self.units
        );
        println!(
            "  reports stored now: {} backfilled, {} live revisions; {} already stored before",
            self.backfilled, self.live, self.already_stored
        );
        println!(
            "  reports expected: {}; stored: {} (on time {}, late {}); missing: {}",
            self.expected, self.stored, self.on_time, self.late, self.missing
        );
        println!(
            "  reviews: {} accepted and {} returned now (review month {}); in total {} accepted, {} returned",
            self.accepted_now, self.returned_now, self.review_month, self.accepted, self.returned
        );
        println!(
            "  live submissions with the units' own tokens: {}",
            if self.live_units.is_empty() {
                "none needed".to_owned()
            } else {
                self.live_units.join(", ")
            }
        );
        println!("  live revisions by way: {}", self.by_way());
        println!(
            "  blockers: {} open ({} asking another unit for support), {} resolved",
            self.blockers_open, self.support_requests, self.blockers_resolved
        );
        println!(
            "  targets set to lag their trajectory: {}",
            self.lagging_targets.join(", ")
        );
        let follow_up = &self.follow_up;
        println!(
            "  follow-up notices: rules evaluated on {} days, {} notices due, {} stored now",
            follow_up.days, follow_up.notices_due, follow_up.notices_stored
        );
        println!(
            "  supervision orders: {}",
            if follow_up.orders.is_empty() {
                "none (no target lags)".to_owned()
            } else {
                follow_up.orders.join("; ")
            }
        );
    }
}
