//! The FUSE side: each kernel request becomes a call on the shared [`State`], under
//! one lock, so a request is wholly before or wholly after a cut. After a cut every
//! change fails with `EIO`; reads are still answered (`fusermount3` looks at the
//! mount before it unmounts it).
//!
//! Every file is opened with `FOPEN_DIRECT_IO`, so each `read` and `write` of the
//! running system reaches this filesystem (nothing is kept in the kernel's page
//! cache, where it would outlive the model's idea of what was written), and a shared
//! writable `mmap` is refused by the kernel instead of going around the model.
//! Entries and attributes are cached for no time, for the same reason.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::state::{Ino, Kind, State, errno};

const TTL: Duration = Duration::ZERO;

pub struct PowerCutFs {
    pub state: Arc<Mutex<State>>,
}

impl PowerCutFs {
    /// Runs `f`, a change, on the state, unless the power was cut (then `EIO`).
    fn with<T>(&self, f: impl FnOnce(&mut State) -> std::io::Result<T>) -> Result<T, Errno> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.frozen {
            return Err(Errno::EIO);
        }
        f(&mut state).map_err(Errno::from)
    }

    /// Runs `f`, which only looks, on the state, even after a cut: nothing it does
    /// reaches the disk, and `fusermount3` must still see the mount to unmount it.
    fn look<T>(&self, f: impl FnOnce(&mut State) -> std::io::Result<T>) -> Result<T, Errno> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state).map_err(Errno::from)
    }
}

fn attr(state: &State, ino: Ino) -> std::io::Result<FileAttr> {
    let node = state.node(ino)?;
    let (kind, size) = match node.kind {
        Kind::File => (FileType::RegularFile, node.size),
        Kind::Dir => (FileType::Directory, 4096),
    };
    Ok(FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: node.mtime,
        mtime: node.mtime,
        ctime: node.mtime,
        crtime: node.mtime,
        kind,
        perm: node.perm,
        nlink: node.links,
        uid: node.uid,
        gid: node.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

fn perm(mode: u32, umask: u32) -> u16 {
    (mode & !umask & 0o7777) as u16
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.look(|s| {
            let ino = s.lookup(parent.0, name)?;
            attr(s, ino)
        }) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.look(|s| attr(s, ino.0)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self.with(|s| {
            if let Some(len) = size {
                s.set_len(ino.0, len)?;
            }
            s.set_attr(ino.0, mode.map(|m| perm(m, 0)), uid, gid)?;
            attr(s, ino.0)
        }) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            reply.error(Errno::EPERM);
            return;
        }
        match self.with(|s| {
            let ino = s.create(
                parent.0,
                name,
                Kind::File,
                perm(mode, umask),
                (req.uid(), req.gid()),
            )?;
            attr(s, ino)
        }) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        match self.with(|s| {
            let ino = s.create(
                parent.0,
                name,
                Kind::Dir,
                perm(mode, umask),
                (req.uid(), req.gid()),
            )?;
            attr(s, ino)
        }) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.with(|s| s.unlink(parent.0, name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.with(|s| s.rmdir(parent.0, name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            reply.error(Errno::EINVAL);
            return;
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self.with(|s| s.rename((parent.0, name), (newparent.0, newname), no_replace)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.look(|s| match s.node(ino.0)?.kind {
            Kind::File => Ok(()),
            Kind::Dir => Err(errno(libc::EISDIR)),
        }) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self.with(|s| {
            let ino = match s.create(
                parent.0,
                name,
                Kind::File,
                perm(mode, umask),
                (req.uid(), req.gid()),
            ) {
                // Created by someone else since the kernel looked: open it.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) && flags & libc::O_EXCL == 0 => {
                    s.lookup(parent.0, name)?
                }
                other => other?,
            };
            attr(s, ino)
        }) {
            Ok(a) => reply.created(
                &TTL,
                &a,
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.look(|s| s.read(ino.0, offset, size)) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        // A file opened with O_SYNC or O_DSYNC: each write is durable when it returns.
        let synchronous = flags.0 & (libc::O_SYNC | libc::O_DSYNC) != 0;
        match self.with(|s| {
            s.write(ino.0, offset, data)?;
            if synchronous {
                s.fsync(ino.0)?;
            }
            Ok(())
        }) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) syncs nothing.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.with(|s| s.fsync(ino.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.look(|s| s.entries(ino.0).map(|_| ())) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listing = self.look(|s| {
            let names: Vec<_> = s
                .entries(ino.0)?
                .iter()
                .map(|(n, i)| (n.clone(), *i))
                .collect();
            let mut out = vec![
                (ino.0, FileType::Directory, ".".into()),
                (ino.0, FileType::Directory, "..".into()),
            ];
            for (name, child) in names {
                let kind = match s.node(child)?.kind {
                    Kind::File => FileType::RegularFile,
                    Kind::Dir => FileType::Directory,
                };
                out.push((child, kind, name));
            }
            Ok(out)
        });
        match listing {
            Ok(listing) => {
                for (i, (child, kind, name)) in listing.iter().enumerate().skip(offset as usize) {
                    if reply.add(INodeNo(*child), i as u64 + 1, *kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.with(|s| s.fsync(ino.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // The backing folder's numbers: the store's disk quota reads them.
        match self.look(|s| nix::sys::statvfs::statvfs(s.backing()).map_err(std::io::Error::from)) {
            Ok(v) => reply.statfs(
                v.blocks(),
                v.blocks_free(),
                v.blocks_available(),
                v.files(),
                v.files_free(),
                v.block_size() as u32,
                v.name_max() as u32,
                v.fragment_size() as u32,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        match self.look(|s| s.node(ino.0).map(|_| ())) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        // Plain allocation only: it grows the size (the new bytes read as zeros),
        // or with KEEP_SIZE changes nothing the running system can see.
        let result = match mode {
            0 => self.with(|s| {
                let end = offset.saturating_add(length);
                if end > s.node(ino.0)?.size {
                    s.set_len(ino.0, end)?;
                }
                Ok(())
            }),
            libc::FALLOC_FL_KEEP_SIZE => self.with(|s| s.node(ino.0).map(|_| ())),
            _ => Err(Errno::from_i32(libc::EOPNOTSUPP)),
        };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
