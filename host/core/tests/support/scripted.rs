//! A scripted handler: a stand-in for a module whose reaction to each event a test
//! writes down in advance, so a real [`Worker`] can be driven through every path
//! without WebAssembly, and a rig that runs one worker over a real store.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use weft_core::name::queue_of_module;
use weft_core::{
    CallError, Control, Event, FailureRecord, Handler, Hub, Outcome, Patterns, Quota, Report,
    RetryPolicy, Subscription, Worker,
};
use weft_store::QueueId;

use super::{eventually, name};

/// The topic outputs go to, which the test module may publish to.
pub const OUT: &str = "out/done";
/// The extension an output carries naming the version that made it.
pub const MADE_BY: &str = "madeby";

/// What the handler does with one event in one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// This many outputs to [`OUT`].
    Emit(usize),
    /// One output to this topic.
    EmitTo(&'static str),
    Retry,
    Reject,
    /// Fails the whole call.
    Trap,
    /// Fails the whole call as if its time budget ran out.
    Timeout,
    /// Waits for [`Script::open`], then emits one output.
    Hold,
}

/// One call the worker made: which version, on which lane, with which events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub version: String,
    pub lane: usize,
    pub ids: Vec<String>,
}

/// The reactions planned per (version, event id), and what happened; shared by
/// every handler a test makes.
#[derive(Clone, Default)]
pub struct Script {
    state: Arc<(Mutex<State>, Condvar)>,
}

#[derive(Default)]
struct State {
    plans: HashMap<(String, String), VecDeque<Reaction>>,
    calls: Vec<Call>,
    holding: bool,
    open: bool,
}

impl Script {
    /// What `version` does with event `id` on its next calls, one reaction per
    /// call; the last one stays. Unplanned events get one output.
    pub fn plan(&self, version: &str, id: &str, reactions: impl IntoIterator<Item = Reaction>) {
        let mut s = self.state.0.lock().unwrap();
        s.plans
            .insert((version.into(), id.into()), reactions.into_iter().collect());
    }

    pub fn handlers(&self, version: &str, lanes: usize) -> Vec<Box<dyn Handler>> {
        (0..lanes)
            .map(|lane| {
                Box::new(Scripted {
                    script: self.clone(),
                    version: version.into(),
                    lane,
                }) as Box<dyn Handler>
            })
            .collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.0.lock().unwrap().calls.clone()
    }

    /// The ids of each call, in call order.
    pub fn batches(&self) -> Vec<Vec<String>> {
        self.calls().into_iter().map(|c| c.ids).collect()
    }

    /// Whether a call waits at a [`Reaction::Hold`].
    pub fn holding(&self) -> bool {
        self.state.0.lock().unwrap().holding
    }

    /// Lets every held call go on, and every later one pass.
    pub fn open(&self) {
        self.state.0.lock().unwrap().open = true;
        self.state.1.notify_all();
    }

    fn next(&self, version: &str, id: &str) -> Reaction {
        let mut s = self.state.0.lock().unwrap();
        match s.plans.get_mut(&(version.to_owned(), id.to_owned())) {
            Some(plan) if plan.len() > 1 => plan.pop_front().unwrap(),
            Some(plan) => plan.front().cloned().unwrap_or(Reaction::Emit(1)),
            None => Reaction::Emit(1),
        }
    }

    fn hold(&self) {
        let (lock, open) = &*self.state;
        let mut s = lock.lock().unwrap();
        s.holding = true;
        while !s.open {
            s = open.wait(s).unwrap();
        }
        s.holding = false;
    }
}

struct Scripted {
    script: Script,
    version: String,
    lane: usize,
}

impl Handler for Scripted {
    fn process(&mut self, batch: &[Event]) -> Result<Vec<Outcome>, CallError> {
        let reactions: Vec<Reaction> = batch
            .iter()
            .map(|e| self.script.next(&self.version, &e.id))
            .collect();
        self.script.state.0.lock().unwrap().calls.push(Call {
            version: self.version.clone(),
            lane: self.lane,
            ids: batch.iter().map(|e| e.id.clone()).collect(),
        });
        if reactions.contains(&Reaction::Hold) {
            self.script.hold();
        }
        if let Some(i) = reactions.iter().position(|r| *r == Reaction::Trap) {
            return Err(CallError::Trap(format!("scripted trap on {}", batch[i].id)));
        }
        if reactions.contains(&Reaction::Timeout) {
            return Err(CallError::Timeout(Duration::from_millis(10)));
        }
        Ok(batch
            .iter()
            .zip(reactions)
            .map(|(e, r)| match r {
                Reaction::Emit(n) => Outcome::Emit((0..n).map(|_| self.output(e, OUT)).collect()),
                Reaction::Hold => Outcome::Emit(vec![self.output(e, OUT)]),
                Reaction::EmitTo(topic) => Outcome::Emit(vec![self.output(e, topic)]),
                Reaction::Retry => Outcome::Retry("scripted retry".into()),
                Reaction::Reject => Outcome::Reject("scripted reject".into()),
                Reaction::Trap | Reaction::Timeout => unreachable!("the call failed above"),
            })
            .collect())
    }

    fn version(&self) -> &str {
        &self.version
    }
}

impl Scripted {
    /// An output naming its input (in `data`) and its maker; the worker stamps
    /// its id and source.
    fn output(&self, input: &Event, topic: &str) -> Event {
        Event {
            id: String::new(),
            source: String::new(),
            ty: "test.output".into(),
            subject: input.subject.clone(),
            time: None,
            datacontenttype: None,
            dataschema: None,
            extensions: vec![(MADE_BY.into(), self.version.clone().into())],
            topic: topic.into(),
            data: Some(input.id.clone().into_bytes()),
            hops: 0,
            origin: None,
        }
    }
}

/// The module under test: `proc`, reading `in/>`, publishing `out/>`, with
/// tiny retry backoffs.
pub fn subscription() -> Subscription {
    Subscription {
        check: None,
        name: "proc".into(),
        subscribe: Patterns::parse(&["in/>"]).unwrap(),
        publish: Patterns::parse(&["out/>"]).unwrap(),
        batch_max: 10,
        retry: RetryPolicy {
            attempts: 3,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        },
        quota: Quota::default(),
        max_errors: 100,
        key: "subject".into(),
    }
}

/// An output as a user sees it downstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub id: String,
    /// The input it was made of.
    pub input: String,
    pub made_by: String,
}

/// One worker over a real store, with a downstream queue (`sink`, collecting
/// `out/>`) to see its outputs in.
pub struct Rig {
    _dir: tempfile::TempDir,
    pub hub: Hub,
    pub script: Script,
    pub queue: QueueId,
    pub sink: QueueId,
    pub control: mpsc::UnboundedSender<Control>,
    pub reports: mpsc::UnboundedReceiver<Report>,
    sub: Subscription,
    worker: Option<Worker>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Rig {
    /// A rig whose worker serves `lanes` handlers of `version`, not yet running:
    /// controls sent before [`Self::run`] apply before its first batch.
    pub async fn new(sub: Subscription, version: &str, lanes: usize, sink_quota: Quota) -> Self {
        let (dir, hub) = super::hub();
        let script = Script::default();
        let sink = hub
            .subscribe(
                &queue_of_module(&name("sink")),
                Patterns::parse(&["out/>"]).unwrap(),
                sink_quota,
            )
            .await
            .unwrap();
        let mut worker = Worker::new(hub.clone(), sub.clone(), script.handlers(version, lanes))
            .await
            .unwrap();
        let queue = hub
            .store()
            .queue_id(&queue_of_module(&name("proc")))
            .unwrap();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        worker.report_to(reports_tx);
        Self {
            _dir: dir,
            control: worker.controller(),
            hub,
            script,
            queue,
            sink,
            reports,
            sub,
            worker: Some(worker),
            stop: watch::channel(false).0,
            task: None,
        }
    }

    /// A running rig with the usual sink.
    pub async fn start(sub: Subscription, version: &str, lanes: usize) -> Self {
        let mut rig = Self::new(sub, version, lanes, Quota::default()).await;
        rig.run();
        rig
    }

    pub fn run(&mut self) {
        let worker = self.worker.take().unwrap();
        self.task = Some(tokio::spawn(worker.run(self.stop.subscribe())));
    }

    /// Serves `lanes` handlers of `version` from the next batch on.
    pub fn swap(&self, version: &str, lanes: usize, probation: bool) {
        let handlers = self.script.handlers(version, lanes);
        self.control
            .send(Control::Swap {
                sub: Box::new(self.sub.clone()),
                handlers,
                probation,
            })
            .unwrap();
    }

    pub async fn publish(&self, events: Vec<Event>) {
        self.hub.publish(events).await.unwrap();
    }

    /// The ids waiting in the module's queue, in order.
    pub fn queued(&self) -> Vec<String> {
        self.hub
            .store()
            .peek(self.queue, 10_000)
            .unwrap()
            .into_iter()
            .map(|d| Event::decode(&d.payload).unwrap().id)
            .collect()
    }

    /// What reached the downstream queue, in order.
    pub fn outputs(&self) -> Vec<Output> {
        self.hub
            .store()
            .peek(self.sink, 10_000)
            .unwrap()
            .into_iter()
            .map(|d| {
                let e = Event::decode(&d.payload).unwrap();
                Output {
                    input: String::from_utf8(e.data_bytes().to_vec()).unwrap(),
                    made_by: e
                        .extension(MADE_BY)
                        .map(|v| v.canonical().into_owned())
                        .unwrap_or_default(),
                    id: e.id,
                }
            })
            .collect()
    }

    /// The inputs of the outputs downstream, in order.
    pub fn output_inputs(&self) -> Vec<String> {
        self.outputs().into_iter().map(|o| o.input).collect()
    }

    /// The module's error records, oldest first.
    pub fn errors(&self) -> Vec<FailureRecord> {
        self.hub
            .store()
            .errors(self.queue, 10_000)
            .unwrap()
            .into_iter()
            .map(|(_, bytes)| FailureRecord::decode(&bytes).unwrap())
            .collect()
    }

    /// Waits until the module's queue is empty and `outputs` outputs are downstream.
    pub async fn settle(&self, outputs: usize) {
        eventually(&format!("an empty queue and {outputs} outputs"), || {
            self.queued().is_empty() && self.outputs().len() == outputs
        })
        .await;
    }

    /// The next report, waiting for it.
    pub async fn report(&mut self) -> Report {
        tokio::time::timeout(super::PATIENCE, self.reports.recv())
            .await
            .expect("a report in time")
            .expect("the worker keeps its report channel")
    }

    /// Stops the worker and starts a new one on the same store serving `version`:
    /// what a host restart does to a module (its memory is gone, its queue is not).
    pub async fn restart(&mut self, version: &str) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            task.await.expect("the worker does not panic").unwrap();
        }
        self.stop = watch::channel(false).0;
        let worker = Worker::new(
            self.hub.clone(),
            self.sub.clone(),
            self.script.handlers(version, 1),
        )
        .await
        .unwrap();
        self.control = worker.controller();
        self.worker = Some(worker);
        self.run();
    }

    /// Stops the worker after its batch in flight; fails the test if it failed.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            task.await.expect("the worker does not panic").unwrap();
        }
    }
}

/// Which of `lanes` lanes each subject goes to, as a worker keyed by `subject`
/// sees it: found by running one, so tests need not know the worker's hash.
pub async fn lanes_of(subjects: &[&str], lanes: usize) -> HashMap<String, usize> {
    let rig = Rig::start(subscription(), "probe", lanes).await;
    let events = subjects
        .iter()
        .map(|s| super::event(s, "in/probe", Some(s)))
        .collect();
    rig.publish(events).await;
    rig.settle(subjects.len()).await;
    let mut found = HashMap::new();
    for call in rig.script.calls() {
        for id in call.ids {
            found.insert(id, call.lane);
        }
    }
    rig.stop().await;
    found
}
