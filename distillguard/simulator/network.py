"""The simulated world's networks and client software: countries, ASNs, addresses, SDKs.

Organic and campaign accounts draw from the same tables on purpose, so no single network or
client field separates them: campaigns rent the clouds legitimate backends run on, students
share a university NAT, rotating proxies exit from the residential networks people use.
"""

from __future__ import annotations

import hashlib
import random

from distillguard.simulator.sampling import _pick

#: country -> (weight, UTC offsets in hours, residential/mobile ASNs)
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
#: the keys of ``COUNTRIES``, in a fixed order for weighted draws
COUNTRY_CODES = tuple(COUNTRIES)
#: the weight of each of ``COUNTRY_CODES``: how many accounts live there
COUNTRY_WEIGHTS = tuple(COUNTRIES[c][0] for c in COUNTRY_CODES)
#: every residential (ASN, country): where rotating-proxy exit nodes sit
RESIDENTIAL = tuple((asn, cc) for cc in COUNTRY_CODES for asn in COUNTRIES[cc][2])
#: the weight of each of ``RESIDENTIAL``: its country's weight split over its ASNs
RESIDENTIAL_WEIGHTS = tuple(COUNTRIES[cc][0] / len(COUNTRIES[cc][2]) for _, cc in RESIDENTIAL)

#: big clouds (ASN, country): backends of legitimate apps live here, and so does part of the
#: campaign infra
CLOUD_ASNS: tuple[tuple[int, str], ...] = (
    (16509, "US"), (14618, "US"), (15169, "US"), (396982, "US"), (8075, "US"),
    (14061, "US"), (24940, "DE"), (16276, "FR"), (63949, "US"), (31898, "US"),
)
#: hosting / proxy providers (ASN, country) favoured by campaigns (but also used by some
#: developers)
HOSTING_ASNS: tuple[tuple[int, str], ...] = (
    (9009, "GB"), (60781, "NL"), (20473, "US"), (51167, "DE"), (12876, "FR"),
    (60068, "GB"), (21859, "US"), (40676, "US"), (8100, "US"), (7979, "US"),
    (199524, "LU"), (47583, "LT"), (36007, "US"), (62240, "GB"), (3214, "DE"),
    (53667, "US"), (36352, "US"), (46844, "US"), (8560, "DE"), (29802, "US"),
    (62563, "US"), (35916, "US"), (54290, "US"), (23470, "US"), (42831, "GB"),
    (16125, "LT"), (197540, "DE"), (58061, "LV"),
)
#: university networks (ASN, country): one NAT address fronts a whole cohort of students
UNIVERSITY_ASNS: tuple[tuple[int, str], ...] = (
    (3, "US"), (2152, "US"), (11537, "US"), (786, "GB"), (680, "DE"), (2200, "FR"),
    (1103, "NL"), (7575, "AU"), (2907, "JP"), (55824, "IN"), (1916, "BR"),
)
#: enterprise networks (ASN, country): a company's staff all egress through its own ASN
CORPORATE_ASNS: tuple[tuple[int, str], ...] = (
    (394536, "US"), (26101, "US"), (19551, "US"), (212238, "GB"), (58453, "DE"),
    (136907, "SG"), (55967, "IN"), (37963, "US"),
)
#: UTC offset of the hosting countries that ``COUNTRIES`` does not list
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

#: (sdk, user agent, TLS stack): popular client builds, each shared by many accounts
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

#: persona -> weights over ``SDK_PROFILES`` keys
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
    "company_staff": {"ts_new": 3, "py_new": 3, "langchain": 1, "openai_py": 2, "java": 0.5},
    "family_card": {"ts_new": 4, "ts_old": 2, "ai_sdk": 3, "py_new": 2, "openai_py": 2},
    "startup_team": {"agent_cli": 6, "ts_new": 3, "py_new": 3, "ai_sdk": 1},
    "always_on_agent": {"agent_cli": 6, "py_new": 2, "ts_new": 1},
    "new_signup": {"ts_new": 4, "ai_sdk": 3, "py_new": 4, "openai_py": 3, "curl": 0.3},
    "pipeline": {"httpx": 3, "openai_py": 3, "py_new": 2},
}


def _client(rng: random.Random, profile: str, asn: int, country: str, v6: bool = False) -> dict:
    sdk, ua, stack = SDK_PROFILES[profile]
    ip = _ipv6(rng, asn) if v6 else _ipv4(rng, asn)
    return {"ip": ip, "asn": asn, "country": country, "user_agent": ua, "ja4": _JA4[stack],
            "sdk": sdk}


def _residential_client(rng: random.Random) -> dict:
    """A fresh residential exit node, drawn from the same networks organic users sit on."""
    asn, country = rng.choices(RESIDENTIAL, weights=RESIDENTIAL_WEIGHTS)[0]
    ip = _ipv6(rng, asn) if rng.random() < 0.15 else _ipv4(rng, asn)
    return {"ip": ip, "asn": asn, "country": country}
