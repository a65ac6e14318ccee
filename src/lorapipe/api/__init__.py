"""The HTTP API: OpenAI-compatible ``/v1`` routes over the job service. Never imports torch."""
