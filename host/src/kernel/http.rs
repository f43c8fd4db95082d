//! HTTP(S) GETs for kernel downloads, with deadlines on every wait: a
//! connect that does not complete in [`CONNECT_TIMEOUT`] or a read that
//! stalls for [`READ_TIMEOUT`] is an error naming the URL, while a slow but
//! moving 150 MB download is never cut off.

use std::io::Read;
use std::time::Duration;

/// How long a TCP (and TLS) connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one read may wait for bytes.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Cap on a text file (listing, releases.json, sha256sums.asc).
const TEXT_LIMIT: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach {url}: {detail} (check the network, or pass --mirror URL / set KTSTR_VM_KERNEL_MIRROR)")]
    Unreachable { url: String, detail: String },
    #[error("{url} answered HTTP {code} {text}")]
    Status {
        url: String,
        code: u16,
        text: String,
    },
    #[error("reading {url} failed: {detail}")]
    Read { url: String, detail: String },
}

impl crate::exit::ExitClass for HttpError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Environment
    }
}

/// A response body and its announced length.
pub struct Body {
    pub reader: Box<dyn Read + Send>,
    pub length: Option<u64>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("length", &self.length)
            .finish()
    }
}

/// One client for a whole download (connections are reused).
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Http {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(READ_TIMEOUT)
            .user_agent(concat!("ktstr-vm/", env!("CARGO_PKG_VERSION")))
            .build();
        Http { agent }
    }

    /// GET `url`: `Ok(None)` for 404 and 410, the body for 2xx, an error
    /// for anything else.
    pub fn get(&self, url: &str) -> Result<Option<Body>, HttpError> {
        match self.agent.get(url).call() {
            Ok(resp) => {
                let length = resp
                    .header("Content-Length")
                    .and_then(|v| v.trim().parse().ok());
                Ok(Some(Body {
                    reader: Box::new(resp.into_reader()),
                    length,
                }))
            }
            Err(ureq::Error::Status(404 | 410, _)) => Ok(None),
            Err(ureq::Error::Status(code, resp)) => Err(HttpError::Status {
                url: url.to_string(),
                code,
                text: resp.status_text().to_string(),
            }),
            Err(ureq::Error::Transport(t)) => Err(HttpError::Unreachable {
                url: url.to_string(),
                detail: transport_detail(&t),
            }),
        }
    }

    /// GET a small text file; `Ok(None)` when it does not exist.
    pub fn get_text(&self, url: &str) -> Result<Option<String>, HttpError> {
        let Some(body) = self.get(url)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        body.reader
            .take(TEXT_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(|e| HttpError::Read {
                url: url.to_string(),
                detail: e.to_string(),
            })?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// ureq's transport error without its URL (the caller names it once).
fn transport_detail(t: &ureq::Transport) -> String {
    let mut detail = t.kind().to_string();
    if let Some(m) = t.message() {
        detail.push_str(": ");
        detail.push_str(m);
    }
    if let Some(src) = std::error::Error::source(t) {
        detail.push_str(&format!(" ({src})"));
    }
    detail
}
