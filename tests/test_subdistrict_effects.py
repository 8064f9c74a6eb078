"""Named sub-district effects (issue 14, item 4; docs/ODD.md 7.4, 7.5).

Leadership L_s = subdistrict_sd · z_s and screening effort exp(screening_sd · u_s) on the forwarding slots; z_s,
u_s drawn per run from N(0, 1) ("random") or read from the named parameters ("named"). The random stream after
the effects is the same in both modes, so named effects equal to a run's own draws reproduce that run.
"""
from __future__ import annotations

import numpy as np

from bantar_sim import BantarModel
from bantar_sim.model.data import SUBDISTRICTS
from bantar_sim.model.specs import subdistrict_slug

SMALL = {"scale": 0.05, "households_per_rt": 10.0, "end_year": 2016}


def test_named_effects_replace_the_draws_and_scale_the_forwarding_slots():
    z = np.linspace(-1.5, 1.5, len(SUBDISTRICTS))
    u = np.linspace(1.0, -1.0, len(SUBDISTRICTS))
    named = {"subdistrict_effects": "named", "subdistrict_sd": 0.4, "screening_sd": 0.3,
             **{f"leadership_z_{subdistrict_slug(s)}": float(v) for s, v in zip(SUBDISTRICTS, z, strict=True)},
             **{f"screening_u_{subdistrict_slug(s)}": float(v) for s, v in zip(SUBDISTRICTS, u, strict=True)}}
    m = BantarModel(**SMALL, **named, seed=3)
    assert np.allclose(m.city.subdistrict_leadership, 0.4 * z)
    assert np.allclose(m.city.subdistrict_screening, 0.3 * u)
    flat = BantarModel(**SMALL, **{**named, "screening_sd": 0.0}, seed=3)
    assert np.allclose(m.forwarding_slots() / flat.forwarding_slots(), np.exp(0.3 * u))


def test_named_effects_equal_to_a_runs_own_draws_reproduce_that_run():
    random = BantarModel(**SMALL, subdistrict_sd=0.5, screening_sd=0.4, seed=11)
    z = random.city.subdistrict_leadership / 0.5
    u = random.city.subdistrict_screening / 0.4
    named = {f"leadership_z_{subdistrict_slug(s)}": float(v) for s, v in zip(SUBDISTRICTS, z, strict=True)}
    named |= {f"screening_u_{subdistrict_slug(s)}": float(v) for s, v in zip(SUBDISTRICTS, u, strict=True)}
    again = BantarModel(**SMALL, subdistrict_sd=0.5, screening_sd=0.4, subdistrict_effects="named", seed=11, **named)
    random.run_model()
    again.run_model()
    assert np.array_equal(random.rec["won"], again.rec["won"])
    assert np.array_equal(random.rec["forwarded"], again.rec["forwarded"])


def test_screening_sd_zero_leaves_every_subdistrict_its_equal_slots():
    m = BantarModel(**SMALL, screening_sd=0.0, seed=5)
    p = m.p
    assert np.allclose(m.forwarding_slots(),
                       p.subdistrict_capacity * p.scale + p.subdistrict_capacity_per_rt * m.city.rt_counts)
