//! The man pages in man/: every option the parsers accept is documented,
//! and groff renders each page without a warning.

use std::process::Command;

use rgssd::install::MAN_PAGES;
use rgssd::tools::getopt::{LongOption, OptionId};

fn page(name: &str) -> &'static str {
    MAN_PAGES
        .iter()
        .find(|(page, _)| *page == name)
        .unwrap_or_else(|| panic!("no man page {name}"))
        .1
}

/// Returns the lines of section `.SH NAME` of a page.
fn section<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    page.lines()
        .skip_while(|line| *line != format!(".SH {name}"))
        .skip(1)
        .take_while(|line| !line.starts_with(".SH "))
        .collect()
}

/// Returns the options of getopt's short-option string and the long
/// options, written as roff writes them (`\-p`, `\-\-proc\-dir`).
fn roff_options(short: &str, long: &[LongOption]) -> Vec<String> {
    let mut options: Vec<String> = short
        .chars()
        .filter(|letter| *letter != ':')
        .map(|letter| format!("\\-{letter}"))
        .collect();
    for option in long {
        assert!(matches!(option.id, OptionId::Long(_)));
        options.push(format!("\\-\\-{}", option.name.replace('-', "\\-")));
    }
    options
}

/// Returns whether a macro line (`.B`, `.BI`, `.BR`) of `lines` names `option`
/// as a whole word.
fn documents(lines: &[&str], option: &str) -> bool {
    lines
        .iter()
        .filter(|line| line.starts_with(".B"))
        .any(|line| {
            line.match_indices(option).any(|(at, _)| {
                let next = line[at + option.len()..].chars().next();
                !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '\\')
            })
        })
}

fn assert_documented(page_name: &str, section_name: &str, short: &str, long: &[LongOption]) {
    let lines = section(page(page_name), section_name);
    assert!(
        !lines.is_empty(),
        "{page_name} has no {section_name} section"
    );
    for option in roff_options(short, long) {
        assert!(
            documents(&lines, &option),
            "{page_name}: {option} is accepted but missing from {section_name}"
        );
    }
}

#[test]
fn gssd_options_documented() {
    assert_documented("rpc.gssd.8", "OPTIONS", rgssd::gssd::SHORT_OPTIONS, &[]);
}

#[test]
fn svcgssd_options_documented() {
    assert_documented(
        "rpc.svcgssd.8",
        "OPTIONS",
        rgssd::svcgssd::SHORT_OPTIONS,
        rgssd::svcgssd::LONG_OPTIONS,
    );
}

#[test]
fn install_options_documented() {
    assert_documented(
        "rgssd.8",
        "INSTALLATION",
        rgssd::install::SHORT_OPTIONS,
        rgssd::install::LONG_OPTIONS,
    );
}

#[test]
fn every_tool_in_rgssd_page() {
    let tools = section(page("rgssd.8"), "TOOLS");
    for tool in rgssd::tools::TOOLS {
        assert!(
            tools
                .iter()
                .any(|line| line.starts_with(".B") && line.contains(tool.name)),
            "rgssd.8 does not list the tool {}",
            tool.name
        );
    }
}

#[test]
fn title_matches_file_name() {
    for (name, content) in MAN_PAGES {
        let (title, section) = name.rsplit_once('.').unwrap();
        let header = content.lines().next().unwrap();
        let expected = format!(".TH {} {section} ", title.to_uppercase());
        assert!(header.starts_with(&expected), "{name}: {header}");
    }
}

#[test]
fn groff_renders_without_warnings() {
    let Ok(groff) = testkdc::find_program("groff", "groff-base") else {
        eprintln!("skipped: groff not found; install Debian's groff-base package");
        return;
    };
    for (name, content) in MAN_PAGES {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("man")
            .join(name);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), *content);
        let output = Command::new(&groff)
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "groff on {name}: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
