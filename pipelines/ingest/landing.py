"""Landing files atomically: readers (the pipeline's file sources) see nothing or the whole file, never a part."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `path` via a dot-prefixed temp file in the same folder, fsync, then rename.

    Dot-prefixed names are ignored by Spark file sources and Auto Loader, so a reader never picks up the temp
    file; `os.replace` is atomic within one file system, so a crash leaves the old state or the new, never half.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
