"""Faithful fakes of the remote services import connectors read, served by uvicorn in tests."""
