//! Contents of PA-DATA elements (RFC 4120 §5.2.7) and of the METHOD-DATA
//! that a KRB-ERROR carries in its e-data.

use rasn::prelude::*;
use rasn_kerberos::{EtypeInfo2Entry, EtypeInfoEntry, KrbError, PaData, PaEncTsEnc};

use super::{decode, encode, MessageError};
use crate::iana::pa_type;

/// KERB-PA-PAC-REQUEST (MS-KILE §2.2.3), padata-type 128: requests that the KDC
/// include a PAC in the ticket, or leave it out.
#[derive(AsnType, Clone, Debug, Decode, Encode, PartialEq, Eq)]
pub struct PaPacRequest {
    #[rasn(tag(explicit(0)))]
    pub include_pac: bool,
}

/// Returns the first PA-DATA element of `padata_type` in `list`.
pub fn find(list: &[PaData], padata_type: i32) -> Option<&PaData> {
    list.iter().find(|pa| pa.r#type == padata_type)
}

/// Builds a PA-DATA element from a type and its DER value.
pub fn new(padata_type: i32, value: Vec<u8>) -> PaData {
    PaData {
        r#type: padata_type,
        value: value.into(),
    }
}

/// Builds the PA-PAC-REQUEST element.
pub fn pac_request(include_pac: bool) -> Result<PaData, MessageError> {
    let value = encode(&PaPacRequest { include_pac }, "PA-PAC-REQUEST")?;
    Ok(new(pa_type::PAC_REQUEST, value))
}

/// Decodes the value of a PA-PAC-REQUEST element.
pub fn decode_pac_request(input: &[u8]) -> Result<PaPacRequest, MessageError> {
    decode(input, "PA-PAC-REQUEST")
}

/// Decodes the METHOD-DATA in a KRB-ERROR's e-data.
pub fn decode_method_data(input: &[u8]) -> Result<Vec<PaData>, MessageError> {
    decode(input, "METHOD-DATA")
}

/// Returns the METHOD-DATA of a KRB-ERROR, or an empty list when it has no
/// e-data or the e-data is not METHOD-DATA (some errors carry TYPED-DATA).
pub fn error_method_data(error: &KrbError) -> Vec<PaData> {
    error
        .e_data
        .as_ref()
        .and_then(|data| decode_method_data(data).ok())
        .unwrap_or_default()
}

/// Decodes the value of a PA-ETYPE-INFO2 element.
pub fn decode_etype_info2(input: &[u8]) -> Result<Vec<EtypeInfo2Entry>, MessageError> {
    decode(input, "ETYPE-INFO2")
}

/// Decodes the value of a PA-ETYPE-INFO element.
pub fn decode_etype_info(input: &[u8]) -> Result<Vec<EtypeInfoEntry>, MessageError> {
    decode(input, "ETYPE-INFO")
}

/// Decodes the plaintext of a PA-ENC-TIMESTAMP.
pub fn decode_pa_enc_ts_enc(input: &[u8]) -> Result<PaEncTsEnc, MessageError> {
    decode(input, "PA-ENC-TS-ENC")
}

/// Encodes the plaintext of a PA-ENC-TIMESTAMP for `seconds` and `microseconds`.
pub fn encode_pa_enc_ts_enc(seconds: i64, microseconds: u32) -> Result<Vec<u8>, MessageError> {
    let value = PaEncTsEnc {
        patimestamp: super::time::from_unix(seconds)?,
        pausec: Some(Integer::from(i64::from(microseconds))),
    };
    encode(&value, "PA-ENC-TS-ENC")
}

/// The salt and string-to-key parameters of one enctype's long-term key,
/// from ETYPE-INFO2 or ETYPE-INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaltInfo {
    pub enctype: i32,
    /// The salt; `None` means the default salt (RFC 4120 §4).
    pub salt: Option<Vec<u8>>,
    /// The string-to-key parameters; `None` means the enctype's default.
    pub s2kparams: Option<Vec<u8>>,
}

/// Reads the salts a KDC offers in `padata`, preferring PA-ETYPE-INFO2 over
/// PA-ETYPE-INFO as RFC 4120 §5.2.7.5 requires. An element that does not decode is an error.
pub fn salt_infos(padata: &[PaData]) -> Result<Vec<SaltInfo>, MessageError> {
    if let Some(pa) = find(padata, pa_type::ETYPE_INFO2) {
        let entries = decode_etype_info2(&pa.value)?;
        return Ok(entries
            .into_iter()
            .map(|entry| SaltInfo {
                enctype: entry.etype,
                salt: entry.salt.map(|s| s.as_bytes().to_vec()),
                s2kparams: entry.s2kparams.map(|p| p.to_vec()),
            })
            .collect());
    }
    if let Some(pa) = find(padata, pa_type::ETYPE_INFO) {
        let entries = decode_etype_info(&pa.value)?;
        return Ok(entries
            .into_iter()
            .map(|entry| SaltInfo {
                enctype: entry.etype,
                salt: entry.salt.map(|s| s.to_vec()),
                s2kparams: None,
            })
            .collect());
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pac_request_encoding() {
        let pa = pac_request(true).unwrap();
        assert_eq!(pa.r#type, 128);
        // SEQUENCE { [0] BOOLEAN TRUE } in DER.
        assert_eq!(&pa.value[..], &[0x30, 0x05, 0xa0, 0x03, 0x01, 0x01, 0xff]);
        assert_eq!(
            decode_pac_request(&pa.value).unwrap(),
            PaPacRequest { include_pac: true }
        );
    }

    #[test]
    fn salt_infos_prefer_etype_info2() {
        let info2 = vec![EtypeInfo2Entry {
            etype: 18,
            salt: Some(rasn_kerberos::KerberosString::from_bytes(b"EXAMPLE.TESTalice").unwrap()),
            s2kparams: Some(vec![0, 0, 0x10, 0].into()),
        }];
        let info = vec![EtypeInfoEntry {
            etype: 17,
            salt: None,
        }];
        let padata = vec![
            new(pa_type::ETYPE_INFO, encode(&info, "ETYPE-INFO").unwrap()),
            new(pa_type::ETYPE_INFO2, encode(&info2, "ETYPE-INFO2").unwrap()),
        ];
        let salts = salt_infos(&padata).unwrap();
        assert_eq!(
            salts,
            [SaltInfo {
                enctype: 18,
                salt: Some(b"EXAMPLE.TESTalice".to_vec()),
                s2kparams: Some(vec![0, 0, 0x10, 0]),
            }]
        );
        let salts = salt_infos(&padata[..1]).unwrap();
        assert_eq!(salts[0].enctype, 17);
        assert_eq!(salts[0].salt, None);
    }

    #[test]
    fn pa_enc_ts_enc_round_trip() {
        let der = encode_pa_enc_ts_enc(1_704_164_645, 123_456).unwrap();
        let value = decode_pa_enc_ts_enc(&der).unwrap();
        assert_eq!(
            super::super::time::to_unix(&value.patimestamp),
            1_704_164_645
        );
        assert_eq!(value.pausec, Some(Integer::from(123_456)));
    }
}
