use super::*;
use crate::iana::enctype;

const MIT_HOST_SHA1: &[u8] = include_bytes!("../../tests/data/mit-keytab-host-aes-sha1.bin");
const MIT_HOST_SHA2: &[u8] = include_bytes!("../../tests/data/mit-keytab-host-aes-sha2.bin");
const MIT_ALICE_SHA2: &[u8] = include_bytes!("../../tests/data/mit-keytab-alice-aes-sha2.bin");
/// ktutil's keytab after MIT's krb5_kt_remove_entry deleted its first entry.
const MIT_WITH_HOLE: &[u8] = include_bytes!("../../tests/data/mit-keytab-ktutil-with-hole.bin");
/// The same keytab after ktutil wrote a smaller entry into the hole.
const MIT_REUSED_HOLE: &[u8] = include_bytes!("../../tests/data/mit-keytab-ktutil-reused-hole.bin");

fn principal(text: &str) -> Principal {
    Principal::parse(text, None).unwrap()
}

fn entry(name: &str, kvno: u32, etype: i32, timestamp: u32) -> KeytabEntry {
    KeytabEntry {
        principal: principal(name),
        timestamp,
        kvno,
        key: Key::from_raw(etype, vec![kvno as u8; 16]),
    }
}

fn keytab(entries: Vec<KeytabEntry>) -> Keytab {
    let mut kt = Keytab::new();
    for e in entries {
        kt.add_entry(e);
    }
    kt
}

/// A small xorshift generator, so the mutation tests are repeatable.
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
fn parses_mit_host_keytab() {
    let kt = Keytab::parse(MIT_HOST_SHA1).unwrap();
    let listed: Vec<(String, u32, i32)> = kt
        .entries()
        .iter()
        .map(|e| (e.principal.to_string(), e.kvno, e.key.enctype()))
        .collect();
    assert_eq!(
        listed,
        [
            ("nfs/nfs.example.test@EXAMPLE.TEST".to_string(), 2, 18),
            ("nfs/nfs.example.test@EXAMPLE.TEST".to_string(), 2, 17),
            ("host/nfs.example.test@EXAMPLE.TEST".to_string(), 2, 18),
            ("host/nfs.example.test@EXAMPLE.TEST".to_string(), 2, 17),
        ]
    );
    assert_eq!(kt.entries()[0].key.bytes().len(), 32);
    assert_eq!(kt.entries()[1].key.bytes().len(), 16);
    // kadmin ktadd stores the name type the request carried: NT-PRINCIPAL here.
    assert_eq!(kt.entries()[0].principal.name_type, name_type::PRINCIPAL);
}

#[test]
fn parses_mit_sha2_keytabs() {
    let kt = Keytab::parse(MIT_HOST_SHA2).unwrap();
    let etypes: Vec<i32> = kt.entries().iter().map(|e| e.key.enctype()).collect();
    assert_eq!(etypes, [20, 19, 18, 17, 20, 19, 18, 17]);
    assert_eq!(kt.entries()[0].key.bytes().len(), 32);
    assert_eq!(kt.entries()[1].key.bytes().len(), 16);

    let alice = Keytab::parse(MIT_ALICE_SHA2).unwrap();
    assert_eq!(alice.principals().len(), 1);
    assert_eq!(alice.principals()[0].to_string(), "alice@EXAMPLE.TEST");
}

#[test]
fn parses_mit_keytab_with_hole() {
    // The first record is a 72-byte hole (length -72) left by the deletion.
    assert_eq!(&MIT_WITH_HOLE[2..6], &(-72i32).to_be_bytes());
    let kt = Keytab::parse(MIT_WITH_HOLE).unwrap();
    let listed: Vec<(String, u32, i32)> = kt
        .entries()
        .iter()
        .map(|e| (e.principal.to_string(), e.kvno, e.key.enctype()))
        .collect();
    assert_eq!(
        listed,
        [
            ("alice@EXAMPLE.TEST".to_string(), 2, 18),
            ("nfs/server.example.test@EXAMPLE.TEST".to_string(), 258, 20),
        ]
    );
    assert_eq!(kt.entries()[1].key.bytes(), (0u8..32).collect::<Vec<u8>>());
}

#[test]
fn parses_mit_keytab_with_reused_hole() {
    // The 72-byte record now contains a 56-byte entry and 16 bytes of zeros.
    assert_eq!(&MIT_REUSED_HOLE[2..6], &72i32.to_be_bytes());
    let kt = Keytab::parse(MIT_REUSED_HOLE).unwrap();
    let first = &kt.entries()[0];
    assert_eq!(first.principal.to_string(), "a@EXAMPLE.TEST");
    assert_eq!(first.kvno, 5);
    assert_eq!(first.key.enctype(), 17);
    assert_eq!(
        first.key.bytes(),
        hex::decode("00112233445566778899aabbccddeeff").unwrap()
    );
    assert_eq!(kt.entries().len(), 3);
    assert_eq!(kt.entries()[2].kvno, 258);

    // Written back, the keytab is compact: no hole, no padding.
    let compact = kt.to_bytes().unwrap();
    assert!(compact.len() < MIT_REUSED_HOLE.len());
    assert_eq!(Keytab::parse(&compact).unwrap(), kt);
}

#[test]
fn mit_keytab_round_trips_byte_for_byte() {
    for data in [MIT_HOST_SHA1, MIT_HOST_SHA2, MIT_ALICE_SHA2] {
        let kt = Keytab::parse(data).unwrap();
        assert_eq!(kt.to_bytes().unwrap(), data);
    }
}

#[test]
fn skips_holes_and_record_padding() {
    let kt = keytab(vec![entry("a@R", 5, 18, 1), entry("b@R", 6, 17, 2)]);
    let bytes = kt.to_bytes().unwrap();
    let first_len = i32::from_be_bytes(bytes[2..6].try_into().unwrap()) as usize;

    // A hole of 7 bytes, then the first entry in a record 9 bytes longer
    // than its contents, then the second entry.
    let mut data = bytes[..2].to_vec();
    data.extend_from_slice(&(-7i32).to_be_bytes());
    data.extend_from_slice(&[0; 7]);
    data.extend_from_slice(&((first_len + 9) as i32).to_be_bytes());
    data.extend_from_slice(&bytes[6..6 + first_len]);
    data.extend_from_slice(&[0; 9]);
    data.extend_from_slice(&bytes[6 + first_len..]);

    let parsed = Keytab::parse(&data).unwrap();
    assert_eq!(parsed, kt);
}

#[test]
fn zero_length_ends_keytab() {
    let kt = keytab(vec![entry("a@R", 5, 18, 1)]);
    let mut data = kt.to_bytes().unwrap();
    data.extend_from_slice(&[0, 0, 0, 0, 0xde, 0xad]);
    assert_eq!(Keytab::parse(&data).unwrap(), kt);
}

#[test]
fn zero_32bit_kvno_keeps_8bit_kvno() {
    let kt = keytab(vec![entry("a@R", 7, 18, 1)]);
    let mut data = kt.to_bytes().unwrap();
    let len = data.len();
    data[len - 4..].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(Keytab::parse(&data).unwrap().entries()[0].kvno, 7);

    // Without the 32-bit field at all (record shortened by four bytes).
    let mut short = data[..len - 4].to_vec();
    let rec_len = i32::from_be_bytes(short[2..6].try_into().unwrap()) - 4;
    short[2..6].copy_from_slice(&rec_len.to_be_bytes());
    assert_eq!(Keytab::parse(&short).unwrap().entries()[0].kvno, 7);
}

#[test]
fn large_kvno_uses_32bit_field() {
    let kt = keytab(vec![entry("a@R", 0x1_0203, 18, 1)]);
    let data = kt.to_bytes().unwrap();
    let parsed = Keytab::parse(&data).unwrap();
    assert_eq!(parsed.entries()[0].kvno, 0x1_0203);
    // The 8-bit field contains the low byte.
    let kvno8_offset = data.len() - 4 - 16 - 2 - 2 - 1;
    assert_eq!(data[kvno8_offset], 0x03);
}

#[test]
fn parses_version_1_native_order() {
    // Version 1: native byte order, realm counted among the components,
    // no name type.
    let mut rec = Vec::new();
    rec.extend_from_slice(&2u16.to_ne_bytes());
    rec.extend_from_slice(&1u16.to_ne_bytes());
    rec.extend_from_slice(b"R");
    rec.extend_from_slice(&3u16.to_ne_bytes());
    rec.extend_from_slice(b"bob");
    rec.extend_from_slice(&1000u32.to_ne_bytes());
    rec.push(4);
    rec.extend_from_slice(&17u16.to_ne_bytes());
    rec.extend_from_slice(&16u16.to_ne_bytes());
    rec.extend_from_slice(&[9; 16]);
    let mut data = vec![0x05, 0x01];
    data.extend_from_slice(&(rec.len() as i32).to_ne_bytes());
    data.extend_from_slice(&rec);

    let kt = Keytab::parse(&data).unwrap();
    let e = &kt.entries()[0];
    assert_eq!(e.principal.to_string(), "bob@R");
    assert_eq!(e.principal.name_type, name_type::UNKNOWN);
    assert_eq!(e.timestamp, 1000);
    assert_eq!(e.kvno, 4);
    assert_eq!(e.key.enctype(), 17);
}

#[test]
fn rejects_bad_version_with_offset() {
    let err = Keytab::parse(&[0x05, 0x03]).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::Invalid {
            field: "keytab version",
            offset: 0,
            ..
        }
    ));
    assert!(err.to_string().contains("0x0503"), "{err}");
}

#[test]
fn truncated_entry_names_field() {
    let data = Keytab::parse(MIT_HOST_SHA1).unwrap().to_bytes().unwrap();
    // Cut inside the first record: its length promises more than is there.
    let err = Keytab::parse(&data[..20]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Truncated {
                field: "entry",
                offset: 6,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn every_prefix_parses_or_errors() {
    for data in [MIT_HOST_SHA1, MIT_HOST_SHA2, MIT_WITH_HOLE, MIT_REUSED_HOLE] {
        for len in 0..data.len() {
            if let Err(e) = Keytab::parse(&data[..len]) {
                assert!(e.to_string().contains("offset"), "{e}");
            }
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5000 {
        let mut data = MIT_HOST_SHA2.to_vec();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % data.len();
            data[i] ^= 1 << (rng.next() % 8);
        }
        if let Ok(kt) = Keytab::parse(&data) {
            // Whatever parses must encode and parse back the same.
            let again = Keytab::parse(&kt.to_bytes().unwrap()).unwrap();
            assert_eq!(again, kt);
        }
    }
}

#[test]
fn component_count_zero_rejected() {
    let mut data = keytab(vec![entry("a@R", 1, 18, 1)]).to_bytes().unwrap();
    data[6..8].copy_from_slice(&[0, 0]);
    let err = Keytab::parse(&data).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::Invalid {
            field: "principal component count",
            offset: 6,
            ..
        }
    ));
}

#[test]
fn hole_of_min_length_rejected() {
    let mut data = vec![0x05, 0x02];
    data.extend_from_slice(&i32::MIN.to_be_bytes());
    assert!(Keytab::parse(&data).is_err());
}

#[test]
fn select_highest_kvno_without_kvno() {
    let kt = keytab(vec![
        entry("nfs/h@R", 2, 18, 10),
        entry("nfs/h@R", 4, 18, 30),
        entry("nfs/h@R", 3, 18, 20),
    ]);
    assert_eq!(
        kt.find_key(Some(&principal("nfs/h@R")), None, 18)
            .unwrap()
            .kvno,
        4
    );
    // A kvno of zero means "any", as MIT's IGNORE_VNO does.
    assert_eq!(
        kt.find_key(Some(&principal("nfs/h@R")), Some(0), 18)
            .unwrap()
            .kvno,
        4
    );
}

#[test]
fn select_treats_wrapped_kvno_as_newer() {
    // 255 written first, then the kvno wrapped to 1: 1 is the current key.
    let kt = keytab(vec![entry("a@R", 255, 18, 100), entry("a@R", 1, 18, 200)]);
    assert_eq!(kt.find_key(None, None, 18).unwrap().kvno, 1);

    // Same kvnos but 255 is the newer write: no wrap, 255 wins.
    let kt = keytab(vec![entry("a@R", 1, 18, 100), entry("a@R", 255, 18, 200)]);
    assert_eq!(kt.find_key(None, None, 18).unwrap().kvno, 255);

    // Written in the same second: the small kvno counts as wrapped.
    let kt = keytab(vec![entry("a@R", 250, 18, 100), entry("a@R", 2, 18, 100)]);
    assert_eq!(kt.find_key(None, None, 18).unwrap().kvno, 2);
    let kt = keytab(vec![entry("a@R", 2, 18, 100), entry("a@R", 250, 18, 100)]);
    assert_eq!(kt.find_key(None, None, 18).unwrap().kvno, 2);

    // Between 128 and 240 there is no wrap heuristic.
    let kt = keytab(vec![entry("a@R", 200, 18, 100), entry("a@R", 2, 18, 200)]);
    assert_eq!(kt.find_key(None, None, 18).unwrap().kvno, 200);
}

#[test]
fn select_exact_kvno() {
    let kt = keytab(vec![
        entry("a@R", 2, 18, 1),
        entry("a@R", 3, 18, 2),
        entry("a@R", 3, 17, 2),
    ]);
    let e = kt.find_key(Some(&principal("a@R")), Some(2), 18).unwrap();
    assert_eq!((e.kvno, e.key.enctype()), (2, 18));
    let e = kt.find_key(Some(&principal("a@R")), Some(3), 17).unwrap();
    assert_eq!((e.kvno, e.key.enctype()), (3, 17));
}

#[test]
fn select_matches_truncated_8bit_kvno() {
    // An entry written with only the 8-bit kvno (258 stored as 2) matches a
    // request for 258, but an exact 258 later in the file is preferred.
    let kt = keytab(vec![entry("a@R", 2, 18, 1)]);
    assert_eq!(kt.find_key(None, Some(258), 18).unwrap().kvno, 2);

    let kt = keytab(vec![entry("a@R", 2, 18, 1), entry("a@R", 258, 18, 2)]);
    assert_eq!(kt.find_key(None, Some(258), 18).unwrap().kvno, 258);

    // The first truncated match is kept when there is no exact one.
    let mut first = entry("a@R", 2, 18, 1);
    first.key = Key::from_raw(18, vec![0xaa; 32]);
    let kt = keytab(vec![first, entry("a@R", 2, 18, 2)]);
    assert_eq!(
        kt.find_key(None, Some(258), 18).unwrap().key.bytes()[0],
        0xaa
    );

    // A request for 2 does not match an entry with kvno 258.
    let kt = keytab(vec![entry("a@R", 258, 18, 1)]);
    assert!(kt.find_key(None, Some(2), 18).is_none());
}

#[test]
fn select_entry_with_kvno_zero_matches_any_kvno() {
    let kt = keytab(vec![entry("a@R", 0, 18, 1)]);
    assert_eq!(kt.find_key(None, Some(7), 18).unwrap().kvno, 0);
}

#[test]
fn select_filters_enctype() {
    let kt = keytab(vec![entry("a@R", 2, 17, 1), entry("a@R", 2, 18, 1)]);
    assert_eq!(kt.find_key(None, None, 18).unwrap().key.enctype(), 18);
    assert_eq!(kt.find_key(None, None, 17).unwrap().key.enctype(), 17);
    assert!(kt
        .find_key(None, None, enctype::AES256_CTS_HMAC_SHA384_192)
        .is_none());
    // Enctype 0 takes any; among equal kvnos the first entry stays.
    assert_eq!(kt.find_key(None, None, 0).unwrap().key.enctype(), 17);
}

#[test]
fn select_filters_principal_ignoring_name_type() {
    let kt = keytab(vec![
        entry("host/h@R", 9, 18, 1),
        entry("nfs/h@R", 2, 18, 1),
    ]);
    let mut wanted = Principal::host_service("nfs", "h", "R");
    wanted.name_type = name_type::SRV_HST;
    assert_eq!(kt.find_key(Some(&wanted), None, 18).unwrap().kvno, 2);
    assert!(kt
        .find_key(Some(&principal("nfs/h@OTHER")), None, 18)
        .is_none());
    assert!(kt.find_key(Some(&principal("nfs/x@R")), None, 18).is_none());
    // Without a principal the highest kvno over all principals wins.
    assert_eq!(kt.find_key(None, None, 18).unwrap().kvno, 9);
}

#[test]
fn select_reports_wrong_kvno() {
    let kt = keytab(vec![entry("a@R", 2, 18, 1), entry("a@R", 3, 18, 1)]);
    let err = kt
        .select_key(Some(&principal("a@R")), Some(5), 18)
        .unwrap_err();
    assert_eq!(
        err,
        KeyLookupError::WrongKvno {
            principal: "a@R".into(),
            enctype_note: " with enctype aes256-cts-hmac-sha1-96".into(),
            kvno: 5,
            present: vec![2, 3],
        }
    );
    let err = kt
        .select_key(Some(&principal("b@R")), Some(5), 18)
        .unwrap_err();
    assert!(matches!(err, KeyLookupError::NoEntry { .. }));
    assert!(err.to_string().contains("b@R"), "{err}");
}

#[test]
fn names_resolve_to_paths() {
    let n = KeytabName::parse("FILE:/etc/krb5.keytab").unwrap();
    assert_eq!(n.path, PathBuf::from("/etc/krb5.keytab"));
    assert!(!n.writable);
    assert!(KeytabName::parse("WRFILE:/k").unwrap().writable);
    assert_eq!(
        KeytabName::parse("/a:b").unwrap().path,
        PathBuf::from("/a:b")
    );
    assert_eq!(KeytabName::parse("kt").unwrap().path, PathBuf::from("kt"));
    assert!(matches!(
        KeytabName::parse("MEMORY:x"),
        Err(KeytabError::UnsupportedType { .. })
    ));
    assert!(matches!(
        KeytabName::parse("FILE:"),
        Err(KeytabError::EmptyPath { .. })
    ));
}

#[test]
fn save_and_load_file() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("rgssd-kt-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("test.keytab");
    let kt = keytab(vec![entry("a@R", 2, 18, 1), entry("b/c@R", 300, 17, 2)]);
    kt.save(&format!("FILE:{}", path.display())).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(Keytab::load(path.to_str().unwrap()).unwrap(), kt);

    fs::write(&path, [0x05, 0x02, 0, 0, 0, 9, 0]).unwrap();
    let err = Keytab::load(path.to_str().unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("test.keytab") && text.contains("offset 6"),
        "{text}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remove_entries_by_kvno() {
    let mut kt = keytab(vec![
        entry("a@R", 1, 18, 1),
        entry("a@R", 2, 18, 1),
        entry("b@R", 1, 18, 1),
    ]);
    assert_eq!(kt.remove_entries(&principal("a@R"), Some(1)), 1);
    assert_eq!(kt.entries().len(), 2);
    assert_eq!(kt.remove_entries(&principal("a@R"), None), 1);
    assert_eq!(kt.entries()[0].principal.to_string(), "b@R");
}

#[test]
fn debug_hides_key_bytes() {
    let e = entry("a@R", 1, 18, 1);
    let text = format!("{e:?}");
    assert!(!text.contains("[1, 1"), "{text}");
}
