//! Scenarios shipped inside the binary (`host/scenarios/*.toml`), listed by
//! `ktstr-vm scenarios list` and run by name with `--scenario NAME`.

/// Name and TOML text of every canned scenario.
pub const CANNED: &[(&str, &str)] = &[
    ("steady", include_str!("../../scenarios/steady.toml")),
    (
        "steady_llc",
        include_str!("../../scenarios/steady_llc.toml"),
    ),
    (
        "oversubscribed",
        include_str!("../../scenarios/oversubscribed.toml"),
    ),
    (
        "cpuset_apply",
        include_str!("../../scenarios/cpuset_apply.toml"),
    ),
    (
        "cpuset_clear",
        include_str!("../../scenarios/cpuset_clear.toml"),
    ),
    (
        "cpuset_resize",
        include_str!("../../scenarios/cpuset_resize.toml"),
    ),
    (
        "cgroup_add",
        include_str!("../../scenarios/cgroup_add.toml"),
    ),
    (
        "cgroup_remove",
        include_str!("../../scenarios/cgroup_remove.toml"),
    ),
    (
        "affinity_change",
        include_str!("../../scenarios/affinity_change.toml"),
    ),
    (
        "affinity_pinned",
        include_str!("../../scenarios/affinity_pinned.toml"),
    ),
    (
        "mixed_workloads",
        include_str!("../../scenarios/mixed_workloads.toml"),
    ),
    (
        "nested_steady",
        include_str!("../../scenarios/nested_steady.toml"),
    ),
    (
        "nested_task_move",
        include_str!("../../scenarios/nested_task_move.toml"),
    ),
    (
        "cache_pressure_imbalance",
        include_str!("../../scenarios/cache_pressure_imbalance.toml"),
    ),
    (
        "fan_out_wake",
        include_str!("../../scenarios/fan_out_wake.toml"),
    ),
];

/// The TOML text of canned scenario `name`.
pub fn text(name: &str) -> Option<&'static str> {
    CANNED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Every canned name, in listing order.
pub fn names() -> Vec<&'static str> {
    CANNED.iter().map(|(n, _)| *n).collect()
}
