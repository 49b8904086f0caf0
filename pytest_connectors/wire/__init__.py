"""Sans-I/O request building and reply parsing: OpenAI-style HTTP agents, LangGraph, OTLP."""
