"""The other servers bench/turn_cost.py measures our bot against, each run as its own process."""
