"""Developer tools: the local Teams client (Agents Playground) and the Teams app package."""
