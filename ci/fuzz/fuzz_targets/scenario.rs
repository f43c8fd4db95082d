//! Scenario files, TOML and JSON: any text loads or gives a located error,
//! and a loaded scenario checks against a topology, without panicking.
#![no_main]

use ktstr_vm::scenario::{from_text, Format};
use ktstr_vm::topology::TopologySpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = if which & 1 == 0 { Format::Toml } else { Format::Json };
    if let Ok(loaded) = from_text(text, "fuzz.toml", format, "fuzz") {
        let topo = TopologySpec::parse("2n4l2c2t")
            .and_then(|s| s.validate(None))
            .expect("a valid topology")
            .expected();
        let _ = loaded.file.check_topology(&topo);
        let _ = loaded.file.spec();
        let _ = loaded.file.duration_ms();
    }
});
