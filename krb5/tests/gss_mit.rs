//! Live interoperability of our GSS-API krb5 mechanism with MIT's
//! libgssapi_krb5, through the C peer `gss_peer/peer.c` and an MIT KDC
//! started by `testkdc`, for every strong enctype in both directions: with
//! and without mutual authentication, with and without our acceptor subkey,
//! and with matching, missing and mismatched channel bindings. Each
//! direction and enctype shares one KDC across its contexts.
//!
//! Each established context is checked end to end. MIC tokens and Wrap
//! tokens (sealed and integrity-only, several payload sizes) go both ways,
//! MIT must reject a changed token, and with replay and sequence detection
//! both sides must report replays and reordering. MIT's lucid v1 export
//! must then match our context and its lucid v2 export in the base key, its
//! enctype, the acceptor-subkey choice, the sequence numbers and the end
//! time.

mod gss_peer;

use gss_peer::{Case, Library};
use krb5::gss::checksum::flags;
use krb5::gss::context::EstablishedContext;
use krb5::gss::status::major;
use krb5::iana::enctype;
use testkdc::TestKdc;

const MIT: Library = Library::Mit;

/// Our initiator, offering `offered`, against MIT's acceptor with mutual
/// authentication in a new realm of `enctype`. Returns our context.
async fn our_initiator(enctype: i32, offered: &[i32], libdefaults: &[&str]) -> EstablishedContext {
    gss_peer::our_initiator(MIT, enctype, true, offered, libdefaults).await
}

/// Starts a realm of `enctype` and fills its ccache with MIT's kinit.
fn start_kdc_with_tgt(enctype: i32, libdefaults: &[&str]) -> TestKdc {
    let kdc = gss_peer::start_kdc(enctype, libdefaults);
    gss_peer::mit_kinit(&kdc);
    kdc
}

/// MIT's initiator against our acceptor with mutual authentication and
/// `allowed` enctypes. Returns our context.
fn mit_initiator(kdc: &TestKdc, allowed: &[i32]) -> EstablishedContext {
    let case = Case {
        enctypes: allowed,
        ..Case::default()
    };
    gss_peer::peer_initiator_with(MIT, kdc, &case)
        .unwrap_or_else(|r| panic!("context rejected: {r:?}"))
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
    let context = our_initiator(session, &OFFERED, &[]).await;
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
    let context = our_initiator(session, &OFFERED, &[permitted]).await;
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

    let kdc = start_kdc_with_tgt(session, &[MIT_OFFER]);
    let context = mit_initiator(&kdc, &[session, upgrade]);
    assert_eq!(context.key.enctype(), session);

    let context = mit_initiator(&kdc, &[upgrade, session]);
    assert_eq!(context.key.enctype(), upgrade);
}

/// With no enctype list, our acceptor takes the initiator's first offer.
#[test]
fn mit_to_ours_negotiation_initiator_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let kdc = start_kdc_with_tgt(session, &[MIT_OFFER]);
    let context = mit_initiator(&kdc, &[]);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
}

/// Our initiator against MIT's acceptor in one realm of `enctype`, for
/// every case that needs no special krb5.conf:
///
/// * mutual authentication, where MIT's acceptor always asserts a subkey;
/// * no mutual authentication, with and without replay and sequence
///   detection;
/// * matching channel bindings, with replay and sequence detection;
/// * no bindings from us while MIT has some, which MIT 1.20 accepts;
/// * mismatched bindings with and without mutual authentication, which MIT
///   rejects with GSS_S_BAD_BINDINGS.
async fn ours_to_mit(enctype: i32) {
    let kdc = gss_peer::start_kdc(enctype, &[]);
    let ticket = gss_peer::our_service_ticket(&kdc).await;
    assert_eq!(ticket.session_key.enctype(), enctype);

    let context = gss_peer::our_initiator_with(MIT, &kdc, &ticket, &Case::default()).unwrap();
    assert!(context.acceptor_subkey, "MIT asserted no acceptor subkey");
    assert_eq!(context.key.enctype(), enctype);

    let no_mutual = Case {
        mutual: false,
        ..Case::default()
    };
    let context = gss_peer::our_initiator_with(MIT, &kdc, &ticket, &no_mutual).unwrap();
    assert!(!context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype);

    let sequenced = Case {
        sequence: true,
        ..no_mutual
    };
    gss_peer::our_initiator_with(MIT, &kdc, &ticket, &sequenced).unwrap();

    let bindings = gss_peer::loopback_bindings(b"rgssd interop");
    let other = gss_peer::loopback_bindings(b"another channel");
    let bound = Case {
        initiator_bindings: Some(&bindings),
        acceptor_bindings: Some(&bindings),
        sequence: true,
        ..Case::default()
    };
    gss_peer::our_initiator_with(MIT, &kdc, &ticket, &bound).unwrap();

    let unbound = Case {
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    gss_peer::our_initiator_with(MIT, &kdc, &ticket, &unbound)
        .unwrap_or_else(|r| panic!("MIT rejects an initiator without bindings: {r:?}"));

    for mutual in [true, false] {
        let mismatched = Case {
            mutual,
            initiator_bindings: Some(&other),
            acceptor_bindings: Some(&bindings),
            ..Case::default()
        };
        let rejection = gss_peer::our_initiator_with(MIT, &kdc, &ticket, &mismatched).unwrap_err();
        assert!(
            rejection.peer_line.contains("major 0x00040000"),
            "MIT's error for mismatched bindings (mutual {mutual}): {}",
            rejection.peer_line
        );
        // With mutual authentication MIT replies with a KRB-ERROR, which
        // our initiator reports.
        if mutual {
            let ours = rejection.ours.expect("our initiator accepted a KRB-ERROR");
            assert!(ours.message.contains("rejected the AP-REQ"), "{ours}");
        }
    }
}

/// MIT's initiator against our acceptor in one realm of `enctype`, for
/// every case that needs no special krb5.conf:
///
/// * mutual authentication with and without our acceptor subkey;
/// * no mutual authentication, with and without replay and sequence
///   detection;
/// * matching channel bindings, with replay and sequence detection;
/// * no bindings from MIT while we have some, which we accept as MIT does;
/// * mismatched bindings, which we reject with GSS_S_BAD_BINDINGS.
fn mit_to_ours(enctype: i32) {
    let kdc = start_kdc_with_tgt(enctype, &[]);

    let context = gss_peer::peer_initiator_with(MIT, &kdc, &Case::default()).unwrap();
    assert!(context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype);

    let no_subkey = Case {
        acceptor_subkey: false,
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(MIT, &kdc, &no_subkey).unwrap();
    assert!(!context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype);

    let no_mutual = Case {
        mutual: false,
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(MIT, &kdc, &no_mutual).unwrap();
    assert!(
        !context.acceptor_subkey,
        "acceptor subkey without an AP-REP"
    );
    assert_eq!(context.key.enctype(), enctype);

    let sequenced = Case {
        sequence: true,
        ..no_mutual
    };
    gss_peer::peer_initiator_with(MIT, &kdc, &sequenced).unwrap();

    let bindings = gss_peer::loopback_bindings(b"rgssd interop");
    let other = gss_peer::loopback_bindings(b"another channel");
    let bound = Case {
        initiator_bindings: Some(&bindings),
        acceptor_bindings: Some(&bindings),
        sequence: true,
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(MIT, &kdc, &bound).unwrap();
    assert_ne!(
        context.flags & flags::CHANNEL_BOUND,
        0,
        "channel-bound flag"
    );

    let unbound = Case {
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(MIT, &kdc, &unbound).unwrap();
    assert_eq!(
        context.flags & flags::CHANNEL_BOUND,
        0,
        "channel-bound flag"
    );

    let mismatched = Case {
        initiator_bindings: Some(&other),
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    let rejection = gss_peer::peer_initiator_with(MIT, &kdc, &mismatched).unwrap_err();
    let ours = rejection.ours.expect("our acceptor's error");
    assert_eq!(ours.major, major::BAD_BINDINGS, "{ours}");
    // MIT's initiator reports our KRB-ERROR (KRB_ERR_GENERIC).
    assert!(
        rejection
            .peer_line
            .contains("gss_init_sec_context (reply) failed"),
        "{}",
        rejection.peer_line
    );
}

macro_rules! interop_tests {
    ($($name:ident: $enctype:expr;)*) => {
        mod ours_to_mit {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    ours_to_mit($enctype).await;
                }
            )*
        }

        mod mit_to_ours {
            use super::*;
            $(
                #[test]
                fn $name() {
                    mit_to_ours($enctype);
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
