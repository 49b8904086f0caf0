"""Which addresses a service may send a key to, and how a job's rules meet its worker's.

The end-to-end cases (the service under uvicorn refusing configs and jobs) are in
tests/integration/test_secret_leaks.py; these pin the address classes a resolver can hand back.
"""

from __future__ import annotations

import ipaddress

import pytest

from pytest_connectors.imports.reach import LOCAL, Reach, address_problem

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "0.0.0.0",
    "::",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "fc00::1",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_a_job_runs_within_what_both_its_own_rules_and_its_worker_allow() -> None:
    queued = Reach.service(["A", "B"], private_destinations=True)
    assert Reach.from_snapshot(queued.snapshot()) == queued
    assert Reach.from_snapshot(None) == LOCAL and LOCAL.snapshot() is None
    assert queued.narrowed(LOCAL) == queued  # a standalone worker applies the job's rules
    assert queued.narrowed(Reach.service(["B", "C"])) == Reach.service(["B"])
    assert LOCAL.narrowed(Reach.service()) == Reach.service()
