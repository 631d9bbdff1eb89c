"""Who sends traffic: ``Account`` and the roster of every account of a scenario.

Each persona's builder draws its identity (networks, clients, org and card, system prompt,
model, habits) from one RNG seeded by the config, so the roster, and with it the ground
truth, is known without generating a single event. Organic look-alikes of campaign traits
are built in on purpose: student cohorts created in one week behind one NAT, teams sharing
an org and a card, apps sharing a few cloud regions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from distillguard.models.events import DAY, HOUR
from distillguard.simulator.config import (
    EXTRACTION,
    LEGACY_MODEL,
    MINI_MODEL,
    OLD_MODEL,
    ORGANIC,
    SimConfig,
)
from distillguard.simulator.grammar import (
    APP_KINDS,
    BATCH_KINDS,
    BRANDS,
    SYSTEM_AGENT,
    SYSTEM_CASUAL,
)
from distillguard.simulator.network import (
    _JA4,
    CLOUD_ASNS,
    CORPORATE_ASNS,
    COUNTRIES,
    COUNTRY_CODES,
    COUNTRY_WEIGHTS,
    HOSTING_ASNS,
    SDK_MIX,
    SDK_PROFILES,
    UNIVERSITY_ASNS,
    _client,
    _ipv4,
    _residential_client,
    _tz_for,
)
from distillguard.simulator.sampling import _hex, _lognorm, _pick, _pick_weighted
from distillguard.simulator.templates import SYSTEM_EXTRACTION, SYSTEM_PIPELINE


@dataclass
class Account:
    """Static identity and habits of one API account; per-event randomness lives elsewhere."""

    account_id: str  # ``acct-`` and six digits that say nothing about the label
    persona: str  # which stream generates its traffic
    label: str  # ``ORGANIC`` or ``EXTRACTION``: the ground truth
    created: float  # account creation time, epoch seconds
    tz: float  # UTC offset in hours of the person or service behind it
    clients: tuple[dict, ...]  # the networks and client builds it sends from
    org_id: str | None = None  # its organisation (a team's accounts share one)
    api_keys: tuple[str, ...] = ()  # the keys its requests are spread over
    payment_fp: str | None = None  # fingerprint of the card on file; ``None``: no card
    campaign: str | None = None  # the campaign it belongs to, if any
    model: str = OLD_MODEL  # the model it uses until it adopts a new one
    system: str | None = None  # its system prompt
    tools: int = 0  # tools declared with each request
    max_tokens: int = 4096  # sent with every request, capping each response
    stream_p: float = 0.5  # share of requests that stream the response
    rate: float = 1.0  # persona-specific intensity knob
    kind: int = 0  # persona-specific variant (server app kind, batch job kind)
    adopt_ts: float = math.inf  # when it starts using the newly released model
    err_rate: float = 0.006  # share of requests that fail
    pool: tuple[dict, ...] = ()  # campaign proxy pool (shared object, networks only)
    since: float = -math.inf  # its first request cannot come earlier (accounts opened late)
    budget: int = 0  # requests it sends before it is dropped; 0: no limit


def _organic_created(rng: random.Random, start: float) -> float:
    if rng.random() < 0.05:  # some genuinely new customers, so account age is no giveaway
        return start - rng.uniform(0.5, 14) * DAY
    return start - min(1_000.0, _lognorm(rng, 220, 0.8)) * DAY


def _adoption(rng: random.Random, cfg: SimConfig, mean_days: float) -> float:
    """Organic accounts drift to a new model over days, a few early adopters within hours."""
    if cfg.release_day is None:
        return math.inf
    if rng.random() < 0.04:
        return cfg.release_ts + rng.uniform(1, 12) * HOUR
    return cfg.release_ts + rng.expovariate(1 / mean_days) * DAY


def _home_clients(rng: random.Random, profile: str,
                  country: str | None = None) -> tuple[float, tuple[dict, ...]]:
    """A person's timezone and the (home, maybe mobile) networks they use."""
    country = country or rng.choices(COUNTRY_CODES, weights=COUNTRY_WEIGHTS)[0]
    asns = COUNTRIES[country][2]
    clients = [_client(rng, profile, _pick(rng, asns), country, v6=rng.random() < 0.15)]
    if rng.random() < 0.4:
        clients.append(_client(rng, profile, _pick(rng, asns), country, v6=rng.random() < 0.3))
    return _tz_for(rng, country), tuple(clients)


class _RosterBuilder:
    """Builds every account of a config from one seeded RNG (ground truth needs no events)."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(f"roster:{cfg.seed}")
        total = (cfg.organic_accounts + cfg.loud_accounts + cfg.hydra_accounts
                 + cfg.pivot_accounts)
        self._ids = iter(f"acct-{i:06d}" for i in self.rng.sample(range(1_000_000), total))
        self._server_asns = self.rng.sample(CLOUD_ASNS[:6], 3)
        self._nat: tuple[int, str, str, int] | None = None  # asn, country, ip, members left
        self._semester = cfg.start_ts
        self._org: tuple[str, str, int] | None = None  # org id, payment fp, members left
        # the group the next hard-negative account joins: (shared identity, members left)
        self._groups: dict[str, tuple[dict, int]] = {}

    def build(self) -> list[Account]:
        cfg = self.cfg
        accounts: list[Account] = []
        for persona, count in _allocate(cfg.organic_accounts, cfg.persona_mix):
            make = getattr(self, f"_{persona}")
            accounts.extend(make() for _ in range(count))
        accounts.extend(self._loud(i) for i in range(cfg.loud_accounts))
        accounts.extend(self._pivot(i) for i in range(cfg.pivot_accounts))
        if cfg.family is None:
            accounts.extend(self._hydra_accounts())
        elif cfg.hydra_accounts > 0:
            make = getattr(self, f"_family_{cfg.family}")
            accounts.extend(make(cfg.hydra_accounts, f"camp-{cfg.family.replace('_', '-')}-1"))
        for acct in accounts:  # the gateway reports times with millisecond precision
            acct.created = round(acct.created, 3)
        return accounts

    def _profile(self, persona: str) -> str:
        return _pick_weighted(self.rng, SDK_MIX[persona])

    def _personal(self, persona: str, country: str | None = None, **kw: object) -> Account:
        rng = self.rng
        tz, clients = _home_clients(rng, self._profile(persona), country)
        return Account(
            account_id=next(self._ids), persona=persona, label=ORGANIC,
            created=_organic_created(rng, self.cfg.start_ts), tz=tz, clients=clients,
            org_id=f"org-{_hex(rng)}", api_keys=(f"key-{_hex(rng)}",),
            payment_fp=f"pm-{_hex(rng, 64)}", **kw)  # type: ignore[arg-type]

    def _casual_chat(self) -> Account:
        rng = self.rng
        return self._personal(
            "casual_chat", model=rng.choices((OLD_MODEL, MINI_MODEL, LEGACY_MODEL), (6, 3, 1))[0],
            system=_pick(rng, SYSTEM_CASUAL), max_tokens=_pick(rng, (1024, 2048, 4096, 4096)),
            tools=_pick(rng, (0, 0, 0, 0, 1, 2)), stream_p=_pick(rng, (0.9, 1.0, 0.2)),
            rate=rng.lognormvariate(0, 0.6), adopt_ts=_adoption(rng, self.cfg, 6.0))

    def _nat_student(self) -> Account:
        rng = self.rng
        if self._nat is None or self._nat[3] <= 0:
            asn, country = _pick(rng, UNIVERSITY_ASNS)
            self._nat = (asn, country, _ipv4(rng, asn), self.cfg.students_per_nat)
            self._semester = self.cfg.start_ts - rng.uniform(100, 130) * DAY
        asn, country, ip, left = self._nat
        self._nat = (asn, country, ip, left - 1)
        acct = self._personal(
            "nat_student", country=country, model=rng.choices((OLD_MODEL, MINI_MODEL), (1, 2))[0],
            system=_pick(rng, SYSTEM_CASUAL), max_tokens=_pick(rng, (1024, 2048, 4096)),
            stream_p=_pick(rng, (0.0, 0.5, 1.0)), rate=rng.lognormvariate(0.0, 0.6),
            adopt_ts=_adoption(rng, self.cfg, 8.0))
        campus = dict(acct.clients[0], ip=ip, asn=asn, country=country)
        acct.clients = (campus, campus, campus, *acct.clients)
        if rng.random() < 0.6:  # enrolled in the same week: a legitimate account cohort
            acct.created = self._semester + rng.uniform(0, 4) * DAY
        if rng.random() < 0.4:  # education credits: no card on file
            acct.payment_fp = None
        return acct

    def _developer_agent(self) -> Account:
        rng = self.rng
        acct = self._personal(
            "developer_agent", model=rng.choices((OLD_MODEL, MINI_MODEL), (9, 1))[0],
            system=_pick(rng, SYSTEM_AGENT), tools=rng.randint(5, 30),
            max_tokens=_pick(rng, (8192, 16000, 32000)), stream_p=0.95,
            rate=rng.lognormvariate(0, 0.35),
            adopt_ts=_adoption(rng, self.cfg, 1.5))
        if self._org is None or self._org[2] <= 0:  # teams share an org and its card
            self._org = (f"org-{_hex(rng)}", f"pm-{_hex(rng, 64)}", rng.randint(1, 8))
        org, fp, left = self._org
        self._org = (org, fp, left - 1)
        acct.org_id, acct.payment_fp = org, fp
        asn, country = _pick(rng, CLOUD_ASNS + HOSTING_ASNS[:4])  # office egress / dev box
        office = dict(acct.clients[0], ip=_ipv4(rng, asn), asn=asn, country=country)
        acct.clients = (office, *acct.clients)
        return acct

    def _service(self, persona: str, **kw: object) -> Account:
        rng = self.rng
        profile = self._profile(persona)
        asn, country = _pick(rng, self._server_asns)  # apps share a few cloud regions
        ips = tuple(_client(rng, profile, asn, country) for _ in range(rng.randint(1, 3)))
        return Account(
            account_id=next(self._ids), persona=persona, label=ORGANIC,
            created=_organic_created(rng, self.cfg.start_ts),
            tz=_pick(rng, (-5.0, -8.0, 0.0, 1.0, 5.5, 9.0)), clients=ips,
            org_id=f"org-{_hex(rng)}",
            api_keys=tuple(f"key-{_hex(rng)}" for _ in range(rng.randint(1, 3))),
            payment_fp=f"pm-{_hex(rng, 64)}", **kw)  # type: ignore[arg-type]

    def _server_app(self) -> Account:
        rng = self.rng
        kind = rng.randrange(len(APP_KINDS))
        brand = _pick(rng, BRANDS)
        return self._service(
            "server_app", model=_pick(rng, (OLD_MODEL, MINI_MODEL, MINI_MODEL)),
            system=APP_KINDS[kind][3].format(brand=brand), tools=_pick(rng, (0, 0, 2, 4)),
            max_tokens=_pick(rng, (512, 1024, 2048)), stream_p=_pick(rng, (0.0, 1.0)),
            rate=rng.uniform(100, 1000), kind=kind, adopt_ts=_adoption(self.rng, self.cfg, 10.0))

    def _batch_pipeline(self) -> Account:
        rng = self.rng
        kind = rng.randrange(len(BATCH_KINDS))
        return self._service(
            "batch_pipeline", model=_pick(rng, (MINI_MODEL, MINI_MODEL, OLD_MODEL)),
            system=BATCH_KINDS[kind][2], max_tokens=_pick(rng, (64, 128, 256)), stream_p=0.0,
            rate=rng.uniform(1_000, 3_000), kind=kind)

    def _extraction(self, persona: str, campaign: str, **kw: object) -> Account:
        rng = self.rng
        asn, country = _pick(rng, HOSTING_ASNS + CLOUD_ASNS)
        client = _client(rng, self._profile("extraction"), asn, country)
        return Account(
            account_id=next(self._ids), persona=persona, label=EXTRACTION,
            created=self.cfg.start_ts - rng.uniform(3, 30) * DAY, tz=_tz_for(rng, country),
            clients=(client,), org_id=f"org-{_hex(rng)}", api_keys=(f"key-{_hex(rng)}",),
            payment_fp=f"pm-{_hex(rng, 64)}", campaign=campaign,
            system=_pick(rng, SYSTEM_EXTRACTION), **kw)  # type: ignore[arg-type]

    def _loud(self, i: int) -> Account:
        rng = self.rng
        return self._extraction(
            "loud", f"camp-loud-{i + 1}", max_tokens=_pick(rng, (8192, 16384)), stream_p=0.2,
            rate=self.cfg.loud_rate_per_day, err_rate=0.04,
            adopt_ts=self.cfg.release_ts + rng.uniform(0.3, 2) * HOUR)

    def _pivot(self, i: int) -> Account:
        """An aged, ordinary-looking account that later runs an extraction script."""
        acct = self._casual_chat()
        acct.persona, acct.label, acct.campaign = "pivot", EXTRACTION, f"camp-pivot-{i + 1}"
        acct.created = self.cfg.start_ts - self.rng.uniform(120, 700) * DAY
        acct.rate = max(acct.rate, 2.5)  # an engaged user: days of visible organic history
        return acct

    def _hydra_accounts(self) -> list[Account]:
        cfg, rng = self.cfg, self.rng
        if cfg.hydra_accounts <= 0:
            return []
        persona = _hydra_persona(cfg)
        campaign = f"camp-{persona.replace('_', '-')}-1"
        infra = rng.sample(HOSTING_ASNS, min(len(HOSTING_ASNS), cfg.hydra_asns * 3 // 4))
        infra += rng.sample(CLOUD_ASNS, max(0, cfg.hydra_asns - len(infra)))
        pool = tuple(_client(rng, "py_new", asn, cc) for asn, cc in infra for _ in range(4))
        cohort = cfg.start_ts - rng.uniform(4, 12) * DAY
        accounts = []
        fp = f"pm-{_hex(rng, 64)}"
        for _ in range(cfg.hydra_accounts):
            if rng.random() < 0.15:  # a new stolen/virtual card every dozen accounts or so
                fp = f"pm-{_hex(rng, 64)}"
            sdk, ua, stack = SDK_PROFILES[self._profile("extraction")]
            client = dict(_pick(rng, pool), sdk=sdk, user_agent=ua, ja4=_JA4[stack])
            accounts.append(Account(
                account_id=next(self._ids), persona=persona, label=EXTRACTION,
                created=cohort + rng.uniform(0, 3) * DAY, tz=0.0, clients=(client,), pool=pool,
                org_id=f"org-{_hex(rng)}", api_keys=(f"key-{_hex(rng)}",),
                payment_fp=fp if rng.random() < 0.7 else f"pm-{_hex(rng, 64)}",
                campaign=campaign, system=_pick(rng, SYSTEM_EXTRACTION),
                max_tokens=_pick(rng, (4096, 8192)), stream_p=_pick(rng, (0.0, 0.5, 1.0)),
                adopt_ts=cfg.release_ts + rng.uniform(0.5, 4) * HOUR, err_rate=0.01))
        return accounts

    # ---- hard negatives: organic accounts that share what campaigns share

    def _group(self, kind: str, make: Callable[[], tuple[dict, int]]) -> dict:
        """The shared identity of the group the next account of ``kind`` joins."""
        group = self._groups.get(kind)
        if group is None or group[1] <= 0:
            group = make()
        self._groups[kind] = (group[0], group[1] - 1)
        return group[0]

    def _chat_habits(self) -> dict:
        rng = self.rng
        return {"model": rng.choices((OLD_MODEL, MINI_MODEL, LEGACY_MODEL), (6, 3, 1))[0],
                "system": _pick(rng, SYSTEM_CASUAL),
                "max_tokens": _pick(rng, (1024, 2048, 4096, 4096)),
                "stream_p": _pick(rng, (0.9, 1.0, 0.2)), "rate": rng.lognormvariate(0, 0.6),
                "adopt_ts": _adoption(rng, self.cfg, 6.0)}

    def _company_staff(self) -> Account:
        """Staff of one company: one org, one corporate ASN and egress, the company card."""
        rng = self.rng

        def company() -> tuple[dict, int]:
            asn, country = _pick(rng, CORPORATE_ASNS)
            return ({"org": f"org-{_hex(rng)}", "asn": asn, "country": country,
                     "ips": tuple(_ipv4(rng, asn) for _ in range(rng.randint(1, 3))),
                     "card": f"pm-{_hex(rng, 64)}"}, rng.randint(40, 120))

        co = self._group("company", company)
        acct = self._personal("company_staff", country=co["country"], **self._chat_habits())
        acct.tools = _pick(rng, (0, 0, 0, 2, 5))
        office = dict(acct.clients[0], ip=_pick(rng, co["ips"]), asn=co["asn"],
                      country=co["country"])
        acct.clients = (office, office, office, office, *acct.clients)
        acct.org_id, acct.payment_fp = co["org"], co["card"]
        return acct

    def _family_card(self) -> Account:
        """A household or a small team: 2-6 accounts on one card, often one home address."""
        rng = self.rng

        def household() -> tuple[dict, int]:
            country = rng.choices(COUNTRY_CODES, weights=COUNTRY_WEIGHTS)[0]
            asn = _pick(rng, COUNTRIES[country][2])
            return ({"country": country, "asn": asn, "ip": _ipv4(rng, asn),
                     "card": f"pm-{_hex(rng, 64)}"}, rng.randint(2, 6))

        home = self._group("household", household)
        acct = self._personal("family_card", country=home["country"], **self._chat_habits())
        if rng.random() < 0.7:
            net = dict(acct.clients[0], ip=home["ip"], asn=home["asn"])
            acct.clients = (net, net, *acct.clients[1:])
        acct.payment_fp = home["card"]
        return acct

    def _startup_team(self) -> Account:
        """A 32-person startup: one org, one corporate card, onboarded within two days."""
        rng = self.rng
        cfg = self.cfg

        def startup() -> tuple[dict, int]:
            asn, country = _pick(rng, CLOUD_ASNS + HOSTING_ASNS[:4])
            return ({"org": f"org-{_hex(rng)}", "card": f"pm-{_hex(rng, 64)}", "asn": asn,
                     "country": country, "ip": _ipv4(rng, asn),
                     "onboard": cfg.start_ts - rng.uniform(20, 90) * DAY}, 32)

        team = self._group("startup", startup)
        agent = rng.random() < 0.7
        acct = self._personal(
            "startup_team", model=rng.choices((OLD_MODEL, MINI_MODEL), (9, 1))[0],
            system=_pick(rng, SYSTEM_AGENT) if agent else _pick(rng, SYSTEM_CASUAL),
            tools=rng.randint(5, 30) if agent else 0,
            max_tokens=_pick(rng, (8192, 16000, 32000)) if agent else 4096,
            stream_p=0.95, rate=rng.lognormvariate(0, 0.35), kind=0 if agent else 1,
            adopt_ts=_adoption(rng, cfg, 1.5))
        office = dict(acct.clients[0], ip=team["ip"], asn=team["asn"], country=team["country"])
        acct.clients = (office, *acct.clients)
        acct.org_id, acct.payment_fp = team["org"], team["card"]
        acct.created = team["onboard"] + rng.uniform(0, 2) * DAY
        return acct

    def _always_on_agent(self) -> Account:
        """A coding agent a team runs from CI or a scheduler, all day and all night."""
        rng = self.rng
        asn, country = _pick(rng, CLOUD_ASNS)
        client = _client(rng, self._profile("always_on_agent"), asn, country)
        return Account(
            account_id=next(self._ids), persona="always_on_agent", label=ORGANIC,
            created=_organic_created(rng, self.cfg.start_ts), tz=_tz_for(rng, country),
            clients=(client,), org_id=f"org-{_hex(rng)}",
            api_keys=tuple(f"key-{_hex(rng)}" for _ in range(rng.randint(1, 2))),
            payment_fp=f"pm-{_hex(rng, 64)}", system=_pick(rng, SYSTEM_AGENT),
            tools=rng.randint(10, 40), max_tokens=_pick(rng, (16000, 32000)), stream_p=0.9,
            rate=rng.lognormvariate(0, 0.3), adopt_ts=_adoption(rng, self.cfg, 1.0))

    def _new_signup(self) -> Account:
        """Innocent accounts opened during the scenario, in cohorts (a course, a launch)."""
        rng = self.rng
        cfg = self.cfg

        def cohort() -> tuple[dict, int]:
            span = max(0.05, cfg.days - 0.6)
            return {"ts": cfg.start_ts + rng.uniform(0.05, span) * DAY}, rng.randint(15, 60)

        wave = self._group("signup", cohort)
        acct = self._personal("new_signup", **self._chat_habits())
        acct.created = min(wave["ts"] + rng.uniform(0, 1) * DAY, cfg.end_ts - HOUR)
        acct.since = acct.created + rng.uniform(60, 3_600)
        if rng.random() < 0.5:  # free trial credits: no card yet
            acct.payment_fp = None
        return acct

    # ---- campaign families (``config.FAMILIES``): ``hydra_accounts`` accounts each

    def _cards(self, n: int, per: int) -> tuple[str, ...]:
        """A stock of prepaid or virtual cards, each meant for about ``per`` accounts
        (``SimConfig.family_cards`` instead, where set)."""
        per = self.cfg.family_cards or per
        return tuple(f"pm-{_hex(self.rng, 64)}" for _ in range(max(2, n // per)))

    def _infra(self, asns: int) -> tuple[dict, ...]:
        """Rented hosting and cloud addresses (networks only), a few per ASN."""
        rng = self.rng
        infra = rng.sample(HOSTING_ASNS, min(len(HOSTING_ASNS), asns * 3 // 4))
        infra += rng.sample(CLOUD_ASNS, max(0, asns - len(infra)))
        return tuple(_client(rng, "py_new", asn, cc) for asn, cc in infra for _ in range(3))

    def _member(self, persona: str, campaign: str, created: float,
                clients: tuple[dict, ...], **kw: object) -> Account:
        rng = self.rng
        kw.setdefault("tz", 0.0)
        if self.cfg.family_cards == 1:  # every account its own card
            kw["payment_fp"] = f"pm-{_hex(rng, 64)}"
        return Account(
            account_id=next(self._ids), persona=persona, label=EXTRACTION, created=created,
            clients=clients, org_id=f"org-{_hex(rng)}", api_keys=(f"key-{_hex(rng)}",),
            campaign=campaign, adopt_ts=self.cfg.release_ts + rng.uniform(0.5, 6) * HOUR,
            **kw)  # type: ignore[arg-type]

    def _hosted(self, pool: tuple[dict, ...], profile: str) -> tuple[dict, ...]:
        sdk, ua, stack = SDK_PROFILES[profile]
        return (dict(_pick(self.rng, pool), sdk=sdk, user_agent=ua, ja4=_JA4[stack]),)

    def _residential(self, profile: str) -> tuple[dict, ...]:
        sdk, ua, stack = SDK_PROFILES[profile]
        return (dict(_residential_client(self.rng), sdk=sdk, user_agent=ua, ja4=_JA4[stack]),)

    def _family_stealth(self, n: int, campaign: str) -> list[Account]:
        rng, start = self.rng, self.cfg.start_ts
        cards = self._cards(n, 30)
        cohort = start - rng.uniform(5, 15) * DAY
        out = []
        for _ in range(n):
            tz, clients = _home_clients(rng, self._profile("casual_chat"))
            out.append(self._member(
                "stealth", campaign, cohort + rng.uniform(0, 1.5) * DAY, clients, tz=tz,
                payment_fp=_pick(rng, cards), system=_pick(rng, SYSTEM_CASUAL),
                max_tokens=_pick(rng, (1024, 2048, 4096, 4096)),
                stream_p=_pick(rng, (0.9, 1.0, 0.2)), rate=rng.uniform(1.2, 2.0)))
        return out

    def _family_lockstep(self, n: int, campaign: str) -> list[Account]:
        rng, start = self.rng, self.cfg.start_ts
        cards = self._cards(n, 10)
        out = []
        for _ in range(n):
            sdk, ua, stack = SDK_PROFILES[_pick(rng, ("py_new", "py_new", "openai_py"))]
            out.append(self._member(
                "lockstep", campaign, start - rng.uniform(3, 30) * DAY,
                ({"sdk": sdk, "user_agent": ua, "ja4": _JA4[stack]},),
                payment_fp=_pick(rng, cards) if rng.random() < 0.5 else f"pm-{_hex(rng, 64)}",
                system=_pick(rng, SYSTEM_CASUAL), max_tokens=_pick(rng, (2048, 4096)),
                stream_p=_pick(rng, (0.0, 1.0))))
        return out

    def _family_meta_prompt(self, n: int, campaign: str) -> list[Account]:
        rng, start = self.rng, self.cfg.start_ts
        cards, pool = self._cards(n, 20), self._infra(8)
        cohort = start - rng.uniform(3, 10) * DAY
        system = _pick(rng, SYSTEM_PIPELINE)
        out = []
        for _ in range(n):
            out.append(self._member(
                "meta_prompt", campaign, cohort + rng.uniform(0, 3) * DAY,
                self._hosted(pool, _pick_weighted(rng, SDK_MIX["pipeline"])),
                payment_fp=_pick(rng, cards), system=system if rng.random() < 0.6 else None,
                max_tokens=_pick(rng, (4096, 8192)), stream_p=0.0,
                rate=rng.uniform(150, 300)))
        return out

    def _family_paraphrase_rewrite(self, n: int, campaign: str) -> list[Account]:
        rng, start = self.rng, self.cfg.start_ts
        cards = self._cards(n, 25)
        out = []
        for _ in range(n):
            out.append(self._member(
                "paraphrase_rewrite", campaign, start - rng.uniform(2, 20) * DAY,
                self._residential(self._profile("extraction")), payment_fp=_pick(rng, cards),
                system=_pick(rng, SYSTEM_EXTRACTION), max_tokens=_pick(rng, (4096, 8192)),
                stream_p=_pick(rng, (0.0, 0.5, 1.0))))
        return out

    def _family_coding_agent_imitation(self, n: int, campaign: str) -> list[Account]:
        rng, start = self.rng, self.cfg.start_ts
        cards = self._cards(n, 15)
        cohort = start - rng.uniform(4, 12) * DAY
        out = []
        for _ in range(n):
            asn, country = _pick(rng, CLOUD_ASNS)
            profile = "agent_cli" if rng.random() < 0.7 else "py_new"
            out.append(self._member(
                "coding_agent_imitation", campaign, cohort + rng.uniform(0, 2) * DAY,
                (_client(rng, profile, asn, country),), tz=_tz_for(rng, country),
                payment_fp=_pick(rng, cards), system=_pick(rng, SYSTEM_AGENT),
                tools=rng.randint(8, 30), max_tokens=_pick(rng, (16000, 32000)),
                stream_p=0.95, rate=rng.uniform(0.3, 0.5)))
        return out

    def _family_slow_drip(self, n: int, campaign: str) -> list[Account]:
        rng, start = self.rng, self.cfg.start_ts
        cards = self._cards(n, 20)
        out = []
        for _ in range(n):
            tz, clients = _home_clients(rng, self._profile("extraction"))
            out.append(self._member(
                "slow_drip", campaign, start - rng.uniform(2, 40) * DAY, clients[:1], tz=tz,
                payment_fp=_pick(rng, cards) if rng.random() < 0.3 else f"pm-{_hex(rng, 64)}",
                system=_pick(rng, SYSTEM_EXTRACTION), max_tokens=4096,
                stream_p=_pick(rng, (0.0, 1.0))))
        return out

    def _family_cover_traffic(self, n: int, campaign: str) -> list[Account]:
        rng, start = self.rng, self.cfg.start_ts
        pool = self._infra(20)
        cohort = start - rng.uniform(4, 12) * DAY
        fp = f"pm-{_hex(rng, 64)}"
        out = []
        for _ in range(n):
            if rng.random() < 0.15:
                fp = f"pm-{_hex(rng, 64)}"
            out.append(self._member(
                "cover_traffic", campaign, cohort + rng.uniform(0, 3) * DAY,
                self._hosted(pool, self._profile("extraction")),
                payment_fp=fp if rng.random() < 0.7 else f"pm-{_hex(rng, 64)}",
                system=_pick(rng, SYSTEM_EXTRACTION), max_tokens=_pick(rng, (4096, 8192)),
                stream_p=_pick(rng, (0.0, 0.5, 1.0))))
        return out

    def _slots(self, n: int, slots: int, lo: int, hi: int) -> list[tuple[float, int, float]]:
        """Working slots that each run accounts one after another: per account its first
        request time, its request budget and the mean gap between its requests."""
        cfg, rng = self.cfg, self.rng
        per_slot = math.ceil(n / slots)
        life = cfg.days * DAY / per_slot
        plan = []
        for k in range(n):
            slot, turn = k % slots, k // slots
            since = cfg.start_ts + (turn + rng.uniform(0, 0.15)) * life + slot * life / slots
            budget = rng.randint(lo, hi)
            plan.append((min(since, cfg.end_ts - 60), budget, 0.8 * life / budget))
        return plan

    def _family_disposable(self, n: int, campaign: str) -> list[Account]:
        rng = self.rng
        pool = self._infra(12)
        out = []
        fp = f"pm-{_hex(rng, 64)}"
        for since, budget, gap in self._slots(n, max(2, n // 60), 8, 10):
            if rng.random() < 0.25:  # a new virtual card every few accounts
                fp = f"pm-{_hex(rng, 64)}"
            out.append(self._member(
                "disposable", campaign, since - rng.uniform(120, 7_200),
                self._hosted(pool, _pick(rng, ("py_new", "httpx", "openai_py"))),
                payment_fp=fp, system=_pick(rng, SYSTEM_EXTRACTION),
                max_tokens=_pick(rng, (4096, 8192)), stream_p=0.0, since=since,
                budget=budget, rate=gap))
        return out

    def _family_rotation(self, n: int, campaign: str) -> list[Account]:
        rng, start = self.rng, self.cfg.start_ts
        pool = self._infra(16)
        cards = self._cards(n, 25)
        stock = start - rng.uniform(7, 14) * DAY  # the accounts were opened in one batch
        out = []
        for since, budget, gap in self._slots(n, max(2, n // 20), 40, 60):
            out.append(self._member(
                "rotation", campaign, stock + rng.uniform(0, 1) * DAY,
                self._hosted(pool, self._profile("extraction")),
                payment_fp=_pick(rng, cards), system=_pick(rng, SYSTEM_EXTRACTION),
                max_tokens=_pick(rng, (4096, 8192)), stream_p=_pick(rng, (0.0, 1.0)),
                since=since, budget=budget, rate=gap))
        return out


def _allocate(total: int, mix: tuple[tuple[str, float], ...]) -> list[tuple[str, int]]:
    """Largest-remainder split, with every persona present once there is room for it."""
    weights = sum(w for _, w in mix)
    raw = [(name, total * w / weights) for name, w in mix]
    counts = {name: int(x) for name, x in raw}
    if total >= len(mix):
        for name, _ in mix:
            counts[name] = max(counts[name], 1)
    by_remainder = sorted(raw, key=lambda item: item[1] - int(item[1]), reverse=True)
    i = 0
    while sum(counts.values()) < total:
        counts[by_remainder[i % len(mix)][0]] += 1
        i += 1
    while sum(counts.values()) > total:  # minimums overshot: take from the biggest
        counts[max(counts, key=counts.__getitem__)] -= 1
    return [(name, counts[name]) for name, _ in mix]


def _hydra_persona(cfg: SimConfig) -> str:
    if cfg.hydra_network == "residential_rotating":
        return "rotating_proxies"
    return "paraphrase" if cfg.hydra_paraphrase else "hydra"


def roster(cfg: SimConfig) -> list[Account]:
    """All accounts of a scenario (cheap: no events are generated)."""
    return _RosterBuilder(cfg).build()
