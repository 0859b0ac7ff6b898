//! A small filesystem of a test's own, mounted as root, so that a test can put a database on it
//! and then fill it up or have it turn read-only under a running server:
//! - a tmpfs of a few MiB, to fill with a filler file and free again;
//! - an ext4 image on a loop device mounted `errors=remount-ro`, which the kernel turns read-only
//!   when the test reports a filesystem error (as it does when a disk fails): unlike
//!   `mount -o remount,ro`, which Linux refuses while a process holds a file open for writing,
//!   this reaches a server that has its database open.
//!
//! It is unmounted when dropped, also when the test fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted test filesystem.
pub struct SmallDisk {
    /// Where it is mounted.
    mount_point: tempfile::TempDir,
    /// The ext4 image and its directory, for a loop-mounted disk.
    image: Option<(tempfile::TempDir, PathBuf)>,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`8m`); `Err` says why this machine cannot.
    pub fn tmpfs(size: &str) -> Result<Self, String> {
        require_root()?;
        let mount_point = tempdir()?;
        run(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(mount_point.path()))?;
        Ok(SmallDisk::at(mount_point, None))
    }

    /// Makes an ext4 image of `mib` MiB and mounts it through a loop device with
    /// `errors=remount-ro`; `Err` says why this machine cannot.
    pub fn ext4(mib: u64) -> Result<Self, String> {
        require_root()?;
        let image_dir = tempdir()?;
        let image = image_dir.path().join("disk.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(mib << 20))
            .map_err(|e| format!("create {}: {e}", image.display()))?;
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))?;
        let mount_point = tempdir()?;
        let disk = SmallDisk::at(mount_point, Some((image_dir, image)));
        disk.mount_image()?;
        if !disk.error_trigger()?.exists() {
            return Err("this kernel's ext4 has no trigger_fs_error".into());
        }
        Ok(disk)
    }

    fn at(mount_point: tempfile::TempDir, image: Option<(tempfile::TempDir, PathBuf)>) -> Self {
        SmallDisk {
            filler: mount_point.path().join("filler"),
            mount_point,
            image,
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.mount_point.path()
    }

    /// Takes every free byte with a filler file; returns how many bytes it took.
    pub fn fill(&self) -> u64 {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .expect("create the filler");
        let mut written = 0u64;
        // Big chunks first, then pages, so that not even a page is left.
        for chunk in [1 << 20, 4096] {
            let block = vec![0xA5u8; chunk];
            while file.write_all(&block).is_ok() {
                written += chunk as u64;
            }
        }
        written
    }

    /// Removes the filler, giving its space back.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("remove the filler");
    }

    /// Remounts it read-only (`true`) or read-write. Linux refuses to make a filesystem read-only
    /// while a process holds a file on it open for writing (`EBUSY`): for a running server, see
    /// [`SmallDisk::fail_read_only`].
    pub fn set_read_only(&self, read_only: bool) -> Result<(), String> {
        let option = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        run(Command::new("mount").args(["-o", option]).arg(self.path()))
    }

    /// Reports a filesystem error to ext4, which turns the filesystem read-only at once, for
    /// every process, files already open included (ext4 disks only).
    pub fn fail_read_only(&self) {
        let trigger = self.error_trigger().expect("an ext4 disk");
        std::fs::write(&trigger, "switchboard fault test\n")
            .unwrap_or_else(|e| panic!("write {}: {e}", trigger.display()));
    }

    /// What an operator does after a disk error: unmount, check and repair, mount again (ext4
    /// disks only; nothing may hold a file on it open).
    pub fn repair(&self) -> Result<(), String> {
        let (_, image) = self.image.as_ref().ok_or("not an ext4 disk")?;
        run(Command::new("umount").arg(self.path()))?;
        // e2fsck exits 1 when it corrected something, which is the point here.
        let status = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(image)
            .output()
            .map_err(|e| format!("e2fsck: {e}"))?;
        if !matches!(status.status.code(), Some(0 | 1)) {
            return Err(format!(
                "e2fsck failed: {}",
                String::from_utf8_lossy(&status.stdout)
            ));
        }
        self.mount_image()
    }

    fn mount_image(&self) -> Result<(), String> {
        let (_, image) = self.image.as_ref().ok_or("not an ext4 disk")?;
        run(Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(image)
            .arg(self.path()))
    }

    /// `/sys/fs/ext4/<loop device>/trigger_fs_error` of the mounted image.
    fn error_trigger(&self) -> Result<PathBuf, String> {
        let output = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(self.path())
            .output()
            .map_err(|e| format!("findmnt: {e}"))?;
        let source = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let device = Path::new(&source)
            .file_name()
            .ok_or_else(|| format!("no device is mounted on {}", self.path().display()))?;
        Ok(Path::new("/sys/fs/ext4")
            .join(device)
            .join("trigger_fs_error"))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily, so that a server still holding a file there cannot keep it mounted; a loop
        // device mounted with `-o loop` is released with its last user.
        if let Err(error) = run(Command::new("umount").arg("-l").arg(self.path())) {
            eprintln!("unmounting the test filesystem failed: {error}");
        }
    }
}

fn tempdir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))
}

fn require_root() -> Result<(), String> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false);
    if root {
        Ok(())
    } else {
        Err("mounting a test filesystem needs root".into())
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
