"""The published peer (after arXiv 2606.05725): an MMD two-sample test on prompt embeddings.

Prompts (the records' `prompt` text, read straight from the simulator: a baseline may
see what the detector never does) are embedded with WordLlama's 256-d static embeddings
(`l2_supercat`, weights shipped in the wheel, nothing downloaded), normalised to unit
length, and mapped through `FEATURES` random Fourier features of an RBF kernel (fixed
seed; bandwidth the median pairwise distance in the reference). The kernel MMD^2 of two
samples is then the squared distance of their mean feature vectors; the within-sample
terms are the unbiased ones, so samples of different sizes compare.

Two variants give each account a score against an organic reference:

- `pooled`: per shared key (payment instrument, ASN, client stack user_agent|sdk|ja4,
  creation day), the MMD^2 of the key's sampled prompts pooled over its accounts; an
  account scores the max over the keys on its sampled prompts that hold at least
  `MIN_KEY_PROMPTS` of them;
- `window`: the max MMD^2 over the account's windows of `WINDOW` consecutive prompts
  (accounts with fewer prompts have no window and score 0).

Scores are clamped at 0. Sampling: each account's prompts are cut into consecutive blocks
of `WINDOW`; a seeded reservoir keeps `BLOCKS_PER_ACCOUNT` of its complete blocks (an
account with fewer also keeps its trailing partial block, which only the pooled variant
uses); only kept prompts are embedded. The reference is held out: the organic accounts of
the same scenario under another seed with no campaign (at most `REF_ACCOUNTS`), sampled
the same way, at most `REF_PROMPTS` of their prompts drawn uniformly. Thresholds come from
the organic accounts' own scores, ranked as for every other method.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from distillguard import simulator

WINDOW = 10
BLOCKS_PER_ACCOUNT = 4
MIN_KEY_PROMPTS = 20
FEATURES = 512
REF_ACCOUNTS = 2_000
REF_PROMPTS = 5_000
REF_SEED_OFFSET = 1_000
SEED = 20_606
EMBED_DIM = 256
CHUNK = 20_000  # prompts embedded at a time
KEY_KINDS = ("payment", "asn", "stack", "created_day")

#: one sampled prompt: its text and the shared keys of its record
Sample = tuple[str, tuple[str, ...]]


def load_embedder() -> tuple[Any, str]:
    """WordLlama's 256-d model from the wheel's own files, or None and why not."""
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as exc:
        return None, f"wordllama is not installed ({exc}); pip install -e '.[bench]'"
    # the wheel ships weights/ and tokenizers/ beside the code; as the cache directory
    # they resolve without a download (its own project-root lookup misses tokenizers/)
    try:
        model = WordLlama.load(dim=EMBED_DIM, cache_dir=Path(wordllama.__file__).parent,
                               disable_download=True)
    except Exception as exc:  # a wheel without its files: say so, never download
        return None, f"wordllama {getattr(wordllama, '__version__', '?')} did not load: {exc}"
    return model, f"wordllama {getattr(wordllama, '__version__', '?')}"


def record_keys(doc: dict[str, Any]) -> tuple[str, ...]:
    """The shared keys of one record, one per kind it has."""
    client = doc.get("client") or {}
    keys = []
    if doc.get("payment_fp"):
        keys.append("payment:" + doc["payment_fp"])
    if client.get("asn") is not None:
        keys.append(f"asn:{client['asn']}")
    keys.append(f"stack:{client.get('user_agent')}|{client.get('sdk')}|{client.get('ja4')}")
    if doc.get("account_created") is not None:
        keys.append(f"created_day:{int(doc['account_created'] // 86_400)}")
    return tuple(sys.intern(k) for k in keys)


@dataclass
class _Account:
    open: list[Sample] = field(default_factory=list)
    blocks: list[list[Sample]] = field(default_factory=list)
    complete: int = 0


class PromptSampler:
    """Keeps a seeded reservoir of each account's blocks of consecutive prompts."""

    def __init__(self, seed: int = SEED) -> None:
        self._rng = random.Random(seed)
        self._accounts: dict[str, _Account] = {}
        self.prompts = 0

    def add(self, doc: dict[str, Any]) -> None:
        acct = self._accounts.get(doc["account_id"])
        if acct is None:
            acct = self._accounts[doc["account_id"]] = _Account()
        self.prompts += 1
        acct.open.append((doc.get("prompt") or "", record_keys(doc)))
        if len(acct.open) < WINDOW:
            return
        block, acct.open = acct.open, []
        acct.complete += 1
        if len(acct.blocks) < BLOCKS_PER_ACCOUNT:
            acct.blocks.append(block)
        else:
            j = self._rng.randrange(acct.complete)
            if j < BLOCKS_PER_ACCOUNT:
                acct.blocks[j] = block

    def blocks(self) -> Iterator[tuple[str, list[list[Sample]]]]:
        """Per account its kept blocks; the partial one last, if it has fewer complete."""
        for account, acct in self._accounts.items():
            kept = list(acct.blocks)
            if acct.open and len(kept) < BLOCKS_PER_ACCOUNT:
                kept.append(acct.open)
            yield account, kept


def reference_config(cfg: simulator.SimConfig) -> simulator.SimConfig:
    """The scenario's organic population under another seed, without any campaign."""
    return replace(cfg, seed=cfg.seed + REF_SEED_OFFSET, hydra_accounts=0, loud_accounts=0,
                   pivot_accounts=0, organic_accounts=min(cfg.organic_accounts, REF_ACCOUNTS))


def reference_prompts(cfg: simulator.SimConfig) -> list[str]:
    """Held-out organic prompts for `cfg`, sampled as the scored accounts are."""
    sampler = PromptSampler(SEED + 1)
    for doc in simulator.generate(reference_config(cfg)):
        if doc.get("sim_label") == "organic":
            sampler.add(doc)
    texts = [text for _, blocks in sampler.blocks() for block in blocks for text, _ in block]
    if len(texts) > REF_PROMPTS:
        texts = random.Random(SEED + 2).sample(texts, REF_PROMPTS)
    return texts


class Peer:
    """RBF-kernel MMD against one organic reference, through random Fourier features."""

    def __init__(self, model: Any, reference: list[str]) -> None:
        if len(reference) < 2:
            raise ValueError("the organic reference needs at least two prompts")
        self.model = model
        self.embedded = 0
        ref = self.embed(reference)
        rng = np.random.default_rng(SEED)
        pick = rng.choice(len(ref), size=min(len(ref), 1_000), replace=False)
        sub = ref[pick]
        d2 = np.maximum(0.0, 2.0 - 2.0 * (sub @ sub.T))  # unit vectors
        dist = np.sqrt(d2[np.triu_indices(len(sub), k=1)])
        self.bandwidth = float(np.median(dist[dist > 0])) if np.any(dist > 0) else 1.0
        self.w = rng.normal(0.0, 1.0 / self.bandwidth, (ref.shape[1], FEATURES))
        self.b = rng.uniform(0.0, 2 * math.pi, FEATURES)
        phi = self.features(ref)
        total = phi.sum(axis=0)
        m = len(phi)
        self.ref_mean = total / m
        self.ref_self = float((total @ total - (phi * phi).sum()) / (m * (m - 1)))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings, batched by length (less padding)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), EMBED_DIM), dtype=np.float64)
        if texts:
            out[order] = self.model.embed([texts[i] for i in order], norm=True, batch_size=64)
        self.embedded += len(texts)
        return out

    def features(self, emb: np.ndarray) -> np.ndarray:
        return math.sqrt(2.0 / FEATURES) * np.cos(emb @ self.w + self.b)

    def mmd2(self, sums: np.ndarray, sq: np.ndarray, n: np.ndarray) -> np.ndarray:
        """MMD^2 of samples given their feature sums, summed squared norms and sizes."""
        own = (np.einsum("ij,ij->i", sums, sums) - sq) / (n * (n - 1))
        return own - 2.0 * (sums @ self.ref_mean) / n + self.ref_self


@dataclass
class Scores:
    """Per-account scores of both variants, and what it took."""

    pooled: dict[str, float]
    window: dict[str, float]
    pooled_kind: dict[str, str]  # the key kind that gave an account its pooled score
    prompts_seen: int
    prompts_embedded: int
    reference_prompts: int
    bandwidth: float
    seconds: float


def _segments(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts of the runs of equal values in `ids` (sorted), and the run values."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return starts, ids[starts]


def score(model: Any, cfg: simulator.SimConfig, sampler: PromptSampler) -> Scores:
    """Both variants' scores for every account the sampler saw."""
    started = time.perf_counter()
    reference = reference_prompts(cfg)
    peer = Peer(model, reference)
    key_index: dict[str, int] = {}
    key_sums: list[np.ndarray] = []
    key_sq: list[float] = []
    key_n: list[int] = []
    win_owner: list[str] = []
    win_sums: list[np.ndarray] = []
    win_sq: list[np.ndarray] = []
    account_keys: dict[str, set[int]] = {}

    def flush(batch: list[tuple[int, Sample]]) -> None:
        texts = list({text: None for _, (text, _) in batch})
        where = {text: i for i, text in enumerate(texts)}
        phi = peer.features(peer.embed(texts))[[where[t] for _, (t, _) in batch]]
        norms = (phi * phi).sum(axis=1)
        wins = np.array([w for w, _ in batch])
        full = wins >= 0
        if full.any():
            starts, _ = _segments(wins[full])
            win_sums.append(np.add.reduceat(phi[full], starts, axis=0))
            win_sq.append(np.add.reduceat(norms[full], starts))
        rows = np.array([i for i, (_, (_, keys)) in enumerate(batch) for _ in keys])
        cols = np.array([key_index[k] for _, (_, keys) in batch for k in keys])
        order = np.argsort(cols, kind="stable")
        starts, uniq = _segments(cols[order])
        sums = np.add.reduceat(phi[rows[order]], starts, axis=0)
        sq = np.add.reduceat(norms[rows[order]], starts)
        counts = np.diff(np.r_[starts, len(order)])
        for j, k in enumerate(uniq):
            key_sums[k] += sums[j]
            key_sq[k] += float(sq[j])
            key_n[k] += int(counts[j])

    batch: list[tuple[int, Sample]] = []
    for account, blocks in sampler.blocks():
        keys = account_keys.setdefault(account, set())
        for block in blocks:
            window = -1
            if len(block) == WINDOW:
                window = len(win_owner)
                win_owner.append(account)
            for text, ks in block:
                for k in ks:
                    if k not in key_index:
                        key_index[k] = len(key_sums)
                        key_sums.append(np.zeros(FEATURES))
                        key_sq.append(0.0)
                        key_n.append(0)
                    keys.add(key_index[k])
                batch.append((window, (text, ks)))
        if len(batch) >= CHUNK:
            flush(batch)
            batch = []
    if batch:
        flush(batch)

    window: dict[str, float] = dict.fromkeys(account_keys, 0.0)
    if win_owner:
        w_mmd = peer.mmd2(np.concatenate(win_sums), np.concatenate(win_sq),
                          np.full(len(win_owner), float(WINDOW)))
        for account, value in zip(win_owner, w_mmd.tolist(), strict=True):
            window[account] = max(window[account], value)
    n = np.array(key_n, dtype=np.float64)
    k_mmd = np.full(len(key_n), -math.inf)
    ok = n >= MIN_KEY_PROMPTS
    if ok.any():
        k_mmd[ok] = peer.mmd2(np.array(key_sums)[ok], np.array(key_sq)[ok], n[ok])
    names = list(key_index)
    pooled: dict[str, float] = {}
    kind: dict[str, str] = {}
    for account, keys in account_keys.items():
        best = max(keys, key=lambda k: k_mmd[k], default=None)
        if best is None or k_mmd[best] <= 0:
            pooled[account], kind[account] = 0.0, "none"
        else:
            pooled[account] = float(k_mmd[best])
            kind[account] = names[best].split(":", 1)[0]
    return Scores(pooled=pooled, window={a: max(0.0, v) for a, v in window.items()},
                  pooled_kind=kind, prompts_seen=sampler.prompts,
                  prompts_embedded=peer.embedded - len(reference),
                  reference_prompts=len(reference), bandwidth=peer.bandwidth,
                  seconds=time.perf_counter() - started)

