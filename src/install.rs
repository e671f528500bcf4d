//! `rgssd install`: copies the running binary, the tool links, the systemd
//! units and the man pages into a prefix, in the layout of Debian's
//! nfs-common and krb5-user packages: the daemons' names in `sbin`, the
//! Kerberos tools in `bin`.
//!
//! The units and man pages are compiled into the binary, so a copy of the
//! static binary alone can install itself. `--destdir` stages the files
//! under another root for packaging while the units and links keep naming
//! the final paths, and `--dry-run` only lists what would be written.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::tools::getopt::{self, HasArg, LongOption, OptionId};
use crate::tools::{Invocation, FAILURE};

/// The name of the multi-call binary in `PREFIX/bin`.
pub const BINARY: &str = "rgssd";

/// The default prefix. systemd reads units from
/// `/usr/local/lib/systemd/system` before the packaged `/lib/systemd/system`,
/// so the units installed there replace nfs-common's units of the same names.
pub const DEFAULT_PREFIX: &str = "/usr/local";

/// The placeholder in the unit templates that `install` replaces with
/// `PREFIX/sbin`.
pub const SBINDIR_PLACEHOLDER: &str = "@sbindir@";

/// A directory under the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Bin,
    Sbin,
}

impl Dir {
    pub fn name(self) -> &'static str {
        match self {
            Dir::Bin => "bin",
            Dir::Sbin => "sbin",
        }
    }
}

/// The links to the binary that select a tool by their file name, and the
/// directory each goes in: nfs-common puts the daemons in `/usr/sbin` and
/// krb5-user the tools in `/usr/bin`.
pub const LINKS: &[(&str, Dir)] = &[
    ("rpc.gssd", Dir::Sbin),
    ("rpc.svcgssd", Dir::Sbin),
    ("kinit", Dir::Bin),
    ("klist", Dir::Bin),
    ("kvno", Dir::Bin),
    ("kdestroy", Dir::Bin),
];

/// The systemd unit templates, named as nfs-utils names its units.
pub const UNITS: &[(&str, &str)] = &[
    (
        "rpc-gssd.service",
        include_str!("../systemd/rpc-gssd.service"),
    ),
    (
        "rpc-svcgssd.service",
        include_str!("../systemd/rpc-svcgssd.service"),
    ),
];

/// The man pages, all in section 8.
pub const MAN_PAGES: &[(&str, &str)] = &[
    ("rgssd.8", include_str!("../man/rgssd.8")),
    ("rpc.gssd.8", include_str!("../man/rpc.gssd.8")),
    ("rpc.svcgssd.8", include_str!("../man/rpc.svcgssd.8")),
];

/// The installation paths. `prefix` and `unit_dir` are the final paths,
/// which the units and links name. `destdir`, when set, is prepended to
/// every path written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub prefix: PathBuf,
    pub unit_dir: PathBuf,
    pub destdir: Option<PathBuf>,
}

impl Layout {
    /// Returns the layout for `prefix`, with the units in
    /// `PREFIX/lib/systemd/system`.
    pub fn new(prefix: impl Into<PathBuf>) -> Self {
        let prefix = prefix.into();
        Self {
            unit_dir: prefix.join("lib/systemd/system"),
            prefix,
            destdir: None,
        }
    }

    pub fn dir(&self, dir: Dir) -> PathBuf {
        self.prefix.join(dir.name())
    }

    pub fn man8_dir(&self) -> PathBuf {
        self.prefix.join("share/man/man8")
    }

    /// Returns the path actually written for the final path `path`.
    pub fn staged(&self, path: &Path) -> PathBuf {
        match &self.destdir {
            Some(destdir) => destdir.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_path_buf(),
        }
    }
}

/// The source of a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A copy of this file.
    Copy(PathBuf),
    /// This text.
    Text(String),
}

/// One step of the installation, with final (not staged) paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    File {
        path: PathBuf,
        mode: u32,
        content: Content,
    },
    Link {
        path: PathBuf,
        target: PathBuf,
    },
}

impl Step {
    pub fn path(&self) -> &Path {
        match self {
            Step::File { path, .. } | Step::Link { path, .. } => path,
        }
    }

    /// Describes the step for the listing, with the staged path.
    pub fn describe(&self, layout: &Layout) -> String {
        let staged = layout.staged(self.path());
        match self {
            Step::File {
                mode,
                content: Content::Copy(source),
                ..
            } => format!(
                "{} (mode {mode:04o}, copy of {})",
                staged.display(),
                source.display()
            ),
            Step::File { mode, .. } => format!("{} (mode {mode:04o})", staged.display()),
            Step::Link { target, .. } => format!("{} -> {}", staged.display(), target.display()),
        }
    }
}

/// Lists the steps that install `binary` in `layout`, in order: the binary,
/// its links, the units, the man pages.
pub fn plan(layout: &Layout, binary: &Path) -> Vec<Step> {
    let mut steps = vec![Step::File {
        path: layout.dir(Dir::Bin).join(BINARY),
        mode: 0o755,
        content: Content::Copy(binary.to_path_buf()),
    }];
    for (name, dir) in LINKS {
        // Relative targets keep working when the tree is staged or moved.
        let target = match dir {
            Dir::Bin => PathBuf::from(BINARY),
            Dir::Sbin => Path::new("../bin").join(BINARY),
        };
        steps.push(Step::Link {
            path: layout.dir(*dir).join(name),
            target,
        });
    }

    let sbindir = layout.dir(Dir::Sbin);
    for (name, template) in UNITS {
        steps.push(Step::File {
            path: layout.unit_dir.join(name),
            mode: 0o644,
            content: Content::Text(
                template.replace(SBINDIR_PLACEHOLDER, &sbindir.to_string_lossy()),
            ),
        });
    }
    for (name, page) in MAN_PAGES {
        steps.push(Step::File {
            path: layout.man8_dir().join(name),
            mode: 0o644,
            content: Content::Text(page.to_string()),
        });
    }
    steps
}

/// Returns a message for each link that would replace something other than
/// a symbolic link, such as MIT's `kinit` when the prefix is `/usr`.
pub fn conflicts(layout: &Layout, steps: &[Step]) -> Vec<String> {
    let mut messages = Vec::new();
    for step in steps {
        let Step::Link { path, .. } = step else {
            continue;
        };
        let staged = layout.staged(path);
        if let Ok(metadata) = fs::symlink_metadata(&staged) {
            if !metadata.file_type().is_symlink() {
                messages.push(format!(
                    "{} exists and is not a symbolic link; remove it or choose another --prefix",
                    staged.display()
                ));
            }
        }
    }
    messages
}

/// Carries out one step. Each file or link is made under a temporary name
/// and renamed into place, so a running binary is replaced, not rewritten.
pub fn apply(layout: &Layout, step: &Step) -> io::Result<()> {
    let staged = layout.staged(step.path());
    let parent = staged.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent)?;
    let mut temporary_name = OsString::from(".");
    temporary_name.push(staged.file_name().unwrap_or_default());
    temporary_name.push(".rgssd-new");
    let temporary = parent.join(temporary_name);
    let _ = fs::remove_file(&temporary);

    match step {
        Step::File { mode, content, .. } => {
            match content {
                Content::Copy(source) => {
                    fs::copy(source, &temporary)?;
                }
                Content::Text(text) => fs::write(&temporary, text)?,
            }
            fs::set_permissions(&temporary, fs::Permissions::from_mode(*mode))?;
        }
        Step::Link { target, .. } => std::os::unix::fs::symlink(target, &temporary)?,
    }
    fs::rename(&temporary, &staged).inspect_err(|_| {
        let _ = fs::remove_file(&temporary);
    })
}

const USAGE: &str =
    "usage: rgssd install [--prefix DIR] [--unit-dir DIR] [--destdir DIR] [--dry-run]";

/// The option letters of `rgssd install`: only `-h`.
pub const SHORT_OPTIONS: &str = "h";

/// The long options of `rgssd install`.
pub const LONG_OPTIONS: &[LongOption] = &[
    LongOption {
        name: "prefix",
        has_arg: HasArg::Required,
        id: OptionId::Long("prefix"),
    },
    LongOption {
        name: "unit-dir",
        has_arg: HasArg::Required,
        id: OptionId::Long("unit-dir"),
    },
    LongOption {
        name: "destdir",
        has_arg: HasArg::Required,
        id: OptionId::Long("destdir"),
    },
    LongOption {
        name: "dry-run",
        has_arg: HasArg::No,
        id: OptionId::Long("dry-run"),
    },
    LongOption {
        name: "help",
        has_arg: HasArg::No,
        id: OptionId::Long("help"),
    },
];

/// Parses the command line into a layout and the dry-run flag. `destdir`
/// is the `DESTDIR` environment variable, which `--destdir` overrides.
pub fn parse_args(
    program: &str,
    args: &[String],
    destdir: Option<String>,
) -> Result<(Layout, bool), Vec<String>> {
    let parsed = getopt::parse(program, args, SHORT_OPTIONS, LONG_OPTIONS);
    let mut errors = parsed.errors;
    let mut prefix = PathBuf::from(DEFAULT_PREFIX);
    let mut unit_dir = None;
    let mut destdir = destdir.filter(|d| !d.is_empty()).map(PathBuf::from);
    let mut dry_run = false;
    for (id, value) in parsed.options {
        let value = value.unwrap_or_default();
        match id {
            OptionId::Long("prefix") => prefix = PathBuf::from(value),
            OptionId::Long("unit-dir") => unit_dir = Some(PathBuf::from(value)),
            OptionId::Long("destdir") => destdir = Some(PathBuf::from(value)),
            OptionId::Long("dry-run") => dry_run = true,
            _ => errors.push(String::new()),
        }
    }
    if let Some(operand) = parsed.operands.first() {
        errors.push(format!("{program}: unexpected argument {operand:?}"));
    }

    let mut layout = Layout::new(prefix);
    if let Some(unit_dir) = unit_dir {
        layout.unit_dir = unit_dir;
    }
    layout.destdir = destdir;
    for (option, path) in [
        ("--prefix", &layout.prefix),
        ("--unit-dir", &layout.unit_dir),
    ] {
        if !path.is_absolute() {
            errors.push(format!(
                "{program}: {option} {} is not an absolute path; the units name it at run time",
                path.display()
            ));
        }
    }
    if errors.is_empty() {
        Ok((layout, dry_run))
    } else {
        Err(errors)
    }
}

/// Runs `rgssd install`.
pub fn run(invocation: &mut Invocation<'_>) -> i32 {
    // "install:" alone would read as coreutils' install(1).
    invocation.program = format!("{BINARY} install");
    let program = invocation.program.clone();
    let destdir = std::env::var("DESTDIR").ok();
    let (layout, dry_run) = match parse_args(&program, &invocation.args, destdir) {
        Ok(parsed) => parsed,
        Err(errors) => return invocation.usage_failure(&errors, USAGE),
    };
    let binary = match std::env::current_exe() {
        Ok(binary) => binary,
        Err(e) => {
            invocation.error(format!(
                "cannot find the running binary to copy: {e}; is /proc mounted?"
            ));
            return FAILURE;
        }
    };

    let steps = plan(&layout, &binary);
    let conflicts = conflicts(&layout, &steps);
    for message in &conflicts {
        invocation.error(message);
    }
    if !conflicts.is_empty() {
        return FAILURE;
    }

    for step in &steps {
        let _ = writeln!(invocation.stdout, "{}", step.describe(&layout));
        if dry_run {
            continue;
        }
        if let Err(e) = apply(&layout, step) {
            invocation.error(format!(
                "writing {} failed: {e}",
                layout.staged(step.path()).display()
            ));
            return FAILURE;
        }
    }
    if dry_run {
        let _ = writeln!(invocation.stdout, "dry run: nothing was written");
    } else if layout.destdir.is_none() {
        let _ = writeln!(
            invocation.stdout,
            "run 'systemctl daemon-reload' so that systemd reads the units in {}",
            layout.unit_dir.display()
        );
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], destdir: Option<&str>) -> Result<(Layout, bool), Vec<String>> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse_args("install", &args, destdir.map(str::to_string))
    }

    #[test]
    fn defaults_and_options() {
        let (layout, dry_run) = parse(&[], None).unwrap();
        assert_eq!(layout, Layout::new("/usr/local"));
        assert_eq!(
            layout.unit_dir,
            PathBuf::from("/usr/local/lib/systemd/system")
        );
        assert!(!dry_run);

        let (layout, dry_run) = parse(
            &[
                "--prefix",
                "/usr",
                "--unit-dir=/etc/systemd/system",
                "--destdir",
                "/tmp/stage",
                "--dry-run",
            ],
            Some("/ignored"),
        )
        .unwrap();
        assert_eq!(layout.prefix, PathBuf::from("/usr"));
        assert_eq!(layout.unit_dir, PathBuf::from("/etc/systemd/system"));
        assert_eq!(layout.destdir, Some(PathBuf::from("/tmp/stage")));
        assert!(dry_run);
    }

    #[test]
    fn destdir_from_environment() {
        let (layout, _) = parse(&[], Some("/tmp/pkg")).unwrap();
        assert_eq!(layout.destdir, Some(PathBuf::from("/tmp/pkg")));
        assert_eq!(
            layout.staged(Path::new("/usr/local/bin/rgssd")),
            PathBuf::from("/tmp/pkg/usr/local/bin/rgssd")
        );

        let (layout, _) = parse(&[], Some("")).unwrap();
        assert_eq!(layout.destdir, None);
    }

    #[test]
    fn relative_paths_and_operands_rejected() {
        let errors = parse(&["--prefix", "usr"], None).unwrap_err();
        assert!(
            errors[0].contains("--prefix usr is not an absolute path"),
            "{errors:?}"
        );
        let errors = parse(&["--unit-dir", "units"], None).unwrap_err();
        assert!(errors[0].contains("--unit-dir units"), "{errors:?}");
        assert!(parse(&["/usr"], None).is_err());
        assert!(parse(&["--bogus"], None).is_err());
    }

    #[test]
    fn every_link_selects_a_tool() {
        for (name, _) in LINKS {
            assert!(
                crate::tools::TOOLS
                    .iter()
                    .any(|tool| tool.name == *name || tool.aliases.contains(name)),
                "{name} selects no tool"
            );
        }
    }

    #[test]
    fn units_name_the_installed_daemons() {
        let layout = Layout::new("/opt/rgssd");
        let steps = plan(&layout, Path::new("/build/rgssd"));
        for (name, _) in UNITS {
            let unit = steps
                .iter()
                .find_map(|step| match step {
                    Step::File {
                        path,
                        content: Content::Text(text),
                        ..
                    } if path == &layout.unit_dir.join(name) => Some(text),
                    _ => None,
                })
                .unwrap();
            assert!(!unit.contains('@'), "{name} keeps a placeholder:\n{unit}");
            let exec = unit
                .lines()
                .find_map(|line| line.strip_prefix("ExecStart="))
                .unwrap();
            assert!(exec.starts_with("/opt/rgssd/sbin/rpc."), "{exec}");
            let link = Path::new(exec);
            assert!(
                steps.iter().any(|step| step.path() == link),
                "{exec} is not installed"
            );
        }
    }
}
