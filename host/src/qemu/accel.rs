//! Choosing between KVM and TCG.
//!
//! `/dev/kvm` answering is not enough: on some hosts (a paravirtual
//! `kvm_pvm` module, see NOTES) it opens and reports an API version, yet a
//! stock kernel cannot boot on it. So `auto` picks KVM only when the device
//! works *and* a hardware KVM module (`kvm_intel` / `kvm_amd`) is loaded,
//! and says why it chose what it chose.

use std::fs::OpenOptions;
use std::path::Path;

use serde::{Deserialize, Serialize};
use vmm_sys_util::{ioctl_io_nr, ioctl_ioc_nr};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelRequest {
    Auto,
    Kvm,
    Tcg,
}

/// What will be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    #[error("--accel kvm: KVM cannot be used here: {0}; use --accel tcg (or auto)")]
    KvmUnusable(String),
}

impl crate::exit::ExitClass for AccelError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Environment
    }
}

/// The decision and its reason, shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccelChoice {
    pub accel: Accel,
    pub reason: String,
}

/// What the host offers, gathered once so the decision is a pure function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvmProbe {
    /// `Err(why)` when `/dev/kvm` is missing, unopenable or not API 12.
    pub device: Result<(), String>,
    /// Loaded KVM modules (`kvm_intel`, `kvm_amd`, `kvm_pvm`, ...).
    pub modules: Vec<String>,
}

/// KVM_GET_API_VERSION = _IO(KVMIO=0xAE, 0x00); the stable API is 12.
const KVM_API_VERSION: i32 = 12;
ioctl_io_nr!(KVM_GET_API_VERSION, 0xAE, 0x00);

impl KvmProbe {
    /// Looks at `/dev/kvm` and `/sys/module` on this host.
    pub fn host() -> KvmProbe {
        let device = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map_err(|e| format!("/dev/kvm: {e}"))
            .and_then(|f| {
                // SAFETY: KVM_GET_API_VERSION takes no argument and only
                // returns an integer; the fd is valid for the call.
                let v = unsafe { vmm_sys_util::ioctl::ioctl(&f, KVM_GET_API_VERSION()) };
                if v == KVM_API_VERSION {
                    Ok(())
                } else {
                    Err(format!(
                        "/dev/kvm reports API version {v}, expected {KVM_API_VERSION}"
                    ))
                }
            });
        let modules = ["kvm_intel", "kvm_amd", "kvm_pvm", "kvm"]
            .iter()
            .filter(|m| Path::new("/sys/module").join(m).exists())
            .map(|m| m.to_string())
            .collect();
        KvmProbe { device, modules }
    }
}

/// Decides the accelerator from the request and what the host offers.
pub fn choose(req: AccelRequest, probe: &KvmProbe) -> Result<AccelChoice, AccelError> {
    let hardware = probe
        .modules
        .iter()
        .find(|m| *m == "kvm_intel" || *m == "kvm_amd");
    let kvm_ok = match (&probe.device, hardware) {
        (Err(why), _) => Err(why.clone()),
        (Ok(()), Some(m)) => Ok(m.clone()),
        (Ok(()), None) => Err(format!(
            "/dev/kvm works but no hardware KVM module is loaded (found: {}); a stock kernel does not boot on it",
            if probe.modules.is_empty() { "none".to_string() } else { probe.modules.join(", ") }
        )),
    };
    match (req, kvm_ok) {
        (AccelRequest::Tcg, _) => Ok(AccelChoice {
            accel: Accel::Tcg,
            reason: "requested with --accel tcg".into(),
        }),
        (AccelRequest::Kvm | AccelRequest::Auto, Ok(module)) => Ok(AccelChoice {
            accel: Accel::Kvm,
            reason: format!("/dev/kvm usable ({module})"),
        }),
        (AccelRequest::Kvm, Err(why)) => Err(AccelError::KvmUnusable(why)),
        (AccelRequest::Auto, Err(why)) => Ok(AccelChoice {
            accel: Accel::Tcg,
            reason: format!("software emulation: {why}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(device: Result<(), &str>, modules: &[&str]) -> KvmProbe {
        KvmProbe {
            device: device.map_err(|s| s.to_string()),
            modules: modules.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn decision_table() {
        use AccelRequest::*;
        let cases: &[(AccelRequest, KvmProbe, Option<Accel>)] = &[
            (Auto, probe(Ok(()), &["kvm", "kvm_intel"]), Some(Accel::Kvm)),
            (Auto, probe(Ok(()), &["kvm", "kvm_amd"]), Some(Accel::Kvm)),
            (Auto, probe(Ok(()), &["kvm", "kvm_pvm"]), Some(Accel::Tcg)),
            (
                Auto,
                probe(Err("/dev/kvm: No such file"), &[]),
                Some(Accel::Tcg),
            ),
            (Tcg, probe(Ok(()), &["kvm_intel"]), Some(Accel::Tcg)),
            (Kvm, probe(Ok(()), &["kvm_intel"]), Some(Accel::Kvm)),
            (Kvm, probe(Ok(()), &["kvm_pvm"]), None),
            (Kvm, probe(Err("nope"), &[]), None),
        ];
        for (req, p, want) in cases {
            let got = choose(*req, p).ok().map(|c| c.accel);
            assert_eq!(got, *want, "{req:?} {p:?}");
        }
        let c = choose(Auto, &probe(Ok(()), &["kvm_pvm"])).unwrap();
        assert!(c.reason.contains("kvm_pvm"), "{}", c.reason);
    }

    #[test]
    fn host_probe_does_not_panic() {
        let _ = KvmProbe::host();
    }
}
