"""Forum pages where one page holds many posts: one rule per layout, each post its own item.

A rule names the CSS of a post container and, inside it, of the post id, author, body and date.
The first rule that finds at least one post with a body wins; a page no rule matches is an
ordinary page. Rules cover the common engines (phpBB, XenForo, vBulletin, Discourse, SMF,
Invision) and schema.org markup (``DiscussionForumPosting``/``Comment``), which many custom
forums emit. Add a rule here for a new layout; keep it to selectors, never code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import lxml.html
from parsel import Selector

from crawlers.extraction.text import element_text


@dataclass(frozen=True)
class ForumRule:
    name: str
    post: str
    body: str
    author: str
    post_id: str = "::attr(id)"
    date: str | None = None


@dataclass(frozen=True)
class ForumPost:
    post_id: str
    author: str | None
    text: str
    published_at: datetime | None
    rule: str
    # Image references in the post's body, as written (the spider resolves them).
    images: tuple[str, ...] = ()


RULES: tuple[ForumRule, ...] = (
    ForumRule(
        "xenforo",
        post="article.message[data-author]",
        body=".bbWrapper",
        author="::attr(data-author)",
        post_id="::attr(data-content), ::attr(id)",
        date="time::attr(datetime)",
    ),
    ForumRule(
        "phpbb",
        post="div.post[id^=p]",
        body="div.content",
        author=".author .username::text, .author a::text, .postprofile .username::text",
        date=".author time::attr(datetime)",
    ),
    ForumRule(
        "vbulletin",
        post="li.postcontainer, li.postbitlegacy, div.postcontainer",
        body=".postcontent, blockquote.postcontent, .post_message",
        author=".username strong::text, .username::text",
        date=".postdate .date::text",
    ),
    ForumRule(
        "discourse",
        post="div.topic-post, div.crawler-post",
        body=".cooked, .post",
        author=".creator [itemprop=name]::text, .username a::text, .names a::text",
        post_id="::attr(data-post-id), ::attr(id)",
        date="time::attr(datetime), [itemprop=datePublished]::attr(datetime)",
    ),
    ForumRule(
        "smf",
        post="div.windowbg[id^=msg], div.windowbg2[id^=msg]",
        body="div.inner, div.post",
        author=".poster h4 a::text, .poster h4::text",
    ),
    ForumRule(
        "invision",
        post="article[id^=elComment_]",
        body="[data-role=commentContent]",
        author=".cAuthorPane_author a::text, [itemprop=author] [itemprop=name]::text",
        date="time::attr(datetime)",
    ),
    ForumRule(
        "schema.org",
        post="[itemtype*='schema.org/Comment'], [itemtype*='DiscussionForumPosting']",
        body="[itemprop=text], [itemprop=articleBody]",
        author="[itemprop=author] [itemprop=name]::text, [itemprop=author]::text",
        post_id="::attr(id), ::attr(itemid), [itemprop=identifier]::text",
        date="[itemprop=datePublished]::attr(datetime), [itemprop=datePublished]::attr(content)",
    ),
    ForumRule(
        "data-attributes",
        post="[data-post-id]",
        body="[data-post-body], .post-body, .message-body",
        author="::attr(data-author), [data-post-author]::text, .post-author::text",
        post_id="::attr(data-post-id)",
        date="time::attr(datetime)",
    ),
)

_ID_DIGITS = re.compile(r"(\d+)")


def _first(selector: Selector, css: str | None) -> str | None:
    if not css:
        return None
    for part in css.split(","):
        value = selector.css(part.strip()).get()
        if value and value.strip():
            return value.strip()
    return None


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


_ANY_POST = ", ".join(rule.post for rule in RULES)


def extract_posts(page: Selector, max_chars: int = 200_000) -> list[ForumPost]:
    if not page.css(_ANY_POST):  # one query rules out the common case: not a forum page
        return []
    for rule in RULES:
        posts: list[ForumPost] = []
        for index, node in enumerate(page.css(rule.post)):
            body = node.css(rule.body.split(",")[0].strip()) or node.css(rule.body)
            if not body:
                continue
            element = lxml.html.fromstring(body[0].get())
            text = element_text(element)[:max_chars]
            if not text:
                continue
            raw_id = _first(node, rule.post_id)
            match = _ID_DIGITS.search(raw_id or "")
            post_id = match.group(1) if match else str(index + 1)
            author = _first(node, rule.author)
            posts.append(
                ForumPost(
                    post_id=post_id,
                    author=author[:500] if author else None,
                    text=text,
                    published_at=_parse_date(_first(node, rule.date)),
                    rule=rule.name,
                    images=tuple(str(v) for v in element.xpath(".//img/@src | .//img/@data-src")[:32]),
                )
            )
        if posts:
            return posts
    return []
