//! `klist`: lists the tickets of a credential cache or the keys of a keytab,
//! as MIT krb5 1.20's klist does.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use krb5::ccache::{self, CcacheError, CredentialCache};
use krb5::credentials::{Credential, HostAddress};
use krb5::keytab::{Keytab, KeytabEntry, KeytabError, KeytabName};
use krb5::messages;
use krb5::Principal;

use super::format::{self, enctype_display, flag_letters, timestamp};
use super::getopt;
use super::localtime::TimeZone;
use super::{defaults, errors, load_config, Invocation, FAILURE};

const USAGE: &str = "\
Usage: klist [-e] [-V] [[-c] [-l] [-A] [-d] [-f] [-s] [-a [-n]]] [-k [-i] [-t] [-K]] [-C] [name]
\t-c list a credential cache (the default); name is the cache
\t-k list a keytab; name is the keytab
\t-i with -k and no name, list the default client keytab
\t-l list the caches of the default cache collection
\t-A list the tickets of every cache in the collection
\t-e show enctypes
\t-V print the version and exit
\toptions for credential caches:
\t\t-d show authorization data types
\t\t-f show ticket flags
\t\t-s print nothing; exit 0 only if a current TGT is present
\t\t-a show ticket addresses
\t\t\t-n show addresses numerically (always the case here)
\t\t-C include cache configuration entries
\toptions for keytabs:
\t\t-t show entry timestamps
\t\t-K show keys in hex
";

/// The kind of store klist lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// No `-c` or `-k`: a credential cache.
    #[default]
    Default,
    Cache,
    Keytab,
}

/// The parsed command line of klist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KlistOptions {
    pub mode: Mode,
    pub show_adtypes: bool,
    pub show_flags: bool,
    pub show_enctypes: bool,
    pub show_timestamps: bool,
    pub show_keys: bool,
    pub status_only: bool,
    pub show_addresses: bool,
    pub numeric_addresses: bool,
    pub list_collection: bool,
    pub show_collection: bool,
    pub use_client_keytab: bool,
    pub show_config: bool,
    pub print_version: bool,
    /// The cache or keytab name operand.
    pub name: Option<String>,
}

/// Parses klist's arguments. On a usage error, returns the messages to print
/// before the usage text.
pub fn parse_args(program: &str, args: &[String]) -> Result<KlistOptions, Vec<String>> {
    let parsed = getopt::parse(program, args, "dfetKsnacklAViC", &[]);
    let mut errors = parsed.errors;
    let mut options = KlistOptions::default();

    for (option, _) in parsed.options {
        let getopt::OptionId::Short(letter) = option else {
            continue;
        };
        match letter {
            'd' => options.show_adtypes = true,
            'f' => options.show_flags = true,
            'e' => options.show_enctypes = true,
            't' => options.show_timestamps = true,
            'K' => options.show_keys = true,
            's' => options.status_only = true,
            'n' => options.numeric_addresses = true,
            'a' => options.show_addresses = true,
            'c' | 'k' => {
                let mode = if letter == 'c' {
                    Mode::Cache
                } else {
                    Mode::Keytab
                };
                if options.mode != Mode::Default && options.mode != mode {
                    errors.push(format!("{program}: -c and -k cannot be combined"));
                }
                options.mode = mode;
            }
            'l' => options.list_collection = true,
            'A' => options.show_collection = true,
            'V' => options.print_version = true,
            'i' => options.use_client_keytab = true,
            'C' => options.show_config = true,
            _ => {}
        }
    }

    if options.numeric_addresses && !options.show_addresses {
        errors.push(format!("{program}: -n requires -a"));
    }
    if options.mode == Mode::Keytab {
        let cache_only = [
            (options.show_flags, "-f"),
            (options.status_only, "-s"),
            (options.show_addresses, "-a"),
            (options.show_collection, "-A"),
            (options.list_collection, "-l"),
        ];
        for (_, flag) in cache_only.iter().filter(|(set, _)| *set) {
            errors.push(format!(
                "{program}: {flag} applies to credential caches, not to keytabs (-k)"
            ));
        }
    } else {
        for (set, flag) in [(options.show_timestamps, "-t"), (options.show_keys, "-K")] {
            if set {
                errors.push(format!("{program}: {flag} applies to keytabs only; add -k"));
            }
        }
        if options.list_collection && options.show_collection {
            errors.push(format!("{program}: -l and -A cannot be combined"));
        }
        if options.list_collection && options.status_only {
            errors.push(format!("{program}: -l and -s cannot be combined"));
        }
    }

    let mut operands = parsed.operands.into_iter();
    options.name = operands.next();
    if let Some(extra) = operands.next() {
        errors.push(format!("Extra arguments (starting with \"{extra}\")."));
    }

    if errors.is_empty() {
        Ok(options)
    } else {
        Err(errors)
    }
}

/// Runs klist.
pub fn run(invocation: &mut Invocation<'_>) -> i32 {
    let options = match parse_args(&invocation.program, &invocation.args) {
        Ok(options) => options,
        Err(errors) => return invocation.usage_failure(&errors, USAGE),
    };

    if options.print_version {
        let _ = writeln!(
            invocation.stdout,
            "rgssd klist version {}",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }

    let zone = TimeZone::from_tz(std::env::var("TZ").ok().as_deref());
    if options.mode == Mode::Keytab {
        return list_keytab(invocation, &options, &zone);
    }

    let config = match load_config(invocation) {
        Some(config) => config,
        None => return FAILURE,
    };
    let cache_name = match &options.name {
        Some(name) => name.clone(),
        None => match defaults::ccache_name(&config) {
            Ok(name) => name,
            Err(error) => {
                if !options.status_only {
                    invocation.error(format!("{error} while resolving ccache"));
                }
                return FAILURE;
            }
        },
    };
    let now = now_seconds();

    if options.list_collection || options.show_collection {
        let caches = match ccache::collection(&cache_name) {
            Ok(caches) => caches,
            Err(error) => {
                if !options.status_only {
                    invocation.error(format!(
                        "{} while listing ccache collection",
                        errors::ccache_error_text(&error)
                    ));
                }
                return FAILURE;
            }
        };
        if options.list_collection {
            return list_collection(invocation, &caches, now);
        }
        return show_collection(invocation, &caches, &options, &zone, now);
    }

    let cache = match ccache::resolve(&cache_name) {
        Ok(cache) => cache,
        Err(error) => {
            if !options.status_only {
                invocation.error(format!(
                    "{} while resolving ccache",
                    errors::ccache_error_text(&error)
                ));
            }
            return FAILURE;
        }
    };
    if options.status_only {
        return status(is_current(cache.as_ref(), now));
    }
    show_cache(invocation, cache.as_ref(), &options, &zone)
}

/// Returns the exit status for a check: 0 if it passed.
fn status(passed: bool) -> i32 {
    if passed {
        0
    } else {
        FAILURE
    }
}

fn now_seconds() -> u32 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// Returns true if `cache` is readable, initialized and contains a current
/// ticket (see [`has_current_tickets`]).
fn is_current(cache: &dyn CredentialCache, now: u32) -> bool {
    let Ok(principal) = cache.principal() else {
        return false;
    };
    match cache.entries() {
        Ok(entries) => has_current_tickets(&principal, &entries, now),
        Err(_) => false,
    }
}

/// Prints one cache's tickets; returns the exit status.
fn show_cache(
    invocation: &mut Invocation<'_>,
    cache: &dyn CredentialCache,
    options: &KlistOptions,
    zone: &TimeZone,
) -> i32 {
    let principal = match cache.principal() {
        Ok(principal) => principal,
        Err(error) => {
            invocation.error(errors::ccache_error_text(&error));
            return FAILURE;
        }
    };
    let entries = match cache.entries() {
        Ok(entries) => entries,
        Err(error) => {
            invocation.error(format!(
                "{} while retrieving a ticket",
                errors::ccache_error_text(&error)
            ));
            return FAILURE;
        }
    };
    let full_name = cache.name();
    let view = CacheView {
        full_name: &full_name,
        default_principal: &principal,
        credentials: &entries,
    };
    let _ = write_cache(invocation.stdout, &view, options, zone);
    0
}

/// Prints `klist -l`: one line per initialized cache of the collection.
/// The exit status is 0 if at least one cache was listed.
fn list_collection(
    invocation: &mut Invocation<'_>,
    caches: &[Box<dyn CredentialCache>],
    now: u32,
) -> i32 {
    let _ = writeln!(invocation.stdout, "{:<30} Cache name", "Principal name");
    let _ = writeln!(invocation.stdout, "{:<30} ----------", "--------------");
    let mut listed = false;
    for cache in caches {
        // An uninitialized cache has no principal, so it is not listed.
        let Ok(principal) = cache.principal() else {
            continue;
        };
        let name: String = principal.to_string().chars().take(30).collect();
        let expired = if is_current(cache.as_ref(), now) {
            ""
        } else {
            " (Expired)"
        };
        let _ = writeln!(invocation.stdout, "{name:<30} {}{expired}", cache.name());
        listed = true;
    }
    status(listed)
}

/// Prints `klist -A`: every cache of the collection, separated by blank
/// lines. The exit status is 0 if at least one cache was shown (with -s:
/// was current).
fn show_collection(
    invocation: &mut Invocation<'_>,
    caches: &[Box<dyn CredentialCache>],
    options: &KlistOptions,
    zone: &TimeZone,
    now: u32,
) -> i32 {
    let mut any_passed = false;
    let mut first = true;
    for cache in caches {
        // A cache that does not exist is not part of the collection.
        if matches!(cache.principal(), Err(CcacheError::NotFound { .. })) {
            continue;
        }
        if !options.status_only && !first {
            let _ = writeln!(invocation.stdout);
        }
        first = false;
        let passed = if options.status_only {
            is_current(cache.as_ref(), now)
        } else {
            show_cache(invocation, cache.as_ref(), options, zone) == 0
        };
        any_passed |= passed;
    }
    status(any_passed)
}

/// Returns the keytab's name as MIT prints it, with the type prefix.
fn keytab_display_name(name: &KeytabName) -> String {
    let prefix = if name.writable { "WRFILE" } else { "FILE" };
    format!("{prefix}:{}", name.path.display())
}

/// Describes a keytab load failure in MIT's words where MIT has them.
pub fn keytab_error_text(error: &KeytabError) -> String {
    match error {
        KeytabError::Read { path, source } if source.kind() == io::ErrorKind::NotFound => {
            format!("Key table file '{}' not found", path.display())
        }
        KeytabError::Read { path, source } => {
            format!(
                "{} (keytab {})",
                errors::os_error_text(source),
                path.display()
            )
        }
        other => other.to_string(),
    }
}

fn list_keytab(invocation: &mut Invocation<'_>, options: &KlistOptions, zone: &TimeZone) -> i32 {
    let name = match &options.name {
        Some(name) => name.clone(),
        None => {
            let config = match load_config(invocation) {
                Some(config) => config,
                None => return FAILURE,
            };
            let (default, doing) = if options.use_client_keytab {
                (
                    defaults::client_keytab_name(&config),
                    "getting default client keytab",
                )
            } else {
                (defaults::keytab_name(&config), "getting default keytab")
            };
            match default {
                Ok(name) => name,
                Err(error) => {
                    invocation.error(format!("{error} while {doing}"));
                    return FAILURE;
                }
            }
        }
    };
    let parsed_name = match KeytabName::parse(&name) {
        Ok(parsed) => parsed,
        Err(error) => {
            invocation.error(format!("{error} while resolving keytab {name}"));
            return FAILURE;
        }
    };
    let _ = writeln!(
        invocation.stdout,
        "Keytab name: {}",
        keytab_display_name(&parsed_name)
    );

    let keytab = match Keytab::load_path(&parsed_name.path) {
        Ok(keytab) => keytab,
        Err(error) => {
            let _ = invocation.stdout.flush();
            invocation.error(format!(
                "{} while starting keytab scan",
                keytab_error_text(&error)
            ));
            return FAILURE;
        }
    };
    let _ = write_keytab_entries(invocation.stdout, keytab.entries(), options, zone);
    0
}

/// Writes the keytab table: header lines, then one line per entry.
pub fn write_keytab_entries(
    out: &mut dyn Write,
    entries: &[KeytabEntry],
    options: &KlistOptions,
    zone: &TimeZone,
) -> io::Result<()> {
    for line in format::keytab_table_header(options.show_timestamps) {
        writeln!(out, "{line}")?;
    }
    for entry in entries {
        let mut line = format!("{:4} ", entry.kvno);
        if options.show_timestamps {
            line.push_str(&timestamp(entry.timestamp, zone));
            line.push(' ');
        }
        line.push_str(&entry.principal.to_string());
        if options.show_enctypes {
            line.push_str(&format!(" ({}) ", enctype_display(entry.key.enctype())));
        }
        if options.show_keys {
            line.push_str(&format!(" ({})", format::key_hex(entry.key.bytes())));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// A credential cache's content as klist shows it.
pub struct CacheView<'a> {
    /// The full name with its type, such as `FILE:/tmp/krb5cc_1000`.
    pub full_name: &'a str,
    pub default_principal: &'a Principal,
    pub credentials: &'a [Credential],
}

/// Writes the ticket listing of one cache.
pub fn write_cache(
    out: &mut dyn Write,
    cache: &CacheView<'_>,
    options: &KlistOptions,
    zone: &TimeZone,
) -> io::Result<()> {
    writeln!(out, "Ticket cache: {}", cache.full_name)?;
    writeln!(out, "Default principal: {}", cache.default_principal)?;
    writeln!(out)?;
    writeln!(out, "{}", format::ticket_table_header())?;
    for credential in cache.credentials {
        if options.show_config || !ccache::is_config_principal(&credential.server) {
            write_credential(out, credential, cache.default_principal, options, zone)?;
        }
    }
    Ok(())
}

/// The fields klist reads from the Ticket itself.
struct TicketSummary {
    enctype: i32,
    server: Option<Principal>,
}

fn summarize_ticket(der: &[u8]) -> Option<TicketSummary> {
    let ticket = messages::decode_ticket(der).ok()?;
    Some(TicketSummary {
        enctype: ticket.enc_part.etype,
        server: messages::convert::principal(&ticket.sname, &ticket.realm).ok(),
    })
}

/// Joins the optional fields after a ticket line: the first after a tab,
/// the rest after ", ".
struct ExtraFields {
    line: String,
    count: usize,
}

impl ExtraFields {
    fn push(&mut self, field: &str, weight: usize) {
        self.line
            .push_str(if self.count == 0 { "\t" } else { ", " });
        self.line.push_str(field);
        self.count += weight;
    }
}

fn write_credential(
    out: &mut dyn Write,
    credential: &Credential,
    default_principal: &Principal,
    options: &KlistOptions,
    zone: &TimeZone,
) -> io::Result<()> {
    let is_config = ccache::is_config_principal(&credential.server);
    let ticket = if is_config {
        None
    } else {
        summarize_ticket(&credential.ticket)
    };
    let starttime = if credential.starttime == 0 {
        credential.authtime
    } else {
        credential.starttime
    };

    let mut text = String::new();
    let mut column = 0;
    if is_config {
        text.push_str("config: ");
        for (index, component) in credential.server.components.iter().enumerate().skip(1) {
            if index > 1 {
                text.push_str(&format!("({component})"));
            } else {
                text.push_str(component);
            }
        }
        text.push_str(" = ");
        column = text.len();
    } else {
        text.push_str(&format!(
            "{}  {}  {}\n",
            timestamp(starttime, zone),
            timestamp(credential.endtime, zone),
            credential.server
        ));
    }

    let mut extra = ExtraFields {
        line: String::new(),
        count: 0,
    };
    if credential.client != *default_principal {
        extra
            .line
            .push_str(&format!("\tfor client {}", credential.client));
        extra.count += 1;
    }
    if is_config {
        text.push_str(&extra.line);
        extra.line.clear();
        text.push_str(&config_data_text(column, &credential.ticket));
    }
    if credential.renew_till != 0 {
        extra.push(
            &format!("renew until {}", timestamp(credential.renew_till, zone)),
            2,
        );
    }
    if options.show_flags {
        let letters = flag_letters(credential.flags);
        if !letters.is_empty() {
            extra.push(&format!("Flags: {letters}"), 1);
        }
    }
    // Three fields would make the line too long, so the rest go on a new line.
    if extra.count > 2 {
        extra.line.push('\n');
        extra.count = 0;
    }
    if options.show_enctypes {
        if let Some(ticket) = &ticket {
            extra.push(
                &format!(
                    "Etype (skey, tkt): {}, {} ",
                    enctype_display(credential.session_key.enctype()),
                    enctype_display(ticket.enctype)
                ),
                1,
            );
        }
    }
    // MIT prints the label even for an empty list, as its cache reader
    // returns an empty list rather than none.
    if options.show_adtypes && !is_config {
        let types: Vec<String> = credential
            .authdata
            .iter()
            .map(|ad| ad.ad_type.to_string())
            .collect();
        extra.push(&format!("AD types: {}", types.join(", ")), 1);
    }
    text.push_str(&extra.line);
    if extra.count > 0 {
        text.push('\n');
    }

    if options.show_addresses {
        if credential.addresses.is_empty() {
            text.push_str("\tAddresses: (none)\n");
        } else {
            let addresses: Vec<String> = credential.addresses.iter().map(address_text).collect();
            text.push_str(&format!("\tAddresses: {}\n", addresses.join(", ")));
        }
    }

    // A referral leaves the ticket's server different from the cached name.
    if let Some(server) = ticket.as_ref().and_then(|t| t.server.as_ref()) {
        if !server.same_name(&credential.server) {
            text.push_str(&format!("\tTicket server: {server}\n"));
        }
    }
    out.write_all(text.as_bytes())
}

/// Formats configuration data as MIT does: printable bytes as they are,
/// others as `\ooo`, wrapped after column 72 and indented to column 8.
fn config_data_text(start_column: usize, data: &[u8]) -> String {
    let mut text = String::new();
    let mut column = start_column;
    for &byte in data {
        while column < 8 {
            text.push(' ');
            column += 1;
        }
        if byte > 0x20 && byte < 0x7f {
            text.push(char::from(byte));
            column += 1;
        } else {
            text.push_str(&format!("\\{byte:03o}"));
            column += 4;
        }
        if column > 72 {
            text.push('\n');
            column = 0;
        }
    }
    if column > 0 {
        text.push('\n');
    }
    text
}

/// Formats a ticket address. Names are never looked up, so `-n` changes nothing.
pub fn address_text(address: &HostAddress) -> String {
    const ADDRTYPE_INET: i32 = 2;
    const ADDRTYPE_INET6: i32 = 24;
    let bytes = address.address.as_slice();
    match address.addr_type {
        ADDRTYPE_INET => match <[u8; 4]>::try_from(bytes) {
            Ok(octets) => Ipv4Addr::from(octets).to_string(),
            Err(_) => broken_address(address),
        },
        ADDRTYPE_INET6 => match <[u8; 16]>::try_from(bytes) {
            Ok(octets) => Ipv6Addr::from(octets).to_string(),
            Err(_) => broken_address(address),
        },
        other => format!("unknown addrtype {other}"),
    }
}

fn broken_address(address: &HostAddress) -> String {
    format!(
        "broken address (type {} length {})",
        address.addr_type,
        address.address.len()
    )
}

/// Returns true if the cache contains a current ticket: its local TGT
/// (`krbtgt/REALM@REALM` of the default principal's realm) must be
/// current if present, else any non-configuration ticket must be. This is
/// the `-s` exit status.
pub fn has_current_tickets(
    default_principal: &Principal,
    credentials: &[Credential],
    now: u32,
) -> bool {
    let realm = &default_principal.realm;
    let mut found_tgt = false;
    let mut current_tgt = false;
    let mut current_other = false;
    for credential in credentials {
        let server = &credential.server;
        let is_local_tgt =
            server.is_krbtgt() && server.realm == *realm && server.components.get(1) == Some(realm);
        if is_local_tgt {
            found_tgt = true;
            current_tgt |= credential.endtime > now;
        } else if !ccache::is_config_principal(server) && credential.endtime > now {
            current_other = true;
        }
    }
    if found_tgt {
        current_tgt
    } else {
        current_other
    }
}

#[cfg(test)]
mod tests;
