"""Detection settings, each declared once: type, default, help and range in one field.

`setting` attaches a `Spec` to a dataclass field. The worker's
`distillguard.streams.settings` turns every declared field, these and its own,
into an environment variable (`DISTILLGUARD_<NAME>` unless the spec names
another) and a flag (`--<name>`), so the worker, `demo` and `replay` read the
same settings the same way, and nothing repeats a default or a help text.

>>> cfg = DetectorConfig(tick_events=5)
>>> cfg.thresholds().severity(0.9), cfg.link_rule().min_accounts
(2, 5)
>>> DetectorConfig(tick_events=0)
Traceback (most recent call last):
...
distillguard.models.config.SettingError: tick_events=0: must be >= 1
"""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from distillguard.models.alerts import Thresholds
from distillguard.models.events import HOUR
from distillguard.models.fingerprints import LinkRule


@dataclass(frozen=True, slots=True)
class Spec:
    """How a setting is exposed and checked: help, environment variable, allowed values."""

    help: str
    env: str | None = None          # default: DISTILLGUARD_<NAME>
    lo: float | None = None         # inclusive bounds
    hi: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False            # a credential: kept out of reprs; only its name is shown

    def env_name(self, name: str) -> str:
        """The environment variable of the setting `name`.

        >>> Spec("help").env_name("tick_events"), Spec("help", env="KAFKA_X").env_name("x")
        ('DISTILLGUARD_TICK_EVENTS', 'KAFKA_X')
        """
        return self.env or f"DISTILLGUARD_{name.upper()}"


class SettingError(ValueError):
    """A setting outside its range; `name` is the field, so callers can name flag and env."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def setting(default: Any, help: str, *, env: str | None = None, lo: float | None = None,
            hi: float | None = None, choices: tuple[str, ...] = (), secret: bool = False) -> Any:
    """A dataclass field carrying its `Spec` (typed as Any so that fields keep their type).

    A `secret` one is left out of the dataclass's repr.
    """
    return field(default=default, repr=not secret,
                 metadata={"spec": Spec(help, env, lo, hi, choices, secret)})


def declared(cls: type) -> list[tuple[Field[Any], Spec]]:
    """The fields of a settings dataclass that carry a `Spec`, in declaration order."""
    return [(f, f.metadata["spec"]) for f in fields(cls) if "spec" in f.metadata]


def default_of(f: Field[Any]) -> Any:
    """A field's default, from its factory if it has one."""
    if f.default is MISSING and callable(f.default_factory):
        return f.default_factory()
    return f.default


def check_ranges(obj: Any) -> None:
    """Raise `SettingError` for the first declared field outside its range or choices."""
    for f, spec in declared(type(obj)):
        value = getattr(obj, f.name)
        if spec.lo is not None and value < spec.lo:
            raise SettingError(f.name, f"{f.name}={value!r}: must be >= {spec.lo:g}")
        if spec.hi is not None and value > spec.hi:
            raise SettingError(f.name, f"{f.name}={value!r}: must be <= {spec.hi:g}")
        if spec.choices and value not in spec.choices:
            raise SettingError(f.name, f"{f.name}={value!r}: must be one of "
                                       f"{', '.join(spec.choices)}")


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Every detection setting; the worker and `replay` build the detector from one of these."""

    tick_events: int = setting(10, "score an account every N of its events", lo=1)
    tick_seconds: float = setting(HOUR, "...or when this much event time passed since its "
                                        "last score", lo=1.0)
    min_events: int = setting(10, "events an account needs before it is scored", lo=1)
    warmup: int = setting(500, "score ticks before the population model contributes", lo=0)
    late_tolerance: float = setting(HOUR, "seconds an event may lag its account's latest event "
                                          "and still count in rates and timing; later ones "
                                          "count, but not there", lo=0.0)
    threshold_low: float = setting(0.5, "score of a low alert (action observe)", lo=0, hi=1)
    threshold_medium: float = setting(0.7, "score of a medium alert (throttle)", lo=0, hi=1)
    threshold_high: float = setting(0.85, "score of a high alert (challenge)", lo=0, hi=1)
    threshold_critical: float = setting(0.95, "score of a critical alert (suspend)", lo=0, hi=1)
    reset_below: float = setting(0.3, "a score below this ends an account's alert episode",
                                 lo=0, hi=1)
    member_score: float = setting(0.35, "account score from which it counts as a campaign "
                                        "suspect (on an ASN, user agent or JA4: "
                                        "threshold_low)", lo=0, hi=1)
    link_min_accounts: int = setting(5, "suspects a shared fingerprint needs to link them", lo=1)
    link_min_owners: int = setting(8, "distinct owners (an org, else an account) sharing one "
                                      "payment instrument that link them, however quiet "
                                      "each is", lo=2)
    link_min_share: float = setting(0.5, "share of a fingerprint's distinct accounts that must "
                                         "be suspects", lo=0, hi=1)
    link_group_mean: float = setting(0.15, "mean score of a payment, cohort, system-prompt, "
                                           "template, header or network key's recent "
                                           "accounts (of at least link_min_owners owners) "
                                           "that links those scoring at least half of it",
                                     lo=0, hi=1)
    link_content_effect: float = setting(
        0.5, "content effect size (a key's distance from the population's prompts, in units "
             "of one account's spread) that links a payment, system-prompt, template or "
             "header key's recent accounts (of at least link_min_owners owners) whose own "
             "content lies that way", lo=0)
    link_crowded_cards: int = setting(
        4, "cards, each shared by 3 or more owners who opened their accounts within the same "
           "few days, that link the accounts on them (raise it where many households sign "
           "up together in a day)", lo=1)

    def __post_init__(self) -> None:
        check_ranges(self)
        levels = (self.reset_below, self.threshold_low, self.threshold_medium,
                  self.threshold_high, self.threshold_critical)
        if list(levels) != sorted(levels):
            raise SettingError("threshold_low", "thresholds must satisfy reset_below <= "
                                                "threshold_low <= threshold_medium <= "
                                                "threshold_high <= threshold_critical")

    def thresholds(self) -> Thresholds:
        """The alert severity ladder these settings give."""
        return Thresholds(low=self.threshold_low, medium=self.threshold_medium,
                          high=self.threshold_high, critical=self.threshold_critical,
                          reset_below=self.reset_below)

    def link_rule(self) -> LinkRule:
        """When a shared fingerprint links its accounts, under these settings."""
        return LinkRule(member_score=self.member_score, min_accounts=self.link_min_accounts,
                        min_share=self.link_min_share, min_owners=self.link_min_owners,
                        group_mean=self.link_group_mean,
                        content_effect=self.link_content_effect,
                        crowded_cards=self.link_crowded_cards, broad_score=self.threshold_low)
