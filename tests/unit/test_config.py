"""Installation settings read from the environment: the new tenant-safety knobs and their refusals."""

from __future__ import annotations

import pytest

from functions.config import DEFAULT_MACHINE_TYPES, ConfigError, Settings


def test_defaults_are_safe() -> None:
    settings = Settings.from_env({})
    assert settings.database == "(default)"
    assert settings.machine_types == DEFAULT_MACHINE_TYPES and "c3-standard-176" not in settings.machine_types
    assert settings.external_ips is False and settings.pod_service_account is None
    assert 0 < settings.resync_deadline < 540 and settings.controller_write_interval == 1.0


def test_installation_settings_from_the_environment() -> None:
    settings = Settings.from_env({
        "FIRECONTROL_DATABASE": "teal", "FIRECONTROL_MACHINE_TYPES": " e2-small, n2-standard-4 ,e2-small",
        "FIRECONTROL_EXTERNAL_IPS": "true", "FIRECONTROL_POD_SERVICE_ACCOUNT": "teal-pods@p.iam.gserviceaccount.com",
        "FIRECONTROL_RESYNC_DEADLINE": "120", "FIRECONTROL_CONTROLLER_WRITE_INTERVAL": "0",
    })
    assert settings.database == "teal"
    assert settings.machine_types == ("e2-small", "n2-standard-4")
    assert settings.external_ips is True
    assert settings.pod_service_account == "teal-pods@p.iam.gserviceaccount.com"
    assert (settings.resync_deadline, settings.controller_write_interval) == (120.0, 0.0)


@pytest.mark.parametrize(("env", "words"), [
    ({"FIRECONTROL_MACHINE_TYPES": "e2-micro"}, "FIRECONTROL_MACHINE_TYPE='e2-small' is not in"),
    ({"FIRECONTROL_RESYNC_DEADLINE": "600"}, "must be between"),
    ({"FIRECONTROL_RESYNC_DEADLINE": "soon"}, "is not a number"),
    ({"FIRECONTROL_EXTERNAL_IPS": "maybe"}, "must be true or false"),
    ({"FIRECONTROL_POD_STATUS_URL": "https://s.run.app"}, "FIRECONTROL_POD_SERVICE_ACCOUNT is not"),
    ({"FIRECONTROL_POD_STATUS_URL": "https://s.run.app", "FIRECONTROL_POD_SERVICE_ACCOUNT": "p@x",
      "FIRECONTROL_AGENT_HEARTBEAT": "120"}, "must be at least twice FIRECONTROL_AGENT_HEARTBEAT=120"),
])
def test_unusable_settings_are_named(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_agent_settings_that_work() -> None:
    env = {"FIRECONTROL_POD_STATUS_URL": "https://s.run.app", "FIRECONTROL_POD_SERVICE_ACCOUNT": "p@x",
           "FIRECONTROL_AGENT_HEARTBEAT": "90"}
    settings = Settings.from_env(env)
    assert (settings.agent_heartbeat, settings.heartbeat_timeout, settings.eviction_timeout) == (90, 180.0, 300.0)
    # On the emulators the agents' clock may run fast: the real-time relation is not checked.
    local = Settings.from_env({"FIRECONTROL_POD_STATUS_URL": "http://127.0.0.1:1/", "COMPUTE_API_ENDPOINT": "http://c",
                               "FIRECONTROL_HEARTBEAT_TIMEOUT": "10"})
    assert local.heartbeat_timeout == 10.0 and local.pod_service_account is None
