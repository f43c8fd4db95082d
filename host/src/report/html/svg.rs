//! Small SVG building blocks: escaping, colours, axes, and the chart
//! shapes the plots share (histogram, lines, bars). Plain inline SVG, so
//! the page needs no library and renders with scripts off.

use std::fmt::Write;

/// Escapes text for HTML and SVG content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A distinct colour per group (hue), varied per index (lightness).
pub fn color(group: u32, index: u32) -> String {
    let hue = (group * 137 + 20) % 360;
    let light = 38 + (index * 11) % 30;
    format!("hsl({hue},65%,{light}%)")
}

/// Grey for tasks that are not workers.
pub const OTHER: &str = "#b8b8b8";

/// Human units for nanoseconds.
pub fn ns(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2}s", v / 1e9),
        v if v >= 1e6 => format!("{:.1}ms", v / 1e6),
        v if v >= 1e3 => format!("{:.0}us", v / 1e3),
        v => format!("{v:.0}ns"),
    }
}

/// An `<svg>` of `w` x `h` with a class (the test finds plots by it).
pub fn open(out: &mut String, class: &str, w: u32, h: u32, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="plot {class}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(label)
    );
}

/// Axis lines, `ticks` labels along x (`fmt` of the value), y label.
pub fn axes(
    out: &mut String,
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    xs: &[(f64, String)],
    ylabel: &str,
) {
    let _ = write!(
        out,
        r##"<path class="axis" d="M{x0},{y0} v{h} h{w}" fill="none" stroke="#555"/>"##
    );
    for (x, label) in xs {
        let _ = write!(
            out,
            r##"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#333">{}</text>"##,
            y0 + h + 12.0,
            esc(label)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#333">{}</text>"##,
        x0 + 2.0,
        y0 - 4.0,
        esc(ylabel)
    );
}

/// A histogram of `values` on log-spaced bins, as bars.
pub fn histogram(class: &str, values: &[u64], label: &str) -> String {
    let (w, h, left, top) = (460.0, 200.0, 40.0, 16.0);
    let mut out = String::new();
    open(&mut out, class, w as u32, h as u32, label);
    let pw = w - left - 10.0;
    let ph = h - top - 24.0;
    if values.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{left}" y="60" font-size="12">no samples</text></svg>"#
        );
        return out;
    }
    let lo = values
        .iter()
        .copied()
        .filter(|&v| v > 0)
        .min()
        .unwrap_or(1)
        .max(1) as f64;
    let hi = values.iter().copied().max().unwrap_or(1).max(2) as f64;
    let (llo, lhi) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let bins = 40;
    let mut counts = vec![0u64; bins];
    for &v in values {
        let l = (v.max(1) as f64).log10();
        let i = (((l - llo) / (lhi - llo)) * bins as f64) as usize;
        counts[i.min(bins - 1)] += 1;
    }
    let max = *counts.iter().max().unwrap_or(&1) as f64;
    let bw = pw / bins as f64;
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let bh = ph * c as f64 / max;
        let edge = 10f64.powf(llo + (lhi - llo) * i as f64 / bins as f64);
        let _ = write!(
            out,
            r##"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="#4a7ab8"><title>{} and up: {c}</title></rect>"##,
            left + i as f64 * bw,
            top + ph - bh,
            (bw - 1.0).max(0.5),
            ns(edge)
        );
    }
    let decades = (lhi - llo) as usize;
    let xs: Vec<(f64, String)> = (0..=decades)
        .map(|d| {
            (
                left + pw * d as f64 / decades as f64,
                ns(10f64.powf(llo + d as f64)),
            )
        })
        .collect();
    axes(
        &mut out,
        left,
        top,
        pw,
        ph,
        &xs,
        &format!("count (n={})", values.len()),
    );
    out.push_str("</svg>");
    out
}

/// One line per series (`(label, colour, values 0..=ymax)`) over bins.
pub fn lines(
    class: &str,
    series: &[(String, String, Vec<f64>)],
    ymax: f64,
    xs: &[(f64, String)],
    ylabel: &str,
    label: &str,
) -> String {
    let (w, h, left, top) = (940.0, 220.0, 40.0, 16.0);
    let (pw, ph) = (w - left - 10.0, h - top - 24.0);
    let mut out = String::new();
    open(&mut out, class, w as u32, h as u32, label);
    for (name, colour, values) in series {
        let n = values.len().max(2) - 1;
        let mut d = String::new();
        for (i, v) in values.iter().enumerate() {
            let x = left + pw * i as f64 / n as f64;
            let y = top + ph - ph * (v / ymax).clamp(0.0, 1.0);
            let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" });
        }
        let _ = write!(
            out,
            r#"<path class="series" d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"><title>{}</title></path>"#,
            esc(name)
        );
    }
    let scaled: Vec<(f64, String)> = xs.iter().map(|(f, l)| (left + pw * f, l.clone())).collect();
    axes(&mut out, left, top, pw, ph, &scaled, ylabel);
    out.push_str("</svg>");
    out
}

/// Horizontal bars, one per `(label, colour, value)`.
pub fn bars(class: &str, items: &[(String, String, f64)], unit: &str, label: &str) -> String {
    let row = 16.0;
    let (w, left) = (460.0, 150.0);
    let h = 20.0 + row * items.len().max(1) as f64;
    let mut out = String::new();
    open(&mut out, class, w as u32, h as u32, label);
    let max = items.iter().map(|i| i.2).fold(0.0, f64::max).max(1e-9);
    for (i, (name, colour, v)) in items.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let bw = (w - left - 60.0) * v / max;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#333">{}</text><rect class="bar" x="{left}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{colour}"><title>{}: {v:.2} {unit}</title></rect><text x="{:.1}" y="{:.1}" font-size="10" fill="#333">{v:.2}</text>"##,
            left - 4.0,
            y + 11.0,
            esc(name),
            y + 2.0,
            row - 4.0,
            esc(name),
            left + bw + 4.0,
            y + 11.0
        );
    }
    out.push_str("</svg>");
    out
}
