"""Arena services: load ORC ratings and SAO curriculum progress into a run, and persist what
its transitions changed (called by the run service under the run's lock, see ``apps.runs.hooks``)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from apps.engine.strategies.sao import reward_sparkline
from apps.runs.models import Run

from .models import CurriculumAttempt, CurriculumProgress, Rating, Trial

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


# ---- SAO: curriculum progress -------------------------------------------------------------


def sao_start_context(run: Run, strategy) -> dict[str, Any]:
    """Each climbing agent's persisted progress in this swarm's curriculum."""
    ids = {run.agent_id(name): name for name in strategy.agents if run.agent_id(name) is not None}
    rows = CurriculumProgress.objects.filter(swarm_id=run.swarm_id, agent_id__in=ids)
    return {"progress": {ids[row.agent_id]: row.as_record() for row in rows}}


def record_sao(run: Run) -> None:
    """Persist the attempts settled since the last transition and the progress of their agents.
    Call holding the run lock, in the transaction that saved the run's state."""
    history = (run.state or {}).get("history", [])
    known = CurriculumAttempt.objects.filter(run=run).count()
    new = [h for h in history[known:] if run.agent_id(h["agent"]) is not None]
    if not new:
        return
    CurriculumAttempt.objects.bulk_create(
        [
            CurriculumAttempt(
                run=run,
                swarm_id=run.swarm_id,
                agent_id=run.agent_id(h["agent"]),
                number=h["n"],
                level=h["level"],
                task=h["task"],
                expected=h["expected"] or "",
                answer=h["answer"],
                passed=h["passed"],
                reason=h["reason"],
                latency_ms=max(0, h["latency_ms"]),
                reward=h["reward"],
                total_after=h["total_after"],
                level_after=h["level_after"],
            )
            for h in new
        ]
    )
    agents = run.state["agents"]
    for name in dict.fromkeys(h["agent"] for h in new):
        record = agents[name]
        CurriculumProgress.objects.update_or_create(
            swarm_id=run.swarm_id,
            agent_id=run.agent_id(name),
            defaults={
                "owner_id": run.owner_id,
                **{key: record[key] for key in ("level", "total_reward", "attempts", "passes", "fails")},
                "reached_top": record["reached_top"],
                "level_attempts": record["level_attempts"],
            },
        )


def curriculum(swarm) -> dict[str, Any]:
    """A swarm's curriculum standings (best first), each with its reward history, and the latest attempts."""
    series: dict[int, list[float]] = {}
    history = CurriculumAttempt.objects.filter(swarm=swarm).order_by("created_at", "id")
    for row in history.values("agent_id", "total_after"):
        series.setdefault(row["agent_id"], []).append(row["total_after"])
    rows = CurriculumProgress.objects.filter(swarm=swarm).select_related("agent")
    return {
        "rows": [{"progress": r, "spark": reward_sparkline(series.get(r.agent_id, [])[-200:])} for r in rows],
        "attempts": CurriculumAttempt.objects.filter(swarm=swarm).select_related("agent", "run")[:100],
    }
