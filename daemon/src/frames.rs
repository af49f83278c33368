//! Small answers leave in one write.
//!
//! The HTTP/2 library under tonic (h2) copies a DATA frame into its write buffer only when the
//! frame's payload is shorter than its "chain threshold": 256 bytes on a socket that takes
//! vectored writes, 1024 on one that does not (`CHAIN_THRESHOLD` and
//! `CHAIN_THRESHOLD_WITHOUT_VECTORED_IO` in h2's `codec/framed_write.rs`). A longer payload is
//! chained: the buffer is written out with it at once, and the frames after it (a unary answer's
//! trailers) go in a second write. So an answer of a few hundred bytes to a few KiB (a
//! `RecordCommit` answer with its receipt, about 1.3 KiB) costs two writes on the server and two
//! wake-ups and reads on the client, where a shorter one costs one. With `fiscus-bench logcost`
//! (BENCHMARKS.md), taking the second write away cut the CPU receipts cost per commit by more than
//! half.
//!
//! [`SmallFrames`] hands a body's data frames of up to [`SPLIT_MAX`] bytes on in pieces shorter
//! than the threshold, which h2 copies into its buffer and sends with the trailers in one write.
//! HTTP/2 lets a gRPC message span any number of DATA frames (RFC 9113 section 6.1; the gRPC
//! length prefix says where it ends); the pieces cost a 9-byte frame header each, and the client
//! handles each frame on its own. Longer frames (a page of a statement) go on whole: there one
//! more write is small beside the bytes.
//!
//! The piece follows the connection ([`piece_bytes`]): a clear-text connection
//! (`connections::Conn`) says it takes no vectored writes, so its pieces are up to
//! [`PIECE_BYTES_CLEAR`] (a receipt goes in two frames); TLS (tokio-rustls) always takes vectored
//! writes, so its pieces stay below 256 bytes ([`PIECE_BYTES_TLS`]; six frames).

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tonic::codegen::Bytes;

/// The longest piece handed on over TLS: below h2's chain threshold of 256 bytes for a socket
/// that takes vectored writes.
pub const PIECE_BYTES_TLS: usize = 255;

/// The longest piece handed on over a clear-text connection, which takes no vectored writes:
/// below h2's chain threshold of 1024 bytes for such a socket.
pub const PIECE_BYTES_CLEAR: usize = 1023;

/// The longest data frame cut into pieces (at most 17 pieces); longer ones go on whole.
pub const SPLIT_MAX: usize = 4 * 1024;

/// The piece for the server's connections: [`PIECE_BYTES_TLS`] when they are TLS, else
/// [`PIECE_BYTES_CLEAR`].
pub fn piece_bytes(tls: bool) -> usize {
    if tls {
        PIECE_BYTES_TLS
    } else {
        PIECE_BYTES_CLEAR
    }
}

/// A response body whose data frames of more than `piece` and at most [`SPLIT_MAX`] bytes are
/// handed on in pieces of at most `piece` bytes, in order; every other frame, and the bytes, as
/// they are.
pub struct SmallFrames<B> {
    inner: B,
    /// The longest piece (at least 1).
    piece: usize,
    /// What is left of the frame being handed on.
    rest: Bytes,
}

impl<B> SmallFrames<B> {
    /// Wraps `inner`, cutting into pieces of at most `piece` bytes (1 when 0).
    pub fn new(inner: B, piece: usize) -> SmallFrames<B> {
        SmallFrames { inner, piece: piece.max(1), rest: Bytes::new() }
    }

    /// The next piece of `rest`, when anything is left of it.
    fn next_piece(&mut self) -> Option<Bytes> {
        if self.rest.is_empty() {
            return None;
        }
        let take = self.rest.len().min(self.piece);
        Some(self.rest.split_to(take))
    }
}

impl<B> Body for SmallFrames<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(piece) = this.next_piece() {
            return Poll::Ready(Some(Ok(Frame::data(piece))));
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        match frame.into_data() {
            Ok(data) if data.len() > this.piece && data.len() <= SPLIT_MAX => {
                this.rest = data;
                Poll::Ready(this.next_piece().map(|piece| Ok(Frame::data(piece))))
            }
            Ok(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Err(frame) => Poll::Ready(Some(Ok(frame))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(rest));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint
    }
}

/// The function of a `tower::util::MapResponseLayer` that puts each response's body in
/// [`SmallFrames`] of pieces of at most `piece` bytes ([`piece_bytes`]).
pub fn small_frames(
    piece: usize,
) -> impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Clone {
    move |response| response.map(|body| tonic::body::Body::new(SmallFrames::new(body, piece)))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;

    use super::*;

    /// A body of the given frames.
    struct Frames(VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.get_mut().0.pop_front().map(Ok))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.0.iter().filter_map(|f| f.data_ref()).map(|d| d.len() as u64).sum())
        }
    }

    fn next(body: &mut SmallFrames<Frames>) -> Option<Frame<Bytes>> {
        let waker = std::task::Waker::noop();
        match Pin::new(body).poll_frame(&mut Context::from_waker(waker)) {
            Poll::Ready(frame) => frame.map(|f| f.unwrap_or_else(|e| match e {})),
            Poll::Pending => unreachable!("the test body is always ready"),
        }
    }

    /// Every frame's bytes come out in order, whole (the same bytes, the trailers after them);
    /// frames past the bound or at most a piece long go on as they are, and the others in pieces
    /// no longer than a piece.
    #[test]
    fn frames_are_cut_below_the_threshold_and_keep_their_bytes_and_order() {
        for (piece, sizes) in [PIECE_BYTES_TLS, PIECE_BYTES_CLEAR].into_iter().flat_map(|piece| {
            [
                vec![0],
                vec![1],
                vec![255],
                vec![256],
                vec![1023],
                vec![1024],
                vec![1300],
                vec![4096],
                vec![4097],
                vec![600, 10, 70_000, 300, 2000],
            ]
            .map(|sizes| (piece, sizes))
        }) {
            let data: Vec<Bytes> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| Bytes::from((0..*n).map(|b| (b + i) as u8).collect::<Vec<u8>>()))
                .collect();
            let frames = data.iter().cloned().map(Frame::data).chain([Frame::trailers(http::HeaderMap::new())]);
            let mut body = SmallFrames::new(Frames(frames.collect()), piece);
            let mut out = Vec::new();
            while let Some(frame) = next(&mut body) {
                out.push(frame);
            }
            let sent: Vec<u8> = data.iter().flatten().copied().collect();
            let got: Vec<u8> = out.iter().filter_map(|f| f.data_ref()).flatten().copied().collect();
            assert_eq!(got, sent, "{piece} {sizes:?}");
            assert!(out.last().is_some_and(|f| f.is_trailers()), "{piece} {sizes:?}: the trailers come last");
            for f in out.iter().filter_map(|f| f.data_ref()) {
                let whole = sizes.contains(&f.len()) && (f.len() <= piece || f.len() > SPLIT_MAX);
                assert!(f.len() <= piece || whole, "{piece} {sizes:?}: a frame of {} bytes went on", f.len());
            }
            let pieces = out.iter().filter(|f| f.is_data()).count();
            let expected: usize =
                sizes.iter().map(|n| if *n > piece && *n <= SPLIT_MAX { n.div_ceil(piece) } else { 1 }).sum();
            assert_eq!(pieces, expected, "{piece} {sizes:?}");
        }
        // a body of one frame says its size, and its end only once every piece is out
        let piece = PIECE_BYTES_TLS;
        let mut body = SmallFrames::new(Frames(VecDeque::from([Frame::data(Bytes::from(vec![7u8; 1000]))])), piece);
        assert_eq!(body.size_hint().exact(), Some(1000));
        let first = next(&mut body).expect("a frame");
        assert_eq!(first.data_ref().map(Bytes::len), Some(piece));
        assert!(!body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(1000 - piece as u64));
        while next(&mut body).is_some() {}
        assert!(body.is_end_stream());
        // both pieces are below h2's thresholds (256 with vectored writes, 1024 without)
        assert_eq!((piece_bytes(true), piece_bytes(false)), (255, 1023));
    }
}
