"""Headings of each partnership's form that are worked out from its policy, not written in it.

The form's own words (title, labels of what the raiser writes) are the policy's `form:` (`Policy.form`).
"""

from __future__ import annotations

from process.policy import Policy


def evidence_stage(policy: Policy) -> int | None:
    """The first stage that needs evidence of informal challenge before it (Rochdale: 3), if any."""
    return next((s.number for s in policy.stages if s.requires_informal_evidence), None)


def informal_evidence_label(policy: Policy) -> str:
    """The form's heading for the evidence of informal attempts, e.g. Rochdale's
    "Evidence of Informal Challenge at Stages 1-2 and the Outcome"."""
    if policy.form.informal_evidence_label:
        return policy.form.informal_evidence_label
    first = evidence_stage(policy)
    if first is None or first <= 1:
        return "Evidence of informal attempts to resolve"
    stages = "Stage 1" if first == 2 else f"Stages 1-{first - 1}"
    return f"Evidence of Informal Challenge at {stages} and the Outcome"
