//! Private files: the data dir holds the database (password hashes, identity secrets, every
//! transcript), the signing key and the search index, so it is created `0700` and the files in it
//! that we create ourselves `0600`, whatever the umask. SQLite creates its `-wal` and `-shm` files
//! with the mode of the database file, so creating that file `0600` first covers them too.
//! Existing ones, made world-readable by older versions, are tightened at start.
use std::{io, path::Path};

/// Creates `dir` (and missing parents) as `0700`, or makes an existing one `0700`.
pub fn dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    tighten(dir, 0o700)
}

/// Creates `file` empty as `0600` if missing, or makes an existing one `0600`.
pub fn file(file: &Path) -> io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(file)?;
    tighten(file, 0o600)
}

/// Drops group and other permissions from an existing path.
pub fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)?;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::info!(path = %path.display(), "making private (mode {mode:o})");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
