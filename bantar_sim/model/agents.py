"""RTs and leaders as Mesa agents: thin views over the model's arrays.

The city holds ~1,600 RTs and ~6,500 leaders; their state lives in numpy arrays that the model updates
for all of them at once. These agents are what a user inspects (`model.rts[0].clean`,
`model.agents_by_type[Leader]`), and they always show the current array values.
"""
from __future__ import annotations

import mesa
import numpy as np

from bantar_sim.model.city import AGE_GROUPS, LEADER_KINDS
from bantar_sim.model.data import SUBDISTRICTS

NEVER, PROPOSED, BANTAR, KENCANA, LAPSED = 0, 1, 2, 3, 4
STATUS_NAMES = ("never proposed", "proposed", "Bantar", "Kencana", "lapsed")
# Legal year-to-year status changes (checked by the tests): a proposal may win in the same year.
LEGAL_TRANSITIONS = {
    NEVER: {NEVER, PROPOSED, BANTAR},
    PROPOSED: {PROPOSED, BANTAR},
    BANTAR: {BANTAR, KENCANA, LAPSED},
    KENCANA: {KENCANA, LAPSED},
    LAPSED: {LAPSED, BANTAR},  # re-winning only when allow_repeat_wins
}


def labelled(status: np.ndarray) -> np.ndarray:
    """Which RTs hold the label (Bantar or Kencana).

    Two comparisons rather than `np.isin`: ~10x cheaper on 1,600 RTs, and the model asks several times a month.

    Parameters
    ----------
    status : numpy.ndarray
        RT status codes (NEVER, PROPOSED, BANTAR, KENCANA, LAPSED).

    Returns
    -------
    numpy.ndarray
        Boolean mask, True where the status is BANTAR or KENCANA.
    """
    return (status == BANTAR) | (status == KENCANA)


class RT(mesa.Agent):
    """A rukun tetangga: the unit that proposes, is assessed and holds the Bantar label.

    A view: every attribute reads the model's arrays (`model.rt_state`, `model.city`), so it is always
    current and costs nothing while nobody looks.

    Parameters
    ----------
    model : BantarModel
        The model whose arrays this RT views.
    index : int
        The RT's index in those arrays.
    """

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def subdistrict(self) -> str:
        """The RT's sub-district (one of the 11 of Table 3)."""
        return SUBDISTRICTS[self.model.city.rt_subdistrict[self.index]]

    @property
    def n_households(self) -> int:
        """Households in the RT."""
        return int(self.model.city.rt_size[self.index])

    @property
    def households(self) -> range:
        """Indices of the RT's households in `model.households` (households are grouped by RT)."""
        start = int(self.model.city.rt_start[self.index])
        return range(start, start + self.n_households)

    @property
    def bantar_status(self) -> str:
        """Status name: never proposed, proposed, Bantar, Kencana or lapsed."""
        return STATUS_NAMES[self.model.rt_state.status[self.index]]

    @property
    def participation(self) -> float:
        """Share of the RT's households taking part this month."""
        return float(self.model.rt_state.participation[self.index])

    @property
    def clean(self) -> float:
        """Clean score, 0–1."""
        return float(self.model.rt_state.scores[0, self.index])

    @property
    def safe(self) -> float:
        """Safe score, 0–1."""
        return float(self.model.rt_state.scores[1, self.index])

    @property
    def smart(self) -> float:
        """Smart score, 0–1."""
        return float(self.model.rt_state.scores[2, self.index])

    @property
    def motivation(self) -> float:
        """Campaign and award motivation (waning after the assessment)."""
        return float(self.model.rt_state.motivation[self.index])

    @property
    def incentive(self) -> float:
        """Standing incentive: expected cost of stopping, staged tranches due, Kencana prospect (model.incentives)."""
        return float(self.model.rt_state.incentive[self.index])

    @property
    def rj_house(self) -> bool:
        """Whether the RT has built a Restorative Justice house (Kencana tier)."""
        return bool(self.model.rt_state.rj_house[self.index])

    @property
    def head(self) -> Leader:
        """The RT's head as a `Leader` agent."""
        return self.model.rt_heads[self.index]

    def __repr__(self):
        return (f"RT({self.index}, {self.subdistrict}, {self.n_households} households, {self.bantar_status}, "
                f"participation={self.participation:.2f})")


class Leader(mesa.Agent):
    """An RT head (structural) or a religious, traditional or youth figure (non-structural).

    A view over the model's arrays, like `RT`.

    Parameters
    ----------
    model : BantarModel
        The model whose arrays this leader views.
    kind : str
        "rt_head", "religious", "traditional" or "youth".
    rt : int
        Index of the leader's RT.
    household : int
        Index of the leader's household.
    index : int
        Index in the head arrays (RT heads) or in the informal-leader arrays.
    """

    def __init__(self, model, kind: str, rt: int, household: int, index: int):
        super().__init__(model)
        self.kind, self.rt, self.household, self.index = kind, rt, household, index

    @property
    def quality(self) -> float:
        """RT head: leadership quality, 0–1; informal leaders: 1 (their weight is their engagement)."""
        if self.kind == "rt_head":
            return float(self.model.rt_state.head_quality[self.index])
        return 1.0

    @property
    def effort(self) -> float:
        """RT head: organising effort; informal leader: engagement in the programme (0–1)."""
        if self.kind == "rt_head":
            return float(self.model.rt_state.head_effort[self.index])
        return float(self.model.leader_engagement[self.index])

    @property
    def participating(self) -> bool:
        """Whether the leader's own household takes part this month."""
        return bool(self.model.households.x[self.household])

    @property
    def age_group(self) -> str:
        """Age group of the leader's household: youth, adult or elder."""
        return AGE_GROUPS[self.model.households.age[self.household]]

    def __repr__(self):
        return f"Leader({self.kind}, RT {self.rt}, household {self.household}, effort={self.effort:.2f})"


__all__ = ["RT", "Leader", "STATUS_NAMES", "LEGAL_TRANSITIONS", "LEADER_KINDS", "labelled",
           "NEVER", "PROPOSED", "BANTAR", "KENCANA", "LAPSED"]
