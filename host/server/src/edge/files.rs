//! The open-file limit, and the connection cap derived from it.
//!
//! Every connection is a file descriptor, and so are the store's files, the
//! compile cache, the folder watchers and every outbound connection a module
//! makes. A host that lets clients take all of them cannot accept anyone (the
//! kernel answers `EMFILE`), nor open a file for a module it loads. So at start
//! the soft limit is raised to the hard one (the most an unprivileged process
//! may take), and connections get at most half of what is then allowed: the
//! other half stays for the store, the modules and their outbound requests.
//! Past [`MAX_AUTO`] more connections buy nothing on an edge host but memory
//! (each idle one holds its buffers), so the derived cap stops there.

/// The most connections a derived cap allows, whatever the file limit.
pub const MAX_AUTO: usize = 10_000;
/// The fewest, so that a tiny file limit still serves a few clients.
const MIN_AUTO: usize = 8;

/// Raises the soft open-file limit to the hard one where the kernel allows it;
/// returns the soft limit now in force (`None` when it cannot be read).
pub fn raise_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            return None;
        }
    };
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            tracing::info!(from = soft, to = hard, "open-file limit raised");
            Some(hard)
        }
        Err(e) => {
            tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit; keeping it");
            Some(soft)
        }
    }
}

/// Half of `files`, within `MIN_AUTO`..=[`MAX_AUTO`].
pub fn derived_cap(files: u64) -> usize {
    usize::try_from(files / 2)
        .unwrap_or(MAX_AUTO)
        .clamp(MIN_AUTO, MAX_AUTO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_half_the_file_limit_within_bounds() {
        assert_eq!(derived_cap(1024), 512);
        assert_eq!(derived_cap(256), 128);
        assert_eq!(derived_cap(1_048_576), MAX_AUTO);
        assert_eq!(derived_cap(10), MIN_AUTO);
        assert_eq!(derived_cap(u64::MAX), MAX_AUTO);
    }

    #[test]
    fn raising_leaves_a_limit_at_least_as_high() {
        let before = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(0);
        assert!(raise_limit().unwrap_or(0) >= before);
    }
}
