//! Key encodings. Integers are big-endian so that byte order is numeric order.

pub type QueueId = u32;

pub fn u64_be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub fn read_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

pub fn read_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// `[queue id][seq]`: one queue's entries are contiguous and in order.
pub fn queued(queue: QueueId, seq: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&queue.to_be_bytes());
    k[4..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The key range `[start, end)` holding all of one queue's entries.
pub fn queue_range(queue: QueueId) -> ([u8; 12], [u8; 12]) {
    (queued(queue, 0), queued(queue.wrapping_add(1), 0))
}

pub fn queue_counter(kind: &str, queue: QueueId) -> Vec<u8> {
    format!("{kind}:{queue}").into_bytes()
}

/// A queue entry's value: `[event seq][payload bytes u32][enqueued at, ms]`, so
/// the queue's size and the age of its oldest event are known without reading events.
pub fn entry(event: u64, size: usize, at_ms: u64) -> [u8; 20] {
    let mut v = [0u8; 20];
    v[..8].copy_from_slice(&event.to_be_bytes());
    v[8..12].copy_from_slice(&u32::try_from(size).unwrap_or(u32::MAX).to_be_bytes());
    v[12..].copy_from_slice(&at_ms.to_be_bytes());
    v
}

/// A queue entry whose event failed and will be tried again: the plain entry,
/// then `[attempts u32][first failure, ms u64]`. Kept in the entry itself so the
/// count is written in the commit that counted it and dies with the entry; a
/// reader of the plain 20 bytes (an older build) still reads it.
pub fn entry_with_attempts(plain: &[u8], attempts: crate::Attempts) -> Vec<u8> {
    let mut v = Vec::with_capacity(32);
    v.extend_from_slice(plain.get(..20).unwrap_or(plain));
    v.extend_from_slice(&attempts.count.to_be_bytes());
    v.extend_from_slice(&attempts.first_failure_ms.to_be_bytes());
    v
}

/// The attempts recorded in a queue entry, if any.
pub fn read_attempts(v: &[u8]) -> Option<crate::Attempts> {
    Some(crate::Attempts {
        count: read_u32(v.get(20..)?)?,
        first_failure_ms: read_u64(v.get(24..)?)?,
    })
}

/// `(event seq, payload bytes, enqueued at ms)` of a queue entry.
pub fn read_entry(v: &[u8]) -> Option<(u64, u64, u64)> {
    Some((
        read_u64(v)?,
        u64::from(read_u32(v.get(8..)?)?),
        read_u64(v.get(12..)?)?,
    ))
}

/// `[owner][0x00][key]`: one owner's state is contiguous (names hold no NUL).
pub fn state(owner: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner.len() + 1 + key.len());
    k.extend_from_slice(owner.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The key range `[start, end)` holding all of one owner's state.
pub fn state_range(owner: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = owner.as_bytes().to_vec();
    let mut end = start.clone();
    start.push(0);
    end.push(1);
    (start, end)
}
