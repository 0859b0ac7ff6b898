//! `cargo xtask`: the project's two everyday commands, and the steps behind them.
//!
//! - `cargo xtask serve [SERVE ARGS]`: installs the wasm target if missing, builds the plugins and
//!   the host (release), and runs `switchboard serve` on SQLite with the repo's `plugins.toml`.
//! - `cargo xtask test`: builds everything, starts the vendor contract mocks (Stoplight Prism from
//!   npm, installed on first use), builds the Python plugin and installs Schemathesis (both from
//!   PyPI, into virtualenvs), and runs
//!   every test: the plugins' unit tests, the host's, and the end-to-end tests that drive the real
//!   binary.
//! - `cargo xtask plugins`: only builds the plugins.
//! - `cargo xtask bench`: release build, then the benchmarks recorded in BENCHMARKS.md.
//!
//! Deliberately free of dependencies: it only runs cargo, rustup, npm, python3 and the mocks.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("plugins") => build_plugins(),
        Some("bench") => bench(&args[1..]),
        _ => Err("usage: cargo xtask <serve|test|plugins|bench> [args]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root. `cargo run` sets `CARGO_MANIFEST_DIR` for the binary it starts, so the
/// checkout that ran `cargo xtask` wins over the one that compiled it: with a shared target
/// directory the binary may have been built in another clone.
fn root() -> PathBuf {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&manifest_dir)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

fn run(command: &mut Command) -> Result {
    eprintln!("xtask: running {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

/// Installs the wasm32-wasip2 target if this toolchain lacks it.
fn ensure_wasm_target() -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|t| t.trim() == "wasm32-wasip2")
    {
        return Ok(());
    }
    run(Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .current_dir(root()))
}

/// Builds every guest plugin for wasm32-wasip2 (release: small and fast).
fn build_plugins() -> Result {
    ensure_wasm_target()?;
    let mut command = cargo();
    command
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(root().join("plugins/Cargo.toml"))
        // The guests have their own workspace and target directory; flags meant for the host
        // must not leak into them.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run(&mut command)
}

fn serve(args: &[String]) -> Result {
    build_plugins()?;
    run(cargo()
        .args([
            "run",
            "--release",
            "--package",
            "switchboard",
            "--",
            "serve",
        ])
        .args(args))
}

fn test(extra: &[String]) -> Result {
    build_plugins()?;
    // The plugins' own unit tests run natively: their logic is plain Rust.
    run(cargo()
        .args(["test", "--manifest-path"])
        .arg(root().join("plugins/Cargo.toml"))
        .env_remove("CARGO_TARGET_DIR"))?;
    run(cargo().args(["build", "--package", "switchboard"]))?;
    build_python_plugin()?;
    let tools = install_test_tools()?;
    let mocks = VendorMocks::start()?;
    let result = run(cargo()
        .args(["test", "--workspace"])
        .args(extra)
        .env("SWITCHBOARD_BIN", built_binary("debug", "switchboard"))
        .env("SCHEMATHESIS_BIN", tools.join("bin/st"))
        .env("TEST_PYTHON", tools.join("bin/python"))
        .env("PRISM_TWILIO_URL", &mocks.twilio_url)
        .env("PRISM_SENDGRID_URL", &mocks.sendgrid_url));
    drop(mocks);
    result
}

fn bench(extra: &[String]) -> Result {
    build_plugins()?;
    run(cargo().args([
        "build",
        "--release",
        "--package",
        "switchboard",
        "--package",
        "switchboard-e2e",
        "--bins",
    ]))?;
    run(cargo()
        .args([
            "bench",
            "--package",
            "switchboard-runtime",
            "--bench",
            "webhook_call",
        ])
        .env("SWITCHBOARD_PLUGIN_DIR", plugin_dir()))?;
    run(Command::new(built_binary("release", "ingest_load"))
        .args(extra)
        .current_dir(root())
        .env("SWITCHBOARD_BIN", built_binary("release", "switchboard")))?;
    // Selection quality on sparse and on rich data, then its cost at 100k contacts and 10M
    // interactions (see BENCHMARKS.md).
    for (people, low, high) in [("1000", "1", "5"), ("300", "30", "50")] {
        run(Command::new(built_binary("release", "preference_sim"))
            .args(["--people", people, "--min-sends", low, "--max-sends", high])
            .current_dir(root())
            .env("SWITCHBOARD_BIN", built_binary("release", "switchboard")))?;
    }
    run(Command::new(built_binary("release", "preference_scale"))
        .current_dir(root())
        .env("SWITCHBOARD_BIN", built_binary("release", "switchboard")))?;
    // The channel report and attribution at 10M interactions, and what folding costs ingest.
    run(Command::new(built_binary("release", "analytics_scale"))
        .current_dir(root())
        .env("SWITCHBOARD_BIN", built_binary("release", "switchboard")))?;
    run(Command::new(built_binary("release", "ingest_load"))
        .args(["--realistic", "1", "--analytics-ab", "2"])
        .current_dir(root())
        .env("SWITCHBOARD_BIN", built_binary("release", "switchboard")))?;
    // The outbox: POST-to-vendor latency one message at a time, then dispatch throughput.
    run(Command::new(built_binary("release", "dispatch_load"))
        .current_dir(root())
        .env("SWITCHBOARD_BIN", built_binary("release", "switchboard")))
}

/// Builds the Python plugin (componentize-py from PyPI, in a virtualenv beside the build) and
/// compiles it once into the end-to-end tests' plugin cache: an 18 MB component takes the host
/// half a minute to compile, which belongs here rather than inside a test's start-up wait.
fn build_python_plugin() -> Result {
    run(Command::new("bash")
        .arg(root().join("plugins-py/build.sh"))
        .env("PYPLUGIN_VENV", target_dir().join("pyplugin-venv")))?;
    run(Command::new(built_binary("debug", "switchboard"))
        .args(["plugin", "check"])
        .arg(root().join("plugins-py/target/sms_example_py.wasm"))
        .arg("--cache-dir")
        .arg(root().join("target/e2e-plugin-cache"))
        .stdout(Stdio::null()))
}

/// Installs the Python tools the tests use (Schemathesis, mta; pinned in
/// tests/python-requirements.txt) into a virtualenv beside the build, once per change of the
/// pins, and returns the virtualenv.
fn install_test_tools() -> Result<PathBuf> {
    let requirements = root().join("tests/python-requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    let venv = target_dir().join("test-tools-venv");
    let installed = venv.join("installed-requirements.txt");
    if venv.join("bin/st").is_file()
        && std::fs::read_to_string(&installed).ok().as_deref() == Some(wanted.as_str())
    {
        return Ok(venv);
    }
    run(Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg("--clear")
        .arg(&venv))?;
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements))?;
    std::fs::write(&installed, wanted).map_err(|e| format!("cannot record the install: {e}"))?;
    Ok(venv)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// A binary of this workspace built in `profile`.
fn built_binary(profile: &str, name: &str) -> PathBuf {
    target_dir().join(profile).join(name)
}

fn plugin_dir() -> PathBuf {
    root().join("plugins/target/wasm32-wasip2/release")
}

/// Stoplight Prism serving the vendors' own OpenAPI contracts on loopback; stopped on drop.
struct VendorMocks {
    children: Vec<Child>,
    twilio_url: String,
    sendgrid_url: String,
}

impl VendorMocks {
    fn start() -> Result<Self> {
        let dir = root().join("tests/vendor-mock");
        let prism = dir.join("node_modules/.bin/prism");
        if !prism.exists() {
            run(Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir))?;
        }
        let specs = vendor_specs()?;
        let mut mocks = VendorMocks {
            children: Vec::new(),
            twilio_url: String::new(),
            sendgrid_url: String::new(),
        };
        for (name, file) in [
            ("twilio", "twilio_api_v2010.json"),
            ("sendgrid", "sendgrid_v3.json"),
        ] {
            let port = free_port()?;
            let log = std::fs::File::create(
                std::env::temp_dir().join(format!("switchboard-prism-{name}.log")),
            )
            .map_err(|e| format!("cannot create the Prism log: {e}"))?;
            let child = Command::new(&prism)
                .args(["mock", "--host", "127.0.0.1", "--port", &port.to_string()])
                .arg(specs.join(file))
                .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
                .stderr(Stdio::from(log))
                .spawn()
                .map_err(|e| format!("cannot start Prism: {e}"))?;
            mocks.children.push(child);
            wait_for_port(port, Duration::from_secs(90))
                .map_err(|e| format!("Prism for {name} did not start: {e}"))?;
            let url = format!("http://127.0.0.1:{port}");
            eprintln!("xtask: {name} contract mock at {url}");
            match name {
                "twilio" => mocks.twilio_url = url,
                _ => mocks.sendgrid_url = url,
            }
        }
        Ok(mocks)
    }
}

impl Drop for VendorMocks {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The vendors' published contracts, vendored with their licenses (see their README).
fn vendor_specs() -> Result<PathBuf> {
    let dir = root().join("tests/vendor-mock/contracts");
    if dir.join("twilio_api_v2010.json").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "the vendor API contracts are missing from {}",
            dir.display()
        ))
    }
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn wait_for_port(port: u16, limit: Duration) -> Result {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("nothing listening on port {port} after {limit:?}"))
}
