//! Hostile context tokens against the krb5 mechanism's acceptor and
//! initiator: each must be rejected with the GSS major status (and, where MIT
//! reports a Kerberos error, the minor status) that RFC 2743 §1.2.1.1 and
//! MIT krb5 1.20 give, and with a message that names the problem.
//!
//! Tickets are minted here under a service key that the tests choose, so no
//! KDC is needed. The acceptor cases are also fed to MIT's
//! gss_accept_sec_context through `mit_gss_hostile.c`, with the same key in
//! a keytab file, and the hostile replies to MIT's gss_init_sec_context with
//! the same ticket in a cache file. MIT's major and minor status must match
//! ours, or the different status recorded for the case.

mod mit_program;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use krb5::ccache::{self, file::CacheFile};
use krb5::credentials::Credential;
use krb5::crypto::Key;
use krb5::gss::acceptor::{accept_sec_context, AcceptorOptions, Rejected};
use krb5::gss::checksum::{flags, GssChecksum};
use krb5::gss::context::EstablishedContext;
use krb5::gss::initiator::{
    ad_type, init_sec_context, InitStep, InitiatorOptions, PendingContext, RPCSEC_GSS_FLAGS,
};
use krb5::gss::mic;
use krb5::gss::replay::ReplayCache;
use krb5::gss::status::{generic_minor, krb5_minor, major, minor, GssError, KRB5_MUTUAL_FAILED};
use krb5::gss::token::{self, tok_id, KRB5_OID};
use krb5::iana::{cksumtype, enctype, key_usage, msg_type};
use krb5::keytab::{Keytab, KeytabEntry};
use krb5::messages::{
    self, convert, error_code, time, ApRep, Authenticator, EncApRepPart, EncTicketPart,
    EncryptedData, KrbError, Ticket,
};
use krb5::testing;
use krb5::Principal;
use rasn::types::Integer;
use rasn_kerberos::AuthorizationDataValue;

const REALM: &str = "HOSTILE.TEST";
const SERVICE_KVNO: u32 = 3;
const CLOCKSKEW: i64 = 300;
/// Nesting far deeper than any decoder may recurse.
const DEEP: usize = 5000;

fn now() -> (i64, u32) {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (elapsed.as_secs() as i64, elapsed.subsec_micros())
}

// ---------------------------------------------------------------------------
// DER building blocks for messages that the typed encoder cannot produce.

/// Encodes a definite DER length, in long form from 128 on.
fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let mut out = vec![0x80 | (bytes.len() - skip) as u8];
    out.extend_from_slice(&bytes[skip..]);
    out
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_length(content.len()));
    out.extend_from_slice(content);
    out
}

/// Returns `depth` SEQUENCEs nested inside each other around an empty one.
fn nested_sequences(depth: usize) -> Vec<u8> {
    let mut value = vec![0x30, 0x00];
    for _ in 0..depth {
        value = tlv(0x30, &value);
    }
    value
}

/// Returns `DEEP` nested SEQUENCEs, built once.
fn deep_nesting() -> &'static [u8] {
    static VALUE: OnceLock<Vec<u8>> = OnceLock::new();
    VALUE.get_or_init(|| nested_sequences(DEEP))
}

/// Returns `tag` with a four-byte length of 0x7fffffff and `content` after it.
fn oversized(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, 0x84, 0x7f, 0xff, 0xff, 0xff];
    out.extend_from_slice(content);
    out
}

/// Builds AP-REQ DER from an already encoded Ticket and authenticator
/// EncryptedData, so that either can be malformed.
fn ap_req_der(ticket: &[u8], authenticator: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(tlv(0xa0, &tlv(0x02, &[5])));
    body.extend(tlv(0xa1, &tlv(0x02, &[msg_type::AP_REQ as u8])));
    body.extend(tlv(0xa2, &tlv(0x03, &[0x00, 0x20, 0x00, 0x00, 0x00])));
    body.extend(tlv(0xa3, ticket));
    body.extend(tlv(0xa4, authenticator));
    tlv(0x6e, &tlv(0x30, &body))
}

fn krb5_token(id: [u8; 2], message: &[u8]) -> Vec<u8> {
    token::wrap(KRB5_OID, id, message)
}

// ---------------------------------------------------------------------------
// A realm with one service key and tickets minted under it.

struct Fixture {
    keytab: Keytab,
    service: Principal,
    client: Principal,
    service_key: Key,
    now: (i64, u32),
}

/// What a minted ticket contains. `Fixture::spec` returns a ticket valid now.
struct TicketSpec {
    service: Option<Principal>,
    /// The enctype named in the ticket's EncryptedData, if not the key's.
    etype: Option<i32>,
    kvno: u32,
    start: Option<i64>,
    end: i64,
    /// EncTicketPart DER to encrypt in place of a well-formed one.
    plaintext: Option<Vec<u8>>,
}

impl Fixture {
    fn new() -> Fixture {
        let service = Principal::host_service("nfs", "server.hostile.test", REALM);
        let service_key = Key::random(enctype::AES256_CTS_HMAC_SHA1_96).unwrap();
        let mut keytab = Keytab::new();
        keytab.add_entry(KeytabEntry {
            principal: service.clone(),
            timestamp: 0,
            kvno: SERVICE_KVNO,
            key: service_key.clone(),
        });
        Fixture {
            keytab,
            service,
            client: Principal::parse("alice", Some(REALM)).unwrap(),
            service_key,
            now: now(),
        }
    }

    fn spec(&self) -> TicketSpec {
        TicketSpec {
            service: None,
            etype: None,
            kvno: SERVICE_KVNO,
            start: None,
            end: self.now.0 + 3600,
            plaintext: None,
        }
    }

    /// Mints a ticket for the client and returns it with its session key.
    fn ticket(&self, spec: TicketSpec) -> (Ticket, Key) {
        let service = spec.service.unwrap_or_else(|| self.service.clone());
        let mut minted = testing::TicketSpec::new(self.client.clone(), service, self.now.0);
        minted.starttime = spec.start;
        minted.endtime = spec.end;
        let plaintext = spec
            .plaintext
            .unwrap_or_else(|| messages::encode(&minted.enc_part(), "EncTicketPart").unwrap());
        let mut ticket =
            testing::seal_ticket(&plaintext, &minted.service, &self.service_key, spec.kvno);
        if let Some(etype) = spec.etype {
            ticket.enc_part.etype = etype;
        }
        (ticket, minted.session_key.clone())
    }

    /// Returns a well-formed authenticator of the client, sent now, asking
    /// for mutual authentication.
    fn authenticator(&self) -> Authenticator {
        let (cname, crealm) = convert::principal_name(&self.client).unwrap();
        Authenticator {
            authenticator_vno: Integer::from(5),
            crealm,
            cname,
            cksum: Some(messages::Checksum {
                r#type: cksumtype::GSSAPI,
                checksum: GssChecksum::new(RPCSEC_GSS_FLAGS).encode().into(),
            }),
            cusec: Integer::from(i64::from(self.now.1)),
            ctime: time::from_unix(self.now.0).unwrap(),
            subkey: None,
            seq_number: Some(1000),
            authorization_data: None,
        }
    }

    /// Encrypts `plaintext` as the authenticator EncryptedData DER.
    fn sealed_authenticator(&self, session_key: &Key, plaintext: &[u8]) -> Vec<u8> {
        let cipher = session_key
            .encrypt(key_usage::AP_REQ_AUTH, plaintext)
            .unwrap();
        let data = EncryptedData {
            etype: session_key.enctype(),
            kvno: None,
            cipher: cipher.into(),
        };
        messages::encode(&data, "EncryptedData").unwrap()
    }

    /// Builds an AP-REQ token from a ticket and an authenticator.
    fn token(&self, ticket: &Ticket, session_key: &Key, authenticator: &Authenticator) -> Vec<u8> {
        let plaintext = messages::encode(authenticator, "Authenticator").unwrap();
        let sealed = self.sealed_authenticator(session_key, &plaintext);
        let ticket = messages::encode(ticket, "Ticket").unwrap();
        krb5_token(tok_id::AP_REQ, &ap_req_der(&ticket, &sealed))
    }

    /// Builds an AP-REQ token with a fresh ticket of `spec`.
    fn token_with_ticket(&self, spec: TicketSpec) -> Vec<u8> {
        let (ticket, session_key) = self.ticket(spec);
        self.token(&ticket, &session_key, &self.authenticator())
    }

    /// Builds an AP-REQ token with a valid ticket and this authenticator.
    fn token_with_authenticator(&self, change: impl FnOnce(&mut Authenticator)) -> Vec<u8> {
        let (ticket, session_key) = self.ticket(self.spec());
        let mut authenticator = self.authenticator();
        change(&mut authenticator);
        self.token(&ticket, &session_key, &authenticator)
    }

    /// Builds an AP-REQ token with a valid ticket whose authenticator
    /// decrypts to `plaintext`.
    fn token_with_authenticator_plaintext(&self, plaintext: &[u8]) -> Vec<u8> {
        let (ticket, session_key) = self.ticket(self.spec());
        let sealed = self.sealed_authenticator(&session_key, plaintext);
        let ticket = messages::encode(&ticket, "Ticket").unwrap();
        krb5_token(tok_id::AP_REQ, &ap_req_der(&ticket, &sealed))
    }

    /// Builds an AP-REQ token whose Ticket is `ticket` as given.
    fn token_with_ticket_der(&self, ticket: &[u8]) -> Vec<u8> {
        let (_, session_key) = self.ticket(self.spec());
        let plaintext = messages::encode(&self.authenticator(), "Authenticator").unwrap();
        let sealed = self.sealed_authenticator(&session_key, &plaintext);
        krb5_token(tok_id::AP_REQ, &ap_req_der(ticket, &sealed))
    }

    fn options<'a>(&self, acceptor_name: Option<&'a Principal>) -> AcceptorOptions<'a> {
        AcceptorOptions {
            acceptor_name,
            enctypes: &[],
            clockskew: CLOCKSKEW,
            now: self.now,
            channel_bindings: None,
            acceptor_subkey: true,
        }
    }
}

// ---------------------------------------------------------------------------
// The acceptor's cases.

/// One token for the acceptor and the verdict it must get.
struct Case {
    name: &'static str,
    token: Vec<u8>,
    /// Accept as this principal only, as `gss_acquire_cred` with a name
    /// does, or as any principal in the keytab.
    acceptor_name: Option<Principal>,
    major: u32,
    /// The minor status, where MIT reports one that we report too.
    minor: Option<u32>,
    /// Words our message must contain.
    message: &'static str,
    /// MIT's major and minor status, where they differ from ours. A minor
    /// of `None` is one that MIT's mechglue numbers itself.
    mit: Option<(u32, Option<u32>)>,
}

impl Case {
    fn new(f: &Fixture, name: &'static str, token: Vec<u8>) -> Case {
        Case {
            name,
            token,
            acceptor_name: Some(f.service.clone()),
            major: major::COMPLETE,
            minor: None,
            message: "",
            mit: None,
        }
    }

    fn rejected(mut self, major: u32, message: &'static str) -> Case {
        self.major = major;
        self.message = message;
        self
    }

    /// Expects the minor status of Kerberos error `code`.
    fn krb5_error(mut self, code: i32) -> Case {
        self.minor = Some(krb5_minor(code));
        self
    }

    fn minor(mut self, minor: u32) -> Case {
        self.minor = Some(minor);
        self
    }

    /// Records MIT's different verdict on the same token.
    fn mit(mut self, major: u32, minor: u32) -> Case {
        self.mit = Some((major, Some(minor)));
        self
    }

    /// Records MIT's different major status with a minor status that MIT's
    /// mechglue numbers itself, from 100001 up in the order it meets them.
    fn mit_major(mut self, major: u32) -> Case {
        self.mit = Some((major, None));
        self
    }

    fn any_acceptor(mut self) -> Case {
        self.acceptor_name = None;
        self
    }
}

/// The minor status of an ASN.1 decoder error in MIT 1.20: ASN1_MISSING_FIELD.
const MIT_ASN1_MISSING_FIELD: u32 = 1_859_794_433;
/// ASN1_OVERFLOW, "ASN.1 value too large".
const MIT_ASN1_OVERFLOW: u32 = 1_859_794_436;
/// ASN1_OVERRUN, "ASN.1 encoding ended unexpectedly".
const MIT_ASN1_OVERRUN: u32 = 1_859_794_437;
/// KRB5_BAD_MSIZE, "Message size is incompatible with encryption type".
const MIT_BAD_MSIZE: u32 = 2_529_639_102;

/// Every acceptor case, in the order they must run: the replay case
/// repeats the accepted token before it, so both share one replay cache.
fn acceptor_cases(f: &Fixture) -> Vec<Case> {
    let valid = f.token_with_ticket(f.spec());
    let (_, message) = token::unwrap_krb5(&valid).unwrap();
    let message = message.to_vec();
    let other_service = Principal::host_service("nfs", "other.hostile.test", REALM);
    let valid_ticket = messages::encode(&f.ticket(f.spec()).0, "Ticket").unwrap();
    let mut cases = vec![
        Case::new(f, "valid token", valid.clone()),
        Case::new(f, "replayed authenticator", valid)
            .rejected(major::FAILURE, "replay")
            .krb5_error(error_code::KRB_AP_ERR_REPEAT),
    ];
    cases.extend(framing_cases(f, &message, &valid_ticket));
    cases.extend(ticket_cases(f, other_service));
    cases.extend(authenticator_cases(f));
    cases.extend(checksum_cases(f));
    cases
}

fn framing_cases(f: &Fixture, message: &[u8], ticket: &[u8]) -> Vec<Case> {
    let spkm3_oid = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x01, 0x03];
    let mut short = krb5_token(tok_id::AP_REQ, message);
    short.truncate(short.len() - 1);
    let defective = |name, token, words| {
        Case::new(f, name, token)
            .rejected(major::DEFECTIVE_TOKEN, words)
            .mit_major(major::FAILURE)
    };
    vec![
        Case::new(
            f,
            "wrong mechanism OID",
            token::wrap(&spkm3_oid, tok_id::AP_REQ, message),
        )
        .rejected(major::BAD_MECH, "1.3.6.1.5.5.1.3"),
        // MIT replies to a token that is not an AP-REQ with a KRB-ERROR and
        // GSS_S_CONTINUE_NEEDED; RFC 2743 calls it a defective token.
        Case::new(f, "wrong token id", krb5_token(tok_id::AP_REP, message))
            .rejected(major::DEFECTIVE_TOKEN, "TOK_ID")
            .mit(
                major::CONTINUE_NEEDED,
                krb5_minor(error_code::KRB_AP_ERR_MSG_TYPE),
            ),
        // MIT's mechglue returns GSS_S_CONTINUE_NEEDED for an empty token,
        // as if to start a mechanism negotiation.
        Case::new(f, "empty token", Vec::new())
            .rejected(major::DEFECTIVE_TOKEN, "tag")
            .mit(major::CONTINUE_NEEDED, 0),
        defective("outer length past the end", short, "InitialContextToken"),
        defective(
            "outer length 2^31 - 1",
            oversized(0x60, &krb5_token(tok_id::AP_REQ, message)[4..]),
            "InitialContextToken",
        ),
        // MIT accepts a bare AP-REQ without the framing (here it is the
        // valid token's, so MIT reports a replay).
        Case::new(f, "AP-REQ without framing", message.to_vec())
            .rejected(major::DEFECTIVE_TOKEN, "0x60")
            .mit(major::FAILURE, krb5_minor(error_code::KRB_AP_ERR_REPEAT)),
        defective(
            "AP-REQ length 2^31 - 1",
            krb5_token(tok_id::AP_REQ, &oversized(0x6e, &message[4..])),
            "AP-REQ",
        ),
        defective(
            "ticket length 2^31 - 1",
            f.token_with_ticket_der(&oversized(0x61, &ticket[4..])),
            "AP-REQ",
        ),
        defective(
            "nested SEQUENCEs as the message",
            krb5_token(tok_id::AP_REQ, deep_nesting()),
            "nesting",
        ),
        defective(
            "nested SEQUENCEs in the AP-REQ",
            krb5_token(tok_id::AP_REQ, &tlv(0x6e, deep_nesting())),
            "nesting",
        ),
        defective(
            "nested SEQUENCEs as the ticket",
            f.token_with_ticket_der(&tlv(0x61, deep_nesting())),
            "nesting",
        ),
    ]
}

fn ticket_cases(f: &Fixture, other_service: Principal) -> Vec<Case> {
    let (mut other_key_ticket, session_key) = f.ticket(f.spec());
    let other_key = Key::random(enctype::AES256_CTS_HMAC_SHA1_96).unwrap();
    let plaintext =
        messages::encode(&decrypt_ticket(f, &other_key_ticket), "EncTicketPart").unwrap();
    other_key_ticket.enc_part.cipher = other_key
        .encrypt(key_usage::KDC_REP_TICKET, &plaintext)
        .unwrap()
        .into();
    let other_key_token = f.token(&other_key_ticket, &session_key, &f.authenticator());

    vec![
        Case::new(
            f,
            "wrong kvno",
            f.token_with_ticket(TicketSpec {
                kvno: SERVICE_KVNO + 1,
                ..f.spec()
            }),
        )
        .rejected(major::FAILURE, "kvno 4")
        .krb5_error(error_code::KRB_AP_ERR_BADKEYVER),
        Case::new(
            f,
            "unknown enctype",
            f.token_with_ticket(TicketSpec {
                etype: Some(99),
                ..f.spec()
            }),
        )
        .rejected(major::FAILURE, "enctype 99")
        .krb5_error(error_code::KRB_AP_ERR_NOKEY),
        // MIT 1.20 decrypts with every keytab key of the ticket's enctype,
        // whatever the ticket's server name (which no key protects), and so
        // accepts both of these.
        Case::new(
            f,
            "ticket for a principal not in the keytab",
            f.token_with_ticket(TicketSpec {
                service: Some(other_service.clone()),
                ..f.spec()
            }),
        )
        .any_acceptor()
        .rejected(major::FAILURE, "nfs/other.hostile.test")
        .krb5_error(error_code::KRB_AP_ERR_NOKEY)
        .mit(major::COMPLETE, 0),
        Case::new(
            f,
            "ticket for another principal than the acceptor name",
            f.token_with_ticket(TicketSpec {
                service: Some(other_service),
                ..f.spec()
            }),
        )
        .rejected(major::FAILURE, "nfs/server.hostile.test")
        .krb5_error(error_code::KRB_AP_ERR_NOT_US)
        .mit(major::COMPLETE, 0),
        Case::new(
            f,
            "expired ticket",
            f.token_with_ticket(TicketSpec {
                end: f.now.0 - 2 * CLOCKSKEW,
                ..f.spec()
            }),
        )
        .rejected(major::FAILURE, "expired")
        .krb5_error(error_code::KRB_AP_ERR_TKT_EXPIRED),
        Case::new(
            f,
            "ticket not yet valid",
            f.token_with_ticket(TicketSpec {
                start: Some(f.now.0 + 2 * CLOCKSKEW),
                ..f.spec()
            }),
        )
        .rejected(major::FAILURE, "not yet valid")
        .krb5_error(error_code::KRB_AP_ERR_TKT_NYV),
        Case::new(f, "ticket under another key", other_key_token)
            .rejected(major::FAILURE, "cannot decrypt the ticket")
            .krb5_error(error_code::KRB_AP_ERR_BAD_INTEGRITY),
        Case::new(
            f,
            "nested SEQUENCEs in the encrypted ticket",
            f.token_with_ticket(TicketSpec {
                plaintext: Some(tlv(0x63, deep_nesting())),
                ..f.spec()
            }),
        )
        .rejected(major::DEFECTIVE_TOKEN, "nesting")
        .mit(major::FAILURE, MIT_ASN1_MISSING_FIELD),
        Case::new(
            f,
            "encrypted ticket length 2^31 - 1",
            f.token_with_ticket(TicketSpec {
                plaintext: Some(oversized(0x63, &[0x30, 0x00])),
                ..f.spec()
            }),
        )
        .rejected(major::DEFECTIVE_TOKEN, "EncTicketPart")
        .mit(major::FAILURE, MIT_ASN1_OVERRUN),
    ]
}

fn authenticator_cases(f: &Fixture) -> Vec<Case> {
    let mallory = Principal::parse("mallory", Some(REALM)).unwrap();
    let (ticket, _) = f.ticket(f.spec());
    let wrong_key = Key::random(enctype::AES256_CTS_HMAC_SHA1_96).unwrap();

    vec![
        Case::new(
            f,
            "authenticator of another client",
            f.token_with_authenticator(|a| {
                a.cname = convert::principal_name(&mallory).unwrap().0;
            }),
        )
        .rejected(major::FAILURE, "mallory@HOSTILE.TEST")
        .krb5_error(error_code::KRB_AP_ERR_BADMATCH),
        Case::new(
            f,
            "clock skew",
            f.token_with_authenticator(|a| {
                a.ctime = time::from_unix(f.now.0 - 2 * CLOCKSKEW).unwrap();
            }),
        )
        .rejected(major::FAILURE, "synchronize the clocks")
        .krb5_error(error_code::KRB_AP_ERR_SKEW),
        Case::new(
            f,
            "authenticator under another key",
            f.token(&ticket, &wrong_key, &f.authenticator()),
        )
        .rejected(major::FAILURE, "cannot decrypt the authenticator")
        .krb5_error(error_code::KRB_AP_ERR_BAD_INTEGRITY),
        Case::new(
            f,
            "nested SEQUENCEs as the authenticator",
            f.token_with_authenticator_plaintext(&tlv(0x62, deep_nesting())),
        )
        .rejected(major::DEFECTIVE_TOKEN, "nesting")
        .mit(major::FAILURE, MIT_ASN1_MISSING_FIELD),
        Case::new(
            f,
            "authenticator length 2^31 - 1",
            f.token_with_authenticator_plaintext(&oversized(0x62, &[0x30, 0x00])),
        )
        .rejected(major::DEFECTIVE_TOKEN, "Authenticator")
        .mit(major::FAILURE, MIT_ASN1_OVERRUN),
        // An AD-IF-RELEVANT container must decode, though the elements
        // inside it may be ignored.
        Case::new(
            f,
            "nested SEQUENCEs in AD-IF-RELEVANT",
            f.token_with_authenticator(|a| {
                a.authorization_data = Some(vec![AuthorizationDataValue {
                    r#type: ad_type::IF_RELEVANT,
                    data: deep_nesting().to_vec().into(),
                }]);
            }),
        )
        .rejected(major::DEFECTIVE_TOKEN, "nesting")
        .mit(major::FAILURE, MIT_ASN1_MISSING_FIELD),
        Case::new(
            f,
            "AD-IF-RELEVANT length 2^31 - 1",
            f.token_with_authenticator(|a| {
                a.authorization_data = Some(vec![AuthorizationDataValue {
                    r#type: ad_type::IF_RELEVANT,
                    data: oversized(0x30, &[0x30, 0x00]).into(),
                }]);
            }),
        )
        .rejected(major::DEFECTIVE_TOKEN, "AD-IF-RELEVANT")
        .mit(major::FAILURE, MIT_ASN1_OVERRUN),
        Case::new(
            f,
            "malformed EtypeList",
            f.token_with_authenticator(|a| {
                let negotiation = vec![AuthorizationDataValue {
                    r#type: ad_type::ETYPE_NEGOTIATION,
                    data: vec![0x30, 0x03, 0x02, 0x01].into(),
                }];
                let container = messages::encode(&negotiation, "AD-IF-RELEVANT").unwrap();
                a.authorization_data = Some(vec![AuthorizationDataValue {
                    r#type: ad_type::IF_RELEVANT,
                    data: container.into(),
                }]);
            }),
        )
        .rejected(major::DEFECTIVE_TOKEN, "EtypeList")
        .mit(major::FAILURE, MIT_ASN1_OVERRUN),
        Case::new(
            f,
            "unknown element in AD-IF-RELEVANT",
            f.token_with_authenticator(|a| {
                let unknown = vec![AuthorizationDataValue {
                    r#type: 9999,
                    data: deep_nesting().to_vec().into(),
                }];
                let container = messages::encode(&unknown, "AD-IF-RELEVANT").unwrap();
                a.authorization_data = Some(vec![AuthorizationDataValue {
                    r#type: ad_type::IF_RELEVANT,
                    data: container.into(),
                }]);
            }),
        ),
    ]
}

/// Returns the cases of the 0x8003 authenticator checksum (RFC 4121 §4.1.1).
fn checksum_cases(f: &Fixture) -> Vec<Case> {
    let with_value = |value: Vec<u8>| {
        f.token_with_authenticator(|a| a.cksum.as_mut().unwrap().checksum = value.into())
    };
    let valid = GssChecksum::new(RPCSEC_GSS_FLAGS).encode();
    let mut lgth_15 = valid.clone();
    lgth_15[0] = 15;
    let mut long_delegation = valid.clone();
    long_delegation[20] |= flags::DELEG as u8;
    long_delegation.extend_from_slice(&[1, 0, 0xff, 0xff, 0x76]);

    vec![
        // MIT verifies any other checksum type as a raw krb5 checksum,
        // which this one cannot pass.
        Case::new(
            f,
            "authenticator checksum of another type",
            f.token_with_authenticator(|a| {
                a.cksum.as_mut().unwrap().r#type = cksumtype::HMAC_SHA1_96_AES256;
            }),
        )
        .rejected(major::BAD_SIG, "0x8003")
        .krb5_error(error_code::KRB_AP_ERR_INAPP_CKSUM)
        .mit(major::BAD_SIG, MIT_BAD_MSIZE),
        // MIT accepts an authenticator without a checksum, as raw krb5
        // initiators send; RFC 4121 §4.1.1 requires one.
        Case::new(
            f,
            "authenticator without checksum",
            f.token_with_authenticator(|a| a.cksum = None),
        )
        .rejected(major::DEFECTIVE_TOKEN, "no checksum")
        .mit(major::COMPLETE, 0),
        Case::new(f, "checksum Lgth 15", with_value(lgth_15))
            .rejected(major::DEFECTIVE_TOKEN, "Lgth")
            .minor(minor::KG_BAD_LENGTH)
            .mit(major::FAILURE, minor::KG_BAD_LENGTH),
        // MIT reads a value too short for the flags as a channel-binding
        // mismatch.
        Case::new(
            f,
            "checksum value of 20 bytes",
            with_value(valid[..20].to_vec()),
        )
        .rejected(major::DEFECTIVE_TOKEN, "Flags")
        .minor(minor::KG_BAD_LENGTH)
        .mit_major(major::BAD_BINDINGS),
        Case::new(
            f,
            "checksum delegation longer than the value",
            with_value(long_delegation),
        )
        .rejected(major::DEFECTIVE_TOKEN, "Deleg")
        .minor(minor::KG_BAD_LENGTH)
        .mit(major::FAILURE, minor::KG_BAD_LENGTH),
    ]
}

fn decrypt_ticket(f: &Fixture, ticket: &Ticket) -> EncTicketPart {
    let plain = f
        .service_key
        .decrypt(key_usage::KDC_REP_TICKET, &ticket.enc_part.cipher)
        .unwrap();
    messages::decode_enc_ticket_part(&plain).unwrap()
}

/// Runs `token` through our acceptor and returns the rejection, if any.
fn our_verdict(
    f: &Fixture,
    cache: &ReplayCache,
    acceptor_name: Option<&Principal>,
    token: &[u8],
) -> Result<(), Rejected> {
    accept_sec_context(&f.keytab, cache, &f.options(acceptor_name), token).map(|_| ())
}

/// Returns what is wrong with our verdict on `case`, if anything.
fn check_verdict(case: &Case, verdict: Result<(), Rejected>) -> Option<String> {
    let name = case.name;
    let error = match verdict {
        Ok(()) if case.major == major::COMPLETE => return None,
        Ok(()) => return Some(format!("{name}: accepted")),
        Err(rejected) => rejected.error,
    };
    if error.major != case.major {
        return Some(format!(
            "{name}: got {error}, expected {}",
            major::name(case.major)
        ));
    }
    if case.minor.is_some_and(|minor| minor != error.minor) {
        return Some(format!(
            "{name}: got {error}, expected minor {:?}",
            case.minor
        ));
    }
    if !error.message.contains(case.message) {
        return Some(format!(
            "{name}: message of {error} lacks {:?}",
            case.message
        ));
    }
    None
}

#[test]
fn acceptor_rejects_hostile_tokens() {
    let f = Fixture::new();
    let cache = ReplayCache::new();
    let failures: Vec<String> = acceptor_cases(&f)
        .iter()
        .filter_map(|case| {
            let verdict = our_verdict(&f, &cache, case.acceptor_name.as_ref(), &case.token);
            check_verdict(case, verdict)
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn acceptor_rejects_every_prefix() {
    let f = Fixture::new();
    let token = f.token_with_ticket(f.spec());
    for len in 0..token.len() {
        let rejected = our_verdict(&f, &ReplayCache::new(), None, &token[..len]).unwrap_err();
        assert_eq!(
            major::name(rejected.error.major),
            "GSS_S_DEFECTIVE_TOKEN",
            "prefix of {len} bytes: {}",
            rejected.error
        );
        assert!(rejected.output_token.is_none(), "prefix of {len} bytes");
    }
}

// ---------------------------------------------------------------------------
// The same cases against MIT's acceptor.

/// Builds `mit_gss_hostile.c` once per test process.
fn mit_program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| mit_program::build("mit_gss_hostile"))
}

/// MIT's verdict on one token: major, minor and its messages.
#[derive(Debug)]
struct MitVerdict {
    major: u32,
    minor: u32,
    output_token: Option<Vec<u8>>,
    text: String,
}

/// A private directory with the krb5.conf, keytab, credential cache and
/// replay cache that MIT's library reads, removed on drop.
struct MitEnvironment {
    dir: PathBuf,
}

impl MitEnvironment {
    fn new(keytab: &Keytab, credential: Option<&Credential>) -> MitEnvironment {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rgssd-hostile-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("krb5.keytab"), keytab.to_bytes().unwrap()).unwrap();
        std::fs::write(
            dir.join("krb5.conf"),
            format!("[libdefaults]\n default_realm = {REALM}\n clockskew = {CLOCKSKEW}\n"),
        )
        .unwrap();
        if let Some(credential) = credential {
            let cache = CacheFile {
                version: 4,
                kdc_offset: None,
                principal: credential.client.clone(),
                credentials: vec![credential.clone()],
            };
            std::fs::write(dir.join("ccache"), ccache::file::encode(&cache).unwrap()).unwrap();
        }
        MitEnvironment { dir }
    }

    /// Starts `mit_gss_hostile` with `args` in this environment only.
    fn spawn(&self, args: &[String]) -> Child {
        Command::new(mit_program())
            .args(args)
            .env_clear()
            .env("KRB5_CONFIG", self.dir.join("krb5.conf"))
            .env(
                "KRB5_KTNAME",
                format!("FILE:{}", self.dir.join("krb5.keytab").display()),
            )
            .env(
                "KRB5CCNAME",
                format!("FILE:{}", self.dir.join("ccache").display()),
            )
            .env("KRB5RCACHEDIR", &self.dir)
            .env(
                "KRB5RCACHENAME",
                format!("file2:{}", self.dir.join("rcache").display()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for MitEnvironment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Parses a "status" line of `mit_gss_hostile`.
fn parse_status(line: &str) -> MitVerdict {
    let mut fields = line.splitn(5, ' ');
    assert_eq!(
        fields.next(),
        Some("status"),
        "MIT's GSS-API library: {line}"
    );
    let major = u32::from_str_radix(fields.next().unwrap().trim_start_matches("0x"), 16).unwrap();
    let minor = fields.next().unwrap().parse().unwrap();
    let output = fields.next().unwrap();
    MitVerdict {
        major,
        minor,
        output_token: (output != "-").then(|| hex::decode(output).unwrap()),
        text: fields.next().unwrap_or_default().to_string(),
    }
}

/// Runs `tokens` through one MIT acceptor process with `keytab`.
fn mit_verdicts(
    keytab: &Keytab,
    acceptor_name: Option<&Principal>,
    tokens: &[&[u8]],
) -> Vec<MitVerdict> {
    let environment = MitEnvironment::new(keytab, None);
    let mut args = vec!["accept".to_string()];
    args.extend(acceptor_name.map(Principal::to_string));
    let mut child = environment.spawn(&args);
    let mut stdin = child.stdin.take().unwrap();
    let input: String = tokens.iter().map(|t| hex::encode(t) + "\n").collect();
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let verdicts: Vec<MitVerdict> = stdout
        .lines()
        .map(|line| parse_status(&line.unwrap()))
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        verdicts.len(),
        tokens.len(),
        "MIT's acceptor returned fewer verdicts than tokens"
    );
    verdicts
}

/// Returns the error code of a KRB-ERROR token.
fn error_token_code(token: &[u8]) -> i32 {
    let (id, message) = token::unwrap_krb5(token).unwrap();
    assert_eq!(id, tok_id::KRB_ERROR, "error token {}", hex::encode(token));
    messages::decode_krb_error(message).unwrap().error_code
}

/// Runs the cases for one acceptor name through MIT's acceptor and
/// returns what differs from the recorded verdicts.
fn mit_disagreements(f: &Fixture, cases: &[&Case]) -> Vec<String> {
    let tokens: Vec<&[u8]> = cases.iter().map(|case| case.token.as_slice()).collect();
    let acceptor_name = cases.first().and_then(|case| case.acceptor_name.as_ref());
    let verdicts = mit_verdicts(&f.keytab, acceptor_name, &tokens);
    let cache = ReplayCache::new();
    let mut disagreements = Vec::new();
    for (case, verdict) in cases.iter().zip(&verdicts) {
        // Where both reject, the KRB-ERROR tokens must carry the same code.
        let ours = our_verdict(f, &cache, acceptor_name, &case.token).err();
        if case.mit.is_none() && case.major != major::COMPLETE {
            let our_code = ours
                .and_then(|rejected| rejected.output_token)
                .map(|token| error_token_code(&token));
            let mit_code = verdict.output_token.as_deref().map(error_token_code);
            if our_code != mit_code {
                disagreements.push(format!(
                    "{}: our KRB-ERROR token has code {our_code:?}, MIT's {mit_code:?}",
                    case.name
                ));
            }
        }
        let (major, minor) = case.mit.unwrap_or((case.major, case.minor));
        let minor_differs = minor.is_some_and(|minor| minor != verdict.minor);
        if verdict.major != major || minor_differs {
            disagreements.push(format!(
                "{}: MIT returned {} ({:#x}) minor {}{}, expected {} minor {minor:?}",
                case.name,
                major::name(verdict.major),
                verdict.major,
                verdict.minor,
                verdict.text,
                major::name(major),
            ));
        }
    }
    disagreements
}

#[test]
fn mit_acceptor_agrees() {
    let f = Fixture::new();
    let cases = acceptor_cases(&f);
    // One MIT process serves one acceptor name, and the replay case must
    // follow the valid token in the same process.
    let (named, any): (Vec<&Case>, Vec<&Case>) =
        cases.iter().partition(|case| case.acceptor_name.is_some());
    let mut disagreements = mit_disagreements(&f, &named);
    disagreements.extend(mit_disagreements(&f, &any));
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

// ---------------------------------------------------------------------------
// The initiator: hostile replies to our AP-REQ.

/// The enctypes our initiator offers for the context key.
const OFFERED: [i32; 2] = [
    enctype::AES256_CTS_HMAC_SHA1_96,
    enctype::AES128_CTS_HMAC_SHA1_96,
];

impl Fixture {
    /// Returns the client's credential for a freshly minted ticket.
    fn credential(&self) -> Credential {
        let mut spec =
            testing::TicketSpec::new(self.client.clone(), self.service.clone(), self.now.0);
        spec.kvno = SERVICE_KVNO;
        spec.mint(&self.service_key)
    }

    /// Starts a context with mutual authentication that waits for an AP-REP.
    fn pending(&self, credential: &Credential) -> Box<PendingContext> {
        let options = InitiatorOptions {
            flags: RPCSEC_GSS_FLAGS,
            enctypes: &OFFERED,
            now: self.now,
            channel_bindings: None,
        };
        match init_sec_context(credential, &options).unwrap() {
            InitStep::ContinueNeeded(pending, _) => pending,
            InitStep::Complete(..) => panic!("mutual authentication must need a reply"),
        }
    }
}

/// Returns an EncAPRepPart that echoes the authenticator time `echo`.
fn ap_rep_part(echo: (i64, u32), subkey_enctype: i32) -> EncApRepPart {
    EncApRepPart {
        ctime: time::from_unix(echo.0).unwrap(),
        cusec: Integer::from(i64::from(echo.1)),
        subkey: Some(convert::encryption_key(
            &Key::random(subkey_enctype).unwrap(),
        )),
        seq_number: Some(77),
    }
}

/// Encrypts `plaintext` as an AP-REP and frames it.
fn ap_rep_token(session_key: &Key, plaintext: &[u8]) -> Vec<u8> {
    let cipher = session_key
        .encrypt(key_usage::AP_REP_ENC_PART, plaintext)
        .unwrap();
    let ap_rep = ApRep {
        pvno: Integer::from(5),
        msg_type: Integer::from(msg_type::AP_REP),
        enc_part: EncryptedData {
            etype: session_key.enctype(),
            kvno: None,
            cipher: cipher.into(),
        },
    };
    krb5_token(
        tok_id::AP_REP,
        &messages::encode(&ap_rep, "AP-REP").unwrap(),
    )
}

fn sealed_part(session_key: &Key, part: &EncApRepPart) -> Vec<u8> {
    ap_rep_token(
        session_key,
        &messages::encode(part, "EncAPRepPart").unwrap(),
    )
}

fn krb_error_token(code: i32, now: i64) -> Vec<u8> {
    let error = KrbError {
        pvno: Integer::from(5),
        msg_type: Integer::from(msg_type::KRB_ERROR),
        ctime: None,
        cusec: None,
        stime: time::from_unix(now).unwrap(),
        susec: Integer::from(0),
        error_code: code,
        crealm: None,
        cname: None,
        realm: convert::kerberos_string(REALM, "Realm", "realm").unwrap(),
        sname: convert::principal_name(&Principal::host_service(
            "nfs",
            "server.hostile.test",
            REALM,
        ))
        .unwrap()
        .0,
        e_text: None,
        e_data: None,
    };
    krb5_token(
        tok_id::KRB_ERROR,
        &messages::encode(&error, "KRB-ERROR").unwrap(),
    )
}

/// One reply for the initiator and the verdict it must get.
struct ReplyCase {
    name: &'static str,
    reply: Vec<u8>,
    major: u32,
    minor: Option<u32>,
    message: &'static str,
    /// MIT's major and minor status, where they differ from ours.
    mit: Option<(u32, u32)>,
}

impl ReplyCase {
    /// Records MIT's different verdict on the same reply.
    fn mit(mut self, major: u32, minor: u32) -> ReplyCase {
        self.mit = Some((major, minor));
        self
    }
}

fn reply_case(
    name: &'static str,
    reply: Vec<u8>,
    major: u32,
    minor: Option<u32>,
    message: &'static str,
) -> ReplyCase {
    ReplyCase {
        name,
        reply,
        major,
        minor,
        message,
        mit: None,
    }
}

/// Returns the replies to an AP-REQ under `session_key` whose
/// authenticator has the time `echo`.
fn reply_cases(session_key: &Key, echo: (i64, u32)) -> Vec<ReplyCase> {
    let part = |change: &dyn Fn(&mut EncApRepPart)| {
        let mut part = ap_rep_part(echo, enctype::AES256_CTS_HMAC_SHA1_96);
        change(&mut part);
        sealed_part(session_key, &part)
    };
    let other_key = Key::random(session_key.enctype()).unwrap();
    let valid_part = messages::encode(
        &ap_rep_part(echo, enctype::AES256_CTS_HMAC_SHA1_96),
        "EncAPRepPart",
    )
    .unwrap();
    let mut_fail = Some(KRB5_MUTUAL_FAILED);

    vec![
        reply_case("valid AP-REP", part(&|_| {}), major::COMPLETE, None, ""),
        reply_case(
            "AP-REP with another ctime",
            part(&|p| p.ctime = time::from_unix(echo.0 - 1).unwrap()),
            major::FAILURE,
            mut_fail,
            "does not echo",
        ),
        reply_case(
            "AP-REP with another cusec",
            part(&|p| p.cusec = Integer::from(i64::from(echo.1) + 1)),
            major::FAILURE,
            mut_fail,
            "does not echo",
        ),
        // MIT cannot decode a cusec this large.
        reply_case(
            "AP-REP with a cusec out of range",
            part(&|p| p.cusec = Integer::from(1_i64 << 40)),
            major::FAILURE,
            mut_fail,
            "does not echo",
        )
        .mit(major::FAILURE, MIT_ASN1_OVERFLOW),
        // MIT takes any subkey enctype it implements.
        reply_case(
            "subkey of an enctype not offered",
            sealed_part(
                session_key,
                &ap_rep_part(echo, enctype::CAMELLIA128_CTS_CMAC),
            ),
            major::FAILURE,
            None,
            "not offered",
        )
        .mit(major::COMPLETE, 0),
        reply_case(
            "AP-REP under another key",
            ap_rep_token(&other_key, &valid_part),
            major::FAILURE,
            Some(krb5_minor(error_code::KRB_AP_ERR_BAD_INTEGRITY)),
            "cannot decrypt",
        ),
        reply_case(
            "KRB-ERROR token",
            krb_error_token(error_code::KRB_AP_ERR_SKEW, echo.0),
            major::FAILURE,
            Some(krb5_minor(error_code::KRB_AP_ERR_SKEW)),
            "Clock skew too great",
        ),
        reply_case(
            "malformed KRB-ERROR token",
            krb5_token(tok_id::KRB_ERROR, &tlv(0x7e, &[0x30, 0x00])),
            major::DEFECTIVE_TOKEN,
            None,
            "KRB-ERROR",
        )
        .mit(major::FAILURE, MIT_ASN1_MISSING_FIELD),
        reply_case(
            "AP-REQ token id",
            {
                let token = part(&|_| {});
                let (_, message) = token::unwrap_krb5(&token).unwrap();
                krb5_token(tok_id::AP_REQ, message)
            },
            major::DEFECTIVE_TOKEN,
            None,
            "TOK_ID",
        ),
        reply_case(
            "garbage",
            b"\x00\x01garbage that is no token".to_vec(),
            major::DEFECTIVE_TOKEN,
            None,
            "0x60",
        ),
        reply_case(
            "nested SEQUENCEs as the AP-REP",
            krb5_token(tok_id::AP_REP, &tlv(0x6f, deep_nesting())),
            major::DEFECTIVE_TOKEN,
            None,
            "nesting",
        )
        .mit(major::FAILURE, MIT_ASN1_MISSING_FIELD),
        reply_case(
            "AP-REP length 2^31 - 1",
            krb5_token(tok_id::AP_REP, &oversized(0x6f, &[0x30, 0x00])),
            major::DEFECTIVE_TOKEN,
            None,
            "AP-REP",
        )
        .mit(major::FAILURE, MIT_ASN1_OVERRUN),
        reply_case(
            "nested SEQUENCEs in the encrypted part",
            ap_rep_token(session_key, &tlv(0x7b, deep_nesting())),
            major::DEFECTIVE_TOKEN,
            None,
            "nesting",
        )
        .mit(major::FAILURE, MIT_ASN1_MISSING_FIELD),
        reply_case(
            "encrypted part length 2^31 - 1",
            ap_rep_token(session_key, &oversized(0x7b, &[0x30, 0x00])),
            major::DEFECTIVE_TOKEN,
            None,
            "EncAPRepPart",
        )
        .mit(major::FAILURE, MIT_ASN1_OVERRUN),
    ]
}

#[test]
fn initiator_rejects_hostile_replies() {
    let f = Fixture::new();
    let credential = f.credential();
    let mut failures = Vec::new();
    for case in reply_cases(&credential.session_key, f.now) {
        let name = case.name;
        let error = match f.pending(&credential).complete(&case.reply) {
            Ok(_) if case.major == major::COMPLETE => continue,
            Ok(_) => {
                failures.push(format!("{name}: accepted"));
                continue;
            }
            Err(error) => error,
        };
        if error.major != case.major {
            failures.push(format!(
                "{name}: got {error}, expected {}",
                major::name(case.major)
            ));
        } else if case.minor.is_some_and(|minor| minor != error.minor) {
            failures.push(format!(
                "{name}: got {error}, expected minor {:?}",
                case.minor
            ));
        } else if !error.message.contains(case.message) {
            failures.push(format!(
                "{name}: message of {error} lacks {:?}",
                case.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn initiator_rejects_every_prefix() {
    let f = Fixture::new();
    let credential = f.credential();
    let reply = sealed_part(
        &credential.session_key,
        &ap_rep_part(f.now, enctype::AES256_CTS_HMAC_SHA1_96),
    );
    f.pending(&credential).complete(&reply).unwrap();
    for len in 0..reply.len() {
        let error = f.pending(&credential).complete(&reply[..len]).unwrap_err();
        assert_eq!(
            major::name(error.major),
            "GSS_S_DEFECTIVE_TOKEN",
            "prefix of {len} bytes: {error}"
        );
    }
}

// ---------------------------------------------------------------------------
// MIC tokens (RFC 4121 §4.2.6.1) from the acceptor, verified by the initiator.

fn contexts() -> (EstablishedContext, EstablishedContext) {
    let f = Fixture::new();
    let credential = f.credential();
    let options = InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS,
        enctypes: &OFFERED,
        now: f.now,
        channel_bindings: None,
    };
    let InitStep::ContinueNeeded(pending, token) = init_sec_context(&credential, &options).unwrap()
    else {
        panic!("mutual authentication must need a reply");
    };
    let accepted = accept_sec_context(&f.keytab, &ReplayCache::new(), &f.options(None), &token)
        .map_err(|rejected| rejected.error)
        .unwrap();
    let initiator = pending.complete(&accepted.output_token).unwrap();
    (initiator, accepted.context)
}

#[test]
fn verify_mic_rejects_hostile_tokens() {
    let (initiator, acceptor) = contexts();
    let message = b"sequence window";
    let mic = acceptor.get_mic(5, message).unwrap();
    assert_eq!(initiator.verify_mic(message, &mic), Ok(5));

    let changed = |index: usize, value: u8| {
        let mut token = mic.clone();
        token[index] = value;
        token
    };
    let mut last = mic.clone();
    *last.last_mut().unwrap() ^= 1;
    let no_direction = changed(2, mic[2] & !mic::token_flags::SENT_BY_ACCEPTOR);
    let cases: Vec<(&str, Vec<u8>, u32, u32, &str)> = vec![
        (
            "wrong TOK_ID",
            changed(1, 0x05),
            major::DEFECTIVE_TOKEN,
            0,
            "TOK_ID",
        ),
        (
            "Wrap TOK_ID",
            changed(0, 0x05),
            major::DEFECTIVE_TOKEN,
            0,
            "TOK_ID",
        ),
        (
            "filler 0xfe",
            changed(5, 0xfe),
            major::DEFECTIVE_TOKEN,
            0,
            "filler",
        ),
        (
            "sealed flag",
            changed(2, mic[2] | mic::token_flags::SEALED),
            major::BAD_SIG,
            0,
            "flags",
        ),
        (
            "no acceptor-subkey flag",
            changed(2, mic[2] & !mic::token_flags::ACCEPTOR_SUBKEY),
            major::BAD_SIG,
            0,
            "flags",
        ),
        (
            "sent by the initiator",
            no_direction,
            major::BAD_SIG,
            generic_minor::G_BAD_DIRECTION,
            "flags",
        ),
        (
            "checksum changed",
            last,
            major::BAD_SIG,
            0,
            "does not verify",
        ),
        (
            "sequence number changed",
            changed(15, mic[15] ^ 1),
            major::BAD_SIG,
            0,
            "does not verify",
        ),
        (
            "empty token",
            Vec::new(),
            major::DEFECTIVE_TOKEN,
            0,
            "shorter",
        ),
        (
            "header only",
            mic[..16].to_vec(),
            major::DEFECTIVE_TOKEN,
            0,
            "shorter",
        ),
    ];
    for (name, token, expected_major, expected_minor, words) in cases {
        let error = GssError::from(initiator.verify_mic(message, &token).unwrap_err());
        assert_eq!(
            major::name(error.major),
            major::name(expected_major),
            "{name}: {error}"
        );
        assert_eq!(error.minor, expected_minor, "{name}: {error}");
        assert!(error.message.contains(words), "{name}: {error}");
    }

    for len in 0..mic.len() {
        let error = GssError::from(initiator.verify_mic(message, &mic[..len]).unwrap_err());
        assert_ne!(error.major, major::COMPLETE, "prefix of {len} bytes");
    }
    let error = GssError::from(initiator.verify_mic(b"another message", &mic).unwrap_err());
    assert_eq!(major::name(error.major), "GSS_S_BAD_SIG", "{error}");
}

/// Returns the time of the authenticator in an AP-REQ token.
fn authenticator_time(session_key: &Key, token: &[u8]) -> (i64, u32) {
    let (_, message) = token::unwrap_krb5(token).unwrap();
    let ap_req = messages::decode_ap_req(message).unwrap();
    let plaintext = session_key
        .decrypt(key_usage::AP_REQ_AUTH, &ap_req.authenticator.cipher)
        .unwrap();
    let authenticator = messages::decode_authenticator(&plaintext).unwrap();
    let cusec = u32::try_from(&authenticator.cusec).unwrap();
    (time::to_unix(&authenticator.ctime), cusec)
}

#[test]
fn mit_initiator_agrees() {
    let f = Fixture::new();
    let credential = f.credential();
    let environment = MitEnvironment::new(&f.keytab, Some(&credential));
    let mut child = environment.spawn(&["init".to_string(), f.service.to_string()]);
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let mut disagreements = Vec::new();
    let count = reply_cases(&credential.session_key, f.now).len();
    for index in 0..count {
        // Each case answers a fresh AP-REQ, whose authenticator time the
        // AP-REP must echo.
        writeln!(stdin, "next").unwrap();
        let line = lines.next().unwrap().unwrap();
        let token = line
            .strip_prefix("token ")
            .unwrap_or_else(|| panic!("MIT's initiator: {line}"));
        let echo = authenticator_time(&credential.session_key, &hex::decode(token).unwrap());
        let case = reply_cases(&credential.session_key, echo).swap_remove(index);
        writeln!(stdin, "{}", hex::encode(&case.reply)).unwrap();
        let verdict = parse_status(&lines.next().unwrap().unwrap());

        let (major, minor) = match case.mit {
            Some((major, minor)) => (major, Some(minor)),
            None => (case.major, case.minor),
        };
        let minor_differs = minor.is_some_and(|minor| minor != verdict.minor);
        if verdict.major != major || minor_differs {
            disagreements.push(format!(
                "{}: MIT returned {} ({:#x}) minor {}{}, expected {} minor {minor:?}",
                case.name,
                major::name(verdict.major),
                verdict.major,
                verdict.minor,
                verdict.text,
                major::name(major),
            ));
        }
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
