//! Codecs for the kernel interfaces: rpc_pipefs upcalls, downcalls and `info`
//! files on the client side, and the procfs cache channels on the server side.
//!
//! Each module is a pure codec (bytes in, typed value out, and back), so that
//! the daemons' I/O code never formats or parses kernel records itself.
//! Integers that cross rpc_pipefs in binary form are in host byte order.

pub mod downcall;
pub mod info;
pub mod qword;
pub mod rpcsec;
pub mod upcall;
