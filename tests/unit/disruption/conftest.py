"""One catalog for the disruption tests (loading it is the slow part of a test module)."""

import pytest

from provisioner.catalog.catalog import load_local_catalog
from tests.unit.provisioning.world import ZONES


@pytest.fixture(scope="module")
def catalog():
    return load_local_catalog("us-east-1", zones=ZONES)
