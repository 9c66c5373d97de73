//! Replaces every occurrence of one secret in a byte stream, as the stream arrives, for
//! `fluxloop exec`'s masking of a child's output. Pure: no I/O, so every split is unit-tested.
//!
//! Output is held back only while it could still be the start of the secret: at most
//! `secret.len() - 1` bytes, released as soon as the next read decides. A line-buffered child
//! stays line-buffered, and a progress bar without newlines still shows.

use zeroize::Zeroizing;

/// A streaming find-and-replace of one secret. Feed reads to [`StreamMasker::push`], then
/// call [`StreamMasker::finish`] at end of stream.
pub struct StreamMasker {
    secret: Zeroizing<Vec<u8>>,
    replacement: Vec<u8>,
    /// The tail of the input so far that is a proper prefix of `secret`, not yet written.
    held: Zeroizing<Vec<u8>>,
}

impl StreamMasker {
    /// `secret` must not be empty; `replacement` is written in its place.
    pub fn new(secret: &[u8], replacement: impl Into<Vec<u8>>) -> Self {
        assert!(!secret.is_empty(), "an empty secret cannot be masked");
        Self {
            secret: Zeroizing::new(secret.to_vec()),
            replacement: replacement.into(),
            held: Zeroizing::new(Vec::new()),
        }
    }

    /// Appends to `out` everything of `input` (after what was held) that can no longer be part
    /// of the secret, with each whole secret replaced.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut data = Zeroizing::new(std::mem::take(&mut *self.held));
        data.extend_from_slice(input);
        let secret = self.secret.as_slice();
        let mut start = 0;
        let mut i = 0;
        while i + secret.len() <= data.len() {
            if &data[i..i + secret.len()] == secret {
                out.extend_from_slice(&data[start..i]);
                out.extend_from_slice(&self.replacement);
                i += secret.len();
                start = i;
            } else {
                i += 1;
            }
        }
        // The longest tail that the next read could complete into the secret is held; any
        // shorter candidate starts inside it, so it is held too.
        let rest = &data[start..];
        let keep = (1..secret.len().min(rest.len() + 1))
            .rev()
            .find(|&n| rest[rest.len() - n..] == secret[..n])
            .unwrap_or(0);
        out.extend_from_slice(&rest[..rest.len() - keep]);
        self.held.extend_from_slice(&rest[rest.len() - keep..]);
    }

    /// End of stream: a partial secret held back is written as it is (it is not the secret).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.held);
        self.held.clear();
    }

    /// How many bytes are held back now, for the tests of the bound above.
    #[cfg(test)]
    pub fn held_len(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"flux_dev_0123456789abcdef";
    const MASK: &str = "<redacted>";

    fn mask_chunks(secret: &[u8], chunks: &[&[u8]]) -> String {
        let mut masker = StreamMasker::new(secret, MASK);
        let mut out = Vec::new();
        for chunk in chunks {
            masker.push(chunk, &mut out);
            assert!(masker.held_len() < secret.len());
        }
        masker.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_secret_split_at_every_position_is_masked() {
        let text = [b"before ".as_slice(), SECRET, b" after"].concat();
        for cut in 0..=text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(
                mask_chunks(SECRET, &[a, b]),
                "before <redacted> after",
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_secret_one_byte_at_a_time_is_masked() {
        let text = [b"x".as_slice(), SECRET, b"y"].concat();
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(mask_chunks(SECRET, &chunks), "x<redacted>y");
    }

    #[test]
    fn the_secret_twice_and_back_to_back_is_masked_each_time() {
        let text = [SECRET, b"\n", SECRET, SECRET].concat();
        assert_eq!(
            mask_chunks(SECRET, &[&text]),
            "<redacted>\n<redacted><redacted>"
        );
        for cut in 0..=text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(
                mask_chunks(SECRET, &[a, b]),
                "<redacted>\n<redacted><redacted>",
                "cut {cut}"
            );
        }
    }

    #[test]
    fn overlapping_prefixes_are_found() {
        // "aab" inside "aaab": the first "aa" is a false start, the match begins one later.
        assert_eq!(mask_chunks(b"aab", &[b"aaab"]), "a<redacted>");
        assert_eq!(
            mask_chunks(b"aab", &[b"a", b"a", b"a", b"b"]),
            "a<redacted>"
        );
        // "abab" after "aba": the longest held tail is the one that completes.
        assert_eq!(mask_chunks(b"abab", &[b"xaba", b"bab"]), "x<redacted>ab");
        assert_eq!(mask_chunks(b"abab", &[b"ab", b"ab", b"ab"]), "<redacted>ab");
    }

    #[test]
    fn a_partial_secret_at_the_end_is_flushed_as_it_is() {
        assert_eq!(
            mask_chunks(SECRET, &[b"tail flux_dev_01"]),
            "tail flux_dev_01"
        );
    }

    #[test]
    fn text_that_cannot_start_the_secret_is_not_held() {
        let mut masker = StreamMasker::new(SECRET, MASK);
        let mut out = Vec::new();
        masker.push(b"progress 42%\r", &mut out);
        assert_eq!(out, b"progress 42%\r");
        assert_eq!(masker.held_len(), 0);
        // Only the possible start of the secret waits, and no longer than the next read.
        masker.push(b"line\nflux_d", &mut out);
        assert_eq!(out, b"progress 42%\rline\n");
        assert_eq!(masker.held_len(), 6);
        masker.push(b"ay\n", &mut out);
        assert_eq!(out, b"progress 42%\rline\nflux_day\n");
        assert_eq!(masker.held_len(), 0);
    }
}
