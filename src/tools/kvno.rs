//! `kvno`: gets a service ticket for each service named and prints the
//! kvno of the key it is encrypted in, as MIT krb5 1.20's kvno does.

use krb5::ccache::{self, CcacheError, CredentialCache};
use krb5::config::Config;
use krb5::credentials::Credential;
use krb5::iana::{enctype, key_usage, name_type};
use krb5::kdc::{KdcClient, TgsOptions};
use krb5::keytab::Keytab;
use krb5::messages::{self, Ticket};
use krb5::Principal;

use super::errors::{ccache_error_text, service_credentials_error_text};
use super::getopt::{self, HasArg, LongOption, OptionId};
use super::{defaults, load_config, Invocation, FAILURE};

const USAGE: &str = "\
usage: kvno [-c ccache] [-e etype] [-k keytab] [-q] [-u | -S sname]
\t[--cached-only] [--no-store] service1 service2 ...
\t-c credential cache to use (default: KRB5CCNAME)
\t-e enctype of the session key to request, such as aes256-cts-hmac-sha1-96
\t-k keytab to check each ticket against
\t-q print nothing on success
\t-u give the service names the name type NT-UNKNOWN
\t-S service; each operand is then a host name
\t-C ask the KDC to canonicalize the service name
\t--cached-only use only tickets already in the cache
\t--no-store do not store new tickets in the cache
";

/// The options MIT's kvno has that this one rejects, with what they do.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("-P", "constrained delegation (S4U2Proxy)"),
    ("-I", "protocol transition (S4U2Self)"),
    ("-U", "protocol transition (S4U2Self)"),
    ("-F", "protocol transition with a certificate"),
    ("--u2u", "user-to-user tickets"),
    ("--out-cache", "a separate output cache"),
];

const LONG_OPTIONS: &[LongOption] = &[
    LongOption {
        name: "cached-only",
        has_arg: HasArg::No,
        id: OptionId::Long("cached-only"),
    },
    LongOption {
        name: "no-store",
        has_arg: HasArg::No,
        id: OptionId::Long("no-store"),
    },
    LongOption {
        name: "out-cache",
        has_arg: HasArg::Required,
        id: OptionId::Long("out-cache"),
    },
    LongOption {
        name: "u2u",
        has_arg: HasArg::Required,
        id: OptionId::Long("u2u"),
    },
];

/// The parsed command line of kvno.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvnoOptions {
    pub cache: Option<String>,
    pub enctype: Option<i32>,
    pub keytab: Option<String>,
    pub quiet: bool,
    pub unknown_name_type: bool,
    pub sname: Option<String>,
    pub canonicalize: bool,
    pub cached_only: bool,
    pub no_store: bool,
    pub services: Vec<String>,
    /// `-h`: print the usage and fail, as MIT's kvno does.
    pub help: bool,
}

/// Parses kvno's arguments; on a usage error returns the messages to print
/// before the usage text.
pub fn parse_args(program: &str, args: &[String]) -> Result<KvnoOptions, Vec<String>> {
    let parsed = getopt::parse(program, args, "uCc:e:hk:qPS:I:U:F:", LONG_OPTIONS);
    let mut errors = parsed.errors;
    let mut options = KvnoOptions::default();

    for (option, value) in parsed.options {
        let value = value.unwrap_or_default();
        let flag = match option {
            OptionId::Short(letter) => format!("-{letter}"),
            OptionId::Long(name) => format!("--{name}"),
        };
        if let Some((_, what)) = UNSUPPORTED.iter().find(|(f, _)| *f == flag) {
            errors.push(format!("{program}: {flag} ({what}) is not supported"));
            continue;
        }
        match flag.as_str() {
            "-c" => options.cache = Some(value),
            "-e" => match enctype::from_name(&value) {
                Some(e) => options.enctype = Some(e),
                None => errors.push(format!(
                    "{program}: invalid enctype '{value}' for -e; use a name such as aes256-cts-hmac-sha1-96"
                )),
            },
            "-h" => options.help = true,
            "-k" => options.keytab = Some(value),
            "-q" => options.quiet = true,
            "-u" => options.unknown_name_type = true,
            "-S" => options.sname = Some(value),
            "-C" => options.canonicalize = true,
            "--cached-only" => options.cached_only = true,
            "--no-store" => options.no_store = true,
            _ => {}
        }
    }
    if options.unknown_name_type && options.sname.is_some() {
        errors.push(format!(
            "{program}: Options -u and -S are mutually exclusive"
        ));
    }
    options.services = parsed.operands;
    if options.services.is_empty() && errors.is_empty() && !options.help {
        errors.push(format!("{program}: no service named"));
    }

    if errors.is_empty() && !options.help {
        Ok(options)
    } else {
        Err(errors)
    }
}

/// Runs kvno.
pub fn run(invocation: &mut Invocation<'_>) -> i32 {
    let options = match parse_args(&invocation.program, &invocation.args) {
        Ok(options) => options,
        Err(errors) => return invocation.usage_failure(&errors, USAGE),
    };
    let Some(config) = load_config(invocation) else {
        return FAILURE;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            invocation.error(format!("cannot start the I/O runtime: {error}"));
            return FAILURE;
        }
    };

    let cache_name = match &options.cache {
        Some(name) => name.clone(),
        None => match defaults::ccache_name(&config) {
            Ok(name) => name,
            Err(error) => {
                invocation.error(format!("{error} while opening ccache"));
                return FAILURE;
            }
        },
    };
    let cache = match ccache::resolve(&cache_name) {
        Ok(cache) => cache,
        Err(error) => {
            invocation.error(format!(
                "{} while opening ccache",
                ccache_error_text(&error)
            ));
            return FAILURE;
        }
    };
    let me = match cache.principal() {
        Ok(me) => me,
        Err(error) => {
            invocation.error(format!(
                "{} while getting client principal name",
                ccache_error_text(&error)
            ));
            return FAILURE;
        }
    };
    let keytab = match &options.keytab {
        Some(name) => match Keytab::load(name) {
            Ok(keytab) => Some(keytab),
            Err(error) => {
                invocation.error(format!(
                    "{} resolving keytab {name}",
                    super::klist::keytab_error_text(&error)
                ));
                return FAILURE;
            }
        },
        None => None,
    };
    let client = match KdcClient::from_config(std::sync::Arc::new(config.clone())) {
        Ok(client) => client,
        Err(error) => {
            invocation.error(format!("{error} while initializing krb5 library"));
            return FAILURE;
        }
    };

    let context = Context {
        config: &config,
        client: &client,
        cache: cache.as_ref(),
        me: &me,
        options: &options,
        keytab: keytab.as_ref(),
    };
    let mut failures = 0;
    for name in &options.services {
        if runtime.block_on(context.kvno(invocation, name)).is_err() {
            failures += 1;
        }
    }
    if failures > 0 {
        FAILURE
    } else {
        0
    }
}

/// The state shared by every service lookup of one run.
struct Context<'a> {
    config: &'a Config,
    client: &'a KdcClient,
    cache: &'a dyn CredentialCache,
    me: &'a Principal,
    options: &'a KvnoOptions,
    keytab: Option<&'a Keytab>,
}

/// A failure that has already been reported on stderr.
struct Reported;

impl Context<'_> {
    async fn service_principal(&self, name: &str) -> Result<Principal, String> {
        let mut principal = match &self.options.sname {
            Some(service) => {
                let hosts = krb5::locate::canonicalize_host(self.config, name)
                    .await
                    .map_err(|e| e.to_string())?;
                let host = hosts.into_iter().next().unwrap_or_else(|| name.to_string());
                let realm = krb5::locate::realm_for_host(self.config, &host)
                    .await
                    .map_err(|e| e.to_string())?
                    .unwrap_or_else(|| self.me.realm.clone());
                Principal::host_service(service, &host, &realm)
            }
            None => Principal::parse(name, self.config.default_realm().or(Some(&self.me.realm)))
                .map_err(|e| e.to_string())?,
        };
        if self.options.unknown_name_type {
            principal.name_type = name_type::UNKNOWN;
        }
        Ok(principal)
    }

    /// Finds a current ticket for `service` in the cache.
    fn cached(&self, service: &Principal) -> Option<Credential> {
        let now = u32::try_from(self.client.now()).unwrap_or(u32::MAX);
        self.cache
            .retrieve(service, self.options.enctype)
            .ok()
            .filter(|credential| !credential.is_expired(now))
    }

    async fn credential(&self, service: &Principal) -> Result<Credential, String> {
        if let Some(credential) = self.cached(service) {
            return Ok(credential);
        }
        if self.options.cached_only {
            return Err(format!(
                "Matching credential not found (no ticket for {service} in {})",
                self.cache.name()
            ));
        }

        let tgt_name = Principal::krbtgt(&self.me.realm, &self.me.realm);
        let tgt = self
            .cache
            .retrieve(&tgt_name, None)
            .map_err(|error| match error {
                CcacheError::CredentialNotFound { .. } => format!(
                    "Matching credential not found (no ticket-granting ticket {tgt_name} in {}); run kinit",
                    self.cache.name()
                ),
                other => ccache_error_text(&other),
            })?;
        let options = TgsOptions {
            canonicalize: self.options.canonicalize || TgsOptions::default().canonicalize,
            enctypes: self.options.enctype.map(|e| vec![e]),
            ..TgsOptions::default()
        };
        let result = self
            .client
            .get_service_credentials(&tgt, service, &options)
            .await
            .map_err(|error| service_credentials_error_text(&error, &service.to_string()))?;

        if !self.options.no_store {
            for credential in result
                .tgts
                .iter()
                .chain(std::iter::once(&result.credential))
            {
                self.cache
                    .store(credential)
                    .map_err(|error| ccache_error_text(&error))?;
            }
        }
        Ok(result.credential)
    }

    async fn kvno(&self, invocation: &mut Invocation<'_>, name: &str) -> Result<(), Reported> {
        let service = match self.service_principal(name).await {
            Ok(service) => service,
            Err(error) => {
                if !self.options.quiet {
                    invocation.error(format!("{error} while parsing principal name {name}"));
                }
                return Err(Reported);
            }
        };
        let credential = match self.credential(&service).await {
            Ok(credential) => credential,
            Err(error) => {
                invocation.error(format!("{error} while getting credentials for {service}"));
                return Err(Reported);
            }
        };
        let ticket = match messages::decode_ticket(&credential.ticket) {
            Ok(ticket) => ticket,
            Err(error) => {
                invocation.error(format!("{error} while decoding ticket for {service}"));
                return Err(Reported);
            }
        };
        let kvno = ticket.enc_part.kvno.unwrap_or(0);

        let Some(keytab) = self.keytab else {
            if !self.options.quiet {
                let _ = writeln!(invocation.stdout, "{service}: kvno = {kvno}");
            }
            return Ok(());
        };
        match check_with_keytab(keytab, &credential.server, &ticket) {
            Ok(()) => {
                if !self.options.quiet {
                    let _ = writeln!(
                        invocation.stdout,
                        "{service}: kvno = {kvno}, keytab entry valid"
                    );
                }
                Ok(())
            }
            Err(error) => {
                if !self.options.quiet {
                    let _ = writeln!(
                        invocation.stderr,
                        "{service}: kvno = {kvno}, keytab entry invalid"
                    );
                }
                invocation.error(format!("{error} while decrypting ticket for {service}"));
                Err(Reported)
            }
        }
    }
}

/// Decrypts the ticket's enc-part with the keytab's key for `server`, as
/// an acceptor would.
fn check_with_keytab(keytab: &Keytab, server: &Principal, ticket: &Ticket) -> Result<(), String> {
    let entry = keytab
        .select_key(Some(server), ticket.enc_part.kvno, ticket.enc_part.etype)
        .map_err(|error| error.to_string())?;
    let plaintext = entry
        .key
        .decrypt(key_usage::KDC_REP_TICKET, &ticket.enc_part.cipher)
        .map_err(|error| error.to_string())?;
    messages::decode_enc_ticket_part(&plaintext).map_err(|error| error.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KvnoOptions, Vec<String>> {
        let args: Vec<String> = text.split_whitespace().map(String::from).collect();
        parse_args("kvno", &args)
    }

    #[test]
    fn parse_services_and_options() {
        let options = parse("-q -c FILE:/tmp/cc -e aes128-cts nfs/a nfs/b@B.TEST").unwrap();
        assert!(options.quiet);
        assert_eq!(options.cache.as_deref(), Some("FILE:/tmp/cc"));
        assert_eq!(options.enctype, Some(17));
        assert_eq!(options.services, ["nfs/a", "nfs/b@B.TEST"]);

        let options = parse("--cached --no-store -S nfs server1").unwrap();
        assert!(options.cached_only);
        assert!(options.no_store);
        assert_eq!(options.sname.as_deref(), Some("nfs"));
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("", "kvno: no service named"),
            ("-e des-cbc-crc x", "kvno: invalid enctype 'des-cbc-crc' for -e; use a name such as aes256-cts-hmac-sha1-96"),
            ("-u -S nfs h", "kvno: Options -u and -S are mutually exclusive"),
            ("-P x", "kvno: -P (constrained delegation (S4U2Proxy)) is not supported"),
            ("--u2u /tmp/cc x", "kvno: --u2u (user-to-user tickets) is not supported"),
            ("-x y", "kvno: invalid option -- 'x'"),
        ];
        for (args, message) in cases {
            assert_eq!(parse(args), Err(vec![message.to_string()]), "{args}");
        }
        assert_eq!(parse("-h"), Err(vec![]));
    }
}
