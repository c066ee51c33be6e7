//! Streaming text decoding for CSV: every source encoding becomes a stream of UTF-8 bytes.
//!
//! - [`Utf8Checked`] passes UTF-8 through and stops at the first invalid byte with its exact
//!   offset, so strict UTF-8 errors point at the byte, and so detection can fall back to
//!   Windows-1252 (the caller restarts the conversion; see `csv.rs`).
//! - [`Decoded`] transcodes Latin-1 (by hand: ISO-8859-1 is the first 256 code points, and
//!   `encoding_rs` treats the label as Windows-1252 per WHATWG), Windows-1252 and UTF-16
//!   (with `encoding_rs`) chunk by chunk.

use std::fmt;
use std::io::{self, Read};

use encoding_rs::{CoderResult, Decoder, UTF_16BE, UTF_16LE, WINDOWS_1252};

use crate::options::TextEncoding;

const CHUNK: usize = 64 << 10;

/// The payload of the `io::Error` that [`Utf8Checked`] returns at the first invalid byte.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InvalidUtf8At {
    /// 0-based offset of the first invalid byte in the file.
    pub offset: u64,
}

impl fmt::Display for InvalidUtf8At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid UTF-8 at byte offset {}", self.offset)
    }
}

impl std::error::Error for InvalidUtf8At {}

/// Finds an [`InvalidUtf8At`] inside an `io::Error` (possibly wrapped by the csv crate).
pub(crate) fn invalid_utf8_of(err: &io::Error) -> Option<InvalidUtf8At> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<InvalidUtf8At>())
        .copied()
}

/// Passes bytes through only after validating them as UTF-8. A multi-byte sequence split
/// between two reads is held back until it is complete. Everything before an invalid byte is
/// handed out first; the error comes with the read that would return that byte.
pub(crate) struct Utf8Checked<R> {
    inner: R,
    buf: Box<[u8]>,
    /// `buf[start..valid]` is validated and not yet handed out; `buf[valid..end]` is the
    /// incomplete tail of a sequence, completed by the next read.
    start: usize,
    valid: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// File offset of the first invalid byte, once found.
    error: Option<u64>,
}

impl<R: Read> Utf8Checked<R> {
    /// `base` is the file offset of the first byte `inner` yields (after a skipped BOM).
    pub(crate) fn new(inner: R, base: u64) -> Self {
        Utf8Checked {
            inner,
            buf: vec![0; CHUNK].into_boxed_slice(),
            start: 0,
            valid: 0,
            end: 0,
            base,
            eof: false,
            error: None,
        }
    }

    /// Makes `buf[start..valid]` non-empty, or reports the end or the invalid byte.
    fn fill(&mut self) -> io::Result<bool> {
        loop {
            if let Some(offset) = self.error {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    InvalidUtf8At { offset },
                ));
            }
            if self.eof {
                return Ok(false);
            }
            // Move the incomplete tail (at most 3 bytes) to the front.
            let tail = self.end - self.valid;
            self.buf.copy_within(self.valid..self.end, 0);
            self.base += self.valid as u64;
            self.start = 0;
            self.valid = 0;
            self.end = tail;
            let n = loop {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
                if self.end > 0 {
                    // The file ends inside a multi-byte sequence.
                    self.error = Some(self.base);
                }
                continue;
            }
            self.end += n;
            match std::str::from_utf8(&self.buf[..self.end]) {
                Ok(_) => self.valid = self.end,
                Err(e) => {
                    self.valid = e.valid_up_to();
                    if e.error_len().is_some() {
                        self.error = Some(self.base + self.valid as u64);
                        self.end = self.valid;
                    }
                    // else: the chunk ends inside a sequence; the tail waits for more bytes.
                }
            }
            if self.valid > self.start {
                return Ok(true);
            }
        }
    }
}

impl<R: Read> Read for Utf8Checked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.start == self.valid && !self.fill()? {
            return Ok(0);
        }
        let n = out.len().min(self.valid - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

enum DecoderKind {
    /// ISO-8859-1: byte `b` is code point `U+00bb`.
    Latin1,
    Rs(Box<Decoder>),
}

/// Transcodes a byte stream in a single-byte or UTF-16 encoding to UTF-8, chunk by chunk.
pub(crate) struct Decoded<R> {
    inner: R,
    kind: DecoderKind,
    input: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    in_eof: bool,
    /// The decoder has been given its last input and has flushed.
    done: bool,
    output: Vec<u8>,
    out_start: usize,
}

impl<R: Read> Decoded<R> {
    pub(crate) fn new(inner: R, encoding: TextEncoding) -> Self {
        let kind = match encoding {
            TextEncoding::Latin1 => DecoderKind::Latin1,
            // Without BOM handling: the caller has already skipped any BOM.
            TextEncoding::Utf16Le => {
                DecoderKind::Rs(Box::new(UTF_16LE.new_decoder_without_bom_handling()))
            }
            TextEncoding::Utf16Be => {
                DecoderKind::Rs(Box::new(UTF_16BE.new_decoder_without_bom_handling()))
            }
            // UTF-8 never comes here (see `Utf8Checked`); mapping it keeps the match total.
            TextEncoding::Windows1252 | TextEncoding::Utf8 => {
                DecoderKind::Rs(Box::new(WINDOWS_1252.new_decoder_without_bom_handling()))
            }
        };
        Decoded {
            inner,
            kind,
            input: vec![0; CHUNK].into_boxed_slice(),
            in_start: 0,
            in_end: 0,
            in_eof: false,
            done: false,
            // Worst case: every input byte becomes 3 UTF-8 bytes (UTF-16 BMP, Windows-1252 €).
            output: Vec::with_capacity(3 * CHUNK + 16),
            out_start: 0,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        self.output.clear();
        self.out_start = 0;
        while self.output.is_empty() && !self.done {
            if self.in_start == self.in_end && !self.in_eof {
                let n = loop {
                    match self.inner.read(&mut self.input) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                };
                self.in_start = 0;
                self.in_end = n;
                self.in_eof = n == 0;
            }
            let src = &self.input[self.in_start..self.in_end];
            match &mut self.kind {
                DecoderKind::Latin1 => {
                    for &b in src {
                        if b < 0x80 {
                            self.output.push(b);
                        } else {
                            self.output
                                .extend_from_slice(&[0xC0 | (b >> 6), 0x80 | (b & 0x3F)]);
                        }
                    }
                    self.in_start = self.in_end;
                    self.done = self.in_eof;
                }
                DecoderKind::Rs(decoder) => {
                    let cap = self.output.capacity();
                    self.output.resize(cap, 0);
                    // Malformed UTF-16 (a lone surrogate) becomes U+FFFD rather than an
                    // error; Windows-1252 maps every byte.
                    let (result, read, written, _) =
                        decoder.decode_to_utf8(src, &mut self.output, self.in_eof);
                    self.output.truncate(written);
                    self.in_start += read;
                    if self.in_eof && result == CoderResult::InputEmpty {
                        self.done = true;
                    }
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.out_start == self.output.len() {
            self.refill()?;
        }
        let avail = &self.output[self.out_start..];
        let n = out.len().min(avail.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.out_start += n;
        Ok(n)
    }
}

/// What the first bytes of a file say about its encoding: the BOM's encoding and length.
pub(crate) fn sniff_bom(head: &[u8]) -> Option<(TextEncoding, usize)> {
    match head {
        [0xEF, 0xBB, 0xBF, ..] => Some((TextEncoding::Utf8, 3)),
        [0xFF, 0xFE, ..] => Some((TextEncoding::Utf16Le, 2)),
        [0xFE, 0xFF, ..] => Some((TextEncoding::Utf16Be, 2)),
        _ => None,
    }
}

/// Recognises files that are not text at all, to say what they are instead of failing later
/// with a confusing parse error. `head` is the start of the file (without a UTF-16 BOM).
pub(crate) fn binary_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"PK\x03\x04") {
        return Some("a ZIP container (an XLSX workbook? use source_type xlsx)");
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Some("a legacy Excel 97-2003 (.xls) or other OLE file; save it as .xlsx or CSV");
    }
    if head.starts_with(b"PAR1") {
        return Some("a Parquet file");
    }
    if head.starts_with(&[0x1F, 0x8B]) {
        return Some("a gzip file; decompress it first");
    }
    if head.contains(&0) {
        return Some("binary data or UTF-16 without a byte order mark (it contains NUL bytes)");
    }
    None
}

/// Counts the lines up to `offset` (1-based line of that byte), reading the file again:
/// only needed for an error message, so the hot path does not count newlines.
pub(crate) fn line_of_offset(mut reader: impl Read, offset: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut pos = 0u64;
    let mut line = 1u64;
    while pos < offset {
        let want = (offset - pos).min(CHUNK as u64) as usize;
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        line += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        pos += n as u64;
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut r: impl Read, step: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// A reader that returns at most `n` bytes per read, to split sequences across reads.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn utf8_split_sequences_pass_through() {
        let text = "Jürgen, São Paulo, 東京, 😀\n".repeat(50);
        for step in [1, 2, 3, 5, 7] {
            let got = read_all(Utf8Checked::new(Trickle(text.as_bytes(), step), 0), 3).unwrap();
            assert_eq!(got, text.as_bytes());
        }
    }

    #[test]
    fn utf8_invalid_byte_reports_its_offset_after_the_valid_prefix() {
        let mut data = b"abc\ndef".to_vec();
        data.push(0xE9); // Latin-1 é
        data.extend_from_slice(b"tail");
        let mut r = Utf8Checked::new(Trickle(&data, 4), 10);
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        let err = loop {
            match r.read(&mut buf) {
                Ok(0) => panic!("no error"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(got, b"abc\ndef");
        assert_eq!(invalid_utf8_of(&err).unwrap().offset, 17);
    }

    #[test]
    fn utf8_truncated_sequence_at_eof_is_invalid() {
        let data = [b'a', 0xE6, 0x9D];
        let err = read_all(Utf8Checked::new(&data[..], 0), 8).unwrap_err();
        assert_eq!(invalid_utf8_of(&err).unwrap().offset, 1);
    }

    #[test]
    fn latin1_and_windows_1252_differ_on_0x80() {
        let data = [b'a', 0x80, 0xE9];
        let l1 = read_all(Decoded::new(&data[..], TextEncoding::Latin1), 2).unwrap();
        assert_eq!(String::from_utf8(l1).unwrap(), "a\u{80}é");
        let w = read_all(Decoded::new(&data[..], TextEncoding::Windows1252), 2).unwrap();
        assert_eq!(String::from_utf8(w).unwrap(), "a€é");
    }

    #[test]
    fn utf16_decodes_across_reads() {
        let text = "id;naïve\n1;東京\n";
        let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let got = read_all(Decoded::new(Trickle(&bytes, 3), TextEncoding::Utf16Le), 5).unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), text);
    }

    #[test]
    fn line_of_offset_counts_newlines_before_it() {
        let data = b"a\nb\nc";
        assert_eq!(line_of_offset(&data[..], 0).unwrap(), 1);
        assert_eq!(line_of_offset(&data[..], 2).unwrap(), 2);
        assert_eq!(line_of_offset(&data[..], 4).unwrap(), 3);
    }
}
