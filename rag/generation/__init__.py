"""Prompt and LLM: the messages sent, the backends that stream the reply, the repetition guard."""
