"""Finding a service type by what a caller says: the city's names, the taxonomy and its keywords."""

from civiccrm.domain.taxonomy import ServiceType, Taxonomy


def _words(text: str) -> list[str]:
    return [w for w in "".join(c if c.isalnum() else " " for c in text.casefold()).split() if w]


def search_types(taxonomy: Taxonomy, text: str, *, limit: int = 15) -> list[ServiceType]:
    """Active service types matching every word of ``text``, best first: a name starting with the words,
    then words in the name, then in the category/type/detail, keywords or description."""
    words = _words(text)
    if not words:
        return []
    phrase = " ".join(words)
    scored = []
    for service_type in taxonomy.service_types.values():
        if not service_type.active:
            continue
        name = " ".join(_words(service_type.name))
        taxonomy_words = " ".join(_words(" ".join(filter(None, (service_type.category, service_type.type,
                                                                   service_type.detail)))))
        keywords = " ".join(_words(" ".join(service_type.keywords)))
        described = " ".join(_words(service_type.description or ""))
        haystack = " ".join((name, taxonomy_words, keywords, described, service_type.code.replace("-", " ")))
        if not all(word in haystack for word in words):
            continue
        if name.startswith(phrase):
            score = 0
        elif all(word in name for word in words):
            score = 1
        elif all(word in taxonomy_words or word in keywords for word in words):
            score = 2
        else:
            score = 3
        scored.append((score, service_type.name.casefold(), service_type))
    scored.sort(key=lambda item: item[:2])
    return [service_type for _, _, service_type in scored[:limit]]
