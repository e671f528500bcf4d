//! SPKM-3 (RFC 2847): filled in with the mechanism trait.
