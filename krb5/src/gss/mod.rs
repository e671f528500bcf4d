//! The GSS-API krb5 mechanism (RFC 1964, RFC 4121) as the NFS daemons need it.

pub mod acceptor;
pub mod checksum;
pub mod context;
pub mod initiator;
pub mod lucid;
pub mod mic;
pub mod replay;
#[cfg(feature = "legacy-enctypes")]
pub mod rfc1964;
pub mod sequence;
pub mod status;
pub mod token;
pub mod wrap;

#[cfg(test)]
mod tests;
