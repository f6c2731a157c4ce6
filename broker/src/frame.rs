//! Response frames as they go to the socket: encoded bytes with log file
//! slices spliced in. A Fetch response's records are never copied into the
//! broker: the frame points at the segment file and the writer sends those
//! bytes with `sendfile`, page cache to socket, as Kafka does with
//! `FileRecords.transferTo`.

use std::io;
use std::ops::Range;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncWriteExt, BufWriter, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::log::FileSlice;

/// File slices up to this size are copied into the frame rather than sent
/// with `sendfile`: below it the syscalls cost more than the copy.
const INLINE_MAX: usize = 16 * 1024;

/// One part of a frame, in order.
#[derive(Debug)]
enum Piece {
    /// A range of [`Frame::buf`].
    Encoded(Range<usize>),
    /// Bytes of a segment file.
    File(FileSlice),
}

/// A size-prefixed response frame under construction or ready to write.
/// Reused across responses of a connection, so its buffer is allocated once.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    /// The size prefix and every encoded byte; file slices sit between runs.
    buf: BytesMut,
    pieces: Vec<Piece>,
    /// Start in `buf` of the encoded run not yet in `pieces`.
    run_start: usize,
    /// Bytes in file pieces.
    file_bytes: usize,
}

impl Frame {
    /// Empties the frame and writes the placeholder of its size prefix.
    pub(crate) fn start(&mut self) {
        self.buf.clear();
        self.pieces.clear();
        self.run_start = 0;
        self.file_bytes = 0;
        self.buf.put_i32(0);
    }

    /// Where encoded bytes go.
    pub(crate) fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Appends `slice` after the bytes encoded so far: by reference, or
    /// copied in when it is small (one `pread` instead of a flush and a
    /// `sendfile`, for fetches of many partitions with little new data).
    pub(crate) fn push_file(&mut self, slice: FileSlice) -> io::Result<()> {
        if slice.len() <= INLINE_MAX {
            let start = self.buf.len();
            self.buf.resize(start + slice.len(), 0);
            return slice.read_into(&mut self.buf[start..]);
        }
        self.close_run();
        self.file_bytes += slice.len();
        self.pieces.push(Piece::File(slice));
        Ok(())
    }

    fn close_run(&mut self) {
        if self.buf.len() > self.run_start {
            self.pieces
                .push(Piece::Encoded(self.run_start..self.buf.len()));
            self.run_start = self.buf.len();
        }
    }

    /// Ends the frame: patches its size prefix. Fails when the frame would
    /// not fit the protocol's i32 size.
    pub(crate) fn finish(&mut self) -> Result<(), FrameTooLarge> {
        self.close_run();
        let size = self.buf.len() - 4 + self.file_bytes;
        let size = i32::try_from(size).map_err(|_| FrameTooLarge(size))?;
        self.buf[..4].copy_from_slice(&size.to_be_bytes());
        Ok(())
    }

    /// Writes the frame. Encoded bytes go through `writer`'s buffer; before a
    /// file slice the buffer is flushed and the slice is sent by the kernel.
    pub(crate) async fn write_to(&self, writer: &mut BufWriter<OwnedWriteHalf>) -> io::Result<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Encoded(range) => writer.write_all(&self.buf[range.clone()]).await?,
                Piece::File(slice) => {
                    writer.flush().await?;
                    send_file(writer.get_ref().as_ref(), slice).await?;
                }
            }
        }
        Ok(())
    }

    /// The whole frame in memory (tests compare it with other encodings).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Encoded(range) => out.extend_from_slice(&self.buf[range.clone()]),
                Piece::File(slice) => out.extend_from_slice(&slice.read().expect("read slice")),
            }
        }
        out
    }
}

/// A response over the protocol's 2 GiB frame limit.
#[derive(Debug, thiserror::Error)]
#[error("response of {0} bytes exceeds the 2 GiB frame limit")]
pub(crate) struct FrameTooLarge(usize);

/// Sends `slice` with `sendfile`, waiting for the socket to drain when its
/// buffer is full. A file that shrank under the send (a truncation raced a
/// fetch) fails: the frame cannot be completed and the connection closes.
async fn send_file(socket: &TcpStream, slice: &FileSlice) -> io::Result<()> {
    let mut offset = slice.position();
    let end = offset + slice.len() as u64;
    while offset < end {
        let left = (end - offset) as usize;
        let sent = socket
            .async_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(socket, slice.file(), Some(&mut offset), left)
                    .map_err(io::Error::from)
            })
            .await?;
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a log segment ended before the fetched bytes were sent",
            ));
        }
    }
    Ok(())
}
