//! Connections that can be cut. tonic runs each connection as its own task, so stopping
//! the server task leaves open streams (a health `Watch`, an event stream) running. Each
//! accepted connection is wrapped here (`incoming::accept`): once the shutdown grace
//! period is over, its next read or write fails and hyper closes it.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A connection that fails once its token is cancelled.
pub struct ClosableIo<IO> {
    inner: IO,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<IO> ClosableIo<IO> {
    /// Wraps `inner`; it is cut when `cut` is cancelled.
    pub fn new(inner: IO, cut: &CancellationToken) -> Self {
        Self {
            inner,
            cut: Box::pin(cut.clone().cancelled_owned()),
        }
    }

    /// Whether the connection has been cut; polling registers the waker.
    fn is_cut(&mut self, cx: &mut Context<'_>) -> bool {
        self.cut.as_mut().poll(cx).is_ready()
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "server shut down: grace period over")
}

impl<IO: AsyncRead + Unpin> AsyncRead for ClosableIo<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        // Polling the cancellation first registers the waker, so an idle connection
        // waiting on a read is woken and closed too.
        if self.is_cut(cx) {
            return Poll::Ready(Err(closed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ClosableIo<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(closed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
