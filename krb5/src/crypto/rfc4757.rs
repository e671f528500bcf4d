//! rc4-hmac (23), RFC 4757, as Microsoft and MIT krb5 implement it:
//! RC4 for confidentiality, HMAC-MD5 for integrity and checksums, and the
//! MD4 hash of the UTF-16LE password as the key. Deprecated: compiled only
//! with the `legacy-enctypes` feature.

use hmac::{Hmac, KeyInit, Mac};
use md4::Md4;
use md5::{Digest, Md5};
use rc4::{Rc4, StreamCipher};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::derived::DerivedKeys;
use super::profile::EnctypeOps;
use super::CryptoError;
use crate::iana::enctype;

const CONFOUNDER: usize = 8;
const CHECKSUM: usize = 16;

pub(crate) struct Rc4Hmac;

pub(crate) static RC4_HMAC: Rc4Hmac = Rc4Hmac;

/// Maps a Kerberos key usage to the number Microsoft uses (RFC 4757 §3,
/// and MIT krb5's `krb5int_arcfour_translate_usage`): the AS-REP encrypted
/// part (3) uses 8, and the GSS wrap token signature (23) uses 13.
fn translate_usage(usage: u32) -> u32 {
    match usage {
        3 => 8,
        23 => 13,
        other => other,
    }
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 16]> {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        mac.update(part);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// Applies the RC4 key stream of `key` to `buf`.
fn rc4_apply(key: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let mut rc4 = Rc4::new_from_slice(key).map_err(|_| CryptoError::KeyLength {
        enctype: enctype::RC4_HMAC,
        actual: key.len(),
        expected: 16,
    })?;
    rc4.apply_keystream(buf);
    Ok(())
}

/// Applies RC4 keyed with HMAC-MD5(HMAC-MD5(`key`, four zero bytes),
/// `salt`) to `buf`: the Kseq and Kcrypt derivations of RFC 4757 §7.2 and
/// §7.3 for the non-exportable enctype, where `salt` is the token checksum
/// or the big-endian sequence number.
pub(crate) fn gss_rc4(key: &[u8], salt: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let k1 = hmac_md5(key, &[&0u32.to_le_bytes()]);
    let k3 = hmac_md5(&k1[..], &[salt]);
    rc4_apply(&k3[..], buf)
}

impl Rc4Hmac {
    /// Decrypts with the usage key of one usage number, returning the
    /// plaintext (confounder included) if the checksum matches.
    fn try_decrypt(
        &self,
        key: &[u8],
        ms_usage: u32,
        ciphertext: &[u8],
    ) -> Result<Option<Vec<u8>>, CryptoError> {
        let (checksum, body) = ciphertext.split_at(CHECKSUM);
        let k1 = hmac_md5(key, &[&ms_usage.to_le_bytes()]);
        let k3 = hmac_md5(&k1[..], &[checksum]);
        let mut out = body.to_vec();
        rc4_apply(&k3[..], &mut out)?;
        let expected = hmac_md5(&k1[..], &[&out]);
        if bool::from(expected.ct_eq(checksum)) {
            Ok(Some(out))
        } else {
            Ok(None)
        }
    }
}

impl EnctypeOps for Rc4Hmac {
    fn random_to_key(&self, seed: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(seed.to_vec())
    }

    /// Computes MD4(UTF-16LE(password)). The salt is not used.
    fn string_to_key(
        &self,
        password: &[u8],
        _salt: &[u8],
        _params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let text = std::str::from_utf8(password).map_err(|e| CryptoError::InvalidPassword {
            enctype: enctype::RC4_HMAC,
            reason: format!("it is not valid UTF-8 ({e}), so it cannot be converted to UTF-16LE"),
        })?;
        let mut utf16 = Zeroizing::new(Vec::with_capacity(text.len() * 2));
        for unit in text.encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        Ok(Zeroizing::new(Md4::digest(&utf16[..]).to_vec()))
    }

    /// Produces checksum | RC4(K3, confounder | plaintext), with
    /// K1 = HMAC-MD5(key, usage), checksum = HMAC-MD5(K1, confounder |
    /// plaintext) and K3 = HMAC-MD5(K1, checksum).
    fn encrypt(
        &self,
        key: &[u8],
        _derived: &DerivedKeys,
        usage: u32,
        confounder: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let k1 = hmac_md5(key, &[&translate_usage(usage).to_le_bytes()]);
        let checksum = hmac_md5(&k1[..], &[confounder, plaintext]);
        let k3 = hmac_md5(&k1[..], &[&checksum[..]]);

        let mut out = Vec::with_capacity(CHECKSUM + confounder.len() + plaintext.len());
        out.extend_from_slice(&checksum[..]);
        out.extend_from_slice(confounder);
        out.extend_from_slice(plaintext);
        rc4_apply(&k3[..], &mut out[CHECKSUM..])?;
        Ok(out)
    }

    /// Decrypts and verifies the checksum. For usage 9 (the TGS-REP part
    /// under a subkey), usage number 8 is tried when 9 fails, because
    /// RFC 4757 names 8 but Windows uses 9.
    fn decrypt(
        &self,
        key: &[u8],
        _derived: &DerivedKeys,
        usage: u32,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.len() < CHECKSUM + CONFOUNDER {
            return Err(CryptoError::CiphertextTooShort {
                enctype: enctype::RC4_HMAC,
                len: ciphertext.len(),
            });
        }
        let ms_usage = translate_usage(usage);
        let mut plaintext = self.try_decrypt(key, ms_usage, ciphertext)?;
        if plaintext.is_none() && usage == 9 {
            plaintext = self.try_decrypt(key, 8, ciphertext)?;
        }
        let mut plaintext = plaintext.ok_or(CryptoError::IntegrityCheckFailed)?;
        plaintext.drain(..CONFOUNDER);
        Ok(plaintext)
    }

    /// Computes the hmac-md5 checksum (-138): HMAC-MD5(Ksign, MD5(usage |
    /// data)) with Ksign = HMAC-MD5(key, "signaturekey" and a zero byte).
    fn checksum(
        &self,
        key: &[u8],
        _derived: &DerivedKeys,
        usage: u32,
        data: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let ksign = hmac_md5(key, &[b"signaturekey\0"]);
        let mut hash = Md5::new();
        hash.update(translate_usage(usage).to_le_bytes());
        hash.update(data);
        let inner = hash.finalize();
        Ok(hmac_md5(&ksign[..], &[&inner[..]]).to_vec())
    }

    /// PRF = HMAC-SHA1(key, input), as MIT krb5 and Heimdal define it for
    /// rc4-hmac (RFC 4757 defines none).
    fn prf(&self, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(super::rfc3961::hmac_sha1(key, input).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use crate::crypto::{Checksum, Key};

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    // RFC 4757 publishes no test vectors, so these are known-answer tests.
    // tests/mit_crypto.rs checks the same operations against MIT krb5.

    #[test]
    fn encrypt_known_answer() {
        let key = Key::new(23, unhex("68f263db3fce15d031c9eab02d67107a")).unwrap();
        let plaintext = b"30 bytes bytes bytes bytes byt";
        let ciphertext = key
            .encrypt_with_confounder(4, &unhex("37245e73a45fbf72"), plaintext)
            .unwrap();
        assert_eq!(
            hex::encode(&ciphertext),
            "95f9047c3ad75891c2e9b04b16566dc8b6eb9ce4231afb2542ef87a7b5a0f260a99f0460508de0cecc632d07c354124e46c5d2234eb8"
        );
        assert_eq!(key.decrypt(4, &ciphertext).unwrap(), plaintext);
    }

    #[test]
    fn string_to_key_known_answer() {
        let key = Key::from_password(23, b"foo", b"ignored salt", None).unwrap();
        assert_eq!(hex::encode(key.bytes()), "ac8e657f83df82beea5d43bdaf7800cc");
    }

    #[test]
    fn string_to_key_rejects_invalid_utf8() {
        assert!(Key::from_password(23, b"\xff", b"", None).is_err());
    }

    #[test]
    fn checksum_known_answer() {
        let key = Key::new(23, unhex("f7d3a155af5e238a0b7a871a96ba2ab2")).unwrap();
        let data = b"seventeen eighteen nineteen twenty";
        let expected = Checksum {
            cksumtype: -138,
            value: unhex("eb38cc97e2230f59da4117dc5859d7ec"),
        };
        assert_eq!(key.checksum(6, data).unwrap(), expected);
        key.verify_checksum(6, data, &expected).unwrap();
    }

    #[test]
    fn decrypt_usage_9_accepts_usage_8() {
        let key = Key::random(23).unwrap();
        let ciphertext = key.encrypt(8, b"TGS-REP part").unwrap();
        assert_eq!(key.decrypt(9, &ciphertext).unwrap(), b"TGS-REP part");
        assert!(key.decrypt(10, &ciphertext).is_err());
    }
}
