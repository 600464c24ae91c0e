//! Embedding Ward from a signed bundle, with the lean runtime (no compiler,
//! no Redis: `cargo run -p ward-runtime --no-default-features --example
//! embed_bundle -- BUNDLE PUBLIC_KEY ENTITIES.json < requests.jsonl`).
//! Prints one decision (JSON) per request line. `scripts/suites/embed.sh`
//! builds and runs it.

use std::io::BufRead as _;
use std::sync::Arc;

use ward_runtime::bundle::{Bundle, parse_verifying_key};
use ward_runtime::{Backend, Engine, Request, SystemClock};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bundle, key, entities] = args.as_slice() else {
        return Err("usage: embed_bundle BUNDLE PUBLIC_KEY ENTITIES.json < requests.jsonl".into());
    };
    let key = parse_verifying_key(&std::fs::read_to_string(key)?)?;
    let bundle = Bundle::read_file(bundle.as_ref(), Some(&key))?; // refused unless signed by `key`
    let entities = serde_json::from_str(&std::fs::read_to_string(entities)?)?;
    let engine = Engine::new(bundle.loaded(&entities, true)?, Arc::new(SystemClock), Backend::Jit);
    for line in std::io::stdin().lock().lines() {
        let decision = engine.decide(&Request::from_json_str(&line?)?);
        println!("{}", decision.to_json());
    }
    Ok(())
}
