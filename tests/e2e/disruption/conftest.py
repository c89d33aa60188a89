"""The disruption tests drive the controller as users run it: the provisioning suite's fixtures."""

from tests.e2e.provisioning.conftest import provisioning_ready, prov  # noqa: F401 - pytest fixtures
