use proptest::prelude::*;

use super::*;

#[test]
fn cpu_lists_parse() {
    let ok: &[(&str, &[u32])] = &[
        ("", &[]),
        ("\n", &[]),
        ("0", &[0]),
        ("0-3,8,10-11\n", &[0, 1, 2, 3, 8, 10, 11]),
        ("5,1,3", &[1, 3, 5]),
        ("2-2", &[2]),
        ("0-1,1-2", &[0, 1, 2]),
    ];
    for (text, want) in ok {
        assert_eq!(parse_cpu_list(text).as_deref(), Ok(*want), "{text:?}");
    }
    let bad: &[(&str, CpuListError)] = &[
        ("x", CpuListError::NotANumber("x".into())),
        ("0-", CpuListError::NotANumber("".into())),
        ("3-1", CpuListError::Backwards(3, 1)),
        ("-1", CpuListError::NotANumber("".into())),
    ];
    for (text, want) in bad {
        assert_eq!(parse_cpu_list(text).as_ref(), Err(want), "{text:?}");
    }
}

#[test]
fn cpu_lists_format() {
    assert_eq!(format_cpu_list(&[]), "");
    assert_eq!(format_cpu_list(&[4]), "4");
    assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
}

proptest! {
    #[test]
    fn cpu_list_round_trips(cpus in proptest::collection::btree_set(0u32..300, 0..40)) {
        let cpus: Vec<u32> = cpus.into_iter().collect();
        prop_assert_eq!(parse_cpu_list(&format_cpu_list(&cpus)), Ok(cpus));
    }
}
