"""The published peer (after arXiv 2606.05725): an MMD two-sample test on prompt embeddings.

Prompts (the records' `prompt` text, read straight from the simulator: a baseline may
see what the detector never does) are embedded with WordLlama's 256-d static embeddings
(`l2_supercat`, weights shipped in the wheel, nothing downloaded), normalised to unit
length, and mapped through `FEATURES` random Fourier features of an RBF kernel (fixed
seed; bandwidth the median pairwise distance among 1,000 reference prompts). The kernel
MMD^2 of a sample against the reference is the unbiased one (within-sample terms without
the diagonal), so samples of different sizes compare. `FEATURES` is 2,048: 98% of the
pairwise distances between reference prompts lie within 1.16-1.52 (median 1.40), so the
kernel's values lie within 0.55-0.71 and the signal is in their small differences; with
512 features the approximation's own noise was of that size (recall on the datasets
scenarios moved by up to 40 points between 512 and 2,048 features, and little from 2,048
to 4,096). Embeddings are cached per distinct text; features are float32, their sums
float64.

Two variants give each account a score against an organic reference:

- `pooled`, per shared key (payment instrument, ASN, client stack user_agent|sdk|ja4,
  creation day). A key is scored when at least `MIN_KEY_ACCOUNTS` distinct accounts hold
  its sampled prompts and there are at least `MIN_KEY_PROMPTS` of them: a key of one
  account is no group (a batch pipeline on its own card is simply the most unusual organic
  account there is). Its score is the MMD^2 of its prompts pooled over its accounts, less
  the mean and `NULL_SDS` standard deviations of the MMD^2 that groups of as many organic
  accounts reach by chance (`null`): a lower bound on the key's excess, so a small key's
  noise does not outrank a large key's real shift and a large organic key's tiny shift is
  not inflated (a z-score would grow with the key's size). Prompts of one account are not
  independent draws, so the null is drawn by account, not by prompt: random sets of that
  many reference accounts (with at least `MIN_KEY_PROMPTS` prompts between them), each
  against the rest of the reference, `NULL_DRAWS` draws per size on a grid of sizes
  (interpolated in log size; beyond the grid mean and spread fall as 1/size).
  An account takes the best of its scored keys, each weighted by how far its own prompts
  on that key lie along the key's witness direction: with u the mean feature of the key's
  other accounts' prompts minus the reference mean, the weight is the projection of the
  account's own mean (minus the reference mean) on u over |u|^2, clipped to [0, 1] (0 if
  the other accounts hold fewer than `WINDOW` prompts); keys whose bound is not above 0
  give nothing. An organic account that only shares a flagged creation day, a popular
  client stack or a cloud ASN with a campaign looks like the reference, not like the key,
  and does not inherit the campaign's score (`pooled_kind`: the kind of key that gave
  the score);
- `window`: the max MMD^2 over the account's windows of `WINDOW` consecutive prompts
  (accounts with fewer prompts have no window and score 0).

Scores are clamped at 0. Sampling: each account's prompts are cut into consecutive blocks
of `WINDOW`; a seeded reservoir keeps `BLOCKS_PER_ACCOUNT` of its complete blocks (an
account with fewer also keeps its trailing partial block, which only the pooled variant
uses); only kept prompts are embedded. The reference is held out: the organic accounts of
the same scenario under another seed with no campaign (at most `REF_ACCOUNTS`), sampled
the same way, every kept prompt of theirs (per account, for the null). Thresholds come
from the organic accounts' own scores, ranked as for every other method.
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
MIN_KEY_ACCOUNTS = 2
NULL_SDS = 3.0
NULL_DRAWS = 300
NULL_MAX_ACCOUNTS = 256  # largest group size drawn; larger keys extrapolate
FEATURES = 2_048
REF_ACCOUNTS = 2_000
REF_SEED_OFFSET = 1_000
SEED = 20_606
EMBED_DIM = 256
CHUNK = 5_000  # prompts embedded at a time
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


def reference_accounts(cfg: simulator.SimConfig) -> list[list[str]]:
    """Held-out organic prompts for `cfg`, per account, sampled as the scored accounts are."""
    sampler = PromptSampler(SEED + 1)
    for doc in simulator.generate(reference_config(cfg)):
        if doc.get("sim_label") == "organic":
            sampler.add(doc)
    accounts = [[text for block in blocks for text, _ in block] for _, blocks in sampler.blocks()]
    return [texts for texts in accounts if texts]


def _group_sums(phi: np.ndarray, norms: np.ndarray,
                ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature sums, summed squared norms and sizes of `phi`'s rows grouped by `ids`
    (in float64, by a one-hot product: faster than sorting the rows)."""
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    onehot = np.zeros((len(uniq), len(ids)))
    onehot[inverse, np.arange(len(ids))] = 1.0
    sums = onehot @ phi.astype(np.float64)
    sq = np.bincount(inverse, weights=norms.astype(np.float64), minlength=len(uniq))
    return uniq, sums, sq, counts


class Peer:
    """RBF-kernel MMD against one organic reference, through random Fourier features."""

    def __init__(self, model: Any, reference: list[list[str]]) -> None:
        texts = [t for acct in reference for t in acct]
        if len(texts) < 2:
            raise ValueError("the organic reference needs at least two prompts")
        self.model = model
        self.embedded = 0
        self._cache: dict[str, np.ndarray] = {}
        rng = np.random.default_rng(SEED)
        pick = rng.choice(len(texts), size=min(len(texts), 1_000), replace=False)
        sub = self.embed([texts[i] for i in pick]).astype(np.float64)
        d2 = np.maximum(0.0, 2.0 - 2.0 * (sub @ sub.T))  # unit vectors
        dist = np.sqrt(d2[np.triu_indices(len(sub), k=1)])
        self.bandwidth = float(np.median(dist[dist > 0])) if np.any(dist > 0) else 1.0
        self.w = rng.normal(0.0, 1.0 / self.bandwidth, (EMBED_DIM, FEATURES))
        self.b = rng.uniform(0.0, 2 * math.pi, FEATURES)
        self._w32, self._b32 = self.w.astype(np.float32), self.b.astype(np.float32)
        # per reference account: feature sum, summed squared norms, prompts
        owner = np.repeat(np.arange(len(reference)), [len(acct) for acct in reference])
        self.ref_sums = np.zeros((len(reference), FEATURES))
        self.ref_sq = np.zeros(len(reference))
        self.ref_n = np.zeros(len(reference))
        for start in range(0, len(texts), CHUNK):
            phi = self.features(self.embed(texts[start:start + CHUNK]))
            ids, sums, sq, n = _group_sums(phi, (phi * phi).sum(axis=1),
                                           owner[start:start + CHUNK])
            self.ref_sums[ids] += sums
            self.ref_sq[ids] += sq
            self.ref_n[ids] += n
        total = self.ref_sums.sum(axis=0)
        m = float(self.ref_n.sum())
        self.ref_total, self.ref_m = total, m
        self.ref_mean = total / m
        self.ref_self = float((total @ total - self.ref_sq.sum()) / (m * (m - 1)))
        self._null: dict[int, tuple[float, float]] | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings; each distinct text embedded once (`embedded` counts
        them), new ones batched by length (less padding)."""
        new = sorted({t for t in texts if t not in self._cache}, key=len)
        if new:
            vecs = self.model.embed(new, norm=True, batch_size=64)
            self._cache.update(zip(new, np.asarray(vecs, dtype=np.float32), strict=True))
            self.embedded += len(new)
        if not texts:
            return np.empty((0, EMBED_DIM), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def features(self, emb: np.ndarray) -> np.ndarray:
        """Random Fourier features (float32: their sums are kept in float64)."""
        phi = emb.astype(np.float32) @ self._w32
        phi += self._b32
        np.cos(phi, out=phi)
        phi *= np.float32(math.sqrt(2.0 / FEATURES))
        return phi

    def mmd2(self, sums: np.ndarray, sq: np.ndarray, n: np.ndarray) -> np.ndarray:
        """MMD^2 of samples given their feature sums, summed squared norms and sizes."""
        own = (np.einsum("ij,ij->i", sums, sums) - sq) / (n * (n - 1))
        return own - 2.0 * (sums @ self.ref_mean) / n + self.ref_self

    def null_table(self) -> dict[int, tuple[float, float]]:
        """Mean and standard deviation of the MMD^2 of random groups of k reference accounts
        (each against the rest of the reference), for k on a grid from 2 accounts up."""
        if self._null is not None:
            return self._null
        rng = np.random.default_rng(SEED + 3)
        a = len(self.ref_n)
        gram = self.ref_sums @ self.ref_sums.T
        dot_total = self.ref_sums @ self.ref_total
        tt, qt, m = float(self.ref_total @ self.ref_total), float(self.ref_sq.sum()), self.ref_m
        sizes, k = [], 2
        while k <= min(NULL_MAX_ACCOUNTS, a // 2):
            sizes.append(k)
            k = k + 1 if k < 10 else max(k + 1, round(k * 1.25))
        table: dict[int, tuple[float, float]] = {}
        for k in sizes:
            vals: list[float] = []
            for _ in range(3 * NULL_DRAWS):
                idx = rng.choice(a, size=k, replace=False)
                ng = float(self.ref_n[idx].sum())
                if ng < MIN_KEY_PROMPTS:
                    continue
                qg = float(self.ref_sq[idx].sum())
                ss = float(gram[np.ix_(idx, idx)].sum())  # |group sum|^2
                sgt = float(dot_total[idx].sum())  # group sum . reference sum
                mc = m - ng
                own = (ss - qg) / (ng * (ng - 1))
                cross = (sgt - ss) / (ng * mc)
                rest = (tt - 2 * sgt + ss - (qt - qg)) / (mc * (mc - 1))
                vals.append(own - 2 * cross + rest)
                if len(vals) >= NULL_DRAWS:
                    break
            if len(vals) >= NULL_DRAWS // 4:
                table[k] = (float(np.mean(vals)), float(np.std(vals)))
        self._null = table
        return table

    def null(self, accounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Null mean and standard deviation for keys of `accounts` accounts each."""
        table = self.null_table()
        if not table:
            return np.zeros(len(accounts)), np.zeros(len(accounts))
        ks = np.array(sorted(table), dtype=np.float64)
        mean = np.array([table[int(k)][0] for k in ks])
        sd = np.array([table[int(k)][1] for k in ks])
        x = np.log(np.maximum(accounts, 1.0))
        mu = np.interp(x, np.log(ks), mean)
        sig = np.interp(x, np.log(ks), sd)
        big = accounts > ks[-1]  # sums of many independent accounts: both fall as 1/k
        mu[big] = mean[-1] * ks[-1] / accounts[big]
        sig[big] = sd[-1] * ks[-1] / accounts[big]
        return mu, sig


@dataclass
class Scores:
    """Per-account scores of both variants, and what it took."""

    pooled: dict[str, float]
    window: dict[str, float]
    pooled_kind: dict[str, str]  # the key kind that gave an account its pooled score
    prompts_seen: int
    prompts_embedded: int  # distinct scored texts embedded (beyond the reference's)
    reference_prompts: int
    bandwidth: float
    seconds: float


def score(model: Any, cfg: simulator.SimConfig, sampler: PromptSampler) -> Scores:
    """Both variants' scores for every account the sampler saw."""
    started = time.perf_counter()
    reference = reference_accounts(cfg)
    peer = Peer(model, reference)
    n_reference = sum(len(acct) for acct in reference)
    embedded_for_reference = peer.embedded

    # which keys are scored, and so every (account, key) slot, is known before embedding
    key_accounts: dict[str, set[str]] = {}
    key_prompts: dict[str, int] = {}
    for account, blocks in sampler.blocks():
        for block in blocks:
            for _, ks in block:
                for k in ks:
                    key_accounts.setdefault(k, set()).add(account)
                    key_prompts[k] = key_prompts.get(k, 0) + 1
    scored = [k for k, accts in key_accounts.items()
              if len(accts) >= MIN_KEY_ACCOUNTS and key_prompts[k] >= MIN_KEY_PROMPTS]
    key_index = {k: i for i, k in enumerate(scored)}
    # one slot per (account, scored key): the account's prompts on that key
    slot_index = {(a, key_index[k]): 0 for k in scored for a in key_accounts[k]}
    for s, pair in enumerate(slot_index):
        slot_index[pair] = s
    slot_owner = [a for a, _ in slot_index]
    owner_key = np.array([k for _, k in slot_index], dtype=int)
    slot_sums = np.zeros((len(slot_index), FEATURES))
    slot_sq = np.zeros(len(slot_index))
    slot_n = np.zeros(len(slot_index))
    win_owner: list[str] = []
    win_sums: list[np.ndarray] = []
    win_sq: list[np.ndarray] = []

    # prompts of one account with the same scored keys form a cell: summed once, then
    # added to each of the cell's slots
    cell_index: dict[tuple[str, tuple[int, ...]], int] = {}
    cell_slots: list[tuple[int, ...]] = []

    def flush(batch: list[tuple[int, int, str]]) -> None:
        texts = list({text: None for _, _, text in batch})
        where = {text: i for i, text in enumerate(texts)}
        phi = peer.features(peer.embed(texts))[[where[t] for _, _, t in batch]]
        norms = (phi * phi).sum(axis=1)
        full = np.array([w >= 0 for w, _, _ in batch])
        if full.any():  # a full block is WINDOW consecutive rows
            win_sums.append(phi[full].reshape(-1, WINDOW, FEATURES).sum(axis=1,
                                                                         dtype=np.float64))
            win_sq.append(norms[full].reshape(-1, WINDOW).sum(axis=1, dtype=np.float64))
        cells, sums, sq, n = _group_sums(phi, norms, np.array([c for _, c, _ in batch]))
        pairs = [(i, slot) for i, c in enumerate(cells.tolist()) for slot in cell_slots[c]]
        if pairs:
            rows, to = (np.array(x, dtype=int) for x in zip(*pairs, strict=True))
            np.add.at(slot_sums, to, sums[rows])
            np.add.at(slot_sq, to, sq[rows])
            np.add.at(slot_n, to, n[rows])

    batch: list[tuple[int, int, str]] = []
    accounts: list[str] = []
    for account, blocks in sampler.blocks():
        accounts.append(account)
        for block in blocks:
            window = -1
            if len(block) == WINDOW:
                window = len(win_owner)
                win_owner.append(account)
            for text, ks in block:
                slots = tuple(slot_index[(account, key_index[k])] for k in ks
                              if k in key_index)
                cell = cell_index.get((account, slots))
                if cell is None:
                    cell = cell_index[(account, slots)] = len(cell_slots)
                    cell_slots.append(slots)
                batch.append((window, cell, text))
        if len(batch) >= CHUNK:
            flush(batch)
            batch = []
    if batch:
        flush(batch)

    window: dict[str, float] = dict.fromkeys(accounts, 0.0)
    if win_owner:
        w_mmd = peer.mmd2(np.concatenate(win_sums), np.concatenate(win_sq),
                          np.full(len(win_owner), float(WINDOW)))
        for account, value in zip(win_owner, w_mmd.tolist(), strict=True):
            window[account] = max(window[account], value)

    pooled: dict[str, float] = dict.fromkeys(accounts, 0.0)
    kind: dict[str, str] = dict.fromkeys(accounts, "none")
    best_key: dict[str, str] = {}
    if len(owner_key):
        ids, key_sums, key_sq, _ = _group_sums(slot_sums, slot_sq, owner_key)
        key_n = np.zeros(len(scored))
        np.add.at(key_n, owner_key, slot_n)
        assert len(ids) == len(scored)
        n_accounts = np.array([len(key_accounts[k]) for k in scored], dtype=np.float64)
        null_mean, null_sd = peer.null(n_accounts)
        lcb = peer.mmd2(key_sums, key_sq, key_n) - null_mean - NULL_SDS * null_sd
        # each account's weight on each key: its own mean along the key's witness direction
        mu = peer.ref_mean
        weight = np.zeros(len(owner_key))
        for lo in range(0, len(owner_key), 4_096):
            sl = slice(lo, lo + 4_096)
            ks = owner_key[sl]
            na, sa = slot_n[sl], slot_sums[sl]
            rest_n = key_n[ks] - na
            ok = rest_n >= WINDOW
            rest = (key_sums[ks] - sa) / np.maximum(rest_n, 1.0)[:, None] - mu
            own = sa / np.maximum(na, 1.0)[:, None] - mu
            uu = np.einsum("ij,ij->i", rest, rest)
            proj = np.einsum("ij,ij->i", own, rest) / np.where(uu > 0, uu, 1.0)
            weight[sl] = np.where(ok & (uu > 0), np.clip(proj, 0.0, 1.0), 0.0)
        values = np.maximum(lcb[owner_key], 0.0) * weight
        for s in np.flatnonzero(values > 0):
            account = slot_owner[s]
            if values[s] > pooled[account]:
                pooled[account] = float(values[s])
                best_key[account] = scored[owner_key[s]]
        for account, key in best_key.items():
            kind[account] = key.split(":", 1)[0]
    return Scores(pooled=pooled, window={a: max(0.0, v) for a, v in window.items()},
                  pooled_kind=kind, prompts_seen=sampler.prompts,
                  prompts_embedded=peer.embedded - embedded_for_reference,
                  reference_prompts=n_reference, bandwidth=peer.bandwidth,
                  seconds=time.perf_counter() - started)
