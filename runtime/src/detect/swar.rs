//! Byte classes eight at a time in a `u64` ("SIMD within a register"):
//! exact per-byte flags (0x80 in each byte of the class), with no
//! `unsafe` and no carries between bytes.

/// 0x01 in every byte.
pub(super) const L: u64 = 0x0101_0101_0101_0101;
/// 0x80 in every byte.
pub(super) const H: u64 = 0x8080_8080_8080_8080;
/// 0x7F in every byte.
const LOW7: u64 = !H;

/// Eight bytes as a word, the first in the lowest byte.
pub(super) fn word(chunk: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(chunk.get(..8)?).ok().map(u64::from_le_bytes)
}

/// Whether any byte lies strictly between `m` and `n` (`n` at most 128):
/// Bit Twiddling Hacks' `hasbetween`, a test with no false negatives.
pub(super) fn any_between(w: u64, m: u8, n: u8) -> bool {
    let low = w & LOW7;
    (L * (127 + u64::from(n))).wrapping_sub(low) & !w & low.wrapping_add(L * (127 - u64::from(m))) & H != 0
}

/// 0x80 in each byte that is an ASCII digit.
pub(super) fn digits(w: u64) -> u64 {
    // Each byte's low seven bits plus a bias sets its bit 7 iff they reach
    // the bound; a sum stays below 0x100, so nothing carries.
    let low = w & LOW7;
    let at_least_zero = low.wrapping_add(L * (0x80 - u64::from(b'0')));
    let above_nine = low.wrapping_add(L * (0x80 - u64::from(b'9') - 1));
    at_least_zero & !above_nine & !w & H
}

/// 0x80 in each byte equal to `c`.
pub(super) fn equal(w: u64, c: u8) -> u64 {
    let x = w ^ (L * u64::from(c));
    // Bit 7 of `(x & 0x7F) + 0x7F` is set iff the low bits are not all zero.
    !(((x & LOW7).wrapping_add(LOW7)) | x) & H
}

/// The index of the first flagged byte (flags as [`digits`] gives them).
pub(super) fn first(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_exact_for_every_byte_in_every_lane() {
        // Each byte value in each lane, among neighbours that would carry
        // or borrow into it if the arithmetic leaked between bytes.
        for neighbour in [0x00u8, 0x2F, 0x30, 0x39, 0x3A, 0x7F, 0x80, 0xFF] {
            for lane in 0..8 {
                for c in 0..=255u8 {
                    let mut bytes = [neighbour; 8];
                    if let Some(b) = bytes.get_mut(lane) {
                        *b = c;
                    }
                    let w = u64::from_le_bytes(bytes);
                    let expect = |f: &dyn Fn(u8) -> bool| {
                        bytes.iter().enumerate().fold(0u64, |m, (k, b)| if f(*b) { m | 0x80 << (8 * k) } else { m })
                    };
                    assert_eq!(digits(w), expect(&|b| b.is_ascii_digit()), "digits {bytes:?}");
                    let (m, n) = (b'0' - 1, b'@' + 1);
                    assert_eq!(any_between(w, m, n), expect(&|b| b > m && b < n) != 0, "between {bytes:?}");
                    for target in [b':', b'@', 0, 0x80, 0xFF] {
                        assert_eq!(equal(w, target), expect(&|b| b == target), "equal {target} {bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn first_is_the_lowest_flagged_byte() {
        assert_eq!(first(0x80), 0);
        assert_eq!(first(0x80 << 24 | 0x80 << 40), 3);
        assert_eq!(first(H), 0);
        assert_eq!(first(0x8000_0000_0000_0000), 7);
    }
}
