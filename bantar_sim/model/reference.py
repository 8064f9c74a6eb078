"""The household rule written the straightforward way: one Mesa agent per household, networkx neighbours.

It is the yardstick for the vectorised `bantar_sim.model.rules.household_rule`: the tests check that the two agree in
distribution on a small city, and benchmarks/bench_model.py times both on the full city. It is not used
by the model itself.
"""
from __future__ import annotations

import math

import mesa
import networkx as nx
import numpy as np


class ReferenceHousehold(mesa.Agent):
    """One household stepping the household rule on its own, the textbook way.

    Parameters
    ----------
    model : ReferenceHouseholdModel
        The model holding the graph and the parameters.
    node : int
        The household's node in the graph.
    static : float
        The yearly part of its utility (as the vectorised model computes it).
    rt_term : float
        Its RT's term (head mobilisation and motivation), held fixed.
    hazard : float
        Its base monthly probability of learning of the programme.
    aware : bool
        Aware at the start.
    x : float
        Taking part at the start (0/1).
    """

    def __init__(self, model, node: int, static: float, rt_term: float, hazard: float, aware: bool, x: float):
        super().__init__(model)
        self.node, self.static, self.rt_term, self.hazard = node, static, rt_term, hazard
        self.aware, self.participating = bool(aware), bool(x)
        self._next = self.participating

    def decide(self):
        """Choose next month's participation and awareness from the neighbours' current choices (not yet applied)."""
        p = self.model.p
        neighbours = list(self.model.graph.neighbors(self.node))
        share = (sum(self.model.by_node[j].participating for j in neighbours) / len(neighbours)) if neighbours else 0.0
        u = self.static + p.awareness_weight * self.aware + p.social_influence * share + self.rt_term
        prob = 1.0 / (1.0 + math.exp(-u))
        rng = self.model.rng
        self._next = rng.random() < prob
        if p.revision_rate < 1.0 and rng.random() >= p.revision_rate:
            self._next = self.participating
        if not self.aware and rng.random() < self.hazard + p.awareness_contagion * share:
            self._learned = True
        else:
            self._learned = False

    def commit(self):
        """Apply the choice made in `decide` (synchronous update, as the vectorised rule)."""
        self.participating = self._next
        if self._learned:
            self.aware = True


class ReferenceHouseholdModel(mesa.Model):
    """Households of a city (graph, static utilities, RT terms) stepping the household rule one by one.

    Parameters
    ----------
    graph : networkx.Graph
        The household network (node i = household i).
    static, rt_term, hazard : array_like
        Per household: yearly utility part, RT term, base awareness hazard.
    aware, x : array_like
        Per household: initial awareness and participation.
    params : BantarParams
        The parameters the rule reads.
    rng : optional
        Seed or Generator of this model's own stream.
    """

    def __init__(self, graph: nx.Graph, static, rt_term, hazard, aware, x, params, rng=None):
        super().__init__(rng=rng)
        self.graph, self.p = graph, params
        self.by_node = {}
        for node in range(len(static)):
            a = ReferenceHousehold(self, node, float(static[node]), float(rt_term[node]), float(hazard[node]),
                                   aware[node], x[node])
            self.by_node[node] = a

    def step(self):
        """One month: every household decides, then all commit."""
        # Synchronous: everyone decides on last month's choices, then all commit (as the vectorised rule).
        self.agents.do("decide")
        self.agents.do("commit")

    def participation(self) -> np.ndarray:
        """Participation (0/1 floats) of every household, in node order."""
        return np.array([self.by_node[i].participating for i in range(len(self.by_node))], dtype=float)

    def awareness(self) -> np.ndarray:
        """Awareness of every household, in node order."""
        return np.array([self.by_node[i].aware for i in range(len(self.by_node))], dtype=bool)


def reference_from_model(model, rng=None) -> ReferenceHouseholdModel:
    """A reference model holding `model`'s households in their current state, with RT terms frozen.

    Why frozen: the comparison is of the household rule alone; RT dynamics would add noise that is not
    about the rule.

    Parameters
    ----------
    model : BantarModel
        A constructed (possibly stepped) model.
    rng : optional
        Seed or Generator for the reference model's draws.

    Returns
    -------
    ReferenceHouseholdModel
        Ready to `step()`; compare its `participation()` with the vectorised rule's.
    """
    c, p = model.city, model.p
    rt_term = np.repeat(model.rt_term(), c.rt_size)
    hazard = model._dissemination + model._adopt_hazard[model.households.rt]
    graph = nx.from_scipy_sparse_array(c.adjacency)
    hh = model.households
    return ReferenceHouseholdModel(graph, model._static, rt_term, hazard, hh.aware, hh.x, p, rng=rng)
