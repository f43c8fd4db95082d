//! What `kernel list` and `kernel clean` print: a table (or JSON) of the
//! cached kernels with their variant and VM snapshots, and the damaged
//! entries and leftovers flagged below it.

use std::time::{Duration, UNIX_EPOCH};

use super::clean::{Cleaned, Scan};
use super::key::SHORT_KEY_LEN;
use super::store::Entry;
use crate::snapshot::Snapshot;

/// `kernel list --json`: one object per entry (its meta plus paths,
/// its `snapshots` and `"damaged": null`), then one per damaged entry
/// (`dir` and `damaged`, the reason).
pub fn json(scan: &Scan) -> serde_json::Value {
    let good = scan.entries.iter().map(|e| {
        let mut v = serde_json::to_value(&e.meta).expect("Meta serializes");
        v["dir"] = e.dir.display().to_string().into();
        v["image"] = e.image().display().to_string().into();
        v["snapshots"] = of_kernel(&scan.snapshots, &e.meta.key)
            .map(|s| serde_json::to_value(&s.meta).expect("snapshot meta serializes"))
            .collect();
        v["damaged"] = serde_json::Value::Null;
        v
    });
    let bad = scan.damaged.iter().map(|d| {
        serde_json::json!({
            "key": d.dir.file_name().map(|n| n.to_string_lossy().into_owned()),
            "dir": d.dir.display().to_string(),
            "damaged": d.reason,
        })
    });
    serde_json::Value::Array(good.chain(bad).collect())
}

/// The `kernel list` table, then a line per damaged entry and a count of
/// leftovers, each saying that `kernel clean` removes them.
pub fn table(scan: &Scan) -> String {
    let mut out = entries_table(&scan.entries, &scan.snapshots);
    let others = scan
        .snapshots
        .iter()
        .filter(|s| {
            s.meta
                .kernel_key
                .as_ref()
                .is_none_or(|k| !scan.entries.iter().any(|e| &e.meta.key == k))
        })
        .count();
    if others > 0 {
        out.push_str(&format!(
            "{others} snapshot(s) of kernels from outside the cache\n"
        ));
    }
    if !scan.snapshots.is_empty() {
        let bytes: u64 = scan.snapshots.iter().map(|s| s.meta.bytes).sum();
        out.push_str(&format!(
            "snapshots: {} ({}); `kernel clean --snapshots` removes them all\n",
            scan.snapshots.len(),
            human_size(bytes)
        ));
    }
    for d in &scan.damaged {
        out.push_str(&format!("DAMAGED  {}: {}\n", d.dir.display(), d.reason));
    }
    if !scan.leftovers.is_empty() {
        out.push_str(&format!(
            "{} leftover(s) of interrupted builds or downloads\n",
            scan.leftovers.len()
        ));
    }
    if !scan.damaged.is_empty() || !scan.leftovers.is_empty() {
        out.push_str("`ktstr-vm kernel clean` removes them\n");
    }
    out
}

/// The snapshots of the kernel cached under `key`.
fn of_kernel<'a>(snapshots: &'a [Snapshot], key: &'a str) -> impl Iterator<Item = &'a Snapshot> {
    snapshots
        .iter()
        .filter(move |s| s.meta.kernel_key.as_deref() == Some(key))
}

/// "2: 2,8 vCPUs", or "-" without snapshots.
fn snapshot_cell(snapshots: &[Snapshot], key: &str) -> String {
    let mut vcpus: Vec<u32> = of_kernel(snapshots, key).map(|s| s.meta.vcpus).collect();
    if vcpus.is_empty() {
        return "-".into();
    }
    let n = vcpus.len();
    vcpus.sort_unstable();
    vcpus.dedup();
    let list: Vec<String> = vcpus.iter().map(u32::to_string).collect();
    format!("{n} ({} vCPUs)", list.join(","))
}

fn entries_table(entries: &[Entry], snapshots: &[Snapshot]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let header = [
        "KEY",
        "VERSION",
        "VARIANT",
        "CONFIG",
        "SCHEDULERS",
        "SIZE",
        "BUILT",
        "SNAPSHOTS",
    ];
    let mut rows = vec![header.map(String::from)];
    for e in entries {
        let m = &e.meta;
        let built = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(m.built_at));
        let scheds: Vec<&str> = m
            .schedulers
            .iter()
            .map(|s| s.strip_prefix("scx_").unwrap_or(s))
            .collect();
        rows.push([
            m.key.chars().take(SHORT_KEY_LEN).collect(),
            m.version.clone(),
            m.variant.clone(),
            m.config_sha256.chars().take(8).collect(),
            scheds.join(","),
            human_size(m.image_size),
            built.to_string(),
            snapshot_cell(snapshots, &m.key),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// One line per removed thing, then a total.
pub fn cleaned(c: &Cleaned) -> String {
    let mut out = String::new();
    for d in &c.damaged {
        out.push_str(&format!(
            "removed damaged {} ({})\n",
            d.dir.display(),
            d.reason
        ));
    }
    for p in &c.leftovers {
        out.push_str(&format!("removed leftover {}\n", p.display()));
    }
    for e in &c.old {
        out.push_str(&format!(
            "removed old {} ({} {})\n",
            e.dir.display(),
            e.meta.version,
            e.meta.variant
        ));
    }
    out.push_str(&format!(
        "kernel clean: {} damaged, {} leftover(s), {} old entr{}, {} snapshot(s) removed\n",
        c.damaged.len(),
        c.leftovers.len(),
        c.old.len(),
        if c.old.len() == 1 { "y" } else { "ies" },
        c.snapshots
    ));
    out
}

pub fn human_size(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_dir::CacheDir;
    use crate::kernel::clean::{scan, Damaged};
    use crate::kernel::store::Store;
    use crate::kernel::test_support::fake_entry;

    #[test]
    fn table_shows_short_keys_variant_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let cache = CacheDir::at(d.path());
        let store = Store::new(&cache);
        let key = "0123456789abcdef0123";
        fake_entry(&store, key, 0);
        let mut s = scan(&cache).unwrap();
        s.damaged.push(Damaged {
            dir: store.root().join("bad"),
            reason: "bzImage is missing".into(),
        });
        let text = table(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("KEY") && lines[0].contains("VARIANT"),
            "{text}"
        );
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "0123456789ab",
                "6.12.0-test",
                "default",
                "c0ffee",
                "simple",
                "0.0",
                "MB",
                "1970-01-01T00:00:00Z",
                "-"
            ]
        );
        assert!(
            lines[2].starts_with("DAMAGED") && lines[2].contains("bzImage is missing"),
            "{text}"
        );
        assert!(text.contains("kernel clean` removes them"), "{text}");
        let json = json(&s);
        assert_eq!(json[0]["key"], key);
        assert_eq!(json[0]["variant"], "default");
        assert!(json[0]["damaged"].is_null());
        assert_eq!(
            json[0]["image"],
            store.root().join(key).join("bzImage").display().to_string()
        );
        assert_eq!(json[1]["key"], "bad");
        assert_eq!(json[1]["damaged"], "bzImage is missing");
    }
}
