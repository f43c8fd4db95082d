use ktstr_wire::PageLayout;
use proptest::prelude::*;

use super::format::{FieldKind, Format};
use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tracefs");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn formats() -> Vec<String> {
    String::from_utf8(fixture("formats"))
        .unwrap()
        .split("\n=====\n")
        .map(str::to_string)
        .collect()
}

fn layout() -> PageLayout {
    PageLayout::parse(&String::from_utf8(fixture("header_page")).unwrap()).unwrap()
}

fn decode_cpu(d: &Decoder, cpu: u32) -> Vec<Decoded> {
    fixture(&format!("cpu{cpu}.pages"))
        .chunks(4096)
        .map(|p| d.page(cpu, p))
        .collect()
}

#[test]
fn every_fixture_format_parses() {
    let fs: Vec<Format> = formats()
        .iter()
        .map(|t| Format::parse(t).unwrap())
        .collect();
    let names: Vec<&str> = fs.iter().map(|f| f.name.as_str()).collect();
    for want in [
        "sched_switch",
        "sched_waking",
        "sched_migrate_task",
        "task_newtask",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    let switch = fs.iter().find(|f| f.name == "sched_switch").unwrap();
    for (field, offset, size, kind) in [
        ("common_pid", 4, 4, FieldKind::Int),
        ("prev_comm", 8, 16, FieldKind::Chars),
        ("prev_state", 32, 8, FieldKind::Int),
        ("next_pid", 56, 4, FieldKind::Int),
    ] {
        let f = switch.field(field).unwrap();
        assert_eq!((f.offset, f.size, f.kind), (offset, size, kind), "{field}");
    }
}

#[test]
fn format_field_kinds() {
    let text = "name: x\nID: 7\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
                \tfield:__data_loc char[] line;\toffset:8;\tsize:4;\tsigned:0;\n\
                \tfield:char buf[];\toffset:16;\tsize:0;\tsigned:0;\n\
                \tfield:const char * name;\toffset:24;\tsize:8;\tsigned:0;\n";
    let f = Format::parse(text).unwrap();
    let kinds: Vec<(&str, FieldKind)> =
        f.fields.iter().map(|f| (f.name.as_str(), f.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("common_type", FieldKind::Int),
            ("line", FieldKind::DataLoc),
            ("buf", FieldKind::Tail),
            ("name", FieldKind::Int)
        ]
    );
    assert!(Format::parse("ID: 1\n").is_err());
    assert!(
        Format::parse("name: x\nID: 1\n\tfield:int a;\toffset:zz;\tsize:4;\tsigned:1;\n").is_err()
    );
}

#[test]
fn fixture_pages_decode_to_ordered_sane_records() {
    let d = Decoder::new(layout(), &formats()).unwrap();
    for cpu in [0, 1] {
        let pages = decode_cpu(&d, cpu);
        let records: Vec<&Record> = pages.iter().flat_map(|p| &p.records).collect();
        assert!(pages.iter().all(|p| !p.malformed && p.unknown == 0));
        assert!(records.len() > 50, "cpu{cpu}: {} records", records.len());
        assert!(
            records.windows(2).all(|w| w[0].ts <= w[1].ts),
            "cpu{cpu} out of order"
        );
        let first = records[0].ts;
        assert!(
            (1_000_000_000..60_000_000_000).contains(&first),
            "boot-clock ns, got {first}"
        );
        let mut switches = 0;
        for r in &records {
            assert_eq!(r.cpu, cpu);
            if let Kind::Switch {
                prev_comm,
                next_comm,
                prev_pid,
                next_pid,
                ..
            } = &r.kind
            {
                switches += 1;
                assert!(*prev_pid >= 0 && *next_pid >= 0);
                assert!(!prev_comm.is_empty() && !next_comm.is_empty(), "{r:?}");
                assert!(prev_comm.chars().all(|c| !c.is_control()), "{r:?}");
            }
        }
        assert!(switches > 10, "cpu{cpu}: {switches} switches");
    }
}

#[test]
fn trimmed_pages_decode_like_whole_ones() {
    let l = layout();
    let d = Decoder::new(l, &formats()).unwrap();
    for page in fixture("cpu0.pages").chunks(4096) {
        let used = l.used_len(page);
        assert!(used <= page.len());
        assert_eq!(d.page(0, &page[..used]), d.page(0, page));
    }
}

#[test]
fn cut_pages_end_early_and_say_so() {
    let d = Decoder::new(layout(), &formats()).unwrap();
    let page = &fixture("cpu0.pages")[..4096];
    let whole = d.page(0, page);
    let cut = d.page(0, &page[..600]);
    assert!(cut.malformed);
    assert!(
        cut.records.is_empty(),
        "data shorter than the commit word says"
    );
    assert!(!whole.records.is_empty());
    assert!(d.page(0, &[]).malformed);
}

#[test]
fn missed_events_are_reported() {
    let l = layout();
    let d = Decoder::new(l, &formats()).unwrap();
    let mut page = fixture("cpu0.pages")[..4096].to_vec();
    let commit = l.commit(&page).unwrap();
    let len = (commit & 0xf_ffff) as usize;
    let flags = ktstr_wire::COMMIT_MISSED_EVENTS | ktstr_wire::COMMIT_MISSED_STORED;
    page[8..16].copy_from_slice(&(commit | flags).to_le_bytes());
    page[16 + len..24 + len].copy_from_slice(&42u64.to_le_bytes());
    let got = d.page(0, &page);
    assert_eq!(got.lost.map(|l| l.count), Some(Some(42)));
    page[8..16].copy_from_slice(&(commit | ktstr_wire::COMMIT_MISSED_EVENTS).to_le_bytes());
    assert_eq!(d.page(0, &page).lost.map(|l| l.count), Some(None));
}

#[test]
fn time_extends_and_absolute_stamps_move_the_clock() {
    // Hand-made page: base 1000, extend by (1 << 27) + 5, then a 4-byte event at +3.
    let mut fmt = String::from("name: tiny\nID: 9\nformat:\n");
    fmt.push_str("\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n");
    fmt.push_str("\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n");
    let d = Decoder::new(layout(), &[fmt]).unwrap();
    let mut data = Vec::new();
    data.extend_from_slice(&(30u32 | (5 << 5)).to_le_bytes()); // time extend
    data.extend_from_slice(&1u32.to_le_bytes());
    data.extend_from_slice(&(2u32 | (3 << 5)).to_le_bytes()); // 8-byte record
    data.extend_from_slice(&9u16.to_le_bytes());
    data.extend_from_slice(&[0, 0]);
    data.extend_from_slice(&77i32.to_le_bytes());
    data.extend_from_slice(&(31u32 | (10 << 5)).to_le_bytes()); // absolute stamp
    data.extend_from_slice(&0u32.to_le_bytes());
    data.extend_from_slice(&(2u32 | (1 << 5)).to_le_bytes());
    data.extend_from_slice(&9u16.to_le_bytes());
    data.extend_from_slice(&[0, 0]);
    data.extend_from_slice(&78i32.to_le_bytes());
    let mut page = 1000u64.to_le_bytes().to_vec();
    page.extend_from_slice(&(data.len() as u64).to_le_bytes());
    page.extend_from_slice(&data);
    let got = d.page(3, &page);
    let ts: Vec<(u64, i32)> = got.records.iter().map(|r| (r.ts, r.pid)).collect();
    assert_eq!(ts, [(1000 + (1 << 27) + 5 + 3, 77), (11, 78)]);
    assert!(matches!(&got.records[0].kind, Kind::Text { event, .. } if event == "tiny"));
}

proptest! {
    #[test]
    fn garbage_pages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let d = Decoder::new(layout(), &formats()).unwrap();
        let _ = d.page(0, &bytes);
    }

    #[test]
    fn corrupted_fixture_pages_never_panic(at in 0usize..4096, byte in any::<u8>()) {
        let d = Decoder::new(layout(), &formats()).unwrap();
        let mut page = fixture("cpu1.pages")[..4096].to_vec();
        page[at] = byte;
        let _ = d.page(1, &page);
    }
}
