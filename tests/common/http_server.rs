//! A small HTTP/1.1 file server on 127.0.0.1 for the download tests: it
//! serves a directory (with an autoindex-style listing for directories),
//! records every request path, and can misbehave per file: cut the body
//! short, corrupt a byte, dribble it slowly, or stall half-way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How one file is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As it is.
    Normal,
    /// The full Content-Length is announced, half the bytes are sent.
    Truncate,
    /// One byte in the middle is flipped.
    Corrupt,
    /// Sent in 1 MiB pieces with a pause after each (a slow link).
    Slow(Duration),
    /// Half is sent, then nothing until the server stops.
    Stall,
}

#[derive(Debug, Default)]
struct State {
    hits: Vec<String>,
    modes: HashMap<String, Mode>,
    /// Bytes sent of each path, summed over requests.
    sent: HashMap<String, u64>,
}

/// A running server; stops when dropped.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Serves `root` on a free port of 127.0.0.1.
    pub fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, root) = (state.clone(), stop.clone(), root.to_path_buf());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (st, sp, root) = (st.clone(), sp.clone(), root.clone());
                thread::spawn(move || {
                    let _ = handle(conn, &root, &st, &sp);
                });
            }
        });
        Server { addr, state, stop }
    }

    /// The base URL: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, path: &str, mode: Mode) {
        self.state
            .lock()
            .unwrap()
            .modes
            .insert(path.to_string(), mode);
    }

    /// How many requests asked for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|h| *h == path)
            .count()
    }

    /// Bytes sent for `path` so far.
    pub fn sent(&self, path: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .sent
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub fn dead_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn handle(
    mut conn: TcpStream,
    root: &Path,
    state: &Mutex<State>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mode = {
        let mut s = state.lock().unwrap();
        s.hits.push(path.clone());
        s.modes.get(&path).copied().unwrap_or(Mode::Normal)
    };
    let file = root.join(path.trim_start_matches('/'));
    let body = if path.ends_with('/') && file.is_dir() {
        Some(listing(&file))
    } else {
        std::fs::read(&file).ok().filter(|_| file.is_file())
    };
    let Some(mut body) = body else {
        let msg = b"not found";
        write!(
            conn,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            msg.len()
        )?;
        return conn.write_all(msg);
    };
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    let half = body.len() / 2;
    let count = |n: usize| {
        *state.lock().unwrap().sent.entry(path.clone()).or_default() += n as u64;
    };
    match mode {
        Mode::Normal => {
            conn.write_all(&body)?;
            count(body.len());
        }
        Mode::Corrupt => {
            body[half] ^= 0xff;
            conn.write_all(&body)?;
            count(body.len());
        }
        Mode::Truncate => {
            conn.write_all(&body[..half])?;
            count(half);
        }
        Mode::Slow(pause) => {
            for piece in body.chunks(1 << 20) {
                conn.write_all(piece)?;
                count(piece.len());
                thread::sleep(pause);
            }
        }
        Mode::Stall => {
            conn.write_all(&body[..half])?;
            conn.flush()?;
            count(half);
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    conn.flush()
}

/// An nginx-autoindex-like page linking every entry of `dir`.
fn listing(dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut html =
        String::from("<html><head><title>Index</title></head><body><pre><a href=\"../\">../</a>\n");
    for n in names {
        html.push_str(&format!(
            "<a href=\"{n}\">{n}</a>    01-Jan-2025 00:00    -\n"
        ));
    }
    html.push_str("</pre></body></html>\n");
    html.into_bytes()
}
