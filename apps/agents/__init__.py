"""Agents: who acts in a swarm, with which provider, instructions and config."""
