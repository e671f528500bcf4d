//! MIT krb5's FILE credential cache: the file format and the cache type.
//!
//! A cache file is a 16-bit version (`0x0501` to `0x0504`), in version 4 a
//! header of tagged fields (tag 1 is the KDC time offset: seconds and
//! microseconds), the default principal and then credentials until the end of
//! the file. Versions 3 and 4 store integers big-endian. Versions 1 and 2
//! use the writing host's byte order inside principals and credentials.
//! Version 1 also counts the realm among the components and has no name
//! type, and version 3 writes the keyblock's enctype twice.
//!
//! A credential is a sequence of fields. It starts with the client and
//! server principals and the keyblock (16-bit enctype, 32-bit length,
//! bytes). Then come authtime, starttime, endtime and renew-till (32 bits
//! each), is_skey (8 bits) and the ticket flags (32 bits). Addresses and
//! authorization data follow, each a 32-bit count and then a 16-bit type
//! and a counted value per element. The ticket and second ticket (32-bit
//! length and bytes) end it.
//!
//! The same principal and credential encodings (version 4) are used inside
//! KEYRING keys and KCM messages, so they are public here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg};

use super::{CcacheError, CredentialCache, KdcOffset, CONFIG_REALM};
use crate::codec::{DecodeError, EncodeError, Reader, Writer};
use crate::credentials::{AuthData, Credential, HostAddress};
use crate::crypto::Key;
use crate::iana::name_type;
use crate::principal::Principal;

/// The version this module writes for new caches.
pub const DEFAULT_VERSION: u8 = 4;

/// Header tag of the KDC time offset field.
const TAG_KDC_OFFSET: u16 = 1;

/// The realm MIT writes into configuration entries it has removed.
const REMOVED_CONFIG_REALM: &str = "X-RMED-CONF:";

/// The contents of a cache file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFile {
    /// The format version, 1 to 4.
    pub version: u8,
    pub kdc_offset: Option<KdcOffset>,
    pub principal: Principal,
    /// The credentials in file order, including removed ones (see [`is_removed`]).
    pub credentials: Vec<Credential>,
}

/// Returns true for an entry MIT marked removed in place: endtime 0 with a
/// nonzero authtime (live entries with endtime 0, such as configuration
/// entries, have authtime 0).
pub fn is_removed(cred: &Credential) -> bool {
    cred.endtime == 0 && cred.authtime != 0
}

/// Integer encoding of one format version.
#[derive(Clone, Copy)]
struct Format {
    version: u8,
}

impl Format {
    fn native(self) -> bool {
        self.version < 3
    }

    fn u16(self, r: &mut Reader<'_>, field: &'static str) -> Result<u16, DecodeError> {
        let b = r.array(field)?;
        Ok(if self.native() {
            u16::from_ne_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(self, r: &mut Reader<'_>, field: &'static str) -> Result<u32, DecodeError> {
        let b = r.array(field)?;
        Ok(if self.native() {
            u32::from_ne_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn data<'a>(self, r: &mut Reader<'a>, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(r, field)?;
        let len = usize::try_from(len).map_err(|_| r.invalid(field, "length overflows usize"))?;
        r.take(len, field)
    }

    fn text(self, r: &mut Reader<'_>, field: &'static str) -> Result<String, DecodeError> {
        let offset = r.offset();
        let bytes = self.data(r, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid {
            field,
            offset,
            reason: "not valid UTF-8".into(),
        })
    }

    fn put_u16(self, w: &mut Writer, v: u16) {
        if self.native() {
            w.put(&v.to_ne_bytes());
        } else {
            w.u16(v);
        }
    }

    fn put_u32(self, w: &mut Writer, v: u32) {
        if self.native() {
            w.put(&v.to_ne_bytes());
        } else {
            w.u32(v);
        }
    }

    fn put_data(
        self,
        w: &mut Writer,
        bytes: &[u8],
        field: &'static str,
    ) -> Result<(), EncodeError> {
        let len = u32::try_from(bytes.len()).map_err(|_| EncodeError::TooLong {
            field,
            len: bytes.len(),
            max: u32::MAX as usize,
        })?;
        self.put_u32(w, len);
        w.put(bytes);
        Ok(())
    }
}

fn check_version(version: u8) -> Result<Format, DecodeError> {
    if (1..=4).contains(&version) {
        Ok(Format { version })
    } else {
        Err(DecodeError::Invalid {
            field: "cache version",
            offset: 0,
            reason: format!("{version}; expected 1 to 4"),
        })
    }
}

/// Reads a principal in the encoding of format `version`.
pub fn read_principal(r: &mut Reader<'_>, version: u8) -> Result<Principal, DecodeError> {
    let f = check_version(version)?;
    let name_type = if version == 1 {
        name_type::UNKNOWN
    } else {
        f.u32(r, "principal name type")? as i32
    };
    let count_offset = r.offset();
    let mut count = f.u32(r, "principal component count")?;
    if version == 1 {
        count = count.checked_sub(1).ok_or_else(|| DecodeError::Invalid {
            field: "principal component count",
            offset: count_offset,
            reason: "0, but version 1 counts the realm".into(),
        })?;
    }
    // Each component takes at least its four length bytes.
    if count as usize > r.remaining() / 4 {
        return Err(DecodeError::Invalid {
            field: "principal component count",
            offset: count_offset,
            reason: format!("{count} components cannot fit in {} bytes", r.remaining()),
        });
    }
    let realm = f.text(r, "principal realm")?;
    let mut components = Vec::with_capacity(count as usize);
    for _ in 0..count {
        components.push(f.text(r, "principal component")?);
    }
    Ok(Principal {
        name_type,
        components,
        realm,
    })
}

/// Writes a principal in the encoding of format `version`.
pub fn write_principal(w: &mut Writer, version: u8, p: &Principal) -> Result<(), EncodeError> {
    let f = Format { version };
    if version != 1 {
        f.put_u32(w, p.name_type as u32);
    }
    let count = p.components.len() + usize::from(version == 1);
    let count = u32::try_from(count).map_err(|_| EncodeError::TooLong {
        field: "principal component count",
        len: count,
        max: u32::MAX as usize,
    })?;
    f.put_u32(w, count);
    f.put_data(w, p.realm.as_bytes(), "principal realm")?;
    for c in &p.components {
        f.put_data(w, c.as_bytes(), "principal component")?;
    }
    Ok(())
}

/// Reads one credential in the encoding of format `version`.
pub fn read_credential(r: &mut Reader<'_>, version: u8) -> Result<Credential, DecodeError> {
    let f = check_version(version)?;
    let client = read_principal(r, version)?;
    let server = read_principal(r, version)?;

    let enctype = f.u16(r, "keyblock enctype")? as i16;
    if version == 3 {
        f.u16(r, "keyblock enctype (repeated)")?;
    }
    let key = f.data(r, "keyblock contents")?.to_vec();

    let authtime = f.u32(r, "authtime")?;
    let starttime = f.u32(r, "starttime")?;
    let endtime = f.u32(r, "endtime")?;
    let renew_till = f.u32(r, "renew_till")?;
    let is_skey = r.u8("is_skey")? != 0;
    let flags = f.u32(r, "ticket flags")?;

    let count_offset = r.offset();
    let count = f.u32(r, "address count")?;
    if count as usize > r.remaining() / 6 {
        return Err(DecodeError::Invalid {
            field: "address count",
            offset: count_offset,
            reason: format!("{count} addresses cannot fit in {} bytes", r.remaining()),
        });
    }
    let mut addresses = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let addr_type = f.u16(r, "address type")?;
        let address = f.data(r, "address")?.to_vec();
        addresses.push(HostAddress {
            addr_type: addr_type.into(),
            address,
        });
    }

    let count_offset = r.offset();
    let count = f.u32(r, "authdata count")?;
    if count as usize > r.remaining() / 6 {
        return Err(DecodeError::Invalid {
            field: "authdata count",
            offset: count_offset,
            reason: format!("{count} elements cannot fit in {} bytes", r.remaining()),
        });
    }
    let mut authdata = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let ad_type = f.u16(r, "authdata type")? as i16;
        let data = f.data(r, "authdata")?.to_vec();
        authdata.push(AuthData {
            ad_type: ad_type.into(),
            data,
        });
    }

    let ticket = f.data(r, "ticket")?.to_vec();
    let second_ticket = f.data(r, "second ticket")?.to_vec();

    Ok(Credential {
        client,
        server,
        session_key: Key::from_raw(enctype.into(), key),
        authtime,
        starttime,
        endtime,
        renew_till,
        is_skey,
        flags,
        addresses,
        authdata,
        ticket,
        second_ticket,
    })
}

/// Writes one credential in the encoding of format `version`.
pub fn write_credential(w: &mut Writer, version: u8, c: &Credential) -> Result<(), EncodeError> {
    let f = Format { version };
    write_principal(w, version, &c.client)?;
    write_principal(w, version, &c.server)?;
    f.put_u16(w, c.session_key.enctype() as u16);
    if version == 3 {
        f.put_u16(w, c.session_key.enctype() as u16);
    }
    f.put_data(w, c.session_key.bytes(), "keyblock contents")?;
    for t in [c.authtime, c.starttime, c.endtime, c.renew_till] {
        f.put_u32(w, t);
    }
    w.u8(u8::from(c.is_skey));
    f.put_u32(w, c.flags);

    let count = u32::try_from(c.addresses.len()).map_err(|_| EncodeError::TooLong {
        field: "address count",
        len: c.addresses.len(),
        max: u32::MAX as usize,
    })?;
    f.put_u32(w, count);
    for a in &c.addresses {
        f.put_u16(w, a.addr_type as u16);
        f.put_data(w, &a.address, "address")?;
    }
    let count = u32::try_from(c.authdata.len()).map_err(|_| EncodeError::TooLong {
        field: "authdata count",
        len: c.authdata.len(),
        max: u32::MAX as usize,
    })?;
    f.put_u32(w, count);
    for ad in &c.authdata {
        f.put_u16(w, ad.ad_type as u16);
        f.put_data(w, &ad.data, "authdata")?;
    }
    f.put_data(w, &c.ticket, "ticket")?;
    f.put_data(w, &c.second_ticket, "second ticket")?;
    Ok(())
}

/// Encodes a principal in the version 4 encoding (KEYRING and KCM use it).
pub fn encode_principal(p: &Principal) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    write_principal(&mut w, 4, p)?;
    Ok(w.into_inner())
}

/// Decodes a whole buffer as one version 4 principal.
pub fn decode_principal(data: &[u8]) -> Result<Principal, DecodeError> {
    let mut r = Reader::new(data);
    let p = read_principal(&mut r, 4)?;
    r.finish("principal")?;
    Ok(p)
}

/// Encodes a credential in the version 4 encoding (KEYRING and KCM use it).
pub fn encode_credential(c: &Credential) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    write_credential(&mut w, 4, c)?;
    Ok(w.into_inner())
}

/// Decodes a whole buffer as one version 4 credential.
pub fn decode_credential(data: &[u8]) -> Result<Credential, DecodeError> {
    let mut r = Reader::new(data);
    let c = read_credential(&mut r, 4)?;
    r.finish("credential")?;
    Ok(c)
}

/// Reads the version and, for version 4, the header fields.
fn read_header(r: &mut Reader<'_>) -> Result<(u8, Option<KdcOffset>), DecodeError> {
    let raw = r.u16("cache version")?;
    let version = match raw {
        0x0501..=0x0504 => (raw - 0x0500) as u8,
        other => {
            return Err(DecodeError::Invalid {
                field: "cache version",
                offset: 0,
                reason: format!("0x{other:04x}; expected 0x0501 to 0x0504"),
            })
        }
    };
    let mut offset = None;
    if version == 4 {
        let len = r.u16("header length")?;
        let mut header = r.sub(len.into(), "header")?;
        while !header.is_empty() {
            let tag = header.u16("header tag")?;
            let field_len = header.u16("header field length")?;
            let mut field = header.sub(field_len.into(), "header field")?;
            if tag == TAG_KDC_OFFSET {
                let start = field.offset();
                if field_len != 8 {
                    return Err(DecodeError::Invalid {
                        field: "KDC time offset",
                        offset: start,
                        reason: format!("{field_len} bytes; expected 8"),
                    });
                }
                offset = Some(KdcOffset {
                    seconds: field.i32("KDC time offset seconds")?,
                    microseconds: field.i32("KDC time offset microseconds")?,
                });
            }
            // Unknown tags are skipped, as MIT does.
        }
    }
    Ok((version, offset))
}

/// The parsed file with the byte range of each credential, for in-place removal.
struct Located {
    file: CacheFile,
    spans: Vec<(usize, usize)>,
}

fn parse_located(data: &[u8]) -> Result<Located, DecodeError> {
    let mut r = Reader::new(data);
    let (version, kdc_offset) = read_header(&mut r)?;
    let principal = read_principal(&mut r, version)?;
    let mut credentials = Vec::new();
    let mut spans = Vec::new();
    while !r.is_empty() {
        let start = r.offset();
        credentials.push(read_credential(&mut r, version)?);
        spans.push((start, r.offset()));
    }
    Ok(Located {
        file: CacheFile {
            version,
            kdc_offset,
            principal,
            credentials,
        },
        spans,
    })
}

/// Parses a whole cache file.
pub fn parse(data: &[u8]) -> Result<CacheFile, DecodeError> {
    parse_located(data).map(|l| l.file)
}

/// Encodes the version, header and default principal of a cache.
pub fn encode_header(
    version: u8,
    kdc_offset: Option<KdcOffset>,
    principal: &Principal,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    w.u16(0x0500 + u16::from(version));
    if version >= 4 {
        match kdc_offset {
            Some(o) => {
                w.u16(12);
                w.u16(TAG_KDC_OFFSET);
                w.u16(8);
                w.i32(o.seconds);
                w.i32(o.microseconds);
            }
            None => w.u16(0),
        }
    }
    write_principal(&mut w, version, principal)?;
    Ok(w.into_inner())
}

/// Encodes a whole cache file. Versions 1 to 4 can be written, though MIT
/// krb5 1.20 writes only version 4.
pub fn encode(file: &CacheFile) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    w.put(&encode_header(
        file.version,
        file.kdc_offset,
        &file.principal,
    )?);
    for c in &file.credentials {
        write_credential(&mut w, file.version, c)?;
    }
    Ok(w.into_inner())
}

/// Takes an fcntl lock on the whole file, held until the file is closed.
///
/// Like MIT krb5 1.20, this takes an open file description lock
/// (`F_OFD_SETLKW`), which also conflicts with classic POSIX record locks,
/// and falls back to `F_SETLKW` on kernels older than Linux 3.15.
fn lock(file: &File, exclusive: bool) -> io::Result<()> {
    let lock = nix::libc::flock {
        l_type: if exclusive {
            nix::libc::F_WRLCK as i16
        } else {
            nix::libc::F_RDLCK as i16
        },
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    match fcntl(file.as_fd(), FcntlArg::F_OFD_SETLKW(&lock)) {
        Err(nix::errno::Errno::EINVAL) => fcntl(file.as_fd(), FcntlArg::F_SETLKW(&lock)),
        other => other,
    }
    .map(|_| ())
    .map_err(io::Error::from)
}

/// A FILE cache at a path.
#[derive(Debug, Clone)]
pub struct FileCache {
    path: PathBuf,
}

impl FileCache {
    pub fn new(path: PathBuf) -> Result<Self, CcacheError> {
        if path.as_os_str().is_empty() {
            return Err(CcacheError::InvalidName {
                name: "FILE:".into(),
                reason: "the path is empty".into(),
            });
        }
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, e: io::Error) -> CcacheError {
        CcacheError::io(&self.name(), e)
    }

    fn format_error(&self, source: DecodeError) -> CcacheError {
        CcacheError::Format {
            name: self.name(),
            source,
        }
    }

    fn encode_error(&self, source: EncodeError) -> CcacheError {
        CcacheError::Encode {
            name: self.name(),
            source,
        }
    }

    /// Reads and parses the whole file under a shared lock.
    pub fn read(&self) -> Result<CacheFile, CcacheError> {
        let mut file = File::open(&self.path).map_err(|e| self.io_error(e))?;
        lock(&file, false).map_err(|e| self.io_error(e))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(|e| self.io_error(e))?;
        self.check_not_empty(&data)?;
        parse(&data).map_err(|e| self.format_error(e))
    }

    /// Reports an empty file (as [`super::dir::DirCache::new_unique`] leaves) as a cache
    /// that was never initialized, not as a format error.
    fn check_not_empty(&self, data: &[u8]) -> Result<(), CcacheError> {
        if data.is_empty() {
            Err(CcacheError::NotInitialized { name: self.name() })
        } else {
            Ok(())
        }
    }

    /// Opens the file for update under an exclusive lock and parses it.
    fn open_for_update(&self) -> Result<(File, Located), CcacheError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_CLOEXEC)
            .open(&self.path)
            .map_err(|e| self.io_error(e))?;
        lock(&file, true).map_err(|e| self.io_error(e))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(|e| self.io_error(e))?;
        self.check_not_empty(&data)?;
        let located = parse_located(&data).map_err(|e| self.format_error(e))?;
        Ok((file, located))
    }

    /// Marks the credentials selected by `matches` removed, in place and
    /// with entries of the same length, the way MIT's `krb5_cc_remove_cred`
    /// does, so that concurrent readers never see a half-rewritten file.
    fn mark_removed(
        &self,
        file: &File,
        located: &Located,
        matches: impl Fn(&Credential) -> bool,
    ) -> Result<usize, CcacheError> {
        let version = located.file.version;
        let mut removed = 0;
        for (cred, (start, end)) in located.file.credentials.iter().zip(&located.spans) {
            if is_removed(cred) || !matches(cred) {
                continue;
            }
            let mut marked = cred.clone();
            marked.endtime = 0;
            marked.authtime = u32::MAX;
            if marked.server.realm == CONFIG_REALM {
                marked.server.realm = REMOVED_CONFIG_REALM.into();
            }
            let mut w = Writer::new();
            write_credential(&mut w, version, &marked).map_err(|e| self.encode_error(e))?;
            if w.len() != end - start {
                return Err(self.format_error(DecodeError::Invalid {
                    field: "credential",
                    offset: *start,
                    reason: "re-encoding changed its length; the entry is not in canonical form"
                        .into(),
                }));
            }
            file.write_all_at(w.as_slice(), *start as u64)
                .map_err(|e| self.io_error(e))?;
            removed += 1;
        }
        Ok(removed)
    }
}

impl CredentialCache for FileCache {
    fn name(&self) -> String {
        format!("FILE:{}", self.path.display())
    }

    fn principal(&self) -> Result<Principal, CcacheError> {
        Ok(self.read()?.principal)
    }

    /// Replaces the file as MIT does: unlink, then create with `O_EXCL`
    /// and mode 0600, so a link planted in a shared directory such as /tmp
    /// is never followed.
    fn initialize_with_offset(
        &self,
        principal: &Principal,
        offset: Option<KdcOffset>,
    ) -> Result<(), CcacheError> {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io_error(e)),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_CLOEXEC)
            .open(&self.path)
            .map_err(|e| self.io_error(e))?;
        // The umask may have cleared bits, never added any; set 0600 exactly.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| self.io_error(e))?;
        lock(&file, true).map_err(|e| self.io_error(e))?;
        let header =
            encode_header(DEFAULT_VERSION, offset, principal).map_err(|e| self.encode_error(e))?;
        file.write_all(&header).map_err(|e| self.io_error(e))
    }

    fn entries(&self) -> Result<Vec<Credential>, CcacheError> {
        let mut creds = self.read()?.credentials;
        creds.retain(|c| !is_removed(c));
        Ok(creds)
    }

    /// Marks older entries for the same client and server removed, then
    /// appends `cred` in the file's own version.
    fn store(&self, cred: &Credential) -> Result<(), CcacheError> {
        let (mut file, located) = self.open_for_update()?;
        self.mark_removed(&file, &located, |c| {
            c.client.same_name(&cred.client) && c.server.same_name(&cred.server)
        })?;
        let mut w = Writer::new();
        write_credential(&mut w, located.file.version, cred).map_err(|e| self.encode_error(e))?;
        file.seek(SeekFrom::End(0)).map_err(|e| self.io_error(e))?;
        file.write_all(w.as_slice()).map_err(|e| self.io_error(e))
    }

    fn remove(&self, server: &Principal) -> Result<usize, CcacheError> {
        let (file, located) = self.open_for_update()?;
        self.mark_removed(&file, &located, |c| c.server.same_name(server))
    }

    /// Zeroes the file's contents before unlinking it, as MIT does, so the
    /// keys do not linger in blocks another hard link could still reach.
    fn destroy(&self) -> Result<(), CcacheError> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_CLOEXEC)
            .open(&self.path)
            .map_err(|e| self.io_error(e))?;
        lock(&file, true).map_err(|e| self.io_error(e))?;
        let len = file.metadata().map_err(|e| self.io_error(e))?.len();
        let zeros = vec![0u8; 8192];
        let mut pos = 0u64;
        while pos < len {
            let n = (len - pos).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], pos)
                .map_err(|e| self.io_error(e))?;
            pos += n as u64;
        }
        fs::remove_file(&self.path).map_err(|e| self.io_error(e))
    }

    fn kdc_offset(&self) -> Result<Option<KdcOffset>, CcacheError> {
        Ok(self.read()?.kdc_offset)
    }
}

#[cfg(test)]
pub(crate) mod tests;
