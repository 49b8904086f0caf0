"""Sans-I/O request building and reply parsing for OpenAI-style HTTP agents and LangGraph."""
