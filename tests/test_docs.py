"""Every hook in civiccrm.hookspecs has a section in docs/plugin_hooks.md with a working example."""

import inspect
import re
import types
from pathlib import Path

import pytest

from civiccrm import hookspecs, plugins

PLUGIN_HOOKS = Path(__file__).resolve().parents[1] / "docs" / "plugin_hooks.md"

HEADING = re.compile(r"^## (?P<name>\w+)\((?P<args>[^)]*)\)[ \t]*$", re.MULTILINE)
SECTION_START = re.compile(r"^## ", re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def hook_arguments() -> dict[str, tuple[str, ...]]:
    """Hook name -> argument names, for every hook the plugin manager has a spec for."""
    pm = plugins.load_plugins()
    found = {}
    for name, caller in vars(pm.hook).items():
        if not name.startswith("_") and caller.has_spec():
            found[name] = tuple(caller.spec.argnames)
    return found


def hook_sections(text: str) -> dict[str, tuple[tuple[str, ...], str]]:
    """Heading name -> (argument names, section body) for every ``## name(args)`` heading."""
    sections = {}
    for match in HEADING.finditer(text):
        following = SECTION_START.search(text, match.end())
        body = text[match.end():following.start() if following else len(text)]
        args = tuple(a.strip() for a in match["args"].split(",") if a.strip())
        sections[match["name"]] = (args, body)
    return sections


def examples(body: str) -> list[str]:
    return PYTHON_BLOCK.findall(body)


def undocumented(text: str, hooks: dict[str, tuple[str, ...]]) -> list[str]:
    """What the docs text lacks: one line per hook without a correct heading or an example."""
    sections = hook_sections(text)
    problems = []
    for name, args in sorted(hooks.items()):
        heading = f"## {name}({', '.join(args)})"
        if name not in sections:
            problems.append(f"{name}: no section; add the heading {heading!r}")
            continue
        documented, body = sections[name]
        if documented != args:
            problems.append(f"{name}: heading has arguments ({', '.join(documented)}); the hook has {heading!r}")
        if not any(re.search(rf"^\s*def {name}\(", code, re.MULTILINE) for code in examples(body)):
            problems.append(f"{name}: no ```python example defining `def {name}(...)`")
        for arg in args:
            if f"`{arg}`" not in body:
                problems.append(f"{name}: argument `{arg}` is not described")
    for name in sorted(set(sections) - set(hooks)):
        problems.append(f"{name}: documented but there is no such hook")
    return problems


def test_hooks_are_read_from_the_specs():
    hooks = hook_arguments()
    specs = {
        name: tuple(inspect.signature(func).parameters)
        for name, func in vars(hookspecs).items()
        if inspect.isfunction(func) and hasattr(func, "civiccrm_spec")
    }
    assert hooks == specs
    assert hooks["route_case"] == ("deployment", "draft", "service_type", "profile")
    assert hooks["case_created"] == ("deployment", "case", "event")


def test_every_hook_has_a_section():
    problems = undocumented(PLUGIN_HOOKS.read_text(encoding="utf-8"), hook_arguments())
    assert problems == [], "docs/plugin_hooks.md:\n" + "\n".join(problems)


def _without_section(text: str, name: str) -> str:
    start = re.search(rf"^## {name}\(", text, re.MULTILINE).start()
    following = SECTION_START.search(text, start + 1)
    return text[:start] + (text[following.start():] if following else "")


def test_checker_reports_a_hook_without_a_section():
    full = PLUGIN_HOOKS.read_text(encoding="utf-8")
    text = _without_section(full, "route_case")
    assert "## route_case(" not in text and "## compute_due_at(" in text
    hooks = hook_arguments()
    new_problems = set(undocumented(text, hooks)) - set(undocumented(full, hooks))
    assert new_problems == {
        "route_case: no section; add the heading '## route_case(deployment, draft, service_type, profile)'"}


def test_checker_reports_wrong_arguments_and_missing_example():
    hooks = {"route_case": ("draft", "service_type", "profile"), "case_closed": ("case", "event")}
    text = (
        "## route_case(draft, profile)\n\n`draft` and `profile`.\n\n"
        "```python\nfrom civiccrm import hookimpl\n\n@hookimpl\ndef route_case(draft, profile):\n    return None\n```\n\n"
        "## case_closed(case, event)\n\n`case`, `event`; no example.\n\n"
        "## case_reopened(case)\n\n`case`\n"
    )
    assert undocumented(text, hooks) == [
        "case_closed: no ```python example defining `def case_closed(...)`",
        "route_case: heading has arguments (draft, profile); the hook has '## route_case(draft, service_type, profile)'",
        "route_case: argument `service_type` is not described",
        "case_reopened: documented but there is no such hook",
    ]


def _recorder(calls):
    def record(*args, **kwargs):
        calls.append((args, kwargs))

    return record


@pytest.mark.parametrize("name", sorted(hook_arguments()))
def test_examples_run_as_plugins(name):
    """Each section's example executes and registers as a plugin whose hooks match the specs."""
    pm = plugins.load_plugins()
    sections = hook_sections(PLUGIN_HOOKS.read_text(encoding="utf-8"))
    if name not in sections:
        pytest.fail(f"docs/plugin_hooks.md has no section for the hook {name}", pytrace=False)
    args, body = sections[name]
    for n, code in enumerate(examples(body)):
        module = types.ModuleType(f"docs_example_{name}_{n}")
        module.__file__ = str(PLUGIN_HOOKS)
        exec(compile(code, f"docs/plugin_hooks.md ({name} example {n + 1})", "exec"), module.__dict__)
        pm.register(module, name=module.__name__)
        try:
            plugins.check_plugins()
            impl = getattr(module, name, None)
            if impl is not None and args == ("register",):
                calls = []
                impl(register=_recorder(calls))
                assert calls, f"the {name} example registers nothing"
        finally:
            pm.unregister(name=module.__name__)
