//! A mounted power-cut filesystem, and what a test does with it: cut the power,
//! unmount what survived, mount again.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use fuser::{BackgroundSession, MountOption, SessionACL};

use crate::cut::{CutReport, Survivors};
use crate::fuse::PowerCutFs;
use crate::state::{State, Stats};

/// A power-cut filesystem mounted at a folder, over a backing folder that holds
/// exactly what is durable.
pub struct Disk {
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

impl Disk {
    /// Mounts the filesystem at `mountpoint` (an existing, empty folder) over
    /// `backing` (an existing folder, outside the mount). What `backing` holds is
    /// the durable state: what an earlier mount synced, or survived its cut.
    ///
    /// Needs `/dev/fuse` and `fusermount3` (Debian's `fuse3`): the mount is made
    /// with `auto_unmount`, so it goes away even if the test process dies.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Self> {
        // Canonical now: once frozen, the mount point itself cannot be looked at.
        let mountpoint = &mountpoint.canonicalize()?;
        let state = Arc::new(Mutex::new(State::open(backing.to_owned())?));
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName("weft-powercut".into()),
            MountOption::AutoUnmount,
        ];
        config.acl = SessionACL::RootAndOwner;
        let fs = PowerCutFs {
            state: state.clone(),
        };
        let session = fuser::spawn_mount(fs, mountpoint, &config).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot mount the power-cut filesystem at {}: {e} (it needs /dev/fuse and \
                     fusermount3, from Debian's fuse3: scripts/setup.sh installs it)",
                    mountpoint.display()
                ),
            )
        })?;
        Ok(Self {
            state,
            session: Some(session),
            mountpoint: mountpoint.to_owned(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The power goes off: from this instant every change (write, sync, create,
    /// rename, remove) fails with `EIO` and nothing more reaches the disk; reads are
    /// still answered. Kill the processes using the mount right
    /// after (they would otherwise see errors no real power cut shows), then
    /// [`Disk::unmount_after_cut`].
    pub fn cut(&self) {
        self.state().frozen = true;
    }

    /// After [`Disk::cut`]: writes what survives into the backing folder and
    /// unmounts. Every process that had files open on the mount must be gone.
    pub fn unmount_after_cut(mut self, survivors: Survivors) -> io::Result<CutReport> {
        let report = {
            let mut state = self.state();
            state.frozen = true;
            state.survive(survivors)?
        };
        self.unmount_session()?;
        Ok(report)
    }

    /// A clean shutdown: everything written is synced (as `umount` would), then
    /// unmounted.
    pub fn unmount(mut self) -> io::Result<()> {
        {
            let mut state = self.state();
            if !state.frozen {
                state.sync_everything()?;
                state.frozen = true;
            }
        }
        self.unmount_session()
    }

    /// What the filesystem was asked to do so far.
    pub fn stats(&self) -> Stats {
        self.state().stats
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    fn unmount_session(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        // Unmounted here, not by fuser: with `auto_unmount` it only tells
        // fusermount3, which unmounts only a filesystem whose server is gone.
        // Once unmounted, the session's thread reads ENODEV and ends. The processes
        // that used the mount were just killed; the kernel may still be closing
        // their files for a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match nix::mount::umount(&self.mountpoint) {
                Ok(()) => break,
                Err(nix::errno::Errno::EBUSY) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    // Keep the session: dropping it would wait for a thread that
                    // serves the mount still.
                    self.session = Some(session);
                    return Err(io::Error::other(format!(
                        "cannot unmount {}: {e} (does a process still have files open there?)",
                        self.mountpoint.display()
                    )));
                }
            }
        }
        session.umount_and_join().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "the filesystem at {} did not stop: {e}",
                    self.mountpoint.display()
                ),
            )
        })
    }
}

impl Drop for Disk {
    /// A disk dropped without an unmount (a failing test) loses its unsynced state.
    fn drop(&mut self) {
        self.state().frozen = true;
        let _ = self.unmount_session();
    }
}
