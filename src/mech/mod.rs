//! The one mechanism interface that both daemons call, and the mechanisms
//! behind it: the native krb5 mechanism and the SPKM-3 stub.
//!
//! A flow picks the implementation by the upcall's `mech=` value or pipe
//! name ([`by_name`]), or by the OID in a token's framing ([`by_oid`]).

mod krb5_mech;
mod spkm3_mech;

use std::sync::Arc;

use krb5::credentials::Credential;
use krb5::gss::status::GssError;
use krb5::keytab::Keytab;
use krb5::Principal;
use zeroize::Zeroizing;

pub use krb5::gss::status::major;

pub use krb5_mech::Krb5Mechanism;
pub use spkm3_mech::Spkm3Mechanism;

/// The inputs of an initiator's first step.
#[derive(Debug, Clone)]
pub struct InitiatorRequest<'a> {
    /// The service ticket for the target, obtained by the caller. The krb5
    /// mechanism needs it; SPKM-3 fails before looking at it.
    pub ticket: &'a Credential,
    /// Requested context flags (RFC 2744 values).
    pub flags: u32,
    /// Enctypes acceptable for the context key, in preference order.
    pub enctypes: &'a [i32],
    /// The current time, seconds and microseconds since the epoch.
    pub now: (i64, u32),
}

/// An initiator context that waits for the acceptor's reply token.
pub trait PendingContext: Send {
    /// Feeds the acceptor's token and returns the complete context.
    fn complete(self: Box<Self>, reply: &[u8]) -> Result<Box<dyn SecurityContext>, GssError>;
}

/// The result of starting a context.
pub enum InitStep {
    /// Send the token, then pass the reply to the pending context.
    ContinueNeeded(Box<dyn PendingContext>, Vec<u8>),
    /// The context is complete; send the token.
    Complete(Box<dyn SecurityContext>, Vec<u8>),
}

/// An established context, as the kernel interfaces need it.
pub trait SecurityContext: Send + std::fmt::Debug {
    /// Exports the context in the format the kernel imports.
    fn export(&self) -> Result<Zeroizing<Vec<u8>>, GssError>;
    /// Returns the context's end time, seconds since the epoch.
    fn endtime(&self) -> u32;
    /// Returns the context flags both sides agreed on (RFC 2744 values).
    fn flags(&self) -> u32;
    /// Returns the initiator's name.
    fn initiator_name(&self) -> &Principal;
    /// Returns the acceptor's name.
    fn acceptor_name(&self) -> &Principal;
    /// Verifies the peer's MIC token over `message`.
    fn verify_mic(&self, message: &[u8], token: &[u8]) -> Result<(), GssError>;
}

/// The acceptor's credentials: keys and which principal may be accepted.
#[derive(Debug, Clone)]
pub struct AcceptorCredential {
    pub keytab: Arc<Keytab>,
    /// The only principal to accept, or `None` for any in the keytab.
    pub principal: Option<Principal>,
}

/// The acceptor's settings for one call.
#[derive(Debug, Clone)]
pub struct AcceptOptions<'a> {
    /// Enctypes allowed for the context key, in preference order; empty allows all.
    pub enctypes: &'a [i32],
    /// The allowed clock difference in seconds.
    pub clockskew: i64,
    /// The current time, seconds and microseconds since the epoch.
    pub now: (i64, u32),
}

/// An accepted context and the token to return.
#[derive(Debug)]
pub struct Accepted {
    pub context: Box<dyn SecurityContext>,
    pub output_token: Vec<u8>,
}

/// A rejected token: the status, and an error token where the mechanism
/// sends one. Every mechanism reports rejections the way the krb5 acceptor does.
pub use krb5::gss::acceptor::Rejected;

/// A GSS-API mechanism.
pub trait Mechanism: Send + Sync + std::fmt::Debug {
    /// Returns the DER content bytes of the mechanism's OID.
    fn oid(&self) -> &'static [u8];
    /// Returns the kernel's name: the `mech=` value, the pipe name and the context
    /// channel's mechanism field.
    fn name(&self) -> &'static str;
    /// Starts a context as initiator.
    fn init_sec_context(&self, request: &InitiatorRequest<'_>) -> Result<InitStep, GssError>;
    /// Accepts a context-establishment token.
    fn accept_sec_context(
        &self,
        credential: &AcceptorCredential,
        replay_cache: &krb5::gss::replay::ReplayCache,
        options: &AcceptOptions<'_>,
        input: &[u8],
    ) -> Result<Accepted, Rejected>;
}

/// Returns the current time as the mechanism options take it: seconds and
/// microseconds since the epoch.
pub fn now() -> (i64, u32) {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (
        i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
        elapsed.subsec_micros(),
    )
}

static KRB5: Krb5Mechanism = Krb5Mechanism;
static SPKM3: Spkm3Mechanism = Spkm3Mechanism;

/// Returns every mechanism rgssd implements, krb5 first.
pub fn all() -> [&'static dyn Mechanism; 2] {
    [&KRB5, &SPKM3]
}

/// Finds a mechanism by its kernel name (`krb5`, `spkm3`).
pub fn by_name(name: &str) -> Option<&'static dyn Mechanism> {
    all().into_iter().find(|m| m.name() == name)
}

/// Finds a mechanism by OID content bytes.
pub fn by_oid(oid: &[u8]) -> Option<&'static dyn Mechanism> {
    all().into_iter().find(|m| m.oid() == oid)
}

/// Finds the mechanism of a framed initial token (RFC 2743 §3.1).
pub fn for_token(token: &[u8]) -> Result<&'static dyn Mechanism, GssError> {
    let framed = krb5::gss::token::unwrap_any(token)
        .map_err(|e| GssError::new(major::DEFECTIVE_TOKEN, 0, e.to_string()))?;
    by_oid(framed.oid).ok_or_else(|| {
        GssError::new(
            major::BAD_MECH,
            0,
            format!(
                "the token names mechanism {}, which rgssd does not implement",
                krb5::gss::token::oid_to_string(framed.oid)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_name_and_oid() {
        assert_eq!(by_name("krb5").unwrap().oid(), krb5::gss::token::KRB5_OID);
        assert_eq!(by_name("spkm3").unwrap().oid(), spkm3::OID);
        assert!(by_name("lipkey").is_none());
        assert_eq!(by_oid(spkm3::OID).unwrap().name(), "spkm3");
    }

    #[test]
    fn token_framing_selects_mechanism() {
        let token = krb5::gss::token::wrap(spkm3::OID, [1, 0], b"x");
        assert_eq!(for_token(&token).unwrap().name(), "spkm3");
        let unknown = krb5::gss::token::wrap(&[0x2b, 0x06, 0x01], [1, 0], b"x");
        assert_eq!(for_token(&unknown).unwrap_err().major, major::BAD_MECH);
        assert_eq!(
            for_token(b"junk").unwrap_err().major,
            major::DEFECTIVE_TOKEN
        );
    }
}
