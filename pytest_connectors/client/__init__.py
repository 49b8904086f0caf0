"""Calling agents: the invoke/test flows and the sync and async clients that perform them."""
