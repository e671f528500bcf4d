//! User and group lookups from /etc/passwd and /etc/group, read directly so
//! that a static binary needs no glibc NSS modules.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// A passwd and group file pair, parsed again only when one of them
/// changes, so that account changes apply without a restart, as NSS
/// lookups do, while unchanged files cost two stat(2) calls.
#[derive(Debug)]
pub struct AccountFiles {
    passwd: PathBuf,
    group: PathBuf,
    loaded: Mutex<Option<LoadedAccounts>>,
}

/// The accounts last read from the files, with the versions they came from.
#[derive(Debug)]
struct LoadedAccounts {
    versions: [Option<FileVersion>; 2],
    accounts: Arc<Accounts>,
}

/// The identity of one version of a file: a change of content changes
/// the size or the modification time, and a replacement (how useradd and
/// vipw write) changes the inode. A missing file has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
}

impl FileVersion {
    fn of(path: &Path) -> std::io::Result<Option<FileVersion>> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileVersion {
                device: m.dev(),
                inode: m.ino(),
                size: m.size(),
                modified: (m.mtime(), m.mtime_nsec()),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl std::fmt::Display for AccountFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} or {}", self.passwd.display(), self.group.display())
    }
}

impl AccountFiles {
    pub fn new(passwd: &Path, group: &Path) -> Self {
        Self {
            passwd: passwd.to_owned(),
            group: group.to_owned(),
            loaded: Mutex::new(None),
        }
    }

    /// Returns the process's shared view of /etc/passwd and /etc/group.
    pub fn system() -> &'static AccountFiles {
        static SYSTEM: OnceLock<AccountFiles> = OnceLock::new();
        SYSTEM.get_or_init(|| AccountFiles::new(Path::new("/etc/passwd"), Path::new("/etc/group")))
    }

    /// Returns the accounts, parsing the files again only when one of them
    /// changed since the last call.
    pub fn current(&self) -> std::io::Result<Arc<Accounts>> {
        let versions = [
            FileVersion::of(&self.passwd)?,
            FileVersion::of(&self.group)?,
        ];
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = loaded.as_ref().filter(|l| l.versions == versions) {
            return Ok(Arc::clone(&current.accounts));
        }
        let accounts = Arc::new(Accounts::load(&self.passwd, &self.group)?);
        *loaded = Some(LoadedAccounts {
            versions,
            accounts: Arc::clone(&accounts),
        });
        Ok(accounts)
    }
}

/// One /etc/passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// One /etc/group entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The local user and group databases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

impl Accounts {
    /// Reads `passwd` and `group` files. A missing file reads as empty; a
    /// line that is not a valid entry is skipped, as glibc's files module does.
    pub fn load(passwd: &Path, group: &Path) -> std::io::Result<Self> {
        let read = |path: &Path| match std::fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e),
        };
        Ok(Self::parse(&read(passwd)?, &read(group)?))
    }

    pub fn parse(passwd: &str, group: &str) -> Self {
        Self {
            users: passwd.lines().filter_map(parse_user).collect(),
            groups: group.lines().filter_map(parse_group).collect(),
        }
    }

    /// Finds a user by name; the first entry wins, as in glibc.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Returns the supplementary groups of `user`: every group that lists
    /// the user as a member, without the primary group, in file order and
    /// without duplicates, as getgrouplist(3) gives them after the primary.
    pub fn supplementary_groups(&self, user: &User) -> Vec<u32> {
        let mut out = Vec::new();
        for group in &self.groups {
            if group.gid != user.gid
                && group.members.contains(&user.name)
                && !out.contains(&group.gid)
            {
                out.push(group.gid);
            }
        }
        out
    }
}

fn parse_user(line: &str) -> Option<User> {
    if line.starts_with('#') || line.starts_with('+') || line.starts_with('-') {
        return None;
    }
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 7 || fields[0].is_empty() {
        return None;
    }
    Some(User {
        name: fields[0].to_string(),
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
    })
}

fn parse_group(line: &str) -> Option<Group> {
    if line.starts_with('#') || line.starts_with('+') || line.starts_with('-') {
        return None;
    }
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 4 || fields[0].is_empty() {
        return None;
    }
    Some(Group {
        name: fields[0].to_string(),
        gid: fields[2].parse().ok()?,
        members: fields[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        # a comment\n\
        alice:x:1001:1001:Alice:/home/alice:/bin/sh\n\
        broken:x:notanumber:1:::\n\
        short:x:5\n\
        alice:x:2002:2002:Second Alice:/:/bin/false\n";
    const GROUP: &str = "root:x:0:\n\
        alice:x:1001:\n\
        users:x:100:alice,bob\n\
        staff:x:50:bob,alice\n\
        dup:x:100:alice\n\
        self:x:1001:alice\n";

    #[test]
    fn user_lookup_first_entry_wins() {
        let accounts = Accounts::parse(PASSWD, GROUP);
        let alice = accounts.user("alice").unwrap();
        assert_eq!(alice.uid, 1001);
        assert_eq!(alice.gid, 1001);
        assert!(accounts.user("broken").is_none());
        assert!(accounts.user("short").is_none());
        assert!(accounts.user("nobody").is_none());
    }

    #[test]
    fn supplementary_groups_skip_primary_and_duplicates() {
        let accounts = Accounts::parse(PASSWD, GROUP);
        let alice = accounts.user("alice").unwrap();
        assert_eq!(accounts.supplementary_groups(alice), [100, 50]);
    }

    #[test]
    fn missing_files_read_as_empty() {
        let accounts = Accounts::load(
            Path::new("/nonexistent/passwd"),
            Path::new("/nonexistent/group"),
        )
        .unwrap();
        assert!(accounts.users.is_empty());
    }
}
