"""The pytest-free test-author API: conversations, tool-call assertions, latency figures."""
