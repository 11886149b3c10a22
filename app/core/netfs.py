"""Is this file on a network filesystem? SQLite's locking is unreliable there
(sqlite.org/useovernet.html), so a shared store file on one gets a clear warning."""

from __future__ import annotations

import os
import sys
from pathlib import Path

NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "fuse.sshfs",
        "sshfs",
        "fuse.rclone",
        "fuse.gvfsd-fuse",
        "fuse.s3fs",
        "webdav",
    }
)


def filesystem_type(path: Path, mounts_file: Path = Path("/proc/mounts")) -> str | None:
    """The filesystem type of the mount holding `path` (Linux), or None when unknown."""
    try:
        text = mounts_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, best_type = mount_point, fields[2]
    return best_type


def network_warning(path: Path, *, mounts_file: Path = Path("/proc/mounts")) -> str | None:
    """A sentence for the reviewer when the store file is on a network share, else None."""
    if sys.platform == "win32":
        text = str(path)
        if text.startswith("\\\\") or _windows_remote_drive(text):
            return _message(path, "a Windows network share")
        return None
    fs_type = filesystem_type(path.parent if not path.exists() else path, mounts_file)
    if fs_type is not None and (fs_type in NETWORK_FS or fs_type.split(".")[0] in {"nfs", "cifs", "smb3"}):
        return _message(path, f"a network filesystem ({fs_type})")
    return None


def _message(path: Path, where: str) -> str:
    return (
        f"The shared store {path} is on {where}. SQLite's file locks are unreliable there and "
        "several reviewers writing at once can corrupt it; use PostgreSQL for a team, or keep "
        "this file for one reviewer at a time."
    )


def _windows_remote_drive(text: str) -> bool:  # pragma: no cover - Windows only
    import ctypes

    drive = os.path.splitdrive(text)[0]
    if not drive:
        return False
    drive_remote = 4
    return bool(ctypes.windll.kernel32.GetDriveTypeW(drive + "\\") == drive_remote)  # type: ignore[attr-defined]
