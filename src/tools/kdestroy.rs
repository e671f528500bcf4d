//! `kdestroy`: destroys a credential cache, the cache of one principal in
//! a collection, or every cache of a collection, as MIT krb5 1.20's
//! kdestroy does.

use krb5::ccache::{self, CcacheError, CredentialCache};
use krb5::Principal;

use super::errors::ccache_error_text;
use super::getopt;
use super::{defaults, load_config, Invocation, FAILURE};

const USAGE: &str = "\
Usage: kdestroy [-A] [-q] [-c cache_name] [-p princ_name]
\t-A destroy every cache of the collection
\t-q print no warnings and no terminal bell
\t-c credential cache to destroy (default: KRB5CCNAME)
\t-p destroy the cache of this principal in the collection
";

/// The parsed command line of kdestroy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KdestroyOptions {
    pub all: bool,
    pub quiet: bool,
    pub cache: Option<String>,
    pub principal: Option<String>,
}

/// Parses kdestroy's arguments; on a usage error returns the messages to
/// print before the usage text.
pub fn parse_args(program: &str, args: &[String]) -> Result<KdestroyOptions, Vec<String>> {
    let parsed = getopt::parse(program, args, "54Aqc:p:", &[]);
    let mut errors = parsed.errors;
    let mut options = KdestroyOptions::default();

    for (option, value) in parsed.options {
        let getopt::OptionId::Short(letter) = option else {
            continue;
        };
        match letter {
            'A' => options.all = true,
            'q' => options.quiet = true,
            'c' => {
                if options.cache.is_some() {
                    errors.push(format!("{program}: Only one -c option allowed"));
                }
                options.cache = value;
            }
            'p' => {
                if options.principal.is_some() {
                    errors.push(format!("{program}: Only one -p option allowed"));
                }
                options.principal = value;
            }
            '4' => errors.push(format!("{program}: Kerberos 4 is no longer supported")),
            _ => {}
        }
    }
    if options.all && options.principal.is_some() {
        errors.push(format!("{program}: -A option is exclusive with -p option"));
    }
    if let Some(extra) = parsed.operands.first() {
        errors.push(format!(
            "{program}: unexpected argument '{extra}'; name a cache with -c"
        ));
    }

    if errors.is_empty() {
        Ok(options)
    } else {
        Err(errors)
    }
}

/// Runs kdestroy. A cache that does not exist counts as destroyed, as in MIT.
pub fn run(invocation: &mut Invocation<'_>) -> i32 {
    let options = match parse_args(&invocation.program, &invocation.args) {
        Ok(options) => options,
        Err(errors) => return invocation.usage_failure(&errors, USAGE),
    };
    let Some(config) = load_config(invocation) else {
        return FAILURE;
    };
    let cache_name = match &options.cache {
        Some(name) => name.clone(),
        None => match defaults::ccache_name(&config) {
            Ok(name) => name,
            Err(error) => {
                invocation.error(format!("{error} while resolving ccache"));
                return FAILURE;
            }
        },
    };

    if options.all {
        return destroy_collection(invocation, &cache_name);
    }

    let cache = match &options.principal {
        Some(name) => {
            let principal = match Principal::parse(name, config.default_realm()) {
                Ok(principal) => principal,
                Err(error) => {
                    invocation.error(format!("{error} while parsing principal name {name}"));
                    return FAILURE;
                }
            };
            match find_cache(&cache_name, &principal) {
                Ok(cache) => cache,
                Err(message) => {
                    invocation.error(format!("{message} while finding cache for {name}"));
                    return FAILURE;
                }
            }
        }
        None => match ccache::resolve(&cache_name) {
            Ok(cache) => cache,
            Err(error) => {
                invocation.error(format!(
                    "{} while resolving ccache",
                    ccache_error_text(&error)
                ));
                return FAILURE;
            }
        },
    };

    if let Err(error) = cache.destroy() {
        invocation.error(format!(
            "{} while destroying cache",
            ccache_error_text(&error)
        ));
        if matches!(error, CcacheError::NotFound { .. }) {
            return 0;
        }
        let bell = if options.quiet { "" } else { "\u{7}" };
        let _ = writeln!(invocation.stderr, "Ticket cache {bell}NOT{bell} destroyed!");
        return FAILURE;
    }

    if !options.quiet && options.principal.is_none() {
        let others = ccache::collection(&cache_name).unwrap_or_default();
        if others.iter().any(|cache| cache.principal().is_ok()) {
            let _ = writeln!(
                invocation.stderr,
                "Other credential caches present, use -A to destroy all"
            );
        }
    }
    0
}

/// Finds the cache of `principal` in the collection of `cache_name`.
fn find_cache(cache_name: &str, principal: &Principal) -> Result<Box<dyn CredentialCache>, String> {
    let caches = ccache::collection(cache_name).map_err(|error| ccache_error_text(&error))?;
    caches
        .into_iter()
        .find(|cache| cache.principal().is_ok_and(|p| p.same_name(principal)))
        .ok_or_else(|| format!("Can't find client principal {principal} in cache collection"))
}

/// Destroys every cache of the collection; failures other than a missing
/// cache are reported, but the exit status is 0 as in MIT.
fn destroy_collection(invocation: &mut Invocation<'_>, cache_name: &str) -> i32 {
    let caches = match ccache::collection(cache_name) {
        Ok(caches) => caches,
        Err(error) => {
            invocation.error(format!(
                "{} while listing credential caches",
                ccache_error_text(&error)
            ));
            return FAILURE;
        }
    };
    for cache in caches {
        match cache.destroy() {
            Ok(()) | Err(CcacheError::NotFound { .. }) => {}
            Err(error) => invocation.error(format!(
                "{} while destroying cache {}",
                ccache_error_text(&error),
                cache.name()
            )),
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KdestroyOptions, Vec<String>> {
        let args: Vec<String> = text.split_whitespace().map(String::from).collect();
        parse_args("kdestroy", &args)
    }

    #[test]
    fn parse_options() {
        let options = parse("-q -c FILE:/tmp/cc").unwrap();
        assert!(options.quiet);
        assert_eq!(options.cache.as_deref(), Some("FILE:/tmp/cc"));
        assert!(parse("-A").unwrap().all);
        assert_eq!(
            parse("-p alice").unwrap().principal.as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn parse_errors() {
        let cases = [
            (
                "-A -p alice",
                "kdestroy: -A option is exclusive with -p option",
            ),
            ("-c a -c b", "kdestroy: Only one -c option allowed"),
            ("-p a -p b", "kdestroy: Only one -p option allowed"),
            (
                "/tmp/cc",
                "kdestroy: unexpected argument '/tmp/cc'; name a cache with -c",
            ),
            ("-x", "kdestroy: invalid option -- 'x'"),
        ];
        for (args, message) in cases {
            assert_eq!(parse(args), Err(vec![message.to_string()]), "{args}");
        }
    }
}
