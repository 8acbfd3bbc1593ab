"""Swarms: a set of member agents and the strategy that coordinates them."""
