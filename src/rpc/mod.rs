//! ONC RPC: the RPCSEC_GSS context-creation exchange (RFC 2203 §5.2) that
//! rpc.gssd runs against the NFS server before it hands a context to the
//! kernel, and the XDR primitives that it and the gss-proxy server share.

pub mod gss_init;
pub mod record;
pub mod rpcbind;
pub mod server;
pub mod transport;
pub mod xdr;
