//! The guest kernel command line, built from parameters that each carry a
//! reason. Keys are checked so a typo or a space cannot slip in unnoticed.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CmdlineError {
    #[error("kernel parameter key {0:?} is empty or has spaces, '=' or quotes")]
    BadKey(String),
    #[error("kernel parameter {key}: value {value:?} has spaces or quotes")]
    BadValue { key: String, value: String },
    #[error("kernel command line longer than {limit} bytes")]
    TooLong { limit: usize },
}

impl crate::exit::ExitClass for CmdlineError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Usage
    }
}

/// x86's COMMAND_LINE_SIZE.
const MAX_LEN: usize = 2048;

/// An ordered list of `key[=value]` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmdline {
    params: Vec<(String, Option<String>)>,
}

impl Cmdline {
    /// The parameters every ktstr-vm guest gets, each with its reason.
    pub fn defaults() -> Cmdline {
        let mut c = Cmdline::default();
        let fixed: &[(&str, Option<&str>)] = &[
            // The console log is the evidence when the guest dies early.
            ("console", Some("ttyS0")),
            // Warnings and worse (with backtraces) on the console, not the
            // info-level boot chatter that costs time under emulation.
            ("loglevel", Some("5")),
            // A panic reboots at once; QEMU's -no-reboot turns that into exit.
            ("panic", Some("-1")),
            // Our init is the initramfs's /init.
            ("rdinit", Some("/init")),
            // Skip the PIT check that costs time and fails spuriously under TCG.
            ("no_timer_check", None),
            // One UART is all we use; probing more costs boot time.
            ("8250.nr_uarts", Some("1")),
            // No PS/2 ports: under TCG the mouse probe runs about 0.5 s
            // after boot, and power-off waits for it (measured: `exec --
            // true` 1.58 -> 1.28 s at 2 vCPUs). The console is the UART.
            ("i8042.noaux", None),
            ("i8042.nokbd", None),
            // PCI interrupts without ACPI: enabling the virtio-serial's ACPI
            // interrupt link (LNKB) took 120-360 ms of AML under TCG; its
            // MSI-X vectors need no routing (guest reached /init at 858 ->
            // 740 ms, median of 8). NUMA and caches still come from ACPI.
            ("pci", Some("noacpi")),
        ];
        for (k, v) in fixed {
            c.push(k, *v).expect("default kernel parameters are valid");
        }
        c
    }

    /// Appends `key` or `key=value`. A later key does not replace an earlier
    /// one (the kernel takes the last), so user parameters go last.
    pub fn push(&mut self, key: &str, value: Option<&str>) -> Result<&mut Self, CmdlineError> {
        let bad = |s: &str| {
            s.chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\'')
        };
        if key.is_empty() || bad(key) || key.contains('=') {
            return Err(CmdlineError::BadKey(key.to_string()));
        }
        if let Some(v) = value {
            if bad(v) {
                return Err(CmdlineError::BadValue {
                    key: key.to_string(),
                    value: v.to_string(),
                });
            }
        }
        self.params
            .push((key.to_string(), value.map(str::to_string)));
        Ok(self)
    }

    /// Parses and appends user-supplied `a=b c` text.
    pub fn extend_from_str(&mut self, text: &str) -> Result<&mut Self, CmdlineError> {
        for word in text.split_whitespace() {
            match word.split_once('=') {
                Some((k, v)) => self.push(k, Some(v))?,
                None => self.push(word, None)?,
            };
        }
        Ok(self)
    }

    /// The final string, checked against the kernel's length limit.
    pub fn render(&self) -> Result<String, CmdlineError> {
        let s = self
            .params
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        if s.len() >= MAX_LEN {
            return Err(CmdlineError::TooLong { limit: MAX_LEN });
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_render_and_user_params_go_last() {
        let mut c = Cmdline::defaults();
        c.extend_from_str("  loglevel=7 nokaslr ").unwrap();
        let s = c.render().unwrap();
        assert!(s.starts_with("console=ttyS0 "), "{s}");
        assert!(s.contains("panic=-1"));
        assert!(s.ends_with("loglevel=7 nokaslr"), "{s}");
    }

    #[test]
    fn rejects_bad_keys_values_and_length() {
        let mut c = Cmdline::default();
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("ok", Some("1"), true),
            ("", None, false),
            ("a b", None, false),
            ("a=b", None, false),
            ("k", Some("x y"), false),
            ("k", Some("\"q\""), false),
        ];
        for (k, v, ok) in cases {
            assert_eq!(c.push(k, *v).is_ok(), *ok, "{k:?}={v:?}");
        }
        let mut long = Cmdline::default();
        long.push("x", Some(&"y".repeat(3000))).unwrap();
        assert_eq!(long.render(), Err(CmdlineError::TooLong { limit: MAX_LEN }));
    }
}
