"""OpenTelemetry traces as native conversations: OTLP decoding, the LLM conventions, assembly."""
