//! Workaround: sqlx 0.9.0 no longer sets `TCP_NODELAY` on its PostgreSQL sockets
//! (transact-rs/sqlx#4335; fixed upstream by #4336, not released as of sqlx 0.9.0). With Nagle
//! on, a statement that does not fit one segment waits for the server's delayed ACK, ~40 ms, and
//! group commits fell from ~19,000 to ~4,000 messages/s over TCP. After each new pool
//! connection we set the option on this process's TCP sockets whose peer is the database port.
//! Remove this module once sqlx sets the option itself again.

/// Sets `TCP_NODELAY` on every socket of this process connected to `port` (Linux; elsewhere a
/// no-op). Idempotent and cheap (one scan of `/proc/self/fd`).
pub fn set_on_sockets_to(port: u16) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::BorrowedFd;
        let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for entry in dir.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            // SAFETY: the descriptor is only used for getpeername/setsockopt right now. If another
            // thread closed it since the directory was read, both calls fail (EBADF/ENOTSOCK) or
            // touch a newer socket, where TCP_NODELAY is equally harmless.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let sock = socket2::SockRef::from(&borrowed);
            let peer_port = sock
                .peer_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .map(|a| a.port());
            if peer_port == Some(port) {
                let _ = sock.set_tcp_nodelay(true);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = port;
}
