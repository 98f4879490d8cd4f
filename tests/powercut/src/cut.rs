//! What a power cut leaves on the disk: everything synced, and (if asked) some of
//! what was not, the way a disk that writes back in its own order might leave it.

use std::io;

use crate::rng::Rng;
use crate::state::{Ino, Pending, State};

/// The size of a piece a disk writes whole (a page): unsynced writes survive or are
/// lost in pieces of this size, aligned to it.
pub const PIECE: u64 = 4096;

/// What of the unsynced state survives a cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Survivors {
    /// Nothing: only what was synced is on the disk. The strictest outcome, and the
    /// one that loses most.
    SyncedOnly,
    /// Some of it, chosen from `seed`: per file, its unsynced writes cut into
    /// [`PIECE`]-sized pieces, put in a random order (size changes stay in place:
    /// no piece moves across one), and a random prefix of that order kept; then, for
    /// one file in five that grew, its new size without the data (the rest reads as
    /// zeros); per folder, its unsynced changes all kept or all lost, one in two.
    Some { seed: u64 },
}

/// What a cut dropped and kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Files with unsynced writes.
    pub files: usize,
    /// Their unsynced pieces (writes cut into pieces, and size changes).
    pub pieces: usize,
    /// Of those, how many reached the disk.
    pub kept_pieces: usize,
    /// Files that kept a grown size without its data.
    pub grown_without_data: usize,
    /// Folders with unsynced changes.
    pub folders: usize,
    /// Of those, how many had them reach the disk.
    pub kept_folders: usize,
}

/// `changes` cut into pieces that do not cross a [`PIECE`] boundary.
pub fn pieces(changes: &[Pending]) -> Vec<Pending> {
    let mut out = Vec::new();
    for change in changes {
        match change {
            Pending::SetLen(_) => out.push(change.clone()),
            Pending::Write { offset, data } => {
                let mut at = *offset;
                let end = offset + data.len() as u64;
                while at < end {
                    let next = ((at / PIECE + 1) * PIECE).min(end);
                    out.push(Pending::Write {
                        offset: at,
                        data: data[(at - offset) as usize..(next - offset) as usize].to_vec(),
                    });
                    at = next;
                }
            }
        }
    }
    out
}

/// `pieces` in a random order in which no write moves across a size change.
pub fn reorder(mut pieces: Vec<Pending>, rng: &mut Rng) -> Vec<Pending> {
    let mut start = 0;
    for i in 0..=pieces.len() {
        if i == pieces.len() || matches!(pieces[i], Pending::SetLen(_)) {
            rng.shuffle(&mut pieces[start..i]);
            start = i + 1;
        }
    }
    pieces
}

impl State {
    /// Writes what survives the cut into the backing folder. Called once the
    /// filesystem is frozen; what it leaves is what the next mount sees.
    pub fn survive(&mut self, survivors: Survivors) -> io::Result<CutReport> {
        let files = self.unsynced_files();
        let dirs = self.unsynced_dirs();
        let mut report = CutReport {
            files: files.len(),
            folders: dirs.len(),
            ..CutReport::default()
        };
        let Survivors::Some { seed } = survivors else {
            report.pieces = files
                .iter()
                .map(|ino| self.node(*ino).map(|n| pieces(&n.pending).len()))
                .sum::<io::Result<usize>>()?;
            return Ok(report);
        };
        let mut rng = Rng::new(seed);
        for ino in files {
            self.keep_some_writes(ino, &mut rng, &mut report)?;
        }
        for dir in dirs {
            if rng.percent(50) {
                self.sync_dir(dir)?;
                report.kept_folders += 1;
            }
        }
        Ok(report)
    }

    fn keep_some_writes(
        &mut self,
        ino: Ino,
        rng: &mut Rng,
        report: &mut CutReport,
    ) -> io::Result<()> {
        let node = self.node(ino)?;
        let size = node.size;
        let order = reorder(pieces(&node.pending), rng);
        let keep = rng.below(order.len() as u64 + 1) as usize;
        report.pieces += order.len();
        report.kept_pieces += keep;
        let grow = rng.percent(20);
        if keep == 0 && !grow {
            return Ok(());
        }
        let file = self.ensure_home(ino)?;
        for piece in &order[..keep] {
            piece.apply(file)?;
        }
        if grow && file.metadata()?.len() < size {
            file.set_len(size)?;
            report.grown_without_data += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn writes_are_cut_at_page_boundaries() {
        let p = pieces(&[Pending::Write {
            offset: 4000,
            data: vec![7; 5000],
        }]);
        let spans: Vec<(u64, usize)> = p
            .iter()
            .map(|p| match p {
                Pending::Write { offset, data } => (*offset, data.len()),
                Pending::SetLen(_) => (0, 0),
            })
            .collect();
        assert_eq!(spans, [(4000, 96), (4096, 4096), (8192, 808)]);
    }

    #[test]
    fn no_write_moves_across_a_size_change() {
        let w = |o: u64| Pending::Write {
            offset: o,
            data: vec![1],
        };
        let changes = vec![w(0), w(1), w(2), Pending::SetLen(2), w(3), w(4)];
        for seed in 1..50 {
            let order = reorder(changes.clone(), &mut Rng::new(seed));
            let at = order.iter().position(|p| *p == Pending::SetLen(2)).unwrap();
            assert_eq!(at, 3, "seed {seed}: {order:?}");
            assert!(order[..3].iter().all(|p| [w(0), w(1), w(2)].contains(p)));
        }
    }
}
