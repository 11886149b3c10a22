from __future__ import annotations

from pathlib import Path

import pytest

from app.core.netfs import filesystem_type, network_warning

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
server:/export /mnt/team nfs4 rw,relatime 0 0
//nas/share /mnt/nas cifs rw 0 0
/dev/vdb /mnt/team/local ext4 rw 0 0
host:/x /mnt/with\\040space fuse.sshfs rw 0 0
"""


@pytest.fixture
def mounts(tmp_path: Path) -> Path:
    path = tmp_path / "mounts"
    path.write_text(MOUNTS, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("/mnt/team/shared.db", "nfs4"),
        ("/mnt/nas/a/b/shared.db", "cifs"),
        ("/mnt/team/local/shared.db", "ext4"),  # the longest mount point wins
        ("/mnt/with space/shared.db", "fuse.sshfs"),
        ("/home/ann/shared.db", "ext4"),
    ],
)
def test_the_mount_holding_the_file_decides(mounts: Path, store: str, expected: str) -> None:
    assert filesystem_type(Path(store), mounts) == expected


def test_network_shares_get_a_clear_warning_local_disks_none(mounts: Path) -> None:
    warning = network_warning(Path("/mnt/team/shared.db"), mounts_file=mounts)
    assert warning is not None and "nfs4" in warning and "PostgreSQL" in warning
    assert network_warning(Path("/mnt/team/local/shared.db"), mounts_file=mounts) is None
    assert network_warning(Path("/home/ann/shared.db"), mounts_file=mounts) is None


def test_unknown_mounts_mean_no_warning(tmp_path: Path) -> None:
    assert network_warning(tmp_path / "shared.db", mounts_file=tmp_path / "missing") is None
