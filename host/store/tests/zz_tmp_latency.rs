#![allow(clippy::unwrap_used, reason = "tests")]
use std::time::Instant;
use weft_store::{EngineKind, NewEvent, Store, StoreConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmp_latency() {
    for kind in EngineKind::ALL {
        for durable in [true, false] {
            let dir = tempfile::tempdir_in("/work").unwrap();
            let mut c = StoreConfig::new(dir.path().join("weft.redb"));
            c.engine = kind;
            c.durable = durable;
            let store = Store::open(c).unwrap();
            let q = store.queue("q").await.unwrap();
            let mut lat = Vec::new();
            let t0 = Instant::now();
            for i in 0..300 {
                let t = Instant::now();
                store
                    .append(vec![NewEvent {
                        dedup: Some(format!("k{i}").into_bytes()),
                        payload: vec![b'x'; 1024],
                        queues: vec![q],
                    }])
                    .await
                    .unwrap();
                lat.push(t.elapsed().as_micros());
            }
            let total = t0.elapsed();
            lat.sort();
            // concurrent: 2000 appends from 64 tasks
            let t1 = Instant::now();
            let tasks: Vec<_> = (0..64)
                .map(|p| {
                    let s = store.clone();
                    tokio::spawn(async move {
                        for i in 0..100 {
                            s.append(vec![NewEvent {
                                dedup: Some(format!("p{p}-{i}").into_bytes()),
                                payload: vec![b'x'; 1024],
                                queues: vec![q],
                            }])
                            .await
                            .unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let conc = t1.elapsed();
            // consume all
            let t2 = Instant::now();
            loop {
                let d = store.peek(q, 500).unwrap();
                if d.is_empty() {
                    break;
                }
                store
                    .complete(weft_store::Completion {
                        queue: q,
                        consumed: d.iter().map(|d| d.seq).collect(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
            }
            let cons = t2.elapsed();
            eprintln!(
                "{kind} durable={durable}: sequential p50 {}us p99 {}us ({:.0}/s); 64 tasks x 100: {:.0}/s; consume 6700 in batches of 500: {:.0}/s",
                lat[150],
                lat[297],
                300.0 / total.as_secs_f64(),
                6400.0 / conc.as_secs_f64(),
                6700.0 / cons.as_secs_f64()
            );
            store.close().await.unwrap();
        }
    }
}
