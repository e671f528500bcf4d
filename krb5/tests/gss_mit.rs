//! Live interoperability of our GSS-API krb5 mechanism with MIT's
//! libgssapi_krb5, through the C peer `gss_peer/peer.c` and an MIT KDC
//! started by `testkdc`, for every strong enctype in both directions, with
//! and without mutual authentication.
//!
//! Each test compares the two ends of one context. MIT's lucid v1 export
//! must match our context and its lucid v2 export in the base key, its
//! enctype, the acceptor-subkey choice, the sequence numbers and the end
//! time. A MIC token is then checked in each direction.

mod gss_peer;

use gss_peer::Library;
use krb5::gss::context::EstablishedContext;
use krb5::iana::enctype;

/// Our initiator against MIT's acceptor. Returns our context.
async fn our_initiator(
    enctype: i32,
    mutual: bool,
    offered: &[i32],
    libdefaults: &[&str],
) -> EstablishedContext {
    gss_peer::our_initiator(Library::Mit, enctype, mutual, offered, libdefaults).await
}

/// MIT's initiator (after MIT's kinit) against our acceptor. Returns our context.
fn mit_initiator(
    enctype: i32,
    mutual: bool,
    allowed: &[i32],
    libdefaults: &[&str],
) -> EstablishedContext {
    gss_peer::peer_initiator(Library::Mit, enctype, mutual, allowed, libdefaults)
}

macro_rules! interop_tests {
    ($($name:ident: $enctype:expr;)*) => {
        mod ours_to_mit_mutual {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let context = our_initiator($enctype, true, &[], &[]).await;
                    assert!(context.acceptor_subkey, "MIT asserted no acceptor subkey");
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod ours_to_mit_no_mutual {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let context = our_initiator($enctype, false, &[], &[]).await;
                    assert!(!context.acceptor_subkey);
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod mit_to_ours_mutual {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let context = mit_initiator($enctype, true, &[], &[]);
                    assert!(context.acceptor_subkey);
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod mit_to_ours_no_mutual {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let context = mit_initiator($enctype, false, &[], &[]);
                    assert!(!context.acceptor_subkey, "acceptor subkey without an AP-REP");
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }
    };
}

interop_tests! {
    aes128_sha1: enctype::AES128_CTS_HMAC_SHA1_96;
    aes256_sha1: enctype::AES256_CTS_HMAC_SHA1_96;
    aes128_sha2: enctype::AES128_CTS_HMAC_SHA256_128;
    aes256_sha2: enctype::AES256_CTS_HMAC_SHA384_192;
    camellia128: enctype::CAMELLIA128_CTS_CMAC;
    camellia256: enctype::CAMELLIA256_CTS_CMAC;
}

/// Our RFC 4537 offer, most preferred first, with an aes256-cts-hmac-sha1-96
/// session key.
const OFFERED: [i32; 4] = [
    enctype::AES256_CTS_HMAC_SHA384_192,
    enctype::AES128_CTS_HMAC_SHA256_128,
    enctype::AES256_CTS_HMAC_SHA1_96,
    enctype::AES128_CTS_HMAC_SHA1_96,
];

/// MIT's acceptor (krb5 1.20, rd_req_dec.c) picks the first enctype of its
/// own `permitted_enctypes` that the initiator offered, not the initiator's
/// first. Its default list starts with aes256-cts-hmac-sha1-96, so it keeps
/// the session key's enctype for its subkey.
#[tokio::test]
async fn ours_to_mit_negotiation_default_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = our_initiator(session, true, &OFFERED, &[]).await;
    assert!(context.acceptor_subkey);
    assert_eq!(context.key.enctype(), session);
}

/// With `permitted_enctypes` preferring the SHA-2 enctypes, MIT's acceptor
/// upgrades the context key to aes256-cts-hmac-sha384-192 and our initiator
/// takes that subkey.
#[tokio::test]
async fn ours_to_mit_negotiation_upgrade() {
    let permitted = "permitted_enctypes = aes256-cts-hmac-sha384-192 \
                     aes128-cts-hmac-sha256-128 aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96";
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = our_initiator(session, true, &OFFERED, &[permitted]).await;
    assert!(context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
}

/// MIT's initiator offers its `default_tgs_enctypes` (here
/// aes256-cts-hmac-sha384-192, then aes256-cts-hmac-sha1-96) while the
/// realm's keys, and so the session key, are aes256-cts-hmac-sha1-96.
const MIT_OFFER: &str = "default_tgs_enctypes = aes256-cts-hmac-sha384-192 aes256-cts-hmac-sha1-96";

/// Like MIT's acceptor, ours picks by its own preference order among the
/// offered enctypes, so rpc.svcgssd's enctype list decides.
#[test]
fn mit_to_ours_negotiation_acceptor_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let upgrade = enctype::AES256_CTS_HMAC_SHA384_192;

    let context = mit_initiator(session, true, &[session, upgrade], &[MIT_OFFER]);
    assert_eq!(context.key.enctype(), session);

    let context = mit_initiator(session, true, &[upgrade, session], &[MIT_OFFER]);
    assert_eq!(context.key.enctype(), upgrade);
}

/// With no enctype list, our acceptor takes the initiator's first offer.
#[test]
fn mit_to_ours_negotiation_initiator_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = mit_initiator(session, true, &[], &[MIT_OFFER]);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
}
