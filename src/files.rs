//! The files the tool writes: states, keys, the lock, kubeconfigs, rendered bundles. Private (0600
//! files, 0700 directories, whatever the umask), atomic (a unique temporary file beside the target,
//! renamed over it), and never written through a symbolic link: a link committed to a repository or
//! planted in a shared state directory could otherwise point the tool at any file the user can write.

use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A path the tool will not write through.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is a symbolic link; cfcr-aws does not write through links (one could point at any file): replace it with a regular file, or choose another path",
    .0.display()
)]
pub struct SymlinkRefused(pub PathBuf);

/// Refuses `path` when it is a symbolic link; a path that does not exist is fine.
pub fn refuse_symlink(path: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(SymlinkRefused(path.to_path_buf()).into()),
        _ => Ok(()),
    }
}

/// The directory a file is written into: `.` for a bare file name.
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Creates `dir` and its missing parents with mode 0700, set explicitly so that no umask widens
/// (or narrows) it. Directories that exist already are left as they are.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(path) = at.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(path.to_path_buf());
        at = path.parent();
    }
    for path in missing.iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {}
            // Another command made it meanwhile: it is not ours to change.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
        fs::set_permissions(path, Permissions::from_mode(0o700))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically, with mode 0600 from the first byte: into a temporary file of
/// a unique name in the same directory, synced, renamed over `path`, and the directory synced.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    refuse_symlink(path)?;
    let dir = parent_of(path);
    private_dir(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", file.path().display()))?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_privately_and_leaves_other_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/id.pem");
        let neighbour = dir.path().join("sub/id.tmp");
        private_dir(&dir.path().join("sub")).unwrap();
        fs::write(&neighbour, "mine").unwrap();
        write_private(&target, b"secret").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"secret");
        assert_eq!(fs::read(&neighbour).unwrap(), b"mine");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), 0o600);
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 2);
    }

    #[test]
    fn refuses_to_write_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = write_private(&link, b"x").unwrap_err();
        assert!(err.is::<SymlinkRefused>(), "{err:#}");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_bare_name_is_written_in_the_current_directory() {
        assert_eq!(parent_of(Path::new("key1")), Path::new("."));
        assert_eq!(parent_of(Path::new("k/key1")), Path::new("k"));
    }
}
