//! The guest's stream, as the host decodes it: any bytes must decode to
//! messages or errors, within the line and message bounds, never panic,
//! and every message must survive the host's sanitizer.
#![no_main]

use ktstr_wire::codec::Decoder;
use ktstr_wire::GuestMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut dec = Decoder::new(std::io::BufReader::new(data));
    while let Ok(Some(item)) = dec.next_msg::<GuestMsg>() {
        if let Ok(mut msg) = item {
            let _ = ktstr_vm::run::sanitize::sanitize(&mut msg);
        }
    }
});
