"""Saqshy crawlers: Scrapy spiders that collect public content with WARC evidence.

Standard Scrapy layout: ``settings`` (defaults), ``items``, ``middlewares``, ``pipelines``,
``spiders/``; page analysis lives in ``extraction/``, evidence in ``evidence``, the in-process
runner in ``runner`` and the command line in ``cli`` (mounted into ``saqshy``); sources to crawl,
SimHash and near-duplicate clusters are core: ``saqshy.services.sources``, ``saqshy.simhash`` and
``saqshy.services.clustering``.
"""
