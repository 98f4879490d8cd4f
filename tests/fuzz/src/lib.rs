//! The fuzzing harness behind `cargo test -p weft-fuzz`: property tests driven by
//! [`arbitrary`] on the stable toolchain (cargo-fuzz and libFuzzer need nightly).
//!
//! Each case draws a buffer of random bytes from a generator seeded with the run's
//! seed and the case's number, and the target builds its input from it through
//! [`arbitrary::Unstructured`]: mostly a known-good input (a seed) taken apart by
//! [`mutate`], sometimes bytes with no structure at all. A failing case is repeated
//! exactly by its seed and number (`WEFT_FUZZ_SEED`, `WEFT_FUZZ_CASE`), which the
//! failure prints; a run without `WEFT_FUZZ_SEED` picks a new seed, so CI explores
//! new inputs each time. There is no coverage feedback: the seeds and dictionaries
//! stand in for it, and finding a deep bug takes the long run (`WEFT_FUZZ_SECS`).
//!
//! What every target asserts:
//! - no panic (each case runs under `catch_unwind`; a panic fails the run);
//! - bounded allocation: [`Counting`] counts the bytes the case's thread holds,
//!   and the peak must stay under the target's [`Bound`] of the input's size;
//!   work on other threads (wasmtime's parallel compiler) is not counted, which is
//!   why module admission is bounded by input size instead (see its target);
//! - every refusal a clear error: [`clear`].

#![allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one only counts and forwards to System"
)]
#![allow(
    clippy::panic,
    reason = "a test library: a broken property fails the test that runs the target"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use rand::{RngCore, SeedableRng, rngs::StdRng};

/// Random bytes each case may draw from; past them `Unstructured` answers the
/// smallest choice, so inputs stay small.
const ENTROPY: usize = 8 * 1024;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// A global allocator that counts, per thread and only while a case runs, the bytes
/// held and their peak. Install it in the test binary with `#[global_allocator]`.
pub struct Counting;

fn note(delta: isize) {
    let on = COUNTING.try_with(Cell::get).unwrap_or(false);
    if !on {
        return;
    }
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// thread-local `Cell`s with const initialisers, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's pointer and layout, from `alloc` above.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's pointer, layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// The most a case may hold at once: `per_byte` times its input's size plus `base`.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub per_byte: usize,
    pub base: usize,
}

impl Bound {
    fn limit(self, input: usize) -> usize {
        self.per_byte
            .saturating_mul(input)
            .saturating_add(self.base)
    }
}

/// What a run measured, for the test's output and the report.
#[derive(Debug, Default)]
pub struct Summary {
    pub cases: u64,
    pub largest_input: usize,
    /// The highest peak seen, and the input size of its case.
    pub peak: (usize, usize),
}

/// How long targets run: `WEFT_FUZZ_SECS=N` gives each N seconds (the long run),
/// `WEFT_FUZZ_CASES=N` a count; else each target's own CI count.
fn budget(default_cases: u64) -> (u64, Option<Duration>) {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    match (var("WEFT_FUZZ_SECS"), var("WEFT_FUZZ_CASES")) {
        (Some(secs), _) => (u64::MAX, Some(Duration::from_secs(secs))),
        (None, Some(n)) => (n, None),
        (None, None) => (default_cases, None),
    }
}

fn run_seed() -> u64 {
    match std::env::var("WEFT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(seed) => seed,
        None => rand::rng().next_u64(),
    }
}

/// The generator of case `case` of a run seeded `seed`.
fn case_rng(seed: u64, case: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Runs the target for the budget (or only case `WEFT_FUZZ_CASE`): `generate` builds
/// an input and its size in bytes from the case's entropy (`Err`: the entropy ran
/// out, the case is skipped), `check` parses it and returns `Err` for a broken
/// property. Fails with how to repeat the case on a panic, a broken property or,
/// while `check` runs, an allocation over `bound`.
pub fn run<I>(
    name: &str,
    default_cases: u64,
    bound: Option<Bound>,
    mut generate: impl FnMut(&mut Unstructured<'_>) -> arbitrary::Result<(I, usize)>,
    mut check: impl FnMut(I) -> Result<(), String>,
) -> Summary {
    let seed = run_seed();
    let (cases, time) = budget(default_cases);
    let only = std::env::var("WEFT_FUZZ_CASE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut buf = vec![0u8; ENTROPY];
    let mut case = only.unwrap_or(0);
    loop {
        if only.is_some_and(|o| case != o)
            || case >= cases
            || time.is_some_and(|t| started.elapsed() >= t)
        {
            break;
        }
        let mut rng = case_rng(seed, case);
        let len = (rng.next_u32() as usize) % (ENTROPY + 1);
        rng.fill_bytes(&mut buf[..len]);
        let repeat = format!(
            "repeat with: WEFT_FUZZ_SEED={seed} WEFT_FUZZ_CASE={case} \
             cargo test -p weft-fuzz --test fuzz {name}"
        );
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut u = Unstructured::new(&buf[..len]);
            let Ok((input, size)) = generate(&mut u) else {
                return Ok(None);
            };
            let _ = LIVE.try_with(|c| c.set(0));
            let _ = PEAK.try_with(|c| c.set(0));
            let _ = COUNTING.try_with(|c| c.set(true));
            let checked = check(input);
            let _ = COUNTING.try_with(|c| c.set(false));
            checked.map(|()| Some(size))
        }));
        let _ = COUNTING.try_with(|c| c.set(false));
        let peak = PEAK.try_with(Cell::get).unwrap_or(0).max(0) as usize;
        match outcome {
            Err(_) => {
                panic!("fuzz target {name} panicked on case {case} (the panic is above); {repeat}")
            }
            Ok(Err(broken)) => panic!("fuzz target {name}, case {case}: {broken}\n{repeat}"),
            Ok(Ok(None)) => {}
            Ok(Ok(Some(size))) => {
                if let Some(bound) = bound
                    && peak > bound.limit(size)
                {
                    panic!(
                        "fuzz target {name}, case {case}: held {peak} bytes at once for a \
                         {size}-byte input, over the bound of {} ({bound:?})\n{repeat}",
                        bound.limit(size)
                    );
                }
                summary.cases += 1;
                summary.largest_input = summary.largest_input.max(size);
                if peak > summary.peak.0 {
                    summary.peak = (peak, size);
                }
            }
        }
        case += 1;
    }
    eprintln!(
        "fuzz {name}: {} cases in {:.1?} (seed {seed}), largest input {} bytes, \
         highest peak {} bytes (input {} bytes)",
        summary.cases,
        started.elapsed(),
        summary.largest_input,
        summary.peak.0,
        summary.peak.1
    );
    summary
}

/// Checks that a refusal reads as one: not empty, and bounded however big the
/// input was (a reason goes to logs and `weft status`): at most 50 lines of at
/// most 600 characters. `Err` says which rule it broke, quoting the message.
pub fn clear(message: &str) -> Result<(), String> {
    let shown = || {
        let cut: String = message.chars().take(2000).collect();
        format!("{cut:?} ({} bytes)", message.len())
    };
    if message.trim().is_empty() {
        return Err(format!("a refusal with an empty message: {}", shown()));
    }
    if message.lines().count() > 50 {
        return Err(format!("a refusal of more than 50 lines: {}", shown()));
    }
    if let Some(line) = message.lines().find(|l| l.chars().count() > 600) {
        return Err(format!(
            "a refusal with a line of {} characters: {}",
            line.chars().count(),
            shown()
        ));
    }
    Ok(())
}

/// Tokens a mutation may insert, beside random bytes.
pub type Dictionary = &'static [&'static [u8]];

/// One of `seeds`, changed by up to 8 random edits: bit flips, random bytes,
/// dictionary tokens (sometimes repeated thousands of times, to reach sizes and
/// depths no seed has), removed, copied or cut ranges. Never longer than `max`.
pub fn mutate(
    u: &mut Unstructured<'_>,
    seeds: &[&[u8]],
    dict: Dictionary,
    max: usize,
) -> arbitrary::Result<Vec<u8>> {
    let mut out = u.choose(seeds)?.to_vec();
    let edits = u.int_in_range(0..=8)?;
    for _ in 0..edits {
        let at = if out.is_empty() {
            0
        } else {
            u.choose_index(out.len() + 1)?
        };
        match u.int_in_range(0..=8u8)? {
            0 if at < out.len() => out[at] ^= 1 << u.int_in_range(0..=7)?,
            1 if at < out.len() => out[at] = u.arbitrary()?,
            2 => {
                let token = u.choose(dict)?;
                out.splice(at..at, token.iter().copied());
            }
            3 => {
                let token = u.choose(dict)?;
                let room = max.saturating_sub(out.len()) / token.len().max(1);
                let times = u.int_in_range(1..=4096usize.min(room.max(1)))?;
                let many: Vec<u8> = token
                    .iter()
                    .copied()
                    .cycle()
                    .take(token.len() * times)
                    .collect();
                out.splice(at..at, many);
            }
            4 if at < out.len() => {
                let end = u.int_in_range(at..=out.len())?;
                out.drain(at..end);
            }
            5 if at < out.len() => {
                let end = u.int_in_range(at..=out.len())?;
                let copy = out[at..end].to_vec();
                let to = u.choose_index(out.len() + 1)?;
                out.splice(to..to, copy);
            }
            6 => out.truncate(at),
            7 => {
                let n = u.int_in_range(1..=64usize)?;
                let bytes = u.bytes(n.min(u.len()))?.to_vec();
                out.splice(at..at, bytes);
            }
            8 if at < out.len() => out[at] = *u.choose(b"\"\\{}[]:,\0\n\r \x7f\xff\xc3%=#.'")?,
            _ => {}
        }
        out.truncate(max);
    }
    Ok(out)
}

/// `bytes` as text for targets that take `&str`: lossy, so that invalid UTF-8 still
/// reaches the parser as replacement characters.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
