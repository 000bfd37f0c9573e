"""Strategies for text from the open web: any Unicode, HTML-ish fragments, URL-ish strings."""

from __future__ import annotations

import json

from hypothesis import strategies as st

__all__ = ["any_text", "html_text", "json_values", "messages", "url_text", "web_text"]

# Any string Python can hold, lone surrogates and control characters included.
any_text = st.text(st.characters(codec=None), max_size=400)

_PIECES = st.sampled_from([
    "<p>", "</p>", "<div class='x'>", "</div>", "<br>", "<script>", "</script>", "<!--",
    "-->", "&amp;", "&#x0;", "&nbsp;", "<a href='https://x.example/'>", "</a>", "\n", "\r\n",
    " | ", " / ", " » ", "Share", "Cookies", "Read more", "Kilde: ", "Source: ", "©", "...",
    "The council said that the new bridge will open next year.", "Photo: AP", "(NTB)",
    "\u00a0", "\u200b", "ß", "İ", "Ǆ", "ﬁ", "hoá", "thuỷ", "\ufeff", "\x00",
])
web_text = st.lists(st.one_of(_PIECES, any_text), max_size=30).map("".join)
html_text = st.lists(_PIECES, max_size=60).map(lambda parts: "<html><body>" + "".join(parts))

url_text = st.one_of(
    any_text,
    st.builds(lambda scheme, host, path, query: f"{scheme}://{host}/{path}?{query}",
              st.sampled_from(["http", "https", "HTTP", "ftp", "javascript", ""]),
              st.one_of(st.sampled_from(["Example.COM", "www.x.example:443", "[::1",
                                          "b\u00fccher.example", "xn--bcher-kva.example.",
                                          "a:99999", ""]), st.text(max_size=20)),
              web_text, st.text(max_size=40)),
)

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
              any_text),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(any_text, children, max_size=4)),
    max_leaves=12)


def _encode_article(fields: dict) -> bytes:
    return json.dumps(fields).encode("utf-8", errors="surrogatepass")


_ARTICLE_FIELDS = st.fixed_dictionaries({}, optional={
    "id": st.one_of(any_text, st.integers()), "url": st.one_of(url_text, st.integers()),
    "title": st.one_of(any_text, st.none()), "body": st.one_of(web_text, st.none()),
    "html": st.one_of(html_text, st.none()), "source": any_text,
    "language": st.one_of(st.sampled_from(["en", "EN-us", "nb", "no", "vi", "xx", ""]),
                          any_text),
    "published_at": st.one_of(st.sampled_from([
        "2026-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2999-12-31T23:59:59+14:00",
        "0001-01-01", "yesterday", ""]), st.integers())})

messages = st.one_of(st.binary(max_size=300), _ARTICLE_FIELDS.map(_encode_article),
                     json_values.map(lambda v: json.dumps(v).encode(
                         "utf-8", errors="surrogatepass")))
