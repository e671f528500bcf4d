//! Differential tests against MIT krb5's libk5crypto, loaded at run time:
//! for every compiled-in enctype, what one side encrypts or checksums the
//! other decrypts or verifies, and string-to-key and PRF give equal bytes.
//!
//! The tests fail, rather than skip, when the library cannot be loaded.

mod mit_k5crypto;

use krb5::crypto::{self, Checksum, Key};
use mit_k5crypto::Mit;

fn mit() -> Mit {
    match Mit::load() {
        Ok(mit) => mit,
        Err(e) => panic!("MIT libk5crypto is needed for these tests: {e}"),
    }
}

fn enctypes() -> Vec<i32> {
    crypto::profile::all().map(|p| p.enctype).collect()
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    getrandom::fill(&mut buf).unwrap();
    buf
}

fn random_u32() -> u32 {
    getrandom::u32().unwrap()
}

/// Returns a random key usage: mostly the RFC 4120 and RFC 4121 numbers,
/// sometimes a large one.
fn random_usage() -> u32 {
    match random_u32() % 4 {
        0 => random_u32() % (1 << 31),
        _ => 1 + random_u32() % 30,
    }
}

/// Plaintext lengths: every length up to 300 and a few large ones.
fn lengths() -> impl Iterator<Item = usize> {
    (0..=300).chain([1021, 4096, 65536 + 7])
}

#[test]
fn every_enctype_compiled_in() {
    let mut expected = vec![18, 17, 20, 19, 26, 25];
    if cfg!(feature = "legacy-enctypes") {
        expected.extend([16, 23]);
    }
    assert_eq!(enctypes(), expected);
}

#[test]
fn mit_decrypts_ours() {
    let mit = mit();
    for enctype in enctypes() {
        for len in lengths() {
            let key = Key::random(enctype).unwrap();
            let usage = random_usage();
            let plaintext = random_bytes(len);
            let ciphertext = key.encrypt(usage, &plaintext).unwrap();

            let decrypted = mit
                .decrypt(enctype, key.bytes(), usage as i32, &ciphertext)
                .unwrap_or_else(|code| panic!("MIT decrypt failed: enctype {enctype}, length {len}, usage {usage}, error {code}"));
            let profile = key.profile().unwrap();
            let padded =
                profile.ciphertext_length(len) - profile.mac_length - profile.confounder_length;
            assert_eq!(decrypted.len(), padded, "enctype {enctype}, length {len}");
            assert_eq!(
                &decrypted[..len],
                &plaintext[..],
                "enctype {enctype}, length {len}"
            );
        }
    }
}

#[test]
fn ours_decrypts_mit() {
    let mit = mit();
    for enctype in enctypes() {
        for len in lengths() {
            let key = Key::random(enctype).unwrap();
            let usage = random_usage();
            let plaintext = random_bytes(len);
            let ciphertext = mit
                .encrypt(enctype, key.bytes(), usage as i32, &plaintext)
                .unwrap_or_else(|code| {
                    panic!("MIT encrypt failed: enctype {enctype}, error {code}")
                });
            assert_eq!(
                ciphertext.len(),
                key.profile().unwrap().ciphertext_length(len),
                "enctype {enctype}, length {len}"
            );

            let decrypted = key.decrypt(usage, &ciphertext).unwrap_or_else(|e| {
                panic!("decrypt failed: enctype {enctype}, length {len}, usage {usage}: {e}")
            });
            assert_eq!(
                &decrypted[..len],
                &plaintext[..],
                "enctype {enctype}, length {len}"
            );

            let mut altered = ciphertext.clone();
            let index = random_u32() as usize % altered.len();
            altered[index] ^= 0x80;
            assert!(
                key.decrypt(usage, &altered).is_err(),
                "altered ciphertext accepted: enctype {enctype}, length {len}, byte {index}"
            );
        }
    }
}

#[test]
fn checksums_verify_both_ways() {
    let mit = mit();
    for enctype in enctypes() {
        for len in lengths().step_by(7) {
            let key = Key::random(enctype).unwrap();
            let usage = random_usage();
            let data = random_bytes(len);

            let ours = key.checksum(usage, &data).unwrap();
            let valid = mit
                .verify_checksum(
                    ours.cksumtype,
                    enctype,
                    key.bytes(),
                    usage as i32,
                    &data,
                    &ours.value,
                )
                .unwrap_or_else(|code| {
                    panic!("MIT verify failed: enctype {enctype}, error {code}")
                });
            assert!(
                valid,
                "MIT rejects our checksum: enctype {enctype}, length {len}, usage {usage}"
            );

            let theirs = mit
                .checksum(ours.cksumtype, enctype, key.bytes(), usage as i32, &data)
                .unwrap_or_else(|code| {
                    panic!("MIT checksum failed: enctype {enctype}, error {code}")
                });
            assert_eq!(
                theirs, ours.value,
                "enctype {enctype}, length {len}, usage {usage}"
            );
            let theirs = Checksum {
                cksumtype: ours.cksumtype,
                value: theirs,
            };
            key.verify_checksum(usage, &data, &theirs).unwrap();
        }
    }
}

#[test]
fn string_to_key_matches_mit() {
    let mit = mit();
    for enctype in enctypes() {
        let profile = crypto::profile::find(enctype).unwrap();
        for round in 0..3 {
            let password_len = 1 + random_u32() as usize % 40;
            // rc4-hmac needs UTF-8 passwords, so use printable ASCII.
            let password: Vec<u8> = random_bytes(password_len)
                .iter()
                .map(|b| b' ' + b % 95)
                .collect();
            let salt = random_bytes(random_u32() as usize % 40);
            let params: Option<Vec<u8>> = match (round, profile.default_s2kparams.is_empty()) {
                (_, true) | (0, false) => None,
                _ => {
                    let default = u32::from_be_bytes(profile.default_s2kparams.try_into().unwrap());
                    Some((default + random_u32() % 100).to_be_bytes().to_vec())
                }
            };

            let ours = Key::from_password(enctype, &password, &salt, params.as_deref()).unwrap();
            let theirs = mit
                .string_to_key(enctype, &password, &salt, params.as_deref())
                .unwrap_or_else(|code| {
                    panic!("MIT string-to-key failed: enctype {enctype}, error {code}")
                });
            assert_eq!(
                ours.bytes(),
                &theirs[..],
                "enctype {enctype}, round {round}"
            );
        }
    }
}

#[test]
fn string_to_key_rejects_weak_params() {
    for profile in crypto::profile::all() {
        if profile.default_s2kparams.is_empty() {
            assert!(
                Key::from_password(profile.enctype, b"pw", b"salt", Some(&[0, 0, 0, 1])).is_err()
            );
            continue;
        }
        let default = u32::from_be_bytes(profile.default_s2kparams.try_into().unwrap());
        for count in [0, 1, default - 1, 1 << 24, u32::MAX] {
            let result =
                Key::from_password(profile.enctype, b"pw", b"salt", Some(&count.to_be_bytes()));
            assert!(
                result.is_err(),
                "enctype {}, count {count}",
                profile.enctype
            );
        }
        assert!(Key::from_password(profile.enctype, b"pw", b"salt", Some(&[0, 16])).is_err());
    }
}

#[test]
fn prf_matches_mit() {
    let mit = mit();
    for enctype in enctypes() {
        for len in [0, 1, 15, 16, 17, 64, 300] {
            let key = Key::random(enctype).unwrap();
            let input = random_bytes(len);
            let ours = key.prf(&input).unwrap();
            let theirs = mit
                .prf(enctype, key.bytes(), &input)
                .unwrap_or_else(|code| panic!("MIT PRF failed: enctype {enctype}, error {code}"));
            assert_eq!(ours, theirs, "enctype {enctype}, input length {len}");
            assert_eq!(ours.len(), key.profile().unwrap().prf_length);
        }
    }
}

/// One key used for many messages under interleaved key usages, more than
/// the derived-key cache holds, so that cached and evicted keys are both
/// exercised.
#[test]
fn one_key_many_usages_matches_mit() {
    let mit = mit();
    for enctype in enctypes() {
        let key = Key::random(enctype).unwrap();
        for round in 0..60 {
            let usage = 1 + random_u32() % 24;
            let plaintext = random_bytes(round * 3);

            let ours = key.encrypt(usage, &plaintext).unwrap();
            let decrypted = mit
                .decrypt(enctype, key.bytes(), usage as i32, &ours)
                .unwrap_or_else(|code| {
                    panic!("MIT decrypt failed: enctype {enctype}, usage {usage}, error {code}")
                });
            assert_eq!(
                &decrypted[..plaintext.len()],
                &plaintext[..],
                "enctype {enctype}, usage {usage}"
            );

            let theirs = mit
                .encrypt(enctype, key.bytes(), usage as i32, &plaintext)
                .unwrap();
            let decrypted = key.decrypt(usage, &theirs).unwrap();
            assert_eq!(
                &decrypted[..plaintext.len()],
                &plaintext[..],
                "enctype {enctype}, usage {usage}"
            );

            let checksum = key.checksum(usage, &plaintext).unwrap();
            let expected = mit
                .checksum(
                    checksum.cksumtype,
                    enctype,
                    key.bytes(),
                    usage as i32,
                    &plaintext,
                )
                .unwrap();
            assert_eq!(checksum.value, expected, "enctype {enctype}, usage {usage}");
        }
    }
}
