//! Kerberos 5 for rgssd, with no C library at run time.
//!
//! The crate is split by concept:
//! - `iana`: assigned numbers (enctypes, checksum types, key usages, error codes);
//! - `crypto`: the RFC 3961 framework and one module per enctype family;
//! - `principal`: principal names and their MIT string form;
//! - `codec`: the byte cursor shared by the binary file formats;
//! - `messages`: RFC 4120 messages on top of `rasn-kerberos`;
//! - `keytab` and `ccache`: MIT's on-disk formats and the other cache types;
//! - `config`: the krb5.conf file and its lookups;
//! - `kdc`: the asynchronous KDC client (AS and TGS exchanges);
//! - `gss`: the GSS-API krb5 mechanism and the kernel's lucid context export;
//! - `testing` (feature `test-support`): service tickets minted without a KDC.
// Only the keyctl(2) wrappers of `ccache::keyring` may use `unsafe`.
#![deny(unsafe_code)]

pub mod ccache;
pub mod codec;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod gss;
pub mod iana;
pub mod kdc;
pub mod keytab;
pub mod locate;
pub mod messages;
pub mod principal;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use principal::Principal;
