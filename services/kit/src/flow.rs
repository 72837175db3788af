//! HTTP/2 flow-control windows of every connection a server accepts or a channel opens.
//!
//! One connection carries many calls at once: the gateway multiplexes all its callers
//! onto one connection per service, and a department system may push dozens of streams
//! over one. Once a connection's window runs out, h2 hands room back as each few hundred
//! bytes are read, so the sender's DATA frames shrink to the size of each WINDOW_UPDATE.
//! h2 (since 0.4.16) counts unread small DATA frames against a budget of half the
//! connection window and, past it, closes the whole connection with ENHANCE_YOUR_CALM:
//! every call on it fails ("stream closed because of a broken pipe" at the gateway).
//! hyper's default windows (1 MiB for a server's connection, 1 MiB a stream) run out
//! with a few busy streams, which is how 64 SubmitReports streams through the gateway
//! lost their answers (BENCHMARKS.md, "The gateway's broken connection").
//!
//! So a stream gets [`STREAM_WINDOW`] and a connection room for 64 full streams at once
//! ([`CONNECTION_WINDOW`]). A window is a promise to buffer, not an allocation: a
//! connection holds at most that much unread, and only while its calls are slower than
//! their callers.

use tonic::transport::Endpoint;

/// The most a stream may send before the receiver has read some of it.
pub const STREAM_WINDOW: u32 = 256 * 1024;

/// The most all streams of one connection may send before the receiver has read some
/// of it: 64 full streams, 16 MiB.
pub const CONNECTION_WINDOW: u32 = 64 * STREAM_WINDOW;

/// `endpoint` with the suite's windows for what its connections receive.
pub fn windows(endpoint: Endpoint) -> Endpoint {
    endpoint
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::{Router, body::Body, routing::post};
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use tokio_util::sync::CancellationToken;

    use crate::{
        metrics::Metrics,
        server::{GrpcServer, Web},
        settings::{ListenAddresses, ServerLimits},
    };

    /// DATA frames of 5 bytes (an empty gRPC message each), as a sender squeezed by an
    /// exhausted window sends them. Unread, each costs h2's budget 251 bytes: 1.2 MiB in
    /// all, past the 512 KiB that hyper's default 1 MiB connection window allows.
    const SMALL_FRAMES: usize = 5_000;
    const FRAME: &[u8] = &[0, 0, 0, 0, 0];

    /// A handler busy before it reads its request (waiting for the writer, or for CPU
    /// under load) while the frames arrive must not cost every call on the connection.
    #[tokio::test]
    async fn small_frames_waiting_for_a_busy_handler_keep_the_connection() {
        let http = Router::new().route(
            "/busy",
            post(|body: Body| async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let bytes = body.collect().await.map(|b| b.to_bytes().len()).unwrap_or_default();
                bytes.to_string()
            }),
        );
        let listen = ListenAddresses {
            grpc: "127.0.0.1:0".parse().unwrap(),
            metrics: "127.0.0.1:0".parse().unwrap(),
        };
        let web = Web {
            http,
            stop: CancellationToken::new(),
        };
        let server = GrpcServer::start_web(
            "flow-test",
            listen,
            &ServerLimits::default(),
            &[],
            tonic::service::Routes::default(),
            &Metrics::new(),
            web,
        )
        .await
        .unwrap();

        let tcp = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        let connection = tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let request = http::Request::post(format!("http://{}/busy", server.local_addr()))
            .body(())
            .unwrap();
        let (response, mut body) = client.send_request(request, false).unwrap();
        for _ in 0..SMALL_FRAMES {
            body.send_data(Bytes::from_static(FRAME), false).unwrap();
        }
        body.send_data(Bytes::new(), true).unwrap();

        let response = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("no answer within 10 s")
            .expect("the server closed the connection under the call");
        assert_eq!(response.status(), 200);
        let mut answer = response.into_body();
        let mut read = Vec::new();
        while let Some(chunk) = answer.data().await {
            read.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(
            String::from_utf8(read).unwrap(),
            (SMALL_FRAMES * FRAME.len()).to_string()
        );
        connection.abort();
        server.shutdown().await;
    }
}
