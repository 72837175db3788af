//! `duban demo` against a suite served over TLS (the harness's development CA in
//! `client.tls.ca_file`): the units that report by web form and by workbook reach the gateway
//! over HTTPS/1.1 with the same TLS settings as every gRPC call of the demo, and their
//! revisions are stored with their sources. (`up_and_export.rs` runs the demo in plaintext.)

use duban_cli::commands::{Connection, demo::demo};
use duban_harness::{Suite, Transport};
use duban_kit::testing::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reports_through_the_gateway_over_tls() {
    let suite = Suite::builder(Backend::Sqlite)
        .all()
        .transport(Transport::Tls)
        .start()
        .await
        .expect("SQLite is never skipped");
    assert!(
        !suite.settings().client.tls.ca_file.is_empty(),
        "the suite's calls are TLS"
    );
    let connection = Connection {
        addr: None,
        token: Some(suite.admin_token().to_owned()),
        timeout: 60,
    };
    let summary = demo(suite.settings(), &connection, "jiading-2023", 7)
        .await
        .expect("the demo runs over TLS");
    let count = |way: &str| {
        summary
            .live_by_way
            .iter()
            .filter(|(w, _)| *w == way)
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    assert!(
        count("web form") > 0 && count("workbook") > 0 && count("gRPC") > 0,
        "{:?}",
        summary.live_by_way
    );
    assert_eq!(summary.live, count("web form") + count("workbook") + count("gRPC"));
    suite.stop().await;
}
