//! Live interoperability of our GSS-API krb5 mechanism with Heimdal's
//! libgssapi, through the C peer `gss_peer/peer.c` built against Heimdal and
//! an MIT KDC started by `testkdc`, in both directions. The contexts are
//! made with and without mutual authentication, with and without our
//! acceptor subkey, with replay and sequence detection, and with matching,
//! missing and mismatched channel bindings. Each established context
//! exchanges MIC tokens and Wrap tokens (sealed and integrity-only, several
//! payload sizes) each way, Heimdal must reject a changed token, and with
//! replay and sequence detection both sides must report replays and
//! reordering. Heimdal's lucid v1 export must then match our context and
//! our lucid v2 export.
//!
//! Facts observed with Heimdal 7.8 as Debian 12 ships it (package version
//! 7.8.git20221117.28daf24+dfsg-2, libgssapi.so.3 and libkrb5.so.26, built
//! against through heimdal-multidev beside MIT's libkrb5-dev):
//!
//! - It implements aes128-cts-hmac-sha1-96 (17), aes256-cts-hmac-sha1-96
//!   (18), aes128-cts-hmac-sha256-128 (19) and aes256-cts-hmac-sha384-192
//!   (20), but not camellia128-cts-cmac (25) or camellia256-cts-cmac (26).
//!   Its initiator and acceptor both fail with "encryption type 25 not
//!   supported" in a Camellia realm that MIT's libraries and ours handle.
//! - It reads MIT's FILE ccache, KRB5_CONFIG and KRB5_KTNAME, but not MIT's
//!   enctype relations such as `default_tgs_enctypes`. Its own are
//!   `default_etypes` and, for TGS requests, `default_tgs_etypes`
//!   (lib/krb5/context.c). Without them its order is 18 17 20 19 16 23.
//! - Its initiator sends an RFC 4537 AD-ETYPE-NEGOTIATION list, which is
//!   its `default_etypes`, inside AD-IF-RELEVANT.
//! - Its acceptor takes the first enctype in the initiator's list that it
//!   implements, so the initiator's order decides, and its own
//!   `permitted_enctypes` and `default_etypes` do not limit the choice.
//!   MIT's acceptor takes the first of its own `permitted_enctypes` that was
//!   offered.
//! - Without mutual authentication, and without replay or sequence
//!   detection, its acceptor starts its sequence numbers at 0. Without
//!   mutual authentication its initiator exports recv_seq 0, with or
//!   without those checks, because no AP-REP carries the acceptor's number.
//!   MIT continues from the initiator's number. The
//!   MIC and Wrap tokens still verify both ways, because without replay or
//!   sequence detection neither side checks the number.
//! - With replay and sequence detection but no mutual authentication, its
//!   acceptor continues from the initiator's number as MIT's does. Its
//!   initiator still expects 0, so it reports GSS_S_GAP_TOKEN for the first
//!   token of our acceptor, and then accepts the following tokens in order.
//! - Its Wrap tokens set RRC (RFC 4121 4.2.5) to the length of what follows
//!   the data, so the receiver must rotate them back. That is the checksum
//!   length for integrity-only tokens, and 16 plus the HMAC length for
//!   sealed ones. MIT 1.20 sends RRC 0. EC is the same as MIT's: 0 when
//!   sealed and the checksum length when not.
//! - Its acceptor rejects mismatched channel bindings with
//!   GSS_S_BAD_BINDINGS and, unlike MIT's, sends no KRB-ERROR token even
//!   with mutual authentication. Like MIT 1.20 it accepts an initiator
//!   that sent no bindings. Its headers lack GSS_C_CHANNEL_BOUND_FLAG, and
//!   its acceptor does not set that bit when the bindings match.
//! - Its gss_krb5_export_lucid_sec_context fills MIT's v1 struct, with the
//!   same field names, so one peer source reads both.

mod gss_peer;

use gss_peer::{start_kdc, Case, Library, Peer, TARGET};
use krb5::gss::checksum::flags;
use krb5::gss::initiator::{ad_type, init_sec_context, InitStep, InitiatorOptions};
use krb5::gss::status::major;
use krb5::gss::token;
use krb5::iana::{enctype, key_usage};
use krb5::keytab::Keytab;
use krb5::messages::{self, convert};
use rasn_kerberos::AuthorizationDataValue;

const HEIMDAL: Library = Library::Heimdal;

/// Returns the `[libdefaults]` line that makes Heimdal request and offer only
/// `enctype`, as `start_kdc`'s MIT relations do for MIT.
fn default_etypes_line(enctype: i32) -> String {
    format!("default_etypes = {}", gss_peer::enctype_name(enctype))
}

/// Our initiator against Heimdal's acceptor in one realm of `enctype`, with
/// the options beyond mutual authentication:
///
/// * no mutual authentication, with replay and sequence detection;
/// * matching channel bindings, with replay and sequence detection, where
///   Heimdal 7.8 reports no GSS_C_CHANNEL_BOUND_FLAG;
/// * no bindings from us while Heimdal has some, which it accepts as MIT
///   1.20 does;
/// * bindings from us while Heimdal has none, which it ignores;
/// * mismatched bindings with and without mutual authentication, which
///   Heimdal rejects with GSS_S_BAD_BINDINGS and, unlike MIT, no KRB-ERROR.
async fn ours_to_heimdal_options(enctype: i32) {
    let kdc = start_kdc(enctype, &[&default_etypes_line(enctype)]);
    let ticket = gss_peer::our_service_ticket(&kdc).await;
    assert_eq!(ticket.session_key.enctype(), enctype);

    let sequenced = Case {
        mutual: false,
        sequence: true,
        ..Case::default()
    };
    let context = gss_peer::our_initiator_with(HEIMDAL, &kdc, &ticket, &sequenced).unwrap();
    assert_eq!(context.key.enctype(), enctype);

    let bindings = gss_peer::loopback_bindings(b"rgssd interop");
    let other = gss_peer::loopback_bindings(b"another channel");
    let bound = Case {
        initiator_bindings: Some(&bindings),
        acceptor_bindings: Some(&bindings),
        sequence: true,
        ..Case::default()
    };
    gss_peer::our_initiator_with(HEIMDAL, &kdc, &ticket, &bound).unwrap();

    let acceptor_only = Case {
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    gss_peer::our_initiator_with(HEIMDAL, &kdc, &ticket, &acceptor_only)
        .unwrap_or_else(|r| panic!("Heimdal rejects an initiator without bindings: {r:?}"));

    let initiator_only = Case {
        initiator_bindings: Some(&bindings),
        ..Case::default()
    };
    gss_peer::our_initiator_with(HEIMDAL, &kdc, &ticket, &initiator_only)
        .unwrap_or_else(|r| panic!("Heimdal rejects bindings it was not given: {r:?}"));

    for mutual in [true, false] {
        let mismatched = Case {
            mutual,
            initiator_bindings: Some(&other),
            acceptor_bindings: Some(&bindings),
            ..Case::default()
        };
        let rejection =
            gss_peer::our_initiator_with(HEIMDAL, &kdc, &ticket, &mismatched).unwrap_err();
        assert!(
            rejection
                .peer_line
                .starts_with("error gss_accept_sec_context failed: major 0x00040000"),
            "Heimdal's error for mismatched bindings (mutual {mutual}): {}",
            rejection.peer_line
        );
        assert!(
            rejection.ours.is_none(),
            "Heimdal sent a reply token for mismatched bindings (mutual {mutual})"
        );
    }
}

/// Heimdal's initiator against our acceptor in one realm of `enctype`, with
/// the options beyond mutual authentication:
///
/// * mutual authentication without our acceptor subkey;
/// * no mutual authentication, with replay and sequence detection;
/// * matching channel bindings, with replay and sequence detection;
/// * no bindings from Heimdal while we have some, which we accept;
/// * bindings from Heimdal while we have none, which we ignore;
/// * mismatched bindings, which we reject with GSS_S_BAD_BINDINGS.
fn heimdal_to_ours_options(enctype: i32) {
    let kdc = start_kdc(enctype, &[&default_etypes_line(enctype)]);
    gss_peer::mit_kinit(&kdc);

    let no_subkey = Case {
        acceptor_subkey: false,
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(HEIMDAL, &kdc, &no_subkey).unwrap();
    assert!(!context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype);

    let sequenced = Case {
        mutual: false,
        sequence: true,
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(HEIMDAL, &kdc, &sequenced).unwrap();
    assert_eq!(context.key.enctype(), enctype);

    let bindings = gss_peer::loopback_bindings(b"rgssd interop");
    let other = gss_peer::loopback_bindings(b"another channel");
    let bound = Case {
        initiator_bindings: Some(&bindings),
        acceptor_bindings: Some(&bindings),
        sequence: true,
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(HEIMDAL, &kdc, &bound).unwrap();
    assert_ne!(
        context.flags & flags::CHANNEL_BOUND,
        0,
        "channel-bound flag"
    );

    let acceptor_only = Case {
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(HEIMDAL, &kdc, &acceptor_only).unwrap();
    assert_eq!(
        context.flags & flags::CHANNEL_BOUND,
        0,
        "channel-bound flag without the initiator's bindings"
    );

    let initiator_only = Case {
        initiator_bindings: Some(&bindings),
        ..Case::default()
    };
    let context = gss_peer::peer_initiator_with(HEIMDAL, &kdc, &initiator_only).unwrap();
    assert_eq!(
        context.flags & flags::CHANNEL_BOUND,
        0,
        "channel-bound flag without our bindings"
    );

    let mismatched = Case {
        initiator_bindings: Some(&other),
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    let rejection = gss_peer::peer_initiator_with(HEIMDAL, &kdc, &mismatched).unwrap_err();
    let ours = rejection.ours.expect("our acceptor's error");
    assert_eq!(ours.major, major::BAD_BINDINGS, "{ours}");
    // Heimdal's initiator reports our KRB-ERROR as GSS_S_FAILURE.
    assert!(
        rejection
            .peer_line
            .starts_with("error gss_init_sec_context (reply) failed: major 0x000d0000"),
        "{}",
        rejection.peer_line
    );
}

macro_rules! interop_tests {
    ($($name:ident: $enctype:expr;)*) => {
        mod ours_to_heimdal_options {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    ours_to_heimdal_options($enctype).await;
                }
            )*
        }

        mod heimdal_to_ours_options {
            use super::*;
            $(
                #[test]
                fn $name() {
                    heimdal_to_ours_options($enctype);
                }
            )*
        }

        mod ours_to_heimdal_mutual {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let etypes = default_etypes_line($enctype);
                    let context =
                        gss_peer::our_initiator(HEIMDAL, $enctype, true, &[], &[&etypes]).await;
                    assert!(context.acceptor_subkey, "Heimdal asserted no acceptor subkey");
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod ours_to_heimdal_no_mutual {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let etypes = default_etypes_line($enctype);
                    let context =
                        gss_peer::our_initiator(HEIMDAL, $enctype, false, &[], &[&etypes]).await;
                    assert!(!context.acceptor_subkey);
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod heimdal_to_ours_mutual {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let etypes = default_etypes_line($enctype);
                    let context =
                        gss_peer::peer_initiator(HEIMDAL, $enctype, true, &[], &[&etypes]);
                    assert!(context.acceptor_subkey);
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod heimdal_to_ours_no_mutual {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let etypes = default_etypes_line($enctype);
                    let context =
                        gss_peer::peer_initiator(HEIMDAL, $enctype, false, &[], &[&etypes]);
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
}

/// Makes our initiator's AP-REQ token for `SERVICE`, asking for mutual
/// authentication and offering `offered` through RFC 4537.
async fn our_ap_req(kdc: &testkdc::TestKdc, offered: &[i32]) -> Vec<u8> {
    let ticket = gss_peer::our_service_ticket(kdc).await;
    let options = InitiatorOptions {
        flags: flags::CONF | flags::INTEG | flags::MUTUAL,
        enctypes: offered,
        now: gss_peer::now(),
        channel_bindings: None,
    };
    match init_sec_context(&ticket, &options).unwrap() {
        InitStep::ContinueNeeded(_, token) => token,
        InitStep::Complete(..) => panic!("mutual authentication completed without an AP-REP"),
    }
}

/// Reads the peer's "error" line and checks that the peer then exits with status 1.
fn expect_peer_failure(mut peer: Peer) -> String {
    let error = peer.expect("error");
    assert_eq!(peer.wait_failed(), Some(1), "exit status after {error:?}");
    error
}

macro_rules! unsupported_tests {
    ($($name:ident: $enctype:expr;)*) => {
        /// Heimdal's acceptor rejects a ticket that MIT's KDC issued and our
        /// initiator used, in a realm whose keys all have an enctype Heimdal
        /// lacks.
        mod heimdal_acceptor_lacks {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let kdc = start_kdc($enctype, &[]);
                    let token = our_ap_req(&kdc, &[]).await;
                    let mut peer = Peer::spawn(HEIMDAL, &kdc, &["accept"]);
                    peer.send(&token);

                    let error = expect_peer_failure(peer);
                    assert!(error.starts_with("gss_accept_sec_context failed"), "{error}");
                    let expected = format!("encryption type {} not supported", $enctype);
                    assert!(error.contains(&expected), "{error}");
                }
            )*
        }

        /// Heimdal's initiator cannot use the TGT that MIT's kinit got in a
        /// realm whose keys all have an enctype Heimdal lacks.
        mod heimdal_initiator_lacks {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let kdc = start_kdc($enctype, &[]);
                    gss_peer::mit_kinit(&kdc);
                    let peer = Peer::spawn(HEIMDAL, &kdc, &["init", TARGET]);

                    let error = expect_peer_failure(peer);
                    assert!(error.starts_with("gss_init_sec_context failed"), "{error}");
                    let expected = format!("encryption type {} not supported", $enctype);
                    assert!(error.contains(&expected), "{error}");
                }
            )*
        }
    };
}

unsupported_tests! {
    camellia128: enctype::CAMELLIA128_CTS_CMAC;
    camellia256: enctype::CAMELLIA256_CTS_CMAC;
}

/// Decrypts the ticket and authenticator of an AP-REQ token with the
/// service's keytab and returns the RFC 4537 enctype list, if it has one.
fn offered_enctypes(token: &[u8], keytab: &Keytab) -> Option<Vec<i32>> {
    let (_, body) = token::unwrap_krb5(token).unwrap();
    let ap_req = messages::decode_ap_req(body).unwrap();
    let server = convert::principal(&ap_req.ticket.sname, &ap_req.ticket.realm).unwrap();
    let enc = &ap_req.ticket.enc_part;
    let service_key = &keytab
        .select_key(Some(&server), enc.kvno, enc.etype)
        .unwrap()
        .key;
    let plaintext = service_key
        .decrypt(key_usage::KDC_REP_TICKET, &enc.cipher)
        .unwrap();
    let ticket = messages::decode_enc_ticket_part(&plaintext).unwrap();
    let session_key = convert::key(&ticket.key);
    let plaintext = session_key
        .decrypt(key_usage::AP_REQ_AUTH, &ap_req.authenticator.cipher)
        .unwrap();
    let authenticator = messages::decode_authenticator(&plaintext).unwrap();

    let data = authenticator.authorization_data?;
    let if_relevant = data.iter().find(|e| e.r#type == ad_type::IF_RELEVANT)?;
    let inner: Vec<AuthorizationDataValue> =
        messages::decode(&if_relevant.data, "AD-IF-RELEVANT").unwrap();
    let negotiation = inner
        .iter()
        .find(|e| e.r#type == ad_type::ETYPE_NEGOTIATION)?;
    Some(messages::decode(&negotiation.data, "EtypeList").unwrap())
}

/// Returns the enctype list in Heimdal's first context token, with extra
/// `[libdefaults]` lines, in a realm whose keys are aes256-cts-hmac-sha1-96.
fn heimdal_offer(libdefaults: &[&str]) -> Option<Vec<i32>> {
    let kdc = start_kdc(enctype::AES256_CTS_HMAC_SHA1_96, libdefaults);
    gss_peer::mit_kinit(&kdc);
    let keytab = Keytab::load_path(kdc.keytab(gss_peer::SERVICE).unwrap()).unwrap();
    let mut peer = Peer::spawn(HEIMDAL, &kdc, &["init", TARGET]);
    let token = peer.expect_hex("token");
    // The peer waits for an AP-REP that never comes and exits at the end of its input.
    let _ = peer.wait_failed();
    offered_enctypes(&token, &keytab)
}

/// Heimdal's built-in order, with des3-cbc-sha1 and rc4-hmac last, even
/// though `start_kdc` sets MIT's `default_tgs_enctypes` to one enctype.
#[test]
fn heimdal_offer_default_list() {
    let offer = heimdal_offer(&[]).expect("Heimdal sent no RFC 4537 list");
    assert_eq!(
        offer,
        [
            enctype::AES256_CTS_HMAC_SHA1_96,
            enctype::AES128_CTS_HMAC_SHA1_96,
            enctype::AES256_CTS_HMAC_SHA384_192,
            enctype::AES128_CTS_HMAC_SHA256_128,
            enctype::DES3_CBC_SHA1,
            enctype::RC4_HMAC,
        ]
    );
}

/// Heimdal's `default_etypes` sets its offer.
#[test]
fn heimdal_offer_follows_default_etypes() {
    let offer = heimdal_offer(&[HEIMDAL_OFFER]).expect("Heimdal sent no RFC 4537 list");
    assert_eq!(
        offer,
        [
            enctype::AES256_CTS_HMAC_SHA384_192,
            enctype::AES256_CTS_HMAC_SHA1_96,
        ]
    );
}

/// Heimdal's offer when its `default_etypes` prefers
/// aes256-cts-hmac-sha384-192 while the realm's keys, and so the session
/// key, are aes256-cts-hmac-sha1-96.
const HEIMDAL_OFFER: &str = "default_etypes = aes256-cts-hmac-sha384-192 aes256-cts-hmac-sha1-96";

/// With no enctype list, our acceptor takes Heimdal's first offer:
/// aes256-cts-hmac-sha1-96 by default, here upgrading an
/// aes128-cts-hmac-sha1-96 session key.
#[test]
fn heimdal_to_ours_negotiation_default_offer() {
    let session = enctype::AES128_CTS_HMAC_SHA1_96;
    let context = gss_peer::peer_initiator(HEIMDAL, session, true, &[], &[]);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA1_96);
}

/// With `default_etypes` set, our acceptor takes the first of that list.
#[test]
fn heimdal_to_ours_negotiation_configured_offer() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = gss_peer::peer_initiator(HEIMDAL, session, true, &[], &[HEIMDAL_OFFER]);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
}

/// With an enctype list, as rpc.svcgssd has from the kernel, our acceptor
/// picks by that list's order among Heimdal's default offer.
#[test]
fn heimdal_to_ours_negotiation_acceptor_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let sha2 = enctype::AES256_CTS_HMAC_SHA384_192;
    let aes128 = enctype::AES128_CTS_HMAC_SHA1_96;

    let context = gss_peer::peer_initiator(HEIMDAL, session, true, &[sha2, session], &[]);
    assert_eq!(context.key.enctype(), sha2);

    let context = gss_peer::peer_initiator(HEIMDAL, session, true, &[aes128, sha2], &[]);
    assert_eq!(context.key.enctype(), aes128);
}

/// Heimdal's acceptor takes our first offered enctype, here upgrading an
/// aes256-cts-hmac-sha1-96 session key to aes256-cts-hmac-sha384-192, where
/// MIT's acceptor with its default `permitted_enctypes` keeps the session
/// key's enctype.
#[tokio::test]
async fn ours_to_heimdal_negotiation_upgrade() {
    let offered = [
        enctype::AES256_CTS_HMAC_SHA384_192,
        enctype::AES128_CTS_HMAC_SHA256_128,
        enctype::AES256_CTS_HMAC_SHA1_96,
        enctype::AES128_CTS_HMAC_SHA1_96,
    ];
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = gss_peer::our_initiator(HEIMDAL, session, true, &offered, &[]).await;
    assert!(context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
}

/// Our order decides even when it downgrades: offered aes128-cts-hmac-sha1-96
/// first, Heimdal's acceptor takes it over the aes256-cts-hmac-sha1-96
/// session key's enctype.
#[tokio::test]
async fn ours_to_heimdal_negotiation_downgrade() {
    let offered = [
        enctype::AES128_CTS_HMAC_SHA1_96,
        enctype::AES256_CTS_HMAC_SHA1_96,
    ];
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = gss_peer::our_initiator(HEIMDAL, session, true, &offered, &[]).await;
    assert_eq!(context.key.enctype(), enctype::AES128_CTS_HMAC_SHA1_96);
}

/// Heimdal's acceptor skips offered enctypes it does not implement.
#[tokio::test]
async fn ours_to_heimdal_negotiation_skips_camellia() {
    let offered = [
        enctype::CAMELLIA256_CTS_CMAC,
        enctype::CAMELLIA128_CTS_CMAC,
        enctype::AES128_CTS_HMAC_SHA1_96,
    ];
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = gss_peer::our_initiator(HEIMDAL, session, true, &offered, &[]).await;
    assert_eq!(context.key.enctype(), enctype::AES128_CTS_HMAC_SHA1_96);
}

/// Heimdal's acceptor takes our first offer even where its own
/// `permitted_enctypes` or `default_etypes` leave that enctype out.
#[tokio::test]
async fn ours_to_heimdal_negotiation_ignores_acceptor_lists() {
    let offered = [
        enctype::AES256_CTS_HMAC_SHA384_192,
        enctype::AES256_CTS_HMAC_SHA1_96,
    ];
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let sha1_lists = [
        "permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96",
        "default_etypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96",
    ];
    for line in sha1_lists {
        let context = gss_peer::our_initiator(HEIMDAL, session, true, &offered, &[line]).await;
        assert_eq!(
            context.key.enctype(),
            enctype::AES256_CTS_HMAC_SHA384_192,
            "with {line:?}"
        );
    }
}
