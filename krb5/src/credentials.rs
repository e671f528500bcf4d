//! A service ticket with its session key, as the KDC client returns it and
//! as credential caches store it.

use crate::crypto::Key;
use crate::principal::Principal;

/// Ticket flags (RFC 4120 §5.3), as the bit values of the 32-bit flags word
/// that caches store, where RFC bit 0 is the most significant bit.
pub mod ticket_flags {
    pub const FORWARDABLE: u32 = 0x4000_0000;
    pub const FORWARDED: u32 = 0x2000_0000;
    pub const PROXIABLE: u32 = 0x1000_0000;
    pub const PROXY: u32 = 0x0800_0000;
    pub const MAY_POSTDATE: u32 = 0x0400_0000;
    pub const POSTDATED: u32 = 0x0200_0000;
    pub const INVALID: u32 = 0x0100_0000;
    pub const RENEWABLE: u32 = 0x0080_0000;
    pub const INITIAL: u32 = 0x0040_0000;
    pub const PRE_AUTHENT: u32 = 0x0020_0000;
    pub const HW_AUTHENT: u32 = 0x0010_0000;
    pub const TRANSITED_POLICY_CHECKED: u32 = 0x0008_0000;
    pub const OK_AS_DELEGATE: u32 = 0x0004_0000;
    pub const ENC_PA_REP: u32 = 0x0001_0000;
    pub const ANONYMOUS: u32 = 0x0000_8000;
}

/// A host address as caches and tickets carry it (RFC 4120 §7.5.3 types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddress {
    pub addr_type: i32,
    pub address: Vec<u8>,
}

/// One authorization-data element (RFC 4120 §5.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthData {
    pub ad_type: i32,
    pub data: Vec<u8>,
}

/// A ticket and what the client knows about it. Times are seconds since the
/// Unix epoch; zero means absent, as in MIT's cache format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub client: Principal,
    pub server: Principal,
    pub session_key: Key,
    pub authtime: u32,
    pub starttime: u32,
    pub endtime: u32,
    pub renew_till: u32,
    /// True for a ticket encrypted in another ticket's session key (user-to-user).
    pub is_skey: bool,
    pub flags: u32,
    pub addresses: Vec<HostAddress>,
    pub authdata: Vec<AuthData>,
    /// The DER encoding of the Ticket.
    pub ticket: Vec<u8>,
    /// The DER encoding of the second ticket, for user-to-user; empty otherwise.
    pub second_ticket: Vec<u8>,
}

impl Credential {
    /// Returns true if the ticket's end time has passed at `now` (seconds since the epoch).
    pub fn is_expired(&self, now: u32) -> bool {
        self.endtime <= now
    }
}
