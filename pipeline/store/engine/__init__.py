"""The Elasticsearch/OpenSearch store, split by job (see docs/search-backends.md, "Code layout").

    clients      the EngineClient seam, status classification, EngineSession (request/scan/mget helpers)
    names        index and alias names for a prefix
    mappings     analysis chain, article mapping and template, side indices
    documents    article and version documents
    queries      SearchQuery → engine DSL, hits and facets back
    bulk         _bulk actions, chunking, the retry loop
    writes       the write plan (pure) over ArticleState records
    deadletters  rejected documents: record, list, retry
    admin        schema, status, migration
    articles     reads, change feed, re-tagging, pruning
    feeds        feed state
    store        SearchEngineStore (the thin composition) and open_search_store
"""
