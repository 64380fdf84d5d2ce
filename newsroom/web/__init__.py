"""The web layer: one aiohttp application serving GraphQL, health checks and pages."""
