//! The `duban` command line.

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use duban_cli::commands::{
    self, Connection,
    endpoints::{LanguageArg, LevelArg},
    plan::Format as PlanFormat,
    report::{self as report},
    token::RoleArg,
};
use duban_kit::Settings;

/// Every server of the suite allocates through mimalloc rather than glibc's malloc: less
/// CPU a call for the same memory (BENCHMARKS.md, sixth run; the choice of version is in
/// the workspace's Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Duban (督办): follow up on assigned work. Runs the reporting suite and talks to it.
#[derive(Debug, Parser)]
#[command(name = "duban", version, about)]
struct Cli {
    /// A TOML configuration file; `DUBAN__SECTION__KEY` environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every server in this process (SQLite under ./data by default) until Ctrl-C.
    Up,
    /// Run one server, for containers: departments, targets, measures, reporting or gateway.
    Serve {
        /// Which server.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(duban_cli::SERVICES))]
        service: String,
    },
    /// Write a development CA and certificates for every server (TLS for `duban up`,
    /// docker compose and test clusters), and print the settings that use them.
    Certs {
        /// The directory to write them into.
        #[arg(long, default_value = "certs")]
        out: PathBuf,
        /// More DNS names or IP addresses for every server certificate (the gateway's
        /// public name, say), comma-separated or repeated.
        #[arg(long, value_delimiter = ',')]
        names: Vec<String>,
        /// Replace an existing set (certificates of the old CA stop being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Exit 0 if a server answers SERVING to grpc.health.v1, non-zero otherwise.
    Health {
        /// `host:port` of the server.
        #[arg(long)]
        addr: String,
        /// A service name such as `duban.departments.v1.DepartmentsService`; empty
        /// asks about the whole server.
        #[arg(long, default_value = "")]
        service: String,
        /// Seconds to wait for an answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// The directory of responsible units and groups.
    Departments {
        #[command(subcommand)]
        command: DepartmentsCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// The leadership overview in the terminal: actions, targets behind, late units.
    Dashboard {
        /// The date to look from, YYYY-MM-DD; default today.
        #[arg(long, default_value = "")]
        as_of: String,
        /// The plan id.
        #[arg(long, default_value = "jiading-2023")]
        plan: String,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// The monthly bulletin (月度通报) of a month, from the gateway, saved as Word (.docx) or as a
    /// page to print (.html).
    Bulletin {
        /// The month, YYYY-MM.
        #[arg(long)]
        period: String,
        /// `en` for English; Chinese by default.
        #[arg(long, default_value = "zh")]
        lang: String,
        /// The plan id.
        #[arg(long, default_value = "jiading-2023")]
        plan: String,
        /// The file to write: `.docx` for Word, `.html` for a page to print (to PDF from a browser).
        #[arg(long)]
        output: std::path::PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// The plan as the running services hold it.
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Credentials for department systems, leadership and administrators.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Progress reports: submit, list and review them (`--addr` is the reporting server).
    Report {
        #[command(subcommand)]
        command: ReportCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Supervision orders (督办单): open, list, answer, close, return and withdraw them
    /// (`--addr` is the reporting server).
    Orders {
        #[command(subcommand)]
        command: OrdersCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Follow-up notices (reminders and escalations): list, acknowledge, evaluate a day
    /// (`--addr` is the reporting server).
    Notices {
        #[command(subcommand)]
        command: NoticesCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// The reporting server's audit trail (ADMIN).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Fill the running suite with realistic synthetic reports for every responsible unit
    /// and month of the plan, deterministically from a seed (ADMIN; safe to run again).
    Demo {
        /// The seed: the same seed gives the same data, and running again adds nothing.
        #[arg(long, default_value_t = 2023)]
        seed: u64,
        /// The plan id.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Submit a report for one measure and month (a department for itself; ADMIN with
    /// --department). Target units are looked up, so give only numbers.
    Submit {
        // Boxed: its repeatable arguments make it by far the largest command.
        #[command(flatten)]
        submission: Box<report::Submission>,
        /// Print the stored revision as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the latest revision of every matching report (all pages).
    List {
        #[command(flatten)]
        filter: report::ListFilter,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List every revision of one report, newest first, with who submitted it and from
    /// where (API, web form, workbook or command line).
    Revisions {
        /// `plans/<plan>/reports/<measure>~<department>~<YYYY-MM>`, or just the part after
        /// `reports/`.
        name: String,
        /// The plan id, for short names.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Accept the latest revision of a report (LEADERSHIP or ADMIN).
    Accept {
        /// `plans/<plan>/reports/<measure>~<department>~<YYYY-MM>`, or just the part after
        /// `reports/`.
        name: String,
        /// The etag of the revision reviewed; default: the current one.
        #[arg(long)]
        etag: Option<String>,
        /// A comment for the department.
        #[arg(long, default_value = "")]
        comment: String,
        /// The plan id, for short names.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the reviewed revision as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the unit's report workbook for a month: one row per obligation, one column per
    /// target slot, the cells to fill in unlocked and validated (a department's token: its own;
    /// ADMIN: --department). Fill it in and send it with `report upload`.
    Template {
        /// The month, YYYY-MM.
        #[arg(long, value_parser = report::parse_period)]
        period: duban_proto::common::v1::Period,
        /// The department, for ADMIN callers.
        #[arg(long, default_value = "")]
        department: String,
        /// Where to write the .xlsx file.
        #[arg(long)]
        output: std::path::PathBuf,
        /// The plan id.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
    },
    /// Send a filled-in report workbook (from `report template` or the gateway's
    /// /my/template.xlsx): every filled-in row is submitted with its own request id, and the
    /// result is printed by row and cell; exits non-zero if any row was refused. Sending the
    /// same file again stores nothing new.
    Upload {
        /// The .xlsx file.
        file: std::path::PathBuf,
    },
    /// Return the latest revision of a report to its department (LEADERSHIP or ADMIN).
    Return {
        /// The report, as for `accept`.
        name: String,
        /// What the department must correct.
        #[arg(long)]
        reason: String,
        /// The etag of the revision reviewed; default: the current one.
        #[arg(long)]
        etag: Option<String>,
        /// The plan id, for short names.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the reviewed revision as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum OrdersCommand {
    /// Open an order addressed to one or more units (LEADERSHIP or ADMIN).
    Open {
        #[command(flatten)]
        opening: commands::orders::Opening,
        /// Print the order as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the orders (all pages); a unit's token lists those addressed to it.
    List {
        #[command(flatten)]
        filter: commands::orders::OrderFilter,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Answer an order in writing (a unit, with its own token).
    Respond {
        /// The order's number, or its name `plans/<plan>/orders/<n>`.
        order: String,
        /// The answer.
        #[arg(long)]
        text: String,
        /// Evidence, `title=url`; repeatable.
        #[arg(long, value_parser = commands::orders::evidence)]
        evidence: Vec<duban_proto::reporting::v1::EvidenceLink>,
        /// The plan id, for order numbers.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the order as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept a unit's answer and close its part (办结; LEADERSHIP or ADMIN).
    Close {
        /// The order, as for `respond`.
        order: String,
        /// The unit whose answer is accepted.
        #[arg(long)]
        department: String,
        /// A comment for the unit.
        #[arg(long, default_value = "")]
        comment: String,
        /// The plan id, for order numbers.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the order as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a unit's answer back with a reason (LEADERSHIP or ADMIN).
    Return {
        /// The order, as for `respond`.
        order: String,
        /// The unit whose answer is sent back.
        #[arg(long)]
        department: String,
        /// What the unit must do or answer better.
        #[arg(long)]
        reason: String,
        /// The plan id, for order numbers.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the order as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw an order that is not closed (LEADERSHIP or ADMIN).
    Withdraw {
        /// The order, as for `respond`.
        order: String,
        /// Why, shown to the units.
        #[arg(long, default_value = "")]
        reason: String,
        /// The plan id, for order numbers.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the order as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DepartmentsCommand {
    /// List every unit and group.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Where units want their notices delivered: webhooks and e-mail addresses (ADMIN
    /// for any unit, a department for its own; leadership reads).
    Endpoints {
        #[command(subcommand)]
        command: EndpointsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum EndpointsCommand {
    /// Add an endpoint; a webhook's signing secret is printed once.
    Add {
        /// The unit's code.
        #[arg(long)]
        department: String,
        /// A webhook URL (https; http only to a loopback host).
        #[arg(long, conflicts_with = "email", required_unless_present = "email")]
        webhook: Option<String>,
        /// Or an e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// The notices' language.
        #[arg(long, value_enum, default_value = "zh")]
        language: LanguageArg,
        /// Only these levels, comma-separated (for example `yellow,red`); all when absent.
        #[arg(long, value_enum, value_delimiter = ',')]
        levels: Vec<LevelArg>,
        /// Who reads it, for the people who manage it.
        #[arg(long, default_value = "")]
        description: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List a unit's endpoints, or every one you may read (never their secrets).
    List {
        /// Only this unit's.
        #[arg(long)]
        department: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete an endpoint, `departments/<code>/endpoints/<id>`.
    Remove {
        /// The endpoint's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Give a webhook a new signing secret, printed once; the old one stops at once.
    RotateSecret {
        /// The endpoint's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop delivering to an endpoint, keeping its configuration and secret.
    Disable {
        /// The endpoint's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Deliver to an endpoint again.
    Enable {
        /// The endpoint's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// Print the whole plan, read back from the measures and targets servers.
    Export {
        /// `json`: one document; `csv`: one row per measure and responsible unit.
        #[arg(long, value_enum, default_value = "json")]
        format: PlanFormat,
        /// The plan id.
        #[arg(long, default_value = "jiading-2023")]
        plan: String,
    },
    /// Import a plan (ADMIN): a new plan, a new revision, or nothing if unchanged.
    Import {
        /// A plan file like plans/jiading-2023/plan.toml; default: `plan.plan_file`, or
        /// the built-in Jiading 2023 plan.
        file: Option<PathBuf>,
        /// Check it and report every problem; write nothing.
        #[arg(long)]
        validate_only: bool,
    },
}

#[derive(Debug, Subcommand)]
enum NoticesCommand {
    /// List notices, newest day first (all pages); a department token lists its own.
    List {
        #[command(flatten)]
        filter: commands::notices::NoticeFilter,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge a notice as read (已阅), with the token of the department it is
    /// addressed to.
    Ack {
        /// `plans/<plan>/notices/<notice>`, or just the part after `notices/`.
        notice: String,
        /// The plan id, for short names.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the acknowledged notice as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a notice whose delivery failed (FAILED or DEAD_LETTER) back for delivery
    /// (ADMIN), with the whole retry policy; endpoints that accepted it are not sent it
    /// again.
    Requeue {
        /// `plans/<plan>/notices/<notice>`, or just the part after `notices/`.
        notice: String,
        /// The plan id, for short names.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the requeued notice as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate one day's follow-up rules by hand and store the notices due (ADMIN);
    /// each notice is stored once, so running it again stores nothing more.
    Evaluate {
        /// The day, YYYY-MM-DD, in the plan's time zone; not after today.
        #[arg(long, value_parser = commands::notices::parse_day)]
        as_of: chrono::NaiveDate,
        /// The plan id.
        #[arg(long, default_value = report::DEFAULT_PLAN)]
        plan: String,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Copy the audit records older than a date into a JSON Lines file (one record a
    /// line); with --purge, then delete exactly those records from the server. Records
    /// are kept at least 365 days.
    Archive {
        /// Archive the records before this day (midnight UTC, YYYY-MM-DD) or RFC 3339 time.
        #[arg(long, value_parser = commands::audit::parse_before)]
        before: prost_types::Timestamp,
        /// The archive file to write; it must not exist.
        #[arg(long)]
        output: PathBuf,
        /// After the archive is written and synced, delete its records from the server.
        #[arg(long)]
        purge: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token; it is printed once and never stored.
    Issue {
        /// The unit code the token acts for.
        #[arg(long, conflicts_with = "role")]
        department: Option<String>,
        /// Or a role.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Who holds the token.
        #[arg(long, default_value = "")]
        description: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List credentials (without tokens).
    List {
        /// Include revoked ones.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a credential: `credentials/7` or `7`.
    Revoke {
        /// The credential.
        credential: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Up => {
            let _telemetry = duban_kit::telemetry::init("duban", &settings.log, &settings.telemetry)?;
            commands::up::up(settings).await?;
        }
        Command::Dashboard {
            as_of,
            plan,
            json,
            connection,
        } => {
            commands::dashboard::show(&settings, &connection, &plan, &as_of, json).await?;
        }
        Command::Bulletin {
            period,
            lang,
            plan,
            output,
            connection,
        } => {
            commands::bulletin::save(&settings, &connection, &plan, &period, &lang, &output).await?;
        }
        Command::Serve { service } => {
            let _telemetry =
                duban_kit::telemetry::init(&format!("duban-{service}"), &settings.log, &settings.telemetry)?;
            commands::up::serve(&service, settings).await?;
        }
        Command::Certs { out, names, force } => commands::certs::write(&out, &names, force)?,
        Command::Health { addr, service, timeout } => {
            let serving =
                commands::health::check(&settings.client, &addr, &service, Duration::from_secs(timeout)).await;
            return Ok(if serving { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Departments {
            command: DepartmentsCommand::List { json },
            connection,
        } => {
            commands::departments::list(&settings, &connection, json).await?;
        }
        Command::Departments {
            command: DepartmentsCommand::Endpoints { command },
            connection,
        } => match command {
            EndpointsCommand::Add {
                department,
                webhook,
                email,
                language,
                levels,
                description,
                json,
            } => {
                let target = match (webhook, email) {
                    (Some(url), None) => commands::endpoints::Target::Webhook(url),
                    (None, Some(address)) => commands::endpoints::Target::Email(address),
                    _ => anyhow::bail!("give exactly one of --webhook <url> or --email <address>"),
                };
                let new = commands::endpoints::NewEndpoint {
                    department,
                    target,
                    language,
                    levels,
                    description,
                };
                commands::endpoints::add(&settings, &connection, new, json).await?;
            }
            EndpointsCommand::List { department, json } => {
                commands::endpoints::list(&settings, &connection, department, json).await?;
            }
            EndpointsCommand::Remove { name, json } => {
                commands::endpoints::remove(&settings, &connection, &name, json).await?;
            }
            EndpointsCommand::RotateSecret { name, json } => {
                commands::endpoints::rotate_secret(&settings, &connection, &name, json).await?;
            }
            EndpointsCommand::Disable { name, json } => {
                commands::endpoints::set_enabled(&settings, &connection, &name, false, json).await?;
            }
            EndpointsCommand::Enable { name, json } => {
                commands::endpoints::set_enabled(&settings, &connection, &name, true, json).await?;
            }
        },
        Command::Plan {
            command: PlanCommand::Export { format, plan },
            connection,
        } => {
            commands::plan::export(&settings, &connection, &plan, format).await?;
        }
        Command::Plan {
            command: PlanCommand::Import { file, validate_only },
            connection,
        } => {
            let plan = match file {
                Some(file) => duban_catalog::Plan::from_toml_str(&std::fs::read_to_string(&file)?)?,
                None => duban_cli::servers::load_plan(&settings)?,
            };
            let dataset = duban_measures::dataset::from_catalog(&plan, None);
            let response = commands::plan::import(&settings, &connection, dataset, validate_only).await?;
            for problem in &response.problems {
                eprintln!("{}: {}", problem.path, problem.message);
            }
            let plan = response.plan.clone().unwrap_or_default();
            println!(
                "{}: {} revision {}",
                response.outcome().as_str_name(),
                plan.id,
                plan.revision
            );
            if !response.problems.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Token { command, connection } => match command {
            TokenCommand::Issue {
                department,
                role,
                description,
                json,
            } => {
                commands::token::issue(&settings, &connection, department, role, description, json).await?;
            }
            TokenCommand::List { all, json } => commands::token::list(&settings, &connection, all, json).await?,
            TokenCommand::Revoke { credential, json } => {
                commands::token::revoke(&settings, &connection, &credential, json).await?;
            }
        },
        Command::Report { command, connection } => match command {
            ReportCommand::Submit { submission, json } => {
                report::submit(&settings, &connection, *submission, json).await?;
            }
            ReportCommand::List { filter, json } => {
                report::list(&settings, &connection, filter, json).await?;
            }
            ReportCommand::Revisions { name, plan, json } => {
                report::revisions(&settings, &connection, &plan, &name, json).await?;
            }
            ReportCommand::Accept {
                name,
                etag,
                comment,
                plan,
                json,
            } => {
                let review = report::Review::Accept { comment };
                report::review(&settings, &connection, &plan, &name, etag, review, json).await?;
            }
            ReportCommand::Template {
                period,
                department,
                output,
                plan,
            } => {
                report::template(&settings, &connection, &plan, period, &department, &output).await?;
            }
            ReportCommand::Upload { file } => report::upload(&settings, &connection, &file).await?,
            ReportCommand::Return {
                name,
                reason,
                etag,
                plan,
                json,
            } => {
                let review = report::Review::Return { reason };
                report::review(&settings, &connection, &plan, &name, etag, review, json).await?;
            }
        },
        Command::Orders { command, connection } => {
            use commands::orders::{self, Step};
            match command {
                OrdersCommand::Open { opening, json } => {
                    orders::open(&settings, &connection, opening, json).await?;
                }
                OrdersCommand::List { filter, json } => {
                    orders::list(&settings, &connection, filter, json).await?;
                }
                OrdersCommand::Respond {
                    order,
                    text,
                    evidence,
                    plan,
                    json,
                } => {
                    let step = Step::Respond { text, evidence };
                    orders::step(&settings, &connection, &plan, &order, step, json).await?;
                }
                OrdersCommand::Close {
                    order,
                    department,
                    comment,
                    plan,
                    json,
                } => {
                    let step = Step::Close { department, comment };
                    orders::step(&settings, &connection, &plan, &order, step, json).await?;
                }
                OrdersCommand::Return {
                    order,
                    department,
                    reason,
                    plan,
                    json,
                } => {
                    let step = Step::Return { department, reason };
                    orders::step(&settings, &connection, &plan, &order, step, json).await?;
                }
                OrdersCommand::Withdraw {
                    order,
                    reason,
                    plan,
                    json,
                } => {
                    orders::step(&settings, &connection, &plan, &order, Step::Withdraw { reason }, json).await?;
                }
            }
        }
        Command::Notices { command, connection } => match command {
            NoticesCommand::List { filter, json } => {
                commands::notices::list(&settings, &connection, filter, json).await?
            }
            NoticesCommand::Ack { notice, plan, json } => {
                commands::notices::ack(&settings, &connection, &plan, &notice, json).await?;
            }
            NoticesCommand::Requeue { notice, plan, json } => {
                commands::notices::requeue(&settings, &connection, &plan, &notice, json).await?;
            }
            NoticesCommand::Evaluate { as_of, plan, json } => {
                commands::notices::evaluate(&settings, &connection, &plan, as_of, json).await?;
            }
        },
        Command::Audit {
            command: AuditCommand::Archive { before, output, purge },
            connection,
        } => commands::audit::archive(&settings, &connection, before, &output, purge).await?,
        Command::Demo { seed, plan, connection } => {
            let summary = commands::demo::demo(&settings, &connection, &plan, seed).await?;
            summary.print(&plan, seed);
        }
    }
    Ok(ExitCode::SUCCESS)
}
