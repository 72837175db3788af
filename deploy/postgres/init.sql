-- Runs once, when the postgres container starts with an empty data volume
-- (`docker compose down -v` to run it again). Each Duban server owns its own database;
-- no server reads another's tables, they talk over gRPC instead.
-- Servers create their tables themselves (migrations run at start-up).

CREATE DATABASE duban_departments;  -- departments: units, groups, designations, credentials
CREATE DATABASE duban_measures;     -- measures: plans, actions, measures, progress reports
CREATE DATABASE duban_targets;      -- targets: quantified targets, trajectories
CREATE DATABASE duban_reporting;    -- reporting: review, progress, compliance, audit trail
-- The gateway stores nothing and has no database.
