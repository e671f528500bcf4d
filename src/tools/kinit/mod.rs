//! `kinit`: gets an initial ticket with a password or a keytab, or renews
//! the ticket-granting ticket of a cache, as MIT krb5 1.20's kinit does.

pub mod args;

use std::collections::BTreeMap;

use krb5::ccache::{self, dir::DirCache, CredentialCache};
use krb5::config::Config;
use krb5::credentials::Credential;
use krb5::crypto::Key;
use krb5::kdc::{AsOptions, KdcClient, KdcError, Secret};
use krb5::keytab::Keytab;
use krb5::Principal;

use self::args::{parse_args, Action, KinitOptions, USAGE};
use super::errors::{ccache_error_text, initial_credentials_error_text, Authentication};
use super::{defaults, load_config, password, Invocation, FAILURE};

/// Runs kinit.
pub fn run(invocation: &mut Invocation<'_>) -> i32 {
    let outcome = parse_args(&invocation.program, &invocation.args);
    for warning in &outcome.warnings {
        let _ = writeln!(invocation.stderr, "{warning}");
    }
    if !outcome.errors.is_empty() {
        return invocation.usage_failure(&outcome.errors, USAGE);
    }

    match Kinit::new(invocation, outcome.options).and_then(|mut kinit| kinit.run()) {
        Ok(()) => 0,
        Err(Failure) => FAILURE,
    }
}

/// A failure that has already been reported on stderr.
struct Failure;

type Outcome<T> = Result<T, Failure>;

/// One kinit run: the options, krb5.conf and the output streams.
struct Kinit<'i, 'o> {
    invocation: &'i mut Invocation<'o>,
    options: KinitOptions,
    config: Config,
}

/// The cache kinit writes to, and whether it becomes its collection's primary.
struct OutputCache {
    cache: Box<dyn CredentialCache>,
    switch_to: Option<DirCache>,
}

impl<'i, 'o> Kinit<'i, 'o> {
    fn new(invocation: &'i mut Invocation<'o>, options: KinitOptions) -> Outcome<Self> {
        let config = load_config(invocation).ok_or(Failure)?;
        Ok(Self {
            invocation,
            options,
            config,
        })
    }

    fn fail<T>(&mut self, message: impl std::fmt::Display) -> Outcome<T> {
        self.invocation.error(message);
        Err(Failure)
    }

    fn verbose(&mut self, message: impl std::fmt::Display) {
        if self.options.verbose {
            let _ = writeln!(self.invocation.stderr, "{message}");
        }
    }

    fn run(&mut self) -> Outcome<()> {
        let default_name = match defaults::ccache_name(&self.config) {
            Ok(name) => name,
            Err(error) => return self.fail(format!("{error} while getting default ccache")),
        };

        let specified = match self.options.cache.clone() {
            Some(name) => {
                let cache = self.resolve_cache(&name)?;
                self.verbose(format!("Using specified cache: {name}"));
                Some(cache)
            }
            None => None,
        };
        let default_cache = match &specified {
            Some(_) => None,
            None => Some(self.resolve_cache(&default_name)?),
        };
        let default_principal = default_cache.as_ref().and_then(|c| c.principal().ok());

        let me = self.choose_principal(specified.as_deref(), default_principal.as_ref())?;
        let output = match specified {
            Some(cache) => OutputCache {
                cache,
                switch_to: None,
            },
            None => self.choose_default_output(
                &default_name,
                default_cache,
                &me,
                default_principal.as_ref(),
            )?,
        };
        self.verbose(format!("Using principal: {me}"));

        let credential = self.get_credential(&me, output.cache.as_ref())?;
        self.store(&me, &output, &credential)?;
        self.verbose("Authenticated to Kerberos v5");
        Ok(())
    }

    fn resolve_cache(&mut self, name: &str) -> Outcome<Box<dyn CredentialCache>> {
        match ccache::resolve(name) {
            Ok(cache) => Ok(cache),
            Err(error) => self.fail(format!(
                "{} resolving ccache {name}",
                ccache_error_text(&error)
            )),
        }
    }

    fn parse_principal(&mut self, name: &str) -> Outcome<Principal> {
        match Principal::parse(name, self.config.default_realm()) {
            Ok(principal) => Ok(principal),
            Err(error) => self.fail(format!("{error} when parsing name {name}")),
        }
    }

    /// Picks the client principal in MIT's order. That is the operand, else
    /// with -k -i the client keytab's first principal, else with -k the
    /// local host principal, else the specified or default cache's
    /// principal, else the login name.
    fn choose_principal(
        &mut self,
        specified: Option<&dyn CredentialCache>,
        default_principal: Option<&Principal>,
    ) -> Outcome<Principal> {
        if let Some(name) = self.options.principal.clone() {
            return self.parse_principal(&name);
        }
        if self.options.action == Action::Keytab && self.options.use_client_keytab {
            let keytab = self.load_keytab()?;
            return match keytab.principals().first() {
                Some(principal) => Ok((*principal).clone()),
                None => self.fail(
                    "the client keytab has no entries when determining client principal name from keytab",
                ),
            };
        }
        if self.options.action == Action::Keytab {
            let runtime = self.runtime()?;
            return match runtime.block_on(defaults::local_host_principal(&self.config, "host")) {
                Ok(principal) => Ok(principal),
                Err(error) => self.fail(format!(
                    "{error} when creating default server principal name"
                )),
            };
        }
        if let Some(cache) = specified {
            if let Ok(principal) = cache.principal() {
                return Ok(principal);
            }
        } else if let Some(principal) = default_principal {
            return Ok(principal.clone());
        }

        let uid = nix::unistd::getuid();
        match nix::unistd::User::from_uid(uid) {
            Ok(Some(user)) => self.parse_principal(&user.name),
            _ => self.fail(format!(
                "Unable to identify user (uid {uid} has no name in the password database)"
            )),
        }
    }

    /// Picks the output cache when -c is not given. In a DIR collection, a
    /// cache that already contains `me` is reused. A primary cache of
    /// another principal is kept, because the tickets go to a new cache.
    /// Either cache then becomes the primary, as MIT's kinit switches to it.
    ///
    /// NOTE: KEYRING and KCM collections are written through their default
    /// cache, without this search.
    fn choose_default_output(
        &mut self,
        default_name: &str,
        default_cache: Option<Box<dyn CredentialCache>>,
        me: &Principal,
        default_principal: Option<&Principal>,
    ) -> Outcome<OutputCache> {
        let Some(default_cache) = default_cache else {
            return self.fail("no default credential cache");
        };
        let Some(directory) = default_name
            .strip_prefix("DIR:")
            .filter(|d| !d.starts_with(':'))
        else {
            self.verbose(format!(
                "Using default cache: {}",
                residual(&default_cache.name())
            ));
            return Ok(OutputCache {
                cache: default_cache,
                switch_to: None,
            });
        };

        let existing = ccache::collection(default_name)
            .unwrap_or_default()
            .into_iter()
            .find(|cache| cache.principal().is_ok_and(|p| p.same_name(me)));
        let chosen = match existing {
            Some(cache) => {
                self.verbose(format!("Using existing cache: {}", residual(&cache.name())));
                DirCache::resolve(&residual(&cache.name()))
            }
            None if default_principal.is_some() => {
                let created = DirCache::new_unique(std::path::Path::new(directory));
                if let Ok(cache) = &created {
                    self.verbose(format!("Using new cache: {}", residual(&cache.name())));
                }
                created
            }
            None => {
                self.verbose(format!(
                    "Using default cache: {}",
                    residual(&default_cache.name())
                ));
                return Ok(OutputCache {
                    cache: default_cache,
                    switch_to: None,
                });
            }
        };
        match chosen {
            Ok(cache) => Ok(OutputCache {
                cache: Box::new(cache.clone()),
                switch_to: Some(cache),
            }),
            Err(error) => self.fail(format!(
                "{} while generating new ccache",
                ccache_error_text(&error)
            )),
        }
    }

    fn load_keytab(&mut self) -> Outcome<Keytab> {
        let name = match (&self.options.keytab, self.options.use_client_keytab) {
            (Some(name), _) => Ok(name.clone()),
            (None, true) => defaults::client_keytab_name(&self.config),
            (None, false) => defaults::keytab_name(&self.config),
        };
        let name = match name {
            Ok(name) => name,
            Err(error) => return self.fail(format!("{error} resolving keytab")),
        };
        self.verbose(format!("Using keytab: {name}"));
        match Keytab::load(&name) {
            Ok(keytab) => Ok(keytab),
            Err(error) => self.fail(format!(
                "{} while getting initial credentials",
                super::klist::keytab_error_text(&error)
            )),
        }
    }

    fn runtime(&mut self) -> Outcome<tokio::runtime::Runtime> {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => Ok(runtime),
            Err(error) => self.fail(format!("cannot start the I/O runtime: {error}")),
        }
    }

    fn client(&mut self) -> Outcome<KdcClient> {
        match KdcClient::from_config(std::sync::Arc::new(self.config.clone())) {
            Ok(client) => Ok(client),
            Err(error) => self.fail(format!("{error} while initializing Kerberos 5 library")),
        }
    }

    fn as_options(&mut self, me: &Principal) -> Outcome<AsOptions> {
        // krb5.conf's defaults for the realm (lifetimes, flags and the
        // renewable-ok bit of kdc_default_options), then the command line.
        let defaults = match AsOptions::from_config(&self.config, &me.realm) {
            Ok(defaults) => defaults,
            Err(error) => return self.fail(format!("{error} while getting initial credentials")),
        };

        let service = match self.options.service.clone() {
            Some(name) => match Principal::parse(&name, Some(&me.realm)) {
                Ok(service) => Some(service),
                Err(error) => {
                    return self.fail(format!("{error} while parsing service name {name}"))
                }
            },
            None => None,
        };
        let renew_lifetime = self.options.renewable_lifetime.or(defaults.renew_lifetime);
        Ok(AsOptions {
            service,
            lifetime: self.options.lifetime.unwrap_or(defaults.lifetime),
            renew_lifetime,
            forwardable: self.options.forwardable.unwrap_or(defaults.forwardable),
            proxiable: self.options.proxiable.unwrap_or(defaults.proxiable),
            include_pac: self.options.request_pac.or(defaults.include_pac),
            ..defaults
        })
    }

    fn get_credential(
        &mut self,
        me: &Principal,
        cache: &dyn CredentialCache,
    ) -> Outcome<Credential> {
        let client = self.client()?;
        let runtime = self.runtime()?;

        match self.options.action {
            Action::Renew => {
                let tgt_name = Principal::krbtgt(&me.realm, &me.realm);
                let tgt = match cache.retrieve(&tgt_name, None) {
                    Ok(tgt) => tgt,
                    Err(error) => {
                        return self.fail(format!(
                            "{} while renewing credentials",
                            ccache_error_text(&error)
                        ))
                    }
                };
                match runtime.block_on(client.renew(&tgt)) {
                    Ok(credential) => Ok(credential),
                    Err(error) => self.fail(format!("{error} while renewing credentials")),
                }
            }
            Action::Password | Action::Keytab => {
                let options = self.as_options(me)?;
                let (secret, authentication) = if self.options.action == Action::Keytab {
                    (self.keytab_secret(me)?, Authentication::Keytab)
                } else {
                    (self.password_secret(me)?, Authentication::Password)
                };
                match runtime.block_on(client.get_initial_credentials(me, &secret, &options)) {
                    Ok(credential) => Ok(credential),
                    Err(error) => self.fail_initial(&error, me, authentication),
                }
            }
        }
    }

    fn fail_initial<T>(
        &mut self,
        error: &KdcError,
        me: &Principal,
        authentication: Authentication,
    ) -> Outcome<T> {
        let text = initial_credentials_error_text(error, &me.to_string(), authentication);
        self.fail(format!("{text} while getting initial credentials"))
    }

    fn password_secret(&mut self, me: &Principal) -> Outcome<Secret> {
        let prompt = format!("Password for {me}");
        match password::read_password(&prompt, self.invocation.stdout) {
            Ok(password) => Ok(Secret::password(&password)),
            Err(error) => self.fail(format!("{error} while getting initial credentials")),
        }
    }

    /// Collects the keys of `me` from the keytab, the highest kvno of each enctype.
    fn keytab_secret(&mut self, me: &Principal) -> Outcome<Secret> {
        let keytab = self.load_keytab()?;
        let mut newest: BTreeMap<i32, (u32, Key)> = BTreeMap::new();
        for entry in keytab
            .entries()
            .iter()
            .filter(|e| e.principal.same_name(me))
        {
            let enctype = entry.key.enctype();
            if newest
                .get(&enctype)
                .is_none_or(|(kvno, _)| entry.kvno > *kvno)
            {
                newest.insert(enctype, (entry.kvno, entry.key.clone()));
            }
        }
        if newest.is_empty() {
            return self.fail(format!(
                "Keytab contains no suitable keys for {me} while getting initial credentials"
            ));
        }
        Ok(Secret::Keys(
            newest.into_values().map(|(_, key)| key).collect(),
        ))
    }

    fn store(
        &mut self,
        me: &Principal,
        output: &OutputCache,
        credential: &Credential,
    ) -> Outcome<()> {
        let cache = output.cache.as_ref();
        let result = cache.initialize(me).and_then(|()| cache.store(credential));
        if let Err(error) = result {
            let name = self.options.cache.clone().unwrap_or_default();
            return self.fail(format!(
                "{} while saving to cache {name}",
                ccache_error_text(&error)
            ));
        }
        self.verbose("Stored credentials");
        if let Some(dir_cache) = &output.switch_to {
            if let Err(error) = dir_cache.make_primary() {
                return self.fail(format!(
                    "{} while switching to new ccache",
                    ccache_error_text(&error)
                ));
            }
        }
        Ok(())
    }
}

/// Returns a cache name without its `TYPE:` prefix, as MIT's verbose
/// messages print it.
fn residual(name: &str) -> String {
    match ccache::split_name(name) {
        Ok((_, residual)) => residual.to_string(),
        Err(_) => name.to_string(),
    }
}
