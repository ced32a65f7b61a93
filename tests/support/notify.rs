//! Real servers for the notification tests (tests/support/notify_servers.py, run with the
//! system's python3, where `.ci/run` installs aiosmtpd): an HTTP(S) server and an SMTP
//! server with STARTTLS and AUTH, each recording what arrived as JSON files, and a CA with
//! a server certificate for 127.0.0.1 made with the openssl CLI. Include it with
//! `#[path = "support/notify.rs"] mod notify;`.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A CA and a server certificate it signed, for `127.0.0.1` and `localhost`.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the CA and the server certificate in `dir`.
pub fn certs(dir: &Path) -> Certs {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=patchgap test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// A server of notify_servers.py, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    /// Where it records what arrived.
    pub dir: PathBuf,
}

impl Server {
    /// Starts `notify_servers.py KIND DIR ARGS...` and waits for its port line.
    pub fn start(kind: &str, dir: &Path, args: &[&str]) -> Server {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/notify_servers.py");
        std::fs::create_dir_all(dir).expect("server dir");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(kind)
            .arg(dir)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "the {kind} server did not start (is python3-aiosmtpd installed? .ci/run \
                 installs it): {line:?}"
            )
        });
        Server {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// Every record `STEM-N.json` that arrived, in order.
    pub fn records(&self, stem: &str) -> Vec<serde_json::Value> {
        let mut found: Vec<(u32, serde_json::Value)> = std::fs::read_dir(&self.dir)
            .expect("read the server dir")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let n = name
                    .strip_prefix(&format!("{stem}-"))?
                    .strip_suffix(".json")?;
                let text = std::fs::read(self.dir.join(&name)).ok()?;
                Some((n.parse().ok()?, serde_json::from_slice(&text).ok()?))
            })
            .collect();
        found.sort_by_key(|(n, _)| *n);
        found.into_iter().map(|(_, v)| v).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
