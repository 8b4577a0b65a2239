//! What the benches share: reading the CPU time a thread or the process has used, and opening
//! a keep-alive HTTP/1.1 connection to the node under test.

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

/// Linux's USER_HZ: the unit of the CPU times in `/proc/.../stat`.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) of a thread or process so far, from its `stat` file in `/proc`.
pub fn cpu_seconds(stat_file: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat_file) else { return f64::NAN };
    // The command name may hold spaces and parentheses: the fields are counted after its end.
    let Some((_, rest)) = stat.rsplit_once(')') else { return f64::NAN };
    let mut fields = rest.split_whitespace().skip(11);
    let mut tick = || fields.next().and_then(|f| f.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (tick() + tick()) / CLOCK_TICKS_PER_SECOND
}

/// CPU seconds of the whole process so far, to the nanosecond: the sum of its threads' time on
/// a core from `/proc/self/task/*/schedstat`. `/proc/self/stat` counts in ticks of 10 ms, too
/// coarse for a batch of 15 ms. A thread that has exited no longer counts, so a figure taken
/// with this must not span threads that end.
#[allow(dead_code)] // not every bench times short spans
pub fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return f64::NAN };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

/// CPU seconds (user + system) of the calling thread so far.
pub fn thread_cpu_seconds() -> f64 {
    cpu_seconds("/proc/thread-self/stat")
}

/// The `stat` file of this process's thread named `name`, if there is one.
#[allow(dead_code)] // not every bench looks for a thread
pub fn thread_stat_file(name: &str) -> Option<String> {
    std::fs::read_dir("/proc/self/task").ok()?.flatten().find_map(|task| {
        let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
        (comm.trim_end() == name).then(|| task.path().join("stat").display().to_string())
    })
}

/// A keep-alive HTTP/1.1 connection to `addr` with Nagle off, its driver spawned on the
/// current runtime; `None` if it cannot be opened.
pub async fn connect<B>(addr: SocketAddr) -> Option<SendRequest<B>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    Some(sender)
}
