"""Arena services: load ORC ratings into a run and persist what its trials changed."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from apps.runs.models import Run

from .models import Rating, Trial

logger = logging.getLogger(__name__)


def infer_domains(texts: list[str], domains: dict[str, str]) -> list[str]:
    """For each text, the domain whose description it is closest to (cosine of sentence embeddings)."""
    from apps.engine.embeddings import shared_embedder

    names = list(domains)
    vectors = shared_embedder().embed([*texts, *(domains[n] for n in names)])
    similarity = np.asarray(vectors[: len(texts)]) @ np.asarray(vectors[len(texts) :]).T
    return [names[int(i)] for i in similarity.argmax(axis=1)]


def orc_start_context(run: Run, strategy) -> dict[str, Any]:
    """Ratings of the run's agents per domain from earlier runs, and the inferred domain of each
    task that has none. Called before the run's lock is taken (the embedder may take seconds to load)."""
    tasks = strategy.tasks_for(run.task)
    unknown = [i for i, t in enumerate(tasks) if t["domain"] is None]
    inferred: list[str | None] = [t["domain"] for t in tasks]
    if unknown:
        descriptions = {name: spec["description"] for name, spec in strategy.domains.items()}
        for i, domain in zip(unknown, infer_domains([tasks[i]["task"] for i in unknown], descriptions), strict=True):
            inferred[i] = domain
    ids = {run.agent_id(name): name for name in strategy.agents() if run.agent_id(name) is not None}
    ratings: dict[str, dict[str, Any]] = {}
    for row in Rating.objects.filter(agent_id__in=ids, domain__in=list(strategy.domains)):
        ratings.setdefault(row.domain, {})[ids[row.agent_id]] = row.as_record()
    return {"ratings": ratings, "domains": inferred}


def record_orc(run: Run) -> None:
    """Persist the ratings and new trials in the run's state. Call holding the run lock."""
    state = run.state or {}
    leaders = state.get("leaders", {})
    for domain, agents in state.get("ratings", {}).items():
        for name, record in agents.items():
            agent_id = run.agent_id(name)
            if agent_id is None:
                continue
            Rating.objects.update_or_create(
                agent_id=agent_id,
                domain=domain,
                defaults={
                    "owner_id": run.owner_id,
                    "rating": record["rating"],
                    "wins": record["wins"],
                    "losses": record["losses"],
                    "ties": record["ties"],
                    "trials": record["trials"],
                    "defence_streak": record["defence_streak"],
                    "is_leader": leaders.get(domain) == name,
                },
            )
    trials = state.get("trials", [])
    known = Trial.objects.filter(run=run).count()
    Trial.objects.bulk_create(
        [
            Trial(
                run=run,
                owner_id=run.owner_id,
                number=known + i + 1,
                domain=t["domain"],
                task=t["task_text"],
                leader=t["leader"],
                challengers=t["challengers"],
                winner=t["winner"],
                tie=t["tie"],
                verdict=t["verdict"],
                ratings_before=t["ratings_before"],
                ratings_after=t["ratings_after"],
                leader_after=t["leader_after"],
            )
            for i, t in enumerate(trials[known:])
        ]
    )


def leaderboards(user, *, domain: str | None = None) -> list[dict[str, Any]]:
    """The user's ratings grouped by domain, best first."""
    rows = Rating.objects.filter(owner=user).select_related("agent")
    if domain:
        rows = rows.filter(domain=domain)
    boards: dict[str, list[Rating]] = {}
    for row in rows.order_by("domain", "-rating"):
        boards.setdefault(row.domain, []).append(row)
    return [{"domain": d, "rows": r, "leader": next((x for x in r if x.is_leader), None)} for d, r in boards.items()]
