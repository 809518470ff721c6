"""The writer's lease on an output root: one holder at a time, a second writer fails or waits, stale leases lapse."""

from __future__ import annotations

import json
import threading
import time

import pytest

from fluxcat.lease import LEASE_PATH, Lease, LeaseHeld, LeaseLost, read_lease
from fluxcat.store import Store


def test_second_writer_is_refused_with_the_holder_named(store):
    with Lease(store, owner="nightly run"):
        with pytest.raises(LeaseHeld) as refused:
            Lease(store, owner="ui rerun").acquire()
        assert "nightly run" in str(refused.value) and "lease_wait_seconds" in str(refused.value)
    assert read_lease(store) is None  # released on exit


def test_second_writer_waits_for_the_first_to_finish(store):
    first = Lease(store, owner="first", ttl=30)
    first.acquire()
    threading.Timer(0.5, first.release).start()
    started = time.monotonic()
    with Lease(store, owner="second", wait=20) as second:
        assert read_lease(store)["token"] == second.token
    assert 0.4 < time.monotonic() - started < 15


def test_waiting_gives_up_after_the_wait(store):
    with Lease(store, owner="first"):
        started = time.monotonic()
        with pytest.raises(LeaseHeld, match="after waiting 0.3 s"):
            Lease(store, owner="second", wait=0.3).acquire()
        assert time.monotonic() - started >= 0.3


def test_stale_lease_expires_and_is_taken_over(store):
    dead = Lease(store, owner="killed run", ttl=0.2)
    dead.acquire()  # never released, never renewed: like a run killed with -9
    time.sleep(0.3)
    with Lease(store, owner="next run") as lease:
        assert read_lease(store)["owner"] == "next run"
        with pytest.raises(LeaseLost, match="taken over by next run"):
            dead.check()  # the killed run, if it woke up, must not publish
        dead.release()  # and its release leaves the new holder's lease alone
        assert read_lease(store)["token"] == lease.token
        lease.check()


def test_a_killed_holder_on_this_host_is_taken_over_at_once(store):
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = Lease(store, owner="killed run", ttl=600)
    record = json.loads(killed._record())
    store.write_bytes(LEASE_PATH, json.dumps({**record, "pid": int(child.stdout)}).encode())  # that process is gone
    with Lease(store, owner="rerun") as lease:
        assert read_lease(store)["token"] == lease.token
    alive = Lease(store, owner="live run", ttl=600)
    alive.acquire()  # this process: alive, so its lease still holds
    with pytest.raises(LeaseHeld):
        Lease(store, owner="second").acquire()


def test_racing_writers_get_exactly_one_lease(store):
    leases = [Lease(store, owner=f"writer {n}") for n in range(8)]
    barrier, won = threading.Barrier(len(leases)), []

    def race(lease):
        barrier.wait()
        try:
            lease.acquire()
            won.append(lease)
        except LeaseHeld:
            pass

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and read_lease(store)["token"] == won[0].token


def test_heartbeat_keeps_a_live_lease(store):
    with Lease(store, owner="long run", ttl=0.6) as lease:
        time.sleep(1.5)  # longer than the ttl: renewals keep it
        with pytest.raises(LeaseHeld):
            Lease(store, owner="other").acquire()
        lease.check()


def test_unreadable_lease_object_does_not_block_forever(store):
    store.write_bytes(LEASE_PATH, b"not json")
    with Lease(store, owner="run") as lease:
        assert json.loads(store.read_bytes(LEASE_PATH))["token"] == lease.token


def test_bad_settings_fail_before_anything():
    with pytest.raises(ValueError, match="ttl"):
        Lease(Store("memory://x"), ttl=0)
    with pytest.raises(ValueError, match="wait"):
        Lease(Store("memory://x"), wait=-1)
