"""A worker's pool children start within Celery's process start-up limit: the heavy warm-up (torch, the ML
library, one small fit, the templates a refit renders) runs once in the worker's main process before it forks, and
a child only does what cannot be inherited (its own event loop, its torch threads)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The signals in the order a prefork worker sends them: ``worker_init`` in the main process, then a fork, then
# ``worker_process_init`` in the child. Prints what the child had to import itself and whether it can fit.
_PREFORK = """
import os, sys, django
django.setup()
import workers.celery_app
from celery import signals
signals.worker_init.send(sender=None)
in_parent = {m for m in ("torch", "personalization.user_model", "workers.refit") if m in sys.modules}
print("PARENT:" + ",".join(sorted(in_parent)), flush=True)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    before = set(sys.modules)
    signals.worker_process_init.send(sender=None)
    imported = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("torch", "personalization"))
    import torch
    from personalization.user_model import user_fit
    diffs = torch.linspace(-1.0, 1.0, 24, dtype=torch.float64).reshape(3, 8)
    user_fit(diffs=diffs, outcomes=torch.tensor([1, -1, 0]), prior_precision=1.0, tie_strength=1.0, device="cpu")
    os.write(w, ("CHILD:" + ",".join(imported) + f"|THREADS:{torch.get_num_threads()}").encode())
    os._exit(0)
os.close(w)
_, status = os.waitpid(pid, 0)
print(os.read(r, 100000).decode(), "STATUS:", status, flush=True)
"""


def test_heavy_warm_up_runs_before_the_fork_and_the_child_only_sets_itself_up(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PREFORK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "webapp.settings.base",
            "TAILOR_HOME": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
            "TAILOR_TORCH_THREADS": "2",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "PARENT:personalization.user_model,torch,workers.refit" in result.stdout, result.stdout
    assert "CHILD:|" in result.stdout, result.stdout  # nothing heavy left to import after the fork
    # the child's torch threads are its own (set after the fork) and a fit there runs to the end
    assert "THREADS:2" in result.stdout and "STATUS: 0" in result.stdout, result.stdout


def test_the_process_start_up_limit_leaves_room_for_a_busy_machine() -> None:
    from workers.celery_app import app

    # Celery's default (4 s) was shorter than the old per-child warm-up on this 2-core machine (2.8-4.2 s idle)
    assert app.conf.worker_proc_alive_timeout >= 15
