"""Spiders, one per source kind: ``site`` (sites and forums), ``telegram``, ``feed``."""

from crawlers.spiders.feed import FeedSpider
from crawlers.spiders.site import SiteSpider
from crawlers.spiders.telegram import TelegramSpider

SPIDERS = {"site": SiteSpider, "forum": SiteSpider, "telegram": TelegramSpider, "feed": FeedSpider}

__all__ = ["SPIDERS", "FeedSpider", "SiteSpider", "TelegramSpider"]
