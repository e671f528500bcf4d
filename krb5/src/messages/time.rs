//! KerberosTime (RFC 4120 §5.2.3): a GeneralizedTime in UTC, to the second.

use rasn_kerberos::KerberosTime;

use super::MessageError;

/// Converts seconds since the Unix epoch to a KerberosTime.
///
/// Fails for times outside years 0-9999, which GeneralizedTime cannot write
/// with four year digits.
pub fn from_unix(seconds: i64) -> Result<KerberosTime, MessageError> {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    const MIN: i64 = -62_167_219_200;
    const MAX: i64 = 253_402_300_799;
    let out_of_range = || MessageError::Encode {
        asn1_type: "KerberosTime",
        reason: format!("{seconds} seconds since the epoch is outside years 0-9999"),
    };
    if !(MIN..=MAX).contains(&seconds) {
        return Err(out_of_range());
    }
    let time = chrono::DateTime::from_timestamp(seconds, 0).ok_or_else(out_of_range)?;
    Ok(KerberosTime(time.fixed_offset()))
}

/// Returns the seconds since the Unix epoch of a KerberosTime.
pub fn to_unix(time: &KerberosTime) -> i64 {
    time.0.timestamp()
}

/// Converts a KerberosTime to the unsigned 32-bit seconds of MIT's cache
/// format, clamping times before 1970 to 0 and after 2106 to `u32::MAX`.
pub fn to_u32(time: &KerberosTime) -> u32 {
    let seconds = to_unix(time).max(0);
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// Returns the current time in seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(elapsed) => i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_without_fraction() {
        let time = from_unix(1_704_164_645).unwrap();
        let der = super::super::encode(&time, "KerberosTime").unwrap();
        assert_eq!(&der[..2], &[0x18, 15]);
        assert_eq!(&der[2..], b"20240102030405Z");
    }

    #[test]
    fn decode_round_trip() {
        let der = {
            let mut v = vec![0x18, 15];
            v.extend_from_slice(b"20370101000000Z");
            v
        };
        let time: KerberosTime = super::super::decode(&der, "KerberosTime").unwrap();
        assert_eq!(to_unix(&time), 2_114_380_800);
        assert_eq!(to_u32(&time), 2_114_380_800);
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(from_unix(253_402_300_800).is_err());
        assert!(from_unix(-62_167_219_201).is_err());
        assert!(from_unix(253_402_300_799).is_ok());
    }

    #[test]
    fn clamps_to_u32() {
        assert_eq!(to_u32(&from_unix(-5).unwrap()), 0);
        assert_eq!(to_u32(&from_unix(5_000_000_000).unwrap()), u32::MAX);
    }
}
