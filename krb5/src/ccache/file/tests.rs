use super::*;
use crate::ccache::is_config_entry;

const MIT_USER_SHA1: &[u8] = include_bytes!("../../../tests/data/mit-ccache-user-aes-sha1.bin");
const MIT_USER_SHA2: &[u8] = include_bytes!("../../../tests/data/mit-ccache-user-aes-sha2.bin");
const MIT_MACHINE_SHA1: &[u8] =
    include_bytes!("../../../tests/data/mit-ccache-machine-aes-sha1.bin");
const MIT_MACHINE_SHA2: &[u8] =
    include_bytes!("../../../tests/data/mit-ccache-machine-aes-sha2.bin");

/// The user cache after MIT's krb5_cc_remove_cred removed the nfs ticket
/// and the fast_avail configuration entry (marked in place).
const MIT_USER_REMOVED: &[u8] =
    include_bytes!("../../../tests/data/mit-ccache-user-removed-entry.bin");

pub(crate) fn sample_credential(server: &str, enctype: i32) -> Credential {
    Credential {
        client: Principal::parse("alice@EXAMPLE.TEST", None).unwrap(),
        server: Principal::parse(server, None).unwrap(),
        session_key: Key::from_raw(enctype, vec![0x5a; 32]),
        authtime: 1_700_000_000,
        starttime: 1_700_000_010,
        endtime: 1_700_036_000,
        renew_till: 1_700_600_000,
        is_skey: false,
        flags: 0x40e1_0000,
        addresses: vec![HostAddress {
            addr_type: 2,
            address: vec![127, 0, 0, 1],
        }],
        authdata: vec![AuthData {
            ad_type: -5,
            data: vec![1, 2, 3],
        }],
        ticket: vec![0x61, 0x03, 0x02, 0x01, 0x05],
        second_ticket: Vec::new(),
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn parses_mit_user_cache() {
    let cache = parse(MIT_USER_SHA1).unwrap();
    assert_eq!(cache.version, 4);
    assert_eq!(cache.principal.to_string(), "alice@EXAMPLE.TEST");

    let tickets: Vec<&Credential> = cache
        .credentials
        .iter()
        .filter(|c| !is_config_entry(c))
        .collect();
    let servers: Vec<String> = tickets.iter().map(|c| c.server.to_string()).collect();
    assert_eq!(
        servers,
        [
            "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
            "nfs/nfs.example.test@EXAMPLE.TEST"
        ]
    );
    let tgt = tickets[0];
    assert_eq!(tgt.session_key.enctype(), 18);
    assert_eq!(tgt.session_key.bytes().len(), 32);
    // klist shows 12/04/26 20:08:56 to 12/05/26 06:08:56: ten hours.
    assert_eq!(tgt.endtime - tgt.starttime, 36_000);
    assert_eq!(
        tgt.ticket.first(),
        Some(&0x61),
        "a DER [APPLICATION 1] Ticket"
    );

    let configs: Vec<&Credential> = cache
        .credentials
        .iter()
        .filter(|c| is_config_entry(c))
        .collect();
    assert!(!configs.is_empty());
    assert_eq!(configs[0].server.components[1], "fast_avail");
}

#[test]
fn parses_mit_sha2_and_machine_caches() {
    for (data, principal, enctype) in [
        (MIT_USER_SHA2, "alice@EXAMPLE.TEST", 20),
        (MIT_MACHINE_SHA1, "nfs/nfs.example.test@EXAMPLE.TEST", 18),
        (MIT_MACHINE_SHA2, "nfs/nfs.example.test@EXAMPLE.TEST", 20),
    ] {
        let cache = parse(data).unwrap();
        assert_eq!(cache.principal.to_string(), principal);
        let tgt = cache
            .credentials
            .iter()
            .find(|c| c.server.is_krbtgt())
            .unwrap();
        assert_eq!(tgt.session_key.enctype(), enctype);
    }
}

#[test]
fn mit_caches_round_trip_byte_for_byte() {
    for data in [
        MIT_USER_SHA1,
        MIT_USER_SHA2,
        MIT_MACHINE_SHA1,
        MIT_MACHINE_SHA2,
    ] {
        assert_eq!(encode(&parse(data).unwrap()).unwrap(), data);
    }
}

#[test]
fn every_version_round_trips() {
    let principal = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
    for version in 1..=4u8 {
        let file = CacheFile {
            version,
            kdc_offset: (version == 4).then_some(KdcOffset {
                seconds: -3,
                microseconds: 250,
            }),
            principal: principal.clone(),
            credentials: vec![
                sample_credential("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", 18),
                sample_credential("nfs/server@EXAMPLE.TEST", 20),
            ],
        };
        let bytes = encode(&file).unwrap();
        let mut parsed = parse(&bytes).unwrap();
        if version == 1 {
            // Version 1 has no name types.
            parsed.principal.name_type = principal.name_type;
            for (p, f) in parsed.credentials.iter_mut().zip(&file.credentials) {
                p.client.name_type = f.client.name_type;
                p.server.name_type = f.server.name_type;
            }
        }
        assert_eq!(parsed, file, "version {version}");
    }
}

#[test]
fn version_3_repeats_enctype() {
    let file = CacheFile {
        version: 3,
        kdc_offset: None,
        principal: Principal::parse("a@R", None).unwrap(),
        credentials: vec![],
    };
    let header = encode(&file).unwrap();
    let mut with_cred = file.clone();
    with_cred.credentials.push(sample_credential("b@R", 17));
    let bytes = encode(&with_cred).unwrap();
    let mut v4 = with_cred.clone();
    v4.version = 4;
    let v4_header_len = encode_header(4, None, &v4.principal).unwrap().len();
    let v4_cred_len = encode(&v4).unwrap().len() - v4_header_len;
    assert_eq!(bytes.len() - header.len(), v4_cred_len + 2);
    // The two enctype fields follow the two principals.
    let mut r = Reader::new(&bytes[header.len()..]);
    read_principal(&mut r, 3).unwrap();
    read_principal(&mut r, 3).unwrap();
    assert_eq!(r.u16("e1").unwrap(), 17);
    assert_eq!(r.u16("e2").unwrap(), 17);
}

#[test]
fn header_skips_unknown_tags() {
    let principal = Principal::parse("a@R", None).unwrap();
    let mut data = vec![0x05, 0x04, 0, 18];
    data.extend_from_slice(&[0, 9, 0, 2, 0xaa, 0xbb]);
    data.extend_from_slice(&[0, 1, 0, 8, 0, 0, 0, 7, 0, 0, 0, 9]);
    let mut w = Writer::new();
    write_principal(&mut w, 4, &principal).unwrap();
    data.extend_from_slice(w.as_slice());
    let cache = parse(&data).unwrap();
    assert_eq!(
        cache.kdc_offset,
        Some(KdcOffset {
            seconds: 7,
            microseconds: 9
        })
    );
    assert!(cache.credentials.is_empty());
}

#[test]
fn rejects_bad_offset_length() {
    let data = [0x05, 0x04, 0, 8, 0, 1, 0, 4, 0, 0, 0, 0];
    let err = parse(&data).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::Invalid {
            field: "KDC time offset",
            offset: 8,
            ..
        }
    ));
}

#[test]
fn rejects_unknown_version() {
    let err = parse(&[0x05, 0x05]).unwrap_err();
    assert!(err.to_string().contains("0x0505"), "{err}");
    assert!(matches!(
        err,
        DecodeError::Invalid {
            field: "cache version",
            ..
        }
    ));
}

#[test]
fn truncated_ticket_names_field_and_offset() {
    let cut = MIT_USER_SHA1.len() - 10;
    let err = parse(&MIT_USER_SHA1[..cut]).unwrap_err();
    match err {
        DecodeError::Truncated { field, offset, .. } => {
            assert_eq!(field, "ticket");
            assert!(offset > 0 && offset < cut);
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn huge_counts_rejected_without_allocation() {
    let mut data = vec![0x05, 0x04, 0, 0, 0, 0, 0, 1];
    data.extend_from_slice(&u32::MAX.to_be_bytes());
    let err = parse(&data).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::Invalid {
            field: "principal component count",
            offset: 8,
            ..
        }
    ));
}

#[test]
fn every_prefix_parses_or_errors() {
    for data in [MIT_USER_SHA1, MIT_MACHINE_SHA2] {
        for len in 0..data.len() {
            if let Err(e) = parse(&data[..len]) {
                assert!(e.to_string().contains("offset"), "{e}");
            }
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..5000 {
        let mut data = MIT_USER_SHA2.to_vec();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % data.len();
            data[i] ^= 1 << (rng.next() % 8);
        }
        if let Ok(file) = parse(&data) {
            assert_eq!(parse(&encode(&file).unwrap()).unwrap(), file);
        }
    }
}

#[test]
fn single_credential_codec_rejects_trailing_bytes() {
    let cred = sample_credential("b@R", 18);
    let mut bytes = encode_credential(&cred).unwrap();
    assert_eq!(decode_credential(&bytes).unwrap(), cred);
    bytes.push(0);
    assert!(matches!(
        decode_credential(&bytes),
        Err(DecodeError::TrailingData { .. })
    ));
}

#[test]
fn mit_removed_entries_are_marked() {
    let cache = parse(MIT_USER_REMOVED).unwrap();
    let original = parse(MIT_USER_SHA1).unwrap();
    assert_eq!(cache.credentials.len(), original.credentials.len());

    let removed: Vec<&Credential> = cache.credentials.iter().filter(|c| is_removed(c)).collect();
    assert_eq!(removed.len(), 2);
    for c in &removed {
        assert_eq!(c.endtime, 0);
        assert_eq!(c.authtime, u32::MAX);
    }
    assert!(removed
        .iter()
        .any(|c| c.server.to_string() == "nfs/nfs.example.test@EXAMPLE.TEST"));
    assert!(removed
        .iter()
        .any(|c| c.server.realm == REMOVED_CONFIG_REALM));

    // Our marking of the same entries produces MIT's bytes exactly.
    let mut ours = original.clone();
    for c in &mut ours.credentials {
        let is_nfs = c.server.to_string() == "nfs/nfs.example.test@EXAMPLE.TEST";
        let is_fast = c.server.components.get(1).map(String::as_str) == Some("fast_avail");
        if is_nfs || is_fast {
            c.endtime = 0;
            c.authtime = u32::MAX;
            if c.server.realm == CONFIG_REALM {
                c.server.realm = REMOVED_CONFIG_REALM.into();
            }
        }
    }
    assert_eq!(encode(&ours).unwrap(), MIT_USER_REMOVED);
}
