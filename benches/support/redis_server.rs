//! A Redis server of the bench's own: `redis-server` on a free loopback
//! port, persistence off, stopped (and its directory removed) when dropped.
//! Needs `settings.rs` in the same `support` module.

use std::io::{Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::settings::Res;

pub(crate) struct RedisServer {
    pub(crate) url: String,
    /// The server we started (`None`: `PGKV_REDIS_URL`'s).
    child: Option<(Child, PathBuf)>,
}

impl RedisServer {
    /// The process id of the server we started (`None`: `PGKV_REDIS_URL`'s).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|(child, _)| child.id())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some((child, dir)) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn redis_pings(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// The Redis at `PGKV_REDIS_URL` if that is set, or else one of our own, its
/// directory `pgkv-<bench>-redis-<pid>` in the temp dir.
pub(crate) fn start_redis(bench: &str) -> Res<RedisServer> {
    if let Ok(url) = std::env::var("PGKV_REDIS_URL")
        && !url.is_empty()
    {
        return Ok(RedisServer { url, child: None });
    }
    // A free port: the kernel's pick, released just before Redis binds it.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = std::env::temp_dir().join(format!("pgkv-{bench}-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(&dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start redis-server (apt-get install redis-server): {e}"))?;
    let server = RedisServer {
        url: format!("redis://127.0.0.1:{port}/"),
        child: Some((child, dir)),
    };
    for _ in 0..100 {
        if redis_pings(port) {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("redis-server on port {port} did not answer PING").into())
}
