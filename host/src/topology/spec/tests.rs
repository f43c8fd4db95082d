use super::super::presets;
use super::*;

fn counts(spec: &TopologySpec) -> [u32; 4] {
    [
        spec.nodes,
        spec.llcs,
        spec.cores_per_llc,
        spec.threads_per_core,
    ]
}

#[test]
fn specs_and_presets_parse() {
    let ok: &[(&str, [u32; 4], u32)] = &[
        ("2n4l4c2t", [2, 4, 4, 2], 32),
        (" 1n1l2c1t\n", [1, 1, 2, 1], 2),
        ("4n8l4c2t", [4, 8, 4, 2], 64),
        ("1n1l255c1t", [1, 1, 255, 1], 255),
        ("2numa", [2, 2, 2, 1], 4),
        ("2NUMA", [2, 2, 2, 1], 4),
        ("tiny", [1, 1, 2, 1], 2),
    ];
    for (input, want, vcpus) in ok {
        let spec = TopologySpec::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(counts(&spec), *want, "{input:?}");
        assert_eq!(spec.vcpus(), *vcpus, "{input:?}");
        assert_eq!(spec.node_memory_mib, None);
        assert_eq!(spec.distances, None);
    }
}

#[test]
fn syntax_errors_say_what_is_wrong() {
    let bad: &[(&str, &str)] = &[
        ("2n", "expected a number before 'l' at \"\""),
        ("2n4l4c", "expected a number before 't'"),
        ("2n4l4c2tx", "unexpected \"x\" at the end"),
        ("2x4l4c2t", "expected 'n' after 2"),
        ("2n4l4c2", "expected 't' after 2"),
        ("99999999999n1l1c1t", "99999999999 is too large"),
        ("2n-4l4c2t", "expected a number before 'l' at \"-4l4c2t\""),
    ];
    for (input, reason) in bad {
        let err = TopologySpec::parse(input).unwrap_err();
        assert!(
            matches!(&err, TopologyError::Syntax { reason: r, .. } if r.contains(reason)),
            "{input:?}: {err}"
        );
        assert!(err.to_string().contains("e.g. 2n4l4c2t"), "{err}");
    }
}

#[test]
fn unknown_presets_suggest_the_nearest() {
    let err = TopologySpec::parse("2nuam").unwrap_err();
    assert_eq!(
        err,
        TopologyError::UnknownPreset {
            name: "2nuam".into(),
            suggestion: Some("2numa"),
        }
    );
    assert!(err.to_string().contains("did you mean \"2numa\"?"), "{err}");
    let err = TopologySpec::parse("qqqqqqqqqq").unwrap_err();
    assert!(matches!(
        err,
        TopologyError::UnknownPreset {
            suggestion: None,
            ..
        }
    ));
    assert!(!err.to_string().contains("did you mean"), "{err}");
    assert!(matches!(
        TopologySpec::parse(""),
        Err(TopologyError::UnknownPreset { .. })
    ));
}

#[test]
fn impossible_counts_are_rejected() {
    let bad: &[(&str, TopologyError)] = &[
        ("0n1l1c1t", TopologyError::ZeroCount { what: "NUMA node" }),
        ("1n0l1c1t", TopologyError::ZeroCount { what: "LLC" }),
        (
            "1n1l0c1t",
            TopologyError::ZeroCount {
                what: "core per LLC",
            },
        ),
        (
            "1n1l1c0t",
            TopologyError::ZeroCount {
                what: "thread per core",
            },
        ),
        (
            "2n3l1c1t",
            TopologyError::LlcsNotDivisible { llcs: 3, nodes: 2 },
        ),
        (
            "4n2l1c1t",
            TopologyError::LlcsNotDivisible { llcs: 2, nodes: 4 },
        ),
        (
            "1n1l256c1t",
            TopologyError::TooManyVcpus {
                vcpus: 256,
                max: 255,
            },
        ),
        (
            "4n8l4c8t",
            TopologyError::TooManyVcpus {
                vcpus: 256,
                max: 255,
            },
        ),
        (
            "1n1l4000000000c4000000000t",
            TopologyError::TooManyVcpus {
                vcpus: u32::MAX,
                max: 255,
            },
        ),
        // QEMU: "current -smp configuration requires kernel irqchip and X2APIC API support".
        (
            "5n5l20c2t",
            TopologyError::ApicIdTooLarge {
                apic_id: 295,
                max: 254,
            },
        ),
    ];
    for (input, want) in bad {
        assert_eq!(TopologySpec::parse(input).as_ref(), Err(want), "{input:?}");
    }
}

#[test]
fn apic_ids_follow_qemu_packing() {
    // QEMU 7.2 started these (checked by hand) except the last.
    let cases: &[(u32, u32, u32, u32, u32)] = &[
        (1, 1, 1, 1, 0),
        (1, 1, 255, 1, 254),
        (4, 8, 12, 2, 247),
        (4, 8, 10, 2, 243),
        (5, 5, 20, 2, 295),
    ];
    for &(n, l, c, t, want) in cases {
        assert_eq!(
            TopologySpec::new(n, l, c, t).max_apic_id(),
            want,
            "{n}n{l}l{c}c{t}t"
        );
    }
}

#[test]
fn memory_defaults_and_splits() {
    let two = TopologySpec::parse("2n2l2c1t").unwrap();
    assert_eq!(two.validate(None).unwrap().node_memory_mib(), [512, 512]);
    let plan = two.validate(Some(2048)).unwrap();
    assert_eq!(plan.node_memory_mib(), [1024, 1024]);
    assert_eq!(plan.memory_mib(), 2048);

    let uneven = TopologySpec {
        node_memory_mib: Some(vec![256, 768]),
        ..two.clone()
    };
    assert_eq!(uneven.validate(None).unwrap().memory_mib(), 1024);
    assert_eq!(
        uneven.validate(Some(1024)).unwrap().node_memory_mib(),
        [256, 768]
    );
    assert_eq!(
        uneven.validate(Some(2048)),
        Err(TopologyError::MemoryConflict {
            total: 2048,
            sum: 1024
        })
    );
}

#[test]
fn bad_memory_is_rejected() {
    let three = TopologySpec::parse("3n3l1c1t").unwrap();
    assert_eq!(
        three.validate(Some(1000)),
        Err(TopologyError::MemoryNotDivisible {
            total: 1000,
            nodes: 3
        })
    );
    assert_eq!(
        three.validate(Some(3 * 100)),
        Err(TopologyError::NodeMemoryTooSmall {
            node: 0,
            mib: 100,
            min: MIN_NODE_MEMORY_MIB
        })
    );
    let wide = TopologySpec::parse("1n1l255c1t").unwrap();
    assert_eq!(
        wide.validate(Some(256)),
        Err(TopologyError::MemoryTooSmallForVcpus {
            total: 256,
            vcpus: 255,
            min: 510
        })
    );
    assert!(wide.validate(Some(510)).is_ok());
    let small = TopologySpec {
        node_memory_mib: Some(vec![512, 64, 512]),
        ..three.clone()
    };
    assert_eq!(
        small.check(),
        Err(TopologyError::NodeMemoryTooSmall {
            node: 1,
            mib: 64,
            min: MIN_NODE_MEMORY_MIB
        })
    );
    let short = TopologySpec {
        node_memory_mib: Some(vec![512, 512]),
        ..three
    };
    assert_eq!(
        short.check(),
        Err(TopologyError::NodeMemoryCount { given: 2, nodes: 3 })
    );
}

#[test]
fn distances_default_to_10_and_20() {
    let plan = TopologySpec::parse("numa4")
        .unwrap()
        .validate(None)
        .unwrap();
    assert_eq!(
        plan.distances(),
        [
            vec![10, 20, 20, 20],
            vec![20, 10, 20, 20],
            vec![20, 20, 10, 20],
            vec![20, 20, 20, 10],
        ]
    );
    let one = TopologySpec::parse("tiny").unwrap().validate(None).unwrap();
    assert_eq!(one.distances(), [vec![10]]);
}

#[test]
fn bad_distance_matrices_are_rejected() {
    let with = |d: Vec<Vec<u32>>| TopologySpec {
        distances: Some(d),
        ..TopologySpec::new(2, 2, 1, 1)
    };
    let ok = with(vec![vec![10, 31], vec![31, 10]]);
    assert_eq!(
        ok.validate(None).unwrap().distances(),
        [vec![10, 31], vec![31, 10]]
    );
    let bad: &[(Vec<Vec<u32>>, TopologyError)] = &[
        (
            vec![vec![10, 20]],
            TopologyError::DistanceShape {
                nodes: 2,
                shape: "1 rows of lengths [2]".into(),
            },
        ),
        (
            vec![vec![10, 20], vec![20]],
            TopologyError::DistanceShape {
                nodes: 2,
                shape: "2 rows of lengths [2, 1]".into(),
            },
        ),
        (
            vec![vec![10, 20], vec![20, 11]],
            TopologyError::DistanceLocal { node: 1, value: 11 },
        ),
        (
            vec![vec![10, 10], vec![10, 10]],
            TopologyError::DistanceRange {
                from: 0,
                to: 1,
                value: 10,
            },
        ),
        (
            vec![vec![10, 255], vec![255, 10]],
            TopologyError::DistanceRange {
                from: 0,
                to: 1,
                value: 255,
            },
        ),
        (
            vec![vec![10, 20], vec![30, 10]],
            TopologyError::DistanceAsymmetric {
                a: 0,
                b: 1,
                ab: 20,
                ba: 30,
            },
        ),
    ];
    for (matrix, want) in bad {
        let spec = with(matrix.clone());
        assert_eq!(spec.check().as_ref(), Err(want), "{matrix:?}");
        assert_eq!(spec.validate(Some(1024)).as_ref(), Err(want), "{matrix:?}");
    }
}

#[test]
fn display_is_spec_syntax() {
    for input in ["2n4l4c2t", "1n1l64c1t", "big64"] {
        let spec = TopologySpec::parse(input).unwrap();
        assert_eq!(TopologySpec::parse(&spec.to_string()), Ok(spec));
    }
    assert_eq!(TopologySpec::new(2, 4, 4, 2).to_string(), "2n4l4c2t");
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    topology: TopologySpec,
}

#[test]
fn scenario_files_take_a_string_or_a_table() {
    let s: Scenario = toml::from_str(r#"topology = "2numa-smt""#).unwrap();
    assert_eq!(counts(&s.topology), [2, 4, 2, 2]);

    let s: Scenario = toml::from_str(
        "[topology]\nnodes = 2\nllcs = 2\ncores_per_llc = 2\nthreads_per_core = 1\n\
         node_memory_mib = [256, 512]\ndistances = [[10, 15], [15, 10]]\n",
    )
    .unwrap();
    assert_eq!(counts(&s.topology), [2, 2, 2, 1]);
    assert_eq!(s.topology.node_memory_mib, Some(vec![256, 512]));
    assert_eq!(s.topology.distances, Some(vec![vec![10, 15], vec![15, 10]]));

    let s: Scenario = serde_json::from_str(
        r#"{"topology": {"nodes": 1, "llcs": 2, "cores_per_llc": 1, "threads_per_core": 2}}"#,
    )
    .unwrap();
    assert_eq!(counts(&s.topology), [1, 2, 1, 2]);
}

#[test]
fn scenario_errors_name_the_problem() {
    let cases: &[(&str, &str)] = &[
        (r#"topology = "2nuam""#, "did you mean \"2numa\"?"),
        (r#"topology = "2n3l1c1t""#, "3 LLCs cannot be split evenly across 2 NUMA nodes"),
        (
            "[topology]\nnodes = 1\nllcs = 1\ncores_per_llc = 1\nthreads_per_core = 1\nsockets = 2\n",
            "unknown field `sockets`",
        ),
        (
            "[topology]\nnodes = 1\nllcs = 1\ncores_per_llc = 1\n",
            "missing field `threads_per_core`",
        ),
        (
            "[topology]\nnodes = 2\nllcs = 2\ncores_per_llc = 1\nthreads_per_core = 1\n\
             distances = [[10, 20], [21, 10]]\n",
            "distances are asymmetric",
        ),
        ("topology = 3", "a topology like \"2n4l4c2t\""),
    ];
    for (text, want) in cases {
        let err = toml::from_str::<Scenario>(text).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn serializes_as_fields() {
    let json = serde_json::to_value(TopologySpec::parse("2numa").unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"nodes": 2, "llcs": 2, "cores_per_llc": 2, "threads_per_core": 1})
    );
    let back: TopologySpec = serde_json::from_value(json).unwrap();
    assert_eq!(back, TopologySpec::parse("2numa").unwrap());
}

#[test]
fn tcg_caps_the_vcpus() {
    assert_eq!(TopologySpec::parse("4n8l8c2t").unwrap().check_tcg(), Ok(()));
    assert_eq!(
        TopologySpec::parse("1n1l129c1t").unwrap().check_tcg(),
        Err(TopologyError::TooManyVcpusForTcg {
            vcpus: 129,
            max: MAX_TCG_VCPUS
        })
    );
    for preset in presets::list() {
        assert_eq!(preset.spec().check_tcg(), Ok(()), "{}", preset.name);
    }
}

proptest::proptest! {
    /// Any text: parsed or a typed error, never a panic; what parses
    /// prints back to itself and validates or errors.
    #[test]
    fn arbitrary_specs_never_panic(text in "\\PC{0,24}") {
        if let Ok(spec) = TopologySpec::parse(&text) {
            proptest::prop_assert_eq!(TopologySpec::parse(&spec.to_string()), Ok(spec.clone()));
            let _ = spec.validate(Some(1024));
        }
    }

    /// Every well-formed `<n>n<l>l<c>c<t>t` round-trips, or is refused
    /// for its size (too many vCPUs or APIC IDs), never for its form.
    #[test]
    fn shaped_specs_round_trip(n in 1u32..9, l in 1u32..9, c in 1u32..9, t in 1u32..3) {
        let text = format!("{n}n{}l{c}c{t}t", n * l);
        match TopologySpec::parse(&text) {
            Ok(spec) => {
                proptest::prop_assert_eq!(spec.to_string(), text);
                proptest::prop_assert_eq!(spec.vcpus(), n * l * c * t);
            }
            Err(e) => proptest::prop_assert!(
                matches!(e, TopologyError::TooManyVcpus { .. } | TopologyError::ApicIdTooLarge { .. }),
                "{text}: {e}"
            ),
        }
    }
}
