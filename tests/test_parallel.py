"""Big builds render and check DSC documents in worker processes: same bytes, same errors."""

from __future__ import annotations

import pytest

from builder import parallel
from builder.build import render
from builder.errors import InputError

from .conftest import EXAMPLE

def test_workers_make_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMFW_JOBS", "1")
    alone = render(EXAMPLE).files
    monkeypatch.setenv("CMFW_JOBS", "3")
    assert parallel.jobs(6) == 3
    assert render(EXAMPLE).files == alone


def test_an_error_in_a_worker_is_the_same_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers are forked (Linux), so they see this stand-in for a DSC emitter that refuses a policy.
    from builder.dsc import emit as dsc_emit
    from builder.errors import Problem

    original = dsc_emit.emit

    def refusing(policyset, moment):  # type: ignore[no-untyped-def]
        if any(p.key == "Laptops" for p in policyset.policies):
            raise InputError([Problem("policy 'ConfigMgr Clients - Laptops'", message="cannot be expressed")])
        return original(policyset, moment)

    monkeypatch.setattr(dsc_emit, "emit", refusing)
    messages = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("CMFW_JOBS", jobs)
        with pytest.raises(InputError) as info:
            render(EXAMPLE)
        messages.append(info.value.lines())
    assert messages[0] == messages[1] == ["policy 'ConfigMgr Clients - Laptops': error: cannot be expressed"]


def test_how_many_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CMFW_JOBS", raising=False)
    assert parallel.jobs(parallel.THRESHOLD - 1) == 1  # small builds never start a process
    monkeypatch.setenv("CMFW_JOBS", "1")
    assert parallel.jobs(1000) == 1
    monkeypatch.setenv("CMFW_JOBS", "many")
    assert parallel.jobs(5) == 1 and parallel.jobs(1000) >= 1
    monkeypatch.setenv("CMFW_JOBS", "4")
    assert parallel.jobs(2) == 2  # never more processes than pieces of work
