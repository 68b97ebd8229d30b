"""Labels: validated as a whole with a message naming the bad entry; set at creation, replaced, filtered on."""

from __future__ import annotations

import pytest

from codemode import Session
from codemode.errors import InvalidArgument
from codemode.session.labels import MAX_KEY_CHARS, MAX_LABELS, MAX_VALUE_CHARS, has_labels, validate_labels
from codemode.storage import MemoryStorage

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("labels", "named", "problem"),
    [
        ({"": "x"}, "''", "the key is empty"),
        ({"team": ""}, "'team'", "the value is empty"),
        ({"team": None}, "'team'", "the value is None"),
        ({"team": 3}, "'team'", "the value must be a string, not int"),
        ({7: "x"}, "7", "the key must be a string, not int"),
        ({"k" * (MAX_KEY_CHARS + 1): "x"}, "'kkk", f"more than {MAX_KEY_CHARS}"),
        ({"team": "v" * (MAX_VALUE_CHARS + 1)}, "'team'", f"more than {MAX_VALUE_CHARS}"),
    ],
)
def test_a_bad_label_is_refused_naming_the_entry_and_the_problem(labels: dict, named: str, problem: str):
    with pytest.raises(InvalidArgument) as caught:
        validate_labels(labels)
    assert f"label {named}" in str(caught.value)
    assert problem in str(caught.value)


def test_more_than_the_maximum_number_of_labels_is_refused():
    with pytest.raises(InvalidArgument, match=f"{MAX_LABELS + 1} labels are too many"):
        validate_labels({f"k{i}": "v" for i in range(MAX_LABELS + 1)})


def test_labels_at_the_limits_are_accepted():
    labels = {f"k{i}": "v" for i in range(MAX_LABELS - 1)} | {"k" * MAX_KEY_CHARS: "v" * MAX_VALUE_CHARS}
    assert validate_labels(labels) == labels


def test_labels_must_be_a_mapping():
    with pytest.raises(InvalidArgument, match="labels must be a dict of strings, not list"):
        validate_labels([("a", "b")])


def test_a_filter_matches_sessions_carrying_every_wanted_pair():
    labels = {"team": "data", "env": "prod"}
    assert has_labels(labels, {"team": "data"})
    assert has_labels(labels, None)
    assert not has_labels(labels, {"team": "data", "env": "dev"})


def test_labels_given_at_creation_are_the_sessions_labels():
    session = Session(storage=MemoryStorage(), executor="inprocess", labels={"project": "x"})
    assert session.get_labels() == {"project": "x"}
    assert session.info().labels == {"project": "x"}


def test_a_session_cannot_be_created_with_bad_labels():
    with pytest.raises(InvalidArgument, match="label 'team': the value is None"):
        Session(storage=MemoryStorage(), executor="inprocess", labels={"team": None})  # type: ignore[dict-item]


def test_set_labels_replaces_them_and_a_bad_set_changes_nothing():
    session = Session(storage=MemoryStorage(), executor="inprocess", labels={"a": "1"})
    assert session.set_labels({"b": "2"}) == {"b": "2"}
    with pytest.raises(InvalidArgument):
        session.set_labels({"c": "3", "": "4"})
    assert session.get_labels() == {"b": "2"}
