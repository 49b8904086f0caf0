"""Leaf helpers every layer may use: atomic writes, paths, ${VAR} references, secrets."""
