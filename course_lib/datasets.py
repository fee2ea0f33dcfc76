"""Finding and verifying the course's data files (introduced in chapter 0, used in chapter 4).

Every file in ``datasets/`` is listed with its SHA-256 in ``datasets/MANIFEST.sha256``. Loaders ask
this module for a path; it checks the file against the manifest first, so a truncated or altered
copy fails loudly instead of giving silently wrong numbers. Nothing here touches the network.
"""
import hashlib
import pathlib

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "datasets"
MANIFEST = "MANIFEST.sha256"
REBUILD_HINT = ("Restore it with `git checkout -- datasets/` or rebuild it with the script in "
                "datasets/ (see datasets/README.md).")


class ChecksumError(RuntimeError):
    """A data file does not match the SHA-256 recorded in the manifest."""


def manifest(data_dir=DATA_DIR):
    """Return {file name: expected SHA-256} read from the manifest (empty if there is none)."""
    path = pathlib.Path(data_dir) / MANIFEST
    if not path.exists():
        return {}
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            entries[name.lstrip("*")] = digest
    return entries


def sha256(path, chunk=1 << 20):
    """Return the hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_path(name, data_dir=DATA_DIR):
    """Return the path of data file ``name`` after checking it against the manifest."""
    data_dir = pathlib.Path(data_dir)
    expected = manifest(data_dir).get(name)
    if expected is None:
        raise FileNotFoundError(f"{name!r} is not listed in {data_dir / MANIFEST}. " + REBUILD_HINT)
    path = data_dir / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing. " + REBUILD_HINT)
    actual = sha256(path)
    if actual != expected:
        raise ChecksumError(f"{path} is corrupted: SHA-256 {actual[:12]}... does not match the "
                            f"manifest's {expected[:12]}.... " + REBUILD_HINT)
    return path


def verify_all(data_dir=DATA_DIR):
    """Check every file in the manifest; return {name: 'ok'} or raise on the first bad one."""
    return {name: "ok" for name in manifest(data_dir) if data_path(name, data_dir)}
