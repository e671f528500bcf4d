//! Conversions between the wire types and the crate's [`Principal`],
//! [`Key`] and [`Credential`].

use rasn_kerberos::{
    EncKdcRepPart, EncryptionKey, HostAddress as WireHostAddress, KerberosString, KrbCredInfo,
    PrincipalName, Realm, Ticket, TicketFlags,
};

use super::{encode, flags, time, MessageError};
use crate::credentials::{Credential, HostAddress};
use crate::crypto::Key;
use crate::principal::Principal;

/// Converts a string to a KerberosString.
///
/// NOTE: `rasn` restricts GeneralString to ISO 8859-1 graphic characters, so a
/// UTF-8 name whose bytes include 0x80-0xA0 cannot be sent or received.
pub fn kerberos_string(
    text: &str,
    asn1_type: &'static str,
    field: &'static str,
) -> Result<KerberosString, MessageError> {
    KerberosString::from_bytes(text.as_bytes()).map_err(|e| MessageError::Encode {
        asn1_type,
        reason: format!("{field} {text:?} is not a valid GeneralString: {e}"),
    })
}

/// Converts a KerberosString to a `String`, requiring UTF-8.
pub fn string(
    value: &KerberosString,
    asn1_type: &'static str,
    field: &'static str,
) -> Result<String, MessageError> {
    String::from_utf8(value.as_bytes().to_vec())
        .map_err(|_| MessageError::NotUtf8 { asn1_type, field })
}

/// Splits a principal into its wire PrincipalName and Realm.
pub fn principal_name(principal: &Principal) -> Result<(PrincipalName, Realm), MessageError> {
    let components = principal
        .components
        .iter()
        .map(|c| kerberos_string(c, "PrincipalName", "name-string"))
        .collect::<Result<Vec<_>, _>>()?;
    let name = PrincipalName {
        r#type: principal.name_type,
        string: components,
    };
    let realm = kerberos_string(&principal.realm, "Realm", "realm")?;
    Ok((name, realm))
}

/// Joins a wire PrincipalName and Realm into a principal.
pub fn principal(name: &PrincipalName, realm: &Realm) -> Result<Principal, MessageError> {
    let components = name
        .string
        .iter()
        .map(|c| string(c, "PrincipalName", "name-string"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Principal {
        name_type: name.r#type,
        components,
        realm: string(realm, "Realm", "realm")?,
    })
}

/// Converts a wire EncryptionKey to a [`Key`], which zeroes its bytes on drop.
pub fn key(value: &EncryptionKey) -> Key {
    Key::from_raw(value.r#type, value.value.to_vec())
}

/// Converts a [`Key`] to a wire EncryptionKey.
///
/// NOTE: `rasn` types do not zero key bytes on drop. Callers encode the
/// result at once and drop it.
pub fn encryption_key(key: &Key) -> EncryptionKey {
    EncryptionKey {
        r#type: key.enctype(),
        value: key.bytes().to_vec().into(),
    }
}

/// Builds the Credential for a ticket from a KDC reply: `client` is the
/// (checked) cname of the reply, `ticket` its ticket and `part` the
/// decrypted EncKDCRepPart.
pub fn credential(
    client: Principal,
    ticket: &Ticket,
    part: &EncKdcRepPart,
) -> Result<Credential, MessageError> {
    let server = principal(&part.sname, &part.srealm)?;
    let addresses = part
        .caddr
        .as_ref()
        .map(|list| list.iter().map(host_address).collect())
        .unwrap_or_default();
    Ok(Credential {
        client,
        server,
        session_key: key(&part.key),
        authtime: time::to_u32(&part.auth_time),
        starttime: part.start_time.as_ref().map_or(0, time::to_u32),
        endtime: time::to_u32(&part.end_time),
        renew_till: part.renew_till.as_ref().map_or(0, time::to_u32),
        is_skey: false,
        flags: flags::to_u32(&part.flags.0),
        addresses,
        authdata: Vec::new(),
        ticket: encode(ticket, "Ticket")?,
        second_ticket: Vec::new(),
    })
}

/// Builds the KrbCredInfo that describes `credential` inside a KRB-CRED
/// (RFC 4120 §5.8.1), as when forwarding a TGT.
pub fn krb_cred_info(credential: &Credential) -> Result<KrbCredInfo, MessageError> {
    let (pname, prealm) = principal_name(&credential.client)?;
    let (sname, srealm) = principal_name(&credential.server)?;
    let optional_time = |seconds: u32| {
        (seconds != 0)
            .then(|| time::from_unix(i64::from(seconds)))
            .transpose()
    };
    let caddr = (!credential.addresses.is_empty()).then(|| {
        credential
            .addresses
            .iter()
            .map(|a| WireHostAddress {
                addr_type: a.addr_type,
                address: a.address.clone().into(),
            })
            .collect()
    });
    Ok(KrbCredInfo {
        key: encryption_key(&credential.session_key),
        prealm: Some(prealm),
        pname: Some(pname),
        flags: Some(TicketFlags(flags::from_u32(credential.flags))),
        auth_time: optional_time(credential.authtime)?,
        start_time: optional_time(credential.starttime)?,
        end_time: optional_time(credential.endtime)?,
        renew_till: optional_time(credential.renew_till)?,
        srealm: Some(srealm),
        sname: Some(sname),
        caddr,
    })
}

/// Builds the Credential for one ticket of a received KRB-CRED from its
/// KrbCredInfo and the DER of its Ticket. The client and server names are
/// required here although RFC 4120 makes them optional, because a cache
/// entry needs both.
pub fn credential_from_krb_cred_info(
    info: &KrbCredInfo,
    ticket: &Ticket,
) -> Result<Credential, MessageError> {
    let missing = |field: &'static str| MessageError::UnexpectedValue {
        asn1_type: "KrbCredInfo",
        field,
        actual: "absent".to_string(),
        expected: "present".to_string(),
    };
    let client = principal(
        info.pname.as_ref().ok_or_else(|| missing("pname"))?,
        info.prealm.as_ref().ok_or_else(|| missing("prealm"))?,
    )?;
    let server = principal(
        info.sname.as_ref().ok_or_else(|| missing("sname"))?,
        info.srealm.as_ref().ok_or_else(|| missing("srealm"))?,
    )?;
    Ok(Credential {
        client,
        server,
        session_key: key(&info.key),
        authtime: info.auth_time.as_ref().map_or(0, time::to_u32),
        starttime: info.start_time.as_ref().map_or(0, time::to_u32),
        endtime: info.end_time.as_ref().map_or(0, time::to_u32),
        renew_till: info.renew_till.as_ref().map_or(0, time::to_u32),
        is_skey: false,
        flags: info.flags.as_ref().map_or(0, |f| flags::to_u32(&f.0)),
        addresses: info
            .caddr
            .as_ref()
            .map(|list| list.iter().map(host_address).collect())
            .unwrap_or_default(),
        authdata: Vec::new(),
        ticket: encode(ticket, "Ticket")?,
        second_ticket: Vec::new(),
    })
}

fn host_address(address: &WireHostAddress) -> HostAddress {
    HostAddress {
        addr_type: address.addr_type,
        address: address.address.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_round_trip() {
        let p = Principal::parse("nfs/server.example.test@EXAMPLE.TEST", None).unwrap();
        let (name, realm) = principal_name(&p).unwrap();
        assert_eq!(name.r#type, 1);
        assert_eq!(name.string.len(), 2);
        assert_eq!(realm.as_bytes(), b"EXAMPLE.TEST");
        assert_eq!(principal(&name, &realm).unwrap(), p);
    }

    #[test]
    fn krb_cred_info_round_trip() {
        let ticket = Ticket {
            tkt_vno: 5.into(),
            realm: kerberos_string("EXAMPLE.TEST", "Ticket", "realm").unwrap(),
            sname: principal_name(&Principal::krbtgt("EXAMPLE.TEST", "EXAMPLE.TEST"))
                .unwrap()
                .0,
            enc_part: rasn_kerberos::EncryptedData {
                etype: 18,
                kvno: Some(2),
                cipher: vec![9; 64].into(),
            },
        };
        let credential = Credential {
            client: Principal::parse("alice@EXAMPLE.TEST", None).unwrap(),
            server: Principal::krbtgt("EXAMPLE.TEST", "EXAMPLE.TEST"),
            session_key: Key::from_raw(18, vec![5; 32]),
            authtime: 1_700_000_000,
            starttime: 1_700_000_100,
            endtime: 1_700_086_400,
            renew_till: 0,
            is_skey: false,
            flags: 0x6000_0000,
            addresses: vec![HostAddress {
                addr_type: 2,
                address: vec![127, 0, 0, 1],
            }],
            authdata: Vec::new(),
            ticket: encode(&ticket, "Ticket").unwrap(),
            second_ticket: Vec::new(),
        };
        let info = krb_cred_info(&credential).unwrap();
        assert_eq!(info.renew_till, None);
        let der = encode(&info, "KrbCredInfo").unwrap();
        let info: KrbCredInfo = super::super::decode(&der, "KrbCredInfo").unwrap();
        assert_eq!(
            credential_from_krb_cred_info(&info, &ticket).unwrap(),
            credential
        );

        let without_client = KrbCredInfo {
            pname: None,
            ..info
        };
        assert!(matches!(
            credential_from_krb_cred_info(&without_client, &ticket),
            Err(MessageError::UnexpectedValue { field: "pname", .. })
        ));
    }

    #[test]
    fn rejects_non_utf8_names() {
        let name = PrincipalName {
            r#type: 1,
            string: vec![KerberosString::from_bytes(&[0xe9]).unwrap()],
        };
        let realm = KerberosString::from_bytes(b"R").unwrap();
        assert!(matches!(
            principal(&name, &realm),
            Err(MessageError::NotUtf8 { .. })
        ));
    }
}
