"""The allocation policy: one versioned TOML file, validated like any other input."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .errors import InputError, from_validation
from .schema import Cap, Id, Share, Strict, Tag, check_cap, checked_json

# The ranges the Rust core accepts for every scoring parameter (0 to 10^9), and spans that keep
# every date the engine computes (a lease end, a valuation's expiry) within the date span.
Points = Annotated[int, Meta(ge=0, le=1_000_000_000)]
NonNeg = Points
Years = Annotated[int, Meta(ge=1, le=100)]
Months = Annotated[int, Meta(ge=0, le=1200)]
# A reason code in a policy's list (the lists below): snake_case, so that reports group by it.
ReasonCode = Annotated[str, Meta(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")]
# The type of sale_close_reasons' codes, looser than ReasonCode as it always was: a policy
# recorded with another code (PolicyAdopted, a snapshot) still decodes; check_policy holds a
# policy adopted now (a file, or one given from code) to ReasonCode, as every list.
RecordedReasonCode = Annotated[str, Meta(min_length=1, max_length=60)]
UNSPECIFIED = "unspecified"  # how reports count an event without a code (free text only)
# The codes the engine gives the events it raises itself, with what each means. No policy lists
# one and no command carries one, so a report can tell the engine's events from the office's.
LEASE_EXPIRED = "lease_expired"
ENGINE_CODES: dict[str, str] = {
    LEASE_EXPIRED: "the engine's code: DayClosed raises LeaseTerminated with it for a lease past its end",
}
# The policy's list of reason codes for each kind of event that takes one (`code`, or for
# SaleCaseClosed its `reason`), by the event's type.
REASON_LISTS: dict[str, str] = {
    "OfferDeclined": "offer_decline_reasons",
    "ApplicationWithdrawn": "application_withdrawal_reasons",
    "LeaseNotRenewed": "non_renewal_reasons",
    "LeaseTerminated": "lease_termination_reasons",
    "UnitKeptForRent": "kept_for_rent_reasons",
    "UnitWithdrawn": "unit_withdrawal_reasons",
    "PurchaseDeclined": "purchase_decline_reasons",
    "SaleCaseClosed": "sale_close_reasons",
    "AftercareRecorded": "aftercare_outcomes",
    "TenantMovedOut": "move_out_reasons",
}


# A task a coverage rule lists: a skill name households give (`skills`).
Task = Annotated[str, Meta(min_length=1, max_length=60)]


class Coverage(Strict, frozen=True):
    """A task-coverage rule (issue 19; report 000, «Rekruttering»: every shared task covered in
    each stairwell and on each floor): `points` for each listed task a household has that no
    other resident of the unit's scope has (a sitting tenant's own tasks do not count against
    it), added to the pair's resource mix; if `hard`, also a rule of the matching: each listed
    task covered by a resident of each scope wherever the portfolio can cover it, before any
    points count."""

    tasks: Annotated[list[Task], Meta(min_length=1, max_length=64)]
    scope: Literal["building", "stairwell", "floor"]  # floor: one floor of a building
    points: Points
    buildings: list[Id] = []  # where the rule applies (a building's participation model); empty: everywhere
    hard: bool = False  # a rule of the matching, not only points (with the caps, at most 32 rules)


# The capped search takes at most this many rules: the caps and the hard coverage rules' tasks.
MAX_RULES = 32


class MixBonus(Strict, frozen=True):
    """Points for a household with `flag` (a built-in flag or a tag) in a unit of `buildings`
    (everywhere if empty), added to the pair's resource mix: a building whose participation
    model asks for more of some residents (pilot 1: «øke andelen av yngre beboere», report 000)."""

    flag: Tag
    points: Points
    buildings: list[Id] = []


class MatchParams(Strict, frozen=True):
    """The part of the policy the Rust core scores with (its JSON contract)."""

    version: Annotated[int, Meta(ge=1, le=1_000_000_000)]
    single_adult_rooms: Annotated[int, Meta(ge=1, le=1000)] = 1
    size_fit_base: Points = 100
    size_fit_excess_penalty: NonNeg = 40
    size_fit_deficit_penalty: NonNeg = 100
    waiting_points_per_period: NonNeg = 2
    waiting_period_days: Annotated[int, Meta(ge=1, le=1_000_000_000)] = 30
    waiting_max_periods: NonNeg = 60
    urgency_points: NonNeg = 150
    stay_bonus: NonNeg = 1000
    transfer_own_unit_bonus: NonNeg = 0
    same_building_bonus: NonNeg = 60
    school_district_bonus: NonNeg = 80
    preferred_district_bonus: NonNeg = 40
    skill_bonus: NonNeg = 25
    skill_bonus_max: NonNeg = 75
    coverage: list[Coverage] = []
    mix_bonuses: list[MixBonus] = []
    # Ties between allocations of equal points broken by a published lottery (policy v2):
    # each household's number is drawn from this seed and its id (docs/policy.md, "Lottery").
    # Left out (v1): by a hash of each (household, unit) pair.
    lottery_seed: Annotated[str, Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET


class Policy(MatchParams, frozen=True):
    name: str = "default"
    caps: list[Cap] = []
    # leases
    lease_years: Years = 3
    refugee_lease_years: Years = 5
    refugee_recent_years: Annotated[int, Meta(ge=0, le=100)] = 5
    renewal_notice_months: Months = 6
    # rent-to-own
    purchase_discount_nok: NonNeg = 50_000
    valuation_valid_months: Annotated[int, Meta(ge=1, le=1200)] = 6
    sellable_tenures: list[Literal["wholly_owned", "cooperative", "condominium"]] = msgspec.field(
        default_factory=lambda: ["cooperative", "condominium"]
    )
    units_needed: list[str] = []
    # why an open case may be closed before a sale (SaleCaseClosed.reason)
    sale_close_reasons: list[RecordedReasonCode] = msgspec.field(  # (each matches `^[a-z][a-z0-9_]*$` when adopted)
        default_factory=lambda: [
            "tenant_withdrew", "loan_refused", "loan_not_decided_in_time", "valuation_lapsed",
            "price_above_assessed_max", "unit_needed_for_rent", "other",
        ]
    )  # fmt: skip
    grant_depreciation_years: Years = 30
    grant_depreciation_years_before_2019: Years = 20
    max_units_per_cooperative_stairwell: Annotated[int, Meta(ge=0, le=1000)] = 2
    # Start loans (report 003, pp. 25-26: «Primærutfordringen er startlån»: 6 months' processing
    # in 2019, at least 3 even when prioritised): the days an application may take before its
    # decision is due (StartLoanApplied.decide_by), with and without priority.
    start_loan_decision_days: Annotated[int, Meta(ge=1, le=3650)] = 180
    start_loan_priority_days: Annotated[int, Meta(ge=1, le=3650)] = 90
    # A rent-to-own case with no step for more days than this is listed as stalled (worklist).
    stalled_case_days: Annotated[int, Meta(ge=1, le=3650)] = 90
    # Days after a household left (application withdrawn, tenancy ended) before its personal data
    # may be erased (ErasureRequested is refused earlier); None: the office keeps the period.
    erasure_retention_days: Annotated[int, Meta(ge=0, le=36500)] | None = None
    # A municipality may own this share of a housing co-operative's units by right, the higher
    # one where the co-operative's statutes allow (borettslagsloven §§ 4-2, 4-3).
    cooperative_share: Share = 0.10
    cooperative_share_by_statutes: Share = 0.20
    # When a tenant registers interest in buying, check that the flat suits the household (not
    # too small for it, no transfer request pending: report 003, pp. 41, 49); the office must
    # then acknowledge what the check found to open the case.
    suitability_check: bool = False
    # An open flat offer holds its unit for the household until it is answered or lapses: the
    # matcher keeps the unit for it (as its home, without the stay bonus) and proposes neither
    # to anyone else. Off in v1, whose decisions it would change.
    offers_hold_units: bool = False
    # A declined flat offer's consequence: the unit is not proposed to the same household again
    # for this many days (rule 8); nothing else follows from a decline (no points lost, no
    # place in the queue), as the fairness literature advises. 0 (every policy recorded before
    # it): a declined unit may be proposed again at once.
    decline_holdoff_days: Annotated[int, Meta(ge=0, le=3650)] = 0
    # After-care («ettervern for boligkjøpere», report 003, p. 50): SaleCompleted raises
    # AftercareDue, a follow-up of the buyer due this many months after the sale, which the
    # office records with AftercareRecorded. 0: no after-care, as in every policy recorded before.
    aftercare_months: Months = 0
    # Reason codes: an event of these kinds takes a `code` from its list, beside the free-text
    # `reason`; required when the list is not empty. Empty by default, as in every policy
    # recorded before the lists: such a policy takes the free-text reason alone.
    offer_decline_reasons: list[ReasonCode] = []
    application_withdrawal_reasons: list[ReasonCode] = []
    non_renewal_reasons: list[ReasonCode] = []
    lease_termination_reasons: list[ReasonCode] = []
    kept_for_rent_reasons: list[ReasonCode] = []
    unit_withdrawal_reasons: list[ReasonCode] = []
    purchase_decline_reasons: list[ReasonCode] = []
    aftercare_outcomes: list[ReasonCode] = []
    # TenantMovedOut: not listed in the packaged v1 (move-outs stay free text there); an office
    # that wants to know why tenants leave lists its codes. A buyer's move after a completed
    # sale is the engine's and carries none.
    move_out_reasons: list[ReasonCode] = []

    def reason_codes(self, kind: str) -> list[str]:
        """The codes an event of type `kind` (a key of REASON_LISTS) may take; none: free text only."""
        codes: list[str] = getattr(self, REASON_LISTS[kind])
        return codes

    def rooms_needed(self, adults: int, children: int) -> int:
        """Rooms a household needs (DESIGN §5, the core's `rooms_needed`)."""
        if adults == 1 and children == 0:
            return self.single_adult_rooms
        return 1 + max(0, adults - 2) + (children + 1) // 2 + 1

    def match_params(self) -> MatchParams:
        fields = {f: getattr(self, f) for f in MatchParams.__struct_fields__}
        return MatchParams(**fields)

    def match_params_json(self) -> bytes:
        params = msgspec.to_builtins(self.match_params())
        for name in ("coverage", "mix_bonuses"):  # the contract as it was before the mix rules
            if not params[name]:
                del params[name]
        for rule in params.get("coverage", []):  # and before hard coverage rules
            if not rule["hard"]:
                del rule["hard"]
        return msgspec.json.encode(params)


def parse_policy(data: dict[str, object], source: str = "policy") -> Policy:
    try:
        policy = msgspec.convert(data, Policy)
    except msgspec.ValidationError as e:
        raise from_validation(e, prefix=source) from None
    check_policy(policy, source)
    return policy


def check_policy(policy: Policy, source: str = "policy") -> None:
    """What a policy must be beyond the types of its fields; InputError naming the entry under
    `source`. Checked where a policy is adopted: a policy file (`parse_policy`), and a Policy an
    AllocationService is given from code to adopt. A policy recorded in a store (PolicyAdopted,
    a snapshot) is read as recorded, without these checks, so a store whose policy was adopted
    before a check existed still opens and replays."""
    # A Policy built in code (or by msgspec.structs.replace) went through no decoder, so its
    # field types and Meta ranges, its nested structs' too, are unchecked: validate it as a file
    # is decoded. Its fields hold only strings, numbers, bools, lists and structs (no dates or
    # enums), which to_builtins keeps as they are: a valid one converts back to an equal Policy.
    try:
        msgspec.convert(msgspec.to_builtins(policy), type(policy))
    except msgspec.ValidationError as e:
        raise from_validation(e, prefix=source) from None
    except TypeError as e:  # a value of no type a policy file could hold
        raise InputError(source, str(e)) from None
    for i, cap in enumerate(policy.caps):
        check_cap(cap, f"{source}.caps[{i}]")
    n_rules = len(policy.caps)
    for i, cov in enumerate(policy.coverage):
        for j, task in enumerate(cov.tasks):
            if task in cov.tasks[:j]:
                raise InputError(f"{source}.coverage[{i}].tasks[{j}]", f"{task!r} is listed twice")
        if cov.hard:
            n_rules += len(cov.tasks)
            if n_rules > MAX_RULES:
                raise InputError(
                    f"{source}.coverage[{i}].hard",
                    f"the caps and the hard rules' tasks come to {n_rules} rules; at most {MAX_RULES} are taken",
                )
    for name in REASON_LISTS.values():
        seen: set[str] = set()
        for i, code in enumerate(getattr(policy, name)):
            field = f"{source}.{name}[{i}]"
            try:  # as decoding a ReasonCode refuses it (sale_close_reasons' own type is looser)
                msgspec.convert(code, ReasonCode)
            except msgspec.ValidationError as e:
                raise from_validation(e, prefix=field) from None
            if code == UNSPECIFIED:
                raise InputError(field, f"{UNSPECIFIED!r} is what reports call an uncoded event")
            if code in ENGINE_CODES:
                raise InputError(field, f"{code!r} is reserved: {ENGINE_CODES[code]}")
            if code in seen:
                raise InputError(field, f"{code!r} is listed twice")
            seen.add(code)


PACKAGED = ("default-v1", "default-v2")  # `--policy default-v2`: a packaged policy by name


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file; None means the packaged default v1, and a name of PACKAGED that
    packaged policy (unless a file of that name is in the working directory)."""
    if path is None or (str(path) in PACKAGED and not Path(path).exists()):
        name = f"{path or PACKAGED[0]}.toml"
        text = resources.files("pyengine").joinpath(f"policies/{name}").read_text("utf-8")
        source = name
    else:
        p = Path(path)
        source = p.name
        try:
            text = p.read_text("utf-8")
        except OSError as e:
            raise InputError("--policy", f"cannot read {p}: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise InputError(source, f"not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") from None
    try:
        if source.endswith(".json"):
            try:
                raw = checked_json(text.encode())
            except InputError as e:  # named within the file
                raise InputError(source if e.field == "$" else f"{source}.{e.field}", e.reason) from None
            data = msgspec.json.decode(raw)
        else:
            data = tomllib.loads(text.removeprefix("\ufeff"))  # TOML itself refuses repeated keys
    except (tomllib.TOMLDecodeError, msgspec.DecodeError) as e:
        raise InputError(source, f"not valid TOML/JSON: {e}") from None
    except RecursionError:  # both decoders recurse per level: a policy is a flat table
        raise InputError(source, "nested too deeply to read (a policy is a table of parameters)") from None
    if not isinstance(data, dict):
        raise InputError(source, "expected a table of parameters")
    return parse_policy(data, source)
