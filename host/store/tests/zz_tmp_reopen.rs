#![allow(clippy::unwrap_used, reason = "tests")]
use weft_store::{EngineKind, NewEvent, Store, StoreConfig};
#[test]
fn tmp_reopen() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = StoreConfig::new(dir.path().join("weft.redb"));
    c.engine = EngineKind::Sled;
    c.durable = false;
    let mut fails = 0;
    for i in 0..300 {
        let store = match Store::open(c.clone()) {
            Ok(s) => s,
            Err(e) => {
                fails += 1;
                eprintln!("{i}: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
                Store::open(c.clone()).unwrap()
            }
        };
        let q = rt.block_on(store.queue("q")).unwrap();
        rt.block_on(store.append(vec![NewEvent {
            dedup: None,
            payload: vec![1; 100],
            queues: vec![q],
        }]))
        .unwrap();
        rt.block_on(store.close()).unwrap();
        drop(store);
    }
    eprintln!("fails {fails}");
}
