//! The server side of the gss-proxy protocol that the Linux kernel's NFS
//! server speaks over `/var/run/gssproxy.sock` when
//! `/proc/net/rpc/use-gss-proxy` is 1. Unlike the procfs init channel, it
//! carries tokens of any size, so tickets with a large PAC work.

pub mod gssx;
pub mod mode;
pub mod service;
