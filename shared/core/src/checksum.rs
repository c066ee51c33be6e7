//! SHA-256 checksums, in the base64 form S3 uses for `x-amz-checksum-sha256`.
//!
//! For a multipart upload S3 reports a checksum of checksums (`<base64>-<parts>`); the local
//! store and the S3 adapter both compute that same composite so a checksum read back from
//! either can be compared with what was written.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Base64 SHA-256 of `data`.
pub fn sha256_b64(data: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(data))
}

/// Hex SHA-256 of `data` (used for idempotency payload hashes).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Size and hex SHA-256 of a file, read in chunks (blocking: call it off the async workers).
pub fn sha256_file_hex(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// The composite checksum S3 reports for a multipart object: the SHA-256 of the concatenated
/// raw part digests, base64-encoded, suffixed with the number of parts.
pub fn multipart_sha256_b64(data: &[u8], part_size: usize) -> String {
    let part_size = part_size.max(1);
    let mut outer = Sha256::new();
    let mut parts = 0usize;
    for chunk in data.chunks(part_size) {
        outer.update(Sha256::digest(chunk));
        parts += 1;
    }
    format!("{}-{}", STANDARD.encode(outer.finalize()), parts)
}

/// Whether `reported` (as S3 or the local store reported it) is the checksum of `data`: either
/// the whole-object SHA-256, or the multipart composite `<b64>-<parts>` for `part_size` parts.
/// S3 reports the composite for multipart uploads; some emulators (moto) report the composite
/// digest without its `-<parts>` suffix. Every form is a SHA-256 over the same bytes.
pub fn sha256_matches(reported: &str, data: &[u8], part_size: usize) -> bool {
    if sha256_b64(data) == reported {
        return true;
    }
    let composite = multipart_sha256_b64(data, part_size);
    composite == reported || composite.split_once('-').map(|(digest, _)| digest) == Some(reported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        // printf 'abc' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            sha256_b64(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn both_checksum_forms_verify_the_same_bytes() {
        let data = vec![3u8; 10];
        assert!(sha256_matches(&sha256_b64(&data), &data, 4));
        assert!(sha256_matches(&multipart_sha256_b64(&data, 4), &data, 4));
        assert!(!sha256_matches(&multipart_sha256_b64(&data, 4), &data, 5));
        assert!(!sha256_matches(&sha256_b64(b"other"), &data, 4));
        let bare = multipart_sha256_b64(&data, 4);
        let bare = bare.split_once('-').map(|(d, _)| d).unwrap_or_default();
        assert!(
            sha256_matches(bare, &data, 4),
            "composite digest without its part count"
        );
    }

    #[test]
    fn multipart_composite_counts_parts() {
        let data = vec![7u8; 10];
        assert!(multipart_sha256_b64(&data, 4).ends_with("-3"));
        assert!(multipart_sha256_b64(&data, 10).ends_with("-1"));
    }
}
