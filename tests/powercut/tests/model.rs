//! The power-cut filesystem's model, through a real mount: what survives a cut is
//! what was synced, files and folders alike, and reads always see what was written.
//! Needs /dev/fuse and fusermount3 (scripts/setup.sh installs Debian's fuse3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use weft_powercut::{Disk, PIECE, Survivors};

struct Rig {
    _dir: tempfile::TempDir,
    backing: PathBuf,
    mnt: PathBuf,
}

impl Rig {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backing = dir.path().join("backing");
        let mnt = dir.path().join("mnt");
        fs::create_dir(&backing).unwrap();
        fs::create_dir(&mnt).unwrap();
        Self {
            _dir: dir,
            backing,
            mnt,
        }
    }

    fn mount(&self) -> Disk {
        Disk::mount(&self.backing, &self.mnt).unwrap()
    }

    fn at(&self, name: &str) -> PathBuf {
        self.mnt.join(name)
    }

    /// Cuts the power and mounts again: what a machine coming back would see.
    fn cut_and_remount(&self, disk: Disk, survivors: Survivors) -> Disk {
        disk.cut();
        disk.unmount_after_cut(survivors).unwrap();
        self.mount()
    }
}

fn fsync(path: &Path) {
    File::open(path).unwrap().sync_all().unwrap();
}

fn write_synced(path: &Path, bytes: &[u8]) {
    let mut f = File::create(path).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

fn read(path: &Path) -> Option<Vec<u8>> {
    match fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => panic!("reading {}: {e}", path.display()),
    }
}

#[test]
fn an_unsynced_write_is_lost_at_a_cut_and_a_synced_one_is_not() {
    let rig = Rig::new();
    let disk = rig.mount();
    write_synced(&rig.at("f"), b"old");
    fsync(&rig.mnt);
    fs::write(rig.at("f"), b"new, longer").unwrap();
    assert_eq!(
        read(&rig.at("f")).unwrap(),
        b"new, longer",
        "reads see the write"
    );
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("f")).unwrap(), b"old");
    disk.unmount().unwrap();
}

#[test]
fn a_synced_file_is_lost_with_its_name_if_its_folder_was_not_synced() {
    let rig = Rig::new();
    let disk = rig.mount();
    write_synced(&rig.at("f"), b"data");
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(
        read(&rig.at("f")),
        None,
        "fsync of a file does not make its name durable"
    );

    write_synced(&rig.at("f"), b"data");
    fsync(&rig.mnt);
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("f")).unwrap(), b"data");
    disk.unmount().unwrap();
}

#[test]
fn a_named_file_whose_data_was_never_synced_comes_back_empty() {
    let rig = Rig::new();
    let disk = rig.mount();
    fs::write(rig.at("f"), b"data").unwrap();
    fsync(&rig.mnt);
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("f")).unwrap(), b"");
    disk.unmount().unwrap();
}

#[test]
fn a_new_folder_survives_only_once_its_parent_is_synced() {
    let rig = Rig::new();
    let disk = rig.mount();
    fs::create_dir_all(rig.at("a/b")).unwrap();
    write_synced(&rig.at("a/b/f"), b"deep");
    fsync(&rig.at("a/b"));
    fsync(&rig.at("a"));
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert!(
        !rig.at("a").exists(),
        "the root was not synced, so `a` is gone"
    );

    fs::create_dir_all(rig.at("a/b")).unwrap();
    write_synced(&rig.at("a/b/f"), b"deep");
    // Synced top-down this time: each folder's sync is what counts, not the order.
    fsync(&rig.mnt);
    fsync(&rig.at("a"));
    fsync(&rig.at("a/b"));
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("a/b/f")).unwrap(), b"deep");
    disk.unmount().unwrap();
}

#[test]
fn a_rename_over_a_file_is_durable_only_once_its_folder_is_synced() {
    let rig = Rig::new();
    let disk = rig.mount();
    write_synced(&rig.at("cfg"), b"v1");
    fsync(&rig.mnt);

    write_synced(&rig.at("cfg.tmp"), b"v2");
    fs::rename(rig.at("cfg.tmp"), rig.at("cfg")).unwrap();
    assert_eq!(read(&rig.at("cfg")).unwrap(), b"v2");
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("cfg")).unwrap(), b"v1");
    assert_eq!(read(&rig.at("cfg.tmp")), None);

    write_synced(&rig.at("cfg.tmp"), b"v2");
    fs::rename(rig.at("cfg.tmp"), rig.at("cfg")).unwrap();
    fsync(&rig.mnt);
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("cfg")).unwrap(), b"v2");
    assert_eq!(read(&rig.at("cfg.tmp")), None);
    disk.unmount().unwrap();
}

#[test]
fn a_removal_is_undone_by_a_cut_unless_its_folder_was_synced() {
    let rig = Rig::new();
    let disk = rig.mount();
    write_synced(&rig.at("f"), b"kept");
    fsync(&rig.mnt);
    fs::remove_file(rig.at("f")).unwrap();
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("f")).unwrap(), b"kept");

    fs::remove_file(rig.at("f")).unwrap();
    fsync(&rig.mnt);
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("f")), None);
    disk.unmount().unwrap();
}

#[test]
fn a_move_across_folders_synced_only_at_its_destination_leaves_both_names() {
    let rig = Rig::new();
    let disk = rig.mount();
    fs::create_dir(rig.at("from")).unwrap();
    fs::create_dir(rig.at("to")).unwrap();
    write_synced(&rig.at("from/f"), b"moved");
    fsync(&rig.at("from"));
    fsync(&rig.mnt);
    fs::rename(rig.at("from/f"), rig.at("to/f")).unwrap();
    fsync(&rig.at("to"));
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("from/f")).unwrap(), b"moved");
    assert_eq!(read(&rig.at("to/f")).unwrap(), b"moved");
    disk.unmount().unwrap();
}

#[test]
fn a_write_through_o_dsync_is_durable_as_it_returns() {
    let rig = Rig::new();
    let disk = rig.mount();
    write_synced(&rig.at("f"), b"........");
    fsync(&rig.mnt);
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(rig.at("f"))
        .unwrap();
    f.write_all_at(b"sync", 0).unwrap();
    drop(f);
    let disk = rig.cut_and_remount(disk, Survivors::SyncedOnly);
    assert_eq!(read(&rig.at("f")).unwrap(), b"sync....");
    disk.unmount().unwrap();
}

#[test]
fn after_the_cut_every_change_fails_and_nothing_more_lands() {
    let rig = Rig::new();
    let disk = rig.mount();
    write_synced(&rig.at("f"), b"before");
    fsync(&rig.mnt);
    let mut f = OpenOptions::new().write(true).open(rig.at("f")).unwrap();
    disk.cut();
    let err = f
        .write_all(b"after")
        .and_then(|()| f.sync_all())
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    drop(f);
    disk.unmount_after_cut(Survivors::SyncedOnly).unwrap();
    assert_eq!(fs::read(rig.backing.join("f")).unwrap(), b"before");
}

#[test]
fn reads_see_every_write_truncation_and_growth_and_a_clean_unmount_keeps_them() {
    let rig = Rig::new();
    let disk = rig.mount();
    let plain = rig._dir.path().join("plain");
    let through = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(rig.at("f"))
        .unwrap();
    let reference = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&plain)
        .unwrap();
    // A fixed, varied sequence: writes across pages, shrinking, growing, syncs.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for step in 0..300u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let offset = x % 40_000;
        let len = (x >> 20) % 9000;
        match step % 11 {
            3 => {
                through.set_len(offset).unwrap();
                reference.set_len(offset).unwrap();
            }
            7 => through.sync_data().unwrap(),
            _ => {
                let data = vec![(step % 251) as u8; len as usize];
                through.write_all_at(&data, offset).unwrap();
                reference.write_all_at(&data, offset).unwrap();
            }
        }
        if step % 50 == 0 {
            assert_eq!(
                fs::read(rig.at("f")).unwrap(),
                fs::read(&plain).unwrap(),
                "step {step}"
            );
        }
    }
    let mut seen = Vec::new();
    File::open(rig.at("f"))
        .unwrap()
        .read_to_end(&mut seen)
        .unwrap();
    assert_eq!(seen, fs::read(&plain).unwrap());
    drop(through);
    assert!(disk.stats().writes > 200);
    disk.unmount().unwrap();
    assert_eq!(
        fs::read(rig.backing.join("f")).unwrap(),
        fs::read(&plain).unwrap()
    );
}

#[test]
fn a_kinder_cut_leaves_each_page_either_old_or_new() {
    let pages = 8;
    let (mut some_new, mut some_old) = (false, false);
    for seed in 1..=12 {
        let rig = Rig::new();
        let disk = rig.mount();
        write_synced(&rig.at("f"), &vec![b'A'; pages * PIECE as usize]);
        fsync(&rig.mnt);
        // Overwritten in place (no O_TRUNC, whose size change would come first).
        let f = OpenOptions::new().write(true).open(rig.at("f")).unwrap();
        f.write_all_at(&vec![b'B'; pages * PIECE as usize], 0)
            .unwrap();
        drop(f);
        let disk = rig.cut_and_remount(disk, Survivors::Some { seed });
        let after = read(&rig.at("f")).unwrap();
        assert_eq!(after.len(), pages * PIECE as usize, "seed {seed}");
        for page in after.chunks(PIECE as usize) {
            let first = page[0];
            assert!(
                first == b'A' || first == b'B',
                "seed {seed}: page of {first}"
            );
            assert!(page.iter().all(|b| *b == first), "seed {seed}: a torn page");
            some_new |= first == b'B';
            some_old |= first == b'A';
        }
        disk.unmount().unwrap();
    }
    assert!(
        some_new && some_old,
        "twelve seeds kept neither all nor nothing"
    );
}

#[test]
fn a_kinder_cut_keeps_a_folders_changes_whole_or_not_at_all() {
    let (mut kept, mut lost) = (0, 0);
    for seed in 1..=12 {
        let rig = Rig::new();
        let disk = rig.mount();
        write_synced(&rig.at("a"), b"a");
        write_synced(&rig.at("b"), b"b");
        let disk = rig.cut_and_remount(disk, Survivors::Some { seed });
        match (read(&rig.at("a")), read(&rig.at("b"))) {
            (Some(a), Some(b)) => {
                assert_eq!((a.as_slice(), b.as_slice()), (&b"a"[..], &b"b"[..]));
                kept += 1;
            }
            (None, None) => lost += 1,
            other => panic!("seed {seed}: half of a folder's changes: {other:?}"),
        }
        disk.unmount().unwrap();
    }
    assert!(kept > 0 && lost > 0, "kept {kept}, lost {lost}");
}
