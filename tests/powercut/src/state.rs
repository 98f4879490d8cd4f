//! The filesystem's state: what the running system sees (the *volatile* view) and
//! what the disk holds (the *durable* view, which the backing folder mirrors), and the
//! two syncs that move the one into the other. No FUSE here: `fuse.rs` turns requests
//! into these calls, `cut.rs` decides what of the volatile view a cut leaves behind.
//!
//! # How the two views are kept
//!
//! A file's durable content is a file in the backing folder (its *home*); what was
//! written since its last `fsync` is a list of [`Pending`] operations in memory, laid
//! over that content when read. `fsync`/`fdatasync` applies the list to the home.
//!
//! A folder's durable entries are the backing folder's entries; its volatile entries
//! are a map in memory. Creating, renaming or removing a name changes only the map;
//! `fsync` of the folder makes the backing folder match it: names gone are removed,
//! names new are linked to their file's home (a new hard link when the file already
//! has a durable name elsewhere, a rename when it had none).
//!
//! A file or folder synced while no synced folder names it has its home among the
//! *orphans* (`.powercut-orphans/INO` in the backing folder, hidden from the mount):
//! once a folder holding its name is synced, it moves into place; if the power is cut
//! first, it is lost, and the next mount empties the orphans.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::SystemTime;

/// An inode number, as the kernel sees it.
pub type Ino = u64;
/// FUSE's root inode.
pub const ROOT: Ino = 1;
/// The backing folder's hidden folder of homes without a durable name.
pub const ORPHANS: &str = ".powercut-orphans";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    File,
    Dir,
}

/// Where an inode's durable self is in the backing folder.
#[derive(Clone, Debug)]
pub(crate) enum Home {
    /// Nowhere: never synced and never durably named; a cut loses it whole.
    None,
    /// The backing folder itself.
    Root,
    /// `ORPHANS/INO`: synced, but no synced folder names it yet.
    Orphan,
    /// Its durable names, `(folder, name)`: a file may have several (hard links in
    /// the backing folder, left by a rename whose old folder was not synced), a
    /// folder has one.
    Named(Vec<(Ino, OsString)>),
}

/// A change to a file's content since its last sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    Write {
        offset: u64,
        data: Vec<u8>,
    },
    /// `ftruncate` (or a `fallocate` that grows the file): shorter cuts, longer
    /// reads as zeros.
    SetLen(u64),
}

impl Pending {
    /// Lays this change over `buf`, which holds the file's bytes from `at` on.
    fn overlay(&self, buf: &mut [u8], at: u64) {
        let end = at + buf.len() as u64;
        match self {
            Pending::Write { offset, data } => {
                let from = (*offset).max(at);
                let to = (offset + data.len() as u64).min(end);
                if from < to {
                    let src = &data[(from - offset) as usize..(to - offset) as usize];
                    buf[(from - at) as usize..(to - at) as usize].copy_from_slice(src);
                }
            }
            Pending::SetLen(len) => {
                if *len < end {
                    let from = (*len).max(at);
                    buf[(from - at) as usize..].fill(0);
                }
            }
        }
    }

    /// Writes this change into the backing file.
    pub(crate) fn apply(&self, file: &File) -> io::Result<()> {
        match self {
            Pending::Write { offset, data } => file.write_all_at(data, *offset),
            Pending::SetLen(len) => file.set_len(*len),
        }
    }
}

pub struct Node {
    pub kind: Kind,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: SystemTime,
    pub(crate) home: Home,
    /// Files: the size the running system sees.
    pub size: u64,
    /// Files: what was written since the last sync, in order.
    pub(crate) pending: Vec<Pending>,
    /// Files: the home, once opened. A descriptor follows its file through renames
    /// and links in the backing folder.
    file: Option<File>,
    /// Files: how many names the running system sees.
    pub links: u32,
    /// Folders: the names the running system sees; `None` until first read from the
    /// backing folder (until then they equal the durable ones).
    pub(crate) entries: Option<BTreeMap<OsString, Ino>>,
    /// Folders: the durable names, as the backing folder holds them.
    pub(crate) durable: BTreeMap<OsString, Ino>,
}

impl Node {
    fn new(kind: Kind, perm: u16, uid: u32, gid: u32, home: Home) -> Self {
        Self {
            kind,
            perm,
            uid,
            gid,
            mtime: SystemTime::now(),
            home,
            size: 0,
            pending: Vec::new(),
            file: None,
            links: 1,
            entries: None,
            durable: BTreeMap::new(),
        }
    }
}

/// What the filesystem was asked to do, for a test to show that the model was used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub writes: u64,
    /// `fsync`/`fdatasync` of files (and writes through `O_SYNC`/`O_DSYNC`).
    pub file_syncs: u64,
    /// `fsync` of folders.
    pub folder_syncs: u64,
}

pub struct State {
    backing: PathBuf,
    nodes: HashMap<Ino, Node>,
    next: Ino,
    /// Files read from the backing folder by `(device, inode)`, so that two hard
    /// links there stay one file here.
    seen: HashMap<(u64, u64), Ino>,
    /// Set at a cut: every request fails from then on.
    pub frozen: bool,
    pub stats: Stats,
}

pub(crate) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// The model contradicts itself: a bug here, reported instead of a panic.
fn broken(what: &str) -> io::Error {
    io::Error::other(format!("weft-powercut: inconsistent state: {what}"))
}

impl State {
    /// The state of a fresh mount over `backing`: what it holds is durable; homes
    /// left among the orphans by an earlier mount are gone.
    pub fn open(backing: PathBuf) -> io::Result<Self> {
        let meta = std::fs::metadata(&backing)?;
        let orphans = backing.join(ORPHANS);
        match std::fs::remove_dir_all(&orphans) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir(&orphans)?;
        let mut root = Node::new(
            Kind::Dir,
            (meta.mode() & 0o7777) as u16,
            meta.uid(),
            meta.gid(),
            Home::Root,
        );
        root.links = 2;
        Ok(Self {
            backing,
            nodes: HashMap::from([(ROOT, root)]),
            next: ROOT + 1,
            seen: HashMap::new(),
            frozen: false,
            stats: Stats::default(),
        })
    }

    pub fn backing(&self) -> &std::path::Path {
        &self.backing
    }

    pub fn node(&self, ino: Ino) -> io::Result<&Node> {
        self.nodes.get(&ino).ok_or_else(|| errno(libc::ENOENT))
    }

    fn node_mut(&mut self, ino: Ino) -> io::Result<&mut Node> {
        self.nodes.get_mut(&ino).ok_or_else(|| errno(libc::ENOENT))
    }

    fn add(&mut self, node: Node) -> Ino {
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(ino, node);
        ino
    }

    fn orphan_path(&self, ino: Ino) -> PathBuf {
        self.backing.join(ORPHANS).join(ino.to_string())
    }

    /// Where `ino`'s home is in the backing folder; `None` if it has none.
    pub(crate) fn path_of(&self, ino: Ino) -> io::Result<Option<PathBuf>> {
        let mut parts = Vec::new();
        let mut at = ino;
        // Folders have one durable name each, so this walks up a chain; the bound
        // only guards against a bug making a cycle.
        for _ in 0..4096 {
            match &self.node(at)?.home {
                Home::None => return Ok(None),
                Home::Root => return Ok(Some(below(self.backing.clone(), &parts))),
                Home::Orphan => return Ok(Some(below(self.orphan_path(at), &parts))),
                Home::Named(names) => {
                    let (dir, name) = names.first().ok_or_else(|| broken("no names"))?;
                    parts.push(name.clone());
                    at = *dir;
                }
            }
        }
        Err(broken("a cycle of folders"))
    }

    /// The volatile entries of folder `dir`, read from the backing folder the first
    /// time they are needed.
    pub fn entries(&mut self, dir: Ino) -> io::Result<&BTreeMap<OsString, Ino>> {
        if self.node(dir)?.kind != Kind::Dir {
            return Err(errno(libc::ENOTDIR));
        }
        if self.node(dir)?.entries.is_none() {
            let loaded = self.read_backing_dir(dir)?;
            let node = self.node_mut(dir)?;
            node.durable = loaded.clone();
            node.entries = Some(loaded);
        }
        self.node(dir)?
            .entries
            .as_ref()
            .ok_or_else(|| broken("entries not loaded"))
    }

    fn entries_mut(&mut self, dir: Ino) -> io::Result<&mut BTreeMap<OsString, Ino>> {
        self.entries(dir)?;
        self.node_mut(dir)?
            .entries
            .as_mut()
            .ok_or_else(|| broken("entries not loaded"))
    }

    fn read_backing_dir(&mut self, dir: Ino) -> io::Result<BTreeMap<OsString, Ino>> {
        let mut loaded = BTreeMap::new();
        let Some(path) = self.path_of(dir)? else {
            return Ok(loaded);
        };
        for entry in std::fs::read_dir(&path)? {
            let entry = entry?;
            let name = entry.file_name();
            if dir == ROOT && name == ORPHANS {
                continue;
            }
            let meta = std::fs::symlink_metadata(entry.path())?;
            let perm = (meta.mode() & 0o7777) as u16;
            let home = Home::Named(vec![(dir, name.clone())]);
            let ino = if meta.is_file() {
                if let Some(&ino) = self.seen.get(&(meta.dev(), meta.ino())) {
                    let node = self.node_mut(ino)?;
                    node.links += 1;
                    if let Home::Named(names) = &mut node.home {
                        names.push((dir, name.clone()));
                    }
                    ino
                } else {
                    let mut node = Node::new(Kind::File, perm, meta.uid(), meta.gid(), home);
                    node.size = meta.len();
                    let ino = self.add(node);
                    self.seen.insert((meta.dev(), meta.ino()), ino);
                    ino
                }
            } else if meta.is_dir() {
                let mut node = Node::new(Kind::Dir, perm, meta.uid(), meta.gid(), home);
                node.links = 2;
                self.add(node)
            } else {
                // Symlinks, devices, sockets: not modelled (see the crate docs).
                continue;
            };
            loaded.insert(name, ino);
        }
        Ok(loaded)
    }

    pub fn lookup(&mut self, dir: Ino, name: &OsStr) -> io::Result<Ino> {
        self.entries(dir)?
            .get(name)
            .copied()
            .ok_or_else(|| errno(libc::ENOENT))
    }

    /// A new, empty file or folder named `name` in `dir`, in the volatile view only.
    pub fn create(
        &mut self,
        dir: Ino,
        name: &OsStr,
        kind: Kind,
        perm: u16,
        owner: (u32, u32),
    ) -> io::Result<Ino> {
        if self.entries(dir)?.contains_key(name) {
            return Err(errno(libc::EEXIST));
        }
        let mut node = Node::new(kind, perm, owner.0, owner.1, Home::None);
        if kind == Kind::Dir {
            node.entries = Some(BTreeMap::new());
            node.links = 2;
        }
        let ino = self.add(node);
        self.entries_mut(dir)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    pub fn unlink(&mut self, dir: Ino, name: &OsStr) -> io::Result<()> {
        let ino = self.lookup(dir, name)?;
        if self.node(ino)?.kind == Kind::Dir {
            return Err(errno(libc::EISDIR));
        }
        self.entries_mut(dir)?.remove(name);
        let node = self.node_mut(ino)?;
        node.links = node.links.saturating_sub(1);
        Ok(())
    }

    pub fn rmdir(&mut self, dir: Ino, name: &OsStr) -> io::Result<()> {
        let ino = self.lookup(dir, name)?;
        if self.node(ino)?.kind != Kind::Dir {
            return Err(errno(libc::ENOTDIR));
        }
        if !self.entries(ino)?.is_empty() {
            return Err(errno(libc::ENOTEMPTY));
        }
        self.entries_mut(dir)?.remove(name);
        Ok(())
    }

    pub fn rename(
        &mut self,
        from: (Ino, &OsStr),
        to: (Ino, &OsStr),
        no_replace: bool,
    ) -> io::Result<()> {
        let ino = self.lookup(from.0, from.1)?;
        let kind = self.node(ino)?.kind;
        self.entries(to.0)?;
        if let Some(&old) = self.entries(to.0)?.get(to.1) {
            if no_replace {
                return Err(errno(libc::EEXIST));
            }
            if old == ino {
                return Ok(());
            }
            match (kind, self.node(old)?.kind) {
                (Kind::Dir, Kind::File) => return Err(errno(libc::ENOTDIR)),
                (Kind::File, Kind::Dir) => return Err(errno(libc::EISDIR)),
                (Kind::Dir, Kind::Dir) if !self.entries(old)?.is_empty() => {
                    return Err(errno(libc::ENOTEMPTY));
                }
                (Kind::Dir, Kind::Dir) => {}
                (Kind::File, Kind::File) => {
                    let node = self.node_mut(old)?;
                    node.links = node.links.saturating_sub(1);
                }
            }
        }
        self.entries_mut(from.0)?.remove(from.1);
        self.entries_mut(to.0)?.insert(to.1.to_owned(), ino);
        Ok(())
    }

    fn file(&self, ino: Ino) -> io::Result<&Node> {
        let node = self.node(ino)?;
        match node.kind {
            Kind::File => Ok(node),
            Kind::Dir => Err(errno(libc::EISDIR)),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> io::Result<&mut Node> {
        self.file(ino)?;
        self.node_mut(ino)
    }

    /// Opens the home of file `ino` if it has one and it is not open yet.
    fn open_home(&mut self, ino: Ino) -> io::Result<()> {
        if self.file(ino)?.file.is_some() {
            return Ok(());
        }
        if let Some(path) = self.path_of(ino)? {
            let file = File::options().read(true).write(true).open(path)?;
            self.node_mut(ino)?.file = Some(file);
        }
        Ok(())
    }

    /// Gives file `ino` a home among the orphans if it has none, and opens it.
    pub(crate) fn ensure_home(&mut self, ino: Ino) -> io::Result<&File> {
        if matches!(self.file(ino)?.home, Home::None) {
            let file = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(self.orphan_path(ino))?;
            let node = self.node_mut(ino)?;
            node.home = Home::Orphan;
            node.file = Some(file);
        }
        self.open_home(ino)?;
        self.file(ino)?
            .file
            .as_ref()
            .ok_or_else(|| broken("a home that does not open"))
    }

    /// The bytes the running system reads: the home's, with the pending changes
    /// laid over them, up to the volatile size.
    pub fn read(&mut self, ino: Ino, offset: u64, size: u32) -> io::Result<Vec<u8>> {
        self.open_home(ino)?;
        let node = self.file(ino)?;
        let end = offset.saturating_add(u64::from(size)).min(node.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut buf = vec![0; (end - offset) as usize];
        if let Some(file) = &node.file {
            let mut done = 0;
            while done < buf.len() {
                match file.read_at(&mut buf[done..], offset + done as u64) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            // Past the home's end the file reads as zeros (a grown size).
            buf[done..].fill(0);
        }
        for change in &node.pending {
            change.overlay(&mut buf, offset);
        }
        Ok(buf)
    }

    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> io::Result<()> {
        let node = self.file_mut(ino)?;
        node.size = node.size.max(offset + data.len() as u64);
        node.pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        node.mtime = SystemTime::now();
        self.stats.writes += 1;
        Ok(())
    }

    pub fn set_len(&mut self, ino: Ino, len: u64) -> io::Result<()> {
        let node = self.file_mut(ino)?;
        node.size = len;
        node.pending.push(Pending::SetLen(len));
        node.mtime = SystemTime::now();
        Ok(())
    }

    pub fn set_attr(
        &mut self,
        ino: Ino,
        perm: Option<u16>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<()> {
        let node = self.node_mut(ino)?;
        node.perm = perm.unwrap_or(node.perm);
        node.uid = uid.unwrap_or(node.uid);
        node.gid = gid.unwrap_or(node.gid);
        Ok(())
    }

    /// `fsync`/`fdatasync` of a file or a folder.
    pub fn fsync(&mut self, ino: Ino) -> io::Result<()> {
        match self.node(ino)?.kind {
            Kind::File => {
                self.stats.file_syncs += 1;
                self.sync_file(ino)
            }
            Kind::Dir => {
                self.stats.folder_syncs += 1;
                self.sync_dir(ino)
            }
        }
    }

    /// Applies a file's pending changes to its home (made an orphan if it had none).
    fn sync_file(&mut self, ino: Ino) -> io::Result<()> {
        if self.file(ino)?.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.file_mut(ino)?.pending);
        let file = self.ensure_home(ino)?;
        for change in &pending {
            change.apply(file)?;
        }
        Ok(())
    }

    /// Makes the backing folder of `dir` hold exactly its volatile entries.
    pub(crate) fn sync_dir(&mut self, dir: Ino) -> io::Result<()> {
        let node = self.node(dir)?;
        let Some(entries) = node.entries.clone() else {
            return Ok(()); // never read, so never changed
        };
        let durable = node.durable.clone();
        if entries == durable {
            return Ok(());
        }
        if matches!(node.home, Home::None) {
            std::fs::create_dir(self.orphan_path(dir))?;
            self.node_mut(dir)?.home = Home::Orphan;
        }
        // Names gone (or now naming another file) first, so a replaced name is free.
        for (name, ino) in &durable {
            if entries.get(name) != Some(ino) {
                self.drop_durable_name(dir, name, *ino)?;
            }
        }
        for (name, ino) in &entries {
            if durable.get(name) != Some(ino) {
                self.add_durable_name(dir, name, *ino)?;
            }
        }
        Ok(())
    }

    fn drop_durable_name(&mut self, dir: Ino, name: &OsStr, ino: Ino) -> io::Result<()> {
        let dir_path = self
            .path_of(dir)?
            .ok_or_else(|| broken("a durable name in no folder"))?;
        let target = dir_path.join(name);
        let orphan = self.orphan_path(ino);
        self.node_mut(dir)?.durable.remove(name);
        let node = self.node_mut(ino)?;
        let Home::Named(names) = &mut node.home else {
            return Err(broken("a durable name of an unnamed home"));
        };
        names.retain(|(d, n)| !(*d == dir && n == name));
        if names.is_empty() {
            // The last durable name: the content lives on (the file may be open, or
            // named again elsewhere) until the next mount.
            node.home = Home::Orphan;
            std::fs::rename(&target, orphan)
        } else {
            std::fs::remove_file(&target)
        }
    }

    fn add_durable_name(&mut self, dir: Ino, name: &OsStr, ino: Ino) -> io::Result<()> {
        let dir_path = self
            .path_of(dir)?
            .ok_or_else(|| broken("syncing a folder with no home"))?;
        let target = dir_path.join(name);
        let kind = self.node(ino)?.kind;
        let home = self.node(ino)?.home.clone();
        let named = match (home, kind) {
            (Home::None, Kind::File) => {
                // Named before any sync of its content: an empty file.
                File::create_new(&target)?;
                vec![(dir, name.to_owned())]
            }
            (Home::None, Kind::Dir) => {
                std::fs::create_dir(&target)?;
                vec![(dir, name.to_owned())]
            }
            (Home::Orphan, _) => {
                std::fs::rename(self.orphan_path(ino), &target)?;
                vec![(dir, name.to_owned())]
            }
            (Home::Named(mut names), Kind::File) => {
                let from = self
                    .path_of(ino)?
                    .ok_or_else(|| broken("a named file with no path"))?;
                std::fs::hard_link(from, &target)?;
                names.push((dir, name.to_owned()));
                names
            }
            (Home::Named(names), Kind::Dir) => {
                // A folder moved: made durable in both folders at once (crate docs).
                let from = self
                    .path_of(ino)?
                    .ok_or_else(|| broken("a named folder with no path"))?;
                std::fs::rename(from, &target)?;
                for (old_dir, old_name) in names {
                    self.node_mut(old_dir)?.durable.remove(&old_name);
                }
                vec![(dir, name.to_owned())]
            }
            (Home::Root, _) => return Err(broken("the root named in a folder")),
        };
        self.node_mut(ino)?.home = Home::Named(named);
        self.node_mut(dir)?.durable.insert(name.to_owned(), ino);
        Ok(())
    }

    /// Every file with unsynced changes, by inode.
    pub(crate) fn unsynced_files(&self) -> Vec<Ino> {
        let mut files: Vec<Ino> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.kind == Kind::File && !n.pending.is_empty())
            .map(|(ino, _)| *ino)
            .collect();
        files.sort_unstable();
        files
    }

    /// Every folder whose entries differ from its durable ones, by inode.
    pub(crate) fn unsynced_dirs(&self) -> Vec<Ino> {
        let mut dirs: Vec<Ino> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.entries.as_ref().is_some_and(|e| *e != n.durable))
            .map(|(ino, _)| *ino)
            .collect();
        dirs.sort_unstable();
        dirs
    }

    /// A clean shutdown: every file and folder synced.
    pub fn sync_everything(&mut self) -> io::Result<()> {
        for ino in self.unsynced_files() {
            self.sync_file(ino)?;
        }
        // A folder's sync may move another's durable entry (a moved folder), so
        // until none differs; each round settles at least one.
        for _ in 0..=self.nodes.len() {
            let dirs = self.unsynced_dirs();
            if dirs.is_empty() {
                return Ok(());
            }
            for dir in dirs {
                self.sync_dir(dir)?;
            }
        }
        Err(broken("folders that do not settle"))
    }
}

/// `base` joined with `parts` in reverse (they were gathered walking up).
fn below(mut base: PathBuf, parts: &[OsString]) -> PathBuf {
    for part in parts.iter().rev() {
        base.push(part);
    }
    base
}
