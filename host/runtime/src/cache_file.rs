//! The compile cache's file format: the serialized component, then the SHA-256 of
//! it.
//!
//! wasmtime checks that a serialized component was made by a compatible engine, not
//! that its bytes are whole. An entry torn by a power cut could load and run garbage
//! as machine code: the cache writes a temporary file and renames it into place
//! without syncing either, and a filesystem may persist the rename before the data
//! written ahead of it (POSIX allows it; the power-cut filesystem of the tests does
//! it), leaving zeros or stale pages under a valid name. So is a file damaged on
//! disk. The digest makes any such entry fail to load, and the module is compiled
//! again and the entry rewritten. Entries are not synced on purpose: a lost or
//! refused entry costs one compile, never a wrong load.

use sha2::{Digest, Sha256};

/// Bytes of the digest at the end of an entry.
const DIGEST: usize = 32;

/// An entry's bytes: `serialized` with its digest appended.
pub(crate) fn seal(mut serialized: Vec<u8>) -> Vec<u8> {
    let digest = Sha256::digest(&serialized);
    serialized.extend_from_slice(&digest);
    serialized
}

/// Why an entry is not loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unusable {
    #[error("{0} bytes is too short for a compile cache entry")]
    TooShort(usize),
    #[error(
        "its checksum does not match: the entry is torn (a crash while it was written) or damaged"
    )]
    Checksum,
}

/// The serialized component in an entry, if the entry is whole.
pub(crate) fn unseal(entry: &[u8]) -> Result<&[u8], Unusable> {
    let split = entry
        .len()
        .checked_sub(DIGEST)
        .ok_or(Unusable::TooShort(entry.len()))?;
    let (serialized, digest) = entry.split_at(split);
    if Sha256::digest(serialized).as_slice() != digest {
        return Err(Unusable::Checksum);
    }
    Ok(serialized)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn entry() -> Vec<u8> {
        seal((0..20_000u32).map(|i| (i % 251) as u8).collect())
    }

    #[test]
    fn a_whole_entry_unseals_to_what_was_sealed() {
        let entry = entry();
        assert_eq!(unseal(&entry).unwrap(), &entry[..entry.len() - DIGEST]);
    }

    #[test]
    fn an_entry_with_a_page_of_zeros_is_refused() {
        let mut torn = entry();
        torn[4096..8192].fill(0);
        let e = unseal(&torn).unwrap_err().to_string();
        assert!(e.contains("torn"), "{e}");
    }

    #[test]
    fn a_truncated_or_empty_entry_is_refused() {
        let entry = entry();
        assert!(unseal(&entry[..12_288]).is_err());
        assert!(unseal(&[]).is_err());
        assert!(unseal(&entry[..DIGEST]).is_err());
    }
}
