//! The connections a server serves: accepted with Nagle's algorithm off, cut at the end
//! of the shutdown grace ([`ClosableIo`]), through the TLS handshake when the port
//! speaks TLS, and labelled with who is at the other end ([`Peer`]), which tonic hands
//! to every request of the connection as an extension.
//!
//! The handshake is kit's rather than tonic's (`Server::tls_config`) because tonic's
//! offers only h2 in ALPN, and the gateway's port also serves HTTP/1.1 clients that
//! offer only `http/1.1`. Handshakes run concurrently, each bounded in time, so one slow
//! client holds up nobody.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures::{StreamExt, stream::BoxStream};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_util::{either::Either, sync::CancellationToken};
use tonic::transport::server::Connected;

use crate::closable::ClosableIo;

/// How long a client may take over the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many finished handshakes may wait for the server to take them.
const READY_QUEUE: usize = 64;

/// Who is at the other end of a connection; in every request's extensions.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The peer's address.
    pub remote_addr: Option<SocketAddr>,
    /// The Duban server its client certificate names, when the server verified one
    /// (mutual TLS): see [`crate::tls::server::server_named_by`].
    pub server_name: Option<&'static str>,
}

/// An accepted connection, plaintext or TLS.
pub struct Connection {
    io: Either<ClosableIo<TcpStream>, TlsStream<ClosableIo<TcpStream>>>,
    peer: Peer,
}

impl Connected for Connection {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The connections `listener` accepts, each cut when `cut` is cancelled, through `tls`'s
/// handshake if given (failed handshakes are logged and dropped). tonic ignores its own
/// `tcp_nodelay` setting for connections it is handed, and without it a larger response
/// waits ~40 ms for the peer's delayed ACK, so it is set here.
pub fn accept(
    listener: TcpListener,
    cut: CancellationToken,
    tls: Option<TlsAcceptor>,
) -> BoxStream<'static, io::Result<Connection>> {
    match tls {
        None => tokio_stream::wrappers::TcpListenerStream::new(listener)
            .map(move |connection| {
                let stream = connection?;
                let peer = Peer {
                    remote_addr: stream.peer_addr().ok(),
                    server_name: None,
                };
                Ok(Connection {
                    io: Either::Left(closable(stream, &cut)),
                    peer,
                })
            })
            .boxed(),
        Some(acceptor) => {
            let (ready, taken) = mpsc::channel(READY_QUEUE);
            tokio::spawn(accept_tls(listener, cut, acceptor, ready));
            tokio_stream::wrappers::ReceiverStream::new(taken).boxed()
        }
    }
}

/// Accepts connections and runs each one's handshake on its own task, handing the
/// finished ones to the server through `ready`; ends (closing the listener) when the
/// server stops taking them.
async fn accept_tls(
    listener: TcpListener,
    cut: CancellationToken,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<io::Result<Connection>>,
) {
    loop {
        let accepted = tokio::select! {
            () = ready.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote_addr) = match accepted {
            Ok(accepted) => accepted,
            // tonic logs accept errors and goes on, as with a plaintext listener.
            Err(error) => match ready.send(Err(error)).await {
                Ok(()) => continue,
                Err(_) => return,
            },
        };
        let (io, acceptor, ready) = (closable(stream, &cut), acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                Ok(Ok(tls)) => {
                    let server_name = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(crate::tls::server::server_named_by);
                    let peer = Peer {
                        remote_addr: Some(remote_addr),
                        server_name,
                    };
                    // Fails only when the server has stopped; the connection is dropped.
                    let _ = ready
                        .send(Ok(Connection {
                            io: Either::Right(tls),
                            peer,
                        }))
                        .await;
                }
                Ok(Err(error)) => tracing::debug!(%remote_addr, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%remote_addr, "TLS handshake timed out"),
            }
        });
    }
}

/// `stream` with Nagle's algorithm off, cut when `cut` is cancelled.
fn closable(stream: TcpStream, cut: &CancellationToken) -> ClosableIo<TcpStream> {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    ClosableIo::new(stream, cut)
}
