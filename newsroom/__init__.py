"""newsroom: a news publisher's back end on Event Sourcing and CQRS, in one asyncio process."""

__version__ = "0.1.0"
