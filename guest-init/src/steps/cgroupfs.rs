//! The cgroup v2 files scenario ops write: `cpuset.cpus`, `cgroup.procs`,
//! `cgroup.freeze`, `cgroup.subtree_control`. Each call names the file and
//! the kernel's error, so a refused op reads clearly in the results.

use std::path::{Path, PathBuf};

use ktstr_wire::topology::{format_cpu_list, parse_cpu_list};

/// Controllers a parent delegates to its children.
const CONTROLLERS: &str = "+cpuset +cpu";

/// The run's cgroup root (`/sys/fs/cgroup/ktstr` in the guest).
#[derive(Debug, Clone)]
pub struct CgroupFs {
    root: PathBuf,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

impl CgroupFs {
    pub fn new(root: &Path) -> CgroupFs {
        CgroupFs {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates `name` (and missing parents), delegating the controllers
    /// down the path so a nested cgroup has `cpuset.cpus` too.
    pub fn create(&self, name: &str) -> Result<(), String> {
        let mut dir = self.root.clone();
        for part in Path::new(name).components() {
            dir.push(part);
            if !dir.exists() {
                std::fs::create_dir(&dir).map_err(|e| io_err("create", &dir, e))?;
            }
            if dir != self.dir(name) {
                let ctl = dir.join("cgroup.subtree_control");
                std::fs::write(&ctl, CONTROLLERS).map_err(|e| io_err("write", &ctl, e))?;
            }
        }
        Ok(())
    }

    /// Writes `cpuset.cpus`; an empty list clears it (inherit the parent).
    pub fn set_cpus(&self, name: &str, cpus: &[u32]) -> Result<(), String> {
        let f = self.dir(name).join("cpuset.cpus");
        std::fs::write(&f, format_cpu_list(cpus)).map_err(|e| io_err("write", &f, e))
    }

    /// `cpuset.cpus` as written (empty = inherited).
    pub fn cpus(&self, name: &str) -> Vec<u32> {
        read_list(&self.dir(name).join("cpuset.cpus"))
    }

    /// `cpuset.cpus.effective`: what the kernel really lets the tasks use.
    pub fn effective_cpus(&self, name: &str) -> Vec<u32> {
        read_list(&self.dir(name).join("cpuset.cpus.effective"))
    }

    /// Pids in `cgroup.procs`.
    pub fn procs(&self, name: &str) -> Vec<i32> {
        read_ids(&self.dir(name).join("cgroup.procs"))
    }

    /// Thread ids in `cgroup.threads`.
    pub fn threads(&self, name: &str) -> Vec<i32> {
        read_ids(&self.dir(name).join("cgroup.threads"))
    }

    /// Moves every process of `from` into `to`, one pid at a time (the
    /// kernel takes one per write).
    pub fn move_all(&self, from: &str, to: &str) -> Result<usize, String> {
        let dest = self.dir(to).join("cgroup.procs");
        let pids = self.procs(from);
        for pid in &pids {
            if let Err(e) = std::fs::write(&dest, pid.to_string()) {
                // A worker that exited meanwhile is not an error.
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(io_err(&format!("move pid {pid} to"), &dest, e));
                }
            }
        }
        Ok(pids.len())
    }

    /// `cgroup.freeze` = 1 or 0.
    pub fn freeze(&self, name: &str, frozen: bool) -> Result<(), String> {
        let f = self.dir(name).join("cgroup.freeze");
        std::fs::write(&f, if frozen { "1" } else { "0" }).map_err(|e| io_err("write", &f, e))
    }

    /// Removes `name` and every cgroup under it, deepest first, waiting
    /// briefly for killed tasks to leave.
    pub fn remove_tree(&self, name: &str) {
        let d = self.dir(name);
        let mut subdirs: Vec<PathBuf> = Vec::new();
        collect_dirs(&d, &mut subdirs);
        subdirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for dir in subdirs.iter().chain(std::iter::once(&d)) {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(e.path());
            collect_dirs(&e.path(), out);
        }
    }
}

fn read_list(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| parse_cpu_list(&t).ok())
        .unwrap_or_default()
}

fn read_ids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
