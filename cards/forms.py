"""The wording of each partnership's own form, as its policy file writes it (`form:` in the policy).

The policy files carry the form's title, the labels of what the raiser writes, the stage names, response
labels and entry fields, so the cards ask in the words the partnership's reviewers wrote.
"""

from __future__ import annotations

from process.policy import FormWording, Policy


def wording_for(policy: Policy) -> FormWording:
    """The form labels of `policy`'s partnership."""
    return policy.form


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
