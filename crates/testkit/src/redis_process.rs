//! Runs a real `redis-server` on a free port for tests (install it with scripts/test-deps.sh).
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private `redis-server` (no persistence), killed when dropped.
#[derive(Debug)]
pub struct RedisProcess {
    child: Option<Child>,
    /// The port it listens on (kept across [`RedisProcess::restart`]).
    pub port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `redis-server` binary: `$REDIS_SERVER`, else the one on `PATH`.
pub fn redis_server_bin() -> PathBuf {
    std::env::var_os("REDIS_SERVER").map_or_else(|| PathBuf::from("redis-server"), PathBuf::from)
}

impl RedisProcess {
    /// Starts `redis-server` on a free port and waits until it accepts connections (5 s at most).
    pub fn start() -> std::io::Result<RedisProcess> {
        let dir = tempfile::tempdir()?;
        let mut r = RedisProcess {
            child: None,
            port: free_port()?,
            dir,
        };
        r.launch()?;
        Ok(r)
    }

    fn launch(&mut self) -> std::io::Result<()> {
        let child = Command::new(redis_server_bin())
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::other(format!(
                    "cannot run redis-server ({e}); install it with scripts/test-deps.sh"
                ))
            })?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "redis-server did not start listening",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL), as an outage would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: nothing was persisted).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.launch()
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
