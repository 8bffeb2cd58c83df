"""Pure functions that turn hostile bytes into clean fields: charset, canonical URL, language, text.

Nothing here touches the network, the store or Scrapy, so the heavy part (``page.extract_page``)
can run in a worker process.
"""
