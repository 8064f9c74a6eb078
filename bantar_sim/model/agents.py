"""RTs and leaders as Mesa agents: thin views over the model's arrays.

The city holds ~1,600 RTs and ~6,500 leaders; their state lives in numpy arrays that the model updates
for all of them at once. These agents are what a user inspects (`model.rts[0].clean`,
`model.agents_by_type[Leader]`), and they always show the current array values.
"""
from __future__ import annotations

import mesa

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


class RT(mesa.Agent):
    """A rukun tetangga: the unit that proposes, is assessed and holds the Bantar label."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def subdistrict(self) -> str:
        return SUBDISTRICTS[self.model.city.rt_subdistrict[self.index]]

    @property
    def n_households(self) -> int:
        return int(self.model.city.rt_size[self.index])

    @property
    def households(self) -> range:
        start = int(self.model.city.rt_start[self.index])
        return range(start, start + self.n_households)

    @property
    def bantar_status(self) -> str:
        return STATUS_NAMES[self.model.rt_state.status[self.index]]

    @property
    def participation(self) -> float:
        return float(self.model.rt_state.participation[self.index])

    @property
    def clean(self) -> float:
        return float(self.model.rt_state.scores[0, self.index])

    @property
    def safe(self) -> float:
        return float(self.model.rt_state.scores[1, self.index])

    @property
    def smart(self) -> float:
        return float(self.model.rt_state.scores[2, self.index])

    @property
    def motivation(self) -> float:
        return float(self.model.rt_state.motivation[self.index])

    @property
    def rj_house(self) -> bool:
        return bool(self.model.rt_state.rj_house[self.index])

    @property
    def head(self) -> "Leader":
        return self.model.rt_heads[self.index]

    def __repr__(self):
        return (f"RT({self.index}, {self.subdistrict}, {self.n_households} households, {self.bantar_status}, "
                f"participation={self.participation:.2f})")


class Leader(mesa.Agent):
    """An RT head (structural) or a religious, traditional or youth figure (non-structural)."""

    def __init__(self, model, kind: str, rt: int, household: int, index: int):
        super().__init__(model)
        self.kind, self.rt, self.household, self.index = kind, rt, household, index

    @property
    def quality(self) -> float:
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
        return bool(self.model.households.x[self.household])

    @property
    def age_group(self) -> str:
        return AGE_GROUPS[self.model.households.age[self.household]]

    def __repr__(self):
        return f"Leader({self.kind}, RT {self.rt}, household {self.household}, effort={self.effort:.2f})"


__all__ = ["RT", "Leader", "STATUS_NAMES", "LEGAL_TRANSITIONS", "LEADER_KINDS",
           "NEVER", "PROPOSED", "BANTAR", "KENCANA", "LAPSED"]
