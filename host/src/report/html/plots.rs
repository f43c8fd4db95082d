//! The report's plots, each an inline SVG with a class the browser test
//! looks for: `timeline`, `share-worker`, `share-cgroup`, `gaps`,
//! `wake-latency`, `migrations`, `migration-matrix`, `topology`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use ktstr_wire::topology::{format_cpu_list, Topology};
use ktstr_wire::workload::WorkerReport;

use super::analysis::{cgroup_name, Analysis, Source, COLUMNS};
use super::svg::{self, esc};
use crate::trace::names::worker_label;

/// How a tid is labelled and coloured.
pub struct Legend<'a> {
    workers: HashMap<i32, &'a WorkerReport>,
    names: HashMap<i32, String>,
}

impl<'a> Legend<'a> {
    pub fn new(workers: &'a [WorkerReport], names: &BTreeMap<i32, (i32, String)>) -> Legend<'a> {
        Legend {
            workers: workers.iter().map(|w| (w.tid, w)).collect(),
            names: names.iter().map(|(t, (_, n))| (*t, n.clone())).collect(),
        }
    }

    pub fn label(&self, tid: i32) -> String {
        match (self.workers.get(&tid), self.names.get(&tid)) {
            (Some(w), _) => format!("{} [{tid}]", worker_label(w)),
            (None, Some(n)) => format!("{n} [{tid}]"),
            (None, None) => format!("task {tid}"),
        }
    }

    pub fn color(&self, tid: i32) -> String {
        self.workers
            .get(&tid)
            .map_or(svg::OTHER.to_string(), |w| svg::color(w.group, w.index))
    }
}

fn time_ticks(a: &Analysis) -> Vec<(f64, String)> {
    (0..=10)
        .map(|i| {
            let t = a.t0 as f64 + (a.t1 - a.t0) as f64 * i as f64 / 10.0;
            let label = match a.source {
                Source::Trace => format!("{:.2}s", t / 1e9),
                Source::Reports => format!("+{:.2}s", t / 1e9),
            };
            (i as f64 / 10.0, label)
        })
        .collect()
}

/// Rows of CPUs, each column coloured by the task that ran most in it.
pub fn timeline(a: &Analysis, legend: &Legend) -> String {
    let (left, top, row, pw) = (56.0, 16.0, 18.0, COLUMNS as f64 * 0.9);
    let h = top + row * a.rows.len().max(1) as f64 + 28.0;
    let w = left + pw + 10.0;
    let scale = pw / COLUMNS as f64;
    let mut out = String::new();
    svg::open(&mut out, "timeline", w as u32, h as u32, "per-CPU timeline");
    for (i, r) in a.rows.iter().enumerate() {
        let y = top + row * i as f64;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">CPU {}</text>"##,
            left - 4.0,
            y + 12.0,
            r.cpu
        );
        for c in &r.cells {
            let _ = write!(
                out,
                r#"<rect class="run" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}" data-cpu="{}"><title>{}</title></rect>"#,
                left + c.x0 as f64 * scale,
                (c.x1 - c.x0) as f64 * scale,
                row - 2.0,
                legend.color(c.tid),
                r.cpu,
                esc(&legend.label(c.tid))
            );
        }
    }
    let span = (a.t1 - a.t0).max(1) as f64;
    for m in &a.markers {
        if m.ts < a.t0 || m.ts > a.t1 {
            continue;
        }
        let x = left + pw * (m.ts - a.t0) as f64 / span;
        let colour = if m.category == "finding" {
            "#c00"
        } else {
            "#222"
        };
        let _ = write!(
            out,
            r#"<line class="marker" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-dasharray="3,2"><title>{}</title></line>"#,
            top - 6.0,
            h - 26.0,
            esc(&format!("{} {}", m.name, m.detail))
        );
    }
    let ticks: Vec<(f64, String)> = time_ticks(a)
        .into_iter()
        .map(|(f, l)| (left + pw * f, l))
        .collect();
    svg::axes(
        &mut out,
        left,
        top,
        pw,
        row * a.rows.len().max(1) as f64,
        &ticks,
        "",
    );
    out.push_str("</svg>");
    out
}

/// CPU share per worker over time (share of one CPU, 0..1).
pub fn share_per_worker(a: &Analysis, legend: &Legend) -> String {
    let series: Vec<_> = a
        .share
        .iter()
        .map(|(tid, v)| (legend.label(*tid), legend.color(*tid), v.clone()))
        .collect();
    svg::lines(
        "share-worker",
        &series,
        1.0,
        &time_ticks(a),
        "share of one CPU (0-1)",
        "CPU share per worker over time",
    )
}

/// CPUs used per cgroup over time.
pub fn share_per_cgroup(a: &Analysis) -> String {
    let ymax = a
        .cgroup_share
        .values()
        .flat_map(|v| v.iter().copied())
        .fold(1.0, f64::max)
        .ceil();
    let series: Vec<_> = a
        .cgroup_share
        .iter()
        .enumerate()
        .map(|(i, (cg, v))| (cg.clone(), svg::color(i as u32, 0), v.clone()))
        .collect();
    svg::lines(
        "share-cgroup",
        &series,
        ymax,
        &time_ticks(a),
        &format!("CPUs (0-{ymax})"),
        "CPU share per cgroup over time",
    )
}

/// Total CPU share per worker and per cgroup, from the reports (when
/// there is no trace to draw it over time).
pub fn share_totals(workers: &[WorkerReport]) -> String {
    let items: Vec<_> = workers
        .iter()
        .map(|w| {
            let share = w.cpu_time_ns as f64 / w.wall_time_ns.max(1) as f64;
            (worker_label(w), svg::color(w.group, w.index), share)
        })
        .collect();
    let mut cg: BTreeMap<String, f64> = BTreeMap::new();
    for w in workers {
        *cg.entry(cgroup_name(&w.cgroup)).or_default() +=
            w.cpu_time_ns as f64 / w.wall_time_ns.max(1) as f64;
    }
    let cg_items: Vec<_> = cg
        .into_iter()
        .enumerate()
        .map(|(i, (name, v))| (name, svg::color(i as u32, 0), v))
        .collect();
    svg::bars("share-worker", &items, "of one CPU", "CPU share per worker")
        + &svg::bars("share-cgroup", &cg_items, "CPUs", "CPU share per cgroup")
}

pub fn migrations(a: &Analysis, legend: &Legend) -> String {
    let items: Vec<_> = a
        .migrations
        .iter()
        .map(|(tid, n)| (legend.label(*tid), legend.color(*tid), *n as f64))
        .collect();
    svg::bars("migrations", &items, "migrations", "migrations per task")
}

/// From-CPU x to-CPU counts as a heat map.
pub fn migration_matrix(a: &Analysis, cpus: &[u32]) -> String {
    let cell = 22.0;
    let n = cpus.len().max(1) as f64;
    let (left, top) = (40.0, 30.0);
    let size = (left + cell * n + 10.0) as u32;
    let mut out = String::new();
    svg::open(
        &mut out,
        "migration-matrix",
        size,
        size,
        "migrations from CPU (rows) to CPU (columns)",
    );
    let max = a.matrix.values().copied().max().unwrap_or(1).max(1) as f64;
    for (i, from) in cpus.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{from}</text>"#,
            left - 4.0,
            top + cell * i as f64 + 14.0
        );
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{from}</text>"#,
            left + cell * i as f64 + cell / 2.0,
            top - 6.0
        );
        for (j, to) in cpus.iter().enumerate() {
            let c = a.matrix.get(&(*from, *to)).copied().unwrap_or(0);
            let alpha = if c == 0 {
                0.04
            } else {
                0.15 + 0.85 * c as f64 / max
            };
            let _ = write!(
                out,
                r#"<rect class="cell" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="rgba(200,60,40,{alpha:.2})"><title>CPU {from} -> CPU {to}: {c}</title></rect>"#,
                left + cell * j as f64,
                top + cell * i as f64,
                cell - 2.0,
                cell - 2.0
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Nodes containing LLCs containing cores containing CPUs.
pub fn topology(t: &Topology) -> String {
    let (cpu_w, pad): (f64, f64) = (34.0, 8.0);
    let mut out = String::new();
    let mut x = pad;
    let mut body = String::new();
    let nodes: Vec<(String, Vec<u32>)> = if t.nodes.is_empty() {
        vec![("CPUs".into(), t.cpus.clone())]
    } else {
        t.nodes
            .iter()
            .map(|n| (format!("node {}", n.id), n.cpus.clone()))
            .collect()
    };
    for (name, cpus) in &nodes {
        let llcs: Vec<&Vec<u32>> = t
            .llcs
            .iter()
            .filter(|l| l.first().is_some_and(|c| cpus.contains(c)))
            .collect();
        let node_x = x;
        x += pad;
        for (i, llc) in llcs.iter().enumerate() {
            let llc_x = x;
            for &cpu in llc.iter() {
                let core = t.cores.iter().position(|c| c.contains(&cpu)).unwrap_or(0);
                let _ = write!(
                    body,
                    r##"<rect class="cpu" x="{x:.1}" y="56" width="{:.1}" height="26" fill="{}" stroke="#333"><title>CPU {cpu}, core {core}</title></rect><text x="{:.1}" y="73" font-size="10" text-anchor="middle">{cpu}</text>"##,
                    cpu_w - 4.0,
                    if core % 2 == 0 { "#e8eef8" } else { "#d2def0" },
                    x + (cpu_w - 4.0) / 2.0
                );
                x += cpu_w;
            }
            let _ = write!(
                body,
                r##"<rect class="llc" x="{:.1}" y="34" width="{:.1}" height="56" fill="none" stroke="#4a7ab8"/><text x="{:.1}" y="47" font-size="10" fill="#4a7ab8">LLC {} ({})</text>"##,
                llc_x - 4.0,
                x - llc_x + 4.0,
                llc_x,
                t.llcs.iter().position(|l| l == *llc).unwrap_or(i),
                format_cpu_list(llc)
            );
            x += pad;
        }
        let _ = write!(
            body,
            r##"<rect class="node" x="{node_x:.1}" y="8" width="{:.1}" height="92" fill="none" stroke="#333" stroke-width="1.5"/><text x="{:.1}" y="22" font-size="11">{}</text>"##,
            x - node_x,
            node_x + 6.0,
            esc(name)
        );
        x += pad * 2.0;
    }
    svg::open(&mut out, "topology", x.max(200.0) as u32, 108, "topology");
    out.push_str(&body);
    out.push_str("</svg>");
    out
}
