//! The disk's durable-write floor: append 4 KiB and `fdatasync` (`File::sync_data`) N times in a
//! given directory and report the distribution. A durable message cannot be acknowledged faster
//! than one such round trip, so latencies are judged against its median.
use std::{fs::OpenOptions, io::Write, path::Path, time::Instant};

use anyhow::Context;

use super::stats::{Summary, micros};

/// Writes `samples` × (4 KiB + `sync_data`) into a scratch file in `dir` (removed afterwards).
pub fn probe(dir: &Path, samples: usize) -> anyhow::Result<Summary> {
    let path = dir.join(format!("fsync-probe-{}.bin", std::process::id()));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let block = [0x5a_u8; 4096];
    let mut times = Vec::with_capacity(samples);
    let result = (|| -> std::io::Result<()> {
        for _ in 0..samples.max(1) {
            let t = Instant::now();
            file.write_all(&block)?;
            file.sync_data()?;
            times.push(micros(t.elapsed()));
        }
        Ok(())
    })();
    drop(file);
    let _ = std::fs::remove_file(&path);
    result.with_context(|| format!("fsync probe in {}", dir.display()))?;
    Ok(Summary::of_micros(&mut times))
}

#[cfg(test)]
mod tests {
    #[test]
    fn probes_a_temp_dir() {
        let dir = tempfile::tempdir().unwrap();
        let s = super::probe(dir.path(), 3).unwrap();
        assert_eq!(s.n, 3);
        assert!(s.max_ms >= s.p50_ms);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
