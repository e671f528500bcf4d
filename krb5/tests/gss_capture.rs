//! The krb5 mechanism against a real exchange between rpc.gssd and
//! rpc.svcgssd (nfs-utils 2.6 on MIT krb5 1.20) on Linux 6.12, recorded in a
//! throwaway realm. The data are the initiator's AP-REQ, the acceptor's
//! AP-REP, the kernel's MIC over the sequence window, and the lucid context
//! that rpc.gssd sent to the kernel. The keytab is the NFS server's.

use krb5::gss::acceptor::{accept_sec_context, AcceptorOptions};
use krb5::gss::mic::{self, token_flags};
use krb5::gss::replay::ReplayCache;
use krb5::gss::token::{self, tok_id};
use krb5::iana::{enctype, key_usage};
use krb5::keytab::Keytab;
use krb5::messages::{self, convert};
use krb5::Principal;

/// 2026-12-04 20:09:06 UTC, when the exchange was recorded.
const RECORDED_AT: i64 = 1_796_414_946;

const AP_REQ: &[u8] = include_bytes!("data/gss/mit-initiator-ap-req.bin");
const AP_REP: &[u8] = include_bytes!("data/gss/mit-acceptor-ap-rep.bin");
const VERIFIER: &[u8] = include_bytes!("data/gss/kernel-init-verifier-mic.bin");
const LUCID: &[u8] = include_bytes!("data/gss/mit-gssd-lucid-context.bin");
const KEYTAB: &[u8] = include_bytes!("data/mit-keytab-host-aes-sha1.bin");

fn options(enctypes: &[i32]) -> AcceptorOptions<'_> {
    AcceptorOptions {
        acceptor_name: None,
        enctypes,
        clockskew: 300,
        now: (RECORDED_AT, 0),
        channel_bindings: None,
        acceptor_subkey: true,
    }
}

#[test]
fn accepts_mit_initiator_token() {
    let keytab = Keytab::parse(KEYTAB).unwrap();
    let cache = ReplayCache::new();
    let kernel_enctypes = [20, 19, 18, 17];

    let accepted = accept_sec_context(&keytab, &cache, &options(&kernel_enctypes), AP_REQ)
        .map_err(|r| r.error)
        .unwrap();
    let context = &accepted.context;
    assert_eq!(
        context.acceptor_name.to_string(),
        "nfs/nfs.example.test@EXAMPLE.TEST"
    );
    assert_eq!(context.initiator_name.realm, "EXAMPLE.TEST");
    assert!(!context.initiator);
    assert!(context.acceptor_subkey);
    // MIT's initiator offers aes-sha2 through RFC 4537, and the kernel's
    // first enctype wins, as MIT's acceptor chose.
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);

    let (id, _) = token::unwrap_krb5(&accepted.output_token).unwrap();
    assert_eq!(id, tok_id::AP_REP);
}

#[test]
fn acceptor_restricted_to_sha1_enctypes() {
    let keytab = Keytab::parse(KEYTAB).unwrap();
    let accepted = accept_sec_context(&keytab, &ReplayCache::new(), &options(&[18, 17]), AP_REQ)
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(
        accepted.context.key.enctype(),
        enctype::AES256_CTS_HMAC_SHA1_96
    );
}

#[test]
fn replayed_token_is_rejected() {
    let keytab = Keytab::parse(KEYTAB).unwrap();
    let cache = ReplayCache::new();
    accept_sec_context(&keytab, &cache, &options(&[]), AP_REQ)
        .map_err(|r| r.error)
        .unwrap();
    let rejected = accept_sec_context(&keytab, &cache, &options(&[]), AP_REQ).unwrap_err();
    assert!(
        rejected.error.message.contains("replayed"),
        "{}",
        rejected.error
    );
    assert!(rejected.output_token.is_some());
}

#[test]
fn late_token_fails_clock_skew() {
    let keytab = Keytab::parse(KEYTAB).unwrap();
    let mut late = options(&[]);
    late.now.0 += 3600;
    let rejected = accept_sec_context(&keytab, &ReplayCache::new(), &late, AP_REQ).unwrap_err();
    assert!(
        rejected.error.message.contains("clock"),
        "{}",
        rejected.error
    );
    let (id, _) = token::unwrap_krb5(&rejected.output_token.unwrap()).unwrap();
    assert_eq!(id, tok_id::KRB_ERROR);
}

#[test]
fn wrong_acceptor_name_is_rejected() {
    let keytab = Keytab::parse(KEYTAB).unwrap();
    let host = Principal::parse("host/nfs.example.test@EXAMPLE.TEST", None).unwrap();
    let mut opts = options(&[]);
    opts.acceptor_name = Some(&host);
    let rejected = accept_sec_context(&keytab, &ReplayCache::new(), &opts, AP_REQ).unwrap_err();
    assert!(
        rejected.error.message.contains("only host/"),
        "{}",
        rejected.error
    );
}

#[test]
fn keytab_without_the_key_is_rejected() {
    let keytab = Keytab::parse(include_bytes!("data/mit-keytab-alice-aes-sha1.bin")).unwrap();
    let rejected =
        accept_sec_context(&keytab, &ReplayCache::new(), &options(&[]), AP_REQ).unwrap_err();
    assert!(
        rejected.error.message.contains("nfs/nfs.example.test"),
        "{}",
        rejected.error
    );
}

/// Decrypts MIT's AP-REP with the ticket's session key and checks that its
/// acceptor subkey is the key rpc.gssd exported, and that the kernel's
/// verifier (a MIC over the big-endian window 128) verifies with it.
#[test]
fn mit_acceptor_subkey_and_kernel_mic() {
    let keytab = Keytab::parse(KEYTAB).unwrap();
    let (_, body) = token::unwrap_krb5(AP_REQ).unwrap();
    let ap_req = messages::decode_ap_req(body).unwrap();
    let server = convert::principal(&ap_req.ticket.sname, &ap_req.ticket.realm).unwrap();
    let entry = keytab
        .select_key(
            Some(&server),
            ap_req.ticket.enc_part.kvno,
            ap_req.ticket.enc_part.etype,
        )
        .unwrap();
    let ticket_plain = entry
        .key
        .decrypt(key_usage::KDC_REP_TICKET, &ap_req.ticket.enc_part.cipher)
        .unwrap();
    let ticket = messages::decode_enc_ticket_part(&ticket_plain).unwrap();
    let session_key = convert::key(&ticket.key);

    let (id, body) = token::unwrap_krb5(AP_REP).unwrap();
    assert_eq!(id, tok_id::AP_REP);
    let ap_rep = messages::decode_ap_rep(body).unwrap();
    let part = session_key
        .decrypt(key_usage::AP_REP_ENC_PART, &ap_rep.enc_part.cipher)
        .unwrap();
    let part = messages::decode_enc_ap_rep_part(&part).unwrap();
    let subkey = convert::key(part.subkey.as_ref().unwrap());

    assert_eq!(subkey.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
    assert_eq!(subkey.bytes(), &LUCID[20..]);
    assert_eq!(&LUCID[16..20], &20i32.to_le_bytes());

    let flags = token_flags::SENT_BY_ACCEPTOR | token_flags::ACCEPTOR_SUBKEY;
    mic::verify_mic(&subkey, flags, &128u32.to_be_bytes(), VERIFIER).unwrap();
    assert!(mic::verify_mic(&subkey, flags, &64u32.to_be_bytes(), VERIFIER).is_err());
    assert!(mic::verify_mic(
        &subkey,
        token_flags::SENT_BY_ACCEPTOR,
        &128u32.to_be_bytes(),
        VERIFIER
    )
    .is_err());
}
