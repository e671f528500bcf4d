//! The GSS-API krb5 mechanism (RFC 1964, RFC 4121) as the NFS daemons need it.

pub mod lucid;
