//! A real S3-compatible server for the replication tests: `s3s-fs` (from
//! crates.io), a separate process on loopback, never an in-process mock.
//!
//! CI (`.ci/replicate.sh`) installs it, starts one and names it with
//! `DIZZY_TEST_S3_ENDPOINT`, `DIZZY_TEST_S3_BUCKET`,
//! `DIZZY_TEST_S3_ACCESS_KEY` and `DIZZY_TEST_S3_SECRET_KEY`. Without
//! those, a test starts its own server from the `s3s-fs` binary
//! (`DIZZY_TEST_S3FS`, else on `PATH` or in `~/.cargo/bin`). With neither, a
//! test fails, telling how to install it — it is skipped only when
//! `DIZZY_TEST_S3=off` says that no server is available here.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCESS_KEY: &str = "dizzy-test";
const SECRET_KEY: &str = "dizzy-test-secret";
const BUCKET: &str = "dizzy-test";

/// Where the tests' S3 server is, and how to reach it.
#[derive(Debug)]
pub struct S3 {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// A bucket that exists on it.
    pub bucket: String,
    access_key: String,
    secret_key: String,
    /// The server this test started, if it started one.
    pub own: Option<Server>,
}

/// Whether the tests may skip: `DIZZY_TEST_S3=off` says no server is
/// available on this machine.
pub fn skipped(test: &str) -> bool {
    let off = std::env::var("DIZZY_TEST_S3").is_ok_and(|v| v == "off");
    if off {
        eprintln!("{test}: skipped (DIZZY_TEST_S3=off: no S3 server on this machine)");
    }
    off
}

/// The `s3s-fs` binary, if installed.
pub fn s3s_fs() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DIZZY_TEST_S3FS").map(PathBuf::from) {
        return p.exists().then_some(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("s3s-fs"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|c| c.join("bin/s3s-fs"));
    on_path.chain(cargo_home).find(|p| p.exists())
}

fn missing() -> ! {
    panic!(
        "no S3 server for the replication tests: run `source .ci/replicate.sh` (installs s3s-fs \
         from crates.io and starts it), or `cargo install --locked s3s-fs --version 0.14.1 \
         --features binary`, or set DIZZY_TEST_S3=off to skip these tests on this machine"
    )
}

impl S3 {
    /// The server CI started, else one of this test's own; `None` only
    /// when `DIZZY_TEST_S3=off`.
    pub fn get(test: &str) -> Option<S3> {
        if skipped(test) {
            return None;
        }
        if let Ok(endpoint) = std::env::var("DIZZY_TEST_S3_ENDPOINT") {
            let var = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.into());
            return Some(S3 {
                endpoint,
                bucket: var("DIZZY_TEST_S3_BUCKET", BUCKET),
                access_key: var("DIZZY_TEST_S3_ACCESS_KEY", ACCESS_KEY),
                secret_key: var("DIZZY_TEST_S3_SECRET_KEY", SECRET_KEY),
                own: None,
            });
        }
        Some(Self::own(test))
    }

    /// A server of this test's own (it may kill and restart it).
    pub fn own(test: &str) -> S3 {
        let bin = s3s_fs().unwrap_or_else(|| missing());
        let server = Server::start(&bin, test);
        S3 {
            endpoint: format!("http://{}", server.addr),
            bucket: BUCKET.into(),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            own: Some(server),
        }
    }

    /// An `s3://` URL under a prefix no other test or run uses.
    pub fn url(&self, name: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("s3://{}/{name}-{}-{nanos}", self.bucket, std::process::id())
    }

    /// Points a command (the `dizzy` binary) at the server, the way a user
    /// points any S3 client at one: the environment.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
    }

    /// The bucket under `url`, opened in this process (to check what it
    /// holds) with the server's settings given directly.
    pub fn bucket(&self, url: &str) -> dizzy::replicate::Bucket {
        let rest = url
            .strip_prefix(&format!("s3://{}/", self.bucket))
            .expect("a URL of this server's bucket");
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(&self.bucket)
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret_key)
            .build()
            .expect("an S3 client");
        dizzy::replicate::Bucket::with_store(Arc::new(store), rest, url).expect("a bucket")
    }
}

/// An `s3s-fs` process serving a temporary directory on a loopback port.
#[derive(Debug)]
pub struct Server {
    bin: PathBuf,
    root: tempfile::TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Option<Child>,
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    l.local_addr().expect("its address")
}

fn wait_listening(addr: SocketAddr, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listening = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
        if listening == up {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "s3s-fs on {addr}: still {} after 20 s",
            if up { "not listening" } else { "listening" }
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Server {
    /// Starts `bin` serving a new temporary directory (with the bucket).
    pub fn start(bin: &Path, label: &str) -> Server {
        let root = tempfile::Builder::new()
            .prefix(&format!("s3-{label}-"))
            .tempdir()
            .expect("a temporary directory");
        std::fs::create_dir_all(root.path().join(BUCKET)).expect("the bucket's directory");
        let mut server = Server {
            bin: bin.to_owned(),
            root,
            addr: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    /// The directory it serves.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Kills it with SIGKILL (mid-request, whatever it is doing).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait_listening(self.addr, false);
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(&self.bin)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.addr.port().to_string())
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        self.child = Some(child);
        wait_listening(self.addr, true);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
