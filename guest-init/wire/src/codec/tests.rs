use std::io::Cursor;

use super::*;
use crate::{ExitStatus, GuestMsg, Phase, Stream};

fn decode_all(input: &[u8], max_line: usize, max_msgs: usize) -> Vec<Decoded<GuestMsg>> {
    let mut d = Decoder::with_limits(Cursor::new(input.to_vec()), max_line, max_msgs);
    d.messages::<GuestMsg>().map(|r| r.unwrap()).collect()
}

#[test]
fn every_message_kind_round_trips() {
    let msgs = vec![
        GuestMsg::Hello {
            protocol: crate::PROTOCOL_VERSION,
            kernel_release: "6.12.0".into(),
            uptime_ms: 900,
            sched_ext: true,
        },
        GuestMsg::Phase {
            phase: Phase::WorkloadStarted,
            uptime_ms: 1500,
        },
        GuestMsg::SchedulerStarted {
            pid: 42,
            path: "/bin/scx_simple".into(),
            args: vec!["-v".into(), "a b \"c\"".into()],
            uptime_ms: 1,
        },
        GuestMsg::SchedulerAttached {
            ops: "simple".into(),
            uptime_ms: 2,
        },
        GuestMsg::SchedulerAttachTimeout {
            waited_ms: 5000,
            state: "disabled".into(),
        },
        GuestMsg::SchedulerLog {
            stream: Stream::Stderr,
            line: "line\nwith newline".into(),
        },
        GuestMsg::SchedulerExited {
            exit: ExitStatus::Signaled {
                signal: 9,
                core_dumped: false,
            },
            requested: false,
            uptime_ms: 3,
        },
        GuestMsg::SchedExtState {
            state: "disabled".into(),
            ops: None,
            uptime_ms: 4,
        },
        GuestMsg::KernelLog {
            level: 3,
            ts_us: 123,
            line: "sched_ext: BPF scheduler \"qmap\" disabled".into(),
        },
        GuestMsg::PayloadOutput {
            name: "stress-ng".into(),
            stream: Stream::Stdout,
            data: "x".into(),
        },
        GuestMsg::PayloadExited {
            name: "stress-ng".into(),
            exit: ExitStatus::TimedOut,
            stopped: false,
            uptime_ms: 5,
        },
        GuestMsg::FaultInjected {
            fault: "hang@1000ms".into(),
            uptime_ms: 5,
        },
        GuestMsg::PayloadOutputDropped {
            name: "runner".into(),
            stream: Stream::Stdout,
            bytes: 123_456,
        },
        GuestMsg::SchedulerExecFailed {
            path: "/ktstr-vm/sched/scx_x".into(),
            reason: "Exec format error (os error 8, ENOEXEC)".into(),
        },
        GuestMsg::Error {
            stage: crate::Stage::Mount,
            message: "no".into(),
        },
        GuestMsg::LogCut {
            log: "kmsg".into(),
            kept: 4000,
        },
        GuestMsg::Done { uptime_ms: 6 },
    ];
    let mut enc = Encoder::new(Vec::new());
    for m in &msgs {
        enc.send(m).unwrap();
    }
    let bytes = enc.into_inner();
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), msgs.len());
    let back: Vec<GuestMsg> = decode_all(&bytes, 1 << 20, 1000)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(back, msgs);
}

#[test]
fn malformed_lines_are_errors_not_panics() {
    let cases: &[(&[u8], &str)] = &[
        (b"{not json}\n", "Malformed"),
        (b"{\"type\":\"no_such_message\"}\n", "Malformed"),
        (
            b"{\"type\":\"done\",\"uptime_ms\":1,\"extra\":2}\n",
            "Malformed",
        ),
        (b"{\"type\":\"done\",\"uptime_ms\":-1}\n", "Malformed"),
        (b"\xff\xfe\n", "NotUtf8"),
        (b"[1,2,3]\n", "Malformed"),
    ];
    for (input, want) in cases {
        let out = decode_all(input, 1 << 20, 100);
        assert_eq!(out.len(), 1, "{input:?}");
        let err = out[0].as_ref().unwrap_err();
        assert!(format!("{err:?}").starts_with(want), "{input:?}: {err:?}");
    }
}

#[test]
fn over_long_line_is_dropped_and_stream_recovers() {
    let mut input = vec![b'a'; 5000];
    input.push(b'\n');
    input.extend_from_slice(b"{\"type\":\"done\",\"uptime_ms\":7}\n");
    let out = decode_all(&input, 100, 100);
    assert_eq!(
        out[0],
        Err(ProtocolError::LineTooLong {
            line: 1,
            limit: 100
        })
    );
    assert_eq!(out[1], Ok(GuestMsg::Done { uptime_ms: 7 }));
}

#[test]
fn message_flood_is_cut_once() {
    let input = b"{\"type\":\"done\",\"uptime_ms\":1}\n".repeat(10);
    let out = decode_all(&input, 1000, 3);
    assert_eq!(out.len(), 4);
    assert!(out[..3].iter().all(|r| r.is_ok()));
    assert_eq!(out[3], Err(ProtocolError::TooManyMessages { limit: 3 }));
}

#[test]
fn truncated_last_line_and_blank_lines() {
    let out = decode_all(b"\n\n{\"type\":\"done\",\"upt", 1000, 10);
    assert_eq!(out.len(), 1);
    assert!(matches!(
        out[0],
        Err(ProtocolError::Malformed { line: 3, .. })
    ));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
        let _ = decode_all(&bytes, 64, 50);
    }
}

#[test]
fn byte_budget_is_enforced_once() {
    let input = b"{\"type\":\"done\",\"uptime_ms\":1}\n".repeat(10);
    let mut d = Decoder::with_limits(Cursor::new(input), 1000, 1000).with_max_bytes(100);
    let out: Vec<Decoded<GuestMsg>> = d.messages::<GuestMsg>().map(|r| r.unwrap()).collect();
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(out[..3].iter().all(|r| r.is_ok()));
    assert_eq!(out[3], Err(ProtocolError::TooManyBytes { limit: 100 }));
}
