//! The SPKM-3 stub behind the mechanism interface: every call fails with
//! GSS_S_UNAVAILABLE and a message naming what to use instead.

use krb5::gss::replay::ReplayCache;
use krb5::gss::status::GssError;

use super::{
    major, AcceptOptions, Accepted, AcceptorCredential, InitStep, InitiatorRequest, Mechanism,
    Rejected,
};

/// The SPKM-3 mechanism, which fails cleanly.
#[derive(Debug, Default)]
pub struct Spkm3Mechanism;

fn unavailable() -> GssError {
    GssError::new(major::UNAVAILABLE, 0, spkm3::UNAVAILABLE)
}

impl Mechanism for Spkm3Mechanism {
    fn oid(&self) -> &'static [u8] {
        spkm3::OID
    }

    fn name(&self) -> &'static str {
        spkm3::NAME
    }

    fn init_sec_context(&self, _request: &InitiatorRequest<'_>) -> Result<InitStep, GssError> {
        Err(unavailable())
    }

    fn accept_sec_context(
        &self,
        _credential: &AcceptorCredential,
        _replay_cache: &ReplayCache,
        _options: &AcceptOptions<'_>,
        _input: &[u8],
    ) -> Result<Accepted, Rejected> {
        Err(unavailable().into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use krb5::credentials::Credential;
    use krb5::crypto::Key;
    use krb5::keytab::Keytab;
    use krb5::Principal;

    use super::*;

    fn assert_unsupported(error: &GssError) {
        assert_eq!(major::name(error.major), "GSS_S_UNAVAILABLE", "{error}");
        assert_eq!(error.minor, 0, "{error}");
        assert!(
            error.message.contains("SPKM-3 mechanism is not supported"),
            "{error}"
        );
    }

    #[test]
    fn init_is_unavailable() {
        let principal = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
        let ticket = Credential {
            client: principal.clone(),
            server: principal,
            session_key: Key::random(18).unwrap(),
            authtime: 0,
            starttime: 0,
            endtime: 0,
            renew_till: 0,
            is_skey: false,
            flags: 0,
            addresses: Vec::new(),
            authdata: Vec::new(),
            ticket: Vec::new(),
            second_ticket: Vec::new(),
        };
        let request = InitiatorRequest {
            ticket: &ticket,
            flags: 0,
            enctypes: &[],
            now: (0, 0),
        };
        let Err(error) = Spkm3Mechanism.init_sec_context(&request) else {
            panic!("SPKM-3 started a context");
        };
        assert_unsupported(&error);
    }

    #[test]
    fn accept_is_unavailable() {
        let credential = AcceptorCredential {
            keytab: Arc::new(Keytab::new()),
            principal: None,
        };
        let options = AcceptOptions {
            enctypes: &[],
            clockskew: 300,
            now: (0, 0),
        };
        let framed = krb5::gss::token::wrap(spkm3::OID, [1, 0], b"REQ-TOKEN");
        for token in [framed.as_slice(), b"", b"\x60\x00"] {
            let Err(rejected) = Spkm3Mechanism.accept_sec_context(
                &credential,
                &ReplayCache::new(),
                &options,
                token,
            ) else {
                panic!("SPKM-3 accepted {token:02x?}");
            };
            assert_unsupported(&rejected.error);
            assert!(rejected.output_token.is_none());
        }
    }
}
