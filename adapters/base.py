"""The channel contract lives in the domain (`budbringer.channel`); re-exported here for the adapters."""

from budbringer.channel import Adapter, ChannelEnvironment, ChannelSettings, ForumAddressing, Registry, SharedLimit

__all__ = ["Adapter", "ChannelEnvironment", "ChannelSettings", "ForumAddressing", "Registry", "SharedLimit"]
