//! Downcalls written back into an rpc_pipefs upcall pipe.
//!
//! All integers are in host byte order with no padding. The kernel rejects a
//! downcall longer than 1024 bytes with EFBIG, and takes a window of zero as
//! the mark of an error downcall.

/// The largest downcall the kernel accepts (`MSG_BUF_MAXSIZE`).
pub const MAX_DOWNCALL_LEN: usize = 1024;

/// The errno values rpc.gssd reports (Linux generic numbers).
pub mod errno {
    pub const EACCES: i32 = 13;
    pub const ETIMEDOUT: i32 = 110;
    pub const EKEYEXPIRED: i32 = 127;
}

/// An established context for the kernel.
#[derive(Clone, PartialEq, Eq)]
pub struct ContextDowncall<'a> {
    pub uid: u32,
    /// Remaining lifetime in seconds; the kernel reads 0 as one hour.
    pub timeout: u32,
    /// The server's RPCSEC_GSS sequence window; must not be zero.
    pub window: u32,
    /// The context handle from the server's RPCSEC_GSS_INIT reply.
    pub handle: &'a [u8],
    /// The exported (lucid) security context.
    pub context: &'a [u8],
    /// The acceptor's host-based name (`nfs@server.example.com`), if known.
    pub acceptor: Option<&'a str>,
}

/// Errors from encoding a downcall.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DowncallError {
    #[error("the server's sequence window is 0, which the kernel reads as an error downcall")]
    ZeroWindow,
    #[error(
        "downcall for uid {uid} is {len} bytes, more than the kernel's limit of {MAX_DOWNCALL_LEN}"
    )]
    TooLong { uid: u32, len: usize },
}

impl ContextDowncall<'_> {
    /// Encodes the downcall. The acceptor name is written with its
    /// terminating NUL counted in its length, as nfs-utils writes it.
    pub fn encode(&self) -> Result<Vec<u8>, DowncallError> {
        if self.window == 0 {
            return Err(DowncallError::ZeroWindow);
        }

        let mut out = Vec::with_capacity(64 + self.handle.len() + self.context.len());
        out.extend_from_slice(&self.uid.to_ne_bytes());
        out.extend_from_slice(&self.timeout.to_ne_bytes());
        out.extend_from_slice(&self.window.to_ne_bytes());
        put_counted(&mut out, self.handle);
        put_counted(&mut out, self.context);
        if let Some(acceptor) = self.acceptor {
            let mut name = acceptor.as_bytes().to_vec();
            name.push(0);
            put_counted(&mut out, &name);
        }

        if out.len() > MAX_DOWNCALL_LEN {
            return Err(DowncallError::TooLong {
                uid: self.uid,
                len: out.len(),
            });
        }
        Ok(out)
    }
}

impl std::fmt::Debug for ContextDowncall<'_> {
    /// Omits the context, which contains the session key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextDowncall")
            .field("uid", &self.uid)
            .field("timeout", &self.timeout)
            .field("window", &self.window)
            .field("handle", &hex::encode(self.handle))
            .field("context_len", &self.context.len())
            .field("acceptor", &self.acceptor)
            .finish()
    }
}

/// Encodes an error downcall: uid, timeout 0, window 0, and `-errno`.
pub fn encode_error(uid: u32, errno: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&uid.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&(-errno).to_ne_bytes());
    out
}

fn put_counted(out: &mut Vec<u8>, bytes: &[u8]) {
    // Callers bound the total to MAX_DOWNCALL_LEN, so the length fits in u32.
    out.extend_from_slice(&(bytes.len() as u32).to_ne_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_downcall_layout() {
        let bytes = encode_error(1001, errno::EKEYEXPIRED);
        assert_eq!(bytes.len(), 16);
        assert_eq!(&bytes[0..4], &1001u32.to_ne_bytes());
        assert_eq!(&bytes[4..12], &[0u8; 8]);
        assert_eq!(&bytes[12..16], &(-127i32).to_ne_bytes());
    }

    #[test]
    fn context_downcall_layout() {
        let down = ContextDowncall {
            uid: 0,
            timeout: 3600,
            window: 128,
            handle: &[1, 2, 3, 4],
            context: &[9; 52],
            acceptor: Some("nfs@server.example.test"),
        };
        let bytes = down.encode().unwrap();
        assert_eq!(&bytes[8..12], &128u32.to_ne_bytes());
        assert_eq!(&bytes[12..16], &4u32.to_ne_bytes());
        assert_eq!(&bytes[16..20], &[1, 2, 3, 4]);
        assert_eq!(&bytes[20..24], &52u32.to_ne_bytes());
        let name_len = "nfs@server.example.test".len() as u32 + 1;
        assert_eq!(&bytes[76..80], &name_len.to_ne_bytes());
        assert_eq!(bytes.last(), Some(&0));
        assert_eq!(bytes.len(), 80 + name_len as usize);
    }

    #[test]
    fn context_downcall_rejects_zero_window_and_oversize() {
        let mut down = ContextDowncall {
            uid: 5,
            timeout: 0,
            window: 0,
            handle: &[],
            context: &[],
            acceptor: None,
        };
        assert_eq!(down.encode(), Err(DowncallError::ZeroWindow));

        let big = vec![0u8; 1100];
        down.window = 128;
        down.context = &big;
        assert!(matches!(
            down.encode(),
            Err(DowncallError::TooLong { uid: 5, .. })
        ));
    }
}
