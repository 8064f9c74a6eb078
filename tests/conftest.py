import pytest

# A small city that still has every sub-district (scale >= 0.0114) and runs in well under a second.
SMALL = {"scale": 0.05, "households_per_rt": 25}


@pytest.fixture
def small_params():
    return dict(SMALL)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A factory of small tmpfs mounts (a full disk on demand): ``small_tmpfs(size="4m") -> Path``.

    Needs root and a kernel that lets this process mount; the test is skipped with the reason otherwise.
    Every mount is lazily unmounted at teardown, whatever the test did.
    """
    import os
    import shutil
    import subprocess
    import uuid

    mounts = []

    def mount(size: str = "4m"):
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a small tmpfs (a full disk) needs root and mount(8)")
        mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        mnt.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
        mounts.append(mnt)
        return mnt

    try:
        yield mount
    finally:
        for mnt in reversed(mounts):
            subprocess.run(["umount", "-l", str(mnt)], check=False)
