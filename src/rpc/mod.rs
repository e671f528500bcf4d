//! The RPCSEC_GSS context-creation exchange (RFC 2203 §5.2) that rpc.gssd runs
//! against the NFS server before it hands a context to the kernel.

pub mod gss_init;
pub mod rpcbind;
pub mod transport;
