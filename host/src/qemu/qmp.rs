//! A small QMP client (QEMU's JSON control protocol on a unix socket), for
//! what snapshots need: stop, save the VM to a file, continue, and watch a
//! restore complete. Every wait has a deadline, and every reply is read as
//! untrusted input (bounded lines); events QEMU sends between replies are
//! skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Longest QMP line read.
const MAX_LINE: u64 = 1 << 20;
/// Longest wait for one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("QMP socket {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("QMP: {0}")]
    Io(#[from] std::io::Error),
    #[error("QMP: QEMU closed the connection")]
    Closed,
    #[error("QMP: a reply that is not JSON: {0}")]
    Malformed(String),
    #[error("QMP {command}: {desc}")]
    Command { command: String, desc: String },
    #[error("QMP: no answer within {0:?}")]
    Timeout(Duration),
    #[error("QMP: migration {status}: {desc}")]
    Migration { status: String, desc: String },
}

/// A connected, capabilities-negotiated QMP session.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to `path` (QEMU creates it as it starts: retried until
    /// `deadline`), reads the greeting and enters command mode.
    pub fn connect(path: &Path, deadline: Instant) -> Result<Qmp, QmpError> {
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(QmpError::Connect {
                        path: path.display().to_string(),
                        source: e,
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        // A reply comes at once; a QEMU that stops answering is stuck.
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        let greeting = qmp.read_value()?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Malformed(greeting.to_string()));
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn read_value(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        let n = (&mut self.reader)
            .take(MAX_LINE)
            .read_line(&mut line)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    QmpError::Timeout(REPLY_TIMEOUT)
                }
                _ => QmpError::Io(e),
            })?;
        if n == 0 {
            return Err(QmpError::Closed);
        }
        serde_json::from_str(&line).map_err(|_| QmpError::Malformed(line.trim().to_string()))
    }

    /// Runs `command`; its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut line = msg.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        loop {
            let v = self.read_value()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                return Err(QmpError::Command {
                    command: command.to_string(),
                    desc: e["desc"].as_str().unwrap_or("unknown error").to_string(),
                });
            }
            // An asynchronous event (STOP, RESUME, MIGRATION...): skip.
        }
    }

    /// `running`, `paused`, `inmigrate`, `postmigrate`...
    pub fn status(&mut self) -> Result<String, QmpError> {
        let r = self.execute("query-status", None)?;
        Ok(r["status"].as_str().unwrap_or("").to_string())
    }

    /// Waits until the VM's status is one of `wanted`.
    pub fn wait_status(&mut self, wanted: &[&str], deadline: Instant) -> Result<String, QmpError> {
        let start = Instant::now();
        loop {
            let s = self.status()?;
            if wanted.contains(&s.as_str()) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(QmpError::Timeout(start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the VM and writes its whole state to `uri` (e.g.
    /// `exec:cat > FILE`), waiting until the migration completed.
    pub fn save(&mut self, uri: &str, deadline: Instant) -> Result<(), QmpError> {
        self.execute("stop", None)?;
        self.execute("migrate", Some(json!({ "uri": uri })))?;
        let start = Instant::now();
        loop {
            let r = self.execute("query-migrate", None)?;
            let status = r["status"].as_str().unwrap_or("").to_string();
            match status.as_str() {
                "completed" => return Ok(()),
                "failed" | "cancelled" => {
                    return Err(QmpError::Migration {
                        status,
                        desc: r["error-desc"].as_str().unwrap_or("").to_string(),
                    })
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                let _ = self.execute("migrate_cancel", None);
                return Err(QmpError::Timeout(start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn cont(&mut self) -> Result<(), QmpError> {
        self.execute("cont", None).map(drop)
    }
}

/// The migration URI that writes the VM's state to `file` (and reads it
/// back with [`incoming_uri`]), quoted for the shell QEMU runs it with.
pub fn save_uri(file: &Path) -> String {
    format!("exec:cat > {}", quote(file))
}

/// The `-incoming` URI restoring from `file`.
pub fn incoming_uri(file: &Path) -> String {
    format!("exec:cat {}", quote(file))
}

fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    shlex::try_quote(&s).map_or(s.clone(), |q| q.into_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A fake QEMU answering QMP from a script of (expected command, reply) pairs.
    fn fake_qemu(
        path: &Path,
        script: Vec<(&'static str, Value)>,
    ) -> std::thread::JoinHandle<Vec<String>> {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            writeln!(w, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).unwrap();
            let mut seen = Vec::new();
            for (want, reply) in script {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let v: Value = serde_json::from_str(&line).unwrap();
                let cmd = v["execute"].as_str().unwrap().to_string();
                assert_eq!(cmd, want);
                seen.push(cmd);
                // An event first, as QEMU may send one at any time.
                writeln!(w, r#"{{"event": "STOP", "timestamp": {{}}}}"#).unwrap();
                writeln!(w, "{reply}").unwrap();
            }
            seen
        })
    }

    #[test]
    fn save_stops_migrates_and_waits_for_completion() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let server = fake_qemu(
            &sock,
            vec![
                ("qmp_capabilities", json!({"return": {}})),
                ("stop", json!({"return": {}})),
                ("migrate", json!({"return": {}})),
                ("query-migrate", json!({"return": {"status": "active"}})),
                ("query-migrate", json!({"return": {"status": "completed"}})),
                ("cont", json!({"return": {}})),
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut q = Qmp::connect(&sock, deadline).unwrap();
        q.save(&save_uri(Path::new("/c/state")), deadline).unwrap();
        q.cont().unwrap();
        assert_eq!(server.join().unwrap().len(), 6);
    }

    #[test]
    fn a_failed_migration_and_a_command_error_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let _server = fake_qemu(
            &sock,
            vec![
                ("qmp_capabilities", json!({"return": {}})),
                ("stop", json!({"return": {}})),
                ("migrate", json!({"return": {}})),
                (
                    "query-migrate",
                    json!({"return": {"status": "failed", "error-desc": "disk full"}}),
                ),
                (
                    "cont",
                    json!({"error": {"class": "GenericError", "desc": "nope"}}),
                ),
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut q = Qmp::connect(&sock, deadline).unwrap();
        let e = q.save("exec:cat > /x", deadline).unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        let e = q.cont().unwrap_err();
        assert!(e.to_string().contains("cont: nope"), "{e}");
    }

    #[test]
    fn no_socket_by_the_deadline_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Qmp::connect(
            &dir.path().join("none"),
            Instant::now() + Duration::from_millis(50),
        )
        .unwrap_err();
        assert!(matches!(e, QmpError::Connect { .. }), "{e}");
    }

    #[test]
    fn uris_quote_paths() {
        assert_eq!(save_uri(Path::new("/a b/state")), "exec:cat > '/a b/state'");
        assert_eq!(incoming_uri(Path::new("/c/state")), "exec:cat /c/state");
    }
}
