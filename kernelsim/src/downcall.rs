//! An independent decoder of the rpc_pipefs downcall and of the exported
//! krb5 context inside it, following the kernel's parsing order and error
//! codes (`gss_pipe_downcall`, `gss_fill_context` and the v2 krb5 context
//! import): host byte order, no padding, counted byte strings.

use std::fmt;

/// Linux errno values the simulation returns or reports.
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const EAGAIN: i32 = 11;
    pub const EACCES: i32 = 13;
    pub const EFAULT: i32 = 14;
    pub const EINVAL: i32 = 22;
    pub const EFBIG: i32 = 27;
    pub const EPIPE: i32 = 32;
    pub const ETIMEDOUT: i32 = 110;
    pub const EKEYEXPIRED: i32 = 127;
}

/// The kernel's downcall size limit (`MSG_BUF_MAXSIZE`).
pub const MAX_DOWNCALL: usize = 1024;

/// The context flag bits of the v2 exported context.
pub const FLAG_INITIATOR: u32 = 0x1;
pub const FLAG_CFX: u32 = 0x2;
pub const FLAG_ACCEPTOR_SUBKEY: u32 = 0x4;

/// A v2 exported krb5 context, as the kernel imports it.
#[derive(Clone, PartialEq, Eq)]
pub struct Lucid {
    pub flags: u32,
    pub endtime: u32,
    pub seq_send: u64,
    pub enctype: i32,
    pub key: Vec<u8>,
}

impl fmt::Debug for Lucid {
    /// Omits the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lucid")
            .field("flags", &self.flags)
            .field("endtime", &self.endtime)
            .field("seq_send", &self.seq_send)
            .field("enctype", &self.enctype)
            .field("key_len", &self.key.len())
            .finish()
    }
}

/// Returns the key length of an enctype the kernel supports, or `None`.
pub fn key_length(enctype: i32) -> Option<usize> {
    match enctype {
        17 | 19 | 25 => Some(16),
        18 | 20 | 26 => Some(32),
        16 => Some(24),
        _ => None,
    }
}

/// A little cursor that fails with EFAULT, as `simple_get_bytes` does.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], i32> {
        let end = self.at.checked_add(n).ok_or(errno::EFAULT)?;
        let slice = self.data.get(self.at..end).ok_or(errno::EFAULT)?;
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, i32> {
        let b = self.bytes(4)?;
        Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn counted(&mut self) -> Result<&'a [u8], i32> {
        let len = self.u32()? as usize;
        self.bytes(len)
    }

    fn done(&self) -> bool {
        self.at == self.data.len()
    }
}

/// Imports a v2 exported context the way the 6.x kernel does; `enctypes`
/// are those the simulated kernel supports. Errors are positive errnos.
pub fn import_lucid(blob: &[u8], enctypes: &[i32]) -> Result<Lucid, i32> {
    let mut c = Cursor { data: blob, at: 0 };
    let flags = c.u32()?;
    let endtime = c.u32()?;
    let seq = c.bytes(8)?;
    let seq_send = u64::from_ne_bytes(seq.try_into().map_err(|_| errno::EFAULT)?);
    // The kernel keeps the sequence number in a signed 32-bit counter too
    // and refuses values that do not survive the round trip.
    if seq_send != u64::from(seq_send as u32) || (seq_send as u32) > i32::MAX as u32 {
        return Err(errno::EINVAL);
    }
    let enctype = c.u32()? as i32;
    let length = match key_length(enctype) {
        Some(length) if enctypes.contains(&enctype) => length,
        _ => return Err(errno::EINVAL),
    };
    let key = c.bytes(length)?.to_vec();
    if !c.done() {
        return Err(errno::EINVAL);
    }
    Ok(Lucid {
        flags,
        endtime,
        seq_send,
        enctype,
        key,
    })
}

/// A decoded downcall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downcall {
    pub uid: u32,
    pub timeout: u32,
    pub window: u32,
    pub body: DowncallBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DowncallBody {
    /// Window 0: the errno as gssd wrote it (negative).
    Error { errno: i32 },
    Context {
        handle: Vec<u8>,
        context: Lucid,
        /// The acceptor name with the bytes as written, NUL included.
        acceptor: Option<Vec<u8>>,
    },
}

/// Reads the uid, the first field; the kernel matches it to an upcall
/// before it parses anything else.
pub fn downcall_uid(data: &[u8]) -> Result<u32, i32> {
    if data.len() > MAX_DOWNCALL {
        return Err(errno::EFBIG);
    }
    let uid = Cursor { data, at: 0 }.u32()?;
    if uid == u32::MAX {
        return Err(errno::EINVAL);
    }
    Ok(uid)
}

/// Decodes a whole downcall. Errors are positive errnos, as the kernel's
/// write would return them.
pub fn decode_downcall(data: &[u8], enctypes: &[i32]) -> Result<Downcall, i32> {
    let uid = downcall_uid(data)?;
    let mut c = Cursor { data, at: 4 };
    let timeout = c.u32()?;
    let window = c.u32()?;
    if window == 0 {
        let errno = c.u32()? as i32;
        return Ok(Downcall {
            uid,
            timeout,
            window,
            body: DowncallBody::Error { errno },
        });
    }
    let handle = c.counted()?.to_vec();
    let context = c.counted()?;
    let context = import_lucid(context, enctypes)?;
    // Bytes after the acceptor name are not looked at.
    let acceptor = if c.done() {
        None
    } else {
        Some(c.counted()?.to_vec())
    };
    Ok(Downcall {
        uid,
        timeout,
        window,
        body: DowncallBody::Context {
            handle,
            context,
            acceptor,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lucid(enctype: i32, key_len: usize, seq: u64) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&1u32.to_ne_bytes());
        v.extend_from_slice(&2_000_000_000u32.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&enctype.to_ne_bytes());
        v.extend(std::iter::repeat_n(7u8, key_len));
        v
    }

    #[test]
    fn imports_known_enctypes_only() {
        let ok = import_lucid(&lucid(18, 32, 5), &[18, 17]).unwrap();
        assert_eq!((ok.flags, ok.enctype, ok.seq_send), (1, 18, 5));
        assert_eq!(
            import_lucid(&lucid(20, 32, 5), &[18, 17]),
            Err(errno::EINVAL)
        );
        assert_eq!(import_lucid(&lucid(18, 31, 5), &[18]), Err(errno::EFAULT));
        assert_eq!(import_lucid(&lucid(18, 33, 5), &[18]), Err(errno::EINVAL));
        assert_eq!(
            import_lucid(&lucid(18, 32, 1 << 31), &[18]),
            Err(errno::EINVAL)
        );
    }

    #[test]
    fn error_and_context_downcalls() {
        let mut error = Vec::new();
        for word in [1000u32, 0, 0, (-127i32) as u32] {
            error.extend_from_slice(&word.to_ne_bytes());
        }
        let d = decode_downcall(&error, &[18]).unwrap();
        assert_eq!(d.body, DowncallBody::Error { errno: -127 });
        assert_eq!(decode_downcall(&error[..14], &[18]), Err(errno::EFAULT));

        let mut ctx = Vec::new();
        for word in [0u32, 3600, 128, 2] {
            ctx.extend_from_slice(&word.to_ne_bytes());
        }
        ctx.extend_from_slice(&[9, 9]);
        let blob = lucid(17, 16, 0);
        ctx.extend_from_slice(&(blob.len() as u32).to_ne_bytes());
        ctx.extend_from_slice(&blob);
        let d = decode_downcall(&ctx, &[17]).unwrap();
        assert!(matches!(
            d.body,
            DowncallBody::Context { acceptor: None, .. }
        ));
        ctx.extend_from_slice(&4u32.to_ne_bytes());
        ctx.extend_from_slice(b"a@b\0");
        let d = decode_downcall(&ctx, &[17]).unwrap();
        let DowncallBody::Context {
            handle, acceptor, ..
        } = d.body
        else {
            panic!("not a context")
        };
        assert_eq!((handle, acceptor), (vec![9, 9], Some(b"a@b\0".to_vec())));
        assert_eq!(decode_downcall(&[0; 1100], &[17]), Err(errno::EFBIG));
    }
}
