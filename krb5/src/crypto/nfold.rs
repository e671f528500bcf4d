//! The n-fold operation of RFC 3961 §5.1.
//!
//! n-fold stretches or shrinks a byte string to `n` bits. The input is
//! repeated until its length is the least common multiple of its own length
//! and `n`, each repetition rotated 13 bits further to the right than the
//! one before. The resulting `n`-bit chunks are then added with
//! ones'-complement (end-around carry) addition.

/// Folds `input` to `out_len` bytes. An empty input or output gives zeros.
pub fn nfold(input: &[u8], out_len: usize) -> Vec<u8> {
    let mut out = vec![0u8; out_len];
    if input.is_empty() || out_len == 0 {
        return out;
    }
    let copies = rotated_copies(input, lcm(input.len(), out_len));

    // Carry of the multi-precision sum, propagated from the last byte of each
    // chunk towards its first byte, and across chunks end-around.
    let mut carry: u32 = 0;
    for chunk in copies.chunks_exact(out_len) {
        for (sum, byte) in out.iter_mut().zip(chunk).rev() {
            carry += u32::from(*sum) + u32::from(*byte);
            *sum = (carry & 0xff) as u8;
            carry >>= 8;
        }
    }

    while carry != 0 {
        for byte in out.iter_mut().rev() {
            carry += u32::from(*byte);
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
    }
    out
}

/// Returns `total` bytes (a multiple of the input length): copy `k` of
/// `input` rotated right by 13·k bits, for k = 0, 1, ..., where bit 0 is the
/// most significant bit of the first byte. Each copy needs one division for
/// its rotation, so the per-byte work is a shift and an or.
fn rotated_copies(input: &[u8], total: usize) -> Vec<u8> {
    let length = input.len();
    let bits = length * 8;
    let mut copies = Vec::with_capacity(total);
    for copy in 0..total / length {
        // Bit `i` of the rotated copy is bit `i - rotation` of the input, so
        // the copy starts at input bit `bits - rotation`.
        let start = (bits - (13 * copy) % bits) % bits;
        let shift = start % 8;
        let mut index = start / 8;
        for _ in 0..length {
            let next = if index + 1 == length { 0 } else { index + 1 };
            let byte = if shift == 0 {
                input[index]
            } else {
                (input[index] << shift) | (input[next] >> (8 - shift))
            };
            copies.push(byte);
            index = next;
        }
    }
    copies
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::nfold;

    fn check(input: &[u8], bits: usize, expected: &str) {
        assert_eq!(
            hex::encode(nfold(input, bits / 8)),
            expected,
            "{bits}-fold({input:?})"
        );
    }

    /// RFC 3961 appendix A.1.
    #[test]
    fn rfc3961_appendix_a1() {
        check(b"012345", 64, "be072631276b1955");
        check(b"password", 56, "78a07b6caf85fa");
        check(b"Rough Consensus, and Running Code", 64, "bb6ed30870b7f0e0");
        check(
            b"password",
            168,
            "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e",
        );
        check(
            b"MASSACHVSETTS INSTITVTE OF TECHNOLOGY",
            192,
            "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b",
        );
        check(b"Q", 168, "518a54a215a8452a518a54a215a8452a518a54a215");
        check(b"ba", 168, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e");
        check(b"kerberos", 64, "6b65726265726f73");
        check(b"kerberos", 128, "6b65726265726f737b9b5b2b93132b93");
        check(
            b"kerberos",
            168,
            "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4",
        );
        check(
            b"kerberos",
            256,
            "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4",
        );
    }
}
