use super::*;

fn frag(name: &str, text: &str) -> Fragment {
    Fragment::new(name, text)
}

/// Input text, and the parsed options or the line number of the error.
type ParseCase = (&'static str, Result<Vec<(&'static str, Want)>, usize>);

#[test]
fn parse_table() {
    let cases: &[ParseCase] = &[
        ("", Ok(vec![])),
        ("# a comment\n\n## section\n", Ok(vec![])),
        (
            "CONFIG_SMP=y",
            Ok(vec![("CONFIG_SMP", Want::Set("y".into()))]),
        ),
        (
            "  CONFIG_NR_CPUS=256  ",
            Ok(vec![("CONFIG_NR_CPUS", Want::Set("256".into()))]),
        ),
        (
            "CONFIG_CMDLINE=\"a b\"",
            Ok(vec![("CONFIG_CMDLINE", Want::Set("\"a b\"".into()))]),
        ),
        (
            "# CONFIG_KERNEL_XZ is not set",
            Ok(vec![("CONFIG_KERNEL_XZ", Want::Unset)]),
        ),
        ("# CONFIG_ is not set", Ok(vec![])),
        ("CONFIG_SMP y", Err(1)),
        ("# ok\nSMP=y", Err(2)),
        ("CONFIG_A-B=y", Err(1)),
    ];
    for (text, want) in cases {
        let got = parse(&frag("f", text))
            .map(|rs| {
                rs.into_iter()
                    .map(|r| (r.symbol, r.want))
                    .collect::<Vec<_>>()
            })
            .map_err(|FragmentError::BadLine { line, .. }| line);
        let want = want.clone().map(|v| {
            v.into_iter()
                .map(|(s, w)| (s.to_string(), w))
                .collect::<Vec<_>>()
        });
        assert_eq!(got, want, "input {text:?}");
    }
}

#[test]
fn later_fragment_wins_and_keeps_its_name() {
    let merged = merge(&[
        frag("a", "CONFIG_X=y\nCONFIG_Y=y"),
        frag("b", "# CONFIG_X is not set"),
    ])
    .unwrap();
    assert_eq!(merged["CONFIG_X"].want, Want::Unset);
    assert_eq!(merged["CONFIG_X"].fragment, "b");
    assert_eq!(merged["CONFIG_Y"].fragment, "a");
}

#[test]
fn verify_table() {
    let req = merge(&[frag(
        "f",
        "CONFIG_A=y\nCONFIG_N=256\n# CONFIG_XZ is not set",
    )])
    .unwrap();
    let ok_configs = [
        "CONFIG_A=y\nCONFIG_N=256\n",
        "CONFIG_A=y\nCONFIG_N=256\n# CONFIG_XZ is not set\n",
        "CONFIG_A=y\nCONFIG_N=256\nCONFIG_XZ=n\n",
    ];
    for c in ok_configs {
        assert_eq!(verify(&req, c), Ok(()), "config {c:?}");
    }
    let bad_configs: &[(&str, &[&str])] = &[
        ("CONFIG_N=256\n", &["CONFIG_A"]),
        ("# CONFIG_A is not set\nCONFIG_N=256\n", &["CONFIG_A"]),
        ("CONFIG_A=m\nCONFIG_N=64\n", &["CONFIG_A", "CONFIG_N"]),
        ("CONFIG_A=y\nCONFIG_N=256\nCONFIG_XZ=y\n", &["CONFIG_XZ"]),
    ];
    for (c, names) in bad_configs {
        let err = verify(&req, c).unwrap_err();
        let got: Vec<&str> = err
            .0
            .iter()
            .map(|m| m.requirement.symbol.as_str())
            .collect();
        assert_eq!(&got, names, "config {c:?}");
    }
}

#[test]
fn dropped_option_error_names_it_and_its_fragment() {
    let req = merge(&[frag("sched_ext.config", "CONFIG_SCHED_CLASS_EXT=y")]).unwrap();
    let msg = verify(&req, "# CONFIG_SCHED_CLASS_EXT is not set\n")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("CONFIG_SCHED_CLASS_EXT=y (from sched_ext.config)"),
        "{msg}"
    );
    assert!(msg.contains("not set"), "{msg}");
}

#[test]
fn builtin_fragments_parse_and_ask_for_sched_ext() {
    let default = crate::kernel::variant::Variant::default().fragments();
    let merged = merge(&default).unwrap();
    assert_eq!(merged["CONFIG_SCHED_CLASS_EXT"].want, Want::Set("y".into()));
    assert_eq!(merged["CONFIG_KERNEL_GZIP"].want, Want::Set("y".into()));
    assert_eq!(merged["CONFIG_CMDLINE_BOOL"].want, Want::Unset);
    assert_eq!(merged["CONFIG_RT_GROUP_SCHED"].want, Want::Unset);
}

#[test]
fn every_builtin_option_has_a_reason_comment() {
    for f in BUILTIN_FRAGMENTS.iter().map(|(n, t)| Fragment::new(*n, *t)) {
        let lines: Vec<&str> = f.text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let is_option = parse_config_line(l.trim()).is_some();
            if is_option {
                let prev = if i == 0 { "" } else { lines[i - 1].trim() };
                let reason = prev.starts_with("# ") && parse_config_line(prev).is_none();
                assert!(
                    reason,
                    "{}:{}: {l} has no reason comment above it",
                    f.name,
                    i + 1
                );
            }
        }
    }
}
