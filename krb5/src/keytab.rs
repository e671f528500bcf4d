//! MIT krb5's keytab file format, and key selection from a keytab.
//!
//! A keytab file is a 16-bit version (`0x0502`, or `0x0501` for the old
//! DCE-compatible format) followed by records. Each record starts with a
//! signed 32-bit length: a positive length gives the size of an entry, a
//! negative one a hole of that many bytes left behind by a deleted entry, and
//! zero ends the keytab. Version 2 stores every integer big-endian. Version 1
//! stores them in the writing host's byte order, counts the realm among the
//! principal's components and has no name type.
//!
//! An entry is: component count (16 bits), realm and components (each a
//! 16-bit length and bytes), name type (32 bits, version 2 only), timestamp
//! (32 bits), kvno (8 bits), enctype (16 bits), key (16-bit length and bytes)
//! and, when at least four bytes of the record remain, a 32-bit kvno that
//! replaces the 8-bit one unless it is zero. A record may be longer than its
//! entry, because MIT krb5 reuses holes larger than the entry it writes.
//!
//! [`Keytab::parse`] and [`Keytab::to_bytes`] are pure; [`Keytab::load`] and
//! [`Keytab::save`] add the file name handling (`FILE:`, `WRFILE:` or a bare
//! path) and the file system.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::codec::{DecodeError, EncodeError, Reader, Writer};
use crate::crypto::Key;
use crate::iana::name_type;
use crate::principal::Principal;

/// The current keytab format version, written by [`Keytab::to_bytes`].
pub const VERSION_2: u16 = 0x0502;
/// The old format that stores integers in host byte order; read only.
pub const VERSION_1: u16 = 0x0501;

/// Errors from loading, saving or naming a keytab.
#[derive(Debug, thiserror::Error)]
pub enum KeytabError {
    #[error("cannot read keytab {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write keytab {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("invalid keytab {path}: {source}")]
    Format { path: PathBuf, source: DecodeError },
    #[error("cannot encode keytab {path}: {source}")]
    Encode { path: PathBuf, source: EncodeError },
    #[error("unsupported keytab type in {name:?}; use FILE:/path, WRFILE:/path or a bare path")]
    UnsupportedType { name: String },
    #[error("invalid keytab name {name:?}: the path is empty")]
    EmptyPath { name: String },
}

/// One key of one principal.
#[derive(Clone, PartialEq, Eq)]
pub struct KeytabEntry {
    pub principal: Principal,
    /// Seconds since the Unix epoch when the entry was written.
    pub timestamp: u32,
    /// The full kvno: the 32-bit field when present and nonzero, else the 8-bit one.
    pub kvno: u32,
    pub key: Key,
}

impl fmt::Debug for KeytabEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeytabEntry")
            .field("principal", &self.principal.to_string())
            .field("timestamp", &self.timestamp)
            .field("kvno", &self.kvno)
            .field("key", &self.key)
            .finish()
    }
}

/// Why [`Keytab::select_key`] found no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLookupError {
    #[error("no keytab entry for {principal}{enctype_note}")]
    NoEntry {
        principal: String,
        enctype_note: String,
    },
    #[error("keytab has {principal}{enctype_note} but not with kvno {kvno} (kvnos present: {present:?}); the keytab is older than the key the KDC used, so refresh it")]
    WrongKvno {
        principal: String,
        enctype_note: String,
        kvno: u32,
        present: Vec<u32>,
    },
}

/// The entries of a keytab, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keytab {
    entries: Vec<KeytabEntry>,
}

/// The file behind a keytab name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeytabName {
    pub path: PathBuf,
    /// True for `WRFILE:`, MIT's name for a keytab opened for writing.
    pub writable: bool,
}

impl KeytabName {
    /// Parses `FILE:path`, `WRFILE:path` or a bare path. Other types are rejected.
    pub fn parse(name: &str) -> Result<Self, KeytabError> {
        let (writable, path) = if let Some(path) = name.strip_prefix("FILE:") {
            (false, path)
        } else if let Some(path) = name.strip_prefix("WRFILE:") {
            (true, path)
        } else if name.starts_with('/') || name.starts_with('.') || !name.contains(':') {
            (false, name)
        } else {
            return Err(KeytabError::UnsupportedType {
                name: name.to_string(),
            });
        };
        if path.is_empty() {
            return Err(KeytabError::EmptyPath {
                name: name.to_string(),
            });
        }
        Ok(Self {
            path: PathBuf::from(path),
            writable,
        })
    }
}

/// Byte order of the integers in one keytab version.
#[derive(Clone, Copy)]
enum Order {
    Big,
    Native,
}

fn get_u16(r: &mut Reader<'_>, order: Order, field: &'static str) -> Result<u16, DecodeError> {
    let bytes = r.array(field)?;
    Ok(match order {
        Order::Big => u16::from_be_bytes(bytes),
        Order::Native => u16::from_ne_bytes(bytes),
    })
}

fn get_u32(r: &mut Reader<'_>, order: Order, field: &'static str) -> Result<u32, DecodeError> {
    let bytes = r.array(field)?;
    Ok(match order {
        Order::Big => u32::from_be_bytes(bytes),
        Order::Native => u32::from_ne_bytes(bytes),
    })
}

/// Reads a 16-bit length and that many bytes as UTF-8 text. MIT rejects a
/// zero length here, and so do we.
fn get_text(r: &mut Reader<'_>, order: Order, field: &'static str) -> Result<String, DecodeError> {
    let start = r.offset();
    let len = get_u16(r, order, field)?;
    if len == 0 || len > i16::MAX as u16 {
        return Err(DecodeError::Invalid {
            field,
            offset: start,
            reason: format!("length {len} is outside 1..=32767"),
        });
    }
    let bytes = r.take(len.into(), field)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid {
        field,
        offset: start + 2,
        reason: "not valid UTF-8".into(),
    })
}

fn parse_entry(r: &mut Reader<'_>, order: Order, version: u16) -> Result<KeytabEntry, DecodeError> {
    let count_offset = r.offset();
    let mut count = get_u16(r, order, "principal component count")?;
    if version == VERSION_1 {
        // Version 1 counts the realm as a component.
        count = count.wrapping_sub(1);
    }
    if count == 0 || count > i16::MAX as u16 {
        return Err(DecodeError::Invalid {
            field: "principal component count",
            offset: count_offset,
            reason: format!("{count} components; expected 1..=32767"),
        });
    }

    let realm = get_text(r, order, "principal realm")?;
    let mut components = Vec::with_capacity(usize::from(count).min(r.remaining() / 2));
    for _ in 0..count {
        components.push(get_text(r, order, "principal component")?);
    }
    let principal_type = if version == VERSION_1 {
        name_type::UNKNOWN
    } else {
        get_u32(r, order, "principal name type")? as i32
    };

    let timestamp = get_u32(r, order, "timestamp")?;
    let kvno8 = r.u8("8-bit kvno")?;
    let enctype = get_u16(r, order, "key enctype")? as i16;
    let key_offset = r.offset();
    let key_len = get_u16(r, order, "key length")?;
    if key_len == 0 || key_len > i16::MAX as u16 {
        return Err(DecodeError::Invalid {
            field: "key length",
            offset: key_offset,
            reason: format!("length {key_len} is outside 1..=32767"),
        });
    }
    let key_bytes = r.take(key_len.into(), "key contents")?.to_vec();

    // MIT reads the 32-bit kvno whenever four bytes of the record are left,
    // and treats zero as padding.
    let mut kvno = u32::from(kvno8);
    if r.remaining() >= 4 {
        let kvno32 = get_u32(r, order, "32-bit kvno")?;
        if kvno32 != 0 {
            kvno = kvno32;
        }
    }

    Ok(KeytabEntry {
        principal: Principal {
            name_type: principal_type,
            components,
            realm,
        },
        timestamp,
        kvno,
        key: Key::from_raw(enctype.into(), key_bytes),
    })
}

/// Returns true if `a` is the newer key by MIT krb5 1.20's rule. A small kvno
/// (below 128) written no earlier than a large one (above 240) is taken to
/// have wrapped around, so it counts as newer. Otherwise the larger kvno wins.
fn more_recent(a: &KeytabEntry, b: &KeytabEntry) -> bool {
    if a.timestamp >= b.timestamp && a.kvno < 128 && b.kvno > 240 {
        return true;
    }
    if a.timestamp <= b.timestamp && a.kvno > 240 && b.kvno < 128 {
        return false;
    }
    a.kvno > b.kvno
}

impl Keytab {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a keytab file's bytes (version 1 or 2).
    ///
    /// A zero record length ends the keytab, and any bytes after it are
    /// ignored as MIT krb5 does: they can be an entry whose write was cut
    /// short before its length was committed.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let version = r.u16("keytab version")?;
        let order = match version {
            VERSION_2 => Order::Big,
            VERSION_1 => Order::Native,
            other => {
                return Err(DecodeError::Invalid {
                    field: "keytab version",
                    offset: 0,
                    reason: format!("0x{other:04x}; expected 0x0502 or 0x0501"),
                })
            }
        };

        let mut entries = Vec::new();
        while !r.is_empty() {
            let length_offset = r.offset();
            let length = get_u32(&mut r, order, "record length")? as i32;
            if length == 0 {
                break;
            }
            if length == i32::MIN {
                return Err(DecodeError::Invalid {
                    field: "record length",
                    offset: length_offset,
                    reason: "-2147483648 is not a valid hole size".into(),
                });
            }
            let size = length.unsigned_abs() as usize;
            if length < 0 {
                r.take(size, "hole")?;
                continue;
            }
            let mut record = r.sub(size, "entry")?;
            entries.push(parse_entry(&mut record, order, version)?);
            // Bytes left in the record are padding from a reused hole.
        }
        Ok(Self { entries })
    }

    /// Encodes the keytab in version 2, one record per entry with no holes.
    /// The 8-bit kvno is the low byte of the kvno, and the 32-bit kvno is
    /// always written.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        w.u16(VERSION_2);
        for entry in &self.entries {
            let record = encode_entry(entry)?;
            let len = i32::try_from(record.len()).map_err(|_| EncodeError::TooLong {
                field: "keytab entry",
                len: record.len(),
                max: i32::MAX as usize,
            })?;
            w.i32(len);
            w.put(&record);
        }
        Ok(w.into_inner())
    }

    /// Reads the keytab named `name` (`FILE:path`, `WRFILE:path` or a path).
    pub fn load(name: &str) -> Result<Self, KeytabError> {
        let name = KeytabName::parse(name)?;
        Self::load_path(&name.path)
    }

    /// Reads the keytab file at `path`.
    pub fn load_path(path: &Path) -> Result<Self, KeytabError> {
        let data = fs::read(path).map_err(|source| KeytabError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&data).map_err(|source| KeytabError::Format {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the keytab to `name`, replacing the file atomically: the bytes
    /// go to a new file (mode 0600) in the same directory, which is synced
    /// and renamed over the old one.
    pub fn save(&self, name: &str) -> Result<(), KeytabError> {
        let name = KeytabName::parse(name)?;
        let path = name.path;
        let data = self.to_bytes().map_err(|source| KeytabError::Encode {
            path: path.clone(),
            source,
        })?;
        write_atomically(&path, &data).map_err(|source| KeytabError::Write { path, source })
    }

    pub fn entries(&self) -> &[KeytabEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry. Entries with the same principal, kvno and enctype
    /// may coexist, as in MIT's keytabs.
    pub fn add_entry(&mut self, entry: KeytabEntry) {
        self.entries.push(entry);
    }

    /// Removes the entries of `principal` (all, or only those with `kvno`)
    /// and returns how many were removed.
    pub fn remove_entries(&mut self, principal: &Principal, kvno: Option<u32>) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.principal.same_name(principal) && kvno.is_none_or(|k| e.kvno == k)));
        before - self.entries.len()
    }

    /// Returns the distinct principals, in file order.
    pub fn principals(&self) -> Vec<&Principal> {
        let mut out: Vec<&Principal> = Vec::new();
        for e in &self.entries {
            if !out.iter().any(|p| p.same_name(&e.principal)) {
                out.push(&e.principal);
            }
        }
        out
    }

    /// Selects a key as MIT krb5 1.20's `krb5_kt_get_entry` does for FILE
    /// keytabs; see [`Keytab::select_key`].
    pub fn find_key(
        &self,
        principal: Option<&Principal>,
        kvno: Option<u32>,
        enctype: i32,
    ) -> Option<&KeytabEntry> {
        self.select_key(principal, kvno, enctype).ok()
    }

    /// Selects the key for `principal` (any principal when `None`), `kvno`
    /// and `enctype` (any enctype when 0).
    ///
    /// Principals match on components and realm, not on name type. Callers
    /// holding a principal with an empty (referral) realm should put the
    /// default realm in first, as MIT's `krb5_kt_get_entry` does.
    ///
    /// Without a kvno, or for entries stored with kvno 0, the most recent
    /// key wins by [`more_recent`]'s wrap-aware comparison. With a kvno, an
    /// exact match wins. Failing that, the first entry whose kvno equals the
    /// requested kvno's low 8 bits wins, because the entry may have been
    /// written with only the 8-bit field.
    pub fn select_key(
        &self,
        principal: Option<&Principal>,
        kvno: Option<u32>,
        enctype: i32,
    ) -> Result<&KeytabEntry, KeyLookupError> {
        let kvno = kvno.filter(|k| *k != 0);
        let mut chosen: Option<&KeytabEntry> = None;
        let mut wrong_kvnos: Vec<u32> = Vec::new();

        for entry in &self.entries {
            if principal.is_some_and(|p| !p.same_name(&entry.principal)) {
                continue;
            }
            if enctype != 0 && entry.key.enctype() != enctype {
                continue;
            }
            match kvno {
                Some(wanted) if entry.kvno != 0 => {
                    if entry.kvno == wanted {
                        chosen = Some(entry);
                        break;
                    } else if entry.kvno == (wanted & 0xff) && chosen.is_none() {
                        chosen = Some(entry);
                    } else if !wrong_kvnos.contains(&entry.kvno) {
                        wrong_kvnos.push(entry.kvno);
                    }
                }
                _ => {
                    if chosen.is_none_or(|c| more_recent(entry, c)) {
                        chosen = Some(entry);
                    }
                }
            }
        }

        chosen.ok_or_else(|| {
            let principal =
                principal.map_or_else(|| "any principal".to_string(), |p| p.to_string());
            let enctype_note = match enctype {
                0 => String::new(),
                e => format!(
                    " with enctype {}",
                    crate::iana::enctype::name(e).map_or_else(|| e.to_string(), str::to_string)
                ),
            };
            match kvno {
                Some(kvno) if !wrong_kvnos.is_empty() => KeyLookupError::WrongKvno {
                    principal,
                    enctype_note,
                    kvno,
                    present: wrong_kvnos,
                },
                _ => KeyLookupError::NoEntry {
                    principal,
                    enctype_note,
                },
            }
        })
    }
}

fn encode_entry(entry: &KeytabEntry) -> Result<Vec<u8>, EncodeError> {
    let p = &entry.principal;
    let mut w = Writer::new();
    let count = u16::try_from(p.components.len())
        .ok()
        .filter(|c| *c <= i16::MAX as u16)
        .ok_or(EncodeError::TooLong {
            field: "principal component count",
            len: p.components.len(),
            max: i16::MAX as usize,
        })?;
    w.u16(count);
    w.bytes_u16(p.realm.as_bytes(), "principal realm")?;
    for c in &p.components {
        w.bytes_u16(c.as_bytes(), "principal component")?;
    }
    w.i32(p.name_type);
    w.u32(entry.timestamp);
    w.u8((entry.kvno & 0xff) as u8);
    w.u16(entry.key.enctype() as u16);
    w.bytes_u16(entry.key.bytes(), "key contents")?;
    w.u32(entry.kvno);
    Ok(w.into_inner())
}

/// Replaces `path` with `data` through a new 0600 file in the same
/// directory and a rename, so readers see either the old or the new file.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keytab".into());

    let mut attempt = 0u32;
    let (tmp_path, mut file) = loop {
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).map_err(|e| io::Error::other(e.to_string()))?;
        let tmp_path = dir.join(format!(".{base}.{}.tmp", hex::encode(suffix)));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp_path)
        {
            Ok(f) => break (tmp_path, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) => return Err(e),
        }
    };

    let result = file
        .write_all(data)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp_path, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result
}

#[cfg(test)]
mod tests;
