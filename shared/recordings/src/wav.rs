//! The WAV header check, and a tone generator for demos and tests.
//!
//! [`inspect`] walks the RIFF chunks by seeking, so it reads a few dozen bytes however large the
//! file is (a `LIST` chunk before `data` is skipped, the audio is never read). It checks:
//!
//! - the `RIFF` … `WAVE` magic;
//! - the `fmt ` chunk: a known codec, 1–8 channels, a sample rate of 1000–384000 Hz, a sample
//!   size that fits the codec, and (for PCM, float, A-law, µ-law) `block_align` and `byte_rate`
//!   consistent with channels, rate and sample size;
//! - the `data` chunk: present, not empty, and not declaring more bytes than the file has after it.
//!
//! The size in the `RIFF` header is not trusted: recorders that stream often leave it wrong, so
//! only the `data` chunk decides whether the file is complete. A `data` size of `0xFFFFFFFF`
//! (the "unknown size" marker of streaming recorders) means "the rest of the file".
//!
//! Chunks are word-aligned: a chunk with an odd size is followed by one pad byte.

use crate::model::AudioFormat;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Why a file is not an acceptable WAV recording. The messages go to operators as they are.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// The file has no bytes at all.
    #[error("empty file: it has zero bytes")]
    Empty,
    /// The file does not start with `RIFF` (big-endian `RIFX` is not supported either).
    #[error("not a WAV file: it does not start with \"RIFF\"")]
    NotRiff,
    /// A RIFF file, but not of form `WAVE` (an `AVI `, say).
    #[error("not a WAV file: a RIFF file whose form type is not \"WAVE\"")]
    NotWave,
    /// No `fmt ` chunk: nothing says how the audio is encoded.
    #[error("no \"fmt \" chunk: the file does not say how its audio is encoded")]
    NoFmtChunk,
    /// No `data` chunk: the file has no audio.
    #[error("no \"data\" chunk: the file has no audio")]
    NoDataChunk,
    /// The `data` chunk declares more bytes than the file has after the chunk header.
    #[error("truncated: the data chunk declares {declared} bytes but only {available} follow")]
    Truncated {
        /// Bytes the `data` chunk header declares.
        declared: u64,
        /// Bytes the file actually has after the `data` chunk header.
        available: u64,
    },
    /// The header is inconsistent or out of range; the message says what and with which numbers.
    #[error("bad WAV header: {0}")]
    BadFormat(String),
    /// The `fmt ` chunk's numbers are out of range or inconsistent with each other.
    #[error("bad WAV header: {0}")]
    BadFmt(#[from] FmtError),
    /// A format tag this check does not know.
    #[error(
        "unsupported codec: WAVE format tag 0x{0:04X} (supported: PCM, IEEE float, A-law, µ-law, \
         IMA ADPCM, GSM 6.10, G.722, G.726, G.729, MP3)"
    )]
    UnsupportedCodec(u16),
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
}

/// `WAVE_FORMAT_EXTENSIBLE`: the real format tag is in the sub-format GUID.
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Bytes 2..16 of every standard `KSDATAFORMAT_SUBTYPE_*` GUID
/// (`xxxxxxxx-0000-0010-8000-00AA00389B71`, the first two bytes being the format tag).
const KSDATAFORMAT_SUFFIX: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// The codec name for a WAVE format tag (after resolving `WAVE_FORMAT_EXTENSIBLE`).
///
/// Tags from Microsoft's `mmreg.h` registry; `0x028F` is the G.722 tag FFmpeg writes.
fn codec_name(tag: u16) -> Option<&'static str> {
    Some(match tag {
        0x0001 => "pcm",
        0x0003 => "float",
        0x0006 => "alaw",
        0x0007 => "mulaw",
        0x0011 => "ima-adpcm",
        0x0031 => "gsm610",
        0x0045 | 0x0064 => "g726", // ITU G.726 ADPCM; G726_ADPCM (APICOM)
        0x0055 => "mp3",
        0x0065 | 0x028F => "g722", // G722_ADPCM (APICOM); ADPCM_G722 (FFmpeg)
        0x0083 => "g729",          // G729A (AT&T)
        _ => return None,
    })
}

/// Codecs whose size follows from `byte_rate`, so a `fact` chunk adds nothing.
fn is_uncompressed(codec: &str) -> bool {
    matches!(codec, "pcm" | "float" | "alaw" | "mulaw")
}

/// What the `fmt ` chunk says, format tag resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fmt {
    codec: &'static str,
    channels: u16,
    sample_rate: u32,
    byte_rate: u32,
    block_align: u16,
    bits_per_sample: u16,
}

/// Checks the WAV header of `r`, which holds `file_len` bytes, and describes its audio.
///
/// Reads only chunk headers and the `fmt `/`fact` chunks, seeking over everything else.
pub fn inspect<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<AudioFormat, WavError> {
    if file_len == 0 {
        return Err(WavError::Empty);
    }
    let mut head = [0u8; 12];
    let got = read_at(r, 0, &mut head, file_len)?;
    if got < 4 || &head[0..4] != b"RIFF" {
        return Err(WavError::NotRiff);
    }
    if got < 12 {
        return Err(WavError::BadFormat(format!(
            "the file is only {file_len} bytes long, shorter than the 12-byte RIFF/WAVE header"
        )));
    }
    if &head[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }

    let mut fmt: Option<Fmt> = None;
    let mut fact_samples: Option<u32> = None;
    let mut data_len: Option<u64> = None;
    let mut pos: u64 = 12;
    while file_len.saturating_sub(pos) >= 8 {
        let mut header = [0u8; 8];
        read_at(r, pos, &mut header, file_len)?;
        let id = [header[0], header[1], header[2], header[3]];
        let size = u64::from(u32_le(&header[4..8]));
        let body = pos + 8;
        let available = file_len - body;
        match &id {
            b"data" if data_len.is_none() => {
                let len = data_chunk_len(size, available)?;
                data_len = Some(len);
                if size == u64::from(u32::MAX) {
                    // "Unknown size": the audio runs to the end of the file, nothing follows.
                    break;
                }
            }
            b"fmt " if fmt.is_none() => {
                if size > available {
                    return Err(WavError::BadFormat(format!(
                        "truncated: the fmt chunk declares {size} bytes but only {available} follow"
                    )));
                }
                // 40 bytes hold the largest header we read (WAVE_FORMAT_EXTENSIBLE).
                let mut buf = vec![0u8; size.min(40) as usize];
                read_at(r, body, &mut buf, file_len)?;
                fmt = Some(parse_fmt(&buf)?);
            }
            b"fact" if fact_samples.is_none() && size >= 4 && available >= 4 => {
                let mut buf = [0u8; 4];
                read_at(r, body, &mut buf, file_len)?;
                fact_samples = Some(u32_le(&buf));
            }
            _ if size > available && data_len.is_none() => {
                return Err(WavError::BadFormat(format!(
                    "truncated: the {} chunk at offset {pos} declares {size} bytes but only \
                     {available} follow, and no data chunk comes before it",
                    fourcc(&id)
                )));
            }
            _ => {}
        }
        pos = body + size + (size & 1);
    }

    let fmt = fmt.ok_or(WavError::NoFmtChunk)?;
    let data_len = data_len.ok_or(WavError::NoDataChunk)?;
    let duration_ms = duration_ms(&fmt, data_len, fact_samples)?;
    Ok(AudioFormat {
        codec: fmt.codec.to_owned(),
        channels: fmt.channels,
        sample_rate: fmt.sample_rate,
        bits_per_sample: fmt.bits_per_sample,
        data_len,
        duration_ms,
    })
}

/// [`inspect`] on a file (blocking `std::fs`; from async code, call it in `spawn_blocking`).
pub fn inspect_file(path: &Path) -> Result<AudioFormat, WavError> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    inspect(&mut file, len)
}

/// The audio length of a `data` chunk declaring `size` bytes with `available` bytes after it.
fn data_chunk_len(size: u64, available: u64) -> Result<u64, WavError> {
    if size == u64::from(u32::MAX) {
        // Streaming recorders' "unknown size": use the rest of the file.
        if available == 0 {
            return Err(WavError::BadFormat(
                "no audio: the data chunk is empty".to_owned(),
            ));
        }
        return Ok(available);
    }
    if size == 0 {
        return Err(WavError::BadFormat(if available == 0 {
            "no audio: the data chunk is empty".to_owned()
        } else {
            format!(
                "no audio: the data chunk declares 0 bytes although {available} bytes follow it \
                 (the recorder may not have finished writing the header)"
            )
        }));
    }
    if size > available {
        return Err(WavError::Truncated {
            declared: size,
            available,
        });
    }
    Ok(size)
}

/// Parses and checks a `fmt ` chunk body.
fn parse_fmt(b: &[u8]) -> Result<Fmt, WavError> {
    if b.len() < 16 {
        return Err(WavError::BadFormat(format!(
            "the fmt chunk has {} bytes, fewer than the 16 of a format description",
            b.len()
        )));
    }
    let mut tag = u16_le(&b[0..2]);
    if tag == WAVE_FORMAT_EXTENSIBLE {
        if b.len() < 40 {
            return Err(WavError::BadFormat(format!(
                "the fmt chunk says WAVE_FORMAT_EXTENSIBLE but has {} bytes, fewer than the 40 \
                 that format needs",
                b.len()
            )));
        }
        if b[26..40] != KSDATAFORMAT_SUFFIX {
            return Err(WavError::BadFormat(format!(
                "WAVE_FORMAT_EXTENSIBLE with the non-standard sub-format GUID {}",
                guid(&b[24..40])
            )));
        }
        tag = u16_le(&b[24..26]);
    }
    let codec = codec_name(tag).ok_or(WavError::UnsupportedCodec(tag))?;
    let fmt = Fmt {
        codec,
        channels: u16_le(&b[2..4]),
        sample_rate: u32_le(&b[4..8]),
        byte_rate: u32_le(&b[8..12]),
        block_align: u16_le(&b[12..14]),
        bits_per_sample: u16_le(&b[14..16]),
    };
    check_fmt(&fmt)?;
    Ok(fmt)
}

/// What is wrong with the numbers of a `fmt ` chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FmtError {
    /// Fewer than 1 or more than 8 channels.
    #[error("{0} channels: expected 1 to 8")]
    Channels(u16),
    /// A sample rate outside 1000–384000 Hz.
    #[error("sample rate {0} Hz: expected 1000 to 384000 Hz")]
    SampleRate(u32),
    /// A sample size the codec does not have.
    #[error("{bits} bits per sample for {codec}: expected {}", or_list(allowed))]
    BitsPerSample {
        bits: u16,
        codec: &'static str,
        allowed: &'static [u16],
    },
    /// `block_align` is not channels × sample size.
    #[error("block_align is {declared} but {channels} channels of {bits} bits need {expected}")]
    BlockAlign {
        declared: u16,
        channels: u16,
        bits: u16,
        expected: u32,
    },
    /// `byte_rate` is not sample rate × `block_align`.
    #[error(
        "byte_rate is {declared} but {sample_rate} Hz × block_align {block_align} = {expected}"
    )]
    ByteRate {
        declared: u32,
        sample_rate: u32,
        block_align: u32,
        expected: u64,
    },
}

/// `8 or 16 or 24`.
fn or_list(values: &[u16]) -> String {
    let list: Vec<String> = values.iter().map(u16::to_string).collect();
    list.join(" or ")
}

/// Range and consistency checks of a format description; the error says what is wrong.
fn check_fmt(f: &Fmt) -> Result<(), FmtError> {
    if !(1..=8).contains(&f.channels) {
        return Err(FmtError::Channels(f.channels));
    }
    if !(1000..=384_000).contains(&f.sample_rate) {
        return Err(FmtError::SampleRate(f.sample_rate));
    }
    let allowed: &'static [u16] = match f.codec {
        "pcm" => &[8, 16, 24, 32],
        "float" => &[32, 64],
        "alaw" | "mulaw" => &[8],
        _ => return Ok(()),
    };
    if !allowed.contains(&f.bits_per_sample) {
        return Err(FmtError::BitsPerSample {
            bits: f.bits_per_sample,
            codec: f.codec,
            allowed,
        });
    }
    let block_align = u32::from(f.channels) * u32::from(f.bits_per_sample) / 8;
    if u32::from(f.block_align) != block_align {
        return Err(FmtError::BlockAlign {
            declared: f.block_align,
            channels: f.channels,
            bits: f.bits_per_sample,
            expected: block_align,
        });
    }
    let byte_rate = u64::from(f.sample_rate) * u64::from(block_align);
    if u64::from(f.byte_rate) != byte_rate {
        return Err(FmtError::ByteRate {
            declared: f.byte_rate,
            sample_rate: f.sample_rate,
            block_align,
            expected: byte_rate,
        });
    }
    Ok(())
}

/// Audio duration in whole milliseconds (rounded to the nearest): from the `fact` sample count
/// for compressed codecs that have one, else from the data length and byte rate.
fn duration_ms(f: &Fmt, data_len: u64, fact_samples: Option<u32>) -> Result<u64, WavError> {
    if !is_uncompressed(f.codec)
        && let Some(samples) = fact_samples.filter(|&s| s > 0)
    {
        return Ok(div_round(
            u128::from(samples) * 1000,
            u128::from(f.sample_rate),
        ));
    }
    if f.byte_rate == 0 {
        return Err(WavError::BadFormat(format!(
            "byte_rate is 0 and there is no fact chunk, so the duration of the {} audio cannot \
             be computed",
            f.codec
        )));
    }
    Ok(div_round(
        u128::from(data_len) * 1000,
        u128::from(f.byte_rate),
    ))
}

/// `n / d` rounded to the nearest integer (`d` > 0), saturating at `u64::MAX`.
fn div_round(n: u128, d: u128) -> u64 {
    u64::try_from((n + d / 2) / d).unwrap_or(u64::MAX)
}

/// Seeks to `pos` and fills as much of `buf` as the file holds (at most `file_len - pos`
/// bytes); returns how many bytes were read.
fn read_at<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    buf: &mut [u8],
    file_len: u64,
) -> Result<usize, WavError> {
    let want = usize::try_from(file_len.saturating_sub(pos))
        .unwrap_or(usize::MAX)
        .min(buf.len());
    r.seek(SeekFrom::Start(pos))?;
    r.read_exact(&mut buf[..want])?;
    Ok(want)
}

fn u16_le(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A chunk id for a message: `"LIST"`, non-printable bytes as `\xNN`.
fn fourcc(id: &[u8; 4]) -> String {
    let inner: String = id
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02X}")
            }
        })
        .collect();
    format!("\"{inner}\"")
}

/// A GUID in its usual text form (first three fields little-endian).
fn guid(b: &[u8]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{}",
        u32_le(&b[0..4]),
        u16_le(&b[4..6]),
        u16_le(&b[6..8]),
        b[8],
        b[9],
        b[10..16]
            .iter()
            .map(|x| format!("{x:02X}"))
            .collect::<String>()
    )
}

/// A playable 16-bit PCM WAV file: a sine tone of `freq_hz` at half scale, the same on every
/// channel, with a 10 ms fade in and out (less for very short tones) so it does not click.
///
/// The values are written as given: a `sample_rate` or `channels` of 0 gives a header that
/// [`inspect`] rejects, which tests may want. The audio is capped at what a RIFF size field can
/// describe (4 GiB).
pub fn tone_wav(sample_rate: u32, channels: u16, duration_ms: u64, freq_hz: f32) -> Vec<u8> {
    let block_align = channels.saturating_mul(2);
    let byte_rate = sample_rate.saturating_mul(u32::from(block_align));
    let max_frames = u64::from(u32::MAX - 36) / u64::from(block_align.max(1));
    let frames = (u64::from(sample_rate).saturating_mul(duration_ms) / 1000).min(max_frames);
    let data_len = frames * u64::from(block_align);
    // Both fit: data_len + 36 <= u32::MAX by the cap above.
    let data_len32 = u32::try_from(data_len).unwrap_or(u32::MAX - 36);

    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len32).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&byte_rate.to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len32.to_le_bytes());

    let fade = (u64::from(sample_rate) / 100).min(frames / 2).max(1);
    let step = std::f64::consts::TAU * f64::from(freq_hz) / f64::from(sample_rate.max(1));
    for i in 0..frames {
        let edge = i.min(frames - 1 - i);
        let gain = 0.5 * (edge as f64 / fade as f64).min(1.0);
        let sample = (gain * (step * i as f64).sin() * f64::from(i16::MAX)).round() as i16;
        for _ in 0..channels {
            out.extend_from_slice(&sample.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn check(bytes: &[u8]) -> Result<AudioFormat, WavError> {
        inspect(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut c = id.to_vec();
        c.extend_from_slice(&(body.len() as u32).to_le_bytes());
        c.extend_from_slice(body);
        if body.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    fn fmt_body(
        tag: u16,
        channels: u16,
        rate: u32,
        byte_rate: u32,
        align: u16,
        bits: u16,
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&byte_rate.to_le_bytes());
        b.extend_from_slice(&align.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b
    }

    fn pcm16_mono_8k() -> Vec<u8> {
        fmt_body(1, 1, 8000, 16000, 2, 16)
    }

    /// A RIFF/WAVE file of the given chunks (RIFF size computed).
    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut f = b"RIFF".to_vec();
        f.extend_from_slice(&(4 + body.len() as u32).to_le_bytes());
        f.extend_from_slice(b"WAVE");
        f.extend_from_slice(&body);
        f
    }

    fn bad_format(r: Result<AudioFormat, WavError>) -> String {
        match r {
            Err(WavError::BadFormat(m)) => m,
            Err(WavError::BadFmt(e)) => e.to_string(),
            other => panic!("expected BadFormat, got {other:?}"),
        }
    }

    #[test]
    fn tone_round_trips() {
        for (rate, channels, ms) in [(8000, 1, 1500), (44_100, 2, 1234), (16_000, 1, 7)] {
            let wav = tone_wav(rate, channels, ms, 440.0);
            let f = check(&wav).expect("generated tone is valid");
            assert_eq!(f.codec, "pcm");
            assert_eq!(f.sample_rate, rate);
            assert_eq!(f.channels, channels);
            assert_eq!(f.bits_per_sample, 16);
            assert_eq!(f.data_len, wav.len() as u64 - 44);
            assert!(f.duration_ms.abs_diff(ms) <= 1, "{} vs {ms}", f.duration_ms);
        }
    }

    #[test]
    fn tone_is_audible_and_fades() {
        let wav = tone_wav(8000, 1, 1000, 440.0);
        let samples: Vec<i16> = wav[44..]
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(samples[0], 0);
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!(peak > 15_000 && peak < 17_000, "peak {peak}");
    }

    #[test]
    fn inspect_file_reads_from_disk() {
        let dir = std::env::temp_dir().join(format!("muara-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("tone.wav");
        std::fs::write(&path, tone_wav(8000, 1, 250, 440.0)).expect("write");
        let f = inspect_file(&path).expect("valid");
        assert_eq!(f.duration_ms, 250);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(matches!(inspect_file(&path), Err(WavError::Io(_))));
    }

    #[test]
    fn zero_length_is_empty() {
        let e = check(&[]).expect_err("empty");
        assert!(matches!(e, WavError::Empty));
        assert_eq!(e.to_string(), "empty file: it has zero bytes");
    }

    #[test]
    fn truncated_file() {
        let wav = tone_wav(8000, 1, 1000, 440.0); // 16000 data bytes
        let half = &wav[..wav.len() / 2];
        let e = check(half).expect_err("truncated");
        assert!(matches!(
            e,
            WavError::Truncated {
                declared: 16000,
                available: 7978
            }
        ));
        assert_eq!(
            e.to_string(),
            "truncated: the data chunk declares 16000 bytes but only 7978 follow"
        );
    }

    #[test]
    fn riff_size_larger_than_file_is_tolerated_when_data_is_complete() {
        let mut wav = tone_wav(8000, 1, 100, 440.0);
        wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(check(&wav).expect("ok").data_len, 1600);
    }

    #[test]
    fn streaming_data_sizes() {
        let audio = vec![0u8; 800];
        let mut wav = riff(&[chunk(b"fmt ", &pcm16_mono_8k()), chunk(b"data", &audio)]);
        wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        let f = check(&wav).expect("unknown size uses the rest");
        assert_eq!((f.data_len, f.duration_ms), (800, 50));

        wav[40..44].copy_from_slice(&0u32.to_le_bytes());
        assert!(bad_format(check(&wav)).contains("declares 0 bytes although 800 bytes follow"));

        let empty = riff(&[chunk(b"fmt ", &pcm16_mono_8k()), chunk(b"data", &[])]);
        assert_eq!(
            bad_format(check(&empty)),
            "no audio: the data chunk is empty"
        );
        let mut empty_unknown = empty.clone();
        empty_unknown[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            bad_format(check(&empty_unknown)),
            "no audio: the data chunk is empty"
        );
    }

    #[test]
    fn wrong_magic() {
        let mut rifx = tone_wav(8000, 1, 10, 440.0);
        rifx[..4].copy_from_slice(b"RIFX");
        assert!(matches!(check(&rifx), Err(WavError::NotRiff)));
        assert!(matches!(check(b"RI"), Err(WavError::NotRiff)));
        assert!(matches!(check(b"ID3\x04 mp3 data"), Err(WavError::NotRiff)));

        let mut avi = tone_wav(8000, 1, 10, 440.0);
        avi[8..12].copy_from_slice(b"AVI ");
        let e = check(&avi).expect_err("avi");
        assert!(matches!(e, WavError::NotWave));
        assert!(e.to_string().contains("not \"WAVE\""));

        assert!(bad_format(check(b"RIFF\x00\x00")).contains("only 6 bytes long"));
    }

    #[test]
    fn missing_fmt() {
        let wav = riff(&[chunk(b"data", &[0; 100])]);
        assert!(matches!(check(&wav), Err(WavError::NoFmtChunk)));
    }

    #[test]
    fn missing_data() {
        let wav = riff(&[chunk(b"fmt ", &pcm16_mono_8k())]);
        assert!(matches!(check(&wav), Err(WavError::NoDataChunk)));
        // A trailing partial chunk header is ignored, not misread.
        let mut wav = wav;
        wav.extend_from_slice(b"da");
        assert!(matches!(check(&wav), Err(WavError::NoDataChunk)));
    }

    #[test]
    fn list_chunk_before_data_is_skipped() {
        let list = vec![b'x'; 100_000];
        let wav = riff(&[
            chunk(b"fmt ", &pcm16_mono_8k()),
            chunk(b"LIST", &list),
            chunk(b"data", &[0; 16_000]),
        ]);
        let f = check(&wav).expect("ok");
        assert_eq!((f.data_len, f.duration_ms), (16_000, 1000));

        // A chunk before data that runs past the end of the file is named.
        let mut cut = riff(&[chunk(b"fmt ", &pcm16_mono_8k()), chunk(b"LIST", &list)]);
        cut.truncate(1000);
        let m = bad_format(check(&cut));
        assert!(
            m.contains("the \"LIST\" chunk at offset 36 declares 100000 bytes"),
            "{m}"
        );
    }

    #[test]
    fn odd_sized_chunks_are_padded() {
        let wav = riff(&[
            chunk(b"junk", &[1, 2, 3]), // 3 bytes + 1 pad
            chunk(b"fmt ", &pcm16_mono_8k()),
            chunk(b"data", &[0; 8000]),
            chunk(b"LIST", &[7; 5]),
        ]);
        let f = check(&wav).expect("ok");
        assert_eq!((f.data_len, f.duration_ms), (8000, 500));

        // Odd-sized 8-bit data is fine, and its pad byte is not required at the end of the file.
        let mut odd = riff(&[
            chunk(b"fmt ", &fmt_body(1, 1, 8000, 8000, 1, 8)),
            chunk(b"data", &[0x80; 8001]),
        ]);
        odd.pop();
        let f = check(&odd).expect("ok");
        assert_eq!((f.data_len, f.duration_ms), (8001, 1000));
    }

    fn extensible(sub_tag: u16, guid_tail: [u8; 14]) -> Vec<u8> {
        let mut b = fmt_body(WAVE_FORMAT_EXTENSIBLE, 2, 48_000, 48_000 * 6, 6, 24);
        b.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        b.extend_from_slice(&24u16.to_le_bytes()); // valid bits
        b.extend_from_slice(&3u32.to_le_bytes()); // channel mask
        b.extend_from_slice(&sub_tag.to_le_bytes());
        b.extend_from_slice(&guid_tail);
        b
    }

    #[test]
    fn extensible_format() {
        let wav = riff(&[
            chunk(b"fmt ", &extensible(1, KSDATAFORMAT_SUFFIX)),
            chunk(b"data", &[0; 288_000]),
        ]);
        let f = check(&wav).expect("ok");
        assert_eq!(
            f,
            AudioFormat {
                codec: "pcm".into(),
                channels: 2,
                sample_rate: 48_000,
                bits_per_sample: 24,
                data_len: 288_000,
                duration_ms: 1000,
            }
        );

        let mut tail = KSDATAFORMAT_SUFFIX;
        tail[13] = 0x72;
        let odd = riff(&[
            chunk(b"fmt ", &extensible(1, tail)),
            chunk(b"data", &[0; 6]),
        ]);
        assert!(bad_format(check(&odd)).contains("00000001-0000-0010-8000-00AA00389B72"));

        let unknown = riff(&[
            chunk(b"fmt ", &extensible(0x1234, KSDATAFORMAT_SUFFIX)),
            chunk(b"data", &[0; 6]),
        ]);
        assert!(matches!(
            check(&unknown),
            Err(WavError::UnsupportedCodec(0x1234))
        ));
    }

    #[test]
    fn unsupported_codec_tag() {
        let wav = riff(&[
            chunk(b"fmt ", &fmt_body(0x0002, 1, 8000, 4096, 256, 4)), // MS ADPCM
            chunk(b"data", &[0; 100]),
        ]);
        let e = check(&wav).expect_err("unsupported");
        assert!(matches!(e, WavError::UnsupportedCodec(2)));
        assert!(
            e.to_string()
                .starts_with("unsupported codec: WAVE format tag 0x0002")
        );
    }

    #[test]
    fn compressed_duration_from_fact() {
        // GSM 6.10: 65 bytes per 320 samples at 8 kHz; fact says 16000 samples = 2 s.
        let wav = riff(&[
            chunk(b"fmt ", &fmt_body(0x31, 1, 8000, 1625, 65, 0)),
            chunk(b"fact", &16_000u32.to_le_bytes()),
            chunk(b"data", &[0; 3250]),
        ]);
        let f = check(&wav).expect("ok");
        assert_eq!((f.codec.as_str(), f.duration_ms), ("gsm610", 2000));

        // Without fact, from the byte rate; a byte rate of 0 then cannot give a duration.
        let wav = riff(&[
            chunk(b"fmt ", &fmt_body(0x55, 1, 8000, 0, 1, 0)),
            chunk(b"data", &[0; 100]),
        ]);
        assert!(bad_format(check(&wav)).contains("byte_rate is 0"));
    }

    #[test]
    fn inconsistent_block_align_and_ranges() {
        let bad_align = riff(&[
            chunk(b"fmt ", &fmt_body(1, 2, 8000, 32_000, 2, 16)),
            chunk(b"data", &[0; 100]),
        ]);
        assert_eq!(
            bad_format(check(&bad_align)),
            "block_align is 2 but 2 channels of 16 bits need 4"
        );
        let bad_rate = riff(&[
            chunk(b"fmt ", &fmt_body(1, 1, 8000, 8000, 2, 16)),
            chunk(b"data", &[0; 100]),
        ]);
        assert_eq!(
            bad_format(check(&bad_rate)),
            "byte_rate is 8000 but 8000 Hz × block_align 2 = 16000"
        );
        let cases: [(Vec<u8>, &str); 5] = [
            (
                fmt_body(1, 0, 8000, 0, 0, 16),
                "0 channels: expected 1 to 8",
            ),
            (fmt_body(1, 9, 8000, 144_000, 18, 16), "9 channels"),
            (fmt_body(1, 1, 500, 1000, 2, 16), "sample rate 500 Hz"),
            (
                fmt_body(1, 1, 8000, 12_000, 1, 12),
                "12 bits per sample for pcm: expected 8 or 16 or 24 or 32",
            ),
            (
                fmt_body(6, 1, 8000, 16_000, 2, 16),
                "16 bits per sample for alaw: expected 8",
            ),
        ];
        for (fmt, want) in cases {
            let wav = riff(&[chunk(b"fmt ", &fmt), chunk(b"data", &[0; 10])]);
            let m = bad_format(check(&wav));
            assert!(m.contains(want), "{m:?} should contain {want:?}");
        }
        let short = riff(&[chunk(b"fmt ", &[1, 0, 1, 0]), chunk(b"data", &[0; 10])]);
        assert!(bad_format(check(&short)).contains("fewer than the 16"));
        assert_eq!(
            check(&tone_wav(0, 1, 100, 440.0))
                .expect_err("rate 0")
                .to_string(),
            "bad WAV header: sample rate 0 Hz: expected 1000 to 384000 Hz"
        );
    }
}
