//! QEMU's command line from pure functions, one per concern, so each is
//! tested without QEMU. [`build`] puts them together in a fixed order.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ktstr_wire::PORT_NAME;

use super::accel::Accel;

/// Everything that varies between runs.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    pub accel: Accel,
    /// `-m`, `-smp` and `-numa` arguments from the topology.
    pub topology: Vec<OsString>,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
    /// Where the serial console goes.
    pub console: Console,
    /// Unix socket the host listens on for the results port.
    pub results_socket: PathBuf,
    /// Unix socket for the trace port (`--trace`), if tracing.
    pub trace_socket: Option<PathBuf>,
    /// QMP control socket QEMU listens on (snapshots).
    pub qmp_socket: PathBuf,
    /// Restore the VM from this saved state instead of booting it.
    pub incoming: Option<PathBuf>,
}

fn os(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// No default devices, no user config, no display; a reboot ends QEMU so
/// a guest panic (`panic=-1`) or a reset cannot loop.
pub fn base_args() -> Vec<OsString> {
    os(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ])
}

/// Machine, accelerator and CPU model.
///
/// `pc` rather than `q35`: both boot in the same time under TCG (NOTES:
/// within noise over ~170 boots) and both give ACPI SRAT/SLIT and die-level
/// L3; `pc` needs no PCIe root setup. `microvm` boots faster but refuses
/// `dies=` (so no multi-LLC topology) and hung in 4 of ~107 boots.
///
/// TCG runs `thread=single`: with `thread=multi` 2 of 20 boots died in an
/// int3 race (NOTES), and single is faster on 2 host cores anyway.
/// `vendor=GenuineIntel` makes Linux trust die ids and skip the per-CPU
/// delay calibration that an AMD-looking `max` CPU costs under TCG.
pub fn machine_args(accel: Accel) -> Vec<OsString> {
    match accel {
        Accel::Tcg => os(&[
            "-M",
            "pc",
            "-accel",
            "tcg,thread=single",
            "-cpu",
            "max,vendor=GenuineIntel",
        ]),
        Accel::Kvm => os(&["-M", "pc", "-accel", "kvm", "-cpu", "host"]),
    }
}

/// `$KTSTR_VM_BIOS` replaces QEMU's firmware (e.g. Debian's
/// `/usr/share/qemu/qboot.rom`). Not the default: measured here it saved
/// nothing beyond the noise of a shared machine, and SeaBIOS is what the
/// topology checks were verified with.
pub fn firmware_args() -> Vec<OsString> {
    match std::env::var_os("KTSTR_VM_BIOS") {
        Some(path) if !path.is_empty() => vec!["-bios".into(), path],
        _ => vec![],
    }
}

pub fn kernel_args(kernel: &Path, initrd: &Path, cmdline: &str) -> Vec<OsString> {
    vec![
        "-kernel".into(),
        kernel.into(),
        "-initrd".into(),
        initrd.into(),
        "-append".into(),
        cmdline.into(),
    ]
}

/// Where the serial console goes: to the host (the evidence of an early
/// death, capped by the reader: see `run::console`), or to the terminal
/// for an interactive shell, with a copy in a log. `mux=on` gives QEMU's
/// escape keys there: Ctrl-A x ends a hung guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Console {
    /// A unix socket the host listens on and reads (capped) into the log.
    Socket(PathBuf),
    /// The terminal (an interactive shell), also copied to `logfile`.
    Stdio { logfile: PathBuf },
}

/// The `-chardev` and `-serial` arguments for `console`.
pub fn console_args(console: &Console) -> Vec<OsString> {
    let arg = match console {
        Console::Socket(path) => {
            let mut a = OsString::from("socket,id=con,path=");
            a.push(escape_commas(path));
            a
        }
        Console::Stdio { logfile } => {
            let mut a = OsString::from("stdio,id=con,signal=off,mux=on,logfile=");
            a.push(escape_commas(logfile));
            a
        }
    };
    vec![
        "-chardev".into(),
        arg,
        "-serial".into(),
        "chardev:con".into(),
    ]
}

/// The results port: a named `virtserialport` whose chardev connects to
/// the host's listening socket (QEMU is the client, so no connect race).
pub fn virtio_serial_args(socket: &Path) -> Vec<OsString> {
    let mut chardev = OsString::from("socket,id=results,path=");
    chardev.push(escape_commas(socket));
    vec![
        "-device".into(),
        "virtio-serial-pci,id=vser0".into(),
        "-chardev".into(),
        chardev,
        "-device".into(),
        format!("virtserialport,bus=vser0.0,chardev=results,name={PORT_NAME}").into(),
    ]
}

/// The trace port (`--trace`): raw ring-buffer pages from the guest on a
/// port of their own, so bulk binary data never delays the results. The
/// port is always there (a VM's devices must not depend on the run, or a
/// snapshot of it could not serve every run); without tracing its backend
/// is `null`.
pub fn trace_port_args(socket: Option<&Path>) -> Vec<OsString> {
    let chardev = match socket {
        Some(socket) => {
            let mut c = OsString::from("socket,id=trace,path=");
            c.push(escape_commas(socket));
            c
        }
        None => OsString::from("null,id=trace"),
    };
    vec![
        "-chardev".into(),
        chardev,
        "-device".into(),
        format!(
            "virtserialport,bus=vser0.0,chardev=trace,name={}",
            ktstr_wire::TRACE_PORT_NAME
        )
        .into(),
    ]
}

/// QEMU option values separate sub-options with commas; a literal comma
/// in a path is written twice.
fn escape_commas(path: &Path) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        out.push(b);
        if b == b',' {
            out.push(b',');
        }
    }
    OsString::from_vec(out)
}

/// The whole argument list.
/// The QMP control socket (saving a snapshot, watching a restore).
pub fn qmp_args(socket: &Path) -> Vec<OsString> {
    let mut arg = OsString::from("unix:");
    arg.push(escape_commas(socket));
    arg.push(",server=on,wait=off");
    vec!["-qmp".into(), arg]
}

/// `-incoming` to restore from a saved state file instead of booting.
pub fn incoming_args(state: Option<&Path>) -> Vec<OsString> {
    match state {
        Some(path) => vec!["-incoming".into(), super::qmp::incoming_uri(path).into()],
        None => Vec::new(),
    }
}

pub fn build(cfg: &QemuConfig) -> Vec<OsString> {
    [
        base_args(),
        firmware_args(),
        machine_args(cfg.accel),
        cfg.topology.clone(),
        kernel_args(&cfg.kernel, &cfg.initrd, &cfg.cmdline),
        console_args(&cfg.console),
        virtio_serial_args(&cfg.results_socket),
        trace_port_args(cfg.trace_socket.as_deref()),
        qmp_args(&cfg.qmp_socket),
        incoming_args(cfg.incoming.as_deref()),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn each_concern() {
        assert_eq!(strs(machine_args(Accel::Tcg))[3], "tcg,thread=single");
        assert_eq!(strs(machine_args(Accel::Kvm))[5], "host");
        assert_eq!(
            strs(console_args(&Console::Socket("/a,b/console.sock".into()))),
            [
                "-chardev",
                "socket,id=con,path=/a,,b/console.sock",
                "-serial",
                "chardev:con"
            ]
        );
        assert_eq!(
            strs(console_args(&Console::Stdio {
                logfile: "/c.log".into()
            }))[1],
            "stdio,id=con,signal=off,mux=on,logfile=/c.log"
        );
        let vs = strs(virtio_serial_args(Path::new("/t/r.sock")));
        assert_eq!(vs[3], "socket,id=results,path=/t/r.sock");
        assert!(vs[5].ends_with("name=org.ktstr-vm.results"));
        assert!(strs(base_args()).contains(&"-no-reboot".to_string()));
    }

    #[test]
    fn the_trace_port_is_always_there_with_a_null_backend_untraced() {
        let t = strs(trace_port_args(None));
        assert_eq!(t[1], "null,id=trace");
        assert_eq!(
            t[3],
            "virtserialport,bus=vser0.0,chardev=trace,name=org.ktstr-vm.trace"
        );
        let t = strs(trace_port_args(Some(Path::new("/t/trace.sock"))));
        assert_eq!(t[1], "socket,id=trace,path=/t/trace.sock");
        assert_eq!(
            t[3],
            "virtserialport,bus=vser0.0,chardev=trace,name=org.ktstr-vm.trace"
        );
    }

    #[test]
    fn build_keeps_cmdline_one_argument() {
        let cfg = QemuConfig {
            accel: Accel::Tcg,
            topology: vec!["-smp".into(), "2".into()],
            kernel: "/k/bzImage".into(),
            initrd: "/i.gz".into(),
            cmdline: "console=ttyS0 panic=-1".into(),
            console: Console::Socket("/c".into()),
            results_socket: "/s".into(),
            trace_socket: None,
            qmp_socket: "/q".into(),
            incoming: None,
        };
        let args = strs(build(&cfg));
        let i = args.iter().position(|a| a == "-append").unwrap();
        assert_eq!(args[i + 1], "console=ttyS0 panic=-1");
        assert!(args.windows(2).any(|w| w == ["-smp", "2"]));
        assert!(args
            .windows(2)
            .any(|w| w == ["-qmp", "unix:/q,server=on,wait=off"]));
        assert!(!args.contains(&"-incoming".to_string()));
    }

    /// Restoring differs from booting only by `-incoming` and the sockets
    /// (chardev backends are not part of the saved state): the machine,
    /// CPU model and devices must be the same, under both accelerators.
    #[test]
    fn a_restore_has_the_boots_machine_plus_incoming() {
        for accel in [Accel::Tcg, Accel::Kvm] {
            let boot = QemuConfig {
                accel,
                topology: vec!["-smp".into(), "4".into()],
                kernel: "/k".into(),
                initrd: "/i".into(),
                cmdline: "c".into(),
                console: Console::Socket("/run1/con".into()),
                results_socket: "/run1/res".into(),
                trace_socket: None,
                qmp_socket: "/run1/qmp".into(),
                incoming: None,
            };
            let restore = QemuConfig {
                console: Console::Socket("/run2/con".into()),
                results_socket: "/run2/res".into(),
                trace_socket: Some("/run2/trace".into()),
                qmp_socket: "/run2/qmp".into(),
                incoming: Some("/cache/snap/state".into()),
                ..boot.clone()
            };
            let (a, b) = (strs(build(&boot)), strs(build(&restore)));
            // Backends (chardevs, the QMP socket) may differ; the rest may not.
            let shape = |v: &[String]| -> Vec<String> {
                let mut out = Vec::new();
                let mut it = v.iter();
                while let Some(x) = it.next() {
                    if x == "-chardev" || x == "-qmp" {
                        it.next();
                    } else {
                        out.push(x.clone());
                    }
                }
                out
            };
            let mut b_shape = shape(&b);
            let i = b_shape.iter().position(|x| x == "-incoming").unwrap();
            assert_eq!(b_shape[i + 1], "exec:cat /cache/snap/state");
            b_shape.drain(i..i + 2);
            assert_eq!(shape(&a), b_shape, "{accel:?}");
            let machine = strs(machine_args(accel));
            assert!(a.windows(machine.len()).any(|w| w == machine.as_slice()));
        }
    }
}
