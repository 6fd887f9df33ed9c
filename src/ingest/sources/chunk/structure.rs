//! Where JSON text's structure is, 64 bytes at a time: the brackets, braces and commas that
//! lie outside strings. This is the first stage of simdjson (Langdale and Lemire, "Parsing
//! Gigabytes of JSON per Second", 2019): each class of byte becomes a bit mask of the block,
//! the escaped bytes are found by arithmetic on the backslash mask, and the insides of strings
//! by a prefix XOR of the unescaped quotes. The masks are built 16 bytes at a time with
//! `wide`'s vectors (SSE2 on x86-64, NEON on aarch64, plain code elsewhere), so that no byte
//! is looked at alone.

use wide::u8x16;

/// The bytes of a block that shape JSON outside strings; bit `i` is byte `i`. A backslash
/// escapes the byte after it wherever it is: outside strings JSON has none, so the text is
/// malformed there, and whatever element holds it is refused by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Structure {
    /// `{` and `[`.
    pub open: u64,
    /// `}` and `]`.
    pub close: u64,
    pub comma: u64,
}

/// Reads JSON text block after block: what a block's end leaves open (a string, an escape)
/// carries into the next.
#[derive(Debug, Default)]
pub(super) struct StructureScanner {
    /// All ones when the text so far ends inside a string.
    in_string: u64,
    /// 1 when the text so far ends with a backslash that escapes the next byte.
    escape_carry: u64,
}

/// The masks of one block's bytes, before strings are known.
struct ByteClasses {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
    comma: u64,
}

#[inline]
fn byte_classes(block: &[u8; 64]) -> ByteClasses {
    let (quote, backslash, comma) = (u8x16::splat(b'"'), u8x16::splat(b'\\'), u8x16::splat(b','));
    // '[' and ']' are '{' and '}' without the 0x20 bit: one comparison finds both
    let (case, open, close) = (u8x16::splat(0x20), u8x16::splat(b'{'), u8x16::splat(b'}'));
    let mut classes = ByteClasses { quote: 0, backslash: 0, open: 0, close: 0, comma: 0 };
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let v = u8x16::new(lane.try_into().expect("a 16-byte lane"));
        let folded = v | case;
        let bits = |eq: u8x16| u64::from(eq.move_mask() as u16) << (16 * k);
        classes.quote |= bits(v.cmp_eq(quote));
        classes.backslash |= bits(v.cmp_eq(backslash));
        classes.comma |= bits(v.cmp_eq(comma));
        classes.open |= bits(folded.cmp_eq(open));
        classes.close |= bits(folded.cmp_eq(close));
    }
    classes
}

/// Each bit the XOR of itself and every bit below it: between an opening quote (included)
/// and its closing quote (excluded), the bits are set.
fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

impl StructureScanner {
    /// The structure of the next 64 bytes of the text.
    #[inline]
    pub fn block(&mut self, block: &[u8; 64]) -> Structure {
        let classes = byte_classes(block);
        let escaped = self.escaped(classes.backslash);
        let inside = prefix_xor(classes.quote & !escaped) ^ self.in_string;
        self.in_string = ((inside as i64) >> 63) as u64;
        let outside = !(inside | escaped);
        Structure { open: classes.open & outside, close: classes.close & outside, comma: classes.comma & outside }
    }

    /// The bytes that a backslash escapes: the byte after each run of backslashes of odd
    /// length. A run of length L from bit s ends at bit s + L, so its length is odd exactly
    /// when s and s + L differ in parity; adding a run's first bit to the mask carries to
    /// s + L.
    fn escaped(&mut self, backslash: u64) -> u64 {
        const EVEN: u64 = 0x5555_5555_5555_5555;
        let carried = self.escape_carry;
        // a backslash escaped by the block before is no run's start
        let backslash = backslash & !carried;
        let starts = backslash & !(backslash << 1);
        let after_even_starts = backslash.wrapping_add(starts & EVEN) & !backslash;
        let (odd_sum, overflow) = backslash.overflowing_add(starts & !EVEN);
        let after_odd_starts = odd_sum & !backslash;
        // a run from an odd bit that reaches bit 63 ends at 64: odd, so it escapes the next
        // block's first byte (from an even bit it is even, and escapes nothing)
        self.escape_carry = u64::from(overflow);
        (after_even_starts & !EVEN) | (after_odd_starts & EVEN) | carried
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The structure of `text` byte by byte, as a JSON reader walks it: the reference the
    /// masks must equal.
    fn walk(text: &[u8]) -> Vec<Structure> {
        let mut blocks = vec![Structure { open: 0, close: 0, comma: 0 }; text.len().div_ceil(64)];
        let (mut in_string, mut escaped) = (false, false);
        for (i, b) in text.iter().enumerate() {
            let bit = 1u64 << (i % 64);
            let s = &mut blocks[i / 64];
            if escaped {
                escaped = false;
                continue;
            }
            if *b == b'\\' {
                // outside strings too: there the text is no JSON, and its parser will say so
                escaped = true;
                continue;
            }
            if in_string {
                in_string = *b != b'"';
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => s.open |= bit,
                b'}' | b']' => s.close |= bit,
                b',' => s.comma |= bit,
                _ => {}
            }
        }
        blocks
    }

    fn scan(text: &[u8]) -> Vec<Structure> {
        let mut scanner = StructureScanner::default();
        text.chunks(64)
            .map(|c| {
                let mut block = [b' '; 64];
                block[..c.len()].copy_from_slice(c);
                scanner.block(&block)
            })
            .collect()
    }

    #[test]
    fn brackets_braces_and_commas_inside_strings_are_no_structure() {
        let text = br#"[{"a": "x],}\"{\\", "b": [1, {"c": "\\\"]"}]}, 2]"#;
        let s = scan(text);
        assert_eq!(s, walk(text));
        let at = |mask: u64| (0..64).filter(|i| mask >> i & 1 == 1).map(|i| text[i] as char).collect::<String>();
        assert_eq!(at(s[0].open), "[{[{");
        assert_eq!(at(s[0].close), "}]}]");
        assert_eq!(at(s[0].comma), ",,,");
    }

    #[test]
    fn a_string_and_a_run_of_backslashes_carry_across_blocks() {
        // a string from the first block into the third, with a run of 5 backslashes that
        // ends the second block: the quote after it is escaped
        let mut text = b"[{\"k\": \"".to_vec();
        text.resize(123, b'x');
        text.extend_from_slice(br#"\\\\\"],{" }, {"m": 1}]"#);
        assert_eq!(text[123..128], *b"\\\\\\\\\\");
        assert_eq!(scan(&text), walk(&text));
        let third = scan(&text)[2];
        assert_eq!((third.open.count_ones(), third.close.count_ones()), (1, 3), "'],{{' is inside the string");
    }

    proptest! {
        #[test]
        fn the_masks_equal_a_walk_through_the_text(
            text in proptest::collection::vec(prop_oneof![
                4 => Just(b'"'), 4 => Just(b'\\'), 1 => Just(b'{'), 1 => Just(b'}'), 1 => Just(b'['),
                1 => Just(b']'), 2 => Just(b','), 4 => Just(b'a'), 1 => Just(b' '), 1 => any::<u8>(),
            ], 0..400)
        ) {
            prop_assert_eq!(scan(&text), walk(&text));
        }
    }
}
