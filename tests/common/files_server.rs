//! A loopback HTTP server that serves a fixed set of files (GET and HEAD; 404 otherwise) and
//! records the paths asked for: the stand-in for a downloads mirror and for a stemcell's URL.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub struct FilesServer {
    pub url: String,
    asked: Arc<Mutex<Vec<String>>>,
}

impl FilesServer {
    pub fn start(files: BTreeMap<String, Vec<u8>>) -> FilesServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let mut parts = request.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                log.lock().unwrap().push(format!("{method} {path}"));
                let body = files.get(path.trim_start_matches('/'));
                let head = match body {
                    Some(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = stream.write_all(head.as_bytes());
                if let (Some(body), "GET") = (body, method) {
                    let _ = stream.write_all(body);
                }
            }
        });
        FilesServer { url, asked }
    }

    /// Every request so far, as `METHOD /path`.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// The operator's stemcell the hand-off tests deploy with, a full (heavy) one of the line kubo
/// v0.44.0 runs on: its light stemcells are no longer published, and the hand-off refuses to start
/// without one (docs/compatibility.md).
pub const STEMCELL: &str = "bosh-stemcell-621.125-aws-xen-hvm-ubuntu-xenial-go_agent.tgz";
pub const STEMCELL_SHA1: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves the stemcell, so that the bastion's reachability check of its URL passes.
pub fn stemcell_server() -> FilesServer {
    FilesServer::start(BTreeMap::from([(
        STEMCELL.to_string(),
        b"stemcell".to_vec(),
    )]))
}

/// Config lines for the operator's stemcell at `server`, then `extra`.
pub fn with_stemcell(server: &FilesServer, extra: &str) -> String {
    format!(
        "cfcr_stemcell_url = \"{}/{STEMCELL}\"\ncfcr_stemcell_sha1 = \"{STEMCELL_SHA1}\"\n\
         cfcr_stemcell_os = \"ubuntu-xenial\"\ncfcr_stemcell_version = \"621.125\"\n{extra}",
        server.url
    )
}
