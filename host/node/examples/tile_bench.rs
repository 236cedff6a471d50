//! How fast a warm node serves c2sp.org/tlog-tiles resources, through the
//! real `Node::tile` on a real store (the HTTP layer excluded).
//!
//! A fresh data directory gets the example trading goal and N synthetic
//! entries (see `support/synthetic.rs`); the node is opened (which signs a
//! checkpoint for them), each resource kind is read once to warm the
//! store's cache, then for two seconds per kind random tiles are served on
//! one thread; then the same over real HTTP: the node's own router and
//! listener on loopback, 32 keep-alive clients in this process (so client
//! and server share the machine's cores). Prints a Markdown table. Run:
//! `cargo run --release -p ian-node --example tile_bench -- 1000000`
//! (the guest components must be built: `./scripts/build-guests.sh`).

use std::time::{Duration, Instant};

#[path = "support/synthetic.rs"]
mod synthetic;

const GOAL: &str = "trading-v1";

/// The tile path (below `tile/`) for a random number.
type TilePathOf = Box<dyn Fn(u64) -> String>;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("entry count"))
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic::populate(&data, n);
    let (node, _) = synthetic::open(&data);
    let full0 = n / 256;
    let full1 = n / 65_536;
    let kinds: Vec<(&str, TilePathOf)> = vec![
        (
            "level-0 hash tile (256 leaf hashes)",
            Box::new(move |r| {
                format!(
                    "0/{}",
                    ian_node::runtime::service::tile_index_path(r % full0)
                )
            }),
        ),
        (
            "level-1 hash tile (256 subtree hashes)",
            Box::new(move |r| {
                format!(
                    "1/{}",
                    ian_node::runtime::service::tile_index_path(r % full1.max(1))
                )
            }),
        ),
        (
            "entry bundle (256 entries)",
            Box::new(move |r| {
                format!(
                    "entries/{}",
                    ian_node::runtime::service::tile_index_path(r % full0)
                )
            }),
        ),
    ];
    println!("| log size | resource | tiles/s | µs/tile | bytes/tile |");
    println!("| ---: | --- | ---: | ---: | ---: |");
    for (name, path) in kinds {
        let bytes = node.tile(GOAL, &path(0)).expect("tile").len();
        // Warm: touch every tile of this kind once (bounded).
        for i in 0..full0.min(4096) {
            let _ = node.tile(GOAL, &path(i));
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let (mut served, t) = (0u64, Instant::now());
        while t.elapsed() < Duration::from_secs(2) {
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let b = node.tile(GOAL, &path(x)).expect("tile");
                std::hint::black_box(b);
                served += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "| {n} | {name} | {:.0} | {:.1} | {bytes} |",
            served as f64 / secs,
            secs * 1e6 / served as f64
        );
    }
    http(&node, full0);
    node.shutdown(Duration::from_secs(5));
}

/// Level-0 hash tiles over HTTP through the real router and listener.
fn http(node: &std::sync::Arc<ian_node::runtime::service::Node>, full0: u64) {
    use ian_node::api::http::{AppState, app};
    use ian_node::api::listener::{self, ListenerSettings};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let l = listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let settings = ListenerSettings::from_config(&node.config().server).unwrap();
        let router = app(AppState::new(node.clone()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(listener::serve(
            l,
            router,
            settings,
            None,
            async move {
                let _ = stop_rx.await;
            },
            Duration::from_secs(1),
        ));
        let client = ian_node::cli::client::Client::new(&format!("http://{addr}")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = Vec::new();
        let t = Instant::now();
        for k in 0..32u64 {
            let (client, served) = (client.clone(), served.clone());
            tasks.push(tokio::spawn(async move {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ k;
                while Instant::now() < deadline {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let path = format!(
                        "/logs/{GOAL}/tile/0/{}",
                        ian_node::runtime::service::tile_index_path(x % full0)
                    );
                    let r = client
                        .raw(reqwest::Method::GET, &path, None)
                        .await
                        .expect("GET tile");
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    assert_eq!(r.body.len(), 8192);
                    served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        let n = served.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "| HTTP, 32 clients | level-0 hash tile over loopback | {:.0} | {:.1} | 8192 |",
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
        let _ = stop_tx.send(());
        let _ = server.await;
    });
}
