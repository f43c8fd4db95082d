use super::super::presets;
use super::*;

fn expected(spec: &str) -> Topology {
    super::super::TopologySpec::parse(spec)
        .unwrap()
        .validate(Some(2048))
        .unwrap()
        .expected()
}

#[test]
fn every_preset_matches_itself() {
    for preset in presets::list() {
        let topo = preset.spec().validate(None).unwrap().expected();
        assert_eq!(compare(&topo, &topo), Ok(()), "{}", preset.name);
    }
}

#[test]
fn memory_may_fall_short_within_tolerance() {
    let want = expected("2n2l2c1t");
    let with_memory = |mib: Option<u64>| {
        let mut got = want.clone();
        got.nodes[1].memory_mib = mib;
        compare(&want, &got)
    };
    assert_eq!(with_memory(Some(1024)), Ok(()));
    assert_eq!(with_memory(Some(1000)), Ok(()));
    // 25% of 1024 plus 1 MiB for each of the node's 2 CPUs.
    assert_eq!(with_memory(Some(766)), Ok(()));
    assert_eq!(with_memory(None), Ok(()));
    for mib in [765, 1025, 0] {
        let err = with_memory(Some(mib)).unwrap_err();
        assert_eq!(
            err.differences,
            [Difference::NodeMemory {
                node: 1,
                expected: 1024,
                observed: mib,
                min: 766
            }]
        );
    }
}

#[test]
fn many_cpus_allow_more_shortfall() {
    let want = super::super::TopologySpec::parse("flat64")
        .unwrap()
        .validate(Some(512))
        .unwrap()
        .expected();
    let with_memory = |mib| {
        let mut got = want.clone();
        got.nodes[0].memory_mib = Some(mib);
        compare(&want, &got)
    };
    assert_eq!(with_memory(512 - 128 - 64), Ok(()));
    assert!(with_memory(512 - 128 - 65).is_err());
}

#[test]
fn one_llc_instead_of_two_reads_clearly() {
    let want = expected("1n2l2c1t");
    let mut got = want.clone();
    got.llcs = vec![vec![0, 1, 2, 3]];
    let err = compare(&want, &got).unwrap_err();
    assert_eq!(
        err.to_string(),
        "topology mismatch: the guest does not have the requested layout\n  \
         LLC groups: expected but missing [0-1] [2-3]; guest has instead [0-3]"
    );
}

#[test]
fn every_kind_of_difference_is_reported() {
    let want = expected("2n2l2c2t");
    let got = Topology {
        cpus: (0..4).collect(),
        nodes: vec![
            NumaNode {
                id: 0,
                cpus: vec![0, 1, 2, 3],
                distances: vec![10],
                memory_mib: Some(1000),
            },
            NumaNode {
                id: 2,
                cpus: vec![],
                distances: vec![],
                memory_mib: None,
            },
        ],
        llcs: vec![vec![0, 1, 2, 3]],
        cores: vec![vec![0], vec![1], vec![2], vec![3]],
    };
    let err = compare(&want, &got).unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().skip(1).map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "online CPUs: expected 0-7, guest has 0-3",
            "NUMA node 0 distances: expected [10, 20], guest has [10]",
            "NUMA node 1: expected, guest does not have it",
            "NUMA node 2: not requested, guest has it",
            "LLC groups: expected but missing [4-7]; guest has instead none",
            "SMT sibling groups: expected but missing [0-1] [2-3] [4-5] [6-7]; guest has instead [0] [1] [2] [3]",
        ]
    );
    // LLC [0-3] is on both sides, so only [4-7] is missing.
    assert!(matches!(&err.differences[4], Difference::Llcs(d) if d.missing == [vec![4, 5, 6, 7]]));
}

#[test]
fn node_cpu_lists_are_compared() {
    let want = expected("2n2l1c1t");
    let mut got = want.clone();
    got.nodes[0].cpus = vec![0, 1];
    got.nodes[1].cpus = vec![];
    let lines: Vec<String> = compare(&want, &got)
        .unwrap_err()
        .differences
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "NUMA node 0 CPUs: expected 0, guest has 0-1",
            "NUMA node 1 CPUs: expected 1, guest has none",
        ]
    );
}

#[test]
fn long_group_lists_are_cut() {
    let want = expected("big64");
    let mut got = want.clone();
    got.cores = (0..64).map(|c| vec![c]).collect();
    let text = compare(&want, &got).unwrap_err().to_string();
    assert!(
        text.contains("[14-15] and 24 more; guest has instead [0] [1]"),
        "{text}"
    );
    assert!(text.contains("[7] and 56 more"), "{text}");
}
