"""Sending an approved issue from the web: ``digest send`` in a process of its own, and its progress.

The delivery is the CLI's (:func:`alliance_digest.delivery.send_issue`): its
ledger makes a send exactly-once and resumable, so starting it again after a
crash or a pause only sends to whoever is still queued. The web worker only
starts the process and returns; the page then polls :func:`progress`.

Only one send runs at a time: the issue row is locked while the process is
started, and a send whose process still runs (``Issue.send_note`` names its
pid and host) refuses a second one; ``send_issue`` checks the same.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from django.db import transaction

from alliance_digest.db.models import Delivery, Issue, Subscriber
from alliance_digest.editor.actions import EditError, record_send


def log_path(profile, issue: Issue) -> Path:
    return Path(profile.base_dir) / "logs" / f"send-{issue.volume}-{issue.number}.log"


def running(issue: Issue) -> bool:
    from alliance_digest.delivery import _alive

    return issue.send_state == "sending" and _alive(issue.send_note)


def recipients(issue: Issue) -> int:
    """Active subscribers who have not had the issue yet (queued, or no ledger row)."""
    done = Delivery.objects.filter(issue=issue, status__in=[Delivery.Status.SENT, Delivery.Status.FAILED])
    return Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).exclude(
        pk__in=done.values("subscriber_id")).count()


def start(profile, issue: Issue, user) -> int:
    """Start ``digest send V.N`` in the background; returns the number of recipients it has to reach."""
    with transaction.atomic():
        fresh = Issue.objects.select_for_update().get(pk=issue.pk)
        if fresh.status == Issue.Status.DRAFT:
            raise EditError(f"Issue {fresh.key} is not approved yet: approve it before sending.")
        if running(fresh):
            raise EditError(f"A send of issue {fresh.key} is already running ({fresh.send_note}); "
                            "its progress is shown below.")
        count = recipients(fresh)
        if count == 0:
            raise EditError(f"Nobody is left to send issue {fresh.key} to: every active subscriber has it "
                            "(or there are no active subscribers).")
        if fresh.status == Issue.Status.APPROVED:  # the email links to the archive (as `digest send` does)
            from alliance_digest.editor.actions import publish

            fresh = publish(profile, fresh, user)
        log = log_path(profile, fresh)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DIGEST_HOME": str(profile.base_dir)}
        try:
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "alliance_digest", "--home", str(profile.base_dir), "send", fresh.key],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                    cwd=str(profile.base_dir), start_new_session=True)
        except OSError as exc:
            raise EditError(f"The send could not be started: {exc.strerror or exc} ({log}).") from None
        # reap it when it ends, so a finished send never looks alive to this process
        threading.Thread(target=process.wait, daemon=True, name=f"send-{fresh.key}").start()
        fresh.send_state, fresh.send_note = "sending", f"pid {process.pid} on {socket.gethostname()}"
        fresh.save(update_fields=["send_state", "send_note", "updated_at"])
        record_send(fresh, user, recipients=count, pid=process.pid)
    return count


def progress(profile, issue: Issue) -> dict:
    """Counts from the delivery ledger and the state of the send, for the progress panel."""
    from alliance_digest.delivery import ledger_summary

    ledger = ledger_summary(issue)
    sent, failed = ledger.get("sent", 0), ledger.get("failed", 0)
    queued = ledger.get("queued", 0) + ledger.get("sending", 0)
    total = sent + failed + queued
    alive = running(issue)
    state = issue.send_state or ""
    if state == "sending" and not alive:
        state = "stopped"
    note = issue.send_note if state in ("paused", "stopped") else ""
    if state == "stopped" and not note:
        note = _last_line(log_path(profile, issue))
    return {"sent": sent, "failed": failed, "queued": queued, "total": total, "state": state,
            "running": alive, "note": note, "done": sent + failed,
            "percent": round(100 * (sent + failed) / total) if total else 0}


def _last_line(path: Path) -> str:
    """The send process's last words (why a send stopped), from its log."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4000))
            lines = [line for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""
