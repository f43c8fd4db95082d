use super::*;
use crate::matrix::spec::SchedulerEntry;

fn spec() -> MatrixSpec {
    let sched = |t: &str| {
        SchedulerEntry::parse(t).unwrap().unwrap_or(SchedulerEntry {
            name: String::new(),
            args: Vec::new(),
        })
    };
    MatrixSpec {
        kernels: vec!["6.12.117".into(), "6.12.117+debug".into()],
        topologies: vec!["1n2l2c1t".into(), "2n2l2c1t".into()],
        schedulers: vec![
            sched("scx_simple"),
            sched("eevdf"),
            sched("scx_qmap -e 100"),
        ],
        scenarios: vec![],
        exclude: vec![Exclusion {
            kernel: Some("*+debug".into()),
            topology: None,
            scheduler: Some("scx_qmap".into()),
            scenario: None,
            reason: "not on the debug kernel".into(),
        }],
        ..MatrixSpec::default()
    }
}

#[test]
fn the_cross_product_in_kernel_major_order() {
    let cells = cells(&spec());
    assert_eq!(cells.len(), 2 * 2 * 3);
    assert_eq!(cells[0].id, "6.12.117__1n2l2c1t__scx_simple");
    assert_eq!(cells[1].id, "6.12.117__1n2l2c1t__eevdf");
    assert_eq!(cells[2].id, "6.12.117__1n2l2c1t__scx_qmap-e-100");
    assert_eq!(cells[1].scheduler, None);
    assert_eq!(cells[2].label(), "scx_qmap -e 100 on 6.12.117 [1n2l2c1t]");
    let ids: std::collections::BTreeSet<_> = cells.iter().map(|c| &c.id).collect();
    assert_eq!(ids.len(), cells.len(), "ids are unique");
}

#[test]
fn exclusions_skip_with_their_reason() {
    let cells = cells(&spec());
    let skipped: Vec<&Cell> = cells.iter().filter(|c| c.excluded.is_some()).collect();
    assert_eq!(
        skipped.len(),
        2,
        "qmap on the debug kernel, both topologies"
    );
    assert!(skipped
        .iter()
        .all(|c| c.kernel.ends_with("+debug") && c.scheduler_label().starts_with("scx_qmap")));
    assert_eq!(
        skipped[0].excluded.as_deref(),
        Some("not on the debug kernel")
    );
}

#[test]
fn shards_cover_every_cell_exactly_once() {
    let all = cells(&spec());
    for count in 1..=5 {
        let mut seen: Vec<String> = Vec::new();
        for index in 1..=count {
            let shard = Shard { index, count };
            seen.extend(shard.select(all.clone()).into_iter().map(|c| c.id));
        }
        let mut want: Vec<String> = all.iter().map(|c| c.id.clone()).collect();
        seen.sort();
        want.sort();
        assert_eq!(seen, want, "{count} shards");
    }
    for bad in ["0/2", "3/2", "1/0", "x", "1/2/3", ""] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
    assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
}

#[test]
fn globs() {
    let cases = [
        ("*", "anything", true),
        ("6.12.*", "6.12.117", true),
        ("6.12.*", "6.13.1", false),
        ("*+debug", "6.12.117+debug", true),
        ("*+debug", "6.12.117", false),
        ("scx_*q*", "scx_qmap", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "acb", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("ab*ba", "aba", false),
    ];
    for (pat, text, want) in cases {
        assert_eq!(glob(pat, text), want, "{pat} vs {text}");
    }
}

#[test]
fn ids_are_safe_and_scenarios_join() {
    let mut s = spec();
    s.kernels = vec!["git+file:///src/linux#v6.12".into()];
    s.topologies = vec!["tiny".into()];
    s.schedulers.truncate(1);
    s.scenarios = vec!["steady,cpuset_apply".into(), "mixed_workloads".into()];
    let cells = cells(&s);
    assert_eq!(cells.len(), 2);
    assert_eq!(cells[0].scenarios, ["steady", "cpuset_apply"]);
    assert_eq!(
        cells[0].id,
        "git+file-src-linux-v6.12__tiny__scx_simple__steady-cpuset_apply"
    );
    assert!(!cells[0].id.contains('/'));
}

#[test]
fn repeats_keep_ids_unique() {
    let base = cells(&spec());
    let n = base.len();
    let r = repeat(base, 3);
    assert_eq!(r.len(), n * 3);
    assert_eq!(r[0].id, "6.12.117__1n2l2c1t__scx_simple__r01");
    assert_eq!(r[2].id, "6.12.117__1n2l2c1t__scx_simple__r03");
    let ids: std::collections::BTreeSet<_> = r.iter().map(|c| &c.id).collect();
    assert_eq!(ids.len(), r.len());
    assert_eq!(repeat(cells(&spec()), 1).len(), n);
}
