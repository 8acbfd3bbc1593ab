"""SwarmWeb's engine: plain Python, no Django.

Value objects, the strategy protocol and strategies, the agent-step executor
with its providers, and the rules shared by the Django apps. Everything here
runs and is tested without a database, a broker or a network.
"""
