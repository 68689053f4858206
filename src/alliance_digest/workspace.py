"""Workspaces: a directory holding ``digest.toml`` and the SQLite database.

Chosen by ``--home DIR``, else ``DIGEST_HOME``, else the current directory
when it holds a ``digest.toml``.
"""

from __future__ import annotations

import os
from pathlib import Path

from alliance_digest.profile import PROFILE_NAME, Profile, default_profile_text, load_profile


class WorkspaceError(Exception):
    """No workspace where one was expected (or one where none should be)."""


def locate(home: str | None) -> Path:
    if home:
        path = Path(home).expanduser()
    elif os.environ.get("DIGEST_HOME"):
        path = Path(os.environ["DIGEST_HOME"]).expanduser()
    else:
        path = Path.cwd()
    path = path.resolve()
    if not (path / PROFILE_NAME).is_file():
        raise WorkspaceError(f"{path}: not a digest workspace (no {PROFILE_NAME}); run `digest init {path}` or pass --home")
    return path


def setup_django(home: Path, migrate: bool = True) -> None:
    """Configure Django for ``home`` and bring its database schema up to date."""
    os.environ["DIGEST_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance_digest.settings")
    import django

    if getattr(setup_django, "_home", None) is None:
        django.setup()
    elif setup_django._home != home:  # type: ignore[attr-defined]
        _switch_database(home)
    setup_django._home = home  # type: ignore[attr-defined]
    _keep_database_private()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def _keep_database_private() -> None:
    """Make the SQLite file (and so its -wal/-shm, which SQLite creates alike) readable by its owner only.

    It holds editors' sessions and password hashes and the subscribers'
    addresses: world-readable (the default umask), any local user could copy
    a session key and act as a signed-in editor. A file another user owns is
    left alone (its owner chose); ``secret_key`` is already private.
    """
    from django.conf import settings

    default = settings.DATABASES["default"]
    if default["ENGINE"] != "django.db.backends.sqlite3" or str(default["NAME"]).startswith(":memory:"):
        return
    path = Path(default["NAME"])
    try:
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists() and file.stat().st_uid == os.getuid() and file.stat().st_mode & 0o077:
                file.chmod(0o600)
    except FileExistsError:
        pass  # another process created it at the same moment
    except OSError:
        pass  # a read-only or foreign directory: opening the database reports what matters


def _switch_database(home: Path) -> None:
    """Point an already set-up process at another workspace's SQLite file.

    Lets one process (tests, the demo) open several workspaces in turn; a
    database named by URL is shared by all workspaces and stays as it is.
    """
    from django.conf import settings
    from django.db import connections

    default = settings.DATABASES["default"]
    if default["ENGINE"] != "django.db.backends.sqlite3":
        return
    connections.close_all()
    name = str(home / "digest.sqlite3")
    default["NAME"] = name
    connections.settings["default"]["NAME"] = name
    del connections["default"]


def init(path: Path, profile_text: str | None = None) -> Path:
    """Create a workspace at ``path`` (the directory may exist but not hold a profile)."""
    path = path.expanduser().resolve()
    if (path / PROFILE_NAME).exists():
        raise WorkspaceError(f"{path}: already a workspace ({PROFILE_NAME} exists); nothing changed")
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / PROFILE_NAME).write_text(profile_text or default_profile_text(), "utf-8")
        (path / PROFILE_NAME).chmod(0o600)  # it may come to hold a database URL with its password
        key = path / "secret_key"  # signs sessions and unsubscribe links (settings.py reads it)
        if not key.exists():
            import secrets

            key.write_text(secrets.token_urlsafe(50))
            key.chmod(0o600)
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot create a workspace there ({exc.strerror or exc})") from None
    setup_django(path)
    return path


def open_workspace(home: str | None) -> tuple[Path, Profile]:
    path = locate(home)
    profile = load_profile(path / PROFILE_NAME)
    setup_django(path)
    from django.utils import timezone

    timezone.activate(profile.zone)  # times this command prints are the digest's (settings.TIME_ZONE, per workspace)
    return path, profile


def settle_heap() -> None:
    """Load every view module, then move what start-up built out of the GC's way.

    The editor pulls in the pipeline (NumPy, SciPy, scikit-learn): hundreds of
    thousands of long-lived objects that every full garbage collection would
    otherwise walk again, adding ~100 ms to an unlucky request.
    """
    import gc

    from django.urls import get_resolver

    def load(patterns):
        for entry in patterns:
            load(getattr(entry, "url_patterns", []))

    load(get_resolver().url_patterns)
    from alliance_digest import services  # noqa: F401  (what the editor's views use)

    gc.collect()
    gc.freeze()
