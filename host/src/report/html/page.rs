//! The page: verdict, findings with evidence, the worker table, the plots,
//! and a few lines of script (sortable table, a marker list that follows
//! the pointer on the timeline). Everything inline: the page opens from a
//! downloaded CI artifact with no network.

use std::fmt::Write;

use super::analysis::{Analysis, Source};
use super::model::Run;
use super::plots::{self, Legend};
use super::svg::{esc, ns};

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
.verdict{display:inline-block;padding:.2em .6em;border-radius:4px;color:#fff;font-weight:bold}
.pass{background:#2a7d3b}.fail{background:#b3261e}.inconclusive{background:#8a6d00}.skip{background:#666}
.finding{border-left:4px solid #b3261e;padding:.2em .8em;margin:.6em 0;background:#fbf3f2}
.finding.inconclusive{border-color:#8a6d00;background:#fbf8ee}
pre{background:#f4f4f4;padding:.5em;overflow:auto;max-height:18em;font-size:12px}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f0f0f0;cursor:pointer}td.l,th.l{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em}.note{color:#666;font-size:12px}
svg.plot{max-width:100%;height:auto;background:#fff}
#hover{font-size:12px;color:#333;min-height:1.4em}
.legend{font-size:12px}.legend span{margin-right:1em;white-space:nowrap}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
"#;

/// Sorts the worker table by a clicked column, and shows what the
/// pointer is over on the timeline. Sets `data-ready` when done, so a
/// test knows the script ran to the end.
const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById('workers');
  if (table) {
    table.querySelectorAll('th').forEach(function (th, col) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.dataset.asc !== '1';
        th.dataset.asc = asc ? '1' : '0';
        rows.sort(function (a, b) {
          var x = a.cells[col].dataset.v || a.cells[col].textContent;
          var y = b.cells[col].dataset.v || b.cells[col].textContent;
          var nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  var hover = document.getElementById('hover');
  document.querySelectorAll('svg.timeline rect.run, svg.timeline line.marker').forEach(function (el) {
    el.addEventListener('mouseenter', function () {
      var t = el.querySelector('title');
      hover.textContent = (el.dataset.cpu !== undefined ? 'CPU ' + el.dataset.cpu + ': ' : '') + (t ? t.textContent : '');
    });
  });
  document.body.dataset.ready = '1';
})();
"#;

/// The whole page for one run.
pub fn render(run: &Run, title: &str) -> String {
    let a = Analysis::of(run);
    let names = run
        .trace
        .as_ref()
        .map(|t| t.threads.clone())
        .unwrap_or_default();
    let legend = Legend::new(&run.workers, &names);
    let r = &run.result;
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(title)
    );
    let outcome = if r.outcome.is_empty() {
        "unknown"
    } else {
        &r.outcome
    };
    let sched = r
        .scheduler
        .as_ref()
        .map_or("EEVDF (kernel default)".to_string(), |s| {
            format!(
                "{} (ops {})",
                s.name,
                s.ops.as_deref().unwrap_or("not attached")
            )
        });
    let _ = write!(
        s,
        "<h1>{}</h1><p><span class=\"verdict {}\" id=\"verdict\">{}</span> exit code {} &middot; {} on kernel {} &middot; {} s workload, {:.1} s wall</p>",
        esc(title),
        esc(outcome),
        esc(&outcome.to_uppercase()),
        r.exit_code,
        esc(&sched),
        esc(r.kernel.release.as_deref().unwrap_or("?")),
        r.duration_ms as f64 / 1000.0,
        r.wall_ms as f64 / 1000.0
    );
    findings(&mut s, run);
    workers_table(&mut s, run);
    let _ = write!(s, "<h2>Per-CPU timeline</h2>");
    let _ = write!(
        s,
        "<p class=\"note\">{}</p><div id=\"hover\"></div>{}",
        match a.source {
            Source::Trace => "From the trace (sched_switch): each column shows the task that ran most in it; workers coloured by group, other tasks grey; dashed lines are run markers (red: findings).",
            Source::Reports => "No trace in this run (run with --trace for the exact timeline): where each worker was, from its own migration log, since its release.",
        },
        plots::timeline(&a, &legend)
    );
    legend_list(&mut s, run, &legend);
    let _ = write!(s, "<h2>CPU share</h2>");
    match a.source {
        Source::Trace => {
            let _ = write!(
                s,
                "<div class=\"plots\">{}{}</div>",
                plots::share_per_worker(&a, &legend),
                plots::share_per_cgroup(&a)
            );
        }
        Source::Reports => {
            let _ = write!(s, "<p class=\"note\">Totals over the run (over time needs --trace).</p><div class=\"plots\">{}</div>", plots::share_totals(&run.workers));
        }
    }
    let (gap_what, wake_what) = match a.source {
        Source::Trace => (
            "off-CPU gaps of workers (switch out to switch in)",
            "wake latency of workers (sched_waking to switch in)",
        ),
        Source::Reports => (
            "longest gap per worker",
            "wake latency samples from the workers",
        ),
    };
    let _ = write!(
        s,
        "<h2>Gaps and wake latency</h2><div class=\"plots\"><figure>{}<figcaption>{gap_what}</figcaption></figure><figure>{}<figcaption>{wake_what}</figcaption></figure></div>",
        super::svg::histogram("gaps", &a.gap_ns, gap_what),
        super::svg::histogram("wake-latency", &a.wake_ns, wake_what)
    );
    let cpus: Vec<u32> = if run.topology.cpus.is_empty() {
        a.rows.iter().map(|r| r.cpu).collect()
    } else {
        run.topology.cpus.clone()
    };
    let _ = write!(
        s,
        "<h2>Migrations</h2><div class=\"plots\">{}{}</div>",
        plots::migrations(&a, &legend),
        plots::migration_matrix(&a, &cpus)
    );
    let _ = write!(s, "<h2>Topology</h2>{}", plots::topology(&run.topology));
    markers_list(&mut s, &a);
    if !run.notes.is_empty() {
        let _ = write!(s, "<h2>Notes</h2><ul>");
        for n in &run.notes {
            let _ = write!(s, "<li class=\"note\">{}</li>", esc(n));
        }
        s.push_str("</ul>");
    }
    let _ = write!(s, "<script>{SCRIPT}</script></body></html>");
    s
}

/// Colour swatches of the workers (the timeline and share plots use them).
fn legend_list(s: &mut String, run: &Run, legend: &Legend) {
    s.push_str("<p class=\"legend\">");
    for w in &run.workers {
        let _ = write!(
            s,
            "<span><i style=\"background:{}\"></i>{}</span> ",
            legend.color(w.tid),
            esc(&legend.label(w.tid))
        );
    }
    let _ = write!(
        s,
        "<span><i style=\"background:{}\"></i>other tasks</span></p>",
        super::svg::OTHER
    );
}

fn findings(s: &mut String, run: &Run) {
    let _ = write!(s, "<h2>Findings</h2>");
    if run.result.findings.is_empty() {
        s.push_str("<p>None: every check passed.</p>");
    }
    for f in &run.result.findings {
        let at = f.at_guest_ms.map_or(String::new(), |ms| {
            format!(" at guest uptime {:.3} s", ms as f64 / 1000.0)
        });
        let _ = write!(
            s,
            "<div class=\"finding {}\"><b>{}</b>: {}{at}",
            esc(&f.outcome),
            esc(&f.class),
            esc(&f.message)
        );
        if !f.evidence.is_empty() {
            let _ = write!(s, "<pre>{}</pre>", esc(&f.evidence.join("\n")));
        }
        s.push_str("</div>");
    }
}

fn workers_table(s: &mut String, run: &Run) {
    let _ = write!(s, "<h2>Workers</h2>");
    if run.workers.is_empty() {
        s.push_str("<p>No worker reports.</p>");
        return;
    }
    s.push_str("<table id=\"workers\"><thead><tr><th class=\"l\">worker</th><th class=\"l\">type</th><th class=\"l\">cgroup</th><th>tid</th><th>work units</th><th>cpu</th><th>off-cpu</th><th>migrations</th><th class=\"l\">cpus</th><th>max gap</th><th>wake p99</th><th class=\"l\">exit</th></tr></thead><tbody>");
    for w in &run.workers {
        let gap = w.max_gap.map_or(0, |g| g.len_ns);
        let _ = write!(
            s,
            "<tr><td class=\"l\">{}.{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td>{}</td><td class=\"l\">{}</td><td data-v=\"{gap}\">{}</td><td data-v=\"{}\">{}</td><td class=\"l\">{}</td></tr>",
            w.group,
            w.index,
            esc(&w.work_type),
            esc(if w.cgroup.is_empty() { "/" } else { &w.cgroup }),
            w.tid,
            w.work_units,
            w.cpu_time_ns,
            ns(w.cpu_time_ns as f64),
            w.off_cpu_time_ns,
            ns(w.off_cpu_time_ns as f64),
            w.migrations,
            esc(&ktstr_wire::topology::format_cpu_list(&w.cpus_used)),
            if gap == 0 { "-".into() } else { ns(gap as f64) },
            w.wake_latency.p99_ns,
            if w.wake_latency.count == 0 { "-".into() } else { ns(w.wake_latency.p99_ns as f64) },
            esc(&format!("{:?}", w.exit))
        );
    }
    s.push_str("</tbody></table>");
}

fn markers_list(s: &mut String, a: &Analysis) {
    if a.markers.is_empty() {
        return;
    }
    let _ = write!(s, "<h2>Run markers</h2><table id=\"markers\"><thead><tr><th>time</th><th class=\"l\">what</th><th class=\"l\">detail</th></tr></thead><tbody>");
    for m in a.markers.iter().take(500) {
        let _ = write!(
            s,
            "<tr><td>{:.3}s</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            m.ts as f64 / 1e9,
            esc(&m.name),
            esc(&ktstr_wire::codec::excerpt(&m.detail, 200))
        );
    }
    s.push_str("</tbody></table>");
}
