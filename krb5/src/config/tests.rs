//! Tests of the profile syntax, KRB5_CONFIG lists and typed libdefaults.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use super::profile::{parse_with, IncludeSource, ProfileErrorKind};
use super::*;
use crate::iana::enctype::*;

fn parse(text: &str) -> Profile {
    parse_str(text, "test.conf").expect("valid profile")
}

fn parse_error(text: &str) -> ProfileError {
    parse_str(text, "test.conf").expect_err("invalid profile")
}

fn config(text: &str) -> Config {
    Config::from_text(text, "test.conf").expect("valid profile")
}

/// An in-memory file system for include tests.
#[derive(Default)]
struct MemoryFiles {
    files: HashMap<String, String>,
    dirs: HashMap<String, Vec<String>>,
}

impl IncludeSource for MemoryFiles {
    fn read_file(&mut self, path: &str) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn list_dir(&mut self, path: &str) -> io::Result<Vec<String>> {
        self.dirs
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such directory"))
    }
}

// --- syntax ---

#[test]
fn relations_and_sections() {
    let c = config(
        "[libdefaults]\n\
         \tdefault_realm = EXAMPLE.COM\n\
         \tdns_lookup_kdc=false\n\
         [realms]\n\
         \tEXAMPLE.COM = {\n\
         \t\tkdc = kdc1.example.com\n\
         \t\tkdc = kdc2.example.com:88\n\
         \t}\n",
    );
    assert_eq!(
        c.value(&["libdefaults", "default_realm"]),
        Some("EXAMPLE.COM")
    );
    assert_eq!(c.value(&["libdefaults", "dns_lookup_kdc"]), Some("false"));
    assert_eq!(
        c.values(&["realms", "EXAMPLE.COM", "kdc"]),
        vec!["kdc1.example.com", "kdc2.example.com:88"]
    );
}

#[test]
fn text_before_first_section_is_ignored() {
    let c = config("this is not = parsed\n  [indented] is not a header\n[a]\nx = 1\n");
    assert_eq!(c.value(&["a", "x"]), Some("1"));
    assert_eq!(c.section_names(&[]), vec!["a"]);
}

#[test]
fn comments_at_line_start_only() {
    let c = config(
        "[a]\n\
         # comment\n\
         \t; indented comment\n\
         x = value # not a comment\n\
         y = ;also kept\n",
    );
    assert_eq!(c.value(&["a", "x"]), Some("value # not a comment"));
    assert_eq!(c.value(&["a", "y"]), Some(";also kept"));
    assert_eq!(c.relations(&["a"]).len(), 2);
}

#[test]
fn values_keep_inner_blanks_and_lose_trailing_ones() {
    let c = config("[a]\nx =   two  words \t \r\ny=z\n");
    assert_eq!(c.value(&["a", "x"]), Some("two  words"));
    assert_eq!(c.value(&["a", "y"]), Some("z"));
}

#[test]
fn quoted_values() {
    let c = config(
        "[a]\n\
         x = \"  padded  \" ignored after\n\
         y = \"tab\\there\\nnew \\\"q\\\" \\\\ \\b\\z\"\n\
         z = \"unterminated\n\
         w = \"ends in backslash\\\n",
    );
    assert_eq!(c.value(&["a", "x"]), Some("  padded  "));
    assert_eq!(c.value(&["a", "y"]), Some("tab\there\nnew \"q\" \\ \u{8}z"));
    assert_eq!(c.value(&["a", "z"]), Some("unterminated"));
    assert_eq!(c.value(&["a", "w"]), Some("ends in backslash\\"));
}

#[test]
fn carriage_returns_are_line_ends() {
    let c = config("[a]\r\nx = 1\r\n[b]\r\n");
    assert_eq!(c.value(&["a", "x"]), Some("1"));
    assert_eq!(c.section_names(&[]), vec!["a", "b"]);
}

#[test]
fn nested_groups_any_depth() {
    let c = config(
        "[a]\n\
         g = {\n\
         \th = {\n\
         \t\ti = {\n\
         \t\t\tdeep = yes\n\
         \t\t}\n\
         \t}\n\
         \tafter = 1\n\
         }\n\
         top = 2\n",
    );
    assert_eq!(c.value(&["a", "g", "h", "i", "deep"]), Some("yes"));
    assert_eq!(c.value(&["a", "g", "after"]), Some("1"));
    assert_eq!(c.value(&["a", "top"]), Some("2"));
}

#[test]
fn open_brace_on_next_line() {
    let c = config("[a]\ng =\n   {  anything here is ignored\nx = 1\n}\n");
    assert_eq!(c.value(&["a", "g", "x"]), Some("1"));
}

#[test]
fn brace_followed_by_text_is_a_value() {
    let c = config("[a]\nx = { not a group\n");
    assert_eq!(c.value(&["a", "x"]), Some("{ not a group"));
}

#[test]
fn repeated_sections_and_groups_merge() {
    let c = config(
        "[realms]\n\
         R = {\n kdc = a\n}\n\
         [libdefaults]\n\
         x = 1\n\
         [realms]\n\
         R = {\n kdc = b\n admin_server = c\n}\n",
    );
    assert_eq!(c.values(&["realms", "R", "kdc"]), vec!["a", "b"]);
    assert_eq!(c.value(&["realms", "R", "admin_server"]), Some("c"));
    assert_eq!(c.profiles()[0].sections.len(), 2);
}

#[test]
fn nodes_sorted_by_name_within_a_section() {
    let c = config("[d]\nzeta = 1\nalpha = 2\nmid = 3\nalpha = 4\n");
    assert_eq!(
        c.relations(&["d"]),
        vec![("alpha", "2"), ("alpha", "4"), ("mid", "3"), ("zeta", "1")]
    );
}

#[test]
fn final_markers_parsed() {
    let p = parse("[a]*\nkdc* = x\ng* = {\n}\nh = {\n}*\n");
    let section = p.section(&["a"]).expect("section a");
    assert!(section.is_final);
    let find = |name: &str| {
        section
            .children()
            .iter()
            .find(|n| n.name == name)
            .expect("node present")
    };
    assert!(find("kdc").is_final);
    assert_eq!(find("kdc").relation_value(), Some("x"));
    assert!(find("g").is_final);
    assert!(find("h").is_final);
}

#[test]
fn blank_after_section_header_is_allowed() {
    let c = config("[a]   \nx = 1\n[b]* \t\ny = 2\n");
    assert_eq!(c.value(&["b", "y"]), Some("2"));
}

#[test]
fn unclosed_group_at_end_is_accepted() {
    let c = config("[a]\ng = {\nx = 1\n");
    assert_eq!(c.value(&["a", "g", "x"]), Some("1"));
}

#[test]
fn unknown_relations_are_kept_but_unused() {
    let c = config("[libdefaults]\nno_such_option = 1\n");
    assert_eq!(c.value(&["libdefaults", "no_such_option"]), Some("1"));
    assert_eq!(c.dns_lookup_kdc(), Ok(true));
}

// --- syntax errors ---

#[test]
fn error_relation_without_equals() {
    let error = parse_error("[a]\nx = 1\n\njunk line\n");
    assert_eq!(error.line, 4);
    assert_eq!(error.origin, "test.conf");
    assert!(matches!(
        error.kind,
        ProfileErrorKind::RelationSyntax { .. }
    ));
    let message = error.to_string();
    assert!(message.contains("test.conf, line 4"), "{message}");
    assert!(message.contains("junk line"), "{message}");
}

#[test]
fn error_blank_inside_name() {
    let error = parse_error("[a]\nfoo bar = 1\n");
    assert_eq!(error.line, 2);
    assert!(matches!(
        error.kind,
        ProfileErrorKind::RelationSyntax { .. }
    ));
}

#[test]
fn error_empty_name() {
    let error = parse_error("[a]\n = 1\n");
    assert_eq!(error.line, 2);
}

#[test]
fn error_extra_close_brace() {
    let error = parse_error("[a]\nx = 1\n}\n");
    assert_eq!(error.line, 3);
    assert_eq!(error.kind, ProfileErrorKind::ExtraCloseBrace);
}

#[test]
fn error_section_inside_group() {
    let error = parse_error("[a]\ng = {\n[b]\n}\n");
    assert_eq!(error.line, 3);
    assert_eq!(error.kind, ProfileErrorKind::SectionNotTopLevel("b".into()));
}

#[test]
fn error_section_header_syntax() {
    assert_eq!(parse_error("[a]\n[b\n").line, 2);
    assert_eq!(parse_error("[a] x\n").line, 1);
    assert_eq!(parse_error("[a]** \n").line, 1);
}

#[test]
fn error_missing_open_brace() {
    let error = parse_error("[a]\ng =\nx = 1\n");
    assert_eq!(error.line, 3);
    assert!(matches!(error.kind, ProfileErrorKind::MissingOpenBrace(_)));
    // A blank line is not a brace either.
    assert_eq!(parse_error("[a]\ng =\n\n{\n").line, 3);
}

#[test]
fn error_module_directive() {
    let error = parse_error("module /usr/lib/x.so:residual\n[a]\n");
    assert_eq!(error.kind, ProfileErrorKind::ModuleDirective);
}

#[test]
fn parse_str_rejects_includes() {
    let error = parse_error("[a]\ninclude /etc/other.conf\n");
    assert_eq!(error.line, 2);
    assert!(matches!(error.kind, ProfileErrorKind::IncludeFile { .. }));
}

// --- include and includedir ---

#[test]
fn include_merges_into_top_level() {
    let mut files = MemoryFiles::default();
    files.files.insert(
        "/etc/krb5.d/realms".into(),
        "preamble ignored\n[realms]\nR = {\n kdc = included\n}\n".into(),
    );
    let text = "[realms]\nR = {\n kdc = first\n}\ninclude /etc/krb5.d/realms\n[realms]\nR = {\n kdc = last\n}\n";
    let profile = parse_with(text, "main.conf", &mut files).expect("valid");
    let c = Config::from_profiles(vec![profile]);
    assert_eq!(
        c.values(&["realms", "R", "kdc"]),
        vec!["first", "included", "last"]
    );
}

#[test]
fn include_inside_group_keeps_state() {
    let mut files = MemoryFiles::default();
    files
        .files
        .insert("/inc".into(), "[libdefaults]\nx = 1\n".into());
    let text = "[realms]\nR = {\ninclude /inc\n kdc = k\n}\n";
    let profile = parse_with(text, "main.conf", &mut files).expect("valid");
    let c = Config::from_profiles(vec![profile]);
    assert_eq!(c.value(&["realms", "R", "kdc"]), Some("k"));
    assert_eq!(c.value(&["libdefaults", "x"]), Some("1"));
}

#[test]
fn include_must_start_in_column_zero() {
    let error = parse_error("[a]\n  include /x\n");
    assert!(matches!(
        error.kind,
        ProfileErrorKind::RelationSyntax { .. }
    ));
}

#[test]
fn include_missing_file_is_an_error() {
    let mut files = MemoryFiles::default();
    let error = parse_with("[a]\ninclude /missing\n", "main.conf", &mut files)
        .expect_err("missing include");
    assert_eq!(error.line, 2);
    assert_eq!(error.origin, "main.conf");
    assert!(error.to_string().contains("/missing"), "{error}");
}

#[test]
fn include_error_names_included_file() {
    let mut files = MemoryFiles::default();
    files.files.insert("/bad".into(), "[a]\n\nx\n".into());
    let error =
        parse_with("[a]\ninclude /bad\n", "main.conf", &mut files).expect_err("syntax error");
    assert_eq!(error.origin, "/bad");
    assert_eq!(error.line, 3);
}

#[test]
fn include_cycle_is_an_error() {
    let mut files = MemoryFiles::default();
    files.files.insert("/loop".into(), "include /loop\n".into());
    let error = parse_with("include /loop\n", "main.conf", &mut files).expect_err("cycle");
    assert_eq!(error.kind, ProfileErrorKind::IncludeDepth("/loop".into()));
}

#[test]
fn includedir_reads_valid_names_in_order() {
    let mut files = MemoryFiles::default();
    files.dirs.insert(
        "/d".into(),
        vec![
            "b.conf".into(),
            "a_1-x".into(),
            "c.conf~".into(),
            ".hidden.conf".into(),
            "x.rpmsave".into(),
            "Z9".into(),
        ],
    );
    for (name, value) in [("b.conf", "b"), ("a_1-x", "a"), ("Z9", "z")] {
        files
            .files
            .insert(format!("/d/{name}"), format!("[s]\nv = {value}\n"));
    }
    let profile = parse_with("[s]\nv = main\nincludedir /d\n", "main.conf", &mut files)
        .expect("skipped names are never read");
    let c = Config::from_profiles(vec![profile]);
    assert_eq!(c.values(&["s", "v"]), vec!["main", "z", "a", "b"]);
}

#[test]
fn includable_names() {
    assert!(profile::is_includable_name("realms"));
    assert!(profile::is_includable_name("10-realms_x"));
    assert!(profile::is_includable_name("x.conf"));
    assert!(profile::is_includable_name("weird name.conf"));
    assert!(!profile::is_includable_name(".x.conf"));
    assert!(!profile::is_includable_name("x.conf.bak"));
    assert!(!profile::is_includable_name("x~"));
    assert!(!profile::is_includable_name("x.dpkg-old"));
}

#[test]
fn includedir_missing_is_an_error() {
    let mut files = MemoryFiles::default();
    let error = parse_with("includedir /nope\n", "main.conf", &mut files).expect_err("missing");
    assert!(matches!(error.kind, ProfileErrorKind::IncludeDir { .. }));
    assert_eq!(error.line, 1);
}

#[test]
fn include_from_real_files() {
    let dir = TempDir::new("include");
    let included = dir.write("extra.conf", "[libdefaults]\nforwardable = true\n");
    let sub = dir.path.join("conf.d");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(
        sub.join("realm"),
        "[libdefaults]\ndefault_realm = FROM.DIR\n",
    )
    .expect("write");
    std::fs::write(sub.join("ignored~"), "this would be a syntax error\n").expect("write");
    std::fs::create_dir(sub.join("subdir")).expect("mkdir");
    let main = dir.write(
        "krb5.conf",
        &format!(
            "include {}\nincludedir {}\n[libdefaults]\nclockskew = 60\n",
            included,
            sub.display()
        ),
    );
    let c = Config::load_path_list(&main).expect("loads");
    assert_eq!(c.forwardable(None), Ok(true));
    assert_eq!(c.default_realm(), Some("FROM.DIR"));
    assert_eq!(c.clockskew(), Ok(Duration::from_secs(60)));
}

// --- KRB5_CONFIG lists and final sections ---

struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    fn new(tag: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("rgssd-config-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[test]
fn path_list_skips_missing_and_first_wins() {
    let dir = TempDir::new("list");
    let first = dir.write(
        "first.conf",
        "[libdefaults]\ndefault_realm = FIRST\n[realms]\nR = {\n kdc = a\n}\n",
    );
    let second = dir.write(
        "second.conf",
        "[libdefaults]\ndefault_realm = SECOND\nclockskew = 10\n[realms]\nR = {\n kdc = b\n}\n",
    );
    let missing = dir.path.join("missing.conf").display().to_string();
    let c = Config::load_path_list(&format!("{missing}:{first}::{second}")).expect("loads");
    assert_eq!(c.profiles().len(), 2);
    assert_eq!(c.default_realm(), Some("FIRST"));
    assert_eq!(c.clockskew(), Ok(Duration::from_secs(10)));
    assert_eq!(c.kdcs("R"), vec!["a", "b"]);
}

#[test]
fn path_list_all_missing_is_empty() {
    let c = Config::load_path_list("/nonexistent/a.conf:/nonexistent/b.conf").expect("empty");
    assert!(c.profiles().is_empty());
    assert_eq!(c.default_realm(), None);
    assert_eq!(c.dns_lookup_kdc(), Ok(true));
}

#[test]
fn path_list_syntax_error_is_fatal() {
    let dir = TempDir::new("bad");
    let bad = dir.write("bad.conf", "[libdefaults]\n\tdefault_realm A.COM\n");
    let error = Config::load_path_list(&bad).expect_err("syntax error");
    let message = error.to_string();
    assert!(message.contains(&format!("{bad}, line 2")), "{message}");
}

#[test]
fn final_section_stops_later_files() {
    let first = parse_str("[realms]*\nR = {\n kdc = a\n}\n", "first").expect("valid");
    let second = parse_str(
        "[realms]\nR = {\n kdc = b\n}\nS = {\n kdc = s\n}\n[libdefaults]\nx = 2\n",
        "second",
    )
    .expect("valid");
    let c = Config::from_profiles(vec![first, second]);
    assert_eq!(c.kdcs("R"), vec!["a"]);
    // The final [realms] hides S too, although the first file has no S.
    assert!(c.kdcs("S").is_empty());
    assert_eq!(c.value(&["libdefaults", "x"]), Some("2"));
}

#[test]
fn final_group_stops_later_files() {
    let first = parse_str("[realms]\nR* = {\n kdc = a\n}\n", "first").expect("valid");
    let second = parse_str("[realms]\nR = {\n kdc = b\n}\n", "second").expect("valid");
    let c = Config::from_profiles(vec![first, second]);
    assert_eq!(c.kdcs("R"), vec!["a"]);
}

#[test]
fn final_relation_does_not_stop_later_files() {
    // MIT 1.20 records '*' on a relation but its lookups ignore it.
    let first = parse_str("[realms]\nR = {\n kdc* = a\n}\n", "first").expect("valid");
    let second = parse_str("[realms]\nR = {\n kdc = b\n}\n", "second").expect("valid");
    let c = Config::from_profiles(vec![first, second]);
    assert_eq!(c.kdcs("R"), vec!["a", "b"]);
}

#[test]
fn load_uses_krb5_config_variable() {
    // The only test that reads KRB5_CONFIG; no other test sets it.
    let dir = TempDir::new("env");
    let path = dir.write("env.conf", "[libdefaults]\ndefault_realm = ENV.REALM\n");
    std::env::set_var(CONFIG_ENV, format!("/nonexistent.conf:{path}"));
    let c = Config::load();
    std::env::remove_var(CONFIG_ENV);
    assert_eq!(c.expect("loads").default_realm(), Some("ENV.REALM"));
}

// --- typed libdefaults ---

#[test]
fn every_default() {
    let c = Config::default();

    assert_eq!(c.default_realm(), None);
    assert_eq!(c.dns_lookup_kdc(), Ok(true));
    assert_eq!(c.dns_lookup_realm(), Ok(false));
    assert_eq!(
        c.dns_canonicalize_hostname(),
        Ok(CanonicalizeHostname::True)
    );
    assert_eq!(c.rdns(), Ok(true));
    assert_eq!(c.udp_preference_limit(), Ok(1465));
    assert_eq!(c.allow_weak_crypto(), Ok(false));
    assert_eq!(c.clockskew(), Ok(Duration::from_secs(300)));
    assert_eq!(c.request_timeout(), Ok(None));
    assert_eq!(c.ticket_lifetime(None), Ok(Duration::from_secs(86_400)));
    assert_eq!(c.renew_lifetime(None), Ok(Duration::ZERO));
    assert_eq!(c.forwardable(None), Ok(false));
    assert_eq!(c.proxiable(None), Ok(false));
    assert_eq!(c.kdc_timesync(), Ok(true));
    assert_eq!(c.realm_try_domains(), Ok(-1));
    assert_eq!(c.qualify_shortname(), None);

    assert_eq!(c.default_ccache_name(), "FILE:/tmp/krb5cc_%{uid}");
    assert_eq!(c.default_keytab_name(), "FILE:/etc/krb5.keytab");
    assert_eq!(
        c.default_client_keytab_name(),
        "FILE:/etc/krb5/user/%{euid}/client.keytab"
    );
    assert_eq!(
        c.default_ccache_name_for(1000).as_deref(),
        Ok("FILE:/tmp/krb5cc_1000")
    );
    assert_eq!(
        c.default_client_keytab_name_for(1000).as_deref(),
        Ok("FILE:/etc/krb5/user/1000/client.keytab")
    );
    assert_eq!(
        c.default_keytab_name_for(0).as_deref(),
        Ok("FILE:/etc/krb5.keytab")
    );
    let without_weak = vec![
        AES256_CTS_HMAC_SHA1_96,
        AES128_CTS_HMAC_SHA1_96,
        AES256_CTS_HMAC_SHA384_192,
        AES128_CTS_HMAC_SHA256_128,
        CAMELLIA128_CTS_CMAC,
        CAMELLIA256_CTS_CMAC,
    ];
    assert_eq!(c.permitted_enctypes().as_ref(), Ok(&without_weak));
    assert_eq!(c.default_tkt_enctypes().as_ref(), Ok(&without_weak));
    assert_eq!(c.default_tgs_enctypes().as_ref(), Ok(&without_weak));
}

#[test]
fn libdefaults_set() {
    let c = config(
        "[libdefaults]\n\
         default_realm = EXAMPLE.COM\n\
         dns_lookup_kdc = no\n\
         dns_lookup_realm = TRUE\n\
         dns_canonicalize_hostname = Fallback\n\
         rdns = off\n\
         udp_preference_limit = 1\n\
         clockskew = 5m\n\
         ticket_lifetime = 10h\n\
         renew_lifetime = 7d\n\
         forwardable = yes\n\
         kdc_timesync = 0\n\
         default_ccache_name = KEYRING:persistent:%{uid}\n\
         default_keytab_name = /etc/nfs.keytab\n\
         default_client_keytab_name = FILE:/var/lib/gssproxy/clients/%{uid}.keytab\n",
    );

    assert_eq!(c.default_realm(), Some("EXAMPLE.COM"));
    assert_eq!(c.dns_lookup_kdc(), Ok(false));
    assert_eq!(c.dns_lookup_realm(), Ok(true));
    assert_eq!(
        c.dns_canonicalize_hostname(),
        Ok(CanonicalizeHostname::Fallback)
    );
    assert_eq!(c.rdns(), Ok(false));
    assert_eq!(c.udp_preference_limit(), Ok(1));
    assert_eq!(c.clockskew(), Ok(Duration::from_secs(300)));
    assert_eq!(c.ticket_lifetime(None), Ok(Duration::from_secs(36_000)));
    assert_eq!(c.renew_lifetime(None), Ok(Duration::from_secs(604_800)));
    assert_eq!(c.forwardable(None), Ok(true));
    assert_eq!(c.kdc_timesync(), Ok(false));

    assert_eq!(
        c.default_ccache_name_for(42).as_deref(),
        Ok("KEYRING:persistent:42")
    );
    assert_eq!(c.default_keytab_name(), "/etc/nfs.keytab");
    assert_eq!(
        c.default_client_keytab_name_for(7).as_deref(),
        Ok("FILE:/var/lib/gssproxy/clients/7.keytab")
    );
}

#[test]
fn dns_canonicalize_false() {
    let c = config("[libdefaults]\ndns_canonicalize_hostname = false\n");
    assert_eq!(
        c.dns_canonicalize_hostname(),
        Ok(CanonicalizeHostname::False)
    );
}

#[test]
fn dns_fallback_covers_both_lookups() {
    let c = config("[libdefaults]\ndns_fallback = true\ndns_lookup_kdc = false\n");
    assert_eq!(c.dns_lookup_kdc(), Ok(false));
    assert_eq!(c.dns_lookup_realm(), Ok(true));
}

#[test]
fn realm_specific_libdefaults() {
    let c = config(
        "[libdefaults]\n\
         forwardable = false\n\
         ticket_lifetime = 1h\n\
         SPECIAL.COM = {\n\
         \tforwardable = true\n\
         \tticket_lifetime = 2h\n\
         }\n",
    );
    assert_eq!(c.forwardable(Some("SPECIAL.COM")), Ok(true));
    assert_eq!(c.forwardable(Some("OTHER.COM")), Ok(false));
    assert_eq!(
        c.ticket_lifetime(Some("SPECIAL.COM")),
        Ok(Duration::from_secs(7_200))
    );
    assert_eq!(c.ticket_lifetime(None), Ok(Duration::from_secs(3_600)));
}

fn error_text<T: std::fmt::Debug>(result: Result<T, ConfigError>) -> String {
    result.expect_err("invalid value").to_string()
}

#[test]
fn invalid_values_name_the_relation() {
    let c = config(
        "[libdefaults]\n\
         allow_weak_crypto = maybe\n\
         dns_canonicalize_hostname = sometimes\n\
         udp_preference_limit = big\n\
         clockskew = 5 minutes\n\
         ticket_lifetime = forever\n",
    );
    assert!(error_text(c.allow_weak_crypto()).contains("allow_weak_crypto"));
    assert!(error_text(c.dns_canonicalize_hostname()).contains("dns_canonicalize_hostname"));
    assert!(error_text(c.udp_preference_limit()).contains("udp_preference_limit"));
    assert!(error_text(c.clockskew()).contains("clockskew"));
    assert!(error_text(c.ticket_lifetime(None)).contains("forever"));
    // Enctype lists need allow_weak_crypto, so its error surfaces there too.
    assert!(c.permitted_enctypes().is_err());
}

#[test]
fn request_timeout_values() {
    let timeout = |text: &str| {
        config(&format!("[libdefaults]\nrequest_timeout = {text}\n")).request_timeout()
    };
    assert_eq!(timeout("20"), Ok(Some(Duration::from_secs(20))));
    assert_eq!(timeout("1m30s"), Ok(Some(Duration::from_secs(90))));
    assert_eq!(timeout("0"), Ok(None));
    let error = error_text(timeout("soon"));
    assert!(error.contains("request_timeout"), "{error}");
    assert!(error.contains("soon"), "{error}");
}

#[test]
fn udp_preference_limit_bounds() {
    assert_eq!(
        config("[libdefaults]\nudp_preference_limit = -1\n").udp_preference_limit(),
        Ok(1465)
    );
    assert_eq!(
        config("[libdefaults]\nudp_preference_limit = 100000\n").udp_preference_limit(),
        Ok(32700)
    );
}

#[test]
fn enctype_relations_fall_back_in_order() {
    let c = config(
        "[libdefaults]\n\
         permitted_enctypes = aes256-cts aes128-cts\n\
         default_tkt_enctypes = aes128-cts\n",
    );
    assert_eq!(
        c.permitted_enctypes(),
        Ok(vec![AES256_CTS_HMAC_SHA1_96, AES128_CTS_HMAC_SHA1_96])
    );
    assert_eq!(c.default_tkt_enctypes(), Ok(vec![AES128_CTS_HMAC_SHA1_96]));
    assert_eq!(
        c.default_tgs_enctypes(),
        Ok(vec![AES256_CTS_HMAC_SHA1_96, AES128_CTS_HMAC_SHA1_96])
    );
}

#[test]
fn enctypes_weak_allowed() {
    let c = config(
        "[libdefaults]\n\
         allow_weak_crypto = true\n\
         permitted_enctypes = DEFAULT -aes -camellia\n",
    );
    assert_eq!(c.permitted_enctypes(), Ok(vec![DES3_CBC_SHA1, RC4_HMAC]));
}

#[test]
fn enctypes_empty_names_relation() {
    let c = config("[libdefaults]\ndefault_tgs_enctypes = rc4-hmac\n");
    let error = c.default_tgs_enctypes().expect_err("only weak");
    assert!(
        error.to_string().contains("default_tgs_enctypes"),
        "{error}"
    );
}

#[test]
fn realms_accessors() {
    let c = config(
        "[realms]\n\
         EXAMPLE.COM = {\n\
         \tkdc = kdc1.example.com\n\
         \tkdc = [2001:db8::1]:750\n\
         \tmaster_kdc = kdc1.example.com\n\
         \tadmin_server = kadmin.example.com:749\n\
         \tdefault_domain = example.com\n\
         }\n\
         NEW.COM = {\n\
         \tprimary_kdc = p.new.com\n\
         \tmaster_kdc = m.new.com\n\
         }\n",
    );
    assert_eq!(
        c.kdcs("EXAMPLE.COM"),
        vec!["kdc1.example.com", "[2001:db8::1]:750"]
    );
    assert_eq!(c.primary_kdcs("EXAMPLE.COM"), vec!["kdc1.example.com"]);
    assert_eq!(c.primary_kdcs("NEW.COM"), vec!["p.new.com"]);
    assert_eq!(
        c.admin_servers("EXAMPLE.COM"),
        vec!["kadmin.example.com:749"]
    );
    assert_eq!(c.default_domain("EXAMPLE.COM"), Some("example.com"));
    assert!(
        c.kdcs("example.com").is_empty(),
        "realm names are case-sensitive"
    );
    assert_eq!(c.section_names(&["realms"]), vec!["EXAMPLE.COM", "NEW.COM"]);
}

#[test]
fn display_round_trips() {
    let text = "[b]*\n\tx = \" padded \"\n\tg* = {\n\t\ty = 1\n\t}\n[a]\n\tz = {\n";
    let profile = parse(text);
    let again = parse(&profile.to_string());
    assert_eq!(profile.sections, again.sections);
}

// --- arbitrary input ---

/// A small deterministic generator (xorshift), so failures reproduce.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Returns text built from profile syntax pieces and odd characters.
    fn text(&mut self, pieces: &[&str], max_pieces: u64) -> String {
        let count = self.next() % max_pieces;
        (0..count)
            .map(|_| pieces[(self.next() % pieces.len() as u64) as usize])
            .collect()
    }
}

fn has_plain_names(nodes: &[Node]) -> bool {
    nodes.iter().all(|node| {
        !node.name.is_empty()
            && node
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.')
            && has_plain_names(node.children())
    })
}

#[test]
fn arbitrary_profiles_never_panic() {
    let pieces = [
        "[",
        "]",
        "*",
        "{",
        "}",
        "=",
        "\"",
        "\\",
        "\n",
        "\r",
        "\t",
        " ",
        "#",
        ";",
        "a",
        "kdc",
        "realms",
        "include ",
        "includedir ",
        "module ",
        "é",
        "\u{0}",
        "x = y\n",
        "[s]\n",
        "g = {\n",
        "}\n",
        "kdc = host:88\n",
        "[realms]\n",
        "R = {\n",
        "v = \"q\\\"\"\n",
        "x = y\n",
        "[s]\n",
    ];
    let mut generator = Generator(0x5eed_1234_abcd_0001);
    for _ in 0..20_000 {
        let text = generator.text(&pieces, 40);
        let Ok(profile) = parse_str(&text, "fuzz") else {
            continue;
        };
        // Names with syntax characters cannot be written back; the rest
        // must survive a render and reparse unchanged.
        if has_plain_names(&profile.sections) {
            let rendered = profile.to_string();
            let again = parse_str(&rendered, "rendered").expect("rendered profile parses");
            assert_eq!(again.sections, profile.sections, "{text:?}");
        }
    }
}

#[test]
fn arbitrary_values_never_panic() {
    let pieces = [
        "0", "9", "d", "h", "m", "s", ":", "-", " ", "x", "é", "$", "[", "]", "(", ")", "/", "g",
        "%{", "}", "uid", "1", ".", "*", "\\",
    ];
    let mut generator = Generator(0x0dd_ba11_cafe_f00d);
    let principal = crate::Principal::parse("alice/admin@EXAMPLE.COM", None).expect("valid");
    for _ in 0..20_000 {
        let text = generator.text(&pieces, 16);
        let _ = parse_duration(&text);
        let _ = parse_boolean(&text);
        let _ = values::parse_integer(&text);
        let _ = parse_enctype_list("permitted_enctypes", &text, true);
        let _ = expand::expand_path_with(&text, 0, &|_| None);
        let _ = auth_to_local::apply_rule(&text, &principal);
        let _ = crate::locate::parse_kdc_entry(&text);
    }
}
