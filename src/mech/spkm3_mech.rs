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
