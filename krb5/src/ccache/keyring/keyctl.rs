//! The `add_key(2)` and `keyctl(2)` system calls that KEYRING caches use.
//!
//! linux-keyutils 0.2.5 cannot create keyrings, open the persistent
//! keyring of another uid, or address a keyring by its serial number, and
//! MIT's layout needs all three. These wrappers are the crate's only
//! `unsafe` code. Each one passes the kernel either integers or pointers to
//! buffers that live, with the stated length, for the whole call.

use std::ffi::CString;

use nix::errno::Errno;
use nix::libc::{self, c_long, c_ulong};

/// A key or keyring serial number, or one of the special `KEY_SPEC_*` ids.
pub type Serial = i32;

/// The special keyring ids of `<linux/keyctl.h>`.
pub const THREAD_KEYRING: Serial = -1;
pub const PROCESS_KEYRING: Serial = -2;
pub const SESSION_KEYRING: Serial = -3;
pub const USER_KEYRING: Serial = -4;
pub const USER_SESSION_KEYRING: Serial = -5;

// keyctl(2) operations, from <linux/keyctl.h>.
const KEYCTL_GET_KEYRING_ID: c_ulong = 0;
const KEYCTL_JOIN_SESSION_KEYRING: c_ulong = 1;
const KEYCTL_DESCRIBE: c_ulong = 6;
const KEYCTL_CLEAR: c_ulong = 7;
const KEYCTL_LINK: c_ulong = 8;
const KEYCTL_UNLINK: c_ulong = 9;
const KEYCTL_SEARCH: c_ulong = 10;
const KEYCTL_READ: c_ulong = 11;
const KEYCTL_SET_TIMEOUT: c_ulong = 15;
const KEYCTL_GET_PERSISTENT: c_ulong = 22;

/// Widens a serial number to a system call argument; the kernel truncates
/// it back to a 32-bit `key_serial_t`, so negative special ids survive.
fn arg(serial: Serial) -> c_ulong {
    serial as c_long as c_ulong
}

fn check(ret: c_long) -> Result<c_long, Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn c_string(text: &str) -> Result<CString, Errno> {
    CString::new(text).map_err(|_| Errno::EINVAL)
}

/// Runs a keyctl operation whose arguments are all integers.
fn keyctl_integers(operation: c_ulong, args: [c_ulong; 4]) -> Result<c_long, Errno> {
    // SAFETY: the operations passed here (GET_KEYRING_ID, CLEAR, LINK,
    // UNLINK, SET_TIMEOUT, GET_PERSISTENT, and JOIN_SESSION_KEYRING with a
    // null name) take only integers, so the kernel reads no memory of this
    // process.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            operation,
            args[0],
            args[1],
            args[2],
            args[3],
        )
    };
    check(ret)
}

/// Runs a keyctl operation that fills `buffer` and returns the full size
/// of the data, which may exceed the buffer.
fn keyctl_fill(operation: c_ulong, key: Serial, buffer: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: READ and DESCRIBE write at most `buffer.len()` bytes to the
    // pointer, which is valid and exclusively borrowed for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            operation,
            arg(key),
            buffer.as_mut_ptr() as c_ulong,
            buffer.len() as c_ulong,
            0 as c_ulong,
        )
    };
    check(ret).map(|n| n as usize)
}

/// Returns the serial number behind a special id, creating the keyring
/// when `create` is set.
pub fn keyring_id(special: Serial, create: bool) -> Result<Serial, Errno> {
    keyctl_integers(
        KEYCTL_GET_KEYRING_ID,
        [arg(special), c_ulong::from(create), 0, 0],
    )
    .map(|id| id as Serial)
}

/// Returns `uid`'s persistent keyring and links it into `destination`.
/// Another uid than the caller's needs CAP_SETUID.
pub fn get_persistent(uid: u32, destination: Serial) -> Result<Serial, Errno> {
    keyctl_integers(
        KEYCTL_GET_PERSISTENT,
        [c_ulong::from(uid), arg(destination), 0, 0],
    )
    .map(|id| id as Serial)
}

/// Adds a key of `kind` to `keyring`, replacing a key of the same kind and
/// description there. A `None` payload is for keyrings.
pub fn add_key(
    kind: &str,
    description: &str,
    payload: Option<&[u8]>,
    keyring: Serial,
) -> Result<Serial, Errno> {
    let kind = c_string(kind)?;
    let description = c_string(description)?;
    let (data, len) = match payload {
        Some(p) => (p.as_ptr(), p.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: `kind` and `description` are NUL-terminated and live until
    // the call returns. The kernel reads `len` bytes from `data`, which is
    // either the borrowed payload or null with length 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            description.as_ptr(),
            data,
            len as c_ulong,
            arg(keyring),
        )
    };
    check(ret).map(|id| id as Serial)
}

/// Searches `keyring` and the keyrings it links to, recursively, for a key
/// of `kind` named `description`, as keyctl_search(3) does. `None` when
/// there is none.
pub fn search(keyring: Serial, kind: &str, description: &str) -> Result<Option<Serial>, Errno> {
    search_and_link(keyring, kind, description, 0)
}

/// Searches as [`search`] does and links the key found into `destination`
/// (0 for none), which gives this process possession of it.
pub fn search_and_link(
    keyring: Serial,
    kind: &str,
    description: &str,
    destination: Serial,
) -> Result<Option<Serial>, Errno> {
    let kind = c_string(kind)?;
    let description = c_string(description)?;
    // SAFETY: both strings are NUL-terminated and live until the call
    // returns. The other arguments are integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SEARCH,
            arg(keyring),
            kind.as_ptr(),
            description.as_ptr(),
            arg(destination),
        )
    };
    match check(ret) {
        Ok(id) => Ok(Some(id as Serial)),
        Err(Errno::ENOKEY | Errno::EKEYEXPIRED | Errno::EKEYREVOKED) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the whole payload of `key`, growing the buffer to the size the
/// kernel reports (it may grow between two reads).
pub fn read(key: Serial) -> Result<Vec<u8>, Errno> {
    let mut buffer = vec![0u8; 4096];
    loop {
        let len = keyctl_fill(KEYCTL_READ, key, &mut buffer)?;
        if len <= buffer.len() {
            buffer.truncate(len);
            return Ok(buffer);
        }
        buffer = vec![0u8; len];
    }
}

/// Lists the serial numbers linked from `keyring`.
pub fn links(keyring: Serial) -> Result<Vec<Serial>, Errno> {
    Ok(read(keyring)?
        .chunks_exact(4)
        .filter_map(|c| c.try_into().ok())
        .map(i32::from_ne_bytes)
        .collect())
}

/// A key's type and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub kind: String,
    pub description: String,
}

/// Parses the kernel's `type;uid;gid;perm;description` form. The
/// description is everything after the fourth `;`, as it may contain `;`.
fn parse_description(text: &str) -> Option<Description> {
    let mut fields = text.splitn(5, ';');
    let kind = fields.next()?;
    let description = fields.nth(3)?;
    Some(Description {
        kind: kind.to_string(),
        description: description.to_string(),
    })
}

/// Returns the type and description of `key`.
pub fn describe(key: Serial) -> Result<Description, Errno> {
    let mut buffer = vec![0u8; 256];
    let len = loop {
        let len = keyctl_fill(KEYCTL_DESCRIBE, key, &mut buffer)?;
        if len <= buffer.len() {
            break len;
        }
        buffer = vec![0u8; len];
    };
    let text = buffer.get(..len).unwrap_or_default();
    let text = text.strip_suffix(&[0]).unwrap_or(text);
    std::str::from_utf8(text)
        .ok()
        .and_then(parse_description)
        .ok_or(Errno::EINVAL)
}

/// Replaces the calling thread's session keyring with a new anonymous
/// one, which child processes inherit, and returns its serial number.
pub fn join_anonymous_session() -> Result<Serial, Errno> {
    keyctl_integers(KEYCTL_JOIN_SESSION_KEYRING, [0, 0, 0, 0]).map(|id| id as Serial)
}

/// Links `key` into `keyring`.
pub fn link(key: Serial, keyring: Serial) -> Result<(), Errno> {
    keyctl_integers(KEYCTL_LINK, [arg(key), arg(keyring), 0, 0]).map(|_| ())
}

/// Removes the link to `key` from `keyring`.
pub fn unlink(key: Serial, keyring: Serial) -> Result<(), Errno> {
    keyctl_integers(KEYCTL_UNLINK, [arg(key), arg(keyring), 0, 0]).map(|_| ())
}

/// Removes every link from `keyring`.
pub fn clear(keyring: Serial) -> Result<(), Errno> {
    keyctl_integers(KEYCTL_CLEAR, [arg(keyring), 0, 0, 0]).map(|_| ())
}

/// Makes `key` expire `seconds` from now; 0 removes the expiry.
pub fn set_timeout(key: Serial, seconds: u32) -> Result<(), Errno> {
    keyctl_integers(KEYCTL_SET_TIMEOUT, [arg(key), c_ulong::from(seconds), 0, 0]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_fields() {
        let parsed = parse_description("keyring;0;0;3f030000;_krb_a;b").unwrap();
        assert_eq!(parsed.kind, "keyring");
        assert_eq!(parsed.description, "_krb_a;b");
        assert_eq!(parse_description("user;0;0"), None);
    }

    #[test]
    fn keyring_created_read_and_unlinked() {
        // The thread keyring is private to this test's thread.
        let Ok(thread) = keyring_id(THREAD_KEYRING, true) else {
            eprintln!("skipping: the kernel has no keyrings");
            return;
        };
        let ring = add_key("keyring", "rgssd-keyctl-test", None, thread).unwrap();
        let key = add_key("user", "k;1", Some(b"payload"), ring).unwrap();

        assert_eq!(links(ring).unwrap(), [key]);
        assert_eq!(read(key).unwrap(), b"payload");
        assert_eq!(
            describe(key).unwrap(),
            Description {
                kind: "user".into(),
                description: "k;1".into()
            }
        );
        assert_eq!(search(thread, "user", "k;1").unwrap(), Some(key));
        assert_eq!(search(thread, "user", "absent").unwrap(), None);

        clear(ring).unwrap();
        assert!(links(ring).unwrap().is_empty());
        unlink(ring, thread).unwrap();
    }
}
