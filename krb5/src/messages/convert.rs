//! Conversions between the wire types and the crate's [`Principal`],
//! [`Key`] and [`Credential`].

use rasn_kerberos::{
    EncKdcRepPart, EncryptionKey, HostAddress as WireHostAddress, KerberosString, PrincipalName,
    Realm, Ticket,
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
