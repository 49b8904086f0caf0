"""Launching local agent servers (``langgraph dev``, uvicorn) for tests and examples."""
