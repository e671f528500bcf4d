//! Live interoperability of our RFC 1964 MIC and Wrap tokens for
//! des3-cbc-sha1 (16) and rc4-hmac (23) with MIT's libgssapi_krb5, through
//! the C peer `gss_peer/peer.c` and an MIT KDC started by `testkdc` whose
//! keys all have the legacy enctype.
//!
//! MIT's initiator establishes a context with our acceptor, and our
//! initiator with MIT's acceptor. On each context MIC tokens
//! and Wrap tokens (sealed and integrity-only, several payload sizes) go both
//! ways, MIT must reject a changed token, and MIT's lucid export must report
//! an RFC 1964 context with our key.
#![cfg(feature = "legacy-enctypes")]

mod gss_peer;

use gss_peer::{
    enctype_name, mit_kinit, now, our_service_ticket, Library, Peer, REALM, SERVICE, TARGET,
};
use krb5::gss::acceptor::{accept_sec_context, AcceptorOptions};
use krb5::gss::checksum::flags;
use krb5::gss::context::EstablishedContext;
use krb5::gss::initiator::{init_sec_context, InitStep, InitiatorOptions};
use krb5::gss::replay::ReplayCache;
use krb5::gss::status::major;
use krb5::gss::token;
use krb5::iana::enctype;
use krb5::keytab::Keytab;
use krb5::Principal;
use testkdc::TestKdc;

/// Starts a realm whose keys, and so whose session keys, have `enctype`,
/// and fills the ccache with MIT's kinit. Debian 12's MIT krb5 1.20.1
/// (1.20.1-2+deb12u5) needs `allow_des3` and `allow_rc4`, which came with
/// MIT krb5 1.21, to issue these session keys: with `allow_weak_crypto`
/// alone its KDC rejects the AS-REQ with KDC_ERR_ETYPE_NOSUPP.
fn start_kdc(enctype: i32) -> TestKdc {
    let permitted = format!("permitted_enctypes = {}", enctype_name(enctype));
    let kdc = gss_peer::start_kdc(
        enctype,
        &[
            "allow_weak_crypto = true",
            "allow_des3 = true",
            "allow_rc4 = true",
            &permitted,
        ],
    );
    mit_kinit(&kdc);
    kdc
}

/// Starts MIT's initiator and establishes its context with our acceptor.
fn mit_initiator(kdc: &TestKdc, enctype: i32) -> (Peer, EstablishedContext) {
    let mut peer = Peer::spawn(Library::Mit, kdc, &["init", TARGET, "commands"]);

    let token = hex::decode(peer.expect("token")).unwrap();
    let keytab = Keytab::load_path(kdc.keytab(SERVICE).unwrap()).unwrap();
    let service = Principal::parse(SERVICE, Some(REALM)).unwrap();
    let options = AcceptorOptions {
        acceptor_name: Some(&service),
        enctypes: &[enctype],
        clockskew: 300,
        now: now(),
        channel_bindings: None,
        // MIT's initiator would ignore a subkey of its own key's enctype
        // here, so our acceptor must send none even when asked to.
        acceptor_subkey: true,
    };
    let accepted = accept_sec_context(&keytab, &ReplayCache::new(), &options, &token)
        .unwrap_or_else(|r| panic!("our acceptor rejects MIT's {enctype} token: {}", r.error));
    peer.send_line(&hex::encode(&accepted.output_token));
    peer.expect("flags");
    assert_eq!(accepted.context.key.enctype(), enctype);
    assert!(
        !accepted.context.acceptor_subkey,
        "acceptor subkey for {enctype}"
    );
    (peer, accepted.context)
}

/// Starts MIT's acceptor and establishes its context with our initiator,
/// which gets its ticket from the KDC through our KDC client.
async fn our_initiator(kdc: &TestKdc, enctype: i32) -> (Peer, EstablishedContext) {
    let ticket = our_service_ticket(kdc).await;
    assert_eq!(ticket.session_key.enctype(), enctype);

    let mut peer = Peer::spawn(Library::Mit, kdc, &["accept", "commands"]);
    let options = InitiatorOptions {
        flags: flags::CONF | flags::INTEG | flags::MUTUAL,
        enctypes: &[],
        now: now(),
        channel_bindings: None,
    };
    let InitStep::ContinueNeeded(pending, token) = init_sec_context(&ticket, &options).unwrap()
    else {
        panic!("mutual authentication completed without an AP-REP");
    };
    peer.send_line(&hex::encode(&token));
    let reply = hex::decode(peer.expect("token")).unwrap();
    let context = pending
        .complete(&reply)
        .unwrap_or_else(|e| panic!("our initiator rejects MIT's {enctype} AP-REP: {e}"));
    peer.expect("flags");
    assert_eq!(context.key.enctype(), enctype);
    assert!(!context.acceptor_subkey, "acceptor subkey for {enctype}");
    (peer, context)
}

/// Checks the RFC 1964 framing and fixed fields of a token MIT made.
fn assert_mit_layout(token: &[u8], tok_id: [u8; 2], sgn_alg: [u8; 2], seal_alg: [u8; 2]) {
    let (actual, body) = token::unwrap_krb5(token).expect("MIT's token is framed");
    assert_eq!(actual, tok_id, "TOK_ID of MIT's token");
    assert_eq!(&body[..2], &sgn_alg, "SGN_ALG of MIT's token");
    assert_eq!(&body[2..4], &seal_alg, "SEAL_ALG of MIT's token");
    assert_eq!(&body[4..6], &[0xff, 0xff], "filler of MIT's token");
}

/// Runs the per-message exchange on an established context. `lucid_enctype`
/// is the enctype
/// MIT's lucid export names: for des3 it is des3-cbc-raw (6), because MIT's
/// RFC 1964 code encrypts with the context key itself, without derivation.
fn exercise(
    mut peer: Peer,
    mut context: EstablishedContext,
    lucid_enctype: i32,
    sgn_alg: [u8; 2],
    seal_alg: [u8; 2],
) {
    let enctype = context.key.enctype();

    let mic = context
        .get_mic(context.seq_send, b"signed by rgssd")
        .unwrap();
    peer.send_line(&hex::encode(b"signed by rgssd"));
    peer.send_line(&hex::encode(&mic));
    assert_eq!(
        peer.expect("verified"),
        "0x00000000",
        "MIT verifies our MIC"
    );

    peer.send_line(&hex::encode(b"signed by MIT"));
    let mit_mic = hex::decode(peer.expect("mic")).unwrap();
    assert_mit_layout(&mit_mic, [0x01, 0x01], sgn_alg, [0xff, 0xff]);
    let seq = context
        .verify_mic(b"signed by MIT", &mit_mic)
        .unwrap_or_else(|e| panic!("MIT's MIC does not verify: {e}"));
    assert_eq!(seq, context.seq_recv, "sequence number of MIT's MIC");

    let payloads: [&[u8]; 5] = [b"", b"x", b"eight b!", b"fifteen bytes!!", &[0x5a; 100]];
    for payload in payloads {
        for seal in [false, true] {
            let case = format!(
                "enctype {enctype}, {}-byte payload, sealed {seal}",
                payload.len()
            );
            let ours = context.wrap_sequenced(seal, payload).unwrap();
            peer.send_line(&format!("unwrap {}", hex::encode(&ours)));
            let expected = format!("{} 0x00000000 {}", u8::from(seal), hex::encode(payload));
            assert_eq!(
                peer.expect("unwrapped"),
                expected.trim_end(),
                "MIT's unwrap of {case}"
            );

            peer.send_line(&format!("wrap {} {}", u8::from(seal), hex::encode(payload)));
            let reply = peer.expect("wrapped");
            let (_, theirs) = reply.split_once(' ').unwrap();
            let theirs = hex::decode(theirs).unwrap();
            let expected_seal = if seal { seal_alg } else { [0xff, 0xff] };
            assert_mit_layout(&theirs, [0x02, 0x01], sgn_alg, expected_seal);
            let opened = context
                .unwrap(&theirs)
                .unwrap_or_else(|e| panic!("MIT's token ({case}) is rejected: {e}"));
            assert_eq!(opened.message, payload, "our unwrap of {case}");
            assert_eq!(opened.sealed, seal, "our unwrap of {case}");
        }
    }

    // MIT also opens a token without the RFC 2743 framing.
    let framed = context.wrap(context.seq_send + 99, true, b"bare").unwrap();
    let (tok_id, body) = token::unwrap_krb5(&framed).unwrap();
    let bare = [&tok_id[..], body].concat();
    peer.send_line(&format!("unwrap {}", hex::encode(&bare)));
    assert_eq!(
        peer.expect("unwrapped"),
        format!("1 0x00000000 {}", hex::encode(b"bare")),
        "MIT's unwrap of an unframed token"
    );

    let mut changed = context
        .wrap(context.seq_send + 100, true, b"changed")
        .unwrap();
    *changed.last_mut().unwrap() ^= 1;
    peer.send_line(&format!("unwrap {}", hex::encode(&changed)));
    assert_eq!(
        peer.expect("unwrap-failed"),
        format!("{:#010x}", major::BAD_SIG),
        "MIT's status for a changed token"
    );

    peer.send_line("end");
    let lucid = peer.expect("lucid");
    assert!(lucid.contains(" protocol=0 "), "MIT's lucid: {lucid}");
    assert!(
        lucid.contains(&format!(
            " enctype={lucid_enctype} key={}",
            hex::encode(context.key.bytes())
        )),
        "MIT's lucid key differs from ours ({}): {lucid}",
        hex::encode(context.key.bytes())
    );
    peer.wait();
}

/// The enctype that MIT's lucid export names and the SGN_ALG and SEAL_ALG
/// bytes of each legacy enctype.
fn parameters(enctype: i32) -> (i32, [u8; 2], [u8; 2]) {
    match enctype {
        enctype::DES3_CBC_SHA1 => (6, [0x04, 0x00], [0x02, 0x00]),
        _ => (enctype::RC4_HMAC, [0x11, 0x00], [0x10, 0x00]),
    }
}

fn mit_to_ours(enctype: i32) {
    let kdc = start_kdc(enctype);
    let (peer, context) = mit_initiator(&kdc, enctype);
    let (lucid_enctype, sgn_alg, seal_alg) = parameters(enctype);
    exercise(peer, context, lucid_enctype, sgn_alg, seal_alg);
}

async fn ours_to_mit(enctype: i32) {
    let kdc = start_kdc(enctype);
    let (peer, context) = our_initiator(&kdc, enctype).await;
    let (lucid_enctype, sgn_alg, seal_alg) = parameters(enctype);
    exercise(peer, context, lucid_enctype, sgn_alg, seal_alg);
}

#[test]
fn des3_mit_initiator_to_ours() {
    mit_to_ours(enctype::DES3_CBC_SHA1);
}

#[test]
fn rc4_mit_initiator_to_ours() {
    mit_to_ours(enctype::RC4_HMAC);
}

#[tokio::test]
async fn des3_ours_to_mit_acceptor() {
    ours_to_mit(enctype::DES3_CBC_SHA1).await;
}

#[tokio::test]
async fn rc4_ours_to_mit_acceptor() {
    ours_to_mit(enctype::RC4_HMAC).await;
}
