//! Topology specs (`2n4l4c2t`, presets, JSON): any text parses or errors,
//! and what parses validates or errors, without panicking; a valid spec
//! prints back to itself.
#![no_main]

use ktstr_vm::topology::TopologySpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = TopologySpec::parse(text) {
        let again = TopologySpec::parse(&spec.to_string()).expect("a parsed spec prints parseable");
        assert_eq!(again, spec);
        let _ = spec.validate(Some(1024));
    }
});
