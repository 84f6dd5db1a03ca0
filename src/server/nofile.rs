//! The open-file limit: raised to its hard limit at start, and the connection cap kept below it,
//! so accepting a connection never fails for lack of a file descriptor that the database, the
//! exchange streams or SMTP need.

/// Descriptors kept free for everything but client connections: the database (writer, readers,
/// checkpointer, each with its WAL and shared-memory files), exchange streams and REST, SMTP,
/// outbound notifications, logs.
pub const RESERVED: u64 = 128;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
#[cfg(unix)]
pub fn raise() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    // rlim_t is u64 on Linux but not on every unix.
    #[allow(clippy::unnecessary_cast)]
    Ok(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise() -> std::io::Result<u64> {
    Ok(u64::MAX)
}

/// The connection cap: the configured one (0: no own limit), never closer to the file limit
/// than `RESERVED`.
pub fn connection_cap(configured: usize, file_limit: u64) -> usize {
    let room = file_limit.saturating_sub(RESERVED).max(16);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    match configured {
        0 => room,
        n => n.min(room),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_file_limit() {
        assert_eq!(connection_cap(0, 1024), 896);
        assert_eq!(connection_cap(10_000, 1024), 896);
        assert_eq!(connection_cap(100, 1024), 100);
        assert_eq!(connection_cap(0, 20), 16);
    }

    #[test]
    fn raising_keeps_at_least_the_current_soft_limit() {
        let limit = raise().unwrap();
        assert!(limit >= 16);
    }
}
