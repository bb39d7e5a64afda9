"""Fixtures of the client, contract and inspector tests. A live `worldgpt serve` is given by the environment
(Tests/ServerTests starts one on a loopback port over a store made by a real rollout, then runs pytest):

WORLDGPT_SERVE_URL  the server's base URL          WORLDGPT_STORE  the store it serves (--db)
WORLDGPT_BIN        the `worldgpt` CLI             WORLDGPT_DATA   the SimWorld folder the store was rolled out from
WORLDGPT_TOKEN      the server's --token (the tests' server requires one, so every call also exercises it)
"""
import os

import pytest


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: these tests run against a live server (make test starts one; see conftest.py)")
    return value


@pytest.fixture(scope="session")
def server_url():
    return _env("WORLDGPT_SERVE_URL")


@pytest.fixture(scope="session")
def store():
    return _env("WORLDGPT_STORE")


@pytest.fixture(scope="session")
def worldgpt():
    return _env("WORLDGPT_BIN")


@pytest.fixture(scope="session")
def data():
    return _env("WORLDGPT_DATA")


@pytest.fixture(scope="session")
def token():
    return _env("WORLDGPT_TOKEN")
