//! Mapping an authenticated principal to a local uid, gid and supplementary
//! groups, for the server's context records.
//!
//! [`IdmapdMapper`] maps as rpc.svcgssd does through libnfsidmap, configured
//! by idmapd.conf, with accounts from the passwd and group files.

pub mod hostdomain;
pub mod idmapd;
pub mod passwd;

pub use idmapd::{AccountSource, IdmapdMapper, Method};

pub use crate::kernel::rpcsec::Identity;
use krb5::Principal;

/// Errors that fail the context instead of mapping it to the anonymous ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdmapError {
    #[error("cannot read the account databases: {0}")]
    Accounts(String),
    #[error("identity mapping of {principal} failed: {reason}")]
    Failed { principal: String, reason: String },
}

/// A principal-to-identity mapping. A principal that maps to no local user
/// gets [`Identity::unmapped`], which the kernel turns into the export's
/// anonymous ids. An error instead fails the context with GSS_S_BAD_NAME.
pub trait IdentityMapper: Send + Sync {
    fn map(&self, principal: &Principal) -> Result<Identity, IdmapError>;
}
