//! RFC 5531 §11 record marking on stream transports: each message is sent
//! as fragments, each behind a four-byte mark holding its length and, in
//! the top bit, whether it is the last fragment of the message.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The last-fragment bit of a record mark.
pub const LAST_FRAGMENT: u32 = 0x8000_0000;

/// The largest fragment [`write_record`] sends.
const MAX_FRAGMENT: usize = 0x7fff_ffff;

/// Reads one message, joining its fragments. Returns `Ok(None)` when the
/// peer closed the stream before a new message began, and an
/// `InvalidData` error when the message would exceed `max_len` bytes.
pub async fn read_record<R: AsyncRead + Unpin>(
    stream: &mut R,
    max_len: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut record = Vec::new();
    let mut first = true;
    loop {
        let mut mark = [0u8; 4];
        match stream.read_exact(&mut mark).await {
            Ok(_) => {}
            Err(e) if first && e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        first = false;

        let mark = u32::from_be_bytes(mark);
        let len = (mark & !LAST_FRAGMENT) as usize;
        if record.len().saturating_add(len) > max_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "RPC message of more than {max_len} bytes (a fragment of {len} bytes after {})",
                    record.len()
                ),
            ));
        }
        let start = record.len();
        record.resize(start + len, 0);
        stream.read_exact(&mut record[start..]).await?;
        if mark & LAST_FRAGMENT != 0 {
            return Ok(Some(record));
        }
    }
}

/// Writes `message` as one record and flushes the stream.
pub async fn write_record<W: AsyncWrite + Unpin>(stream: &mut W, message: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(message.len() + 4 * (1 + message.len() / MAX_FRAGMENT));
    let mut chunks = message.chunks(MAX_FRAGMENT).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&LAST_FRAGMENT.to_be_bytes());
    }
    while let Some(chunk) = chunks.next() {
        let mut mark = chunk.len() as u32;
        if chunks.peek().is_none() {
            mark |= LAST_FRAGMENT;
        }
        out.extend_from_slice(&mark.to_be_bytes());
        out.extend_from_slice(chunk);
    }
    stream.write_all(&out).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn joins_fragments() {
        let mut input: &[u8] = &[0, 0, 0, 2, b'a', b'b', 0x80, 0, 0, 1, b'c'];
        let record = read_record(&mut input, 16).await.unwrap();
        assert_eq!(record.as_deref(), Some(&b"abc"[..]));
        assert_eq!(read_record(&mut input, 16).await.unwrap(), None);
    }

    #[tokio::test]
    async fn rejects_oversized_message() {
        let mut input: &[u8] = &[0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0, 0, 9];
        let error = read_record(&mut input, 16).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("16"), "{error}");
    }

    #[tokio::test]
    async fn truncated_fragment_is_an_error() {
        let mut input: &[u8] = &[0x80, 0, 0, 4, 1, 2];
        let error = read_record(&mut input, 16).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn write_then_read() {
        let mut buffer = Vec::new();
        write_record(&mut buffer, b"hello").await.unwrap();
        assert_eq!(&buffer[..4], &[0x80, 0, 0, 5]);
        let mut input = buffer.as_slice();
        let record = read_record(&mut input, 16).await.unwrap();
        assert_eq!(record.as_deref(), Some(&b"hello"[..]));
    }
}
