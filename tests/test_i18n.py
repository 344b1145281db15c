"""English and Spanish: every translatable string of the web pages is translated in the Spanish catalog."""

from pathlib import Path

import re

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"%\(\w+\)s")
SPANISH = ROOT / "civiccrm" / "web" / "translations" / "es" / "LC_MESSAGES" / "messages.po"


def extracted() -> set[str]:
    """Every msgid babel.cfg finds (the same extraction as `make i18n`)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map,
                                                                       keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def untranslated(messages: set[str], catalog) -> list[str]:
    problems = []
    for message in sorted(messages):
        entry = catalog.get(message)
        if entry is None:
            problems.append(f"{message!r}: not in the catalog (run `make i18n`)")
        elif entry.fuzzy or not (entry.string if isinstance(entry.string, str) else all(entry.string)):
            problems.append(f"{message!r}: no Spanish translation")
    return problems


def spanish():
    with open(SPANISH, "rb") as po:
        return read_po(po, locale="es")


def test_every_web_string_has_a_spanish_translation():
    messages = extracted()
    assert "Work queue" in messages and "Log in" in messages  # templates and Python code are both read
    problems = untranslated(messages, spanish())
    assert problems == [], "civiccrm/web/translations/es/LC_MESSAGES/messages.po:\n" + "\n".join(problems)


def test_checker_catches_a_new_string_and_an_empty_translation():
    catalog = spanish()
    catalog["Work queue"].string = ""
    problems = untranslated({"Work queue", "A string nobody translated", "Log in"}, catalog)
    assert problems == ["'A string nobody translated': not in the catalog (run `make i18n`)",
                        "'Work queue': no Spanish translation"]


def test_every_translation_keeps_the_placeholders():
    wrong = []
    for entry in spanish():
        if not entry.id:
            continue
        source = " ".join(entry.id) if isinstance(entry.id, tuple) else entry.id
        for text in (entry.string if isinstance(entry.string, tuple) else (entry.string,)):
            if text and set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(source)):
                wrong.append((source, text))
    assert wrong == []
