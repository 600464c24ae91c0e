"""Guards for agent frameworks. Each module imports its framework only when
imported itself: ``ward.integrations.openai_agents``,
``ward.integrations.langchain``, ``ward.integrations.mcp``."""
