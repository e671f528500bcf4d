//! Round trips between this crate's initiator and acceptor, with tickets
//! minted under a known service key.

use super::acceptor::{accept_sec_context, AcceptorOptions, Rejected};
use super::checksum::{self, ChannelBindings};
use super::context::EstablishedContext;
use super::initiator::{init_sec_context, InitStep, InitiatorOptions, RPCSEC_GSS_FLAGS};
use super::replay::ReplayCache;
use super::status::major;
use crate::credentials::Credential;
use crate::crypto::Key;
use crate::iana::enctype;
use crate::keytab::{Keytab, KeytabEntry};
use crate::principal::Principal;
use crate::testing::TicketSpec;

const NOW: i64 = 1_800_000_000;

struct Realm {
    keytab: Keytab,
    service: Principal,
    client: Principal,
}

fn realm(service_enctype: i32) -> (Realm, Key) {
    let service = Principal::host_service("nfs", "server.example.test", "EXAMPLE.TEST");
    let client = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
    let key = Key::random(service_enctype).unwrap();
    let mut keytab = Keytab::new();
    keytab.add_entry(KeytabEntry {
        principal: service.clone(),
        timestamp: 0,
        kvno: 3,
        key: key.clone(),
    });
    (
        Realm {
            keytab,
            service,
            client,
        },
        key,
    )
}

/// Mints a ticket for `realm.client` to `realm.service`, as a KDC would.
fn mint_ticket(realm: &Realm, service_key: &Key, session_enctype: i32, endtime: i64) -> Credential {
    let mut spec = TicketSpec::new(realm.client.clone(), realm.service.clone(), NOW);
    spec.session_key = Key::random(session_enctype).unwrap();
    spec.endtime = endtime;
    spec.kvno = 3;
    spec.mint(service_key)
}

fn acceptor_options(enctypes: &[i32]) -> AcceptorOptions<'_> {
    AcceptorOptions {
        acceptor_name: None,
        enctypes,
        clockskew: 300,
        now: (NOW, 0),
        channel_bindings: None,
        acceptor_subkey: true,
    }
}

/// Runs a mutual AP exchange with default options in a realm whose keys
/// and session key have enctype `e`. Returns the realm, the initiator's
/// context and the acceptor's.
fn mutual_contexts(e: i32) -> (Realm, EstablishedContext, EstablishedContext) {
    let (realm, service_key) = realm(e);
    let ticket = mint_ticket(&realm, &service_key, e, NOW + 3600);
    let options = InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS,
        enctypes: &[],
        now: (NOW, 123),
        channel_bindings: None,
    };
    let InitStep::ContinueNeeded(pending, token) = init_sec_context(&ticket, &options).unwrap()
    else {
        panic!("mutual authentication must need a reply");
    };

    let accepted = accept_sec_context(
        &realm.keytab,
        &ReplayCache::new(),
        &acceptor_options(&[]),
        &token,
    )
    .map_err(|r| r.error)
    .unwrap();
    let initiator = pending.complete(&accepted.output_token).unwrap();
    (realm, initiator, accepted.context)
}

#[test]
fn round_trip_every_enctype() {
    for e in [17, 18, 19, 20, 25, 26] {
        let (realm, initiator, acceptor) = mutual_contexts(e);

        assert_eq!(initiator.key, acceptor.key, "enctype {e}");
        assert_eq!(initiator.key.enctype(), e);
        assert!(initiator.acceptor_subkey);
        assert!(acceptor.acceptor_subkey);
        assert_eq!(initiator.seq_send, acceptor.seq_recv);
        assert_eq!(initiator.seq_recv, acceptor.seq_send);
        assert!(initiator.seq_send < 1 << 31);
        assert!(acceptor.seq_send < 1 << 31);
        assert_eq!(acceptor.initiator_name, realm.client);
        assert_eq!(acceptor.endtime, (NOW + 3600) as u32);

        let mic = acceptor.get_mic(0, &128u32.to_be_bytes()).unwrap();
        initiator.verify_mic(&128u32.to_be_bytes(), &mic).unwrap();
        assert!(acceptor.verify_mic(&128u32.to_be_bytes(), &mic).is_err());

        let lucid = initiator.export_lucid().unwrap();
        assert_eq!(&lucid[0..4], &7u32.to_ne_bytes());
        let lucid = acceptor.export_lucid().unwrap();
        assert_eq!(&lucid[0..4], &6u32.to_ne_bytes());
    }
}

#[test]
fn enctype_negotiation_upgrades_the_context_key() {
    let (realm, service_key) = realm(enctype::AES256_CTS_HMAC_SHA1_96);
    let ticket = mint_ticket(
        &realm,
        &service_key,
        enctype::AES256_CTS_HMAC_SHA1_96,
        NOW + 3600,
    );
    let offered = [20, 19, 18, 17];
    let options = InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS,
        enctypes: &offered,
        now: (NOW, 0),
        channel_bindings: None,
    };
    let InitStep::ContinueNeeded(pending, token) = init_sec_context(&ticket, &options).unwrap()
    else {
        panic!("mutual authentication must need a reply");
    };
    let accepted = accept_sec_context(
        &realm.keytab,
        &ReplayCache::new(),
        &acceptor_options(&[19, 18]),
        &token,
    )
    .map_err(|r| r.error)
    .unwrap();
    let initiator = pending.complete(&accepted.output_token).unwrap();
    assert_eq!(initiator.key.enctype(), enctype::AES128_CTS_HMAC_SHA256_128);
    assert_eq!(initiator.key, accepted.context.key);
}

#[test]
fn expired_ticket_is_rejected_by_both_sides() {
    let (realm, service_key) = realm(18);
    let ticket = mint_ticket(&realm, &service_key, 18, NOW - 1000);
    let options = InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS,
        enctypes: &[],
        now: (NOW, 0),
        channel_bindings: None,
    };
    let err = init_sec_context(&ticket, &options).unwrap_err();
    assert!(err.message.contains("expired"), "{err}");

    let early = InitiatorOptions {
        now: (NOW - 2000, 0),
        ..options
    };
    let InitStep::ContinueNeeded(_, token) = init_sec_context(&ticket, &early).unwrap() else {
        panic!("mutual authentication must need a reply");
    };
    let mut acceptor = acceptor_options(&[]);
    acceptor.now = (NOW - 2000 + 10, 0);
    acceptor.clockskew = 5000;
    let late = AcceptorOptions {
        now: (NOW, 0),
        clockskew: 300,
        ..acceptor
    };
    let rejected =
        accept_sec_context(&realm.keytab, &ReplayCache::new(), &late, &token).unwrap_err();
    assert!(rejected.error.message.contains("expired") || rejected.error.message.contains("clock"));
}

#[test]
fn tampered_tokens_never_authenticate_others() {
    let (realm, service_key) = realm(18);
    let ticket = mint_ticket(&realm, &service_key, 18, NOW + 3600);
    let options = InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS,
        enctypes: &[],
        now: (NOW, 0),
        channel_bindings: None,
    };
    let InitStep::ContinueNeeded(_, token) = init_sec_context(&ticket, &options).unwrap() else {
        panic!("mutual authentication must need a reply");
    };
    for i in (0..token.len()).step_by(7) {
        let mut bad = token.clone();
        bad[i] ^= 0x5a;
        // Some bytes are not integrity-protected, such as the ticket's
        // clear-text name type and unused AP options. A token changed there
        // may pass, but only ever for the real client.
        if let Ok(accepted) = accept_sec_context(
            &realm.keytab,
            &ReplayCache::new(),
            &acceptor_options(&[]),
            &bad,
        ) {
            assert_eq!(accepted.context.initiator_name, realm.client, "byte {i}");
        }
    }
    for len in (0..token.len()).step_by(13) {
        assert!(accept_sec_context(
            &realm.keytab,
            &ReplayCache::new(),
            &acceptor_options(&[]),
            &token[..len]
        )
        .is_err());
    }
}

#[test]
fn round_trip_without_mutual_authentication() {
    for e in [17, 18, 19, 20, 25, 26] {
        let (realm, service_key) = realm(e);
        let ticket = mint_ticket(&realm, &service_key, e, NOW + 3600);
        let options = InitiatorOptions {
            flags: RPCSEC_GSS_FLAGS & !checksum::flags::MUTUAL,
            enctypes: &[20, 19, 18, 17],
            now: (NOW, 0),
            channel_bindings: None,
        };
        let InitStep::Complete(initiator, token) = init_sec_context(&ticket, &options).unwrap()
        else {
            panic!("a context without mutual authentication needs no reply");
        };
        let accepted = accept_sec_context(
            &realm.keytab,
            &ReplayCache::new(),
            &acceptor_options(&[]),
            &token,
        )
        .map_err(|r| r.error)
        .unwrap();
        let acceptor = accepted.context;

        // No AP-REP can carry an acceptor subkey or sequence number, so
        // both sides must use the initiator's subkey and sequence number.
        assert!(accepted.output_token.is_empty(), "enctype {e}");
        assert!(!acceptor.acceptor_subkey, "enctype {e}");
        assert!(!initiator.acceptor_subkey, "enctype {e}");
        assert_eq!(acceptor.key, initiator.key, "enctype {e}");
        assert_eq!(acceptor.key.enctype(), e);
        assert_eq!(acceptor.seq_recv, initiator.seq_send);
        assert_eq!(acceptor.seq_send, initiator.seq_send);
        assert_eq!(initiator.seq_recv, initiator.seq_send);

        let mic = acceptor.get_mic(acceptor.seq_send, b"reply").unwrap();
        assert_eq!(initiator.verify_mic(b"reply", &mic), Ok(initiator.seq_recv));
        let mic = initiator.get_mic(initiator.seq_send, b"call").unwrap();
        assert_eq!(acceptor.verify_mic(b"call", &mic), Ok(acceptor.seq_recv));
    }
}

#[test]
fn no_mutual_rejects_disallowed_session_enctype() {
    let (realm, service_key) = realm(18);
    let ticket = mint_ticket(&realm, &service_key, 17, NOW + 3600);
    let options = InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS & !checksum::flags::MUTUAL,
        enctypes: &[],
        now: (NOW, 0),
        channel_bindings: None,
    };
    let InitStep::Complete(_, token) = init_sec_context(&ticket, &options).unwrap() else {
        panic!("a context without mutual authentication needs no reply");
    };
    let rejected = accept_sec_context(
        &realm.keytab,
        &ReplayCache::new(),
        &acceptor_options(&[18]),
        &token,
    )
    .unwrap_err();
    assert!(
        rejected.error.message.contains("enctype 17"),
        "{}",
        rejected.error
    );
}

#[test]
fn enctype_negotiation_follows_acceptor_preference() {
    let (realm, service_key) = realm(enctype::AES256_CTS_HMAC_SHA1_96);
    let offered = [20, 19, 18, 17];
    let cases: [(&[i32], i32); 4] = [
        (&[], 20),
        (&[18, 20], 18),
        (&[17, 19], 17),
        (&[26, 19, 20], 19),
    ];
    for (allowed, expected) in cases {
        let ticket = mint_ticket(&realm, &service_key, 18, NOW + 3600);
        let options = InitiatorOptions {
            flags: RPCSEC_GSS_FLAGS,
            enctypes: &offered,
            now: (NOW, 0),
            channel_bindings: None,
        };
        let InitStep::ContinueNeeded(pending, token) = init_sec_context(&ticket, &options).unwrap()
        else {
            panic!("mutual authentication must need a reply");
        };
        let accepted = accept_sec_context(
            &realm.keytab,
            &ReplayCache::new(),
            &acceptor_options(allowed),
            &token,
        )
        .map_err(|r| r.error)
        .unwrap();
        assert_eq!(
            accepted.context.key.enctype(),
            expected,
            "allowed {allowed:?}"
        );
        let initiator = pending.complete(&accepted.output_token).unwrap();
        assert_eq!(initiator.key, accepted.context.key, "allowed {allowed:?}");
    }
}

/// Runs the AP exchange between our initiator and acceptor with the given
/// bindings on each side and acceptor-subkey choice.
fn establish(
    initiator_bindings: Option<&ChannelBindings>,
    acceptor_bindings: Option<&ChannelBindings>,
    acceptor_subkey: bool,
    flags: u32,
) -> Result<(EstablishedContext, EstablishedContext), Rejected> {
    let (realm, service_key) = realm(enctype::AES256_CTS_HMAC_SHA1_96);
    let ticket = mint_ticket(
        &realm,
        &service_key,
        enctype::AES256_CTS_HMAC_SHA1_96,
        NOW + 3600,
    );
    let options = InitiatorOptions {
        flags,
        enctypes: &[20, 18],
        now: (NOW, 0),
        channel_bindings: initiator_bindings,
    };
    let (step, token) = match init_sec_context(&ticket, &options).unwrap() {
        InitStep::ContinueNeeded(pending, token) => (Err(pending), token),
        InitStep::Complete(context, token) => (Ok(context), token),
    };
    let acceptor_options = AcceptorOptions {
        channel_bindings: acceptor_bindings,
        acceptor_subkey,
        ..acceptor_options(&[])
    };
    let accepted = accept_sec_context(
        &realm.keytab,
        &ReplayCache::new(),
        &acceptor_options,
        &token,
    )?;
    let initiator = match step {
        Ok(context) => *context,
        Err(pending) => pending.complete(&accepted.output_token).unwrap(),
    };
    Ok((initiator, accepted.context))
}

fn bindings(application_data: &[u8]) -> ChannelBindings {
    ChannelBindings {
        application_data: application_data.to_vec(),
        ..ChannelBindings::default()
    }
}

#[test]
fn matching_bindings_are_channel_bound() {
    let cb = bindings(b"tls-server-end-point:0123");
    let (_, acceptor) = establish(Some(&cb), Some(&cb), true, RPCSEC_GSS_FLAGS).unwrap();
    assert_ne!(acceptor.flags & checksum::flags::CHANNEL_BOUND, 0);

    // Bindings the acceptor does not check never make a context bound.
    let (_, acceptor) = establish(Some(&cb), None, true, RPCSEC_GSS_FLAGS).unwrap();
    assert_eq!(acceptor.flags & checksum::flags::CHANNEL_BOUND, 0);
}

#[test]
fn mismatched_bindings_are_rejected() {
    for flags in [
        RPCSEC_GSS_FLAGS,
        RPCSEC_GSS_FLAGS & !checksum::flags::MUTUAL,
    ] {
        let rejected = establish(
            Some(&bindings(b"one")),
            Some(&bindings(b"two")),
            true,
            flags,
        )
        .unwrap_err();
        assert_eq!(
            rejected.error.major,
            major::BAD_BINDINGS,
            "{}",
            rejected.error
        );
        assert!(
            rejected
                .error
                .message
                .contains("channel bindings do not match"),
            "{}",
            rejected.error
        );
        // Like MIT's acceptor, a KRB-ERROR only when a reply is expected.
        assert_eq!(
            rejected.output_token.is_some(),
            flags & checksum::flags::MUTUAL != 0
        );
    }
}

#[test]
fn initiator_without_bindings_is_accepted() {
    let (_, acceptor) = establish(None, Some(&bindings(b"x")), true, RPCSEC_GSS_FLAGS).unwrap();
    assert_eq!(acceptor.flags & checksum::flags::CHANNEL_BOUND, 0);
}

#[test]
fn mutual_without_acceptor_subkey() {
    let (initiator, acceptor) = establish(None, None, false, RPCSEC_GSS_FLAGS).unwrap();
    assert!(!initiator.acceptor_subkey);
    assert!(!acceptor.acceptor_subkey);
    assert_eq!(initiator.key, acceptor.key);
    // The initiator's subkey keeps the session key's enctype.
    assert_eq!(acceptor.key.enctype(), enctype::AES256_CTS_HMAC_SHA1_96);
    assert_eq!(initiator.seq_recv, acceptor.seq_send);
    assert_eq!(initiator.seq_send, acceptor.seq_recv);

    let lucid = acceptor.export_lucid().unwrap();
    assert_eq!(&lucid[0..4], &2u32.to_ne_bytes(), "CFX flag only");
    assert_eq!(&lucid[20..], acceptor.key.bytes());

    let token = acceptor.wrap(acceptor.seq_send, true, b"reply").unwrap();
    assert_eq!(
        token[2], 0x03,
        "SentByAcceptor and Sealed, no AcceptorSubkey"
    );
    assert_eq!(initiator.unwrap(&token).unwrap().message, b"reply");
}

#[test]
fn sequenced_wrap_and_mic_between_both_sides() {
    let flags = RPCSEC_GSS_FLAGS | checksum::flags::REPLAY | checksum::flags::SEQUENCE;
    let (mut initiator, mut acceptor) = establish(None, None, true, flags).unwrap();

    let first = initiator.wrap_sequenced(true, b"first").unwrap();
    let second = initiator.wrap_sequenced(false, b"second").unwrap();
    let mic = initiator.get_mic_sequenced(b"third").unwrap();
    assert_eq!(initiator.sequence.next_send, initiator.seq_send + 3);

    let (opened, status) = acceptor.unwrap_sequenced(&first).unwrap();
    assert_eq!(
        (opened.message.as_slice(), opened.sealed, status),
        (&b"first"[..], true, 0)
    );
    assert_eq!(
        acceptor.verify_mic_sequenced(b"third", &mic),
        Ok(major::GAP_TOKEN)
    );
    let (opened, status) = acceptor.unwrap_sequenced(&second).unwrap();
    assert_eq!(
        (opened.message.as_slice(), opened.sealed),
        (&b"second"[..], false)
    );
    assert_eq!(status, major::UNSEQ_TOKEN);
    let (_, status) = acceptor.unwrap_sequenced(&first).unwrap();
    assert_eq!(status, major::DUPLICATE_TOKEN);

    let reply = acceptor.wrap_sequenced(true, b"reply").unwrap();
    let (opened, status) = initiator.unwrap_sequenced(&reply).unwrap();
    assert_eq!((opened.message.as_slice(), status), (&b"reply"[..], 0));

    // Tokens of one direction never open in the other.
    let err = initiator.unwrap_sequenced(&first).unwrap_err();
    assert_eq!(err.major, major::DEFECTIVE_TOKEN, "{err}");
    let err = acceptor.verify_mic_sequenced(b"other", &mic).unwrap_err();
    assert_eq!(err.major, major::BAD_SIG, "{err}");
}

#[test]
fn rpcsec_flags_keep_no_receive_checks() {
    let (initiator, mut acceptor) = establish(None, None, true, RPCSEC_GSS_FLAGS).unwrap();
    let mic = initiator.get_mic(initiator.seq_send, b"call").unwrap();
    assert_eq!(acceptor.verify_mic_sequenced(b"call", &mic), Ok(0));
    assert_eq!(acceptor.verify_mic_sequenced(b"call", &mic), Ok(0));
}

/// For des3 and rc4-hmac our acceptor sends no subkey of the same enctype,
/// because MIT's initiator would ignore it, and both sides then use RFC 1964
/// tokens under the initiator's key.
#[cfg(feature = "legacy-enctypes")]
#[test]
fn legacy_enctypes_get_no_acceptor_subkey() {
    for e in [enctype::DES3_CBC_SHA1, enctype::RC4_HMAC] {
        let (_, initiator, acceptor) = mutual_contexts(e);

        assert!(!acceptor.acceptor_subkey, "enctype {e}");
        assert!(!initiator.acceptor_subkey, "enctype {e}");
        assert_eq!(initiator.key, acceptor.key, "enctype {e}");
        assert_eq!(acceptor.key.enctype(), e);

        let mic = initiator.get_mic(initiator.seq_send, b"call").unwrap();
        assert_eq!(acceptor.verify_mic(b"call", &mic), Ok(initiator.seq_send));
    }
}
