import pytest

# A small city that still has every sub-district (scale >= 0.0114) and runs in well under a second.
SMALL = {"scale": 0.05, "households_per_rt": 25}


@pytest.fixture
def small_params():
    return dict(SMALL)
