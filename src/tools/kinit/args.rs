//! kinit's command line, with MIT krb5 1.20's options and checks.

use std::time::Duration;

use krb5::config::parse_duration;

use crate::tools::getopt::{self, HasArg, LongOption, OptionId};

pub const USAGE: &str = "\
Usage: kinit [-V] [-l lifetime] [-r renewable_life] [-f | -F] [-p | -P]
\t[-A] [-R] [-k [-i|-t keytab_file]] [-c cachename] [-S service_name]
\t[--request-pac | --no-request-pac] [principal]

    options:
\t-V print each step on stderr
\t-l ticket lifetime, such as 10h, 1d2h30m or 3600 (seconds)
\t-r renewable lifetime, in the same syntax
\t-f request a forwardable ticket
\t-F request a ticket that is not forwardable
\t-p request a proxiable ticket
\t-P request a ticket that is not proxiable
\t-A request a ticket without addresses (the default)
\t-R renew the ticket-granting ticket of the cache
\t-k get the ticket with a key from a keytab (default keytab: KRB5_KTNAME)
\t-i with -k, use the default client keytab (KRB5_CLIENT_KTNAME)
\t-t keytab to use; implies -k
\t-c credential cache to store the ticket in
\t-S service principal to get the initial ticket for (default krbtgt)
\t--request-pac, --no-request-pac: ask the KDC to include or omit a PAC
";

/// What kinit does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Action {
    /// An AS exchange with a password from the terminal or stdin.
    #[default]
    Password,
    /// An AS exchange with a key from a keytab.
    Keytab,
    /// A TGS exchange renewing the cache's ticket-granting ticket.
    Renew,
}

/// The parsed command line of kinit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KinitOptions {
    pub verbose: bool,
    pub lifetime: Option<Duration>,
    pub renewable_lifetime: Option<Duration>,
    /// `Some(true)` for -f, `Some(false)` for -F, `None` for krb5.conf's choice.
    pub forwardable: Option<bool>,
    /// `Some(true)` for -p, `Some(false)` for -P.
    pub proxiable: Option<bool>,
    pub action: Action,
    pub use_client_keytab: bool,
    pub keytab: Option<String>,
    pub cache: Option<String>,
    pub service: Option<String>,
    pub request_pac: Option<bool>,
    pub principal: Option<String>,
}

/// The options MIT's kinit has that these tools reject, with what they do.
const UNSUPPORTED: &[(char, &str)] = &[
    ('s', "postdated tickets"),
    ('v', "validation of postdated tickets"),
    ('n', "anonymous PKINIT"),
    ('a', "tickets with addresses"),
    ('C', "client name canonicalization"),
    ('E', "enterprise principal names"),
    ('I', "an input credential cache"),
    ('T', "FAST armor"),
    ('X', "pre-authentication attributes"),
];

const LONG_OPTIONS: &[LongOption] = &[
    LongOption {
        name: "forwardable",
        has_arg: HasArg::No,
        id: OptionId::Short('f'),
    },
    LongOption {
        name: "noforwardable",
        has_arg: HasArg::No,
        id: OptionId::Short('F'),
    },
    LongOption {
        name: "proxiable",
        has_arg: HasArg::No,
        id: OptionId::Short('p'),
    },
    LongOption {
        name: "noproxiable",
        has_arg: HasArg::No,
        id: OptionId::Short('P'),
    },
    LongOption {
        name: "noaddresses",
        has_arg: HasArg::No,
        id: OptionId::Short('A'),
    },
    LongOption {
        name: "addresses",
        has_arg: HasArg::No,
        id: OptionId::Short('a'),
    },
    LongOption {
        name: "canonicalize",
        has_arg: HasArg::No,
        id: OptionId::Short('C'),
    },
    LongOption {
        name: "enterprise",
        has_arg: HasArg::No,
        id: OptionId::Short('E'),
    },
    LongOption {
        name: "request-pac",
        has_arg: HasArg::No,
        id: OptionId::Long("request-pac"),
    },
    LongOption {
        name: "no-request-pac",
        has_arg: HasArg::No,
        id: OptionId::Long("no-request-pac"),
    },
];

/// The outcome of parsing: the options, warnings to print, or the errors
/// that make it a usage error.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseOutcome {
    pub options: KinitOptions,
    /// Messages printed without failing, such as `keytab specified, forcing -k`.
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

fn lifetime(program: &str, flag: char, text: &str, errors: &mut Vec<String>) -> Option<Duration> {
    match parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Some(duration),
        Ok(_) => {
            errors.push(format!(
                "{program}: Bad lifetime value {text} for -{flag}: it must be more than zero"
            ));
            None
        }
        Err(error) => {
            errors.push(format!(
                "{program}: Bad lifetime value {text} for -{flag}: {error}"
            ));
            None
        }
    }
}

/// Parses kinit's arguments.
pub fn parse_args(program: &str, args: &[String]) -> ParseOutcome {
    let parsed = getopt::parse(
        program,
        args,
        "r:fpFPn54aAVl:s:c:kit:T:RS:vX:CEI:",
        LONG_OPTIONS,
    );
    let mut errors = parsed.errors;
    let mut warnings = Vec::new();
    let mut options = KinitOptions::default();

    for (option, value) in parsed.options {
        let value = value.unwrap_or_default();
        let letter = match option {
            OptionId::Short(letter) => letter,
            OptionId::Long("request-pac") => {
                if options.request_pac == Some(false) {
                    errors.push(format!(
                        "{program}: Only one of --request-pac and --no-request-pac allowed"
                    ));
                }
                options.request_pac = Some(true);
                continue;
            }
            OptionId::Long(_) => {
                if options.request_pac == Some(true) {
                    errors.push(format!(
                        "{program}: Only one of --request-pac and --no-request-pac allowed"
                    ));
                }
                options.request_pac = Some(false);
                continue;
            }
        };
        if let Some((_, what)) = UNSUPPORTED.iter().find(|(l, _)| *l == letter) {
            errors.push(format!("{program}: -{letter} ({what}) is not supported"));
            continue;
        }
        match letter {
            'V' => options.verbose = true,
            'l' => options.lifetime = lifetime(program, 'l', &value, &mut errors),
            'r' => options.renewable_lifetime = lifetime(program, 'r', &value, &mut errors),
            'f' | 'F' => {
                let wanted = letter == 'f';
                if options.forwardable == Some(!wanted) {
                    errors.push(format!("{program}: Only one of -f and -F allowed"));
                }
                options.forwardable = Some(wanted);
            }
            'p' | 'P' => {
                let wanted = letter == 'p';
                if options.proxiable == Some(!wanted) {
                    errors.push(format!("{program}: Only one of -p and -P allowed"));
                }
                options.proxiable = Some(wanted);
            }
            // Tickets carry no addresses unless -a asks for them.
            'A' => {}
            'k' => options.action = Action::Keytab,
            'i' => options.use_client_keytab = true,
            't' => {
                if options.keytab.is_some() {
                    errors.push(format!("{program}: Only one -t option allowed."));
                }
                options.keytab = Some(value);
            }
            'R' => options.action = Action::Renew,
            'c' => {
                if options.cache.is_some() {
                    errors.push(format!("{program}: Only one -c option allowed"));
                }
                options.cache = Some(value);
            }
            'S' => options.service = Some(value),
            // Kerberos 5 is the only version; MIT also accepts -5 for it.
            '5' => {}
            '4' => errors.push(format!("{program}: Kerberos 4 is no longer supported")),
            _ => {}
        }
    }

    if options.keytab.is_some() && options.use_client_keytab {
        errors.push(format!("{program}: Only one of -t and -i allowed"));
    }
    if (options.keytab.is_some() || options.use_client_keytab) && options.action != Action::Keytab {
        warnings.push("keytab specified, forcing -k".to_string());
        options.action = Action::Keytab;
    }

    let mut operands = parsed.operands.into_iter();
    options.principal = operands.next();
    if let Some(extra) = operands.next() {
        errors.push(format!("Extra arguments (starting with \"{extra}\")."));
    }

    ParseOutcome {
        options,
        warnings,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ParseOutcome {
        let args: Vec<String> = text.split_whitespace().map(String::from).collect();
        parse_args("kinit", &args)
    }

    fn options(text: &str) -> KinitOptions {
        let outcome = parse(text);
        assert!(outcome.errors.is_empty(), "{text}: {:?}", outcome.errors);
        outcome.options
    }

    #[test]
    fn password_defaults() {
        let parsed = options("alice@EXAMPLE.TEST");
        assert_eq!(parsed.action, Action::Password);
        assert_eq!(parsed.principal.as_deref(), Some("alice@EXAMPLE.TEST"));
        assert_eq!(parsed.forwardable, None);
        assert_eq!(parsed.lifetime, None);
    }

    #[test]
    fn lifetimes_in_mit_syntax() {
        let parsed = options("-l10h -r 7d -f alice");
        assert_eq!(parsed.lifetime, Some(Duration::from_secs(36_000)));
        assert_eq!(
            parsed.renewable_lifetime,
            Some(Duration::from_secs(604_800))
        );
        assert_eq!(parsed.forwardable, Some(true));
        assert_eq!(options("-l 1:30").lifetime, Some(Duration::from_secs(5400)));
        assert_eq!(options("-l 3600").lifetime, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn bad_lifetimes_name_flag_and_value() {
        let outcome = parse("-l xyz alice");
        assert_eq!(outcome.errors.len(), 1);
        assert!(
            outcome.errors[0].starts_with("kinit: Bad lifetime value xyz for -l: invalid duration"),
            "{:?}",
            outcome.errors
        );
        let outcome = parse("-r 0 alice");
        assert_eq!(
            outcome.errors,
            ["kinit: Bad lifetime value 0 for -r: it must be more than zero"]
        );
    }

    #[test]
    fn keytab_forms() {
        let parsed = options("-k -t /etc/krb5.keytab nfs/server");
        assert_eq!(parsed.action, Action::Keytab);
        assert_eq!(parsed.keytab.as_deref(), Some("/etc/krb5.keytab"));

        let parsed = options("-kt FILE:/k");
        assert_eq!(parsed.action, Action::Keytab);
        assert_eq!(parsed.keytab.as_deref(), Some("FILE:/k"));
        assert_eq!(parsed.principal, None);

        let outcome = parse("-t /k alice");
        assert_eq!(outcome.options.action, Action::Keytab);
        assert_eq!(outcome.warnings, ["keytab specified, forcing -k"]);
        assert!(outcome.errors.is_empty());

        let parsed = options("-k -i");
        assert!(parsed.use_client_keytab);
    }

    #[test]
    fn conflicting_options() {
        let cases = [
            ("-f -F", "kinit: Only one of -f and -F allowed"),
            ("-P -p", "kinit: Only one of -p and -P allowed"),
            ("-c a -c b", "kinit: Only one -c option allowed"),
            ("-t a -t b", "kinit: Only one -t option allowed."),
            ("-k -t a -i", "kinit: Only one of -t and -i allowed"),
            (
                "--request-pac --no-request-pac",
                "kinit: Only one of --request-pac and --no-request-pac allowed",
            ),
            ("a b", "Extra arguments (starting with \"b\")."),
            ("-Z", "kinit: invalid option -- 'Z'"),
            ("-l", "kinit: option requires an argument -- 'l'"),
        ];
        for (args, message) in cases {
            assert_eq!(parse(args).errors, [message], "{args}");
        }
    }

    #[test]
    fn unsupported_options_are_named() {
        assert_eq!(
            parse("-n").errors,
            ["kinit: -n (anonymous PKINIT) is not supported"]
        );
        assert_eq!(
            parse("-s 1h alice").errors,
            ["kinit: -s (postdated tickets) is not supported"]
        );
        assert_eq!(
            parse("--enterprise alice").errors,
            ["kinit: -E (enterprise principal names) is not supported"]
        );
    }

    #[test]
    fn long_options_map_to_letters() {
        let parsed = options("--forwardable --noproxiable --noaddresses --request-pac alice");
        assert_eq!(parsed.forwardable, Some(true));
        assert_eq!(parsed.proxiable, Some(false));
        assert_eq!(parsed.request_pac, Some(true));
    }

    #[test]
    fn renew_and_service() {
        let parsed = options("-R -c FILE:/tmp/cc");
        assert_eq!(parsed.action, Action::Renew);
        assert_eq!(parsed.cache.as_deref(), Some("FILE:/tmp/cc"));
        let parsed = options("-S kadmin/changepw alice");
        assert_eq!(parsed.service.as_deref(), Some("kadmin/changepw"));
        // As in MIT's kinit, the last of -k and -R wins, and a keytab forces -k.
        assert_eq!(options("-k -R").action, Action::Renew);
        assert_eq!(options("-R -k").action, Action::Keytab);
        let outcome = parse("-R -t /k");
        assert_eq!(outcome.options.action, Action::Keytab);
        assert_eq!(outcome.warnings, ["keytab specified, forcing -k"]);
    }
}
