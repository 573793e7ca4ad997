"""The page templates (Jinja2, autoescaped). Kept in Python so they ship with the package without package-data."""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined

_BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{{ title }}{% endblock %}</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
  header { background: #16324f; color: #fff; padding: .6rem 1.2rem; }
  header a { color: #fff; text-decoration: none; font-weight: 600; }
  main { display: flex; gap: 1.5rem; padding: 1rem 1.2rem; max-width: 1200px; }
  aside { width: 250px; flex: none; }
  section { flex: 1; min-width: 0; }
  fieldset { border: 1px solid #d5d9e0; background: #fff; margin: 0 0 .8rem; padding: .4rem .7rem; }
  legend { font-weight: 600; text-transform: capitalize; }
  label { display: block; }
  .count { color: #667; font-size: .85em; }
  ol.hits { list-style: none; padding: 0; }
  li.hit { background: #fff; border: 1px solid #d5d9e0; padding: .6rem .8rem; margin-bottom: .6rem; }
  .meta { color: #556; font-size: .85em; }
  .tag { display: inline-block; background: #e7eef7; border-radius: 3px; padding: 0 .35em; margin-right: .25em;
         font-size: .8em; }
  mark { background: #ffe58a; }
  .error { color: #a00; }
  table { border-collapse: collapse; } td, th { border: 1px solid #d5d9e0; padding: .2rem .5rem; text-align: left; }
</style>
</head>
<body>
<header><a href="{{ base }}/">{{ title }}</a></header>
<main>{% block main %}{% endblock %}</main>
</body>
</html>
"""

_SEARCH = """{% extends "base.html" %}
{% block main %}
<aside>
<form id="search" method="get" action="{{ base }}/">
  <fieldset><legend>Search</legend>
    <input type="search" name="q" value="{{ q }}" placeholder='MiCA OR "travel rule"' aria-label="query" size="24">
    <button type="submit" id="search-button">Search</button>
    <label>Sort <select name="sort">
      <option value="relevance" {% if sort == "relevance" %}selected{% endif %}>relevance</option>
      <option value="date" {% if sort == "date" %}selected{% endif %}>newest</option>
    </select></label>
  </fieldset>
  <fieldset><legend>Published</legend>
    <label>from <input type="date" name="since" value="{{ since or '' }}"></label>
    <label>to <input type="date" name="until" value="{{ until or '' }}"></label>
  </fieldset>
  {% for facet in facets %}
  <fieldset class="facet" id="facet-{{ facet.name }}"><legend>{{ facet.name }}</legend>
    {% for item in facet.options %}
    <label><input type="checkbox" name="{{ facet.name }}" value="{{ item.value }}"
      {% if item.checked %}checked{% endif %} onchange="this.form.submit()">
      {{ item.value }} <span class="count">({{ item.count }})</span></label>
    {% else %}<span class="count">none</span>
    {% endfor %}
  </fieldset>
  {% endfor %}
</form>
</aside>
<section>
  {% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
  {% if result %}
  <p id="total">{{ result.total }} article{{ "" if result.total == 1 else "s" }}</p>
  <ol class="hits">
  {% for row in hits %}
    <li class="hit" data-id="{{ row.hit.id }}">
      <a class="hit-title" href="{{ row.href }}">{{ row.hit.title or "(untitled)" }}</a>
      <div class="meta">{{ row.hit.source }}{% if row.hit.published %} · {{ row.hit.published.strftime("%Y-%m-%d") }}{% endif %}
        {% for t in row.hit.jurisdictions %}<span class="tag jurisdiction">{{ t }}</span>{% endfor %}
        {% for t in row.hit.topics %}<span class="tag topic">{{ t }}</span>{% endfor %}</div>
      <p class="snippet">{{ row.snippet }}</p>
    </li>
  {% endfor %}
  </ol>
  <nav>{% if pages.get("previous") %}<a id="previous" href="{{ pages.previous }}">← previous</a>{% endif %}
       {% if pages.get("next") %}<a id="next" href="{{ pages.next }}">next →</a>{% endif %}</nav>
  {% endif %}
</section>
{% endblock %}
"""

_ARTICLE = """{% extends "base.html" %}
{% block title %}{{ article.title }} · {{ title }}{% endblock %}
{% block main %}
<section>
  <p><a href="{{ base }}/" id="back">← search</a></p>
  <h1 id="article-title">{{ article.title or "(untitled)" }}</h1>
  <p class="meta">{{ article.source }}{% if article.published %} · {{ article.published.strftime("%Y-%m-%d %H:%M") }} UTC{% endif %}
    · version {{ article.version }} · text from {{ article.text_origin }}
    {% if href %} · <a href="{{ href }}" rel="noopener noreferrer nofollow" id="original">original</a>{% endif %}</p>
  {% if article.tags %}
  <h2>Tags</h2>
  <table id="tags">
    <tr><th>jurisdictions</th><td>{% for t in article.tags.jurisdictions %}<span class="tag jurisdiction">{{ t }}</span>{% endfor %}
      {% if article.tags.primary_jurisdiction %}(primary: {{ article.tags.primary_jurisdiction }}){% endif %}</td></tr>
    <tr><th>topics</th><td>{% for t in article.tags.topics %}<span class="tag topic">{{ t }}</span>{% endfor %}</td></tr>
    <tr><th>entities</th><td>{% for e in article.tags.entities %}<span class="tag entity">{{ e.name }} ({{ e.type }}{% if e.jurisdiction %}, {{ e.jurisdiction }}{% endif %})</span>{% endfor %}</td></tr>
    <tr><th>relevance</th><td>{{ "%.2f"|format(article.tags.relevance) }}</td></tr>
  </table>
  <h2>Evidence</h2>
  <table id="evidence">
    <tr><th>tag</th><th>phrase</th><th>where</th><th>in context</th></tr>
    {% for row in evidence %}
    <tr><td>{{ row.label }}</td><td>{{ row.phrase }}</td><td>{{ row.field }}</td>
        <td>…{{ row.before }}<mark>{{ row.found }}</mark>{{ row.after }}…</td></tr>
    {% else %}<tr><td colspan="4">no evidence recorded</td></tr>
    {% endfor %}
  </table>
  {% else %}<p id="untagged">This article has not been tagged.</p>
  {% endif %}
  <h2>Text</h2>
  <div id="text">{% for p in paragraphs %}<p>{{ p }}</p>{% endfor %}</div>
</section>
{% endblock %}
"""

_MISSING = """{% extends "base.html" %}
{% block main %}<section><h1>Not found</h1><p>No article with id <code>{{ article_id }}</code>.</p>
<p><a href="{{ base }}/">← search</a></p></section>{% endblock %}
"""

_ENV = Environment(
    loader=DictLoader({"base.html": _BASE, "search.html": _SEARCH, "article.html": _ARTICLE, "missing.html": _MISSING}),
    autoescape=True,  # every template here is HTML
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, **context: Any) -> str:
    return _ENV.get_template(name).render(**context)
