use super::*;
use crate::assert::Thresholds;
use crate::qemu::accel::Accel;
use crate::topology::TopologySpec;

fn topo(spec: &str) -> ktstr_wire::topology::Topology {
    TopologySpec::parse(spec)
        .unwrap()
        .validate(None)
        .unwrap()
        .expected()
}

fn toml(text: &str) -> Result<Loaded, ScenarioError> {
    from_text(text, "t.toml", Format::Toml, "t")
}

fn syntax(text: &str) -> SyntaxError {
    match toml(text) {
        Err(ScenarioError::Syntax(e)) => e,
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

fn check(text: &str) -> CheckError {
    match toml(text) {
        Err(ScenarioError::Check { error, .. }) => error,
        other => panic!("expected a check error, got {other:?}"),
    }
}

const MINIMAL: &str = r#"
[[cgroups]]
name = "a"
workers = [{ work_type = { type = "spin_wait" }, workers = 2 }]
"#;

#[test]
fn every_canned_scenario_loads_and_fits_its_topology() {
    assert!(canned::names().len() >= 15);
    for name in canned::names() {
        let l = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(l.file.name, name);
        assert!(!l.file.description.is_empty(), "{name}: no description");
        let t = l.file.topology.clone().unwrap_or("1n1l4c1t".into());
        l.file
            .check_topology(&topo(&t))
            .unwrap_or_else(|e| panic!("{name} on {t}: {e}"));
        // Every canned scenario also runs on the 2-LLC test topology.
        l.file
            .check_topology(&topo("1n2l2c1t"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let spec = l.file.spec();
        assert!(
            spec.run_ms() >= 3000 && spec.run_ms() <= 6000,
            "{name}: {} ms",
            spec.run_ms()
        );
    }
}

#[test]
fn json_is_the_same_format() {
    for name in canned::names() {
        let l = load(name).unwrap();
        let json = serde_json::to_string_pretty(&l.file).unwrap();
        let back = from_text(&json, "x.json", Format::Json, "x").unwrap();
        assert_eq!(back.file, l.file, "{name}");
    }
}

#[test]
fn defaults_fill_name_and_duration() {
    let l = toml(MINIMAL).unwrap();
    assert_eq!(l.file.name, "t");
    assert_eq!(l.file.duration_ms(), DEFAULT_DURATION_MS);
    let with_steps = format!("{MINIMAL}\n[[steps]]\nhold = \"1500ms\"\n[[steps]]\nhold = \"2s\"\n");
    assert_eq!(toml(&with_steps).unwrap().file.duration_ms(), 3500);
    let longer = format!("duration = \"10s\"\n{MINIMAL}\n[[steps]]\nhold = 1500\n");
    assert_eq!(toml(&longer).unwrap().file.spec().duration.0, 10_000);
}

#[test]
fn syntax_errors_point_at_line_column_and_suggest() {
    let e = syntax(&format!("{MINIMAL}cpusett = \"llc(0)\"\n"));
    assert_eq!(
        (e.at.file.as_str(), e.at.line, e.at.column),
        ("t.toml", 5, 1)
    );
    assert!(
        e.message.contains("unknown field `cpusett`"),
        "{}",
        e.message
    );
    assert_eq!(e.hint, " (did you mean \"cpuset\"?)");
    assert!(
        e.to_string()
            .starts_with("t.toml:5:1: unknown field `cpusett`"),
        "{e}"
    );

    let e =
        syntax("[[cgroups]]\nname = \"a\"\nworkers = [{ work_type = { type = \"spin_wiat\" } }]\n");
    assert_eq!(e.at.line, 3);
    assert_eq!(e.hint, " (did you mean \"spin_wait\"?)");

    let e = syntax(&format!(
        "{MINIMAL}[[steps]]\nhold = \"1s\"\nops = [{{ op = \"set_cpusets\", cgroup = \"a\" }}]\n"
    ));
    assert_eq!(e.at.line, 7);
    assert_eq!(e.hint, " (did you mean \"set_cpuset\"?)");

    let e = syntax(&format!("{MINIMAL}[[steps]]\nhold = \"2 fortnights\"\n"));
    assert_eq!(e.at.line, 6);
    assert!(e.message.contains("unknown unit"), "{}", e.message);

    let e = syntax("[[cgroups]]\nname = \"a\"\ncpuset = \"lcc(1)\"\n");
    assert_eq!(e.at.line, 3);
    assert!(e.message.contains("did you mean \"llc\""), "{}", e.message);

    let e = syntax("[assert]\nmax_gap = 3\n");
    assert_eq!(e.hint, " (did you mean \"max_gap_ms\"?)");

    let e = syntax("[[cgroups]\n");
    assert_eq!(e.at.line, 1);
}

#[test]
fn json_errors_point_at_line_and_column() {
    let text = "{\n  \"cgroups\": [],\n  \"stepz\": []\n}";
    let Err(ScenarioError::Syntax(e)) = from_text(text, "s.json", Format::Json, "s") else {
        panic!()
    };
    assert_eq!((e.at.line, e.at.file.as_str()), (3, "s.json"));
    assert_eq!(e.hint, " (did you mean \"steps\"?)");
    assert!(!e.message.contains(" at line "), "{}", e.message);
}

#[test]
fn checks_name_the_field_and_suggest() {
    let e = check(&format!(
        "{MINIMAL}[[steps]]\nhold = \"1s\"\nops = [{{ op = \"freeze\", cgroup = \"b\" }}]\n"
    ));
    assert_eq!(e.field, "steps[0].ops[0].cgroup");
    assert!(e.message.contains("cgroups now: a"), "{e}");

    let e = check(&format!("{MINIMAL}[[steps]]\nhold = \"1s\"\nops = [{{ op = \"remove_cgroup\", cgroup = \"aa\" }}]\n"));
    assert!(e.message.contains("did you mean \"a\""), "{e}");

    // Removed cgroups are gone for later steps.
    let e = check(&format!(
        "{MINIMAL}[[steps]]\nhold = 1\nops = [{{ op = \"remove_cgroup\", cgroup = \"a\" }}]\n[[steps]]\nhold = 1\nops = [{{ op = \"freeze\", cgroup = \"a\" }}]\n"
    ));
    assert_eq!(e.field, "steps[1].ops[0].cgroup");

    let e = check(&format!("{MINIMAL}{MINIMAL}"));
    assert_eq!(e.field, "cgroups[1].name");

    let e = check(
        "[[cgroups]]\nname = \"../x\"\nworkers = [{ work_type = { type = \"spin_wait\" } }]\n",
    );
    assert_eq!(e.field, "cgroups[0].name");

    let e = check("[[cgroups]]\nname = \"a\"\nworkers = [{ work_type = { type = \"spin_wait\" }, cgroup = \"x\" }]\n");
    assert_eq!(e.field, "cgroups[0].workers[0].cgroup");

    let e = check("[[cgroups]]\nname = \"a\"\nworkers = [{ work_type = { type = \"pipe_io\" }, workers = 3 }]\n");
    assert!(e.message.contains("multiple"), "{e}");

    let e = check("[[cgroups]]\nname = \"a\"\n");
    assert!(e.message.contains("no workers"), "{e}");

    let e = check(&format!("{MINIMAL}[[cgroups]]\nname = \"a/b\"\n"));
    assert!(e.message.contains("only in leaves"), "{e}");

    let e = check(&format!("duration = 0\n{MINIMAL}"));
    assert_eq!(e.field, "duration");
}

#[test]
fn cpusets_are_checked_against_the_topology() {
    let text = format!("{MINIMAL}[[steps]]\nhold = 1\nops = [{{ op = \"set_cpuset\", cgroup = \"a\", cpuset = \"llc(2)\" }}]\n");
    let l = toml(&text).unwrap();
    let e = l.file.check_topology(&topo("1n2l2c1t")).unwrap_err();
    assert_eq!(e.field, "steps[0].ops[0].cpuset");
    assert!(e.message.contains("2 LLC group(s)"), "{e}");
    assert!(l.file.check_topology(&topo("1n4l1c1t")).is_ok());
}

#[test]
fn unknown_names_suggest_a_canned_scenario() {
    let e = load("stedy").unwrap_err().to_string();
    assert!(e.contains("did you mean \"steady\""), "{e}");
    let e = load("/no/such/file.toml").unwrap_err();
    assert!(matches!(e, ScenarioError::Read { .. }), "{e}");
}

#[test]
fn thresholds_layer_defaults_file_and_command_line() {
    let tcg = Thresholds::defaults(Accel::Tcg).resolve();
    let kvm = Thresholds::defaults(Accel::Kvm).resolve();
    assert_eq!(
        tcg.max_gap_ms.unwrap(),
        kvm.max_gap_ms.unwrap() * crate::assert::TCG_TIME_SCALE
    );
    assert_eq!(tcg.max_spread, kvm.max_spread, "ratios do not scale");
    let file = Thresholds {
        max_gap_ms: Some(100.0),
        max_spread: Some(0.2),
        ..Thresholds::default()
    };
    let cli = Thresholds::from_args(&[
        "max_gap_ms=50".into(),
        "isolation=off".into(),
        "max_spread=off".into(),
    ])
    .unwrap();
    let l = Thresholds::defaults(Accel::Tcg)
        .overlay(&file)
        .overlay(&cli)
        .resolve();
    assert_eq!(l.max_gap_ms, Some(50.0));
    assert_eq!(l.max_spread, None);
    assert!(!l.isolation);
    assert_eq!(l.max_wake_p99_us, tcg.max_wake_p99_us);

    let e = Thresholds::from_args(&["max_gapms=3".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean \"max_gap_ms\""), "{e}");
    assert!(Thresholds::from_args(&["max_gap_ms".into()]).is_err());
    assert!(Thresholds::from_args(&["max_gap_ms=-1".into()]).is_err());
    assert!(Thresholds::from_args(&["isolation=maybe".into()]).is_err());
}

proptest::proptest! {
    /// Any text, TOML or JSON: a scenario or a located error, never a panic.
    #[test]
    fn arbitrary_scenario_text_never_panics(text in "\\PC{0,400}", json in proptest::bool::ANY) {
        let format = if json { Format::Json } else { Format::Toml };
        match from_text(&text, "p.toml", format, "p") {
            Ok(l) => {
                let _ = l.file.spec();
            }
            Err(e) => proptest::prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// A canned scenario with one line changed still loads or errors cleanly.
    #[test]
    fn mutated_canned_scenarios_never_panic(line in 0usize..20, junk in "\\PC{0,30}") {
        let text = canned::text("cpuset_apply").unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let i = line % lines.len();
        lines[i] = &junk;
        let _ = from_text(&lines.join("\n"), "m.toml", Format::Toml, "m");
    }
}
