//! The store against a model: random sequences of publish, fetch, ack, reject, replay
//! and restart, run on both engines, comparing after every step each queue's contents
//! and order, its depth, and its error records with a few lines of in-memory Rust.
//!
//! The stores here run with `durable: false`: every step commits or restarts, and an
//! fsync per commit (~4 ms here) would make 2 engines × 128 cases × up to 60 steps
//! take minutes instead of seconds. This test checks the logic above the engines
//! (references, dedup, completions, counters that survive a restart), which does not
//! depend on fsync; durability is checked by the crash tests (`kill -9` while
//! publishing), tests/sync_audit.rs and the syscall audit in tests/e2e. A restart
//! here is a clean close: without fsync, a crash may lose acknowledged writes.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;

use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use weft_store::{Completion, EngineKind, NewEvent, QueueId, Store, StoreConfig};

const QUEUES: usize = 3;
/// Dedup keys come from a small set so that duplicates happen; this one means none.
const NO_DEDUP: u8 = 5;

#[derive(Debug, Clone)]
enum Step {
    /// Publishes the next event (payload `eN`) to the queues whose bit is set.
    Publish { queues: u8, dedup: u8 },
    /// Peeks at up to `max` events at the head of a queue, remembering them.
    Fetch { queue: usize, max: usize },
    /// Completes the first `n` remembered events: consumed, nothing else.
    Ack { queue: usize, n: usize },
    /// Completes the first remembered event as failed: consumed, with an error record.
    Reject { queue: usize },
    /// Resolves one error record and queues its event again, in one completion.
    Replay { queue: usize, pick: usize },
    /// Closes the store and opens it again on the same files.
    Restart,
}

/// One queued event in the model: `id` tells apart entries with the same payload.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    id: u64,
    payload: String,
}

#[derive(Debug, Clone, Default)]
struct Model {
    queues: [Vec<Entry>; QUEUES],
    /// What the last fetch of each queue returned, less what was completed since.
    fetched: [Vec<Entry>; QUEUES],
    errors: [Vec<String>; QUEUES],
    dedup_seen: HashSet<u8>,
    publishes: u64,
    next_entry: u64,
    /// Whether the last publish was stored (not a duplicate).
    last_stored: bool,
}

impl Model {
    fn push(&mut self, queue: usize, payload: String) {
        self.next_entry += 1;
        self.queues[queue].push(Entry {
            id: self.next_entry,
            payload,
        });
    }

    /// Takes up to `n` fetched entries and removes those still queued.
    fn consume_fetched(&mut self, queue: usize, n: usize) -> Vec<Entry> {
        let n = n.min(self.fetched[queue].len());
        let taken: Vec<Entry> = self.fetched[queue].drain(..n).collect();
        self.queues[queue].retain(|e| !taken.contains(e));
        taken
    }
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        let queue = 0..QUEUES;
        prop_oneof![
            6 => (1u8..(1 << QUEUES), 0..=NO_DEDUP)
                .prop_map(|(queues, dedup)| Step::Publish { queues, dedup }),
            3 => (queue.clone(), 1usize..5).prop_map(|(queue, max)| Step::Fetch { queue, max }),
            3 => (queue.clone(), 1usize..4).prop_map(|(queue, n)| Step::Ack { queue, n }),
            2 => queue.clone().prop_map(|queue| Step::Reject { queue }),
            2 => (queue, 0usize..8).prop_map(|(queue, pick)| Step::Replay { queue, pick }),
            1 => Just(Step::Restart),
        ]
        .boxed()
    }

    fn apply(mut m: Model, step: &Step) -> Model {
        match *step {
            Step::Publish { queues, dedup } => {
                m.publishes += 1;
                m.last_stored = dedup == NO_DEDUP || m.dedup_seen.insert(dedup);
                if m.last_stored {
                    for q in (0..QUEUES).filter(|q| queues & (1 << q) != 0) {
                        m.push(q, format!("e{}", m.publishes));
                    }
                }
            }
            Step::Fetch { queue, max } => {
                m.fetched[queue] = m.queues[queue].iter().take(max).cloned().collect();
            }
            Step::Ack { queue, n } => {
                m.consume_fetched(queue, n);
            }
            Step::Reject { queue } => {
                if let Some(e) = m.consume_fetched(queue, 1).pop() {
                    m.errors[queue].push(e.payload);
                }
            }
            Step::Replay { queue, pick } => {
                if !m.errors[queue].is_empty() {
                    let payload = m.errors[queue].remove(pick % m.errors[queue].len());
                    m.push(queue, payload);
                }
            }
            Step::Restart => {}
        }
        m
    }
}

/// Which engine a run uses.
trait Kind: 'static {
    const KIND: EngineKind;
}
struct OnRedb;
struct OnSled;
impl Kind for OnRedb {
    const KIND: EngineKind = EngineKind::Redb;
}
impl Kind for OnSled {
    const KIND: EngineKind = EngineKind::Sled;
}

struct Real {
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    config: StoreConfig,
    store: Option<Store>,
    queues: [QueueId; QUEUES],
    /// Queue sequence numbers of the model's `fetched`, in the same order.
    fetched: [Vec<u64>; QUEUES],
    publishes: u64,
    /// Every (queue, seq) seen, queue entries and error records apart, with its
    /// payload, and the greatest seq seen per queue: a seq never changes meaning.
    seen: HashMap<(bool, usize, u64), Vec<u8>>,
    max_seen: HashMap<(bool, usize), u64>,
}

impl Real {
    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn open(&mut self) {
        let store = Store::open(self.config.clone()).unwrap();
        for (q, id) in self.queues.iter_mut().enumerate() {
            *id = self.rt.block_on(store.queue(&format!("q{q}"))).unwrap();
        }
        self.store = Some(store);
    }

    fn complete(&self, c: Completion) {
        self.rt.block_on(self.store().complete(c)).unwrap();
    }

    /// Every queue holds what the model holds, in the same order, with the same depth
    /// and error records: nothing acknowledged missing, nothing unknown.
    fn check(&mut self, model: &Model) {
        for q in 0..QUEUES {
            let id = self.queues[q];
            let queued = self.store().peek(id, usize::MAX).unwrap();
            let errors = self.store().errors(id, usize::MAX).unwrap();
            let depth = self.store().depth(id);
            let payloads: Vec<String> = queued
                .iter()
                .map(|d| String::from_utf8(d.payload.clone()).unwrap())
                .collect();
            let expected: Vec<&str> = model.queues[q].iter().map(|e| e.payload.as_str()).collect();
            assert_eq!(payloads, expected, "contents of q{q}");
            assert_eq!(depth, expected.len() as u64, "depth of q{q}");
            let records: Vec<String> = errors
                .iter()
                .map(|(_, r)| String::from_utf8(r.clone()).unwrap())
                .collect();
            assert_eq!(records, model.errors[q], "error records of q{q}");

            let before = self.max_seen.get(&(false, q)).copied();
            for d in &queued {
                self.check_seq(false, q, d.seq, &d.payload, before);
            }
            let before = self.max_seen.get(&(true, q)).copied();
            for (seq, record) in &errors {
                self.check_seq(true, q, *seq, record, before);
            }
        }
    }

    /// Checks that a listed (seq, payload) is either one seen before, unchanged, or
    /// new with a greater seq than any seen before in its queue.
    fn check_seq(&mut self, error: bool, q: usize, seq: u64, payload: &[u8], before: Option<u64>) {
        match self.seen.get(&(error, q, seq)) {
            Some(p) => assert_eq!(p, payload, "queue {q} seq {seq} changed its payload"),
            None => {
                assert!(
                    before.is_none_or(|max| seq > max),
                    "queue {q} reused seq {seq} (seen up to {before:?})"
                );
                self.seen.insert((error, q, seq), payload.to_vec());
            }
        }
        let max = self.max_seen.entry((error, q)).or_insert(seq);
        *max = (*max).max(seq);
    }
}

struct ModelTest<K>(PhantomData<K>);

impl<K: Kind> StateMachineTest for ModelTest<K> {
    type SystemUnderTest = Real;
    type Reference = Reference;

    fn init_test(_: &Model) -> Real {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(dir.path().join("weft.redb"));
        config.engine = K::KIND;
        config.durable = false;
        let mut real = Real {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            _dir: dir,
            config,
            store: None,
            queues: [0; QUEUES],
            fetched: Default::default(),
            publishes: 0,
            seen: HashMap::new(),
            max_seen: HashMap::new(),
        };
        real.open();
        real
    }

    fn apply(mut real: Real, model: &Model, step: Step) -> Real {
        match step {
            Step::Publish { queues, dedup } => {
                real.publishes += 1;
                let event = NewEvent {
                    dedup: (dedup != NO_DEDUP).then(|| format!("/test\0k{dedup}").into_bytes()),
                    payload: format!("e{}", real.publishes).into_bytes(),
                    queues: (0..QUEUES)
                        .filter(|q| queues & (1 << q) != 0)
                        .map(|q| real.queues[q])
                        .collect(),
                };
                let stored = real.rt.block_on(real.store().append(vec![event])).unwrap();
                assert_eq!(stored, [model.last_stored], "stored or duplicate");
            }
            Step::Fetch { queue, max } => {
                let got = real.store().peek(real.queues[queue], max).unwrap();
                let payloads: Vec<&[u8]> = got.iter().map(|d| d.payload.as_slice()).collect();
                let expected: Vec<&[u8]> = model.fetched[queue]
                    .iter()
                    .map(|e| e.payload.as_bytes())
                    .collect();
                assert_eq!(payloads, expected, "fetch from q{queue}");
                real.fetched[queue] = got.iter().map(|d| d.seq).collect();
            }
            Step::Ack { queue, n } => {
                let n = n.min(real.fetched[queue].len());
                let consumed: Vec<u64> = real.fetched[queue].drain(..n).collect();
                real.complete(Completion {
                    queue: real.queues[queue],
                    consumed,
                    ..Default::default()
                });
            }
            Step::Reject { queue } => {
                if !real.fetched[queue].is_empty() {
                    let seq = real.fetched[queue].remove(0);
                    // The record carries the payload, as weft's records carry the event.
                    let payload = real
                        .store()
                        .peek(real.queues[queue], usize::MAX)
                        .unwrap()
                        .into_iter()
                        .find(|d| d.seq == seq)
                        .map(|d| d.payload);
                    real.complete(Completion {
                        queue: real.queues[queue],
                        consumed: vec![seq],
                        failed: payload.into_iter().collect(),
                        ..Default::default()
                    });
                }
            }
            Step::Replay { queue, pick } => {
                let errors = real.store().errors(real.queues[queue], usize::MAX).unwrap();
                if !errors.is_empty() {
                    let (seq, record) = errors[pick % errors.len()].clone();
                    real.complete(Completion {
                        queue: real.queues[queue],
                        outputs: vec![NewEvent {
                            dedup: None,
                            payload: record,
                            queues: vec![real.queues[queue]],
                        }],
                        resolved: vec![seq],
                        ..Default::default()
                    });
                }
            }
            Step::Restart => {
                let before = real.queues;
                let store = real.store.take().unwrap();
                real.rt.block_on(store.close()).unwrap();
                drop(store);
                real.open();
                assert_eq!(real.queues, before, "queue ids survive a restart");
            }
        }
        // After every step (here rather than in `check_invariants`, which cannot
        // update the seq bookkeeping).
        real.check(model);
        real
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    })]

    #[test]
    fn redb_store_behaves_like_the_model(sequential 1..60 => ModelTest<OnRedb>);

    #[test]
    fn sled_store_behaves_like_the_model(sequential 1..60 => ModelTest<OnSled>);
}
