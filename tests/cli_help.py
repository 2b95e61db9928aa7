"""What a CLI's ``--help`` says about each flag, checked against the parser itself.

Every flag needs a help text of its own (not its name again), and a default that the help states ("default: X",
"(default X)", or the one ``HelpWithDefaults`` adds) must be the value the parser really uses when the flag is
omitted: a default changed in the code and not in the help is the kind of drift a user follows to the letter.
Sub-commands (``python -m cti_ir.index build``) are walked too.
"""

from __future__ import annotations

import argparse
import re

#: "default: X", "default X", "defaults to X", "default is X", up to the end of the sentence or bracket.
_STATED_DEFAULT = re.compile(r"\bdefault(?:s to| is|:)?\s*([^);]*)", re.IGNORECASE)
_WORD = re.compile(r"[\w.+/-]+")


def parsers_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and the parsers of its sub-commands, depth first."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share one parser
                found += parsers_of(sub)
    return found


def help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help of one flag as ``--help`` prints it (``%(default)s`` expanded, defaults appended), on one line."""
    return " ".join(parser._get_formatter()._expand_help(action).split())


def _parsed(action: argparse.Action, text):
    """``text`` as the parser would read it (through the flag's ``type``); numbers compare as numbers."""
    if isinstance(text, str) and callable(action.type):
        try:
            text = action.type(text)
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    quantity = re.fullmatch(r"(\d+(?:\.\d*)?)([A-Za-z%]*)", text) if isinstance(text, str) else None
    return (float(quantity[1]), quantity[2]) if quantity else text  # '4GiB' == '4.0GiB'


def _states(action: argparse.Action, words: list[str]) -> bool:
    """Do the words after "default" name the flag's default value?"""
    values = list(action.default) if isinstance(action.default, (list, tuple)) else [action.default]
    if values == [""]:
        return not words
    words = [w.replace(",", "") if w[:1].isdigit() else w for w in words[: len(values)]]
    return [_parsed(action, w) for w in words] == [_parsed(action, v) for v in values]


def help_problems(parser: argparse.ArgumentParser) -> list[str]:
    """One line per flag whose help is missing, only repeats its name, or states a default the parser does not use."""
    problems = []
    for p in parsers_of(parser):
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or \
                    action.help == argparse.SUPPRESS:
                continue
            flag = f"{p.prog} {'/'.join(action.option_strings) or action.dest}"
            text = help_text(p, action)
            names = {action.dest.replace("_", " ")} | {o.lstrip("-").replace("-", " ") for o in action.option_strings}
            if not text or text.lower().rstrip(".") in names:
                problems.append(f"{flag}: no help of its own ({text!r})")
                continue
            if action.default in (None, argparse.SUPPRESS) or action.nargs == 0:
                continue  # a None default's meaning is described in words (e.g. "default: torch's")
            for stated in _STATED_DEFAULT.findall(text):
                if not _states(action, _WORD.findall(stated)):
                    problems.append(f"{flag}: --help says 'default {stated.strip()}', the parser uses "
                                    f"{action.default!r}")
    return problems
