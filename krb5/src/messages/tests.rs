use rasn::types::Integer;

use super::*;
use crate::iana::{msg_type, pa_type};

fn kstring(text: &str) -> KerberosString {
    KerberosString::from_bytes(text.as_bytes()).unwrap()
}

fn name(components: &[&str]) -> PrincipalName {
    PrincipalName {
        r#type: 1,
        string: components.iter().map(|c| kstring(c)).collect(),
    }
}

fn ktime(seconds: i64) -> KerberosTime {
    time::from_unix(seconds).unwrap()
}

fn encrypted(etype: i32, kvno: Option<u32>, len: usize) -> EncryptedData {
    EncryptedData {
        etype,
        kvno,
        cipher: vec![0xa5; len].into(),
    }
}

fn sample_ticket() -> Ticket {
    Ticket {
        tkt_vno: Integer::from(5),
        realm: kstring("EXAMPLE.TEST"),
        sname: name(&["krbtgt", "EXAMPLE.TEST"]),
        enc_part: encrypted(18, Some(1), 200),
    }
}

fn sample_kdc_rep(message_type: i32) -> KdcRep {
    KdcRep {
        pvno: Integer::from(5),
        msg_type: Integer::from(message_type),
        padata: Some(vec![padata::new(pa_type::ETYPE_INFO2, vec![0x30, 0x00])]),
        crealm: kstring("EXAMPLE.TEST"),
        cname: name(&["alice"]),
        ticket: sample_ticket(),
        enc_part: encrypted(18, Some(1), 180),
    }
}

fn sample_enc_kdc_rep_part() -> EncKdcRepPart {
    EncKdcRepPart {
        key: EncryptionKey {
            r#type: 18,
            value: vec![7; 32].into(),
        },
        last_req: vec![LastReqValue {
            r#type: 0,
            value: ktime(1_700_000_000),
        }],
        nonce: 0x7fff_1234,
        key_expiration: None,
        flags: TicketFlags(flags::from_u32(0x40e1_0000)),
        auth_time: ktime(1_700_000_000),
        start_time: Some(ktime(1_700_000_000)),
        end_time: ktime(1_700_086_400),
        renew_till: Some(ktime(1_700_604_800)),
        srealm: kstring("EXAMPLE.TEST"),
        sname: name(&["krbtgt", "EXAMPLE.TEST"]),
        caddr: None,
        encrypted_pa_data: None,
    }
}

fn sample_krb_error() -> KrbError {
    let method_data = vec![
        padata::new(
            pa_type::ETYPE_INFO2,
            encode(
                &vec![EtypeInfo2Entry {
                    etype: 18,
                    salt: Some(kstring("EXAMPLE.TESTalice")),
                    s2kparams: None,
                }],
                "ETYPE-INFO2",
            )
            .unwrap(),
        ),
        padata::new(pa_type::ENC_TIMESTAMP, Vec::new()),
    ];
    KrbError {
        pvno: Integer::from(5),
        msg_type: Integer::from(msg_type::KRB_ERROR),
        ctime: None,
        cusec: None,
        stime: ktime(1_700_000_000),
        susec: Integer::from(12),
        error_code: error_code::KDC_ERR_PREAUTH_REQUIRED,
        crealm: None,
        cname: Some(name(&["alice"])),
        realm: kstring("EXAMPLE.TEST"),
        sname: name(&["krbtgt", "EXAMPLE.TEST"]),
        e_text: None,
        e_data: Some(encode(&method_data, "METHOD-DATA").unwrap().into()),
    }
}

fn sample_kdc_req(message_type: i32) -> KdcReq {
    KdcReq {
        pvno: Integer::from(5),
        msg_type: Integer::from(message_type),
        padata: Some(vec![padata::pac_request(true).unwrap()]),
        req_body: KdcReqBody {
            kdc_options: KdcOptions(flags::from_u32(flags::kdc_options::FORWARDABLE)),
            cname: Some(name(&["alice"])),
            realm: kstring("EXAMPLE.TEST"),
            sname: Some(name(&["krbtgt", "EXAMPLE.TEST"])),
            from: None,
            till: ktime(1_700_086_400),
            rtime: None,
            nonce: 42,
            etype: vec![18, 17],
            addresses: None,
            enc_authorization_data: None,
            additional_tickets: None,
        },
    }
}

use rasn_kerberos::KdcOptions;

/// A deterministic xorshift generator, so mutation tests are reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `decoder` on every truncation of `message` and on mutations of it;
/// none may panic and no truncation may decode.
fn assert_robust<T>(message: &[u8], decoder: fn(&[u8]) -> Result<T, MessageError>) {
    for len in 0..message.len() {
        assert!(
            decoder(&message[..len]).is_err(),
            "truncation to {len} of {} bytes decoded",
            message.len()
        );
    }

    let mut extended = message.to_vec();
    extended.push(0);
    assert!(decoder(&extended).is_err(), "trailing byte accepted");

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut mutated = message.to_vec();
        let changes = 1 + rng.next() % 4;
        for _ in 0..changes {
            let at = (rng.next() % mutated.len() as u64) as usize;
            match rng.next() % 4 {
                0 => mutated[at] = rng.next() as u8,
                1 => mutated[at] ^= 1 << (rng.next() % 8),
                2 => {
                    mutated.remove(at);
                    if mutated.is_empty() {
                        mutated.push(0);
                    }
                }
                _ => mutated.insert(at, rng.next() as u8),
            }
        }
        let _ = decoder(&mutated);
    }
}

#[test]
fn as_rep_round_trip() {
    let rep = sample_kdc_rep(msg_type::AS_REP);
    let der = encode_as_rep(&rep).unwrap();
    assert_eq!(der[0], 0x6b);
    assert_eq!(decode_kdc_reply(&der).unwrap(), KdcReply::AsRep(rep));
}

#[test]
fn tgs_rep_round_trip() {
    let rep = sample_kdc_rep(msg_type::TGS_REP);
    let der = encode_tgs_rep(&rep).unwrap();
    assert_eq!(der[0], 0x6d);
    assert_eq!(decode_kdc_reply(&der).unwrap(), KdcReply::TgsRep(rep));
}

#[test]
fn krb_error_round_trip_with_method_data() {
    let error = sample_krb_error();
    let der = encode(&error, "KRB-ERROR").unwrap();
    let KdcReply::Error(decoded) = decode_kdc_reply(&der).unwrap() else {
        panic!("not decoded as KRB-ERROR");
    };
    assert_eq!(decoded.error_code, 25);
    let method_data = padata::error_method_data(&decoded);
    assert_eq!(method_data.len(), 2);
    let salts = padata::salt_infos(&method_data).unwrap();
    assert_eq!(salts[0].enctype, 18);
    assert_eq!(salts[0].salt.as_deref(), Some(&b"EXAMPLE.TESTalice"[..]));
}

#[test]
fn kdc_reply_rejects_other_messages() {
    let der = encode_as_req(&sample_kdc_req(msg_type::AS_REQ)).unwrap();
    assert!(matches!(
        decode_kdc_reply(&der),
        Err(MessageError::UnexpectedMessage {
            identifier: 0x6a,
            ..
        })
    ));
    assert!(decode_kdc_reply(&[]).is_err());
}

#[test]
fn kdc_reply_checks_msg_type() {
    // An AS-REP tag around a KDC-REP whose msg-type is TGS-REP.
    let der = encode_as_rep(&sample_kdc_rep(msg_type::TGS_REP)).unwrap();
    assert!(matches!(
        decode_kdc_reply(&der),
        Err(MessageError::UnexpectedValue {
            field: "msg-type",
            ..
        })
    ));
}

#[test]
fn kdc_req_round_trip() {
    let req = sample_kdc_req(msg_type::AS_REQ);
    let der = encode_as_req(&req).unwrap();
    assert_eq!(decode_as_req(&der).unwrap(), req);
    let req = sample_kdc_req(msg_type::TGS_REQ);
    let der = encode_tgs_req(&req).unwrap();
    assert_eq!(decode_tgs_req(&der).unwrap(), req);
}

#[test]
fn enc_kdc_rep_part_accepts_both_tags() {
    let part = sample_enc_kdc_rep_part();
    let as_der = encode(&EncAsRepPart(part.clone()), "EncASRepPart").unwrap();
    let tgs_der = encode(&EncTgsRepPart(part.clone()), "EncTGSRepPart").unwrap();
    assert_eq!(as_der[0], 0x79);
    assert_eq!(tgs_der[0], 0x7a);
    assert_eq!(
        decode_enc_kdc_rep_part(&as_der).unwrap(),
        (part.clone(), EncKdcRepPartTag::EncAsRepPart)
    );
    assert_eq!(
        decode_enc_kdc_rep_part(&tgs_der).unwrap(),
        (part, EncKdcRepPartTag::EncTgsRepPart)
    );
}

#[test]
fn minimal_enc_ap_rep_part() {
    // [APPLICATION 27] SEQUENCE { [0] ctime, [1] cusec 0 }, no subkey, no seq-number.
    let mut der = vec![0x7b, 0x1a, 0x30, 0x18, 0xa0, 0x11, 0x18, 0x0f];
    der.extend_from_slice(b"20240102030405Z");
    der.extend_from_slice(&[0xa1, 0x03, 0x02, 0x01, 0x00]);
    let part = decode_enc_ap_rep_part(&der).unwrap();
    assert_eq!(time::to_unix(&part.ctime), 1_704_164_645);
    assert_eq!(part.cusec, Integer::from(0));
    assert_eq!(part.subkey, None);
    assert_eq!(part.seq_number, None);
    assert_eq!(encode(&part, "EncAPRepPart").unwrap(), der);
}

#[test]
fn ap_req_and_authenticator_round_trip() {
    let authenticator = Authenticator {
        authenticator_vno: Integer::from(5),
        crealm: kstring("EXAMPLE.TEST"),
        cname: name(&["alice"]),
        cksum: Some(Checksum {
            r#type: 16,
            checksum: vec![1; 12].into(),
        }),
        cusec: Integer::from(999_999),
        ctime: ktime(1_700_000_000),
        subkey: Some(EncryptionKey {
            r#type: 18,
            value: vec![3; 32].into(),
        }),
        seq_number: Some(0xffff_ffff),
        authorization_data: None,
    };
    let der = encode(&authenticator, "Authenticator").unwrap();
    assert_eq!(decode_authenticator(&der).unwrap(), authenticator);

    let req = ApReq {
        pvno: Integer::from(5),
        msg_type: Integer::from(msg_type::AP_REQ),
        ap_options: rasn_kerberos::ApOptions(flags::from_u32(flags::ap_options::MUTUAL_REQUIRED)),
        ticket: sample_ticket(),
        authenticator: encrypted(18, None, 120),
    };
    let der = encode(&req, "AP-REQ").unwrap();
    assert_eq!(decode_ap_req(&der).unwrap(), req);

    let rep = ApRep {
        pvno: Integer::from(5),
        msg_type: Integer::from(msg_type::AP_REP),
        enc_part: encrypted(18, None, 60),
    };
    let der = encode(&rep, "AP-REP").unwrap();
    assert_eq!(decode_ap_rep(&der).unwrap(), rep);
}

#[test]
fn ticket_and_enc_ticket_part_round_trip() {
    let ticket = sample_ticket();
    let der = encode(&ticket, "Ticket").unwrap();
    assert_eq!(decode_ticket(&der).unwrap(), ticket);

    let part = EncTicketPart {
        flags: TicketFlags(flags::from_u32(0x4000_0000)),
        key: EncryptionKey {
            r#type: 17,
            value: vec![1; 16].into(),
        },
        crealm: kstring("EXAMPLE.TEST"),
        cname: name(&["alice"]),
        transited: TransitedEncoding {
            r#type: 1,
            contents: Vec::new().into(),
        },
        auth_time: ktime(1_700_000_000),
        start_time: None,
        end_time: ktime(1_700_086_400),
        renew_till: None,
        caddr: None,
        authorization_data: None,
    };
    let der = encode(&part, "EncTicketPart").unwrap();
    assert_eq!(decode_enc_ticket_part(&der).unwrap(), part);
}

#[test]
fn decoders_reject_fractional_time() {
    let der = encode_as_rep(&sample_kdc_rep(msg_type::AS_REP)).unwrap();
    assert!(decode_kdc_reply(&der).is_ok());

    let mut part = encode(&EncAsRepPart(sample_enc_kdc_rep_part()), "EncASRepPart").unwrap();
    let at = part
        .windows(2)
        .position(|w| w == [0x18, 0x0f])
        .expect("a KerberosTime in the sample");
    // Keep the length but replace the seconds with a fraction: "YYYYMMDDHHMM.5Z".
    part[at + 2 + 12..at + 2 + 15].copy_from_slice(b".5Z");
    assert!(matches!(
        decode_enc_kdc_rep_part(&part),
        Err(MessageError::InvalidTime { .. })
    ));
}

#[test]
fn decoders_survive_truncation_and_mutation() {
    assert_robust(
        &encode_as_rep(&sample_kdc_rep(msg_type::AS_REP)).unwrap(),
        decode_kdc_reply,
    );
    assert_robust(
        &encode(&sample_krb_error(), "KRB-ERROR").unwrap(),
        decode_kdc_reply,
    );
    assert_robust(
        &encode(&EncTgsRepPart(sample_enc_kdc_rep_part()), "EncTGSRepPart").unwrap(),
        decode_enc_kdc_rep_part,
    );
    assert_robust(
        &encode_tgs_req(&sample_kdc_req(msg_type::TGS_REQ)).unwrap(),
        decode_tgs_req,
    );
    assert_robust(&encode(&sample_ticket(), "Ticket").unwrap(), decode_ticket);
}

#[test]
fn real_mit_messages_decode() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/messages");
    let as_rep = std::fs::read(format!("{data}/mit-as-rep.der")).unwrap();
    let KdcReply::AsRep(rep) = decode_kdc_reply(&as_rep).unwrap() else {
        panic!("not an AS-REP");
    };
    assert_eq!(rep.crealm.as_bytes(), b"KRBTEST.COM");
    assert_robust(&as_rep, decode_kdc_reply);

    let error = std::fs::read(format!("{data}/mit-preauth-required.der")).unwrap();
    let KdcReply::Error(error_message) = decode_kdc_reply(&error).unwrap() else {
        panic!("not a KRB-ERROR");
    };
    assert_eq!(
        error_message.error_code,
        error_code::KDC_ERR_PREAUTH_REQUIRED
    );
    let salts = padata::salt_infos(&padata::error_method_data(&error_message)).unwrap();
    assert!(!salts.is_empty());
    assert_robust(&error, decode_kdc_reply);

    let req = std::fs::read(format!("{data}/mit-as-req-preauth.der")).unwrap();
    let req = decode_as_req(&req).unwrap();
    let padata = req.padata.unwrap_or_default();
    assert!(padata::find(&padata, pa_type::ENC_TIMESTAMP).is_some());
    assert_eq!(
        flags::to_u32(&req.req_body.kdc_options.0) & flags::kdc_options::FORWARDABLE,
        0
    );
}

#[test]
fn strip_cipher_padding_drops_only_block_filler() {
    let value = [0x30, 0x03, 0x02, 0x01, 0x05];
    let mut padded = value.to_vec();
    padded.extend_from_slice(&[0, 0, 0]);
    assert_eq!(strip_cipher_padding(&padded, 8), &value);
    assert_eq!(strip_cipher_padding(&padded, 1), padded.as_slice());
    assert_eq!(strip_cipher_padding(&value, 8), &value);

    let mut long = value.to_vec();
    long.extend_from_slice(&[0; 8]);
    assert_eq!(strip_cipher_padding(&long, 8), long.as_slice());
    assert_eq!(strip_cipher_padding(&[0x30, 0x84], 8), &[0x30, 0x84]);
    assert_eq!(
        strip_cipher_padding(&[0x30, 0x09, 0x02], 8),
        &[0x30, 0x09, 0x02]
    );
}
