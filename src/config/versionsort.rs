//! glibc's `strverscmp`, the order `versionsort` gives to `scandir` and so
//! the order in which nfs-utils reads the files of a `.d` directory.
//!
//! Digit runs compare by value, so `9-a.conf` sorts before `10-b.conf`. A
//! run with leading zeros reads as a fraction and sorts before any run
//! without: `000 < 00 < 01 < 010 < 09 < 0 < 1 < 9 < 10`.

use std::cmp::Ordering;

/// Scanner states, each a multiple of 3 so that adding a character class
/// (0 other, 1 non-zero digit, 2 zero) indexes the tables.
const NORMAL: usize = 0;
const INTEGRAL: usize = 3;
const FRACTIONAL: usize = 6;
const LEADING_ZEROS: usize = 9;

/// The state after a matching character, by state plus its class.
const NEXT_STATE: [usize; 12] = [
    NORMAL,
    INTEGRAL,
    LEADING_ZEROS, // normal
    NORMAL,
    INTEGRAL,
    INTEGRAL, // integral part
    NORMAL,
    FRACTIONAL,
    FRACTIONAL, // fractional part
    NORMAL,
    FRACTIONAL,
    LEADING_ZEROS, // leading zeros only
];

#[derive(Clone, Copy)]
enum Decision {
    /// Compare the differing bytes.
    Bytes,
    /// The longer digit run is larger; equal lengths compare the bytes.
    Length,
    Less,
    Greater,
}

/// The decision at the first difference, by (state plus the class of the
/// left byte) times 3 plus the class of the right byte.
const DECISION: [Decision; 36] = {
    use Decision::{Bytes as B, Greater as G, Length as L, Less as S};
    [
        // normal: x/x x/d x/0 d/x d/d d/0 0/x 0/d 0/0
        B, B, B, B, L, B, B, B, B, //
        // integral part
        B, S, S, G, L, L, G, L, L, //
        // fractional part
        B, B, B, B, B, B, B, B, B, //
        // leading zeros only
        B, G, G, S, B, B, S, B, B, //
    ]
};

fn class(byte: u8) -> usize {
    match byte {
        b'0' => 2,
        b'1'..=b'9' => 1,
        _ => 0,
    }
}

/// Compares two names as glibc's `strverscmp` does. A name ends at its
/// end or at a NUL byte, as a C string would.
pub fn compare(left: &[u8], right: &[u8]) -> Ordering {
    let at = |bytes: &[u8], index: usize| bytes.get(index).copied().unwrap_or(0);

    let mut index = 0;
    let mut c1 = at(left, 0);
    let mut c2 = at(right, 0);
    let mut state = NORMAL + class(c1);
    while c1 == c2 {
        if c1 == 0 {
            return Ordering::Equal;
        }
        state = NEXT_STATE[state];
        index += 1;
        c1 = at(left, index);
        c2 = at(right, index);
        state += class(c1);
    }

    let by_bytes = c1.cmp(&c2);
    match DECISION[state * 3 + class(c2)] {
        Decision::Bytes => by_bytes,
        Decision::Less => Ordering::Less,
        Decision::Greater => Ordering::Greater,
        Decision::Length => {
            // The digit run that goes on longer is the larger number.
            let mut offset = index + 1;
            loop {
                let left_digit = at(left, offset).is_ascii_digit();
                let right_digit = at(right, offset).is_ascii_digit();
                match (left_digit, right_digit) {
                    (true, true) => offset += 1,
                    (true, false) => return Ordering::Greater,
                    (false, true) => return Ordering::Less,
                    (false, false) => return by_bytes,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorted as glibc 2.36's strverscmp orders them (checked through
    /// Python's ctypes on Debian 12).
    const GLIBC_ORDER: [&str; 20] = [
        "",
        "000",
        "00",
        "01",
        "010",
        "09",
        "0",
        "1",
        "9",
        "10",
        "10-a.conf",
        "10a.conf",
        "10b.conf",
        "11.conf",
        "99-z.conf",
        "100.conf",
        "a.conf",
        "a1.conf",
        "a2.conf",
        "a10.conf",
    ];

    #[test]
    fn glibc_order_kept() {
        for (i, left) in GLIBC_ORDER.iter().enumerate() {
            for (j, right) in GLIBC_ORDER.iter().enumerate() {
                assert_eq!(
                    compare(left.as_bytes(), right.as_bytes()),
                    i.cmp(&j),
                    "{left:?} vs {right:?}"
                );
            }
        }
    }

    #[test]
    fn numbers_by_value() {
        assert_eq!(compare(b"9-local.conf", b"10-vendor.conf"), Ordering::Less);
        assert_eq!(compare(b"nfs2.conf", b"nfs10.conf"), Ordering::Less);
        assert_eq!(compare(b"same", b"same"), Ordering::Equal);
        assert_eq!(compare(b"a", b"b"), Ordering::Less);
    }
}
