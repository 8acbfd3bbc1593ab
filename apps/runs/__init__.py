"""Runs: executing a swarm on a task, its steps (the trajectory), rooms, messages,
human requests and the append-only event log."""
