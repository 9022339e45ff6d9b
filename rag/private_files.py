"""The data dir is the app's alone, and so is the secret that browsers' stored state is keyed with.

The data dir is created 0700 and the files the app writes there itself (conversations, votes,
the secret) 0600, whatever the process umask; an existing data dir that others can read is left as
the operator made it, with a warning.

The browser-state secret is what `gr.BrowserState` encrypts a browser's workspace key with. Gradio
sends it to every visitor in the page config (the browser does the encryption), so it protects
nothing: the workspace key in the browser is the credential. What it must be is *stable*: a value
a browser stored can only be read back under the same secret, so a restart or another replica with
another secret gives the browser a new, empty workspace. Hence one value for the whole deployment:
`RAG_BROWSER_SECRET`, or else a file in the data dir made once (atomically, so replicas starting
together on a fresh shared volume agree on it), and anything empty, short or not text refused.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SECRET_FILE = "browser-state.secret"
SECRET_SETTING = "RAG_BROWSER_SECRET"
SECRET_PATTERN = re.compile(r"[!-~]{32,1024}")  # printable ASCII, no spaces
_warned: set[str] = set()


def private_dir(path: str | Path) -> Path:
    """Create `path` (and its parents) with the directory itself 0700; returns it."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, PRIVATE_DIR_MODE)  # the umask can only take bits away, but be exact
    elif path.stat().st_mode & 0o077 and str(path) not in _warned:
        _warned.add(str(path))
        log.warning(
            "%s can be read by other users of this machine; `chmod 700 %s` makes it private", path, path
        )
    return path


def private_file(path: str | Path) -> Path:
    """Make sure `path` exists and only its owner may read or write it (a file made by an earlier
    version with the umask's mode is tightened; so are SQLite's `-wal` and `-shm` beside it)."""
    path = Path(path)
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            info = file.stat()
        except FileNotFoundError:
            continue
        if info.st_mode & 0o077 and info.st_uid == os.getuid():
            os.chmod(file, stat.S_IMODE(info.st_mode) & PRIVATE_FILE_MODE)
    return path


def browser_secret(configured: str, data_dir: str | Path) -> str:
    """The deployment's browser-state secret: `configured` (the setting) when set, else the one in
    `<data dir>/browser-state.secret`, made on the first start. Raises ValueError (naming the
    setting and the file) for a value that is empty, shorter than 32 characters or not text."""
    if configured:
        return _checked(configured, SECRET_SETTING)
    path = private_dir(data_dir) / SECRET_FILE
    if not path.exists():
        _create_once(path, secrets.token_hex(32))
    for _ in range(20):  # a replica on a file system without hard links may still be writing it
        raw = path.read_bytes()
        if raw.strip():
            break
        time.sleep(0.1)
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = None
    return _checked(text, str(path))


def _checked(value: str | None, where: str) -> str:
    if value is not None and SECRET_PATTERN.fullmatch(value):
        return value
    if value is None:
        problem = "is not UTF-8 text"
    elif not value.strip():
        problem = "is empty"
    elif len(value) < 32:
        problem = f"is too short ({len(value)} characters)"
    else:
        problem = "has spaces or characters other than printable ASCII, or is too long"
    raise ValueError(
        f"the browser-state secret ({where}) {problem}: it must be 32 to 1024 printable ASCII characters "
        f"without spaces, e.g. from `python -c 'import secrets; print(secrets.token_hex(32))'`. Set "
        f"{SECRET_SETTING} to one value on every replica, or delete {SECRET_FILE} in the data dir to have "
        "a new one made (browsers then start new, empty workspaces)"
    )


def _create_once(path: Path, value: str) -> None:
    """Write `value` to `path` unless it exists, so that it never shows empty or half-written: a
    private temporary file, then a hard link (which fails if another process linked first)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another replica made it first: its value is the one
        except OSError:  # no hard links on this file system: exclusive create, then write
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
            except FileExistsError:
                return
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(value + "\n")
    finally:
        temporary.unlink(missing_ok=True)
