//! Service tickets made the way a KDC makes them, for tests, benchmarks and
//! fuzz targets that give an acceptor a token without running a KDC.
//!
//! Built only for this crate's own tests and with the `test-support`
//! feature. The daemons never mint tickets.

use rasn::types::Integer;
use rasn_kerberos::{
    AuthorizationDataValue, EncTicketPart, EncryptedData, Ticket, TicketFlags, TransitedEncoding,
};

use crate::credentials::Credential;
use crate::crypto::Key;
use crate::iana::{enctype, key_usage};
use crate::messages::{self, convert, flags, time};
use crate::principal::Principal;

/// The contents of one service ticket. [`TicketSpec::new`] fills in a
/// ticket valid now; tests change the fields they care about.
pub struct TicketSpec {
    pub client: Principal,
    pub service: Principal,
    /// The session key that the ticket and the credential carry.
    pub session_key: Key,
    pub authtime: i64,
    pub starttime: Option<i64>,
    pub endtime: i64,
    /// The key version number named in the ticket's EncryptedData.
    pub kvno: u32,
    pub authorization_data: Vec<AuthorizationDataValue>,
}

impl TicketSpec {
    /// Returns a ticket from `client` to `service` issued a minute before
    /// `now` (seconds since the epoch), valid for an hour after it, with a
    /// new aes256-cts-hmac-sha1-96 session key and key version 1.
    pub fn new(client: Principal, service: Principal, now: i64) -> TicketSpec {
        TicketSpec {
            client,
            service,
            session_key: Key::random(enctype::AES256_CTS_HMAC_SHA1_96)
                .expect("aes256-cts-hmac-sha1-96 is always supported"),
            authtime: now - 60,
            starttime: None,
            endtime: now + 3600,
            kvno: 1,
            authorization_data: Vec::new(),
        }
    }

    /// Returns the part of the ticket that the service key encrypts.
    pub fn enc_part(&self) -> EncTicketPart {
        let (cname, crealm) = convert::principal_name(&self.client)
            .unwrap_or_else(|e| panic!("client {} cannot be encoded: {e}", self.client));
        EncTicketPart {
            flags: TicketFlags(flags::from_u32(0)),
            key: convert::encryption_key(&self.session_key),
            crealm,
            cname,
            transited: TransitedEncoding {
                r#type: 1,
                contents: Vec::new().into(),
            },
            auth_time: unix_time(self.authtime),
            start_time: self.starttime.map(unix_time),
            end_time: unix_time(self.endtime),
            renew_till: None,
            caddr: None,
            authorization_data: (!self.authorization_data.is_empty())
                .then(|| self.authorization_data.clone()),
        }
    }

    /// Encrypts the ticket under `service_key` and returns the client's
    /// credential for it.
    pub fn mint(&self, service_key: &Key) -> Credential {
        let plaintext = messages::encode(&self.enc_part(), "EncTicketPart")
            .expect("a ticket built from valid fields encodes");
        let ticket = seal_ticket(&plaintext, &self.service, service_key, self.kvno);
        Credential {
            client: self.client.clone(),
            server: self.service.clone(),
            session_key: self.session_key.clone(),
            authtime: self.authtime as u32,
            starttime: self.starttime.unwrap_or(0) as u32,
            endtime: self.endtime as u32,
            renew_till: 0,
            is_skey: false,
            flags: 0,
            addresses: Vec::new(),
            authdata: Vec::new(),
            ticket: messages::encode(&ticket, "Ticket").expect("a sealed ticket encodes"),
            second_ticket: Vec::new(),
        }
    }
}

/// Encrypts `plaintext`, normally EncTicketPart DER, under `service_key`
/// into a ticket that names `service` and key version `kvno`. Tests pass
/// malformed plaintext through here to build hostile tickets.
pub fn seal_ticket(plaintext: &[u8], service: &Principal, service_key: &Key, kvno: u32) -> Ticket {
    let cipher = service_key
        .encrypt(key_usage::KDC_REP_TICKET, plaintext)
        .expect("encryption under a valid key");
    let (sname, realm) = convert::principal_name(service)
        .unwrap_or_else(|e| panic!("service {service} cannot be encoded: {e}"));
    Ticket {
        tkt_vno: Integer::from(5),
        realm,
        sname,
        enc_part: EncryptedData {
            etype: service_key.enctype(),
            kvno: Some(kvno),
            cipher: cipher.into(),
        },
    }
}

fn unix_time(seconds: i64) -> rasn_kerberos::KerberosTime {
    time::from_unix(seconds).unwrap_or_else(|e| panic!("{seconds} is not a KerberosTime: {e}"))
}
