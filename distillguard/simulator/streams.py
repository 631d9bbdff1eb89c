"""Deterministic, labelled traffic simulator for LLM API gateway events.

Why this exists: the detector cannot be evaluated on production traffic (no labels), so we
synthesise the request stream an API gateway would publish to Kafka, with organic personas
that are deliberately hard to tell apart from extraction campaigns on any single field
(shared SDKs/JA4s/ASNs, cohort-created student accounts, templated batch jobs, agents with
CoT-like prompts). Every event carries ``sim_label`` / ``sim_persona`` / ``sim_campaign``
so benchmarks can score the detector; the detector ignores those fields.

Output is a merge of per-account (and per-campaign) generators ordered by event time, so
large scenarios stream without holding all events in memory, and a given ``SimConfig``
always yields byte-identical output (every random draw comes from a seeded ``Random``).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import string
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from statistics import NormalDist
from typing import IO, Literal, TypeVar

import orjson

T = TypeVar("T")

DAY = 86_400.0
HOUR = 3_600.0

ORGANIC = "organic"
EXTRACTION = "extraction"

OLD_MODEL = "frontier-4"
MINI_MODEL = "frontier-4-mini"
LEGACY_MODEL = "frontier-3"

# Account shares; heavy personas are rare, as in real traffic (and it keeps the 20k-account
# benchmark at roughly 0.7M events per simulated day).
DEFAULT_MIX: tuple[tuple[str, float], ...] = (
    ("casual_chat", 0.822),
    ("nat_student", 0.14),
    ("developer_agent", 0.025),
    ("server_app", 0.01),
    ("batch_pipeline", 0.003),
)


@dataclass(frozen=True)
class SimConfig:
    """Everything that determines a simulated stream; equal configs give equal streams."""

    seed: int = 7
    start_ts: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    days: float = 2.0
    organic_accounts: int = 60  # split across organic personas by ``persona_mix``
    loud_accounts: int = 1  # single high-rate extraction account(s)
    hydra_accounts: int = 0  # quiet coordinated campaign accounts
    persona_mix: tuple[tuple[str, float], ...] = DEFAULT_MIX
    students_per_nat: int = 150  # student accounts sharing one university NAT address
    loud_rate_per_day: float = 3_000.0
    hydra_rate_per_day: float = 25.0  # per campaign account
    hydra_asns: int = 30  # size of the campaign's hosting/proxy ASN pool
    hydra_templates: int = 4  # 3-5 shared prompt templates
    hydra_timing: Literal["round_robin", "lockstep"] = "round_robin"
    hydra_network: Literal["hosting", "residential_rotating"] = "hosting"
    hydra_paraphrase: bool = False  # reword each templated prompt, keeping its structure
    pivot_accounts: int = 0  # aged organic accounts that turn to extraction
    pivot_day: float = 1.0  # days after start_ts when the pivot happens
    pivot_rate_per_day: float = 1_200.0
    release_day: float | None = None  # days after start_ts when ``new_model`` launches
    new_model: str = "frontier-5"

    def __post_init__(self) -> None:
        if self.hydra_timing not in ("round_robin", "lockstep"):
            raise ValueError(f"unknown hydra_timing {self.hydra_timing!r}")
        if self.hydra_network not in ("hosting", "residential_rotating"):
            raise ValueError(f"unknown hydra_network {self.hydra_network!r}")
        if not 1 <= self.hydra_asns <= len(HOSTING_ASNS) + len(CLOUD_ASNS):
            raise ValueError(f"hydra_asns must be in 1..{len(HOSTING_ASNS) + len(CLOUD_ASNS)}")
        if not 1 <= self.hydra_templates <= len(HYDRA_TEMPLATES):
            raise ValueError(f"hydra_templates must be in 1..{len(HYDRA_TEMPLATES)}")
        unknown = {name for name, _ in self.persona_mix} - set(ORGANIC_PERSONAS)
        if unknown:
            raise ValueError(f"unknown organic personas {sorted(unknown)}")

    @property
    def end_ts(self) -> float:
        return self.start_ts + self.days * DAY

    @property
    def release_ts(self) -> float:
        return math.inf if self.release_day is None else self.start_ts + self.release_day * DAY


# --------------------------------------------------------------------------------------
# The world: networks, countries, client software. Shared by organic and campaign
# accounts on purpose, so no single network or client field separates them.
# --------------------------------------------------------------------------------------

# country -> (weight, UTC offsets in hours, residential/mobile ASNs)
COUNTRIES: dict[str, tuple[float, tuple[float, ...], tuple[int, ...]]] = {
    "US": (30, (-5, -6, -7, -8), (7922, 7018, 701, 20115, 22773, 21928)),
    "IN": (8, (5.5,), (55836, 45609, 24560)),
    "GB": (6, (0,), (2856, 5089, 5607)),
    "DE": (6, (1,), (3320, 3209, 6805)),
    "FR": (4, (1,), (3215, 12322, 5410)),
    "BR": (4, (-3,), (28573, 18881)),
    "JP": (4, (9,), (4713, 2516, 17676)),
    "KR": (3, (9,), (4766, 9318)),
    "CA": (3, (-5, -8), (812, 577)),
    "AU": (2, (10,), (1221, 4804)),
    "NL": (2, (1,), (1136, 33915)),
    "ES": (2, (1,), (3352,)),
    "PL": (2, (1,), (5617,)),
    "SG": (2, (8,), (7473,)),
    "MX": (2, (-6,), (8151,)),
}
COUNTRY_CODES = tuple(COUNTRIES)
COUNTRY_WEIGHTS = tuple(COUNTRIES[c][0] for c in COUNTRY_CODES)
RESIDENTIAL = tuple((asn, cc) for cc in COUNTRY_CODES for asn in COUNTRIES[cc][2])
RESIDENTIAL_WEIGHTS = tuple(COUNTRIES[cc][0] / len(COUNTRIES[cc][2]) for _, cc in RESIDENTIAL)

# Big clouds: backends of legitimate apps live here, and so does part of the campaign infra.
CLOUD_ASNS: tuple[tuple[int, str], ...] = (
    (16509, "US"), (14618, "US"), (15169, "US"), (396982, "US"), (8075, "US"),
    (14061, "US"), (24940, "DE"), (16276, "FR"), (63949, "US"), (31898, "US"),
)
# Hosting / proxy providers favoured by campaigns (but also used by some developers).
HOSTING_ASNS: tuple[tuple[int, str], ...] = (
    (9009, "GB"), (60781, "NL"), (20473, "US"), (51167, "DE"), (12876, "FR"),
    (60068, "GB"), (21859, "US"), (40676, "US"), (8100, "US"), (7979, "US"),
    (199524, "LU"), (47583, "LT"), (36007, "US"), (62240, "GB"), (3214, "DE"),
    (53667, "US"), (36352, "US"), (46844, "US"), (8560, "DE"), (29802, "US"),
    (62563, "US"), (35916, "US"), (54290, "US"), (23470, "US"), (42831, "GB"),
    (16125, "LT"), (197540, "DE"), (58061, "LV"),
)
UNIVERSITY_ASNS: tuple[tuple[int, str], ...] = (
    (3, "US"), (2152, "US"), (11537, "US"), (786, "GB"), (680, "DE"), (2200, "FR"),
    (1103, "NL"), (7575, "AU"), (2907, "JP"), (55824, "IN"), (1916, "BR"),
)
COUNTRY_TZ_FALLBACK = {"LU": 1.0, "LT": 2.0, "LV": 2.0}

_PUBLIC_FIRST_OCTETS = tuple(
    o for o in range(2, 224) if o not in (10, 100, 127, 169, 172, 192, 198, 203)
)


def _asn_prefixes(asn: int) -> tuple[tuple[int, int], ...]:
    """Three stable IPv4 /16s per ASN, so addresses of one ASN look like one network."""
    digest = hashlib.blake2b(str(asn).encode(), digest_size=6).digest()
    return tuple(
        (_PUBLIC_FIRST_OCTETS[digest[2 * i] % len(_PUBLIC_FIRST_OCTETS)], digest[2 * i + 1])
        for i in range(3)
    )


def _ipv4(rng: random.Random, asn: int) -> str:
    a, b = _pick(rng, _asn_prefixes(asn))
    return f"{a}.{b}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _ipv6(rng: random.Random, asn: int) -> str:
    return (
        f"2a0{asn % 10}:{asn % 0xFFFF:x}:{rng.getrandbits(16):x}:"
        f"{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    )


def _tz_for(rng: random.Random, country: str) -> float:
    if country in COUNTRIES:
        return _pick(rng, COUNTRIES[country][1])
    return COUNTRY_TZ_FALLBACK.get(country, 0.0)


_JA4 = {
    "py311": "t13d1714h2_5b57614c22b0_7baf387fc6ff",
    "py310": "t13d1813h2_e8f1e7e78f70_8a2ce8d4f9f1",
    "node20": "t13d1516h2_8daaf6152771_02713d6af862",
    "node18": "t13d1515h2_8daaf6152771_b1ff8ab2d16f",
    "go": "t13d0912h2_f91f431d341e_dc02a0f0c5c9",
    "curl": "t13d3112h2_e8f1e7e78f70_1f22a2ca17c4",
    "java": "t13d1712h2_5b57614c22b0_3cbfd9057e0d",
}

# (sdk, user agent, TLS stack): popular client builds, each shared by many accounts.
SDK_PROFILES: dict[str, tuple[str, str, str]] = {
    "py_new": ("anthropic-python", "anthropic-python/0.52.2", "py311"),
    "py_old": ("anthropic-python", "anthropic-python/0.49.0", "py310"),
    "ts_new": ("anthropic-typescript", "anthropic-typescript/0.40.1 node/20.11.1", "node20"),
    "ts_old": ("anthropic-typescript", "anthropic-typescript/0.36.3 node/18.19.0", "node18"),
    "openai_py": ("openai-python", "OpenAI/Python 1.61.0", "py311"),
    "httpx": ("httpx", "python-httpx/0.27.2", "py311"),
    "langchain": ("langchain", "langchain-anthropic/0.3.1 anthropic-python/0.45.2", "py310"),
    "ai_sdk": ("vercel-ai", "ai-sdk/4.1.2 runtime/vercel-edge", "node20"),
    "agent_cli": ("codeagent-cli", "codeagent-cli/1.0.31 (external, cli)", "node20"),
    "go": ("go-sdk", "anthropic-go/0.2.0 Go-http-client/2.0", "go"),
    "java": ("anthropic-java", "anthropic-java/0.8.0 okhttp/4.12.0", "java"),
    "curl": ("curl", "curl/8.5.0", "curl"),
}

# persona -> weights over SDK_PROFILES keys
SDK_MIX: dict[str, dict[str, float]] = {
    "casual_chat": {"ts_new": 4, "ts_old": 2, "ai_sdk": 3, "py_new": 3, "openai_py": 2,
                    "py_old": 1, "curl": 0.3},
    "nat_student": {"py_new": 5, "py_old": 2, "openai_py": 3, "httpx": 1, "ts_new": 1,
                    "langchain": 1, "curl": 0.5},
    "developer_agent": {"agent_cli": 8, "ts_new": 2, "py_new": 2, "go": 0.5},
    "server_app": {"py_new": 3, "ts_new": 3, "langchain": 2, "ai_sdk": 2, "java": 1, "go": 1,
                   "openai_py": 1},
    "batch_pipeline": {"py_new": 4, "py_old": 2, "httpx": 1, "java": 1, "go": 0.5},
    "extraction": {"py_new": 4, "openai_py": 3, "httpx": 2, "py_old": 1, "ts_new": 1},
}


def _client(rng: random.Random, profile: str, asn: int, country: str, v6: bool = False) -> dict:
    sdk, ua, stack = SDK_PROFILES[profile]
    ip = _ipv6(rng, asn) if v6 else _ipv4(rng, asn)
    return {"ip": ip, "asn": asn, "country": country, "user_agent": ua, "ja4": _JA4[stack],
            "sdk": sdk}


def _pick(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice`` without its per-call overhead (this is the generator's hottest path)."""
    return seq[int(rng.random() * len(seq))]


# Standard-normal quantiles: one table lookup is several times cheaper than ``gauss`` and the
# tails beyond about 3.5 sigma do not matter for traffic shapes.
_Z = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))


def _lognorm(rng: random.Random, median: float, sigma: float) -> float:
    """Log-normal draw parameterised by its median."""
    return median * math.exp(sigma * _Z[int(rng.random() * 4096)])


def _pick_weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(tuple(weights), weights=tuple(weights.values()))[0]


# --------------------------------------------------------------------------------------
# Text: a tiny recursive grammar gives organic prompts enough combinatorial variety that two
# of them rarely coincide, while extraction templates keep fixed wording around slots that a
# normalising fingerprint (numbers, identifiers, code, quoted strings) would collapse.
# --------------------------------------------------------------------------------------

_FMT = string.Formatter()

ID_VERBS = ("get", "set", "load", "parse", "build", "fetch", "compute", "update", "validate",
            "render", "merge", "split", "encode", "decode", "sync", "flush", "resolve",
            "normalize", "apply", "handle", "find", "sort", "filter", "emit", "retry")
ID_NOUNS = ("user", "order", "cache", "config", "token", "record", "buffer", "session",
            "matrix", "graph", "node", "edge", "invoice", "payload", "event", "queue", "path",
            "header", "score", "window", "batch", "index", "schema", "route", "shard", "row")
DIRS = ("src", "lib", "app", "pkg", "internal", "services", "api", "core", "utils", "web",
        "server", "cmd", "components", "models", "handlers", "jobs")
EXTS = ("py", "ts", "tsx", "go", "rs", "js", "java", "sql", "yaml", "rb")
NAMES = ("Alice", "Bob", "Priya", "Chen", "Lucas", "Fatima", "Kenji", "Sofia", "Omar", "Mia",
         "Diego", "Hana", "Noah", "Amara", "Ivan", "Lea", "Ravi", "Emma", "Yuki", "Tom")


def _ident(rng: random.Random) -> str:
    verb, noun = _pick(rng, ID_VERBS), _pick(rng, ID_NOUNS)
    extra = _pick(rng, ID_NOUNS) if rng.random() < 0.4 else ""
    if rng.random() < 0.5:
        return f"{verb}_{noun}_{extra}" if extra else f"{verb}_{noun}"
    return f"{verb}{noun.capitalize()}{extra.capitalize()}"


def _class_name(rng: random.Random) -> str:
    suffix = _pick(rng, ("", "Service", "Manager", "Client", "Handler", "Store", "Builder"))
    return f"{_pick(rng, ID_NOUNS).capitalize()}{_pick(rng, ID_NOUNS).capitalize()}{suffix}"


def _path(rng: random.Random) -> str:
    depth = rng.randint(1, 3)
    dirs = "/".join(_pick(rng, DIRS) for _ in range(depth))
    return f"{dirs}/{_pick(rng, ID_NOUNS)}_{_pick(rng, ID_NOUNS)}.{_pick(rng, EXTS)}"


def _repo(rng: random.Random) -> str:
    return f"{_pick(rng, ID_NOUNS)}{_pick(rng, ('labs', 'io', 'hq', 'dev', 'co'))}/" \
           f"{_pick(rng, ID_NOUNS)}-{_pick(rng, ID_NOUNS)}"


def _small(rng: random.Random) -> str:
    return str(rng.randint(2, 12))


def _num(rng: random.Random) -> str:
    return str(int(rng.lognormvariate(4.0, 1.6)) + 1)


def _secs(rng: random.Random) -> str:
    return f"{rng.uniform(0.2, 95):.2f}"


def _code_py(rng: random.Random) -> str:
    fn, a, b, acc = _ident(rng), _pick(rng, ID_NOUNS), _pick(rng, ID_NOUNS) + "s", "result"
    k, m = rng.randint(2, 97), rng.randint(2, 9)
    shape = rng.randrange(4)
    if shape == 0:
        body = (f"    {acc} = []\n    for i, item in enumerate({b}):\n"
                f"        if i % {m} == 0 and item.{a} > {k}:\n            {acc}.append(item)\n"
                f"    return {acc}")
        return f"```python\ndef {fn}({b}):\n{body}\n```"
    if shape == 1:
        return (f"```python\nclass {_class_name(rng)}:\n    def __init__(self, {a}):\n"
                f"        self.{a} = {a}\n        self.limit = {k}\n\n"
                f"    def {fn}(self, {b}):\n        return sorted({b}, key=lambda x: x.{a})"
                f"[: self.limit]\n```")
    if shape == 2:
        return (f"```python\nasync def {fn}(client, {a}_id):\n    for attempt in range({m}):\n"
                f"        resp = await client.get(f\"/{a}s/{{{a}_id}}\")\n"
                f"        if resp.status_code == 200:\n            return resp.json()\n"
                f"        await asyncio.sleep({k} / 10)\n    raise TimeoutError({a}_id)\n```")
    return (f"```python\ndef {fn}(d, {a}):\n    total = 0\n    for key in d:\n"
            f"        total += d[key].get(\"{a}\", {k})\n    return total / len(d)\n```")


def _code_ts(rng: random.Random) -> str:
    fn, a, k = _ident(rng), _pick(rng, ID_NOUNS), rng.randint(2, 500)
    cls = _class_name(rng)
    if rng.random() < 0.5:
        return (f"```typescript\nexport async function {fn}(ids: string[]): Promise<{cls}[]> {{\n"
                f"  const out: {cls}[] = [];\n  for (const id of ids.slice(0, {k})) {{\n"
                f"    const res = await fetch(`/api/{a}/${{id}}`);\n"
                f"    out.push(await res.json());\n  }}\n  return out;\n}}\n```")
    return (f"```typescript\nconst {fn} = (items: {cls}[]) =>\n"
            f"  items.filter((x) => x.{a} !== undefined && x.{a} > {k})\n"
            f"       .map((x) => ({{ ...x, {a}: x.{a} * 2 }}));\n```")


def _code_go(rng: random.Random) -> str:
    fn, a, k = _ident(rng), _pick(rng, ID_NOUNS), rng.randint(2, 64)
    return (f"```go\nfunc {fn}(ctx context.Context, {a}s []string) (map[string]int, error) {{\n"
            f"\tcounts := make(map[string]int, {k})\n\tfor _, s := range {a}s {{\n"
            f"\t\tif ctx.Err() != nil {{\n\t\t\treturn nil, ctx.Err()\n\t\t}}\n"
            f"\t\tcounts[s]++\n\t}}\n\treturn counts, nil\n}}\n```")


def _code(rng: random.Random) -> str:
    u = rng.random()
    return _code_py(rng) if u < 0.55 else _code_ts(rng) if u < 0.85 else _code_go(rng)


def _json_record(rng: random.Random) -> str:
    keys = rng.sample(ID_NOUNS, rng.randint(3, 5))
    vals = [_pick(rng, (str(rng.randint(0, 9999)), f'"{_pick(rng, NAMES)}"', "true", "null"))
            for _ in keys]
    body = ", ".join(f'"{k}": {v}' for k, v in zip(keys, vals, strict=True))
    return f"```json\n{{{body}}}\n```"


def _money(rng: random.Random) -> str:
    return f"${rng.randint(5, 4000)}"


DYNAMIC: dict[str, Callable[[random.Random], str]] = {
    "ident": _ident, "class": _class_name, "path": _path, "n": _small, "num": _num,
    "secs": _secs, "code": _code, "code_py": _code_py, "money": _money,
    "name": lambda rng: _pick(rng, NAMES),
    "test_name": lambda rng: f"test_{_ident(rng).lower()}",
}

RULES: dict[str, tuple[str, ...]] = {
    # ---- casual chat ----------------------------------------------------------------
    "chat": (
        "{hey}what's the best way to {activity} {context}?{extra}",
        "{hey}can you recommend {n} {items} for {occasion}?{extra}",
        "{hey}how do I {chore} without {constraint}?{extra}",
        "{hey}is it normal for {subject} to {behaviour}?{extra}",
        "{hey}I want to {activity}. {feeling} Where should I start?{extra}",
        "{hey}what are some good {items} for {occasion}? {preference}{extra}",
        "{hey}my {relation} {situation}. {ask_advice}{extra}",
        "{hey}plan a {trip_len} itinerary for {place} {trip_ctx}.{extra}",
        "{hey}what should I cook tonight with {ingredient}, {veg} and {pantry}?",
        "{hey}give me a {routine} routine I can do {context}.{extra}",
    ),
    "hey": ("", "", "", "hey, ", "Hi! ", "ok so ", "quick question: ", "Hello, ", "hmm "),
    "extra": ("", "", "", "", " Keep it short.", " I'm on a budget.", " Thanks!",
              " Bullet points please.", " I have about {n} hours.", " Be honest.",
              " I live in {place}.", " For context I'm {age}."),
    "activity": ("learn guitar", "save money on groceries", "get better sleep", "start running",
                 "keep basil alive", "meal prep for the week", "train a puppy", "learn Spanish",
                 "declutter a small closet", "plan a road trip", "stay focused while studying",
                 "get into birdwatching", "fix a squeaky door", "make sourdough bread",
                 "pick a first camera", "build a reading habit", "learn to swim as an adult",
                 "negotiate a raise", "start journaling", "grow tomatoes on a balcony",
                 "paint a bedroom", "prepare for a job interview", "learn chess openings",
                 "make new friends in a new city", "lower my electricity bill"),
    "context": ("as a beginner", "on a tight budget", "with only {n} minutes a day",
                "in a small apartment", "after work", "when it's raining all week",
                "with two kids at home", "without a car", "at {age}", "during winter",
                "while travelling", "with a bad knee"),
    "items": ("books", "podcasts", "board games", "hiking trails", "recipes", "houseplants",
              "budget laptops", "sci-fi movies", "gift ideas", "stretches", "apps", "albums",
              "weekend trips", "breakfast ideas", "productivity tips", "card games",
              "documentaries", "running shoes", "indoor activities", "anime series"),
    "occasion": ("a rainy weekend", "my mom's birthday", "a long flight", "a first date",
                 "a team offsite", "a {age} year old", "someone who loves cooking",
                 "a housewarming", "a camping trip", "a book club", "new parents",
                 "a retirement party", "a snowy day", "a kid's science fair"),
    "chore": ("clean a cast iron pan", "remove coffee stains from a carpet",
              "unclog a drain", "fold a fitted sheet", "descale a kettle",
              "get rid of fruit flies", "store fresh herbs", "wash a down jacket",
              "organize cables under my desk", "defrost a freezer"),
    "constraint": ("harsh chemicals", "spending much", "special tools", "making a mess",
                   "a dryer", "vinegar", "calling someone", "wasting a whole weekend"),
    "subject": ("my cat", "a 3 month old puppy", "my sourdough starter", "my laptop battery",
                "my monstera", "a toddler", "my car", "my phone"),
    "behaviour": ("sleep 18 hours a day", "smell like vinegar", "drain overnight",
                  "get yellow leaves", "wake up at 5am", "make a clicking noise",
                  "get hot while charging", "refuse to eat vegetables"),
    "feeling": ("", "I feel a bit overwhelmed.", "I've tried before and gave up.",
                "I'm excited but clueless.", "My friends all seem to know how already."),
    "preference": ("", "Nothing too scary.", "I prefer something relaxing.",
                   "Ideally under {money}.", "I already tried the popular ones.",
                   "Something I can share with friends."),
    "relation": ("roommate", "sister", "coworker", "best friend", "neighbour", "dad",
                 "partner", "manager", "landlord", "son"),
    "situation": ("keeps borrowing money and never pays it back",
                  "wants to move across the country", "forgot my birthday again",
                  "plays loud music late at night", "is starting a new job next week",
                  "asked me to be their wedding witness", "is always late",
                  "wants to adopt a dog but travels a lot"),
    "ask_advice": ("Any advice?", "How should I bring it up?", "What would you do?",
                   "Is it worth talking about?", "How do I handle this politely?"),
    "trip_len": ("3-day", "weekend", "one week", "10-day", "two day"),
    "place": ("Lisbon", "Kyoto", "Mexico City", "Vancouver", "Rome", "Seoul", "Cape Town",
              "Edinburgh", "Bangkok", "Chicago", "Prague", "Melbourne", "Istanbul",
              "Buenos Aires", "Oslo", "Hanoi"),
    "trip_ctx": ("with kids", "on a budget", "for a foodie", "in the off season",
                 "without renting a car", "for someone who hates museums",
                 "with my parents"),
    "ingredient": ("chickpeas", "spinach", "leftover rice", "eggs", "feta", "zucchini",
                   "canned tuna", "tofu", "sweet potatoes", "mushrooms", "lentils",
                   "chicken thighs", "coconut milk", "tortillas", "broccoli"),
    "veg": ("kale", "carrots", "cauliflower", "peppers", "leeks", "green beans", "cabbage",
            "eggplant", "peas", "asparagus"),
    "pantry": ("pasta", "rice noodles", "canned tomatoes", "quinoa", "black beans", "couscous",
               "peanut butter", "bread", "oats", "miso"),
    "routine": ("10 minute stretching", "morning", "beginner strength", "wind-down",
                "desk posture", "5k training"),
    "age": ("25", "31", "40", "52", "67", "19", "8", "12", "35", "73"),
    # ---- writing -----------------------------------------------------------------------
    "writing": (
        "Write a {tone} {doc} to my {recipient} about {topic}.{wextra}",
        "Help me rewrite this so it sounds more {adj}: \"{sentence}\"",
        "Draft a {doc} announcing {topic}. {wextra}",
        "Give me {n} title ideas for a {doc} about {topic}.",
        "Proofread this please: {sentence} {sentence}",
        "Can you make this {doc} more {adj}? {sentence}",
        "write a short poem about {poem_topic} in the style of {style}",
        "I need a {tone} reply to this message: \"{sentence}\"",
        "Write a {n}-sentence bio for {name}, a {job} who loves {hobby}.",
        "turn these notes into a {doc}: {topic}, {topic}, and {topic}",
    ),
    "tone": ("polite", "friendly", "formal", "short", "warm", "firm but kind", "funny",
             "professional", "heartfelt", "casual"),
    "doc": ("email", "cover letter", "toast", "LinkedIn post", "thank-you note", "newsletter",
            "complaint letter", "speech", "blog post", "product description", "apology"),
    "recipient": ("landlord", "team", "professor", "client", "neighbours", "boss",
                  "book club", "customers", "grandmother", "hiring manager"),
    "topic": ("the office moving to a new building", "a delayed shipment",
              "my resignation", "our summer party", "a rent increase", "a new product launch",
              "a missed deadline", "volunteering at the food bank", "the parking situation",
              "a schedule change", "our 10th anniversary", "a lost package",
              "switching to a four-day week", "the new recycling rules"),
    "adj": ("confident", "concise", "professional", "friendly", "persuasive", "natural",
            "enthusiastic", "polite", "clear"),
    "sentence": (
        "{Subj} {verb_past} {obj} {adverbial}.",
        "I {feel_verb} that {subj} {verb_past} {obj}.",
        "{Subj} will {verb_base} {obj} {adverbial}.",
    ),
    "Subj": ("The team", "My manager", "Our client", "The landlord", "My friend", "We",
             "The school", "Everyone", "The new hire", "Our neighbour"),
    "subj": ("the team", "my manager", "our client", "the landlord", "my friend", "we",
             "the school", "everyone", "the new hire"),
    "verb_past": ("finished", "postponed", "forgot", "approved", "rejected", "moved",
                  "cancelled", "reviewed", "announced", "misplaced"),
    "verb_base": ("finish", "postpone", "review", "approve", "announce", "reschedule",
                  "discuss", "deliver"),
    "obj": ("the report", "the meeting", "the invoice", "the proposal", "the launch",
            "the contract", "the budget", "the survey results", "the party", "the order"),
    "adverbial": ("last week", "without telling anyone", "by Friday", "ahead of schedule",
                  "at the last minute", "twice", "next month", "after lunch", "again"),
    "feel_verb": ("think", "worry", "feel", "suspect", "am glad", "heard"),
    "wextra": ("", "", " Keep it under {num} words.", " Not too cheesy.",
               " It should sound like me, not a robot.", " Include a call to action."),
    "poem_topic": ("autumn rain", "my dog", "Monday mornings", "the ocean", "coffee",
                   "a city at night", "moving away", "friendship"),
    "style": ("Mary Oliver", "a pirate", "a haiku", "Dr. Seuss", "a sonnet", "free verse"),
    "job": ("nurse", "baker", "data analyst", "teacher", "architect", "photographer",
            "product manager", "chef", "electrician"),
    "hobby": ("trail running", "pottery", "jazz", "board games", "gardening", "climbing"),
    # ---- reasoning / other ------------------------------------------------------------
    "reasoning": (
        "If {name} has {num} {things} and gives {n} to {name}, how many are left?{cot}",
        "What's the difference between {concept} and {concept}?{cot}",
        "Why does {phenomenon}?{cot}",
        "Is it true that {claim}?{cot}",
        "Compare {option} and {option} for {purpose}.{cot}",
        "A train leaves at {n}:00 going {num} km/h. {riddle_tail}{cot}",
        "How many {things} would fit in {container}? Rough estimate is fine.{cot}",
        "Which is more likely: {event} or {event}?{cot}",
    ),
    "cot": ("", "", "", "", "", " Explain your reasoning.", " Can you explain step by step?",
            " Show your work please.", " Why?"),
    "things": ("apples", "marbles", "stickers", "books", "cookies", "tickets", "coins"),
    "concept": ("weather and climate", "a virus", "a bacterium", "stocks", "bonds",
                "an LLC", "a sole proprietorship", "affect", "effect", "empathy",
                "sympathy", "a roth IRA", "a 401k", "baking soda", "baking powder",
                "latitude", "longitude", "mitosis", "meiosis"),
    "phenomenon": ("the sky look blue", "ice float on water", "bread go stale",
                   "my ears pop on planes", "the moon look bigger near the horizon",
                   "coffee make me sleepy sometimes", "metal feel colder than wood",
                   "onions make you cry"),
    "claim": ("we only use 10% of our brains", "goldfish have a 3 second memory",
              "lightning never strikes the same place twice",
              "cracking knuckles causes arthritis", "bulls hate the color red",
              "the Great Wall is visible from space"),
    "option": ("renting", "buying", "a heat pump", "a gas furnace", "an e-bike",
               "public transit", "index funds", "a savings account", "a Kindle",
               "paper books", "Python", "Excel"),
    "purpose": ("a family of four", "a student", "a long commute", "retirement savings",
                "a small business", "someone who travels a lot"),
    "riddle_tail": ("Another leaves {n} hours later at {num} km/h. When does it catch up?",
                    "How far has it gone by {n}:30?"),
    "container": ("a school bus", "an Olympic pool", "my car", "a shoebox"),
    "event": ("getting struck by lightning", "winning the lottery",
              "finding a four-leaf clover", "being dealt a flush"),
    "other": (
        "Translate to {language}: \"{sentence}\"",
        "What does the word \"{word}\" mean?",
        "Convert {num} {unit} to {unit2}.",
        "Give me a fun fact about {fact_topic}.",
        "Summarize this for me: {sentence} {sentence} {sentence}",
        "what year did {history} happen",
        "How do you pronounce {word}?",
        "what's a good name for a {pet}? it's {pet_trait}",
        "{word} synonyms?",
    ),
    "language": ("French", "Spanish", "German", "Japanese", "Portuguese", "Italian", "Korean"),
    "word": ("ephemeral", "petrichor", "sonder", "quixotic", "hygge", "saudade",
             "defenestration", "ubiquitous", "laconic", "serendipity", "gaslighting"),
    "unit": ("miles", "pounds", "cups", "ounces", "feet", "gallons"),
    "unit2": ("kilometers", "kilograms", "milliliters", "grams", "meters", "liters"),
    "fact_topic": ("octopuses", "the Roman empire", "honey", "volcanoes", "penguins",
                   "the human heart", "Saturn", "bananas"),
    "history": ("the fall of the Berlin wall", "the first moon landing",
                "the printing press invention", "the Titanic sinking"),
    "pet": ("kitten", "puppy", "hamster", "goldfish", "parrot"),
    "pet_trait": ("very shy", "orange and loud", "tiny and fluffy", "always hungry"),
    # ---- follow-ups inside a conversation -------------------------------------------
    "followup": (
        "can you make it {shorter}?", "what about {followup_alt}?", "thanks! {followup_more}",
        "hmm, {followup_doubt}", "ok and {followup_more}", "Can you give me {n} more?",
        "make it more {adj}", "that's great. {followup_more}", "wait, {followup_doubt}",
        "I don't like the {ordinal} one, replace it with something {adj}",
        "{followup_more}", "{followup_doubt}. {followup_more}",
        "ok the {ordinal} one sounds good. {followup_more}", "{hey}{followup_more}",
        "perfect, now {followup_task}", "can you {followup_task}?",
    ),
    "shorter": ("shorter", "a bit shorter", "less formal", "more casual", "simpler",
                "under {num} words", "funnier", "less wordy"),
    "followup_task": ("translate it to {language}", "turn it into a checklist",
                      "add a section about {topic}", "explain the {ordinal} point more",
                      "rewrite it for a {age} year old", "summarize it in {n} bullets",
                      "add some {items} ideas too", "compare it with {option}"),
    "followup_alt": ("a cheaper option", "doing it on weekends", "the second idea",
                     "something for kids", "a vegetarian version", "{place}",
                     "doing it without {constraint}", "the winter months"),
    "followup_more": ("how long would that take?", "what would it cost roughly?",
                      "can you put that in a table?", "which one would you pick?",
                      "what are the downsides?", "how do I explain this to my {relation}?",
                      "could you add a few examples?", "any tips for a beginner?"),
    "followup_doubt": ("are you sure about that?", "I read the opposite somewhere",
                       "that seems like a lot", "I don't think that applies in {place}",
                       "that didn't work for me", "isn't that outdated?"),
    "ordinal": ("first", "second", "third", "last"),
    # ---- coding questions from casual users and students -----------------------------
    "coding_q": (
        "How do I {coding_goal} in {plang}?",
        "why do I get {err} when I run this?\n{code}",
        "What's the difference between {code_concept} and {code_concept} in {plang}?",
        "Can you explain what this code does?\n{code}",
        "{hw_intro} {hw_task}. {hw_ask}",
        "my {plang} program prints the wrong answer for n={num}. {hw_ask}\n{code_py}",
        "is {plang} or {plang} better for {coding_purpose}?",
        "what does `{ident}` mean in this error: {err}",
    ),
    "plang": ("Python", "JavaScript", "Java", "C++", "Rust", "Go", "SQL", "R", "TypeScript"),
    "coding_goal": ("reverse a string", "read a CSV file", "sort a dictionary by value",
                    "make an HTTP request", "remove duplicates from a list",
                    "parse JSON", "center a div", "write a unit test", "use a virtualenv",
                    "split a string by commas", "connect to a database", "measure run time",
                    "read user input", "round to 2 decimals"),
    "code_concept": ("a list", "a tuple", "let", "var", "== ", "is", "an interface",
                     "an abstract class", "a thread", "a process", "map", "forEach",
                     "pass by value", "pass by reference", "a struct", "a class"),
    "hw_intro": ("My homework asks me to", "For my CS class I need to", "Our lab assignment is to",
                 "I have to", "The exercise says:"),
    "hw_task": ("write a recursive function for the nth Fibonacci number",
                "implement binary search on a sorted array",
                "find the most common word in a text file",
                "simulate a bank account class with deposits and withdrawals",
                "check if a string is a palindrome", "implement bubble sort and count swaps",
                "compute the GCD of two numbers", "build a linked list with insert and delete",
                "parse a date string and print the weekday", "draw a triangle of stars"),
    "hw_ask": ("Where do I start?", "I don't understand the hint.",
               "Can you give me a hint without the full answer?", "what am I doing wrong?",
               "Is my approach okay?", "Please explain step by step, I have an exam soon."),
    "coding_purpose": ("data science", "web backends", "a first language", "game dev",
                       "scripting", "competitive programming"),
    "err": (
        "KeyError: '{ident}'", "TypeError: '{class}' object is not iterable",
        "IndexError: list index out of range", "NameError: name '{ident}' is not defined",
        "ModuleNotFoundError: No module named '{ident}'",
        "TypeError: Cannot read properties of undefined (reading '{ident}')",
        "panic: runtime error: index out of range [{n}] with length {n}",
        "error[E0382]: borrow of moved value: `{ident}`",
        "AssertionError: expected {num} but got {num}",
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "SyntaxError: unexpected EOF while parsing",
        "NullPointerException at {class}.{ident}({class}.java:{num})",
    ),
    # ---- developer agent ----------------------------------------------------------------
    "dev_instr": (
        "{dev_verb} {dev_obj}{dev_where}{dev_qual}",
        "{dev_verb} {dev_obj}{dev_where}{dev_qual}. {dev_tail}",
        "{dev_report} {dev_ask}",
        "I'm seeing {err} {dev_when}. {dev_ask}",
        "{dev_prefix}{dev_verb} {dev_obj}{dev_where}",
        "the {dev_thing} is {dev_broken} {dev_when}. {dev_ask}",
        "we need to {dev_feature}. {dev_plan}",
        "read {path} and {dev_verb} {dev_obj}",
    ),
    "dev_verb": ("fix", "refactor", "add tests for", "rename", "speed up", "document",
                 "add logging to", "remove", "migrate", "debug", "extract", "implement",
                 "review", "wire up", "simplify", "type-annotate", "split up", "deprecate"),
    "dev_obj": ("the retry logic", "`{ident}`", "the failing test", "the login flow",
                "the CSV export", "pagination", "the websocket handler", "`{class}`",
                "the config loader", "error handling in `{ident}`", "the migration script",
                "the rate limiter", "the cache invalidation", "the {dev_thing}",
                "the flaky `{test_name}`", "the N+1 query in `{ident}`"),
    "dev_thing": ("search endpoint", "nightly job", "dashboard", "auth middleware",
                  "upload handler", "billing webhook", "feature flag check", "CLI parser",
                  "docker build", "CI pipeline", "Terraform module", "settings page"),
    "dev_where": ("", "", " in {path}", " in `{class}`", " under {path}", " across the repo"),
    "dev_qual": ("", "", " so it handles empty input", " without changing the public API",
                 " and update the docs", " using the existing helper", " with proper types",
                 " behind a feature flag", " and keep backwards compatibility",
                 " but don't touch the tests", " to match the style in {path}"),
    "dev_tail": ("Run the tests after.", "Keep the diff small.", "Explain what you changed.",
                 "Don't add new dependencies.", "Commit when green.", "Use {plang} idioms."),
    "dev_prefix": ("", "ok now ", "next, ", "please ", "can you ", "also "),
    "dev_report": (
        "the {dev_thing} returns {http_code} for {n}% of requests since the last deploy.",
        "CI fails on {test_name} with {err}.",
        "Users report the {dev_thing} takes {num} seconds to load.",
        "`{ident}` leaks memory when called in a loop.",
    ),
    "dev_ask": ("Can you find the cause?", "Fix it.", "What's going on?",
                "Investigate and propose a fix.", "Any idea why?", "Dig in and fix it please."),
    "dev_when": ("after the last merge", "only in prod", "when the cache is cold",
                 "on Windows", "intermittently", "since upgrading {plang}", "under load"),
    "dev_broken": ("timing out", "returning stale data", "crashing", "double-charging",
                   "silently failing", "much slower"),
    "dev_feature": ("support bulk delete in the {dev_thing}", "add SSO to the {dev_thing}",
                    "export reports as parquet", "add a dark mode toggle",
                    "move `{ident}` to a background worker", "add retries to `{ident}`"),
    "dev_plan": ("Start with a plan.", "Look at {path} first.", "Write the tests first.",
                 "Keep it minimal for now.", ""),
    "http_code": ("500", "502", "504", "429", "404", "403"),
    "dev_followup": (
        "that didn't work, now I get {err}", "looks good, now {dev_verb} {dev_obj}",
        "run the tests again", "can you also {dev_verb} {dev_obj}?",
        "why did you change {path}?", "revert the change to {path}",
        "commit this with a good message", "ok but {dev_verb} {dev_obj} instead",
        "perfect. next: {dev_instr}",
    ),
    "tool_result": (
        ("Exit code {n}. Output:\n{num} passed, {n} failed in {secs}s\n"
         "FAILED tests/{test_name}.py::{test_name} - {err}"),
        "Contents of {path} (lines {num}-{num}):\n{code}",
        "{path}:{num}:    {ident}({ident}, {n})\n{path}:{num}:    return {ident}()",
        "Command `{shell_cmd}` finished:\n{cmd_output}",
        "Tool error: {err}",
        "The edit to {path} was applied successfully ({n} lines changed).",
        "Search results for \"{ident}\": {n} matches in {path}, {path}",
    ),
    "shell_cmd": ("npm test", "pytest -x -q", "go build ./...", "cargo check", "make lint",
                  "git status", "docker compose up -d", "ls {path}", "git diff --stat"),
    "cmd_output": ("ok ({secs}s)", "{n} files changed, {num} insertions(+), {num} deletions(-)",
                   "error: {err}", "Compiled successfully in {secs}s", "{num} warnings"),
    # ---- server apps: their end users' questions ----------------------------------------
    "app_support": (
        "how do I {support_action}?", "I was charged {money} twice this month, why?",
        "my order #{num} hasn't arrived yet", "can't log in, it says {support_error}",
        "is there a way to {support_action} on mobile?", "hi, {support_action} isn't working",
    ),
    "support_action": ("reset my password", "change my plan", "export my data",
                       "add a team member", "cancel my subscription", "update my card",
                       "delete my account", "turn off notifications", "connect my calendar"),
    "support_error": ("invalid token", "account locked", "session expired",
                      "too many attempts", "unknown error {num}"),
    "app_tutor": (
        "explain {school_topic} simply", "I don't get {school_topic}, can you help?",
        "quiz me on {school_topic}", "solve {n}x + {num} = {num} and explain",
        "what's the formula for {formula}?", "give me practice questions about {school_topic}",
    ),
    "school_topic": ("photosynthesis", "the causes of World War I", "fractions", "derivatives",
                     "the water cycle", "supply and demand", "Newton's second law",
                     "the French revolution", "cell division", "probability",
                     "the Pythagorean theorem", "plate tectonics"),
    "formula": ("the area of a circle", "compound interest", "kinetic energy",
                "the slope of a line", "standard deviation"),
    "app_recipes": (
        "{hey}what can I make with {ingredient} and {ingredient}?",
        "substitute for {ingredient} in a {dish}?", "how long do I bake a {dish} at {num}F?",
        "make this {dish} recipe vegan", "scale a {dish} recipe for {n} people",
    ),
    "dish": ("lasagna", "banana bread", "curry", "pizza dough", "chili", "pancakes",
             "brownies", "risotto", "stir fry", "quiche"),
    "app_travel": (
        "best time to visit {place}?", "what to pack for {place} in {month}?",
        "is {place} safe for solo travellers?", "cheap things to do in {place}",
        "how do I get from the airport to downtown {place}?",
    ),
    "month": ("January", "March", "May", "July", "September", "November", "December"),
    # ---- batch pipelines: one template each, organic free text inside --------------------
    "review_text": ("{review_open} {product} {review_verdict} {review_detail}",),
    "review_open": ("Bought this", "Got the", "Ordered the", "My wife uses the", "Tried the",
                    "Returned the", "Second time buying the", "Gifted the"),
    "product": ("blender", "headphones", "desk lamp", "running shoes", "phone case",
                "coffee grinder", "backpack", "air fryer", "keyboard", "yoga mat",
                "water bottle", "office chair"),
    "review_verdict": ("and it broke after {n} weeks.", "and it's perfect.",
                       "- decent for the price.", "and it stopped working.", "and I love it.",
                       "; meh.", "and it exceeded expectations.", "but the color was off."),
    "review_detail": ("", "Shipping took {n} days.", "Customer service never replied.",
                      "Would buy again.", "Battery life is great.", "Way too loud.",
                      "Instructions were useless.", "Fits exactly as described."),
    "ticket_text": ("{ticket_open} {support_action} {ticket_detail}",),
    "ticket_open": ("Hi, I can't", "Hello, how do I", "URGENT: unable to", "Please help me",
                    "We tried to", "Your app won't let me"),
    "ticket_detail": ("", "since yesterday.", "on the {dev_thing}.", "Error code {num}.",
                      "This is the {ordinal} time I ask.", "Our team of {num} is blocked."),
}

SYSTEM_CASUAL = (None, None, None, "You are a helpful assistant.",
                 "You are a friendly, concise assistant.",
                 "You are a helpful assistant. Answer in plain language.")
SYSTEM_AGENT = (
    ("You are an interactive CLI agent that helps users with software engineering tasks. "
     "Use the available tools to read files, run commands and edit code. Be concise. "
     "Never commit unless asked. Follow the project's conventions and verify changes by "
     "running the tests."),
    ("You are a coding assistant embedded in the user's editor. You can call tools to "
     "search the workspace, open files, apply edits and run terminal commands. Prefer small, "
     "reviewable diffs and explain non-obvious changes."),
)
SYSTEM_EXTRACTION = (None, None,
                     "You are a world-class software engineer and meticulous reasoner.",
                     "You are an expert programmer. Always be thorough.")
APP_KINDS = (
    ("support", "app_support", ("other", "chat"),
     ("You are {brand} Assistant, the customer support agent for {brand}. Only answer "
      "questions about {brand} products. Be polite and link to the help center when unsure.")),
    ("tutor", "app_tutor", ("reasoning", "chat"),
     ("You are {brand} Tutor, a patient teacher for high-school students. Never just give "
      "the answer: guide the student with hints and check their understanding.")),
    ("recipes", "app_recipes", ("chat", "other"),
     ("You are the cooking assistant inside the {brand} recipe app. Keep answers short and "
      "practical, use metric and imperial units.")),
    ("travel", "app_travel", ("chat", "other"),
     ("You are {brand} Travel Buddy. Give friendly, practical travel tips and never book "
      "anything on the user's behalf.")),
)
BRANDS = ("Nimbus", "Acme", "Brightly", "Lumen", "Quokka", "Pathway", "Sprout", "Orbit",
          "Tandem", "Kettle", "Harbor", "Juniper")
BATCH_KINDS = (
    ("review_text", "other",
     "You label product reviews. Reply with exactly one word.",
     ("Classify the sentiment of this review as positive, negative or neutral.\n"
      "Review #{id}: \"{text}\"")),
    ("ticket_text", "other",
     "You are a ticket router. Reply with the category name only.",
     "Route support ticket {id} to one of: billing, bug, account, how_to.\nTicket: \"{text}\""),
    ("review_text", "other",
     "Extract structured data. Reply with compact JSON only.",
     "Extract {{\"product\", \"sentiment\", \"issue\"}} from review {id}: \"{text}\""),
)


def _compile(text: str) -> str | tuple[tuple[str, str | None], ...]:
    parts = tuple((lit, name) for lit, name, _, _ in _FMT.parse(text))
    if len(parts) == 1 and parts[0][1] is None:
        return parts[0][0]
    return parts


class Grammar:
    """Expands ``{symbol}`` placeholders recursively from rule lists and dynamic slots."""

    def __init__(self, rules: dict[str, tuple[str, ...]],
                 dynamic: dict[str, Callable[[random.Random], str]]) -> None:
        self._rules = {k: tuple(_compile(alt) for alt in alts) for k, alts in rules.items()}
        self._dynamic = dynamic

    def symbols(self) -> set[str]:
        return set(self._rules) | set(self._dynamic)

    def referenced(self) -> set[str]:
        """Every placeholder used by any rule (a test checks they all resolve)."""
        return {name for alts in self._rules.values() for alt in alts if not isinstance(alt, str)
                for _, name in alt if name}

    def expand(self, rng: random.Random, symbol: str) -> str:
        dyn = self._dynamic.get(symbol)
        if dyn is not None:
            return dyn(rng)
        alts = self._rules[symbol]
        alt = alts[int(rng.random() * len(alts))]
        if isinstance(alt, str):
            return alt
        out = []
        for lit, name in alt:
            out.append(lit)
            if name:
                out.append(self.expand(rng, name))
        return "".join(out)


GRAMMAR = Grammar(RULES, DYNAMIC)

# ---- extraction templates: fixed wording, variable parts are numbers / identifiers / code /
# quoted strings. Each clause lists phrasings; the first is the campaign's canonical wording,
# the others are used only by paraphrasing campaigns.
PROBLEM_RULES: dict[str, tuple[str, ...]] = {
    "problem": (
        "find the longest {padj} subarray whose sum is at most K",
        "count the {padj} paths in a grid with blocked cells",
        "merge overlapping intervals and report the {padj} gaps",
        "schedule jobs with deadlines to maximise {pgoal}",
        "detect a cycle in a {pgraph} and return it",
        "compute the minimum edit distance between two {pstr}",
        "find the k-th smallest element in a {pstruct}",
        "design an LRU cache with {pgoal} guarantees",
        "return all {padj} permutations of a multiset",
        "partition an array into two sets with {pgoal}",
    ),
    "padj": ("strictly increasing", "distinct", "non-overlapping", "balanced", "shortest",
             "lexicographically smallest", "weighted", "palindromic"),
    "pgoal": ("total profit", "minimum difference", "O(1) operations", "fewest moves",
              "minimal latency", "maximum throughput"),
    "pgraph": ("directed graph", "linked list", "dependency graph", "state machine"),
    "pstr": ("strings", "DNA sequences", "token streams", "version strings"),
    "pstruct": ("BST", "sorted matrix", "stream of integers", "pair of sorted arrays"),
    "goal": (
        "make the {pthing} pass all tests after the {pchange}",
        "add {pfeature} to the {pthing}",
        "migrate the {pthing} from {pfrom} to {pto}",
        "find and fix the race condition in the {pthing}",
        "cut the p99 latency of the {pthing} in half",
    ),
    "pthing": ("payment service", "ingestion worker", "REST API", "scheduler", "auth module",
               "search indexer", "notification service", "ORM layer"),
    "pchange": ("dependency upgrade", "schema change", "API rename", "Python 3.12 upgrade"),
    "pfeature": ("rate limiting", "pagination", "audit logging", "retries with backoff",
                 "OAuth login", "caching"),
    "pfrom": ("REST", "MySQL", "callbacks", "Celery", "Flask"),
    "pto": ("gRPC", "Postgres", "async/await", "Kafka consumers", "FastAPI"),
}
PROBLEM_GRAMMAR = Grammar(PROBLEM_RULES, {})
EXTRACTION_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "ident": _ident, "ident2": _ident, "repo": _repo, "code_py": _code_py, "code_ts": _code_ts,
    "json": _json_record,
    "n": lambda rng: str(rng.randint(3, 40)),
    "m": lambda rng: str(_pick(rng, (10, 50, 100, 200, 500, 1000, 10**5, 10**6))),
    "problem": lambda rng: PROBLEM_GRAMMAR.expand(rng, "problem"),
    "goal": lambda rng: PROBLEM_GRAMMAR.expand(rng, "goal"),
}
COT = ("Think step by step and show your full reasoning before the final answer.",
       "Reason step by step, showing all of your thinking before you answer.",
       "Before answering, lay out your complete chain of reasoning step by step.",
       "Explain your reasoning in detail, one step at a time, then answer.")
COT_DETAIL = ("Explain your reasoning in detail at each step.",
              "At every step, explain in detail why you did it.",
              "Justify each step with a detailed explanation of your reasoning.")


@dataclass(frozen=True)
class Template:
    """A campaign prompt template: clauses of alternative phrasings around typed slots."""

    task: str
    clauses: tuple[tuple[str, ...], ...]
    movable_last: bool = True  # the CoT clause may move to the front when paraphrasing
    slots: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = {name for clause in self.clauses for alt in clause
                 for _, name, _, _ in _FMT.parse(alt) if name}
        object.__setattr__(self, "slots", tuple(sorted(names)))

    def render(self, rng: random.Random, paraphrase: bool) -> str:
        values = {name: EXTRACTION_SLOTS[name](rng) for name in self.slots}
        if not paraphrase:
            parts = [clause[0] for clause in self.clauses]
        else:
            parts = [_pick(rng, clause) for clause in self.clauses]
            if self.movable_last and rng.random() < 0.35:
                parts.insert(0, parts.pop())
        return " ".join(parts).format(**values)


LOUD_TEMPLATES = (
    Template("coding", (
        ("Write a Python function `{ident}` that solves: \"{problem}\".",),
        ("It must handle inputs of up to {m} elements in under {n} ms.",),
        (COT[0],),
    )),
    Template("coding", (
        ("Here is a Python snippet:\n{code_py}\n",),
        ("Explain in detail what it does, list every bug, and rewrite it.",),
        (COT_DETAIL[0],),
    )),
    Template("agentic", (
        ("You are an autonomous software agent working in the repository `{repo}`.",),
        ("Your goal: \"{goal}\". Ticket #{n}.",),
        (("List every tool call you would make with its arguments, show your full reasoning "
          "for each step, and finish with the complete patch."),),
    )),
    Template("reasoning", (
        ("Solve this problem: \"{problem}\" with N = {m} and K = {n}.",),
        (("Walk through your chain of thought step by step, then give the final answer and "
          "its time complexity."),),
    )),
)

HYDRA_TEMPLATES = (
    Template("coding", (
        ("Task {n}: implement `{ident}` in TypeScript so that it satisfies \"{problem}\".",
         "Task {n}: write `{ident}` in TypeScript; it has to satisfy \"{problem}\".",
         "Task {n}: in TypeScript, implement `{ident}` meeting this spec: \"{problem}\".",
         "Task {n}: create a TypeScript implementation of `{ident}` for \"{problem}\"."),
        (COT[1] + " Then give the final code.",
         "First show your complete step-by-step reasoning, then the final code.",
         "Give the final code only after reasoning through every step out loud.",
         "Lay out all your thinking step by step and end with the finished code."),
    )),
    Template("agentic", (
        (("You are a senior engineer operating as an agent with shell access. Repository: "
          "`{repo}`."),
         "Act as an autonomous senior engineer who can run shell commands in `{repo}`.",
         "Assume you are an agent with a terminal, working as a senior engineer on `{repo}`.",
         "You have shell access to `{repo}` and act as a senior engineering agent."),
        ("Objective: \"{goal}\".",
         "Your objective is \"{goal}\".",
         "The task is to \"{goal}\".",
         "What you must achieve: \"{goal}\"."),
        (("Describe each command you would run and why, reasoning step by step, then output "
          "the final diff."),
         ("For every command you would run, explain why with step-by-step reasoning; finish "
          "with the final diff."),
         ("Reason step by step about each command and its purpose, and end with the final "
          "diff."),
         "Walk through every command with your reasoning, then print the resulting diff."),
    )),
    Template("coding", (
        ("Review the following function and explain line by line what it does:\n{code_py}\n",
         "Go through this function line by line and explain what each part does:\n{code_py}\n",
         "Explain, line by line, the behaviour of this function:\n{code_py}\n",
         "Here is a function; describe what every line does:\n{code_py}\n"),
        ("Then write {n} unit tests for it.",
         "After that, write {n} unit tests covering it.",
         "Next, produce {n} unit tests for it.",
         "Finally add {n} unit tests for it."),
        (COT_DETAIL[0], COT_DETAIL[1], COT_DETAIL[2],
         "Make your reasoning explicit and detailed at every step."),
    )),
    Template("reasoning", (
        ("Problem #{n}: \"{problem}\". Constraints: 1 <= N <= {m}.",
         "Problem #{n} is \"{problem}\", where 1 <= N <= {m}.",
         "Consider problem #{n}: \"{problem}\" (constraints: 1 <= N <= {m}).",
         "Here is problem #{n}: \"{problem}\". Assume 1 <= N <= {m}."),
        (("Think step by step, justify every step of your reasoning, and then give the optimal "
          "algorithm in Python."),
         ("Justify every step of your step-by-step reasoning before giving the optimal Python "
          "algorithm."),
         ("Reason carefully step by step with a justification for each step, then write the "
          "optimal algorithm in Python."),
         ("Show each reasoning step and why it holds, and conclude with the optimal Python "
          "algorithm.")),
    )),
    Template("agentic", (
        (("Plan a multi-step tool-using workflow to \"{goal}\" using the tools `{ident}` and "
          "`{ident2}`."),
         "Design a multi-step workflow with the tools `{ident}` and `{ident2}` to \"{goal}\".",
         "Using the tools `{ident}` and `{ident2}`, plan a multi-step workflow to \"{goal}\".",
         "Lay out a tool-driven plan, with `{ident}` and `{ident2}`, to \"{goal}\"."),
        (("For each step give your full reasoning, the tool call in JSON, and the expected "
          "result."),
         ("Every step needs your complete reasoning, the JSON tool call and the expected "
          "result."),
         ("Give, per step, the full reasoning behind it, its JSON tool call and what you "
          "expect back."),
         ("Show for each step your whole chain of reasoning, the tool call as JSON, and the "
          "expected output.")),
    )),
)
PIVOT_TEMPLATES = (
    Template("coding", (
        ("Convert this record into a SQL INSERT for table `{ident}`:\n{json}\n",),
        (COT[2],),
    )),
    Template("coding", (
        ("Port this TypeScript to idiomatic Python and explain the differences:\n{code_ts}\n",),
        (COT_DETAIL[0],),
    )),
    Template("reasoning", (
        ("Puzzle {n}: \"{problem}\" for N = {m}.",),
        (COT[3],),
    )),
)


def _tokens(text: str | None) -> int:
    """Rough tokenizer stand-in (about four characters per token)."""
    return 0 if not text else len(text) // 4 + 1


# --------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------

ORGANIC_PERSONAS = ("casual_chat", "nat_student", "developer_agent", "server_app",
                    "batch_pipeline")
MS_PER_TOKEN = {OLD_MODEL: 14.0, MINI_MODEL: 6.0, LEGACY_MODEL: 11.0}
ERROR_STATUSES = (429, 429, 429, 529, 500, 400)

# 24 local-hour activity weights (max 1): when people / services send requests.
HUMAN_CURVE = (0.06, 0.03, 0.015, 0.01, 0.01, 0.02, 0.06, 0.2, 0.4, 0.55, 0.6, 0.65, 0.7,
               0.65, 0.6, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0, 0.9, 0.55, 0.2)
STUDENT_CURVE = (0.35, 0.2, 0.1, 0.04, 0.02, 0.01, 0.02, 0.06, 0.2, 0.45, 0.6, 0.65, 0.6,
                 0.7, 0.75, 0.7, 0.65, 0.7, 0.75, 0.85, 0.95, 1.0, 0.9, 0.6)
SERVICE_CURVE = (0.35, 0.28, 0.24, 0.22, 0.24, 0.3, 0.42, 0.58, 0.75, 0.88, 0.95, 1.0, 0.98,
                 0.96, 0.95, 0.94, 0.92, 0.9, 0.88, 0.85, 0.8, 0.7, 0.55, 0.45)
SERVICE_MEAN = sum(SERVICE_CURVE) / 24


@dataclass
class Account:
    """Static identity and habits of one API account; per-event randomness lives elsewhere."""

    account_id: str
    persona: str
    label: str
    created: float
    tz: float
    clients: tuple[dict, ...]
    org_id: str | None = None
    api_keys: tuple[str, ...] = ()
    payment_fp: str | None = None
    campaign: str | None = None
    model: str = OLD_MODEL
    system: str | None = None
    tools: int = 0
    max_tokens: int = 4096
    stream_p: float = 0.5
    rate: float = 1.0  # persona-specific intensity knob
    kind: int = 0  # persona-specific variant (server app kind, batch job kind)
    adopt_ts: float = math.inf  # when it starts using the newly released model
    err_rate: float = 0.006
    pool: tuple[dict, ...] = ()  # campaign proxy pool (shared object, networks only)


def _hex(rng: random.Random, bits: int = 48) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


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

    def build(self) -> list[Account]:
        cfg = self.cfg
        accounts: list[Account] = []
        for persona, count in _allocate(cfg.organic_accounts, cfg.persona_mix):
            make = getattr(self, f"_{persona}")
            accounts.extend(make() for _ in range(count))
        accounts.extend(self._loud(i) for i in range(cfg.loud_accounts))
        accounts.extend(self._pivot(i) for i in range(cfg.pivot_accounts))
        accounts.extend(self._hydra_accounts())
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


# --------------------------------------------------------------------------------------
# Event assembly
# --------------------------------------------------------------------------------------


def _model_at(acct: Account, ts: float, cfg: SimConfig, rng: random.Random) -> str:
    if ts >= acct.adopt_ts and rng.random() < (1.0 if acct.label == EXTRACTION else 0.7):
        return cfg.new_model
    return acct.model


def _emit(acct: Account, rng: random.Random, ts: float, *, client: dict, model: str,
          prompt: str, task: str, turns: int, in_tokens: int, want_out: float,
          tool_calls: int = 0, endpoint: str = "messages", stop_seq_p: float = 0.0,
          campaign: str | None = None) -> dict:
    """One gateway record; the response half (status, stop, latency) is derived here."""
    cap = acct.max_tokens
    status = 200 if rng.random() >= acct.err_rate else _pick(rng, ERROR_STATUSES)
    if status != 200:
        out, stop, tool_calls = 0, None, 0
        latency = rng.uniform(15, 400)
    else:
        out = max(1, int(want_out))
        if out >= cap:
            out, stop = cap, "max_tokens"
        elif tool_calls:
            stop = "tool_use"
        elif stop_seq_p and rng.random() < stop_seq_p:
            stop = "stop_sequence"
        else:
            stop = "end_turn"
        latency = rng.uniform(180, 900) + in_tokens * 0.02 + out * MS_PER_TOKEN.get(model, 16.0)
    ev = {
        "event_id": _hex(rng, 128),
        "ts": round(ts, 3),
        "account_id": acct.account_id,
        "org_id": acct.org_id,
        "api_key_id": _pick(rng, acct.api_keys),
        "model": model,
        "endpoint": endpoint,
        "input_tokens": in_tokens,
        "output_tokens": out,
        "max_tokens": cap,
        "status": status,
        "latency_ms": round(latency, 1),
        "stream": rng.random() < acct.stream_p,
        "turns": turns,
        "tools": acct.tools,
        "tool_calls": tool_calls,
        "prompt": prompt,
        "client": dict(client),
        "account_created": acct.created,
        "sim_label": ORGANIC if campaign is None else EXTRACTION,
        "sim_persona": acct.persona,
    }
    if stop is not None:
        ev["stop_reason"] = stop
    if acct.system is not None:
        ev["system"] = acct.system
    if acct.payment_fp is not None:
        ev["payment_fp"] = acct.payment_fp
    if rng.random() < 0.5:  # the gateway classifier only labels about half of the traffic
        ev["task"] = task
    if campaign is not None:
        ev["sim_campaign"] = campaign
    return ev


def _context_tokens(rng: random.Random, acct: Account, prompt: str, turns: int,
                    per_turn: float) -> int:
    history = _lognorm(rng, (turns - 1) // 2 * per_turn, 0.5) if turns > 1 else 0.0
    return _tokens(acct.system) + _tokens(prompt) + acct.tools * 260 + int(history)


# --------------------------------------------------------------------------------------
# Schedules: when each account sends requests
# --------------------------------------------------------------------------------------


def _windows(cfg: SimConfig) -> Iterator[tuple[float, float]]:
    w0 = cfg.start_ts
    while w0 < cfg.end_ts:
        yield w0, min(w0 + DAY, cfg.end_ts)
        w0 += DAY


def _local_hour(ts: float, tz: float) -> int:
    return int(((ts % DAY) / HOUR + tz) % 24)


def _local_weekday(ts: float, tz: float) -> int:
    """0=Monday; 1970-01-01 was a Thursday."""
    return int(((ts + tz * HOUR) // DAY + 3) % 7)


def _diurnal_time(rng: random.Random, w0: float, tz: float, curve: tuple[float, ...]) -> float:
    """Rejection-sample a start time in a UTC day following a local-time activity curve."""
    while True:
        ts = w0 + rng.random() * DAY
        if rng.random() < curve[_local_hour(ts, tz)]:
            return ts


Plan = Callable[[random.Random, float], list[tuple]]


def _timeline(cfg: SimConfig, rng: random.Random, plan_day: Plan) -> Iterator[tuple]:
    """Yield ``(ts, ...)`` items day by day in ts order; spill-over moves to the next day."""
    pending: list[tuple] = []
    for w0, w1 in _windows(cfg):
        items = pending + plan_day(rng, w0)
        items.sort(key=itemgetter(0))
        cut = bisect_left(items, w1, key=itemgetter(0))
        yield from items[:cut]
        pending = items[cut:]


def _human_day(acct: Account, curve: tuple[float, ...], sessions_mean: float) -> Plan:
    """Sessions of several multi-turn requests minutes apart, at the person's waking hours."""

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        if rng.random() > min(0.95, 0.7 * acct.rate):
            return []
        items = []
        for session in range(1 + int(rng.expovariate(1 / sessions_mean))):
            ts = _diurnal_time(rng, w0, acct.tz, curve)
            for k in range(min(15, 1 + int(rng.expovariate(1 / 3.5)))):
                items.append((ts, 2 * k + 1, (w0, session)))
                ts += 20 + _lognorm(rng, 100, 0.8)
        return items

    return plan


def _developer_day(acct: Account) -> Plan:
    """A working day of agent loops: bursts of tool round-trips, human pauses between."""

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        start = w0 + ((rng.uniform(8, 10.5) - acct.tz) % 24) * HOUR
        weekend = _local_weekday(start, acct.tz) >= 5
        if weekend and rng.random() > 0.2:
            return []
        end = start + rng.uniform(7.5, 10.5 if not weekend else 3) * HOUR
        lunch = start + rng.uniform(3.5, 4.5) * HOUR
        pause = 360 / acct.rate
        items, ts = [], start
        while ts < end:
            turn = _pick(rng, (1, 1, 3, 5, 9, 15, 21))  # fresh task or a continued conversation
            steps = 1 + min(int(rng.expovariate(1 / 9)), 28)
            for step in range(steps):
                items.append((ts, min(turn + 2 * step, 59), step == steps - 1))
                ts += _lognorm(rng, 7, 0.6)
            ts += _lognorm(rng, pause, 0.8)
            if lunch <= ts < lunch + HOUR:
                ts += rng.uniform(0.5, 1) * HOUR
        return items

    return plan


def _service_day(acct: Account) -> Plan:
    """A backend relaying its users: Poisson arrivals around the clock, diurnally modulated."""
    lam_max = acct.rate / DAY / SERVICE_MEAN

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        items: list[tuple] = []
        ts = w0
        while True:
            ts += rng.expovariate(lam_max)
            if ts >= w0 + DAY:
                return items
            if rng.random() < SERVICE_CURVE[_local_hour(ts, acct.tz)]:
                items.append((ts, _pick(rng, (1, 1, 1, 3, 3, 5, 7, 9))))

    return plan


def _batch_day(acct: Account) -> Plan:
    """A few cron-driven batch jobs a day, each thousands of requests in one burst."""

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        jobs = rng.randint(1, 3)
        items = []
        for j in range(jobs):
            ts = w0 + (2 + j * 24 / jobs) * HOUR + rng.uniform(0, 20 * 60)
            for _ in range(int(acct.rate / jobs * rng.uniform(0.7, 1.3))):
                items.append((ts,))
                ts += rng.expovariate(1.4)
        return items

    return plan


def _regular_times(rng: random.Random, start: float, end: float, per_day: float) -> Iterator[float]:
    """Fairly regular machine-driven arrivals (gamma gaps, CV about 0.4)."""
    shape = 6.0
    scale = DAY / per_day / shape
    ts = start + rng.uniform(0, 60)
    while ts < end:
        yield ts
        ts += rng.gammavariate(shape, scale)


# --------------------------------------------------------------------------------------
# Per-persona streams
# --------------------------------------------------------------------------------------


def _account_rng(cfg: SimConfig, acct: Account) -> random.Random:
    return random.Random(f"{cfg.seed}:{acct.account_id}")


SESSION_TASKS = {
    "casual_chat": (("chat", "writing", "other", "coding_q", "reasoning"), (45, 25, 15, 8, 7)),
    "nat_student": (("chat", "writing", "coding_q", "reasoning", "other"), (25, 20, 35, 15, 5)),
}
TASK_LABEL = {"chat": "chat", "writing": "writing", "other": "other", "coding_q": "coding",
              "reasoning": "reasoning"}


def _human_stream(cfg: SimConfig, acct: Account, rng: random.Random,
                  until: float = math.inf) -> Iterator[dict]:
    curve = STUDENT_CURVE if acct.persona == "nat_student" else HUMAN_CURVE
    kinds, weights = SESSION_TASKS.get(acct.persona, SESSION_TASKS["casual_chat"])
    sessions: dict[tuple[float, int], tuple[str, dict]] = {}
    for ts, turn, session in _timeline(cfg, rng, _human_day(acct, curve, 2 * acct.rate)):
        if ts >= until:
            return
        if turn == 1:
            sessions[session] = (rng.choices(kinds, weights)[0], _pick(rng, acct.clients))
        kind, client = sessions[session]
        fresh = turn == 1 or rng.random() < 0.4  # follow-ups mix reactions and new asks
        prompt = GRAMMAR.expand(rng, kind if fresh else "followup")
        want = _lognorm(rng, 380 if kind != "other" else 120, 0.7)
        calls = 1 if acct.tools and rng.random() < 0.08 else 0  # e.g. an occasional web search
        yield _emit(acct, rng, ts, client=client, model=_model_at(acct, ts, cfg, rng),
                    prompt=prompt, task=TASK_LABEL[kind], turns=turn,
                    in_tokens=_context_tokens(rng, acct, prompt, turn, 350), want_out=want,
                    tool_calls=calls)


def _developer_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    office, home = acct.clients[0], acct.clients[1:]
    last_day, client = -1, office
    for ts, turn, last in _timeline(cfg, rng, _developer_day(acct)):
        day = int(ts // DAY)
        if day != last_day:
            last_day, client = day, office if rng.random() < 0.7 else _pick(rng, home)
        if turn == 1:
            prompt = GRAMMAR.expand(rng, "dev_instr")
        elif rng.random() < 0.75:
            prompt = GRAMMAR.expand(rng, "tool_result")
        else:
            prompt = GRAMMAR.expand(rng, "dev_followup")
        calls = 0 if last else rng.choices((0, 1, 2, 3), (10, 60, 20, 10))[0]
        want = _lognorm(rng, 700 if last else 180, 0.7)
        model = MINI_MODEL if rng.random() < 0.15 else _model_at(acct, ts, cfg, rng)
        yield _emit(acct, rng, ts, client=client, model=model, prompt=prompt,
                    task="coding" if rng.random() < 0.6 else "agentic", turns=turn,
                    in_tokens=_context_tokens(rng, acct, prompt, turn, 1_600),
                    want_out=want, tool_calls=calls)


def _server_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    _name, symbol, tasks, _system = APP_KINDS[acct.kind]
    for ts, turn in _timeline(cfg, rng, _service_day(acct)):
        u = rng.random()
        kind = symbol if u < 0.7 else "followup" if turn > 1 else _pick(rng, ("chat", "other"))
        prompt = GRAMMAR.expand(rng, kind)
        calls = 1 if acct.tools and rng.random() < 0.25 else 0
        yield _emit(acct, rng, ts, client=_pick(rng, acct.clients),
                    model=_model_at(acct, ts, cfg, rng), prompt=prompt,
                    task=tasks[0] if u < 0.7 else tasks[1], turns=turn,
                    in_tokens=_context_tokens(rng, acct, prompt, turn, 250),
                    want_out=_lognorm(rng, min(260, 0.35 * acct.max_tokens), 0.6),
                    tool_calls=calls)


def _batch_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    symbol, task, _system, template = BATCH_KINDS[acct.kind]
    next_id = rng.randint(1_000, 900_000)
    for (ts,) in _timeline(cfg, rng, _batch_day(acct)):
        next_id += 1
        prompt = template.format(id=next_id, text=GRAMMAR.expand(rng, symbol))
        short = rng.uniform(2, 12) if acct.kind < 2 else rng.uniform(18, 60)
        yield _emit(acct, rng, ts, client=_pick(rng, acct.clients), model=acct.model,
                    prompt=prompt, task=task, turns=1,
                    in_tokens=_context_tokens(rng, acct, prompt, 1, 1), want_out=short,
                    endpoint="batches", stop_seq_p=0.1)


def _extraction_event(cfg: SimConfig, acct: Account, rng: random.Random, ts: float,
                      templates: tuple[Template, ...], client: dict,
                      paraphrase: bool = False) -> dict:
    """A templated, CoT-eliciting, single-turn request asking for a long answer."""
    template = _pick(rng, templates)
    prompt = template.render(rng, paraphrase)
    return _emit(acct, rng, ts, client=client, model=_model_at(acct, ts, cfg, rng),
                 prompt=prompt, task=template.task, turns=1,
                 in_tokens=_context_tokens(rng, acct, prompt, 1, 1),
                 want_out=acct.max_tokens * _lognorm(rng, 0.7, 0.5),
                 tool_calls=1 if acct.tools and rng.random() < 0.1 else 0,
                 campaign=acct.campaign)


def _loud_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    for ts in _regular_times(rng, cfg.start_ts, cfg.end_ts, acct.rate):
        yield _extraction_event(cfg, acct, rng, ts, LOUD_TEMPLATES, acct.clients[0])


def _pivot_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """Organic history first, then a scripted extraction run from the same networks."""
    pivot_ts = cfg.start_ts + cfg.pivot_day * DAY
    yield from _human_stream(cfg, acct, rng, until=pivot_ts)
    script = dict(acct.clients[0], sdk="anthropic-python", user_agent="anthropic-python/0.52.2",
                  ja4=_JA4["py311"])
    for ts in _regular_times(rng, max(pivot_ts, cfg.start_ts), cfg.end_ts,
                             cfg.pivot_rate_per_day):
        yield _extraction_event(cfg, acct, rng, ts, PIVOT_TEMPLATES, script)


def _round_robin_slots(cfg: SimConfig, rng: random.Random, n: int) -> Iterator[tuple[float, int]]:
    """A scheduler hands evenly spaced slots to accounts, each once per (shuffled) round."""
    gap = DAY / (cfg.hydra_rate_per_day * n)
    ts0 = cfg.start_ts + rng.uniform(0.3, 1.0) * gap
    order = list(range(n))
    for k in range(int(cfg.days * DAY / gap)):
        if k % n == 0:
            rng.shuffle(order)
        yield ts0 + (k + rng.uniform(-0.3, 0.3)) * gap, order[k % n]


def _lockstep_slots(cfg: SimConfig, rng: random.Random, n: int) -> Iterator[tuple[float, int]]:
    """All accounts fire together in a short burst once per period."""
    period = DAY / cfg.hydra_rate_per_day
    width = min(period / 4, 20 + 0.02 * n)
    burst = cfg.start_ts + rng.uniform(0, period)
    while burst < cfg.end_ts:
        offsets = sorted(rng.uniform(0, width) for _ in range(n))
        order = list(range(n))
        rng.shuffle(order)
        yield from ((burst + off, idx) for off, idx in zip(offsets, order, strict=True))
        burst += period * rng.uniform(0.98, 1.02)


def _residential_client(rng: random.Random) -> dict:
    """A fresh residential exit node, drawn from the same networks organic users sit on."""
    asn, country = rng.choices(RESIDENTIAL, weights=RESIDENTIAL_WEIGHTS)[0]
    ip = _ipv6(rng, asn) if rng.random() < 0.15 else _ipv4(rng, asn)
    return {"ip": ip, "asn": asn, "country": country}


def _hydra_stream(cfg: SimConfig, accounts: list[Account]) -> Iterator[dict]:
    """The whole coordinated campaign as one stream, driven by its central scheduler."""
    rng = random.Random(f"{cfg.seed}:campaign:{accounts[0].campaign}")
    templates = tuple(rng.sample(HYDRA_TEMPLATES, cfg.hydra_templates))
    # coding/agentic skew: weight non-reasoning templates higher
    weighted = tuple(t for t in templates for _ in range(1 if t.task == "reasoning" else 3))
    slots = (_lockstep_slots if cfg.hydra_timing == "lockstep" else _round_robin_slots)(
        cfg, rng, len(accounts))
    rotating = cfg.hydra_network == "residential_rotating"
    for ts, idx in slots:
        if ts >= cfg.end_ts:
            return
        acct = accounts[idx]
        client = _residential_client(rng) if rotating else _pick(rng, acct.pool)
        client = dict(acct.clients[0], ip=client["ip"], asn=client["asn"],
                      country=client["country"])
        yield _extraction_event(cfg, acct, rng, max(ts, cfg.start_ts), weighted, client,
                                paraphrase=cfg.hydra_paraphrase)


STREAMS: dict[str, Callable[[SimConfig, Account, random.Random], Iterator[dict]]] = {
    "casual_chat": _human_stream,
    "nat_student": _human_stream,
    "developer_agent": _developer_stream,
    "server_app": _server_stream,
    "batch_pipeline": _batch_stream,
    "loud": _loud_stream,
    "pivot": _pivot_stream,
}


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def generate(cfg: SimConfig) -> Iterator[dict]:
    """Stream all events of a scenario in non-decreasing ``ts`` order (deterministic)."""
    accounts = roster(cfg)
    streams = [STREAMS[a.persona](cfg, a, _account_rng(cfg, a)) for a in accounts
               if a.persona in STREAMS]
    campaign = [a for a in accounts if a.persona not in STREAMS]
    if campaign:
        streams.append(_hydra_stream(cfg, campaign))
    return heapq.merge(*streams, key=itemgetter("ts"))


def ground_truth(cfg: SimConfig) -> dict[str, str]:
    """account_id -> "organic" | "extraction" (pivot accounts count as extraction)."""
    return {a.account_id: a.label for a in roster(cfg)}


def write_jsonl(cfg: SimConfig, out: IO[bytes]) -> int:
    """Write the scenario as JSON lines (the Kafka payload format); returns the event count."""
    count = 0
    dumps = orjson.dumps
    for ev in generate(cfg):
        out.write(dumps(ev, option=orjson.OPT_APPEND_NEWLINE))
        count += 1
    return count


SCENARIOS: dict[str, SimConfig] = {
    "demo": SimConfig(days=2.0, organic_accounts=60, loud_accounts=1, hydra_accounts=20),
    "hydra": SimConfig(days=3.0, organic_accounts=20_000, loud_accounts=0, hydra_accounts=2_000),
    "rotating_proxies": SimConfig(days=2.0, organic_accounts=2_000, loud_accounts=0,
                                  hydra_accounts=300, hydra_network="residential_rotating",
                                  hydra_timing="lockstep"),
    "loud": SimConfig(days=2.0, organic_accounts=2_000, loud_accounts=1),
    "pivot": SimConfig(days=4.0, organic_accounts=1_000, loud_accounts=0, pivot_accounts=1,
                       pivot_day=2.5),
    "paraphrase": SimConfig(days=2.0, organic_accounts=2_000, loud_accounts=0,
                            hydra_accounts=300, hydra_paraphrase=True),
    "release": SimConfig(days=3.0, organic_accounts=2_000, loud_accounts=0, hydra_accounts=300,
                         release_day=1.0),
}

__all__ = ["SCENARIOS", "SimConfig", "generate", "ground_truth", "roster", "write_jsonl"]
