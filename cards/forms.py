"""The wording of each partnership's own form, so the cards ask in the words its reviewers wrote.

The policy files carry the stage names, response labels and entry fields; the few labels of the raising form
that they do not carry are taken here from the seeds: Durham's Compliance Challenge Form and Rochdale's
Resolution Notice (Appendix 1). A partnership without an entry here gets plain, neutral wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from process.policy import Policy


@dataclass(frozen=True)
class FormWording:
    """Labels of the raising form and of the challenge card's account of it."""

    form_name: str
    concern_label: str
    desired_outcome_label: str
    agency_reference_label: str = "Agency reference number"
    date_of_birth_label: str = "Date of birth"
    urgent_note: str = (
        "If it is urgent, telephone the person you are challenging as well: do not wait for a reply to a "
        "message."
    )


_NEUTRAL = FormWording(
    form_name="Professional challenge form",
    concern_label="The concern",
    desired_outcome_label="The outcome you would like to see",
)

_BY_POLICY: dict[str, FormWording] = {
    # Compliance Challenge Form: one box, "The IRO's concern and what we would like to see happening".
    "durham": FormWording(
        form_name="Compliance Challenge Form",
        concern_label="The IRO's concern",
        desired_outcome_label="What we would like to see happening",
    ),
    # RBSCP Resolution Notice (Appendix 1).
    "rochdale": FormWording(
        form_name="RBSCP Resolution Notice",
        concern_label="Summary of Challenge",
        desired_outcome_label=(
            "Detail desired outcome and resolution, required from this professional challenge"
        ),
        agency_reference_label="Agency Reference Number",
        date_of_birth_label="D.O.B",
        # Principles in Practice, on beginning the process at a senior manager level.
        urgent_note=(
            "Should urgent resolution be required, the onus is on the professional invoking the escalation "
            "to contact the relevant person by telephone, not waiting for a response to an email."
        ),
    ),
}


def wording_for(policy: Policy) -> FormWording:
    """The form labels of `policy`'s partnership."""
    return _BY_POLICY.get(policy.id, _NEUTRAL)


def evidence_stage(policy: Policy) -> int | None:
    """The first stage that needs evidence of informal challenge before it (Rochdale: 3), if any."""
    return next((s.number for s in policy.stages if s.requires_informal_evidence), None)


def informal_evidence_label(policy: Policy) -> str:
    """The form's heading for the evidence of informal attempts, e.g. Rochdale's
    "Evidence of Informal Challenge at Stages 1-2 and the Outcome"."""
    first = evidence_stage(policy)
    if first is None or first <= 1:
        return "Evidence of informal attempts to resolve"
    stages = "Stage 1" if first == 2 else f"Stages 1-{first - 1}"
    return f"Evidence of Informal Challenge at {stages} and the Outcome"
