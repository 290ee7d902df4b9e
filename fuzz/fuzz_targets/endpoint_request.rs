//! Any request to the harness's endpoint, as every reference actor that serves answers it:
//! first line the method, second the path and query, then `Name: value` header lines up to an
//! empty line, then the body. Answers must come back, never a panic.
#![no_main]

use cdex_harness::actors::{self, ReferenceActor};
use cdex_harness::http::Message;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime"))
}

fn actors() -> &'static Vec<ReferenceActor> {
    static ACTORS: OnceLock<Vec<ReferenceActor>> = OnceLock::new();
    ACTORS.get_or_init(|| {
        // Built inside the runtime's context (actors may spawn tasks), not by blocking on it.
        let _guard = runtime().enter();
        actors::registry()
            .iter()
            .filter(|a| a.serves)
            .filter_map(|a| (a.build)(&serde_json::json!({}), Default::default()).ok())
            .collect()
    })
}

fn parse(data: &[u8]) -> Message {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or("GET").trim().to_string();
    let path = lines.next().unwrap_or("").trim().trim_start_matches('/').to_string();
    let mut headers = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let body: String = lines.collect::<Vec<_>>().join("\n");
    Message {
        method: Some(method),
        url: Some(format!("http://127.0.0.1:1/{path}")),
        path: Some(path),
        headers,
        body: body.into_bytes(),
        ..Message::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let req = parse(data);
    let actors = actors();
    runtime().block_on(async {
        for a in actors {
            if let Some(server) = &a.server {
                let _ = server.handle(&req);
            }
        }
    });
});
