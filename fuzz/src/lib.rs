//! Fixed keys, tickets and contexts shared by the GSS-API fuzz targets and
//! by `write_gss_seeds`, which writes their seeds. Every key is a constant,
//! so a seed written once stays valid for every later run.

use krb5::credentials::Credential;
use krb5::crypto::Key;
use krb5::gss::acceptor::AcceptorOptions;
use krb5::gss::initiator::{init_sec_context, InitStep, InitiatorOptions, PendingContext};
use krb5::gss::mic::token_flags;
use krb5::iana::enctype;
use krb5::keytab::{Keytab, KeytabEntry};
use krb5::testing::TicketSpec;
use krb5::Principal;

/// The clock of every target: seconds and microseconds since the epoch.
pub const NOW: (i64, u32) = (1_800_000_000, 250_000);
/// The service key's kvno in the keytab and in the ticket.
pub const KVNO: u32 = 2;
/// The enctypes the initiator offers for the context key.
pub const OFFERED: [i32; 3] = [
    enctype::AES256_CTS_HMAC_SHA384_192,
    enctype::AES256_CTS_HMAC_SHA1_96,
    enctype::AES128_CTS_HMAC_SHA1_96,
];
/// The enctypes that `mic_key` covers, in selector order.
pub const MIC_ENCTYPES: [i32; 6] = [
    enctype::AES128_CTS_HMAC_SHA1_96,
    enctype::AES256_CTS_HMAC_SHA1_96,
    enctype::AES128_CTS_HMAC_SHA256_128,
    enctype::AES256_CTS_HMAC_SHA384_192,
    enctype::CAMELLIA128_CTS_CMAC,
    enctype::CAMELLIA256_CTS_CMAC,
];
/// The message every MIC token of the `gss_mic` target covers: a
/// sequence window, as rpc.gssd verifies one.
pub const MIC_MESSAGE: &[u8] = &[0, 0, 0, 128];

/// Returns a key of `enctype` whose bytes all equal `fill`.
fn fixed_key(enctype: i32, fill: u8) -> Key {
    let length = krb5::crypto::key_length(enctype).expect("a supported enctype");
    Key::new(enctype, vec![fill; length]).expect("a key of the enctype's length")
}

pub fn service() -> Principal {
    Principal::host_service("nfs", "server.fuzz.test", "FUZZ.TEST")
}

pub fn client() -> Principal {
    Principal::parse("alice@FUZZ.TEST", None).expect("a valid principal")
}

pub fn service_key() -> Key {
    fixed_key(enctype::AES256_CTS_HMAC_SHA1_96, 0x5e)
}

pub fn session_key() -> Key {
    fixed_key(enctype::AES256_CTS_HMAC_SHA1_96, 0x3c)
}

/// Returns the acceptor's keytab: the service key only.
pub fn keytab() -> Keytab {
    let mut keytab = Keytab::new();
    keytab.add_entry(KeytabEntry {
        principal: service(),
        timestamp: 0,
        kvno: KVNO,
        key: service_key(),
    });
    keytab
}

/// Returns the acceptor's settings: any principal in the keytab, every
/// enctype, and MIT's default clock skew of 300 seconds.
pub fn acceptor_options() -> AcceptorOptions<'static> {
    AcceptorOptions {
        acceptor_name: None,
        enctypes: &[],
        clockskew: 300,
        now: NOW,
        channel_bindings: None,
        acceptor_subkey: true,
    }
}

/// Returns the client's service ticket, valid from a minute before `NOW` to
/// an hour after it, as a KDC would issue it under the service key.
pub fn credential() -> Credential {
    let mut spec = TicketSpec::new(client(), service(), NOW.0);
    spec.session_key = session_key();
    spec.kvno = KVNO;
    spec.mint(&service_key())
}

/// Starts an initiator context at `NOW` with `flags` and returns its step.
pub fn init(credential: &Credential, flags: u32) -> InitStep {
    let options = InitiatorOptions {
        flags,
        enctypes: &OFFERED,
        now: NOW,
        channel_bindings: None,
    };
    init_sec_context(credential, &options).expect("a valid credential")
}

/// Returns an initiator context that waits for the acceptor's AP-REP.
pub fn pending(credential: &Credential) -> Box<PendingContext> {
    match init(credential, krb5::gss::initiator::RPCSEC_GSS_FLAGS) {
        InitStep::ContinueNeeded(pending, _) => pending,
        InitStep::Complete(..) => unreachable!("mutual authentication needs an AP-REP"),
    }
}

/// Returns the key and expected token flags that a `gss_mic` input's first
/// byte selects: bits 0-2 pick the enctype, bit 3 the acceptor-subkey flag and
/// bit 4 the direction.
pub fn mic_key(selector: u8) -> (Key, u8) {
    let enctype = MIC_ENCTYPES[usize::from(selector & 7) % MIC_ENCTYPES.len()];
    let mut flags = 0;
    if selector & 8 != 0 {
        flags |= token_flags::ACCEPTOR_SUBKEY;
    }
    if selector & 16 != 0 {
        flags |= token_flags::SENT_BY_ACCEPTOR;
    }
    (fixed_key(enctype, 0xa5 ^ (selector & 7)), flags)
}
