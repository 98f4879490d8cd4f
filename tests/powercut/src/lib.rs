//! weft-powercut: a FUSE filesystem for weft's tests that forgets, at a simulated
//! power cut, everything a real disk may forget: whatever was not made durable with
//! `fsync`/`fdatasync` — file contents *and* folder entries.
//!
//! A test mounts it over a backing folder ([`Disk::mount`]), runs the real program
//! on the mount, cuts the power ([`Disk::cut`]) at the instant it SIGKILLs the
//! program, lets the cut decide what of the unsynced state reached the disk
//! ([`Disk::unmount_after_cut`] with [`Survivors`]), and mounts again to see what a
//! machine coming back from a power cut would see.
//!
//! # The model
//!
//! POSIX's, not ext4's: a filesystem may keep anything unsynced in memory for as long
//! as it likes and lose it at a crash, in any order.
//!
//! - **File data.** Writes (and `ftruncate`, and a `fallocate` that grows a file)
//!   since the file's last `fsync` or `fdatasync` are kept only in memory; reads see
//!   them. `fsync` and `fdatasync` are one and the same here: data and size reach the
//!   disk (timestamps and modes are not modelled, so the difference does not show). A
//!   write to a file opened with `O_SYNC` or `O_DSYNC` is synced as it returns.
//! - **Folders.** A new file's or folder's name, a rename and a removal change only
//!   the folder as the running system sees it; they reach the disk when *that folder*
//!   is fsynced. An `fsync` of a file never makes its name durable (ext4's journal
//!   happens to, POSIX does not promise it). A rename across folders is durable in
//!   each folder once that folder is synced: after a cut the file may have both
//!   names, or neither (if neither folder was synced, the old name stays).
//! - **A cut** ([`Survivors::SyncedOnly`]) loses everything unsynced: the disk holds
//!   exactly what was synced. Content synced under a name no synced folder holds is
//!   gone with its name.
//! - **A kinder cut** ([`Survivors::Some`]) keeps part of it, as a disk writing back
//!   on its own schedule may: per file, a random prefix of its unsynced writes, cut
//!   into 4 KiB pages and reordered (a page lands whole or not at all; no page moves
//!   across a size change); some files keep a grown size without its data (reads as
//!   zeros); per folder, all of its unsynced changes or none.
//!
//! # Other calls
//!
//! - `sync_file_range` never reaches a FUSE filesystem; with every file in direct
//!   I/O there is no page cache for it to write back. So it syncs nothing here, which
//!   is also the truth on a real disk: it starts writeback of data but persists no
//!   metadata and flushes no device cache. `syncfs`/`sync` are not forwarded to FUSE
//!   either, and sync nothing here (on a real disk they would).
//! - `O_DIRECT` writes are writes like the others: bypassing the page cache does
//!   not make them durable (a disk's cache may still lose them); only a sync does.
//! - Shared writable `mmap` is refused (`ENODEV`, since every file is in direct
//!   I/O), so a program writing through a mapping fails at once instead of going
//!   around the model. Neither redb 4.6 nor sled 0.34.7 maps its files.
//! - `fallocate`: plain allocation (grows the size, new bytes read as zeros) and
//!   `FALLOC_FL_KEEP_SIZE` (nothing visible); other modes (punching holes, zeroing
//!   ranges) answer `EOPNOTSUPP`.
//! - Locks (`flock`, POSIX and OFD locks) are the kernel's own, held per mount.
//!
//! # What weft's engines ask of it
//!
//! From `strace -f` of the real host creating a store and taking 30 events, and from
//! the engines' sources for what a short run does not show:
//!
//! - redb 4.6: `openat(O_RDWR|O_CREAT)`, `flock(LOCK_EX|LOCK_NB)` and OFD locks
//!   (`fcntl(F_OFD_SETLK)`), `pread64`/`pwrite64`, `ftruncate` to grow the file,
//!   `fdatasync` at each durable commit. No `mmap`, `fallocate`, `rename` or folder
//!   sync.
//! - sled 0.34.7: `mkdir` of its folder and `blobs/`, `conf` written with plain
//!   `write`s and no sync, `db` opened `O_RDWR|O_CREAT` and `flock`ed, `pwrite64`,
//!   and `sync_file_range` as its flush (weft's engine adds `fdatasync`/`fsync` of
//!   the files and folders). In its sources, besides: blob files (plain writes, no
//!   sync), `set_len` then `fsync` when it truncates freed segments, and snapshots
//!   written to `snap.*.generating`, fsynced, renamed and the old ones removed, with
//!   no folder sync. No `mmap` or `fallocate`.
//! - weft itself: `mkdir` of the data folder, and `DATA/subscriptions.json` through
//!   a temporary file, `fsync`, `rename` and an `fsync` of the folder.
//!
//! # What it does not model
//!
//! - Torn sectors: a page lands whole or not at all, never half written.
//! - A device that lies about a flush, or reorders writes across one.
//! - Timestamps, modes, owners and xattrs (xattrs are refused; the others are kept
//!   in memory and not made durable).
//! - Symbolic links, hard links made by the program (`link` is refused; the
//!   backing folder uses hard links itself), devices, FIFOs, sockets.
//! - Free space: `statfs` reports the backing folder's, so a disk quota still works.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | `state` | the volatile and durable views and the syncs between them |
//! | `cut` | what survives a cut ([`Survivors`], [`CutReport`]) |
//! | `fuse` | kernel requests onto the state, one at a time |
//! | `disk` | mounting, cutting, unmounting ([`Disk`]) |
//! | `rng` | the seeded randomness of a kinder cut |

mod cut;
mod disk;
mod fuse;
mod rng;
mod state;

pub use cut::{CutReport, PIECE, Survivors};
pub use disk::Disk;
pub use state::Stats;
