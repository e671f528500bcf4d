//! The TGS exchange (RFC 4120 §3.3): service tickets from a TGT, with
//! referrals (RFC 6806), cross-realm paths through `krbtgt` tickets and
//! `[capaths]`, and renewal.

use std::time::Duration;

use rasn::types::Integer;
use zeroize::Zeroizing;

use super::reply::{self, encode_error, invalid, mismatch, Expected};
use super::{new_nonce, KdcClient, KdcError};
use crate::credentials::Credential;
use crate::crypto::{Checksum, Key};
use crate::iana::{key_usage, msg_type, pa_type};
use crate::messages::error_code::{
    KDC_ERR_S_PRINCIPAL_UNKNOWN, KRB_AP_ERR_SKEW, KRB_AP_ERR_TKT_EXPIRED,
};
use crate::messages::flags::{self, kdc_options};
use crate::messages::{
    convert, decode_kdc_reply, decode_ticket, encode, encode_kdc_req_body, encode_tgs_req, padata,
    time, ApReq, Authenticator, EncryptedData, KdcRep, KdcReply, KdcReq, KdcReqBody,
};
use crate::principal::Principal;

/// Options of a TGS request.
#[derive(Debug, Clone)]
pub struct TgsOptions {
    /// Sets the canonicalize option, so that the KDC may return a referral
    /// or another name for the service (RFC 6806).
    pub canonicalize: bool,
    pub forwardable: bool,
    /// The requested lifetime from now; `None` requests the TGT's end time.
    pub lifetime: Option<Duration>,
    /// Enctypes to request instead of `default_tgs_enctypes`.
    pub enctypes: Option<Vec<i32>>,
}

impl Default for TgsOptions {
    fn default() -> Self {
        Self {
            canonicalize: true,
            forwardable: false,
            lifetime: None,
            enctypes: None,
        }
    }
}

/// The result of [`KdcClient::get_service_credentials`].
#[derive(Debug, Clone)]
pub struct ServiceCredentials {
    /// The service ticket.
    pub credential: Credential,
    /// The cross-realm and referral TGTs obtained on the way, in order, for the cache.
    pub tgts: Vec<Credential>,
}

/// One TGS request, before it is sent.
struct Request<'a> {
    tgt: &'a Credential,
    service: &'a Principal,
    option_bits: u32,
    till: i64,
    /// The requested renew-till time, sent with the RENEWABLE option.
    rtime: Option<i64>,
    enctypes: Vec<i32>,
    canonicalize: bool,
}

impl KdcClient {
    /// Gets a ticket for `service` with `tgt`, following referrals and
    /// cross-realm paths, as `kvno` does.
    pub async fn get_service_credentials(
        &self,
        tgt: &Credential,
        service: &Principal,
        options: &TgsOptions,
    ) -> Result<ServiceCredentials, KdcError> {
        let mut tgts = Vec::new();
        let mut current = tgt.clone();
        if !service.is_krbtgt() && kdc_realm(&current) != service.realm {
            current = self
                .cross_realm_tgt(&current, &service.realm, &mut tgts)
                .await?;
        }

        let mut visited = vec![kdc_realm(&current).to_string()];
        for _ in 0..=self.settings.max_hops {
            let credential = self
                .tgs_exchange(&self.request(&current, service, options))
                .await?;
            let is_referral = credential.server.is_krbtgt()
                && !service.is_krbtgt()
                && kdc_realm(&credential) != kdc_realm(&current);
            if !is_referral {
                return Ok(ServiceCredentials { credential, tgts });
            }

            let next = kdc_realm(&credential).to_string();
            log::debug!(
                "KDC for {} referred the request for {service} to realm {next}",
                kdc_realm(&current)
            );
            if visited.contains(&next) {
                return Err(KdcError::CrossRealm {
                    service: service.to_string(),
                    reason: format!("referral loop through realms {visited:?} back to {next}"),
                });
            }
            visited.push(next);
            tgts.push(credential.clone());
            current = credential;
        }
        Err(KdcError::CrossRealm {
            service: service.to_string(),
            reason: format!(
                "more than {} referrals (realms {visited:?})",
                self.settings.max_hops
            ),
        })
    }

    /// Renews a renewable ticket (the RENEW option, RFC 4120 §3.3.1), up to its renew-till time.
    ///
    /// Like MIT krb5 1.20's `kinit -R`, the request repeats the ticket's
    /// FORWARDABLE, PROXIABLE, MAY-POSTDATE and RENEWABLE flags as options, so
    /// the new ticket keeps them; without RENEWABLE, MIT's KDC drops the
    /// renewable flag and renew-till. MIT sends no rtime, which its KDC
    /// caps at the ticket's renew-till, while this request names that
    /// renew-till as rtime, for KDCs that grant only a requested rtime.
    pub async fn renew(&self, credential: &Credential) -> Result<Credential, KdcError> {
        let request = Request {
            tgt: credential,
            service: &credential.server,
            option_bits: renew_option_bits(credential.flags),
            till: i64::from(credential.renew_till),
            rtime: (credential.flags & crate::credentials::ticket_flags::RENEWABLE != 0)
                .then_some(i64::from(credential.renew_till)),
            enctypes: self.settings.default_tgs_enctypes.clone(),
            canonicalize: false,
        };
        self.tgs_exchange(&request).await
    }

    fn request<'a>(
        &self,
        tgt: &'a Credential,
        service: &'a Principal,
        options: &TgsOptions,
    ) -> Request<'a> {
        let mut option_bits = 0;
        if options.canonicalize {
            option_bits |= kdc_options::CANONICALIZE;
        }
        if options.forwardable {
            option_bits |= kdc_options::FORWARDABLE;
        }
        let till = match options.lifetime {
            Some(lifetime) => self
                .now()
                .saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
                .min(i64::from(tgt.endtime)),
            None => i64::from(tgt.endtime),
        };
        Request {
            tgt,
            service,
            option_bits,
            till,
            rtime: None,
            enctypes: options
                .enctypes
                .clone()
                .unwrap_or_else(|| self.settings.default_tgs_enctypes.clone()),
            canonicalize: options.canonicalize,
        }
    }

    /// Gets a TGT for `target` from `start`'s realm: first directly
    /// (`krbtgt/TARGET@START`, following any closer TGT the KDC returns),
    /// then, if the KDC has no such principal, realm by realm along
    /// `[capaths]` or the hierarchical path.
    async fn cross_realm_tgt(
        &self,
        start: &Credential,
        target: &str,
        tgts: &mut Vec<Credential>,
    ) -> Result<Credential, KdcError> {
        let start_realm = kdc_realm(start).to_string();
        let path = self.realm_path(&start_realm, target);
        let mut current = start.clone();
        let mut direct = true;
        let mut visited = vec![start_realm];

        for _ in 0..=self.settings.max_hops {
            let current_realm = kdc_realm(&current).to_string();
            if current_realm == target {
                return Ok(current);
            }
            let next = if direct {
                target.to_string()
            } else {
                next_on_path(&path, &current_realm, target)
            };
            let next_tgs = Principal::krbtgt(&next, &current_realm);
            let request = Request {
                tgt: &current,
                service: &next_tgs,
                option_bits: 0,
                till: i64::from(current.endtime),
                rtime: None,
                enctypes: self.settings.default_tgs_enctypes.clone(),
                // A KDC may return a TGT for a realm closer to the target (RFC 4120 §3.3.1).
                canonicalize: true,
            };
            let credential = match self.tgs_exchange(&request).await {
                Ok(credential) => credential,
                Err(error)
                    if direct
                        && error.kdc_code() == Some(KDC_ERR_S_PRINCIPAL_UNKNOWN)
                        && path.len() > 1 =>
                {
                    log::debug!("no direct cross-realm key from {current_realm} to {target}, following the path {path:?}");
                    direct = false;
                    continue;
                }
                Err(error) => return Err(error),
            };
            if !credential.server.is_krbtgt() {
                return Err(KdcError::CrossRealm {
                    service: next_tgs.to_string(),
                    reason: format!("the KDC returned a ticket for {}", credential.server),
                });
            }
            let reached = kdc_realm(&credential).to_string();
            if visited.contains(&reached) {
                return Err(KdcError::CrossRealm {
                    service: next_tgs.to_string(),
                    reason: format!("cross-realm loop through {visited:?} back to {reached}"),
                });
            }
            visited.push(reached);
            tgts.push(credential.clone());
            current = credential;
        }
        Err(KdcError::CrossRealm {
            service: Principal::krbtgt(target, kdc_realm(start)).to_string(),
            reason: format!("no path within {} hops", self.settings.max_hops),
        })
    }

    /// Returns the realms after `from` on the way to `to`, ending with `to`:
    /// from `[capaths]` if krb5.conf lists the pair, else hierarchical
    /// (RFC 4120 §3.3.2).
    fn realm_path(&self, from: &str, to: &str) -> Vec<String> {
        let mut path = match &self.config {
            Some(config) => config.realm_path(from, to),
            None => crate::config::realms::hierarchical_path(from, to),
        };
        path.retain(|realm| realm != from);
        if path.last().map(String::as_str) != Some(to) {
            path.push(to.to_string());
        }
        path
    }

    /// Runs one TGS exchange with the KDC of the TGT's realm.
    async fn tgs_exchange(&self, request: &Request<'_>) -> Result<Credential, KdcError> {
        let tgt = request.tgt;
        let realm = kdc_realm(tgt).to_string();
        let (sname, req_realm) = {
            let mut service = request.service.clone();
            service.realm.clone_from(&realm);
            convert::principal_name(&service).map_err(encode_error)?
        };
        let till = time::from_unix(request.till).map_err(encode_error)?;
        let enctypes: Vec<i32> = request
            .enctypes
            .iter()
            .copied()
            .filter(|&e| crate::crypto::is_supported(e))
            .filter(|e| self.settings.permitted_enctypes.contains(e))
            .collect();
        if enctypes.is_empty() {
            return Err(KdcError::NoEnctypes {
                requested: request.enctypes.clone(),
            });
        }
        let body = KdcReqBody {
            kdc_options: rasn_kerberos::KdcOptions(flags::from_u32(request.option_bits)),
            cname: None,
            realm: req_realm,
            sname: Some(sname),
            from: None,
            till,
            rtime: request
                .rtime
                .map(time::from_unix)
                .transpose()
                .map_err(encode_error)?,
            nonce: new_nonce()?,
            etype: enctypes,
            addresses: None,
            enc_authorization_data: None,
            additional_tickets: None,
        };

        let subkey = Key::random(tgt.session_key.enctype()).map_err(|source| KdcError::Crypto {
            context: "generating the TGS-REQ subkey",
            principal: tgt.client.to_string(),
            source,
        })?;
        let ap_req = self.ap_req(tgt, &body, &subkey)?;
        let request_message = KdcReq {
            pvno: Integer::from(5),
            msg_type: Integer::from(msg_type::TGS_REQ),
            padata: Some(vec![padata::new(pa_type::TGS_REQ, ap_req)]),
            req_body: body.clone(),
        };
        let bytes = encode_tgs_req(&request_message).map_err(encode_error)?;
        let reply = self.send(&realm, &bytes).await?;

        let rep = match decode_kdc_reply(&reply).map_err(|e| invalid(request.service, e))? {
            KdcReply::TgsRep(rep) => rep,
            KdcReply::AsRep(_) => {
                return Err(mismatch("reply msg-type", "AS-REP", "TGS-REP or KRB-ERROR"))
            }
            KdcReply::Error(error) => {
                return Err(match error.error_code {
                    KRB_AP_ERR_SKEW => KdcError::ClockSkew {
                        realm,
                        skew: time::to_unix(&error.stime).saturating_sub(self.now()),
                        allowed: self.settings.clockskew.as_secs(),
                    },
                    KRB_AP_ERR_TKT_EXPIRED => {
                        KdcError::from_krb_error(&error, &tgt.server.to_string())
                    }
                    _ => KdcError::from_krb_error(&error, &request.service.to_string()),
                });
            }
        };
        self.finish_tgs(request, body.nonce, &rep, &subkey)
    }

    /// Builds the PA-TGS-REQ AP-REQ: the TGT and an authenticator whose
    /// checksum covers the DER req-body (RFC 4120 §5.4.1), with a fresh subkey.
    fn ap_req(
        &self,
        tgt: &Credential,
        body: &KdcReqBody,
        subkey: &Key,
    ) -> Result<Vec<u8>, KdcError> {
        let crypto_error = |context: &'static str| {
            let principal = tgt.client.to_string();
            move |source| KdcError::Crypto {
                context,
                principal,
                source,
            }
        };
        let session_key = &tgt.session_key;
        let body_der = encode_kdc_req_body(body).map_err(encode_error)?;
        let Checksum { cksumtype, value } = session_key
            .checksum(key_usage::TGS_REQ_AUTH_CKSUM, &body_der)
            .map_err(crypto_error("computing the TGS-REQ checksum"))?;

        let (cname, crealm) = convert::principal_name(&tgt.client).map_err(encode_error)?;
        let now = self.now();
        let microseconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros());
        let authenticator = Authenticator {
            authenticator_vno: Integer::from(5),
            crealm,
            cname,
            cksum: Some(rasn_kerberos::Checksum {
                r#type: cksumtype,
                checksum: value.into(),
            }),
            cusec: Integer::from(i64::from(microseconds)),
            ctime: time::from_unix(now).map_err(encode_error)?,
            subkey: Some(convert::encryption_key(subkey)),
            seq_number: None,
            authorization_data: None,
        };
        let plaintext =
            Zeroizing::new(encode(&authenticator, "Authenticator").map_err(encode_error)?);
        drop(authenticator);
        let cipher = session_key
            .encrypt(key_usage::TGS_REQ_AUTH, &plaintext)
            .map_err(crypto_error("encrypting the TGS-REQ authenticator"))?;

        let ticket = decode_ticket(&tgt.ticket).map_err(encode_error)?;
        let ap_req = ApReq {
            pvno: Integer::from(5),
            msg_type: Integer::from(msg_type::AP_REQ),
            ap_options: rasn_kerberos::ApOptions(flags::from_u32(0)),
            ticket,
            authenticator: EncryptedData {
                etype: session_key.enctype(),
                kvno: None,
                cipher: cipher.into(),
            },
        };
        encode(&ap_req, "AP-REQ").map_err(encode_error)
    }

    /// Decrypts and checks a TGS-REP and builds its Credential.
    fn finish_tgs(
        &self,
        request: &Request<'_>,
        nonce: u32,
        rep: &KdcRep,
        subkey: &Key,
    ) -> Result<Credential, KdcError> {
        let tgt = request.tgt;
        // RFC 4120 §5.4.2: a reply to a request with a subkey is encrypted
        // in the subkey (usage 9), but older KDCs use the session key (usage 8).
        let part = match reply::decrypt_enc_part(
            rep,
            subkey,
            key_usage::TGS_REP_ENC_PART_SUBKEY,
            "decrypting the TGS-REP with the subkey",
            &tgt.client,
        ) {
            Ok(part) => part,
            Err(KdcError::Crypto { .. }) | Err(KdcError::ReplyMismatch { .. }) => {
                reply::decrypt_enc_part(
                    rep,
                    &tgt.session_key,
                    key_usage::TGS_REP_ENC_PART_SESSION_KEY,
                    "decrypting the TGS-REP",
                    &tgt.client,
                )?
            }
            Err(error) => return Err(error),
        };

        let reply_client =
            convert::principal(&rep.cname, &rep.crealm).map_err(|e| invalid(&tgt.client, e))?;
        if !reply_client.same_name(&tgt.client) {
            return Err(mismatch("cname", &reply_client, &tgt.client));
        }
        let mut expected_service = request.service.clone();
        expected_service.realm = kdc_realm(tgt).to_string();
        let expected = Expected {
            nonce,
            service: &expected_service,
            canonicalize: request.canonicalize,
            till: request.till,
            rtime: request.rtime,
            permitted: &self.settings.permitted_enctypes,
        };
        reply::check_enc_part(rep, &part, &expected)?;
        reply::credential(tgt.client.clone(), rep, &part)
    }
}

/// Returns the KDC options of a renewal: RENEW plus the ticket flags that
/// have a same-numbered option (MIT's `KDC_TKT_COMMON_MASK`).
fn renew_option_bits(ticket_flags: u32) -> u32 {
    use crate::credentials::ticket_flags as tf;
    let common = tf::FORWARDABLE | tf::PROXIABLE | tf::MAY_POSTDATE | tf::RENEWABLE;
    kdc_options::RENEW | (ticket_flags & common)
}

/// Returns the realm whose KDC accepts `credential` as a TGT: `R` for
/// `krbtgt/R@...`, else the service's own realm (for renewal).
fn kdc_realm(credential: &Credential) -> &str {
    if credential.server.is_krbtgt() {
        credential
            .server
            .components
            .get(1)
            .map_or(credential.server.realm.as_str(), String::as_str)
    } else {
        credential.server.realm.as_str()
    }
}

/// Returns the realm after `current_realm` on `path`, or the first one when `current_realm` is not on it.
fn next_on_path(path: &[String], current_realm: &str, target: &str) -> String {
    match path.iter().position(|realm| realm == current_realm) {
        Some(index) => path
            .get(index + 1)
            .cloned()
            .unwrap_or_else(|| target.to_string()),
        None => path.first().cloned().unwrap_or_else(|| target.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_path_from_capaths() {
        let config = crate::config::Config::from_text(
            "[capaths]\n A.TEST = {\n  C.TEST = B.TEST\n }\n",
            "krb5.conf",
        )
        .unwrap();
        let client = KdcClient::with_config(
            super::super::Settings::default(),
            std::sync::Arc::new(config),
        );
        assert_eq!(client.realm_path("A.TEST", "C.TEST"), ["B.TEST", "C.TEST"]);
        assert_eq!(client.realm_path("A.TEST", "D.TEST"), ["TEST", "D.TEST"]);
    }

    #[test]
    fn realm_path_hierarchical() {
        let client = KdcClient::new(super::super::Settings::default());
        assert_eq!(
            client.realm_path("X.A.EXAMPLE.COM", "B.EXAMPLE.COM"),
            ["A.EXAMPLE.COM", "EXAMPLE.COM", "B.EXAMPLE.COM"]
        );
        assert_eq!(
            client.realm_path("A.EXAMPLE.COM", "EXAMPLE.COM"),
            ["EXAMPLE.COM"]
        );
    }

    #[test]
    fn next_realm_on_path() {
        let path = vec!["B".to_string(), "C".to_string()];
        assert_eq!(next_on_path(&path, "A", "C"), "B");
        assert_eq!(next_on_path(&path, "B", "C"), "C");
    }
}
