"""Fingerprint aggregates: what many accounts share, and whether the sharing is suspicious.

A campaign of thousands of quiet accounts shows only in what its accounts
share: infrastructure (ASN, IP /24 or /48, JA4, user agent and SDK, payment
instrument, creation cohort), content (prompt templates, long prompts' fixed
headers, system prompts) and timing (clusters of accounts acting together).
Each account score tick names the fingerprint keys the account uses right
now; each key keeps one `FingerprintAggregate`, a small plain record.

Sharing alone is innocent (a cloud ASN, a university NAT, a popular SDK), so
a key *links* accounts into a campaign on one of five rules (`LinkRule`):

- suspects: at least `min_accounts` suspicious accounts, making up at least
  `min_share` of all the distinct accounts seen on the key. A NAT of 150
  students with one suspicious student, or an SDK used by thousands, never
  links anyone;
- owners: a payment instrument or a timing cluster (`GROUP_KINDS`) shared by
  `min_owners` distinct owners (an org, else an account), however quiet each
  account is: a family card or a company's accounts are one or a few owners;
- group mean: on a specific key (`MEAN_KINDS`), the recent accounts of at
  least `min_owners` owners score `group_mean` on average, far above what a
  group of organic accounts averages, though each may stay under an alert,
  and take what distillers take (`MEAN_HARVEST`), not only act like machines;
  those scoring at least half of the rule's bar or of the group's own mean,
  whichever is higher, and at least half the group's mean harvest shape (on a
  creation day or a network, more than coding focus alone gives), with
  `MEAN_MEMBER_EVENTS` events or more, link: an organic bystander sharing a
  creation day or a network with a campaign scores far under the campaign's
  own level, or scores on machine-like signals only (a batch pipeline), and is
  not named;
- content: on a payment, system-prompt, template or header key (`CONTENT_KINDS`),
  the recent accounts of at least `min_owners` owners ask for what established
  customers do not (`distillguard.models.content`):
  the group's content mean is `content_effect` or more from the population's, and
  under `CONTENT_SUPPORT` of sampled established accounts lie nearer it than the
  population's mean (the users of one app or one campus are a common kind of
  customer; a harvest set's accounts have no such neighbours). Those whose own
  content lies at least `MEMBER_ALIGNMENT` of the way toward the group's, with
  `CONTENT_MEMBER_EVENTS` events or more, link, however quiet each is; a
  bystander's content points elsewhere;
- cards: on an opening window (`OPENED_DAYS`), `crowded_cards` cards, each shared
  by `CROWDED_OWNERS` owners who opened their accounts in it, link the accounts on
  them, and those on a card of `PAIR_OWNERS` there whose own content lies at least
  `MEMBER_ALIGNMENT` of the way toward the crowded cards' accounts' content.

Distinct accounts are counted with an HLL sketch (Apache DataSketches), so a
key shared by a million accounts still costs about a kilobyte.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from datasketches import hll_sketch

from distillguard.models.account_state import ALPHA, AccountState, misra_gries
from distillguard.models.compiled import NATIVE, twin
from distillguard.models.content import KEY_TICKS, ContentReference, running_mean
from distillguard.models.cooccurrence import band_keys
from distillguard.models.events import DAY, Event
from distillguard.models.signals import FOCUS_ONLY, harvest_shape

if TYPE_CHECKING:
    from distillguard.models._native import AggregateShape

#: accounts younger than this at their tick count as new (a creation cohort)
NEW_ACCOUNT_AGE = 14 * DAY
#: accounts at least this old at their tick are customers the content reference samples: an
#: operator must age accounts this long before they can move it (`ContentReference`)
ESTABLISHED_AGE = 30 * DAY
#: HLL precision: 2^10 registers, about 3% error, at most ~1 KiB
HLL_LG_K = 10
#: suspicious accounts remembered per key; beyond this the key links through the newest
MAX_SUSPECTS = 5000
#: ticks of different accounts this close together count as synchronised
SYNC_SECONDS = 60.0
#: templates a key tracks among its ticks' (Misra-Gries summary size)
KEY_TEMPLATES = 4
#: models a key remembers the first tick of (to follow adoption of the newest)
KEY_MODELS = 8
#: key kinds whose sharing is evidence on its own: unrelated owners do not share a payment
#: instrument, nor start acting in the same twenty seconds round after round (timing clusters
#: are built from onsets off the minute, so cron jobs and busy batch jobs do not share them)
GROUP_KINDS = ("pay:", "sync:")
#: owners remembered per group key: enough to see it pass any sane `min_owners`
MAX_OWNERS = 64
#: key kinds judged by their recent accounts' mean score: specific enough that a group of
#: unrelated customers is rare on one (not ASNs, user agents, JA4s: popular by nature)
MEAN_KINDS = ("pay:", "cohort:", "sys:", "tpl:", "hdr:", "net:")
#: key kinds remembering their recent accounts: the mean-judged ones and opening windows
RECENT_KINDS = (*MEAN_KINDS, "opened:")
#: accounts whose latest score a recent-keeping key remembers (the most recently ticking)
RECENT_ACCOUNTS = 64
#: events an account needs before a group's mean can make it a member (one says too little)
MEAN_MEMBER_EVENTS = 5
#: mean harvest shape (`harvest_shape`) a group needs for its mean score to link it: one
#: harvesting signal plainly present (outputs of about 900 tokens on average, or 60%
#: coding requests, each give 0.05). The customers of one batch tool share its template and
#: system prompt and score high on machine-like signals, yet take short, non-coding
#: outputs (their groups' mean: 0)
MEAN_HARVEST = 0.05
#: popular infrastructure, shared by unrelated customers by nature: a suspect on these must
#: score `LinkRule.broad_score` (what would alert on its own), so a busy organic account's
#: noisy ticks near `member_score` do not join it to a campaign on the same cloud or SDK
BROAD_KINDS = ("asn:", "ua:", "ja4:")
#: distinct accounts from which any key counts as popular infrastructure too (a default
#: system prompt, a big NAT): its suspects and group members need `LinkRule.broad_score`
BROAD_ACCOUNTS = 1_000
#: time constant over which a suspect's score fades once its ticks score lower
SUSPICION_TAU = 3 * DAY
#: key kinds judged by their group's content: specific ones, shared through one operator's
#: instrument or pipeline. A creation day or a /24 is shared by unrelated customers by
#: nature, and there a bystander's young, noisy content mean can point the campaign's way
#: (the full-scale benchmark named students and chat users on campaigns' cohorts)
CONTENT_KINDS = ("pay:", "sys:", "tpl:", "hdr:")
#: the `MEAN_KINDS` keys shared by unrelated customers by nature
SHARED_KINDS = ("cohort:", "net:")
#: share of a key's ticks from new accounts (`NEW_ACCOUNT_AGE`) its content needs to link
#: it: a niche kind of customer sharing one tool's system prompt or template (cloud apps,
#: a batch tool's users, an agent framework's developers) asks what few others ask too,
#: but its accounts are established; a campaign's are young unless it ages them first
#: (the full-scale classic hydra named 125 such server apps and batch pipelines without it)
CONTENT_NEW_SHARE = 0.5
#: share of established accounts whose content may look like a key's group for its content
#: to link it (`ContentReference.support`): the users of one app or one campus are many
#: among all customers, a harvest set's accounts are not
CONTENT_SUPPORT = 0.05
#: account votes into a key's content between recomputations of its support
SUPPORT_EVERY = 8
#: how far along a content-linked key's departure from the population an account's own
#: content must lie to be a member (`ContentReference.alignment`: 1 at the key's mean).
#: Halfway (0.5) named organic bystanders on campaigns' cohorts in the full-scale benchmark:
#: a young account's mean of a few prompts, against a key mean barely past the bar, is noisy
MEMBER_ALIGNMENT = 0.75
#: events an account needs before its content can make it a member (about two chunks of
#: sampled prompts: one alone is too noisy to place)
CONTENT_MEMBER_EVENTS = 30
#: accounts opened within this many days of each other share an opening window: keys
#: `opened:<first day>` of windows this wide, starting every half width, so that any batch
#: of accounts opened within half the width falls whole into one window
OPENED_DAYS = 4
#: on an opening window, a card shared by this many owners who opened their accounts in it
#: is crowded (`LinkRule.crowded_cards` of them link). A household or a small team on one
#: card opens its accounts over months, and a company's staff are one owner; an operator
#: buying a few cards for a batch of accounts opens them together
CROWDED_OWNERS = 3
#: cards an opening window remembers (the most recently seen), and owners per card
WINDOW_CARDS = 256
CARD_OWNERS = 8
#: on an opening window linked by its crowded cards, a card of this many owners links them
#: too when their content lies the crowd's way (`MEMBER_ALIGNMENT`): an operator's stock
#: of cards is spread at random, so some carry two of its accounts, not three. A household
#: or a team of two opening its accounts in those days asks what its own members ask, not
#: what the crowd's harvest set asks
PAIR_OWNERS = 2


@dataclass(frozen=True, slots=True)
class LinkRule:
    """When a shared fingerprint links its accounts into a campaign.

    Built by `DetectorConfig.link_rule`, which declares the values and their help.
    """

    member_score: float   # an account at or above this score is a suspect
    min_accounts: int     # suspects needed on one key
    min_share: float      # suspects / distinct accounts on the key
    min_owners: int       # owners sharing a group key (or a mean-judged one) that link them
    group_mean: float     # recent accounts' mean score that links a mean-judged key
    content_effect: float  # content effect size (`ContentReference.judge`) that links one
    crowded_cards: int    # crowded cards (`CROWDED_OWNERS`) that link an opening window's
                          # accounts on them (with min_owners owners): one household
                          # signing up together is ordinary, several in a few days are a
                          # batch of accounts sharing a stock of cards
    broad_score: float    # a suspect's or group member's score on popular infrastructure
                          # (BROAD_KINDS, or a key of over BROAD_ACCOUNTS accounts)


@dataclass(frozen=True, slots=True)
class Tick:
    """What one account score tick tells the campaign layer (no text, only keys)."""

    account: str
    ts: float
    score: float
    events: int          # the account's events so far
    keys: tuple[str, ...]
    new_account: bool
    model: str = ""
    org: str = ""        # the account's organisation, if the gateway names one
    provisional: bool = False  # scored by the rules before min_events: never a suspect
    harvest: float = 0.0       # `harvest_shape` of the account: what it takes, 0..1
    content: str = ""          # its content mean (`content.pack`), "" for none
    established: bool = False  # older than `ESTABLISHED_AGE` (or of unknown age)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Tick:
        """The tick a packed tick's JSON object decodes to (trusted: the score step wrote it).

        JSON has no tuples: `keys` comes back a list and is made the tuple it was, so the
        tick equals the one sent and the compiled fold, which reads a tuple, takes it.

        >>> import orjson
        >>> t = Tick("a", 1.0, 0.5, 3, ("asn:1", "tpl:x"), False)
        >>> Tick.from_doc(orjson.loads(orjson.dumps(t))) == t
        True
        """
        return cls(**(doc | {"keys": tuple(doc["keys"])}))


@functools.lru_cache(maxsize=1 << 16)  # ipaddress parses slowly; an account's address repeats
def network_of(ip: str) -> str | None:
    """The /24 of an IPv4 address or the /48 of an IPv6 one; None if not an address.

    >>> network_of("203.0.113.7")
    '203.0.113.0/24'
    >>> network_of("2001:db8:1234:5678::1")
    '2001:db8:1234::/48'
    >>> network_of("not-an-ip") is None
    True
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def tick_keys(ev: Event, state: AccountState) -> tuple[str, ...]:
    """Fingerprint keys of an account at a tick: its current infrastructure and content."""
    keys = []
    if ev.asn is not None:
        keys.append(f"asn:{ev.asn}")
    if ev.ip is not None and (net := network_of(ev.ip)) is not None:
        keys.append(f"net:{net}")
    if ev.ja4:
        keys.append(f"ja4:{ev.ja4}")
    if ev.user_agent or ev.sdk:
        keys.append(f"ua:{ev.user_agent or ''}|{ev.sdk or ''}")
    if ev.payment_fp:
        keys.append(f"pay:{ev.payment_fp}")
    if ev.account_created is not None:
        day = int(ev.account_created // DAY)
        keys.append(f"cohort:{day}")
        if ev.payment_fp and ev.ts - ev.account_created < ESTABLISHED_AGE:
            half = OPENED_DAYS // 2  # the two windows holding the day
            keys.extend(f"opened:{start}" for start in (day // half * half,
                                                        (day // half - 1) * half))
    if state.sys_fp:
        keys.append(f"sys:{state.sys_fp}")
    keys.extend(f"tpl:{fp}" for fp, count in state.tpl if count >= 2)
    keys.extend(f"hdr:{fp}" for fp, count in state.hdr if count >= 2)
    bands = band_keys(state.tsig)
    if bands:  # a key's aggregate remembers its members: send a timing band when it changes
        sent = state.tsig_sent or [0] * len(bands)
        for i, band in enumerate(bands):
            digest = zlib.crc32(band.encode()) & 0xFFFF if band else 0
            if digest != sent[i]:
                sent[i] = digest
                if band:
                    keys.append(band)
        state.tsig_sent = sent
    return tuple(keys)


def make_tick(ev: Event, state: AccountState, score: float,
              provisional: bool = False) -> Tick:
    """What an account's score tick tells the campaign layer: score, keys, cohort."""
    age = None if ev.account_created is None else ev.ts - ev.account_created
    return Tick(ev.account_id, ev.ts, score, state.n, tick_keys(ev, state),
                age is not None and age < NEW_ACCOUNT_AGE, ev.model, ev.org_id or "",
                provisional, round(harvest_shape(state), 4), state.emb,
                age is None or age >= ESTABLISHED_AGE)


@dataclass
class FingerprintAggregate:
    """Online aggregate of one fingerprint key; a plain record for a table.

    Not slotted, like `AccountState` and for its reason: the fields live in the
    instance `__dict__` in field order, as the stored record holds them, so
    converting between the two is one dict copy.
    """

    ticks: int = 0
    first: float = 0.0
    last: float = 0.0
    hll: str = ""                                           # base64 HLL of account ids
    # account -> [score, events, ts]: suspects, or on a group key every account that ticked
    suspects: dict[str, list[float]] = field(default_factory=dict)
    owners: list[str] = field(default_factory=list)  # group keys: distinct owners (org or account)
    # mean-judged keys: account -> [score, events, owner, harvest, alignment, voted] of the
    # latest RECENT_ACCOUNTS (alignment: `ContentReference.alignment`, None without content
    # or before the reference is ready; voted: its content is in `emb` since it last
    # became recent)
    recent: dict[str, list[Any]] = field(default_factory=dict)
    new_ticks: int = 0                                      # ticks from new accounts
    linked: bool = False                                    # links accounts now
    rate: float = 0.0               # decayed ticks, time constant one day
    sync: float = 0.0               # EW share of ticks within SYNC_SECONDS of another account's
    last_account: str = ""
    tpls: list[list[Any]] = field(default_factory=list)   # heavy hitters of templates seen here
    tpl_ticks: int = 0
    models: dict[str, float] = field(default_factory=dict)  # model -> first seen on this key
    newest: float = 0.0             # EW share of ticks on the key's newest model
    burst: float = 0.0              # highest MIDAS burst score seen
    # opening windows: card -> owners who opened their accounts in it (`CROWDED_OWNERS`)
    cards: dict[str, list[str]] = field(default_factory=dict)
    crowded: int = 0                # opening windows: cards with `CROWDED_OWNERS` owners
    crowded_owners: int = 0         # opening windows: owners on those cards
    emb: str = ""                   # content mean (packed) of a `CONTENT_KINDS` key's accounts,
                                    # of an opening window's accounts on crowded cards
    emb_n: int = 0                  # account votes folded into `emb`
    support: float = -1.0           # `ContentReference.support` of `emb` (-1: not yet)
    support_n: int = 0              # `emb_n` when `support` was computed
    off: int = -1                   # highest offset of the key's tick partition applied

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FingerprintAggregate:
        """The aggregate of a stored record: copied straight in when `as_dict` wrote it
        (every field, in field order), else through `__init__` (defaults, and an error
        for unknown names)."""
        if tuple(d) != _AGG_FIELDS:
            return cls(**d)
        agg = cls.__new__(cls)
        agg.__dict__ = d.copy()
        return agg

    def as_dict(self) -> dict[str, Any]:
        """Shallow, like `AccountState.as_dict`: the record replaces the stored one."""
        return self.__dict__.copy()

    def distinct_accounts(self) -> float:
        """Estimate of the distinct accounts seen on the key (HLL), 0 before any."""
        return _sketch(self.hll).get_estimate() if self.hll else 0.0

    def suspect_share(self, distinct: float | None = None) -> float:
        """Suspects among the distinct accounts (`distinct`: the estimate, if known)."""
        if distinct is None:
            distinct = self.distinct_accounts()
        return min(1.0, len(self.suspects) / max(distinct, float(len(self.suspects)), 1.0))

    def stats(self, distinct: float | None = None, mean: float | None = None,
              content_effect: float | None = None) -> dict[str, float]:
        """What an analyst reads about a shared fingerprint (campaign evidence).

        `distinct` and `mean` are the HLL estimate and `recent_mean`, if known;
        `content_effect` the key's content effect size, if judged.
        """
        if distinct is None:
            distinct = self.distinct_accounts()
        if mean is None:
            mean = self.recent_mean()
        top_tpl = max((c for _, c in self.tpls), default=0)
        return {
            "distinct_accounts": round(distinct, 1),
            "suspect_share": round(self.suspect_share(distinct), 3),
            "ticks_per_day": round(self.rate, 2),
            "new_account_share": round(self.new_ticks / self.ticks, 3) if self.ticks else 0.0,
            "timing_synchrony": round(self.sync, 3),
            "template_concentration": round(top_tpl / self.tpl_ticks, 3) if self.tpl_ticks else 0.0,
            "newest_model_share": round(self.newest, 3),
            "burst": round(self.burst, 1),
            **({"distinct_owners": float(len(self.owners))} if self.owners else {}),
            **({"group_mean_score": round(mean, 3),
                "group_harvest_shape": round(self.recent_harvest(), 3)} if self.recent else {}),
            **({"crowded_cards": float(self.crowded),
                "crowded_card_owners": float(self.crowded_owners)} if self.crowded else {}),
            **({"content_effect": round(content_effect, 3)} if content_effect is not None
               else {}),
            **({"content_support": self.support} if self.support >= 0 else {}),
        }

    def recent_mean(self) -> float:
        """The mean latest score of the key's recent accounts (0 for none)."""
        return sum(map(_FIRST, self.recent.values())) / max(len(self.recent), 1)

    def recent_harvest(self) -> float:
        """The mean harvest shape of the key's recent accounts (0 for none; entries
        stored before it was kept count 0)."""
        return sum([r[3] for r in self.recent.values() if len(r) > 3]) / max(len(self.recent), 1)

    def recent_owners(self) -> int:
        """Distinct owners among the key's recent accounts."""
        return len(set(map(_OWNER, self.recent.values())))


_AGG_FIELDS = tuple(f.name for f in fields(FingerprintAggregate))
#: a recent entry's score and owner (C-level readers: these sums run at every fold)
_FIRST, _OWNER = itemgetter(0), itemgetter(2)


def _sketch(b64: str) -> hll_sketch:
    return hll_sketch.deserialize(base64.b64decode(b64))


#: deserialised HLL sketches of recently folded keys: key -> (serialised form, sketch)
_LIVE: OrderedDict[str, tuple[str, hll_sketch]] = OrderedDict()
LIVE_SKETCHES = 4096


def _add_account(key: str, b64: str, account: str) -> tuple[str, float]:
    """The key's sketch (serialised as `b64`) with `account` added: its serialised form
    and its estimate of the distinct accounts.

    Busy keys fold a tick per few events; decoding their sketch each time cost
    more than the rest of the fold, so it is kept decoded while its record's form
    is the one cached (a record from elsewhere, table recovery or another worker,
    is decoded afresh). Most ticks come from accounts the sketch holds already:
    such an update changes nothing, and the estimate, which moves with every new
    coupon or raised register, stays put. A sketch kept decoded then keeps `b64`,
    the bytes serialising it again would give. One decoded afresh is serialised
    again all the same: its serialisation need not repeat the bytes it came from.
    """
    cached = _LIVE.pop(key, None)
    before = None
    if cached is not None and cached[0] == b64:
        sketch = cached[1]
        before = sketch.get_estimate()
    else:
        sketch = _sketch(b64) if b64 else hll_sketch(HLL_LG_K)
    sketch.update(account)
    distinct = sketch.get_estimate()
    if distinct != before:
        b64 = base64.b64encode(sketch.serialize_compact()).decode()
    _LIVE[key] = (b64, sketch)
    if len(_LIVE) > LIVE_SKETCHES:
        _LIVE.popitem(last=False)
    return b64, distinct


@dataclass(frozen=True, slots=True)
class Link:
    """A key that links accounts: each (account, score, events) joins through `key`."""

    key: str
    ts: float
    accounts: tuple[tuple[str, float, int], ...]
    stats: dict[str, float] = field(default_factory=dict)


def update_aggregate(agg: FingerprintAggregate, key: str, tick: Tick, rule: LinkRule,
                     burst: float = 0.0, reference: ContentReference | None = None) -> Link | None:
    """Fold one tick into a key's aggregate; return the link it creates, if any.

    When a key first qualifies it links all its members at once; afterwards
    each member links as its own ticks arrive, so the work per tick is bounded
    (by `RECENT_ACCOUNTS`) however large the campaign grows. `burst` is the key's MIDAS score
    for this tick (see `distillguard.models.density`); `reference` the population's content
    (see `distillguard.models.content`), which judges a `CONTENT_KINDS` key's content.
    """
    if agg.ticks == 0:
        agg.first = agg.last = tick.ts
    _update_shape(agg, key, tick, burst)
    agg.hll, distinct = _add_account(key, agg.hll, tick.account)
    group = key.startswith(GROUP_KINDS)
    owner = tick.org or tick.account  # one customer's accounts count once
    if group and owner not in agg.owners and len(agg.owners) < MAX_OWNERS:
        agg.owners.append(owner)
    score = tick.score
    held = agg.suspects.get(tick.account)
    if held is not None and len(held) > 2 and score < held[0]:  # it fades, not vanishes
        score = max(score, held[0] * math.exp(-max(tick.ts - held[2], 0.0) / SUSPICION_TAU))
    broad = key.startswith(BROAD_KINDS) or distinct > BROAD_ACCOUNTS
    bar = rule.broad_score if broad else rule.member_score
    if group or (score >= bar and not tick.provisional):
        agg.suspects[tick.account] = [round(score, 4), tick.events, tick.ts]
        if len(agg.suspects) > MAX_SUSPECTS:
            del agg.suspects[next(iter(agg.suspects))]
    else:
        agg.suspects.pop(tick.account, None)
    entry: list[Any] | None = None
    card = _fold_card(agg, tick, owner) if key.startswith("opened:") else None
    card_owners = len(agg.cards[card]) if card is not None else 0
    crowded = card_owners >= CROWDED_OWNERS
    if key.startswith(RECENT_KINDS):
        prev = agg.recent.pop(tick.account, None)  # re-inserted last: the dict keeps recency
        voted = prev is not None and len(prev) > 5 and prev[5]
        if tick.content and (crowded or key.startswith(CONTENT_KINDS)):
            if not voted:  # one vote per account while it stays recent: a busy one (a batch
                voted = True  # pipeline) must not make the group's content its own
                agg.emb_n += 1
                agg.emb = running_mean(agg.emb, tick.content,
                                       max(1.0 / KEY_TICKS, 1.0 / agg.emb_n))
        entry = agg.recent[tick.account] = [round(score, 4), tick.events, owner, tick.harvest,
                                            None, voted]
        if len(agg.recent) > RECENT_ACCOUNTS:
            del agg.recent[next(iter(agg.recent))]
    by_owners = group and len(agg.owners) >= rule.min_owners
    by_suspects = (not group and len(agg.suspects) >= rule.min_accounts
                   and agg.suspect_share(distinct) >= rule.min_share)
    # the mean only where it can link the key (a link's stats compute it otherwise)
    mean = (agg.recent_mean() if key.startswith(MEAN_KINDS) and len(agg.recent) >= rule.min_owners
            else None)
    harvest = 0.0
    by_mean = (mean is not None and mean >= rule.group_mean
               and agg.recent_owners() >= rule.min_owners
               and (harvest := agg.recent_harvest()) >= MEAN_HARVEST)
    by_cards = agg.crowded >= rule.crowded_cards and agg.crowded_owners >= rule.min_owners
    # an opening window's content (its crowd's) counts only once its cards link it
    effect = (_content_effect(agg, rule, reference)
              if by_cards or key.startswith(CONTENT_KINDS) else None)
    align = None
    if entry is not None and tick.content and agg.emb and reference is not None and reference.ready:
        align = entry[4] = round(reference.alignment(tick.content, agg.emb), 3)
    by_content = (key.startswith(CONTENT_KINDS) and effect is not None
                  and effect >= rule.content_effect
                  and agg.recent_owners() >= rule.min_owners
                  and agg.new_ticks >= CONTENT_NEW_SHARE * agg.ticks
                  and _content_support(agg, reference) <= CONTENT_SUPPORT)
    # the crowd's content says which way a card pair's must lie, once it plainly departs
    crowd_content = by_cards and effect is not None and effect >= rule.content_effect / 2
    if not (by_owners or by_suspects or by_mean or by_content or by_cards):
        agg.linked = False
        return None
    strong = by_owners or by_suspects
    floor = max(rule.group_mean, mean) / 2 if by_mean and mean is not None else 1.0
    # a member by the mean takes what the group takes, half as much at least; on a key
    # unrelated customers share by nature (`SHARED_KINDS`) also more than coding focus alone
    # gives, which organic developers and busy batch jobs created the same day show too
    harvest_floor = harvest / 2
    focus_enough = not key.startswith(SHARED_KINDS)
    least = rule.broad_score if broad else 0.0  # what any group member scores at least

    def joins(entry_score: float, events: int, entry_harvest: float, entry_align: float | None,
              card_owners: int) -> bool:
        """A recent account joins by the group's mean (if it takes something distillers
        take), by sharing its content, or by sharing a crowded card of the opening window
        (`card_owners`: owners who opened their accounts in the window on its card), or a
        card of two there while asking what the crowd asks. A crowded card is evidence of
        its own, so a new account on one joins from its first request; the group's mean needs
        `MEAN_MEMBER_EVENTS` of the account's own."""
        if entry_score < least:
            return False
        aligned = entry_align is not None and entry_align >= MEMBER_ALIGNMENT
        return ((by_mean and events >= MEAN_MEMBER_EVENTS and entry_score >= floor
                 and entry_harvest >= harvest_floor
                 and (focus_enough or entry_harvest > FOCUS_ONLY))
                or (by_content and aligned and events >= CONTENT_MEMBER_EVENTS)
                or (by_cards and card_owners >= CROWDED_OWNERS)
                or (crowd_content and card_owners >= PAIR_OWNERS and aligned))

    if not agg.linked:  # it qualifies now: link every member at once
        agg.linked = True
        if strong:
            members = tuple((a, s, int(n)) for a, (s, n, *_) in agg.suspects.items())
        else:
            on_card = {o: len(owners) for owners in agg.cards.values() for o in owners}
            members = tuple((a, r[0], int(r[1])) for a, r in agg.recent.items()
                            if joins(r[0], r[1], r[3] if len(r) > 3 else 0.0,
                                     r[4] if len(r) > 4 else None,
                                     on_card.get(r[2], 0)))
        return Link(key, tick.ts, members, agg.stats(distinct, mean, effect))
    # afterwards the tick's own account, if it is a member: a group key links each account
    # once, a suspect or a member by the group's mean, content or cards relinks with its
    # newer score
    if strong and tick.account in agg.suspects:
        member = not (group and held is not None)
    else:
        member = joins(score, tick.events, tick.harvest, align, card_owners)
    if not member:
        return None
    return Link(key, tick.ts, ((tick.account, score, tick.events),),
                agg.stats(distinct, mean, effect))


def _fold_card(agg: FingerprintAggregate, tick: Tick, owner: str) -> str | None:
    """Note the tick's card and owner on an opening window; return the card (None for none)."""
    card = next((k[4:24] for k in tick.keys if k.startswith("pay:")), None)
    if card is None:
        return None
    owners = agg.cards.pop(card, [])  # re-inserted last: the dict keeps recency
    if owner not in owners and len(owners) < CARD_OWNERS:
        owners.append(owner)
        if len(owners) >= CROWDED_OWNERS:
            agg.crowded += len(owners) == CROWDED_OWNERS
            agg.crowded_owners += CROWDED_OWNERS if len(owners) == CROWDED_OWNERS else 1
    agg.cards[card] = owners
    if len(agg.cards) > WINDOW_CARDS:
        evicted = len(agg.cards.pop(next(iter(agg.cards))))
        if evicted >= CROWDED_OWNERS:
            agg.crowded -= 1
            agg.crowded_owners -= evicted
    return card


def _content_support(agg: FingerprintAggregate, reference: ContentReference | None) -> float:
    """`ContentReference.support` of the key's content, recomputed every
    `SUPPORT_EVERY` account votes into it (it reads the whole sample)."""
    if reference is not None and (agg.support < 0 or agg.emb_n - agg.support_n >= SUPPORT_EVERY):
        agg.support, agg.support_n = round(reference.support(agg.emb), 3), agg.emb_n
    return agg.support


def _content_effect(agg: FingerprintAggregate, rule: LinkRule,
                    reference: ContentReference | None) -> float | None:
    """The key's content effect size, once its content and the reference can say (None
    before: too few accounts with content, or the reference still warming up)."""
    if reference is None or not reference.ready or not agg.emb:
        return None
    accounts = len([r for r in agg.recent.values() if len(r) > 5 and r[5]])
    if accounts < rule.min_owners:
        return None
    return reference.judge(agg.emb, accounts)


def _update_shape(agg: FingerprintAggregate, key: str, tick: Tick, burst: float) -> None:
    """Rates, synchrony, template concentration, model adoption, burst: O(1) each.

    The compiled twin (`SHAPE`) takes the aggregate and tick it expects and leaves the
    same aggregate; anything else it leaves to `python_update_shape`.
    """
    if SHAPE is None or SHAPE.update(agg.__dict__, key, tick, burst) is None:
        python_update_shape(agg, key, tick, burst)


def python_update_shape(agg: FingerprintAggregate, key: str, tick: Tick, burst: float) -> None:
    """`_update_shape` in Python: the reference the compiled twin is checked against."""
    gap = tick.ts - agg.last
    a = max(ALPHA, 1.0 / (agg.ticks + 1))
    if agg.ticks:
        other = tick.account != agg.last_account
        agg.sync += a * ((1.0 if other and 0 <= gap <= SYNC_SECONDS else 0.0) - agg.sync)
    agg.rate = agg.rate * math.exp(-max(gap, 0.0) / DAY) + 1.0
    agg.ticks += 1
    agg.last = max(agg.last, tick.ts)
    agg.last_account = tick.account
    agg.new_ticks += tick.new_account
    agg.burst = max(agg.burst, burst)
    if not key.startswith("tpl:"):
        for tpl in tick.keys:
            if tpl.startswith("tpl:"):
                agg.tpl_ticks += 1
                misra_gries(agg.tpls, tpl, KEY_TEMPLATES)
    if tick.model:
        if tick.model not in agg.models and len(agg.models) < KEY_MODELS:
            agg.models[tick.model] = tick.ts
        newest = max(agg.models, key=agg.models.__getitem__) if agg.models else ""
        agg.newest += a * ((1.0 if tick.model == newest else 0.0) - agg.newest)


def _compiled_shape() -> AggregateShape | None:
    """The compiled `_update_shape`, given this module's constants."""
    if NATIVE is None:
        return None
    shape: AggregateShape = NATIVE.AggregateShape(ALPHA, SYNC_SECONDS, DAY, KEY_TEMPLATES,
                                                  KEY_MODELS)
    return shape


#: the compiled twin of `_update_shape` (None: Python only); `compiled.python_twin` sets it aside
SHAPE = twin(__name__, "SHAPE", _compiled_shape())


def applied(record: dict[str, Any] | None, offset: int) -> bool:
    """Whether the tick at `offset` is in the key's aggregate already.

    All ticks of one key share a partition and are folded in offset order, so
    one at or below the highest offset folded is a redelivery after a crash.
    """
    return record is not None and offset <= record.get("off", -1)


def fold(record: dict[str, Any] | None, key: str, tick: Tick, rule: LinkRule,
         burst: float = 0.0, offset: int = -1,
         reference: ContentReference | None = None) -> tuple[dict[str, Any], Link | None]:
    """`update_aggregate` on a stored plain record: what a table-keeping caller needs.

    `offset` is the tick's position in its partition (see `applied`).
    """
    agg = FingerprintAggregate.from_dict(record) if record else FingerprintAggregate()
    agg.off = max(agg.off, offset)
    link = update_aggregate(agg, key, tick, rule, burst, reference)
    return agg.as_dict(), link
