//! User and group lookups from /etc/passwd and /etc/group, read directly so
//! that a static binary needs no glibc NSS modules.

use std::path::Path;

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

    /// Reads /etc/passwd and /etc/group.
    pub fn load_system() -> std::io::Result<Self> {
        Self::load(Path::new("/etc/passwd"), Path::new("/etc/group"))
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
