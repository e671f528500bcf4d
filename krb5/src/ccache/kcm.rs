//! KCM caches: the client side of the KCM protocol that Heimdal's kcm and
//! sssd-kcm serve on a Unix socket, as MIT krb5 1.20's `cc_kcm.c` speaks it.
//!
//! Each request is framed by a 32-bit big-endian length and starts with the
//! protocol version (major 2, minor 0, one byte each) and a 16-bit
//! big-endian opcode. Each reply is a 32-bit length of the payload, a 32-bit
//! transport status and the payload, which starts with the operation's
//! 32-bit status (0 for success, else a krb5 error code).
//! Cache names are NUL-terminated strings. Principals and credentials use
//! the FILE cache's version 4 encoding. UUIDs are 16 bytes, and lists of
//! them run to the end of the reply.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{decode_credential, decode_principal, encode_credential, encode_principal};
use super::{CcacheError, CredentialCache, KdcOffset};
use crate::codec::{EncodeError, Writer};
use crate::credentials::Credential;
use crate::principal::Principal;

/// The socket path MIT and Heimdal use unless krb5.conf sets `kcm_socket`.
pub const DEFAULT_SOCKET: &str = "/var/run/.heim_org.h5l.kcm-socket";

/// The largest reply accepted, as in MIT krb5 (10 MiB).
const MAX_REPLY: usize = 10 * 1024 * 1024;
const UUID_LEN: usize = 16;
const TIMEOUT: Duration = Duration::from_secs(30);

/// KCM opcodes (Heimdal's numbering, which MIT follows).
mod op {
    pub const GEN_NEW: u16 = 3;
    pub const INITIALIZE: u16 = 4;
    pub const DESTROY: u16 = 5;
    pub const STORE: u16 = 6;
    pub const GET_PRINCIPAL: u16 = 8;
    pub const GET_CRED_UUID_LIST: u16 = 9;
    pub const GET_CRED_BY_UUID: u16 = 10;
    pub const REMOVE_CRED: u16 = 11;
    pub const GET_CACHE_UUID_LIST: u16 = 18;
    pub const GET_CACHE_BY_UUID: u16 = 19;
    pub const GET_DEFAULT_CACHE: u16 = 20;
    pub const SET_DEFAULT_CACHE: u16 = 21;
    pub const GET_KDC_OFFSET: u16 = 22;
    pub const SET_KDC_OFFSET: u16 = 23;
    /// MIT's extension: replace a cache's principal, offset and credentials at once.
    pub const REPLACE: u16 = 13002;
}

/// krb5 error codes a KCM server returns for a missing cache or entry.
const KRB5_CC_NOTFOUND: i32 = -1765328243;
const KRB5_CC_END: i32 = -1765328242;
const KRB5_FCC_NOFILE: i32 = -1765328189;

/// A connection-per-request KCM client for one socket.
#[derive(Debug, Clone)]
pub struct KcmClient {
    socket: PathBuf,
}

impl KcmClient {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request and returns the reply payload, or the status code.
    fn call(&self, opcode: u16, params: &[u8]) -> Result<Result<Vec<u8>, i32>, std::io::Error> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;

        let mut request = Writer::new();
        request.u32((4 + params.len()) as u32);
        request.u8(2);
        request.u8(0);
        request.u16(opcode);
        request.put(params);
        stream.write_all(request.as_slice())?;

        // The frame header carries the payload length and the transport's
        // status; the payload starts with the KCM status of the operation.
        let mut header = [0u8; 8];
        stream.read_exact(&mut header)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let transport_status = i32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if transport_status != 0 {
            return Ok(Err(transport_status));
        }
        if len > MAX_REPLY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("reply of {len} bytes exceeds the {MAX_REPLY}-byte maximum"),
            ));
        }
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload)?;
        let Some((status, data)) = payload.split_first_chunk::<4>() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("reply of {len} bytes has no status code"),
            ));
        };
        match i32::from_be_bytes(*status) {
            0 => Ok(Ok(data.to_vec())),
            code => Ok(Err(code)),
        }
    }

    /// Returns the server's default cache name for the calling user.
    pub fn default_cache(&self) -> Result<String, CcacheError> {
        let reply = self.checked(op::GET_DEFAULT_CACHE, &[], "KCM:", "GET_DEFAULT_CACHE")?;
        parse_name(&reply).ok_or_else(|| self.bad_reply("KCM:", "GET_DEFAULT_CACHE"))
    }

    fn checked(
        &self,
        opcode: u16,
        params: &[u8],
        name: &str,
        operation: &'static str,
    ) -> Result<Vec<u8>, CcacheError> {
        match self.call(opcode, params) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(KRB5_CC_NOTFOUND | KRB5_FCC_NOFILE)) => Err(CcacheError::NotFound {
                name: name.to_string(),
            }),
            Ok(Err(code)) => Err(CcacheError::Kcm {
                name: name.to_string(),
                operation,
                reason: format!("the server returned krb5 error code {code}"),
            }),
            Err(e) => Err(CcacheError::Kcm {
                name: name.to_string(),
                operation,
                reason: format!(
                    "socket {}: {e}; is a KCM daemon running?",
                    self.socket.display()
                ),
            }),
        }
    }

    fn bad_reply(&self, name: &str, operation: &'static str) -> CcacheError {
        CcacheError::Kcm {
            name: name.to_string(),
            operation,
            reason: "malformed reply".into(),
        }
    }
}

/// Reads a NUL-terminated UTF-8 name filling a whole reply.
fn parse_name(reply: &[u8]) -> Option<String> {
    let (last, name) = reply.split_last()?;
    if *last != 0 || name.contains(&0) {
        return None;
    }
    String::from_utf8(name.to_vec()).ok()
}

fn name_param(name: &str) -> Vec<u8> {
    let mut out = name.as_bytes().to_vec();
    out.push(0);
    out
}

/// One cache held by a KCM daemon.
#[derive(Debug, Clone)]
pub struct KcmCache {
    client: KcmClient,
    /// The server-side cache name (the residual after `KCM:`).
    cache: String,
}

impl KcmCache {
    /// Resolves `KCM:residual` on the default socket; an empty residual
    /// means the server's default cache.
    pub fn resolve(residual: &str) -> Result<Box<dyn CredentialCache>, CcacheError> {
        Ok(Box::new(Self::open(
            KcmClient::new(DEFAULT_SOCKET),
            residual,
        )?))
    }

    /// Resolves a residual on a given client (for krb5.conf's `kcm_socket`).
    pub fn open(client: KcmClient, residual: &str) -> Result<Self, CcacheError> {
        let cache = if residual.is_empty() {
            client.default_cache()?
        } else {
            residual.to_string()
        };
        Ok(Self { client, cache })
    }

    /// Asks the server for a new cache with a unique name.
    pub fn new_unique(client: KcmClient) -> Result<Self, CcacheError> {
        let reply = client.checked(op::GEN_NEW, &[], "KCM:", "GEN_NEW")?;
        let cache = parse_name(&reply).ok_or_else(|| client.bad_reply("KCM:", "GEN_NEW"))?;
        Ok(Self { client, cache })
    }

    /// Makes this cache the server's default, as `kswitch` does.
    pub fn make_primary(&self) -> Result<(), CcacheError> {
        self.request(op::SET_DEFAULT_CACHE, &[], "SET_DEFAULT_CACHE")
            .map(|_| ())
    }

    fn request(
        &self,
        opcode: u16,
        extra: &[u8],
        operation: &'static str,
    ) -> Result<Vec<u8>, CcacheError> {
        let mut params = name_param(&self.cache);
        params.extend_from_slice(extra);
        self.client
            .checked(opcode, &params, &self.name(), operation)
    }

    fn encode_error(&self, source: EncodeError) -> CcacheError {
        CcacheError::Encode {
            name: self.name(),
            source,
        }
    }

    fn format_error(&self, source: crate::codec::DecodeError) -> CcacheError {
        CcacheError::Format {
            name: self.name(),
            source,
        }
    }

    /// Removes the entries of `client` for `server` with REMOVE_CRED, whose
    /// match flags 0 compare the principals only.
    fn remove_matching(&self, client: &Principal, server: &Principal) -> Result<(), CcacheError> {
        let mut extra = 0u32.to_be_bytes().to_vec();
        extra.extend_from_slice(
            &encode_match_credential(client, server).map_err(|e| self.encode_error(e))?,
        );
        match self.request(op::REMOVE_CRED, &extra, "REMOVE_CRED") {
            Ok(_) | Err(CcacheError::NotFound { .. }) => Ok(()),
            // sssd-kcm (2.8.2 at least) rejects REMOVE_CRED, so the cache is
            // rewritten, but only when it contains a matching entry.
            Err(CcacheError::Kcm { .. }) => {
                let matches =
                    |c: &Credential| c.client.same_name(client) && c.server.same_name(server);
                if self.entries()?.iter().any(matches) {
                    self.replace_without(matches)
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Rewrites the cache without the entries `drop` selects.
    ///
    /// MIT's REPLACE does it in one request: name, KDC offset (seconds),
    /// principal, entry count, then each entry as a 32-bit length and its
    /// encoding. Servers without it (sssd-kcm 2.8.2) get INITIALIZE and one
    /// STORE per kept entry, which readers may observe half done.
    fn replace_without(&self, drop: impl Fn(&Credential) -> bool) -> Result<(), CcacheError> {
        let principal = self.principal()?;
        let offset = self.kdc_offset()?.map_or(0, |o| o.seconds);
        let mut kept = self.entries()?;
        kept.retain(|c| !drop(c));

        match self.replace(&principal, offset, &kept) {
            Err(CcacheError::Kcm { .. }) => {}
            other => return other,
        }
        let offset = (offset != 0).then_some(KdcOffset {
            seconds: offset,
            microseconds: 0,
        });
        self.initialize_with_offset(&principal, offset)?;
        for cred in &kept {
            let encoded = encode_credential(cred).map_err(|e| self.encode_error(e))?;
            self.request(op::STORE, &encoded, "STORE")?;
        }
        Ok(())
    }

    fn replace(
        &self,
        principal: &Principal,
        offset: i32,
        kept: &[Credential],
    ) -> Result<(), CcacheError> {
        let mut w = Writer::new();
        w.i32(offset);
        w.put(&encode_principal(principal).map_err(|e| self.encode_error(e))?);
        w.u32(kept.len() as u32);
        for cred in kept {
            let encoded = encode_credential(cred).map_err(|e| self.encode_error(e))?;
            w.bytes_u32(&encoded, "credential")
                .map_err(|e| self.encode_error(e))?;
        }
        self.request(op::REPLACE, w.as_slice(), "REPLACE")
            .map(|_| ())
    }
}

/// Encodes a match credential (Heimdal's "creds tag") naming a client and
/// a server. It starts with a 32-bit mask of the optional fields present
/// (1 client, 2 server, 4 keyblock, 8 ticket, 16 second ticket, 32 authdata,
/// 64 addresses). The present principals follow, then the times, is_skey
/// and flags, which are always there.
fn encode_match_credential(client: &Principal, server: &Principal) -> Result<Vec<u8>, EncodeError> {
    const CLIENT_PRESENT: u32 = 0x0001;
    const SERVER_PRESENT: u32 = 0x0002;
    let mut w = Writer::new();
    w.u32(CLIENT_PRESENT | SERVER_PRESENT);
    w.put(&encode_principal(client)?);
    w.put(&encode_principal(server)?);
    for _time in 0..4 {
        w.u32(0);
    }
    w.u8(0);
    w.u32(0);
    Ok(w.into_inner())
}

/// Lists the caches a KCM daemon holds for the caller, the default first.
pub fn list(residual: &str) -> Result<Vec<Box<dyn CredentialCache>>, CcacheError> {
    let client = KcmClient::new(DEFAULT_SOCKET);
    list_on(client, residual)
}

/// Lists the caches on a given client, the default first. A non-empty
/// residual names one cache, which is the whole list.
pub fn list_on(
    client: KcmClient,
    residual: &str,
) -> Result<Vec<Box<dyn CredentialCache>>, CcacheError> {
    if !residual.is_empty() {
        return Ok(vec![Box::new(KcmCache::open(client, residual)?)]);
    }
    let default = client.default_cache().ok();
    let uuids = match client.call(op::GET_CACHE_UUID_LIST, &[]) {
        Ok(Ok(reply)) => reply,
        Ok(Err(KRB5_CC_END | KRB5_CC_NOTFOUND | KRB5_FCC_NOFILE)) => Vec::new(),
        Ok(Err(code)) => {
            return Err(CcacheError::Kcm {
                name: "KCM:".into(),
                operation: "GET_CACHE_UUID_LIST",
                reason: format!("the server returned krb5 error code {code}"),
            })
        }
        Err(e) => {
            return Err(CcacheError::Kcm {
                name: "KCM:".into(),
                operation: "GET_CACHE_UUID_LIST",
                reason: e.to_string(),
            })
        }
    };
    if uuids.len() % UUID_LEN != 0 {
        return Err(client.bad_reply("KCM:", "GET_CACHE_UUID_LIST"));
    }
    let mut names = Vec::new();
    for uuid in uuids.chunks_exact(UUID_LEN) {
        match client.checked(op::GET_CACHE_BY_UUID, uuid, "KCM:", "GET_CACHE_BY_UUID") {
            Ok(reply) => names.push(
                parse_name(&reply).ok_or_else(|| client.bad_reply("KCM:", "GET_CACHE_BY_UUID"))?,
            ),
            // Destroyed since the list was taken.
            Err(CcacheError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    names.sort_by_key(|n| Some(n) != default.as_ref());
    Ok(names
        .into_iter()
        .map(|cache| {
            Box::new(KcmCache {
                client: client.clone(),
                cache,
            }) as Box<dyn CredentialCache>
        })
        .collect())
}

impl CredentialCache for KcmCache {
    fn name(&self) -> String {
        format!("KCM:{}", self.cache)
    }

    fn principal(&self) -> Result<Principal, CcacheError> {
        let reply = self.request(op::GET_PRINCIPAL, &[], "GET_PRINCIPAL")?;
        if reply.is_empty() {
            return Err(CcacheError::NotInitialized { name: self.name() });
        }
        decode_principal(&reply).map_err(|e| self.format_error(e))
    }

    fn initialize_with_offset(
        &self,
        principal: &Principal,
        offset: Option<KdcOffset>,
    ) -> Result<(), CcacheError> {
        let encoded = encode_principal(principal).map_err(|e| self.encode_error(e))?;
        self.request(op::INITIALIZE, &encoded, "INITIALIZE")?;
        if let Some(o) = offset {
            // The KCM offset has whole seconds only.
            self.request(
                op::SET_KDC_OFFSET,
                &o.seconds.to_be_bytes(),
                "SET_KDC_OFFSET",
            )?;
        }
        Ok(())
    }

    fn entries(&self) -> Result<Vec<Credential>, CcacheError> {
        // Heimdal's kcm returns KRB5_CC_END for a cache without credentials.
        let params = name_param(&self.cache);
        let uuids = match self.client.call(op::GET_CRED_UUID_LIST, &params) {
            Ok(Err(KRB5_CC_END)) => Vec::new(),
            _ => self.request(op::GET_CRED_UUID_LIST, &[], "GET_CRED_UUID_LIST")?,
        };
        if uuids.len() % UUID_LEN != 0 {
            return Err(self.client.bad_reply(&self.name(), "GET_CRED_UUID_LIST"));
        }
        let mut out = Vec::new();
        for uuid in uuids.chunks_exact(UUID_LEN) {
            match self.request(op::GET_CRED_BY_UUID, uuid, "GET_CRED_BY_UUID") {
                Ok(reply) => out.push(decode_credential(&reply).map_err(|e| self.format_error(e))?),
                // Removed since the list was taken.
                Err(CcacheError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn store(&self, cred: &Credential) -> Result<(), CcacheError> {
        self.remove_matching(&cred.client, &cred.server)?;
        let encoded = encode_credential(cred).map_err(|e| self.encode_error(e))?;
        self.request(op::STORE, &encoded, "STORE").map(|_| ())
    }

    fn remove(&self, server: &Principal) -> Result<usize, CcacheError> {
        let entries = self.entries()?;
        let mut clients: Vec<&Principal> = Vec::new();
        for c in entries.iter().filter(|c| c.server.same_name(server)) {
            if !clients.iter().any(|p| p.same_name(&c.client)) {
                clients.push(&c.client);
            }
        }
        for client in &clients {
            self.remove_matching(client, server)?;
        }
        let after = self.entries()?;
        Ok(entries.len().saturating_sub(after.len()))
    }

    fn destroy(&self) -> Result<(), CcacheError> {
        self.request(op::DESTROY, &[], "DESTROY").map(|_| ())
    }

    fn kdc_offset(&self) -> Result<Option<KdcOffset>, CcacheError> {
        let reply = self.request(op::GET_KDC_OFFSET, &[], "GET_KDC_OFFSET")?;
        let seconds: [u8; 4] = reply
            .as_slice()
            .try_into()
            .map_err(|_| self.client.bad_reply(&self.name(), "GET_KDC_OFFSET"))?;
        let seconds = i32::from_be_bytes(seconds);
        Ok((seconds != 0).then_some(KdcOffset {
            seconds,
            microseconds: 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_nul_terminated() {
        assert_eq!(parse_name(b"1000\0").as_deref(), Some("1000"));
        assert_eq!(parse_name(b"1000"), None);
        assert_eq!(parse_name(b"a\0b\0"), None);
        assert_eq!(parse_name(b""), None);
        assert_eq!(name_param("x"), b"x\0");
    }

    #[test]
    fn missing_socket_is_reported() {
        let client = KcmClient::new("/nonexistent/kcm-socket");
        let err = KcmCache::open(client, "").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/kcm-socket"), "{text}");
        assert!(text.contains("GET_DEFAULT_CACHE"), "{text}");
    }
}
