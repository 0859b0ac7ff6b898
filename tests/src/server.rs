//! A test installation: a temporary directory with `plugins.toml` and a SQLite database, the
//! `switchboard` CLI run against it, and the server started from it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::db::Db;
use crate::manifest::{PluginConfig, manifest};
use crate::{repo_root, switchboard_bin};

/// A temporary installation.
pub struct Setup {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Setup {
    /// An installation with these plugins.
    pub fn new(plugins: &[PluginConfig]) -> Self {
        let setup = Setup {
            dir: tempfile::tempdir().expect("temporary directory"),
            env: Vec::new(),
        };
        setup.write_plugins(plugins);
        setup
    }

    /// Replaces `plugins.toml` (as an operator editing it would).
    pub fn write_plugins(&self, plugins: &[PluginConfig]) {
        self.write_manifest_text(&manifest(plugins));
    }

    /// Writes `plugins.toml` verbatim.
    pub fn write_manifest_text(&self, text: &str) {
        std::fs::write(self.manifest_path(), text).expect("write plugins.toml");
    }

    /// Sets an environment variable for every command and server of this installation.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.path().join("plugins.toml")
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("switchboard.db")
    }

    /// `switchboard <args…>` with this installation's database, manifest and shared plugin cache.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(switchboard_bin());
        command
            .args(args)
            .arg("--database")
            .arg(self.database_path())
            .arg("--plugins")
            .arg(self.manifest_path())
            .arg("--cache-dir")
            .arg(repo_root().join("target/e2e-plugin-cache"))
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    /// Runs a CLI command to completion.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let output = self.command(args).output().expect("run switchboard");
        CliOutput::from(output)
    }

    /// Starts `switchboard serve` on a free port and waits until it listens.
    pub fn start(&self) -> Server {
        let log_path = self
            .dir
            .path()
            .join(format!("server-{}.log", crate::now_ms()));
        let log = std::fs::File::create(&log_path).expect("create the server log");
        let mut child = self
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start switchboard serve");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("switchboard listening on ") {
                    let _ = sender.send(url.trim().to_string());
                }
            }
        });
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Server {
                child,
                base,
                log: log_path,
            },
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("switchboard did not start listening; its log:\n{log}");
            }
        }
    }

    /// Runs `switchboard serve` expecting it to refuse to start: it must exit by itself within a
    /// minute (a server that starts instead is killed, and the test fails).
    pub fn serve_refused(&self) -> CliOutput {
        let mut child = self
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchboard serve");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("wait for the server").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("collect its output");
                panic!(
                    "the server started instead of refusing to; its log:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        CliOutput::from(child.wait_with_output().expect("collect its output"))
    }

    /// The database, for reading what landed.
    pub async fn db(&self) -> Db {
        Db::open(&self.database_path()).await
    }
}

/// A finished CLI command.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for CliOutput {
    fn from(output: Output) -> Self {
        CliOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl CliOutput {
    /// Stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A running server; stopped when dropped (its log is printed if the test is failing).
pub struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's process id (to read its CPU time, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asks the server to stop (SIGTERM, as a service manager does) and waits, without
    /// blocking the test's runtime (its stand-in vendors must keep answering), until it has.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not stop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- switchboard server log ---\n{}", self.log());
        }
    }
}

/// An HTTP client for tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts a JSON error answer: its status, `error.code`, and a part of `error.message`.
    pub fn assert_refused(&self, status: u16, code: &str, message_part: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.error_code(), code, "{}", self.text());
        assert!(
            self.error_message().contains(message_part),
            "{:?} is not in {}",
            message_part,
            self.text()
        );
    }

    /// `error.message` of a JSON error body.
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// POSTs `body` with `headers` and reads the whole reply.
pub async fn post(url: &str, headers: &[(String, String)], body: impl Into<Vec<u8>>) -> Reply {
    request("POST", url, headers, body).await
}

/// Sends `method url` with `headers` and `body`, and reads the whole reply.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: impl Into<Vec<u8>>,
) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
    let mut request = client().request(method, url).body(body.into());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("send request");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("read reply").to_vec(),
    }
}
