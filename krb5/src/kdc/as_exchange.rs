//! The AS exchange (RFC 4120 §3.1): an initial ticket for a client that
//! proves itself with a password or a long-term key, using
//! PA-ENC-TIMESTAMP when the KDC requires pre-authentication.

use std::fmt;
use std::time::Duration;

use rasn::types::Integer;
use zeroize::Zeroizing;

use super::reply::{self, encode_error, invalid, mismatch, Expected};
use super::{new_nonce, KdcClient, KdcError};
use crate::config::{Config, ConfigError};
use crate::credentials::Credential;
use crate::crypto::{self, Key};
use crate::iana::{key_usage, msg_type, pa_type};
use crate::keytab::Keytab;
use crate::messages::error_code::{
    KDC_ERR_PREAUTH_FAILED, KDC_ERR_PREAUTH_REQUIRED, KDC_ERR_S_PRINCIPAL_UNKNOWN, KRB_AP_ERR_SKEW,
};
use crate::messages::flags::{self, kdc_options};
use crate::messages::padata::{self, SaltInfo};
use crate::messages::{
    convert, decode_kdc_reply, encode, encode_as_req, time, EncryptedData, KdcRep, KdcReply,
    KdcReq, KdcReqBody, PaData,
};
use crate::principal::Principal;

/// The client's long-term secret: a password or keys.
#[derive(Clone)]
pub enum Secret {
    /// A password, turned into a key with the salt the KDC names.
    Password(Zeroizing<Vec<u8>>),
    /// Long-term keys, as read from a keytab, at most one per enctype.
    Keys(Vec<Key>),
}

impl Secret {
    pub fn password(password: &str) -> Self {
        Secret::Password(Zeroizing::new(password.as_bytes().to_vec()))
    }

    /// Takes the newest key of each enctype that `keytab` holds for
    /// `principal`, as kinit -k does.
    pub fn from_keytab(keytab: &Keytab, principal: &Principal) -> Self {
        let mut keys: Vec<Key> = Vec::new();
        for entry in keytab.entries() {
            let enctype = entry.key.enctype();
            if !entry.principal.same_name(principal) || keys.iter().any(|k| k.enctype() == enctype)
            {
                continue;
            }
            if let Some(newest) = keytab.find_key(Some(principal), None, enctype) {
                keys.push(newest.key.clone());
            }
        }
        Secret::Keys(keys)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Secret::Password(..)"),
            Secret::Keys(keys) => f.debug_tuple("Secret::Keys").field(keys).finish(),
        }
    }
}

/// Options of an AS request, with kinit's defaults.
#[derive(Debug, Clone)]
pub struct AsOptions {
    /// The service to ask for; `None` means `krbtgt/REALM@REALM` of the client's realm.
    pub service: Option<Principal>,
    /// The requested lifetime (`till`), from now.
    pub lifetime: Duration,
    /// The requested renewable lifetime (`rtime`), from now; `None` requests no renewable ticket.
    pub renew_lifetime: Option<Duration>,
    pub forwardable: bool,
    pub proxiable: bool,
    /// Sets the RENEWABLE-OK option when `renew_lifetime` is `None`, so that
    /// a KDC whose maximum lifetime is shorter than `lifetime` returns a
    /// renewable ticket up to `lifetime` instead. MIT krb5 1.20 sets it by
    /// default (`kdc_default_options` 0x10) and clears it when it requests
    /// a renewable lifetime.
    pub renewable_ok: bool,
    /// Lets the KDC return a canonical client and service name (RFC 6806).
    pub canonicalize: bool,
    /// Sends PA-PAC-REQUEST with this value; `None` sends none.
    pub include_pac: Option<bool>,
    /// Enctypes to request instead of `default_tkt_enctypes`.
    pub enctypes: Option<Vec<i32>>,
    /// The salt of the client's key if already known (for example from an
    /// earlier exchange), so that the first request carries PA-ENC-TIMESTAMP.
    pub known_salt: Option<SaltInfo>,
}

impl Default for AsOptions {
    fn default() -> Self {
        Self {
            service: None,
            lifetime: Duration::from_secs(24 * 3600),
            renew_lifetime: None,
            forwardable: false,
            proxiable: false,
            renewable_ok: true,
            canonicalize: false,
            include_pac: Some(true),
            enctypes: None,
            known_salt: None,
        }
    }
}

impl AsOptions {
    /// Reads kinit's defaults for `realm` from krb5.conf: `ticket_lifetime`,
    /// `renew_lifetime` (0 requests no renewable ticket), `forwardable`,
    /// `proxiable`, and the RENEWABLE-OK bit (16) of `kdc_default_options`.
    ///
    /// NOTE: MIT starts every AS request from all the bits of
    /// `kdc_default_options`; only RENEWABLE-OK is taken from it here.
    pub fn from_config(config: &Config, realm: &str) -> Result<Self, ConfigError> {
        let renew_lifetime = config.renew_lifetime(Some(realm))?;
        Ok(Self {
            lifetime: config.ticket_lifetime(Some(realm))?,
            renew_lifetime: (!renew_lifetime.is_zero()).then_some(renew_lifetime),
            forwardable: config.forwardable(Some(realm))?,
            proxiable: config.proxiable(Some(realm))?,
            renewable_ok: kdc_default_options(config)? & kdc_options::RENEWABLE_OK != 0,
            ..Self::default()
        })
    }
}

/// Reads `[libdefaults] kdc_default_options`, a decimal integer as MIT's
/// profile library parses it, defaulting to RENEWABLE-OK as in MIT krb5 1.20.
fn kdc_default_options(config: &Config) -> Result<u32, ConfigError> {
    const RELATION: &str = "kdc_default_options";
    let Some(text) = config.libdefault_for_realm(None, RELATION) else {
        return Ok(kdc_options::RENEWABLE_OK);
    };
    crate::config::values::parse_integer(text)
        .map(|bits| bits as u32)
        .ok_or_else(|| ConfigError::InvalidValue {
            relation: RELATION.to_string(),
            value: text.to_string(),
            reason: "use a decimal integer of KDC option bits, such as 16 for renewable-ok"
                .to_string(),
        })
}

impl KdcClient {
    /// Gets an initial ticket (by default a TGT) for `client`, as kinit does.
    pub async fn get_initial_credentials(
        &self,
        client: &Principal,
        secret: &Secret,
        options: &AsOptions,
    ) -> Result<Credential, KdcError> {
        let realm = client.realm.as_str();
        let service = options
            .service
            .clone()
            .unwrap_or_else(|| Principal::krbtgt(realm, realm));
        let enctypes = self.as_enctypes(secret, options)?;

        let now = self.now();
        let till = now.saturating_add(duration_seconds(options.lifetime));
        // As in MIT, a renewable lifetime shorter than the lifetime is
        // raised to it.
        let rtime = options
            .renew_lifetime
            .map(|lifetime| now.saturating_add(duration_seconds(lifetime)).max(till));
        // A ticket granted through RENEWABLE-OK may be renewable up to `till`.
        let max_renew_till = rtime.or(options.renewable_ok.then_some(till));
        let mut body = request_body(client, &service, options, till, rtime, &enctypes)?;
        let pac_request = options
            .include_pac
            .map(padata::pac_request)
            .transpose()
            .map_err(encode_error)?;

        let mut padata: Vec<PaData> = pac_request.iter().cloned().collect();
        let mut salts: Vec<SaltInfo> = Vec::new();
        let mut preauth_sent = false;
        // A salt known from an earlier exchange saves a round trip, but it
        // may be stale, so one failure with it falls back to the KDC's.
        let mut salt_guessed = false;
        if let Some(known) = options
            .known_salt
            .as_ref()
            .filter(|known| enctypes.contains(&known.enctype))
        {
            salts = vec![known.clone()];
            let key = reply_key(client, secret, known.enctype, &salts)?;
            padata = vec![self.encrypted_timestamp(client, &key)?];
            padata.extend(pac_request.iter().cloned());
            preauth_sent = true;
            salt_guessed = true;
        }

        loop {
            body.nonce = new_nonce()?;
            let request = KdcReq {
                pvno: Integer::from(5),
                msg_type: Integer::from(msg_type::AS_REQ),
                padata: Some(padata.clone()),
                req_body: body.clone(),
            };
            let request = encode_as_req(&request).map_err(encode_error)?;
            let reply = self.send(realm, &request).await?;

            let error = match decode_kdc_reply(&reply).map_err(|e| invalid(client, e))? {
                KdcReply::AsRep(rep) => {
                    let expected = Expected {
                        nonce: body.nonce,
                        service: &service,
                        canonicalize: options.canonicalize,
                        till,
                        rtime: max_renew_till,
                        permitted: &self.settings.permitted_enctypes,
                    };
                    return self.finish_as(client, secret, &salts, &rep, &expected);
                }
                KdcReply::TgsRep(_) => {
                    return Err(mismatch("reply msg-type", "TGS-REP", "AS-REP or KRB-ERROR"))
                }
                KdcReply::Error(error) => error,
            };

            let code = error.error_code;
            let retry = (code == KDC_ERR_PREAUTH_REQUIRED && !preauth_sent)
                || (salt_guessed
                    && (code == KDC_ERR_PREAUTH_REQUIRED || code == KDC_ERR_PREAUTH_FAILED));
            if retry {
                salt_guessed = false;
                let offered = padata::salt_infos(&padata::error_method_data(&error))
                    .map_err(|e| invalid(client, e))?;
                if code == KDC_ERR_PREAUTH_REQUIRED || !offered.is_empty() {
                    salts = offered;
                    let key = choose_key(client, secret, &enctypes, &salts)?;
                    padata = vec![self.encrypted_timestamp(client, &key)?];
                    padata.extend(pac_request.iter().cloned());
                    preauth_sent = true;
                    log::debug!(
                        "KDC requires pre-authentication for {client}, sending PA-ENC-TIMESTAMP with enctype {}",
                        key.enctype()
                    );
                    continue;
                }
            }

            // NOTE: KDC_ERR_WRONG_REALM client referrals (RFC 6806 §4) are not
            // followed; that error is returned like any other.
            return Err(match code {
                KDC_ERR_PREAUTH_REQUIRED => KdcError::PreauthLoop {
                    principal: client.to_string(),
                },
                KRB_AP_ERR_SKEW => KdcError::ClockSkew {
                    realm: realm.to_string(),
                    skew: time::to_unix(&error.stime).saturating_sub(self.now()),
                    allowed: self.settings.clockskew.as_secs(),
                },
                KDC_ERR_S_PRINCIPAL_UNKNOWN => {
                    KdcError::from_krb_error(&error, &service.to_string())
                }
                _ => KdcError::from_krb_error(&error, &client.to_string()),
            });
        }
    }

    /// Returns the enctypes to request: the configured list, kept to those
    /// this build implements and, for keys, to those at hand.
    fn as_enctypes(&self, secret: &Secret, options: &AsOptions) -> Result<Vec<i32>, KdcError> {
        let requested = options
            .enctypes
            .clone()
            .unwrap_or_else(|| self.settings.default_tkt_enctypes.clone());
        let usable: Vec<i32> = requested
            .iter()
            .copied()
            .filter(|&e| crypto::is_supported(e))
            .filter(|e| self.settings.permitted_enctypes.contains(e))
            .filter(|&e| match secret {
                Secret::Password(_) => true,
                Secret::Keys(keys) => keys.iter().any(|k| k.enctype() == e),
            })
            .collect();
        if usable.is_empty() {
            return Err(KdcError::NoEnctypes { requested });
        }
        Ok(usable)
    }

    /// Builds PA-ENC-TIMESTAMP (RFC 4120 §5.2.7.2) with the current time.
    fn encrypted_timestamp(&self, client: &Principal, key: &Key) -> Result<PaData, KdcError> {
        let now = self.now();
        let microseconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros());
        let plaintext = padata::encode_pa_enc_ts_enc(now, microseconds).map_err(encode_error)?;
        let cipher = key
            .encrypt(key_usage::AS_REQ_PA_ENC_TIMESTAMP, &plaintext)
            .map_err(|source| KdcError::Crypto {
                context: "encrypting PA-ENC-TIMESTAMP",
                principal: client.to_string(),
                source,
            })?;
        let value = EncryptedData {
            etype: key.enctype(),
            kvno: None,
            cipher: cipher.into(),
        };
        let value = encode(&value, "PA-ENC-TIMESTAMP").map_err(encode_error)?;
        Ok(padata::new(pa_type::ENC_TIMESTAMP, value))
    }

    /// Decrypts and checks an AS-REP and builds its Credential.
    fn finish_as(
        &self,
        client: &Principal,
        secret: &Secret,
        salts: &[SaltInfo],
        rep: &KdcRep,
        expected: &Expected<'_>,
    ) -> Result<Credential, KdcError> {
        // The AS-REP may name the salt in its own padata; that wins over the
        // KRB-ERROR's, because it describes the key the KDC used.
        let mut known: Vec<SaltInfo> = rep
            .padata
            .as_deref()
            .map(padata::salt_infos)
            .transpose()
            .map_err(|e| invalid(client, e))?
            .unwrap_or_default();
        known.extend(salts.iter().cloned());
        let key = reply_key(client, secret, rep.enc_part.etype, &known)?;
        let part = reply::decrypt_enc_part(
            rep,
            &key,
            key_usage::AS_REP_ENC_PART,
            "decrypting the AS-REP with the password or keytab key",
            client,
        )?;

        let reply_client =
            convert::principal(&rep.cname, &rep.crealm).map_err(|e| invalid(client, e))?;
        if !expected.canonicalize && !reply_client.same_name(client) {
            return Err(mismatch("cname", &reply_client, client));
        }
        if reply_client.realm != client.realm && !expected.canonicalize {
            return Err(mismatch("crealm", &reply_client.realm, &client.realm));
        }
        reply::check_enc_part(rep, &part, expected)?;

        // RFC 4120 §3.1.5: the reply's times are the KDC's clock, so a large
        // difference means one of the clocks is wrong.
        let kdc_time = part
            .start_time
            .as_ref()
            .map_or_else(|| time::to_unix(&part.auth_time), time::to_unix);
        self.check_skew(&client.realm, kdc_time)?;

        reply::credential(reply_client, rep, &part)
    }
}

fn duration_seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn request_body(
    client: &Principal,
    service: &Principal,
    options: &AsOptions,
    till: i64,
    rtime: Option<i64>,
    enctypes: &[i32],
) -> Result<KdcReqBody, KdcError> {
    let mut option_bits = 0;
    if options.forwardable {
        option_bits |= kdc_options::FORWARDABLE;
    }
    if options.proxiable {
        option_bits |= kdc_options::PROXIABLE;
    }
    if rtime.is_some() {
        option_bits |= kdc_options::RENEWABLE;
    } else if options.renewable_ok {
        option_bits |= kdc_options::RENEWABLE_OK;
    }
    if options.canonicalize {
        option_bits |= kdc_options::CANONICALIZE;
    }
    let (cname, realm) = convert::principal_name(client).map_err(encode_error)?;
    let (sname, _) = convert::principal_name(service).map_err(encode_error)?;
    Ok(KdcReqBody {
        kdc_options: rasn_kerberos::KdcOptions(flags::from_u32(option_bits)),
        cname: Some(cname),
        realm,
        sname: Some(sname),
        from: None,
        till: time::from_unix(till).map_err(encode_error)?,
        rtime: rtime
            .map(time::from_unix)
            .transpose()
            .map_err(encode_error)?,
        nonce: 0,
        etype: enctypes.to_vec(),
        addresses: None,
        enc_authorization_data: None,
        additional_tickets: None,
    })
}

/// Picks the key for PA-ENC-TIMESTAMP: the first enctype the KDC lists in
/// ETYPE-INFO2 that we requested (and, for keys, have).
fn choose_key(
    client: &Principal,
    secret: &Secret,
    enctypes: &[i32],
    salts: &[SaltInfo],
) -> Result<Key, KdcError> {
    let offered: Vec<i32> = salts.iter().map(|s| s.enctype).collect();
    // A KDC that names no enctype leaves the choice to us, with the default salt.
    let enctype = if salts.is_empty() {
        enctypes.first().copied()
    } else {
        offered.iter().copied().find(|e| enctypes.contains(e))
    };
    let Some(enctype) = enctype else {
        return Err(KdcError::NoMatchingKey {
            principal: client.to_string(),
            offered,
            available: enctypes.to_vec(),
        });
    };
    reply_key(client, secret, enctype, salts)
}

/// Returns the client's long-term key for `enctype`: from the keys at hand,
/// or derived from the password with the salt and s2kparams the KDC named
/// (the default salt when it named none).
fn reply_key(
    client: &Principal,
    secret: &Secret,
    enctype: i32,
    salts: &[SaltInfo],
) -> Result<Key, KdcError> {
    match secret {
        Secret::Keys(keys) => keys
            .iter()
            .find(|k| k.enctype() == enctype)
            .cloned()
            .ok_or_else(|| KdcError::NoMatchingKey {
                principal: client.to_string(),
                offered: vec![enctype],
                available: keys.iter().map(Key::enctype).collect(),
            }),
        Secret::Password(password) => {
            let info = salts.iter().find(|s| s.enctype == enctype);
            let default_salt;
            let salt = match info.and_then(|i| i.salt.as_deref()) {
                Some(salt) => salt,
                None => {
                    default_salt = crypto::default_salt(client);
                    &default_salt
                }
            };
            let s2kparams = info.and_then(|i| i.s2kparams.as_deref());
            Key::from_password(enctype, password, salt, s2kparams).map_err(|source| {
                KdcError::Crypto {
                    context: "deriving the key from the password",
                    principal: client.to_string(),
                    source,
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{decode_as_req, decode_enc_kdc_rep_part, EncKdcRepPartTag};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/messages/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn kdc_default_options_sets_renewable_ok() {
        let options = |text: &str| {
            let config = Config::from_text(text, "krb5.conf").unwrap();
            AsOptions::from_config(&config, "KRBTEST.COM").map(|o| o.renewable_ok)
        };
        assert!(options("").unwrap());
        assert!(options("[libdefaults]\n kdc_default_options = 16\n").unwrap());
        assert!(!options("[libdefaults]\n kdc_default_options = 0\n").unwrap());
        assert!(options("[libdefaults]\n kdc_default_options = 0x10\n").is_err());
    }

    /// The MIT 1.20 exchange under tests/data/messages, for alice@KRBTEST.COM
    /// with password "alicepw".
    #[test]
    fn mit_as_rep_decrypts_with_password() {
        let alice = Principal::parse("alice@KRBTEST.COM", None).unwrap();
        let error = match decode_kdc_reply(&fixture("mit-preauth-required.der")).unwrap() {
            KdcReply::Error(error) => error,
            other => panic!("expected a KRB-ERROR, got {other:?}"),
        };
        let salts = padata::salt_infos(&padata::error_method_data(&error)).unwrap();
        let key = choose_key(&alice, &Secret::password("alicepw"), &[18, 17], &salts).unwrap();
        assert_eq!(key.enctype(), 18);

        // The KDC accepted a PA-ENC-TIMESTAMP made with this key.
        let request = decode_as_req(&fixture("mit-as-req-preauth.der")).unwrap();
        let padata_list = request.padata.unwrap();
        let timestamp = padata::find(&padata_list, pa_type::ENC_TIMESTAMP).unwrap();
        let timestamp: EncryptedData =
            crate::messages::decode(&timestamp.value, "PA-ENC-TIMESTAMP").unwrap();
        let plaintext = key
            .decrypt(key_usage::AS_REQ_PA_ENC_TIMESTAMP, &timestamp.cipher)
            .unwrap();
        padata::decode_pa_enc_ts_enc(&plaintext).unwrap();

        let rep = match decode_kdc_reply(&fixture("mit-as-rep.der")).unwrap() {
            KdcReply::AsRep(rep) => rep,
            other => panic!("expected an AS-REP, got {other:?}"),
        };
        let plaintext = key
            .decrypt(key_usage::AS_REP_ENC_PART, &rep.enc_part.cipher)
            .unwrap();
        // MIT sends EncTGSRepPart in AS-REPs too.
        let (part, tag) = decode_enc_kdc_rep_part(&plaintext).unwrap();
        assert_eq!(tag, EncKdcRepPartTag::EncTgsRepPart);
        assert_eq!(part.nonce, request.req_body.nonce);

        let expected = Expected {
            nonce: request.req_body.nonce,
            service: &Principal::krbtgt("KRBTEST.COM", "KRBTEST.COM"),
            canonicalize: false,
            till: time::to_unix(&request.req_body.till),
            rtime: None,
            permitted: crate::kdc::DEFAULT_ENCTYPES,
        };
        let server = reply::check_enc_part(&rep, &part, &expected).unwrap();
        assert!(server.is_krbtgt());

        let wrong_nonce = Expected {
            nonce: request.req_body.nonce ^ 1,
            ..expected
        };
        assert!(matches!(
            reply::check_enc_part(&rep, &part, &wrong_nonce),
            Err(KdcError::ReplyMismatch { field: "nonce", .. })
        ));
    }

    #[test]
    fn secret_from_keytab_takes_newest_kvno() {
        use crate::keytab::KeytabEntry;

        let host = Principal::parse("host/a.test@TEST", None).unwrap();
        let other = Principal::parse("host/b.test@TEST", None).unwrap();
        let mut keytab = Keytab::new();
        for (principal, kvno, enctype, byte) in [
            (&host, 1, 18, 1u8),
            (&host, 2, 18, 2),
            (&host, 2, 17, 3),
            (&other, 9, 18, 4),
        ] {
            keytab.add_entry(KeytabEntry {
                principal: principal.clone(),
                timestamp: 0,
                kvno,
                key: Key::from_raw(enctype, vec![byte; 32]),
            });
        }
        let Secret::Keys(keys) = Secret::from_keytab(&keytab, &host) else {
            panic!("expected keys");
        };
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], Key::from_raw(18, vec![2; 32]));
        assert_eq!(keys[1], Key::from_raw(17, vec![3; 32]));
    }

    #[test]
    fn choose_key_follows_kdc_order() {
        let alice = Principal::parse("alice@KRBTEST.COM", None).unwrap();
        let salts = vec![
            SaltInfo {
                enctype: 17,
                salt: Some(b"other salt".to_vec()),
                s2kparams: None,
            },
            SaltInfo {
                enctype: 18,
                salt: None,
                s2kparams: None,
            },
        ];
        let key = choose_key(&alice, &Secret::password("pw"), &[18, 17], &salts).unwrap();
        assert_eq!(key.enctype(), 17);
        let key = choose_key(&alice, &Secret::password("pw"), &[18], &salts).unwrap();
        let default_salt = Key::from_password(18, b"pw", b"KRBTEST.COMalice", None).unwrap();
        assert_eq!(key, default_salt);
        assert!(matches!(
            choose_key(&alice, &Secret::password("pw"), &[20], &salts),
            Err(KdcError::NoMatchingKey { .. })
        ));
    }
}
