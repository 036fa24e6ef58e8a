"""Case status transitions: the allowed moves, and the reasons closing and reopening need."""

from __future__ import annotations

import pytest

from aml.gold.cases import (
    CLOSED,
    ESCALATED,
    IN_REVIEW,
    NEW,
    InvalidTransition,
    check_transition,
)


@pytest.mark.parametrize(
    ("current", "new", "reason"),
    [
        (NEW, IN_REVIEW, None),
        (NEW, CLOSED, "duplicate of another alert"),
        (IN_REVIEW, ESCALATED, None),
        (IN_REVIEW, CLOSED, "explained by payroll"),
        (ESCALATED, IN_REVIEW, None),
        (ESCALATED, CLOSED, "SAR filed"),
        (CLOSED, IN_REVIEW, "new evidence"),
    ],
)
def test_allowed_transitions_pass(current, new, reason):
    check_transition(current, new, reason)


@pytest.mark.parametrize(
    ("current", "new", "reason", "message"),
    [
        (NEW, ESCALATED, None, "cannot move a NEW case to ESCALATED"),
        (NEW, NEW, None, "cannot move a NEW case to NEW"),
        (IN_REVIEW, IN_REVIEW, None, "cannot move"),
        (CLOSED, ESCALATED, "x", "cannot move a CLOSED case"),
        (IN_REVIEW, CLOSED, None, "requires a reason"),
        (ESCALATED, CLOSED, "   ", "requires a reason"),
        (CLOSED, IN_REVIEW, "", "requires a reason"),
        (NEW, "DONE", None, "unknown status"),
    ],
)
def test_invalid_transitions_are_refused_with_a_clear_message(current, new, reason, message):
    with pytest.raises(InvalidTransition, match=message):
        check_transition(current, new, reason)
